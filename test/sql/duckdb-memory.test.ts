/**
 * The DuckDB runner's memory limit: a transaction that needs more than the limit is run again with a higher one,
 * so a small limit (which bounds DuckDB's cache) never fails a write that fits the machine.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { append, exec, first, sql } from '../../src/sql/builder.ts';
import { DuckDbRunner } from '../../src/sql/duckdb.ts';

test('DuckDB: a transaction that runs out of the memory limit runs again with a higher one, and commits once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-duckdb-memory-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const runner = await DuckDbRunner.open(join(dir, 'w.duckdb'), {
    rowGroupSize: 16_384,
    memoryLimitMb: 1,
    setup: ['CREATE TABLE m (g VARCHAR, k VARCHAR, raw VARCHAR, PRIMARY KEY (g, k))', 'CREATE TEMPORARY TABLE stage (g VARCHAR, k VARCHAR, raw VARCHAR)'],
  });
  t.after(() => runner.close());
  assert.equal(runner.memoryLimit, 1);
  let runs = 0;
  const written = await runner.run(function* () {
    runs += 1;
    for (let batch = 0; batch < 10; batch++) {
      const rows = Array.from({ length: 5000 }, (_, i) => ['big', `member-${batch}-${i}`, `{"value":"member-${batch}-${i}","display":"Member ${i} of the big group"}`]);
      yield* append({ table: 'stage', schema: 'main', catalog: 'temp', rows });
      yield* exec(sql`INSERT INTO m SELECT * FROM temp.main.stage ON CONFLICT (g, k) DO UPDATE SET raw = excluded.raw`);
      yield* exec(sql`DELETE FROM temp.main.stage`);
    }
    return (yield* first<{ n: bigint }>(sql`SELECT count(*) AS n FROM m`))?.n;
  }, 'write');
  assert.equal(Number(written), 50_000);
  assert.ok(runs > 1, `the transaction ran again (${runs} runs)`);
  assert.ok((runner.memoryLimit ?? 0) > 1, `the limit was raised (${runner.memoryLimit} MiB)`);
  const count = await runner.run(() => first<{ n: bigint }>(sql`SELECT count(*) AS n FROM m`), 'read');
  assert.equal(Number(count?.n), 50_000, 'committed once, with every row');
});
