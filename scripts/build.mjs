// Builds the Node CLI (dist/cli.js) from src/cli/main.ts. Runs on `npm install` (prepare) and before tests.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

if (existsSync('src/cli/main.ts')) {
  await build({
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}
