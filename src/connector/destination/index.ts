/** Opens the destination a config names and creates its tables. */
import type { DestinationUrl } from '../config.ts';
import { openSqlite } from './sqlite.ts';
import type { Destination } from './types.ts';

export * from './types.ts';

export async function openDestination(url: DestinationUrl): Promise<Destination> {
  // pg loads only when a PostgreSQL destination is asked for.
  const dest = url.kind === 'sqlite' ? openSqlite(url.path) : await (await import('./postgres.ts')).openPostgres(url.url);
  try {
    await dest.migrate();
  } catch (err) {
    await dest.close().catch(() => {});
    throw err;
  }
  return dest;
}
