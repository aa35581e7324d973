/**
 * Listing: a filter compiled to SQL, a stable total order (sort key, then id), an exact COUNT, and either
 * startIndex/count paging or RFC 9865 cursor paging. Cursors are keyset positions (the last row's sort key and id),
 * so rows inserted or deleted between pages never cause skips or repeats.
 */
import { ScimError } from '../scim/errors.ts';
import { MAX_RESOURCE_BYTES } from '../scim/limits.ts';
import { compileFilterSql, CREATED_SORT, sortKey } from './filter-sql.ts';
import type { SortKey } from './filter-sql.ts';
import { chunks, first, list, raw, rows, sql } from '../sql/index.ts';
import type { Op, Row, Sql } from '../sql/index.ts';
import { RESOURCE_COLUMNS, parseJson, schemaFor, toResource, withRelations } from './operations.ts';
import type { OpContext } from './operations.ts';
import type { QueryOptions, QueryResult, ResourceKind } from './types.ts';

type CursorKey = string | number | boolean | null;

interface CursorPosition {
  readonly key: CursorKey;
  readonly id: string;
}

const MAX_CURSOR_LENGTH = 2048;

function invalidCursor(detail: string): ScimError {
  return new ScimError(400, `Invalid cursor: ${detail}`, 'invalidCursor');
}

/** The sort key value as the cursor keeps it: one JSON type per key kind, whatever the driver returned. */
function cursorKey(value: unknown, sort: SortKey): CursorKey {
  if (value === null || value === undefined) return null;
  if (sort.kind === 'number') return Number(value);
  if (sort.kind === 'boolean') return value === true || value === 1 || value === '1' || value === 't';
  return String(value);
}

export function encodeCursor(sort: SortKey, position: CursorPosition): string {
  return Buffer.from(JSON.stringify([sort.tag, position.key, position.id]), 'utf8').toString('base64url');
}

/** Decodes a cursor for this sort; anything we did not issue for it is a 400 invalidCursor. */
export function decodeCursor(cursor: string, sort: SortKey): CursorPosition {
  if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor('not a cursor this server issued');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor('not a cursor this server issued');
  }
  if (!Array.isArray(decoded) || decoded.length !== 3 || typeof decoded[2] !== 'string' || decoded[2].includes('\u0000')) {
    throw invalidCursor('not a cursor this server issued');
  }
  const [tag, key, id] = decoded as [unknown, unknown, string];
  if (tag !== sort.tag) throw invalidCursor('it was issued for a different sortBy');
  const expected = sort.kind === 'number' ? 'number' : sort.kind === 'boolean' ? 'boolean' : 'string';
  if (key !== null && typeof key !== expected) throw invalidCursor('not a cursor this server issued');
  if (typeof key === 'number' && !Number.isFinite(key)) throw invalidCursor('not a cursor this server issued');
  if (typeof key === 'string' && key.includes('\u0000')) throw invalidCursor('not a cursor this server issued');
  return { key: key as CursorKey, id };
}

/** ORDER BY for the key expression `k` and id expression `id`; absent keys go last ascending, first descending. */
function orderBy(sort: SortKey, k: Sql, id: Sql, descending: boolean): Sql {
  const dir = raw(descending ? 'DESC' : 'ASC');
  if (!sort.nullable) return sql`${k} ${dir}, ${id} ${dir}`;
  return sql`(CASE WHEN ${k} IS NULL THEN 1 ELSE 0 END) ${dir}, ${k} ${dir}, ${id} ${dir}`;
}

/** Rows strictly after `after` in the order above. */
function keysetAfter(sort: SortKey, after: CursorPosition, descending: boolean): Sql {
  const k = sort.expr;
  const cmp = raw(descending ? '<' : '>');
  const beyond = sql`(${k}, r.id) ${cmp} (${after.key}, ${after.id})`;
  if (!sort.nullable) return beyond;
  if (descending) {
    // Nulls first: after a null key come the remaining nulls, then every non-null key; after a non-null, smaller keys.
    return after.key === null ? sql`((${k} IS NULL AND r.id < ${after.id}) OR ${k} IS NOT NULL)` : sql`(${k} IS NOT NULL AND ${beyond})`;
  }
  return after.key === null ? sql`(${k} IS NULL AND r.id > ${after.id})` : sql`((${k} IS NOT NULL AND ${beyond}) OR ${k} IS NULL)`;
}

function checkCount(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw ScimError.invalidValue(`${name} must be a number`);
  return Math.floor(value);
}

/**
 * A LIMIT written into the statement rather than bound: SQLite (built with STAT4) prepares a statement again when a
 * parameter its plan may depend on is bound, and a bound LIMIT doubled the cost of a one-row lookup. Page sizes
 * are few, so the statement cache holds them all.
 */
function limitLiteral(n: number): Sql {
  return raw(String(Math.min(Math.max(0, Math.floor(n)), Number.MAX_SAFE_INTEGER)));
}

/** What one listed member or group counts towards a page's byte budget: a member renders to some 215 bytes. */
const RELATION_BYTES = 200;

/** Ids per statement when the page's documents are read by id. */
const PAGE_CHUNK = 500;

/** The resource rows with these ids, in the order given. */
function* rowsInOrder(orgId: string, ids: readonly string[]): Op<Row[]> {
  const byId = new Map<string, Row>();
  for (const part of chunks(ids, PAGE_CHUNK)) {
    const found = yield* rows(sql`SELECT ${RESOURCE_COLUMNS} FROM resources r WHERE r.org_id = ${orgId} AND r.id IN (${list(part)})`);
    for (const row of found) byId.set(String(row.id), row);
  }
  const ordered: Row[] = [];
  for (const id of ids) {
    const row = byId.get(id);
    if (row) ordered.push(row);
  }
  return ordered;
}

export function* queryResources(ctx: OpContext, orgId: string, kind: ResourceKind, options: QueryOptions): Op<QueryResult> {
  const rs = options.schema ?? schemaFor(kind);
  // RFC 7644 section 3.4.2.4: a negative count means 0 and a startIndex below 1 means 1.
  const count = Math.max(0, checkCount(options.count, 'count'));
  const startIndex = Math.max(1, options.startIndex === undefined ? 1 : checkCount(options.startIndex, 'startIndex'));
  const descending = options.sortOrder === 'descending';
  const sort = options.sortBy === undefined ? CREATED_SORT : sortKey(options.sortBy, rs, ctx.dialect);
  const after = options.cursor === undefined || options.cursor === '' ? null : decodeCursor(options.cursor, sort);
  const filter = options.filter ? sql` AND ${compileFilterSql(options.filter, rs, ctx.dialect)}` : raw('');
  const where = sql`r.org_id = ${orgId} AND r.kind = ${kind}${filter}`;

  // Without a filter the kept per-organization count answers at once. With one, the page is read first: a page
  // that ends before `count` rows tells the total by itself, so only a full page or an empty deep one needs COUNT.
  const countMatches = function* (): Op<number> {
    const counted = yield* first(sql`SELECT COUNT(*) AS n FROM resources r WHERE ${where}`);
    return Number(counted?.n ?? 0);
  };
  let totalResults: number | undefined;
  if (!options.filter) {
    const counted = yield* first(sql`SELECT n FROM resource_counts WHERE org_id = ${orgId} AND kind = ${kind}`);
    totalResults = Number(counted?.n ?? 0);
    if (totalResults === 0) return { totalResults, resources: [] };
  }
  if (count === 0) return { totalResults: totalResults ?? (yield* countMatches()), resources: [] };

  const order = orderBy(sort, sort.expr, raw('r.id'), descending);
  const byCursor = options.cursor !== undefined;
  const keyset = byCursor && after ? sql` AND ${keysetAfter(sort, after, descending)}` : raw('');
  const offset = byCursor || startIndex === 1 ? raw('') : sql` OFFSET ${startIndex - 1}`;
  const limit = limitLiteral(byCursor ? count + 1 : count);
  let found: Row[];
  let nextCursor: string | undefined;
  // Rows of the result on this page before any byte cut: what tells whether the result ended here.
  let seen: number;
  // A page that could pass the byte budget (count times the largest resource a write may store; with relations, which
  // no limit bounds, any page of more than one) reads its keys and documents' sizes first, so that no more documents
  // than fit are ever read into memory. When all of them fit (the usual case) the page is read as it would be without
  // a budget: that costs less than reading the rows by id.
  const most = options.relations ? 1 : Math.max(1, Math.floor((options.maxBytes ?? 0) / MAX_RESOURCE_BYTES));
  const budget = options.maxBytes !== undefined && count > most ? options.maxBytes : undefined;
  // A listed relation (a Group's member, a User's direct group) counts RELATION_BYTES, about what one renders to.
  const relationSide = kind === 'Group' ? raw('m.group_id') : raw('m.member_id');
  const relations = options.relations
    ? sql` + ${raw(String(RELATION_BYTES))} * (SELECT COUNT(*) FROM memberships m WHERE m.org_id = r.org_id AND ${relationSide} = r.id)`
    : raw('');
  let keys: Row[] | undefined;
  let kept = 0;
  let cut = false;
  if (budget !== undefined) {
    const sized = yield* rows(
      sql`SELECT r.id AS i, ${ctx.dialect.byteLength(raw('r.doc'))}${relations} AS size${byCursor ? sql`, ${sort.expr} AS sort_key` : raw('')}
        FROM resources r WHERE ${where}${keyset} ORDER BY ${order} LIMIT ${limit}${offset}`,
    );
    const all = Math.min(sized.length, count);
    kept = all;
    let bytes = all > 0 ? Number(sized[0].size) : 0;
    for (let i = 1; i < all; i++) {
      bytes += Number(sized[i].size);
      if (bytes > budget) {
        kept = i;
        break;
      }
    }
    cut = kept < all;
    if (cut || (!byCursor && startIndex > 1)) keys = sized;
  }
  if (keys !== undefined) {
    // Cut by the budget (exactly the rows that fit; the next page starts after the last of them), or a deeper index
    // page (below): the page's rows read by id.
    seen = Math.min(keys.length, count);
    if (byCursor && cut) nextCursor = encodeCursor(sort, { key: cursorKey(keys[kept - 1].sort_key, sort), id: String(keys[kept - 1].i) });
    found = yield* rowsInOrder(orgId, keys.slice(0, kept).map((k) => String(k.i)));
  } else if (byCursor) {
    found = yield* rows(sql`SELECT ${RESOURCE_COLUMNS}, ${sort.expr} AS sort_key FROM resources r WHERE ${where}${keyset} ORDER BY ${order} LIMIT ${limit}`);
    seen = Math.min(found.length, count);
    if (found.length > count) {
      found = found.slice(0, count);
      const last = found[found.length - 1];
      nextCursor = encodeCursor(sort, { key: cursorKey(last.sort_key, sort), id: String(last.id) });
    }
  } else if (startIndex === 1) {
    // A first page in one statement: with ORDER BY and LIMIT the database keeps only the best `count` rows.
    found = yield* rows(sql`SELECT ${RESOURCE_COLUMNS} FROM resources r WHERE ${where} ORDER BY ${order} LIMIT ${limit}`);
    seen = found.length;
  } else {
    // Deeper pages: keys first, so the offset walks (index-only) keys, then only the page's documents are read, by
    // id. The order is the first statement's; sorting the joined rows again in SQL cost more than both reads.
    const page = yield* rows<{ i: string }>(sql`SELECT r.id AS i FROM resources r WHERE ${where} ORDER BY ${order} LIMIT ${limit}${offset}`);
    seen = page.length;
    found = yield* rowsInOrder(orgId, page.map((p) => String(p.i)));
  }
  if (totalResults === undefined) {
    // Rows of the result before this page, when known: none before a first page, startIndex - 1 before an index page.
    const before = options.cursor !== undefined ? (after ? undefined : 0) : startIndex - 1;
    const ended = seen < count || (options.cursor !== undefined && seen === count && nextCursor === undefined);
    totalResults = before !== undefined && ended && (seen > 0 || before === 0) ? before + seen : yield* countMatches();
  }
  let resources = found.map((row) => toResource(row, parseJson(row.doc)));
  if (options.relations) resources = yield* withRelations(orgId, kind, resources);
  return nextCursor === undefined ? { totalResults, resources } : { totalResults, resources, nextCursor };
}
