#!/usr/bin/env node
// The scimkit command: runs the compiled CLI in dist/. In a checkout, `npm install` builds it (the prepare script)
// and `npm run build` rebuilds it; the check below stops an outdated build from running after the sources changed.
import { existsSync } from 'node:fs';

const checkout = new URL('../scripts/stale.mjs', import.meta.url);
if (existsSync(new URL('../src/', import.meta.url)) && existsSync(checkout)) {
  const { staleReason } = await import(checkout.href);
  const reason = staleReason();
  if (reason) {
    process.stderr.write(`scimkit: ${reason}: run \`npm run build\` first\n`);
    process.exit(1);
  }
}
const { main } = await import('../dist/cli/main.js');
await main(process.argv);
