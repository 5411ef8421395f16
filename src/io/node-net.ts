/** Node TCP adapter: each socket is one SSH connection. TCP_NODELAY on, as every SSH server does. */
import net from 'node:net';
import type { SshServer } from '../server.ts';
import type { Transport } from '../transport/transport.ts';

export function attachSocket(server: SshServer, socket: net.Socket): Transport {
  socket.setNoDelay(true);
  const transport = server.accept(
    {
      write: (b) => {
        if (!socket.destroyed) socket.write(b);
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
