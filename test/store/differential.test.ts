/**
 * Differential test: random filters over random resources must select the same resources in the in-memory evaluator
 * (src/scim/filter) and in each store's SQL (SQLite always, PostgreSQL when a server is configured).
 * Generation is seeded, so a failure names the seed and filter that reproduce it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { evaluateFilter, parseFilter } from '../../src/scim/filter/index.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP, USER } from '../../src/scim/schema/index.ts';
import type { ResourceKind, StoredResource } from '../../src/store/index.ts';
import { groupDoc, userDoc } from './contract.ts';
import { POSTGRES_URL, postgresHarness, sqliteHarness } from './harness.ts';
import type { StoreHarness } from './harness.ts';
import { prng } from '../prng.ts';

const SEEDS = [1, 7, 20261123];
const FILTERS_PER_SEED = 200;
const USERS = 40;
const GROUPS = 6;


class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// Small pools so that comparisons hit; they include LIKE wildcards, the escape character and non-ASCII letters.
const CHARS = ['a', 'A', 'b', 'B', 'e', 'É', 'é', '_', '%', '\\', ' ', 'z', '1'];
const WORDS = ['alpha', 'Alpha', 'beta', 'b_t', '50%', 'a\\b', 'Émile', 'émile', 'zed', ''];
const TYPES = ['work', 'home', 'other', 'Work'];
const DOMAINS = ['@example.com', '@Example.org', '@x_y.net'];

function word(g: Gen): string {
  if (g.chance(0.5)) return g.pick(WORDS);
  return Array.from({ length: 1 + g.int(4) }, () => g.pick(CHARS)).join('');
}

/** Random user attributes; userName gets a unique numeric suffix only sometimes-colliding prefixes. */
function randomUser(g: Gen, i: number): Record<string, unknown> {
  const attrs: Record<string, unknown> = {};
  if (g.chance(0.8)) attrs.name = { givenName: word(g) || 'n' };
  if (g.chance(0.7)) attrs.title = word(g);
  if (g.chance(0.7)) attrs.active = g.chance(0.5);
  if (g.chance(0.6)) attrs.externalId = g.pick(['ext', 'EXT', 'ext_1', 'x%']) + String(g.int(3));
  if (g.chance(0.7)) {
    const count = 1 + g.int(3);
    const primary = g.int(count + 1);
    attrs.emails = Array.from({ length: count }, (_, k) => {
      const email: Record<string, unknown> = { value: word(g) + g.pick(DOMAINS) };
      if (g.chance(0.8)) email.type = g.pick(TYPES);
      if (k === primary) email.primary = true;
      return email;
    });
  }
  if (g.chance(0.5)) attrs[ENTERPRISE_USER_SCHEMA] = { department: word(g) || 'd' };
  return userDoc(`${word(g) || 'u'}-${i}`, attrs);
}

const DEPARTMENT = `${ENTERPRISE_USER_SCHEMA}:department`;
const STRING_OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'];

/** Filter text with placeholders `@U<n>` (a user id), `@G<n>` (a group id), `@T<n>:<delta>` (a lastModified ± ms). */
function randomFilter(g: Gen, depth: number): string {
  const roll = g.next();
  if (depth < 3 && roll < 0.25) {
    const op = g.pick(['and', 'or']);
    return `(${randomFilter(g, depth + 1)} ${op} ${randomFilter(g, depth + 1)})`;
  }
  if (depth < 3 && roll < 0.33) return `not (${randomFilter(g, depth + 1)})`;
  if (roll < 0.43) {
    const inner = (): string => {
      const sub = g.pick(['type', 'value', 'primary', 'display']);
      if (sub === 'primary') return g.pick(['primary eq true', 'primary eq false', 'primary pr', 'not (primary pr)']);
      if (sub === 'display') return `display ${g.pick(['pr', 'eq "x"'])}`;
      const operand = sub === 'type' ? g.pick(TYPES) : g.pick([word(g), g.pick(DOMAINS)]);
      return `${sub} ${g.pick(STRING_OPS)} ${JSON.stringify(operand)}`;
    };
    if (g.chance(0.2)) {
      return `groups[${g.pick([`value eq "@G${g.int(GROUPS)}"`, `display co ${JSON.stringify(g.pick(['g', 'G1', '_']))}`, 'type eq "direct"'])}]`;
    }
    const body = g.chance(0.4) ? `${inner()} ${g.pick(['and', 'or'])} ${inner()}` : inner();
    return `emails[${body}]`;
  }
  const attribute = g.pick(['userName', 'name.givenName', 'title', 'active', 'emails', 'emails.value', 'emails.type', 'meta.lastModified', DEPARTMENT, 'externalId', 'id', 'groups.value', 'groups']);
  if (g.chance(0.12)) return `${attribute} pr`;
  switch (attribute) {
    case 'active':
      return `active ${g.pick(['eq', 'ne'])} ${g.pick(['true', 'false', 'null'])}`;
    case 'meta.lastModified':
      return `meta.lastModified ${g.pick(['eq', 'ne', 'gt', 'ge', 'lt', 'le'])} "@T${g.int(USERS)}:${g.pick([-1, 0, 0, 1])}${g.pick(['', '+02:00'])}"`;
    case 'id':
      return `id ${g.pick(['eq', 'ne'])} "@U${g.int(USERS)}"`;
    case 'groups.value':
    case 'groups':
      return `${attribute} ${g.pick(['eq', 'ne'])} "@G${g.int(GROUPS)}"`;
    default: {
      const op = g.pick(STRING_OPS);
      if (g.chance(0.05)) return `${attribute} ${g.pick(['eq', 'ne'])} null`;
      const operand = attribute === 'externalId' ? g.pick(['ext', 'EXT', 'ext_1', 'x%', '1', 'ext1']) : attribute.startsWith('emails') && g.chance(0.3) ? g.pick(DOMAINS) : word(g);
      return `${attribute} ${op} ${JSON.stringify(operand)}`;
    }
  }
}

interface Loaded {
  readonly harness: StoreHarness;
  readonly org: string;
  readonly users: StoredResource[];
  readonly groups: StoredResource[];
}

/** The full SCIM representation the evaluator sees: document, id and meta as the server serves them. */
function representation(r: StoredResource): Record<string, unknown> {
  return {
    ...r.document,
    id: r.id,
    meta: { resourceType: r.resourceType, created: r.created, lastModified: r.lastModified, version: `W/"${r.version}"` },
  };
}

function substitute(text: string, loaded: Loaded): string {
  return text
    .replace(/@U(\d+)/g, (_, n: string) => loaded.users[Number(n)].id)
    .replace(/@G(\d+)/g, (_, n: string) => loaded.groups[Number(n)].id)
    .replace(/@T(\d+):(-?\d+)(\+02:00)?/g, (_, n: string, delta: string, offset: string | undefined) => {
      const at = new Date(Date.parse(loaded.users[Number(n)].lastModified) + Number(delta));
      if (!offset) return at.toISOString();
      return new Date(at.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    });
}

async function load(harness: StoreHarness, seed: number): Promise<Loaded> {
  const g = new Gen(prng(seed));
  const store = harness.store;
  const org = (await store.createOrganization(`diff-${seed}`)).id;
  const users: StoredResource[] = [];
  for (let i = 0; i < USERS; i++) {
    users.push(await store.create(org, 'User', randomUser(g, i)));
    // Spread timestamps a little so lastModified comparisons have both sides.
    if (i % 8 === 0) await new Promise((r) => setTimeout(r, 2));
  }
  const groups: StoredResource[] = [];
  for (let i = 0; i < GROUPS; i++) {
    const members = users.filter(() => g.chance(0.3)).map((u) => u.id);
    groups.push(await store.create(org, 'Group', groupDoc(`G${i}_${g.pick(['x', 'X', '%'])}`, members)));
  }
  return { harness, org, users, groups };
}

type Outcome = { readonly names: string[] } | { readonly error: string };

function errorOutcome(err: unknown): Outcome {
  if (err instanceof ScimError) return { error: `${err.status} ${err.scimType ?? ''}` };
  throw err;
}

/**
 * What a filter selects (userNames, or Group displayNames) in the evaluator over full representations, and in the
 * store's query; misuse must fail the same way (status and scimType) in both.
 */
async function compare(loaded: Loaded, kind: ResourceKind, text: string): Promise<{ expected: Outcome; actual: Outcome }> {
  const store = loaded.harness.store;
  const rs = kind === 'User' ? USER : GROUP;
  const key = kind === 'User' ? 'userName' : 'displayName';
  const filter = parseFilter(substitute(text, loaded));
  const all = await store.query(loaded.org, kind, { count: 1000, relations: true });
  let expected: Outcome;
  try {
    expected = { names: all.resources.filter((r) => evaluateFilter(filter, representation(r), rs)).map((r) => String(r.document[key])).sort() };
  } catch (err) {
    expected = errorOutcome(err);
  }
  let actual: Outcome;
  try {
    const found = await store.query(loaded.org, kind, { filter, count: 1000 });
    assert.equal(found.totalResults, found.resources.length);
    actual = { names: found.resources.map((r) => String(r.document[key])).sort() };
  } catch (err) {
    actual = errorOutcome(err);
  }
  return { expected, actual };
}

const GROUP_FILTERS = [
  'members pr',
  'not (members pr)',
  'members.value eq "@U0"',
  'members[value eq "@U1" or value eq "@U2"]',
  'members.display co "-1"',
  'members[type eq "USER" and display sw "a"]',
  'displayName co "%"',
  'displayName sw "g1"',
  'displayName gt "G3"',
  'members.value ne "@U3"',
];

for (const [label, open] of [
  ['sqlite', sqliteHarness],
  ...(POSTGRES_URL ? [['postgres', () => postgresHarness(POSTGRES_URL as string)] as const] : []),
] as const) {
  describe(`differential: evaluator vs ${label} store`, () => {
    let harness: StoreHarness;
    before(async () => {
      harness = await open();
    });
    after(async () => {
      await harness.close();
    });

    for (const seed of SEEDS) {
      it(`selects the same Users for ${FILTERS_PER_SEED} random filters (seed ${seed})`, async () => {
        const loaded = await load(harness, seed);
        const g = new Gen(prng(seed ^ 0x5eed));
        let nonEmpty = 0;
        for (let i = 0; i < FILTERS_PER_SEED; i++) {
          const text = randomFilter(g, 0);
          const { expected, actual } = await compare(loaded, 'User', text);
          assert.deepEqual(actual, expected, `seed ${seed}, filter #${i}: ${text}`);
          if ('names' in expected && expected.names.length > 0 && expected.names.length < USERS) nonEmpty++;
        }
        // The generator must produce discriminating filters, or the test proves little.
        assert.ok(nonEmpty > FILTERS_PER_SEED / 4, `only ${nonEmpty} filters selected a proper subset`);
      });
    }

    it('selects the same Groups for member filters', async () => {
      const loaded = await load(harness, 99);
      for (const text of GROUP_FILTERS) {
        const { expected, actual } = await compare(loaded, 'Group', text);
        assert.deepEqual(actual, expected, text);
      }
    });
  });
}
