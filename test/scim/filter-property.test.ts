import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ENTERPRISE_USER_SCHEMA,
  FILTER_MAX_LENGTH,
  ScimError,
  USER,
  USER_SCHEMA,
  evaluateFilter,
  parseFilter,
  parsePatchPath,
  printFilter,
  printPatchPath,
} from '../../src/scim/index.ts';
import type { AttrPath, CompareOp, Filter, FilterValue, PatchPath, ScimType } from '../../src/scim/index.ts';

/** fc.record, but always with Object.prototype (deepStrictEqual compares prototypes; the parser builds plain objects). */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const OPS: CompareOp[] = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'];

// `not` is the one word the grammar cannot take as an attribute name (it always starts a negation).
const attrName = fc
  .oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,7}$/), fc.constantFrom('$ref', 'userName', 'emails', 'and', 'OR', 'pr', 'eq', 'true', 'null'))
  .filter((n) => !['not', '__proto__', 'constructor', 'prototype'].includes(n.toLowerCase()));
const urn = fc.oneof(
  fc.constantFrom(USER_SCHEMA, ENTERPRISE_USER_SCHEMA),
  fc.tuple(fc.constantFrom('urn', 'URN'), fc.array(fc.stringMatching(/^[A-Za-z0-9.+-]{1,6}$/), { minLength: 1, maxLength: 4 })).map(([u, rest]) => [u, ...rest].join(':')),
);
const fullPath: fc.Arbitrary<AttrPath> = rec({ urn: fc.option(urn), name: attrName, sub: fc.option(attrName) });
/** A value path names its attribute without a sub-attribute. */
const wholeAttribute: fc.Arbitrary<AttrPath> = rec({ urn: fc.option(urn), name: attrName, sub: fc.constant(null) });
const relativePath: fc.Arbitrary<AttrPath> = rec({ urn: fc.constant(null), name: attrName, sub: fc.constant(null) });
const anyChar = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)); // includes lone surrogates and controls
const value: fc.Arbitrary<FilterValue> = fc.oneof(
  fc.string({ unit: anyChar, maxLength: 12 }),
  fc.string({ maxLength: 12 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);

function filterOf(leafPath: fc.Arbitrary<AttrPath>, valuePaths: fc.Arbitrary<Filter> | null): fc.Arbitrary<Filter> {
  const leaf = fc.oneof(
    rec({ kind: fc.constant('compare' as const), path: leafPath, op: fc.constantFrom(...OPS), value }),
    rec({ kind: fc.constant('present' as const), path: leafPath }),
  );
  return fc.letrec<{ f: Filter }>((tie) => ({
    // Weighted towards branches so trees are several levels deep (the first choice is the one taken at maxDepth).
    f: fc.oneof(
      { depthSize: 'medium', maxDepth: 6 },
      { arbitrary: leaf, weight: 2 },
      ...(valuePaths ? [{ arbitrary: valuePaths, weight: 1 }] : []),
      { arbitrary: rec({ kind: fc.constant('and' as const), left: tie('f'), right: tie('f') }), weight: 2 },
      { arbitrary: rec({ kind: fc.constant('or' as const), left: tie('f'), right: tie('f') }), weight: 2 },
      { arbitrary: rec({ kind: fc.constant('not' as const), filter: tie('f') }), weight: 1 },
    ),
  })).f;
}

const valueFilter = filterOf(relativePath, null);
const valuePath: fc.Arbitrary<Filter> = rec({
  kind: fc.constant('valuePath' as const),
  path: wholeAttribute,
  filter: valueFilter,
});
const filter = filterOf(fullPath, valuePath);
const patchPath: fc.Arbitrary<PatchPath> = fc.oneof(
  rec({ attribute: fullPath, filter: fc.constant(null), subAfterFilter: fc.constant(null) }),
  rec({
    attribute: wholeAttribute,
    filter: valueFilter,
    subAfterFilter: fc.option(attrName),
  }),
);

/** Runs `fn`; it may return anything, but may only throw a ScimError 400 of `scimType` whose detail is well formed. */
function onlyScim400(fn: () => unknown, scimType: ScimType | readonly ScimType[], input: string): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ScimError)) throw new Error(`non-SCIM error for ${JSON.stringify(input)}: ${String(err)}`);
    assert.equal(err.status, 400);
    assert.ok((typeof scimType === 'string' ? [scimType] : scimType).includes(err.scimType as ScimType), `scimType ${err.scimType}`);
    const m = / at position (\d+)$/.exec(err.detail);
    if (input.length <= FILTER_MAX_LENGTH) {
      assert.ok(m, `no position in ${JSON.stringify(err.detail)}`);
      assert.ok(Number(m[1]) <= input.length, `position beyond the input in ${err.detail}`);
    }
  }
}

test('printFilter then parseFilter gives back the same AST', () => {
  fc.assert(
    fc.property(filter, (ast) => {
      const text = printFilter(ast);
      fc.pre(text.length <= FILTER_MAX_LENGTH);
      assert.deepStrictEqual(parseFilter(text), ast);
    }),
    { numRuns: 1000 },
  );
});

test('printPatchPath then parsePatchPath gives back the same path', () => {
  fc.assert(
    fc.property(patchPath, (p) => {
      const text = printPatchPath(p);
      fc.pre(text.length <= FILTER_MAX_LENGTH);
      assert.deepStrictEqual(parsePatchPath(text), p);
    }),
    { numRuns: 500 },
  );
});

// Fragments of the filter language, so random text often gets deep into the grammar.
const PIECES = [
  ' ', '  ', '(', ')', '[', ']', '"', '\\', '\\u', '.', ':', '$ref', 'urn:', 'not', 'not (', ' and ', ' or ', ' pr', ' eq ', ' gt ', ' co ',
  'userName', 'emails', 'type', 'value', 'a', 'Z', '0', '1', '-', 'e', '+', '1.5e-3', 'true', 'NULL', '"x"', '__proto__', '\u0000', '\n', 'é', '\ud800',
];
const soup = fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }).map((parts) => parts.join(''));

test('random text only ever parses or fails with a positioned 400', () => {
  fc.assert(
    fc.property(fc.oneof(soup, fc.string({ unit: anyChar, maxLength: 60 })), (text) => {
      onlyScim400(() => parseFilter(text), 'invalidFilter', text);
      // A PATCH path's errors are invalidPath, or invalidFilter inside its brackets.
      onlyScim400(() => parsePatchPath(text), ['invalidPath', 'invalidFilter'], text);
    }),
    { numRuns: 3000 },
  );
});

type Edit = { kind: 'insert' | 'replace' | 'delete'; at: number; text: string };
const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('insert', 'replace', 'delete'),
  at: fc.nat(),
  text: fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: anyChar, minLength: 1, maxLength: 3 })),
});

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % (out.length + 1);
    if (e.kind === 'insert') out = out.slice(0, at) + e.text + out.slice(at);
    else if (e.kind === 'replace') out = out.slice(0, at) + e.text + out.slice(at + e.text.length);
    else out = out.slice(0, at) + out.slice(at + 1 + (e.text.length % 3));
  }
  return out;
}

const RFC_FILTERS = [
  'userName eq "bjensen"',
  `name.familyName co "O'Malley"`,
  'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
  'meta.lastModified gt "2011-05-13T04:42:34Z"',
  'title pr or userType eq "Intern"',
  'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
  'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
  'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x\\u00e9" and active eq TRUE',
];

test('mutations of valid filters only ever parse or fail with a positioned 400, and parse results print stably', () => {
  const source = fc.oneof(fc.constantFrom(...RFC_FILTERS), filter.map(printFilter));
  fc.assert(
    fc.property(source, fc.array(edit, { minLength: 1, maxLength: 4 }), (original, edits) => {
      const text = applyEdits(original, edits);
      onlyScim400(() => parseFilter(text), 'invalidFilter', text);
      let parsed: Filter | undefined;
      try {
        parsed = parseFilter(text);
      } catch {
        return;
      }
      // Whatever parses has a canonical text that reads back to the same tree.
      const canonical = printFilter(parsed);
      assert.deepStrictEqual(parseFilter(canonical), parsed);
      assert.equal(printFilter(parseFilter(canonical)), canonical);
    }),
    { numRuns: 3000 },
  );
});

// Filters over real User attributes, so evaluation reaches every type branch.
const userPaths: AttrPath[] = [
  ['userName', null], ['title', null], ['active', null], ['emails', null], ['emails', 'value'], ['emails', 'type'], ['emails', 'primary'],
  ['name', 'givenName'], ['name', null], ['meta', 'lastModified'], ['id', null], ['externalId', null], ['schemas', null], ['nosuch', null],
].map(([name, sub]) => ({ urn: null, name: name as string, sub }));
const userValue: fc.Arbitrary<FilterValue> = fc.oneof(
  fc.constantFrom('bjensen', 'BJENSEN', 'work', '2011-05-13T04:42:34Z', 'x@example.com', '', 'B'),
  fc.boolean(),
  fc.constant(null),
  fc.integer({ min: -2, max: 2 }),
);
const userFilter = fc.letrec<{ f: Filter }>((tie) => ({
  f: fc.oneof(
    { depthSize: 'medium', maxDepth: 4 },
    rec({ kind: fc.constant('compare' as const), path: fc.constantFrom(...userPaths), op: fc.constantFrom(...OPS), value: userValue }),
    rec({ kind: fc.constant('present' as const), path: fc.constantFrom(...userPaths) }),
    fc.record({
      kind: fc.constant('valuePath' as const),
      path: fc.constant({ urn: null, name: 'emails', sub: null }),
      filter: rec({ kind: fc.constant('compare' as const), path: fc.constantFrom(...['value', 'type', 'primary', 'nope'].map((name) => ({ urn: null, name, sub: null }))), op: fc.constantFrom(...OPS), value: userValue }),
    }),
    rec({ kind: fc.constant('and' as const), left: tie('f'), right: tie('f') }),
    rec({ kind: fc.constant('or' as const), left: tie('f'), right: tie('f') }),
    rec({ kind: fc.constant('not' as const), filter: tie('f') }),
  ),
})).f;
const userDoc = fc.record(
  {
    userName: fc.constantFrom('bjensen', 'BJensen', 'other'),
    title: fc.constantFrom('', 'Boss', null),
    active: fc.oneof(fc.boolean(), fc.constant('yes')),
    emails: fc.array(fc.record({ value: fc.constantFrom('x@example.com', 'X@EXAMPLE.COM', ''), type: fc.constantFrom('work', 'home'), primary: fc.boolean() }, { requiredKeys: [] }), { maxLength: 3 }),
    name: fc.record({ givenName: fc.constantFrom('B', 'b', '') }, { requiredKeys: [] }),
    meta: fc.record({ lastModified: fc.constantFrom('2011-05-13T04:42:34Z', '2011-05-13T06:42:34+02:00', '2020-01-01T00:00:00Z', 'garbage') }),
    id: fc.constantFrom('bjensen', 'BJENSEN'),
    schemas: fc.constant([USER_SCHEMA]),
  },
  { requiredKeys: [] },
);

test('evaluation: only 400s escape, not() negates, and print/parse does not change the result', () => {
  fc.assert(
    fc.property(userFilter, userDoc, (f, doc) => {
      let result: boolean;
      try {
        result = evaluateFilter(f, doc, USER);
      } catch (err) {
        assert.ok(err instanceof ScimError && err.status === 400 && err.scimType === 'invalidFilter', String(err));
        return;
      }
      assert.equal(evaluateFilter({ kind: 'not', filter: f }, doc, USER), !result);
      assert.equal(evaluateFilter(parseFilter(printFilter(f)), doc, USER), result);
      // and/or with a constant-true filter behave like the identity and absorption laws.
      const always: Filter = { kind: 'or', left: { kind: 'present', path: { urn: null, name: 'schemas', sub: null } }, right: { kind: 'not', filter: { kind: 'present', path: { urn: null, name: 'schemas', sub: null } } } };
      assert.equal(evaluateFilter({ kind: 'and', left: f, right: always }, doc, USER), result);
      assert.equal(evaluateFilter({ kind: 'or', left: f, right: always }, doc, USER), true);
    }),
    { numRuns: 2000 },
  );
});
