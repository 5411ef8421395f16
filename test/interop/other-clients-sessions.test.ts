// Dropbear, PuTTY's plink, paramiko, AsyncSSH and ssh2: publickey and password login, exec, 8 MiB with checksum.
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, parsePrivateKey } from '../../src/crypto/keys/index.ts';
import { certifyUserKey, havePeer, makeFixture, run, startServer, type Fixture, type RunningServer } from '../helpers/peers.ts';

const PY = '/usr/bin/python3';
const MiB8 = 8 * 1024 * 1024;
let fx: Fixture;
let srv: RunningServer;
let data: Uint8Array;
let digest: string;

beforeAll(async () => {
  fx = makeFixture();
  srv = await startServer(fx);
  data = Uint8Array.from({ length: MiB8 }, (_, i) => (i * 31) & 0xff);
  digest = createHash('sha256').update(data).digest('hex');
});
afterAll(() => srv?.close());

const proxy = () => `socat - TCP:127.0.0.1:${srv.port}`;

describe.skipIf(!havePeer('/usr/bin/dbclient'))('Dropbear dbclient', () => {
  const dbclient = (args: string[], input?: Uint8Array, env: Record<string, string> = {}) =>
    run('dbclient', ['-y', '-y', '-J', proxy(), '-l', 'tester', ...args], { input, env: { HOME: fx.dir, ...env } });

  it('publickey login, exec and 8 MiB up', async () => {
    const key = join(fx.dir, 'user.dropbear');
    execFileSync('dropbearconvert', ['openssh', 'dropbear', fx.userKey, key], { stdio: 'ignore' });
    const r = await dbclient(['-i', key, 'edgessh-test', 'echo hi']);
    expect(r.stdout.toString()).toBe('hi\n');
    const up = await dbclient(['-i', key, 'edgessh-test', 'sha256sum'], data);
    expect(up.stdout.toString()).toBe(`${digest}  -\n`);
  });

  it('password login', async () => {
    const r = await dbclient(['edgessh-test', 'echo pw'], undefined, { DROPBEAR_PASSWORD: fx.password });
    expect(r.stdout.toString()).toBe('pw\n');
  });
});

describe.skipIf(!havePeer('/usr/bin/plink'))('PuTTY plink', () => {
  const plink = async (args: string[], input?: Uint8Array) => {
    const key = (await parsePrivateKey(readFileSync(fx.hostKeyFiles.ed25519, 'utf8')))[0]!;
    return run('plink', ['-ssh', '-batch', '-noagent', '-proxycmd', proxy(), '-hostkey', fingerprint(key.publicKey), '-l', 'tester', ...args], { input });
  };
  it('publickey login, exec and 8 MiB up', async () => {
    const ppk = join(fx.dir, 'user.ppk');
    execFileSync('puttygen', [fx.userKey, '-O', 'private', '-o', ppk], { stdio: 'ignore' });
    const r = await plink(['-i', ppk, 'edgessh-test', 'echo hi']);
    expect(r.stdout.toString()).toBe('hi\n');
    const up = await plink(['-i', ppk, 'edgessh-test', 'sha256sum'], data);
    expect(up.stdout.toString()).toBe(`${digest}  -\n`);
  });
  it('password login', async () => {
    const r = await plink(['-pw', fx.password, 'edgessh-test', 'echo pw']);
    expect(r.stdout.toString()).toBe('pw\n');
  });
});

describe.skipIf(!havePeer('/usr/lib/python3/dist-packages/paramiko'))('paramiko SSHClient', () => {
  for (const mode of ['key', 'password'] as const) {
    it(`${mode} login, exec and 8 MiB up`, async () => {
      const r = await run(PY, ['test/interop/peers/paramiko_session.py', String(srv.port), 'tester', mode, mode === 'key' ? fx.userKey : fx.password]);
      expect(r.stderr).toBe('');
      expect(r.stdout.toString()).toBe('hi 0\nTrue\n');
    });
  }
});

describe.skipIf(!havePeer('/usr/lib/python3/dist-packages/asyncssh'))('AsyncSSH', () => {
  for (const mode of ['key', 'password'] as const) {
    it(`${mode} login, exec and 8 MiB up`, async () => {
      const r = await run(PY, ['test/interop/peers/asyncssh_session.py', String(srv.port), 'tester', mode, mode === 'key' ? fx.userKey : fx.password]);
      expect(r.stdout.toString()).toBe('hi 0\nTrue\n');
    });
  }
});

describe.skipIf(!havePeer('/usr/lib/python3/dist-packages/paramiko') || !havePeer('/usr/lib/python3/dist-packages/asyncssh'))(
  'OpenSSH user certificates from paramiko and AsyncSSH',
  () => {
    it('each loads KEY-cert.pub beside the key and logs in through a cert-authority line alone (ed25519 and RSA keys)', async () => {
      const fx2 = makeFixture();
      const ca = join(fx2.dir, 'ca');
      execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'ca', '-f', ca]);
      writeFileSync(join(fx2.dir, 'authorized_keys'), `cert-authority ${readFileSync(ca + '.pub', 'utf8')}`);
      for (const key of [fx2.userKey, fx2.userKeyRsa]) certifyUserKey(ca, key, ['-n', 'tester']);
      const srv2 = await startServer(fx2, {}, ['ed25519']);
      try {
        for (const peer of ['paramiko_session.py', 'asyncssh_session.py'])
          for (const key of [fx2.userKey, fx2.userKeyRsa]) {
            const r = await run(PY, [`test/interop/peers/${peer}`, String(srv2.port), 'tester', 'key', key]);
            expect(r.stdout.toString(), `${peer} ${key}: ${r.stderr}`).toBe('hi 0\nTrue\n');
          }
        const accepted = srv2.log.filter((l) => l.startsWith('Accepted publickey')).map((l) => l.split(' ')[2]);
        // AsyncSSH 2.10 names an RSA certificate by its type and signs with rsa-sha2-* (see certificateSignatureAlgorithms).
        expect(accepted).toEqual(['ssh-ed25519-cert-v01@openssh.com', 'rsa-sha2-512-cert-v01@openssh.com', 'ssh-ed25519-cert-v01@openssh.com', 'ssh-rsa-cert-v01@openssh.com']);
      } finally {
        await srv2.close();
      }
    });
  },
);

describe.skipIf(!havePeer('/usr/lib/python3/dist-packages/asyncssh'))('AsyncSSH and host certificates', () => {
  it('with only @cert-authority in its known_hosts, AsyncSSH accepts a host certificate of a trusted CA and refuses another CA', async () => {
    const fx2 = makeFixture();
    const ca = join(fx2.dir, 'host_ca');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'host ca', '-f', ca]);
    execFileSync('ssh-keygen', ['-q', '-s', ca, '-h', '-I', 'host', '-n', 'edgessh-test', fx2.hostKeyFiles.ed25519 + '.pub']);
    const srv2 = await startServer(fx2, { hostCertificates: readFileSync(fx2.hostKeyFiles.ed25519 + '-cert.pub', 'utf8') }, ['ed25519']);
    const trusting = join(fx2.dir, 'kh_ca');
    writeFileSync(trusting, `@cert-authority edgessh-test ${readFileSync(ca + '.pub', 'utf8')}`);
    const other = join(fx2.dir, 'kh_other');
    writeFileSync(other, `@cert-authority edgessh-test ${readFileSync(fx2.wrongKey + '.pub', 'utf8')}`);
    try {
      const as = (kh: string) => run(PY, ['test/interop/peers/asyncssh_session.py', String(srv2.port), 'tester', 'key', fx2.userKey], { env: { EDGESSH_KNOWN_HOSTS: kh } });
      expect((await as(trusting)).stdout.toString()).toBe('hi 0\nTrue\n');
      expect(srv2.conns.at(-1)!.transport.negotiated!.hostKey).toBe('ssh-ed25519-cert-v01@openssh.com');
      const refused = await as(other);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('Host CA key is not trusted');
    } finally {
      await srv2.close();
    }
  });
});

describe('ssh2 (npm) client', () => {
  const connect = (auth: { privateKey?: Buffer; password?: string }) =>
    new Promise<Client>((resolve, reject) => {
      const p = spawn('socat', ['-', `TCP:127.0.0.1:${srv.port}`]);
      const c = new Client();
      c.on('ready', () => resolve(c)).on('error', reject);
      c.connect({ sock: Duplex.from({ readable: p.stdout, writable: p.stdin }), username: 'tester', ...auth, readyTimeout: 20_000 });
      c.on('close', () => p.kill());
    });
  const exec = (c: Client, cmd: string, input?: Uint8Array) =>
    new Promise<{ out: Buffer; code: number }>((resolve, reject) => {
      c.exec(cmd, (err, ch) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        let code = -1;
        ch.on('data', (d: Buffer) => out.push(d));
        ch.on('exit', (n: number) => (code = n));
        ch.on('close', () => resolve({ out: Buffer.concat(out), code }));
        if (input) ch.end(Buffer.from(input));
        else ch.end();
      });
    });
  for (const mode of ['key', 'password'] as const) {
    it(`${mode} login, exec and 8 MiB up`, async () => {
      const c = await connect(mode === 'key' ? { privateKey: readFileSync(fx.userKey) } : { password: fx.password });
      try {
        expect(await exec(c, 'echo hi')).toEqual({ out: Buffer.from('hi\n'), code: 0 });
        const up = await exec(c, 'sha256sum', data);
        expect(up.out.toString()).toBe(`${digest}  -\n`);
      } finally {
        c.end();
      }
    });
  }
});
