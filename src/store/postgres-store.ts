/**
 * The kernel's store of record on PostgreSQL or PGlite (decision 11): {@link RuntimeStore} and
 * {@link SignalOutbox} over the tables of `schema.ts`.
 *
 * **Group commit.** `commit()` calls that arrive while a transaction is in flight are queued and the
 * next flush writes them all in one transaction (see `group-commit.ts`): one multi-row statement per
 * table (receipts, session documents, deleted rows, input rows, ops snapshots, outbox), and the
 * batch's signal sequences come from one `UPDATE meerkat_signal_sequence SET value = value + n
 * RETURNING value`. Each caller gets its own signals back once COMMIT returned.
 *
 * Inside a batch transaction:
 * 1. receipts are inserted first with `ON CONFLICT DO NOTHING RETURNING`: a commit whose receipt
 *    already exists fails alone ("duplicate boundary receipt") and contributes nothing else;
 * 2. session documents are upserted, rows of `deleted_input_ids` deleted, input rows upserted;
 * 3. ops snapshots are upserted for the runtimes whose `op_*`/`completion_*` fields changed;
 * 4. signal sequences are allocated (last, so the counter's row lock is held briefly) and the
 *    signals inserted.
 * A commit that admits a peer-inbox message (`taken_peer_message`) also goes this careful way: the
 * message's row is deleted first (a commit whose message is already gone fails alone), and put
 * back if a later step refuses the commit (`peer-inbox.ts`).
 * If the transaction fails anyway (e.g. a duplicate idempotency key, checked at COMMIT), every
 * commit of the batch is retried in a transaction of its own, so only the offending one fails.
 *
 * Commits of one runtime never share a batch; they apply in call order.
 *
 * @example
 * ```ts
 * import { createStores } from './index.js';
 *
 * const { store, close } = await createStores({ dataDir: '.meerkat/data' });
 * const stop = store.subscribe(await store.signalCursor('sidecar'), (s) => console.log(s.sequence, s.kind));
 * // … kernel commits through store.commit(…)
 * stop();
 * await close();
 * ```
 */
import { sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import type pg from 'pg';
import { CommitFencedError, type CommitFence } from '../kernel/leases.js';
import type {
  BoundaryReceipt,
  PeerMessage,
  PeerMessageDraft,
  PruneReport,
  RoutedSignal,
  RoutedSignalDraft,
  RuntimeStore,
  SessionCommit,
  SessionDocument,
  SignalOutbox,
  StoredInputRow,
} from '../kernel/store.js';
import {
  inputFromRow,
  inputToRow,
  opsSnapshotKey,
  opsSnapshotOf,
  receiptFromRow,
  receiptToRow,
  sessionFromRow,
  sessionToRow,
  signalFromRow,
  signalToRow,
} from './codec.js';
import { StoreCommitError, commitFailure, isDatabaseError } from './errors.js';
import { GroupCommitter, type GroupCommitStats, type WriteOutcome } from './group-commit.js';
import type { BoundaryReceiptsTable, Database, InputsTable, OpsSnapshotsTable, SessionsTable } from './schema.js';
import { SignalFeed } from './signal-feed.js';
import { batchIsEmpty, batchStatement, type BatchRows } from './batch-statement.js';
import { appendPeerMessage, discardPeerMessage, loadPeerMessages, restorePeerMessages, takePeerMessages } from './peer-inbox.js';

const NO_SIGNALS: WriteOutcome<readonly RoutedSignal[]> = { ok: true, value: [] };

export interface PostgresRuntimeStoreOptions {
  /** Most commits written by one transaction. Default 256. */
  readonly maxBatchSize?: number;
  /** Batches written at once (each on its own connection; one runtime's commits never overlap). Default 2. */
  readonly maxInFlight?: number;
  /** How often subscribers poll the outbox once caught up (ms). Default 50. */
  readonly pollIntervalMs?: number;
  /** Runtimes whose last written ops snapshot is remembered (to skip unchanged writes). Default 10 000. */
  readonly opsCacheSize?: number;
  /**
   * The node-postgres pool under `db`, when it is one: the batch statement then runs as a named
   * prepared statement (planned once per connection instead of on every commit).
   */
  readonly pool?: pg.Pool | null;
  /** Called by `close()` after the store stopped (e.g. to close the database it runs on). */
  readonly onClose?: () => Promise<void>;
  /** Receives background failures (subscription polling, listener exceptions). Default: stderr. */
  readonly onBackgroundError?: (error: unknown) => void;
}

/** A commit, validated and encoded before it joins a batch. */
interface PreparedCommit {
  readonly runtimeId: string;
  readonly sessionId: string;
  /** The lease this commit is conditional on, if any (decision 12). */
  readonly fence: CommitFence | null;
  /** `null` when the document did not change (nothing to rewrite). */
  readonly session: Insertable<SessionsTable> | null;
  readonly documentChanged: boolean;
  readonly inputs: readonly Insertable<InputsTable>[];
  readonly deleted: readonly string[];
  readonly receipt: Insertable<BoundaryReceiptsTable> | null;
  /**
   * `null` when the document did not change: its ops fields are then those of the last document
   * this process committed, whose snapshot was written with it.
   */
  readonly ops: { readonly row: Insertable<OpsSnapshotsTable>; readonly key: string } | null;
  readonly signals: readonly RoutedSignalDraft[];
  /** The peer-inbox message this commit admits (deleted in its transaction; see `peer-inbox.ts`), or null. */
  readonly takenPeerMessage: number | null;
}

/** A commit that carries an ops snapshot. */
type WithOps = PreparedCommit & { readonly ops: NonNullable<PreparedCommit['ops']> };

/** Rows per multi-row statement stay well below Postgres's 65 535 bind parameters. */
const MAX_PARAMETERS = 30_000;

/** Columns of a `meerkat_inputs` row (for sizing multi-row statements). */
const INPUT_COLUMN_COUNT = 19;

export class PostgresRuntimeStore implements RuntimeStore, SignalOutbox {
  private readonly committer: GroupCommitter<PreparedCommit, readonly RoutedSignal[]>;
  private readonly feed: SignalFeed;
  /** runtime id → key of the ops snapshot last committed for it. */
  private readonly opsWritten = new Map<string, string>();
  private readonly opsCacheSize: number;
  private closing: Promise<void> | null = null;
  private transactions = 0;
  private commits = 0;

  constructor(
    readonly db: Kysely<Database>,
    private readonly options: PostgresRuntimeStoreOptions = {},
  ) {
    this.opsCacheSize = options.opsCacheSize ?? 10_000;
    this.committer = new GroupCommitter<PreparedCommit, readonly RoutedSignal[]>({
      maxBatchSize: options.maxBatchSize ?? 256,
      maxInFlight: options.maxInFlight ?? 2,
      keyOf: (c) => c.runtimeId,
      writeBatch: (batch) => this.writeBatch(batch),
      isSplittable: isDatabaseError,
      failure: (error, c) => commitFailure(c.runtimeId, error),
    });
    this.feed = new SignalFeed((after, limit) => this.readSignals(after, limit), {
      pollIntervalMs: options.pollIntervalMs ?? 50,
      ...(options.onBackgroundError ? { onError: options.onBackgroundError } : {}),
    });
  }

  /** Signals may have been committed elsewhere (another process's commit, a NOTIFY): poll the outbox now. */
  wakeSignals(): void {
    this.feed.wake();
  }

  /** Write transactions started by commits (batches plus one-by-one retries). */
  get transactionCount(): number {
    return this.transactions;
  }

  /** Commits that succeeded. */
  get commitCount(): number {
    return this.commits;
  }

  /** Group-commit counters (batches, largest batch, split batches). */
  get groupCommitStats(): GroupCommitStats {
    return this.committer.counters;
  }

  async commit(change: SessionCommit): Promise<readonly RoutedSignal[]> {
    let prepared: PreparedCommit;
    try {
      prepared = prepare(change);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new StoreCommitError(`commit of ${change.runtime_id} failed: ${why}`, change.runtime_id, 'invalid_change', null, { cause: e });
    }
    const signals = await this.committer.submit(
      prepared,
      () => new StoreCommitError(`commit of ${change.runtime_id} failed: the store is closed`, change.runtime_id, 'closed'),
    );
    this.commits += 1;
    return signals;
  }

  private async writeBatch(batch: readonly PreparedCommit[]): Promise<readonly WriteOutcome<readonly RoutedSignal[]>[]> {
    if (batch.every((c) => c.signals.length === 0 && c.deleted.length === 0 && c.takenPeerMessage === null)) {
      const outcomes = await this.writeBatchAsOneStatement(batch);
      if (outcomes !== null) return outcomes;
    }
    return this.writeBatchCarefully(batch);
  }

  /**
   * The hot path: the whole batch in one statement (`batch-statement.ts`). Returns `null` when
   * the database refused it (e.g. a duplicate receipt), so nothing was written and the careful
   * path can tell the offending commit apart.
   */
  private async writeBatchAsOneStatement(
    batch: readonly PreparedCommit[],
  ): Promise<readonly WriteOutcome<readonly RoutedSignal[]>[] | null> {
    const opsChanged = this.opsChanged(batch);
    const rows: BatchRows = {
      fences: batch.flatMap((c) =>
        c.fence ? [{ runtime_id: c.runtimeId, session_id: c.sessionId, replica_id: c.fence.replica_id, token: c.fence.token }] : [],
      ),
      receipts: batch.flatMap((c) => (c.receipt ? [c.receipt] : [])),
      sessions: batch.flatMap((c) => (c.session ? [c.session] : [])),
      inputs: batch.flatMap((c) => c.inputs),
      ops: opsChanged.map((c) => c.ops.row),
    };
    const refused = new Set<string>();
    if (!batchIsEmpty(rows)) {
      this.transactions += 1;
      try {
        const statement = batchStatement(rows);
        const pool = this.options.pool;
        const answer: readonly { readonly refused: string }[] = pool
          ? (await pool.query<{ refused: string }>({ name: statement.name, text: statement.sql, values: [...statement.parameters] })).rows
          : (await this.db.executeQuery<{ readonly refused: string }>(statement)).rows;
        for (const r of answer) refused.add(r.refused);
      } catch (error) {
        if (isDatabaseError(error)) return null;
        throw error;
      }
    }
    for (const c of opsChanged) if (!refused.has(c.runtimeId)) this.rememberOps(c.runtimeId, c.ops.key);
    return batch.map((c) => (refused.has(c.runtimeId) && c.fence ? { ok: false, error: fenced(c, c.fence) } : NO_SIGNALS));
  }

  /** One transaction of several statements: receipts checked one by one, deletions, signals. */
  private async writeBatchCarefully(batch: readonly PreparedCommit[]): Promise<readonly WriteOutcome<readonly RoutedSignal[]>[]> {
    this.transactions += 1;
    const written: WithOps[] = [];
    const outcomes = await this.db.transaction().execute(async (trx) => {
      const failed = await refuseStaleFences(trx, batch);
      const peer = await takePeerMessages(trx, batch.filter((c) => !failed.has(c)));
      for (const [c, e] of peer.failed) failed.set(c, e);
      for (const [c, e] of await insertReceipts(trx, batch.filter((c) => !failed.has(c)))) failed.set(c, e);
      // A commit refused after it took its peer message leaves the message in the inbox.
      await restorePeerMessages(trx, failed.keys(), peer.taken);
      const live = batch.filter((c) => !failed.has(c));
      if (live.length > 0) {
        // A document whose durable content did not change since this process last wrote it is not rewritten.
        await upsertSessions(trx, live.filter((c) => c.documentChanged));
        await deleteInputs(trx, live);
        await upsertInputs(trx, live);
        const opsChanged = this.opsChanged(live);
        await upsertOps(trx, opsChanged);
        written.push(...opsChanged);
      }
      const signals = await insertSignals(trx, live);
      return batch.map((c): WriteOutcome<readonly RoutedSignal[]> => {
        const error = failed.get(c);
        return error ? { ok: false, error } : { ok: true, value: signals.get(c) ?? [] };
      });
    });
    for (const c of written) this.rememberOps(c.runtimeId, c.ops.key);
    if (outcomes.some((o) => o.ok && o.value.length > 0)) this.feed.wake();
    return outcomes;
  }

  /** The commits whose ops snapshot differs from what this process last wrote for their runtime. */
  private opsChanged(batch: readonly PreparedCommit[]): WithOps[] {
    return batch.filter(
      (c): c is PreparedCommit & { readonly ops: NonNullable<PreparedCommit['ops']> } =>
        c.ops !== null && this.opsWritten.get(c.runtimeId) !== c.ops.key,
    );
  }

  private rememberOps(runtimeId: string, key: string): void {
    this.opsWritten.delete(runtimeId);
    this.opsWritten.set(runtimeId, key);
    if (this.opsWritten.size > this.opsCacheSize) {
      const oldest = this.opsWritten.keys().next();
      if (!oldest.done) this.opsWritten.delete(oldest.value);
    }
  }

  async loadSession(runtimeId: string): Promise<SessionDocument | null> {
    // Recovery reads the document: forget what this process believes it last wrote (another
    // replica may have written since), so the next commit rewrites the ops snapshot if it differs.
    this.opsWritten.delete(runtimeId);
    const row = await this.db.selectFrom('meerkat_sessions').selectAll().where('runtime_id', '=', runtimeId).executeTakeFirst();
    return row ? sessionFromRow(row) : null;
  }

  async loadInputs(runtimeId: string): Promise<readonly StoredInputRow[]> {
    const rows = await this.db.selectFrom('meerkat_inputs').selectAll().where('runtime_id', '=', runtimeId).orderBy('input_id').execute();
    return rows.map(inputFromRow);
  }

  async loadInput(runtimeId: string, inputId: string): Promise<StoredInputRow | null> {
    const row = await this.db
      .selectFrom('meerkat_inputs')
      .selectAll()
      .where('runtime_id', '=', runtimeId)
      .where('input_id', '=', inputId)
      .executeTakeFirst();
    return row ? inputFromRow(row) : null;
  }

  async findInputByIdempotencyKey(runtimeId: string, key: string): Promise<StoredInputRow | null> {
    const row = await this.db
      .selectFrom('meerkat_inputs')
      .selectAll()
      .where('runtime_id', '=', runtimeId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row ? inputFromRow(row) : null;
  }

  async loadBoundaryReceipt(runtimeId: string, runId: string, sequence: number): Promise<BoundaryReceipt | null> {
    const row = await this.db
      .selectFrom('meerkat_boundary_receipts')
      .selectAll()
      .where('runtime_id', '=', runtimeId)
      .where('run_id', '=', runId)
      .where('sequence', '=', sequence)
      .executeTakeFirst();
    return row ? receiptFromRow(row) : null;
  }

  /**
   * Removes the session document, its input rows, its ops snapshot and its peer inbox in one transaction (receipts
   * age out through `prune`). It does not wait for queued commits: the kernel calls it from the
   * session's gate, after the session's last commit settled.
   */
  async deleteSession(runtimeId: string): Promise<void> {
    this.opsWritten.delete(runtimeId);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('meerkat_inputs').where('runtime_id', '=', runtimeId).execute();
      await trx.deleteFrom('meerkat_ops_snapshots').where('runtime_id', '=', runtimeId).execute();
      await trx.deleteFrom('meerkat_sessions').where('runtime_id', '=', runtimeId).execute();
      await trx.deleteFrom('meerkat_peer_inbox').where('runtime_id', '=', runtimeId).execute();
    });
    this.opsWritten.delete(runtimeId);
  }

  /**
   * Retention (bounded: at most `batchSize` rows of each kind per call, each kind one `DELETE … WHERE
   * key IN (SELECT … LIMIT n)`): terminal input rows last updated before `olderThanMs`, receipts
   * committed before it, and outbox signals created before it whose sequence every consumer has
   * acknowledged (none while no consumer is registered).
   */
  async prune(olderThanMs: number, batchSize: number): Promise<PruneReport> {
    const limit = Math.max(0, Math.floor(batchSize));
    if (limit === 0) return { inputs: 0, receipts: 0, signals: 0 };
    const oldInputs = this.db
      .selectFrom('meerkat_inputs')
      .select(['runtime_id', 'input_id'])
      .where('terminal_outcome', 'is not', null)
      .where('updated_at', '<', olderThanMs)
      .limit(limit);
    const inputs = await this.db
      .deleteFrom('meerkat_inputs')
      .where(sql<boolean>`(runtime_id, input_id) IN (${oldInputs})`)
      .executeTakeFirst();
    const oldReceipts = this.db
      .selectFrom('meerkat_boundary_receipts')
      .select(['runtime_id', 'run_id', 'sequence'])
      .where('created_at', '<', olderThanMs)
      .limit(limit);
    const receipts = await this.db
      .deleteFrom('meerkat_boundary_receipts')
      .where(sql<boolean>`(runtime_id, run_id, sequence) IN (${oldReceipts})`)
      .executeTakeFirst();
    const signals = await this.db
      .deleteFrom('meerkat_signal_outbox')
      .where('sequence', 'in', (eb) =>
        eb
          .selectFrom('meerkat_signal_outbox as old')
          .select('old.sequence')
          .where('old.created_at', '<', olderThanMs)
          .where('old.sequence', '<=', (inner) => inner.selectFrom('meerkat_signal_consumers').select((f) => f.fn.min('cursor').as('acked')))
          .orderBy('old.sequence')
          .limit(limit),
      )
      .executeTakeFirst();
    return {
      inputs: Number(inputs.numDeletedRows),
      receipts: Number(receipts.numDeletedRows),
      signals: Number(signals.numDeletedRows),
    };
  }

  appendPeerMessage(message: PeerMessageDraft): Promise<PeerMessage> {
    return appendPeerMessage(this.db, message);
  }

  loadPeerMessages(runtimeId: string, limit: number): Promise<readonly PeerMessage[]> {
    return loadPeerMessages(this.db, runtimeId, limit);
  }

  discardPeerMessage(runtimeId: string, sequence: number): Promise<boolean> {
    return discardPeerMessage(this.db, runtimeId, sequence);
  }

  async readSignals(afterSequence: number, limit: number): Promise<readonly RoutedSignal[]> {
    const n = Math.floor(limit);
    if (!(n > 0)) return [];
    const rows = await this.db
      .selectFrom('meerkat_signal_outbox')
      .selectAll()
      .where('sequence', '>', Math.max(0, Math.floor(afterSequence)))
      .orderBy('sequence')
      .limit(n)
      .execute();
    return rows.map(signalFromRow);
  }

  /**
   * Delivers every signal committed after `afterSequence`, in order, once, by polling the outbox
   * (woken at once by commits of this store). Delivery is asynchronous; stops on unsubscribe.
   */
  subscribe(afterSequence: number, listener: (signal: RoutedSignal) => void): () => void {
    return this.feed.subscribe(afterSequence, listener);
  }

  async acknowledgeSignals(consumer: string, sequence: number): Promise<void> {
    await this.db
      .insertInto('meerkat_signal_consumers')
      .values({ consumer, cursor: sequence })
      .onConflict((oc) => oc.column('consumer').doUpdateSet({ cursor: sql<number>`greatest(meerkat_signal_consumers.cursor, excluded.cursor)` }))
      .execute();
  }

  async signalCursor(consumer: string): Promise<number> {
    const row = await this.db.selectFrom('meerkat_signal_consumers').select('cursor').where('consumer', '=', consumer).executeTakeFirst();
    return row?.cursor ?? 0;
  }

  /** Refuses new commits, waits for queued ones, ends subscriptions, then runs `onClose`. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.committer.close();
      await this.feed.close();
      await this.options.onClose?.();
    })();
    return this.closing;
  }
}

/** Validates and encodes a commit (throws on a malformed one, before it joins a batch). */
function prepare(change: SessionCommit): PreparedCommit {
  const runtimeId = change.runtime_id;
  if (change.document.runtime_id !== runtimeId) {
    throw new Error(`the document belongs to runtime ${change.document.runtime_id}`);
  }
  const deleted = [...new Set(change.deleted_input_ids ?? [])];
  const gone = new Set(deleted);
  const byId = new Map<string, StoredInputRow>();
  for (const row of change.inputs) {
    if (row.runtime_id !== runtimeId) throw new Error(`input row ${row.input_id} belongs to runtime ${row.runtime_id}`);
    byId.delete(row.input_id);
    byId.set(row.input_id, row);
  }
  const inputs = [...byId.values()].filter((r) => !gone.has(r.input_id)).map((r) => inputToRow(runtimeId, r));
  const ops = change.document_changed === false ? null : opsSnapshotOf(change.document);
  return {
    runtimeId,
    sessionId: change.session_id,
    fence: change.fence ?? null,
    session: change.document_changed === false ? null : sessionToRow(change.document),
    documentChanged: change.document_changed !== false,
    inputs,
    deleted,
    receipt: change.receipt ? receiptToRow(runtimeId, change.receipt, change.document.updated_at) : null,
    ops: ops === null ? null : { row: ops, key: opsSnapshotKey(ops) },
    signals: change.signals,
    takenPeerMessage: change.taken_peer_message ?? null,
  };
}

function chunks<T>(items: readonly T[], columns: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / columns));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function fenced(c: PreparedCommit, fence: CommitFence): CommitFencedError {
  return new CommitFencedError(c.runtimeId, c.sessionId, fence);
}

/**
 * The fenced commits whose session lease no longer has their owner and token, with their error.
 * The matching leases are locked `FOR SHARE` until the transaction ends, so a takeover cannot bump
 * the token between this check and COMMIT.
 */
async function refuseStaleFences(trx: Transaction<Database>, batch: readonly PreparedCommit[]): Promise<Map<PreparedCommit, Error>> {
  const refused = new Map<PreparedCommit, Error>();
  const fenced_ = batch.filter((c) => c.fence !== null);
  if (fenced_.length === 0) return refused;
  const held = await trx
    .selectFrom('meerkat_session_leases')
    .select(['session_id', 'owner_replica', 'fencing_token'])
    .where('session_id', 'in', fenced_.map((c) => c.sessionId))
    .forShare()
    .execute();
  const byId = new Map(held.map((l) => [l.session_id, l]));
  for (const c of fenced_) {
    const lease = byId.get(c.sessionId);
    const fence = c.fence as CommitFence;
    if (!lease || lease.owner_replica !== fence.replica_id || lease.fencing_token !== fence.token) refused.set(c, fenced(c, fence));
  }
  return refused;
}

/** Inserts the batch's receipts; returns the commits whose receipt already existed, with their error. */
async function insertReceipts(trx: Transaction<Database>, batch: readonly PreparedCommit[]): Promise<Map<PreparedCommit, Error>> {
  const failed = new Map<PreparedCommit, Error>();
  const withReceipt = batch.filter((c) => c.receipt !== null);
  const inserted = new Set<string>();
  for (const part of chunks(withReceipt, 8)) {
    const rows = await trx
      .insertInto('meerkat_boundary_receipts')
      .values(part.map((c) => c.receipt!))
      .onConflict((oc) => oc.doNothing())
      .returning('runtime_id')
      .execute();
    for (const r of rows) inserted.add(r.runtime_id);
  }
  for (const c of withReceipt) {
    if (inserted.has(c.runtimeId)) continue;
    const r = c.receipt!;
    failed.set(
      c,
      new StoreCommitError(
        `commit of ${c.runtimeId} failed: duplicate boundary receipt (run ${r.run_id}, sequence ${r.sequence}); nothing was written`,
        c.runtimeId,
        'duplicate_receipt',
      ),
    );
  }
  return failed;
}

async function upsertSessions(trx: Transaction<Database>, batch: readonly PreparedCommit[]): Promise<void> {
  for (const part of chunks(batch, 6)) {
    await trx
      .insertInto('meerkat_sessions')
      .values(part.flatMap((c) => (c.session ? [c.session] : [])))
      .onConflict((oc) =>
        oc.column('runtime_id').doUpdateSet((eb) => ({
          session_id: eb.ref('excluded.session_id'),
          epoch_id: eb.ref('excluded.epoch_id'),
          durable_phase: eb.ref('excluded.durable_phase'),
          machine: eb.ref('excluded.machine'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

async function deleteInputs(trx: Transaction<Database>, batch: readonly PreparedCommit[]): Promise<void> {
  const keys = batch.flatMap((c) => c.deleted.map((id) => [c.runtimeId, id] as const));
  for (const part of chunks(keys, 2)) {
    await trx
      .deleteFrom('meerkat_inputs')
      .where(({ eb, refTuple, tuple }) => eb(refTuple('runtime_id', 'input_id'), 'in', part.map(([rid, id]) => tuple(rid, id))))
      .execute();
  }
}

async function upsertInputs(trx: Transaction<Database>, batch: readonly PreparedCommit[]): Promise<void> {
  const rows = batch.flatMap((c) => c.inputs);
  for (const part of chunks(rows, INPUT_COLUMN_COUNT)) {
    await trx
      .insertInto('meerkat_inputs')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['runtime_id', 'input_id']).doUpdateSet((eb) => ({
          phase: eb.ref('excluded.phase'),
          terminal_outcome: eb.ref('excluded.terminal_outcome'),
          durability: eb.ref('excluded.durability'),
          idempotency_key: eb.ref('excluded.idempotency_key'),
          lane: eb.ref('excluded.lane'),
          admission_sequence: eb.ref('excluded.admission_sequence'),
          attempt_count: eb.ref('excluded.attempt_count'),
          last_run_id: eb.ref('excluded.last_run_id'),
          last_boundary_sequence: eb.ref('excluded.last_boundary_sequence'),
          input: eb.ref('excluded.input'),
          content_blob_id: eb.ref('excluded.content_blob_id'),
          runtime_semantics: eb.ref('excluded.runtime_semantics'),
          terminal_completion: eb.ref('excluded.terminal_completion'),
          history: eb.ref('excluded.history'),
          trace_context: eb.ref('excluded.trace_context'),
          created_at: eb.ref('excluded.created_at'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

async function upsertOps(
  trx: Transaction<Database>,
  batch: readonly WithOps[],
): Promise<void> {
  for (const part of chunks(batch, 8)) {
    await trx
      .insertInto('meerkat_ops_snapshots')
      .values(part.map((c) => c.ops.row))
      .onConflict((oc) =>
        oc
          .column('runtime_id')
          .doUpdateSet((eb) => ({
            epoch_id: eb.ref('excluded.epoch_id'),
            snapshot: eb.ref('excluded.snapshot'),
            next_completion_seq: eb.ref('excluded.next_completion_seq'),
            completion_agent_applied_cursor: eb.ref('excluded.completion_agent_applied_cursor'),
            completion_runtime_observed_cursor: eb.ref('excluded.completion_runtime_observed_cursor'),
            completion_runtime_injected_cursor: eb.ref('excluded.completion_runtime_injected_cursor'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          // A process that forgot what it wrote (restart, cache eviction) does not rewrite an unchanged snapshot.
          .where(
            sql<boolean>`(meerkat_ops_snapshots.epoch_id, meerkat_ops_snapshots.next_completion_seq, meerkat_ops_snapshots.snapshot)
              IS DISTINCT FROM (excluded.epoch_id, excluded.next_completion_seq, excluded.snapshot)`,
          ),
      )
      .execute();
  }
}

/** Allocates the batch's signal sequences (one UPDATE) and inserts the signals; returns each commit's signals. */
async function insertSignals(
  trx: Transaction<Database>,
  batch: readonly PreparedCommit[],
): Promise<Map<PreparedCommit, readonly RoutedSignal[]>> {
  const out = new Map<PreparedCommit, readonly RoutedSignal[]>();
  const total = batch.reduce((n, c) => n + c.signals.length, 0);
  if (total === 0) return out;
  const { value: last } = await trx
    .updateTable('meerkat_signal_sequence')
    .set((eb) => ({ value: eb('value', '+', total) }))
    .where('id', '=', 1)
    .returning('value')
    .executeTakeFirstOrThrow();
  let next = last - total + 1;
  const all: RoutedSignal[] = [];
  for (const c of batch) {
    const committed = c.signals.map((s): RoutedSignal => ({ ...s, sequence: next++ }));
    out.set(c, committed);
    all.push(...committed);
  }
  for (const part of chunks(all, 8)) await trx.insertInto('meerkat_signal_outbox').values(part.map(signalToRow)).execute();
  return out;
}
