/** Per-user files for the demo shell, behind a small interface: memory, a Node folder, or Durable Object storage. */
export interface FileStorage {
  list(user: string): Promise<string[]>;
  read(user: string, name: string): Promise<Uint8Array | null>;
  /** Stores a copy of `data` (the caller may reuse its memory once this resolves). */
  write(user: string, name: string, data: Uint8Array): Promise<void>;
  remove(user: string, name: string): Promise<boolean>;
  /** A file's size and last write (ms since the epoch; 0 when the storage does not know), or null. */
  stat(user: string, name: string): Promise<FileInfo | null>;
  /** Sets a file's last-write time (`scp -p`, SFTP's SETSTAT); false when there is no such file. */
  setMtime(user: string, name: string, mtime: number): Promise<boolean>;
}

export interface FileInfo {
  size: number;
  mtime: number;
}

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
 * Where a path points in a user's files, one flat directory shown as `/` (relative paths start there):
 * the directory itself, one file name, or null (a deeper path, or a name no file can have).
 */
export function resolveStoragePath(path: string): { root: true } | { root: false; name: string } | null {
  const parts = pathParts(path);
  if (parts.length === 0) return { root: true };
  if (parts.length > 1 || !validFileName(parts[0]!)) return null;
  return { root: false, name: parts[0]! };
}

export class MemoryStorage implements FileStorage {
  private users = new Map<string, Map<string, Uint8Array>>();
  private mtimes = new WeakMap<Uint8Array, number>();
  private files(user: string): Map<string, Uint8Array> {
    let m = this.users.get(user);
    if (!m) this.users.set(user, (m = new Map()));
    return m;
  }
  async list(user: string): Promise<string[]> {
    return [...this.files(user).keys()].sort();
  }
  async read(user: string, name: string): Promise<Uint8Array | null> {
    return this.files(user).get(name)?.slice() ?? null;
  }
  async write(user: string, name: string, data: Uint8Array): Promise<void> {
    if (!validFileName(name)) throw new Error(`invalid file name ${JSON.stringify(name)}`);
    const copy = data.slice();
    this.mtimes.set(copy, Date.now());
    this.files(user).set(name, copy);
  }
  async stat(user: string, name: string): Promise<FileInfo | null> {
    const f = this.files(user).get(name);
    return f ? { size: f.length, mtime: this.mtimes.get(f) ?? 0 } : null;
  }
  async setMtime(user: string, name: string, mtime: number): Promise<boolean> {
    const f = this.files(user).get(name);
    if (f) this.mtimes.set(f, mtime);
    return !!f;
  }
  async remove(user: string, name: string): Promise<boolean> {
    return this.files(user).delete(name);
  }
}
