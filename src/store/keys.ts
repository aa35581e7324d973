/**
 * Management keys: the app's and the console's credentials for /api/v1, separate from the SCIM bearer tokens (which
 * belong to the IdP). A key is bound to one organization or to all of them. Only its SHA-256 hash is stored.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import { hashToken } from './operations.ts';
import type { OpContext } from './operations.ts';
import { exec, first, rows, sql } from '../sql/index.ts';
import type { Op, Row } from '../sql/index.ts';
import type { ManagementKey, NewManagementKey } from './types.ts';

/** The prefix makes a leaked key recognizable to secret scanners, and tells it apart from a SCIM token. */
export const MANAGEMENT_KEY_PREFIX = 'smk_';

function toKey(row: Row): ManagementKey {
  return {
    id: String(row.id),
    orgId: row.org_id === null ? null : String(row.org_id),
    name: row.name === null ? null : String(row.name),
    created: String(row.created),
    revoked: row.revoked === null ? null : String(row.revoked),
  };
}

const KEY_COLUMNS = sql`id, org_id, name, created, revoked`;

export function* createManagementKey(ctx: OpContext, options: { orgId: string | null; name?: string | null }): Op<NewManagementKey> {
  const orgId = options.orgId ?? null;
  if (orgId !== null) {
    const org = yield* first(sql`SELECT id FROM organizations WHERE id = ${String(orgId)}`);
    if (!org) throw ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`);
  }
  const name = options.name ?? null;
  if (name !== null && (typeof name !== 'string' || name.length > 200 || name.includes('\u0000'))) throw ScimError.invalidValue('A key name must be text of at most 200 characters');
  const secret = MANAGEMENT_KEY_PREFIX + randomBytes(32).toString('base64url');
  const key: ManagementKey = { id: `key_${randomUUID().replaceAll('-', '')}`, orgId, name, created: ctx.now(), revoked: null };
  yield* exec(sql`INSERT INTO management_keys (id, org_id, key_hash, name, created) VALUES (${key.id}, ${orgId}, ${hashToken(secret)}, ${name}, ${key.created})`);
  return { key, secret };
}

export function* findManagementKey(secret: string): Op<ManagementKey | null> {
  if (typeof secret !== 'string' || !secret.startsWith(MANAGEMENT_KEY_PREFIX)) return null;
  const row = yield* first(sql`SELECT ${KEY_COLUMNS} FROM management_keys WHERE key_hash = ${hashToken(secret)} AND revoked IS NULL`);
  return row ? toKey(row) : null;
}

export function* listManagementKeys(): Op<ManagementKey[]> {
  const found = yield* rows(sql`SELECT ${KEY_COLUMNS} FROM management_keys ORDER BY created, id`);
  return found.map(toKey);
}

export function* revokeManagementKey(ctx: OpContext, id: string): Op<boolean> {
  return (yield* exec(sql`UPDATE management_keys SET revoked = ${ctx.now()} WHERE id = ${String(id)} AND revoked IS NULL`)) > 0;
}
