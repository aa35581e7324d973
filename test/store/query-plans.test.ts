/**
 * The store never runs ANALYZE, so SQLite plans without statistics. These statements once walked a whole index of
 * the organization (every membership at each step of a nested-group walk; every resource to look up 500 ids), so
 * their cost grew with the organization. This checks SQLite's plan for each: every table is reached through a key
 * with more than the organization id.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql, sqliteDialect } from '../../src/sql/index.ts';
import type { Op, Sql } from '../../src/sql/index.ts';
import { groupReach } from '../../src/store/filter-sql.ts';
import { openStore } from '../../src/store/index.ts';
import { resourceKinds } from '../../src/store/lookups.ts';
import { withRelations } from '../../src/store/operations.ts';
import type { OpContext } from '../../src/store/operations.ts';
import { rolesOfGroups } from '../../src/store/roles.ts';
import type { StoredResource } from '../../src/store/types.ts';

let dir: string;
let db: Database.Database;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scimkit-plans-'));
  const file = join(dir, 'plans.db');
  await (await openStore({ sqlitePath: file })).close();
  db = new Database(file);
});
after(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The first statement an operation yields. */
function firstStatement<T>(op: Op<T>): Sql {
  const step = op.next();
  assert.ok(!step.done, 'the operation yields a statement');
  return step.value.sql;
}

function plan(statement: Sql): string[] {
  return (db.prepare(`EXPLAIN QUERY PLAN ${statement.text}`).all(...(statement.params as unknown[])) as { detail: string }[]).map((r) => r.detail);
}

function assertKeyed(label: string, statement: Sql): void {
  const steps = plan(statement);
  for (const step of steps) {
    assert.doesNotMatch(step, /^SCAN (memberships|resources|user_roles|group_roles)\b/, `${label}: ${steps.join(' | ')}`);
    assert.doesNotMatch(step, /\(org_id=\?\)$/, `${label} reads a whole index of the organization: ${steps.join(' | ')}`);
  }
}

const ids = Array.from({ length: 500 }, (_, i) => `id-${i}`);
const ctx: OpContext = { dialect: sqliteDialect, now: () => new Date().toISOString() };

test("a User's nested groups are walked through the membership key", () => {
  assertKeyed('groupReach', sql`${groupReach(sql`${'org'}`, sql`${'user'}`)} SELECT owner, group_id FROM reach`);
});

test('looking up the kinds of 500 ids goes through the primary key', () => {
  assertKeyed('resourceKinds', firstStatement(resourceKinds(sqliteDialect, 'org', ids)));
});

test('the roles of groups and of the groups above them are walked through the membership key', () => {
  assertKeyed('rolesOfGroups', firstStatement(rolesOfGroups(ctx, 'org', ['g1', 'g2'])));
});

/** Stored resources with the given ids, for the statements that read their relations. */
function stored(kind: StoredResource['resourceType'], count: number): StoredResource[] {
  const now = new Date().toISOString();
  return Array.from({ length: count }, (_, i) => ({ id: `${kind}-${i}`, resourceType: kind, version: 1, created: now, lastModified: now, document: {} }));
}

test("Users' groups, nested ones included, are read with their names through keys", () => {
  assertKeyed('withRelations User', firstStatement(withRelations('org', 'User', stored('User', 100))));
});

test("Groups' members are read with their names through keys", () => {
  assertKeyed('withRelations Group', firstStatement(withRelations('org', 'Group', stored('Group', 100))));
});
