// The Node protection (OpenSSL through node:crypto) against the portable one: for every cipher × MAC, packets
// sealed by one open with the other in both directions, byte for byte the same wire, across sizes on both sides
// of the chacha switch to JavaScript, across the 2^32 sequence wrap, resumed from a saved position, and a
// tampered packet refused.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CIPHERS, MACS, PORTABLE_PROTECTION } from '../../src/crypto/protection.ts';
import { CHACHA_NODE_MIN, nodeProtection } from '../../src/io/node-crypto.ts';
import { framePacket } from '../../src/transport/packets.ts';
import { open, payloadOf, seal } from '../helpers/protection.ts';
import type { DirectionKeys, PacketProtection } from '../../src/crypto/types.ts';
import { DISCONNECT } from '../../src/wire/messages.ts';
import { handshake, testKey, until } from '../helpers/transport.ts';
import { Transport } from '../../src/transport/transport.ts';
import { prng, trackEscapes } from '../helpers/fuzz.ts';

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

describe('node:crypto protection in a transport', () => {
  const ciphers = ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr'];

  it('carries messages of every size both ways, the other side portable', async () => {
    for (const cipher of ciphers) {
      const p = await handshake({ algorithms: { cipher: [cipher] } }, { protection: nodeProtection });
      expect(p.server.negotiated!.cipherC2S).toBe(cipher);
      for (const size of [0, 100, CHACHA_NODE_MIN + 100, 40_000]) {
        p.client.sendIgnore(new Uint8Array(size).fill(size & 0xff));
        p.server.sendIgnore(new Uint8Array(size).fill(size & 0xff));
      }
      await until(() => p.s.events.filter((e) => e.type === 'ignore').length === 4 && p.c.events.filter((e) => e.type === 'ignore').length === 4);
      for (const side of [p.s, p.c]) {
        const got = side.events.filter((e) => e.type === 'ignore').map((e) => (e as { data: Uint8Array }).data);
        expect(got.map((d) => d.length)).toEqual([0, 100, CHACHA_NODE_MIN + 100, 40_000]);
        expect(got.every((d) => d.every((b) => b === (d.length & 0xff)))).toBe(true);
      }
      p.client.disconnect(11, 'bye');
    }
  });

  it('input in arbitrary pieces: packets that span them are joined in a reused buffer and open intact', async () => {
    const rnd = prng(7);
    for (const cipher of ciphers) {
      const events = { c: [] as Uint8Array[], s: [] as Uint8Array[] };
      let client!: Transport;
      let server!: Transport;
      // Each write is cut into pieces (1–64 bytes or up to 9 KiB) before the other side sees it.
      const deliver = (to: () => Transport, b: Uint8Array) => {
        const copy = b.slice();
        for (let at = 0; at < copy.length; ) {
          const n = 1 + (rnd.int(2) ? rnd.int(64) : rnd.int(9000));
          const piece = copy.subarray(at, at + n);
          queueMicrotask(() => to().receive(piece));
          at += n;
        }
      };
      const hostKeys = [await testKey('ed25519')];
      const common = { protection: nodeProtection, algorithms: { cipher: [cipher] } };
      client = new Transport({ ...common, role: 'client', onSend: (b) => deliver(() => server, b), onEvent: (e) => e.type === 'ignore' && events.c.push(e.data) });
      server = new Transport({ ...common, role: 'server', hostKeys, onSend: (b) => deliver(() => client, b), onEvent: (e) => e.type === 'ignore' && events.s.push(e.data) });
      server.start();
      client.start();
      await until(() => client.kexCount > 0 && server.kexCount > 0);
      const sizes = [3, 40_000, 1, 200_000, CHACHA_NODE_MIN + 1, 70_000, 0, 130_000, 100, 5, 2000, 60];
      for (const size of sizes) {
        client.sendIgnore(new Uint8Array(size).fill(size % 251));
        server.sendIgnore(new Uint8Array(size).fill(size % 251));
      }
      await until(() => events.s.length === sizes.length && events.c.length === sizes.length);
      for (const got of [events.s, events.c]) {
        expect(got.map((d) => d.length)).toEqual(sizes);
        expect(got.every((d) => d.every((b) => b === d.length % 251))).toBe(true);
      }
      client.disconnect(11, 'bye');
    }
  });

  it('a corrupted packet ends the connection with MAC_ERROR, small or large', async () => {
    for (const cipher of ciphers) {
      for (const size of [40, 20_000]) {
        const p = await handshake({ algorithms: { cipher: [cipher] } }, { protection: nodeProtection });
        const orig = p.server.receive.bind(p.server);
        p.server.receive = (b: Uint8Array) => {
          const c = b.slice();
          if (c.length >= 16) c[c.length - 1]! ^= 1; // ciphertext, tag or MAC (never only the clear length)
          orig(c);
        };
        p.client.sendIgnore(new Uint8Array(size));
        await until(() => !!p.s.closed);
        expect(p.s.closed!.reason, `${cipher} ${size}`).toBe(DISCONNECT.MAC_ERROR);
      }
    }
  });

  it('random bytes after the key exchange: a readable DISCONNECT, no escaped exception (seeded)', async () => {
    const rnd = prng(0x0de5);
    const esc = trackEscapes();
    for (let n = 0; n < 80; n++) {
      const cipher = ciphers[n % ciphers.length]!;
      const p = await handshake({ algorithms: { cipher: [cipher] } }, { protection: nodeProtection });
      const junk = new Uint8Array(1 + rnd.int(70_000));
      for (let i = 0; i < junk.length; i++) junk[i] = rnd.int(256);
      p.server.receive(junk);
      await p.server.idle();
      if (p.s.closed) {
        expect([DISCONNECT.MAC_ERROR, DISCONNECT.PROTOCOL_ERROR]).toContain(p.s.closed.reason);
        expect(p.s.closed.message.length).toBeGreaterThan(0);
      }
      p.client.connectionLost();
      p.server.connectionLost();
    }
    esc.stop();
    expect(esc.escaped).toEqual([]);
  });
});
