/** The `scimkit` command: wires the layers together. Each command group lives in its own module. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { maskPassword } from '../sql/url.ts';

type Register = (program: Command) => void;

/** The command groups, in the order `--help` lists them. */
export const COMMAND_GROUPS: Readonly<Record<string, () => Promise<Register>>> = {
  server: async () => (await import('./server.ts')).registerServerCommands,
  events: async () => (await import('./events.ts')).registerEventCommands,
  admins: async () => (await import('./admins.ts')).registerAdminCommands,
  roles: async () => (await import('./roles.ts')).registerRoleCommands,
  connector: async () => (await import('./connector.ts')).registerConnectorCommands,
  platforms: async () => (await import('./platforms.ts')).registerPlatformCommands,
};

/**
 * The group of each top-level command (a test checks it against what the groups register): a command loads only its
 * own group's module, so that `scimkit sync` does not load the server's (about 15 ms of CPU and 1 MB).
 */
export const GROUP_OF_COMMAND: Readonly<Record<string, string>> = {
  serve: 'server', orgs: 'server', schemas: 'server', tokens: 'server',
  keys: 'events', events: 'events', webhooks: 'events', deliver: 'events',
  admins: 'admins',
  roles: 'roles',
  sync: 'connector', check: 'connector', state: 'connector', reset: 'connector', seed: 'connector',
  airbyte: 'platforms', fivetran: 'platforms',
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The program with the named groups' commands (all of them by default). */
export async function buildProgram(groups: readonly string[] = Object.keys(COMMAND_GROUPS)): Promise<Command> {
  const program = new Command('scimkit')
    .description('SCIM 2.0 service provider and sync connector')
    .version(version())
    .showHelpAfterError()
    // Errors may quote a flag's or a variable's value: a database or Redis URL keeps its password out of them.
    .configureOutput({ outputError: (text, write) => write(maskPassword(text)) });
  const registers = await Promise.all(groups.map((g) => COMMAND_GROUPS[g]()));
  for (const register of registers) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // A reader that stops reading (`scimkit state | head -3`) ends the command quietly, as SIGPIPE ends other tools,
  // not with an unhandled 'error' event and its stack trace. What was written to a destination is committed already.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
  // Help, --version and an unknown command see every group.
  const group = GROUP_OF_COMMAND[argv[2] ?? ''];
  await (await buildProgram(group ? [group] : undefined)).parseAsync(argv);
}
