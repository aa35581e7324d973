/**
 * The Store contract against PostgreSQL, on a fresh database per run. Without SCIMKIT_TEST_POSTGRES_URL the suite is
 * not registered locally (scripts/run-tests.mjs starts a server when PostgreSQL is installed); under CI a missing
 * server fails, so this half can never silently stop running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storeContract } from './contract.ts';
import { POSTGRES_URL, postgresHarness } from './harness.ts';

if (POSTGRES_URL) {
  const url = POSTGRES_URL;
  storeContract('postgres', () => postgresHarness(url));
} else if (process.env.CI) {
  test('PostgreSQL store contract', () => {
    assert.fail('SCIMKIT_TEST_POSTGRES_URL is not set: under CI the PostgreSQL store suite must run');
  });
} else {
  console.log('# SCIMKIT_TEST_POSTGRES_URL not set: PostgreSQL store contract not run (install PostgreSQL to run it)');
}
