// An Express app with its own routes, and scimkit's SCIM API mounted beside them under /scim.
//
//   npm run build && node examples/express-app/server.mjs      (from this repository)
//   PORT=3000 DATABASE=sqlite:./data/app.db node server.mjs     (in your app, after `npm install scimkit express`)
import { createServer } from 'node:http';
import express from 'express';
import { createRateLimiter, createScimHandler } from 'scimkit/server';
import { openStore } from 'scimkit/store';

const store = await openStore(process.env.DATABASE ?? 'sqlite:./data/express-app.db');
const rateLimiter = createRateLimiter({ redisUrl: process.env.REDIS_URL });
const scim = await createScimHandler({ store, rateLimiter, prefix: '/scim' });

const app = express();
// scimkit reads its own request bodies: mount it before body parsers such as express.json().
app.use('/scim', scim);
app.use(express.json());
app.get('/', (_req, res) => {
  res.json({ app: 'express-app', scim: '/scim/v2/organizations/:orgId' });
});
app.post('/notes', (req, res) => {
  res.json({ saved: req.body });
});

// An identity provider needs an organization and a token; this example makes one on its first start.
if ((await store.listOrganizations()).length === 0) {
  const org = await store.createOrganization('example');
  const { secret } = await store.createToken(org.id, { scope: 'read-write' });
  console.log(`organization ${org.id}`);
  console.log(`bearer token ${secret}`);
}

const server = createServer(app);
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`listening on http://127.0.0.1:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.closeAllConnections();
    server.close(async () => {
      await scim.close();
      await rateLimiter.close();
      await store.close();
    });
  });
}
