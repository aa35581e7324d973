/**
 * A real headless Chromium for the console's tests: Debian's `chromium` driven by playwright-core (no browser is
 * downloaded; .ci/run installs the package). One browser per test file; tests reuse its contexts. Screenshots go
 * to test-artifacts/screenshots/ (git-ignored), to be looked at.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM = process.env.SCIMKIT_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(import.meta.dirname, '../../test-artifacts/screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Fails the test on anything the page reports as wrong: a script error, a CSP violation, a failed request to the
 * server, or a console error. Returns the list, which the caller checks at the end.
 */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    // A fetch the app expects to fail (401 before sign-in) is logged by Chromium as a resource error: not a problem.
    if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404|429)/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('requestfailed', (request) => {
    const error = request.failure()?.errorText ?? '';
    // The browser cancelled it because the test navigated away while it was in flight: not the page's failure.
    if (error === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.method()} ${request.url()} ${error}`);
  });
  return problems;
}
