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
import { openDatabase, type OpenDatabaseOptions } from './connection.js';
import { migrateToLatest } from './migrator.js';
import { PostgresBlobStore } from './postgres-blob-store.js';
import { PostgresRuntimeStore, type PostgresRuntimeStoreOptions } from './postgres-store.js';
import type { Database } from './schema.js';

export * from './connection.js';
export * from './errors.js';
export * from './migrator.js';
export * from './postgres-blob-store.js';
export * from './postgres-store.js';
export type * from './schema.js';
export { TABLE_NAMES } from './schema.js';

export interface CreateStoresOptions extends OpenDatabaseOptions, Omit<PostgresRuntimeStoreOptions, 'onClose'> {}

/** The durable stores on one database. */
export interface Stores {
  readonly store: PostgresRuntimeStore;
  readonly blobs: PostgresBlobStore;
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
  const store = new PostgresRuntimeStore(handle.db, { ...options, onClose: () => handle.close() });
  return {
    store,
    blobs: new PostgresBlobStore(handle.db),
    kind: handle.kind,
    location: handle.location,
    db: handle.db,
    migrations,
    close: () => store.close(),
  };
}
