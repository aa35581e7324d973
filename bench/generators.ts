/**
 * How much a ratio to the ceiling depends on the load generator (npm run bench:generators; --help for the options):
 * the node:http hello-world ceiling, GET /healthz and a cached GET /Users/{id} of one user, each measured with
 * autocannon (in this process) and with wrk (Debian's, when installed) at each connection count, alternately,
 * against the same two processes. Each server run is compared with a ceiling run just before it.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { USER_SCHEMA } from '../src/scim/schema/index.ts';
import { openStore } from '../src/store/index.ts';

const USAGE = `Usage: npm run bench:generators -- [options]

Options (each also from the environment variable named):
  --connections=LIST  connection counts, comma-separated (SCIMKIT_BENCH_CONNECTIONS, default 10,32)
  --duration=S        seconds per run (SCIMKIT_BENCH_DURATION, default 5)
  --help              print this and exit
`;

for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (!/^--(connections|duration)=/.test(arg)) {
    process.stderr.write(`bench:generators: unknown option ${arg}\n\n${USAGE}`);
    process.exit(2);
  }
}

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

const CONNECTIONS = option('connections', 'SCIMKIT_BENCH_CONNECTIONS', '10,32').split(',').map(Number);
const DURATION = Number(option('duration', 'SCIMKIT_BENCH_DURATION', '5'));
const BIN = fileURLToPath(new URL('../bin/scimkit.mjs', import.meta.url));
const HELLO_WORLD = `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello world'); })
  .listen(0, '127.0.0.1', function () { console.log('listening on http://127.0.0.1:' + this.address().port); });`;

async function start(args: string[], logPath: string): Promise<{ child: ChildProcess; origin: string }> {
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(readFileSync(logPath, 'utf8'));
    if (m) return { child, origin: m[1] };
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited:\n${readFileSync(logPath, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version.
    return (err as { status?: number }).status === 1;
  }
}

type Generator = (url: string, connections: number, authorization: string) => Promise<number>;

const viaAutocannon: Generator = async (url, connections, authorization) => {
  const r = await autocannon({ url, connections, duration: DURATION, headers: { authorization } });
  return r.requests.total / r.duration;
};

const viaWrk: Generator = async (url, connections, authorization) => {
  const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${DURATION}s`, '-H', `authorization: ${authorization}`, url], { encoding: 'utf8' });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-bench-generators-'));
  const processes: ChildProcess[] = [];
  try {
    const db = join(dir, 'scimkit.db');
    const store = await openStore({ sqlitePath: db });
    const org = await store.createOrganization('generators', { readLimit: 1_000_000, writeLimit: 1_000_000 });
    const { secret } = await store.createToken(org.id, { scope: 'read-write' });
    const one = await store.create(org.id, 'User', { schemas: [USER_SCHEMA], userName: 'one@example.com' });
    await store.close();
    const hello = await start(['-e', HELLO_WORLD], join(dir, 'hello.log'));
    const server = await start([BIN, 'serve', '--db', db, '--port', '0'], join(dir, 'server.log'));
    processes.push(hello.child, server.child);
    const authorization = `Bearer ${secret}`;
    const byId = `${server.origin}/scim/v2/organizations/${org.id}/Users/${one.id}`;
    const generators: [string, Generator][] = [['autocannon 9', viaAutocannon]];
    if (hasWrk()) generators.push(['wrk, 2 threads', viaWrk]);
    else console.warn('wrk is not installed (Debian: apt-get install wrk): autocannon only');
    console.log(`bench:generators: ${DURATION} s per run, ${cpus().length} cores, Node ${process.version}`);
    await viaAutocannon(`${hello.origin}/`, 10, authorization);
    await viaAutocannon(byId, 10, authorization);
    const rows: string[] = [];
    for (const connections of CONNECTIONS) {
      for (const [name, generate] of generators) {
        const ceilingBefore = await generate(`${hello.origin}/`, connections, authorization);
        const healthz = await generate(`${server.origin}/healthz`, connections, authorization);
        const ceilingAgain = await generate(`${hello.origin}/`, connections, authorization);
        const read = await generate(byId, connections, authorization);
        const r = (n: number) => Math.round(n).toLocaleString('en');
        rows.push(
          `| ${name} | ${connections} | ${r(ceilingBefore)} and ${r(ceilingAgain)} | ${r(healthz)} (${(healthz / ceilingBefore).toFixed(2)}) | ${r(read)} (${(read / ceilingAgain).toFixed(2)}) |`,
        );
        console.log(rows[rows.length - 1]);
      }
    }
    console.log('');
    console.log('| generator | connections | ceiling req/s | /healthz (ratio) | GET /Users/{id} (ratio) |');
    console.log('|---|---|---|---|---|');
    for (const row of rows) console.log(row);
  } finally {
    for (const child of processes) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
