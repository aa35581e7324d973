/** Opens the destination a config names and creates its tables. */
import type { DestinationUrl } from '../config.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { Destination } from './types.ts';

export * from './types.ts';

export async function openDestination(url: DestinationUrl): Promise<Destination> {
  const dest = url.kind === 'sqlite' ? openSqlite(url.path) : await openPostgres(url.url);
  try {
    await dest.migrate();
  } catch (err) {
    await dest.close().catch(() => {});
    throw err;
  }
  return dest;
}
