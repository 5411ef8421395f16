// The demo's file storages against one contract: memory (the default of edgessh serve and the tests) and a
// Node folder (edgessh serve --data DIR). The Durable Object storage is exercised in test/worker and test/e2e.
import { mkdtempSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_PATH_DEPTH, MemoryStorage, canonicalPath, storagePath, type FileStorage } from '../../src/apps/storage.ts';
import { FolderStorage } from '../../src/io/node-storage.ts';
import { directoryContract, renameContract } from '../helpers/storage-contract.ts';

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

    it('a path is components joined by /: writes of others are refused, reads find nothing', async () => {
      const { s } = make();
      for (const bad of ['.', '..', '../x', '/x', 'x/', 'a//b', 'a/./b', 'x\0y', 'n'.repeat(256)]) {
        await expect(s.write('u', bad, enc.encode('x'))).rejects.toThrow(/invalid file name/);
        expect(await s.read('u', bad)).toBeNull();
        expect(await s.stat('u', bad)).toBeNull();
        expect(await s.remove('u', bad)).toBe(false);
        expect(await s.mkdir('u', bad)).toBe(false);
      }
      await expect(s.write('u', '', enc.encode('x'))).rejects.toThrow();
      await s.write('u', 'n'.repeat(255), enc.encode('ok'));
      expect(await s.list('u')).toEqual(['n'.repeat(255)]);
    });

    it('directories: made inside an existing one, listed, written into, removed only when empty', async () => {
      await directoryContract(make().s);
    });

    it('rename: files and whole directories; a file may replace a file, nothing else is replaced', async () => {
      await renameContract(make().s);
    });
  });
}

describe('MemoryStorage limits', () => {
  it('per user: at most `entries` files and directories and `bytes` of contents; a file written again counts once; removing frees', async () => {
    const s = new MemoryStorage({ entries: 3, bytes: 100 });
    await s.write('u', 'a', new Uint8Array(60));
    await expect(s.write('u', 'b', new Uint8Array(41))).rejects.toThrow(/Disk quota exceeded/);
    await s.write('u', 'a', new Uint8Array(10)); // replaces: 10 bytes now
    await s.write('u', 'b', new Uint8Array(90));
    expect(await s.mkdir('u', 'd')).toBe(true);
    await expect(s.mkdir('u', 'e')).rejects.toThrow('too many files (limit 3)');
    await expect(s.write('u', 'd/f', new Uint8Array(0))).rejects.toThrow('too many files (limit 3)');
    await s.write('other', 'x', new Uint8Array(100)); // each user has their own
    expect(await s.rename('u', 'a', 'b')).toBe(true); // b replaced: 10 bytes left
    await s.write('u', 'c', new Uint8Array(90));
    expect(await s.remove('u', 'c')).toBe(true);
    await s.write('u', 'd/f', new Uint8Array(90));
  });
});

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
    // A folder in it is a directory; a directory made is a folder.
    mkdirSync(join(dir, 'alice', 'sub'));
    expect(await s.stat('alice', 'sub')).toMatchObject({ dir: true });
    expect(await s.read('alice', 'sub')).toBeNull();
    await s.mkdir('alice', 'sub/deeper');
    await s.write('alice', 'sub/deeper/f', enc.encode('f'));
    expect(readFileSync(join(dir, 'alice', 'sub', 'deeper', 'f'), 'utf8')).toBe('f');
  });
});

describe('client paths to storage paths', () => {
  it('start at the top, never leave it, and stay within the limits', () => {
    expect(storagePath('/')).toBe('');
    expect(storagePath('.')).toBe('');
    expect(storagePath('../..')).toBe('');
    expect(storagePath('a.txt')).toBe('a.txt');
    expect(storagePath('/x/../a.txt')).toBe('a.txt');
    expect(storagePath('../../etc/passwd')).toBe('etc/passwd');
    expect(storagePath('a//b/./c/')).toBe('a/b/c');
    expect(storagePath('a/x\0y')).toBeNull();
    expect(storagePath('n'.repeat(256))).toBeNull();
    expect(storagePath(Array(MAX_PATH_DEPTH).fill('d').join('/'))).not.toBeNull();
    expect(storagePath(Array(MAX_PATH_DEPTH + 1).fill('d').join('/'))).toBeNull();
    expect(storagePath(Array(5).fill('n'.repeat(250)).join('/'))).toBeNull(); // over 1 KiB
    expect(canonicalPath('a/./b/../c')).toBe('/a/c');
  });
});
