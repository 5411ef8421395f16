// The bench's code inside workerd (the runtime of the Worker), driven by test/bench/workerd.ts, which reads
// workerd's CPU time from /proc around each request. Never part of the deployed Worker.
import { CIPHERS, MACS, createOpener, createSealer } from '../../src/crypto/protection.ts';
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';
import type { DirectionKeys, PrivateKey } from '../../src/crypto/types.ts';
import { loopback } from '../../src/io/loopback.ts';
import { framePacket } from '../../src/transport/packets.ts';

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** Seals and opens `bytes` of payload in packets of `size`, as the transport does. */
async function sealOpen(cipher: string, mac: string | null, size: number, bytes: number): Promise<void> {
  const c = CIPHERS[cipher]!;
  const m = mac ? MACS[mac]! : null;
  const keys: DirectionKeys = { cipher: c, mac: m, iv: random(c.ivLength), encKey: random(c.keyLength), macKey: random(m?.keyLength ?? 0) };
  const sealer = createSealer(keys);
  const opener = createOpener(keys);
  const payload = random(size);
  for (let seq = 0, done = 0; done < bytes; seq++, done += size) {
    const wire = sealer.sealInPlace ? sealer.sealInPlace(seq, framePacket(payload, sealer, true)) : await sealer.seal(seq, framePacket(payload, sealer));
    const copy = wire.slice(); // what arrives from the socket is a fresh buffer
    await opener.readLength(seq, copy.subarray(0, opener.headLength));
    if (!(await opener.open(seq, copy))) throw new Error(`${cipher}: our own packet did not open`);
  }
}

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
      if (q.has('cipher')) await sealOpen(q.get('cipher')!, q.get('mac') || null, Number(q.get('size')), Number(q.get('bytes')));
      else if (q.has('kex')) await handshakes(q.get('kex')!, Number(q.get('n')));
      return new Response('ok');
    } catch (e) {
      return new Response(String(e instanceof Error ? e.stack : e), { status: 500 });
    }
  },
};
