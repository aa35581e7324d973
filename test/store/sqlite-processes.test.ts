/**
 * SQLite under real concurrency: several processes, each with its own connection to one database file, race on the
 * same userName and on the same version. WAL, busy_timeout and the unique index must still give one winner.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/index.ts';
import { userDoc } from './contract.ts';

const WRITER = fileURLToPath(new URL('./fixtures/sqlite-writer.ts', import.meta.url));
const PROCESSES = 5;

function runWriter(job: Record<string, unknown>): Promise<(number | string)[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as (number | string)[]) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

describe('SQLite with several processes on one file', () => {
  let dir: string;
  let file: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-procs-'));
    file = join(dir, 'shared.db');
    store = await openStore({ sqlitePath: file });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('50 creates of one userName in different case across processes: one succeeds, 49 get 409', async () => {
    const org = (await store.createOrganization('procs')).id;
    const names = Array.from({ length: 50 }, (_, i) => [...'racers'].map((c, k) => (i & (1 << k) ? c.toUpperCase() : c)).join(''));
    const startAt = Date.now() + 3000;
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, (_, p) => runWriter({ file, org, startAt, creates: names.filter((_, i) => i % PROCESSES === p) })),
    );
    const outcomes = results.flat();
    assert.equal(outcomes.length, 50);
    assert.equal(outcomes.filter((o) => o === 200).length, 1, JSON.stringify(outcomes));
    assert.equal(outcomes.filter((o) => o === 409).length, 49, JSON.stringify(outcomes));
  });

  it('20 versioned replaces across processes: one succeeds, 19 get 412', async () => {
    const org = (await store.createOrganization('procs')).id;
    const user = await store.create(org, 'User', userDoc('contended'));
    const startAt = Date.now() + 3000;
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, (_, p) =>
        runWriter({ file, org, startAt, replaces: { id: user.id, userName: 'contended', expectedVersion: 1, titles: [0, 1, 2, 3].map((k) => `p${p}-${k}`) } }),
      ),
    );
    const outcomes = results.flat();
    assert.equal(outcomes.length, 20);
    assert.equal(outcomes.filter((o) => o === 200).length, 1, JSON.stringify(outcomes));
    assert.equal(outcomes.filter((o) => o === 412).length, 19, JSON.stringify(outcomes));
    assert.equal((await store.get(org, 'User', user.id))?.version, 2);
  });
});
