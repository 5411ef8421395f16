/** OpenSSH's authorized_keys format (sshd(8) AUTHORIZED_KEYS FILE FORMAT): options, key type, base64, comment. */
import type { PublicKey } from '../crypto/types.ts';
import { parsePublicKeyBlob } from '../crypto/registry.ts';
import { equalConstantTime } from '../crypto/protection.ts';

export interface AuthorizedKey {
  key: PublicKey;
  comment: string;
  /** Options by name; flags map to true, valued options to their (unquoted) values, repeatable ones to arrays. */
  options: AuthorizedKeyOptions;
}

export interface AuthorizedKeyOptions {
  command?: string;
  from?: string;
  environment?: string[];
  restrict?: boolean;
  noPty?: boolean;
  noPortForwarding?: boolean;
  /** `port-forwarding`: allowed again after `restrict`. */
  portForwarding?: boolean;
  /** `permitopen="host:port"` (repeatable): the only targets this key may forward to. */
  permitOpen?: PermitOpen[];
  /** `permitlisten="[host:]port"` entries: where remote forwards may listen (none given: anywhere allowed). */
  permitListen?: PermitOpen[];
  noAgentForwarding?: boolean;
  noX11Forwarding?: boolean;
  noUserRc?: boolean;
  pty?: boolean;
  /** `cert-authority`: the key is a certificate authority, trusted for certificates it signed (not as a key). */
  certAuthority?: boolean;
  /** `principals="a,b"` (with cert-authority): one of these must be in the certificate, instead of the user's name. */
  principals?: string[];
  /** `expiry-time`: the key stops working at this time (ms since the epoch). */
  expiresAt?: number;
  /** Options sshd knows that have nothing to do here (agent and X11 forwarding, tunnels, user rc…). */
  other: Record<string, string | true>;
}

/**
 * Options sshd accepts that ask for something edgessh never does (so there is nothing to allow or forbid).
 * Any option not known here or handled below makes the line invalid, as sshd skips a line with bad options.
 */
const HARMLESS_OPTIONS = new Set([
  'agent-forwarding', 'x11-forwarding', 'user-rc', 'tunnel', 'no-touch-required', 'verify-required',
]);

const KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+|ssh-dss)$/;

/** Parses a file; bad lines are skipped and reported through `onError` (sshd logs and skips them too). */
export function parseAuthorizedKeys(text: string, onError?: (line: number, why: string) => void): AuthorizedKey[] {
  return parseLines(text, parseAuthorizedKeyLine, onError);
}

/** sshd's file reading: each line trimmed, empty lines and `#` comments skipped, a line `parse` throws on reported and skipped. */
function parseLines<T>(text: string, parse: (line: string) => T, onError?: (line: number, why: string) => void): T[] {
  const out: T[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    try {
      out.push(parse(line));
    } catch (e) {
      onError?.(i + 1, (e as Error).message);
    }
  });
  return out;
}

export function parseAuthorizedKeyLine(line: string): AuthorizedKey {
  let rest = line.trim();
  let optionText = '';
  const firstWord = rest.split(/\s/, 1)[0]!;
  if (!KEY_TYPES.test(firstWord)) {
    const end = scanOptions(rest);
    optionText = rest.slice(0, end);
    rest = rest.slice(end).trim();
  }
  const [type, b64, ...comment] = rest.split(/\s+/);
  if (!type || !b64) throw new Error('missing key type or key data');
  let blob: Uint8Array;
  try {
    blob = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch {
    throw new Error('key data is not base64');
  }
  const key = parsePublicKeyBlob(blob);
  if (key.type !== type) throw new Error(`key type ${type} does not match the key data (${key.type})`);
  return { key, comment: comment.join(' '), options: parseOptions(optionText) };
}

/** A line of sshd's AuthorizedPrincipalsFile: a principal name, after authorized_keys options if any. */
export interface AuthorizedPrincipal {
  principal: string;
  options: AuthorizedKeyOptions;
}

/**
 * Parses an AuthorizedPrincipalsFile (sshd_config(5)): `[options] principal` lines, the options those of
 * authorized_keys; empty lines and `#` comments ignored. Bad lines are skipped and reported through
 * `onError`, as sshd skips them.
 */
export function parseAuthorizedPrincipals(text: string, onError?: (line: number, why: string) => void): AuthorizedPrincipal[] {
  return parseLines(
    text,
    (line) => {
      const end = /\s/.test(line) ? scanOptions(line) : 0;
      const principal = line.slice(end).trim();
      if (!principal || /\s/.test(principal)) throw new Error('expected [options] principal');
      const options = parseOptions(line.slice(0, end));
      if (options.certAuthority) throw new Error('cert-authority does not belong in a principals file');
      return { principal, options };
    },
    onError,
  );
}

/** The end of the options field: the first unquoted whitespace. */
function scanOptions(s: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) return i;
  }
  if (quoted) throw new Error('unterminated quote in options');
  return s.length;
}

function parseOptions(text: string): AuthorizedKeyOptions {
  const o: AuthorizedKeyOptions = { other: {} };
  if (!text) return o;
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted && text[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  for (const p of parts) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? null : p.slice(eq + 1);
    switch (name) {
      case 'command':
        o.command = value ?? '';
        break;
      case 'from':
        if (!value) throw new Error('from= needs a pattern list');
        o.from = value;
        break;
      case 'expiry-time':
        o.expiresAt = parseExpiryTime(value ?? '');
        break;
      case 'cert-authority':
        // The key is a certificate authority: it authorizes certificates it signed, never itself.
        o.certAuthority = true;
        break;
      case 'principals':
        if (!value) throw new Error('principals= needs a list of names');
        o.principals = value.split(',');
        break;
      case 'environment':
        (o.environment ??= []).push(value ?? '');
        break;
      case 'restrict':
        o.restrict = true;
        break;
      case 'no-pty':
        o.noPty = true;
        break;
      case 'pty':
        o.pty = true;
        break;
      case 'no-port-forwarding':
        o.noPortForwarding = true;
        break;
      case 'port-forwarding':
        o.portForwarding = true;
        break;
      case 'permitopen':
        (o.permitOpen ??= []).push(...parsePermitOpen(value ?? '', true));
        break;
      case 'permitlisten':
        (o.permitListen ??= []).push(...parsePermitListen(value ?? '', true));
        break;
      case 'no-agent-forwarding':
        o.noAgentForwarding = true;
        break;
      case 'no-x11-forwarding':
        o.noX11Forwarding = true;
        break;
      case 'no-user-rc':
        o.noUserRc = true;
        break;
      default:
        if (!HARMLESS_OPTIONS.has(name)) throw new Error(`unknown option ${JSON.stringify(name)}`);
        o.other[name] = value ?? true;
    }
  }
  if (o.principals && !o.certAuthority) throw new Error('principals= applies only to a cert-authority line');
  return o;
}

/** sshd's expiry-time: YYYYMMDD[HHMM[SS]], in the server's local time, or UTC with a trailing Z. */
export function parseExpiryTime(v: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/i.exec(v);
  if (!m) throw new Error(`bad expiry-time ${JSON.stringify(v)} (expected YYYYMMDD[HHMM[SS]][Z])`);
  const [y, mo, d, h = '0', mi = '0', sec = '0'] = m.slice(1, 7).map((x) => x ?? '0') as string[];
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)] as const;
  const t = m[7] ? Date.UTC(...parts) : new Date(...parts).getTime();
  if (!Number.isFinite(t)) throw new Error(`bad expiry-time ${JSON.stringify(v)}`);
  return t;
}

/**
 * Why a key whose line matched may not be used from this address now, or null: `from=` patterns (sshd's:
 * `*` and `?` wildcards, CIDR blocks, `!` to exclude; any excluded match refuses), `expiry-time`. `ip` is
 * the client's address as text, or null when the adapter does not know it (then `from=` refuses).
 */
export function keyRefusal(o: AuthorizedKeyOptions, ip: string | null, now: number): string | null {
  if (o.expiresAt !== undefined && now >= o.expiresAt) return `the key expired at ${new Date(o.expiresAt).toISOString()}`;
  if (o.from !== undefined && !(ip && addressMatches(ip, o.from))) return `not from a permitted host (ip=${ip ?? 'unknown'}, required=${o.from})`;
  return null;
}

/**
 * sshd's AllowUsers / DenyUsers: whitespace-separated patterns, each USER or USER@HOST (`*` and `?`
 * wildcards; HOST is matched against the client's address, CIDR blocks too, as sshd does with UseDNS no).
 * DenyUsers is checked first; a non-empty AllowUsers lets in only the users it lists. When the adapter does
 * not know the address (sshd always does), a USER@HOST pattern refuses either way: it denies in DenyUsers
 * and does not allow in AllowUsers. Null when the user may log in, else sshd's reason.
 */
export function userRefusal(user: string, ip: string | null, allowUsers = '', denyUsers = ''): string | null {
  const listed = (list: string, unknownHostMatches: boolean) =>
    list
      .split(/\s+/)
      .filter(Boolean)
      .some((p) => {
        const at = p.indexOf('@');
        if (at < 0) return wildcardMatches(user, p);
        return wildcardMatches(user, p.slice(0, at)) && (ip === null ? unknownHostMatches : addressMatches(ip, p.slice(at + 1)));
      });
  if (listed(denyUsers, true)) return 'listed in DenyUsers';
  if (allowUsers.trim() && !listed(allowUsers, false)) return 'not listed in AllowUsers';
  return null;
}

/** sshd's match_host_and_ip with UseDNS no (the host name is the address). */
export function addressMatches(ip: string, patterns: string): boolean {
  let matched = false;
  for (const raw of patterns.split(',')) {
    const negated = raw.startsWith('!');
    const p = (negated ? raw.slice(1) : raw).trim();
    const hit = p.includes('/') ? cidrMatches(ip, p) : wildcardMatches(ip.toLowerCase(), p.toLowerCase());
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

/** OpenSSH's match_pattern: `*` any run of characters, `?` any one; everything else literal. */
export function wildcardMatches(s: string, p: string): boolean {
  const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(s);
}

function cidrMatches(ip: string, cidr: string): boolean {
  const [net, lenText] = cidr.split('/');
  const a = ipBytes(ip);
  const b = ipBytes(net ?? '');
  const len = Number(lenText);
  if (!a || !b || a.length !== b.length || !/^\d+$/.test(lenText ?? '') || len > a.length * 8) return false;
  for (let i = 0; i < len; i++) {
    const bit = 0x80 >> (i % 8);
    if ((a[i >> 3]! & bit) !== (b[i >> 3]! & bit)) return false;
  }
  return true;
}

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, as Node reports IPv4 peers on a dual-stack socket) as IPv4. */
export function unmapIPv4(text: string): string {
  return text.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

/** An IPv4 or IPv6 address as bytes (an IPv4-mapped IPv6 address as its IPv4 bytes), or null. */
export function ipBytes(text: string): number[] | null {
  const t = unmapIPv4(text);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(t)) {
    const b = t.split('.').map(Number);
    return b.every((x) => x <= 255) ? b : null;
  }
  if (!/^[0-9a-f:]+$/i.test(t) || (t.match(/::/g) ?? []).length > 1) return null;
  const [head, tail] = t.includes('::') ? t.split('::') : [t, null];
  const words = (x: string | undefined) => (x ? x.split(':') : []);
  const h = words(head);
  const tl = tail === null ? [] : words(tail);
  const fill = tail === null ? 0 : 8 - h.length - tl.length;
  if (fill < 0 || (tail === null && h.length !== 8)) return null;
  const all = [...h, ...Array(fill).fill('0'), ...tl];
  if (all.some((w) => w.length === 0 || w.length > 4)) return null;
  return all.flatMap((w) => [parseInt(w, 16) >> 8, parseInt(w, 16) & 0xff]);
}

/** Whether `restrict`/`no-pty` forbid a pty for this key (a later `pty` re-allows it). */
export function ptyAllowed(o: AuthorizedKeyOptions): boolean {
  if (o.pty) return true;
  return !(o.restrict || o.noPty);
}

/** Whether `restrict`/`no-port-forwarding` forbid port forwarding for this key (a later `port-forwarding` re-allows it). */
export function forwardingAllowed(o: AuthorizedKeyOptions): boolean {
  if (o.noPortForwarding) return false;
  return !o.restrict || !!o.portForwarding;
}

/**
 * Whether a user name may be put into a file path, URL or program argument made from a `%u` template: not
 * empty, not starting with `.` or `-`, without `/`, whitespace or control characters. edgessh's users are
 * whatever names clients send, not accounts, so `../x` or `-rf` must not reach a template.
 */
export const templateSafeUserName = (u: string): boolean => u !== '' && !/^[-.]/.test(u) && !/[/\s\p{Cc}]/u.test(u);

/**
 * Finds the entry for a key, comparing blobs: a plain key's own line, or for a certificate (`ca`: its
 * authority's key) a cert-authority line. A cert-authority line never matches its key used plainly.
 */
export function findAuthorizedKey(keys: readonly AuthorizedKey[], key: PublicKey, ca?: PublicKey): AuthorizedKey | undefined {
  const want = ca ?? key;
  return keys.find((k) => !k.options.certAuthority === !ca && equalConstantTime(k.key.blob, want.blob));
}

/** One PermitOpen entry; null host or port stands for `*`. */
export interface PermitOpen {
  host: string | null;
  port: number | null;
}

/**
 * sshd's PermitOpen syntax: `host:port` entries separated by spaces or commas, `*` for any host or any
 * port, `[v6addr]:port`, `any` for everything, `none` for nothing. Throws on a malformed entry. `one`: the
 * text is a single entry (authorized_keys' `permitopen="host:port"`).
 */
export function parsePermitOpen(text: string, one = false): PermitOpen[] {
  return parsePermits(text, one, false);
}

/**
 * sshd's PermitListen syntax, for remote forwarding (`ssh -R`): as PermitOpen's, but an entry may be a port
 * alone (any listen address) and `*` alone is any port. A request for port 0 (any free port) is allowed only
 * by an entry whose port is `*`.
 */
export function parsePermitListen(text: string, one = false): PermitOpen[] {
  return parsePermits(text, one, true);
}

function parsePermits(text: string, one: boolean, listen: boolean): PermitOpen[] {
  const out: PermitOpen[] = [];
  const items = one ? [text] : text.split(/[\s,]+/).filter(Boolean);
  const what = listen ? 'permit-listen' : 'permit-open';
  for (const item of items) {
    if (item === 'any') out.push({ host: null, port: null });
    else if (item === 'none') continue;
    else {
      const m = listen ? /^(?:(?:\[([^\]]+)\]|([^:\s]+)):)?(\*|\d{1,5})$/.exec(item) : /^(?:\[([^\]]+)\]|([^:\s]+)):(\*|\d{1,5})$/.exec(item);
      const port = m?.[3] === '*' ? null : Number(m?.[3]);
      if (!m || (port !== null && !(port > 0 && port < 65536)))
        throw new Error(`bad ${what} entry ${JSON.stringify(item)} (expected ${listen ? '[HOST:]PORT' : 'HOST:PORT'}, * for any, or any)`);
      const host = m[1] ?? m[2] ?? '*';
      out.push({ host: host === '*' ? null : host.toLowerCase(), port });
    }
  }
  return out;
}

/** Whether a PermitOpen list lets a forward reach host:port (host names compared without case). */
export function permitOpenAllows(list: readonly PermitOpen[], host: string, port: number): boolean {
  const h = host.toLowerCase();
  return list.some((p) => (p.host === null || p.host === h) && (p.port === null || p.port === port));
}
