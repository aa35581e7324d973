/**
 * `scimkit seed`: fills a SCIM server over HTTP with realistic fake people (@faker-js/faker) and groups, through
 * the connector's own client, so it honours the server's rate limits the same way a sync does. It uses /Bulk when
 * the server offers it (one request per up to maxOperations creations), else one POST per resource.
 */
import { base, en, Faker } from '@faker-js/faker';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, BULK_REQUEST_SCHEMA, PATCH_OP_SCHEMA } from '../scim/schema/core.ts';
import { HttpClient, HttpError } from './http.ts';
import { createRedactor, type Logger } from './log.ts';
import { parseServiceProviderConfig } from './source.ts';
import type { Json } from './mapping.ts';

export interface SeedOptions {
  readonly baseUrl: string;
  readonly token: string;
  readonly users: number;
  readonly groups: number;
  /** Members of each ordinary group (drawn at random from the seeded users). */
  readonly membersPerGroup: number;
  /** When above 0, one extra group with this many members (capped at the number of users). */
  readonly bigGroupMembers: number;
  /** Makes the fake data reproducible. */
  readonly seed: number;
  /** Requests in flight at once (the rate limit still applies to all of them together). */
  readonly concurrency: number;
  readonly logger: Logger;
  readonly timeoutMs?: number;
  readonly retryAttempts?: number;
  /** Called after each batch with what exists so far. */
  readonly onProgress?: (done: { users: number; groups: number }) => void;
}

export interface SeedResult {
  readonly userIds: string[];
  readonly groupIds: string[];
  readonly requests: number;
  readonly retries: number;
  readonly throttled: number;
  readonly wallMs: number;
}

/** Membership changes per PATCH, so a huge group never needs one huge request. */
const MEMBER_CHUNK = 1000;

function slug(s: string): string {
  return s.normalize('NFKD').replace(/[^A-Za-z0-9]+/g, '').toLowerCase() || 'user';
}

export function fakeUser(f: Faker, index: number): Json {
  const givenName = f.person.firstName();
  const familyName = f.person.lastName();
  const userName = `${slug(givenName)}.${slug(familyName)}.${index}@example.com`;
  const user: Json = {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    userName,
    externalId: `seed-${index}`,
    name: { givenName, familyName, formatted: `${givenName} ${familyName}` },
    displayName: `${givenName} ${familyName}`,
    emails: [
      { value: userName, type: 'work', primary: true },
      { value: `${slug(givenName)}${index}@home.example.net`, type: 'home' },
    ],
    phoneNumbers: [{ value: f.phone.number(), type: 'work' }],
    addresses: [{ type: 'work', locality: f.location.city(), country: f.location.countryCode(), primary: true }],
    title: f.person.jobTitle(),
    userType: f.helpers.arrayElement(['Employee', 'Contractor', 'Intern']),
    active: f.number.float({ min: 0, max: 1 }) > 0.05,
    [ENTERPRISE_USER_SCHEMA]: {
      employeeNumber: String(100000 + index),
      department: f.commerce.department(),
      division: f.person.jobArea(),
      costCenter: `CC-${f.number.int({ min: 100, max: 999 })}`,
      organization: f.company.name(),
    },
  };
  return user;
}

function idFromLocation(location: unknown): string | null {
  if (typeof location !== 'string') return null;
  const last = location.replace(/\/+$/, '').split('/').pop();
  return last ? decodeURIComponent(last) : null;
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await task(items[next++]);
  });
  await Promise.all(workers);
}

export async function seed(opts: SeedOptions): Promise<SeedResult> {
  const started = Date.now();
  const redact = createRedactor([opts.token]);
  const http = new HttpClient({
    baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    token: opts.token,
    timeoutMs: opts.timeoutMs ?? 60_000,
    retryAttempts: opts.retryAttempts ?? 5,
    logger: opts.logger,
    redact,
    connections: opts.concurrency,
  });
  const f = new Faker({ locale: [en, base] });
  f.seed(opts.seed);
  try {
    let bulk = { supported: false, maxOperations: 0, maxPayloadSize: 0 };
    try {
      const spc = parseServiceProviderConfig((await http.get('/ServiceProviderConfig')).body);
      if (spc.bulk.supported && (spc.bulk.maxOperations ?? 0) > 1) {
        bulk = { supported: true, maxOperations: spc.bulk.maxOperations ?? 0, maxPayloadSize: spc.bulk.maxPayloadSize ?? 1_048_576 };
      }
    } catch (err) {
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) throw err;
    }

    const userIds = await createAll(http, '/Users', opts.users, (i) => fakeUser(f, i + 1), bulk, opts.concurrency);
    opts.onProgress?.({ users: userIds.length, groups: 0 });

    const groupDocs: { doc: Json; extra: string[] }[] = [];
    const sample = (n: number): string[] => (userIds.length === 0 ? [] : f.helpers.arrayElements(userIds, Math.min(n, userIds.length)));
    for (let g = 1; g <= opts.groups; g++) {
      const members = sample(opts.membersPerGroup);
      groupDocs.push({
        doc: { schemas: [GROUP_SCHEMA], displayName: `${f.commerce.department()} ${f.company.buzzNoun()} ${g}`, externalId: `seed-group-${g}` },
        extra: members,
      });
    }
    if (opts.bigGroupMembers > 0) {
      groupDocs.push({ doc: { schemas: [GROUP_SCHEMA], displayName: 'Everyone', externalId: 'seed-group-everyone' }, extra: userIds.slice(0, opts.bigGroupMembers) });
    }
    // Groups are created with their first members inline, the rest added in PATCH chunks.
    const groupIds = await createAll(http, '/Groups', groupDocs.length, (i) => ({
      ...groupDocs[i].doc,
      members: groupDocs[i].extra.slice(0, MEMBER_CHUNK).map((value) => ({ value })),
    }), bulk, opts.concurrency);
    const patches: { id: string; members: string[] }[] = [];
    groupDocs.forEach(({ extra }, i) => {
      for (let k = MEMBER_CHUNK; k < extra.length; k += MEMBER_CHUNK) patches.push({ id: groupIds[i], members: extra.slice(k, k + MEMBER_CHUNK) });
    });
    await pool(patches, opts.concurrency, async (p) => {
      await http.request('PATCH', `/Groups/${encodeURIComponent(p.id)}`, {
        body: { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'members', value: p.members.map((value) => ({ value })) }] },
      });
    });
    opts.onProgress?.({ users: userIds.length, groups: groupIds.length });
    return { userIds, groupIds, requests: http.stats.requests, retries: http.stats.retries, throttled: http.stats.throttled, wallMs: Date.now() - started };
  } finally {
    await http.close();
  }
}

/** Creates `count` resources made on demand by `make` and returns their ids in order, through /Bulk batches when offered. */
async function createAll(
  http: HttpClient,
  endpoint: '/Users' | '/Groups',
  count: number,
  make: (index: number) => Json,
  bulk: { supported: boolean; maxOperations: number; maxPayloadSize: number },
  concurrency: number,
): Promise<string[]> {
  const ids: string[] = new Array(count);
  let made = 0;
  let pending: { index: number; doc: Json } | null = null;
  // Documents are made batch by batch (synchronously, so the fake data stays reproducible) to keep memory flat.
  // A batch is bounded by maxOperations and, with room for the envelope, by maxPayloadSize.
  const take = (): { index: number; doc: Json }[] => {
    const out: { index: number; doc: Json }[] = [];
    const maxOps = bulk.supported ? bulk.maxOperations : 1;
    let size = 200;
    for (;;) {
      let item = pending;
      pending = null;
      if (!item) {
        if (made >= count) break;
        item = { index: made, doc: make(made) };
        made += 1;
      }
      const opSize = JSON.stringify(item.doc).length + 120;
      if (out.length > 0 && (out.length >= maxOps || size + opSize > bulk.maxPayloadSize * 0.9)) {
        pending = item;
        break;
      }
      out.push(item);
      size += opSize;
    }
    return out;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      const batch = take();
      if (batch.length === 0) return;
      if (!bulk.supported) {
        const { index, doc } = batch[0];
        const res = await http.request('POST', endpoint, { body: doc });
        const id = (res.body as Json | null)?.id;
        if (typeof id !== 'string') throw new Error(`POST ${endpoint} returned no id`);
        ids[index] = id;
        continue;
      }
      const res = await http.request('POST', '/Bulk', {
        body: { schemas: [BULK_REQUEST_SCHEMA], Operations: batch.map(({ index, doc }) => ({ method: 'POST', path: endpoint, bulkId: `b${index}`, data: doc })) },
      });
      const ops = ((res.body as Json | null)?.Operations ?? []) as Json[];
      for (const op of ops) {
        const i = Number(String(op.bulkId ?? '').slice(1));
        const status = Number(op.status);
        if (!(status >= 200 && status < 300)) {
          const detail = (op.response as Json | undefined)?.detail;
          throw new Error(`Bulk POST ${endpoint} operation ${String(op.bulkId)} failed with ${String(op.status)}${detail ? `: ${String(detail)}` : ''}`);
        }
        const id = idFromLocation(op.location);
        if (id === null || !Number.isInteger(i)) throw new Error(`Bulk POST ${endpoint} returned an operation without a location`);
        ids[i] = id;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  for (let i = 0; i < count; i++) if (ids[i] === undefined) throw new Error(`${endpoint}: the server did not report every created resource`);
  return ids;
}
