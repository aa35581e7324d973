/**
 * What the admin console keeps: operator accounts and their sessions, setup links for customers' IT admins, the
 * SCIM request log, and when each token was last used. Secrets (session ids, setup-link secrets) are stored only as
 * SHA-256 hashes, like tokens; passwords as the scrypt hashes of passwords.ts, made by the caller.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import { hashToken, insertToken } from './operations.ts';
import type { OpContext } from './operations.ts';
import { chunks, exec, first, join, list, rows, sql } from '../sql/index.ts';
import type { Op, Row, Sql } from '../sql/index.ts';
import type {
  Admin,
  AdminSession,
  NewSetupLink,
  NewToken,
  OrganizationCounts,
  RequestLogQuery,
  RequestLogRecord,
  SetupLink,
  StoredAdmin,
  TokenUse,
} from './types.ts';

/** Prefixes make a leaked secret recognizable to secret scanners, and tell the kinds apart. */
export const SESSION_PREFIX = 'sks_';
export const SETUP_LINK_PREFIX = 'ssl_';

const MAX_EMAIL_CHARS = 254;

/**
 * Checked against when a sign-in names no operator, so that answer takes as long as a wrong password: a well-formed
 * hash with the parameters hashPassword uses, whose key (all zeros) no password derives.
 */
export const UNKNOWN_ADMIN_HASH = `$scrypt$ln=15,r=8,p=1$${'A'.repeat(22)}$${'A'.repeat(43)}`;

/** The password-hashing queue operator sign-ins take turns in, apart from every organization's (hashing.ts). */
export const CONSOLE_HASHING_QUEUE = '(console sign-in)';

/** An operator's email as typed, trimmed; compared case-insensitively. */
export function checkAdminEmail(email: unknown): string {
  const value = typeof email === 'string' ? email.trim() : '';
  if (value.length === 0 || value.length > MAX_EMAIL_CHARS || !/^[^\s@]+@[^\s@]+$/.test(value)) {
    throw ScimError.invalidValue('An operator email must look like name@example.com (at most 254 characters)');
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------- operators

const ADMIN_COLUMNS = sql`id, email, password_hash, created, last_login`;

function toAdmin(row: Row): StoredAdmin {
  return {
    id: String(row.id),
    email: String(row.email),
    passwordHash: String(row.password_hash),
    created: String(row.created),
    lastLogin: row.last_login === null ? null : String(row.last_login),
  };
}

function publicAdmin(admin: StoredAdmin): Admin {
  const { passwordHash: _hash, ...rest } = admin;
  return rest;
}

export function* createAdmin(ctx: OpContext, email: string, passwordHash: string): Op<Admin> {
  const value = checkAdminEmail(email);
  const admin: StoredAdmin = { id: randomUUID(), email: value, passwordHash, created: ctx.now(), lastLogin: null };
  yield* exec(
    sql`INSERT INTO admins (id, email, email_folded, password_hash, created) VALUES (${admin.id}, ${value}, ${value.toLowerCase()}, ${passwordHash}, ${admin.created})`,
    { unique: () => ScimError.uniqueness(`An operator with the email ${JSON.stringify(value)} already exists`) },
  );
  return publicAdmin(admin);
}

export function* setAdminPassword(ctx: OpContext, email: string, passwordHash: string): Op<boolean> {
  const folded = checkAdminEmail(email).toLowerCase();
  const admin = yield* first(sql`SELECT id FROM admins WHERE email_folded = ${folded}`);
  if (!admin) return false;
  // A new password ends every session of the old one.
  yield* exec(sql`DELETE FROM admin_sessions WHERE admin_id = ${String(admin.id)}`);
  yield* exec(sql`UPDATE admins SET password_hash = ${passwordHash} WHERE id = ${String(admin.id)}`);
  return true;
}

export function* findAdminByEmail(email: string): Op<StoredAdmin | null> {
  if (typeof email !== 'string' || email.length > MAX_EMAIL_CHARS) return null;
  const row = yield* first(sql`SELECT ${ADMIN_COLUMNS} FROM admins WHERE email_folded = ${email.trim().toLowerCase()}`);
  return row ? toAdmin(row) : null;
}

export function* listAdmins(): Op<Admin[]> {
  const found = yield* rows(sql`SELECT ${ADMIN_COLUMNS} FROM admins ORDER BY email_folded`);
  return found.map((row) => publicAdmin(toAdmin(row)));
}

export function* deleteAdmin(email: string): Op<boolean> {
  const folded = checkAdminEmail(email).toLowerCase();
  return (yield* exec(sql`DELETE FROM admins WHERE email_folded = ${folded}`)) > 0;
}

/** Users, groups and retained events of an organization (from the kept counts: no table scan). */
export function* organizationCounts(orgId: string): Op<OrganizationCounts> {
  const counts = yield* rows(sql`SELECT kind, n FROM resource_counts WHERE org_id = ${orgId}`);
  const n = (kind: string) => Number(counts.find((row) => row.kind === kind)?.n ?? 0);
  const stream = yield* first(sql`SELECT last_sequence FROM event_streams WHERE org_id = ${orgId}`);
  const retention = yield* first(sql`SELECT purged_through FROM event_retention WHERE org_id = ${orgId}`);
  // Sequences have no gaps and retention purges a prefix, so the retained events are the difference.
  const events = Number(stream?.last_sequence ?? 0) - Number(retention?.purged_through ?? 0);
  return { users: n('User'), groups: n('Group'), events };
}

// ----------------------------------------------------------------------------------------------------- sessions

export function* createAdminSession(ctx: OpContext, adminId: string, expires: string): Op<{ session: AdminSession; secret: string }> {
  const now = ctx.now();
  // Expired sessions go when someone signs in, so the table never grows past the live ones and today's.
  yield* exec(sql`DELETE FROM admin_sessions WHERE expires <= ${now}`);
  const secret = SESSION_PREFIX + randomBytes(32).toString('base64url');
  const session: AdminSession = { adminId, created: now, expires };
  yield* exec(sql`INSERT INTO admin_sessions (id_hash, admin_id, created, expires) VALUES (${hashToken(secret)}, ${adminId}, ${now}, ${expires})`, {
    foreignKey: () => ScimError.notFound('The operator no longer exists'),
  });
  yield* exec(sql`UPDATE admins SET last_login = ${now} WHERE id = ${adminId}`);
  return { session, secret };
}

/** The live session for a secret, with its operator; null when unknown or expired. */
export function* findAdminSession(ctx: OpContext, secret: string): Op<{ session: AdminSession; admin: Admin } | null> {
  if (typeof secret !== 'string' || !secret.startsWith(SESSION_PREFIX)) return null;
  const row = yield* first(
    sql`SELECT s.admin_id, s.created AS session_created, s.expires, a.id, a.email, a.password_hash, a.created, a.last_login
      FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
      WHERE s.id_hash = ${hashToken(secret)} AND s.expires > ${ctx.now()}`,
  );
  if (!row) return null;
  return {
    session: { adminId: String(row.admin_id), created: String(row.session_created), expires: String(row.expires) },
    admin: publicAdmin(toAdmin(row)),
  };
}

export function* deleteAdminSession(secret: string): Op<void> {
  if (typeof secret !== 'string' || !secret.startsWith(SESSION_PREFIX)) return;
  yield* exec(sql`DELETE FROM admin_sessions WHERE id_hash = ${hashToken(secret)}`);
}

// -------------------------------------------------------------------------------------------------- setup links

const LINK_COLUMNS = sql`id, org_id, created, expires, revoked, token_id, first_request`;

function toLink(row: Row): SetupLink {
  return {
    id: String(row.id),
    orgId: String(row.org_id),
    created: String(row.created),
    expires: String(row.expires),
    revoked: row.revoked === null ? null : String(row.revoked),
    tokenId: row.token_id === null ? null : String(row.token_id),
    firstRequest: row.first_request === null ? null : String(row.first_request),
  };
}

export function* createSetupLink(ctx: OpContext, orgId: string, expires: string): Op<NewSetupLink> {
  const now = ctx.now();
  if (!(expires > now)) throw ScimError.invalidValue('A setup link must expire in the future');
  const secret = SETUP_LINK_PREFIX + randomBytes(32).toString('base64url');
  const link: SetupLink = { id: `sl_${randomUUID().replaceAll('-', '')}`, orgId, created: now, expires, revoked: null, tokenId: null, firstRequest: null };
  yield* exec(sql`INSERT INTO setup_links (id, org_id, secret_hash, created, expires) VALUES (${link.id}, ${orgId}, ${hashToken(secret)}, ${now}, ${expires})`, {
    foreignKey: () => ScimError.notFound(`Organization ${JSON.stringify(orgId)} not found`),
  });
  return { link, secret };
}

/** The link for a secret while it works: neither revoked nor expired. */
export function* findSetupLink(ctx: OpContext, secret: string): Op<SetupLink | null> {
  if (typeof secret !== 'string' || !secret.startsWith(SETUP_LINK_PREFIX)) return null;
  const row = yield* first(sql`SELECT ${LINK_COLUMNS} FROM setup_links WHERE secret_hash = ${hashToken(secret)} AND revoked IS NULL AND expires > ${ctx.now()}`);
  return row ? toLink(row) : null;
}

export function* getSetupLink(orgId: string, id: string): Op<SetupLink | null> {
  const row = yield* first(sql`SELECT ${LINK_COLUMNS} FROM setup_links WHERE org_id = ${orgId} AND id = ${String(id)}`);
  return row ? toLink(row) : null;
}

export function* listSetupLinks(orgId: string): Op<SetupLink[]> {
  const found = yield* rows(sql`SELECT ${LINK_COLUMNS} FROM setup_links WHERE org_id = ${orgId} ORDER BY created DESC, id`);
  return found.map(toLink);
}

export function* revokeSetupLink(ctx: OpContext, orgId: string, id: string): Op<boolean> {
  return (yield* exec(sql`UPDATE setup_links SET revoked = ${ctx.now()} WHERE org_id = ${orgId} AND id = ${String(id)} AND revoked IS NULL`)) > 0;
}

/**
 * A read-write token made through a live setup link. The token made earlier through the same link is revoked in
 * the same transaction, so a link holds at most one working token however often its button is pressed.
 */
export function* createSetupLinkToken(ctx: OpContext, linkId: string): Op<NewToken> {
  const now = ctx.now();
  const row = yield* first(sql`SELECT ${LINK_COLUMNS} FROM setup_links WHERE id = ${String(linkId)}${ctx.dialect.forUpdate}`);
  const link = row ? toLink(row) : null;
  if (!link || link.revoked !== null || link.expires <= now) throw ScimError.forbidden('The setup link has expired or was revoked');
  if (link.tokenId !== null) yield* exec(sql`UPDATE api_tokens SET revoked = ${now} WHERE id = ${link.tokenId} AND revoked IS NULL`);
  const made = yield* insertToken(ctx, link.orgId, 'read-write', null, null);
  yield* exec(sql`UPDATE setup_links SET token_id = ${made.token.id}, first_request = NULL WHERE id = ${link.id}`);
  return made;
}

// ----------------------------------------------------------------------------------------- token use, request log

/**
 * Records when tokens were used, from a server's in-memory tally (a few rows per flush, never a write per request).
 * A time only ever moves forward; a setup link whose token is used for the first time notes that as its first request.
 */
export function* recordTokenUses(uses: readonly TokenUse[]): Op<void> {
  for (const use of uses) {
    yield* exec(sql`UPDATE api_tokens SET last_used = ${use.at} WHERE id = ${use.tokenId} AND (last_used IS NULL OR last_used < ${use.at})`);
    yield* exec(sql`UPDATE setup_links SET first_request = ${use.firstAt} WHERE token_id = ${use.tokenId} AND first_request IS NULL`);
  }
}

const LOG_COLUMNS = sql`id, org_id, at, method, path, status, latency_ms, token_id, scim_type, detail, request_body, user_agent, request_id`;

function toLogRecord(row: Row): RequestLogRecord {
  return {
    id: String(row.id),
    orgId: String(row.org_id),
    at: String(row.at),
    method: String(row.method),
    path: String(row.path),
    status: Number(row.status),
    latencyMs: Number(row.latency_ms),
    tokenId: row.token_id === null ? null : String(row.token_id),
    scimType: row.scim_type === null ? null : String(row.scim_type),
    detail: row.detail === null ? null : String(row.detail),
    requestBody: row.request_body === null ? null : String(row.request_body),
    userAgent: row.user_agent === null ? null : String(row.user_agent),
    requestId: String(row.request_id),
  };
}

/**
 * Appends entries (those of organizations that no longer exist are dropped), then trims each organization they
 * touched to its newest `keepPerOrg` entries. The newest survive whatever order entries arrive in.
 */
export function* appendRequestLog(entries: readonly Omit<RequestLogRecord, 'id'>[], keepPerOrg: number, keepUnauthenticated?: number): Op<void> {
  const orgIds = [...new Set(entries.map((e) => e.orgId))];
  const existing = new Set<string>();
  for (const ids of chunks(orgIds, 500)) {
    for (const row of yield* rows(sql`SELECT id FROM organizations WHERE id IN (${list(ids)})`)) existing.add(String(row.id));
  }
  const kept = entries.filter((e) => existing.has(e.orgId));
  for (const batch of chunks(kept, 100)) {
    const values: Sql[] = batch.map(
      (e) =>
        sql`(${e.orgId}, ${e.at}, ${e.method}, ${e.path}, ${e.status}, ${e.latencyMs}, ${e.tokenId}, ${e.scimType}, ${e.detail}, ${e.requestBody}, ${e.userAgent}, ${e.requestId})`,
    );
    yield* exec(
      sql`INSERT INTO request_log (org_id, at, method, path, status, latency_ms, token_id, scim_type, detail, request_body, user_agent, request_id) VALUES ${join(values, ', ')}`,
    );
  }
  if (keepUnauthenticated !== undefined) {
    for (const orgId of new Set(kept.filter((e) => e.tokenId === null).map((e) => e.orgId))) {
      const cutoff = yield* first(sql`SELECT id FROM request_log WHERE org_id = ${orgId} AND token_id IS NULL ORDER BY id DESC LIMIT 1 OFFSET ${keepUnauthenticated}`);
      if (cutoff) yield* exec(sql`DELETE FROM request_log WHERE org_id = ${orgId} AND token_id IS NULL AND id <= ${cutoff.id}`);
    }
  }
  for (const orgId of existing) {
    const cutoff = yield* first(sql`SELECT id FROM request_log WHERE org_id = ${orgId} ORDER BY id DESC LIMIT 1 OFFSET ${keepPerOrg}`);
    if (cutoff) yield* exec(sql`DELETE FROM request_log WHERE org_id = ${orgId} AND id <= ${cutoff.id}`);
  }
}

/** An organization's log, newest first: `before` pages on, `status` is an exact code or a class (4xx, errors). */
export function* listRequestLog(orgId: string, query: RequestLogQuery): Op<RequestLogRecord[]> {
  const conditions: Sql[] = [sql`org_id = ${orgId}`];
  if (query.before !== undefined) conditions.push(sql`id < ${query.before}`);
  const status = query.status;
  if (status !== undefined) {
    if (status.kind === 'exact') conditions.push(sql`status = ${status.code}`);
    else conditions.push(sql`status >= ${status.from} AND status < ${status.to}`);
  }
  if (query.tokenId !== undefined) conditions.push(sql`token_id = ${query.tokenId}`);
  if (query.since !== undefined) conditions.push(sql`at >= ${query.since}`);
  const found = yield* rows(sql`SELECT ${LOG_COLUMNS} FROM request_log WHERE ${join(conditions, ' AND ')} ORDER BY id DESC LIMIT ${query.limit}`);
  return found.map(toLogRecord);
}
