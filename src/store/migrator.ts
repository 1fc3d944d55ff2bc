/**
 * Versioned schema migrations through kysely's `Migrator`, with the migrations listed in code
 * (`./migrations/index.ts`). The ledger is `meerkat_migrations`; its lock table
 * `meerkat_migrations_lock`. Postgres runs the pending migrations in one transaction.
 *
 * Every run holds the session-level advisory lock {@link MIGRATION_ADVISORY_LOCK_KEY} on one
 * connection from before kysely creates its ledger tables until the run ended, so replicas (and
 * the migration Job of `deploy/`) starting together against one database migrate it once: the
 * first applies the pending migrations, the others wait on the lock and then find the schema
 * current. A process that dies while holding the lock releases it with its connection. Embedded
 * PGlite is single-process; taking the lock there is harmless.
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
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { MIGRATIONS } from './migrations/index.js';

export const MIGRATION_TABLE = 'meerkat_migrations';
export const MIGRATION_LOCK_TABLE = 'meerkat_migrations_lock';

/**
 * Key of the PostgreSQL advisory lock (`pg_advisory_lock(bigint)`) that serializes migration runs
 * on one database: the bytes of `mkmigrat` read as a big-endian int8. Distinct from kysely's own
 * migration lock key, which kysely takes inside the run.
 */
export const MIGRATION_ADVISORY_LOCK_KEY = '7884515872116728180';

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
 * running against it would be unsafe (persistence.md §2.6 `SchemaFromTheFuture`). The whole run
 * holds the advisory lock {@link MIGRATION_ADVISORY_LOCK_KEY} on one connection (module comment).
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<readonly string[]> {
  return (db as unknown as Kysely<unknown>).connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(${MIGRATION_ADVISORY_LOCK_KEY}::bigint)`.execute(conn);
    let applied: readonly string[];
    try {
      applied = await runMigrations(conn);
    } catch (e) {
      // The run's error wins; an unlock that fails too leaves the lock to the connection's end
      // (callers close the database after a failed migration).
      await unlockMigrations(conn).catch(() => undefined);
      throw e;
    }
    // Thrown, not swallowed: a pooled connection still holding the lock would block every later run.
    await unlockMigrations(conn);
    return applied;
  });
}

async function unlockMigrations(conn: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{ released: boolean }>`SELECT pg_advisory_unlock(${MIGRATION_ADVISORY_LOCK_KEY}::bigint) AS released`.execute(conn);
  if (rows[0]?.released !== true) throw new MigrationError('the migration advisory lock was not held when the run ended', null, null);
}

async function runMigrations(db: Kysely<unknown>): Promise<readonly string[]> {
  const migrator = createMigrator(db);
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
