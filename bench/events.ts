/**
 * Events benchmark (npm run bench:events), the four measures of docs/events.md, in one run:
 *
 * 1. latency: `scimkit serve` (SQLite) with one endpoint; POST /Users at 100 per second for --seconds; for each
 *    write, the time from its SCIM response to the webhook's arrival at a local receiver (p50, p99, max).
 * 2. drain: a backlog of --backlog (100,000) user.created events, then `scimkit deliver` alone; deliveries per
 *    second until the receiver has them all; on SQLite and on PostgreSQL (when installed).
 * 3. post: POST /Users throughput (autocannon, 10 connections) against a server with one endpoint and one with
 *    none, alternating --rounds times: the median of the rounds' ratios, and the server's CPU per POST from /proc
 *    (its main thread, which answers SCIM requests, and all its threads), read once every delivery has arrived.
 * 4. patch: a PATCH adding 1,000 members to a group (store level, SQLite and PostgreSQL), with events against a
 *    store that writes none (SqlStore's writeEvents: false, which exists for this comparison); medians of --rounds.
 *
 * The receiver is its own process (plain node:http), and so is each server, so the bench process's own work does
 * not slow them down. Times are wall-clock milliseconds shared by the processes (performance.timeOrigin + now()).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parsePatchOperations } from '../src/scim/patch/index.ts';
import { GROUP, PATCH_OP_SCHEMA, USER_SCHEMA } from '../src/scim/schema/index.ts';
import { openStore, SqlStore } from '../src/store/index.ts';
import type { Store } from '../src/store/index.ts';
import { openPostgresDriver, SqliteDriver } from '../src/store/drivers.ts';
import { startPostgres } from '../scripts/services.mjs';

function option(name: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : fallback;
}

const SECONDS = Number(option('seconds', '20'));
const BACKLOG = Number(option('backlog', '100000'));
const ROUNDS = Number(option('rounds', '5'));
const DURATION = Number(option('duration', '5'));
const ONLY = new Set(option('only', 'latency,drain,post,patch').split(','));
const BIN = fileURLToPath(new URL('../bin/scimkit.mjs', import.meta.url));
const KEY = randomBytes(32);
const ENV = { ...process.env, SCIMKIT_SECRET_KEY: KEY.toString('base64') }; // AB

const now = () => performance.timeOrigin + performance.now();

/** The receiver: counts deliveries and keeps each one's arrival time by the user's userName. */
const RECEIVER_SOURCE = `
const http = require('node:http');
const arrivals = new Map();
let count = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.setHeader('content-type', 'application/json');
    res.end(req.url === '/arrivals' ? JSON.stringify(Object.fromEntries(arrivals)) : JSON.stringify({ count }));
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const t = performance.timeOrigin + performance.now();
    count++;
    if (process.env.TRACK) {
      const name = JSON.parse(body).data.userName;
      if (!arrivals.has(name)) arrivals.set(name, t);
    }
    res.writeHead(204);
    res.end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

async function startProc(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = ENV): Promise<{ proc: Proc; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (d) => {
      buffer += d;
      const m = ready.exec(buffer);
      if (m) resolve(m);
    });
    void exited.then(() => reject(new Error(`${args.join(' ')} exited early`)));
  });
  return { proc: { child, exited }, match };
}

/** CPU seconds (utime + stime, in ticks of 1/100 s) of a process's main thread and of all its threads, from /proc. */
function cpuSeconds(pid: number): { main: number; all: number } {
  const ticks = (path: string) => {
    const f = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  let all = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) all += ticks(`/proc/${pid}/task/${tid}/stat`);
  return { main: ticks(`/proc/${pid}/task/${pid}/stat`) / 100, all: all / 100 };
}

async function stop(proc: Proc): Promise<void> {
  proc.child.kill('SIGTERM');
  await proc.exited;
}

async function startReceiver(track: boolean): Promise<{ proc: Proc; url: string }> {
  const { proc, match } = await startProc(['-e', RECEIVER_SOURCE], /(\d+)\n/, { ...process.env, ...(track ? { TRACK: '1' } : {}) });
  return { proc, url: `http://127.0.0.1:${match[1]}` };
}

async function receiverCount(url: string): Promise<number> {
  return ((await (await fetch(`${url}/count`)).json()) as { count: number }).count;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A SQLite file with one organization (limits raised), its token, and optionally one endpoint. */
async function prepare(dir: string, name: string, endpoint: string | null): Promise<{ db: string; base: (origin: string) => string; token: string }> {
  const db = join(dir, `${name}.db`);
  const store = await openStore({ sqlitePath: db, secretKey: () => KEY });
  const org = await store.createOrganization(name, { readLimit: 1_000_000, writeLimit: 1_000_000 });
  const { secret } = await store.createToken(org.id, { scope: 'read-write' });
  if (endpoint) await store.createWebhook(org.id, { url: endpoint });
  await store.close();
  return { db, token: secret, base: (origin) => `${origin}/scim/v2/organizations/${org.id}` };
}

async function serve(db: string, extra: string[] = []): Promise<{ proc: Proc; origin: string }> {
  const { proc, match } = await startProc([BIN, 'serve', '--db', db, '--port', '0', '--allow-http-webhooks', '--log-level', 'warn', ...extra], /listening on (http:\/\/\S+)/);
  return { proc, origin: match[1] };
}

async function latency(dir: string): Promise<void> {
  const receiver = await startReceiver(true);
  const setup = await prepare(dir, 'latency', `${receiver.url}/hook`);
  const server = await serve(setup.db);
  const base = setup.base(server.origin);
  const responded = new Map<string, number>();
  const total = SECONDS * 100;
  const started = now();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * 10;
    const wait = due - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const userName = `lat-${i}@example.com`;
    writes.push(
      fetch(`${base}/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${setup.token}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify({ schemas: [USER_SCHEMA], userName }),
      }).then(async (res) => {
        await res.arrayBuffer();
        responded.set(userName, now());
      }),
    );
  }
  await Promise.all(writes);
  const deadline = now() + 30_000;
  while ((await receiverCount(receiver.url)) < total && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const arrivals = (await (await fetch(`${receiver.url}/arrivals`)).json()) as Record<string, number>;
  const latencies = [...responded].map(([name, t]) => (arrivals[name] ?? Infinity) - t).sort((a, b) => a - b);
  console.log(
    `latency: ${total} POST /Users at 100/s for ${SECONDS} s, SCIM response -> webhook arrival: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1].toFixed(1)} ms (${Object.keys(arrivals).length} of ${total} arrived)`,
  );
  await stop(server.proc);
  await stop(receiver.proc);
}

async function fillBacklog(store: Store, url: string): Promise<void> {
  const org = await store.createOrganization('drain');
  await store.createWebhook(org.id, { url });
  for (let done = 0; done < BACKLOG; done += 1000) {
    const batch = Array.from({ length: Math.min(1000, BACKLOG - done) }, (_, i) => ({ schemas: [USER_SCHEMA], userName: `d${done + i}@example.com` }));
    await (store as SqlStore).bulkCreate(org.id, 'User', batch);
  }
}

async function drain(dir: string, label: string, storeArgs: string[], open: () => Promise<Store>): Promise<void> {
  const receiver = await startReceiver(false);
  const store = await open();
  await fillBacklog(store, `${receiver.url}/hook`);
  await store.close();
  const started = now();
  const { proc } = await startProc([BIN, 'deliver', ...storeArgs, '--allow-http-webhooks', '--log-level', 'warn'], /delivering webhooks/);
  let count = 0;
  while ((count = await receiverCount(receiver.url)) < BACKLOG) await new Promise((resolve) => setTimeout(resolve, 50));
  const seconds = (now() - started) / 1000;
  console.log(`drain (${label}): ${BACKLOG} deliveries in ${seconds.toFixed(1)} s = ${Math.round(count / seconds)} per second (from the start of \`scimkit deliver\`)`);
  await stop(proc);
  await stop(receiver.proc);
  void dir;
}

async function postThroughput(dir: string): Promise<void> {
  const receiver = await startReceiver(false);
  const withEndpoint = await prepare(dir, 'post-endpoint', `${receiver.url}/hook`);
  const without = await prepare(dir, 'post-none', null);
  type Round = { rate: number; cpuMain: number; cpuAll: number };
  const rounds: { with: Round[]; without: Round[] } = { with: [], without: [] };
  let n = 0;
  let delivered = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, setup] of [['without', without], ['with', withEndpoint]] as const) {
      const server = await serve(setup.db);
      const pid = server.proc.child.pid as number;
      const before = cpuSeconds(pid);
      const result = await autocannon({
        url: setup.base(server.origin) + '/Users',
        connections: 10,
        duration: DURATION,
        method: 'POST',
        headers: { authorization: `Bearer ${setup.token}`, 'content-type': 'application/scim+json' },
        requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: `p${n++}-${round}@example.com` }) }) }],
      });
      if (result.non2xx > 0) throw new Error(`${result.non2xx} POSTs failed`);
      const total = result.requests.total;
      // Deliveries still under way belong to these POSTs: the CPU is read once the receiver has them all.
      if (label === 'with') {
        delivered += total;
        while ((await receiverCount(receiver.url)) < delivered) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const after = cpuSeconds(pid);
      rounds[label].push({ rate: total / DURATION, cpuMain: ((after.main - before.main) / total) * 1e6, cpuAll: ((after.all - before.all) / total) * 1e6 });
      await stop(server.proc);
    }
  }
  const ratios = rounds.with.map((r, i) => r.rate / rounds.without[i].rate);
  const med = (label: 'with' | 'without', key: keyof Round) => median(rounds[label].map((r) => r[key]));
  console.log(
    `post: POST /Users with one endpoint ${Math.round(med('with', 'rate'))}/s, with none ${Math.round(med('without', 'rate'))}/s; ratio median ${median(ratios).toFixed(2)} (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
  );
  console.log(
    `post: server CPU per POST, medians: main thread ${med('with', 'cpuMain').toFixed(0)} µs with one endpoint against ${med('without', 'cpuMain').toFixed(0)} µs with none (${(med('without', 'cpuMain') / med('with', 'cpuMain')).toFixed(2)}x the throughput this bounds); all threads ${med('with', 'cpuAll').toFixed(0)} against ${med('without', 'cpuAll').toFixed(0)} µs`,
  );
  await stop(receiver.proc);
}

async function patchCost(label: string, open: (writeEvents: boolean) => Promise<SqlStore>): Promise<void> {
  const times: { events: number[]; none: number[] } = { events: [], none: [] };
  for (const [mode, writeEvents] of [['events', true], ['none', false]] as const) {
    const store = await open(writeEvents);
    const org = await store.createOrganization(`patch-${mode}`);
    const ids = await store.bulkCreate(org.id, 'User', Array.from({ length: 1000 }, (_, i) => ({ schemas: [USER_SCHEMA], userName: `m${i}@example.com` })));
    const group = await store.create(org.id, 'Group', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Big' });
    const add = parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }] }, GROUP);
    const remove = parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'remove', path: 'members' }] }, GROUP);
    for (let i = 0; i < ROUNDS + 2; i++) {
      const t0 = now();
      await store.patch(org.id, 'Group', group.id, add);
      const elapsed = now() - t0;
      if (i >= 2) times[mode].push(elapsed); // two warm-up rounds
      await store.patch(org.id, 'Group', group.id, remove);
    }
    await store.close();
  }
  const withEvents = median(times.events);
  const withoutEvents = median(times.none);
  console.log(`patch (${label}): adding 1,000 members: ${withEvents.toFixed(1)} ms with events, ${withoutEvents.toFixed(1)} ms without (ratio ${(withEvents / withoutEvents).toFixed(2)})`);
}

async function main(): Promise<void> {
  console.log(`# bench:events on ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), Node ${process.version}, ${new Date().toISOString()}`);
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-events-'));
  const pg = ONLY.has('drain') || ONLY.has('patch') ? await startPostgres() : null;
  const pgUrl = async (name: string): Promise<string> => {
    if (!pg) throw new Error('PostgreSQL is not installed');
    const { default: pgLib } = await import('pg');
    const client = new pgLib.Client({ connectionString: pg.url });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    const url = new URL(pg.url);
    url.pathname = `/${name}`;
    return url.toString();
  };
  try {
    if (ONLY.has('latency')) await latency(dir);
    if (ONLY.has('drain')) {
      const db = join(dir, 'drain.db');
      await drain(dir, 'SQLite', ['--db', db], () => openStore({ sqlitePath: db, secretKey: () => KEY }));
      if (pg) {
        const url = await pgUrl('bench_drain');
        await drain(dir, 'PostgreSQL', ['--postgres', url], () => openStore({ postgresUrl: url, secretKey: () => KEY }));
      } else console.log('drain (PostgreSQL): skipped, PostgreSQL is not installed');
    }
    if (ONLY.has('post')) await postThroughput(dir);
    if (ONLY.has('patch')) {
      await patchCost('SQLite', async (writeEvents) => new SqlStore(new SqliteDriver(join(dir, `patch-${writeEvents}.db`)), { writeEvents }));
      if (pg) {
        let n = 0;
        await patchCost('PostgreSQL', async (writeEvents) => new SqlStore(await openPostgresDriver(await pgUrl(`bench_patch_${n++}`)), { writeEvents }));
      }
    }
  } finally {
    if (pg) await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
