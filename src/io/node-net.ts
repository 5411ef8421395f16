/** Node TCP adapter: each socket is one SSH connection. TCP_NODELAY on, as every SSH server does. */
import net from 'node:net';
import type { ForwardListener, ForwardRequest, ForwardStream, IncomingConnection, ListenRequest } from '../connection/connection.ts';
import type { SshServer } from '../server.ts';
import type { Transport } from '../transport/transport.ts';
import { SshClient, type ClientOptions } from '../client/client.ts';

/** At most this many bytes are held back to leave in one writev. */
const CORK_LIMIT = 128 * 1024;

export function attachSocket(server: SshServer, socket: net.Socket): Transport {
  socket.setNoDelay(true);
  // Packets written in one turn of the event loop leave in one writev (a handshake sends several), but
  // no more than CORK_LIMIT at a time: a download fills the peer's whole window (2 MiB from OpenSSH) in
  // one chain of microtasks, and holding all of it back until the chain ends left the client idle while
  // we sealed, then us idle while it decrypted.
  let corked = 0;
  const uncork = () => {
    if (!corked) return;
    corked = 0;
    socket.uncork();
  };
  const transport = server.accept(
    {
      write: (b) => {
        if (socket.destroyed) return;
        if (!corked) {
          socket.cork();
          process.nextTick(uncork);
        }
        socket.write(b);
        corked += b.length || 1;
        if (corked >= CORK_LIMIT) uncork();
      },
      end: () => socket.end(),
    },
    { peerAddress: `${socket.remoteAddress} port ${socket.remotePort}` },
  );
  socket.on('data', (d: Uint8Array) => transport.receive(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
  socket.on('error', () => {});
  socket.on('close', () => transport.connectionLost());
  return transport;
}

/** How long a forward's TCP connection may take to open. */
const FORWARD_CONNECT_TIMEOUT_MS = 10_000;

/** Why a connection could not be opened, in the words ssh prints after "connect failed:" (as sshd says it). */
function connectError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'Name or service not known';
    default:
      return e.message;
  }
}

/**
 * A connected socket as the WHATWG streams a ForwardStream is: written without waiting for each write's
 * callback (backpressure through 'drain'), read with pause/resume as the reader keeps up. Lighter than
 * Duplex.toWeb, which waited for each write's callback: `ssh -W` 128 MiB up to a TCP sink, aes128-gcm,
 * server CPU 3.9–4.5 → 3.0–3.6 ms per MiB (an exec upload: 2.9–3.4).
 */
function socketStreams(s: net.Socket): ForwardStream {
  const readable = new ReadableStream<Uint8Array>(
    {
      start(c) {
        // After a cancel (the channel went away) nothing more may be enqueued: the socket is destroyed then.
        s.on('data', (d: Buffer) => {
          if (s.destroyed) return;
          c.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
          if ((c.desiredSize ?? 0) <= 0) s.pause();
        });
        s.once('end', () => s.destroyed || c.close());
        s.once('error', (e) => c.error(e));
      },
      pull() {
        s.resume();
      },
      cancel() {
        s.destroy();
      },
    },
    { highWaterMark: 4 },
  );
  const writable = new WritableStream<Uint8Array>(
    {
      write(chunk) {
        if (s.destroyed) throw new Error('the connection closed');
        if (s.write(chunk)) return;
        return new Promise<void>((resolve) => {
          const go = () => {
            s.off('drain', go).off('close', go);
            resolve();
          };
          s.on('drain', go).on('close', go);
        });
      },
      close() {
        return new Promise<void>((resolve) => s.end(resolve));
      },
      abort() {
        s.destroy();
      },
    },
    { highWaterMark: 4 },
  );
  return { readable, writable, close: () => s.destroy() };
}

/**
 * Opens the TCP connection of a direct-tcpip channel (ServerOptions.connectForward), TCP_NODELAY on; rejects
 * with sshd's words ("Connection refused") when it cannot.
 */
export function connectTcpForward(req: ForwardRequest): Promise<ForwardStream> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: req.host, port: req.port, noDelay: true, allowHalfOpen: true });
    const timer = setTimeout(() => s.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), FORWARD_CONNECT_TIMEOUT_MS);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(connectError(e)));
    });
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      s.on('error', () => {}); // the streams report it
      resolve(socketStreams(s));
    });
  });
}

/** sshd's GatewayPorts: where a remote forward listens. */
export type GatewayPorts = 'no' | 'yes' | 'clientspecified';

/**
 * The address a remote forward binds, as sshd chooses it: with `no` (sshd's default) loopback whatever the
 * client named (::1 when it named that); with `yes` every interface; with `clientspecified` what the
 * client named, every interface for "" or "*", loopback for "localhost".
 */
export function forwardBindAddress(address: string, gatewayPorts: GatewayPorts): string {
  if (gatewayPorts === 'yes') return '::';
  if (gatewayPorts === 'clientspecified' && address !== 'localhost') return address === '' || address === '*' ? '::' : address;
  return address === '::1' ? '::1' : '127.0.0.1';
}

/**
 * A ServerOptions.listenForward for Node (`ssh -R`): listens where forwardBindAddress says; each accepted
 * connection goes to `onConnection`, TCP_NODELAY on.
 */
export function tcpForwardListener(gatewayPorts: GatewayPorts = 'no') {
  return (req: ListenRequest, onConnection: (c: IncomingConnection) => void): Promise<ForwardListener> => {
    const tcp = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      s.on('error', () => {}); // the streams report it
      onConnection({ stream: socketStreams(s), originHost: (s.remoteAddress ?? '').replace(/^::ffff:/, ''), originPort: s.remotePort ?? 0 });
    });
    return new Promise((resolve, reject) => {
      tcp.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
      tcp.listen(req.port, forwardBindAddress(req.address, gatewayPorts), () => {
        tcp.removeAllListeners('error');
        tcp.on('error', () => {});
        resolve({ port: (tcp.address() as net.AddressInfo).port, close: () => tcp.close() });
      });
    });
  };
}

/** listenForward with sshd's default, GatewayPorts no: loopback only. */
export const listenTcpForward = tcpForwardListener('no');

export function listenTcp(server: SshServer, host: string, port: number): Promise<net.Server> {
  const tcp = net.createServer((s) => attachSocket(server, s));
  return new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => resolve(tcp));
  });
}

/** Connects an SSH client over Node TCP (or any duplex socket you pass in). */
export function connectClientSocket(options: ClientOptions, socket: net.Socket | import('node:stream').Duplex): SshClient {
  (socket as net.Socket).setNoDelay?.(true);
  const client = new SshClient(options, {
    write: (b) => {
      if (!socket.destroyed) socket.write(b);
    },
    end: () => socket.end(),
  });
  socket.on('data', (d: Uint8Array) => client.transport.receive(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
  socket.on('error', () => {});
  socket.on('close', () => client.transport.connectionLost());
  client.start();
  return client;
}

export function connectTcp(options: ClientOptions, host: string, port: number): SshClient {
  return connectClientSocket(options, net.connect(port, host));
}
