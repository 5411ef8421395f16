// Sealing and opening one packet as the transport does, for tests that compare packet protections (in Node
// and inside workerd: nothing here is Node's).
import { frameBufferFor, framePacket, sealFrame } from '../../src/transport/packets.ts';
import { concatBytes } from '../../src/wire/writer.ts';
import type { PacketOpener, PacketSealer } from '../../src/crypto/types.ts';

/** `payload` framed where this sealer wants it, sealed its own way, the wire pieces joined (a copy). */
export async function seal(s: PacketSealer, seq: number, payload: Uint8Array): Promise<Uint8Array> {
  const sealed = await sealFrame(s, seq, framePacket(payload, s, frameBufferFor(s)));
  return Array.isArray(sealed) ? concatBytes(...sealed) : sealed.slice();
}

/** The packet's length read, then the packet opened, from a copy of `wire`; the plaintext copied, or null. */
export async function open(o: PacketOpener, seq: number, wire: Uint8Array): Promise<Uint8Array | null> {
  const copy = wire.slice();
  await o.readLength(seq, copy.subarray(0, o.headLength));
  const plain = await o.open(seq, copy);
  return plain && plain.slice();
}

/** The payload inside padding_length || payload || padding. */
export const payloadOf = (plain: Uint8Array) => plain.subarray(1, plain.length - plain[0]!);
