/**
 * The demo's SFTP server: protocol version 3 (draft-ietf-secsh-filexfer-02), what OpenSSH's `sftp` and
 * `scp` (which speaks SFTP since OpenSSH 9.0), paramiko and AsyncSSH use. It serves the user's files in
 * the demo storage, shown as `/` (also the home directory): files can be listed, read, written, renamed
 * and removed, directories made, listed, renamed and removed; there are no links, owners or permissions
 * to change.
 *
 * A file open for writing is gathered in memory and stored when it is closed (or when the session ends),
 * since the storage keeps whole files. Everything is bounded: a message is at most 256 KiB (as OpenSSH's
 * sftp-server), a read answers at most 64 KiB, a file grows to at most 16 MiB (the shell's limit), a
 * session holds at most 32 handles and 32 MiB of file contents. A message that cannot be framed (too long,
 * empty, or anything before INIT) ends the session with a line on stderr and exit status 1; a request that
 * cannot be parsed gets SSH_FX_BAD_MESSAGE, an unknown one SSH_FX_OP_UNSUPPORTED.
 */
import { Reader, WireError, getUint32 } from '../wire/reader.ts';
import { Writer, putUint32 } from '../wire/writer.ts';
import { canonicalPath, joinPath, parentPath, storagePath, validPath, type FileInfo, type FileStorage } from './storage.ts';

export interface SftpContext {
  user: string;
  storage: FileStorage;
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
  stderr: WritableStream<Uint8Array>;
  /**
   * Called with the server's state whenever it waits for the next request with nothing half done and no
   * file open for writing (for hibernation: Session.setResumeState).
   */
  onState?: (state: SftpState) => void;
}

/**
 * What an idle SFTP server needs to carry on: its open handles by number (a directory's read position and
 * path, '' the top; a file open for reading, whose contents are read again from storage) and the next
 * handle number. A directory saved without its path (before there were subdirectories) is the top.
 */
export interface SftpState {
  sftp: 1;
  next: number;
  handles: ([number, 'dir', number, string?] | [number, 'read', string])[];
}

/** A saved SftpState, checked field by field (it comes back from storage); null when it does not fit. */
export function parseSftpState(x: unknown): SftpState | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  if (o.sftp !== 1 || !Number.isSafeInteger(o.next) || (o.next as number) < 1 || !Array.isArray(o.handles)) return null;
  if (o.handles.length > SFTP_LIMITS.handles) return null;
  const seen = new Set<number>();
  for (const h of o.handles as unknown[]) {
    if (!Array.isArray(h) || h.length < 3 || h.length > 4 || !Number.isSafeInteger(h[0]) || h[0] < 1 || h[0] >= (o.next as number) || seen.has(h[0])) return null;
    seen.add(h[0]);
    const path = (v: unknown) => typeof v === 'string' && validPath(v);
    if (h[1] === 'dir' ? !(Number.isSafeInteger(h[2]) && h[2] >= 0 && (h.length === 3 || path(h[3]))) : h[1] !== 'read' || h.length !== 3 || !path(h[2]) || !h[2]) return null;
  }
  return { sftp: 1, next: o.next as number, handles: o.handles as SftpState['handles'] };
}

/** Message types (filexfer-02 §3). */
export const FXP = {
  INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10,
  OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, RMDIR: 15, REALPATH: 16, STAT: 17, RENAME: 18,
  READLINK: 19, SYMLINK: 20, STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Status codes (filexfer-02 §7). */
export const FX = { OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, OP_UNSUPPORTED: 8 } as const;

/** Open flags (filexfer-02 §6.3). */
export const FXF = { READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 } as const;

const ATTR_SIZE = 1;
const ATTR_UIDGID = 2;
const ATTR_PERMISSIONS = 4;
const ATTR_ACMODTIME = 8;
const ATTR_EXTENDED = 0x80000000;

export const SFTP_LIMITS = {
  /** Longest message accepted (OpenSSH's SFTP_MAX_MSG_LENGTH). */
  message: 256 * 1024,
  /**
   * Most bytes one READ answers with, and what limits@openssh.com tells clients to read and write at once.
   * 64 KiB: with 255 KiB (OpenSSH's sftp-server's), scp downloads of a 16 MiB file took 0.31–0.45 s
   * (median 0.40) against 0.27–0.35 without the extension (each reply a fresh buffer past malloc's mmap
   * threshold); with 64 KiB, 0.17–0.34 (median 0.26) against 0.20–0.45 (0.34) in alternating runs.
   */
  read: 64 * 1024,
  /** Largest file (the demo shell's `cat > NAME` limit). */
  file: 16 * 1024 * 1024,
  handles: 32,
  /** File contents held by one session's open handles together. */
  held: 32 * 1024 * 1024,
  /** Names per READDIR answer. */
  names: 100,
} as const;

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

interface FileHandle {
  kind: 'file';
  name: string;
  data: Uint8Array;
  size: number;
  /** The stored file's last write when opened (0 if new or unknown). */
  mtime: number;
  writable: boolean;
  append: boolean;
  dirty: boolean;
  /** A write went past the file size limit: like the shell's `cat > NAME`, nothing is stored at close. */
  tooLarge: boolean;
  /** A last-write time set on the open file (FSETSTAT, as `scp -p` sends before closing), applied at close. */
  setMtime?: number;
}
interface DirHandle {
  kind: 'dir';
  /** The directory's storage path ('' the top). */
  path: string;
  names: string[] | null;
  pos: number;
}

/** A request that is answered with a status (not a failure of the session). */
class Status extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const tooLarge = () => new Status(FX.FAILURE, `File too large (limit ${SFTP_LIMITS.file} bytes)`);

/** The storage path a client's path names (see storagePath); one that cannot name a file here is NO_SUCH_FILE. */
function resolvePath(path: string): string {
  const p = storagePath(path);
  if (p === null) throw new Status(FX.NO_SUCH_FILE, 'No such file');
  return p;
}

function writeAttrs(w: Writer, info: FileInfo): Writer {
  const flags = (info.dir ? 0 : ATTR_SIZE) | ATTR_PERMISSIONS | (info.mtime ? ATTR_ACMODTIME : 0);
  w.uint32(flags);
  if (!info.dir) w.uint64(BigInt(info.size));
  w.uint32(info.dir ? S_IFDIR | 0o755 : S_IFREG | 0o644);
  if (info.mtime) w.uint32(Math.floor(info.mtime / 1000)).uint32(Math.floor(info.mtime / 1000));
  return w;
}

/** What a SETSTAT asks for (an ATTRS structure); `owners` and `extended` are never possible here. */
interface SetAttrs {
  size?: number;
  permissions?: number;
  /** The modification time, ms (SFTP v3 carries seconds); the access time is not kept. */
  mtime?: number;
  owners: boolean;
  extended: boolean;
}

function readAttrs(r: Reader): SetAttrs {
  const flags = r.uint32();
  const a: SetAttrs = { owners: (flags & ATTR_UIDGID) !== 0, extended: (flags & ATTR_EXTENDED) !== 0 };
  if (flags & ATTR_SIZE) {
    const v = r.uint64();
    a.size = v > BigInt(SFTP_LIMITS.file) ? Infinity : Number(v);
  }
  if (flags & ATTR_UIDGID) r.raw(8);
  if (flags & ATTR_PERMISSIONS) a.permissions = r.uint32();
  if (flags & ATTR_ACMODTIME) {
    r.uint32(); // atime
    a.mtime = r.uint32() * 1000;
  }
  if (flags & ATTR_EXTENDED) {
    const n = r.uint32();
    for (let i = 0; i < n; i++) (r.bytes(), r.bytes());
  }
  return a;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The `ls -l` line SFTP v3 sends beside each name (OpenSSH's format; UTC). */
export function longName(name: string, info: FileInfo, user: string, now = Date.now()): string {
  const mode = info.dir ? 'drwxr-xr-x' : '-rw-r--r--';
  const size = info.dir ? 0 : info.size;
  const t = new Date(info.mtime);
  const recent = Math.abs(now - t.getTime()) < 182 * 86400_000;
  const day = `${MONTHS[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2)}`;
  const when = recent
    ? `${day} ${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')}`
    : `${day}  ${t.getUTCFullYear()}`;
  return `${mode}    1 ${user.padEnd(8)} ${user.padEnd(8)} ${String(size).padStart(8)} ${when} ${name}`;
}

/**
 * Runs the SFTP server on a session's streams until the client closes its side. Resolves to the exit status.
 * `resume`: a state it reported through onState, to carry on from (after a Durable Object hibernated).
 */
export async function runSftp(ctx: SftpContext, resume?: SftpState): Promise<number> {
  const input = ctx.stdin.getReader();
  const out = ctx.stdout.getWriter();
  const handles = new Map<number, FileHandle | DirHandle>();
  let nextHandle = 1;
  let held = 0;
  let initialized = false;
  let buf = new Uint8Array(0);
  let status = 0;

  /** A reply: its length is filled in by send(). */
  const reply = (type: number, id: number, capacity = 256) => new Writer(capacity).uint32(0).byte(type).uint32(id);
  const send = (w: Writer) => {
    const m = w.view(); // each reply has its own writer
    putUint32(m, 0, m.length - 4);
    return out.write(m);
  };
  const statusReply = (id: number, code: number, message: string) => send(reply(FXP.STATUS, id).uint32(code).string(message).string('en'));

  const fail = async (why: string) => {
    status = 1;
    const err = ctx.stderr.getWriter();
    await err.write(new TextEncoder().encode(`edgessh sftp: ${why}\n`)).catch(() => {});
    err.releaseLock();
  };

  /** The handle a request names, with its number. */
  const handleRef = (r: Reader): [number, FileHandle | DirHandle] => {
    const raw = r.bytes();
    const n = raw.length === 4 ? getUint32(raw, 0) : 0;
    const found = handles.get(n);
    if (!found) throw new Status(FX.FAILURE, 'Invalid handle');
    return [n, found];
  };
  const handleOf = (r: Reader) => handleRef(r)[1];
  /** Throws unless a file of `size` bytes may be held open next to what is held already. */
  const admit = (size: number) => {
    if (size > SFTP_LIMITS.file) throw tooLarge();
    if (held + size > SFTP_LIMITS.held) throw new Status(FX.FAILURE, 'Too much file data held open in this session');
  };
  const newHandle = (h: FileHandle | DirHandle): Uint8Array => {
    if (handles.size >= SFTP_LIMITS.handles) throw new Status(FX.FAILURE, `Too many open handles (limit ${SFTP_LIMITS.handles})`);
    const n = nextHandle++;
    handles.set(n, h);
    return new Writer().uint32(n).finish();
  };
  /** Grows a file handle's buffer to hold `size` bytes, within the file and session limits. */
  const reserve = (h: FileHandle, size: number) => {
    if (size > SFTP_LIMITS.file) {
      h.tooLarge = true;
      throw tooLarge();
    }
    if (size <= h.data.length) return;
    const cap = Math.min(SFTP_LIMITS.file, Math.max(size, h.data.length * 2, 64 * 1024));
    if (held - h.data.length + cap > SFTP_LIMITS.held) throw new Status(FX.FAILURE, 'Too much file data held open in this session');
    const next = new Uint8Array(cap);
    next.set(h.data.subarray(0, h.size));
    held += cap - h.data.length;
    h.data = next;
  };
  const release = (h: FileHandle | DirHandle) => {
    if (h.kind === 'file') held -= h.data.length;
  };
  const store = async (h: FileHandle) => {
    if (h.tooLarge) return;
    try {
      if (h.dirty) await ctx.storage.write(ctx.user, h.name, h.data.subarray(0, h.size)); // every storage copies what it keeps
      h.dirty = false;
      if (h.setMtime !== undefined) await ctx.storage.setMtime(ctx.user, h.name, h.setMtime);
      h.setMtime = undefined;
    } catch (e) {
      throw new Status(FX.FAILURE, (e as Error).message);
    }
  };
  /** What is at a storage path (the top included), or null. */
  const lookup = (path: string): Promise<FileInfo | null> => ctx.storage.stat(ctx.user, path);
  const info = async (path: string): Promise<FileInfo> => {
    const i = await lookup(path);
    if (!i) throw new Status(FX.NO_SUCH_FILE, 'No such file');
    return i;
  };
  /** Throws NO_SUCH_FILE unless the directory a new entry at `path` goes into is there. */
  const parentExists = async (path: string) => {
    if (!(await lookup(parentPath(path)))?.dir) throw new Status(FX.NO_SUCH_FILE, 'No such file');
  };
  const attrsReply = async (id: number, path: string) => send(writeAttrs(reply(FXP.ATTRS, id), await info(resolvePath(path))));

  /**
   * RENAME (v3: refused when the target exists) or posix-rename@openssh.com (a file replaces a file there).
   * Files and whole directories move; a directory never replaces anything, nor moves into itself.
   */
  const rename = async (id: number, r: Reader, replace: boolean) => {
    const from = resolvePath(r.string());
    const to = resolvePath(r.string());
    r.done();
    const src = await info(from);
    if (from === '') throw new Status(FX.PERMISSION_DENIED, 'The top directory cannot be moved');
    if (from === to) return statusReply(id, FX.OK, 'Success');
    if (to.startsWith(`${from}/`)) throw new Status(FX.FAILURE, 'Invalid argument (a directory cannot move into itself)');
    const there = await lookup(to);
    if (there?.dir) throw new Status(FX.FAILURE, 'Is a directory');
    if (there && (!replace || src.dir)) throw new Status(FX.FAILURE, 'File exists');
    await parentExists(to);
    if (!(await ctx.storage.rename(ctx.user, from, to))) throw new Status(FX.FAILURE, 'Failure (a path inside would be too deep or too long)');
    return statusReply(id, FX.OK, 'Success');
  };

  /** One request (after INIT): answers it; a Status thrown here is the answer. */
  const request = async (type: number, id: number, r: Reader): Promise<void> => {
    switch (type) {
      case FXP.OPEN: {
        const path = r.string();
        const flags = r.uint32();
        readAttrs(r);
        r.done();
        const p = resolvePath(path);
        if (!(flags & (FXF.READ | FXF.WRITE))) throw new Status(FX.BAD_MESSAGE, 'Open for neither reading nor writing');
        const writable = (flags & FXF.WRITE) !== 0;
        const st = await lookup(p);
        if (st?.dir) throw new Status(FX.FAILURE, 'Is a directory');
        if (writable && st && flags & FXF.CREAT && flags & FXF.EXCL) throw new Status(FX.FAILURE, 'File exists');
        if (!st && !(writable && flags & FXF.CREAT)) throw new Status(FX.NO_SUCH_FILE, 'No such file');
        if (!st) await parentExists(p);
        const keep = st !== null && !(writable && flags & FXF.TRUNC);
        // Checked before reading (a file put in a storage folder by other means may be larger) and after
        // (it may have changed in between).
        if (keep) admit(st.size);
        const data = keep ? ((await ctx.storage.read(ctx.user, p)) ?? new Uint8Array(0)) : new Uint8Array(0);
        admit(data.length);
        const mtime = keep ? st.mtime : 0;
        const h: FileHandle = { kind: 'file', name: p, data, size: data.length, mtime, writable, append: (flags & FXF.APPEND) !== 0, dirty: writable && !keep, tooLarge: false };
        const handle = newHandle(h);
        held += data.length;
        return send(reply(FXP.HANDLE, id).bytes(handle));
      }
      case FXP.CLOSE: {
        const [n, h] = handleRef(r);
        r.done();
        handles.delete(n);
        release(h);
        if (h.kind === 'file' && h.tooLarge) throw new Status(FX.FAILURE, `${tooLarge().message}: nothing was stored`);
        if (h.kind === 'file') await store(h);
        return statusReply(id, FX.OK, 'Success');
      }
      case FXP.READ: {
        const h = handleOf(r);
        const offset = r.uint64();
        const len = r.uint32();
        r.done();
        if (h.kind !== 'file') throw new Status(FX.FAILURE, 'Is a directory');
        if (offset >= BigInt(h.size)) return statusReply(id, FX.EOF, 'End of file');
        const at = Number(offset);
        const n = Math.min(len, SFTP_LIMITS.read, h.size - at);
        return send(reply(FXP.DATA, id, n + 16).bytes(h.data.subarray(at, at + n)));
      }
      case FXP.WRITE: {
        const h = handleOf(r);
        const offset = r.uint64();
        const data = r.bytes();
        r.done();
        if (h.kind !== 'file') throw new Status(FX.FAILURE, 'Is a directory');
        if (!h.writable) throw new Status(FX.PERMISSION_DENIED, 'File not open for writing');
        const at = h.append ? h.size : offset > BigInt(SFTP_LIMITS.file) ? Infinity : Number(offset);
        reserve(h, at + data.length);
        if (at > h.size) h.data.fill(0, h.size, at); // a hole reads as zeros
        h.data.set(data, at);
        h.size = Math.max(h.size, at + data.length);
        h.dirty = true;
        return statusReply(id, FX.OK, 'Success');
      }
      case FXP.LSTAT:
      case FXP.STAT: {
        const path = r.string();
        if (type === FXP.STAT && r.remaining) r.uint32(); // v4+ clients add attribute flags; tolerated
        r.done();
        return attrsReply(id, path);
      }
      case FXP.FSTAT: {
        const h = handleOf(r);
        r.done();
        const i: FileInfo = h.kind === 'dir' ? await info(h.path) : { size: h.size, mtime: h.setMtime ?? (h.dirty ? 0 : h.mtime) };
        return send(writeAttrs(reply(FXP.ATTRS, id), i));
      }
      case FXP.SETSTAT:
      case FXP.FSETSTAT: {
        const handle = type === FXP.FSETSTAT ? handleOf(r) : null;
        const path = handle ? null : resolvePath(r.string());
        const a = readAttrs(r);
        r.done();
        // Everything is checked before anything changes: a request is done whole or not at all.
        if (a.owners || a.extended) throw new Status(FX.OP_UNSUPPORTED, 'Owners cannot be changed here');
        const target = handle?.kind === 'dir' ? handle.path : path;
        const isDir = target !== null && (await info(target)).dir === true;
        // The one mode each kind has here may be "set" (scp -p sends the source's mode); any other may not.
        if (a.permissions !== undefined && (a.permissions & 0o7777) !== (isDir ? 0o755 : 0o644))
          throw new Status(FX.OP_UNSUPPORTED, `Permissions cannot be changed here (files are always rw-r--r--, directories rwxr-xr-x)`);
        if (isDir) {
          if (a.size !== undefined) throw new Status(FX.FAILURE, 'Is a directory');
          if (a.mtime !== undefined) {
            if (target === '') throw new Status(FX.OP_UNSUPPORTED, 'The top directory\'s time cannot be changed here');
            if (!(await ctx.storage.setMtime(ctx.user, target!, a.mtime))) throw new Status(FX.NO_SUCH_FILE, 'No such file');
          }
          return statusReply(id, FX.OK, 'Success');
        }
        if (handle?.kind === 'file') {
          if (a.size !== undefined) {
            if (!handle.writable) throw new Status(FX.PERMISSION_DENIED, 'File not open for writing');
            reserve(handle, a.size);
            if (a.size > handle.size) handle.data.fill(0, handle.size, a.size);
            handle.size = a.size;
            handle.dirty = true;
          }
          // On a file open for writing the time waits for its contents (stored at close, after which the
          // storage would stamp its own time); on one only read, it is set at once.
          if (a.mtime !== undefined && handle.writable) handle.setMtime = a.mtime;
          else if (a.mtime !== undefined) {
            if (!(await ctx.storage.setMtime(ctx.user, handle.name, a.mtime))) throw new Status(FX.NO_SUCH_FILE, 'No such file');
            handle.mtime = a.mtime;
          }
          return statusReply(id, FX.OK, 'Success');
        }
        const name = path!;
        if (a.size !== undefined) {
          if (a.size > SFTP_LIMITS.file) throw tooLarge();
          const data = await ctx.storage.read(ctx.user, name);
          if (!data) throw new Status(FX.NO_SUCH_FILE, 'No such file');
          const next = new Uint8Array(a.size);
          next.set(data.subarray(0, a.size));
          await ctx.storage.write(ctx.user, name, next);
        }
        if (a.mtime !== undefined) await ctx.storage.setMtime(ctx.user, name, a.mtime);
        return statusReply(id, FX.OK, 'Success');
      }
      case FXP.OPENDIR: {
        const path = r.string();
        r.done();
        const p = resolvePath(path);
        if (!(await info(p)).dir) throw new Status(FX.FAILURE, 'Not a directory');
        return send(reply(FXP.HANDLE, id).bytes(newHandle({ kind: 'dir', path: p, names: null, pos: 0 })));
      }
      case FXP.READDIR: {
        const h = handleOf(r);
        r.done();
        if (h.kind !== 'dir') throw new Status(FX.FAILURE, 'Not a directory');
        h.names ??= ['.', '..', ...(await ctx.storage.list(ctx.user, h.path))];
        if (h.pos >= h.names.length) return statusReply(id, FX.EOF, 'End of directory');
        const batch = h.names.slice(h.pos, h.pos + SFTP_LIMITS.names);
        h.pos += batch.length;
        const entries: [string, FileInfo][] = [];
        for (const name of batch) {
          const i = name === '.' ? await lookup(h.path) : name === '..' ? await lookup(parentPath(h.path)) : await lookup(joinPath(h.path, name));
          if (i) entries.push([name, i]); // else removed since the listing
        }
        const w = reply(FXP.NAME, id).uint32(entries.length);
        for (const [name, i] of entries) writeAttrs(w.string(name).string(longName(name, i, ctx.user)), i);
        return send(w);
      }
      case FXP.REMOVE: {
        const p = resolvePath(r.string());
        r.done();
        if ((await info(p)).dir) throw new Status(FX.FAILURE, 'Is a directory');
        if (!(await ctx.storage.remove(ctx.user, p))) throw new Status(FX.NO_SUCH_FILE, 'No such file');
        return statusReply(id, FX.OK, 'Success');
      }
      case FXP.RENAME:
        return rename(id, r, false);
      case FXP.EXTENDED: {
        const name = r.string();
        if (name === 'posix-rename@openssh.com') return rename(id, r, true);
        if (name === 'statvfs@openssh.com') {
          // `df` in OpenSSH's sftp: the user's quota as a file system of 1 KiB blocks (and files as inodes).
          r.string(); // the path: every path has the same quota
          r.done();
          const u = await ctx.storage.usage?.(ctx.user);
          if (!u) throw new Status(FX.OP_UNSUPPORTED, 'This storage does not know its size');
          const block = 1024;
          const blocks = Math.ceil(u.bytesLimit / block);
          const free = Math.max(0, blocks - Math.ceil(u.bytes / block));
          const freeFiles = Math.max(0, u.entriesLimit - u.entries);
          const w = reply(FXP.EXTENDED_REPLY, id, 128).uint64(BigInt(block)).uint64(BigInt(block));
          for (const v of [blocks, free, free, u.entriesLimit, freeFiles, freeFiles, 0, 0, 255]) w.uint64(BigInt(v));
          return send(w);
        }
        if (name === 'limits@openssh.com') {
          r.done();
          const l = SFTP_LIMITS;
          return send(reply(FXP.EXTENDED_REPLY, id).uint64(BigInt(l.message)).uint64(BigInt(l.read)).uint64(BigInt(l.read)).uint64(BigInt(l.handles)));
        }
        throw new Status(FX.OP_UNSUPPORTED, `Unsupported extension ${name}`);
      }
      case FXP.REALPATH: {
        const path = r.string();
        r.done();
        const c = canonicalPath(path);
        return send(reply(FXP.NAME, id).uint32(1).string(c).string(c).uint32(0));
      }
      case FXP.MKDIR: {
        const p = resolvePath(r.string());
        const a = readAttrs(r); // the mode asked for: directories here are always rwxr-xr-x
        r.done();
        if (a.owners || a.extended) throw new Status(FX.OP_UNSUPPORTED, 'Owners cannot be changed here');
        if (await lookup(p)) throw new Status(FX.FAILURE, 'File exists');
        await parentExists(p);
        if (!(await ctx.storage.mkdir(ctx.user, p))) throw new Status(FX.FAILURE, 'Failure');
        return statusReply(id, FX.OK, 'Success');
      }
      case FXP.RMDIR: {
        const p = resolvePath(r.string());
        r.done();
        if (p === '') throw new Status(FX.PERMISSION_DENIED, 'The top directory cannot be removed');
        if (!(await info(p)).dir) throw new Status(FX.FAILURE, 'Not a directory');
        if (!(await ctx.storage.rmdir(ctx.user, p))) throw new Status(FX.FAILURE, 'Directory not empty');
        return statusReply(id, FX.OK, 'Success');
      }
      case FXP.READLINK:
      case FXP.SYMLINK:
        throw new Status(FX.OP_UNSUPPORTED, 'The demo storage has no links');
      default:
        throw new Status(FX.OP_UNSUPPORTED, `Unsupported request ${type}`);
    }
  };

  /** One framed message; false when the session must end. */
  const message = async (m: Uint8Array): Promise<boolean> => {
    const r = new Reader(m);
    const type = r.byte();
    if (!initialized) {
      if (type !== FXP.INIT || m.length < 5) return (await fail(`expected SSH_FXP_INIT, got message ${type}`), false);
      initialized = true;
      // Version 3 whatever the client offers (every client here speaks it), and OpenSSH's extensions: a
      // rename that replaces, the limits (so its client sends larger requests), and statvfs (its `df`)
      // where the storage knows the user's quota.
      const w = new Writer().uint32(0).byte(FXP.VERSION).uint32(3).string('posix-rename@openssh.com').string('1').string('limits@openssh.com').string('1');
      if (ctx.storage.usage) w.string('statvfs@openssh.com').string('2');
      await send(w);
      return true;
    }
    if (type === FXP.INIT) return (await fail('a second SSH_FXP_INIT'), false);
    if (m.length < 5) return (await fail(`message ${type} has no request id`), false);
    const id = r.uint32();
    try {
      await request(type, id, r);
    } catch (e) {
      if (e instanceof Status) await statusReply(id, e.code, e.message);
      else if (e instanceof WireError) await statusReply(id, FX.BAD_MESSAGE, `Malformed request: ${e.message}`);
      else await statusReply(id, FX.FAILURE, (e as Error).message || 'Failure');
    }
    return true;
  };

  /** Handles as plain data, when the server could be carried on from them (no file open for writing). */
  const snapshot = (): SftpState | null => {
    const saved: SftpState['handles'] = [];
    for (const [n, h] of handles) {
      if (h.kind === 'dir') saved.push(h.path ? [n, 'dir', h.pos, h.path] : [n, 'dir', h.pos]);
      else if (h.writable) return null;
      else saved.push([n, 'read', h.name]);
    }
    return { sftp: 1, next: nextHandle, handles: saved };
  };

  try {
    if (resume) {
      // Carried on after a hibernation: the handles come back, files open for reading read again.
      initialized = true;
      nextHandle = resume.next;
      for (const [n, kind, arg, dir] of resume.handles) {
        if (kind === 'dir') handles.set(n, { kind: 'dir', path: dir ?? '', names: null, pos: arg });
        else {
          const st = await ctx.storage.stat(ctx.user, arg);
          const data = st && st.size <= SFTP_LIMITS.file ? ((await ctx.storage.read(ctx.user, arg)) ?? new Uint8Array(0)) : new Uint8Array(0);
          held += data.length;
          handles.set(n, { kind: 'file', name: arg, data, size: data.length, mtime: st?.mtime ?? 0, writable: false, append: false, dirty: false, tooLarge: false });
        }
      }
    }
    for (;;) {
      // Frame: uint32 length, then that many bytes.
      while (buf.length >= 4) {
        const len = getUint32(buf, 0);
        if (len === 0 || len > SFTP_LIMITS.message) {
          await fail(len === 0 ? 'an empty message' : `a message of ${len} bytes (limit ${SFTP_LIMITS.message})`);
          return status;
        }
        if (buf.length < 4 + len) break;
        const m = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (!(await message(m))) return status;
      }
      if (!buf.length && initialized && ctx.onState) {
        const state = snapshot();
        if (state) ctx.onState(state);
      }
      const { value, done } = await input.read();
      if (done) break;
      if (!value?.length) continue;
      if (buf.length) {
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf);
        joined.set(value, buf.length);
        buf = joined;
      } else buf = value;
    }
    if (buf.length) await fail(`the input ended inside a message (${buf.length} bytes left)`);
    return status;
  } finally {
    // A file still open for writing when the client goes keeps what was written, as on a disk.
    for (const h of handles.values()) if (h.kind === 'file') await store(h).catch(() => {});
    handles.clear();
    input.releaseLock();
    await out.close().catch(() => {});
  }
}
