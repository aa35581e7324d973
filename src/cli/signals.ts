/**
 * How a long-running command (`serve`, `deliver`) learns it should stop: SIGTERM, SIGINT, or the end of the npm
 * process that started it.
 *
 * `npm start` and `npx scimkit ...` run the command through `sh -c`. npm passes SIGTERM and SIGINT on to that
 * shell only, and the shell (dash here, bash too) does not pass them on to the command it waits for: killing npm
 * or npx ended the shell and left scimkit serving on its port. The `start` script avoids the shell with `exec`, so
 * npm's signals reach scimkit itself. npx's shell is not ours to change, so a command started by npm also watches
 * its parent, and stops as on SIGTERM when the parent is gone.
 */

/** How often the parent is looked at. */
const PARENT_POLL_MS = 500;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, and belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Calls `stop` with the reason on SIGTERM, on SIGINT, and (under npm) when the parent process exits. */
export function stopOnSignals(stop: (reason: string) => void): void {
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // npm sets npm_lifecycle_event for what it runs (`start`, `npx`); anything else keeps running when its parent
  // exits, as `nohup scimkit serve &` from a shell that then closes expects.
  if (process.env.npm_lifecycle_event === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (alive(parent)) return;
    clearInterval(timer);
    stop('the npm process that started scimkit exited');
  }, PARENT_POLL_MS);
  timer.unref();
}
