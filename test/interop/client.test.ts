// Our SSH client (src/client) in Node against real servers: Debian's sshd 9.2 for every algorithm both
// sides have, sshd through `edgessh websockify`, and the edgessh server.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import net from 'node:net';
import { Duplex } from 'node:stream';
import WebSocket, { createWebSocketStream } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClientSocket } from '../../src/io/node-net.ts';
import { parsePrivateKey, fingerprint } from '../../src/crypto/keys/index.ts';
import type { ClientOptions, SshClient } from '../../src/client/client.ts';
import type { PrivateKey, PublicKey } from '../../src/crypto/types.ts';
import { certifiedHostKeys, hostCertificateRefusal, parseCertificate } from '../../src/auth/certificate.ts';
import { SERVER_HOST_KEY_ALGORITHMS } from '../../src/crypto/registry.ts';
import { fixedPorts, havePeer, makeFixture, startServer, startSshd, waitPort, type Fixture, type RunningServer } from '../helpers/peers.ts';

const base = fixedPorts(3);
const SSHD = base;
const WSOCK = base + 1;
const isRoot = process.getuid?.() === 0;
const dec = new TextDecoder();

let fx: Fixture;
let userKey: PrivateKey;
let hostKeys: Map<string, PublicKey>;

beforeAll(async () => {
  fx = makeFixture();
  userKey = (await parsePrivateKey(readFileSync(fx.userKey, 'utf8')))[0]!;
  hostKeys = new Map();
  for (const f of Object.values(fx.hostKeyFiles)) {
    const [k] = await parsePrivateKey(readFileSync(f, 'utf8'));
    hostKeys.set(fingerprint(k!.publicKey), k!.publicKey);
  }
});

/** known_hosts: only the fixture's host keys are trusted. */
const verifyHostKey = (key: PublicKey) => hostKeys.has(fingerprint(key));

async function login(port: number, user: string, o: Partial<ClientOptions> = {}, sock?: net.Socket): Promise<SshClient> {
  const c = connectClientSocket({ username: user, verifyHostKey, privateKeys: [userKey], ...o }, sock ?? net.connect(port, '127.0.0.1'));
  await c.ready;
  return c;
}

describe.skipIf(!havePeer('/usr/sbin/sshd') || !isRoot)('our client against Debian sshd 9.2', () => {
  let sshd: { close(): void };
  beforeAll(async () => {
    sshd = await startSshd(fx, SSHD, [
      'RekeyLimit 1M', 'HostKeyAlgorithms +ssh-rsa', 'KexAlgorithms +diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1',
      'MACs +hmac-sha1,hmac-sha1-etm@openssh.com',
    ]);
  });
  afterAll(() => sshd?.close());

  const matrix: [string, Partial<Record<'kex' | 'hostKey' | 'cipher' | 'mac', string[]>>][] = [
    ...['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521',
      'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group16-sha512', 'diffie-hellman-group18-sha512', 'diffie-hellman-group14-sha256',
    ].map((k) => [`kex ${k}`, { kex: [k] }] as [string, { kex: string[] }]),
    ...['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'].map(
      (h) => [`host key ${h}`, { hostKey: [h] }] as [string, { hostKey: string[] }],
    ),
    ...['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'].map(
      (c) => [`cipher ${c}`, { cipher: [c] }] as [string, { cipher: string[] }],
    ),
    ...['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'].map(
      (m) => [`aes128-ctr + ${m}`, { cipher: ['aes128-ctr'], mac: [m] }] as [string, { cipher: string[]; mac: string[] }],
    ),
    // The legacy algorithms (off unless configured) work in the client role too.
    ...['diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1', 'diffie-hellman-group1-sha1'].map((k) => [`legacy kex ${k}`, { kex: [k] }] as [string, { kex: string[] }]),
    ['legacy host key ssh-rsa', { hostKey: ['ssh-rsa'] }],
    ...['hmac-sha1-etm@openssh.com', 'hmac-sha1'].map((m) => [`legacy aes128-ctr + ${m}`, { cipher: ['aes128-ctr'], mac: [m] }] as [string, { cipher: string[]; mac: string[] }]),
  ];
  for (const [label, algorithms] of matrix) {
    it(label, async () => {
      let negotiated: unknown = null;
      const c = await login(SSHD, 'root', {
        algorithms,
        onEvent: (e) => e.type === 'kex-done' && (negotiated = e.negotiated),
      });
      const r = await c.run('echo ok; exit 4');
      expect(dec.decode(r.stdout)).toBe('ok\n');
      expect(r.code).toBe(4);
      const n = negotiated as Record<string, string>;
      const want = Object.values(algorithms)[0]![0]!;
      expect(JSON.stringify(n)).toContain(want);
      c.end();
    });
  }

  it('8 MiB up and down with sshd rekeying every 1 MiB (server-initiated rekeys)', async () => {
    const c = await login(SSHD, 'root');
    const data = Uint8Array.from({ length: 8 << 20 }, (_, i) => (i * 13) & 0xff);
    const up = await c.run('sha256sum', data);
    expect(dec.decode(up.stdout)).toBe(`${createHash('sha256').update(data).digest('hex')}  -\n`);
    const down = await c.run(`head -c ${8 << 20} /dev/zero`);
    expect(down.stdout.length).toBe(8 << 20);
    expect(c.transport.kexCount).toBeGreaterThan(8);
    c.end();
  }, 120_000);

  it('a pty and window-change', async () => {
    const c = await login(SSHD, 'root');
    const ch = await c.exec('stty size; read x; stty size', { pty: { cols: 91, rows: 37 } });
    let out = '';
    const w = ch.stdin.getWriter();
    for (const r = ch.stdout.getReader(); ; ) {
      const { done, value } = await r.read();
      if (done) break;
      out += dec.decode(value);
      if (out.includes('37 91') && !out.includes('go')) {
        ch.resize(120, 40); // window-change, then let the command go on
        await w.write(new TextEncoder().encode('go\r'));
        out += 'go';
      }
    }
    out = out.replace(/go(\r?\n)?/g, '');
    expect(out.replace(/\r/g, '')).toBe('37 91\n40 120\n');
    c.end();
  }, 60_000);

  it('an untrusted host key is refused before authentication', async () => {
    const c = connectClientSocket({ username: 'root', verifyHostKey: () => false, privateKeys: [userKey] }, net.connect(SSHD, '127.0.0.1'));
    await expect(c.ready).rejects.toThrow(/host key/i);
  });

  it('a key the server does not know gives a clear authentication error', async () => {
    const [wrong] = await parsePrivateKey(readFileSync(fx.wrongKey, 'utf8'));
    const c = connectClientSocket({ username: 'root', verifyHostKey, privateKeys: [wrong!] }, net.connect(SSHD, '127.0.0.1'));
    await expect(c.ready).rejects.toThrow(/authentication failed \(tried publickey ssh-ed25519; the server accepts publickey\)/);
  });

  it("a host certificate (sshd's HostCertificate): trusted through its CA for the names it lists, refused for another name or CA", async () => {
    const hostCa = join(fx.dir, 'client_host_ca');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ecdsa', '-C', 'host ca', '-f', hostCa]);
    execFileSync('ssh-keygen', ['-q', '-s', hostCa, '-h', '-I', 'sshd host', '-n', 'edgessh-test,*.example.org', '-V', '-5m:+1h', fx.hostKeyFiles.ed25519 + '.pub']);
    const port = fixedPorts(8);
    const certSshd = await startSshd(fx, port, [`HostCertificate ${fx.hostKeyFiles.ed25519}-cert.pub`]);
    const [ca] = await parsePrivateKey(readFileSync(hostCa, 'utf8'));
    const [otherCa] = await parsePrivateKey(readFileSync(fx.wrongKey, 'utf8'));
    try {
      const why: string[] = [];
      const viaCa = (hostname: string, trusted = ca!.publicKey) => ({
        algorithms: { hostKey: [...SERVER_HOST_KEY_ALGORITHMS] },
        verifyHostKey: (key: PublicKey) => {
          const refused = hostCertificateRefusal(key, { hostname, trustedCas: [trusted] });
          if (refused) why.push(refused);
          return refused === null;
        },
      });
      let negotiated: Record<string, string> = {};
      const c = await login(port, 'root', { ...viaCa('edgessh-test'), onEvent: (e) => e.type === 'kex-done' && (negotiated = e.negotiated as never) });
      expect(negotiated.hostKey).toBe('ssh-ed25519-cert-v01@openssh.com');
      expect(dec.decode((await c.run('echo certified')).stdout)).toBe('certified\n');
      c.end();
      (await login(port, 'root', viaCa('db.example.org'))).end();
      await expect(login(port, 'root', viaCa('elsewhere'))).rejects.toThrow(/host key verification failed/);
      await expect(login(port, 'root', viaCa('edgessh-test', otherCa!.publicKey))).rejects.toThrow(/host key verification failed/);
      expect(why).toEqual(['Certificate invalid: name is not a listed principal', expect.stringMatching(/^No matching CA found: ecdsa-sha2-nistp256 CA SHA256:\S+ is not trusted for edgessh-test$/)]);
      // A client that offers only plain host key algorithms (the default) still gets the plain key.
      let plain: PublicKey | null = null;
      (await login(port, 'root', { verifyHostKey: (k) => ((plain = k), verifyHostKey(k)) })).end();
      expect(plain!.type).toBe('ssh-ed25519');
    } finally {
      certSshd.close();
    }
  });

  it('through edgessh websockify: our client over a WebSocket reaches sshd', async () => {
    const ws = spawn('node', ['bin/edgessh.mjs', 'websockify', '--listen', `127.0.0.1:${WSOCK}`, '--to', `127.0.0.1:${SSHD}`, '--quiet'], { stdio: 'ignore' });
    try {
      await waitPort(WSOCK);
      const sock = await new Promise<WebSocket>((res, rej) => {
        const w = new WebSocket(`ws://127.0.0.1:${WSOCK}/`, { perMessageDeflate: false });
        w.once('open', () => res(w));
        w.once('error', rej);
      });
      const c = await login(0, 'root', {}, createWebSocketStream(sock) as Duplex as unknown as net.Socket);
      expect(dec.decode((await c.run('echo over-websocket')).stdout)).toBe('over-websocket\n');
      c.end();
    } finally {
      ws.kill();
    }
  });
});

describe.skipIf(!havePeer('/usr/sbin/dropbear') || !isRoot)('our client against the Dropbear server', () => {
  const port = base + 300;
  const user = 'edgesshdb';
  const home = `/tmp/edgessh-dropbear-home-${process.pid}`;
  let proc: ReturnType<typeof spawn>;
  beforeAll(async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdirSync, copyFileSync, rmSync } = await import('node:fs');
    // Dropbear reads ~user/.ssh/authorized_keys; a throwaway user whose home is a temporary directory.
    try {
      execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', user], { stdio: 'ignore' });
    } catch {
      execFileSync('usermod', ['-d', home, user], { stdio: 'ignore' });
    }
    rmSync(home, { recursive: true, force: true });
    mkdirSync(`${home}/.ssh`, { recursive: true });
    copyFileSync(`${fx.dir}/authorized_keys`, `${home}/.ssh/authorized_keys`);
    execFileSync('chown', ['-R', `${user}:`, home]);
    execFileSync('chmod', ['700', `${home}/.ssh`]);
    const hk = `${fx.dir}/host.dropbear`;
    execFileSync('dropbearconvert', ['openssh', 'dropbear', fx.hostKeyFiles.ed25519, hk], { stdio: 'ignore' });
    proc = spawn('dropbear', ['-F', '-E', '-s', '-r', hk, '-p', `127.0.0.1:${port}`, '-P', `${fx.dir}/dropbear.pid`], { stdio: 'ignore' });
    await waitPort(port);
  });
  afterAll(() => proc?.kill());

  for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes256-ctr']) {
    it(`publickey login, exec and 4 MiB up with ${cipher}`, async () => {
      const c = await login(port, user, { algorithms: { cipher: [cipher] } });
      const r = await c.run('echo from-dropbear; exit 5');
      expect(dec.decode(r.stdout)).toBe('from-dropbear\n');
      expect(r.code).toBe(5);
      const data = Uint8Array.from({ length: 4 << 20 }, (_, i) => (i * 17) & 0xff);
      const up = await c.run('sha256sum', data);
      expect(dec.decode(up.stdout)).toBe(`${createHash('sha256').update(data).digest('hex')}  -\n`);
      c.end();
    }, 60_000);
  }
});

describe('our client against the edgessh server', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer(fx);
  });
  afterAll(() => srv?.close());

  it('publickey, password and keyboard-interactive logins; exec; 8 MiB up', async () => {
    const k = await login(srv.port, 'tester');
    expect(dec.decode((await k.run('whoami')).stdout)).toBe('tester\n');
    const data = new Uint8Array(8 << 20).fill(7);
    expect(dec.decode((await k.run('wc -c', data)).stdout).trim()).toBe(String(8 << 20));
    k.end();
    const p = await login(srv.port, 'alice', { privateKeys: [], password: fx.password });
    expect(dec.decode((await p.run('whoami')).stdout)).toBe('alice\n');
    p.end();
    const prompts: string[] = [];
    const ki = await login(srv.port, 'bob', {
      privateKeys: [],
      keyboardInteractive: (_n, _i, ps) => (prompts.push(...ps.map((x) => x.prompt)), ps.map(() => fx.password)),
    });
    expect(prompts).toEqual(['Password: ']);
    expect((await ki.run('exit 9')).code).toBe(9);
    ki.end();
  });

  it('host certificates of ed25519, ECDSA and RSA host keys (certifiedHostKeys, as --host-certificate) pass hostCertificateRefusal; a user certificate posing as a host key, or a tampered CA signature, is refused by the transport before verifyHostKey', async () => {
    const hostCa = join(fx.dir, 'client_host_ca2');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'host ca', '-f', hostCa]);
    const types = ['ed25519', 'ecdsa384', 'rsa'] as const;
    for (const t of types) execFileSync('ssh-keygen', ['-q', '-s', hostCa, '-h', '-I', `edge ${t}`, '-n', 'edgessh-test', fx.hostKeyFiles[t] + '.pub']);
    const certs = types.map((t) => readFileSync(`${fx.hostKeyFiles[t]}-cert.pub`, 'utf8')).join('');
    const certSrv = await startServer(fx, { hostCertificates: certs }, [...types]);
    const [ca] = await parsePrivateKey(readFileSync(hostCa, 'utf8'));
    try {
      for (const [alg, want] of [['ssh-ed25519-cert-v01@openssh.com'], ['ecdsa-sha2-nistp384-cert-v01@openssh.com'], ['rsa-sha2-512-cert-v01@openssh.com', 'rsa-sha2-512-cert-v01@openssh.com']] as [string, string?][]) {
        let negotiated: Record<string, string> = {};
        const c = await login(certSrv.port, 'tester', {
          algorithms: { hostKey: [alg] },
          verifyHostKey: (key) => hostCertificateRefusal(key, { hostname: 'edgessh-test', trustedCas: [ca!.publicKey] }) === null,
          onEvent: (e) => e.type === 'kex-done' && (negotiated = e.negotiated as never),
        });
        expect(negotiated.hostKey).toBe(want ?? alg);
        expect(dec.decode((await c.run('whoami')).stdout)).toBe('tester\n');
        c.end();
      }
    } finally {
      await certSrv.close();
    }
    // A server presenting a user certificate as its host key: the transport refuses it before verifyHostKey.
    execFileSync('ssh-keygen', ['-q', '-s', hostCa, '-I', 'not a host', '-n', 'edgessh-test', fx.hostKeyFiles.ecdsa256 + '.pub']);
    const wrongKind = readFileSync(`${fx.hostKeyFiles.ecdsa256}-cert.pub`, 'utf8');
    expect(() => certifiedHostKeys([], wrongKind)).toThrow(/is a user certificate/);
    const [hostKey] = await parsePrivateKey(readFileSync(fx.hostKeyFiles.ecdsa256, 'utf8'));
    const userCert = parseCertificate(Uint8Array.from(atob(wrongKind.split(' ')[1]!), (ch) => ch.charCodeAt(0)));
    const lying = await startServer(fx, { hostKeys: [{ publicKey: userCert, comment: '', sign: (a, d) => hostKey!.sign(a.replace('-cert-v01@openssh.com', ''), d) }] }, []);
    try {
      let asked = false;
      const c = connectClientSocket(
        { username: 'tester', verifyHostKey: () => (asked = true), privateKeys: [userKey], algorithms: { hostKey: ['ecdsa-sha2-nistp256-cert-v01@openssh.com'] } },
        net.connect(lying.port, '127.0.0.1'),
      );
      await expect(c.ready).rejects.toThrow(/server sent a user certificate as its host key/);
      expect(asked).toBe(false);
    } finally {
      await lying.close();
    }
    // A host certificate whose CA signature was tampered with (its last byte): refused the same way.
    execFileSync('ssh-keygen', ['-q', '-s', hostCa, '-h', '-I', 'tampered', '-n', 'edgessh-test', fx.hostKeyFiles.ecdsa256 + '.pub']);
    const blob = Uint8Array.from(atob(readFileSync(`${fx.hostKeyFiles.ecdsa256}-cert.pub`, 'utf8').split(' ')[1]!), (ch) => ch.charCodeAt(0));
    blob[blob.length - 1]! ^= 1;
    const tampered = parseCertificate(blob);
    const forger = await startServer(fx, { hostKeys: [{ publicKey: tampered, comment: '', sign: (a, d) => hostKey!.sign(a.replace('-cert-v01@openssh.com', ''), d) }] }, []);
    try {
      const c = connectClientSocket(
        { username: 'tester', verifyHostKey: () => true, privateKeys: [userKey], algorithms: { hostKey: ['ecdsa-sha2-nistp256-cert-v01@openssh.com'] } },
        net.connect(forger.port, '127.0.0.1'),
      );
      await expect(c.ready).rejects.toThrow(/server host certificate's signature does not verify/);
    } finally {
      await forger.close();
    }
  });

  it('mlkem768x25519-sha256 and a client-initiated rekey', async () => {
    const c = await login(srv.port, 'tester', { algorithms: { kex: ['mlkem768x25519-sha256'] } });
    c.transport.rekey();
    expect(dec.decode((await c.run('echo after-rekey')).stdout)).toBe('after-rekey\n');
    expect(c.transport.kexCount).toBe(2);
    c.end();
  });

  it('a signal reaches the session, and exit-signal comes back', async () => {
    const sig = await startServer(fx, {
      onSession: (s) =>
        new Promise<void>((res) =>
          s.onSignal((name) => {
            void s.exit({ signal: name });
            res();
          }),
        ),
    });
    try {
      const c = await login(sig.port, 'tester');
      const ch = await c.exec('wait for a signal');
      ch.signal('TERM');
      expect(await ch.exit).toEqual({ code: null, signal: 'TERM' });
      c.end();
    } finally {
      await sig.close();
    }
  });

  it('a wrong password fails with a readable error', async () => {
    const c = connectClientSocket({ username: 'x', verifyHostKey, password: 'wrong' }, net.connect(srv.port, '127.0.0.1'));
    await expect(c.ready).rejects.toThrow(/authentication failed/);
  });
});
