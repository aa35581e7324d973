/**
 * Sync connector benchmark (npm run bench:sync). Starts a real `scimkit serve` process, seeds it over HTTP with
 * `seed()` (100,000 users, 1,000 groups of 10 and one group holding every user; a second organization with 10,000
 * users, 100 groups and a 10,000-member group), then measures, each sync in its own child process:
 * - full sync into SQLite and into PostgreSQL: records/s (SCIM resources), rows/s (users + groups + memberships),
 *   wall time and peak RSS (the child's maxRSS), at 10,000 and at 100,000 users;
 * - an incremental sync after 1% of the users changed: requests made and time;
 * - with the organization's read limit at 10 requests/s: achieved request rate as a share of the limit, and 429s,
 *   for a full sync at 100 records per page (so that the limit, not the server, sets the pace) and for an
 *   incremental one after another 1% changed;
 * - the three ways of running on the smaller organization (bench/platforms.ts): `scimkit sync`, `scimkit airbyte
 *   read` and `scimkit fivetran` (an Update from a gRPC client here), full and incremental, records/s and peak RSS.
 * Seeding writes everything within a minute or two; the connector's cursor keeps a 60 s lookback, so the bench waits
 * out the lookback and then changes one user ("the latest change"), as in an organization where changes trickle
 * in; otherwise the first incremental run would re-read every user seeded in the last minute.
 *
 * `--only=platforms` runs just that comparison on one organization of --users users (default 20,000), in --rounds
 * rounds (default 3).
 * `--only=destinations` runs just the full syncs into each destination (--dialects), at --users users and a tenth of
 * that, in --rounds rounds (default 3) in rotated order, and reports medians, CPU per record and the RSS ratio.
 * `--only=speed` is issue 16's speed comparison: one organization of --users users (default 20,000; users/100 groups
 * of 10 and one group of all of them), full syncs by the compiled `scimkit sync` (its own process each, a fresh
 * destination each) into each of --dialects, --rounds rounds (default 5) in rotated order. It reports medians of the
 * engine's wall time and the process's (spawn to exit), records/s over each, the process's CPU (user + system, start
 * included) in all and per record, and its peak RSS, with the load average before and after. --baseline=DIR also
 * runs the scimkit of another built checkout (an earlier commit) in the same rounds, for before/after ratios
 * measured side by side. With SQLite, sync-floor.mjs runs in the same rounds: the least a full sync of the same
 * tables costs on this stack, which the CPU per record is compared with; and with --users-only, the least peak RSS.
 * Options (flags or environment): --users=N (SCIMKIT_BENCH_USERS, default 100000), --page=N (max_records_per_page,
 * default 1000), --dialects=sqlite,postgres,duckdb. PostgreSQL: SCIMKIT_BENCH_POSTGRES_URL, else a throwaway server from
 * scripts/services.mjs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig } from '../src/connector/config.ts';
import { HttpClient } from '../src/connector/http.ts';
import { createLogger, createRedactor, silentLogger } from '../src/connector/log.ts';
import type { ProgressSink, SyncSummary } from '../src/connector/progress.ts';
import { runSync } from '../src/connector/sync.ts';
import { BULK_REQUEST_SCHEMA, PATCH_OP_SCHEMA } from '../src/scim/schema/core.ts';
import { compareWays, median, runCli, runFloor, WAYS_HEADER, type WayRun } from './platforms.ts';

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

interface ChildResult {
  summary: SyncSummary;
  maxRssMb: number;
  /** Largest JS heap in use (plus external buffers), sampled every 10 ms: what the sync really holds. */
  maxHeapMb: number;
  /** The same, per stream (users, groups). */
  streamHeapMb?: Record<string, number>;
  /** CPU time of the whole child process (user + system), module loading included. */
  cpuMs?: number;
}

/** Child mode: one sync with the given config, reporting its summary and the process's peak RSS. */
async function child(configJson: string): Promise<void> {
  if (configJson === 'baseline') {
    // The same modules loaded, no sync: what the process costs before reading anything.
    const m = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, maxHeapMb: (m.heapUsed + m.external) / 1048576 })}\n`);
    return;
  }
  let maxHeap = 0;
  let stream = 'probe';
  const perStream: Record<string, number> = {};
  const sample = () => {
    const m = process.memoryUsage();
    const used = (m.heapUsed + m.external) / 1048576;
    maxHeap = Math.max(maxHeap, used);
    perStream[stream] = Math.max(perStream[stream] ?? 0, used);
  };
  const sampler = setInterval(sample, 10);
  const progress: ProgressSink = {
    phase: (name) => {
      sample();
      stream = name;
    },
    update: () => {},
    finish: () => sample(),
    stop: () => {},
  };
  const summary = await runSync({ config: parseConfig(JSON.parse(configJson)), logger: silentLogger, progress });
  clearInterval(sampler);
  sample();
  const cpu = process.cpuUsage();
  const result: ChildResult = { summary, maxRssMb: process.resourceUsage().maxRSS / 1024, maxHeapMb: maxHeap, streamHeapMb: perStream, cpuMs: (cpu.user + cpu.system) / 1000 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(config: Record<string, unknown> | 'baseline'): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const arg = config === 'baseline' ? config : JSON.stringify(config);
    const c = spawn(process.execPath, ['--import', 'tsx', 'bench/sync.ts', '--child', arg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() as string) as ChildResult) : reject(new Error(`sync child failed (${code}): ${err}`))));
  });
}

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/scimkit.mjs', ...args], { encoding: 'utf8' });

async function startServer(db: string): Promise<{ child: ChildProcess; origin: string }> {
  const c = spawn(process.execPath, ['bin/scimkit.mjs', 'serve', '--db', db, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const origin = await new Promise<string>((resolve, reject) => {
    c.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    c.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  return { child: c, origin };
}

async function stopServer(s: { child: ChildProcess }): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

function createOrg(db: string, name: string): { id: string; token: string } {
  const r = cli(['orgs', 'create', name, '--json', '--db', db, '--read-limit', '100000', '--write-limit', '100000']);
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { id: string; token: string };
}

function setReadLimit(db: string, orgId: string, limit: number): void {
  const r = cli(['orgs', 'update', orgId, '--read-limit', String(limit), '--db', db]);
  if (r.status !== 0) throw new Error(r.stderr);
}

async function freshPostgres(baseUrl: string): Promise<string> {
  const name = `scimkit_bench_sync_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Changes the title of users (or the displayName of groups) through /Bulk PATCH operations (1,000 per request). */
async function changeUsers(base: string, token: string, ids: readonly string[], endpoint = '/Users'): Promise<void> {
  const http = new HttpClient({ baseUrl: base, token, timeoutMs: 60_000, retryAttempts: 5, logger: silentLogger, redact: createRedactor([token]) });
  try {
    for (let i = 0; i < ids.length; i += 1000) {
      const ops = ids.slice(i, i + 1000).map((id) => ({
        method: 'PATCH', path: `${endpoint}/${id}`,
        data: { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: endpoint === '/Users' ? 'title' : 'displayName', value: `Changed ${i}` }] },
      }));
      await http.request('POST', '/Bulk', { body: { schemas: [BULK_REQUEST_SCHEMA], Operations: ops } });
    }
  } finally {
    await http.close();
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function rows(s: SyncSummary): number {
  return Object.values(s.tables).reduce((a, t) => a + t.inserted + t.updated + t.unchanged, 0);
}

/**
 * Two syncs of one organization at once under a read limit of 10 requests/s (--only=shared): each sync's achieved
 * request rate, its 429s and its wall time, at the default rate_limit_share and at 1 (all of the limit each).
 */
async function sharedBudget(users: number): Promise<string[]> {
  const { seed } = await import('../src/connector/seed.ts');
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-shared-'));
  const db = join(dir, 'server.db');
  const org = createOrg(db, 'bench-shared');
  let server = await startServer(db);
  let base = `${server.origin}/scim/v2/organizations/${org.id}`;
  const lines: string[] = [];
  try {
    await seed({ baseUrl: base, token: org.token, users, groups: Math.max(1, Math.round(users / 100)), membersPerGroup: 10, bigGroupMembers: 0, seed: 7, concurrency: 2, logger: silentLogger });
    await stopServer(server);
    setReadLimit(db, org.id, 10);
    server = await startServer(db);
    base = `${server.origin}/scim/v2/organizations/${org.id}`;
    lines.push(`| rate_limit_share | sync | requests | wall s | requests/s | share of the limit | 429s |`);
    lines.push(`|---:|---:|---:|---:|---:|---:|---:|`);
    for (const share of [undefined, 1]) {
      const runs = await Promise.all([1, 2].map((n) => runChild({
        bearer_token: org.token, provider: 'scim', base_url: base, destination: `sqlite:${join(dir, `shared-${share ?? 'default'}-${n}.db`)}`,
        max_records_per_page: 100, ...(share === undefined ? {} : { rate_limit_share: share }),
      })));
      runs.forEach((r, i) => {
        const s = r.summary;
        const rate = s.requests / (s.wallMs / 1000);
        lines.push(`| ${share ?? '0.8 (default)'} | ${i + 1} | ${s.requests} | ${fmt(s.wallMs / 1000, 1)} | ${fmt(rate, 2)} | ${fmt((rate / 10) * 100, 1)}% | ${s.throttled} |`);
      });
      // Both syncs compete for the same windows; wait for the limit to settle before the next pair.
      await new Promise((r) => setTimeout(r, 2000));
    }
  } finally {
    await stopServer(server).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

/**
 * --only=platforms: one organization of `users` users, `users`/100 groups of 10 and one group holding every user,
 * and the three ways of running on it (bench/platforms.ts) in `rounds` rounds, full and then incremental after 1%
 * of users changed.
 */
async function platformsOnly(users: number, page: number, rounds: number): Promise<string[]> {
  const { seed } = await import('../src/connector/seed.ts');
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-ways-'));
  const db = join(dir, 'server.db');
  const org = createOrg(db, 'bench-ways');
  const server = await startServer(db);
  const base = `${server.origin}/scim/v2/organizations/${org.id}`;
  try {
    const r = await seed({ baseUrl: base, token: org.token, users, groups: Math.max(1, Math.round(users / 100)), membersPerGroup: 10, bigGroupMembers: users, seed: 7, concurrency: 2, logger: silentLogger });
    // Past the cursor's 60 s lookback, so the incremental runs read what changed, not the whole seeding.
    await new Promise((resolve) => setTimeout(resolve, 61_000));
    await changeUsers(base, org.token, [r.userIds[r.userIds.length - 1]]);
    const config = { bearer_token: org.token, provider: 'scim', base_url: base, max_records_per_page: page };
    const rows = await compareWays({ config, users, dir, rounds, change: async (round) => {
      const changed = r.userIds.filter((_, i) => i % 100 === round);
      await changeUsers(base, org.token, changed);
      return `${fmt(changed.length)} users changed before each`;
    } });
    return [...WAYS_HEADER, ...rows];
  } finally {
    await stopServer(server).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PostgreSQL the bench writes to when --dialects names it: SCIMKIT_BENCH_POSTGRES_URL, or a throwaway server. */
async function postgresFor(dialects: readonly string[]): Promise<{ url: string | null; stop: (() => Promise<void>) | null }> {
  const given = process.env.SCIMKIT_BENCH_POSTGRES_URL ?? null;
  if (!dialects.includes('postgres') || given) return { url: given, stop: null };
  const services = (await import(new URL('../scripts/services.mjs', import.meta.url).href)) as { startPostgres(): Promise<{ url: string; stop(): Promise<void> } | null> };
  const started = await services.startPostgres();
  if (!started) throw new Error('PostgreSQL is not installed: leave it out of --dialects');
  return { url: started.url, stop: started.stop };
}

/**
 * --only=destinations: full syncs into each destination of `dialects`, at `users` users (users/100 groups of 10 and
 * one group holding every user) and at a tenth of that, each a fresh child process and a fresh destination, in `rounds`
 * rounds whose order rotates (the machine is shared). Reports medians (the rounds' values in parentheses for
 * records/s), the process's CPU per record read, and peak RSS at `users` against a tenth of it.
 */
async function destinationsOnly(users: number, page: number, rounds: number, dialects: readonly string[]): Promise<string[]> {
  const { seed } = await import('../src/connector/seed.ts');
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-dest-'));
  const db = join(dir, 'server.db');
  const small = Math.max(1, Math.round(users / 10));
  const orgs = [small, users].map((size) => ({ size, org: createOrg(db, `bench-${size}`), groups: Math.max(1, Math.round(size / 100)) }));
  const { url: pgUrl, stop: pgStop } = await postgresFor(dialects);
  const server = await startServer(db);
  const base = (orgId: string) => `${server.origin}/scim/v2/organizations/${orgId}`;
  const lines: string[] = [];
  try {
    for (const o of orgs) {
      await seed({ baseUrl: base(o.org.id), token: o.org.token, users: o.size, groups: o.groups, membersPerGroup: 10, bigGroupMembers: o.size, seed: 7, concurrency: 2, logger: silentLogger });
    }
    const baseline = await runChild('baseline');
    const cells = dialects.flatMap((dialect) => orgs.map((o) => ({ dialect, o })));
    const results = new Map<string, ChildResult[]>(cells.map((c) => [`${c.dialect}/${c.o.size}`, []]));
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < cells.length; i++) {
        const { dialect, o } = cells[(i + round) % cells.length];
        const label = `r${n++}`;
        const destination = dialect === 'sqlite' ? `sqlite:${join(dir, `${label}.db`)}` : dialect === 'duckdb' ? `duckdb:${join(dir, `${label}.duckdb`)}` : await freshPostgres(pgUrl as string);
        const r = await runChild({ bearer_token: o.org.token, provider: 'scim', base_url: base(o.org.id), destination, max_records_per_page: page });
        results.get(`${dialect}/${o.size}`)?.push(r);
      }
    }
    lines.push(`a sync process that loads the modules and reads nothing: RSS ${fmt(baseline.maxRssMb)} MB, heap ${fmt(baseline.maxHeapMb)} MB`);
    lines.push('');
    lines.push('| destination | users | records | records/s (rounds) | rows/s | wall s | CPU s | CPU µs/record | peak RSS MB | peak heap MB: all / users / groups | requests |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const { dialect, o } of cells) {
      const runs = results.get(`${dialect}/${o.size}`) ?? [];
      const m = (f: (r: ChildResult) => number) => median(runs.map(f));
      const records = runs[0].summary.records;
      lines.push(`| ${dialect} | ${fmt(o.size)} | ${fmt(records)} | ${fmt(m((r) => r.summary.recordsPerSecond))} (${runs.map((r) => fmt(r.summary.recordsPerSecond)).join(', ')}) | ` +
        `${fmt(m((r) => rows(r.summary) / (r.summary.wallMs / 1000)))} | ${fmt(m((r) => r.summary.wallMs) / 1000, 1)} | ${fmt(m((r) => r.cpuMs ?? 0) / 1000, 1)} | ` +
        `${fmt(m((r) => ((r.cpuMs ?? 0) * 1000) / r.summary.records))} | ${fmt(m((r) => r.maxRssMb))} | ${fmt(m((r) => r.maxHeapMb))} / ${fmt(m((r) => r.streamHeapMb?.users ?? 0))} / ${fmt(m((r) => r.streamHeapMb?.groups ?? 0))} | ${runs[0].summary.requests} |`);
    }
    lines.push('');
    for (const dialect of dialects) {
      const rss = (size: number) => median((results.get(`${dialect}/${size}`) ?? []).map((r) => r.maxRssMb));
      lines.push(`${dialect}: peak RSS at ${fmt(users)} users against ${fmt(small)}: ${fmt(rss(users))} / ${fmt(rss(small))} MB = ${fmt(rss(users) / rss(small), 2)}x`);
    }
  } finally {
    await stopServer(server).catch(() => {});
    if (pgStop) await pgStop();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

const load = () => loadavg().map((n) => fmt(n, 1)).join(', ');

/** --only=speed: see the header. */
async function speedOnly(users: number, page: number, rounds: number, dialects: readonly string[], baseline: string | null): Promise<string[]> {
  const { seed } = await import('../src/connector/seed.ts');
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-speed-'));
  const db = join(dir, 'server.db');
  const org = createOrg(db, 'bench-speed');
  const { url: pgUrl, stop: pgStop } = await postgresFor(dialects);
  const server = await startServer(db);
  const base = `${server.origin}/scim/v2/organizations/${org.id}`;
  const lines: string[] = [];
  try {
    await seed({ baseUrl: base, token: org.token, users, groups: Math.max(1, Math.round(users / 100)), membersPerGroup: 10, bigGroupMembers: users, seed: 7, concurrency: 2, logger: silentLogger });
    const config = { bearer_token: org.token, provider: 'scim', base_url: base, max_records_per_page: page };
    // Each cell: a destination, run by this checkout's scimkit or the baseline's; and with SQLite, sync-floor.mjs, whole
    // and with the users alone (the memory floor).
    type Cell = { dialect: string; name: string; bin?: string; floor?: 'all' | 'users' };
    const cells: Cell[] = dialects.flatMap((dialect) => [
      { dialect, name: dialect },
      ...(baseline ? [{ dialect, bin: join(baseline, 'bin/scimkit.mjs'), name: `${dialect}, baseline` }] : []),
      ...(dialect === 'sqlite' ? [{ dialect, name: 'sqlite, floor', floor: 'all' as const }, { dialect, name: 'sqlite, memory floor (users only)', floor: 'users' as const }] : []),
    ]);
    const results = new Map<string, WayRun[]>(cells.map((c) => [c.name, []]));
    // The floor copies the tables of the first SQLite file this checkout's sync wrote (its cell comes first in round 0).
    let template = '';
    const loadBefore = load();
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < cells.length; i++) {
        const { dialect, bin, name, floor } = cells[(i + round) % cells.length];
        const label = `speed-${n++}`;
        if (floor) {
          const run = await runFloor(config, dir, label, template, floor === 'users');
          // A floor that read less than the sync measures less work: it once skipped what followed a page that the
          // server's byte budget ended early, and looked faster for it.
          const want = floor === 'users' ? users : results.get('sqlite')?.[0]?.resources;
          if (run.resources !== want) throw new Error(`${name} read ${run.resources} resources where the sync read ${want}`);
          results.get(name)?.push(run);
          continue;
        }
        const destination = dialect === 'sqlite' ? `sqlite:${join(dir, `${label}.db`)}` : dialect === 'duckdb' ? `duckdb:${join(dir, `${label}.duckdb`)}` : await freshPostgres(pgUrl as string);
        results.get(name)?.push(await runCli(config, dir, label, destination, bin));
        if (dialect === 'sqlite' && !bin && !template) template = join(dir, `${label}.db`);
      }
    }
    lines.push(`load average (1, 5, 15 min) before the syncs: ${loadBefore}; after: ${load()}`);
    lines.push('');
    lines.push('| destination | records | engine wall s | records/s (engine) | process wall s | records/s (process) | CPU s (rounds) | CPU µs/record | peak RSS MiB (rounds) |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const { name } of cells) {
      const runs = results.get(name) ?? [];
      const m = (f: (r: WayRun) => number) => median(runs.map(f));
      const records = runs[0].resources;
      lines.push(`| ${name} | ${fmt(records)} | ${fmt(m((r) => r.wallMs) / 1000, 2)} | ${fmt(m((r) => r.resources / (r.wallMs / 1000)))} | ` +
        `${fmt(m((r) => r.processMs) / 1000, 2)} | ${fmt(m((r) => r.resources / (r.processMs / 1000)))} | ` +
        `${fmt(m((r) => r.cpuMs) / 1000, 2)} (${runs.map((r) => fmt(r.cpuMs / 1000, 2)).join(', ')}) | ${fmt(m((r) => (r.cpuMs * 1000) / r.resources))} | ` +
        `${fmt(m((r) => r.maxRssMb))} (${runs.map((r) => fmt(r.maxRssMb)).join(', ')}) |`);
    }
    if (dialects.includes('sqlite')) {
      const cpu = (name: string) => median((results.get(name) ?? []).map((r) => r.cpuMs));
      lines.push('');
      const rss = (name: string) => median((results.get(name) ?? []).map((r) => r.maxRssMb));
      lines.push(`sqlite, this checkout's CPU against the floor's (sync-floor.mjs): ${fmt(cpu('sqlite') / cpu('sqlite, floor'), 2)}x`);
      lines.push(`sqlite, this checkout's peak RSS against the memory floor's (sync-floor.mjs --users-only, 16 MiB young generation): ${fmt(rss('sqlite') / rss('sqlite, memory floor (users only)'), 2)}x`);
    }
    if (baseline) {
      lines.push('');
      for (const dialect of dialects) {
        const of = (name: string, f: (r: WayRun) => number) => median((results.get(name) ?? []).map(f));
        const ratio = (f: (r: WayRun) => number) => fmt(of(dialect, f) / of(`${dialect}, baseline`, f), 2);
        lines.push(`${dialect}, this checkout against the baseline: CPU ${ratio((r) => r.cpuMs)}x, engine wall ${ratio((r) => r.wallMs)}x, process wall ${ratio((r) => r.processMs)}x, peak RSS ${ratio((r) => r.maxRssMb)}x`);
      }
    }
  } finally {
    await stopServer(server).catch(() => {});
    if (pgStop) await pgStop();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

async function main(): Promise<void> {
  if (option('only', 'SCIMKIT_BENCH_ONLY', '') === 'speed') {
    const dialects = option('dialects', 'SCIMKIT_BENCH_DIALECTS', 'sqlite,postgres,duckdb').split(',');
    const baseline = option('baseline', 'SCIMKIT_BENCH_BASELINE', '') || null;
    const lines = await speedOnly(Number(option('users', 'SCIMKIT_BENCH_USERS', '20000')), Number(option('page', 'SCIMKIT_BENCH_PAGE', '1000')), Number(option('rounds', 'SCIMKIT_BENCH_ROUNDS', '5')), dialects, baseline);
    process.stdout.write(`\n${lines.join('\n')}\n`);
    return;
  }
  if (option('only', 'SCIMKIT_BENCH_ONLY', '') === 'platforms') {
    const lines = await platformsOnly(Number(option('users', 'SCIMKIT_BENCH_USERS', '20000')), Number(option('page', 'SCIMKIT_BENCH_PAGE', '1000')), Number(option('rounds', 'SCIMKIT_BENCH_ROUNDS', '3')));
    process.stdout.write(`\n${lines.join('\n')}\n`);
    return;
  }
  if (option('only', 'SCIMKIT_BENCH_ONLY', '') === 'destinations') {
    const dialects = option('dialects', 'SCIMKIT_BENCH_DIALECTS', 'sqlite,postgres,duckdb').split(',');
    const lines = await destinationsOnly(Number(option('users', 'SCIMKIT_BENCH_USERS', '100000')), Number(option('page', 'SCIMKIT_BENCH_PAGE', '1000')), Number(option('rounds', 'SCIMKIT_BENCH_ROUNDS', '3')), dialects);
    process.stdout.write(`\n${lines.join('\n')}\n`);
    return;
  }
  if (option('only', 'SCIMKIT_BENCH_ONLY', '') === 'shared') {
    const lines = await sharedBudget(Number(option('users', 'SCIMKIT_BENCH_USERS', '2000')));
    process.stdout.write(`\n${lines.join('\n')}\n`);
    return;
  }
  // Loaded here so the sync children, whose RSS is measured, never load faker.
  const { seed } = await import('../src/connector/seed.ts');
  const USERS = Number(option('users', 'SCIMKIT_BENCH_USERS', '100000'));
  const SMALL = Math.max(1, Math.round(USERS / 10));
  const PAGE = Number(option('page', 'SCIMKIT_BENCH_PAGE', '1000'));
  const dialects = option('dialects', 'SCIMKIT_BENCH_DIALECTS', 'sqlite,postgres,duckdb').split(',');
  const log = createLogger({ debug: false, redact: (s) => s });
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-sync-'));
  const db = join(dir, 'server.db');
  let pgStop: (() => Promise<void>) | null = null;
  let pgUrl = process.env.SCIMKIT_BENCH_POSTGRES_URL ?? null;
  if (dialects.includes('postgres') && !pgUrl) {
    const servicesPath = new URL('../scripts/services.mjs', import.meta.url).href;
    const services = (await import(servicesPath)) as { startPostgres(): Promise<{ url: string; stop(): Promise<void> } | null> };
    const started = await services.startPostgres();
    if (started) {
      pgUrl = started.url;
      pgStop = started.stop;
    } else log.warn('PostgreSQL is not installed: its figures are skipped');
  }
  const big = createOrg(db, 'bench-big');
  const small = createOrg(db, 'bench-small');
  let server = await startServer(db);
  const baseOf = (orgId: string) => `${server.origin}/scim/v2/organizations/${orgId}`;
  const lines: string[] = [];
  const report = (line: string) => {
    lines.push(line);
    log.info(line);
  };
  try {
    const seeded: Record<string, string[]> = {};
    const seededGroups: Record<string, string[]> = {};
    for (const [org, users, groups] of [[small, SMALL, Math.max(1, Math.round(1000 * SMALL / USERS))], [big, USERS, 1000]] as const) {
      const t0 = Date.now();
      const r = await seed({ baseUrl: baseOf(org.id), token: org.token, users, groups, membersPerGroup: 10, bigGroupMembers: users, seed: 7, concurrency: 2, logger: silentLogger });
      seeded[org.id] = r.userIds;
      seededGroups[org.id] = r.groupIds;
      log.info(`seeded ${fmt(users)} users, ${groups + 1} groups (one of ${fmt(users)} members) in ${fmt((Date.now() - t0) / 1000, 1)} s with ${r.requests} requests`);
    }
    log.info('waiting out the 60 s cursor lookback, then making the latest change');
    await new Promise((r) => setTimeout(r, 61_000));
    for (const org of [small, big]) {
      await changeUsers(baseOf(org.id), org.token, [seeded[org.id][seeded[org.id].length - 1]]);
      await changeUsers(baseOf(org.id), org.token, [seededGroups[org.id][0]], '/Groups');
    }
    const baseline = await runChild('baseline');

    const config = (org: { id: string; token: string }, destination: string, page = PAGE) => ({
      bearer_token: org.token, provider: 'scim', base_url: baseOf(org.id), destination, max_records_per_page: page,
    });
    const destinationFor = async (dialect: string, label: string) => {
      if (dialect === 'sqlite') return `sqlite:${join(dir, `${label}.db`)}`;
      if (dialect === 'duckdb') return `duckdb:${join(dir, `${label}.duckdb`)}`;
      return freshPostgres(pgUrl as string);
    };

    report(`a sync process that loads the modules and reads nothing: RSS ${fmt(baseline.maxRssMb)} MB, heap ${fmt(baseline.maxHeapMb)} MB`);
    report('');
    report(`| destination | users | records/s | rows/s | wall s | peak RSS MB | peak heap MB: all / users / groups | requests |`);
    report(`|---|---:|---:|---:|---:|---:|---:|---:|`);
    let bigSqlite = '';
    for (const dialect of dialects) {
      if (dialect === 'postgres' && !pgUrl) continue;
      for (const [org, users] of [[small, SMALL], [big, USERS]] as const) {
        const dest = await destinationFor(dialect, `full-${users}`);
        if (dialect === 'sqlite' && org === big) bigSqlite = dest;
        const r = await runChild(config(org, dest));
        const s = r.summary;
        report(`| ${dialect} | ${fmt(users)} | ${fmt(s.recordsPerSecond)} | ${fmt(rows(s) / (s.wallMs / 1000))} | ${fmt(s.wallMs / 1000, 1)} | ${fmt(r.maxRssMb)} | ${fmt(r.maxHeapMb)} / ${fmt(r.streamHeapMb?.users ?? 0)} / ${fmt(r.streamHeapMb?.groups ?? 0)} | ${s.requests} |`);
      }
    }

    // The three ways of running (CLI, Airbyte, Fivetran) on the small organization, full and then incremental.
    report('');
    for (const line of WAYS_HEADER) report(line);
    const smallConfig = { bearer_token: small.token, provider: 'scim', base_url: baseOf(small.id), max_records_per_page: PAGE };
    for (const line of await compareWays({ config: smallConfig, users: SMALL, dir, rounds: 3, change: async (round) => {
      const changed = seeded[small.id].filter((_, i) => i % 100 === round);
      await changeUsers(baseOf(small.id), small.token, changed);
      return `${fmt(changed.length)} users changed before each`;
    } })) report(line);

    // 1% of the users change; the next sync reads the changes, then lists ids to find deletes.
    const changed = seeded[big.id].filter((_, i) => i % 100 === 0);
    await changeUsers(baseOf(big.id), big.token, changed);
    const inc = await runChild(config(big, bigSqlite));
    report('');
    report(`incremental after ${fmt(changed.length)} of ${fmt(USERS)} users changed (sqlite, ${PAGE} per page): ${inc.summary.requests} requests, ${fmt(inc.summary.wallMs / 1000, 1)} s, ` +
      `users updated ${fmt(inc.summary.tables.users.updated)}, re-read unchanged ${fmt(inc.summary.tables.users.unchanged)}, peak RSS ${fmt(inc.maxRssMb)} MB`);

    // The same org under a read limit of 10 requests per second (the server reads settings at start).
    await stopServer(server);
    setReadLimit(db, big.id, 10);
    server = await startServer(db);
    const limitedDest = await destinationFor('sqlite', 'limited');
    const full = await runChild(config(big, limitedDest, 100));
    const rate = full.summary.requests / (full.summary.wallMs / 1000);
    report(`at a 10 requests/s read limit, full sync of ${fmt(USERS)} users at 100 per page: ${full.summary.requests} requests in ${fmt(full.summary.wallMs / 1000, 1)} s = ` +
      `${fmt(rate, 2)} requests/s (${fmt((rate / 10) * 100, 1)}% of the limit), ${full.summary.throttled} 429s, ${full.summary.retries} retries`);
    await changeUsers(baseOf(big.id), big.token, seeded[big.id].filter((_, i) => i % 100 === 1));
    const limitedInc = await runChild(config(big, limitedDest));
    const incRate = limitedInc.summary.requests / (limitedInc.summary.wallMs / 1000);
    report(`at a 10 requests/s read limit, incremental after a 1% change (${PAGE} per page): ${limitedInc.summary.requests} requests in ${fmt(limitedInc.summary.wallMs / 1000, 1)} s = ` +
      `${fmt(incRate, 2)} requests/s (${fmt((incRate / 10) * 100, 1)}% of the limit), ${limitedInc.summary.throttled} 429s`);
  } finally {
    await stopServer(server).catch(() => {});
    if (pgStop) await pgStop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
}

const childIndex = process.argv.indexOf('--child');
if (childIndex >= 0) await child(process.argv[childIndex + 1]);
else await main();
