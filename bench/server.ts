/**
 * Server benchmark (npm run bench:server; --help lists the options). Loads N users (default 100,000), a group of M
 * of them (default 100,000) and OUTSIDERS more users outside the group into the embedded default store (a SQLite
 * file) with the organization's rate limits raised, then runs `scimkit serve` on it as its own process and measures
 * it with autocannon over loopback (--connections connections, 10 by default): GET by id, `filter=userName eq
 * "..."`, a page of 100, POST create (a unique userName per request), and PATCH adding one member (a different
 * outsider each time) to the big group; and GET /healthz, which has no auth, rate limit or store call, as the floor
 * of the server's own stack. A plain node:http hello-world process, measured the same way, is the ceiling; each
 * figure is printed as a ratio to it. The main reads (healthz, GET by id, userName) run in several rounds, each run
 * paired with a ceiling run just before it, and the medians of the pairs' ratios are reported: this shared
 * machine's speed drifts within a minute.
 *
 * Every scenario is checked before it is measured (one request, its answer inspected: the id read, exactly one
 * user found, a full page, a member added) and after (no failed request; the PATCHes each added a member no one
 * had added before, and the group grew by exactly their number), so that a row measures what its name says.
 *
 * The GET by id and userName scenarios read a working set of DISTINCT_READS users from the first half of the users,
 * which the server's user cache holds once warmed up (as a steady stream of lookups of the same people would); the
 * `-cold` ones read the second half in turn, in a shuffled order, so that (with more users there than the cache
 * holds) every read misses it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { AutocannonRequest, AutocannonResult } from 'autocannon';
import { parsePatchOperations } from '../src/scim/patch/index.ts';
import { GROUP, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA } from '../src/scim/schema/index.ts';
import { DEFAULT_USER_CACHE_ENTRIES, openStore, SqlStore } from '../src/store/index.ts';
import { benchUser } from './fixtures.ts';

const USAGE = `Usage: npm run bench:server -- [options]

Options (each also from the environment variable named):
  --users=N          users loaded, all of them readable (SCIMKIT_BENCH_USERS, default 100000)
  --members=M        of them, members of the big group (SCIMKIT_BENCH_MEMBERS, default 100000)
  --outsiders=K      more users outside the group, one added per PATCH (SCIMKIT_BENCH_OUTSIDERS, default 40000)
  --duration=S       seconds per scenario (SCIMKIT_BENCH_DURATION, default 5)
  --rounds=R         rounds of the healthz, GET by id and userName scenarios, each after its own ceiling run
                     (SCIMKIT_BENCH_ROUNDS, default 5)
  --connections=C    autocannon connections (SCIMKIT_BENCH_CONNECTIONS, default 10; the 1-client PATCH row uses 1)
  --only=LIST        run only these scenarios: healthz,id,filter,id-cold,filter-cold,page,post,patch (SCIMKIT_BENCH_ONLY)
  --bin=PATH         the scimkit command to serve with (SCIMKIT_BENCH_BIN, default this checkout's bin/scimkit.mjs):
                     another checkout's, for an A/B
  --profile=DIR      write a V8 CPU profile of the server process into DIR (SCIMKIT_BENCH_PROFILE)
  --perf-map=1       start the server with --perf-basic-prof, so that \`perf record -p PID\` names its JavaScript
                     functions (SCIMKIT_BENCH_PERF_MAP)
  --help             print this and exit
`;

const KNOWN_OPTIONS = ['users', 'members', 'outsiders', 'duration', 'rounds', 'connections', 'only', 'bin', 'profile', 'perf-map'];
for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const name = /^--([a-z-]+)=/.exec(arg)?.[1];
  if (name === undefined || !KNOWN_OPTIONS.includes(name)) {
    process.stderr.write(`bench:server: unknown option ${arg}\n\n${USAGE}`);
    process.exit(2);
  }
}

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

const USERS = Number(option('users', 'SCIMKIT_BENCH_USERS', '100000'));
const MEMBERS = Math.min(USERS, Number(option('members', 'SCIMKIT_BENCH_MEMBERS', '100000')));
const DURATION = Number(option('duration', 'SCIMKIT_BENCH_DURATION', '5'));
const ROUNDS = Number(option('rounds', 'SCIMKIT_BENCH_ROUNDS', '5'));
const CONNECTIONS = Number(option('connections', 'SCIMKIT_BENCH_CONNECTIONS', '10'));
const PROFILE_DIR = option('profile', 'SCIMKIT_BENCH_PROFILE', '');
const PERF_MAP = option('perf-map', 'SCIMKIT_BENCH_PERF_MAP', '') !== '';
const OUTSIDERS = Number(option('outsiders', 'SCIMKIT_BENCH_OUTSIDERS', '40000'));
const ONLY = new Set(option('only', 'SCIMKIT_BENCH_ONLY', 'healthz,id,filter,id-cold,filter-cold,page,post,patch').split(','));
const BATCH = 10_000;
/** Distinct requests in the GET by id and userName filter lists. */
const DISTINCT_READS = 5_000;
const BIN = option('bin', 'SCIMKIT_BENCH_BIN', fileURLToPath(new URL('../bin/scimkit.mjs', import.meta.url)));
// High enough that the limiter never refuses during a run; the limiter still runs on every request.
const RAISED_LIMIT = 1_000_000;

interface Loaded {
  readonly dbPath: string;
  readonly orgId: string;
  readonly token: string;
  readonly userIds: string[];
  readonly groupId: string;
  /** Users outside the group, for the PATCHes to add. */
  readonly outsiderIds: string[];
}

async function load(dir: string): Promise<Loaded> {
  const dbPath = join(dir, 'scimkit.db');
  const store = await openStore({ sqlitePath: dbPath });
  if (!(store instanceof SqlStore)) throw new Error('expected the SQL store');
  try {
    const org = await store.createOrganization('bench', { readLimit: RAISED_LIMIT, writeLimit: RAISED_LIMIT });
    const { secret } = await store.createToken(org.id, { scope: 'read-write' });
    let started = performance.now();
    const userIds: string[] = [];
    for (let from = 0; from < USERS; from += BATCH) {
      const docs = Array.from({ length: Math.min(BATCH, USERS - from) }, (_, k) => benchUser(from + k));
      userIds.push(...(await store.bulkCreate(org.id, 'User', docs)));
    }
    console.log(`loaded ${USERS.toLocaleString('en')} users in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    started = performance.now();
    const group = await store.create(org.id, 'Group', { schemas: [GROUP_SCHEMA], displayName: 'everyone' });
    for (let from = 0; from < MEMBERS; from += 1000) {
      const value = userIds.slice(from, Math.min(MEMBERS, from + 1000)).map((id) => ({ value: id }));
      await store.patch(org.id, 'Group', group.id, parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'members', value }] }, GROUP));
    }
    console.log(`filled a group of ${MEMBERS.toLocaleString('en')} members in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const outsiderIds: string[] = userIds.slice(MEMBERS);
    for (let from = 0; from < OUTSIDERS; from += BATCH) {
      const docs = Array.from({ length: Math.min(BATCH, OUTSIDERS - from) }, (_, k) => ({ ...benchUser(USERS + from + k), userName: `outsider${from + k}@example.com` }));
      outsiderIds.push(...(await store.bulkCreate(org.id, 'User', docs)));
    }
    return { dbPath, orgId: org.id, token: secret, userIds, groupId: group.id, outsiderIds };
  } finally {
    await store.close();
  }
}

/**
 * Spawns a server process with its output going to a file, as a deployed server's would (the server logs a line per
 * request, which the load generator must not have to read), and resolves with its origin once the file says
 * "listening on <url>".
 */
interface Started {
  readonly child: ChildProcess;
  readonly origin: string;
}

async function startProcess(args: string[], logPath: string): Promise<Started> {
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(readFileSync(logPath, 'utf8'));
    if (m) return { child, origin: m[1] };
    if (exited) throw new Error(`${args.join(' ')} exited before listening:\n${readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const HELLO_WORLD = `
const http = require('node:http');
const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('hello world'); });
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

interface Figure {
  readonly name: string;
  readonly results: AutocannonResult[];
  /** Each run's rate over the ceiling's. */
  readonly ratios: number[];
}

const CEILING = 'node:http hello world (ceiling)';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux), or NaN elsewhere. */
function processCpuSeconds(pid: number, thread = false): number {
  try {
    const fields = readFileSync(thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Runs one scenario against `target`, and prints alongside the rate the CPU time per request of the server and of
 * this process (the load generator): with two cores, a load generator near one full core is the limit, not the server.
 */
async function measure(
  name: string,
  target: Started,
  requests: AutocannonRequest[],
  extra: { connections?: number } = {},
): Promise<AutocannonResult> {
  const pid = target.child.pid ?? -1;
  const serverBefore = processCpuSeconds(pid);
  const mainBefore = processCpuSeconds(pid, true);
  const clientBefore = process.cpuUsage();
  const result = await autocannon({ url: target.origin, connections: CONNECTIONS, duration: DURATION, requests, ...extra });
  const serverCpu = processCpuSeconds(pid) - serverBefore;
  const mainCpu = processCpuSeconds(pid, true) - mainBefore;
  const clientUsage = process.cpuUsage(clientBefore);
  const clientCpu = (clientUsage.user + clientUsage.system) / 1e6;
  const bad = result.non2xx + result.errors + result.timeouts;
  if (result.requests.total === 0) console.warn(`  ${name}: no request completed within the run; the figure is not valid`);
  if (bad > 0) console.warn(`  ${name}: ${bad} requests failed (non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts}); the figure is not valid`);
  const perRequest = (seconds: number) => `${((seconds / result.requests.total) * 1e6).toFixed(0)} µs`;
  console.log(
    `  ${name}: ${Math.round(rate(result)).toLocaleString('en')} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms ` +
      `(${result.requests.total.toLocaleString('en')} requests; CPU per request: server ${perRequest(serverCpu)} (main thread ${perRequest(mainCpu)}), load generator ${perRequest(clientCpu)}; ` +
      `load generator busy ${((clientCpu / result.duration) * 100).toFixed(0)}%)`,
  );
  return result;
}

/** Completed requests over the run's measured duration (autocannon's per-second average rounds the last second). */
function rate(result: AutocannonResult): number {
  return result.requests.total / result.duration;
}

/** The median of some numbers (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One request outside the load generator, to check what a scenario's requests get before it is measured. */
async function probe(origin: string, request: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: any }> {
  const res = await fetch(origin + request.path, { method: request.method ?? 'GET', headers: request.headers, body: request.body });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Stops the benchmark when a scenario's requests do not do what its name says. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench:server: ${what}; the scenario would not measure what it says`);
}

async function main(): Promise<void> {
  console.log(
    `bench:server: ${USERS.toLocaleString('en')} users, a group of ${MEMBERS.toLocaleString('en')}, ${OUTSIDERS.toLocaleString('en')} outsiders, ${DURATION} s per scenario, ` +
      `${ROUNDS} rounds of the main reads, autocannon with ${CONNECTIONS} connections, ${cpus().length} cores, Node ${process.version}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-server-'));
  try {
    const loaded = await load(dir);

    // Both stay up: the ceiling is measured again before every main read it is compared with, since this machine's
    // speed drifts by a third from one minute to the next.
    const ceilingProcess = await startProcess(['-e', HELLO_WORLD], join(dir, 'ceiling.log'));
    const profileArgs = [...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []), ...(PERF_MAP ? ['--perf-basic-prof'] : [])];
    const server = await startProcess([...profileArgs, BIN, 'serve', '--db', loaded.dbPath, '--port', '0'], join(dir, 'server.log'));
    /** Each scenario's runs; a main read's ratios are to the ceiling of the same round. */
    const figures: Figure[] = [];
    const ceilings: AutocannonResult[] = [];
    const record = (name: string, result: AutocannonResult, ratio: number) => {
      let figure = figures.find((f) => f.name === name);
      if (!figure) figures.push((figure = { name, results: [], ratios: [] }));
      figure.results.push(result);
      figure.ratios.push(ratio);
    };
    let patchesAdded = 0;
    let patchesSent = 0;
    try {
      const base = `/scim/v2/organizations/${loaded.orgId}`;
      const headers = { authorization: `Bearer ${loaded.token}`, 'content-type': 'application/scim+json' };
      // The hot working set comes from the first half of the users, the cold passes from the second half, so that no
      // cold read finds a user the hot scenarios put in the cache.
      const half = Math.floor(USERS / 2);
      const hot = () => Math.floor(Math.random() * half);
      // Reads cycle through a fixed list of requests, built once, so that the load generator spends its time sending
      // rather than building requests; the list is long enough to spread over the store.
      const getById = Array.from({ length: DISTINCT_READS }, (): AutocannonRequest => ({ method: 'GET', headers, path: `${base}/Users/${loaded.userIds[hot()]}` }));
      const byUserName = Array.from({ length: DISTINCT_READS }, (): AutocannonRequest => {
        const filter = `userName eq "user${hot()}@example.com"`;
        return { method: 'GET', headers, path: `${base}/Users?filter=${encodeURIComponent(filter)}` };
      });
      const byId = await probe(server.origin, getById[0] as { path: string; headers: Record<string, string> });
      check(byId.status === 200 && getById[0].path === `${base}/Users/${byId.body?.id}`, 'GET by id does not return the user asked for');
      const byName = await probe(server.origin, byUserName[0] as { path: string; headers: Record<string, string> });
      check(byName.status === 200 && byName.body?.totalResults === 1, 'the userName filter does not find exactly one user');

      const hello: AutocannonRequest[] = [{ method: 'GET', path: '/' }];
      await measure('warm-up (ceiling)', ceilingProcess, hello);
      await measure('warm-up', server, [...getById, ...byUserName]);
      const mainReads: [string, string, AutocannonRequest[]][] = [
        ['healthz', 'GET /healthz (no auth, no store)', [{ method: 'GET', path: '/healthz' }]],
        ['id', 'GET /Users/{id}', getById],
        ['filter', 'GET /Users?filter=userName eq "..."', byUserName],
      ];
      for (let round = 1; round <= ROUNDS; round++) {
        console.log(`round ${round} of ${ROUNDS}`);
        for (const [key, name, requests] of mainReads) {
          if (!ONLY.has(key)) continue;
          // Each scenario is paired with a ceiling run just before it: the machine's speed drifts within a minute.
          const ceiling = await measure(CEILING, ceilingProcess, hello);
          ceilings.push(ceiling);
          record(CEILING, ceiling, 1);
          const result = await measure(name, server, requests);
          record(name, result, rate(result) / rate(ceiling));
        }
      }
      // The other scenarios run once, against the median ceiling (measured now when no round ran).
      if (ceilings.length === 0) {
        const ceiling = await measure(CEILING, ceilingProcess, hello);
        ceilings.push(ceiling);
        record(CEILING, ceiling, 1);
      }
      const ceilingRate = median(ceilings.map(rate));
      const once = async (name: string, requests: AutocannonRequest[], extra?: { connections?: number }) => {
        const result = await measure(name, server, requests, extra);
        record(name, result, rate(result) / ceilingRate);
        return result;
      };
      // The second half of the users in turn, in a shuffled order shared by all connections, so that no two requests
      // of a pass repeat and (with more of them than the cache holds) every read misses the cache.
      const cold = loaded.userIds.slice(half).map((id, i) => ({ id, userName: `user${half + i}@example.com` }));
      for (let i = cold.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [cold[i], cold[j]] = [cold[j], cold[i]];
      }
      if (cold.length <= 2 * DEFAULT_USER_CACHE_ENTRIES) console.warn(`  only ${cold.length} users for the cold reads: the user cache may hold them; pass --users above ${4 * DEFAULT_USER_CACHE_ENTRIES}`);
      let turn = 0;
      const inTurn = (path: (person: (typeof cold)[number]) => string): AutocannonRequest[] => [
        { method: 'GET', headers, setupRequest: (r) => ({ ...r, path: path(cold[turn++ % cold.length]) }) },
      ];
      const coldCount = cold.length.toLocaleString('en');
      if (ONLY.has('id-cold')) await once(`GET /Users/{id}, each of ${coldCount} users in turn`, inTurn((p) => `${base}/Users/${p.id}`));
      if (ONLY.has('filter-cold')) await once(`GET /Users?filter=userName eq "...", each of ${coldCount} users in turn`, inTurn((p) => `${base}/Users?filter=${encodeURIComponent(`userName eq "${p.userName}"`)}`));
      if (ONLY.has('page')) {
        const page = await probe(server.origin, { path: `${base}/Users?startIndex=1&count=100`, headers });
        check(page.status === 200 && page.body?.Resources?.length === Math.min(100, USERS + OUTSIDERS), 'the page does not hold 100 users');
        await once('GET /Users?startIndex=1&count=100', [{ method: 'GET', headers, path: `${base}/Users?startIndex=1&count=100` }]);
      }
      let serial = 0;
      const runTag = Date.now().toString(36);
      if (ONLY.has('post')) {
        await once('POST /Users', [
          {
            method: 'POST',
            headers,
            setupRequest: (r) => ({ ...r, path: `${base}/Users`, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: `new-${runTag}-${serial++}@example.com`, active: true }) }),
          },
        ]);
      }
      // Each PATCH adds the next outsider, a user who is not yet a member, for DURATION seconds. Measured saturated
      // (CONNECTIONS clients, where latency includes queueing behind the others) and with one client (the latency of
      // the operation itself). Duration-bound, so both rates are requests over the same measured time (a run bound by
      // a request count ends on autocannon's next one-second tick, which made both rows show the count over one second).
      let next = 0;
      const patchRequest: AutocannonRequest = {
        method: 'PATCH',
        headers,
        setupRequest: (r) => ({
          ...r,
          path: `${base}/Groups/${loaded.groupId}`,
          body: JSON.stringify({ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: loaded.outsiderIds[next++ % loaded.outsiderIds.length] }] }] }),
        }),
        onResponse: (status) => {
          if (status === 204) patchesAdded++;
        },
      };
      const groupSize = MEMBERS.toLocaleString('en');
      if (ONLY.has('patch')) {
        check(loaded.outsiderIds.length > 0, 'there are no outsiders to add: pass --outsiders');
        await once(`PATCH /Groups/{id} add one member (group of ${groupSize}), ${CONNECTIONS} clients`, [patchRequest]);
        await once(`PATCH /Groups/{id} add one member (group of ${groupSize}), 1 client`, [patchRequest], { connections: 1 });
        patchesSent = next;
        if (next > loaded.outsiderIds.length) {
          console.warn(`  the PATCHes ran out of outsiders (${next} requests, ${loaded.outsiderIds.length} outsiders): the rest re-added members, which changes nothing. Pass a larger --outsiders; the PATCH rows are not valid`);
        }
      }
    } finally {
      await stopProcess(server.child);
      await stopProcess(ceilingProcess.child);
    }

    // The PATCHes really landed: the group grew by exactly the number of PATCHes answered 204.
    const store = await openStore({ sqlitePath: loaded.dbPath });
    try {
      const group = await store.get(loaded.orgId, 'Group', loaded.groupId, { relations: true });
      const members = Array.isArray(group?.document.members) ? group.document.members.length : 0;
      const grew = members - MEMBERS;
      console.log(
        `group now has ${members.toLocaleString('en')} members (${MEMBERS.toLocaleString('en')} loaded + ${grew.toLocaleString('en')} added over HTTP, ` +
          `by ${patchesSent.toLocaleString('en')} PATCHes sent, ${patchesAdded.toLocaleString('en')} of them answered 204 before the load generator stopped)`,
      );
      // Each PATCH names a different outsider, so every one the server ran added a member: the growth lies between
      // the answered ones and the sent ones (the last few are still in flight when a run stops).
      if (grew < patchesAdded || grew > patchesSent) console.warn(`  the group grew by ${grew}, outside ${patchesAdded} to ${patchesSent}: the PATCH rows are not valid`);
    } finally {
      await store.close();
    }

    // A scenario measured in every round shows medians over the rounds; the others, their one run.
    console.log('');
    console.log(`autocannon over loopback, ${CONNECTIONS} connections (the 1-client PATCH row: 1), ${DURATION} s per run; the ceiling is node:http hello world measured the same way`);
    console.log(`| scenario | req/s | ratio to ceiling | p50 | p99 |`);
    console.log(`|---|---|---|---|---|`);
    for (const f of figures) {
      const ms = (pick: (r: AutocannonResult) => number) => `${median(f.results.map(pick))} ms`;
      console.log(`| ${f.name} | ${Math.round(median(f.results.map(rate))).toLocaleString('en')} | ${median(f.ratios).toFixed(2)} | ${ms((r) => r.latency.p50)} | ${ms((r) => r.latency.p99)} |`);
    }
    console.log('');
    const find = (name: string) => figures.find((f) => f.name === name);
    const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
    for (const [label, f] of [['GET by id', find('GET /Users/{id}')], ['userName filter', find('GET /Users?filter=userName eq "..."')]] as const) {
      if (!f) continue;
      const ratio = median(f.ratios);
      console.log(`target ${label} >= 1/4 of the ceiling: ${ratio.toFixed(2)} (${verdict(ratio >= 0.25)}; per round ${f.ratios.map((r) => r.toFixed(2)).join(', ')})`);
    }
    for (const patch of figures.filter((f) => f.name.startsWith('PATCH'))) {
      const p99 = patch.results[0].latency.p99;
      console.log(`target group PATCH p99 < 10 ms, ${patch.name.split(', ')[1]}: ${p99} ms (${verdict(p99 < 10)})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
