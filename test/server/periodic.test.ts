/** startPeriodic: the loop under event retention and role-job catch-up. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startPeriodic } from '../../src/server/periodic.ts';

test('a run never overlaps the one before it; a failure is reported and the next tick runs; stop waits for the run', async () => {
  let active = 0;
  let overlapped = false;
  let runs = 0;
  const errors: unknown[] = [];
  let release!: () => void;
  const firstHeld = new Promise<void>((resolve) => (release = resolve));
  const periodic = startPeriodic(
    async () => {
      runs++;
      active++;
      if (active > 1) overlapped = true;
      try {
        if (runs === 1) await firstHeld; // held across many ticks
        if (runs === 2) throw new Error('boom');
      } finally {
        active--;
      }
    },
    1,
    (err) => errors.push(err),
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(runs, 1, 'ticks during a run are skipped');
  release();
  while (runs < 4) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(overlapped, false);
  assert.deepEqual(errors.map((e) => (e as Error).message), ['boom']);
  let finished = false;
  const last = startPeriodic(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      finished = true;
    },
    1_000,
    () => {},
  );
  await last.stop();
  assert.equal(finished, true, 'stop() returns after the run under way');
  await periodic.stop();
  const after = runs;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(runs, after, 'no run after stop()');
});
