/**
 * Progress while a sync runs (a live line on a terminal, plain periodic lines otherwise) and the final summary.
 */
import type { TableName } from './tables.ts';

export interface ProgressSink {
  /**
   * A stream entered a phase (`full`, `changes`, `ids`), with the total the server announced if any, and the
   * records an interrupted run already committed in this phase (a resumed run starts counting from there).
   */
  phase(stream: string, phase: string, total: number | null, already?: number): void;
  /** `done` records of the current phase so far. */
  update(stream: string, done: number): void;
  /** The stream finished its phase. */
  finish(stream: string): void;
  stop(): void;
}

export const noProgress: ProgressSink = { phase: () => {}, update: () => {}, finish: () => {}, stop: () => {} };

/**
 * A count with thousands separators, as en-US writes it. Not toLocaleString: its first call maps ICU's locale data,
 * about 5.6 MB of a sync's resident memory.
 */
export function fmt(n: number): string {
  const r = Math.round(n);
  const grouped = String(Math.abs(r)).replace(/\B(?=(\d{3})+$)/g, ',');
  return r < 0 ? `-${grouped}` : grouped;
}

/** Seconds as `45s`, `3m05s` or `2h07m`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressOptions {
  readonly tty: boolean;
  readonly write: (text: string) => void;
  /** Milliseconds between plain lines when not on a terminal. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

export function createProgress(opts: ProgressOptions): ProgressSink {
  const now = opts.now ?? (() => Date.now());
  const interval = opts.intervalMs ?? 5000;
  let current: { stream: string; phase: string; total: number | null; done: number; already: number; started: number } | null = null;
  let lastDraw = 0;
  let drawn = false;
  const line = (): string => {
    if (!current) return '';
    const secs = Math.max(0.001, (now() - current.started) / 1000);
    const of = current.total !== null ? `/${fmt(current.total)}` : '';
    const pct = current.total ? ` ${Math.min(100, Math.floor((current.done / current.total) * 100))}%` : '';
    // The rate counts this run's records only: a resumed run did not read the ones committed before it.
    const rate = (current.done - current.already) / secs;
    const left = current.total !== null ? current.total - current.done : 0;
    const eta = left > 0 && rate > 0 ? `, ETA ${duration(left / rate)}` : '';
    return `${current.stream} (${current.phase}): ${fmt(current.done)}${of}${pct} records, ${fmt(rate)}/s${eta}`;
  };
  const draw = (force: boolean): void => {
    const t = now();
    if (opts.tty) {
      if (!force && t - lastDraw < 100) return;
      opts.write(`\r\x1b[K${line()}`);
      drawn = true;
    } else {
      if (!force && t - lastDraw < interval) return;
      opts.write(`${line()}\n`);
    }
    lastDraw = t;
  };
  return {
    phase(stream, phase, total, already = 0) {
      current = { stream, phase, total, done: already, already, started: now() };
      lastDraw = now();
      if (opts.tty) draw(true);
    },
    update(stream, done) {
      if (!current || current.stream !== stream) return;
      current.done = done;
      draw(false);
    },
    finish(stream) {
      if (!current || current.stream !== stream) return;
      draw(true);
      if (opts.tty) opts.write('\n');
      drawn = false;
      current = null;
    },
    stop() {
      if (opts.tty && drawn) opts.write('\n');
      drawn = false;
      current = null;
    },
  };
}

export interface TableStats {
  inserted: number;
  updated: number;
  unchanged: number;
  softDeleted: number;
}

export interface SyncSummary {
  readonly tables: Record<TableName, TableStats>;
  readonly strategies: Record<string, string>;
  /** SCIM resources read by data phases (not the id-only delete scans). */
  readonly records: number;
  readonly requests: number;
  readonly retries: number;
  readonly throttled: number;
  readonly wallMs: number;
  readonly recordsPerSecond: number;
}

export function emptyTableStats(): Record<TableName, TableStats> {
  const z = (): TableStats => ({ inserted: 0, updated: 0, unchanged: 0, softDeleted: 0 });
  return { users: z(), groups: z(), group_members: z() };
}

export function formatSummary(s: SyncSummary): string {
  const rows: string[][] = [['table', 'inserted', 'updated', 'unchanged', 'soft-deleted']];
  for (const [name, t] of Object.entries(s.tables)) rows.push([name, fmt(t.inserted), fmt(t.updated), fmt(t.unchanged), fmt(t.softDeleted)]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')).join('\n');
  const strategies = Object.entries(s.strategies).map(([k, v]) => `${k}: ${v}`).join(', ');
  return [
    `sync finished in ${(s.wallMs / 1000).toFixed(1)} s: ${fmt(s.records)} records, ${fmt(s.recordsPerSecond)} records/s (${strategies})`,
    table,
    `requests ${fmt(s.requests)}, retries ${fmt(s.retries)}, 429s ${fmt(s.throttled)}`,
  ].join('\n');
}
