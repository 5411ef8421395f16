// The core must bundle for any JavaScript runtime: no Node built-ins, no Buffer (ARCHITECTURE.md).
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function coreFiles(dir = 'src'): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return p === 'src/cli' ? [] : coreFiles(p);
    // Node's adapters: src/io/node-*.ts and their entry point src/node.ts (the package's 'edgessh/node').
    return p.endsWith('.ts') && !/^src\/(io\/node-|node\.ts$)/.test(p) ? [p] : [];
  });
}

describe('runtime-neutral core', () => {
  it('bundles with --platform=neutral and no Node built-ins', async () => {
    const result = await build({
      entryPoints: ['src/index.ts'],
      bundle: true,
      platform: 'neutral',
      format: 'esm',
      mainFields: ['module', 'main'],
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.startsWith('node:'))).toBe(false);
    expect(result.outputFiles[0]!.text).not.toMatch(/\brequire\(["']node:|from ["']node:/);
  });

  it('no core file imports node: modules or uses Buffer', () => {
    for (const f of coreFiles()) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/from ['"](node:|fs['"]|net['"]|crypto['"]|buffer['"])/);
      expect(text, f).not.toMatch(/\bBuffer\./);
    }
  });
});
