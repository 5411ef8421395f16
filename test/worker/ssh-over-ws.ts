// A minimal SSH client over a WebSocket, for driving the Worker from inside workerd: our client
// transport, a password login and one exec channel (messages built by hand, as in the conformance tests).
import { Transport } from '../../src/transport/transport.ts';
import { feedFromWebSocket, webSocketSink, type WebSocketLike } from '../../src/io/websocket.ts';
import type { ByteSink } from '../../src/io/connection.ts';
import { MSG } from '../../src/wire/messages.ts';
import { Reader } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';

export async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Sending from tests inside workerd: vitest-pool-workers routes each Hibernation API event
 * (webSocketMessage) through an RPC to its runner object before it reaches the Durable Object, so two
 * messages sent back to back can arrive reordered — an artifact of the test harness (workerd itself
 * delivers a socket's messages in order). The first hops are the slowest (the runner imports the module),
 * so the first messages are spaced widely and later ones less.
 */
const gapAfter = (sent: number) => (sent < 4 ? 250 : 20);

/** A client-side sink: bytes coalesced, one message at a time, spaced as `gapAfter` says. */
export function pacedSink(ws: WebSocket): ByteSink {
  const socket = ws as unknown as WebSocketLike;
  const inner = webSocketSink(socket);
  let parts: Uint8Array[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = 0;
  let sent = 0;
  let ending = false;
  const send = () => {
    timer = null;
    last = Date.now();
    const size = parts.reduce((n, p) => n + p.length, 0);
    const msg = new Uint8Array(size);
    let o = 0;
    for (const p of parts) (msg.set(p, o), (o += p.length));
    parts = [];
    if (size) {
      socket.send(msg);
      sent++;
    }
    if (ending) inner.end();
  };
  const schedule = () => {
    timer ??= setTimeout(send, sent === 0 ? 0 : Math.max(0, last + gapAfter(sent - 1) - Date.now()));
  };
  return {
    write: (b) => {
      parts.push(b.slice());
      schedule();
    },
    end: () => {
      ending = true;
      schedule();
    },
  };
}

/** Sends each chunk as its own message, spaced as `gapAfter` says. */
export async function pacedSend(ws: WebSocket, chunks: Uint8Array[]): Promise<void> {
  for (let i = 0; i < chunks.length; i++) {
    ws.send(chunks[i]!);
    await new Promise((r) => setTimeout(r, gapAfter(i)));
  }
}

export async function openSocket(fetcher: { fetch(r: string, i?: RequestInit): Promise<Response> }): Promise<WebSocket & { accept(): void }> {
  const res = await fetcher.fetch('http://edgessh.test/ssh', { headers: { Upgrade: 'websocket' } });
  const ws = (res as Response & { webSocket: (WebSocket & { accept(): void }) | null }).webSocket;
  if (res.status !== 101 || !ws) throw new Error(`no WebSocket: ${res.status} ${await res.text()}`);
  ws.accept();
  return ws;
}

export async function sshOverSocket(ws: WebSocket) {
  const got: Uint8Array[] = [];
  let closed: { reason: number; message: string; by: string } | null = null;
  const socket = ws as unknown as WebSocketLike;
  const client: Transport = new Transport({
    role: 'client',
    onSend: (b) => sink.write(b),
    onClose: (c) => {
      closed ??= c;
      sink.end();
    },
  });
  const sink = pacedSink(ws);
  feedFromWebSocket(socket, () => client);
  client.start();
  await until(() => client.kexCount > 0 || !!closed);
  if (closed) throw new Error(`closed during kex: ${(closed as { message: string }).message}`);
  const next = async (type?: number) => {
    await until(() => got.length > 0 || !!closed);
    const p = got.shift();
    if (!p) throw new Error(`closed: ${closed?.message}`);
    if (type !== undefined && p[0] !== type) throw new Error(`expected message ${type}, got ${p[0]}`);
    return p;
  };
  const ok = await client.requestService('ssh-userauth', { handle: (_t, p) => (got.push(p.slice()), true) });
  if (!ok) throw new Error('ssh-userauth refused');

  async function login(user: string, password: string): Promise<boolean> {
    client.send(new Writer().byte(MSG.USERAUTH_REQUEST).string(user).string('ssh-connection').string('password').boolean(false).string(password).finish());
    for (;;) {
      const p = await next();
      if (p[0] === MSG.USERAUTH_BANNER) continue;
      if (p[0] !== MSG.USERAUTH_SUCCESS) return false;
      // Then the server lists its host keys (hostkeys-00@openssh.com, no reply wanted).
      const hk = new Reader(await next(MSG.GLOBAL_REQUEST), 1);
      if (hk.string() !== 'hostkeys-00@openssh.com' || hk.boolean() || !hk.remaining) throw new Error('expected the host key announcement');
      return true;
    }
  }

  let nextChannel = 0;
  /** Runs one command; returns stdout, stderr and the exit status. */
  async function exec(command: string, stdin?: Uint8Array) {
    const id = nextChannel++;
    client.send(new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(id).uint32(1 << 24).uint32(32768).finish());
    const conf = new Reader(await next(MSG.CHANNEL_OPEN_CONFIRMATION), 1);
    conf.uint32();
    const remote = conf.uint32();
    let window = conf.uint32();
    const maxPacket = conf.uint32();
    client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(remote).string('exec').boolean(true).string(command).finish());
    await next(MSG.CHANNEL_SUCCESS);
    if (stdin) {
      for (let o = 0; o < stdin.length; ) {
        while (window === 0) {
          const p = await next(MSG.CHANNEL_WINDOW_ADJUST);
          const r = new Reader(p, 1);
          r.uint32();
          window += r.uint32();
        }
        const n = Math.min(window, maxPacket, stdin.length - o);
        client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(remote).bytes(stdin.subarray(o, o + n)).finish());
        window -= n;
        o += n;
      }
    }
    client.send(new Writer().byte(MSG.CHANNEL_EOF).uint32(remote).finish());
    const out: number[] = [];
    const err: number[] = [];
    let status: number | null = null;
    for (;;) {
      const p = await next();
      const r = new Reader(p, 1);
      if (p[0] === MSG.CHANNEL_WINDOW_ADJUST) continue;
      r.uint32();
      if (p[0] === MSG.CHANNEL_DATA) out.push(...r.bytes());
      else if (p[0] === MSG.CHANNEL_EXTENDED_DATA) (r.uint32(), err.push(...r.bytes()));
      else if (p[0] === MSG.CHANNEL_REQUEST && r.string() === 'exit-status') (r.boolean(), (status = r.uint32()));
      else if (p[0] === MSG.CHANNEL_CLOSE) {
        client.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(remote).finish());
        break;
      }
    }
    const dec = new TextDecoder();
    return { stdout: dec.decode(new Uint8Array(out)), stderr: dec.decode(new Uint8Array(err)), status };
  }

  return { client, login, exec, next, closed: () => closed };
}
