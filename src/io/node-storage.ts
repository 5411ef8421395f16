/** Demo-shell files in a Node folder: one subfolder per user, names validated. */
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validFileName, type FileInfo, type FileStorage } from '../apps/storage.ts';

export class FolderStorage implements FileStorage {
  constructor(private readonly root: string) {}

  private dir(user: string): string {
    if (!validFileName(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`);
    return join(this.root, user);
  }

  private path(user: string, name: string): string {
    if (!validFileName(name)) throw new Error(`invalid file name ${JSON.stringify(name)}`);
    return join(this.dir(user), name);
  }

  async list(user: string): Promise<string[]> {
    try {
      return (await readdir(this.dir(user))).sort();
    } catch {
      return [];
    }
  }

  async read(user: string, name: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.path(user, name)));
    } catch {
      return null;
    }
  }

  async write(user: string, name: string, data: Uint8Array): Promise<void> {
    const p = this.path(user, name);
    await mkdir(this.dir(user), { recursive: true });
    await writeFile(p, data);
  }

  async stat(user: string, name: string): Promise<FileInfo | null> {
    try {
      const st = await stat(this.path(user, name));
      return st.isFile() ? { size: st.size, mtime: st.mtimeMs } : null;
    } catch {
      return null;
    }
  }

  async setMtime(user: string, name: string, mtime: number): Promise<boolean> {
    try {
      const p = this.path(user, name);
      if (!(await stat(p)).isFile()) return false;
      await utimes(p, mtime / 1000, mtime / 1000);
      return true;
    } catch {
      return false;
    }
  }

  async remove(user: string, name: string): Promise<boolean> {
    try {
      await rm(this.path(user, name));
      return true;
    } catch {
      return false;
    }
  }
}
