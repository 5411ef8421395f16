// sshd's AuthorizedKeysCommand as `edgessh serve` runs it (src/cli/keys-command.ts): the command line split as
// sshd_config splits it, and each way a run can fail ending in a log line and no keys.
import { describe, expect, it } from 'vitest';
import { keysCommand, splitCommandLine } from '../../src/cli/keys-command.ts';
import { generatePrivateKey } from '../../src/crypto/keys/index.ts';

describe('AuthorizedKeysCommand', () => {
  it('splits words on whitespace, with "…" and \'…\' quoting and \\ escaping', () => {
    expect(splitCommandLine('/bin/x  a "b c" \'d "e"\' f\\ g ""')).toEqual(['/bin/x', 'a', 'b c', 'd "e"', 'f g', '']);
    expect(() => splitCommandLine('/bin/x "open')).toThrow(/unterminated quote/);
  });

  it('a failing run gives no keys and one log line: non-zero exit, too much output, too long a run', async () => {
    const key = (await generatePrivateKey('ed25519')).publicKey;
    const lines: string[] = [];
    const limits = { timeoutMs: 300, outputMax: 1000 };
    const cmd = (script: string) => keysCommand(`/bin/sh -c '${script}'`, (l) => lines.push(l), limits);
    expect(await cmd('echo key; exit 3')('alice', key)).toBeNull();
    expect(lines.pop()).toMatch(/for alice: exited with 3; its output is not used/);
    expect(await cmd('head -c 5000 /dev/zero')('alice', key)).toBeNull();
    expect(lines.pop()).toMatch(/printed more than 1000 bytes/);
    expect(await cmd('sleep 5')('alice', key)).toBeNull();
    expect(lines.pop()).toMatch(/did not finish within 0.3 s/);
  });

  it('runs with PATH alone in its environment (nothing of edgessh\'s, such as a password variable)', async () => {
    const key = (await generatePrivateKey('ed25519')).publicKey;
    process.env.EDGESSH_TEST_SECRET = 'hunter2';
    try {
      expect(await keysCommand('/usr/bin/env -u NOTHING', () => {})('alice', key)).toBe('PATH=/usr/bin:/bin\n');
    } finally {
      delete process.env.EDGESSH_TEST_SECRET;
    }
  });

  it('passes %u %t %% and, with no arguments, the user name', async () => {
    const key = (await generatePrivateKey('ed25519')).publicKey;
    expect(await keysCommand('/bin/echo %u %t 100%%', () => {})('bob', key)).toBe('bob ssh-ed25519 100%\n');
    expect(await keysCommand('/bin/echo', () => {})('bob', key)).toBe('bob\n');
  });
});
