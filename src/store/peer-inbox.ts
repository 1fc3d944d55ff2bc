/**
 * The durable peer inbox on PostgreSQL / PGlite (decision 9; table `meerkat_peer_inbox`,
 * migration 0005), used by `PostgresRuntimeStore`.
 *
 * - {@link appendPeerMessage}: one `INSERT … RETURNING` in its own transaction; the message is
 *   durable when it resolves (the delivering call is acknowledged only then).
 * - {@link takePeerMessages}: inside a commit's transaction, deletes the message each commit
 *   admits (`SessionCommit.taken_peer_message`). A commit whose message is gone (another commit
 *   took it) fails alone, having written nothing. The deleted rows are returned so that
 *   {@link restorePeerMessages} can put them back, in the same transaction, for a commit that a
 *   later step of the batch refused (e.g. a duplicate receipt): its message stays in the inbox.
 *
 * @example
 * ```ts
 * const m = await appendPeerMessage(db, { runtime_id, session_id, input, created_at: Date.now() });
 * const [oldest] = await loadPeerMessages(db, runtime_id, 1); // m, until a commit takes it
 * ```
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { PeerMessage, PeerMessageDraft } from '../kernel/store.js';
import { StoreCommitError } from './errors.js';
import type { Database, PeerInboxTable } from './schema.js';

function fromRow(row: Selectable<PeerInboxTable>): PeerMessage {
  return {
    runtime_id: row.runtime_id,
    session_id: row.session_id,
    sequence: row.sequence,
    input: JSON.parse(row.input) as PeerMessage['input'],
    created_at: row.created_at,
  };
}

export async function appendPeerMessage(db: Kysely<Database>, message: PeerMessageDraft): Promise<PeerMessage> {
  const row = await db
    .insertInto('meerkat_peer_inbox')
    .values({ runtime_id: message.runtime_id, session_id: message.session_id, input: JSON.stringify(message.input), created_at: message.created_at })
    .returningAll()
    .executeTakeFirstOrThrow();
  return fromRow(row);
}

export async function loadPeerMessages(db: Kysely<Database>, runtimeId: string, limit: number): Promise<readonly PeerMessage[]> {
  const n = Math.floor(limit);
  if (!(n > 0)) return [];
  const rows = await db.selectFrom('meerkat_peer_inbox').selectAll().where('runtime_id', '=', runtimeId).orderBy('sequence').limit(n).execute();
  return rows.map(fromRow);
}

export async function discardPeerMessage(db: Kysely<Database>, runtimeId: string, sequence: number): Promise<boolean> {
  const r = await db.deleteFrom('meerkat_peer_inbox').where('runtime_id', '=', runtimeId).where('sequence', '=', sequence).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** What a commit must carry for {@link takePeerMessages}. */
export interface TakesPeerMessage {
  readonly runtimeId: string;
  readonly takenPeerMessage: number | null;
}

export interface TakenPeerMessages<C> {
  /** Commits whose message was no longer in the inbox, with their error. */
  readonly failed: Map<C, Error>;
  /** The rows deleted for each commit that took its message. */
  readonly taken: Map<C, Selectable<PeerInboxTable>>;
}

/** Deletes each commit's taken message (one statement); see the module comment. */
export async function takePeerMessages<C extends TakesPeerMessage>(trx: Transaction<Database>, batch: readonly C[]): Promise<TakenPeerMessages<C>> {
  const failed = new Map<C, Error>();
  const taken = new Map<C, Selectable<PeerInboxTable>>();
  const takers = batch.filter((c) => c.takenPeerMessage !== null);
  if (takers.length === 0) return { failed, taken };
  const rows = await trx
    .deleteFrom('meerkat_peer_inbox')
    .where(({ eb, refTuple, tuple }) =>
      eb(
        refTuple('runtime_id', 'sequence'),
        'in',
        takers.map((c) => tuple(c.runtimeId, c.takenPeerMessage as number)),
      ),
    )
    .returningAll()
    .execute();
  const byKey = new Map(rows.map((r) => [`${r.runtime_id}|${r.sequence}`, r]));
  for (const c of takers) {
    const row = byKey.get(`${c.runtimeId}|${c.takenPeerMessage}`);
    if (row) taken.set(c, row);
    else {
      failed.set(
        c,
        new StoreCommitError(
          `commit of ${c.runtimeId} failed: peer message ${c.takenPeerMessage} is no longer in the inbox (already taken); nothing was written`,
          c.runtimeId,
          'peer_message_taken',
        ),
      );
    }
  }
  return { failed, taken };
}

/** Puts back, in the same transaction, the messages taken by commits that were refused afterwards. */
export async function restorePeerMessages<C>(trx: Transaction<Database>, refused: Iterable<C>, taken: Map<C, Selectable<PeerInboxTable>>): Promise<void> {
  const rows = [...refused].flatMap((c) => {
    const row = taken.get(c);
    return row ? [row] : [];
  });
  if (rows.length > 0) await trx.insertInto('meerkat_peer_inbox').values(rows).execute();
}
