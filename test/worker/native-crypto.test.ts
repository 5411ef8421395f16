// The Worker's chacha20-poly1305 with workerd's native keystream (worker/native-crypto.ts), inside workerd:
// packets sealed by it open with the portable protection and the other way, byte for byte the same wire,
// on both sides of the switch to JavaScript and across the 2^32 sequence wrap; a tampered packet is refused.
import { describe, expect, it } from 'vitest';
import { CIPHERS, PORTABLE_PROTECTION } from '../../src/crypto/protection.ts';
import { CHACHA_WORKERD_MIN, NATIVE_CHACHA, workerProtection } from '../../worker/native-crypto.ts';
import { framePacket } from '../../src/transport/packets.ts';
import { open, payloadOf, seal } from '../helpers/protection.ts';
import type { DirectionKeys } from '../../src/crypto/types.ts';

const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
  return b;
};
const keys = (): DirectionKeys => ({ cipher: CIPHERS['chacha20-poly1305@openssh.com']!, mac: null, iv: new Uint8Array(0), encKey: random(64), macKey: new Uint8Array(0) });
const sizes = [1, 100, CHACHA_WORKERD_MIN - 40, CHACHA_WORKERD_MIN - 4, CHACHA_WORKERD_MIN + 40, 32 * 1024, 100_000];

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

describe("the Worker's chacha20-poly1305 (workerd's keystream)", () => {
  it('workerd has the AEAD it takes the keystream from', () => {
    expect(NATIVE_CHACHA).toBe(true);
  });

  it('seals what the portable protection opens, and opens what it seals', async () => {
    const k = keys();
    for (const [from, to] of [[workerProtection, PORTABLE_PROTECTION], [PORTABLE_PROTECTION, workerProtection]] as const) {
      const sealer = from.createSealer(k);
      const opener = to.createOpener(k);
      let seq = 0xfffffffd; // wraps through 2^32 during the run
      for (const size of sizes) {
        const payload = random(size);
        const plain = await open(opener, seq, await seal(sealer, seq, payload));
        expect(plain && same(payloadOf(plain), payload), `size ${size}`).toBe(true);
        seq = (seq + 1) >>> 0;
      }
    }
  });

  it('gives the same wire bytes as the portable protection', async () => {
    const k = keys();
    const a = workerProtection.createSealer(k);
    const b = PORTABLE_PROTECTION.createSealer(k);
    for (const size of sizes)
      for (const seq of [0, 7, 0x01020304, 0xffffffff]) {
        const frame = framePacket(random(size), a);
        expect(same(await a.seal(seq, frame), await b.seal(seq, frame)), `size ${size} seq ${seq}`).toBe(true);
      }
  });

  it('refuses a tampered packet, large or small', async () => {
    for (const size of [100, 32 * 1024]) {
      const k = keys();
      const wire = await seal(workerProtection.createSealer(k), 3, random(size));
      wire[wire.length - 20]! ^= 1;
      expect(await open(workerProtection.createOpener(k), 3, wire), `size ${size}`).toBeNull();
    }
  });
});
