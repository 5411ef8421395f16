/** The binary packet protocol (RFC 4253 §6): padding and framing around a PacketSealer/Opener. */
import type { PacketOpener, PacketSealer } from '../crypto/types.ts';
import { DISCONNECT, SshError } from '../wire/messages.ts';
import { putUint32 } from '../wire/writer.ts';

const MIN_PADDING = 4;

/** Random bytes for padding, drawn from a refilled pool (getRandomValues per packet is costly). */
class RandomPool {
  private pool = new Uint8Array(4096);
  private pos = this.pool.length;
  take(n: number): Uint8Array {
    if (this.pos + n > this.pool.length) {
      crypto.getRandomValues(this.pool);
      this.pos = 0;
    }
    const out = this.pool.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
const pool = new RandomPool();

/**
 * Short-lived output buffers carved from shared slabs. A fresh ArrayBuffer per packet costs more CPU than
 * sealing a 1 KiB packet (V8 tracks and sweeps each backing store), while a view on a slab costs next to
 * nothing. Only for bytes that leave soon (frames on their way to the socket): a view that lives on keeps
 * its whole slab alive. Views are 8-byte aligned, so the ciphers' 32-bit paths apply.
 */
export class Slabs {
  private slab = new Uint8Array(0);
  private pos = 0;
  constructor(
    private readonly size: number,
    private readonly largest: number,
  ) {}
  take(n: number): Uint8Array {
    if (n > this.largest) return new Uint8Array(n);
    if (this.pos + n > this.slab.length) {
      this.slab = new Uint8Array(this.size);
      this.pos = 0;
    }
    const out = this.slab.subarray(this.pos, this.pos + n);
    this.pos += (n + 7) & ~7;
    return out;
  }
}
const frames = new Slabs(256 * 1024, 64 * 1024);

/** A frame reused from packet to packet, for sealers that seal it into fresh memory (sealDetached). */
let scratch = new Uint8Array(64 * 1024);

/**
 * Where a packet for `sealer` is framed: in a shared slab (room for the tag after it) when the sealer
 * seals in place or in parts that may view the frame; in one reused scratch buffer when it copies
 * everything out before returning (sealDetached); else in a fresh buffer.
 */
export type FrameBuffer = 'fresh' | 'slab' | 'scratch';
export const frameBufferFor = (sealer: PacketSealer): FrameBuffer =>
  sealer.sealDetached ? 'scratch' : sealer.sealInPlace || sealer.sealParts ? 'slab' : 'fresh';

/**
 * Builds the plaintext packet `uint32 length || byte padlen || payload || data || random padding` (`data`
 * is the rest of the payload, when the message comes in two parts). A 'slab' frame is followed in its
 * buffer by `sealer.tagLength` spare bytes for `sealInPlace` and must leave (be sealed and sent) rather
 * than be kept; a 'scratch' frame is overwritten by the next one, so it must be sealed at once.
 */
export function framePacket(head: Uint8Array, sealer: PacketSealer, where: FrameBuffer = 'fresh', data?: Uint8Array): Uint8Array {
  const size = head.length + (data?.length ?? 0);
  const bs = Math.max(sealer.blockSize, 8);
  const aligned = sealer.lengthInAlignment ? 5 + size : 1 + size;
  let padding = bs - (aligned % bs);
  if (padding < MIN_PADDING) padding += bs;
  const packetLength = 1 + size + padding;
  let out: Uint8Array;
  if (where === 'slab') out = frames.take(4 + packetLength + sealer.tagLength).subarray(0, 4 + packetLength);
  else if (where === 'scratch') {
    if (scratch.length < 4 + packetLength) scratch = new Uint8Array(4 + packetLength);
    out = scratch.subarray(0, 4 + packetLength);
  } else out = new Uint8Array(4 + packetLength);
  putUint32(out, 0, packetLength);
  out[4] = padding;
  out.set(head, 5);
  if (data) out.set(data, 5 + head.length);
  out.set(pool.take(padding), 5 + size);
  return out;
}

/** Seals a frame from framePacket(…, frameBufferFor(sealer)) the way that sealer does best. */
export function sealFrame(sealer: PacketSealer, seq: number, frame: Uint8Array): Uint8Array | Uint8Array[] | Promise<Uint8Array | Uint8Array[]> {
  if (sealer.sealDetached) return sealer.sealDetached(seq, frame);
  if (sealer.sealInPlace) return sealer.sealInPlace(seq, frame);
  if (sealer.sealParts) return sealer.sealParts(seq, frame);
  return sealer.seal(seq, frame);
}

/**
 * Checks the decrypted packet_length before the rest is buffered: bounded, block-aligned, big enough
 * for a padding byte, 4 bytes of padding and a message number.
 */
export function checkPacketLength(len: number, opener: PacketOpener, maxPacket: number): void {
  if (len > maxPacket)
    throw new SshError(DISCONNECT.PROTOCOL_ERROR, `packet of ${len} bytes exceeds the limit of ${maxPacket} bytes`);
  if (len < 1 + MIN_PADDING + 1) throw new SshError(DISCONNECT.PROTOCOL_ERROR, `packet length ${len} is too small`);
  const bs = Math.max(opener.blockSize, 8);
  const aligned = opener.lengthInAlignment ? len + 4 : len;
  if (aligned % bs !== 0)
    throw new SshError(DISCONNECT.PROTOCOL_ERROR, `packet length ${len} is not a multiple of the block size ${bs}`);
}

/** The payload of an opened packet (padding_length || payload || padding, as openers return it), with the padding checked. */
export function unframePacket(body: Uint8Array): Uint8Array {
  const len = body.length;
  const padding = body[0]!;
  if (padding < MIN_PADDING || padding > len - 2)
    throw new SshError(DISCONNECT.PROTOCOL_ERROR, `invalid padding length ${padding}`);
  return body.subarray(1, len - padding);
}

export { pool as randomPool };
