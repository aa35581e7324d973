/** Opens the destination a config names, in its namespace, and migrates its tables. */
import type { DestinationUrl } from '../config.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { Destination } from './types.ts';

export * from './types.ts';
export { SourceMismatch } from './destination.ts';

export async function openDestination(url: DestinationUrl, namespace: string | null = null): Promise<Destination> {
  return url.kind === 'sqlite' ? openSqlite(url.path, namespace) : openPostgres(url.url, namespace);
}
