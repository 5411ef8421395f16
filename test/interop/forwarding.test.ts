// Port forwarding with real clients. Local (direct-tcpip): OpenSSH's -W, -L and -J (through edgessh serve's
// code path to Debian's sshd), paramiko's open_channel, AsyncSSH's open_connection; targets outside
// PermitOpen, a refused connection, and authorized_keys' restrict / permitopen are refused in OpenSSH's
// words. Remote (tcpip-forward, forwarded-tcpip): OpenSSH's -R with an allocated port, and its refusals;
// AsyncSSH's forward_remote_port and its cancel.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoPolicy, parsePermitListen, parsePermitOpen } from '../../src/apps/demo.ts';
import { connectTcpForward, listenTcpForward } from '../../src/io/node-net.ts';
import { fixedPorts, havePeer, makeFixture, run, sshArgs, startServer, startSshd, waitPort, type Fixture, type RunningServer } from '../helpers/peers.ts';

let fx: Fixture;
let srv: RunningServer;
let echo: net.Server;
let echoPort: number;
/** A port nothing listens on (bound once, then closed). */
let closedPort: number;
const sshdPort = fixedPorts(7);
let sshd: { close(): void } | null = null;
/** What the demo policy logged (refused forwards). */
const policyLog: string[] = [];

const listen = (s: net.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

beforeAll(async () => {
  fx = makeFixture();
  echo = net.createServer((s) => s.pipe(s));
  echoPort = await listen(echo);
  const tmp = net.createServer();
  closedPort = await listen(tmp);
  await new Promise((r) => tmp.close(r));
  // The ed25519 key may forward wherever the server permits; the RSA key is `restrict`ed; the ECDSA key
  // may reach only port 1.
  const pub = (f: string) => readFileSync(f + '.pub', 'utf8').trim();
  const keys = [pub(fx.userKey), `restrict ${pub(fx.userKeyRsa)}`, `permitopen="127.0.0.1:1",permitlisten="5999" ${pub(fx.userKeyEcdsa)}`].join('\n');
  writeFileSync(join(fx.dir, 'authorized_keys'), pub(fx.userKey) + '\n'); // sshd's (for -J): the ed25519 key
  const policy = makeDemoPolicy({
    authorizedKeys: keys,
    permitOpen: parsePermitOpen(`127.0.0.1:${echoPort} 127.0.0.1:${closedPort} 127.0.0.1:${sshdPort} 127.0.0.1:1`),
    permitListen: parsePermitListen('*'),
    log: (l) => policyLog.push(l),
  });
  srv = await startServer(fx, {
    authenticate: policy.authenticate,
    authMethods: policy.methods,
    allowForward: policy.allowForward,
    connectForward: connectTcpForward,
    allowListen: policy.allowListen,
    listenForward: listenTcpForward,
  });
  if (havePeer('/usr/sbin/sshd')) sshd = await startSshd(fx, sshdPort);
});
afterAll(async () => {
  sshd?.close();
  echo?.close();
  await srv?.close();
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ssh = (extra: string[], key = fx.userKey) => sshArgs(fx, srv.port, extra, key);

describe('OpenSSH port forwarding', () => {
  it('ssh -W: 8 MiB through to a TCP echo server and back, unchanged', async () => {
    const data = new Uint8Array(8 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 29 + (i >> 13)) & 0xff;
    const r = await run('ssh', ssh(['-W', `127.0.0.1:${echoPort}`]), { input: data, timeoutMs: 120_000 });
    expect(r.stderr.toString()).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(sha256(r.stdout)).toBe(sha256(data));
  }, 180_000);

  it('ssh -L: two connections through the local port at once', async () => {
    const localPort = fixedPorts(7) + 1;
    const proc = spawn('ssh', ssh(['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${localPort}:127.0.0.1:${echoPort}`]), { stdio: 'ignore' });
    try {
      await waitPort(localPort);
      const roundTrip = (text: string) =>
        new Promise<string>((resolve, reject) => {
          const s = net.connect(localPort, '127.0.0.1');
          let got = '';
          s.on('data', (d) => (got += d.toString()));
          s.on('end', () => resolve(got));
          s.on('error', reject);
          s.end(text);
        });
      expect(await Promise.all([roundTrip('one\n'), roundTrip('two\n'.repeat(10_000))])).toEqual(['one\n', 'two\n'.repeat(10_000)]);
    } finally {
      proc.kill();
    }
  }, 60_000);

  it('a target outside PermitOpen: "administratively prohibited", logged as sshd logs it', async () => {
    const r = await run('ssh', ssh(['-W', '127.0.0.1:2']), { input: new Uint8Array(0) });
    expect(r.code).toBe(255);
    expect(r.stderr.toString()).toContain('open failed: administratively prohibited: open failed');
    expect(policyLog.join('\n')).toMatch(/refused local port forward: originator \S+ port \d+, target 127\.0\.0\.1 port 2$/m);
  }, 60_000);

  it('a permitted target that refuses the connection: "connect failed: Connection refused"', async () => {
    const r = await run('ssh', ssh(['-W', `127.0.0.1:${closedPort}`]), { input: new Uint8Array(0) });
    expect(r.code).toBe(255);
    expect(r.stderr.toString()).toContain('open failed: connect failed: Connection refused');
  }, 60_000);

  it('authorized_keys: a restrict key may not forward; a permitopen key only to its target', async () => {
    const restricted = await run('ssh', ssh(['-W', `127.0.0.1:${echoPort}`], fx.userKeyRsa), { input: new Uint8Array(0) });
    expect(restricted.stderr.toString()).toContain('administratively prohibited');
    const other = await run('ssh', ssh(['-W', `127.0.0.1:${echoPort}`], fx.userKeyEcdsa), { input: new Uint8Array(0) });
    expect(other.stderr.toString()).toContain('administratively prohibited');
    const own = await run('ssh', ssh(['-W', '127.0.0.1:1'], fx.userKeyEcdsa), { input: new Uint8Array(0) });
    expect(own.stderr.toString()).toContain('connect failed: Connection refused');
  }, 60_000);

  it.skipIf(!havePeer('/usr/sbin/sshd'))('ssh -J: edgessh as the jump host in front of Debian\'s sshd', async () => {
    // What -J does, spelled out so the edgessh hop keeps the fixture's options: ssh … -W %h:%p as the ProxyCommand.
    const hop = ssh(['-W', '%h:%p']).map((a) => (/\s/.test(a) ? `'${a}'` : a));
    const proxy = ['ssh', ...hop].join(' ');
    const r = await run('ssh', [
      '-F', 'none', '-o', `ProxyCommand=${proxy}`, '-o', `UserKnownHostsFile=${fx.knownHosts}`, '-o', 'HostKeyAlias=edgessh-test',
      '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-i', fx.userKey,
      '-p', String(sshdPort), 'root@127.0.0.1', 'echo "jumped to $(hostname -s 2>/dev/null || echo sshd)"; exit 4',
    ], { timeoutMs: 60_000 });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString()).toMatch(/^jumped to /);
    expect(r.code).toBe(4);
  }, 90_000);
});

describe('OpenSSH remote forwarding (ssh -R)', () => {
  /** `ssh -N -R …` running; resolves once it has said which port the server allocated (or has exited). */
  const remote = (spec: string, key = fx.userKey) => {
    const proc = spawn('ssh', ssh(['-N', '-o', 'ExitOnForwardFailure=yes', '-R', spec], key), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const ready = new Promise<{ port: number | null; code: number | null }>((resolve) => {
      proc.stderr!.on('data', (d) => {
        stderr += d.toString();
        const m = /Allocated port (\d+) for remote forward/.exec(stderr);
        if (m) resolve({ port: Number(m[1]), code: null });
      });
      proc.on('exit', (code) => resolve({ port: null, code }));
    });
    return { proc, ready, stderr: () => stderr };
  };
  const roundTrip = (port: number, data: Uint8Array) =>
    new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => resolve(Buffer.concat(got)));
      s.on('error', reject);
      s.end(data);
    });

  it('-R 0:host:port: the server allocates a loopback port; 1 MiB and a second connection at once come back through the client unchanged', async () => {
    const r = remote(`0:127.0.0.1:${echoPort}`);
    try {
      const { port } = await r.ready;
      expect(r.stderr()).toMatch(new RegExp(`Allocated port ${port} for remote forward to 127\\.0\\.0\\.1:${echoPort}`));
      const data = new Uint8Array(1 << 20).map((_, i) => (i * 31 + (i >> 8)) & 0xff);
      const [big, small] = await Promise.all([roundTrip(port!, data), roundTrip(port!, new TextEncoder().encode('hello\n'))]);
      expect(sha256(big)).toBe(sha256(data));
      expect(small.toString()).toBe('hello\n');
      // The listener is the server's, on loopback only (sshd's GatewayPorts no).
      const bound = await new Promise<boolean>((resolve) => {
        const probe = net.createServer().once('error', () => resolve(true));
        probe.listen(port!, '127.0.0.1', () => probe.close(() => resolve(false)));
      });
      expect(bound).toBe(true);
    } finally {
      r.proc.kill();
    }
    // When the client has gone, the port is free again.
    await new Promise((res) => r.proc.once('exit', res));
  }, 90_000);

  it('a target the client cannot reach: the connection to the server port is closed at once', async () => {
    const r = remote(`0:127.0.0.1:${closedPort}`);
    try {
      const { port } = await r.ready;
      // Ended or reset, with no byte sent back (the server drops it, unread, when the client refuses it).
      const got = await roundTrip(port!, new TextEncoder().encode('x')).then((b) => b.length, (e: NodeJS.ErrnoException) => e.code);
      expect(['ECONNRESET', 0]).toContain(got);
    } finally {
      r.proc.kill();
    }
  }, 60_000);

  it('refused as sshd refuses: a privileged port, a restrict key, a port outside the key\'s permitlisten; logged', async () => {
    for (const [spec, key, port] of [
      [`80:127.0.0.1:${echoPort}`, fx.userKey, 80],
      [`0:127.0.0.1:${echoPort}`, fx.userKeyRsa, 0],
      [`6000:127.0.0.1:${echoPort}`, fx.userKeyEcdsa, 6000],
    ] as const) {
      const r = remote(spec, key);
      const { code } = await r.ready;
      expect(code).toBe(255);
      expect(r.stderr()).toContain(`Error: remote port forwarding failed for listen port ${port}`);
      expect(policyLog.join('\n')).toMatch(new RegExp(`refused remote port forward: listen \\S+ port ${port}$`, 'm'));
    }
    const allowed = remote(`5999:127.0.0.1:${echoPort}`, fx.userKeyEcdsa); // its permitlisten
    try {
      await waitPort(5999);
      expect((await roundTrip(5999, new TextEncoder().encode('ok'))).toString()).toBe('ok');
    } finally {
      allowed.proc.kill();
    }
  }, 90_000);
});

describe.skipIf(!havePeer('/usr/bin/python3'))('paramiko port forwarding', () => {
  it('open_channel("direct-tcpip"): 1 MiB echoed with a checksum; a refused target is a ChannelException', async () => {
    const r = await run('/usr/bin/python3', [join(import.meta.dirname, 'peers', 'paramiko_forward.py'), String(srv.port), fx.userKey, String(echoPort), String(closedPort)], { timeoutMs: 60_000 });
    expect(r.stdout.toString().split('\n')).toEqual(['echo True 1048576', 'refused 2 Connect failed', '']);
    expect(r.stderr.toString()).toBe('Secsh channel 1 open FAILED: Connection refused: Connect failed\n'); // our reason, in paramiko's log line
  }, 90_000);
});

describe.skipIf(!havePeer('/usr/bin/python3'))('AsyncSSH port forwarding', () => {
  it('forward_remote_port (ssh -R) with port 0: 1 MiB through the chosen port and back; closing the listener frees the port', async () => {
    const r = await run('/usr/bin/python3', ['-W', 'ignore', join(import.meta.dirname, 'peers', 'asyncssh_remote.py'), String(srv.port), fx.userKey, String(echoPort)], { timeoutMs: 60_000 });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString().split('\n')).toEqual(['allocated True', 'echo True 1048576', 'closed True', '']);
  }, 90_000);

  it('open_connection: 1 MiB echoed with a checksum after a half-close; a refused target is a ChannelOpenError with our reason', async () => {
    // -W ignore: Debian's AsyncSSH imports ciphers its cryptography calls deprecated, and says so on stderr.
    const r = await run('/usr/bin/python3', ['-W', 'ignore', join(import.meta.dirname, 'peers', 'asyncssh_forward.py'), String(srv.port), fx.userKey, String(echoPort), String(closedPort)], { timeoutMs: 60_000 });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString().split('\n')).toEqual(['echo True 1048576', 'refused 2 Connection refused', '']);
  }, 90_000);
});
