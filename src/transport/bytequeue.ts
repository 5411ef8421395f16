import { Slabs } from './packets.ts';

/**
 * Where take and peek join bytes that span chunks (packets up to 64 KiB): views of shared slabs. With a
 * fresh buffer per joined packet, peek was 15% of the Durable Object's CPU profile during a chacha20-poly1305
 * upload through the proxy (whose WebSocket messages split most 32 KiB packets); with slabs, take is 6%.
 */
const spans = new Slabs(256 * 1024, 64 * 1024);

/**
 * Where takeTransient joins bytes that span chunks: one buffer for the whole realm, since its bytes are used
 * synchronously (opened into fresh memory) before anything else can ask for it.
 */
let joined = new Uint8Array(0);

/** A FIFO of byte chunks: input arrives in arbitrary pieces (WebSocket frames, TCP reads). */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  length = 0;

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Puts bytes taken earlier back in front, in the order given. */
  unshift(parts: Uint8Array[]): void {
    if (this.head && this.chunks.length) {
      this.chunks[0] = this.chunks[0]!.subarray(this.head);
      this.head = 0;
    }
    const keep = parts.filter((p) => p.length);
    this.chunks.unshift(...keep);
    for (const p of keep) this.length += p.length;
  }

  /** The first n bytes, contiguous (copied only when they span chunks). Caller checks length first. */
  peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    return this.copyInto(spans.take(n), n);
  }

  private copyInto(into: Uint8Array, n: number): Uint8Array {
    const out = into.subarray(0, n);
    let o = 0;
    let i = 0;
    let off = this.head;
    while (o < n) {
      const c = this.chunks[i++]!;
      const take = Math.min(c.length - off, n - o);
      out.set(c.subarray(off, off + take), o);
      o += take;
      off = 0;
    }
    return out;
  }

  /** Removes and returns the first n bytes. */
  take(n: number): Uint8Array {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  /**
   * Removes the first n bytes and returns them as a view that is valid only until the next takeTransient
   * call (in any queue): bytes that span chunks are joined in one shared buffer instead of a fresh one.
   * For a consumer done with them before it returns (an opener that decrypts into new memory).
   */
  takeTransient(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return this.take(n);
    if (joined.length < n) joined = new Uint8Array((n + 0xffff) & ~0xffff);
    const out = this.copyInto(joined, n);
    this.skip(n);
    return out;
  }

  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      if (avail > n) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Everything buffered, as one array (used for the version line scan). */
  all(): Uint8Array {
    return this.length ? this.peek(this.length) : new Uint8Array(0);
  }
}
