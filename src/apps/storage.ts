/**
 * Per-user files for the demo shell, SFTP and scp, behind a small interface: memory, a Node folder, or
 * Durable Object storage. A path names a file or directory below the user's top directory: its components
 * joined by '/', '' for the top itself (see storagePath).
 */
export interface FileStorage {
  /** The names directly inside directory `dir` (default the top), sorted; [] when there is no such directory. */
  list(user: string, dir?: string): Promise<string[]>;
  read(user: string, path: string): Promise<Uint8Array | null>;
  /**
   * Stores a copy of `data` (the caller may reuse its memory once this resolves). Throws when the parent is
   * not a directory or `path` is one.
   */
  write(user: string, path: string, data: Uint8Array): Promise<void>;
  /** Removes a file; false when there is no file at `path` (a directory is not removed). */
  remove(user: string, path: string): Promise<boolean>;
  /**
   * A file's or directory's size and last write (ms since the epoch; 0 when the storage does not know), or
   * null. The top ('') is always there: TOP_DIR.
   */
  stat(user: string, path: string): Promise<FileInfo | null>;
  /** Sets a file's or directory's last-write time (`scp -p`, SFTP's SETSTAT); false when there is none. */
  setMtime(user: string, path: string, mtime: number): Promise<boolean>;
  /** Makes a directory; false when something is at `path` already or its parent is not a directory. */
  mkdir(user: string, path: string): Promise<boolean>;
  /** Removes an empty directory; false when `path` is not one. */
  rmdir(user: string, path: string): Promise<boolean>;
  /**
   * Moves a file or a directory with all inside it to `to`, whose parent must be a directory. A file
   * replaces a file at `to`; nothing replaces a directory, and a directory replaces nothing. False when
   * it cannot be done (nothing at `from`, `to` inside `from`, a path inside getting too deep or long).
   */
  rename(user: string, from: string, to: string): Promise<boolean>;
  /** How much of their quota a user has used (SFTP's statvfs@openssh.com, `df` in sftp); absent: not known. */
  usage?(user: string): Promise<StorageUsage>;
}

/** A user's files and directories and their bytes, against the limits (0 for none). */
export interface StorageUsage {
  bytes: number;
  bytesLimit: number;
  entries: number;
  entriesLimit: number;
}

export interface FileInfo {
  size: number;
  mtime: number;
  /** A directory (size 0). */
  dir?: boolean;
}

/** What every storage's stat says of a user's top directory (''), which it keeps no record of. */
export const TOP_DIR: FileInfo = Object.freeze({ size: 0, mtime: 0, dir: true });

/** How deep paths go and how long they are, in every storage (a Durable Object key is at most 2 KiB). */
export const MAX_PATH_DEPTH = 16;
export const MAX_PATH_BYTES = 1024;

/** A file name must be one path component: no '/', no NUL, not '.' or '..', at most 255 bytes. */
export function validFileName(name: string): boolean {
  return (
    name.length > 0 &&
    new TextEncoder().encode(name).length <= 255 &&
    !name.includes('/') &&
    !name.includes('\0') &&
    name !== '.' &&
    name !== '..'
  );
}

/** A path's components after `.` and `..` (which stops at the root: a path never leaves it). */
function pathParts(path: string): string[] {
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts;
}

/** The path as SFTP's REALPATH gives it: absolute, `.` and `..` taken out. */
export function canonicalPath(path: string): string {
  return '/' + pathParts(path).join('/');
}

/**
 * The storage path a client's path names (see FileStorage): relative paths start at the top, `..` stops
 * there. Null for a name no file can have, or a path deeper or longer than the limits.
 */
export function storagePath(path: string): string | null {
  const parts = pathParts(path);
  if (parts.length > MAX_PATH_DEPTH || !parts.every(validFileName)) return null;
  const p = parts.join('/');
  return new TextEncoder().encode(p).length <= MAX_PATH_BYTES ? p : null;
}

/** The directory a storage path is in ('' for the top). */
export const parentPath = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')));
/** A storage path's last component. */
export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
/** `name` inside directory `dir` (both storage paths). */
export const joinPath = (dir: string, name: string): string => (dir ? `${dir}/${name}` : name);

/** Whether a storage path is well formed: what storagePath gives back for it. */
export function validPath(path: string): boolean {
  return path === '' || storagePath(path) === path;
}

interface MemoryUser {
  files: Map<string, { data: Uint8Array; mtime: number }>;
  /** Directories below the top, with their last-write times. */
  dirs: Map<string, number>;
}

/** What one user may keep in a MemoryStorage unless told otherwise: the Worker's limits. */
export const MEMORY_LIMITS = { entries: 1000, bytes: 256 * 1024 * 1024 } as const;

/**
 * Files in memory (`edgessh serve` without --data, tests). Each user may keep at most `entries` files and
 * directories and `bytes` of file contents (default MEMORY_LIMITS), so a logged-in client cannot grow the
 * server's memory without bound; past them a write throws `Disk quota exceeded` or `too many files`.
 */
export class MemoryStorage implements FileStorage {
  private users = new Map<string, MemoryUser & { bytes: number }>();
  constructor(private readonly limits: { entries: number; bytes: number } = MEMORY_LIMITS) {}
  private of(user: string): MemoryUser & { bytes: number } {
    let u = this.users.get(user);
    if (!u) this.users.set(user, (u = { files: new Map(), dirs: new Map(), bytes: 0 }));
    return u;
  }
  async usage(user: string): Promise<StorageUsage> {
    const u = this.of(user);
    return { bytes: u.bytes, bytesLimit: this.limits.bytes, entries: u.files.size + u.dirs.size, entriesLimit: this.limits.entries };
  }
  private full(u: MemoryUser): boolean {
    return u.files.size + u.dirs.size >= this.limits.entries;
  }
  private isDir(u: MemoryUser, path: string): boolean {
    return path === '' || u.dirs.has(path);
  }
  async list(user: string, dir = ''): Promise<string[]> {
    const u = this.of(user);
    if (!this.isDir(u, dir)) return [];
    const names: string[] = [];
    for (const p of [...u.files.keys(), ...u.dirs.keys()]) if (parentPath(p) === dir) names.push(baseName(p));
    return names.sort();
  }
  async read(user: string, path: string): Promise<Uint8Array | null> {
    return this.of(user).files.get(path)?.data.slice() ?? null;
  }
  async write(user: string, path: string, data: Uint8Array): Promise<void> {
    if (!validPath(path) || path === '') throw new Error(`invalid file name ${JSON.stringify(path)}`);
    const u = this.of(user);
    if (!this.isDir(u, parentPath(path))) throw new Error('No such directory');
    if (u.dirs.has(path)) throw new Error('Is a directory');
    const old = u.files.get(path);
    if (!old && this.full(u)) throw new Error(`too many files (limit ${this.limits.entries})`);
    const bytes = u.bytes - (old?.data.length ?? 0) + data.length;
    if (bytes > this.limits.bytes) throw new Error(`Disk quota exceeded (${this.limits.bytes / 1024 / 1024} MiB per user)`);
    u.files.set(path, { data: data.slice(), mtime: Date.now() });
    u.bytes = bytes;
  }
  async stat(user: string, path: string): Promise<FileInfo | null> {
    if (path === '') return TOP_DIR;
    const u = this.of(user);
    const f = u.files.get(path);
    if (f) return { size: f.data.length, mtime: f.mtime };
    return u.dirs.has(path) ? { size: 0, mtime: u.dirs.get(path)!, dir: true } : null;
  }
  async setMtime(user: string, path: string, mtime: number): Promise<boolean> {
    const u = this.of(user);
    const f = u.files.get(path);
    if (f) f.mtime = mtime;
    else if (u.dirs.has(path)) u.dirs.set(path, mtime);
    else return false;
    return true;
  }
  async remove(user: string, path: string): Promise<boolean> {
    const u = this.of(user);
    const f = u.files.get(path);
    if (f) u.bytes -= f.data.length;
    return u.files.delete(path);
  }
  async mkdir(user: string, path: string): Promise<boolean> {
    const u = this.of(user);
    if (!validPath(path) || this.isDir(u, path) || u.files.has(path) || !this.isDir(u, parentPath(path))) return false;
    if (this.full(u)) throw new Error(`too many files (limit ${this.limits.entries})`);
    u.dirs.set(path, Date.now());
    return true;
  }
  async rmdir(user: string, path: string): Promise<boolean> {
    const u = this.of(user);
    if (!u.dirs.has(path) || (await this.list(user, path)).length) return false;
    return u.dirs.delete(path);
  }
  async rename(user: string, from: string, to: string): Promise<boolean> {
    const u = this.of(user);
    if (!from || !to || !validPath(from) || !validPath(to) || to.startsWith(`${from}/`)) return false;
    const file = u.files.get(from);
    if (!file && !u.dirs.has(from)) return false;
    if (from === to) return true;
    if (!this.isDir(u, parentPath(to)) || u.dirs.has(to) || (!file && u.files.has(to))) return false;
    if (file) {
      u.bytes -= u.files.get(to)?.data.length ?? 0; // a file replaced
      u.files.delete(from);
      u.files.set(to, file);
      return true;
    }
    const inside = (p: string) => p.startsWith(`${from}/`);
    const moved = (p: string) => to + p.slice(from.length);
    const files = [...u.files.keys()].filter(inside);
    const dirs = [...u.dirs.keys()].filter(inside);
    if (![...files, ...dirs].every((p) => validPath(moved(p)))) return false;
    for (const [map, paths] of [[u.files, files], [u.dirs, [from, ...dirs]]] as const) {
      for (const p of paths) {
        (map as Map<string, unknown>).set(moved(p), map.get(p));
        map.delete(p);
      }
    }
    return true;
  }
}
