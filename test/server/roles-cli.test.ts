/** `scimkit roles define|undefine|map|unmap|list` as real processes over a SQLite file. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/index.ts';
import { groupDoc, userDoc } from '../store/contract.ts';
import { runCli } from './cli-run.ts';


describe('scimkit roles', () => {
  let dir: string;
  let db: string;
  let store: Store;
  let org: string;
  let alice: string;
  let engineering: string;

  const cli = (...args: string[]) => runCli(...args, '--db', db);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-roles-cli-'));
    db = join(dir, 'scim.db');
    store = await openStore({ sqlitePath: db, userCacheEntries: 0 });
    org = (await store.createOrganization('acme')).id;
    alice = (await store.create(org, 'User', userDoc('alice'))).id;
    engineering = (await store.create(org, 'Group', groupDoc('Engineering', [alice]))).id;
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('defines roles, maps a group found by name to its id, adds and removes roles, and lists', async () => {
    const defined = await cli('roles', 'define', org, 'admin', 'editor', 'viewer', '--default', 'viewer', '--json');
    assert.equal(defined.code, 0, defined.stderr);
    const catalogue = JSON.parse(defined.stdout);
    assert.deepEqual(catalogue.data.map((r: { key: string }) => r.key), ['admin', 'editor', 'viewer']);
    assert.equal(catalogue.default_role, 'viewer');
    assert.deepEqual((await store.getDirectoryUser(org, alice))?.roles, ['viewer']);

    // --group takes the displayName in any case and stores the rule by the group's id, which renames keep.
    const mapped = await cli('roles', 'map', org, '--group', 'engineering', '--role', 'editor', '--json');
    assert.equal(mapped.code, 0, mapped.stderr);
    const rule = JSON.parse(mapped.stdout);
    assert.deepEqual(rule.group, { id: engineering });
    assert.deepEqual(rule.roles, ['editor']);
    assert.deepEqual((await store.getDirectoryUser(org, alice))?.roles, ['editor']);

    const again = await cli('roles', 'map', org, '--group', engineering, '--role', 'editor');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /duplicate rule: rule \S+ already maps the group with id "[^"]+" to editor/);
    const more = await cli('roles', 'map', org, '--group', 'Engineering', '--role', 'admin', '--json');
    assert.equal(more.code, 0, more.stderr);
    assert.deepEqual(JSON.parse(more.stdout).roles, ['admin', 'editor']);
    assert.equal(JSON.parse(more.stdout).id, rule.id, 'the roles go to the same rule');

    const unknown = await cli('roles', 'map', org, '--group', 'Finance', '--role', 'viewer');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no group has the id or displayName "Finance"; for a group the IdP has not sent yet use --group-name "Finance" or --external-id/);
    const ahead = await cli('roles', 'map', org, '--group-name', 'Finance', '--role', 'viewer');
    assert.equal(ahead.code, 0, ahead.stderr);
    assert.match(ahead.stdout, /displayName "Finance"\tviewer\tmatches no group yet/);
    const badRole = await cli('roles', 'map', org, '--group-name', 'Sales', '--role', 'owner');
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /error: Role "owner" is not in the organization's catalogue \(admin, editor, viewer\)/);
    const inUse = await cli('roles', 'undefine', org, 'editor');
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /Role "editor" is used by mapping rule/);

    const listed = await cli('roles', 'list', org);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^Roles \(default: viewer; IdP-sent roles: off\):\n {2}admin\n {2}editor\n {2}viewer\nRules:\n/);
    assert.match(listed.stdout, new RegExp(`${rule.id}\\tid "${engineering}"\\tadmin,editor\\tmatches Engineering \\(${engineering}\\)`));
    const json = JSON.parse((await cli('roles', 'list', org, '--json')).stdout);
    assert.equal(json.mappings.length, 2);
    assert.equal(json.recomputing, false);

    const less = await cli('roles', 'unmap', org, '--group', 'Engineering', '--role', 'admin');
    assert.equal(less.code, 0, less.stderr);
    assert.deepEqual((await store.getDirectoryUser(org, alice))?.roles, ['editor']);
    const notThere = await cli('roles', 'unmap', org, rule.id, '--role', 'admin');
    assert.equal(notThere.code, 1);
    assert.match(notThere.stderr, /does not map to admin \(it maps to editor\)/);
    const gone = await cli('roles', 'unmap', org, rule.id);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(gone.stdout.trim(), `Removed rule ${rule.id}`);
    assert.deepEqual((await store.getDirectoryUser(org, alice))?.roles, ['viewer']);
    const none = await cli('roles', 'unmap', org, rule.id);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no such rule/);

    const off = await cli('roles', 'define', org, '--no-default', '--accept-idp-roles', 'on');
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /default: none; IdP-sent roles: on/);
    assert.deepEqual((await store.getDirectoryUser(org, alice))?.roles, []);
    assert.equal((await cli('roles', 'define', org)).code, 1);
    assert.equal((await cli('roles', 'list', 'no-such-org')).code, 1);
    const help = await cli('roles', 'map', '--help');
    assert.match(help.stdout, /--group-name <displayName>/);
  });
});
