/**
 * Store benchmark (npm run bench:store): fills a SQLite file and a PostgreSQL database and prints
 * - the load rate of N users (default 1,000,000) through SqlStore.bulkCreate (multi-row INSERTs, 10,000 users per
 *   transaction, same document checks and hot columns as create), and of single store.create calls for comparison;
 * - p50/p99 of `userName eq` lookups through store.query with a parsed filter, at N users and at 1,000 users;
 * - p50/p99 of a page of 100 at startIndex N/2 (500,000 at the default size), totalResults included, and of the same
 *   page by RFC 9865 cursor, and of the first page;
 * - for a group with M members (default 100,000): p50/p99 of adding one member and removing one member through
 *   store.patch with member operations, and of reading the group without members.
 *
 * Options (flags or environment): --users=N (SCIMKIT_BENCH_USERS), --members=M (SCIMKIT_BENCH_MEMBERS),
 * --dialects=sqlite,postgres (SCIMKIT_BENCH_DIALECTS). PostgreSQL: SCIMKIT_BENCH_POSTGRES_URL, else a throwaway
 * server from scripts/services.mjs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseFilter } from '../src/scim/filter/index.ts';
import { parsePatchOperations } from '../src/scim/patch/index.ts';
import { GROUP, GROUP_SCHEMA, PATCH_OP_SCHEMA } from '../src/scim/schema/index.ts';
import { CREATED_SORT } from '../src/store/filter-sql.ts';
import { openStore, SqlStore } from '../src/store/index.ts';
import { encodeCursor } from '../src/store/query.ts';
import { benchUser } from './fixtures.ts';

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

const USERS = Number(option('users', 'SCIMKIT_BENCH_USERS', '1000000'));
const MEMBERS = Math.min(USERS - 1000, Number(option('members', 'SCIMKIT_BENCH_MEMBERS', '100000')));
const SMALL = 1000;
const DIALECTS = option('dialects', 'SCIMKIT_BENCH_DIALECTS', 'sqlite,postgres').split(',');
const BATCH = 10_000;
const LOOKUPS = 2000;
const PAGES = 30;
const MEMBER_OPS = 300;
const READS = 2000;
const SINGLE_CREATES = 2000;

interface Target {
  readonly label: string;
  open(): Promise<SqlStore>;
  /** Refreshes planner statistics (and, for PostgreSQL, the visibility map) after a load, as autovacuum would. */
  analyze(): Promise<void>;
  size(): Promise<string>;
  dispose(): Promise<void>;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timed(times: number, fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; n: number }> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    await fn(i);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), n: times };
}

const ms = (x: number) => `${x.toFixed(2)} ms`;
const line = (what: string, r: { p50: number; p99: number; n: number }) => console.log(`  ${what.padEnd(46)} p50 ${ms(r.p50).padStart(10)}  p99 ${ms(r.p99).padStart(10)}  (n=${r.n})`);

function sqliteTarget(): Target {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-'));
  const file = join(dir, 'bench.db');
  return {
    label: 'SQLite (better-sqlite3, WAL, synchronous=NORMAL)',
    open: async () => (await openStore({ sqlitePath: file })) as SqlStore,
    async analyze() {
      const db = new Database(file);
      db.exec('ANALYZE');
      db.close();
    },
    async size() {
      let bytes = statSync(file).size;
      try {
        bytes += statSync(`${file}-wal`).size;
      } catch {
        // no WAL file
      }
      return `${(bytes / 1e6).toFixed(0)} MB`;
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresTargets(): Promise<{ make: () => Promise<Target>; stop: () => Promise<void> }> {
  let serverUrl = process.env.SCIMKIT_BENCH_POSTGRES_URL;
  let stop = async () => {};
  if (!serverUrl) {
    const servicesPath = new URL('../scripts/services.mjs', import.meta.url).href;
    const services = (await import(servicesPath)) as { startPostgres(): Promise<{ url: string; stop(): Promise<void> } | null> };
    const server = await services.startPostgres();
    if (!server) throw new Error('PostgreSQL is not installed; set SCIMKIT_BENCH_POSTGRES_URL or --dialects=sqlite');
    serverUrl = server.url;
    stop = () => server.stop();
  }
  const base = serverUrl;
  const make = async (): Promise<Target> => {
    const name = `scimkit_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(base);
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
    return {
      label: 'PostgreSQL (pg pool of 10, server with fsync=off, synchronous_commit=off)',
      open: async () => (await openStore({ postgresUrl: url.toString() })) as SqlStore,
      async analyze() {
        await query('VACUUM ANALYZE');
      },
      async size() {
        const r = await query(`SELECT pg_size_pretty(pg_database_size(current_database())) AS s`);
        return String(r.rows[0].s);
      },
      async dispose() {
        await admin.query(`DROP DATABASE IF EXISTS ${name}`);
        await admin.end();
      },
    };
  };
  return { make, stop };
}

async function fill(store: SqlStore, org: string, count: number): Promise<{ ids: string[]; seconds: number }> {
  const ids: string[] = [];
  const start = performance.now();
  for (let from = 0; from < count; from += BATCH) {
    const docs = Array.from({ length: Math.min(BATCH, count - from) }, (_, k) => benchUser(from + k));
    ids.push(...(await store.bulkCreate(org, 'User', docs)));
    if ((from / BATCH) % 10 === 9) process.stdout.write(`  ... ${from + BATCH} users\r`);
  }
  return { ids, seconds: (performance.now() - start) / 1000 };
}

async function lookups(store: SqlStore, org: string, size: number) {
  return timed(LOOKUPS, async (i) => {
    const n = (i * 7919) % size;
    const filter = parseFilter(`userName eq "USER${n}@example.com"`);
    const result = await store.query(org, 'User', { filter, count: 100 });
    if (result.totalResults !== 1) throw new Error(`lookup of user${n} found ${result.totalResults}`);
  });
}

const memberOps = (operations: unknown[]) => parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: operations }, GROUP);

async function benchDialect(makeTarget: () => Promise<Target>): Promise<void> {
  const target = await makeTarget();
  const small = await makeTarget();
  console.log(`\n${target.label}`);
  const store = await target.open();
  try {
    const org = (await store.createOrganization('bench')).id;
    const { ids, seconds } = await fill(store, org, USERS);
    console.log(`  load ${USERS.toLocaleString('en')} users (bulkCreate, ${BATCH} per transaction): ${seconds.toFixed(1)} s = ${Math.round(USERS / seconds).toLocaleString('en')} users/s`);
    await target.analyze();
    const single = performance.now();
    for (let i = 0; i < SINGLE_CREATES; i++) await store.create(org, 'User', benchUser(USERS + i));
    const singleSeconds = (performance.now() - single) / 1000;
    console.log(`  store.create one at a time (${SINGLE_CREATES}, one transaction each): ${Math.round(SINGLE_CREATES / singleSeconds).toLocaleString('en')} users/s`);
    console.log(`  database size: ${await target.size()}`);

    const big = await lookups(store, org, USERS);
    line(`userName eq lookup at ${USERS.toLocaleString('en')} users`, big);
    const startIndex = Math.floor(USERS / 2);
    line(`page of 100 at startIndex ${startIndex.toLocaleString('en')}`, await timed(PAGES, async () => {
      const page = await store.query(org, 'User', { count: 100, startIndex });
      if (page.resources.length !== 100) throw new Error('short page');
    }));

    // The same position by RFC 9865 cursor (keyset), for comparison with the offset.
    const [middle] = (await store.query(org, 'User', { count: 1, startIndex })).resources;
    const cursor = encodeCursor(CREATED_SORT, { key: middle.created, id: middle.id });
    line(`cursor page of 100 at the same position`, await timed(PAGES * 10, async () => {
      const page = await store.query(org, 'User', { count: 100, cursor });
      if (page.resources.length !== 100) throw new Error('short page');
    }));
    line('first page of 100 (startIndex 1)', await timed(PAGES * 10, () => store.query(org, 'User', { count: 100, startIndex: 1 })));

    const group = await store.create(org, 'Group', { schemas: [GROUP_SCHEMA], displayName: 'Everyone' });
    const loadStart = performance.now();
    for (let from = 0; from < MEMBERS; from += 1000) {
      await store.patch(org, 'Group', group.id, memberOps([{ op: 'add', path: 'members', value: ids.slice(from, Math.min(MEMBERS, from + 1000)).map((value) => ({ value })) }]));
    }
    console.log(`  group filled with ${MEMBERS.toLocaleString('en')} members by 1,000-member PATCH adds in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
    const outsiders = ids.slice(MEMBERS, MEMBERS + MEMBER_OPS);
    line(`add one member (group of ${MEMBERS.toLocaleString('en')})`, await timed(MEMBER_OPS, (i) => store.patch(org, 'Group', group.id, memberOps([{ op: 'add', path: 'members', value: [{ value: outsiders[i] }] }]))));
    // A member already there: the write changes nothing, so it writes nothing (and never loads the member list).
    line(`add a member already there, a no-op (group of ${MEMBERS.toLocaleString('en')})`, await timed(MEMBER_OPS, (i) => store.patch(org, 'Group', group.id, memberOps([{ op: 'add', path: 'members', value: [{ value: outsiders[i] }] }]))));
    line(`remove one member (group of ${MEMBERS.toLocaleString('en')})`, await timed(MEMBER_OPS, (i) => store.patch(org, 'Group', group.id, memberOps([{ op: 'remove', path: `members[value eq "${outsiders[i]}"]` }]))));
    line('read the group without members', await timed(READS, async () => {
      const g = await store.get(org, 'Group', group.id);
      if (!g || 'members' in g.document) throw new Error('unexpected group read');
    }));

    const smallStore = await small.open();
    try {
      const smallOrg = (await smallStore.createOrganization('bench-small')).id;
      await fill(smallStore, smallOrg, SMALL);
      await small.analyze();
      const little = await lookups(smallStore, smallOrg, SMALL);
      line(`userName eq lookup at ${SMALL.toLocaleString('en')} users`, little);
      console.log(`  lookup ratio ${USERS.toLocaleString('en')} vs ${SMALL.toLocaleString('en')} users: p50 ${(big.p50 / little.p50).toFixed(2)}x, p99 ${(big.p99 / little.p99).toFixed(2)}x`);
    } finally {
      await smallStore.close();
    }
  } finally {
    await store.close();
    await target.dispose();
    await small.dispose();
  }
}

console.log(`scimkit store benchmark: ${USERS.toLocaleString('en')} users, group of ${MEMBERS.toLocaleString('en')}; Node ${process.version}, ${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`);
for (const dialect of DIALECTS) {
  if (dialect === 'sqlite') await benchDialect(async () => sqliteTarget());
  else if (dialect === 'postgres') {
    const pgTargets = await postgresTargets();
    try {
      await benchDialect(pgTargets.make);
    } finally {
      await pgTargets.stop();
    }
  } else throw new Error(`unknown dialect ${dialect}`);
}
