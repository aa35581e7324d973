/**
 * Each IdP compatibility normalizer tested on its own: with only it switched on the quirk is accepted and means what
 * the IdP meant; with every normalizer off the same input is rejected (or behaves per strict RFC 7644).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NORMALIZERS,
  isNormalizerEnabled,
  normalizePatchBody,
  normalizeResourceBody,
  parsePatchRequest,
  patchApplyOptions,
  validateCompatSettings,
} from '../../src/scim/patch/index.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from '../../src/scim/schema/core.ts';
import { GROUP, USER } from '../../src/scim/schema/registry.ts';
import { validateResource } from '../../src/scim/validate.ts';
import { STRICT, assertScimError, body, deepFreeze, only, patch } from './patch-helpers.ts';

const EXISTING_USER = deepFreeze({
  schemas: [USER_SCHEMA],
  userName: 'bjensen',
  name: { givenName: 'Barbara', familyName: 'Jensen' },
  title: 'Guide',
  emails: [{ value: 'bjensen@example.com', type: 'home', primary: true }],
  active: true,
});

const EXISTING_GROUP = deepFreeze({
  schemas: [GROUP_SCHEMA],
  displayName: 'Tour Guides',
  members: [{ value: 'id1' }, { value: 'id2' }, { value: 'id3' }],
});

function validUser(doc: Record<string, unknown>): Record<string, unknown> {
  return validateResource(USER, doc, { mode: 'patch', existing: EXISTING_USER });
}

test('the chain: unique names, descriptions, defaults, and a documented order', () => {
  const names = NORMALIZERS.map((n) => n.name);
  assert.equal(new Set(names).size, names.length);
  for (const required of [
    'op-case',
    'boolean-strings',
    'entra-remove-members-value',
    'entra-filtered-add-creates',
    'dotted-keys',
    'okta-id-in-value',
    'single-element-array',
  ]) {
    assert.ok(names.includes(required), required);
  }
  for (const n of NORMALIZERS) {
    assert.ok(n.description.length > 20, n.name);
    assert.equal(typeof n.enabledByDefault, 'boolean');
    assert.equal(isNormalizerEnabled(n, {}), n.enabledByDefault);
    assert.equal(isNormalizerEnabled(n, { [n.name]: !n.enabledByDefault }), !n.enabledByDefault);
  }
  // Shape fixes run before boolean-strings, so it sees the values they produce.
  assert.ok(names.indexOf('dotted-keys') < names.indexOf('boolean-strings'));
  assert.ok(names.indexOf('single-element-array') < names.indexOf('boolean-strings'));
});

test('RFC-conformant requests pass through every normalizer unchanged', () => {
  const rfcBodies = [
    body({ op: 'add', path: 'members', value: [{ value: 'id9', display: 'X' }] }),
    body({ op: 'remove', path: 'members[value eq "id1"]' }),
    body({ op: 'replace', path: 'displayName', value: 'True' }),
    body({ op: 'replace', value: { displayName: 'Guides' } }),
  ];
  const userBodies = [
    body({ op: 'replace', path: 'active', value: false }),
    body({ op: 'add', path: 'emails', value: [{ value: 'a@b.c', type: 'work', primary: true }] }),
    body({ op: 'replace', path: 'emails[type eq "work"].value', value: 'a@b.c' }),
    body({ op: 'replace', value: { title: 'True', name: { givenName: 'B' }, [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm' } } } }),
    body({ op: 'remove', path: 'name.givenName' }),
  ];
  for (const n of NORMALIZERS) {
    for (const [rs, bodies] of [[GROUP, rfcBodies], [USER, userBodies]] as const) {
      for (const b of bodies) assert.deepEqual(normalizePatchBody(deepFreeze(b), rs, only(n.name)), b, `${n.name}: ${JSON.stringify(b)}`);
    }
  }
});

test('op-case: "Replace", "ADD", "remove" become lower case; off, they are invalidSyntax', () => {
  const b = body({ op: 'Replace', path: 'active', value: false }, { op: 'ADD', path: 'title', value: 'x' }, { op: 'Remove', path: 'nickName' });
  assert.deepEqual(
    parsePatchRequest(b, USER, only('op-case')).map((o) => o.op),
    ['replace', 'add', 'remove'],
  );
  assertScimError(() => parsePatchRequest(b, USER, STRICT), 'invalidSyntax', /"op"/);
  // Unknown operations stay unknown.
  assertScimError(() => parsePatchRequest(body({ op: 'Move', path: 'title' }), USER, only('op-case')), 'invalidSyntax');
});

test('empty-path: "path": "" becomes a path-less operation; off, it is invalidPath', () => {
  const ops = [{ op: 'replace', path: '', value: { displayName: 'Babs' } }];
  assert.equal(patch(USER, EXISTING_USER, ops, only('empty-path')).document.displayName, 'Babs');
  assertScimError(() => patch(USER, EXISTING_USER, ops, STRICT), 'invalidPath');
  // A remove with an empty path is still refused: there is nothing to remove.
  assertScimError(() => patch(USER, EXISTING_USER, [{ op: 'remove', path: '' }], only('empty-path')), 'noTarget');
});

test('okta-id-in-value: the id inside a path-less value is dropped; off, it is a mutability error', () => {
  const ops = [{ op: 'replace', value: { id: '23a35c27-23d3-4c03-b4c5-6443c09e7173', active: false } }];
  const { document } = patch(USER, EXISTING_USER, ops, only('okta-id-in-value'));
  assert.equal(document.active, false);
  assert.equal(Object.hasOwn(document, 'id'), false);
  assertScimError(() => patch(USER, EXISTING_USER, ops, STRICT), 'mutability', /id/);
  // An id given by path is not touched: still a mutability error.
  assertScimError(() => patch(USER, EXISTING_USER, [{ op: 'replace', path: 'id', value: 'x' }], only('okta-id-in-value')), 'mutability');
});

test('dotted-keys: attribute paths as keys of a path-less value become path operations; off, invalidValue', () => {
  const ops = [
    {
      op: 'add',
      value: {
        'name.givenName': 'Babs',
        title: 'Lead',
        [`${ENTERPRISE_USER_SCHEMA}:department`]: 'Tour Operations',
        [`${ENTERPRISE_USER_SCHEMA}:manager.value`]: 'mgr-1',
        nickName: 'B',
        [`${USER_SCHEMA}:displayName`]: 'Babs Jensen',
      },
    },
  ];
  const parsed = parsePatchRequest(body(...ops), USER, only('dotted-keys'));
  assert.deepEqual(
    parsed.map((o) => (o.path ? `${o.path.attribute.urn ?? ''}|${o.path.attribute.name}.${o.path.attribute.sub ?? ''}` : Object.keys(o.value as object).join(','))),
    ['|name.givenName', 'title', `${ENTERPRISE_USER_SCHEMA}|department.`, `${ENTERPRISE_USER_SCHEMA}|manager.value`, 'nickName', `${USER_SCHEMA}|displayName.`],
  );
  const { document } = patch(USER, EXISTING_USER, ops, only('dotted-keys'));
  assert.deepEqual(document.name, { givenName: 'Babs', familyName: 'Jensen' });
  assert.deepEqual(document[ENTERPRISE_USER_SCHEMA], { department: 'Tour Operations', manager: { value: 'mgr-1' } });
  assert.equal(document.title, 'Lead');
  assert.equal(document.displayName, 'Babs Jensen');
  validUser(document);
  // Strictly, the keys of a path-less value are attribute names, and none is named `name.givenName`.
  assertScimError(() => patch(USER, EXISTING_USER, ops, STRICT), 'invalidValue', /name\.givenName/);
  // An extension object under its own URN is RFC form and stays as it is.
  const ext = [{ op: 'add', value: { [ENTERPRISE_USER_SCHEMA]: { department: 'X' } } }];
  assert.deepEqual(normalizePatchBody(body(...ext), USER, only('dotted-keys')), body(...ext));
});

test('dotted-keys on its own copies a "__proto__" key as data, never as a prototype', () => {
  // normalizePatchBody refuses such keys first; the normalizer itself must still not let one reach a prototype.
  const dotted = NORMALIZERS.find((n) => n.name === 'dotted-keys');
  assert.ok(dotted);
  const value = JSON.parse('{"title":"T","__proto__":{"polluted":1},"name.givenName":"X"}') as Record<string, unknown>;
  const out = dotted.apply({ schemas: [], Operations: [{ op: 'add', value }] }, { rs: USER });
  const plain = out.Operations[0] as { value: Record<string, unknown> };
  assert.equal(Object.getPrototypeOf(plain.value), Object.prototype);
  assert.deepEqual(Object.keys(plain.value), ['title', '__proto__']);
  assert.equal((plain.value as { polluted?: unknown }).polluted, undefined);
  assert.deepEqual(out.Operations[1], { op: 'add', path: 'name.givenName', value: 'X' });
});

test('entra-remove-members-value: removes only the listed members; off, the request is refused', () => {
  const ops = [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: 'id1' }, { value: 'id3' }] }];
  const compat = { ...only('entra-remove-members-value'), 'op-case': true };
  const inDocument = patch(GROUP, EXISTING_GROUP, ops, compat);
  assert.deepEqual(inDocument.document.members, [{ value: 'id2' }]);
  const asChanges = patch(GROUP, EXISTING_GROUP, ops, compat, { membersAsChanges: true });
  assert.deepEqual(asChanges.memberChanges, [{ kind: 'remove', ids: ['id1', 'id3'] }]);
  // Strict RFC would read "remove members" as "remove all members"; scimkit refuses instead of destroying data.
  const lower = [{ op: 'remove', path: 'members', value: [{ value: 'id1' }] }];
  assert.deepEqual(patch(GROUP, EXISTING_GROUP, lower, only('entra-remove-members-value')).document.members, [{ value: 'id2' }, { value: 'id3' }]);
  assertScimError(() => patch(GROUP, EXISTING_GROUP, lower, STRICT), 'invalidValue');
  // Ids are quoted safely into the filter.
  const quoted = patch(GROUP, { displayName: 'x', members: [{ value: 'a"b\\c' }, { value: 'd' }] }, [{ op: 'remove', path: 'members', value: [{ value: 'a"b\\c' }] }], only('entra-remove-members-value'));
  assert.deepEqual(quoted.document.members, [{ value: 'd' }]);
  // Values it cannot read as member ids are left for strict parsing to refuse.
  assertScimError(() => patch(GROUP, EXISTING_GROUP, [{ op: 'remove', path: 'members', value: [{ display: 'x' }] }], only('entra-remove-members-value')), 'invalidValue');
  assertScimError(() => patch(USER, EXISTING_USER, [{ op: 'remove', path: 'emails', value: [{ value: 'bjensen@example.com' }] }], only('entra-remove-members-value')), 'invalidValue');
});

test('entra-remove-members-value: thousands of listed members stay within the operation limit', () => {
  // One Entra operation listing more members than MAX_PATCH_OPERATIONS used to become one operation per member and
  // be refused as too many operations; it removes exactly the listed members.
  const ids = Array.from({ length: 2500 }, (_, i) => `2819c223-7f76-453a-919d-${String(i).padStart(12, '0')}`);
  const keep = ['keep-1', 'keep-2'];
  const group = { displayName: 'Big', members: [...ids, ...keep].map((value) => ({ value })) };
  const ops = [{ op: 'Remove', path: 'members', value: ids.map((value) => ({ value })) }];
  const normalized = normalizePatchBody(body(...ops), GROUP, {}) as { Operations: { path: string }[] };
  assert.ok(normalized.Operations.length < 100, `${normalized.Operations.length} operations`);
  assert.ok(normalized.Operations.every((op) => op.path.length <= 4096));
  assert.deepEqual(patch(GROUP, group, ops, {}).document.members, keep.map((value) => ({ value })));
  const { memberChanges } = patch(GROUP, group, ops, {}, { membersAsChanges: true });
  assert.deepEqual(memberChanges, [{ kind: 'remove', ids }]);
});

test('entra-filtered-add-creates: a filtered add that matches nothing creates the value; off, noTarget', () => {
  assert.deepEqual(patchApplyOptions(only('entra-filtered-add-creates')), { createMissingFilteredTarget: true });
  assert.deepEqual(patchApplyOptions(STRICT), {});
  const ops = [
    { op: 'add', path: 'emails[type eq "work"].value', value: 'babs@example.com' },
    // Entra sends one Add per sub-attribute of a new address: the first creates it, the others find it.
    { op: 'add', path: 'addresses[type eq "work"].locality', value: 'Hollywood' },
    { op: 'add', path: 'addresses[type eq "work"].region', value: 'CA' },
  ];
  const { document } = patch(USER, EXISTING_USER, ops, only('entra-filtered-add-creates'));
  assert.deepEqual(document.emails, [
    { value: 'bjensen@example.com', type: 'home', primary: true },
    { type: 'work', value: 'babs@example.com' },
  ]);
  assert.deepEqual(document.addresses, [{ type: 'work', locality: 'Hollywood', region: 'CA' }]);
  validUser(document);
  assertScimError(() => patch(USER, EXISTING_USER, ops, STRICT), 'noTarget');
  // A match still updates in place rather than creating a second value.
  const again = patch(USER, document, [ops[0]], only('entra-filtered-add-creates')).document;
  assert.equal((again.emails as unknown[]).length, 2);
  // Replace does not create, normalizer on or off: Entra sends Replace only for a value the user has (RFC 7644
  // section 3.5.2.3: noTarget). Issue 11, item 8: it used to create the value.
  const replace = [{ op: 'replace', path: 'addresses[type eq "work"].locality', value: 'Hollywood' }];
  assertScimError(() => patch(USER, EXISTING_USER, replace, only('entra-filtered-add-creates')), 'noTarget');
  assertScimError(() => patch(USER, EXISTING_USER, replace, STRICT), 'noTarget');
  const moved = patch(USER, document, [{ op: 'replace', path: 'addresses[type eq "work"].locality', value: 'Burbank' }], only('entra-filtered-add-creates'));
  assert.deepEqual(moved.document.addresses, [{ type: 'work', locality: 'Burbank', region: 'CA' }], 'a value that matches is replaced');
});

test('single-element-array: a one-element array for a single-valued attribute is unwrapped; off, validation rejects it', () => {
  const ops = [
    { op: 'replace', path: 'displayName', value: ['Babs'] },
    { op: 'replace', path: 'title', value: [{ value: 'Lead' }] },
    { op: 'replace', path: `${ENTERPRISE_USER_SCHEMA}:manager`, value: [{ value: 'mgr-1' }] },
    { op: 'replace', value: { nickName: ['B'] } },
  ];
  const { document } = patch(USER, EXISTING_USER, ops, only('single-element-array'));
  assert.equal(document.displayName, 'Babs');
  assert.equal(document.title, 'Lead');
  assert.equal(document.nickName, 'B');
  assert.deepEqual(document[ENTERPRISE_USER_SCHEMA], { manager: { value: 'mgr-1' } });
  validUser(document);
  const strict = patch(USER, EXISTING_USER, [ops[0]], STRICT).document;
  assertScimError(() => validUser(strict), 'invalidValue', /displayName/);
  // Longer arrays stay errors, and multi-valued attributes keep their arrays.
  const two = patch(USER, EXISTING_USER, [{ op: 'replace', path: 'displayName', value: ['A', 'B'] }], only('single-element-array')).document;
  assertScimError(() => validUser(two), 'invalidValue');
  const emails = [{ value: 'a@b.c' }];
  assert.deepEqual(patch(USER, EXISTING_USER, [{ op: 'replace', path: 'emails', value: emails }], only('single-element-array')).document.emails, emails);
});

test('wrap-single-value: one value of a multi-valued attribute sent bare is wrapped; off, invalidValue', () => {
  const ops = [{ op: 'add', path: 'members', value: { value: 'id9' } }];
  const { document } = patch(GROUP, EXISTING_GROUP, ops, only('wrap-single-value'));
  assert.deepEqual(document.members, [{ value: 'id1' }, { value: 'id2' }, { value: 'id3' }, { value: 'id9' }]);
  assertScimError(() => patch(GROUP, EXISTING_GROUP, ops, STRICT), 'invalidValue', /array/);
  const pathless = patch(USER, EXISTING_USER, [{ op: 'add', value: { emails: { value: 'w@x.y', type: 'work' } } }], only('wrap-single-value')).document;
  assert.equal((pathless.emails as unknown[]).length, 2);
});

test('complex-value-string: a manager sent as a plain id becomes {"value": id}; off, invalidValue', () => {
  const ops = [{ op: 'add', path: `${ENTERPRISE_USER_SCHEMA}:manager`, value: 'mgr-1' }];
  const { document } = patch(USER, EXISTING_USER, ops, only('complex-value-string'));
  assert.deepEqual(document[ENTERPRISE_USER_SCHEMA], { manager: { value: 'mgr-1' } });
  validUser(document);
  assertScimError(() => patch(USER, EXISTING_USER, ops, STRICT), 'invalidValue', /complex/);
  const pathless = patch(USER, EXISTING_USER, [{ op: 'replace', value: { [ENTERPRISE_USER_SCHEMA]: { manager: 'mgr-2' } } }], only('complex-value-string'));
  assert.deepEqual(pathless.document[ENTERPRISE_USER_SCHEMA], { manager: { value: 'mgr-2' } });
  // Complex attributes without a "value" sub-attribute are left alone.
  assertScimError(() => patch(USER, EXISTING_USER, [{ op: 'replace', path: 'name', value: 'Babs' }], only('complex-value-string')), 'invalidValue');
});

test('boolean-strings: "True"/"false" become booleans only where the schema says boolean; off, validation rejects them', () => {
  const ops = [
    { op: 'replace', path: 'active', value: 'False' },
    { op: 'add', path: 'emails', value: [{ value: 'w@x.y', type: 'work', primary: 'TRUE' }] },
    { op: 'replace', path: 'emails[type eq "home"].primary', value: 'false' },
    { op: 'replace', path: 'title', value: 'True' },
    { op: 'replace', value: { nickName: 'false', addresses: [{ type: 'work', primary: 'true' }] } },
  ];
  const { document } = patch(USER, EXISTING_USER, ops, only('boolean-strings'));
  assert.equal(document.active, false);
  assert.deepEqual(document.emails, [
    { value: 'bjensen@example.com', type: 'home', primary: false },
    { value: 'w@x.y', type: 'work', primary: true },
  ]);
  // String attributes keep their text, even when it reads like a boolean.
  assert.equal(document.title, 'True');
  assert.equal(document.nickName, 'false');
  assert.deepEqual(document.addresses, [{ type: 'work', primary: true }]);
  validUser(document);
  const strict = patch(USER, EXISTING_USER, [ops[0]], STRICT).document;
  assertScimError(() => validUser(strict), 'invalidValue', /active/);
  // Other strings are not guessed at.
  const yes = patch(USER, EXISTING_USER, [{ op: 'replace', path: 'active', value: 'yes' }], only('boolean-strings')).document;
  assert.equal(yes.active, 'yes');
});

test('normalizeResourceBody: boolean strings in POST/PUT bodies, only when boolean-strings is on', () => {
  const input = deepFreeze({
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    userName: 'bjensen',
    title: 'True',
    active: 'True',
    emails: [{ value: 'a@b.c', primary: 'false' }],
  });
  assert.deepEqual(normalizeResourceBody(input, USER, {}), { ...input, active: true, emails: [{ value: 'a@b.c', primary: false }] });
  assert.equal(normalizeResourceBody(input, USER, { 'boolean-strings': false }), input);
  assert.equal(normalizeResourceBody('not an object', USER, {}), 'not an object');
  assertScimError(() => normalizeResourceBody(JSON.parse('{"userName":"x","__proto__":{"polluted":1}}'), USER, {}), 'invalidValue');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('normalizePatchBody never mutates its input and leaves unreadable bodies for strict parsing', () => {
  const input = deepFreeze(body({ op: 'Replace', path: 'active', value: 'False' }));
  const out = normalizePatchBody(input, USER, {});
  assert.deepEqual(out, body({ op: 'replace', path: 'active', value: false }));
  assert.deepEqual(input, body({ op: 'Replace', path: 'active', value: 'False' }));
  for (const weird of [null, 'x', [], { schemas: [] }, { Operations: 'x' }]) assert.equal(normalizePatchBody(weird, USER, {}), weird);
});

test('validateCompatSettings accepts known names with booleans only', () => {
  assert.deepEqual(validateCompatSettings({ 'op-case': false }), { 'op-case': false });
  assertScimError(() => validateCompatSettings({ 'no-such': true }), 'invalidValue', /no-such/);
  assertScimError(() => validateCompatSettings({ 'op-case': 'yes' }), 'invalidValue');
  assertScimError(() => validateCompatSettings([]), 'invalidValue');
});

test('extension-schemas-member: a "schemas" member naming only its own extension is dropped; off, invalidValue', () => {
  // What the scim2-client Python library sends.
  const ops = [
    { op: 'add', path: ENTERPRISE_USER_SCHEMA, value: { schemas: [ENTERPRISE_USER_SCHEMA], employeeNumber: '1', department: 'Ops' } },
    { op: 'replace', value: { [ENTERPRISE_USER_SCHEMA]: { Schemas: ENTERPRISE_USER_SCHEMA.toLowerCase(), costCenter: 'CC' } } },
  ];
  const out = patch(USER, EXISTING_USER, ops, only('extension-schemas-member')).document;
  assert.deepEqual(validUser(out)[ENTERPRISE_USER_SCHEMA], { employeeNumber: '1', department: 'Ops', costCenter: 'CC' });
  // The path names the extension, so the path is fine: the value is what does not fit (RFC 7644 section 3.12).
  assertScimError(() => patch(USER, EXISTING_USER, [ops[0]], STRICT), 'invalidValue', /schemas/);
  // A `schemas` member naming something else is not harmless: it stays, and is refused.
  const other = [{ op: 'add', path: ENTERPRISE_USER_SCHEMA, value: { schemas: [USER_SCHEMA], employeeNumber: '1' } }];
  assertScimError(() => patch(USER, EXISTING_USER, other, only('extension-schemas-member')), 'invalidValue', /schemas/);
  // POST and PUT bodies get the same treatment.
  const resource = { userName: 'x', [ENTERPRISE_USER_SCHEMA]: { schemas: [ENTERPRISE_USER_SCHEMA], employeeNumber: '2' } };
  const fixed = normalizeResourceBody(resource, USER, only('extension-schemas-member'));
  assert.deepEqual(validateResource(USER, fixed, { mode: 'create' })[ENTERPRISE_USER_SCHEMA], { employeeNumber: '2' });
  assertScimError(() => validateResource(USER, normalizeResourceBody(resource, USER, STRICT), { mode: 'create' }), 'invalidValue', /schemas/);
  // Already conformant input passes through untouched.
  const conformant = body({ op: 'add', path: ENTERPRISE_USER_SCHEMA, value: { employeeNumber: '1' } });
  assert.deepEqual(normalizePatchBody(conformant, USER, only('extension-schemas-member')), conformant);
});

test('unquoted-filter-values: bare words where values belong read as strings; off by default and strict', async () => {
  const { parseFilter, printFilter } = await import('../../src/scim/filter/index.ts');
  const { filterParseOptions } = await import('../../src/scim/patch/index.ts');
  const normalizer = NORMALIZERS.find((n) => n.name === 'unquoted-filter-values');
  assert.equal(normalizer?.enabledByDefault, false);
  assert.deepEqual(filterParseOptions({}), {});
  const on = filterParseOptions(only('unquoted-filter-values'));
  // Microsoft's SCIM reference test collection.
  const cases: [string, string][] = [
    ['userName sw O', 'userName sw "O"'],
    ['name.familyName eq Employee and (emails.value co example.com or emails.value co example.org)', 'name.familyName eq "Employee" and (emails.value co "example.com" or emails.value co "example.org")'],
    ['meta.created gt 2015-10-10T14:38:21.8617979-07:00', 'meta.created gt "2015-10-10T14:38:21.8617979-07:00"'],
    ['emails[value eq ada@example.com]', 'emails[value eq "ada@example.com"]'],
    // Literals keep their meaning, and quoted strings are read as before.
    ['active eq true and title eq null and x gt 5 and userName eq "A B"', 'active eq true and title eq null and x gt 5 and userName eq "A B"'],
  ];
  for (const [text, canonical] of cases) {
    assert.equal(printFilter(parseFilter(text, on)), canonical, text);
    if (text.includes('"')) assert.deepEqual(parseFilter(text), parseFilter(text, on), text);
    else assert.throws(() => parseFilter(text), /expected a value/, `${text} strictly`);
  }
  assert.throws(() => parseFilter('userName eq ', on), /expected a value/);
  assert.throws(() => parseFilter('userName eq )', on), /expected a value/);
});
