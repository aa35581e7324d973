// Compiles src/ to dist/ (ES modules, .d.ts files, source maps) with tsconfig.build.json, and builds the admin
// console's browser assets (src/console, with vite) into dist/console/, which the server serves at /admin.
// Every build starts from an empty dist/, so the output of a deleted or moved source file never survives into the
// package. dist/.build-stamp records when the sources were read; `--if-stale` builds only when a file under src/
// changed after that, and bin/scimkit.mjs refuses to run an outdated build in a checkout (see stale.mjs).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { staleReason } from './stale.mjs';

export { staleReason };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.build-stamp');

/** Files under dir whose names end in ext. */
function filesEndingIn(dir, ext) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesEndingIn(path, ext));
    else if (entry.name.endsWith(ext)) out.push(path);
  }
  return out;
}

export function build() {
  const started = new Date();
  rmSync(DIST, { recursive: true, force: true });
  const tsc = join(createRequire(import.meta.url).resolve('typescript/package.json'), '..', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${result.status ?? result.signal})`);
  const vite = join(createRequire(import.meta.url).resolve('vite/package.json'), '..', 'bin', 'vite.js');
  const assets = spawnSync(process.execPath, [vite, 'build', '--config', join(ROOT, 'src', 'console', 'vite.config.mjs')], { stdio: 'inherit' });
  if (assets.status !== 0) throw new Error(`vite build of the console failed (exit ${assets.status ?? assets.signal})`);
  // The Fivetran connector's .proto files are read at run time, next to the module that loads them.
  for (const file of filesEndingIn(join(ROOT, 'src'), '.proto')) {
    const target = join(DIST, relative(join(ROOT, 'src'), file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
  writeFileSync(STAMP, '');
  // The stamp carries the time the sources were read, so an edit made during the build still counts as newer.
  utimesSync(STAMP, started, started);
}

export function buildIfStale() {
  const reason = staleReason();
  if (reason) build();
  return reason;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    if (process.argv.includes('--if-stale')) buildIfStale();
    else build();
  } catch (err) {
    process.stderr.write(`build: ${err.message}\n`);
    process.exit(1);
  }
}
