/** The HTTP API end to end over loopback: every endpoint, on SQLite and (when available) PostgreSQL. */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  ERROR_SCHEMA,
  GENEROUS,
  GROUP_SCHEMA,
  SEARCH_SCHEMA,
  USER_SCHEMA,
  backends,
  call,
  client,
  group,
  patchOp,
  startHarness,
  user,
} from './helpers.ts';
import type { Harness } from './helpers.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

function assertScimError(res: { status: number; headers: Headers; body: any }, status: number, scimType?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^application\/scim\+json/);
  assert.deepEqual(res.body.schemas, [ERROR_SCHEMA]);
  assert.equal(res.body.status, String(status));
  assert.equal(typeof res.body.detail, 'string');
  if (scimType) assert.equal(res.body.scimType, scimType);
}

for (const backend of backends()) {
  describe(`HTTP API on ${backend}`, () => {
    let h: Harness;
    let api: ReturnType<typeof client>;
    before(async () => {
      // Strict about unknown attributes, so that they are 400s here (the default policy, ignore, is in interop.test.ts).
      h = await startHarness({ backend, settings: { ...GENEROUS, unknownAttributes: 'reject' } });
      api = client(h);
    });
    after(async () => h.close());

    test('POST /Users creates: 201, Location, ETag, meta, application/scim+json', async () => {
      const res = await api('POST', '/Users', {
        body: user('alice@example.com', { name: { givenName: 'Alice', familyName: 'Smith' }, emails: [{ value: 'alice@example.com', type: 'work', primary: true }], password: 'secret-pw' }),
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.headers.get('content-type'), 'application/scim+json; charset=utf-8');
      const id = res.body.id;
      assert.equal(typeof id, 'string');
      assert.equal(res.headers.get('location'), `${h.base}/Users/${id}`);
      assert.equal(res.body.meta.location, `${h.base}/Users/${id}`);
      assert.equal(res.body.meta.resourceType, 'User');
      assert.match(res.body.meta.version, /^W\/"\d+"$/);
      assert.equal(res.headers.get('etag'), res.body.meta.version);
      assert.deepEqual(res.body.schemas, [USER_SCHEMA]);
      assert.equal(res.body.userName, 'alice@example.com');
      assert.equal(res.body.name.givenName, 'Alice');
      assert.equal(res.body.password, undefined, 'password is returned: never');
      assert.ok(!Number.isNaN(Date.parse(res.body.meta.created)));
    });

    test('POST accepts application/json and charset parameters', async () => {
      const res = await call(h.base, 'POST', '/Users', {
        defaultToken: h.token,
        raw: JSON.stringify(user('json-client')),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      assert.equal(res.status, 201);
      const res2 = await call(h.base, 'POST', '/Users', {
        defaultToken: h.token,
        raw: JSON.stringify(user('scim-charset')),
        headers: { 'content-type': 'application/scim+json; charset=UTF-8' },
      });
      assert.equal(res2.status, 201);
    });

    test('GET by id returns the resource with ETag; unknown id is 404', async () => {
      const created = await api('POST', '/Users', { body: user('bob', { displayName: 'Bob' }) });
      const res = await api('GET', `/Users/${created.body.id}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.id, created.body.id);
      assert.equal(res.body.displayName, 'Bob');
      assert.equal(res.headers.get('etag'), created.headers.get('etag'));
      assertScimError(await api('GET', '/Users/does-not-exist'), 404);
      assertScimError(await api('GET', `/Groups/${created.body.id}`), 404);
    });

    test('endpoint names are case-insensitive, under /scim/v2 and /scim/v2.0', async () => {
      const created = await api('POST', '/users', { body: user('casey') });
      assert.equal(created.status, 201);
      for (const path of ['/Users', '/users', '/USERS']) {
        const res = await api('GET', `${path}/${created.body.id}`);
        assert.equal(res.status, 200, path);
      }
      const v20 = await call(`${h.origin}/scim/v2.0/organizations/${h.org.id}`, 'GET', `/Users/${created.body.id}`, { defaultToken: h.token });
      assert.equal(v20.status, 200);
      assert.equal(v20.body.meta.location, `${h.origin}/scim/v2.0/organizations/${h.org.id}/Users/${created.body.id}`);
      assert.equal((await api('GET', '/serviceproviderconfig')).status, 200);
      assert.equal((await api('GET', '/resourcetypes/user')).status, 200);
    });

    test('If-None-Match on GET: 304 when it matches, 200 when not', async () => {
      const created = await api('POST', '/Users', { body: user('inm') });
      const etag = created.headers.get('etag')!;
      const same = await api('GET', `/Users/${created.body.id}`, { headers: { 'if-none-match': etag } });
      assert.equal(same.status, 304);
      assert.equal(same.text, '');
      assert.equal(same.headers.get('etag'), etag);
      const other = await api('GET', `/Users/${created.body.id}`, { headers: { 'if-none-match': 'W/"999999"' } });
      assert.equal(other.status, 200);
    });

    test('ETags cover relations: joining a group, or a member renamed, is a new representation', async () => {
      const created = await api('POST', '/Users', { body: user('etag-member') });
      const id = created.body.id;
      const before = created.headers.get('etag')!;
      const group = await api('POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName: 'etag-group', members: [{ value: id }] } });
      assert.equal(group.status, 201);
      // The user was not written, but its `groups` changed: the old tag no longer matches.
      const joined = await api('GET', `/Users/${id}`, { headers: { 'if-none-match': before } });
      assert.equal(joined.status, 200);
      assert.deepEqual(joined.body.groups.map((g: { value: string }) => g.value), [group.body.id]);
      const tag = joined.headers.get('etag')!;
      assert.notEqual(tag, before);
      assert.equal(joined.body.meta.version, tag);
      assert.equal((await api('GET', `/Users/${id}`, { headers: { 'if-none-match': tag } })).status, 304);
      // A meta.version filter with the served tag finds the resource (the store compares the version).
      const byTag = await api('GET', `/Users?filter=${encodeURIComponent(`meta.version eq ${JSON.stringify(tag)} and userName eq "etag-member"`)}`);
      assert.deepEqual(byTag.body.Resources.map((r: { id: string }) => r.id), [id]);
      // Without the groups in the representation, the tag is the version alone.
      assert.equal((await api('GET', `/Users/${id}?excludedAttributes=groups`, { headers: { 'if-none-match': before } })).status, 304);
      // Writes compare the version: the tag with the groups digest is a valid If-Match.
      const patched = await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'displayName', value: 'Renamed Member' }), headers: { 'if-match': tag } });
      assert.equal(patched.status, 200);
      // The group lists its member's display name, which just changed.
      const groupTag = group.headers.get('etag')!;
      const renamed = await api('GET', `/Groups/${group.body.id}`, { headers: { 'if-none-match': groupTag } });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.members[0].display, 'Renamed Member');
      assert.notEqual(renamed.headers.get('etag'), groupTag);
    });

    test('PUT replaces: 200, new version; If-Match mismatch 412, match succeeds', async () => {
      const created = await api('POST', '/Users', { body: user('carol', { title: 'Engineer', nickName: 'C' }) });
      const id = created.body.id;
      const etag1 = created.headers.get('etag')!;
      const replaced = await api('PUT', `/Users/${id}`, { body: user('carol', { title: 'Manager' }), headers: { 'if-match': etag1 } });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      assert.equal(replaced.body.title, 'Manager');
      assert.equal(replaced.body.nickName, undefined, 'PUT replaces the whole resource');
      assert.notEqual(replaced.headers.get('etag'), etag1);
      assert.equal(replaced.body.meta.version, replaced.headers.get('etag'));
      assert.equal(replaced.body.meta.created, created.body.meta.created);

      const stale = await api('PUT', `/Users/${id}`, { body: user('carol', { title: 'CEO' }), headers: { 'if-match': etag1 } });
      assertScimError(stale, 412);
      // Strong form of the same tag, a list, and `*` all match the current version.
      const current = replaced.headers.get('etag')!;
      const strong = current.replace(/^W\//, '');
      const viaStrong = await api('PUT', `/Users/${id}`, { body: user('carol', { title: 'VP' }), headers: { 'if-match': strong } });
      assert.equal(viaStrong.status, 200);
      const viaList = await api('PUT', `/Users/${id}`, { body: user('carol', { title: 'SVP' }), headers: { 'if-match': `W/"424242", ${viaStrong.headers.get('etag')}` } });
      assert.equal(viaList.status, 200);
      const viaStar = await api('PUT', `/Users/${id}`, { body: user('carol', { title: 'CTO' }), headers: { 'if-match': '*' } });
      assert.equal(viaStar.status, 200);
      assertScimError(await api('PUT', `/Users/${id}`, { body: user('carol'), headers: { 'if-match': '"garbage"' } }), 412);
      assertScimError(await api('PUT', '/Users/nope', { body: user('carol') }), 404);
    });

    test('PATCH users: 200 with the resource; If-Match; invalid paths and values', async () => {
      const created = await api('POST', '/Users', { body: user('dave', { active: true }) });
      const id = created.body.id;
      const res = await api('PATCH', `/Users/${id}`, {
        body: patchOp({ op: 'replace', path: 'active', value: false }, { op: 'add', path: 'title', value: 'Ops' }),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.active, false);
      assert.equal(res.body.title, 'Ops');
      assert.equal(res.headers.get('etag'), res.body.meta.version);
      assertScimError(
        await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'title', value: 'x' }), headers: { 'if-match': created.headers.get('etag')! } }),
        412,
      );
      assertScimError(await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'noSuchAttribute', value: 'x' }) }), 400, 'invalidPath');
      assertScimError(await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'remove', path: 'emails[type eq "work"]' }) }), 400, 'noTarget');
      assertScimError(await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'id', value: 'x' }) }), 400, 'mutability');
      assertScimError(await api('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: 'yes please' }) }), 400, 'invalidValue');
      assertScimError(await api('PATCH', `/Users/${id}`, { body: { Operations: 'nope' } }), 400);
      assertScimError(await api('PATCH', '/Users/missing', { body: patchOp({ op: 'replace', path: 'title', value: 'x' }) }), 404);
    });

    test('DELETE: 204, then 404; If-Match mismatch 412', async () => {
      const created = await api('POST', '/Users', { body: user('erin') });
      const id = created.body.id;
      assertScimError(await api('DELETE', `/Users/${id}`, { headers: { 'if-match': 'W/"987654"' } }), 412);
      const del = await api('DELETE', `/Users/${id}`, { headers: { 'if-match': created.headers.get('etag')! } });
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      assertScimError(await api('GET', `/Users/${id}`), 404);
      assertScimError(await api('DELETE', `/Users/${id}`), 404);
    });

    test('POST with an existing userName is 409 uniqueness (case-insensitively)', async () => {
      assert.equal((await api('POST', '/Users', { body: user('Unique.Person') })).status, 201);
      assertScimError(await api('POST', '/Users', { body: user('Unique.Person') }), 409, 'uniqueness');
      assertScimError(await api('POST', '/Users', { body: user('unique.person') }), 409, 'uniqueness');
    });

    test('bad bodies are 400: malformed JSON, wrong types, missing required, unknown schema', async () => {
      assertScimError(await api('POST', '/Users', { raw: '{"userName": ' }), 400, 'invalidSyntax');
      assertScimError(await api('POST', '/Users', { raw: '[1,2,3]' }), 400, 'invalidSyntax');
      assertScimError(await api('POST', '/Users', { raw: '' }), 400, 'invalidSyntax');
      assertScimError(await api('POST', '/Users', { body: user('typed', { active: 'maybe' }) }), 400, 'invalidValue');
      assertScimError(await api('POST', '/Users', { body: { schemas: [USER_SCHEMA] } }), 400);
      assertScimError(await api('POST', '/Users', { body: { schemas: ['urn:example:unknown'], userName: 'x' } }), 400);
      assertScimError(await api('POST', '/Users', { raw: '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p","__proto__":{"admin":true}}' }), 400);
    });

    test('Groups: members with $ref, users list their groups, PATCH members answers 204', async () => {
      const u1 = (await api('POST', '/Users', { body: user('member-one') })).body;
      const u2 = (await api('POST', '/Users', { body: user('member-two') })).body;
      const created = await api('POST', '/Groups', { body: group('Engineering', { members: [{ value: u1.id }] }) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const gid = created.body.id;
      assert.equal(created.headers.get('location'), `${h.base}/Groups/${gid}`);
      assert.deepEqual(created.body.schemas, [GROUP_SCHEMA]);
      assert.equal(created.body.members.length, 1);
      assert.equal(created.body.members[0].value, u1.id);
      assert.equal(created.body.members[0].$ref, `${h.base}/Users/${u1.id}`);

      const patched = await api('PATCH', `/Groups/${gid}`, { body: patchOp({ op: 'add', path: 'members', value: [{ value: u2.id }] }) });
      assert.equal(patched.status, 204);
      assert.match(patched.headers.get('etag') ?? '', /^W\/"\d+"$/);
      assert.notEqual(patched.headers.get('etag'), created.headers.get('etag'));

      const fetched = await api('GET', `/Groups/${gid}`);
      assert.deepEqual(fetched.body.members.map((m: any) => m.value).sort(), [u1.id, u2.id].sort());
      const withAttrs = await api('PATCH', `/Groups/${gid}?attributes=members`, {
        body: patchOp({ op: 'remove', path: `members[value eq "${u1.id}"]` }),
      });
      assert.equal(withAttrs.status, 200);
      assert.deepEqual(withAttrs.body.members.map((m: any) => m.value), [u2.id]);

      const member = await api('GET', `/Users/${u2.id}`);
      assert.equal(member.body.groups.length, 1);
      assert.equal(member.body.groups[0].value, gid);
      assert.equal(member.body.groups[0].$ref, `${h.base}/Groups/${gid}`);

      const put = await api('PUT', `/Groups/${gid}`, { body: group('Engineering Team', { members: [] }) });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.displayName, 'Engineering Team');
      assert.equal(put.body.members, undefined);
      assert.equal((await api('DELETE', `/Groups/${gid}`)).status, 204);
    });

    test('list: filter, sort, startIndex/count, totalResults', async () => {
      for (const name of ['list-c', 'list-a', 'list-b', 'list-d']) {
        await api('POST', '/Users', { body: user(name, { title: name === 'list-d' ? 'odd' : 'even' }) });
      }
      const res = await api('GET', `/Users?filter=${encodeURIComponent('userName sw "list-"')}&sortBy=userName&sortOrder=descending&startIndex=2&count=2`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.schemas, [LIST_SCHEMA]);
      assert.equal(res.body.totalResults, 4);
      assert.equal(res.body.startIndex, 2);
      assert.equal(res.body.itemsPerPage, 2);
      assert.deepEqual(res.body.Resources.map((r: any) => r.userName), ['list-c', 'list-b']);

      const eq = await api('GET', `/Users?filter=${encodeURIComponent('userName eq "LIST-A"')}`);
      assert.equal(eq.body.totalResults, 1, 'userName is caseExact false');
      assert.equal(eq.body.Resources[0].userName, 'list-a');
      assert.equal(eq.body.Resources[0].meta.location, `${h.base}/Users/${eq.body.Resources[0].id}`);

      const and = await api('GET', `/Users?filter=${encodeURIComponent('userName sw "list-" and title eq "odd"')}`);
      assert.deepEqual(and.body.Resources.map((r: any) => r.userName), ['list-d']);

      const none = await api('GET', `/Users?filter=${encodeURIComponent('userName eq "nobody-at-all"')}`);
      assert.equal(none.body.totalResults, 0);
      assert.deepEqual(none.body.Resources, []);
    });

    test('list errors: invalidFilter, invalidValue', async () => {
      assertScimError(await api('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
      assertScimError(await api('GET', `/Users?filter=${encodeURIComponent('noSuchAttr eq "x"')}`), 400, 'invalidFilter');
      assertScimError(await api('GET', `/Groups?filter=${encodeURIComponent('userName eq "x"')}`), 400, 'invalidFilter');
      assertScimError(await api('GET', '/Users?count=abc'), 400, 'invalidValue');
      assertScimError(await api('GET', '/Users?sortOrder=sideways'), 400, 'invalidValue');
      assertScimError(await api('GET', '/Users?startIndex=1&cursor='), 400, 'invalidValue');
    });

    test('attributes and excludedAttributes on GET, list and POST', async () => {
      const created = await api('POST', '/Users?attributes=userName', {
        body: user('proj', { displayName: 'Pro J', name: { givenName: 'Pro', familyName: 'J' }, [ENTERPRISE]: { department: 'R&D' } }),
      });
      assert.equal(created.status, 201);
      assert.deepEqual(Object.keys(created.body).sort(), ['id', 'schemas', 'userName']);
      const id = created.body.id;

      const some = await api('GET', `/Users/${id}?attributes=name.givenName,${ENTERPRISE}:department`);
      assert.deepEqual(some.body.name, { givenName: 'Pro' });
      assert.deepEqual(some.body[ENTERPRISE], { department: 'R&D' });
      assert.equal(some.body.displayName, undefined);
      assert.equal(some.body.id, id, 'id is returned: always');
      assert.ok(some.headers.get('etag'), 'ETag even when meta is not returned');

      const without = await api('GET', `/Users/${id}?excludedAttributes=name,meta`);
      assert.equal(without.body.name, undefined);
      assert.equal(without.body.meta, undefined);
      assert.equal(without.body.displayName, 'Pro J');

      const listed = await api('GET', `/Users?filter=${encodeURIComponent(`id eq "${id}"`)}&attributes=displayName`);
      assert.equal(listed.body.Resources.length, 1);
      assert.deepEqual(Object.keys(listed.body.Resources[0]).sort(), ['displayName', 'id', 'schemas']);
      assertScimError(await api('GET', `/Users/${id}?attributes=${encodeURIComponent('bad path!')}`), 400, 'invalidValue');
    });

    test('cursor paging (RFC 9865): nextCursor walks every result exactly once', async () => {
      const names = Array.from({ length: 7 }, (_, i) => `cursor-${String(i).padStart(2, '0')}`);
      for (const name of names) await api('POST', '/Users', { body: user(name) });
      const filter = encodeURIComponent('userName sw "cursor-"');
      const seen: string[] = [];
      let cursor = '';
      for (let page = 0; page < 10; page++) {
        const res = await api('GET', `/Users?filter=${filter}&count=3&cursor=${encodeURIComponent(cursor)}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.totalResults, 7);
        assert.equal(res.body.startIndex, undefined);
        seen.push(...res.body.Resources.map((r: any) => r.userName));
        if (res.body.nextCursor === undefined) break;
        cursor = res.body.nextCursor;
      }
      assert.deepEqual(seen.sort(), names);
    });

    test('POST /Users/.search and /Groups/.search', async () => {
      await api('POST', '/Users', { body: user('searchable-1') });
      await api('POST', '/Groups', { body: group('searchable group') });
      const res = await api('POST', '/Users/.search', {
        body: { schemas: [SEARCH_SCHEMA], filter: 'userName eq "searchable-1"', attributes: ['userName'], count: 5 },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.totalResults, 1);
      assert.deepEqual(Object.keys(res.body.Resources[0]).sort(), ['id', 'schemas', 'userName']);
      const groups = await api('POST', '/groups/.search', { body: { schemas: [SEARCH_SCHEMA], filter: 'displayName eq "searchable group"' } });
      assert.equal(groups.body.totalResults, 1);
      assertScimError(await api('POST', '/Users/.search', { body: { schemas: [SEARCH_SCHEMA], filter: 'userName xx "a"' } }), 400, 'invalidFilter');
      assertScimError(await api('POST', '/Users/.search', { body: { schemas: ['urn:wrong'] } }), 400, 'invalidValue');
    });

    test('root POST /.search spans Users and Groups; pages run across both', async () => {
      await api('POST', '/Users', { body: user('rootsearch-u1', { displayName: 'rootsearch shared' }) });
      await api('POST', '/Users', { body: user('rootsearch-u2', { displayName: 'rootsearch shared' }) });
      await api('POST', '/Groups', { body: group('rootsearch shared') });
      const all = await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], filter: 'displayName eq "rootsearch shared"' } });
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.equal(all.body.totalResults, 3);
      assert.deepEqual(all.body.Resources.map((r: any) => r.meta.resourceType).sort(), ['Group', 'User', 'User']);

      const page2 = await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], filter: 'displayName eq "rootsearch shared"', startIndex: 2, count: 2 } });
      assert.equal(page2.body.totalResults, 3);
      assert.deepEqual(page2.body.Resources.map((r: any) => r.meta.resourceType), ['User', 'Group']);

      // userName exists only on Users, so only Users are searched.
      const onlyUsers = await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], filter: 'userName sw "rootsearch-"' } });
      assert.equal(onlyUsers.body.totalResults, 2);

      const seen: string[] = [];
      let cursor = '';
      for (let i = 0; i < 5; i++) {
        const res = await api('POST', '/.search', { body: { filter: 'displayName eq "rootsearch shared"', count: 1, cursor } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.totalResults, 3);
        seen.push(...res.body.Resources.map((r: any) => r.id));
        if (res.body.nextCursor === undefined) break;
        cursor = res.body.nextCursor;
      }
      assert.equal(new Set(seen).size, 3);
      assertScimError(await api('POST', '/.search', { body: { filter: 'nothingKnown eq 1' } }), 400, 'invalidFilter');
      assertScimError(await api('POST', '/.search', { body: { filter: 'userName eq "x" or nothingKnown eq 1' } }), 400, 'invalidFilter');
    });

    test('root /.search: an attribute a type lacks has no value there (RFC 7644 section 3.4.2.1)', async () => {
      await api('POST', '/Users', { body: user('absent-u1', { title: 'absent-title' }) });
      await api('POST', '/Groups', { body: group('absent group') });
      const search = async (body: Record<string, unknown>) => {
        const res = await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], count: 1000, ...body } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body.Resources.map((r: any) => r.userName ?? r.displayName) as string[];
      };
      assert.deepEqual((await search({ filter: 'userName eq "absent-u1" or displayName eq "absent group"' })).sort(), ['absent group', 'absent-u1']);
      const negated = await search({ filter: 'not (userName eq "absent-u1")' });
      assert.ok(negated.includes('absent group'), 'a Group has no userName, so it is not "absent-u1"');
      assert.ok(!negated.includes('absent-u1'));
      assert.deepEqual(await search({ filter: 'title eq "absent-title" and displayName eq "absent group"' }), [], 'no Group has a title, no User that displayName');

      // sortBy on a User attribute: Users in that order, then Groups in their default order, instead of a 400.
      const sorted = await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], sortBy: 'userName', count: 1000 } });
      assert.equal(sorted.status, 200, JSON.stringify(sorted.body));
      const users = sorted.body.Resources.filter((r: any) => r.meta.resourceType === 'User').map((r: any) => r.userName.toLowerCase());
      assert.deepEqual(users, [...users].sort());
      assert.ok(sorted.body.Resources.some((r: any) => r.meta.resourceType === 'Group'));
      assertScimError(await api('POST', '/.search', { body: { schemas: [SEARCH_SCHEMA], sortBy: 'nothingKnown' } }), 400, 'invalidValue');
    });

    test('/Me: 501 for a token bound to no user; the bound user otherwise', async () => {
      assertScimError(await api('GET', '/Me'), 501);
      const me = await api('POST', '/Users', { body: user('me-user', { title: 'Self' }) });
      const { secret } = await h.store.createToken(h.org.id, { scope: 'read-write', userId: me.body.id });
      const mine = client(h, secret);
      const got = await mine('GET', '/Me');
      assert.equal(got.status, 200);
      assert.equal(got.body.id, me.body.id);
      assert.equal(got.body.meta.location, `${h.base}/Users/${me.body.id}`);
      const patched = await mine('PATCH', '/Me', { body: patchOp({ op: 'replace', path: 'title', value: 'Still me' }) });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.title, 'Still me');
      const put = await mine('PUT', '/Me', { body: user('me-user', { title: 'Replaced' }) });
      assert.equal(put.body.title, 'Replaced');
      assertScimError(await mine('POST', '/Me', { body: user('x') }), 501);
      assert.equal((await mine('DELETE', '/Me')).status, 204);
      // Deleting its User revoked the token (docs/server.md): it is refused, not answered 404.
      assertScimError(await mine('GET', '/Me'), 401);
    });

    test('unknown routes and unsupported methods', async () => {
      assertScimError(await api('GET', '/Widgets'), 404);
      assertScimError(await call(h.origin, 'GET', '/nowhere', {}), 404);
      assertScimError(await api('PUT', '/Schemas'), 501);
      assertScimError(await api('DELETE', '/Users'), 501);
      assertScimError(await api('POST', '/Users/abc', { body: user('x') }), 501);
      const options = await api('OPTIONS', '/Users');
      assertScimError(options, 501);
      assert.match(options.body.detail, /GET, POST/);
      // fetch refuses to send TRACE; node:http does not.
      const trace = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${h.base}/Users`, { method: 'TRACE', headers: { authorization: `Bearer ${h.token}` } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(trace.status, 501, trace.body);
      assert.equal(JSON.parse(trace.body).status, '501');
    });

    test('unsupported content type is 415 with a SCIM body', async () => {
      const res = await call(h.base, 'POST', '/Users', { defaultToken: h.token, raw: 'userName=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(res.status, 415);
      assert.deepEqual(res.body.schemas, [ERROR_SCHEMA]);
      assert.equal(res.body.status, '415');
    });

    test('a compressed body is 415 saying so, not a JSON syntax error', async () => {
      const body = gzipSync(JSON.stringify(user('gzipped')));
      const res = await fetch(`${h.base}/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/scim+json', 'content-encoding': 'gzip' },
        body,
      });
      assert.equal(res.status, 415);
      const error = (await res.json()) as { schemas: string[]; detail: string };
      assert.deepEqual(error.schemas, [ERROR_SCHEMA]);
      assert.match(error.detail, /Content-Encoding.*uncompressed/);
      const plain = await call(h.base, 'POST', '/Users', { defaultToken: h.token, body: user('gzipped'), headers: { 'content-encoding': 'identity' } });
      assert.equal(plain.status, 201);
    });
  });
}
