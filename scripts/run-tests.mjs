// Runs every test file under test/ with node's test runner (Node 20 needs the file list spelled out).
// Starts throwaway PostgreSQL and Redis servers when they are installed and not given through the environment.
// Under CI (CI set) both are required, so their suites can never silently stop running.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildIfStale } from './build.mjs';
import { startPostgres, startRedis } from './services.mjs';

function listTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
let files = listTests('test').map((f) => relative('.', f)).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// Tests that start the CLI run bin/scimkit.mjs, which runs the compiled dist/: build it first when src/ changed.
try {
  buildIfStale();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

const ci = Boolean(process.env.CI);
const env = { ...process.env };
const stops = [];
if (!env.SCIMKIT_TEST_POSTGRES_URL) {
  const pg = await startPostgres();
  if (pg) {
    env.SCIMKIT_TEST_POSTGRES_URL = pg.url;
    stops.push(pg.stop);
  }
}
if (!env.SCIMKIT_TEST_REDIS_URL) {
  const redis = await startRedis();
  if (redis) {
    env.SCIMKIT_TEST_REDIS_URL = redis.url;
    stops.push(redis.stop);
  }
}
for (const [name, key] of [['PostgreSQL', 'SCIMKIT_TEST_POSTGRES_URL'], ['Redis', 'SCIMKIT_TEST_REDIS_URL']]) {
  if (env[key]) console.log(`# ${name}: ${env[key]}`);
  else if (ci) {
    console.error(`${name} is required under CI but was not found (install it, or set ${key})`);
    process.exit(1);
  } else console.log(`# ${name} not installed: its suites are skipped`);
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
for (const stop of stops) await stop().catch(() => {});
process.exit(code);
