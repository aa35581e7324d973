/**
 * `scimkit serve` configured from the environment (a flag wins; a bad value stops the start, naming the variable),
 * what it reports on start, and stopping it through `npm start`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Option } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { call, freshPostgresUrl, user } from './helpers.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin', 'scimkit.mjs');
const NPM = join(dirname(process.execPath), 'npm');

/** The environment without any scimkit variable a developer may have set, plus `env`. */
function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SCIMKIT_') && k !== 'PORT'));
  return { ...clean, ...env };
}

interface Started {
  readonly child: ChildProcess;
  readonly origin: string;
  readonly stdout: () => string;
  readonly exit: Promise<number | null>;
}

async function start(command: string, args: string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(command, args, { cwd: ROOT, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const m = /^listening on (http:\/\/\S+)$/m.exec(stdout);
      if (m) resolve(m[1]);
    });
    void exit.then((code) => reject(new Error(`exited (${code}) before listening:\n${stdout}\n${stderr}`)));
  });
  return { child, origin, stdout: () => stdout, exit };
}

/** Waits until nothing answers at `origin` (the port is closed); fails if something still does after a generous while. */
async function portClosed(origin: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${origin}/healthz`);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${origin} still answers`);
}

function serveSync(env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: environment(env), encoding: 'utf8', timeout: 60_000 });
}

describe('serve from the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-serve-env-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('takes its settings from variables, reports them and where its data lives, and a flag wins', async () => {
    const db = join(dir, 'env', 'scim.db');
    const server = await start(process.execPath, [BIN, 'serve', '--log-level', 'warn', '--headers-timeout', '2.5'], {
      PORT: '0',
      SCIMKIT_KEEP_ALIVE_TIMEOUT: '75',
      SCIMKIT_DB: db,
      SCIMKIT_HOST: '127.0.0.1',
      SCIMKIT_LOG_LEVEL: 'debug',
      SCIMKIT_PUBLIC_URL: 'https://scim.example.com',
      SCIMKIT_TRUST_PROXY: 'loopback',
      SCIMKIT_CONSOLE: 'false',
      SCIMKIT_REQUEST_LOG: '5',
      SCIMKIT_METRICS_TOKEN: 'm3trics-t0ken',
    });
    try {
      assert.ok(existsSync(db));
      const out = server.stdout();
      assert.match(out, new RegExp(`^Data: SQLite file ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(from SCIMKIT_DB\\)$`, 'm'));
      assert.match(out, /^Rate limits: counted in this process$/m);
      // /metrics names organization ids: with SCIMKIT_METRICS_TOKEN it needs that token, which is never printed.
      assert.match(out, /^Metrics: \/metrics needs its bearer token \(from SCIMKIT_METRICS_TOKEN\)$/m);
      assert.doesNotMatch(out, /m3trics-t0ken/);
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer m3trics-t0ken2', 'Basic m3trics-t0ken']) {
        const refused = await fetch(`${server.origin}/metrics`, { headers: authorization ? { authorization } : {} });
        assert.equal(refused.status, 401, String(authorization));
        assert.doesNotMatch(await refused.text(), /scimkit_/);
      }
      const scraped = await fetch(`${server.origin}/metrics`, { headers: { authorization: 'Bearer m3trics-t0ken' } });
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /^scimkit_http_requests_total/m);
      // Durations are reported as given, in seconds (they were once shown in milliseconds: `--headers-timeout 2500`).
      assert.match(out, /^Settings from flags: --log-level warn, --headers-timeout 2\.5$/m);
      assert.match(out, /^Settings from the environment: .*PORT=0/m);
      for (const expected of [`SCIMKIT_DB=${db}`, 'SCIMKIT_PUBLIC_URL=https://scim.example.com', 'SCIMKIT_TRUST_PROXY=loopback', 'SCIMKIT_CONSOLE=false', 'SCIMKIT_REQUEST_LOG=5']) {
        assert.ok(out.includes(expected), `${expected} missing from:\n${out}`);
      }
      assert.match(out, /^Settings from the environment: .*SCIMKIT_KEEP_ALIVE_TIMEOUT=75(,|$)/m);
      // The flag won: SCIMKIT_LOG_LEVEL is not among the settings taken from the environment.
      assert.doesNotMatch(out, /SCIMKIT_LOG_LEVEL/);

      const base = /^SCIM base URL: https:\/\/scim\.example\.com(\/scim\/v2\/organizations\/\S+)$/m.exec(out);
      const token = /^Bearer token \(shown once, store it now\): (\S+)$/m.exec(out);
      assert.ok(base && token, out);
      const created = await call(`${server.origin}${base[1]}`, 'POST', '/Users', { token: token[1], body: user('env@example.com') });
      assert.equal(created.status, 201);
      // SCIMKIT_PUBLIC_URL is the base of links.
      assert.equal(created.headers.get('location'), `https://scim.example.com${base[1]}/Users/${created.body.id}`);
      // SCIMKIT_CONSOLE=false: no console.
      assert.equal((await fetch(`${server.origin}/admin/`)).status, 404);
    } finally {
      server.child.kill('SIGTERM');
    }
    assert.equal(await server.exit, 0);
  });

  test('a PostgreSQL URL from the environment is reported without its credentials', { skip: !process.env.SCIMKIT_TEST_POSTGRES_URL && !process.env.CI ? 'PostgreSQL not installed' : false }, async () => {
    const url = new URL(await freshPostgresUrl());
    url.password = 'not-shown-anywhere';
    // The test server trusts local connections, so the password is never checked: it only has to stay unprinted.
    const server = await start(process.execPath, [BIN, 'serve'], { PORT: '0', SCIMKIT_POSTGRES_URL: url.toString(), SCIMKIT_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'), SCIMKIT_LOG_LEVEL: 'warn' });
    try {
      const out = server.stdout();
      assert.match(out, /^Data: PostgreSQL at postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/\S+ \(from SCIMKIT_POSTGRES_URL\)$/m);
      assert.match(out, /^Webhook secret key: from SCIMKIT_SECRET_KEY$/m);
      assert.doesNotMatch(out, /not-shown-anywhere/);
      assert.doesNotMatch(out, new RegExp(Buffer.alloc(32, 7).toString('base64').slice(0, 12)));
    } finally {
      server.child.kill('SIGTERM');
    }
    assert.equal(await server.exit, 0);
  });

  test('a bad value stops the start, naming the variable or flag and what is allowed', () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{ PORT: 'eighty' }, [], /environment variable 'PORT' \(--port\) must be a port number/],
      [{ PORT: '99999' }, [], /environment variable 'PORT' \(--port\) must be a port number/],
      [{}, ['--port', 'eighty'], /option '--port <port>' argument 'eighty' is invalid\. must be a port number/],
      [{ SCIMKIT_LOG_LEVEL: 'loud' }, [], /'SCIMKIT_LOG_LEVEL' \(--log-level\) must be one of fatal, error, warn, info, debug, trace, silent/],
      [{ SCIMKIT_CONSOLE: 'maybe' }, [], /'SCIMKIT_CONSOLE' \(--no-console\) must be true or false/],
      [{ SCIMKIT_HOST: '' }, [], /'SCIMKIT_HOST' \(--host\) must not be empty/],
      [{ SCIMKIT_PUBLIC_URL: 'https://scim.example.com/base' }, [], /'SCIMKIT_PUBLIC_URL' \(--public-url\) must be http:\/\/ or https:\/\/ with a host and nothing after it/],
      [{ SCIMKIT_TRUST_PROXY: 'everyone' }, [], /'SCIMKIT_TRUST_PROXY' \(--trust-proxy\) must be proxy addresses or CIDR ranges/],
      [{ SCIMKIT_MAX_CONNECTIONS: '0' }, [], /'SCIMKIT_MAX_CONNECTIONS' \(--max-connections\) must be a positive integer/],
      // Past 2,147,483 s Node's timer overflows and fires at once: every delivery would time out.
      [{}, ['--webhook-timeout', '2147484'], /option '--webhook-timeout <seconds>' argument '2147484' is invalid\. must be at most 3600 \(an hour\)/],
      [{ SCIMKIT_WEBHOOK_TIMEOUT: '3601' }, [], /'SCIMKIT_WEBHOOK_TIMEOUT' \(--webhook-timeout\) must be at most 3600/],
      // Past about 100,000,000 days the purge's cutoff is an invalid date: every purge failed.
      [{ SCIMKIT_EVENT_RETENTION_DAYS: '200000000' }, [], /'SCIMKIT_EVENT_RETENTION_DAYS' \(--event-retention-days\) must be at most 36500 \(a hundred years\)/],
      [{ SCIMKIT_REDIS_URL: 'http://:hunter2@cache' }, [], /'SCIMKIT_REDIS_URL' \(--redis\) must be a URL such as redis:\/\/127\.0\.0\.1:6379/],
      [{ SCIMKIT_POSTGRES_URL: 'mysql://root:hunter2@db/scim' }, [], /'SCIMKIT_POSTGRES_URL' is invalid\. must be a URL such as postgres:/],
      [{ SCIMKIT_DB: join(dir, 'x.db'), SCIMKIT_POSTGRES_URL: 'postgres://db/scim' }, [], /environment variable 'SCIMKIT_DB' cannot be used with environment variable 'SCIMKIT_POSTGRES_URL'/],
      // openStore's URL form made a folder named "sqlite:." holding the database; a postgres:// URL became a file.
      [{ SCIMKIT_DB: 'sqlite:./x.db' }, [], /from env 'SCIMKIT_DB' is invalid\. is a file path, not a URL: write \.\/data\/scimkit\.db \(without sqlite:\)/],
      [{ SCIMKIT_DB: 'postgres://u:hunter2@db/scim' }, [], /from env 'SCIMKIT_DB' is invalid\. is a file path, not a URL/],
      [{}, ['--db', 'postgres://u:hunter2@db/scim'], /option '--db <path>' argument .* is invalid\. is a file path, not a URL/],
      [{ SCIMKIT_METRICS_TOKEN: 'two words' }, [], /'SCIMKIT_METRICS_TOKEN' must be a token without spaces/],
      [{ SCIMKIT_METRICS_TOKEN: '' }, [], /'SCIMKIT_METRICS_TOKEN' must be a token without spaces/],
    ];
    for (const [env, args, message] of cases) {
      const result = serveSync({ SCIMKIT_DB: join(dir, 'never.db'), ...env }, ...args);
      const what = JSON.stringify({ env, args });
      assert.equal(result.status, 1, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.doesNotMatch(result.stderr, /hunter2/, `${what} printed a password`);
      assert.doesNotMatch(result.stdout, /listening on/, `${what} started anyway`);
    }
    assert.equal(existsSync(join(dir, 'never.db')), false, 'nothing was created by a refused start');
  });

  test('every serve option has a variable, which --help and docs/server.md name', async () => {
    const serve = (await buildProgram()).commands.find((c) => c.name() === 'serve')!;
    const docs = readFileSync(join(ROOT, 'docs', 'server.md'), 'utf8');
    const help = serve.helpInformation();
    const options = serve.options as Option[];
    assert.ok(options.length > 20);
    for (const option of options) {
      assert.ok(option.envVar, `${option.long} has no environment variable`);
      assert.ok(help.replace(/\s+/g, ' ').includes(option.envVar), `--help does not name ${option.envVar}`);
      assert.ok(docs.includes(`\`${option.envVar}\``), `docs/server.md does not name ${option.envVar} (${option.long})`);
    }
  });
});

describe('stopping serve through npm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scimkit-serve-npm-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} to the npm process of \`npm start\` stops the server and frees its port`, async () => {
      // --ignore-scripts skips prestart's rebuild check: the suite built dist/ before it started.
      const server = await start(NPM, ['start', '--silent', '--ignore-scripts', '--', '--port', '0'], { SCIMKIT_DB: join(dir, `${signal}.db`), SCIMKIT_LOG_LEVEL: 'warn' });
      server.child.kill(signal);
      await server.exit;
      await portClosed(server.origin);
    });
  }
});
