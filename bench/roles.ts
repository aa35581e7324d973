/**
 * Roles benchmark (npm run bench:roles), on SQLite and PostgreSQL, at N users (default 100,000):
 *
 * 1. A new rule on a group of N members ("Engineering" to `editor`, every member moving from the default `viewer`):
 *    the time of POST /role-mappings on a `scimkit serve` process (it answers once every user is recomputed and
 *    every `user.roles_changed` event written), while two clients keep sending SCIM requests (GET /Users/{id}, and
 *    PATCH adding and removing a member of a small group): their latencies during the recomputation, against the
 *    same clients just before it. Then the rule's removal, the same way.
 * 2. Listing users by role through the directory API, against listing without a filter: the first page of 100,
 *    and a walk over every page of 1,000; for the role N users hold and for one 1% hold.
 * 3. Through the Store API (as bench:store): adding one member to the mapped N-member group and removing it again,
 *    against the same on an unmapped group of N members, interleaved in one run.
 *
 * Beside each recomputation's wall time, the CPU seconds it took: of the serve process, of the PostgreSQL server
 * (postmaster and backends) and of this process (the SCIM clients), from /proc, so that a run on a loaded machine
 * still tells what the work costs.
 *
 * Options (flags or environment): --users=N (SCIMKIT_BENCH_USERS), --dialects=sqlite,postgres
 * (SCIMKIT_BENCH_DIALECTS). PostgreSQL: SCIMKIT_BENCH_POSTGRES_URL, else a throwaway server from scripts/services.mjs.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parsePatchOperations } from '../src/scim/patch/index.ts';
import { GROUP, GROUP_SCHEMA, PATCH_OP_SCHEMA } from '../src/scim/schema/index.ts';
import { openStore, SqlStore } from '../src/store/index.ts';
import { benchUser } from './fixtures.ts';

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

const USERS = Number(option('users', 'SCIMKIT_BENCH_USERS', '100000'));
const DIALECTS = option('dialects', 'SCIMKIT_BENCH_DIALECTS', 'sqlite,postgres').split(',');
const RARE = Math.max(1, Math.floor(USERS / 100));
const OUTSIDERS = 300;
const BATCH = 10_000;
const RAISED_LIMIT = 1_000_000;
const BIN = new URL('../bin/scimkit.mjs', import.meta.url).pathname;

const memberOps = (operations: unknown[]) => parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: operations }, GROUP);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Stats {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly n: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0, n: sorted.length };
}

const ms = (x: number) => `${x.toFixed(2)} ms`;
const show = (what: string, s: Stats) => console.log(`  ${what.padEnd(58)} p50 ${ms(s.p50).padStart(9)}  p99 ${ms(s.p99).padStart(9)}  max ${ms(s.max).padStart(9)}  (n=${s.n})`);

/** A process's /proc/PID/stat fields after the command name ([0] is field 3, the state), or null once it is gone. */
function procStat(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds (utime + stime, fields 14 and 15, in ticks of 1/100 s) of a process; with `reaped`, of its exited children too. */
function cpuSeconds(pid: number, reaped = false): number {
  const f = procStat(pid);
  if (!f) return 0;
  return (Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0)) / 100;
}

/** CPU seconds of a process and of its live children (PostgreSQL: the postmaster and its backends). */
function treeCpuSeconds(parent: number): number {
  let total = cpuSeconds(parent, true);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = procStat(Number(name));
    if (f && Number(f[1]) === parent) total += cpuSeconds(Number(name));
  }
  return total;
}

interface Target {
  readonly label: string;
  /** `--db FILE` or `--postgres URL` for the serve process. */
  readonly serveArgs: string[];
  open(): Promise<SqlStore>;
  /** One number from SQL (planner statistics, counts). */
  scalar(text: string): Promise<number>;
  analyze(): Promise<void>;
  /** CPU seconds the database server has used so far (0 for SQLite, which runs inside the serve process). */
  databaseCpu(): Promise<number>;
  dispose(): Promise<void>;
}

function sqliteTarget(dir: string): Target {
  const file = join(dir, 'roles.db');
  const query = (text: string) => {
    const db = new Database(file);
    try {
      const statement = db.prepare(text);
      return statement.reader ? (statement.get() as Record<string, number>) : (statement.run(), {});
    } finally {
      db.close();
    }
  };
  return {
    label: 'SQLite (better-sqlite3, WAL, synchronous=NORMAL)',
    serveArgs: ['--db', file],
    open: async () => (await openStore({ sqlitePath: file })) as SqlStore,
    scalar: async (text) => Number(Object.values(query(text))[0]),
    analyze: async () => void query('ANALYZE'),
    databaseCpu: async () => 0,
    dispose: async () => {},
  };
}

async function postgresServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const given = process.env.SCIMKIT_BENCH_POSTGRES_URL;
  if (given) return { url: given, stop: async () => {} };
  const services = (await import(new URL('../scripts/services.mjs', import.meta.url).href)) as { startPostgres(): Promise<{ url: string; stop(): Promise<void> } | null> };
  const server = await services.startPostgres();
  if (!server) throw new Error('PostgreSQL is not installed; set SCIMKIT_BENCH_POSTGRES_URL or --dialects=sqlite');
  return server;
}

async function postgresTarget(serverUrl: string): Promise<Target> {
  const name = `scimkit_roles_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const query = async (text: string) => {
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  };
  let postmaster: number | undefined;
  return {
    label: 'PostgreSQL 15 (pg pool of 10, server with fsync=off, synchronous_commit=off)',
    serveArgs: ['--postgres', url.toString()],
    open: async () => (await openStore({ postgresUrl: url.toString() })) as SqlStore,
    scalar: async (text) => Number(Object.values((await query(text)).rows[0] as Record<string, unknown>)[0]),
    analyze: async () => void (await query('VACUUM ANALYZE')),
    databaseCpu: async () => {
      // The postmaster is the parent of any backend: read it while the backend lives.
      if (postmaster === undefined) {
        const client = new pg.Client({ connectionString: url.toString() });
        await client.connect();
        try {
          const backend = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
          postmaster = Number(procStat(backend)?.[1]);
        } finally {
          await client.end();
        }
      }
      return treeCpuSeconds(postmaster);
    },
    dispose: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}

interface Loaded {
  readonly orgId: string;
  readonly token: string;
  readonly key: string;
  readonly userIds: string[];
  readonly outsiders: string[];
  readonly mapped: string;
  readonly unmapped: string;
  readonly small: string;
}

async function fillGroup(store: SqlStore, org: string, group: string, ids: readonly string[]): Promise<void> {
  for (let from = 0; from < ids.length; from += 1000) {
    await store.patch(org, 'Group', group, memberOps([{ op: 'add', path: 'members', value: ids.slice(from, from + 1000).map((value) => ({ value })) }]));
  }
}

/** N users (each with the default role `viewer`), two groups of all of them, a 1% group mapped to `admin`. */
async function load(store: SqlStore): Promise<Loaded> {
  const org = await store.createOrganization('bench', { readLimit: RAISED_LIMIT, writeLimit: RAISED_LIMIT });
  const { secret: token } = await store.createToken(org.id, { scope: 'read-write' });
  const { secret: key } = await store.createManagementKey({ orgId: org.id });
  await store.updateRoleCatalogue(org.id, { define: [{ key: 'admin' }, { key: 'editor' }, { key: 'viewer' }], defaultRole: 'viewer' });
  let started = performance.now();
  const userIds: string[] = [];
  for (let from = 0; from < USERS + OUTSIDERS; from += BATCH) {
    const docs = Array.from({ length: Math.min(BATCH, USERS + OUTSIDERS - from) }, (_, k) => ({ ...benchUser(from + k), active: true }));
    userIds.push(...(await store.bulkCreate(org.id, 'User', docs)));
  }
  const outsiders = userIds.splice(USERS);
  console.log(`  loaded ${(USERS + OUTSIDERS).toLocaleString('en')} users, each given the default role with its event, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  started = performance.now();
  const group = (name: string) => store.create(org.id, 'Group', { schemas: [GROUP_SCHEMA], displayName: name });
  const mapped = (await group('Engineering')).id;
  const unmapped = (await group('Everyone')).id;
  const small = (await group('Small')).id;
  const auditors = (await group('Auditors')).id;
  await fillGroup(store, org.id, mapped, userIds);
  await fillGroup(store, org.id, unmapped, userIds);
  await fillGroup(store, org.id, auditors, userIds.slice(0, RARE));
  await store.createRoleMapping(org.id, { group: { by: 'id', value: auditors }, roles: ['admin'] });
  console.log(`  filled two groups of ${USERS.toLocaleString('en')} and one of ${RARE.toLocaleString('en')} (mapped to admin) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { orgId: org.id, token, key, userIds, outsiders, mapped, unmapped, small };
}

async function startServe(args: string[], logPath: string): Promise<{ child: ChildProcess; origin: string }> {
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'warn', ...args], { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(readFileSync(logPath, 'utf8'));
    if (m) return { child, origin: m[1] };
    if (exited) throw new Error(`serve exited before listening:\n${readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function request(url: string, token: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

/** Two SCIM clients in a loop until `until` resolves: GET a random user; PATCH a member into and out of a small group. */
async function scimLoad(base: string, loaded: Loaded, until: Promise<unknown>): Promise<{ reads: number[]; writes: number[]; failures: number }> {
  let done = false;
  void until.finally(() => (done = true));
  const reads: number[] = [];
  const writes: number[] = [];
  let failures = 0;
  const reader = async () => {
    for (let i = 0; !done; i++) {
      const id = loaded.userIds[(i * 7919) % loaded.userIds.length];
      const start = performance.now();
      const res = await request(`${base}/Users/${id}`, loaded.token);
      reads.push(performance.now() - start);
      if (res.status !== 200) failures++;
    }
  };
  const writer = async () => {
    for (let i = 0; !done; i++) {
      const member = loaded.outsiders[i % loaded.outsiders.length];
      const op = i % 2 === 0 ? { op: 'add', path: 'members', value: [{ value: member }] } : { op: 'remove', path: `members[value eq "${member}"]` };
      const start = performance.now();
      const res = await request(`${base}/Groups/${loaded.small}`, loaded.token, 'PATCH', { schemas: [PATCH_OP_SCHEMA], Operations: [op] });
      writes.push(performance.now() - start);
      if (res.status !== 204) failures++;
    }
  };
  await Promise.all([reader(), writer(), until]);
  return { reads, writes, failures };
}

async function walk(api: string, key: string, query: string): Promise<number> {
  let url = `${api}/users?limit=1000${query}`;
  let n = 0;
  for (;;) {
    const res = await request(url, key);
    if (res.status !== 200) throw new Error(`directory list failed: ${res.status} ${JSON.stringify(res.json)}`);
    n += res.json.data.length;
    if (res.json.next_cursor === null) return n;
    url = `${api}/users?limit=1000${query}&after=${res.json.next_cursor}`;
  }
}

async function benchDialect(target: Target, dir: string): Promise<void> {
  console.log(`\n${target.label}`);
  let store = await target.open();
  const loaded = await load(store);
  await target.analyze();
  await store.close();

  const served = await startServe(target.serveArgs, join(dir, `serve-${randomBytes(3).toString('hex')}.log`));
  try {
    const base = `${served.origin}/scim/v2/organizations/${loaded.orgId}`;
    const api = `${served.origin}/api/v1/organizations/${loaded.orgId}`;
    const eventsBefore = await target.scalar(`SELECT COUNT(*) AS n FROM events WHERE type = 'user.roles_changed'`);

    // 1. A new rule on the N-member group, with SCIM traffic before (baseline) and during.
    const quiet = await scimLoad(base, loaded, new Promise((r) => setTimeout(r, 3000)));
    const servePid = served.child.pid ?? -1;
    const cpuNow = async () => ({ serve: cpuSeconds(servePid), database: await target.databaseCpu(), clients: process.cpuUsage() });
    const cpuSince = async (since: Awaited<ReturnType<typeof cpuNow>>) => {
      const now = await cpuNow();
      const clients = process.cpuUsage(since.clients);
      const database = target.label.startsWith('PostgreSQL') ? `, PostgreSQL ${(now.database - since.database).toFixed(1)} s` : '';
      return `    CPU meanwhile: serve ${(now.serve - since.serve).toFixed(1)} s${database}, the SCIM clients and this process ${((clients.user + clients.system) / 1e6).toFixed(1)} s`;
    };
    let cpu = await cpuNow();
    let started = performance.now();
    let ruleId = '';
    const creating = request(`${api}/role-mappings`, loaded.key, 'POST', { group: { display_name: 'Engineering' }, roles: ['editor'] }).then((res) => {
      if (res.status !== 201) throw new Error(`POST /role-mappings: ${res.status} ${JSON.stringify(res.json)}`);
      ruleId = res.json.id;
      return performance.now() - started;
    });
    const busy = await scimLoad(base, loaded, creating);
    const createMs = await creating;
    const createCpu = await cpuSince(cpu);
    const moved = (await target.scalar(`SELECT COUNT(*) AS n FROM events WHERE type = 'user.roles_changed'`)) - eventsBefore;
    const editors = await target.scalar(`SELECT COUNT(*) AS n FROM user_roles WHERE role_key = 'editor'`);
    console.log(`  new rule on the ${USERS.toLocaleString('en')}-member group: ${(createMs / 1000).toFixed(2)} s (${moved.toLocaleString('en')} user.roles_changed events, ${editors.toLocaleString('en')} editors)`);
    console.log(createCpu);
    show('  SCIM GET /Users/{id}, before', stats(quiet.reads));
    show('  SCIM GET /Users/{id}, during the recomputation', stats(busy.reads));
    show('  SCIM PATCH member of a small group, before', stats(quiet.writes));
    show('  SCIM PATCH member of a small group, during', stats(busy.writes));
    if (busy.failures + quiet.failures > 0) console.log(`  SCIM failures: ${busy.failures + quiet.failures}`);

    // 2. Listing by role against no filter (the role N users hold, and one 1% hold), the three interleaved so that
    // the machine's load falls on each alike.
    const rows: [string, string][] = [
      ['no filter', ''],
      ['role=editor', '&role=editor'],
      ['role=admin (1%)', '&role=admin'],
    ];
    const firstSamples = new Map<string, number[]>(rows.map(([label]) => [label, []]));
    for (let i = 0; i < 200; i++) {
      for (const [label, query] of rows) {
        const start = performance.now();
        const res = await request(`${api}/users?limit=100${query}`, loaded.key);
        (firstSamples.get(label) as number[]).push(performance.now() - start);
        if (res.status !== 200 || res.json.data.length === 0) throw new Error(`first page ${query}: ${res.status}`);
      }
    }
    const first = new Map<string, Stats>(rows.map(([label]) => [label, stats(firstSamples.get(label) as number[])]));
    for (const [label] of rows) show(`  GET /users?limit=100, first page, ${label}`, first.get(label) as Stats);
    const walks = new Map<string, number[]>();
    for (let round = 0; round < 3; round++) {
      for (const [label, query] of rows) {
        const start = performance.now();
        const n = await walk(api, loaded.key, query);
        const list = walks.get(label) ?? [];
        list.push(performance.now() - start);
        walks.set(label, list);
        if (round === 0) console.log(`  walk every page of 1,000, ${label}: ${n.toLocaleString('en')} users`);
      }
    }
    const median = (label: string) => stats(walks.get(label) as number[]).p50;
    for (const [label] of rows) console.log(`  walk, ${label}: median of 3 ${ms(median(label))} (${(median(label) / median('no filter')).toFixed(2)}x no filter)`);
    console.log(`  first page p50 ratio to no filter: role=editor ${((first.get('role=editor') as Stats).p50 / (first.get('no filter') as Stats).p50).toFixed(2)}x, role=admin ${((first.get('role=admin (1%)') as Stats).p50 / (first.get('no filter') as Stats).p50).toFixed(2)}x`);

    // The rule's removal: everyone back to the default role.
    cpu = await cpuNow();
    started = performance.now();
    const removing = request(`${api}/role-mappings/${ruleId}`, loaded.key, 'DELETE').then((res) => {
      if (res.status !== 204) throw new Error(`DELETE /role-mappings: ${res.status}`);
      return performance.now() - started;
    });
    const during = await scimLoad(base, loaded, removing);
    const removeCpu = await cpuSince(cpu);
    console.log(`  removing the rule: ${((await removing) / 1000).toFixed(2)} s`);
    console.log(removeCpu);
    show('  SCIM GET /Users/{id}, during', stats(during.reads));
    show('  SCIM PATCH member of a small group, during', stats(during.writes));
    // Map it again for the member benchmark.
    const again = await request(`${api}/role-mappings`, loaded.key, 'POST', { group: { id: loaded.mapped }, roles: ['editor'] });
    if (again.status !== 201) throw new Error('mapping again failed');
  } finally {
    await stopServe(served.child);
  }

  // 3. One member in and out of the mapped group and of the unmapped one (same size), interleaved.
  store = await target.open();
  try {
    const samples = { mappedAdd: [] as number[], mappedRemove: [] as number[], plainAdd: [] as number[], plainRemove: [] as number[] };
    const time = async (into: number[], fn: () => Promise<unknown>) => {
      const start = performance.now();
      await fn();
      into.push(performance.now() - start);
    };
    for (let round = 0; round < 2; round++) {
      for (const member of loaded.outsiders) {
        await time(samples.mappedAdd, () => store.patch(loaded.orgId, 'Group', loaded.mapped, memberOps([{ op: 'add', path: 'members', value: [{ value: member }] }])));
        await time(samples.plainAdd, () => store.patch(loaded.orgId, 'Group', loaded.unmapped, memberOps([{ op: 'add', path: 'members', value: [{ value: member }] }])));
        await time(samples.mappedRemove, () => store.patch(loaded.orgId, 'Group', loaded.mapped, memberOps([{ op: 'remove', path: `members[value eq "${member}"]` }])));
        await time(samples.plainRemove, () => store.patch(loaded.orgId, 'Group', loaded.unmapped, memberOps([{ op: 'remove', path: `members[value eq "${member}"]` }])));
      }
    }
    const roles = (await store.getDirectoryUser(loaded.orgId, loaded.outsiders[0]))?.roles;
    if (roles?.join() !== 'viewer') throw new Error(`expected the outsider back at viewer, got ${roles?.join()}`);
    show(`add one member, mapped group of ${USERS.toLocaleString('en')} (recomputes it)`, stats(samples.mappedAdd));
    show(`add one member, unmapped group of ${USERS.toLocaleString('en')}`, stats(samples.plainAdd));
    show(`remove one member, mapped group of ${USERS.toLocaleString('en')}`, stats(samples.mappedRemove));
    show(`remove one member, unmapped group of ${USERS.toLocaleString('en')}`, stats(samples.plainRemove));
  } finally {
    await store.close();
  }
}

console.log(`scimkit roles benchmark: ${USERS.toLocaleString('en')} users; Node ${process.version}, ${cpus().length} cores, ${new Date().toISOString()}`);
const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-roles-'));
try {
  for (const dialect of DIALECTS) {
    if (dialect === 'sqlite') {
      const target = sqliteTarget(dir);
      await benchDialect(target, dir);
      await target.dispose();
    } else if (dialect === 'postgres') {
      const server = await postgresServer();
      try {
        const target = await postgresTarget(server.url);
        try {
          await benchDialect(target, dir);
        } finally {
          await target.dispose();
        }
      } finally {
        await server.stop();
      }
    } else throw new Error(`unknown dialect ${dialect}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
