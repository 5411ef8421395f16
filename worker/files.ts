/**
 * The demo shell's files in Durable Object storage: one UserFiles object per user name, reached over RPC
 * from each connection's SshSession object. A file is stored in 64 KiB chunks (one storage value each)
 * under `data:ID:i`, its size, time and ID under `meta:PATH`; a directory is `dir:PATH`. PATH is a
 * storage path (src/apps/storage.ts): components joined by '/'. The ID is made for each write, so a rename
 * moves only the `meta:` and `dir:` keys, never the chunks (a file written before IDs existed has its
 * chunks under its path then, `data:PATH:i`, and keeps them there when it moves).
 */
import { DurableObject } from 'cloudflare:workers';
import { TOP_DIR, baseName, parentPath, validPath, type FileInfo, type FileStorage, type StorageUsage } from '../src/apps/storage.ts';
import type { Env } from './env.ts';

const CHUNK = 64 * 1024;
/** Like a small disk quota: the demo is not a file host. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Files and directories together. */
export const MAX_FILES = 1000;
/** All of a user's files together, unless FILES_QUOTA_MB says otherwise. */
export const DEFAULT_QUOTA_MB = 256;

interface DirMeta {
  mtime: number;
}

interface Meta {
  size: number;
  chunks: number;
  /** When it was written (files written before this field existed have none). */
  mtime?: number;
  /** Where its chunks are: `data:ID:i` (absent for files written before IDs, whose chunks are under their path). */
  id?: string;
}

const chunkKeys = (path: string, m: Meta) => Array.from({ length: m.chunks }, (_, i) => `data:${m.id ?? path}:${i}`);

export class UserFiles extends DurableObject<Env> {
  /** The names directly in directory `dir` ('' the top); [] when there is no such directory. */
  async list(dir = ''): Promise<string[]> {
    if (dir && !(await this.ctx.storage.get<DirMeta>(`dir:${dir}`))) return [];
    const inside = dir ? `${dir}/` : '';
    const names: string[] = [];
    for (const kind of ['meta:', 'dir:'])
      for (const k of (await this.ctx.storage.list({ prefix: kind + inside })).keys()) {
        const p = k.slice(kind.length);
        if (parentPath(p) === dir) names.push(baseName(p));
      }
    return names.sort();
  }

  /** Files and directories, and the bytes of all files, for the limits. */
  private async usage(): Promise<{ entries: number; bytes: number }> {
    const files = await this.ctx.storage.list<Meta>({ prefix: 'meta:' });
    let bytes = 0;
    for (const m of files.values()) bytes += m.size;
    return { entries: files.size + (await this.ctx.storage.list({ prefix: 'dir:' })).size, bytes };
  }

  async quota(): Promise<StorageUsage> {
    const use = await this.usage();
    return { bytes: use.bytes, bytesLimit: this.quotaBytes(), entries: use.entries, entriesLimit: MAX_FILES };
  }

  /** FILES_QUOTA_MB in bytes; unset or not a number: the default, never none. */
  private quotaBytes(): number {
    const set = Number(this.env.FILES_QUOTA_MB);
    return (Number.isFinite(set) && set > 0 ? set : DEFAULT_QUOTA_MB) * 1024 * 1024;
  }

  private async isDir(path: string): Promise<boolean> {
    return path === '' || !!(await this.ctx.storage.get<DirMeta>(`dir:${path}`));
  }

  async stat(name: string): Promise<FileInfo | null> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (meta) return { size: meta.size, mtime: meta.mtime ?? 0 };
    const dir = await this.ctx.storage.get<DirMeta>(`dir:${name}`);
    return dir ? { size: 0, mtime: dir.mtime, dir: true } : null;
  }

  // A refusal comes back as its message, not thrown: an exception leaving an RPC method is logged by the
  // runtime as uncaught, and these are ordinary answers. DurableObjectFileStorage throws them as Errors.

  /** True when made; false when something is there or the parent is no directory; else why not. */
  async mkdir(path: string): Promise<boolean | string> {
    if (!path || !validPath(path) || !(await this.isDir(parentPath(path))) || (await this.stat(path))) return false;
    if ((await this.usage()).entries >= MAX_FILES) return `too many files (limit ${MAX_FILES})`;
    await this.ctx.storage.put(`dir:${path}`, { mtime: Date.now() } satisfies DirMeta);
    return true;
  }

  async rmdir(path: string): Promise<boolean> {
    if (!path || !(await this.ctx.storage.get<DirMeta>(`dir:${path}`))) return false;
    for (const kind of ['meta:', 'dir:']) if ((await this.ctx.storage.list({ prefix: `${kind}${path}/`, limit: 1 })).size) return false;
    return this.ctx.storage.delete(`dir:${path}`);
  }

  async read(name: string): Promise<Uint8Array | null> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (!meta) return null;
    const keys = chunkKeys(name, meta);
    const out = new Uint8Array(meta.size);
    let o = 0;
    for (let i = 0; i < keys.length; i += 128) {
      const got = await this.ctx.storage.get<Uint8Array>(keys.slice(i, i + 128));
      for (const k of keys.slice(i, i + 128)) {
        const c = got.get(k);
        if (!c) throw new Error(`file ${name} is damaged (missing chunk ${k})`);
        out.set(c, o);
        o += c.length;
      }
    }
    return out;
  }

  /** Null when stored, else why not. */
  async write(name: string, data: Uint8Array): Promise<string | null> {
    if (!name || !validPath(name)) return `invalid file name ${JSON.stringify(name)}`;
    if (data.length > MAX_FILE_BYTES) return `file too large (limit ${MAX_FILE_BYTES} bytes)`;
    if (!(await this.isDir(parentPath(name)))) return 'No such directory';
    if (await this.ctx.storage.get<DirMeta>(`dir:${name}`)) return 'Is a directory';
    const old = await this.ctx.storage.get<Meta>(`meta:${name}`);
    const use = await this.usage();
    if (!old && use.entries >= MAX_FILES) return `too many files (limit ${MAX_FILES})`;
    const quota = this.quotaBytes();
    if (use.bytes - (old?.size ?? 0) + data.length > quota) return `Disk quota exceeded (${quota / 1024 / 1024} MiB per user)`;
    const chunks = Math.ceil(data.length / CHUNK);
    const id = crypto.randomUUID();
    await this.ctx.storage.transaction(async (tx) => {
      if (old) await tx.delete(chunkKeys(name, old));
      for (let i = 0; i < chunks; i += 64) {
        const batch: Record<string, Uint8Array> = {};
        for (let j = i; j < Math.min(chunks, i + 64); j++) batch[`data:${id}:${j}`] = data.slice(j * CHUNK, (j + 1) * CHUNK);
        await tx.put(batch);
      }
      await tx.put(`meta:${name}`, { size: data.length, chunks, mtime: Date.now(), id } satisfies Meta);
    });
    return null;
  }

  async setMtime(name: string, mtime: number): Promise<boolean> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (meta) await this.ctx.storage.put(`meta:${name}`, { ...meta, mtime } satisfies Meta);
    else if (name && (await this.ctx.storage.get<DirMeta>(`dir:${name}`))) await this.ctx.storage.put(`dir:${name}`, { mtime } satisfies DirMeta);
    else return false;
    return true;
  }

  async remove(name: string): Promise<boolean> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (!meta) return false;
    await this.ctx.storage.delete([`meta:${name}`, ...chunkKeys(name, meta)]);
    return true;
  }

  /** See FileStorage.rename: only `meta:` and `dir:` keys move, in one transaction. */
  async rename(from: string, to: string): Promise<boolean> {
    if (!from || !to || !validPath(from) || !validPath(to) || to.startsWith(`${from}/`)) return false;
    const file = await this.ctx.storage.get<Meta>(`meta:${from}`);
    const dir = file ? null : await this.ctx.storage.get<DirMeta>(`dir:${from}`);
    if (!file && !dir) return false;
    if (from === to) return true;
    if (!(await this.isDir(parentPath(to)))) return false;
    const there = await this.stat(to);
    if (there && (dir || there.dir)) return false;
    if (file) {
      const replaced = await this.ctx.storage.get<Meta>(`meta:${to}`);
      await this.ctx.storage.transaction(async (tx) => {
        if (replaced) await tx.delete(chunkKeys(to, replaced));
        await tx.put(`meta:${to}`, { ...file, id: file.id ?? from } satisfies Meta);
        await tx.delete(`meta:${from}`);
      });
      return true;
    }
    const moves: [string, string, unknown][] = [[`dir:${from}`, `dir:${to}`, dir]];
    for (const kind of ['meta:', 'dir:']) {
      for (const [k, v] of await this.ctx.storage.list<Meta | DirMeta>({ prefix: `${kind}${from}/` })) {
        const path = to + k.slice(kind.length + from.length);
        if (!validPath(path)) return false; // deeper or longer than paths may be
        moves.push([k, kind + path, kind === 'meta:' ? { ...v, id: (v as Meta).id ?? k.slice(kind.length) } : v]);
      }
    }
    await this.ctx.storage.transaction(async (tx) => {
      for (const [, k, v] of moves) await tx.put(k, v);
      await tx.delete(moves.map(([k]) => k));
    });
    return true;
  }
}

/** FileStorage for the demo shell, backed by one UserFiles object per user. */
export class DurableObjectFileStorage implements FileStorage {
  constructor(private readonly ns: DurableObjectNamespace<UserFiles>) {}
  private stub(user: string) {
    return this.ns.get(this.ns.idFromName(user));
  }
  list(user: string, dir?: string): Promise<string[]> {
    return this.stub(user).list(dir);
  }
  async mkdir(user: string, path: string): Promise<boolean> {
    const r = await this.stub(user).mkdir(path);
    if (typeof r === 'string') throw new Error(r);
    return r;
  }
  rmdir(user: string, path: string): Promise<boolean> {
    return this.stub(user).rmdir(path);
  }
  async read(user: string, name: string): Promise<Uint8Array | null> {
    const b = await this.stub(user).read(name);
    return b ? new Uint8Array(b) : null;
  }
  rename(user: string, from: string, to: string): Promise<boolean> {
    return this.stub(user).rename(from, to);
  }
  usage(user: string): Promise<StorageUsage> {
    return this.stub(user).quota();
  }
  async write(user: string, name: string, data: Uint8Array): Promise<void> {
    const why = await this.stub(user).write(name, data);
    if (why) throw new Error(why);
  }
  remove(user: string, name: string): Promise<boolean> {
    return this.stub(user).remove(name);
  }
  async stat(user: string, name: string): Promise<FileInfo | null> {
    return name === '' ? TOP_DIR : this.stub(user).stat(name); // the top needs no round trip
  }
  setMtime(user: string, name: string, mtime: number): Promise<boolean> {
    return this.stub(user).setMtime(name, mtime);
  }
}
