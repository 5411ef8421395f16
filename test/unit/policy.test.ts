// The demo's forwarding policy: sshd's PermitOpen syntax, and the authorized_keys options that limit it.
import { describe, expect, it } from 'vitest';
import { parsePermitOpen } from '../../src/apps/demo.ts';
import { forwardingAllowed, parseAuthorizedKeyLine } from '../../src/auth/authorized-keys.ts';

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

describe('authorized_keys forwarding options', () => {
  const opts = (o: string) => parseAuthorizedKeyLine(`${o} ${KEY}`).options;
  it('restrict and no-port-forwarding forbid it; port-forwarding after restrict allows it again', () => {
    expect(forwardingAllowed(parseAuthorizedKeyLine(KEY).options)).toBe(true);
    expect(forwardingAllowed(opts('restrict'))).toBe(false);
    expect(forwardingAllowed(opts('no-port-forwarding'))).toBe(false);
    expect(forwardingAllowed(opts('restrict,port-forwarding'))).toBe(true);
    expect(forwardingAllowed(opts('restrict,port-forwarding,no-port-forwarding'))).toBe(false);
  });

  it('permitopen is repeatable', () => {
    expect(opts('permitopen="db:5432",permitopen="cache:6379"').permitOpen).toEqual(['db:5432', 'cache:6379']);
  });
});
