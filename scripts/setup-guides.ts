// Writes docs/setup/<idp>.md from the setup page's guides (src/console/guides.ts), so the documentation and the page
// never disagree. Run: node --import tsx scripts/setup-guides.ts (test/console/guides.test.ts checks they match).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUIDES, guideMarkdown } from '../src/console/guides.ts';

export const SETUP_DOCS = join(import.meta.dirname, '..', 'docs', 'setup');

export function guideFile(id: string): string {
  return join(SETUP_DOCS, `${id}.md`);
}

if (process.argv[1] === import.meta.filename) {
  for (const guide of GUIDES) {
    writeFileSync(guideFile(guide.id), guideMarkdown(guide));
    process.stdout.write(`wrote docs/setup/${guide.id}.md\n`);
  }
}
