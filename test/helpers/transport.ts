// Helpers for driving transports by hand in tests.
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import { loopback, type SideOptions } from '../../src/io/loopback.ts';
import { Transport, type CloseInfo, type TransportEvent, type TransportOptions } from '../../src/transport/transport.ts';
import { NONE_SEALER } from '../../src/crypto/registry.ts';
import { framePacket } from '../../src/transport/packets.ts';
import { Writer } from '../../src/wire/writer.ts';
import { MSG } from '../../src/wire/messages.ts';

const cache = new Map<string, Promise<PrivateKey>>();
export function testKey(type: Parameters<typeof generatePrivateKey>[0] = 'ed25519'): Promise<PrivateKey> {
  if (!cache.has(type)) cache.set(type, generatePrivateKey(type, type === 'rsa' ? 2048 : undefined, `test ${type}`));
  return cache.get(type)!;
}

export interface Recorded {
  events: TransportEvent[];
  closed: CloseInfo | null;
}

export function recorder(): Recorded & Pick<TransportOptions, 'onEvent' | 'onClose'> {
  const r: Recorded & Pick<TransportOptions, 'onEvent' | 'onClose'> = {
    events: [],
    closed: null,
    onEvent: (e) => r.events.push(e),
    onClose: (c) => (r.closed = c),
  };
  return r;
}

/** Runs microtasks and timers until `cond` holds (or throws after `ms`). */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** A client and a server over an in-memory pair, started, with events recorded. */
export async function pair(
  clientOpts: Partial<SideOptions> = {},
  serverOpts: Partial<SideOptions> = {},
  hostKeys?: PrivateKey[],
) {
  const c = recorder();
  const s = recorder();
  const keys = hostKeys ?? [await testKey('ed25519')];
  const lp = loopback(
    { ...c, ...clientOpts, onEvent: (e) => (c.onEvent!(e), clientOpts.onEvent?.(e)) },
    { hostKeys: keys, ...s, ...serverOpts, onEvent: (e) => (s.onEvent!(e), serverOpts.onEvent?.(e)) },
  );
  lp.server.start();
  lp.client.start();
  return { ...lp, c, s };
}

export async function handshake(clientOpts: Partial<SideOptions> = {}, serverOpts: Partial<SideOptions> = {}, hostKeys?: PrivateKey[]) {
  const p = await pair(clientOpts, serverOpts, hostKeys);
  await until(() => (p.client.kexCount > 0 && p.server.kexCount > 0) || !!p.c.closed || !!p.s.closed);
  return p;
}

/** A server transport fed by hand: collect what it sends, push raw bytes in. */
export async function rawServer(opts: Partial<TransportOptions> = {}) {
  const out: Uint8Array[] = [];
  const rec = recorder();
  const server = new Transport({
    role: 'server',
    hostKeys: [await testKey('ed25519')],
    ...rec,
    ...opts,
    onSend: (b) => out.push(b),
  });
  server.start();
  const sent = () => {
    const all = new Uint8Array(out.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of out) (all.set(b, o), (o += b.length));
    return all;
  };
  return { server, out, sent, rec };
}

/** An unencrypted packet (before the first NEWKEYS). */
export function plainPacket(payload: Uint8Array): Uint8Array {
  return framePacket(payload, NONE_SEALER);
}

export function kexinitPayload(over: Partial<{ kex: string[]; hostKey: string[]; cipher: string[]; mac: string[]; follows: boolean }> = {}): Uint8Array {
  const w = new Writer().byte(MSG.KEXINIT).raw(new Uint8Array(16));
  w.nameList(over.kex ?? ['curve25519-sha256', 'ext-info-c']).nameList(over.hostKey ?? ['ssh-ed25519']);
  const cipher = over.cipher ?? ['aes128-ctr'];
  const mac = over.mac ?? ['hmac-sha2-256'];
  w.nameList(cipher).nameList(cipher).nameList(mac).nameList(mac).nameList(['none']).nameList(['none']);
  w.nameList([]).nameList([]).boolean(over.follows ?? false).uint32(0);
  return w.finish();
}

/** Parses the plaintext packets a server sent before NEWKEYS (after its version line). */
export function plainPackets(bytes: Uint8Array): Uint8Array[] {
  let i = bytes.indexOf(0x0a) + 1;
  const out: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (i + 4 <= bytes.length) {
    const len = dv.getUint32(i);
    if (i + 4 + len > bytes.length) break;
    const pad = bytes[i + 4]!;
    out.push(bytes.subarray(i + 5, i + 4 + len - pad));
    i += 4 + len;
  }
  return out;
}

export const enc = (s: string) => new TextEncoder().encode(s);
