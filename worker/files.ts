/**
 * The demo shell's files in Durable Object storage: one UserFiles object per user name, reached over RPC
 * from each connection's SshSession object. A file is stored in 64 KiB chunks (one storage value each).
 */
import { DurableObject } from 'cloudflare:workers';
import { validFileName, type FileInfo, type FileStorage } from '../src/apps/storage.ts';
import type { Env } from './env.ts';

const CHUNK = 64 * 1024;
/** Like a small disk quota: the demo is not a file host. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
export const MAX_FILES = 1000;

interface Meta {
  size: number;
  chunks: number;
  /** When it was written (files written before this field existed have none). */
  mtime?: number;
}

export class UserFiles extends DurableObject<Env> {
  async list(): Promise<string[]> {
    const m = await this.ctx.storage.list<Meta>({ prefix: 'meta:' });
    return [...m.keys()].map((k) => k.slice(5)).sort();
  }

  async stat(name: string): Promise<FileInfo | null> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    return meta ? { size: meta.size, mtime: meta.mtime ?? 0 } : null;
  }

  async read(name: string): Promise<Uint8Array | null> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (!meta) return null;
    const keys = Array.from({ length: meta.chunks }, (_, i) => `data:${name}:${i}`);
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

  async write(name: string, data: Uint8Array): Promise<void> {
    if (!validFileName(name)) throw new Error(`invalid file name ${JSON.stringify(name)}`);
    if (data.length > MAX_FILE_BYTES) throw new Error(`file too large (limit ${MAX_FILE_BYTES} bytes)`);
    const old = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (!old && (await this.list()).length >= MAX_FILES) throw new Error(`too many files (limit ${MAX_FILES})`);
    const chunks = Math.ceil(data.length / CHUNK);
    await this.ctx.storage.transaction(async (tx) => {
      if (old) await tx.delete(Array.from({ length: old.chunks }, (_, i) => `data:${name}:${i}`));
      for (let i = 0; i < chunks; i += 64) {
        const batch: Record<string, Uint8Array> = {};
        for (let j = i; j < Math.min(chunks, i + 64); j++) batch[`data:${name}:${j}`] = data.slice(j * CHUNK, (j + 1) * CHUNK);
        await tx.put(batch);
      }
      await tx.put(`meta:${name}`, { size: data.length, chunks, mtime: Date.now() } satisfies Meta);
    });
  }

  async setMtime(name: string, mtime: number): Promise<boolean> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (!meta) return false;
    await this.ctx.storage.put(`meta:${name}`, { ...meta, mtime } satisfies Meta);
    return true;
  }

  async remove(name: string): Promise<boolean> {
    const meta = await this.ctx.storage.get<Meta>(`meta:${name}`);
    if (!meta) return false;
    await this.ctx.storage.delete([`meta:${name}`, ...Array.from({ length: meta.chunks }, (_, i) => `data:${name}:${i}`)]);
    return true;
  }
}

/** FileStorage for the demo shell, backed by one UserFiles object per user. */
export class DurableObjectFileStorage implements FileStorage {
  constructor(private readonly ns: DurableObjectNamespace<UserFiles>) {}
  private stub(user: string) {
    return this.ns.get(this.ns.idFromName(user));
  }
  list(user: string): Promise<string[]> {
    return this.stub(user).list();
  }
  async read(user: string, name: string): Promise<Uint8Array | null> {
    const b = await this.stub(user).read(name);
    return b ? new Uint8Array(b) : null;
  }
  write(user: string, name: string, data: Uint8Array): Promise<void> {
    return this.stub(user).write(name, data);
  }
  remove(user: string, name: string): Promise<boolean> {
    return this.stub(user).remove(name);
  }
  stat(user: string, name: string): Promise<FileInfo | null> {
    return this.stub(user).stat(name);
  }
  setMtime(user: string, name: string, mtime: number): Promise<boolean> {
    return this.stub(user).setMtime(name, mtime);
  }
}
