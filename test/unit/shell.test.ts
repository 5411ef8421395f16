// The demo shell at a terminal, in process: what is typed reaches exactly one reader, also when a line holds
// several commands (a list, a pipeline) and the interrupt watcher runs beside the one reading its input.
import { describe, expect, it } from 'vitest';
import { parseShellState, runShell, type ShellState } from '../../src/apps/shell.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';

/** A shell with a pty; `type` sends keys, `screen` is everything it wrote, `states` what it reported for hibernation. */
function terminal(initial?: ShellState) {
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  let screen = '';
  const dec = new TextDecoder();
  const sink = () => new WritableStream<Uint8Array>({ write: (b) => void (screen += dec.decode(b)) });
  const states: ShellState[] = [];
  const status = runShell(
    {
      user: 'alice', env: {}, pty: { term: 'xterm', cols: 80, rows: 24 }, storage: new MemoryStorage(), startedAt: 0,
      stdin, stdout: sink(), stderr: sink(), onState: (st) => void states.push(st),
    },
    initial,
  );
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return {
    status,
    states,
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

  it("cd and pwd: the prompt shows where you are, paths start there; a pipeline's cd stays in its stage; the directory survives hibernation", async () => {
    const t = terminal();
    await t.type('mkdir d; mkdir d/e; cd d\r');
    expect(t.screen()).toContain('alice@edgessh:~/d$ ');
    await t.type('pwd; echo hi | cat > f; ls; cd e; pwd; cd ..; cd ../d/e; pwd; cat ../f\r');
    expect(t.screen()).toContain('/d\r\ne\r\nf\r\n/d/e\r\n/d/e\r\nhi\r\n');
    await t.type('cd /; cd d | true; pwd\r');
    expect(t.screen()).toContain('/\r\nalice@edgessh:~$ ');
    await t.type('cd nowhere; cd d/f; cd a b\r');
    expect(t.screen()).toContain("cd: nowhere: No such file or directory\r\ncd: d/f: Not a directory\r\ncd: too many arguments\r\n");
    await t.type('cd d/e\r');
    const saved = t.states.at(-1)!;
    expect(saved.cwd).toBe('d/e');
    expect(parseShellState(JSON.parse(JSON.stringify(saved)))).toEqual(saved);
    expect(parseShellState({ ...saved, cwd: '../x' })).toBeNull();
    expect(parseShellState({ ...saved, cwd: 7 })).toBeNull();
    await t.type('exit\r');
    // A shell carried on from that state is in the same directory (the prompt is on the screen already).
    const resumed = terminal(parseShellState(JSON.parse(JSON.stringify(saved)))!);
    await resumed.type('pwd\r');
    expect(resumed.screen()).toContain('/d/e\r\nalice@edgessh:~/d/e$ ');
  });
});
