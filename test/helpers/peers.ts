// Real peers (OpenSSH, Dropbear, PuTTY, paramiko, AsyncSSH) against an in-process edgessh server.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo, Server } from 'node:net';
import { createServer, type ServerOptions } from '../../src/server.ts';
import { listenTcp } from '../../src/io/node-net.ts';
import { parsePrivateKey } from '../../src/crypto/keys/index.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import type { CloseInfo, Transport, TransportEvent } from '../../src/transport/transport.ts';
import { DEMO_SUBSYSTEMS, makeDemoPolicy, runDemoSession, type DemoPolicyOptions } from '../../src/apps/demo.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { certifiedHostKeys } from '../../src/auth/certificate.ts';

export const SSH9 = '/usr/bin/ssh';
export const SSH10 = resolve('.peers/openssh10/usr/bin/ssh');

/** In CI every peer must be present; on a developer machine a missing one skips its tests. */
export function havePeer(path: string): boolean {
  const ok = existsSync(path);
  if (!ok && process.env.CI) throw new Error(`${path} is missing: run scripts/install-peers.sh`);
  return ok;
}

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { input?: Uint8Array | string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolvePromise({ code, stdout: Buffer.concat(out), stderr: err });
    });
    p.stdin.on('error', () => {});
    if (opts.input !== undefined) p.stdin.end(opts.input);
    else p.stdin.end();
  });
}

export interface Fixture {
  dir: string;
  /** Host key files by type, made by ssh-keygen (so loading them tests our parser too). */
  hostKeyFiles: Record<'ed25519' | 'ecdsa256' | 'ecdsa384' | 'ecdsa521' | 'rsa', string>;
  userKey: string;
  userKeyRsa: string;
  userKeyEcdsa: string;
  wrongKey: string;
  password: string;
  knownHosts: string;
}

export function makeFixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'edgessh-'));
  const gen = (name: string, ...args: string[]) => {
    const f = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-N', '', '-C', name, '-f', f, ...args]);
    return f;
  };
  const fx: Fixture = {
    dir,
    hostKeyFiles: {
      ed25519: gen('host_ed25519', '-t', 'ed25519'),
      ecdsa256: gen('host_ecdsa256', '-t', 'ecdsa', '-b', '256'),
      ecdsa384: gen('host_ecdsa384', '-t', 'ecdsa', '-b', '384'),
      ecdsa521: gen('host_ecdsa521', '-t', 'ecdsa', '-b', '521'),
      rsa: gen('host_rsa', '-t', 'rsa', '-b', '3072'),
    },
    userKey: gen('user_ed25519', '-t', 'ed25519'),
    userKeyRsa: gen('user_rsa', '-t', 'rsa', '-b', '2048'),
    userKeyEcdsa: gen('user_ecdsa', '-t', 'ecdsa', '-b', '256'),
    wrongKey: gen('wrong_ed25519', '-t', 'ed25519'),
    password: 'correct horse battery staple',
    knownHosts: join(dir, 'known_hosts'),
  };
  writeFileSync(
    join(dir, 'authorized_keys'),
    [fx.userKey, fx.userKeyRsa, fx.userKeyEcdsa].map((k) => readFileSync(k + '.pub', 'utf8')).join(''),
  );
  const pubs = Object.values(fx.hostKeyFiles).map((f) => readFileSync(f + '.pub', 'utf8').split(' ').slice(0, 2).join(' '));
  writeFileSync(fx.knownHosts, pubs.map((p) => `edgessh-test ${p}\n`).join(''));
  return fx;
}

/**
 * Signs `keyFile`.pub with the CA key file (ssh-keygen -s), writing `keyFile`-cert.pub, where OpenSSH,
 * paramiko and AsyncSSH look for a key's certificate. `args`: principals (-n), validity (-V), options (-O).
 */
export function certifyUserKey(caFile: string, keyFile: string, args: string[]): void {
  execFileSync('ssh-keygen', ['-q', '-s', caFile, '-I', `${keyFile.split('/').pop()} cert`, ...args, keyFile + '.pub'], { stdio: 'ignore' });
}

export interface ConnRecord {
  transport: Transport;
  events: TransportEvent[];
  closed: CloseInfo | null;
}

export interface RunningServer {
  port: number;
  tcp: Server;
  conns: ConnRecord[];
  log: string[];
  close(): Promise<void>;
}

export async function startServer(
  fx: Fixture,
  over: Partial<ServerOptions> & { signWith?: (key: PrivateKey) => PrivateKey; policy?: Partial<DemoPolicyOptions>; hostCertificates?: string } = {},
  keyTypes?: (keyof Fixture['hostKeyFiles'])[],
): Promise<RunningServer> {
  const files = (keyTypes ?? (Object.keys(fx.hostKeyFiles) as (keyof Fixture['hostKeyFiles'])[])).map((t) => fx.hostKeyFiles[t]);
  const { signWith = (k: PrivateKey) => k, policy: policyOptions, hostCertificates = '', ...options } = over;
  const plainKeys = (await Promise.all(files.map((f) => parsePrivateKey(readFileSync(f, 'utf8'))))).flat().map(signWith);
  const hostKeys = [...plainKeys, ...certifiedHostKeys(plainKeys, hostCertificates)];
  const log: string[] = [];
  const policy = makeDemoPolicy({ authorizedKeys: readFileSync(join(fx.dir, 'authorized_keys'), 'utf8'), password: fx.password, log: (l) => log.push(l), ...policyOptions });
  const storage = new MemoryStorage();
  const conns: ConnRecord[] = [];
  const server = createServer({
    hostKeys,
    authenticate: policy.authenticate,
    authMethods: policy.methods,
    subsystems: DEMO_SUBSYSTEMS,
    allowPty: policy.allowPty,
    onSession: (s) => runDemoSession(s, { storage, startedAt: Date.now(), policy }),
    loginGraceTimeMs: 30_000,
    log: (l) => log.push(l),
    ...options,
  });
  const origAccept = server.accept.bind(server);
  server.accept = (sink, info = {}) => {
    const rec: ConnRecord = { transport: undefined as unknown as Transport, events: [], closed: null };
    conns.push(rec);
    rec.transport = origAccept(sink, {
      ...info,
      onEvent: (e) => rec.events.push(e),
      onClose: (c) => (rec.closed = c),
    });
    return rec.transport;
  };
  const tcp = await listenTcp(server, '127.0.0.1', 0);
  const port = (tcp.address() as AddressInfo).port;
  return {
    port,
    tcp,
    conns,
    log,
    close: () => new Promise((r) => tcp.close(() => r())),
  };
}

/** OpenSSH client arguments that reach the server through a pipe, as a ProxyCommand does. */
export function sshArgs(fx: Fixture, port: number, extra: string[] = [], key = fx.userKey): string[] {
  // ssh keeps the first value given for an option, so the caller's come first.
  return [
    ...extra,
    '-F', 'none',
    '-o', `ProxyCommand=socat - TCP:127.0.0.1:${port}`,
    '-o', `UserKnownHostsFile=${fx.knownHosts}`,
    '-o', 'HostKeyAlias=edgessh-test',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=20',
    '-i', key,
    'tester@edgessh-test',
  ];
}

/**
 * Two adjacent fixed ports (p, p + 1) for a suite that cannot use listen(0). They lie below the kernel's
 * ephemeral range (32768–60999 here): a fixed port inside it can be held by an outgoing connection or a
 * listen(0) of a suite running alongside, and a server then fails to bind (seen as "port … never opened").
 * `slot` keeps suites apart, the pid keeps concurrent runs apart.
 */
export const fixedPorts = (slot: number): number => 20000 + slot * 1000 + (process.pid % 450) * 2;

/** Debian's sshd on loopback with the fixture's keys (root logs in with the fixture's user keys). */
export async function startSshd(fx: Fixture, port: number, extra: string[] = []): Promise<{ close(): void }> {
  const { spawn: sp } = await import('node:child_process');
  execFileSync('mkdir', ['-p', '/run/sshd']);
  const cfg = join(fx.dir, `sshd_config_${port}`);
  writeFileSync(cfg, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', ...Object.values(fx.hostKeyFiles).map((k) => `HostKey ${k}`),
    `PidFile ${join(fx.dir, `sshd_${port}.pid`)}`, `AuthorizedKeysFile ${join(fx.dir, 'authorized_keys')}`,
    'PermitRootLogin yes', 'StrictModes no', 'UsePAM no', 'UseDNS no', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'PrintMotd no', 'LogLevel ERROR', ...extra, '',
  ].join('\n'));
  const proc = sp('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: 'ignore' });
  await waitPort(port);
  return { close: () => proc.kill() };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitPort(port: number, ms = 20_000): Promise<void> {
  const { connect } = await import('node:net');
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Drives an interactive OpenSSH session under tmux: waits for the demo shell's prompt, types a command,
 * recalls it with Up, then `exit 3`; resolves to the ssh process's exit status.
 */
export async function tmuxShellScenario(sshCommand: string, name: string, statusFile: string): Promise<string> {
  const session = `edgessh-${name}-${process.pid}`;
  const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `${sshCommand}; echo $? > ${statusFile}`);
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 400; i++) {
      if (re.test(screen())) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`screen never matched ${re}:\n${screen()}`);
  };
  try {
    await waitFor(/tester@edgessh:~\$\s*$/m); // capture-pane trims trailing blanks
    tmux('send-keys', '-t', session, 'echo typed-here', 'Enter');
    await waitFor(/^typed-here$/m);
    tmux('send-keys', '-t', session, 'Up', 'Enter');
    await waitFor(/typed-here[\s\S]*typed-here[\s\S]*typed-here/);
    tmux('send-keys', '-t', session, 'exit 3', 'Enter');
    for (let i = 0; i < 100; i++) {
      try {
        const s = readFileSync(statusFile, 'utf8').trim();
        if (s) return s;
      } catch {
        // not written yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the shell did not exit');
  } finally {
    try {
      tmux('kill-session', '-t', session);
    } catch {
      // already gone
    }
  }
}
