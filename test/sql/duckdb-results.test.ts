/**
 * What the DuckDB runner reports for each kind of statement: DuckDB answers INSERT, UPDATE and DELETE with a row
 * holding their count, which is no result row, also when the count is 0 (the sync's summary once counted such an
 * UPDATE as one changed row).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { append, exec, rows, sql } from '../../src/sql/builder.ts';
import { DuckDbRunner } from '../../src/sql/duckdb.ts';

test('DuckDB: changes are the rows a statement changed, rows are what it returned', async (t) => {
  const runner = await DuckDbRunner.open(':memory:', { setup: ['CREATE TABLE u (id VARCHAR PRIMARY KEY, name VARCHAR)'] });
  t.after(() => runner.close());
  const result = await runner.run(function* () {
    return {
      inserted: yield* exec(sql`INSERT INTO u VALUES ('u1', 'A'), ('u2', 'B')`),
      same: yield* exec(sql`UPDATE u SET name = 'A' WHERE id = 'u1' AND name IS DISTINCT FROM 'A'`),
      renamed: yield* exec(sql`UPDATE u SET name = 'C' WHERE id = 'u2'`),
      none: yield* exec(sql`DELETE FROM u WHERE id = 'nobody'`),
      returned: yield* rows<{ id: string }>(sql`DELETE FROM u WHERE id = 'u2' RETURNING id`),
      counted: yield* rows<{ Count: bigint }>(sql`SELECT count(*) AS "Count" FROM u WHERE FALSE`),
      selected: yield* rows<{ id: string; name: string }>(sql`SELECT id, name FROM u`),
    };
  }, 'write');
  assert.deepEqual([result.inserted, result.same, result.renamed, result.none], [2, 0, 1, 0]);
  assert.deepEqual(result.returned.map((r) => r.id), ['u2']);
  assert.deepEqual(result.counted.map((r) => Number(r.Count)), [0], 'a query whose column is named Count is still a query');
  assert.deepEqual(result.selected, [{ id: 'u1', name: 'A' }]);
});

test('DuckDB: a transaction that created a temporary table and rolled back leaves the next one able to create and fill it', async (t) => {
  const runner = await DuckDbRunner.open(':memory:', { setup: ['CREATE TABLE u (id VARCHAR PRIMARY KEY, name VARCHAR)'] });
  t.after(() => runner.close());
  // As the destination's upsert does it: a stage made in the transaction that fills it.
  function* fill(fail: boolean) {
    yield* exec(sql`CREATE TEMPORARY TABLE IF NOT EXISTS temp.main.stage (id VARCHAR, name VARCHAR)`);
    yield* append({ table: 'stage', schema: 'main', catalog: 'temp', rows: [['u1', 'A'], ['u2', 'B']] });
    if (fail) throw new Error('stopped before the commit');
    yield* exec(sql`INSERT INTO u SELECT id, name FROM temp.main.stage`);
    return yield* rows<{ n: bigint }>(sql`SELECT count(*) AS n FROM u`);
  }
  await assert.rejects(runner.run(() => fill(true), 'write'), /stopped before the commit/);
  const [{ n }] = await runner.run(() => fill(false), 'write');
  assert.equal(Number(n), 2);
});
