/**
 * Mapping between the kernel's records (`src/kernel/store.ts`) and table rows (`schema.ts`).
 *
 * JSON payload columns are written with `JSON.stringify` of the record and read back with
 * `JSON.parse`; the text is stored as is (`TEXT`), never re-encoded by the database.
 */
import type { CompletionOutcome } from '../kernel/completion.js';
import type { Insertable, Selectable } from 'kysely';
import type { MachineState } from '../machine/index.js';
import type {
  BoundaryReceipt,
  InputHistoryEntry,
  RuntimeSemantics,
  RoutedSignal,
  SessionDocument,
  StoredInputRow,
  TerminalOutcomeView,
} from '../kernel/store.js';
import type { Input } from '../kernel/input.js';
import type {
  BoundaryReceiptsTable,
  InputsTable,
  OpsSnapshotsTable,
  SessionsTable,
  SignalOutboxTable,
} from './schema.js';

export function sessionToRow(doc: SessionDocument): Insertable<SessionsTable> {
  return {
    runtime_id: doc.runtime_id,
    session_id: doc.session_id,
    epoch_id: doc.epoch_id,
    durable_phase: doc.durable_phase,
    machine: JSON.stringify(doc.machine),
    updated_at: doc.updated_at,
  };
}

export function sessionFromRow(row: Selectable<SessionsTable>): SessionDocument {
  return {
    session_id: row.session_id,
    runtime_id: row.runtime_id,
    durable_phase: row.durable_phase,
    machine: JSON.parse(row.machine) as MachineState,
    epoch_id: row.epoch_id,
    updated_at: row.updated_at,
  };
}

/** `runtimeId` is the committing runtime (the row's own `runtime_id` must agree; the caller checks). */
export function inputToRow(runtimeId: string, row: StoredInputRow): Insertable<InputsTable> {
  return {
    runtime_id: runtimeId,
    input_id: row.input_id,
    phase: row.phase,
    terminal_outcome: row.terminal_outcome === null ? null : JSON.stringify(row.terminal_outcome),
    durability: row.durability,
    idempotency_key: row.idempotency_key,
    lane: row.lane,
    admission_sequence: row.admission_sequence,
    attempt_count: row.attempt_count,
    last_run_id: row.last_run_id,
    last_boundary_sequence: row.last_boundary_sequence,
    input: JSON.stringify(row.input),
    content_blob_id: row.content_blob_id,
    runtime_semantics: row.runtime_semantics === null ? null : JSON.stringify(row.runtime_semantics),
    terminal_completion: row.terminal_completion ? JSON.stringify(row.terminal_completion) : null,
    history: JSON.stringify(row.history),
    trace_context: row.trace_context,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function inputFromRow(row: Selectable<InputsTable>): StoredInputRow {
  return {
    runtime_id: row.runtime_id,
    input_id: row.input_id,
    phase: row.phase,
    terminal_outcome: row.terminal_outcome === null ? null : (JSON.parse(row.terminal_outcome) as TerminalOutcomeView),
    durability: row.durability,
    idempotency_key: row.idempotency_key,
    lane: row.lane,
    admission_sequence: row.admission_sequence,
    attempt_count: row.attempt_count,
    last_run_id: row.last_run_id,
    last_boundary_sequence: row.last_boundary_sequence,
    input: JSON.parse(row.input) as Input,
    content_blob_id: row.content_blob_id,
    runtime_semantics: row.runtime_semantics === null ? null : (JSON.parse(row.runtime_semantics) as RuntimeSemantics),
    terminal_completion: row.terminal_completion === null ? null : (JSON.parse(row.terminal_completion) as CompletionOutcome),
    history: JSON.parse(row.history) as InputHistoryEntry[],
    trace_context: row.trace_context,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The receipt row; `createdAt` is the committing document's `updated_at` (retention keys on it). */
export function receiptToRow(runtimeId: string, receipt: BoundaryReceipt, createdAt: number): Insertable<BoundaryReceiptsTable> {
  return {
    runtime_id: runtimeId,
    run_id: receipt.run_id,
    sequence: receipt.sequence,
    boundary: receipt.boundary,
    contributing_input_ids: JSON.stringify(receipt.contributing_input_ids),
    conversation_digest: receipt.conversation_digest,
    message_count: receipt.message_count,
    created_at: createdAt,
  };
}

export function receiptFromRow(row: Selectable<BoundaryReceiptsTable>): BoundaryReceipt {
  return {
    run_id: row.run_id,
    boundary: row.boundary,
    contributing_input_ids: JSON.parse(row.contributing_input_ids) as string[],
    conversation_digest: row.conversation_digest,
    message_count: row.message_count,
    sequence: row.sequence,
  };
}

export function signalToRow(signal: RoutedSignal): Insertable<SignalOutboxTable> {
  return {
    sequence: signal.sequence,
    kind: signal.kind,
    session_id: signal.session_id,
    runtime_id: signal.runtime_id,
    agent_runtime_id: signal.agent_runtime_id,
    fence_token: signal.fence_token,
    trace_context: signal.trace_context,
    created_at: signal.created_at,
  };
}

export function signalFromRow(row: Selectable<SignalOutboxTable>): RoutedSignal {
  return {
    sequence: row.sequence,
    kind: row.kind,
    session_id: row.session_id,
    runtime_id: row.runtime_id,
    agent_runtime_id: row.agent_runtime_id,
    fence_token: row.fence_token,
    trace_context: row.trace_context,
    created_at: row.created_at,
  };
}

/** Whether a machine field belongs to the ops snapshot (persistence.md §4.3): every `op_*` and `completion_*` field. */
export function isOpsField(name: string): boolean {
  return name.startsWith('op_') || name.startsWith('completion_');
}

/** The ops-snapshot row of a committed document. */
export function opsSnapshotOf(doc: SessionDocument): Insertable<OpsSnapshotsTable> {
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(doc.machine)) if (isOpsField(name)) fields[name] = value;
  return {
    runtime_id: doc.runtime_id,
    epoch_id: doc.epoch_id,
    snapshot: JSON.stringify(fields),
    next_completion_seq: doc.machine.next_completion_seq,
    completion_agent_applied_cursor: doc.machine.completion_agent_applied_cursor,
    completion_runtime_observed_cursor: doc.machine.completion_runtime_observed_cursor,
    completion_runtime_injected_cursor: doc.machine.completion_runtime_injected_cursor,
    updated_at: doc.updated_at,
  };
}

/** What decides whether the ops snapshot changed (everything but `updated_at`). */
export function opsSnapshotKey(row: Insertable<OpsSnapshotsTable>): string {
  return `${row.epoch_id}\u0000${row.next_completion_seq}\u0000${row.snapshot}`;
}
