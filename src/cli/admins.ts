/**
 * `scimkit admins ...`: the admin console's operator accounts (docs/console.md). A password is read from a prompt
 * that does not echo it when standard input is a terminal, and from standard input otherwise (its first line), so
 * it never appears in the shell history or the process list. It is stored as a scrypt hash (store/passwords.ts).
 */
import { Command } from 'commander';
import { fail, print, storeOptions, withStore } from './server.ts';
import type { StoreFlags } from './server.ts';

export const MIN_PASSWORD_CHARS = 12;
export const MAX_PASSWORD_CHARS = 1024;

/** Why a password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD_CHARS) return `the password must have at least ${MIN_PASSWORD_CHARS} characters`;
  if (length > MAX_PASSWORD_CHARS) return `the password must have at most ${MAX_PASSWORD_CHARS} characters`;
  return null;
}

/** Reads one line from a terminal without echoing it. Ctrl-C or Ctrl-D cancels. */
function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (error: Error | null) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done(null);
        if (char === '\u0003' || char === '\u0004') return done(new Error('cancelled'));
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else if (char >= ' ') value += char;
      }
    };
    // Echo goes off before the prompt appears, so nothing typed after it is ever shown.
    input.setRawMode(true);
    process.stderr.write(question);
    input.resume();
    input.on('data', onData);
  });
}

/** The first line of standard input (a pipe or a file), without its line ending. */
async function readFirstLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text.split(/\r?\n/)[0] ?? '';
}

/** A new password: asked twice at a terminal, else the first line of standard input. */
async function newPassword(command: Command): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    try {
      password = await promptHidden('Password: ');
      const again = await promptHidden('Repeat the password: ');
      if (again !== password) return fail(command, 'error: the two passwords differ; nothing was changed');
    } catch {
      return fail(command, 'error: cancelled; nothing was changed');
    }
  } else {
    password = await readFirstLine();
  }
  const problem = passwordProblem(password);
  if (problem) return fail(command, `error: ${problem}; nothing was changed`);
  return password;
}

type Json = { json?: boolean };

export function registerAdminCommands(program: Command): void {
  const admins = program
    .command('admins')
    .description("Manage the admin console's operators (the console is at /admin on the server)")
    .addHelpText(
      'after',
      `\nPasswords are asked for at a prompt, or read from the first line of standard input when it is not a terminal:\n` +
        `  printf '%s\\n' "$PASSWORD" | scimkit admins create ops@example.com\n` +
        `They need at least ${MIN_PASSWORD_CHARS} characters. See docs/console.md.`,
    );

  storeOptions(admins.command('create <email>').description('Create an operator; the password is asked for (or read from standard input)').option('--json', 'print the operator as JSON')).action(
    async (email: string, flags: StoreFlags & Json, command: Command) => {
      const password = await newPassword(command);
      const { hashPassword } = await import('../store/passwords.ts');
      const hash = await hashPassword(password);
      await withStore(command, flags, async (store) => {
        const admin = await store.createAdmin(email, hash);
        if (flags.json) print(JSON.stringify({ id: admin.id, email: admin.email, created: admin.created }));
        else print(`Created operator ${admin.email}. Sign in at /admin on the server.`);
      }, { createsDatabase: true });
    },
  );

  storeOptions(admins.command('password <email>').description("Set an operator's password (asked for, or read from standard input); their sessions end")).action(
    async (email: string, flags: StoreFlags, command: Command) => {
      const password = await newPassword(command);
      const { hashPassword } = await import('../store/passwords.ts');
      const hash = await hashPassword(password);
      await withStore(command, flags, async (store) => {
        if (!(await store.setAdminPassword(email, hash))) fail(command, `error: no operator has the email ${email}`);
        print(`Changed the password of ${email}; their sessions have ended.`);
      });
    },
  );

  storeOptions(admins.command('list').description('List operators').option('--json', 'print a JSON array')).action(async (flags: StoreFlags & Json, command: Command) => {
    await withStore(command, flags, async (store) => {
      const list = await store.listAdmins();
      if (flags.json) print(JSON.stringify(list));
      else for (const a of list) print(`${a.email}\tcreated ${a.created}\tlast sign-in ${a.lastLogin ?? 'never'}`);
    });
  });

  storeOptions(admins.command('delete <email>').description('Delete an operator; their sessions end at once')).action(async (email: string, flags: StoreFlags, command: Command) => {
    await withStore(command, flags, async (store) => {
      if (!(await store.deleteAdmin(email))) fail(command, `error: no operator has the email ${email}`);
      print(`Deleted operator ${email}.`);
    });
  });
}
