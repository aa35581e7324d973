/**
 * Roles and the directory API over real HTTP with a management key, on SQLite and PostgreSQL: the worked example of
 * docs/roles.md (Okta group "Engineering" to role `editor`), the flat user shape, filters and cursor paging, and
 * every 400/401/403/404 the roles and directory routes give.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { backends, call, client, group, patchOp, startHarness, user } from './helpers.ts';
import type { Harness } from './helpers.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function api(h: Harness, key: string) {
  return (method: string, path: string, body?: unknown, token?: string | null) =>
    call(`${h.origin}/api/v1/organizations/${h.org.id}`, method, path, {
      defaultToken: key,
      token,
      body,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    });
}

for (const backend of backends()) {
  describe(`roles and directory API (${backend})`, () => {
    let h: Harness;
    let key: string;
    let scim: ReturnType<typeof client>;
    let mgmt: ReturnType<typeof api>;
    const ids: Record<string, string> = {};

    before(async () => {
      h = await startHarness({ backend });
      key = (await h.store.createManagementKey({ orgId: h.org.id })).secret;
      scim = client(h);
      mgmt = api(h, key);
    });
    after(async () => h?.close());

    /** Every event after `cursor`. */
    async function eventsAfter(cursor: string): Promise<{ type: string; data: Record<string, any>; previous?: Record<string, any> }[]> {
      const res = await mgmt('GET', `/events?after=${cursor}&limit=1000`);
      assert.equal(res.status, 200, res.text);
      return res.body.data;
    }

    test('worked example: Okta group "Engineering" maps to editor; others get the default viewer', async () => {
      for (const key of ['admin', 'editor', 'viewer']) {
        const res = await mgmt('POST', '/roles', { key, description: `The ${key} role` });
        assert.equal(res.status, 201, res.text);
        assert.equal(res.body.key, key);
      }
      const settings = await mgmt('PATCH', '/roles', { default_role: 'viewer' });
      assert.equal(settings.status, 200, settings.text);
      assert.deepEqual(settings.body.data.map((r: { key: string }) => r.key), ['admin', 'editor', 'viewer']);
      assert.equal(settings.body.default_role, 'viewer');
      assert.equal(settings.body.next_cursor, null);

      // Okta provisions two users, then pushes the group and its members.
      const alice = await scim('POST', '/Users', {
        body: user('alice@example.com', {
          externalId: '00u1',
          name: { givenName: 'Alice', familyName: 'Ng' },
          displayName: 'Alice Ng',
          emails: [
            { value: 'alice.home@example.net', type: 'home' },
            { value: 'alice@example.com', type: 'work', primary: true },
          ],
          active: true,
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
          [ENTERPRISE]: { employeeNumber: '701', department: 'R&D', costCenter: 'CC-7', manager: { value: 'mgr-1', displayName: 'Grace' } },
        }),
      });
      assert.equal(alice.status, 201, alice.text);
      ids.alice = alice.body.id;
      ids.bob = (await scim('POST', '/Users', { body: user('bob@example.com', { emails: [{ value: 'bob@example.com' }] }) })).body.id;
      const engineering = await scim('POST', '/Groups', { body: group('Engineering', { externalId: '00g1' }) });
      ids.engineering = engineering.body.id;
      const cursor = (await mgmt('GET', '/events?limit=1000')).body.next_cursor;
      assert.equal((await scim('PATCH', `/Groups/${ids.engineering}`, { body: patchOp({ op: 'add', path: 'members', value: [{ value: ids.alice }] }) })).status, 204);
      // No rule yet: alice keeps the default role, and the membership moves nothing.
      assert.deepEqual((await eventsAfter(cursor)).map((e) => e.type), ['group.member_added']);

      const rule = await mgmt('POST', '/role-mappings', { group: { display_name: 'engineering' }, roles: ['editor'] });
      assert.equal(rule.status, 201, rule.text);
      assert.deepEqual(rule.body.group, { display_name: 'engineering' });
      assert.deepEqual(rule.body.roles, ['editor']);
      assert.deepEqual(rule.body.matched_groups, [{ id: ids.engineering, name: 'Engineering' }]);
      const changed = (await eventsAfter(cursor)).filter((e) => e.type === 'user.roles_changed');
      // The events API and webhooks know the type.
      const typed = await mgmt('GET', `/events?after=${cursor}&types=user.roles_changed`);
      assert.equal(typed.status, 200, typed.text);
      assert.deepEqual(typed.body.data.map((e: { type: string }) => e.type), ['user.roles_changed']);
      assert.deepEqual(changed.map((e) => [e.data.user.id, e.data.user.userName, e.data.roles, e.previous]), [[ids.alice, 'alice@example.com', ['editor'], { roles: ['viewer'] }]]);

      const got = await mgmt('GET', `/users/${ids.alice}`);
      assert.equal(got.status, 200, got.text);
      const { raw, created_at, updated_at, ...flat } = got.body;
      assert.deepEqual(flat, {
        id: ids.alice,
        user_name: 'alice@example.com',
        email: 'alice@example.com',
        first_name: 'Alice',
        last_name: 'Ng',
        display_name: 'Alice Ng',
        active: true,
        roles: ['editor'],
        groups: [{ id: ids.engineering, name: 'Engineering' }],
        employee_number: '701',
        cost_center: 'CC-7',
        organization: null,
        division: null,
        department: 'R&D',
        manager: { id: 'mgr-1', display_name: null }, // displayName is readOnly in the schema: the server never stores a client's
      });
      assert.equal(created_at, alice.body.meta.created);
      assert.equal(updated_at, alice.body.meta.lastModified);
      assert.equal(raw.id, ids.alice);
      assert.equal(raw.userName, 'alice@example.com');
      assert.equal(raw.meta.location, `${h.base}/Users/${ids.alice}`);
      assert.equal(raw.groups, undefined, 'raw has no relations: groups are in the flat field');
      const bob = await mgmt('GET', `/users/${ids.bob}`);
      assert.deepEqual([bob.body.roles, bob.body.email, bob.body.first_name, bob.body.manager, bob.body.groups], [['viewer'], 'bob@example.com', null, null, []]);

      const editors = await mgmt('GET', '/users?role=editor');
      assert.deepEqual(editors.body.data.map((u: { id: string }) => u.id), [ids.alice]);
      const viewers = await mgmt('GET', '/users?role=viewer');
      assert.deepEqual(viewers.body.data.map((u: { id: string }) => u.id), [ids.bob]);

      // The group's page shows the roles its rules give; the rule by name stops matching when Okta renames it.
      const groupPage = await mgmt('GET', `/groups/${ids.engineering}`);
      assert.deepEqual([groupPage.body.name, groupPage.body.external_id, groupPage.body.roles], ['Engineering', '00g1', ['editor']]);
      await scim('PATCH', `/Groups/${ids.engineering}`, { body: patchOp({ op: 'replace', path: 'displayName', value: 'Product Engineering' }) });
      assert.deepEqual((await mgmt('GET', `/users/${ids.alice}`)).body.roles, ['viewer']);
      // Naming it by id (or externalId) survives renames.
      const byId = await mgmt('POST', '/role-mappings', { group: { id: ids.engineering }, roles: ['editor'] });
      assert.equal(byId.status, 201, byId.text);
      await scim('PATCH', `/Groups/${ids.engineering}`, { body: patchOp({ op: 'replace', path: 'displayName', value: 'Engineering' }) });
      assert.deepEqual((await mgmt('GET', `/users/${ids.alice}`)).body.roles, ['editor']);
      const listed = await mgmt('GET', '/role-mappings?limit=1');
      assert.equal(listed.body.data.length, 1);
      const second = await mgmt('GET', `/role-mappings?limit=1&after=${listed.body.next_cursor}`);
      assert.deepEqual(second.body.data.map((r: { id: string }) => r.id), [byId.body.id]);
      assert.equal(second.body.next_cursor, null);
      const patched = await mgmt('PATCH', `/role-mappings/${byId.body.id}`, { roles: ['editor', 'admin'] });
      assert.deepEqual(patched.body.roles, ['admin', 'editor']);
      assert.deepEqual((await mgmt('GET', `/users/${ids.alice}`)).body.roles, ['admin', 'editor']);
      assert.equal((await mgmt('DELETE', `/role-mappings/${byId.body.id}`)).status, 204);
      assert.equal((await mgmt('GET', `/role-mappings/${byId.body.id}`)).status, 404);
      assert.deepEqual((await mgmt('GET', `/users/${ids.alice}`)).body.roles, ['editor']);
    });

    test('pages users, groups and members with cursors that keep the first page\'s events_cursor', async () => {
      for (let i = 0; i < 5; i++) ids[`p${i}`] = (await scim('POST', '/Users', { body: user(`page-${i}@example.com`) })).body.id;
      const team = await scim('POST', '/Groups', { body: group('Team', { members: [0, 1, 2, 3, 4].map((i) => ({ value: ids[`p${i}`] })) }) });
      const seen: string[] = [];
      let url = '/users?limit=2';
      let eventsCursor: string | undefined;
      for (;;) {
        const res = await mgmt('GET', url);
        assert.equal(res.status, 200, res.text);
        assert.ok(res.body.data.length <= 2);
        seen.push(...res.body.data.map((u: { id: string }) => u.id));
        eventsCursor ??= res.body.events_cursor;
        assert.equal(res.body.events_cursor, eventsCursor, 'every page carries the first page\'s events position');
        // A write between pages moves the stream, not the pull's position.
        await scim('PATCH', `/Users/${ids.p0}`, { body: patchOp({ op: 'replace', path: 'displayName', value: `P0 ${seen.length}` }) });
        if (res.body.next_cursor === null) break;
        url = `/users?limit=2&after=${res.body.next_cursor}`;
      }
      assert.equal(new Set(seen).size, seen.length, 'no user twice');
      assert.equal(seen.length, (await h.store.listDirectoryUsers(h.org.id, { limit: 1000 })).users.length);
      assert.deepEqual([...seen].sort(), seen, 'ordered by id');

      const members: string[] = [];
      url = `/groups/${team.body.id}/members?limit=2`;
      for (;;) {
        const res = await mgmt('GET', url);
        assert.equal(res.status, 200, res.text);
        members.push(...res.body.data.map((m: { id: string; type: string }) => `${m.type}:${m.id}`));
        if (res.body.next_cursor === null) break;
        url = `/groups/${team.body.id}/members?limit=2&after=${res.body.next_cursor}`;
      }
      assert.deepEqual(members.sort(), [0, 1, 2, 3, 4].map((i) => `user:${ids[`p${i}`]}`).sort());
      const member = (await mgmt('GET', `/groups/${team.body.id}/members?limit=1`)).body.data[0];
      assert.deepEqual(Object.keys(member).sort(), ['active', 'display_name', 'email', 'id', 'type', 'user_name']);
      const groups = await mgmt('GET', '/groups?name=TEAM');
      assert.deepEqual(groups.body.data.map((g: { id: string }) => g.id), [team.body.id]);
      assert.deepEqual((await mgmt('GET', '/groups?external_id=00g1')).body.data.map((g: { id: string }) => g.id), [ids.engineering]);
      const inTeam = await mgmt('GET', `/users?group=${team.body.id}&active=true&limit=1000`);
      assert.equal(inTeam.body.data.length, 5);
      assert.deepEqual((await mgmt('GET', '/users?email=ALICE@example.com')).body.data.map((u: { id: string }) => u.id), [ids.alice]);
      assert.deepEqual((await mgmt('GET', '/users?user_name=Bob@Example.com')).body.data.map((u: { id: string }) => u.id), [ids.bob]);
      await scim('PATCH', `/Users/${ids.p1}`, { body: patchOp({ op: 'replace', path: 'active', value: false }) });
      assert.deepEqual((await mgmt('GET', `/users?group=${team.body.id}&active=false`)).body.data.map((u: { id: string }) => u.id), [ids.p1]);
      assert.deepEqual((await mgmt('GET', `/users/${ids.p1}`)).body.roles, [], 'an inactive user has no roles');
    });

    test('refuses bad input with a clear 400, and unknown things with 404', async () => {
      const expect = async (method: string, path: string, body: unknown, status: number, code: string, message?: RegExp) => {
        const res = await mgmt(method, path, body);
        assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
        assert.equal(res.body.error.code, code, res.text);
        assert.equal(res.body.error.status, status);
        if (message) assert.match(res.body.error.message, message);
      };
      await expect('POST', '/role-mappings', { group: { display_name: 'Sales' }, roles: ['owner'] }, 400, 'unknown_role', /admin, editor, viewer/);
      await expect('POST', '/role-mappings', { group: { display_name: 'ENGINEERING' }, roles: ['viewer'] }, 400, 'duplicate_rule', /already maps/);
      await expect('POST', '/role-mappings', { group: { id: 'no-such-group' }, roles: ['viewer'] }, 400, 'unknown_group');
      await expect('POST', '/role-mappings', { group: {}, roles: ['viewer'] }, 400, 'invalid_group');
      await expect('POST', '/role-mappings', { group: { id: 'a', display_name: 'b' }, roles: ['viewer'] }, 400, 'invalid_group');
      await expect('POST', '/role-mappings', { group: { name: 'Sales' }, roles: ['viewer'] }, 400, 'invalid_group');
      await expect('POST', '/role-mappings', { group: { display_name: 'Sales' }, roles: 'viewer' }, 400, 'invalid_roles');
      await expect('POST', '/role-mappings', { group: { display_name: 'Sales' }, roles: [] }, 400, 'invalid_request');
      await expect('POST', '/role-mappings', { group: { display_name: 'Sales' }, roles: ['viewer'], extra: 1 }, 400, 'invalid_body');
      await expect('PATCH', '/role-mappings/no-such-rule', { roles: ['viewer'] }, 404, 'not_found');
      await expect('DELETE', '/role-mappings/no-such-rule', undefined, 404, 'not_found');
      await expect('POST', '/roles', { key: 'editor' }, 400, 'duplicate_role');
      await expect('POST', '/roles', { key: 'Editor' }, 400, 'conflicting_role');
      await expect('POST', '/roles', { key: 'bad key!' }, 400, 'invalid_role');
      await expect('DELETE', '/roles/editor', undefined, 400, 'role_in_use', /unmap it first/);
      await expect('DELETE', '/roles/viewer', undefined, 400, 'role_in_use', /default role/);
      await expect('DELETE', '/roles/owner', undefined, 404, 'not_found');
      await expect('PATCH', '/roles', { default_role: 'owner' }, 400, 'unknown_role');
      await expect('PATCH', '/roles', { accept_idp_roles: 'yes' }, 400, 'invalid_request');
      await expect('GET', '/users?role=owner', undefined, 400, 'unknown_role', /admin, editor, viewer/);
      await expect('GET', '/users?active=maybe', undefined, 400, 'invalid_filter');
      await expect('GET', '/users?email=', undefined, 400, 'invalid_filter');
      await expect('GET', '/users?after=not-a-cursor!', undefined, 400, 'invalid_cursor');
      await expect('GET', `/users?after=${Buffer.from('["x"]').toString('base64url')}`, undefined, 400, 'invalid_cursor');
      await expect('GET', '/users?limit=0', undefined, 400, 'invalid_limit');
      await expect('GET', '/users?limit=1001', undefined, 400, 'invalid_limit');
      // A parameter a list does not take, or one given twice, is refused rather than read as something else.
      await expect('GET', '/users?cursor=abc', undefined, 400, 'invalid_parameter', /"cursor".*takes limit, after, role/);
      await expect('GET', '/groups/no-such-group/members?page=2', undefined, 400, 'invalid_parameter');
      await expect('GET', '/role-mappings?offset=10', undefined, 400, 'invalid_parameter');
      await expect('GET', '/users?role=editor&role=viewer', undefined, 400, 'invalid_parameter', /"role" is given 2 times/);
      await expect('GET', '/users?role=editor&limit=5&limit=6', undefined, 400, 'invalid_parameter');
      await expect('GET', '/users/no-such-user', undefined, 404, 'not_found');
      await expect('GET', `/users/${ids.engineering}`, undefined, 404, 'not_found');
      await expect('GET', '/groups/no-such-group', undefined, 404, 'not_found');
      await expect('GET', '/groups/no-such-group/members', undefined, 404, 'not_found');
      await expect('GET', `/groups/${ids.alice}/members`, undefined, 404, 'not_found');

      // Without a key, with a wrong one, or with another organization's key.
      assert.equal((await mgmt('GET', '/users', undefined, null)).status, 401);
      assert.equal((await mgmt('GET', '/roles', undefined, 'smk_wrong')).status, 401);
      assert.equal((await mgmt('GET', '/roles', undefined, h.token)).status, 401, 'a SCIM token is not a management key');
      const other = await h.store.createOrganization('other');
      const otherKey = (await h.store.createManagementKey({ orgId: other.id })).secret;
      for (const path of ['/users', `/users/${ids.alice}`, '/groups', '/roles', '/role-mappings']) assert.equal((await mgmt('GET', path, undefined, otherKey)).status, 403, path);
      // A key for every organization reads this one; another organization's directory is its own.
      const global = (await h.store.createManagementKey({ orgId: null })).secret;
      assert.equal((await mgmt('GET', `/users/${ids.alice}`, undefined, global)).status, 200);
      const otherUsers = await call(`${h.origin}/api/v1/organizations/${other.id}`, 'GET', '/users', { defaultToken: global });
      assert.deepEqual(otherUsers.body.data, []);
      assert.equal((await call(`${h.origin}/api/v1/organizations/${other.id}`, 'GET', `/users/${ids.alice}`, { defaultToken: global })).status, 404);
    });
  });
}
