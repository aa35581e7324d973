/**
 * Who reaches what in the management API: every /api/v1 route refuses a request without a key or a session (the
 * routes are collected as the server registers them, so a new one is covered without editing this test), a setup
 * link reaches its setup page's routes and nothing else, for its organization only, and stops when it expires or
 * is revoked. The console's pages themselves hold no data: they are public, like any sign-in page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.ts';
import { createRateLimiter } from '../../src/server/ratelimit/index.ts';
import type { Organization } from '../../src/store/types.ts';
import { backends, call, eventually, GENEROUS, openTestStore, user } from './helpers.ts';
import type { OpenedStore, Reply } from './helpers.ts';

interface Route {
  readonly method: string;
  readonly url: string;
  readonly access: string | undefined;
}

for (const backend of backends()) {
  describe(`access to the management API (${backend})`, () => {
    let opened: OpenedStore;
    let app: FastifyInstance;
    let origin: string;
    let orgA: Organization;
    let orgB: Organization;
    let linkA: string;
    const routes: Route[] = [];

    before(async () => {
      opened = await openTestStore(backend);
      app = buildServer({ store: opened.store, rateLimiter: createRateLimiter(), limits: { authFailuresPerSecond: 100_000 } });
      // Added before the plugins load, so it sees every route they register.
      app.addHook('onRoute', (route) => {
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        for (const method of methods) if (method !== 'HEAD') routes.push({ method, url: route.url, access: route.config?.managementAccess });
      });
      origin = await app.listen({ host: '127.0.0.1', port: 0 });
      orgA = await opened.store.createOrganization('A', GENEROUS);
      orgB = await opened.store.createOrganization('B', GENEROUS);
      linkA = (await opened.store.createSetupLink(orgA.id, new Date(Date.now() + 3_600_000).toISOString())).secret;
    });
    after(async () => {
      await app.close();
      await opened.cleanup();
    });

    const apiRoutes = () => routes.filter((r) => r.url.startsWith('/api/v1'));
    const concrete = (url: string, orgId: string) => url.replace(':orgId', orgId).replace(/:[A-Za-z]+/g, 'some-id').replace(/\*$/, 'x');
    const send = (route: Route, url: string, token: string | null): Promise<Reply> =>
      call(origin, route.method, `${origin}${url}`, { token, ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} }) });

    test('the routes were collected: organizations, tokens, request log, setup links, events, webhooks, the session and the setup page', () => {
      const urls = new Set(apiRoutes().map((r) => `${r.method} ${r.url}`));
      for (const expected of [
        'GET /api/v1/organizations',
        'POST /api/v1/organizations',
        'PATCH /api/v1/organizations/:orgId/',
        'POST /api/v1/organizations/:orgId/tokens',
        'GET /api/v1/organizations/:orgId/request-log',
        'GET /api/v1/organizations/:orgId/rate-limits',
        'POST /api/v1/organizations/:orgId/setup-links',
        'GET /api/v1/organizations/:orgId/events',
        'POST /api/v1/organizations/:orgId/webhooks/:id/test',
        'DELETE /api/v1/session',
        'GET /api/v1/setup',
        'POST /api/v1/setup/token',
      ]) {
        assert.ok([...urls].some((u) => u === expected || u === expected.replace(/\/$/, '')), `${expected} in ${[...urls].join(', ')}`);
      }
    });

    test('every /api/v1 route but signing in refuses a request without a key or a session (401)', async () => {
      const checked: string[] = [];
      for (const route of apiRoutes()) {
        if (route.access === 'public') continue;
        const url = concrete(route.url, orgA.id);
        const res = await send(route, url, null);
        assert.equal(res.status, 401, `${route.method} ${url}: ${res.text}`);
        assert.equal(res.body.error.code, 'unauthorized');
        checked.push(`${route.method} ${route.url}`);
      }
      assert.ok(checked.length >= 30, `only ${checked.length} routes checked`);
    });

    test("a setup link's secret reaches no route but the setup page's: everything else is 401, for its own organization too", async () => {
      for (const route of apiRoutes()) {
        if (route.access === 'public' || route.access === 'setup-link') continue;
        for (const org of [orgA, orgB]) {
          const url = concrete(route.url, org.id);
          const res = await send(route, url, linkA);
          assert.equal(res.status, 401, `${route.method} ${url} with a setup link: ${res.text}`);
        }
      }
    });

    test('the setup page shows its own organization only, and its token works there and nowhere else', async () => {
      const page = await call(origin, 'GET', `${origin}/api/v1/setup`, { token: linkA });
      assert.equal(page.status, 200, page.text);
      assert.deepEqual(page.body.organization, { id: orgA.id, name: 'A' });
      assert.equal(page.body.scim_base_url, `${origin}/scim/v2/organizations/${orgA.id}`);
      assert.equal(page.body.connected, false);
      assert.ok(!page.text.includes(orgB.id));

      const made = await call(origin, 'POST', `${origin}/api/v1/setup/token`, { token: linkA, body: {} });
      assert.equal(made.status, 201);
      const token = made.body.token as string;
      assert.equal((await call(origin, 'GET', `${origin}/scim/v2/organizations/${orgB.id}/Users`, { token })).status, 403);
      assert.equal((await call(origin, 'POST', `${origin}/scim/v2/organizations/${orgA.id}/Users`, { token, body: user('first@example.com') })).status, 201);
      const connected = await eventually(
        async () => (await call(origin, 'GET', `${origin}/api/v1/setup`, { token: linkA })).body,
        (body) => body.connected === true,
        'the setup page to see the first request',
      );
      assert.ok(connected.first_request_at);

      // A second token replaces the first.
      const again = await call(origin, 'POST', `${origin}/api/v1/setup/token`, { token: linkA, body: {} });
      assert.equal(again.status, 201);
      assert.equal((await call(origin, 'GET', `${origin}/scim/v2/organizations/${orgA.id}/Users`, { token })).status, 401);
      assert.equal((await call(origin, 'GET', `${origin}/scim/v2/organizations/${orgA.id}/Users`, { token: again.body.token })).status, 200);
    });

    test('recent errors reach the setup page in plain words', async () => {
      const wrong = await call(origin, 'GET', `${origin}/scim/v2/organizations/${orgA.id}/Users`, { token: 'pasted-wrong' });
      assert.equal(wrong.status, 401);
      const page = await eventually(
        async () => (await call(origin, 'GET', `${origin}/api/v1/setup`, { token: linkA })).body,
        (body) => body.recent_errors.some((e: { status: number }) => e.status === 401),
        'the 401 on the setup page',
      );
      const error = page.recent_errors.find((e: { status: number }) => e.status === 401);
      assert.match(error.explanation, /token your identity provider sent is not valid/);
      assert.equal(error.request_body, undefined);
    });

    test('keys and sessions do not open the setup routes; a bound key stays in its organization', async () => {
      const keyA = (await opened.store.createManagementKey({ orgId: orgA.id })).secret;
      // The setup routes read a bearer credential as a setup link only.
      assert.equal((await call(origin, 'GET', `${origin}/api/v1/setup`, { token: keyA })).status, 401);
      assert.equal((await call(origin, 'GET', `${origin}/api/v1/organizations/${orgB.id}/request-log`, { token: keyA })).status, 403);
      const listed = await call(origin, 'GET', `${origin}/api/v1/organizations`, { token: keyA });
      assert.deepEqual((listed.body.data as { id: string }[]).map((o) => o.id), [orgA.id]);
      assert.equal((await call(origin, 'POST', `${origin}/api/v1/organizations`, { token: keyA, body: { name: 'C' } })).status, 403);
    });

    test('a revoked or expired link opens nothing', async () => {
      const revoked = await opened.store.createSetupLink(orgA.id, new Date(Date.now() + 3_600_000).toISOString());
      assert.equal((await call(origin, 'GET', `${origin}/api/v1/setup`, { token: revoked.secret })).status, 200);
      await opened.store.revokeSetupLink(orgA.id, revoked.link.id);
      assert.equal((await call(origin, 'GET', `${origin}/api/v1/setup`, { token: revoked.secret })).status, 401);
      assert.equal((await call(origin, 'POST', `${origin}/api/v1/setup/token`, { token: revoked.secret, body: {} })).status, 401);

      const expiring = await opened.store.createSetupLink(orgA.id, new Date(Date.now() + 1500).toISOString());
      assert.equal((await call(origin, 'GET', `${origin}/api/v1/setup`, { token: expiring.secret })).status, 200);
      await eventually(async () => (await call(origin, 'GET', `${origin}/api/v1/setup`, { token: expiring.secret })).status, (s) => s === 401, 'the link to expire');
      assert.equal((await call(origin, 'POST', `${origin}/api/v1/setup/token`, { token: expiring.secret, body: {} })).status, 401);
    });

    test('the console pages carry the security headers and hold no data', async () => {
      for (const path of ['/admin', '/admin/orgs/x/users', '/admin/setup']) {
        const res = await fetch(`${origin}${path}`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'; style-src 'self'.*frame-ancestors 'none'/);
        assert.equal(res.headers.get('x-frame-options'), 'DENY');
        assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        const html = await res.text();
        assert.ok(!html.includes(orgA.id) && !/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no data and no inline script');
        // The page names its icon, so the browser does not ask for /favicon.ico (a SCIM 404) on every load.
        const icon = /<link rel="icon" href="([^"]+)"/.exec(html)?.[1];
        assert.match(icon ?? '', /^\/admin\/assets\/favicon-[\w-]+\.svg$/, path);
        const served = await fetch(`${origin}${icon}`);
        assert.equal(served.status, 200);
        assert.equal(served.headers.get('content-type'), 'image/svg+xml');
        assert.equal(served.headers.get('x-frame-options'), 'DENY');
      }
    });

    test('a malformed URL under /admin is refused with the console security headers too', async () => {
      for (const path of ['/admin/%zz', '/ADMIN/orgs/%E0%A4%A']) {
        const res = await fetch(`${origin}${path}`);
        assert.equal(res.status, 400, path);
        assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/, path);
        assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      }
    });
  });
}
