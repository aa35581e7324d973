import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conditionMatches, formatEtag, parseEtagCondition, tagMatches, versionTag } from '../../src/server/etag.ts';

const groups = [{ value: 'g1', display: 'Engineering', type: 'direct' }];

test('a tag is the version, with a digest of the relations the representation lists', () => {
  assert.equal(formatEtag(7), 'W/"7"');
  assert.equal(formatEtag(7, []), 'W/"7"');
  const tag = formatEtag(7, groups);
  assert.match(tag, /^W\/"7\.[A-Za-z0-9_-]{16}"$/);
  assert.equal(formatEtag(7, [{ ...groups[0] }]), tag, 'the same relations give the same tag');
  assert.notEqual(formatEtag(7, [{ ...groups[0], display: 'Eng' }]), tag, 'a renamed group is a new representation');
  assert.notEqual(formatEtag(7, [...groups, { value: 'g2', display: 'Ops', type: 'direct' }]), tag);
  assert.notEqual(formatEtag(8, groups), tag);
});

test('If-Match compares versions; If-None-Match compares whole tags', () => {
  const tag = formatEtag(7, groups);
  const condition = parseEtagCondition(tag)!;
  assert.equal(conditionMatches(condition, 7), true);
  assert.equal(conditionMatches(condition, 8), false);
  assert.equal(tagMatches(condition, tag), true);
  assert.equal(tagMatches(condition, formatEtag(7)), false, 'the relations changed');
  assert.equal(tagMatches(condition, formatEtag(7, [{ ...groups[0], display: 'Eng' }])), false);
  // Weak comparison: the W/ prefix does not matter; lists and * work as before.
  assert.equal(tagMatches(parseEtagCondition(`"${tag.slice(3, -1)}"`)!, tag), true);
  const list = parseEtagCondition(`W/"1", ${tag}`)!;
  assert.equal(conditionMatches(list, 1), true);
  assert.equal(tagMatches(list, formatEtag(1)), true);
  const any = parseEtagCondition('*')!;
  assert.equal(conditionMatches(any, 3) && tagMatches(any, tag), true);
});

test('tags that are not ours match nothing, and an empty header is no condition', () => {
  for (const header of ['W/"abc"', '"7.bad digest"', 'W/"7', '7', 'W/"1e3"', 'W/"-1"', `W/"${'9'.repeat(16)}"`]) {
    const condition = parseEtagCondition(header)!;
    assert.equal(conditionMatches(condition, 7), false, header);
    assert.equal(tagMatches(condition, formatEtag(7)), false, header);
  }
  assert.equal(parseEtagCondition(undefined), null);
  assert.equal(parseEtagCondition(' , '), null);
});

test('versionTag names the version alone', () => {
  assert.equal(versionTag(formatEtag(7, groups)), 'W/"7"');
  assert.equal(versionTag('W/"7"'), 'W/"7"');
  for (const other of ['"7.abc"', 'W/"x.abc"', 'W/"7.a b"', 'anything']) assert.equal(versionTag(other), other);
});
