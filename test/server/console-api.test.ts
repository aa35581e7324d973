/**
 * The management API as the console uses it, over real HTTP on SQLite and PostgreSQL: operator sign-in (cookie,
 * CSRF, origin, the sign-in limiter, sign-out), organizations and settings, tokens with last use, the request log
 * and rate limits, setup links (and what a link cannot reach), the events timeline and the webhook test event.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/store/passwords.ts';
import { backends, call, client, eventually, GENEROUS, startHarness, user } from './helpers.ts';
import type { Harness, Reply } from './helpers.ts';

const PASSWORD = 'operator password 1';

/** A signed-in operator: the cookie and CSRF token as a browser would keep them. */
interface Operator {
  readonly cookie: string;
  readonly csrf: string;
}

async function api(h: Harness, method: string, path: string, options: { operator?: Operator; key?: string; body?: unknown; headers?: Record<string, string>; csrf?: boolean } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.operator) {
    headers.cookie = options.operator.cookie;
    if (options.csrf !== false) headers['x-csrf-token'] = options.operator.csrf;
  }
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return call(h.origin, method, `${h.origin}/api/v1${path}`, { token: options.key ?? null, body: options.body, headers });
}

async function signIn(h: Harness, email: string, password: string, headers: Record<string, string> = {}): Promise<{ reply: Reply; operator: Operator | null }> {
  const res = await fetch(`${h.origin}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ email, password }) });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  const reply: Reply = { status: res.status, headers: res.headers, body, text };
  const setCookie = res.headers.get('set-cookie');
  if (res.status !== 201 || !setCookie) return { reply, operator: null };
  return { reply, operator: { cookie: setCookie.split(';')[0], csrf: (body as { csrf_token: string }).csrf_token } };
}

for (const backend of backends()) {
  describe(`the console's management API (${backend})`, () => {
    let h: Harness;
    let operator: Operator;
    before(async () => {
      h = await startHarness({ backend, loginLimits: { perAddress: 4, perAccount: 100 }, allowHttpWebhooks: true });
      await h.store.createAdmin('ops@example.com', await hashPassword(PASSWORD));
      const signedIn = await signIn(h, 'OPS@example.com', PASSWORD);
      assert.equal(signedIn.reply.status, 201, signedIn.reply.text);
      operator = signedIn.operator as Operator;
    });
    after(() => h.close());

    test('signing in sets an HttpOnly, SameSite=Strict session cookie (not Secure over http) and answers the CSRF token', async () => {
      const { reply } = await signIn(h, 'ops@example.com', PASSWORD);
      const cookie = reply.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^scimkit_session=sks_[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
      assert.equal(reply.headers.get('cache-control'), 'no-store');
      assert.deepEqual(Object.keys(reply.body as object).sort(), ['admin', 'csrf_token', 'expires_at']);
      const session = await api(h, 'GET', '/session', { operator });
      assert.equal(session.status, 200);
      assert.equal(session.body.admin.email, 'ops@example.com');
      assert.equal(session.body.csrf_token, operator.csrf);
    });

    test('under https (a trusted proxy) the cookie is __Host- and Secure', async () => {
      const proxied = await startHarness({ backend, trustProxy: 'loopback' });
      try {
        await proxied.store.createAdmin('ops@example.com', await hashPassword(PASSWORD));
        const { reply } = await signIn(proxied, 'ops@example.com', PASSWORD, { 'x-forwarded-proto': 'https' });
        assert.equal(reply.status, 201, reply.text);
        assert.match(reply.headers.get('set-cookie') ?? '', /^__Host-scimkit_session=sks_[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
      } finally {
        await proxied.close();
      }
    });

    test('a wrong password or an unknown email is 401 with the same message; nothing is set', async () => {
      const wrong = await signIn(h, 'ops@example.com', 'not the password');
      const unknown = await signIn(h, 'nobody@example.com', PASSWORD);
      for (const { reply } of [wrong, unknown]) {
        assert.equal(reply.status, 401);
        assert.equal(reply.body.error.message, 'The email or the password is wrong');
        assert.equal(reply.headers.get('set-cookie'), null);
      }
    });

    test('a state-changing request without the CSRF token, or from another origin, is refused; with both it works', async () => {
      const noToken = await api(h, 'POST', '/organizations', { operator, csrf: false, body: { name: 'csrf-less' } });
      assert.equal(noToken.status, 403);
      assert.equal(noToken.body.error.code, 'csrf_failed');
      const wrongToken = await api(h, 'POST', '/organizations', { operator, csrf: false, headers: { 'x-csrf-token': 'x'.repeat(43) }, body: { name: 'csrf-wrong' } });
      assert.equal(wrongToken.status, 403);
      const crossSite = await api(h, 'POST', '/organizations', { operator, headers: { origin: 'https://evil.example' }, body: { name: 'cross-site' } });
      assert.equal(crossSite.status, 403);
      assert.ok(!(await h.store.listOrganizations()).some((o) => o.name.startsWith('csrf') || o.name === 'cross-site'));
      const ok = await api(h, 'POST', '/organizations', { operator, headers: { origin: h.origin }, body: { name: 'Beta', read_limit: 50 } });
      assert.equal(ok.status, 201, ok.text);
      assert.equal(ok.body.settings.read_limit, 50);
      assert.equal(ok.body.scim_base_url, `${h.origin}/scim/v2/organizations/${ok.body.id}`);
      // Reads need no CSRF token.
      assert.equal((await api(h, 'GET', '/organizations', { operator, csrf: false })).status, 200);
    });

    test('signing in from another origin is refused (login CSRF)', async () => {
      const { reply } = await signIn(h, 'ops@example.com', PASSWORD, { origin: 'https://evil.example' });
      assert.equal(reply.status, 403);
    });

    test('sign-in attempts are limited per address: past the limit even the right password waits', async () => {
      const limited = await startHarness({ backend, loginLimits: { perAddress: 3, perAccount: 100 } });
      try {
        await limited.store.createAdmin('ops@example.com', await hashPassword(PASSWORD));
        for (let i = 0; i < 3; i++) assert.equal((await signIn(limited, 'ops@example.com', `wrong ${i}`)).reply.status, 401);
        const refused = await signIn(limited, 'ops@example.com', PASSWORD);
        assert.equal(refused.reply.status, 429);
        assert.ok(Number(refused.reply.headers.get('retry-after')) > 0);
        assert.equal(refused.operator, null);
      } finally {
        await limited.close();
      }
    });

    test('organizations: one with its counts and base URL, settings patched and explained', async () => {
      const scim = client(h);
      assert.equal((await scim('POST', '/Users', { body: user('ada@example.com') })).status, 201);
      const one = await api(h, 'GET', `/organizations/${h.org.id}`, { operator });
      assert.equal(one.status, 200);
      assert.equal(one.body.counts.users, 1);
      assert.equal(one.body.counts.groups, 0);
      assert.ok(one.body.counts.events >= 1);
      assert.equal(one.body.settings.compat['op-case'], true);

      const settings = await api(h, 'GET', '/settings', { operator });
      const keys = (settings.body.data as { key: string; description: string }[]).map((s) => s.key);
      for (const key of ['read_limit', 'write_limit', 'unknown_attributes', 'advertise_pagination', 'compat.op-case', 'compat.unquoted-filter-values']) assert.ok(keys.includes(key), key);
      // One line each (a switch's longer text is in `details`).
      for (const s of settings.body.data as { key: string; description: string }[]) {
        assert.ok(s.description.length > 10 && s.description.length <= 130 && !s.description.includes('\n'), `${s.key}: ${s.description}`);
      }

      const patched = await api(h, 'PATCH', `/organizations/${h.org.id}`, {
        operator,
        body: { name: 'Acme Corp', write_limit: 77, compat: { 'op-case': false }, unknown_attributes: 'reject', advertise_pagination: true },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.body.name, 'Acme Corp');
      assert.equal(patched.body.settings.write_limit, 77);
      assert.equal(patched.body.settings.compat['op-case'], false);
      assert.equal(patched.body.settings.unknown_attributes, 'reject');
      assert.equal(patched.body.settings.advertise_pagination, true);
      const stored = await h.store.getOrganization(h.org.id);
      assert.equal(stored?.settings.writeLimit, 77);
      for (const bad of [{ write_limit: 0 }, { compat: { 'no-such-switch': true } }, { unknown_attributes: 'drop' }, { colour: 'red' }]) {
        const refused = await api(h, 'PATCH', `/organizations/${h.org.id}`, { operator, body: bad });
        assert.equal(refused.status, 400, JSON.stringify(bad));
      }
      await api(h, 'PATCH', `/organizations/${h.org.id}`, { operator, body: { ...GENEROUS_JSON, compat: { 'op-case': true }, unknown_attributes: 'ignore', advertise_pagination: false } });
    });

    test('tokens: created with the secret once, listed with last use, revoked', async () => {
      const made = await api(h, 'POST', `/organizations/${h.org.id}/tokens`, { operator, body: { scope: 'read' } });
      assert.equal(made.status, 201, made.text);
      assert.equal(made.body.scope, 'read');
      const secret = made.body.token as string;
      assert.equal((await call(h.base, 'GET', '/Users', { token: secret })).status, 200);
      const listed = await eventually(
        async () => ((await api(h, 'GET', `/organizations/${h.org.id}/tokens`, { operator })).body.data as { id: string; last_used_at: string | null }[]).find((t) => t.id === made.body.id),
        (t) => t?.last_used_at !== null,
        'the token to show its last use',
      );
      assert.ok(!JSON.stringify(listed).includes(secret));
      assert.equal((await api(h, 'DELETE', `/organizations/${h.org.id}/tokens/${made.body.id}`, { operator })).status, 204);
      assert.equal((await call(h.base, 'GET', '/Users', { token: secret })).status, 401);
      assert.equal((await api(h, 'DELETE', `/organizations/${h.org.id}/tokens/no-such-token`, { operator })).status, 404);
    });

    test('a token expiry is any ISO 8601 time (Z, an offset, fractions), kept in UTC; anything else, or the past, is 400', async () => {
      for (const [sent, kept] of [
        ['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.000Z'],
        ['2030-01-01T02:00:00+02:00', '2030-01-01T00:00:00.000Z'],
        ['2030-01-01T00:00:00.5Z', '2030-01-01T00:00:00.500Z'],
        ['2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z'],
      ]) {
        const made = await api(h, 'POST', `/organizations/${h.org.id}/tokens`, { operator, body: { expires_at: sent } });
        assert.equal(made.status, 201, `${sent}: ${made.text}`);
        assert.equal(made.body.expires_at, kept);
        assert.equal((await call(h.base, 'GET', '/Users', { token: made.body.token })).status, 200);
      }
      for (const sent of ['tomorrow', '2030-02-30T00:00:00Z', 42, '2000-01-01T00:00:00Z']) {
        const refused = await api(h, 'POST', `/organizations/${h.org.id}/tokens`, { operator, body: { expires_at: sent } });
        assert.equal(refused.status, 400, `${String(sent)}: ${refused.text}`);
      }
    });

    test('the request log filters by status and pages with next_cursor; rate limits show counters and 429s', async () => {
      const scim = client(h);
      const failed = await scim('POST', '/Users', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'] } });
      assert.equal(failed.status, 400);
      const entry = await eventually(
        async () => ((await api(h, 'GET', `/organizations/${h.org.id}/request-log?status=400`, { operator })).body.data as { request_id: string }[]).find((e) => e.request_id === failed.headers.get('x-request-id')),
        Boolean,
        'the 400 in the request log',
      );
      assert.equal((entry as unknown as { scim_type: string }).scim_type, 'invalidValue');
      const errors = await api(h, 'GET', `/organizations/${h.org.id}/request-log?status=4xx&limit=1`, { operator });
      assert.equal(errors.body.data.length, 1);
      assert.ok(errors.body.data[0].status >= 400 && errors.body.data[0].status < 500);
      assert.ok(errors.body.next_cursor);
      const next = await api(h, 'GET', `/organizations/${h.org.id}/request-log?status=4xx&limit=1&after=${errors.body.next_cursor}`, { operator });
      assert.ok(Number(next.body.data[0].id) < Number(errors.body.data[0].id));
      assert.equal((await api(h, 'GET', `/organizations/${h.org.id}/request-log?status=teapot`, { operator })).status, 400);

      // A tight write limit, then more writes than it allows in one window.
      await api(h, 'PATCH', `/organizations/${h.org.id}`, { operator, body: { write_limit: 1 } });
      const answers = await Promise.all([1, 2, 3].map((i) => scim('POST', '/Users', { body: user(`burst${i}@example.com`) })));
      assert.ok(answers.some((a) => a.status === 429));
      const usage = await eventually(
        async () => (await api(h, 'GET', `/organizations/${h.org.id}/rate-limits`, { operator })).body,
        (u) => u.recent_429s.length > 0,
        'a 429 in the usage',
      );
      assert.equal(usage.write.limit, 1);
      assert.equal(usage.window_seconds, 1);
      assert.equal(usage.recent_429s[0].status, 429);
      await api(h, 'PATCH', `/organizations/${h.org.id}`, { operator, body: GENEROUS_JSON });
    });

    test('the events timeline reads newest first, by resource, and pages back', async () => {
      const scim = client(h);
      const created = await scim('POST', '/Users', { body: user('timeline@example.com') });
      await scim('PATCH', `/Users/${created.body.id}`, { body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] } });
      const mine = await api(h, 'GET', `/organizations/${h.org.id}/events?order=desc&resource_id=${created.body.id}`, { operator });
      assert.equal(mine.status, 200, mine.text);
      assert.deepEqual((mine.body.data as { type: string }[]).map((e) => e.type), ['user.deactivated', 'user.created']);
      const page = await api(h, 'GET', `/organizations/${h.org.id}/events?order=desc&limit=1`, { operator });
      assert.equal(page.body.data.length, 1);
      const older = await api(h, 'GET', `/organizations/${h.org.id}/events?order=desc&limit=1&before=${page.body.next_cursor}`, { operator });
      assert.ok(older.body.data[0].sequence < page.body.data[0].sequence);
      assert.equal((await api(h, 'GET', `/organizations/${h.org.id}/events?order=desc&wait=1`, { operator })).status, 400);
    });

    test('a webhook test event is signed and its answer reported; nothing is stored', async () => {
      const seen: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
      const receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          seen.push({ headers: req.headers, body });
          res.statusCode = seen.length === 1 ? 204 : 500;
          res.end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
        const hook = await api(h, 'POST', `/organizations/${h.org.id}/webhooks`, { operator, body: { url, events: ['user.deleted'] } });
        assert.equal(hook.status, 201, hook.text);
        const secret = hook.body.secret as string;
        const ok = await api(h, 'POST', `/organizations/${h.org.id}/webhooks/${hook.body.id}/test`, { operator, body: {} });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.body.delivered, true);
        assert.equal(ok.body.status, 204);
        const [first] = seen;
        const id = String(first.headers['webhook-id']);
        const timestamp = String(first.headers['webhook-timestamp']);
        const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${first.body}`).digest('base64');
        assert.equal(first.headers['webhook-signature'], `v1,${expected}`);
        assert.equal(JSON.parse(first.body).type, 'webhook.test');

        const failing = await api(h, 'POST', `/organizations/${h.org.id}/webhooks/${hook.body.id}/test`, { operator, body: {} });
        assert.equal(failing.body.delivered, false);
        assert.equal(failing.body.status, 500);
        assert.match(failing.body.error, /answered 500/);
        const deliveries = await api(h, 'GET', `/organizations/${h.org.id}/webhooks/${hook.body.id}/deliveries`, { operator });
        assert.deepEqual(deliveries.body.data, []);
      } finally {
        receiver.close();
      }
    });

    test("an operator's session does not open the setup page's routes", async () => {
      assert.equal((await api(h, 'GET', '/setup', { operator })).status, 403);
      assert.equal((await api(h, 'POST', '/setup/token', { operator, body: {} })).status, 403);
    });

    test('signing out ends the session', async () => {
      const { operator: another } = await signIn(h, 'ops@example.com', PASSWORD);
      assert.ok(another);
      const out = await api(h, 'DELETE', '/session', { operator: another });
      assert.equal(out.status, 204);
      assert.match(out.headers.get('set-cookie') ?? '', /^scimkit_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
      assert.equal((await api(h, 'GET', '/session', { operator: another })).status, 401);
      assert.equal((await api(h, 'GET', '/organizations', { operator: another })).status, 401);
    });
  });
}

const GENEROUS_JSON = { read_limit: GENEROUS.readLimit, write_limit: GENEROUS.writeLimit };
