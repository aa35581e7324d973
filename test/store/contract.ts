/**
 * The Store contract: one suite, registered once per implementation (sqlite.test.ts, postgres.test.ts), so both
 * stores are held to the same behaviour.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ScimError } from '../../src/scim/errors.ts';
import { MAX_INDEXED_CHARS } from '../../src/scim/limits.ts';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { parsePatchOperations } from '../../src/scim/patch/index.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER, USER_SCHEMA } from '../../src/scim/schema/index.ts';
import { validateResource } from '../../src/scim/validate.ts';
import { INDEXED_COLUMNS } from '../../src/store/columns.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { isTokenExpired } from '../../src/store/operations.ts';
import type { QueryOptions, ResourceKind, Store, StoredResource } from '../../src/store/index.ts';
import type { StoreHarness } from './harness.ts';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function userDoc(userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return validateResource(USER, { schemas: [USER_SCHEMA], userName, ...extra }, { mode: 'create' });
}

export function groupDoc(displayName: string, members: string[] = []): Record<string, unknown> {
  const input: Record<string, unknown> = { schemas: [GROUP_SCHEMA], displayName };
  if (members.length > 0) input.members = members.map((value) => ({ value }));
  return validateResource(GROUP, input, { mode: 'create' });
}

function ops(kind: ResourceKind, operations: unknown[]) {
  return parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: operations }, kind === 'User' ? USER : GROUP);
}

async function rejects(promise: Promise<unknown>, status: number, scimType?: string): Promise<ScimError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ScimError, `expected a ScimError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    if (scimType !== undefined) assert.equal(err.scimType, scimType, err.message);
    return err;
  }
  assert.fail(`expected a ${status} error`);
}

function ids(resources: readonly StoredResource[]): string[] {
  return resources.map((r) => r.id).sort();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every case variant of `word` (up to 2^length), in a fixed order. */
function caseVariants(word: string, count: number): string[] {
  const out: string[] = [];
  for (let mask = 0; out.length < count; mask++) {
    out.push([...word].map((c, i) => (mask & (1 << i) ? c.toUpperCase() : c)).join(''));
  }
  return out;
}

export function storeContract(label: string, open: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${label}`, () => {
    let h: StoreHarness;
    let store: Store;
    before(async () => {
      h = await open();
      store = h.store;
    });
    after(async () => {
      await h.close();
    });

    const newOrg = async (name = 'org') => (await store.createOrganization(name)).id;
    const memberIds = (r: StoredResource | null) => ((r?.document.members as { value: string }[] | undefined) ?? []).map((m) => m.value).sort();
    const groupIds = (r: StoredResource | null) => ((r?.document.groups as { value: string }[] | undefined) ?? []).map((m) => m.value).sort();

    describe('organizations', () => {
      it('creates with default settings, gets, lists and merges setting updates', async () => {
        const org = await store.createOrganization('Acme');
        assert.equal(org.name, 'Acme');
        const defaults = { unknownAttributes: 'ignore', advertisePagination: false };
        assert.deepEqual(org.settings, { readLimit: 10, writeLimit: 10, compat: {}, ...defaults });
        assert.equal(org.schemaVersion, 0);
        assert.match(org.created, ISO_MS);
        assert.deepEqual(await store.getOrganization(org.id), org);
        assert.ok((await store.listOrganizations()).some((o) => o.id === org.id));
        const updated = await store.updateOrganization(org.id, { readLimit: 50, compat: { entraPatch: true } });
        assert.deepEqual(updated.settings, { readLimit: 50, writeLimit: 10, compat: { entraPatch: true }, ...defaults });
        const again = await store.updateOrganization(org.id, { compat: { oktaGroups: false } });
        assert.deepEqual(again.settings, { readLimit: 50, writeLimit: 10, compat: { entraPatch: true, oktaGroups: false }, ...defaults });
        const policy = await store.updateOrganization(org.id, { unknownAttributes: 'keep', advertisePagination: true });
        assert.deepEqual([policy.settings.unknownAttributes, policy.settings.advertisePagination, policy.settings.readLimit], ['keep', true, 50]);
        await assert.rejects(store.updateOrganization(org.id, { unknownAttributes: 'drop' as 'keep' }), /unknownAttributes/);
        await assert.rejects(store.updateOrganization(org.id, { advertisePagination: 'yes' as unknown as boolean }), /advertisePagination/);
        assert.deepEqual((await store.getOrganization(org.id))?.settings, policy.settings);
      });

      it('keeps every one of concurrent setting updates (no lost update)', async () => {
        const org = await newOrg();
        const names = Array.from({ length: 12 }, (_, i) => `switch${i}`);
        for (const on of [false, true]) {
          await Promise.all(names.map((name) => store.updateOrganization(org, { compat: { [name]: on } })));
          const compat = (await store.getOrganization(org))?.settings.compat;
          assert.deepEqual(compat, Object.fromEntries(names.map((name) => [name, on])));
        }
      });

      it('rejects bad settings and unknown organizations', async () => {
        await rejects(store.createOrganization('x', { readLimit: 0 }), 400, 'invalidValue');
        await rejects(store.createOrganization('x', { writeLimit: 1.5 }), 400, 'invalidValue');
        await rejects(store.createOrganization('x', { compat: { a: 'yes' as unknown as boolean } }), 400, 'invalidValue');
        await rejects(store.createOrganization('x', { compat: JSON.parse('{"__proto__": true}') }), 400, 'invalidValue');
        await rejects(store.createOrganization(''), 400, 'invalidValue');
        assert.equal(await store.getOrganization('no-such-org'), null);
        await rejects(store.updateOrganization('no-such-org', { readLimit: 5 }), 404);
        await rejects(store.create('no-such-org', 'User', userDoc('x')), 404);
      });

      it('renames, keeping id, settings, tokens and data; refuses empty, overlong and unknown', async () => {
        const org = await store.createOrganization('Before', { readLimit: 7 });
        const { secret } = await store.createToken(org.id, { scope: 'read' });
        const u = await store.create(org.id, 'User', userDoc('stays'));
        const renamed = await store.renameOrganization(org.id, 'After \u{1F600}');
        assert.deepEqual(renamed, { ...org, name: 'After \u{1F600}' });
        assert.deepEqual(await store.getOrganization(org.id), renamed);
        assert.equal((await store.findToken(secret))?.orgId, org.id);
        assert.equal((await store.get(org.id, 'User', u.id))?.document.userName, 'stays');
        await rejects(store.renameOrganization(org.id, ' '), 400, 'invalidValue');
        await rejects(store.renameOrganization(org.id, '\u{1F600}'.repeat(257)), 400, 'invalidValue');
        assert.equal((await store.renameOrganization(org.id, '\u{1F600}'.repeat(256))).name.length, 512, '256 characters of two UTF-16 units');
        await rejects(store.createOrganization('n'.repeat(257)), 400, 'invalidValue');
        await rejects(store.renameOrganization('no-such-org', 'x'), 404);
      });

      /** Tables with an org_id column, read from the database itself, so tables added later are covered too. */
      async function tablesWithOrgId(): Promise<string[]> {
        if (h.dialect === 'sqlite') {
          const tables = await h.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
          const out: string[] = [];
          for (const { name } of tables) {
            const columns = await h.raw(`SELECT name FROM pragma_table_info('${String(name)}')`);
            if (columns.some((c) => c.name === 'org_id')) out.push(String(name));
          }
          return out.sort();
        }
        const found = await h.raw("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'org_id'");
        return found.map((r) => String(r.table_name)).sort();
      }

      /** The tables each table references with ON DELETE CASCADE. */
      async function cascadesOf(table: string): Promise<string[]> {
        if (h.dialect === 'sqlite') {
          const keys = await h.raw(`SELECT "table" AS target, on_delete FROM pragma_foreign_key_list('${table}')`);
          return keys.filter((k) => k.on_delete === 'CASCADE').map((k) => String(k.target));
        }
        const keys = await h.raw(
          `SELECT confrelid::regclass::text AS target FROM pg_constraint WHERE contype = 'f' AND confdeltype = 'c' AND conrelid = '${table}'::regclass`,
        );
        return keys.map((k) => String(k.target));
      }

      it('every table with an org_id is deleted with its organization (ON DELETE CASCADE, directly or through another table)', async () => {
        const tables = await tablesWithOrgId();
        assert.ok(tables.includes('resources') && tables.includes('api_tokens') && tables.includes('memberships'), tables.join(', '));
        const reaches = new Map<string, string[]>();
        for (const table of tables) reaches.set(table, await cascadesOf(table));
        const cascades = (table: string, seen: Set<string>): boolean =>
          (reaches.get(table) ?? []).some((target) => target === 'organizations' || (!seen.has(target) && cascades(target, new Set([...seen, target]))));
        for (const table of tables) assert.ok(cascades(table, new Set([table])), `${table} is not deleted with its organization: reference organizations (or a table that does) ON DELETE CASCADE`);
      });

      it('deletes an organization and every row of it in one operation, leaving the others alone', async () => {
        const doomed = await store.createOrganization('Doomed');
        const kept = await newOrg('Kept');
        const fill = async (org: string) => {
          const [a, b] = await Promise.all(['a', 'b'].map((n) => store.create(org, 'User', userDoc(`del-${n}`))));
          const sub = await store.create(org, 'Group', groupDoc('Sub', [a.id]));
          await store.create(org, 'Group', groupDoc('Top', [a.id, b.id, sub.id]));
          await store.createToken(org, { scope: 'read-write' });
          await store.createToken(org, { scope: 'read', userId: b.id });
          return a;
        };
        await fill(doomed.id);
        const keptUser = await fill(kept);
        const { secret } = await store.createToken(doomed.id, { scope: 'read' });
        const rowsOf = async (org: string) => {
          const out: Record<string, number> = {};
          for (const table of await tablesWithOrgId()) out[table] = Number((await h.raw(`SELECT COUNT(*) AS n FROM ${table} WHERE org_id = ?`, [org]))[0].n);
          return out;
        };
        const keptBefore = await rowsOf(kept);
        assert.ok(Object.values(await rowsOf(doomed.id)).reduce((a, b) => a + b, 0) > 10);

        const deleted = await store.deleteOrganization(doomed.id);
        assert.deepEqual(deleted, { organization: doomed, users: 2, groups: 2, tokens: 3 });
        assert.equal(await store.getOrganization(doomed.id), null);
        assert.equal(await store.findToken(secret), null, 'its tokens no longer authenticate');
        for (const [table, n] of Object.entries(await rowsOf(doomed.id))) assert.equal(n, 0, `${table} still holds rows of the deleted organization`);
        assert.deepEqual(await rowsOf(kept), keptBefore, 'the other organization keeps every row');
        assert.deepEqual(groupIds(await store.get(kept, 'User', keptUser.id, { relations: true })).length, 2);
        assert.equal(await store.deleteOrganization(doomed.id), null);
      });
    });

    describe('tokens', () => {
      it('stores only the SHA-256 hash and finds live tokens by secret', async () => {
        const org = await newOrg();
        const { token, secret } = await store.createToken(org, { scope: 'read-write' });
        assert.ok(secret.length >= 43, 'a 32-byte secret');
        assert.equal(token.orgId, org);
        assert.equal(token.scope, 'read-write');
        assert.equal(token.userId, null);
        assert.equal(token.revoked, null);
        const stored = await h.raw('SELECT * FROM api_tokens WHERE id = ?', [token.id]);
        assert.equal(stored.length, 1);
        assert.equal(stored[0].token_hash, createHash('sha256').update(secret).digest('hex'));
        for (const value of Object.values(stored[0])) assert.ok(!String(value).includes(secret), 'the secret is not stored');
        assert.deepEqual(await store.findToken(secret), token);
        assert.equal(await store.findToken(`${secret}x`), null);
        assert.equal(await store.findToken(''), null);

        const second = await store.createToken(org, { scope: 'read' });
        assert.notEqual(second.secret, secret);
        assert.deepEqual((await store.listTokens(org)).map((t) => t.id).sort(), [token.id, second.token.id].sort());

        assert.equal(await store.revokeToken(token.id), true);
        assert.equal(await store.findToken(secret), null, 'a revoked token is not found');
        assert.equal(await store.revokeToken(token.id), false);
        const listed = (await store.listTokens(org)).find((t) => t.id === token.id);
        assert.match(listed?.revoked ?? '', ISO_MS);
        assert.equal((await store.findToken(second.secret))?.scope, 'read');
      });

      it('binds tokens to users of the same organization only', async () => {
        const org = await newOrg();
        const other = await newOrg();
        const user = await store.create(org, 'User', userDoc('me'));
        const stranger = await store.create(other, 'User', userDoc('stranger'));
        const { token } = await store.createToken(org, { scope: 'read', userId: user.id });
        assert.equal(token.userId, user.id);
        await rejects(store.createToken(org, { scope: 'read', userId: stranger.id }), 400, 'invalidValue');
        await rejects(store.createToken(org, { scope: 'admin' as 'read' }), 400, 'invalidValue');
        await rejects(store.createToken('no-such-org', { scope: 'read' }), 404);
      });

      it('expire: a token with an expiry is found with it, so the caller can refuse it once past', async () => {
        const org = await newOrg();
        const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
        const { token, secret } = await store.createToken(org, { scope: 'read', expires: inAnHour });
        assert.equal(token.expires, inAnHour);
        assert.deepEqual(await store.findToken(secret), token);
        assert.equal(isTokenExpired(token, new Date().toISOString()), false);
        assert.equal(isTokenExpired(token, inAnHour), true, 'expired from its expiry on');
        assert.equal((await store.createToken(org, { scope: 'read' })).token.expires, null);
        for (const expires of [new Date(Date.now() - 1000).toISOString(), '2027-13-01T00:00:00.000Z', 'tomorrow', '2027-01-01T00:00:00Z']) {
          await rejects(store.createToken(org, { scope: 'read', expires }), 400, 'invalidValue');
        }
      });

      it('rotate: a new token with the same scope and User, the old one working until the grace period ends', async () => {
        const org = await newOrg();
        const me = await store.create(org, 'User', userDoc('rotating'));
        const old = await store.createToken(org, { scope: 'read', userId: me.id });
        const graceUntil = new Date(Date.now() + 86_400_000).toISOString();
        const rotated = await store.rotateToken(old.token.id, { graceUntil });
        assert.notEqual(rotated.secret, old.secret);
        assert.equal(rotated.token.orgId, org);
        assert.equal(rotated.token.scope, 'read');
        assert.equal(rotated.token.userId, me.id);
        assert.equal(rotated.token.expires, null);
        assert.deepEqual(await store.findToken(rotated.secret), rotated.token);
        assert.equal((await store.findToken(old.secret))?.expires, graceUntil, 'the old one works until the grace period ends');

        // A shorter grace than what is left keeps the earlier end; a later one does not extend it.
        const again = await store.rotateToken(rotated.token.id, { graceUntil: new Date(Date.now() + 3_600_000).toISOString(), expires: graceUntil });
        assert.equal(again.token.expires, graceUntil);
        const later = new Date(Date.now() + 7 * 86_400_000).toISOString();
        await store.rotateToken(old.token.id, { graceUntil: later });
        assert.equal((await store.findToken(old.secret))?.expires, graceUntil);

        // Grace 0 (an end computed a moment ago, or any past time): the old token stops at once. A revoked, expired or
        // unknown token cannot be rotated.
        const third = await store.createToken(org, { scope: 'read-write' });
        await store.rotateToken(third.token.id, { graceUntil: '2000-01-01T00:00:00.000Z' });
        assert.equal(isTokenExpired((await store.findToken(third.secret))!, new Date().toISOString()), true);
        await rejects(store.rotateToken(third.token.id, { graceUntil: later }), 404);
        await store.revokeToken(again.token.id);
        await rejects(store.rotateToken(again.token.id, { graceUntil: later }), 404);
        await rejects(store.rotateToken('no-such-token', { graceUntil: later }), 404);
        await rejects(store.rotateToken(old.token.id, { graceUntil: 'soon' }), 400, 'invalidValue');
      });
    });

    describe('resources', () => {
      it('creates, reads, replaces and deletes with versions and timestamps', async () => {
        const org = await newOrg();
        const created = await store.create(org, 'User', userDoc('Jane', { title: 'Dev', externalId: 'e1' }));
        assert.equal(created.resourceType, 'User');
        assert.equal(created.version, 1);
        assert.match(created.created, ISO_MS);
        assert.equal(created.lastModified, created.created);
        assert.equal(created.document.userName, 'Jane');
        assert.equal('id' in created.document || 'meta' in created.document, false);
        assert.deepEqual(await store.get(org, 'User', created.id), created);
        assert.equal(await store.get(org, 'Group', created.id), null, 'the kind is part of the address');
        assert.equal(await store.get(org, 'User', 'missing'), null);

        await sleep(3);
        const replaced = await store.replace(org, 'User', created.id, userDoc('jane', { nickName: 'J' }));
        assert.equal(replaced.version, 2);
        assert.equal(replaced.created, created.created);
        assert.ok(replaced.lastModified > created.lastModified);
        const read = await store.get(org, 'User', created.id);
        assert.deepEqual(read, replaced);
        assert.equal(read?.document.title, undefined, 'replace drops attributes not sent');
        assert.equal(read?.document.nickName, 'J');

        const patched = await store.patch(org, 'User', created.id, ops('User', [{ op: 'replace', path: 'title', value: 'Lead' }, { op: 'add', value: { displayName: 'Jane D' } }]));
        assert.equal(patched.version, 3);
        assert.equal(patched.document.title, 'Lead');
        assert.equal(patched.document.displayName, 'Jane D');
        assert.equal(patched.document.nickName, 'J');
        assert.deepEqual(await store.get(org, 'User', created.id), patched);

        await store.delete(org, 'User', created.id);
        assert.equal(await store.get(org, 'User', created.id), null);
        await rejects(store.delete(org, 'User', created.id), 404);
        await rejects(store.replace(org, 'User', created.id, userDoc('x')), 404);
        await rejects(store.patch(org, 'User', created.id, ops('User', [{ op: 'replace', path: 'title', value: 'x' }])), 404);
      });

      it('answers a stale expectedVersion with 412 and a current one with success', async () => {
        const org = await newOrg();
        const u = await store.create(org, 'User', userDoc('v'));
        const v2 = await store.replace(org, 'User', u.id, userDoc('v', { title: 'a' }), { expectedVersion: 1 });
        assert.equal(v2.version, 2);
        await rejects(store.replace(org, 'User', u.id, userDoc('v', { title: 'b' }), { expectedVersion: 1 }), 412);
        await rejects(store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'title', value: 'c' }]), { expectedVersion: 1 }), 412);
        await rejects(store.delete(org, 'User', u.id, { expectedVersion: 1 }), 412);
        assert.equal((await store.get(org, 'User', u.id))?.document.title, 'a', 'failed writes changed nothing');
        const v3 = await store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'title', value: 'c' }]), { expectedVersion: 2 });
        assert.equal(v3.version, 3);
        await rejects(store.replace(org, 'User', 'missing', userDoc('v'), { expectedVersion: 1 }), 404);
        await store.delete(org, 'User', u.id, { expectedVersion: 3 });
        assert.equal(await store.get(org, 'User', u.id), null);
      });

      it('enforces case-insensitive uniqueness of userName and Group displayName per organization', async () => {
        const org = await newOrg();
        const other = await newOrg();
        const alice = await store.create(org, 'User', userDoc('Alice'));
        await rejects(store.create(org, 'User', userDoc('ALICE')), 409, 'uniqueness');
        await store.create(other, 'User', userDoc('alice'));
        const bob = await store.create(org, 'User', userDoc('bob'));
        await rejects(store.replace(org, 'User', bob.id, userDoc('aLiCe')), 409, 'uniqueness');
        await rejects(store.patch(org, 'User', bob.id, ops('User', [{ op: 'replace', path: 'userName', value: 'alice' }])), 409, 'uniqueness');
        assert.equal((await store.get(org, 'User', bob.id))?.version, 1);
        // Renaming to another case of its own name is allowed.
        assert.equal((await store.replace(org, 'User', alice.id, userDoc('ALICE'))).document.userName, 'ALICE');

        await store.create(org, 'Group', groupDoc('Engineering'));
        await rejects(store.create(org, 'Group', groupDoc('engineering')), 409, 'uniqueness');
        await store.create(other, 'Group', groupDoc('ENGINEERING'));
        // A User's displayName is not unique, and does not collide with Groups.
        await store.create(org, 'User', userDoc('eng1', { displayName: 'Engineering' }));
        await store.create(org, 'User', userDoc('eng2', { displayName: 'Engineering' }));
      });

      it('rejects NUL characters, which one of the databases cannot store', async () => {
        const org = await newOrg();
        await rejects(store.create(org, 'User', userDoc('nul\u0000name')), 400, 'invalidValue');
        await rejects(store.create(org, 'User', userDoc('ok', { title: 'a\u0000b' })), 400, 'invalidValue');
      });

      it('rejects unpaired surrogates, which PostgreSQL cannot read back from JSON, and keeps a literal "\\u0000"', async () => {
        const org = await newOrg();
        // Stored, a lone surrogate made every filter on the document's JSON fail in PostgreSQL (a 500 for the org).
        for (const title of ['a\ud800b', 'end\udfff', '\udc00\ud800']) {
          await rejects(store.create(org, 'User', userDoc('lone', { title })), 400, 'invalidValue');
        }
        const u = await store.create(org, 'User', userDoc('fine', { title: 'pair \ud83d\ude00 and a backslash \\u0000 \\\\' }));
        assert.equal((await store.get(org, 'User', u.id))?.document.title, 'pair \ud83d\ude00 and a backslash \\u0000 \\\\');
        await rejects(store.replace(org, 'User', u.id, userDoc('fine', { title: '\ud800' })), 400, 'invalidValue');
        await rejects(store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'title', value: 'x\udbff' }])), 400, 'invalidValue');
        await rejects(store.create(org, 'User', userDoc('nul\\\u0000')), 400, 'invalidValue');
        const found = await store.query(org, 'User', { filter: parseFilter('title co "\\\\u0000" and title pr'), count: 10 });
        assert.deepEqual(ids(found.resources), [u.id]);
        await rejects(store.query(org, 'User', { filter: parseFilter('title eq "\\ud800"'), count: 10 }), 400, 'invalidFilter');
      });

      it('stores indexed values at the length limit in 4-byte and case-expanding characters, and refuses longer ones', async () => {
        const org = await newOrg();
        // Each of these, at 512 characters, takes up to 2,048 bytes folded: the most a PostgreSQL B-tree entry may get.
        const longest = ['\u{1F600}', '\u0130', '\u{10400}'].map((c) => c.repeat(MAX_INDEXED_CHARS));
        for (const [i, value] of longest.entries()) {
          const u = await store.create(org, 'User', userDoc(value, { externalId: value }));
          const found = await store.query(org, 'User', { filter: parseFilter(`userName eq ${JSON.stringify(value.toLowerCase())} and externalId eq ${JSON.stringify(value)}`), count: 10 });
          assert.deepEqual(ids(found.resources), [u.id], `value ${i}`);
          const g = await store.create(org, 'Group', groupDoc(value, [u.id]));
          await rejects(store.create(org, 'Group', groupDoc(value)), 409, 'uniqueness');
          const renamed = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'replace', path: 'externalId', value }]));
          assert.equal(renamed.document.externalId, value);
          await rejects(store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'userName', value: value + 'x' }])), 400, 'invalidValue');
        }
        // Past the limit, with random text that no index could compress.
        const random = Array.from({ length: 2800 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 20000))).join('');
        assert.throws(() => userDoc(random), (err: unknown) => err instanceof ScimError && err.status === 400 && /at most 512 characters/.test(err.message));
      });

      it('validates patched documents and leaves the resource unchanged on error', async () => {
        const org = await newOrg();
        const u = await store.create(org, 'User', userDoc('p', { title: 't' }));
        await rejects(store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'active', value: 'yes' }])), 400);
        await rejects(store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'userName', value: '' }])), 400);
        assert.deepEqual(await store.get(org, 'User', u.id), u);
      });
    });

    describe('tenant isolation', () => {
      it('never lets one organization reach another one\'s resources', async () => {
        const a = await newOrg('a');
        const b = await newOrg('b');
        const user = await store.create(a, 'User', userDoc('secret-user', { title: 'x' }));
        const group = await store.create(a, 'Group', groupDoc('secret-group', [user.id]));
        assert.equal(await store.get(b, 'User', user.id), null);
        assert.equal(await store.get(b, 'Group', group.id), null);
        await rejects(store.replace(b, 'User', user.id, userDoc('hijack')), 404);
        await rejects(store.patch(b, 'User', user.id, ops('User', [{ op: 'replace', path: 'title', value: 'y' }])), 404);
        await rejects(store.delete(b, 'User', user.id), 404);
        await rejects(store.delete(b, 'User', user.id, { expectedVersion: 1 }), 404);
        for (const filter of ['userName pr', `id eq "${user.id}"`, 'userName eq "secret-user"']) {
          const found = await store.query(b, 'User', { filter: parseFilter(filter), count: 10 });
          assert.equal(found.totalResults, 0, filter);
        }
        assert.equal((await store.query(b, 'Group', { filter: parseFilter(`members.value eq "${user.id}"`), count: 10 })).totalResults, 0);
        // A group in b cannot take a's user as a member.
        await rejects(store.create(b, 'Group', groupDoc('b-group', [user.id])), 400, 'invalidValue');
        const bGroup = await store.create(b, 'Group', groupDoc('b-group'));
        await rejects(store.patch(b, 'Group', bGroup.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: user.id }] }])), 400, 'invalidValue');
        // a's data is untouched.
        assert.deepEqual(memberIds(await store.get(a, 'Group', group.id, { relations: true })), [user.id]);
        assert.equal((await store.get(a, 'User', user.id))?.document.title, 'x');
      });
    });

    describe('membership', () => {
      it('keeps members in their own table, read only with relations', async () => {
        const org = await newOrg();
        const u1 = await store.create(org, 'User', userDoc('m1', { displayName: 'Member One' }));
        const u2 = await store.create(org, 'User', userDoc('m2'));
        const sub = await store.create(org, 'Group', groupDoc('Sub'));
        const g = await store.create(org, 'Group', groupDoc('Parent', [u1.id, u2.id, sub.id]), { relations: true });
        assert.deepEqual(
          [...(g.document.members as object[])].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
          [
            { value: u1.id, display: 'Member One', type: 'User' },
            { value: u2.id, display: 'm2', type: 'User' },
            { value: sub.id, display: 'Sub', type: 'Group' },
          ].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
        );
        const plain = await store.get(org, 'Group', g.id);
        assert.equal(plain?.document.members, undefined);
        assert.equal((await h.raw('SELECT doc FROM resources WHERE id = ?', [g.id]))[0].doc?.toString().includes(u1.id), false, 'members are not in the JSON');
        assert.deepEqual(groupIds(await store.get(org, 'User', u1.id, { relations: true })), [g.id]);
        assert.deepEqual(groupIds(await store.get(org, 'Group', sub.id, { relations: true })), [], 'a Group has members, not groups');
        const withGroups = await store.get(org, 'User', u1.id, { relations: true });
        assert.deepEqual(withGroups?.document.groups, [{ value: g.id, display: 'Parent', type: 'direct' }]);
        assert.equal((await store.get(org, 'User', u1.id))?.document.groups, undefined);
      });

      it("lists nested groups in a User's groups as indirect, bounded in depth and through cycles, and filters them", async () => {
        const org = await newOrg();
        const user = await store.create(org, 'User', userDoc('nested-user'));
        const other = await store.create(org, 'User', userDoc('plain-user'));
        // user ∈ C ∈ B ∈ A, and A ∈ C closes a cycle.
        const c = await store.create(org, 'Group', groupDoc('C', [user.id]));
        const b = await store.create(org, 'Group', groupDoc('B', [c.id]));
        const a = await store.create(org, 'Group', groupDoc('A', [b.id, other.id]));
        await store.patch(org, 'Group', c.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: a.id }] }]));
        const groupsOf = async (id: string) =>
          ((await store.get(org, 'User', id, { relations: true }))?.document.groups as { value: string; type: string; display: string }[] | undefined)
            ?.map((g) => `${g.display}:${g.type}`)
            .sort();
        assert.deepEqual(await groupsOf(user.id), ['A:indirect', 'B:indirect', 'C:direct']);
        assert.deepEqual(await groupsOf(other.id), ['A:direct', 'B:indirect', 'C:indirect'], 'the cycle leads back through C');
        // Lists read them the same way.
        const listed = await store.query(org, 'User', { count: 10, relations: true, filter: parseFilter('userName eq "nested-user"') });
        assert.deepEqual((listed.resources[0].document.groups as { type: string }[]).map((g) => g.type).sort(), ['direct', 'indirect', 'indirect']);
        // Filters see what is listed.
        const find = async (filter: string) => (await store.query(org, 'User', { count: 10, filter: parseFilter(filter) })).resources.map((r) => r.document.userName).sort();
        assert.deepEqual(await find(`groups[value eq "${b.id}" and type eq "indirect"]`), ['nested-user', 'plain-user']);
        assert.deepEqual(await find(`groups[value eq "${a.id}" and type eq "direct"]`), ['plain-user']);
        assert.deepEqual(await find(`groups.display eq "C"`), ['nested-user', 'plain-user']);
        // Taking B out of A cuts the path (a cached user is not served stale).
        await store.patch(org, 'Group', a.id, ops('Group', [{ op: 'remove', path: `members[value eq "${b.id}"]` }]));
        assert.deepEqual(await groupsOf(user.id), ['B:indirect', 'C:direct']);
        assert.deepEqual(await groupsOf(other.id), ['A:direct', 'B:indirect', 'C:indirect']);
      });

      it('follows nested groups at most MAX_GROUP_NESTING levels deep', async () => {
        const { MAX_GROUP_NESTING } = await import('../../src/store/filter-sql.ts');
        const org = await newOrg();
        const user = await store.create(org, 'User', userDoc('deep-user'));
        let inner = await store.create(org, 'Group', groupDoc('level-1', [user.id]));
        for (let level = 2; level <= MAX_GROUP_NESTING + 3; level++) inner = await store.create(org, 'Group', groupDoc(`level-${level}`, [inner.id]));
        const groups = (await store.get(org, 'User', user.id, { relations: true }))?.document.groups as { display: string }[];
        assert.equal(groups.length, MAX_GROUP_NESTING);
        assert.ok(groups.some((g) => g.display === `level-${MAX_GROUP_NESTING}`));
        assert.ok(!groups.some((g) => g.display === `level-${MAX_GROUP_NESTING + 1}`));
      });

      it('applies PATCH member deltas: add, remove by id, remove by filter, remove all, replace', async () => {
        const org = await newOrg();
        const users = await Promise.all(['a', 'b', 'c', 'd'].map((n) => store.create(org, 'User', userDoc(`user-${n}`))));
        const [a, b, c, d] = users;
        const g = await store.create(org, 'Group', groupDoc('Team', [a.id]));
        let r = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: b.id }, { value: a.id }, { value: c.id }] }]), { relations: true });
        assert.deepEqual(memberIds(r), [a.id, b.id, c.id].sort(), 'adding an existing member keeps one entry');
        assert.equal(r.version, 2);
        r = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'remove', path: `members[value eq "${b.id}"]` }]), { relations: true });
        assert.deepEqual(memberIds(r), [a.id, c.id].sort());
        r = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'remove', path: 'members[display eq "USER-C"]' }]), { relations: true });
        assert.deepEqual(memberIds(r), [a.id], 'remove by a non-id filter (display, case-insensitive)');
        r = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'replace', path: 'members', value: [{ value: c.id }, { value: d.id }] }]), { relations: true });
        assert.deepEqual(memberIds(r), [c.id, d.id].sort());
        r = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'replace', path: 'displayName', value: 'Team 2' }]), { relations: true });
        assert.deepEqual(memberIds(r), [c.id, d.id].sort(), 'other changes leave members alone');
        assert.equal(r.document.displayName, 'Team 2');
        r = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'remove', path: 'members' }]), { relations: true });
        assert.deepEqual(memberIds(r), []);
        assert.equal(r.version, 7);
        const rows = await h.raw('SELECT COUNT(*) AS n FROM memberships WHERE group_id = ?', [g.id]);
        assert.equal(Number(rows[0].n), 0);
      });

      it('rejects members that are not resources of the organization, and self-membership', async () => {
        const org = await newOrg();
        const g = await store.create(org, 'Group', groupDoc('G'));
        const err = await rejects(store.patch(org, 'Group', g.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: 'ghost-id' }] }])), 400, 'invalidValue');
        assert.match(err.message, /ghost-id/);
        await rejects(store.create(org, 'Group', groupDoc('H', ['ghost-id'])), 400, 'invalidValue');
        await rejects(store.patch(org, 'Group', g.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: g.id }] }])), 400, 'invalidValue');
        assert.equal((await store.get(org, 'Group', g.id))?.version, 1, 'nothing changed');
        assert.equal((await store.query(org, 'Group', { filter: parseFilter('displayName eq "H"'), count: 1 })).totalResults, 0, 'the failed create left nothing');
      });

      it('PUT replaces the member list', async () => {
        const org = await newOrg();
        const [a, b] = await Promise.all(['a', 'b'].map((n) => store.create(org, 'User', userDoc(n))));
        const g = await store.create(org, 'Group', groupDoc('G', [a.id]));
        const r = await store.replace(org, 'Group', g.id, groupDoc('G', [b.id]), { relations: true });
        assert.deepEqual(memberIds(r), [b.id]);
        assert.deepEqual(memberIds(await store.replace(org, 'Group', g.id, groupDoc('G'), { relations: true })), []);
      });

      it('deleting a user or group removes its memberships in the same operation', async () => {
        const org = await newOrg();
        const u = await store.create(org, 'User', userDoc('leaver'));
        const stay = await store.create(org, 'User', userDoc('stayer'));
        const g1 = await store.create(org, 'Group', groupDoc('G1', [u.id, stay.id]));
        const g2 = await store.create(org, 'Group', groupDoc('G2', [u.id, g1.id]));
        await store.delete(org, 'User', u.id);
        assert.deepEqual(memberIds(await store.get(org, 'Group', g1.id, { relations: true })), [stay.id]);
        assert.deepEqual(memberIds(await store.get(org, 'Group', g2.id, { relations: true })), [g1.id]);
        assert.equal(Number((await h.raw('SELECT COUNT(*) AS n FROM memberships WHERE member_id = ?', [u.id]))[0].n), 0);
        await store.delete(org, 'Group', g1.id);
        assert.deepEqual(memberIds(await store.get(org, 'Group', g2.id, { relations: true })), []);
        assert.deepEqual(groupIds(await store.get(org, 'User', stay.id, { relations: true })), []);
        assert.equal(Number((await h.raw('SELECT COUNT(*) AS n FROM memberships WHERE group_id = ? OR member_id = ?', [g1.id, g1.id]))[0].n), 0);
      });

      it('reads and lists Groups without relations without touching the memberships table', async () => {
        const org = await newOrg();
        const u = await store.create(org, 'User', userDoc('x'));
        const g = await store.create(org, 'Group', groupDoc('Untouched', [u.id]));
        await h.raw('ALTER TABLE memberships RENAME TO memberships_away');
        try {
          assert.equal((await store.get(org, 'Group', g.id))?.document.displayName, 'Untouched');
          const listed = await store.query(org, 'Group', { filter: parseFilter('displayName sw "unt"'), count: 10 });
          assert.deepEqual(ids(listed.resources), [g.id]);
          // The same reads with relations do need the table: proof that the test would notice.
          await assert.rejects(store.get(org, 'Group', g.id, { relations: true }));
        } finally {
          await h.raw('ALTER TABLE memberships_away RENAME TO memberships');
        }
        assert.deepEqual(memberIds(await store.get(org, 'Group', g.id, { relations: true })), [u.id]);
      });
    });

    describe('filters', () => {
      let org: string;
      const u: Record<string, StoredResource> = {};
      let team: StoredResource;
      let empty: StoredResource;
      before(async () => {
        org = await newOrg('filters');
        u.alice = await store.create(org, 'User', userDoc('alice', {
          name: { givenName: 'Alice', familyName: 'Smith' },
          title: 'Engineer',
          active: true,
          externalId: 'ext-1',
          emails: [{ value: 'alice@example.com', type: 'work', primary: true }, { value: 'al@home.org', type: 'home' }],
          [ENTERPRISE_USER_SCHEMA]: { department: 'R&D' },
        }));
        u.bob = await store.create(org, 'User', userDoc('Bob_1', {
          name: { givenName: 'Bob' },
          title: 'engineering manager',
          active: false,
          externalId: 'EXT-2',
          emails: [{ value: 'bob@example.com', type: 'work' }],
        }));
        // Validation stores `active: true` for a User created without it; these two are stored without it (the Store
        // takes documents as they are), so the filters below meet an absent boolean.
        const withoutActive = (doc: Record<string, unknown>) => Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'active'));
        u.carol = await store.create(org, 'User', withoutActive(userDoc('carol%', { title: '', [ENTERPRISE_USER_SCHEMA]: { department: 'Sales' } })));
        u.dave = await store.create(org, 'User', withoutActive(userDoc('dave', { displayName: 'Dave D', title: 'Engineer', emails: [{ value: '', type: 'other' }] })));
        team = await store.create(org, 'Group', groupDoc('Eng Team', [u.alice.id, u.bob.id]));
        empty = await store.create(org, 'Group', groupDoc('Empty'));
      });

      const expectUsers = async (filter: string, names: string[]) => {
        const result = await store.query(org, 'User', { filter: parseFilter(filter), count: 100 });
        assert.deepEqual(ids(result.resources), names.map((n) => u[n].id).sort(), filter);
        assert.equal(result.totalResults, names.length, filter);
      };

      it('folds case alike on every database: İ (U+0130) and a word-final Σ included', async () => {
        // SQLite folded with JavaScript and PostgreSQL with lower(): "İstanbul" matched "istanbul" on PostgreSQL only,
        // and on PostgreSQL "İstanbul" and "ΟΔΟΣ" did not even match themselves.
        const turkish = await newOrg('folding');
        const named: Record<string, StoredResource> = {};
        for (const [key, displayName] of [['dotted', 'İstanbul'], ['plain', 'istanbul'], ['greek', 'ΟΔΟΣ'], ['final', 'οδος'], ['upper', 'ISTANBUL']] as const) {
          named[key] = await store.create(turkish, 'User', userDoc(`fold-${key}`, { displayName, title: displayName }));
        }
        const matching = async (filter: string) =>
          ids((await store.query(turkish, 'User', { filter: parseFilter(filter), count: 100 })).resources).join() ;
        const expect = async (filter: string, keys: string[]) => assert.equal(await matching(filter), keys.map((k) => named[k].id).sort().join(), filter);
        await expect('displayName eq "İstanbul"', ['dotted']);
        await expect('displayName eq "İSTANBUL"', ['dotted']);
        await expect('displayName eq "istanbul"', ['plain', 'upper']);
        await expect('title sw "İst"', ['dotted']);
        await expect('title co "stanbul"', ['dotted', 'plain', 'upper']);
        await expect('displayName eq "ΟΔΟΣ"', ['greek', 'final']);
        await expect('displayName eq "οδοσ"', ['greek', 'final']);
        await expect('title ew "ος"', ['greek', 'final']);
        // Sorting folds the same way: "istanbul" < "i̇stanbul" (U+0307 sorts after "s") < "οδοσ", the ties by id.
        const sorted = (await store.query(turkish, 'User', { sortBy: 'title', count: 100 })).resources.map((r) => String(r.document.title));
        assert.deepEqual(sorted.slice(2), ['İstanbul', ...[named.greek, named.final].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => String(r.document.title))]);
        assert.deepEqual(new Set(sorted.slice(0, 2)), new Set(['istanbul', 'ISTANBUL']));
      });

      it('compares strings with eq/ne/co/sw/ew/gt/ge/lt/le, case-insensitively unless caseExact', async () => {
        await expectUsers('userName eq "ALICE"', ['alice']);
        await expectUsers('userName ne "alice"', ['bob', 'carol', 'dave']);
        await expectUsers('userName co "_"', ['bob']);
        await expectUsers('userName co "%"', ['carol']);
        await expectUsers('userName sw "B"', ['bob']);
        await expectUsers('userName ew "OL%"', ['carol']);
        await expectUsers('userName gt "bob_1"', ['carol', 'dave']);
        await expectUsers('userName ge "BOB_1"', ['bob', 'carol', 'dave']);
        await expectUsers('userName lt "bob"', ['alice']);
        await expectUsers('userName le "alice"', ['alice']);
        await expectUsers('title eq "engineer"', ['alice', 'dave']);
        await expectUsers('title co "ENG"', ['alice', 'bob', 'dave']);
        await expectUsers('title ew "MANAGER"', ['bob']);
        await expectUsers('name.givenName sw "a"', ['alice']);
        await expectUsers('externalId eq "ext-2"', []);
        await expectUsers('externalId eq "EXT-2"', ['bob']);
        await expectUsers('externalId co "xt"', ['alice']);
        await expectUsers('externalId co "XT"', ['bob']);
        await expectUsers(`id eq "${u.bob.id}"`, ['bob']);
        await expectUsers(`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"`, ['alice']);
        await expectUsers('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr', ['alice', 'carol']);
        await expectUsers('schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', ['alice', 'carol']);
      });

      it('escapes LIKE wildcards and the escape character in operands', async () => {
        const other = await newOrg();
        const names = ['a_c', 'abc', 'a%c', 'a\\c', 'aXc'];
        const made = await Promise.all(names.map((n) => store.create(other, 'User', userDoc(n))));
        const byName = new Map(names.map((n, i) => [n, made[i].id]));
        for (const [operand, expected] of [['_', ['a_c']], ['%', ['a%c']], ['\\\\', ['a\\c']], ['a_', ['a_c']], ['x', ['aXc']]] as const) {
          const result = await store.query(other, 'User', { filter: parseFilter(`userName co "${operand}"`), count: 10 });
          assert.deepEqual(ids(result.resources), expected.map((n) => byName.get(n)).sort(), operand);
        }
      });

      it('handles pr, null, booleans, not, and, or', async () => {
        await expectUsers('title pr', ['alice', 'bob', 'dave']);
        await expectUsers('not (title pr)', ['carol']);
        await expectUsers('title eq null', ['carol']);
        await expectUsers('title ne null', ['alice', 'bob', 'dave']);
        await expectUsers('active eq true', ['alice']);
        await expectUsers('active eq false', ['bob']);
        await expectUsers('active ne true', ['bob', 'carol', 'dave']);
        await expectUsers('name pr', ['alice', 'bob']);
        await expectUsers('not (userName eq "alice") and active pr', ['bob']);
        await expectUsers('(title eq "Engineer" or active eq false) and not (userName sw "d")', ['alice', 'bob']);
        await expectUsers('not (not (active eq true))', ['alice']);
        await expectUsers('nickName pr or not (nickName pr)', ['alice', 'bob', 'carol', 'dave']);
      });

      it('matches multi-valued attributes when any value matches, and value paths', async () => {
        await expectUsers('emails.value ew "EXAMPLE.COM"', ['alice', 'bob']);
        await expectUsers('emails co "home"', ['alice']);
        await expectUsers('emails eq "bob@example.com"', ['bob']);
        await expectUsers('emails.value ne "bob@example.com"', ['alice', 'carol', 'dave']);
        await expectUsers('emails[type eq "work" and value sw "bob"]', ['bob']);
        await expectUsers('emails[type eq "home"]', ['alice']);
        await expectUsers('emails[type eq "home" and value co "example"]', []);
        await expectUsers('emails[primary eq true]', ['alice']);
        await expectUsers('emails[not (primary pr)]', ['alice', 'bob', 'dave']);
        await expectUsers('emails.value pr', ['alice', 'bob']);
        await expectUsers('emails pr', ['alice', 'bob', 'dave']);
        await expectUsers('emails eq null', ['carol', 'dave']);
        await expectUsers('name[givenName eq "bob"]', ['bob']);
      });

      it('compares dateTimes as instants, in any offset', async () => {
        const [first, ...rest] = [u.alice, u.bob, u.carol, u.dave].sort((x, y) => x.created.localeCompare(y.created));
        const later = rest.filter((r) => r.created > first.created).map((r) => r.id).sort();
        const result = await store.query(org, 'User', { filter: parseFilter(`meta.created gt "${first.created}"`), count: 10 });
        assert.deepEqual(ids(result.resources), later);
        // The same instant written with an offset.
        const shifted = new Date(Date.parse(first.created) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
        const again = await store.query(org, 'User', { filter: parseFilter(`meta.created gt "${shifted}"`), count: 10 });
        assert.deepEqual(ids(again.resources), later);
        await expectUsers(`meta.created le "${first.created}" and meta.created ge "${first.created}"`, Object.keys(u).filter((k) => u[k].created === first.created));
        await expectUsers('meta.lastModified lt "2999-01-01T00:00:00+14:00"', ['alice', 'bob', 'carol', 'dave']);
        await expectUsers('meta.resourceType eq "User"', ['alice', 'bob', 'carol', 'dave']);
        await expectUsers(`meta.version eq "W/\\"1\\""`, ['alice', 'bob', 'carol', 'dave']);
      });

      it('filters Group members and User groups through the memberships table', async () => {
        const groups = async (filter: string) => ids((await store.query(org, 'Group', { filter: parseFilter(filter), count: 10 })).resources);
        assert.deepEqual(await groups(`members.value eq "${u.alice.id}"`), [team.id]);
        assert.deepEqual(await groups(`members[value eq "${u.bob.id}"]`), [team.id]);
        assert.deepEqual(await groups(`members eq "${u.carol.id}"`), []);
        assert.deepEqual(await groups('members[type eq "user" and display co "ALI"]'), [team.id]);
        assert.deepEqual(await groups('members pr'), [team.id]);
        assert.deepEqual(await groups('not (members pr)'), [empty.id]);
        assert.deepEqual(await groups('displayName eq "eng team"'), [team.id]);
        assert.deepEqual(await groups('displayName gt "E"'), [empty.id, team.id].sort());
        await expectUsers(`groups.value eq "${team.id}"`, ['alice', 'bob']);
        await expectUsers('groups[display eq "ENG TEAM" and type eq "direct"]', ['alice', 'bob']);
        await expectUsers('not (groups pr)', ['carol', 'dave']);
      });

      it('folds non-ASCII letters in member and group display names as in the other filters', async () => {
        const other = await newOrg();
        const elodie = await store.create(other, 'User', userDoc('elodie', { displayName: 'Élodie Ünal' }));
        const max = await store.create(other, 'User', userDoc('max'));
        const g = await store.create(other, 'Group', groupDoc('Équipe Öst', [elodie.id, max.id]));
        const query = async (kind: ResourceKind, filter: string) => ids((await store.query(other, kind, { filter: parseFilter(filter), count: 10 })).resources);
        assert.deepEqual(await query('User', 'groups[display eq "équipe öst"]'), [elodie.id, max.id].sort());
        assert.deepEqual(await query('User', 'groups.display co "ÉQUIPE"'), [elodie.id, max.id].sort());
        assert.deepEqual(await query('Group', 'members[display sw "élodie ü"]'), [g.id]);
        assert.deepEqual(await query('Group', 'displayName eq "ÉQUIPE ÖST"'), [g.id]);
        const r = await store.patch(other, 'Group', g.id, ops('Group', [{ op: 'remove', path: 'members[display eq "ÉLODIE ÜNAL"]' }]), { relations: true });
        assert.deepEqual(memberIds(r), [max.id]);
      });

      it('rejects misuse with 400 invalidFilter and matches nothing for unknown attributes', async () => {
        for (const bad of ['active gt true', 'userName eq 5', 'meta.created gt "yesterday"', 'password eq "x"', 'title co null', 'name eq "x"']) {
          await rejects(store.query(org, 'User', { filter: parseFilter(bad), count: 10 }), 400, 'invalidFilter');
        }
        await expectUsers('noSuchAttribute eq "x"', []);
        await expectUsers('not (noSuchAttribute eq "x")', ['alice', 'bob', 'carol', 'dave']);
      });
    });

    describe('sorting and paging', () => {
      let org: string;
      const names = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo'];
      const titles: Record<string, string | undefined> = { delta: 'b', Alpha: undefined, charlie: 'a', Bravo: 'C', echo: undefined };
      // Sorted by emails, each user counts with its primary address, else its first: a, b, m, y, none.
      const emails: Record<string, Record<string, unknown>[] | undefined> = {
        delta: [{ value: 'z@example.com', type: 'work' }, { value: 'a@example.com', primary: true }],
        Alpha: [{ value: 'M@example.com' }],
        charlie: undefined,
        Bravo: [{ value: 'b@example.com', type: 'home' }, { value: 'c@example.com', type: 'work' }],
        echo: [{ value: 'y@example.com', primary: false }, { value: 'd@example.com' }],
      };
      const byName = new Map<string, StoredResource>();
      before(async () => {
        org = await newOrg('paging');
        for (const n of names) {
          const title = titles[n];
          const extra = { ...(title ? { title } : {}), ...(emails[n] ? { emails: emails[n] } : {}), name: { givenName: n.toUpperCase() } };
          byName.set(n, await store.create(org, 'User', userDoc(n, extra)));
        }
      });

      const page = async (options: Omit<QueryOptions, 'count'> & { count?: number }) =>
        (await store.query(org, 'User', { count: 100, ...options })).resources.map((r) => String(r.document.userName));

      it('sorts by any singular attribute, case-insensitively unless caseExact, absent values last ascending', async () => {
        assert.deepEqual(await page({ sortBy: 'userName' }), ['Alpha', 'Bravo', 'charlie', 'delta', 'echo']);
        assert.deepEqual(await page({ sortBy: 'userName', sortOrder: 'descending' }), ['echo', 'delta', 'charlie', 'Bravo', 'Alpha']);
        const titleAsc = await page({ sortBy: 'title' });
        assert.deepEqual(titleAsc.slice(0, 3), ['charlie', 'delta', 'Bravo']);
        assert.deepEqual(new Set(titleAsc.slice(3)), new Set(['Alpha', 'echo']));
        const titleDesc = await page({ sortBy: 'title', sortOrder: 'descending' });
        assert.deepEqual(new Set(titleDesc.slice(0, 2)), new Set(['Alpha', 'echo']));
        assert.deepEqual(titleDesc.slice(2), ['Bravo', 'delta', 'charlie']);
        assert.deepEqual(await page({ sortBy: 'name.givenName' }), ['Alpha', 'Bravo', 'charlie', 'delta', 'echo']);
        assert.deepEqual(await page({ sortBy: 'meta.created' }), await page({}));
        const byId = [...byName.values()].map((r) => r.id).sort();
        assert.deepEqual((await store.query(org, 'User', { count: 10, sortBy: 'id' })).resources.map((r) => r.id), byId);
      });

      it('sorts by a multi-valued attribute through its primary value, else its first (RFC 7644 section 3.4.2.3)', async () => {
        const ascending = ['delta', 'Bravo', 'Alpha', 'echo', 'charlie'];
        assert.deepEqual(await page({ sortBy: 'emails' }), ascending);
        assert.deepEqual(await page({ sortBy: 'EMAILS.VALUE' }), ascending);
        assert.deepEqual(await page({ sortBy: 'emails', sortOrder: 'descending' }), [...ascending].reverse());
        // Only Bravo's first address has a type; the others' chosen addresses have none and sort last.
        assert.deepEqual((await page({ sortBy: 'emails.type' }))[0], 'Bravo');
      });

      it('rejects sortBy on unknown, complex, membership or never-returned attributes', async () => {
        for (const bad of ['nope', 'name', 'password', 'groups', 'groups.value', 'addresses']) {
          await rejects(store.query(org, 'User', { count: 10, sortBy: bad }), 400);
        }
        await rejects(store.query(org, 'Group', { count: 10, sortBy: 'members' }), 400);
      });

      it('pages with startIndex and count over an exact totalResults', async () => {
        const all = await page({ sortBy: 'userName' });
        const first = await store.query(org, 'User', { count: 2, startIndex: 1, sortBy: 'userName' });
        assert.equal(first.totalResults, 5);
        assert.deepEqual(first.resources.map((r) => r.document.userName), all.slice(0, 2));
        assert.deepEqual(await page({ count: 2, startIndex: 3, sortBy: 'userName' }), all.slice(2, 4));
        assert.deepEqual(await page({ count: 2, startIndex: 5, sortBy: 'userName' }), all.slice(4));
        assert.deepEqual(await page({ count: 2, startIndex: 9, sortBy: 'userName' }), []);
        assert.deepEqual(await page({ count: 2, startIndex: -4, sortBy: 'userName' }), all.slice(0, 2), 'startIndex below 1 means 1');
        const counted = await store.query(org, 'User', { count: 0, filter: parseFilter('title pr') });
        assert.deepEqual(counted, { totalResults: 3, resources: [] });
        assert.equal((await store.query(org, 'User', { count: -1 })).resources.length, 0);
        assert.equal((await store.query(org, 'User', { count: 1, filter: parseFilter('title pr') })).totalResults, 3);
      });

      it('pages with cursors over every sort, without skips or repeats', async () => {
        const sorts = [{}, { sortBy: 'userName' }, { sortBy: 'title' }, { sortBy: 'title', sortOrder: 'descending' as const }, { sortOrder: 'descending' as const }];
        for (const options of [...sorts, { sortBy: 'emails' }, { sortBy: 'emails', sortOrder: 'descending' as const }]) {
          const expected = await page(options);
          const seen: string[] = [];
          let cursor: string | undefined = '';
          let pages = 0;
          while (cursor !== undefined) {
            const result: Awaited<ReturnType<Store['query']>> = await store.query(org, 'User', { ...options, count: 2, cursor });
            assert.equal(result.totalResults, 5);
            seen.push(...result.resources.map((r) => String(r.document.userName)));
            cursor = result.nextCursor;
            pages++;
          }
          assert.deepEqual(seen, expected, JSON.stringify(options));
          assert.equal(pages, 3);
        }
      });

      it('refuses cursors it did not issue, or issued for another sort', async () => {
        await rejects(store.query(org, 'User', { count: 2, cursor: 'garbage!' }), 400, 'invalidCursor');
        await rejects(store.query(org, 'User', { count: 2, cursor: Buffer.from('{"a":1}').toString('base64url') }), 400, 'invalidCursor');
        await rejects(store.query(org, 'User', { count: 2, cursor: Buffer.from('["meta.created",5,"x"]').toString('base64url') }), 400, 'invalidCursor');
        const first = await store.query(org, 'User', { count: 2, cursor: '', sortBy: 'userName' });
        assert.ok(first.nextCursor);
        await rejects(store.query(org, 'User', { count: 2, cursor: first.nextCursor, sortBy: 'title' }), 400, 'invalidCursor');
      });
    });

    describe('cursor stability', () => {
      it('never skips or repeats rows while others are inserted and deleted between pages', async () => {
        for (const options of [{ sortBy: 'userName' }, {}, { sortBy: 'userName', sortOrder: 'descending' as const }]) {
          const org = await newOrg();
          const initial = new Map<string, string>();
          for (let i = 0; i < 30; i++) {
            const r = await store.create(org, 'User', userDoc(`user${String(i * 2).padStart(3, '0')}`));
            initial.set(r.id, String(r.document.userName));
          }
          const deletedUnseen = new Set<string>();
          const deletedSeen = new Set<string>();
          const late: string[] = [];
          const seen: string[] = [];
          let cursor: string | undefined = '';
          let step = 0;
          while (cursor !== undefined) {
            const result: Awaited<ReturnType<Store['query']>> = await store.query(org, 'User', { ...options, count: 4, cursor });
            seen.push(...result.resources.map((r) => r.id));
            cursor = result.nextCursor;
            if (cursor === undefined) break;
            // Between pages: delete one row already seen and one not yet seen, insert rows on both sides.
            const unseen = [...initial.keys()].filter((id) => !seen.includes(id) && !deletedUnseen.has(id));
            const seenLive = seen.filter((id) => initial.has(id) && !deletedSeen.has(id));
            if (seenLive.length > 0) {
              await store.delete(org, 'User', seenLive[0]);
              deletedSeen.add(seenLive[0]);
            }
            if (unseen.length > 0) {
              await store.delete(org, 'User', unseen[unseen.length - 1]);
              deletedUnseen.add(unseen[unseen.length - 1]);
            }
            await store.create(org, 'User', userDoc(`user${String(step * 2 + 1).padStart(3, '0')}x`));
            late.push((await store.create(org, 'User', userDoc(`zz-late-${step}`))).id);
            step++;
          }
          const label = JSON.stringify(options);
          const total = (await store.query(org, 'User', { count: 0 })).totalResults;
          assert.equal(total, (await store.query(org, 'User', { count: 0, filter: parseFilter('id pr') })).totalResults, 'the kept count matches a real count');
          assert.equal(total, 30 - deletedSeen.size - deletedUnseen.size + 2 * step);
          assert.ok(step >= 5, 'several pages were read');
          assert.equal(new Set(seen).size, seen.length, `no row is returned twice (${label})`);
          for (const id of deletedUnseen) assert.ok(!seen.includes(id), `a row deleted before its page is not returned (${label})`);
          for (const id of initial.keys()) {
            if (!deletedUnseen.has(id)) assert.ok(seen.includes(id), `row ${initial.get(id)} present throughout was returned (${label})`);
          }
          // Rows inserted beyond the current position show up on later pages ("zz-" sorts last by userName).
          if (options.sortBy === 'userName') {
            const ascending = options.sortOrder !== 'descending';
            for (const id of late) assert.equal(seen.includes(id), ascending, `late insert seen only when it sorts after the position (${label})`);
          }
        }
      });
    });

    describe('writes that change nothing', () => {
      /**
       * Records every row written to resources and memberships from here on (a trigger on each table; an UPDATE
       * that sets identical values still fires it), so a test can show that a write wrote nothing.
       */
      async function recordWrites(): Promise<{ writes(): Promise<string[]>; stop(): Promise<void> }> {
        await h.raw('CREATE TABLE write_log (seq INTEGER, what TEXT)');
        const tables = ['resources', 'memberships'];
        if (h.dialect === 'sqlite') {
          for (const table of tables) {
            for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
              await h.raw(`CREATE TRIGGER log_${table}_${event} AFTER ${event} ON ${table} BEGIN INSERT INTO write_log VALUES ((SELECT COUNT(*) FROM write_log), '${table} ${event}'); END`);
            }
          }
        } else {
          await h.raw(`CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO write_log VALUES ((SELECT COUNT(*) FROM write_log), TG_TABLE_NAME || ' ' || TG_OP); RETURN NULL; END $$`);
          for (const table of tables) await h.raw(`CREATE TRIGGER log_${table} AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION log_write()`);
        }
        return {
          writes: async () => (await h.raw('SELECT what FROM write_log ORDER BY seq')).map((r) => String(r.what)),
          async stop() {
            if (h.dialect === 'sqlite') {
              for (const table of tables) for (const event of ['INSERT', 'UPDATE', 'DELETE']) await h.raw(`DROP TRIGGER log_${table}_${event}`);
            } else {
              for (const table of tables) await h.raw(`DROP TRIGGER log_${table} ON ${table}`);
              await h.raw('DROP FUNCTION log_write()');
            }
            await h.raw('DROP TABLE write_log');
          },
        };
      }

      it('a PUT or PATCH of a User that changes nothing keeps its version and lastModified and writes no row', async () => {
        const org = await newOrg();
        const doc = userDoc('same', { active: true, title: 'Dev', emails: [{ value: 'a@x.test', type: 'work' }], [ENTERPRISE_USER_SCHEMA]: { department: 'R&D' } });
        const u = await store.create(org, 'User', doc);
        await sleep(3);
        const log = await recordWrites();
        try {
          // The same document with its keys in another order.
          const reordered = Object.fromEntries(Object.entries(doc).reverse());
          const put = await store.replace(org, 'User', u.id, reordered, { expectedVersion: 1 });
          assert.equal(put.version, 1);
          assert.equal(put.lastModified, u.lastModified);
          assert.deepEqual(put.document, u.document, 'the answer is the stored resource');
          const unchanged = [
            [{ op: 'replace', path: 'active', value: true }],
            [{ op: 'replace', value: { title: 'Dev', active: true } }],
            [{ op: 'add', path: 'emails', value: [{ value: 'a@x.test', type: 'work' }] }],
            [{ op: 'replace', path: `${ENTERPRISE_USER_SCHEMA}:department`, value: 'R&D' }],
            [{ op: 'remove', path: 'nickName' }],
            [{ op: 'replace', path: 'title', value: 'Other' }, { op: 'replace', path: 'title', value: 'Dev' }],
          ];
          for (const operations of unchanged) {
            const patched = await store.patch(org, 'User', u.id, ops('User', operations), { expectedVersion: 1 });
            assert.equal(patched.version, 1, JSON.stringify(operations));
            assert.equal(patched.lastModified, u.lastModified, JSON.stringify(operations));
          }
          assert.deepEqual(await log.writes(), [], 'no row was written');
          // The same check notices a real change.
          const changed = await store.patch(org, 'User', u.id, ops('User', [{ op: 'replace', path: 'active', value: false }]));
          assert.equal(changed.version, 2);
          assert.ok(changed.lastModified > u.lastModified);
          assert.deepEqual(await log.writes(), ['resources UPDATE']);
        } finally {
          await log.stop();
        }
        assert.deepEqual(await store.get(org, 'User', u.id), { ...u, version: 2, lastModified: (await store.get(org, 'User', u.id))!.lastModified, document: { ...u.document, active: false } });
      });

      it('member adds that exist, removes of absent members and an unchanged member list write nothing', async () => {
        const org = await newOrg();
        const [a, b, c] = await Promise.all(['na', 'nb', 'nc'].map((n) => store.create(org, 'User', userDoc(n))));
        const g = await store.create(org, 'Group', groupDoc('Same', [a.id, b.id]));
        const log = await recordWrites();
        try {
          const unchanged = [
            [{ op: 'add', path: 'members', value: [{ value: a.id }, { value: b.id }] }],
            [{ op: 'remove', path: `members[value eq "${c.id}"]` }],
            [{ op: 'remove', path: `members[value eq "${c.id}" or value eq "ghost"]` }],
            [{ op: 'replace', path: 'members', value: [{ value: b.id }, { value: a.id }] }],
            [{ op: 'remove', path: 'members[display eq "nobody"]' }],
            [{ op: 'replace', path: 'displayName', value: 'Same' }, { op: 'add', path: 'members', value: [{ value: a.id }] }],
          ];
          for (const operations of unchanged) {
            const patched = await store.patch(org, 'Group', g.id, ops('Group', operations));
            assert.equal(patched.version, 1, JSON.stringify(operations));
            assert.equal(patched.lastModified, g.lastModified, JSON.stringify(operations));
          }
          const put = await store.replace(org, 'Group', g.id, groupDoc('Same', [b.id, a.id]), { relations: true });
          assert.equal(put.version, 1);
          assert.deepEqual(memberIds(put), [a.id, b.id].sort());
          assert.deepEqual(await log.writes(), [], 'no resource or membership row was written');

          // Removing a member and adding it back in one request ends where it started: no new version.
          const back = await store.patch(org, 'Group', g.id, ops('Group', [{ op: 'remove', path: `members[value eq "${a.id}"]` }, { op: 'add', path: 'members', value: [{ value: a.id }] }]));
          assert.equal(back.version, 1);

          // A PUT that changes the list writes only the difference, and is a change.
          await h.raw('DELETE FROM write_log');
          const moved = await store.replace(org, 'Group', g.id, groupDoc('Same', [a.id, c.id]), { relations: true });
          assert.equal(moved.version, 2);
          assert.deepEqual(memberIds(moved), [a.id, c.id].sort());
          assert.deepEqual((await log.writes()).sort(), ['memberships DELETE', 'memberships INSERT', 'resources UPDATE']);
        } finally {
          await log.stop();
        }
      });
    });

    describe('concurrency', () => {
      it('50 concurrent creates of one userName in different case: one succeeds, 49 get 409 uniqueness', async () => {
        const org = await newOrg();
        const variants = caseVariants('racers', 50);
        assert.equal(new Set(variants).size, 50);
        const results = await Promise.allSettled(variants.map((name) => store.create(org, 'User', userDoc(name))));
        const ok = results.filter((r) => r.status === 'fulfilled');
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(ok.length, 1);
        assert.equal(failed.length, 49);
        for (const f of failed) {
          assert.ok(f.reason instanceof ScimError, String(f.reason));
          assert.equal(f.reason.status, 409);
          assert.equal(f.reason.scimType, 'uniqueness');
        }
        assert.equal((await store.query(org, 'User', { count: 0, filter: parseFilter('userName eq "RACERS"') })).totalResults, 1);
      });

      it('20 concurrent replaces expecting the same version: one succeeds, 19 get 412', async () => {
        const org = await newOrg();
        const u = await store.create(org, 'User', userDoc('contended'));
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.replace(org, 'User', u.id, userDoc('contended', { title: `writer ${i}` }), { expectedVersion: 1 })),
        );
        const ok = results.filter((r): r is PromiseFulfilledResult<StoredResource> => r.status === 'fulfilled');
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(ok.length, 1);
        assert.equal(failed.length, 19);
        for (const f of failed) assert.equal((f.reason as ScimError).status, 412, String(f.reason));
        const final = await store.get(org, 'User', u.id);
        assert.equal(final?.version, 2);
        assert.equal(final?.document.title, ok[0].value.document.title);
      });

      it('concurrent member adds and removes on one group keep exactly the surviving members', async () => {
        const org = await newOrg();
        const users = await Promise.all(Array.from({ length: 20 }, (_, i) => store.create(org, 'User', userDoc(`c${i}`))));
        const g = await store.create(org, 'Group', groupDoc('busy', users.slice(0, 10).map((x) => x.id)));
        await Promise.all([
          ...users.slice(10).map((x) => store.patch(org, 'Group', g.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: x.id }] }]))),
          ...users.slice(0, 5).map((x) => store.patch(org, 'Group', g.id, ops('Group', [{ op: 'remove', path: `members[value eq "${x.id}"]` }]))),
        ]);
        const final = await store.get(org, 'Group', g.id, { relations: true });
        assert.deepEqual(memberIds(final), users.slice(5).map((x) => x.id).sort());
        assert.equal(final?.version, 16);
      });
    });

    describe('indexed columns', () => {
      it('are the ones the column map marks indexed, so each has a length limit that fits a B-tree entry', async () => {
        const found =
          h.dialect === 'sqlite'
            ? await h.raw("SELECT DISTINCT ii.name AS col FROM pragma_index_list('resources') il, pragma_index_info(il.name) ii")
            : await h.raw("SELECT DISTINCT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'resources'::regclass");
        const indexed = new Set(found.map((r) => String(r.col)).filter((c) => c !== 'org_id'));
        assert.deepEqual([...indexed].sort(), [...INDEXED_COLUMNS].sort());
      });
    });

    describe('migrations', () => {
      it('are recorded once and idempotent when the database is opened again', async () => {
        const org = await newOrg();
        const u = await store.create(org, 'User', userDoc('survivor'));
        const again = await h.reopen();
        const third = await h.reopen();
        assert.deepEqual(await again.get(org, 'User', u.id), u);
        assert.deepEqual(await third.get(org, 'User', u.id), u);
        const recorded = await h.raw('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(recorded.map((r) => Number(r.version)), MIGRATIONS.map((m) => m.version));
      });

      it('version 9 revokes the tokens of Users deleted before a delete revoked them, and no other token', async () => {
        const org = await newOrg();
        const gone = await store.create(org, 'User', userDoc('gone-before'));
        const here = await store.create(org, 'User', userDoc('still-here'));
        const orphan = await store.createToken(org, { scope: 'read', userId: gone.id });
        const bound = await store.createToken(org, { scope: 'read', userId: here.id });
        const plain = await store.createToken(org, { scope: 'read-write' });
        // As a delete did before version 9: the row goes, its tokens stay.
        await h.raw('DELETE FROM resources WHERE id = ?', [gone.id]);
        assert.ok(await store.findToken(orphan.secret));
        await h.raw('DELETE FROM schema_migrations WHERE version = 9');
        const again = await h.reopen();
        assert.equal(await again.findToken(orphan.secret), null);
        const listed = await again.listTokens(org);
        assert.match(String(listed.find((t) => t.id === orphan.token.id)?.revoked), ISO_MS);
        assert.equal(listed.find((t) => t.id === bound.token.id)?.revoked, null);
        assert.equal(listed.find((t) => t.id === plain.token.id)?.revoked, null);
      });

      it('version 6 gives Users stored without active an active of true, keeping the rest of the document as it was', async () => {
        const org = await newOrg();
        const without = await store.create(org, 'User', { schemas: [USER_SCHEMA], userName: 'old-timer', title: 'T' });
        const suspended = await store.create(org, 'User', { schemas: [USER_SCHEMA], userName: 'suspended', active: false });
        const group = await store.create(org, 'Group', groupDoc('no-active-here'));
        await h.raw('DELETE FROM schema_migrations WHERE version = 6');
        const again = await h.reopen();
        assert.deepEqual((await again.get(org, 'User', without.id))?.document, { schemas: [USER_SCHEMA], userName: 'old-timer', title: 'T', active: true });
        assert.equal((await again.get(org, 'User', suspended.id))?.document.active, false);
        assert.equal((await again.get(org, 'Group', group.id))?.document.active, undefined);
        const text = (await h.raw('SELECT doc FROM resources WHERE id = ?', [without.id]))[0].doc;
        assert.match(typeof text === 'string' ? text : JSON.stringify(text), /^\{"schemas".*"active":true\}$/);
      });
    });
  });
}
