/** The IdP set-up guides: docs/setup/*.md are exactly what the setup page shows, and each guide is complete. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { GUIDES, guideMarkdown } from '../../src/console/guides.ts';
import { guideFile } from '../../scripts/setup-guides.ts';

describe('IdP set-up guides', () => {
  test('there is one for Okta, Entra ID, OneLogin, JumpCloud and generic SCIM', () => {
    assert.deepEqual(GUIDES.map((g) => g.id), ['okta', 'entra', 'onelogin', 'jumpcloud', 'generic']);
  });

  test('Entra ID: unassigning deactivates; a DELETE comes only once the user is permanently deleted in Entra ID', () => {
    // Entra ID never deletes a user here for an unassignment (Microsoft Learn, how provisioning works).
    const notes = GUIDES.find((g) => g.id === 'entra')?.notes.join('\n') ?? '';
    assert.match(notes, /Removing a person from the application[^.]*sets `active` to false/);
    assert.match(notes, /only once it is permanently deleted in Entra ID/);
    assert.doesNotMatch(notes, /deletes the user later/);
  });

  for (const guide of GUIDES) {
    test(`${guide.name}: docs/setup/${guide.id}.md matches the page (regenerate with node --import tsx scripts/setup-guides.ts)`, () => {
      assert.equal(readFileSync(guideFile(guide.id), 'utf8'), guideMarkdown(guide));
    });

    test(`${guide.name}: the base URL and the token are each pasted once, and sources are named`, () => {
      const values = guide.steps.flatMap((s) => s.values ?? []);
      assert.equal(values.filter((v) => v.kind === 'base-url').length, 1);
      assert.equal(values.filter((v) => v.kind === 'token').length, 1);
      assert.ok(guide.sources.length > 0);
      // Marks are balanced, so the page renders them as bold text and code.
      for (const text of [guide.before, ...guide.steps.map((s) => s.text), ...guide.notes]) {
        assert.equal((text.match(/\*\*/g) ?? []).length % 2, 0, text);
        assert.equal((text.match(/`/g) ?? []).length % 2, 0, text);
      }
    });
  }
});
