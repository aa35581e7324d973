/**
 * The three ways of running the connector on the same data (part of `npm run bench:sync`): `scimkit sync` into
 * SQLite, `scimkit airbyte read` with its stdout read by this process as Airbyte's would be, and `scimkit fivetran`
 * with this process as Fivetran's gRPC client calling Update. Each is the compiled command in its own process.
 * Throughput is SCIM resources read per second of the engine's run (the wall time each reports: the CLI in its JSON
 * summary, the shells in their "done" log line), so process start and gRPC set-up count for none of them; peak RSS
 * is the process's maxRSS (bench/report-rss.mjs, preloaded, writes it on exit). A first (full) run, then an
 * incremental one after `change()` ran, each way from its own state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { airbyteCatalog } from '../src/connector/platforms/airbyte.ts';
import { PROTO_OPTIONS } from '../src/connector/platforms/fivetran.ts';

type Json = Record<string, unknown>;
export type Way = 'cli' | 'airbyte' | 'fivetran' | 'floor';

export interface WayRun {
  readonly way: Way;
  /** SCIM resources read, the engine's wall time, and the requests it made. */
  readonly resources: number;
  readonly wallMs: number;
  readonly requests: number;
  readonly maxRssMb: number;
  /** CPU time of the whole process (user and system), start-up included. */
  readonly cpuMs: number;
  /** The process's wall time, from spawn to exit. */
  readonly processMs: number;
  /** Rows the platform received (records, deletes included); for the CLI, rows written or soft-deleted. */
  readonly rowsSent: number;
  /** States (Airbyte STATE lines of the whole state, Fivetran checkpoints) and the largest, in bytes. */
  readonly states: number;
  readonly largestStateBytes: number;
}

const PRELOAD = new URL('./report-rss.mjs', import.meta.url).pathname;
const STATE_PREFIX = '{"type":"STATE","state":{';
const PROTO_DIR = new URL('../src/connector/platforms/fivetran/', import.meta.url).pathname;

/**
 * SCIMKIT_BENCH_NODE_ARGS adds node options to the measured processes (e.g. `--cpu-prof --cpu-prof-dir=DIR`). `bin` is
 * the scimkit to run: this checkout's by default, another built checkout's to compare against.
 */
function start(args: string[], rssFile: string, bin = 'bin/scimkit.mjs', nodeArgs: string[] = []): ChildProcess {
  const extra = (process.env.SCIMKIT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawn(process.execPath, [...extra, ...nodeArgs, '--import', PRELOAD, bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SCIMKIT_BENCH_RSS_FILE: rssFile },
  });
}

/** Calls `onLine` for each stdout line; resolves with stderr on a clean exit. */
function lines(child: ChildProcess, onLine: (line: string) => void): Promise<void> {
  let buffer = '';
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    // One split per chunk: the reader must not be what the connector waits for.
    const parts = (buffer + chunk).split('\n');
    buffer = parts.pop() as string;
    for (const line of parts) onLine(line);
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve() : reject(new Error(`exited with ${code ?? signal}: ${stderr}`))));
  });
}

/** The engine's figures from a shell's "done" log line. */
function done(message: string): Figures | null {
  const m = /done: \d+ records sent, (\d+) resources read in ([\d.]+) s \((\d+) requests\)/.exec(message);
  return m ? { resources: Number(m[1]), wallMs: Number(m[2]) * 1000, requests: Number(m[3]) } : null;
}

type Figures = Pick<WayRun, 'resources' | 'wallMs' | 'requests'>;

/** What report-rss.mjs wrote when the process exited. */
const usage = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { maxRssMb: number; cpuMs: number };

/** `scimkit sync --json` into `destination` (by default a SQLite file of its own in `dir`). */
export async function runCli(config: Json, dir: string, label: string, destination = `sqlite:${join(dir, `${label}.db`)}`, bin?: string): Promise<WayRun> {
  const path = join(dir, `${label}.json`);
  writeFileSync(path, JSON.stringify({ ...config, destination }));
  const rssFile = join(dir, `${label}.rss`);
  let last = '';
  const started = performance.now();
  await lines(start(['sync', '--config', path, '--json'], rssFile, bin), (l) => (last = l));
  const processMs = performance.now() - started;
  const s = JSON.parse(last) as { records: number; wallMs: number; requests: number; tables: Record<string, Record<string, number>> };
  const rowsSent = Object.values(s.tables).reduce((a, t) => a + t.inserted + t.updated + t.softDeleted, 0);
  return { way: 'cli', resources: s.records, wallMs: s.wallMs, requests: s.requests, ...usage(rssFile), processMs, rowsSent, states: 0, largestStateBytes: 0 };
}

const FLOOR = new URL('./sync-floor.mjs', import.meta.url).pathname;

/**
 * sync-floor.mjs (the least a full sync costs) into a SQLite file of its own, with the tables of `template`, a file
 * `scimkit sync` wrote. `usersOnly`: the users stream alone, with two 8 MiB semi-spaces from the start (the young
 * generation `scimkit sync` caps itself at): the floor of the peak RSS.
 */
export async function runFloor(config: Json, dir: string, label: string, template: string, usersOnly = false): Promise<WayRun> {
  const path = join(dir, `${label}.json`);
  writeFileSync(path, JSON.stringify(config));
  const rssFile = join(dir, `${label}.rss`);
  let last = '';
  const started = performance.now();
  const args = [path, template, join(dir, `${label}.db`), ...(usersOnly ? ['--users-only'] : [])];
  await lines(start(args, rssFile, FLOOR, usersOnly ? ['--max-semi-space-size=8'] : []), (l) => (last = l));
  const processMs = performance.now() - started;
  const { records } = JSON.parse(last) as { records: number };
  return { way: 'floor', resources: records, wallMs: processMs, requests: 0, ...usage(rssFile), processMs, rowsSent: 0, states: 0, largestStateBytes: 0 };
}

/** `scimkit airbyte read` of all three streams, incremental; `state` is kept between calls, as Airbyte keeps it. */
export async function runAirbyte(config: Json, dir: string, label: string, state: Map<string, string>): Promise<WayRun> {
  const configPath = join(dir, `${label}.json`);
  const catalogPath = join(dir, `${label}.catalog.json`);
  const statePath = join(dir, `${label}.state.json`);
  writeFileSync(configPath, JSON.stringify(config));
  writeFileSync(catalogPath, JSON.stringify({
    streams: (airbyteCatalog().streams as Json[]).map((stream) => ({ stream, sync_mode: 'incremental', destination_sync_mode: 'append_dedup' })),
  }));
  writeFileSync(statePath, `[${[...state.values()].join(',')}]`);
  const rssFile = join(dir, `${label}.rss`);
  let rowsSent = 0;
  let states = 0;
  let largest = 0;
  let figures: Figures | null = null;
  const started = performance.now();
  await lines(start(['airbyte', 'read', '--config', configPath, '--catalog', catalogPath, '--state', statePath], rssFile), (line) => {
    if (line.startsWith('{"type":"RECORD"')) rowsSent += 1;
    else if (line.startsWith(STATE_PREFIX)) {
      // Kept as text, as a platform stores it: parsing a large state here would take CPU from the connector.
      const name = /"stream_descriptor":\{"name":"([a-z_]+)"\}/.exec(line.slice(0, 200))?.[1] as string;
      state.set(name, line.slice(STATE_PREFIX.length - 1, -1));
      if (line.includes('"known"')) {
        states += 1;
        largest = Math.max(largest, line.length);
      }
    } else if (line.startsWith('{"type":"LOG"')) figures ??= done(String((JSON.parse(line) as { log: { message: string } }).log.message));
    else if (line.startsWith('{"type":"TRACE"')) throw new Error(`airbyte read failed: ${line}`);
  });
  if (!figures) throw new Error('airbyte read printed no done line');
  return { way: 'airbyte', ...(figures as Figures), ...usage(rssFile), processMs: performance.now() - started, rowsSent, states, largestStateBytes: largest };
}

/** `scimkit fivetran`, with one Update call from this process; `state.json` is kept between calls, as Fivetran keeps it. */
export async function runFivetran(config: Json, dir: string, label: string, state: { json?: string }): Promise<WayRun> {
  const rssFile = join(dir, `${label}.rss`);
  const started = performance.now();
  const child = start(['fivetran', '--port', '0'], rssFile);
  let figures: Figures | null = null;
  let listening: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => (listening = resolve));
  const exited = lines(child, (line) => {
    const message = String((JSON.parse(line) as { message: string }).message);
    const m = /listening on \S+:(\d+)/.exec(message);
    if (m) listening(Number(m[1]));
    figures ??= done(message);
  });
  // A 16 MiB HTTP/2 window, as gRPC clients that size theirs to the connection (Java's and Go's, by BDP probing) reach:
  // grpc-js keeps the 64 KiB default, which would make the connector wait on this client's acknowledgements.
  const client = new (rawClient())(`127.0.0.1:${await port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc-node.flow_control_window': 16 * 1024 * 1024,
  });
  let rowsSent = 0;
  let states = 0;
  let largest = 0;
  const configuration = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
  await new Promise<void>((resolve, reject) => {
    const call = (client as unknown as { Update(req: Json): grpc.ClientReadableStream<Json> }).Update({ configuration, state_json: state.json });
    call.on('data', (msg: { record?: true | Json; checkpoint?: { state_json: string } }) => {
      // A TRUNCATE (short enough to be decoded) is not a row.
      if (msg.record && (msg.record === true || msg.record.type !== 'TRUNCATE')) rowsSent += 1;
      if (msg.checkpoint) {
        state.json = msg.checkpoint.state_json;
        states += 1;
        largest = Math.max(largest, state.json.length);
      }
    });
    call.on('error', reject);
    call.on('end', resolve);
  });
  client.close();
  child.kill('SIGTERM');
  await exited;
  if (!figures) throw new Error('scimkit fivetran printed no done line');
  return { way: 'fivetran', ...(figures as Figures), ...usage(rssFile), processMs: performance.now() - started, rowsSent, states, largestStateBytes: largest };
}

/**
 * A client for Update that decodes only checkpoints: records are counted, not decoded, so the client (which runs on
 * Fivetran's side, not here) takes as little CPU from the connector on this machine as Airbyte's pipe reader does.
 */
function rawClient(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync('connector_sdk.proto', { ...PROTO_OPTIONS, includeDirs: [PROTO_DIR] });
  const update = definition['fivetran_sdk.v2.SourceConnector'] as grpc.ServiceDefinition;
  const decode = (update.Update as grpc.MethodDefinition<Json, Json>).responseDeserialize;
  // An UpdateResponse is a one-field message: its first byte is the field's tag (1 record, 3 checkpoint).
  const CHECKPOINT_TAG = (3 << 3) | 2;
  return grpc.makeGenericClientConstructor({
    Update: { ...update.Update, responseDeserialize: (buf: Buffer) => (buf[0] === CHECKPOINT_TAG || buf.length < 64 ? decode(buf) : { record: true }) },
  } as grpc.ServiceDefinition, 'SourceConnector');
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const WAYS: readonly Way[] = ['cli', 'airbyte', 'fivetran'];

/**
 * Runs the three ways on one organization in rounds, each round in a rotated order (the machine is shared, and the
 * server's speed drifts): full runs, each from scratch; then incremental rounds, each after `change(round)`, each
 * way from its own state. Returns report lines: medians over the rounds, and the median of each round's ratio to
 * the CLI's throughput.
 */
export async function compareWays(opts: { config: Json; users: number; dir: string; rounds: number; change: (round: number) => Promise<string> }): Promise<string[]> {
  const tag = `ways-${opts.users}`;
  const airbyteState = new Map<string, string>();
  const fivetranState: { json?: string } = {};
  const run = (way: Way, label: string): Promise<WayRun> =>
    way === 'cli' ? runCli(opts.config, opts.dir, `${tag}-cli${label}`)
      : way === 'airbyte' ? runAirbyte(opts.config, opts.dir, `${tag}-airbyte`, airbyteState)
        : runFivetran(opts.config, opts.dir, `${tag}-fivetran`, fivetranState);
  const full: WayRun[][] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const last = round === opts.rounds - 1;
    const results = new Map<Way, WayRun>();
    for (let i = 0; i < WAYS.length; i++) {
      const way = WAYS[(round + i) % WAYS.length];
      // Each full run starts from nothing; the last round's state is kept for the incremental rounds.
      if (way === 'airbyte') airbyteState.clear();
      if (way === 'fivetran') delete fivetranState.json;
      results.set(way, await run(way, last ? '' : `-full${round}`));
    }
    full.push(WAYS.map((w) => results.get(w) as WayRun));
  }
  const incremental: WayRun[][] = [];
  let what = '';
  for (let round = 0; round < opts.rounds; round++) {
    what = await opts.change(round);
    const results = new Map<Way, WayRun>();
    for (let i = 0; i < WAYS.length; i++) {
      const way = WAYS[(round + i) % WAYS.length];
      results.set(way, await run(way, ''));
    }
    incremental.push(WAYS.map((w) => results.get(w) as WayRun));
  }
  const perSecond = (r: WayRun) => r.resources / (r.wallMs / 1000);
  const out: string[] = [];
  for (const [kind, rounds] of [['full', full], [`incremental, ${what}`, incremental]] as const) {
    WAYS.forEach((way, w) => {
      const runs = rounds.map((r) => r[w]);
      const ratios = rounds.map((r) => perSecond(r[w]) / perSecond(r[0]));
      const last = runs[runs.length - 1];
      out.push(`| ${way} | ${fmt(opts.users)} | ${kind} | ${fmt(median(runs.map(perSecond)))} | **${fmt(median(ratios), 2)}** (${ratios.map((x) => fmt(x, 2)).join(', ')}) | ` +
        `${fmt(median(runs.map((r) => r.wallMs)) / 1000, 1)} | ${fmt(median(runs.map((r) => r.cpuMs)) / 1000, 1)} | ${fmt(median(runs.map((r) => r.maxRssMb)))} | ${fmt(last.rowsSent)} | ${last.requests} | ` +
        `${way === 'cli' ? '' : `${last.states}, ${fmt(last.largestStateBytes / 1048576, 1)} MB`} |`);
    });
  }
  return out;
}

export const WAYS_HEADER = [
  '| way of running | users | run | records/s | ratio to the CLI (rounds) | engine wall s | process CPU s | peak RSS MB | rows sent | requests | states written, largest |',
  '|---|---:|---|---:|---|---:|---:|---:|---:|---:|---|',
];
