// The Worker inside workerd: routes, and SSH over the Durable Object's WebSocket, driven by our client.
import { SELF, env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { openSocket, pacedSend, sshOverSocket, until } from './ssh-over-ws.ts';
import { DurableObjectFileStorage } from '../../worker/files.ts';
import { directoryContract, renameContract } from '../helpers/storage-contract.ts';

describe('Worker routes', () => {
  it('GET /healthz answers ok', async () => {
    const r = await SELF.fetch('http://edgessh.test/healthz');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok\n');
  });

  it('anything else is a short 404', async () => {
    const r = await SELF.fetch('http://edgessh.test/nope');
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/Not found: \/nope/);
  });

  it('/ssh without a WebSocket upgrade is refused with 426 and a hint', async () => {
    const r = await SELF.fetch('http://edgessh.test/ssh');
    expect(r.status).toBe(426);
    expect(await r.text()).toMatch(/Upgrade: websocket/);
  });

  it('GET / serves the web page', async () => {
    const r = await SELF.fetch('http://edgessh.test/');
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/edgessh/);
  });
});

describe('SSH over the WebSocket', () => {
  it('key exchange, password login, exec with exit status, and files kept per user', async () => {
    const ws = await openSocket(SELF);
    const c = await sshOverSocket(ws);
    expect(c.client.strictKex).toBe(true);
    expect(await c.login('alice', 'worker-test-password')).toBe(true);
    expect(await c.exec('echo hi')).toEqual({ stdout: 'hi\n', stderr: '', status: 0 });
    expect((await c.exec('exit 7')).status).toBe(7);
    const nope = await c.exec('nope');
    expect(nope.status).toBe(127);
    expect(nope.stderr).toMatch(/nope: command not found/);
    const data = new TextEncoder().encode('kept in durable object storage\n'.repeat(5000));
    expect((await c.exec('cat > notes.txt', data)).status).toBe(0);
    c.client.disconnect(11, 'bye');

    // A second connection (a different Durable Object) sees alice's file.
    const c2 = await sshOverSocket(await openSocket(SELF));
    expect(await c2.login('alice', 'worker-test-password')).toBe(true);
    expect((await c2.exec('ls')).stdout).toMatch(/notes\.txt/);
    const back = await c2.exec('cat notes.txt');
    expect(back.status).toBe(0);
    expect(back.stdout).toBe(new TextDecoder().decode(data));
    c2.client.disconnect(11, 'bye');
  });

  it('the Durable Object file storage keeps directories as memory and folders do; the shell and SFTP use them', async () => {
    const files = new DurableObjectFileStorage((env as unknown as { FILES: ConstructorParameters<typeof DurableObjectFileStorage>[0] }).FILES);
    await directoryContract(files);
    await renameContract(files);
    // A file stored before files had IDs (its chunks under its path) is read, moved and removed as any other.
    const ns = (env as unknown as { FILES: DurableObjectNamespace }).FILES;
    await runInDurableObject(ns.get(ns.idFromName('legacy')), async (_o, st) => {
      await st.storage.put({ 'meta:old.txt': { size: 3, chunks: 1, mtime: 1 }, 'data:old.txt:0': new TextEncoder().encode('old') });
    });
    expect(new TextDecoder().decode((await files.read('legacy', 'old.txt'))!)).toBe('old');
    expect(await files.rename('legacy', 'old.txt', 'new.txt')).toBe(true);
    await files.write('legacy', 'old.txt', new TextEncoder().encode('fresh')); // a new file where the old one was
    expect(new TextDecoder().decode((await files.read('legacy', 'new.txt'))!)).toBe('old');
    expect(await files.remove('legacy', 'new.txt')).toBe(true);
    expect(new TextDecoder().decode((await files.read('legacy', 'old.txt'))!)).toBe('fresh');
    expect(await runInDurableObject(ns.get(ns.idFromName('legacy')), async (_o, st) => [...(await st.storage.list({ prefix: 'data:' })).keys()].length)).toBe(1);
    // The quota (FILES_QUOTA_MB, 20 in these tests) counts all of a user's files; a file written again counts once.
    const big = new Uint8Array(16 << 20);
    await files.write('quota', 'a', big);
    await expect(files.write('quota', 'b', new Uint8Array(5 << 20))).rejects.toThrow('Disk quota exceeded (20 MiB per user)');
    await files.write('quota', 'a', new Uint8Array(10 << 20));
    await files.write('quota', 'b', new Uint8Array(10 << 20));
    expect(await files.list('quota')).toEqual(['a', 'b']);
    expect(await files.usage('quota')).toEqual({ bytes: 20 << 20, bytesLimit: 20 << 20, entries: 2, entriesLimit: 1000 }); // sftp's df
    const c = await sshOverSocket(await openSocket(SELF));
    expect(await c.login('dirs', 'worker-test-password')).toBe(true);
    expect(await c.exec('mkdir d; mkdir d/e; echo x | cat > d/e/f; ls d; ls d/e; cat d/e/f')).toEqual({ stdout: 'e\nf\nx\n', stderr: '', status: 0 });
    expect(await c.exec('rmdir d/e')).toEqual({ stdout: '', stderr: "rmdir: failed to remove 'd/e': Directory not empty\n", status: 1 });
    expect((await c.exec('rm d/e/f && rmdir d/e && rmdir d && ls')).stdout).toBe('');
    c.client.disconnect(11, 'bye');
  });

  it('a wrong password is refused', async () => {
    const c = await sshOverSocket(await openSocket(SELF));
    expect(await c.login('alice', 'wrong')).toBe(false);
    c.client.disconnect(11, 'bye');
  });

  it('DENY_USERS (sshd\'s DenyUsers): the right password does not log in a denied user; root is denied from anywhere', async () => {
    for (const user of ['mallory', 'root']) {
      const c = await sshOverSocket(await openSocket(SELF));
      expect(await c.login(user, 'worker-test-password'), user).toBe(false);
      c.client.disconnect(11, 'bye');
    }
    const ok = await sshOverSocket(await openSocket(SELF));
    expect(await ok.login('alice', 'worker-test-password')).toBe(true);
    ok.client.disconnect(11, 'bye');
  });

  it('any framing works: the client bytes split one per message', async () => {
    const ws = await openSocket(SELF);
    const replies: Uint8Array[] = [];
    ws.addEventListener('message', (e) => void replies.push(new Uint8Array(e.data as ArrayBuffer)));
    // Spaced out: the test harness may reorder messages sent back to back (see pacedSend).
    await pacedSend(ws, Array.from(new TextEncoder().encode('SSH-2.0-OpenSSH_9.2\r\n'), (b) => new Uint8Array([b])));
    await until(() => replies.length > 0);
    expect(new TextDecoder().decode(replies[0]!)).toMatch(/^SSH-2\.0-edgessh_/);
    ws.close(1000, 'done');
  });

  it('a text message closes the socket with a clear reason', async () => {
    const ws = await openSocket(SELF);
    let close: { code: number; reason: string } | null = null;
    ws.addEventListener('close', (e) => void (close = { code: e.code, reason: e.reason }));
    ws.send('SSH-2.0-text\r\n');
    await until(() => !!close);
    expect(close).toEqual({ code: 1003, reason: 'edgessh: SSH bytes must be sent as binary WebSocket messages' });
  });

  it('garbage instead of a version line ends with a readable message', async () => {
    const ws = await openSocket(SELF);
    const got: number[] = [];
    let close: { code: number } | null = null;
    ws.addEventListener('message', (e) => void got.push(...new Uint8Array(e.data as ArrayBuffer)));
    ws.addEventListener('close', (e) => void (close = { code: e.code }));
    ws.send(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2000)));
    await until(() => !!close);
    const text = new TextDecoder().decode(new Uint8Array(got));
    expect(text).toMatch(/^SSH-2\.0-edgessh_/);
  });
});

describe('configuration', () => {
  it('USER_AUTHORIZED_KEYS and a per-user AUTHORIZED_PRINCIPALS: a wrangler.toml table or JSON text (a secret), user name to text; anything else is refused', async () => {
    const { perUserTexts } = await import('../../worker/session.ts');
    const line = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEUZzFeXqbFTllocoM2DD7fIgTDuJfY7M1n8ozCDPpBN carol';
    expect(perUserTexts('USER_AUTHORIZED_KEYS', undefined)).toEqual({});
    expect(perUserTexts('USER_AUTHORIZED_KEYS', '')).toEqual({});
    expect(perUserTexts('USER_AUTHORIZED_KEYS', { carol: line })).toEqual({ carol: line });
    expect(perUserTexts('USER_AUTHORIZED_KEYS', JSON.stringify({ carol: line }))).toEqual({ carol: line });
    expect(() => perUserTexts('USER_AUTHORIZED_KEYS', 'carol: ssh-ed25519 AAAA')).toThrow(/USER_AUTHORIZED_KEYS is not JSON/);
    expect(() => perUserTexts('AUTHORIZED_PRINCIPALS', '["x"]')).toThrow(/AUTHORIZED_PRINCIPALS must map each user name to text/);
    expect(() => perUserTexts('USER_AUTHORIZED_KEYS', { carol: 7 } as never)).toThrow(/must map each user name/);
  });

  it('without HOST_KEY a session is refused with a log line and a WebSocket close reason, never a made-up key', async () => {
    const { SshSession, loadHostKeys } = await import('../../worker/session.ts');
    const { env, runInDurableObject } = await import('cloudflare:test');
    await expect(loadHostKeys({ ...env, HOST_KEY: '' })).rejects.toThrow(/HOST_KEY is not set/);
    await expect(loadHostKeys({ ...env, HOST_KEY: 'nonsense' })).rejects.toThrow(/no PEM private key/);
    const errors: string[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => errors.push(a.join(' '));
    try {
      const stub = env.SESSIONS.get(env.SESSIONS.newUniqueId());
      // The same class, given the real object state but an environment without HOST_KEY.
      const close = await runInDurableObject(stub, async (_o, state) => {
        const res = await new SshSession(state, { ...env, HOST_KEY: '' }).fetch(new Request('http://edgessh.test/ssh', { headers: { Upgrade: 'websocket' } }));
        const ws = (res as Response & { webSocket: WebSocket & { accept(): void } }).webSocket;
        let got: { code: number; reason: string } | null = null;
        ws.addEventListener('close', (e) => void (got = { code: e.code, reason: e.reason }));
        ws.accept();
        await until(() => !!got);
        return got! as { code: number; reason: string };
      });
      expect(close!.code).toBe(1011);
      expect(close!.reason).toMatch(/^edgessh: server not configured: HOST_KEY is not set/);
      expect(errors.join('\n')).toMatch(/refusing the session: HOST_KEY is not set/);
    } finally {
      console.error = orig;
    }
  });
});
