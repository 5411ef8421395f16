/** Hash functions for kex and signatures (noble, synchronous: kex hashes are small). */
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import type { Hash, HashName } from './types.ts';

const make = (name: HashName, fn: (d: Uint8Array) => Uint8Array, outputLength: number): Hash => ({
  name,
  outputLength,
  digest: (d) => fn(d),
});

export const HASHES: Record<HashName, Hash> = {
  sha1: make('sha1', sha1, 20),
  sha256: make('sha256', sha256, 32),
  sha384: make('sha384', sha384, 48),
  sha512: make('sha512', sha512, 64),
};
