/**
 * The SSH transport layer (RFC 4253) as a sans-I/O state machine: bytes in through `receive()`,
 * bytes out through `onSend`, events through `onEvent`, time through `now()` and `tick()`.
 * One class serves both roles, as Conch's SSHTransportBase does; `role` chooses who sends what.
 */
import type {
  Compressor,
  Decompressor,
  DirectionKeys,
  DirectionState,
  KexClientSide,
  KexContext,
  KexMethod,
  PacketOpener,
  PacketProtection,
  PacketSealer,
  PrivateKey,
  PublicKey,
  X25519Factory,
} from '../crypto/types.ts';
import { Reader, WireError } from '../wire/reader.ts';
import { Writer, concatBytes, utf8Bytes } from '../wire/writer.ts';
import { DISCONNECT, MSG, SshError, disconnectName } from '../wire/messages.ts';
import { ByteQueue } from './bytequeue.ts';
import { certificateOf, parseUserKey, verifyCertificate } from '../auth/certificate.ts';
import { checkPacketLength, frameBufferFor, framePacket, sealFrame, unframePacket } from './packets.ts';
import { SOFTWARE_VERSION, parseVersionExchange, type VersionLine } from './version.ts';
import {
  KEX_PSEUDO,
  decodeKexinit,
  encodeKexinit,
  guessWasRight,
  negotiate,
  type Kexinit,
  type KexinitLists,
  type Negotiated,
} from './negotiate.ts';
import {
  DEFAULT_ALGORITHMS,
  SERVER_HOST_KEY_ALGORITHMS,
  NONE_OPENER,
  NONE_SEALER,
  cipherInfo,
  PORTABLE_PROTECTION,
  kexMethod,
  macInfo,
  type AlgorithmPrefs,
  createCompressor,
  createDecompressor,
  chooseGexGroup,
  dhGroupMethod,
  deriveKey,
  validateAlgorithms,
} from '../crypto/registry.ts';

export type Role = 'server' | 'client';

/** OpenSSH PROTOCOL §1.9 */
export const MSG_PING = 192;
export const MSG_PONG = 193;

const STRICT_C = 'kex-strict-c-v00@openssh.com';
const STRICT_S = 'kex-strict-s-v00@openssh.com';
const EXT_INFO_C = 'ext-info-c';
const EXT_INFO_S = 'ext-info-s';

export interface RekeyLimits {
  /** Bytes in either direction before the server starts a new key exchange (default 1 GiB). */
  bytes: number;
  /** Packets in either direction (default 2^31, RFC 4344 §3.1). */
  packets: number;
  /** Seconds since the last key exchange (default 3600). */
  seconds: number;
}

export interface CloseInfo {
  reason: number;
  reasonName: string;
  message: string;
  /** 'peer': the peer sent DISCONNECT; 'local': we did (protocol error or API); 'lost': the socket went away. */
  by: 'peer' | 'local' | 'lost';
}

export type TransportEvent =
  | { type: 'version'; peer: VersionLine }
  | { type: 'kex-start'; initiator: 'local' | 'peer' }
  | { type: 'kex-done'; negotiated: Negotiated; count: number; strict: boolean }
  | { type: 'debug'; alwaysDisplay: boolean; message: string }
  | { type: 'ignore'; data: Uint8Array }
  | { type: 'unimplemented'; seq: number }
  | { type: 'service'; name: string }
  | { type: 'ext-info'; extensions: Map<string, Uint8Array> }
  | { type: 'pong'; data: Uint8Array };

/** One packet, for the packet inspector: payload plaintext, wire bytes as sent/received. */
export interface PacketTrace {
  direction: 'in' | 'out';
  seq: number;
  payload: Uint8Array;
  wire?: Uint8Array;
}

export interface Service {
  /** Handles a message of this service; false when the type is unknown to it (→ UNIMPLEMENTED). */
  handle(type: number, payload: Uint8Array, seq: number): boolean | Promise<boolean>;
  /** The transport closed. */
  close?(info: CloseInfo): void;
}

export type ServiceFactory = (transport: Transport) => Service;

export interface TransportOptions {
  role: Role;
  /** Server: the host keys; only algorithms these keys can sign are offered. */
  hostKeys?: readonly PrivateKey[];
  /** Client: accept or refuse the server's host key (known-hosts style). */
  verifyHostKey?: (key: PublicKey, algorithm: string) => boolean | Promise<boolean>;
  algorithms?: Partial<AlgorithmPrefs>;
  /** Largest packet_length accepted, in bytes (default 256 KiB). */
  maxPacketSize?: number;
  rekey?: Partial<RekeyLimits>;
  /** Who makes the sealers and openers (default the portable one; see PacketProtection). */
  protection?: PacketProtection;
  /** Who makes X25519 key pairs for curve25519 and mlkem768x25519 (default Web Crypto, else noble). */
  x25519?: X25519Factory;
  /** A key exchange must finish within this many ms (default 120 s). */
  kexTimeoutMs?: number;
  /** Bytes of outgoing messages held back during a key exchange before the connection is ended. */
  maxQueuedBytes?: number;
  /** Server: services a client may request, `ssh-userauth` first. */
  services?: Record<string, ServiceFactory>;
  /** Server: signature algorithms announced in EXT_INFO server-sig-algs. */
  serverSigAlgs?: readonly string[];
  softwareVersion?: string;
  now?: () => number;
  peerAddress?: string;
  onSend: (bytes: Uint8Array) => void;
  onClose?: (info: CloseInfo) => void;
  onEvent?: (event: TransportEvent) => void;
  onPacket?: (trace: PacketTrace) => void;
}

interface PendingKeys {
  sealer: PacketSealer;
  opener: PacketOpener;
  compressOut: boolean;
  compressIn: boolean;
}

interface KexState {
  initiator: 'local' | 'peer';
  startedAt: number;
  ourPayload: Uint8Array;
  ours: Kexinit;
  peerPayload?: Uint8Array;
  peer?: Kexinit;
  negotiated?: Negotiated;
  method?: KexMethod;
  /** A wrong guessed kex packet from the peer is still to be dropped (RFC 4253 §7). */
  skipNext: boolean;
  /** Group exchange parameters, hashed into H (RFC 4419). */
  gex?: { min: number; n: number; max: number; old: boolean; p: bigint; g: bigint };
  clientSide?: KexClientSide;
  next?: PendingKeys;
  sentNewkeys: boolean;
  gotNewkeys: boolean;
}

export const DEFAULT_MAX_PACKET = 256 * 1024;

/** Input bytes of a packet not yet complete that a saved state may carry. */
const MAX_SAVED_INPUT = 8 * 1024;
/** At most this many packets, and bytes, are opened ahead of their turn. */
const OPEN_AHEAD_PACKETS = 8;
const OPEN_AHEAD_BYTES = 512 * 1024;

/**
 * The live state of an established connection as plain data (what survives Durable Object hibernation):
 * everything `restoreState()` needs to carry on mid-stream. `keys` holds the secrets; the rest does not.
 */
export interface TransportState {
  v: 1;
  role: Role;
  localVersion: string;
  peerVersion: VersionLine;
  sessionId: Uint8Array;
  negotiated: Negotiated;
  strictKex: boolean;
  peerWantsExtInfo: boolean;
  peerExtensions: [string, Uint8Array][];
  kexCount: number;
  authenticated: boolean;
  seqIn: number;
  seqOut: number;
  bytesSinceKex: { in: number; out: number };
  packetsSinceKex: { in: number; out: number };
  lastKexAt: number;
  /** Bytes of an incomplete packet received so far. */
  input: Uint8Array;
  position: { out: number; in: number };
  keys: { out: DirectionKeys; in: DirectionKeys };
  appData: Record<string, unknown>;
}

export class Transport {
  readonly role: Role;
  readonly peerAddress: string | undefined;
  /** Our identification line, without CR LF. */
  readonly localVersion: string;
  peerVersion: VersionLine | null = null;
  sessionId: Uint8Array | null = null;
  negotiated: Negotiated | null = null;
  /** True once the peer offered and we agreed strict kex in the first KEXINIT (OpenSSH PROTOCOL §1.10). */
  strictKex = false;
  /** Whether the peer announced EXT_INFO support (server: the client sent ext-info-c). */
  peerWantsExtInfo = false;
  /** Extensions the peer sent in EXT_INFO. */
  peerExtensions = new Map<string, Uint8Array>();
  kexCount = 0;
  /** Plain data an application keeps with the connection (say, the options of the key that logged in); saved with it. */
  appData: Record<string, unknown> = {};
  closed = false;
  closeInfo: CloseInfo | null = null;
  private sealFailed = false;

  private readonly opts: TransportOptions;
  /** Makes each direction's sealer and opener (TransportOptions.protection, else the portable one). */
  private readonly protection: PacketProtection;
  /** What the key exchange methods take from the runtime (TransportOptions.x25519). */
  private readonly kexContext: KexContext;
  private readonly now: () => number;
  private readonly maxPacket: number;
  private readonly limits: RekeyLimits;
  private readonly kexTimeoutMs: number;
  private readonly maxQueuedBytes: number;
  private readonly prefs: AlgorithmPrefs;

  private inq = new ByteQueue();
  private pumping = false;
  private pendingLength = -1;
  /** Bytes buffered when the pump last ran out of input. */
  private stalledAt = 0;
  /** Packets taken from the input and being opened ahead of their turn (see openAhead). */
  private ahead: { seq: number; wire: Uint8Array; opener: PacketOpener; opening: ReturnType<PacketOpener['open']> }[] = [];
  /** The socket went away while input was still being processed. */
  private lostMessage: string | null = null;
  private idleWaiters: (() => void)[] = [];

  private sealer: PacketSealer = NONE_SEALER;
  private opener: PacketOpener = NONE_OPENER;
  private compressor: Compressor | null = null;
  private decompressor: Decompressor | null = null;
  /** zlib@openssh.com was negotiated for a direction; it starts once the user is authenticated. */
  private delayedCompression = { out: false, in: false };
  private authenticatedFlag = false;
  private seqOut = 0;
  private seqIn = 0;
  private outTail: Promise<void> | null = null;

  private kex: KexState | null = null;
  private firstKexDone = false;
  private packetsBeforeKexinit = 0;
  private queued: Uint8Array[] = [];
  /** Server, first key exchange: EXT_INFO is due and waits for the client's NEWKEYS (see sendNewkeys). */
  private extInfoPending = false;
  private queuedBytes = 0;
  private bytesSinceKex = { in: 0, out: 0 };
  private packetsSinceKex = { in: 0, out: 0 };
  private lastKexAt: number;

  private service: Service | null = null;
  private serviceRequested: ((ok: boolean) => void) | null = null;

  constructor(opts: TransportOptions) {
    this.opts = opts;
    this.protection = opts.protection ?? PORTABLE_PROTECTION;
    this.kexContext = { x25519: opts.x25519 };
    this.role = opts.role;
    this.peerAddress = opts.peerAddress;
    this.now = opts.now ?? (() => Date.now());
    this.maxPacket = opts.maxPacketSize ?? DEFAULT_MAX_PACKET;
    this.limits = { bytes: 2 ** 30, packets: 2 ** 31, seconds: 3600, ...opts.rekey };
    this.kexTimeoutMs = opts.kexTimeoutMs ?? 120_000;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
    if (opts.algorithms) validateAlgorithms(opts.algorithms);
    this.prefs = { ...DEFAULT_ALGORITHMS, ...opts.algorithms };
    this.localVersion = `SSH-2.0-${opts.softwareVersion ?? SOFTWARE_VERSION}`;
    this.lastKexAt = this.now();
    if (this.role === 'server' && !(opts.hostKeys && opts.hostKeys.length))
      throw new Error('a server needs at least one host key');
  }

  // ── Public API ──────────────────────────────────────────────────────────────────────────────────

  /** Sends our identification line and first KEXINIT. Call once, when the connection opens. */
  start(): void {
    this.emit(utf8Bytes(this.localVersion + '\r\n'));
    this.startKex('local');
  }

  /**
   * Feeds bytes from the peer. Never throws: protocol errors end the connection with DISCONNECT. The bytes
   * become the transport's: packets may be decrypted where they lie, so the caller must not reuse or keep them.
   */
  receive(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    this.inq.push(bytes);
    if (!this.pumping) void this.pump();
  }

  /**
   * Sends a message of an upper layer; held back during a key exchange and flushed after NEWKEYS. The message
   * is `payload` followed by `data` when given: a channel's data goes into its frame without first being
   * copied into a message of its own. `data` is read during this call only (copied when held back).
   */
  send(payload: Uint8Array, data?: Uint8Array): void {
    if (this.closed) return;
    if (!allowedDuringKex(payload[0]!) && (this.kex ? !this.kex.sentNewkeys : !this.firstKexDone)) {
      const message = data ? concatBytes(payload, data) : payload;
      this.queued.push(message);
      this.queuedBytes += message.length;
      if (this.kex && this.queuedBytes > this.maxQueuedBytes)
        this.disconnect(DISCONNECT.BY_APPLICATION, 'too much output queued during key exchange');
      return;
    }
    if (data && (this.compressor || this.opts.onPacket)) this.writePacket(concatBytes(payload, data));
    else this.writePacket(payload, data);
  }

  sendIgnore(data: Uint8Array = new Uint8Array(0)): void {
    this.send(new Writer().byte(MSG.IGNORE).bytes(data).finish());
  }

  sendDebug(message: string, alwaysDisplay = false): void {
    this.send(new Writer().byte(MSG.DEBUG).boolean(alwaysDisplay).string(message).string('').finish());
  }

  /** Client: ping@openssh.com (answered with a 'pong' event). */
  sendPing(data: Uint8Array = new Uint8Array(0)): void {
    this.send(new Writer().byte(MSG_PING).bytes(data).finish());
  }

  /** Starts a key re-exchange (no-op while one is running). */
  rekey(): void {
    if (!this.closed && !this.kex && this.firstKexDone) this.startKex('local');
  }

  /** Sends DISCONNECT and closes. The close event fires once the message is on its way. */
  disconnect(reason: number, message: string): void {
    if (this.closed) return;
    const payload = new Writer().byte(MSG.DISCONNECT).uint32(reason).string(message).string('').finish();
    this.writePacket(payload);
    this.finish({ reason, reasonName: disconnectName(reason), message, by: 'local' });
  }

  /** The socket went away without a DISCONNECT. */
  connectionLost(message = 'connection lost'): void {
    if (this.closed) return;
    // What the peer sent before it went away is still processed (a DISCONNECT among it, say).
    if (this.pumping) {
      this.lostMessage = message;
      return;
    }
    this.finish({ reason: DISCONNECT.CONNECTION_LOST, reasonName: 'CONNECTION_LOST', message, by: 'lost' });
  }

  /** Checks timers: the key exchange deadline and rekey-by-time. Call it at `nextDeadline()`. */
  tick(now = this.now()): void {
    if (this.closed) return;
    if (this.kex && now - this.kex.startedAt >= this.kexTimeoutMs) {
      this.disconnect(
        DISCONNECT.KEY_EXCHANGE_FAILED,
        `key exchange did not finish within ${Math.round(this.kexTimeoutMs / 1000)} s`,
      );
      return;
    }
    if (!this.kex && this.firstKexDone && now - this.lastKexAt >= this.limits.seconds * 1000) this.startKex('local');
  }

  /** When `tick()` next has something to do (ms since epoch), or null. */
  nextDeadline(): number | null {
    if (this.closed) return null;
    if (this.kex) return this.kex.startedAt + this.kexTimeoutMs;
    if (this.firstKexDone) return this.lastKexAt + this.limits.seconds * 1000;
    return null;
  }

  /** Resolves when all input received so far has been processed and all output emitted. */
  async idle(): Promise<void> {
    for (;;) {
      if (this.pumping) await new Promise<void>((r) => this.idleWaiters.push(r));
      const tail = this.outTail;
      if (tail) await tail;
      if (!this.pumping && this.outTail === null) return;
    }
  }

  /** Whether each direction is encrypted / integrity-protected (Conch's isEncrypted / isVerified). */
  isEncrypted(direction: 'in' | 'out' | 'both' = 'both'): boolean {
    const i = this.opener !== NONE_OPENER;
    const o = this.sealer !== NONE_SEALER;
    return direction === 'in' ? i : direction === 'out' ? o : i && o;
  }

  isVerified(direction: 'in' | 'out' | 'both' = 'both'): boolean {
    return this.isEncrypted(direction);
  }

  get inKex(): boolean {
    return this.kex !== null;
  }

  get authenticated(): boolean {
    return this.authenticatedFlag;
  }

  /** Called by userauth right after USERAUTH_SUCCESS is sent/received: delayed compression starts. */
  setAuthenticated(): void {
    if (this.authenticatedFlag) return;
    this.authenticatedFlag = true;
    if (this.delayedCompression.out && !this.compressor) this.compressor = createCompressor();
    if (this.delayedCompression.in && !this.decompressor) this.decompressor = createDecompressor();
  }

  /** Server: sends EXT_INFO again (RFC 8308 §2.4 allows it right before USERAUTH_SUCCESS). */
  get serverSigAlgs(): readonly string[] {
    return this.opts.serverSigAlgs ?? this.prefs.serverSigAlgs;
  }

  /** Client: asks for a service; resolves when the server accepts it. */
  requestService(name: string, service: Service): Promise<boolean> {
    return new Promise((resolve) => {
      this.serviceRequested = (ok) => {
        if (ok) this.service = service;
        resolve(ok);
      };
      this.send(new Writer().byte(MSG.SERVICE_REQUEST).string(name).finish());
    });
  }

  /** The service running now (ssh-userauth, then ssh-connection), or null. */
  get currentService(): Service | null {
    return this.service;
  }

  /** Replaces the current service (userauth hands over to ssh-connection this way). */
  setService(service: Service): void {
    this.service = service;
  }

  get counters() {
    return {
      seqIn: this.seqIn,
      seqOut: this.seqOut,
      bytesIn: this.bytesSinceKex.in,
      bytesOut: this.bytesSinceKex.out,
      kexCount: this.kexCount,
    };
  }

  // ── Saving and restoring (Durable Object hibernation) ────────────────────────────────────────────

  /** Why the connection cannot be saved right now, or null when `save()` will succeed. */
  unsaveableReason(): string | null {
    if (this.closed) return 'the connection is closed';
    if (!this.firstKexDone || this.kex) return 'a key exchange is running';
    if (this.pumping || this.outTail || this.ahead.length) return 'a packet is being processed';
    if (this.queued.length) return 'output is queued';
    if (this.compressor || this.decompressor) return 'zlib compression state cannot be saved';
    if (this.inq.length > MAX_SAVED_INPUT) return 'a large packet is arriving';
    if (!this.sealer.save || !this.opener.save) return 'a cipher cannot be saved';
    if (this.pendingLength >= 0 && !this.opener.save()) return 'a packet is half read';
    return null;
  }

  /** The connection's live state as plain data; throws when `unsaveableReason()` is not null. */
  save(): TransportState {
    const why = this.unsaveableReason();
    if (why) throw new Error(`cannot save the connection: ${why}`);
    const out = this.sealer.save!();
    const inp = this.opener.save!()!;
    return {
      v: 1,
      role: this.role,
      localVersion: this.localVersion,
      peerVersion: this.peerVersion!,
      sessionId: this.sessionId!,
      negotiated: this.negotiated!,
      strictKex: this.strictKex,
      peerWantsExtInfo: this.peerWantsExtInfo,
      peerExtensions: [...this.peerExtensions],
      kexCount: this.kexCount,
      authenticated: this.authenticatedFlag,
      seqIn: this.seqIn,
      seqOut: this.seqOut,
      bytesSinceKex: { ...this.bytesSinceKex },
      packetsSinceKex: { ...this.packetsSinceKex },
      lastKexAt: this.lastKexAt,
      // A length already read is read again after the restore (the opener's save() said it may be).
      input: this.inq.all().slice(),
      position: { out: out.position, in: inp.position },
      keys: { out: out.keys, in: inp.keys },
      appData: structuredClone(this.appData),
    };
  }

  /** Carries on a saved connection: call on a fresh Transport instead of `start()`. */
  restoreState(state: TransportState): void {
    if (state.v !== 1 || state.role !== this.role) throw new Error('saved state is for another kind of transport');
    if (state.localVersion !== this.localVersion) throw new Error('saved state is from another server version');
    this.peerVersion = state.peerVersion;
    this.sessionId = state.sessionId;
    this.negotiated = state.negotiated;
    this.strictKex = state.strictKex;
    this.peerWantsExtInfo = state.peerWantsExtInfo;
    this.peerExtensions = new Map(state.peerExtensions);
    this.kexCount = state.kexCount;
    this.firstKexDone = true;
    this.authenticatedFlag = state.authenticated;
    this.seqIn = state.seqIn >>> 0;
    this.seqOut = state.seqOut >>> 0;
    this.bytesSinceKex = { ...state.bytesSinceKex };
    this.packetsSinceKex = { ...state.packetsSinceKex };
    this.lastKexAt = state.lastKexAt;
    this.sealer = this.protection.createSealer(reviveKeys(state.keys.out), state.position.out);
    this.opener = this.protection.createOpener(reviveKeys(state.keys.in), state.position.in);
    const n = state.negotiated;
    const [compOut, compIn] = this.role === 'server' ? [n.compressionS2C, n.compressionC2S] : [n.compressionC2S, n.compressionS2C];
    this.delayedCompression = { out: compOut === 'zlib@openssh.com', in: compIn === 'zlib@openssh.com' };
    this.appData = state.appData;
    if (state.input.length) this.receive(state.input);
  }

  // ── Output ──────────────────────────────────────────────────────────────────────────────────────

  private emit(bytes: Uint8Array | Uint8Array[]): void {
    if (this.sealFailed) return;
    try {
      if (Array.isArray(bytes)) for (const b of bytes) this.opts.onSend(b);
      else this.opts.onSend(bytes);
    } catch {
      // an adapter's failure to write is its own business; the close will come through connectionLost
    }
  }

  /** `data`, when given, follows `payload` in the frame (only without compression and tracing; see send). */
  private writePacket(payload: Uint8Array, data?: Uint8Array): void {
    if (this.closed) return;
    if (this.extInfoPending) this.sendExtInfo(); // nothing may come between our first NEWKEYS and EXT_INFO
    const seq = this.seqOut;
    this.seqOut = (seq + 1) >>> 0;
    this.opts.onPacket?.({ direction: 'out', seq, payload });
    const body = this.compressor ? this.compressor.compress(payload) : payload;
    const sealer = this.sealer;
    this.packetsSinceKex.out++;
    // A cipher that seals in place or in parts gets a frame from a slab (with room for a tag; it leaves
    // at once), one that copies everything out the reused scratch frame, others a fresh buffer.
    const frame = framePacket(body, sealer, frameBufferFor(sealer), data);
    this.bytesSinceKex.out += frame.length;
    // Sealed at once, in call order (each cipher takes its nonce or counter position synchronously), so
    // several Web Crypto calls can run side by side; the wire bytes still leave in order.
    const sealed = sealFrame(sealer, seq, frame);
    if (!(sealed instanceof Promise) && !this.outTail) {
      this.emit(sealed);
    } else {
      if (sealed instanceof Promise) sealed.catch(() => {}); // a failure is handled below, in its turn
      const prev = this.outTail ?? Promise.resolve();
      const next = prev
        .then(() => sealed)
        .then(
          (wire) => this.emit(wire),
          (err) => {
            // Our own cipher failed (say, a key size this runtime's Web Crypto lacks). Nothing more can go
            // out on this stream: end the connection with the reason instead of hanging.
            this.sealFailed = true;
            const message = `encryption failed: ${err instanceof Error ? err.message : String(err)}`;
            if (!this.closed) this.finish({ reason: DISCONNECT.BY_APPLICATION, reasonName: 'BY_APPLICATION', message, by: 'local' });
          },
        );
      this.outTail = next;
      void next.then(() => {
        if (this.outTail === next) this.outTail = null;
      });
    }
    if (!this.kex && this.firstKexDone) this.checkRekeyVolume();
  }

  private checkRekeyVolume(): void {
    const b = this.bytesSinceKex;
    const p = this.packetsSinceKex;
    if (b.in >= this.limits.bytes || b.out >= this.limits.bytes || p.in >= this.limits.packets || p.out >= this.limits.packets)
      this.startKex('local');
  }

  private finish(info: CloseInfo): void {
    this.closed = true;
    this.closeInfo = info;
    const done = () => {
      try {
        this.service?.close?.(info);
        this.opts.onClose?.(info);
      } catch {
        // a throwing close handler must not escape into the caller's receive()
      }
    };
    if (this.outTail) void this.outTail.then(done);
    else done();
  }

  // ── Input ───────────────────────────────────────────────────────────────────────────────────────

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed && (await this.step()));
    } catch (err) {
      this.fail(err);
    }
    this.pumping = false;
    // Input that arrived while the last step was resuming has not been looked at yet.
    if (!this.closed && this.inq.length !== this.stalledAt) {
      void this.pump();
      return;
    }
    if (this.lostMessage !== null) this.connectionLost(this.lostMessage);
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  /** Ends the connection for an error thrown while processing input. */
  private fail(err: unknown): void {
    if (this.closed) return;
    if (err instanceof SshError) this.disconnect(err.reason, err.message);
    else if (err instanceof WireError) this.disconnect(DISCONNECT.PROTOCOL_ERROR, `malformed message: ${err.message}`);
    else this.disconnect(DISCONNECT.PROTOCOL_ERROR, 'internal error while processing a message');
  }

  /** Processes one unit of input; false when more bytes are needed. */
  private async step(): Promise<boolean> {
    if (!this.peerVersion) {
      const found = parseVersionExchange(this.inq.all(), this.role === 'client');
      if (!found) return this.stall();
      this.inq.skip(found.consumed);
      this.peerVersion = found.line;
      this.opts.onEvent?.({ type: 'version', peer: found.line });
      return true;
    }
    const opener = this.opener;
    const seq = this.seqIn;
    let wire: Uint8Array;
    let opening: ReturnType<PacketOpener['open']>;
    const ahead = this.ahead.shift();
    if (ahead) {
      if (ahead.opener !== opener || ahead.seq !== seq) {
        // New keys took over (NEWKEYS) behind packets already being opened with the old ones: their bytes
        // go back in front of the input and are framed and opened again under the new keys.
        this.inq.unshift([ahead.wire, ...this.ahead.map((a) => a.wire)]);
        this.ahead = [];
        return true;
      }
      wire = ahead.wire;
      opening = ahead.opening;
    } else {
      if (this.pendingLength < 0) {
        if (this.inq.length < opener.headLength) return this.stall();
        const len = await opener.readLength(seq, this.inq.peek(opener.headLength));
        checkPacketLength(len, opener, this.maxPacket);
        this.pendingLength = len;
      }
      const total = 4 + this.pendingLength + opener.tagLength;
      if (this.inq.length < total) return this.stall();
      // An opener that decrypts into fresh memory gets a packet spanning chunks joined in a reused buffer.
      wire = opener.copiesOut && !this.opts.onPacket ? this.inq.takeTransient(total) : this.inq.take(total);
      this.pendingLength = -1;
      // A tracer sees the bytes as they arrived; the opener may decrypt its own copy in place.
      opening = opener.open(seq, this.opts.onPacket ? wire.slice() : wire);
      if (opening instanceof Promise && opener.lengthInClear) this.openAhead(opener, seq);
    }
    const packet = await opening;
    if (!packet) throw new SshError(DISCONNECT.MAC_ERROR, 'corrupted MAC on input');
    this.seqIn = (seq + 1) >>> 0;
    this.bytesSinceKex.in += wire.length;
    this.packetsSinceKex.in++;
    let payload = unframePacket(packet);
    if (this.decompressor) payload = this.decompressor.decompress(payload, this.maxPacket);
    if (payload.length === 0) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'empty packet');
    this.opts.onPacket?.({ direction: 'in', seq, payload, wire });
    await this.dispatch(payload, seq);
    if (!this.kex && this.firstKexDone && !this.closed) this.checkRekeyVolume();
    return true;
  }

  /**
   * With an asynchronous cipher whose lengths travel in clear (AES-GCM, encrypt-then-MAC), the complete
   * packets already buffered behind the one being opened start opening too, so several Web Crypto calls
   * run side by side instead of one round trip per packet. They are used strictly in order (step()).
   */
  private openAhead(opener: PacketOpener, after: number): void {
    let seq = after;
    let bytes = 0;
    while (this.ahead.length < OPEN_AHEAD_PACKETS && bytes < OPEN_AHEAD_BYTES && this.inq.length >= opener.headLength) {
      seq = (seq + 1) >>> 0;
      const len = opener.readLength(seq, this.inq.peek(opener.headLength)) as number;
      try {
        checkPacketLength(len, opener, this.maxPacket);
      } catch {
        return; // reported in its turn, by step()
      }
      const total = 4 + len + opener.tagLength;
      if (this.inq.length < total) return;
      const wire = this.inq.take(total);
      const opening = opener.open(seq, wire);
      if (opening instanceof Promise) opening.catch(() => {}); // awaited in its turn
      this.ahead.push({ seq, wire, opener, opening });
      bytes += total;
    }
  }

  private stall(): false {
    this.stalledAt = this.inq.length;
    return false;
  }

  private async dispatch(payload: Uint8Array, seq: number): Promise<void> {
    const type = payload[0]!;
    const kex = this.kex;

    if (type === MSG.DISCONNECT) return this.onDisconnect(payload);

    // Strict kex: during the first key exchange only kex messages are allowed (OpenSSH PROTOCOL §1.10).
    if (!this.firstKexDone && type !== MSG.KEXINIT && !kex?.peer) this.packetsBeforeKexinit++;
    if (this.strictKex && !this.firstKexDone && !isKexMessage(type))
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, `strict KEX violation: unexpected message ${type} during the initial key exchange`);

    switch (type) {
      case MSG.IGNORE:
        this.opts.onEvent?.({ type: 'ignore', data: new Reader(payload, 1).bytes() });
        return;
      case MSG.DEBUG: {
        const r = new Reader(payload, 1);
        const alwaysDisplay = r.boolean();
        const message = r.string();
        this.opts.onEvent?.({ type: 'debug', alwaysDisplay, message });
        return;
      }
      case MSG.UNIMPLEMENTED:
        this.opts.onEvent?.({ type: 'unimplemented', seq: new Reader(payload, 1).uint32() });
        return;
      case MSG.KEXINIT:
        return this.onKexinit(payload, seq);
      case MSG.NEWKEYS:
        return this.onNewkeys(payload);
    }

    if (type >= 30 && type <= 49) {
      if (!kex?.peer) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `key exchange message ${type} outside a key exchange`);
      if (kex.skipNext) {
        kex.skipNext = false; // the peer's wrong guess (RFC 4253 §7)
        return;
      }
      return this.role === 'server' ? this.onServerKexMessage(type, payload) : this.onClientKexMessage(type, payload);
    }

    // RFC 4253 §7.1: between the peer's KEXINIT and its NEWKEYS only transport messages may come.
    if (kex?.peer && !kex.gotNewkeys)
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, `message ${type} is not allowed during key exchange`);
    if (!this.firstKexDone)
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, `message ${type} before the first key exchange`);

    switch (type) {
      case MSG.SERVICE_REQUEST:
        return this.onServiceRequest(payload);
      case MSG.SERVICE_ACCEPT:
        return this.onServiceAccept(payload);
      case MSG.EXT_INFO:
        return this.onExtInfo(payload);
      case MSG_PING:
        this.send(new Writer().byte(MSG_PONG).bytes(new Reader(payload, 1).bytes()).finish());
        return;
      case MSG_PONG:
        this.opts.onEvent?.({ type: 'pong', data: new Reader(payload, 1).bytes() });
        return;
    }

    if (type >= 50 && this.service) {
      const handled = await this.service.handle(type, payload, seq);
      if (handled) return;
    } else if (type >= 50 && type <= 79) {
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, `message ${type} before a service was requested`);
    }
    this.send(new Writer().byte(MSG.UNIMPLEMENTED).uint32(seq).finish());
  }

  private onDisconnect(payload: Uint8Array): void {
    let reason = DISCONNECT.PROTOCOL_ERROR as number;
    let message = '';
    try {
      const r = new Reader(payload, 1);
      reason = r.uint32();
      message = r.string();
    } catch {
      message = '(malformed DISCONNECT)';
    }
    this.finish({ reason, reasonName: disconnectName(reason), message, by: 'peer' });
  }

  private onServiceRequest(payload: Uint8Array): void {
    if (this.role !== 'server') throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'SERVICE_REQUEST sent to a client');
    const r = new Reader(payload, 1);
    const name = r.string();
    r.done('SERVICE_REQUEST');
    if (this.service) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `service ${name} requested after a service was started`);
    const factory = Object.hasOwn(this.opts.services ?? {}, name) ? this.opts.services![name] : undefined;
    if (!factory) throw new SshError(DISCONNECT.SERVICE_NOT_AVAILABLE, `service ${JSON.stringify(name)} is not available`);
    this.send(new Writer().byte(MSG.SERVICE_ACCEPT).string(name).finish());
    this.service = factory(this);
    this.opts.onEvent?.({ type: 'service', name });
  }

  private onServiceAccept(payload: Uint8Array): void {
    const cb = this.serviceRequested;
    if (this.role !== 'client' || !cb) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'unexpected SERVICE_ACCEPT');
    this.serviceRequested = null;
    const name = new Reader(payload, 1).string();
    this.opts.onEvent?.({ type: 'service', name });
    cb(true);
  }

  private onExtInfo(payload: Uint8Array): void {
    const r = new Reader(payload, 1);
    const n = r.uint32();
    if (n > 1024) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'EXT_INFO has too many extensions');
    for (let i = 0; i < n; i++) {
      const name = r.string();
      this.peerExtensions.set(name, r.bytes().slice());
    }
    this.opts.onEvent?.({ type: 'ext-info', extensions: this.peerExtensions });
  }

  // ── Key exchange ────────────────────────────────────────────────────────────────────────────────

  private kexinitLists(): KexinitLists {
    const p = this.prefs;
    let hostKey = p.hostKey;
    const kexNames = [...p.kex];
    if (this.role === 'server') {
      const keys = this.opts.hostKeys ?? [];
      // Unless configured, certificates (sshd's HostCertificate) first; a configured list names them itself.
      const offered = this.opts.algorithms?.hostKey ?? SERVER_HOST_KEY_ALGORITHMS;
      hostKey = offered.filter((alg) => keys.some((k) => k.publicKey.signatureAlgorithms.includes(alg)));
      if (!this.firstKexDone) kexNames.push(EXT_INFO_S, STRICT_S);
    } else if (!this.firstKexDone) kexNames.push(EXT_INFO_C, STRICT_C);
    return {
      kex: kexNames,
      hostKey,
      cipherC2S: p.cipher,
      cipherS2C: p.cipher,
      macC2S: p.mac,
      macS2C: p.mac,
      compressionC2S: p.compression,
      compressionS2C: p.compression,
      languagesC2S: [],
      languagesS2C: [],
    };
  }

  private startKex(initiator: 'local' | 'peer'): void {
    const cookie = crypto.getRandomValues(new Uint8Array(16));
    const lists = this.kexinitLists();
    const ourPayload = encodeKexinit(lists, cookie);
    this.kex = {
      initiator,
      startedAt: this.now(),
      ourPayload,
      ours: { ...lists, cookie, firstKexPacketFollows: false, reserved: 0 },
      skipNext: false,
      sentNewkeys: false,
      gotNewkeys: false,
    };
    this.opts.onEvent?.({ type: 'kex-start', initiator });
    this.writePacket(ourPayload);
  }

  private onKexinit(payload: Uint8Array, seq: number): void {
    const peer = decodeKexinit(payload);
    if (!this.kex) this.startKex('peer');
    const kex = this.kex!;
    if (kex.peer) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'KEXINIT received twice in one key exchange');
    kex.peer = peer;
    kex.peerPayload = payload.slice();

    const client = this.role === 'server' ? peer : kex.ours;
    const server = this.role === 'server' ? kex.ours : peer;
    if (!this.firstKexDone) {
      const theirStrict = this.role === 'server' ? STRICT_C : STRICT_S;
      this.strictKex = peer.kex.includes(theirStrict);
      if (this.strictKex && (seq !== 0 || this.packetsBeforeKexinit > 0))
        throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'strict KEX violation: KEXINIT was not the first packet');
      this.peerWantsExtInfo = peer.kex.includes(this.role === 'server' ? EXT_INFO_C : EXT_INFO_S);
    }
    const chosen = negotiate(client, server, { isAead: (c) => cipherInfo(c)?.aead ?? false });
    kex.negotiated = chosen;
    const method = kexMethod(chosen.kex);
    if (!method) throw new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, `no implementation of ${chosen.kex}`);
    kex.method = method;
    if (peer.firstKexPacketFollows && !guessWasRight(peer, kex.ours, chosen)) kex.skipNext = true;
    if (this.role === 'client') void this.clientBeginKex();
  }

  /** The exchange hash H (RFC 4253 §8, RFC 4419 §3, RFC 5656 §4, draft-ietf-sshm-mlkem-hybrid-kex). */
  private exchangeHash(hostKeyBlob: Uint8Array, clientValue: Uint8Array, serverValue: Uint8Array, K: Uint8Array): Uint8Array {
    const kex = this.kex!;
    const localRaw = utf8Bytes(this.localVersion);
    const peerRaw = this.peerVersion!.raw;
    const [vc, vs] = this.role === 'server' ? [peerRaw, localRaw] : [localRaw, peerRaw];
    const [ic, is] = this.role === 'server' ? [kex.peerPayload!, kex.ourPayload] : [kex.ourPayload, kex.peerPayload!];
    const w = new Writer(4096).bytes(vc).bytes(vs).bytes(ic).bytes(is).bytes(hostKeyBlob);
    if (kex.gex) {
      const g = kex.gex;
      if (g.old) w.uint32(g.n);
      else w.uint32(g.min).uint32(g.n).uint32(g.max);
      w.mpint(g.p).mpint(g.g);
    }
    w.bytes(clientValue).bytes(serverValue).raw(K);
    return kex.method!.hash.digest(w.finish());
  }

  private async onServerKexMessage(type: number, payload: Uint8Array): Promise<void> {
    const kex = this.kex!;
    const method = kex.method!;
    const r = new Reader(payload, 1);
    if (method.groupExchange && !kex.gex) {
      // RFC 4419: message 30 here is the old request with only n; 34 is the full request.
      let min: number, n: number, max: number;
      const old = type === MSG.KEX_DH_GEX_REQUEST_OLD;
      if (old) {
        n = r.uint32();
        min = Math.min(n, 2048);
        max = Math.max(n, 8192);
      } else if (type === MSG.KEX_DH_GEX_REQUEST) {
        min = r.uint32();
        n = r.uint32();
        max = r.uint32();
      } else throw new SshError(DISCONNECT.PROTOCOL_ERROR, `unexpected message ${type}: expected a group exchange request`);
      r.done('KEX_DH_GEX_REQUEST');
      if (!(min <= n && n <= max) || max < 1024)
        throw new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, `invalid group exchange request (${min}, ${n}, ${max})`);
      const group = chooseGexGroup(min, n, max);
      if (!group) throw new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, `no DH group of ${min}..${max} bits`);
      kex.gex = { min, n, max, old, p: group.p, g: group.g };
      kex.method = dhGroupMethod(group, method.hash);
      this.writePacket(new Writer().byte(MSG.KEX_DH_GEX_GROUP).mpint(group.p).mpint(group.g).finish());
      return;
    }
    const expected = kex.gex ? MSG.KEX_DH_GEX_INIT : MSG.KEXDH_INIT;
    if (type !== expected) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `unexpected message ${type} during ${method.name}`);
    if (kex.next) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'key exchange init received twice');
    const clientValue = r.bytes();
    r.done('key exchange init');
    const chosen = kex.negotiated!;
    const hostKey = (this.opts.hostKeys ?? []).find((k) => k.publicKey.signatureAlgorithms.includes(chosen.hostKey))!;
    const side = await kex.method!.server(this.kexContext);
    const { publicValue, K } = await side.respond(clientValue);
    const H = this.exchangeHash(hostKey.publicKey.blob, clientValue, publicValue, K);
    this.sessionId ??= H;
    const signature = await hostKey.sign(chosen.hostKey, H);
    if (this.closed) return;
    const reply = kex.gex ? MSG.KEX_DH_GEX_REPLY : MSG.KEXDH_REPLY;
    this.writePacket(new Writer(2048).byte(reply).bytes(hostKey.publicKey.blob).bytes(publicValue).bytes(signature).finish());
    kex.next = this.deriveKeys(kex.method!, K, H);
    this.sendNewkeys();
  }

  private async clientBeginKex(): Promise<void> {
    try {
      const kex = this.kex!;
      const method = kex.method!;
      if (method.groupExchange) {
        const n = 3072;
        kex.gex = { min: 2048, n, max: 8192, old: false, p: 0n, g: 0n };
        this.writePacket(new Writer().byte(MSG.KEX_DH_GEX_REQUEST).uint32(2048).uint32(n).uint32(8192).finish());
        return;
      }
      kex.clientSide = await method.client(this.kexContext);
      this.writePacket(new Writer(2048).byte(MSG.KEXDH_INIT).bytes(kex.clientSide.publicValue).finish());
    } catch (err) {
      this.fail(err);
    }
  }

  private async onClientKexMessage(type: number, payload: Uint8Array): Promise<void> {
    const kex = this.kex!;
    const r = new Reader(payload, 1);
    if (kex.gex && kex.gex.p === 0n) {
      if (type !== MSG.KEX_DH_GEX_GROUP) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `unexpected message ${type}: expected KEX_DH_GEX_GROUP`);
      const p = r.mpint();
      const g = r.mpint();
      r.done('KEX_DH_GEX_GROUP');
      const bits = p.toString(2).length;
      if (bits < kex.gex.min || bits > kex.gex.max)
        throw new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, `server sent a ${bits}-bit DH group outside ${kex.gex.min}..${kex.gex.max}`);
      kex.gex.p = p;
      kex.gex.g = g;
      const method = dhGroupMethod({ p, g, bits }, kex.method!.hash);
      kex.method = method;
      kex.clientSide = await method.client(this.kexContext);
      this.writePacket(new Writer(2048).byte(MSG.KEX_DH_GEX_INIT).bytes(kex.clientSide.publicValue).finish());
      return;
    }
    const expected = kex.gex ? MSG.KEX_DH_GEX_REPLY : MSG.KEXDH_REPLY;
    if (type !== expected || !kex.clientSide || kex.next)
      throw new SshError(DISCONNECT.PROTOCOL_ERROR, `unexpected message ${type} during ${kex.method!.name}`);
    const hostKeyBlob = r.bytes();
    const serverValue = r.bytes();
    const signature = r.bytes();
    r.done('key exchange reply');
    const K = await kex.clientSide.finish(serverValue);
    const H = this.exchangeHash(hostKeyBlob, kex.clientSide.publicValue, serverValue, K);
    const alg = kex.negotiated!.hostKey;
    let key: PublicKey;
    try {
      // A plain key, or (when we offered a …-cert-v01@openssh.com algorithm) a host certificate.
      key = parseUserKey(hostKeyBlob);
    } catch (e) {
      throw new SshError(DISCONNECT.HOST_KEY_NOT_VERIFIABLE, `server host key is not usable: ${(e as Error).message}`);
    }
    if (!key.signatureAlgorithms.includes(alg) || !(await key.verify(signature, H, [alg])))
      throw new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, 'server host key signature does not verify');
    // A certificate reaches verifyHostKey only as a host certificate its authority really signed, with an
    // algorithm accepted here (not ssh-rsa's SHA-1: OpenSSH's CASignatureAlgorithms); whether that authority
    // is trusted for this host is the application's (hostCertificateRefusal).
    const cert = certificateOf(key);
    if (cert && (cert.kind !== 'host' || !(await verifyCertificate(cert, this.serverSigAlgs))))
      throw new SshError(DISCONNECT.HOST_KEY_NOT_VERIFIABLE, cert.kind !== 'host' ? 'server sent a user certificate as its host key' : "server host certificate's signature does not verify");
    if (this.opts.verifyHostKey && !(await this.opts.verifyHostKey(key, alg)))
      throw new SshError(DISCONNECT.HOST_KEY_NOT_VERIFIABLE, 'host key verification failed');
    if (this.closed) return;
    this.sessionId ??= H;
    kex.next = this.deriveKeys(kex.method!, K, H);
    this.sendNewkeys();
  }

  /** RFC 4253 §7.2: IVs, keys and MAC keys for both directions from K, H and the session id. */
  private deriveKeys(method: KexMethod, K: Uint8Array, H: Uint8Array): PendingKeys {
    const chosen = this.kex!.negotiated!;
    const sid = this.sessionId!;
    const dir = (cipherName: string, macName: string | null, letters: string): DirectionKeys => {
      const cipher = cipherInfo(cipherName)!;
      const mac = cipher.aead || macName === null ? null : macInfo(macName)!;
      return {
        cipher,
        mac,
        iv: deriveKey(method.hash, K, H, letters[0]!, sid, cipher.ivLength),
        encKey: deriveKey(method.hash, K, H, letters[1]!, sid, cipher.keyLength),
        macKey: mac ? deriveKey(method.hash, K, H, letters[2]!, sid, mac.keyLength) : new Uint8Array(0),
      };
    };
    const c2s = dir(chosen.cipherC2S, chosen.macC2S, 'ACE');
    const s2c = dir(chosen.cipherS2C, chosen.macS2C, 'BDF');
    const [outKeys, inKeys] = this.role === 'server' ? [s2c, c2s] : [c2s, s2c];
    const [compOut, compIn] =
      this.role === 'server' ? [chosen.compressionS2C, chosen.compressionC2S] : [chosen.compressionC2S, chosen.compressionS2C];
    return {
      sealer: this.protection.createSealer(outKeys),
      opener: this.protection.createOpener(inKeys),
      compressOut: compOut === 'zlib@openssh.com',
      compressIn: compIn === 'zlib@openssh.com',
    };
  }

  private sendNewkeys(): void {
    const kex = this.kex!;
    const next = kex.next!;
    this.writePacket(new Uint8Array([MSG.NEWKEYS]));
    kex.sentNewkeys = true;
    this.sealer = next.sealer;
    if (this.strictKex) this.seqOut = 0;
    this.delayedCompression.out = next.compressOut;
    // zlib@openssh.com: a fresh stream after each NEWKEYS, once the user is authenticated.
    this.compressor = next.compressOut && this.authenticatedFlag ? createCompressor() : null;
    // EXT_INFO is the next packet after our first NEWKEYS (RFC 8308 §2.4), but it leaves when the client's
    // NEWKEYS arrives (or as soon as anything else goes out). A client with Nagle's algorithm on (OpenSSH
    // until it is interactive) writes NEWKEYS then SERVICE_REQUEST, and the second waits for the ACK of the
    // first: sent at once, EXT_INFO left with our NEWKEYS, nothing answered the client's NEWKEYS, its ACK
    // was delayed (~40 ms) and every login stalled that long (sshd's do too).
    if (this.role === 'server' && !this.firstKexDone && this.peerWantsExtInfo) {
      if (kex.gotNewkeys) this.sendExtInfo();
      else this.extInfoPending = true;
    }
    const firstDone = this.firstKexDone;
    this.flushQueued(firstDone);
    this.maybeKexDone();
  }

  private sendExtInfo(): void {
    this.extInfoPending = false;
    const w = new Writer().byte(MSG.EXT_INFO).uint32(2);
    w.string('server-sig-algs').string(this.serverSigAlgs.join(','));
    w.string('ping@openssh.com').string('0');
    this.writePacket(w.finish());
  }

  private flushQueued(_afterFirst: boolean): void {
    if (!this.firstKexDone && !this.kex?.sentNewkeys) return;
    const q = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    for (const p of q) this.writePacket(p);
  }

  private onNewkeys(payload: Uint8Array): void {
    const kex = this.kex;
    if (payload.length !== 1) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'NEWKEYS has trailing bytes');
    if (!kex?.next || kex.gotNewkeys) throw new SshError(DISCONNECT.PROTOCOL_ERROR, 'unexpected NEWKEYS');
    kex.gotNewkeys = true;
    if (this.extInfoPending) this.sendExtInfo();
    this.opener = kex.next.opener;
    if (this.strictKex) this.seqIn = 0;
    this.delayedCompression.in = kex.next.compressIn;
    this.decompressor = kex.next.compressIn && this.authenticatedFlag ? createDecompressor() : null;
    this.maybeKexDone();
  }

  private maybeKexDone(): void {
    const kex = this.kex!;
    if (!kex.sentNewkeys || !kex.gotNewkeys) return;
    this.kex = null;
    this.negotiated = kex.negotiated!;
    this.kexCount++;
    this.firstKexDone = true;
    this.lastKexAt = this.now();
    this.bytesSinceKex = { in: 0, out: 0 };
    this.packetsSinceKex = { in: 0, out: 0 };
    this.flushQueued(true);
    this.opts.onEvent?.({ type: 'kex-done', negotiated: this.negotiated, count: this.kexCount, strict: this.strictKex });
  }
}

/** Keys from saved data: the algorithm descriptions are looked up again by name, never trusted as saved. */
function reviveKeys(k: DirectionKeys): DirectionKeys {
  const cipher = cipherInfo(k.cipher.name);
  if (!cipher) throw new Error(`saved state names an unknown cipher ${JSON.stringify(k.cipher.name)}`);
  const mac = cipher.aead || !k.mac ? null : (macInfo(k.mac.name) ?? null);
  if (!cipher.aead && !mac) throw new Error('saved state lacks a MAC');
  const bytes = (b: Uint8Array, n: number, what: string) => {
    if (!(b instanceof Uint8Array) || b.length !== n) throw new Error(`saved state has a bad ${what}`);
    return b;
  };
  return {
    cipher,
    mac,
    iv: bytes(k.iv, cipher.ivLength, 'IV'),
    encKey: bytes(k.encKey, cipher.keyLength, 'key'),
    macKey: bytes(k.macKey, mac ? mac.keyLength : 0, 'MAC key'),
  };
}

/** RFC 4253 §7.1: what may be sent between our KEXINIT and our NEWKEYS. */
function allowedDuringKex(type: number): boolean {
  return (type >= 1 && type <= 4) || (type >= 20 && type <= 49 && type !== MSG.KEXINIT);
}

function isKexMessage(type: number): boolean {
  return type === MSG.KEXINIT || type === MSG.NEWKEYS || (type >= 30 && type <= 49);
}

export { KEX_PSEUDO };
