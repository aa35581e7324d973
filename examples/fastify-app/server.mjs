// A fastify app with its own routes, and scimkit's SCIM API mounted beside them under /scim.
//
//   npm run build && node examples/fastify-app/server.mjs      (from this repository)
//   PORT=3000 DATABASE=sqlite:./data/app.db node server.mjs     (in your app, after `npm install scimkit fastify`)
import Fastify from 'fastify';
import { createRateLimiter, scimPlugin } from 'scimkit/server';
import { openStore } from 'scimkit/store';

const store = await openStore(process.env.DATABASE ?? 'sqlite:./data/fastify-app.db');
const rateLimiter = createRateLimiter({ redisUrl: process.env.REDIS_URL });

const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' } });

// The app's own routes, parsers and hooks: scimkit leaves them alone.
app.get('/', async () => ({ app: 'fastify-app', scim: '/scim/v2/organizations/:orgId' }));
app.post('/notes', async (request) => ({ saved: request.body }));

// The SCIM API: /scim/v2/organizations/:orgId/Users, /Groups, /Bulk, discovery ...
await app.register(scimPlugin, { prefix: '/scim', store, rateLimiter });

// An identity provider needs an organization and a token; this example makes one on its first start.
if ((await store.listOrganizations()).length === 0) {
  const org = await store.createOrganization('example');
  const { secret } = await store.createToken(org.id, { scope: 'read-write' });
  console.log(`organization ${org.id}`);
  console.log(`bearer token ${secret}`);
}

// Before listening: a signal that arrives before its handler is in place ends the process without closing the store.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await app.close();
    await rateLimiter.close();
    await store.close();
  });
}

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
console.log(`listening on ${address}`);
