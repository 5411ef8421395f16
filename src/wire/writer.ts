/**
 * Writes SSH wire types (RFC 4251 §5) into a growing Uint8Array. Integers are written byte by byte: a
 * DataView over a small array moves its memory off the V8 heap, which cost more than the message.
 */

const utf8 = new TextEncoder();

export class Writer {
  private buf: Uint8Array;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  boolean(v: boolean): this {
    return this.byte(v ? 1 : 0);
  }

  uint32(v: number): this {
    this.ensure(4);
    putUint32(this.buf, this.pos, v);
    this.pos += 4;
    return this;
  }

  uint64(v: bigint): this {
    const n = BigInt.asUintN(64, v);
    return this.uint32(Number(n >> 32n)).uint32(Number(n & 0xffffffffn));
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  bytes(b: Uint8Array): this {
    return this.uint32(b.length).raw(b);
  }

  string(s: string): this {
    return this.bytes(utf8.encode(s));
  }

  nameList(names: readonly string[]): this {
    return this.string(names.join(','));
  }

  mpint(v: bigint): this {
    return this.bytes(mpintBytes(v));
  }

  /** The bytes written so far (a copy, safe to keep). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** The bytes written so far without a copy, for a writer that is dropped afterwards. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Two's-complement big-endian body of an mpint (RFC 4251 §5) for v ≥ 0. */
export function mpintBytes(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative mpint');
  if (v === 0n) return new Uint8Array(0);
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = '00' + hex;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** An mpint body from unsigned big-endian bytes (strip leading zeros, add one if the top bit is set). */
export function mpintFromUnsigned(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  const body = b.subarray(i);
  if (body.length && body[0]! & 0x80) {
    const out = new Uint8Array(body.length + 1);
    out.set(body, 1);
    return out;
  }
  return body.slice();
}

/** Writes v as a big-endian uint32 at b[at..at+4), byte by byte (no DataView: see the header). */
export function putUint32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function utf8Bytes(s: string): Uint8Array {
  return utf8.encode(s);
}
