/**
 * `edgessh serve`, `keygen` and `fingerprint`: the commands that need the SSH server and the key code.
 * main.ts loads this module only for them, so `edgessh proxy` (started once per ssh connection as a
 * ProxyCommand) does not pay for loading the server.
 */
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, existsSync, mkdirSync, chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  fingerprint,
  formatPublicKey,
  generatePrivateKey,
  parsePrivateKey,
  parsePublicKeyLine,
  serializeOpenSshPrivateKey,
} from '../crypto/keys/index.ts';
import type { PrivateKey } from '../crypto/types.ts';
import { createServer, parseMaxStartups } from '../server.ts';
import { DEFAULT_USER_EXTENSIONS, certifiedHostKeys, describeHostKey, signCertificate } from '../auth/certificate.ts';
import { parseExpiryTime, templateSafeUserName } from '../auth/authorized-keys.ts';
import { connectTcpForward, listenTcp, tcpForwardListener } from '../io/node-net.ts';
import { nodeProtection, nodeSigningKey, nodeX25519 } from '../io/node-crypto.ts';
import { DEFAULT_ALGORITHMS, LEGACY_ALGORITHMS, SERVER_HOST_KEY_ALGORITHMS, type AlgorithmPrefs } from '../crypto/registry.ts';
import { DEMO_SUBSYSTEMS, makeDemoPolicy, parsePermitListen, parsePermitOpen, runDemoSession } from '../apps/demo.ts';
import { MemoryStorage } from '../apps/storage.ts';
import { FolderStorage } from '../io/node-storage.ts';
import { keysCommand, principalsCommand } from './keys-command.ts';
import { fail } from './util.ts';

async function loadKeys(file: string): Promise<PrivateKey[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return await parsePrivateKey(text);
  } catch (e) {
    fail(`${file}: ${(e as Error).message}`);
  }
}

async function writeKeyFiles(key: PrivateKey, file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, serializeOpenSshPrivateKey(key), { mode: 0o600 });
  chmodSync(file, 0o600);
  writeFileSync(`${file}.pub`, formatPublicKey(key.publicKey, key.comment) + '\n');
}

/** OpenSSH-style list: 'a,b' replaces; '+a,b' appends; '-a' removes from the defaults. */
function algorithmList(value: string | undefined, defaults: string[]): string[] | undefined {
  if (!value) return undefined;
  if (value.startsWith('+')) return [...defaults, ...value.slice(1).split(',').filter((n) => !defaults.includes(n))];
  if (value.startsWith('-')) {
    const drop = new Set(value.slice(1).split(','));
    return defaults.filter((n) => !drop.has(n));
  }
  return value.split(',');
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) fail(`bad size ${s}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}

/** Whether a path has the %u token (not a %% followed by u). */
const hasUserToken = (path: string) => path.replace(/%%/g, '').includes('%u');

/**
 * A user's own file (AuthorizedKeysFile, AuthorizedPrincipalsFile): `path` with %u the user name (%% a %),
 * or null when it cannot be read. A user name that could step out of the folder (`/`, a leading `.`), or any
 * other templateSafeUserName refuses, has none.
 */
async function userFile(path: string, username: string): Promise<string | null> {
  if (hasUserToken(path) && !templateSafeUserName(username)) return null;
  try {
    // Read without blocking the other connections (sshd reads it in a process of the connection's own).
    return await readFile(path.replace(/%([u%])/g, (_, t: string) => (t === 'u' ? username : '%')), 'utf8');
  } catch {
    return null;
  }
}

export async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: '127.0.0.1:2222' },
      'host-key': { type: 'string', multiple: true },
      'host-certificate': { type: 'string', multiple: true },
      'authorized-keys': { type: 'string', multiple: true },
      'trusted-user-ca-keys': { type: 'string', multiple: true },
      'authorized-principals-file': { type: 'string' },
      'authorized-keys-command': { type: 'string' },
      'authorized-principals-command': { type: 'string' },
      'allow-users': { type: 'string', multiple: true },
      'deny-users': { type: 'string', multiple: true },
      'revoked-keys': { type: 'string' },
      'password-env': { type: 'string' },
      'permit-open': { type: 'string', multiple: true },
      'permit-listen': { type: 'string', multiple: true },
      'gateway-ports': { type: 'string', default: 'no' },
      'max-startups': { type: 'string' },
      'client-alive-interval': { type: 'string', default: '0' },
      'client-alive-count-max': { type: 'string', default: '3' },
      'max-auth-tries': { type: 'string', default: '6' },
      'max-sessions': { type: 'string', default: '10' },
      'login-grace-time': { type: 'string', default: '120' },
      data: { type: 'string' },
      kex: { type: 'string' },
      ciphers: { type: 'string' },
      macs: { type: 'string' },
      'host-key-algorithms': { type: 'string' },
      compression: { type: 'string', default: 'yes' },
      'rekey-limit': { type: 'string' },
      banner: { type: 'string' },
      crypto: { type: 'string', default: 'node' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const m = /^(.*):(\d+)$/.exec(values.listen!);
  // node: packets sealed and opened, X25519 and host key signatures done by OpenSSL (src/io/node-crypto.ts);
  // portable: by Web Crypto and our JavaScript, as in the Worker and the browser.
  if (values.crypto !== 'node' && values.crypto !== 'portable') fail(`--crypto wants node or portable, got ${values.crypto}`);
  if (!m) fail(`--listen wants HOST:PORT, got ${values.listen}`);
  const [, host, port] = m;

  const readOrFail = (f: string): Buffer => {
    try {
      return readFileSync(f);
    } catch (e) {
      fail(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const readAll = (files: string[] | undefined) => (files ?? []).map((f) => readOrFail(f).toString('utf8'));
  let keyFiles = values['host-key'] ?? [];
  if (!keyFiles.length) {
    const def = '.edgessh/ssh_host_ed25519_key';
    if (!existsSync(def)) await writeKeyFiles(await generatePrivateKey('ed25519', undefined, 'edgessh host key'), def);
    keyFiles = [def];
  }
  const loaded = (await Promise.all(keyFiles.map(loadKeys))).flat();
  const plainKeys = values.crypto === 'node' ? loaded.map(nodeSigningKey) : loaded;
  let hostKeys = plainKeys;
  try {
    hostKeys = [...plainKeys, ...certifiedHostKeys(plainKeys, readAll(values['host-certificate']).join('\n'))];
  } catch (e) {
    fail(`--host-certificate: ${(e as Error).message}`);
  }

  const password = values['password-env'] ? process.env[values['password-env']] : undefined;
  if (values['password-env'] && !password) fail(`environment variable ${values['password-env']} is empty`);
  // A path with %u is each user's own file (sshd's AuthorizedKeysFile), read at every attempt; the others are
  // everyone's, read now.
  const badToken = [...(values['authorized-keys'] ?? []), values['authorized-principals-file'] ?? ''].find((p) => /%(?!u)/.test(p.replace(/%%/g, '')));
  if (badToken) fail(`${badToken}: of the % tokens only %u (the user name) and %% are known`);
  const authorizedText = readAll(values['authorized-keys']?.filter((p) => !hasUserToken(p)));
  const keyTemplates = (values['authorized-keys'] ?? []).filter(hasUserToken);
  const userAuthorizedKeys = keyTemplates.length
    ? async (username: string) => (await Promise.all(keyTemplates.map((t) => userFile(t, username)))).filter((t) => t !== null).join('\n') || null
    : undefined;
  const trustedUserCaKeys = readAll(values['trusted-user-ca-keys']).join('\n');
  const revokedKeys = values['revoked-keys'] ? readOrFail(values['revoked-keys']) : undefined;
  const log = values.quiet ? () => {} : (line: string) => process.stderr.write(`edgessh: ${line}\n`);
  let permitOpen;
  try {
    permitOpen = parsePermitOpen((values['permit-open'] ?? []).join(' '));
  } catch (e) {
    fail(`--permit-open: ${(e as Error).message}`);
  }
  const gatewayPorts = values['gateway-ports'];
  if (gatewayPorts !== 'no' && gatewayPorts !== 'yes' && gatewayPorts !== 'clientspecified') fail(`--gateway-ports wants no, yes or clientspecified, got ${gatewayPorts}`);
  let permitListen;
  try {
    permitListen = parsePermitListen((values['permit-listen'] ?? []).join(' '));
  } catch (e) {
    fail(`--permit-listen: ${(e as Error).message}`);
  }
  const principalsPath = values['authorized-principals-file'];
  // Read at every attempt, as sshd reads it; no file: no principals (so no certificate login through a trusted CA).
  const authorizedPrincipals = principalsPath === undefined ? undefined : (username: string) => userFile(principalsPath, username);
  /** The --authorized-{keys,principals}-command program, checked now (one line and exit when sshd would refuse it). */
  const commandOption = (flag: 'authorized-keys-command' | 'authorized-principals-command', make: typeof keysCommand) => {
    const spec = values[flag];
    if (spec === undefined) return undefined;
    try {
      return make(spec, log);
    } catch (e) {
      fail(`--${flag}: ${(e as Error).message}`);
    }
  };
  const authorizedKeysCommand = commandOption('authorized-keys-command', keysCommand);
  const authorizedPrincipalsCommand = commandOption('authorized-principals-command', principalsCommand);
  let policy;
  try {
    policy = makeDemoPolicy({
      authorizedKeys: authorizedText.join('\n'),
      userAuthorizedKeys,
      authorizedKeysCommand,
      trustedUserCaKeys,
      authorizedPrincipals,
      authorizedPrincipalsCommand,
      allowUsers: (values['allow-users'] ?? []).join(' '),
      denyUsers: (values['deny-users'] ?? []).join(' '),
      revokedKeys,
      password,
      permitOpen,
      permitListen,
      log,
    });
  } catch (e) {
    fail(`--revoked-keys: ${(e as Error).message}`);
  }

  const algorithms: Partial<AlgorithmPrefs> = {};
  const withLegacy = (list: string[], legacy: string[]) => [...list, ...legacy];
  const kex = algorithmList(values.kex, DEFAULT_ALGORITHMS.kex);
  if (kex) algorithms.kex = kex.filter((k) => withLegacy(DEFAULT_ALGORITHMS.kex, LEGACY_ALGORITHMS.kex).includes(k) || fail(`unknown kex ${k}`));
  const ciphers = algorithmList(values.ciphers, DEFAULT_ALGORITHMS.cipher);
  if (ciphers) algorithms.cipher = ciphers;
  const macs = algorithmList(values.macs, DEFAULT_ALGORITHMS.mac);
  if (macs) algorithms.mac = macs;
  const hka = algorithmList(values['host-key-algorithms'], [...SERVER_HOST_KEY_ALGORITHMS]);
  if (hka) algorithms.hostKey = hka;
  if (values.compression === 'no') algorithms.compression = ['none'];
  let rekey: { bytes?: number; seconds?: number } | undefined;
  if (values['rekey-limit']) {
    const [size, secs] = values['rekey-limit'].split(':');
    rekey = { bytes: parseSize(size!), ...(secs ? { seconds: Number(secs) } : {}) };
  }

  let maxStartups;
  try {
    maxStartups = values['max-startups'] ? parseMaxStartups(values['max-startups']) : undefined;
  } catch (e) {
    fail(`--max-startups: ${(e as Error).message}`);
  }

  // sshd's ClientAliveInterval (seconds; 0, the default, is off) and ClientAliveCountMax.
  const wholeNumber = (flag: 'client-alive-interval' | 'client-alive-count-max' | 'max-auth-tries' | 'max-sessions' | 'login-grace-time') => {
    const v = values[flag]!;
    if (!/^\d+$/.test(v) || Number(v) > 2 ** 31 / 1000) fail(`--${flag} wants a whole number, got ${v}`);
    return Number(v);
  };
  const clientAliveInterval = wholeNumber('client-alive-interval');
  const clientAliveCountMax = wholeNumber('client-alive-count-max');
  // sshd's MaxAuthTries (default 6), MaxSessions (10) and LoginGraceTime (120 s; 0: no limit).
  const maxAuthTries = wholeNumber('max-auth-tries');
  if (maxAuthTries < 1) fail('--max-auth-tries wants 1 or more');
  const maxSessions = wholeNumber('max-sessions');
  const loginGraceTime = wholeNumber('login-grace-time');

  const storage = values.data ? new FolderStorage(values.data) : new MemoryStorage();
  const startedAt = Date.now();
  let server;
  try {
    server = createServer({
      hostKeys,
      algorithms,
      rekey,
      banner: values.banner,
      ...(values.crypto === 'node' ? { protection: nodeProtection, x25519: nodeX25519 } : {}),
      authenticate: policy.authenticate,
      authMethods: policy.methods,
      subsystems: DEMO_SUBSYSTEMS,
      allowPty: policy.allowPty,
      allowForward: policy.allowForward,
      connectForward: connectTcpForward,
      allowListen: policy.allowListen,
      listenForward: tcpForwardListener(gatewayPorts),
      maxStartups,
      keepaliveIntervalMs: clientAliveInterval * 1000,
      keepaliveCountMax: clientAliveCountMax,
      maxAuthTries,
      maxSessions,
      loginGraceTimeMs: loginGraceTime * 1000,
      onSession: (session) => runDemoSession(session, { storage, startedAt, policy }),
      log,
    });
  } catch (e) {
    fail((e as Error).message);
  }
  try {
    await listenTcp(server, host!, Number(port));
  } catch (e) {
    fail(`cannot listen on ${values.listen}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const k of hostKeys) log(describeHostKey(k.publicKey));
  log(`listening on ${values.listen}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      log(`received ${sig}; shutting down`);
      process.exit(0);
    });
}

export async function keygen(argv: string[]): Promise<void> {
  if (argv.includes('-s')) return signKeys(argv);
  const { values } = parseArgs({
    args: argv,
    options: { t: { type: 'string', default: 'ed25519' }, b: { type: 'string' }, f: { type: 'string' }, C: { type: 'string' } },
  });
  if (!values.f) fail('keygen needs -f FILE');
  if (existsSync(values.f)) fail(`${values.f} already exists`);
  const bits = values.b ? Number(values.b) : undefined;
  let type: Parameters<typeof generatePrivateKey>[0];
  if (values.t === 'ed25519') type = 'ed25519';
  else if (values.t === 'rsa') type = 'rsa';
  else if (values.t === 'ecdsa') {
    const b = bits ?? 256;
    if (b !== 256 && b !== 384 && b !== 521) fail('ecdsa keys are 256, 384 or 521 bits');
    type = `ecdsa-p${b}` as const;
  } else fail(`unknown key type ${values.t}`);
  const key = await generatePrivateKey(type, type === 'rsa' ? (bits ?? 3072) : undefined, values.C ?? '');
  await writeKeyFiles(key, values.f);
  process.stdout.write(`Your identification has been saved in ${values.f}\n`);
  process.stdout.write(`Your public key has been saved in ${values.f}.pub\n`);
  process.stdout.write(`The key fingerprint is:\n${fingerprint(key.publicKey)} ${key.comment}\n`);
}


/**
 * `edgessh keygen -s CA -I ID [-h] [-n P1,P2] [-V FROM:TO] [-z SERIAL] [-O OPTION]... KEY.pub...`: certificates
 * as ssh-keygen -s makes them, each written to KEY-cert.pub.
 */
async function signKeys(argv: string[]): Promise<void> {
  // A validity such as -5m:+1h starts with a dash, which parseArgs would take for an option.
  const args = argv.flatMap((a, i) => (a === '-V' && argv[i + 1]?.startsWith('-') ? [] : argv[i - 1] === '-V' && a.startsWith('-') ? [`-V${a}`] : [a]));
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      s: { type: 'string' }, I: { type: 'string' }, h: { type: 'boolean', default: false }, n: { type: 'string' },
      V: { type: 'string' }, z: { type: 'string', default: '0' }, O: { type: 'string', multiple: true },
    },
  });
  if (!values.I) fail('signing needs a key ID: -I ID');
  if (!positionals.length) fail('signing needs the public key files to certify');
  if (!/^\d+$/.test(values.z!)) fail(`bad serial ${values.z}`);
  const [ca] = await loadKeys(values.s!);
  const now = BigInt(Math.floor(Date.now() / 1000));
  let validity: [bigint, bigint];
  try {
    validity = parseValidity(values.V ?? 'always:forever', now);
  } catch (e) {
    fail(`-V: ${(e as Error).message}`);
  }
  const kind = values.h ? 'host' : 'user';
  const extensions = new Set(kind === 'user' ? DEFAULT_USER_EXTENSIONS : []);
  const critical: Record<string, string> = {};
  for (const o of values.O ?? []) {
    const [name, value] = [o.split('=', 1)[0]!.toLowerCase(), o.includes('=') ? o.slice(o.indexOf('=') + 1) : null];
    const ext = name.replace(/^(no|permit)-/, '');
    const permit = { pty: 'permit-pty', 'port-forwarding': 'permit-port-forwarding', 'agent-forwarding': 'permit-agent-forwarding', 'x11-forwarding': 'permit-X11-forwarding', 'user-rc': 'permit-user-rc' }[ext];
    if (name === 'clear') extensions.clear();
    else if ((name === 'force-command' || name === 'source-address') && value) critical[name] = value;
    else if (permit && name.startsWith('no-')) extensions.delete(permit);
    else if (permit) extensions.add(permit);
    else if (name.startsWith('critical:')) critical[o.slice(9).split('=', 1)[0]!] = value ?? '';
    else if (name.startsWith('extension:')) extensions.add(o.slice(10));
    else fail(`unknown certificate option ${JSON.stringify(o)}`);
  }
  for (const file of positionals) {
    let line;
    try {
      line = parsePublicKeyLine(readFileSync(file, 'utf8'));
    } catch (e) {
      fail(`${file}: ${(e as Error).message}`);
    }
    const { key, comment } = line;
    const cert = await signCertificate(ca!, key, {
      kind, keyId: values.I, principals: values.n ? values.n.split(',') : [], serial: BigInt(values.z!),
      validAfter: validity[0], validBefore: validity[1], criticalOptions: critical, extensions: [...extensions],
    });
    const out = file.replace(/\.pub$/, '') + '-cert.pub';
    writeFileSync(out, formatPublicKey(cert, comment) + '\n');
    const who = values.n ? `for ${values.n}` : 'for any principal';
    process.stdout.write(`Signed ${kind} key ${out}: id "${values.I}" serial ${values.z} ${who} ${describeValidity(validity)}\n`);
  }
}

/** ssh-keygen's -V: `always`/`forever`, `+1h`/`-5m` (s, m, h, d, w; several in a row), YYYYMMDD[HHMM[SS]][Z]; FROM:TO or TO alone (from now). */
export function parseValidity(text: string, now: bigint): [bigint, bigint] {
  const one = (t: string, end: boolean): bigint => {
    if (t === 'always' || t === 'forever') return end ? 0xffffffffffffffffn : 0n;
    const rel = /^([+-])((?:\d+[smhdw]?)+)$/.exec(t);
    if (rel) {
      let secs = 0n;
      for (const [, n, unit] of rel[2]!.matchAll(/(\d+)([smhdw]?)/g)) secs += BigInt(n!) * BigInt({ '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[unit!]!);
      return rel[1] === '+' ? now + secs : now - secs;
    }
    return BigInt(Math.floor(parseExpiryTime(t) / 1000));
  };
  const [from, to] = text.includes(':') ? text.split(':', 2) : ['+0', text];
  const v: [bigint, bigint] = [one(from!, false), one(to!, true)];
  if (v[0] >= v[1]) throw new Error(`the validity interval ${text} is empty`);
  return v;
}

function describeValidity([from, to]: [bigint, bigint]): string {
  const at = (t: bigint) => new Date(Number(t) * 1000).toISOString().slice(0, 19);
  if (from === 0n && to === 0xffffffffffffffffn) return 'valid forever';
  return `valid from ${from === 0n ? 'always' : at(from)} to ${to === 0xffffffffffffffffn ? 'forever' : at(to)}`;
}

/** `edgessh fingerprint FILE`: each key's SHA256 fingerprint, as ssh-keygen -l prints it. */
export async function fingerprints(file: string): Promise<void> {
  for (const k of await loadKeys(file)) process.stdout.write(`${fingerprint(k.publicKey)} ${k.publicKey.type}\n`);
}
