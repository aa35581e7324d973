/**
 * The SQLite store's user cache never changes an answer: after any sequence of writes, a cached store reads exactly
 * what a store without a cache reads from the same file, by id (with and without groups) and by userName.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { parsePatchOperations } from '../../src/scim/patch/index.ts';
import { GROUP, PATCH_OP_SCHEMA, USER } from '../../src/scim/schema/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { ResourceKind, Store } from '../../src/store/index.ts';
import { groupDoc, userDoc } from './contract.ts';
import { prng } from '../prng.ts';

function ops(kind: ResourceKind, operations: unknown[]) {
  return parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: operations }, kind === 'User' ? USER : GROUP);
}

/** A request arriving after a commit through another connection starts a new event-loop turn. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('the user cache (SQLite)', () => {
  let dir: string;
  let file: string;
  let cached: Store;
  let plain: Store;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-user-cache-'));
    file = join(dir, 'scim.db');
    // A small cache, so that eviction happens too.
    cached = await openStore({ sqlitePath: file, userCacheEntries: 6 });
    plain = await openStore({ sqlitePath: file, userCacheEntries: 0 });
  });
  after(async () => {
    await cached?.close();
    await plain?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads what an uncached store reads after every one of 400 random writes', async () => {
    const org = (await cached.createOrganization('random')).id;
    const random = prng(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const users: string[] = [];
    const groups: string[] = [];
    const userNames = new Set<string>();
    let serial = 0;
    const newUser = async () => {
      const userName = `u${serial++}@example.com`;
      userNames.add(userName);
      users.push((await cached.create(org, 'User', userDoc(userName, { displayName: `User ${serial}` }))).id);
    };
    for (let i = 0; i < 8; i++) await newUser();
    for (let i = 0; i < 3; i++) groups.push((await cached.create(org, 'Group', groupDoc(`g${serial++}`, [pick(users), pick(users)]))).id);

    const writes: [string, () => Promise<unknown>][] = [
      ['create user', newUser],
      ['rename user', async () => {
        const userName = `U${serial++}@Example.com`;
        userNames.add(userName);
        await cached.patch(org, 'User', pick(users), ops('User', [{ op: 'replace', path: 'userName', value: userName }]));
      }],
      ['take a former userName in another case', async () => {
        const taken = new Set((await plain.query(org, 'User', { count: 1000 })).resources.map((r) => String(r.document.userName).toLowerCase()));
        const free = [...userNames].filter((n) => !taken.has(n.toLowerCase()));
        if (free.length > 0) await cached.patch(org, 'User', pick(users), ops('User', [{ op: 'replace', path: 'userName', value: pick(free).toUpperCase() }]));
      }],
      ['replace user', async () => {
        const id = pick(users);
        const current = await plain.get(org, 'User', id);
        if (current) await cached.replace(org, 'User', id, userDoc(String(current.document.userName), { title: `t${serial++}` }));
      }],
      ['delete user', async () => {
        if (users.length < 4) return;
        const id = users.splice(Math.floor(random() * users.length), 1)[0];
        await cached.delete(org, 'User', id);
      }],
      ['create group with members', async () => {
        groups.push((await cached.create(org, 'Group', groupDoc(`g${serial++}`, [pick(users)]))).id);
      }],
      ['add a member', async () => {
        if (groups.length > 0) await cached.patch(org, 'Group', pick(groups), ops('Group', [{ op: 'add', path: 'members', value: [{ value: pick(users) }] }]));
      }],
      ['remove a member by id', async () => {
        if (groups.length > 0) await cached.patch(org, 'Group', pick(groups), ops('Group', [{ op: 'remove', path: `members[value eq "${pick(users)}"]` }]));
      }],
      ['remove a member by display', async () => {
        const member = await plain.get(org, 'User', pick(users));
        const display = member?.document.displayName ?? member?.document.userName;
        if (groups.length > 0) await cached.patch(org, 'Group', pick(groups), ops('Group', [{ op: 'remove', path: `members[display eq ${JSON.stringify(display)}]` }]));
      }],
      ['remove all members', async () => {
        if (groups.length > 0) await cached.patch(org, 'Group', pick(groups), ops('Group', [{ op: 'remove', path: 'members' }]));
      }],
      ['rename group', async () => {
        if (groups.length > 0) await cached.patch(org, 'Group', pick(groups), ops('Group', [{ op: 'replace', path: 'displayName', value: `g${serial++}` }]));
      }],
      ['replace group', async () => {
        if (groups.length > 0) await cached.replace(org, 'Group', pick(groups), groupDoc(`g${serial++}`, [pick(users), pick(users)]));
      }],
      ['delete group', async () => {
        if (groups.length > 1) await cached.delete(org, 'Group', groups.splice(Math.floor(random() * groups.length), 1)[0]);
      }],
    ];

    const compare = async (step: string) => {
      for (const id of users) {
        for (const relations of [true, false]) {
          assert.deepEqual(await cached.get(org, 'User', id, { relations }), await plain.get(org, 'User', id, { relations }), `${step}: GET ${id}, relations ${relations}`);
        }
      }
      for (const userName of userNames) {
        for (const written of [userName, userName.toUpperCase()]) {
          const options = { filter: parseFilter(`userName eq ${JSON.stringify(written)}`), count: 10, relations: true };
          assert.deepEqual(await cached.query(org, 'User', options), await plain.query(org, 'User', options), `${step}: userName eq ${written}`);
        }
      }
    };
    for (let i = 0; i < 400; i++) {
      const [name, write] = pick(writes);
      try {
        await write();
      } catch (err) {
        // A random write may collide with a taken name; the comparison still has to hold.
        if ((err as { status?: number }).status !== 409) throw err;
      }
      await compare(`write ${i} (${name})`);
    }
  });

  it('sees a change another connection commits, from the next turn of the event loop', async () => {
    const org = (await cached.createOrganization('external')).id;
    const id = (await cached.create(org, 'User', userDoc('ext@example.com'))).id;
    const group = await cached.create(org, 'Group', groupDoc('ext-group'));
    assert.equal((await cached.get(org, 'User', id, { relations: true }))?.document.groups, undefined);
    assert.equal((await cached.query(org, 'User', { filter: parseFilter('userName eq "ext@example.com"'), count: 1 })).totalResults, 1);
    await plain.patch(org, 'User', id, ops('User', [{ op: 'replace', path: 'userName', value: 'moved@example.com' }]));
    await plain.patch(org, 'Group', group.id, ops('Group', [{ op: 'add', path: 'members', value: [{ value: id }] }]));
    await nextTurn();
    const read = await cached.get(org, 'User', id, { relations: true });
    assert.equal(read?.document.userName, 'moved@example.com');
    assert.deepEqual(read?.document.groups, [{ value: group.id, display: 'ext-group', type: 'direct' }]);
    assert.equal((await cached.query(org, 'User', { filter: parseFilter('userName eq "ext@example.com"'), count: 1 })).totalResults, 0);
    await plain.delete(org, 'User', id);
    await nextTurn();
    assert.equal(await cached.get(org, 'User', id), null);
  });

  it('keeps organizations apart', async () => {
    const first = (await cached.createOrganization('first')).id;
    const second = (await cached.createOrganization('second')).id;
    const id = (await cached.create(first, 'User', userDoc('same@example.com'))).id;
    assert.ok(await cached.get(first, 'User', id));
    assert.equal(await cached.get(second, 'User', id), null);
    const lookup = { filter: parseFilter('userName eq "same@example.com"'), count: 1 };
    assert.equal((await cached.query(first, 'User', lookup)).totalResults, 1);
    assert.equal((await cached.query(second, 'User', lookup)).totalResults, 0);
    // A group write in one organization leaves the other's cached users as they are, and correct.
    const other = (await cached.create(second, 'User', userDoc('same@example.com'))).id;
    await cached.create(first, 'Group', groupDoc('only-first', [id]));
    assert.deepEqual((await cached.get(second, 'User', other, { relations: true }))?.document.groups, undefined);
    assert.equal(((await cached.get(first, 'User', id, { relations: true }))?.document.groups as unknown[]).length, 1);
  });

  it('hands out frozen users, so no caller can change what the next one reads', async () => {
    const org = (await cached.createOrganization('frozen')).id;
    const id = (await cached.create(org, 'User', userDoc('frozen@example.com', { emails: [{ value: 'a@example.com' }] }))).id;
    const read = await cached.get(org, 'User', id);
    assert.ok(read);
    assert.throws(() => {
      (read.document as Record<string, unknown>).userName = 'changed';
    }, TypeError);
    assert.throws(() => {
      ((read.document.emails as Record<string, unknown>[])[0] as Record<string, unknown>).value = 'b@example.com';
    }, TypeError);
    assert.equal((await cached.get(org, 'User', id))?.document.userName, 'frozen@example.com');
    // Without a cache, reads are the caller's own.
    const own = await plain.get(org, 'User', id);
    assert.equal(Object.isFrozen(own?.document), false);
  });
});
