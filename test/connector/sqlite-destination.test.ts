/**
 * The connector's SQLite destination runs no checkpoint worker: a sync is one writer with nothing waiting behind its
 * commits, and the worker thread (the server's, src/sql/sqlite.ts) cost a sync 8 MiB from its 100th page on.
 * And a new SQLite or DuckDB warehouse is private to its owner (docs/connector.md, "Who may read the warehouse file").
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openDestination } from '../../src/connector/destination/index.ts';
import { emptyState } from '../../src/connector/destination/types.ts';
import { exec, sql, SqliteRunner } from '../../src/sql/index.ts';

/** The process's threads (Linux). */
const threads = (): number => readdirSync('/proc/self/task').length;

describe('the SQLite destination', () => {
  it('starts no checkpoint worker thread, however many transactions a sync commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scimkit-sqlite-dest-'));
    try {
      // The control: a runner with the worker (the default) has more threads after its hundredth write.
      const control = new SqliteRunner(join(dir, 'control.db'));
      await control.run(() => exec(sql`CREATE TABLE t (n INTEGER)`), 'write');
      const before = threads();
      for (let i = 0; i < 150; i++) await control.run(() => exec(sql`INSERT INTO t (n) VALUES (${i})`), 'write');
      assert.ok(threads() > before, 'the default runner starts its checkpoint worker');
      await control.close();

      const dest = await openDestination({ kind: 'sqlite', path: join(dir, 'warehouse.db') });
      try {
        await dest.write((tx) => tx.saveState(emptyState('users')));
        const start = threads();
        for (let i = 0; i < 150; i++) await dest.write((tx) => tx.saveState({ ...emptyState('users'), passRecords: i }));
        assert.equal(threads(), start);
      } finally {
        await dest.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the SQLite destination, locked by another program', () => {
  it('names itself and says the run can resume when a write waits past the busy timeout', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scimkit-sqlite-busy-'));
    const path = join(dir, 'warehouse.db');
    const dest = await openDestination({ kind: 'sqlite', path });
    // An analyst's sqlite3 shell with a write transaction left open.
    const other = new Database(path);
    try {
      other.exec('BEGIN IMMEDIATE');
      await assert.rejects(dest.write((tx) => tx.saveState(emptyState('users'))), (err: Error) => {
        assert.equal(err.message, `sqlite:${path} is unavailable: database is locked (another program held the file locked for more than 10 s, or the disk is full); what was written before is kept, and the next sync resumes where this one stopped`);
        return true;
      });
    } finally {
      other.close();
      await dest.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('file destinations', () => {
  it('create a new warehouse file (SQLite: with its -wal and -shm) and a folder for it readable by the owner only; an existing file keeps its mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scimkit-dest-mode-'));
    try {
      for (const kind of ['sqlite', 'duckdb'] as const) {
        const folder = join(dir, kind, 'new-folder');
        const path = join(folder, 'warehouse');
        const dest = await openDestination({ kind, path });
        try {
          await dest.write((tx) => tx.saveState(emptyState('users')));
          assert.equal(mode(path), '600', `${kind}: the new file`);
          assert.equal(mode(folder), '700', `${kind}: the folder made for it`);
          if (kind === 'sqlite') for (const suffix of ['-wal', '-shm']) assert.equal(mode(`${path}${suffix}`), '600', suffix);
        } finally {
          await dest.close();
        }
        // The owner shares it: the next sync leaves the mode alone.
        chmodSync(path, 0o644);
        const again = await openDestination({ kind, path });
        try {
          await again.write((tx) => tx.saveState({ ...emptyState('users'), passRecords: 1 }));
        } finally {
          await again.close();
        }
        assert.equal(mode(path), '644', `${kind}: an existing file`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
