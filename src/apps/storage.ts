/** Per-user files for the demo shell, behind a small interface: memory, a Node folder, or Durable Object storage. */
export interface FileStorage {
  list(user: string): Promise<string[]>;
  read(user: string, name: string): Promise<Uint8Array | null>;
  /** Stores a copy of `data` (the caller may reuse its memory once this resolves). */
  write(user: string, name: string, data: Uint8Array): Promise<void>;
  remove(user: string, name: string): Promise<boolean>;
  /** A file's size and last write (ms since the epoch; 0 when the storage does not know), or null. */
  stat(user: string, name: string): Promise<FileInfo | null>;
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
  async remove(user: string, name: string): Promise<boolean> {
    return this.files(user).delete(name);
  }
}
