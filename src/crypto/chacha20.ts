/**
 * ChaCha20 (RFC 8439 §2.4) XORed straight into the output, for chacha20-poly1305@openssh.com: the key is
 * turned into words once per direction, and whole blocks go through 32-bit views when the buffers allow
 * (little-endian hosts, 4-byte aligned), otherwise byte by byte.
 */
const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function keyWords(key: Uint8Array): Uint32Array {
  const v = new DataView(key.buffer, key.byteOffset, 32);
  return Uint32Array.from({ length: 8 }, (_, i) => v.getUint32(i * 4, true));
}

const block = new Uint32Array(16);
const blockBytes = new Uint8Array(block.buffer);

/** One keystream block for (key, counter, nonce words n0 n1 n2) into `block`. */
function core(k: Uint32Array, counter: number, n0: number, n1: number, n2: number): void {
  const j0 = 0x61707865, j1 = 0x3320646e, j2 = 0x79622d32, j3 = 0x6b206574;
  const j4 = k[0]!, j5 = k[1]!, j6 = k[2]!, j7 = k[3]!, j8 = k[4]!, j9 = k[5]!, j10 = k[6]!, j11 = k[7]!;
  const j12 = counter, j13 = n0, j14 = n1, j15 = n2;
  let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
  let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
  for (let i = 0; i < 20; i += 2) {
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  block[0] = x0 + j0; block[1] = x1 + j1; block[2] = x2 + j2; block[3] = x3 + j3;
  block[4] = x4 + j4; block[5] = x5 + j5; block[6] = x6 + j6; block[7] = x7 + j7;
  block[8] = x8 + j8; block[9] = x9 + j9; block[10] = x10 + j10; block[11] = x11 + j11;
  block[12] = x12 + j12; block[13] = x13 + j13; block[14] = x14 + j14; block[15] = x15 + j15;
}

/**
 * output = input XOR ChaCha20(key, nonce, counter…). The nonce is given as its three little-endian words.
 * `output` may be `input` (in place). The block counter must not wrap (packets are far below 256 GiB).
 */
export function chacha20Xor(k: Uint32Array, n0: number, n1: number, n2: number, counter: number, input: Uint8Array, output: Uint8Array): Uint8Array {
  const len = input.length;
  const whole = len & ~63;
  const aligned = LE && input.byteOffset % 4 === 0 && output.byteOffset % 4 === 0;
  const in32 = aligned ? new Uint32Array(input.buffer, input.byteOffset, whole >>> 2) : null;
  const out32 = aligned ? new Uint32Array(output.buffer, output.byteOffset, whole >>> 2) : null;
  // Unaligned (bytes straight from a socket): whole blocks still go a word at a time, through DataViews.
  const inV = aligned ? null : new DataView(input.buffer, input.byteOffset, len);
  const outV = aligned ? null : new DataView(output.buffer, output.byteOffset, len);
  let ctr = counter;
  for (let pos = 0; pos < len; pos += 64, ctr = (ctr + 1) | 0) {
    core(k, ctr, n0, n1, n2);
    if (pos < whole) {
      if (in32 && out32) {
        const w = pos >>> 2;
        for (let i = 0; i < 16; i++) out32[w + i] = in32[w + i]! ^ block[i]!;
      } else {
        for (let i = 0; i < 16; i++) outV!.setUint32(pos + i * 4, inV!.getUint32(pos + i * 4, true) ^ block[i]!, true);
      }
    } else {
      const end = len - pos;
      for (let i = 0; i < end; i++) output[pos + i] = input[pos + i]! ^ blockBytes[i]!;
    }
  }
  return output;
}
