/**
 * The store of record, as the kernel shell sees it. One {@link SessionCommit}
 * is one transaction: the session document, every changed input row, an
 * optional boundary receipt and the routed composition signals the change
 * emitted (decision 5) commit together or not at all.
 *
 * This issue ships {@link InMemoryRuntimeStore}; the PostgreSQL store
 * implements the same interface.
 */
import { CommitFencedError, InMemorySessionLeases, type CommitFence } from './leases.js';
import { createHash } from 'node:crypto';
import type {
  MachineState,
  PeerResponseTerminalApplyIntent,
  Phase,
  RuntimeBoundary,
  RuntimeExecutionKind,
} from '../machine/index.js';
import type { CompletionOutcome } from './completion.js';
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
  /** The submitted input; a large content field is externalised to a blob (see `content_blob_id`) and left empty here. */
  readonly input: Input;
  /** Blob holding the externalised content field, or `null`. */
  readonly content_blob_id: string | null;
  /** Admission-stamped execution semantics; recovery re-installs them and never re-derives them. */
  readonly runtime_semantics: RuntimeSemantics | null;
  /** The completion a waiter received when the input's run ended (terminal completion carrier), if any. */
  readonly terminal_completion?: CompletionOutcome | null;
  readonly history: readonly InputHistoryEntry[];
  readonly trace_context: string | null;
  readonly created_at: number;
  readonly updated_at: number;
}

/** The batch-grouping facts minted at admission (machine.md §3.5). */
export interface RuntimeSemantics {
  readonly boundary: RuntimeBoundary;
  readonly execution_kind: RuntimeExecutionKind;
  readonly peer_response_terminal_apply_intent: PeerResponseTerminalApplyIntent | null;
  readonly continuation_kind: 'Ordinary' | 'WorkgraphAttention';
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
  /** The machine state without its per-input fields (see `INPUT_FACT_FIELDS`); inputs live in their rows. */
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

/**
 * A peer message waiting in a session's durable peer inbox (decision 9) until the session's comms
 * drain admits it as a peer input. Written before the delivering call is acknowledged; removed in
 * the same commit that admits it ({@link SessionCommit.taken_peer_message}) or, when the session
 * refuses it, by {@link RuntimeStore.discardPeerMessage}.
 */
export interface PeerMessage {
  readonly runtime_id: string;
  readonly session_id: string;
  /** Arrival order: increasing within a store (not gap-free). */
  readonly sequence: number;
  /** The validated input (its `id` is fixed at delivery, so a replay is the same input). */
  readonly input: Input;
  readonly created_at: number;
}

export type PeerMessageDraft = Omit<PeerMessage, 'sequence'>;

export interface SessionCommit {
  readonly session_id: string;
  readonly runtime_id: string;
  readonly document: SessionDocument;
  /**
   * `false` when the document's durable content is the one this process last committed for
   * the session (only live-only or row-derived fields changed): the store may skip rewriting it
   * and the ops snapshot derived from it.
   */
  readonly document_changed?: boolean;
  /** Upserted by (runtime_id, input_id). */
  readonly inputs: readonly StoredInputRow[];
  /** Rows removed in the same transaction (e.g. ephemeral inputs dropped by recovery). */
  readonly deleted_input_ids?: readonly string[];
  readonly receipt: BoundaryReceipt | null;
  readonly signals: readonly RoutedSignalDraft[];
  /**
   * The `sequence` of a message of this runtime's peer inbox that this commit admits: it is
   * removed in the same transaction. When it is no longer in the inbox (already taken), the whole
   * commit fails and writes nothing, so a peer message is admitted at most once.
   */
  readonly taken_peer_message?: number;
  /**
   * When set, the commit applies only while the session's lease (decision 12) still has this owner
   * and token; otherwise it fails with a `CommitFencedError` and writes nothing.
   */
  readonly fence?: CommitFence;
}

/** What a retention pass removed. */
export interface PruneReport {
  readonly inputs: number;
  readonly receipts: number;
  readonly signals: number;
}

export interface RuntimeStore {
  /** Commits atomically; returns the signals with their assigned sequence numbers. A duplicate receipt fails the whole commit. */
  commit(change: SessionCommit): Promise<readonly RoutedSignal[]>;
  loadSession(runtimeId: string): Promise<SessionDocument | null>;
  loadInputs(runtimeId: string): Promise<readonly StoredInputRow[]>;
  loadInput(runtimeId: string, inputId: string): Promise<StoredInputRow | null>;
  findInputByIdempotencyKey(runtimeId: string, key: string): Promise<StoredInputRow | null>;
  loadBoundaryReceipt(runtimeId: string, runId: string, sequence: number): Promise<BoundaryReceipt | null>;
  /** Forgets a session's document, rows and peer inbox (unregister). */
  deleteSession(runtimeId: string): Promise<void>;
  /** Appends a message to the runtime's peer inbox (durable when the promise resolves); returns it with its sequence. */
  appendPeerMessage(message: PeerMessageDraft): Promise<PeerMessage>;
  /** The runtime's oldest `limit` inbox messages, in arrival order. */
  loadPeerMessages(runtimeId: string, limit: number): Promise<readonly PeerMessage[]>;
  /** Removes one inbox message without admitting it (the session refused it); whether it was there. */
  discardPeerMessage(runtimeId: string, sequence: number): Promise<boolean>;
  /**
   * Retention: removes terminal input rows and boundary receipts last updated before
   * `olderThanMs` (epoch ms) and signals every consumer has acknowledged that are older,
   * at most `batchSize` rows of each kind per call.
   */
  prune(olderThanMs: number, batchSize: number): Promise<PruneReport>;
  /** Releases connections (no-op in memory). */
  close(): Promise<void>;
}

/** Content-addressed blobs (persistence.md §3). Ids are `sha256:<hex>` of the bytes. */
export interface BlobStore {
  /** Idempotent: putting the same bytes twice returns the same id. Throws when over the size bound. */
  putBlob(bytes: Uint8Array, mediaType: string): Promise<string>;
  /** Throws a `BlobNotFoundError` for an unknown id. */
  getBlob(blobId: string): Promise<{ readonly bytes: Uint8Array; readonly media_type: string }>;
  /** Idempotent. */
  deleteBlob(blobId: string): Promise<void>;
}

/** Largest blob a store accepts (documented in README "Limits"). */
export const MAX_BLOB_BYTES = 16 * 1024 * 1024;

export class BlobNotFoundError extends Error {
  constructor(readonly blobId: string) {
    super(`blob ${blobId} not found`);
    this.name = 'BlobNotFoundError';
  }
}

/** Reads the durable signal stream from a cursor (at-least-once). */
export interface SignalOutbox {
  readSignals(afterSequence: number, limit: number): Promise<readonly RoutedSignal[]>;
  /** Calls `listener` for every signal committed after `afterSequence`, in order. */
  subscribe(afterSequence: number, listener: (signal: RoutedSignal) => void): () => void;
  /** Records that `consumer` has processed every signal up to `sequence` (never moves back). */
  acknowledgeSignals(consumer: string, sequence: number): Promise<void>;
  /** The consumer's acknowledged cursor (0 when unknown). */
  signalCursor(consumer: string): Promise<number>;
}

/** A store that keeps everything in process memory. For unit tests and the in-process kernel. */
export class InMemoryRuntimeStore implements RuntimeStore, SignalOutbox {
  private readonly sessions = new Map<string, SessionDocument>();
  private readonly inputs = new Map<string, Map<string, StoredInputRow>>();
  private readonly receipts = new Map<string, BoundaryReceipt>();
  private readonly signals: RoutedSignal[] = [];
  private readonly listeners = new Set<(s: RoutedSignal) => void>();
  private readonly receiptTimes = new Map<string, number>();
  private readonly cursors = new Map<string, number>();
  private readonly prunedSignals = new Set<number>();
  /** runtime id → its peer inbox in arrival order. */
  private readonly peerInboxes = new Map<string, PeerMessage[]>();
  private peerSequence = 0;
  /** Test hook: when set, the next commits fail with this error. */
  failNextCommits: { count: number; message: string } | null = null;
  /** Number of successful commits (diagnostics and tests). */
  commitCount = 0;

  /** `leases`: the lease table fenced commits are checked against (share one between "replicas" in tests). */
  constructor(readonly leases: InMemorySessionLeases = new InMemorySessionLeases()) {}

  async commit(change: SessionCommit): Promise<readonly RoutedSignal[]> {
    if (this.failNextCommits && this.failNextCommits.count > 0) {
      this.failNextCommits.count -= 1;
      throw new Error(this.failNextCommits.message);
    }
    if (change.fence && !this.leases.admits(change.session_id, change.fence)) {
      throw new CommitFencedError(change.runtime_id, change.session_id, change.fence);
    }
    const taken = change.taken_peer_message;
    const inbox = this.peerInboxes.get(change.runtime_id) ?? [];
    const takenAt = taken === undefined ? -1 : inbox.findIndex((m) => m.sequence === taken);
    if (taken !== undefined && takenAt < 0) {
      throw new Error(`peer message ${taken} of ${change.runtime_id} is no longer in the inbox (already taken); nothing was written`);
    }
    this.checkIdempotencyKeys(change);
    if (change.receipt) {
      const key = receiptKey(change.runtime_id, change.receipt.run_id, change.receipt.sequence);
      if (this.receipts.has(key)) throw new Error(`duplicate boundary receipt ${key}`);
      this.receipts.set(key, change.receipt);
      this.receiptTimes.set(key, change.document.updated_at);
    }
    if (takenAt >= 0) inbox.splice(takenAt, 1);
    if (change.document_changed !== false || !this.sessions.has(change.runtime_id)) this.sessions.set(change.runtime_id, change.document);
    let rows = this.inputs.get(change.runtime_id);
    if (!rows) {
      rows = new Map();
      this.inputs.set(change.runtime_id, rows);
    }
    for (const row of change.inputs) rows.set(row.input_id, row);
    for (const id of change.deleted_input_ids ?? []) rows.delete(id);
    const committed = change.signals.map((s, i) => ({ ...s, sequence: this.signals.length + 1 + i }) as RoutedSignal);
    for (const s of committed) this.signals.push(s);
    this.commitCount += 1;
    for (const s of committed) for (const l of this.listeners) l(s);
    return committed;
  }

  /** Idempotency keys stay unique per runtime, judged on the commit's final image (persistence.md §1.5). */
  private checkIdempotencyKeys(change: SessionCommit): void {
    if (!change.inputs.some((r) => r.idempotency_key !== null)) return;
    const gone = new Set(change.deleted_input_ids ?? []);
    const changed = new Map(change.inputs.map((r) => [r.input_id, r]));
    const owners = new Map<string, string>();
    const existing = [...(this.inputs.get(change.runtime_id)?.values() ?? [])].filter((r) => !changed.has(r.input_id));
    for (const row of [...existing, ...changed.values()]) {
      if (row.idempotency_key === null || gone.has(row.input_id)) continue;
      const owner = owners.get(row.idempotency_key);
      if (owner !== undefined && owner !== row.input_id) throw new Error(`duplicate idempotency key ${row.idempotency_key} (inputs ${owner} and ${row.input_id})`);
      owners.set(row.idempotency_key, row.input_id);
    }
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
    this.peerInboxes.delete(runtimeId);
  }

  async appendPeerMessage(message: PeerMessageDraft): Promise<PeerMessage> {
    this.peerSequence += 1;
    const stored: PeerMessage = { ...message, input: structuredClone(message.input), sequence: this.peerSequence };
    const inbox = this.peerInboxes.get(message.runtime_id) ?? [];
    inbox.push(stored);
    this.peerInboxes.set(message.runtime_id, inbox);
    return stored;
  }

  async loadPeerMessages(runtimeId: string, limit: number): Promise<readonly PeerMessage[]> {
    return (this.peerInboxes.get(runtimeId) ?? []).slice(0, Math.max(0, Math.floor(limit)));
  }

  async discardPeerMessage(runtimeId: string, sequence: number): Promise<boolean> {
    const inbox = this.peerInboxes.get(runtimeId) ?? [];
    const at = inbox.findIndex((m) => m.sequence === sequence);
    if (at < 0) return false;
    inbox.splice(at, 1);
    return true;
  }

  async prune(olderThanMs: number, batchSize: number): Promise<PruneReport> {
    let inputs = 0;
    for (const rows of this.inputs.values()) {
      for (const [id, row] of rows) {
        if (inputs >= batchSize) break;
        if (row.terminal_outcome !== null && row.updated_at < olderThanMs) {
          rows.delete(id);
          inputs += 1;
        }
      }
    }
    let receipts = 0;
    for (const key of this.receipts.keys()) {
      if (receipts >= batchSize) break;
      if ((this.receiptTimes.get(key) ?? 0) < olderThanMs) {
        this.receipts.delete(key);
        this.receiptTimes.delete(key);
        receipts += 1;
      }
    }
    const acked = this.cursors.size === 0 ? 0 : Math.min(...this.cursors.values());
    let signals = 0;
    for (const s of this.signals) {
      if (signals >= batchSize) break;
      if (s && s.sequence <= acked && s.created_at < olderThanMs && !this.prunedSignals.has(s.sequence)) {
        this.prunedSignals.add(s.sequence);
        signals += 1;
      }
    }
    return { inputs, receipts, signals };
  }

  async close(): Promise<void> {}

  async readSignals(afterSequence: number, limit: number): Promise<readonly RoutedSignal[]> {
    return this.signals.slice(afterSequence, afterSequence + limit).filter((s) => !this.prunedSignals.has(s.sequence));
  }

  async acknowledgeSignals(consumer: string, sequence: number): Promise<void> {
    this.cursors.set(consumer, Math.max(this.cursors.get(consumer) ?? 0, sequence));
  }

  async signalCursor(consumer: string): Promise<number> {
    return this.cursors.get(consumer) ?? 0;
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

/** Blobs in process memory (unit tests and the in-process kernel). */
export class InMemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, { readonly bytes: Uint8Array; readonly media_type: string }>();

  async putBlob(bytes: Uint8Array, mediaType: string): Promise<string> {
    if (bytes.byteLength > MAX_BLOB_BYTES) throw new Error(`blob of ${bytes.byteLength} bytes exceeds the ${MAX_BLOB_BYTES}-byte limit`);
    const id = blobIdOf(bytes);
    if (!this.blobs.has(id)) this.blobs.set(id, { bytes: new Uint8Array(bytes), media_type: mediaType });
    return id;
  }

  async getBlob(blobId: string): Promise<{ readonly bytes: Uint8Array; readonly media_type: string }> {
    const b = this.blobs.get(blobId);
    if (!b) throw new BlobNotFoundError(blobId);
    return b;
  }

  async deleteBlob(blobId: string): Promise<void> {
    this.blobs.delete(blobId);
  }
}

/** `sha256:<hex>` of the bytes. */
export function blobIdOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
