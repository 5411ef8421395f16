// `edgessh websockify` in front of Debian's sshd, driven by the ssh2 client over a WebSocket stream.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { Client } from 'ssh2';
import WebSocket, { createWebSocketStream } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedPorts, havePeer, makeFixture, run, SSH9, waitPort, type Fixture } from '../helpers/peers.ts';

const base = fixedPorts(2);
const SSHD_PORT = base;
const WS_PORT = base + 1;
const isRoot = process.getuid?.() === 0;
let fx: Fixture;
const procs: ChildProcess[] = [];


describe.skipIf(!havePeer('/usr/sbin/sshd') || !isRoot)('edgessh websockify → sshd', () => {
  beforeAll(async () => {
    fx = makeFixture();
    execFileSync('mkdir', ['-p', '/run/sshd']);
    const cfg = join(fx.dir, 'sshd_config');
    writeFileSync(cfg, [
      `Port ${SSHD_PORT}`, 'ListenAddress 127.0.0.1', `HostKey ${fx.hostKeyFiles.ed25519}`, `PidFile ${join(fx.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(fx.dir, 'authorized_keys')}`, 'PermitRootLogin yes', 'StrictModes no', 'UsePAM no',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PrintMotd no', '',
    ].join('\n'));
    procs.push(spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: 'ignore' }));
    procs.push(spawn('node', ['bin/edgessh.mjs', 'websockify', '--listen', `127.0.0.1:${WS_PORT}`, '--to', `127.0.0.1:${SSHD_PORT}`, '--quiet'], { stdio: 'ignore' }));
    await waitPort(SSHD_PORT);
    await waitPort(WS_PORT);
  });
  afterAll(() => procs.forEach((p) => p.kill()));

  const connect = (url: string) =>
    new Promise<Client>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('error', reject);
      ws.once('open', () => {
        const c = new Client();
        c.on('ready', () => resolve(c)).on('error', reject);
        c.connect({ sock: createWebSocketStream(ws) as never, username: 'root', privateKey: readFileSync(fx.userKey), readyTimeout: 20_000 });
      });
    });

  it('ssh2 over a WebSocket reaches sshd: exec works', async () => {
    const c = await connect(`ws://127.0.0.1:${WS_PORT}/`);
    const out = await new Promise<string>((resolve, reject) =>
      c.exec('echo via-websockify; echo $((6*7))', (err, ch) => {
        if (err) return reject(err);
        let s = '';
        ch.on('data', (d: Buffer) => (s += d.toString()));
        ch.on('close', () => resolve(s));
      }),
    );
    c.end();
    expect(out).toBe('via-websockify\n42\n');
  });

  it('OpenSSH through `edgessh proxy`: each connection ends with a clean WebSocket close, never a dropped socket', async () => {
    // A websockify of its own whose log we read (OpenSSH sends its ProxyCommand SIGHUP as it exits).
    const port = fixedPorts(4);
    const w = spawn('node', ['bin/edgessh.mjs', 'websockify', '--listen', `127.0.0.1:${port}`, '--to', `127.0.0.1:${SSHD_PORT}`]);
    let log = '';
    w.stdout.on('data', (d: Buffer) => (log += d.toString()));
    w.stderr.on('data', (d: Buffer) => (log += d.toString()));
    procs.push(w);
    await waitPort(port);
    for (let i = 0; i < 5; i++) {
      const r = await run(SSH9, [
        '-F', 'none', '-o', `ProxyCommand=node bin/edgessh.mjs proxy ws://127.0.0.1:${port}/`, '-o', `UserKnownHostsFile=${fx.knownHosts}`,
        '-o', 'HostKeyAlias=edgessh-test', '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
        '-i', fx.userKey, 'root@edgessh-test', 'echo hi',
      ]);
      expect(r.stdout.toString(), r.stderr.toString()).toBe('hi\n');
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(log).not.toMatch(/1006|closed with/);
  });

  it('no other target is reachable: paths and query strings do not choose the destination', async () => {
    for (const path of ['/?target=127.0.0.1:22', '/127.0.0.1:22', `/?host=example.com&port=80`]) {
      const banner = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${WS_PORT}${path}`, { perMessageDeflate: false });
        ws.once('error', reject);
        ws.once('message', (d: Buffer) => (resolve(d.toString('latin1')), ws.close()));
      });
      expect(banner).toMatch(/^SSH-2\.0-OpenSSH_/); // always the configured sshd
    }
    const plain = await fetch(`http://127.0.0.1:${WS_PORT}/`);
    expect(plain.status).toBe(426);
    expect(await plain.text()).toMatch(/WebSocket only/);
  });
});

describe('edgessh websockify: the first bytes', () => {
  it('what the client sends the moment the WebSocket opens reaches the target (it used to be dropped until the TCP connect finished)', async () => {
    // A target that echoes, and a client that speaks at once, as an SSH client does.
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const target = (echo.address() as net.AddressInfo).port;
    const port = fixedPorts(5);
    const w = spawn('node', ['bin/edgessh.mjs', 'websockify', '--listen', `127.0.0.1:${port}`, '--to', `127.0.0.1:${target}`, '--quiet'], { stdio: 'ignore' });
    try {
      await waitPort(port);
      for (let i = 0; i < 10; i++) {
        const got = await new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
          let text = '';
          ws.once('error', reject);
          ws.once('open', () => ws.send(Buffer.from(`SSH-2.0-first-${i}\r\n`)));
          ws.on('message', (d: Buffer) => {
            text += d.toString();
            if (text.endsWith('\r\n')) (ws.close(), resolve(text));
          });
          setTimeout(() => (ws.terminate(), resolve(text)), 5000);
        });
        expect(got).toBe(`SSH-2.0-first-${i}\r\n`);
      }
    } finally {
      w.kill();
      echo.close();
    }
  });
});
