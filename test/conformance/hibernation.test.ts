// Saving a live connection and carrying on in a fresh server object, in memory: what a Durable Object does
// when it hibernates. Our client stays connected throughout; the server side is thrown away and rebuilt
// from the sealed state (attachment + secrets) between keystrokes.
import { describe, expect, it } from 'vitest';
import { createServer, type ServerConnectionState, type ServerOptions, type SshServer } from '../../src/server.ts';
import { connect, type SshClient } from '../../src/client/client.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { DEMO_SUBSYSTEMS, makeDemoPolicy, runDemoSession } from '../../src/apps/demo.ts';
import { FX, FXF, FXP, parseSftpState } from '../../src/apps/sftp.ts';
import { Reader, getUint32 } from '../../src/wire/reader.ts';
import { Writer } from '../../src/wire/writer.ts';
import { MemoryStorage } from '../../src/apps/storage.ts';
import { newSecrets, openState, sealState, type SessionSecrets } from '../../src/io/durable-object.ts';
import { formatPublicKey } from '../../src/crypto/keys/index.ts';
import { testKey, until, enc } from '../helpers/transport.ts';
import { ptyShell } from '../helpers/screen.ts';

const dec = new TextDecoder();

/** Waits until the server can save the connection; its state. */
async function savedState(server: SshServer, t: Transport): Promise<ServerConnectionState> {
  let state: ServerConnectionState | null = null;
  await until(() => {
    const r = server.save(t);
    if ('state' in r) state = r.state;
    return state !== null;
  });
  return state!;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  const r = stream.getReader();
  for (;;) {
    const { done, value } = await r.read();
    if (done) return text;
    text += dec.decode(value);
  }
}

/** A client and a server whose server side can be hibernated and resumed. */
async function setup(over: Partial<ServerOptions> = {}, algorithms: { cipher?: string[]; mac?: string[] } = {}) {
  const hostKey = await testKey('ed25519');
  const userKey = await testKey('ed25519');
  const storage = new MemoryStorage();
  const policy = makeDemoPolicy({ password: 'pw', authorizedKeys: `restrict ${formatPublicKey(userKey.publicKey)}\n` });
  const demo = { storage, startedAt: 0, policy };
  const server = createServer({
    hostKeys: [hostKey],
    authenticate: policy.authenticate,
    authMethods: policy.methods,
    onSession: (s) => runDemoSession(s, demo),
    onResume: (s, st) => runDemoSession(s, demo, st),
    subsystems: DEMO_SUBSYSTEMS,
    failureDelayMs: 0,
    ...over,
  });
  let serverT: Transport;
  let client!: SshClient;
  let generation = 0;
  const sinkFor = (gen: number) => ({
    write: (b: Uint8Array) => {
      if (gen === generation) queueMicrotask(() => client.transport.receive(b));
    },
    end: () => {
      if (gen === generation) queueMicrotask(() => client.transport.connectionLost());
    },
  });
  serverT = server.accept(sinkFor(generation));
  client = connect(
    { username: 'alice', password: 'pw', verifyHostKey: () => true, algorithms },
    { write: (b) => queueMicrotask(() => serverT.receive(b)), end: () => queueMicrotask(() => serverT.connectionLost()) },
  );
  await client.ready;
  let secrets: SessionSecrets = newSecrets();
  const sizes: number[] = [];

  /** Waits until the server can be saved, seals it, drops it and resumes a new one from the seal. */
  async function hibernate(): Promise<void> {
    const sealed = sealState(await savedState(server, serverT), secrets, 'peer');
    if (sealed.secrets) secrets = sealed.secrets;
    sizes.push(sealed.size);
    // What survives: the attachment as the runtime keeps it (structured clone) and the secrets in storage.
    const attachment = structuredClone(sealed.attachment);
    const kept = structuredClone(secrets);
    generation++; // the old object is gone: nothing it does reaches the client any more
    const opened = openState(attachment, kept, sealed.body ?? undefined);
    if ('reason' in opened) throw new Error(opened.reason);
    serverT = server.resume(sinkFor(generation), opened.state, { peerAddress: opened.peer });
  }
  return { server, client, hibernate, sizes, get serverT() { return serverT; }, userKey, hostKey };
}

const shell = (client: SshClient) => ptyShell(client, 3000);

const suites: [string, { cipher?: string[]; mac?: string[] }][] = [
  ['chacha20-poly1305@openssh.com', { cipher: ['chacha20-poly1305@openssh.com'] }],
  ['aes128-gcm@openssh.com', { cipher: ['aes128-gcm@openssh.com'] }],
  ['aes256-ctr + hmac-sha2-256-etm', { cipher: ['aes256-ctr'], mac: ['hmac-sha2-256-etm@openssh.com'] }],
  ['aes128-ctr + hmac-sha2-512', { cipher: ['aes128-ctr'], mac: ['hmac-sha2-512'] }],
];

describe('a connection saved and resumed in a fresh server object', () => {
  for (const [name, algorithms] of suites) {
    it(`${name}: the shell's line, history and status survive; a rekey afterwards works`, async () => {
      const s = await setup({}, algorithms);
      const sh = await shell(s.client);
      await sh.waitFor('alice@edgessh:~$ ');
      await sh.type('echo one\r');
      await sh.waitFor('one\r\n');
      await sh.type('exit 3x'); // not run: the line is half typed
      await s.hibernate();
      sh.clear();
      await sh.type('\x7f\x7f'); // backspace "3x" on the restored line editor
      await sh.type('\x1b[A\x1b[A'); // history: the previous command
      await sh.type('\r');
      await sh.waitFor('one\r\n');
      await s.hibernate();
      await s.hibernate(); // twice in a row: nothing happened in between, nothing changes
      sh.clear();
      const kexBefore = s.client.transport.kexCount;
      s.client.transport.rekey();
      await until(() => s.client.transport.kexCount === kexBefore + 1);
      await s.hibernate(); // after the rekey: the new keys are what is saved
      await sh.type('echo three\r');
      await sh.waitFor('three\r\n');
      await sh.type('exit 3\r');
      expect(await sh.ch.exit).toEqual({ code: 3, signal: null });
      expect(s.serverT.kexCount).toBe(kexBefore + 1);
      s.client.end();
      expect(Math.max(...s.sizes)).toBeLessThan(8 * 1024);
    });
  }

  it('a server-initiated rekey by volume and many sessions resume too', async () => {
    const s = await setup({ rekey: { bytes: 64 * 1024 } });
    const a = await shell(s.client);
    const b = await shell(s.client);
    await a.waitFor('$ ');
    await b.waitFor('$ ');
    await s.hibernate();
    const big = await s.client.run('head -c 300000 /dev/zero');
    expect(big.stdout.length).toBe(300000);
    expect(s.serverT.kexCount).toBeGreaterThan(1);
    await s.hibernate();
    await a.type('whoami\r');
    await b.type('echo bee\r');
    await a.waitFor('alice\r\n');
    await b.waitFor('bee\r\n');
    s.client.end();
  });

  it('what cannot be saved says why: before login, and while a command reads its input', async () => {
    const hostKey = await testKey('ed25519');
    const server = createServer({ hostKeys: [hostKey], onSession: () => 0 });
    const t = server.accept({ write: () => {}, end: () => {} });
    expect(server.save(t)).toEqual({ reason: 'the user has not logged in yet' });

    const s = await setup();
    const ch = await s.client.exec('cat > notes.txt');
    await new Promise((r) => setTimeout(r, 20));
    const r = s.server.save(s.serverT);
    expect('reason' in r && r.reason).toMatch(/application is busy/);
    const w = ch.stdin.getWriter();
    await w.write(enc('kept\n'));
    await w.close();
    expect((await ch.exit).code).toBe(0);
    await s.hibernate(); // once the command is done it saves
    expect(dec.decode((await s.client.run('cat notes.txt')).stdout)).toBe('kept\n');
    s.client.end();
  });

  it('keepalive timers continue from their saved deadlines', async () => {
    const s = await setup({ keepaliveIntervalMs: 150, keepaliveCountMax: 3 });
    let globals = 0;
    s.client.transport['opts'].onPacket = (p) => {
      if (p.direction === 'in' && p.payload[0] === 80) globals++;
    };
    await s.hibernate();
    await until(() => globals >= 2); // the restored server keeps asking, the client answers, nothing ends
    expect(s.serverT.closed).toBe(false);
    s.client.end();
  });

  it('a key that logged in with restrict still gets no pty after a resume', async () => {
    const s0 = await setup();
    s0.client.end();
    const hostKey = await testKey('ed25519');
    const policy = makeDemoPolicy({ authorizedKeys: `restrict ${formatPublicKey(s0.userKey.publicKey)}\n` });
    const demo = { storage: new MemoryStorage(), startedAt: 0, policy };
    const server = createServer({ hostKeys: [hostKey], authenticate: policy.authenticate, authMethods: policy.methods, onSession: (x) => runDemoSession(x, demo) });
    let st!: Transport;
    let gen = 0;
    const mk = (g: number) => ({ write: (b: Uint8Array) => g === gen && queueMicrotask(() => c.transport.receive(b)), end: () => {} });
    st = server.accept(mk(0));
    const c = connect({ username: 'bob', privateKeys: [s0.userKey], verifyHostKey: () => true }, { write: (b) => queueMicrotask(() => st.receive(b)), end: () => {} });
    await c.ready;
    const saved = await savedState(server, st);
    gen++;
    st = server.resume(mk(gen), structuredClone(saved));
    const ch = await c.exec('stty size', { pty: { cols: 80, rows: 24 } });
    const text = (await readAll(ch.stdout)) + (await readAll(ch.stderr));
    expect(text).toMatch(/Inappropriate ioctl/);
    c.end();
  });
});

describe('an SFTP session saved and resumed', () => {
  /** A minimal SFTP client over our client's channel: one request, one reply. */
  async function sftp(client: SshClient) {
    const ch = await client.subsystem('sftp');
    const w = ch.stdin.getWriter();
    const r = ch.stdout.getReader();
    let buf = new Uint8Array(0);
    let id = 0;
    const next = async (): Promise<Reader> => {
      while (buf.length < 4 || buf.length < 4 + getUint32(buf, 0)) {
        const { value, done } = await r.read();
        if (done) throw new Error('the sftp channel closed');
        const j = new Uint8Array(buf.length + value.length);
        j.set(buf);
        j.set(value, buf.length);
        buf = j;
      }
      const m = buf.slice(4, 4 + getUint32(buf, 0));
      buf = buf.slice(4 + m.length);
      return new Reader(m);
    };
    const frame = (body: Uint8Array) => new Writer().uint32(body.length).raw(body).finish();
    await w.write(frame(new Writer().byte(FXP.INIT).uint32(3).finish()));
    await next();
    const ask = async (type: number, body: (w: Writer) => Writer) => {
      await w.write(frame(body(new Writer().byte(type).uint32(++id)).finish()));
      const m = await next();
      return { type: m.byte(), id: m.uint32(), m };
    };
    return { ch, w, ask };
  }

  it('open handles (a file being read, a directory being listed) survive; a file open for writing keeps it awake', async () => {
    const s = await setup();
    const f = await sftp(s.client);
    const wr = await f.ask(FXP.OPEN, (w) => w.string('data.bin').uint32(FXF.WRITE | FXF.CREAT | FXF.TRUNC).uint32(0));
    const wh = wr.m.bytes().slice();
    await f.ask(FXP.WRITE, (w) => w.bytes(wh).uint64(0n).bytes(enc('0123456789')));
    await new Promise((r) => setTimeout(r, 20));
    const busy = s.server.save(s.serverT);
    expect('reason' in busy && busy.reason).toMatch(/application is busy/);
    expect((await f.ask(FXP.CLOSE, (w) => w.bytes(wh))).m.uint32()).toBe(FX.OK);

    const rh = (await f.ask(FXP.OPEN, (w) => w.string('data.bin').uint32(FXF.READ).uint32(0))).m.bytes().slice();
    const dh = (await f.ask(FXP.OPENDIR, (w) => w.string('/'))).m.bytes().slice();
    expect((await f.ask(FXP.MKDIR, (w) => w.string('sub').uint32(0))).m.uint32()).toBe(FX.OK);
    const wsub = (await f.ask(FXP.OPEN, (w) => w.string('sub/x').uint32(FXF.WRITE | FXF.CREAT).uint32(0))).m.bytes().slice();
    expect((await f.ask(FXP.CLOSE, (w) => w.bytes(wsub))).m.uint32()).toBe(FX.OK);
    const sh = (await f.ask(FXP.OPENDIR, (w) => w.string('sub'))).m.bytes().slice();
    const first = await f.ask(FXP.READ, (w) => w.bytes(rh).uint64(0n).uint32(4));
    expect(dec.decode(first.m.bytes())).toBe('0123');
    await s.hibernate();
    await s.hibernate();
    const rest = await f.ask(FXP.READ, (w) => w.bytes(rh).uint64(4n).uint32(100));
    expect(rest.type).toBe(FXP.DATA);
    expect(dec.decode(rest.m.bytes())).toBe('456789');
    const names = await f.ask(FXP.READDIR, (w) => w.bytes(dh));
    expect(names.type).toBe(FXP.NAME);
    expect(names.m.uint32()).toBe(4); // ., .., data.bin, sub
    await s.hibernate();
    const inSub = await f.ask(FXP.READDIR, (w) => w.bytes(sh)); // a directory below the top, after three hibernations
    expect(inSub.type).toBe(FXP.NAME);
    expect(inSub.m.uint32()).toBe(3); // ., .., x
    expect((await f.ask(FXP.CLOSE, (w) => w.bytes(sh))).m.uint32()).toBe(FX.OK);
    expect((await f.ask(FXP.READDIR, (w) => w.bytes(dh))).m.uint32()).toBe(FX.EOF);
    expect((await f.ask(FXP.CLOSE, (w) => w.bytes(rh))).m.uint32()).toBe(FX.OK);
    expect((await f.ask(FXP.CLOSE, (w) => w.bytes(dh))).m.uint32()).toBe(FX.OK);
    await f.w.close();
    expect((await f.ch.exit).code).toBe(0);
    expect(Math.max(...s.sizes)).toBeLessThan(8 * 1024);
    s.client.end();
  });

  it('a saved SFTP state is checked field by field', () => {
    expect(parseSftpState({ sftp: 1, next: 3, handles: [[1, 'dir', 0], [2, 'read', 'a.txt']] })).not.toBeNull();
    expect(parseSftpState({ sftp: 1, next: 3, handles: [[1, 'dir', 0, 'd/e'], [2, 'read', 'd/a.txt']] })).not.toBeNull();
    for (const bad of [
      null,
      { sftp: 2, next: 1, handles: [] },
      { sftp: 1, next: 0, handles: [] },
      { sftp: 1, next: 2, handles: [[2, 'dir', 0]] }, // a handle number not yet given out
      { sftp: 1, next: 3, handles: [[1, 'dir', 0], [1, 'dir', 0]] },
      { sftp: 1, next: 2, handles: [[1, 'read', '../x']] },
      { sftp: 1, next: 2, handles: [[1, 'write', 'x']] },
      { sftp: 1, next: 2, handles: [[1, 'dir', -1]] },
      { sftp: 1, next: 2, handles: [[1, 'dir', 0, '/d']] },
      { sftp: 1, next: 2, handles: [[1, 'dir', 0, 'd/../e']] },
      { sftp: 1, next: 2, handles: [[1, 'read', '']] },
      { sftp: 1, next: 2, handles: [[1, 'read', 'a', 'b']] },
      { sftp: 1, next: 99, handles: Array.from({ length: 40 }, (_, i) => [i + 1, 'dir', 0]) },
    ])
      expect(parseSftpState(bad)).toBeNull();
  });
});

describe('a saved state that is not ours is refused with a reason', () => {
  it('corrupted, foreign, never saved, or out of step with its keys', async () => {
    const s = await setup();
    const sh = await shell(s.client);
    await sh.waitFor('$ ');
    const state = await savedState(s.server, s.serverT);
    const secrets = newSecrets();
    const sealed = sealState(state, secrets, 'peer');
    const kept = sealed.secrets!;
    expect('state' in openState(sealed.attachment, kept, undefined)).toBe(true);

    const flipped = { ...sealed.attachment, body: sealed.attachment.body!.replace('"seqIn":', '"seqIn":1') };
    expect(openState(flipped, kept, undefined)).toEqual({ reason: 'the saved session state is corrupted' });
    expect(openState({ ...sealed.attachment, mac: 'zz' }, kept, undefined)).toEqual({ reason: 'the saved session state is corrupted' });

    const other = sealState(state, newSecrets(), 'peer');
    expect(openState(other.attachment, kept, undefined)).toEqual({ reason: 'the saved session state belongs to another session' });
    // Same tag, another object's MAC key (a copied attachment whose tag happens to match): still refused.
    const forged = sealState(state, { ...newSecrets(), tag: kept.tag }, 'peer');
    expect(openState(forged.attachment, kept, undefined)).toEqual({ reason: 'the saved session state is corrupted' });

    expect(openState(null, kept, undefined)).toEqual({ reason: 'the saved session state is missing or unreadable' });
    expect(openState('garbage', kept, undefined)).toEqual({ reason: 'the saved session state is missing or unreadable' });
    expect((openState({ ...sealed.attachment, epoch: -1, body: null }, kept, undefined) as { reason: string }).reason).toMatch(/evicted before the session could be saved/);
    expect(openState(sealed.attachment, { ...kept, epoch: kept.epoch + 1 }, undefined)).toEqual({ reason: 'the saved session state does not match its keys' });

    // A state too large for an attachment goes to storage; without that body it cannot be used.
    const big = structuredClone(state);
    big.connection.channels[0]!.session.app = { ...(big.connection.channels[0]!.session.app as object), history: Array(40).fill('x'.repeat(1000)) };
    const large = sealState(big, kept, 'peer');
    expect(large.attachment.inStorage).toBe(true);
    expect(large.attachment.body).toBe(null);
    expect(large.body!.length).toBeGreaterThan(40_000);
    expect('state' in openState(large.attachment, kept, large.body!)).toBe(true);
    expect(openState(large.attachment, kept, undefined)).toEqual({ reason: 'the saved session state is missing from storage' });

    // A state whose keys do not fit the cipher is refused by the restore, not used.
    const bad = openState(sealed.attachment, kept, undefined) as { state: Parameters<SshServer['resume']>[1] };
    bad.state.transport.keys.out = { ...bad.state.transport.keys.out, encKey: new Uint8Array(3) };
    expect(() => s.server.resume({ write: () => {}, end: () => {} }, bad.state)).toThrow(/bad key/);
    s.client.end();
  });
});
