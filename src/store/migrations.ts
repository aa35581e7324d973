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
];

export const STORE_MIGRATIONS: MigrationSet = {
  table: 'schema_migrations',
  migrations: MIGRATIONS,
  // Serializes migrations across processes opening the same PostgreSQL database at once (an arbitrary key).
  lockKey: 72_670_001,
};
