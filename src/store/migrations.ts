/**
 * The store's versioned schema migrations, statements per dialect, applied in order on open (src/sql/migrate.ts)
 * and recorded in schema_migrations. Append new versions; never edit one that has shipped.
 *
 * Data model: one `resources` table for Users and Groups (the JSON document plus hot columns), `memberships` for
 * Group members (so member changes cost O(changed members)), `organizations` and `api_tokens` (SHA-256 hashes only).
 * Timestamps are fixed-width ISO 8601 UTC text (`2026-11-23T10:00:00.000Z`), so text order is time order.
 *
 * Every table that holds rows of an organization has an `org_id` that references `organizations` ON DELETE CASCADE
 * (or references, with ON DELETE CASCADE, a table that does), so deleting the organization row deletes all of them
 * (Store.deleteOrganization). The store contract checks every table of the schema for it.
 */
import type { Migration, MigrationSet } from '../sql/index.ts';

/** Index definitions shared by both dialects. */
const COMMON_INDEXES = [
  // userName is case-insensitively unique per organization; NULL (Groups) never collides.
  'CREATE UNIQUE INDEX resources_user_name ON resources (org_id, user_name_folded)',
  'CREATE UNIQUE INDEX resources_group_name ON resources (org_id, group_name_folded)',
  // Default listing order and cursor paging, and incremental sync on lastModified.
  'CREATE INDEX resources_created ON resources (org_id, kind, created, id)',
  'CREATE INDEX resources_modified ON resources (org_id, kind, last_modified, id)',
  'CREATE INDEX resources_external_id ON resources (org_id, kind, external_id)',
  // A User's groups, and cascading deletes of a member.
  'CREATE INDEX memberships_member ON memberships (org_id, member_id)',
  'CREATE INDEX api_tokens_org ON api_tokens (org_id)',
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sqlite: [
      `CREATE TABLE organizations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        settings TEXT NOT NULL,
        created TEXT NOT NULL
      )`,
      `CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        token_hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'read-write')),
        user_id TEXT,
        created TEXT NOT NULL,
        revoked TEXT
      )`,
      `CREATE TABLE resources (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
        user_name_folded TEXT,
        group_name_folded TEXT,
        external_id TEXT,
        display TEXT,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
      )`,
      `CREATE TABLE memberships (
        org_id TEXT NOT NULL,
        group_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
        PRIMARY KEY (org_id, group_id, member_id),
        FOREIGN KEY (org_id, group_id) REFERENCES resources (org_id, id) ON DELETE CASCADE,
        FOREIGN KEY (org_id, member_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
      ...COMMON_INDEXES,
    ],
    postgres: [
      `CREATE TABLE organizations (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        settings JSON NOT NULL,
        created TEXT COLLATE "C" NOT NULL
      )`,
      `CREATE TABLE api_tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'read-write')),
        user_id TEXT COLLATE "C",
        created TEXT COLLATE "C" NOT NULL,
        revoked TEXT COLLATE "C"
      )`,
      // JSON (not JSONB) keeps the document's key order as the client sent it.
      `CREATE TABLE resources (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        id TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('User', 'Group')),
        user_name_folded TEXT COLLATE "C",
        group_name_folded TEXT COLLATE "C",
        external_id TEXT COLLATE "C",
        display TEXT COLLATE "C",
        created TEXT COLLATE "C" NOT NULL,
        last_modified TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        doc JSON NOT NULL,
        PRIMARY KEY (org_id, id)
      )`,
      `CREATE TABLE memberships (
        org_id TEXT COLLATE "C" NOT NULL,
        group_id TEXT COLLATE "C" NOT NULL,
        member_id TEXT COLLATE "C" NOT NULL,
        member_type TEXT COLLATE "C" NOT NULL CHECK (member_type IN ('User', 'Group')),
        PRIMARY KEY (org_id, group_id, member_id),
        FOREIGN KEY (org_id, group_id) REFERENCES resources (org_id, id) ON DELETE CASCADE,
        FOREIGN KEY (org_id, member_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
      )`,
      ...COMMON_INDEXES,
    ],
  },
  {
    // Unfiltered listings report totalResults from a counter kept in the same transactions as creates and deletes,
    // instead of counting a million rows for every page.
    version: 2,
    name: 'resource counts',
    sqlite: [
      `CREATE TABLE resource_counts (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (org_id, kind)
      )`,
      'INSERT INTO resource_counts (org_id, kind, n) SELECT org_id, kind, COUNT(*) FROM resources GROUP BY org_id, kind',
    ],
    postgres: [
      `CREATE TABLE resource_counts (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        kind TEXT COLLATE "C" NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (org_id, kind)
      )`,
      'INSERT INTO resource_counts (org_id, kind, n) SELECT org_id, kind, COUNT(*) FROM resources GROUP BY org_id, kind',
    ],
  },
  {
    // Schema extensions declared per organization (RFC 7643 section 7 documents). schema_version moves with every
    // change, and is read with the organization, so each server process knows when its resolved schemas are stale.
    version: 3,
    name: 'schema extensions',
    sqlite: [
      'ALTER TABLE organizations ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0',
      `CREATE TABLE schema_extensions (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        urn_folded TEXT NOT NULL,
        urn TEXT NOT NULL,
        resource_type TEXT NOT NULL CHECK (resource_type IN ('User', 'Group')),
        required INTEGER NOT NULL,
        document TEXT NOT NULL,
        created TEXT NOT NULL,
        PRIMARY KEY (org_id, urn_folded)
      )`,
    ],
    postgres: [
      'ALTER TABLE organizations ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0',
      `CREATE TABLE schema_extensions (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        urn_folded TEXT COLLATE "C" NOT NULL,
        urn TEXT NOT NULL,
        resource_type TEXT COLLATE "C" NOT NULL CHECK (resource_type IN ('User', 'Group')),
        required BOOLEAN NOT NULL,
        document JSON NOT NULL,
        created TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, urn_folded)
      )`,
    ],
  },
  {
    // Tokens can expire (tokens create --expires-in) and be rotated with a grace period (tokens rotate --grace).
    version: 4,
    name: 'token expiry',
    sqlite: ['ALTER TABLE api_tokens ADD COLUMN expires TEXT'],
    postgres: ['ALTER TABLE api_tokens ADD COLUMN expires TEXT COLLATE "C"'],
  },
  {
    // Provisioning events (the transactional outbox), management keys for /api/v1, and webhooks (docs/events.md).
    // event_streams holds each organization's last sequence: writers take its row lock just before they commit, so
    // sequences commit in order. event_retention is apart from it so that purging never waits on that lock.
    version: 5,
    name: 'events, management keys and webhooks',
    sqlite: [
      `CREATE TABLE management_keys (
        id TEXT PRIMARY KEY,
        org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
        key_hash TEXT NOT NULL UNIQUE,
        name TEXT,
        created TEXT NOT NULL,
        revoked TEXT
      )`,
      `CREATE TABLE event_streams (
        org_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
        last_sequence INTEGER NOT NULL
      )`,
      `CREATE TABLE event_retention (
        org_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
        purged_through INTEGER NOT NULL
      )`,
      `CREATE TABLE events (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        data TEXT NOT NULL,
        previous TEXT,
        PRIMARY KEY (org_id, sequence)
      )`,
      `CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        event_types TEXT,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_secret_until TEXT,
        enabled INTEGER NOT NULL,
        disabled_reason TEXT,
        last_sequence INTEGER NOT NULL,
        paused_until TEXT,
        created TEXT NOT NULL
      )`,
      `CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        org_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        resource_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT NOT NULL,
        lease_owner TEXT,
        lease_expires TEXT,
        last_status INTEGER,
        last_error TEXT,
        last_attempt_at TEXT,
        created TEXT NOT NULL,
        finished_at TEXT
      )`,
      'CREATE INDEX management_keys_org ON management_keys (org_id)',
      'CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id)',
      "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending'",
      "CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, resource_id, sequence) WHERE status = 'pending'",
      'CREATE INDEX webhook_deliveries_list ON webhook_deliveries (org_id, endpoint_id, id)',
      'CREATE INDEX webhook_deliveries_event ON webhook_deliveries (org_id, sequence)',
    ],
    postgres: [
      `CREATE TABLE management_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        org_id TEXT COLLATE "C" REFERENCES organizations (id) ON DELETE CASCADE,
        key_hash TEXT COLLATE "C" NOT NULL UNIQUE,
        name TEXT,
        created TEXT COLLATE "C" NOT NULL,
        revoked TEXT COLLATE "C"
      )`,
      `CREATE TABLE event_streams (
        org_id TEXT COLLATE "C" PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
        last_sequence BIGINT NOT NULL
      )`,
      `CREATE TABLE event_retention (
        org_id TEXT COLLATE "C" PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
        purged_through BIGINT NOT NULL
      )`,
      `CREATE TABLE events (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        sequence BIGINT NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        type TEXT COLLATE "C" NOT NULL,
        resource_id TEXT COLLATE "C" NOT NULL,
        occurred_at TEXT COLLATE "C" NOT NULL,
        data TEXT NOT NULL,
        previous TEXT,
        PRIMARY KEY (org_id, sequence)
      )`,
      `CREATE TABLE webhook_endpoints (
        id TEXT COLLATE "C" PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        event_types TEXT,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_secret_until TEXT COLLATE "C",
        enabled BOOLEAN NOT NULL,
        disabled_reason TEXT,
        last_sequence BIGINT NOT NULL,
        paused_until TEXT COLLATE "C",
        created TEXT COLLATE "C" NOT NULL
      )`,
      `CREATE TABLE webhook_deliveries (
        id BIGSERIAL PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL,
        endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        sequence BIGINT NOT NULL,
        resource_id TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT COLLATE "C" NOT NULL,
        lease_owner TEXT COLLATE "C",
        lease_expires TEXT COLLATE "C",
        last_status INTEGER,
        last_error TEXT,
        last_attempt_at TEXT COLLATE "C",
        created TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C"
      )`,
      'CREATE INDEX management_keys_org ON management_keys (org_id)',
      'CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id)',
      "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending'",
      "CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, resource_id, sequence) WHERE status = 'pending'",
      'CREATE INDEX webhook_deliveries_list ON webhook_deliveries (org_id, endpoint_id, id)',
      'CREATE INDEX webhook_deliveries_event ON webhook_deliveries (org_id, sequence)',
    ],
  },
  {
    // An absent `active` means true (docs/compatibility.md), and validation now stores it; Users written before say
    // so too, so that filters, events and synced tables see the same value. Appended as the last key, the rest of
    // the document as it was.
    version: 6,
    name: 'users active by default',
    sqlite: [`UPDATE resources SET doc = json_set(doc, '$.active', json('true')) WHERE kind = 'User' AND json_type(doc, '$.active') IS NULL`],
    postgres: [
      `UPDATE resources SET doc = (left(rtrim(doc::text), -1) || ',"active":true}')::json
        WHERE kind = 'User' AND json_typeof(doc -> 'active') IS NULL`,
    ],
  },
  {
    // The admin console (docs/console.md): operators and their sessions, setup links, the SCIM request log, and when
    // each token was last used. Session ids and setup-link secrets are stored as SHA-256 hashes, like tokens.
    version: 7,
    name: 'admin console',
    sqlite: [
      'ALTER TABLE api_tokens ADD COLUMN last_used TEXT',
      `CREATE TABLE admins (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        email_folded TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created TEXT NOT NULL,
        last_login TEXT
      )`,
      `CREATE TABLE admin_sessions (
        id_hash TEXT PRIMARY KEY,
        admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
        created TEXT NOT NULL,
        expires TEXT NOT NULL
      )`,
      `CREATE TABLE setup_links (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        expires TEXT NOT NULL,
        revoked TEXT,
        token_id TEXT,
        first_request TEXT
      )`,
      `CREATE TABLE request_log (
        id INTEGER PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        token_id TEXT,
        scim_type TEXT,
        detail TEXT,
        request_body TEXT,
        user_agent TEXT,
        request_id TEXT NOT NULL
      )`,
      'CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id)',
      'CREATE INDEX setup_links_org ON setup_links (org_id)',
      'CREATE INDEX setup_links_token ON setup_links (token_id)',
      'CREATE INDEX request_log_org ON request_log (org_id, id)',
      'CREATE INDEX request_log_org_status ON request_log (org_id, status, id)',
    ],
    postgres: [
      'ALTER TABLE api_tokens ADD COLUMN last_used TEXT COLLATE "C"',
      `CREATE TABLE admins (
        id TEXT COLLATE "C" PRIMARY KEY,
        email TEXT NOT NULL,
        email_folded TEXT COLLATE "C" NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created TEXT COLLATE "C" NOT NULL,
        last_login TEXT COLLATE "C"
      )`,
      `CREATE TABLE admin_sessions (
        id_hash TEXT COLLATE "C" PRIMARY KEY,
        admin_id TEXT COLLATE "C" NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
        created TEXT COLLATE "C" NOT NULL,
        expires TEXT COLLATE "C" NOT NULL
      )`,
      `CREATE TABLE setup_links (
        id TEXT COLLATE "C" PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
        created TEXT COLLATE "C" NOT NULL,
        expires TEXT COLLATE "C" NOT NULL,
        revoked TEXT COLLATE "C",
        token_id TEXT COLLATE "C",
        first_request TEXT COLLATE "C"
      )`,
      `CREATE TABLE request_log (
        id BIGSERIAL PRIMARY KEY,
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        at TEXT COLLATE "C" NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        token_id TEXT COLLATE "C",
        scim_type TEXT,
        detail TEXT,
        request_body TEXT,
        user_agent TEXT,
        request_id TEXT NOT NULL
      )`,
      'CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id)',
      'CREATE INDEX setup_links_org ON setup_links (org_id)',
      'CREATE INDEX setup_links_token ON setup_links (token_id)',
      'CREATE INDEX request_log_org ON request_log (org_id, id)',
      'CREATE INDEX request_log_org_status ON request_log (org_id, status, id)',
    ],
  },
  {
    // Roles (docs/roles.md): the catalogue and its settings, mapping rules (one per way of naming a group, so a
    // duplicate is refused by the unique index), the roles each group gives its members, each user's effective
    // roles (kept current by the writes that move them; listed by role through user_roles_role), and recomputation
    // jobs for rule and catalogue changes, which run in batches of their own transactions.
    version: 8,
    name: 'roles',
    sqlite: [
      `CREATE TABLE role_settings (
        org_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
        default_role TEXT,
        accept_idp_roles INTEGER NOT NULL
      )`,
      `CREATE TABLE roles (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        key_folded TEXT NOT NULL,
        description TEXT,
        created TEXT NOT NULL,
        PRIMARY KEY (org_id, key)
      )`,
      'CREATE UNIQUE INDEX roles_key_folded ON roles (org_id, key_folded)',
      `CREATE TABLE role_mappings (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        match_by TEXT NOT NULL CHECK (match_by IN ('id', 'externalId', 'displayName')),
        match_value TEXT NOT NULL,
        match_key TEXT NOT NULL,
        roles TEXT NOT NULL,
        created TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
      )`,
      'CREATE UNIQUE INDEX role_mappings_group ON role_mappings (org_id, match_by, match_key)',
      'CREATE INDEX role_mappings_created ON role_mappings (org_id, created, id)',
      `CREATE TABLE group_roles (
        org_id TEXT NOT NULL,
        group_id TEXT NOT NULL,
        role_key TEXT NOT NULL,
        PRIMARY KEY (org_id, group_id, role_key),
        FOREIGN KEY (org_id, group_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
      `CREATE TABLE user_roles (
        org_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role_key TEXT NOT NULL,
        PRIMARY KEY (org_id, user_id, role_key),
        FOREIGN KEY (org_id, user_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
      ) WITHOUT ROWID`,
      'CREATE INDEX user_roles_role ON user_roles (org_id, role_key, user_id)',
      `CREATE TABLE role_jobs (
        org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        scope TEXT NOT NULL,
        position TEXT,
        created TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
      )`,
    ],
    postgres: [
      `CREATE TABLE role_settings (
        org_id TEXT COLLATE "C" PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
        default_role TEXT COLLATE "C",
        accept_idp_roles BOOLEAN NOT NULL
      )`,
      `CREATE TABLE roles (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        key TEXT COLLATE "C" NOT NULL,
        key_folded TEXT COLLATE "C" NOT NULL,
        description TEXT,
        created TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, key)
      )`,
      'CREATE UNIQUE INDEX roles_key_folded ON roles (org_id, key_folded)',
      `CREATE TABLE role_mappings (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        id TEXT COLLATE "C" NOT NULL,
        match_by TEXT COLLATE "C" NOT NULL CHECK (match_by IN ('id', 'externalId', 'displayName')),
        match_value TEXT NOT NULL,
        match_key TEXT COLLATE "C" NOT NULL,
        roles TEXT NOT NULL,
        created TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, id)
      )`,
      'CREATE UNIQUE INDEX role_mappings_group ON role_mappings (org_id, match_by, match_key)',
      'CREATE INDEX role_mappings_created ON role_mappings (org_id, created, id)',
      `CREATE TABLE group_roles (
        org_id TEXT COLLATE "C" NOT NULL,
        group_id TEXT COLLATE "C" NOT NULL,
        role_key TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, group_id, role_key),
        FOREIGN KEY (org_id, group_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
      )`,
      `CREATE TABLE user_roles (
        org_id TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        role_key TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, user_id, role_key),
        FOREIGN KEY (org_id, user_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
      )`,
      'CREATE INDEX user_roles_role ON user_roles (org_id, role_key, user_id)',
      `CREATE TABLE role_jobs (
        org_id TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        id TEXT COLLATE "C" NOT NULL,
        scope TEXT NOT NULL,
        position TEXT,
        created TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org_id, id)
      )`,
    ],
  },
  {
    // Deleting a User revokes the tokens bound to it (operations.ts deleteResource); tokens whose User was deleted
    // before that are revoked now, so that none stays live for a User that is gone.
    version: 9,
    name: 'revoke tokens of deleted users',
    sqlite: [
      `UPDATE api_tokens SET revoked = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE user_id IS NOT NULL AND revoked IS NULL
          AND NOT EXISTS (SELECT 1 FROM resources r WHERE r.org_id = api_tokens.org_id AND r.id = api_tokens.user_id)`,
    ],
    postgres: [
      `UPDATE api_tokens SET revoked = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        WHERE user_id IS NOT NULL AND revoked IS NULL
          AND NOT EXISTS (SELECT 1 FROM resources r WHERE r.org_id = api_tokens.org_id AND r.id = api_tokens.user_id)`,
    ],
  },
];

export const STORE_MIGRATIONS: MigrationSet = {
  table: 'schema_migrations',
  migrations: MIGRATIONS,
  // Serializes migrations across processes opening the same PostgreSQL database at once (an arbitrary key).
  lockKey: 72_670_001,
};
