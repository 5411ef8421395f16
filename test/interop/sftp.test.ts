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
  it('sftp -b: pwd, put, ls -l, get, rename, rm; mkdir is refused and named', async () => {
    const batch = join(fx.dir, 'batch');
    const back = join(fx.dir, 'back.bin');
    writeFileSync(batch, ['pwd', `put ${join(fx.dir, 'up.bin')} one.bin`, 'ls -l', `get one.bin ${back}`, 'rename one.bin two.bin', 'ls', 'rm two.bin', 'ls', '-mkdir sub', ''].join('\n'));
    const r = await run('sftp', [...opts(), '-b', batch, 'tester@edgessh-test'], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain('Remote working directory: /');
    expect(out).toMatch(new RegExp(`-rw-r--r-- +1 tester +tester +${data.length} \\w{3} [ \\d]\\d \\d\\d:\\d\\d one\\.bin`));
    expect(out).toMatch(/sftp> ls\n+two\.bin/);
    expect(r.stderr.toString()).toContain('remote mkdir "/sub": Operation unsupported');
    expect(sha256(readFileSync(back))).toBe(sha256(data));
  }, 180_000);

  it('scp up and down (SFTP protocol): the bytes match; a missing file and a subdirectory are refused', async () => {
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

  it('scp -O (the old protocol, `exec scp -t` / `scp -f`): up and down, -p keeps the time, a directory is refused', async () => {
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
    const r = await run('scp', ['-O', '-r', ...opts(), dir, 'tester@edgessh-test:']);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toContain('scp: a-dir: directories are not supported here');
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
    it('8 MiB put and get with checksums, stat, listdir, rename, remove; mkdir refused', async () => {
      const r = await run(PY, ['test/interop/peers/sftp_client.py', String(srv.port), fx.userKey, client], { timeoutMs: 180_000 });
      // SSH_FX_OP_UNSUPPORTED: paramiko shows our message, AsyncSSH the code (8).
      const refused = client === 'paramiko' ? 'The demo storage has no subdirectories' : '8';
      expect(r.stdout.toString()).toBe(`put True\nget True\nlisted True\nremoved True\nmkdir refused ${refused}\n`);
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
