/**
 * The young-generation cap of the connector's commands (src/cli/young-generation.ts), in child processes: the V8
 * flag it sets is process-wide. Each child keeps a few rounds of objects alive at a time, as a sync keeps a page,
 * which makes V8 grow its young generation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../src/cli/young-generation.ts', import.meta.url));
const CAP = 8 * 1024 * 1024;

const CHILD = `
import { getHeapSpaceStatistics } from 'node:v8';
import { capYoungGeneration } from ${JSON.stringify(MODULE)};
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
// The interval never fires here (the loop never turns): check() is what it would run.
const cap = process.argv[1] === 'cap' ? capYoungGeneration(${CAP}, 3_600_000) : null;
const kept = [];
let max = 0;
for (let round = 0; round < 300; round++) {
  const page = [];
  for (let i = 0; i < 10_000; i++) page.push({ i, text: 'member ' + i });
  kept.push(page);
  if (kept.length > 4) kept.shift();
  cap?.check();
  max = Math.max(max, young());
}
cap?.stop();
console.log(JSON.stringify({ max, capped: cap ? cap.check() : null }));
`;

function run(mode: 'cap' | 'none'): { max: number; capped: boolean | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, mode], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { max: number; capped: boolean | null };
}

describe('young-generation cap', () => {
  it('stops V8 growing the young generation past the cap, which it otherwise does', () => {
    const free = run('none');
    assert.ok(free.max > CAP, `without the cap the young generation grew to ${free.max} bytes`);
    const capped = run('cap');
    assert.equal(capped.capped, true);
    assert.ok(capped.max <= CAP, `with the cap it reached ${capped.max} bytes`);
  });
});
