/**
 * Key exchange methods. Web Crypto does X25519 and ECDH (about 10x noble); noble is the fallback for
 * runtimes without Web Crypto X25519, and does ML-KEM-768 (FIPS 203).
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { DhGroup, Hash, KexClientSide, KexContext, KexMethod, KexServerSide, X25519Factory } from '../types.ts';
import { HASHES } from '../hash.ts';
import { DISCONNECT, SshError } from '../../wire/messages.ts';
import { Writer, mpintBytes, mpintFromUnsigned } from '../../wire/writer.ts';
import { bytesToBigint } from '../../wire/reader.ts';
import { MODP14, MODP15, MODP16, MODP17, MODP18, MODP2 } from './groups.ts';

const kexFail = (why: string) => new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, why);

/** K as an mpint, length prefix included (RFC 4253 §8). */
function encodeMpintK(unsigned: Uint8Array): Uint8Array {
  return new Writer(unsigned.length + 8).bytes(mpintFromUnsigned(unsigned)).finish();
}

function allZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

// ── X25519 ────────────────────────────────────────────────────────────────────────────────────────

let webX25519: Promise<boolean> | null = null;
function haveWebX25519(): Promise<boolean> {
  webX25519 ??= crypto.subtle
    .generateKey({ name: 'X25519' }, true, ['deriveBits'])
    .then(() => true)
    .catch(() => false);
  return webX25519;
}

/** The portable X25519: Web Crypto where the runtime has it, else noble. */
export const portableX25519: X25519Factory = async () => {
  if (await haveWebX25519()) {
    const kp = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    return {
      publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey)),
      async shared(peer) {
        const pub = await crypto.subtle.importKey('raw', peer, { name: 'X25519' }, false, []);
        return new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: pub } as unknown as AlgorithmIdentifier, kp.privateKey, 256));
      },
    };
  }
  const secret = x25519.utils.randomSecretKey();
  return { publicKey: x25519.getPublicKey(secret), shared: (peer) => x25519.getSharedSecret(secret, peer) };
};

/**
 * A fresh X25519 key pair from the context's factory (default portableX25519). Whoever made it, `shared`
 * refuses a peer value of the wrong size, one the primitive rejects, and an all-zero result (RFC 8731 §3).
 */
export async function x25519Pair(ctx?: KexContext): Promise<{ publicKey: Uint8Array; shared(peer: Uint8Array): Promise<Uint8Array> }> {
  const kp = await (ctx?.x25519 ?? portableX25519)();
  return {
    publicKey: kp.publicKey,
    async shared(peer) {
      if (peer.length !== 32) throw kexFail(`X25519 public value has ${peer.length} bytes, not 32`);
      let s: Uint8Array;
      try {
        s = await kp.shared(peer);
      } catch {
        throw kexFail('invalid X25519 public value');
      }
      if (allZero(s)) throw kexFail('X25519 shared secret is all zero (invalid peer value)');
      return s;
    },
  };
}

function curve25519(name: string): KexMethod {
  return {
    name,
    hash: HASHES.sha256,
    valueEncoding: 'string',
    async server(ctx): Promise<KexServerSide> {
      return {
        async respond(peer) {
          const kp = await x25519Pair(ctx);
          return { publicValue: kp.publicKey, K: encodeMpintK(await kp.shared(peer)) };
        },
      };
    },
    async client(ctx): Promise<KexClientSide> {
      const kp = await x25519Pair(ctx);
      return { publicValue: kp.publicKey, finish: async (peer) => encodeMpintK(await kp.shared(peer)) };
    },
  };
}

// ── ECDH over NIST curves (RFC 5656 §4) ──────────────────────────────────────────────────────────

function ecdh(curve: 'P-256' | 'P-384' | 'P-521', hash: Hash): KexMethod {
  const bits = curve === 'P-521' ? 528 : Number(curve.slice(2));
  const pointLength = 1 + 2 * Math.ceil(bits / 8);
  const pair = async () => {
    const kp = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: curve }, true, ['deriveBits'])) as CryptoKeyPair;
    const publicValue = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
    const shared = async (peer: Uint8Array) => {
      if (peer.length !== pointLength || peer[0] !== 4) throw kexFail(`invalid ${curve} public point`);
      let pub: CryptoKey;
      try {
        pub = await crypto.subtle.importKey('raw', peer, { name: 'ECDH', namedCurve: curve }, false, []);
      } catch {
        throw kexFail(`${curve} public point is not on the curve`);
      }
      const x = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, kp.privateKey, bits));
      return encodeMpintK(x);
    };
    return { publicValue, shared };
  };
  return {
    name: `ecdh-sha2-nistp${curve.slice(2)}`,
    hash,
    valueEncoding: 'string',
    async server() {
      return {
        async respond(peer) {
          const p = await pair();
          return { publicValue: p.publicValue, K: await p.shared(peer) };
        },
      };
    },
    async client() {
      const p = await pair();
      return { publicValue: p.publicValue, finish: p.shared };
    },
  };
}

// ── Finite-field Diffie-Hellman (RFC 4253 §8, RFC 8268, RFC 4419) ───────────────────────────────

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    e >>= 1n;
    if (e) b = (b * b) % mod;
  }
  return result;
}

function randomExponent(bits: number, p: bigint): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(bits / 8)));
  const x = bytesToBigint(bytes) % (p - 2n);
  return x < 2n ? 2n : x;
}

/** A single-round DH method over (p, g); `valueEncoding` mpint. Exponents of 2x the strength, ≥ 512 bits. */
export function dhGroupMethod(group: DhGroup, hash: Hash, name = `dh-${group.bits}`): KexMethod {
  const { p, g } = group;
  const exponentBits = Math.max(512, hash.outputLength * 16);
  const pair = () => {
    const x = randomExponent(exponentBits, p);
    const e = modPow(g, x, p);
    return {
      publicValue: mpintBytes(e),
      async shared(peer: Uint8Array): Promise<Uint8Array> {
        if (peer.length && peer[0]! & 0x80) throw kexFail('negative DH public value');
        const f = bytesToBigint(peer);
        // RFC 4253 §8: values outside [1, p-1] MUST NOT be sent or accepted; 1 and p-1 give trivial secrets.
        if (f <= 1n || f >= p - 1n) throw kexFail('DH public value out of range (1 < e < p-1)');
        const K = modPow(f, x, p);
        return new Writer(mpintBytes(K).length + 8).mpint(K).finish();
      },
    };
  };
  return {
    name,
    hash,
    valueEncoding: 'mpint',
    async server() {
      return {
        async respond(peer) {
          const kp = pair();
          return { publicValue: kp.publicValue, K: await kp.shared(peer) };
        },
      };
    },
    async client() {
      const kp = pair();
      return { publicValue: kp.publicValue, finish: (peer) => kp.shared(peer) };
    },
  };
}

const group = (p: bigint): DhGroup => ({ p, g: 2n, bits: p.toString(2).length });
export const GEX_GROUPS: DhGroup[] = [MODP14, MODP15, MODP16, MODP17, MODP18].map(group);

/** RFC 4419 §3: the smallest group ≥ n inside [min, max], else the largest one inside the range. */
export function chooseGexGroup(min: number, n: number, max: number): DhGroup | null {
  const inRange = GEX_GROUPS.filter((gr) => gr.bits >= min && gr.bits <= max);
  return inRange.find((gr) => gr.bits >= n) ?? inRange[inRange.length - 1] ?? null;
}

function groupExchange(name: string, hash: Hash): KexMethod {
  const unused = async (): Promise<never> => {
    throw new Error('group exchange negotiates its group first');
  };
  return { name, hash, valueEncoding: 'mpint', groupExchange: true, server: unused, client: unused };
}

// ── mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex) ────────────────────────────────────

const MLKEM_PK = 1184;
const MLKEM_CT = 1088;

/** K = SHA-256(ML-KEM shared secret || X25519 shared secret), encoded as a string. */
function hybridK(kpq: Uint8Array, kcl: Uint8Array): Uint8Array {
  const both = new Uint8Array(kpq.length + kcl.length);
  both.set(kpq);
  both.set(kcl, kpq.length);
  return new Writer(40).bytes(sha256(both)).finish();
}

const mlkemHybrid: KexMethod = {
  name: 'mlkem768x25519-sha256',
  hash: HASHES.sha256,
  valueEncoding: 'string',
  async server(ctx) {
    return {
      async respond(peer) {
        if (peer.length !== MLKEM_PK + 32) throw kexFail(`hybrid client value has ${peer.length} bytes, not ${MLKEM_PK + 32}`);
        let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
        try {
          enc = ml_kem768.encapsulate(peer.subarray(0, MLKEM_PK));
        } catch {
          throw kexFail('invalid ML-KEM-768 encapsulation key');
        }
        const kp = await x25519Pair(ctx);
        const kcl = await kp.shared(peer.subarray(MLKEM_PK));
        const reply = new Uint8Array(MLKEM_CT + 32);
        reply.set(enc.cipherText);
        reply.set(kp.publicKey, MLKEM_CT);
        return { publicValue: reply, K: hybridK(enc.sharedSecret, kcl) };
      },
    };
  },
  async client(ctx) {
    const { publicKey, secretKey } = ml_kem768.keygen();
    const kp = await x25519Pair(ctx);
    const init = new Uint8Array(MLKEM_PK + 32);
    init.set(publicKey);
    init.set(kp.publicKey, MLKEM_PK);
    return {
      publicValue: init,
      async finish(peer) {
        if (peer.length !== MLKEM_CT + 32) throw kexFail(`hybrid server value has ${peer.length} bytes, not ${MLKEM_CT + 32}`);
        const kpq = ml_kem768.decapsulate(peer.subarray(0, MLKEM_CT), secretKey);
        return hybridK(kpq, await kp.shared(peer.subarray(MLKEM_CT)));
      },
    };
  },
};

export const KEX_METHODS: Record<string, KexMethod> = {
  'mlkem768x25519-sha256': mlkemHybrid,
  'curve25519-sha256': curve25519('curve25519-sha256'),
  'curve25519-sha256@libssh.org': curve25519('curve25519-sha256@libssh.org'),
  'ecdh-sha2-nistp256': ecdh('P-256', HASHES.sha256),
  'ecdh-sha2-nistp384': ecdh('P-384', HASHES.sha384),
  'ecdh-sha2-nistp521': ecdh('P-521', HASHES.sha512),
  'diffie-hellman-group-exchange-sha256': groupExchange('diffie-hellman-group-exchange-sha256', HASHES.sha256),
  'diffie-hellman-group16-sha512': dhGroupMethod(group(MODP16), HASHES.sha512, 'diffie-hellman-group16-sha512'),
  'diffie-hellman-group18-sha512': dhGroupMethod(group(MODP18), HASHES.sha512, 'diffie-hellman-group18-sha512'),
  'diffie-hellman-group14-sha256': dhGroupMethod(group(MODP14), HASHES.sha256, 'diffie-hellman-group14-sha256'),
  'diffie-hellman-group14-sha1': dhGroupMethod(group(MODP14), HASHES.sha1, 'diffie-hellman-group14-sha1'),
  'diffie-hellman-group-exchange-sha1': groupExchange('diffie-hellman-group-exchange-sha1', HASHES.sha1),
  'diffie-hellman-group1-sha1': dhGroupMethod(group(MODP2), HASHES.sha1, 'diffie-hellman-group1-sha1'),
};
