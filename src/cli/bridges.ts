/**
 * The bridges between TCP/stdio and WebSockets, for Node:
 *   proxy URL                       stdin/stdout ↔ WebSocket (an OpenSSH ProxyCommand)
 *   bridge --listen H:P --to URL    each TCP connection ↔ one WebSocket (websockify in reverse)
 *   websockify --listen H:P --to H:P  each WebSocket ↔ one TCP connection to the one configured target
 * Binary frames only; backpressure both ways (a stream that cannot take more pauses the other side).
 */
import net from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

/** Pause the reading side when this many bytes are queued on the WebSocket. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

export function parseWsUrl(text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`bad URL ${JSON.stringify(text)} (expected ws://HOST[:PORT]/ssh or wss://…)`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`bad URL ${text}: the scheme must be ws: or wss:`);
  return u;
}

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new Error(`bad ${what} ${JSON.stringify(text)} (expected HOST:PORT)`);
  return { host: m[1] ?? m[2]!, port };
}

/** Why a WebSocket could not be opened, in one line. */
function describeError(url: URL, e: Error & { code?: string }): string {
  const where = `${url.protocol}//${url.host}`;
  if (e.code === 'ECONNREFUSED') return `connection refused by ${where}`;
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return `cannot resolve ${url.hostname}`;
  if (e.code === 'ETIMEDOUT') return `timed out connecting to ${where}`;
  if (e.code?.startsWith('ERR_TLS') || e.code?.includes('CERT') || /certificate|SSL|TLS/i.test(e.message)) return `TLS failure with ${where}: ${e.message}`;
  return `cannot reach ${where}: ${e.message}`;
}

/** Holds the messages that arrive before pipeWebSocket listens; pipeWebSocket takes them first, in order. */
function keepEarly(ws: WebSocket): void {
  const early: [Buffer, boolean][] = [];
  const keep = (d: Buffer, binary: boolean) => early.push([d, binary]);
  ws.on('message', keep);
  (ws as WebSocket & { early?: () => [Buffer, boolean][] }).early = () => (ws.off('message', keep), early);
}

/**
 * Opens a WebSocket; resolves once open, rejects with a one-line reason (HTTP status, refused, TLS…).
 */
export function openWebSocket(url: URL): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 20_000 });
    ws.binaryType = 'nodebuffer';
    // The server may speak first (an SSH server does): keep what arrives before pipeWebSocket listens.
    keepEarly(ws);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.slice(0, 200)));
      res.on('end', () => {
        const first = body.trim().split('\n')[0]?.slice(0, 160);
        reject(new Error(`HTTP ${res.statusCode} ${res.statusMessage ?? ''} from ${url}${first ? `: ${first}` : ''}`.replace(/\s+/g, ' ')));
      });
      res.on('error', () => reject(new Error(`HTTP ${res.statusCode} from ${url}`)));
    });
    ws.once('error', (e) => reject(new Error(describeError(url, e as Error & { code?: string }))));
  });
}

export interface PipeResult {
  /** Who ended it, and whether cleanly. */
  clean: boolean;
  reason: string;
}

/**
 * Pipes a byte stream pair and a WebSocket together until either side ends. Text frames from the
 * WebSocket end the pipe (SSH bytes ride binary frames).
 */
export function pipeWebSocket(ws: WebSocket, input: Readable, output: Writable): Promise<PipeResult> {
  return new Promise((resolve) => {
    let done = false;
    let closing = false;
    let queued = 0;
    const finish = (r: PipeResult) => {
      if (done) return;
      done = true;
      input.off('data', onInput);
      resolve(r);
    };
    const onInput = (chunk: Buffer) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      queued += chunk.length;
      ws.send(chunk, { binary: true }, () => {
        queued -= chunk.length;
        if (queued < LOW_WATER && input.isPaused()) input.resume();
      });
      if (queued > HIGH_WATER) input.pause();
    };
    input.on('data', onInput);
    input.resume(); // a stream paused while the WebSocket opened stays paused until told otherwise
    input.once('end', () => {
      if (ws.readyState !== WebSocket.OPEN) return finish({ clean: true, reason: 'input ended' });
      // Close cleanly: wait (briefly) for the peer's close frame, so it sees 1000 rather than a dropped socket.
      // Our side ended first, so however the socket then goes (a ProxyCommand is killed as ssh exits), the
      // end is clean.
      closing = true;
      ws.close(1000, 'the client closed the stream');
      setTimeout(() => finish({ clean: true, reason: 'input ended' }), 2000).unref();
    });
    input.once('error', (e) => {
      ws.terminate();
      finish({ clean: false, reason: e.message });
    });
    output.on('drain', () => ws.isPaused && ws.resume());
    output.once('error', (e) => {
      ws.terminate();
      finish({ clean: false, reason: e.message });
    });
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      if (done) return;
      if (!isBinary) {
        ws.close(1003, 'edgessh: SSH bytes must be sent as binary WebSocket messages');
        return finish({ clean: false, reason: 'the peer sent a text frame' });
      }
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (!output.write(buf)) ws.pause();
    };
    for (const [d, b] of (ws as WebSocket & { early?: () => [Buffer, boolean][] }).early?.() ?? []) onMessage(d, b);
    ws.on('message', onMessage);
    ws.once('close', (code, reasonBuf) => {
      const reason = reasonBuf.toString();
      const clean = closing || code === 1000 || code === 1005;
      output.end?.();
      finish({ clean, reason: clean ? reason || 'closed' : `WebSocket closed with ${code}${reason ? `: ${reason}` : ''}` });
    });
    ws.once('error', (e) => finish({ clean: false, reason: e.message }));
  });
}

/** `edgessh proxy URL`: stdin/stdout ↔ WebSocket. Resolves to the process exit code. */
export async function proxy(urlText: string, log: (line: string) => void): Promise<number> {
  let url: URL;
  try {
    url = parseWsUrl(urlText);
  } catch (e) {
    log((e as Error).message);
    return 2;
  }
  let ws: WebSocket;
  try {
    ws = await openWebSocket(url);
  } catch (e) {
    log((e as Error).message);
    return 1;
  }
  // OpenSSH sends its ProxyCommand SIGHUP as it exits: close the WebSocket properly rather than vanish.
  const onSignal = () => {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'the client went away');
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGHUP', onSignal);
  process.once('SIGTERM', onSignal);
  const r = await pipeWebSocket(ws, process.stdin, process.stdout);
  process.off('SIGHUP', onSignal);
  process.off('SIGTERM', onSignal);
  if (!r.clean) log(r.reason);
  return r.clean ? 0 : 1;
}

/** `edgessh bridge --listen H:P --to URL`: each TCP connection becomes one WebSocket. */
export function bridge(listen: { host: string; port: number }, url: URL, log: (line: string) => void): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.pause();
    const who = `${sock.remoteAddress} port ${sock.remotePort}`;
    openWebSocket(url).then(
      async (ws) => {
        const r = await pipeWebSocket(ws, sock, sock);
        if (!r.clean) log(`${who}: ${r.reason}`);
        sock.end();
      },
      (e: Error) => {
        log(`${who}: ${e.message}`);
        sock.destroy();
      },
    );
    sock.on('error', () => {});
  });
  return listenOn(server, listen);
}

/** `edgessh websockify --listen H:P --to H:P`: each WebSocket becomes one TCP connection to the one target. */
export function websockify(listen: { host: string; port: number }, target: { host: string; port: number }, log: (line: string) => void): Promise<net.Server> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end(`edgessh websockify: WebSocket only; it forwards to ${target.host}:${target.port}\n`);
  });
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // An SSH client speaks at once (its version line), before the connection to the target is up:
      // nothing it sends meanwhile may be lost.
      keepEarly(ws);
      const who = `${req.socket.remoteAddress} port ${req.socket.remotePort}`;
      // The target is fixed by the operator; nothing the client sends can change it.
      const tcp = net.connect(target.port, target.host);
      tcp.setNoDelay(true);
      tcp.once('connect', async () => {
        const r = await pipeWebSocket(ws, tcp, tcp);
        if (!r.clean) log(`${who}: ${r.reason}`);
        if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'the target closed the connection');
        tcp.end();
      });
      tcp.once('error', (e) => {
        log(`${who}: cannot reach ${target.host}:${target.port}: ${e.message}`);
        if (ws.readyState === WebSocket.OPEN) ws.close(1011, 'edgessh: cannot reach the target');
      });
    });
  });
  return listenOn(http, listen);
}

function listenOn(server: net.Server, at: { host: string; port: number }): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve(server));
  });
}
