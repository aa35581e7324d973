/**
 * Length limits over HTTP (issue 11, item 1). Before them, a random 2,800-character userName or externalId gave a 500
 * on PostgreSQL (a B-tree index entry past 2,704 bytes) and a 900 KB one a 500 too, while SQLite stored them. Now
 * both stores answer the same 400 invalidValue, naming the attribute and the limit, on POST, PUT, PATCH and Bulk;
 * values at the limit, in 4-byte characters, are stored and found on both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_INDEXED_CHARS } from '../../src/scim/limits.ts';
import { prng } from '../prng.ts';
import { backends, client, group, patchOp, startHarness, user } from './helpers.ts';
import type { Harness, Reply } from './helpers.ts';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const EMOJI = '\u{1F600}';

/** `n` random characters from several scripts (1 to 4 bytes each): text no index can compress. */
function randomText(n: number, seed: number): string {
  const next = prng(seed);
  const ranges: [number, number][] = [[0x61, 0x7a], [0x3b1, 0x3c9], [0x4e00, 0x9fff], [0x1f300, 0x1f5ff]];
  let out = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = ranges[Math.floor(next() * ranges.length)];
    out += String.fromCodePoint(lo + Math.floor(next() * (hi - lo)));
  }
  return out;
}

function assertTooLong(res: Reply, attribute: string, where: string): void {
  assert.equal(res.status, 400, `${where}: ${res.text.slice(0, 300)}`);
  assert.equal(res.body.scimType, 'invalidValue', where);
  assert.match(res.body.detail, new RegExp(`"${attribute}" is too long: at most ${MAX_INDEXED_CHARS} characters`), where);
}

for (const backend of backends()) {
  describe(`length limits (${backend})`, () => {
    let h: Harness;
    let api: ReturnType<typeof client>;
    before(async () => {
      h = await startHarness({ backend });
      api = client(h);
    });
    after(async () => h.close());

    test('a random 2,800-character userName or externalId, or a 900 KB repetitive one, is 400 on POST', async () => {
      const random = randomText(2800, 11);
      const repetitive = 'a'.repeat(900_000);
      for (const value of [random, repetitive]) {
        assertTooLong(await api('POST', '/Users', { body: user(value) }), 'userName', 'POST userName');
        assertTooLong(await api('POST', '/Users', { body: user('ok-name', { externalId: value }) }), 'externalId', 'POST externalId');
        assertTooLong(await api('POST', '/Groups', { body: group(value) }), 'displayName', 'POST group displayName');
        assertTooLong(await api('POST', '/Groups', { body: group('ok-group', { externalId: value }) }), 'externalId', 'POST group externalId');
      }
      const listed = await api('GET', '/Users?filter=userName eq "ok-name"');
      assert.equal(listed.body.totalResults, 0, 'nothing was stored');
    });

    test('PUT, PATCH (with a path and path-less) and Bulk get the same answer', async () => {
      const created = await api('POST', '/Users', { body: user('limits-user') });
      const g = await api('POST', '/Groups', { body: group('limits-group') });
      const long = randomText(MAX_INDEXED_CHARS + 1, 12);
      assertTooLong(await api('PUT', `/Users/${created.body.id}`, { body: user(long) }), 'userName', 'PUT');
      assertTooLong(await api('PATCH', `/Users/${created.body.id}`, { body: patchOp({ op: 'replace', path: 'userName', value: long }) }), 'userName', 'PATCH path');
      assertTooLong(await api('PATCH', `/Users/${created.body.id}`, { body: patchOp({ op: 'replace', value: { externalId: long } }) }), 'externalId', 'PATCH path-less');
      assertTooLong(await api('PATCH', `/Groups/${g.body.id}`, { body: patchOp({ op: 'replace', path: 'displayName', value: long }) }), 'displayName', 'PATCH group');
      const bulk = await api('POST', '/Bulk', {
        body: {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: 'POST', path: '/Users', bulkId: 'u', data: user(long) },
            { method: 'PATCH', path: `/Users/${created.body.id}`, data: patchOp({ op: 'add', path: 'externalId', value: long }) },
            { method: 'PUT', path: `/Groups/${g.body.id}`, data: group(long) },
          ],
        },
      });
      assert.equal(bulk.status, 200);
      for (const [i, attribute] of ['userName', 'externalId', 'displayName'].entries()) {
        const op = bulk.body.Operations[i];
        assert.equal(op.status, '400', JSON.stringify(op));
        assert.equal(op.response.scimType, 'invalidValue');
        assert.match(op.response.detail, new RegExp(`"${attribute}" is too long: at most ${MAX_INDEXED_CHARS} characters`));
      }
      const after = await api('GET', `/Users/${created.body.id}`);
      assert.equal(after.body.userName, 'limits-user');
      assert.equal(after.body.meta.version, created.body.meta.version, 'nothing changed');
    });

    test('values at the limit in 4-byte characters are stored, found and updated', async () => {
      const userName = EMOJI.repeat(MAX_INDEXED_CHARS - 3) + 'end';
      const externalId = randomText(MAX_INDEXED_CHARS, 13);
      const created = await api('POST', '/Users', { body: user(userName, { externalId }) });
      assert.equal(created.status, 201, created.text.slice(0, 300));
      const found = await api('GET', `/Users?filter=${encodeURIComponent(`externalId eq ${JSON.stringify(externalId)}`)}`);
      assert.equal(found.body.totalResults, 1);
      assert.equal(found.body.Resources[0].userName, userName);
      const renamed = EMOJI.repeat(MAX_INDEXED_CHARS);
      const patched = await api('PATCH', `/Users/${created.body.id}`, { body: patchOp({ op: 'replace', path: 'userName', value: renamed }) });
      assert.equal(patched.status, 200, patched.text.slice(0, 300));
      const byName = await api('GET', `/Users?filter=${encodeURIComponent(`userName eq "${renamed}"`)}`);
      assert.equal(byName.body.totalResults, 1);
      const g = await api('POST', '/Groups', { body: group(randomText(MAX_INDEXED_CHARS, 14), { externalId: '\u0130'.repeat(MAX_INDEXED_CHARS), members: [{ value: created.body.id }] }) });
      assert.equal(g.status, 201, g.text.slice(0, 300));
      const conflict = await api('POST', '/Users', { body: user(userName, { externalId }) });
      assert.equal(conflict.status, 201, 'the first name is free again after the rename');
      const duplicate = await api('POST', '/Users', { body: user(renamed) });
      assert.equal(duplicate.status, 409);
    });
  });
}
