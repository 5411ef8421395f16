/**
 * One SSH connection per Durable Object: the WebSocket's binary messages are the SSH byte stream; the
 * edgessh server runs the demo shell, with each user's files in a UserFiles object.
 *
 * This object uses the plain (non-hibernating) WebSocket API: while the socket is open the object stays
 * in memory, so timers and the transport's state live as long as the connection does.
 */
import { DurableObject } from 'cloudflare:workers';
import { createServer, type SshServer } from '../src/server.ts';
import { parsePrivateKey, fingerprint } from '../src/crypto/keys/index.ts';
import type { PrivateKey } from '../src/crypto/types.ts';
import { makeDemoPolicy, runDemoSession } from '../src/apps/demo.ts';
import { feedFromWebSocket, webSocketSink, WS_CLOSE, type WebSocketLike } from '../src/io/websocket.ts';
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
  return keys;
}

let cachedServer: { key: string; server: Promise<SshServer> } | null = null;

/** One SshServer per isolate and configuration (parsing keys costs more than a handshake). */
function serverFor(env: Env): Promise<SshServer> {
  const cacheKey = `${env.HOST_KEY}\u0000${env.AUTHORIZED_KEYS}\u0000${env.PASSWORD}\u0000${env.BANNER}`;
  if (cachedServer?.key === cacheKey) return cachedServer.server;
  const server = (async () => {
    const hostKeys = await loadHostKeys(env);
    const log = (line: string) => console.log(`edgessh: ${line}`);
    const policy = makeDemoPolicy({ authorizedKeys: env.AUTHORIZED_KEYS ?? '', password: env.PASSWORD || undefined, log });
    const storage = new DurableObjectFileStorage(env.FILES);
    const startedAt = Date.now();
    for (const k of hostKeys) log(`host key ${k.publicKey.type} ${fingerprint(k.publicKey)}`);
    return createServer({
      hostKeys,
      banner: env.BANNER || undefined,
      authenticate: policy.authenticate,
      authMethods: policy.methods,
      onSession: (session) => runDemoSession(session, { storage, startedAt, policy }),
      log,
    });
  })();
  server.catch(() => (cachedServer = null));
  cachedServer = { key: cacheKey, server };
  return server;
}

export class SshSession extends DurableObject<Env> {
  async fetch(request: Request): Promise<Response> {
    const pair = new WebSocketPair();
    const [client, ws] = [pair[0], pair[1]];
    ws.accept();
    const url = new URL(request.url);
    if (url.pathname === '/echo') {
      // The benchmark's baseline: same Worker, same object, same framing; bytes sent straight back, or
      // (?discard=1) dropped, which compares with an SSH upload.
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
      ws.close(WS_CLOSE.INTERNAL, `edgessh: server not configured: ${why}`.slice(0, 120));
      return new Response(null, { status: 101, webSocket: client });
    }
    const peer = request.headers.get('cf-connecting-ip') ?? request.headers.get('x-forwarded-for') ?? 'unknown';
    const socket = ws as unknown as WebSocketLike;
    let transport: Transport | null = null;
    feedFromWebSocket(socket, () => transport);
    transport = server.accept(webSocketSink(socket), { peerAddress: `${peer} (WebSocket)` });
    return new Response(null, { status: 101, webSocket: client });
  }
}
