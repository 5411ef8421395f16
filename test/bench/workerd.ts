// Runs test/bench/workerd-entry.ts in workerd itself (the binary `wrangler dev` uses, no wrangler around
// it) and measures workerd's CPU time from /proc around each request: the numbers for the runtime the
// Worker actually runs in, where Web Crypto is BoringSSL called on the isolate's own thread.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

export interface Workerd {
  /** CPU ms workerd spent answering `query`. */
  cpuMs(query: string): Promise<number>;
  stop(): void;
}

function workerdBinary(): string | null {
  for (const from of [resolve('node_modules/wrangler/package.json'), resolve('package.json')]) {
    try {
      const bin = join(dirname(createRequire(from).resolve('workerd/package.json')), 'bin', 'workerd');
      if (existsSync(bin)) return bin;
    } catch {
      // not installed along this path
    }
  }
  return null;
}

/** utime+stime of a process (all its threads) in ms. */
export function processCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14 and 15, in 1/100 s
}

export async function startWorkerd(port = 42290): Promise<Workerd | null> {
  const bin = workerdBinary();
  if (!bin) return null;
  const dir = mkdtempSync(join(tmpdir(), 'edgessh-workerd-'));
  await build({
    entryPoints: [resolve('test/bench/workerd-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    outfile: join(dir, 'bench.js'),
    external: ['node:*'], // workerd's own, under nodejs_compat as in wrangler.toml
    logLevel: 'error',
  });
  const compat = /compatibility_date\s*=\s*"([^"]+)"/.exec(readFileSync('wrangler.toml', 'utf8'))?.[1] ?? '2025-09-01';
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "bench", worker = .bench) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "bench") ],
);
const bench :Workerd.Worker = (
  modules = [ (name = "bench.js", esModule = embed "bench.js") ],
  compatibilityDate = "${compat}",
  compatibilityFlags = ["nodejs_compat"],
);
`,
  );
  const proc: ChildProcess = spawn(bin, ['serve', join(dir, 'config.capnp')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}?kex=curve25519-sha256&n=0`);
      break;
    } catch {
      if (i > 100 || proc.exitCode !== null) {
        proc.kill();
        return null;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    async cpuMs(query) {
      const before = processCpuMs(proc.pid!);
      // The Node half of the bench runs seconds between two requests, long enough for workerd to drop the
      // idle keep-alive connection just as undici reuses it: then the request never reached workerd, and
      // it is sent again once.
      const res = await fetch(`${url}?${query}`).catch(() => fetch(`${url}?${query}`));
      const text = await res.text();
      if (!res.ok) throw new Error(`workerd bench ${query}: ${text}`);
      return processCpuMs(proc.pid!) - before;
    },
    stop: () => void proc.kill(),
  };
}
