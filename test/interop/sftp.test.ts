// File transfer with real clients, over the demo's SFTP subsystem (OpenSSH's sftp and scp, SFTP being
// scp's protocol since OpenSSH 9.0; paramiko; AsyncSSH; PuTTY's pscp and psftp) and over the old scp
// protocol (scp -O, pscp -scp). Each moves 8 MiB both ways with a checksum.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, parsePrivateKey } from '../../src/crypto/keys/index.ts';
import { havePeer, makeFixture, run, sshArgs, startServer, type Fixture, type RunningServer } from '../helpers/peers.ts';

const PY = '/usr/bin/python3';
let fx: Fixture;
let srv: RunningServer;
let data: Uint8Array;

beforeAll(async () => {
  fx = makeFixture();
  srv = await startServer(fx);
  data = new Uint8Array(8 * 1024 * 1024 + 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13 + (i >> 11)) & 0xff;
  writeFileSync(join(fx.dir, 'up.bin'), data);
});
afterAll(() => srv?.close());

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** OpenSSH options without the destination (sftp and scp take the same -F, -o and -i as ssh). */
const opts = () => sshArgs(fx, srv.port, ['-o', 'LogLevel=ERROR']).slice(0, -1);

describe.skipIf(!havePeer('/usr/bin/sftp'))('OpenSSH sftp and scp', () => {
  it('sftp -b: pwd, put, ls -l, get, rename, rm; mkdir, cd, put -r, rename and get -r of a tree, rmdir, df; a link is refused and named', async () => {
    const batch = join(fx.dir, 'batch');
    const back = join(fx.dir, 'back.bin');
    const tree = join(fx.dir, 'tree');
    mkdirSync(join(tree, 'deep', 'er'), { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'a\n');
    writeFileSync(join(tree, 'deep', 'er', 'b.bin'), data.subarray(0, 100_000));
    const treeBack = join(fx.dir, 'tree-back');
    writeFileSync(
      batch,
      [
        'pwd', `put ${join(fx.dir, 'up.bin')} one.bin`, 'ls -l', `get one.bin ${back}`, 'rename one.bin two.bin', 'ls', 'rm two.bin', 'ls',
        'mkdir sub', 'cd sub', 'pwd', `put ${join(fx.dir, 'up.bin')} in-sub.bin`, 'ls -l', 'cd ..', '-rmdir sub', 'rm sub/in-sub.bin', 'rmdir sub',
        `put -r ${tree} t`, 'rename t t2', 'ls -l t2 t2/deep/er', `get -r t2 ${treeBack}`, '-symlink t2/a.txt link', 'df', 'df -i', '',
      ].join('\n'),
    );
    const r = await run('sftp', [...opts(), '-b', batch, 'tester@edgessh-test'], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain('Remote working directory: /');
    expect(out).toMatch(new RegExp(`-rw-r--r-- +1 tester +tester +${data.length} \\w{3} [ \\d]\\d \\d\\d:\\d\\d one\\.bin`));
    expect(out).toMatch(/sftp> ls\n+two\.bin/);
    expect(out).toContain('Remote working directory: /sub');
    expect(out).toMatch(new RegExp(`-rw-r--r-- +1 tester +tester +${data.length} \\w{3} [ \\d]\\d \\d\\d:\\d\\d in-sub\\.bin`));
    expect(out).toMatch(/drwxr-xr-x +1 tester +tester +0 \w{3} [ \d]\d \d\d:\d\d deep/);
    expect(r.stderr.toString()).toContain('remote rmdir "/sub": Failure'); // not empty yet (sshd says the same)
    // df: the user's quota (256 MiB in 1 KiB blocks, 1,000 files and directories), through statvfs@openssh.com.
    expect(out).toMatch(/sftp> df\n +Size +Used +Avail +\(root\) +%Capacity\n +262144 +\d+ +\d+ +\d+ +\d+%\n/);
    expect(out).toMatch(/sftp> df -i\n +Inodes +Used +Avail +\(root\) +%Capacity\n +1000 +\d+ +\d+ +\d+ +\d+%\n/);
    expect(r.stderr.toString()).toContain('remote symlink file "t2/a.txt" to "/link": Operation unsupported');
    expect(sha256(readFileSync(back))).toBe(sha256(data));
    expect(readFileSync(join(treeBack, 'a.txt'), 'utf8')).toBe('a\n');
    expect(sha256(readFileSync(join(treeBack, 'deep', 'er', 'b.bin')))).toBe(sha256(data.subarray(0, 100_000)));
  }, 180_000);

  it('scp -r -p up and down (SFTP protocol): a tree with its files and times comes back the same', async () => {
    const tree = join(fx.dir, 'scp-tree');
    mkdirSync(join(tree, 'x', 'y'), { recursive: true });
    writeFileSync(join(tree, 'top.txt'), 'top\n');
    writeFileSync(join(tree, 'x', 'y', 'z.bin'), data.subarray(0, 300_000));
    execFileSync('touch', ['-d', '2020-01-02 03:04:05 UTC', join(tree, 'top.txt'), join(tree, 'x', 'y')]);
    const up = await run('scp', ['-r', '-p', ...opts(), tree, 'tester@edgessh-test:scp-tree'], { timeoutMs: 120_000 });
    expect([up.code, up.stderr.toString()]).toEqual([0, '']);
    const back = join(fx.dir, 'scp-tree-back');
    const down = await run('scp', ['-r', '-p', ...opts(), 'tester@edgessh-test:scp-tree', back], { timeoutMs: 120_000 });
    expect([down.code, down.stderr.toString()]).toEqual([0, '']);
    expect(readFileSync(join(back, 'top.txt'), 'utf8')).toBe('top\n');
    expect(sha256(readFileSync(join(back, 'x', 'y', 'z.bin')))).toBe(sha256(data.subarray(0, 300_000)));
    expect(statSync(join(back, 'top.txt')).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    expect(statSync(join(back, 'x', 'y')).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
  }, 180_000);

  it('scp up and down (SFTP protocol): the bytes match; a missing file and a missing directory are refused', async () => {
    const back = join(fx.dir, 'scp-back.bin');
    const up = await run('scp', [...opts(), join(fx.dir, 'up.bin'), 'tester@edgessh-test:via-scp.bin'], { timeoutMs: 120_000 });
    expect(up.stderr.toString()).toBe('');
    expect(up.code).toBe(0);
    const down = await run('scp', [...opts(), 'tester@edgessh-test:via-scp.bin', back], { timeoutMs: 120_000 });
    expect(down.code).toBe(0);
    expect(sha256(readFileSync(back))).toBe(sha256(data));
    const missing = await run('scp', [...opts(), 'tester@edgessh-test:nope.bin', back]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.toString()).toContain('nope.bin: No such file or directory');
    const sub = await run('scp', [...opts(), join(fx.dir, 'up.bin'), 'tester@edgessh-test:/sub/x.bin']);
    expect(sub.code).toBe(1);
    expect(sub.stderr.toString()).toContain('No such file or directory');
  }, 180_000);

  it('scp -O (the old protocol, `exec scp -t` / `scp -f`): up and down, -p keeps the time, -r a tree both ways', async () => {
    const back = join(fx.dir, 'legacy-back.bin');
    const up = await run('scp', ['-O', ...opts(), join(fx.dir, 'up.bin'), 'tester@edgessh-test:legacy.bin'], { timeoutMs: 120_000 });
    expect(up.stderr.toString()).toBe('');
    expect(up.code).toBe(0);
    const down = await run('scp', ['-O', '-p', ...opts(), 'tester@edgessh-test:legacy.bin', back], { timeoutMs: 120_000 });
    expect(down.code).toBe(0);
    expect(sha256(readFileSync(back))).toBe(sha256(data));
    expect(Math.abs(statSync(back).mtimeMs - Date.now())).toBeLessThan(120_000); // the stored file's last write
    const dir = join(fx.dir, 'a-dir');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'x');
    mkdirSync(join(dir, 'inner'), { recursive: true });
    writeFileSync(join(dir, 'inner', 'g'), data.subarray(0, 70_000));
    execFileSync('touch', ['-d', '2020-01-02 03:04:05 UTC', join(dir, 'inner')]);
    const r = await run('scp', ['-O', '-r', '-p', ...opts(), dir, 'tester@edgessh-test:']);
    expect([r.code, r.stderr.toString()]).toEqual([0, '']);
    const treeBack = join(fx.dir, 'a-dir-back');
    const rd = await run('scp', ['-O', '-r', '-p', ...opts(), 'tester@edgessh-test:a-dir', treeBack]);
    expect([rd.code, rd.stderr.toString()]).toEqual([0, '']);
    expect(readFileSync(join(treeBack, 'f'), 'utf8')).toBe('x');
    expect(sha256(readFileSync(join(treeBack, 'inner', 'g')))).toBe(sha256(data.subarray(0, 70_000)));
    expect(statSync(join(treeBack, 'inner')).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    const missing = await run('scp', ['-O', ...opts(), 'tester@edgessh-test:nope.bin', back]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.toString()).toContain('scp: nope.bin: No such file or directory');
  }, 180_000);

  it('the files are the shell\'s files: ls and cat see what scp stored', async () => {
    await run('scp', [...opts(), join(fx.dir, 'batch'), 'tester@edgessh-test:shared.txt']);
    const r = await run('ssh', [...sshArgs(fx, srv.port, ['-o', 'LogLevel=ERROR']), 'cat shared.txt']);
    expect(r.stdout.toString()).toBe(readFileSync(join(fx.dir, 'batch'), 'utf8'));
  }, 120_000);
});

for (const client of ['paramiko', 'asyncssh'] as const) {
  describe.skipIf(!havePeer(`/usr/lib/python3/dist-packages/${client}`))(`${client} SFTP client`, () => {
    it('8 MiB put and get with checksums, stat, listdir, rename, remove; mkdir, a file inside, rmdir', async () => {
      const r = await run(PY, ['test/interop/peers/sftp_client.py', String(srv.port), fx.userKey, client], { timeoutMs: 180_000 });
      // SSH_FX_FAILURE: paramiko shows our message, AsyncSSH the code (4).
      const refused = client === 'paramiko' ? 'Directory not empty' : '4';
      expect(r.stdout.toString()).toBe(`put True\nget True\nlisted True\nremoved True\nin sub True\nrmdir refused ${refused}\nrmdir done True\n`);
    }, 180_000);
  });
}

describe.skipIf(!havePeer('/usr/bin/pscp'))("PuTTY's pscp and psftp", () => {
  const putty = async (tool: 'pscp' | 'psftp', args: string[]) => {
    const key = (await parsePrivateKey(readFileSync(fx.hostKeyFiles.ed25519, 'utf8')))[0]!;
    const ppk = join(fx.dir, 'user.ppk');
    execFileSync('puttygen', [fx.userKey, '-O', 'private', '-o', ppk], { stdio: 'ignore' });
    const common = ['-batch', '-noagent', '-proxycmd', `socat - TCP:127.0.0.1:${srv.port}`, '-hostkey', fingerprint(key.publicKey), '-i', ppk];
    return run(tool, [...common, ...args], { timeoutMs: 120_000 });
  };
  it('pscp (SFTP) up and down 8 MiB with a checksum; psftp -b ls, rename, rm', async () => {
    const back = join(fx.dir, 'pscp-back.bin');
    const up = await putty('pscp', ['-sftp', join(fx.dir, 'up.bin'), 'tester@edgessh-test:via-pscp.bin']);
    expect(up.code).toBe(0);
    const down = await putty('pscp', ['-sftp', 'tester@edgessh-test:via-pscp.bin', back]);
    expect(down.code).toBe(0);
    expect(sha256(readFileSync(back))).toBe(sha256(data));
    const batch = join(fx.dir, 'psftp-batch');
    writeFileSync(batch, 'ls\nmv via-pscp.bin renamed.bin\nrm renamed.bin\nls\n');
    const r = await putty('psftp', ['-b', batch, '-l', 'tester', 'edgessh-test']);
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toMatch(/-rw-r--r-- +1 tester +tester +8388611 \w{3} [ \d]\d \d\d:\d\d via-pscp\.bin/);
    expect(out.split('Listing directory /').pop()).not.toContain('renamed.bin');
  }, 180_000);

  it('pscp -scp (the old protocol) up and down 8 MiB with a checksum', async () => {
    const back = join(fx.dir, 'pscp-scp-back.bin');
    expect((await putty('pscp', ['-scp', join(fx.dir, 'up.bin'), 'tester@edgessh-test:via-pscp-scp.bin'])).code).toBe(0);
    expect((await putty('pscp', ['-scp', 'tester@edgessh-test:via-pscp-scp.bin', back])).code).toBe(0);
    expect(sha256(readFileSync(back))).toBe(sha256(data));
  }, 180_000);
});

describe.skipIf(!havePeer('/usr/bin/scp'))('OpenSSH scp -p', () => {
  it('keeps the file\'s time both ways, over SFTP and the old protocol (-O), without a word on stderr', async () => {
    const src = join(fx.dir, 'timed.txt');
    writeFileSync(src, 'kept in time\n');
    execFileSync('touch', ['-d', '2020-01-02 03:04:05 UTC', src]);
    for (const old of [false, true]) {
      const name = old ? 'timed-o.txt' : 'timed.txt';
      const back = join(fx.dir, `back-${name}`);
      const o = old ? ['-O'] : [];
      const up = await run('scp', [...o, '-p', ...opts(), src, `tester@edgessh-test:${name}`]);
      expect([up.code, up.stderr.toString()]).toEqual([0, '']);
      const down = await run('scp', [...o, '-p', ...opts(), `tester@edgessh-test:${name}`, back]);
      expect([down.code, down.stderr.toString()]).toEqual([0, '']);
      expect(statSync(back).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    }
  }, 60_000);
});
