// Seeded mutation for the fuzzers: every failure replays from its seed.

/** xorshift32: a small seeded PRNG so every failure replays. */
export function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    int: (n: number) => next() % n,
    bytes: (n: number) => Uint8Array.from({ length: n }, () => next() & 0xff),
  };
}

export function mutate(rnd: ReturnType<typeof prng>, base: Uint8Array): Uint8Array {
  const b = base.slice();
  switch (rnd.int(6)) {
    case 0: // flip bits
      for (let i = rnd.int(4) + 1; i > 0 && b.length; i--) b[rnd.int(b.length)]! ^= 1 << rnd.int(8);
      return b;
    case 1: // truncate
      return b.subarray(0, rnd.int(b.length + 1));
    case 2: // extend with garbage
      return new Uint8Array([...b, ...rnd.bytes(rnd.int(64))]);
    case 3: // overwrite a uint32 with an extreme value
      if (b.length > 5) new DataView(b.buffer).setUint32(1 + rnd.int(b.length - 4), [0, 1, 0x7fffffff, 0xffffffff][rnd.int(4)]!);
      return b;
    case 4: // a random message type
      b[0] = rnd.int(256);
      return b;
    default: // pure noise with a plausible type
      return new Uint8Array([b[0]!, ...rnd.bytes(rnd.int(200))]);
  }
}


/** Collects exceptions and rejections that escape while a fuzzer runs (there must be none). */
export function trackEscapes() {
  const escaped: unknown[] = [];
  const onErr = (e: unknown) => escaped.push(e);
  process.on('unhandledRejection', onErr);
  process.on('uncaughtException', onErr);
  return { escaped, stop: () => (process.off('unhandledRejection', onErr), process.off('uncaughtException', onErr)) };
}
