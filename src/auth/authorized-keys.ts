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
  permitOpen?: string[];
  noAgentForwarding?: boolean;
  noX11Forwarding?: boolean;
  noUserRc?: boolean;
  pty?: boolean;
  other: Record<string, string | true>;
}

const KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+|ssh-dss)$/;

/** Parses a file; bad lines are skipped and reported through `onError` (sshd logs and skips them too). */
export function parseAuthorizedKeys(text: string, onError?: (line: number, why: string) => void): AuthorizedKey[] {
  const out: AuthorizedKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    try {
      out.push(parseAuthorizedKeyLine(line));
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
        o.from = value ?? '';
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
        (o.permitOpen ??= []).push(value ?? '');
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
        o.other[name] = value ?? true;
    }
  }
  return o;
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

/** Finds the entry for a key, comparing blobs. */
export function findAuthorizedKey(keys: readonly AuthorizedKey[], key: PublicKey): AuthorizedKey | undefined {
  return keys.find((k) => equalConstantTime(k.key.blob, key.blob));
}
