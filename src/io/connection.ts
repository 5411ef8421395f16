/**
 * What every adapter needs: a transport wired to a byte sink, with its timers driven by setTimeout.
 * (setTimeout exists in Workers, browsers and Node; the Durable Object adapter may use alarms instead.)
 */
import { Transport, type TransportOptions } from '../transport/transport.ts';

export interface ByteSink {
  /** Writes bytes to the peer. */
  write(bytes: Uint8Array): void;
  /** Closes the underlying connection (after the last write). */
  end(): void;
}

export type ConnectionOptions = Omit<TransportOptions, 'onSend'>;

/** Creates a transport that writes to `sink`, closes it when the transport closes, and runs its timers. */
export function connectTransport(options: ConnectionOptions, sink: ByteSink): Transport {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const userClose = options.onClose;
  const userEvent = options.onEvent;
  const transport: Transport = new Transport({
    ...options,
    onEvent: (ev) => {
      // Deadlines move when a key exchange starts and ends; re-arm then.
      if (ev.type === 'kex-start' || ev.type === 'kex-done') schedule();
      userEvent?.(ev);
    },
    onSend: (bytes) => sink.write(bytes),
    onClose: (info) => {
      if (timer) clearTimeout(timer);
      try {
        userClose?.(info);
      } finally {
        sink.end();
      }
    },
  });
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const at = transport.nextDeadline();
    if (at === null) return;
    // A long delay is re-armed rather than trusted (timers clamp above ~24.8 days).
    timer = setTimeout(() => {
      transport.tick();
      schedule();
    }, Math.min(Math.max(0, at - Date.now()) + 5, 3_600_000));
    (timer as { unref?: () => void }).unref?.();
  };
  return transport;
}
