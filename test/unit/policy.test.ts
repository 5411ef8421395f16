// The demo's forwarding policy: sshd's PermitOpen and PermitListen syntax, and the authorized_keys options
// that limit them.
import { describe, expect, it } from 'vitest';
import { makeDemoPolicy, parsePermitListen, parsePermitOpen, peerIp } from '../../src/apps/demo.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { addressMatches, forwardingAllowed, keyRefusal, parseAuthorizedKeyLine, userRefusal } from '../../src/auth/authorized-keys.ts';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEUZzFeXqbFTllocoM2DD7fIgTDuJfY7M1n8ozCDPpBN me@here';

describe('PermitOpen', () => {
  it('host:port, * for either, [v6]:port, any and none; spaces or commas between', () => {
    expect(parsePermitOpen('db.internal:5432, *:80 [::1]:22 Example.COM:* none')).toEqual([
      { host: 'db.internal', port: 5432 },
      { host: null, port: 80 },
      { host: '::1', port: 22 },
      { host: 'example.com', port: null },
    ]);
    expect(parsePermitOpen('any')).toEqual([{ host: null, port: null }]);
    expect(parsePermitOpen('')).toEqual([]);
  });

  it('a malformed entry is an error naming it', () => {
    for (const bad of ['db.internal', 'host:0', 'host:65536', ':22', 'a:b:22'])
      expect(() => parsePermitOpen(bad)).toThrow(`bad permit-open entry ${JSON.stringify(bad)}`);
  });
});

describe('PermitListen (remote forwarding)', () => {
  it('[host:]port, * for any port, any and none; a port 0 request needs a * port', () => {
    expect(parsePermitListen('8080 localhost:9000 * [::1]:22 none')).toEqual([
      { host: null, port: 8080 },
      { host: 'localhost', port: 9000 },
      { host: null, port: null },
      { host: '::1', port: 22 },
    ]);
    for (const bad of ['0', '65536', 'host:', 'a:b:1', 'x'])
      expect(() => parsePermitListen(bad)).toThrow(`bad permit-listen entry ${JSON.stringify(bad)}`);
  });

  it("the demo policy: the server's list, the key's options, never a privileged port; a refusal is logged", () => {
    const log: string[] = [];
    const p = makeDemoPolicy({ permitListen: parsePermitListen('8080 *:9000'), log: (l) => log.push(l) });
    const as = (keyOptions?: string) => ({ appData: keyOptions ? { keyOptions: parseAuthorizedKeyLine(`${keyOptions} ${KEY}`).options } : {} }) as unknown as Transport;
    const listen = (port: number, t = as(), address = 'localhost') => p.allowListen({ kind: 'tcpip-forward', address, port }, t);
    expect([listen(8080), listen(9000), listen(9001), listen(0)]).toEqual([true, true, false, false]);
    expect(listen(8080, as('restrict'))).toBe(false);
    expect(listen(8080, as('no-port-forwarding'))).toBe(false);
    expect(listen(8080, as('restrict,port-forwarding'))).toBe(true);
    expect(listen(9000, as('permitlisten="8080"'))).toBe(false);
    expect(listen(8080, as('permitlisten="8080"'))).toBe(true);
    const open = makeDemoPolicy({ permitListen: parsePermitListen('any') });
    expect(open.allowListen({ kind: 'tcpip-forward', address: '', port: 80 }, as())).toBe(false); // privileged
    expect(open.allowListen({ kind: 'tcpip-forward', address: '', port: 0 }, as())).toBe(true);
    expect(makeDemoPolicy({}).allowListen({ kind: 'tcpip-forward', address: '', port: 8080 }, as())).toBe(false); // off by default
    expect(log).toContain('refused remote port forward: listen localhost port 9001');
  });
});

describe('authorized_keys forwarding options', () => {
  const opts = (o: string) => parseAuthorizedKeyLine(`${o} ${KEY}`).options;
  it('restrict and no-port-forwarding forbid it; port-forwarding after restrict allows it again', () => {
    expect(forwardingAllowed(parseAuthorizedKeyLine(KEY).options)).toBe(true);
    expect(forwardingAllowed(opts('restrict'))).toBe(false);
    expect(forwardingAllowed(opts('no-port-forwarding'))).toBe(false);
    expect(forwardingAllowed(opts('restrict,port-forwarding'))).toBe(true);
    expect(forwardingAllowed(opts('restrict,port-forwarding,no-port-forwarding'))).toBe(false);
  });

  it('permitopen is repeatable, and a malformed one makes the line invalid', () => {
    expect(opts('permitopen="db:5432",permitopen="cache:6379"').permitOpen).toEqual([{ host: 'db', port: 5432 }, { host: 'cache', port: 6379 }]);
    expect(() => opts('permitopen="db"')).toThrow(/bad permit-open entry/); // the line is skipped, as sshd skips it
  });
});

describe('authorized_keys: from=, expiry-time, and options sshd would refuse', () => {
  const opts = (o: string) => parseAuthorizedKeyLine(`${o} ${KEY}`).options;
  it('from= patterns: wildcards, CIDR (IPv4 and IPv6), negation, as sshd matches them', () => {
    expect(addressMatches('10.1.2.3', '10.1.2.*')).toBe(true);
    expect(addressMatches('10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(addressMatches('11.1.2.3', '10.0.0.0/8')).toBe(false);
    expect(addressMatches('10.1.2.3', '!10.1.2.3,10.0.0.0/8')).toBe(false);
    expect(addressMatches('10.9.9.9', '!10.1.2.3,10.0.0.0/8')).toBe(true);
    expect(addressMatches('2001:db8::7', '2001:db8::/32')).toBe(true);
    expect(addressMatches('2001:db9::7', '2001:db8::/32')).toBe(false);
    expect(addressMatches('::1', '127.0.0.1')).toBe(false);
    expect(addressMatches('192.168.0.5', '192.168.0.?')).toBe(true);
    expect(addressMatches('192.168.0.50', '192.168.0.?')).toBe(false);
  });

  it('keyRefusal: a from= the address misses, an unknown address, an expired key', () => {
    const now = Date.UTC(2026, 10, 30);
    expect(keyRefusal(opts('from="10.0.0.0/8"'), '10.2.3.4', now)).toBeNull();
    expect(keyRefusal(opts('from="10.0.0.0/8"'), '192.0.2.1', now)).toBe('not from a permitted host (ip=192.0.2.1, required=10.0.0.0/8)');
    expect(keyRefusal(opts('from="10.0.0.0/8"'), null, now)).toMatch(/ip=unknown/);
    expect(keyRefusal(opts('expiry-time="20261129Z"'), null, now)).toBe('the key expired at 2026-11-29T00:00:00.000Z');
    expect(keyRefusal(opts('expiry-time="202612010930Z"'), null, now)).toBeNull();
  });

  it('a line with an unknown option, or principals= without cert-authority, authorizes nothing (sshd skips it too)', () => {
    expect(() => opts('no-such-option')).toThrow('unknown option "no-such-option"');
    expect(opts('cert-authority,principals="alice,ops"')).toMatchObject({ certAuthority: true, principals: ['alice', 'ops'] });
    expect(() => opts('principals="alice"')).toThrow(/principals= applies only to a cert-authority line/);
    expect(() => opts('expiry-time="tomorrow"')).toThrow(/bad expiry-time/);
    expect(opts('agent-forwarding,x11-forwarding').other).toEqual({ 'agent-forwarding': true, 'x11-forwarding': true });
    expect(peerIp('::ffff:127.0.0.1 port 5555')).toBe('127.0.0.1');
    expect(peerIp('203.0.113.9 (WebSocket)')).toBe('203.0.113.9');
    expect(peerIp('unknown (WebSocket)')).toBeNull();
  });
});

describe("a user's own authorized_keys (userAuthorizedKeys: sshd's AuthorizedKeysFile with %u)", () => {
  it("its keys log in that user only, beside everyone's, under their options; its bad lines are logged and skipped", async () => {
    const log: string[] = [];
    const key = parseAuthorizedKeyLine(KEY).key;
    const policy = makeDemoPolicy({ userAuthorizedKeys: async (u) => (u === 'carol' ? `bogus line\nno-pty ${KEY}\n` : null), log: (l) => log.push(l) });
    const ask = async (username: string) => {
      const transport = { peerAddress: '10.0.0.1 port 5555', appData: {} } as unknown as Transport;
      const ok = await policy.authenticate({ method: 'publickey', username, key, algorithm: 'ssh-ed25519', signed: true }, { transport, passed: [] });
      return { ok, options: transport.appData.keyOptions as { noPty?: boolean } | undefined };
    };
    const carol = await ask('carol');
    expect(carol.ok).toBe(true);
    expect(carol.options?.noPty).toBe(true);
    expect((await ask('dave')).ok).toBe(false);
    expect(log).toEqual(['authorized_keys of carol line 1 skipped: missing key type or key data']);
  });
});

describe("AllowUsers and DenyUsers (sshd's, as userRefusal and makeDemoPolicy's allowUsers / denyUsers)", () => {
  it('USER and USER@HOST patterns, wildcards and CIDR; denied first; an empty AllowUsers allows all', () => {
    expect(userRefusal('alice', '10.1.2.3', 'alice bob', '')).toBeNull();
    expect(userRefusal('carol', '10.1.2.3', 'alice bob', '')).toBe('not listed in AllowUsers');
    expect(userRefusal('carol', '10.1.2.3', '', '')).toBeNull();
    expect(userRefusal('root', '10.1.2.3', '*', 'root')).toBe('listed in DenyUsers');
    expect(userRefusal('ops-7', '10.1.2.3', 'ops-? admin@192.168.*', '')).toBeNull();
    expect(userRefusal('admin', '192.168.4.5', 'admin@192.168.*', '')).toBeNull();
    expect(userRefusal('admin', '10.1.2.3', 'admin@192.168.*', '')).toBe('not listed in AllowUsers');
    expect(userRefusal('admin', '10.1.2.3', 'admin@10.0.0.0/8', '')).toBeNull();
    expect(userRefusal('admin', null, 'admin@10.0.0.0/8', '')).toBe('not listed in AllowUsers'); // an unknown address matches no host
    expect(userRefusal('Alice', '10.1.2.3', 'alice', '')).toBe('not listed in AllowUsers'); // user names are case-sensitive, as sshd's
    expect(userRefusal('bob', '203.0.113.9', '', 'bob@203.0.113.0/24')).toBe('listed in DenyUsers');
    expect(userRefusal('bob', null, '', 'bob@203.0.113.0/24')).toBe('listed in DenyUsers'); // unknown address: refused either way
  });

  it('every method fails for a user not allowed, with one log line per connection in sshd\'s words', async () => {
    const log: string[] = [];
    const key = parseAuthorizedKeyLine(KEY).key;
    const policy = makeDemoPolicy({ authorizedKeys: `${KEY}\n`, password: 'pw', denyUsers: 'mallory', log: (l) => log.push(l) });
    const transport = { peerAddress: '10.0.0.1 port 5555', appData: {} } as unknown as Transport;
    const ctx = { transport, passed: [] };
    expect(await policy.authenticate({ method: 'publickey', username: 'mallory', key, algorithm: 'ssh-ed25519', signed: true }, ctx)).toBe(false);
    expect(await policy.authenticate({ method: 'password', username: 'mallory', password: 'pw' } as never, ctx)).toBe(false);
    expect(await policy.authenticate({ method: 'password', username: 'alice', password: 'pw' } as never, ctx)).toBe(true);
    expect(log).toEqual(['User mallory from 10.0.0.1 not allowed because listed in DenyUsers']);
  });
});
