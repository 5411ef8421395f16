/**
 * The SSH client: the client side of ssh-userauth (RFC 4252, 4256) and ssh-connection (RFC 4254) on the
 * same Transport (role 'client') the server uses — one implementation of packets, kex and crypto.
 * Sans-I/O like the server: `connect(sink)` returns the transport; feed it the server's bytes.
 * Sessions expose stdin/stdout/stderr as WHATWG streams, so the same code runs in pages and Node.
 */
import { Transport, type CloseInfo, type Service, type TransportOptions } from '../transport/transport.ts';
import type { ByteSink } from '../io/connection.ts';
import type { PrivateKey, PublicKey } from '../crypto/types.ts';
import { Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';
import { DISCONNECT, MSG, SshError, channelDataHead } from '../wire/messages.ts';

export interface KeyboardPrompt {
  prompt: string;
  echo: boolean;
}

export interface ClientOptions {
  username: string;
  /** Accept or refuse the server's host key (trust on first use, known_hosts…). Required. */
  verifyHostKey: (key: PublicKey, algorithm: string) => boolean | Promise<boolean>;
  password?: string;
  privateKeys?: readonly PrivateKey[];
  /** Answers keyboard-interactive prompts; without it, a password (if any) answers a lone hidden prompt. */
  keyboardInteractive?: (name: string, instruction: string, prompts: KeyboardPrompt[]) => Promise<string[]> | string[];
  onBanner?: (text: string) => void;
  algorithms?: TransportOptions['algorithms'];
  onPacket?: TransportOptions['onPacket'];
  onEvent?: TransportOptions['onEvent'];
  rekey?: TransportOptions['rekey'];
  protection?: TransportOptions['protection'];
  x25519?: TransportOptions['x25519'];
}

export class AuthFailedError extends Error {
  constructor(readonly methodsTried: string[], readonly methodsLeft: string[]) {
    super(`authentication failed (tried ${methodsTried.join(', ') || 'nothing'}; the server accepts ${methodsLeft.join(', ') || 'nothing we have'})`);
    this.name = 'AuthFailedError';
  }
}

export interface PtyRequest {
  term?: string;
  cols: number;
  rows: number;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

const WINDOW = 2 * 1024 * 1024;
const MAX_PACKET = 32 * 1024;

/** A session channel from the client's side. */
export class ClientChannel {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly stdin: WritableStream<Uint8Array>;
  /** Resolves when the channel closes, with the exit status or signal the server reported. */
  readonly exit: Promise<ExitInfo>;
  remoteId = -1;
  remoteWindow = 0;
  remoteMaxPacket = 0;
  /** Replies to our want_reply requests, in order (RFC 4254 §5.4). */
  readonly replies: ((ok: boolean) => void)[] = [];
  exitInfo: ExitInfo = { code: null, signal: null };
  closed = false;
  private outCtl!: ReadableStreamDefaultController<Uint8Array>;
  private errCtl!: ReadableStreamDefaultController<Uint8Array>;
  private windowWaiters: (() => void)[] = [];
  private consumedSinceAdjust = 0;
  private resolveExit!: (e: ExitInfo) => void;

  constructor(
    readonly localId: number,
    private readonly conn: ClientConnection,
  ) {
    this.exit = new Promise((r) => (this.resolveExit = r));
    // The window re-opens as the application reads (pull runs when a queue has room again).
    this.stdout = new ReadableStream<Uint8Array>(
      { start: (c) => void (this.outCtl = c), pull: () => this.maybeAdjust() },
      { highWaterMark: WINDOW, size: (c) => c.byteLength },
    );
    this.stderr = new ReadableStream<Uint8Array>(
      { start: (c) => void (this.errCtl = c), pull: () => this.maybeAdjust() },
      { highWaterMark: WINDOW, size: (c) => c.byteLength },
    );
    this.stdin = new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.conn.send(new Writer().byte(MSG.CHANNEL_EOF).uint32(this.remoteId).finish()),
    });
  }

  /** Data from the server; the window re-opens as the application reads it. */
  data(bytes: Uint8Array, stderr: boolean): void {
    const ctl = stderr ? this.errCtl : this.outCtl;
    try {
      ctl.enqueue(bytes.slice());
    } catch {
      // the reader cancelled; drop the data but keep the window open
    }
    this.received += bytes.length;
    this.maybeAdjust();
  }

  private received = 0;

  /** Gives back the window for what has arrived, once what is still unread is under half a window. */
  private maybeAdjust(): void {
    if (this.closed || this.remoteId < 0) return;
    const queued = 2 * WINDOW - (this.outCtl.desiredSize ?? WINDOW) - (this.errCtl.desiredSize ?? WINDOW);
    const give = this.received - this.consumedSinceAdjust;
    if (give >= WINDOW / 4 && queued < WINDOW / 2) {
      this.conn.send(new Writer().byte(MSG.CHANNEL_WINDOW_ADJUST).uint32(this.remoteId).uint32(give).finish());
      this.consumedSinceAdjust = this.received;
    }
  }

  adjust(n: number): void {
    this.remoteWindow += n;
    for (const w of this.windowWaiters.splice(0)) w();
  }

  private async write(chunk: Uint8Array): Promise<void> {
    let o = 0;
    while (o < chunk.length) {
      if (this.closed) throw new Error('channel closed');
      if (this.remoteWindow === 0) {
        await new Promise<void>((r) => this.windowWaiters.push(r));
        continue;
      }
      const n = Math.min(this.remoteWindow, this.remoteMaxPacket, chunk.length - o);
      this.conn.send(channelDataHead(this.remoteId, n), chunk.subarray(o, o + n));
      this.remoteWindow -= n;
      o += n;
    }
  }

  /** Sends a channel request; resolves to the server's answer (true without want_reply). */
  request(type: string, wantReply: boolean, body?: (w: Writer) => void): Promise<boolean> {
    const w = new Writer().byte(MSG.CHANNEL_REQUEST).uint32(this.remoteId).string(type).boolean(wantReply);
    body?.(w);
    this.conn.send(w.finish());
    if (!wantReply) return Promise.resolve(true);
    return new Promise((r) => this.replies.push(r));
  }

  /** window-change (RFC 4254 §6.7). */
  resize(cols: number, rows: number): void {
    void this.request('window-change', false, (w) => w.uint32(cols).uint32(rows).uint32(0).uint32(0));
  }

  /** signal (RFC 4254 §6.9), e.g. 'INT', 'TERM'. */
  signal(name: string): void {
    void this.request('signal', false, (w) => w.string(name));
  }

  close(): void {
    if (this.closed) return;
    this.conn.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(this.remoteId).finish());
  }

  eof(): void {
    try {
      this.outCtl.close();
      this.errCtl.close();
    } catch {
      // already closed
    }
  }

  finished(): void {
    this.closed = true;
    this.eof();
    for (const r of this.replies.splice(0)) r(false);
    for (const w of this.windowWaiters.splice(0)) w();
    this.resolveExit(this.exitInfo);
  }
}

/** The ssh-connection client: channels and global requests. */
class ClientConnection {
  readonly channels = new Map<number, ClientChannel>();
  readonly pendingOpens = new Map<number, { resolve: (c: ClientChannel) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  constructor(readonly transport: Transport) {}

  send(payload: Uint8Array, data?: Uint8Array): void {
    this.transport.send(payload, data);
  }

  open(): Promise<ClientChannel> {
    const id = this.nextId++;
    const ch = new ClientChannel(id, this);
    this.channels.set(id, ch);
    this.send(new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(id).uint32(WINDOW).uint32(MAX_PACKET).finish());
    return new Promise((resolve, reject) => this.pendingOpens.set(id, { resolve, reject }));
  }

  private channel(r: Reader, what: string): ClientChannel {
    const id = r.uint32();
    const ch = this.channels.get(id);
    if (!ch) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `${what} for unknown channel ${id}`);
    return ch;
  }

  handle(type: number, payload: Uint8Array): boolean {
    const r = new Reader(payload, 1);
    switch (type) {
      case MSG.CHANNEL_OPEN_CONFIRMATION: {
        const ch = this.channel(r, 'CHANNEL_OPEN_CONFIRMATION');
        ch.remoteId = r.uint32();
        ch.remoteWindow = r.uint32();
        ch.remoteMaxPacket = Math.max(1, r.uint32());
        this.pendingOpens.get(ch.localId)?.resolve(ch);
        this.pendingOpens.delete(ch.localId);
        return true;
      }
      case MSG.CHANNEL_OPEN_FAILURE: {
        const id = r.uint32();
        const code = r.uint32();
        const text = r.string();
        this.channels.delete(id);
        this.pendingOpens.get(id)?.reject(new Error(`the server refused the channel (${code}): ${text}`));
        this.pendingOpens.delete(id);
        return true;
      }
      case MSG.CHANNEL_WINDOW_ADJUST: {
        const ch = this.channel(r, 'WINDOW_ADJUST');
        const n = r.uint32();
        if (ch.remoteWindow + n > 0xffffffff) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'WINDOW_ADJUST overflows the window');
        ch.adjust(n);
        return true;
      }
      case MSG.CHANNEL_DATA:
      case MSG.CHANNEL_EXTENDED_DATA: {
        const ch = this.channel(r, 'CHANNEL_DATA');
        const stderr = type === MSG.CHANNEL_EXTENDED_DATA && r.uint32() === 1;
        ch.data(r.bytes(), stderr);
        return true;
      }
      case MSG.CHANNEL_EOF:
        this.channel(r, 'CHANNEL_EOF').eof();
        return true;
      case MSG.CHANNEL_CLOSE: {
        const ch = this.channel(r, 'CHANNEL_CLOSE');
        if (!ch.closed) this.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(ch.remoteId).finish());
        this.channels.delete(ch.localId);
        ch.finished();
        return true;
      }
      case MSG.CHANNEL_REQUEST: {
        const ch = this.channel(r, 'CHANNEL_REQUEST');
        const name = r.string();
        const want = r.boolean();
        if (name === 'exit-status') ch.exitInfo.code = r.uint32();
        else if (name === 'exit-signal') ch.exitInfo.signal = r.string();
        else if (want) this.send(new Writer().byte(MSG.CHANNEL_FAILURE).uint32(ch.remoteId).finish());
        return true;
      }
      case MSG.CHANNEL_SUCCESS:
      case MSG.CHANNEL_FAILURE: {
        const ch = this.channel(r, 'channel reply');
        ch.replies.shift()?.(type === MSG.CHANNEL_SUCCESS);
        return true;
      }
      case MSG.GLOBAL_REQUEST: {
        r.string();
        if (r.boolean()) this.send(new Uint8Array([MSG.REQUEST_FAILURE]));
        return true;
      }
      case MSG.CHANNEL_OPEN: {
        // Forwarded channels from the server are not supported: refuse them politely.
        r.string();
        const sender = r.uint32();
        this.send(new Writer().byte(MSG.CHANNEL_OPEN_FAILURE).uint32(sender).uint32(1).string('not supported by this client').string('').finish());
        return true;
      }
    }
    return false;
  }

  lost(): void {
    for (const { reject } of this.pendingOpens.values()) reject(new Error('the connection closed'));
    this.pendingOpens.clear();
    for (const ch of this.channels.values()) ch.finished();
    this.channels.clear();
  }
}

/** A connected, authenticated client. */
export class SshClient {
  readonly transport: Transport;
  /** Resolves once logged in; rejects with AuthFailedError or the reason the connection ended. */
  readonly ready: Promise<void>;
  /** Resolves when the connection closes. */
  readonly closed: Promise<CloseInfo>;
  private readonly conn: ClientConnection;
  private authService: Service | null = null;
  private authError: Error | null = null;

  constructor(
    private readonly o: ClientOptions,
    sink: ByteSink,
  ) {
    let closeInfo!: (c: CloseInfo) => void;
    this.closed = new Promise((r) => (closeInfo = r));
    let failReady!: (e: Error) => void;
    let okReady!: () => void;
    this.ready = new Promise<void>((res, rej) => ((okReady = res), (failReady = rej)));
    this.ready.catch(() => {});
    this.transport = new Transport({
      role: 'client',
      verifyHostKey: o.verifyHostKey,
      algorithms: o.algorithms,
      rekey: o.rekey,
      protection: o.protection,
      x25519: o.x25519,
      onPacket: o.onPacket,
      onEvent: (e) => {
        o.onEvent?.(e);
        if (e.type === 'kex-done' && e.count === 1) this.authenticate().then(okReady, failReady);
      },
      onSend: (b) => sink.write(b),
      onClose: (info) => {
        this.conn.lost();
        failReady(this.authError ?? new Error(info.by === 'peer' ? `the server closed the connection: ${info.message}` : info.message));
        closeInfo(info);
        sink.end();
      },
    });
    this.conn = new ClientConnection(this.transport);
  }

  start(): Transport {
    this.transport.start();
    return this.transport;
  }

  // ── ssh-userauth ──────────────────────────────────────────────────────────────────────────────

  private async authenticate(): Promise<void> {
    const inbox: Uint8Array[] = [];
    let wake: (() => void) | null = null;
    this.authService = {
      handle: (type, payload) => {
        if (type === MSG.USERAUTH_BANNER) {
          const text = new Reader(payload, 1).string();
          this.o.onBanner?.(text);
          return true;
        }
        if (type < 50 || type > 79) return this.conn.handle(type, payload);
        inbox.push(payload.slice());
        wake?.();
        return true;
      },
      close: () => wake?.(),
    };
    const next = async (): Promise<Uint8Array> => {
      while (!inbox.length) {
        if (this.transport.closed) throw new Error('the connection closed during authentication');
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
      return inbox.shift()!;
    };
    if (!(await this.transport.requestService('ssh-userauth', this.authService))) throw new Error('the server refused ssh-userauth');
    const user = this.o.username;
    const head = (method: string) => new Writer().byte(MSG.USERAUTH_REQUEST).string(user).string('ssh-connection').string(method);
    const tried: string[] = [];
    let allowed: string[] = [];
    /** Reads until SUCCESS or FAILURE; true on success. */
    const outcome = async (onOther?: (p: Uint8Array) => Promise<boolean>): Promise<boolean> => {
      for (;;) {
        const p = await next();
        if (p[0] === MSG.USERAUTH_SUCCESS) return true;
        if (p[0] === MSG.USERAUTH_FAILURE) {
          allowed = new Reader(p, 1).nameList();
          return false;
        }
        if (onOther && (await onOther(p))) continue;
        throw new SshError(DISCONNECT.PROTOCOL_ERROR, `unexpected message ${p[0]} during authentication`);
      }
    };

    this.transport.send(head('none').finish());
    if (await outcome()) return this.loggedIn();

    for (const key of this.o.privateKeys ?? []) {
      if (!allowed.includes('publickey')) break;
      const alg = this.signatureAlgorithm(key.publicKey);
      tried.push(`publickey ${key.publicKey.type}`);
      const body = head('publickey').boolean(true).string(alg).bytes(key.publicKey.blob);
      const signed = new Writer().bytes(this.transport.sessionId!).raw(body.finish()).finish();
      const sig = await key.sign(alg, signed);
      this.transport.send(head('publickey').boolean(true).string(alg).bytes(key.publicKey.blob).bytes(sig).finish());
      if (await outcome()) return this.loggedIn();
    }
    if (this.o.password !== undefined && allowed.includes('password')) {
      tried.push('password');
      this.transport.send(head('password').boolean(false).string(this.o.password).finish());
      if (await outcome()) return this.loggedIn();
    }
    if ((this.o.keyboardInteractive || this.o.password !== undefined) && allowed.includes('keyboard-interactive')) {
      tried.push('keyboard-interactive');
      this.transport.send(head('keyboard-interactive').string('').string('').finish());
      const ok = await outcome(async (p) => {
        if (p[0] !== MSG.USERAUTH_INFO_REQUEST) return false;
        const r = new Reader(p, 1);
        const name = r.string();
        const instruction = r.string();
        r.string(); // language tag
        const n = r.uint32();
        if (n > 64) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'too many keyboard-interactive prompts');
        const prompts: KeyboardPrompt[] = [];
        for (let i = 0; i < n; i++) prompts.push({ prompt: r.string(), echo: r.boolean() });
        let answers: string[];
        if (this.o.keyboardInteractive) answers = await this.o.keyboardInteractive(name, instruction, prompts);
        else answers = prompts.map((pr) => (!pr.echo ? this.o.password! : ''));
        const w = new Writer().byte(MSG.USERAUTH_INFO_RESPONSE).uint32(answers.length);
        for (const a of answers) w.string(a);
        this.transport.send(w.finish());
        return true;
      });
      if (ok) return this.loggedIn();
    }
    const err = (this.authError = new AuthFailedError(tried, allowed));
    this.transport.disconnect(DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE, 'no more authentication methods');
    throw err;
  }

  private signatureAlgorithm(key: PublicKey): string {
    if (key.type !== 'ssh-rsa') return key.type;
    const sigAlgs = this.transport.peerExtensions.get('server-sig-algs');
    const list = sigAlgs ? new TextDecoder().decode(sigAlgs).split(',') : [];
    // Without server-sig-algs, OpenSSH clients still try rsa-sha2-512 first; so do we (never ssh-rsa).
    return list.includes('rsa-sha2-512') || !list.includes('rsa-sha2-256') ? 'rsa-sha2-512' : 'rsa-sha2-256';
  }

  private loggedIn(): void {
    this.transport.setAuthenticated();
    this.transport.setService({ handle: (type, payload) => this.conn.handle(type, payload) });
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  /** Opens a session channel and runs `command` (RFC 4254 §6.5). */
  async exec(command: string, opts: { pty?: PtyRequest; env?: Record<string, string> } = {}): Promise<ClientChannel> {
    const ch = await this.session(opts);
    if (!(await ch.request('exec', true, (w) => w.string(command)))) throw new Error(`the server refused to run ${JSON.stringify(command)}`);
    return ch;
  }

  /** Opens a session channel with an interactive shell, usually with a pty. */
  async shell(opts: { pty?: PtyRequest; env?: Record<string, string> } = {}): Promise<ClientChannel> {
    const ch = await this.session(opts);
    if (!(await ch.request('shell', true))) throw new Error('the server refused a shell');
    return ch;
  }

  /** Opens a session channel and starts a subsystem (e.g. sftp). */
  async subsystem(name: string): Promise<ClientChannel> {
    const ch = await this.session({});
    if (!(await ch.request('subsystem', true, (w) => w.string(name)))) throw new Error(`the server refused the subsystem ${name}`);
    return ch;
  }

  private async session(opts: { pty?: PtyRequest; env?: Record<string, string> }): Promise<ClientChannel> {
    await this.ready;
    const ch = await this.conn.open();
    if (opts.pty) {
      const p = opts.pty;
      const ok = await ch.request('pty-req', true, (w) =>
        w.string(p.term ?? 'xterm-256color').uint32(p.cols).uint32(p.rows).uint32(0).uint32(0).bytes(new Uint8Array([0])),
      );
      if (!ok) throw new Error('the server refused a pty');
    }
    for (const [k, v] of Object.entries(opts.env ?? {})) void ch.request('env', false, (w) => w.string(k).string(v));
    return ch;
  }

  /** Runs a command to completion; collects its output (convenience for scripts and tests). */
  async run(command: string, input?: Uint8Array): Promise<{ stdout: Uint8Array; stderr: Uint8Array; code: number | null; signal: string | null }> {
    const ch = await this.exec(command);
    const collect = async (s: ReadableStream<Uint8Array>) => {
      const parts: Uint8Array[] = [];
      for (const reader = s.getReader(); ; ) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
      }
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) (out.set(p, o), (o += p.length));
      return out;
    };
    const w = ch.stdin.getWriter();
    const writing = (async () => {
      if (input) await w.write(input);
      await w.close();
    })().catch(() => {});
    const [stdout, stderr] = await Promise.all([collect(ch.stdout), collect(ch.stderr)]);
    await writing;
    const exit = await ch.exit;
    return { stdout, stderr, code: exit.code, signal: exit.signal };
  }

  /** Ends the connection with DISCONNECT 11 (by application). */
  end(message = 'disconnected by user'): void {
    this.transport.disconnect(DISCONNECT.BY_APPLICATION, message);
  }
}

/** Creates a client whose output goes to `sink`; feed the server's bytes to `client.transport.receive()`. */
export function connect(options: ClientOptions, sink: ByteSink): SshClient {
  const c = new SshClient(options, sink);
  c.start();
  return c;
}
