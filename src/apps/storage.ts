/** Per-user files for the demo shell, behind a small interface: memory, a Node folder, or Durable Object storage. */
export interface FileStorage {
  list(user: string): Promise<string[]>;
  read(user: string, name: string): Promise<Uint8Array | null>;
  write(user: string, name: string, data: Uint8Array): Promise<void>;
  remove(user: string, name: string): Promise<boolean>;
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
    this.files(user).set(name, data.slice());
  }
  async remove(user: string, name: string): Promise<boolean> {
    return this.files(user).delete(name);
  }
}
