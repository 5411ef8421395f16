// Section 2 of `npm run bench`: seal+open throughput of each packet protection, in MB of payload per
// CPU-second, at 32 KiB and 1 KiB packets, beside node:crypto (OpenSSL) doing the same work natively.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { CIPHERS, MACS, createOpener, createSealer } from '../../src/crypto/protection.ts';
import { framePacket } from '../../src/transport/packets.ts';
import type { DirectionKeys } from '../../src/crypto/types.ts';

const SUITES: [cipher: string, mac: string | null, native: NativeSuite][] = [
  ['chacha20-poly1305@openssh.com', null, 'chacha20-poly1305'],
  ['aes128-gcm@openssh.com', null, 'aes-128-gcm'],
  ['aes256-gcm@openssh.com', null, 'aes-256-gcm'],
  ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com', 'aes-128-ctr+hmac-sha256'],
  ['aes256-ctr', 'hmac-sha2-512-etm@openssh.com', 'aes-256-ctr+hmac-sha512'],
];
type NativeSuite = 'chacha20-poly1305' | 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-ctr+hmac-sha256' | 'aes-256-ctr+hmac-sha512';

function keysFor(cipher: string, mac: string | null): DirectionKeys {
  const c = CIPHERS[cipher]!;
  const m = mac ? MACS[mac]! : null;
  return { cipher: c, mac: m, iv: new Uint8Array(randomBytes(c.ivLength)), encKey: new Uint8Array(randomBytes(c.keyLength)), macKey: new Uint8Array(randomBytes(m?.keyLength ?? 0)) };
}

/** CPU seconds spent by `fn`, which processes `bytes` of payload; repeated until ≥ 0.5 s of CPU. */
async function mbPerCpuSecond(bytesPerRound: number, round: () => Promise<void> | void): Promise<number> {
  await round(); // warm up
  let bytes = 0;
  const t0 = process.cpuUsage();
  let cpu = 0;
  while (cpu < 0.5) {
    await round();
    bytes += bytesPerRound;
    const d = process.cpuUsage(t0);
    cpu = (d.user + d.system) / 1e6;
  }
  return bytes / 1e6 / cpu;
}

async function ours(cipher: string, mac: string | null, size: number): Promise<number> {
  const keys = keysFor(cipher, mac);
  const sealer = createSealer(keys);
  const opener = createOpener(keys);
  const payload = randomBytes(size);
  let seq = 0;
  const PER_ROUND = Math.max(1, Math.floor((1 << 20) / size));
  return mbPerCpuSecond(PER_ROUND * size, async () => {
    for (let i = 0; i < PER_ROUND; i++) {
      const s = seq++ >>> 0;
      const wire = await sealer.seal(s, framePacket(payload, sealer));
      const copy = wire.slice(); // what arrives from the socket is a fresh buffer
      await opener.readLength(s, copy.subarray(0, opener.headLength));
      const out = await opener.open(s, copy);
      if (!out) throw new Error(`${cipher}: our own packet did not open`);
    }
  });
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

export async function benchCiphers(): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  for (const [cipher, mac, nat] of SUITES) {
    for (const size of [32 * 1024, 1024]) {
      const a = await ours(cipher, mac, size);
      const b = await native(nat, size);
      rows.push({
        protection: mac ? `${cipher} + ${mac}` : cipher,
        packet: size >= 1024 * 32 ? '32 KiB' : '1 KiB',
        'edgessh MB/CPU-s': a.toFixed(0),
        'node:crypto MB/CPU-s': b.toFixed(0),
        'edgessh/native': (a / b).toFixed(2),
      });
    }
  }
  return rows;
}
