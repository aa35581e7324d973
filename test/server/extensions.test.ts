/**
 * Schema extensions declared per organization, over HTTP on each store: discovered, validated, filtered and sorted in
 * SQL, patched in every PATCH form, removed with their data kept; and the organizations that declared none unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSchemaDocument } from '../../src/scim/schema/declare.ts';
import { GENEROUS, backends, client, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const ACME_DOCUMENT = {
  id: ACME,
  name: 'AcmeUser',
  description: 'Acme custom attributes',
  attributes: [
    { name: 'costCode', type: 'string' },
    { name: 'badge', type: 'integer' },
    { name: 'hired', type: 'dateTime' },
    { name: 'remote', type: 'boolean' },
    { name: 'nickname', type: 'string', returned: 'request' },
    { name: 'skills', type: 'string', multiValued: true },
    { name: 'office', type: 'complex', subAttributes: [{ name: 'building', type: 'string' }, { name: 'floor', type: 'integer' }] },
  ],
};

async function declare(h: Harness, document: unknown = ACME_DOCUMENT): Promise<void> {
  await h.store.addSchemaExtension(h.org.id, { resourceType: 'User', required: false, schema: parseSchemaDocument(document) });
}

for (const backend of backends()) {
  test(`${backend}: a declared extension is discovered, validated, filtered, sorted and patched`, async () => {
    const h = await startHarness({ backend });
    try {
      const api = client(h);
      // Before it is declared, the default policy ignores its attributes.
      const early = await api('POST', '/Users', { body: user('early', { [ACME]: { costCode: 'E' } }) });
      assert.equal(early.status, 201);
      assert.equal(early.body[ACME], undefined);

      await declare(h);
      const schemas = await api('GET', '/Schemas');
      assert.ok(schemas.body.Resources.some((s: { id: string }) => s.id === ACME));
      const one = await api('GET', `/Schemas/${ACME.toLowerCase()}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.attributes.map((a: { name: string }) => a.name), ACME_DOCUMENT.attributes.map((a) => a.name));
      assert.equal(one.body.attributes[1].type, 'integer');
      const types = await api('GET', '/ResourceTypes/User');
      assert.deepEqual(types.body.schemaExtensions, [
        { schema: ENTERPRISE, required: false },
        { schema: ACME, required: false },
      ]);

      // Validated like core attributes: names in any case, types.
      const people = [
        { userName: 'ada', costCode: 'C-2', badge: 30, hired: '2020-05-01T00:00:00Z', floor: 3, skills: ['Go'] },
        { userName: 'bob', costCode: 'c-1', badge: 7, hired: '2019-01-01T10:00:00+02:00', floor: 1, skills: ['Rust', 'Go'] },
        { userName: 'cy', costCode: 'B-9', badge: 120, hired: '2021-12-31T23:59:59Z', floor: 2, skills: [] },
      ];
      const ids = new Map<string, string>();
      for (const p of people) {
        const res = await api('POST', '/Users', {
          body: user(p.userName, {
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ACME],
            [ACME.toUpperCase()]: { CostCode: p.costCode, badge: p.badge, hired: p.hired, office: { floor: p.floor }, skills: p.skills, nickname: 'n' },
          }),
        });
        assert.equal(res.status, 201, res.text);
        ids.set(p.userName, res.body.id);
        assert.deepEqual(res.body.schemas, ['urn:ietf:params:scim:schemas:core:2.0:User', ACME]);
        assert.equal(res.body[ACME].costCode, p.costCode);
        assert.equal(res.body[ACME].nickname, undefined, 'returned: request');
      }
      const bad = await api('POST', '/Users', { body: user('dee', { [ACME]: { badge: 'seven' } }) });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.scimType, 'invalidValue');
      assert.match(bad.body.detail, /badge" must be an integer/);

      // Filtered in SQL, by the attribute's type.
      const find = async (filter: string) => {
        const res = await api('GET', `/Users?filter=${encodeURIComponent(filter)}&sortBy=userName`);
        assert.equal(res.status, 200, `${filter}: ${res.text}`);
        return res.body.Resources.map((r: { userName: string }) => r.userName);
      };
      assert.deepEqual(await find(`${ACME}:costCode eq "C-1"`), ['bob'], 'case-insensitive string');
      assert.deepEqual(await find(`${ACME}:badge gt 10`), ['ada', 'cy'], 'integers compare as numbers');
      assert.deepEqual(await find(`${ACME}:hired lt "2019-06-01T00:00:00Z"`), ['bob'], 'dateTimes compare as instants');
      assert.deepEqual(await find(`${ACME}:skills eq "go"`), ['ada', 'bob']);
      assert.deepEqual(await find(`${ACME}:office.floor le 2`), ['bob', 'cy']);
      assert.deepEqual(await find(`${ACME}:costCode pr and not (${ACME}:badge eq 7)`), ['ada', 'cy']);
      const mistyped = await api('GET', `/Users?filter=${encodeURIComponent(`${ACME}:badge eq "7"`)}`);
      assert.equal(mistyped.status, 400);
      assert.equal(mistyped.body.scimType, 'invalidFilter');

      // Sorted when singular: numbers as numbers, strings folded; users without a value last.
      const sorted = async (sortBy: string, order = 'ascending') => {
        const res = await api('GET', `/Users?sortBy=${encodeURIComponent(sortBy)}&sortOrder=${order}`);
        assert.equal(res.status, 200, res.text);
        return res.body.Resources.map((r: { userName: string }) => r.userName);
      };
      assert.deepEqual(await sorted(`${ACME}:badge`), ['bob', 'ada', 'cy', 'early']);
      assert.deepEqual(await sorted(`${ACME}:costCode`, 'descending'), ['early', 'ada', 'bob', 'cy']);
      assert.deepEqual(await sorted(`${ACME}:office.floor`), ['bob', 'cy', 'ada', 'early']);
      const cursorPage = await api('GET', `/Users?sortBy=${encodeURIComponent(`${ACME}:badge`)}&count=2&cursor=`);
      assert.deepEqual(cursorPage.body.Resources.map((r: { userName: string }) => r.userName), ['bob', 'ada']);
      const next = await api('GET', `/Users?sortBy=${encodeURIComponent(`${ACME}:badge`)}&count=2&cursor=${cursorPage.body.nextCursor}`);
      assert.deepEqual(next.body.Resources.map((r: { userName: string }) => r.userName), ['cy', 'early']);

      // Patched in every PATCH form.
      const id = ids.get('cy')!;
      const patch = async (...ops: Record<string, unknown>[]) => {
        const res = await api('PATCH', `/Users/${id}`, { body: patchOp(...ops) });
        assert.equal(res.status, 200, res.text);
        return res.body[ACME];
      };
      assert.equal((await patch({ op: 'replace', path: `${ACME}:costCode`, value: 'P-1' })).costCode, 'P-1');
      assert.equal((await patch({ op: 'replace', path: `${ACME.toLowerCase()}:BADGE`, value: 5 })).badge, 5);
      assert.equal((await patch({ op: 'add', path: `${ACME}:office.building`, value: 'HQ' })).office.building, 'HQ');
      assert.deepEqual((await patch({ op: 'add', path: `${ACME}:skills`, value: ['SQL'] })).skills, ['SQL']);
      assert.equal((await patch({ op: 'replace', path: ACME, value: { remote: true } })).remote, true);
      assert.equal((await patch({ op: 'add', value: { [ACME]: { costCode: 'P-2' } } })).costCode, 'P-2');
      // Entra ID's form: dotted keys in a path-less value, string booleans, a capitalised op.
      const entra = await patch({ op: 'Replace', value: { [`${ACME}:remote`]: 'False', [`${ACME}:office.floor`]: 9 } });
      assert.deepEqual([entra.remote, entra.office.floor], [false, 9]);
      const removed = await patch({ op: 'remove', path: `${ACME}:skills` });
      assert.equal(removed.skills, undefined);
      const wrongType = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: `${ACME}:badge`, value: 'x' }) });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.body.scimType, 'invalidValue');
      assert.deepEqual(await find(`${ACME}:office.floor eq 9`), ['cy']);

      // Removing it keeps the data and says how much there is; declaring it again brings it back.
      const gone = await h.store.removeSchemaExtension(h.org.id, ACME.toLowerCase());
      assert.equal(gone.resourcesWithData, 3);
      const hidden = await api('GET', `/Users/${id}`);
      assert.equal(hidden.body[ACME], undefined);
      assert.deepEqual(hidden.body.schemas, ['urn:ietf:params:scim:schemas:core:2.0:User']);
      assert.equal((await api('GET', '/Schemas')).body.Resources.some((s: { id: string }) => s.id === ACME), false);
      const unknownFilter = await api('GET', `/Users?filter=${encodeURIComponent(`${ACME}:badge gt 1`)}`);
      assert.equal(unknownFilter.status, 400);
      // A write in between does not lose it.
      assert.equal((await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'title', value: 'T' }) })).status, 200);
      assert.equal((await api('PUT', `/Users/${id}`, { body: user('cy', { title: 'T2' }) })).status, 200);
      await declare(h);
      const back = await api('GET', `/Users/${id}`);
      assert.equal(back.body[ACME].costCode, 'P-2');
      assert.equal(back.body.title, 'T2');
    } finally {
      await h.close();
    }
  });
}

for (const backend of backends()) {
  test(`${backend}: declarations are per organization, and another process sharing the database sees them at once`, async () => {
    const h = await startHarness({ backend });
    // The store the server uses is told nothing: declarations go through a second connection.
    const writer = await h.reopen();
    try {
      const other = await h.store.createOrganization('other', GENEROUS);
      const otherApi = (method: string, url: string) =>
        fetch(`${h.base.replace(h.org.id, other.id)}${url}`, { method, headers: { authorization: `Bearer ${otherToken}` } }).then((r) => r.json());
      const otherToken = (await h.store.createToken(other.id, { scope: 'read-write' })).secret;
      const api = client(h);
      assert.equal((await api('POST', '/Users', { body: user('a', { [ACME]: { badge: 1 } }) })).body[ACME], undefined);
      await writer.addSchemaExtension(h.org.id, { resourceType: 'User', required: false, schema: parseSchemaDocument(ACME_DOCUMENT) });
      const created = await api('POST', '/Users', { body: user('b', { [ACME]: { badge: 2 } }) });
      assert.deepEqual(created.body[ACME], { badge: 2 });
      const types = await api('GET', '/ResourceTypes/User');
      assert.equal(types.body.schemaExtensions.length, 2);
      // The other organization has none.
      const otherSchemas = (await otherApi('GET', '/Schemas')) as { Resources: { id: string }[] };
      assert.equal(otherSchemas.Resources.some((s) => s.id === ACME), false);
      await writer.removeSchemaExtension(h.org.id, ACME);
      assert.equal((await api('GET', `/Users/${created.body.id}`)).body[ACME], undefined);
      assert.equal((await api('GET', '/ResourceTypes/User')).body.schemaExtensions.length, 1);
    } finally {
      await writer.close();
      await h.close();
    }
  });
}
