// The old scp protocol's remote end (src/apps/scp.ts, `scp -t` / `scp -f`) driven directly: what it
// answers, what it stores and sends, and how it refuses. Real clients (scp -O, pscp -scp) are in
// test/interop/sftp.test.ts.
import { describe, expect, it } from 'vitest';
import { SCP_LIMITS, runScp } from '../../src/apps/scp.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { mutate, prng } from '../helpers/fuzz.ts';

const enc = new TextEncoder();
const cat = (...parts: (string | Uint8Array)[]) => {
  const bs = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : p));
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of bs) (out.set(b, o), (o += b.length));
  return out;
};

/** Runs `scp ARGS` with `input` arriving in pieces of `piece` bytes; returns status, stdout, stderr. */
async function scp(args: string[], input: Uint8Array, storage = new MemoryStorage(), piece = 7) {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < input.length; i += piece) chunks.push(input.slice(i, i + piece));
  let out = new Uint8Array(0);
  const err: string[] = [];
  const status = await runScp(args, {
    user: 'u',
    storage,
    read: async () => chunks.shift() ?? null,
    unread: (b) => void chunks.unshift(b),
    write: async (b) => void (out = cat(out, b)),
    error: async (l) => void err.push(l),
  });
  return { status, out: new TextDecoder().decode(out), bytes: out, err, storage, left: chunks };
}

describe('scp -t (receiving)', () => {
  it('acknowledges, stores each file under its own name in the directory; a T line gives the next file its time', async () => {
    const t0 = Date.now();
    const r = await scp(['-p', '-t', '.'], cat('T1700000000 0 1700000000 0\n', 'C0644 5 a.txt\n', 'hello', '\0', 'C0600 0 empty\n', '\0'));
    expect(r.status).toBe(0);
    expect(r.out).toBe('\0\0\0\0\0\0');
    expect(new TextDecoder().decode((await r.storage.read('u', 'a.txt'))!)).toBe('hello');
    expect((await r.storage.read('u', 'empty'))!.length).toBe(0);
    expect((await r.storage.stat('u', 'a.txt'))!.mtime).toBe(1_700_000_000_000);
    expect((await r.storage.stat('u', 'empty'))!.mtime).toBeGreaterThanOrEqual(t0); // no T line before it
  });

  it('a file target names the file; one in a missing directory, or -d on a file, is refused', async () => {
    const r = await scp(['-t', '/renamed'], cat('C0644 2 whatever\n', 'hi', '\0'));
    expect(r.status).toBe(0);
    expect(await r.storage.list('u')).toEqual(['renamed']);
    const deeper = await scp(['-t', 'a/b'], cat('C0644 2 whatever\n')); // refused: the bytes are not sent
    expect(deeper.out).toBe('\0\x01scp: a/b: No such file or directory\n');
    expect(deeper.status).toBe(1);
    expect((await scp(['-d', '-t', 'x'], new Uint8Array(0))).out).toBe('\x02scp: x: Not a directory\n');
    expect((await scp(['-t', 'a/\0'], new Uint8Array(0))).out).toBe('\x02scp: a/\0: No such file or directory\n');
  });

  it('-r: directories are made (or entered when there), their files stored inside, and -p times kept for both', async () => {
    const storage = new MemoryStorage();
    await storage.mkdir('u', 'have');
    const r = await scp(
      ['-r', '-p', '-t', '.'],
      cat(
        'T1600000000 0 1600000000 0\n', 'D0755 0 top\n',
        'C0644 2 f\n', 'hi', '\0',
        'D0700 0 inner\n', 'T1500000000 0 1500000000 0\n', 'C0644 1 g\n', 'g', '\0', 'E\n',
        'E\n',
        'D0755 0 have\n', 'C0644 1 h\n', 'h', '\0', 'E\n',
      ),
      storage,
    );
    expect(r.status).toBe(0);
    expect(r.out).toBe('\0'.repeat(1 + 2 + 2 + 1 + 1 + 2 + 1 + 1 + 1 + 2 + 1));
    expect(await storage.list('u')).toEqual(['have', 'top']);
    expect(await storage.list('u', 'top')).toEqual(['f', 'inner']);
    expect(new TextDecoder().decode((await storage.read('u', 'top/inner/g'))!)).toBe('g');
    expect((await storage.stat('u', 'top'))!.mtime).toBe(1600000000_000);
    expect((await storage.stat('u', 'top/inner/g'))!.mtime).toBe(1500000000_000);
    expect(await storage.list('u', 'have')).toEqual(['h']);
    // Into a target that is not there yet: the directory sent becomes it (scp -r dir host:new).
    const n = await scp(['-r', '-t', 'new'], cat('D0755 0 whatever\n', 'C0644 1 x\n', 'x', '\0', 'E\n'), storage);
    expect(n.status).toBe(0);
    expect(await storage.list('u', 'new')).toEqual(['x']);
  });

  it('refuses a directory over a file, a bad name and a file over 16 MiB, each with a message the sender shows, and goes on', async () => {
    const storage = new MemoryStorage();
    await storage.write('u', 'plain', enc.encode('p'));
    const r = await scp(['-r', '-t', '.'], cat('D0755 0 plain\n', `C0644 ${SCP_LIMITS.file + 1} big\n`, 'C0644 1 ..\n', 'D0755 0 a/b\n', 'C0644 1 ok\n', 'k', '\0'), storage);
    expect(r.status).toBe(1);
    expect(r.out).toBe(
      '\0' +
        '\x01scp: plain: Not a directory\n' +
        `\x01scp: big: File too large (limit ${SCP_LIMITS.file} bytes)\n` +
        '\x01scp: ..: Invalid file name\n' +
        '\x01scp: a/b: Invalid file name\n' +
        '\0\0',
    );
    expect(await storage.list('u')).toEqual(['ok', 'plain']);
  });

  it('a file the sender could not finish (non-zero end byte) is not kept', async () => {
    const r = await scp(['-t', '.'], cat('C0644 3 part\n', 'abc', '\x01'));
    expect(r.status).toBe(1);
    expect(await r.storage.list('u')).toEqual([]);
  });

  it('protocol errors end the copy with a fatal message: a bad line, a long line, input ending inside a file', async () => {
    for (const [input, why] of [
      [cat('X nonsense\n'), 'unexpected control line "X nonsense"'],
      [cat('C0644 abc f\n'), 'bad C line'],
      [cat('E\n'), 'E without a directory'],
      [cat('D0755 0 d\n', 'Ex\n'), 'bad E line'],
      [cat('D0755 x d\n'), 'bad D line'],
      [cat('C', 'x'.repeat(2000), '\n'), `a control line longer than ${SCP_LIMITS.line} bytes`],
      [cat('C0644 10 f\n', 'abc'), 'input ended inside a file'],
      [cat('C0644 1 f'), 'input ended inside a control line'],
    ] as const) {
      const r = await scp(['-t', '.'], input);
      expect(r.status).toBe(1);
      expect(r.out.endsWith(`\x02scp: protocol error: ${why}\n`)).toBe(true);
      expect(r.err).toEqual([`scp: protocol error: ${why}`]);
    }
  });

  it('usage: neither -t nor -f, both, or no operand', async () => {
    for (const args of [[], ['x'], ['-t', '-f', 'x'], ['-t'], ['-f']]) {
      const r = await scp(args, new Uint8Array(0));
      expect(r.status).toBe(1);
      expect(r.err[0]).toMatch(/^scp: this is the remote end of scp/);
    }
  });
});

describe('scp -f (sending)', () => {
  it('sends each file as C line, bytes and a zero, after each answer; -p sends the time first', async () => {
    const storage = new MemoryStorage();
    await storage.write('u', 'a', enc.encode('xyz'));
    const mtime = Math.floor((await storage.stat('u', 'a'))!.mtime / 1000);
    const r = await scp(['-p', '-f', '/a', 'a'], cat('\0', '\0\0\0', '\0\0\0'), storage);
    expect(r.status).toBe(0);
    expect(r.out).toBe(`T${mtime} 0 ${mtime} 0\nC0644 3 a\nxyz\0`.repeat(2));
  });

  it('-r sends a directory as D, its files and directories, E; -p with times; without -r it is refused', async () => {
    const storage = new MemoryStorage();
    await storage.mkdir('u', 'd');
    await storage.mkdir('u', 'd/e');
    await storage.write('u', 'd/a', enc.encode('A'));
    await storage.write('u', 'd/e/b', enc.encode('BB'));
    await storage.setMtime('u', 'd', 1600000000_000);
    await storage.setMtime('u', 'd/e', 1500000000_000);
    await storage.setMtime('u', 'd/a', 1400000000_000);
    await storage.setMtime('u', 'd/e/b', 1300000000_000);
    const r = await scp(['-r', '-p', '-f', 'd'], cat('\0', '\0'.repeat(20)), storage);
    expect(r.status).toBe(0);
    expect(r.out).toBe(
      'T1600000000 0 1600000000 0\nD0755 0 d\n' +
        'T1400000000 0 1400000000 0\nC0644 1 a\nA\0' +
        'T1500000000 0 1500000000 0\nD0755 0 e\n' +
        'T1300000000 0 1300000000 0\nC0644 2 b\nBB\0' +
        'E\nE\n',
    );
    // The top directory goes by the user's name; a refused D skips all inside it.
    const top = await scp(['-r', '-f', '/'], cat('\0', '\x01scp: u: Permission denied\n'), storage);
    expect(top.out).toBe('D0755 0 u\n');
    expect(top.status).toBe(1);
    const plain = await scp(['-f', 'd'], cat('\0'), storage);
    expect(plain.out).toBe('\x01scp: d: not a regular file\n');
  });

  it('a missing file, the directory itself and a deeper path are each reported; the rest still goes', async () => {
    const storage = new MemoryStorage();
    await storage.write('u', 'b', enc.encode('1'));
    const r = await scp(['-f', 'nope', '.', 'x/y', 'b'], cat('\0', '\0\0'), storage);
    expect(r.status).toBe(1);
    expect(r.out).toBe('\x01scp: nope: No such file or directory\n\x01scp: .: not a regular file\n\x01scp: x/y: No such file or directory\nC0644 1 b\n1\0');
  });

  it('a receiver that refuses a file is shown, and the copy goes on; a fatal answer ends it', async () => {
    const storage = new MemoryStorage();
    await storage.write('u', 'a', enc.encode('1'));
    await storage.write('u', 'b', enc.encode('2'));
    const r = await scp(['-f', 'a', 'b'], cat('\0', '\x01scp: a: Permission denied\n', '\0\0'), storage);
    expect(r.status).toBe(1);
    expect(r.err).toEqual(['scp: a: Permission denied']);
    expect(r.out).toBe('C0644 1 a\nC0644 1 b\n2\0');
    const f = await scp(['-f', 'a', 'b'], cat('\0', '\x02scp: disk full\n'), storage);
    expect(f.status).toBe(1);
    expect(f.err[0]).toBe('scp: disk full');
  });
});

describe('scp: hostile input', () => {
  it('10,000 seeded mutations of a receiving session: it ends with a status, nothing escapes, no file over the limit', async () => {
    const base = cat('T1 0 1 0\n', 'C0644 5 a.txt\n', 'hello', '\0', 'D0755 0 d\n', 'C0644 3 b\n', 'abc', '\0');
    const storage = new MemoryStorage();
    for (let seed = 1; seed <= 10_000; seed++) {
      const rnd = prng(seed);
      const r = await scp(['-t', '.'], mutate(rnd, base), storage, 1 + rnd.int(20));
      expect([0, 1]).toContain(r.status);
    }
    const walk = async (dir: string): Promise<void> => {
      for (const n of await storage.list('u', dir)) {
        const p = dir ? `${dir}/${n}` : n;
        const st = (await storage.stat('u', p))!;
        if (st.dir) await walk(p);
        else expect(st.size).toBeLessThanOrEqual(SCP_LIMITS.file);
      }
    };
    await walk('');
  }, 60_000);
});
