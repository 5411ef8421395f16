/**
 * OpenSSH certificates (PROTOCOL.certkeys): a user's key signed by a certificate authority, with the
 * principals (user names) it is for, a validity window, critical options and extensions. The userauth
 * server verifies the CA's signature and the certificate's type; the application decides whether it
 * trusts that CA and for whom (makeDemoPolicy: `cert-authority` lines and TrustedUserCAKeys, as sshd).
 */
import type { PrivateKey, PublicKey } from '../crypto/types.ts';
import { parsePublicKeyBlob } from '../crypto/hostkey/index.ts';
import { fingerprint, fromBase64 } from '../crypto/keys/index.ts';
import { equalConstantTime } from '../crypto/protection.ts';
import { Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';
import { addressMatches, ipBytes, wildcardMatches, type AuthorizedKeyOptions } from './authorized-keys.ts';

const SUFFIX = '-cert-v01@openssh.com';

/** Certificate key types and the plain key type each certifies. */
const CERT_KEY_TYPES: Record<string, string> = {
  'ssh-ed25519-cert-v01@openssh.com': 'ssh-ed25519',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': 'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': 'ecdsa-sha2-nistp521',
  'ssh-rsa-cert-v01@openssh.com': 'ssh-rsa',
};

/**
 * The signature algorithm a certificate algorithm stands for (`rsa-sha2-512-cert-v01@openssh.com` →
 * `rsa-sha2-512`): the user's signature is made by the certified key with it. null for a name that is not one.
 */
export function certificatePlainAlgorithm(algorithm: string): string | null {
  if (!algorithm.endsWith(SUFFIX)) return null;
  const plain = algorithm.slice(0, -SUFFIX.length);
  return /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|rsa-sha2-(256|512)|ssh-rsa)$/.test(plain) ? plain : null;
}

/**
 * The signature algorithms a user's signature may use under a certificate algorithm, of those `accepted`:
 * the plain one (`rsa-sha2-512-cert-v01@openssh.com` → `rsa-sha2-512`). `ssh-rsa-cert-v01@openssh.com` is
 * the RSA certificate's own type name, which some clients (AsyncSSH 2.10) send with a SHA-2 signature: as
 * OpenSSH's verifier does for that name, the signature's own algorithm decides, and it must be accepted
 * (so SHA-1 only if `ssh-rsa` is).
 */
export function certificateSignatureAlgorithms(algorithm: string, accepted: readonly string[]): string[] {
  if (algorithm === 'ssh-rsa-cert-v01@openssh.com') return accepted.filter((a) => a === 'rsa-sha2-512' || a === 'rsa-sha2-256' || a === 'ssh-rsa');
  const plain = certificatePlainAlgorithm(algorithm);
  return plain && accepted.includes(plain) ? [plain] : [];
}

export interface Certificate {
  /** The certificate's key type, `ssh-ed25519-cert-v01@openssh.com` and so on. */
  type: string;
  /** The certified (plain) key: it makes the user's signature. */
  key: PublicKey;
  serial: bigint;
  kind: 'user' | 'host';
  keyId: string;
  /** Empty: valid for any principal (sshd lets such a certificate in only through a cert-authority line). */
  principals: string[];
  /** Seconds since the epoch; validBefore 2^64 − 1 is forever. */
  validAfter: bigint;
  validBefore: bigint;
  /** Critical options by name, with their data decoded (`force-command`, `source-address`: a string; flags: ''). */
  criticalOptions: Record<string, string>;
  /** Extension names (their data, always empty in OpenSSH's, is ignored). */
  extensions: string[];
  /** The authority's key, which signed the certificate. */
  caKey: PublicKey;
  /** The bytes the authority signed, and its signature blob. */
  signed: Uint8Array;
  signature: Uint8Array;
}

/** A certificate as userauth sees a key: its blob is the whole certificate, its signatures the certified key's. */
export interface CertifiedKey extends PublicKey {
  readonly certificate: Certificate;
}

/** The certificate a key carries, if it is one. */
export function certificateOf(key: PublicKey): Certificate | null {
  return (key as Partial<CertifiedKey>).certificate ?? null;
}

/** Parses a certificate blob (PROTOCOL.certkeys); throws naming what is wrong. */
export function parseCertificate(blob: Uint8Array): CertifiedKey {
  const r = new Reader(blob);
  const type = r.string();
  const plainType = Object.hasOwn(CERT_KEY_TYPES, type) ? CERT_KEY_TYPES[type]! : null;
  if (!plainType) throw new Error(`unsupported certificate type ${type}`);
  r.bytes(); // nonce
  // The certified key's fields, between the nonce and the serial, make the plain key's blob.
  const plain = new Writer().string(plainType);
  if (plainType === 'ssh-ed25519') plain.bytes(r.bytes());
  else if (plainType === 'ssh-rsa') plain.bytes(r.bytes()).bytes(r.bytes()); // e, n
  else plain.bytes(r.bytes()).bytes(r.bytes()); // curve, point
  const key = parsePublicKeyBlob(plain.finish());
  const serial = r.uint64();
  const kindCode = r.uint32();
  if (kindCode !== 1 && kindCode !== 2) throw new Error(`unknown certificate type ${kindCode}`);
  const keyId = r.string();
  const principals = strings(r.bytes());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  // No prototype: an option named __proto__ must stay an (unknown, so refused) option.
  const criticalOptions: Record<string, string> = Object.create(null);
  for (const [name, data] of pairs(r.bytes(), 'critical options')) {
    // force-command and source-address carry a string; a flag carries nothing.
    if (data.length === 0) criticalOptions[name] = '';
    else {
      const d = new Reader(data);
      criticalOptions[name] = d.string();
      d.done(`critical option ${name}`);
    }
  }
  const extensions = pairs(r.bytes(), 'extensions').map(([name]) => name);
  r.bytes(); // reserved
  const caKey = parsePublicKeyBlob(r.bytes()); // a plain key: a certificate as the authority is refused here
  const signed = blob.subarray(0, r.pos);
  const signature = r.bytes();
  r.done('certificate');
  const certificate: Certificate = {
    type, key, serial, kind: kindCode === 1 ? 'user' : 'host', keyId, principals, validAfter, validBefore,
    criticalOptions, extensions, caKey, signed: signed.slice(), signature: signature.slice(),
  };
  const algorithms = key.signatureAlgorithms.map((a) => a + SUFFIX);
  const own = blob.slice();
  return {
    type,
    blob: own,
    signatureAlgorithms: algorithms,
    certificate,
    // The user's signature is the certified key's, named by the plain algorithm (rsa-sha2-512, not …-cert-v01).
    verify: (sig, data, allowed) => key.verify(sig, data, allowed?.map((a) => certificatePlainAlgorithm(a) ?? a)),
  };
}

/** A plain public key or a certificate, as a publickey userauth request (or, to a client, a server's host key) may carry either. */
export function parseUserKey(blob: Uint8Array): PublicKey {
  const type = new Reader(blob).string();
  return type.endsWith(SUFFIX) ? parseCertificate(blob) : parsePublicKeyBlob(blob);
}

/** Whether the authority's signature over the certificate verifies with one of `algorithms` (its own, as on the wire). */
export function verifyCertificate(cert: Certificate, algorithms: readonly string[]): Promise<boolean> {
  return cert.caKey.verify(cert.signature, cert.signed, algorithms);
}

function strings(b: Uint8Array): string[] {
  const r = new Reader(b);
  const out: string[] = [];
  while (r.remaining) out.push(r.string());
  return out;
}

/** A certificate's options or extensions: (string name, string data) pairs, each name once. */
function pairs(b: Uint8Array, what: string): [string, Uint8Array][] {
  const r = new Reader(b);
  const out: [string, Uint8Array][] = [];
  const seen = new Set<string>();
  while (r.remaining) {
    const name = r.string();
    if (seen.has(name)) throw new Error(`${what}: ${name} appears twice`);
    seen.add(name);
    out.push([name, r.bytes()]);
  }
  return out;
}

/** The critical options edgessh understands; a certificate with any other is refused (PROTOCOL.certkeys). */
const KNOWN_CRITICAL = new Set(['force-command', 'source-address']);

export interface CertificateCheck {
  /**
   * The user logging in. With `requirePrincipal` (sshd's TrustedUserCAKeys) the certificate must list
   * them; without (a cert-authority line) it must list them if it lists anyone.
   */
  username: string;
  requirePrincipal: boolean;
  /** A cert-authority line's `principals=`: one of these must be listed instead of the user name. */
  principals?: readonly string[];
  /** The client's address, or null if unknown (then source-address refuses). */
  ip: string | null;
  /** ms since the epoch. */
  now: number;
}

/**
 * Why a user certificate (its signature already verified) may not log this user in now, or null. The
 * reasons are sshd's words.
 */
export function certificateRefusal(cert: Certificate, c: CertificateCheck): string | null {
  if (cert.kind !== 'user') return 'Certificate invalid: not a user certificate';
  const now = BigInt(Math.floor(c.now / 1000));
  if (now < cert.validAfter) return 'Certificate invalid: not yet valid';
  if (now >= cert.validBefore) return 'Certificate invalid: expired';
  if (c.principals) {
    if (!c.principals.some((p) => cert.principals.includes(p))) return 'Certificate does not contain an authorized principal';
  } else if (cert.principals.length === 0) {
    if (c.requirePrincipal) return 'Certificate lacks principal list';
  } else if (!cert.principals.includes(c.username)) return 'Certificate invalid: name is not a listed principal';
  for (const name of Object.keys(cert.criticalOptions))
    if (!KNOWN_CRITICAL.has(name)) return `Certificate has unknown critical option ${JSON.stringify(name)}`;
  const from = cert.criticalOptions['source-address'];
  if (from !== undefined && !sourceAddressAllows(from, c.ip)) return `not from a permitted address (ip=${c.ip ?? 'unknown'}, source-address=${from})`;
  return null;
}

/** source-address: addresses and CIDR blocks, comma-separated; an entry that is neither refuses. */
function sourceAddressAllows(list: string, ip: string | null): boolean {
  if (!ip) return false;
  const entries = list.split(',');
  if (entries.some((e) => !ipBytes(e.split('/')[0]!) || !/^[^/]+(\/\d{1,3})?$/.test(e))) return false;
  return entries.some((e) => addressMatches(ip, e.includes('/') ? e : `${e}/${ipBytes(e)!.length * 8}`));
}

/**
 * The options a certificate login runs under: its authority's line's, narrowed by the certificate (sshd's
 * merge: each permission needs both). No `permit-pty` extension: no pty; no `permit-port-forwarding`: no
 * forwarding; `force-command` acts as command=. A string (the refusal) when the two force different commands.
 */
export function certificateOptions(line: AuthorizedKeyOptions, cert: Certificate): AuthorizedKeyOptions | string {
  const o: AuthorizedKeyOptions = structuredClone(line);
  const has = (e: string) => cert.extensions.includes(e);
  if (!has('permit-pty')) (o.noPty = true), (o.pty = false);
  if (!has('permit-port-forwarding')) (o.noPortForwarding = true), (o.portForwarding = false);
  if (!has('permit-agent-forwarding')) o.noAgentForwarding = true;
  if (!has('permit-X11-forwarding')) o.noX11Forwarding = true;
  if (!has('permit-user-rc')) o.noUserRc = true;
  const forced = cert.criticalOptions['force-command'];
  if (forced !== undefined) {
    if (o.command !== undefined && o.command !== forced) return "the certificate's force-command and the key's command= differ";
    o.command = forced;
  }
  return o;
}

/**
 * sshd's HostCertificate: host keys presented with their certificates (OpenSSH public key lines,
 * `ssh-keygen -s CA -h -n host key.pub`), so clients that trust the CA (`@cert-authority` in known_hosts)
 * need no host key of their own. Each certificate must be a host certificate of one of `keys`; the result
 * is one more host key per certificate, offered as `…-cert-v01@openssh.com`, whose signatures are the
 * plain key's.
 */
export function certifiedHostKeys(keys: readonly PrivateKey[], certificateLines: string): PrivateKey[] {
  const out: PrivateKey[] = [];
  certificateLines.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [type, b64] = line.split(/\s+/);
    let cert: CertifiedKey;
    try {
      cert = parseCertificate(fromBase64(b64 ?? ''));
    } catch (e) {
      throw new Error(`host certificate ${i + 1}: ${(e as Error).message}`);
    }
    if (cert.type !== type) throw new Error(`host certificate ${i + 1}: type ${type} does not match its data (${cert.type})`);
    if (cert.certificate.kind !== 'host') throw new Error(`host certificate ${i + 1} (ID "${cert.certificate.keyId}") is a user certificate`);
    const blob = cert.certificate.key.blob;
    const key = keys.find((k) => equalConstantTime(k.publicKey.blob, blob));
    if (!key) throw new Error(`host certificate ${i + 1} (ID "${cert.certificate.keyId}") certifies none of the host keys`);
    out.push({
      publicKey: cert,
      comment: key.comment,
      // The signature is the plain key's, named by the plain algorithm (PROTOCOL.certkeys).
      sign: (algorithm, data) => key.sign(certificatePlainAlgorithm(algorithm) ?? algorithm, data),
    });
  });
  return out;
}

export interface HostCertificateCheck {
  /** The name the client connected to (or its HostKeyAlias): a principal must match it, wildcards allowed. */
  hostname: string;
  /** The authorities trusted for this host (as `@cert-authority` lines of known_hosts that match it). */
  trustedCas: readonly PublicKey[];
  /** ms since the epoch (default: now). */
  now?: number;
}

/**
 * For a client's verifyHostKey: why the server's host key, a certificate, may not be trusted as OpenSSH's ssh
 * would not trust it (its words where it has some), or null. The transport has already checked that it is
 * a host certificate whose authority's signature verifies; here: that authority is one of `trustedCas`,
 * the validity window, a principal matching the host name (none listed: any host), no critical options.
 * Offer certificates with `algorithms: { hostKey: SERVER_HOST_KEY_ALGORITHMS }` (the forms with
 * `-cert-v01@openssh.com` first).
 */
export function hostCertificateRefusal(key: PublicKey, c: HostCertificateCheck): string | null {
  const cert = certificateOf(key);
  if (!cert) return `${key.type} is not a certificate`;
  if (cert.kind !== 'host') return 'Certificate invalid: not a host certificate';
  if (!c.trustedCas.some((ca) => equalConstantTime(ca.blob, cert.caKey.blob))) return `No matching CA found: ${cert.caKey.type} CA ${fingerprint(cert.caKey)} is not trusted for ${c.hostname}`;
  const now = BigInt(Math.floor((c.now ?? Date.now()) / 1000));
  if (now < cert.validAfter) return 'Certificate invalid: not yet valid';
  if (now >= cert.validBefore) return 'Certificate invalid: expired';
  const host = c.hostname.toLowerCase();
  if (cert.principals.length && !cert.principals.some((p) => wildcardMatches(host, p.toLowerCase()))) return 'Certificate invalid: name is not a listed principal';
  if (Object.keys(cert.criticalOptions).length) return 'Certificate contains unsupported critical options';
  return null;
}

/** A host key for the log: its type and fingerprint, or a certificate's ID, serial, key and CA. */
export function describeHostKey(key: PublicKey): string {
  const c = certificateOf(key);
  if (!c) return `host key ${key.type} ${fingerprint(key)}`;
  return `host certificate ${key.type} ID "${c.keyId}" (serial ${c.serial}) for ${fingerprint(c.key)} signed by ${c.caKey.type} CA ${fingerprint(c.caKey)}`;
}

/** The extensions ssh-keygen gives a user certificate by default (`-O clear` removes them). */
export const DEFAULT_USER_EXTENSIONS: readonly string[] = ['permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc'];

export interface CertificateRequest {
  kind: 'user' | 'host';
  keyId: string;
  /** Empty: valid for any principal (see certificateRefusal). */
  principals?: readonly string[];
  serial?: bigint;
  /** Seconds since the epoch; default from 0 to forever. */
  validAfter?: bigint;
  validBefore?: bigint;
  /** `force-command`, `source-address` (values are strings). */
  criticalOptions?: Readonly<Record<string, string>>;
  /** Default for a user certificate: DEFAULT_USER_EXTENSIONS; for a host one, none. */
  extensions?: readonly string[];
}

/**
 * Signs `key` with the authority `ca` (what `ssh-keygen -s` does): a certificate OpenSSH, parseCertificate
 * and certificateRefusal accept. An RSA authority signs with rsa-sha2-512, as ssh-keygen does.
 */
export async function signCertificate(ca: PrivateKey, key: PublicKey, o: CertificateRequest): Promise<CertifiedKey> {
  if (certificateOf(key) || certificateOf(ca.publicKey)) throw new Error('a certificate is made of plain keys');
  const type = `${key.type}${SUFFIX}`;
  if (!Object.hasOwn(CERT_KEY_TYPES, type)) throw new Error(`keys of type ${key.type} cannot be certified here`);
  const fields = new Reader(key.blob);
  fields.string(); // the key's fields follow its type name
  const nameData = (names: [string, Uint8Array][]) => {
    const w = new Writer();
    // OpenSSH wants them sorted by name, each once.
    for (const [n, d] of [...names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) w.string(n).bytes(d);
    return w.finish();
  };
  const principals = new Writer();
  for (const p of o.principals ?? []) principals.string(p);
  const critical = Object.entries(o.criticalOptions ?? {}).map(([n, v]) => [n, new Writer().string(v).finish()] as [string, Uint8Array]);
  const extensions = (o.extensions ?? (o.kind === 'user' ? DEFAULT_USER_EXTENSIONS : [])).map((n) => [n, new Uint8Array(0)] as [string, Uint8Array]);
  const body = new Writer(1024)
    .string(type)
    .bytes(crypto.getRandomValues(new Uint8Array(32)))
    .raw(fields.raw(fields.remaining))
    .uint64(o.serial ?? 0n)
    .uint32(o.kind === 'user' ? 1 : 2)
    .string(o.keyId)
    .bytes(principals.finish())
    .uint64(o.validAfter ?? 0n)
    .uint64(o.validBefore ?? 0xffffffffffffffffn)
    .bytes(nameData(critical))
    .bytes(nameData(extensions))
    .bytes(new Uint8Array(0))
    .bytes(ca.publicKey.blob)
    .finish();
  const algorithm = ca.publicKey.signatureAlgorithms[0]!; // rsa-sha2-512 for RSA, the only one for the others
  return parseCertificate(new Writer(body.length + 600).raw(body).bytes(await ca.sign(algorithm, body)).finish());
}
