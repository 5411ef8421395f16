/**
 * chacha20-poly1305@openssh.com with a runtime's native ChaCha20 for the bulk of each packet: OpenSSL's in
 * Node (src/io/node-crypto.ts), BoringSSL's through workerd's node:crypto in the Worker
 * (worker/native-crypto.ts). What stays here, in JavaScript: our Poly1305 (neither runtime offers a bare
 * one), the packet's Poly1305 key and its 4-byte length (one block each, which a native call per packet
 * would cost more than), and whole packets below `minBytes`, where a cipher object per packet costs more
 * than it saves.
 *
 * No runtime is imported here: the caller hands in the keystream. RFC 8439's 32-bit block counter and
 * 96-bit nonce cover OpenSSH's 64-bit counter and 64-bit nonce (the counter's high word 0, then the
 * sequence number as uint64 big-endian), so either runtime's IETF ChaCha20 gives OpenSSH's bytes.
 */
import { CHACHA_FRAMING, CHACHA_OPENER_FRAMING, PORTABLE_PROTECTION, chachaParts, equalConstantTime, seqWord } from './protection.ts';
import { chacha20Xor } from './chacha20.ts';
import { poly1305Tag } from './poly1305.ts';
import { concatBytes } from '../wire/writer.ts';
import { Slabs } from '../transport/packets.ts';
import type { DirectionKeys, PacketOpener, PacketSealer } from './types.ts';

/**
 * A native ChaCha20 for one 32-byte key: `data` XOR the keystream of (key, nonce = 4 zero bytes || uint64
 * big-endian `seq`) from block 1 on, in fresh memory (a runtime's Buffer is fine: it is viewed, not kept
 * as one).
 */
export type PacketKeystream = (seq: number, data: Uint8Array) => Uint8Array;

export interface NativeChacha {
  /** Makes the keystream function for a direction's packet key (K_2, the key's first 32 bytes). */
  keystream(key: Uint8Array): PacketKeystream;
  /** Packets with fewer bytes than this after the length are sealed and opened wholly in JavaScript. */
  minBytes: number;
}

/** A Buffer's bytes as a plain Uint8Array view (the core never sees a Buffer). */
const view = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** Small packets, copied out of the transport's scratch frame to be sealed or opened in place (up to 16 KiB). */
const smallFrames = new Slabs(256 * 1024, 16 * 1024 + 64);

export function nativeChachaSealer(keys: DirectionKeys, native: NativeChacha): PacketSealer {
  const small = PORTABLE_PROTECTION.createSealer(keys);
  const { header, polyKey } = chachaParts(keys.encKey);
  const xor = native.keystream(keys.encKey.subarray(0, 32));
  const sealDetached = (seq: number, packet: Uint8Array): Uint8Array[] => {
    const len = packet.length;
    if (len - 4 < native.minBytes) {
      // JavaScript seals in place: the frame is copied out of the transport's reused one into a slab (a
      // fresh buffer per small packet cost a third of its seal+open).
      const out = smallFrames.take(len + 16);
      out.set(packet);
      return [small.sealInPlace!(seq, out.subarray(0, len))];
    }
    const n2 = seqWord(seq);
    const ct = view(xor(seq, packet.subarray(4)));
    // K_1 (the key's last 32 bytes) encrypts packet_length at block 0: one block, in JavaScript.
    const head = chacha20Xor(header, 0, 0, n2, 0, packet.subarray(0, 4), new Uint8Array(4));
    // The tag covers encrypted length || ciphertext, taken where each lies (no copy to join them).
    return [head, ct, poly1305Tag(polyKey(n2), ct, head)];
  };
  return {
    save: () => ({ keys, position: 0 }),
    ...CHACHA_FRAMING,
    sealDetached,
    seal: (seq, packet) => concatBytes(...sealDetached(seq, packet)),
  };
}

export function nativeChachaOpener(keys: DirectionKeys, native: NativeChacha): PacketOpener {
  const small = PORTABLE_PROTECTION.createOpener(keys);
  const { polyKey } = chachaParts(keys.encKey);
  const xor = native.keystream(keys.encKey.subarray(0, 32));
  return {
    save: () => ({ keys, position: 0 }),
    ...CHACHA_OPENER_FRAMING,
    copiesOut: true,
    readLength: (seq, head) => small.readLength(seq, head), // the 4-byte length: JavaScript
    open(seq, wire) {
      const body = wire.length - 16;
      if (body - 4 < native.minBytes) {
        // JavaScript decrypts in place: a small packet is copied out of the transport's bytes first.
        const own = smallFrames.take(wire.length);
        own.set(wire);
        return small.open(seq, own);
      }
      if (!equalConstantTime(poly1305Tag(polyKey(seqWord(seq)), wire.subarray(0, body)), wire.subarray(body))) return null;
      return view(xor(seq, wire.subarray(4, body)));
    },
  };
}
