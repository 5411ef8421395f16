// Sessions that survive Durable Object hibernation, inside workerd: our client logs in over the WebSocket
// and opens a shell; the object is evicted (really, by idling past workerd's eviction time, and
// simulated, by dropping its in-memory connection); the next keystroke wakes a fresh instance.
import { SELF, env, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type SshClient } from '../../src/client/client.ts';
import { feedFromWebSocket, type WebSocketLike } from '../../src/io/websocket.ts';
import type { SshSession } from '../../worker/session.ts';
import { openSocket, pacedSink, until } from './ssh-over-ws.ts';
import { ptyShell } from '../helpers/screen.ts';

// Sessions end asynchronously after their test; let their last log lines out before workerd shuts down.
afterAll(() => new Promise((r) => setTimeout(r, 1000)));

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Logs in over a new WebSocket; returns the client, a shell on a pty and the session object's stub. */
async function session() {
  const before = new Set((await listDurableObjectIds(env.SESSIONS)).map((id) => id.toString()));
  const ws = await openSocket(SELF);
  let closed: { code: number; reason: string } | null = null;
  ws.addEventListener('close', (e) => {
    closed = { code: e.code, reason: e.reason };
  });
  const socket = ws as unknown as WebSocketLike;
  const client: SshClient = connect({ username: 'alice', password: 'worker-test-password', verifyHostKey: () => true }, pacedSink(ws));
  feedFromWebSocket(socket, () => client.transport);
  await client.ready;
  const ids = (await listDurableObjectIds(env.SESSIONS)).filter((id) => !before.has(id.toString()));
  expect(ids.length).toBe(1);
  const stub = env.SESSIONS.get(ids[0]!) as unknown as DurableObjectStub<SshSession>;
  const sh = await ptyShell(client);
  return {
    client,
    stub,
    ch: sh.ch,
    get closed() {
      return closed as { code: number; reason: string } | null;
    },
    type: sh.type,
    waitFor: sh.waitFor,
    clear: sh.clear,
  };
}

type Inside = { live: unknown; waking: unknown; saveTimer: unknown };

/** Whether the object holds a live connection in memory (false: evicted, or a fresh instance). */
const isLive = (stub: DurableObjectStub<SshSession>) => runInDurableObject(stub, (o) => (o as unknown as Inside).live !== null);
const restores = (stub: DurableObjectStub<SshSession>) => runInDurableObject(stub, (_o, st) => st.storage.get<number>('restores'));

/** Waits until the object has saved the connection (no save pending, state in the attachment). */
async function saved(stub: DurableObjectStub<SshSession>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const done = await runInDurableObject(stub, (o, st) => {
      const inside = o as unknown as Inside;
      const a = st.getWebSockets()[0]?.deserializeAttachment() as { epoch?: number } | undefined;
      return inside.saveTimer === null && (a?.epoch ?? -1) >= 0;
    });
    if (done) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the session was never saved');
}

/** Drops the object's in-memory connection, as an eviction does (the socket and storage stay). */
const forget = (stub: DurableObjectStub<SshSession>) =>
  runInDurableObject(stub, (o) => {
    const inside = o as unknown as Inside;
    inside.live = null;
    inside.waking = null;
  });

describe('a session survives hibernation', () => {
  it('idle past the eviction time: the object is evicted, the next keystroke resumes the shell, a rekey works', async () => {
    const s = await session();
    await s.waitFor('alice@edgessh:~$ ');
    await s.type('echo one\r');
    await s.waitFor('one\r\n');
    await s.type('echo tw'); // half a line in the editor when the object goes away
    await s.waitFor('echo tw');
    await saved(s.stub);
    // workerd evicts an idle object with only hibernatable sockets after ~10 s.
    await new Promise((r) => setTimeout(r, 15_000));
    expect(await isLive(s.stub)).toBe(false);
    s.clear();
    await s.type('o\r');
    await s.waitFor('two\r\n');
    expect(await restores(s.stub)).toBe(1);
    // Sequence numbers and MACs are right both ways: a rekey, then more commands.
    const k = s.client.transport.kexCount;
    s.client.transport.rekey();
    await until(() => s.client.transport.kexCount === k + 1);
    s.clear();
    await s.type('\x1b[A\r'); // history survived: "echo two" again
    await s.waitFor('two\r\n');
    await saved(s.stub);
    await forget(s.stub); // and once more, with the keys of the rekey
    s.clear();
    await s.type('whoami\r');
    await s.waitFor('alice\r\n');
    expect(await restores(s.stub)).toBe(2);
    await s.type('exit 4\r');
    expect(await s.ch.exit).toEqual({ code: 4, signal: null });
    s.client.end();
  }, 60_000);

  it('files written before the hibernation are there after it', async () => {
    const s = await session();
    await s.waitFor('$ ');
    const r = await s.client.run('cat > kept.txt', enc.encode('still here\n'));
    expect(r.code).toBe(0);
    await saved(s.stub);
    await forget(s.stub);
    expect(dec.decode((await s.client.run('cat kept.txt')).stdout)).toBe('still here\n');
    s.client.end();
  });
});

describe('what cannot be saved keeps the object awake', () => {
  it('a command reading its input through 15 s of silence: never evicted, nothing lost', async () => {
    const s = await session();
    await s.waitFor('$ ');
    const ch = await s.client.exec('cat > slow.txt');
    const w = ch.stdin.getWriter();
    await w.write(enc.encode('first half, '));
    await new Promise((r) => setTimeout(r, 15_000));
    expect(await isLive(s.stub)).toBe(true);
    expect(await restores(s.stub)).toBe(undefined);
    await w.write(enc.encode('second half\n'));
    await w.close();
    expect((await ch.exit).code).toBe(0);
    expect(dec.decode((await s.client.run('cat slow.txt')).stdout)).toBe('first half, second half\n');
    s.client.end();
  }, 40_000);
});

describe('a restore that cannot be trusted ends the session with a reason', () => {
  const cases: [string, (st: DurableObjectState, other: unknown) => void | Promise<void>, RegExp][] = [
    ['a corrupted attachment', (st) => {
      const ws = st.getWebSockets()[0]!;
      const a = ws.deserializeAttachment() as { body: string };
      ws.serializeAttachment({ ...a, body: a.body.replace('"seqOut":', '"seqOut":9') });
    }, /cannot resume the session: the saved session state is corrupted/],
    ['another session\'s attachment', (st, other) => st.getWebSockets()[0]!.serializeAttachment(other), /belongs to another session/],
    ['garbage', (st) => st.getWebSockets()[0]!.serializeAttachment('garbage'), /missing or unreadable/],
    ['lost keys', async (st) => void (await st.storage.delete('session-secrets')), /the session keys are missing/],
  ];
  for (const [what, spoil, reason] of cases) {
    it(what, async () => {
      const a = await session();
      const b = await session();
      await a.waitFor('$ ');
      await b.waitFor('$ ');
      await saved(a.stub);
      await saved(b.stub);
      const other = await runInDurableObject(b.stub, (_o, st) => st.getWebSockets()[0]!.deserializeAttachment());
      await forget(a.stub);
      await runInDurableObject(a.stub, (_o, st) => spoil(st, other));
      const errors: string[] = [];
      const orig = console.error;
      console.error = (...x: unknown[]) => errors.push(x.join(' '));
      try {
        await a.type('whoami\r');
        await until(() => a.closed !== null);
      } finally {
        console.error = orig;
      }
      expect(a.closed!.code).toBe(1011);
      expect(a.closed!.reason).toMatch(reason);
      expect(errors.join('\n')).toMatch(reason);
      // The other session never noticed.
      b.clear();
      await b.type('whoami\r');
      await b.waitFor('alice\r\n');
      b.client.end();
    });
  }
});

describe('storage before login', () => {
  it('a connection that has not logged in has written nothing; evicted then, it is refused with the reason', async () => {
    const before = new Set((await listDurableObjectIds(env.SESSIONS)).map((id) => id.toString()));
    const ws = await openSocket(SELF);
    let closed: { code: number; reason: string } | null = null;
    ws.addEventListener('close', (e) => {
      closed = { code: e.code, reason: e.reason };
    });
    const banner = new Promise<void>((res) => ws.addEventListener('message', () => res(), { once: true }));
    await banner; // the object has accepted the socket and sent its version line
    const ids = (await listDurableObjectIds(env.SESSIONS)).filter((id) => !before.has(id.toString()));
    const stub = env.SESSIONS.get(ids[0]!) as unknown as DurableObjectStub<SshSession>;
    expect(await runInDurableObject(stub, async (_o, st) => (await st.storage.list()).size)).toBe(0);
    await forget(stub);
    const orig = console.error;
    console.error = () => {};
    try {
      ws.send(new TextEncoder().encode('SSH-2.0-test\r\n'));
      await until(() => closed !== null);
    } finally {
      console.error = orig;
    }
    expect(closed!.code).toBe(1011);
    expect(closed!.reason).toMatch(/evicted before the session could be saved/);
    expect(await runInDurableObject(stub, async (_o, st) => (await st.storage.list()).size)).toBe(0);
  });

  it('before the first save the timers need no storage alarm, and still fire; after it, the next deadline is the alarm', async () => {
    type Timers = { timers: { setTimer(fn: () => void, ms: number): { cancel(): void } }; memoryAlarm: unknown };
    const before = new Set((await listDurableObjectIds(env.SESSIONS)).map((id) => id.toString()));
    const ws = await openSocket(SELF);
    await new Promise<void>((res) => ws.addEventListener('message', () => res(), { once: true }));
    const ids = (await listDurableObjectIds(env.SESSIONS)).filter((id) => !before.has(id.toString()));
    const stub = env.SESSIONS.get(ids[0]!) as unknown as DurableObjectStub<SshSession>;
    // The server's key exchange deadline is pending, in memory only.
    expect(await runInDurableObject(stub, (o, st) => st.storage.getAlarm().then((a) => [a, (o as unknown as Timers).memoryAlarm !== null]))).toEqual([null, true]);
    // A timer long enough for the alarm table (≥ 2 s) fires from the in-memory stand-in.
    type Rung = { rang?: boolean };
    await runInDurableObject(stub, (o) => {
      (o as unknown as Timers).timers.setTimer(() => ((o as unknown as Rung).rang = true), 2100);
    });
    for (let i = 0; i < 100 && !(await runInDurableObject(stub, (o) => (o as unknown as Rung).rang)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await runInDurableObject(stub, (o) => (o as unknown as Rung).rang)).toBe(true);
    expect(await runInDurableObject(stub, (_o, st) => st.storage.getAlarm())).toBeNull();
    ws.close();

    // A session that logs in is saved; its earliest deadline (rekey by time, 1 h) is then the storage alarm.
    const s = await session();
    await s.waitFor('$ ');
    await saved(s.stub);
    expect(await runInDurableObject(s.stub, (o) => (o as unknown as Timers).memoryAlarm)).toBeNull();
    expect(await runInDurableObject(s.stub, (_o, st) => st.storage.getAlarm())).toBeGreaterThan(Date.now() + 3500_000);
    s.client.end();
  });
});

describe('timers live behind the alarm and survive hibernation', () => {
  it('rekey by time: the deadline is in the saved state, the alarm wakes the object and the server rekeys', async () => {
    const { openState, sealState, SECRETS_KEY } = await import('../../src/io/durable-object.ts');
    const s = await session();
    await s.waitFor('$ ');
    await saved(s.stub);
    // Idle at the prompt, nothing keeps the object awake: the next deadline (rekey by time, 1 h) is an alarm.
    const alarm = await runInDurableObject(s.stub, (_o, st) => st.storage.getAlarm());
    expect(alarm).toBeGreaterThan(Date.now() + 3500_000);
    await forget(s.stub);
    // Move the last key exchange back by almost an hour in the saved state (re-sealed with the session's key).
    await runInDurableObject(s.stub, async (_o, st) => {
      const ws = st.getWebSockets()[0]!;
      const secrets = (await st.storage.get(SECRETS_KEY)) as Parameters<typeof openState>[1];
      const opened = openState(ws.deserializeAttachment(), secrets, undefined) as { state: Parameters<typeof sealState>[0]; peer: string };
      opened.state.transport.lastKexAt = Date.now() - 3600_000 + 1500;
      ws.serializeAttachment(sealState(opened.state, secrets!, opened.peer).attachment);
    });
    const k = s.client.transport.kexCount;
    // The old alarm rings now: the object wakes, restores, and sets the alarm for the new deadline.
    expect(await runDurableObjectAlarm(s.stub)).toBe(true);
    expect(await restores(s.stub)).toBe(1);
    await until(() => s.client.transport.kexCount === k + 1, 15_000); // the server started it, on its alarm
    s.clear();
    await s.type('echo after-rekey\r');
    await s.waitFor('after-rekey\r\n');
    s.client.end();
  }, 30_000);
});
