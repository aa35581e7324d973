/**
 * What the server keeps between requests (authenticated tokens, resolved projections) never makes an answer stale
 * or wrong: a revocation or a new limit, made through this process or another connection to the database, applies
 * to the very next request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildServer } from '../../src/server/app.ts';
import { createRateLimiter } from '../../src/server/ratelimit/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/index.ts';
import { GENEROUS, call, startHarness, user } from './helpers.ts';

/** A server on a SQLite file, so a second connection (as another process would) can change it underneath. */
async function serverOnFile(wrap: (store: Store) => Store = (s) => s) {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-fast-'));
  const file = join(dir, 'scim.db');
  const store = await openStore({ sqlitePath: file });
  const rateLimiter = createRateLimiter();
  const app = buildServer({ store: wrap(store), rateLimiter });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  const org = await store.createOrganization('acme', GENEROUS);
  const { token, secret } = await store.createToken(org.id, { scope: 'read-write' });
  return {
    file,
    store,
    org,
    tokenId: token.id,
    secret,
    base: `${origin}/scim/v2/organizations/${org.id}`,
    close: async () => {
      await app.close();
      await rateLimiter.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The store with its findToken calls counted; `withStamp: false` hides authStamp, as a store that cannot tell would. */
function counting(calls: { findToken: number }, withStamp: boolean) {
  return (store: Store): Store =>
    new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'authStamp' && !withStamp) return undefined;
        if (prop === 'findToken') {
          return (secret: string) => {
            calls.findToken++;
            return target.findToken(secret);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
}

describe('the token cache', () => {
  test('a token revoked through another connection is refused on the next request', async () => {
    const s = await serverOnFile();
    const other = await openStore({ sqlitePath: s.file });
    try {
      assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
      assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
      assert.equal(await other.revokeToken(s.tokenId), true);
      const refused = await call(s.base, 'GET', '/Users', { token: s.secret });
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/);
    } finally {
      await other.close();
      await s.close();
    }
  });

  test('limits changed through another connection apply to the next request', async () => {
    const s = await serverOnFile();
    const other = await openStore({ sqlitePath: s.file });
    try {
      const first = await call(s.base, 'GET', '/Users', { token: s.secret });
      assert.equal(first.headers.get('x-ratelimit-limit'), String(GENEROUS.readLimit));
      await other.updateOrganization(s.org.id, { readLimit: 4321 });
      const next = await call(s.base, 'GET', '/Users', { token: s.secret });
      assert.equal(next.headers.get('x-ratelimit-limit'), '4321');
    } finally {
      await other.close();
      await s.close();
    }
  });

  test('a known token is not looked up again while nothing changed; writes to resources do not count as changes', async () => {
    const calls = { findToken: 0 };
    const s = await serverOnFile(counting(calls, true));
    try {
      for (let i = 0; i < 5; i++) assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
      assert.equal((await call(s.base, 'POST', '/Users', { token: s.secret, body: user('cached') })).status, 201);
      assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
      assert.equal(calls.findToken, 1);
      // A wrong token is never kept: every guess reaches the store.
      for (let i = 0; i < 3; i++) assert.equal((await call(s.base, 'GET', '/Users', { token: 'wrong' })).status, 401);
      assert.equal(calls.findToken, 4);
      await s.store.updateOrganization(s.org.id, { readLimit: 99 });
      const after = await call(s.base, 'GET', '/Users', { token: s.secret });
      assert.equal(after.headers.get('x-ratelimit-limit'), '99');
      assert.equal(calls.findToken, 5);
    } finally {
      await s.close();
    }
  });

  test('a store that cannot tell when tokens change is asked on every request', async () => {
    const calls = { findToken: 0 };
    const s = await serverOnFile(counting(calls, false));
    try {
      for (let i = 0; i < 4; i++) assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
      assert.equal(calls.findToken, 4);
    } finally {
      await s.close();
    }
  });

  test('a cached token is still refused on another organization', async () => {
    const s = await serverOnFile();
    try {
      const otherOrg = await s.store.createOrganization('globex', GENEROUS);
      assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
      const base = s.base.replace(s.org.id, otherOrg.id);
      assert.equal((await call(base, 'GET', '/Users', { token: s.secret })).status, 403);
      assert.equal((await call(s.base, 'GET', '/Users', { token: s.secret })).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('the user cache behind the server', () => {
  test('a user changed through another connection is served as it now is, by id and by userName', async () => {
    const s = await serverOnFile();
    const other = await openStore({ sqlitePath: s.file });
    try {
      const created = await call(s.base, 'POST', '/Users', { token: s.secret, body: user('before@example.com') });
      const id = created.body.id as string;
      const byName = (name: string) => call(s.base, 'GET', `/Users?filter=${encodeURIComponent(`userName eq "${name}"`)}`, { token: s.secret });
      for (let i = 0; i < 2; i++) {
        assert.equal((await call(s.base, 'GET', `/Users/${id}`, { token: s.secret })).body.userName, 'before@example.com');
        assert.equal((await byName('before@example.com')).body.totalResults, 1);
      }
      const group = await other.create(s.org.id, 'Group', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'elsewhere', members: [{ value: id }] });
      await other.replace(s.org.id, 'User', id, { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'after@example.com' });
      const read = await call(s.base, 'GET', `/Users/${id}`, { token: s.secret });
      assert.equal(read.body.userName, 'after@example.com');
      assert.deepEqual(read.body.groups.map((g: { value: string }) => g.value), [group.id]);
      // Version 2 (the replace), with a digest of the groups it now lists.
      assert.match(read.headers.get('etag') ?? '', /^W\/"2\.[\w-]+"$/);
      assert.equal(read.body.meta.version, read.headers.get('etag'));
      assert.equal((await byName('before@example.com')).body.totalResults, 0);
      assert.equal((await byName('AFTER@example.com')).body.Resources[0].id, id);
    } finally {
      await other.close();
      await s.close();
    }
  });
});

describe('kept representations', () => {
  test('links follow each request\'s Host, and a change is served at once', async () => {
    const s = await serverOnFile();
    try {
      const id = (await call(s.base, 'POST', '/Users', { token: s.secret, body: user('hosted@example.com') })).body.id as string;
      const url = new URL(`${s.base}/Users/${id}`);
      const getWithHost = (host: string) =>
        new Promise<Record<string, any>>((resolve, reject) => {
          const req = request(url, { headers: { host, authorization: `Bearer ${s.secret}` } }, (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve(JSON.parse(text)));
          });
          req.on('error', reject);
          req.end();
        });
      for (let round = 0; round < 2; round++) {
        for (const host of ['a.example.com', 'b.example.com:8443']) {
          const body = await getWithHost(host);
          assert.equal(body.meta.location, `http://${host}${url.pathname}`);
        }
      }
      await call(s.base, 'PATCH', `/Users/${id}`, { token: s.secret, body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: 'Boss' }] } });
      const changed = await getWithHost('a.example.com');
      assert.equal(changed.title, 'Boss');
      assert.equal(changed.meta.version, 'W/"2"');
    } finally {
      await s.close();
    }
  });
});

describe('cached projections', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  test('each request gets its own view, in any order', async () => {
    const created = await call(h.base, 'POST', '/Users', {
      token: h.token,
      body: user('viewer', { displayName: 'V', emails: [{ value: 'v@example.com', type: 'work' }], name: { givenName: 'Vi', familyName: 'Ew' } }),
    });
    const id = created.body.id as string;
    const get = async (query: string) => (await call(h.base, 'GET', `/Users/${id}${query}`, { token: h.token })).body;
    for (let round = 0; round < 2; round++) {
      const full = await get('');
      assert.deepEqual(Object.keys(full).sort(), ['active', 'displayName', 'emails', 'id', 'meta', 'name', 'schemas', 'userName']);
      const only = await get('?attributes=name.givenName');
      assert.deepEqual(only.name, { givenName: 'Vi' });
      assert.equal(only.emails, undefined);
      const without = await get('?excludedAttributes=emails,name');
      assert.equal(without.emails, undefined);
      assert.equal(without.name, undefined);
      assert.equal(without.displayName, 'V');
      const mutated = await get('');
      mutated.name.givenName = 'changed by the client';
      assert.deepEqual((await get('')).name, { givenName: 'Vi', familyName: 'Ew' });
    }
  });
});

describe('connection-level errors', () => {
  test('an oversized HEAD request gets 431 without a body, so the connection is not misread', async () => {
    const h = await startHarness();
    try {
      const url = new URL(h.base);
      const answer = (method: string) =>
        new Promise<string>((resolve) => {
          const socket = connect(Number(url.port), url.hostname, () => {
            socket.write(`${method} ${url.pathname}/Users?x=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
          });
          let text = '';
          socket.on('data', (d) => (text += d));
          socket.on('close', () => resolve(text));
          socket.on('error', () => resolve(text));
        });
      const head = await answer('HEAD');
      assert.match(head, /^HTTP\/1\.1 431 /);
      assert.ok(head.endsWith('\r\n\r\n'), `no content after the header: ${JSON.stringify(head.slice(-80))}`);
      const get = await answer('GET');
      assert.match(get, /^HTTP\/1\.1 431 /);
      assert.match(get, /\r\n\r\n\{"schemas":\["urn:ietf:params:scim:api:messages:2\.0:Error"\]/);
    } finally {
      await h.close();
    }
  });
});
