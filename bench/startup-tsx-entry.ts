// The CLI run from its TypeScript sources through tsx, as bin/scimkit.mjs did before dist/ existed: bench/startup.ts
// compares it with the compiled CLI.
import { main } from '../src/cli/main.ts';

await main(process.argv);
