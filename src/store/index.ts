/**
 * The kernel's durable store (decision 11): PostgreSQL through kysely when `DATABASE_URL` (or
 * `databaseUrl`) is set, otherwise embedded PGlite in a local data directory — same migrations,
 * same queries.
 *
 * @example
 * ```ts
 * import { MeerkatMachine } from '../kernel/index.js';
 * import { createStores } from './index.js';
 *
 * const stores = await createStores(); // DATABASE_URL, else PGlite in MEERKAT_DATA_DIR or .meerkat/data
 * const kernel = new MeerkatMachine({ store: stores.store, blobs: stores.blobs });
 * // …
 * await kernel.close();
 * await stores.close();
 * ```
 */
import type { Kysely } from 'kysely';
import { openDatabase, resolveDatabaseUrl, type OpenDatabaseOptions } from './connection.js';
import { migrateToLatest } from './migrator.js';
import { PostgresBlobStore } from './postgres-blob-store.js';
import { PostgresRuntimeStore, type PostgresRuntimeStoreOptions } from './postgres-store.js';
import { PostgresSessionLeases } from './session-leases.js';
import type { Database } from './schema.js';
import { SignalNotifications } from './signal-notify.js';

export * from './connection.js';
export * from './errors.js';
export * from './migrator.js';
export * from './postgres-blob-store.js';
export * from './postgres-store.js';
export * from './session-leases.js';
export * from './signal-notify.js';
export type * from './schema.js';
export { TABLE_NAMES } from './schema.js';

export interface CreateStoresOptions extends OpenDatabaseOptions, Omit<PostgresRuntimeStoreOptions, 'onClose'> {
  /**
   * PostgreSQL only: wake subscribers through `LISTEN meerkat_signals` (default true). With it the
   * outbox poll is only a slow fallback ({@link NOTIFIED_POLL_INTERVAL_MS} unless `pollIntervalMs`
   * says otherwise); PGlite is single-process and keeps the in-process wake and the 50 ms poll.
   */
  readonly listenForSignals?: boolean;
}

/** Fallback outbox poll of a PostgreSQL store whose subscribers are woken by NOTIFY. */
export const NOTIFIED_POLL_INTERVAL_MS = 1000;

/** The durable stores on one database. */
export interface Stores {
  readonly store: PostgresRuntimeStore;
  readonly blobs: PostgresBlobStore;
  /** Session leases on the same database (decision 12; `store` checks commit fences against them). */
  readonly leases: PostgresSessionLeases;
  readonly kind: 'postgres' | 'pglite';
  /** Where the database is (URL without password, or the PGlite data directory). */
  readonly location: string;
  readonly db: Kysely<Database>;
  /** Migrations this call applied (empty when the schema was current). */
  readonly migrations: readonly string[];
  /** Waits for queued commits, ends subscriptions and closes the database. Idempotent. */
  close(): Promise<void>;
}

/** Opens the database, migrates it to the latest schema, and builds the stores on it. */
export async function createStores(options: CreateStoresOptions = {}): Promise<Stores> {
  const handle = await openDatabase(options);
  let migrations: readonly string[];
  try {
    migrations = await migrateToLatest(handle.db);
  } catch (e) {
    await handle.close();
    throw e;
  }
  const url = resolveDatabaseUrl(options);
  const listen = handle.kind === 'postgres' && url !== null && options.listenForSignals !== false;
  let notifications: SignalNotifications | null = null;
  const store = new PostgresRuntimeStore(handle.db, {
    ...options,
    pool: handle.pool,
    ...(listen ? { pollIntervalMs: options.pollIntervalMs ?? NOTIFIED_POLL_INTERVAL_MS } : {}),
    onClose: async () => {
      await notifications?.close();
      await handle.close();
    },
  });
  if (listen) {
    try {
      notifications = await SignalNotifications.start(url, () => store.wakeSignals(), {
        ...(options.onBackgroundError ? { onError: options.onBackgroundError } : {}),
      });
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return {
    store,
    blobs: new PostgresBlobStore(handle.db),
    leases: new PostgresSessionLeases(handle.db),
    kind: handle.kind,
    location: handle.location,
    db: handle.db,
    migrations,
    close: () => store.close(),
  };
}
