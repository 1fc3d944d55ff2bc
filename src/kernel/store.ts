/**
 * The store of record, as the kernel shell sees it. One {@link SessionCommit}
 * is one transaction: the session document, every changed input row, an
 * optional boundary receipt and the routed composition signals the change
 * emitted (decision 5) commit together or not at all.
 *
 * This issue ships {@link InMemoryRuntimeStore}; the PostgreSQL store
 * implements the same interface.
 */
import type { MachineState, Phase, RuntimeBoundary } from '../machine/index.js';
import type { Durability, Input } from './input.js';

export type InputPublicPhase =
  | 'accepted'
  | 'queued'
  | 'staged'
  | 'applied'
  | 'applied_pending_consumption'
  | 'consumed'
  | 'superseded'
  | 'coalesced'
  | 'abandoned';

export type TerminalOutcomeView =
  | { readonly outcome_type: 'consumed' }
  | { readonly outcome_type: 'superseded'; readonly superseded_by: string }
  | { readonly outcome_type: 'coalesced'; readonly aggregate_id: string }
  | {
      readonly outcome_type: 'abandoned';
      readonly reason: string;
      readonly attempts: number | null;
    };

export interface InputHistoryEntry {
  readonly at: number;
  readonly from: InputPublicPhase | null;
  readonly to: InputPublicPhase;
  readonly reason: string | null;
}

/** One input's durable row (persistence.md §1.1, trimmed to what this kernel uses). */
export interface StoredInputRow {
  readonly runtime_id: string;
  readonly input_id: string;
  readonly phase: InputPublicPhase;
  readonly terminal_outcome: TerminalOutcomeView | null;
  readonly durability: Durability;
  readonly idempotency_key: string | null;
  readonly lane: 'queue' | 'steer' | null;
  readonly admission_sequence: number | null;
  readonly attempt_count: number;
  readonly last_run_id: string | null;
  readonly last_boundary_sequence: number | null;
  readonly input: Input;
  readonly history: readonly InputHistoryEntry[];
  readonly trace_context: string | null;
  readonly created_at: number;
  readonly updated_at: number;
}

export interface BoundaryReceipt {
  readonly run_id: string;
  readonly boundary: RuntimeBoundary;
  readonly contributing_input_ids: readonly string[];
  readonly conversation_digest: string | null;
  readonly message_count: number;
  readonly sequence: number;
}

export interface SessionDocument {
  readonly session_id: string;
  readonly runtime_id: string;
  /** The phase to recover into (live-only phases collapse, machine.md §2.6). */
  readonly durable_phase: Phase;
  readonly machine: MachineState;
  readonly epoch_id: string;
  readonly updated_at: number;
}

export type RoutedSignalKind = 'RuntimeBound' | 'RuntimeRetired' | 'RuntimeDestroyed';

/** A durable composition signal (decision 5): global, gap-free `sequence`. */
export interface RoutedSignal {
  readonly sequence: number;
  readonly kind: RoutedSignalKind;
  readonly session_id: string;
  readonly runtime_id: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly trace_context: string | null;
  readonly created_at: number;
}

export type RoutedSignalDraft = Omit<RoutedSignal, 'sequence'>;

export interface SessionCommit {
  readonly session_id: string;
  readonly runtime_id: string;
  readonly document: SessionDocument;
  readonly inputs: readonly StoredInputRow[];
  readonly receipt: BoundaryReceipt | null;
  readonly signals: readonly RoutedSignalDraft[];
}

export interface RuntimeStore {
  /** Commits atomically; returns the signals with their assigned sequence numbers. A duplicate receipt fails the whole commit. */
  commit(change: SessionCommit): Promise<readonly RoutedSignal[]>;
  loadSession(runtimeId: string): Promise<SessionDocument | null>;
  loadInputs(runtimeId: string): Promise<readonly StoredInputRow[]>;
  loadInput(runtimeId: string, inputId: string): Promise<StoredInputRow | null>;
  findInputByIdempotencyKey(runtimeId: string, key: string): Promise<StoredInputRow | null>;
  loadBoundaryReceipt(runtimeId: string, runId: string, sequence: number): Promise<BoundaryReceipt | null>;
  /** Forgets a session's document and rows (unregister). */
  deleteSession(runtimeId: string): Promise<void>;
}

/** Reads the durable signal stream from a cursor (at-least-once). */
export interface SignalOutbox {
  readSignals(afterSequence: number, limit: number): Promise<readonly RoutedSignal[]>;
  /** Calls `listener` for every signal committed after `afterSequence`, in order. */
  subscribe(afterSequence: number, listener: (signal: RoutedSignal) => void): () => void;
}

/** A store that keeps everything in process memory. For unit tests and the in-process kernel. */
export class InMemoryRuntimeStore implements RuntimeStore, SignalOutbox {
  private readonly sessions = new Map<string, SessionDocument>();
  private readonly inputs = new Map<string, Map<string, StoredInputRow>>();
  private readonly receipts = new Map<string, BoundaryReceipt>();
  private readonly signals: RoutedSignal[] = [];
  private readonly listeners = new Set<(s: RoutedSignal) => void>();
  /** Test hook: when set, the next commits fail with this error. */
  failNextCommits: { count: number; message: string } | null = null;
  /** Number of successful commits (diagnostics and tests). */
  commitCount = 0;

  async commit(change: SessionCommit): Promise<readonly RoutedSignal[]> {
    if (this.failNextCommits && this.failNextCommits.count > 0) {
      this.failNextCommits.count -= 1;
      throw new Error(this.failNextCommits.message);
    }
    if (change.receipt) {
      const key = receiptKey(change.runtime_id, change.receipt.run_id, change.receipt.sequence);
      if (this.receipts.has(key)) throw new Error(`duplicate boundary receipt ${key}`);
      this.receipts.set(key, change.receipt);
    }
    this.sessions.set(change.runtime_id, change.document);
    let rows = this.inputs.get(change.runtime_id);
    if (!rows) {
      rows = new Map();
      this.inputs.set(change.runtime_id, rows);
    }
    for (const row of change.inputs) rows.set(row.input_id, row);
    const committed = change.signals.map((s) => ({ ...s, sequence: this.signals.length + 1 }) as RoutedSignal);
    for (const s of committed) this.signals.push(s);
    this.commitCount += 1;
    for (const s of committed) for (const l of this.listeners) l(s);
    return committed;
  }

  async loadSession(runtimeId: string): Promise<SessionDocument | null> {
    return this.sessions.get(runtimeId) ?? null;
  }

  async loadInputs(runtimeId: string): Promise<readonly StoredInputRow[]> {
    return [...(this.inputs.get(runtimeId)?.values() ?? [])];
  }

  async loadInput(runtimeId: string, inputId: string): Promise<StoredInputRow | null> {
    return this.inputs.get(runtimeId)?.get(inputId) ?? null;
  }

  async findInputByIdempotencyKey(runtimeId: string, key: string): Promise<StoredInputRow | null> {
    for (const row of this.inputs.get(runtimeId)?.values() ?? []) if (row.idempotency_key === key) return row;
    return null;
  }

  async loadBoundaryReceipt(runtimeId: string, runId: string, sequence: number): Promise<BoundaryReceipt | null> {
    return this.receipts.get(receiptKey(runtimeId, runId, sequence)) ?? null;
  }

  async deleteSession(runtimeId: string): Promise<void> {
    this.sessions.delete(runtimeId);
    this.inputs.delete(runtimeId);
  }

  async readSignals(afterSequence: number, limit: number): Promise<readonly RoutedSignal[]> {
    return this.signals.slice(afterSequence, afterSequence + limit);
  }

  subscribe(afterSequence: number, listener: (signal: RoutedSignal) => void): () => void {
    for (const s of this.signals.slice(afterSequence)) listener(s);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function receiptKey(runtimeId: string, runId: string, sequence: number): string {
  return `${runtimeId}|${runId}|${sequence}`;
}
