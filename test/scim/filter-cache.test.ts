/** The server's filter cache answers exactly as parseFilter and checkFilterAttributes do. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScimError } from '../../src/scim/errors.ts';
import { FilterCache, parseFilter } from '../../src/scim/filter/index.ts';
import { GROUP, USER } from '../../src/scim/schema/registry.ts';

test('a kept filter is the parsed one, shared and frozen', () => {
  const filters = new FilterCache();
  const text = 'userName eq "a@example.com" and emails[type eq "work" and value co "x"]';
  const first = filters.parse(text);
  assert.deepEqual(first, parseFilter(text));
  assert.equal(filters.parse(text), first);
  assert.ok(Object.isFrozen(first));
  assert.throws(() => {
    (first as { kind: string }).kind = 'or';
  }, TypeError);
});

test('a check passed for one resource type still fails for another, every time', () => {
  const filters = new FilterCache();
  const filter = filters.parse('userName eq "a"');
  filters.check(filter, USER);
  filters.check(filter, USER);
  for (let i = 0; i < 2; i++) assert.throws(() => filters.check(filter, GROUP), (err) => err instanceof ScimError && err.scimType === 'invalidFilter');
});

test('a filter that fails to parse fails every time, with the parser\'s error', () => {
  const filters = new FilterCache();
  for (let i = 0; i < 2; i++) assert.throws(() => filters.parse('userName eq'), (err) => err instanceof ScimError && err.scimType === 'invalidFilter');
});

test('past its capacity, the least recently used filter goes first', () => {
  const filters = new FilterCache(2);
  const a = filters.parse('title eq "a"');
  const b = filters.parse('title eq "b"');
  assert.equal(filters.parse('title eq "a"'), a);
  filters.parse('title eq "c"');
  assert.equal(filters.parse('title eq "a"'), a, 'a was used more recently than b');
  assert.notEqual(filters.parse('title eq "b"'), b, 'b was evicted and parsed again');
});
