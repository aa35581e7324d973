/**
 * The admin console at /admin: the browser assets that `npm run build` puts in dist/console (src/console, built by
 * vite), served from memory with strict security headers. Pages are `index.html` (operators; every console path
 * falls back to it, the page routes itself) and `setup.html` (the setup page of a setup link, at /admin/setup).
 * The console itself does everything through /api/v1, like any other client of the management API.
 *
 * Headers on every /admin response: a Content-Security-Policy that allows scripts, styles and requests from this
 * origin only (no inline script or style, no framing, no plug-ins), X-Frame-Options DENY, Referrer-Policy
 * no-referrer (a setup link's secret never leaves in a Referer), and X-Content-Type-Options nosniff.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const CONSOLE_PREFIX = '/admin';

/** dist/console of this package: two levels up from both src/server and dist/server. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Whether a request's raw URL is the console's (paths compare case-insensitively, as the router does). */
export function isConsoleUrl(url: string): boolean {
  const path = url.slice(0, CONSOLE_PREFIX.length + 1).toLowerCase();
  return path === CONSOLE_PREFIX || path === `${CONSOLE_PREFIX}/` || path === `${CONSOLE_PREFIX}?`;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** Every file under `dir`, by its path relative to it with forward slashes; empty when the build is missing. */
export function loadConsoleAssets(dir: string = DEFAULT_ASSETS_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else assets.set(relative(dir, path).split(sep).join('/'), { body: readFileSync(path), type: TYPES[extname(name)] ?? 'application/octet-stream' });
    }
  };
  walk(dir);
  return assets;
}

export interface AdminConsoleOptions {
  /** Where the built assets are (default: this package's dist/console). */
  readonly assetsDir?: string;
}

function send(reply: FastifyReply, asset: Asset, immutable: boolean): FastifyReply {
  // Hashed asset names change with their content, so they are cached for good; pages are never cached.
  reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-store');
  return reply.code(200).type(asset.type).send(asset.body);
}

/** Registers /admin on `app`. */
export function registerAdminConsole(app: FastifyInstance, options: AdminConsoleOptions = {}): void {
  const assets = loadConsoleAssets(options.assetsDir);
  app.register(
    async (admin) => {
      admin.addHook('onSend', (_request, reply, payload, done) => {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
        done(null, payload);
      });
      const page = (path: string, reply: FastifyReply): FastifyReply => {
        const index = assets.get('index.html');
        const setup = assets.get('setup.html');
        if (!index || !setup) {
          reply.header('cache-control', 'no-store');
          return reply.code(503).type('text/plain; charset=utf-8').send('The console has not been built: run `npm run build` in the scimkit package.\n');
        }
        const asset = path.endsWith('.html') ? undefined : assets.get(path);
        if (asset) return send(reply, asset, path.startsWith('assets/'));
        if (path.startsWith('assets/')) return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
        return send(reply, path === 'setup' || path === 'setup/' ? setup : index, false);
      };
      // /admin and /admin/ (the same route: trailing slashes are ignored) and everything below.
      admin.get('/', async (_request, reply) => page('', reply));
      admin.get<{ Params: { '*': string } }>('/*', async (request, reply) => page(request.params['*'], reply));
    },
    { prefix: CONSOLE_PREFIX },
  );
}
