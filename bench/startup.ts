/**
 * Start time of the `scimkit` command: `--help`, and `serve` until it answers `/healthz`, run from the compiled
 * dist/ (what bin/scimkit.mjs runs) and from the TypeScript sources through tsx (what it ran before dist/ existed).
 * Each round runs every variant once, in rotated order, so that the machine's load falls on all of them alike.
 *
 *   npm run bench:startup -- [--rounds=N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const rounds = Number(/^--rounds=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--rounds=')) ?? '')?.[1] ?? 21);

/** How each variant starts the CLI: the node arguments before the command's own. */
const VARIANTS = {
  'node alone (no scimkit)': null,
  'compiled (bin/scimkit.mjs, dist/)': [join(ROOT, 'bin', 'scimkit.mjs')],
  'compiled, as installed (no src/ check)': [join(ROOT, 'bench', 'startup-dist-entry.mjs')],
  'tsx (src/, the former bin)': ['--import', 'tsx', join(ROOT, 'bench', 'startup-tsx-entry.ts')],
} as const satisfies Record<string, readonly string[] | null>;
type Variant = keyof typeof VARIANTS;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Milliseconds from spawn to exit of `node ...args --help` (or of `node -e ''` for the baseline). */
function help(args: readonly string[] | null): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args ? [...args, '--help'] : ['-e', ''], { cwd: ROOT, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (result.status !== 0 || (args && !result.stdout.includes('Usage: scimkit'))) throw new Error(`--help failed: ${result.stderr}`);
  return ms;
}

/** Milliseconds from spawn of `serve` (a fresh SQLite file) to the first 200 from its `/healthz`. */
async function serve(args: readonly string[], dir: string, i: number): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, [...args, 'serve', '--port', '0', '--log-level', 'warn', '--db', join(dir, `s${i}.db`)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const origin = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /^listening on (http:\/\/\S+)$/m.exec(out);
        if (m) resolve(m[1]);
      });
      child.stderr.on('data', (d) => (err += d));
      child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${err}`)));
    });
    const res = await fetch(`${origin}/healthz`);
    const ms = performance.now() - start;
    if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
    return ms;
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-startup-'));
const names = Object.keys(VARIANTS) as Variant[];
const helpMs = new Map<Variant, number[]>(names.map((n) => [n, []]));
const serveMs = new Map<Variant, number[]>(names.map((n) => [n, []]));
const loadBefore = loadavg()[0];
try {
  // One warm-up round, not counted: the first start reads the files from disk.
  for (const name of names) {
    help(VARIANTS[name]);
    const args = VARIANTS[name];
    if (args) await serve(args, dir, -1 - names.indexOf(name));
  }
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, k) => names[(k + round) % names.length]);
    for (const name of order) helpMs.get(name)!.push(help(VARIANTS[name]));
    for (const name of order) {
      const args = VARIANTS[name];
      if (args) serveMs.get(name)!.push(await serve(args, dir, round * names.length + names.indexOf(name)));
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const compiled = names[1];
const tsx = names[3];
console.log(
  `# scimkit start time, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadBefore.toFixed(1)} at start and ${loadavg()[0].toFixed(1)} at the end, ${rounds} rounds`,
);
console.log('');
console.log('| start | --help median | --help min | serve until /healthz median | serve min |');
console.log('|---|---:|---:|---:|---:|');
for (const name of names) {
  const h = helpMs.get(name)!;
  const s = serveMs.get(name)!;
  console.log(`| ${name} | ${fmt(median(h))} | ${fmt(Math.min(...h))} | ${s.length ? fmt(median(s)) : '-'} | ${s.length ? fmt(Math.min(...s)) : '-'} |`);
}
console.log('');
console.log(
  `tsx / compiled: --help ${(median(helpMs.get(tsx)!) / median(helpMs.get(compiled)!)).toFixed(2)}x, ` +
    `serve ${(median(serveMs.get(tsx)!) / median(serveMs.get(compiled)!)).toFixed(2)}x`,
);
