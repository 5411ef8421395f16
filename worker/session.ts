/**
 * One SSH connection per Durable Object: the WebSocket's binary messages are the SSH byte stream; the
 * edgessh server runs the demo shell, with each user's files in a UserFiles object.
 *
 * The object uses the WebSocket Hibernation API: after each burst of traffic it saves the connection
 * (src/io/durable-object.ts says what goes where), so the runtime may evict it while the socket stays
 * open; the next message or alarm wakes a fresh instance, which restores the connection and carries on.
 * While the connection cannot be saved (logging in, a key exchange, a command still running) a short
 * timer keeps the object in memory and retries, so nothing is lost either way.
 */
import { DurableObject } from 'cloudflare:workers';
import { connect } from 'cloudflare:sockets';
import { createServer, type SshServer } from '../src/server.ts';
import { workerProtection } from './native-crypto.ts';
import { keysFromUrl } from './keys-url.ts';
import { parsePrivateKey } from '../src/crypto/keys/index.ts';
import type { PrivateKey } from '../src/crypto/types.ts';
import { DEMO_SUBSYSTEMS, makeDemoPolicy, parsePermitOpen, runDemoSession } from '../src/apps/demo.ts';
import { revokedKeysFromText } from '../src/auth/revoked-keys.ts';
import { certifiedHostKeys, describeHostKey } from '../src/auth/certificate.ts';
import type { ForwardRequest, ForwardStream } from '../src/connection/connection.ts';
import { webSocketSink, WS_CLOSE, type WebSocketLike } from '../src/io/websocket.ts';
import {
  AlarmTimers,
  BODY_KEY,
  SECRETS_KEY,
  newSecrets,
  openState,
  sealState,
  unsavedAttachment,
  type SessionSecrets,
} from '../src/io/durable-object.ts';
import type { Transport } from '../src/transport/transport.ts';
import { DurableObjectFileStorage } from './files.ts';
import type { Env } from './env.ts';

/** Splits HOST_KEY into PEM blocks; accepts real newlines or literal "\n" (as some secret stores keep them). */
export function pemBlocks(text: string): string[] {
  const t = text.includes('\\n') && !text.includes('\n') ? text.replace(/\\n/g, '\n') : text;
  return t.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?-----END [A-Z0-9 ]+-----/g) ?? [];
}

export async function loadHostKeys(env: Env): Promise<PrivateKey[]> {
  if (!env.HOST_KEY?.trim()) throw new Error('HOST_KEY is not set: configure it with `wrangler secret put HOST_KEY` (an OpenSSH private key)');
  const blocks = pemBlocks(env.HOST_KEY);
  if (!blocks.length) throw new Error('HOST_KEY holds no PEM private key');
  const keys: PrivateKey[] = [];
  for (const b of blocks) keys.push(...(await parsePrivateKey(b)));
  // HOST_CERTIFICATE: their certificates (sshd's HostCertificate), one public key line each.
  return [...keys, ...certifiedHostKeys(keys, env.HOST_CERTIFICATE ?? '')];
}

/**
 * A per-user setting (USER_AUTHORIZED_KEYS, AUTHORIZED_PRINCIPALS as a table) as user name → text: a
 * wrangler.toml table arrives as an object, a secret as JSON text. Anything else refuses the session.
 */
export function perUserTexts(name: string, v: string | Record<string, string> | undefined): Record<string, string> {
  if (v === undefined || v === '') return {};
  let map: unknown = v;
  if (typeof v === 'string') {
    try {
      map = JSON.parse(v);
    } catch {
      throw new Error(`${name} is not JSON (an object from user name to text)`);
    }
  }
  if (!map || typeof map !== 'object' || Array.isArray(map) || Object.values(map).some((t) => typeof t !== 'string'))
    throw new Error(`${name} must map each user name to text`);
  return map as Record<string, string>;
}

/** A user's own text from a per-user map (an own property only: `__proto__` is a user name like any other). */
const textOf = (map: Record<string, string>) => (user: string) => (Object.hasOwn(map, user) ? map[user]! : null);

/**
 * AUTHORIZED_PRINCIPALS: one text for every user, or (a table, or JSON text starting with `{`) each user's
 * own, as sshd's AuthorizedPrincipalsFile with %u.
 */
function authorizedPrincipals(v: Env['AUTHORIZED_PRINCIPALS']): string | ((user: string) => string | null) | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string' && !v.trimStart().startsWith('{')) return v;
  return textOf(perUserTexts('AUTHORIZED_PRINCIPALS', v));
}

/** A direct-tcpip channel's connection, through the Workers TCP sockets API (a Socket is a ForwardStream). */
async function connectOutbound(req: ForwardRequest): Promise<ForwardStream> {
  const socket = connect({ hostname: req.host, port: req.port }, { allowHalfOpen: true });
  // A failure's message is what the client shows after "connect failed:" (workerd: "proxy request failed,
  // cannot connect to the specified address").
  await socket.opened;
  return socket;
}

let cachedServer: { key: string; server: Promise<SshServer> } | null = null;

/** One SshServer per isolate and configuration (parsing keys costs more than a handshake). */
function serverFor(env: Env): Promise<SshServer> {
  const cacheKey = `${env.HOST_KEY}\u0000${env.HOST_CERTIFICATE}\u0000${env.AUTHORIZED_KEYS}\u0000${JSON.stringify(env.USER_AUTHORIZED_KEYS)}\u0000${env.AUTHORIZED_KEYS_URL}\u0000${env.TRUSTED_USER_CA_KEYS}\u0000${JSON.stringify(env.AUTHORIZED_PRINCIPALS)}\u0000${env.REVOKED_KEYS}\u0000${env.ALLOW_USERS}\u0000${env.DENY_USERS}\u0000${env.PASSWORD}\u0000${env.BANNER}\u0000${env.PERMIT_OPEN}`;
  if (cachedServer?.key === cacheKey) return cachedServer.server;
  const server = (async () => {
    const hostKeys = await loadHostKeys(env);
    const log = (line: string) => console.log(`edgessh: ${line}`);
    const permitOpen = parsePermitOpen(env.PERMIT_OPEN ?? '');
    const userAuthorizedKeys = textOf(perUserTexts('USER_AUTHORIZED_KEYS', env.USER_AUTHORIZED_KEYS));
    const authorizedKeysCommand = env.AUTHORIZED_KEYS_URL ? keysFromUrl(env.AUTHORIZED_KEYS_URL, log) : undefined;
    const policy = makeDemoPolicy({ authorizedKeys: env.AUTHORIZED_KEYS ?? '', userAuthorizedKeys, authorizedKeysCommand, trustedUserCaKeys: env.TRUSTED_USER_CA_KEYS, authorizedPrincipals: authorizedPrincipals(env.AUTHORIZED_PRINCIPALS), allowUsers: env.ALLOW_USERS, denyUsers: env.DENY_USERS, revokedKeys: revokedKeysFromText(env.REVOKED_KEYS ?? ''), password: env.PASSWORD || undefined, permitOpen, log });
    const storage = new DurableObjectFileStorage(env.FILES);
    const startedAt = Date.now();
    for (const k of hostKeys) log(describeHostKey(k.publicKey));
    return createServer({
      hostKeys,
      protection: workerProtection,
      banner: env.BANNER || undefined,
      authenticate: policy.authenticate,
      authMethods: policy.methods,
      subsystems: DEMO_SUBSYSTEMS,
      allowPty: policy.allowPty,
      allowForward: policy.allowForward,
      connectForward: connectOutbound,
      onSession: (session) => runDemoSession(session, { storage, startedAt, policy }),
      onResume: (session, state) => runDemoSession(session, { storage, startedAt, policy }, state),
      // Measured through wrangler dev (bench section 6, 64 MiB uploads, medians of 3; chacha / aes-gcm):
      // 1 MiB window 49 / 63 and 43 / 50 MiB/s, 512 KiB 37 / 46, OpenSSH's 2 MiB 42 / 43, 8 MiB 12 / 10;
      // again with adjusts every three packets: 1 MiB 50–55 / 60–67, 4 MiB 14 (chacha). What slows the
      // larger windows is OpenSSH's client, not the Worker: with 8 MiB, `ssh` itself spent 14 s user + 8 s
      // sys CPU on a 64 MiB upload (2.6 MiB/s; strace shows a 4–12 MB buffer reallocated, copied and
      // freed for every 32 KiB packet), against 0.24–0.35 s at 1 MiB (41–51 MiB/s), 2026-11-30. Again with
      // 128 KiB channel packets, three runs each, chacha / aes-gcm MiB/s (ssh's CPU): 512 KiB 37–50 / 49–60
      // (0.16–0.22 s), 1 MiB 47–60 / 59–64 (0.18–0.22 s), 2 MiB 31–38 / 36–46 (0.44–0.67 s).
      channelWindow: 1024 * 1024,
      // Each connection is its own object here, and an object can be evicted without its close ever
      // running: a count of connections not yet logged in could only drift. Floods meet Cloudflare's edge
      // first, and every connection still has its login grace time.
      maxStartups: false,
      log,
    });
  })();
  server.catch(() => (cachedServer = null));
  cachedServer = { key: cacheKey, server };
  return server;
}

interface Live {
  server: SshServer;
  transport: Transport;
  ws: WebSocket;
  peer: string;
  secrets: SessionSecrets;
}

/** How long the object waits before trying again to save a connection that could not be saved. */
const RETRY_MAX_MS = 1000;
/**
 * How long a connection must have been quiet before it is saved. The object cannot hibernate while the
 * timer is pending (and waits ~10 s of idleness first anyway), so nothing is lost by waiting; a short
 * connection (`ssh host true`) then ends before it touches storage, and a typist's keystrokes are saved
 * once per pause rather than once each.
 */
const SAVE_QUIET_MS = 1000;

export class SshSession extends DurableObject<Env> {
  private live: Live | null = null;
  private waking: Promise<Live | null> | null = null;
  private inbox: Promise<void> = Promise.resolve();
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private retryMs = 0;
  /** When traffic last came or went (Date.now(), which workerd moves on at each event). */
  private lastTraffic = 0;
  /**
   * True once the connection is in storage (saved, or restored from a save). Only then can it outlive this
   * instance, so only then do its timers need the storage alarm; before, one in-memory timer stands in, and a
   * connection that never logs in costs no storage operation at all (each one is CPU: ~1–3 ms in wrangler dev).
   */
  private persisted = false;
  private memoryAlarm: ReturnType<typeof setTimeout> | null = null;
  private readonly timers = new AlarmTimers({
    set: (at) => {
      if (this.persisted) return void this.ctx.storage.setAlarm(at);
      this.clearMemoryAlarm();
      this.memoryAlarm = setTimeout(() => {
        this.memoryAlarm = null;
        void this.alarm();
      }, Math.max(0, at - Date.now()));
    },
    clear: () => (this.persisted ? void this.ctx.storage.deleteAlarm() : this.clearMemoryAlarm()),
  });

  private clearMemoryAlarm(): void {
    if (this.memoryAlarm) clearTimeout(this.memoryAlarm);
    this.memoryAlarm = null;
  }

  /** From now on the timers are behind the storage alarm (the pending one moves there). */
  private persist(): void {
    if (this.persisted) return;
    this.persisted = true;
    this.clearMemoryAlarm();
    this.timers.rearm();
  }

  async fetch(request: Request): Promise<Response> {
    const pair = new WebSocketPair();
    const [client, ws] = [pair[0], pair[1]];
    const url = new URL(request.url);
    if (url.pathname === '/echo') {
      // The benchmark's baseline: same Worker, same object, same framing; bytes sent straight back, or
      // (?discard=1) dropped, which compares with an SSH upload.
      ws.accept();
      const discard = url.searchParams.get('discard') === '1';
      ws.addEventListener('message', (ev) => discard || ws.send(ev.data as ArrayBuffer));
      ws.addEventListener('close', () => ws.close());
      return new Response(null, { status: 101, webSocket: client });
    }
    let server: SshServer;
    try {
      server = await serverFor(this.env);
    } catch (e) {
      const why = (e as Error).message;
      console.error(`edgessh: refusing the session: ${why}`);
      ws.accept();
      ws.close(WS_CLOSE.INTERNAL, `edgessh: server not configured: ${why}`.slice(0, 120));
      return new Response(null, { status: 101, webSocket: client });
    }
    const peer = `${request.headers.get('cf-connecting-ip') ?? request.headers.get('x-forwarded-for') ?? 'unknown'} (WebSocket)`;
    // Everything up to accept() is synchronous: the client's first bytes may arrive at the next await.
    this.ctx.acceptWebSocket(ws);
    const secrets = newSecrets();
    ws.serializeAttachment(unsavedAttachment(secrets, peer));
    const live: Live = { server, ws, peer, secrets, transport: undefined as unknown as Transport };
    this.live = live;
    live.transport = server.accept(this.sink(ws), { peerAddress: peer, onClose: () => this.ended(), setTimer: this.timers.setTimer });
    // Nothing is written yet: the secrets reach storage with the first save (after login), so a
    // connection that never logs in costs no storage write.
    this.scheduleSave();
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const bytes = typeof message === 'string' ? null : new Uint8Array(message);
    return this.enqueue(ws, async () => {
      const live = this.live ?? (await this.wake(ws));
      if (!live) return;
      if (!bytes) {
        try {
          ws.close(WS_CLOSE.UNSUPPORTED_DATA, 'edgessh: SSH bytes must be sent as binary WebSocket messages');
        } catch {
          // already closing
        }
        live.transport.connectionLost('the peer sent a text WebSocket message');
        return;
      }
      live.transport.receive(bytes);
      this.scheduleSave();
    });
  }

  webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? WS_CLOSE.NORMAL : code, 'closed');
    } catch {
      // already closed
    }
    // After the messages before it: a DISCONNECT just ahead of the close is still read.
    return this.enqueue(ws, async () => {
      this.live?.transport.connectionLost('the WebSocket closed');
      await this.ended();
    });
  }

  webSocketError(ws: WebSocket): Promise<void> {
    return this.enqueue(ws, async () => {
      this.live?.transport.connectionLost('the WebSocket failed');
      await this.ended();
    });
  }

  alarm(): Promise<void> {
    const ws = this.ctx.getWebSockets()[0];
    if (!ws) return this.ended();
    return this.enqueue(ws, async () => {
      const live = this.live ?? (await this.wake(ws));
      if (!live) return;
      this.timers.fire();
      this.scheduleSave();
    });
  }

  /**
   * One queue for every event, entered synchronously: a message that arrives while an earlier one waits
   * for the restore must not overtake it. A failing step ends the connection with a reason instead of
   * stalling the queue.
   */
  private enqueue(ws: WebSocket, step: () => Promise<void>): Promise<void> {
    this.inbox = this.inbox.then(step).catch(async (e: unknown) => {
      const why = e instanceof Error ? e.message : String(e);
      console.error(`edgessh: session failed: ${why}`);
      this.live?.transport.connectionLost(`internal error: ${why}`);
      try {
        ws.close(WS_CLOSE.INTERNAL, 'edgessh: internal error');
      } catch {
        // already closed
      }
      await this.ended().catch(() => {});
    });
    return this.inbox;
  }

  // ── hibernation ─────────────────────────────────────────────────────────────────────────────────

  /** A fresh instance: restore the connection the attachment and storage describe (once). */
  private wake(ws: WebSocket): Promise<Live | null> {
    this.waking ??= (async () => {
      const refuse = async (why: string) => {
        console.error(`edgessh: cannot resume the session: ${why}`);
        try {
          ws.close(WS_CLOSE.INTERNAL, `edgessh: cannot resume the session: ${why}`.slice(0, 120));
        } catch {
          // already closed
        }
        await this.ended();
        return null;
      };
      let server: SshServer;
      try {
        server = await serverFor(this.env);
      } catch (e) {
        return refuse(`server not configured: ${(e as Error).message}`);
      }
      const attachment = ws.deserializeAttachment() as { inStorage?: boolean } | null;
      const secrets = await this.ctx.storage.get<SessionSecrets>(SECRETS_KEY);
      const body = attachment?.inStorage ? await this.ctx.storage.get<string>(BODY_KEY) : undefined;
      const opened = openState(attachment, secrets, body);
      if ('reason' in opened) return refuse(opened.reason);
      const live: Live = { server, ws, peer: opened.peer, secrets: secrets!, transport: undefined as unknown as Transport };
      this.persist();
      try {
        live.transport = server.resume(this.sink(ws), opened.state, {
          peerAddress: opened.peer,
          onClose: () => this.ended(),
          setTimer: this.timers.setTimer,
        });
      } catch (e) {
        return refuse(`the saved state does not fit: ${(e as Error).message}`);
      }
      this.live = live;
      const restores = ((await this.ctx.storage.get<number>('restores')) ?? 0) + 1;
      await this.ctx.storage.put('restores', restores);
      console.log(`edgessh: session of ${opened.state.connection.username} resumed after hibernation (wake ${restores})`);
      return live;
    })();
    return this.waking;
  }

  private sink(ws: WebSocket) {
    const inner = webSocketSink(ws as unknown as WebSocketLike);
    return {
      write: (bytes: Uint8Array) => {
        inner.write(bytes);
        this.scheduleSave();
      },
      end: () => inner.end(),
    };
  }

  /**
   * Saves the connection once traffic has been quiet for SAVE_QUIET_MS. One attempt is pending at a time:
   * traffic only moves the quiet period on (no timer per message), and while a connection cannot be saved (a
   * transfer running) it does not bring the retry forward.
   */
  private scheduleSave(): void {
    this.lastTraffic = Date.now();
    this.armSave(SAVE_QUIET_MS);
  }

  private armSave(ms: number): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      const quiet = Date.now() - this.lastTraffic;
      if (quiet < SAVE_QUIET_MS) return this.armSave(SAVE_QUIET_MS - quiet);
      void this.save();
    }, ms);
  }

  private async save(): Promise<void> {
    const live = this.live;
    if (!live || live.transport.closed) return;
    await live.transport.idle();
    if (this.saveTimer) return; // more traffic came meanwhile; that save will cover it
    const r = live.server.save(live.transport);
    if ('reason' in r) {
      // Not now: stay in memory (a pending timer prevents hibernation) and try again.
      this.retryMs = Math.min(RETRY_MAX_MS, Math.max(5, this.retryMs * 2));
      this.armSave(this.retryMs);
      return;
    }
    this.retryMs = 0;
    const sealed = sealState(r.state, live.secrets, live.peer);
    if (sealed.secrets) {
      live.secrets = sealed.secrets;
      await this.ctx.storage.put(SECRETS_KEY, sealed.secrets);
    }
    if (sealed.body !== null) await this.ctx.storage.put(BODY_KEY, sealed.body);
    live.ws.serializeAttachment(sealed.attachment);
    this.persist();
  }

  /** The connection is over: nothing of it stays in storage. */
  private async ended(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    this.clearMemoryAlarm();
    // The storage alarm is used only once the connection was saved (or woke from a save), and storage holds
    // something only from the first save on; an instance woken by an alarm without a connection clears both.
    if (this.persisted || !this.live) await this.ctx.storage.deleteAlarm();
    if (this.live?.secrets.epoch !== -1) await this.ctx.storage.deleteAll();
  }
}
