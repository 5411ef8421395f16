// A client transport talking to a createServer() connection in memory (conformance tests and fuzzers).
import { expect } from 'vitest';
import { createServer, type ServerOptions } from '../../src/server.ts';
import { Transport, type TransportEvent } from '../../src/transport/transport.ts';
import { MSG } from '../../src/wire/messages.ts';
import { Reader } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';
import { runExec } from '../../src/apps/shell.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { testKey, until } from './transport.ts';

/** A client transport talking to a createServer() connection, collecting every message the server sends. */
export async function connectTo(over: Partial<ServerOptions> = {}) {
  const hostKey = await testKey('ed25519');
  const storage = new MemoryStorage();
  const server = createServer({
    hostKeys: [hostKey],
    authenticate: (req) => req.method === 'password' && req.password === 'pw',
    onSession: (s) =>
      runExec(s.command ?? 'true', {
        user: s.user, env: s.env, pty: null, storage, startedAt: 0,
        stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, signal: s.signal,
      }),
    loginGraceTimeMs: 0,
    ...over,
  });
  const got: Uint8Array[] = [];
  const events: TransportEvent[] = [];
  let closed: { reason: number; message: string } | null = null;
  let serverT!: Transport;
  const client = new Transport({
    role: 'client',
    onSend: (b) => queueMicrotask(() => serverT.receive(b)),
    onEvent: (e) => events.push(e),
    onClose: (c) => (closed ??= c),
  });
  serverT = server.accept({
    write: (b) => queueMicrotask(() => client.receive(b)),
    end: () => queueMicrotask(() => client.connectionLost()),
  });
  client.start();
  await until(() => client.kexCount > 0);
  const ok = await client.requestService('ssh-userauth', { handle: (_t, p) => (got.push(p.slice()), true) });
  expect(ok).toBe(true);
  const next = async (type?: number) => {
    await until(() => got.length > 0 || !!closed);
    const p = got.shift();
    if (!p) throw new Error(`closed: ${closed?.message}`);
    if (type !== undefined) expect(p[0]).toBe(type);
    return p;
  };
  const login = async () => {
    client.send(new Writer().byte(MSG.USERAUTH_REQUEST).string('alice').string('ssh-connection').string('password').boolean(false).string('pw').finish());
    await next(MSG.USERAUTH_SUCCESS);
    await hostKeysAnnounced();
  };
  /** After login the server lists its host keys (hostkeys-00@openssh.com, no reply wanted). */
  const hostKeysAnnounced = async () => {
    const r = new Reader(await next(MSG.GLOBAL_REQUEST), 1);
    expect(r.string()).toBe('hostkeys-00@openssh.com');
    expect(r.boolean()).toBe(false);
    expect(r.bytes()).toEqual(hostKey.publicKey.blob);
    r.done();
  };
  const openSession = async (window = 1 << 20, maxPacket = 32768) => {
    client.send(new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(7).uint32(window).uint32(maxPacket).finish());
    const conf = await next(MSG.CHANNEL_OPEN_CONFIRMATION);
    const r = new Reader(conf, 1);
    expect(r.uint32()).toBe(7);
    return r.uint32();
  };
  return { client, server: serverT, sshServer: server, next, got, events, login, hostKeysAnnounced, hostKey, openSession, closed: () => closed };
}
