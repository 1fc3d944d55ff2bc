/**
 * One group-commit batch as ONE SQL statement: a single round trip and no `BEGIN`/`COMMIT`.
 *
 * Each table of the batch is written by a data-modifying CTE that reads its rows from ONE JSON
 * parameter (`json_to_recordset`), so the statement text depends only on which tables the batch
 * touches (at most 2⁴ texts, built once) and not on how many rows it carries, and encoding the
 * parameters is one native `JSON.stringify` per table (the driver's array-literal escaping of
 * per-column arrays cost more than the rest of the statement). A statement is
 * atomic on its own, so the batch still commits all-or-nothing; deferred constraints (the
 * idempotency-key exclusion) are checked when it commits.
 *
 * This is the hot path of `PostgresRuntimeStore`: it covers batches without signals and without
 * deleted inputs. Receipts are inserted plainly, so a duplicate receipt fails the statement; the
 * store then re-runs the batch on its careful multi-statement path, which tells the duplicate
 * commit apart from the others (see `postgres-store.ts`).
 *
 * @example
 * ```ts
 * const query = batchStatement({ receipts: [], sessions: [sessionRow], inputs: [inputRow], ops: [] });
 * await db.executeQuery(query); // INSERT … ON CONFLICT for the session and its input, one round trip
 * ```
 */
import { CompiledQuery, type Insertable } from 'kysely';
import type { BoundaryReceiptsTable, InputsTable, OpsSnapshotsTable, SessionsTable } from './schema.js';

/** The rows one batch writes, per table. */
export interface BatchRows {
  /** Commits conditional on a session lease (decision 12): written only while the lease holds this owner and token. */
  readonly fences: readonly FenceRow[];
  readonly receipts: readonly Insertable<BoundaryReceiptsTable>[];
  readonly sessions: readonly Insertable<SessionsTable>[];
  readonly inputs: readonly Insertable<InputsTable>[];
  readonly ops: readonly Insertable<OpsSnapshotsTable>[];
}

/** One fenced commit of a batch. */
export interface FenceRow {
  readonly runtime_id: string;
  readonly session_id: string;
  readonly replica_id: string;
  readonly token: number;
}

/** A column and its PostgreSQL type. */
type Columns<T> = readonly (readonly [keyof T & string, 'text' | 'bigint' | 'integer'])[];

const RECEIPT_COLUMNS = [
  ['runtime_id', 'text'],
  ['run_id', 'text'],
  ['sequence', 'bigint'],
  ['boundary', 'text'],
  ['contributing_input_ids', 'text'],
  ['conversation_digest', 'text'],
  ['message_count', 'integer'],
  ['created_at', 'bigint'],
] as const satisfies Columns<BoundaryReceiptsTable>;

const SESSION_COLUMNS = [
  ['runtime_id', 'text'],
  ['session_id', 'text'],
  ['epoch_id', 'text'],
  ['durable_phase', 'text'],
  ['machine', 'text'],
  ['updated_at', 'bigint'],
] as const satisfies Columns<SessionsTable>;

const INPUT_COLUMNS = [
  ['runtime_id', 'text'],
  ['input_id', 'text'],
  ['phase', 'text'],
  ['terminal_outcome', 'text'],
  ['durability', 'text'],
  ['idempotency_key', 'text'],
  ['lane', 'text'],
  ['admission_sequence', 'bigint'],
  ['attempt_count', 'integer'],
  ['last_run_id', 'text'],
  ['last_boundary_sequence', 'bigint'],
  ['input', 'text'],
  ['content_blob_id', 'text'],
  ['runtime_semantics', 'text'],
  ['terminal_completion', 'text'],
  ['history', 'text'],
  ['trace_context', 'text'],
  ['created_at', 'bigint'],
  ['updated_at', 'bigint'],
] as const satisfies Columns<InputsTable>;

const OPS_COLUMNS = [
  ['runtime_id', 'text'],
  ['epoch_id', 'text'],
  ['snapshot', 'text'],
  ['next_completion_seq', 'bigint'],
  ['completion_agent_applied_cursor', 'bigint'],
  ['completion_runtime_observed_cursor', 'bigint'],
  ['completion_runtime_injected_cursor', 'bigint'],
  ['updated_at', 'bigint'],
] as const satisfies Columns<OpsSnapshotsTable>;

/** `INSERT INTO table (cols) SELECT cols FROM json_to_recordset($n::json) AS r(col type, …)`. */
function insertFromJson<T>(table: string, columns: Columns<T>, parameter: number): string {
  const names = columns.map(([c]) => c).join(', ');
  const record = columns.map(([c, type]) => `${c} ${type}`).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT ${names} FROM json_to_recordset($${parameter}::json) AS r(${record})`;
}

/** `SET col = excluded.col` for every column but the conflict key. */
function updateAllBut<T>(columns: Columns<T>, key: readonly string[]): string {
  return columns
    .filter(([c]) => !key.includes(c))
    .map(([c]) => `${c} = excluded.${c}`)
    .join(', ');
}

interface Part {
  readonly present: (rows: BatchRows) => boolean;
  /** The CTE reading its rows from parameter `parameter`; `unfenced` filters out refused commits' rows. */
  readonly cte: (parameter: number, unfenced: string) => string;
  readonly rows: (rows: BatchRows) => readonly object[];
}

/**
 * The fence check: the leases of the batch's fenced commits, locked `FOR SHARE` until the statement
 * commits (so a takeover's token bump waits for it, or — if it came first — is seen, and the commit
 * refused), and the runtimes whose fence no longer matches.
 */
const FENCE_CTES =
  `w_fence_ok AS (SELECT l.session_id FROM meerkat_session_leases l ` +
  `JOIN json_to_recordset($1::json) AS f(runtime_id text, session_id text, replica_id text, token bigint) ` +
  `ON l.session_id = f.session_id AND l.owner_replica = f.replica_id AND l.fencing_token = f.token FOR SHARE OF l), ` +
  `w_refused AS (SELECT f.runtime_id FROM json_to_recordset($1::json) AS f(runtime_id text, session_id text) ` +
  `WHERE f.session_id NOT IN (SELECT session_id FROM w_fence_ok))`;
const UNFENCED = ` WHERE r.runtime_id NOT IN (SELECT runtime_id FROM w_refused)`;

const PARTS: readonly Part[] = [
  {
    present: (b) => b.receipts.length > 0,
    // Plain insert: a duplicate receipt fails the whole statement (the store then goes the careful way).
    cte: (parameter, unfenced) => `w_receipts AS (${insertFromJson('meerkat_boundary_receipts', RECEIPT_COLUMNS, parameter)}${unfenced})`,
    rows: (b) => b.receipts,
  },
  {
    present: (b) => b.sessions.length > 0,
    cte: (parameter, unfenced) =>
      `w_sessions AS (${insertFromJson('meerkat_sessions', SESSION_COLUMNS, parameter)}${unfenced} ` +
      `ON CONFLICT (runtime_id) DO UPDATE SET ${updateAllBut(SESSION_COLUMNS, ['runtime_id'])})`,
    rows: (b) => b.sessions,
  },
  {
    present: (b) => b.inputs.length > 0,
    cte: (parameter, unfenced) =>
      `w_inputs AS (${insertFromJson('meerkat_inputs', INPUT_COLUMNS, parameter)}${unfenced} ` +
      `ON CONFLICT (runtime_id, input_id) DO UPDATE SET ${updateAllBut(INPUT_COLUMNS, ['runtime_id', 'input_id'])})`,
    rows: (b) => b.inputs,
  },
  {
    present: (b) => b.ops.length > 0,
    // A process that forgot what it wrote (restart, cache eviction) does not rewrite an unchanged snapshot.
    cte: (parameter, unfenced) =>
      `w_ops AS (${insertFromJson('meerkat_ops_snapshots', OPS_COLUMNS, parameter)}${unfenced} ` +
      `ON CONFLICT (runtime_id) DO UPDATE SET ${updateAllBut(OPS_COLUMNS, ['runtime_id'])} ` +
      `WHERE (meerkat_ops_snapshots.epoch_id, meerkat_ops_snapshots.next_completion_seq, meerkat_ops_snapshots.snapshot) ` +
      `IS DISTINCT FROM (excluded.epoch_id, excluded.next_completion_seq, excluded.snapshot))`,
    rows: (b) => b.ops,
  },
];

/** Statement texts by the bit mask of present parts (bit 0: fences), built on first use. */
const TEXTS = new Map<number, string>();

function textFor(mask: number): string {
  let text = TEXTS.get(mask);
  if (text === undefined) {
    const fenced = (mask & 1) !== 0;
    const ctes: string[] = fenced ? [FENCE_CTES] : [];
    let parameter = fenced ? 2 : 1;
    PARTS.forEach((part, i) => {
      if ((mask & (1 << (i + 1))) !== 0) ctes.push(part.cte(parameter++, fenced ? UNFENCED : ''));
    });
    text = `WITH ${ctes.join(', ')} ${fenced ? 'SELECT runtime_id AS refused FROM w_refused' : 'SELECT NULL::text AS refused WHERE false'}`;
    TEXTS.set(mask, text);
  }
  return text;
}

/** Whether the batch writes anything at all. */
export function batchIsEmpty(rows: BatchRows): boolean {
  return PARTS.every((p) => !p.present(rows));
}

/**
 * The batch as one statement (call only when {@link batchIsEmpty} is false). It returns one row
 * `{ refused }` per fenced commit whose lease no longer matches: none of that commit's rows were
 * written.
 */
export function batchStatement(rows: BatchRows): BatchStatement {
  let mask = 0;
  const parameters: unknown[] = [];
  if (rows.fences.length > 0) {
    mask |= 1;
    parameters.push(JSON.stringify(rows.fences));
  }
  PARTS.forEach((part, i) => {
    if (!part.present(rows)) return;
    mask |= 1 << (i + 1);
    parameters.push(JSON.stringify(part.rows(rows)));
  });
  return { ...CompiledQuery.raw(textFor(mask), parameters), name: `meerkat_batch_${mask}` } as BatchStatement;
}

/**
 * A batch statement with a name that identifies its text (one per combination of tables), so a
 * driver that supports it can run it as a named prepared statement and skip planning it again.
 */
export type BatchStatement = CompiledQuery<{ readonly refused: string }> & { readonly name: string };
