/**
 * Kill-and-resume: `scimkit sync` runs as a real child process against the fake provider (which answers a little
 * slowly) and is killed with SIGKILL at random moments, many times; then it is let finish. The tables must equal
 * the source, with nothing lost and nothing duplicated. Run once per destination.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeProvider } from './fake-provider.ts';
import { assertTablesEqualSource, DestinationFactory, destinationKinds, rawConfig, TOKEN, withDestination } from './helpers.ts';

const { kinds, missing } = destinationKinds({ duckdb: true });
const factory = new DestinationFactory();
after(() => factory.cleanup());

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

function startSync(configPath: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['bin/scimkit.mjs', 'sync', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a sync and SIGKILLs it once the provider has served `afterRequests` more requests (plus a few ms). */
async function killMidway(p: FakeProvider, configPath: string, afterRequests: number): Promise<'killed' | 'finished'> {
  const target = p.requests.length + afterRequests;
  const run = startSync(configPath);
  let done = false;
  void run.exited.then(() => (done = true));
  while (!done && p.requests.length < target) await sleep(2);
  if (done) {
    assert.equal(await run.exited, 0, `an unkilled run succeeds:\n${run.output()}`);
    return 'finished';
  }
  await sleep(Math.floor(Math.random() * 15));
  run.child.kill('SIGKILL');
  await run.exited;
  return 'killed';
}

async function finish(configPath: string): Promise<void> {
  const run = startSync(configPath);
  const code = await run.exited;
  assert.equal(code, 0, `the final run succeeds:\n${run.output()}`);
}

for (const kind of kinds) {
  describe(`kill and resume into ${kind}`, () => {
    it('survives SIGKILL at random moments and ends with tables equal to the source', async (t) => {
      const p = await new FakeProvider({ token: TOKEN, delayMs: 6 }).start();
      t.after(() => p.stop());
      p.populate(150, 12, 20);
      p.setMembers('g-000151', [...p.users.keys()].slice(0, 120));
      const d = await factory.create(kind);
      const dir = mkdtempSync(join(tmpdir(), 'scimkit-resume-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const configPath = join(dir, 'config.json');
      writeFileSync(configPath, JSON.stringify(rawConfig(p, d, { max_records_per_page: 10, enable_debug_logging: true })));

      // A run that needs fewer requests than its kill point finishes instead; keep going until 12 were killed.
      const outcomes: string[] = [];
      const killed = () => outcomes.filter((o) => o === 'killed').length;
      while (killed() < 12 && outcomes.length < 48) outcomes.push(await killMidway(p, configPath, 1 + Math.floor(Math.random() * 30)));
      assert.ok(killed() >= 12, `12 runs were killed midway (${outcomes.join(',')})`);
      await finish(configPath);
      await assertTablesEqualSource(d, p);

      // The source changes between kills; a change made while a pass is interrupted is caught by the next pass.
      for (let i = 0; i < 6; i++) {
        p.updateUser(`u-0000${String(20 + i)}`, { title: `Title ${i}` });
        p.deleteUser(`u-0000${String(40 + i)}`);
        p.addUser();
        p.setMembers('g-000152', [...p.users.keys()].slice(i, i + 15));
        await killMidway(p, configPath, 1 + Math.floor(Math.random() * 25));
      }
      await finish(configPath);
      await finish(configPath);
      await assertTablesEqualSource(d, p);
      await withDestination(d, async (dest) => {
        const states = await dest.loadState();
        for (const s of ['users', 'groups'] as const) assert.equal(states.get(s)?.phase, null, `${s}: no pass left open`);
      });
    });
  });
}
