/**
 * Setup links in a real Chromium against a real `scimkit serve`: the flows 6 and 7 (an operator creates a
 * link; the IT admin opens it in a fresh browser with no account, chooses Okta, gets the token, the first request
 * arrives and the status turns green; a revoked or expired link shows nothing) and that a link cannot reach another
 * organization.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { openStore } from '../../src/store/index.ts';
import { launchBrowser, screenshot, watchProblems } from './browser.ts';
import { createAdmin, serve } from './process.ts';
import type { Served } from './process.ts';

const EMAIL = 'ops@example.com';
const PASSWORD = 'a console password';

describe('setup links in Chromium', () => {
  let dir: string;
  let db: string;
  let served: Served;
  let browser: Browser;
  let operator: BrowserContext;
  let page: Page;
  let orgPath = '';
  let otherOrgId = '';
  let linkUrl = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-setup-'));
    db = join(dir, 'scim.db');
    await createAdmin(db, EMAIL, PASSWORD);
    served = await serve(['--db', db]);
    // The organization `serve` made on the empty store: the one the link must not reach.
    otherOrgId = /organizations\/([0-9a-f-]{36})/.exec(served.lines.join('\n'))?.[1] ?? '';
    assert.ok(otherOrgId);
    browser = await launchBrowser();
    operator = await browser.newContext();
    page = await operator.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${served.origin}/admin/`);
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Globex');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { name: 'Globex', level: 1 }).waitFor();
    orgPath = new URL(page.url()).pathname;
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('6. a link opened in a fresh browser: choose Okta, get the token, and the status turns green at the first request', async () => {
    await page.goto(`${served.origin}${orgPath}/setup-links`);
    await page.getByRole('button', { name: 'Create setup link' }).click();
    linkUrl = await page.getByRole('textbox', { name: 'Setup link', exact: true }).inputValue();
    assert.match(linkUrl, new RegExp(`^${served.origin}/admin/setup#ssl_[\\w-]+$`));
    await page.getByText('waiting', { exact: true }).waitFor();

    // The IT admin: no cookies, no operator account.
    const itAdmin = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    try {
      const setup = await itAdmin.newPage();
      const problems = watchProblems(setup);
      await setup.goto(linkUrl);
      await setup.getByRole('heading', { name: 'Set up SCIM provisioning for Globex', level: 1 }).waitFor();
      assert.equal(await setup.getByText('Acme').count(), 0);
      const base = await setup.getByRole('textbox', { name: 'SCIM base URL', exact: true }).inputValue();
      assert.equal(base, `${served.origin}/scim/v2/organizations/${orgPath.split('/').pop()}`);
      await setup.getByRole('radio', { name: 'Okta' }).check();
      await setup.getByRole('heading', { name: '3. Set up Okta' }).waitFor();
      await setup.getByText('Test Connector Configuration').first().waitFor();
      await setup.getByText('Not connected yet: create the token first.').waitFor();
      await screenshot(setup, 'setup-okta');

      await setup.getByRole('button', { name: 'Create the SCIM token' }).click();
      const token = await setup.getByRole('textbox', { name: 'SCIM token', exact: true }).inputValue();
      assert.ok(token.length >= 40);
      // The guide now shows the real token where Okta asks for it.
      await setup.getByRole('definition').filter({ hasText: token }).first().waitFor();
      await setup.getByText('Waiting for the first request from your identity provider').waitFor();

      // A wrong token first: the page says what went wrong in plain words.
      assert.equal((await fetch(`${base}/Users?filter=userName%20eq%20%22x%22`, { headers: { authorization: 'Bearer pasted-wrong' } })).status, 401);
      await setup.getByText('The token your identity provider sent is not valid').waitFor({ timeout: 60_000 });
      // Then the IdP's first real request (Okta starts by looking a user up).
      const first = await fetch(`${base}/Users?filter=userName%20eq%20%22someone%40example.com%22`, { headers: { authorization: `Bearer ${token}`, 'user-agent': 'Okta SCIM Client 1.0.0' } });
      assert.equal(first.status, 200);
      await setup.getByText(/^Connected: the first request from your identity provider arrived/).waitFor({ timeout: 60_000 });
      assert.ok(await setup.locator('.status.connected').isVisible());
      await screenshot(setup, 'setup-connected');

      // Every guide renders with this organization's values.
      for (const name of ['Microsoft Entra ID', 'OneLogin', 'JumpCloud', 'Another SCIM 2.0 client']) {
        await setup.getByRole('radio', { name }).check();
        await setup.getByRole('heading', { name: `3. Set up ${name}` }).waitFor();
        await setup.getByText(base).first().waitFor();
      }
      await screenshot(setup, 'setup-entra-and-others');
      assert.deepEqual(problems, []);

      // The IT admin may open the link on a phone: every guide fits its width.
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
      try {
        const small = await phone.newPage();
        const smallProblems = watchProblems(small);
        await small.goto(linkUrl);
        await small.getByRole('heading', { name: 'Set up SCIM provisioning for Globex', level: 1 }).waitFor();
        for (const name of ['Okta', 'Microsoft Entra ID', 'OneLogin', 'JumpCloud', 'Another SCIM 2.0 client']) {
          await small.getByRole('radio', { name }).check();
          await small.getByRole('heading', { name: `3. Set up ${name}` }).waitFor();
          const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 1, `the ${name} guide is wider than the phone by ${overflow}px`);
        }
        await screenshot(small, 'phone-setup');
        assert.deepEqual(smallProblems, []);
      } finally {
        await phone.close();
      }

      // The operator sees the link connected.
      await page.reload();
      await page.getByText('connected', { exact: true }).waitFor();
    } finally {
      await itAdmin.close();
    }
  });

  test('the status keeps being checked after a failed check (a network blip, a server restart), and turns green', async () => {
    // A link of an organization of its own, not yet connected.
    await page.goto(`${served.origin}/admin/`);
    await page.getByLabel('Name', { exact: true }).fill('Initrode');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { name: 'Initrode', level: 1 }).waitFor();
    await page.goto(`${served.origin}${new URL(page.url()).pathname}/setup-links`);
    await page.getByRole('button', { name: 'Create setup link' }).click();
    const link = await page.getByRole('textbox', { name: 'Setup link', exact: true }).inputValue();
    const itAdmin = await browser.newContext();
    try {
      const setup = await itAdmin.newPage();
      await setup.goto(link);
      await setup.getByRole('heading', { name: 'Set up SCIM provisioning for Initrode', level: 1 }).waitFor();
      const base = await setup.getByRole('textbox', { name: 'SCIM base URL', exact: true }).inputValue();
      await setup.getByRole('button', { name: 'Create the SCIM token' }).click();
      const token = await setup.getByRole('textbox', { name: 'SCIM token', exact: true }).inputValue();
      await setup.getByText('Waiting for the first request from your identity provider').waitFor();
      // The next status check fails as if the network dropped; the ones after it go through.
      let failed = false;
      const dropped = new Promise<void>((resolve) => {
        void setup.route('**/api/v1/setup', async (route) => {
          if (failed) return route.continue();
          failed = true;
          await route.abort('connectionrefused');
          resolve();
        });
      });
      await dropped;
      await setup.getByText('The status could not be checked just now').waitFor();
      const first = await fetch(`${base}/Users?count=1`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(first.status, 200);
      await setup.getByText(/^Connected: the first request from your identity provider arrived/).waitFor({ timeout: 60_000 });
      assert.equal(await setup.getByText('The status could not be checked just now').count(), 0);
    } finally {
      await itAdmin.close();
    }
  });

  test('a setup link reaches its own organization and nothing else', async () => {
    const itAdmin = await browser.newContext();
    try {
      const setup = await itAdmin.newPage();
      await setup.goto(linkUrl);
      await setup.getByRole('heading', { name: /Globex/, level: 1 }).waitFor();
      const secret = new URL(linkUrl).hash.slice(1);
      const statuses = await setup.evaluate(
        async ({ secret, otherOrgId }) => {
          const auth = { authorization: `Bearer ${secret}` };
          const paths = ['/api/v1/organizations', `/api/v1/organizations/${otherOrgId}`, `/api/v1/organizations/${otherOrgId}/tokens`, `/api/v1/organizations/${otherOrgId}/request-log`];
          const out: number[] = [];
          for (const path of paths) out.push((await fetch(path, { headers: auth })).status);
          out.push((await fetch(`/api/v1/organizations/${otherOrgId}/setup-links`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })).status);
          out.push((await fetch('/api/v1/organizations')).status);
          return out;
        },
        { secret, otherOrgId },
      );
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401]);
      // A token made through the link works only in its organization.
      const made = await setup.evaluate(async (secret) => {
        const res = await fetch('/api/v1/setup/token', { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: '{}' });
        return (await res.json()) as { token: string };
      }, secret);
      assert.equal((await fetch(`${served.origin}/scim/v2/organizations/${otherOrgId}/Users`, { headers: { authorization: `Bearer ${made.token}` } })).status, 403);
    } finally {
      await itAdmin.close();
    }
  });

  test('7. a revoked or an expired link shows nothing', async () => {
    await page.goto(`${served.origin}${orgPath}/setup-links`);
    await page.getByRole('button', { name: /Revoke setup link/ }).first().click();
    await page.getByText('revoked', { exact: true }).waitFor();
    await screenshot(page, 'setup-links-revoked');

    // An expiring link, written to the same database as another process would.
    const store = await openStore({ sqlitePath: db });
    let expiring: string;
    try {
      const orgId = orgPath.split('/').pop() as string;
      expiring = `${served.origin}/admin/setup#${(await store.createSetupLink(orgId, new Date(Date.now() + 1000).toISOString())).secret}`;
    } finally {
      await store.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 1200));

    const itAdmin = await browser.newContext();
    try {
      const setup = await itAdmin.newPage();
      for (const url of [linkUrl, expiring]) {
        await setup.goto('about:blank');
        await setup.goto(url);
        await setup.getByRole('heading', { name: 'This setup link does not work', level: 1 }).waitFor();
        assert.equal(await setup.getByText('Globex').count(), 0);
        assert.equal(await setup.getByRole('button', { name: /token/i }).count(), 0);
      }
      await screenshot(setup, 'setup-link-dead');
    } finally {
      await itAdmin.close();
    }
  });
});
