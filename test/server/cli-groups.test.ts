/** `scimkit <command>` loads only its command's group (src/cli/main.ts): the table that says which must be right. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildProgram, COMMAND_GROUPS, GROUP_OF_COMMAND } from '../../src/cli/main.ts';

test('each top-level command is in the table under the group that registers it, and nothing else is', async () => {
  const registered: Record<string, string> = {};
  for (const group of Object.keys(COMMAND_GROUPS)) {
    for (const command of (await buildProgram([group])).commands) registered[command.name()] = group;
  }
  assert.deepEqual({ ...GROUP_OF_COMMAND }, registered);
});

test('a command runs with its group alone, and help and an unknown command still see every command', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/scimkit.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });
  const help = cli('--help');
  assert.equal(help.status, 0, help.stderr);
  for (const command of Object.keys(GROUP_OF_COMMAND)) assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`), command);
  const sync = cli('sync', '--help');
  assert.equal(sync.status, 0, sync.stderr);
  assert.match(sync.stdout, /Usage: scimkit sync/);
  const unknown = cli('synk');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /Did you mean sync\?/);
});
