/**
 * What a Durable Object needs to let an SSH session hibernate, kept runtime-neutral so Node tests drive
 * it too: the saved-state codec and timers backed by one alarm.
 *
 * A saved connection is split in two:
 * - the WebSocket attachment (≤ 16 KiB, kept by the runtime with the socket) holds the non-secret state —
 *   sequence numbers, how far each cipher has advanced, windows, the shell's line editor — as JSON,
 *   sealed with HMAC-SHA256 under a per-session key, so a corrupted or foreign attachment is refused;
 * - the object's own storage holds the secrets — that HMAC key and the current session keys (written
 *   once per key exchange, never per message).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { DirectionKeys } from '../crypto/types.ts';
import { equalConstantTime } from '../crypto/protection.ts';
import { fromBase64, toBase64 } from '../crypto/keys/index.ts';
import type { ServerConnectionState } from '../server.ts';
import { defaultTimer, type TimerFn } from '../timers.ts';

/** The runtime's limit on a WebSocket attachment; a larger state goes to storage instead. */
export const MAX_ATTACHMENT = 16 * 1024;

/** Kept in the object's storage under SECRETS_KEY. */
export interface SessionSecrets {
  v: 1;
  /** Random; ties an attachment to this object's session. */
  tag: string;
  macKey: Uint8Array;
  /** The key exchange count the keys belong to, or -1 before the first save. */
  epoch: number;
  keys: { out: DirectionKeys; in: DirectionKeys } | null;
}

export const SECRETS_KEY = 'session-secrets';
export const BODY_KEY = 'session-state';

/** What the WebSocket attachment holds. `body` null: not saved yet, or saved to storage (`inStorage`). */
export interface Attachment {
  v: 1;
  tag: string;
  peer: string;
  epoch: number;
  body: string | null;
  inStorage: boolean;
  mac: string;
}

export function newSecrets(): SessionSecrets {
  const tag = toBase64(crypto.getRandomValues(new Uint8Array(12)));
  return { v: 1, tag, macKey: crypto.getRandomValues(new Uint8Array(32)), epoch: -1, keys: null };
}

/** The attachment of a session that has not been saved yet (a wake now cannot resume it). */
export function unsavedAttachment(secrets: SessionSecrets, peer: string): Attachment {
  return { v: 1, tag: secrets.tag, peer, epoch: -1, body: null, inStorage: false, mac: '' };
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const macOf = (secrets: SessionSecrets, epoch: number, body: string) =>
  hmac(sha256, secrets.macKey, new TextEncoder().encode(`${secrets.tag}\n${epoch}\n${body}`));

/** JSON with byte arrays as {"$b": base64}; bigint does not occur in a saved state. */
function encodeJson(v: unknown): string {
  return JSON.stringify(v, function (this: unknown, _k, value: unknown) {
    return value instanceof Uint8Array ? { $b: toBase64(value) } : value;
  });
}

function decodeJson(s: string): unknown {
  return JSON.parse(s, (_k, value: unknown) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const o = value as Record<string, unknown>;
      if (typeof o.$b === 'string' && Object.keys(o).length === 1) return fromBase64(o.$b);
    }
    return value;
  });
}

export interface SealedState {
  attachment: Attachment;
  /** New keys to write to storage (after a key exchange), else null. */
  secrets: SessionSecrets | null;
  /** A body too large for the attachment, to write to storage under BODY_KEY, else null. */
  body: string | null;
  /** Bytes of state kept (attachment body or storage body). */
  size: number;
}

/** Splits a saved connection into the attachment and what goes to storage. */
export function sealState(state: ServerConnectionState, secrets: SessionSecrets, peer: string): SealedState {
  const { keys, ...rest } = state.transport;
  const epoch = state.transport.kexCount;
  let newSecrets: SessionSecrets | null = null;
  if (epoch !== secrets.epoch) newSecrets = { ...secrets, epoch, keys };
  const body = encodeJson({ transport: rest, connection: state.connection });
  const mac = hex(macOf(secrets, epoch, body));
  const inStorage = body.length > MAX_ATTACHMENT - 1024;
  return {
    attachment: { v: 1, tag: secrets.tag, peer, epoch, body: inStorage ? null : body, inStorage, mac },
    secrets: newSecrets,
    body: inStorage ? body : null,
    size: body.length,
  };
}

/** Checks and decodes a saved connection; a reason a person can read when it cannot be used. */
export function openState(
  attachment: unknown,
  secrets: SessionSecrets | undefined,
  storedBody: string | undefined,
): { state: ServerConnectionState; peer: string } | { reason: string } {
  const a = attachment as Partial<Attachment> | null;
  if (!a || typeof a !== 'object' || a.v !== 1 || typeof a.tag !== 'string' || typeof a.mac !== 'string')
    return { reason: 'the saved session state is missing or unreadable' };
  if (a.epoch === -1) return { reason: 'the object was evicted before the session could be saved (it was logging in or busy)' };
  if (!secrets || secrets.v !== 1) return { reason: 'the session keys are missing from storage' };
  if (a.tag !== secrets.tag) return { reason: 'the saved session state belongs to another session' };
  const body = a.inStorage ? storedBody : a.body;
  if (typeof body !== 'string') return { reason: a.inStorage ? 'the saved session state is missing from storage' : 'the saved session state is missing or unreadable' };
  const expect = macOf(secrets, a.epoch as number, body);
  const given = Uint8Array.from(a.mac.match(/../g) ?? [], (h) => parseInt(h, 16));
  if (!equalConstantTime(expect, given)) return { reason: 'the saved session state is corrupted' };
  if (a.epoch !== secrets.epoch || !secrets.keys) return { reason: 'the saved session state does not match its keys' };
  try {
    const o = decodeJson(body) as { transport: Omit<ServerConnectionState['transport'], 'keys'>; connection: ServerConnectionState['connection'] };
    return { state: { transport: { ...o.transport, keys: secrets.keys }, connection: o.connection }, peer: String(a.peer ?? 'unknown') };
  } catch {
    return { reason: 'the saved session state is corrupted' };
  }
}

/**
 * Timers for an object that may hibernate: a pending setTimeout keeps a Durable Object in memory, so
 * timers longer than `shortMs` live in a table behind the object's one alarm, and are re-created by the
 * restore after a wake (their deadlines are part of the saved state). Short ones use setTimeout.
 */
export class AlarmTimers {
  private entries = new Map<number, { at: number; fn: () => void }>();
  private nextId = 0;
  private alarmAt: number | null = null;

  constructor(
    private readonly alarm: { set(at: number): void; clear(): void },
    private readonly shortMs = 2000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  readonly setTimer: TimerFn = (fn, ms) => {
    if (ms < this.shortMs) return defaultTimer(fn, ms);
    const id = ++this.nextId;
    this.entries.set(id, { at: this.now() + ms, fn });
    this.sync();
    return {
      cancel: () => {
        if (this.entries.delete(id)) this.sync();
      },
    };
  };

  /** Sets the alarm again for the earliest timer (after what backs the alarm changed). */
  rearm(): void {
    this.alarmAt = null;
    this.sync();
  }

  /** The alarm rang: run what is due and set the alarm for the next one. */
  fire(): void {
    this.alarmAt = null; // the alarm that rang is spent
    const now = this.now();
    for (const [id, e] of [...this.entries]) {
      if (e.at > now || !this.entries.has(id)) continue;
      this.entries.delete(id);
      try {
        e.fn();
      } catch {
        // a timer's failure is its owner's business (the transport never throws from tick)
      }
    }
    this.sync();
  }

  private sync(): void {
    let min: number | null = null;
    for (const e of this.entries.values()) if (min === null || e.at < min) min = e.at;
    if (min === this.alarmAt) return;
    this.alarmAt = min;
    if (min === null) this.alarm.clear();
    else this.alarm.set(min);
  }
}
