// The few Workers runtime APIs edgessh uses, declared here so that src/ type-checks against the standard
// DOM Web Crypto types (@cloudflare/workers-types redeclares those differently).
declare module 'cloudflare:workers' {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: DurableObjectState;
    protected env: Env;
    constructor(ctx: DurableObjectState, env: Env);
  }
}

declare module 'cloudflare:sockets' {
  /** An outbound TCP connection (https://developers.cloudflare.com/workers/runtime-apis/tcp-sockets/). */
  export interface Socket {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
    readonly opened: Promise<unknown>;
    readonly closed: Promise<void>;
    close(): Promise<void>;
  }
  export function connect(address: { hostname: string; port: number }, options?: { secureTransport?: 'off' | 'on' | 'starttls'; allowHalfOpen?: boolean }): Socket;
}

declare module 'cloudflare:test' {
  export const SELF: { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };
  export const env: import('./env.ts').Env;
  export function runDurableObjectAlarm(stub: DurableObjectStub<unknown>): Promise<boolean>;
  export function listDurableObjectIds(namespace: DurableObjectNamespace<unknown>): Promise<DurableObjectId[]>;
  export function runInDurableObject<O, R>(stub: DurableObjectStub<O>, fn: (instance: O, state: DurableObjectState) => R | Promise<R>): Promise<R>;
}

interface DurableObjectId {
  toString(): string;
}

type DurableObjectStub<T> = {
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
} & {
  [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;
};

interface DurableObjectNamespace<T = unknown> {
  newUniqueId(): DurableObjectId;
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub<T>;
}

interface DurableObjectStorage {
  get<T>(key: string): Promise<T | undefined>;
  get<T>(keys: string[]): Promise<Map<string, T>>;
  list<T>(options?: { prefix?: string; limit?: number }): Promise<Map<string, T>>;
  put<T>(key: string, value: T): Promise<void>;
  put<T>(entries: Record<string, T>): Promise<void>;
  delete(key: string): Promise<boolean>;
  delete(keys: string[]): Promise<number>;
  transaction<T>(fn: (tx: DurableObjectStorage) => Promise<T>): Promise<T>;
}

interface DurableObjectState {
  readonly id: DurableObjectId;
  readonly storage: DurableObjectStorage;
}

interface Fetcher {
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}

declare class WebSocketPair {
  0: WebSocket & { accept(): void };
  1: WebSocket & { accept(): void };
}

interface ResponseInit {
  webSocket?: WebSocket | null;
}

// The WebSocket Hibernation API (Durable Objects).
interface WebSocket {
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
}

interface DurableObjectState {
  acceptWebSocket(ws: WebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): WebSocket[];
}

interface DurableObjectStorage {
  setAlarm(scheduledTime: number | Date): Promise<void>;
  getAlarm(): Promise<number | null>;
  deleteAlarm(): Promise<void>;
  deleteAll(): Promise<void>;
}

/** The part of workerd's node:crypto (`nodejs_compat`) the Worker uses: worker/native-crypto.ts. */
declare module 'node:crypto' {
  interface KeyObject {
    readonly type: 'secret' | 'public' | 'private';
  }
  interface Cipher {
    update(data: Uint8Array): Uint8Array;
  }
  export function getCiphers(): string[];
  export function createSecretKey(key: Uint8Array): KeyObject;
  export function createCipheriv(algorithm: string, key: KeyObject, iv: Uint8Array, options?: { authTagLength?: number }): Cipher;
}
