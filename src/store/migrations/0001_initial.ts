/**
 * Migration 0001: the kernel's initial schema (see `../schema.ts` for what every column holds).
 *
 * Migrations take `Kysely<unknown>`: they describe the schema as it was when they were written and
 * must never follow later edits of the `Database` interface.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('meerkat_sessions')
    .addColumn('runtime_id', 'text', (c) => c.primaryKey())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('epoch_id', 'text', (c) => c.notNull())
    .addColumn('durable_phase', 'text', (c) => c.notNull())
    .addColumn('machine', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('meerkat_inputs')
    .addColumn('runtime_id', 'text', (c) => c.notNull())
    .addColumn('input_id', 'text', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull())
    .addColumn('terminal_outcome', 'text')
    .addColumn('durability', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('lane', 'text')
    .addColumn('admission_sequence', 'bigint')
    .addColumn('attempt_count', 'integer', (c) => c.notNull())
    .addColumn('last_run_id', 'text')
    .addColumn('last_boundary_sequence', 'bigint')
    .addColumn('input', 'text', (c) => c.notNull())
    .addColumn('content_blob_id', 'text')
    .addColumn('history', 'text', (c) => c.notNull())
    .addColumn('trace_context', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('meerkat_inputs_pkey', ['runtime_id', 'input_id'])
    .execute();
  // Unique (runtime_id, idempotency_key) where the key is set. An exclusion constraint rather than a
  // unique index so that it can be DEFERRABLE: a commit is checked against its complete final image
  // (persistence.md §1.5), e.g. two rows swapping keys in one commit. Its btree index also serves
  // findInputByIdempotencyKey.
  await sql`
    ALTER TABLE meerkat_inputs ADD CONSTRAINT meerkat_inputs_idempotency_key_unique
      EXCLUDE USING btree (runtime_id WITH =, idempotency_key WITH =)
      WHERE (idempotency_key IS NOT NULL)
      DEFERRABLE INITIALLY DEFERRED
  `.execute(db);
  await db.schema.createIndex('meerkat_inputs_last_run_idx').on('meerkat_inputs').columns(['runtime_id', 'last_run_id']).execute();
  // Retention scans terminal rows by age only.
  await db.schema
    .createIndex('meerkat_inputs_retention_idx')
    .on('meerkat_inputs')
    .column('updated_at')
    .where(sql.ref('terminal_outcome'), 'is not', null)
    .execute();

  await db.schema
    .createTable('meerkat_boundary_receipts')
    .addColumn('runtime_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('sequence', 'bigint', (c) => c.notNull())
    .addColumn('boundary', 'text', (c) => c.notNull())
    .addColumn('contributing_input_ids', 'text', (c) => c.notNull())
    .addColumn('conversation_digest', 'text')
    .addColumn('message_count', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('meerkat_boundary_receipts_pkey', ['runtime_id', 'run_id', 'sequence'])
    .execute();
  await db.schema.createIndex('meerkat_boundary_receipts_retention_idx').on('meerkat_boundary_receipts').column('created_at').execute();

  await db.schema
    .createTable('meerkat_ops_snapshots')
    .addColumn('runtime_id', 'text', (c) => c.primaryKey())
    .addColumn('epoch_id', 'text', (c) => c.notNull())
    .addColumn('snapshot', 'text', (c) => c.notNull())
    .addColumn('next_completion_seq', 'bigint', (c) => c.notNull())
    .addColumn('completion_agent_applied_cursor', 'bigint', (c) => c.notNull())
    .addColumn('completion_runtime_observed_cursor', 'bigint', (c) => c.notNull())
    .addColumn('completion_runtime_injected_cursor', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('meerkat_signal_outbox')
    .addColumn('sequence', 'bigint', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('runtime_id', 'text', (c) => c.notNull())
    .addColumn('agent_runtime_id', 'text', (c) => c.notNull())
    .addColumn('fence_token', 'bigint', (c) => c.notNull())
    .addColumn('trace_context', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('meerkat_signal_sequence')
    .addColumn('id', 'smallint', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('value', 'bigint', (c) => c.notNull().check(sql`value >= 0`))
    .execute();
  await sql`INSERT INTO meerkat_signal_sequence (id, value) VALUES (1, 0)`.execute(db);

  await db.schema
    .createTable('meerkat_signal_consumers')
    .addColumn('consumer', 'text', (c) => c.primaryKey())
    .addColumn('cursor', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('meerkat_blobs')
    .addColumn('blob_id', 'text', (c) => c.primaryKey())
    .addColumn('media_type', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('meerkat_session_leases')
    .addColumn('session_id', 'text', (c) => c.primaryKey())
    .addColumn('owner_replica', 'text', (c) => c.notNull())
    .addColumn('owner_address', 'text', (c) => c.notNull())
    .addColumn('fencing_token', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'meerkat_session_leases',
    'meerkat_blobs',
    'meerkat_signal_consumers',
    'meerkat_signal_sequence',
    'meerkat_signal_outbox',
    'meerkat_ops_snapshots',
    'meerkat_boundary_receipts',
    'meerkat_inputs',
    'meerkat_sessions',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
