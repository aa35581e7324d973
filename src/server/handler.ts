/**
 * The SCIM API as a plain `(req, res)` request handler, for a node:http server, Express, or anything else that hands
 * over Node's request and response. Behind it runs the same fastify plugin as `scimkit serve`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_PREFIX, normalizePrefix, scimApp, type BuildServerOptions, type ScimPluginOptions } from './app.ts';
import { errorBody, SCIM_CONTENT_TYPE } from './http.ts';

export interface ScimHandlerOptions extends ScimPluginOptions, Pick<BuildServerOptions, 'logger' | 'trustProxy'> {
  /** The path the SCIM API lives under (default `/scim`): organizations are at `<prefix>/v2/organizations/<orgId>`. */
  readonly prefix?: string;
}

/** `(req, res)` for node:http; Express also passes `next`, which the handler calls for paths outside its prefix. */
export interface ScimRequestHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Stops the handler (its hooks and caches). The store and rate limiter stay open: their owner closes them. */
  close(): Promise<void>;
}

function under(url: string, prefix: string): boolean {
  const path = url.split('?')[0].toLowerCase();
  const base = prefix.toLowerCase();
  return path === base || path.startsWith(`${base}/`);
}

/** A body a middleware (express.json(), body-parser) has already read: the stream ended before scimkit saw it. */
function bodyAlreadyRead(req: IncomingMessage): boolean {
  const declared = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return declared && req.readableEnded;
}

/**
 * Builds the handler: `createServer(await createScimHandler({ store, rateLimiter }))`, or in Express
 * `app.use('/scim', await createScimHandler({ store, rateLimiter, prefix: '/scim' }))`. Paths it serves are the
 * full paths the client asked for (Express's `req.originalUrl`), so Location and `$ref` URLs are right under a mount.
 */
export async function createScimHandler(options: ScimHandlerOptions): Promise<ScimRequestHandler> {
  const prefix = normalizePrefix(options.prefix ?? DEFAULT_PREFIX);
  const { app } = scimApp(options, prefix);
  await app.ready();
  const handler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    // Express strips its mount path from req.url; originalUrl keeps the path the client asked for.
    const original = (req as IncomingMessage & { originalUrl?: unknown }).originalUrl;
    if (typeof original === 'string') req.url = original;
    if (next && !under(req.url ?? '/', prefix)) return next();
    if (bodyAlreadyRead(req)) {
      // Waiting for a body that has already gone would hang the request: say what to change instead.
      const detail = 'scimkit received a request whose body another middleware had already read: mount the scimkit handler before body parsers such as express.json()';
      app.log.error({ url: req.url?.split('?')[0] }, detail);
      res.writeHead(500, { 'content-type': SCIM_CONTENT_TYPE }).end(JSON.stringify(errorBody(500, detail)));
      return;
    }
    app.routing(req, res);
  };
  return Object.assign(handler, { close: () => app.close() });
}
