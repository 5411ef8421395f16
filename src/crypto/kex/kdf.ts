/** RFC 4253 §7.2: keys from K (already encoded), H, a letter and the session id, extended as needed. */
import type { Hash } from '../types.ts';

export function deriveKey(hash: Hash, K: Uint8Array, H: Uint8Array, letter: string, sessionId: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  const first = new Uint8Array(K.length + H.length + 1 + sessionId.length);
  first.set(K, 0);
  first.set(H, K.length);
  first[K.length + H.length] = letter.charCodeAt(0);
  first.set(sessionId, K.length + H.length + 1);
  let block = hash.digest(first);
  let have = Math.min(block.length, length);
  out.set(block.subarray(0, have));
  // K_n = HASH(K || H || K_1 || ... || K_{n-1})
  while (have < length) {
    const next = new Uint8Array(K.length + H.length + have);
    next.set(K, 0);
    next.set(H, K.length);
    next.set(out.subarray(0, have), K.length + H.length);
    block = hash.digest(next);
    const take = Math.min(block.length, length - have);
    out.set(block.subarray(0, take), have);
    have += take;
  }
  return out;
}
