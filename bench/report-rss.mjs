// Preloaded (node --import) into a process the benchmarks measure: on exit, writes the process's peak resident
// memory in MiB to the file SCIMKIT_BENCH_RSS_FILE names.
import { writeFileSync } from 'node:fs';

const file = process.env.SCIMKIT_BENCH_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS / 1024)));
