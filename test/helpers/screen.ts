// A shell on a pty as a test sees it: what it printed so far, typing, waiting for text. Runtime-neutral:
// the workerd tests use it too.
import type { SshClient } from '../../src/client/client.ts';

export async function ptyShell(client: SshClient, timeoutMs = 10_000) {
  const ch = await client.shell({ pty: { cols: 80, rows: 24 } });
  const dec = new TextDecoder();
  let out = '';
  void (async () => {
    const r = ch.stdout.getReader();
    for (;;) {
      const { done, value } = await r.read();
      if (done) return;
      out += dec.decode(value);
    }
  })();
  const w = ch.stdin.getWriter();
  return {
    ch,
    get out() {
      return out;
    },
    type: (s: string) => w.write(new TextEncoder().encode(s)),
    waitFor: async (text: string) => {
      const end = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (Date.now() > end) throw new Error(`waited for ${JSON.stringify(text)}; the screen shows ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    clear: () => void (out = ''),
  };
}
