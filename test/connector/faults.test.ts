/**
 * Quirky and failing sources. After each, either the tables equal the source, or the run failed with a clear
 * message and the stream's cursor did not advance. Run once per destination.
 */
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import type { DestinationUrl } from '../../src/connector/config.ts';
import { HttpError } from '../../src/connector/http.ts';
import { SyncError } from '../../src/connector/sync.ts';
import { FakeProvider, type Fault, type FakeOptions } from './fake-provider.ts';
import {
  assertTablesEqualSource, configFor, DestinationFactory, destinationKinds, sync, TOKEN, withDestination, type DestinationKind,
} from './helpers.ts';

const { kinds, missing } = destinationKinds();
const factory = new DestinationFactory();
after(() => factory.cleanup());

if (missing) it('runs against PostgreSQL under CI', () => assert.fail(missing));

async function setup(t: TestContext, kind: DestinationKind, opts: Partial<FakeOptions> = {}): Promise<{ p: FakeProvider; d: DestinationUrl }> {
  const p = await new FakeProvider({ token: TOKEN, ...opts }).start();
  t.after(() => p.stop());
  p.populate(45, 4, 5);
  return { p, d: await factory.create(kind) };
}

/** Full sync, a round of changes, a second sync: the tables must equal the source after both. */
async function roundTrip(p: FakeProvider, d: DestinationUrl, extra: Record<string, unknown> = {}): Promise<void> {
  const cfg = configFor(p, d, extra);
  await sync(cfg);
  await assertTablesEqualSource(d, p);
  p.updateUser('u-000007', { title: 'Changed' });
  p.deleteUser('u-000012');
  p.addUser();
  p.setMembers(String([...p.groups.keys()][0]), ['u-000001', 'u-000002']);
  await sync(cfg);
  await assertTablesEqualSource(d, p);
}

async function cursorOf(d: DestinationUrl): Promise<{ cursor: string | null; completed: string | null }> {
  const st = (await withDestination(d, (dest) => dest.loadState())).get('users');
  return { cursor: st?.cursor ?? null, completed: st?.lastCompletedAt ?? null };
}

const secondUsersPage: Fault['match'] = ({ path, query }) => path === '/Users' && query.get('startIndex') === '11';

for (const kind of kinds) {
  describe(`quirky sources into ${kind}`, () => {
    const quirks: [string, Partial<FakeOptions>, string?][] = [
      ['numbers sent as strings', { stringNumbers: true }],
      ['a server that caps count below what was asked', { maxCount: 3 }],
      ['no totalResults', { totalResults: 'missing' }],
      ['a wrong (too small) totalResults', { totalResults: 'wrong' }],
      ['a meta.lastModified filter refused with 400 invalidFilter', { filter: 'invalidFilter' }, 'full'],
      ['a filter that is silently ignored', { filter: 'ignored' }, 'full'],
      ['RFC 9865 cursor paging', { cursorPaging: true }],
      ['a missing ServiceProviderConfig', { serviceProviderConfig: 'missing' }],
      ['a ServiceProviderConfig that is not JSON', { serviceProviderConfig: 'broken' }],
      ['attributes= not honoured', { projection: false }],
      ['announced rate limits (pacing) and 429s past them', { rateLimit: 20 }],
    ];
    for (const [label, opts, strategy] of quirks) {
      it(`copies the source exactly with ${label}`, async (t) => {
        const { p, d } = await setup(t, kind, opts);
        await roundTrip(p, d);
        const st = await withDestination(d, (dest) => dest.loadState());
        assert.equal(st.get('users')?.strategy, strategy ?? 'incremental');
        if (opts.cursorPaging) {
          assert.ok(p.listRequests().some((r) => r.query.has('cursor') && r.query.get('cursor') !== ''), 'pages were requested by cursor');
          assert.ok(!p.listRequests().some((r) => r.query.has('startIndex')), 'no startIndex was sent');
        }
      });
    }

    it('a server that ignores startIndex stops the stream with a clear error instead of looping, and the cursor stays', async (t) => {
      const { p, d } = await setup(t, kind, { ignoreStartIndex: true });
      const cfg = configFor(p, d);
      await assert.rejects(sync(cfg), (err: Error) => {
        assert.ok(err instanceof SyncError);
        assert.match(err.message, /users: the server sent the same 10 records again for startIndex 11; it appears to ignore startIndex/);
        return true;
      });
      assert.ok(p.listRequests().length < 10, 'it stopped at once');
      assert.deepEqual(await cursorOf(d), { cursor: null, completed: null });
      const rows = await withDestination(d, (dest) => dest.readRows('users'));
      assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'no duplicates');
    });

    it('a server that ignores startIndex but fits on one page is read completely', async (t) => {
      const p = await new FakeProvider({ token: TOKEN, ignoreStartIndex: true }).start();
      t.after(() => p.stop());
      p.populate(8, 1, 3);
      const d = await factory.create(kind);
      await roundTrip(p, d);
    });
  });

  describe(`failing sources into ${kind}`, () => {
    const recoverable: [string, Omit<Fault, 'match'>, Record<string, unknown>?][] = [
      ['429 with Retry-After in seconds', { kind: 'retryAfterSeconds', times: 2 }],
      ['429 with Retry-After as an HTTP date', { kind: 'retryAfterDate', times: 1 }],
      ['a burst of 500s', { kind: 'status', status: 500, times: 3 }],
      ['502 and 503 from a proxy', { kind: 'status', status: 503, times: 2, body: { message: 'upstream unavailable' } }],
      ['a response slower than the timeout', { kind: 'slow', ms: 1500, times: 1 }],
      ['dropped connections', { kind: 'destroy', times: 2 }],
      ['malformed JSON', { kind: 'malformed', times: 2 }],
    ];
    for (const [label, fault] of recoverable) {
      it(`retries through ${label}`, async (t) => {
        const { p, d } = await setup(t, kind);
        p.inject({ ...fault, match: secondUsersPage });
        const cfg = configFor(p, d, { retry_attempts: 3 });
        const summary = await sync(cfg, { timeoutMs: 400 });
        assert.ok(summary.retries >= fault.times, `retried (${summary.retries})`);
        if (fault.kind.startsWith('retryAfter')) assert.equal(summary.throttled, fault.times);
        await assertTablesEqualSource(d, p);
        const hits = p.requests.filter((r) => r.path === '/Users' && r.query.get('startIndex') === '11');
        assert.equal(hits.length, fault.times + 1, 'each fault cost exactly one retry');
      });
    }

    it('fails with a clear message when 500s outlast the retries, keeps the cursor, and resumes at the failed page', async (t) => {
      const { p, d } = await setup(t, kind);
      const cfg = configFor(p, d, { retry_attempts: 2 });
      await sync(cfg);
      const before = await cursorOf(d);
      p.addUser();
      p.inject({ kind: 'status', status: 500, times: 3, body: { detail: 'database on fire' }, match: ({ path, query }) => path === '/Users' && query.get('startIndex') === '21' });
      await assert.rejects(sync(cfg), (err: Error) => {
        assert.ok(err instanceof HttpError);
        assert.match(err.message, /GET \/Users\?.*startIndex=21.* failed after 3 attempts: 500 Internal Server Error: database on fire/);
        return true;
      });
      assert.deepEqual(await cursorOf(d), before, 'the cursor did not advance');
      p.requests.length = 0;
      await sync(cfg);
      const firstUsersPage = p.listRequests().find((r) => r.path === '/Users' && r.query.has('startIndex') && r.query.get('count') !== '1');
      assert.equal(firstUsersPage?.query.get('startIndex'), '21', 'the next run resumed at the page that failed');
      await assertTablesEqualSource(d, p);
    });

    it('fails at once on 400, with the SCIM detail and scimType', async (t) => {
      const { p, d } = await setup(t, kind);
      p.inject({
        kind: 'status', status: 400, times: 1, match: secondUsersPage,
        body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', scimType: 'invalidValue', detail: 'count is out of range' },
      });
      await assert.rejects(sync(configFor(p, d)), /failed: 400 Bad Request: count is out of range \(scimType invalidValue\)/);
      assert.equal(p.requests.filter((r) => r.path === '/Users' && r.query.get('startIndex') === '11').length, 1, 'not retried');
      assert.deepEqual(await cursorOf(d), { cursor: null, completed: null });
    });

    it("fails at once on 403 with Contentstack's error_message", async (t) => {
      const { p, d } = await setup(t, kind);
      p.inject({ kind: 'status', status: 403, times: 1, match: secondUsersPage, body: { error_message: 'You are not allowed to read users of this organization', error_code: 161 } });
      await assert.rejects(sync(configFor(p, d)), /403 Forbidden: You are not allowed to read users of this organization/);
      assert.equal(p.requests.filter((r) => r.path === '/Users' && r.query.get('startIndex') === '11').length, 1);
    });

    it('fails at once on 401 and never repeats the token, even when the server echoes it', async (t) => {
      const { p, d } = await setup(t, kind, { echoCredentials: true });
      p.opts.token = 'a-different-token';
      const err = await sync(configFor(p, d)).then(() => null, (e: Error) => e);
      assert.ok(err instanceof HttpError);
      assert.match(err.message, /401 Unauthorized: invalid credentials: Bearer \[redacted\]/);
      assert.ok(!err.message.includes(TOKEN));
      assert.equal(p.requests.length, 1, 'not retried');
    });

    it('gives up on a Retry-After longer than it is willing to wait', async (t) => {
      const { p, d } = await setup(t, kind);
      p.inject({ kind: 'status', status: 429, times: 1, match: secondUsersPage, headers: { 'retry-after': '7200' }, body: { detail: 'come back later' } });
      await assert.rejects(sync(configFor(p, d)), /429 Too Many Requests: come back later; the server asked to retry after 7200 s/);
    });
  });
}
