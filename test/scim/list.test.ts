import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { listResponse, listResponseBytes, parseListQuery, parseSearchRequest } from '../../src/scim/list.ts';
import { ENTERPRISE_USER_SCHEMA, LIST_RESPONSE_SCHEMA, SEARCH_REQUEST_SCHEMA } from '../../src/scim/schema/index.ts';

const limits = { defaultCount: 100, maxCount: 500 };

function rejects(fn: () => unknown, scimType: string, detail: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ScimError, `expected ScimError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.scimType, scimType);
    assert.match(err.message, detail);
    return true;
  });
}

test('defaults when no parameters are given', () => {
  assert.deepEqual(parseListQuery({}, limits), { startIndex: 1, count: 100, sortOrder: 'ascending', attributes: [], excludedAttributes: [] });
  // A default above the maximum is capped too.
  assert.equal(parseListQuery({}, { defaultCount: 1000, maxCount: 50 }).count, 50);
});

test('query-string values are parsed', () => {
  const q = parseListQuery(
    {
      filter: 'userName eq "bjensen" and active eq true',
      startIndex: '11',
      count: '25',
      sortBy: 'name.familyName',
      sortOrder: 'Descending',
      attributes: 'userName, emails.value',
      excludedAttributes: 'groups',
      unknownParam: 'ignored',
    },
    limits,
  );
  assert.deepEqual(q, {
    filter: parseFilter('userName eq "bjensen" and active eq true'),
    filterText: 'userName eq "bjensen" and active eq true',
    startIndex: 11,
    count: 25,
    sortBy: 'name.familyName',
    sortOrder: 'descending',
    attributes: ['userName', 'emails.value'],
    excludedAttributes: ['groups'],
  });
});

test('parameter names match case-insensitively, and a name given twice is rejected', () => {
  const q = parseListQuery({ StartIndex: '3', COUNT: '4', FILTER: 'active pr' }, limits);
  assert.deepEqual([q.startIndex, q.count, q.filterText], [3, 4, 'active pr']);
  rejects(() => parseListQuery({ count: '1', Count: '2' }, limits), 'invalidValue', /"count" is given more than once/);
});

test('startIndex below 1 means 1; non-numeric is rejected', () => {
  assert.equal(parseListQuery({ startIndex: '0' }, limits).startIndex, 1);
  assert.equal(parseListQuery({ startIndex: '-5' }, limits).startIndex, 1);
  assert.equal(parseListQuery({ startIndex: 0 }, limits).startIndex, 1);
  assert.equal(parseListQuery({ startIndex: ' 7 ' }, limits).startIndex, 7);
  for (const bad of ['abc', '1.5', '', '1e3', '0x10', '7 items']) {
    rejects(() => parseListQuery({ startIndex: bad }, limits), 'invalidValue', /"startIndex" must be an integer/);
  }
  rejects(() => parseListQuery({ startIndex: 2.5 }, limits), 'invalidValue', /"startIndex" must be an integer/);
  rejects(() => parseListQuery({ startIndex: true }, limits), 'invalidValue', /"startIndex" must be an integer/);
  // Absurdly large values stay usable numbers rather than overflowing.
  assert.equal(parseListQuery({ startIndex: '99999999999999999999999' }, limits).startIndex, Number.MAX_SAFE_INTEGER);
});

test('count: negative means 0, above the maximum is capped, non-numeric is rejected', () => {
  assert.equal(parseListQuery({ count: '-1' }, limits).count, 0);
  assert.equal(parseListQuery({ count: '0' }, limits).count, 0);
  assert.equal(parseListQuery({ count: '500' }, limits).count, 500);
  assert.equal(parseListQuery({ count: '501' }, limits).count, 500);
  assert.equal(parseListQuery({ count: 1_000_000 }, limits).count, 500);
  rejects(() => parseListQuery({ count: 'ten' }, limits), 'invalidValue', /"count" must be an integer/);
});

test('sortOrder and sortBy are checked', () => {
  assert.equal(parseListQuery({ sortOrder: 'ASCENDING' }, limits).sortOrder, 'ascending');
  rejects(() => parseListQuery({ sortOrder: 'up' }, limits), 'invalidValue', /sortOrder/);
  assert.equal(parseListQuery({ sortBy: `${ENTERPRISE_USER_SCHEMA}:manager.value` }, limits).sortBy, `${ENTERPRISE_USER_SCHEMA}:manager.value`);
  rejects(() => parseListQuery({ sortBy: 'emails[type eq "work"]' }, limits), 'invalidValue', /Invalid sortBy/);
  rejects(() => parseListQuery({ sortBy: 'a.b.c' }, limits), 'invalidValue', /Invalid sortBy/);
});

test('filters are parsed; a bad filter is invalidFilter; an empty filter means none', () => {
  const q = parseListQuery({ filter: 'emails[type eq "work" and value co "@example.com"]' }, limits);
  assert.equal(q.filter?.kind, 'valuePath');
  rejects(() => parseListQuery({ filter: 'userName eq' }, limits), 'invalidFilter', /.+/);
  rejects(() => parseListQuery({ filter: 'userName xx "a"' }, limits), 'invalidFilter', /.+/);
  const empty = parseListQuery({ filter: '  ' }, limits);
  assert.equal(empty.filter, undefined);
  assert.equal(empty.filterText, undefined);
});

test('repeated query parameters arrive as arrays and are rejected for single-valued parameters', () => {
  for (const name of ['filter', 'startIndex', 'count', 'sortBy', 'sortOrder', 'cursor']) {
    rejects(() => parseListQuery({ [name]: ['1', '2'] }, limits), 'invalidValue', new RegExp(`"${name}" is given more than once`));
  }
  // Attribute lists may be repeated: their values are combined.
  assert.deepEqual(parseListQuery({ attributes: ['userName', 'name.givenName,emails'] }, limits).attributes, ['userName', 'name.givenName', 'emails']);
  rejects(() => parseListQuery({ attributes: 'emails[type eq "work"]' }, limits), 'invalidValue', /Invalid attribute path/);
  rejects(() => parseListQuery({ attributes: [1, 2] }, limits), 'invalidValue', /"attributes" must be/);
  rejects(() => parseListQuery({ filter: 12 }, limits), 'invalidValue', /"filter" must be a string/);
});

test('cursor paging (RFC 9865)', () => {
  assert.equal(parseListQuery({ cursor: '' }, limits).cursor, '');
  assert.equal(parseListQuery({ cursor: 'abc123', count: '10' }, limits).cursor, 'abc123');
  assert.equal(parseListQuery({}, limits).cursor, undefined);
  rejects(() => parseListQuery({ cursor: '', startIndex: '1' }, limits), 'invalidValue', /"startIndex" and "cursor"/);
});

test('SearchRequest bodies accept numbers and attribute arrays', () => {
  const q = parseSearchRequest(
    {
      schemas: [SEARCH_REQUEST_SCHEMA.toLowerCase()],
      attributes: ['displayName', 'userName'],
      excludedAttributes: [],
      filter: 'displayName sw "smith"',
      startIndex: 1,
      count: 10,
      sortBy: 'userName',
      sortOrder: 'descending',
    },
    limits,
  );
  assert.deepEqual(q, {
    filter: parseFilter('displayName sw "smith"'),
    filterText: 'displayName sw "smith"',
    startIndex: 1,
    count: 10,
    sortBy: 'userName',
    sortOrder: 'descending',
    attributes: ['displayName', 'userName'],
    excludedAttributes: [],
  });
  assert.equal(parseSearchRequest({ count: 3 }, limits).count, 3, 'schemas may be absent');
  rejects(() => parseSearchRequest({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], count: 3 }, limits), 'invalidValue', /SearchRequest/);
  rejects(() => parseSearchRequest({ schemas: SEARCH_REQUEST_SCHEMA }, limits), 'invalidValue', /SearchRequest/);
  rejects(() => parseSearchRequest([], limits), 'invalidSyntax', /JSON object/);
  rejects(() => parseSearchRequest(null, limits), 'invalidSyntax', /JSON object/);
  rejects(() => parseSearchRequest({ count: '1', startIndex: 1.5 }, limits), 'invalidValue', /startIndex/);
  // Prototype keys in a body are ignored, never assigned.
  const hostile = JSON.parse('{"__proto__": {"count": 7}, "constructor": {"prototype": {"x": 1}}}') as unknown;
  assert.equal(parseSearchRequest(hostile, limits).count, 100);
  assert.equal(({} as Record<string, unknown>).count, undefined);
});

test('listResponse builds a ListResponse message', () => {
  const resources = [{ id: 'a' }, { id: 'b' }];
  assert.deepEqual(listResponse(resources, { totalResults: 10, startIndex: 3 }), {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults: 10,
    startIndex: 3,
    itemsPerPage: 2,
    Resources: resources,
  });
  assert.deepEqual(listResponse([], { totalResults: 0, startIndex: 1 }).itemsPerPage, 0);
  const cursorPage = listResponse(resources, { totalResults: 10, nextCursor: 'n', previousCursor: 'p' });
  assert.equal(cursorPage.nextCursor, 'n');
  assert.equal(cursorPage.previousCursor, 'p');
  assert.equal('startIndex' in cursorPage, false);
  assert.equal('nextCursor' in listResponse(resources, { totalResults: 2, startIndex: 1 }), false);
});

test('listResponseBytes is the same ListResponse, built from resources serialized already', () => {
  const resources = [{ id: 'a', name: { givenName: '"Resources":[]' } }, { id: 'b', emails: [] }, { id: 'c', displayName: 'Zoë 山田 😀' }];
  const pages = [
    { totalResults: 10, startIndex: 3 },
    { totalResults: 0, startIndex: 1 },
    { totalResults: 10, nextCursor: 'n', previousCursor: 'p' },
    { totalResults: 7, itemsPerPage: 2 },
  ];
  for (const page of pages) {
    for (const items of [resources, [], resources.slice(0, 1)]) {
      const expected = JSON.stringify(listResponse(items, page));
      // Text, bytes, and both mixed (a page of cached and uncached resources).
      const text = items.map((r) => JSON.stringify(r));
      for (const serialized of [text, text.map((t) => Buffer.from(t)), text.map((t, i) => (i % 2 ? Buffer.from(t) : t))]) {
        assert.equal(listResponseBytes(serialized, page).toString('utf8'), expected, JSON.stringify(page));
      }
    }
  }
});
