/**
 * sshd's AuthorizedKeysCommand and AuthorizedPrincipalsCommand, for `edgessh serve
 * --authorized-keys-command` and `--authorized-principals-command`: a program asked for the authorized_keys
 * lines of a user and the key they offer, when no configured line matched; or for the principals a
 * certificate of a trusted CA may log that user in as, when the principals file (if any) had none.
 *
 * As sshd does it:
 * - the command line is `/absolute/path [ARG]...`, quoted as in sshd_config; with no arguments the program
 *   gets the user name;
 * - tokens in the arguments: see KEY_TOKENS and CERT_TOKENS (sshd's, less %C %D %h %U, which have no meaning
 *   here), %% a %; any other token stops `edgessh serve` at start;
 * - the program must be a regular file that it, and every folder above it, belongs to root (or to the user
 *   running edgessh: sshd runs as root, edgessh need not) and nobody else may write;
 * - a program that exits other than 0 has given nothing, whatever it printed.
 *
 * Beyond sshd, because edgessh's users are whatever names clients send rather than accounts: a user name
 * that is empty, starts with `-` or `.`, or holds `/`, whitespace or a control character is not passed to the
 * program (it could read as an option or a path there); the program runs with only PATH in its environment
 * (nothing of edgessh's, such as a --password-env variable), its standard output is read up to 1 MiB, and it
 * is stopped after 30 s. Each failure is a log line and a refused key, never a crash.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { fingerprint } from '../crypto/keys/index.ts';
import { certificateOf } from '../auth/certificate.ts';
import { templateSafeUserName } from '../auth/authorized-keys.ts';
import type { PublicKey } from '../crypto/types.ts';

export const KEYS_COMMAND_TIMEOUT_MS = 30_000;
export const KEYS_COMMAND_OUTPUT_MAX = 1024 * 1024;

/** Splits a command line as sshd_config does: whitespace between words, "…" and '…' quote, \ escapes. */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quote !== "'" && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (quote) {
      if (c === quote) quote = null;
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error('an unterminated quote');
  if (word !== null) words.push(word);
  return words;
}

/** Why `path` may not be run as the keys command (sshd's auth_secure_path), or null when it may. */
export function unsafeCommandPath(path: string, uid = process.getuid?.() ?? 0): string | null {
  if (!isAbsolute(path)) return `${path} is not an absolute path`;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    return `cannot stat ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  if (!st.isFile()) return `${path} is not a regular file`;
  for (let p = path; ; p = dirname(p)) {
    const s = p === path ? st : statSync(p);
    if ((s.uid !== 0 && s.uid !== uid) || (s.mode & 0o022) !== 0) return `bad ownership or modes for ${p === path ? 'file' : 'directory'} ${p}`;
    if (p === dirname(p)) return null;
  }
}

/** A token's value for the key (or certificate) a user offers. */
type Tokens = Record<string, (username: string, key: PublicKey) => string>;

const b64 = (k: PublicKey) => Buffer.from(k.blob).toString('base64');

/** AuthorizedKeysCommand's tokens: %u user, %f the key's fingerprint (a certificate's own key), %k the key, %t its type. */
const KEY_TOKENS: Tokens = {
  u: (u) => u,
  f: (_, k) => fingerprint(certificateOf(k)?.key ?? k),
  k: (_, k) => b64(k),
  t: (_, k) => k.type,
};

/**
 * AuthorizedPrincipalsCommand's: %u user, %F the CA key's fingerprint, %f the certified key's, %i the key ID,
 * %K the CA key (base64), %k the certificate, %s its serial, %T the CA key's type, %t the certificate's.
 */
const CERT_TOKENS: Tokens = {
  u: (u) => u,
  F: (_, k) => fingerprint(certificateOf(k)!.caKey),
  f: (_, k) => fingerprint(certificateOf(k)!.key),
  i: (_, k) => certificateOf(k)!.keyId,
  K: (_, k) => b64(certificateOf(k)!.caKey),
  k: (_, k) => b64(k),
  s: (_, k) => String(certificateOf(k)!.serial),
  T: (_, k) => certificateOf(k)!.caKey.type,
  t: (_, k) => k.type,
};

export interface CommandLimits {
  timeoutMs: number;
  outputMax: number;
}
const LIMITS: CommandLimits = { timeoutMs: KEYS_COMMAND_TIMEOUT_MS, outputMax: KEYS_COMMAND_OUTPUT_MAX };

/**
 * sshd's AuthorizedKeysCommand for `spec` (checked now: throws with the reason when it may not run), as
 * makeDemoPolicy's authorizedKeysCommand.
 */
export const keysCommand = (spec: string, log: (line: string) => void, limits = LIMITS) => command('AuthorizedKeysCommand', KEY_TOKENS, spec, log, limits);

/**
 * sshd's AuthorizedPrincipalsCommand, the same way: for a certificate of a trusted CA, `[options] principal`
 * lines as an AuthorizedPrincipalsFile holds them (makeDemoPolicy's authorizedPrincipalsCommand).
 */
export const principalsCommand = (spec: string, log: (line: string) => void, limits = LIMITS) => command('AuthorizedPrincipalsCommand', CERT_TOKENS, spec, log, limits);

function command(label: string, tokens: Tokens, spec: string, log: (line: string) => void, limits: CommandLimits): (username: string, key: PublicKey) => Promise<string | null> {
  const [program, ...args] = splitCommandLine(spec);
  if (!program) throw new Error('no command given');
  const known = Object.keys(tokens).join('');
  const tokenRe = new RegExp(`%([%${known}])`, 'g');
  for (const a of args) {
    const bad = /%(.?)/.exec(a.replace(tokenRe, ''));
    if (bad) throw new Error(`unknown token %${bad[1]} in ${JSON.stringify(a)} (known: ${[...known].map((t) => `%${t}`).join(' ')} %%)`);
  }
  const unsafe = unsafeCommandPath(program);
  if (unsafe) throw new Error(unsafe);
  const argv = args.length ? args : ['%u'];
  return (username, key) => {
    if (!templateSafeUserName(username)) {
      log(`${label} not run for user name ${JSON.stringify(username)}: not a name it may be given`);
      return Promise.resolve(null);
    }
    const expanded = argv.map((a) => a.replace(tokenRe, (_, t: string) => (t === '%' ? '%' : tokens[t]!(username, key))));
    return new Promise((resolve) => {
      const child = spawn(program, expanded, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
      const out: Buffer[] = [];
      let size = 0;
      let err = '';
      let why: string | null = null;
      const stop = (reason: string) => {
        why ??= reason;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => stop(`did not finish within ${limits.timeoutMs / 1000} s`), limits.timeoutMs);
      child.stdout!.on('data', (b: Buffer) => {
        size += b.length;
        if (size > limits.outputMax) return stop(`printed more than ${limits.outputMax} bytes`);
        out.push(b);
      });
      child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(0, 400)));
      child.on('error', (e) => (why ??= e.message));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (!why && code !== 0) why = `exited with ${code ?? signal}`;
        if (why) {
          const first = err.trim().split('\n')[0];
          log(`${label} ${program} for ${username}: ${why}${first ? ` (${first})` : ''}; its output is not used`);
          return resolve(null);
        }
        resolve(Buffer.concat(out).toString('utf8'));
      });
    });
  };
}
