/**
 * A PostgreSQL session advisory lock held on a connection of its own, for the length of a run (say, one sync
 * writing to a database at a time). It is separate from the runner's pool so that pooled clients come and go
 * freely meanwhile; a lost connection ends the session and so releases the lock.
 */

/** Takes lock `key` without waiting: returns the function that releases it, or null when another session holds it. */
export async function tryPostgresLock(url: string, key: number): Promise<(() => Promise<void>) | null> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  // A server-side disconnect must not crash the process; it has released the lock with the session.
  client.on('error', () => {});
  await client.connect();
  try {
    const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
    if (result.rows[0]?.locked !== true) {
      await client.end();
      return null;
    }
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    // Ending the session releases the lock even when the unlock itself fails.
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
    await client.end().catch(() => {});
  };
}
