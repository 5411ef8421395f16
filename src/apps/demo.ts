/**
 * The demo application that `edgessh serve` and the Worker run: a login policy (authorized_keys and an
 * opt-in password) and the demo shell on each session.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { Authenticate } from '../auth/server.ts';
import {
  findAuthorizedKey,
  forwardingAllowed,
  ipBytes,
  keyRefusal,
  unmapIPv4,
  permitOpenAllows,
  type PermitOpen,
  parseAuthorizedKeys,
  parseAuthorizedPrincipals,
  type AuthorizedPrincipal,
  ptyAllowed,
  type AuthorizedKeyOptions,
  userRefusal,
} from '../auth/authorized-keys.ts';
import { certificateOf, certificateOptions, certificateRefusal } from '../auth/certificate.ts';
import { RevokedKeys } from '../auth/revoked-keys.ts';
import { fingerprint } from '../crypto/keys/index.ts';
import type { ForwardRequest, ListenRequest } from '../connection/connection.ts';
import type { PublicKey } from '../crypto/types.ts';
import type { Session } from '../connection/session.ts';
import type { Transport } from '../transport/transport.ts';
import { parseShellState, runExec, runShell, type ShellContext, type ShellState } from './shell.ts';
import { parseSftpState, runSftp, type SftpState } from './sftp.ts';
import type { FileStorage } from './storage.ts';

export { parsePermitListen, parsePermitOpen, type PermitOpen } from '../auth/authorized-keys.ts';

export interface DemoPolicyOptions {
  /** authorized_keys text; every user may log in with these keys. */
  authorizedKeys?: string;
  /**
   * A user's own authorized_keys (sshd's AuthorizedKeysFile with %u), or null when they have none: its lines
   * apply to that user only, beside `authorizedKeys`. Read at every attempt, as sshd reads the file.
   */
  userAuthorizedKeys?: (username: string) => string | null | Promise<string | null>;
  /**
   * sshd's AuthorizedKeysCommand: authorized_keys text for this user and the key (or certificate) they
   * offer, null for none. Asked only when no line of the keys above matched, as sshd runs its command only
   * then; its lines count for this user alone.
   */
  authorizedKeysCommand?: (username: string, key: PublicKey) => string | null | Promise<string | null>;
  /**
   * sshd's TrustedUserCAKeys: public keys of certificate authorities, one per line. A certificate one of them
   * signed logs in a user it names as a principal. (A `cert-authority` line in authorizedKeys trusts a CA too.)
   */
  trustedUserCaKeys?: string;
  /**
   * sshd's AuthorizedPrincipalsFile, for certificates signed by a trustedUserCaKeys authority: `[options]
   * principal` lines (parseAuthorizedPrincipals), as text for every user or a user's own (null: none). Given,
   * a certificate must list one of the user's principals instead of the user name, and that line's options
   * apply (narrowed by the certificate). Not consulted for `cert-authority` lines, as sshd does not.
   */
  authorizedPrincipals?: string | ((username: string) => string | null | Promise<string | null>);
  /**
   * sshd's AuthorizedPrincipalsCommand: principals lines for this user and certificate (`key` carries it), null
   * for none; asked when authorizedPrincipals gave no principal the certificate lists. Given, like the file, a
   * certificate of a trustedUserCaKeys authority must list a principal one of them gives.
   */
  authorizedPrincipalsCommand?: (username: string, key: PublicKey) => string | null | Promise<string | null>;
  /**
   * sshd's RevokedKeys: public keys (one per line) or a KRL (`ssh-keygen -k`) of keys and certificates that
   * may not log in, whatever else allows them. Unreadable, it is an error (makeDemoPolicy throws).
   */
  revokedKeys?: string | Uint8Array;
  /** sshd's AllowUsers and DenyUsers (see userRefusal): who may log in at all, whatever the method. */
  allowUsers?: string;
  denyUsers?: string;
  /** Opt-in password, for password and keyboard-interactive logins (any user name). */
  password?: string;
  /**
   * Where logged-in users may forward to (direct-tcpip: `ssh -L`, `-W`, `-J`), like sshd's PermitOpen:
   * see parsePermitOpen. Empty (the default): no forwarding.
   */
  permitOpen?: readonly PermitOpen[];
  /**
   * Where logged-in users may have the server listen for them (tcpip-forward: `ssh -R`), like sshd's
   * PermitListen: see parsePermitListen. Empty (the default): no remote forwarding. Privileged ports
   * (below 1024) are refused as sshd refuses them to users who are not root.
   */
  permitListen?: readonly PermitOpen[];
  log?: (line: string) => void;
}

/** The client's IP address from an adapter's peer description ("1.2.3.4 port 5555", "::1 (WebSocket)"), or null. */
export function peerIp(peerAddress: string | undefined): string | null {
  const first = peerAddress?.split(/\s/, 1)[0] ?? '';
  return ipBytes(first) ? unmapIPv4(first) : null;
}

export interface DemoPolicy {
  authenticate: Authenticate;
  methods: string[];
  /** The authorized_keys options of the key a connection logged in with. */
  keyOptions(transport: Transport | null): AuthorizedKeyOptions | undefined;
  /** Whether the login key's options (no-pty, restrict, a certificate without permit-pty) let a session have a terminal. */
  allowPty(transport: Transport): boolean;
  /** Whether a direct-tcpip request may go ahead: permitted by the server and by the login key's options. */
  allowForward(request: ForwardRequest, transport: Transport): boolean;
  /** Whether a tcpip-forward request may go ahead, the same way. */
  allowListen(request: ListenRequest, transport: Transport): boolean;
}

/** Compares secrets in constant time (hashing first hides the length). */
export function secretEquals(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = sha256(enc.encode(a));
  const y = sha256(enc.encode(b));
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i]! ^ y[i]!;
  return d === 0;
}

export function makeDemoPolicy(o: DemoPolicyOptions): DemoPolicy {
  const keys = parseAuthorizedKeys(o.authorizedKeys ?? '', (line, why) =>
    o.log?.(`authorized_keys line ${line} skipped: ${why}`),
  );
  const trustedCas = parseAuthorizedKeys(o.trustedUserCaKeys ?? '', (line, why) => o.log?.(`trusted user CA keys line ${line} skipped: ${why}`))
    .filter((k, i) => {
      const plain = Object.keys(k.options).length === 1 && Object.keys(k.options.other).length === 0;
      if (!plain) o.log?.(`trusted user CA key ${i + 1} skipped: options are not allowed there`);
      return plain;
    })
    .map((k) => ({ ...k, options: { ...k.options, certAuthority: true } }));
  /** The keys that may log this user in: everyone's, then the user's own file's. */
  const keysFor = async (username: string) => {
    const own = o.userAuthorizedKeys && (await o.userAuthorizedKeys(username));
    return own ? [...keys, ...parseAuthorizedKeys(own, (line, why) => o.log?.(`authorized_keys of ${username} line ${line} skipped: ${why}`))] : keys;
  };
  /** sshd's AuthorizedKeysCommand: the line of its output that lets `key` (or, for a certificate, its `ca`) log this user in. */
  const commandLine = async (username: string, key: PublicKey, ca?: PublicKey) => {
    const text = o.authorizedKeysCommand && (await o.authorizedKeysCommand(username, key));
    if (!text) return undefined;
    return findAuthorizedKey(parseAuthorizedKeys(text, (n, why) => o.log?.(`AuthorizedKeysCommand output for ${username} line ${n} skipped: ${why}`)), key, ca);
  };
  const principalsOf = (text: string) => parseAuthorizedPrincipals(text, (line, why) => o.log?.(`authorized principals line ${line} skipped: ${why}`));
  const sharedPrincipals = typeof o.authorizedPrincipals === 'string' ? principalsOf(o.authorizedPrincipals) : null;
  /** The user's principals file, parsed; null when none is configured (then the certificate must name the user). */
  const principalsFor = async (username: string): Promise<AuthorizedPrincipal[] | null> => {
    if (o.authorizedPrincipals === undefined) return null;
    if (sharedPrincipals) return sharedPrincipals;
    const text = await (o.authorizedPrincipals as (u: string) => string | null | Promise<string | null>)(username);
    return text === null ? [] : principalsOf(text);
  };
  let revoked: RevokedKeys | null = null;
  if (o.revokedKeys !== undefined && o.revokedKeys.length) {
    try {
      revoked = new RevokedKeys(o.revokedKeys);
    } catch (e) {
      throw new Error(`the revoked keys cannot be read: ${(e as Error).message}`);
    }
  }
  const methods = ['publickey'];
  if (o.password) methods.push('password', 'keyboard-interactive');
  const authenticate: Authenticate = async (req, ctx) => {
    const ip = peerIp(ctx.transport.peerAddress);
    const notAllowed = userRefusal(req.username, ip, o.allowUsers, o.denyUsers);
    if (notAllowed) {
      // Logged once per connection and user, in sshd's words; every method then fails.
      const seen = ((ctx.transport.appData.notAllowedLogged as string[] | undefined) ??= []);
      if (!seen.includes(req.username)) {
        seen.push(req.username);
        o.log?.(`User ${req.username} from ${ip ?? 'unknown'} not allowed because ${notAllowed}`);
      }
      return false;
    }
    switch (req.method) {
      case 'publickey': {
        const now = Date.now();
        const cert = certificateOf(req.key);
        // Revoked: the key, the certificate, or the CA that signed it (sshd checks all three).
        const why = revoked && (revoked.revoked(req.key) ?? (cert && revoked.revoked(cert.caKey) && 'its CA key is revoked'));
        if (why) {
          o.log?.(`Authentication tried for ${req.username} with ${req.key.type} ${fingerprint(cert?.key ?? req.key)} but ${why}`);
          return false;
        }
        if (cert) {
          // A cert-authority line in the files, else TrustedUserCAKeys, else the AuthorizedKeysCommand's output (which
          // sshd, too, asks last).
          const fileLine = findAuthorizedKey(await keysFor(req.username), req.key, cert.caKey);
          const trusted = fileLine ? undefined : findAuthorizedKey(trustedCas, req.key, cert.caKey);
          const line = fileLine ?? (trusted ? undefined : await commandLine(req.username, req.key, cert.caKey));
          const entry = line ?? trusted;
          const what = `certificate ID "${cert.keyId}" (serial ${cert.serial}) signed by ${cert.caKey.type} CA ${fingerprint(cert.caKey)}`;
          if (!entry) {
            o.log?.(`Authentication tried for ${req.username} with ${what}: the CA is not trusted`);
            return false;
          }
          // Through TrustedUserCAKeys with a principals file: the first of its lines the certificate lists gives
          // the principal and the options (sshd's AuthorizedPrincipalsFile).
          // Then (sshd's AuthorizedPrincipalsCommand) the command, if the file listed none of them.
          let granted = entry.options;
          let principals = entry.options.principals;
          if (!line && (o.authorizedPrincipals !== undefined || o.authorizedPrincipalsCommand)) {
            const listed = (list: AuthorizedPrincipal[] | null) => list?.find((p) => cert.principals.includes(p.principal));
            let match = listed(await principalsFor(req.username));
            if (!match && o.authorizedPrincipalsCommand) {
              const text = await o.authorizedPrincipalsCommand(req.username, req.key);
              match = text ? listed(principalsOf(text)) : undefined;
            }
            if (!match) {
              o.log?.(`Authentication tried for ${req.username} with ${what} but Certificate does not contain an authorized principal`);
              return false;
            }
            granted = match.options;
            principals = [match.principal];
          }
          const refused =
            keyRefusal(granted, ip, now) ?? certificateRefusal(cert, { username: req.username, requirePrincipal: !line, principals, ip, now });
          const options = refused ?? certificateOptions(granted, cert);
          if (typeof options === 'string') {
            o.log?.(`Authentication tried for ${req.username} with ${what} but ${options}`);
            return false;
          }
          if (req.signed) {
            ctx.transport.appData.keyOptions = options;
            o.log?.(`Accepted ${what} for ${req.username}`);
          }
          return true;
        }
        const entry = findAuthorizedKey(await keysFor(req.username), req.key) ?? (await commandLine(req.username, req.key));
        if (!entry) return false;
        // from= and expiry-time apply to a query too, as in sshd: a key that may not log in earns no PK_OK.
        const refused = keyRefusal(entry.options, ip, now);
        if (refused) {
          o.log?.(`Authentication tried for ${req.username} with correct key but ${refused}`);
          return false;
        }
        // Kept with the connection (and saved with it across hibernation): command= and restrict apply later.
        if (req.signed) ctx.transport.appData.keyOptions = structuredClone(entry.options);
        return true;
      }
      case 'password':
        return !!o.password && secretEquals(req.password, o.password);
      case 'keyboard-interactive': {
        if (!o.password) return false;
        const [answer] = await req.prompt([{ prompt: 'Password: ', echo: false }]);
        return secretEquals(answer ?? '', o.password);
      }
      default:
        return false;
    }
  };
  const keyOptions = (t: Transport | null) => t?.appData.keyOptions as AuthorizedKeyOptions | undefined;
  /** Whether the login key's options let a forward reach (or listen on) host:port: its own list, if it has one. */
  const keyAllows = (ko: AuthorizedKeyOptions | undefined, keyList: readonly PermitOpen[] | undefined, host: string, port: number) =>
    !ko || (forwardingAllowed(ko) && (!keyList || permitOpenAllows(keyList, host, port)));
  const permit = o.permitOpen ?? [];
  const allowForward = (req: ForwardRequest, t: Transport): boolean => {
    const ko = keyOptions(t);
    const ok = keyAllows(ko, ko?.permitOpen, req.host, req.port) && permitOpenAllows(permit, req.host, req.port);
    // sshd's words, so the same log watchers work.
    if (!ok) o.log?.(`refused local port forward: originator ${req.originHost} port ${req.originPort}, target ${req.host} port ${req.port}`);
    return ok;
  };
  const listen = o.permitListen ?? [];
  const allowListen = (req: ListenRequest, t: Transport): boolean => {
    const ko = keyOptions(t);
    const unprivileged = req.port === 0 || req.port >= 1024;
    const ok = unprivileged && keyAllows(ko, ko?.permitListen, req.address, req.port) && permitOpenAllows(listen, req.address, req.port);
    if (!ok) o.log?.(`refused remote port forward: listen ${req.address || '*'} port ${req.port}`);
    return ok;
  };
  const allowPty = (t: Transport): boolean => {
    const ko = keyOptions(t);
    return !ko || ptyAllowed(ko);
  };
  return { authenticate, methods, keyOptions, allowPty, allowForward, allowListen };
}

export interface DemoContext {
  storage: FileStorage;
  startedAt: number;
  policy?: DemoPolicy;
}

/**
 * What the shell (and the SFTP server) sees of a session. A class, so every session's context has one
 * shape: an object literal with getters was a dictionary-mode object with ~0.8 KiB of property storage per
 * session.
 */
class DemoShellContext implements ShellContext {
  readonly user: string;
  readonly env: Record<string, string>;
  readonly storage: FileStorage;
  readonly startedAt: number;
  readonly stdin: ReadableStream<Uint8Array>;
  readonly signal: AbortSignal;
  constructor(
    private readonly session: Session,
    demo: DemoContext,
    public pty: ShellContext['pty'],
  ) {
    this.user = session.user;
    this.env = session.env;
    this.storage = demo.storage;
    this.startedAt = demo.startedAt;
    this.stdin = session.stdin;
    this.signal = session.signal;
  }
  // Getters: a session makes its output streams when first asked for them.
  get stdout(): WritableStream<Uint8Array> {
    return this.session.stdout;
  }
  get stderr(): WritableStream<Uint8Array> {
    return this.session.stderr;
  }
  onResize(l: (cols: number, rows: number) => void): void {
    this.session.onResize(l);
  }
  // Only a shell at its prompt or an SFTP server between requests can be saved; anything else keeps the
  // object awake.
  onState(state: ShellState | SftpState): void {
    this.session.setResumeState(state);
  }
}

/**
 * Runs the demo shell on a session: exec → one command; shell → interactive (or a script without a pty).
 * `resume`: the state an interactive shell saved before the Durable Object hibernated.
 */
export async function runDemoSession(session: Session, demo: DemoContext, resume?: unknown): Promise<number> {
  const keyOpts = demo.policy?.keyOptions(session.transport);
  const pty = session.pty && (!keyOpts || ptyAllowed(keyOpts)) ? session.pty : null;
  const ctx = new DemoShellContext(session, demo, pty ? { term: pty.term, cols: pty.cols, rows: pty.rows } : null);
  // authorized_keys command= replaces whatever the client asked for (sshd(8)).
  const forced = keyOpts?.command;
  if (forced !== undefined) return runExec(forced, ctx);
  if (session.kind === 'exec') return runExec(session.command ?? '', ctx);
  if (session.kind === 'shell') {
    if (resume === undefined) return runShell(ctx);
    const saved = parseShellState(resume);
    if (!saved) throw new Error('the saved shell state is malformed');
    return runShell(ctx, saved);
  }
  if (session.kind === 'subsystem' && session.command === 'sftp') {
    const saved = resume === undefined ? undefined : parseSftpState(resume);
    if (saved === null) throw new Error('the saved sftp state is malformed');
    return runSftp(ctx, saved);
  }
  return 1;
}

/** The subsystems the demo runs (a server passes them as `subsystems`, so clients may ask for them). */
export const DEMO_SUBSYSTEMS: readonly string[] = ['sftp'];
