// Conformance of ssh-userauth (RFC 4252/4256) and ssh-connection (RFC 4254), driven message by message.
import { describe, expect, it } from 'vitest';
import { createServer, type ServerOptions } from '../../src/server.ts';
import { Transport, type TransportEvent } from '../../src/transport/transport.ts';
import { DISCONNECT, MSG } from '../../src/wire/messages.ts';
import { Reader } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';
import { runExec } from '../../src/apps/shell.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { testKey, until } from '../helpers/transport.ts';
import { connectTo } from '../helpers/services.ts';
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';


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
