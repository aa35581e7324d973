/**
 * The directory API and the events agree (docs/directory.md, "Staying in sync"): an app that pulls the users once
 * and then applies the events from the pull's `events_cursor` ends with exactly what a fresh pull gives. Checked on
 * SQLite and PostgreSQL with a seeded random sequence of SCIM writes (users, groups, nested groups, members,
 * renames, deactivations, IdP-sent roles, deletes), rule and catalogue changes, some of them concurrent, some of
 * them between the pages of the first pull, and recomputations in small batches.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from '../prng.ts';
import { backends, call, client, group, patchOp, startHarness, user } from './helpers.ts';
import type { Harness, Reply } from './helpers.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const SEED = Number(process.env.SCIMKIT_TEST_SEED ?? 14_2026);
const ROUNDS = 6;
const STEPS_PER_ROUND = 25;
const ROLE_KEYS = ['admin', 'editor', 'viewer', 'billing'];

type Json = Record<string, any>;

interface Event {
  type: string;
  sequence: number;
  data: Json;
  previous?: Json;
}

/**
 * What an app keeps, written from the documentation of the flat shape and of the events, independently of the
 * server's code: a user from a SCIM resource in event data, then memberships and roles from their events.
 */
class AppMirror {
  readonly users = new Map<string, Json>();

  static flat(resource: Json): Json {
    const name = resource.name ?? {};
    const emails: Json[] = Array.isArray(resource.emails) ? resource.emails : [];
    const enterprise = resource[ENTERPRISE] ?? {};
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      id: resource.id,
      user_name: text(resource.userName),
      email: text((emails.find((e) => e.primary === true) ?? emails[0])?.value),
      first_name: text(name.givenName),
      last_name: text(name.familyName),
      display_name: text(resource.displayName),
      active: resource.active !== false,
      employee_number: text(enterprise.employeeNumber),
      cost_center: text(enterprise.costCenter),
      organization: text(enterprise.organization),
      division: text(enterprise.division),
      department: text(enterprise.department),
      manager: typeof enterprise.manager?.value === 'string' ? { id: enterprise.manager.value, display_name: text(enterprise.manager.displayName) } : null,
      created_at: resource.meta.created,
      updated_at: resource.meta.lastModified,
      raw: resource,
    };
  }

  apply(event: Event): void {
    const { data } = event;
    switch (event.type) {
      case 'user.created':
      case 'user.updated':
      case 'user.deactivated':
      case 'user.reactivated': {
        const kept = this.users.get(data.id);
        this.users.set(data.id, { ...AppMirror.flat(data), roles: kept?.roles ?? [], groups: kept?.groups ?? [] });
        break;
      }
      case 'user.deleted':
        this.users.delete(data.id);
        break;
      case 'user.roles_changed': {
        const kept = this.users.get(data.user.id);
        if (kept) kept.roles = data.roles;
        break;
      }
      case 'group.member_added':
      case 'group.member_removed': {
        const kept = data.member.type === 'User' ? this.users.get(data.member.value) : undefined;
        if (!kept) break;
        kept.groups = kept.groups.filter((g: Json) => g.id !== data.group.id);
        if (event.type === 'group.member_added') kept.groups.push({ id: data.group.id, name: data.group.displayName });
        break;
      }
      case 'group.updated':
        for (const kept of this.users.values()) for (const g of kept.groups) if (g.id === data.id) g.name = data.displayName;
        break;
      case 'group.deleted':
        for (const kept of this.users.values()) kept.groups = kept.groups.filter((g: Json) => g.id !== data.id);
        break;
    }
  }

  /** Sorted as the API lists them, for comparison. */
  snapshot(): Json[] {
    return [...this.users.values()]
      .map((u): Json => ({ ...u, groups: [...u.groups].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}

for (const backend of backends()) {
  describe(`directory and events stay consistent (${backend})`, () => {
    let h: Harness;
    let scim: ReturnType<typeof client>;
    let mgmt: (method: string, path: string, body?: unknown) => Promise<Reply>;

    before(async () => {
      h = await startHarness({ backend, store: { recomputeBatch: 4 } });
      const key = (await h.store.createManagementKey({ orgId: h.org.id })).secret;
      scim = client(h);
      mgmt = (method, path, body) =>
        call(`${h.origin}/api/v1/organizations/${h.org.id}`, method, path, { defaultToken: key, body, headers: body !== undefined ? { 'content-type': 'application/json' } : {} });
    });
    after(async () => h?.close());

    /** Every user, page by page (`between` runs after each page); returns them with the pull's events_cursor. */
    async function pull(between: () => Promise<void> = async () => {}): Promise<{ users: Json[]; eventsCursor: string }> {
      const users: Json[] = [];
      let eventsCursor: string | undefined;
      let url = '/users?limit=3';
      for (;;) {
        const res = await mgmt('GET', url);
        assert.equal(res.status, 200, res.text);
        users.push(...res.body.data);
        // The last page's, which carries the first page's on (any page's will do).
        eventsCursor = res.body.events_cursor as string;
        if (res.body.next_cursor === null) return { users, eventsCursor };
        await between();
        url = `/users?limit=3&after=${res.body.next_cursor}`;
      }
    }

    /** Every resource of a type through SCIM, with its relations. */
    async function scimAll(endpoint: 'Users' | 'Groups'): Promise<Json[]> {
      const res = await scim('GET', `/${endpoint}?count=1000`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.totalResults <= 1000);
      return res.body.Resources ?? [];
    }

    /**
     * Each user's roles as docs/roles.md defines them, from the rules, the catalogue and the SCIM resources: rules
     * match a group by id, externalId or displayName (any case); nested groups count to 16 levels; IdP-sent roles
     * when switched on; the default when nothing else gives a role; none when inactive.
     */
    async function expectedRoles(): Promise<Map<string, string[]>> {
      const catalogue = (await mgmt('GET', '/roles')).body;
      const rules: Json[] = (await mgmt('GET', '/role-mappings?limit=1000')).body.data;
      const groups = await scimAll('Groups');
      const gives = new Map<string, Set<string>>();
      for (const g of groups) {
        const roles = new Set<string>();
        for (const rule of rules) {
          const by = rule.group;
          const matches =
            by.id === g.id || (by.external_id !== undefined && by.external_id === g.externalId) || (by.display_name !== undefined && by.display_name.toLowerCase() === String(g.displayName).toLowerCase());
          if (matches) for (const role of rule.roles) roles.add(role);
        }
        gives.set(g.id, roles);
      }
      const parentsOf = new Map<string, string[]>();
      for (const g of groups) for (const m of g.members ?? []) parentsOf.set(m.value, [...(parentsOf.get(m.value) ?? []), g.id]);
      const keys = new Map<string, string>(catalogue.data.map((r: Json) => [String(r.key).toLowerCase(), r.key]));
      const out = new Map<string, string[]>();
      for (const u of await scimAll('Users')) {
        const roles = new Set<string>();
        if (u.active !== false) {
          let level = parentsOf.get(u.id) ?? [];
          for (let depth = 0; depth < 16 && level.length > 0; depth++) {
            for (const g of level) for (const role of gives.get(g) ?? []) roles.add(role);
            level = level.flatMap((g) => parentsOf.get(g) ?? []);
          }
          if (catalogue.accept_idp_roles) for (const r of u.roles ?? []) if (keys.has(String(r.value).toLowerCase())) roles.add(keys.get(String(r.value).toLowerCase()) as string);
          if (roles.size === 0 && catalogue.default_role !== null) roles.add(catalogue.default_role);
        }
        out.set(u.id, [...roles].sort());
      }
      return out;
    }

    test(`a pull plus the events equals a fresh pull, after every round (seed ${SEED})`, async () => {
      const random = prng(SEED + (backend === 'postgres' ? 1 : 0));
      const pick = <T>(items: readonly T[]): T | undefined => (items.length === 0 ? undefined : items[Math.floor(random() * items.length)]);
      const users: string[] = [];
      const groups: string[] = [];
      const rules: string[] = [];
      let serial = 0;
      const ok = (res: Reply, what: string) => {
        assert.ok(res.status < 500, `${what}: ${res.status} ${res.text}`);
        return res;
      };

      for (const key of ROLE_KEYS.slice(0, 3)) ok(await mgmt('POST', '/roles', { key }), 'define');
      const anyGroup = () => pick(groups);
      const steps: (() => Promise<void>)[] = [
        // Users: create (sometimes with IdP roles and Enterprise fields), change, deactivate or reactivate, delete.
        async () => {
          const n = ++serial;
          const body = user(`user-${n}@example.com`, {
            name: { givenName: `Given${n}`, familyName: `Family${n}` },
            emails: [{ value: `u${n}@example.com`, primary: random() < 0.5 }],
            ...(random() < 0.3 && { roles: [{ value: pick(['ADMIN', 'billing', 'Viewer', 'nobody']) }] }),
            ...(random() < 0.3 && { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE], [ENTERPRISE]: { department: `Dept${n % 3}`, manager: { value: pick(users) ?? 'none' } } }),
            active: random() < 0.9,
          });
          const res = ok(await scim('POST', '/Users', { body }), 'create user');
          if (res.status === 201) users.push(res.body.id);
        },
        async () => {
          const id = pick(users);
          if (!id) return;
          const change = pick([
            { op: 'replace', path: 'displayName', value: `Display ${++serial}` },
            { op: 'replace', path: 'roles', value: [{ value: pick(['editor', 'Admin', 'billing']) }] },
            { op: 'replace', path: 'name.givenName', value: `Renamed${++serial}` },
          ]);
          ok(await scim('PATCH', `/Users/${id}`, { body: patchOp(change as Json) }), 'patch user');
        },
        async () => {
          // Deactivation and reactivation: the opposite of what the user is.
          const id = pick(users);
          if (!id) return;
          const current = await scim('GET', `/Users/${id}`);
          if (current.status !== 200) return;
          ok(await scim('PATCH', `/Users/${id}`, { body: patchOp({ op: 'replace', path: 'active', value: current.body.active === false }) }), 'toggle active');
        },
        async () => {
          const id = pick(users);
          if (!id || random() < 0.5) return;
          users.splice(users.indexOf(id), 1);
          ok(await scim('DELETE', `/Users/${id}`), 'delete user');
        },
        // Groups: create (with members, sometimes a nested group), rename, new externalId, members in and out, delete.
        async () => {
          const members = [pick(users), pick(users), random() < 0.6 ? anyGroup() : undefined].filter((m): m is string => m !== undefined);
          const res = ok(
            await scim('POST', '/Groups', { body: group(`Group ${++serial}`, { externalId: `ext-${serial % 5}`, members: [...new Set(members)].map((value) => ({ value })) }) }),
            'create group',
          );
          if (res.status === 201) groups.push(res.body.id);
        },
        async () => {
          const id = anyGroup();
          if (!id) return;
          const change = random() < 0.7 ? { op: 'replace', path: 'displayName', value: `Group ${++serial}` } : { op: 'replace', path: 'externalId', value: `ext-${serial % 5}` };
          ok(await scim('PATCH', `/Groups/${id}`, { body: patchOp(change) }), 'rename group');
        },
        async () => {
          const id = anyGroup();
          const member = random() < 0.6 ? pick(users) : anyGroup();
          if (!id || !member || member === id) return;
          const op = random() < 0.6 ? { op: 'add', path: 'members', value: [{ value: member }] } : { op: 'remove', path: `members[value eq "${member}"]` };
          ok(await scim('PATCH', `/Groups/${id}`, { body: patchOp(op) }), 'members');
        },
        async () => {
          const id = anyGroup();
          if (!id || random() < 0.6) return;
          groups.splice(groups.indexOf(id), 1);
          ok(await scim('DELETE', `/Groups/${id}`), 'delete group');
        },
        // Rules and the catalogue.
        async () => {
          const id = anyGroup();
          const by = pick(['id', 'display_name', 'external_id']) as string;
          const value = by === 'id' ? id : by === 'external_id' ? `ext-${Math.floor(random() * 5)}` : `group ${Math.floor(random() * serial) + 1}`;
          if (!value) return;
          const res = ok(await mgmt('POST', '/role-mappings', { group: { [by]: value }, roles: [pick(ROLE_KEYS.slice(0, 3))] }), 'map');
          if (res.status === 201) rules.push(res.body.id);
        },
        async () => {
          const id = pick(rules);
          if (!id) return;
          if (random() < 0.5) {
            rules.splice(rules.indexOf(id), 1);
            ok(await mgmt('DELETE', `/role-mappings/${id}`), 'unmap');
          } else {
            ok(await mgmt('PATCH', `/role-mappings/${id}`, { roles: [pick(ROLE_KEYS.slice(0, 3)), pick(ROLE_KEYS.slice(0, 3))] }), 'remap');
          }
        },
        async () => {
          const choice = random();
          if (choice < 0.4) ok(await mgmt('PATCH', '/roles', { default_role: pick([null, 'viewer', 'editor']) }), 'default');
          else if (choice < 0.7) ok(await mgmt('PATCH', '/roles', { accept_idp_roles: random() < 0.5 }), 'idp roles');
          else if (choice < 0.85) ok(await mgmt('POST', '/roles', { key: 'billing' }), 'define billing');
          else ok(await mgmt('DELETE', '/roles/billing'), 'remove billing');
        },
      ];
      const step = () => (pick(steps) as () => Promise<void>)();
      /** One to three steps at once: concurrent writes and rule changes. */
      const burst = async () => {
        const n = 1 + Math.floor(random() * 3);
        await Promise.all(Array.from({ length: n }, step));
      };

      for (let i = 0; i < 40; i++) await burst();
      // The app's first pull, with writes landing between its pages.
      const first = await pull(burst);
      const app = new AppMirror();
      for (const u of first.users) app.users.set(u.id, structuredClone(u));
      let cursor = first.eventsCursor;
      let applied = 0;
      const types = new Set<string>();
      // Round 0 checks the pull itself (with what happened between its pages); the others add writes first.
      for (let round = 0; round <= ROUNDS; round++) {
        if (round > 0) for (let i = 0; i < STEPS_PER_ROUND; i++) await burst();
        for (;;) {
          const res = await mgmt('GET', `/events?after=${cursor}&limit=500`);
          assert.equal(res.status, 200, res.text);
          for (const event of res.body.data as Event[]) {
            app.apply(event);
            types.add(event.type);
          }
          applied += res.body.data.length;
          cursor = res.body.next_cursor;
          if (res.body.data.length < 500) break;
        }
        const fresh = await pull();
        assert.deepEqual(app.snapshot(), fresh.users, `round ${round}: the mirror differs from a fresh pull (seed ${SEED})`);
        // And the roles themselves are right: what the rules give, worked out here from the SCIM resources.
        const expected = await expectedRoles();
        for (const u of fresh.users) assert.deepEqual(u.roles, expected.get(u.id), `round ${round}: roles of ${u.user_name} (seed ${SEED})`);
      }
      // The sequence really exercised roles: events of every kind were applied.
      for (const type of ['user.roles_changed', 'group.member_added', 'group.member_removed', 'user.deactivated', 'group.updated', 'group.deleted', 'user.deleted']) {
        assert.ok(types.has(type), `the sequence produced ${type} (it produced ${[...types].join(", ")})`);
      }
      assert.ok(applied > 100, `applied ${applied} events`);
      assert.ok(
        (await pull()).users.some((u) => u.roles.length > 0),
        'some users hold roles at the end',
      );
    });
  });
}
