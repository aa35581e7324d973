import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import {
  ENTERPRISE_USER_SCHEMA,
  GROUP,
  GROUP_SCHEMA,
  USER,
  USER_SCHEMA,
  attr,
  complex,
} from '../../src/scim/schema/index.ts';
import type { ResourceSchema } from '../../src/scim/schema/index.ts';
import { validateResource } from '../../src/scim/validate.ts';

const create = { mode: 'create' } as const;

/** Asserts that `fn` throws a 400 ScimError with the given scimType whose message matches `detail`. */
function rejects(fn: () => unknown, scimType: string, detail: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ScimError, `expected ScimError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.scimType, scimType);
    assert.match(err.message, detail);
    return true;
  });
}

/** A resource type with an integer, decimal, immutable and required extension attribute, to reach every rule. */
const WIDGET_EXT = 'urn:example:params:scim:schemas:extension:widget:2.0:User';
const WIDGET: ResourceSchema = {
  resourceType: { ...USER.resourceType, schemaExtensions: [{ schema: WIDGET_EXT, required: true }] },
  core: USER.core,
  extensions: [
    {
      id: WIDGET_EXT,
      name: 'Widget',
      description: 'test extension',
      attributes: [
        attr('level', 'integer', 'an integer'),
        attr('ratio', 'decimal', 'a decimal'),
        attr('serial', 'string', 'set once', { mutability: 'immutable', required: true }),
        attr('since', 'dateTime', 'a date'),
        attr('tags', 'string', 'multi-valued strings', { multiValued: true }),
        complex('badge', 'complex with readOnly sub', [attr('code', 'string', 'code'), attr('issuedBy', 'string', 'server set', { mutability: 'readOnly' })]),
      ],
    },
  ],
};
const widget = (ext: Record<string, unknown>) => ({ userName: 'w', [WIDGET_EXT]: { serial: 'S1', ...ext } });

test('a full User is returned as a new canonical document', () => {
  const input = {
    SCHEMAS: ['URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER', ENTERPRISE_USER_SCHEMA.toUpperCase()],
    USERNAME: 'bjensen',
    externalid: 'ext-1',
    Name: { GivenName: 'Barbara', familyname: 'Jensen' },
    Emails: [{ VALUE: 'b@example.com', Type: 'work', primary: true }, { value: 'b@home.example', type: 'home' }],
    active: true,
    password: 's3cret',
    [ENTERPRISE_USER_SCHEMA.toLowerCase()]: { EmployeeNumber: '42', Manager: { value: 'm-1', displayName: 'Boss' } },
  };
  const snapshot = structuredClone(input);
  const out = validateResource(USER, input, create);
  assert.deepEqual(out, {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    externalId: 'ext-1',
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    active: true,
    password: 's3cret',
    emails: [{ value: 'b@example.com', type: 'work', primary: true }, { value: 'b@home.example', type: 'home' }],
    [ENTERPRISE_USER_SCHEMA]: { employeeNumber: '42', manager: { value: 'm-1' } },
  });
  assert.deepEqual(input, snapshot, 'input is not mutated');
  assert.notEqual(out.emails, input.Emails);
  assert.notEqual((out.emails as unknown[])[0], input.Emails[0]);
});

test('schemas: missing is tolerated, unknown URNs are rejected, extensions are listed only when present', () => {
  assert.deepEqual(validateResource(USER, { userName: 'a' }, create).schemas, [USER_SCHEMA]);
  // Declared but absent: not listed.
  assert.deepEqual(validateResource(USER, { schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], userName: 'a' }, create).schemas, [USER_SCHEMA]);
  // Present but undeclared: listed.
  assert.deepEqual(validateResource(USER, { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { department: 'R&D' } }, create).schemas, [
    USER_SCHEMA,
    ENTERPRISE_USER_SCHEMA,
  ]);
  rejects(() => validateResource(USER, { schemas: [USER_SCHEMA, 'urn:example:unknown'], userName: 'a' }, create), 'invalidValue', /urn:example:unknown/);
  rejects(() => validateResource(GROUP, { schemas: [USER_SCHEMA], displayName: 'g' }, create), 'invalidValue', /Unknown schema/);
  rejects(() => validateResource(USER, { schemas: USER_SCHEMA, userName: 'a' }, create), 'invalidValue', /schemas/);
  rejects(() => validateResource(USER, { schemas: [7], userName: 'a' }, create), 'invalidValue', /schemas\[0\]/);
});

test('required attributes must be present and non-empty', () => {
  rejects(() => validateResource(USER, {}, create), 'invalidValue', /"userName"/);
  rejects(() => validateResource(USER, { userName: '  ' }, create), 'invalidValue', /"userName"/);
  rejects(() => validateResource(USER, { userName: null }, create), 'invalidValue', /"userName"/);
  rejects(() => validateResource(GROUP, { members: [] }, create), 'invalidValue', /"displayName"/);
  assert.equal(validateResource(GROUP, { displayName: 'Eng' }, create).displayName, 'Eng');
  rejects(() => validateResource(WIDGET, { userName: 'w' }, create), 'invalidValue', /Required schema extension/);
  rejects(() => validateResource(WIDGET, { userName: 'w', [WIDGET_EXT]: { level: 1 } }, create), 'invalidValue', new RegExp(`"${WIDGET_EXT}:serial"`));
});

test('readOnly input is ignored on create and replace; members.display is kept', () => {
  const user = validateResource(
    USER,
    {
      id: 'client-chosen',
      meta: { resourceType: 'User', created: 'not even a date' },
      userName: 'a',
      groups: [{ value: 'g1', display: 'Group 1' }],
      [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm', displayName: 'ignored' } },
    },
    create,
  );
  assert.deepEqual(user, { schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm' } }, active: true });
  const replaced = validateResource(USER, { id: 'x', userName: 'a' }, { mode: 'replace', existing: { userName: 'old' } });
  assert.equal(replaced.id, undefined);
  const group = validateResource(GROUP, { displayName: 'g', members: [{ value: 'u1', display: 'Alice', type: 'User' }] }, create);
  assert.deepEqual(group.members, [{ value: 'u1', display: 'Alice', type: 'User' }]);
});

test('patch mode takes readOnly values from the existing document', () => {
  const existing = {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    userName: 'a',
    groups: [{ value: 'g1', display: 'G' }],
    [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm', displayName: 'Stored Boss' } },
  };
  const out = validateResource(
    USER,
    { userName: 'b', groups: [{ value: 'forged' }], [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm2', displayName: 'Forged' } } },
    { mode: 'patch', existing },
  );
  assert.deepEqual(out.groups, [{ value: 'g1', display: 'G' }]);
  assert.notEqual(out.groups, existing.groups, 'copied, not shared');
  assert.deepEqual(out[ENTERPRISE_USER_SCHEMA], { manager: { value: 'm2', displayName: 'Stored Boss' } });
  // Without a stored value there is nothing to keep.
  assert.equal(validateResource(USER, { userName: 'b', groups: [{ value: 'x' }] }, { mode: 'patch', existing: { userName: 'a' } }).groups, undefined);
});

test('unknown attributes are rejected with their path', () => {
  rejects(() => validateResource(USER, { userName: 'a', nickname2: 'x' }, create), 'invalidValue', /"nickname2"/);
  rejects(() => validateResource(USER, { userName: 'a', name: { givenName: 'x', nope: 1 } }, create), 'invalidValue', /"name\.nope"/);
  rejects(() => validateResource(USER, { userName: 'a', emails: [{ value: 'x' }, { value: 'y', label: 'z' }] }, create), 'invalidValue', /"emails\[1\]\.label"/);
  rejects(
    () => validateResource(USER, { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm', extra: 1 } } }, create),
    'invalidValue',
    new RegExp(`"${ENTERPRISE_USER_SCHEMA}:manager\\.extra"`),
  );
  rejects(() => validateResource(USER, { userName: 'a', 'urn:example:custom:1.0:User': { a: 1 } }, create), 'invalidValue', /urn:example:custom/);
  // Core-URN-qualified top-level keys are not a supported form.
  rejects(() => validateResource(USER, { userName: 'a', [`${USER_SCHEMA}:displayName`]: 'x' }, create), 'invalidValue', /Unknown attribute/);
  // Attributes of another resource type are unknown here.
  rejects(() => validateResource(GROUP, { displayName: 'g', userName: 'a' }, create), 'invalidValue', /"userName"/);
});

test('the same attribute twice in different case is rejected', () => {
  rejects(() => validateResource(USER, { userName: 'a', USERNAME: 'b' }, create), 'invalidValue', /more than once/);
  rejects(() => validateResource(USER, { userName: 'a', [ENTERPRISE_USER_SCHEMA]: {}, [ENTERPRISE_USER_SCHEMA.toUpperCase()]: {} }, create), 'invalidValue', /more than once/);
});

test('JSON types are checked per attribute type', () => {
  rejects(() => validateResource(USER, { userName: 7 }, create), 'invalidValue', /"userName" must be a string, got a number/);
  rejects(() => validateResource(USER, { userName: 'a', active: 'true' }, create), 'invalidValue', /"active" must be a boolean/);
  rejects(() => validateResource(USER, { userName: 'a', name: 'Barbara' }, create), 'invalidValue', /"name" must be an object/);
  rejects(() => validateResource(USER, { userName: 'a', name: ['x'] }, create), 'invalidValue', /"name" is single-valued/);
  rejects(() => validateResource(USER, { userName: 'a', emails: { value: 'x' } }, create), 'invalidValue', /"emails" is multi-valued and must be an array/);
  rejects(() => validateResource(USER, { userName: 'a', emails: ['x@y'] }, create), 'invalidValue', /"emails\[0\]" must be an object/);
  rejects(() => validateResource(USER, { userName: 'a', emails: [{ primary: 'yes' }] }, create), 'invalidValue', /"emails\[0\]\.primary" must be a boolean/);
  rejects(() => validateResource(USER, { userName: 'a', profileUrl: 1 }, create), 'invalidValue', /"profileUrl"/);
  rejects(() => validateResource(USER, 'a string', create), 'invalidSyntax', /JSON object/);
  rejects(() => validateResource(USER, [], create), 'invalidSyntax', /JSON object/);
  rejects(() => validateResource(USER, { userName: 'a', [ENTERPRISE_USER_SCHEMA]: 'x' }, create), 'invalidValue', /must be an object/);
  rejects(() => validateResource(WIDGET, widget({ ratio: '1.5' }), create), 'invalidValue', /ratio" must be a number/);
  assert.deepEqual(validateResource(WIDGET, widget({ ratio: 1.5, tags: ['a', 'b'] }), create)[WIDGET_EXT], { serial: 'S1', ratio: 1.5, tags: ['a', 'b'] });
  rejects(() => validateResource(WIDGET, widget({ tags: ['a', 2] }), create), 'invalidValue', /tags\[1\]" must be a string/);
});

test('integers must be whole and within signed 32 bits', () => {
  const level = (v: number) => (validateResource(WIDGET, widget({ level: v }), create)[WIDGET_EXT] as Record<string, unknown>).level;
  assert.equal(level(-2147483648), -2147483648);
  assert.equal(level(2147483647), 2147483647);
  assert.equal(level(0), 0);
  rejects(() => level(2147483648), 'invalidValue', /level" is out of range/);
  rejects(() => level(-2147483649), 'invalidValue', /out of range/);
  rejects(() => level(1.5), 'invalidValue', /level" must be an integer/);
  rejects(() => validateResource(WIDGET, widget({ level: '3' }), create), 'invalidValue', /must be an integer, got a string/);
});

test('dateTime values must be xsd:dateTime', () => {
  // The same parser as filters use, so every stored dateTime can be filtered on.
  const since = (v: string) => (validateResource(WIDGET, widget({ since: v }), create)[WIDGET_EXT] as Record<string, unknown>).since;
  for (const ok of ['2024-01-23T04:56:22Z', '2024-02-29T00:00:00.123+05:30', '2024-01-23T04:56:22']) assert.equal(since(ok), ok);
  for (const bad of ['2024-01-23', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-23 04:56:22Z', '2024-01-23T24:00:01Z', 'yesterday', '2024-01-23T04:56:22+15:00']) {
    rejects(() => since(bad), 'invalidValue', /since" must be an xsd:dateTime/);
  }
  rejects(() => validateResource(WIDGET, widget({ since: 20240101 }), create), 'invalidValue', /since" must be a dateTime string/);
  rejects(() => validateResource(WIDGET, widget({ since: '2024-01-32T00:00:00Z' }), create), 'invalidValue', /since" must be an xsd:dateTime/);
  assert.equal(
    (validateResource(WIDGET, widget({ since: '2024-01-31T00:00:00Z' }), create)[WIDGET_EXT] as Record<string, unknown>).since,
    '2024-01-31T00:00:00Z',
  );
});

test('binary values must be base64', () => {
  const cert = Buffer.from('certificate bytes').toString('base64');
  assert.deepEqual(validateResource(USER, { userName: 'a', x509Certificates: [{ value: cert }] }, create).x509Certificates, [{ value: cert }]);
  rejects(() => validateResource(USER, { userName: 'a', x509Certificates: [{ value: 'not base64!' }] }, create), 'invalidValue', /x509Certificates\[0\]\.value" must be base64/);
});

test('canonical values are not enforced for type', () => {
  const out = validateResource(USER, { userName: 'a', emails: [{ value: 'x@y', type: 'custom-idp-type' }] }, create);
  assert.deepEqual(out.emails, [{ value: 'x@y', type: 'custom-idp-type' }]);
});

test('at most one primary value per multi-valued attribute', () => {
  rejects(
    () => validateResource(USER, { userName: 'a', emails: [{ value: 'a', primary: true }, { value: 'b', primary: false }, { value: 'c', primary: true }] }, create),
    'invalidValue',
    /"emails" has more than one primary value \(emails\[0\] and emails\[2\]\)/,
  );
  const ok = validateResource(USER, { userName: 'a', emails: [{ value: 'a', primary: true }], phoneNumbers: [{ value: '1', primary: true }] }, create);
  assert.equal((ok.phoneNumbers as Array<Record<string, unknown>>)[0].primary, true);
});

test('null means unassigned; empty arrays and empty objects are dropped', () => {
  const out = validateResource(
    USER,
    { userName: 'a', displayName: null, emails: [], name: { givenName: null }, phoneNumbers: [null, { value: '1' }], addresses: [{ country: null }] },
    create,
  );
  assert.deepEqual(out, { schemas: [USER_SCHEMA], userName: 'a', phoneNumbers: [{ value: '1' }], active: true });
  assert.deepEqual(validateResource(USER, { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { department: null } }, create).schemas, [USER_SCHEMA]);
  assert.deepEqual(validateResource(USER, { userName: 'a', [ENTERPRISE_USER_SCHEMA]: null }, create).schemas, [USER_SCHEMA]);
});

test('prototype keys are rejected anywhere and never reach a prototype', () => {
  const cases = [
    '{"userName":"a","__proto__":{"polluted":true}}',
    '{"userName":"a","name":{"__proto__":{"polluted":true}}}',
    '{"userName":"a","emails":[{"value":"x","constructor":{"prototype":{"polluted":true}}}]}',
    '{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"__proto__":{"polluted":true}}}',
    // Inside ignored readOnly input too.
    '{"userName":"a","meta":{"__proto__":{"polluted":true}}}',
    '{"userName":"a","groups":[{"value":"g","prototype":1}]}',
    '{"userName":"a","PROTOTYPE":1}',
  ];
  for (const json of cases) {
    rejects(() => validateResource(USER, JSON.parse(json), create), 'invalidValue', /is not allowed/);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
});

test('immutable attributes cannot change once set', () => {
  const existing = { schemas: [USER_SCHEMA, WIDGET_EXT], userName: 'w', [WIDGET_EXT]: { serial: 'S1' } };
  // Unchanged: fine, in both modes.
  assert.deepEqual(validateResource(WIDGET, widget({}), { mode: 'replace', existing })[WIDGET_EXT], { serial: 'S1' });
  assert.deepEqual(validateResource(WIDGET, widget({ level: 2 }), { mode: 'patch', existing })[WIDGET_EXT], { serial: 'S1', level: 2 });
  rejects(() => validateResource(WIDGET, widget({ serial: 'S2' }), { mode: 'replace', existing }), 'mutability', new RegExp(`"${WIDGET_EXT}:serial" is immutable`));
  rejects(() => validateResource(WIDGET, widget({ serial: 'S2' }), { mode: 'patch', existing }), 'mutability', /immutable/);
  // Omitted on PUT: kept. Removed by PATCH: rejected.
  assert.deepEqual(validateResource(WIDGET, { userName: 'w', [WIDGET_EXT]: { level: 3 } }, { mode: 'replace', existing })[WIDGET_EXT], { level: 3, serial: 'S1' });
  rejects(() => validateResource(WIDGET, { userName: 'w', [WIDGET_EXT]: { level: 3 } }, { mode: 'patch', existing }), 'mutability', /immutable/);
  // On create any value may be set.
  assert.deepEqual(validateResource(WIDGET, widget({ serial: 'S9' }), create)[WIDGET_EXT], { serial: 'S9' });
  // members.value is immutable per member, but members themselves come and go: no check across the list.
  const group = validateResource(GROUP, { displayName: 'g', members: [{ value: 'u2' }] }, { mode: 'replace', existing: { displayName: 'g', members: [{ value: 'u1' }] } });
  assert.deepEqual(group.members, [{ value: 'u2' }]);
});

test('readOnly sub-attributes of a singular complex follow the same rules', () => {
  const existing = { userName: 'w', [WIDGET_EXT]: { serial: 'S1', badge: { code: 'c', issuedBy: 'server' } } };
  const created = validateResource(WIDGET, widget({ badge: { code: 'c', issuedBy: 'client' } }), create);
  assert.deepEqual((created[WIDGET_EXT] as Record<string, unknown>).badge, { code: 'c' });
  const patched = validateResource(WIDGET, widget({ badge: { code: 'd', issuedBy: 'client' } }), { mode: 'patch', existing });
  assert.deepEqual((patched[WIDGET_EXT] as Record<string, unknown>).badge, { code: 'd', issuedBy: 'server' });
});

test('groups validate members and keep their type', () => {
  const out = validateResource(
    GROUP,
    { schemas: [GROUP_SCHEMA.toLowerCase()], displayName: 'Eng', externalId: 'e', Members: [{ Value: 'u1', $REF: 'https://x/Users/u1', TYPE: 'User' }, { value: 'g2', type: 'Group' }] },
    create,
  );
  assert.deepEqual(out, {
    schemas: [GROUP_SCHEMA],
    externalId: 'e',
    displayName: 'Eng',
    members: [{ value: 'u1', $ref: 'https://x/Users/u1', type: 'User' }, { value: 'g2', type: 'Group' }],
  });
  rejects(() => validateResource(GROUP, { displayName: 'Eng', members: [{ value: 5 }] }, create), 'invalidValue', /"members\[0\]\.value" must be a string/);
});

test('hostile nesting in ignored input is a 400, not a stack overflow', () => {
  const depth = 200_000;
  const deep = JSON.parse(`{"userName":"a","meta":${'['.repeat(depth)}{"__proto__":1}${']'.repeat(depth)}}`) as unknown;
  rejects(() => validateResource(USER, deep, create), 'invalidValue', /"__proto__" inside "meta" is not allowed/);
  const harmless = JSON.parse(`{"userName":"a","meta":${'['.repeat(depth)}${']'.repeat(depth)}}`) as unknown;
  assert.deepEqual(validateResource(USER, harmless, create), { schemas: [USER_SCHEMA], userName: 'a', active: true });
  // Deep nesting under a validated attribute fails at the first level with a type error.
  const nested = JSON.parse(`{"userName":"a","name":{"givenName":${'['.repeat(depth)}${']'.repeat(depth)}}}`) as unknown;
  rejects(() => validateResource(USER, nested, create), 'invalidValue', /"name\.givenName" is single-valued/);
});

test('an absent active means true: on create, kept by a PUT without it, back to true when a PATCH removes it', () => {
  assert.equal(validateResource(USER, { userName: 'a' }, create).active, true);
  assert.equal(validateResource(USER, { userName: 'a', active: false }, create).active, false);
  const suspended = { schemas: [USER_SCHEMA], userName: 'a', active: false };
  // OneLogin's template never sends active: a profile update must not reactivate a suspended user.
  assert.equal(validateResource(USER, { userName: 'a', title: 'T' }, { mode: 'replace', existing: suspended }).active, false);
  assert.equal(validateResource(USER, { userName: 'a', active: true }, { mode: 'replace', existing: suspended }).active, true);
  assert.equal(validateResource(USER, { userName: 'a' }, { mode: 'patch', existing: suspended }).active, true);
  assert.equal(validateResource(GROUP, { displayName: 'g' }, create).active, undefined, 'Groups have no active');
});
