/**
 * Public and private keys with SSH's encodings: ssh-ed25519 (RFC 8709), ecdsa-sha2-nistp256/384/521
 * (RFC 5656) and ssh-rsa with rsa-sha2-256/512 (RFC 8332). Signing and verifying use Web Crypto.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { PrivateKey, PublicKey } from '../types.ts';
import { Reader, bytesToBigint } from '../../wire/reader.ts';
import { Writer, mpintFromUnsigned } from '../../wire/writer.ts';

export type EcCurve = 'P-256' | 'P-384' | 'P-521';
const EC_BY_NAME: Record<string, { curve: EcCurve; hash: string; size: number }> = {
  nistp256: { curve: 'P-256', hash: 'SHA-256', size: 32 },
  nistp384: { curve: 'P-384', hash: 'SHA-384', size: 48 },
  nistp521: { curve: 'P-521', hash: 'SHA-512', size: 66 },
};
const RSA_HASH: Record<string, string> = { 'rsa-sha2-512': 'SHA-512', 'rsa-sha2-256': 'SHA-256', 'ssh-rsa': 'SHA-1' };

export const b64url = (b: Uint8Array): string => btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
export const fromB64url = (s: string): Uint8Array =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));

/** A signature blob: string algorithm || string signature. */
function signatureBlob(algorithm: string, sig: Uint8Array): Uint8Array {
  return new Writer(sig.length + 32).string(algorithm).bytes(sig).finish();
}

function splitSignature(blob: Uint8Array): { algorithm: string; sig: Uint8Array } | null {
  try {
    const r = new Reader(blob);
    const algorithm = r.string();
    const sig = r.bytes();
    r.done();
    return { algorithm, sig };
  } catch {
    return null;
  }
}

function fixedWidth(v: Uint8Array, size: number): Uint8Array | null {
  let i = 0;
  while (i < v.length - size && v[i] === 0) i++;
  const body = v.subarray(i);
  if (body.length > size) return null;
  const out = new Uint8Array(size);
  out.set(body, size - body.length);
  return out;
}

let webEd25519: Promise<boolean> | null = null;
function haveWebEd25519(): Promise<boolean> {
  webEd25519 ??= crypto.subtle
    .generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])
    .then(() => true)
    .catch(() => false);
  return webEd25519;
}

// ── public keys ─────────────────────────────────────────────────────────────────────────────────

class Ed25519Public implements PublicKey {
  readonly type = 'ssh-ed25519';
  readonly signatureAlgorithms = ['ssh-ed25519'];
  readonly blob: Uint8Array;
  readonly raw: Uint8Array;
  private key: Promise<CryptoKey | null> | null = null;
  constructor(raw: Uint8Array) {
    if (raw.length !== 32) throw new Error('ssh-ed25519 public key must be 32 bytes');
    this.raw = raw.slice();
    this.blob = new Writer(51).string(this.type).bytes(raw).finish();
  }
  async verify(blob: Uint8Array, data: Uint8Array, allowed?: readonly string[]): Promise<boolean> {
    const s = splitSignature(blob);
    if (!s || s.algorithm !== 'ssh-ed25519' || s.sig.length !== 64 || (allowed && !allowed.includes(s.algorithm))) return false;
    try {
      if (await haveWebEd25519()) {
        this.key ??= crypto.subtle.importKey('raw', this.raw, { name: 'Ed25519' }, false, ['verify']).catch(() => null);
        const k = await this.key;
        if (!k) return false;
        return await crypto.subtle.verify({ name: 'Ed25519' }, k, s.sig, data);
      }
      return ed25519.verify(s.sig, data, this.raw);
    } catch {
      return false;
    }
  }
}

class EcdsaPublic implements PublicKey {
  readonly type: string;
  readonly signatureAlgorithms: string[];
  readonly blob: Uint8Array;
  readonly curveName: string;
  readonly point: Uint8Array;
  private key: Promise<CryptoKey | null> | null = null;
  constructor(curveName: string, point: Uint8Array) {
    const info = EC_BY_NAME[curveName];
    if (!info) throw new Error(`unsupported ECDSA curve ${curveName}`);
    if (point.length !== 1 + 2 * info.size || point[0] !== 4) throw new Error(`invalid ${curveName} public point`);
    this.curveName = curveName;
    this.point = point.slice();
    this.type = `ecdsa-sha2-${curveName}`;
    this.signatureAlgorithms = [this.type];
    this.blob = new Writer().string(this.type).string(curveName).bytes(point).finish();
  }
  async verify(blob: Uint8Array, data: Uint8Array, allowed?: readonly string[]): Promise<boolean> {
    const s = splitSignature(blob);
    if (!s || s.algorithm !== this.type || (allowed && !allowed.includes(s.algorithm))) return false;
    const info = EC_BY_NAME[this.curveName]!;
    try {
      const r = new Reader(s.sig);
      const rr = fixedWidth(r.bytes(), info.size);
      const ss = fixedWidth(r.bytes(), info.size);
      r.done();
      if (!rr || !ss) return false;
      const raw = new Uint8Array(info.size * 2);
      raw.set(rr);
      raw.set(ss, info.size);
      this.key ??= crypto.subtle
        .importKey('raw', this.point, { name: 'ECDSA', namedCurve: info.curve }, false, ['verify'])
        .catch(() => null);
      const k = await this.key;
      if (!k) return false;
      return await crypto.subtle.verify({ name: 'ECDSA', hash: info.hash }, k, raw, data);
    } catch {
      return false;
    }
  }
}

class RsaPublic implements PublicKey {
  readonly type = 'ssh-rsa';
  readonly signatureAlgorithms = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  readonly blob: Uint8Array;
  readonly e: Uint8Array;
  readonly n: Uint8Array;
  private keys = new Map<string, Promise<CryptoKey | null>>();
  constructor(e: Uint8Array, n: Uint8Array) {
    this.e = stripZeros(e);
    this.n = stripZeros(n);
    if (this.n.length * 8 < 1024) throw new Error('RSA keys under 1024 bits are refused');
    this.blob = new Writer().string('ssh-rsa').bytes(mpintFromUnsigned(this.e)).bytes(mpintFromUnsigned(this.n)).finish();
  }
  get bits(): number {
    return bytesToBigint(this.n).toString(2).length;
  }
  async verify(blob: Uint8Array, data: Uint8Array, allowed?: readonly string[]): Promise<boolean> {
    const s = splitSignature(blob);
    if (!s || !RSA_HASH[s.algorithm] || (allowed && !allowed.includes(s.algorithm))) return false;
    const sig = s.sig.length < this.n.length ? fixedWidth(s.sig, this.n.length) : s.sig;
    if (!sig || sig.length !== this.n.length) return false;
    const hash = RSA_HASH[s.algorithm]!;
    if (!this.keys.has(hash))
      this.keys.set(
        hash,
        crypto.subtle
          .importKey('jwk', { kty: 'RSA', n: b64url(this.n), e: b64url(this.e), ext: true }, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['verify'])
          .catch(() => null),
      );
    const k = await this.keys.get(hash)!;
    if (!k) return false;
    try {
      return await crypto.subtle.verify({ name: 'RSASSA-PKCS1-v1_5' }, k, sig, data);
    } catch {
      return false;
    }
  }
}

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.slice(i);
}

/** Parses a public key blob (RFC 4253 §6.6); throws naming what is wrong. */
export function parsePublicKeyBlob(blob: Uint8Array): PublicKey {
  const r = new Reader(blob);
  const type = r.string();
  let key: PublicKey;
  if (type === 'ssh-ed25519') key = new Ed25519Public(r.bytes());
  else if (type.startsWith('ecdsa-sha2-')) {
    const curve = r.string();
    if (type !== `ecdsa-sha2-${curve}`) throw new Error(`key type ${type} does not match curve ${curve}`);
    key = new EcdsaPublic(curve, r.bytes());
  } else if (type === 'ssh-rsa') {
    const e = r.bytes();
    key = new RsaPublic(e, r.bytes());
  } else throw new Error(`unsupported key type ${type}`);
  r.done('public key');
  return key;
}

// ── private keys ────────────────────────────────────────────────────────────────────────────────

/** The raw private material, for writing key files. Never logged; not enumerable on the key object. */
export type PrivateParts =
  | { kind: 'ed25519'; seed: Uint8Array; pub: Uint8Array }
  | { kind: 'ecdsa'; curveName: string; d: Uint8Array; point: Uint8Array }
  | { kind: 'rsa'; n: Uint8Array; e: Uint8Array; d: Uint8Array; p: Uint8Array; q: Uint8Array; iqmp: Uint8Array };

const PARTS = new WeakMap<PrivateKey, PrivateParts>();
export function privateParts(key: PrivateKey): PrivateParts {
  const p = PARTS.get(key);
  if (!p) throw new Error('this key cannot be exported');
  return p;
}

class SigningKey implements PrivateKey {
  readonly publicKey: PublicKey;
  readonly comment: string;
  private readonly signer: (algorithm: string, data: Uint8Array) => Promise<Uint8Array>;
  constructor(publicKey: PublicKey, comment: string, signer: (a: string, d: Uint8Array) => Promise<Uint8Array>) {
    this.publicKey = publicKey;
    this.comment = comment;
    this.signer = signer;
  }
  async sign(algorithm: string, data: Uint8Array): Promise<Uint8Array> {
    if (!this.publicKey.signatureAlgorithms.includes(algorithm))
      throw new Error(`a ${this.publicKey.type} key cannot sign ${algorithm}`);
    return signatureBlob(algorithm, await this.signer(algorithm, data));
  }
  toString(): string {
    return `[PrivateKey ${this.publicKey.type}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** The private key as a JWK, which Web Crypto and node:crypto both import. */
export function privateJwk(parts: PrivateParts): JsonWebKey {
  if (parts.kind === 'ed25519') return { kty: 'OKP', crv: 'Ed25519', d: b64url(parts.seed), x: b64url(parts.pub) };
  if (parts.kind === 'ecdsa') {
    const info = EC_BY_NAME[parts.curveName];
    if (!info) throw new Error(`unsupported ECDSA curve ${parts.curveName}`);
    const size = info.size;
    return {
      kty: 'EC',
      crv: info.curve,
      d: b64url(fixedWidth(parts.d, size)!),
      x: b64url(parts.point.subarray(1, 1 + size)),
      y: b64url(parts.point.subarray(1 + size)),
    };
  }
  const d = bytesToBigint(parts.d);
  const p = bytesToBigint(parts.p);
  const q = bytesToBigint(parts.q);
  const toB = (v: bigint) => {
    let h = v.toString(16);
    if (h.length % 2) h = '0' + h;
    return Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
  };
  return {
    kty: 'RSA',
    n: b64url(stripZeros(parts.n)),
    e: b64url(stripZeros(parts.e)),
    d: b64url(stripZeros(parts.d)),
    p: b64url(stripZeros(parts.p)),
    q: b64url(stripZeros(parts.q)),
    dp: b64url(toB(d % (p - 1n))),
    dq: b64url(toB(d % (q - 1n))),
    qi: b64url(stripZeros(parts.iqmp)),
  };
}

/**
 * Makes raw signatures for one key: Ed25519's 64 bytes, ECDSA's r || s (each the curve's size), RSA's
 * PKCS #1 v1.5 signature. `hash` is the digest the signature algorithm uses, as Web Crypto names it
 * ('SHA-256', 'SHA-384', 'SHA-512', 'SHA-1'), or null for Ed25519.
 */
export type RawSigner = (hash: string | null, data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** What the key's signature algorithm hashes with (see RawSigner). */
function signatureHash(parts: PrivateParts, algorithm: string): string | null {
  if (parts.kind === 'ed25519') return null;
  if (parts.kind === 'ecdsa') return EC_BY_NAME[parts.curveName]!.hash;
  return RSA_HASH[algorithm]!;
}

/** A private key whose signatures `rawSign` makes, framed as SSH carries them (ECDSA's r and s as mpints). */
export function signingKey(parts: PrivateParts, comment: string, rawSign: RawSigner): PrivateKey {
  let pub: PublicKey;
  let shape = (raw: Uint8Array) => raw;
  if (parts.kind === 'ed25519') pub = new Ed25519Public(parts.pub);
  else if (parts.kind === 'ecdsa') {
    const info = EC_BY_NAME[parts.curveName];
    if (!info) throw new Error(`unsupported ECDSA curve ${parts.curveName}`);
    pub = new EcdsaPublic(parts.curveName, parts.point);
    const size = info.size;
    shape = (raw) => new Writer(2 * size + 16).bytes(mpintFromUnsigned(raw.subarray(0, size))).bytes(mpintFromUnsigned(raw.subarray(size))).finish();
  } else pub = new RsaPublic(parts.e, parts.n);
  const key = new SigningKey(pub, comment, async (alg, data) => shape(await rawSign(signatureHash(parts, alg), data)));
  PARTS.set(key, parts);
  return key;
}

/** A private key that signs with Web Crypto (noble for Ed25519 where Web Crypto lacks it). */
export async function privateKeyFromParts(parts: PrivateParts, comment = ''): Promise<PrivateKey> {
  const jwk = privateJwk(parts);
  if (parts.kind === 'ed25519') {
    let web: Promise<CryptoKey | null> | null = null;
    return signingKey(parts, comment, async (_hash, data) => {
      if (await haveWebEd25519()) {
        web ??= crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']).catch(() => null);
        const k = await web;
        if (k) return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, k, data));
      }
      return ed25519.sign(data, parts.seed);
    });
  }
  if (parts.kind === 'ecdsa') {
    const curve = jwk.crv as EcCurve;
    const k = crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: curve }, false, ['sign']);
    await k; // fail at load time, not at the first handshake
    return signingKey(parts, comment, async (hash, data) => new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: hash! }, await k, data)));
  }
  const keys = new Map<string, Promise<CryptoKey>>();
  const get = (hash: string) => {
    if (!keys.has(hash)) keys.set(hash, crypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['sign']));
    return keys.get(hash)!;
  };
  await get('SHA-512');
  return signingKey(parts, comment, async (hash, data) => new Uint8Array(await crypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, await get(hash!), data)));
}

/** A new key pair made by Web Crypto (noble for Ed25519 where Web Crypto lacks it). */
export async function generatePrivateKey(
  type: 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa',
  bits = 3072,
  comment = '',
): Promise<PrivateKey> {
  if (type === 'ed25519') {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    return privateKeyFromParts({ kind: 'ed25519', seed, pub: ed25519.getPublicKey(seed) }, comment);
  }
  if (type === 'rsa') {
    if (bits < 2048) throw new Error('RSA keys must have at least 2048 bits');
    const kp = (await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const j = await crypto.subtle.exportKey('jwk', kp.privateKey);
    return privateKeyFromParts(
      { kind: 'rsa', n: fromB64url(j.n!), e: fromB64url(j.e!), d: fromB64url(j.d!), p: fromB64url(j.p!), q: fromB64url(j.q!), iqmp: fromB64url(j.qi!) },
      comment,
    );
  }
  const curveName = { 'ecdsa-p256': 'nistp256', 'ecdsa-p384': 'nistp384', 'ecdsa-p521': 'nistp521' }[type];
  const info = EC_BY_NAME[curveName]!;
  const kp = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: info.curve }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const j = await crypto.subtle.exportKey('jwk', kp.privateKey);
  const point = new Uint8Array(1 + 2 * info.size);
  point[0] = 4;
  point.set(fromB64url(j.x!), 1);
  point.set(fromB64url(j.y!), 1 + info.size);
  return privateKeyFromParts({ kind: 'ecdsa', curveName, d: fromB64url(j.d!), point }, comment);
}
