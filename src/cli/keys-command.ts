/**
 * sshd's AuthorizedKeysCommand, for `edgessh serve --authorized-keys-command`: a program asked for the
 * authorized_keys lines of a user and the key they offer, when no configured line matched.
 *
 * As sshd does it:
 * - the command line is `/absolute/path [ARG]...`, quoted as in sshd_config; with no arguments the program
 *   gets the user name;
 * - tokens in the arguments: %u the user name, %f the key's SHA256 fingerprint (a certificate's own key), %k
 *   the key or certificate in base64, %t its type, %% a %; any other token stops `edgessh serve` at start;
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

const TOKENS: Record<string, (u: string, k: PublicKey) => string> = {
  u: (u) => u,
  f: (_, k) => fingerprint(certificateOf(k)?.key ?? k),
  k: (_, k) => Buffer.from(k.blob).toString('base64'),
  t: (_, k) => k.type,
};

/**
 * The keys command for `spec` (checked now: throws with the reason when it may not run), as
 * makeDemoPolicy's authorizedKeysCommand.
 */
export function keysCommand(
  spec: string,
  log: (line: string) => void,
  limits = { timeoutMs: KEYS_COMMAND_TIMEOUT_MS, outputMax: KEYS_COMMAND_OUTPUT_MAX },
): (username: string, key: PublicKey) => Promise<string | null> {
  const [program, ...args] = splitCommandLine(spec);
  if (!program) throw new Error('no command given');
  for (const a of args) {
    const bad = /%(.?)/.exec(a.replace(/%[%ufkt]/g, ''));
    if (bad) throw new Error(`unknown token %${bad[1]} in ${JSON.stringify(a)} (known: %u %f %k %t %%)`);
  }
  const unsafe = unsafeCommandPath(program);
  if (unsafe) throw new Error(unsafe);
  const argv = args.length ? args : ['%u'];
  return (username, key) => {
    if (!templateSafeUserName(username)) {
      log(`AuthorizedKeysCommand not run for user name ${JSON.stringify(username)}: not a name it may be given`);
      return Promise.resolve(null);
    }
    const expanded = argv.map((a) => a.replace(/%([%ufkt])/g, (_, t: string) => (t === '%' ? '%' : TOKENS[t]!(username, key))));
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
          log(`AuthorizedKeysCommand ${program} for ${username}: ${why}${first ? ` (${first})` : ''}; its keys are not used`);
          return resolve(null);
        }
        resolve(Buffer.concat(out).toString('utf8'));
      });
    });
  };
}
