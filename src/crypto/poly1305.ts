/**
 * Poly1305 (RFC 8439 §2.5) with six 22-bit limbs held in doubles, so every product and sum is an exact
 * integer below 2^53.
 *
 * Limb i weighs 2^(22·i) (limb 5 holds bits 110–129). A product landing at 2^(22·k) for k ≥ 6 wraps to
 * 2^(22·(k−6)) · 2^132 ≡ 2^(22·(k−6)) · 20 (mod 2^130 − 5), hence the precomputed 20·r_j.
 *
 * Four blocks are absorbed per round, h ← (h + m1)·r⁴ + m2·r³ + m3·r² + m4·r, with one reduction for all
 * four (a packet's last 32–63 bytes go two at a time with r² and r, its last 1–31 alone or as a pair). A
 * reduction is two rounds of carries computed side by side (not a chain of six), and a carry is taken by
 * rounding: (d + 1.5·2^(52+w)) − 1.5·2^(52+w) is d rounded to a multiple of 2^w (where the ulp is 2^w),
 * leaving a balanced limb in [−2^(w−1), 2^(w−1)] — no Math.floor. Measured here at 32 KiB: one block per
 * round with floor carries in a chain 400 MB/s, two per round 1,000–1,100, four per round 1,210–1,280.
 *
 * Bounds: after a reduction |h_i| ≤ 2^21 + 2^12.3 (the top limb within 2^19 + 2^12.3), so |h_i + m_i| <
 * 2^22.6; r's limbs are below 2^22 (its top one below 2^14), the powers' are reduced the same way, and 20
 * times any limb but a top one is below 2^26.33. The 24 products summed into a limb are largest for limb
 * 0, where 20 of them wrap: below 2^49.8 for (h + m1)·r⁴, 2^49.1 each for m2·r³ and m3·r², 2^50 for m4·r,
 * so every sum stays below 2^51.6 and exact. The first carry round leaves limbs below 2^31.6, the second
 * back within the bound above. A power is the product of two such numbers: six products, far below 2^53.
 */
const P22 = 4194304;
const INV22 = 1 / P22;
const P20 = 1048576;
const INV20 = 1 / P20;
const M22 = 0x3fffff;
const ROUND22 = 1.5 * 2 ** 74;
const ROUND20 = 1.5 * 2 ** 72;
const WRAP = 5 / P20; // a carry out of limb 5 (2^130) re-enters limb 0 times 5
const HIBIT = 262144; // 2^128 at limb 5 (2^(128−110))
// LOCAL_CONSTANTS: absorb and absorb4 declare the constants above again as their own locals. Bundlers turn a
// module's top-level const into var; read from the module in edgessh serve's bundle (one large chunk), V8's
// code for absorb4 ran slower (measured here: that chunk imported by itself 1,010–1,030 MB/s, 1,340–1,370
// with the locals; in the server, profiled side by side, 1.08 against 0.74 ms per MiB downloaded).

/** From this many bytes on, four blocks per round: r³ and r⁴ cost two multiplications per message, which
 * shorter ones do not win back (measured: 256 bytes 406 → 330 MB/s, 768 about even, 4 KiB 950 → 1,120). */
const FOUR_MIN = 1024;
/** h at [0, 6), then r, r², r³ and r⁴, each as its six limbs and 20 times limbs 1–5. */
const st = new Float64Array(50);
const R1 = 6;
const R2 = 17;
const R3 = 28;
const R4 = 39;
/** The last 1–31 bytes, padded; its second half is zero for a lone block. */
const scratch = new Uint8Array(32);
const scratchV = new DataView(scratch.buffer);
/** h − p, for the final reduction. */
const reduced = new Float64Array(6);
/** 32 zero bytes: absorbing them with h = a and U = b leaves h = a·b. */
const zeros = new DataView(new ArrayBuffer(32));

/** The power at `out` ← the powers at a and b (any of R1–R4), by the same round; h is zero again after. */
function power(a: number, b: number, out: number): void {
  for (let i = 0; i < 6; i++) st[i] = st[a + i]!;
  absorb(zeros, 0, 32, 0, 0, b);
  setPower(out, st[0]!, st[1]!, st[2]!, st[3]!, st[4]!, st[5]!);
  st.fill(0, 0, 6);
}

function setPower(at: number, l0: number, l1: number, l2: number, l3: number, l4: number, l5: number): void {
  st[at] = l0;
  st[at + 1] = l1;
  st[at + 2] = l2;
  st[at + 3] = l3;
  st[at + 4] = l4;
  st[at + 5] = l5;
  for (let j = 1; j < 6; j++) st[at + 5 + j] = st[at + j]! * 20;
}

/**
 * For each 32 bytes of v in [from, to): h ← (h + m1)·U + m2·r, m1 and m2 the two 16-byte blocks with
 * hiA / hiB as their 2^128 bit (at limb 5: 2^18, or 0). With U = r² (at R2), that is two Poly1305 blocks;
 * with U = r (at R1) and a zero second block, one.
 */
function absorb(v: DataView, from: number, to: number, hiA: number, hiB: number, u: number): void {
  // The loop's constants as locals (see LOCAL_CONSTANTS).
  const M22 = 0x3fffff, ROUND22 = 1.5 * 2 ** 74, ROUND20 = 1.5 * 2 ** 72, INV22 = 1 / 4194304, WRAP = 5 / 1048576, HIBIT = 262144;
  const r0 = st[R1]!, r1 = st[R1 + 1]!, r2 = st[R1 + 2]!, r3 = st[R1 + 3]!, r4 = st[R1 + 4]!, r5 = st[R1 + 5]!;
  const s1 = st[R1 + 6]!, s2 = st[R1 + 7]!, s3 = st[R1 + 8]!, s4 = st[R1 + 9]!, s5 = st[R1 + 10]!;
  const u0 = st[u]!, u1 = st[u + 1]!, u2 = st[u + 2]!, u3 = st[u + 3]!, u4 = st[u + 4]!, u5 = st[u + 5]!;
  const w1 = st[u + 6]!, w2 = st[u + 7]!, w3 = st[u + 8]!, w4 = st[u + 9]!, w5 = st[u + 10]!;
  let h0 = st[0]!, h1 = st[1]!, h2 = st[2]!, h3 = st[3]!, h4 = st[4]!, h5 = st[5]!;
  for (let at = from; at < to; at += 32) {
    let t0 = v.getUint32(at, true);
    let t1 = v.getUint32(at + 4, true);
    let t2 = v.getUint32(at + 8, true);
    let t3 = v.getUint32(at + 12, true);
    h0 += t0 & M22;
    h1 += ((t0 >>> 22) | (t1 << 10)) & M22;
    h2 += ((t1 >>> 12) | (t2 << 20)) & M22;
    h3 += (t2 >>> 2) & M22;
    h4 += ((t2 >>> 24) | (t3 << 8)) & M22;
    h5 += (t3 >>> 14) + hiA;
    t0 = v.getUint32(at + 16, true);
    t1 = v.getUint32(at + 20, true);
    t2 = v.getUint32(at + 24, true);
    t3 = v.getUint32(at + 28, true);
    const m0 = t0 & M22;
    const m1 = ((t0 >>> 22) | (t1 << 10)) & M22;
    const m2 = ((t1 >>> 12) | (t2 << 20)) & M22;
    const m3 = (t2 >>> 2) & M22;
    const m4 = ((t2 >>> 24) | (t3 << 8)) & M22;
    const m5 = (t3 >>> 14) + hiB;

    const d0 = h0 * u0 + h1 * w5 + h2 * w4 + h3 * w3 + h4 * w2 + h5 * w1 + m0 * r0 + m1 * s5 + m2 * s4 + m3 * s3 + m4 * s2 + m5 * s1;
    const d1 = h0 * u1 + h1 * u0 + h2 * w5 + h3 * w4 + h4 * w3 + h5 * w2 + m0 * r1 + m1 * r0 + m2 * s5 + m3 * s4 + m4 * s3 + m5 * s2;
    const d2 = h0 * u2 + h1 * u1 + h2 * u0 + h3 * w5 + h4 * w4 + h5 * w3 + m0 * r2 + m1 * r1 + m2 * r0 + m3 * s5 + m4 * s4 + m5 * s3;
    const d3 = h0 * u3 + h1 * u2 + h2 * u1 + h3 * u0 + h4 * w5 + h5 * w4 + m0 * r3 + m1 * r2 + m2 * r1 + m3 * r0 + m4 * s5 + m5 * s4;
    const d4 = h0 * u4 + h1 * u3 + h2 * u2 + h3 * u1 + h4 * u0 + h5 * w5 + m0 * r4 + m1 * r3 + m2 * r2 + m3 * r1 + m4 * r0 + m5 * s5;
    const d5 = h0 * u5 + h1 * u4 + h2 * u3 + h3 * u2 + h4 * u1 + h5 * u0 + m0 * r5 + m1 * r4 + m2 * r3 + m3 * r2 + m4 * r1 + m5 * r0;

    let q0 = d0 + ROUND22 - ROUND22;
    let q1 = d1 + ROUND22 - ROUND22;
    let q2 = d2 + ROUND22 - ROUND22;
    let q3 = d3 + ROUND22 - ROUND22;
    let q4 = d4 + ROUND22 - ROUND22;
    let q5 = d5 + ROUND20 - ROUND20;
    const e0 = d0 - q0 + q5 * WRAP;
    const e1 = d1 - q1 + q0 * INV22;
    const e2 = d2 - q2 + q1 * INV22;
    const e3 = d3 - q3 + q2 * INV22;
    const e4 = d4 - q4 + q3 * INV22;
    const e5 = d5 - q5 + q4 * INV22;
    q0 = e0 + ROUND22 - ROUND22;
    q1 = e1 + ROUND22 - ROUND22;
    q2 = e2 + ROUND22 - ROUND22;
    q3 = e3 + ROUND22 - ROUND22;
    q4 = e4 + ROUND22 - ROUND22;
    q5 = e5 + ROUND20 - ROUND20;
    h0 = e0 - q0 + q5 * WRAP;
    h1 = e1 - q1 + q0 * INV22;
    h2 = e2 - q2 + q1 * INV22;
    h3 = e3 - q3 + q2 * INV22;
    h4 = e4 - q4 + q3 * INV22;
    h5 = e5 - q5 + q4 * INV22;
  }
  st[0] = h0;
  st[1] = h1;
  st[2] = h2;
  st[3] = h3;
  st[4] = h4;
  st[5] = h5;
}

/** For each 64 bytes of v in [from, to): h ← (h + m1)·r⁴ + m2·r³ + m3·r² + m4·r, four whole blocks. */
function absorb4(v: DataView, from: number, to: number): void {
  // The loop's constants as locals (see LOCAL_CONSTANTS).
  const M22 = 0x3fffff, ROUND22 = 1.5 * 2 ** 74, ROUND20 = 1.5 * 2 ** 72, INV22 = 1 / 4194304, WRAP = 5 / 1048576, HIBIT = 262144;
  const a0 = st[R4]!, a1 = st[R4 + 1]!, a2 = st[R4 + 2]!, a3 = st[R4 + 3]!, a4 = st[R4 + 4]!, a5 = st[R4 + 5]!;
  const A1 = st[R4 + 6]!, A2 = st[R4 + 7]!, A3 = st[R4 + 8]!, A4 = st[R4 + 9]!, A5 = st[R4 + 10]!;
  const b0 = st[R3]!, b1 = st[R3 + 1]!, b2 = st[R3 + 2]!, b3 = st[R3 + 3]!, b4 = st[R3 + 4]!, b5 = st[R3 + 5]!;
  const B1 = st[R3 + 6]!, B2 = st[R3 + 7]!, B3 = st[R3 + 8]!, B4 = st[R3 + 9]!, B5 = st[R3 + 10]!;
  const c0 = st[R2]!, c1 = st[R2 + 1]!, c2 = st[R2 + 2]!, c3 = st[R2 + 3]!, c4 = st[R2 + 4]!, c5 = st[R2 + 5]!;
  const C1 = st[R2 + 6]!, C2 = st[R2 + 7]!, C3 = st[R2 + 8]!, C4 = st[R2 + 9]!, C5 = st[R2 + 10]!;
  const r0 = st[R1]!, r1 = st[R1 + 1]!, r2 = st[R1 + 2]!, r3 = st[R1 + 3]!, r4 = st[R1 + 4]!, r5 = st[R1 + 5]!;
  const s1 = st[R1 + 6]!, s2 = st[R1 + 7]!, s3 = st[R1 + 8]!, s4 = st[R1 + 9]!, s5 = st[R1 + 10]!;
  let h0 = st[0]!, h1 = st[1]!, h2 = st[2]!, h3 = st[3]!, h4 = st[4]!, h5 = st[5]!;
  for (let at = from; at < to; at += 64) {
    let t0 = v.getUint32(at, true);
    let t1 = v.getUint32(at + 4, true);
    let t2 = v.getUint32(at + 8, true);
    let t3 = v.getUint32(at + 12, true);
    h0 += t0 & M22;
    h1 += ((t0 >>> 22) | (t1 << 10)) & M22;
    h2 += ((t1 >>> 12) | (t2 << 20)) & M22;
    h3 += (t2 >>> 2) & M22;
    h4 += ((t2 >>> 24) | (t3 << 8)) & M22;
    h5 += (t3 >>> 14) + HIBIT;
    t0 = v.getUint32(at + 16, true);
    t1 = v.getUint32(at + 20, true);
    t2 = v.getUint32(at + 24, true);
    t3 = v.getUint32(at + 28, true);
    const m0 = t0 & M22;
    const m1 = ((t0 >>> 22) | (t1 << 10)) & M22;
    const m2 = ((t1 >>> 12) | (t2 << 20)) & M22;
    const m3 = (t2 >>> 2) & M22;
    const m4 = ((t2 >>> 24) | (t3 << 8)) & M22;
    const m5 = (t3 >>> 14) + HIBIT;
    t0 = v.getUint32(at + 32, true);
    t1 = v.getUint32(at + 36, true);
    t2 = v.getUint32(at + 40, true);
    t3 = v.getUint32(at + 44, true);
    const n0 = t0 & M22;
    const n1 = ((t0 >>> 22) | (t1 << 10)) & M22;
    const n2 = ((t1 >>> 12) | (t2 << 20)) & M22;
    const n3 = (t2 >>> 2) & M22;
    const n4 = ((t2 >>> 24) | (t3 << 8)) & M22;
    const n5 = (t3 >>> 14) + HIBIT;
    t0 = v.getUint32(at + 48, true);
    t1 = v.getUint32(at + 52, true);
    t2 = v.getUint32(at + 56, true);
    t3 = v.getUint32(at + 60, true);
    const p0 = t0 & M22;
    const p1 = ((t0 >>> 22) | (t1 << 10)) & M22;
    const p2 = ((t1 >>> 12) | (t2 << 20)) & M22;
    const p3 = (t2 >>> 2) & M22;
    const p4 = ((t2 >>> 24) | (t3 << 8)) & M22;
    const p5 = (t3 >>> 14) + HIBIT;

    const d0 =
      h0 * a0 + h1 * A5 + h2 * A4 + h3 * A3 + h4 * A2 + h5 * A1 + m0 * b0 + m1 * B5 + m2 * B4 + m3 * B3 + m4 * B2 + m5 * B1 +
      n0 * c0 + n1 * C5 + n2 * C4 + n3 * C3 + n4 * C2 + n5 * C1 + p0 * r0 + p1 * s5 + p2 * s4 + p3 * s3 + p4 * s2 + p5 * s1;
    const d1 =
      h0 * a1 + h1 * a0 + h2 * A5 + h3 * A4 + h4 * A3 + h5 * A2 + m0 * b1 + m1 * b0 + m2 * B5 + m3 * B4 + m4 * B3 + m5 * B2 +
      n0 * c1 + n1 * c0 + n2 * C5 + n3 * C4 + n4 * C3 + n5 * C2 + p0 * r1 + p1 * r0 + p2 * s5 + p3 * s4 + p4 * s3 + p5 * s2;
    const d2 =
      h0 * a2 + h1 * a1 + h2 * a0 + h3 * A5 + h4 * A4 + h5 * A3 + m0 * b2 + m1 * b1 + m2 * b0 + m3 * B5 + m4 * B4 + m5 * B3 +
      n0 * c2 + n1 * c1 + n2 * c0 + n3 * C5 + n4 * C4 + n5 * C3 + p0 * r2 + p1 * r1 + p2 * r0 + p3 * s5 + p4 * s4 + p5 * s3;
    const d3 =
      h0 * a3 + h1 * a2 + h2 * a1 + h3 * a0 + h4 * A5 + h5 * A4 + m0 * b3 + m1 * b2 + m2 * b1 + m3 * b0 + m4 * B5 + m5 * B4 +
      n0 * c3 + n1 * c2 + n2 * c1 + n3 * c0 + n4 * C5 + n5 * C4 + p0 * r3 + p1 * r2 + p2 * r1 + p3 * r0 + p4 * s5 + p5 * s4;
    const d4 =
      h0 * a4 + h1 * a3 + h2 * a2 + h3 * a1 + h4 * a0 + h5 * A5 + m0 * b4 + m1 * b3 + m2 * b2 + m3 * b1 + m4 * b0 + m5 * B5 +
      n0 * c4 + n1 * c3 + n2 * c2 + n3 * c1 + n4 * c0 + n5 * C5 + p0 * r4 + p1 * r3 + p2 * r2 + p3 * r1 + p4 * r0 + p5 * s5;
    const d5 =
      h0 * a5 + h1 * a4 + h2 * a3 + h3 * a2 + h4 * a1 + h5 * a0 + m0 * b5 + m1 * b4 + m2 * b3 + m3 * b2 + m4 * b1 + m5 * b0 +
      n0 * c5 + n1 * c4 + n2 * c3 + n3 * c2 + n4 * c1 + n5 * c0 + p0 * r5 + p1 * r4 + p2 * r3 + p3 * r2 + p4 * r1 + p5 * r0;

    let q0 = d0 + ROUND22 - ROUND22;
    let q1 = d1 + ROUND22 - ROUND22;
    let q2 = d2 + ROUND22 - ROUND22;
    let q3 = d3 + ROUND22 - ROUND22;
    let q4 = d4 + ROUND22 - ROUND22;
    let q5 = d5 + ROUND20 - ROUND20;
    const e0 = d0 - q0 + q5 * WRAP;
    const e1 = d1 - q1 + q0 * INV22;
    const e2 = d2 - q2 + q1 * INV22;
    const e3 = d3 - q3 + q2 * INV22;
    const e4 = d4 - q4 + q3 * INV22;
    const e5 = d5 - q5 + q4 * INV22;
    q0 = e0 + ROUND22 - ROUND22;
    q1 = e1 + ROUND22 - ROUND22;
    q2 = e2 + ROUND22 - ROUND22;
    q3 = e3 + ROUND22 - ROUND22;
    q4 = e4 + ROUND22 - ROUND22;
    q5 = e5 + ROUND20 - ROUND20;
    h0 = e0 - q0 + q5 * WRAP;
    h1 = e1 - q1 + q0 * INV22;
    h2 = e2 - q2 + q1 * INV22;
    h3 = e3 - q3 + q2 * INV22;
    h4 = e4 - q4 + q3 * INV22;
    h5 = e5 - q5 + q4 * INV22;
  }
  st[0] = h0;
  st[1] = h1;
  st[2] = h2;
  st[3] = h3;
  st[4] = h4;
  st[5] = h5;
}

/** The first 64 bytes of a message given in two parts (see poly1305Tag), joined. */
const lead = new Uint8Array(64);

/**
 * The Poly1305 tag of `head || msg` (`head`, if given, at most 16 bytes: chacha20-poly1305's encrypted
 * length when the ciphertext sits in a buffer of its own, so neither is copied behind the other).
 */
export function poly1305Tag(key: Uint8Array, msg: Uint8Array, head?: Uint8Array): Uint8Array {
  const kv = new DataView(key.buffer, key.byteOffset, 32);
  const k0 = kv.getUint32(0, true) & 0x0fffffff;
  const k1 = kv.getUint32(4, true) & 0x0ffffffc;
  const k2 = kv.getUint32(8, true) & 0x0ffffffc;
  const k3 = kv.getUint32(12, true) & 0x0ffffffc;
  st.fill(0, 0, 6);
  setPower(R1, k0 & M22, ((k0 >>> 22) | (k1 << 10)) & M22, ((k1 >>> 12) | (k2 << 20)) & M22, (k2 >>> 2) & M22, ((k2 >>> 24) | (k3 << 8)) & M22, k3 >>> 14);
  const headLength = head?.length ?? 0;
  const len = headLength + msg.length;
  if (len > 16) power(R1, R1, R2);
  const four = len >= FOUR_MIN;
  if (four) {
    power(R2, R1, R3);
    power(R2, R2, R4);
  }
  if (!headLength) absorbAll(msg, 0, four);
  else if (len <= 64) {
    lead.set(head!);
    lead.set(msg, headLength);
    absorbAll(lead.subarray(0, len), 0, false);
  } else {
    // The first 64 bytes joined, then the rest of msg in place: 64 keeps every later block aligned.
    const fromMsg = 64 - headLength;
    lead.set(head!);
    lead.set(msg.subarray(0, fromMsg), headLength);
    if (four) absorb4(leadV, 0, 64);
    else absorb(leadV, 0, 64, HIBIT, HIBIT, R2);
    absorbAll(msg, fromMsg, four);
  }
  return finish(key);
}
const leadV = new DataView(lead.buffer);

/** msg from `from` to its end, as the (rest of the) message: four blocks per round if `four`, then pairs, then the last 1–31 bytes. */
function absorbAll(msg: Uint8Array, from: number, four: boolean): void {
  const len = msg.length - from;
  const pairs = len & ~31;
  if (pairs) {
    // (Not for fewer bytes: a DataView would move a small array's memory off the heap.)
    const v = new DataView(msg.buffer, msg.byteOffset + from, pairs);
    const quads = four ? len & ~63 : 0;
    if (quads) absorb4(v, 0, quads);
    if (pairs > quads) absorb(v, quads, pairs, HIBIT, HIBIT, R2);
  }
  const rest = len - pairs;
  if (rest > 0) {
    // 1–31 bytes: a lone block (with U = r) or a pair whose second block is partial; a partial block is
    // padded with 0x01 and has no 2^128 bit.
    scratch.fill(0);
    scratch.set(msg.subarray(from + pairs));
    if (rest !== 16) scratch[rest] = 1;
    absorb(scratchV, 0, 32, rest < 16 ? 0 : HIBIT, 0, rest <= 16 ? R1 : R2);
  }
}

/** h (st[0, 6)) mod 2^130 − 5, plus s (the key's last 16 bytes), mod 2^128, little-endian; no BigInt. */
function finish(key: Uint8Array): Uint8Array {
  // Carry fully; a carry out of the top wraps around as ·5 and the chain runs again (at most twice).
  for (;;) {
    for (let i = 0; i < 5; i++) {
      const c = Math.floor(st[i]! * INV22);
      st[i] = st[i]! - c * P22;
      st[i + 1] = st[i + 1]! + c;
    }
    const c = Math.floor(st[5]! * INV20);
    if (c === 0) break;
    st[5] = st[5]! - c * P20;
    st[0] = st[0]! + c * 5;
  }
  // g = h + 5 − 2^130; when g ≥ 0, h ≥ p and h − p = g is the reduced value.
  let c = 5;
  for (let i = 0; i < 5; i++) {
    const v = st[i]! + c;
    reduced[i] = v & M22;
    c = v >>> 22;
  }
  reduced[5] = st[5]! + c - P20;
  const r = reduced[5]! >= 0 ? reduced : st;
  const h0 = r[0]!, h1 = r[1]!, h2 = r[2]!, h3 = r[3]!, h4 = r[4]!, h5 = r[5]!;
  // The low 128 bits as four 32-bit words, plus s with carries, written byte by byte (a DataView would
  // move the small result's memory off the heap, once per packet).
  const words = [(h0 | (h1 << 22)) >>> 0, ((h1 >>> 10) | (h2 << 12)) >>> 0, ((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0, ((h4 >>> 8) | (h5 << 14)) >>> 0];
  const kv = new DataView(key.buffer, key.byteOffset + 16, 16);
  const out = new Uint8Array(16);
  let f = 0;
  for (let i = 0; i < 4; i++) {
    f = words[i]! + kv.getUint32(4 * i, true) + (f > 0xffffffff ? 1 : 0);
    out[4 * i] = f;
    out[4 * i + 1] = f >>> 8;
    out[4 * i + 2] = f >>> 16;
    out[4 * i + 3] = f >>> 24;
  }
  return out;
}
