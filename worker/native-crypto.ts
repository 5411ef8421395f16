/**
 * The Worker's packet protection: the portable one (src/crypto/protection.ts: Web Crypto's AES-GCM and
 * AES-CTR, our ChaCha20 and Poly1305), except that chacha20-poly1305@openssh.com takes the bulk of each
 * packet's ChaCha20 from workerd's node:crypto (BoringSSL; the `nodejs_compat` flag in wrangler.toml).
 *
 * workerd offers no bare ChaCha20, only the RFC 8439 AEAD. Its encryption runs the keystream from block 1
 * of (key, 96-bit nonce), which with the nonce 4 zero bytes || uint64 big-endian sequence number is
 * OpenSSH's packet keystream; the AEAD's own tag (over different bytes) is never finished or read. Our
 * Poly1305 gives and checks the tag. Measured here (2026-11-30):
 * - inside workerd, 32 KiB packets: 1.05–1.1 ms per MiB for the AEAD call (its wasted tag included)
 *   against 1.85–2.1 for our ChaCha20; ~10 µs a call, so packets under 16 KiB stay in JavaScript;
 * - seal+open at 32 KiB (bench section 2): 197 MB per CPU-second against 125 for the portable code;
 * - the Durable Object's CPU in 256 MiB transfers through `wrangler dev`, alternating with an object
 *   that had the portable code (three pairs each way): 0.4 ms per MiB less up, 0.6 less down, out of
 *   5–7.5. The object's profile shows workerd's JavaScript around each call (a stream object per
 *   cipher, Buffer.from) taking back much of what the native code saves.
 *
 * The import needs `nodejs_compat`; a workerd whose node:crypto lacks 'chacha20-poly1305' gets the
 * portable protection.
 */
import * as nodeCrypto from 'node:crypto';
import { PORTABLE_PROTECTION } from '../src/crypto/protection.ts';
import { nativeChachaOpener, nativeChachaSealer, type NativeChacha } from '../src/crypto/chacha-native.ts';
import { putUint32 } from '../src/wire/writer.ts';
import type { PacketProtection } from '../src/crypto/types.ts';

export const CHACHA_WORKERD_MIN = 16 * 1024;

/** Whether this runtime has the AEAD (else chacha20-poly1305 is all JavaScript). */
export const NATIVE_CHACHA = (() => {
  try {
    return nodeCrypto.getCiphers().includes('chacha20-poly1305');
  } catch {
    return false;
  }
})();

const WORKERD_CHACHA: NativeChacha = {
  minBytes: CHACHA_WORKERD_MIN,
  keystream(k2) {
    const key = nodeCrypto.createSecretKey(k2);
    const nonce = new Uint8Array(12); // 4 zero bytes (the counter's high word), then the uint64 sequence number
    return (seq, data) => {
      putUint32(nonce, 8, seq);
      return nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 }).update(data);
    };
  },
};

const chacha = (name: string) => NATIVE_CHACHA && name === 'chacha20-poly1305@openssh.com';

export const workerProtection: PacketProtection = {
  createSealer: (keys, position = 0) => (chacha(keys.cipher.name) ? nativeChachaSealer(keys, WORKERD_CHACHA) : PORTABLE_PROTECTION.createSealer(keys, position)),
  createOpener: (keys, position = 0) => (chacha(keys.cipher.name) ? nativeChachaOpener(keys, WORKERD_CHACHA) : PORTABLE_PROTECTION.createOpener(keys, position)),
};
