// OpenSSH user certificates (PROTOCOL.certkeys), made by ssh-keygen -s: parsing, the authority's signature,
// sshd's checks (type, validity, principals, critical options) and what a certificate narrows; the demo
// policy's cert-authority lines and TrustedUserCAKeys. Hostile blobs end in an Error, never anything else.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateOf,
  certificateOptions,
  certificatePlainAlgorithm,
  certificateRefusal,
  certificateSignatureAlgorithms,
  certifiedHostKeys,
  describeHostKey,
  hostCertificateRefusal,
  signCertificate,
  parseCertificate,
  parseUserKey,
  verifyCertificate,
} from '../../src/auth/certificate.ts';
import { parseAuthorizedKeyLine, ptyAllowed, forwardingAllowed, type AuthorizedKeyOptions } from '../../src/auth/authorized-keys.ts';
import { makeDemoPolicy } from '../../src/apps/demo.ts';
import { RevokedKeys, revokedKeysFromText } from '../../src/auth/revoked-keys.ts';
import { parsePrivateKey } from '../../src/crypto/keys/index.ts';
import { Writer } from '../../src/wire/writer.ts';
import { DEFAULT_ALGORITHMS, LEGACY_ALGORITHMS } from '../../src/crypto/registry.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { havePeer } from '../helpers/peers.ts';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
let dir: string;
let n = 0;
const keygen = (...args: string[]) => execFileSync(SSH_KEYGEN, ['-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
/** Whether ssh-keygen -Q says the KRL revokes the key or certificate in `file` (exit status 1: revoked). */
const keygenRevokes = (krl: string, file: string) => {
  try {
    execFileSync(SSH_KEYGEN, ['-Q', '-f', krl, file], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
};
const newKey = (type: string, bits?: number) => {
  const f = join(dir, `key${n++}`);
  keygen('-N', '', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-C', '', '-f', f);
  return f;
};
const pubLine = (f: string) => readFileSync(`${f}.pub`, 'utf8').trim();
const blobOf = (line: string) => Uint8Array.from(atob(line.split(' ')[1]!), (c) => c.charCodeAt(0));
/** ssh-keygen -s CA over a copy of the user's public key; returns the certificate's blob. */
function certify(ca: string, user: string, args: string[]): Uint8Array {
  return blobOf(readFileSync(certifyToFile(ca, user, args), 'utf8'));
}
/** The same, returning the certificate's file. */
function certifyToFile(ca: string, user: string, args: string[]): string {
  const copy = join(dir, `cert${n++}`);
  copyFileSync(`${user}.pub`, `${copy}.pub`);
  keygen('-s', ca, '-I', 'id-' + n, ...args, `${copy}.pub`);
  return `${copy}-cert.pub`;
}

const NOW = Date.now();
const check = (over: Partial<Parameters<typeof certificateRefusal>[1]> = {}) => ({ username: 'alice', requirePrincipal: false, ip: '10.1.2.3', now: NOW, ...over });
const fakeTransport = (ip: string) => ({ peerAddress: `${ip} port 5555`, appData: {} }) as unknown as Transport;

describe.skipIf(!havePeer(SSH_KEYGEN))('OpenSSH certificates', () => {
  let caEd: string;
  let user: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgessh-cert-'));
    caEd = newKey('ed25519');
    user = newKey('ed25519');
  });

  it('parses what ssh-keygen -s writes, for every key type and CA type; the CA signature verifies', async () => {
    const cas = { ed25519: caEd, ecdsa384: newKey('ecdsa', 384), rsa: newKey('rsa', 2048) };
    const users = { ed25519: user, ecdsa256: newKey('ecdsa', 256), ecdsa521: newKey('ecdsa', 521), rsa: newKey('rsa', 2048) };
    for (const [caName, ca] of Object.entries(cas)) {
      for (const [userName, u] of Object.entries(users)) {
        const blob = certify(ca, u, ['-n', 'alice,bob', '-z', '7', '-V', '-1h:+1h', '-O', 'clear', '-O', 'permit-pty', '-O', 'force-command=echo hi', '-O', 'source-address=10.0.0.0/8,192.0.2.7']);
        const key = parseUserKey(blob);
        const cert = certificateOf(key)!;
        const label = `${userName} by ${caName}`;
        expect(cert, label).not.toBeNull();
        expect(cert.key.blob, label).toEqual(blobOf(pubLine(u)));
        expect(cert.caKey.blob, label).toEqual(blobOf(pubLine(ca)));
        expect(key.type, label).toBe(`${cert.key.type}-cert-v01@openssh.com`);
        expect(key.blob, label).toEqual(blob);
        expect(cert.kind).toBe('user');
        expect(cert.serial).toBe(7n);
        expect(cert.principals).toEqual(['alice', 'bob']);
        expect(cert.extensions).toEqual(['permit-pty']);
        expect(cert.criticalOptions).toEqual({ 'force-command': 'echo hi', 'source-address': '10.0.0.0/8,192.0.2.7' });
        expect(Number(cert.validBefore - cert.validAfter)).toBe(7200);
        expect(await verifyCertificate(cert, DEFAULT_ALGORITHMS.serverSigAlgs), label).toBe(true);
        // The user signs with the certified key, under the plain algorithm's name.
        expect(key.signatureAlgorithms.map((a) => certificatePlainAlgorithm(a))).toEqual(cert.key.signatureAlgorithms);
      }
    }
  });

  it("the user's signature algorithms under a certificate algorithm: the plain one; for ssh-rsa-cert-v01 the accepted RSA ones", () => {
    const accepted = DEFAULT_ALGORITHMS.serverSigAlgs;
    expect(certificateSignatureAlgorithms('ssh-ed25519-cert-v01@openssh.com', accepted)).toEqual(['ssh-ed25519']);
    expect(certificateSignatureAlgorithms('rsa-sha2-256-cert-v01@openssh.com', accepted)).toEqual(['rsa-sha2-256']);
    expect(certificateSignatureAlgorithms('ssh-rsa-cert-v01@openssh.com', accepted)).toEqual(['rsa-sha2-512', 'rsa-sha2-256']);
    expect(certificateSignatureAlgorithms('ssh-rsa-cert-v01@openssh.com', [...accepted, 'ssh-rsa'])).toContain('ssh-rsa');
    expect(certificateSignatureAlgorithms('ssh-ed25519-cert-v01@openssh.com', ['rsa-sha2-512'])).toEqual([]);
    expect(certificateSignatureAlgorithms('ssh-dss-cert-v01@openssh.com', accepted)).toEqual([]);
    expect(certificateSignatureAlgorithms('ssh-ed25519', accepted)).toEqual([]);
  });

  it('a changed byte, another CA, or an ssh-rsa (SHA-1) CA signature does not verify by default', async () => {
    const blob = certify(caEd, user, ['-n', 'alice']);
    const ok = certificateOf(parseUserKey(blob))!;
    // One letter of the key ID changed: still a well-formed certificate, no longer the one the CA signed.
    const tampered = blob.slice();
    const at = Buffer.from(tampered).indexOf(ok.keyId);
    tampered[at]! ^= 0x20;
    const changed = parseCertificate(tampered).certificate;
    expect(changed.keyId).not.toBe(ok.keyId);
    expect(await verifyCertificate(changed, DEFAULT_ALGORITHMS.serverSigAlgs)).toBe(false);
    const other = certificateOf(parseUserKey(certify(newKey('ed25519'), user, ['-n', 'alice'])))!;
    expect(await verifyCertificate({ ...ok, signature: other.signature }, DEFAULT_ALGORITHMS.serverSigAlgs)).toBe(false);
    const rsaCa = newKey('rsa', 2048);
    const sha1 = certificateOf(parseUserKey(certify(rsaCa, user, ['-n', 'alice', '-t', 'ssh-rsa'])))!;
    expect(await verifyCertificate(sha1, DEFAULT_ALGORITHMS.serverSigAlgs)).toBe(false);
    expect(await verifyCertificate(sha1, [...DEFAULT_ALGORITHMS.serverSigAlgs, ...LEGACY_ALGORITHMS.hostKey])).toBe(true);
  });

  it("sshd's checks, worded as sshd words them: type, validity, principals, critical options, source-address", () => {
    const cert = (args: string[], ca = caEd) => certificateOf(parseUserKey(certify(ca, user, args)))!;
    expect(certificateRefusal(cert(['-n', 'alice']), check())).toBeNull();
    expect(certificateRefusal(cert(['-n', 'alice', '-h']), check())).toBe('Certificate invalid: not a user certificate');
    expect(certificateRefusal(cert(['-n', 'alice', '-V', '-2h:-1h']), check())).toBe('Certificate invalid: expired');
    expect(certificateRefusal(cert(['-n', 'alice', '-V', '+1h:+2h']), check())).toBe('Certificate invalid: not yet valid');
    expect(certificateRefusal(cert(['-n', 'bob']), check())).toBe('Certificate invalid: name is not a listed principal');
    // No principals: any user through a cert-authority line, nobody through TrustedUserCAKeys.
    const anyone = cert([]);
    expect(certificateRefusal(anyone, check())).toBeNull();
    expect(certificateRefusal(anyone, check({ requirePrincipal: true }))).toBe('Certificate lacks principal list');
    // principals="…" on the CA's line stands in for the user name.
    expect(certificateRefusal(cert(['-n', 'ops']), check({ principals: ['ops', 'dev'] }))).toBeNull();
    expect(certificateRefusal(cert(['-n', 'alice']), check({ principals: ['ops'] }))).toBe('Certificate does not contain an authorized principal');
    expect(certificateRefusal(cert(['-n', 'alice', '-O', 'critical:no-such-option']), check())).toBe('Certificate has unknown critical option "no-such-option"');
    expect(certificateRefusal(cert(['-n', 'alice', '-O', 'critical:__proto__']), check())).toBe('Certificate has unknown critical option "__proto__"');
    const from = cert(['-n', 'alice', '-O', 'source-address=10.0.0.0/8,2001:db8::1']);
    expect(certificateRefusal(from, check())).toBeNull();
    expect(certificateRefusal(from, check({ ip: '2001:db8::1' }))).toBeNull();
    expect(certificateRefusal(from, check({ ip: '192.0.2.1' }))).toBe('not from a permitted address (ip=192.0.2.1, source-address=10.0.0.0/8,2001:db8::1)');
    expect(certificateRefusal(from, check({ ip: null }))).toMatch(/ip=unknown/);
  });

  it('a certificate narrows its line: no permit-pty, no permit-port-forwarding; force-command as command= (a different command= refuses)', () => {
    const line = parseAuthorizedKeyLine(`cert-authority,pty,port-forwarding ${pubLine(caEd)}`).options;
    const bare = certificateOf(parseUserKey(certify(caEd, user, ['-n', 'alice', '-O', 'clear'])))!;
    const narrowed = certificateOptions(line, bare);
    if (typeof narrowed === 'string') throw new Error(narrowed);
    expect(ptyAllowed(narrowed)).toBe(false);
    expect(forwardingAllowed(narrowed)).toBe(false);
    const full = certificateOptions(line, certificateOf(parseUserKey(certify(caEd, user, ['-n', 'alice'])))!);
    if (typeof full === 'string') throw new Error(full);
    expect(ptyAllowed(full) && forwardingAllowed(full)).toBe(true);
    const forced = certificateOf(parseUserKey(certify(caEd, user, ['-n', 'alice', '-O', 'force-command=uptime'])))!;
    expect((certificateOptions(line, forced) as { command?: string }).command).toBe('uptime');
    const withCommand = parseAuthorizedKeyLine(`cert-authority,command="uptime" ${pubLine(caEd)}`).options;
    expect((certificateOptions(withCommand, forced) as { command?: string }).command).toBe('uptime');
    const otherCommand = parseAuthorizedKeyLine(`cert-authority,command="date" ${pubLine(caEd)}`).options;
    expect(certificateOptions(otherCommand, forced)).toBe("the certificate's force-command and the key's command= differ");
  });

  it('the demo policy: a cert-authority line trusts its certificates, never its own key; TrustedUserCAKeys wants the user named', async () => {
    const log: string[] = [];
    const caB = newKey('ed25519');
    const policy = makeDemoPolicy({
      authorizedKeys: `cert-authority,principals="ops" ${pubLine(caEd)}\n`,
      trustedUserCaKeys: `${pubLine(caB)}\n`,
      log: (l) => log.push(l),
    });
    const ask = (key: ReturnType<typeof parseUserKey>, username = 'alice', signed = true) => {
      const transport = fakeTransport('10.1.2.3');
      return Promise.resolve(policy.authenticate({ method: 'publickey', username, key, algorithm: key.signatureAlgorithms[0]!, signed }, { transport, passed: [] }))
        .then((ok) => ({ ok, options: transport.appData.keyOptions }));
    };
    expect((await ask(parseUserKey(certify(caEd, user, ['-n', 'ops', '-O', 'clear'])))).ok).toBe(true);
    expect((await ask(parseUserKey(certify(caEd, user, ['-n', 'alice'])))).ok).toBe(false);
    const viaB = await ask(parseUserKey(certify(caB, user, ['-n', 'alice', '-O', 'clear'])));
    expect(viaB.ok).toBe(true);
    expect(ptyAllowed(viaB.options as never)).toBe(false);
    expect((await ask(parseUserKey(certify(caB, user, [])))).ok).toBe(false);
    expect((await ask(parseUserKey(certify(newKey('ed25519'), user, ['-n', 'alice'])))).ok).toBe(false);
    // The CAs' own keys, used plainly, and the user's key without its certificate: nothing.
    for (const k of [caEd, caB, user]) expect((await ask(parseUserKey(blobOf(pubLine(k))))).ok).toBe(false);
    const text = log.join('\n');
    expect(text).toMatch(/Accepted certificate ID "id-\d+" \(serial 0\) signed by ssh-ed25519 CA SHA256:\S+ for alice/);
    expect(text).toMatch(/Authentication tried for alice with certificate ID "id-\d+" .* but Certificate does not contain an authorized principal/);
    expect(text).toMatch(/but Certificate lacks principal list/);
    expect(text).toMatch(/: the CA is not trusted/);
    expect(() => parseAuthorizedKeyLine(`principals="ops" ${pubLine(caEd)}`)).toThrow('principals= applies only to a cert-authority line');
  });

  it("AuthorizedPrincipalsFile: with TrustedUserCAKeys the certificate must list one of the file's principals, and that line's options apply", async () => {
    const log: string[] = [];
    const caB = newKey('ed25519');
    const principals = ['# who may log in', 'command="echo via team",from="10.0.0.0/8" team', 'no-pty ops', 'two words here', 'cert-authority x', ''].join('\n');
    const policyWith = (authorizedPrincipals: Parameters<typeof makeDemoPolicy>[0]['authorizedPrincipals']) =>
      makeDemoPolicy({ authorizedKeys: `cert-authority,principals="ops" ${pubLine(caEd)}\n`, trustedUserCaKeys: `${pubLine(caB)}\n`, authorizedPrincipals, log: (l) => log.push(l) });
    const ask = async (policy: ReturnType<typeof makeDemoPolicy>, key: ReturnType<typeof parseUserKey>, username = 'alice', ip = '10.1.2.3') => {
      const transport = fakeTransport(ip);
      const ok = await policy.authenticate({ method: 'publickey', username, key, algorithm: key.signatureAlgorithms[0]!, signed: true }, { transport, passed: [] });
      return { ok, options: transport.appData.keyOptions as AuthorizedKeyOptions | undefined };
    };
    const shared = policyWith(principals);
    expect(log).toEqual(['authorized principals line 4 skipped: expected [options] principal', 'authorized principals line 5 skipped: cert-authority does not belong in a principals file']);
    const team = parseUserKey(certify(caB, user, ['-n', 'team']));
    const viaTeam = await ask(shared, team);
    expect(viaTeam.ok).toBe(true);
    expect(viaTeam.options?.command).toBe('echo via team');
    // The line's from= applies; the user's own name is no longer enough; the second line's options apply to it.
    expect((await ask(shared, team, 'alice', '192.168.1.9')).ok).toBe(false);
    expect((await ask(shared, parseUserKey(certify(caB, user, ['-n', 'alice'])))).ok).toBe(false);
    const ops = await ask(shared, parseUserKey(certify(caB, user, ['-n', 'alice,ops'])));
    expect(ops.ok).toBe(true);
    expect(ptyAllowed(ops.options!)).toBe(false);
    // Not consulted for a cert-authority line (its principals= is what counts there), as sshd.
    expect((await ask(shared, parseUserKey(certify(caEd, user, ['-n', 'ops'])))).ok).toBe(true);
    // A file per user: bob has none, so no certificate of a trusted CA logs him in.
    const perUser = policyWith(async (u) => (u === 'alice' ? 'team\n' : null));
    expect((await ask(perUser, team, 'alice')).ok).toBe(true);
    expect((await ask(perUser, team, 'bob')).ok).toBe(false);
    expect((await ask(perUser, parseUserKey(certify(caB, user, ['-n', 'bob'])), 'bob')).ok).toBe(false);
    const text = log.join('\n');
    expect(text).toMatch(/Authentication tried for alice with certificate ID "id-\d+" .* but not from a permitted host \(ip=192.168.1.9, required=10.0.0.0\/8\)/);
    expect(text).toMatch(/Authentication tried for bob with certificate ID "id-\d+" .* but Certificate does not contain an authorized principal/);
  });

  it('AuthorizedKeysCommand is asked last, as sshd asks it: after the files and, for a certificate, after TrustedUserCAKeys', async () => {
    const caB = newKey('ed25519');
    const asked: string[] = [];
    const policy = makeDemoPolicy({
      trustedUserCaKeys: `${pubLine(caB)}\n`,
      authorizedKeysCommand: (username, key) => {
        asked.push(`${username} ${key.type}`);
        return username === 'carol' ? `cert-authority,no-pty ${pubLine(caEd)}\n` : null;
      },
    });
    const ask = async (key: ReturnType<typeof parseUserKey>, username: string) => {
      const transport = fakeTransport('10.1.2.3');
      const ok = await policy.authenticate({ method: 'publickey', username, key, algorithm: key.signatureAlgorithms[0]!, signed: true }, { transport, passed: [] });
      return { ok, options: transport.appData.keyOptions as AuthorizedKeyOptions | undefined };
    };
    // A trusted CA's certificate for alice: the command is not asked.
    expect((await ask(parseUserKey(certify(caB, user, ['-n', 'alice'])), 'alice')).ok).toBe(true);
    expect(asked).toEqual([]);
    // caEd is trusted only by the command's cert-authority line for carol, whose no-pty applies.
    const viaCommand = await ask(parseUserKey(certify(caEd, user, ['-n', 'carol'])), 'carol');
    expect(viaCommand.ok).toBe(true);
    expect(ptyAllowed(viaCommand.options!)).toBe(false);
    expect((await ask(parseUserKey(certify(caEd, user, ['-n', 'bob'])), 'bob')).ok).toBe(false);
    expect(asked).toEqual(['carol ssh-ed25519-cert-v01@openssh.com', 'bob ssh-ed25519-cert-v01@openssh.com']);
  });

  it('AuthorizedPrincipalsCommand is asked when the principals file lists none of the certificate\'s principals', async () => {
    const caB = newKey('ed25519');
    const asked: string[] = [];
    const policy = makeDemoPolicy({
      trustedUserCaKeys: `${pubLine(caB)}\n`,
      authorizedPrincipals: 'ops\n',
      authorizedPrincipalsCommand: (username, key) => {
        asked.push(`${username} ${key.type}`);
        return username === 'alice' ? 'command="echo team" team\n' : null;
      },
    });
    const ask = async (principals: string, username = 'alice') => {
      const key = parseUserKey(certify(caB, user, ['-n', principals]));
      const transport = fakeTransport('10.1.2.3');
      const ok = await policy.authenticate({ method: 'publickey', username, key, algorithm: key.signatureAlgorithms[0]!, signed: true }, { transport, passed: [] });
      return { ok, options: transport.appData.keyOptions as AuthorizedKeyOptions | undefined };
    };
    expect((await ask('ops')).ok).toBe(true);
    expect(asked).toEqual([]);
    const team = await ask('team');
    expect([team.ok, team.options?.command]).toEqual([true, 'echo team']);
    expect((await ask('team', 'bob')).ok).toBe(false);
    expect((await ask('alice')).ok).toBe(false); // the user's own name is not enough once either is configured
    expect(asked).toHaveLength(3);
  });

  it("hostCertificateRefusal: a client's checks of a host certificate, in ssh's words", async () => {
    const other = newKey('ecdsa', 256);
    const trustedCas = [parseUserKey(blobOf(pubLine(caEd)))];
    const hostCert = (args: string[]) => parseUserKey(certify(caEd, user, ['-h', ...args]));
    const named = hostCert(['-n', 'db.example.org,*.Web.example.org', '-V', '-1h:+1h']);
    const refusal = (key: ReturnType<typeof parseUserKey>, hostname: string, over: { now?: number; trustedCas?: ReturnType<typeof parseUserKey>[] } = {}) =>
      hostCertificateRefusal(key, { hostname, trustedCas, ...over });
    expect(refusal(named, 'db.example.org')).toBeNull();
    expect(refusal(named, 'A1.WEB.example.org')).toBeNull();
    expect(refusal(named, 'example.org')).toBe('Certificate invalid: name is not a listed principal');
    expect(refusal(named, 'db.example.org', { now: NOW + 2 * 3600_000 })).toBe('Certificate invalid: expired');
    expect(refusal(named, 'db.example.org', { now: NOW - 2 * 3600_000 })).toBe('Certificate invalid: not yet valid');
    expect(refusal(named, 'db.example.org', { trustedCas: [parseUserKey(blobOf(pubLine(other)))] })).toMatch(/^No matching CA found: ssh-ed25519 CA SHA256:\S+ is not trusted for db.example.org$/);
    // No principals: any host name (as ssh takes it); a user certificate or a plain key: never.
    expect(refusal(hostCert([]), 'anything.example')).toBeNull();
    expect(refusal(parseUserKey(certify(caEd, user, ['-n', 'db.example.org'])), 'db.example.org')).toBe('Certificate invalid: not a host certificate');
    expect(refusal(parseUserKey(blobOf(pubLine(user))), 'db.example.org')).toBe('ssh-ed25519 is not a certificate');
  });

  it('hostile blobs: every truncation and 3,000 seeded mutations end in an Error or a certificate, never anything else', async () => {
    const blob = certify(newKey('ecdsa', 256), newKey('rsa', 2048), ['-n', 'alice,bob', '-O', 'force-command=true', '-O', 'source-address=10.0.0.0/8']);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const cases: Uint8Array[] = [];
    for (let i = 0; i < blob.length; i++) cases.push(blob.subarray(0, i));
    for (let i = 0; i < 3000; i++) {
      const m = blob.slice();
      for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      cases.push(m);
    }
    let parsed = 0;
    for (const c of cases) {
      try {
        const cert = parseCertificate(c).certificate;
        parsed++;
        expect(typeof (await verifyCertificate(cert, DEFAULT_ALGORITHMS.serverSigAlgs))).toBe('boolean');
        expect(certificateRefusal(cert, check()) === null || typeof certificateRefusal(cert, check()) === 'string').toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });

  it('RevokedKeys from a KRL made by ssh-keygen -k: every key and certificate judged as ssh-keygen -Q judges it', () => {
    const ca = newKey('ed25519');
    const otherCa = newKey('ecdsa', 256);
    const keys = Array.from({ length: 5 }, () => newKey('ed25519'));
    const files: string[] = [...keys.map((k) => `${k}.pub`)];
    // Serials 0-40 and 100-140 (a bitmap, a range and a list in the KRL), some key IDs, from both CAs.
    for (const serial of [0, 3, 4, 9, 10, 15, 20, 21, 40, 100, 120, 131, 140])
      files.push(certifyToFile(serial % 2 ? otherCa : ca, keys[serial % 5]!, ['-z', String(serial), '-n', 'alice']));
    for (const id of ['laptop', 'phone']) {
      const f = join(dir, `idcert${n++}`);
      copyFileSync(`${keys[4]}.pub`, `${f}.pub`);
      keygen('-s', ca, '-I', id, '-z', '77', `${f}.pub`);
      files.push(`${f}-cert.pub`);
    }
    const spec = join(dir, `spec${n++}`);
    writeFileSync(spec, ['serial: 3', 'serial: 10-20', 'serial: 100', 'serial: 120-131', 'serial: 135', 'id: laptop', `key: ${pubLine(keys[0]!)}`, `sha256: ${pubLine(keys[1]!)}`, `sha1: ${pubLine(keys[2]!)}`, ''].join('\n'));
    const krl = join(dir, `krl${n++}`);
    keygen('-k', '-f', krl, '-s', `${ca}.pub`, spec);
    const revoked = new RevokedKeys(readFileSync(krl));
    let revokedCount = 0;
    for (const f of files) {
      const ours = revoked.revoked(parseUserKey(blobOf(readFileSync(f, 'utf8'))));
      expect(ours !== null, `${f}: ours ${ours}`).toBe(keygenRevokes(krl, f));
      if (ours) revokedCount++;
    }
    expect(revokedCount).toBeGreaterThan(5);
    expect(revoked.revoked(parseUserKey(blobOf(pubLine(keys[0]!))))).toBe('the key is revoked');
    // The KRL as base64, as a Worker's REVOKED_KEYS holds it, is the same KRL.
    const fromText = revokedKeysFromText(readFileSync(krl).toString('base64'));
    expect(fromText).toBeInstanceOf(Uint8Array);
    expect(new RevokedKeys(fromText).size).toBe(revoked.size);
  });

  it('RevokedKeys from text (one public key per line); unusable KRLs are errors: signatures, critical extensions, bad versions', () => {
    const a = newKey('ed25519');
    const b = newKey('ecdsa', 256);
    const list = new RevokedKeys(`# revoked\n${pubLine(a)}\n`);
    expect(list.revoked(parseUserKey(blobOf(pubLine(a))))).toBe('the key is revoked');
    expect(list.revoked(parseUserKey(blobOf(pubLine(b))))).toBeNull();
    // A certificate of a revoked key is revoked with it.
    expect(list.revoked(parseUserKey(certify(caEd, a, ['-n', 'alice'])))).toBe('the key is revoked');
    expect(() => new RevokedKeys('not a key\n')).toThrow(/line 1/);
    const header = () => new Writer().uint64(0x5353484b524c0a00n).uint32(1).uint64(1n).uint64(0n).uint64(0n).string('').string('');
    expect(new RevokedKeys(header().finish()).size).toBe(0);
    const ext = (critical: boolean) => header().byte(255).bytes(new Writer().string('x@example.com').boolean(critical).string('').finish()).finish();
    expect(new RevokedKeys(ext(false)).size).toBe(0);
    expect(() => new RevokedKeys(ext(true))).toThrow('KRL has the critical extension "x@example.com", not supported here');
    expect(() => new RevokedKeys(header().byte(4).bytes(blobOf(pubLine(a))).bytes(new Uint8Array(10)).finish())).toThrow(/signatures are not supported/);
    expect(() => new RevokedKeys(new Writer().uint64(0x5353484b524c0a00n).uint32(2).finish())).toThrow('KRL format version 2 is not supported');
    expect(() => new RevokedKeys(header().byte(9).bytes(new Uint8Array(0)).finish())).toThrow('unknown KRL section type 9');
  });

  it('hostile KRLs: 3,000 seeded mutations of a real one end in an Error or a list that answers, never anything else', () => {
    const spec = join(dir, `spec${n++}`);
    writeFileSync(spec, ['serial: 3', 'serial: 10-20', 'serial: 300', 'id: laptop', `key: ${pubLine(user)}`, `sha256: ${pubLine(caEd)}`, ''].join('\n'));
    const krl = join(dir, `krl${n++}`);
    keygen('-k', '-f', krl, '-s', `${caEd}.pub`, spec);
    const good = new Uint8Array(readFileSync(krl));
    const probe = parseUserKey(certify(caEd, user, ['-n', 'alice', '-z', '12']));
    let seed = 99;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      const m = good.slice();
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      try {
        const r = new RevokedKeys(m);
        parsed++;
        const why = r.revoked(probe);
        expect(why === null || typeof why === 'string').toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });

  it('the demo policy refuses a revoked key, certificate or CA, and says why; a KRL it cannot read is an error', async () => {
    const log: string[] = [];
    const caB = newKey('ed25519');
    const spec = join(dir, `spec${n++}`);
    writeFileSync(spec, ['serial: 5', ''].join('\n'));
    const krl = join(dir, `krl${n++}`);
    keygen('-k', '-f', krl, '-s', `${caEd}.pub`, spec);
    keygen('-k', '-u', '-f', krl, '-s', `${caEd}.pub`, (writeFileSync(spec, `key: ${pubLine(caB)}\n`), spec));
    const policy = makeDemoPolicy({
      authorizedKeys: `cert-authority ${pubLine(caEd)}\ncert-authority ${pubLine(caB)}\n`,
      revokedKeys: readFileSync(krl),
      log: (l) => log.push(l),
    });
    const ask = (blob: Uint8Array) => {
      const key = parseUserKey(blob);
      return policy.authenticate({ method: 'publickey', username: 'alice', key, algorithm: key.signatureAlgorithms[0]!, signed: true }, { transport: fakeTransport('10.1.2.3'), passed: [] });
    };
    expect(await ask(certify(caEd, user, ['-n', 'alice', '-z', '4']))).toBe(true);
    expect(await ask(certify(caEd, user, ['-n', 'alice', '-z', '5']))).toBe(false);
    expect(await ask(certify(caB, user, ['-n', 'alice', '-z', '4']))).toBe(false);
    const text = log.join('\n');
    expect(text).toMatch(/Authentication tried for alice with ssh-ed25519-cert-v01@openssh.com SHA256:\S+ but the certificate's serial 5 is revoked/);
    expect(text).toMatch(/but its CA key is revoked/);
    expect(() => makeDemoPolicy({ revokedKeys: new Uint8Array([0x53, 0x53, 0x48, 0x4b, 0x52, 0x4c, 0x0a, 0x00, 0, 0, 0, 1]) })).toThrow(/the revoked keys cannot be read: truncated/);
  });

  it('host certificates: each must be a host certificate of a loaded key; the key signs under the plain name', async () => {
    const hostKey = newKey('ed25519');
    const [key] = await parsePrivateKey(readFileSync(hostKey, 'utf8'));
    const line = (blob: Uint8Array, type = 'ssh-ed25519-cert-v01@openssh.com') => `${type} ${Buffer.from(blob).toString('base64')} c`;
    const [certified] = certifiedHostKeys([key!], `# host certificate\n${line(certify(caEd, hostKey, ['-h', '-n', 'h.example']))}\n`);
    expect(certified!.publicKey.type).toBe('ssh-ed25519-cert-v01@openssh.com');
    expect(certificateOf(certified!.publicKey)!.kind).toBe('host');
    const sig = await certified!.sign('ssh-ed25519-cert-v01@openssh.com', new Uint8Array([1, 2, 3]));
    expect(await key!.publicKey.verify(sig, new Uint8Array([1, 2, 3]), ['ssh-ed25519'])).toBe(true);
    expect(describeHostKey(certified!.publicKey)).toMatch(/^host certificate ssh-ed25519-cert-v01@openssh.com ID "id-\d+" \(serial 0\) for SHA256:\S+ signed by ssh-ed25519 CA SHA256:\S+$/);
    expect(() => certifiedHostKeys([key!], line(certify(caEd, hostKey, ['-n', 'alice'])))).toThrow(/host certificate 1 \(ID "id-\d+"\) is a user certificate/);
    expect(() => certifiedHostKeys([key!], line(certify(caEd, user, ['-h'])))).toThrow(/certifies none of the host keys/);
    expect(() => certifiedHostKeys([key!], 'ssh-ed25519-cert-v01@openssh.com AAAA')).toThrow(/^host certificate 1: /);
    expect(() => certifiedHostKeys([key!], line(certify(caEd, hostKey, ['-h']), 'ssh-rsa-cert-v01@openssh.com'))).toThrow(/does not match its data/);
  });

  it('signCertificate makes what ssh-keygen -L reads and OpenSSH accepts: every CA type, user and host, ssh-keygen defaults', async () => {
    for (const caType of [['ed25519'], ['ecdsa', 384], ['rsa', 2048]] as const) {
      const caFile = newKey(caType[0], caType[1]);
      const [ca] = await parsePrivateKey(readFileSync(caFile, 'utf8'));
      for (const [t, b] of [['ed25519'], ['ecdsa', 521], ['rsa', 2048]] as const) {
        const userFile = newKey(t, b);
        const key = parseUserKey(blobOf(pubLine(userFile)));
        const cert = await signCertificate(ca!, key, { kind: 'user', keyId: 'made here', principals: ['alice', 'ops'], serial: 42n, validAfter: 1000n, validBefore: 2n ** 40n, criticalOptions: { 'force-command': 'uptime' } });
        const c = cert.certificate;
        expect([c.kind, c.keyId, c.principals, c.serial, c.validAfter, c.validBefore]).toEqual(['user', 'made here', ['alice', 'ops'], 42n, 1000n, 2n ** 40n]);
        expect(c.extensions).toEqual(['permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc']);
        expect(c.key.blob).toEqual(key.blob);
        expect(await verifyCertificate(c, DEFAULT_ALGORITHMS.serverSigAlgs)).toBe(true);
        const file = join(dir, `made${n++}-cert.pub`);
        writeFileSync(file, `${cert.type} ${Buffer.from(cert.blob).toString('base64')}\n`);
        const shown = execFileSync(SSH_KEYGEN, ['-L', '-f', file], { encoding: 'utf8' });
        expect(shown).toContain('Key ID: "made here"');
        expect(shown).toMatch(/Serial: 42/);
        expect(shown).toMatch(/force-command uptime/);
        if (caType[0] === 'rsa') expect(shown).toContain('(using rsa-sha2-512)');
      }
      const host = await signCertificate(ca!, parseUserKey(blobOf(pubLine(user))), { kind: 'host', keyId: 'h', principals: ['h.example'] });
      expect([host.certificate.kind, host.certificate.extensions, host.certificate.validBefore]).toEqual(['host', [], 0xffffffffffffffffn]);
    }
    await expect(signCertificate((await parsePrivateKey(readFileSync(caEd, 'utf8')))[0]!, parseUserKey(certify(caEd, user, [])), { kind: 'user', keyId: 'x' })).rejects.toThrow(/plain keys/);
  });
});
