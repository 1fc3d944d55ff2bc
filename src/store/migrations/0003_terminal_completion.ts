/**
 * Migration 0003: input rows keep the completion their run produced (the terminal completion
 * carrier), so a waiter that attaches after the input finished, or after a restart, receives the
 * run's result instead of a bare "completed".
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('meerkat_inputs').addColumn('terminal_completion', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('meerkat_inputs').dropColumn('terminal_completion').execute();
}
