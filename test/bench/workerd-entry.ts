// The bench's code inside workerd (the runtime of the Worker), driven by test/bench/workerd.ts, which reads
// workerd's CPU time from /proc around each request. Never part of the deployed Worker.
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import { loopback } from '../../src/io/loopback.ts';
import { sealOpenRounds } from './seal-open.ts';

let hostKey: PrivateKey | null = null;

/** `n` key exchanges between our client and server in memory, kex to NEWKEYS on both sides. */
async function handshakes(kex: string, n: number): Promise<void> {
  hostKey ??= await generatePrivateKey('ed25519');
  for (let i = 0; i < n; i++) {
    let done = 0;
    let finished!: () => void;
    const both = new Promise<void>((r) => (finished = r));
    const onEvent = (e: { type: string }) => {
      if (e.type === 'kex-done' && ++done === 2) finished();
    };
    const lp = loopback({ algorithms: { kex: [kex] }, onEvent }, { hostKeys: [hostKey], onEvent });
    lp.server.start();
    lp.client.start();
    await both;
    lp.client.disconnect(11, 'bye');
  }
}

export default {
  async fetch(req: Request): Promise<Response> {
    const q = new URL(req.url).searchParams;
    try {
      if (q.has('cipher')) await sealOpenRounds(q.get('cipher')!, q.get('mac') || null, Number(q.get('size')))(Number(q.get('bytes')));
      else if (q.has('kex')) await handshakes(q.get('kex')!, Number(q.get('n')));
      return new Response('ok');
    } catch (e) {
      return new Response(String(e instanceof Error ? e.stack : e), { status: 500 });
    }
  },
};
