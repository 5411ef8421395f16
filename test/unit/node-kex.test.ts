// X25519 key pairs and host key signatures by OpenSSL (nodeX25519, nodeSigningKey): the same secrets and the
// same verifiable signatures as the portable code, the same refusals of bad peer values, and key exchanges
// with a portable peer for both kexes that use X25519.
import { describe, expect, it } from 'vitest';
import { nodeSigningKey, nodeX25519 } from '../../src/io/node-crypto.ts';
import { portableX25519, x25519Pair } from '../../src/crypto/kex/index.ts';
import { generatePrivateKey, privateParts } from '../../src/crypto/hostkey/index.ts';
import { DISCONNECT, SshError } from '../../src/wire/messages.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import { handshake } from '../helpers/transport.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('nodeX25519', () => {
  it('agrees with the portable X25519 both ways', async () => {
    for (let i = 0; i < 20; i++) {
      const a = await nodeX25519();
      const b = await portableX25519();
      expect(a.publicKey.length).toBe(32);
      expect(hex(await a.shared(b.publicKey))).toBe(hex(await b.shared(a.publicKey)));
    }
  });

  it('is refused as the portable one is: a wrong length, and peer values of small order (RFC 7748 §6.1)', async () => {
    const order = [
      new Uint8Array(32), // 0
      Uint8Array.of(1, ...new Uint8Array(31)), // 1
      // A point of order 8 (from the list of small-order points): its product with any scalar is 0.
      Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')),
    ];
    for (const x25519 of [nodeX25519, portableX25519]) {
      const kp = await x25519Pair({ x25519 });
      await expect(kp.shared(new Uint8Array(31))).rejects.toMatchObject({ reason: DISCONNECT.KEY_EXCHANGE_FAILED, message: /31 bytes, not 32/ });
      for (const peer of order) {
        const e = await kp.shared(peer).catch((err: unknown) => err);
        expect(e).toBeInstanceOf(SshError);
        expect((e as SshError).reason).toBe(DISCONNECT.KEY_EXCHANGE_FAILED);
        expect((e as SshError).message).toMatch(/X25519/);
      }
    }
  });

  for (const kex of ['curve25519-sha256', 'mlkem768x25519-sha256']) {
    it(`${kex}: a server with it and a portable client, and the other way round`, async () => {
      for (const [c, s] of [[{}, { x25519: nodeX25519 }], [{ x25519: nodeX25519 }, {}]]) {
        const p = await handshake({ algorithms: { kex: [kex] }, ...c }, s);
        expect(p.server.negotiated!.kex).toBe(kex);
        expect(p.client.kexCount).toBe(1);
        expect(hex(p.client.sessionId!)).toBe(hex(p.server.sessionId!));
        p.client.disconnect(11, 'bye');
      }
    });
  }
});

describe('nodeSigningKey', () => {
  const types = ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa'] as const;
  for (const type of types) {
    it(`${type}: signatures the public key verifies, for each algorithm it signs`, async () => {
      const key = await generatePrivateKey(type, 2048, 'c');
      const node = nodeSigningKey(key);
      expect(node).not.toBe(key);
      expect(node.publicKey.blob).toEqual(key.publicKey.blob);
      expect(node.comment).toBe('c');
      expect(privateParts(node)).toBe(privateParts(key));
      expect(String(node)).not.toMatch(/[A-Za-z0-9+/]{20}/); // no key material when printed
      const data = crypto.getRandomValues(new Uint8Array(100));
      for (const alg of key.publicKey.signatureAlgorithms) {
        const sig = await node.sign(alg, data);
        expect(await key.publicKey.verify(sig, data, [alg]), alg).toBe(true);
        expect(await key.publicKey.verify(sig, data.map((b, i) => (i ? b : b ^ 1)), [alg]), alg).toBe(false);
        if (type === 'ed25519') expect(hex(sig)).toBe(hex(await key.sign(alg, data))); // deterministic, so equal
      }
      await expect(node.sign('ssh-dss', data)).rejects.toThrow(/cannot sign ssh-dss/);
    });
  }

  it('leaves a key it has no private parts of as it is', () => {
    const foreign: PrivateKey = { publicKey: {} as PrivateKey['publicKey'], comment: '', sign: async () => new Uint8Array() };
    expect(nodeSigningKey(foreign)).toBe(foreign);
  });
});
