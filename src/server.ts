/**
 * The public server API: `createServer(options).accept(sink)` gives one SSH connection on the sans-I/O
 * core; adapters (Node TCP, WebSocket, loopback, Durable Object) only move bytes.
 */
import type { PrivateKey } from './crypto/types.ts';
import type { AlgorithmPrefs } from './crypto/registry.ts';
import type { CloseInfo, PacketTrace, RekeyLimits, Transport, TransportEvent } from './transport/transport.ts';
import { UserauthServer, type Authenticate } from './auth/server.ts';
import { ConnectionServer, type ForwardRequest } from './connection/connection.ts';
import type { Session } from './connection/session.ts';
import { connectTransport, type ByteSink } from './io/connection.ts';

export interface ServerOptions {
  hostKeys: readonly PrivateKey[];
  /** Decides every authentication attempt (see AuthRequest). Without it, nobody logs in. */
  authenticate?: Authenticate;
  /** Runs each session (shell, exec or subsystem); resolves to the exit status. */
  onSession(session: Session): Promise<number | void> | number | void;
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
  maxSessions?: number;
  subsystems?: string[];
  allowForward?(request: ForwardRequest): boolean;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  idleTimeoutMs?: number;
  /** One line per notable event, in OpenSSH's words; never secrets. */
  log?: (line: string) => void;
}

export interface AcceptInfo {
  peerAddress?: string;
  onClose?: (info: CloseInfo) => void;
  onEvent?: (event: TransportEvent) => void;
  /** Every message in and out, for a packet inspector. */
  onPacket?: (trace: PacketTrace) => void;
}

export interface SshServer {
  readonly options: ServerOptions;
  /** Starts a connection whose output goes to `sink`; feed its input to `transport.receive()`. */
  accept(sink: ByteSink, info?: AcceptInfo): Transport;
}

export function createServer(options: ServerOptions): SshServer {
  if (!options.hostKeys.length) throw new Error('createServer: at least one host key is needed');
  const log = options.log ?? (() => {});
  return {
    options,
    accept(sink, info = {}) {
      const who = info.peerAddress ?? 'unknown';
      const authenticate: Authenticate = async (req, ctx) => {
        const result = options.authenticate ? await options.authenticate(req, ctx) : false;
        const signedOrFinal = req.method !== 'publickey' || req.signed;
        if (req.method !== 'none' && signedOrFinal) {
          const what = req.method === 'publickey' ? `publickey ${req.key.type}` : req.method;
          log(`${result === true ? 'Accepted' : result ? 'Partial' : 'Failed'} ${what} for ${req.username} from ${who}`);
        }
        return result;
      };
      const transport = connectTransport(
        {
          role: 'server',
          hostKeys: options.hostKeys,
          algorithms: options.algorithms,
          kexTimeoutMs: options.kexTimeoutMs,
          maxPacketSize: options.maxPacketSize,
          rekey: options.rekey,
          peerAddress: info.peerAddress,
          onEvent: info.onEvent,
          onPacket: info.onPacket,
          onClose: (c) => {
            log(`Connection from ${who} closed: ${c.message || c.reasonName} (${c.by})`);
            info.onClose?.(c);
          },
          services: {
            'ssh-userauth': (t) =>
              new UserauthServer(t, {
                authenticate,
                methods: options.authMethods,
                banner: options.banner,
                maxAuthTries: options.maxAuthTries,
                failureDelayMs: options.failureDelayMs,
                loginGraceTimeMs: options.loginGraceTimeMs,
                onAuthenticated: (username, tt) =>
                  new ConnectionServer(tt, {
                    username,
                    onSession: options.onSession,
                    subsystems: options.subsystems,
                    allowForward: options.allowForward,
                    maxSessions: options.maxSessions,
                    keepaliveIntervalMs: options.keepaliveIntervalMs,
                    keepaliveCountMax: options.keepaliveCountMax,
                    idleTimeoutMs: options.idleTimeoutMs,
                    onError: (err) => log(`session of ${username} from ${who} failed: ${err instanceof Error ? err.message : String(err)}`),
                  }),
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
