// End to end through the edge endpoint: `npm start` (wrangler dev + the bridge), then real clients through
// `edgessh proxy` and through the bridge.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certifyUserKey, fixedPorts, havePeer, makeFixture, run, sshArgs, SSH9, SSH10, tmuxShellScenario, type Fixture } from '../helpers/peers.ts';

const PY = '/usr/bin/python3';
const base = fixedPorts(1);
const SSH_PORT = base;
const HTTP_PORT = base + 1;
/** A TCP echo server the Worker may forward to (PERMIT_OPEN), and a permitted port where nothing listens. */
const ECHO_PORT = base + 2;
const DEAD_PORT = base + 3;
/** Serves users' keys for AUTHORIZED_KEYS_URL (as https://github.com/%u.keys would). */
const KEYS_PORT = base + 4;
const URL = `ws://127.0.0.1:${HTTP_PORT}/ssh`;
const PROXY = `node ${resolve('bin/edgessh.mjs')} proxy ${URL}`;

let fx: Fixture;
let start: ChildProcess;
let startOut = '';
let echo: net.Server;
let keysServer: import('node:http').Server;
/** The paths AUTHORIZED_KEYS_URL fetched, in order. */
const keyFetches: string[] = [];

beforeAll(async () => {
  fx = makeFixture();
  const home = join(fx.dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  copyFileSync(fx.userKey + '.pub', join(home, '.ssh', 'id_ed25519.pub'));
  copyFileSync(fx.userKeyRsa + '.pub', join(home, '.ssh', 'id_rsa.pub'));
  // The fixture's host key (so known_hosts checks it) and password, as .dev.vars would hold them; a user CA
  // whose certificate for tester is the only way in for the fixture's "wrong" key.
  const esc = (v: string) => v.replace(/\n/g, '\\n');
  const ca = join(fx.dir, 'user_ca');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ecdsa', '-C', 'user ca', '-f', ca]);
  certifyUserKey(ca, fx.wrongKey, ['-n', 'tester']);
  // A second certificate, for the ECDSA user key, whose key ID the KRL in REVOKED_KEYS (as base64) revokes.
  execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'stolen-laptop', '-n', 'tester', fx.userKeyEcdsa + '.pub']);
  writeFileSync(join(fx.dir, 'krl.spec'), 'id: stolen-laptop\n');
  // carol's own key, only in USER_AUTHORIZED_KEYS (as JSON text, as a secret or .dev.vars holds it).
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ecdsa', '-C', 'carol', '-f', join(fx.dir, 'carol_key')]);
  // The host key's certificate (HOST_CERTIFICATE), from a host CA that a known_hosts @cert-authority line trusts.
  const hostCa = join(fx.dir, 'host_ca');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'host ca', '-f', hostCa]);
  execFileSync('ssh-keygen', ['-q', '-s', hostCa, '-h', '-I', 'edge host', '-n', 'edgessh-test', fx.hostKeyFiles.ed25519 + '.pub']);
  writeFileSync(join(fx.dir, 'known_hosts_ca'), `@cert-authority edgessh-test ${readFileSync(hostCa + '.pub', 'utf8')}`);
  execFileSync('ssh-keygen', ['-q', '-k', '-f', join(fx.dir, 'krl'), '-s', ca + '.pub', join(fx.dir, 'krl.spec')]);
  writeFileSync(
    join(fx.dir, 'dev.vars'),
    `HOST_KEY="${esc(readFileSync(fx.hostKeyFiles.ed25519, 'utf8'))}"\nPASSWORD="${fx.password}"\nPERMIT_OPEN="127.0.0.1:${ECHO_PORT} 127.0.0.1:${DEAD_PORT}"\n` +
      `HOST_CERTIFICATE="${readFileSync(fx.hostKeyFiles.ed25519 + '-cert.pub', 'utf8').trim()}"\n` +
      `TRUSTED_USER_CA_KEYS="${readFileSync(ca + '.pub', 'utf8').trim()}"\nREVOKED_KEYS="${readFileSync(join(fx.dir, 'krl')).toString('base64')}"\n` +
      // tester's principals (sshd's AuthorizedPrincipalsFile with %u, as JSON text): the user's own name, and a
      // team whose line allows no pty. Other users have none.
      `AUTHORIZED_PRINCIPALS='${JSON.stringify({ tester: 'tester\nno-pty edge-ops' })}'\n` +
      `USER_AUTHORIZED_KEYS='${JSON.stringify({ carol: readFileSync(join(fx.dir, 'carol_key.pub'), 'utf8').trim() })}'\n` +
      `AUTHORIZED_KEYS_URL="http://127.0.0.1:${KEYS_PORT}/%u.keys"\n`,
  );
  // dave's keys are served only here: the fixture's ECDSA key, without a terminal.
  const { createServer: createHttpServer } = await import('node:http');
  keysServer = createHttpServer((req, res) => {
    keyFetches.push(req.url!);
    if (req.url === '/dave.keys') res.writeHead(200, { 'content-type': 'text/plain' }).end(`no-pty ${readFileSync(fx.userKeyEcdsa + '.pub', 'utf8')}`);
    else res.writeHead(404).end('Not Found');
  });
  await new Promise<void>((r) => keysServer.listen(KEYS_PORT, '127.0.0.1', r));
  echo = net.createServer((sock) => sock.pipe(sock));
  await new Promise<void>((r) => echo.listen(ECHO_PORT, '127.0.0.1', r));
  start = spawn('node', ['scripts/start.mjs'], {
    env: {
      ...process.env,
      EDGESSH_SSH_PORT: String(SSH_PORT),
      EDGESSH_HTTP_PORT: String(HTTP_PORT),
      EDGESSH_DEV_VARS: join(fx.dir, 'dev.vars'),
      EDGESSH_PERSIST: join(fx.dir, 'state'),
      EDGESSH_HOME: home,
      USER: 'tester',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  start.stdout!.on('data', (d: Buffer) => (startOut += d.toString()));
  start.stderr!.on('data', (d: Buffer) => (startOut += d.toString()));
  const end = Date.now() + 120_000;
  while (!startOut.includes('READY')) {
    if (Date.now() > end || start.exitCode !== null) throw new Error(`npm start did not come up:\n${startOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 150_000);

afterAll(async () => {
  echo?.close();
  keysServer?.close();
  if (!start) return;
  // Ctrl-C stops everything npm start started: afterwards neither port answers.
  start.kill('SIGINT');
  await new Promise((r) => start.once('exit', r));
  await new Promise((r) => setTimeout(r, 1000));
  for (const port of [SSH_PORT, HTTP_PORT]) {
    const refused = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(false)));
      s.once('error', () => r(true));
    });
    expect(refused, `port ${port} still open after Ctrl-C`).toBe(true);
  }
}, 30_000);

const viaProxy = (extra: string[] = []) => [...sshArgs(fx, 0, ['-o', `ProxyCommand=${PROXY}`, '-o', 'LogLevel=ERROR', ...extra])];
const viaBridge = (extra: string[] = []) =>
  sshArgs(fx, 0, ['-o', 'ProxyCommand=none', '-o', `HostKeyAlias=edgessh-test`, '-p', String(SSH_PORT), '-o', 'LogLevel=ERROR', ...extra]).map((a) =>
    a === 'tester@edgessh-test' ? 'tester@127.0.0.1' : a,
  );

describe('npm start', () => {
  it('prints how to connect: the ssh line, the ProxyCommand line, the web URL, the fingerprint and the logins', () => {
    const fp = execFileSync('ssh-keygen', ['-l', '-f', fx.hostKeyFiles.ed25519 + '.pub'], { encoding: 'utf8' }).split(' ')[1]!;
    expect(startOut).toContain(`ssh -p ${SSH_PORT} tester@127.0.0.1`);
    expect(startOut).toContain(`proxy ws://127.0.0.1:${HTTP_PORT}/ssh`);
    expect(startOut).toContain(`http://127.0.0.1:${HTTP_PORT}/`);
    expect(startOut).toContain(`scp -P ${SSH_PORT} FILE tester@127.0.0.1:`);
    expect(startOut).toContain(`Host key: ${fp}`);
    expect(startOut).toMatch(/Logins: your keys from .*\(2\)/);
    expect(startOut).toContain(`Port forwarding (ssh -L, -W, -J) to: 127.0.0.1:${ECHO_PORT} 127.0.0.1:${DEAD_PORT}`);
  });
});

for (const [path, ssh, name] of [['proxy', SSH9, 'OpenSSH 9.2'], ['bridge', SSH9, 'OpenSSH 9.2'], ['proxy', SSH10, 'OpenSSH 10']] as const)
describe.skipIf(!havePeer(ssh))(`${name} through edgessh ${path} and wrangler dev`, () => {
  const args = (extra: string[] = []) => (path === 'proxy' ? viaProxy(extra) : viaBridge(extra));
  it('echo hi, and exit status', async () => {
    const r = await run(ssh, [...args(), 'echo hi']);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('hi\n');
    expect((await run(ssh, [...args(), 'exit 3'])).code).toBe(3);
  });

  it.skipIf(ssh !== SSH10)('mlkem768x25519-sha256', async () => {
    const r = await run(ssh, [...args(['-o', 'KexAlgorithms=mlkem768x25519-sha256']), 'echo pq']);
    expect(r.stdout.toString()).toBe('pq\n');
  });

  it('16 MiB up and 16 MiB down with checksums and forced rekeys', async () => {
    const data = Uint8Array.from({ length: 16 << 20 }, (_, i) => (i * 7 + (i >> 13)) & 0xff);
    const digest = createHash('sha256').update(data).digest('hex');
    const up = await run(ssh, [...args(['-o', 'RekeyLimit=1M']), 'sha256sum'], { input: data, timeoutMs: 120_000 });
    expect(up.stdout.toString(), `ssh exited ${up.code}: ${up.stderr}`).toBe(`${digest}  -\n`);
    const down = await run(ssh, [...args(['-o', 'RekeyLimit=1M']), `head -c ${16 << 20} /dev/zero`], { timeoutMs: 120_000 });
    expect(down.stdout.length).toBe(16 << 20);
    expect(down.stdout.every((b) => b === 0)).toBe(true);
  }, 300_000);

  it('an interactive shell under tmux: prompt, typing, history, exit 3', async () => {
    if (!havePeer('/usr/bin/tmux')) return;
    const cmd = `${ssh} ${args(['-tt']).map((a) => `'${a}'`).join(' ')}`;
    expect(await tmuxShellScenario(cmd, `e2e-${path}-${name.replace(/\W/g, '')}`, join(fx.dir, `tmux-status-${path}-${name.replace(/\W/g, '')}`))).toBe('3');
  }, 60_000);

});

describe('idle sessions', () => {
  it('sessions left idle for 60 s still work afterwards: exec sessions and a forwarded connection kept awake, an interactive shell and an SFTP session hibernated and resumed (OpenSSH 9.2 and 10, proxy and bridge, at once)', async () => {
    // `command` null: a forwarded TCP connection (ssh -W) instead of a session; its open socket keeps the
    // object awake, as an exec session's running command does.
    const one = async (args: string[], ssh = SSH9, command: string | null = 'cat') => {
      const p = spawn(ssh, command === null ? args : [...args, command], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const waitOut = async (s: string) => {
        for (let i = 0; i < 400 && !out.includes(s); i++) await new Promise((r) => setTimeout(r, 50));
        expect(out).toContain(s);
      };
      p.stdin.write('before\n');
      await waitOut('before\n');
      await new Promise((r) => setTimeout(r, 60_000));
      p.stdin.write('after\n');
      await waitOut('after\n');
      p.stdin.end();
      const code = await new Promise((r) => p.once('exit', r));
      expect(code).toBe(0);
      expect(out).toBe('before\nafter\n');
    };
    // An interactive shell at its prompt can be saved: its object hibernates (workerd evicts it after
    // ~10 s idle) and each wake — OpenSSH's keepalive at 25 s and 50 s, then the keystrokes — restores it.
    // With ServerAliveCountMax=1 an unanswered keepalive would have ended ssh.
    const shell = async () => {
      if (!havePeer('/usr/bin/tmux')) return;
      const wakesBefore = (startOut.match(/resumed after hibernation/g) ?? []).length;
      const session = `edgessh-idle-${process.pid}`;
      const status = join(fx.dir, 'idle-shell-status');
      const cmd = `${SSH9} ${viaProxy(['-tt', '-o', 'ServerAliveInterval=25', '-o', 'ServerAliveCountMax=1']).map((a) => `'${a}'`).join(' ')}`;
      const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
      tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `${cmd}; echo $? > ${status}`);
      const waitFor = async (re: RegExp) => {
        for (let i = 0; i < 400 && !re.test(tmux('capture-pane', '-p', '-t', session)); i++) await new Promise((r) => setTimeout(r, 50));
        expect(tmux('capture-pane', '-p', '-t', session)).toMatch(re);
      };
      try {
        await waitFor(/tester@edgessh:~\$\s*$/m);
        tmux('send-keys', '-t', session, 'echo before-idle', 'Enter');
        await waitFor(/^before-idle$/m);
        tmux('send-keys', '-t', session, 'echo half'); // half a line in the editor while the object sleeps
        await new Promise((r) => setTimeout(r, 60_000));
        tmux('send-keys', '-t', session, 'way', 'Enter');
        await waitFor(/^halfway$/m);
        tmux('send-keys', '-t', session, 'Up', 'Up', 'Enter'); // history from before the sleep
        await waitFor(/before-idle[\s\S]*before-idle[\s\S]*before-idle/);
        const wakes = (startOut.match(/resumed after hibernation/g) ?? []).length - wakesBefore;
        expect(wakes).toBeGreaterThanOrEqual(2); // the keepalives woke it, and the typing did
        tmux('send-keys', '-t', session, 'exit 5', 'Enter');
        for (let i = 0; i < 100 && !existsSync(status); i++) await new Promise((r) => setTimeout(r, 50));
        expect(readFileSync(status, 'utf8').trim()).toBe('5');
      } finally {
        try {
          tmux('kill-session', '-t', session);
        } catch {
          // already gone
        }
      }
    };
    // An SFTP session waiting for its next request can be saved too: its object hibernates and wakes like
    // the shell's (its own user name tells its wakes apart in the log).
    const sftp = async () => {
      const file = join(fx.dir, 'idle-sftp.txt');
      const back = join(fx.dir, 'idle-sftp-back.txt');
      writeFileSync(file, 'kept across hibernation\n');
      const args = viaProxy(['-o', 'ServerAliveInterval=25', '-o', 'ServerAliveCountMax=1']).slice(0, -1);
      const p = spawn('sftp', [...args, '-b', '-', 'idlesftp@edgessh-test'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.stdin.write(`put ${file} idle.txt\nls\n`);
      for (let i = 0; i < 400 && !/^idle\.txt/m.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toMatch(/^idle\.txt/m);
      await new Promise((r) => setTimeout(r, 60_000));
      p.stdin.end(`get idle.txt ${back}\nrm idle.txt\n`);
      expect(await new Promise((r) => p.once('exit', r))).toBe(0);
      expect(readFileSync(back, 'utf8')).toBe('kept across hibernation\n');
      expect((startOut.match(/session of idlesftp resumed after hibernation/g) ?? []).length).toBeGreaterThanOrEqual(2);
    };
    await Promise.all([
      one(viaProxy()), one(viaBridge()), ...(havePeer(SSH10) ? [one(viaProxy(), SSH10)] : []), shell(), sftp(),
      one(viaProxy(['-W', `127.0.0.1:${ECHO_PORT}`]), SSH9, null),
    ]);
  }, 120_000);
});

describe('port forwarding through the Worker (PERMIT_OPEN, the Workers TCP sockets API)', () => {
  it('ssh -W: 4 MiB to a permitted TCP server and back unchanged; a refused connection and a target outside PERMIT_OPEN get OpenSSH\'s messages', async () => {
    const data = Uint8Array.from({ length: 4 << 20 }, (_, i) => (i * 11 + (i >> 12)) & 0xff);
    const r = await run(SSH9, viaProxy(['-W', `127.0.0.1:${ECHO_PORT}`]), { input: data, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // OpenSSH prints why a channel failed at LogLevel INFO (viaProxy quiets it to ERROR).
    const loud = (target: string) => sshArgs(fx, 0, ['-o', 'LogLevel=INFO', '-o', `ProxyCommand=${PROXY}`, '-W', target]);
    const dead = await run(SSH9, loud(`127.0.0.1:${DEAD_PORT}`), { input: new Uint8Array(0) });
    expect(dead.code).toBe(255);
    expect(dead.stderr.toString()).toContain('open failed: connect failed: ');
    const outside = await run(SSH9, loud('127.0.0.1:22'), { input: new Uint8Array(0) });
    expect(outside.code).toBe(255);
    expect(outside.stderr.toString()).toContain('open failed: administratively prohibited: open failed');
    expect(startOut).toContain('refused local port forward: originator 127.0.0.1 port 65535, target 127.0.0.1 port 22');
  }, 180_000);

  it('ssh -R is refused in OpenSSH\'s words: a Worker cannot listen', async () => {
    const r = await run(SSH9, sshArgs(fx, 0, ['-o', `ProxyCommand=${PROXY}`, '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${ECHO_PORT}`]), { timeoutMs: 60_000 });
    expect(r.code).toBe(255);
    expect(r.stderr.toString()).toContain('Error: remote port forwarding failed for listen port 0');
  }, 90_000);
});

describe('through edgessh bridge (ssh -p)', () => {
  it('HOST_CERTIFICATE: a client that trusts the host CA (@cert-authority) connects knowing no host key', async () => {
    const r = await run(SSH9, [...viaBridge(['-o', `UserKnownHostsFile=${join(fx.dir, 'known_hosts_ca')}`]), 'echo certified']);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('certified\n');
    expect(startOut).toMatch(/host certificate ssh-ed25519-cert-v01@openssh.com ID "edge host" \(serial 0\)/);
  });

  it('an OpenSSH user certificate signed by a TRUSTED_USER_CA_KEYS authority logs in for a principal in AUTHORIZED_PRINCIPALS (under its options); one REVOKED_KEYS (a KRL) revokes does not', async () => {
    const as = (key: string) => run(SSH9, [...viaBridge().map((a) => (a === fx.userKey ? key : a)), 'whoami']);
    const r = await as(fx.wrongKey);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('tester\n');
    expect(startOut).toMatch(/Accepted certificate ID "wrong_ed25519 cert" \(serial 0\) signed by ecdsa-sha2-nistp256 CA SHA256:\S+ for tester/);
    const revoked = await as(fx.userKeyEcdsa);
    expect(revoked.code).toBe(255);
    expect(revoked.stderr).toContain('Permission denied (publickey');
    expect(startOut).toMatch(/Authentication tried for tester with ecdsa-sha2-nistp256-cert-v01@openssh.com SHA256:\S+ but the certificate's key ID "stolen-laptop" is revoked/);
    // AUTHORIZED_PRINCIPALS: a certificate for edge-ops logs in under that line's no-pty; one for a name not listed gets nothing.
    certifyUserKey(join(fx.dir, 'user_ca'), fx.wrongKey, ['-n', 'edge-ops']);
    expect((await as(fx.wrongKey)).stdout.toString()).toBe('tester\n');
    const tty = await run(SSH9, [...viaBridge(['-tt']).map((a) => (a === fx.userKey ? fx.wrongKey : a)), 'whoami']);
    expect(tty.code).toBe(255);
    expect(tty.stderr).toContain('PTY allocation request failed');
    // The same certificate does not log in carol, who has no principals.
    const asCarol = await run(SSH9, [...viaBridge().map((a) => (a === fx.userKey ? fx.wrongKey : a === 'tester@127.0.0.1' ? 'carol@127.0.0.1' : a)), 'whoami']);
    expect(asCarol.code).toBe(255);
    certifyUserKey(join(fx.dir, 'user_ca'), fx.wrongKey, ['-n', 'someone-else']);
    const unlisted = await as(fx.wrongKey);
    expect(unlisted.code).toBe(255);
    expect(startOut).toMatch(/Authentication tried for tester with certificate ID "wrong_ed25519 cert" .* but Certificate does not contain an authorized principal/);
  });

  it("USER_AUTHORIZED_KEYS: carol's own key logs in carol, and no one else", async () => {
    const carolKey = join(fx.dir, 'carol_key');
    const as = (user: string) => run(SSH9, [...viaBridge().map((a) => (a === fx.userKey ? carolKey : a === 'tester@127.0.0.1' ? `${user}@127.0.0.1` : a)), 'whoami']);
    expect((await as('carol')).stdout.toString()).toBe('carol\n');
    const other = await as('tester');
    expect(other.code).toBe(255);
    expect(other.stderr).toContain('Permission denied (publickey');
  });

  it('AUTHORIZED_KEYS_URL: a key the URL serves for dave logs in dave, under its options, with one fetch; a user it has nothing for, and a key a variable already has, fetch nothing more', async () => {
    const as = (user: string, key: string, extra: string[] = []) =>
      run(SSH9, [...viaBridge(extra).map((a) => (a === fx.userKey ? key : a === 'tester@127.0.0.1' ? `${user}@127.0.0.1` : a)), 'whoami']);
    keyFetches.length = 0;
    const dave = await as('dave', fx.userKeyEcdsa);
    expect([dave.code, dave.stdout.toString()]).toEqual([0, 'dave\n']);
    // The key query and the signed attempt: one fetch, the answer kept for the second.
    expect(keyFetches).toEqual(['/dave.keys']);
    expect((await as('dave', fx.userKeyEcdsa, ['-tt'])).stderr).toContain('PTY allocation request failed');
    const eve = await as('eve', fx.userKeyEcdsa);
    expect(eve.code).toBe(255);
    expect(eve.stderr).toContain('Permission denied (publickey');
    expect(keyFetches.filter((p) => p === '/eve.keys').length).toBeGreaterThan(0);
    // tester's key is in AUTHORIZED_KEYS: the URL is not asked.
    const before = keyFetches.length;
    expect((await as('tester', fx.userKey)).code).toBe(0);
    expect(keyFetches.length).toBe(before);
  });

  it('password login, and 16 MiB up', async () => {
    const pw = await run('sshpass', ['-p', fx.password, SSH9, ...viaBridge(['-o', 'BatchMode=no', '-o', 'PreferredAuthentications=password']), 'whoami']);
    expect(pw.stdout.toString()).toBe('tester\n');
    const data = new Uint8Array(16 << 20).fill(0x61);
    const up = await run(SSH9, [...viaBridge(), 'wc -c'], { input: data, timeoutMs: 120_000 });
    expect(up.stdout.toString().trim()).toBe(String(16 << 20));
  }, 180_000);

  it('many connections at once', async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => run(SSH9, [...viaBridge(), `echo ${i}`])));
    expect(rs.map((r) => r.stdout.toString())).toEqual(Array.from({ length: 8 }, (_, i) => `${i}\n`));
  }, 120_000);
});

describe('other clients through edgessh proxy', () => {
  it.skipIf(!havePeer('/usr/lib/python3/dist-packages/paramiko'))('paramiko: key login, exec, 8 MiB up', async () => {
    const r = await run(PY, ['test/interop/peers/paramiko_session.py', '0', 'tester', 'key', fx.userKey], { env: { EDGESSH_PROXY: PROXY }, timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('hi 0\nTrue\n');
  }, 150_000);

  it.skipIf(!havePeer('/usr/bin/dbclient'))('Dropbear: key login and exec', async () => {
    const key = join(fx.dir, 'user.dropbear');
    execFileSync('dropbearconvert', ['openssh', 'dropbear', fx.userKey, key], { stdio: 'ignore' });
    const r = await run('dbclient', ['-y', '-y', '-J', PROXY, '-l', 'tester', '-i', key, 'edgessh-test', 'echo dropbear'], { env: { HOME: fx.dir } });
    expect(r.stdout.toString()).toBe('dropbear\n');
  }, 60_000);
});

describe('file transfer through edgessh proxy (SFTP; the files live in Durable Object storage)', () => {
  it.skipIf(!havePeer('/usr/bin/scp'))('scp up and down 8 MiB with a checksum, scp -p keeps the time, scp -r a tree both ways; sftp lists the file with its size and time', async () => {
    const data = Uint8Array.from({ length: 8 << 20 }, (_, i) => (i * 5 + (i >> 12)) & 0xff);
    const up = join(fx.dir, 'e2e-up.bin');
    const back = join(fx.dir, 'e2e-back.bin');
    writeFileSync(up, data);
    const opts = viaProxy().slice(0, -1);
    const put = await run('scp', [...opts, up, 'tester@edgessh-test:e2e.bin'], { timeoutMs: 120_000 });
    expect(put.stderr.toString()).toBe('');
    expect(put.code).toBe(0);
    expect((await run('scp', [...opts, 'tester@edgessh-test:e2e.bin', back], { timeoutMs: 120_000 })).code).toBe(0);
    expect(createHash('sha256').update(readFileSync(back)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // scp -p: the time is kept in the Durable Object's file and comes back.
    execFileSync('touch', ['-d', '2020-01-02 03:04:05 UTC', up]);
    const timed = await run('scp', [...opts, '-p', up, 'tester@edgessh-test:timed.bin'], { timeoutMs: 120_000 });
    expect([timed.code, timed.stderr.toString()]).toEqual([0, '']);
    expect((await run('scp', [...opts, '-p', 'tester@edgessh-test:timed.bin', back], { timeoutMs: 120_000 })).code).toBe(0);
    expect(statSync(back).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    // scp -r: a tree into the Durable Object's directories and back.
    const tree = join(fx.dir, 'e2e-tree');
    mkdirSync(join(tree, 'in', 'ner'), { recursive: true });
    writeFileSync(join(tree, 'in', 'ner', 'leaf.bin'), data.subarray(0, 200_000));
    expect((await run('scp', [...opts, '-r', tree, 'tester@edgessh-test:e2e-tree'], { timeoutMs: 120_000 })).code).toBe(0);
    const treeBack = join(fx.dir, 'e2e-tree-back');
    const gotTree = await run('scp', [...opts, '-r', 'tester@edgessh-test:e2e-tree', treeBack], { timeoutMs: 120_000 });
    expect([gotTree.code, gotTree.stderr.toString()]).toEqual([0, '']);
    expect(readFileSync(join(treeBack, 'in', 'ner', 'leaf.bin')).equals(Buffer.from(data.subarray(0, 200_000)))).toBe(true);
    const batch = join(fx.dir, 'e2e-batch');
    writeFileSync(batch, 'ls -l\nrm e2e.bin\nrm timed.bin\nrm e2e-tree/in/ner/leaf.bin\nrmdir e2e-tree/in/ner\nrmdir e2e-tree/in\nrmdir e2e-tree\n');
    const ls = await run('sftp', [...opts, '-b', batch, 'tester@edgessh-test'], { timeoutMs: 60_000 });
    expect(ls.code).toBe(0);
    expect(ls.stdout.toString()).toMatch(new RegExp(`-rw-r--r-- +1 tester +tester +${8 << 20} \\w{3} [ \\d]\\d \\d\\d:\\d\\d e2e\\.bin`));
  }, 300_000);

  it.skipIf(!havePeer('/usr/lib/python3/dist-packages/paramiko'))('paramiko SFTP: 8 MiB put and get with checksums, a directory in Durable Object storage', async () => {
    const r = await run(PY, ['test/interop/peers/sftp_client.py', '0', fx.userKey, 'paramiko'], { env: { EDGESSH_PROXY: PROXY }, timeoutMs: 180_000 });
    expect(r.stdout.toString()).toBe('put True\nget True\nlisted True\nremoved True\nin sub True\nrmdir refused Directory not empty\nrmdir done True\n');
  }, 200_000);
});

describe('edgessh proxy errors', () => {
  it('a bad URL, a refused connection and an HTTP error each give one line and a non-zero exit', async () => {
    const bad = await run('node', ['bin/edgessh.mjs', 'proxy', 'not a url']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^edgessh proxy: bad URL/);
    const port = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const refused = await run('node', ['bin/edgessh.mjs', 'proxy', `ws://127.0.0.1:${port}/ssh`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`edgessh proxy: connection refused by ws://127.0.0.1:${port}\n`);
    const http = await run('node', ['bin/edgessh.mjs', 'proxy', `ws://127.0.0.1:${HTTP_PORT}/nope`]);
    expect(http.code).toBe(1);
    expect(http.stderr).toMatch(/^edgessh proxy: HTTP 404 .*Not found: \/nope/);
    expect(http.stderr.trim().split('\n')).toHaveLength(1);
    // wss:// to a port that speaks plain HTTP: a TLS failure, said in one line.
    const tls = await run('node', ['bin/edgessh.mjs', 'proxy', `wss://127.0.0.1:${HTTP_PORT}/ssh`]);
    expect(tls.code).toBe(1);
    expect(tls.stderr).toMatch(/^edgessh proxy: TLS failure with wss:\/\/127\.0\.0\.1:\d+: .+\n$/);
  });
});

describe('wrangler deploy --dry-run', () => {
  it('bundles the Worker, well under the Workers size limit', async () => {
    const out = join(fx.dir, 'deploy');
    const r = await run('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', out], { env: { WRANGLER_SEND_METRICS: 'false' }, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const { gzipSync } = await import('node:zlib');
    const gz = gzipSync(readFileSync(join(out, 'index.js'))).length;
    expect(gz).toBeLessThan(1024 * 1024); // the free plan allows 3 MiB gzipped
  }, 150_000);
});

describe.skipIf(!havePeer('/usr/bin/chromium'))('in the browser (playwright-core + Debian chromium)', () => {
  const artifacts = resolve('test-artifacts');
  let browser: import('playwright-core').Browser;
  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  }, 60_000);
  afterAll(async () => browser?.close());

  const screen = (page: import('playwright-core').Page) => page.evaluate(() => (window as unknown as { edgessh: { screen(): string } }).edgessh.screen());
  const waitScreen = async (page: import('playwright-core').Page, re: RegExp) => {
    for (let i = 0; i < 300; i++) {
      if (re.test(await screen(page))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the terminal never showed ${re}:\n${await screen(page)}`);
  };

  it('the web terminal logs in, runs echo hi, and a resize reaches the shell', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
    try {
      await page.goto(`http://127.0.0.1:${HTTP_PORT}/`);
      await page.fill('#user', 'webuser');
      await page.fill('#password', fx.password);
      await page.click('#connect');
      await page.waitForSelector('#status.ok', { timeout: 30_000 });
      expect(await page.textContent('#status')).toMatch(/Connected to ws:\/\/127\.0\.0\.1:\d+\/ssh as webuser\. New host key SHA256:/);
      await waitScreen(page, /webuser@edgessh:~\$/);
      await page.keyboard.type('echo hi\n');
      await waitScreen(page, /^hi\s*$/m);
      const before = await page.evaluate(() => (window as unknown as { edgessh: { size(): { cols: number; rows: number } } }).edgessh.size());
      await page.keyboard.type('stty size\n');
      await waitScreen(page, new RegExp(`^${before.rows} ${before.cols}\\s*$`, 'm'));
      await page.setViewportSize({ width: 700, height: 420 });
      await new Promise((r) => setTimeout(r, 300));
      const after = await page.evaluate(() => (window as unknown as { edgessh: { size(): { cols: number; rows: number } } }).edgessh.size());
      expect(after.cols).toBeLessThan(before.cols);
      await page.keyboard.type('stty size\n');
      await waitScreen(page, new RegExp(`^${after.rows} ${after.cols}\\s*$`, 'm'));
      await page.screenshot({ path: join(artifacts, 'web-terminal.png') });
    } finally {
      await page.close();
    }
  }, 90_000);

  it('a wrong password shows a readable error', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${HTTP_PORT}/`);
      await page.fill('#user', 'webuser');
      await page.fill('#password', 'not the password');
      await page.click('#connect');
      await page.waitForSelector('#status.error', { timeout: 30_000 });
      expect(await page.textContent('#status')).toMatch(/^Login refused for webuser: wrong password or key/);
      await page.screenshot({ path: join(artifacts, 'web-terminal-refused.png') });
    } finally {
      await page.close();
    }
  }, 60_000);

  it('a changed host key is refused with a message that says so', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${HTTP_PORT}/`);
      const url = await page.inputValue('#url');
      await page.evaluate((u) => localStorage.setItem(`edgessh.hostkey.${u}`, 'SHA256:not-the-real-one'), url);
      await page.fill('#user', 'webuser');
      await page.fill('#password', fx.password);
      await page.click('#connect');
      await page.waitForSelector('#status.error', { timeout: 30_000 });
      expect(await page.textContent('#status')).toMatch(/^Host key changed for ws:.*expected SHA256:not-the-real-one, got SHA256:/);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('the web terminal with a trusted host CA: the Worker\'s host certificate is checked for the host name; another name or another CA is refused', async () => {
    const hostCa = readFileSync(join(fx.dir, 'host_ca.pub'), 'utf8').trim();
    const userCa = readFileSync(join(fx.dir, 'user_ca.pub'), 'utf8').trim();
    const attempt = async (ca: string, hostname: string) => {
      const page = await browser.newPage();
      try {
        await page.goto(`http://127.0.0.1:${HTTP_PORT}/?hostca=${encodeURIComponent(ca)}${hostname ? `&hostname=${hostname}` : ''}`);
        await page.fill('#user', 'webuser');
        await page.fill('#password', fx.password);
        await page.click('#connect');
        await page.waitForSelector('#status.ok, #status.error', { timeout: 30_000 });
        return (await page.textContent('#status'))!;
      } finally {
        await page.close();
      }
    };
    expect(await attempt(hostCa, 'edgessh-test')).toMatch(/^Connected to ws:.* as webuser\. Host certificate "edge host" for edgessh-test signed by CA SHA256:\S+\.$/);
    // The URL's host name (127.0.0.1) is not a principal of the certificate; the user CA signs no hosts.
    expect(await attempt(hostCa, '')).toBe('Host certificate refused for 127.0.0.1: Certificate invalid: name is not a listed principal. Refusing to connect.');
    expect(await attempt(userCa, 'edgessh-test')).toMatch(/^Host certificate refused for edgessh-test: No matching CA found: ssh-ed25519 CA SHA256:\S+ is not trusted for edgessh-test\. Refusing to connect\.$/);
  }, 90_000);

  it('the loopback harness runs the whole matrix in the page, every cell passing', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
    try {
      await page.goto(`http://127.0.0.1:${HTTP_PORT}/harness.html`);
      await page.click('#runMatrix');
      await page.waitForFunction(() => {
        const h = (window as unknown as { harness: { running: boolean; done: number; total: number } }).harness;
        return h.total > 0 && h.done === h.total;
      }, undefined, { timeout: 240_000 });
      const h = await page.evaluate(() => (window as unknown as { harness: { passed: number; failed: number; total: number } }).harness);
      await page.screenshot({ path: join(artifacts, 'harness-matrix.png'), fullPage: true });
      expect(h.failed, (await page.textContent('#matrix')) ?? '').toBe(0);
      expect(h.passed).toBeGreaterThanOrEqual(24);
      // One session with the packet inspector: every message, both directions, decoded.
      await page.click('#runOne');
      await page.waitForSelector('#packets:not([hidden]) tbody tr');
      const names = await page.$$eval('#packets tbody tr.pkt td:nth-child(4)', (tds) => tds.map((t) => t.textContent));
      expect(names).toEqual(expect.arrayContaining(['KEXINIT', 'NEWKEYS', 'SERVICE_REQUEST', 'USERAUTH_REQUEST', 'USERAUTH_SUCCESS', 'CHANNEL_OPEN', 'CHANNEL_DATA', 'CHANNEL_CLOSE']));
      await page.click('#packets tbody tr.pkt >> nth=0');
      expect(await page.textContent('pre.raw')).toMatch(/^payload \(plaintext/);
      await page.screenshot({ path: join(artifacts, 'harness-packets.png'), fullPage: true });
    } finally {
      await page.close();
    }
  }, 300_000);
});
