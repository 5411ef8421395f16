/**
 * The demo shell: a handful of commands for `exec`, and an interactive shell with line editing and
 * history on a pty. Plain data in, WHATWG streams for stdio, so it runs in a Worker, a page or Node.
 * Everything streams with backpressure: `head -c 1G /dev/zero` never holds more than a chunk.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { FileStorage } from './storage.ts';
import { baseName, joinPath, parentPath, storagePath, validPath } from './storage.ts';
import { runScp } from './scp.ts';

export interface ShellContext {
  user: string;
  env: Record<string, string>;
  pty: { term: string; cols: number; rows: number } | null;
  storage: FileStorage;
  startedAt: number;
  now?: () => number;
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
  stderr: WritableStream<Uint8Array>;
  onResize?: (listener: (cols: number, rows: number) => void) => void;
  signal?: AbortSignal;
  /** Called with the line editor's state after each input chunk (for hibernation). */
  onState?: (state: ShellState) => void;
}

export interface ShellState {
  line: string;
  cursor: number;
  history: string[];
  historyIndex: number;
  lastStatus: number;
  /** An escape sequence typed so far (arrow keys arrive as ESC [ A, maybe split). */
  esc: string;
  /** The last character was CR (a following LF is the same Enter). */
  lastWasCr: boolean;
  /** The working directory (`cd`), a storage path; absent is the top. */
  cwd?: string;
}

/** A saved ShellState, checked field by field (it comes back from storage); null when it does not fit. */
export function parseShellState(x: unknown): ShellState | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  const int = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
  if (typeof o.line !== 'string' || o.line.length > MAX_LINE || !int(o.cursor, o.line.length)) return null;
  if (!Array.isArray(o.history) || o.history.length > MAX_HISTORY || !o.history.every((h) => typeof h === 'string' && h.length <= MAX_LINE)) return null;
  if (!int(o.historyIndex, o.history.length) || !int(o.lastStatus, 0xffffffff)) return null;
  if (typeof o.esc !== 'string' || o.esc.length > 8 || typeof o.lastWasCr !== 'boolean') return null;
  if (o.cwd !== undefined && !(typeof o.cwd === 'string' && validPath(o.cwd))) return null;
  const cwd = o.cwd ? { cwd: o.cwd as string } : {};
  return { line: o.line, cursor: o.cursor as number, history: [...(o.history as string[])], historyIndex: o.historyIndex as number, lastStatus: o.lastStatus as number, esc: o.esc, lastWasCr: o.lastWasCr, ...cwd };
}

const MAX_FILE = 16 * 1024 * 1024;
const MAX_HISTORY = 100;
/** The line editor's longest line (a paste beyond it is cut, as a terminal's line discipline would). */
const MAX_LINE = 4096;
const CHUNK = 32 * 1024;
const enc = new TextEncoder();

const HELP = `edgessh demo shell. Commands:
  help, echo ARGS, whoami, date, uptime, env, clear, true, false, exit [N], stty size
  ls [DIR], cat [FILE...], cat > FILE, rm FILE    files kept per user
  mkdir DIR, rmdir DIR, mv FROM... TO, cd [DIR], pwd
  wc -c, sha256sum, cat > /dev/null               read standard input
  head -c N /dev/zero                             N zero bytes
Join commands with | ; && || as in sh. Files also move with scp and sftp from your machine
(scp file you@host:).
`;

/** rm, mkdir or rmdir of one path: null when done, else why not (as coreutils words it). */
async function fileCommand(command: string, arg: string, cwd: string, ctx: { user: string; storage: FileStorage }): Promise<string | null> {
  const path = pathFrom(cwd, arg);
  const st = path === null ? null : await ctx.storage.stat(ctx.user, path);
  if (command === 'mkdir') {
    if (st) return 'File exists';
    if (path === null) return 'Invalid file name';
    const parent = await ctx.storage.stat(ctx.user, parentPath(path));
    if (!parent) return 'No such file or directory';
    if (!parent.dir) return 'Not a directory';
    try {
      return (await ctx.storage.mkdir(ctx.user, path)) ? null : 'File exists';
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (!st || path === null) return 'No such file or directory';
  if (command === 'rm') return st.dir ? 'Is a directory' : (await ctx.storage.remove(ctx.user, path)) ? null : 'No such file or directory';
  if (!st.dir) return 'Not a directory';
  if (path === '') return 'Device or resource busy';
  return (await ctx.storage.rmdir(ctx.user, path)) ? null : 'Directory not empty';
}

/** mv of one path (into `target` when it is a directory): null when done, else the message after `mv: `. */
async function move(arg: string, target: string, intoDir: boolean, cwd: string, ctx: { user: string; storage: FileStorage }): Promise<string | null> {
  const from = pathFrom(cwd, arg);
  const src = from ? await ctx.storage.stat(ctx.user, from) : null;
  if (!from || !src) return `cannot stat '${arg}': No such file or directory`;
  const base = pathFrom(cwd, target);
  const to = base === null ? null : intoDir ? joinPath(base, baseName(from)) : base;
  if (to === null || to === '') return `cannot move '${arg}' to '${target}': Invalid file name`;
  if (to === from) return `'${arg}' and '${target}' are the same file`;
  if (to.startsWith(`${from}/`)) return `cannot move '${arg}' to a subdirectory of itself, '${target}'`;
  const there = await ctx.storage.stat(ctx.user, to);
  if (there?.dir) return `cannot overwrite directory '${to}' with non-directory`;
  if (there && src.dir) return `cannot overwrite non-directory '${to}' with directory '${arg}'`;
  if (!(await ctx.storage.stat(ctx.user, parentPath(to)))?.dir) return `cannot move '${arg}' to '${target}': No such file or directory`;
  return (await ctx.storage.rename(ctx.user, from, to)) ? null : `cannot move '${arg}' to '${target}': a path inside would be too deep or too long`;
}

/**
 * What a command line changes for the ones after it: an `exit`, and the working directory (`cd`), a storage
 * path ('' the top). A pipeline's commands each get their own copy, as sh runs them in subshells.
 */
interface RunState {
  exitRequested: number | null;
  cwd: string;
}

/** A path as typed, from the working directory (or the top, when it starts with /), as a storage path; null for none. */
const pathFrom = (cwd: string, arg: string) => storagePath(arg.startsWith('/') ? arg : `${cwd}/${arg}`);

class Interrupted extends Error {}

/** Raw input with pushback; one pending read shared between the shell and an interrupt watcher. */
class Input {
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  private buf: Uint8Array[] = [];
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  private pendingSettled = false;
  /** Readers waiting on the pending read, and the last result a reader took (see takenByReader). */
  private waiting = 0;
  private lastTaken: ReadableStreamReadResult<Uint8Array> | null = null;
  eof = false;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }
  raw(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (!this.pending) {
      this.pendingSettled = false;
      this.pending = this.reader.read().catch(() => ({ done: true, value: undefined }) as ReadableStreamReadResult<Uint8Array>);
      void this.pending.then(() => (this.pendingSettled = true));
    }
    return this.pending;
  }
  /** Nothing read and not yet handled: the shell's state alone says where it stands. */
  idle(): boolean {
    return this.buf.length === 0 && !this.eof && !(this.pending && this.pendingSettled);
  }
  async read(): Promise<Uint8Array | null> {
    const b = this.buf.shift();
    if (b) return b;
    if (this.eof) return null;
    this.waiting++;
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await this.raw();
    } finally {
      this.waiting--;
    }
    this.pending = null;
    this.lastTaken = r;
    if (r.done) {
      this.eof = true;
      return null;
    }
    return r.value;
  }
  unread(b: Uint8Array): void {
    if (b.length) this.buf.unshift(b);
  }
  typeahead(b: Uint8Array): void {
    this.buf.push(b);
  }
  consumedRaw(): void {
    this.pending = null;
  }
  /**
   * For the interrupt watcher, which shares the pending read with a command that reads its input (a line
   * such as `cat | wc -c` or `true; cat` has both): whether a reader takes this result itself, so the
   * watcher must not queue it again. A reader either still waits for it, or (resumed first) has taken it.
   */
  takenByReader(r: ReadableStreamReadResult<Uint8Array>): boolean {
    return this.waiting > 0 || this.lastTaken === r;
  }
  release(): void {
    try {
      this.reader.releaseLock();
    } catch {
      // a read is pending; the stream goes away with the channel
    }
  }
}

/** stdout/stderr with a terminal's LF → CR LF when there is a pty. */
/** A stream's one writer, shared by the line editor and the commands it runs (a lock is exclusive). */
const writers = new WeakMap<WritableStream<Uint8Array>, { w: WritableStreamDefaultWriter<Uint8Array>; refs: number }>();

/**
 * Takes the stream (and its shared writer) only on the first write: a session's stderr is made when first
 * asked for (see Session.stderr), and an idle shell has written nothing to it.
 */
class Output {
  private w: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private stream: WritableStream<Uint8Array> | null = null;
  private released = false;
  constructor(
    private readonly get: () => WritableStream<Uint8Array>,
    private readonly crlf: boolean,
  ) {}
  private writer(): WritableStreamDefaultWriter<Uint8Array> {
    if (this.w) return this.w;
    const stream = (this.stream = this.get());
    let shared = writers.get(stream);
    if (!shared) writers.set(stream, (shared = { w: stream.getWriter(), refs: 0 }));
    shared.refs++;
    return (this.w = shared.w);
  }
  async write(data: Uint8Array | string): Promise<void> {
    if (this.released) throw new TypeError('this output was released'); // as a released writer's write rejects
    let b = typeof data === 'string' ? enc.encode(data) : data;
    if (this.crlf && b.includes(0x0a)) b = toCrlf(b);
    if (b.length) await this.writer().write(b);
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.w) return;
    const shared = writers.get(this.stream!)!;
    if (--shared.refs === 0) {
      writers.delete(this.stream!);
      this.w.releaseLock();
    }
  }
}

function toCrlf(b: Uint8Array): Uint8Array {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a && (i === 0 || b[i - 1] !== 0x0d)) n++;
  const out = new Uint8Array(b.length + n);
  let o = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0a && (i === 0 || b[i - 1] !== 0x0d)) out[o++] = 0x0d;
    out[o++] = b[i]!;
  }
  return out;
}

/** The word an unquoted `>` becomes (no file name can hold a NUL, so a quoted ">" stays a plain word). */
export const REDIRECT = '\0>';

/** An unquoted operator between commands. */
export type ListOp = ';' | '&&' | '||';
/** A command's words, or an operator between commands, or one this shell refuses (`|`, `&`). */
export type Token = { word: string } | { op: ListOp | '|' | '&' };

/**
 * Words with single and double quotes; unquoted `>` (as REDIRECT), `;`, `&&`, `||`, `|` and `&` are tokens
 * of their own; an unquoted `#` at the start of a word starts a comment. Null for an unterminated quote.
 */
export function tokenize(line: string): Token[] | null {
  const out: Token[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  const end = () => {
    if (inWord) out.push({ word: cur });
    cur = '';
    inWord = false;
  };
  const chars = [...line];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      end();
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === '>') {
      end();
      out.push({ word: REDIRECT });
    } else if (c === ';') {
      end();
      out.push({ op: ';' });
    } else if (c === '&' || c === '|') {
      end();
      if (chars[i + 1] === c) {
        out.push({ op: c === '&' ? '&&' : '||' });
        i++;
      } else out.push({ op: c });
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) return null;
  end();
  return out;
}

interface Io {
  ctx: ShellContext;
  input: Input;
  /** Reads standard input for a command: raw bytes, or cooked lines typed at a terminal. */
  stdin: () => Promise<Uint8Array | null>;
  out: Output;
  err: Output;
  interrupt: AbortSignal;
}

function checkAbort(io: Io): void {
  if (io.interrupt.aborted) throw new Interrupted();
  if (io.ctx.signal?.aborted) throw io.ctx.signal.reason ?? new Error('closed');
}

async function drain(io: Io, each: (b: Uint8Array) => void | Promise<void>): Promise<void> {
  for (;;) {
    checkAbort(io);
    const b = await io.stdin();
    if (!b) return;
    await each(b);
  }
}

/**
 * Runs one command line as sh runs it: pipelines (`a | b`) joined by `;`, `&&` and `||` (each after the one
 * before; `&&` only after a success, `||` only after a failure); the status is the last pipeline's. `exit`
 * ends the list. Background jobs (`&`) are refused by name rather than run as something else.
 */
async function execute(line: string, io: Io, state: RunState): Promise<number> {
  const tokens = tokenize(line);
  if (!tokens) {
    await io.err.write('edgessh: unterminated quote\n');
    return 2;
  }
  // Split into pipelines of commands, checking the whole line first (sh reports a syntax error before
  // running anything).
  const pipelines: { stages: string[][]; after: ListOp | null }[] = [];
  let stages: string[][] = [];
  let words: string[] = [];
  let after: ListOp | null = null;
  for (const t of tokens) {
    if ('word' in t) {
      words.push(t.word);
      continue;
    }
    if (t.op === '&') {
      await io.err.write('edgessh: background jobs (&) are not supported in this shell\n');
      return 2;
    }
    if (!words.length) {
      await io.err.write(`edgessh: syntax error near unexpected token \`${t.op}'\n`);
      return 2;
    }
    stages.push(words);
    words = [];
    if (t.op === '|') continue;
    pipelines.push({ stages, after });
    stages = [];
    after = t.op;
  }
  if (words.length) pipelines.push({ stages: [...stages, words], after });
  else if (stages.length || (after && after !== ';')) {
    await io.err.write(`edgessh: syntax error: the line ends with \`${stages.length ? '|' : after}'\n`);
    return 2;
  }
  let status = 0;
  for (const p of pipelines) {
    if ((p.after === '&&' && status !== 0) || (p.after === '||' && status === 0)) continue;
    status = p.stages.length === 1 ? await runCommand(p.stages[0]!, io, state) : await runPipeline(p.stages, io, state.cwd);
    if (state.exitRequested !== null) break;
  }
  return status;
}

/** Status of a command whose output went away under it (sh reports 128 + SIGPIPE). */
const BROKEN_PIPE = 141;

/**
 * `a | b | c`: the commands run at once, each one's standard output the next one's input through a small
 * buffer (backpressure, never the whole output in memory). A command that ends closes its output (the
 * next sees EOF) and stops reading its input (the one before stops with status 141, as SIGPIPE stops it).
 * Each runs as in a subshell: `exit` ends only its own command. The status is the last command's.
 */
async function runPipeline(stages: string[][], io: Io, cwd: string): Promise<number> {
  const pipes = stages.slice(1).map(() => new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 4 }, { highWaterMark: 4 }));
  const readerGone = pipes.map(() => false);
  const stop = () => {
    for (const p of pipes) {
      void p.readable.cancel().catch(() => {});
      void p.writable.abort().catch(() => {});
    }
  };
  const runs = stages.map(async (words, i) => {
    const reader = i > 0 ? pipes[i - 1]!.readable.getReader() : null;
    const out = i < pipes.length ? new Output(() => pipes[i]!.writable, false) : io.out;
    const fromPipe = async () => {
      const r = await reader!.read();
      return r.done ? null : r.value;
    };
    const stdin = reader ? fromPipe : io.stdin;
    try {
      return await runCommand(words, { ...io, stdin, out }, { exitRequested: null, cwd });
    } catch (e) {
      if (i < pipes.length && readerGone[i]) return BROKEN_PIPE;
      throw e;
    } finally {
      if (out !== io.out) {
        out.release();
        await pipes[i]!.writable.close().catch(() => {}); // EOF for the next command
      }
      if (reader) {
        readerGone[i - 1] = true;
        await reader.cancel().catch(() => {}); // the command before stops at its next write
      }
    }
  });
  try {
    return (await Promise.all(runs)).at(-1)!;
  } catch (e) {
    stop(); // an interrupt or a closed channel: nothing in the pipeline may go on
    throw e;
  }
}

/** Runs one command: its words, the first being the command's name. */
async function runCommand(words: string[], io: Io, state: RunState): Promise<number> {
  const [cmd, ...args] = words as [string, ...string[]];
  const redirect = words.indexOf(REDIRECT);
  if (redirect >= 0 && !(cmd === 'cat' && redirect === 1)) {
    await io.err.write('edgessh: only `cat > NAME` writes a file in this shell\n');
    return 2;
  }
  const { ctx } = io;
  const now = ctx.now?.() ?? Date.now();
  switch (cmd) {
    case 'help':
      await io.out.write(HELP);
      return 0;
    case 'echo':
      await io.out.write(args.join(' ') + '\n');
      return 0;
    case 'whoami':
      await io.out.write(ctx.user + '\n');
      return 0;
    case 'date':
      await io.out.write(new Date(now).toUTCString() + '\n');
      return 0;
    case 'uptime': {
      const s = Math.max(0, Math.floor((now - ctx.startedAt) / 1000));
      await io.out.write(`up ${Math.floor(s / 86400)} days, ${String(Math.floor(s / 3600) % 24).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}\n`);
      return 0;
    }
    case 'env': {
      const env: Record<string, string> = { USER: ctx.user, HOME: `/home/${ctx.user}`, SHELL: '/bin/edgessh', ...(ctx.pty ? { TERM: ctx.pty.term } : {}), ...ctx.env };
      await io.out.write(Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''));
      return 0;
    }
    case 'clear':
      await io.out.write('\x1b[H\x1b[2J');
      return 0;
    case 'stty': {
      // Only `stty size` (rows cols, as stty prints it), which follows window-change.
      if (args.join(' ') !== 'size') {
        await io.err.write('edgessh: stty: only `stty size` is supported\n');
        return 1;
      }
      if (!ctx.pty) {
        await io.err.write("stty: 'standard input': Inappropriate ioctl for device\n");
        return 1;
      }
      await io.out.write(`${ctx.pty.rows} ${ctx.pty.cols}\n`);
      return 0;
    }
    case 'true':
      return 0;
    case 'false':
      return 1;
    case 'exit': {
      const n = args[0] === undefined ? 0 : Number(args[0]);
      if (!Number.isInteger(n)) {
        await io.err.write(`edgessh: exit: ${args[0]}: numeric argument required\n`);
        state.exitRequested = 2;
        return 2;
      }
      state.exitRequested = ((n % 256) + 256) % 256;
      return state.exitRequested;
    }
    case 'scp': {
      // The remote end of an scp client (scp -t / scp -f): bytes, never a terminal's cooked lines.
      if (ctx.pty) {
        await io.err.write('scp: the scp protocol runs without a terminal (as an scp client starts it)\n');
        return 1;
      }
      return runScp(args, {
        user: ctx.user,
        storage: ctx.storage,
        read: () => io.stdin(),
        unread: (b) => io.input.unread(b),
        write: (b) => io.out.write(b),
        error: (line) => io.err.write(line + '\n'),
      });
    }
    case 'cd': {
      if (args.length > 1) {
        await io.err.write('cd: too many arguments\n');
        return 1;
      }
      const path = args.length ? pathFrom(state.cwd, args[0]!) : '';
      const st = path === null ? null : await ctx.storage.stat(ctx.user, path);
      if (!st?.dir) {
        await io.err.write(`cd: ${args[0]}: ${st ? 'Not a directory' : 'No such file or directory'}\n`);
        return 1;
      }
      state.cwd = path!;
      return 0;
    }
    case 'pwd':
      await io.out.write(`/${state.cwd}\n`);
      return 0;
    case 'ls': {
      let status = 0;
      const many = args.length > 1;
      for (const [i, arg] of (args.length ? args : ['']).entries()) {
        const path = pathFrom(state.cwd, arg);
        const st = path === null ? null : await ctx.storage.stat(ctx.user, path);
        if (!st) {
          await io.err.write(`ls: cannot access '${arg}': No such file or directory\n`);
          status = 2;
          continue;
        }
        if (!st.dir) {
          await io.out.write(`${arg}\n`);
          continue;
        }
        const names = await ctx.storage.list(ctx.user, path!);
        await io.out.write((many ? `${i ? '\n' : ''}${arg}:\n` : '') + names.map((n) => n + '\n').join(''));
      }
      return status;
    }
    case 'mv': {
      if (args.length < 2) {
        await io.err.write(args.length ? `mv: missing destination file operand after '${args[0]}'\n` : 'mv: missing file operand\n');
        return 1;
      }
      const target = args.at(-1)!;
      const targetPath = pathFrom(state.cwd, target);
      const intoDir = targetPath === '' || (!!targetPath && !!(await ctx.storage.stat(ctx.user, targetPath))?.dir);
      if (args.length > 2 && !intoDir) {
        await io.err.write(`mv: target '${target}': Not a directory\n`);
        return 1;
      }
      let status = 0;
      for (const arg of args.slice(0, -1)) {
        const why = await move(arg, target, intoDir, state.cwd, ctx);
        if (why) {
          await io.err.write(`mv: ${why}\n`);
          status = 1;
        }
      }
      return status;
    }
    case 'rm':
    case 'mkdir':
    case 'rmdir': {
      if (!args.length) {
        await io.err.write(`${cmd}: missing operand\n`);
        return 1;
      }
      let status = 0;
      for (const arg of args) {
        const why = await fileCommand(cmd, arg, state.cwd, ctx);
        if (why) {
          const verb = cmd === 'rm' ? 'cannot remove' : cmd === 'mkdir' ? 'cannot create directory' : 'failed to remove';
          await io.err.write(`${cmd}: ${verb} '${arg}': ${why}\n`);
          status = 1;
        }
      }
      return status;
    }
    case 'cat': {
      if (args[0] === REDIRECT) {
        const name = args[1];
        if (!name || args.length > 2) {
          await io.err.write('edgessh: usage: cat > NAME\n');
          return 2;
        }
        if (name === '/dev/null') {
          await drain(io, () => {});
          return 0;
        }
        const path = pathFrom(state.cwd, name);
        if (!path) {
          await io.err.write(`cat: ${name}: ${path === '' ? 'Is a directory' : 'Invalid file name'}\n`);
          await drain(io, () => {});
          return 1;
        }
        const parts: Uint8Array[] = [];
        let size = 0;
        let tooBig = false;
        await drain(io, (b) => {
          size += b.length;
          if (size > MAX_FILE) tooBig = true;
          else parts.push(b.slice());
        });
        if (tooBig) {
          await io.err.write(`cat: ${name}: File too large\n`);
          return 1;
        }
        const data = new Uint8Array(size);
        let o = 0;
        for (const p of parts) (data.set(p, o), (o += p.length));
        try {
          await ctx.storage.write(ctx.user, path, data);
        } catch (e) {
          await io.err.write(`cat: ${name}: ${(e as Error).message}\n`);
          return 1;
        }
        return 0;
      }
      if (!args.length) {
        await drain(io, (b) => io.out.write(b));
        return 0;
      }
      let status = 0;
      for (const name of args) {
        const path = pathFrom(state.cwd, name);
        const data = path ? await ctx.storage.read(ctx.user, path) : null;
        if (!data) {
          const dir = path === '' || (path && (await ctx.storage.stat(ctx.user, path))?.dir);
          await io.err.write(`cat: ${name}: ${dir ? 'Is a directory' : 'No such file or directory'}\n`);
          status = 1;
          continue;
        }
        for (let i = 0; i < data.length; i += CHUNK) {
          checkAbort(io);
          await io.out.write(data.subarray(i, i + CHUNK));
        }
      }
      return status;
    }
    case 'wc': {
      if (args.length !== 1 || args[0] !== '-c') {
        await io.err.write('wc: only `wc -c` reading standard input is supported\n');
        return 1;
      }
      let n = 0;
      await drain(io, (b) => void (n += b.length));
      await io.out.write(`${n}\n`);
      return 0;
    }
    case 'sha256sum': {
      if (args.length) {
        await io.err.write('sha256sum: only standard input is supported\n');
        return 1;
      }
      const h = sha256.create();
      await drain(io, (b) => void h.update(b));
      await io.out.write(`${Array.from(h.digest(), (x) => x.toString(16).padStart(2, '0')).join('')}  -\n`);
      return 0;
    }
    case 'head': {
      const n = Number(args[1]);
      if (args.length !== 3 || args[0] !== '-c' || args[2] !== '/dev/zero' || !Number.isSafeInteger(n) || n < 0) {
        await io.err.write('head: only `head -c N /dev/zero` is supported\n');
        return 1;
      }
      const zeros = new Uint8Array(CHUNK);
      for (let left = n; left > 0; left -= CHUNK) {
        checkAbort(io);
        await io.out.write(left >= CHUNK ? zeros : zeros.subarray(0, left));
      }
      return 0;
    }
    default:
      await io.err.write(`edgessh: ${cmd}: command not found\n`);
      return 127;
  }
}

function makeIo(ctx: ShellContext, input: Input, stdin: () => Promise<Uint8Array | null>, interrupt: AbortSignal): Io {
  const crlf = !!ctx.pty;
  return { ctx, input, stdin, out: new Output(() => ctx.stdout, crlf), err: new Output(() => ctx.stderr, crlf), interrupt };
}

/** Runs one command (an `exec` request); resolves to its exit status. */
export async function runExec(command: string, ctx: ShellContext): Promise<number> {
  const input = new Input(ctx.stdin);
  const io = makeIo(ctx, input, () => input.read(), new AbortController().signal);
  try {
    return await execute(command, io, { exitRequested: null, cwd: '' });
  } finally {
    io.out.release();
    io.err.release();
    input.release();
  }
}

/** The interactive shell (with a pty), or a script read line by line from stdin (without one). */
export async function runShell(ctx: ShellContext, initial?: ShellState): Promise<number> {
  const input = new Input(ctx.stdin);
  // window-change updates the size `stty size` reports.
  ctx.onResize?.((cols, rows) => {
    if (ctx.pty) ctx.pty = { ...ctx.pty, cols, rows };
  });
  const state: ShellState = initial
    ? { ...initial, history: [...initial.history] }
    : { line: '', cursor: 0, history: [], historyIndex: 0, lastStatus: 0, esc: '', lastWasCr: false };
  const flags: RunState = { exitRequested: null, cwd: initial?.cwd ?? '' };
  try {
    if (!ctx.pty) return await scriptMode(ctx, input, state, flags);
    return await interactive(ctx, input, state, flags, initial !== undefined);
  } finally {
    input.release();
  }
}

async function scriptMode(ctx: ShellContext, input: Input, state: ShellState, flags: RunState): Promise<number> {
  let pending = '';
  const dec = new TextDecoder();
  const io = makeIo(ctx, input, () => input.read(), new AbortController().signal);
  try {
    for (;;) {
      const nl = pending.indexOf('\n');
      if (nl < 0) {
        const b = await input.read();
        if (!b) {
          if (pending.trim()) state.lastStatus = await execute(pending, io, flags);
          return flags.exitRequested ?? state.lastStatus;
        }
        pending += dec.decode(b, { stream: true });
        continue;
      }
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      state.lastStatus = await execute(line, io, flags);
      if (flags.exitRequested !== null) return flags.exitRequested;
    }
  } finally {
    io.out.release();
    io.err.release();
  }
}

async function interactive(
  ctx: ShellContext,
  input: Input,
  state: ShellState,
  flags: RunState,
  resumed: boolean,
): Promise<number> {
  const out = new Output(() => ctx.stdout, true);
  const prompt = () => `${ctx.user}@edgessh:~${flags.cwd ? `/${flags.cwd}` : ''}$ `;
  const dec = new TextDecoder();
  const redraw = async () => {
    const back = state.line.length - state.cursor;
    await out.write(`\r${prompt()}${state.line}\x1b[K${back ? `\x1b[${back}D` : ''}`);
  };
  try {
    // A resumed shell's prompt and line are on the user's screen already.
    if (!resumed) await out.write(`Welcome to edgessh, ${ctx.user}. Type 'help' for commands.\n${prompt()}`);
    for (;;) {
      // Waiting for input with nothing half-handled: the state says it all (see Session.setResumeState).
      if (input.idle()) ctx.onState?.({ ...state, history: [...state.history], ...(flags.cwd ? { cwd: flags.cwd } : {}) });
      const b = await input.read();
      if (!b) return state.lastStatus;
      const text = dec.decode(b, { stream: true });
      const chars = [...text];
      for (let i = 0; i < chars.length; i++) {
        const c = chars[i]!;
        if (state.esc) {
          state.esc += c;
          if (state.esc.length === 2 && c !== '[' && c !== 'O') state.esc = '';
          else if (state.esc.length > 8) state.esc = '';
          else if (state.esc.length >= 3 && /[A-Za-z~]/.test(c)) {
            const seq = state.esc;
            state.esc = '';
            const key = seq[seq.length - 1];
            if (key === 'A' || key === 'B') {
              if (!state.history.length) continue;
              state.historyIndex = Math.max(0, Math.min(state.history.length, state.historyIndex + (key === 'A' ? -1 : 1)));
              state.line = state.history[state.historyIndex] ?? '';
              state.cursor = state.line.length;
            } else if (key === 'C') state.cursor = Math.min(state.line.length, state.cursor + 1);
            else if (key === 'D') state.cursor = Math.max(0, state.cursor - 1);
            else if (key === 'H') state.cursor = 0;
            else if (key === 'F') state.cursor = state.line.length;
            else if (seq === '\x1b[3~' && state.cursor < state.line.length) state.line = state.line.slice(0, state.cursor) + state.line.slice(state.cursor + 1);
            await redraw();
          }
          continue;
        }
        const wasCr = state.lastWasCr;
        state.lastWasCr = c === '\r';
        if (c === '\n' && wasCr) continue; // CR LF from some clients is one Enter
        if (c === '\r' || c === '\n') {
          await out.write('\n');
          const line = state.line;
          state.line = '';
          state.cursor = 0;
          if (line.trim()) {
            if (state.history[state.history.length - 1] !== line) state.history.push(line);
            if (state.history.length > MAX_HISTORY) state.history.shift();
          }
          state.historyIndex = state.history.length;
          // Bytes typed after Enter belong to the command (or the next prompt).
          const rest = chars.slice(i + 1).join('');
          if (rest) input.unread(enc.encode(rest));
          state.lastStatus = await runInteractive(line, ctx, input, flags);
          if (flags.exitRequested !== null) return flags.exitRequested;
          await out.write(prompt());
          break; // re-read: the rest of this chunk was handed back to the input
        }
        switch (c) {
          case '\x1b':
            state.esc = c;
            break;
          case '\x7f':
          case '\b':
            if (state.cursor > 0) {
              state.line = state.line.slice(0, state.cursor - 1) + state.line.slice(state.cursor);
              state.cursor--;
              await redraw();
            }
            break;
          case '\x03':
            await out.write('^C\n' + prompt());
            state.line = '';
            state.cursor = 0;
            state.historyIndex = state.history.length;
            break;
          case '\x04':
            if (!state.line) {
              await out.write('logout\n');
              return 0;
            }
            if (state.cursor < state.line.length) {
              state.line = state.line.slice(0, state.cursor) + state.line.slice(state.cursor + 1);
              await redraw();
            }
            break;
          case '\x01':
            state.cursor = 0;
            await redraw();
            break;
          case '\x05':
            state.cursor = state.line.length;
            await redraw();
            break;
          case '\x15':
            state.line = state.line.slice(state.cursor);
            state.cursor = 0;
            await redraw();
            break;
          case '\x0c':
            await out.write('\x1b[H\x1b[2J');
            await redraw();
            break;
          default:
            if (c >= ' ' && state.line.length < MAX_LINE) {
              state.line = state.line.slice(0, state.cursor) + c + state.line.slice(state.cursor);
              state.cursor++;
              if (state.cursor === state.line.length) await out.write(c);
              else await redraw();
            }
        }
      }
    }
  } finally {
    out.release();
  }
}

/** Runs a command typed at the terminal: its stdin is cooked (echoed, line-edited, Ctrl-D ends it). */
async function runInteractive(line: string, ctx: ShellContext, input: Input, flags: RunState): Promise<number> {
  const interrupt = new AbortController();
  let echo!: Output;
  let cooked = '';
  let cookedEof = false;
  const dec = new TextDecoder();
  const stdin = async (): Promise<Uint8Array | null> => {
    if (cookedEof) return null;
    for (;;) {
      const b = await input.read();
      if (!b) return null;
      const chars = [...dec.decode(b, { stream: true })];
      for (let i = 0; i < chars.length; i++) {
        const c = chars[i]!;
        if (c === '\x03') {
          interrupt.abort();
          throw new Interrupted();
        }
        if (c === '\x04') {
          if (!cooked) {
            cookedEof = true;
            input.unread(enc.encode(chars.slice(i + 1).join('')));
            return null;
          }
          const l = cooked;
          cooked = '';
          input.unread(enc.encode(chars.slice(i + 1).join('')));
          return enc.encode(l);
        }
        if (c === '\r' || c === '\n') {
          await echo.write('\n');
          const l = cooked + '\n';
          cooked = '';
          input.unread(enc.encode(chars.slice(i + 1).join('').replace(/^\n/, '')));
          return enc.encode(l);
        }
        if (c === '\x7f' || c === '\b') {
          if (cooked) {
            cooked = [...cooked].slice(0, -1).join('');
            await echo.write('\b \b');
          }
          continue;
        }
        if (c >= ' ' || c === '\t') {
          cooked += c;
          await echo.write(c);
        }
      }
    }
  };
  // Commands that do not read stdin still stop on Ctrl-C: watch the input while they run.
  let done = false;
  let stopWatcher!: () => void;
  const stopWatch = new Promise<void>((r) => (stopWatcher = r));
  const readsStdin = /^\s*(cat(\s*$|\s*>)|wc\b|sha256sum\b)/.test(line);
  const watcher = readsStdin
    ? Promise.resolve()
    : (async () => {
        while (!done) {
          const r = await Promise.race([input.raw(), stopWatch.then(() => null)]);
          if (!r || done) return;
          if (r.done) return;
          const ctrlC = r.value.includes(0x03);
          if (ctrlC) interrupt.abort();
          if (input.takenByReader(r)) continue;
          input.consumedRaw();
          if (!ctrlC) input.typeahead(r.value);
        }
      })();
  const io = makeIo(ctx, input, stdin, interrupt.signal);
  echo = io.out;
  try {
    return await execute(line, io, flags);
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    await io.out.write('^C\n');
    return 130;
  } finally {
    done = true;
    stopWatcher();
    await watcher;
    io.out.release();
    io.err.release();
  }
}
