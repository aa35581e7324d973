import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { Projection, needsRelations, parseAttributeList, project } from '../../src/scim/projection.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, USER, USER_SCHEMA, attr, complex } from '../../src/scim/schema/index.ts';
import type { ResourceSchema } from '../../src/scim/schema/index.ts';

const meta = {
  resourceType: 'User',
  created: '2024-01-01T00:00:00.000Z',
  lastModified: '2024-02-01T00:00:00.000Z',
  location: 'https://example.com/scim/v2/Users/u1',
  version: 'W/"3"',
};

function fullUser(): Record<string, unknown> {
  return {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    id: 'u1',
    externalId: 'ext-1',
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen', formatted: 'Barbara Jensen' },
    displayName: 'Babs',
    active: true,
    password: 'hunter2',
    emails: [
      { value: 'b@example.com', type: 'work', primary: true },
      { value: 'b@home.example', type: 'home' },
    ],
    groups: [{ value: 'g1', display: 'Eng', type: 'direct' }],
    [ENTERPRISE_USER_SCHEMA]: { employeeNumber: '42', department: 'R&D', manager: { value: 'm1', displayName: 'Boss' } },
    meta,
  };
}

function fullGroup(): Record<string, unknown> {
  return {
    schemas: [GROUP_SCHEMA],
    id: 'g1',
    displayName: 'Eng',
    members: [
      { value: 'u1', display: 'Babs', type: 'User' },
      { value: 'u2', type: 'User' },
    ],
    meta: { ...meta, resourceType: 'Group' },
  };
}

test('by default every returned=default attribute appears, and never the password', () => {
  const user = fullUser();
  const out = project(USER, user, {});
  const expected = fullUser();
  delete expected.password;
  assert.deepEqual(out, expected);
  assert.notEqual(out.emails, user.emails, 'a new document');
  assert.notEqual((out.emails as unknown[])[0], (user.emails as unknown[])[0]);
  assert.notEqual(out.meta, user.meta);
  // Key order as served: schemas and id first, then the core attributes, the extension, and meta last.
  assert.deepEqual(Object.keys(out).slice(0, 2), ['schemas', 'id']);
  assert.deepEqual(Object.keys(out).slice(-2), [ENTERPRISE_USER_SCHEMA, 'meta']);
});

test('password never appears, even when asked for', () => {
  assert.equal(project(USER, fullUser(), { attributes: ['password'] }).password, undefined);
  assert.equal(project(USER, fullUser(), { attributes: ['userName', 'PASSWORD'] }).password, undefined);
});

test('attributes returns only the named ones plus id and schemas', () => {
  assert.deepEqual(project(USER, fullUser(), { attributes: ['userName'] }), { schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], id: 'u1', userName: 'bjensen' });
  assert.deepEqual(project(USER, fullUser(), { attributes: ['USERNAME', 'Name.GivenName', 'emails.value', 'meta.lastModified'] }), {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    id: 'u1',
    userName: 'bjensen',
    name: { givenName: 'Barbara' },
    emails: [{ value: 'b@example.com' }, { value: 'b@home.example' }],
    meta: { lastModified: '2024-02-01T00:00:00.000Z' },
  });
  // A whole complex attribute.
  assert.deepEqual(project(USER, fullUser(), { attributes: ['name'] }).name, { givenName: 'Barbara', familyName: 'Jensen', formatted: 'Barbara Jensen' });
  // A parent and one of its sub-attributes: the parent wins.
  assert.deepEqual(project(USER, fullUser(), { attributes: ['name.givenName', 'name'] }).name, fullUser().name);
});

test('URN-qualified paths select core and extension attributes, or a whole extension', () => {
  const ext = ENTERPRISE_USER_SCHEMA;
  assert.deepEqual(project(USER, fullUser(), { attributes: [`${ext}:department`] }), {
    schemas: [USER_SCHEMA, ext],
    id: 'u1',
    [ext]: { department: 'R&D' },
  });
  assert.deepEqual(project(USER, fullUser(), { attributes: [`${ext.toUpperCase()}:Manager.Value`] })[ext], { manager: { value: 'm1' } });
  assert.deepEqual(project(USER, fullUser(), { attributes: [ext.toLowerCase()] })[ext], fullUser()[ext]);
  assert.deepEqual(project(USER, fullUser(), { attributes: [`${USER_SCHEMA}:userName`, `${USER_SCHEMA}:name.familyName`] }), {
    schemas: [USER_SCHEMA, ext],
    id: 'u1',
    userName: 'bjensen',
    name: { familyName: 'Jensen' },
  });
});

test('excludedAttributes removes attributes, sub-attributes and extensions, but never id', () => {
  const out = project(USER, fullUser(), { excludedAttributes: ['emails', 'name.formatted', 'META.VERSION', 'id', `${ENTERPRISE_USER_SCHEMA}:manager`] });
  assert.equal(out.id, 'u1');
  assert.equal(out.emails, undefined);
  assert.deepEqual(out.name, { givenName: 'Barbara', familyName: 'Jensen' });
  assert.equal((out.meta as Record<string, unknown>).version, undefined);
  assert.equal((out.meta as Record<string, unknown>).created, meta.created);
  assert.deepEqual(out[ENTERPRISE_USER_SCHEMA], { employeeNumber: '42', department: 'R&D' });
  assert.equal(out.userName, 'bjensen');
  assert.equal(project(USER, fullUser(), { excludedAttributes: [ENTERPRISE_USER_SCHEMA] })[ENTERPRISE_USER_SCHEMA], undefined);
  // Excluding every sub-attribute present leaves no empty object behind.
  assert.equal(project(USER, fullUser(), { excludedAttributes: ['name.givenName', 'name.familyName', 'name.formatted'] }).name, undefined);
});

test('unknown names are ignored', () => {
  assert.deepEqual(project(USER, fullUser(), { attributes: ['nosuch', 'userName', 'name.nosuch', 'urn:example:x:1.0:Thing:foo'] }), {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    id: 'u1',
    userName: 'bjensen',
  });
  assert.deepEqual(project(USER, fullUser(), { excludedAttributes: ['nosuch', 'members'] }), project(USER, fullUser(), {}));
  // Group attributes are unknown on a User.
  assert.deepEqual(project(USER, fullUser(), { attributes: ['members'] }), { schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], id: 'u1' });
});

test('groups project members and their sub-attributes', () => {
  assert.deepEqual(project(GROUP, fullGroup(), { attributes: ['displayName'] }), { schemas: [GROUP_SCHEMA], id: 'g1', displayName: 'Eng' });
  assert.deepEqual(project(GROUP, fullGroup(), { attributes: ['members.value'] }).members, [{ value: 'u1' }, { value: 'u2' }]);
  // Members whose selected sub-attributes are all absent disappear rather than show as {}.
  assert.deepEqual(project(GROUP, fullGroup(), { attributes: ['members.display'] }).members, [{ display: 'Babs' }]);
  const noMembers = project(GROUP, fullGroup(), { excludedAttributes: ['members'] });
  assert.equal(noMembers.members, undefined);
  assert.equal(noMembers.displayName, 'Eng');
});

test('returned=request attributes appear only when named, and returned=always cannot be excluded', () => {
  const ext = 'urn:example:params:scim:schemas:extension:test:2.0:User';
  const rs: ResourceSchema = {
    resourceType: USER.resourceType,
    core: USER.core,
    extensions: [
      {
        id: ext,
        name: 'Test',
        description: 'test',
        attributes: [
          attr('secretHint', 'string', 'only on request', { returned: 'request' }),
          attr('badge', 'string', 'always', { returned: 'always' }),
          complex('card', 'complex', [attr('number', 'string', 'n'), attr('pin', 'string', 'p', { returned: 'request' }), attr('kind', 'string', 'k', { returned: 'always' })]),
        ],
      },
    ],
  };
  const resource = { schemas: [USER_SCHEMA, ext], id: 'u', userName: 'a', [ext]: { secretHint: 'h', badge: 'b', card: { number: '1', pin: '9', kind: 'visa' } } };
  assert.deepEqual(project(rs, resource, {})[ext], { badge: 'b', card: { number: '1', kind: 'visa' } });
  assert.deepEqual(project(rs, resource, { attributes: [`${ext}:secretHint`] })[ext], { secretHint: 'h', badge: 'b' });
  assert.deepEqual(project(rs, resource, { attributes: [`${ext}:card.pin`] })[ext], { badge: 'b', card: { pin: '9', kind: 'visa' } });
  assert.deepEqual(project(rs, resource, { excludedAttributes: [`${ext}:badge`, `${ext}:card.kind`, `${ext}:card.number`] })[ext], { badge: 'b', card: { kind: 'visa' } });
  // Naming the whole extension brings its default attributes, not the request-only ones.
  assert.deepEqual(project(rs, resource, { attributes: [ext] })[ext], { badge: 'b', card: { number: '1', kind: 'visa' } });
});

test('needsRelations tells the store whether to load memberships', () => {
  assert.equal(needsRelations(GROUP, {}), true);
  assert.equal(needsRelations(GROUP, { excludedAttributes: ['members'] }), false);
  assert.equal(needsRelations(GROUP, { excludedAttributes: ['MEMBERS'] }), false);
  assert.equal(needsRelations(GROUP, { excludedAttributes: ['members.display'] }), true);
  assert.equal(needsRelations(GROUP, { excludedAttributes: ['members.value', 'members.display', 'members.type', 'members.$ref'] }), false);
  assert.equal(needsRelations(GROUP, { attributes: ['displayName'] }), false);
  assert.equal(needsRelations(GROUP, { attributes: ['displayName', 'members.value'] }), true);
  assert.equal(needsRelations(GROUP, { attributes: [`${GROUP_SCHEMA}:members`] }), true);
  assert.equal(needsRelations(USER, {}), true);
  assert.equal(needsRelations(USER, { attributes: ['userName'] }), false);
  assert.equal(needsRelations(USER, { excludedAttributes: ['groups'] }), false);
  assert.equal(needsRelations(USER, { attributes: ['groups.display'] }), true);
});

test('one Projection serves many resources', () => {
  const projection = new Projection(GROUP, { attributes: ['displayName'] });
  const groups = [fullGroup(), { ...fullGroup(), id: 'g2', displayName: 'Ops' }];
  assert.deepEqual(
    groups.map((g) => projection.apply(g)),
    [
      { schemas: [GROUP_SCHEMA], id: 'g1', displayName: 'Eng' },
      { schemas: [GROUP_SCHEMA], id: 'g2', displayName: 'Ops' },
    ],
  );
});

test('parseAttributeList splits, trims and checks syntax', () => {
  assert.deepEqual(parseAttributeList(undefined), []);
  assert.deepEqual(parseAttributeList(''), []);
  assert.deepEqual(parseAttributeList(' userName , name.givenName,,emails '), ['userName', 'name.givenName', 'emails']);
  assert.deepEqual(parseAttributeList(['userName,displayName', `${ENTERPRISE_USER_SCHEMA}:manager.value`]), ['userName', 'displayName', `${ENTERPRISE_USER_SCHEMA}:manager.value`]);
  assert.deepEqual(parseAttributeList(ENTERPRISE_USER_SCHEMA), [ENTERPRISE_USER_SCHEMA]);
  for (const bad of ['emails[type eq "work"]', 'name.given.name', 'user name', '"userName"']) {
    assert.throws(
      () => parseAttributeList(bad),
      (err: unknown) => err instanceof ScimError && err.status === 400 && err.scimType === 'invalidValue' && err.message.includes('Invalid attribute path'),
      bad,
    );
  }
  assert.throws(() => parseAttributeList([1 as unknown as string]), /must contain strings/);
});
