// The in-memory key exchanges of bench section 1, run by Node (test/bench/run.ts) and by workerd
// (test/bench/workerd-entry.ts) alike: our client and server back to back, and the server alone.
import type { PrivateKey, X25519Factory } from '../../src/crypto/types.ts';
import { loopback } from '../../src/io/loopback.ts';
import { Transport } from '../../src/transport/transport.ts';

/** One key exchange between our client and server in memory, to NEWKEYS on both sides; the client's bytes. */
async function pair(kex: string, hostKey: PrivateKey): Promise<Uint8Array[]> {
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
  const sent = [...lp.wire.c2s];
  lp.client.disconnect(11, 'bye');
  return sent;
}

/** `n` key exchanges, client and server together (both sides' CPU). */
export async function pairHandshakes(kex: string, n: number, hostKey: PrivateKey): Promise<void> {
  for (let i = 0; i < n; i++) await pair(kex, hostKey);
}

/**
 * `n` key exchanges of the server alone: a client's bytes up to its NEWKEYS (version line, KEXINIT, the kex
 * init message, NEWKEYS) were recorded once and are replayed to a fresh server each time. Nothing the client
 * sends before NEWKEYS depends on the server, so the server does all of its work: KEXINIT, its ephemeral key,
 * the shared secret, the exchange hash, the host key signature, key derivation.
 */
export async function serverHandshakes(kex: string, n: number, hostKey: PrivateKey, x25519?: X25519Factory): Promise<void> {
  const recorded = await pair(kex, hostKey);
  for (let i = 0; i < n; i++) {
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const server = new Transport({
      role: 'server',
      hostKeys: [hostKey],
      x25519,
      onSend: () => {},
      onEvent: (e) => {
        if (e.type === 'kex-done') finished();
      },
    });
    server.start();
    for (const b of recorded) server.receive(b);
    await done;
    server.disconnect(11, 'bye');
  }
}
