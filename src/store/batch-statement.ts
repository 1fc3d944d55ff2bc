/**
 * One group-commit batch as ONE SQL statement: a single round trip and no `BEGIN`/`COMMIT`.
 *
 * Each table of the batch is written by a data-modifying CTE that reads its rows from `unnest`
 * over one array parameter per column, so the statement text depends only on which tables the
 * batch touches (at most 2⁴ texts, built once) and not on how many rows it carries. A statement is
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
  readonly receipts: readonly Insertable<BoundaryReceiptsTable>[];
  readonly sessions: readonly Insertable<SessionsTable>[];
  readonly inputs: readonly Insertable<InputsTable>[];
  readonly ops: readonly Insertable<OpsSnapshotsTable>[];
}

/** A column and the PostgreSQL element type of its array parameter. */
type Columns<T> = readonly (readonly [keyof T & string, 'text' | 'int8' | 'int4'])[];

const RECEIPT_COLUMNS = [
  ['runtime_id', 'text'],
  ['run_id', 'text'],
  ['sequence', 'int8'],
  ['boundary', 'text'],
  ['contributing_input_ids', 'text'],
  ['conversation_digest', 'text'],
  ['message_count', 'int4'],
  ['created_at', 'int8'],
] as const satisfies Columns<BoundaryReceiptsTable>;

const SESSION_COLUMNS = [
  ['runtime_id', 'text'],
  ['session_id', 'text'],
  ['epoch_id', 'text'],
  ['durable_phase', 'text'],
  ['machine', 'text'],
  ['updated_at', 'int8'],
] as const satisfies Columns<SessionsTable>;

const INPUT_COLUMNS = [
  ['runtime_id', 'text'],
  ['input_id', 'text'],
  ['phase', 'text'],
  ['terminal_outcome', 'text'],
  ['durability', 'text'],
  ['idempotency_key', 'text'],
  ['lane', 'text'],
  ['admission_sequence', 'int8'],
  ['attempt_count', 'int4'],
  ['last_run_id', 'text'],
  ['last_boundary_sequence', 'int8'],
  ['input', 'text'],
  ['content_blob_id', 'text'],
  ['runtime_semantics', 'text'],
  ['terminal_completion', 'text'],
  ['history', 'text'],
  ['trace_context', 'text'],
  ['created_at', 'int8'],
  ['updated_at', 'int8'],
] as const satisfies Columns<InputsTable>;

const OPS_COLUMNS = [
  ['runtime_id', 'text'],
  ['epoch_id', 'text'],
  ['snapshot', 'text'],
  ['next_completion_seq', 'int8'],
  ['completion_agent_applied_cursor', 'int8'],
  ['completion_runtime_observed_cursor', 'int8'],
  ['completion_runtime_injected_cursor', 'int8'],
  ['updated_at', 'int8'],
] as const satisfies Columns<OpsSnapshotsTable>;

/** `INSERT INTO table (cols) SELECT * FROM unnest($k::type[], …)`, parameters numbered from `first`. */
function insertFromArrays<T>(table: string, columns: Columns<T>, first: number): string {
  const names = columns.map(([c]) => c).join(', ');
  const arrays = columns.map(([, type], i) => `$${first + i}::${type}[]`).join(', ');
  return `INSERT INTO ${table} (${names}) SELECT * FROM unnest(${arrays})`;
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
  readonly columnCount: number;
  readonly cte: (first: number) => string;
  readonly values: (rows: BatchRows) => unknown[][];
}

function columnArrays<T>(columns: Columns<T>, rows: readonly T[]): unknown[][] {
  return columns.map(([c]) => rows.map((r) => r[c] ?? null));
}

const PARTS: readonly Part[] = [
  {
    present: (b) => b.receipts.length > 0,
    columnCount: RECEIPT_COLUMNS.length,
    // Plain insert: a duplicate receipt fails the whole statement (the store then goes the careful way).
    cte: (first) => `w_receipts AS (${insertFromArrays('meerkat_boundary_receipts', RECEIPT_COLUMNS, first)})`,
    values: (b) => columnArrays<Insertable<BoundaryReceiptsTable>>(RECEIPT_COLUMNS, b.receipts),
  },
  {
    present: (b) => b.sessions.length > 0,
    columnCount: SESSION_COLUMNS.length,
    cte: (first) =>
      `w_sessions AS (${insertFromArrays('meerkat_sessions', SESSION_COLUMNS, first)} ` +
      `ON CONFLICT (runtime_id) DO UPDATE SET ${updateAllBut(SESSION_COLUMNS, ['runtime_id'])})`,
    values: (b) => columnArrays<Insertable<SessionsTable>>(SESSION_COLUMNS, b.sessions),
  },
  {
    present: (b) => b.inputs.length > 0,
    columnCount: INPUT_COLUMNS.length,
    cte: (first) =>
      `w_inputs AS (${insertFromArrays('meerkat_inputs', INPUT_COLUMNS, first)} ` +
      `ON CONFLICT (runtime_id, input_id) DO UPDATE SET ${updateAllBut(INPUT_COLUMNS, ['runtime_id', 'input_id'])})`,
    values: (b) => columnArrays<Insertable<InputsTable>>(INPUT_COLUMNS, b.inputs),
  },
  {
    present: (b) => b.ops.length > 0,
    columnCount: OPS_COLUMNS.length,
    // A process that forgot what it wrote (restart, cache eviction) does not rewrite an unchanged snapshot.
    cte: (first) =>
      `w_ops AS (${insertFromArrays('meerkat_ops_snapshots', OPS_COLUMNS, first)} ` +
      `ON CONFLICT (runtime_id) DO UPDATE SET ${updateAllBut(OPS_COLUMNS, ['runtime_id'])} ` +
      `WHERE (meerkat_ops_snapshots.epoch_id, meerkat_ops_snapshots.next_completion_seq, meerkat_ops_snapshots.snapshot) ` +
      `IS DISTINCT FROM (excluded.epoch_id, excluded.next_completion_seq, excluded.snapshot))`,
    values: (b) => columnArrays<Insertable<OpsSnapshotsTable>>(OPS_COLUMNS, b.ops),
  },
];

/** Statement texts by the bit mask of present parts (built on first use). */
const TEXTS = new Map<number, string>();

function textFor(mask: number): string {
  let text = TEXTS.get(mask);
  if (text === undefined) {
    const ctes: string[] = [];
    let next = 1;
    PARTS.forEach((part, i) => {
      if ((mask & (1 << i)) === 0) return;
      ctes.push(part.cte(next));
      next += part.columnCount;
    });
    text = `WITH ${ctes.join(', ')} SELECT 1 AS written`;
    TEXTS.set(mask, text);
  }
  return text;
}

/** Whether the batch writes anything at all. */
export function batchIsEmpty(rows: BatchRows): boolean {
  return PARTS.every((p) => !p.present(rows));
}

/** The batch as one statement (call only when {@link batchIsEmpty} is false). */
export function batchStatement(rows: BatchRows): CompiledQuery {
  let mask = 0;
  const parameters: unknown[] = [];
  PARTS.forEach((part, i) => {
    if (!part.present(rows)) return;
    mask |= 1 << i;
    parameters.push(...part.values(rows));
  });
  return CompiledQuery.raw(textFor(mask), parameters);
}
