// The transport against paramiko (Transport.start_client + renegotiate_keys) and Dropbear's guessed kex.

import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { havePeer, makeFixture, run, startServer, type Fixture, type RunningServer } from '../helpers/peers.ts';

const PY = '/usr/bin/python3';
let fx: Fixture;
let srv: RunningServer;

beforeAll(async () => {
  fx = makeFixture();
  srv = await startServer(fx);
});
afterAll(() => srv?.close());

describe.skipIf(!havePeer('/usr/lib/python3/dist-packages/paramiko'))('paramiko 2.12 Transport', () => {
  for (const cipher of ['aes128-ctr', 'aes192-ctr', 'aes256-ctr']) {
    it(`start_client with ${cipher}, then renegotiate_keys()`, async () => {
      const before = srv.conns.length;
      const r = await run(PY, ['test/interop/peers/paramiko_transport.py', String(srv.port), cipher, 'default']);
      expect(r.stderr).toBe('');
      const [keyType, first, after, active] = r.stdout.toString().trim().split(' ');
      expect(keyType).toBe('ssh-ed25519');
      expect([first, after]).toEqual([cipher, cipher]);
      expect(active).toBe('True');
      const conn = srv.conns[before]!;
      expect(conn.transport.kexCount).toBe(2);
      expect(conn.transport.strictKex).toBe(false); // paramiko does not offer strict kex
    });
  }

  for (const kex of ['curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group14-sha256', 'diffie-hellman-group16-sha512']) {
    it(`kex ${kex}`, async () => {
      const before = srv.conns.length;
      const r = await run(PY, ['test/interop/peers/paramiko_transport.py', String(srv.port), 'aes256-ctr', kex]);
      expect(r.stderr).toBe('');
      expect(srv.conns[before]!.transport.negotiated!.kex).toBe(kex);
    });
  }
});

describe.skipIf(!havePeer('/usr/bin/dbclient'))('Dropbear 2022.83 client', () => {
  it('sends a guessed kex packet; the connection completes', async () => {
    const key = join(fx.dir, 'user.dropbear');
    execFileSync('dropbearconvert', ['openssh', 'dropbear', fx.userKey, key], { stdio: 'ignore' });
    const before = srv.conns.length;
    const r = await run('test/interop/peers/dropbear_guess.sh', [String(srv.port), key], { env: { HOME: fx.dir } });
    expect(r.code).toBe(0);
    const conn = srv.conns[before]!;
    expect(conn.transport.kexCount).toBe(1);
    expect(conn.events.some((e) => e.type === 'service')).toBe(true);
  });
});

