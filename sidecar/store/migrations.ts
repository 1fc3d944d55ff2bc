/**
 * The sidecar's schema migrations, in code, with their own ledger (`mob_migrations`, lock table
 * `mob_migrations_lock`) so they never mix with the kernel's `meerkat_migrations` on a shared
 * database. Names sort lexically: keep the four-digit prefix when adding one.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export const SIDECAR_MIGRATION_TABLE = 'mob_migrations';
export const SIDECAR_MIGRATION_LOCK_TABLE = 'mob_migrations_lock';

const m0001: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('mob_mobs')
      .addColumn('mob_id', 'text', (c) => c.primaryKey())
      .addColumn('definition', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('mob_states')
      .addColumn('mob_id', 'text', (c) => c.primaryKey().references('mob_mobs.mob_id'))
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('mob_events')
      .addColumn('cursor', 'bigserial', (c) => c.primaryKey())
      .addColumn('mob_id', 'text', (c) => c.notNull().references('mob_mobs.mob_id'))
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('mob_events_by_mob').on('mob_events').columns(['mob_id', 'cursor']).execute();
    await db.schema
      .createTable('mob_members')
      .addColumn('mob_id', 'text', (c) => c.notNull().references('mob_mobs.mob_id'))
      .addColumn('agent_identity', 'text', (c) => c.notNull())
      .addColumn('profile', 'text', (c) => c.notNull())
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('session_id', 'text')
      .addColumn('agent_runtime_id', 'text')
      .addColumn('generation', 'bigint', (c) => c.notNull())
      .addColumn('fence_token', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('mob_members_pk', ['mob_id', 'agent_identity'])
      .execute();
    await db.schema
      .createTable('mob_wiring')
      .addColumn('mob_id', 'text', (c) => c.notNull().references('mob_mobs.mob_id'))
      .addColumn('a', 'text', (c) => c.notNull())
      .addColumn('b', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('mob_wiring_pk', ['mob_id', 'a', 'b'])
      .addCheckConstraint('mob_wiring_normalized', sql`a < b`)
      .execute();
    await db.schema
      .createTable('mob_sessions')
      .addColumn('session_id', 'text', (c) => c.primaryKey())
      .addColumn('mob_id', 'text', (c) => c.notNull().references('mob_mobs.mob_id'))
      .addColumn('agent_identity', 'text', (c) => c.notNull())
      .addColumn('generation', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('mob_outbound')
      .addColumn('id', 'bigserial', (c) => c.primaryKey())
      .addColumn('mob_id', 'text', (c) => c.notNull().references('mob_mobs.mob_id'))
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('trace_context', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('mob_outbound_by_mob').on('mob_outbound').columns(['mob_id', 'id']).execute();
    await db.schema
      .createTable('mob_signal_cursors')
      .addColumn('consumer', 'text', (c) => c.primaryKey())
      .addColumn('sequence', 'bigint', (c) => c.notNull())
      .addColumn('applied', 'bigint', (c) => c.notNull())
      .addColumn('dropped', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of ['mob_signal_cursors', 'mob_outbound', 'mob_sessions', 'mob_wiring', 'mob_members', 'mob_events', 'mob_states', 'mob_mobs']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};

export const SIDECAR_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_mobs': m0001 };

class InCode implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve({ ...SIDECAR_MIGRATIONS });
  }
}

/** Applies every pending sidecar migration; returns the names that ran. */
export async function migrateSidecar(db: Kysely<unknown>): Promise<readonly string[]> {
  const migrator = new Migrator({
    db,
    provider: new InCode(),
    migrationTableName: SIDECAR_MIGRATION_TABLE,
    migrationLockTableName: SIDECAR_MIGRATION_LOCK_TABLE,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
