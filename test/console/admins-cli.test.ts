/** `scimkit admins ...` as real processes: passwords from standard input and from a terminal prompt that does not echo. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { verifyPassword } from '../../src/store/passwords.ts';
import { BIN, cli } from './process.ts';

describe('scimkit admins', () => {
  let dir: string;
  let db: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'scimkit-admins-'));
    db = join(dir, 'scim.db');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function storedHash(email: string): Promise<string | undefined> {
    const store = await openStore({ sqlitePath: db });
    try {
      return (await store.findAdminByEmail(email))?.passwordHash;
    } finally {
      await store.close();
    }
  }

  test('create reads the password from standard input and stores only its scrypt hash', async () => {
    const result = await cli(['admins', 'create', 'Ops@Example.com', '--db', db, '--json'], 'a long enough password\nignored second line\n');
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as { email: string };
    assert.equal(printed.email, 'Ops@Example.com');
    assert.ok(!result.stdout.includes('a long enough password'));
    const hash = await storedHash('ops@example.com');
    assert.match(hash ?? '', /^\$scrypt\$/);
    assert.equal(await verifyPassword(hash as string, 'a long enough password'), true);
  });

  test('a short password, a taken email and a malformed email are refused with a message', async () => {
    const short = await cli(['admins', 'create', 'b@example.com', '--db', db], 'short\n');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 12 characters/);
    const taken = await cli(['admins', 'create', 'OPS@example.com', '--db', db], 'another long password\n');
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already exists/);
    const malformed = await cli(['admins', 'create', 'not-an-email', '--db', db], 'another long password\n');
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /must look like name@example.com/);
  });

  test('at a terminal the password is asked twice and never echoed', async () => {
    // script(1) gives the command a pseudo-terminal; the test types when each prompt appears.
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} admins create tty@example.com --db ${db}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let typed = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const prompts = (output.match(/Password: |Repeat the password: /g) ?? []).length;
      while (typed < prompts) {
        child.stdin.write('typed at a terminal\r');
        typed++;
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output);
    assert.match(output, /Created operator tty@example.com/);
    assert.ok(!output.includes('typed at a terminal'), `the password was echoed: ${output}`);
    assert.equal(await verifyPassword((await storedHash('tty@example.com')) as string, 'typed at a terminal'), true);
  });

  test('password replaces the hash; list shows operators without secrets; delete removes one', async () => {
    const changed = await cli(['admins', 'password', 'ops@example.com', '--db', db], 'a brand new password\n');
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(await verifyPassword((await storedHash('ops@example.com')) as string, 'a brand new password'), true);
    const missing = await cli(['admins', 'password', 'nobody@example.com', '--db', db], 'a brand new password\n');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no operator has the email/);

    const list = await cli(['admins', 'list', '--db', db, '--json']);
    const admins = JSON.parse(list.stdout) as Record<string, unknown>[];
    assert.deepEqual(admins.map((a) => a.email).sort(), ['Ops@Example.com', 'tty@example.com']);
    assert.ok(!list.stdout.includes('scrypt'));

    assert.equal((await cli(['admins', 'delete', 'TTY@example.com', '--db', db])).code, 0);
    assert.equal(await storedHash('tty@example.com'), undefined);
  });
});
