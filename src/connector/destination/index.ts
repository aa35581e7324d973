/** Opens the destination a config names, in its namespace, and migrates its tables. */
import type { DestinationUrl } from '../config.ts';
import { openDuckDb } from './duckdb.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { Destination } from './types.ts';

export * from './types.ts';
export { SourceMismatch } from './destination.ts';

export async function openDestination(url: DestinationUrl, namespace: string | null = null): Promise<Destination> {
  if (url.kind === 'sqlite') return openSqlite(url.path, namespace);
  if (url.kind === 'duckdb') return openDuckDb(url.path, namespace);
  return openPostgres(url.url, namespace);
}
