/**
 * The public server API: `createServer(options).accept(sink)` gives one SSH connection on the sans-I/O
 * core; adapters (Node TCP, WebSocket, loopback, Durable Object) only move bytes.
 */
import { certificateOf } from './auth/certificate.ts';
import type { PacketProtection, PrivateKey, X25519Factory } from './crypto/types.ts';
import type { AlgorithmPrefs } from './crypto/registry.ts';
import type { CloseInfo, PacketTrace, RekeyLimits, Transport, TransportEvent, TransportState } from './transport/transport.ts';
import { UserauthServer, type Authenticate } from './auth/server.ts';
import { ConnectionServer, DEFAULT_CHANNEL_MAX_PACKET, type ConnectionState, type ForwardListener, type ForwardRequest, type ForwardStream, type IncomingConnection, type ListenRequest } from './connection/connection.ts';
import type { Session } from './connection/session.ts';
import { connectTransport, type ByteSink } from './io/connection.ts';
import { DEFAULT_MAX_PACKET } from './transport/transport.ts';
import type { TimerFn } from './timers.ts';

export interface ServerOptions {
  /** Host keys; with certificates (sshd's HostCertificate), add the keys certifiedHostKeys makes of them. */
  hostKeys: readonly PrivateKey[];
  /** Decides every authentication attempt (see AuthRequest). Without it, nobody logs in. */
  authenticate?: Authenticate;
  /** Runs each session (shell, exec or subsystem); resolves to the exit status. */
  onSession(session: Session): Promise<number | void> | number | void;
  /**
   * Carries on a session restored after hibernation, from the state its application last gave
   * `session.setResumeState()`. Without it a restored session that was running ends with exit-signal HUP.
   */
  onResume?(session: Session, state: unknown): Promise<number | void> | number | void;
  /** Methods offered (default publickey, password, keyboard-interactive). */
  authMethods?: string[];
  banner?: string;
  algorithms?: Partial<AlgorithmPrefs>;
  maxAuthTries?: number;
  /** Minimum delay of a failed attempt in ms (default 5; tests set 0). */
  failureDelayMs?: number;
  loginGraceTimeMs?: number;
  kexTimeoutMs?: number;
  maxPacketSize?: number;
  rekey?: Partial<RekeyLimits>;
  /**
   * Who seals and opens packets: the portable Web Crypto + JavaScript one by default; in Node,
   * `nodeProtection` (src/io/node-crypto.ts) does the same with OpenSSL, several times faster.
   */
  protection?: PacketProtection;
  /** Who makes X25519 key pairs for the key exchange (default Web Crypto; in Node, `nodeX25519` is faster). */
  x25519?: X25519Factory;
  maxSessions?: number;
  /** Each channel's receive window (default 2 MiB, as OpenSSH's); a larger one keeps high-latency paths full. */
  channelWindow?: number;
  /** The largest data packet a client may send on a channel (default 128 KiB; see ConnectionOptions.maxPacket). */
  channelMaxPacket?: number;
  subsystems?: readonly string[];
  /** A pty-req is refused (the client says `PTY allocation request failed`) when this returns false; default: allowed. */
  allowPty?(transport: Transport): boolean;
  /**
   * Local port forwarding (direct-tcpip: `ssh -L`, `-W`, `-J`) is refused unless this returns true for the
   * request and `connectForward` opens the connection.
   */
  allowForward?(request: ForwardRequest, transport: Transport): boolean;
  /** Opens an allowed forward's TCP connection (`connectTcpForward` in Node, `connect()` in Workers). */
  connectForward?(request: ForwardRequest, transport: Transport): Promise<ForwardStream>;
  /** Forwarded channels open (or being connected or offered) at once per connection (default 32). */
  maxForwards?: number;
  /**
   * Remote forwarding (tcpip-forward: `ssh -R`) is refused unless this returns true for the request and
   * `listenForward` listens (`listenTcpForward` in Node; the Workers runtime cannot listen).
   */
  allowListen?(request: ListenRequest, transport: Transport): boolean;
  listenForward?(request: ListenRequest, onConnection: (c: IncomingConnection) => void, transport: Transport): Promise<ForwardListener>;
  /** Remote-forward listeners at once per connection (default 8). */
  maxListeners?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  idleTimeoutMs?: number;
  /**
   * Like sshd's MaxStartups (default 10:30:100): past `start` connections that have not logged in yet, a
   * new one is dropped before a byte is sent with probability `rate`%, rising linearly to 100% at `full`.
   * `false` turns it off (the Worker does: each connection is its own object there).
   */
  maxStartups?: MaxStartups | false;
  /** One line per notable event, in OpenSSH's words; never secrets. */
  log?: (line: string) => void;
  /** Arms the server's timers (default setTimeout; the Durable Object passes alarms). */
  setTimer?: TimerFn;
}

export interface MaxStartups {
  start: number;
  rate: number;
  full: number;
}

export const DEFAULT_MAX_STARTUPS: MaxStartups = { start: 10, rate: 30, full: 100 };

/** sshd's "start:rate:full" (or one number, start = full). Throws on anything else. */
export function parseMaxStartups(text: string): MaxStartups {
  const m = /^(\d+)(?::(\d+):(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`bad MaxStartups ${JSON.stringify(text)} (expected start:rate:full, like 10:30:100)`);
  const start = Number(m[1]);
  const rate = m[2] === undefined ? 100 : Number(m[2]);
  const full = m[3] === undefined ? start : Number(m[3]);
  if (start < 1 || rate > 100 || full < start) throw new Error(`bad MaxStartups ${text}: needs 1 ≤ start ≤ full and rate ≤ 100`);
  return { start, rate, full };
}

/** A whole connection as plain data: what a hibernating Durable Object keeps (see worker/session.ts). */
export interface ServerConnectionState {
  transport: TransportState;
  connection: ConnectionState;
}

export interface AcceptInfo {
  peerAddress?: string;
  onClose?: (info: CloseInfo) => void;
  onEvent?: (event: TransportEvent) => void;
  /** Every message in and out, for a packet inspector. */
  onPacket?: (trace: PacketTrace) => void;
  /** This connection's timers, instead of ServerOptions.setTimer (a Durable Object passes its alarm). */
  setTimer?: TimerFn;
}

export interface SshServer {
  readonly options: ServerOptions;
  /** Starts a connection whose output goes to `sink`; feed its input to `transport.receive()`. */
  accept(sink: ByteSink, info?: AcceptInfo): Transport;
  /** The connection's live state, or why it cannot be saved right now (try again after more I/O). */
  save(transport: Transport): { state: ServerConnectionState } | { reason: string };
  /** Carries on a saved connection; its output goes to `sink`. Throws when the state does not fit. */
  resume(sink: ByteSink, state: ServerConnectionState, info?: AcceptInfo): Transport;
}

export function createServer(options: ServerOptions): SshServer {
  if (!options.hostKeys.length) throw new Error('createServer: at least one host key is needed');
  const log = options.log ?? (() => {});
  const startupLimit = options.maxStartups === false ? null : (options.maxStartups ?? DEFAULT_MAX_STARTUPS);
  /** Connections that have not logged in yet (MaxStartups counts these). */
  let startups = 0;
  /** sshd's drop(): whether a new connection is turned away at this many startups. */
  const drop = (): boolean => {
    if (!startupLimit) return false;
    const { start, rate, full } = startupLimit;
    if (startups >= full) return true;
    if (startups < start) return false;
    const p = rate + ((100 - rate) * (startups - start)) / (full - start);
    return Math.random() * 100 < p;
  };
  const plainHostKeys = options.hostKeys.filter((k) => !certificateOf(k.publicKey));
  const connectionFor = (username: string, t: Transport, who: string, setTimer: TimerFn | undefined, saved?: ConnectionState) =>
    new ConnectionServer(
      t,
      {
        username,
        onSession: options.onSession,
        onResume: options.onResume,
        subsystems: options.subsystems,
        allowPty: options.allowPty,
        allowForward: options.allowForward,
        connectForward: options.connectForward,
        maxForwards: options.maxForwards,
        allowListen: options.allowListen,
        listenForward: options.listenForward,
        maxListeners: options.maxListeners,
        maxSessions: options.maxSessions,
        windowSize: options.channelWindow,
        // A data packet must fit in a transport packet (its header, padding and MAC take < 1 KiB).
        maxPacket: Math.min(options.channelMaxPacket ?? DEFAULT_CHANNEL_MAX_PACKET, (options.maxPacketSize ?? DEFAULT_MAX_PACKET) - 1024),
        keepaliveIntervalMs: options.keepaliveIntervalMs,
        keepaliveCountMax: options.keepaliveCountMax,
        idleTimeoutMs: options.idleTimeoutMs,
        setTimer,
        onError: (err) => log(`session of ${username} from ${who} failed: ${err instanceof Error ? err.message : String(err)}`),
        // Announced and proven as sshd does it: plain keys only, not their certificates.
        hostKeys: plainHostKeys,
      },
      saved,
    );
  const transportOptions = (info: AcceptInfo, who: string) => ({
    role: 'server' as const,
    hostKeys: options.hostKeys,
    algorithms: options.algorithms,
    kexTimeoutMs: options.kexTimeoutMs,
    maxPacketSize: options.maxPacketSize,
    rekey: options.rekey,
    protection: options.protection,
    x25519: options.x25519,
    peerAddress: info.peerAddress,
    onEvent: info.onEvent,
    onPacket: info.onPacket,
    setTimer: info.setTimer ?? options.setTimer,
    onClose: (c: CloseInfo) => {
      log(`Connection from ${who} closed: ${c.message || c.reasonName} (${c.by})`);
      info.onClose?.(c);
    },
  });
  return {
    options,
    save(transport) {
      const conn = transport.currentService;
      if (!(conn instanceof ConnectionServer)) return { reason: 'the user has not logged in yet' };
      const why = transport.unsaveableReason() ?? conn.unsaveableReason();
      if (why) return { reason: why };
      return { state: { transport: transport.save(), connection: conn.save() } };
    },
    resume(sink, state, info = {}) {
      const who = info.peerAddress ?? 'unknown';
      const transport = connectTransport({ ...transportOptions(info, who), restore: state.transport }, sink);
      transport.setService(connectionFor(state.connection.username, transport, who, info.setTimer ?? options.setTimer, state.connection));
      return transport;
    },
    accept(sink, info = {}) {
      const who = info.peerAddress ?? 'unknown';
      if (drop()) {
        // As sshd: closed before the version line, so the client says "Connection closed by remote host".
        log(`drop connection from ${who} past MaxStartups (${startups} not logged in yet)`);
        const t = connectTransport({ role: 'server', hostKeys: options.hostKeys, onClose: info.onClose }, sink);
        t.connectionLost('dropped past MaxStartups');
        return t;
      }
      startups++;
      let starting = true;
      const started = () => {
        if (starting) (starting = false), startups--;
      };
      const userClose = info.onClose;
      info = {
        ...info,
        onClose: (c) => {
          started();
          userClose?.(c);
        },
      };
      const authenticate: Authenticate = async (req, ctx) => {
        const result = options.authenticate ? await options.authenticate(req, ctx) : false;
        const signedOrFinal = req.method !== 'publickey' || req.signed;
        if (req.method !== 'none' && signedOrFinal) {
          // The signature algorithm tells more than the key type: rsa-sha2-512 (not ssh-rsa), …-cert-v01@openssh.com.
          const what = req.method === 'publickey' ? `publickey ${req.algorithm}` : req.method;
          log(`${result === true ? 'Accepted' : result ? 'Partial' : 'Failed'} ${what} for ${req.username} from ${who}`);
        }
        return result;
      };
      const transport = connectTransport(
        {
          ...transportOptions(info, who),
          services: {
            'ssh-userauth': (t) =>
              new UserauthServer(t, {
                authenticate,
                methods: options.authMethods,
                banner: options.banner,
                maxAuthTries: options.maxAuthTries,
                failureDelayMs: options.failureDelayMs,
                loginGraceTimeMs: options.loginGraceTimeMs,
                setTimer: info.setTimer ?? options.setTimer,
                onAuthenticated: (username, tt) => (started(), connectionFor(username, tt, who, info.setTimer ?? options.setTimer)),
              }),
          },
        },
        sink,
      );
      transport.start();
      return transport;
    },
  };
}
