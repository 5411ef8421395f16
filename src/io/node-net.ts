/** Node TCP adapter: each socket is one SSH connection. TCP_NODELAY on, as every SSH server does. */
import net from 'node:net';
import type { SshServer } from '../server.ts';
import type { Transport } from '../transport/transport.ts';
import { SshClient, type ClientOptions } from '../client/client.ts';

export function attachSocket(server: SshServer, socket: net.Socket): Transport {
  socket.setNoDelay(true);
  // Packets written in one turn of the event loop leave in one writev (a handshake sends several).
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  const transport = server.accept(
    {
      write: (b) => {
        if (socket.destroyed) return;
        if (!corked) {
          corked = true;
          socket.cork();
          process.nextTick(uncork);
        }
        socket.write(b);
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
