/**
 * What both shells do around one engine run: decide which tables start over, which engine streams run, and hand the
 * engine an EmittingTarget over the shell's state. Only the messages differ between Airbyte and Fivetran.
 */
import type { ConnectorConfig } from '../config.ts';
import type { StreamName } from '../destination/types.ts';
import type { Logger } from '../log.ts';
import type { SyncSummary } from '../progress.ts';
import { runSync } from '../sync.ts';
import type { TableName } from '../tables.ts';
import { STREAM_OF, type ShellState } from './state.ts';
import { EmittingTarget, type CommitSink } from './target.ts';

/**
 * The engine streams a set of tables needs. Users run when users or memberships are asked for (a membership shows
 * its user's name, and a deleted user leaves its groups); groups run when groups or memberships are.
 */
export function streamsFor(tables: Iterable<TableName>): StreamName[] {
  const t = new Set(tables);
  const out: StreamName[] = [];
  if (t.has('users') || t.has('group_members')) out.push('users');
  if (t.has('groups') || t.has('group_members')) out.push('groups');
  return out;
}

/**
 * Readies a loaded state for a run that sends `tables` to the platform. A table in `fresh` (new to the platform,
 * reset there, or read in full refresh) forgets its known rows, so every row is sent again, and the engine stream
 * that reads it starts a new pass. Known rows of tables not sent stay: the engine still derives from them.
 */
export function prepareState(state: ShellState, tables: readonly TableName[], fresh: ReadonlySet<TableName>): void {
  for (const t of fresh) {
    if (t === 'users') state.users.clear();
    else if (t === 'groups') state.groups.clear();
    else state.members.clear();
    state.engine.delete(STREAM_OF[t]);
  }
  state.synced = new Set(tables);
}

export interface ShellRunOptions {
  readonly config: ConnectorConfig;
  readonly state: ShellState;
  readonly tables: readonly TableName[];
  readonly sink: CommitSink;
  readonly logger: Logger;
  /** Names the platform in messages (the engine logs where it writes). */
  readonly label: string;
  /** Stops the run (the platform cancelled it); what was committed stays, and the next run resumes. */
  readonly signal?: AbortSignal;
}

export function runShell(opts: ShellRunOptions): Promise<SyncSummary> {
  return runSync({
    config: opts.config,
    logger: opts.logger,
    destination: new EmittingTarget(opts.state, opts.sink, opts.label),
    streams: streamsFor(opts.tables),
    signal: opts.signal,
  });
}
