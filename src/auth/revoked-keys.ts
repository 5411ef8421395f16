/**
 * sshd's RevokedKeys: keys and certificates that may no longer log in, from a list of public keys (one per
 * line) or an OpenSSH key revocation list (PROTOCOL.krl, made by `ssh-keygen -k`): explicit keys, their
 * SHA-1 or SHA-256 hashes, and certificates by CA and serial number (list, range, bitmap) or key ID.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex as hex } from '@noble/hashes/utils.js';
import type { PublicKey } from '../crypto/types.ts';
import { parsePublicKeyBlob } from '../crypto/hostkey/index.ts';
import { fromBase64 } from '../crypto/keys/index.ts';
import { Reader } from '../wire/reader.ts';
import { certificateOf } from './certificate.ts';
import { parseAuthorizedKeys } from './authorized-keys.ts';

const KRL_MAGIC = 0x5353484b524c0a00n; // "SSHKRL\n\0"
const SECTION = { CERTIFICATES: 1, EXPLICIT_KEY: 2, FINGERPRINT_SHA1: 3, SIGNATURE: 4, FINGERPRINT_SHA256: 5, EXTENSION: 255 } as const;
const CERT_SECTION = { SERIAL_LIST: 0x20, SERIAL_RANGE: 0x21, SERIAL_BITMAP: 0x22, KEY_ID: 0x23, EXTENSION: 0x39 } as const;

/**
 * Revoked keys from configuration that holds only text (a Worker's vars): public key lines, or a KRL as
 * base64 (`base64 -w0 revoked.krl`).
 */
export function revokedKeysFromText(text: string): string | Uint8Array {
  const t = text.trim();
  if (/^U1NIS1JM[A-Za-z0-9+/=\s]*$/.test(t)) return fromBase64(t); // "SSHKRL"
  return text;
}

/** Revoked certificates of one CA (`ca` null: of any CA). */
interface CertRevocations {
  ca: string | null;
  serials: Set<bigint>;
  ranges: [bigint, bigint][];
  bitmaps: [bigint, bigint][];
  keyIds: Set<string>;
}

export class RevokedKeys {
  private readonly blobs = new Set<string>();
  private readonly sha1s = new Set<string>();
  private readonly sha256s = new Set<string>();
  private readonly certs: CertRevocations[] = [];

  /** Parses a KRL (recognised by its magic number) or a text list of public keys; throws naming what is wrong. */
  constructor(data: Uint8Array | string) {
    const bytes = typeof data === 'string' ? null : data;
    if (bytes && bytes.length >= 8 && new Reader(bytes).uint64() === KRL_MAGIC) this.parseKrl(bytes);
    else {
      const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data);
      parseAuthorizedKeys(text, (line, why) => {
        throw new Error(`line ${line}: ${why}`);
      }).forEach((k) => this.blobs.add(hex(k.key.blob)));
    }
  }

  /** How many keys, hashes and certificate sections it holds (for a log line). */
  get size(): number {
    return this.blobs.size + this.sha1s.size + this.sha256s.size + this.certs.length;
  }

  /**
   * Why a key may not be used, or null: the key itself (a certificate's certified key too) listed or hashed,
   * or a certificate revoked by its CA's serial number or key ID. (A certificate's CA key is a key of its
   * own: ask about certificateOf(key).caKey too, as sshd does.)
   */
  revoked(key: PublicKey): string | null {
    const cert = certificateOf(key);
    const plain = cert ? cert.key : key;
    const h = hex(plain.blob);
    if (this.blobs.has(h) || this.sha1s.has(hex(sha1(plain.blob))) || this.sha256s.has(hex(sha256(plain.blob)))) return `the key is revoked`;
    if (!cert) return null;
    const ca = hex(cert.caKey.blob);
    for (const c of this.certs) {
      if (c.ca !== null && c.ca !== ca) continue;
      const s = cert.serial;
      if (c.keyIds.has(cert.keyId)) return `the certificate's key ID "${cert.keyId}" is revoked`;
      // Serial numbers are revoked per CA; a section for any CA revokes key IDs only (as OpenSSH reads it).
      if (c.ca === null) continue;
      const bySerial =
        c.serials.has(s) ||
        c.ranges.some(([lo, hi]) => s >= lo && s <= hi) ||
        c.bitmaps.some(([offset, bits]) => s >= offset && ((bits >> (s - offset)) & 1n) === 1n);
      if (bySerial) return `the certificate's serial ${s} is revoked`;
    }
    return null;
  }

  private parseKrl(b: Uint8Array): void {
    const r = new Reader(b);
    r.uint64(); // magic
    const version = r.uint32();
    if (version !== 1) throw new Error(`KRL format version ${version} is not supported`);
    r.uint64(); // krl_version
    r.uint64(); // generated_date
    r.uint64(); // flags
    r.bytes(); // reserved
    r.bytes(); // comment
    while (r.remaining) {
      const type = r.byte();
      if (type === SECTION.SIGNATURE) throw new Error('KRL signatures are not supported (as OpenSSH 9.4 and later refuse them)');
      const s = new Reader(r.bytes());
      switch (type) {
        case SECTION.CERTIFICATES:
          this.parseCertSection(s);
          break;
        case SECTION.EXPLICIT_KEY:
          while (s.remaining) {
            const blob = s.bytes();
            let canonical = blob;
            try {
              canonical = parsePublicKeyBlob(blob).blob;
            } catch {
              /* a key type edgessh does not take (DSA, FIDO): it can never log in here anyway */
            }
            this.blobs.add(hex(canonical));
          }
          break;
        case SECTION.FINGERPRINT_SHA1:
        case SECTION.FINGERPRINT_SHA256:
          while (s.remaining) (type === SECTION.FINGERPRINT_SHA1 ? this.sha1s : this.sha256s).add(hex(s.bytes()));
          break;
        case SECTION.EXTENSION:
          extension(s, 'KRL');
          break;
        default:
          throw new Error(`unknown KRL section type ${type}`);
      }
    }
  }

  private parseCertSection(s: Reader): void {
    const caBlob = s.bytes();
    s.bytes(); // reserved
    const c: CertRevocations = {
      ca: caBlob.length ? hex(parsePublicKeyBlob(caBlob).blob) : null,
      serials: new Set(),
      ranges: [],
      bitmaps: [],
      keyIds: new Set(),
    };
    while (s.remaining) {
      const type = s.byte();
      const d = new Reader(s.bytes());
      switch (type) {
        case CERT_SECTION.SERIAL_LIST:
          while (d.remaining) c.serials.add(d.uint64());
          break;
        case CERT_SECTION.SERIAL_RANGE: {
          const lo = d.uint64();
          const hi = d.uint64();
          if (lo > hi) throw new Error('KRL serial range with its minimum above its maximum');
          c.ranges.push([lo, hi]);
          break;
        }
        case CERT_SECTION.SERIAL_BITMAP:
          c.bitmaps.push([d.uint64(), d.mpint()]);
          break;
        case CERT_SECTION.KEY_ID:
          while (d.remaining) c.keyIds.add(d.string());
          break;
        case CERT_SECTION.EXTENSION:
          extension(d, 'KRL certificate section');
          break;
        default:
          throw new Error(`unknown KRL certificate section type 0x${type.toString(16)}`);
      }
      d.done('KRL certificate subsection');
    }
    this.certs.push(c);
  }
}

/** An extension: a critical one not known here makes the KRL unusable (PROTOCOL.krl); others are skipped. */
function extension(d: Reader, where: string): void {
  const name = d.string();
  const critical = d.boolean();
  d.bytes();
  if (critical) throw new Error(`${where} has the critical extension ${JSON.stringify(name)}, not supported here`);
}
