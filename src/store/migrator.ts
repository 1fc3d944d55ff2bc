/**
 * Versioned schema migrations through kysely's `Migrator`, with the migrations listed in code
 * (`./migrations/index.ts`). The ledger is `meerkat_migrations`; its lock table
 * `meerkat_migrations_lock`. Postgres runs the pending migrations in one transaction under an
 * advisory lock, so concurrent replicas starting together migrate once.
 *
 * @example
 * ```ts
 * import { openDatabase } from './connection.js';
 * import { migrateToLatest } from './migrator.js';
 *
 * const handle = await openDatabase({ dataDir: '.meerkat/data' });
 * console.log(await migrateToLatest(handle.db)); // ['0001_initial'] on a fresh database, [] after
 * await handle.close();
 * ```
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { MIGRATIONS } from './migrations/index.js';

export const MIGRATION_TABLE = 'meerkat_migrations';
export const MIGRATION_LOCK_TABLE = 'meerkat_migrations_lock';

/** A `MigrationProvider` over a fixed, in-code set of migrations. */
export class InCodeMigrationProvider implements MigrationProvider {
  constructor(private readonly migrations: Readonly<Record<string, Migration>> = MIGRATIONS) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...this.migrations };
  }
}

/** A migration run that failed (on Postgres the whole run is rolled back). */
export class MigrationError extends Error {
  constructor(
    message: string,
    readonly failedMigration: string | null,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** A migrator for the kernel's schema on `db`. */
export function createMigrator(db: Kysely<unknown>, migrations: Readonly<Record<string, Migration>> = MIGRATIONS): Migrator {
  return new Migrator({
    db,
    provider: new InCodeMigrationProvider(migrations),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
}

/**
 * Applies every pending migration and returns the names of those that ran, in order (empty when
 * the schema was already current). Throws a {@link MigrationError} when one fails, and also when
 * the database holds a migration this code does not know — it was migrated by a newer build, and
 * running against it would be unsafe (persistence.md §2.6 `SchemaFromTheFuture`).
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<readonly string[]> {
  const migrator = createMigrator(db as unknown as Kysely<unknown>);
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? null;
    const detail = error instanceof Error ? error.message : String(error);
    const message = failed
      ? `migration ${failed} failed: ${detail}`
      : `cannot migrate the database: ${detail} (was it migrated by a newer build of the kernel?)`;
    throw new MigrationError(message, failed, error);
  }
  return (results ?? []).filter((r) => r.status === 'Success' && r.direction === 'Up').map((r) => r.migrationName);
}

/** Names of every migration this build knows, in order. */
export function knownMigrations(): readonly string[] {
  return Object.keys(MIGRATIONS).sort();
}
