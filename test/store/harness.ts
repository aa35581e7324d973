/**
 * Opens real stores for the contract suite: a SQLite file in a temporary folder, or a fresh PostgreSQL database
 * (CREATE DATABASE with a random name) on the server named by SCIMKIT_TEST_POSTGRES_URL. Each harness also gives a
 * separate raw connection, so tests can check what is actually stored.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../../src/store/index.ts';
import type { OpenStoreOptions, Store } from '../../src/store/index.ts';

/** Options of the store a harness opens (not the database's location). */
export type HarnessOptions = Omit<OpenStoreOptions, 'sqlitePath' | 'postgresUrl' | 'poolSize'>;

export interface StoreHarness {
  readonly dialect: 'sqlite' | 'postgres';
  readonly store: Store;
  /** Raw SQL with `?` placeholders on a separate connection to the same database. */
  raw(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Opens another store on the same database (migrations run again on open). */
  reopen(): Promise<Store>;
  close(): Promise<void>;
}

export async function sqliteHarness(options: HarnessOptions = {}): Promise<StoreHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-store-'));
  const file = join(dir, 'store.db');
  const store = await openStore({ ...options, sqlitePath: file });
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  const opened: Store[] = [];
  return {
    dialect: 'sqlite',
    store,
    async raw(text, params = []) {
      const statement = db.prepare(text);
      if (statement.reader) return statement.all(...params) as Record<string, unknown>[];
      statement.run(...params);
      return [];
    },
    async reopen() {
      const again = await openStore({ sqlitePath: file });
      opened.push(again);
      return again;
    },
    async close() {
      for (const s of opened) await s.close();
      await store.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const POSTGRES_URL = process.env.SCIMKIT_TEST_POSTGRES_URL;

/** The server URL with another database name. */
function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export async function postgresHarness(serverUrl: string, options: HarnessOptions = {}): Promise<StoreHarness> {
  const name = `scimkit_store_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = withDatabase(serverUrl, name);
  // A pool of 12 gives the concurrency tests real parallel transactions.
  const store = await openStore({ ...options, postgresUrl: url, poolSize: 12 });
  const rawPool = new pg.Pool({ connectionString: url, max: 2 });
  const opened: Store[] = [];
  return {
    dialect: 'postgres',
    store,
    async raw(text, params = []) {
      let n = 0;
      const result = await rawPool.query(text.replace(/\?/g, () => `$${++n}`), params);
      return result.rows;
    },
    async reopen() {
      const again = await openStore({ postgresUrl: url, poolSize: 2 });
      opened.push(again);
      return again;
    },
    async close() {
      for (const s of opened) await s.close();
      await store.close();
      await rawPool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}
