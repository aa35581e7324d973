/** docs/embedding.md's API reference is the one generated from the exported types: the docs cannot drift from them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { committedReference, renderReference } from '../../scripts/api-docs.mjs';
import { staleReason } from '../../scripts/build.mjs';

test('the API reference in docs/embedding.md matches the exported types', () => {
  // scripts/run-tests.mjs builds dist/ first; the reference is read from its .d.ts files.
  assert.equal(staleReason(), null, 'dist/ must be built from the current src/');
  const expected = renderReference().trimEnd().split('\n');
  const actual = committedReference().trimEnd().split('\n');
  const first = expected.findIndex((line, i) => line !== actual[i]);
  const at = first === -1 ? Math.min(expected.length, actual.length) : first;
  assert.ok(
    expected.length === actual.length && first === -1,
    `docs/embedding.md's API reference differs from the exported types at its line ${at + 1}:\n` +
      `  generated: ${expected[at] ?? '(end)'}\n  committed: ${actual[at] ?? '(end)'}\n` +
      'Run `npm run docs:api` to regenerate it, and review the change.',
  );
});

test('every entry point of the package has a section, and the reference is not empty', () => {
  const reference = renderReference();
  for (const entry of ['scimkit', 'scimkit/scim', 'scimkit/store', 'scimkit/server', 'scimkit/connector']) {
    assert.match(reference, new RegExp(`^### \`${entry.replace('/', '\\/')}\`$`, 'm'));
  }
  for (const name of ['scimPlugin', 'createScimHandler', 'buildServer', 'openStore', 'createRateLimiter', 'ScimPluginOptions', 'ScimHandlerOptions', 'OpenStoreOptions', 'Store']) {
    assert.match(reference, new RegExp(`^#### \`${name}\`$`, 'm'), `${name} is missing from the reference`);
  }
});
