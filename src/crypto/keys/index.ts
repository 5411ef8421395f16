/**
 * Key files: OpenSSH's `openssh-key-v1` private key format (PROTOCOL.key, unencrypted), PKCS#8 PEM,
 * public key lines, and fingerprints printed the way ssh-keygen prints them.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { PrivateKey, PublicKey } from '../types.ts';
import { Reader } from '../../wire/reader.ts';
import { Writer, mpintFromUnsigned } from '../../wire/writer.ts';
import {
  fromB64url,
  generatePrivateKey,
  parsePublicKeyBlob,
  privateKeyFromParts,
  privateParts,
  type PrivateParts,
} from '../hostkey/index.ts';

export { generatePrivateKey, parsePublicKeyBlob };

const MAGIC = 'openssh-key-v1\0';

export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  try {
    return Uint8Array.from(atob(s.replace(/\s+/g, '')), (c) => c.charCodeAt(0));
  } catch {
    throw new Error('invalid base64');
  }
}

function pemBody(text: string, label: string): Uint8Array | null {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(text);
  return m ? fromBase64(m[1]!) : null;
}

function pem(label: string, der: Uint8Array): string {
  const b = toBase64(der);
  return `-----BEGIN ${label}-----\n${b.match(/.{1,70}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
export function fingerprint(key: PublicKey): string {
  return 'SHA256:' + toBase64(sha256(key.blob)).replace(/=+$/, '');
}

/** An authorized_keys / .pub line. */
export function formatPublicKey(key: PublicKey, comment = ''): string {
  return `${key.type} ${toBase64(key.blob)}${comment ? ' ' + comment : ''}`;
}

export function parsePublicKeyLine(line: string): { key: PublicKey; comment: string } {
  const [type, b64, ...rest] = line.trim().split(/\s+/);
  if (!type || !b64) throw new Error('expected "TYPE BASE64 [COMMENT]"');
  const key = parsePublicKeyBlob(fromBase64(b64));
  if (key.type !== type) throw new Error(`key type ${type} does not match the key data (${key.type})`);
  return { key, comment: rest.join(' ') };
}

/** Reads every private key in an OpenSSH or PKCS#8 PEM file. */
export async function parsePrivateKey(text: string): Promise<PrivateKey[]> {
  const openssh = pemBody(text, 'OPENSSH PRIVATE KEY');
  if (openssh) return parseOpenSsh(openssh);
  const pkcs8 = pemBody(text, 'PRIVATE KEY');
  if (pkcs8) return [await parsePkcs8(pkcs8)];
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) throw new Error('encrypted keys are not supported');
  if (/-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(text))
    throw new Error('traditional PEM keys are not supported; convert with `ssh-keygen -p -N "" -f FILE` or use PKCS#8');
  throw new Error('not an OpenSSH or PKCS#8 private key');
}

async function parseOpenSsh(data: Uint8Array): Promise<PrivateKey[]> {
  const magic = new TextDecoder().decode(data.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new Error('not an openssh-key-v1 key');
  const r = new Reader(data, MAGIC.length);
  const cipher = r.string();
  const kdf = r.string();
  r.bytes();
  if (cipher !== 'none' || kdf !== 'none') throw new Error('encrypted keys are not supported');
  const n = r.uint32();
  if (n < 1 || n > 16) throw new Error(`unexpected number of keys: ${n}`);
  for (let i = 0; i < n; i++) r.bytes();
  const priv = new Reader(r.bytes());
  if (priv.uint32() !== priv.uint32()) throw new Error('corrupt private key (check bytes differ)');
  const keys: PrivateKey[] = [];
  for (let i = 0; i < n; i++) {
    const type = priv.string();
    let parts: PrivateParts;
    if (type === 'ssh-ed25519') {
      const pub = priv.bytes().slice();
      const both = priv.bytes();
      if (both.length !== 64) throw new Error('corrupt ed25519 private key');
      parts = { kind: 'ed25519', seed: both.slice(0, 32), pub };
    } else if (type.startsWith('ecdsa-sha2-')) {
      const curveName = priv.string();
      const point = priv.bytes().slice();
      const d = priv.bytes().slice();
      parts = { kind: 'ecdsa', curveName, point, d };
    } else if (type === 'ssh-rsa') {
      const nn = priv.bytes().slice();
      const e = priv.bytes().slice();
      const d = priv.bytes().slice();
      const iqmp = priv.bytes().slice();
      const p = priv.bytes().slice();
      const q = priv.bytes().slice();
      parts = { kind: 'rsa', n: nn, e, d, p, q, iqmp };
    } else throw new Error(`unsupported private key type ${type}`);
    const comment = priv.string();
    keys.push(await privateKeyFromParts(parts, comment));
  }
  return keys;
}

export function serializeOpenSshPrivateKey(key: PrivateKey): string {
  const parts = privateParts(key);
  const check = crypto.getRandomValues(new Uint8Array(4));
  const w = new Writer(4096).raw(check).raw(check).string(key.publicKey.type);
  if (parts.kind === 'ed25519') {
    const both = new Uint8Array(64);
    both.set(parts.seed);
    both.set(parts.pub, 32);
    w.bytes(parts.pub).bytes(both);
  } else if (parts.kind === 'ecdsa') {
    w.string(parts.curveName).bytes(parts.point).bytes(mpintFromUnsigned(parts.d));
  } else {
    for (const v of [parts.n, parts.e, parts.d, parts.iqmp, parts.p, parts.q]) w.bytes(mpintFromUnsigned(v));
  }
  w.string(key.comment);
  for (let i = 1; w.pos % 8 !== 0; i++) w.byte(i);
  const body = new Writer(4096)
    .raw(new TextEncoder().encode(MAGIC))
    .string('none')
    .string('none')
    .string('')
    .uint32(1)
    .bytes(key.publicKey.blob)
    .bytes(w.finish())
    .finish();
  return pem('OPENSSH PRIVATE KEY', body);
}

// ── PKCS#8 (RFC 5958): Web Crypto reads it; we only find which algorithm by its OID ────────────────

const OIDS: [string, number[]][] = [
  ['ed25519', [0x06, 0x03, 0x2b, 0x65, 0x70]],
  ['P-256', [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]],
  ['P-384', [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]],
  ['P-521', [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23]],
  ['rsa', [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]],
];

function findOid(der: Uint8Array): string | null {
  for (const [name, oid] of OIDS) {
    outer: for (let i = 0; i + oid.length <= Math.min(der.length, 64); i++) {
      for (let j = 0; j < oid.length; j++) if (der[i + j] !== oid[j]) continue outer;
      return name;
    }
  }
  return null;
}

async function parsePkcs8(der: Uint8Array): Promise<PrivateKey> {
  const alg = findOid(der);
  if (!alg) throw new Error('unsupported PKCS#8 key algorithm');
  try {
    if (alg === 'ed25519') {
      // PrivateKeyInfo ends with OCTET STRING { OCTET STRING (32-byte seed) }: 04 22 04 20 <seed>
      const i = der.findIndex((_, k) => der[k] === 0x04 && der[k + 1] === 0x22 && der[k + 2] === 0x04 && der[k + 3] === 0x20);
      if (i < 0) throw new Error('no seed');
      const seed = der.slice(i + 4, i + 36);
      const { ed25519 } = await import('@noble/curves/ed25519.js');
      return privateKeyFromParts({ kind: 'ed25519', seed, pub: ed25519.getPublicKey(seed) });
    }
    if (alg === 'rsa') {
      const k = await crypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign']);
      const j = await crypto.subtle.exportKey('jwk', k);
      return privateKeyFromParts({
        kind: 'rsa', n: fromB64url(j.n!), e: fromB64url(j.e!), d: fromB64url(j.d!),
        p: fromB64url(j.p!), q: fromB64url(j.q!), iqmp: fromB64url(j.qi!),
      });
    }
    const k = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: alg }, true, ['sign']);
    const j = await crypto.subtle.exportKey('jwk', k);
    const x = fromB64url(j.x!);
    const y = fromB64url(j.y!);
    const point = new Uint8Array(1 + x.length + y.length);
    point[0] = 4;
    point.set(x, 1);
    point.set(y, 1 + x.length);
    return privateKeyFromParts({ kind: 'ecdsa', curveName: `nistp${alg.slice(2)}`, d: fromB64url(j.d!), point });
  } catch (e) {
    throw new Error(`cannot read PKCS#8 ${alg} key: ${(e as Error).message}`);
  }
}
