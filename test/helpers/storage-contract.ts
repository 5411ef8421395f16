// What every FileStorage does with directories, run against memory and a Node folder (test/unit/storage.test.ts)
// and the Durable Object storage inside workerd (test/worker/worker.test.ts).
import { expect } from 'vitest';
import type { FileStorage } from '../../src/apps/storage.ts';

const enc = new TextEncoder();

/** Directories made inside an existing one, listed, written into, timed, removed only when empty. */
export async function directoryContract(s: FileStorage): Promise<void> {
  expect(await s.stat('u', '')).toEqual({ size: 0, mtime: 0, dir: true }); // the top, before anything is stored
  expect(await s.mkdir('u', 'a/b')).toBe(false); // no parent
  await expect(s.write('u', 'a/f', enc.encode('x'))).rejects.toThrow(/No such directory/);
  expect(await s.mkdir('u', 'a')).toBe(true);
  expect(await s.mkdir('u', 'a')).toBe(false); // there already
  expect(await s.mkdir('u', 'a/b')).toBe(true);
  await s.write('u', 'a/f', enc.encode('x'));
  await s.write('u', 'a/b/g', enc.encode('yy'));
  await s.write('u', 'top', enc.encode('z'));
  expect(await s.mkdir('u', 'top')).toBe(false); // a file is there
  expect(await s.mkdir('u', 'top/x')).toBe(false); // a file is no directory
  await expect(s.write('u', 'top/x', enc.encode('x'))).rejects.toThrow();
  await expect(s.write('u', 'a/b', enc.encode('x'))).rejects.toThrow(/Is a directory/);
  expect(await s.list('u')).toEqual(['a', 'top']);
  expect(await s.list('u', 'a')).toEqual(['b', 'f']);
  expect(await s.list('u', 'a/b')).toEqual(['g']);
  expect(await s.list('u', 'missing')).toEqual([]);
  expect(await s.list('u', 'top')).toEqual([]);
  expect(await s.list('other', 'a')).toEqual([]);
  const d = (await s.stat('u', 'a/b'))!;
  expect(d).toMatchObject({ size: 0, dir: true });
  expect(d.mtime).toBeGreaterThan(0);
  expect((await s.stat('u', 'a/b/g'))!.dir).toBeFalsy();
  expect(new TextDecoder().decode((await s.read('u', 'a/b/g'))!)).toBe('yy');
  expect(await s.read('u', 'a')).toBeNull();
  expect(await s.remove('u', 'a/b')).toBe(false); // rm is for files
  expect(await s.rmdir('u', 'a/b')).toBe(false); // not empty
  expect(await s.rmdir('u', 'top')).toBe(false); // not a directory
  expect(await s.rmdir('u', 'missing')).toBe(false);
  expect(await s.rmdir('u', '')).toBe(false); // never the top
  const t = Date.UTC(2021, 5, 6, 7, 8, 9);
  expect(await s.setMtime('u', 'a/b', t)).toBe(true);
  expect((await s.stat('u', 'a/b'))!.mtime).toBe(t);
  expect(await s.remove('u', 'a/b/g')).toBe(true);
  expect(await s.rmdir('u', 'a/b')).toBe(true);
  expect(await s.stat('u', 'a/b')).toBeNull();
  expect(await s.list('u', 'a')).toEqual(['f']);
}

/** Files and whole directories moved: a file may replace a file, nothing replaces a directory, nothing goes into itself. */
export async function renameContract(s: FileStorage): Promise<void> {
  const text = async (p: string) => new TextDecoder().decode((await s.read('r', p)) ?? new Uint8Array()) || null;
  await s.mkdir('r', 'd');
  await s.mkdir('r', 'd/e');
  await s.write('r', 'd/e/f', enc.encode('f'));
  await s.write('r', 'd/g', enc.encode('g'));
  await s.write('r', 'h', enc.encode('h'));
  const t = Date.UTC(2019, 2, 3, 4, 5, 6);
  await s.setMtime('r', 'd/g', t);
  // A file: to a new name in another directory, keeping its bytes and time; over another file.
  expect(await s.rename('r', 'd/g', 'g2')).toBe(true);
  expect(await text('g2')).toBe('g');
  expect((await s.stat('r', 'g2'))!.mtime).toBe(t);
  expect(await s.stat('r', 'd/g')).toBeNull();
  expect(await s.rename('r', 'g2', 'h')).toBe(true);
  expect(await text('h')).toBe('g');
  expect(await s.list('r')).toEqual(['d', 'h']);
  // A directory with what is inside it.
  expect(await s.rename('r', 'd', 'moved')).toBe(true);
  expect(await s.list('r')).toEqual(['h', 'moved']);
  expect(await s.list('r', 'moved/e')).toEqual(['f']);
  expect(await text('moved/e/f')).toBe('f');
  expect(await s.stat('r', 'd/e')).toBeNull();
  // What cannot be done.
  expect(await s.rename('r', 'missing', 'x')).toBe(false);
  expect(await s.rename('r', 'moved', 'moved/e/inside')).toBe(false);
  expect(await s.rename('r', 'h', 'moved')).toBe(false); // a file over a directory
  expect(await s.rename('r', 'moved/e', 'h')).toBe(false); // a directory over a file
  await s.mkdir('r', 'empty');
  expect(await s.rename('r', 'moved/e', 'empty')).toBe(false); // a directory over a directory
  expect(await s.rename('r', 'h', 'nowhere/h')).toBe(false);
  expect(await s.rename('r', 'h', '')).toBe(false);
  expect(await s.rename('r', '', 'x')).toBe(false);
  // Past the depth limit for something inside: refused whole.
  let deep = 'empty';
  for (let i = 0; i < 14; i++) await s.mkdir('r', (deep = `${deep}/x`));
  expect(await s.rename('r', 'moved', `${deep}/m`)).toBe(false); // moved/e/f would be 18 deep
  expect(await s.list('r', 'moved/e')).toEqual(['f']);
  // A file written again after a move is a new file; the moved one is untouched.
  await s.write('r', 'moved/e/f2', enc.encode('one'));
  expect(await s.rename('r', 'moved/e/f2', 'f3')).toBe(true);
  await s.write('r', 'moved/e/f2', enc.encode('two'));
  expect([await text('f3'), await text('moved/e/f2')]).toEqual(['one', 'two']);
  await s.remove('r', 'moved/e/f2');
  expect(await text('f3')).toBe('one');
}
