/** The scimkit command as tests run it: the compiled CLI (bin/scimkit.mjs) in a process of its own. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const BIN = join(import.meta.dirname, '../../bin/scimkit.mjs');
const run = promisify(execFile);

/** Runs `scimkit ...args` to its end; a failure is returned (its exit code and output), not thrown. */
export async function runCli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}
