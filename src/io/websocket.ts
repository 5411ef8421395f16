/**
 * WebSocket adapter: one SSH binary packet stream per WebSocket, in binary messages of any framing.
 * Runtime-neutral (Workers, browsers, Node's `ws`): it needs only send/close and message/close events.
 *
 * Outgoing bytes are coalesced: everything the transport writes in one turn of the event loop leaves in
 * one message (up to COALESCE_LIMIT), so a handshake is a few messages and bulk data rides large frames.
 */
import type { Transport } from '../transport/transport.ts';
import type { ByteSink } from './connection.ts';

/** The part of a WebSocket this adapter uses (a subset of the WHATWG interface). */
export interface WebSocketLike {
  send(data: Uint8Array | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', fn: (ev: { data: unknown }) => void): void;
  addEventListener(type: 'close' | 'error', fn: (ev: { code?: number; reason?: string }) => void): void;
  readonly readyState: number;
}

const OPEN = 1;
export const COALESCE_LIMIT = 256 * 1024;

/** WebSocket close codes we use (RFC 6455 §7.4.1). */
export const WS_CLOSE = { NORMAL: 1000, UNSUPPORTED_DATA: 1003, POLICY: 1008, INTERNAL: 1011 } as const;

/** A ByteSink that batches writes into WebSocket binary messages. */
export function webSocketSink(ws: WebSocketLike, closeReason = 'SSH connection closed'): ByteSink & { flush(): void } {
  let parts: Uint8Array[] = [];
  let size = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!size) return;
    const msg = parts.length === 1 ? parts[0]! : concat(parts, size);
    parts = [];
    size = 0;
    if (ws.readyState === OPEN) ws.send(msg);
  };
  return {
    write(bytes) {
      parts.push(bytes);
      size += bytes.length;
      if (size >= COALESCE_LIMIT) flush();
      else if (!scheduled) {
        scheduled = true;
        setTimeout(flush, 0);
      }
    },
    end() {
      flush();
      if (ws.readyState === OPEN) ws.close(WS_CLOSE.NORMAL, closeReason);
    },
    flush,
  };
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/**
 * Feeds a WebSocket's binary messages to `transport` in order. ArrayBuffer, typed arrays and Blob are
 * accepted (Blob needs an await, so every message goes through one promise chain to keep the order).
 * A text message is refused: SSH bytes must ride binary messages.
 */
export function feedFromWebSocket(ws: WebSocketLike, transport: () => Transport | null, onText?: () => void): void {
  let chain: Promise<void> = Promise.resolve();
  let refused = false;
  ws.addEventListener('message', (ev) => {
    const d = ev.data;
    if (refused) return;
    if (typeof d === 'string') {
      refused = true;
      onText?.();
      if (ws.readyState === OPEN) ws.close(WS_CLOSE.UNSUPPORTED_DATA, 'edgessh: SSH bytes must be sent as binary WebSocket messages');
      chain = chain.then(() => transport()?.connectionLost('the peer sent a text WebSocket message'));
      return;
    }
    const bytes = toBytes(d);
    if (bytes) {
      chain = chain.then(() => transport()?.receive(bytes));
      return;
    }
    const blob = d as Blob;
    chain = chain.then(async () => {
      const b = new Uint8Array(await blob.arrayBuffer());
      transport()?.receive(b);
    });
  });
  ws.addEventListener('close', () => {
    chain = chain.then(() => transport()?.connectionLost('the WebSocket closed'));
  });
  ws.addEventListener('error', () => {
    chain = chain.then(() => transport()?.connectionLost('the WebSocket failed'));
  });
}

function toBytes(d: unknown): Uint8Array | null {
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (Array.isArray(d)) return concat(d as Uint8Array[], (d as Uint8Array[]).reduce((n, b) => n + b.length, 0)); // ws fragments
  return null;
}
