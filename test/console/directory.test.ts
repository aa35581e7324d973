/**
 * The directory pages of the operator console in a real Chromium against a real `scimkit serve`: the flow 4
 * (map a group to a role and see the role on the user), users found by userName or email, filtered by active and
 * by role, and paged; a user's attributes, groups, effective roles, events and raw SCIM JSON; a group's members,
 * paged, and its mapped roles; a rule's roles edited and the rule deleted; the default role. Screenshots of each
 * page go to test-artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, screenshot, watchProblems } from './browser.ts';
import { cli, createAdmin, serve } from './process.ts';
import type { Served } from './process.ts';

const EMAIL = 'ops@example.com';
const PASSWORD = 'a console password';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
// The console's page size: one more than it makes a second page.
const PAGE = 50;

async function scim(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('the console directory pages in Chromium', () => {
  let dir: string;
  let db: string;
  let served: Served;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let orgPath = '';
  let base = '';
  let token = '';
  let adaId = '';
  let engineeringId = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-directory-'));
    db = join(dir, 'scim.db');
    await createAdmin(db, EMAIL, PASSWORD);
    // A write limit that lets the test make its users quickly.
    const made = await cli(['orgs', 'create', 'Initech', '--write-limit', '1000', '--db', db, '--json']);
    assert.equal(made.code, 0, made.stderr);
    const org = JSON.parse(made.stdout) as { id: string; token: string };
    token = org.token;
    orgPath = `/admin/orgs/${org.id}`;
    served = await serve(['--db', db]);
    base = `${served.origin}/scim/v2/organizations/${org.id}`;

    const user = async (userName: string, extra: Record<string, unknown> = {}) => {
      const res = await scim(base, token, 'POST', '/Users', { schemas: [USER_SCHEMA], userName, emails: [{ value: userName, primary: true }], ...extra });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    adaId = await user('ada@example.com', {
      displayName: 'Ada Lovelace',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Analytical Engines' },
      schemas: [USER_SCHEMA, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
    });
    await user('bob@example.com', { active: false });
    // Enough members that the group's members and the users list each take two pages.
    const members = [adaId];
    for (let i = 0; i < PAGE; i++) members.push(await user(`member${String(i).padStart(2, '0')}@example.com`));
    const group = await scim(base, token, 'POST', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineering', externalId: 'okta-eng', members: members.map((value) => ({ value })) });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    engineeringId = group.body.id;

    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    problems = watchProblems(page);
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${served.origin}/admin/`);
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const tab = async (name: string) => {
    await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name, exact: true }).click();
    await page.getByRole('heading', { level: 1 }).waitFor();
  };
  const userRows = () => page.getByRole('table', { name: 'Users' }).locator('tbody tr');
  /**
   * Waits until nothing is loading: a page first says it is loading, and after a filter changes the earlier list
   * stays (with a status saying it is being replaced) until the new one is in.
   */
  const settled = () => page.locator('.loading, .reloading').first().waitFor({ state: 'detached' });
  const rowsAre = async (n: number) => {
    await settled();
    assert.equal(await page.locator('table tbody tr').count(), n);
  };

  test('4. a group mapped to a role: the role shows on its members, on the group and in the role filter', async () => {
    await page.goto(`${served.origin}${orgPath}`);
    await tab('Roles');
    await page.getByText('No roles yet').waitFor();
    for (const key of ['editor', 'viewer']) {
      await page.getByLabel('Key', { exact: true }).fill(key);
      await page.getByRole('button', { name: 'Add role' }).click();
      await page.getByRole('cell', { name: key, exact: true }).waitFor();
    }
    await page.getByLabel('Name the group by').selectOption('display_name');
    await page.getByLabel('Group', { exact: true }).fill('Engineering');
    await page.locator('#rule-role-editor').check();
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByText('Matches: Engineering').waitFor();
    await screenshot(page, 'roles');

    // The mapping answered once every member's roles follow it: the user's page shows the role.
    await page.goto(`${served.origin}${orgPath}/users/${adaId}`);
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor();
    const effective = page.locator('h2:has-text("Effective roles") + .card');
    assert.deepEqual(await effective.getByRole('listitem').allTextContents(), ['editor']);
    await page.getByRole('link', { name: 'Engineering' }).click();
    await page.getByRole('heading', { name: 'Engineering', level: 1 }).waitFor();
    assert.match((await page.locator('dl.kv').textContent()) ?? '', /Mapped roles\s*editor/);

    await tab('Users');
    await page.getByLabel('Role', { exact: true }).selectOption('editor');
    await rowsAre(PAGE);
    assert.equal(await userRows().filter({ hasText: 'bob@example.com' }).count(), 0, 'bob is in no group, so no editor');
  });

  test('users: found by userName or email, filtered by active, paged', async () => {
    await page.goto(`${served.origin}${orgPath}/users`);
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await page.getByText('Page 1').waitFor();
    assert.equal(await userRows().count(), PAGE);
    await screenshot(page, 'users');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Page 2').waitFor();
    // 52 users: 50 on the first page, 2 on the second.
    await rowsAre(2);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByText('Page 1').waitFor();

    await page.getByLabel('Active', { exact: true }).selectOption('false');
    await rowsAre(1);
    assert.match((await userRows().first().textContent()) ?? '', /bob@example\.com.*deactivated/);
    await page.getByLabel('Active', { exact: true }).selectOption('');
    await rowsAre(PAGE);

    await page.getByLabel('Find by').selectOption('email');
    await page.getByLabel('Search', { exact: true }).fill('ADA@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await rowsAre(1);
    assert.match((await userRows().first().textContent()) ?? '', /ada@example\.com/);

    await page.getByLabel('Find by').selectOption('user_name');
    await page.getByLabel('Search', { exact: true }).fill('nobody@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No user matches these filters.').waitFor();
  });

  test("a user's page: attributes, groups, effective roles, events and the raw SCIM JSON", async () => {
    const patched = await scim(base, token, 'PATCH', `/Users/${adaId}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'title', value: 'Analyst' }],
    });
    assert.equal(patched.status, 200);
    await page.goto(`${served.origin}${orgPath}/users/${adaId}`);
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor();
    const attributes = (await page.locator('dl.kv').textContent()) ?? '';
    for (const shown of ['ada@example.com', 'Ada Lovelace', 'Analytical Engines', adaId]) assert.ok(attributes.includes(shown), `${shown} in ${attributes}`);
    await page.getByRole('link', { name: 'Engineering' }).waitFor();
    await page.getByText('user.updated').first().waitFor();
    await page.getByText('user.created').first().waitFor();
    const raw = JSON.parse((await page.getByLabel('The user as SCIM JSON').textContent()) ?? '');
    assert.equal(raw.id, adaId);
    assert.equal(raw.title, 'Analyst');
    assert.equal(raw.meta.location, `${base}/Users/${adaId}`);
    await screenshot(page, 'user');
  });

  test("a group's page: members paged, mapped roles; a rule's roles edited, then the rule deleted", async () => {
    await page.goto(`${served.origin}${orgPath}/groups`);
    await page.getByRole('link', { name: 'Engineering' }).waitFor();
    assert.match((await page.getByRole('row').filter({ hasText: 'Engineering' }).textContent()) ?? '', /okta-eng.*editor/);
    await screenshot(page, 'groups');
    await page.getByRole('link', { name: 'Engineering' }).click();
    const members = page.getByRole('table', { name: 'Members' }).locator('tbody tr');
    await page.getByText('Page 1').waitFor();
    assert.equal(await members.count(), PAGE);
    await screenshot(page, 'group');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Page 2').waitFor();
    await rowsAre(1);

    await tab('Roles');
    await page.getByRole('button', { name: 'Edit roles' }).click();
    await page.locator(`form.inline-form input[id$="-viewer"]`).check();
    await page.locator(`form.inline-form input[id$="-editor"]`).uncheck();
    await page.getByRole('button', { name: 'Save roles' }).click();
    await page.getByRole('button', { name: 'Edit roles' }).waitFor();
    await page.goto(`${served.origin}${orgPath}/groups/${engineeringId}`);
    await page.getByRole('heading', { name: 'Engineering', level: 1 }).waitFor();
    assert.match((await page.locator('dl.kv').textContent()) ?? '', /Mapped roles\s*viewer/);

    await tab('Roles');
    await page.getByRole('button', { name: /Delete the rule for the group named "Engineering"/ }).click();
    await page.getByText('No rules yet').waitFor();
    await page.goto(`${served.origin}${orgPath}/users/${adaId}`);
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor();
    assert.equal(await page.locator('h2:has-text("Effective roles") + .card').textContent(), 'none');
  });

  test('the default role goes to the active users whom no rule gives a role', async () => {
    await page.goto(`${served.origin}${orgPath}/roles`);
    await page.getByLabel('Default role').selectOption('viewer');
    await page.getByRole('button', { name: 'Save role settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page.goto(`${served.origin}${orgPath}/users`);
    await page.getByRole('option', { name: 'viewer' }).waitFor({ state: 'attached' });
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByLabel('Find by').selectOption('email');
    await page.getByLabel('Search', { exact: true }).fill('ada@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await rowsAre(1);
    assert.match((await userRows().first().textContent()) ?? '', /ada@example\.com.*viewer/);
    // Deactivated, so no role at all.
    await page.getByLabel('Search', { exact: true }).fill('bob@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No user matches these filters.').waitFor();
  });

  test('saving the role settings sends only what was changed: a default role set meanwhile with the CLI stays', async () => {
    const orgId = orgPath.split('/').pop() as string;
    await page.goto(`${served.origin}${orgPath}/roles`);
    await page.getByRole('heading', { name: 'Roles and mapping rules', level: 1 }).waitFor();
    const meanwhile = await cli(['roles', 'define', orgId, '--default', 'editor', '--db', db]);
    assert.equal(meanwhile.code, 0, meanwhile.stderr);
    await page.getByLabel('Accept roles the IdP sends').check();
    await page.getByRole('button', { name: 'Save role settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const listed = await cli(['roles', 'list', orgId, '--json', '--db', db]);
    assert.equal(listed.code, 0, listed.stderr);
    const catalogue = JSON.parse(listed.stdout) as Record<string, unknown>;
    assert.equal(catalogue.default_role, 'editor', listed.stdout);
    assert.equal(catalogue.accept_idp_roles, true, listed.stdout);
  });

  test('mapping rules are paged: every rule can be reached, past the first page', async () => {
    // PAGE + 1 rules through the API with the page's own session (names of groups that do not exist: cheap).
    const made = await page.evaluate(async (count) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrf_token: string };
      const orgId = location.pathname.split('/')[3];
      for (let i = 0; i < count; i++) {
        const res = await fetch(`/api/v1/organizations/${orgId}/role-mappings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token },
          body: JSON.stringify({ group: { display_name: `team-${String(i).padStart(3, '0')}` }, roles: ['viewer'] }),
        });
        if (res.status !== 201) return `rule ${i}: ${res.status} ${await res.text()}`;
      }
      return 'ok';
    }, PAGE + 1);
    assert.equal(made, 'ok');
    await page.goto(`${served.origin}${orgPath}/roles`);
    const rules = page.getByRole('list', { name: 'Mapping rules' }).locator(':scope > li');
    await page.getByText('Page 1').waitFor();
    assert.equal(await rules.count(), PAGE);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Page 2').waitFor();
    await settled();
    assert.equal(await rules.count(), 1);
    assert.match((await rules.first().textContent()) ?? '', new RegExp(`team-${String(PAGE).padStart(3, '0')}`));
  });

  test("a user's events are paged: the oldest can be reached past the first 20", async () => {
    const created = await scim(base, token, 'POST', '/Users', { schemas: [USER_SCHEMA], userName: 'busy@example.com' });
    assert.equal(created.status, 201);
    // 21 updates and the creation (and the default role's user.roles_changed): more than 20 events, 20 to a page.
    for (let i = 0; i < 21; i++) {
      const patched = await scim(base, token, 'PATCH', `/Users/${created.body.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path: 'title', value: `Title ${i}` }],
      });
      assert.equal(patched.status, 200);
    }
    await page.goto(`${served.origin}${orgPath}/users/${created.body.id}`);
    await page.getByRole('heading', { name: 'busy@example.com', level: 1 }).waitFor();
    const events = page.locator('ol.timeline > li');
    await page.getByText('Page 1').waitFor();
    assert.equal(await events.count(), 20);
    assert.equal(await events.filter({ hasText: 'user.created' }).count(), 0);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Page 2').waitFor();
    await settled();
    await events.filter({ hasText: 'user.created' }).waitFor();
    assert.ok((await events.count()) < 20);
  });

  test('the directory pages fit a phone, and no page had a script error or CSP violation', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await context.storageState() });
    const small = await phone.newPage();
    const smallProblems = watchProblems(small);
    for (const [path, name] of [
      ['/users', 'phone-users'],
      [`/users/${adaId}`, 'phone-user'],
      [`/groups/${engineeringId}`, 'phone-group'],
      ['/roles', 'phone-roles'],
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
});
