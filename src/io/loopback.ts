/** Two transports wired back to back in memory: the loopback harness and the conformance tests use it. */
import { Transport, type TransportOptions } from '../transport/transport.ts';

export interface LoopbackPair {
  client: Transport;
  server: Transport;
  /** Copies of the bytes each side wrote, for inspection (the receiver may decrypt what it is given in place). */
  wire: { c2s: Uint8Array[]; s2c: Uint8Array[] };
}

export type SideOptions = Omit<TransportOptions, 'onSend' | 'role'>;

export function loopback(clientOpts: SideOptions, serverOpts: SideOptions): LoopbackPair {
  const wire = { c2s: [] as Uint8Array[], s2c: [] as Uint8Array[] };
  let client!: Transport;
  let server!: Transport;
  // Deliver on a microtask so neither side re-enters the other synchronously.
  const deliver = (to: () => Transport, bytes: Uint8Array) => queueMicrotask(() => to().receive(bytes));
  client = new Transport({
    ...clientOpts,
    role: 'client',
    onSend: (b) => {
      wire.c2s.push(b.slice());
      deliver(() => server, b);
    },
    onClose: (i) => {
      clientOpts.onClose?.(i);
      queueMicrotask(() => server.connectionLost());
    },
  });
  server = new Transport({
    ...serverOpts,
    role: 'server',
    onSend: (b) => {
      wire.s2c.push(b.slice());
      deliver(() => client, b);
    },
    onClose: (i) => {
      serverOpts.onClose?.(i);
      queueMicrotask(() => client.connectionLost());
    },
  });
  return { client, server, wire };
}
