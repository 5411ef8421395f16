// Known-answer tests from the specs, through the code paths edgessh uses.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { x25519 } from '@noble/curves/ed25519.js';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { poly1305 } from '@noble/ciphers/_poly1305.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { privateKeyFromParts } from '../../src/crypto/hostkey/index.ts';
import { KEX_METHODS } from '../../src/crypto/kex/index.ts';
import { deriveKey } from '../../src/crypto/kex/kdf.ts';
import { HASHES } from '../../src/crypto/hash.ts';
import { equalConstantTime } from '../../src/crypto/protection.ts';
import { chacha20Xor, keyWords } from '../../src/crypto/chacha20.ts';
import { poly1305Tag } from '../../src/crypto/poly1305.ts';
import { Reader } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';

const hex = (s: string) => Uint8Array.from((s.replace(/\s+/g, '').match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const enc = new TextEncoder();

describe('RFC 7748 X25519', () => {
  const alicePriv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const alicePub = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
  const bobPriv = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const bobPub = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

  it('§5.2 scalar multiplication', () => {
    const out = x25519.scalarMult(
      hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
    );
    expect(toHex(out)).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });

  it('§6.1 Diffie-Hellman with @noble/curves', () => {
    expect(toHex(x25519.getPublicKey(alicePriv))).toBe(alicePub);
    expect(toHex(x25519.getPublicKey(bobPriv))).toBe(bobPub);
    expect(toHex(x25519.getSharedSecret(alicePriv, hex(bobPub)))).toBe(shared);
  });

  it('§6.1 Diffie-Hellman with Web Crypto (the fast path edgessh takes)', async () => {
    const pkcs8 = new Uint8Array([...hex('302e020100300506032b656e04220420'), ...alicePriv]);
    const priv = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']);
    const pub = await crypto.subtle.importKey('raw', hex(bobPub), { name: 'X25519' }, false, []);
    const bits = await crypto.subtle.deriveBits({ name: 'X25519', public: pub } as never, priv, 256);
    expect(toHex(new Uint8Array(bits))).toBe(shared);
  });

  it('curve25519-sha256: both sides of our kex agree; K is an mpint', async () => {
    const m = KEX_METHODS['curve25519-sha256']!;
    const client = await m.client();
    const server = await m.server();
    const { publicValue, K } = await server.respond(client.publicValue);
    expect(await client.finish(publicValue)).toEqual(K);
    const r = new Reader(K);
    expect(r.mpint()).toBeGreaterThan(0n);
  });

  it('an all-zero shared secret (a low-order point) is refused', async () => {
    const server = await KEX_METHODS['curve25519-sha256']!.server();
    await expect(server.respond(new Uint8Array(32))).rejects.toThrow();
  });
});

describe('RFC 8032 Ed25519', () => {
  const vectors = [
    {
      sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      msg: '',
      sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      msg: '72',
      sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
  ];
  for (const [i, v] of vectors.entries()) {
    it(`TEST ${i + 1}: our host key signs and verifies as the RFC says`, async () => {
      const key = await privateKeyFromParts({ kind: 'ed25519', seed: hex(v.sk), pub: hex(v.pk) });
      const blob = await key.sign('ssh-ed25519', hex(v.msg));
      const r = new Reader(blob);
      expect(r.string()).toBe('ssh-ed25519');
      expect(toHex(r.bytes())).toBe(v.sig);
      expect(await key.publicKey.verify(blob, hex(v.msg))).toBe(true);
      const bad = blob.slice();
      bad[bad.length - 1]! ^= 1;
      expect(await key.publicKey.verify(bad, hex(v.msg))).toBe(false);
    });
  }
});

describe('RFC 8439 ChaCha20 and Poly1305', () => {
  it('§2.4.2 encryption', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nonce = hex('000000000000004a00000000');
    const pt = enc.encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const nv = new DataView(nonce.buffer);
    const ours = chacha20Xor(keyWords(key), nv.getUint32(0, true), nv.getUint32(4, true), nv.getUint32(8, true), 1, pt, new Uint8Array(pt.length));
    const ct = chacha20(key, nonce, pt, new Uint8Array(pt.length), 1);
    expect(ours).toEqual(ct);
    expect(toHex(ct)).toBe(
      '6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8' +
        '07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d',
    );
  });
  it('§2.5.2 Poly1305', () => {
    const key = hex('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b');
    const msg = enc.encode('Cryptographic Forum Research Group');
    expect(toHex(poly1305(msg, key))).toBe('a8061dc1305136c6c22b8baf0c0127a9');
    expect(toHex(poly1305Tag(key, msg))).toBe('a8061dc1305136c6c22b8baf0c0127a9');
  });

  it('Appendix A.3: the edge cases of the final reduction (h ≥ p, carries through every limb)', () => {
    const vectors: [key: string, msg: string, tag: string][] = [
      ['00'.repeat(32), '00'.repeat(64), '00'.repeat(16)],
      ['02' + '00'.repeat(31), 'ff'.repeat(16), '03' + '00'.repeat(15)],
      ['02' + '00'.repeat(15) + 'ff'.repeat(16), '02' + '00'.repeat(15), '03' + '00'.repeat(15)],
      ['01' + '00'.repeat(31), 'ff'.repeat(16) + 'f0' + 'ff'.repeat(15) + '11' + '00'.repeat(15), '05' + '00'.repeat(15)],
      ['01' + '00'.repeat(31), 'ff'.repeat(16) + 'fb' + 'fe'.repeat(15) + '01'.repeat(16), '00'.repeat(16)],
      ['02' + '00'.repeat(31), 'fd' + 'ff'.repeat(15), 'fa' + 'ff'.repeat(15)],
      [
        '0100000000000000040000000000000000000000000000000000000000000000',
        'e33594d7505e43b900000000000000003394d7505e4379cd01000000000000000000000000000000000000000000000001000000000000000000000000000000',
        '14000000000000005500000000000000',
      ],
      [
        '0100000000000000040000000000000000000000000000000000000000000000',
        'e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000',
        '13000000000000000000000000000000',
      ],
    ];
    for (const [key, msg, tag] of vectors) expect(toHex(poly1305Tag(hex(key), hex(msg))), msg).toBe(tag);
  });

  it('Poly1305 at its largest limbs (r and every message byte all ones) agrees with noble for every length to 2,100 bytes and at 32 KiB and 128 KiB', () => {
    const key = new Uint8Array(32).fill(0xff);
    const ones = new Uint8Array(128 * 1024).fill(0xff);
    for (const len of [...Array.from({ length: 2101 }, (_, i) => i), 32 * 1024, 32 * 1024 + 17, 128 * 1024]) {
      const msg = ones.subarray(0, len);
      expect(toHex(poly1305Tag(key, msg)), `${len}`).toBe(toHex(poly1305(msg, key)));
    }
  });

  it('Poly1305 over a message in two parts (a head of 0–16 bytes, then the rest elsewhere) equals the tag of the joined message, at every split', () => {
    let seed = 777;
    const rnd = (n: number) => Uint8Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    for (const total of [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 80, 127, 128, 200, 1023, 1024, 1025, 1040, 1087, 1088, 1100, 4096, 32 * 1024 + 4]) {
      const joined = rnd(total);
      const key = rnd(32);
      for (let h = 0; h <= Math.min(16, total); h++) {
        const msg = rnd(total - h + 3).subarray(3); // at an odd offset, as a Buffer from OpenSSL may be
        msg.set(joined.subarray(h));
        expect(toHex(poly1305Tag(key, msg, joined.subarray(0, h))), `${total}/${h}`).toBe(toHex(poly1305(joined, key)));
      }
    }
  });

  it('our ChaCha20 and Poly1305 cores agree with noble on 3,000 random inputs (lengths, offsets, edge keys)', () => {
    let seed = 12345;
    const rnd = (n: number) => Uint8Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    for (let n = 0; n < 3000; n++) {
      const len = n < 200 ? n : (seed = (seed * 1103515245 + 12345) >>> 0) % 9000;
      const key = rnd(32);
      if (n % 7 === 0) key.fill(0xff, 0, 16);
      const buf = rnd(len + 3);
      const msg = buf.subarray(n % 4, (n % 4) + Math.min(len, buf.length - (n % 4)));
      if (n % 11 === 0) msg.fill(0xff);
      expect(toHex(poly1305Tag(key, msg))).toBe(toHex(poly1305(msg, key)));
      const nonce = rnd(12);
      const nv = new DataView(nonce.buffer);
      const ours = chacha20Xor(keyWords(key), nv.getUint32(0, true), nv.getUint32(4, true), nv.getUint32(8, true), n % 3, msg, new Uint8Array(msg.length));
      expect(toHex(ours)).toBe(toHex(chacha20(key, nonce, msg, new Uint8Array(msg.length), n % 3)));
    }
  });
});

describe('AES (Web Crypto)', () => {
  it('GCM test cases 1 and 2 (McGrew & Viega)', async () => {
    const key = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt']);
    const empty = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, new Uint8Array(0)));
    expect(toHex(empty)).toBe('58e2fccefa7e3061367f1d57a4e7455a');
    const one = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, new Uint8Array(16)));
    expect(toHex(one)).toBe('0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bdf53a67b21257bddf');
  });
  it('SP 800-38A F.5.1 CTR-AES128.Encrypt', async () => {
    const key = await crypto.subtle.importKey('raw', hex('2b7e151628aed2a6abf7158809cf4f3c'), 'AES-CTR', false, ['encrypt']);
    const ct = await crypto.subtle.encrypt(
      { name: 'AES-CTR', counter: hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'), length: 128 },
      key,
      hex('6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51'),
    );
    expect(toHex(new Uint8Array(ct))).toBe('874d6191b620e3261bef6864990db6ce' + '9806f66b7970fdff8617187bb9fffdff');
  });
});

describe('RFC 4231 HMAC-SHA-256 and HMAC-SHA-512', () => {
  const cases = [
    {
      key: hex('0b'.repeat(20)),
      data: enc.encode('Hi There'),
      s256: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      s512: '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    },
    {
      key: enc.encode('Jefe'),
      data: enc.encode('what do ya want for nothing?'),
      s256: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      s512: '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    },
  ];
  for (const [i, c] of cases.entries())
    it(`test case ${i + 1}, noble and Web Crypto`, async () => {
      expect(toHex(hmac(sha256, c.key, c.data))).toBe(c.s256);
      expect(toHex(hmac(sha512, c.key, c.data))).toBe(c.s512);
      for (const [hash, want] of [['SHA-256', c.s256], ['SHA-512', c.s512]] as const) {
        const k = await crypto.subtle.importKey('raw', c.key, { name: 'HMAC', hash }, false, ['sign']);
        expect(toHex(new Uint8Array(await crypto.subtle.sign('HMAC', k, c.data)))).toBe(want);
      }
    });
});

describe('FIPS 203 ML-KEM-768 and mlkem768x25519-sha256', () => {
  it('sizes and agreement', () => {
    const seed = Uint8Array.from({ length: 64 }, (_, i) => i);
    const { publicKey, secretKey } = ml_kem768.keygen(seed);
    expect(publicKey.length).toBe(1184);
    expect(secretKey.length).toBe(2400);
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey);
    expect(cipherText.length).toBe(1088);
    expect(sharedSecret.length).toBe(32);
    expect(ml_kem768.decapsulate(cipherText, secretKey)).toEqual(sharedSecret);
    // deterministic from the seed (FIPS 203 KeyGen_internal(d, z))
    expect(ml_kem768.keygen(seed).publicKey).toEqual(publicKey);
  });

  it('our hybrid kex: client 1216 bytes, server 1120 bytes, K = SHA-256(ML-KEM secret || X25519 secret) as a string', async () => {
    const m = KEX_METHODS['mlkem768x25519-sha256']!;
    expect(m.valueEncoding).toBe('string');
    const client = await m.client();
    expect(client.publicValue.length).toBe(1184 + 32);
    const server = await m.server();
    const { publicValue, K } = await server.respond(client.publicValue);
    expect(publicValue.length).toBe(1088 + 32);
    expect(await client.finish(publicValue)).toEqual(K);
    const r = new Reader(K);
    expect(r.bytes().length).toBe(32); // encoded as string, not mpint (draft-ietf-sshm-mlkem-hybrid-kex)
  });

  it('a malformed client value is refused', async () => {
    const server = await KEX_METHODS['mlkem768x25519-sha256']!.server();
    await expect(server.respond(new Uint8Array(100))).rejects.toThrow();
  });
});

describe('RFC 4253 §7.2 key derivation', () => {
  it('matches an independent HASH(K || H || X || session_id) with extension', () => {
    const K = new Writer().mpint(0x1234567890abcdef1234567890abcdefn).finish();
    const H = Uint8Array.from({ length: 32 }, (_, i) => i * 3);
    const sid = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    for (const [name, len] of [['sha256', 32], ['sha512', 64]] as const) {
      for (const want of [16, len, 64 + 8, 130]) {
        const ours = deriveKey(HASHES[name], K, H, 'C', sid, want);
        const h = (parts: Uint8Array[]) => new Uint8Array(parts.reduce((x, p) => x.update(p), createHash(name)).digest());
        let ref = h([K, H, enc.encode('C'), sid]);
        while (ref.length < want) ref = new Uint8Array([...ref, ...h([K, H, ref])]);
        expect(toHex(ours)).toBe(toHex(ref.subarray(0, want)));
      }
    }
  });
});

describe('constant-time comparison', () => {
  it('equal, different, different lengths', () => {
    expect(equalConstantTime(hex('00ff'), hex('00ff'))).toBe(true);
    expect(equalConstantTime(hex('00ff'), hex('00fe'))).toBe(false);
    expect(equalConstantTime(hex('00ff'), hex('00ff00'))).toBe(false);
  });
});
