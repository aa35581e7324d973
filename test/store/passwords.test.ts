/**
 * Passwords at rest (RFC 7643 section 4.1.1): every way a password reaches the store leaves only a salted scrypt
 * hash in the database, on both drivers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { parsePatchOperations } from '../../src/scim/patch/index.ts';
import { PATCH_OP_SCHEMA, USER } from '../../src/scim/schema/index.ts';
import { SqlStore } from '../../src/store/index.ts';
import { assertStorablePassword, hashPassword, isPasswordHash, verifyPassword } from '../../src/store/passwords.ts';
import { userDoc } from './contract.ts';
import { POSTGRES_URL, postgresHarness, sqliteHarness } from './harness.ts';
import type { StoreHarness } from './harness.ts';

function patchOps(operations: unknown[]) {
  return parsePatchOperations({ schemas: [PATCH_OP_SCHEMA], Operations: operations }, USER);
}

describe('password hashes', () => {
  it('verify the password they were made from and nothing else, with a fresh salt each time', async () => {
    const first = await hashPassword('correct horse');
    const second = await hashPassword('correct horse');
    assert.ok(isPasswordHash(first), first);
    assert.notEqual(first, second, 'salted');
    assert.equal(await verifyPassword(first, 'correct horse'), true);
    assert.equal(await verifyPassword(second, 'correct horse'), true);
    assert.equal(await verifyPassword(first, 'correct horse '), false);
    assert.equal(await verifyPassword(first, ''), false);
    assert.equal(await verifyPassword('correct horse', 'correct horse'), false, 'cleartext is not a hash');
    assert.equal(await verifyPassword('$scrypt$ln=99,r=8,p=1$AAAA$AAAA', 'x'), false, 'absurd cost parameters are refused');
  });

  it('a cleartext password never passes the store guard', () => {
    assert.throws(() => assertStorablePassword({ password: 'hunter2' }), (e: unknown) => e instanceof ScimError && e.status === 400);
    assert.throws(() => assertStorablePassword({ password: ['hunter2'] }), ScimError);
    assertStorablePassword({});
  });
});

function storedPasswords(label: string, open: () => Promise<StoreHarness>): void {
  describe(`passwords at rest: ${label}`, () => {
    let h: StoreHarness;
    let org: string;
    before(async () => {
      h = await open();
      org = (await h.store.createOrganization('passwords')).id;
    });
    after(async () => {
      await h.close();
    });

    async function rawDoc(id: string): Promise<string> {
      const [row] = await h.raw('SELECT doc FROM resources WHERE id = ?', [id]);
      return typeof row.doc === 'string' ? row.doc : JSON.stringify(row.doc);
    }

    async function storedHash(id: string): Promise<string> {
      const stored = await h.store.get(org, 'User', id);
      const password = stored?.document.password;
      assert.ok(isPasswordHash(password), `stored password is a hash: ${String(password)}`);
      return password;
    }

    it('create, replace and every PATCH form store only a hash of the new password', async () => {
      const user = await h.store.create(org, 'User', userDoc('pw-user', { password: 'first-secret' }));
      assert.ok(!(await rawDoc(user.id)).includes('first-secret'));
      assert.equal(await verifyPassword(await storedHash(user.id), 'first-secret'), true);

      await h.store.replace(org, 'User', user.id, userDoc('pw-user', { password: 'second-secret' }));
      assert.ok(!(await rawDoc(user.id)).includes('second-secret'));
      assert.equal(await verifyPassword(await storedHash(user.id), 'second-secret'), true);

      const forms: [string, unknown[]][] = [
        ['third-secret', [{ op: 'replace', path: 'password', value: 'third-secret' }]],
        ['fourth-secret', [{ op: 'add', path: 'urn:ietf:params:scim:schemas:core:2.0:User:PASSWORD', value: 'fourth-secret' }]],
        ['fifth-secret', [{ op: 'replace', value: { Password: 'fifth-secret', title: 'Engineer' } }]],
      ];
      for (const [secret, operations] of forms) {
        await h.store.patch(org, 'User', user.id, patchOps(operations));
        assert.ok(!(await rawDoc(user.id)).includes(secret), JSON.stringify(operations));
        assert.equal(await verifyPassword(await storedHash(user.id), secret), true, JSON.stringify(operations));
      }

      const kept = await storedHash(user.id);
      await h.store.replace(org, 'User', user.id, userDoc('pw-user', { title: 'Manager' }));
      assert.equal(await storedHash(user.id), kept, 'a PUT without a password keeps the stored one (a client cannot read it back to resend it)');
      const shaped = await hashPassword('chosen');
      await h.store.replace(org, 'User', user.id, userDoc('pw-user', { password: shaped }));
      assert.equal(await verifyPassword(await storedHash(user.id), shaped), true, 'text shaped like a hash is still a password, and hashed');

      const before = await storedHash(user.id);
      await h.store.patch(org, 'User', user.id, patchOps([{ op: 'replace', path: 'title', value: 'Lead' }]));
      assert.equal(await storedHash(user.id), before, 'a PATCH that does not name the password keeps its hash');
      await h.store.patch(org, 'User', user.id, patchOps([{ op: 'remove', path: 'password' }]));
      assert.equal((await h.store.get(org, 'User', user.id))?.document.password, undefined);
    });

    it('resending the same password changes nothing; a different one is a change, hashed with a new salt', async () => {
      const user = await h.store.create(org, 'User', userDoc('pw-resend', { password: 'same-secret', title: 'T' }));
      const hash = await storedHash(user.id);
      const put = await h.store.replace(org, 'User', user.id, userDoc('pw-resend', { password: 'same-secret', title: 'T' }));
      assert.equal(put.version, 1, 'a PUT resending the same plaintext is not a change because of re-hashing');
      assert.equal(put.lastModified, user.lastModified);
      assert.equal(await storedHash(user.id), hash, 'the stored hash (and its salt) is kept');
      const patched = await h.store.patch(org, 'User', user.id, patchOps([{ op: 'replace', path: 'password', value: 'same-secret' }, { op: 'add', value: { password: 'same-secret' } }]));
      assert.equal(patched.version, 1);
      assert.equal(await storedHash(user.id), hash);

      const changed = await h.store.replace(org, 'User', user.id, userDoc('pw-resend', { password: 'new-secret', title: 'T' }));
      assert.equal(changed.version, 2, 'a new password is a change');
      const newHash = await storedHash(user.id);
      assert.notEqual(newHash.split('$')[3], hash.split('$')[3], 'with a new salt');
      assert.equal(await verifyPassword(newHash, 'new-secret'), true);
      assert.equal(await verifyPassword(newHash, 'same-secret'), false);
    });

    it('bulk loads hash too', async () => {
      assert.ok(h.store instanceof SqlStore);
      const [id] = await h.store.bulkCreate(org, 'User', [userDoc('pw-bulk', { password: 'bulk-secret' })]);
      assert.ok(!(await rawDoc(id)).includes('bulk-secret'));
      assert.equal(await verifyPassword(await storedHash(id), 'bulk-secret'), true);
    });
  });
}

storedPasswords('sqlite', sqliteHarness);
const postgresUrl = POSTGRES_URL;
if (postgresUrl) storedPasswords('postgres', () => postgresHarness(postgresUrl));
