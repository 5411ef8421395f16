// The demo shell at a terminal, in process: what is typed reaches exactly one reader, also when a line holds
// several commands (a list, a pipeline) and the interrupt watcher runs beside the one reading its input.
import { describe, expect, it } from 'vitest';
import { runShell } from '../../src/apps/shell.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';

/** A shell with a pty; `type` sends keys, `screen` is everything it wrote. */
function terminal() {
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  let screen = '';
  const dec = new TextDecoder();
  const sink = () => new WritableStream<Uint8Array>({ write: (b) => void (screen += dec.decode(b)) });
  const status = runShell({
    user: 'alice', env: {}, pty: { term: 'xterm', cols: 80, rows: 24 }, storage: new MemoryStorage(), startedAt: 0,
    stdin, stdout: sink(), stderr: sink(),
  });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return {
    status,
    screen: () => screen,
    type: async (keys: string) => {
      push.enqueue(new TextEncoder().encode(keys));
      await settle();
    },
  };
}

describe('the demo shell at a terminal', () => {
  it('a pipeline reading what is typed: each line once; Ctrl-D ends it; Ctrl-C stops another', async () => {
    const t = terminal();
    await t.type('cat | wc -c\r');
    await t.type('abc\r');
    await t.type('\x04');
    expect(t.screen()).toContain('cat | wc -c\r\nabc\r\n4\r\n');
    await t.type('cat | cat\r');
    await t.type('xyz\r');
    await t.type('\x03');
    expect(t.screen()).toContain('cat | cat\r\nxyz\r\nxyz\r\n^C\r\n');
    await t.type('exit 4\r');
    expect(await t.status).toBe(4);
  });

  it('a list whose later command reads what is typed: nothing is read twice', async () => {
    const t = terminal();
    await t.type('echo first; sha256sum\r');
    await t.type('a\r');
    await t.type('\x04');
    // sha256 of "a\n"
    expect(t.screen()).toContain('first\r\na\r\n87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  -\r\n');
    await t.type('exit\r');
    expect(await t.status).toBe(0);
  });
});
