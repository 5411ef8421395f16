// Conformance of ssh-userauth (RFC 4252/4256) and ssh-connection (RFC 4254), driven message by message.
import { describe, expect, it } from 'vitest';
import { createServer, parseMaxStartups, type ServerOptions } from '../../src/server.ts';
import { Transport, type TransportEvent } from '../../src/transport/transport.ts';
import { DISCONNECT, MSG } from '../../src/wire/messages.ts';
import { Reader } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';
import { runExec } from '../../src/apps/shell.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { testKey, until } from '../helpers/transport.ts';
import { connectTo } from '../helpers/services.ts';
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';
import type { IncomingConnection, ListenRequest } from '../../src/connection/connection.ts';
import type { PrivateKey } from '../../src/crypto/types.ts';
import { certificateOf } from '../../src/auth/certificate.ts';


const userauth = (user: string, method: string, w = new Writer()) =>
  w.byte(MSG.USERAUTH_REQUEST).string(user).string('ssh-connection').string(method);

describe('ssh-userauth', () => {
  it('none answers with the methods that can continue', async () => {
    const c = await connectTo({ banner: 'Welcome\n' });
    c.client.send(userauth('alice', 'none').finish());
    const banner = await c.next(MSG.USERAUTH_BANNER);
    expect(new Reader(banner, 1).string()).toBe('Welcome\n');
    const f = new Reader(await c.next(MSG.USERAUTH_FAILURE), 1);
    expect(f.nameList()).toEqual(['publickey', 'password', 'keyboard-interactive']);
    expect(f.boolean()).toBe(false);
  });

  it('a password login sends USERAUTH_SUCCESS once and hands over to ssh-connection', async () => {
    const c = await connectTo();
    await c.login();
    c.client.send(userauth('alice', 'password').boolean(false).string('pw').finish());
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('keepalive@openssh.com').boolean(true).finish());
    // The second request is ignored (RFC 4252 §5.1); the next answer is the global request's.
    await c.next(MSG.REQUEST_FAILURE);
  });

  it('a publickey query gets PK_OK but never logs in', async () => {
    const key = await testKey('ed25519');
    const seen: boolean[] = [];
    const c = await connectTo({
      authenticate: (req) => {
        if (req.method === 'publickey') seen.push(req.signed);
        return req.method === 'publickey';
      },
    });
    c.client.send(userauth('alice', 'publickey').boolean(false).string('ssh-ed25519').bytes(key.publicKey.blob).finish());
    await c.next(MSG.USERAUTH_PK_OK);
    // A "signed" request with a bad signature is refused without asking the application.
    c.client.send(
      userauth('alice', 'publickey').boolean(true).string('ssh-ed25519').bytes(key.publicKey.blob)
        .bytes(new Writer().string('ssh-ed25519').bytes(new Uint8Array(64)).finish()).finish(),
    );
    await c.next(MSG.USERAUTH_FAILURE);
    expect(seen).toEqual([false]);
    // A properly signed request logs in.
    const data = new Writer().bytes(c.client.sessionId!).byte(MSG.USERAUTH_REQUEST).string('alice').string('ssh-connection')
      .string('publickey').boolean(true).string('ssh-ed25519').bytes(key.publicKey.blob).finish();
    const sig = await key.sign('ssh-ed25519', data);
    c.client.send(userauth('alice', 'publickey').boolean(true).string('ssh-ed25519').bytes(key.publicKey.blob).bytes(sig).finish());
    await c.next(MSG.USERAUTH_SUCCESS);
    expect(seen).toEqual([false, true]);
  });

  it("a certificate reaches the application only as a user certificate its CA signed; the user signs as the certified key", async () => {
    const ca = await generatePrivateKey('ed25519');
    const user = await testKey('ed25519');
    const CERT = 'ssh-ed25519-cert-v01@openssh.com';
    /** A certificate as PROTOCOL.certkeys lays it out, signed by `ca` (kind 1: user, 2: host). */
    const certify = async (kind: number, corrupt = false) => {
      const raw = new Reader(user.publicKey.blob);
      raw.string();
      const body = new Writer().string(CERT).bytes(new Uint8Array(32)).bytes(raw.bytes()).uint64(9n).uint32(kind).string('laptop')
        .bytes(new Writer().string('alice').finish()).uint64(0n).uint64(0xffffffffffffffffn).bytes(new Uint8Array(0))
        .bytes(new Writer().string('permit-pty').bytes(new Uint8Array(0)).finish()).bytes(new Uint8Array(0)).bytes(ca.publicKey.blob).finish();
      const sig = await ca.sign('ssh-ed25519', body);
      if (corrupt) sig[sig.length - 1]! ^= 1;
      return new Writer().raw(body).bytes(sig).finish();
    };
    const seen: string[] = [];
    const c = await connectTo({
      authenticate: (req) => {
        if (req.method !== 'publickey') return false;
        const cert = certificateOf(req.key);
        seen.push(`${req.signed} ${cert?.kind} ${cert?.principals} ${cert?.keyId}`);
        return true;
      },
    });
    const query = (blob: Uint8Array, algorithm = CERT) => c.client.send(userauth('alice', 'publickey').boolean(false).string(algorithm).bytes(blob).finish());
    query(await certify(2));
    await c.next(MSG.USERAUTH_FAILURE); // a host certificate
    query(await certify(1, true));
    await c.next(MSG.USERAUTH_FAILURE); // the CA's signature does not verify
    query(await certify(1), 'rsa-sha2-512-cert-v01@openssh.com');
    await c.next(MSG.USERAUTH_FAILURE); // an algorithm the key cannot make
    expect(seen).toEqual([]);
    const good = await certify(1);
    query(good);
    const ok = new Reader(await c.next(MSG.USERAUTH_PK_OK), 1);
    expect([ok.string(), ok.bytes()]).toEqual([CERT, good]);
    // Signed by the certified key, the signature named as the plain algorithm (PROTOCOL.certkeys).
    const data = new Writer().bytes(c.client.sessionId!).byte(MSG.USERAUTH_REQUEST).string('alice').string('ssh-connection')
      .string('publickey').boolean(true).string(CERT).bytes(good).finish();
    const signed = (key: PrivateKey) => key.sign('ssh-ed25519', data);
    c.client.send(userauth('alice', 'publickey').boolean(true).string(CERT).bytes(good).bytes(await signed(ca)).finish());
    await c.next(MSG.USERAUTH_FAILURE); // the CA's signature is not the user's
    c.client.send(userauth('alice', 'publickey').boolean(true).string(CERT).bytes(good).bytes(await signed(user)).finish());
    await c.next(MSG.USERAUTH_SUCCESS);
    expect(seen).toEqual(['false user alice laptop', 'true user alice laptop']);
  });

  it('a key type that does not fit the algorithm is refused', async () => {
    const key = await testKey('ed25519');
    const c = await connectTo({ authenticate: () => true });
    c.client.send(userauth('alice', 'publickey').boolean(false).string('rsa-sha2-256').bytes(key.publicKey.blob).finish());
    await c.next(MSG.USERAUTH_FAILURE);
  });

  it('keyboard-interactive prompts come from the application', async () => {
    const c = await connectTo({
      authenticate: async (req) => {
        if (req.method !== 'keyboard-interactive') return false;
        const [a, b] = await req.prompt([{ prompt: 'One: ', echo: true }, { prompt: 'Two: ', echo: false }], 'Check', 'two answers');
        return a === '1' && b === '2';
      },
    });
    c.client.send(userauth('alice', 'keyboard-interactive').string('').string('').finish());
    const req = new Reader(await c.next(MSG.USERAUTH_INFO_REQUEST), 1);
    expect([req.string(), req.string(), req.string(), req.uint32(), req.string(), req.boolean(), req.string(), req.boolean()])
      .toEqual(['Check', 'two answers', '', 2, 'One: ', true, 'Two: ', false]);
    c.client.send(new Writer().byte(MSG.USERAUTH_INFO_RESPONSE).uint32(2).string('1').string('2').finish());
    await c.next(MSG.USERAUTH_SUCCESS);
  });

  it('partial success for multi-factor: publickey then password', async () => {
    const key = await testKey('ed25519');
    const c = await connectTo({
      authenticate: (req, ctx) => {
        if (req.method === 'publickey') return req.signed ? { partial: true, methods: ['password'] } : true;
        if (req.method === 'password') return ctx.passed.includes('publickey') && req.password === 'pw';
        return false;
      },
    });
    const data = new Writer().bytes(c.client.sessionId!).byte(MSG.USERAUTH_REQUEST).string('alice').string('ssh-connection')
      .string('publickey').boolean(true).string('ssh-ed25519').bytes(key.publicKey.blob).finish();
    c.client.send(userauth('alice', 'publickey').boolean(true).string('ssh-ed25519').bytes(key.publicKey.blob).bytes(await key.sign('ssh-ed25519', data)).finish());
    const f = new Reader(await c.next(MSG.USERAUTH_FAILURE), 1);
    expect(f.nameList()).toEqual(['password']);
    expect(f.boolean()).toBe(true);
    await c.login();
  });

  it('six failures end the connection with NO_MORE_AUTH_METHODS_AVAILABLE', async () => {
    const c = await connectTo({});
    for (let i = 0; i < 6; i++) c.client.send(userauth('alice', 'password').boolean(false).string('nope').finish());
    await until(() => !!c.closed());
    expect(c.closed()).toMatchObject({ reason: DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE, message: 'Too many authentication failures' });
  });

  it('the login grace time ends an unauthenticated connection', async () => {
    const c = await connectTo({ loginGraceTimeMs: 50 });
    await until(() => !!c.closed());
    expect(c.closed()!.message).toBe('Timeout before authentication');
  });

  it('connection-layer messages before authentication are refused', async () => {
    const c = await connectTo();
    c.client.send(new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(0).uint32(1000).uint32(1000).finish());
    await until(() => !!c.closed());
    expect(c.closed()!.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
  });

  it('a client that sends USERAUTH_SUCCESS itself gets nothing', async () => {
    const c = await connectTo();
    c.client.send(new Uint8Array([MSG.USERAUTH_SUCCESS]));
    await until(() => !!c.closed());
    expect(c.closed()!.reason).toBe(DISCONNECT.PROTOCOL_ERROR);
  });

  it('changing the user name mid-way is refused', async () => {
    const c = await connectTo();
    c.client.send(userauth('alice', 'none').finish());
    await c.next(MSG.USERAUTH_FAILURE);
    c.client.send(userauth('bob', 'none').finish());
    await until(() => !!c.closed());
    expect(c.closed()!.message).toMatch(/change of username/);
  });
});

describe('ssh-connection', () => {
  it('exec with exit-status, EOF and CLOSE in order', async () => {
    const c = await connectTo();
    await c.login();
    const id = await c.openSession();
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('exec').boolean(true).string('echo hi').finish());
    await c.next(MSG.CHANNEL_SUCCESS);
    const data = new Reader(await c.next(MSG.CHANNEL_DATA), 1);
    expect(data.uint32()).toBe(7);
    expect(new TextDecoder().decode(data.bytes())).toBe('hi\n');
    const exit = new Reader(await c.next(MSG.CHANNEL_REQUEST), 5);
    expect([exit.string(), exit.boolean(), exit.uint32()]).toEqual(['exit-status', false, 0]);
    await c.next(MSG.CHANNEL_EOF);
    await c.next(MSG.CHANNEL_CLOSE);
  });

  it('honours the peer window: output stops at the window and resumes after WINDOW_ADJUST', async () => {
    const c = await connectTo();
    await c.login();
    const id = await c.openSession(1000, 400);
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('exec').boolean(false).string('head -c 3000 /dev/zero').finish());
    let total = 0;
    for (let i = 0; i < 3; i++) {
      const r = new Reader(await c.next(MSG.CHANNEL_DATA), 5);
      const n = r.bytes().length;
      expect(n).toBeLessThanOrEqual(400);
      total += n;
    }
    expect(total).toBe(1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.got.length).toBe(0); // window exhausted: nothing more
    c.client.send(new Writer().byte(MSG.CHANNEL_WINDOW_ADJUST).uint32(id).uint32(5000).finish());
    while (total < 3000) total += new Reader(await c.next(MSG.CHANNEL_DATA), 5).bytes().length;
    expect(total).toBe(3000);
  });

  it('a WINDOW_ADJUST that overflows 2^32-1 is a protocol error', async () => {
    const c = await connectTo();
    await c.login();
    const id = await c.openSession(0xfffffff0);
    c.client.send(new Writer().byte(MSG.CHANNEL_WINDOW_ADJUST).uint32(id).uint32(0x100).finish());
    await until(() => !!c.closed());
    expect(c.closed()!.message).toMatch(/overflows 2\^32-1/);
  });

  it('data beyond our window is refused with a clear error', async () => {
    const c = await connectTo({ onSession: () => new Promise(() => {}) });
    await c.login();
    const id = await c.openSession();
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('shell').boolean(false).finish());
    for (let i = 0; i < 70; i++) c.client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(id).bytes(new Uint8Array(32768)).finish());
    await until(() => !!c.closed());
    expect(c.closed()!.message).toMatch(/data beyond the window/);
  });

  it('the largest data packet offered is 128 KiB, within the transport packet limit; a larger one is refused', async () => {
    for (const [over, offered] of [
      [{}, 128 * 1024],
      [{ maxPacketSize: 64 * 1024 }, 63 * 1024],
      [{ channelMaxPacket: 16 * 1024 }, 16 * 1024],
    ] as const) {
      const c = await connectTo({ ...over, onSession: () => new Promise(() => {}) });
      await c.login();
      c.client.send(new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(7).uint32(1 << 20).uint32(32768).finish());
      const r = new Reader(await c.next(MSG.CHANNEL_OPEN_CONFIRMATION), 1);
      r.uint32();
      const id = r.uint32();
      r.uint32(); // our window
      expect(r.uint32()).toBe(offered);
      c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('shell').boolean(false).finish());
      c.client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(id).bytes(new Uint8Array(offered)).finish()); // fits
      c.client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(id).bytes(new Uint8Array(offered + 1)).finish());
      await until(() => !!c.closed());
      expect(c.closed()!.message).toMatch(new RegExp(`data packet larger than ${offered} bytes`));
    }
  });

  it('data on an unknown channel is refused', async () => {
    const c = await connectTo();
    await c.login();
    c.client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(99).bytes(new Uint8Array(4)).finish());
    await until(() => !!c.closed());
    expect(c.closed()!.message).toMatch(/unknown channel 99/);
  });

  it('global requests: keepalive gets REQUEST_FAILURE, tcpip-forward is refused, no-more-sessions is honoured', async () => {
    const c = await connectTo();
    await c.login();
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('keepalive@openssh.com').boolean(true).finish());
    await c.next(MSG.REQUEST_FAILURE);
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('tcpip-forward').boolean(true).string('0.0.0.0').uint32(80).finish());
    await c.next(MSG.REQUEST_FAILURE);
    c.client.send(new Writer().byte(MSG.CHANNEL_OPEN).string('direct-tcpip').uint32(3).uint32(1000).uint32(1000).string('example.com').uint32(80).string('1.2.3.4').uint32(5).finish());
    expect(new Reader(await c.next(MSG.CHANNEL_OPEN_FAILURE), 5).uint32()).toBe(1);
    await c.openSession();
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('no-more-sessions@openssh.com').boolean(false).finish());
    c.client.send(new Writer().byte(MSG.CHANNEL_OPEN).string('session').uint32(8).uint32(1000).uint32(1000).finish());
    await until(() => !!c.closed());
    expect(c.closed()!.message).toMatch(/no-more-sessions/);
  });

  it('host keys: all announced after login (hostkeys-00); hostkeys-prove-00 signs each named one, in order with other replies', async () => {
    const ed = await testKey('ed25519');
    const rsa = await testKey('rsa');
    const c = await connectTo({ hostKeys: [ed, rsa], algorithms: { hostKey: ['ssh-ed25519'] } });
    c.client.send(new Writer().byte(MSG.USERAUTH_REQUEST).string('alice').string('ssh-connection').string('password').boolean(false).string('pw').finish());
    await c.next(MSG.USERAUTH_SUCCESS);
    const ann = new Reader(await c.next(MSG.GLOBAL_REQUEST), 1);
    expect(ann.string()).toBe('hostkeys-00@openssh.com');
    expect(ann.boolean()).toBe(false);
    expect([ann.bytes().slice(), ann.bytes().slice()]).toEqual([ed.publicKey.blob, rsa.publicKey.blob]);
    ann.done();

    const prove = (...blobs: Uint8Array[]) => {
      const w = new Writer().byte(MSG.GLOBAL_REQUEST).string('hostkeys-prove-00@openssh.com').boolean(true);
      for (const b of blobs) w.bytes(b);
      c.client.send(w.finish());
    };
    // A proof (signatures take a while) and a keepalive right behind it: the replies keep their order.
    prove(rsa.publicKey.blob, ed.publicKey.blob);
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('keepalive@openssh.com').boolean(true).finish());
    const ok = new Reader(await c.next(MSG.REQUEST_SUCCESS), 1);
    await c.next(MSG.REQUEST_FAILURE);
    const sid = c.client.sessionId!;
    for (const key of [rsa, ed]) {
      const sig = ok.bytes();
      const data = new Writer().string('hostkeys-prove-00@openssh.com').bytes(sid).bytes(key.publicKey.blob).finish();
      expect(await key.publicKey.verify(sig, data)).toBe(true);
      expect(new Reader(sig).string()).toBe(key === rsa ? 'rsa-sha2-512' : 'ssh-ed25519');
    }
    ok.done();
    // A key that is not ours, none at all, or too many: REQUEST_FAILURE.
    prove(ed.publicKey.blob, (await generatePrivateKey('ed25519')).publicKey.blob);
    await c.next(MSG.REQUEST_FAILURE);
    prove();
    await c.next(MSG.REQUEST_FAILURE);
    prove(...Array.from({ length: 17 }, () => ed.publicKey.blob));
    await c.next(MSG.REQUEST_FAILURE);
    expect(c.closed()).toBeNull();
    // A truncated key blob is a malformed message, like any other.
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('hostkeys-prove-00@openssh.com').boolean(true).uint32(100).raw(new Uint8Array(3)).finish());
    await until(() => !!c.closed());
    expect(c.closed()).toMatchObject({ reason: DISCONNECT.PROTOCOL_ERROR, message: 'malformed message: truncated string' });
  });

  it('pty-req, env, window-change and signal reach the session', async () => {
    let seen: unknown = null;
    const c = await connectTo({
      onSession: (s) =>
        new Promise<number>((resolve) => {
          s.onResize((cols, rows) => {
            seen = { term: s.pty!.term, modes: s.pty!.modes, env: s.env, cols, rows };
          });
          s.onSignal((name) => resolve(name === 'INT' ? 130 : 0));
        }),
    });
    await c.login();
    const id = await c.openSession();
    const modes = new Uint8Array([53, 0, 0, 0, 1, 0]); // ECHO=1, TTY_OP_END
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('pty-req').boolean(true).string('xterm').uint32(80).uint32(24).uint32(0).uint32(0).bytes(modes).finish());
    await c.next(MSG.CHANNEL_SUCCESS);
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('env').boolean(true).string('LANG').string('C.UTF-8').finish());
    await c.next(MSG.CHANNEL_SUCCESS);
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('shell').boolean(true).finish());
    await c.next(MSG.CHANNEL_SUCCESS);
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('window-change').boolean(false).uint32(120).uint32(40).uint32(0).uint32(0).finish());
    await until(() => seen !== null);
    expect(seen).toEqual({ term: 'xterm', modes: { 53: 1 }, env: { LANG: 'C.UTF-8' }, cols: 120, rows: 40 });
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('signal').boolean(false).string('INT').finish());
    const exit = new Reader(await c.next(MSG.CHANNEL_REQUEST), 5);
    expect([exit.string(), exit.boolean(), exit.uint32()]).toEqual(['exit-status', false, 130]);
  });

  it('an unknown channel request with want_reply gets CHANNEL_FAILURE', async () => {
    const c = await connectTo();
    await c.login();
    const id = await c.openSession();
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('x11-req').boolean(true).finish());
    await c.next(MSG.CHANNEL_FAILURE);
    c.client.send(new Writer().byte(MSG.CHANNEL_REQUEST).uint32(id).string('subsystem').boolean(true).string('sftp').finish());
    await c.next(MSG.CHANNEL_FAILURE);
  });
});

/** A TCP connection stand-in: what the server writes arrives at `sent`; `reply` feeds what it reads. */
function fakeTcp() {
  const toTarget = new TransformStream<Uint8Array, Uint8Array>();
  const fromTarget = new TransformStream<Uint8Array, Uint8Array>();
  const sent: number[] = [];
  let sentEnded = false;
  void toTarget.readable.pipeTo(new WritableStream({ write: (c) => void sent.push(...c), close: () => void (sentEnded = true) })).catch(() => {});
  const replier = fromTarget.writable.getWriter();
  let closed = 0;
  return {
    stream: { readable: fromTarget.readable, writable: toTarget.writable, close: () => void closed++ },
    sent,
    sentEnded: () => sentEnded,
    reply: (b: Uint8Array) => replier.write(b),
    end: () => replier.close(),
    fail: () => replier.abort(new Error('connection reset')),
    closed: () => closed,
  };
}

describe('direct-tcpip (local port forwarding)', () => {
  const open = (id: number, host = 'db.internal', port = 5432, window = 1 << 20) =>
    new Writer().byte(MSG.CHANNEL_OPEN).string('direct-tcpip').uint32(id).uint32(window).uint32(32768).string(host).uint32(port).string('10.0.0.7').uint32(51000).finish();
  const failure = (p: Uint8Array) => {
    const r = new Reader(p, 1);
    return { id: r.uint32(), code: r.uint32(), text: r.string() };
  };

  it('refused as OpenSSH words it unless allowed and connectable; the hook sees the target, origin and transport', async () => {
    const seen: unknown[] = [];
    const c = await connectTo({ allowForward: (req, t) => (seen.push({ ...req, user: t.currentService ? 'logged-in' : '' }), req.port === 5432) });
    await c.login();
    c.client.send(open(1, 'db.internal', 22));
    expect(failure(await c.next(MSG.CHANNEL_OPEN_FAILURE))).toEqual({ id: 1, code: 1, text: 'open failed' });
    c.client.send(open(2)); // allowed, but no connectForward: nothing could carry it
    expect(failure(await c.next(MSG.CHANNEL_OPEN_FAILURE))).toEqual({ id: 2, code: 1, text: 'open failed' });
    c.client.send(open(4, 'db.internal', 70000)); // no TCP port: refused before any hook is asked
    expect(failure(await c.next(MSG.CHANNEL_OPEN_FAILURE))).toEqual({ id: 4, code: 2, text: 'invalid port 70000' });
    expect(seen[0]).toEqual({ kind: 'direct-tcpip', host: 'db.internal', port: 22, originHost: '10.0.0.7', originPort: 51000, user: 'logged-in' });
    expect(seen).toHaveLength(2);
  });

  it('a connection that cannot be made is CONNECT_FAILED with its reason', async () => {
    const c = await connectTo({ allowForward: () => true, connectForward: async () => Promise.reject(new Error('Connection refused')) });
    await c.login();
    c.client.send(open(3));
    expect(failure(await c.next(MSG.CHANNEL_OPEN_FAILURE))).toEqual({ id: 3, code: 2, text: 'Connection refused' });
  });

  it('bytes both ways; EOF each way half-closes; CLOSE after both, with no exit-status; sessions still count apart', async () => {
    const tcp = fakeTcp();
    const c = await connectTo({ allowForward: () => true, connectForward: async () => tcp.stream, maxSessions: 1 });
    await c.login();
    c.client.send(open(5));
    const conf = new Reader(await c.next(MSG.CHANNEL_OPEN_CONFIRMATION), 1);
    expect(conf.uint32()).toBe(5);
    const id = conf.uint32();
    await c.openSession(); // a forward is not a session: MaxSessions 1 still allows one
    c.client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(id).bytes(new TextEncoder().encode('SELECT 1;')).finish());
    c.client.send(new Writer().byte(MSG.CHANNEL_EOF).uint32(id).finish());
    await until(() => tcp.sentEnded());
    expect(new TextDecoder().decode(new Uint8Array(tcp.sent))).toBe('SELECT 1;');
    await tcp.reply(new TextEncoder().encode('1 row'));
    const data = new Reader(await c.next(MSG.CHANNEL_DATA), 1);
    expect([data.uint32(), new TextDecoder().decode(data.bytes())]).toEqual([5, '1 row']);
    await tcp.end();
    expect(new Reader(await c.next(MSG.CHANNEL_EOF), 1).uint32()).toBe(5);
    expect(new Reader(await c.next(MSG.CHANNEL_CLOSE), 1).uint32()).toBe(5);
    expect(tcp.closed()).toBeGreaterThan(0);
  });

  it('the TCP side failing closes the channel; the client closing it closes the TCP side', async () => {
    const a = fakeTcp();
    const b = fakeTcp();
    const pending = [a, b];
    const c = await connectTo({ allowForward: () => true, connectForward: async () => pending.shift()!.stream });
    await c.login();
    c.client.send(open(6));
    const idA = new Reader(await c.next(MSG.CHANNEL_OPEN_CONFIRMATION), 5).uint32();
    void a.fail();
    expect(new Reader(await c.next(MSG.CHANNEL_EOF), 1).uint32()).toBe(6); // as sshd: EOF, then CLOSE
    expect(new Reader(await c.next(MSG.CHANNEL_CLOSE), 1).uint32()).toBe(6);
    await until(() => a.closed() > 0);
    c.client.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(idA).finish());
    c.client.send(open(7));
    const idB = new Reader(await c.next(MSG.CHANNEL_OPEN_CONFIRMATION), 5).uint32();
    c.client.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(idB).finish());
    await c.next(MSG.CHANNEL_CLOSE);
    await until(() => b.closed() > 0);
  });

  it('at most maxForwards at once (RESOURCE_SHORTAGE); one finished makes room; an open forward keeps the connection from being saved', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const streams: ReturnType<typeof fakeTcp>[] = [];
    const c = await connectTo({
      allowForward: () => true,
      maxForwards: 2,
      connectForward: async () => {
        await gate;
        const t = fakeTcp();
        streams.push(t);
        return t.stream;
      },
    });
    await c.login();
    c.client.send(open(10));
    c.client.send(open(11));
    c.client.send(open(12));
    expect(failure(await c.next(MSG.CHANNEL_OPEN_FAILURE))).toEqual({ id: 12, code: 4, text: 'too many forwarded connections' });
    expect(c.sshServer.save(c.server)).toEqual({ reason: 'a forwarded TCP connection is being opened' });
    release();
    const first = new Reader(await c.next(MSG.CHANNEL_OPEN_CONFIRMATION), 1);
    expect(first.uint32()).toBe(10);
    const id10 = first.uint32();
    await c.next(MSG.CHANNEL_OPEN_CONFIRMATION);
    expect(c.sshServer.save(c.server)).toEqual({ reason: 'channel 0: a forwarded TCP connection is open' });
    await streams[0]!.end();
    c.client.send(new Writer().byte(MSG.CHANNEL_EOF).uint32(id10).finish());
    await c.next(MSG.CHANNEL_EOF);
    await c.next(MSG.CHANNEL_CLOSE);
    c.client.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(id10).finish());
    c.client.send(open(13));
    expect(new Reader(await c.next(MSG.CHANNEL_OPEN_CONFIRMATION), 1).uint32()).toBe(13);
  });

  it('the connection ending while a forward connects closes what connected', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tcp = fakeTcp();
    const c = await connectTo({ allowForward: () => true, connectForward: async () => (await gate, tcp.stream) });
    await c.login();
    c.client.send(open(20));
    await new Promise((r) => setTimeout(r, 5));
    c.client.disconnect(DISCONNECT.BY_APPLICATION, 'bye');
    await until(() => c.server.closed);
    release();
    await until(() => tcp.closed() > 0);
  });

  it('remote forwarding (tcpip-forward) is refused when the local-forward policy allows everything: it has its own hook', async () => {
    const c = await connectTo({ allowForward: () => true, connectForward: async () => fakeTcp().stream });
    await c.login();
    c.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('tcpip-forward').boolean(true).string('0.0.0.0').uint32(8080).finish());
    await c.next(MSG.REQUEST_FAILURE);
  });
});

describe('tcpip-forward (remote port forwarding)', () => {
  /** A listener stand-in: `connect()` makes an incoming TCP connection (see fakeTcp above) and hands it to the server. */
  function fakeListeners(port = 40000) {
    const made: { req: ListenRequest; closed: boolean; connect(): ReturnType<typeof fakeTcp> }[] = [];
    const listenForward = async (req: ListenRequest, onConnection: (c: IncomingConnection) => void) => {
      const l = {
        req,
        closed: false,
        connect() {
          const t = fakeTcp();
          onConnection({ stream: t.stream, originHost: '127.0.0.1', originPort: 50123 });
          return t;
        },
      };
      made.push(l);
      return { port: req.port || port, close: () => void (l.closed = true) };
    };
    return { made, listenForward };
  }
  const request = (address: string, port: number, name = 'tcpip-forward') =>
    new Writer().byte(MSG.GLOBAL_REQUEST).string(name).boolean(true).string(address).uint32(port).finish();
  const openOf = (p: Uint8Array) => {
    const r = new Reader(p, 1);
    return { type: r.string(), id: r.uint32(), window: r.uint32(), maxPacket: r.uint32(), address: r.string(), port: r.uint32(), origin: r.string(), originPort: r.uint32() };
  };

  it('refused unless allowed and listenable; the hook sees the request; port 0 is answered with the port chosen', async () => {
    const seen: ListenRequest[] = [];
    const f = fakeListeners(41234);
    const c = await connectTo({ allowListen: (req) => (seen.push(req), req.port !== 7000), listenForward: f.listenForward });
    await c.login();
    c.client.send(request('localhost', 7000));
    await c.next(MSG.REQUEST_FAILURE);
    c.client.send(request('localhost', 70000)); // no TCP port: refused before the hook
    await c.next(MSG.REQUEST_FAILURE);
    c.client.send(request('localhost', 0));
    const ok = new Reader(await c.next(MSG.REQUEST_SUCCESS), 1);
    expect(ok.uint32()).toBe(41234);
    c.client.send(request('', 8080));
    expect((await c.next(MSG.REQUEST_SUCCESS)).length).toBe(1); // a port asked for: no port in the answer
    expect(seen).toEqual([
      { kind: 'tcpip-forward', address: 'localhost', port: 7000 },
      { kind: 'tcpip-forward', address: 'localhost', port: 0 },
      { kind: 'tcpip-forward', address: '', port: 8080 },
    ]);
    const noListener = await connectTo({ allowListen: () => true });
    await noListener.login();
    noListener.client.send(request('localhost', 8080));
    await noListener.next(MSG.REQUEST_FAILURE);
    const failing = await connectTo({ allowListen: () => true, listenForward: async () => Promise.reject(new Error('EADDRINUSE')) });
    await failing.login();
    failing.client.send(request('localhost', 8080));
    await failing.next(MSG.REQUEST_FAILURE);
    // A policy hook that throws refuses the request, answered or not; the connection goes on.
    const throwing = await connectTo({ allowListen: () => { throw new Error('policy broke'); }, listenForward: f.listenForward });
    await throwing.login();
    throwing.client.send(new Writer().byte(MSG.GLOBAL_REQUEST).string('tcpip-forward').boolean(false).string('localhost').uint32(8080).finish());
    throwing.client.send(request('localhost', 8080));
    await throwing.next(MSG.REQUEST_FAILURE);
    await throwing.openSession();
  });

  it('a connection the listener accepts is offered as forwarded-tcpip; bytes both ways; EOF each way; the client refusing closes it', async () => {
    const f = fakeListeners();
    const c = await connectTo({ allowListen: () => true, listenForward: f.listenForward });
    await c.login();
    c.client.send(request('localhost', 0));
    await c.next(MSG.REQUEST_SUCCESS);
    const tcp = f.made[0]!.connect();
    const offer = openOf(await c.next(MSG.CHANNEL_OPEN));
    expect(offer).toMatchObject({ type: 'forwarded-tcpip', address: 'localhost', port: 40000, origin: '127.0.0.1', originPort: 50123 });
    c.client.send(new Writer().byte(MSG.CHANNEL_OPEN_CONFIRMATION).uint32(offer.id).uint32(77).uint32(1 << 20).uint32(32768).finish());
    await tcp.reply(new TextEncoder().encode('GET /'));
    const data = new Reader(await c.next(MSG.CHANNEL_DATA), 1);
    expect([data.uint32(), new TextDecoder().decode(data.bytes())]).toEqual([77, 'GET /']);
    c.client.send(new Writer().byte(MSG.CHANNEL_DATA).uint32(offer.id).bytes(new TextEncoder().encode('200 OK')).finish());
    c.client.send(new Writer().byte(MSG.CHANNEL_EOF).uint32(offer.id).finish());
    await until(() => tcp.sentEnded());
    expect(new TextDecoder().decode(new Uint8Array(tcp.sent))).toBe('200 OK');
    expect(c.sshServer.save(c.server)).toMatchObject({ reason: expect.stringMatching(/remote forward is listening|forwarded TCP connection is open/) });
    await tcp.end();
    expect(new Reader(await c.next(MSG.CHANNEL_EOF), 1).uint32()).toBe(77);
    expect(new Reader(await c.next(MSG.CHANNEL_CLOSE), 1).uint32()).toBe(77);
    c.client.send(new Writer().byte(MSG.CHANNEL_CLOSE).uint32(offer.id).finish());
    await until(() => tcp.closed() > 0);
    // Refused by the client (its ssh could not reach its own target): the TCP connection is closed.
    const refused = f.made[0]!.connect();
    const second = openOf(await c.next(MSG.CHANNEL_OPEN));
    c.client.send(new Writer().byte(MSG.CHANNEL_OPEN_FAILURE).uint32(second.id).uint32(2).string('connect failed').string('').finish());
    await until(() => refused.closed() > 0);
    // Still usable: an exec session after all that.
    await c.openSession();
  });

  it('cancel-tcpip-forward closes the listener it names (by the port bound); the connection ending closes the rest', async () => {
    const f = fakeListeners(45000);
    const c = await connectTo({ allowListen: () => true, listenForward: f.listenForward });
    await c.login();
    c.client.send(request('localhost', 0));
    await c.next(MSG.REQUEST_SUCCESS);
    c.client.send(request('localhost', 9000));
    await c.next(MSG.REQUEST_SUCCESS);
    c.client.send(request('localhost', 1234, 'cancel-tcpip-forward')); // nothing there
    await c.next(MSG.REQUEST_FAILURE);
    c.client.send(request('localhost', 45000, 'cancel-tcpip-forward'));
    await c.next(MSG.REQUEST_SUCCESS);
    expect(f.made.map((l) => l.closed)).toEqual([true, false]);
    const pending = f.made[1]!.connect(); // offered, never answered
    await c.next(MSG.CHANNEL_OPEN);
    c.client.disconnect(DISCONNECT.BY_APPLICATION, 'bye');
    await until(() => c.server.closed);
    await until(() => f.made[1]!.closed && pending.closed() > 0);
  });

  it('limits: at most maxListeners listeners, at most maxForwards connections offered or open (more are closed at once)', async () => {
    const f = fakeListeners();
    const c = await connectTo({ allowListen: () => true, listenForward: f.listenForward, maxListeners: 2, maxForwards: 1 });
    await c.login();
    for (const port of [5001, 5002, 5003]) c.client.send(request('localhost', port));
    await c.next(MSG.REQUEST_SUCCESS);
    await c.next(MSG.REQUEST_SUCCESS);
    await c.next(MSG.REQUEST_FAILURE);
    const first = f.made[0]!.connect();
    await c.next(MSG.CHANNEL_OPEN);
    const second = f.made[1]!.connect();
    expect(second.closed()).toBe(1);
    expect(first.closed()).toBe(0);
  });

  it('an open reply for no channel offered, or a malformed one, ends the connection with PROTOCOL_ERROR', async () => {
    const f = fakeListeners();
    const c = await connectTo({ allowListen: () => true, listenForward: f.listenForward });
    await c.login();
    c.client.send(new Writer().byte(MSG.CHANNEL_OPEN_CONFIRMATION).uint32(9).uint32(1).uint32(1000).uint32(1000).finish());
    await until(() => c.server.closed);
    expect(c.closed()).toMatchObject({ reason: DISCONNECT.PROTOCOL_ERROR, message: 'channel open reply for a channel we never opened' });
    const d = await connectTo({ allowListen: () => true, listenForward: f.listenForward });
    await d.login();
    d.client.send(request('localhost', 0));
    await d.next(MSG.REQUEST_SUCCESS);
    f.made.at(-1)!.connect();
    const offer = openOf(await d.next(MSG.CHANNEL_OPEN));
    d.client.send(new Writer().byte(MSG.CHANNEL_OPEN_CONFIRMATION).uint32(offer.id).uint32(1).finish()); // cut short
    await until(() => d.server.closed);
    expect(d.closed()).toMatchObject({ reason: DISCONNECT.PROTOCOL_ERROR });
  });
});

describe('MaxStartups', () => {
  it('past start:rate:full a new connection is closed before a byte is sent; logging in or going away frees a place', async () => {
    const log: string[] = [];
    const server = createServer({
      hostKeys: [await testKey('ed25519')],
      authenticate: (r) => r.method === 'password' && r.password === 'pw',
      onSession: () => 0,
      maxStartups: { start: 2, rate: 100, full: 2 },
      failureDelayMs: 0,
      log: (l) => log.push(l),
    });
    const idle = (peer: string) => {
      const out: Uint8Array[] = [];
      let ended = false;
      const t = server.accept({ write: (b) => void out.push(b), end: () => void (ended = true) }, { peerAddress: peer });
      return { t, out, ended: () => ended };
    };
    /** A client that logs in (and stays). */
    const login = async () => {
      const got: Uint8Array[] = [];
      let serverT!: Transport;
      const client = new Transport({ role: 'client', onSend: (b) => queueMicrotask(() => serverT.receive(b)) });
      serverT = server.accept({ write: (b) => queueMicrotask(() => client.receive(b)), end: () => {} });
      client.start();
      await until(() => client.kexCount > 0);
      await client.requestService('ssh-userauth', { handle: (_t, p) => (got.push(p.slice()), true) });
      client.send(new Writer().byte(MSG.USERAUTH_REQUEST).string('alice').string('ssh-connection').string('password').boolean(false).string('pw').finish());
      await until(() => got.some((p) => p[0] === MSG.USERAUTH_SUCCESS));
    };
    const a = idle('a port 1');
    const loggingIn = login(); // the second place, until it has logged in
    const c = idle('c port 3');
    expect(a.out.length).toBeGreaterThan(0); // its version line
    expect([c.out, c.ended(), c.t.closed]).toEqual([[], true, true]);
    expect(log).toContain('drop connection from c port 3 past MaxStartups (2 not logged in yet)');
    await loggingIn;
    const d = idle('d port 4'); // the logged-in one no longer counts
    expect(d.ended()).toBe(false);
    expect(idle('e port 5').ended()).toBe(true);
    a.t.connectionLost(); // a place freed by leaving
    expect(idle('f port 6').ended()).toBe(false);
  });

  it('sshd\'s default, 10:30:100: ten connections not logged in are all let in', async () => {
    const server = createServer({ hostKeys: [await testKey('ed25519')], onSession: () => 0 });
    const ends = Array.from({ length: 10 }, () => {
      let ended = false;
      server.accept({ write: () => {}, end: () => void (ended = true) });
      return () => ended;
    });
    expect(ends.map((e) => e())).toEqual(Array(10).fill(false));
  });

  it('parses sshd\'s syntax', () => {
    expect(parseMaxStartups('10:30:100')).toEqual({ start: 10, rate: 30, full: 100 });
    expect(parseMaxStartups('5')).toEqual({ start: 5, rate: 100, full: 5 });
    for (const bad of ['', '10:30', '0', '10:101:100', '20:30:10', 'x']) expect(() => parseMaxStartups(bad)).toThrow(/bad MaxStartups/);
  });
});
