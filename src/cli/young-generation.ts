/**
 * A cap on V8's young generation for the connector's commands. V8 doubles the young generation, up to two 16 MiB
 * semi-spaces, whenever enough survives its scavenges, and a sync's pages (a few MB of objects and rows each, alive
 * until the page is written) make it grow to the maximum: 32 MiB, a quarter of a sync's peak RSS. Once the young
 * generation has reached the cap, growth stops. `--max-semi-space-size` is read only when the process starts;
 * `--semi-space-growth-factor` is read at each growth, so it is set to 1 once the cap is reached. A cap set before
 * the first page (the 4 MiB the process starts with) costs CPU instead: each page then outlives several scavenges
 * and is promoted to the old generation, which grows as much (BENCHMARKS.md, issue 16 memory).
 * `scimkit serve` is not capped: its requests' garbage dies young.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** Both semi-spaces together: 8 MiB each. */
export const YOUNG_GENERATION_CAP = 16 * 1024 * 1024;
/** How often the size is looked at while the event loop is free (between pages). */
const CHECK_MS = 10;

export interface YoungGenerationCap {
  /** Looks at the young generation once; true once it is capped. */
  check(): boolean;
  stop(): void;
}

function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Starts watching; the timer never keeps the process alive. */
export function capYoungGeneration(capBytes = YOUNG_GENERATION_CAP, checkMs = CHECK_MS): YoungGenerationCap {
  let capped = false;
  let timer: NodeJS.Timeout | null = null;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  const check = () => {
    if (!capped && youngGenerationBytes() >= capBytes) {
      setFlagsFromString('--semi-space-growth-factor=1');
      capped = true;
      stop();
    }
    return capped;
  };
  if (!check()) {
    timer = setInterval(check, checkMs);
    timer.unref();
  }
  return { check, stop };
}
