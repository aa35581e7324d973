/**
 * The connector's commands: `sync`, `check`, `state`, `reset` and `seed`.
 * Exit codes: 0 success, 1 a failed run, 2 an invalid config or invalid arguments.
 */
import { Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, type ConnectorConfig, type DestinationUrl } from '../connector/config.ts';
import { STREAMS, type Destination, type TableCounts } from '../connector/destination/types.ts';
import { DuckDbBusy } from '../sql/duckdb.ts';
import { createLogger, createRedactor, type Redactor } from '../connector/log.ts';
import { createProgress, formatSummary, type ProgressSink } from '../connector/progress.ts';
import { TABLES, type TableName } from '../connector/tables.ts';
import { createInterface } from 'node:readline/promises';
import { capYoungGeneration } from './young-generation.ts';

// The sync engine and the source bring the HTTP client (node:http), the destinations their database drivers (and
// better-sqlite3's native module): loaded by the commands that use them, not by `scimkit --help` or `scimkit serve`.
const engine = () => import('../connector/sync.ts');
const source = () => import('../connector/source.ts');
const openDestination: typeof import('../connector/destination/index.ts').openDestination = async (...args) =>
  (await import('../connector/destination/index.ts')).openDestination(...args);

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Reports a failure on stderr (redacted) and sets the exit code: 2 for config problems, 1 otherwise. */
function fail(err: unknown, redact: Redactor): void {
  if (err instanceof ConfigError) {
    process.stderr.write(`scimkit: ${redact(err.message)}\n`);
    process.exitCode = 2;
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`scimkit: ${redact(message)}\n`);
  process.exitCode = 1;
}

/** Loads the config, runs `fn`, and turns any error into a redacted message and exit code. */
async function withConfig(path: string, fn: (config: ConnectorConfig, redact: Redactor) => Promise<void>): Promise<void> {
  let redact: Redactor = (s) => s;
  try {
    const config = loadConfig(path);
    redact = createRedactor([config.bearerToken]);
    await fn(config, redact);
  } catch (err) {
    fail(err, redact);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return n;
}

interface SyncFlags {
  config: string;
  fullRefresh?: boolean;
  watch?: boolean;
  allowMassDelete?: boolean;
  json?: boolean;
}

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;
/** The longest delay setTimeout keeps (2^31 - 1 ms). */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

async function syncCommand(flags: SyncFlags): Promise<void> {
  await withConfig(flags.config, async (config, redact) => {
    capYoungGeneration();
    const { runSync } = await engine();
    const logger = createLogger({ debug: config.enableDebugLogging, redact });
    let stopping = false;
    let wake: (() => void) | null = null;
    // Where the run is, for the message on Ctrl-C.
    let at = 'before reading anything';
    const progress = createProgress({ tty: Boolean(process.stderr.isTTY), write: (s) => process.stderr.write(s) });
    // Whether the run under way has begun reading (a full refresh clears the cursors just before).
    let reading = false;
    const tracked: ProgressSink = {
      phase(stream, phase, total, already) {
        at = `in the ${phase} pass of ${stream}`;
        reading = true;
        progress.phase(stream, phase, total, already);
      },
      update: (stream, done) => progress.update(stream, done),
      finish: (stream) => progress.finish(stream),
      stop: () => progress.stop(),
    };
    let controller: AbortController | null = null;
    let interruptedBy: NodeJS.Signals | null = null;
    const interrupted = () => {
      progress.stop();
      process.stderr.write(`\nscimkit: sync interrupted (${interruptedBy}) ${at}. Pages already written are kept, and the next \`scimkit sync\` resumes where this one stopped.\n`);
    };
    const interrupt = (signal: NodeJS.Signals) => {
      if (!controller) {
        // Between runs of --watch: stop waiting and leave.
        stopping = true;
        wake?.();
        return;
      }
      if (interruptedBy) return;
      interruptedBy = signal;
      // The run aborts its requests, rolls back the open page and releases the destination's lock; should that
      // hang (a stalled database), the process leaves anyway, and the database rolls back on disconnect.
      controller.abort(new Error(`interrupted by ${signal}`));
      setTimeout(() => {
        interrupted();
        process.exit(INTERRUPTED);
      }, 3000).unref();
    };
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', interrupt);
    // --full-refresh applies to the first run that gets as far as reading: under --watch, a run that failed before
    // (an unreachable source, a failed probe) leaves it to the next one.
    let refreshPending = Boolean(flags.fullRefresh);
    try {
      do {
        controller = new AbortController();
        try {
          at = 'before reading anything';
          reading = false;
          const summary = await runSync({
            config,
            logger,
            fullRefresh: refreshPending,
            allowMassDelete: flags.allowMassDelete,
            progress: tracked,
            signal: controller.signal,
          });
          out(flags.json ? JSON.stringify(summary) : formatSummary(summary));
          // The exit code is the last run's: under --watch, an earlier run may have failed.
          process.exitCode = 0;
        } catch (err) {
          if (interruptedBy) {
            interrupted();
            process.exitCode = INTERRUPTED;
            return;
          }
          fail(err, redact);
          if (!flags.watch) return;
        } finally {
          controller = null;
        }
        if (reading) refreshPending = false;
        if (flags.watch && !stopping) {
          const hours = config.syncFrequencyHours;
          logger.info(`next sync in ${hours} h (sync_frequency_hours)`);
          await new Promise<void>((resolve) => {
            // A timer holds at most 2^31 - 1 ms (24.8 days; a longer one fires at once) and the setting goes to 30
            // days: wait in steps until the time has come.
            const due = Date.now() + hours * 3_600_000;
            let timer: NodeJS.Timeout;
            const wait = () => {
              const left = due - Date.now();
              if (left <= 0) resolve();
              else timer = setTimeout(wait, Math.min(left, LONGEST_TIMER_MS));
            };
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
            wait();
          });
          wake = null;
        }
      } while (flags.watch && !stopping);
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    }
  });
}

async function checkCommand(flags: { config: string; json?: boolean }): Promise<void> {
  await withConfig(flags.config, async (config) => {
    const [{ clientFor }, { probe }] = await Promise.all([engine(), source()]);
    const { http, logger } = clientFor(config);
    try {
      const caps = await probe(http, { maxRecordsPerPage: config.maxRecordsPerPage, incremental: config.enableIncrementalSync });
      const report = {
        source: config.baseUrl,
        provider: config.provider,
        authentication: 'ok',
        serviceProviderConfig: caps.spc,
        paging: caps.paging,
        pageSize: caps.pageSize,
        rateLimitPerSecond: caps.rateLimit,
        streams: caps.streams,
        requests: http.stats.requests,
      };
      if (flags.json) {
        out(JSON.stringify(report));
        return;
      }
      const yn = (v: boolean | null) => (v === null ? 'unknown' : v ? 'yes' : 'no');
      const spc = caps.spc;
      out(`source: ${config.baseUrl} (provider ${config.provider})`);
      out('authentication: ok');
      out(spc.found
        ? `ServiceProviderConfig: filter ${yn(spc.filter)}${spc.maxResults ? ` (maxResults ${spc.maxResults})` : ''}, sort ${yn(spc.sort)}, patch ${yn(spc.patch)}, bulk ${yn(spc.bulk.supported)}, etag ${yn(spc.etag)}, cursor paging ${yn(spc.pagination.cursor)}`
        : 'ServiceProviderConfig: missing or unreadable (capabilities are probed directly)');
      out(`paging: ${caps.paging}, ${caps.pageSize} per page; projection (attributes=) ${caps.projection ? 'honoured' : 'not honoured'}`);
      out(`rate limit: ${caps.rateLimit ? `${caps.rateLimit} requests/s announced` : 'none announced'}`);
      for (const s of STREAMS) {
        const c = caps.streams[s];
        out(`${s}: ${c.total ?? 'unknown number of'} resources; ${c.strategy === 'incremental' ? 'incremental' : 'full scan'} (${c.reason})`);
      }
      logger.debug(`check used ${http.stats.requests} requests`);
    } finally {
      await http.close();
    }
  });
}

/**
 * The SQLite or DuckDB file a config names, when there is none: `state` and `reset` say so instead of creating an
 * empty database at a mistyped path (only `sync` creates the file).
 */
function missingFile(destination: DestinationUrl): string | null {
  if (destination.kind === 'postgres') return null;
  const path = resolve(destination.path);
  return existsSync(path) ? null : `${destination.kind}:${path}`;
}

async function stateCommand(flags: { config: string; json?: boolean }): Promise<void> {
  await withConfig(flags.config, async (config) => {
    const missing = missingFile(config.destination);
    if (missing) {
      if (flags.json) out(JSON.stringify({ destination: missing, namespace: config.namespace, source: null, running: null, streams: {}, tables: {} }));
      else out(`destination: ${missing} does not exist: nothing has been synced there yet (is "destination" in the config right?)`);
      return;
    }
    let dest: Destination;
    try {
      dest = await openDestination(config.destination, config.namespace);
    } catch (err) {
      // A DuckDB file is open in one process at a time: a sync running now, or any other program that opened it.
      if (!(err instanceof DuckDbBusy)) throw err;
      const running = { process: err.holder ?? 'another process', since: null };
      if (flags.json) out(JSON.stringify({ destination: `duckdb:${err.path}`, running }));
      else {
        out(`destination: duckdb:${err.path}`);
        out(`the file is open in ${running.process}: a sync running now, or another program such as the duckdb shell (DuckDB lets one process open the file at a time, so cursors and counts show once it is closed)`);
      }
      return;
    }
    try {
      const states = await dest.loadState();
      const counts = await dest.counts();
      const holder = await dest.lockHolder();
      const source = await dest.source();
      if (flags.json) {
        out(JSON.stringify({ destination: dest.label, namespace: dest.namespace, source, running: holder, streams: Object.fromEntries(states), tables: counts }));
        return;
      }
      out(`destination: ${dest.label}`);
      // As sync decides (SqlDestination.claimSource): a namespace whose recorded source left no rows and no state
      // (its first sync failed at its first request) is taken over by the next config, not refused.
      const holds = states.size > 0 || (['users', 'groups'] as const).some((t) => counts[t].live + counts[t].deleted > 0);
      const other = source && source.source !== config.baseUrl
        ? `; this config reads ${config.baseUrl}, so sync would ${holds ? 'refuse' : 'take the namespace over (nothing from the recorded source is in it)'}`
        : '';
      out(`source: ${source ? `${source.source} (recorded ${source.registeredAt})` : 'none recorded yet'}${other}`);
      if (holder) out(`a sync is running: ${holder.process}, since ${holder.since}`);
      for (const s of STREAMS) {
        const st = states.get(s);
        if (!st) {
          out(`${s}: never synced`);
          continue;
        }
        // A pass left open is running when a live sync holds the lock, else it was interrupted and resumes next run.
        const pass = st.phase ? `, ${st.phase} pass ${holder ? 'running' : 'interrupted'} at record ${st.position?.startIndex ?? 1}` : '';
        out(`${s}: strategy ${st.strategy ?? 'none'}, cursor ${st.cursor ?? 'none'}, last completed ${st.lastCompletedAt ?? 'never'}${pass}`);
      }
      for (const [table, c] of Object.entries(counts) as [TableName, TableCounts][]) out(`${dest.tableLabel(table)}: ${c.live} live rows, ${c.deleted} soft-deleted`);
    } finally {
      await dest.close();
    }
  });
}

/** Asks on the terminal; true only for "yes". */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

async function resetCommand(flags: { config: string; dropTables?: boolean; yes?: boolean }): Promise<void> {
  await withConfig(flags.config, async (config) => {
    const missing = missingFile(config.destination);
    if (missing) {
      process.stderr.write(`scimkit: ${missing} does not exist, so there is nothing to reset (is "destination" in the config right?)\n`);
      process.exitCode = 1;
      return;
    }
    const dest = await openDestination(config.destination, config.namespace);
    try {
      if (flags.dropTables && !flags.yes) {
        const what = `the tables ${TABLES.map((t) => dest.tableLabel(t.name)).join(', ')} and the sync state in ${dest.label}`;
        if (!process.stdin.isTTY) {
          process.stderr.write(`scimkit: reset --drop-tables deletes ${what}; re-run with --yes to confirm\n`);
          process.exitCode = 2;
          return;
        }
        if (!(await confirm(`This deletes ${what}. Type "yes" to drop them: `))) {
          process.stderr.write('scimkit: nothing was dropped\n');
          process.exitCode = 1;
          return;
        }
      }
      await dest.lock();
      await dest.reset({ dropTables: Boolean(flags.dropTables) });
      out(flags.dropTables ? `state and synced tables removed from ${dest.label}` : `state cleared in ${dest.label}: the next sync reads everything again`);
    } finally {
      await dest.close();
    }
  });
}

interface SeedFlags {
  url: string;
  token?: string;
  users: number;
  groups: number;
  membersPerGroup: number;
  bigGroup: number;
  seed: number;
  concurrency: number;
  json?: boolean;
}

const FAKER = '@faker-js/faker';

/**
 * Loads the seeder on demand: faker is large, no other command needs it, and it is an optional peer dependency of
 * the package. When it is not installed, says how to install it (exit code 1) and returns null.
 */
async function loadSeed(): Promise<typeof import('../connector/seed.ts').seed | null> {
  try {
    return (await import('../connector/seed.ts')).seed;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${FAKER}'`);
    if (!missing) throw err;
    process.stderr.write(`scimkit: seed needs ${FAKER}, which is not installed: run \`npm install ${FAKER}\` next to scimkit (the other commands do not need it)\n`);
    process.exitCode = 1;
    return null;
  }
}

async function seedCommand(flags: SeedFlags): Promise<void> {
  const token = flags.token ?? process.env.SCIMKIT_TOKEN;
  const redact = createRedactor([token]);
  if (!token) {
    process.stderr.write('scimkit: seed needs --token or SCIMKIT_TOKEN\n');
    process.exitCode = 2;
    return;
  }
  try {
    new URL(flags.url);
  } catch {
    process.stderr.write('scimkit: --url must be an absolute URL (the SCIM base, e.g. http://127.0.0.1:8080/scim/v2/organizations/ORG)\n');
    process.exitCode = 2;
    return;
  }
  try {
    const logger = createLogger({ debug: false, redact });
    const seed = await loadSeed();
    if (!seed) return;
    const result = await seed({
      baseUrl: flags.url,
      token,
      users: flags.users,
      groups: flags.groups,
      membersPerGroup: flags.membersPerGroup,
      bigGroupMembers: flags.bigGroup,
      seed: flags.seed,
      concurrency: Math.max(1, flags.concurrency),
      logger,
      onProgress: (p) => process.stderr.write(`seeded ${p.users} users, ${p.groups} groups\n`),
    });
    const summary = { users: result.userIds.length, groups: result.groupIds.length, requests: result.requests, retries: result.retries, throttled: result.throttled, wallMs: result.wallMs };
    out(flags.json ? JSON.stringify(summary) : `seeded ${summary.users} users and ${summary.groups} groups in ${(summary.wallMs / 1000).toFixed(1)} s (${summary.requests} requests, ${summary.retries} retries, ${summary.throttled} 429s)`);
  } catch (err) {
    fail(err, redact);
  }
}

/** Invalid arguments (a missing --config, an unknown option) exit with 2, as the docs say; help and version with 0. */
function argumentErrorsExit2(command: Command): Command {
  return command.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

export function registerConnectorCommands(program: Command): void {
  argumentErrorsExit2(program.command('sync'))
    .description('Sync users, groups and memberships from a SCIM API into SQLite, PostgreSQL or DuckDB tables')
    .requiredOption('--config <file>', 'connector config (JSON)')
    .option('--full-refresh', 'forget cursors and read everything again (rows are compared, not duplicated)')
    .option('--watch', 'repeat every sync_frequency_hours until interrupted')
    .option('--allow-mass-delete', 'apply soft deletes even past max_delete_share or for an empty source')
    .option('--json', 'print the summary as JSON')
    .action(syncCommand);

  argumentErrorsExit2(program.command('check'))
    .description('Check authentication and report what the source supports')
    .requiredOption('--config <file>', 'connector config (JSON)')
    .option('--json', 'print the report as JSON')
    .action(checkCommand);

  argumentErrorsExit2(program.command('state'))
    .description("Show the sync state kept in the destination (cursors, strategies, interrupted passes, row counts)")
    .requiredOption('--config <file>', 'connector config (JSON)')
    .option('--json', 'print as JSON')
    .action(stateCommand);

  argumentErrorsExit2(program.command('reset'))
    .description('Clear the sync state so the next sync reads everything again')
    .requiredOption('--config <file>', 'connector config (JSON)')
    .option('--drop-tables', 'also drop the synced tables (asks first, unless --yes)')
    .option('--yes', 'drop without asking (needed when not on a terminal)')
    .action(resetCommand);

  argumentErrorsExit2(program.command('seed'))
    .description('Fill a SCIM server with fake people and groups (@faker-js/faker), within its rate limits')
    .requiredOption('--url <base>', 'SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2/organizations/ORG')
    .option('--token <token>', 'bearer token (or set SCIMKIT_TOKEN, which keeps it out of the process list)')
    .option('--users <n>', 'users to create', positiveInt, 100)
    .option('--groups <n>', 'groups to create', positiveInt, 10)
    .option('--members-per-group <n>', 'members of each group', positiveInt, 10)
    .option('--big-group <n>', 'also create one group with this many members', positiveInt, 0)
    .option('--seed <n>', 'random seed, for reproducible data', positiveInt, 1)
    .option('--concurrency <n>', 'requests in flight at once', positiveInt, 2)
    .option('--json', 'print the result as JSON')
    .action(seedCommand);
}
