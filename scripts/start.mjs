// `npm start`: the Worker under `wrangler dev` plus `edgessh bridge` on 127.0.0.1:2222, and how to connect.
// Local dev keeps its host key in .dev.vars (generated once, so the fingerprint stays stable). Logins:
// the public keys in ~/.ssh/*.pub, or else a generated password (printed when it is created).
// Environment overrides (used by the tests): EDGESSH_SSH_PORT, EDGESSH_HTTP_PORT, EDGESSH_DEV_VARS,
// EDGESSH_PERSIST, EDGESSH_HOME (where to look for ~/.ssh).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const sshPort = Number(process.env.EDGESSH_SSH_PORT ?? 2222);
const httpPort = Number(process.env.EDGESSH_HTTP_PORT ?? 8787);
const devVars = process.env.EDGESSH_DEV_VARS ?? '.dev.vars';
const home = process.env.EDGESSH_HOME ?? homedir();
const cli = 'dist/cli.js';
const say = (s = '') => process.stdout.write(s + '\n');

/** .dev.vars is dotenv: KEY="value" with \n escapes inside double quotes. */
function readVars(file) {
  const vars = {};
  if (!existsSync(file)) return vars;
  for (const m of readFileSync(file, 'utf8').matchAll(/^([A-Z_][A-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/gm))
    vars[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return vars;
}
function writeVars(file, vars) {
  const esc = (v) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const body = Object.entries(vars).map(([k, v]) => `${k}="${esc(v)}"`).join('\n');
  writeFileSync(file, `# Local secrets for wrangler dev, written by npm start. Never commit this file.\n${body}\n`, { mode: 0o600 });
}

const vars = readVars(devVars);
let fresh = false;
if (!vars.HOST_KEY) {
  const dir = mkdtempSync(join(tmpdir(), 'edgessh-key-'));
  execFileSync('node', [cli, 'keygen', '-t', 'ed25519', '-f', join(dir, 'host'), '-C', 'edgessh dev host key'], { stdio: 'ignore' });
  vars.HOST_KEY = readFileSync(join(dir, 'host'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  fresh = true;
}
const sshDir = join(home, '.ssh');
const pubKeys = existsSync(sshDir)
  ? readdirSync(sshDir).filter((f) => f.endsWith('.pub') && !f.startsWith('ssh_host_')).map((f) => readFileSync(join(sshDir, f), 'utf8').trim()).filter(Boolean)
  : [];
let newPassword = null;
if (!pubKeys.length && !vars.PASSWORD) {
  newPassword = randomBytes(12).toString('base64url');
  vars.PASSWORD = newPassword;
  fresh = true;
}
if (fresh) writeVars(devVars, vars);

// The host key fingerprint, as ssh prints it.
const keyDir = mkdtempSync(join(tmpdir(), 'edgessh-fp-'));
writeFileSync(join(keyDir, 'k'), vars.HOST_KEY, { mode: 0o600 });
const fp = execFileSync('node', [cli, 'fingerprint', join(keyDir, 'k')], { encoding: 'utf8' }).trim();
rmSync(keyDir, { recursive: true, force: true });

const children = [];
function stopAll(code = 0) {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {
      try {
        c.kill('SIGTERM');
      } catch {}
    }
  }
  process.exit(code);
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

// --log-level log: the Worker's own lines (logins, sessions resumed after hibernation) show, as sshd's would.
const wranglerArgs = [
  'wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(httpPort), '--env-file', devVars,
  '--var', `AUTHORIZED_KEYS:${pubKeys.join('\n')}`, '--show-interactive-dev-session=false', '--log-level', 'log',
];
if (process.env.EDGESSH_PERSIST) wranglerArgs.push('--persist-to', process.env.EDGESSH_PERSIST);
const wrangler = spawn('npx', wranglerArgs, {
  stdio: ['ignore', 'inherit', 'inherit'],
  detached: true,
  env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
});
children.push(wrangler);
wrangler.on('exit', (code) => {
  process.stderr.write(`npm start: wrangler dev exited (${code}); stopping\n`);
  stopAll(code || 1);
});

// Wait for the Worker to answer /healthz.
const base = `http://127.0.0.1:${httpPort}`;
for (let i = 0; ; i++) {
  try {
    const r = await fetch(`${base}/healthz`);
    if (r.ok) break;
  } catch {}
  if (i > 600) {
    process.stderr.write('npm start: wrangler dev did not come up within 60 s\n');
    stopAll(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}

const bridge = spawn('node', [cli, 'bridge', '--listen', `127.0.0.1:${sshPort}`, '--to', `ws://127.0.0.1:${httpPort}/ssh`, '--quiet'], {
  stdio: ['ignore', 'inherit', 'inherit'],
  detached: true,
});
children.push(bridge);
bridge.on('exit', (code) => {
  process.stderr.write(`npm start: the bridge exited (${code}); stopping\n`);
  stopAll(code || 1);
});
await new Promise((r) => setTimeout(r, 300));

const user = process.env.USER || 'you';
say('');
say(`edgessh is running: the Worker under wrangler dev on ${base}, and a bridge on 127.0.0.1:${sshPort}.`);
say(`Host key: ${fp}`);
say('');
say('Connect with OpenSSH through the bridge:');
say(`  ssh -p ${sshPort} ${user}@127.0.0.1`);
say('or straight over the WebSocket, with edgessh as the ProxyCommand:');
say(`  ssh -o ProxyCommand='node ${join(process.cwd(), 'bin/edgessh.mjs')} proxy ws://127.0.0.1:${httpPort}/ssh' ${user}@edgessh`);
say(`Files, the same ones the shell's ls and cat see: scp -P ${sshPort} FILE ${user}@127.0.0.1:   or   sftp -P ${sshPort} ${user}@127.0.0.1`);
say(`Web page: ${base}/`);
say(
  vars.PERMIT_OPEN
    ? `Port forwarding (ssh -L, -W, -J) to: ${vars.PERMIT_OPEN}`
    : `Port forwarding is off; to allow ssh -L/-W/-J, set PERMIT_OPEN="host:port ..." in ${devVars} and restart.`,
);
say('');
if (pubKeys.length) say(`Logins: your keys from ${sshDir}/*.pub (${pubKeys.length}).`);
if (newPassword) say(`Logins: no ~/.ssh/*.pub found, so a password was generated (shown only now; it is kept in ${devVars}): ${newPassword}`);
else if (vars.PASSWORD) say(`Logins: also the password kept in ${devVars}.`);
say('Ctrl-C stops everything.');
say('READY');
