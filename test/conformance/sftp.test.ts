// The demo's SFTP server (src/apps/sftp.ts) driven directly over in-memory streams: each request type,
// each refusal, the limits, and seeded hostile input. Real clients (OpenSSH sftp and scp, paramiko,
// AsyncSSH) are in test/interop/sftp.test.ts.
import { describe, expect, it } from 'vitest';
import { FX, FXF, FXP, SFTP_LIMITS, runSftp } from '../../src/apps/sftp.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { FolderStorage } from '../../src/io/node-storage.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reader, getUint32 } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';
import { mutate, prng } from '../helpers/fuzz.ts';

interface Reply {
  type: number;
  id: number;
  r: Reader;
}

function harness(storage = new MemoryStorage()) {
  let input!: ReadableStreamDefaultController<Uint8Array>;
  const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (input = c) });
  let out = new Uint8Array(0);
  let wake: (() => void) | null = null;
  const stdout = new WritableStream<Uint8Array>({
    write(chunk) {
      const joined = new Uint8Array(out.length + chunk.length);
      joined.set(out);
      joined.set(chunk, out.length);
      out = joined;
      wake?.();
    },
  });
  let stderr = '';
  const errStream = new WritableStream<Uint8Array>({ write: (c) => void (stderr += new TextDecoder().decode(c)) });
  const done = runSftp({ user: 'tester', storage, stdin, stdout, stderr: errStream });
  let ended = false;
  void done.then(() => ((ended = true), wake?.()));
  const frame = (body: Uint8Array) => {
    const f = new Uint8Array(4 + body.length);
    f.set(new Writer().uint32(body.length).finish());
    f.set(body, 4);
    return f;
  };
  const h = {
    storage,
    done,
    get stderr() {
      return stderr;
    },
    raw: (bytes: Uint8Array) => input.enqueue(bytes),
    send: (type: number, id: number, body: (w: Writer) => Writer = (w) => w) => input.enqueue(frame(body(new Writer().byte(type).uint32(id)).finish())),
    end: () => input.close(),
    /** The next reply, or null once the server has ended with nothing more to say. */
    async next(): Promise<Reply | null> {
      for (;;) {
        if (out.length >= 4 && out.length >= 4 + getUint32(out, 0)) {
          const len = getUint32(out, 0);
          const m = out.slice(4, 4 + len);
          out = out.slice(4 + len);
          const r = new Reader(m);
          const type = r.byte();
          return { type, id: type === FXP.VERSION ? 0 : r.uint32(), r };
        }
        if (ended) return null;
        await new Promise<void>((res) => (wake = res));
        wake = null;
      }
    },
    /** INIT; returns the extension names the server's VERSION offers. */
    async init(): Promise<string[]> {
      input.enqueue(frame(new Writer().byte(FXP.INIT).uint32(3).finish()));
      const v = (await h.next())!;
      expect(v.type).toBe(FXP.VERSION);
      expect(v.r.uint32()).toBe(3);
      const names: string[] = [];
      while (v.r.remaining) (names.push(v.r.string()), v.r.string());
      return names;
    },
    /** Sends a request and returns its reply (which must carry the same id). */
    async ask(type: number, body: (w: Writer) => Writer = (w) => w): Promise<Reply> {
      const id = (h.lastId = (h.lastId + 1) >>> 0);
      h.send(type, id, body);
      const r = (await h.next())!;
      expect(r.id).toBe(id);
      return r;
    },
    lastId: 100,
    async status(type: number, body?: (w: Writer) => Writer): Promise<[number, string]> {
      const r = await h.ask(type, body);
      expect(r.type).toBe(FXP.STATUS);
      return [r.r.uint32(), r.r.string()];
    },
    async handle(type: number, body: (w: Writer) => Writer): Promise<Uint8Array> {
      const r = await h.ask(type, body);
      if (r.type === FXP.STATUS) throw new Error(`status ${r.r.uint32()}: ${r.r.string()}`);
      expect(r.type).toBe(FXP.HANDLE);
      return r.r.bytes().slice();
    },
  };
  return h;
}

const noAttrs = (w: Writer) => w.uint32(0);
const open = (path: string, flags: number) => (w: Writer) => noAttrs(w.string(path).uint32(flags));
const WRITE_NEW = FXF.WRITE | FXF.CREAT | FXF.TRUNC;

async function put(h: ReturnType<typeof harness>, path: string, data: Uint8Array) {
  const hd = await h.handle(FXP.OPEN, open(path, WRITE_NEW));
  for (let at = 0; at < data.length; at += 32768)
    expect(await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(BigInt(at)).bytes(data.subarray(at, at + 32768)))).toEqual([FX.OK, 'Success']);
  expect((await h.status(FXP.CLOSE, (w) => w.bytes(hd)))[0]).toBe(FX.OK);
}

function attrs(r: Reader) {
  const flags = r.uint32();
  const a: { size?: number; perm?: number; mtime?: number } = {};
  if (flags & 1) a.size = Number(r.uint64());
  if (flags & 2) r.raw(8);
  if (flags & 4) a.perm = r.uint32();
  if (flags & 8) (r.uint32(), (a.mtime = r.uint32()));
  return a;
}

describe('sftp: requests', () => {
  it('INIT gets VERSION 3; REALPATH canonicalizes inside the one directory', async () => {
    const h = harness();
    await h.init();
    for (const [p, want] of [['.', '/'], ['', '/'], ['a/../b', '/b'], ['../../..', '/'], ['/x/./y/', '/x/y']]) {
      const r = await h.ask(FXP.REALPATH, (w) => w.string(p!));
      expect(r.type).toBe(FXP.NAME);
      expect(r.r.uint32()).toBe(1);
      expect(r.r.string()).toBe(want);
    }
    h.end();
    expect(await h.done).toBe(0);
  });

  it('writes a file (with a hole), reads it back in pieces, stats it, lists it', async () => {
    const h = harness();
    await h.init();
    const hd = await h.handle(FXP.OPEN, open('/f.bin', WRITE_NEW));
    await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(0n).bytes(new Uint8Array([1, 2, 3])));
    await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(10n).bytes(new Uint8Array([9])));
    const fst = await h.ask(FXP.FSTAT, (w) => w.bytes(hd));
    expect(attrs(fst.r).size).toBe(11);
    await h.status(FXP.CLOSE, (w) => w.bytes(hd));
    expect(await h.storage.read('tester', 'f.bin')).toEqual(new Uint8Array([1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 9]));

    const rd = await h.handle(FXP.OPEN, open('f.bin', FXF.READ));
    const d = await h.ask(FXP.READ, (w) => w.bytes(rd).uint64(2n).uint32(5));
    expect(d.type).toBe(FXP.DATA);
    expect(d.r.bytes()).toEqual(new Uint8Array([3, 0, 0, 0, 0]));
    expect(await h.status(FXP.READ, (w) => w.bytes(rd).uint64(11n).uint32(5))).toEqual([FX.EOF, 'End of file']);
    await h.status(FXP.CLOSE, (w) => w.bytes(rd));

    const st = await h.ask(FXP.STAT, (w) => w.string('/f.bin'));
    const a = attrs(st.r);
    expect(a.size).toBe(11);
    expect(a.perm).toBe(0o100644);
    expect(Math.abs(a.mtime! - Date.now() / 1000)).toBeLessThan(60);
    expect(attrs((await h.ask(FXP.LSTAT, (w) => w.string('/'))).r).perm).toBe(0o040755);

    const dir = await h.handle(FXP.OPENDIR, (w) => w.string('/'));
    const names = await h.ask(FXP.READDIR, (w) => w.bytes(dir));
    expect(names.type).toBe(FXP.NAME);
    const n = names.r.uint32();
    const got: [string, string][] = [];
    for (let i = 0; i < n; i++) {
      const name = names.r.string();
      got.push([name, names.r.string()]);
      attrs(names.r);
    }
    expect(got.map((g) => g[0])).toEqual(['.', '..', 'f.bin']);
    expect(got[2]![1]).toMatch(/^-rw-r--r-- +1 tester +tester +11 \w{3} [ \d]\d \d\d:\d\d f\.bin$/);
    expect((await h.status(FXP.READDIR, (w) => w.bytes(dir)))[0]).toBe(FX.EOF);
    await h.status(FXP.CLOSE, (w) => w.bytes(dir));
    h.end();
    expect(await h.done).toBe(0);
  });

  it('times as scp -p sets them: FSETSTAT on a file being written applies at close, SETSTAT at once; only the mode shown may be "set"', async () => {
    const h = harness();
    await h.init();
    const t = Date.UTC(2020, 0, 2, 3, 4, 5) / 1000;
    const times = (w: Writer, mode?: number) => (mode === undefined ? w.uint32(8) : w.uint32(4 | 8).uint32(mode)).uint32(t).uint32(t);
    const wr = await h.handle(FXP.OPEN, open('p.txt', FXF.WRITE | FXF.CREAT | FXF.TRUNC));
    await h.status(FXP.WRITE, (w) => w.bytes(wr).uint64(0n).bytes(new Uint8Array([1, 2, 3])));
    expect(await h.status(FXP.FSETSTAT, (w) => times(w.bytes(wr), 0o100644))).toEqual([FX.OK, 'Success']);
    expect(attrs((await h.ask(FXP.FSTAT, (w) => w.bytes(wr))).r).mtime).toBe(t);
    await h.status(FXP.CLOSE, (w) => w.bytes(wr));
    expect(await h.storage.stat('tester', 'p.txt')).toEqual({ size: 3, mtime: t * 1000 });
    expect(await h.status(FXP.SETSTAT, (w) => w.string('p.txt').uint32(8).uint32(0).uint32(t - 60))).toEqual([FX.OK, 'Success']);
    expect((await h.storage.stat('tester', 'p.txt'))!.mtime).toBe((t - 60) * 1000);
    // A mode other than the one files have here: refused whole (the time is not set either).
    expect(await h.status(FXP.SETSTAT, (w) => times(w.string('p.txt'), 0o100600))).toEqual([FX.OP_UNSUPPORTED, 'Permissions cannot be changed here (files are always rw-r--r--, directories rwxr-xr-x)']);
    expect((await h.storage.stat('tester', 'p.txt'))!.mtime).toBe((t - 60) * 1000);
    expect(await h.status(FXP.SETSTAT, (w) => times(w.string('/')))).toEqual([FX.OP_UNSUPPORTED, "The top directory's time cannot be changed here"]);
    expect(await h.status(FXP.SETSTAT, (w) => times(w.string('missing')))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    h.end();
    await h.done;
  });

  it('a READ answers at most 64 KiB; APPEND writes at the end; FSETSTAT sets a size', async () => {
    const h = harness();
    await h.init();
    await put(h, 'big', new Uint8Array(300_000).fill(7));
    const rd = await h.handle(FXP.OPEN, open('big', FXF.READ));
    const d = await h.ask(FXP.READ, (w) => w.bytes(rd).uint64(0n).uint32(1 << 30));
    expect(d.r.bytes().length).toBe(SFTP_LIMITS.read);
    const ap = await h.handle(FXP.OPEN, open('big', FXF.WRITE | FXF.APPEND));
    await h.status(FXP.WRITE, (w) => w.bytes(ap).uint64(0n).bytes(new Uint8Array([1, 2])));
    await h.status(FXP.CLOSE, (w) => w.bytes(ap));
    const after = (await h.storage.read('tester', 'big'))!;
    expect(after.length).toBe(300_002);
    expect([...after.subarray(299_999)]).toEqual([7, 1, 2]);
    const tr = await h.handle(FXP.OPEN, open('big', FXF.WRITE));
    expect(await h.status(FXP.FSETSTAT, (w) => w.bytes(tr).uint32(1).uint64(5n))).toEqual([FX.OK, 'Success']);
    await h.status(FXP.CLOSE, (w) => w.bytes(tr));
    expect((await h.storage.read('tester', 'big'))!.length).toBe(5);
    expect(await h.status(FXP.SETSTAT, (w) => w.string('big').uint32(1).uint64(2n))).toEqual([FX.OK, 'Success']);
    expect((await h.storage.stat('tester', 'big'))!.size).toBe(2);
    h.end();
    await h.done;
  });

  it('rename and remove; the refusals name what is wrong', async () => {
    const h = harness();
    await h.init();
    await put(h, 'a', new Uint8Array([1]));
    await put(h, 'b', new Uint8Array([2]));
    expect(await h.status(FXP.RENAME, (w) => w.string('a').string('b'))).toEqual([FX.FAILURE, 'File exists']);
    expect(await h.status(FXP.RENAME, (w) => w.string('a').string('c'))).toEqual([FX.OK, 'Success']);
    expect(await h.storage.list('tester')).toEqual(['b', 'c']);
    expect(await h.status(FXP.RENAME, (w) => w.string('nope').string('d'))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.REMOVE, (w) => w.string('/c'))).toEqual([FX.OK, 'Success']);
    expect(await h.status(FXP.REMOVE, (w) => w.string('/c'))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.REMOVE, (w) => w.string('/'))).toEqual([FX.FAILURE, 'Is a directory']);
    expect(await h.status(FXP.OPEN, open('missing', FXF.READ))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.OPEN, open('b', FXF.WRITE | FXF.CREAT | FXF.EXCL))).toEqual([FX.FAILURE, 'File exists']);
    expect(await h.status(FXP.OPEN, open('/sub/dir/x', WRITE_NEW))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.OPEN, open('/', FXF.READ))).toEqual([FX.FAILURE, 'Is a directory']);
    expect(await h.status(FXP.OPENDIR, (w) => w.string('b'))).toEqual([FX.FAILURE, 'Not a directory']);
    expect((await h.status(FXP.SYMLINK, (w) => w.string('b').string('l')))[0]).toBe(FX.OP_UNSUPPORTED);
    expect(await h.status(FXP.EXTENDED, (w) => w.string('copy-data'))).toEqual([FX.OP_UNSUPPORTED, 'Unsupported extension copy-data']);
    expect((await h.status(FXP.EXTENDED, (w) => w.string('posix-rename@openssh.com')))[0]).toBe(FX.BAD_MESSAGE);
    expect(await h.status(99, (w) => w.uint32(1))).toEqual([FX.OP_UNSUPPORTED, 'Unsupported request 99']);
    expect((await h.status(FXP.SETSTAT, (w) => w.string('b').uint32(2).uint32(0).uint32(0)))[0]).toBe(FX.OP_UNSUPPORTED); // owners
    expect(await h.status(FXP.READ, (w) => w.bytes(new Uint8Array([0, 0, 0, 99])).uint64(0n).uint32(1))).toEqual([FX.FAILURE, 'Invalid handle']);
    // A read-only handle takes no writes.
    const ro = await h.handle(FXP.OPEN, open('b', FXF.READ));
    expect((await h.status(FXP.WRITE, (w) => w.bytes(ro).uint64(0n).bytes(new Uint8Array(1))))[0]).toBe(FX.PERMISSION_DENIED);
    h.end();
    expect(await h.done).toBe(0);
  });

  it('directories: MKDIR, files and directories inside, READDIR and STAT of them, RMDIR when empty; the refusals', async () => {
    const h = harness();
    await h.init();
    const t = Date.UTC(2021, 1, 2, 3, 4, 5) / 1000;
    expect(await h.status(FXP.MKDIR, (w) => noAttrs(w.string('/d')))).toEqual([FX.OK, 'Success']);
    expect(await h.status(FXP.MKDIR, (w) => w.string('d/e').uint32(4).uint32(0o700))).toEqual([FX.OK, 'Success']); // any mode asked: 0755 here
    expect(await h.status(FXP.MKDIR, (w) => noAttrs(w.string('d')))).toEqual([FX.FAILURE, 'File exists']);
    expect(await h.status(FXP.MKDIR, (w) => noAttrs(w.string('/')))).toEqual([FX.FAILURE, 'File exists']);
    expect(await h.status(FXP.MKDIR, (w) => noAttrs(w.string('x/y')))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    await put(h, 'd/e/f.txt', new Uint8Array([1, 2, 3]));
    await put(h, 'd/g', new Uint8Array([4]));
    expect(await h.storage.list('tester', 'd')).toEqual(['e', 'g']);
    expect(await h.status(FXP.MKDIR, (w) => noAttrs(w.string('d/g/h')))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.OPEN, open('d/g/h', WRITE_NEW))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.OPEN, open('d/e', WRITE_NEW))).toEqual([FX.FAILURE, 'Is a directory']);
    // STAT of a directory: a directory, with its time; REALPATH through it.
    const st = attrs((await h.ask(FXP.STAT, (w) => w.string('/d/e'))).r);
    expect(st.perm).toBe(0o040755);
    expect(Math.abs(st.mtime! - Date.now() / 1000)).toBeLessThan(60);
    const real = (await h.ask(FXP.REALPATH, (w) => w.string('d/e/../e/./f.txt'))).r;
    expect(real.uint32()).toBe(1);
    expect(real.string()).toBe('/d/e/f.txt');
    // Listing a directory inside: '.', '..' and its entries, each with what it is.
    const dir = await h.handle(FXP.OPENDIR, (w) => w.string('d'));
    const names = await h.ask(FXP.READDIR, (w) => w.bytes(dir));
    const got: [string, string][] = [];
    for (let i = names.r.uint32(); i > 0; i--) {
      const name = names.r.string();
      got.push([name, names.r.string()]);
      attrs(names.r);
    }
    expect(got.map((g) => g[0])).toEqual(['.', '..', 'e', 'g']);
    expect(got[2]![1]).toMatch(/^drwxr-xr-x +1 tester +tester +0 \w{3} [ \d]\d \d\d:\d\d e$/);
    expect(got[3]![1]).toMatch(/^-rw-r--r-- .* g$/);
    // FSETSTAT on the directory's handle and SETSTAT by path set its time (scp -p -r, sftp put -pr).
    expect(await h.status(FXP.FSETSTAT, (w) => w.bytes(dir).uint32(4 | 8).uint32(0o40755).uint32(t).uint32(t))).toEqual([FX.OK, 'Success']);
    expect((await h.storage.stat('tester', 'd'))!.mtime).toBe(t * 1000);
    expect(await h.status(FXP.SETSTAT, (w) => w.string('d/e').uint32(8).uint32(t).uint32(t - 1))).toEqual([FX.OK, 'Success']);
    expect((await h.storage.stat('tester', 'd/e'))!.mtime).toBe((t - 1) * 1000);
    expect((await h.status(FXP.SETSTAT, (w) => w.string('d').uint32(4).uint32(0o40700)))[0]).toBe(FX.OP_UNSUPPORTED);
    expect(await h.status(FXP.SETSTAT, (w) => w.string('d').uint32(1).uint64(0n))).toEqual([FX.FAILURE, 'Is a directory']);
    await h.status(FXP.CLOSE, (w) => w.bytes(dir));
    // What cannot be done to a directory, and RMDIR's refusals.
    expect(await h.status(FXP.REMOVE, (w) => w.string('d/e'))).toEqual([FX.FAILURE, 'Is a directory']);
    expect(await h.status(FXP.RENAME, (w) => w.string('d/e').string('d/x'))).toEqual([FX.OK, 'Success']); // a directory moves whole
    expect(await h.storage.list('tester', 'd/x')).toEqual(['f.txt']);
    expect(await h.status(FXP.RENAME, (w) => w.string('d/x').string('d/e'))).toEqual([FX.OK, 'Success']);
    expect(await h.status(FXP.RENAME, (w) => w.string('d').string('d/e/d'))).toEqual([FX.FAILURE, 'Invalid argument (a directory cannot move into itself)']);
    expect(await h.status(FXP.EXTENDED, (w) => w.string('posix-rename@openssh.com').string('d/e').string('d/g'))).toEqual([FX.FAILURE, 'File exists']);
    expect(await h.status(FXP.RENAME, (w) => w.string('/').string('top'))).toEqual([FX.PERMISSION_DENIED, 'The top directory cannot be moved']);
    expect(await h.status(FXP.RENAME, (w) => w.string('d/g').string('d/e'))).toEqual([FX.FAILURE, 'Is a directory']);
    expect(await h.status(FXP.RENAME, (w) => w.string('d/g').string('nowhere/g'))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.RMDIR, (w) => w.string('d/e'))).toEqual([FX.FAILURE, 'Directory not empty']);
    expect(await h.status(FXP.RMDIR, (w) => w.string('d/g'))).toEqual([FX.FAILURE, 'Not a directory']);
    expect(await h.status(FXP.RMDIR, (w) => w.string('d/missing'))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    expect(await h.status(FXP.RMDIR, (w) => w.string('/'))).toEqual([FX.PERMISSION_DENIED, 'The top directory cannot be removed']);
    expect(await h.status(FXP.OPENDIR, (w) => w.string('d/missing'))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    // A file moves between directories, keeping its time; then the directories go.
    await h.storage.setMtime('tester', 'd/e/f.txt', t * 1000);
    expect(await h.status(FXP.RENAME, (w) => w.string('d/e/f.txt').string('f.txt'))).toEqual([FX.OK, 'Success']);
    expect(await h.storage.stat('tester', 'f.txt')).toEqual({ size: 3, mtime: t * 1000 });
    expect(await h.status(FXP.RMDIR, (w) => w.string('d/e'))).toEqual([FX.OK, 'Success']);
    expect(await h.status(FXP.REMOVE, (w) => w.string('d/g'))).toEqual([FX.OK, 'Success']);
    expect(await h.status(FXP.RMDIR, (w) => w.string('d'))).toEqual([FX.OK, 'Success']);
    expect(await h.storage.list('tester')).toEqual(['f.txt']);
    // Paths past the limits name nothing.
    expect(await h.status(FXP.MKDIR, (w) => noAttrs(w.string(Array(17).fill('z').join('/'))))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    h.end();
    expect(await h.done).toBe(0);
  });

  it('statvfs@openssh.com (sftp df): the quota as a file system of 1 KiB blocks; offered only where the storage knows it', async () => {
    const h = harness(new MemoryStorage({ entries: 10, bytes: 100 * 1024 }));
    const version = await h.init();
    expect(version).toContain('statvfs@openssh.com');
    await put(h, 'a', new Uint8Array(30 * 1024));
    const r = (await h.ask(FXP.EXTENDED, (w) => w.string('statvfs@openssh.com').string('/'))).r;
    const f = Array.from({ length: 11 }, () => Number(r.uint64()));
    // bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax
    expect(f).toEqual([1024, 1024, 100, 70, 70, 10, 9, 9, 0, 0, 255]);
    const folder = harness(new FolderStorage(mkdtempSync(join(tmpdir(), 'edgessh-sftp-'))) as unknown as MemoryStorage);
    expect(await folder.init()).not.toContain('statvfs@openssh.com');
    expect((await folder.status(FXP.EXTENDED, (w) => w.string('statvfs@openssh.com').string('/')))[0]).toBe(FX.OP_UNSUPPORTED);
    h.end();
    folder.end();
  });

  it('over a folder (edgessh serve --data DIR): the file lands in DIR/USER, and lists and stats from there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgessh-sftp-'));
    const h = harness(new FolderStorage(dir) as unknown as MemoryStorage);
    await h.init();
    await put(h, 'on-disk.bin', new Uint8Array(100_000).fill(3));
    expect(readFileSync(join(dir, 'tester', 'on-disk.bin')).length).toBe(100_000);
    expect(attrs((await h.ask(FXP.STAT, (w) => w.string('on-disk.bin'))).r).size).toBe(100_000);
    const d = await h.handle(FXP.OPENDIR, (w) => w.string('.'));
    const names = await h.ask(FXP.READDIR, (w) => w.bytes(d));
    expect(names.r.uint32()).toBe(3);
    h.end();
    expect(await h.done).toBe(0);
  });

  it("OpenSSH's extensions: VERSION offers posix-rename, limits and statvfs; posix-rename replaces; limits are the server's", async () => {
    const h = harness();
    h.raw(new Writer().uint32(5).byte(FXP.INIT).uint32(3).finish());
    const v = (await h.next())!;
    expect(v.r.uint32()).toBe(3);
    const ext: string[] = [];
    while (v.r.remaining) ext.push(`${v.r.string()}=${v.r.string()}`);
    expect(ext).toEqual(['posix-rename@openssh.com=1', 'limits@openssh.com=1', 'statvfs@openssh.com=2']);
    await put(h, 'a', new Uint8Array([1]));
    await put(h, 'b', new Uint8Array([2]));
    expect(await h.status(FXP.EXTENDED, (w) => w.string('posix-rename@openssh.com').string('a').string('b'))).toEqual([FX.OK, 'Success']);
    expect(await h.storage.list('tester')).toEqual(['b']);
    expect(await h.storage.read('tester', 'b')).toEqual(new Uint8Array([1]));
    const l = await h.ask(FXP.EXTENDED, (w) => w.string('limits@openssh.com'));
    expect(l.type).toBe(FXP.EXTENDED_REPLY);
    expect([l.r.uint64(), l.r.uint64(), l.r.uint64(), l.r.uint64()]).toEqual([256n * 1024n, 64n * 1024n, 64n * 1024n, 32n]);
    expect(await h.status(FXP.EXTENDED, (w) => w.string('fsync@openssh.com').bytes(new Uint8Array(4)))).toEqual([FX.OP_UNSUPPORTED, 'Unsupported extension fsync@openssh.com']);
    h.end();
    expect(await h.done).toBe(0);
  });

  it('a path cannot leave the directory: .. stops at its root', async () => {
    const h = harness();
    await h.init();
    await put(h, '../../../passwd', new Uint8Array([1]));
    expect(await h.storage.list('tester')).toEqual(['passwd']);
    expect(await h.status(FXP.OPEN, open('../../etc/passwd', FXF.READ))).toEqual([FX.NO_SUCH_FILE, 'No such file']);
    h.end();
    await h.done;
  });

  it('a malformed request gets BAD_MESSAGE with its id, and the session goes on', async () => {
    const h = harness();
    await h.init();
    expect((await h.status(FXP.OPEN, (w) => w.uint32(1000)))[0]).toBe(FX.BAD_MESSAGE);
    expect((await h.status(FXP.REALPATH, (w) => w.string('.').uint32(7)))[0]).toBe(FX.BAD_MESSAGE);
    expect((await h.ask(FXP.REALPATH, (w) => w.string('.'))).type).toBe(FXP.NAME);
    h.end();
    expect(await h.done).toBe(0);
  });

  it('a file left open for writing when the client goes is stored', async () => {
    const h = harness();
    await h.init();
    const hd = await h.handle(FXP.OPEN, open('left', WRITE_NEW));
    await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(0n).bytes(new Uint8Array([5, 6])));
    h.end();
    expect(await h.done).toBe(0);
    expect(await h.storage.read('tester', 'left')).toEqual(new Uint8Array([5, 6]));
  });
});

describe('sftp: limits', () => {
  it(`a file stops at ${SFTP_LIMITS.file} bytes: the write and the close fail, nothing is stored`, async () => {
    const h = harness();
    await h.init();
    const hd = await h.handle(FXP.OPEN, open('huge', WRITE_NEW));
    await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(BigInt(SFTP_LIMITS.file - 2)).bytes(new Uint8Array(2)));
    expect(await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(BigInt(SFTP_LIMITS.file)).bytes(new Uint8Array(1)))).toEqual([
      FX.FAILURE,
      `File too large (limit ${SFTP_LIMITS.file} bytes)`,
    ]);
    expect((await h.status(FXP.WRITE, (w) => w.bytes(hd).uint64(2n ** 63n).bytes(new Uint8Array(1))))[0]).toBe(FX.FAILURE);
    expect(await h.status(FXP.CLOSE, (w) => w.bytes(hd))).toEqual([FX.FAILURE, `File too large (limit ${SFTP_LIMITS.file} bytes): nothing was stored`]);
    expect(await h.storage.stat('tester', 'huge')).toBeNull();
    // A larger file put in the storage by other means is refused before it is read.
    await h.storage.write('tester', 'outside', new Uint8Array(SFTP_LIMITS.file + 1));
    let reads = 0;
    const read = h.storage.read.bind(h.storage);
    h.storage.read = (u, n) => (reads++, read(u, n));
    expect(await h.status(FXP.OPEN, open('outside', FXF.READ))).toEqual([FX.FAILURE, `File too large (limit ${SFTP_LIMITS.file} bytes)`]);
    expect(reads).toBe(0);
    h.end();
    await h.done;
  });

  it(`at most ${SFTP_LIMITS.handles} handles and ${SFTP_LIMITS.held / 2 ** 20} MiB held open per session`, async () => {
    const h = harness();
    await h.init();
    for (let i = 0; i < SFTP_LIMITS.handles; i++) await h.handle(FXP.OPENDIR, (w) => w.string('/'));
    expect(await h.status(FXP.OPENDIR, (w) => w.string('/'))).toEqual([FX.FAILURE, `Too many open handles (limit ${SFTP_LIMITS.handles})`]);
    h.end();
    await h.done;

    const g = harness();
    await g.init();
    const a = await g.handle(FXP.OPEN, open('a', WRITE_NEW));
    const b = await g.handle(FXP.OPEN, open('b', WRITE_NEW));
    const c = await g.handle(FXP.OPEN, open('c', WRITE_NEW));
    const last = SFTP_LIMITS.file - 1;
    expect((await g.status(FXP.WRITE, (w) => w.bytes(a).uint64(BigInt(last)).bytes(new Uint8Array(1))))[0]).toBe(FX.OK);
    expect((await g.status(FXP.WRITE, (w) => w.bytes(b).uint64(BigInt(last)).bytes(new Uint8Array(1))))[0]).toBe(FX.OK);
    expect(await g.status(FXP.WRITE, (w) => w.bytes(c).uint64(BigInt(last)).bytes(new Uint8Array(1)))).toEqual([FX.FAILURE, 'Too much file data held open in this session']);
    // Closing one gives its room back.
    await g.status(FXP.CLOSE, (w) => w.bytes(a));
    expect((await g.status(FXP.WRITE, (w) => w.bytes(c).uint64(BigInt(last)).bytes(new Uint8Array(1))))[0]).toBe(FX.OK);
    g.end();
    await g.done;
  });

  it('a message over 256 KiB ends the session at once, before its body arrives', async () => {
    const h = harness();
    await h.init();
    h.raw(new Writer().uint32(SFTP_LIMITS.message + 1).byte(FXP.WRITE).finish());
    expect(await h.done).toBe(1);
    expect(h.stderr).toBe(`edgessh sftp: a message of ${SFTP_LIMITS.message + 1} bytes (limit ${SFTP_LIMITS.message})\n`);
  });

  it('anything before INIT, a second INIT, an empty message or input ending inside one ends the session', async () => {
    const cases: [(h: ReturnType<typeof harness>) => Promise<void> | void, string][] = [
      [(h) => h.send(FXP.OPEN, 1), 'edgessh sftp: expected SSH_FXP_INIT, got message 3\n'],
      [async (h) => (await h.init(), h.raw(new Writer().uint32(5).byte(FXP.INIT).uint32(3).finish())), 'edgessh sftp: a second SSH_FXP_INIT\n'],
      [async (h) => (await h.init(), h.raw(new Uint8Array(4))), 'edgessh sftp: an empty message\n'],
      [async (h) => (await h.init(), h.raw(new Writer().uint32(1).byte(FXP.READ).finish())), 'edgessh sftp: message 5 has no request id\n'],
      [async (h) => (await h.init(), h.raw(new Writer().uint32(9).byte(FXP.READ).finish()), h.end()), 'edgessh sftp: the input ended inside a message (5 bytes left)\n'],
    ];
    for (const [act, why] of cases) {
      const h = harness();
      await act(h);
      expect(await h.done).toBe(1);
      expect(h.stderr).toBe(why);
    }
  });
});

describe('sftp: hostile input', () => {
  it('20,000 seeded mutations of valid requests: every one answered or the session ended with a reason; nothing escapes', async () => {
    const base = (id: number) => [
      new Writer().byte(FXP.OPEN).uint32(id).string('f').uint32(WRITE_NEW).uint32(0).finish(),
      new Writer().byte(FXP.WRITE).uint32(id).bytes(new Uint8Array([0, 0, 0, 1])).uint64(3n).bytes(new Uint8Array(40)).finish(),
      new Writer().byte(FXP.READ).uint32(id).bytes(new Uint8Array([0, 0, 0, 1])).uint64(0n).uint32(100).finish(),
      new Writer().byte(FXP.CLOSE).uint32(id).bytes(new Uint8Array([0, 0, 0, 1])).finish(),
      new Writer().byte(FXP.OPENDIR).uint32(id).string('/').finish(),
      new Writer().byte(FXP.READDIR).uint32(id).bytes(new Uint8Array([0, 0, 0, 2])).finish(),
      new Writer().byte(FXP.SETSTAT).uint32(id).string('f').uint32(1).uint64(7n).finish(),
      new Writer().byte(FXP.FSETSTAT).uint32(id).bytes(new Uint8Array([0, 0, 0, 1])).uint32(0x80000001).uint64(9n).uint32(1).string('a').string('b').finish(),
      new Writer().byte(FXP.RENAME).uint32(id).string('f').string('g').finish(),
      new Writer().byte(FXP.REMOVE).uint32(id).string('g').finish(),
      new Writer().byte(FXP.STAT).uint32(id).string('../f').finish(),
      new Writer().byte(FXP.REALPATH).uint32(id).string('a/../../b').finish(),
      new Writer().byte(FXP.MKDIR).uint32(id).string('d').uint32(4).uint32(0o755).finish(),
      new Writer().byte(FXP.OPEN).uint32(id).string('d/f').uint32(WRITE_NEW).uint32(0).finish(),
      new Writer().byte(FXP.OPENDIR).uint32(id).string('d').finish(),
      new Writer().byte(FXP.SETSTAT).uint32(id).string('d').uint32(8).uint32(1).uint32(2).finish(),
      new Writer().byte(FXP.RMDIR).uint32(id).string('d').finish(),
    ];
    let cases = 0;
    for (let seed = 1; cases < 20_000; seed++) {
      const rnd = prng(seed);
      const h = harness();
      await h.init();
      let ended = false;
      for (let i = 0; i < 200 && !ended; i++, cases++) {
        const pool = base(i + 1);
        const m = mutate(rnd, pool[rnd.int(pool.length)]!);
        if (m.length === 0) continue;
        const f = new Uint8Array(4 + m.length);
        f.set(new Writer().uint32(m.length).finish());
        f.set(m, 4);
        const mangled = rnd.int(50) === 0;
        if (mangled) f[rnd.int(4)] = rnd.int(256); // now and then a mangled frame length, and the input ends
        h.raw(f);
        if (mangled) {
          h.end();
          while (await h.next());
          ended = true;
          break;
        }
        const r = await Promise.race([h.next(), h.done.then(() => null)]);
        if (r === null) {
          ended = true;
          expect(h.stderr).toMatch(/^edgessh sftp: /);
        } else expect([FXP.STATUS, FXP.HANDLE, FXP.DATA, FXP.NAME, FXP.ATTRS]).toContain(r.type);
      }
      if (!ended) h.end();
      expect([0, 1]).toContain(await h.done);
      for (const name of await h.storage.list('tester')) expect((await h.storage.stat('tester', name))!.size).toBeLessThanOrEqual(SFTP_LIMITS.file);
    }
  }, 120_000);
});
