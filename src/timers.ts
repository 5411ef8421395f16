/**
 * Timers as the core sees them: one function that arms a callback. setTimeout backs it by default; the
 * Durable Object adapter backs it with alarms so that a waiting timer does not keep the object in memory.
 */
export interface TimerHandle {
  cancel(): void;
}

export type TimerFn = (fn: () => void, ms: number) => TimerHandle;

/** setTimeout, unref'd in Node so a pending timer never keeps a process alive. */
export const defaultTimer: TimerFn = (fn, ms) => {
  const t = setTimeout(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return { cancel: () => clearTimeout(t) };
};
