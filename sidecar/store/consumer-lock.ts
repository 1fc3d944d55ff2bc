/**
 * Only one active signal consumer per database: on PostgreSQL the sidecar takes the session-level
 * advisory lock {@link CONSUMER_LOCK_KEY} on a dedicated connection before it loads mobs or
 * streams signals, and waits for it when another sidecar holds it (a standby takes over when the
 * active one dies, since the lock goes with its connection). If that connection is lost the
 * process can no longer prove it is the only consumer: `onLost` is called and the caller stops.
 *
 * PGlite needs no lock: its data directory is opened by one process only.
 */
import pg from 'pg';

/** `mkmobsdc` as a big-endian int8: the advisory lock key of the sidecar's signal consumer. */
export const CONSUMER_LOCK_KEY = '7884533283011241827';

export interface ConsumerLock {
  /** Releases the lock and closes its connection. Idempotent. */
  release(): Promise<void>;
}

/**
 * Connects, then blocks in `pg_advisory_lock` until this process holds the lock. `onWaiting` is
 * called once when another session holds it.
 */
export async function acquireConsumerLock(url: string, options: { onWaiting?: () => void; onLost: (error: Error) => void }): Promise<ConsumerLock> {
  const client = new pg.Client({ connectionString: url });
  let released = false;
  client.on('error', (e) => {
    if (!released) options.onLost(e);
  });
  client.on('end', () => {
    if (!released) options.onLost(new Error('the connection holding the consumer lock ended'));
  });
  await client.connect();
  try {
    const tried = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [CONSUMER_LOCK_KEY]);
    if (tried.rows[0]?.ok !== true) {
      options.onWaiting?.();
      await client.query('SELECT pg_advisory_lock($1::bigint)', [CONSUMER_LOCK_KEY]);
    }
  } catch (e) {
    released = true;
    await client.end().catch(() => undefined);
    throw e;
  }
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [CONSUMER_LOCK_KEY]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
