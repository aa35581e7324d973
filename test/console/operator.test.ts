/**
 * The operator console in a real Chromium against a real `scimkit serve` process: the issue's flows 1, 2, 3 and 5
 * end to end (sign in, organization, token; a SCIM POST seen on the users page, in the events and in the request
 * log; a failed request found with its detail; a webhook, its delivery, a replay, the secret revealed and rotated),
 * what an IdP sends shown as text and never run, a cross-site request refused, and the console from the keyboard
 * alone. Flow 4 and the directory pages are in directory.test.ts. Every main page is saved as a screenshot under
 * test-artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { launchBrowser, screenshot, watchProblems } from './browser.ts';
import { cli, createAdmin, serve } from './process.ts';
import type { Served } from './process.ts';

const EMAIL = 'ops@example.com';
const PASSWORD = 'a console password';
// No quotes, so the JSON views show it as it is sent.
const XSS = '<img src=x onerror=window.__xss=1>';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

async function scim(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

// How long to wait for something that happens in the background before failing (generous: the machine may be busy).
const PATIENCE_MS = 120_000;

/** Waits until `done()` holds, checking every 100 ms; fails after PATIENCE_MS, saying what it waited for. */
async function until(what: string, done: () => boolean | Promise<boolean>, step: () => Promise<unknown> = () => new Promise((r) => setTimeout(r, 100))): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await step();
  }
}

/**
 * Clicks the page's Refresh button until `found` matches: the request log is written in batches about once a
 * second, and deliveries run in the background.
 */
async function refreshUntil(page: Page, found: Locator): Promise<void> {
  await until(String(found), async () => (await found.count()) > 0, async () => {
    await page.waitForTimeout(250);
    await page.getByRole('button', { name: 'Refresh' }).click();
  });
}

describe('the operator console in Chromium', () => {
  let dir: string;
  let db: string;
  let served: Served;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let receiver: Server;
  const received: Received[] = [];
  // Filled in as the flows go.
  let orgPath = '';
  let base = '';
  let token = '';
  let adaId = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-console-'));
    db = join(dir, 'scim.db');
    await createAdmin(db, EMAIL, PASSWORD);
    served = await serve(['--db', db, '--allow-http-webhooks']);
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    problems = watchProblems(page);
    page.on('dialog', (dialog) => void dialog.accept());
  });

  after(async () => {
    await browser?.close();
    receiver?.close();
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const tab = async (name: string) => {
    await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name, exact: true }).click();
    await page.getByRole('heading', { level: 1 }).waitFor();
  };

  test('1. sign in, create an organization and a token', async () => {
    await page.goto(`${served.origin}/admin/`);
    await page.getByRole('heading', { name: 'scimkit console' }).waitFor();
    await screenshot(page, 'login');
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'The email or the password is wrong' }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();

    await page.getByLabel('Name', { exact: true }).fill('Acme');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { name: 'Acme', level: 1 }).waitFor();
    base = await page.getByRole('textbox', { name: 'SCIM base URL', exact: true }).inputValue();
    assert.match(base, new RegExp(`^${served.origin}/scim/v2/organizations/[0-9a-f-]{36}$`));
    orgPath = new URL(page.url()).pathname;

    await tab('Tokens');
    await page.getByRole('button', { name: 'Create token' }).click();
    token = await page.getByRole('textbox', { name: 'Bearer token', exact: true }).inputValue();
    assert.ok(token.length >= 40);
    await page.getByRole('cell', { name: 'never' }).waitFor();
    await screenshot(page, 'tokens');
    assert.equal((await scim(base, token, 'GET', '/ServiceProviderConfig')).status, 200);

    await page.goto(`${served.origin}/admin/`);
    await page.getByRole('link', { name: 'Acme' }).waitFor();
    await screenshot(page, 'organizations');
  });

  test('2. a SCIM POST with that token shows the user and the request', async () => {
    const created = await scim(base, token, 'POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'ada@example.com',
      displayName: 'Ada Lovelace',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ value: 'ada@example.com', primary: true }],
      password: 'never shown anywhere',
    });
    assert.equal(created.status, 201);
    adaId = created.body.id;

    await page.goto(`${served.origin}${orgPath}/users`);
    await page.getByRole('link', { name: 'ada@example.com' }).click();
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor();
    assert.doesNotMatch((await page.getByLabel('The user as SCIM JSON').textContent()) ?? '', /password|never shown anywhere/);
    await tab('Events');
    await page.getByText('ada@example.com').first().waitFor();
    await screenshot(page, 'events');

    await tab('Request log');
    // The log is written once a second: refresh until the request is there.
    const row = page.getByRole('row').filter({ hasText: 'POST' }).filter({ hasText: '/Users' }).filter({ hasText: '201' });
    await refreshUntil(page, row);
    await row.first().getByRole('button', { name: 'Body' }).click();
    const body = await page.getByLabel(/Request body of POST/).textContent();
    assert.match(body ?? '', /ada@example\.com/);
    assert.match(body ?? '', /\[removed\]/);
    assert.doesNotMatch(body ?? '', /never shown anywhere/);
  });

  test('3. a failed SCIM request is in the request log with its detail', async () => {
    const failed = await scim(base, token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], displayName: 'no userName' });
    assert.equal(failed.status, 400);
    await page.getByLabel('Status', { exact: true }).selectOption('400');
    const row = page.getByRole('row').filter({ hasText: failed.body.detail });
    await refreshUntil(page, row);
    await row.first().waitFor();
    assert.match((await row.first().textContent()) ?? '', /invalidValue/);
    assert.equal(await page.getByRole('row').filter({ hasText: '201' }).count(), 0, 'the 400 filter shows no 201');
    await screenshot(page, 'request-log');
  });

  test('5. a webhook gets a delivery, which can be replayed', async () => {
    await tab('Webhooks');
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    await page.getByLabel('URL', { exact: true }).fill(url);
    await page.getByLabel('user.updated', { exact: true }).check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = await page.getByRole('textbox', { name: 'Signing secret', exact: true }).inputValue();
    assert.match(secret, /^whsec_/);
    await page.getByRole('link', { name: url }).click();
    await page.getByRole('heading', { name: 'Webhook endpoint', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText('The test event was delivered: the endpoint answered 204').waitFor();

    const patched = await scim(base, token, 'PATCH', `/Users/${adaId}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'title', value: 'Analyst' }],
    });
    assert.equal(patched.status, 200);
    const succeeded = page.getByRole('row').filter({ hasText: 'user.updated' }).filter({ hasText: 'succeeded' });
    await refreshUntil(page, succeeded);
    await succeeded.first().waitFor();
    assert.match((await succeeded.first().textContent()) ?? '', /204/);
    const updates = () => received.filter((r) => JSON.parse(r.body).type === 'user.updated');
    assert.equal(updates().length, 1);

    await succeeded.first().getByRole('button', { name: /Replay delivery/ }).click();
    await until('the replay', () => updates().length >= 2);
    assert.equal(updates().length, 2, 'the replay arrived');
    assert.equal(updates()[1].headers['webhook-id'], updates()[0].headers['webhook-id'], 'a replay carries the same event id');
    // The page looks again while a delivery is pending: the replay's row turns succeeded without a click on Refresh.
    await succeeded.nth(1).waitFor({ timeout: PATIENCE_MS });
    assert.equal(await page.getByRole('row').filter({ hasText: 'pending' }).count(), 0);
    // Newest first: the replay's delivery (a higher id) is above the delivery it replayed.
    const ids = await page.getByRole('button', { name: /Replay delivery/ }).evaluateAll((buttons) => buttons.map((b) => Number(b.getAttribute('aria-label')?.split(' ').pop())));
    assert.ok(ids.length >= 2 && ids.every((id, i) => i === 0 || id < ids[i - 1]), `newest first: ${ids.join(', ')}`);
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    assert.equal(await page.getByRole('textbox', { name: 'Signing secret', exact: true }).inputValue(), secret);

    // Rotation: a new secret, the old one still signing for a while, and the test event signed with the new one.
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const rotated = await page.getByRole('textbox', { name: 'New signing secret', exact: true }).inputValue();
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, secret);
    await page.getByText('The previous secret still signs until').waitFor();
    const before = received.length;
    await page.getByRole('button', { name: 'Send test event' }).click();
    const isTest = (r: Received) => JSON.parse(r.body).type === 'webhook.test';
    await until('the test event', () => received.slice(before).some(isTest));
    const test = received.slice(before).find(isTest);
    assert.ok(test, 'the test event arrived');
    const headers = { 'webhook-id': String(test.headers['webhook-id']), 'webhook-timestamp': String(test.headers['webhook-timestamp']), 'webhook-signature': String(test.headers['webhook-signature']) };
    assert.doesNotThrow(() => new Webhook(rotated).verify(test.body, headers));
    await screenshot(page, 'webhook');
    await tab('Webhooks');
    await screenshot(page, 'webhooks');
  });

  test("an endpoint paused by its receiver's Retry-After says until when; an endpoint can be deleted", async () => {
    // A receiver that asks to wait an hour.
    let asked = 0;
    const busy = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        asked++;
        res.writeHead(429, { 'retry-after': '3600' }).end();
      });
    });
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(busy.address() as AddressInfo).port}/busy`;
      await tab('Webhooks');
      await page.getByLabel('URL', { exact: true }).fill(url);
      await page.getByLabel('user.created', { exact: true }).check();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByRole('link', { name: url }).waitFor();
      const created = await scim(base, token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'paused@example.com' });
      assert.equal(created.status, 201);
      await until('the receiver to be asked', () => asked > 0);
      // The pause is recorded with the attempt's outcome: reload the list until it shows.
      const paused = page.getByRole('listitem').filter({ hasText: url }).getByText(/paused until/);
      await until('the pause to show', async () => (await paused.count()) > 0, () => page.reload());
      assert.match((await page.getByRole('listitem').filter({ hasText: url }).textContent()) ?? '', /paused until/);
      await page.getByRole('link', { name: url }).click();
      await page.getByRole('heading', { name: 'Webhook endpoint', level: 1 }).waitFor();
      await page.getByText('paused until').waitFor();
      await page.getByText('The receiver asked to wait').waitFor();

      // Delete (the dialog is accepted): back on the list, without it; the API no longer knows it.
      const id = page.url().split('/').pop() as string;
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
      await page.getByRole('link', { name: url }).waitFor({ state: 'detached' });
      const orgId = orgPath.split('/')[3];
      const status = await page.evaluate(async (path) => (await fetch(path)).status, `/api/v1/organizations/${orgId}/webhooks/${id}`);
      assert.equal(status, 404);
      // The other endpoint is still there.
      assert.equal(await page.getByRole('link', { name: /\/hooks$/ }).count(), 1);
    } finally {
      busy.close();
    }
  });

  test('what an IdP sends is shown as text and never runs as script', async () => {
    const created = await scim(base, token, 'POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'mallory@example.com',
      displayName: XSS,
      name: { givenName: XSS },
    });
    assert.equal(created.status, 201);
    const group = await scim(base, token, 'POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: XSS,
      members: [{ value: created.body.id }],
    });
    assert.equal(group.status, 201);
    for (const path of ['/users', `/users/${created.body.id}`, '/groups', `/groups/${group.body.id}`, '/events', '/requests']) {
      await page.goto(`${served.origin}${orgPath}${path}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      if (path === '/requests') {
        // Two POSTs that made a user (Ada's and Mallory's); the newest comes first.
        const created = page.getByRole('row').filter({ hasText: 'POST' }).filter({ hasText: '201' });
        await refreshUntil(page, created.nth(1));
        await created.first().getByRole('button', { name: 'Body' }).click();
      }
      if (path === '/events') await page.getByRole('button', { name: 'Details' }).first().click();
      await page.getByText(XSS).first().waitFor();
      assert.equal(await page.locator('img').count(), 0, `no img element was made on ${path}`);
      assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, `no script ran on ${path}`);
    }
  });

  test('a cross-site page cannot change anything with the operator session', async () => {
    // Another origin (same site: another port of 127.0.0.1, so SameSite lets the cookie go) posting to the API.
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><form id="f" method="POST" action="${served.origin}/api/v1/organizations" enctype="text/plain"><input name='{"name":"EvilForm","x":"' value='"}'></form>
<script>
fetch(${JSON.stringify(`${served.origin}/api/v1/organizations`)}, { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ name: 'EvilFetch' }) })
  .finally(() => { document.title = 'sent'; document.getElementById('f').submit(); });
</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const evilPage = await context.newPage();
      await evilPage.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      await evilPage.waitForURL(`${served.origin}/api/v1/organizations`);
      const answer = await evilPage.textContent('body');
      assert.match(answer ?? '', /"status":(403|415)/);
      await evilPage.close();
      await page.goto(`${served.origin}/admin/`);
      await page.getByRole('link', { name: 'Acme' }).waitFor();
      assert.equal(await page.getByText(/Evil/).count(), 0, 'no organization was created from another origin');
    } finally {
      evil.close();
    }
  });

  test('the other pages render, also at phone width, and every page loaded without a script error or CSP violation', async () => {
    for (const [path, name] of [
      ['', 'overview'],
      ['/settings', 'settings'],
      ['/usage', 'rate-limits'],
      ['/events', 'events'],
      ['/setup-links', 'setup-links'],
    ] as const) {
      await page.goto(`${served.origin}${orgPath}${path}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForLoadState('networkidle');
      await screenshot(page, name);
    }
    await page.goto(`${served.origin}${orgPath}/settings`);
    await page.getByLabel('Write limit (requests per second)').fill('25');
    await page.getByLabel('op-case', { exact: true }).uncheck();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved. The new settings apply from the next request.').waitFor();
    await page.reload();
    assert.equal(await page.getByLabel('Write limit (requests per second)').inputValue(), '25');
    assert.equal(await page.getByLabel('op-case', { exact: true }).isChecked(), false);

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await context.storageState() });
    const small = await phone.newPage();
    const smallProblems = watchProblems(small);
    for (const [path, name] of [
      ['/events', 'phone-events'],
      ['/requests', 'phone-request-log'],
      ['/tokens', 'phone-tokens'],
    ] as const) {
      await small.goto(`${served.origin}${orgPath}${path}`);
      await small.getByRole('heading', { level: 1 }).waitFor();
      await small.waitForLoadState('networkidle');
      const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} is wider than the phone by ${overflow}px`);
      await screenshot(small, name);
    }
    await phone.close();
    assert.deepEqual([...problems, ...smallProblems], []);
  });

  test('saving the settings sends only what was changed on the page: a change made meanwhile with the CLI stays', async () => {
    const orgId = orgPath.split('/').pop() as string;
    await page.goto(`${served.origin}${orgPath}/settings`);
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const meanwhile = await cli(['orgs', 'update', orgId, '--read-limit', '77', '--db', db]);
    assert.equal(meanwhile.code, 0, meanwhile.stderr);
    await page.getByLabel('Write limit (requests per second)').fill('30');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved. The new settings apply from the next request.').waitFor();
    // Back to the first value: the second save sends it (it differs from what the first save left).
    await page.getByLabel('Write limit (requests per second)').fill('25');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved. The new settings apply from the next request.').waitFor();
    const listed = await cli(['orgs', 'list', '--db', db]);
    const line = listed.stdout.split('\n').find((l) => l.startsWith(orgId)) ?? '';
    assert.match(line, /read=77\/s/, 'the read limit set with the CLI was kept');
    assert.match(line, /write=25\/s/);
    // Switches left alone were not written: only op-case, switched off on the page earlier, is set.
    assert.match(line, /compat=op-case=off$/);
  });

  test('a rotated token shows as expired once its grace ends, and its replacement as live until it expires', async () => {
    const orgId = orgPath.split('/').pop() as string;
    const listed = await cli(['tokens', 'list', orgId, '--db', db, '--json']);
    const old = (JSON.parse(listed.stdout) as { id: string; revoked: string | null }[]).find((t) => t.revoked === null);
    assert.ok(old, listed.stderr);
    // --grace 0: the old token stops working now.
    const rotated = await cli(['tokens', 'rotate', old.id, '--grace', '0', '--expires-in', '30d', '--json', '--db', db]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const replacement = (JSON.parse(rotated.stdout) as { id: string }).id;
    assert.equal((await scim(base, token, 'GET', '/ServiceProviderConfig')).status, 401, 'the old token no longer works');

    await page.goto(`${served.origin}${orgPath}/tokens`);
    const oldRow = page.getByRole('row').filter({ hasText: old.id });
    await oldRow.getByText('expired', { exact: true }).waitFor();
    assert.equal(await oldRow.getByText('live', { exact: true }).count(), 0);
    assert.equal(await oldRow.getByRole('button', { name: /Revoke/ }).count(), 0, 'an expired token has nothing to revoke');
    const newRow = page.getByRole('row').filter({ hasText: replacement });
    await newRow.getByText('live', { exact: true }).waitFor();
    await newRow.getByText(/^until /).waitFor();
  });

  test('signing out ends the session; the console then shows only the sign-in page', async () => {
    await page.goto(`${served.origin}/admin/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'scimkit console' }).waitFor();
    await page.goto(`${served.origin}${orgPath}/tokens`);
    await page.getByRole('heading', { name: 'scimkit console' }).waitFor();
    assert.equal(await page.getByText('Acme').count(), 0);
    const res = await page.evaluate(async (url) => (await fetch(url)).status, `${served.origin}/api/v1/organizations`);
    assert.equal(res, 401);
  });

  test('a tab whose session was replaced in another tab keeps working, and its Sign out ends the new session', async () => {
    await page.goto(`${served.origin}${orgPath}/tokens`);
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tokens', level: 1 }).waitFor();
    // Another tab of the same browser signs out and in again: a new session cookie, shared by both tabs.
    const other = await context.newPage();
    await other.goto(`${served.origin}/admin/`);
    await other.getByRole('button', { name: 'Sign out' }).click();
    await other.getByLabel('Email', { exact: true }).fill(EMAIL);
    await other.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await other.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();

    // The first tab still holds the old session's CSRF token.
    await page.getByRole('button', { name: 'Create token' }).click();
    assert.ok((await page.getByRole('textbox', { name: 'Bearer token', exact: true }).inputValue()).length >= 40);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'scimkit console' }).waitFor();
    assert.equal(await page.evaluate(async (url) => (await fetch(url)).status, `${served.origin}/api/v1/organizations`), 401, 'the session ended');
    await other.reload();
    await other.getByRole('heading', { name: 'scimkit console' }).waitFor();
    await other.close();
  });

  test('an operator whose email has non-ASCII letters (as scimkit admins create accepts) signs in', async () => {
    const email = 'jürgen@exämple.com';
    await createAdmin(db, email, PASSWORD);
    const fresh = await browser.newContext();
    try {
      const signIn = await fresh.newPage();
      await signIn.goto(`${served.origin}/admin/`);
      await signIn.getByLabel('Email', { exact: true }).fill(email);
      await signIn.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await signIn.getByRole('button', { name: 'Sign in' }).click();
      await signIn.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
      await signIn.getByText(email, { exact: true }).waitFor();
    } finally {
      await fresh.close();
    }
  });

  test('the console works from the keyboard alone: sign in, open an organization, change tabs, make a token', async () => {
    /** Presses Tab until the focused element's text (or label) is `name`; fails if the page has no such stop. */
    const tabTo = async (name: string) => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          return el ? (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() || (el.id ? (document.querySelector(`label[for="${el.id}"]`)?.textContent ?? '') : '') : '';
        });
        if (focused === name) return;
      }
      assert.fail(`Tab never reached ${name}`);
    };
    const focusedHeading = () => page.evaluate(() => (document.activeElement?.tagName === 'H1' ? document.activeElement.textContent : null));

    await page.goto(`${served.origin}/admin/`);
    await page.getByRole('heading', { name: 'scimkit console' }).waitFor();
    await tabTo('Email');
    await page.keyboard.type(EMAIL);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
    await tabTo('Acme');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Acme', level: 1 }).waitFor();
    await tabTo('Tokens');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Tokens', level: 1 }).waitFor();
    // After a navigation the page's heading has the focus, so the next Tab starts from the new page.
    assert.equal(await focusedHeading(), 'Tokens');
    const before = await page.getByRole('row').count();
    await tabTo('Create token');
    await page.keyboard.press('Enter');
    assert.ok((await page.getByRole('textbox', { name: 'Bearer token', exact: true }).inputValue()).length >= 40);
    await page.waitForFunction((n) => document.querySelectorAll('tr').length > n, before);
  });
});
