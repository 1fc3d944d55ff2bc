/**
 * Migration 0002: input rows carry their admission-stamped runtime semantics
 * (boundary, execution kind, peer-response-terminal intent, continuation kind)
 * so recovery rebuilds each input from its own row instead of from a session
 * document that would grow with the backlog.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('meerkat_inputs').addColumn('runtime_semantics', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('meerkat_inputs').dropColumn('runtime_semantics').execute();
}
