/**
 * Connector config validation: every key, strings for numbers and booleans, errors naming the key and its range,
 * provider URLs, and (through the real CLI) exit code 2 with the token never printed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../src/connector/config.ts';
import { redactUrl } from '../../src/connector/destination/postgres.ts';
import { contentstackHost, CONTENTSTACK_REGIONS } from '../../src/connector/providers.ts';

const TOKEN = 'cfg-T0ken-that-must-never-print-9f8e7d';
const dir = mkdtempSync(join(tmpdir(), 'scimkit-cfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.ok(!err.message.includes(TOKEN), 'the token is never in a config error');
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

const base = { bearer_token: TOKEN, org_id: 'org42' };

describe('connector config', () => {
  it('accepts the example keys as strings, as connector platforms send them', () => {
    const c = parseConfig({
      ...base,
      sync_frequency_hours: '6',
      initial_sync_days: '30',
      max_records_per_page: '250',
      request_timeout_seconds: '45',
      retry_attempts: '5',
      enable_incremental_sync: 'false',
      enable_debug_logging: 'TRUE',
    });
    assert.equal(c.syncFrequencyHours, 6);
    assert.equal(c.initialSyncDays, 30);
    assert.equal(c.maxRecordsPerPage, 250);
    assert.equal(c.requestTimeoutSeconds, 45);
    assert.equal(c.retryAttempts, 5);
    assert.equal(c.enableIncrementalSync, false);
    assert.equal(c.enableDebugLogging, true);
    assert.equal(c.provider, 'contentful');
    assert.equal(c.baseUrl, 'https://api.contentful.com/scim/v2/organizations/org42');
    assert.deepEqual(c.destination, { kind: 'sqlite', path: './warehouse.db' });
  });

  it('accepts native JSON values and applies documented defaults for absent keys', () => {
    const c = parseConfig({ ...base, max_records_per_page: 1000, retry_attempts: 1, enable_incremental_sync: true });
    assert.equal(c.maxRecordsPerPage, 1000);
    assert.equal(c.retryAttempts, 1);
    assert.equal(c.requestTimeoutSeconds, 30);
    assert.equal(c.initialSyncDays, null, 'absent initial_sync_days means everything');
    assert.equal(c.maxDeleteShare, 0.5);
    assert.equal(parseConfig(base).maxRecordsPerPage, 100);
  });

  it('names the key and the allowed range for every out-of-range or mistyped value, all at once', () => {
    const found = problems({
      ...base,
      max_records_per_page: 0,
      request_timeout_seconds: '5',
      retry_attempts: 6,
      sync_frequency_hours: 'daily',
      enable_incremental_sync: 'yes please',
      initial_sync_days: 1.5,
      max_delete_share: 2,
    });
    assert.deepEqual(found, [
      'sync_frequency_hours must be a number from 0.01 to 720 (got "daily")',
      'initial_sync_days must be an integer from 1 to 36500 (got 1.5)',
      'max_records_per_page must be an integer from 1 to 1000 (got 0)',
      'request_timeout_seconds must be a number from 10 to 60 (got "5")',
      'retry_attempts must be an integer from 1 to 5 (got 6)',
      'enable_incremental_sync must be true or false (got "yes please")',
      'max_delete_share must be a number from 0 to 1 (got 2)',
    ]);
    assert.deepEqual(problems({ ...base, max_records_per_page: 1001 }), ['max_records_per_page must be an integer from 1 to 1000 (got 1001)']);
    assert.deepEqual(problems({ ...base, request_timeout_seconds: 61 }), ['request_timeout_seconds must be a number from 10 to 60 (got 61)']);
  });

  it('rejects unknown keys (including prototype keys) instead of ignoring them', () => {
    const found = problems(JSON.parse(`{"bearer_token":"${TOKEN}","org_id":"o","page_size":50,"__proto__":{"x":1}}`));
    assert.equal(found.length, 2);
    assert.match(found[0], /^unknown key "page_size" \(allowed: bearer_token, org_id, /);
    assert.match(found[1], /^unknown key "__proto__"/);
  });

  it('requires a token and never quotes it, even when it has the wrong type', () => {
    assert.deepEqual(problems({ org_id: 'o' }), ['bearer_token is required']);
    assert.deepEqual(problems({ org_id: 'o', bearer_token: 12345 }), ['bearer_token must be a string (got number)']);
    assert.deepEqual(problems({ org_id: 'o', bearer_token: '  ' }), ['bearer_token must not be empty']);
  });

  it('builds the Contentstack URL for each of the seven regions', () => {
    const expected: Record<string, string> = {
      'aws-na': 'auth-api.contentstack.com',
      'aws-eu': 'eu-auth-api.contentstack.com',
      'aws-au': 'au-auth-api.contentstack.com',
      'azure-na': 'azure-na-auth-api.contentstack.com',
      'azure-eu': 'azure-eu-auth-api.contentstack.com',
      'gcp-na': 'gcp-na-auth-api.contentstack.com',
      'gcp-eu': 'gcp-eu-auth-api.contentstack.com',
    };
    assert.deepEqual([...CONTENTSTACK_REGIONS].sort(), Object.keys(expected).sort());
    for (const region of CONTENTSTACK_REGIONS) {
      assert.equal(contentstackHost(region), expected[region]);
      const c = parseConfig({ ...base, provider: 'contentstack', region });
      assert.equal(c.baseUrl, `https://${expected[region]}/scim/v2.0/organizations/org42`);
    }
    assert.equal(parseConfig({ ...base, provider: 'contentstack' }).region, 'aws-na');
    assert.deepEqual(problems({ ...base, provider: 'contentstack', region: 'mars-1' }), [
      'region must be one of aws-na, aws-eu, aws-au, azure-na, azure-eu, gcp-na, gcp-eu (got "mars-1")',
    ]);
    assert.deepEqual(problems({ ...base, provider: 'contentful', region: 'aws-eu' }), ['region applies only to provider contentstack (provider is contentful)']);
  });

  it('needs base_url for a generic SCIM provider, and lets it override the others', () => {
    assert.deepEqual(problems({ bearer_token: TOKEN, provider: 'scim' }), ['base_url is required when provider is scim']);
    assert.equal(parseConfig({ bearer_token: TOKEN, provider: 'scim', base_url: 'http://127.0.0.1:8080/scim/v2/' }).baseUrl, 'http://127.0.0.1:8080/scim/v2');
    assert.equal(parseConfig({ ...base, base_url: 'https://proxy.example/orgs/{org_id}/scim' }).baseUrl, 'https://proxy.example/orgs/org42/scim');
    assert.deepEqual(problems({ bearer_token: TOKEN, provider: 'scim', base_url: 'ftp://x' }), ['base_url must be an absolute http:// or https:// URL']);
    assert.deepEqual(problems({ bearer_token: TOKEN, provider: 'scim', base_url: 'https://u:p@x.example' }), ['base_url must not carry credentials; put the token in bearer_token']);
    assert.deepEqual(problems({ bearer_token: TOKEN, provider: 'contentful' }), ['org_id is required for provider contentful']);
  });

  it('refuses a bearer_token pasted with its "Bearer " scheme, without showing it', () => {
    for (const token of [`Bearer ${TOKEN}`, `bearer  ${TOKEN}`]) {
      assert.deepEqual(problems({ ...base, bearer_token: token }), ['bearer_token must be the token alone, without "Bearer " in front (the connector adds it)']);
    }
    assert.equal(parseConfig({ ...base, bearer_token: 'Bearerish-token-1234' }).bearerToken, 'Bearerish-token-1234');
  });

  it('parses sqlite:, duckdb: and postgres:// destinations and rejects others', () => {
    assert.deepEqual(parseConfig({ ...base, destination: 'sqlite:/var/lib/w.db' }).destination, { kind: 'sqlite', path: '/var/lib/w.db' });
    assert.deepEqual(parseConfig({ ...base, destination: 'duckdb:./warehouse.duckdb' }).destination, { kind: 'duckdb', path: './warehouse.duckdb' });
    assert.deepEqual(problems({ ...base, destination: 'duckdb:' }), ['destination duckdb: needs a file path, as in duckdb:./warehouse.duckdb']);
    assert.deepEqual(parseConfig({ ...base, destination: 'duckdb:///var/lib/w.duckdb' }).destination, { kind: 'duckdb', path: '/var/lib/w.duckdb' });
    // As paths, //./w.duckdb and //w.db are files at the root of the filesystem.
    assert.deepEqual(problems({ ...base, destination: 'duckdb://./w.duckdb' }), ['destination "duckdb://./w.duckdb" names no file: write duckdb:./warehouse.duckdb for a path relative to the working directory, or duckdb:///abs/path for an absolute one']);
    assert.deepEqual(problems({ ...base, destination: 'sqlite://w.db' }), ['destination "sqlite://w.db" names no file: write sqlite:./file.db for a path relative to the working directory, or sqlite:///abs/path for an absolute one']);
    assert.deepEqual(parseConfig({ ...base, destination: 'postgres://u:p@db:5432/wh' }).destination, { kind: 'postgres', url: 'postgres://u:p@db:5432/wh' });
    assert.deepEqual(problems({ ...base, destination: 'mysql://u:secret@db/wh' }), ['destination must be sqlite:PATH, duckdb:PATH or a postgres:// URL (got "mysql://***@db/wh")']);
    // No shell reads the config: "~" would be a folder of that name in the working directory.
    for (const kind of ['sqlite', 'duckdb']) {
      assert.deepEqual(problems({ ...base, destination: `${kind}:~/wh/w.db` }), [
        `destination ${kind}:~/wh/w.db: "~" is not expanded (no shell reads the config); write the full path, as in ${kind}:${homedir()}/wh/w.db`,
      ]);
    }
    assert.deepEqual(parseConfig({ ...base, destination: 'sqlite:./~notes/w.db' }).destination, { kind: 'sqlite', path: './~notes/w.db' });
  });

  it('never shows a destination password, whether in the URL\'s user part or in the password query parameters node-postgres reads', () => {
    assert.deepEqual(problems({ ...base, destination: 'mysql://db/wh?password=s3cretQ&sslpassword=s3cretK' }), ['destination must be sqlite:PATH, duckdb:PATH or a postgres:// URL (got "mysql://db/wh?password=***&sslpassword=***")']);
    const label = redactUrl('postgres://u:s3cretU@db:5432/wh?sslmode=require&password=s3cretQ&sslpassword=s3cretK');
    assert.ok(!/s3cret/.test(label), label);
    assert.match(label, /^postgres:\/\/u:\*\*\*@db:5432\/wh\?sslmode=require&password=\*\*\*&sslpassword=\*\*\*$/);
  });

  it('takes a namespace of lower-case letters, digits and underscores', () => {
    assert.equal(parseConfig({ ...base, namespace: 'contentstack_eu' }).namespace, 'contentstack_eu');
    assert.equal(parseConfig(base).namespace, null);
    for (const bad of ['Acme', '1st', 'a-b', 'x'.repeat(41), 'a b']) {
      assert.match(problems({ ...base, namespace: bad })[0], /^namespace must be 1 to 40 lower-case letters, digits and underscores, starting with a letter/);
    }
  });

  it('reports unreadable files and invalid JSON without quoting the file', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, `{\n  "bearer_token": "${TOKEN}",\n  "org_id": oops\n}`);
    assert.throws(() => loadConfig(bad), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /bad\.json is not valid JSON/);
      assert.ok(!err.message.includes(TOKEN));
      return true;
    });
    assert.throws(() => loadConfig(join(dir, 'missing.json')), /cannot read config file .*missing\.json \(ENOENT\)/);
  });
});

describe('connector config through the CLI', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['bin/scimkit.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('exits 2 and names the key, without printing the token (debug logging on)', () => {
    const file = join(dir, 'invalid.json');
    writeFileSync(file, JSON.stringify({ bearer_token: TOKEN, org_id: 'o', enable_debug_logging: 'true', max_records_per_page: '5000', retry_attempts: 0 }));
    for (const command of ['sync', 'check', 'state']) {
      const r = cli([command, '--config', file]);
      assert.equal(r.status, 2, `${command} exits 2`);
      assert.match(r.stderr, /max_records_per_page must be an integer from 1 to 1000 \(got "5000"\)/);
      assert.match(r.stderr, /retry_attempts must be an integer from 1 to 5 \(got 0\)/);
      assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), 'the token is not printed');
    }
  });

  it('exits 2 on invalid JSON without echoing the file', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, `{"bearer_token": "${TOKEN}", `);
    const r = cli(['sync', '--config', file]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /is not valid JSON/);
    assert.ok(!r.stderr.includes(TOKEN));
  });
});
