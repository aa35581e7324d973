/** SCIM resources to rows: tolerant reads, primary email, timestamps in UTC, hashes, and hostile keys kept inert. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { MAPPING_VERSION, mapGroup, mapUser, memberIdOf, memberRow, timestamp } from '../../src/connector/mapping.ts';
import { GROUPS_TABLE, USERS_TABLE } from '../../src/connector/tables.ts';

const col = (name: string) => USERS_TABLE.columns.findIndex((c) => c.name === name);

describe('mapping', () => {
  it('takes the primary email, else the first, and reads strings and numbers loosely', () => {
    const u = mapUser({
      id: 'a', userName: 'a@x', active: 'false',
      emails: [{ value: 'first@x' }, { value: 'primary@x', primary: 'true' }],
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { employeeNumber: 4711, manager: { value: 'm1' } },
      meta: { created: '2024-03-01T10:00:00+02:00', lastModified: 'not a date' },
    });
    assert.equal(u.values[col('email')], 'primary@x');
    assert.equal(u.values[col('active')], false);
    assert.equal(u.values[col('employee_number')], '4711');
    assert.equal(u.values[col('manager_id')], 'm1');
    assert.equal(u.values[col('created')], '2024-03-01T08:00:00.000Z', 'timestamps are normalised to UTC');
    assert.equal(u.values[col('last_modified')], null);
    assert.equal(mapUser({ id: 'b', emails: [{ value: 'only@x', type: 'work' }] }).values[col('email')], 'only@x');
    assert.equal(mapUser({ id: 'c', name: 'not an object', emails: 'nope' }).values[col('first_name')], null);
  });

  it('reads an absent active as true, as the server stores it; an unreadable one stays unknown', () => {
    assert.equal(mapUser({ id: 'a' }).values[col('active')], true);
    assert.equal(mapUser({ id: 'a', active: null }).values[col('active')], true);
    assert.equal(mapUser({ id: 'a', active: false }).values[col('active')], false);
    assert.equal(mapUser({ id: 'a', active: 'maybe' }).values[col('active')], null);
  });

  it('changes the hash exactly when a mapped value changes', () => {
    const base = { id: 'a', userName: 'a@x', title: 'Engineer', meta: { lastModified: '2024-01-01T00:00:00Z' } };
    assert.equal(mapUser(base).hash, mapUser(structuredClone(base)).hash);
    assert.notEqual(mapUser(base).hash, mapUser({ ...base, title: 'Director' }).hash);
  });

  it('changes a user hash with the extension columns its table has', () => {
    const u = { id: 'a', userName: 'a@x' };
    const badge = { name: 'badge', type: 'text', urn: 'urn:example:params:scim:schemas:extension:acme:1.0:User', attribute: 'badge' } as const;
    assert.notEqual(mapUser(u).hash, mapUser(u, [badge]).hash, 'a new extension column is filled in rows written before it');
    assert.equal(mapUser(u, [badge]).hash, mapUser(u, [{ ...badge }]).hash);
  });

  it('maps a fixed set of resources to the values recorded for this MAPPING_VERSION', () => {
    // A hash covers the resource's JSON, not the values mapped from it: when what a resource maps to changes,
    // MAPPING_VERSION must change too, or rows already written keep the old values. Add a version's digest here
    // when you bump it; never edit a recorded one.
    const digests: Record<number, string> = { 2: '0bd5eb9ff3753afad4026371b428e1b69a0b4aa3' };
    const user = {
      id: 'u1', userName: 'ada@x', externalId: 7, displayName: 'Ada', active: 'TRUE', title: 'Eng', userType: 'Employee',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ value: 'home@x' }, { value: 'work@x', primary: true }], phoneNumbers: [{ value: '+1' }], addresses: 'not a list', roles: [], entitlements: [{ value: 'e' }],
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { employeeNumber: 1, department: 'R&D', division: 'D', costCenter: 'C', organization: 'O', manager: { value: 'm1' } },
      'urn:example:acme:1.0:User': { badge: 42 },
      groups: [{ value: 'g1' }],
      meta: { created: '2024-03-01T10:00:00+02:00', lastModified: '2024-03-02T10:00:00Z' },
    };
    const badge = { name: 'badge', type: 'text', urn: 'urn:example:acme:1.0:User', attribute: 'badge' } as const;
    const group = { id: 'g1', displayName: 'Team', externalId: 'x', members: [{ value: 'u1' }], meta: { created: '2024-03-01T00:00:00Z', lastModified: 'garbage' } };
    const rows = [mapUser(user, [badge]), mapGroup(group, 1), memberRow('g1', 'u1', { value: 'u1', type: 'User', display: 'Ada' })];
    const digest = createHash('sha1').update(JSON.stringify(rows.map((r) => r.values))).digest('hex');
    assert.equal(digest, digests[MAPPING_VERSION], `the mapping changed what these resources map to (digest ${digest}): bump MAPPING_VERSION and record the new digest`);
    for (const r of rows) assert.ok(r.hash.startsWith(`${MAPPING_VERSION}:`));
  });

  it('maps a group to its row without members, carrying the member count it is given', () => {
    const g = mapGroup({ id: 'g1', displayName: 'Team', members: [{ value: 'u1' }, { value: 'u2' }] }, 2);
    assert.equal(g.values[GROUPS_TABLE.columns.findIndex((c) => c.name === 'member_count')], 2);
    const raw = JSON.parse(String(g.values[GROUPS_TABLE.columns.findIndex((c) => c.name === 'raw')]));
    assert.equal(raw.members, undefined);
    assert.equal(raw.displayName, 'Team');
    assert.equal(g.hash, mapGroup({ id: 'g1', displayName: 'Team' }, 5).hash, 'the count is derived: left out of the hash');
  });

  it('takes a member id from its value, and none from a member without one', () => {
    assert.equal(memberIdOf({ value: 'u1', type: 'User' }), 'u1');
    assert.equal(memberIdOf({ value: 42 }), '42');
    for (const m of [{ display: 'no value' }, { value: '' }, 'u1', null, [{ value: 'u1' }]]) assert.equal(memberIdOf(m), null);
    assert.deepEqual(memberRow('g1', 'u1', { value: 'u1', type: 'User', display: 'One' }).values.slice(0, 4), ['g1', 'u1', 'User', 'One']);
  });

  it('keeps a "__proto__" key sent by a server as plain data', () => {
    const hostile = JSON.parse('{"id":"g2","displayName":"x","__proto__":{"polluted":true},"members":[]}') as Record<string, unknown>;
    const g = mapGroup(hostile, 0);
    const raw = JSON.parse(String(g.values[GROUPS_TABLE.columns.findIndex((c) => c.name === 'raw')]));
    assert.deepEqual(Object.keys(raw).sort(), ['__proto__', 'displayName', 'id']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('parses SCIM dateTimes', () => {
    assert.equal(timestamp('2025-06-01T12:00:00Z'), '2025-06-01T12:00:00.000Z');
    assert.equal(timestamp(12345), null);
  });

  it('writes every dateTime as toISOString does, the ones already in that form included', () => {
    const sent = [
      '2026-12-05T02:16:11.899Z', '2024-02-29T00:00:00.000Z', '2026-02-29T00:00:00.000Z', '2026-02-30T12:00:00.000Z',
      '1900-02-29T00:00:00.000Z', '2000-02-29T23:59:59.999Z', '2026-04-31T00:00:00.000Z', '2026-12-31T24:00:00.000Z',
      '2026-12-05T23:60:00.000Z', '2026-12-05T23:59:60.000Z', '2026-00-10T00:00:00.000Z', '2026-13-10T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '2026-12-05T02:16:11.899+02:00',
      '2026-12-05T02:16:11Z', '2026-12-05 02:16:11.899Z', 'not a date',
    ];
    for (const v of sent) {
      const ms = Date.parse(v);
      assert.equal(timestamp(v), Number.isNaN(ms) ? null : new Date(ms).toISOString(), v);
    }
  });
});
