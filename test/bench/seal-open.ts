// The seal+open loop both the Node and the workerd halves of bench section 2 run: packets framed, sealed and
// opened as the transport does (framePacket where the sealer wants its frame, sealFrame), the wire pieces joined.
import { CIPHERS, MACS, PORTABLE_PROTECTION } from '../../src/crypto/protection.ts';
import { frameBufferFor, framePacket, sealFrame } from '../../src/transport/packets.ts';
import { concatBytes } from '../../src/wire/writer.ts';
import type { DirectionKeys, PacketProtection } from '../../src/crypto/types.ts';

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** Fresh keys for one direction (sealer and opener from `protection`); the returned function seals and opens `bytes` of payload in packets of `size`. */
export function sealOpenRounds(cipher: string, mac: string | null, size: number, protection: PacketProtection = PORTABLE_PROTECTION): (bytes: number) => Promise<void> {
  const c = CIPHERS[cipher]!;
  const m = mac ? MACS[mac]! : null;
  const keys: DirectionKeys = { cipher: c, mac: m, iv: random(c.ivLength), encKey: random(c.keyLength), macKey: random(m?.keyLength ?? 0) };
  const sealer = protection.createSealer(keys);
  const opener = protection.createOpener(keys);
  const payload = random(size);
  let seq = 0;
  return async (bytes) => {
    for (let done = 0; done < bytes; done += size) {
      const s = seq++ >>> 0;
      const sealed = await sealFrame(sealer, s, framePacket(payload, sealer, frameBufferFor(sealer)));
      const copy = Array.isArray(sealed) ? concatBytes(...sealed) : sealed.slice(); // what arrives from the socket is a fresh buffer
      await opener.readLength(s, copy.subarray(0, opener.headLength));
      if (!(await opener.open(s, copy))) throw new Error(`${cipher}: our own packet did not open`);
    }
  };
}
