/**
 * The server side of ssh-userauth (RFC 4252, RFC 4256 keyboard-interactive), with OpenSSH's limits:
 * MaxAuthTries, LoginGraceTime, a minimum time per failed answer, no change of user mid-way.
 */
import { defaultTimer, type TimerFn } from '../timers.ts';
import type { PublicKey } from '../crypto/types.ts';
import { certificateOf, certificateSignatureAlgorithms, parseUserKey, verifyCertificate } from './certificate.ts';
import { Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';
import { DISCONNECT, MSG, SshError } from '../wire/messages.ts';
import type { Service, Transport } from '../transport/transport.ts';
import { sha256 } from '@noble/hashes/sha2.js';

export interface KeyboardPrompt {
  prompt: string;
  echo: boolean;
}

export type AuthRequest =
  | { method: 'none'; username: string }
  | { method: 'password'; username: string; password: string }
  /**
   * `signed: false` is a query (may this key be used?) answered with PK_OK, never a login; `signed: true`
   * comes only after the signature over the session id has verified. `key` may be an OpenSSH certificate
   * (certificateOf(key)): a user certificate whose authority's signature has verified; whether that
   * authority is trusted, and for whom and when, is the application's to decide (see certificateRefusal).
   */
  | { method: 'publickey'; username: string; key: PublicKey; algorithm: string; signed: boolean }
  | {
      method: 'keyboard-interactive';
      username: string;
      submethods: string;
      /** Sends INFO_REQUEST and resolves with the answers (RFC 4256 §3.2–3.4). */
      prompt(prompts: KeyboardPrompt[], name?: string, instruction?: string): Promise<string[]>;
    };

/** true: accepted; false: refused; partial: this factor passed, more are needed (RFC 4252 §5.1). */
export type AuthResult = boolean | { partial: true; methods?: string[] };

export interface AuthContext {
  transport: Transport;
  /** Methods already passed on this connection (for multi-factor policies). */
  passed: readonly string[];
}

export type Authenticate = (request: AuthRequest, context: AuthContext) => AuthResult | Promise<AuthResult>;

export interface UserauthOptions {
  authenticate: Authenticate;
  /** Methods named in USERAUTH_FAILURE (default: publickey, password, keyboard-interactive). */
  methods?: string[];
  banner?: string;
  /** OpenSSH MaxAuthTries (default 6). */
  maxAuthTries?: number;
  /** OpenSSH LoginGraceTime in ms (default 120 s). */
  loginGraceTimeMs?: number;
  /** Minimum ms for a failed answer; the per-user part makes unknown and known users look alike. */
  failureDelayMs?: number;
  /** The service that runs after authentication (ssh-connection), given the authenticated user. */
  onAuthenticated(username: string, transport: Transport): Service;
  setTimer?: TimerFn;
}

const DEFAULT_METHODS = ['publickey', 'password', 'keyboard-interactive'];
const MAX_PENDING = 8;

export class UserauthServer implements Service {
  private readonly t: Transport;
  private readonly o: UserauthOptions;
  private failures = 0;
  private username: string | null = null;
  private passed: string[] = [];
  private methods: string[];
  private done = false;
  private bannerSent = false;
  private pending = 0;
  private chain: Promise<void> = Promise.resolve();
  private infoWaiter: { resolve(a: string[]): void; reject(e: Error): void; count: number } | null = null;
  private graceTimer: { cancel(): void } | null;

  constructor(transport: Transport, options: UserauthOptions) {
    this.t = transport;
    this.o = options;
    this.methods = [...(options.methods ?? DEFAULT_METHODS)];
    const setTimer = options.setTimer ?? defaultTimer;
    const grace = options.loginGraceTimeMs ?? 120_000;
    this.graceTimer =
      grace > 0
        ? setTimer(() => {
            if (!this.done) this.t.disconnect(DISCONNECT.BY_APPLICATION, 'Timeout before authentication');
          }, grace)
        : null;
  }

  close(): void {
    this.graceTimer?.cancel();
    this.infoWaiter?.reject(new Error('connection closed'));
    this.infoWaiter = null;
  }

  handle(type: number, payload: Uint8Array): boolean {
    if (this.done) return type >= 50 && type <= 79; // RFC 4252 §5.1: requests after success are ignored
    switch (type) {
      case MSG.USERAUTH_REQUEST:
        if (++this.pending > MAX_PENDING) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'too many pending authentication requests');
        // A new request abandons a keyboard-interactive exchange in progress (RFC 4256 §3.1).
        if (this.infoWaiter) {
          this.infoWaiter.reject(new Error('keyboard-interactive abandoned'));
          this.infoWaiter = null;
        }
        this.chain = this.chain.then(() => this.request(payload)).catch((e) => this.fail(e)).finally(() => this.pending--);
        return true;
      case MSG.USERAUTH_INFO_RESPONSE: {
        const w = this.infoWaiter;
        if (!w) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'unexpected USERAUTH_INFO_RESPONSE');
        this.infoWaiter = null;
        const r = new Reader(payload, 1);
        const n = r.uint32();
        if (n !== w.count) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `expected ${w.count} keyboard-interactive answers, got ${n}`);
        const answers: string[] = [];
        for (let i = 0; i < n; i++) answers.push(r.string());
        r.done('USERAUTH_INFO_RESPONSE');
        w.resolve(answers);
        return true;
      }
      case MSG.USERAUTH_SUCCESS:
      case MSG.USERAUTH_FAILURE:
      case MSG.USERAUTH_BANNER:
      case MSG.USERAUTH_PK_OK:
        throw new SshError(DISCONNECT.PROTOCOL_ERROR, `client sent server-only message ${type}`);
    }
    if (type >= 80) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `connection-layer message ${type} before authentication`);
    return false;
  }

  private fail(err: unknown): void {
    if (this.t.closed) return;
    if (err instanceof SshError) this.t.disconnect(err.reason, err.message);
    else if (err instanceof Error && err.name === 'WireError')
      this.t.disconnect(DISCONNECT.PROTOCOL_ERROR, `malformed USERAUTH_REQUEST: ${err.message}`);
    else this.t.disconnect(DISCONNECT.BY_APPLICATION, 'authentication failed with an internal error');
  }

  private sendBanner(): void {
    if (this.bannerSent || !this.o.banner) return;
    this.bannerSent = true;
    this.t.send(new Writer().byte(MSG.USERAUTH_BANNER).string(this.o.banner).string('').finish());
  }

  private async request(payload: Uint8Array): Promise<void> {
    if (this.done || this.t.closed) return;
    const started = Date.now();
    const r = new Reader(payload, 1);
    const username = r.string();
    const service = r.string();
    const method = r.string();
    if (service !== 'ssh-connection')
      throw new SshError(DISCONNECT.SERVICE_NOT_AVAILABLE, `service ${JSON.stringify(service)} is not available`);
    if (this.username !== null && this.username !== username)
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'change of username or service is not allowed');
    this.username = username;
    this.sendBanner();
    const ctx: AuthContext = { transport: this.t, passed: this.passed };
    let result: AuthResult = false;
    let counts = true;

    if (method === 'none') {
      r.done('USERAUTH_REQUEST');
      counts = this.failures > 0; // as OpenSSH: a first `none` only asks for the method list
      result = await this.o.authenticate({ method: 'none', username }, ctx);
    } else if (method === 'password' && this.methods.includes('password')) {
      const change = r.boolean();
      const password = r.string();
      if (change) r.string();
      r.done('USERAUTH_REQUEST');
      // Password changes are not supported: treat as a plain attempt with the old password.
      result = await this.o.authenticate({ method: 'password', username, password }, ctx);
    } else if (method === 'publickey' && this.methods.includes('publickey')) {
      const signed = r.boolean();
      const algorithm = r.string();
      const blob = r.bytes();
      const signature = signed ? r.bytes() : null;
      r.done('USERAUTH_REQUEST');
      let key: PublicKey | null = null;
      try {
        key = parseUserKey(blob);
      } catch {
        key = null;
      }
      const cert = key && certificateOf(key);
      // The signature algorithms the user's signature may use: a certificate algorithm
      // (ssh-ed25519-cert-v01@openssh.com) is accepted where its plain one is.
      const accepted = this.t.serverSigAlgs;
      const signatureAlgorithms = cert ? certificateSignatureAlgorithms(algorithm, accepted) : accepted.includes(algorithm) ? [algorithm] : [];
      // A certificate reaches the application only as a user certificate its authority really signed, with an
      // algorithm accepted here (ssh-rsa's SHA-1 is not, by default: sshd's CASignatureAlgorithms).
      const usable =
        key && key.signatureAlgorithms.includes(algorithm) && signatureAlgorithms.length > 0 &&
        (!cert || (cert.kind === 'user' && (await verifyCertificate(cert, accepted))));
      if (this.t.closed) return;
      if (!usable || !key) {
        result = false;
      } else if (!signature) {
        // A query: PK_OK if the key would do; never a login (RFC 4252 §7).
        const ok = await this.o.authenticate({ method: 'publickey', username, key, algorithm, signed: false }, ctx);
        if (ok !== false) {
          if (this.t.closed) return;
          this.t.send(new Writer().byte(MSG.USERAUTH_PK_OK).string(algorithm).bytes(blob).finish());
          return;
        }
        result = false;
      } else {
        const data = new Writer(512)
          .bytes(this.t.sessionId!)
          .byte(MSG.USERAUTH_REQUEST)
          .string(username)
          .string(service)
          .string('publickey')
          .boolean(true)
          .string(algorithm)
          .bytes(blob)
          .finish();
        const valid = await key.verify(signature, data, signatureAlgorithms);
        result = valid ? await this.o.authenticate({ method: 'publickey', username, key, algorithm, signed: true }, ctx) : false;
      }
    } else if (method === 'keyboard-interactive' && this.methods.includes('keyboard-interactive')) {
      r.string(); // language tag, deprecated
      const submethods = r.string();
      r.done('USERAUTH_REQUEST');
      const prompt = (prompts: KeyboardPrompt[], name = '', instruction = '') =>
        new Promise<string[]>((resolve, reject) => {
          if (this.t.closed) return reject(new Error('connection closed'));
          const w = new Writer().byte(MSG.USERAUTH_INFO_REQUEST).string(name).string(instruction).string('');
          w.uint32(prompts.length);
          for (const p of prompts) w.string(p.prompt).boolean(p.echo);
          this.infoWaiter = { resolve, reject, count: prompts.length };
          this.t.send(w.finish());
        });
      try {
        result = await this.o.authenticate({ method: 'keyboard-interactive', username, submethods, prompt }, ctx);
      } catch {
        if (this.t.closed) return;
        result = false;
      }
    } else {
      result = false;
    }
    if (this.t.closed) return;

    if (result === true) return this.succeed(username, method);
    if (typeof result === 'object' && result.partial) {
      this.passed.push(method);
      if (result.methods) this.methods = [...result.methods];
      this.t.send(new Writer().byte(MSG.USERAUTH_FAILURE).nameList(this.methods).boolean(true).finish());
      return;
    }
    if (counts) {
      await this.delayFailure(username, started);
      if (this.t.closed) return;
      if (++this.failures >= (this.o.maxAuthTries ?? 6)) {
        this.t.disconnect(DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE, 'Too many authentication failures');
        return;
      }
    }
    this.t.send(new Writer().byte(MSG.USERAUTH_FAILURE).nameList(this.methods).boolean(false).finish());
  }

  /** OpenSSH's ensure_minimum_time_since: a per-user constant time so unknown users answer alike. */
  private async delayFailure(username: string, started: number): Promise<void> {
    const base = this.o.failureDelayMs ?? 5;
    const h = sha256(new TextEncoder().encode(username));
    let target = base + ((h[0]! | (h[1]! << 8)) % 4000) / 1000;
    const elapsed = Date.now() - started;
    while (elapsed > target) target *= 2;
    const wait = target - elapsed;
    const setTimer = this.o.setTimer ?? defaultTimer;
    await new Promise<void>((resolve) => setTimer(resolve, wait));
  }

  private succeed(username: string, method: string): void {
    this.done = true;
    this.passed.push(method);
    this.graceTimer?.cancel();
    this.t.send(new Uint8Array([MSG.USERAUTH_SUCCESS]));
    this.t.setAuthenticated();
    this.t.setService(this.o.onAuthenticated(username, this.t));
  }
}
