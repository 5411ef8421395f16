// What every FileStorage does with directories, run against memory and a Node folder (test/unit/storage.test.ts)
// and the Durable Object storage inside workerd (test/worker/worker.test.ts).
import { expect } from 'vitest';
import type { FileStorage } from '../../src/apps/storage.ts';

const enc = new TextEncoder();

/** Directories made inside an existing one, listed, written into, timed, removed only when empty. */
export async function directoryContract(s: FileStorage): Promise<void> {
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
