/**
 * When a shell writes its state. The state holds the rows the platform already has (state.ts), so it grows with the
 * directory, and a platform state message is always the whole state. Written after every page, a 100,000-user
 * directory would write its state a thousand times: quadratic output, and Airbyte's own guidance is to emit state
 * at most about once a minute. So: after every committed page while the state is small; once it is large, after
 * records four times its size, after a minute, and always when a stream completes. A run resumed from the last
 * state re-reads at most the pages since it (writes are idempotent).
 */

/** Up to this size the state follows every committed page. */
export const SMALL_STATE_BYTES = 256 * 1024;
/**
 * A large state is written once the records since are this many times its size, so states add at most a quarter to
 * the output. At 1 (states as large as the records), a 20,000-user full run wrote 35 MB of state beside 55 MB of
 * records, and serialising and collecting it made Airbyte and Fivetran slower than 0.8x the CLI (BENCHMARKS.md).
 */
export const RECORD_BYTES_PER_STATE_BYTE = 4;
/** A large state is still written at least this often (while pages keep committing). */
export const MAX_STATE_INTERVAL_MS = 60_000;

export class CheckpointPolicy {
  private recordBytes = 0;
  private stateBytes: number;
  private lastAt: number;
  /** A commit happened since the state was last written. */
  pending = false;

  /** `stateBytes`: the size of the state the run started from (the platform just stored it). */
  constructor(stateBytes: number, private readonly now: () => number = Date.now) {
    this.stateBytes = stateBytes;
    this.lastAt = now();
  }

  /** A transaction committed, having written `bytes` of records (`boundary`: it completed a stream): is the state due? */
  due(bytes: number, boundary: boolean): boolean {
    this.recordBytes += bytes;
    this.pending = true;
    return boundary || this.stateBytes <= SMALL_STATE_BYTES || this.recordBytes >= this.stateBytes * RECORD_BYTES_PER_STATE_BYTE
      || this.now() - this.lastAt >= MAX_STATE_INTERVAL_MS;
  }

  written(stateBytes: number): void {
    this.stateBytes = stateBytes;
    this.recordBytes = 0;
    this.lastAt = this.now();
    this.pending = false;
  }
}
