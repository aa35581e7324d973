// The compiled CLI as an installed package runs it: bin/scimkit.mjs without its checkout-only check that dist/ is
// newer than src/ (which walks src/). bench/startup.ts measures both.
const { main } = await import('../dist/cli/main.js');
await main(process.argv);
