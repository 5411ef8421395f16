// Builds the Node CLI (dist/cli.js) and the web pages' scripts (web/public/assets/). Runs on `npm install`
// (prepare), before tests, before `npm start`, and as wrangler's build command.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

if (existsSync('src/cli/main.ts')) {
  // Split: each command's code is its own chunk, loaded when the command runs (see src/cli/main.ts).
  const out = await build({
    write: false,
    entryPoints: { cli: 'src/cli/main.ts' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  // Files are written only when they change, and chunks no build made any more are removed: wrangler dev
  // runs this build too, possibly while a test runs the CLI, so dist/ never disappears under it.
  const made = new Set(out.outputFiles.map((f) => resolve(f.path)));
  for (const f of out.outputFiles) {
    mkdirSync(dirname(f.path), { recursive: true });
    if (!existsSync(f.path) || !readFileSync(f.path).equals(Buffer.from(f.contents))) writeFileSync(f.path, f.contents);
  }
  for (const name of existsSync('dist/chunks') ? readdirSync('dist/chunks') : []) {
    if (!made.has(resolve('dist/chunks', name))) rmSync(join('dist/chunks', name));
  }
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
