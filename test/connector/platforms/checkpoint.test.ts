/**
 * When a platform shell writes its state (checkpoint.ts): after every commit while the state is small; once it is
 * large, after records four times its size, after a minute, or when a stream completes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointPolicy, MAX_STATE_INTERVAL_MS, RECORD_BYTES_PER_STATE_BYTE, SMALL_STATE_BYTES } from '../../../src/connector/platforms/checkpoint.ts';

test('a small state follows every commit', () => {
  const policy = new CheckpointPolicy(0, () => 0);
  for (let i = 0; i < 3; i++) {
    assert.equal(policy.due(10, false), true);
    policy.written(SMALL_STATE_BYTES);
  }
});

test('a large state waits for records four times its size, a minute, or the end of a stream', () => {
  let now = 0;
  const state = 4 * SMALL_STATE_BYTES;
  const policy = new CheckpointPolicy(state, () => now);
  const page = state / 2;
  let commits = 0;
  while (!policy.due(page, false)) commits += 1;
  assert.equal((commits + 1) * page, state * RECORD_BYTES_PER_STATE_BYTE, 'written once the records since reach four times the state');
  policy.written(state);
  assert.equal(policy.due(1, true), true, 'a completed stream writes it whatever the records');
  policy.written(state);
  assert.equal(policy.due(1, false), false);
  assert.equal(policy.pending, true, 'a commit is waiting for its state');
  now += MAX_STATE_INTERVAL_MS;
  assert.equal(policy.due(1, false), true, 'and a minute later it is written anyway');
});
