/**
 * Algorithms are data: every wire name maps to one implementation, and the default lists say what a
 * fresh server offers, in preference order. Legacy algorithms exist but are off unless configured.
 */
import type { CipherInfo, KexMethod, MacInfo } from './types.ts';
import { CIPHERS, MACS } from './protection.ts';
import { KEX_METHODS } from './kex/index.ts';

export { PORTABLE_PROTECTION, NONE_SEALER, NONE_OPENER } from './protection.ts';
export { createCompressor, createDecompressor } from './compression/zlib.ts';
export { dhGroupMethod, chooseGexGroup } from './kex/index.ts';
export { deriveKey } from './kex/kdf.ts';
export { parsePublicKeyBlob } from './hostkey/index.ts';

export interface AlgorithmPrefs {
  kex: string[];
  hostKey: string[];
  cipher: string[];
  mac: string[];
  compression: string[];
  /** Signature algorithms accepted for publickey userauth (EXT_INFO server-sig-algs). */
  serverSigAlgs: string[];
}

export const DEFAULT_ALGORITHMS: AlgorithmPrefs = {
  kex: [
    'mlkem768x25519-sha256',
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group14-sha256',
  ],
  hostKey: [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
  ],
  cipher: [
    'chacha20-poly1305@openssh.com',
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'aes256-ctr',
  ],
  mac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  compression: ['none', 'zlib@openssh.com'],
  serverSigAlgs: [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
  ],
};

/**
 * What a server offers for host keys unless configured (sshd's HostKeyAlgorithms): each default algorithm's
 * certificate form first, then the plain ones. Only what the loaded keys (and certificates) can sign is offered.
 */
export const SERVER_HOST_KEY_ALGORITHMS: readonly string[] = [
  ...DEFAULT_ALGORITHMS.hostKey.map((a) => `${a}-cert-v01@openssh.com`),
  ...DEFAULT_ALGORITHMS.hostKey,
];

/** Off by default (sha1, ssh-rsa); an operator may add them to the lists explicitly. */
export const LEGACY_ALGORITHMS = {
  kex: ['diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1', 'diffie-hellman-group1-sha1'],
  hostKey: ['ssh-rsa'],
  mac: ['hmac-sha1-etm@openssh.com', 'hmac-sha1'],
};

export function cipherInfo(name: string): CipherInfo | undefined {
  return Object.hasOwn(CIPHERS, name) ? CIPHERS[name] : undefined;
}

export function macInfo(name: string): MacInfo | undefined {
  return Object.hasOwn(MACS, name) ? MACS[name] : undefined;
}

export function kexMethod(name: string): KexMethod | undefined {
  return Object.hasOwn(KEX_METHODS, name) ? KEX_METHODS[name] : undefined;
}

/** Checks configured lists name only algorithms we implement; throws naming the unknown one. */
export function validateAlgorithms(prefs: Partial<AlgorithmPrefs>): void {
  const check = (list: string[] | undefined, known: (n: string) => boolean, what: string) => {
    for (const n of list ?? []) if (!known(n)) throw new Error(`unknown ${what} algorithm: ${n}`);
  };
  check(prefs.kex, (n) => !!kexMethod(n), 'key exchange');
  check(prefs.cipher, (n) => !!cipherInfo(n), 'cipher');
  check(prefs.mac, (n) => !!macInfo(n), 'MAC');
  check(prefs.compression, (n) => n === 'none' || n === 'zlib@openssh.com', 'compression');
}
