/**
 * The published package: `npm pack` of this repository, installed into a fresh folder outside it, used the way a
 * consumer uses it (plain node imports, a TypeScript project under moduleResolution nodenext, npx scimkit), and
 * checked by publint and @arethetypeswrong/cli.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { staleReason } from '../../scripts/build.mjs';

const ROOT = join(import.meta.dirname, '../..');
const BIN_DIR = dirname(process.execPath);
const NPM = join(BIN_DIR, 'npm');
const NPX = join(BIN_DIR, 'npx');
const run = promisify(execFile);

interface Result {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

async function exec(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, env, encoding: 'utf8', maxBuffer: 32 << 20 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? String(err), code: typeof e.code === 'number' ? e.code : 1 };
  }
}

/** Waits for a started `npx scimkit serve` to print where it listens; rejects if it exits first. */
async function listening(child: ChildProcessByStdio<null, Readable, Readable>): Promise<{ origin: string; exited: Promise<number | null> }> {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const origin = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^listening on (http:\/\/\S+)$/m.exec(stdout);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`npx scimkit serve exited (${code}) before listening: ${stderr}`)));
  });
  return { origin, exited };
}

function ok(result: Result, what: string): Result {
  assert.equal(result.code, 0, `${what} failed (${result.code}):\n${result.stderr}\n${result.stdout}`);
  return result;
}

function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

const EXPORTS = ['scimkit', 'scimkit/scim', 'scimkit/store', 'scimkit/server', 'scimkit/connector'] as const;

describe('the packed package, installed outside the repository', () => {
  let dir: string;
  let tarball: string;
  let packed: string[];

  before(async () => {
    // scripts/run-tests.mjs builds dist/ before the suite. Packing runs no scripts: `prepare` would rebuild dist/
    // underneath the tests that run the CLI at the same time, so the test asserts the build is current instead.
    assert.equal(staleReason(), null, 'dist/ must be built from the current src/');
    dir = mkdtempSync(join(tmpdir(), 'scimkit-package-'));
    const pack = ok(await exec(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT), 'npm pack');
    const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = join(dir, info.filename);
    packed = info.files.map((f) => f.path);

    // A consumer app: the real tarball and its dependencies from the registry (npm's cache when it has them).
    // better-sqlite3 has no prebuilt binary for this platform and builds from source in about 50 s, and npm 11
    // runs no dependency install scripts unless allowed; so the app pins the version this repository built and
    // takes its binary, which keeps the test fast and still loads the package's real dependency tree.
    const app = join(dir, 'app');
    mkdirSync(app);
    const sqliteVersion = installedVersion('better-sqlite3');
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'consumer-app',
        private: true,
        type: 'module',
        dependencies: { scimkit: `file:${tarball}`, 'better-sqlite3': sqliteVersion },
        devDependencies: { '@types/node': installedVersion('@types/node') },
      }),
    );
    ok(await exec(NPM, ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app), 'npm install');
    const binary = join('build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
    copyFileSync(join(ROOT, 'node_modules', 'better-sqlite3', binary), join(app, 'node_modules', 'better-sqlite3', binary));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const appDir = () => join(dir, 'app');

  test('npm pack holds the compiled package and no sources, tests, benchmarks or scripts', () => {
    for (const file of packed) {
      assert.match(file, /^(package\.json|README\.md|bin\/scimkit\.mjs|dist\/.+\.(js|d\.ts|js\.map|proto)|dist\/console\/(index|setup)\.html|dist\/console\/assets\/[\w-]+\.(css|svg))$/, `unexpected file in the package: ${file}`);
    }
    // The admin console's browser assets (built by vite from src/console) are served from the package, and the
    // Fivetran connector reads its .proto files at run time.
    for (const entry of ['dist/index.js', 'dist/scim/index.d.ts', 'dist/store/index.js', 'dist/server/index.js', 'dist/connector/index.d.ts', 'dist/cli/main.js', 'dist/console/index.html', 'dist/console/setup.html', 'dist/connector/platforms/fivetran/connector_sdk.proto', 'dist/connector/platforms/fivetran/common.proto']) {
      assert.ok(packed.includes(entry), `${entry} is missing from the package`);
    }
  });

  test('publint finds nothing to fix', async () => {
    const bytes = readFileSync(tarball);
    const packedTarball = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    // The files of a tarball sit under package/.
    const { messages, pkg } = await publint({ pkgDir: 'package', pack: { tarball: packedTarball }, level: 'suggestion', strict: true });
    assert.deepEqual(messages.map((m) => formatMessage(m, pkg)), []);
  });

  test('@arethetypeswrong/cli finds no problem for an ES module package', async () => {
    // esm-only: the package has no CommonJS entry points (require() of it is not offered), which attw would
    // otherwise report for node16's CommonJS mode.
    const attw = join(ROOT, 'node_modules', '.bin', 'attw');
    const result = await exec(attw, [tarball, '--profile', 'esm-only', '--format', 'ascii'], dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('the install has no build tools or seed-only dependencies', () => {
    for (const name of ['tsx', 'typescript', '@faker-js/faker', 'esbuild']) {
      assert.equal(existsSync(join(appDir(), 'node_modules', name)), false, `${name} was installed with scimkit`);
    }
  });

  test('plain node imports every export, and pg and ioredis load only when asked for', async () => {
    writeFileSync(
      join(appDir(), 'imports.mjs'),
      `import { createRequire } from 'node:module';
const loaded = (name) => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('/node_modules/' + name + '/'));
const out = {};
for (const name of ${JSON.stringify(EXPORTS)}) out[name] = Object.keys(await import(name)).sort();
const { openStore } = await import('scimkit/store');
const { buildServer, createRateLimiter } = await import('scimkit/server');
const store = await openStore({ sqlitePath: ':memory:' });
const rateLimiter = createRateLimiter();
const app = buildServer({ store, rateLimiter });
out.healthz = (await app.inject({ url: '/healthz' })).statusCode;
await app.close();
await store.close();
out.sqliteOnly = { pg: loaded('pg'), ioredis: loaded('ioredis') };
if (process.env.SCIMKIT_TEST_REDIS_URL) {
  const redis = createRateLimiter({ redisUrl: process.env.SCIMKIT_TEST_REDIS_URL });
  await redis.connect();
  await redis.close();
  out.afterRedis = loaded('ioredis');
}
if (process.env.SCIMKIT_TEST_POSTGRES_URL) {
  const pgStore = await openStore({ postgresUrl: process.env.SCIMKIT_TEST_POSTGRES_URL });
  await pgStore.close();
  out.afterPostgres = loaded('pg');
}
console.log(JSON.stringify(out));
`,
    );
    const result = ok(await exec(process.execPath, ['imports.mjs'], appDir()), 'node imports.mjs');
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    for (const name of EXPORTS) assert.ok((out[name] as string[]).length > 0, `${name} exports nothing`);
    assert.ok((out['scimkit/scim'] as string[]).includes('ScimError'));
    assert.ok((out['scimkit/store'] as string[]).includes('openStore'));
    assert.ok((out['scimkit/server'] as string[]).includes('buildServer'));
    assert.ok((out['scimkit/connector'] as string[]).includes('runSync'));
    assert.equal(out.healthz, 200);
    assert.deepEqual(out.sqliteOnly, { pg: false, ioredis: false });
    // The same check sees them once they are used (under CI both services are always there).
    if (process.env.SCIMKIT_TEST_REDIS_URL) assert.equal(out.afterRedis, true);
    if (process.env.SCIMKIT_TEST_POSTGRES_URL) assert.equal(out.afterPostgres, true);
  });

  test('a TypeScript consumer, and the examples of docs/embedding.md and the README, type-check under moduleResolution nodenext', async () => {
    const app = appDir();
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
        include: ['consumer.ts', 'doc-*.ts'],
      }),
    );
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { ScimError } from 'scimkit';
import { parseFilter, USER } from 'scimkit/scim';
import { openStore, type Store } from 'scimkit/store';
import { buildServer, createRateLimiter, type BuildServerOptions } from 'scimkit/server';
import { parseConfig, type ConnectorConfig } from 'scimkit/connector';

const store: Store = await openStore({ sqlitePath: ':memory:' });
const options: BuildServerOptions = { store, rateLimiter: createRateLimiter(), limits: { maxResults: 50 } };
const app = buildServer(options);
await app.ready();
const error: ScimError = ScimError.notFound('nothing here');
const status: number = error.status;
const filter = parseFilter('userName eq "a"');
const userSchema: string = USER.core.id;
const config: ConnectorConfig = parseConfig({ bearer_token: 't', org_id: 'o' });
// docs/embedding.md: connect() checks Redis at start-up, and is there whether or not a Redis URL was given; the
// optional members of RateLimiter (ping for readiness, outage reports) stay reachable on what it returns.
const limiter = createRateLimiter({ redisUrl: process.env.REDIS_URL });
await limiter.connect();
await limiter.ping?.();
limiter.observe?.({ fallback: (reason: string) => console.log(reason, limiter.degraded, limiter.fallbackDecisions), recovered: () => {} });
// The types are real, not any: each of these must be an error.
// @ts-expect-error limits.maxResults is a number
buildServer({ store, rateLimiter: createRateLimiter(), limits: { maxResults: 'many' } });
// @ts-expect-error openStore has no such option
await openStore({ sqlitePaht: 'x.db' });
// @ts-expect-error status is a number
const wrong: string = error.status;
console.log(status, filter, userSchema, config, wrong);
`,
    );
    // The TypeScript examples of docs/embedding.md (before its generated reference) must compile as written.
    const doc = readFileSync(join(ROOT, 'docs', 'embedding.md'), 'utf8');
    const snippets = [...doc.slice(0, doc.indexOf('<!-- api-reference:begin')).matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    assert.ok(snippets.length >= 4, 'docs/embedding.md has its TypeScript examples');
    snippets.forEach((code, i) => writeFileSync(join(app, `doc-${i + 1}.ts`), code));
    // And the README's, which show the embedded way of running.
    const readme = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    assert.ok(readme.some((code) => code.includes('scimPlugin')), 'the README shows scimPlugin');
    readme.forEach((code, i) => writeFileSync(join(app, `doc-readme-${i + 1}.ts`), code));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await exec(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('npx scimkit --help and npx scimkit serve work', async () => {
    const app = appDir();
    const help = ok(await exec(NPX, ['--offline', 'scimkit', '--help'], app), 'npx scimkit --help');
    for (const command of ['serve', 'orgs', 'tokens', 'sync', 'seed']) assert.match(help.stdout, new RegExp(`\\b${command}\\b`));

    // In its own process group, so that the whole group can be stopped as a terminal's Ctrl-C would.
    const child = spawn(NPX, ['--offline', 'scimkit', 'serve', '--port', '0', '--log-level', 'warn'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    try {
      const { origin } = await listening(child);
      const health = await fetch(`${origin}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      assert.ok(existsSync(join(app, 'data', 'scimkit.db')), 'the default SQLite file lives in ./data of the working directory');
      // The admin console comes from the installed package: its page and the script that page loads.
      const page = await fetch(`${origin}/admin/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      const script = /<script type="module" crossorigin src="(\/admin\/assets\/[^"]+\.js)"/.exec(html);
      assert.ok(script, html);
      const asset = await fetch(origin + script[1]);
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    } finally {
      process.kill(-child.pid!, 'SIGINT');
    }
  });

  test('SIGTERM to the npx process alone stops npx scimkit serve and frees its port', async () => {
    // npx runs scimkit through a `sh -c` that does not pass signals on; scimkit notices its parent is gone.
    const child = spawn(NPX, ['--offline', 'scimkit', 'serve', '--port', '0', '--log-level', 'warn'], { cwd: appDir(), stdio: ['ignore', 'pipe', 'pipe'] });
    const { origin, exited } = await listening(child);
    assert.equal((await fetch(`${origin}/healthz`)).status, 200);
    child.kill('SIGTERM');
    await exited;
    // Wait for the port to close (the server notices within its half-second poll, then shuts down gracefully).
    for (let i = 0; ; i++) {
      try {
        await fetch(`${origin}/healthz`);
      } catch {
        break;
      }
      assert.ok(i < 300, `${origin} still answers after npx was stopped`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  test('npx scimkit seed without faker says how to install it', async () => {
    const result = await exec(NPX, ['--offline', 'scimkit', 'seed', '--url', 'http://127.0.0.1:9/scim/v2', '--token', 'x'], appDir());
    assert.equal(result.code, 1);
    assert.match(result.stderr, /seed needs @faker-js\/faker, which is not installed: run `npm install @faker-js\/faker`/);
  });
});
