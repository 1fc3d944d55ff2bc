/**
 * Migration 0006: the handover note of a session lease (decision 12, idle lease handover). An owner
 * that hands an idle session over to the replica that keeps forwarding its calls ends the lease
 * like a release and records who handed it over and which executor the session's runtime loop had;
 * the next claim returns that note (and clears it), so the new owner re-attaches the same executor
 * after recovering the session. Both columns are null on every other lease.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('meerkat_session_leases')
    .addColumn('handover_from', 'text')
    .addColumn('handover_executor', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('meerkat_session_leases').dropColumn('handover_executor').dropColumn('handover_from').execute();
}
