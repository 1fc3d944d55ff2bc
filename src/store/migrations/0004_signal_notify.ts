/**
 * Migration 0004: a committed outbox insert notifies listeners on {@link SIGNAL_CHANNEL}, so
 * `StreamSignals` subscribers in every kernel process (and the mob sidecar) are woken at once
 * instead of waiting for their next poll. The trigger is statement-level: one group-commit
 * transaction raises a handful of identical notifications, which PostgreSQL folds into one
 * delivered at COMMIT (never for a rolled-back transaction).
 */
import { sql, type Kysely } from 'kysely';

/** The `LISTEN` channel of committed outbox signals (payload empty: listeners re-read the outbox). */
export const SIGNAL_CHANNEL = 'meerkat_signals';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION meerkat_signal_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('meerkat_signals', '');
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER meerkat_signal_outbox_notify
    AFTER INSERT ON meerkat_signal_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION meerkat_signal_outbox_notify()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS meerkat_signal_outbox_notify ON meerkat_signal_outbox`.execute(db);
  await sql`DROP FUNCTION IF EXISTS meerkat_signal_outbox_notify()`.execute(db);
}
