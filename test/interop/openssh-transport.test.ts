// The transport against real OpenSSH clients: every kex × host key, every cipher × MAC, rekeys.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSH10, SSH9, havePeer, makeFixture, run, sshArgs, startServer, type Fixture, type RunningServer } from '../helpers/peers.ts';
import { nodeProtection, nodeSigningKey, nodeX25519 } from '../../src/io/node-crypto.ts';

const KEX_92 = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
  'diffie-hellman-group14-sha256',
];
const HOST_KEYS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
];
const CIPHERS = [
  'chacha20-poly1305@openssh.com',
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
];
const MACS = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'];

let fx: Fixture;
let srv: RunningServer;
/**
 * The same server with node:crypto doing what it can (what `edgessh serve` runs by default): packets sealed
 * and opened, X25519 key pairs made and host key signatures made by OpenSSL.
 */
let nodeSrv: RunningServer;

beforeAll(async () => {
  fx = makeFixture();
  srv = await startServer(fx);
  nodeSrv = await startServer(fx, { protection: nodeProtection, x25519: nodeX25519, signWith: nodeSigningKey });
});
afterAll(async () => {
  await srv?.close();
  await nodeSrv?.close();
});

/** Connects, authenticates with a key and runs `true`; returns what the server saw. */
async function connect(ssh: string, opts: string[]) {
  const before = srv.conns.length;
  const r = await run(ssh, sshArgs(fx, srv.port, opts.concat(['-o', 'LogLevel=ERROR'])).concat(['true']));
  const conn = srv.conns[before];
  return { r, conn };
}

describe.skipIf(!havePeer(SSH9))('OpenSSH 9.2', () => {
  for (const kex of KEX_92) {
    for (const hk of HOST_KEYS) {
      it(`kex ${kex} × host key ${hk}`, async () => {
        const { r, conn } = await connect(SSH9, ['-o', `KexAlgorithms=${kex}`, '-o', `HostKeyAlgorithms=${hk}`]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(conn!.transport.negotiated).toMatchObject({ kex, hostKey: hk });
        expect(conn!.events.some((e) => e.type === 'service' && e.name === 'ssh-userauth')).toBe(true);
        expect(conn!.transport.strictKex).toBe(true);
      });
    }
  }

  for (const cipher of CIPHERS) {
    for (const mac of cipher.includes('ctr') ? MACS : [null]) {
      it(`cipher ${cipher}${mac ? ` × MAC ${mac}` : ''}`, async () => {
        const { r, conn } = await connect(SSH9, ['-c', cipher, ...(mac ? ['-m', mac] : [])]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(conn!.transport.negotiated).toMatchObject({ cipherC2S: cipher, cipherS2C: cipher, macC2S: mac, macS2C: mac });
      });
    }
  }

  it('compression (zlib@openssh.com) after authentication', async () => {
    const { r, conn } = await connect(SSH9, ['-C']);
    expect(r.code).toBe(0);
    expect(conn!.transport.negotiated!.compressionC2S).toBe('zlib@openssh.com');
  });

  it('rekeys repeatedly with RekeyLimit', async () => {
    const before = srv.conns.length;
    const data = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const r = await run(SSH9, sshArgs(fx, srv.port, ['-o', 'RekeyLimit=256K', '-o', 'LogLevel=ERROR']).concat(['wc -c']), { input: data });
    expect(r.stderr).toBe('');
    expect(r.stdout.toString().trim()).toBe(String(data.length));
    expect(srv.conns[before]!.transport.kexCount).toBeGreaterThan(8);
  });

  it('host certificates (HostCertificate): a client that trusts the CA knows no host key and connects; a certificate for another name is refused', async () => {
    const ca = join(fx.dir, 'host_ca');
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'host ca', '-f', ca]);
    const certFor = (key: string, name: string) => {
      execFileSync('ssh-keygen', ['-q', '-s', ca, '-h', '-I', `${name} host`, '-n', name, '-z', '3', key + '.pub']);
      return readFileSync(key + '-cert.pub', 'utf8');
    };
    const certs = certFor(fx.hostKeyFiles.ed25519, 'edgessh-test') + certFor(fx.hostKeyFiles.rsa, 'edgessh-test');
    const srv2 = await startServer(fx, { hostCertificates: certs }, ['ed25519', 'rsa']);
    const known = join(fx.dir, 'known_hosts_ca');
    writeFileSync(known, `@cert-authority edgessh-test ${readFileSync(ca + '.pub', 'utf8')}`);
    try {
      for (const [hk, alg] of [['ssh-ed25519-cert-v01@openssh.com', 'ssh-ed25519'], ['rsa-sha2-512-cert-v01@openssh.com', 'rsa-sha2-512'], ['rsa-sha2-256-cert-v01@openssh.com', 'rsa-sha2-256']]) {
        const before = srv2.conns.length;
        const r = await run(SSH9, sshArgs(fx, srv2.port, ['-o', `UserKnownHostsFile=${known}`, '-o', `HostKeyAlgorithms=${hk}`, '-o', 'LogLevel=ERROR']).concat(['echo in']));
        expect(r.stderr, hk).toBe('');
        expect(r.stdout.toString()).toBe('in\n');
        expect(srv2.conns[before]!.transport.negotiated!.hostKey, alg).toBe(hk);
      }
      // By default OpenSSH asks for certificates first, and the server offers them first.
      const dflt = await run(SSH9, sshArgs(fx, srv2.port, ['-o', `UserKnownHostsFile=${known}`, '-o', 'LogLevel=ERROR']).concat(['echo in']));
      expect(dflt.stdout.toString()).toBe('in\n');
      expect(srv2.conns.at(-1)!.transport.negotiated!.hostKey).toBe('ssh-ed25519-cert-v01@openssh.com');
      if (havePeer(SSH10)) {
        const r10 = await run(SSH10, sshArgs(fx, srv2.port, ['-o', `UserKnownHostsFile=${known}`, '-o', 'LogLevel=ERROR']).concat(['echo in']));
        expect(r10.stdout.toString(), r10.stderr).toBe('in\n');
        expect(srv2.conns.at(-1)!.transport.negotiated).toMatchObject({ kex: 'mlkem768x25519-sha256', hostKey: 'ssh-ed25519-cert-v01@openssh.com' });
      }
      // A configured list offers a certificate only if it names it, as sshd's HostKeyAlgorithms.
      const plainOnly = await startServer(fx, { hostCertificates: certs, algorithms: { hostKey: ['ssh-ed25519'] } }, ['ed25519', 'rsa']);
      const named = await startServer(fx, { hostCertificates: certs, algorithms: { hostKey: ['rsa-sha2-256-cert-v01@openssh.com'] } }, ['ed25519', 'rsa']);
      try {
        const certOnly = ['-o', `UserKnownHostsFile=${known}`, '-o', 'HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com'];
        const refused = await run(SSH9, sshArgs(fx, plainOnly.port, certOnly).concat(['true']));
        expect(refused.stderr).toMatch(/no matching host key type found/);
        const ok = await run(SSH9, sshArgs(fx, named.port, [...certOnly, '-o', 'LogLevel=ERROR']).concat(['echo in']));
        expect(ok.stdout.toString(), ok.stderr).toBe('in\n');
        expect(named.conns.at(-1)!.transport.negotiated!.hostKey).toBe('rsa-sha2-256-cert-v01@openssh.com');
      } finally {
        await plainOnly.close();
        await named.close();
      }
      // Not for this name: the client refuses it (and has no plain key to fall back to).
      const other = await startServer(fx, { hostCertificates: certFor(fx.hostKeyFiles.ed25519, 'elsewhere') }, ['ed25519']);
      try {
        const r = await run(SSH9, sshArgs(fx, other.port, ['-o', `UserKnownHostsFile=${known}`, '-o', 'HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com']).concat(['true']));
        expect(r.code).toBe(255);
        expect(r.stderr).toMatch(/Certificate invalid: name is not a listed principal/);
      } finally {
        await other.close();
      }
    } finally {
      await srv2.close();
    }
  });

  it('refuses a legacy-only client (ssh-rsa sha1 host key) with a readable reason', async () => {
    const r = await run(SSH9, sshArgs(fx, srv.port, ['-o', 'HostKeyAlgorithms=ssh-rsa']).concat(['true']));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no matching host key type found/);
  });
});

describe.skipIf(!havePeer(SSH9))('OpenSSH 9.2 against the node:crypto protection', () => {
  for (const kex of ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256']) {
    for (const hk of HOST_KEYS) {
      it(`kex ${kex} × host key ${hk}, X25519 and the signature by OpenSSL`, async () => {
        const before = nodeSrv.conns.length;
        const r = await run(SSH9, sshArgs(fx, nodeSrv.port, ['-o', `KexAlgorithms=${kex}`, '-o', `HostKeyAlgorithms=${hk}`, '-o', 'LogLevel=ERROR']).concat(['true']));
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(nodeSrv.conns[before]!.transport.negotiated).toMatchObject({ kex, hostKey: hk });
      });
    }
  }

  // 1 MiB each way with a rekey every 256 KiB: packets of every size (OpenSSH sends up to 32 KiB, the
  // channel's small messages ride alongside), on both sides of the chacha switch to JavaScript, and each
  // direction's cipher rebuilt at every NEWKEYS.
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
  const digest = createHash('sha256').update(data).digest('hex');
  for (const cipher of CIPHERS) {
    for (const mac of cipher.includes('ctr') ? MACS : [null]) {
      it(`${cipher}${mac ? ` × ${mac}` : ''}: 1 MiB up and down across rekeys`, async () => {
        const opts = ['-c', cipher, ...(mac ? ['-m', mac] : []), '-o', 'RekeyLimit=256K', '-o', 'LogLevel=ERROR'];
        const before = nodeSrv.conns.length;
        const up = await run(SSH9, sshArgs(fx, nodeSrv.port, opts).concat(['sha256sum']), { input: data });
        expect(up.stderr).toBe('');
        expect(up.stdout.toString()).toContain(digest);
        const down = await run(SSH9, sshArgs(fx, nodeSrv.port, opts).concat([`head -c ${data.length} /dev/zero`]));
        expect(down.code).toBe(0);
        expect(down.stdout.length).toBe(data.length);
        const conn = nodeSrv.conns[before]!;
        expect(conn.transport.negotiated).toMatchObject({ cipherC2S: cipher, cipherS2C: cipher, macC2S: mac, macS2C: mac });
        expect(conn.transport.kexCount).toBeGreaterThan(3);
      });
    }
  }
});

describe.skipIf(!havePeer(SSH10))('OpenSSH 10', () => {
  it('mlkem768x25519-sha256 with X25519 and the host key signature by OpenSSL', async () => {
    const before = nodeSrv.conns.length;
    const r = await run(SSH10, sshArgs(fx, nodeSrv.port, ['-o', 'KexAlgorithms=mlkem768x25519-sha256', '-o', 'LogLevel=ERROR']).concat(['true']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(nodeSrv.conns[before]!.transport.negotiated!.kex).toBe('mlkem768x25519-sha256');
  });

  it('mlkem768x25519-sha256 (post-quantum hybrid)', async () => {
    const { r, conn } = await connect(SSH10, ['-o', 'KexAlgorithms=mlkem768x25519-sha256']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(conn!.transport.negotiated!.kex).toBe('mlkem768x25519-sha256');
  });

  it('chooses mlkem768x25519-sha256 by default', async () => {
    const { r, conn } = await connect(SSH10, []);
    expect(r.code).toBe(0);
    expect(conn!.transport.negotiated!.kex).toBe('mlkem768x25519-sha256');
  });

  it('rekeys with mlkem768x25519-sha256', async () => {
    const before = srv.conns.length;
    const r = await run(SSH10, sshArgs(fx, srv.port, ['-o', 'RekeyLimit=128K', '-o', 'LogLevel=ERROR']).concat(['wc -c']), {
      input: new Uint8Array(1024 * 1024),
    });
    expect(r.stdout.toString().trim()).toBe(String(1024 * 1024));
    expect(srv.conns[before]!.transport.kexCount).toBeGreaterThan(4);
  });
});
