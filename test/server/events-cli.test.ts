/**
 * `scimkit keys`, `scimkit events` and `scimkit webhooks` as real processes over a SQLite file, beside a real
 * `scimkit serve` that delivers to a real receiver: every command of docs/events.md's CLI, and what each prints.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { BIN, runCli } from './cli-run.ts';
import { call, user } from './helpers.ts';
import { startReceiver } from './receiver.ts';
import type { Receiver } from './receiver.ts';


const cli = runCli;

/** A long-running command; resolves `line(match)` once a stdout line matches. */
function start(args: string[]): { child: ChildProcess; line: (match: RegExp) => Promise<string>; exited: Promise<void> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve: (line: string) => void }[] = [];
  let buffer = '';
  child.stdout!.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(text);
      for (const w of [...waiters]) {
        if (!w.match.test(text)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(text);
      }
    }
  });
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const line = (match: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => match.test(l));
      if (seen !== undefined) return resolve(seen);
      waiters.push({ match, resolve });
      void exited.then(() => reject(new Error(`${args.join(' ')} exited before printing ${match}`)));
    });
  return { child, line, exited };
}

async function stop(p: { child: ChildProcess; exited: Promise<void> }): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

describe('scimkit keys, events and webhooks', () => {
  let dir: string;
  let db: string;
  let receiver: Receiver;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-events-cli-'));
    db = join(dir, 'events.db');
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keys create/list/revoke, events (--json, --follow --after), webhooks create/list/rotate-secret/deliveries/replay/delete', { timeout: 120_000 }, async () => {
    const org = JSON.parse((await cli('orgs', 'create', 'Hooli', '--json', '--db', db)).stdout.trim()) as { id: string; token: string };

    // keys: create prints the key once; list never shows it; revoke refuses it at once.
    const made = await cli('keys', 'create', '--org', org.id, '--json', '--db', db);
    assert.equal(made.code, 0, made.stderr);
    const key = JSON.parse(made.stdout.trim()) as { id: string; key: string; organization_id: string };
    assert.match(key.key, /^smk_/);
    assert.equal(key.organization_id, org.id);
    // A blank name is refused, and makes no key.
    const blank = await cli('keys', 'create', '--name', ' ', '--db', db);
    assert.equal(blank.code, 1);
    assert.match(blank.stderr, /option '--name <name>' argument ' ' is invalid\. must not be empty/);
    const listed = await cli('keys', 'list', '--json', '--db', db);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!listed.stdout.includes(key.key), 'keys list never prints a key');
    assert.deepEqual((JSON.parse(listed.stdout) as { id: string }[]).map((k) => k.id), [key.id]);

    // webhooks create prints the secret once with --json.
    const hook = await cli('webhooks', 'create', org.id, '--url', receiver.url, '--allow-http', '--json', '--db', db);
    assert.equal(hook.code, 0, hook.stderr);
    const endpoint = JSON.parse(hook.stdout.trim()) as { id: string; secret: string };
    assert.match(endpoint.secret, /^whsec_/);
    assert.equal((await cli('webhooks', 'create', org.id, '--url', 'http://127.0.0.1:9/x', '--db', db)).code, 1, 'plain http needs --allow-http');
    const hooks = JSON.parse((await cli('webhooks', 'list', org.id, '--json', '--db', db)).stdout) as { id: string; url: string }[];
    assert.deepEqual(hooks.map((h) => [h.id, h.url]), [[endpoint.id, receiver.url]]);
    assert.ok(!JSON.stringify(hooks).includes(endpoint.secret), 'webhooks list never prints a secret');

    const server = start(['serve', '--db', db, '--port', '0', '--allow-http-webhooks', '--log-level', 'warn']);
    const origin = /listening on (\S+)/.exec(await server.line(/^listening on /))![1];
    const follow = start(['events', org.id, '--follow', '--after', '0', '--json', '--db', db]);
    try {
      const api = `${origin}/api/v1/organizations/${org.id}`;
      assert.equal((await call(api, 'GET', '/events', { token: key.key })).status, 200);

      // A SCIM write: serve delivers it, signed with the secret the CLI printed.
      const scim = `${origin}/scim/v2/organizations/${org.id}`;
      const mark = receiver.received.length;
      const arrived = new Promise<void>((resolve) => {
        receiver.answer = () => {
          resolve();
          return { status: 200 };
        };
      });
      const created = await call(scim, 'POST', '/Users', { token: org.token, body: user('ada@example.com') });
      assert.equal(created.status, 201);
      await arrived;
      const got = receiver.received[mark];
      assert.equal(got.event.type, 'user.created');
      new Webhook(endpoint.secret).verify(got.body, got.headers as Record<string, string>);

      // events --follow printed it as it happened; events --json prints the same envelope.
      const followed = JSON.parse(await follow.line(/user\.created/)) as { id: string };
      assert.equal(followed.id, got.event.id);
      const printed = await cli('events', org.id, '--json', '--db', db);
      assert.equal(printed.code, 0, printed.stderr);
      assert.deepEqual(printed.stdout.trim().split('\n').map((l) => JSON.parse(l)), [JSON.parse(got.body)]);
      const text = await cli('events', org.id, '--db', db);
      assert.match(text.stdout, /\tuser\.created\t\S+ ada@example\.com/);
      // A cursor ahead of the stream comes from elsewhere: refused, as the events API refuses it, not an empty print.
      const ahead = await cli('events', org.id, '--after', '999999', '--db', db);
      assert.equal(ahead.code, 1, ahead.stdout);
      assert.match(ahead.stderr, /--after 999999 is ahead of this organization's events/);

      // deliveries lists the success; --failed lists none; replay queues the same event again, which arrives.
      const deliveries = JSON.parse((await cli('webhooks', 'deliveries', org.id, endpoint.id, '--json', '--db', db)).stdout) as { id: string; status: string; eventId: string }[];
      assert.deepEqual(deliveries.map((d) => [d.status, d.eventId]), [['succeeded', got.event.id]]);
      assert.deepEqual(JSON.parse((await cli('webhooks', 'deliveries', org.id, endpoint.id, '--failed', '--json', '--db', db)).stdout), []);

      // Flags that contradict each other are refused, not one of them silently taken.
      for (const args of [
        ['webhooks', 'deliveries', org.id, endpoint.id, '--failed', '--pending'],
        ['webhooks', 'update', org.id, endpoint.id, '--events', 'user.created', '--all-events'],
      ]) {
        const both = await cli(...args, '--db', db);
        assert.equal(both.code, 1, args.join(' '));
        assert.match(both.stderr, /option '--(failed|events <t1,t2>)' cannot be used with option '--(pending|all-events)'/, args.join(' '));
      }
      assert.equal(JSON.parse((await cli('webhooks', 'list', org.id, '--json', '--db', db)).stdout)[0].eventTypes, null, 'the update changed nothing');
      // rotate-secret: a grace longer than the API's 7 days is refused, and rotates nothing.
      const tooLong = await cli('webhooks', 'rotate-secret', org.id, endpoint.id, '--grace-hours', '169', '--db', db);
      assert.equal(tooLong.code, 1);
      assert.match(tooLong.stderr, /--grace-hours must be at most 168 \(7 days\)/);
      assert.equal((await cli('webhooks', 'reveal-secret', org.id, endpoint.id, '--db', db)).stdout.trim(), endpoint.secret);
      // rotate-secret: the replayed delivery is signed with both the new and the old secret.
      const rotated = await cli('webhooks', 'rotate-secret', org.id, endpoint.id, '--json', '--db', db);
      assert.equal(rotated.code, 0, rotated.stderr);
      const newSecret = (JSON.parse(rotated.stdout) as { secret: string }).secret;
      assert.notEqual(newSecret, endpoint.secret);
      const again = new Promise<void>((resolve) => {
        receiver.answer = () => {
          resolve();
          return { status: 200 };
        };
      });
      const replayed = await cli('webhooks', 'replay', org.id, endpoint.id, '--delivery', deliveries[0].id, '--json', '--db', db);
      assert.equal(replayed.code, 0, replayed.stderr);
      await again;
      const resent = receiver.received[receiver.received.length - 1];
      assert.equal(resent.event.id, got.event.id, 'a replay keeps the event id');
      new Webhook(newSecret).verify(resent.body, resent.headers as Record<string, string>);
      new Webhook(endpoint.secret).verify(resent.body, resent.headers as Record<string, string>);
      assert.equal((await cli('webhooks', 'replay', org.id, endpoint.id, '--db', db)).code, 1, 'replay needs --delivery or --since');

      // keys revoke: the key is refused at once.
      assert.equal((await cli('keys', 'revoke', key.id, '--db', db)).code, 0);
      assert.equal((await call(api, 'GET', '/events', { token: key.key })).status, 401);

      // webhooks delete.
      assert.equal((await cli('webhooks', 'delete', org.id, endpoint.id, '--db', db)).code, 0);
      assert.deepEqual(JSON.parse((await cli('webhooks', 'list', org.id, '--json', '--db', db)).stdout), []);
      assert.equal((await cli('webhooks', 'delete', org.id, endpoint.id, '--db', db)).code, 1);
    } finally {
      receiver.answer = () => ({ status: 200 });
      await stop(follow);
      await stop(server);
    }
  });

  test('deliver and events refuse a SQLite file that is not there, instead of creating it and waiting on it', { timeout: 60_000 }, async () => {
    // A mistyped or relative --db made an empty database: deliver then sent nothing, events --follow printed nothing.
    const missing = join(dir, 'typo', 'scim.db');
    for (const args of [['deliver', '--db', missing], ['events', '00000000-0000-0000-0000-000000000000', '--db', missing, '--follow']]) {
      const r = await cli(...args);
      assert.equal(r.code, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^error: no database at .*typo\/scim\.db: scimkit serve \(or openStore in your app\) creates it; give this command the same --db \(SCIMKIT_DB\)$/m);
      assert.equal(existsSync(join(dir, 'typo')), false, `${args[0]} created the folder`);
    }
  });

  test('serve --no-deliver leaves delivery to scimkit deliver, which delivers what serve wrote', { timeout: 120_000 }, async () => {
    const file = join(dir, 'no-deliver.db');
    const org = JSON.parse((await cli('orgs', 'create', 'Initech', '--json', '--db', file)).stdout.trim()) as { id: string; token: string };
    const hook = await cli('webhooks', 'create', org.id, '--url', receiver.url, '--allow-http', '--json', '--db', file);
    assert.equal(hook.code, 0, hook.stderr);
    const endpoint = JSON.parse(hook.stdout.trim()) as { id: string; secret: string };
    const server = start(['serve', '--db', file, '--port', '0', '--allow-http-webhooks', '--no-deliver', '--log-level', 'warn']);
    let deliverer: ReturnType<typeof start> | null = null;
    try {
      const origin = /listening on (\S+)/.exec(await server.line(/^listening on /))![1];
      const mark = receiver.received.length;
      const created = await call(`${origin}/scim/v2/organizations/${org.id}`, 'POST', '/Users', { token: org.token, body: user('milton@example.com') });
      assert.equal(created.status, 201);
      // A delivering serve fans an event out as it commits, and polls every second besides: after 1.5 s nothing was
      // sent, and no delivery exists.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(receiver.received.length, mark, 'serve --no-deliver sent nothing');
      const none = JSON.parse((await cli('webhooks', 'deliveries', org.id, endpoint.id, '--json', '--db', file)).stdout) as unknown[];
      assert.deepEqual(none, []);

      const arrived = new Promise<void>((resolve) => {
        receiver.answer = () => {
          resolve();
          return { status: 200 };
        };
      });
      deliverer = start(['deliver', '--db', file, '--allow-http-webhooks', '--log-level', 'warn']);
      await arrived;
      const got = receiver.received[mark];
      assert.equal(got.event.type, 'user.created');
      assert.equal(got.event.data.id, created.body.id);
      new Webhook(endpoint.secret).verify(got.body, got.headers as Record<string, string>);
    } finally {
      receiver.answer = () => ({ status: 200 });
      if (deliverer) await stop(deliverer);
      await stop(server);
    }
  });

  test("webhooks list says an endpoint is paused, and until when, after its receiver's 429 with Retry-After", { timeout: 120_000 }, async () => {
    const file = join(dir, 'paused.db');
    const org = JSON.parse((await cli('orgs', 'create', 'Umbrella', '--json', '--db', file)).stdout.trim()) as { id: string; token: string };
    const busy = await startReceiver('/busy');
    busy.answer = () => ({ status: 429, headers: { 'retry-after': '3600' } });
    const server = start(['serve', '--db', file, '--port', '0', '--allow-http-webhooks', '--log-level', 'warn']);
    try {
      const hook = await cli('webhooks', 'create', org.id, '--url', busy.url, '--allow-http', '--json', '--db', file);
      assert.equal(hook.code, 0, hook.stderr);
      const origin = /listening on (\S+)/.exec(await server.line(/^listening on /))![1];
      const asked = new Promise<void>((resolve) => {
        busy.answer = () => {
          resolve();
          return { status: 429, headers: { 'retry-after': '3600' } };
        };
      });
      assert.equal((await call(`${origin}/scim/v2/organizations/${org.id}`, 'POST', '/Users', { token: org.token, body: user('alice@example.com') })).status, 201);
      await asked;
      // The pause is recorded with the attempt's outcome, just after the answer.
      while ((JSON.parse((await cli('webhooks', 'list', org.id, '--json', '--db', file)).stdout) as { pausedUntil: string | null }[])[0].pausedUntil === null) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const listed = (await cli('webhooks', 'list', org.id, '--db', file)).stdout;
      assert.match(listed, /\tpaused until \d{4}-\d\d-\d\dT[\d:.]+Z \(the receiver's Retry-After\)$/m);
    } finally {
      await stop(server);
      await busy.close();
    }
  });
});
