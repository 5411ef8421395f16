/**
 * A session channel as the application sees it (RFC 4254 §6): pty, env, the command, and stdin/stdout/
 * stderr as WHATWG streams, so one application runs unchanged in Workers, browsers and Node.
 * Flow control is the streams' backpressure: stdin re-opens the SSH window only as it is read, and a
 * stdout write resolves only once the peer's window has room for it.
 */

import type { Transport } from '../transport/transport.ts';

export interface PtyInfo {
  term: string;
  cols: number;
  rows: number;
  width: number;
  height: number;
  /** RFC 4254 §8 opcode → value (e.g. 53 ECHO). */
  modes: Record<number, number>;
}

/**
 * What a channel runs: a session's shell, exec or subsystem, or a forwarded TCP connection: one the
 * client asked for (direct-tcpip, `ssh -L`) or one a listener of its `ssh -R` accepted (forwarded-tcpip).
 */
export type SessionKind = 'shell' | 'exec' | 'subsystem' | 'direct-tcpip' | 'forwarded-tcpip';

/** Whether a channel carries a TCP connection (no exit status, no stderr, never saved while open). */
export const isForward = (kind: SessionKind | null): boolean => kind === 'direct-tcpip' || kind === 'forwarded-tcpip';

export interface SessionHooks {
  maxChunk(): number;
  sendData(data: Uint8Array, stderr: boolean): boolean;
  consumed(n: number): void;
  sendExit(status: number | { signal: string; message?: string }): void;
  sendEof(): void;
  close(): void;
  closed(): boolean;
  error?(err: unknown): void;
}

/** A session as plain data, for Durable Object hibernation (see ConnectionServer.save). */
export interface SessionState {
  pty: PtyInfo | null;
  env: Record<string, string>;
  kind: SessionKind | null;
  command: string | null;
  inEof: boolean;
  inCancelled: boolean;
  exited: boolean;
  /** The application was running; `app` is the state it reported (see Session.setResumeState). */
  running: boolean;
  app: unknown;
}

export class ChannelClosedError extends Error {
  constructor() {
    super('channel closed');
    this.name = 'ChannelClosedError';
  }
}

const MAX_ENV = 64;
const MAX_ENV_BYTES = 16 * 1024;

export class Session {
  readonly user: string;
  /** The connection this session belongs to (negotiated algorithms, peer address, auth state). */
  transport: Transport | null = null;
  pty: PtyInfo | null = null;
  env: Record<string, string> = {};
  kind: SessionKind | null = null;
  /** The command of an `exec` request, the name of a subsystem, or a direct-tcpip channel's `host:port`. */
  command: string | null = null;
  readonly stdin: ReadableStream<Uint8Array>;
  /** Made on first use: a WritableStream costs ~1.5 KiB of heap in Node, and most sessions never write stderr. */
  get stdout(): WritableStream<Uint8Array> {
    return (this.out ??= this.writable(false));
  }
  get stderr(): WritableStream<Uint8Array> {
    return (this.err ??= this.writable(true));
  }
  /** Aborted when the channel or the connection closes. */
  readonly signal: AbortSignal;

  private readonly hooks: SessionHooks;
  private readonly abort = new AbortController();
  private envBytes = 0;
  private inQueue: Uint8Array[] = [];
  private inEof = false;
  private inCancelled = false;
  private inController!: ReadableStreamDefaultController<Uint8Array>;
  private inWaiter: (() => void) | null = null;
  private windowWaiters: (() => void)[] = [];
  private resizeListeners: ((cols: number, rows: number) => void)[] = [];
  private signalListeners: ((name: string) => void)[] = [];
  private outPending: Promise<void> = Promise.resolve();
  private out: WritableStream<Uint8Array> | null = null;
  private err: WritableStream<Uint8Array> | null = null;
  private exited = false;
  private running = false;
  /** What the application reported while waiting for input; undefined while it is busy. */
  private resumeState: unknown = undefined;

  constructor(user: string, hooks: SessionHooks) {
    this.user = user;
    this.hooks = hooks;
    this.signal = this.abort.signal;
    this.stdin = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.inController = c;
        },
        pull: () =>
          new Promise<void>((resolve) => {
            this.inWaiter = resolve;
            this.deliver();
          }),
        cancel: () => {
          this.inCancelled = true;
          for (const d of this.inQueue) this.hooks.consumed(d.length);
          this.inQueue = [];
        },
      },
      { highWaterMark: 0 },
    );
  }

  // ── what the application uses ───────────────────────────────────────────────────────────────────

  /** Listens for window-change requests. */
  onResize(listener: (cols: number, rows: number) => void): void {
    this.resizeListeners.push(listener);
  }

  /** Listens for `signal` (and `break`, as 'BREAK') requests. */
  onSignal(listener: (name: string) => void): void {
    this.signalListeners.push(listener);
  }

  /**
   * Tells the server the application is idle, waiting for input, and how to carry on from here: plain
   * data that `onResume` gets back after a Durable Object hibernated. Any input clears it again.
   */
  setResumeState(state: unknown): void {
    this.resumeState = state;
  }

  /** Sends exit-status (or exit-signal), EOF and CLOSE once the output written so far is out. */
  async exit(status: number | { signal: string; message?: string }): Promise<void> {
    if (this.exited) return;
    this.exited = true;
    try {
      await this.outPending;
    } catch {
      // output failed because the channel closed; nothing left to flush
    }
    if (this.hooks.closed()) return;
    if (!isForward(this.kind)) this.hooks.sendExit(status);
    this.hooks.sendEof();
    this.hooks.close();
  }

  /** Sends EOF once the output written so far is out: nothing more will be written (stdout or stderr). */
  async endOutput(): Promise<void> {
    try {
      await this.outPending;
    } catch {
      // the channel closed
    }
    if (!this.hooks.closed()) this.hooks.sendEof();
  }

  // ── what the connection layer calls ─────────────────────────────────────────────────────────────

  setPty(pty: PtyInfo): boolean {
    if (this.kind || this.pty) return false;
    this.pty = pty;
    return true;
  }

  setEnv(name: string, value: string): boolean {
    if (this.kind) return false;
    const size = name.length + value.length;
    if (Object.keys(this.env).length >= MAX_ENV || this.envBytes + size > MAX_ENV_BYTES) return false;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return false;
    this.env[name] = value;
    this.envBytes += size;
    return true;
  }

  begin(kind: SessionKind, command: string | null): boolean {
    if (this.kind) return false;
    this.kind = kind;
    this.command = command;
    return true;
  }

  /** Why this session cannot be saved now, or null. */
  unsaveableReason(): string | null {
    if (this.inQueue.length) return 'input is waiting for the application';
    if (this.windowWaiters.length) return 'output is waiting for the window';
    if (isForward(this.kind) && this.running) return 'a forwarded TCP connection is open';
    if (this.running && this.resumeState === undefined) return 'the application is busy';
    return null;
  }

  save(): SessionState {
    return {
      pty: this.pty,
      env: this.env,
      kind: this.kind,
      command: this.command,
      inEof: this.inEof,
      inCancelled: this.inCancelled,
      exited: this.exited,
      running: this.running,
      app: this.running ? this.resumeState : null,
    };
  }

  /** Puts a saved session back; a running application carries on through `resume`. */
  restore(state: SessionState, resume: ((s: Session, app: unknown) => Promise<number | void> | number | void) | undefined): void {
    this.pty = state.pty;
    this.env = state.env;
    this.kind = state.kind;
    this.command = state.command;
    this.exited = state.exited;
    if (state.inCancelled) void this.stdin.cancel().catch(() => {});
    if (state.inEof) this.receiveEof();
    if (state.running) {
      if (resume) void this.run((s) => resume(s, state.app));
      else void this.exit({ signal: 'HUP', message: 'the session could not be resumed' });
    }
  }

  async run(app: (s: Session) => Promise<number | void> | number | void): Promise<void> {
    let status: number;
    this.running = true;
    try {
      const r = await app(this);
      status = typeof r === 'number' ? r : 0;
    } catch (err) {
      this.running = false;
      if (this.hooks.closed()) return;
      status = 1;
      if (!(err instanceof ChannelClosedError)) {
        this.hooks.error?.(err);
        // Only a session has a stderr to say so on.
        if (!isForward(this.kind))
          try {
            this.hooks.sendData(new TextEncoder().encode('edgessh: internal error\r\n'), true);
          } catch {
            // the channel is gone
          }
      }
    }
    this.running = false;
    await this.exit(status);
  }

  resize(cols: number, rows: number): boolean {
    if (!this.pty) return false;
    this.pty.cols = cols;
    this.pty.rows = rows;
    for (const l of this.resizeListeners) l(cols, rows);
    return true;
  }

  deliverSignal(name: string): boolean {
    if (!this.signalListeners.length) return false;
    for (const l of this.signalListeners) l(name);
    return true;
  }

  receiveData(data: Uint8Array): void {
    if (this.inCancelled || this.inEof) {
      this.hooks.consumed(data.length);
      return;
    }
    this.resumeState = undefined;
    this.inQueue.push(data);
    this.deliver();
  }

  receiveEof(): void {
    this.resumeState = undefined;
    this.inEof = true;
    this.deliver();
  }

  windowOpened(): void {
    const w = this.windowWaiters;
    this.windowWaiters = [];
    for (const r of w) r();
  }

  /** The channel or connection is gone: wake everyone waiting, abort the application. */
  terminate(): void {
    if (this.abort.signal.aborted) return;
    this.abort.abort(new ChannelClosedError());
    this.inEof = true;
    this.deliver();
    this.windowOpened();
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────────

  private deliver(): void {
    const w = this.inWaiter;
    if (!w) return;
    const d = this.inQueue.shift();
    if (d) {
      this.inWaiter = null;
      this.inController.enqueue(d);
      this.hooks.consumed(d.length);
      w();
    } else if (this.inEof) {
      this.inWaiter = null;
      try {
        this.inController.close();
      } catch {
        // already closed
      }
      w();
    }
  }

  private writable(stderr: boolean): WritableStream<Uint8Array> {
    return new WritableStream<Uint8Array>(
      {
        write: (chunk) => {
          const p = this.writeOut(chunk, stderr);
          this.outPending = p.catch(() => {});
          return p;
        },
      },
      { highWaterMark: 1 },
    );
  }

  private async writeOut(chunk: Uint8Array, stderr: boolean): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.hooks.closed() || this.abort.signal.aborted) throw new ChannelClosedError();
      const n = Math.min(this.hooks.maxChunk(), chunk.length - off);
      if (n <= 0) {
        await new Promise<void>((r) => this.windowWaiters.push(r));
        continue;
      }
      this.hooks.sendData(chunk.subarray(off, off + n), stderr);
      off += n;
    }
  }
}
