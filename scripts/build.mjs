// Builds the Node CLI (dist/cli.js) and the web pages' scripts (web/public/assets/). Runs on `npm install`
// (prepare), before tests, before `npm start`, and as wrangler's build command.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

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

// The browser bundles: everything inlined (no CDN), runtime-neutral core only.
if (existsSync('web/src/terminal.ts')) {
  mkdirSync('web/public/assets', { recursive: true });
  await build({
    entryPoints: { terminal: 'web/src/terminal.ts', harness: 'web/src/harness.ts' },
    outdir: 'web/public/assets',
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  copyFileSync('node_modules/@xterm/xterm/css/xterm.css', 'web/public/assets/xterm.css');
}
