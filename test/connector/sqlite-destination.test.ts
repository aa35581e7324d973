/**
 * The connector's SQLite destination runs no checkpoint worker: a sync is one writer with nothing waiting behind its
 * commits, and the worker thread (the server's, src/sql/sqlite.ts) cost a sync 8 MiB from its 100th page on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
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
