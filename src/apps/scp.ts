/**
 * The other side of the old scp protocol (rcp's): `scp -t TARGET` receives files, `scp -f PATH…` sends
 * them, as OpenSSH's scp runs them with `scp -O`, older OpenSSH (before 9.0), PuTTY's `pscp -scp` and
 * other clients that still speak it. Files are the demo storage's (one flat directory, see
 * resolveStoragePath); directories (`-r`) are refused; with `-p` the last-write time is kept both ways
 * (the access time is not stored).
 *
 * The protocol, from OpenSSH's scp.c: the receiving side acknowledges each control line with a zero
 * byte, or answers `\x01scp: message\n` (the sender reports it and skips that file) or `\x02…` (fatal).
 * Control lines: `C<mode> <size> <name>` then size bytes and a zero byte, `T<mtime> 0 <atime> 0` before
 * a `C` with -p, `D…`/`E` around a directory. A control line is at most 1 KiB here; a file at most 16 MiB.
 */
import { concatBytes } from '../wire/writer.ts';
import { resolveStoragePath, validFileName, type FileStorage } from './storage.ts';

export interface ScpIo {
  user: string;
  storage: FileStorage;
  /** The next piece of standard input, or null at its end. */
  read(): Promise<Uint8Array | null>;
  /** Puts bytes read too far back in front of standard input. */
  unread(b: Uint8Array): void;
  /** Standard output: the protocol itself. */
  write(b: Uint8Array | string): Promise<void>;
  /** Standard error: one line, for the person. */
  error(line: string): Promise<void>;
}

export const SCP_LIMITS = { line: 1024, file: 16 * 1024 * 1024 } as const;

const dec = new TextDecoder();

/** The peer broke the protocol: the message goes to it as a fatal error, and scp exits 1. */
class ProtocolError extends Error {}

/** Reads control lines and exact byte counts from standard input; bytes read too far go back (io.unread). */
class Bytes {
  constructor(private readonly io: ScpIo) {}
  /** A line without its LF, or null at the end of input before any byte of one. */
  async line(): Promise<string | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const b = await this.io.read();
      if (!b) {
        if (size === 0) return null;
        throw new ProtocolError('input ended inside a control line');
      }
      const nl = b.indexOf(0x0a);
      const take = nl < 0 ? b : b.subarray(0, nl);
      size += take.length;
      if (size > SCP_LIMITS.line) throw new ProtocolError(`a control line longer than ${SCP_LIMITS.line} bytes`);
      parts.push(take);
      if (nl >= 0) {
        if (nl + 1 < b.length) this.io.unread(b.subarray(nl + 1));
        return dec.decode(concatBytes(...parts));
      }
    }
  }
  /** Exactly into.length bytes, into `into`. */
  async exactly(into: Uint8Array): Promise<void> {
    for (let got = 0; got < into.length; ) {
      const b = await this.io.read();
      if (!b) throw new ProtocolError('input ended inside a file');
      const take = Math.min(b.length, into.length - got);
      into.set(b.subarray(0, take), got);
      got += take;
      if (take < b.length) this.io.unread(b.subarray(take));
    }
  }
  async byte(): Promise<number | null> {
    for (;;) {
      const b = await this.io.read();
      if (!b) return null;
      if (!b.length) continue;
      if (b.length > 1) this.io.unread(b.subarray(1));
      return b[0]!;
    }
  }
}

const OK = new Uint8Array([0]);

/** `scp ARGS` as the remote end of an scp client: resolves to the exit status. */
export async function runScp(args: string[], io: ScpIo): Promise<number> {
  const flags = new Set<string>();
  const operands: string[] = [];
  let endOfFlags = false;
  for (const a of args) {
    if (!endOfFlags && a === '--') endOfFlags = true;
    else if (!endOfFlags && /^-[a-zA-Z]+$/.test(a)) for (const f of a.slice(1)) flags.add(f);
    else operands.push(a);
  }
  const sink = flags.has('t');
  const source = flags.has('f');
  if (sink === source || (sink && operands.length !== 1) || (source && operands.length === 0)) {
    await io.error('scp: this is the remote end of scp: it runs as `scp -t TARGET` or `scp -f PATH...`');
    return 1;
  }
  const bytes = new Bytes(io);
  try {
    return sink ? await receive(operands[0]!, flags, bytes, io) : await send(operands, flags, bytes, io);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    await io.write(`\x02scp: protocol error: ${e.message}\n`).catch(() => {});
    await io.error(`scp: protocol error: ${e.message}`);
    return 1;
  }
}

/** `scp -t TARGET`: files arrive. */
async function receive(target: string, flags: Set<string>, bytes: Bytes, io: ScpIo): Promise<number> {
  const where = resolveStoragePath(target);
  const intoDir = where?.root === true;
  if (!where || (flags.has('d') && !intoDir)) {
    await io.write(`\x02scp: ${target}: ${where ? 'Not a directory' : 'No such file or directory'}\n`);
    return 1;
  }
  let status = 0;
  /** The time a `T` line gave the next file (scp -p). */
  let mtime: number | undefined;
  await io.write(OK);
  for (;;) {
    const line = await bytes.line();
    if (line === null) return status;
    const kind = line[0];
    if (kind === '\x01' || kind === '\x02') {
      // The sender's own error (a file it could not read): it is shown there; a fatal one ends the copy.
      if (kind === '\x02') return 1;
      status = 1;
      continue;
    }
    if (kind === 'T') {
      const t = /^T(\d+) \d+ \d+ \d+$/.exec(line);
      if (!t) throw new ProtocolError('bad T line');
      mtime = Number(t[1]) * 1000; // for the file that follows
      await io.write(OK);
      continue;
    }
    if (kind === 'D') {
      // A directory (scp -r): refused, so the sender skips it and everything in it (and sends no E).
      await io.write(`\x01scp: ${line.split(' ').slice(2).join(' ')}: directories are not supported here\n`);
      status = 1;
      continue;
    }
    if (kind !== 'C') throw new ProtocolError(`unexpected control line ${JSON.stringify(line.slice(0, 40))}`);
    const m = /^C([0-7]{4}) (\d+) (.+)$/.exec(line);
    if (!m) throw new ProtocolError('bad C line');
    const size = Number(m[2]);
    const sent = m[3]!;
    const name = intoDir ? sent : (where as { name: string }).name;
    if (!validFileName(sent) || !validFileName(name)) {
      await io.write(`\x01scp: ${sent}: Invalid file name\n`);
      status = 1;
      continue;
    }
    if (size > SCP_LIMITS.file) {
      await io.write(`\x01scp: ${name}: File too large (limit ${SCP_LIMITS.file} bytes)\n`);
      status = 1;
      continue;
    }
    await io.write(OK);
    const data = new Uint8Array(size);
    await bytes.exactly(data);
    const end = await bytes.byte();
    if (end === null) throw new ProtocolError('input ended after a file');
    if (end !== 0) {
      // The sender could not read the whole file: it says so itself; the part received is not kept.
      status = 1;
      continue;
    }
    const keepTime = mtime;
    mtime = undefined;
    try {
      await io.storage.write(io.user, name, data);
      if (keepTime !== undefined) await io.storage.setMtime(io.user, name, keepTime);
    } catch (e) {
      await io.write(`\x01scp: ${name}: ${(e as Error).message}\n`);
      status = 1;
      continue;
    }
    await io.write(OK);
  }
}

/** `scp -f PATH…`: files leave. */
async function send(paths: string[], flags: Set<string>, bytes: Bytes, io: ScpIo): Promise<number> {
  let status = 0;
  /** The receiver's answer to what was sent: true for go on, false when it refused (it said why). */
  const answer = async (): Promise<boolean> => {
    const b = await bytes.byte();
    if (b === 0) return true;
    if (b === 1 || b === 2) {
      const why = await bytes.line();
      await io.error(why ?? 'scp: the receiver failed');
      if (b === 2) throw new ProtocolError('the receiver gave up');
      status = 1;
      return false;
    }
    throw new ProtocolError(b === null ? 'input ended' : `unexpected answer byte ${b}`);
  };
  if (!(await answer())) return 1; // the receiver is ready
  for (const path of paths) {
    const where = resolveStoragePath(path);
    const problem = !where ? 'No such file or directory' : where.root ? 'not a regular file' : null;
    const name = where && !where.root ? where.name : '';
    const info = problem ? null : await io.storage.stat(io.user, name);
    const data = info && info.size <= SCP_LIMITS.file ? await io.storage.read(io.user, name) : null;
    if (problem || !data) {
      const why = problem ?? (info ? `File too large (limit ${SCP_LIMITS.file} bytes)` : 'No such file or directory');
      await io.write(`\x01scp: ${path}: ${why}\n`);
      status = 1;
      continue;
    }
    if (flags.has('p')) {
      const t = Math.floor((info?.mtime ?? 0) / 1000);
      await io.write(`T${t} 0 ${t} 0\n`);
      if (!(await answer())) continue;
    }
    await io.write(`C0644 ${data.length} ${name}\n`);
    if (!(await answer())) continue;
    await io.write(data);
    await io.write(OK);
    await answer();
  }
  return status;
}
