/**
 * Extension attributes as typed users columns: the connector reads /ResourceTypes and /Schemas of a real scimkit
 * server (in-process, over loopback), adds a column per declared User extension attribute by a numbered migration as
 * they appear, and fills them; the multi-valued core attributes land in JSON columns. On SQLite, PostgreSQL and DuckDB.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { parseConfig, type DestinationUrl } from '../../src/connector/config.ts';
import { parseSchemaDocument } from '../../src/scim/schema/declare.ts';
import { client, startHarness, user } from '../server/helpers.ts';
import type { Harness } from '../server/helpers.ts';
import { DestinationFactory, destinationKinds, destinationString, queryDestination, sync, withDestination } from './helpers.ts';

const { kinds, missing } = destinationKinds({ duckdb: true });
const factory = new DestinationFactory();
after(() => factory.cleanup());

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const BADGES = 'urn:example:badges';

async function registered(d: DestinationUrl): Promise<{ name: string; batch: number; type: string }[]> {
  const found = await queryDestination(d, 'SELECT name, batch, type FROM _scimkit_columns ORDER BY batch, position');
  return found.map((r) => ({ name: String(r.name), batch: Number(r.batch), type: String(r.type) }));
}

function configFor(h: Harness, d: DestinationUrl) {
  return parseConfig({ bearer_token: h.token, provider: 'scim', base_url: h.base, org_id: h.org.id, destination: destinationString(d), max_records_per_page: 10 });
}

for (const kind of kinds) {
  it(`${kind}: declared extension attributes become typed columns, added as they appear; multi-valued core attributes land as JSON`, async () => {
    const h = await startHarness();
    try {
      const d = await factory.create(kind);
      await h.store.addSchemaExtension(h.org.id, {
        resourceType: 'User',
        required: false,
        schema: parseSchemaDocument({
          id: ACME,
          name: 'AcmeUser',
          attributes: [
            { name: 'costCenterCode', type: 'string' },
            { name: 'seat', type: 'integer' },
            { name: 'remote', type: 'boolean' },
            { name: 'hired', type: 'dateTime' },
            { name: 'skills', type: 'string', multiValued: true },
            { name: 'secret', type: 'string', mutability: 'writeOnly', returned: 'never' },
          ],
        }),
      });
      const api = client(h);
      const ada = await api('POST', '/Users', {
        body: user('ada@example.com', {
          phoneNumbers: [{ value: '+1 555 0100', type: 'work' }],
          addresses: [{ locality: 'London', type: 'work' }],
          roles: [{ value: 'admin' }],
          entitlements: [{ value: 'beta' }],
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'R&D' },
          [ACME]: { costCenterCode: 'CC-1', seat: 12, remote: true, hired: '2020-05-01T10:00:00+02:00', skills: ['go'] },
        }),
      });
      assert.equal(ada.status, 201, ada.text);
      await api('POST', '/Users', { body: user('bob@example.com') });

      const first = await sync(configFor(h, d));
      assert.equal(first.tables.users.inserted, 2);
      assert.deepEqual(await registered(d), [
        { name: 'acme_user_cost_center_code', batch: 1, type: 'text' },
        { name: 'acme_user_seat', batch: 1, type: 'integer' },
        { name: 'acme_user_remote', batch: 1, type: 'boolean' },
        { name: 'acme_user_hired', batch: 1, type: 'timestamp' },
        { name: 'acme_user_skills', batch: 1, type: 'json' },
      ], 'never-returned attributes get no column');
      await withDestination(d, async (dest) => {
        const rows = await dest.readRows('users');
        const a = rows.find((r) => r.user_name === 'ada@example.com')!;
        const b = rows.find((r) => r.user_name === 'bob@example.com')!;
        assert.deepEqual(
          [a.acme_user_cost_center_code, a.acme_user_seat, a.acme_user_remote, a.acme_user_hired, a.acme_user_skills],
          ['CC-1', 12, true, '2020-05-01T08:00:00.000Z', ['go']],
        );
        assert.equal(a.department, 'R&D', 'the Enterprise extension keeps its own columns');
        assert.deepEqual([a.phone_numbers, a.addresses, a.roles, a.entitlements], [
          [{ value: '+1 555 0100', type: 'work' }],
          [{ locality: 'London', type: 'work' }],
          [{ value: 'admin' }],
          [{ value: 'beta' }],
        ]);
        assert.deepEqual([b.acme_user_seat, b.phone_numbers, b.active], [null, null, true]);
      });

      // An unchanged source syncs without touching anything, and adds no column.
      const quiet = await sync(configFor(h, d));
      assert.equal(quiet.tables.users.updated, 0);
      assert.equal((await registered(d)).length, 5);

      // A second extension appears: its columns come in a second batch, and every user is read again to fill them.
      await h.store.addSchemaExtension(h.org.id, {
        resourceType: 'User',
        required: false,
        schema: parseSchemaDocument({ id: BADGES, name: 'Badges', attributes: [{ name: 'level', type: 'integer' }, { name: 'seat', type: 'string' }] }),
      });
      await api('PATCH', `/Users/${ada.body.id}`, {
        body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: `${BADGES}:level`, value: 3 }] },
      });
      const second = await sync(configFor(h, d));
      // Bob did not change at the source, yet is rewritten: his row now has the new columns.
      assert.equal(second.tables.users.updated, 2);
      assert.deepEqual((await registered(d)).slice(5), [
        { name: 'badges_level', batch: 2, type: 'integer' },
        { name: 'badges_seat', batch: 2, type: 'text' },
      ]);
      await withDestination(d, async (dest) => {
        const a = (await dest.readRows('users')).find((r) => r.user_name === 'ada@example.com')!;
        assert.deepEqual([a.badges_level, a.acme_user_seat], [3, 12]);
      });
    } finally {
      await h.close();
    }
  });
}
