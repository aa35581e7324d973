/**
 * Provisioning events end to end: SCIM writes over HTTP, read back through the events API with a management key,
 * on SQLite and PostgreSQL. Every event type; none for failed or no-op writes; the cursor under concurrent writes;
 * long polling; every error of the API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACME, ACME_DOCUMENT, USER_SCHEMA, backends, call, client, group, patchOp, startHarness, user } from './helpers.ts';
import { parseSchemaDocument } from '../../src/scim/schema/declare.ts';
import type { Harness } from './helpers.ts';
import type { SqlStore } from '../../src/store/index.ts';

interface Envelope {
  id: string;
  type: string;
  organization_id: string;
  sequence: number;
  occurred_at: string;
  data: Record<string, any>;
  previous?: Record<string, unknown>;
}

function api(h: Harness, key: string) {
  return (method: string, path: string, options: { body?: unknown; token?: string | null } = {}) =>
    call(`${h.origin}/api/v1`, method, path, { defaultToken: key, token: options.token, body: options.body, headers: options.body !== undefined ? { 'content-type': 'application/json' } : {} });
}

for (const backend of backends()) {
  describe(`provisioning events (${backend})`, () => {
    let h: Harness;
    let key: string;
    let scim: ReturnType<typeof client>;
    let events: ReturnType<typeof api>;
    /** The cursor after the last event a test looked at. */
    let cursor = '0';

    before(async () => {
      h = await startHarness({ backend });
      key = (await h.store.createManagementKey({ orgId: h.org.id })).secret;
      scim = client(h);
      events = api(h, key);
    });
    after(async () => h?.close());

    /** The events committed since the last call. */
    async function fresh(): Promise<Envelope[]> {
      const res = await events('GET', `/organizations/${h.org.id}/events?after=${cursor}&limit=1000`);
      assert.equal(res.status, 200, res.text);
      cursor = res.body.next_cursor;
      return res.body.data as Envelope[];
    }

    test('user lifecycle: created, updated with previous, deactivated, reactivated, deleted; never a password', async () => {
      const created = await scim('POST', '/Users', { body: user('ada@example.com', { password: 'S3cret-pass!', name: { givenName: 'Ada' }, active: true }) });
      assert.equal(created.status, 201);
      const id = created.body.id;
      let list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['user.created']);
      const [c] = list;
      assert.match(c.id, /^evt_[0-9a-f]{32}$/);
      assert.equal(c.organization_id, h.org.id);
      assert.match(c.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(c.data.id, id);
      assert.equal(c.data.userName, 'ada@example.com');
      assert.equal(c.data.meta.location, `${h.base}/Users/${id}`);
      assert.equal(c.data.meta.version, 'W/"1"');
      assert.equal(c.previous, undefined);
      assert.ok(!JSON.stringify(c).includes('assword'), 'no password in the event');

      await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'name.givenName', value: 'Augusta' }) });
      await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: false }) });
      await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: true }) });
      await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'password', value: 'An0ther-pass!' }) });
      list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['user.updated', 'user.deactivated', 'user.reactivated', 'user.updated']);
      assert.deepEqual(list[0].previous, { name: { givenName: 'Ada' } });
      assert.equal(list[0].data.name.givenName, 'Augusta');
      assert.deepEqual(list[1].previous, { active: true });
      assert.equal(list[1].data.active, false);
      assert.deepEqual(list[2].previous, { active: false });
      // A password change is an update whose previous never shows the password.
      assert.deepEqual(list[3].previous, {});
      assert.ok(!JSON.stringify(list).includes('assword'));
      for (let i = 1; i < list.length; i++) assert.equal(list[i].sequence, list[i - 1].sequence + 1);

      // PUT: the comparison decides, so a PUT that changes a title is an update naming only the title.
      const put = await scim('PUT', `/Users/${id}`, { body: user('ada@example.com', { name: { givenName: 'Augusta' }, active: true, title: 'Countess' }) });
      assert.equal(put.status, 200);
      list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['user.updated']);
      assert.deepEqual(list[0].previous, { title: null });

      assert.equal((await scim('DELETE', `/Users/${id}`)).status, 204);
      list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['user.deleted']);
      assert.equal(list[0].data.id, id);
      assert.equal(list[0].data.userName, 'ada@example.com');
    });

    test('groups and membership: created with members, member added/removed, renamed, deleted; no member list in group events', async () => {
      const a = (await scim('POST', '/Users', { body: user('a@example.com', { displayName: 'Anna' }) })).body.id;
      const b = (await scim('POST', '/Users', { body: user('b@example.com') })).body.id;
      const c = (await scim('POST', '/Users', { body: user('c@example.com') })).body.id;
      await fresh();
      const g = await scim('POST', '/Groups', { body: group('Engineering', { members: [{ value: a }, { value: b }] }) });
      assert.equal(g.status, 201);
      const gid = g.body.id;
      let list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['group.created', 'group.member_added', 'group.member_added']);
      assert.equal(list[0].data.displayName, 'Engineering');
      assert.equal(list[0].data.members, undefined, 'group events never embed the member list');
      const added = list.slice(1).map((e) => e.data);
      assert.deepEqual(
        added.find((d) => d.member.value === a),
        { group: { id: gid, displayName: 'Engineering' }, member: { type: 'User', value: a, display: 'Anna' } },
      );
      assert.equal(added.find((d) => d.member.value === b)?.member.display, 'b@example.com');

      // Adding a member already there, and removing one that is not, change nothing: no events.
      assert.equal((await scim('PATCH', `/Groups/${gid}`, { body: patchOp({ op: 'add', path: 'members', value: [{ value: a }] }) })).status, 204);
      assert.deepEqual(await fresh(), []);

      await scim('PATCH', `/Groups/${gid}`, { body: patchOp({ op: 'add', path: 'members', value: [{ value: c }] }, { op: 'remove', path: `members[value eq "${a}"]` }) });
      list = await fresh();
      assert.deepEqual(new Set(list.map((e) => `${e.type}:${e.data.member.value}`)), new Set([`group.member_added:${c}`, `group.member_removed:${a}`]));

      // PUT with a member list: only the difference makes events.
      await scim('PUT', `/Groups/${gid}`, { body: group('Engineering', { members: [{ value: b }, { value: a }] }) });
      list = await fresh();
      assert.deepEqual(new Set(list.map((e) => `${e.type}:${e.data.member.value}`)), new Set([`group.member_removed:${c}`, `group.member_added:${a}`]));

      await scim('PATCH', `/Groups/${gid}`, { body: patchOp({ op: 'replace', path: 'displayName', value: 'Platform' }) });
      list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['group.updated']);
      assert.deepEqual(list[0].previous, { displayName: 'Engineering' });

      // Deleting a member user: a member_removed for each group it was in, then user.deleted.
      await scim('DELETE', `/Users/${b}`);
      list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['group.member_removed', 'user.deleted']);
      assert.deepEqual(list[0].data, { group: { id: gid, displayName: 'Platform' }, member: { type: 'User', value: b, display: 'b@example.com' } });

      // Deleting a group: group.deleted alone stands for all its memberships.
      await scim('DELETE', `/Groups/${gid}`);
      list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['group.deleted']);
    });

    test('no event for failed or no-op writes: 400, 404, 409, 412, failed Bulk operations, a PATCH or PUT that changes nothing', async () => {
      const u = await scim('POST', '/Users', { body: user('same@example.com', { title: 'X' }) });
      const id = u.body.id;
      await fresh();
      assert.equal((await scim('POST', '/Users', { body: user('same@example.com') })).status, 409);
      assert.equal((await scim('POST', '/Users', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'] } })).status, 400);
      assert.equal((await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'title', value: 'Y' }), headers: { 'if-match': 'W/"99"' } })).status, 412);
      assert.equal((await scim('DELETE', `/Users/${id}`, { headers: { 'if-match': 'W/"99"' } })).status, 412);
      assert.equal((await scim('PATCH', '/Users/no-such-id', { body: patchOp({ op: 'replace', path: 'title', value: 'Y' }) })).status, 404);
      assert.equal((await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'userName', value: 42 }) })).status, 400);
      // No-ops: the same value again, and a PUT of what is stored.
      assert.equal((await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'title', value: 'X' }) })).status, 200);
      assert.equal((await scim('PUT', `/Users/${id}`, { body: user('same@example.com', { title: 'X' }) })).status, 200);
      const bulk = await scim('POST', '/Bulk', {
        body: {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
          Operations: [
            { method: 'POST', path: '/Users', bulkId: 'dup', data: user('same@example.com') },
            { method: 'PATCH', path: '/Users/missing', data: patchOp({ op: 'replace', path: 'title', value: 'Z' }) },
          ],
        },
      });
      assert.equal(bulk.status, 200);
      assert.deepEqual(bulk.body.Operations.map((o: { status: string }) => o.status), ['409', '404']);
      assert.deepEqual(await fresh(), []);
      // A successful Bulk operation next to a failing one has its event.
      const mixed = await scim('POST', '/Bulk', {
        body: {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
          Operations: [
            { method: 'POST', path: '/Users', bulkId: 'ok', data: user('bulk-ok@example.com') },
            { method: 'POST', path: '/Users', bulkId: 'bad', data: user('same@example.com') },
          ],
        },
      });
      assert.deepEqual(mixed.body.Operations.map((o: { status: string }) => o.status), ['201', '409']);
      assert.deepEqual((await fresh()).map((e) => [e.type, e.data.userName]), [['user.created', 'bulk-ok@example.com']]);
    });

    test('a PATCH adding 300 members writes 300 member_added events in its transaction', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) ids.push((await scim('POST', '/Users', { body: user(`m${i}@example.com`) })).body.id);
      const g = (await scim('POST', '/Groups', { body: group('Big') })).body.id;
      await fresh();
      const res = await scim('PATCH', `/Groups/${g}`, { body: patchOp({ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }) });
      assert.equal(res.status, 204);
      const list = await fresh();
      assert.equal(list.length, 300);
      assert.ok(list.every((e) => e.type === 'group.member_added' && e.data.group.id === g));
      assert.deepEqual(new Set(list.map((e) => e.data.member.value)), new Set(ids));
      // One transaction: the events share one occurred_at and have consecutive sequences.
      assert.equal(new Set(list.map((e) => e.occurred_at)).size, 1);
      assert.equal(list[299].sequence - list[0].sequence, 299);
      // A PATCH that fails halfway (an unknown member after known ones) leaves none.
      const more = (await scim('POST', '/Users', { body: user('more@example.com') })).body.id;
      await fresh();
      const bad = await scim('PATCH', `/Groups/${g}`, { body: patchOp({ op: 'add', path: 'members', value: [{ value: more }, { value: 'nobody' }] }) });
      assert.equal(bad.status, 400);
      assert.deepEqual(await fresh(), []);
    });

    test('the cursor never skips or repeats an event while writes commit concurrently', async () => {
      const start = (await events('GET', `/organizations/${h.org.id}/events?after=${cursor}&limit=1`)).body;
      let position: string = start.data.length ? String(start.data[0].sequence - 1) : start.next_cursor;
      const seen: Envelope[] = [];
      let writing = true;
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 25; i++) await scim('POST', '/Users', { body: user(`conc-${w}-${i}@example.com`) });
      });
      const done = Promise.all(writers).then(() => {
        writing = false;
      });
      for (;;) {
        // Whether every write had committed before this read began: only then does an empty page mean the end.
        const allCommitted = !writing;
        const res = await events('GET', `/organizations/${h.org.id}/events?after=${position}&limit=7&types=user.created`);
        assert.equal(res.status, 200);
        seen.push(...res.body.data);
        position = res.body.next_cursor;
        if (allCommitted && res.body.data.length === 0) break;
      }
      await done;
      const mine = seen.filter((e) => String(e.data.userName).startsWith('conc-'));
      assert.equal(mine.length, 100, 'every event exactly once');
      assert.equal(new Set(mine.map((e) => e.id)).size, 100);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].sequence > seen[i - 1].sequence, 'in sequence order');
      cursor = position;
    });

    test('types given more than once filter by each of them, as a comma-separated list does', async () => {
      await scim('POST', '/Users', { body: user('repeated-types@example.com') });
      await scim('POST', '/Groups', { body: group('Repeated types') });
      const listed = await events('GET', `/organizations/${h.org.id}/events?after=${cursor}&types=user.created,group.created`);
      assert.deepEqual(listed.body.data.map((e: Envelope) => e.type), ['user.created', 'group.created']);
      const repeated = await events('GET', `/organizations/${h.org.id}/events?after=${cursor}&types=user.created&types=group.created`);
      assert.equal(repeated.status, 200, repeated.text);
      assert.deepEqual(repeated.body, listed.body);
      const timeline = await events('GET', `/organizations/${h.org.id}/events?order=desc&limit=2&types=user.created&types=group.created`);
      assert.deepEqual(timeline.body.data.map((e: Envelope) => e.type), ['group.created', 'user.created']);
      // Any other parameter given twice, or one the events API does not take, is refused.
      const twice = await events('GET', `/organizations/${h.org.id}/events?after=${cursor}&after=0`);
      assert.equal(twice.status, 400, twice.text);
      assert.equal(twice.body.error.code, 'invalid_parameter');
      const unknown = await events('GET', `/organizations/${h.org.id}/events?cursor=${cursor}`);
      assert.equal(unknown.status, 400, unknown.text);
      assert.match(unknown.body.error.message, /"cursor"/);
      await fresh();
    });

    test('long polling holds the request until an event arrives, and returns an empty page when the wait ends', async () => {
      const end = (await events('GET', `/organizations/${h.org.id}/events?after=${cursor}`)).body.next_cursor;
      const waiting = events('GET', `/organizations/${h.org.id}/events?after=${end}&wait=20`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const created = await scim('POST', '/Users', { body: user('late@example.com') });
      const res = await waiting;
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.data.map((e: Envelope) => e.data.id), [created.body.id]);
      const empty = await events('GET', `/organizations/${h.org.id}/events?after=${res.body.next_cursor}&wait=1`);
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body.data, []);
      assert.equal(empty.body.next_cursor, res.body.next_cursor);
      cursor = res.body.next_cursor;
    });

    test('errors: 401 without or with a bad key, 403 for another organization, 400 for a bad cursor, type, limit or wait, 404 unknown route', async () => {
      const path = `/organizations/${h.org.id}/events`;
      const missing = await events('GET', path, { token: null });
      assert.equal(missing.status, 401);
      assert.deepEqual(Object.keys(missing.body.error).sort(), ['code', 'message', 'status']);
      assert.equal(missing.body.error.status, 401);
      assert.match(missing.headers.get('www-authenticate') ?? '', /Bearer/);
      assert.equal((await events('GET', path, { token: 'smk_not-a-key' })).status, 401);
      // A SCIM token is not a management key.
      assert.equal((await events('GET', path, { token: h.token })).status, 401);

      const other = await h.store.createOrganization('other');
      const otherKey = (await h.store.createManagementKey({ orgId: other.id })).secret;
      const forbidden = await events('GET', path, { token: otherKey });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error.code, 'forbidden');
      // The same 403 for an organization that does not exist, so a bound key cannot probe.
      assert.equal((await events('GET', '/organizations/nope/events', { token: otherKey })).status, 403);
      // A key for every organization reaches both, and gets 404 for one that does not exist.
      const globalKey = (await h.store.createManagementKey({ orgId: null })).secret;
      assert.equal((await events('GET', path, { token: globalKey })).status, 200);
      assert.equal((await events('GET', `/organizations/${other.id}/events`, { token: globalKey })).status, 200);
      assert.equal((await events('GET', '/organizations/nope/events', { token: globalKey })).status, 404);

      for (const [query, code] of [
        ['after=abc', 'invalid_cursor'],
        ['after=-1', 'invalid_cursor'],
        ['after=999999999', 'invalid_cursor'],
        ['types=user.created,user.exploded', 'invalid_type'],
        ['limit=0', 'invalid_limit'],
        ['limit=5000', 'invalid_limit'],
        ['wait=31', 'invalid_wait'],
        ['wait=soon', 'invalid_wait'],
      ]) {
        const res = await events('GET', `${path}?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error.code, code, query);
        assert.equal(typeof res.body.error.message, 'string');
      }
      const unknown = await events('GET', '/nothing-here');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'not_found');

      // A revoked key stops working at once.
      const { key: revocable, secret } = await h.store.createManagementKey({ orgId: h.org.id });
      assert.equal((await events('GET', path, { token: secret })).status, 200);
      await h.store.revokeManagementKey(revocable.id);
      assert.equal((await events('GET', path, { token: secret })).status, 401);
    });

    test('410 for a cursor older than retention; without after, reading starts at the oldest retained event', async () => {
      const org = await h.store.createOrganization('retained');
      const orgKey = (await h.store.createManagementKey({ orgId: org.id })).secret;
      const ids = await (h.store as SqlStore).bulkCreate(
        org.id,
        'User',
        Array.from({ length: 5 }, (_, i) => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `r${i}` })),
      );
      assert.equal(ids.length, 5);
      const all = await events('GET', `/organizations/${org.id}/events`, { token: orgKey });
      assert.equal(all.body.data.length, 5);
      // Everything before a cutoff in the future is expired: purge in batches of 2.
      const cutoff = new Date(Date.now() + 60_000).toISOString();
      let purged = 0;
      for (let n; (n = await h.store.purgeEvents(org.id, cutoff, 2)) > 0; ) purged += n;
      assert.equal(purged, 5);
      const gone = await events('GET', `/organizations/${org.id}/events?after=2`, { token: orgKey });
      assert.equal(gone.status, 410);
      assert.equal(gone.body.error.code, 'cursor_expired');
      const fromStart = await events('GET', `/organizations/${org.id}/events`, { token: orgKey });
      assert.equal(fromStart.status, 200);
      assert.deepEqual(fromStart.body.data, []);
      assert.equal(fromStart.body.next_cursor, '5');
      await (h.store as SqlStore).bulkCreate(org.id, 'User', [{ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'r5' }]);
      const next = await events('GET', `/organizations/${org.id}/events?after=5`, { token: orgKey });
      assert.deepEqual(next.body.data.map((e: Envelope) => e.sequence), [6]);
    });

    // Last: it declares an extension on the shared organization.
    test("a declared extension's never-returned attributes stay out of events and the directory, like a password", async () => {
      const schema = parseSchemaDocument(ACME_DOCUMENT);
      await h.store.addSchemaExtension(h.org.id, { resourceType: 'User', required: false, schema });
      const created = await scim('POST', '/Users', {
        body: { schemas: [USER_SCHEMA, ACME], userName: 'pinned@example.com', [ACME]: { pin: 'pin-1111', badge: 'B1', door: { room: 'R1', code: 'code-1111' } } },
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.body[ACME], { badge: 'B1', door: { room: 'R1' } });
      const id = created.body.id;
      await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: `${ACME}:pin`, value: 'pin-2222' }) });
      await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: `${ACME}:badge`, value: 'B2' }) });
      const directory = await events('GET', `/organizations/${h.org.id}/users/${id}`);
      assert.equal(directory.status, 200, directory.text);
      assert.deepEqual(directory.body.raw[ACME], { badge: 'B2', door: { room: 'R1' } });
      assert.equal((await scim('DELETE', `/Users/${id}`)).status, 204);
      const list = await fresh();
      assert.deepEqual(list.map((e) => e.type), ['user.created', 'user.updated', 'user.updated', 'user.deleted']);
      assert.deepEqual(list[0].data[ACME], { badge: 'B1', door: { room: 'R1' } });
      // Like a password change: an update whose previous shows nothing.
      assert.deepEqual(list[1].previous, {});
      assert.deepEqual(list[2].previous, { [ACME]: { badge: 'B1', door: { room: 'R1' } } });
      assert.deepEqual(list[3].data[ACME], { badge: 'B2', door: { room: 'R1' } });
      assert.doesNotMatch(JSON.stringify([list, directory.body]), /pin-|code-/);
    });
  });
}
