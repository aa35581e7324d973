import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, startHarness } from './helpers.ts';
import type { Harness } from './helpers.ts';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

let h: Harness;
let api: ReturnType<typeof client>;
let seq = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

before(async () => {
  h = await startHarness({ limits: { maxBulkOperations: 20, maxPayloadBytes: 64 * 1024 } });
  api = client(h);
});
after(async () => {
  await h.close();
});

function bulk(Operations: unknown[], extra: Record<string, unknown> = {}) {
  return api('POST', '/Bulk', { body: { schemas: [BULK_REQUEST], ...extra, Operations } });
}

const user = (userName: string) => ({ schemas: [USER], userName });
const group = (displayName: string, members: unknown[] = []) => ({ schemas: [GROUP], displayName, members });

async function memberIds(groupId: string): Promise<string[]> {
  const res = await api('GET', `/Groups/${groupId}`);
  assert.equal(res.status, 200);
  return (res.body.members ?? []).map((m: { value: string }) => m.value).sort();
}

function idFromLocation(location: string): string {
  return decodeURIComponent(location.split('/').pop() as string);
}

test('POSTs resolve bulkId references inside members, also pointing forward in the request', async () => {
  const alice = unique('alice');
  const bob = unique('bob');
  const res = await bulk([
    { method: 'POST', path: '/Groups', bulkId: 'g1', data: group(unique('eng'), [{ value: 'bulkId:u1' }, { value: 'bulkId:u2', type: 'User' }]) },
    { method: 'POST', path: '/Users', bulkId: 'u1', data: user(alice) },
    { method: 'POST', path: '/users', bulkId: 'u2', data: user(bob) },
  ]);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/scim\+json/);
  assert.deepEqual(res.body.schemas, [BULK_RESPONSE]);
  const ops = res.body.Operations;
  assert.deepEqual(ops.map((o: any) => [o.method, o.bulkId, o.status]), [['POST', 'g1', '201'], ['POST', 'u1', '201'], ['POST', 'u2', '201']]);
  for (const op of ops) {
    assert.match(op.version, /^W\/"\d+"$/);
    assert.ok(op.location.startsWith(`${h.base}/`), op.location);
    assert.equal(op.response, undefined);
  }
  assert.match(ops[0].location, /\/Groups\/[^/]+$/);
  const userIds = [idFromLocation(ops[1].location), idFromLocation(ops[2].location)].sort();
  assert.deepEqual(await memberIds(idFromLocation(ops[0].location)), userIds);
  const fetched = await api('GET', `/Users/${idFromLocation(ops[1].location)}`);
  assert.equal(fetched.body.userName, alice);
});

test('PUT, PATCH and DELETE by id, a bulkId in the path, version as If-Match, and per-operation failures', async () => {
  const created = await api('POST', '/Users', { body: user(unique('carol')) });
  assert.equal(created.status, 201);
  const id = created.body.id;
  const version = created.body.meta.version;
  const victim = await api('POST', '/Users', { body: user(unique('dave')) });
  const res = await bulk([
    { method: 'PATCH', path: `/Users/${id}`, version, data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Carol' }] } },
    // The version is stale now: the PATCH above bumped it.
    { method: 'PUT', path: `/Users/${id}`, version, data: { ...user(created.body.userName), displayName: 'stale' } },
    { method: 'POST', path: '/Users', bulkId: 'e', data: user(unique('erin')) },
    { method: 'PATCH', path: '/Users/bulkId:e', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'title', value: 'Eng' }] } },
    { method: 'DELETE', path: `/Users/${victim.body.id}` },
    { method: 'DELETE', path: '/Users/does-not-exist' },
  ]);
  assert.equal(res.status, 200);
  const [patch, put, post, patchByRef, del, delMissing] = res.body.Operations;
  assert.equal(patch.status, '200');
  assert.notEqual(patch.version, version);
  assert.equal(put.status, '412');
  assert.deepEqual(put.response.schemas, [ERROR]);
  assert.equal(put.response.status, '412');
  assert.ok(put.location.endsWith(`/Users/${id}`), 'a failed PUT still names its resource');
  assert.equal(post.status, '201');
  assert.equal(patchByRef.status, '200');
  assert.equal(patchByRef.location, post.location);
  assert.equal(del.status, '204');
  assert.equal(del.version, undefined);
  assert.equal(delMissing.status, '404');
  assert.equal(delMissing.response.status, '404');

  assert.equal((await api('GET', `/Users/${id}`)).body.displayName, 'Carol');
  assert.equal((await api('GET', `/Users/${idFromLocation(post.location)}`)).body.title, 'Eng');
  assert.equal((await api('GET', `/Users/${victim.body.id}`)).status, 404);
});

test('a PATCH adding members by bulkId, and a member list mixing existing ids and references', async () => {
  const existing = await api('POST', '/Users', { body: user(unique('frank')) });
  const g = await api('POST', '/Groups', { body: group(unique('ops')) });
  const res = await bulk([
    {
      method: 'PATCH',
      path: `/Groups/${g.body.id}`,
      data: {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:new' }, { value: existing.body.id }] }],
      },
    },
    { method: 'POST', path: '/Users', bulkId: 'new', data: user(unique('grace')) },
  ]);
  assert.deepEqual(res.body.Operations.map((o: any) => o.status), ['200', '201']);
  assert.deepEqual(await memberIds(g.body.id), [existing.body.id, idFromLocation(res.body.Operations[1].location)].sort());
});

test('a bulkId inside a PATCH path filter is refused with 400 (it used to match nothing, silently); a value list resolves it', async () => {
  const patch = (op: Record<string, unknown>) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [op] });
  const res = await bulk([
    { method: 'POST', path: '/Users', bulkId: 'u1', data: user(unique('ivan')) },
    { method: 'POST', path: '/Groups', bulkId: 'g1', data: group(unique('qa'), [{ value: 'bulkId:u1' }]) },
    { method: 'PATCH', path: '/Groups/bulkId:g1', data: patch({ op: 'remove', path: 'members[value eq "bulkId:u1"]' }) },
    { method: 'PATCH', path: '/Groups/bulkId:g1', data: patch({ op: 'replace', PATH: 'members[value eq "bulkId:u1"].display', value: 'x' }) },
  ]);
  assert.deepEqual(res.body.Operations.map((o: any) => o.status), ['201', '201', '400', '400']);
  for (const refused of res.body.Operations.slice(2)) {
    assert.equal(refused.response.scimType, 'invalidValue');
    assert.match(refused.response.detail, /path filter/);
  }
  const groupId = idFromLocation(res.body.Operations[1].location);
  const userId = idFromLocation(res.body.Operations[0].location);
  assert.deepEqual(await memberIds(groupId), [userId], 'nothing was changed');

  // The form the detail suggests: the reference as a value, which is resolved.
  const again = await bulk([
    { method: 'POST', path: '/Users', bulkId: 'u2', data: user(unique('judy')) },
    { method: 'PATCH', path: `/Groups/${groupId}`, data: patch({ op: 'add', path: 'members', value: [{ value: 'bulkId:u2' }] }) },
    { method: 'PATCH', path: `/Groups/${groupId}`, data: patch({ op: 'remove', path: 'members', value: [{ value: 'bulkId:u2' }] }) },
  ]);
  assert.deepEqual(again.body.Operations.map((o: any) => o.status), ['201', '200', '200']);
  assert.deepEqual(await memberIds(groupId), [userId]);
});

test('circular bulkId references fail with 409, as do operations behind them; independent ones still run', async () => {
  const loner = unique('heidi');
  const res = await bulk([
    { method: 'POST', path: '/Groups', bulkId: 'A', data: group(unique('a'), [{ value: 'bulkId:B', type: 'Group' }]) },
    { method: 'POST', path: '/Groups', bulkId: 'B', data: group(unique('b'), [{ value: 'bulkId:A', type: 'Group' }]) },
    { method: 'POST', path: '/Groups', bulkId: 'C', data: group(unique('c'), [{ value: 'bulkId:A', type: 'Group' }]) },
    { method: 'POST', path: '/Groups', bulkId: 'self', data: group(unique('s'), [{ value: 'bulkId:self', type: 'Group' }]) },
    { method: 'POST', path: '/Users', bulkId: 'ok', data: user(loner) },
  ]);
  assert.equal(res.status, 200);
  const byId = Object.fromEntries(res.body.Operations.map((o: any) => [o.bulkId, o]));
  for (const id of ['A', 'B', 'C', 'self']) {
    assert.equal(byId[id].status, '409', id);
    assert.equal(byId[id].response.status, '409');
    assert.match(byId[id].response.detail, /circular/);
    assert.equal(byId[id].location, undefined, 'a failed POST has no location');
  }
  assert.equal(byId.ok.status, '201');
  const groups = await api('GET', `/Groups?filter=${encodeURIComponent('displayName sw "a-' + process.pid + '"')}`);
  assert.equal(groups.body.totalResults, 0, 'nothing of the cycle was written');
});

test('a reference to a failed POST gives 409; to a bulkId nobody defines, 400', async () => {
  const taken = unique('ivan');
  assert.equal((await api('POST', '/Users', { body: user(taken) })).status, 201);
  const res = await bulk([
    { method: 'POST', path: '/Users', bulkId: 'dup', data: user(taken) },
    { method: 'POST', path: '/Groups', bulkId: 'g', data: group(unique('needs-dup'), [{ value: 'bulkId:dup' }]) },
    { method: 'POST', path: '/Groups', bulkId: 'h', data: group(unique('needs-ghost'), [{ value: 'bulkId:ghost' }]) },
    { method: 'POST', path: '/Nope', bulkId: 'bad', data: user(unique('x')) },
    { method: 'PATCH', path: '/Users/bulkId:bad', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [] } },
  ]);
  const [dup, g, h, bad, patchBad] = res.body.Operations;
  assert.equal(dup.status, '409');
  assert.equal(dup.response.scimType, 'uniqueness');
  assert.equal(g.status, '409');
  assert.match(g.response.detail, /"dup"/);
  assert.equal(h.status, '400');
  assert.equal(h.response.scimType, 'invalidValue');
  assert.match(h.response.detail, /"ghost"/);
  assert.equal(bad.status, '400');
  assert.equal(patchBad.status, '409');
});

test('failOnErrors stops processing after that many errors and reports only what ran', async () => {
  const taken = unique('judy');
  await api('POST', '/Users', { body: user(taken) });
  const later = unique('later');
  const res = await bulk(
    [
      { method: 'POST', path: '/Users', bulkId: 'a', data: user(unique('kim')) },
      { method: 'POST', path: '/Users', bulkId: 'b', data: user(taken) },
      { method: 'POST', path: '/Users', bulkId: 'c', data: user(later) },
    ],
    { failOnErrors: 1 },
  );
  assert.deepEqual(res.body.Operations.map((o: any) => [o.bulkId, o.status]), [['a', '201'], ['b', '409']]);
  const found = await api('GET', `/Users?filter=${encodeURIComponent(`userName eq "${later}"`)}`);
  assert.equal(found.body.totalResults, 0, 'the operation after the stop was not applied');

  const two = await bulk(
    [
      { method: 'DELETE', path: '/Users/missing-1' },
      { method: 'POST', path: '/Users', bulkId: 'ok', data: user(unique('leo')) },
      { method: 'DELETE', path: '/Users/missing-2' },
      { method: 'POST', path: '/Users', bulkId: 'never', data: user(unique('mia')) },
    ],
    { failOnErrors: 2 },
  );
  assert.deepEqual(two.body.Operations.map((o: any) => o.status), ['404', '201', '404']);

  // An unreadable operation counts at its place in the request: what comes before it still runs.
  const first = unique('first-ok');
  const afterBad = unique('after-bad');
  const mixed = await bulk(
    [
      { method: 'POST', path: '/Users', bulkId: 'ok1', data: user(first) },
      { method: 'GET', path: '/Users' },
      { method: 'POST', path: '/Users', bulkId: 'ok2', data: user(afterBad) },
    ],
    { failOnErrors: 1 },
  );
  assert.deepEqual(mixed.body.Operations.map((o: any) => o.status), ['201', '400']);
  assert.equal((await api('GET', `/Users?filter=${encodeURIComponent(`userName eq "${first}"`)}`)).body.totalResults, 1);
  assert.equal((await api('GET', `/Users?filter=${encodeURIComponent(`userName eq "${afterBad}"`)}`)).body.totalResults, 0);

  // Without failOnErrors every operation runs, whatever fails.
  const all = await bulk([
    { method: 'DELETE', path: '/Users/missing-3' },
    { method: 'DELETE', path: '/Users/missing-4' },
    { method: 'POST', path: '/Users', bulkId: 'z', data: user(unique('ned')) },
  ]);
  assert.deepEqual(all.body.Operations.map((o: any) => o.status), ['404', '404', '201']);
});

test('operations that cannot be read fail one by one with 400', async () => {
  const res = await bulk([
    { method: 'GET', path: '/Users' },
    { method: 'POST', path: '/Users', data: user(unique('nobulkid')) },
    { method: 'POST', path: '/Users/abc', bulkId: 'x', data: user(unique('withid')) },
    { method: 'PUT', path: '/Users', data: user(unique('noid')) },
    { method: 'PATCH', path: '/Users/abc' },
    { method: 'DELETE', path: 'Users/abc' },
    'not an object',
    { method: 'POST', path: '/Users', bulkId: 'same', data: user(unique('first')) },
    { method: 'POST', path: '/Users', bulkId: 'same', data: user(unique('second')) },
    { method: 'post', path: '/Users', bulkId: 'lower', data: user(unique('lower')) },
  ]);
  assert.equal(res.status, 200);
  const statuses = res.body.Operations.map((o: any) => o.status);
  assert.deepEqual(statuses, ['400', '400', '400', '400', '400', '400', '400', '201', '400', '201']);
  for (const op of res.body.Operations.filter((o: any) => o.status === '400')) {
    assert.deepEqual(op.response.schemas, [ERROR]);
    assert.equal(typeof op.response.detail, 'string');
  }
  assert.match(res.body.Operations[1].response.detail, /bulkId/);
  assert.match(res.body.Operations[8].response.detail, /more than one/);
});

test('a malformed BulkRequest is refused as a whole', async () => {
  const cases: [unknown, number, string | undefined][] = [
    [{ Operations: [] }, 400, 'invalidSyntax'],
    [{ schemas: [BULK_REQUEST] }, 400, 'invalidSyntax'],
    [{ schemas: [BULK_REQUEST], Operations: {} }, 400, 'invalidSyntax'],
    [{ schemas: [BULK_REQUEST], Operations: [], failOnErrors: 0 }, 400, 'invalidValue'],
    [{ schemas: [BULK_REQUEST], Operations: [], failOnErrors: '1' }, 400, 'invalidValue'],
    [[], 400, 'invalidSyntax'],
  ];
  for (const [body, status, scimType] of cases) {
    const res = await api('POST', '/Bulk', { body });
    assert.equal(res.status, status, JSON.stringify(body));
    assert.deepEqual(res.body.schemas, [ERROR]);
    assert.equal(res.body.scimType, scimType);
  }
  const empty = await bulk([]);
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body.Operations, []);
  const noBody = await api('POST', '/Bulk', { headers: { 'content-type': 'application/scim+json' } });
  assert.equal(noBody.status, 400);
  assert.equal((await api('GET', '/Bulk')).status, 501);
});

test('maxOperations and maxPayloadSize are advertised and enforced with 413', async () => {
  const config = await api('GET', '/ServiceProviderConfig');
  assert.deepEqual(config.body.bulk, { supported: true, maxOperations: 20, maxPayloadSize: 64 * 1024 });

  const names = Array.from({ length: 21 }, () => unique('over'));
  const tooMany = await bulk(names.map((n, i) => ({ method: 'POST', path: '/Users', bulkId: `b${i}`, data: user(n) })));
  assert.equal(tooMany.status, 413);
  assert.deepEqual(tooMany.body.schemas, [ERROR]);
  assert.equal(tooMany.body.status, '413');
  assert.match(tooMany.body.detail, /maxOperations of 20/);
  const none = await api('GET', `/Users?filter=${encodeURIComponent(`userName eq "${names[0]}"`)}`);
  assert.equal(none.body.totalResults, 0, 'nothing of a refused bulk request runs');

  const exactly = await bulk(names.slice(0, 20).map((n, i) => ({ method: 'POST', path: '/Users', bulkId: `b${i}`, data: user(n) })));
  assert.equal(exactly.status, 200);
  assert.equal(exactly.body.Operations.length, 20);

  const big = await bulk([{ method: 'POST', path: '/Users', bulkId: 'big', data: { ...user(unique('big')), displayName: 'x'.repeat(70 * 1024) } }]);
  assert.equal(big.status, 413);
  assert.deepEqual(big.body.schemas, [ERROR]);
  assert.equal(big.body.detail, 'The size of the bulk operation exceeds the maxPayloadSize (65536)');
});

test('a Bulk request counts as one write against the rate limit', async () => {
  const limited = await startHarness({ settings: { writeLimit: 2, readLimit: 100 } });
  try {
    const res = await client(limited)('POST', '/Bulk', {
      body: {
        schemas: [BULK_REQUEST],
        Operations: Array.from({ length: 5 }, (_, i) => ({ method: 'POST', path: '/Users', bulkId: `r${i}`, data: user(unique('rl')) })),
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ratelimit-limit'), '2');
    assert.equal(res.headers.get('x-ratelimit-remaining'), '1');
    assert.deepEqual(res.body.Operations.map((o: any) => o.status), ['201', '201', '201', '201', '201']);
  } finally {
    await limited.close();
  }
});
