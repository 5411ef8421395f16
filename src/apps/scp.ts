/**
 * The other side of the old scp protocol (rcp's): `scp -t TARGET` receives files, `scp -f PATH…` sends
 * them, as OpenSSH's scp runs them with `scp -O`, older OpenSSH (before 9.0), PuTTY's `pscp -scp` and
 * other clients that still speak it. Files and directories are the demo storage's (see storagePath);
 * directories go both ways with `-r`; with `-p` the last-write time is kept both ways, of files and
 * directories (the access time is not stored).
 *
 * The protocol, from OpenSSH's scp.c: the receiving side acknowledges each control line with a zero
 * byte, or answers `\x01scp: message\n` (the sender reports it and skips that file) or `\x02…` (fatal).
 * Control lines: `C<mode> <size> <name>` then size bytes and a zero byte, `T<mtime> 0 <atime> 0` before
 * a `C` with -p, `D…`/`E` around a directory. A control line is at most 1 KiB here; a file at most 16 MiB.
 */
import { concatBytes } from '../wire/writer.ts';
import { baseName, joinPath, parentPath, storagePath, validFileName, validPath, type FileStorage } from './storage.ts';

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

/** `scp -t TARGET`: files arrive (and directories, with -r). */
async function receive(target: string, flags: Set<string>, bytes: Bytes, io: ScpIo): Promise<number> {
  const where = storagePath(target);
  const info = where === null ? null : await io.storage.stat(io.user, where);
  const intoDir = info?.dir === true;
  if (where === null || (flags.has('d') && !intoDir)) {
    await io.write(`\x02scp: ${target}: ${where === null ? 'No such file or directory' : 'Not a directory'}\n`);
    return 1;
  }
  let status = 0;
  /** The time a `T` line gave the next file or directory (scp -p). */
  let mtime: number | undefined;
  /** The directories a `D` line opened and no `E` has closed yet, innermost last, with the time for each. */
  const open: { path: string; mtime?: number }[] = [];
  /** Where an entry called `sent` goes: into the open directory, else into the target or as the target. */
  const destination = (sent: string) => (open.length ? joinPath(open.at(-1)!.path, sent) : intoDir ? joinPath(where, sent) : where);
  const refuse = async (what: string, why: string) => {
    await io.write(`\x01scp: ${what}: ${why}\n`);
    status = 1;
  };
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
      mtime = Number(t[1]) * 1000; // for the file or directory that follows
      await io.write(OK);
      continue;
    }
    if (kind === 'E') {
      if (line !== 'E' || !open.length) throw new ProtocolError(line === 'E' ? 'E without a directory' : 'bad E line');
      const dir = open.pop()!;
      if (dir.mtime !== undefined) await io.storage.setMtime(io.user, dir.path, dir.mtime);
      await io.write(OK);
      continue;
    }
    const m = /^([CD])([0-7]{4}) (\d+) (.+)$/.exec(line);
    if (!m) throw new ProtocolError(kind === 'C' || kind === 'D' ? `bad ${kind} line` : `unexpected control line ${JSON.stringify(line.slice(0, 40))}`);
    const size = Number(m[3]);
    const sent = m[4]!;
    const path = destination(sent);
    const keepTime = mtime;
    mtime = undefined;
    // A refused directory is skipped by the sender with everything in it (and no E comes for it).
    if (!validFileName(sent) || !validPath(path)) {
      await refuse(sent, 'Invalid file name');
      continue;
    }
    if (kind === 'D') {
      const st = await io.storage.stat(io.user, path);
      if (st && !st.dir) {
        await refuse(path, 'Not a directory');
        continue;
      }
      if (!st) {
        let made = false;
        try {
          made = await io.storage.mkdir(io.user, path);
        } catch (e) {
          await refuse(path, (e as Error).message);
          continue;
        }
        if (!made) {
          await refuse(path, 'No such file or directory');
          continue;
        }
      }
      open.push({ path, mtime: keepTime });
      await io.write(OK);
      continue;
    }
    if (size > SCP_LIMITS.file) {
      await refuse(path, `File too large (limit ${SCP_LIMITS.file} bytes)`);
      continue;
    }
    // Refused before the bytes come: no directory to put it in, or a directory in its place.
    if (!(await io.storage.stat(io.user, parentPath(path)))?.dir) {
      await refuse(path, 'No such file or directory');
      continue;
    }
    if ((await io.storage.stat(io.user, path))?.dir) {
      await refuse(path, 'Is a directory');
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
    try {
      await io.storage.write(io.user, path, data);
      if (keepTime !== undefined) await io.storage.setMtime(io.user, path, keepTime);
    } catch (e) {
      await refuse(path, (e as Error).message);
      continue;
    }
    await io.write(OK);
  }
}

/** `scp -f PATH…`: files leave (and directories, with -r). */
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
  const problem = async (shown: string, why: string) => {
    await io.write(`\x01scp: ${shown}: ${why}\n`);
    status = 1;
  };
  /** With -p, the T line for what is sent next; false when the receiver refused it. */
  const time = async (mtime: number) => {
    if (!flags.has('p')) return true;
    const t = Math.floor(mtime / 1000);
    await io.write(`T${t} 0 ${t} 0\n`);
    return answer();
  };
  const sendFile = async (path: string, shown: string, name: string) => {
    const info = await io.storage.stat(io.user, path);
    const data = info && !info.dir && info.size <= SCP_LIMITS.file ? await io.storage.read(io.user, path) : null;
    if (!info || !data) return problem(shown, info?.dir ? 'not a regular file' : info ? `File too large (limit ${SCP_LIMITS.file} bytes)` : 'No such file or directory');
    if (!(await time(info.mtime))) return;
    await io.write(`C0644 ${data.length} ${name}\n`);
    if (!(await answer())) return;
    await io.write(data);
    await io.write(OK);
    await answer();
  };
  /** A directory and everything in it, as D … E (scp -r). */
  const sendDir = async (path: string, name: string, mtime: number): Promise<void> => {
    if (!(await time(mtime))) return;
    await io.write(`D0755 0 ${name}\n`);
    if (!(await answer())) return; // refused: nothing inside is sent
    for (const entry of await io.storage.list(io.user, path)) {
      const inner = joinPath(path, entry);
      const st = await io.storage.stat(io.user, inner);
      if (st?.dir) await sendDir(inner, entry, st.mtime);
      else await sendFile(inner, inner, entry);
    }
    await io.write('E\n');
    await answer();
  };
  if (!(await answer())) return 1; // the receiver is ready
  for (const arg of paths) {
    const path = storagePath(arg);
    const info = path === null ? null : await io.storage.stat(io.user, path);
    if (path === null || !info) await problem(arg, 'No such file or directory');
    else if (!info.dir) await sendFile(path, arg, baseName(path));
    else if (!flags.has('r')) await problem(arg, 'not a regular file');
    else await sendDir(path, path ? baseName(path) : io.user, info.mtime);
  }
  return status;
}
