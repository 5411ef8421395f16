// Packet protection: every cipher × MAC against an independent node:crypto construction of the same wire
// bytes, at sizes on both sides of the Web Crypto / noble HMAC switch, and tampering refused.
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CIPHERS, MACS, createOpener, createSealer, WEBCRYPTO_HMAC_MIN } from '../../src/crypto/protection.ts';
import { framePacket } from '../../src/transport/packets.ts';
import type { DirectionKeys } from '../../src/crypto/types.ts';

const sizes = [1, 1000, WEBCRYPTO_HMAC_MIN - 64, WEBCRYPTO_HMAC_MIN + 64, 32 * 1024];
const u8 = (b: Buffer) => new Uint8Array(b);

function keys(cipher: string, mac: string | null): DirectionKeys {
  const c = CIPHERS[cipher]!;
  const m = mac ? MACS[mac]! : null;
  return { cipher: c, mac: m, iv: u8(randomBytes(c.ivLength)), encKey: u8(randomBytes(c.keyLength)), macKey: u8(randomBytes(m?.keyLength ?? 0)) };
}

const ctrMacs = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512', 'hmac-sha1-etm@openssh.com', 'hmac-sha1'];

describe('AES-CTR + HMAC: the wire matches node:crypto', () => {
  for (const cipher of ['aes128-ctr', 'aes192-ctr', 'aes256-ctr'])
    for (const mac of ctrMacs)
      it(`${cipher} + ${mac}`, async () => {
        const k = keys(cipher, mac);
        const sealer = createSealer(k);
        const opener = createOpener(k);
        const ref = createCipheriv(`aes-${k.encKey.length * 8}-ctr`, k.encKey, k.iv);
        const hash = MACS[mac]!.hash;
        const etm = MACS[mac]!.etm;
        let seq = 0xfffffffe; // wraps through 2^32 during the run
        for (const size of sizes) {
          const packet = framePacket(u8(randomBytes(size)), sealer);
          const wire = await sealer.seal(seq, packet);
          const seqB = Buffer.alloc(4);
          seqB.writeUInt32BE(seq);
          let expected: Buffer;
          if (etm) {
            const ct = Buffer.concat([Buffer.from(packet.subarray(0, 4)), ref.update(packet.subarray(4))]);
            expected = Buffer.concat([ct, createHmac(hash, k.macKey).update(seqB).update(ct).digest()]);
          } else {
            expected = Buffer.concat([ref.update(packet), createHmac(hash, k.macKey).update(seqB).update(packet).digest()]);
          }
          expect(Buffer.from(wire).equals(expected), `size ${size}`).toBe(true);
          const copy = wire.slice();
          await opener.readLength(seq, copy.subarray(0, opener.headLength));
          expect(await opener.open(seq, copy)).toEqual(packet.subarray(4));
          seq = (seq + 1) >>> 0;
        }
      });
});

describe('every cipher: round trip and tampering', () => {
  const suites: [string, string | null][] = [
    ['chacha20-poly1305@openssh.com', null],
    ['aes128-gcm@openssh.com', null],
    ['aes256-gcm@openssh.com', null],
    ...ctrMacs.map((m) => ['aes128-ctr', m] as [string, string]),
  ];
  for (const [cipher, mac] of suites)
    it(`${cipher}${mac ? ` + ${mac}` : ''}`, async () => {
      const k = keys(cipher, mac);
      const sealer = createSealer(k);
      const opener = createOpener(k);
      let seq = 5;
      for (const size of sizes) {
        const packet = framePacket(u8(randomBytes(size)), sealer);
        const wire = await sealer.seal(seq, packet);
        const copy = wire.slice();
        const len = await opener.readLength(seq, copy.subarray(0, opener.headLength));
        expect(len).toBe(packet.length - 4);
        expect(await opener.open(seq, copy)).toEqual(packet.subarray(4));
        seq++;
      }
      // A tampered packet is refused (the transport then ends the connection with MAC_ERROR).
      const packet = framePacket(u8(randomBytes(100)), sealer);
      const wire = await sealer.seal(seq, packet);
      wire[wire.length - 1]! ^= 0x80;
      await opener.readLength(seq, wire.subarray(0, opener.headLength));
      expect(await opener.open(seq, wire)).toBeNull();
    });
});

describe('aes192-ctr where Web Crypto lacks 192-bit AES (Chromium)', () => {
  it('falls back to noble and still matches node:crypto', async () => {
    const orig = crypto.subtle.importKey.bind(crypto.subtle);
    const stub = (async (...a: Parameters<typeof orig>) => {
      const [, key, alg] = a as unknown as [string, Uint8Array, { name: string }];
      if (alg.name === 'AES-CTR' && key.length === 24) throw new DOMException('192-bit AES keys are not supported', 'OperationError');
      return orig(...a);
    }) as typeof orig;
    Object.defineProperty(crypto.subtle, 'importKey', { value: stub, configurable: true });
    try {
      const k = keys('aes192-ctr', 'hmac-sha2-256-etm@openssh.com');
      const sealer = createSealer(k);
      const ref = createCipheriv('aes-192-ctr', k.encKey, k.iv);
      for (const size of [10, 5000]) {
        const packet = framePacket(u8(randomBytes(size)), sealer);
        const wire = await sealer.seal(0, packet);
        expect(Buffer.from(wire.subarray(4, packet.length)).equals(ref.update(packet.subarray(4)))).toBe(true);
      }
    } finally {
      Object.defineProperty(crypto.subtle, 'importKey', { value: orig, configurable: true });
    }
  });
});

describe('chacha20-poly1305@openssh.com: the wire matches a construction from noble (PROTOCOL.chacha20poly1305)', () => {
  it('seal and open at several sizes and sequence numbers', async () => {
    const { chacha20 } = await import('@noble/ciphers/chacha.js');
    const { poly1305 } = await import('@noble/ciphers/_poly1305.js');
    const k = keys('chacha20-poly1305@openssh.com', null);
    const sealer = createSealer(k);
    const opener = createOpener(k);
    const main = k.encKey.slice(0, 32);
    const header = k.encKey.slice(32, 64);
    for (const seq of [0, 1, 0x01020304, 0xfffffffe]) {
      for (const size of [1, 1000, 33000]) {
        const packet = framePacket(u8(randomBytes(size)), sealer);
        const wire = await sealer.seal(seq, packet);
        const nonce = new Uint8Array(12);
        new DataView(nonce.buffer).setUint32(8, seq);
        const ref = new Uint8Array(packet.length + 16);
        chacha20(header, nonce, packet.subarray(0, 4), ref.subarray(0, 4), 0);
        chacha20(main, nonce, packet.subarray(4), ref.subarray(4, packet.length), 1);
        const polyKey = chacha20(main, nonce, new Uint8Array(32), new Uint8Array(32), 0);
        ref.set(poly1305(ref.subarray(0, packet.length), polyKey), packet.length);
        expect(Buffer.from(wire).equals(Buffer.from(ref)), `seq ${seq} size ${size}`).toBe(true);
        // Open from an unaligned copy, as bytes arrive from a socket.
        const un = new Uint8Array(wire.length + 1).subarray(1);
        un.set(wire);
        expect(await opener.readLength(seq, un.subarray(0, 4))).toBe(packet.length - 4);
        expect(await opener.open(seq, un)).toEqual(packet.subarray(4));
      }
    }
  });
});

describe('sealing in place (frames from framePacket with room for the tag)', () => {
  it('chacha20-poly1305: the same wire bytes as seal, over the frame’s own memory; frames from one slab do not overlap', () => {
    const k = keys('chacha20-poly1305@openssh.com', null);
    const a = createSealer(k);
    const b = createSealer(k);
    const opener = createOpener(k);
    const seen: [view: Uint8Array, copy: Uint8Array][] = [];
    for (const [seq, size] of [[0, 1], [1, 1000], [2, 33000], [0xffffffff, 70000]] as const) {
      const payload = u8(randomBytes(size));
      const framed = framePacket(payload, b, 'slab');
      expect(framed.byteOffset % 8).toBe(0);
      const plain = framed.slice();
      const inPlace = b.sealInPlace!(seq, framed);
      expect(inPlace.buffer).toBe(framed.buffer);
      expect(inPlace.byteOffset).toBe(framed.byteOffset);
      expect(Buffer.from(inPlace).equals(Buffer.from(a.seal(seq, plain) as Uint8Array))).toBe(true);
      expect(opener.open(seq, inPlace.slice())).toEqual(plain.subarray(4));
      seen.push([inPlace, inPlace.slice()]);
    }
    // Earlier frames are untouched by later ones carved from the same slab.
    for (let i = 0; i < 300; i++) b.sealInPlace!(i, framePacket(u8(randomBytes(1000)), b, 'slab'));
    for (const [view, copy] of seen) expect(Buffer.from(view).equals(Buffer.from(copy))).toBe(true);
  });

  it('AES-GCM and AES-CTR seal slab frames in parts: joined, the same wire as a fresh frame sealed whole', async () => {
    for (const [cipher, mac] of [['aes128-gcm@openssh.com', null], ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com'], ['aes256-ctr', 'hmac-sha2-512']] as const) {
      const k = keys(cipher, mac);
      const byParts = createSealer(k);
      const whole = createSealer(k);
      for (const [seq, size] of [[0, 1], [1, 1000], [2, 33000], [0xffffffff, 70000]] as const) {
        const framed = framePacket(u8(randomBytes(size)), byParts, 'slab');
        const plain = framed.slice();
        const parts = byParts.sealParts!(seq, framed);
        framePacket(u8(randomBytes(size)), byParts, 'slab'); // the next frame from the same slab, as the transport would take it
        expect(Buffer.concat((await parts).map((p) => Buffer.from(p))).equals(Buffer.from(await whole.seal(seq, plain))), `${cipher} ${size}`).toBe(true);
      }
    }
  });

  it('a message in two parts (head, data) frames as the whole message would', () => {
    const sealer = createSealer(keys('aes128-gcm@openssh.com', null));
    for (const [h, d] of [[9, 0], [9, 1], [13, 32768], [1, 70000]] as const) {
      const head = u8(randomBytes(h));
      const data = u8(randomBytes(d));
      const two = framePacket(head, sealer, 'slab', data);
      const one = framePacket(new Uint8Array([...head, ...data]), sealer);
      expect(two.length).toBe(one.length);
      expect(two.subarray(0, 5 + h + d)).toEqual(one.subarray(0, 5 + h + d)); // all but the random padding
    }
  });
});
