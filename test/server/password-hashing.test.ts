/**
 * Password hashing is shared fairly between organizations and bounded per organization (issue 11 item 5): while
 * one organization has a pile of password writes hashing, another organization's password write takes the next
 * turn instead of waiting behind the pile; past its bound an organization's write is 429 with Retry-After, and
 * nothing of it is stored. On SQLite and PostgreSQL. (How fast the other tenant stays is measured in
 * bench/password-load.ts, not asserted here.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PasswordHashing } from '../../src/store/hashing.ts';
import { ERROR_SCHEMA, backends, call, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

async function otherTenant(h: Harness): Promise<{ base: string; token: string }> {
  const org = await h.store.createOrganization('other-tenant', { readLimit: 100_000, writeLimit: 100_000 });
  const { secret } = await h.store.createToken(org.id, { scope: 'read-write' });
  return { base: `${h.origin}/scim/v2/organizations/${org.id}`, token: secret };
}

const withPassword = (name: string) => user(name, { password: `pw-${name}-correct horse battery staple` });

for (const backend of backends()) {
  describe(`password hashing across organizations (${backend})`, () => {
    test("another organization's password write takes the next turn, not the back of one organization's pile", async () => {
      const h = await startHarness({ backend, store: { passwordHashing: { concurrency: 1, perOrganization: 100 } } });
      try {
        const tenant = await otherTenant(h);
        const finished: string[] = [];
        const pile = Array.from({ length: 12 }, (_, i) =>
          call(h.base, 'POST', '/Users', { token: h.token, body: withPassword(`pile-${i}`) }).then((res) => {
            finished.push(`pile-${i}`);
            return res.status;
          }),
        );
        // Let the pile's requests reach the hashing queue: each needs a tenth of a second of scrypt, so twelve
        // of them are far from done when the other tenant's request arrives.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const other = await call(tenant.base, 'POST', '/Users', { token: tenant.token, body: withPassword('other') });
        finished.push('other');
        assert.equal(other.status, 201);
        assert.deepEqual(await Promise.all(pile), Array(12).fill(201));
        const position = finished.indexOf('other');
        // Without fair turns the other tenant's hash runs after all twelve (or, in libuv's pool of four, after at
        // least eight); with them it runs after the one that was running and at most the one started meanwhile.
        assert.ok(position <= 3, `the other tenant finished ${position + 1}th of 13: ${finished.join(', ')}`);
      } finally {
        await h.close();
      }
    });

    test('past the bound, an organization gets 429 with Retry-After and a SCIM body; another organization is unaffected', async () => {
      const h = await startHarness({ backend, store: { passwordHashing: { concurrency: 1, perOrganization: 3 } } });
      try {
        const tenant = await otherTenant(h);
        const burst = await Promise.all(
          Array.from({ length: 10 }, (_, i) => call(h.base, 'POST', '/Users', { token: h.token, body: withPassword(`burst-${i}`) })),
        );
        const refused = burst.filter((r) => r.status === 429);
        const created = burst.filter((r) => r.status === 201);
        assert.equal(refused.length + created.length, 10, burst.map((r) => r.status).join(','));
        assert.ok(created.length >= 3 && refused.length >= 1, burst.map((r) => r.status).join(','));
        for (const r of refused) {
          assert.deepEqual(r.body.schemas, [ERROR_SCHEMA]);
          assert.match(r.body.detail, /password hashes in progress/);
          assert.ok(Number(r.headers.get('retry-after')) >= 1);
        }
        // Nothing of a refused write is stored; every accepted one is.
        const listed = await call(h.base, 'GET', '/Users?count=100', { token: h.token });
        assert.equal(listed.body.totalResults, created.length);
        assert.equal((await call(tenant.base, 'POST', '/Users', { token: tenant.token, body: withPassword('other') })).status, 201);
      } finally {
        await h.close();
      }
    });
  });
}

describe('PasswordHashing', () => {
  test('runs at most `concurrency` at once and takes organizations in turn', async () => {
    const hashing = new PasswordHashing({ concurrency: 1, perOrganization: 10 });
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(name);
      running--;
    };
    const a = hashing.slot('a');
    const b = hashing.slot('b');
    const c = hashing.slot('c');
    await Promise.all([a(task('a1')), a(task('a2')), a(task('a3')), b(task('b1')), b(task('b2')), c(task('c1'))]);
    assert.equal(most, 1);
    assert.deepEqual(order, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
    assert.deepEqual(hashing.load, { running: 0, waiting: 0 });
    assert.throws(() => new PasswordHashing({ concurrency: 0 }), /concurrency/);
  });
});
