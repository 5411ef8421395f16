// The Node protection (OpenSSL through node:crypto) against the portable one: for every cipher × MAC, packets
// sealed by one open with the other in both directions, byte for byte the same wire, across sizes on both sides
// of the chacha switch to JavaScript, across the 2^32 sequence wrap, resumed from a saved position, and a
// tampered packet refused.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CIPHERS, MACS, PORTABLE_PROTECTION } from '../../src/crypto/protection.ts';
import { CHACHA_NODE_MIN, nodeProtection } from '../../src/io/node-crypto.ts';
import { frameBufferFor, framePacket, sealFrame } from '../../src/transport/packets.ts';
import { concatBytes } from '../../src/wire/writer.ts';
import type { DirectionKeys, PacketOpener, PacketProtection, PacketSealer } from '../../src/crypto/types.ts';

const u8 = (b: Buffer) => new Uint8Array(b);
const sizes = [1, 100, CHACHA_NODE_MIN - 40, CHACHA_NODE_MIN - 4, CHACHA_NODE_MIN + 40, 32 * 1024, 100_000];

function keys(cipher: string, mac: string | null): DirectionKeys {
  const c = CIPHERS[cipher]!;
  const m = mac ? MACS[mac]! : null;
  return { cipher: c, mac: m, iv: u8(randomBytes(c.ivLength)), encKey: u8(randomBytes(c.keyLength)), macKey: u8(randomBytes(m?.keyLength ?? 0)) };
}

const suites: [string, string | null][] = [
  ['chacha20-poly1305@openssh.com', null],
  ['aes128-gcm@openssh.com', null],
  ['aes256-gcm@openssh.com', null],
  ...['aes128-ctr', 'aes192-ctr', 'aes256-ctr'].flatMap((c) => ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512'].map((m) => [c, m] as [string, string])),
  ['aes128-ctr', 'hmac-sha1-etm@openssh.com'],
  ['aes128-ctr', 'hmac-sha2-256'],
];

async function seal(s: PacketSealer, seq: number, payload: Uint8Array): Promise<Uint8Array> {
  // As the transport does: framed where this sealer wants it, sealed its own way, the pieces joined.
  const sealed = await sealFrame(s, seq, framePacket(payload, s, frameBufferFor(s)));
  return Array.isArray(sealed) ? concatBytes(...sealed) : sealed.slice();
}

async function open(o: PacketOpener, seq: number, wire: Uint8Array): Promise<Uint8Array | null> {
  const copy = wire.slice();
  await o.readLength(seq, copy.subarray(0, o.headLength));
  const plain = await o.open(seq, copy);
  return plain && plain.slice();
}

/** The payload inside padding_length || payload || padding. */
const payloadOf = (plain: Uint8Array) => plain.subarray(1, plain.length - plain[0]!);
/** Whether `plain` carries `payload` (Buffer.equals: vitest's deep equality is slow on 100 KB arrays). */
const carries = (plain: Uint8Array | null, payload: Uint8Array) => !!plain && Buffer.from(payloadOf(plain)).equals(payload);

describe('node:crypto protection matches the portable one', () => {
  for (const [cipher, mac] of suites)
    it(`${cipher}${mac ? ` + ${mac}` : ''}`, async () => {
      const k = keys(cipher, mac);
      const pairs: [PacketProtection, PacketProtection][] = [
        [nodeProtection, PORTABLE_PROTECTION],
        [PORTABLE_PROTECTION, nodeProtection],
      ];
      for (const [from, to] of pairs) {
        const sealer = from.createSealer(k);
        const opener = to.createOpener(k);
        let seq = 0xfffffffd; // wraps through 2^32 during the run
        for (const size of sizes) {
          const payload = u8(randomBytes(size));
          const wire = await seal(sealer, seq, payload);
          const plain = await open(opener, seq, wire);
          expect(carries(plain, payload), `size ${size}`).toBe(true);
          seq = (seq + 1) >>> 0;
        }
        // Resumed from the saved positions, the pair carries on where it stopped.
        const sealer2 = from.createSealer(k, sealer.save!()!.position);
        const opener2 = to.createOpener(k, opener.save!()!.position);
        const payload = u8(randomBytes(5000));
        expect(carries(await open(opener2, seq, await seal(sealer2, seq, payload)), payload)).toBe(true);
      }
    });

  it('the same keys give the same wire bytes from both (padding aside)', async () => {
    for (const [cipher, mac] of suites) {
      const k = keys(cipher, mac);
      const a = nodeProtection.createSealer(k);
      const b = PORTABLE_PROTECTION.createSealer(k);
      for (const size of sizes) {
        const frame = framePacket(u8(randomBytes(size)), a);
        const wa = await a.seal(7, frame);
        const wb = await b.seal(7, frame);
        expect(Buffer.from(wa).equals(Buffer.from(wb)), `${cipher} ${mac} size ${size}`).toBe(true);
      }
    }
  });

  it('a tampered packet does not open', async () => {
    for (const [cipher, mac] of suites) {
      for (const size of [100, 32 * 1024]) {
        const k = keys(cipher, mac);
        const wire = (await seal(nodeProtection.createSealer(k), 3, u8(randomBytes(size)))).slice();
        wire[wire.length - 20]! ^= 1;
        expect(await open(nodeProtection.createOpener(k), 3, wire), `${cipher} ${mac} size ${size}`).toBeNull();
      }
    }
  });
});

describe('node:crypto protection: what it takes', () => {
  it('takes every cipher × MAC here (this Node has them all): its sealers copy everything out', () => {
    for (const [cipher, mac] of suites) {
      const k = keys(cipher, mac);
      expect(nodeProtection.createSealer(k).sealDetached, cipher).toBeTypeOf('function');
      expect(PORTABLE_PROTECTION.createSealer(k).sealDetached, cipher).toBeUndefined();
    }
  });
});
