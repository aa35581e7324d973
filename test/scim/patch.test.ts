import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ScimError } from '../../src/scim/errors.ts';
import { MAX_PATCH_OPERATIONS, applyPatch, parsePatchRequest } from '../../src/scim/patch/index.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA } from '../../src/scim/schema/core.ts';
import { GROUP, USER } from '../../src/scim/schema/registry.ts';
import { validateResource } from '../../src/scim/validate.ts';
import { STRICT, assertScimError, body, deepFreeze, patch } from './patch-helpers.ts';

const BJENSEN = '2819c223-7f76-453a-919d-413861904646';
const JSMITH = '08e1d05d-121c-4561-8b96-473d93df9210';
const OTHER = '902c246b-6245-4190-8e05-00816be7344a';

function user(): Record<string, unknown> {
  return {
    schemas: [USER_SCHEMA],
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    emails: [
      { value: 'bjensen@example.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ],
    addresses: [
      { type: 'work', streetAddress: '100 Universal City Plaza', locality: 'Hollywood' },
      { type: 'home', streetAddress: '456 Hollywood Blvd', locality: 'Hollywood' },
    ],
    active: true,
  };
}

function group(memberIds: string[] = [BJENSEN]): Record<string, unknown> {
  return { schemas: [GROUP_SCHEMA], displayName: 'Tour Guides', members: memberIds.map((value) => ({ value, type: 'User' })) };
}

function memberIds(doc: Record<string, unknown>): unknown[] {
  return ((doc.members as { value: string }[] | undefined) ?? []).map((m) => m.value);
}

// RFC 7644 section 3.5.2.1-3 examples, applied strictly (all normalizers off).

test('RFC 3.5.2.1: add a member to a group', () => {
  const { document } = patch(GROUP, group(), [
    { op: 'add', path: 'members', value: [{ display: 'James Smith', $ref: `https://example.com/v2/Users/${JSMITH}`, value: JSMITH }] },
  ]);
  assert.deepEqual(memberIds(document), [BJENSEN, JSMITH]);
  assert.equal((document.members as Record<string, unknown>[])[1].display, 'James Smith');
  validateResource(GROUP, document, { mode: 'patch', existing: group() });
});

test('RFC 3.5.2.1: path-less add merges attributes, names match in any case ("nickname")', () => {
  const { document } = patch(USER, user(), [{ op: 'add', value: { emails: [{ value: 'babs@jensen.org', type: 'home' }, { value: 'b@new.org', type: 'other' }], nickname: 'Babs' } }]);
  assert.equal(document.nickName, 'Babs');
  assert.equal(Object.hasOwn(document, 'nickname'), false);
  // The exact duplicate is not added again; the new address is appended.
  assert.deepEqual((document.emails as { value: string }[]).map((e) => e.value), ['bjensen@example.com', 'babs@jensen.org', 'b@new.org']);
});

test('RFC 3.5.2.1: add to a complex attribute merges sub-attributes; add to a single-valued attribute replaces it', () => {
  const { document } = patch(USER, user(), [
    { op: 'add', path: 'name', value: { middleName: 'Jane' } },
    { op: 'add', path: 'title', value: 'Tour Guide' },
    { op: 'add', path: 'title', value: 'Senior Tour Guide' },
  ]);
  assert.deepEqual(document.name, { givenName: 'Barbara', familyName: 'Jensen', middleName: 'Jane' });
  assert.equal(document.title, 'Senior Tour Guide');
});

test('RFC 3.5.2.2: remove one member by value filter', () => {
  const { document } = patch(GROUP, group([BJENSEN, JSMITH]), [{ op: 'remove', path: `members[value eq "${BJENSEN}"]` }]);
  assert.deepEqual(memberIds(document), [JSMITH]);
});

test('RFC 3.5.2.2: remove all members; the attribute becomes unassigned', () => {
  const { document } = patch(GROUP, group([BJENSEN, JSMITH]), [{ op: 'remove', path: 'members' }]);
  assert.equal(Object.hasOwn(document, 'members'), false);
  assert.equal(document.displayName, 'Tour Guides');
});

test('RFC 3.5.2.2: remove emails[type eq "work" and value ew "example.com"]', () => {
  const { document } = patch(USER, user(), [{ op: 'remove', path: 'emails[type eq "work" and value ew "example.com"]' }]);
  assert.deepEqual(document.emails, [{ value: 'babs@jensen.org', type: 'home' }]);
});

test('RFC 3.5.2.2: remove then add replaces one member (two operations)', () => {
  const { document } = patch(GROUP, group([BJENSEN, OTHER]), [
    { op: 'remove', path: `members[value eq "${BJENSEN}"]` },
    { op: 'add', path: 'members', value: [{ display: 'James Smith', value: JSMITH }] },
  ]);
  assert.deepEqual(memberIds(document), [OTHER, JSMITH]);
});

test('RFC 3.5.2.2: removing a sub-attribute, and removing the last sub-attribute unassigns the complex attribute', () => {
  const first = patch(USER, user(), [{ op: 'remove', path: 'name.givenName' }]).document;
  assert.deepEqual(first.name, { familyName: 'Jensen' });
  const second = patch(USER, first, [{ op: 'remove', path: 'name.familyName' }]).document;
  assert.equal(Object.hasOwn(second, 'name'), false);
  // Removing an attribute that has no value changes nothing.
  assert.deepEqual(patch(USER, second, [{ op: 'remove', path: 'nickName' }]).document, second);
});

test('RFC 3.5.2.2: remove a sub-attribute of the filtered values only', () => {
  const { document } = patch(USER, user(), [{ op: 'remove', path: 'addresses[type eq "home"].locality' }]);
  assert.deepEqual(document.addresses, [
    { type: 'work', streetAddress: '100 Universal City Plaza', locality: 'Hollywood' },
    { type: 'home', streetAddress: '456 Hollywood Blvd' },
  ]);
});

test('RFC 3.5.2.3: replace all members', () => {
  const { document } = patch(GROUP, group([JSMITH]), [
    { op: 'replace', path: 'members', value: [{ display: 'Babs Jensen', value: BJENSEN }, { display: 'Mandy Pepperidge', value: OTHER }] },
  ]);
  assert.deepEqual(memberIds(document), [BJENSEN, OTHER]);
});

test('RFC 3.5.2.3: replace a whole filtered value (addresses[type eq "work"])', () => {
  const work = { type: 'work', streetAddress: '911 Universal City Plaza', locality: 'Hollywood', region: 'CA', postalCode: '91608', country: 'US', primary: true };
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'addresses[type eq "work"]', value: work }]);
  const addresses = document.addresses as Record<string, unknown>[];
  assert.deepEqual(addresses[0], work);
  assert.equal(addresses[1].streetAddress, '456 Hollywood Blvd');
});

test('RFC 3.5.2.3: replace addresses[type eq "work"].streetAddress sets only that sub-attribute', () => {
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'addresses[type eq "work"].streetAddress', value: '1010 Broadway Ave' }]);
  assert.deepEqual((document.addresses as Record<string, unknown>[])[0], { type: 'work', streetAddress: '1010 Broadway Ave', locality: 'Hollywood' });
  assert.equal((document.addresses as Record<string, unknown>[])[1].streetAddress, '456 Hollywood Blvd');
});

test('RFC 3.5.2.3: replace the work email value via emails[type eq "work"].value', () => {
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'barbara@example.com' }]);
  assert.deepEqual((document.emails as Record<string, unknown>[])[0], { value: 'barbara@example.com', type: 'work', primary: true });
});

test('RFC 3.5.2.3: path-less replace replaces the given attributes; a multi-valued one is replaced whole', () => {
  const emails = [{ value: 'bjensen@example.com', type: 'work', primary: true }, { value: 'babs@jensen.org', type: 'home' }];
  const { document } = patch(USER, { ...user(), emails: [{ value: 'old@x.org', type: 'other' }] }, [{ op: 'replace', value: { emails, nickname: 'Babs' } }]);
  assert.deepEqual(document.emails, emails);
  assert.equal(document.nickName, 'Babs');
  assert.equal(document.userName, 'bjensen');
});

test('RFC 3.5.2.3: replace of a complex attribute leaves sub-attributes that are not given unchanged', () => {
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'name', value: { givenName: 'Babs' } }]);
  assert.deepEqual(document.name, { givenName: 'Babs', familyName: 'Jensen' });
});

test('replace of an attribute that has no value adds it; replace with a filter matching nothing is noTarget', () => {
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'displayName', value: 'Babs' }]);
  assert.equal(document.displayName, 'Babs');
  assertScimError(() => patch(USER, user(), [{ op: 'replace', path: 'emails[type eq "other"].value', value: 'x@y.z' }]), 'noTarget', /Operations\[0\].*emails/);
  assertScimError(() => patch(USER, user(), [{ op: 'remove', path: 'emails[type eq "other"]' }]), 'noTarget');
  assertScimError(() => patch(USER, user(), [{ op: 'add', path: 'emails[type eq "other"].display', value: 'x' }]), 'noTarget');
});

test('createMissingFilteredTarget creates the value from the filter eq conditions', () => {
  const { document } = patch(USER, user(), [{ op: 'add', path: 'emails[type eq "other"].value', value: 'x@y.z' }], STRICT, {
    createMissingFilteredTarget: true,
  });
  assert.deepEqual((document.emails as unknown[])[2], { type: 'other', value: 'x@y.z' });
  // A filter that is not a conjunction of eq conditions cannot describe a value to create.
  assertScimError(
    () => patch(USER, user(), [{ op: 'replace', path: 'emails[type co "oth"].value', value: 'x@y.z' }], STRICT, { createMissingFilteredTarget: true }),
    'noTarget',
  );
  // Replacing and removing never create (RFC 7644 section 3.5.2.3: noTarget).
  assertScimError(
    () => patch(USER, user(), [{ op: 'replace', path: 'emails[type eq "other"].value', value: 'x@y.z' }], STRICT, { createMissingFilteredTarget: true }),
    'noTarget',
  );
  assertScimError(() => patch(USER, user(), [{ op: 'remove', path: 'emails[type eq "other"]' }], STRICT, { createMissingFilteredTarget: true }), 'noTarget');
});

test('a filter matching several values writes to each of them', () => {
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'addresses[locality eq "hollywood"].country', value: 'US' }]);
  assert.deepEqual((document.addresses as Record<string, unknown>[]).map((a) => a.country), ['US', 'US']);
});

test('a sub-attribute of a multi-valued attribute without a filter addresses every value', () => {
  const removed = patch(USER, user(), [{ op: 'remove', path: 'addresses.locality' }]).document;
  assert.deepEqual((removed.addresses as Record<string, unknown>[]).map((a) => a.locality), [undefined, undefined]);
  const set = patch(USER, user(), [{ op: 'replace', path: 'emails.display', value: 'Babs' }]).document;
  assert.deepEqual((set.emails as Record<string, unknown>[]).map((a) => a.display), ['Babs', 'Babs']);
  assertScimError(() => patch(USER, { userName: 'x' }, [{ op: 'add', path: 'emails.display', value: 'Babs' }]), 'noTarget');
});

test('setting primary on one value clears it on the others (RFC 7643 section 2.4)', () => {
  const viaFilter = patch(USER, user(), [{ op: 'replace', path: 'emails[type eq "home"].primary', value: true }]).document;
  assert.deepEqual((viaFilter.emails as Record<string, unknown>[]).map((e) => e.primary), [undefined, true]);
  const viaAdd = patch(USER, user(), [{ op: 'add', path: 'emails', value: [{ value: 'new@x.org', type: 'other', primary: true }] }]).document;
  assert.deepEqual((viaAdd.emails as Record<string, unknown>[]).map((e) => e.primary), [undefined, undefined, true]);
  validateResource(USER, viaAdd, { mode: 'patch', existing: user() });
  // Adding a non-primary value leaves the primary where it was.
  const plain = patch(USER, user(), [{ op: 'add', path: 'emails', value: [{ value: 'new@x.org' }] }]).document;
  assert.deepEqual((plain.emails as Record<string, unknown>[]).map((e) => e.primary), [true, undefined, undefined]);
});

test('extension attributes: add, replace, remove by path; the extension and schemas follow', () => {
  const added = patch(USER, user(), [
    { op: 'add', path: `${ENTERPRISE_USER_SCHEMA}:department`, value: 'Tour Operations' },
    { op: 'add', path: `${ENTERPRISE_USER_SCHEMA}:manager.value`, value: JSMITH },
  ]).document;
  assert.deepEqual(added[ENTERPRISE_USER_SCHEMA], { department: 'Tour Operations', manager: { value: JSMITH } });
  assert.deepEqual(added.schemas, [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]);
  validateResource(USER, added, { mode: 'patch', existing: user() });

  const removed = patch(USER, added, [
    { op: 'remove', path: `${ENTERPRISE_USER_SCHEMA}:department` },
    { op: 'remove', path: `${ENTERPRISE_USER_SCHEMA}:manager` },
  ]).document;
  assert.equal(Object.hasOwn(removed, ENTERPRISE_USER_SCHEMA), false);
  assert.deepEqual(removed.schemas, [USER_SCHEMA]);
});

test('a bare extension URN as path targets the extension object; the core URN prefix is accepted too', () => {
  const added = patch(USER, user(), [
    { op: 'add', path: ENTERPRISE_USER_SCHEMA, value: { employeeNumber: '701984', department: 'Tour Operations' } },
    { op: 'replace', path: `${USER_SCHEMA}:displayName`, value: 'Babs' },
  ]).document;
  assert.deepEqual(added[ENTERPRISE_USER_SCHEMA], { employeeNumber: '701984', department: 'Tour Operations' });
  assert.equal(added.displayName, 'Babs');
  const removed = patch(USER, added, [{ op: 'remove', path: ENTERPRISE_USER_SCHEMA }]).document;
  assert.equal(Object.hasOwn(removed, ENTERPRISE_USER_SCHEMA), false);
  // Path-less values may hold the extension object under its URN, in any case.
  const pathless = patch(USER, user(), [{ op: 'replace', value: { [ENTERPRISE_USER_SCHEMA.toUpperCase()]: { Department: 'Sales' } } }]).document;
  assert.deepEqual(pathless[ENTERPRISE_USER_SCHEMA], { department: 'Sales' });
});

test('document keys in any case are canonicalised with the schema', () => {
  const doc = {
    USERNAME: 'bjensen',
    Emails: [{ Value: 'bjensen@example.com', TYPE: 'work' }],
    [ENTERPRISE_USER_SCHEMA.toLowerCase()]: { DEPARTMENT: 'Ops' },
  };
  const { document } = patch(USER, doc, [{ op: 'replace', path: 'EMAILS[Type eq "WORK"].value', value: 'babs@example.com' }]);
  assert.deepEqual(document, {
    userName: 'bjensen',
    emails: [{ value: 'babs@example.com', type: 'work' }],
    [ENTERPRISE_USER_SCHEMA]: { department: 'Ops' },
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
  });
});

test('all or nothing: an error in a later operation applies nothing and the input is never mutated', () => {
  const doc = deepFreeze(user());
  const before = structuredClone(doc);
  const ops = deepFreeze(
    parsePatchRequest(
      body(
        { op: 'replace', path: 'displayName', value: 'Babs' },
        { op: 'remove', path: 'emails[type eq "work"]' },
        { op: 'remove', path: 'addresses[type eq "other"]' },
      ),
      USER,
      STRICT,
    ),
  );
  assertScimError(() => applyPatch(USER, doc, ops), 'noTarget', /^Operations\[2\]/);
  assert.deepEqual(doc, before);
  // The successful path does not mutate the (frozen) input either.
  const ok = applyPatch(USER, doc, ops.slice(0, 2)).document;
  assert.equal(ok.displayName, 'Babs');
  assert.equal((ok.emails as unknown[]).length, 1);
  assert.deepEqual(doc, before);
});

test('strict envelope errors', () => {
  const p = (b: unknown) => () => parsePatchRequest(b, USER, STRICT);
  assertScimError(p([]), 'invalidSyntax');
  assertScimError(p('{}'), 'invalidSyntax');
  assertScimError(p({ Operations: [{ op: 'add', path: 'title', value: 'x' }] }), 'invalidSyntax', /schemas/);
  assertScimError(p({ schemas: [USER_SCHEMA], Operations: [{ op: 'add', path: 'title', value: 'x' }] }), 'invalidSyntax', /PatchOp/);
  assertScimError(p({ schemas: [PATCH_OP_SCHEMA], Operations: { op: 'add' } }), 'invalidSyntax', /Operations/);
  assertScimError(p(body()), 'invalidSyntax', /at least one/);
  const many = Array.from({ length: MAX_PATCH_OPERATIONS + 1 }, () => ({ op: 'add', path: 'title', value: 'x' }));
  assertScimError(p(body(...many)), 'invalidValue', new RegExp(`at most ${MAX_PATCH_OPERATIONS}`));
  assert.equal(parsePatchRequest(body(...many.slice(1)), USER, STRICT).length, MAX_PATCH_OPERATIONS);
  assertScimError(p(body('add')), 'invalidSyntax', /Operations\[0\]/);
  assertScimError(p(body({ op: 'move', path: 'title' })), 'invalidSyntax', /"op"/);
  assertScimError(p(body({ path: 'title', value: 'x' })), 'invalidSyntax', /"op"/);
  assertScimError(p(body({ op: 'add', OP: 'add', path: 'title', value: 'x' })), 'invalidSyntax', /more than once/);
  // The schema URN and member names are case-insensitive (RFC 7643 section 2.1).
  const ops = parsePatchRequest({ SCHEMAS: [PATCH_OP_SCHEMA.toUpperCase()], operations: [{ OP: 'add', Path: 'title', VALUE: 'x' }] }, USER, STRICT);
  assert.deepEqual(ops, [{ op: 'add', path: { attribute: { urn: null, name: 'title', sub: null }, filter: null, subAfterFilter: null }, value: 'x' }]);
});

test('strict operation errors: paths, values, targets', () => {
  const p = (...ops: unknown[]) => () => parsePatchRequest(body(...ops), USER, STRICT);
  assertScimError(p({ op: 'add', path: 'nosuch', value: 'x' }), 'invalidPath', /nosuch/);
  assertScimError(p({ op: 'add', path: 'name.nosuch', value: 'x' }), 'invalidPath');
  // Errors inside a path's filter are invalidFilter (RFC 7644 section 3.12: "PATCH (Path Filter)").
  assertScimError(p({ op: 'add', path: 'emails[type eq', value: 'x' }), 'invalidFilter');
  assertScimError(p({ op: 'add', path: 'emails[nosuch eq "x"].value', value: 'x' }), 'invalidFilter', /nosuch/);
  assertScimError(p({ op: 'add', path: 'name[givenName eq "x"]', value: {} }), 'invalidPath', /multi-valued/);
  assertScimError(p({ op: 'add', path: 42, value: 'x' }), 'invalidPath');
  assertScimError(p({ op: 'add', path: 'title' }), 'invalidValue', /needs a "value"/);
  assertScimError(p({ op: 'replace', path: 'title', value: null }), 'invalidValue');
  assertScimError(p({ op: 'remove' }), 'noTarget');
  assertScimError(p({ op: 'add', value: 'x' }), 'invalidValue', /object/);
  // A path-less value holding a name the schema lacks does not fit the resource schema: invalidValue, as it has no path.
  assertScimError(p({ op: 'add', value: { nosuch: 1 } }), 'invalidValue', /nosuch/);
  assertScimError(p({ op: 'add', value: { title: 'a', TITLE: 'b' } }), 'invalidValue', /more than once/);
  assertScimError(p({ op: 'add', value: { schemas: ['urn:x:y'] } }), 'invalidValue', /schemas/);
  assertScimError(p({ op: 'add', value: { [ENTERPRISE_USER_SCHEMA]: { nosuch: 1 } } }), 'invalidValue', /nosuch/);
  // The error names the failing operation.
  assertScimError(p({ op: 'add', path: 'title', value: 'x' }, { op: 'add', path: 'nosuch', value: 'x' }), 'invalidPath', /^Operations\[1\]/);
});

test('strict mutability errors: readOnly targets and required attributes', () => {
  const p = (rs = USER, ...ops: unknown[]) => () => parsePatchRequest(body(...ops), rs, STRICT);
  assertScimError(p(USER, { op: 'replace', path: 'id', value: 'x' }), 'mutability', /readOnly/);
  assertScimError(p(USER, { op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' }), 'mutability');
  assertScimError(p(USER, { op: 'add', path: 'groups', value: [{ value: 'g' }] }), 'mutability');
  assertScimError(p(USER, { op: 'replace', value: { id: 'x', active: false } }), 'mutability', /"id"/);
  assertScimError(p(USER, { op: 'replace', value: { meta: {} } }), 'mutability');
  // RFC 7644 section 3.12, invalidValue: "A required value was missing".
  assertScimError(p(USER, { op: 'remove', path: 'userName' }), 'invalidValue', /required/);
  assertScimError(p(GROUP, { op: 'remove', path: 'displayName' }), 'invalidValue', /required/);
  assertScimError(p(GROUP, { op: 'replace', path: `members[value eq "${BJENSEN}"].value`, value: JSMITH }), 'mutability', /immutable/);
  assertScimError(p(GROUP, { op: 'replace', path: `members[value eq "${BJENSEN}"].display`, value: 'x' }), 'mutability');
  // A value on a remove of a whole multi-valued attribute would silently remove everything: refused.
  assertScimError(p(GROUP, { op: 'remove', path: 'members', value: [{ value: BJENSEN }] }), 'invalidValue', /members\[value eq/);
  // Replacing a whole member with a different id changes an immutable sub-attribute.
  assertScimError(
    () => patch(GROUP, group([BJENSEN]), [{ op: 'replace', path: `members[value eq "${BJENSEN}"]`, value: { value: JSMITH } }]),
    'mutability',
    /immutable/,
  );
  const sameId = patch(GROUP, group([BJENSEN]), [{ op: 'replace', path: `members[value eq "${BJENSEN}"]`, value: { value: BJENSEN, type: 'User', display: 'Babs' } }]);
  assert.deepEqual(sameId.document.members, [{ value: BJENSEN, type: 'User', display: 'Babs' }]);
});

test('apply-time value shape errors', () => {
  assertScimError(() => patch(USER, user(), [{ op: 'add', path: 'name', value: 'Barbara' }]), 'invalidValue', /complex/);
  assertScimError(() => patch(USER, user(), [{ op: 'add', path: 'emails', value: { value: 'x@y.z' } }]), 'invalidValue', /array/);
  assertScimError(() => patch(USER, user(), [{ op: 'replace', path: 'emails[type eq "work"]', value: 'x@y.z' }]), 'invalidValue', /object/);
  // Types of simple values are checked by validateResource, which the store runs on every PATCH result.
  const { document } = patch(USER, user(), [{ op: 'replace', path: 'active', value: 'yes' }]);
  assertScimError(() => validateResource(USER, document, { mode: 'patch', existing: user() }), 'invalidValue', /active/);
});

test('add deduplicates against values changed in place by earlier operations of the request', () => {
  const { document } = patch(USER, user(), [
    { op: 'add', path: 'emails', value: [{ value: 'a@x.org' }] },
    { op: 'replace', path: 'emails.display', value: 'D' }, // every value changes in place
    { op: 'add', path: 'emails', value: [{ display: 'D', value: 'a@x.org' }] }, // now equal to one of them
    { op: 'add', path: 'emails', value: [{ value: 'p@x.org', primary: true }] }, // demotes the work address in place
    { op: 'add', path: 'emails', value: [{ value: 'bjensen@example.com', type: 'work', display: 'D' }] },
  ]);
  assert.deepEqual(document.emails, [
    { value: 'bjensen@example.com', type: 'work', display: 'D' },
    { value: 'babs@jensen.org', type: 'home', display: 'D' },
    { value: 'a@x.org', display: 'D' },
    { value: 'p@x.org', primary: true },
  ]);
});

test('add deduplicates exact duplicates, and members by id', () => {
  const { document } = patch(GROUP, group([BJENSEN]), [
    { op: 'add', path: 'members', value: [{ value: BJENSEN, display: 'Babs again' }, { value: JSMITH }, { value: JSMITH }] },
  ]);
  assert.deepEqual(memberIds(document), [BJENSEN, JSMITH]);
});

test('membersAsChanges: member operations become ordered deltas and the document carries no members', () => {
  const doc = deepFreeze(group([BJENSEN, JSMITH]));
  const { document, memberChanges } = patch(
    GROUP,
    doc,
    [
      { op: 'replace', path: 'displayName', value: 'Guides' },
      { op: 'add', path: 'members', value: [{ value: OTHER, type: 'user', display: 'Mandy' }, { value: 'g1', type: 'Group' }] },
      { op: 'add', path: 'members', value: [{ value: 'u9' }, { value: OTHER }] },
      { op: 'remove', path: `members[value eq "${BJENSEN}"]` },
      { op: 'remove', path: 'members[value eq "a" or value eq "b"]' },
      { op: 'remove', path: 'members[type eq "Group"]' },
      { op: 'remove', path: 'members' },
      { op: 'remove', path: 'members[value eq "c"]' },
      { op: 'replace', path: 'members', value: [{ value: 'd' }] },
      { op: 'add', value: { members: [{ value: 'e' }] } },
    ],
    STRICT,
    { membersAsChanges: true },
  );
  assert.deepEqual(document, { schemas: [GROUP_SCHEMA], displayName: 'Guides' });
  assert.deepEqual(memberChanges, [
    { kind: 'add', members: [{ value: OTHER, type: 'User', display: 'Mandy' }, { value: 'g1', type: 'Group' }, { value: 'u9' }] },
    { kind: 'remove', ids: [BJENSEN, 'a', 'b'] },
    {
      kind: 'removeWhere',
      filter: { kind: 'compare', path: { urn: null, name: 'type', sub: null }, op: 'eq', value: 'Group' },
    },
    { kind: 'removeAll' },
    // The remove after removeAll and the removeAll of the replace are redundant and dropped.
    { kind: 'add', members: [{ value: 'd' }, { value: 'e' }] },
  ]);
});

test('membersAsChanges: path-less replace of members, and errors', () => {
  const { memberChanges } = patch(GROUP, group(), [{ op: 'replace', value: { displayName: 'X', members: [{ value: 'a' }] } }], STRICT, {
    membersAsChanges: true,
  });
  assert.deepEqual(memberChanges, [{ kind: 'removeAll' }, { kind: 'add', members: [{ value: 'a' }] }]);
  const empty = patch(GROUP, group(), [{ op: 'replace', path: 'members', value: [] }], STRICT, { membersAsChanges: true });
  assert.deepEqual(empty.memberChanges, [{ kind: 'removeAll' }]);
  const asChanges = { membersAsChanges: true };
  assertScimError(() => patch(GROUP, group(), [{ op: 'add', path: 'members', value: [{ display: 'no id' }] }], STRICT, asChanges), 'invalidValue', /value/);
  assertScimError(() => patch(GROUP, group(), [{ op: 'add', path: 'members', value: [{ value: 'a', type: 'Robot' }] }], STRICT, asChanges), 'invalidValue', /type/);
  assertScimError(() => patch(GROUP, group(), [{ op: 'add', path: 'members', value: [{ value: 'a', nosuch: 1 }] }], STRICT, asChanges), 'invalidValue', /nosuch/);
  assertScimError(() => patch(GROUP, group(), [{ op: 'add', path: 'members', value: [{ value: 'a' }] }, { op: 'add', path: 'members', value: 'a' }], STRICT, asChanges), 'invalidValue');
  assertScimError(
    () => patch(GROUP, group(), [{ op: 'replace', path: `members[value eq "${BJENSEN}"]`, value: { value: BJENSEN } }], STRICT, asChanges),
    'mutability',
  );
  // On any schema but Group the option changes nothing.
  const userResult = patch(USER, user(), [{ op: 'remove', path: 'emails[type eq "home"]' }], STRICT, asChanges);
  assert.deepEqual(userResult.memberChanges, []);
  assert.equal((userResult.document.emails as unknown[]).length, 1);
});

test('membersAsChanges off: members are edited inside the document', () => {
  const { document, memberChanges } = patch(GROUP, group([BJENSEN, JSMITH]), [{ op: 'remove', path: `members[value eq "${JSMITH}"]` }]);
  assert.deepEqual(memberChanges, []);
  assert.deepEqual(memberIds(document), [BJENSEN]);
});

test('prototype pollution attempts are rejected and Object.prototype stays clean', () => {
  const polluted = JSON.parse('{"__proto__":{"polluted":1}}') as unknown;
  const attempts: [unknown[], 'invalidPath' | 'invalidValue' | 'invalidFilter'][] = [
    [[{ op: 'add', path: '__proto__.polluted', value: 1 }], 'invalidPath'],
    [[{ op: 'add', path: 'constructor.prototype', value: { polluted: 1 } }], 'invalidPath'],
    [[{ op: 'add', path: 'name.__proto__', value: 1 }], 'invalidPath'],
    [[{ op: 'add', path: 'emails[__proto__ eq "x"].value', value: 1 }], 'invalidFilter'],
    [[{ op: 'add', value: polluted }], 'invalidValue'],
    [[{ op: 'add', path: 'name', value: polluted }], 'invalidValue'],
    [[{ op: 'add', path: 'emails', value: [JSON.parse('{"value":"x","__proto__":{"polluted":1}}')] }], 'invalidValue'],
    [[{ op: 'add', value: { constructor: { prototype: { polluted: 1 } } } }], 'invalidValue'],
    [[JSON.parse('{"op":"add","path":"title","value":"x","__proto__":{"polluted":1}}')], 'invalidValue'],
  ];
  for (const [ops, scimType] of attempts) {
    assertScimError(() => parsePatchRequest(body(...ops), USER, STRICT), scimType);
    assertScimError(() => parsePatchRequest(body(...ops), USER, {}), scimType); // with every default normalizer on
  }
  // A path-less value with dotted keys naming a prototype goes through dotted-keys and is still refused.
  assertScimError(() => parsePatchRequest(body({ op: 'add', value: { '__proto__.polluted': 1 } }), USER, {}), 'invalidPath');
  assertScimError(() => parsePatchRequest(body({ op: 'add', value: { 'constructor.prototype': 1 } }), USER, {}), 'invalidPath');
  // applyPatch on its own refuses such keys in values and documents.
  assertScimError(() => applyPatch(USER, user(), [{ op: 'add', path: null, value: polluted }]), 'invalidValue');
  assertScimError(() => applyPatch(USER, JSON.parse('{"userName":"x","__proto__":{"polluted":1}}'), []), 'invalidValue');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
});

test('applyPatch is pure: a ScimError is always thrown as a ScimError with status 400', () => {
  try {
    patch(USER, user(), [{ op: 'replace', path: 'emails[type eq "pager"]', value: {} }]);
    assert.fail('expected noTarget');
  } catch (err) {
    assert.ok(err instanceof ScimError);
    assert.deepEqual(err.toJSON().scimType, 'noTarget');
  }
});

test('large PATCH requests on large documents finish: no work quadratic in the number of values', () => {
  // A hang guard, not a speed test: the fixture takes about a second; with quadratic dedupe, primary demotion,
  // filtered writes or member-change merging it ran for minutes (50,000 values), so a minute means it hangs.
  const fixture = fileURLToPath(new URL('./fixtures/large-patch.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', fixture], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  assert.equal(child.signal, null, 'the large PATCH did not finish within a minute');
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), {
    added: 100_000, // 50,000 new values; re-adding the 50,000 existing ones changes nothing
    addedDistinct: 100_000,
    primaries: ['new.user49999@example.com'], // the added primary demotes the old one
    typed: 50_000,
    removed: 45_000,
    memberAdds: [50_000], // 1,000 add operations merge into one change
    memberRemoves: [50_000],
  });
});
