/** Identification string exchange (RFC 4253 §4.2). */
import { DISCONNECT, SshError } from '../wire/messages.ts';

export const EDGESSH_VERSION = '0.1.0';
export const SOFTWARE_VERSION = `edgessh_${EDGESSH_VERSION}`;

/** RFC 4253 §4.2: at most 255 characters including CR LF. */
export const MAX_VERSION_LINE = 255;
/** Lines a server may send before its identification (a client accepts them, bounded). */
export const MAX_PRE_VERSION_BYTES = 8192;

export interface VersionLine {
  /** The line as hashed into the exchange hash: byte-exact, without CR LF. */
  raw: Uint8Array;
  text: string;
  protoVersion: string;
  softwareVersion: string;
  comments: string;
}

/**
 * Scans buffered bytes for the peer's identification line. Returns the line and the bytes consumed,
 * or null when more input is needed. `allowPreLines`: a client accepts other lines before the version
 * (RFC 4253 §4.2); a server does not, as OpenSSH's sshd does not.
 */
export function parseVersionExchange(
  buf: Uint8Array,
  allowPreLines: boolean,
): { line: VersionLine; consumed: number } | null {
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) {
      const pending = buf.length - start;
      const startsSsh = startsWithSsh(buf, start);
      if (startsSsh && pending > MAX_VERSION_LINE)
        throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'identification string is longer than 255 bytes');
      if (!allowPreLines && pending >= 4 && !startsSsh)
        throw new SshError(DISCONNECT.PROTOCOL_VERSION_NOT_SUPPORTED, 'invalid SSH identification string');
      if (buf.length > MAX_PRE_VERSION_BYTES)
        throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'no identification string in the first 8192 bytes');
      return null;
    }
    let end = nl;
    if (end > start && buf[end - 1] === 0x0d) end--;
    if (startsWithSsh(buf, start)) {
      if (nl + 1 - start > MAX_VERSION_LINE)
        throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'identification string is longer than 255 bytes');
      const raw = buf.slice(start, end);
      for (const c of raw)
        if (c < 0x20 || c > 0x7e)
          throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'identification string has a non-printable character');
      const text = String.fromCharCode(...raw);
      const m = /^SSH-([^-]+)-([^ ]+)(?: (.*))?$/.exec(text);
      if (!m) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'malformed identification string');
      const protoVersion = m[1]!;
      if (protoVersion !== '2.0' && protoVersion !== '1.99')
        throw new SshError(
          DISCONNECT.PROTOCOL_VERSION_NOT_SUPPORTED,
          `protocol version ${protoVersion} is not supported (only 2.0)`,
        );
      return { line: { raw, text, protoVersion, softwareVersion: m[2]!, comments: m[3] ?? '' }, consumed: nl + 1 };
    }
    if (!allowPreLines) throw new SshError(DISCONNECT.PROTOCOL_VERSION_NOT_SUPPORTED, 'invalid SSH identification string');
    start = nl + 1;
    if (start > MAX_PRE_VERSION_BYTES)
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'no identification string in the first 8192 bytes');
  }
}

function startsWithSsh(buf: Uint8Array, at: number): boolean {
  const n = Math.min(4, buf.length - at);
  const ssh = [0x53, 0x53, 0x48, 0x2d];
  for (let i = 0; i < n; i++) if (buf[at + i] !== ssh[i]) return false;
  return true;
}
