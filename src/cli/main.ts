/** The `scimkit` command: wires the layers together. Each command group lives in its own module. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { maskPassword } from '../sql/url.ts';
import { registerServerCommands } from './server.ts';
import { registerConnectorCommands } from './connector.ts';
import { registerEventCommands } from './events.ts';
import { registerPlatformCommands } from './platforms.ts';
import { registerAdminCommands } from './admins.ts';
import { registerRoleCommands } from './roles.ts';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('scimkit')
    .description('SCIM 2.0 service provider and sync connector')
    .version(version())
    .showHelpAfterError()
    // Errors may quote a flag's or a variable's value: a database or Redis URL keeps its password out of them.
    .configureOutput({ outputError: (text, write) => write(maskPassword(text)) });
  // Command groups register themselves here.
  registerServerCommands(program);
  registerEventCommands(program);
  registerAdminCommands(program);
  registerRoleCommands(program);
  registerConnectorCommands(program);
  registerPlatformCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
