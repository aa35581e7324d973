/** Length limits (issue 11, item 1): enforced by validation, in characters that are safe in UTF-8 bytes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { INDEXED_VALUE_MAX_BYTES, MAX_INDEXED_CHARS, MAX_RESOURCE_BYTES, MAX_STRING_CHARS, maxCharsOf } from '../../src/scim/limits.ts';
import { GROUP, GROUP_SCHEMA, USER, USER_SCHEMA } from '../../src/scim/schema/index.ts';
import { validateResource } from '../../src/scim/validate.ts';
import { checkIndexedLimits } from '../../src/store/columns.ts';

const create = { mode: 'create' } as const;
/** A 4-byte UTF-8 character (two UTF-16 units), and one whose lower case is longer in UTF-8 than itself. */
const EMOJI = '\u{1F600}';
const DOTTED_I = '\u0130';

function rejects(fn: () => unknown, detail: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ScimError, `expected ScimError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.scimType, 'invalidValue');
    assert.match(err.message, detail);
    return true;
  });
}

test('indexed attributes take 512 characters, counted as code points, and not one more', () => {
  for (const char of ['a', EMOJI, DOTTED_I]) {
    const longest = char.repeat(MAX_INDEXED_CHARS);
    assert.equal(validateResource(USER, { schemas: [USER_SCHEMA], userName: longest, externalId: longest }, create).userName, longest);
    assert.equal(validateResource(GROUP, { schemas: [GROUP_SCHEMA], displayName: longest, externalId: longest }, create).displayName, longest);
    const over = longest + char;
    rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: over }, create), /Attribute "userName" is too long: at most 512 characters/);
    rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', externalId: over }, create), /"externalId" is too long: at most 512/);
    rejects(() => validateResource(GROUP, { schemas: [GROUP_SCHEMA], displayName: over }, create), /"displayName" is too long: at most 512/);
  }
  // A User's displayName is not indexed: it has the limit of any string.
  assert.equal(maxCharsOf('User', 'displayName'), MAX_STRING_CHARS);
  assert.equal(maxCharsOf('Group', 'displayName'), MAX_INDEXED_CHARS);
});

test('the indexed limit is safe in bytes: no character, in any case, takes more than 4 bytes of UTF-8', () => {
  let widest = 0;
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates are no characters (the store refuses them unpaired)
    const char = String.fromCodePoint(cp);
    widest = Math.max(widest, Buffer.byteLength(char), Buffer.byteLength(char.toLowerCase()));
  }
  assert.equal(widest, 4);
  assert.equal(INDEXED_VALUE_MAX_BYTES, MAX_INDEXED_CHARS * 4);
  // PostgreSQL's B-tree entry limit, less the organization id (36), the resource type and the entry's headers.
  assert.ok(INDEXED_VALUE_MAX_BYTES + 36 + 5 + 64 < 2704);
});

test('any string attribute, sub-attribute or value of a multi-valued one is bounded', () => {
  const longest = EMOJI.repeat(MAX_STRING_CHARS);
  assert.equal(validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', title: longest }, create).title, longest);
  rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', title: longest + 'x' }, create), /"title" is too long: at most 32,768 characters/);
  rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', name: { givenName: 'g'.repeat(MAX_STRING_CHARS + 1) } }, create), /"name\.givenName" is too long/);
  rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', emails: [{ value: 'ok@x' }, { value: 'e'.repeat(MAX_STRING_CHARS + 1) }] }, create), /"emails\[1\]\.value" is too long/);
  rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', x509Certificates: [{ value: 'A'.repeat(MAX_STRING_CHARS + 4) }] }, create), /"x509Certificates\[0\]\.value" is too long/);
});

test('a whole resource is bounded at 256 KiB of JSON; a Group\'s members do not count', () => {
  const emails = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ value: `${i}`.padEnd(size, 'x') }));
  // 9 values of 30,000 characters: each within the string limit, together past the resource limit.
  const err = (() => {
    try {
      validateResource(USER, { schemas: [USER_SCHEMA], userName: 'big', emails: emails(9, 30_000) }, create);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof ScimError && err.status === 400 && err.scimType === 'invalidValue', String(err));
  assert.match(err.message, /The User is too large: [\d,]+ bytes of JSON, at most 262,144/);
  validateResource(USER, { schemas: [USER_SCHEMA], userName: 'fits', emails: emails(8, 30_000) }, create);
  // Multi-byte characters count as bytes: 100,000 three-byte characters are 300,000 bytes.
  rejects(() => validateResource(USER, { schemas: [USER_SCHEMA], userName: 'u', title: '\u20ac'.repeat(30_000), nickName: '\u20ac'.repeat(30_000), profileUrl: `https://x/${'\u20ac'.repeat(30_000)}` }, create), /too large/);
  assert.ok(MAX_RESOURCE_BYTES === 262_144);

  const members = Array.from({ length: 8000 }, (_, i) => ({ value: `member-${String(i).padStart(30, '0')}` }));
  assert.ok(JSON.stringify(members).length > MAX_RESOURCE_BYTES);
  assert.equal((validateResource(GROUP, { schemas: [GROUP_SCHEMA], displayName: 'many', members }, create).members as unknown[]).length, 8000);
});

test('PATCH results are held to the same limits (patch mode)', () => {
  const existing = validateResource(USER, { schemas: [USER_SCHEMA], userName: 'p' }, create);
  rejects(() => validateResource(USER, { ...existing, userName: 'x'.repeat(MAX_INDEXED_CHARS + 1) }, { mode: 'patch', existing }), /"userName" is too long/);
});

test('the store refuses to load a column map that indexes an attribute without a byte-safe limit', () => {
  assert.throws(
    () => checkIndexedLimits([{ column: 'title_col', type: 'text', indexed: true, fromDocument: { User: { attribute: 'title', required: false } } }]),
    /title_col is indexed, but User title may take 131072 bytes \(at most 2048\)/,
  );
  assert.throws(() => checkIndexedLimits([{ column: 'd', type: 'text', indexed: true, derive: () => null }]), /indexed and derived/);
  checkIndexedLimits([{ column: 'ok', type: 'text', indexed: true, fromDocument: { Group: { attribute: 'displayName', required: true } } }]);
});
