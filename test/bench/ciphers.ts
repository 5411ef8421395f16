// Section 2 of `npm run bench`: seal+open throughput of each packet protection, in MB of payload per
// CPU-second, at 32 KiB and 1 KiB packets: the portable protection in Node and in workerd (the Worker's
// runtime), the Worker's protection in workerd (worker/native-crypto.ts: ChaCha20 from workerd's node:crypto), the Node protection (src/io/node-crypto.ts, what `edgessh serve` runs), beside node:crypto
// (OpenSSL) doing the same work natively.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { sealOpenRounds } from './seal-open.ts';
import { coreRounds } from './cores.ts';
import { nodeProtection } from '../../src/io/node-crypto.ts';
import type { PacketProtection } from '../../src/crypto/types.ts';
import type { Workerd } from './workerd.ts';

const SUITES: [cipher: string, mac: string | null, native: NativeSuite][] = [
  ['chacha20-poly1305@openssh.com', null, 'chacha20-poly1305'],
  ['aes128-gcm@openssh.com', null, 'aes-128-gcm'],
  ['aes256-gcm@openssh.com', null, 'aes-256-gcm'],
  ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com', 'aes-128-ctr+hmac-sha256'],
  ['aes256-ctr', 'hmac-sha2-512-etm@openssh.com', 'aes-256-ctr+hmac-sha512'],
];
type NativeSuite = 'chacha20-poly1305' | 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-ctr+hmac-sha256' | 'aes-256-ctr+hmac-sha512';

const cpuSince = (t0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
};

/** MB of payload per CPU-second: `round` processes `bytesPerRound`; 0.3 s of CPU to warm up the JIT (the
 * optimising compiler takes over after a few thousand calls), then repeated until ≥ 1 s of CPU. */
async function mbPerCpuSecond(bytesPerRound: number, round: () => Promise<void> | void): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const w0 = process.cpuUsage();
  while (cpuSince(w0) < 0.3) await round();
  let bytes = 0;
  const t0 = process.cpuUsage();
  let cpu = 0;
  while (cpu < 1) {
    await round();
    bytes += bytesPerRound;
    cpu = cpuSince(t0);
  }
  return bytes / 1e6 / cpu;
}

async function ours(cipher: string, mac: string | null, size: number, protection?: PacketProtection): Promise<number> {
  const bytes = Math.max(1, Math.floor((1 << 20) / size)) * size;
  const round = sealOpenRounds(cipher, mac, size, protection);
  return mbPerCpuSecond(bytes, () => round(bytes));
}

function native(suite: NativeSuite, size: number): Promise<number> {
  const payload = randomBytes(size + 16);
  const key32 = randomBytes(32);
  const PER_ROUND = Math.max(1, Math.floor((1 << 20) / size));
  const nonce = randomBytes(12);
  return mbPerCpuSecond(PER_ROUND * size, () => {
    for (let i = 0; i < PER_ROUND; i++) {
      if (suite === 'chacha20-poly1305' || suite === 'aes-128-gcm' || suite === 'aes-256-gcm') {
        const key = suite === 'aes-128-gcm' ? key32.subarray(0, 16) : key32;
        const c = createCipheriv(suite, key, nonce, { authTagLength: 16 } as never) as ReturnType<typeof createCipheriv> & { getAuthTag(): Buffer; setAAD(b: Buffer): void };
        c.setAAD(payload.subarray(0, 4));
        const ct = Buffer.concat([c.update(payload.subarray(4)), c.final()]);
        const tag = c.getAuthTag();
        const d = createDecipheriv(suite, key, nonce, { authTagLength: 16 } as never) as ReturnType<typeof createDecipheriv> & { setAuthTag(b: Buffer): void; setAAD(b: Buffer): void };
        d.setAAD(payload.subarray(0, 4));
        d.setAuthTag(tag);
        Buffer.concat([d.update(ct), d.final()]);
      } else {
        const [alg, hash] = suite === 'aes-128-ctr+hmac-sha256' ? (['aes-128-ctr', 'sha256'] as const) : (['aes-256-ctr', 'sha512'] as const);
        const key = alg === 'aes-128-ctr' ? key32.subarray(0, 16) : key32;
        const iv = randomBytes(16);
        const ct = createCipheriv(alg, key, iv).update(payload);
        const tag = createHmac(hash, key32).update(ct).digest();
        const check = createHmac(hash, key32).update(ct).digest();
        if (!tag.equals(check)) throw new Error('hmac');
        createDecipheriv(alg, key, iv).update(ct);
      }
    }
  });
}

/** The same seal+open loop inside workerd (test/bench/workerd-entry.ts), CPU read from /proc. */
async function inWorkerd(w: Workerd, cipher: string, mac: string | null, size: number, protection: 'portable' | 'worker' = 'portable'): Promise<number> {
  const bytes = size >= 32 * 1024 ? 128 << 20 : 32 << 20;
  const q = (b: number) => `cipher=${encodeURIComponent(cipher)}&mac=${encodeURIComponent(mac ?? '')}&size=${size}&bytes=${b}&protection=${protection}`;
  await w.cpuMs(q(bytes / 4)); // warm up
  return bytes / 1e6 / ((await w.cpuMs(q(bytes))) / 1000);
}

export async function benchCiphers(workerd: Workerd | null): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  for (const [cipher, mac, nat] of SUITES) {
    for (const size of [32 * 1024, 1024]) {
      const a = await ours(cipher, mac, size);
      const n = await ours(cipher, mac, size, nodeProtection);
      const b = await native(nat, size);
      const w = workerd ? await inWorkerd(workerd, cipher, mac, size) : NaN;
      // The Worker's own protection differs from the portable one only for chacha20-poly1305 (worker/native-crypto.ts).
      const wp = workerd && cipher.startsWith('chacha20') ? await inWorkerd(workerd, cipher, mac, size, 'worker') : NaN;
      rows.push({
        protection: mac ? `${cipher} + ${mac}` : cipher,
        packet: size >= 1024 * 32 ? '32 KiB' : '1 KiB',
        'portable in Node MB/CPU-s': a.toFixed(0),
        'portable in workerd MB/CPU-s': workerd ? w.toFixed(0) : 'n/a',
        "the Worker's protection in workerd MB/CPU-s": workerd ? (Number.isNaN(wp) ? '(portable)' : wp.toFixed(0)) : 'n/a',
        'node protection MB/CPU-s': n.toFixed(0),
        'node:crypto MB/CPU-s': b.toFixed(0),
        'Node/native': (a / b).toFixed(2),
        'workerd/native': workerd ? (w / b).toFixed(2) : 'n/a',
        'node protection/native': (n / b).toFixed(2),
      });
    }
  }
  return rows;
}

/**
 * Our ChaCha20 and Poly1305 cores alone over 32 KiB buffers, in Node and in workerd: a seal plus an open
 * runs each once per packet, so 1 / (2/chacha + 2/poly) bounds the portable chacha20-poly1305 row.
 */
export async function benchCores(workerd: Workerd | null): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  const speed: Record<string, [number, number]> = {};
  for (const core of ['chacha20', 'poly1305'] as const) {
    const round = coreRounds(core);
    const n = await mbPerCpuSecond(1 << 20, () => round(1 << 20));
    let w = NaN;
    if (workerd) {
      const bytes = 256 << 20; // CPU is read in 10 ms ticks: at least a quarter of a second, for 4% or better
      await workerd.cpuMs(`core=${core}&bytes=${bytes / 4}`); // warm up
      w = bytes / 1e6 / ((await workerd.cpuMs(`core=${core}&bytes=${bytes}`)) / 1000);
    }
    speed[core] = [n, w];
    rows.push({ core, 'Node MB/CPU-s': n.toFixed(0), 'workerd MB/CPU-s': workerd ? w.toFixed(0) : 'n/a' });
  }
  const bound = (i: 0 | 1) => 1 / (2 / speed.chacha20![i] + 2 / speed.poly1305![i]);
  rows.push({
    core: 'seal+open bound: 1 / (2/chacha20 + 2/poly1305)',
    'Node MB/CPU-s': bound(0).toFixed(0),
    'workerd MB/CPU-s': workerd ? bound(1).toFixed(0) : 'n/a',
  });
  // For scale, native code without SIMD on the same core: what scalar machine code reaches, against which
  // the JavaScript cores (scalar by nature) can be judged.
  const chacha = opensslScalar('chacha20');
  const aead = opensslScalar('chacha20-poly1305');
  if (chacha && aead) {
    const row = (core: string, v: number) => rows.push({ core, 'Node MB/CPU-s': v.toFixed(0), 'workerd MB/CPU-s': '' });
    row('for scale: OpenSSL chacha20, SIMD off (`openssl speed`, OPENSSL_ia32cap)', chacha);
    row('for scale: OpenSSL chacha20-poly1305, SIMD off: its seal+open (one AEAD pass each)', aead / 2);
  }
  return rows;
}

/** CPUID bits OpenSSL must not use: SSSE3 and AVX (leaf 1), and all of leaf 7 (AVX2, AVX-512, IFMA…). */
const NO_SIMD = '~0x1000020000000000:~0xffffffffffffffff';

/** OpenSSL's own speed for `alg` at 32 KiB with its SIMD code paths switched off, MB per CPU-second; null without `openssl`. */
function opensslScalar(alg: 'chacha20' | 'chacha20-poly1305'): number | null {
  try {
    const out = execFileSync('openssl', ['speed', '-mr', '-seconds', '2', '-bytes', '32768', '-evp', alg], {
      env: { ...process.env, OPENSSL_ia32cap: NO_SIMD },
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    const bytesPerSecond = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(out)?.[1];
    return bytesPerSecond ? Number(bytesPerSecond) / 1e6 : null;
  } catch {
    return null;
  }
}
