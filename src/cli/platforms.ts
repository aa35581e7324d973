/**
 * The connector under the data platforms: `scimkit airbyte spec|check|discover|read` (the Airbyte source protocol
 * on stdout) and `scimkit fivetran` (the Fivetran Partner SDK connector service over gRPC). Both drive the same
 * engine as `scimkit sync`; the translation lives in src/connector/platforms.
 * Exit codes (airbyte): 0 success, 1 a failed run, 2 an invalid config, catalog or state. `fivetran` runs until
 * SIGINT or SIGTERM, and exits 1 when it cannot listen.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type ConnectorConfig } from '../connector/config.ts';
import { createRedactor, type Redactor } from '../connector/log.ts';
import { capYoungGeneration } from './young-generation.ts';

// Loaded when an airbyte command runs: they bring the sync engine and the connector's HTTP client, which
// `scimkit --help` and the other commands do not need.
const airbyteShell = () => import('../connector/platforms/airbyte.ts');
const platformErrors = () => import('../connector/platforms/errors.ts');

const write = (data: string | Buffer): void => {
  process.stdout.write(data);
};

/** A JSON file the platform handed over (catalog, state), and its size. Its text is never quoted: a state may be large. */
async function readJson(path: string, what: string): Promise<{ value: unknown; bytes: number }> {
  const { PlatformInputError } = await platformErrors();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlatformInputError(`cannot read the ${what} file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return { value: JSON.parse(text), bytes: text.length };
  } catch {
    throw new PlatformInputError(`the ${what} file ${path} is not valid JSON`);
  }
}

/** Reports a failure as a TRACE error and sets the exit code (2 for something to fix in the inputs, else 1). */
async function fail(err: unknown, redact: Redactor): Promise<void> {
  const [{ classifyFailure }, { traceErrorLine }] = await Promise.all([platformErrors(), airbyteShell()]);
  const failure = classifyFailure(err, redact);
  write(traceErrorLine(failure.kind, failure.message));
  process.exitCode = failure.kind === 'config' ? 2 : 1;
}

function withConfig(path: string, fn: (config: ConnectorConfig, redact: Redactor) => Promise<void>): Promise<void> {
  let redact: Redactor = (s) => s;
  return (async () => {
    try {
      const config = loadConfig(path);
      redact = createRedactor([config.bearerToken]);
      await fn(config, redact);
    } catch (err) {
      await fail(err, redact);
    }
  })();
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number, 0 to 65535');
  return n;
}

export function registerPlatformCommands(program: Command): void {
  const airbyte = program
    .command('airbyte')
    .description('Run the connector as an Airbyte source: the Airbyte protocol, one JSON message per line on stdout');

  airbyte
    .command('spec')
    .description('Print the SPEC message: the settings, as in the config file of `scimkit sync`')
    .action(async () => write((await airbyteShell()).specLine()));

  airbyte
    .command('check')
    .description('Check the settings and the connection (CONNECTION_STATUS)')
    .requiredOption('--config <file>', 'connector config (JSON)')
    .action(async (flags: { config: string }) => {
      const [{ airbyteCheck, connectionStatusLine }, { classifyFailure }] = await Promise.all([airbyteShell(), platformErrors()]);
      let config: ConnectorConfig;
      try {
        config = loadConfig(flags.config);
      } catch (err) {
        write(connectionStatusLine('FAILED', classifyFailure(err, (s) => s).message));
        return;
      }
      await airbyteCheck(config, write, createRedactor([config.bearerToken]));
    });

  airbyte
    .command('discover')
    .description('Print the CATALOG message: the users, groups and group_members streams')
    .requiredOption('--config <file>', 'connector config (JSON)')
    .action((flags: { config: string }) => withConfig(flags.config, async () => write((await airbyteShell()).catalogLine())));

  airbyte
    .command('read')
    .description('Read the streams the catalog selects: RECORD messages, with per-stream STATE messages as pages commit')
    .requiredOption('--config <file>', 'connector config (JSON)')
    .requiredOption('--catalog <file>', 'ConfiguredAirbyteCatalog (JSON)')
    .option('--state <file>', 'the per-stream states of the last run (JSON)')
    .action((flags: { config: string; catalog: string; state?: string }) =>
      withConfig(flags.config, async (config, redact) => {
        capYoungGeneration();
        const { airbyteRead, parseConfiguredCatalog } = await airbyteShell();
        const streams = parseConfiguredCatalog((await readJson(flags.catalog, 'catalog')).value);
        const state = flags.state === undefined ? undefined : await readJson(flags.state, 'state');
        const failed = await airbyteRead({ config, streams, state: state?.value, stateBytes: state?.bytes, write, redact });
        if (failed) process.exitCode = failed === 'config' ? 2 : 1;
      }),
    );

  program
    .command('fivetran')
    .description('Serve the Fivetran Partner SDK connector (gRPC: ConfigurationForm, Test, Schema, Update); logs are JSON lines on stdout')
    .option('--port <n>', 'port to listen on, on every address (IPv6 and IPv4); 0 picks a free one', port, 50051)
    .action(async (flags: { port: number }) => {
      capYoungGeneration();
      // gRPC loads only when this command runs.
      const { logLine, serveFivetran } = await import('../connector/platforms/fivetran.ts');
      try {
        const { server } = await serveFivetran({ port: flags.port });
        const stop = () => server.tryShutdown(() => {});
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (err) {
        write(logLine('SEVERE', `cannot listen on port ${flags.port}: ${err instanceof Error ? err.message : String(err)}`));
        process.exitCode = 1;
      }
    });
}
