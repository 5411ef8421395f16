// The demo's file storages against one contract: memory (the default of edgessh serve and the tests) and a
// Node folder (edgessh serve --data DIR). The Durable Object storage is exercised in test/worker and test/e2e.
import { mkdtempSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStorage, canonicalPath, resolveStoragePath, type FileStorage } from '../../src/apps/storage.ts';
import { FolderStorage } from '../../src/io/node-storage.ts';

const enc = new TextEncoder();
const kinds: [string, () => { s: FileStorage; dir?: string }][] = [
  ['MemoryStorage', () => ({ s: new MemoryStorage() })],
  ['FolderStorage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgessh-storage-'));
    return { s: new FolderStorage(dir), dir };
  }],
];

for (const [kind, make] of kinds) {
  describe(kind, () => {
    it('write, read, list, stat, remove; each user has their own files', async () => {
      const { s } = make();
      const t0 = Date.now();
      await s.write('alice', 'b.txt', enc.encode('bee'));
      await s.write('alice', 'a.txt', enc.encode('a'));
      await s.write('bob', 'a.txt', enc.encode('bob'));
      expect(await s.list('alice')).toEqual(['a.txt', 'b.txt']);
      expect(await s.list('nobody')).toEqual([]);
      expect(new TextDecoder().decode((await s.read('bob', 'a.txt'))!)).toBe('bob');
      const st = (await s.stat('alice', 'b.txt'))!;
      expect(st.size).toBe(3);
      expect(st.mtime).toBeGreaterThanOrEqual(t0 - 1000);
      expect(st.mtime).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await s.stat('alice', 'missing')).toBeNull();
      expect(await s.read('alice', 'missing')).toBeNull();
      expect(await s.remove('alice', 'a.txt')).toBe(true);
      expect(await s.remove('alice', 'a.txt')).toBe(false);
      expect(await s.list('alice')).toEqual(['b.txt']);
    });

    it('setMtime: a file keeps the time it is given (whole seconds survive), until it is written again', async () => {
      const { s } = make();
      await s.write('u', 'f', enc.encode('x'));
      const t = Date.UTC(2020, 0, 2, 3, 4, 5);
      expect(await s.setMtime('u', 'f', t)).toBe(true);
      expect(await s.stat('u', 'f')).toEqual({ size: 1, mtime: t });
      expect(await s.setMtime('u', 'missing', t)).toBe(false);
      expect(await s.setMtime('u', '../x', t)).toBe(false);
      await s.write('u', 'f', enc.encode('xy'));
      expect((await s.stat('u', 'f'))!.mtime).toBeGreaterThan(t);
    });

    it('keeps copies: changing the bytes given or read back does not change the file', async () => {
      const { s } = make();
      const data = enc.encode('abc');
      await s.write('u', 'f', data);
      data[0] = 0x7a;
      const back = (await s.read('u', 'f'))!;
      back[1] = 0x7a;
      expect(new TextDecoder().decode((await s.read('u', 'f'))!)).toBe('abc');
    });

    it('a name is one path component: writes of others are refused, reads find nothing', async () => {
      const { s } = make();
      for (const bad of ['', '.', '..', '../x', 'a/b', 'x\0y', 'n'.repeat(256)]) {
        await expect(s.write('u', bad, enc.encode('x'))).rejects.toThrow(/invalid file name/);
        expect(await s.read('u', bad)).toBeNull();
        expect(await s.stat('u', bad)).toBeNull();
        expect(await s.remove('u', bad)).toBe(false);
      }
      await s.write('u', 'n'.repeat(255), enc.encode('ok'));
      expect(await s.list('u')).toEqual(['n'.repeat(255)]);
    });
  });
}

describe('FolderStorage on disk', () => {
  it('a file is DIR/USER/NAME; a user name that is not one path component is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgessh-storage-'));
    const s = new FolderStorage(dir);
    await s.write('alice', 'notes.txt', enc.encode('hi\n'));
    expect(readFileSync(join(dir, 'alice', 'notes.txt'), 'utf8')).toBe('hi\n');
    for (const user of ['..', 'a/b', '']) {
      await expect(s.write(user, 'x', enc.encode('x'))).rejects.toThrow(/invalid user name/);
      expect(await s.list(user)).toEqual([]);
    }
    expect(existsSync(join(dir, 'x'))).toBe(false);
    // Something in the folder that is not a file is not one.
    mkdirSync(join(dir, 'alice', 'sub'));
    expect(await s.stat('alice', 'sub')).toBeNull();
    expect(await s.read('alice', 'sub')).toBeNull();
  });
});

describe('paths in the flat directory', () => {
  it('resolve to the directory or one name, never above the root', () => {
    expect(resolveStoragePath('/')).toEqual({ root: true });
    expect(resolveStoragePath('.')).toEqual({ root: true });
    expect(resolveStoragePath('../..')).toEqual({ root: true });
    expect(resolveStoragePath('a.txt')).toEqual({ root: false, name: 'a.txt' });
    expect(resolveStoragePath('/x/../a.txt')).toEqual({ root: false, name: 'a.txt' });
    expect(resolveStoragePath('../../etc/passwd')).toBeNull();
    expect(resolveStoragePath('a/b')).toBeNull();
    expect(canonicalPath('a/./b/../c')).toBe('/a/c');
  });
});
