// Preloaded (node --import) into a process the benchmarks measure: on exit, writes the process's peak resident
// memory (MiB) and the CPU time it used (ms, user and system) as JSON to the file SCIMKIT_BENCH_RSS_FILE names.
import { writeFileSync } from 'node:fs';

const file = process.env.SCIMKIT_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ maxRssMb: u.maxRSS / 1024, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000 }));
  });
}
