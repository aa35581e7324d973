// Whether dist/ was built from the current src/ (dist/.build-stamp against the newest source file). Kept apart from
// build.mjs so that bin/scimkit.mjs, which checks it on every run in a checkout, loads only node:fs and node:path.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time under dir, directories included (a deleted or renamed file changes its directory). */
function newestMtime(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Why dist/ does not match src/, or null when it does. */
export function staleReason(root = ROOT) {
  const stamp = join(root, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return 'dist/ has not been built';
  const sources = [join(root, 'src'), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json')];
  const newest = Math.max(...sources.map((p) => (statSync(p).isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)));
  return newest > statSync(stamp).mtimeMs ? 'src/ changed after the last build' : null;
}
