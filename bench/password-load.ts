/**
 * Password-hashing load (npm run bench:passwords): how fast another tenant stays while one organization's Bulk of
 * password writes runs (issue 11 item 5). A `scimkit serve` process on a SQLite file holds two organizations with
 * their limits raised: A sends `--bulks` Bulk requests at once, each of `--operations` User creates with a
 * password; B meanwhile reads its users by id (autocannon at a fixed rate, `--rate` requests per second over
 * `--connections` connections), then creates users with passwords one after another. B is measured idle and
 * during A's Bulk, `--duration` seconds for each kind. `--bin` runs another checkout's bin/scimkit.mjs (an A/B against the code
 * before a change). Run with --help for the options.
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';

const USAGE = `Usage: npm run bench:passwords -- [options]

Measures another tenant's latency idle and while one organization's Bulk of password writes runs.

Options (each also from the environment variable named):
  --operations=N   User creates with a password in each Bulk (SCIMKIT_BENCH_OPERATIONS, default 1000)
  --bulks=N        Bulk requests organization A sends at once (SCIMKIT_BENCH_BULKS, default 1)
  --duration=S     seconds of each of B's reads and writes, idle and during the Bulk (SCIMKIT_BENCH_DURATION, default 15)
  --rate=N         tenant B's reads per second (SCIMKIT_BENCH_RATE, default 200)
  --connections=N  connections for tenant B's reads (SCIMKIT_BENCH_CONNECTIONS, default 4)
  --bin=PATH       the scimkit command to run (SCIMKIT_BENCH_BIN, default this checkout's bin/scimkit.mjs)
  --serve-args=A   extra arguments for serve, space-separated (SCIMKIT_BENCH_SERVE_ARGS)
  --help           print this and exit
`;

const KNOWN = ['operations', 'bulks', 'duration', 'rate', 'connections', 'bin', 'serve-args'];
for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const name = /^--([a-z-]+)=/.exec(arg)?.[1];
  if (!name || !KNOWN.includes(name)) {
    process.stderr.write(`unknown option ${arg}\n\n${USAGE}`);
    process.exit(2);
  }
}

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

const OPERATIONS = Number(option('operations', 'SCIMKIT_BENCH_OPERATIONS', '1000'));
const BULKS = Number(option('bulks', 'SCIMKIT_BENCH_BULKS', '1'));
const DURATION = Number(option('duration', 'SCIMKIT_BENCH_DURATION', '15'));
const RATE = Number(option('rate', 'SCIMKIT_BENCH_RATE', '200'));
const CONNECTIONS = Number(option('connections', 'SCIMKIT_BENCH_CONNECTIONS', '4'));
const BIN = option('bin', 'SCIMKIT_BENCH_BIN', fileURLToPath(new URL('../bin/scimkit.mjs', import.meta.url)));
const SERVE_ARGS = option('serve-args', 'SCIMKIT_BENCH_SERVE_ARGS', '').split(' ').filter((a) => a !== '');
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const RAISED_LIMIT = '1000000';
const B_USERS = 1000;
const run = promisify(execFile);

interface Org {
  readonly id: string;
  readonly token: string;
  readonly base: string;
}

async function createOrg(db: string, name: string): Promise<{ id: string; token: string }> {
  const { stdout } = await run(process.execPath, [BIN, 'orgs', 'create', name, '--read-limit', RAISED_LIMIT, '--write-limit', RAISED_LIMIT, '--json', '--db', db]);
  return JSON.parse(stdout) as { id: string; token: string };
}

async function startServer(db: string, logPath: string): Promise<{ child: ChildProcess; origin: string }> {
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, [BIN, 'serve', '--db', db, '--port', '0', ...SERVE_ARGS], { stdio: ['ignore', log, log] });
  closeSync(log);
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(readFileSync(logPath, 'utf8'));
    if (m) return { child, origin: m[1] };
    if (child.exitCode !== null) throw new Error(`serve exited:\n${readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function headers(org: Org): Record<string, string> {
  return { authorization: `Bearer ${org.token}`, 'content-type': 'application/scim+json' };
}

function bulkOf(count: number, prefix: string, password: boolean): string {
  const Operations = Array.from({ length: count }, (_, i) => ({
    method: 'POST',
    path: '/Users',
    bulkId: `${prefix}-${i}`,
    data: { schemas: [USER_SCHEMA], userName: `${prefix}-${i}@example.com`, ...(password ? { password: `Passw0rd-${prefix}-${i}-long enough` } : {}) },
  }));
  return JSON.stringify({ schemas: [BULK_REQUEST], Operations });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Measured {
  readonly reads: { rate: number; p50: number; p99: number; max: number; errors: number };
  readonly writes: { count: number; p50: number; max: number; failed: number };
}

/** Tenant B: reads by id at RATE for DURATION seconds, then password creates one after another for DURATION seconds. */
async function measureTenant(origin: string, b: Org, ids: string[], tag: string): Promise<Measured> {
  const requests = ids.map((id) => ({ method: 'GET', path: `${new URL(b.base).pathname}/Users/${id}`, headers: headers(b) }));
  const r = await autocannon({ url: origin, connections: CONNECTIONS, duration: DURATION, overallRate: RATE, requests });
  const latencies: number[] = [];
  let failed = 0;
  const until = Date.now() + DURATION * 1000;
  for (let i = 0; Date.now() < until; i++) {
    const started = performance.now();
    const res = await fetch(`${b.base}/Users`, {
      method: 'POST',
      headers: headers(b),
      body: JSON.stringify({ schemas: [USER_SCHEMA], userName: `b-${tag}-${i}@example.com`, password: `B-secret-${tag}-${i}-long enough` }),
    });
    await res.arrayBuffer();
    if (res.status === 201) latencies.push(performance.now() - started);
    else failed++;
  }
  return {
    reads: { rate: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.errors + r.timeouts + r.non2xx },
    writes: { count: latencies.length, p50: percentile(latencies, 50), max: Math.max(...latencies), failed },
  };
}

async function countUsers(org: Org): Promise<number> {
  const res = await fetch(`${org.base}/Users?count=0`, { headers: headers(org) });
  return ((await res.json()) as { totalResults: number }).totalResults;
}

async function main(): Promise<void> {
  console.log(
    `bench:passwords: ${BULKS} Bulk(s) of ${OPERATIONS} password creates from organization A; tenant B reads at ${RATE}/s over ${CONNECTIONS} connections ` +
      `and creates users with passwords one at a time; ${DURATION} s per measurement; ${availableParallelism()} cores, Node ${process.version}; ${BIN} ${SERVE_ARGS.join(' ')}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-passwords-'));
  const db = join(dir, 'scimkit.db');
  let server: { child: ChildProcess; origin: string } | undefined;
  try {
    const [a0, b0] = [await createOrg(db, 'tenant-a'), await createOrg(db, 'tenant-b')];
    server = await startServer(db, join(dir, 'server.log'));
    const origin = server.origin;
    const a: Org = { ...a0, base: `${origin}/scim/v2/organizations/${a0.id}` };
    const b: Org = { ...b0, base: `${origin}/scim/v2/organizations/${b0.id}` };

    // Tenant B's users, without passwords (fast), to read by id.
    const seeded = await fetch(`${b.base}/Bulk`, { method: 'POST', headers: headers(b), body: bulkOf(B_USERS, 'seed', false) });
    const ids = ((await seeded.json()) as { Operations: { location: string }[] }).Operations.map((op) => op.location.split('/').pop() as string);
    console.log(`tenant B holds ${ids.length} users`);

    // Warm up: every one of B's users read once, so that neither measurement pays for first reads.
    await autocannon({ url: origin, connections: CONNECTIONS, amount: ids.length, requests: ids.map((id) => ({ method: 'GET', path: `${new URL(b.base).pathname}/Users/${id}`, headers: headers(b) })) });
    const idle = await measureTenant(origin, b, ids, 'idle');
    const started = performance.now();
    let finished = 0;
    const bulks = Array.from({ length: BULKS }, (_, k) =>
      fetch(`${a.base}/Bulk`, { method: 'POST', headers: headers(a), body: bulkOf(OPERATIONS, `a${k}`, true) })
        .then(async (res) => {
          const body = (await res.json()) as { Operations?: { status: string }[] };
          finished++;
          return { status: res.status, ok: body.Operations?.filter((op) => op.status === '201').length ?? 0, seconds: (performance.now() - started) / 1000 };
        })
        // The server is stopped once B is measured, with the Bulk usually still running.
        .catch(() => ({ status: 0, ok: 0, seconds: (performance.now() - started) / 1000 })),
    );
    // Let the Bulk get going before measuring.
    await new Promise((r) => setTimeout(r, 1000));
    const during = await measureTenant(origin, b, ids, 'during');
    const stillRunning = finished < BULKS;
    const createdSoFar = await countUsers(a);
    const elapsed = (performance.now() - started) / 1000;
    console.log(`A's Bulk ${stillRunning ? 'was still running' : 'had FINISHED'} when the measurement ended: ${createdSoFar} of ${BULKS * OPERATIONS} users created in ${elapsed.toFixed(1)} s (${(createdSoFar / elapsed).toFixed(1)} hashed creates/s)`);

    console.log('');
    console.log('| tenant B | reads/s | read p50 | read p99 | read max | password creates | create p50 | create max |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const [name, m] of [['idle', idle], [`during ${BULKS} Bulk(s) of ${OPERATIONS}`, during]] as const) {
      console.log(
        `| ${name} | ${Math.round(m.reads.rate)} | ${m.reads.p50} ms | ${m.reads.p99} ms | ${m.reads.max} ms | ${m.writes.count}${m.writes.failed ? ` (+${m.writes.failed} failed)` : ''} | ${m.writes.p50.toFixed(0)} ms | ${m.writes.max.toFixed(0)} ms |`,
      );
      if (m.reads.errors > 0) console.log(`  (${m.reads.errors} reads failed: the figure is not valid)`);
    }
    console.log(`read p99 during / idle: ${(during.reads.p99 / idle.reads.p99).toFixed(2)}; create p50 during / idle: ${(during.writes.p50 / idle.writes.p50).toFixed(2)}`);
    if (process.env.SCIMKIT_BENCH_WAIT_BULK) {
      const results = await Promise.all(bulks);
      for (const r of results) console.log(`A's Bulk: ${r.status}, ${r.ok} created, ${r.seconds.toFixed(1)} s`);
    }
  } finally {
    if (server && server.child.exitCode === null) {
      const exited = new Promise((r) => server!.child.once('exit', r));
      server.child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
