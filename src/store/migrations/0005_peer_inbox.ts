/**
 * Migration 0005: the durable per-session peer inbox (decision 9). Peer messages wait here, in
 * arrival order, until the session's comms drain admits them; the commit that admits one deletes
 * its row, so a message is neither lost nor admitted twice across a crash.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('meerkat_peer_inbox')
    .addColumn('runtime_id', 'text', (c) => c.notNull())
    .addColumn('sequence', 'bigint', (c) => c.notNull().generatedByDefaultAsIdentity())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('input', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('meerkat_peer_inbox_pkey', ['runtime_id', 'sequence'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('meerkat_peer_inbox').execute();
}
