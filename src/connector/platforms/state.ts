/**
 * The state a platform shell keeps instead of tables. Airbyte and Fivetran hold no tables the connector can read, so
 * everything the engine would find in its destination travels in the platform's state object: the engine's
 * per-stream state and the keys its running pass has seen, plus the rows the platform already holds, reduced to
 * what deciding and deriving needs (a user's content hash and display name; a group's row; each membership's
 * member value). With it the engine skips unchanged rows, finds deletes, and keeps the derived columns current.
 */
import { memberRow, type Json } from '../mapping.ts';
import { emptyState, type StreamName, type StreamState } from '../destination/types.ts';
import { GROUPS_TABLE, type Cell, type TableName } from '../tables.ts';

export const PLATFORM_TABLES: readonly TableName[] = ['users', 'groups', 'group_members'];

/** The engine stream that reads each table (groups are read with their members). */
export const STREAM_OF: Readonly<Record<TableName, StreamName>> = { users: 'users', groups: 'groups', group_members: 'groups' };

/** A known user: enough to tell a changed row (its hash) and to derive its memberships' display. */
export interface UserEntry {
  readonly hash: string;
  readonly deleted: false;
  readonly display: string | null;
}

/** A known group or membership: its whole row, so a derived column can be re-emitted with the rest of it. */
export interface RowEntry {
  readonly values: readonly Cell[];
  readonly hash: string;
  readonly deleted: false;
}

export interface EngineEntry {
  state: StreamState;
  /** Keys the running pass has seen (delete detection), empty between passes. */
  seen: Set<string>;
}

export interface ShellState {
  /** Commits so far; tells an older snapshot from a newer one. */
  seq: number;
  /** Tables whose known rows are what the platform holds (the others start empty and are read in full). */
  synced: Set<TableName>;
  engine: Map<StreamName, EngineEntry>;
  users: Map<string, UserEntry>;
  groups: Map<string, RowEntry>;
  /** Group id to member id to membership. */
  members: Map<string, Map<string, RowEntry>>;
}

export function emptyShellState(): ShellState {
  return { seq: 0, synced: new Set(), engine: new Map(), users: new Map(), groups: new Map(), members: new Map() };
}

/** A state handed back by the platform that this connector did not write (or that was damaged). */
export class StateError extends Error {
  constructor(detail: string) {
    super(`the saved state is not one this connector wrote (${detail}); reset the connection's state to sync from scratch`);
    this.name = 'StateError';
  }
}

const VERSION = 1;

interface SerializedState {
  v: number;
  seq: number;
  synced: TableName[];
  engine: Partial<Record<StreamName, { state: StreamState; seen: string[] }>>;
  known: {
    users: [string, string, string | null][];
    groups: [string, string, Cell[]][];
    group_members: [string, [string, string][]][];
  };
}

/** The whole state as JSON. Keys are in arrays, never object keys, so no id can land on a prototype. */
export function serializeState(s: ShellState): string {
  const engine: SerializedState['engine'] = {};
  for (const [stream, e] of s.engine) engine[stream] = { state: e.state, seen: [...e.seen] };
  const out: SerializedState = {
    v: VERSION,
    seq: s.seq,
    synced: PLATFORM_TABLES.filter((t) => s.synced.has(t)),
    engine,
    known: {
      users: [...s.users].map(([id, u]) => [id, u.hash, u.display]),
      groups: [...s.groups].map(([id, g]) => [id, g.hash, [...g.values]]),
      // A membership is rebuilt from its member value (the `raw` column), exactly as the engine maps it.
      group_members: [...s.members].map(([gid, m]) => [gid, [...m].map(([mid, r]) => [mid, String(r.values[4])])]),
    },
  };
  return JSON.stringify(out);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const isCell = (v: unknown): v is Cell => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new StateError(`${what} is not an array`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new StateError(`${what} is not a string`);
  return v;
}

/**
 * The engine's state for a stream, field by field against emptyState: a field of the wrong type is an error, a
 * field the engine does not know is dropped, and one it has added since the state was written keeps its default.
 */
function parseStreamState(stream: StreamName, v: unknown): StreamState {
  if (!isObject(v)) throw new StateError(`the ${stream} engine state is not an object`);
  const base = emptyState(stream) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...base };
  for (const [key, fallback] of Object.entries(base)) {
    if (key === 'stream' || !Object.hasOwn(v, key)) continue;
    const value = v[key];
    const ok = key === 'position'
      ? value === null || (isObject(value) && typeof value.startIndex === 'number' && typeof value.done === 'boolean'
        && (value.cursor === null || typeof value.cursor === 'string') && (value.total === null || typeof value.total === 'number'))
      : typeof fallback === 'boolean' ? typeof value === 'boolean'
        : typeof fallback === 'number' ? typeof value === 'number' && Number.isFinite(value)
          : value === null || typeof value === 'string';
    if (!ok) throw new StateError(`the ${stream} engine state's ${key} has the wrong type`);
    out[key] = key === 'position' && value !== null
      ? { startIndex: (value as Record<string, unknown>).startIndex, cursor: (value as Record<string, unknown>).cursor, done: (value as Record<string, unknown>).done, total: (value as Record<string, unknown>).total }
      : value;
  }
  return out as unknown as StreamState;
}

/** Parses a state written by serializeState; anything else is a StateError. */
export function parseState(json: unknown): ShellState {
  const raw = typeof json === 'string' ? safeParse(json) : json;
  if (!isObject(raw)) throw new StateError('not a JSON object');
  if (raw.v !== VERSION) throw new StateError(`version ${JSON.stringify(raw.v)}, expected ${VERSION}`);
  const s = emptyShellState();
  if (typeof raw.seq !== 'number' || !Number.isInteger(raw.seq) || raw.seq < 0) throw new StateError('seq is not a whole number');
  s.seq = raw.seq;
  for (const t of array(raw.synced, 'synced')) {
    if (!PLATFORM_TABLES.includes(t as TableName)) throw new StateError(`synced names an unknown table ${JSON.stringify(t)}`);
    s.synced.add(t as TableName);
  }
  if (!isObject(raw.engine)) throw new StateError('engine is not an object');
  for (const stream of ['users', 'groups'] as const) {
    if (!Object.hasOwn(raw.engine, stream)) continue;
    const e = raw.engine[stream];
    if (!isObject(e)) throw new StateError(`engine.${stream} is not an object`);
    s.engine.set(stream, { state: parseStreamState(stream, e.state), seen: new Set(array(e.seen, `engine.${stream}.seen`).map((k) => str(k, 'a seen key'))) });
  }
  if (!isObject(raw.known)) throw new StateError('known is not an object');
  for (const u of array(raw.known.users, 'known.users')) {
    const [id, hash, display] = array(u, 'a known user');
    if (display !== null) str(display, 'a user display');
    s.users.set(str(id, 'a user id'), { hash: str(hash, 'a user hash'), deleted: false, display: display as string | null });
  }
  for (const g of array(raw.known.groups, 'known.groups')) {
    const [id, hash, values] = array(g, 'a known group');
    const cells = array(values, 'a group row');
    if (cells.length !== GROUPS_TABLE.columns.length || !cells.every(isCell)) throw new StateError('a group row does not fit the groups table');
    s.groups.set(str(id, 'a group id'), { values: cells as Cell[], hash: str(hash, 'a group hash'), deleted: false });
  }
  for (const g of array(raw.known.group_members, 'known.group_members')) {
    const [gid, list] = array(g, 'a group of memberships');
    const groupId = str(gid, 'a group id');
    const members = new Map<string, RowEntry>();
    for (const m of array(list, 'a membership list')) {
      const [mid, value] = array(m, 'a membership');
      const member = safeParse(str(value, 'a member value'));
      if (!isObject(member)) throw new StateError('a member value is not a JSON object');
      const memberId = str(mid, 'a member id');
      members.set(memberId, { ...memberRow(groupId, memberId, member as Json), deleted: false });
    }
    s.members.set(groupId, members);
  }
  return s;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StateError('not valid JSON');
  }
}
