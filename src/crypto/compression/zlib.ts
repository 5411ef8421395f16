/**
 * zlib@openssh.com (OpenSSH PROTOCOL §1.2, RFC 4253 §6.2): one zlib stream per direction that never ends;
 * each packet's data is flushed. Pure TypeScript (RFC 1950/1951), no Node zlib.
 *
 * The inflater is resumable at any bit: a partial flush (what OpenSSH sends) ends a packet inside an
 * empty static block, so decoding stops where the input runs out and continues with the next packet.
 * Output per packet is bounded while inflating, never after.
 */
import type { Compressor, Decompressor } from '../types.ts';
import { DISCONNECT, SshError } from '../../wire/messages.ts';

const corrupt = (why: string) => new SshError(DISCONNECT.COMPRESSION_ERROR, `compressed data is corrupt: ${why}`);

// ── deflate: stored blocks, byte-aligned, so every packet ends on a flush point ───────────────────

export function createCompressor(): Compressor {
  let started = false;
  return {
    compress(payload) {
      const blocks = Math.max(1, Math.ceil(payload.length / 65535));
      const out = new Uint8Array((started ? 0 : 2) + blocks * 5 + payload.length);
      let o = 0;
      if (!started) {
        out[o++] = 0x78; // CM=8, CINFO=7 (32 KiB window)
        out[o++] = 0x01; // no dictionary, check bits: 0x7801 % 31 == 0
        started = true;
      }
      for (let i = 0; i < blocks; i++) {
        const chunk = payload.subarray(i * 65535, (i + 1) * 65535);
        out[o++] = 0x00; // BFINAL=0, BTYPE=00 (stored), padded to the byte
        out[o++] = chunk.length & 0xff;
        out[o++] = chunk.length >>> 8;
        out[o++] = ~chunk.length & 0xff;
        out[o++] = (~chunk.length >>> 8) & 0xff;
        out.set(chunk, o);
        o += chunk.length;
      }
      return out;
    },
  };
}

// ── inflate ───────────────────────────────────────────────────────────────────────────────────────

interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

function buildHuffman(lengths: Uint8Array, n: number): Huffman {
  const count = new Uint16Array(16);
  const symbol = new Uint16Array(n);
  for (let i = 0; i < n; i++) count[lengths[i]!]!++;
  count[0] = 0;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = (left << 1) - count[len]!;
    if (left < 0) throw corrupt('over-subscribed code');
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + count[len]!;
  for (let i = 0; i < n; i++) if (lengths[i]) symbol[offs[lengths[i]!]!++] = i;
  return { count, symbol };
}

const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

let fixed: { lit: Huffman; dist: Huffman } | null = null;
function fixedTables() {
  if (fixed) return fixed;
  const l = new Uint8Array(288);
  l.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  fixed = { lit: buildHuffman(l, 288), dist: buildHuffman(new Uint8Array(30).fill(5), 30) };
  return fixed;
}

class NeedMore extends Error {}
const NEED_MORE = new NeedMore();

const WINDOW = 32768;

export function createDecompressor(): Decompressor {
  let headerDone = false;
  let leftover = new Uint8Array(0);
  let bitbuf = 0;
  let bitcnt = 0;
  // Block state between packets.
  let block: null | { type: 'stored'; remaining: number } | { type: 'huffman'; lit: Huffman; dist: Huffman } = null;
  let ended = false;
  const win = new Uint8Array(WINDOW * 2);
  let winLen = 0; // bytes of history in win (≤ 2*WINDOW, compacted to WINDOW)

  return {
    decompress(data, maxOutput) {
      const input = leftover.length ? concat(leftover, data) : data;
      let pos = 0;
      const out: Uint8Array[] = [];
      let cur = new Uint8Array(Math.min(maxOutput, Math.max(1024, data.length * 4)));
      let curLen = 0;
      let total = 0;

      const bits = (n: number): number => {
        while (bitcnt < n) {
          if (pos >= input.length) throw NEED_MORE;
          bitbuf |= input[pos++]! << bitcnt;
          bitcnt += 8;
        }
        const v = bitbuf & ((1 << n) - 1);
        bitbuf >>>= n;
        bitcnt -= n;
        return v;
      };
      const decode = (h: Huffman): number => {
        let code = 0;
        let first = 0;
        let index = 0;
        for (let len = 1; len < 16; len++) {
          code |= bits(1);
          const count = h.count[len]!;
          if (code - count < first) return h.symbol[index + (code - first)]!;
          index += count;
          first += count;
          first <<= 1;
          code <<= 1;
        }
        throw corrupt('invalid Huffman code');
      };
      const emit = (b: number) => {
        if (++total > maxOutput) throw new SshError(DISCONNECT.COMPRESSION_ERROR, `decompressed packet exceeds ${maxOutput} bytes`);
        if (curLen === cur.length) {
          out.push(cur);
          cur = new Uint8Array(Math.min(cur.length * 2, maxOutput));
          curLen = 0;
        }
        cur[curLen++] = b;
        if (winLen === win.length) {
          win.copyWithin(0, WINDOW);
          winLen = WINDOW;
        }
        win[winLen++] = b;
      };

      // A checkpoint to rewind to when input runs out mid-symbol.
      let cp = { pos: 0, bitbuf: 0, bitcnt: 0 };
      const save = () => (cp = { pos, bitbuf, bitcnt });

      try {
        if (!headerDone) {
          if (input.length < 2) throw NEED_MORE;
          const cmf = input[0]!;
          const flg = input[1]!;
          if ((cmf & 0x0f) !== 8 || ((cmf << 8) | flg) % 31 !== 0 || flg & 0x20) throw corrupt('bad zlib header');
          pos = 2;
          headerDone = true;
        }
        for (;;) {
          save();
          if (!block) {
            if (ended) {
              if (pos < input.length) throw corrupt('data after the end of the stream');
              break;
            }
            if (pos >= input.length && bitcnt < 3) break; // a clean boundary: all input used
            const final = bits(1);
            const type = bits(2);
            if (type === 0) {
              bitbuf = 0;
              bitcnt = 0; // stored: skip to the byte boundary
              if (pos + 4 > input.length) throw NEED_MORE;
              const len = input[pos]! | (input[pos + 1]! << 8);
              const nlen = input[pos + 2]! | (input[pos + 3]! << 8);
              if ((len ^ 0xffff) !== nlen) throw corrupt('stored block length check');
              pos += 4;
              block = { type: 'stored', remaining: len };
            } else if (type === 1) {
              const f = fixedTables();
              block = { type: 'huffman', lit: f.lit, dist: f.dist };
            } else if (type === 2) {
              const nlen = bits(5) + 257;
              const ndist = bits(5) + 1;
              const ncode = bits(4) + 4;
              if (nlen > 286 || ndist > 30) throw corrupt('bad code counts');
              const lengths = new Uint8Array(320);
              for (let i = 0; i < ncode; i++) lengths[ORDER[i]!] = bits(3);
              const lencode = buildHuffman(lengths, 19);
              const ll = new Uint8Array(nlen + ndist);
              for (let i = 0; i < nlen + ndist; ) {
                const sym = decode(lencode);
                if (sym < 16) ll[i++] = sym;
                else {
                  let len = 0;
                  let rep: number;
                  if (sym === 16) {
                    if (i === 0) throw corrupt('repeat with no previous length');
                    len = ll[i - 1]!;
                    rep = 3 + bits(2);
                  } else if (sym === 17) rep = 3 + bits(3);
                  else rep = 11 + bits(7);
                  if (i + rep > nlen + ndist) throw corrupt('too many lengths');
                  while (rep--) ll[i++] = len;
                }
              }
              if (ll[256] === 0) throw corrupt('no end-of-block code');
              block = { type: 'huffman', lit: buildHuffman(ll.subarray(0, nlen), nlen), dist: buildHuffman(ll.subarray(nlen), ndist) };
            } else throw corrupt('invalid block type');
            if (final) ended = true;
            continue;
          }
          if (block.type === 'stored') {
            while (block.remaining > 0) {
              if (pos >= input.length) throw NEED_MORE;
              emit(input[pos++]!);
              block.remaining--;
              save();
            }
            block = null;
            continue;
          }
          const sym = decode(block.lit);
          if (sym < 256) emit(sym);
          else if (sym === 256) block = null;
          else {
            const li = sym - 257;
            if (li >= 29) throw corrupt('invalid length symbol');
            const len = LBASE[li]! + bits(LEXT[li]!);
            const ds = decode(block.dist);
            if (ds >= 30) throw corrupt('invalid distance symbol');
            const dist = DBASE[ds]! + bits(DEXT[ds]!);
            if (dist > winLen) throw corrupt('distance too far back');
            for (let i = 0; i < len; i++) emit(win[winLen - dist]!);
          }
        }
      } catch (e) {
        if (e !== NEED_MORE) throw e;
        // Rewind to the last whole symbol; its bytes wait for the next packet.
        pos = cp.pos;
        bitbuf = cp.bitbuf;
        bitcnt = cp.bitcnt;
      }
      leftover = input.slice(pos);
      if (leftover.length > 65536 + 8) throw corrupt('incomplete data grows without end');
      out.push(cur.subarray(0, curLen));
      return out.length === 1 ? out[0]!.slice() : concat(...out);
    },
  };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const o = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    o.set(p, i);
    i += p.length;
  }
  return o;
}
