/**
 * examples/fastify-app and examples/express-app as real processes: each answers SCIM end to end under /scim
 * while its own routes still work, and stops cleanly on SIGTERM. They import scimkit by its package name, so
 * they run the compiled package (dist/), as an app that installed scimkit would.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { call, user } from '../server/helpers.ts';

const ROOT = join(import.meta.dirname, '../..');

async function start(example: string, database: string) {
  const child = spawn(process.execPath, [join(ROOT, 'examples', example, 'server.mjs')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', DATABASE: database, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const printed = await new Promise<{ orgId: string; token: string; origin: string }>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      const org = /^organization (\S+)$/m.exec(stdout);
      const token = /^bearer token (\S+)$/m.exec(stdout);
      const origin = /^listening on (http:\/\/\S+)$/m.exec(stdout);
      if (org && token && origin) resolve({ orgId: org[1], token: token[1], origin: origin[1] });
    });
    void exit.then((code) => reject(new Error(`${example} exited (${code}) before listening: ${stderr}`)));
  });
  return { child, exit, ...printed };
}

for (const example of ['fastify-app', 'express-app']) {
  describe(`examples/${example}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `scimkit-${example}-`));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('answers SCIM under /scim beside its own routes, and stops on SIGTERM', async () => {
      const app = await start(example, `sqlite:${join(dir, 'app.db')}`);
      try {
        const base = `${app.origin}/scim/v2/organizations/${app.orgId}`;
        const created = await call(base, 'POST', '/Users', { defaultToken: app.token, body: user('ada@example.com', { name: { givenName: 'Ada' } }) });
        assert.equal(created.status, 201, created.text);
        assert.equal(created.headers.get('location'), `${base}/Users/${created.body.id}`);
        const patched = await call(base, 'PATCH', `/Users/${created.body.id}`, {
          defaultToken: app.token,
          body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] },
        });
        assert.equal(patched.status, 200);
        assert.equal(patched.body.active, false);
        const found = await call(base, 'GET', '/Users?filter=userName%20eq%20%22ada@example.com%22', { defaultToken: app.token });
        assert.equal(found.body.totalResults, 1);
        assert.equal((await call(base, 'GET', '/Users', { token: null })).status, 401);

        const home = await fetch(`${app.origin}/`);
        assert.equal((await home.json()).app, example);
        const note = await fetch(`${app.origin}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hi"}' });
        assert.deepEqual(await note.json(), { saved: { text: 'hi' } });
      } finally {
        app.child.kill('SIGTERM');
      }
      assert.equal(await app.exit, 0);
    });
  });
}
