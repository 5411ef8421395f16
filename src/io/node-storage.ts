/** Demo-shell files in a Node folder: one subfolder per user, paths validated, directories real folders. */
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TOP_DIR, joinPath, parentPath, validFileName, validPath, type FileInfo, type FileStorage } from '../apps/storage.ts';

/** Runs `f`; false if it says so (returns false) or throws, else true: the answer of every change below. */
async function attempt(f: () => Promise<boolean | void>): Promise<boolean> {
  try {
    return (await f()) !== false;
  } catch {
    return false;
  }
}

export class FolderStorage implements FileStorage {
  constructor(private readonly root: string) {}

  private dir(user: string): string {
    if (!validFileName(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`);
    return join(this.root, user);
  }

  /** The folder path of a storage path ('' is the user's folder). */
  private path(user: string, path: string): string {
    if (!validPath(path)) throw new Error(`invalid file name ${JSON.stringify(path)}`);
    return path ? join(this.dir(user), ...path.split('/')) : this.dir(user);
  }

  async list(user: string, dir = ''): Promise<string[]> {
    try {
      return (await readdir(this.path(user, dir))).sort();
    } catch {
      return [];
    }
  }

  async read(user: string, path: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.path(user, path)));
    } catch {
      return null;
    }
  }

  async write(user: string, path: string, data: Uint8Array): Promise<void> {
    if (!path) throw new Error('Is a directory');
    const p = this.path(user, path);
    const parent = parentPath(path);
    if (parent === '') await mkdir(this.dir(user), { recursive: true });
    else if (!(await this.stat(user, parent))?.dir) throw new Error('No such directory');
    try {
      await writeFile(p, data);
    } catch (e) {
      throw new Error((e as NodeJS.ErrnoException).code === 'EISDIR' ? 'Is a directory' : `cannot write: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }

  async stat(user: string, path: string): Promise<FileInfo | null> {
    if (path === '') return TOP_DIR;
    try {
      const st = await stat(this.path(user, path));
      if (st.isDirectory()) return { size: 0, mtime: st.mtimeMs, dir: true };
      return st.isFile() ? { size: st.size, mtime: st.mtimeMs } : null;
    } catch {
      return null;
    }
  }

  setMtime(user: string, path: string, mtime: number): Promise<boolean> {
    return attempt(async () => {
      const p = this.path(user, path);
      const st = await stat(p);
      if (!path || !(st.isFile() || st.isDirectory())) return false;
      await utimes(p, mtime / 1000, mtime / 1000);
    });
  }

  remove(user: string, path: string): Promise<boolean> {
    return attempt(async () => {
      const p = this.path(user, path);
      if (!path || !(await stat(p)).isFile()) return false;
      await rm(p);
    });
  }

  mkdir(user: string, path: string): Promise<boolean> {
    return attempt(async () => {
      if (!path) return false;
      if (parentPath(path) === '') await mkdir(this.dir(user), { recursive: true });
      await mkdir(this.path(user, path));
    });
  }

  rmdir(user: string, path: string): Promise<boolean> {
    return attempt(async () => {
      if (!path) return false;
      await rmdir(this.path(user, path));
    });
  }

  rename(user: string, from: string, to: string): Promise<boolean> {
    return attempt(async () => {
      if (!from || !to || !validPath(from) || !validPath(to) || to.startsWith(`${from}/`)) return false;
      const src = await this.stat(user, from);
      if (!src) return false;
      if (from === to) return true;
      const there = await this.stat(user, to);
      if (!(await this.stat(user, parentPath(to)))?.dir && parentPath(to) !== '') return false;
      if (there && (src.dir || there.dir)) return false;
      // Every path inside must stay within the limits at its new place.
      const fits = async (dir: string): Promise<boolean> => {
        for (const name of await this.list(user, dir)) {
          const p = joinPath(dir, name);
          if (!validPath(to + p.slice(from.length))) return false;
          if ((await this.stat(user, p))?.dir && !(await fits(p))) return false;
        }
        return true;
      };
      if (src.dir && !(await fits(from))) return false;
      await rename(this.path(user, from), this.path(user, to));
    });
  }
}
