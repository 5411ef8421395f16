/**
 * The server side of ssh-connection (RFC 4254): channels with flow control in both directions,
 * session requests, global requests, and OpenSSH's ClientAlive keepalive.
 */
import { Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';
import { DISCONNECT, MSG, OPEN_FAILURE, SshError, channelDataHead } from '../wire/messages.ts';
import type { Service, Transport } from '../transport/transport.ts';
import type { PrivateKey } from '../crypto/types.ts';
import { equalConstantTime } from '../crypto/protection.ts';
import { Session, isForward, type SessionHooks, type SessionState } from './session.ts';
import { defaultTimer, type TimerFn } from '../timers.ts';
export type { TimerFn } from '../timers.ts';

/** A direct-tcpip channel's request (`ssh -L`, `-W`, `-J`): the target, and where the client says it came from. */
export interface ForwardRequest {
  kind: 'direct-tcpip';
  host: string;
  port: number;
  originHost?: string;
  originPort?: number;
}

/**
 * A connected TCP stream for a direct-tcpip channel, as WHATWG streams: a Workers `Socket` from
 * `connect()` fits as it is; in Node, `connectTcpForward` makes one from a socket.
 * Closing `writable` half-closes the connection (the client sent EOF); `readable` ending sends EOF.
 */
export interface ForwardStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  /** Ends the TCP connection at once (the channel or the SSH connection closed, or one direction failed). */
  close?(): unknown;
}

/** A tcpip-forward request (`ssh -R`): where the client asks the server to listen (port 0: any free port). */
export interface ListenRequest {
  kind: 'tcpip-forward';
  address: string;
  port: number;
}

/** A TCP connection a remote-forward listener accepted, and where it came from. */
export interface IncomingConnection {
  stream: ForwardStream;
  originHost: string;
  originPort: number;
}

/** A listening socket of a remote forward: the port it is bound to (the one chosen, for port 0). */
export interface ForwardListener {
  readonly port: number;
  close(): void;
}

/** At most this many forwarded channels (direct-tcpip open or being connected, forwarded-tcpip open or being offered) per connection, unless told otherwise. */
export const DEFAULT_MAX_FORWARDS = 32;

/** At most this many remote-forward listeners per connection, unless told otherwise. */
export const DEFAULT_MAX_LISTENERS = 8;

/** The largest data packet a client may send on a channel unless told otherwise (see ConnectionOptions.maxPacket). */
export const DEFAULT_CHANNEL_MAX_PACKET = 128 * 1024;

export interface ConnectionOptions {
  username: string;
  /** Runs a session once the client asks for shell, exec or subsystem; resolves to the exit status. */
  onSession(session: Session): Promise<number | void> | number | void;
  /** Carries on a session restored after hibernation from the state its application reported. */
  onResume?(session: Session, state: unknown): Promise<number | void> | number | void;
  /** Which subsystems exist (default none); an unknown one is refused. */
  subsystems?: readonly string[];
  /** A pty-req is refused (CHANNEL_FAILURE, as sshd refuses it under no-pty) when this returns false. */
  allowPty?(transport: Transport): boolean;
  /** Port forwarding is refused unless this returns true. */
  allowForward?(request: ForwardRequest, transport: Transport): boolean;
  /**
   * Opens the TCP connection of an allowed direct-tcpip channel (`ssh -L`, `-W`, `-J`); the channel is
   * confirmed once it resolves, and refused with CONNECT_FAILED and the error's message if it rejects.
   * Without it, allowed requests are refused too.
   */
  connectForward?(request: ForwardRequest, transport: Transport): Promise<ForwardStream>;
  /** Forwarded channels open, being connected or being offered at once (default DEFAULT_MAX_FORWARDS). */
  maxForwards?: number;
  /** Remote forwarding (tcpip-forward, `ssh -R`) is refused unless this returns true. */
  allowListen?(request: ListenRequest, transport: Transport): boolean;
  /**
   * Listens for an allowed remote forward; each connection it accepts is passed to `onConnection`, which
   * offers it to the client as a forwarded-tcpip channel (and closes it if the client refuses). The
   * request succeeds once this resolves, and fails if it rejects. Without it, every request fails.
   */
  listenForward?(request: ListenRequest, onConnection: (c: IncomingConnection) => void, transport: Transport): Promise<ForwardListener>;
  /** Remote-forward listeners at once (default DEFAULT_MAX_LISTENERS). */
  maxListeners?: number;
  /** Like OpenSSH MaxSessions (default 10). */
  maxSessions?: number;
  /** Our receive window per channel (default 2 MiB). */
  windowSize?: number;
  /**
   * The largest data packet a client may send on a channel (default 128 KiB, where OpenSSH's sshd says
   * 32 KiB): the client chooses, up to this. OpenSSH's client then sends 128 KiB packets, a quarter of the
   * per-packet work on both sides. Measured on 64 MiB uploads (OpenSSH 9.2): through wrangler dev the
   * `ssh` client's CPU fell from 0.31–0.35 to 0.21–0.24 s and the Worker's from 5.9 to 5.5 ms per MiB
   * (chacha20-poly1305); against `edgessh serve`, aes128-gcm and aes128-ctr+etm ran 5–10% faster.
   */
  maxPacket?: number;
  /** Like ClientAliveInterval / ClientAliveCountMax (default off / 3). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Ends the connection when no channel has had traffic for this long (default off). */
  idleTimeoutMs?: number;
  setTimer?: TimerFn;
  now?: () => number;
  /** Told when a session application throws; the client sees only "internal error". */
  onError?(err: unknown): void;
  /**
   * The server's host keys: announced after login (hostkeys-00@openssh.com) so OpenSSH clients with
   * UpdateHostKeys learn them all, and proven on request (hostkeys-prove-00@openssh.com), as sshd does.
   */
  hostKeys?: readonly PrivateKey[];
}

/** The most keys one hostkeys-prove request may name (a server has a handful). */
const MAX_PROVE_KEYS = 16;

const MAX_WINDOW = 0xffffffff;

/**
 * A session's view of its channel. One small object per session rather than an object of nine closures
 * (each ~56 bytes, with their shared context), since every idle session keeps it.
 */
class ChannelHooks implements SessionHooks {
  constructor(
    private readonly conn: ConnectionServer,
    private readonly ch: Channel,
  ) {}
  maxChunk(): number {
    return Math.min(this.ch.remoteWindow, this.ch.remoteMaxPacket);
  }
  sendData(data: Uint8Array, ext: boolean): boolean {
    return this.conn.channelData(this.ch, data, ext);
  }
  consumed(n: number): void {
    this.conn.consumed(this.ch, n);
  }
  sendExit(status: number | { signal: string; message?: string }): void {
    this.conn.channelExit(this.ch, status);
  }
  sendEof(): void {
    this.conn.channelEof(this.ch);
  }
  close(): void {
    this.conn.sendClose(this.ch);
  }
  closed(): boolean {
    return this.ch.closeSent || this.conn.transport.closed;
  }
  error(err: unknown): void {
    this.conn.sessionFailed(err);
  }
}


type ChannelState = Omit<Channel, 'session'> & { session: SessionState };

/** The connection layer as plain data, for Durable Object hibernation. */
export interface ConnectionState {
  v: 1;
  username: string;
  nextId: number;
  noMoreSessions: boolean;
  sessionsOpened: number;
  keepaliveMissed: number;
  /** Keepalive requests sent and not answered yet. */
  keepalivesPending: number;
  keepaliveAt: number | null;
  idleAt: number | null;
  channels: ChannelState[];
}

/** One channel's bookkeeping; the Session object is the application's view of a session channel. */
export interface Channel {
  localId: number;
  remoteId: number;
  /** How much the peer may still send us. */
  localWindow: number;
  /** How much we may still send the peer. */
  remoteWindow: number;
  remoteMaxPacket: number;
  eofSent: boolean;
  eofReceived: boolean;
  closeSent: boolean;
  closeReceived: boolean;
  /** Bytes the application consumed that the peer has not been given back yet. */
  pendingAdjust: number;
  session: Session;
}

export class ConnectionServer implements Service {
  readonly transport: Transport;
  private readonly o: ConnectionOptions;
  private readonly windowSize: number;
  private readonly maxPacket: number;
  private readonly setTimer: TimerFn;
  private channels = new Map<number, Channel>();
  private nextId = 0;
  private noMoreSessions = false;
  private sessionsOpened = 0;
  private globalReplies: { keepalive: boolean; resolve: (ok: boolean) => void }[] = [];
  private keepaliveMissed = 0;
  private keepaliveTimer: { cancel(): void } | null = null;
  private idleTimer: { cancel(): void } | null = null;
  private keepaliveAt: number | null = null;
  private idleAt: number | null = null;
  private readonly now: () => number;
  /** Replies to the client's global requests leave in the order the requests came (RFC 4254 §4), some after a signature. */
  private replies: Promise<void> = Promise.resolve();
  private repliesPending = 0;
  /** Forwarded channels open, being connected (direct-tcpip) or being offered (forwarded-tcpip). */
  private forwards = 0;
  private forwardsConnecting = 0;
  /** Remote-forward listeners by `address port` (the port bound), and those still being set up. */
  private listeners = new Map<string, ForwardListener>();
  private listenersStarting = 0;
  /** forwarded-tcpip channels offered to the client and not yet answered, by our channel number. */
  private offered = new Map<number, IncomingConnection>();

  constructor(transport: Transport, options: ConnectionOptions, saved?: ConnectionState) {
    this.transport = transport;
    this.o = options;
    this.windowSize = Math.min(options.windowSize ?? 2 * 1024 * 1024, MAX_WINDOW);
    this.maxPacket = options.maxPacket ?? DEFAULT_CHANNEL_MAX_PACKET;
    this.setTimer = options.setTimer ?? defaultTimer;
    this.now = options.now ?? (() => Date.now());
    if (saved) {
      this.restore(saved);
      return;
    }
    this.armKeepalive();
    this.armIdle();
    this.announceHostKeys();
  }

  /** hostkeys-00@openssh.com (OpenSSH PROTOCOL §2.5): every host key, once, right after login. */
  private announceHostKeys(): void {
    const keys = this.o.hostKeys ?? [];
    if (!keys.length) return;
    const w = new Writer().byte(MSG.GLOBAL_REQUEST).string('hostkeys-00@openssh.com').boolean(false);
    for (const k of keys) w.bytes(k.publicKey.blob);
    this.transport.send(w.finish());
  }

  /**
   * hostkeys-prove-00@openssh.com: a signature by each named key over string "hostkeys-prove-00@openssh.com",
   * string session id, string key blob; REQUEST_FAILURE if any is not ours. RSA signs with the negotiated
   * RSA algorithm, else rsa-sha2-512 (what OpenSSH's client accepts).
   */
  private async proveHostKeys(blobs: Uint8Array[]): Promise<Uint8Array> {
    const failure = new Uint8Array([MSG.REQUEST_FAILURE]);
    if (blobs.length > MAX_PROVE_KEYS) return failure;
    const keys = this.o.hostKeys ?? [];
    const sid = this.transport.sessionId;
    if (!blobs.length || !sid) return failure;
    const negotiated = this.transport.negotiated?.hostKey ?? '';
    const w = new Writer().byte(MSG.REQUEST_SUCCESS);
    for (const blob of blobs) {
      const key = keys.find((k) => equalConstantTime(k.publicKey.blob, blob));
      if (!key) return failure;
      const algs = key.publicKey.signatureAlgorithms;
      const alg = algs.includes(negotiated) ? negotiated : algs.includes('rsa-sha2-512') ? 'rsa-sha2-512' : algs[0]!;
      const data = new Writer().string('hostkeys-prove-00@openssh.com').bytes(sid).bytes(blob).finish();
      w.bytes(await key.sign(alg, data));
    }
    return w.finish();
  }

  /** Queues the reply to a global request behind those before it. */
  private reply(message: Uint8Array | Promise<Uint8Array>): void {
    if (!this.repliesPending && message instanceof Uint8Array) return void this.transport.send(message); // nothing ahead of it
    this.repliesPending++;
    // Settled at once, so a failure is handled even while earlier replies are still waiting.
    const settled = Promise.resolve(message).catch(() => new Uint8Array([MSG.REQUEST_FAILURE])); // a key that failed to sign proves nothing
    this.replies = this.replies.then(async () => {
      const m = await settled;
      this.repliesPending--;
      if (!this.transport.closed) this.transport.send(m);
    });
  }

  // ── saving and restoring ────────────────────────────────────────────────────────────────────────

  /** Why the connection layer cannot be saved now, or null. */
  unsaveableReason(): string | null {
    if (this.globalReplies.some((g) => !g.keepalive)) return 'a global request is waiting for its reply';
    if (this.repliesPending) return 'a global request is being answered';
    if (this.forwardsConnecting) return 'a forwarded TCP connection is being opened';
    if (this.listeners.size || this.listenersStarting) return 'a remote forward is listening';
    if (this.offered.size) return 'a forwarded TCP connection is being offered';
    for (const ch of this.channels.values()) {
      const why = ch.session.unsaveableReason();
      if (why) return `channel ${ch.localId}: ${why}`;
    }
    return null;
  }

  save(): ConnectionState {
    const why = this.unsaveableReason();
    if (why) throw new Error(`cannot save the connection layer: ${why}`);
    return {
      v: 1,
      username: this.o.username,
      nextId: this.nextId,
      noMoreSessions: this.noMoreSessions,
      sessionsOpened: this.sessionsOpened,
      keepaliveMissed: this.keepaliveMissed,
      keepalivesPending: this.globalReplies.length,
      keepaliveAt: this.keepaliveAt,
      idleAt: this.idleAt,
      channels: [...this.channels.values()].map(({ session, ...ch }) => ({ ...ch, session: session.save() })),
    };
  }

  private restore(s: ConnectionState): void {
    if (s.v !== 1 || s.username !== this.o.username) throw new Error('saved connection state does not fit');
    this.nextId = s.nextId >>> 0;
    this.noMoreSessions = s.noMoreSessions;
    this.sessionsOpened = s.sessionsOpened;
    this.keepaliveMissed = s.keepaliveMissed;
    for (let i = 0; i < s.keepalivesPending; i++) this.expectKeepaliveReply();
    if (s.keepaliveAt !== null && this.o.keepaliveIntervalMs) this.armKeepalive(Math.max(0, s.keepaliveAt - this.now()));
    if (s.idleAt !== null && this.o.idleTimeoutMs) this.armIdle(Math.max(0, s.idleAt - this.now()));
    const sessions: [Session, SessionState][] = [];
    for (const { session, ...saved } of s.channels) {
      const ch: Channel = { ...saved, session: undefined as unknown as Session };
      ch.session = new Session(this.o.username, this.hooks(ch));
      ch.session.transport = this.transport;
      this.channels.set(ch.localId, ch);
      sessions.push([ch.session, session]);
    }
    // Applications resume once the whole connection is back.
    queueMicrotask(() => {
      for (const [session, state] of sessions) session.restore(state, this.o.onResume);
    });
  }

  get openChannels(): number {
    return this.channels.size;
  }

  close(): void {
    this.keepaliveTimer?.cancel();
    this.idleTimer?.cancel();
    for (const ch of this.channels.values()) ch.session.terminate();
    this.channels.clear();
    for (const r of this.globalReplies) r.resolve(false);
    this.globalReplies = [];
    for (const l of this.listeners.values()) closeQuietly(l);
    this.listeners.clear();
    for (const c of this.offered.values()) closeQuietly(c.stream);
    this.offered.clear();
  }

  // ── timers ──────────────────────────────────────────────────────────────────────────────────────

  private armKeepalive(first?: number): void {
    this.keepaliveTimer?.cancel();
    const every = this.o.keepaliveIntervalMs;
    if (!every) return;
    this.keepaliveAt = this.now() + (first ?? every);
    this.keepaliveTimer = this.setTimer(() => {
      if (this.transport.closed) return;
      if (++this.keepaliveMissed > (this.o.keepaliveCountMax ?? 3)) {
        this.transport.disconnect(DISCONNECT.BY_APPLICATION, 'Timeout, client not responding');
        return;
      }
      this.expectKeepaliveReply();
      this.transport.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('keepalive@openssh.com').boolean(true).finish());
      this.armKeepalive();
    }, first ?? every);
  }

  /** Any answer to a keepalive (success or failure) proves the client alive, as with OpenSSH's ClientAlive. */
  private expectKeepaliveReply(): void {
    this.globalReplies.push({ keepalive: true, resolve: () => (this.keepaliveMissed = 0) });
  }

  private armIdle(first?: number): void {
    this.idleTimer?.cancel();
    const ms = this.o.idleTimeoutMs;
    if (!ms) return;
    this.idleAt = this.now() + (first ?? ms);
    this.idleTimer = this.setTimer(() => {
      if (!this.transport.closed) this.transport.disconnect(DISCONNECT.BY_APPLICATION, 'idle timeout');
    }, first ?? ms);
  }

  /** Sends a global request that wants a reply; resolves true on REQUEST_SUCCESS. */
  globalRequest(name: string, data: Uint8Array): Promise<boolean> {
    return new Promise((resolve) => {
      this.globalReplies.push({ keepalive: false, resolve });
      this.transport.send(new Writer().byte(MSG.GLOBAL_REQUEST).string(name).boolean(true).raw(data).finish());
    });
  }

  // ── dispatch ────────────────────────────────────────────────────────────────────────────────────

  handle(type: number, payload: Uint8Array): boolean {
    if (type >= 50 && type <= 79) return true; // RFC 4252 §5.1: userauth requests after success are ignored
    this.keepaliveMissed = 0;
    if (type >= MSG.CHANNEL_OPEN && type <= MSG.CHANNEL_FAILURE) this.armIdle();
    const r = new Reader(payload, 1);
    switch (type) {
      case MSG.GLOBAL_REQUEST:
        return this.onGlobalRequest(r);
      case MSG.REQUEST_SUCCESS:
      case MSG.REQUEST_FAILURE: {
        const cb = this.globalReplies.shift();
        if (!cb) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'global request reply without a request');
        cb.resolve(type === MSG.REQUEST_SUCCESS);
        return true;
      }
      case MSG.CHANNEL_OPEN:
        return this.onOpen(r);
      case MSG.CHANNEL_OPEN_CONFIRMATION:
      case MSG.CHANNEL_OPEN_FAILURE:
        return this.onOpenReply(type, r);
      case MSG.CHANNEL_WINDOW_ADJUST: {
        const ch = this.channel(r, 'WINDOW_ADJUST');
        const n = r.uint32();
        if (ch.remoteWindow + n > MAX_WINDOW)
          throw new SshError(DISCONNECT.PROTOCOL_ERROR, `channel ${ch.localId}: window adjust overflows 2^32-1`);
        ch.remoteWindow += n;
        ch.session.windowOpened();
        return true;
      }
      case MSG.CHANNEL_DATA:
      case MSG.CHANNEL_EXTENDED_DATA: {
        const ch = this.channel(r, 'DATA');
        const ext = type === MSG.CHANNEL_EXTENDED_DATA ? r.uint32() : -1;
        const data = r.bytes();
        r.done('CHANNEL_DATA');
        if (ch.eofReceived || ch.closeReceived)
          throw new SshError(DISCONNECT.PROTOCOL_ERROR, `channel ${ch.localId}: data after EOF`);
        if (data.length > ch.localWindow)
          throw new SshError(DISCONNECT.PROTOCOL_ERROR, `channel ${ch.localId}: data beyond the window (${data.length} > ${ch.localWindow})`);
        if (data.length > this.maxPacket)
          throw new SshError(DISCONNECT.PROTOCOL_ERROR, `channel ${ch.localId}: data packet larger than ${this.maxPacket} bytes`);
        ch.localWindow -= data.length;
        if (ch.closeSent) return true; // in flight when we closed; discarded as RFC 4254 §5.3 allows
        // A view, not a copy: every opened (or inflated) packet is a fresh buffer of its own.
        if (ext < 0) ch.session.receiveData(data);
        // Extended data from a client has no meaning for a session; its window is still consumed.
        else this.consumed(ch, data.length);
        return true;
      }
      case MSG.CHANNEL_EOF: {
        const ch = this.channel(r, 'EOF');
        r.done('CHANNEL_EOF');
        if (!ch.eofReceived) {
          ch.eofReceived = true;
          ch.session.receiveEof();
        }
        return true;
      }
      case MSG.CHANNEL_CLOSE: {
        const ch = this.channel(r, 'CLOSE');
        r.done('CHANNEL_CLOSE');
        if (ch.closeReceived) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `channel ${ch.localId}: CLOSE received twice`);
        ch.closeReceived = true;
        ch.session.terminate();
        this.sendClose(ch);
        return true;
      }
      case MSG.CHANNEL_REQUEST:
        return this.onChannelRequest(r);
      case MSG.CHANNEL_SUCCESS:
      case MSG.CHANNEL_FAILURE:
        this.channel(r, 'SUCCESS/FAILURE'); // we send no channel requests that want replies
        return true;
    }
    return false;
  }

  private channel(r: Reader, what: string): Channel {
    const id = r.uint32();
    const ch = this.channels.get(id);
    if (!ch) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `${what} for unknown channel ${id}`);
    return ch;
  }

  private onGlobalRequest(r: Reader): boolean {
    const name = r.string();
    const wantReply = r.boolean();
    let ok = false;
    if (name === 'no-more-sessions@openssh.com') {
      this.noMoreSessions = true;
      ok = true;
    } else if (name === 'hostkeys-prove-00@openssh.com') {
      // The key blobs are read now (a malformed request ends the connection, as any malformed message
      // does); only the signing waits. One past the limit is enough to refuse.
      const blobs: Uint8Array[] = [];
      while (r.remaining && blobs.length <= MAX_PROVE_KEYS) blobs.push(r.bytes());
      if (wantReply) this.reply(this.proveHostKeys(blobs));
      return true;
    }
    if (name === 'tcpip-forward' || name === 'cancel-tcpip-forward') {
      const address = r.string();
      const port = r.uint32();
      r.done(name);
      if (name === 'tcpip-forward') {
        const answer = this.startListening({ kind: 'tcpip-forward', address, port });
        if (wantReply) this.reply(answer);
        else answer.catch(() => {}); // a hook that threw: refused, with no one to tell
        return true;
      }
      const l = this.listeners.get(listenerKey(address, port));
      if (l) {
        this.listeners.delete(listenerKey(address, port));
        closeQuietly(l);
        ok = true;
      }
    }
    // keepalive@openssh.com and the unknown: REQUEST_FAILURE
    if (wantReply) this.reply(new Uint8Array([ok ? MSG.REQUEST_SUCCESS : MSG.REQUEST_FAILURE]));
    return true;
  }

  /**
   * tcpip-forward (RFC 4254 §7.1): allowed by the application and opened by its listenForward; the answer
   * is REQUEST_SUCCESS (with the port chosen, when 0 was asked for) or REQUEST_FAILURE, as sshd's.
   */
  private async startListening(req: ListenRequest): Promise<Uint8Array> {
    const failure = new Uint8Array([MSG.REQUEST_FAILURE]);
    if (req.port > 65535 || !this.o.listenForward || !this.o.allowListen?.(req, this.transport)) return failure;
    if (this.listeners.size + this.listenersStarting >= (this.o.maxListeners ?? DEFAULT_MAX_LISTENERS)) return failure;
    this.listenersStarting++;
    let listener: ForwardListener;
    let bound = req.port;
    try {
      listener = await this.o.listenForward(req, (c) => this.offer(req.address, bound, c), this.transport);
    } catch {
      return failure;
    } finally {
      this.listenersStarting--;
    }
    bound = listener.port;
    if (this.transport.closed || this.listeners.has(listenerKey(req.address, bound))) {
      closeQuietly(listener);
      return failure;
    }
    this.listeners.set(listenerKey(req.address, bound), listener);
    const w = new Writer().byte(MSG.REQUEST_SUCCESS);
    if (req.port === 0) w.uint32(bound);
    return w.finish();
  }

  /** A connection a listener accepted, offered to the client as a forwarded-tcpip channel (RFC 4254 §7.2). */
  private offer(address: string, port: number, c: IncomingConnection): void {
    if (this.transport.closed || this.forwards >= (this.o.maxForwards ?? DEFAULT_MAX_FORWARDS)) return closeQuietly(c.stream);
    const localId = this.freeId();
    this.offered.set(localId, c);
    this.forwards++;
    this.transport.send(
      new Writer()
        .byte(MSG.CHANNEL_OPEN)
        .string('forwarded-tcpip')
        .uint32(localId)
        .uint32(this.windowSize)
        .uint32(this.maxPacket)
        .string(address)
        .uint32(port)
        .string(c.originHost)
        .uint32(c.originPort)
        .finish(),
    );
  }

  /** The client's answer to a forwarded-tcpip channel we offered: the bytes flow, or the connection is closed. */
  private onOpenReply(type: number, r: Reader): boolean {
    const localId = r.uint32();
    const c = this.offered.get(localId);
    if (!c) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'channel open reply for a channel we never opened');
    // Read whole before the offer is taken: a malformed reply ends the connection, which closes what is offered.
    if (type === MSG.CHANNEL_OPEN_FAILURE) {
      r.uint32(); // reason code
      r.string(); // description
      r.string(); // language tag
      r.done('CHANNEL_OPEN_FAILURE');
      this.offered.delete(localId);
      this.forwards--;
      closeQuietly(c.stream);
      return true;
    }
    const remoteId = r.uint32();
    const window = r.uint32();
    const maxPacket = r.uint32();
    r.done('CHANNEL_OPEN_CONFIRMATION');
    this.offered.delete(localId);
    const ch = this.makeChannel(localId, remoteId, window, maxPacket);
    ch.session.begin('forwarded-tcpip', `${c.originHost}:${c.originPort}`);
    void ch.session.run((s) => pumpForward(s, c.stream)).finally(() => this.forwards--);
    return true;
  }

  private onOpen(r: Reader): boolean {
    const type = r.string();
    const remoteId = r.uint32();
    const window = r.uint32();
    const maxPacket = r.uint32();
    if (type === 'direct-tcpip') {
      const host = r.string();
      const port = r.uint32();
      const originHost = r.string();
      const originPort = r.uint32();
      r.done('CHANNEL_OPEN');
      if (maxPacket < 1) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'channel maximum packet size of 0');
      if (port < 1 || port > 65535) return this.refuseOpen(remoteId, OPEN_FAILURE.CONNECT_FAILED, `invalid port ${port}`);
      const req: ForwardRequest = { kind: 'direct-tcpip', host, port, originHost, originPort };
      if (!this.o.allowForward?.(req, this.transport) || !this.o.connectForward)
        return this.refuseOpen(remoteId, OPEN_FAILURE.ADMINISTRATIVELY_PROHIBITED, 'open failed');
      if (this.forwards >= (this.o.maxForwards ?? DEFAULT_MAX_FORWARDS))
        return this.refuseOpen(remoteId, OPEN_FAILURE.RESOURCE_SHORTAGE, 'too many forwarded connections');
      void this.openForward(req, remoteId, window, maxPacket);
      return true;
    }
    if (type !== 'session') return this.refuseOpen(remoteId, OPEN_FAILURE.UNKNOWN_CHANNEL_TYPE, `unknown channel type ${type}`);
    r.done('CHANNEL_OPEN');
    if (this.noMoreSessions && this.sessionsOpened > 0)
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'session opened after no-more-sessions@openssh.com');
    let sessions = 0;
    for (const c of this.channels.values()) if (!c.closeSent && !isForward(c.session.kind)) sessions++;
    if (sessions >= (this.o.maxSessions ?? 10)) return this.refuseOpen(remoteId, OPEN_FAILURE.RESOURCE_SHORTAGE, 'too many sessions');
    if (maxPacket < 1) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'channel maximum packet size of 0');
    this.addChannel(remoteId, window, maxPacket);
    this.sessionsOpened++;
    return true;
  }

  private refuseOpen(remoteId: number, code: number, text: string): true {
    this.transport.send(new Writer().byte(MSG.CHANNEL_OPEN_FAILURE).uint32(remoteId).uint32(code).string(text).string('').finish());
    return true;
  }

  /** A channel number in use by no channel and no offer. */
  private freeId(): number {
    while (this.channels.has(this.nextId) || this.offered.has(this.nextId)) this.nextId = (this.nextId + 1) >>> 0;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    return id;
  }

  /** A new channel the client opened, confirmed to it. */
  private addChannel(remoteId: number, window: number, maxPacket: number): Channel {
    const ch = this.makeChannel(this.freeId(), remoteId, window, maxPacket);
    this.transport.send(
      new Writer()
        .byte(MSG.CHANNEL_OPEN_CONFIRMATION)
        .uint32(remoteId)
        .uint32(ch.localId)
        .uint32(this.windowSize)
        .uint32(this.maxPacket)
        .finish(),
    );
    return ch;
  }

  private makeChannel(localId: number, remoteId: number, window: number, maxPacket: number): Channel {
    const ch: Channel = {
      localId,
      remoteId,
      localWindow: this.windowSize,
      remoteWindow: window,
      remoteMaxPacket: Math.min(maxPacket, 256 * 1024),
      eofSent: false,
      eofReceived: false,
      closeSent: false,
      closeReceived: false,
      pendingAdjust: 0,
      session: undefined as unknown as Session,
    };
    ch.session = new Session(this.o.username, this.hooks(ch));
    ch.session.transport = this.transport;
    this.channels.set(localId, ch);
    return ch;
  }

  /**
   * A direct-tcpip channel (RFC 4254 §7.2): the TCP connection is opened first, as sshd does, so a
   * refused one is an OPEN_FAILURE the client reports ("connect failed: …"); then bytes flow both ways
   * with the channel's flow control, and EOF in either direction half-closes the other.
   */
  private async openForward(req: ForwardRequest, remoteId: number, window: number, maxPacket: number): Promise<void> {
    this.forwards++;
    try {
      let stream: ForwardStream;
      this.forwardsConnecting++;
      try {
        stream = await this.o.connectForward!(req, this.transport);
      } catch (e) {
        if (!this.transport.closed) this.refuseOpen(remoteId, OPEN_FAILURE.CONNECT_FAILED, e instanceof Error ? e.message : String(e));
        return;
      } finally {
        this.forwardsConnecting--;
      }
      if (this.transport.closed) return closeQuietly(stream);
      const ch = this.addChannel(remoteId, window, maxPacket);
      ch.session.begin('direct-tcpip', `${req.host}:${req.port}`);
      await ch.session.run((s) => pumpForward(s, stream));
    } finally {
      this.forwards--;
    }
  }

  private onChannelRequest(r: Reader): boolean {
    const ch = this.channel(r, 'CHANNEL_REQUEST');
    const name = r.string();
    const wantReply = r.boolean();
    const s = ch.session;
    let ok = false;
    if (ch.closeSent) return true;
    switch (name) {
      case 'pty-req': {
        const term = r.string();
        const cols = r.uint32();
        const rows = r.uint32();
        const width = r.uint32();
        const height = r.uint32();
        const modes = decodeTerminalModes(r.bytes());
        ok = (this.o.allowPty?.(this.transport) ?? true) && s.setPty({ term, cols, rows, width, height, modes });
        break;
      }
      case 'env':
        ok = s.setEnv(r.string(), r.string());
        break;
      case 'shell':
        ok = this.start(ch, 'shell', null);
        break;
      case 'exec':
        ok = this.start(ch, 'exec', r.string());
        break;
      case 'subsystem': {
        const sub = r.string();
        ok = (this.o.subsystems ?? []).includes(sub) && this.start(ch, 'subsystem', sub);
        break;
      }
      case 'window-change': {
        const cols = r.uint32();
        const rows = r.uint32();
        r.uint32();
        r.uint32();
        ok = s.resize(cols, rows);
        break;
      }
      case 'signal':
        ok = s.deliverSignal(r.string());
        break;
      case 'break':
        ok = s.deliverSignal('BREAK');
        break;
      default:
        ok = false;
    }
    if (wantReply)
      this.transport.send(
        new Writer().byte(ok ? MSG.CHANNEL_SUCCESS : MSG.CHANNEL_FAILURE).uint32(ch.remoteId).finish(),
      );
    return true;
  }

  private start(ch: Channel, kind: 'shell' | 'exec' | 'subsystem', arg: string | null): boolean {
    if (!ch.session.begin(kind, arg)) return false;
    // Run the application after the reply to this request has gone out.
    queueMicrotask(() => ch.session.run(this.o.onSession));
    return true;
  }

  // ── the session's view of its channel ───────────────────────────────────────────────────────────

  private hooks(ch: Channel): SessionHooks {
    return new ChannelHooks(this, ch);
  }

  /** @internal ChannelHooks.sendData: data on the channel, within the window the caller checked. */
  channelData(ch: Channel, data: Uint8Array, ext: boolean): boolean {
    if (ch.closeSent || this.transport.closed) return false;
    ch.remoteWindow -= data.length;
    this.transport.send(channelDataHead(ch.remoteId, data.length, ext), data);
    this.armIdle();
    return true;
  }

  /** @internal ChannelHooks.sendExit */
  channelExit(ch: Channel, status: number | { signal: string; message?: string }): void {
    if (ch.closeSent) return;
    const w = new Writer().byte(MSG.CHANNEL_REQUEST).uint32(ch.remoteId);
    if (typeof status === 'number') w.string('exit-status').boolean(false).uint32(status);
    else w.string('exit-signal').boolean(false).string(status.signal).boolean(false).string(status.message ?? '').string('');
    this.transport.send(w.finish());
  }

  /** @internal ChannelHooks.sendEof */
  channelEof(ch: Channel): void {
    if (ch.eofSent || ch.closeSent) return;
    ch.eofSent = true;
    this.transport.send(new Writer().byte(MSG.CHANNEL_EOF).uint32(ch.remoteId).finish());
  }

  /** @internal ChannelHooks.error */
  sessionFailed(err: unknown): void {
    this.o.onError?.(err);
  }

  /**
   * The application consumed n bytes: re-open the window (RFC 4254 §5.2) once three maximum packets or
   * half the window are used, as OpenSSH does, so the window stays nearly full when the link is slow to
   * answer rather than draining to half before each adjust.
   */
  /** @internal */
  consumed(ch: Channel, n: number): void {
    ch.pendingAdjust += n;
    if ((ch.pendingAdjust > 3 * this.maxPacket || ch.pendingAdjust >= this.windowSize / 2) && !ch.closeSent && !ch.eofReceived) {
      ch.localWindow += ch.pendingAdjust;
      this.transport.send(new Writer().byte(MSG.CHANNEL_WINDOW_ADJUST).uint32(ch.remoteId).uint32(ch.pendingAdjust).finish());
      ch.pendingAdjust = 0;
    }
  }

  /** @internal */
  sendClose(ch: Channel): void {
    if (!ch.closeSent) {
      ch.closeSent = true;
      this.transport.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(ch.remoteId).finish());
    }
    if (ch.closeReceived) this.channels.delete(ch.localId);
    ch.session.terminate();
  }
}

const listenerKey = (address: string, port: number) => `${address} ${port}`;

/** Closes a forwarded connection or a listener, whatever state it is in. */
function closeQuietly(it: { close?(): unknown }): void {
  try {
    it.close?.();
  } catch {
    // already closed
  }
}

/**
 * Moves bytes between a direct-tcpip channel and its TCP connection until both directions have ended (or
 * either failed, which ends the other too). The channel's EOF closes `writable` (a half-close); the end of
 * `readable` sends the channel's EOF.
 */
async function pumpForward(s: Session, stream: ForwardStream): Promise<void> {
  await new Promise<void>((resolve) => {
    // The channel or the connection closing ends it at once, whatever the streams are still doing.
    if (s.signal.aborted) return resolve();
    s.signal.addEventListener('abort', () => resolve(), { once: true });
    let ended = 0;
    const done = () => ++ended === 2 && resolve();
    s.stdin.pipeTo(stream.writable).then(done, resolve);
    stream.readable.pipeTo(s.stdout, { preventClose: true }).then(() => s.endOutput().then(done), resolve);
  });
  closeQuietly(stream);
}

/** RFC 4254 §8: opcode/uint32 pairs ending with TTY_OP_END; opcodes ≥ 160 stop the parse. */
export function decodeTerminalModes(b: Uint8Array): Record<number, number> {
  const modes: Record<number, number> = {};
  const r = new Reader(b);
  while (r.remaining > 0) {
    const op = r.byte();
    if (op === 0 || op >= 160) break;
    if (r.remaining < 4) break;
    modes[op] = r.uint32();
  }
  return modes;
}
