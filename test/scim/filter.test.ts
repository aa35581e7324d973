import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENTERPRISE_USER_SCHEMA,
  FILTER_MAX_DEPTH,
  FILTER_MAX_LENGTH,
  GROUP,
  GROUP_SCHEMA,
  SCHEMAS_ATTRIBUTE,
  ScimError,
  USER,
  USER_SCHEMA,
  attr,
  checkFilterAttributes,
  compileFilter,
  evaluateFilter,
  evaluateValueFilter,
  findAttribute,
  parseAttrPath,
  parseFilter,
  parsePatchPath,
  parseScimDateTime,
  printAttrPath,
  printFilter,
  printPatchPath,
  resolveFilterPath,
} from '../../src/scim/index.ts';
import type { AttrPath, CompareOp, Filter, FilterValue, ResourceSchema, ScimType } from '../../src/scim/index.ts';

const ENT = ENTERPRISE_USER_SCHEMA;

function path(name: string, sub: string | null = null, urn: string | null = null): AttrPath {
  return { urn, name, sub };
}
function cmp(p: AttrPath | string, op: CompareOp, value: FilterValue): Filter {
  return { kind: 'compare', path: typeof p === 'string' ? path(p) : p, op, value };
}
function pr(p: AttrPath | string): Filter {
  return { kind: 'present', path: typeof p === 'string' ? path(p) : p };
}
const and = (left: Filter, right: Filter): Filter => ({ kind: 'and', left, right });
const or = (left: Filter, right: Filter): Filter => ({ kind: 'or', left, right });
const not = (filter: Filter): Filter => ({ kind: 'not', filter });
const vp = (name: string, filter: Filter): Filter => ({ kind: 'valuePath', path: path(name), filter });

/** Asserts a ScimError 400 of the given type whose detail matches `detail` (and, when given, ends at `position`). */
function assertScim400(fn: () => unknown, scimType: ScimType, detail: RegExp, position?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ScimError, `expected a ScimError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.scimType, scimType);
    assert.match(err.detail, detail);
    if (position !== undefined) assert.match(err.detail, new RegExp(` at position ${position}$`));
    return true;
  });
}

// Sample resources shaped like RFC 7643 section 8.2, plus two that differ in the ways the RFC filters probe.
const bjensen = {
  schemas: [USER_SCHEMA, ENT],
  id: '2819c223-7f76-453a-919d-413861904646',
  externalId: 'BJensen-EXT',
  userName: 'bjensen',
  name: { familyName: "O'Malley", givenName: 'Barbara' },
  title: 'Tour Guide',
  userType: 'Employee',
  active: true,
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home' },
  ],
  ims: [{ value: 'someaimhandle', type: 'aim' }],
  meta: { resourceType: 'User', created: '2010-01-23T04:56:22Z', lastModified: '2011-05-13T04:42:34Z' },
  [ENT]: { department: 'Tour Operations', manager: { value: '26118915-6090-4610-87e4-49d8ca9f808d', displayName: 'John Smith' } },
};
const jsmith = {
  schemas: [USER_SCHEMA],
  id: 'b2c3',
  userName: 'JSmith',
  userType: 'Intern',
  active: false,
  emails: [{ value: 'js@example.org', type: 'home' }],
  ims: [{ value: 'js@foo.com', type: 'xmpp' }],
  meta: { resourceType: 'User', created: '2011-01-01T00:00:00Z', lastModified: '2011-05-13T04:42:35Z' },
};
const contractor = {
  schemas: [USER_SCHEMA],
  id: 'c3d4',
  userName: 'kwong',
  title: '',
  userType: 'Contractor',
  emails: [{ value: 'kw@elsewhere.net', type: 'work' }],
  meta: { resourceType: 'User', created: '2009-01-01T00:00:00Z', lastModified: '2011-05-13T04:42:33.999Z' },
};
const USERS: Record<string, unknown>[] = [bjensen, jsmith, contractor];

function matching(filter: string, rs: ResourceSchema = USER, resources = USERS): string[] {
  const predicate = compileFilter(parseFilter(filter), rs);
  return resources.filter(predicate).map((r) => String(r.userName ?? r.displayName));
}

const RFC_EXAMPLES: [string, Filter, string[]][] = [
  ['userName eq "bjensen"', cmp('userName', 'eq', 'bjensen'), ['bjensen']],
  [`name.familyName co "O'Malley"`, cmp(path('name', 'familyName'), 'co', "O'Malley"), ['bjensen']],
  ['userName sw "J"', cmp('userName', 'sw', 'J'), ['JSmith']],
  ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', cmp(path('userName', null, USER_SCHEMA), 'sw', 'J'), ['JSmith']],
  ['title pr', pr('title'), ['bjensen']],
  ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp(path('meta', 'lastModified'), 'gt', '2011-05-13T04:42:34Z'), ['JSmith']],
  ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp(path('meta', 'lastModified'), 'ge', '2011-05-13T04:42:34Z'), ['bjensen', 'JSmith']],
  ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp(path('meta', 'lastModified'), 'lt', '2011-05-13T04:42:34Z'), ['kwong']],
  ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp(path('meta', 'lastModified'), 'le', '2011-05-13T04:42:34Z'), ['bjensen', 'kwong']],
  ['title pr and userType eq "Employee"', and(pr('title'), cmp('userType', 'eq', 'Employee')), ['bjensen']],
  ['title pr or userType eq "Intern"', or(pr('title'), cmp('userType', 'eq', 'Intern')), ['bjensen', 'JSmith']],
  ['schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', cmp('schemas', 'eq', ENT), ['bjensen']],
  [
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    and(cmp('userType', 'eq', 'Employee'), or(cmp('emails', 'co', 'example.com'), cmp(path('emails', 'value'), 'co', 'example.org'))),
    ['bjensen'],
  ],
  [
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    and(cmp('userType', 'ne', 'Employee'), not(or(cmp('emails', 'co', 'example.com'), cmp(path('emails', 'value'), 'co', 'example.org')))),
    ['kwong'],
  ],
  ['userType eq "Employee" and (emails.type eq "work")', and(cmp('userType', 'eq', 'Employee'), cmp(path('emails', 'type'), 'eq', 'work')), ['bjensen']],
  [
    'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    and(cmp('userType', 'eq', 'Employee'), vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com')))),
    ['bjensen'],
  ],
  [
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    or(
      vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com'))),
      vp('ims', and(cmp('type', 'eq', 'xmpp'), cmp('value', 'co', '@foo.com'))),
    ),
    ['bjensen', 'JSmith'],
  ],
];

test('every RFC 7644 section 3.4.2.2 example parses to the expected AST', () => {
  for (const [text, ast] of RFC_EXAMPLES) assert.deepEqual(parseFilter(text), ast, text);
});

test('every RFC 7644 section 3.4.2.2 example selects the expected users', () => {
  for (const [text, , expected] of RFC_EXAMPLES) assert.deepEqual(matching(text), expected, text);
});

test('the RFC examples print back to themselves, modulo redundant parentheses', () => {
  for (const [text, ast] of RFC_EXAMPLES) {
    const printed = printFilter(ast);
    assert.deepEqual(parseFilter(printed), ast);
    if (!text.includes('(emails.type')) assert.equal(printed, text);
  }
  assert.equal(printFilter(RFC_EXAMPLES[14][1]), 'userType eq "Employee" and emails.type eq "work"');
});

test('and binds tighter than or; chains are left-associative; parentheses and not group', () => {
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => pr(n));
  assert.deepEqual(parseFilter('a pr or b pr and c pr'), or(a, and(b, c)));
  assert.deepEqual(parseFilter('a pr and b pr or c pr'), or(and(a, b), c));
  assert.deepEqual(parseFilter('a pr and b pr or c pr and d pr'), or(and(a, b), and(c, d)));
  assert.deepEqual(parseFilter('(a pr or b pr) and c pr'), and(or(a, b), c));
  assert.deepEqual(parseFilter('a pr or b pr or c pr'), or(or(a, b), c));
  assert.deepEqual(parseFilter('a pr and b pr and c pr'), and(and(a, b), c));
  assert.deepEqual(parseFilter('a pr or (b pr or c pr)'), or(a, or(b, c)));
  assert.deepEqual(parseFilter('not (a pr) and b pr'), and(not(a), b));
  assert.deepEqual(parseFilter('not (a pr or b pr)'), not(or(a, b)));
  assert.deepEqual(parseFilter('((a pr))'), a);
  // Evaluation follows the same precedence: with title present and userType "Employee",
  // `userType eq "Intern" and title pr or active eq true` is (false and true) or true.
  assert.deepEqual(matching('userType eq "Intern" and title pr or active eq true'), ['bjensen']);
  assert.deepEqual(matching('userType eq "Intern" and (title pr or active eq false)'), ['JSmith']);
});

test('operators, keywords, literals and attribute names are case-insensitive', () => {
  assert.deepEqual(
    parseFilter('userName EQ "x" And NOT (title PR) Or active Eq TRUE oR x eq False aND y eq NULL'),
    or(or(and(cmp('userName', 'eq', 'x'), not(pr('title'))), cmp('active', 'eq', true)), and(cmp('x', 'eq', false), cmp('y', 'eq', null))),
  );
  for (const op of ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const) {
    assert.deepEqual(parseFilter(`a ${op.toUpperCase()} 1`), cmp('a', op, 1));
  }
  // Names keep their spelling in the AST but resolve case-insensitively, including the schema URN.
  assert.deepEqual(parseFilter('USERNAME eq "x"'), cmp('USERNAME', 'eq', 'x'));
  assert.deepEqual(matching('USERNAME eq "BJENSEN"'), ['bjensen']);
  assert.deepEqual(matching('NAME.FAMILYNAME eq "o\'malley"'), ['bjensen']);
  assert.deepEqual(matching('URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName eq "kwong"'), ['kwong']);
  assert.deepEqual(matching('Emails[TYPE eq "WORK" and Value ew ".NET"]'), ['kwong']);
});

test('document keys are matched case-insensitively and never through the prototype', () => {
  const doc = { UserName: 'Alice', EMAILS: [{ Value: 'a@x.org', TYPE: 'work' }], 'URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER': { Department: 'R&D' } };
  assert.equal(evaluateFilter(parseFilter('userName eq "alice"'), doc, USER), true);
  assert.equal(evaluateFilter(parseFilter('emails[type eq "work" and value eq "A@X.ORG"]'), doc, USER), true);
  assert.equal(evaluateFilter(parseFilter(`${ENT}:department eq "r&d"`), doc, USER), true);
  // An exact-case key wins over another spelling.
  assert.equal(evaluateFilter(parseFilter('userName eq "b"'), { username: 'a', userName: 'b' }, USER), true);

  const inherited = Object.create({ userName: 'bjensen', title: 'x' }) as Record<string, unknown>;
  assert.equal(evaluateFilter(parseFilter('userName eq "bjensen"'), inherited, USER), false);
  assert.equal(evaluateFilter(parseFilter('title pr'), inherited, USER), false);
  const parsed = JSON.parse('{"__proto__": {"userName": "bjensen"}, "title": "t"}') as Record<string, unknown>;
  assert.equal(evaluateFilter(parseFilter('userName eq "bjensen"'), parsed, USER), false);
  assert.equal(evaluateFilter(parseFilter('title eq "T"'), parsed, USER), true);
  assert.equal(({} as Record<string, unknown>).userName, undefined);
});

test('string values accept every JSON escape', () => {
  const value = (text: string): FilterValue => (parseFilter(`a eq ${text}`) as { value: FilterValue }).value;
  assert.equal(value(String.raw`"q\" b\\ s\/ \b\f\n\r\t"`), 'q" b\\ s/ \b\f\n\r\t');
  assert.equal(value(String.raw`"\u00e9\u00C9 \ud83d\ude00"`), 'éÉ 😀');
  assert.equal(value('""'), '');
  assert.equal(value('"O\'Malley (and) [x] or pr"'), "O'Malley (and) [x] or pr");
  assert.equal(value('"ünïcødé ✓"'), 'ünïcødé ✓');
  assertScim400(() => parseFilter(String.raw`a eq "bad \x escape"`), 'invalidFilter', /invalid escape "\\x"/, 10);
  assertScim400(() => parseFilter(String.raw`a eq "\u12G4"`), 'invalidFilter', /invalid \\u escape/, 6);
  assertScim400(() => parseFilter(String.raw`a eq "\u12"`), 'invalidFilter', /invalid \\u escape/, 6);
  assertScim400(() => parseFilter('a eq "abc'), 'invalidFilter', /unterminated string/, 5);
  assertScim400(() => parseFilter('a eq "abc\\'), 'invalidFilter', /unterminated string/, 9);
  assertScim400(() => parseFilter('a eq "tab\there"'), 'invalidFilter', /control characters/, 9);
});

test('numbers follow JSON; true, false and null in any case', () => {
  const value = (text: string): FilterValue => (parseFilter(`a eq ${text}`) as { value: FilterValue }).value;
  assert.equal(value('0'), 0);
  assert.equal(value('42'), 42);
  assert.equal(value('-7'), -7);
  assert.equal(value('3.25'), 3.25);
  assert.equal(value('1e3'), 1000);
  assert.equal(value('-2.5E-2'), -0.025);
  assert.equal(value('6.02e+23'), 6.02e23);
  assert.equal(Object.is(value('-0'), -0), true);
  assert.equal(value('TRUE'), true);
  assert.equal(value('fAlSe'), false);
  assert.equal(value('Null'), null);
  for (const bad of ['01', '1.', '.5', '+1', '1e', '1e+', '--1', '0x10', 'NaN', 'Infinity', 'truthy', 'nul', "'single'"]) {
    assertScim400(() => parseFilter(`a eq ${bad}`), 'invalidFilter', /expected a value/, 5);
  }
  assertScim400(() => parseFilter('a eq 1e400'), 'invalidFilter', /out of range/, 5);
});

test('spaces: any amount between tokens, optional around parentheses and brackets', () => {
  const expected = and(vp('emails', cmp('type', 'eq', 'work')), not(pr('title')));
  for (const text of [
    'emails[type eq "work"] and not (title pr)',
    '  emails[ type  eq  "work" ]   and   not(title pr)  ',
    'emails [type eq "work"] and not ( title pr )',
    '(emails[type eq "work"])and not(title pr)',
    'emails[type eq "work"]\tand\nnot (title pr)',
  ]) {
    assert.deepEqual(parseFilter(text), expected, text);
  }
  assert.deepEqual(parseFilter('a eq"x"'), cmp('a', 'eq', 'x'));
});

test('attribute paths: schema URNs, sub-attributes and $ref', () => {
  assert.deepEqual(parseFilter(`${ENT}:manager.value eq "x"`), cmp(path('manager', 'value', ENT), 'eq', 'x'));
  assert.deepEqual(parseFilter(`${ENT}:employeeNumber pr`), pr(path('employeeNumber', null, ENT)));
  assert.deepEqual(parseFilter('members.$ref pr'), pr(path('members', '$ref')));
  assert.deepEqual(parseFilter('urn:x:y pr'), pr(path('y', null, 'urn:x')));
  assert.deepEqual(parseFilter('a-b_9 pr'), pr('a-b_9'));
  const cases: [string, RegExp, number][] = [
    ['9lives pr', /invalid attribute name "9lives"/, 0],
    ['a.b.c pr', /invalid attribute name "b.c"/, 2],
    ['name. pr', /invalid attribute name ""/, 5],
    ['.name pr', /invalid attribute name ""/, 0],
    ['a$b pr', /invalid attribute name "a\$b"/, 0],
    ['foo:bar pr', /must start with "urn:"/, 0],
    ['urn:userName pr', /invalid schema URN "urn"/, 0],
    ['urn::x:userName pr', /invalid schema URN/, 4],
    [`${ENT}: pr`, /invalid attribute name ""/, ENT.length + 1],
    [`${ENT}:manager.value.x pr`, /invalid attribute name "value.x"/, ENT.length + 9],
  ];
  for (const [text, detail, position] of cases) assertScim400(() => parseFilter(text), 'invalidFilter', detail, position);
});

test('syntax errors are invalidFilter with the position of the offending character', () => {
  const cases: [string, RegExp, number][] = [
    ['', /expected an attribute path.*end of input/, 0],
    ['   ', /expected an attribute path.*end of input/, 3],
    ['userName', /expected an operator.*end of input/, 8],
    ['userName eq', /expected a value.*end of input/, 11],
    ['userName eqq "x"', /expected an operator.*"eqq"/, 9],
    ['userName = "x"', /expected an operator.*"="/, 9],
    ['userName eq "x" an title pr', /unexpected "an"/, 16],
    ['userName eq "x" and', /expected an attribute path.*end of input/, 19],
    ['userName eq "x" or or b pr', /expected an operator.*"b"/, 22],
    ['title pr title pr', /unexpected "title"/, 9],
    ['(title pr', /expected "\)".*end of input/, 9],
    ['title pr)', /unexpected "\)"/, 8],
    ['()', /expected an attribute path.*"\)"/, 1],
    ['not title pr', /expected "\(" after "not".*"title"/, 4],
    ['not', /expected "\(" after "not".*end of input/, 3],
    ['emails[type eq "work"', /expected "\]".*end of input/, 21],
    ['emails[]', /expected an attribute path.*"\]"/, 7],
    ['emails[type eq "work"].value eq "x"', /cannot be followed by a sub-attribute/, 22],
    ['emails[type eq "work"] eq "x"', /unexpected "eq"/, 23],
    ['emails[value[type eq "x"]]', /cannot be nested/, 12],
    ['emails[emails.type eq "x"]', /sub-attribute names/, 7],
    [`emails[${ENT}:type eq "x"]`, /sub-attribute names/, 7],
    ['name.givenName[value eq "x"]', /without a sub-attribute/, 0],
    ['a eq "x" "y"', /unexpected "\\"/, 9],
    ['a eq "x" #', /unexpected "#"/, 9],
    ['#', /expected an attribute path.*"#"/, 0],
    ['a pr and ]', /expected an attribute path.*"\]"/, 9],
  ];
  for (const [text, detail, position] of cases) assertScim400(() => parseFilter(text), 'invalidFilter', detail, position);
});

test('prototype keys are refused anywhere in a filter or path', () => {
  for (const text of ['__proto__ pr', 'name.constructor eq "x"', 'emails[prototype eq "x"]', 'PROTOTYPE pr', `${ENT}:__proto__ pr`, 'a pr or b.__PROTO__ pr']) {
    assertScim400(() => parseFilter(text), 'invalidFilter', /is not allowed/);
  }
  for (const text of ['__proto__', 'name.constructor', 'emails[type eq "x"].__proto__', 'members[value eq "x"].prototype']) {
    assertScim400(() => parsePatchPath(text), 'invalidPath', /is not allowed/);
  }
  // Inside the brackets it is the path's filter that is wrong (RFC 7644 section 3.12: "PATCH (Path Filter)").
  assertScim400(() => parsePatchPath('emails[constructor eq "x"]'), 'invalidFilter', /is not allowed/);
  assertScim400(() => parseAttrPath('constructor'), 'invalidPath', /is not allowed/);
});

test('length and nesting limits give a clean 400 before any deep work', () => {
  const atLimit = `userName eq "${'x'.repeat(FILTER_MAX_LENGTH - 14)}"`;
  assert.equal(atLimit.length, FILTER_MAX_LENGTH);
  assert.equal(parseFilter(atLimit).kind, 'compare');
  assertScim400(() => parseFilter(`${atLimit} `), 'invalidFilter', new RegExp(`longer than ${FILTER_MAX_LENGTH}`));
  assertScim400(() => parseFilter('x'.repeat(10_000_000)), 'invalidFilter', /longer than/);

  const nested = (depth: number): string => `${'('.repeat(depth)}title pr${')'.repeat(depth)}`;
  assert.deepEqual(parseFilter(nested(FILTER_MAX_DEPTH)), pr('title'));
  assertScim400(() => parseFilter(nested(FILTER_MAX_DEPTH + 1)), 'invalidFilter', /nesting is deeper than 32/, FILTER_MAX_DEPTH);
  // 10,000 levels is over the length limit as a whole, so give it room: the depth check must fire, not the stack.
  assertScim400(() => parseFilter('('.repeat(4000)), 'invalidFilter', /nesting is deeper/, FILTER_MAX_DEPTH);
  assertScim400(() => parseFilter('('.repeat(10_000)), 'invalidFilter', /longer than/);
  const nots = (depth: number): string => `${'not ('.repeat(depth)}title pr${')'.repeat(depth)}`;
  let expected = pr('title');
  for (let i = 0; i < FILTER_MAX_DEPTH; i++) expected = not(expected);
  assert.deepEqual(parseFilter(nots(FILTER_MAX_DEPTH)), expected);
  assertScim400(() => parseFilter(nots(FILTER_MAX_DEPTH + 1)), 'invalidFilter', /nesting is deeper/, FILTER_MAX_DEPTH * 5 + 4);
  // Brackets count as a level too.
  assertScim400(() => parseFilter(`${'('.repeat(FILTER_MAX_DEPTH)}emails[type pr]${')'.repeat(FILTER_MAX_DEPTH)}`), 'invalidFilter', /nesting is deeper/, FILTER_MAX_DEPTH + 6);
});

test('long flat chains (no nesting) parse, print, evaluate and check without recursion trouble', () => {
  const unit = 'title eq "nope" or ';
  const last = 'userName eq "kwong"';
  const text = unit.repeat(Math.floor((FILTER_MAX_LENGTH - last.length) / unit.length)) + last;
  assert.ok(text.length <= FILTER_MAX_LENGTH && text.length > FILTER_MAX_LENGTH - unit.length);
  const filter = parseFilter(text);
  assert.deepEqual(parseFilter(printFilter(filter)), filter);
  assert.deepEqual(matching(text), ['kwong']);
  checkFilterAttributes(filter, USER);
});

test('printFilter is canonical and parenthesises exactly where structure needs it', () => {
  const [a, b, c] = ['a', 'b', 'c'].map((n) => pr(n));
  const cases: [Filter, string][] = [
    [or(a, or(b, c)), 'a pr or (b pr or c pr)'],
    [or(or(a, b), c), 'a pr or b pr or c pr'],
    [and(a, and(b, c)), 'a pr and (b pr and c pr)'],
    [and(or(a, b), c), '(a pr or b pr) and c pr'],
    [and(a, or(b, c)), 'a pr and (b pr or c pr)'],
    [or(and(a, b), and(b, c)), 'a pr and b pr or b pr and c pr'],
    [not(and(a, b)), 'not (a pr and b pr)'],
    [cmp(path('manager', 'value', ENT), 'ne', 'x"\\\n'), `${ENT}:manager.value ne "x\\"\\\\\\n"`],
    [cmp('n', 'gt', -0), 'n gt -0'],
    [cmp('n', 'lt', 1e21), 'n lt 1e+21'],
    [cmp('n', 'le', null), 'n le null'],
    [cmp('b', 'eq', false), 'b eq false'],
  ];
  for (const [ast, text] of cases) {
    assert.equal(printFilter(ast), text);
    assert.deepEqual(parseFilter(text), ast);
  }
  assertScim400(() => printFilter(cmp('n', 'eq', Number.NaN)), 'invalidFilter', /non-finite/);
  assert.equal(printAttrPath(path('manager', 'value', ENT)), `${ENT}:manager.value`);
});

test('parsePatchPath: attribute paths, value paths and a trailing sub-attribute', () => {
  const cases: [string, ReturnType<typeof parsePatchPath>][] = [
    ['members', { attribute: path('members'), filter: null, subAfterFilter: null }],
    ['name.familyName', { attribute: path('name', 'familyName'), filter: null, subAfterFilter: null }],
    ['emails[type eq "work"]', { attribute: path('emails'), filter: cmp('type', 'eq', 'work'), subAfterFilter: null }],
    ['emails[type eq "work"].value', { attribute: path('emails'), filter: cmp('type', 'eq', 'work'), subAfterFilter: 'value' }],
    [
      'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
      { attribute: path('members'), filter: cmp('value', 'eq', '2819c223-7f76-453a-919d-413861904646'), subAfterFilter: null },
    ],
    [`${ENT}:employeeNumber`, { attribute: path('employeeNumber', null, ENT), filter: null, subAfterFilter: null }],
    [`${ENT}:manager.value`, { attribute: path('manager', 'value', ENT), filter: null, subAfterFilter: null }],
    [
      'addresses[type eq "work" and not (primary eq false)].streetAddress',
      { attribute: path('addresses'), filter: and(cmp('type', 'eq', 'work'), not(cmp('primary', 'eq', false))), subAfterFilter: 'streetAddress' },
    ],
    ['  members  ', { attribute: path('members'), filter: null, subAfterFilter: null }],
  ];
  for (const [text, expected] of cases) {
    const parsed = parsePatchPath(text);
    assert.deepEqual(parsed, expected, text);
    assert.deepEqual(parsePatchPath(printPatchPath(parsed)), parsed);
  }
  const bad: [string, RegExp, number, ScimType?][] = [
    ['', /expected an attribute path.*end of input/, 0],
    ['emails[type eq "work"]value', /unexpected "value"/, 22],
    ['emails[type eq "work"].', /invalid attribute name ""/, 23],
    ['emails[type eq "work"].value.x', /invalid attribute name "value.x"/, 23],
    ['emails[type eq "work"', /expected "\]"/, 21, 'invalidFilter'],
    ['emails[type eq]', /expected a value/, 14, 'invalidFilter'],
    ['emails[]', /expected an attribute path/, 7, 'invalidFilter'],
    ['name.givenName[value eq "x"]', /without a sub-attribute/, 0],
    ['emails[type eq "work"][value pr]', /unexpected "\["/, 22],
    ['members value', /unexpected "value"/, 8],
    ['9x', /invalid attribute name/, 0],
  ];
  for (const [text, detail, position, scimType] of bad) assertScim400(() => parsePatchPath(text), scimType ?? 'invalidPath', detail, position);
  assertScim400(() => parsePatchPath('a'.repeat(FILTER_MAX_LENGTH + 1)), 'invalidPath', /longer than/);
});

test('parseAttrPath: sortBy and attributes entries', () => {
  assert.deepEqual(parseAttrPath('userName'), path('userName'));
  assert.deepEqual(parseAttrPath(' name.givenName '), path('name', 'givenName'));
  assert.deepEqual(parseAttrPath(`${ENT}:manager.displayName`), path('manager', 'displayName', ENT));
  for (const [text, position] of [['emails[type eq "work"]', 6], ['user name', 5], ['a.b.c', 2], ['', 0]] as const) {
    assertScim400(() => parseAttrPath(text), 'invalidPath', /Invalid attribute path/, position);
  }
});

test('non-string input is rejected as a 400, not a TypeError', () => {
  assertScim400(() => parseFilter(undefined as unknown as string), 'invalidFilter', /expected a string/);
  assertScim400(() => parsePatchPath(42 as unknown as string), 'invalidPath', /expected a string/);
});

test('caseExact from the schema decides case sensitivity', () => {
  // id and externalId are caseExact; userName is not.
  assert.deepEqual(matching('id eq "2819C223-7F76-453A-919D-413861904646"'), []);
  assert.deepEqual(matching('id eq "2819c223-7f76-453a-919d-413861904646"'), ['bjensen']);
  assert.deepEqual(matching('externalId eq "bjensen-ext"'), []);
  assert.deepEqual(matching('externalId eq "BJensen-EXT"'), ['bjensen']);
  assert.deepEqual(matching('externalId sw "BJ"'), ['bjensen']);
  assert.deepEqual(matching('externalId co "ext"'), []);
  assert.deepEqual(matching('userName eq "JSMITH"'), ['JSmith']);
  assert.deepEqual(matching('userName ew "SMITH"'), ['JSmith']);
  assert.deepEqual(matching('meta.resourceType eq "user"'), []);
  assert.deepEqual(matching(`${ENT}:manager.value eq "26118915-6090-4610-87E4-49D8CA9F808D"`), []);
  assert.deepEqual(matching(`${ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`), ['bjensen']);
  assert.deepEqual(matching(`${ENT}:manager.displayName eq "JOHN SMITH"`), ['bjensen']);
  // gt/lt on case-insensitive strings compare the lower-cased forms: "jsmith" > "bjensen" > "a" and "kwong" > "jsmith".
  assert.deepEqual(matching('userName gt "JZ"'), ['kwong']);
  assert.deepEqual(matching('userName le "jsmith"'), ['bjensen', 'JSmith']);
  assert.deepEqual(matching('externalId lt "a"'), ['bjensen']);
});

test('dateTime attributes compare as instants', () => {
  assert.deepEqual(matching('meta.lastModified eq "2011-05-13T06:42:34+02:00"'), ['bjensen']);
  assert.deepEqual(matching('meta.lastModified eq "2011-05-13T04:42:34.000Z"'), ['bjensen']);
  assert.deepEqual(matching('meta.lastModified gt "2011-05-13T04:42:33.9985Z"'), ['bjensen', 'JSmith', 'kwong']);
  assert.deepEqual(matching('meta.lastModified lt "2011-05-13T00:42:34-04:00"'), ['kwong']);
  assert.deepEqual(matching('meta.created ge "2010-01-01T00:00:00" and meta.created lt "2011-01-01T00:00:00Z"'), ['bjensen']);
  assert.deepEqual(matching('meta.lastModified ne "2011-05-13T04:42:34Z"'), ['JSmith', 'kwong']);
  const odd = { userName: 'odd', meta: { lastModified: 'yesterday' } };
  assert.deepEqual(matching('meta.lastModified lt "2999-01-01T00:00:00Z"', USER, [odd]), []);
  for (const bad of ['"2011-05-13"', '"13/05/2011"', '"2011-02-30T00:00:00Z"', '"2011-05-13T25:00:00Z"', '5', 'true']) {
    assertScim400(() => evaluateFilter(parseFilter(`meta.lastModified gt ${bad}`), bjensen, USER), 'invalidFilter', /dateTime/);
  }
  assert.equal(parseScimDateTime('2011-05-13T04:42:34Z'), Date.UTC(2011, 4, 13, 4, 42, 34));
  assert.equal(parseScimDateTime('2011-05-13t04:42:34.1234567z'), Date.UTC(2011, 4, 13, 4, 42, 34, 123));
  assert.equal(parseScimDateTime('2011-05-13T04:42:34-07:30'), Date.UTC(2011, 4, 13, 12, 12, 34));
  assert.equal(parseScimDateTime('0099-01-01T00:00:00Z'), new Date('0099-01-01T00:00:00Z').getTime(), 'two-digit years are not shifted to 19xx');
  assert.equal(parseScimDateTime('2012-02-29T00:00:00Z'), Date.UTC(2012, 1, 29));
  for (const bad of ['2011-02-29T00:00:00Z', '2011-13-01T00:00:00Z', '2011-05-13 04:42:34Z', '2011-05-13T04:42Z', '2011-05-13T04:42:34+15:00', '']) {
    assert.equal(parseScimDateTime(bad), undefined, bad);
  }
});

test('booleans, presence and null', () => {
  assert.deepEqual(matching('active eq true'), ['bjensen']);
  assert.deepEqual(matching('active eq FALSE'), ['JSmith']);
  // ne is the negation of eq, so an absent value is "not equal".
  assert.deepEqual(matching('active ne true'), ['JSmith', 'kwong']);
  assert.deepEqual(matching('active pr'), ['bjensen', 'JSmith']);
  assert.deepEqual(matching('title pr'), ['bjensen'], 'an empty string is not present');
  assert.deepEqual(matching('title eq null'), ['JSmith', 'kwong']);
  assert.deepEqual(matching('title ne null'), ['bjensen']);
  assert.deepEqual(matching('name pr'), ['bjensen']);
  assert.deepEqual(matching(`${ENT}:manager pr`), ['bjensen']);
  assert.deepEqual(matching(`${ENT}:department eq "tour operations"`), ['bjensen']);
  const sparse = [
    { userName: 'empty-list', emails: [] },
    { userName: 'blank-values', emails: [{ value: '', type: null }], name: { givenName: '' } },
    { userName: 'one-value', emails: [{ value: 'x@y.z' }] },
    { userName: 'null-list', emails: null, name: null },
  ];
  assert.deepEqual(matching('emails pr', USER, sparse), ['one-value']);
  assert.deepEqual(matching('emails.type pr', USER, sparse), []);
  assert.deepEqual(matching('emails.value pr', USER, sparse), ['one-value']);
  assert.deepEqual(matching('name pr', USER, sparse), []);
  assert.deepEqual(matching('emails eq null', USER, sparse), ['empty-list', 'blank-values', 'null-list']);
  for (const op of ['co', 'sw', 'gt', 'le'] as const) {
    assertScim400(() => evaluateFilter(parseFilter(`title ${op} null`), bjensen, USER), 'invalidFilter', /cannot compare with null/);
  }
});

test('multi-valued attributes match when any value matches; ne when none equals', () => {
  assert.deepEqual(matching('emails.type eq "home"'), ['bjensen', 'JSmith']);
  assert.deepEqual(matching('emails.type ne "home"'), ['kwong']);
  assert.deepEqual(matching('emails ew ".org"'), ['bjensen', 'JSmith']);
  assert.deepEqual(matching('emails[type eq "home" and value ew ".com"]'), []);
  assert.deepEqual(matching('emails.type eq "home" and emails.value ew ".com"'), ['bjensen'], 'without brackets the two tests may hit different values');
  assert.deepEqual(matching('emails[not (type eq "work")]'), ['bjensen', 'JSmith']);
  assert.deepEqual(matching('not (emails[type eq "work"])'), ['JSmith']);
  assert.deepEqual(matching('emails[primary eq true]'), ['bjensen']);
  assert.deepEqual(matching('schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"'), ['bjensen', 'JSmith', 'kwong']);
});

test('Groups: members by value path, by sub-attribute and by bare attribute (Entra ID style)', () => {
  const groups = [
    { schemas: [GROUP_SCHEMA], id: 'g1', displayName: 'Tour Guides', members: [{ value: 'u1', type: 'User' }, { value: 'u2', type: 'User' }] },
    { schemas: [GROUP_SCHEMA], id: 'g2', displayName: 'Admins', members: [{ value: 'U1', type: 'User' }] },
    { schemas: [GROUP_SCHEMA], id: 'g3', displayName: 'Empty' },
  ];
  assert.deepEqual(matching('members[value eq "u1"]', GROUP, groups), ['Tour Guides']);
  assert.deepEqual(matching('members.value eq "u2"', GROUP, groups), ['Tour Guides']);
  assert.deepEqual(matching('id eq "g2" and members eq "U1"', GROUP, groups), ['Admins']);
  assert.deepEqual(matching('displayName eq "admins"', GROUP, groups), ['Admins']);
  assert.deepEqual(matching('members pr', GROUP, groups), ['Tour Guides', 'Admins']);
  assert.deepEqual(matching('userName eq "x"', GROUP, groups), [], 'a User attribute names nothing on a Group');
});

test('integer and decimal attributes compare numerically', () => {
  const EXT = 'urn:example:params:scim:schemas:extension:test:2.0:User';
  const rs: ResourceSchema = {
    ...USER,
    extensions: [{ id: EXT, name: 'Test', description: 'test', attributes: [attr('level', 'integer', 'l'), attr('score', 'decimal', 's', { multiValued: true })] }],
  };
  const docs = [
    { userName: 'low', [EXT]: { level: 2, score: [0.5, 10.25] } },
    { userName: 'high', [EXT]: { level: 10, score: [3] } },
    { userName: 'text', [EXT]: { level: '10' } },
  ];
  assert.deepEqual(matching(`${EXT}:level gt 9`, rs, docs), ['high'], '10 > 9 numerically (as text "10" < "9")');
  assert.deepEqual(matching(`${EXT}:level le 2`, rs, docs), ['low']);
  assert.deepEqual(matching(`${EXT}:level eq 10.0`, rs, docs), ['high']);
  assert.deepEqual(matching(`${EXT}:score ge 1e1`, rs, docs), ['low']);
  assert.deepEqual(matching(`${EXT}:score lt 1`, rs, docs), ['low']);
  assert.deepEqual(matching(`${EXT}:level ne 2`, rs, docs), ['high', 'text']);
  assertScim400(() => matching(`${EXT}:level eq "10"`, rs, docs), 'invalidFilter', /use a number/);
  assertScim400(() => matching(`${EXT}:level co 1`, rs, docs), 'invalidFilter', /applies to string attributes/);
});

test('operators that no value of the attribute type could satisfy are invalidFilter', () => {
  const cases: [string, RegExp][] = [
    ['active gt true', /"gt" cannot be applied to "active" \(boolean\)/],
    ['active le false', /"le" cannot be applied/],
    ['active co "t"', /"co" applies to string attributes/],
    ['active eq "true"', /use true or false/],
    ['name gt "a"', /complex attribute "name"/],
    ['name eq "a"', /complex attribute "name"/],
    ['emails gt "a"', /complex attribute "emails"/],
    ['userName eq 5', /use a string/],
    ['userName eq true', /use a string/],
    ['meta.created sw "2011"', /"sw" applies to string attributes/],
    ['password eq "secret"', /"password" cannot be used in a filter/],
    ['userName[value eq "x"]', /needs a complex attribute/],
    // RFC 7644 section 3.4.2.2: gt, ge, lt and le on Boolean and Binary attributes SHALL fail with invalidFilter.
    ['x509Certificates.value gt "TUlJ"', /"gt" cannot be applied to "x509Certificates.value" \(binary\)/],
    ['x509Certificates[value le "TUlJ"]', /"le" cannot be applied/],
  ];
  for (const [text, detail] of cases) {
    const filter = parseFilter(text);
    assertScim400(() => evaluateFilter(filter, bjensen, USER), 'invalidFilter', detail);
    assertScim400(() => evaluateFilter(filter, {}, USER), 'invalidFilter', detail);
    assertScim400(() => checkFilterAttributes(filter, USER), 'invalidFilter', detail);
  }
  // Hand-built ASTs the parser never produces are still refused.
  assertScim400(() => evaluateFilter(vp('emails', vp('emails', pr('value'))), bjensen, USER), 'invalidFilter', /cannot be nested/);
  assertScim400(
    () => evaluateFilter({ kind: 'valuePath', path: path('name', 'givenName'), filter: pr('value') }, bjensen, USER),
    'invalidFilter',
    /without a sub-attribute/,
  );
});

test('unknown attributes match nothing when evaluating and are named by checkFilterAttributes', () => {
  assert.deepEqual(matching('nickname2 eq "x"'), []);
  assert.deepEqual(matching('not (nickname2 pr)'), ['bjensen', 'JSmith', 'kwong']);
  assert.deepEqual(matching('emails[kind eq "work"] or userName eq "kwong"'), ['kwong']);
  const cases: [string, RegExp][] = [
    ['nickname2 eq "x"', /unknown attribute "nickname2"/],
    ['name.middle pr', /unknown attribute "name.middle"/],
    ['emails[kind eq "work"]', /unknown sub-attribute "kind" of "emails"/],
    ['urn:example:nope:2.0:User:x pr', /unknown attribute "urn:example:nope:2.0:User:x"/],
    [`${ENT}:userName pr`, /unknown attribute/],
    ['title pr and (userName eq "x" or bogus pr)', /unknown attribute "bogus"/],
  ];
  for (const [text, detail] of cases) assertScim400(() => checkFilterAttributes(parseFilter(text), USER), 'invalidFilter', detail);
  for (const [text] of RFC_EXAMPLES) checkFilterAttributes(parseFilter(text), USER);
  checkFilterAttributes(parseFilter('members[value eq "x" and type eq "User"] and displayName sw "A"'), GROUP);
  assertScim400(() => checkFilterAttributes(parseFilter('title pr'), GROUP), 'invalidFilter', /unknown attribute "title"/);
  // Value filters of PATCH paths are checked relative to their attribute.
  const members = findAttribute(GROUP.core.attributes, 'members')!;
  checkFilterAttributes(parseFilter('value eq "u1"'), GROUP, members);
  assertScim400(() => checkFilterAttributes(parseFilter('displayName eq "u1"'), GROUP, members), 'invalidFilter', /sub-attribute "displayName" of "members"/);
});

test('value filters evaluate against one element of their attribute', () => {
  const emails = findAttribute(USER.core.attributes, 'emails')!;
  const { filter } = parsePatchPath('emails[type eq "WORK" and not (primary eq false)]');
  assert.ok(filter);
  assert.deepEqual(
    bjensen.emails.map((e) => evaluateValueFilter(filter, e, emails, USER)),
    [true, false],
  );
  assert.equal(evaluateValueFilter(filter, { type: 'work', primary: false }, emails, USER), false);
  assert.equal(evaluateValueFilter(filter, { type: 'work' }, emails, USER), true);
});

test('resolveFilterPath resolves schemas, extensions and relative sub-attributes', () => {
  assert.equal(resolveFilterPath(path('SCHEMAS'), USER)?.attribute, SCHEMAS_ATTRIBUTE);
  const mgr = resolveFilterPath(path('manager', 'value', ENT), USER);
  assert.deepEqual([mgr?.extension, mgr?.attribute.name, mgr?.subAttribute?.name], [ENT, 'manager', 'value']);
  const members = findAttribute(GROUP.core.attributes, 'members')!;
  const rel = resolveFilterPath(path('VALUE'), GROUP, members);
  assert.deepEqual([rel?.extension, rel?.attribute.name, rel?.attribute.caseExact, rel?.subAttribute], [null, 'value', true, null]);
  assert.equal(resolveFilterPath(path('value', 'x'), GROUP, members), undefined);
  assert.equal(resolveFilterPath(path('meta', 'created'), GROUP)?.subAttribute?.type, 'dateTime');
  assert.equal(resolveFilterPath(path('constructor'), USER), undefined);
});
