// Userauth and connection with the OpenSSH client: exec, exit codes, an interactive shell under tmux,
// 64 MiB up and down with rekeys, password and keyboard-interactive logins, refusals.
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSH10, SSH9, certifyUserKey, havePeer, makeFixture, run, sshArgs, startServer, type Fixture, type RunningServer, tmuxShellScenario, waitPort } from '../helpers/peers.ts';

let fx: Fixture;
let srv: RunningServer;

beforeAll(async () => {
  fx = makeFixture();
  srv = await startServer(fx);
});
afterAll(() => srv?.close());

const ssh = (cmd: string, extra: string[] = [], input?: Uint8Array | string, key?: string) =>
  run(SSH9, [...sshArgs(fx, srv.port, ['-o', 'LogLevel=ERROR', ...extra], key), cmd], { input, timeoutMs: 180_000 });

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

describe.skipIf(!havePeer(SSH9))('OpenSSH client sessions', () => {
  it("ssh 'echo hi' prints hi", async () => {
    const r = await ssh('echo hi');
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('hi\n');
    expect(r.code).toBe(0);
  });

  it('ssh false exits 1; exit 7 exits 7; an unknown command exits 127 with a message', async () => {
    expect((await ssh('false')).code).toBe(1);
    expect((await ssh('exit 7')).code).toBe(7);
    const r = await ssh('nosuchcmd');
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('edgessh: nosuchcmd: command not found\n');
  });

  it('directories in the shell: mkdir, rmdir, mv, cd, pwd, ls DIR, cat and rm by path, each refusal worded as coreutils words it', async () => {
    const made = await ssh('mkdir shd shd/inner && echo deep | cat > shd/inner/f.txt && ls shd && ls shd/inner && cat shd/inner/f.txt');
    expect([made.code, made.stdout.toString(), made.stderr.toString()]).toEqual([0, 'inner\nf.txt\ndeep\n', '']);
    const two = await ssh('ls shd shd/inner');
    expect(two.stdout.toString()).toBe('shd:\ninner\n\nshd/inner:\nf.txt\n');
    const refusals = [
      ['mkdir shd', "mkdir: cannot create directory 'shd': File exists\n", 1],
      ['mkdir no/such', "mkdir: cannot create directory 'no/such': No such file or directory\n", 1],
      ['mkdir shd/inner/f.txt/x', "mkdir: cannot create directory 'shd/inner/f.txt/x': Not a directory\n", 1],
      ['rmdir shd/inner', "rmdir: failed to remove 'shd/inner': Directory not empty\n", 1],
      ['rmdir shd/inner/f.txt', "rmdir: failed to remove 'shd/inner/f.txt': Not a directory\n", 1],
      ['rm shd', "rm: cannot remove 'shd': Is a directory\n", 1],
      ['cat shd', 'cat: shd: Is a directory\n', 1],
      ['echo x | cat > shd', 'cat: shd: Is a directory\n', 1],
      ['echo x | cat > none/f', 'cat: none/f: No such directory\n', 1],
      ['ls none', "ls: cannot access 'none': No such file or directory\n", 2],
    ] as const;
    for (const [cmd, err, code] of refusals) {
      const r = await ssh(cmd);
      expect([cmd, r.code, r.stderr.toString()]).toEqual([cmd, code, err]);
    }
    // mv: a file renamed, a file and a directory into a directory, a directory renamed; and its refusals.
    const mv = await ssh('mkdir shd/to && mv shd/inner/f.txt shd/g.txt && mv shd/g.txt shd/inner shd/to && mv shd/to shd/moved && ls shd/moved shd/moved/inner');
    expect([mv.code, mv.stdout.toString(), mv.stderr.toString()]).toEqual([0, 'shd/moved:\ng.txt\ninner\n\nshd/moved/inner:\n', '']);
    for (const [cmd, err] of [
      ['mv nothere x', "mv: cannot stat 'nothere': No such file or directory\n"],
      ['mv shd shd/moved', "mv: cannot move 'shd' to a subdirectory of itself, 'shd/moved'\n"],
      ['mv shd/moved/g.txt shd/moved/inner/g.txt shd/moved/g.txt', "mv: target 'shd/moved/g.txt': Not a directory\n"],
      ['mv shd/moved/g.txt', "mv: missing destination file operand after 'shd/moved/g.txt'\n"],
    ] as const) {
      const r = await ssh(cmd);
      expect([cmd, r.code, r.stderr.toString()]).toEqual([cmd, 1, err]);
    }
    await ssh('mv shd/moved/g.txt shd/moved/inner/f.txt && mv shd/moved/inner shd/inner && rmdir shd/moved');
    // cd for the rest of the command line; pwd.
    const cd = await ssh('cd shd/inner && pwd && cat f.txt && cd .. && ls && cd /; pwd');
    expect([cd.code, cd.stdout.toString()]).toEqual([0, '/shd/inner\ndeep\ninner\n/\n']);
    const gone = await ssh('rm shd/inner/f.txt && rmdir shd/inner && rmdir shd && ls');
    expect(gone.code).toBe(0);
    expect(gone.stdout.toString()).not.toMatch(/^shd$/m);
  });

  it('command lists as sh runs them: pipelines, ;, && and ||, comments; background jobs and stray operators are refused by name', async () => {
    const r = await ssh('echo a; false && echo skipped || echo "b;c" # a comment');
    expect([r.code, r.stdout.toString(), r.stderr.toString()]).toEqual([0, 'a\nb;c\n', '']);
    expect((await ssh('true && false')).code).toBe(1);
    const ex = await ssh('echo before; exit 5; echo after');
    expect([ex.code, ex.stdout.toString()]).toEqual([5, 'before\n']);
    const written = await ssh('cat > list.txt && cat list.txt; rm list.txt', [], 'piped in\n');
    expect(written.stdout.toString()).toBe('piped in\n');
    // Pipelines: bytes through every stage, a stage that stops early stops the ones before it (SIGPIPE), the
    // last stage's status counts, and exit ends only its own stage.
    const data = Uint8Array.from({ length: 3 << 20 }, (_, i) => (i * 7 + (i >> 9)) & 0xff);
    const piped = await ssh('cat | cat | sha256sum', [], data);
    expect(piped.stdout.toString()).toBe(`${sha256(data)}  -\n`);
    const counted = await ssh('head -c 100000 /dev/zero | wc -c');
    expect([counted.code, counted.stdout.toString()]).toEqual([0, '100000\n']);
    const early = await ssh('head -c 4000000000 /dev/zero | true && echo done');
    expect([early.code, early.stdout.toString()]).toEqual([0, 'done\n']);
    expect((await ssh('true | false')).code).toBe(1);
    expect((await ssh('exit 3 | echo still')).stdout.toString()).toBe('still\n');
    for (const [line, message] of [
      ['echo x |', "edgessh: syntax error: the line ends with `|'\n"],
      ['sleep 1 &', 'edgessh: background jobs (&) are not supported in this shell\n'],
      ['ls &&', "edgessh: syntax error: the line ends with `&&'\n"],
      ['; ls', "edgessh: syntax error near unexpected token `;'\n"],
      ['echo hi > f', 'edgessh: only `cat > NAME` writes a file in this shell\n'],
    ]) {
      const bad = await ssh(line!);
      expect([bad.code, bad.stdout.toString(), bad.stderr.toString()]).toEqual([2, '', message]);
    }
  });

  it('logs in with RSA (rsa-sha2-512) and ECDSA user keys', async () => {
    expect((await ssh('whoami', [], undefined, fx.userKeyRsa)).stdout.toString()).toBe('tester\n');
    expect((await ssh('whoami', [], undefined, fx.userKeyEcdsa)).stdout.toString()).toBe('tester\n');
  });

  it('UpdateHostKeys: knowing only the ed25519 host key, the client learns the others (hostkeys-00, proven by hostkeys-prove-00)', async () => {
    const known = join(fx.dir, 'known_hosts_ed25519_only');
    const ed = readFileSync(fx.hostKeyFiles.ed25519 + '.pub', 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(known, `edgessh-test ${ed}\n`);
    // The client asks for the proofs right after login and takes the answer only while it is still running:
    // a command that lasts a little (as a real session does) rather than `true`, which can end first.
    const r = await ssh('head -c 20000000 /dev/zero', ['-o', `UserKnownHostsFile=${known}`, '-o', 'UpdateHostKeys=yes']);
    expect(r.code).toBe(0);
    const types = readFileSync(known, 'utf8').trim().split('\n').map((l) => l.split(' ')[1]).sort();
    expect(types).toEqual(['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-ed25519', 'ssh-rsa']);
  });

  it('a wrong key is refused', async () => {
    const r = await ssh('true', [], undefined, fx.wrongKey);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied \(publickey,password,keyboard-interactive\)/);
  });

  it('password login works; a wrong password is refused', async () => {
    if (!havePeer('/usr/bin/sshpass')) return;
    const base = ['-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1'];
    const args = (cmd: string) => [...sshArgs(fx, srv.port, ['-o', 'LogLevel=ERROR', ...base]), cmd];
    const ok = await run('sshpass', ['-p', fx.password, SSH9, ...args('echo pw')]);
    expect(ok.stdout.toString()).toBe('pw\n');
    const bad = await run('sshpass', ['-p', 'wrong', SSH9, ...args('echo pw')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Permission denied/);
  });

  it('keyboard-interactive login works', async () => {
    if (!havePeer('/usr/bin/sshpass')) return;
    const base = ['-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive', '-o', 'NumberOfPasswordPrompts=1'];
    const r = await run('sshpass', ['-P', 'Password', '-p', fx.password, SSH9, ...sshArgs(fx, srv.port, ['-o', 'LogLevel=ERROR', ...base]), 'echo kbd']);
    expect(r.stdout.toString()).toBe('kbd\n');
  });

  it('64 MiB up with RekeyLimit=1M: sha256sum matches', async () => {
    const data = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
    const before = srv.conns.length;
    const r = await ssh('sha256sum', ['-o', 'RekeyLimit=1M'], data);
    expect(r.stdout.toString()).toBe(`${sha256(data)}  -\n`);
    expect(srv.conns[before]!.transport.kexCount).toBeGreaterThan(8); // repeated rekeys; how many depends on timing
  }, 300_000);

  it('64 MiB down with RekeyLimit=1M: byte count matches', async () => {
    const n = 64 * 1024 * 1024;
    const before = srv.conns.length;
    const r = await ssh(`head -c ${n} /dev/zero`, ['-o', 'RekeyLimit=1M']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(n);
    expect(r.stdout.every((b) => b === 0)).toBe(true);
    expect(srv.conns[before]!.transport.kexCount).toBeGreaterThan(8); // repeated rekeys; how many depends on timing
  }, 300_000);

  it('files: cat > f, ls, cat f, rm f', async () => {
    await ssh('cat > notes.txt', [], 'remember the milk\n');
    expect((await ssh('ls')).stdout.toString()).toMatch(/notes\.txt/);
    expect((await ssh('cat notes.txt')).stdout.toString()).toBe('remember the milk\n');
    expect((await ssh('rm notes.txt')).code).toBe(0);
    expect((await ssh('cat notes.txt')).code).toBe(1);
  });

  it('an interactive shell under tmux: prompt, typing, history, exit 3', async () => {
    if (!havePeer('/usr/bin/tmux')) return;
    const cmd = `${SSH9} ${sshArgs(fx, srv.port, ['-tt', '-o', 'LogLevel=ERROR']).map((a) => `'${a}'`).join(' ')}`;
    expect(await tmuxShellScenario(cmd, 'sessions', join(fx.dir, 'status'))).toBe('3');
  });

  it('a forced command from authorized_keys (command=) replaces the request', async () => {
    const fx2 = makeFixture();
    const pub = execFileSync('cat', [fx2.userKey + '.pub'], { encoding: 'utf8' });
    writeFileSync(join(fx2.dir, 'authorized_keys'), `restrict,command="echo forced" ${pub}`);
    const srv2 = await startServer(fx2, {}, ['ed25519']);
    try {
      const r = await run(SSH9, [...sshArgs(fx2, srv2.port, ['-o', 'LogLevel=ERROR']), 'echo asked']);
      expect(r.stdout.toString()).toBe('forced\n');
    } finally {
      await srv2.close();
    }
  });

  it('MaxStartups: with connections waiting to log in, ssh is turned away as sshd turns it away, and let in once they go', async () => {
    const srv2 = await startServer(fx, { maxStartups: { start: 2, rate: 100, full: 2 } }, ['ed25519']);
    const { connect } = await import('node:net');
    // Two connections that never log in hold both places.
    const holders = await Promise.all([0, 1].map(() => new Promise<import('node:net').Socket>((r) => {
      const s = connect(srv2.port, '127.0.0.1', () => r(s));
      s.on('error', () => {});
    })));
    try {
      await new Promise((r) => setTimeout(r, 100));
      const turned = await run(SSH9, [...sshArgs(fx, srv2.port, ['-o', 'LogLevel=ERROR']), 'echo in']);
      expect(turned.code).toBe(255);
      expect(turned.stderr.toString()).toMatch(/Connection closed by|closed by remote host/);
      expect(srv2.log.join('\n')).toMatch(/drop connection from 127\.0\.0\.1 port \d+ past MaxStartups \(2 not logged in yet\)/);
      for (const h of holders) h.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const ok = await run(SSH9, [...sshArgs(fx, srv2.port, ['-o', 'LogLevel=ERROR']), 'echo in']);
      expect(ok.stdout.toString()).toBe('in\n');
    } finally {
      for (const h of holders) h.destroy();
      await srv2.close();
    }
  });

  it('authorized_keys from= and expiry-time: the key logs in only from a permitted address and before it expires', async () => {
    const fx2 = makeFixture();
    const pub = (f: string) => execFileSync('cat', [f + '.pub'], { encoding: 'utf8' }).trim();
    writeFileSync(join(fx2.dir, 'authorized_keys'), [
      `from="127.0.0.0/8,!127.0.0.2" ${pub(fx2.userKey)}`,
      `from="10.0.0.0/8" ${pub(fx2.userKeyRsa)}`,
      `expiry-time="20200101" ${pub(fx2.userKeyEcdsa)}`,
      `cert-authority ${pub(fx2.wrongKey)}`,
      '',
    ].join('\n'));
    const srv2 = await startServer(fx2, {}, ['ed25519']);
    try {
      const as = (key: string) => run(SSH9, [...sshArgs(fx2, srv2.port, ['-o', 'LogLevel=ERROR'], key), 'echo in']);
      expect((await as(fx2.userKey)).stdout.toString()).toBe('in\n');
      for (const key of [fx2.userKeyRsa, fx2.userKeyEcdsa, fx2.wrongKey]) {
        const r = await as(key);
        expect(r.code).toBe(255);
        expect(r.stderr.toString()).toContain('Permission denied (publickey');
      }
      const log = srv2.log.join('\n');
      expect(log).toMatch(/Authentication tried for tester with correct key but not from a permitted host \(ip=127\.0\.0\.1, required=10\.0\.0\.0\/8\)/);
      expect(log).toMatch(/Authentication tried for tester with correct key but the key expired at 2020-01-01/);
    } finally {
      await srv2.close();
    }
  });
  it('user certificates: a cert-authority line and TrustedUserCAKeys let in the principals they sign for, narrowed as sshd narrows; RevokedKeys (a KRL) shuts them out', async () => {
    const fx2 = makeFixture();
    const pub = (f: string) => readFileSync(f + '.pub', 'utf8').trim();
    // CA 1 (ed25519) through authorized_keys; CA 2 (ECDSA) through TrustedUserCAKeys. The plain user keys are in neither.
    const [ca1, ca2] = ['ca1', 'ca2'].map((n, i) => {
      const f = join(fx2.dir, n);
      execFileSync('ssh-keygen', ['-q', '-N', '', '-C', n, '-f', f, ...(i ? ['-t', 'ecdsa', '-b', '384'] : ['-t', 'ed25519'])]);
      return f;
    }) as [string, string];
    writeFileSync(join(fx2.dir, 'authorized_keys'), `cert-authority ${pub(ca1)}\n`);
    const srv2 = await startServer(fx2, { policy: { trustedUserCaKeys: pub(ca2) } }, ['ed25519']);
    const as = (key: string, cmd: string, extra: string[] = []) => run(SSH9, [...sshArgs(fx2, srv2.port, ['-o', 'LogLevel=ERROR', ...extra], key), cmd]);
    const denied = (r: { code: number | null; stderr: string }) => {
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('Permission denied (publickey');
    };
    try {
      certifyUserKey(ca1, fx2.userKey, ['-n', 'tester', '-V', '-5m:+1h']);
      certifyUserKey(ca2, fx2.userKeyRsa, ['-n', 'tester']);
      expect((await as(fx2.userKey, 'whoami')).stdout.toString()).toBe('tester\n');
      expect((await as(fx2.userKeyRsa, 'whoami')).stdout.toString()).toBe('tester\n');
      // A certificate made by edgessh keygen -s (not ssh-keygen) does as well.
      const made = await run('node', ['bin/edgessh.mjs', 'keygen', '-s', ca1, '-I', 'by edgessh', '-n', 'tester', '-V', '-1m:+1h', fx2.userKeyEcdsa + '.pub']);
      expect(made.code, made.stderr).toBe(0);
      expect((await as(fx2.userKeyEcdsa, 'whoami')).stdout.toString()).toBe('tester\n');
      expect(srv2.log.join('\n')).toMatch(/Accepted certificate ID "by edgessh" \(serial 0\) signed by ssh-ed25519 CA/);
      // The OpenSSH 10 client too (with mlkem768x25519, its default key exchange).
      if (havePeer(SSH10))
        for (const key of [fx2.userKey, fx2.userKeyRsa])
          expect((await run(SSH10, [...sshArgs(fx2, srv2.port, ['-o', 'LogLevel=ERROR'], key), 'whoami'])).stdout.toString()).toBe('tester\n');
      let log = srv2.log.join('\n');
      expect(log).toMatch(/Accepted certificate ID "user_ed25519 cert" \(serial 0\) signed by ssh-ed25519 CA SHA256:\S+ for tester/);
      expect(log).toMatch(/Accepted publickey ssh-ed25519-cert-v01@openssh.com for tester/);
      expect(log).toMatch(/Accepted publickey rsa-sha2-512-cert-v01@openssh.com for tester/);
      // force-command replaces the request; without permit-pty a pty-req is refused, and ssh -tt, having asked
      // for a terminal outright, gives up as it does with sshd.
      certifyUserKey(ca1, fx2.userKey, ['-n', 'tester', '-O', 'no-pty', '-O', 'force-command=echo forced']);
      expect((await as(fx2.userKey, 'echo asked')).stdout.toString()).toBe('forced\n');
      const tty = await as(fx2.userKey, 'echo asked', ['-tt']);
      expect(tty.code).toBe(255);
      expect(tty.stderr).toContain('PTY allocation request failed on channel 0');
      // Refused: expired, another principal, a TrustedUserCAKeys certificate naming no one, the CA keys used plainly.
      certifyUserKey(ca1, fx2.userKey, ['-n', 'tester', '-V', '-2h:-1h']);
      denied(await as(fx2.userKey, 'true'));
      certifyUserKey(ca2, fx2.userKeyRsa, ['-n', 'bob']);
      denied(await as(fx2.userKeyRsa, 'true'));
      certifyUserKey(ca2, fx2.userKeyRsa, []);
      denied(await as(fx2.userKeyRsa, 'true'));
      for (const ca of [ca1, ca2]) denied(await as(ca, 'true'));
      log = srv2.log.join('\n');
      expect(log).toMatch(/signed by ssh-ed25519 CA \S+ but Certificate invalid: expired/);
      expect(log).toMatch(/signed by ecdsa-sha2-nistp384 CA \S+ but Certificate invalid: name is not a listed principal/);
      expect(log).toMatch(/signed by ecdsa-sha2-nistp384 CA \S+ but Certificate lacks principal list/);
      // RevokedKeys, a KRL from ssh-keygen -k: CA 1's serial 7 and the RSA key (so its certificate too).
      const spec = join(fx2.dir, 'krl.spec');
      writeFileSync(spec, `serial: 7\nkey: ${pub(fx2.userKeyRsa)}\n`);
      execFileSync('ssh-keygen', ['-q', '-k', '-f', join(fx2.dir, 'krl'), '-s', ca1 + '.pub', spec]);
      const srv3 = await startServer(fx2, { policy: { trustedUserCaKeys: pub(ca2), revokedKeys: readFileSync(join(fx2.dir, 'krl')) } }, ['ed25519']);
      try {
        const on3 = (key: string) => run(SSH9, [...sshArgs(fx2, srv3.port, ['-o', 'LogLevel=ERROR'], key), 'whoami']);
        certifyUserKey(ca1, fx2.userKey, ['-n', 'tester', '-z', '8']);
        expect((await on3(fx2.userKey)).stdout.toString()).toBe('tester\n');
        certifyUserKey(ca1, fx2.userKey, ['-n', 'tester', '-z', '7']);
        denied(await on3(fx2.userKey));
        certifyUserKey(ca2, fx2.userKeyRsa, ['-n', 'tester']);
        denied(await on3(fx2.userKeyRsa));
        const log3 = srv3.log.join('\n');
        expect(log3).toMatch(/Authentication tried for tester with ssh-ed25519-cert-v01@openssh.com SHA256:\S+ but the certificate's serial 7 is revoked/);
        expect(log3).toMatch(/Authentication tried for tester with ssh-rsa-cert-v01@openssh.com SHA256:\S+ but the key is revoked/);
      } finally {
        await srv3.close();
      }
    } finally {
      await srv2.close();
    }
  });
});

/** `edgessh serve` started as a command on a free port with the fixture's ed25519 host key and `args`; its log gathers in `log`. */
async function serveCommand(fx: Fixture, args: string[], env?: NodeJS.ProcessEnv) {
  const port = await new Promise<number>((resolve) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const proc = spawn('node', ['bin/edgessh.mjs', 'serve', '--listen', `127.0.0.1:${port}`, '--host-key', fx.hostKeyFiles.ed25519, ...args], { stdio: ['ignore', 'ignore', 'pipe'], ...(env ? { env } : {}) });
  const server = { port, proc, log: '' };
  proc.stderr!.on('data', (d: Buffer) => (server.log += d.toString()));
  return server;
}

describe.skipIf(!havePeer(SSH9))('edgessh serve itself (the command, its flags) with the OpenSSH client', () => {
  it('a key from --authorized-keys runs commands; --authorized-keys DIR/%u holds a user\'s own keys; --trusted-user-ca-keys with --authorized-principals-file DIR/%u lets in the principals of that user\'s file, with its options', async () => {
    const fx2 = makeFixture();
    const ca = join(fx2.dir, 'ca');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'ca', '-f', ca]);
    mkdirSync(join(fx2.dir, 'principals'));
    writeFileSync(join(fx2.dir, 'principals', 'tester'), '# tester may log in as a member of team\ncommand="echo principal team" team\n');
    // carol's own key is in her own authorized_keys only (--authorized-keys with %u, sshd's AuthorizedKeysFile).
    const carolKey = join(fx2.dir, 'carol_key');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ecdsa', '-C', 'carol', '-f', carolKey]);
    mkdirSync(join(fx2.dir, 'keys'));
    writeFileSync(join(fx2.dir, 'keys', 'carol'), `no-pty ${readFileSync(carolKey + '.pub', 'utf8')}`);
    const server = await serveCommand(fx2, ['--authorized-keys', join(fx2.dir, 'authorized_keys'), '--authorized-keys', join(fx2.dir, 'keys', '%u'), '--trusted-user-ca-keys', `${ca}.pub`,
      '--authorized-principals-file', join(fx2.dir, 'principals', '%u'), '--data', join(fx2.dir, 'data')]);
    const { port, proc } = server;
    const as = (key: string, cmd: string, user = 'tester') =>
      run(SSH9, [...sshArgs(fx2, port, ['-o', 'LogLevel=ERROR'], key).map((a) => (a === 'tester@edgessh-test' ? `${user}@edgessh-test` : a)), cmd]);
    const denied = (r: { code: number | null; stderr: string }) => {
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('Permission denied (publickey');
    };
    try {
      await waitPort(port);
      const hi = await as(fx2.userKey, 'echo hi');
      expect([hi.code, hi.stdout.toString(), hi.stderr]).toEqual([0, 'hi\n', '']);
      expect((await as(fx2.userKey, 'false')).code).toBe(1);
      // carol's key logs in carol (under its no-pty), and no one else.
      expect((await as(carolKey, 'whoami', 'carol')).stdout.toString()).toBe('carol\n');
      expect((await run(SSH9, [...sshArgs(fx2, port, ['-o', 'LogLevel=ERROR', '-tt'], carolKey).map((a) => (a === 'tester@edgessh-test' ? 'carol@edgessh-test' : a)), 'whoami'])).stderr).toContain('PTY allocation request failed');
      denied(await as(carolKey, 'whoami', 'tester'));
      denied(await as(carolKey, 'whoami', '../keys/carol')); // the same file, reached by a name with a path in it
      // The wrong key is in no authorized_keys: only its certificate lets it in, through the principal team.
      certifyUserKey(ca, fx2.wrongKey, ['-n', 'team']);
      const viaTeam = await as(fx2.wrongKey, 'whoami');
      expect([viaTeam.code, viaTeam.stdout.toString()]).toEqual([0, 'principal team\n']);
      // Naming the user is not enough once a principals file is configured; a user without a file, or whose
      // name would step out of the folder, gets nothing.
      certifyUserKey(ca, fx2.wrongKey, ['-n', 'tester']);
      denied(await as(fx2.wrongKey, 'whoami'));
      certifyUserKey(ca, fx2.wrongKey, ['-n', 'team,bob']);
      denied(await as(fx2.wrongKey, 'whoami', 'bob'));
      denied(await as(fx2.wrongKey, 'whoami', '../principals/tester'));
      expect(server.log).toMatch(/Accepted certificate ID "wrong_ed25519 cert" \(serial 0\) signed by ssh-ed25519 CA SHA256:\S+ for tester/);
      expect(server.log).toMatch(/Authentication tried for tester with certificate ID "wrong_ed25519 cert" .* but Certificate does not contain an authorized principal/);
      expect(server.log).toMatch(/Authentication tried for bob with .* but Certificate does not contain an authorized principal/);
    } finally {
      proc.kill();
    }
  });

  it('--authorized-keys-command is asked for a key no file has: its lines log that user in, with their options; it gets %u %f %t %k; a failing command, an unsafe name or a key a file has does not use it', async () => {
    const fx2 = makeFixture();
    const pub = readFileSync(fx2.userKeyEcdsa + '.pub', 'utf8');
    const calls = join(fx2.dir, 'calls');
    // The program is /bin/sh (root's, as sshd wants); the script it runs is an argument. It prints the ECDSA key
    // for tester (no-pty) and for "failing", where it then exits 1; nothing for anyone else.
    const script = join(fx2.dir, 'keys.sh');
    writeFileSync(script, `echo "$@" >> '${calls}'\ncase "$1" in tester) echo 'no-pty ${pub.trim()}' ;; failing) echo '${pub.trim()}'; exit 1 ;; esac\n`);
    // --authorized-keys holds only the ed25519 key: the ECDSA key can come from the command alone.
    writeFileSync(join(fx2.dir, 'ed25519_only'), readFileSync(fx2.userKey + '.pub'));
    const server = await serveCommand(fx2, ['--authorized-keys', join(fx2.dir, 'ed25519_only'), '--authorized-keys-command', `/bin/sh ${script} %u %f %t %k`, '--data', join(fx2.dir, 'data')]);
    const { port, proc } = server;
    // The user through -o User (a destination starting with - would read as an option).
    const as = (key: string, cmd: string, user: string, extra: string[] = []) =>
      run(SSH9, [...sshArgs(fx2, port, ['-o', 'LogLevel=ERROR', '-o', `User=${user}`, ...extra], key).map((a) => (a === 'tester@edgessh-test' ? 'edgessh-test' : a)), cmd]);
    const denied = (r: { code: number | null; stderr: string }) => {
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('Permission denied (publickey');
    };
    try {
      await waitPort(port);
      const who = await as(fx2.userKeyEcdsa, 'whoami', 'tester');
      expect([who.code, who.stdout.toString()]).toEqual([0, 'tester\n']);
      expect((await as(fx2.userKeyEcdsa, 'whoami', 'tester', ['-tt'])).stderr).toContain('PTY allocation request failed');
      const [user, fp, type, b64] = readFileSync(calls, 'utf8').split('\n')[0]!.split(' ');
      expect([user, fp, type, b64]).toEqual(['tester', execFileSync('ssh-keygen', ['-l', '-f', fx2.userKeyEcdsa + '.pub'], { encoding: 'utf8' }).split(' ')[1], pub.split(' ')[0], pub.split(' ')[1]]);
      denied(await as(fx2.userKeyEcdsa, 'whoami', 'carol'));
      denied(await as(fx2.userKeyEcdsa, 'whoami', 'failing'));
      expect(server.log).toMatch(/AuthorizedKeysCommand \/bin\/sh for failing: exited with 1; its output is not used/);
      // OpenSSH's client will not send such a name; ssh2 will.
      const { Client } = await import('ssh2');
      const refused = await new Promise<string>((resolve) => {
        const c = new Client();
        c.on('ready', () => (c.end(), resolve('logged in')));
        c.on('error', (e) => resolve(e.message));
        c.connect({ host: '127.0.0.1', port, username: '-tester', privateKey: readFileSync(fx2.userKeyEcdsa), hostVerifier: () => true });
      });
      expect(refused).toMatch(/All configured authentication methods failed/);
      expect(server.log).toContain('AuthorizedKeysCommand not run for user name "-tester"');
      expect(readFileSync(calls, 'utf8')).not.toMatch(/^-tester/m);
      // The ed25519 key is in the file: the command is not asked.
      const before = readFileSync(calls, 'utf8');
      expect((await as(fx2.userKey, 'whoami', 'tester')).stdout.toString()).toBe('tester\n');
      expect(readFileSync(calls, 'utf8')).toBe(before);
    } finally {
      proc.kill();
    }
  });

  it('--authorized-principals-command gives the principals a trusted CA\'s certificate may log a user in as, with their options; it gets %u %i %s %F %f %T %t; none listed, or another user: refused', async () => {
    const fx2 = makeFixture();
    const ca = join(fx2.dir, 'ca');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ecdsa', '-C', 'ca', '-f', ca]);
    const calls = join(fx2.dir, 'calls');
    const script = join(fx2.dir, 'principals.sh');
    writeFileSync(script, `echo "$@" >> '${calls}'\n[ "$1" = tester ] && echo 'command="echo via team" team'\nexit 0\n`);
    const server = await serveCommand(fx2, ['--trusted-user-ca-keys', `${ca}.pub`, '--authorized-principals-command', `/bin/sh ${script} %u %i %s %F %f %T %t`, '--data', join(fx2.dir, 'data')]);
    const { port, proc } = server;
    const as = (cmd: string, user = 'tester') =>
      run(SSH9, [...sshArgs(fx2, port, ['-o', 'LogLevel=ERROR'], fx2.wrongKey).map((a) => (a === 'tester@edgessh-test' ? `${user}@edgessh-test` : a)), cmd]);
    const fp = (f: string) => execFileSync('ssh-keygen', ['-l', '-f', f], { encoding: 'utf8' }).split(' ')[1];
    try {
      await waitPort(port);
      execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'laptop of tester', '-z', '42', '-n', 'team', fx2.wrongKey + '.pub']);
      const viaTeam = await as('whoami');
      expect([viaTeam.code, viaTeam.stdout.toString()]).toEqual([0, 'via team\n']);
      expect(readFileSync(calls, 'utf8').split('\n')[0]).toBe(`tester laptop of tester 42 ${fp(ca + '.pub')} ${fp(fx2.wrongKey + '.pub')} ecdsa-sha2-nistp256 ssh-ed25519-cert-v01@openssh.com`);
      // carol gets no principals from it; a certificate naming tester (not team) is not enough for tester.
      expect((await as('whoami', 'carol')).stderr).toContain('Permission denied (publickey');
      execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'other', '-n', 'tester', fx2.wrongKey + '.pub']);
      expect((await as('whoami')).stderr).toContain('Permission denied (publickey');
      expect(server.log).toMatch(/Authentication tried for tester with certificate ID "other" .* but Certificate does not contain an authorized principal/);
    } finally {
      proc.kill();
    }
  });

  it('--client-alive-interval / --client-alive-count-max: a client that answers keepalives stays; one whose replies stop arriving is disconnected with sshd\'s words', async () => {
    const fx2 = makeFixture();
    const { port, proc } = await serveCommand(fx2, ['--authorized-keys', join(fx2.dir, 'authorized_keys'), '--client-alive-interval', '1', '--client-alive-count-max', '2']);
    // A relay between ssh and the server that can stop passing what the client sends (a client gone silent).
    let frozen = false;
    let clientBytes = 0;
    const relay = createNetServer((c) => {
      const up = createConnection(port, '127.0.0.1');
      c.on('data', (d: Buffer) => {
        clientBytes += d.length;
        if (!frozen) up.write(d);
      });
      up.pipe(c);
      const end = () => (c.destroy(), up.destroy());
      c.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    const relayPort = await new Promise<number>((r) => relay.listen(0, '127.0.0.1', () => r((relay.address() as AddressInfo).port)));
    // `cat` in the demo shell waits for its input: the client's stdin stays open until `feed` ends it.
    const catSession = () => {
      const p = spawn(SSH9, [...sshArgs(fx2, relayPort, ['-o', 'LogLevel=ERROR']), 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => p.on('close', (code) => r({ code, stdout: out, stderr: err })));
      return { feed: (text: string) => p.stdin!.end(text), done, kill: () => p.kill('SIGKILL') };
    };
    try {
      await waitPort(port);
      const alive = catSession();
      await new Promise((r) => setTimeout(r, 4500)); // four keepalives, each answered
      alive.feed('still here\n');
      const a = await alive.done;
      expect([a.code, a.stdout]).toEqual([0, 'still here\n']);
      const t0 = Date.now();
      const quiet = catSession();
      const silent = quiet.done;
      setTimeout(quiet.kill, 25_000).unref();
      // Once the session runs (the client has sent its exec request), its further bytes stop arriving.
      const before = clientBytes;
      while (clientBytes === before || Date.now() - t0 < 1500) await new Promise((r) => setTimeout(r, 100));
      frozen = true;
      const r = await silent;
      expect(r.code).toBe(255);
      expect(r.stderr).toContain('Timeout, client not responding');
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      relay.close();
      proc.kill();
    }
  });

  it('--max-auth-tries, --max-sessions, --login-grace-time: sshd\'s MaxAuthTries, MaxSessions and LoginGraceTime', async () => {
    const fx2 = makeFixture();
    const { port, proc } = await serveCommand(
      fx2,
      ['--authorized-keys', join(fx2.dir, 'authorized_keys'), '--password-env', 'EDGESSH_TEST_PASSWORD', '--max-auth-tries', '2', '--max-sessions', '1', '--login-grace-time', '2'],
      { ...process.env, EDGESSH_TEST_PASSWORD: fx2.password },
    );
    const otherWrong = join(fx2.dir, 'other_wrong');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', otherWrong]);
    const { Client } = await import('ssh2');
    try {
      await waitPort(port);
      // Two keys refused (OpenSSH offers them in the order given), then the right one: too late at 2 tries.
      const keys = (...ks: string[]) => sshArgs(fx2, port, ['-o', 'LogLevel=ERROR', ...ks.flatMap((k) => ['-i', k])], ks[0]);
      const late = await run(SSH9, [...keys(fx2.wrongKey, otherWrong, fx2.userKey), 'whoami']);
      expect(late.code).toBe(255);
      expect(late.stderr).toContain('Too many authentication failures');
      const early = await run(SSH9, [...keys(fx2.wrongKey, fx2.userKey), 'whoami']);
      expect([early.code, early.stdout.toString()]).toEqual([0, 'tester\n']);
      // One session per connection: a second one, while the first is open, is refused.
      const c = new Client();
      await new Promise<void>((r, j) => c.on('ready', r).on('error', j).connect({ host: '127.0.0.1', port, username: 'tester', privateKey: readFileSync(fx2.userKey), hostVerifier: () => true }));
      const first = await new Promise<import('ssh2').ClientChannel>((r, j) => c.exec('cat', (e, ch) => (e ? j(e) : r(ch))));
      const second = await new Promise<string>((r) => c.exec('whoami', (e) => r(e ? e.message : 'opened')));
      expect(second).toMatch(/too many sessions/);
      first.end();
      c.end();
      // Keyboard-interactive left unanswered: the connection ends after the grace time.
      const t0 = Date.now();
      const why = await new Promise<string>((resolve) => {
        const k = new Client();
        k.on('ready', () => resolve('logged in'));
        k.on('error', (e) => resolve(e.message));
        k.on('close', () => resolve('closed'));
        k.on('keyboard-interactive', () => {}); // never answers
        k.connect({ host: '127.0.0.1', port, username: 'tester', tryKeyboard: true, hostVerifier: () => true, readyTimeout: 20_000 });
      });
      expect(why).toMatch(/Timeout before authentication|closed/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      proc.kill();
    }
  });

  it('--allow-users / --deny-users: sshd\'s AllowUsers and DenyUsers, by name and by the client\'s address', async () => {
    const fx2 = makeFixture();
    const server = await serveCommand(fx2, ['--authorized-keys', join(fx2.dir, 'authorized_keys'), '--allow-users', 'tester ops-* dave', '--allow-users', 'admin@127.0.0.0/8 far@10.0.0.0/8', '--deny-users', 'dave']);
    const { port, proc } = server;
    const as = (user: string) => run(SSH9, [...sshArgs(fx2, port, ['-o', 'LogLevel=ERROR']).map((a) => (a === 'tester@edgessh-test' ? `${user}@edgessh-test` : a)), 'whoami']);
    try {
      await waitPort(port);
      for (const user of ['tester', 'ops-7', 'admin']) expect((await as(user)).stdout.toString(), user).toBe(`${user}\n`);
      for (const user of ['dave', 'far', 'eve']) {
        const r = await as(user);
        expect(r.code, user).toBe(255);
        expect(r.stderr, user).toContain('Permission denied (publickey');
      }
      expect(server.log).toContain('User dave from 127.0.0.1 not allowed because listed in DenyUsers');
      expect(server.log).toContain('User far from 127.0.0.1 not allowed because not listed in AllowUsers');
      expect(server.log).toContain('User eve from 127.0.0.1 not allowed because not listed in AllowUsers');
    } finally {
      proc.kill();
    }
  });

  it('--authorized-keys-command that sshd would not run (relative, writable by others, an unknown token) stops edgessh serve at start with one line', async () => {
    const fx2 = makeFixture();
    const serve = (spec: string) => run('node', ['bin/edgessh.mjs', 'serve', '--listen', '127.0.0.1:0', '--host-key', fx2.hostKeyFiles.ed25519, '--authorized-keys-command', spec]);
    const script = join(fx2.dir, 'keys.sh');
    writeFileSync(script, '#!/bin/sh\n');
    chmodSync(script, 0o775); // group-writable (the umask would have taken it from writeFileSync's mode)
    for (const [spec, why] of [
      ['bin/sh %u', 'bin/sh is not an absolute path'],
      [script, `bad ownership or modes for file ${script}`],
      ['/bin/sh %h', 'unknown token %h'],
      ["/bin/sh 'unterminated", 'an unterminated quote'],
    ]) {
      const r = await serve(spec!);
      expect(r.code, spec).toBe(1);
      expect(r.stderr.trim().split('\n'), spec).toEqual([expect.stringContaining(`--authorized-keys-command: ${why}`)]);
    }
  });
});
