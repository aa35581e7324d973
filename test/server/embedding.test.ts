/**
 * scimkit inside a host app: the fastify plugin under a prefix the host chooses, and the (req, res) handler under
 * node:http and Express. The host's own routes, hooks, parsers, error handler and 404 must be untouched.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { createScimHandler, type ScimRequestHandler } from '../../src/server/handler.ts';
import { buildServer, scimPlugin, type ScimPluginOptions, type ServerLimits } from '../../src/server/app.ts';
import { newSecretKey, openStore } from '../../src/store/index.ts';
import { createRateLimiter } from '../../src/server/ratelimit/index.ts';
import type { RateLimiter } from '../../src/server/ratelimit/types.ts';
import { call, GENEROUS, openTestStore, user, type OpenedStore } from './helpers.ts';

const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('embedding', () => {
  let opened: OpenedStore;
  let rateLimiter: RateLimiter;
  let orgId: string;
  let token: string;

  before(async () => {
    opened = await openTestStore('sqlite');
    rateLimiter = createRateLimiter();
    const org = await opened.store.createOrganization('acme', GENEROUS);
    orgId = org.id;
    token = (await opened.store.createToken(org.id, { scope: 'read-write' })).secret;
  });
  after(async () => {
    await rateLimiter.close();
    await opened.cleanup();
  });

  describe('the fastify plugin in a host app', () => {
    let app: FastifyInstance;
    let origin: string;
    const hostHookSaw: string[] = [];

    before(async () => {
      app = Fastify();
      // The host's own choices, which registering scimkit must leave as they are.
      app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, { hostParsed: JSON.parse(body as string) }));
      app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => done(null, (body as string).split(',')));
      app.addHook('onRequest', async (request) => {
        hostHookSaw.push(request.url.split('?')[0]);
      });
      app.setErrorHandler((error, _request, reply) => reply.code(418).send({ hostError: (error as Error).message }));
      app.setNotFoundHandler((_request, reply) => reply.code(404).send({ hostNotFound: true }));
      app.post('/api/echo', async (request) => ({ body: request.body }));
      app.get('/api/fail', async () => {
        throw new Error('host route failed');
      });
      await app.register(scimPlugin, { prefix: '/identity', store: opened.store, rateLimiter });
      origin = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(() => app.close());

    test('serves SCIM under the prefix, with links under the prefix', async () => {
      const base = `${origin}/identity/v2/organizations/${orgId}`;
      const created = await call(base, 'POST', '/Users', { defaultToken: token, body: user('ada@example.com') });
      assert.equal(created.status, 201);
      assert.equal(created.headers.get('location'), `${base}/Users/${created.body.id}`);
      assert.match(created.headers.get('x-request-id') ?? '', /./);
      const read = await call(`${origin}/identity/v2.0/organizations/${orgId}`, 'GET', `/Users/${created.body.id}`, { defaultToken: token });
      assert.equal(read.status, 200);
      assert.equal(read.body.userName, 'ada@example.com');
      assert.equal((await call(base, 'GET', '/Users', { token: null })).status, 401);
    });

    test("SCIM errors and 404s under the prefix are SCIM's; elsewhere they are the host's", async () => {
      const base = `${origin}/identity/v2/organizations/${orgId}`;
      const wrongType = await call(base, 'POST', '/Users', { defaultToken: token, raw: 'a,b', headers: { 'content-type': 'text/csv' } });
      assert.equal(wrongType.status, 415);
      assert.deepEqual(wrongType.body.schemas, [SCIM_ERROR]);
      const unknown = await call(origin, 'GET', '/identity/nothing-here');
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body.schemas, [SCIM_ERROR]);

      const hostMissing = await call(origin, 'GET', '/nothing-here');
      assert.equal(hostMissing.status, 404);
      assert.deepEqual(hostMissing.body, { hostNotFound: true });
      const hostFailure = await call(origin, 'GET', '/api/fail');
      assert.equal(hostFailure.status, 418);
      assert.deepEqual(hostFailure.body, { hostError: 'host route failed' });
    });

    test("the host's routes keep the host's parsers, and get none of scimkit's headers", async () => {
      const json = await fetch(`${origin}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      assert.deepEqual(await json.json(), { body: { hostParsed: { a: 1 } } });
      assert.equal(json.headers.get('x-request-id'), null);
      const csv = await fetch(`${origin}/api/echo`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'x,y' });
      assert.deepEqual(await csv.json(), { body: ['x', 'y'] });
      // scimkit's JSON rules (no __proto__ keys) are its own: the host's parser still decides for the host.
      const proto = await fetch(`${origin}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"__proto__":{"x":1}}' });
      assert.equal(proto.status, 200);
      assert.ok(app.hasContentTypeParser('text/csv'));
      assert.equal(app.hasContentTypeParser('application/scim+json'), false);
    });

    test("the host's hooks still see every request, SCIM ones included", () => {
      assert.ok(hostHookSaw.includes('/api/echo'));
      assert.ok(hostHookSaw.some((url) => url.startsWith('/identity/v2/organizations/')));
    });
  });

  test("the plugin's links are right when the host's prefix ends with a slash, or is the root", async () => {
    for (const [prefix, served] of [['/scim/', '/scim'], ['/', '']] as const) {
      const app = Fastify();
      await app.register(scimPlugin, { prefix, store: opened.store, rateLimiter });
      try {
        const base = `${served}/v2/organizations/${orgId}`;
        const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', host: 'app.example' };
        const created = await app.inject({ method: 'POST', url: `${base}/Users`, headers, payload: user(`slash${served.length}@example.com`) });
        assert.equal(created.statusCode, 201, created.body);
        const id = created.json<{ id: string }>().id;
        // Was http://app.example/scim//v2/... (and //v2/... for the root), a path the same app answers with 404.
        assert.equal(created.headers.location, `http://app.example${base}/Users/${id}`);
        assert.equal(created.json<{ meta: { location: string } }>().meta.location, `http://app.example${base}/Users/${id}`);
        const group = await app.inject({ method: 'POST', url: `${base}/Groups`, headers, payload: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `slash${served.length}`, members: [{ value: id }] } });
        assert.equal(group.json<{ members: { $ref: string }[] }>().members[0].$ref, `http://app.example${base}/Users/${id}`);
        const followed = await app.inject({ url: new URL(created.headers.location as string).pathname, headers });
        assert.equal(followed.statusCode, 200);
      } finally {
        await app.close();
      }
    }
  });

  test('the plugin refuses the prefixes the handler refuses (spaces, an empty segment), as the handler does, and takes the others', async () => {
    // fastify served '/a b' and '//scim' (and ' /scim' as '/ /scim'): the plugin took what createScimHandler refused.
    for (const [prefix, seen] of [['/a b', '/a b'], ['//scim', '//scim'], ['/scim//v', '/scim//v'], [' /scim', '/ /scim']] as const) {
      const app = Fastify();
      const registering = async (): Promise<void> => {
        await app.register(scimPlugin, { prefix, store: opened.store, rateLimiter });
      };
      await assert.rejects(registering, (err: Error) => err.message === `scimPlugin: prefix must be a path such as /scim (got ${JSON.stringify(seen)})`);
      await app.close();
      if (prefix.trim() !== '/scim') await assert.rejects(createScimHandler({ store: opened.store, rateLimiter, prefix }), /^Error: prefix must be a path such as \/scim/);
    }
    // Under a parent's prefix, the whole path is checked; the root (no prefix) has nothing to check.
    for (const [parent, prefix, served] of [['/api', '/scim', '/api/scim'], ['/api', undefined, '/api'], [undefined, undefined, '']] as const) {
      const app = Fastify();
      await app.register(async (host) => {
        await host.register(scimPlugin, { ...(prefix ? { prefix } : {}), store: opened.store, rateLimiter });
      }, parent ? { prefix: parent } : {});
      try {
        const res = await app.inject({ url: `${served}/v2/organizations/${orgId}/ServiceProviderConfig`, headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.statusCode, 200, `${served}: ${res.body}`);
      } finally {
        await app.close();
      }
    }
  });

  test('a publicUrl that is not an http(s) origin is refused when the plugin is registered', async () => {
    // A bare host made every link a relative path (scim.example.com/scim/v2/...); credentials were copied into links.
    for (const [publicUrl, echoed] of [['scim.example.com', true], ['ftp://scim.example.com', true], ['https://scim.example.com/base', true], ['https://admin:hunter2@scim.example.com', false]] as const) {
      const app = Fastify();
      const registering = async (): Promise<void> => {
        await app.register(scimPlugin, { prefix: '/scim', store: opened.store, rateLimiter, publicUrl });
      };
      await assert.rejects(registering, (err: Error) => {
        assert.match(err.message, /^scimPlugin: publicUrl .*must be http:\/\/ or https:\/\/ with a host and nothing after it/);
        assert.equal(err.message.includes(publicUrl), echoed);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      });
      await app.close();
      await assert.rejects(createScimHandler({ store: opened.store, rateLimiter, publicUrl }), /publicUrl .*must be http:\/\/ or https:\/\//);
    }
    const app = Fastify();
    await app.register(scimPlugin, { prefix: '/scim', store: opened.store, rateLimiter, publicUrl: 'https://scim.example.com/' });
    try {
      const res = await app.inject({ url: `/scim/v2/organizations/${orgId}/ServiceProviderConfig`, headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.json<{ meta: { location: string } }>().meta.location, `https://scim.example.com/scim/v2/organizations/${orgId}/ServiceProviderConfig`);
    } finally {
      await app.close();
    }
  });

  test('limits that are not whole numbers are refused when the plugin is registered', async () => {
    // maxResults from an environment variable (a string) made every list a 400 "count must be a number"; 0 or a
    // negative made every page empty; both were advertised in /ServiceProviderConfig as they were.
    for (const [limits, message] of [
      [{ maxResults: '50' }, 'limits.maxResults must be a whole number, 1 or more, got "50"'],
      [{ maxResults: 0 }, 'limits.maxResults must be a whole number, 1 or more, got 0'],
      [{ defaultCount: -5 }, 'limits.defaultCount must be a whole number, 1 or more, got -5'],
      [{ maxBulkOperations: 2.5 }, 'limits.maxBulkOperations must be a whole number, 1 or more, got 2.5'],
      [{ authFailuresPerSecond: Number.NaN }, 'limits.authFailuresPerSecond must be a whole number, 1 or more, got NaN'],
      [{ maxDiscardedBodyBytes: -1 }, 'limits.maxDiscardedBodyBytes must be a whole number, 0 or more, got -1'],
    ] as const) {
      const app = Fastify();
      const registering = async (): Promise<void> => {
        await app.register(scimPlugin, { prefix: '/scim', store: opened.store, rateLimiter, limits: limits as Partial<ServerLimits> });
      };
      await assert.rejects(registering, (err: Error) => err instanceof RangeError && err.message === `scimPlugin: ${message}`);
      await app.close();
    }
    const app = Fastify();
    await app.register(scimPlugin, { prefix: '/scim', store: opened.store, rateLimiter, limits: { maxResults: 7, maxDiscardedBodyBytes: 0 } });
    try {
      const spc = await app.inject({ url: `/scim/v2/organizations/${orgId}/ServiceProviderConfig`, headers: { authorization: `Bearer ${token}` } });
      assert.equal(spc.json<{ filter: { maxResults: number } }>().filter.maxResults, 7);
    } finally {
      await app.close();
    }
  });

  test('a missing store or rate limiter, or a store still being opened, is refused when the plugin is registered', async () => {
    // Each was a 500 on every request (JavaScript callers get no type error).
    const pending = openStore('sqlite::memory:');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ store: pending, rateLimiter }, /scimPlugin: options\.store must be an open store: the result of await openStore\(\.\.\.\)/],
      [{ rateLimiter }, /scimPlugin: options\.store must be an open store/],
      [{ store: opened.store }, /scimPlugin: options\.rateLimiter must be a rate limiter: createRateLimiter\(\)/],
    ];
    try {
      for (const [options, message] of cases) {
        const app = Fastify();
        const registering = async (): Promise<void> => {
          await app.register(scimPlugin, { prefix: '/scim', ...options } as unknown as ScimPluginOptions);
        };
        await assert.rejects(registering, (err: Error) => err instanceof TypeError && message.test(err.message));
        await app.close();
        await assert.rejects(createScimHandler(options as unknown as ScimPluginOptions), message);
      }
    } finally {
      await (await pending).close();
    }
  });

  describe('the (req, res) handler', () => {
    let scim: ScimRequestHandler;
    before(async () => {
      scim = await createScimHandler({ store: opened.store, rateLimiter, prefix: '/scim/' });
    });
    after(() => scim.close());

    test('under node:http, beside the host’s own routes', async () => {
      const server = createServer((req, res) => {
        if (req.url?.startsWith('/scim/')) return scim(req, res);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('host');
      });
      const origin = await listen(server);
      try {
        const base = `${origin}/scim/v2/organizations/${orgId}`;
        const created = await call(base, 'POST', '/Users', { defaultToken: token, body: user('grace@example.com') });
        assert.equal(created.status, 201);
        assert.equal(created.headers.get('location'), `${base}/Users/${created.body.id}`);
        const listed = await call(base, 'GET', '/Users?filter=userName%20eq%20%22grace@example.com%22', { defaultToken: token });
        assert.equal(listed.body.totalResults, 1);
        assert.equal(await (await fetch(`${origin}/anything`)).text(), 'host');
      } finally {
        await close(server);
      }
    });

    test('without next, a path outside the prefix gets a SCIM 404', async () => {
      const server = createServer((req, res) => scim(req, res));
      const origin = await listen(server);
      try {
        const reply = await call(origin, 'GET', '/elsewhere');
        assert.equal(reply.status, 404);
        assert.deepEqual(reply.body.schemas, [SCIM_ERROR]);
      } finally {
        await close(server);
      }
    });

    test('under Express, mounted on a path or at the root, with the full path in links', async () => {
      const host = express();
      host.get('/hello', (_req, res) => {
        res.json({ host: true });
      });
      host.use('/scim', scim);
      const rootMounted = express();
      rootMounted.use(scim);
      rootMounted.get('/hello', (_req, res) => {
        res.json({ rootMounted: true });
      });
      const servers = [createServer(host), createServer(rootMounted)];
      try {
        for (const server of servers) {
          const origin = await listen(server);
          const base = `${origin}/scim/v2/organizations/${orgId}`;
          const created = await call(base, 'POST', '/Groups', { defaultToken: token, body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `Eng ${origin}` } });
          assert.equal(created.status, 201);
          assert.equal(created.headers.get('location'), `${base}/Groups/${created.body.id}`);
          assert.equal((await fetch(`${origin}/hello`)).status, 200);
        }
      } finally {
        for (const server of servers) if (server.listening) await close(server);
      }
    });

    test('behind a body parser that already read the body, it answers 500 saying so instead of hanging', async () => {
      const host = express();
      host.use(express.json());
      host.use('/scim', scim);
      const server = createServer(host);
      const origin = await listen(server);
      try {
        const base = `${origin}/scim/v2/organizations/${orgId}`;
        const reply = await call(base, 'POST', '/Users', { defaultToken: token, body: user('late@example.com'), headers: { 'content-type': 'application/json' } });
        assert.equal(reply.status, 500);
        assert.match(reply.body.detail, /mount the scimkit handler before body parsers/);
        // Requests without a body still work.
        assert.equal((await call(base, 'GET', '/Users', { defaultToken: token })).status, 200);
      } finally {
        await close(server);
      }
    });

    test('a prefix that is not a path is refused', async () => {
      await assert.rejects(createScimHandler({ store: opened.store, rateLimiter, prefix: 'scim' }), /prefix must be a path such as \/scim/);
    });
  });
});

test('an embedded store without a secret key refuses to create a webhook with a 503 that says how to give one', async () => {
  for (const secretKey of [undefined, () => newSecretKey()]) {
    const store = await openStore('sqlite::memory:', secretKey ? { secretKey } : {});
    const limiter = createRateLimiter();
    const app = buildServer({ store, rateLimiter: limiter, logger: false, allowHttpWebhooks: true });
    try {
      const origin = await app.listen({ host: '127.0.0.1', port: 0 });
      const org = await store.createOrganization('acme', GENEROUS);
      const key = (await store.createManagementKey({ orgId: org.id })).secret;
      const res = await call(`${origin}/api/v1/organizations/${org.id}`, 'POST', '/webhooks', {
        defaultToken: key,
        body: { url: 'http://127.0.0.1:9/hook' },
        headers: { 'content-type': 'application/json' },
      });
      if (secretKey) {
        assert.equal(res.status, 201, res.text);
      } else {
        assert.equal(res.status, 503, res.text);
        assert.equal(res.body.error.code, 'secret_key_unavailable');
        // The CLI's variables mean nothing to a store an app opened itself: the message names openStore's option.
        assert.match(res.body.error.message, /openStore\(.*secretKey/);
      }
    } finally {
      await app.close();
      await limiter.close();
      await store.close();
    }
  }
});
