/**
 * ChaCha20 (RFC 8439 §2.4) XORed straight into the output, for chacha20-poly1305@openssh.com: the key is
 * turned into words once per direction, and each whole block's state words are XORed into the output
 * through little-endian DataViews as they leave the rounds (no keystream buffer, any byte offset, any host
 * byte order; measured faster than 32-bit typed-array views).
 */
export function keyWords(key: Uint8Array): Uint32Array {
  const v = new DataView(key.buffer, key.byteOffset, 32);
  return Uint32Array.from({ length: 8 }, (_, i) => v.getUint32(i * 4, true));
}

/** For a packet's last, partial block: the keystream is XORed over zeros here, then the bytes needed taken. */
const zeros = new DataView(new ArrayBuffer(64));
const tail = new Uint8Array(64);
const tailV = new DataView(tail.buffer);

/** XORs one whole keystream block (key, counter, nonce) into output[pos..pos+64) from input, through DataViews. */
function xorBlock(k: Uint32Array, counter: number, n0: number, n1: number, n2: number, inV: DataView, outV: DataView, pos: number): void {
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
  outV.setUint32(pos, inV.getUint32(pos, true) ^ (x0 + j0), true);
  outV.setUint32(pos + 4, inV.getUint32(pos + 4, true) ^ (x1 + j1), true);
  outV.setUint32(pos + 8, inV.getUint32(pos + 8, true) ^ (x2 + j2), true);
  outV.setUint32(pos + 12, inV.getUint32(pos + 12, true) ^ (x3 + j3), true);
  outV.setUint32(pos + 16, inV.getUint32(pos + 16, true) ^ (x4 + j4), true);
  outV.setUint32(pos + 20, inV.getUint32(pos + 20, true) ^ (x5 + j5), true);
  outV.setUint32(pos + 24, inV.getUint32(pos + 24, true) ^ (x6 + j6), true);
  outV.setUint32(pos + 28, inV.getUint32(pos + 28, true) ^ (x7 + j7), true);
  outV.setUint32(pos + 32, inV.getUint32(pos + 32, true) ^ (x8 + j8), true);
  outV.setUint32(pos + 36, inV.getUint32(pos + 36, true) ^ (x9 + j9), true);
  outV.setUint32(pos + 40, inV.getUint32(pos + 40, true) ^ (x10 + j10), true);
  outV.setUint32(pos + 44, inV.getUint32(pos + 44, true) ^ (x11 + j11), true);
  outV.setUint32(pos + 48, inV.getUint32(pos + 48, true) ^ (x12 + j12), true);
  outV.setUint32(pos + 52, inV.getUint32(pos + 52, true) ^ (x13 + j13), true);
  outV.setUint32(pos + 56, inV.getUint32(pos + 56, true) ^ (x14 + j14), true);
  outV.setUint32(pos + 60, inV.getUint32(pos + 60, true) ^ (x15 + j15), true);
}

/**
 * output = input XOR ChaCha20(key, nonce, counter…). The nonce is given as its three little-endian words.
 * `output` may be `input` (in place); either may sit at any byte offset. The block counter must not wrap
 * (packets are far below 256 GiB).
 */
export function chacha20Xor(k: Uint32Array, n0: number, n1: number, n2: number, counter: number, input: Uint8Array, output: Uint8Array): Uint8Array {
  const len = input.length;
  const whole = len & ~63;
  const inV = new DataView(input.buffer, input.byteOffset, len);
  const outV = new DataView(output.buffer, output.byteOffset, len);
  let ctr = counter;
  let pos = 0;
  for (; pos < whole; pos += 64, ctr = (ctr + 1) | 0) xorBlock(k, ctr, n0, n1, n2, inV, outV, pos);
  if (pos < len) {
    xorBlock(k, ctr, n0, n1, n2, zeros, tailV, 0);
    for (let i = 0; pos + i < len; i++) output[pos + i] = input[pos + i]! ^ tail[i]!;
  }
  return output;
}

