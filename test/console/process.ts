/** Real `scimkit` processes for the console's tests: the CLI, and `scimkit serve` on a free port. */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '../../bin/scimkit.mjs');

export interface CliResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs `scimkit ARGS`, with `input` on standard input (a pipe, not a terminal). */
export function cli(args: readonly string[], input = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
    child.stdin?.end(input);
  });
}

/** Creates an operator with `password` given on standard input. */
export async function createAdmin(db: string, email: string, password: string): Promise<void> {
  const result = await cli(['admins', 'create', email, '--db', db], `${password}\n`);
  if (result.code !== 0) throw new Error(`admins create failed: ${result.stderr}`);
}

export interface Served {
  readonly child: ChildProcess;
  readonly origin: string;
  /** stdout lines so far. */
  readonly lines: string[];
  stop(): Promise<void>;
}

/** Starts `scimkit serve --port 0 ARGS` and waits for its "listening on" line. */
export async function serve(args: readonly string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const origin = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (d) => {
      buffer += d;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        const m = /^listening on (http:\/\/\S+)$/.exec(line);
        if (m) resolve(m[1]);
      }
    });
    void exit.then((code) => reject(new Error(`scimkit serve exited with ${code} before listening: ${stderr}`)));
  });
  return {
    child,
    origin,
    lines,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exit;
    },
  };
}
