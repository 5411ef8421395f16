/**
 * Packet protection for one direction: chacha20-poly1305@openssh.com (JavaScript: our ChaCha20 and
 * Poly1305 cores, checked against noble and RFC 8439), AES-GCM @openssh.com and AES-CTR (Web Crypto), HMAC-SHA2 (noble, keyed once per direction),
 * in the three framings SSH uses: MAC over plaintext, encrypt-then-MAC, and AEAD.
 */
import { ctr as nobleCtr } from '@noble/ciphers/aes.js';
import { chacha20Xor, keyWords } from './chacha20.ts';
import { poly1305Tag } from './poly1305.ts';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { getUint32 } from '../wire/reader.ts';
import { concatBytes, putUint32 } from '../wire/writer.ts';
import type { CipherInfo, DirectionKeys, DirectionState, MacInfo, PacketOpener, PacketProtection, PacketSealer } from './types.ts';

export const CIPHERS: Record<string, CipherInfo> = {
  'chacha20-poly1305@openssh.com': { name: 'chacha20-poly1305@openssh.com', keyLength: 64, ivLength: 0, blockSize: 8, aead: true },
  'aes128-gcm@openssh.com': { name: 'aes128-gcm@openssh.com', keyLength: 16, ivLength: 12, blockSize: 16, aead: true },
  'aes256-gcm@openssh.com': { name: 'aes256-gcm@openssh.com', keyLength: 32, ivLength: 12, blockSize: 16, aead: true },
  'aes128-ctr': { name: 'aes128-ctr', keyLength: 16, ivLength: 16, blockSize: 16, aead: false },
  'aes192-ctr': { name: 'aes192-ctr', keyLength: 24, ivLength: 16, blockSize: 16, aead: false },
  'aes256-ctr': { name: 'aes256-ctr', keyLength: 32, ivLength: 16, blockSize: 16, aead: false },
};

const HMAC_HASH = { sha1, sha256, sha512 } as const;
const mac = (name: string, hash: keyof typeof HMAC_HASH, length: number, etm: boolean): MacInfo & { hash: keyof typeof HMAC_HASH } => ({
  name,
  keyLength: length,
  tagLength: length,
  etm,
  hash,
});

export const MACS: Record<string, MacInfo & { hash: keyof typeof HMAC_HASH }> = {
  'hmac-sha2-256-etm@openssh.com': mac('hmac-sha2-256-etm@openssh.com', 'sha256', 32, true),
  'hmac-sha2-512-etm@openssh.com': mac('hmac-sha2-512-etm@openssh.com', 'sha512', 64, true),
  'hmac-sha2-256': mac('hmac-sha2-256', 'sha256', 32, false),
  'hmac-sha2-512': mac('hmac-sha2-512', 'sha512', 64, false),
  'hmac-sha1-etm@openssh.com': mac('hmac-sha1-etm@openssh.com', 'sha1', 20, true),
  'hmac-sha1': mac('hmac-sha1', 'sha1', 20, false),
};

/** Before the first NEWKEYS: no encryption, no MAC (RFC 4253 §6). */
export const NONE_SEALER: PacketSealer = { blockSize: 8, lengthInAlignment: true, tagLength: 0, seal: (_s, p) => p };
export const NONE_OPENER: PacketOpener = {
  headLength: 4,
  blockSize: 8,
  lengthInAlignment: true,
  tagLength: 0,
  readLength: (_s, head) => getUint32(head, 0),
  open: (_s, wire) => wire.subarray(4),
};

/** Constant-time comparison of MACs and tags. */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

// ── HMAC ───────────────────────────────────────────────────────────────────────────────────────────

interface Mac {
  tagLength: number;
  /** HMAC(key, uint32 seq || data || more); Web Crypto for large data, noble below (each await costs ~40 µs). */
  compute(seq: number, data: Uint8Array, more?: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** Below this many bytes noble's HMAC beats a Web Crypto call (measured: see the README's bench notes). */
export const WEBCRYPTO_HMAC_MIN = 8 * 1024;
const SUBTLE_HASH = { sha1: 'SHA-1', sha256: 'SHA-256', sha512: 'SHA-512' } as const;

function createMac(info: MacInfo, key: Uint8Array): Mac {
  const m = MACS[info.name]!;
  const keyed = hmac.create(HMAC_HASH[m.hash], key);
  const seqBytes = new Uint8Array(4);
  let subtleKey: Promise<CryptoKey> | null = null;
  return {
    tagLength: m.tagLength,
    compute(seq, data, more) {
      putUint32(seqBytes, 0, seq);
      const length = data.length + (more?.length ?? 0);
      if (length >= WEBCRYPTO_HMAC_MIN) {
        subtleKey ??= crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: SUBTLE_HASH[m.hash] }, false, ['sign']);
        const msg = new Uint8Array(4 + length);
        msg.set(seqBytes);
        msg.set(data, 4);
        if (more) msg.set(more, 4 + data.length);
        return subtleKey.then(async (k) => new Uint8Array(await crypto.subtle.sign('HMAC', k, msg)));
      }
      const h = keyed.clone().update(seqBytes).update(data);
      return (more ? h.update(more) : h).digest();
    },
  };
}

// ── Framing: what every implementation of a cipher shares (see PacketSealer / PacketOpener) ───────────

/** chacha20-poly1305: the length is encrypted on its own (4 bytes read first), 8-byte blocks after it. */
export const CHACHA_FRAMING = { blockSize: 8, lengthInAlignment: false, tagLength: 16 } as const;
export const CHACHA_OPENER_FRAMING = { ...CHACHA_FRAMING, headLength: 4 } as const;
/** AES-GCM: the length travels in clear as the additional data. */
export const GCM_FRAMING = { blockSize: 16, lengthInAlignment: false, tagLength: 16 } as const;
export const GCM_OPENER_FRAMING = {
  ...GCM_FRAMING,
  headLength: 4,
  lengthInClear: true,
  readLength: (_seq: number, head: Uint8Array) => getUint32(head, 0),
} as const;
/** AES-CTR: with encrypt-then-MAC the length travels in clear, else it is in the first encrypted block. */
export const ctrFraming = (etm: boolean, tagLength: number) => ({ blockSize: 16, lengthInAlignment: !etm, tagLength });
export const ctrOpenerFraming = (etm: boolean, tagLength: number) => ({ ...ctrFraming(etm, tagLength), headLength: etm ? 4 : 16, lengthInClear: etm });

// ── chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305) ──────────────────────────────

/** The nonce's last word: 4 zero bytes then the sequence number as uint64 big-endian, read little-endian. */
export const seqWord = (seq: number) => (((seq & 0xff) << 24) | ((seq & 0xff00) << 8) | ((seq >>> 8) & 0xff00) | (seq >>> 24)) >>> 0;

/** A direction's ChaCha20 keys as words, and the packet's Poly1305 key for a nonce word (valid until the next call). */
export function chachaParts(key: Uint8Array) {
  // K_2 (first 32 bytes) encrypts the packet, K_1 (last 32) the length.
  const main = keyWords(key.subarray(0, 32));
  const header = keyWords(key.subarray(32, 64));
  const zeros = new Uint8Array(32);
  // One buffer per direction for the packet's Poly1305 key: it is used at once, by poly1305Tag.
  const scratch = new Uint8Array(32);
  const polyKey = (n2: number) => chacha20Xor(main, 0, 0, n2, 0, zeros, scratch);
  return { main, header, polyKey };
}

function chachaSealer(keys: DirectionKeys): PacketSealer {
  const { main, header, polyKey } = chachaParts(keys.encKey);
  const sealInPlace = (seq: number, packet: Uint8Array): Uint8Array => {
    const n2 = seqWord(seq);
    const len = packet.length;
    const out = new Uint8Array(packet.buffer, packet.byteOffset, len + 16);
    chacha20Xor(header, 0, 0, n2, 0, out.subarray(0, 4), out.subarray(0, 4));
    chacha20Xor(main, 0, 0, n2, 1, out.subarray(4, len), out.subarray(4, len));
    out.set(poly1305Tag(polyKey(n2), out.subarray(0, len)), len);
    return out;
  };
  return {
    save: () => ({ keys, position: 0 }),
    ...CHACHA_FRAMING,
    sealInPlace,
    seal(seq, packet) {
      const out = new Uint8Array(packet.length + 16);
      out.set(packet);
      return sealInPlace(seq, out.subarray(0, packet.length));
    },
  };
}

function chachaOpener(keys: DirectionKeys): PacketOpener {
  const { main, header, polyKey } = chachaParts(keys.encKey);
  const len = new Uint8Array(4);
  return {
    save: () => ({ keys, position: 0 }),
    ...CHACHA_OPENER_FRAMING,
    readLength(seq, head) {
      chacha20Xor(header, 0, 0, seqWord(seq), 0, head.subarray(0, 4), len);
      return getUint32(len, 0);
    },
    open(seq, wire) {
      const n2 = seqWord(seq);
      const body = wire.length - 16;
      const tag = poly1305Tag(polyKey(n2), wire.subarray(0, body));
      if (!equalConstantTime(tag, wire.subarray(body))) return null;
      // Decrypted in place: the bytes are the transport's (see Transport.receive), and a fresh 32 KiB buffer
      // per packet cost more than a tenth of the time to open it. The length (read already) stays as it is.
      const out = wire.subarray(4, body);
      return chacha20Xor(main, 0, 0, n2, 1, out, out);
    },
  };
}

// ── AES-GCM @openssh.com (RFC 5647, OpenSSH PROTOCOL §1.6) ─────────────────────────────────────────

function gcmKey(keys: DirectionKeys): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', keys.encKey, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/** Returns the current nonce and increments the invocation counter (the IV's last 8 bytes). */
export function incrementIv(iv: Uint8Array): Uint8Array {
  const current = iv.slice();
  for (let i = 11; i >= 4; i--) {
    iv[i] = (iv[i]! + 1) & 0xff;
    if (iv[i] !== 0) break;
  }
  return current;
}

/** A copy of `bytes` (even of a Buffer, whose slice() is a view) with the big-endian counter in bytes [from, to) advanced by n. */
function advanced(bytes: Uint8Array, from: number, to: number, n: number): Uint8Array {
  const out = new Uint8Array(bytes);
  // n is a count of packets or blocks, far below 2^53: plain numbers stay exact (a BigInt per call cost
  // more, and CTR asks for a counter block per packet).
  let carry = n;
  for (let i = to - 1; i >= from && carry > 0; i--) {
    const v = out[i]! + (carry % 256);
    out[i] = v & 0xff;
    carry = Math.floor(carry / 256) + (v >>> 8);
  }
  return out;
}

/** The IV after `packets` invocations: the invocation counter (last 8 bytes) advanced mod 2^64. */
export const gcmIvAt = (keys: DirectionKeys, packets: number): Uint8Array => advanced(keys.iv, 4, 12, packets);

function gcmSealer(keys: DirectionKeys, position: number): PacketSealer {
  const key = gcmKey(keys);
  const iv = gcmIvAt(keys, position);
  let packets = position;
  const sealParts = async (_seq: number, packet: Uint8Array): Promise<Uint8Array[]> => {
    const nonce = incrementIv(iv);
    packets++;
    const head = packet.slice(0, 4);
    const body = packet.subarray(4);
    const k = await key;
    // Web Crypto copies its input when called: `packet` is not read after this line.
    const ct = crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: head, tagLength: 128 }, k, body);
    return [head, new Uint8Array(await ct)];
  };
  return {
    save: () => ({ keys, position: packets }),
    ...GCM_FRAMING,
    sealParts,
    seal: async (seq, packet) => concatBytes(...(await sealParts(seq, packet))),
  };
}

function gcmOpener(keys: DirectionKeys, position: number): PacketOpener {
  const key = gcmKey(keys);
  const iv = gcmIvAt(keys, position);
  let packets = position;
  return {
    save: () => ({ keys, position: packets }),
    ...GCM_OPENER_FRAMING,
    async open(_seq, wire) {
      const nonce = incrementIv(iv);
      packets++;
      try {
        const pt = await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: nonce, additionalData: wire.subarray(0, 4), tagLength: 128 },
          await key,
          wire.subarray(4),
        );
        return new Uint8Array(pt);
      } catch {
        return null;
      }
    },
  };
}

// ── AES-CTR (RFC 4344) with HMAC, ETM or not ───────────────────────────────────────────────────────

/** The CTR counter block `blocks` blocks after the IV (the whole block counts, big-endian, mod 2^128). */
export const ctrCounterAt = (iv: Uint8Array, blocks: number): Uint8Array => advanced(iv, 0, 16, blocks);

/** A CTR keystream position that persists across packets; Web Crypto is told the counter each call. */
function ctrState(keys: DirectionKeys, position: number) {
  // Browsers' Web Crypto has no 192-bit AES (Chromium refuses the key); noble's AES-CTR takes over then.
  const key: Promise<CryptoKey | null> = crypto.subtle.importKey('raw', keys.encKey, { name: 'AES-CTR' }, false, ['encrypt']).catch(() => null);
  const encKey = keys.encKey.slice();
  let blocks = position;
  return {
    /** Keystream blocks used so far. */
    position: () => blocks,
    /** XORs data with the keystream at the current position and advances it. */
    async xor(data: Uint8Array): Promise<Uint8Array> {
      const c = ctrCounterAt(keys.iv, blocks);
      blocks += Math.ceil(data.length / 16);
      const k = await key;
      if (!k) return nobleCtr(encKey, c).encrypt(data);
      return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CTR', counter: c, length: 128 }, k, data));
    },
  };
}

function ctrSealer(keys: DirectionKeys, position: number): PacketSealer {
  const ctr = ctrState(keys, position);
  const m = createMac(keys.mac!, keys.macKey);
  const etm = keys.mac!.etm;
  const sealParts = async (seq: number, packet: Uint8Array): Promise<Uint8Array[]> => {
    // The counter position is taken at the call; `packet` is read once the key is ready (a slab frame
    // stays as it is until then: slabs are never written twice).
    if (etm) {
      const head = packet.slice(0, 4);
      const ct = await ctr.xor(packet.subarray(4));
      return [head, ct, await m.compute(seq, head, ct)];
    }
    // The MAC is over the plaintext, so it and the encryption run side by side.
    const [tag, ct] = await Promise.all([m.compute(seq, packet), ctr.xor(packet)]);
    return [ct, tag];
  };
  return {
    save: () => ({ keys, position: ctr.position() }),
    ...ctrFraming(etm, m.tagLength),
    sealParts,
    seal: async (seq, packet) => concatBytes(...(await sealParts(seq, packet))),
  };
}

function ctrOpener(keys: DirectionKeys, position: number): PacketOpener {
  const ctr = ctrState(keys, position);
  const m = createMac(keys.mac!, keys.macKey);
  const etm = keys.mac!.etm;
  let firstBlock: Uint8Array | null = null;
  return {
    save: () => (firstBlock ? null : { keys, position: ctr.position() }),
    ...ctrOpenerFraming(etm, m.tagLength),
    readLength(_seq, head) {
      if (etm) return getUint32(head, 0);
      // The length is inside the first encrypted block: decrypt it now, keep it for open().
      return ctr.xor(head.subarray(0, 16)).then((b) => {
        firstBlock = b;
        return getUint32(b, 0);
      });
    },
    async open(seq, wire) {
      const body = wire.length - m.tagLength;
      const tag = wire.subarray(body);
      if (etm) {
        // Decrypt while the MAC is checked; the plaintext is released only if the MAC verifies. (The CTR
        // position advances either way, and a bad MAC ends the connection.)
        const [expect, pt] = await Promise.all([m.compute(seq, wire.subarray(0, body)), ctr.xor(wire.subarray(4, body))]);
        return equalConstantTime(expect, tag) ? pt : null;
      }
      const out = new Uint8Array(body);
      out.set(firstBlock!);
      firstBlock = null;
      if (body > 16) out.set(await ctr.xor(wire.subarray(16, body)), 16);
      return equalConstantTime(await m.compute(seq, out), tag) ? out.subarray(4) : null;
    },
  };
}

/** A sealer for one direction; `position` resumes a saved one (see DirectionState). */
export function createSealer(keys: DirectionKeys, position = 0): PacketSealer {
  const name = keys.cipher.name;
  if (name === 'chacha20-poly1305@openssh.com') return chachaSealer(keys);
  if (name.endsWith('-gcm@openssh.com')) return gcmSealer(keys, position);
  if (name.endsWith('-ctr')) return ctrSealer(keys, position);
  throw new Error(`unknown cipher ${name}`);
}

export function createOpener(keys: DirectionKeys, position = 0): PacketOpener {
  const name = keys.cipher.name;
  if (name === 'chacha20-poly1305@openssh.com') return chachaOpener(keys);
  if (name.endsWith('-gcm@openssh.com')) return gcmOpener(keys, position);
  if (name.endsWith('-ctr')) return ctrOpener(keys, position);
  throw new Error(`unknown cipher ${name}`);
}

/** The protection every runtime has: Web Crypto for AES and large HMACs, JavaScript for the rest. */
export const PORTABLE_PROTECTION: PacketProtection = { createSealer, createOpener };
