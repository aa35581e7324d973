/** Lookups by id that more than one store module makes. */
import { rows, sql } from '../sql/index.ts';
import type { JsonDialect, Op } from '../sql/index.ts';
import type { ResourceKind } from './types.ts';

/**
 * The kind of each of these resources that exists in the organization, by id. The statement goes from the id list
 * into the primary key: written as `id IN (...)`, which an index of the organization covers, SQLite (which has no
 * statistics unless ANALYZE has run, and the store never runs it) chose to walk that whole index instead, so
 * adding 1,000 members to a group cost time in proportion to the organization's size.
 */
export function* resourceKinds(dialect: JsonDialect, orgId: string, ids: readonly string[]): Op<Map<string, ResourceKind>> {
  const found = yield* rows<{ id: string; kind: ResourceKind }>(
    sql`SELECT r.id AS id, r.kind AS kind FROM ${dialect.values(ids)} CROSS JOIN resources r WHERE r.org_id = ${orgId} AND r.id = value`,
  );
  return new Map(found.map((r) => [String(r.id), r.kind]));
}
