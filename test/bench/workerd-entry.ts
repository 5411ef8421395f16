// The bench's code inside workerd (the runtime of the Worker), driven by test/bench/workerd.ts, which reads
// workerd's CPU time from /proc around each request. Never part of the deployed Worker.
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import { pairHandshakes, serverHandshakes } from './kex-rounds.ts';
import { sealOpenRounds } from './seal-open.ts';
import { coreRounds } from './cores.ts';
import { workerProtection } from '../../worker/native-crypto.ts';

let hostKey: PrivateKey | null = null;

export default {
  async fetch(req: Request): Promise<Response> {
    const q = new URL(req.url).searchParams;
    try {
      if (q.has('core')) coreRounds(q.get('core') as 'chacha20' | 'poly1305')(Number(q.get('bytes')));
      else if (q.has('cipher')) await sealOpenRounds(q.get('cipher')!, q.get('mac') || null, Number(q.get('size')), q.get('protection') === 'worker' ? workerProtection : undefined)(Number(q.get('bytes')));
      else if (q.has('kex')) {
        hostKey ??= await generatePrivateKey('ed25519');
        await (q.get('side') === 'server' ? serverHandshakes : pairHandshakes)(q.get('kex')!, Number(q.get('n')), hostKey);
      }
      return new Response('ok');
    } catch (e) {
      return new Response(String(e instanceof Error ? e.stack : e), { status: 500 });
    }
  },
};
