/** Reads SSH wire types (RFC 4251 §5) from a Uint8Array. Every read is bounds-checked. */

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The big-endian uint32 at b[at..at+4), unchecked; byte by byte, like Writer (no DataView). */
export function getUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) throw new WireError(`truncated ${what}`);
  }

  byte(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }

  boolean(): boolean {
    return this.byte() !== 0;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = getUint32(this.buf, this.pos);
    this.pos += 4;
    return v;
  }

  uint64(): bigint {
    this.need(8, 'uint64');
    const hi = this.uint32();
    return (BigInt(hi) << 32n) | BigInt(this.uint32());
  }

  raw(n: number): Uint8Array {
    this.need(n, 'field');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A `string` as raw bytes (a view into the buffer, not a copy). */
  bytes(): Uint8Array {
    const n = this.uint32();
    this.need(n, 'string');
    return this.raw(n);
  }

  /** A `string` decoded as UTF-8 (RFC 4251 §5: strings meant for people are UTF-8). */
  string(): string {
    const b = this.bytes();
    try {
      return utf8.decode(b);
    } catch {
      throw new WireError('string is not valid UTF-8');
    }
  }

  /** A `name-list` (RFC 4251 §5): comma-separated US-ASCII names, none empty. */
  nameList(): string[] {
    const b = this.bytes();
    if (b.length === 0) return [];
    for (let i = 0; i < b.length; i++) if (b[i]! < 0x21 || b[i]! > 0x7e) throw new WireError('name-list has a non-printable character');
    // Printable ASCII only, so UTF-8 decoding is exact (and ~14x faster than String.fromCharCode(...b)).
    const names = utf8.decode(b).split(',');
    if (names.some((n) => n.length === 0)) throw new WireError('name-list has an empty name');
    return names;
  }

  /** An `mpint` (RFC 4251 §5) as a non-negative bigint; negative values are refused. */
  mpint(): bigint {
    const b = this.bytes();
    if (b.length === 0) return 0n;
    if (b[0]! & 0x80) throw new WireError('negative mpint');
    if (b.length > 1 && b[0] === 0 && !(b[1]! & 0x80)) throw new WireError('mpint has an unnecessary leading zero');
    return bytesToBigint(b);
  }

  /** Throws unless the whole message was consumed. */
  done(what = 'message'): void {
    if (this.pos !== this.end) throw new WireError(`${what} has ${this.end - this.pos} trailing bytes`);
  }
}

export function bytesToBigint(b: Uint8Array): bigint {
  let hex = '';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return hex ? BigInt('0x' + hex) : 0n;
}
