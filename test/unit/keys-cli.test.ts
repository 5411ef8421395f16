// Key files and the key commands, checked against OpenSSH's ssh-keygen.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprint, formatPublicKey, parsePrivateKey, parsePublicKeyLine } from '../../src/crypto/keys/index.ts';
import { run } from '../helpers/peers.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgessh-keys-'));
const sshKeygen = (...a: string[]) => execFileSync('ssh-keygen', a, { encoding: 'utf8' });
const cli = (...a: string[]) => run('node', ['bin/edgessh.mjs', ...a]);

describe('edgessh keygen writes keys ssh-keygen accepts', () => {
  for (const [t, b] of [['ed25519'], ['ecdsa', '256'], ['ecdsa', '384'], ['ecdsa', '521'], ['rsa', '2048']] as const) {
    it(`-t ${t}${b ? ` -b ${b}` : ''}`, async () => {
      const f = join(dir, `k-${t}-${b ?? ''}`);
      const r = await cli('keygen', '-t', t, ...(b ? ['-b', b] : []), '-f', f, '-C', 'made by edgessh');
      expect(r.code, r.stderr).toBe(0);
      // ssh-keygen reads the private key (derives the public one) and the .pub file, and agrees on the fingerprint.
      const fromPriv = sshKeygen('-l', '-f', f).split(' ');
      const fromPub = sshKeygen('-l', '-f', `${f}.pub`).split(' ');
      expect(fromPriv[1]).toBe(fromPub[1]);
      expect(r.stdout.toString()).toContain(fromPub[1]!);
      expect(sshKeygen('-y', '-f', f).trim().split(' ').slice(0, 2).join(' ')).toBe(readFileSync(`${f}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '));
      // and `edgessh fingerprint` prints what ssh-keygen -l prints
      const fp = await cli('fingerprint', f);
      expect(fp.stdout.toString().split(' ')[0]).toBe(fromPub[1]);
    }, 60_000);
  }

  it('--help after any command prints the usage and exits 0 (keygen -h stays the host-certificate flag)', async () => {
    for (const cmd of ['serve', 'proxy', 'bridge', 'keygen']) {
      const r = await cli(cmd, '--help');
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      expect(r.stdout.toString(), cmd).toMatch(/^edgessh .*\n\nusage:\n  edgessh serve /);
    }
    const h = await cli('keygen', '-h');
    expect(h.code).not.toBe(0);
    expect(h.stdout.toString()).not.toMatch(/usage:/);
  });

  it('refuses to overwrite a key and names a bad type', async () => {
    const f = join(dir, 'exists');
    writeFileSync(f, 'x');
    const r = await cli('keygen', '-t', 'ed25519', '-f', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
    const bad = await cli('keygen', '-t', 'dsa', '-f', join(dir, 'dsa'));
    expect(bad.stderr).toMatch(/unknown key type dsa/);
  });
});

describe('reading keys ssh-keygen wrote', () => {
  for (const [t, b] of [['ed25519'], ['ecdsa', '256'], ['ecdsa', '384'], ['ecdsa', '521'], ['rsa', '3072']] as const) {
    it(`openssh-key-v1 ${t}${b ? ` ${b}` : ''}: same public key and fingerprint`, async () => {
      const f = join(dir, `ossh-${t}-${b ?? ''}`);
      sshKeygen('-q', '-N', '', '-t', t, ...(b ? ['-b', b] : []), '-C', 'c', '-f', f);
      const [key] = await parsePrivateKey(readFileSync(f, 'utf8'));
      const pubLine = readFileSync(`${f}.pub`, 'utf8').trim();
      expect(formatPublicKey(key!.publicKey)).toBe(pubLine.split(' ').slice(0, 2).join(' '));
      expect(fingerprint(key!.publicKey)).toBe(sshKeygen('-l', '-f', `${f}.pub`).split(' ')[1]);
      expect(parsePublicKeyLine(pubLine).key.blob).toEqual(key!.publicKey.blob);
    }, 60_000);
  }

  it('an encrypted key is refused with a clear message', async () => {
    const f = join(dir, 'encrypted');
    sshKeygen('-q', '-N', 'secret', '-t', 'ed25519', '-f', f);
    await expect(parsePrivateKey(readFileSync(f, 'utf8'))).rejects.toThrow(/encrypt|passphrase/i);
  });
});

describe('PKCS#8 PEM', () => {
  it('ed25519: the public key matches node:crypto', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const [key] = await parsePrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const x = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    expect(key!.publicKey.blob.subarray(-32)).toEqual(new Uint8Array(x));
  });
  for (const [name, opts] of [
    ['ec P-256', { type: 'ec', namedCurve: 'P-256' }],
    ['ec P-384', { type: 'ec', namedCurve: 'P-384' }],
    ['rsa 2048', { type: 'rsa', modulusLength: 2048 }],
  ] as const) {
    it(`${name}: fingerprint matches ssh-keygen's import of the public key`, async () => {
      const kp = generateKeyPairSync(opts.type as 'ec', opts as never) as unknown as import('node:crypto').KeyPairKeyObjectResult;
      const [key] = await parsePrivateKey(kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      const pem = join(dir, `spki-${name.replace(/\W/g, '')}.pem`);
      writeFileSync(pem, kp.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const imported = sshKeygen('-i', '-m', 'PKCS8', '-f', pem).trim();
      const pubFile = `${pem}.pub`;
      writeFileSync(pubFile, imported + '\n');
      expect(fingerprint(key!.publicKey)).toBe(sshKeygen('-l', '-f', pubFile).split(' ')[1]);
      expect(formatPublicKey(key!.publicKey)).toBe(imported.split(' ').slice(0, 2).join(' '));
    });
  }
});

describe('edgessh serve refuses revoked-keys files it cannot use, before listening (sshd would refuse every key)', () => {
  it('a missing file and an unreadable KRL each end it with one line and a non-zero status', async () => {
    const missing = await cli('serve', '--listen', '127.0.0.1:0', '--revoked-keys', join(dir, 'no-such-file'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toMatch(/^edgessh: cannot read .*no-such-file: ENOENT$/);
    const bad = join(dir, 'bad.krl');
    writeFileSync(bad, Buffer.from('SSHKRL\n\0\0\0\0\x07', 'latin1'));
    const r = await cli('serve', '--listen', '127.0.0.1:0', '--revoked-keys', bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('edgessh: --revoked-keys: the revoked keys cannot be read: KRL format version 7 is not supported');
  });
});

describe('edgessh serve refuses a % token it does not know in --authorized-keys and --authorized-principals-file', () => {
  it('%h (sshd has it: the home folder, which edgessh users have none of) ends it with one line', async () => {
    for (const flag of ['--authorized-keys', '--authorized-principals-file']) {
      const r = await cli('serve', '--listen', '127.0.0.1:0', flag, '/etc/edgessh/%h/keys');
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe('edgessh: /etc/edgessh/%h/keys: of the % tokens only %u (the user name) and %% are known');
    }
  });
});

describe('edgessh keygen -s signs certificates as ssh-keygen -s does', () => {
  it('writes KEY-cert.pub with the ID, principals, validity, serial and options asked for; ssh-keygen -L reads it', async () => {
    const ca = join(dir, 'cert-ca');
    sshKeygen('-q', '-N', '', '-t', 'ed25519', '-f', ca);
    const key = join(dir, 'cert-user');
    sshKeygen('-q', '-N', '', '-t', 'rsa', '-b', '2048', '-C', 'me@laptop', '-f', key);
    const r = await cli('keygen', '-s', ca, '-I', 'laptop', '-n', 'alice,ops', '-V', '-5m:+1h', '-z', '7', '-O', 'no-pty', '-O', 'source-address=10.0.0.0/8', `${key}.pub`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/^Signed user key .*cert-user-cert\.pub: id "laptop" serial 7 for alice,ops valid from \S+ to \S+\n$/);
    const shown = sshKeygen('-L', '-f', `${key}-cert.pub`);
    expect(shown).toContain('Type: ssh-rsa-cert-v01@openssh.com user certificate');
    expect(shown).toMatch(/Principals: \n\s+alice\n\s+ops/);
    expect(shown).toContain('source-address 10.0.0.0/8');
    expect(shown).not.toContain('permit-pty');
    expect(readFileSync(`${key}-cert.pub`, 'utf8').trim().endsWith(' me@laptop')).toBe(true);
    const host = await cli('keygen', '-s', ca, '-I', 'web', '-h', '-n', 'web.example', `${key}.pub`);
    expect(host.code, host.stderr).toBe(0);
    expect(sshKeygen('-L', '-f', `${key}-cert.pub`)).toContain('host certificate');
    const bad = await cli('keygen', '-s', ca, '-I', 'x', '-O', 'no-such', `${key}.pub`);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toBe('edgessh: unknown certificate option "no-such"');
  });

  it("-V as ssh-keygen reads it: always/forever, +/- spans of s, m, h, d, w, dates; one time is the end", async () => {
    const { parseValidity } = await import('../../src/cli/commands.ts');
    const now = 1_800_000_000n;
    expect(parseValidity('always:forever', now)).toEqual([0n, 0xffffffffffffffffn]);
    expect(parseValidity('+1h', now)).toEqual([now, now + 3600n]);
    expect(parseValidity('-5m:+1w2d', now)).toEqual([now - 300n, now + 9n * 86400n]);
    expect(parseValidity('20300101Z:20300102Z', now)).toEqual([1893456000n, 1893542400n]);
    expect(() => parseValidity('+1h:-1h', now)).toThrow(/is empty/);
    expect(() => parseValidity('soon', now)).toThrow(/bad expiry-time/);
  });
});
