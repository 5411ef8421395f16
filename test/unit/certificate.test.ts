// OpenSSH user certificates (PROTOCOL.certkeys), made by ssh-keygen -s: parsing, the authority's signature,
// sshd's checks (type, validity, principals, critical options) and what a certificate narrows; the demo
// policy's cert-authority lines and TrustedUserCAKeys. Hostile blobs end in an Error, never anything else.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateOf,
  certificateOptions,
  certificatePlainAlgorithm,
  certificateRefusal,
  certificateSignatureAlgorithms,
  parseCertificate,
  parseUserKey,
  verifyCertificate,
} from '../../src/auth/certificate.ts';
import { parseAuthorizedKeyLine, ptyAllowed, forwardingAllowed } from '../../src/auth/authorized-keys.ts';
import { makeDemoPolicy } from '../../src/apps/demo.ts';
import { DEFAULT_ALGORITHMS, LEGACY_ALGORITHMS } from '../../src/crypto/registry.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { havePeer } from '../helpers/peers.ts';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
let dir: string;
let n = 0;
const keygen = (...args: string[]) => execFileSync(SSH_KEYGEN, ['-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
const newKey = (type: string, bits?: number) => {
  const f = join(dir, `key${n++}`);
  keygen('-N', '', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-C', '', '-f', f);
  return f;
};
const pubLine = (f: string) => readFileSync(`${f}.pub`, 'utf8').trim();
const blobOf = (line: string) => Uint8Array.from(atob(line.split(' ')[1]!), (c) => c.charCodeAt(0));
/** ssh-keygen -s CA over a copy of the user's public key; returns the certificate's blob. */
function certify(ca: string, user: string, args: string[]): Uint8Array {
  const copy = join(dir, `cert${n++}`);
  copyFileSync(`${user}.pub`, `${copy}.pub`);
  keygen('-s', ca, '-I', 'id-' + n, ...args, `${copy}.pub`);
  return blobOf(readFileSync(`${copy}-cert.pub`, 'utf8'));
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
});
