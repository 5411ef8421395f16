// Hostile input for ssh-userauth and ssh-connection: seeded mutations of every message type, after key
// exchange. No exception may escape, every connection we end has a reason and readable text, and memory
// stays bounded.
import { describe, expect, it } from 'vitest';
import { Writer } from '../../src/wire/writer.ts';
import { MSG } from '../../src/wire/messages.ts';
import { testKey } from '../helpers/transport.ts';
import { connectTo } from '../helpers/services.ts';
import { mutate, prng, trackEscapes } from '../helpers/fuzz.ts';
import type { IncomingConnection } from '../../src/connection/connection.ts';

const ua = (user: string, method: string) => new Writer().byte(MSG.USERAUTH_REQUEST).string(user).string('ssh-connection').string(method);

async function authCorpus() {
  const key = await testKey('ed25519');
  return [
    ua('alice', 'none').finish(),
    ua('alice', 'password').boolean(false).string('pw').finish(),
    ua('alice', 'password').boolean(false).string('wrong').finish(),
    ua('alice', 'password').boolean(true).string('old').string('new').finish(),
    ua('alice', 'publickey').boolean(false).string('ssh-ed25519').bytes(key.publicKey.blob).finish(),
    ua('alice', 'publickey').boolean(true).string('ssh-ed25519').bytes(key.publicKey.blob).bytes(new Writer().string('ssh-ed25519').bytes(new Uint8Array(64)).finish()).finish(),
    ua('alice', 'keyboard-interactive').string('').string('').finish(),
    ua('bob', 'hostbased').string('x').finish(),
    new Writer().byte(MSG.USERAUTH_INFO_RESPONSE).uint32(1).string('pw').finish(),
    new Uint8Array([MSG.USERAUTH_SUCCESS]),
    new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(0).uint32(65536).uint32(32768).finish(),
    new Writer().byte(MSG.GLOBAL_REQUEST).string('keepalive@openssh.com').boolean(true).finish(),
  ];
}

const ch = (type: number) => new Writer().byte(type).uint32(7);
const req = (name: string, want = true) => ch(MSG.CHANNEL_REQUEST).string(name).boolean(want);
const connectionCorpus = [
  new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(7).uint32(65536).uint32(32768).finish(),
  new Writer().byte(MSG.CHANNEL_OPEN).string('direct-tcpip').uint32(8).uint32(65536).uint32(32768).string('127.0.0.1').uint32(22).string('1.2.3.4').uint32(5).finish(),
  new Writer().byte(MSG.CHANNEL_OPEN).string('x11').uint32(9).uint32(65536).uint32(32768).finish(),
  req('pty-req').string('xterm').uint32(80).uint32(24).uint32(0).uint32(0).bytes(new Uint8Array([53, 0, 0, 0, 1, 0])).finish(),
  req('env').string('LANG').string('C').finish(),
  req('shell').finish(),
  req('exec').string('echo hi').finish(),
  req('exec').string('cat').finish(),
  req('subsystem').string('sftp').finish(),
  req('window-change', false).uint32(100).uint32(40).uint32(0).uint32(0).finish(),
  req('signal', false).string('INT').finish(),
  req('break').uint32(100).finish(),
  req('exit-status', false).uint32(0).finish(),
  ch(MSG.CHANNEL_DATA).bytes(new TextEncoder().encode('hello\n')).finish(),
  ch(MSG.CHANNEL_EXTENDED_DATA).uint32(1).bytes(new Uint8Array(10)).finish(),
  ch(MSG.CHANNEL_WINDOW_ADJUST).uint32(1000).finish(),
  ch(MSG.CHANNEL_WINDOW_ADJUST).uint32(0xffffffff).finish(),
  ch(MSG.CHANNEL_EOF).finish(),
  ch(MSG.CHANNEL_CLOSE).finish(),
  ch(MSG.CHANNEL_SUCCESS).finish(),
  ch(MSG.CHANNEL_FAILURE).finish(),
  new Writer().byte(MSG.CHANNEL_OPEN_CONFIRMATION).uint32(0).uint32(0).uint32(100).uint32(100).finish(),
  new Writer().byte(MSG.GLOBAL_REQUEST).string('keepalive@openssh.com').boolean(true).finish(),
  new Writer().byte(MSG.GLOBAL_REQUEST).string('tcpip-forward').boolean(true).string('0.0.0.0').uint32(80).finish(),
  new Writer().byte(MSG.GLOBAL_REQUEST).string('no-more-sessions@openssh.com').boolean(false).finish(),
  new Writer().byte(MSG.REQUEST_SUCCESS).finish(),
  ch(MSG.CHANNEL_DATA).bytes(new Uint8Array(40000)).finish(),
];

/** hostkeys-prove-00 naming the server's own key (connectTo's), answered after a signature. */
async function proveRequest() {
  const key = await testKey('ed25519');
  return new Writer().byte(MSG.GLOBAL_REQUEST).string('hostkeys-prove-00@openssh.com').boolean(true).bytes(key.publicKey.blob).finish();
}

/** Lets the in-memory hops run, then waits for the server to finish what it received. */
async function settle(c: { server: { idle(): Promise<void> } }): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  await c.server.idle();
  await new Promise((r) => setTimeout(r, 0));
}


/**
 * Connections logged in with `options`, each sent up to `perConnection` messages from `corpus` (whole one
 * time in `wholeOneIn`, else mutated) until `cases` have gone; each ends with a readable reason or is
 * dropped, then waits `afterMs` (for work still in flight). Returns the number of connections.
 */
async function fuzzLoggedIn(
  rnd: ReturnType<typeof prng>,
  corpus: Uint8Array[],
  o: { cases: number; options: Parameters<typeof connectTo>[0]; perConnection: number; settleEvery: number; whole: (rnd: ReturnType<typeof prng>) => boolean; afterMs?: number },
): Promise<number> {
  let cases = 0;
  let connections = 0;
  while (cases < o.cases) {
    const c = await connectTo({ failureDelayMs: 0, ...o.options });
    await c.login();
    connections++;
    for (let i = 0; i < o.perConnection && !c.closed(); i++, cases++) {
      const base = corpus[rnd.int(corpus.length)]!;
      c.client.send(o.whole(rnd) ? base : mutate(rnd, base));
      if (i % o.settleEvery === o.settleEvery - 1) await settle(c);
    }
    await settle(c);
    const end = c.closed() as { by?: string; reason: number; message: string } | null;
    if (end && end.by !== 'lost') expect(end.message.length).toBeGreaterThan(0);
    c.client.connectionLost();
    c.server.connectionLost();
    if (o.afterMs) await new Promise((r) => setTimeout(r, o.afterMs));
  }
  return connections;
}

describe('services fuzzing (seeded)', () => {
  it('ssh-userauth: 50,000 mutated messages', async () => {
    const rnd = prng(0xa0a1);
    const corpus = await authCorpus();
    const esc = trackEscapes();
    const heapBefore = process.memoryUsage().heapUsed;
    let cases = 0;
    let ended = 0;
    while (cases < 50_000) {
      const c = await connectTo({ failureDelayMs: 0 });
      for (let i = 0; i < 60 && !c.closed(); i++, cases++) {
        const base = corpus[rnd.int(corpus.length)]!;
        c.client.send(rnd.int(4) === 0 ? base : mutate(rnd, base));
        if (i % 10 === 9) await settle(c);
      }
      await settle(c);
      const closed = c.closed() as { by?: string; reason: number; message: string } | null;
      if (closed && closed.by !== 'lost') {
        expect(closed.reason).toBeGreaterThan(0);
        expect(closed.message.length).toBeGreaterThan(0);
        ended++;
      }
      c.client.connectionLost();
      c.server.connectionLost();
    }
    esc.stop();
    expect(esc.escaped).toEqual([]);
    expect(ended).toBeGreaterThan(10);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
  }, 600_000);

  it('ssh-connection: 50,000 mutated messages after login', async () => {
    const rnd = prng(0xc0c1);
    const esc = trackEscapes();
    const heapBefore = process.memoryUsage().heapUsed;
    const corpus = [...connectionCorpus, await proveRequest()];
    const connections = await fuzzLoggedIn(rnd, corpus, { cases: 50_000, options: {}, perConnection: 200, settleEvery: 20, whole: (r) => r.int(3) === 0 });
    esc.stop();
    expect(esc.escaped).toEqual([]);
    expect(connections).toBeGreaterThan(1);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
  }, 600_000);

  it('direct-tcpip with forwarding allowed: 20,000 mutated messages; every TCP stream opened is closed', async () => {
    const rnd = prng(0xf0f1);
    const esc = trackEscapes();
    const heapBefore = process.memoryUsage().heapUsed;
    let opened = 0;
    let closed = 0;
    /** An echo "TCP connection"; every third one is refused, some only after a delay. */
    const connectForward = async () => {
      const n = rnd.int(6);
      if (n >= 4) await new Promise((r) => setTimeout(r, n - 4));
      if (n % 3 === 0) throw new Error('Connection refused');
      opened++;
      const echo = new TransformStream<Uint8Array, Uint8Array>();
      let done = false;
      return { readable: echo.readable, writable: echo.writable, close: () => void (done || ((done = true), closed++)) };
    };
    const fwd = (id: number, port = 5432) =>
      new Writer().byte(MSG.CHANNEL_OPEN).string('direct-tcpip').uint32(id).uint32(65536).uint32(32768).string('db').uint32(port).string('10.0.0.1').uint32(4000).finish();
    const on = (type: number, id: number) => new Writer().byte(type).uint32(id);
    const corpus = [
      fwd(1), fwd(2), fwd(3, 0xffffffff),
      ...[0, 1].flatMap((id) => [
        on(MSG.CHANNEL_DATA, id).bytes(new TextEncoder().encode('SELECT 1;')).finish(),
        on(MSG.CHANNEL_DATA, id).bytes(new Uint8Array(30000)).finish(),
        on(MSG.CHANNEL_WINDOW_ADJUST, id).uint32(4096).finish(),
        on(MSG.CHANNEL_EOF, id).finish(),
        on(MSG.CHANNEL_CLOSE, id).finish(),
        on(MSG.CHANNEL_REQUEST, id).string('exec').boolean(true).string('true').finish(),
      ]),
      new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(9).uint32(65536).uint32(32768).finish(),
    ];
    await fuzzLoggedIn(rnd, corpus, {
      cases: 20_000,
      options: { allowForward: () => true, connectForward, maxForwards: 4 },
      perConnection: 100,
      settleEvery: 10,
      whole: (r) => r.int(3) === 0,
      afterMs: 3, // forwards still connecting finish, and are closed
    });
    esc.stop();
    expect(esc.escaped).toEqual([]);
    expect(opened).toBeGreaterThan(50);
    expect(closed).toBe(opened);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
  }, 600_000);

  it('tcpip-forward with listening allowed: 10,000 mutated messages; every listener and every connection offered is closed', async () => {
    const rnd = prng(0xf0f2);
    const esc = trackEscapes();
    let listening = 0;
    let unlistened = 0;
    let accepted = 0;
    let dropped = 0;
    /** A listener that accepts a connection (an echo) on each of the next few turns; some listens fail. */
    const listenForward = async (req: { port: number }, onConnection: (c: IncomingConnection) => void) => {
      if (rnd.int(5) === 0) throw new Error('EADDRINUSE');
      listening++;
      let open = true;
      // Connections arrive at once (a fuzzed connection seldom lives long), some right away, some a turn later.
      for (let i = rnd.int(3); i > 0; i--)
        (i === 1 ? queueMicrotask : setImmediate)(() => {
          if (!open) return;
          accepted++;
          const echo = new TransformStream<Uint8Array, Uint8Array>();
          let done = false;
          onConnection({ stream: { readable: echo.readable, writable: echo.writable, close: () => void (done || ((done = true), dropped++)) }, originHost: '127.0.0.1', originPort: 1 });
        });
      return { port: req.port || 40000, close: () => void (open && ((open = false), unlistened++)) };
    };
    const g = (name: string, port: number) => new Writer().byte(MSG.GLOBAL_REQUEST).string(name).boolean(true).string('localhost').uint32(port).finish();
    const on = (type: number, id: number) => new Writer().byte(type).uint32(id);
    const corpus = [
      g('tcpip-forward', 0), g('tcpip-forward', 8080), g('cancel-tcpip-forward', 40000), g('cancel-tcpip-forward', 8080),
      ...[0, 1, 2].flatMap((id) => [
        on(MSG.CHANNEL_OPEN_CONFIRMATION, id).uint32(id + 100).uint32(65536).uint32(32768).finish(),
        on(MSG.CHANNEL_OPEN_FAILURE, id).uint32(2).string('connect failed').string('').finish(),
        on(MSG.CHANNEL_DATA, id).bytes(new TextEncoder().encode('GET /')).finish(),
        on(MSG.CHANNEL_EOF, id).finish(),
        on(MSG.CHANNEL_CLOSE, id).finish(),
      ]),
    ];
    await fuzzLoggedIn(rnd, corpus, {
      cases: 10_000,
      options: { allowListen: () => true, listenForward, maxForwards: 4, maxListeners: 2 },
      perConnection: 100,
      settleEvery: 10,
      whole: (r) => r.int(3) !== 0, // mostly whole: a fuzzed connection seldom lives long
      afterMs: 5, // connections still to come arrive, and are closed
    });
    esc.stop();
    expect(esc.escaped).toEqual([]);
    expect(listening).toBeGreaterThan(30);
    expect(accepted).toBeGreaterThan(30);
    expect(unlistened).toBe(listening);
    expect(dropped).toBe(accepted);
  }, 600_000);
});
