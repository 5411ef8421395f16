/**
 * What every adapter needs: a transport wired to a byte sink, with its timers driven by a TimerFn
 * (setTimeout by default; the Durable Object adapter uses alarms).
 */
import { Transport, type TransportOptions, type TransportState } from '../transport/transport.ts';
import { defaultTimer, type TimerFn, type TimerHandle } from '../timers.ts';

export interface ByteSink {
  /** Writes bytes to the peer. */
  write(bytes: Uint8Array): void;
  /** Closes the underlying connection (after the last write). */
  end(): void;
}

export type ConnectionOptions = Omit<TransportOptions, 'onSend'> & {
  setTimer?: TimerFn;
  /** Carry on a saved connection instead of starting a new one (the caller then skips `start()`). */
  restore?: TransportState;
};

/** Creates a transport that writes to `sink`, closes it when the transport closes, and runs its timers. */
export function connectTransport(options: ConnectionOptions, sink: ByteSink): Transport {
  const setTimer = options.setTimer ?? defaultTimer;
  let timer: TimerHandle | undefined;
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
      timer?.cancel();
      try {
        userClose?.(info);
      } finally {
        sink.end();
      }
    },
  });
  const schedule = () => {
    timer?.cancel();
    timer = undefined;
    const at = transport.nextDeadline();
    if (at === null) return;
    // A long delay is re-armed rather than trusted (timers clamp above ~24.8 days).
    timer = setTimer(() => {
      transport.tick();
      schedule();
    }, Math.min(Math.max(0, at - Date.now()) + 5, 3_600_000));
  };
  if (options.restore) {
    transport.restoreState(options.restore);
    schedule();
  }
  return transport;
}
