/**
 * One session's shell state: the machine authority, the input ledger, the
 * completion waiters, the mutation gate and the executor attachment.
 *
 * Every change to the machine state goes through a {@link SessionTxn}: inputs
 * are applied to the reducer one by one on a staged copy; `commit` writes the
 * staged state, the changed input rows, an optional receipt and the routed
 * signals in one store transaction and only then installs the state.
 * Dropping a transaction is the rollback.
 */
import {
  describeRejection,
  type Effect,
  type InputPhase,
  type MachineInput,
  type MachineState,
  type Phase,
  type Rejection,
  type Step,
  type Transition,
  withoutInputFacts,
  INPUT_FACT_FIELDS,
  INPUT_TERMINAL_PHASES,
  initialMachineState,
} from '../machine/index.js';
import { classifyRuntimeLifecycleDurability, visibleRuntimePhase } from '../machine/classify.js';
import { checkInvariants } from '../machine/invariants.js';
import { installInputFacts, WorkingState } from '../machine/working-state.js';
import { LIVE_RUN_FIELDS } from '../machine/arms/recovery.js';
import type { Clock } from './clock.js';
import { CommitFencedError, type CommitFence } from './leases.js';
import { CompletionRegistry, type CompletionOutcome } from './completion.js';
import { guardRejected, internalError, invalidPhase, KernelError, runtimeDestroyed } from './errors.js';
import { MutationGate } from './gate.js';
import type { AdmissionInputKind, ValidatedInput } from './input.js';
import type {
  BoundaryReceipt,
  InputHistoryEntry,
  InputPublicPhase,
  RoutedSignal,
  RoutedSignalDraft,
  RuntimeSemantics,
  RuntimeStore,
  StoredInputRow,
  TerminalOutcomeView,
} from './store.js';
import type { OpsRegistry } from './ops-registry.js';
import type { RuntimeLoop } from './runtime-loop.js';
import type { PeerInbox } from './peer-inbox.js';
import type { Span } from '@opentelemetry/api';
import { activeTraceparent, ATTR, endWithError, formatTraceparent, startCommandSpan, withSpan } from '../telemetry/kernel-tracing.js';

/** What the shell remembers about an input beyond the machine's facts. */
export interface LedgerRecord {
  readonly input: ValidatedInput;
  readonly kind: AdmissionInputKind;
  readonly created_at: number;
  /** The last durable projection of this input. */
  readonly row: StoredInputRow;
}

export type Attachment =
  | { readonly kind: 'none' }
  | { readonly kind: 'attaching' }
  | { readonly kind: 'active'; readonly loop: RuntimeLoop; readonly executor: string };

export type DrainSlotPhase = 'Inactive' | 'Running' | 'Stopped' | 'ExitedRespawnable';

export interface DrainSlot {
  phase: DrainSlotPhase;
  mode: 'PersistentHost' | null;
  commsRuntimeId: string | null;
  task: Promise<void> | null;
  abort: AbortController | null;
}

export interface SessionOptions {
  readonly assertInvariants: boolean;
}

export class SessionRuntime {
  state: MachineState;
  readonly ledger = new Map<string, LedgerRecord>();
  /** Idempotency keys of inputs the machine has archived (the live machine forgets them). */
  readonly archivedKeys = new Map<string, string>();
  readonly waiters = new CompletionRegistry();
  readonly gate = new MutationGate();
  attachment: Attachment = { kind: 'none' };
  readonly drain: DrainSlot = { phase: 'Inactive', mode: null, commsRuntimeId: null, task: null, abort: null };
  /** The session's async-operations registry (set by the kernel at registration). */
  ops!: OpsRegistry;
  /** Durable-per-session peer inbox drained by the comms drain (set by the kernel). */
  inbox!: PeerInbox;
  /** `reload_required` after a durable write failed behind a live transition (persistence.md §7). */
  health: { readonly status: 'healthy' } | { readonly status: 'reload_required'; readonly reason: string } = { status: 'healthy' };
  /** What cold recovery did when this entry was loaded from the store (`null` for a fresh session). */
  recoveryReport: { inputs_recovered: number; inputs_abandoned: number; inputs_requeued: number; details: string[] } | null = null;
  /** Called with every input row this session commits (after it is installed); see `watchRows`. */
  private readonly rowListeners = new Set<(row: StoredInputRow) => void>();

  /**
   * Observes committed input rows (stage changes) of this session, e.g. for streaming
   * waiters that watch an input reach a target stage. Returns the unsubscribe function.
   */
  watchRows(listener: (row: StoredInputRow) => void): () => void {
    this.rowListeners.add(listener);
    return () => this.rowListeners.delete(listener);
  }

  /** The state of the last committed document (see `sameDurableContent`). */
  private lastDocumentState: MachineState | null = null;
  /** The document (`withoutInputFacts`) last handed to the store. */
  private lastDocument: MachineState | null = null;
  /** Ledger size at which the kernel next scans it for terminal records to forget (`pruneLedger`). */
  nextLedgerScanAt = 0;
  /** Ids in admission order (ListActiveInputs order). */
  readonly admissionOrder: string[] = [];

  constructor(
    readonly sessionId: string,
    readonly runtimeId: string,
    readonly epochId: string,
    initial: MachineState,
    readonly store: RuntimeStore,
    readonly clock: Clock,
    readonly options: SessionOptions,
    /** The lease every commit of this session is conditional on (decision 12), or null without ownership. */
    readonly fence: CommitFence | null = null,
  ) {
    this.state = initial;
  }

  get phase(): Phase {
    return this.state.lifecycle_phase;
  }

  /** The phase outsiders see (Running with pre-run Retired shows as Retired). */
  get visiblePhase(): Phase {
    return visibleRuntimePhase(this.state);
  }

  get loop(): RuntimeLoop | null {
    return this.attachment.kind === 'active' && this.attachment.loop.live ? this.attachment.loop : null;
  }

  /** Demotes a dead attachment (its loop exited) back to none. */
  clearDeadAttachment(): void {
    if (this.attachment.kind === 'active' && !this.attachment.loop.live) this.attachment = { kind: 'none' };
  }

  /** Opens a transaction; refused while the session needs a reload. */
  begin(command: string): SessionTxn {
    if (this.health.status === 'reload_required') {
      throw new KernelError(
        'STORE_UNAVAILABLE',
        `session ${this.sessionId} needs a reload after a failed durable write (${this.health.reason}); RegisterSession reloads it from the store`,
        { session_id: this.sessionId, health: 'reload_required' },
      );
    }
    return new SessionTxn(this, command);
  }

  /** Non-terminal inputs in admission order. */
  activeInputIds(state: MachineState = this.state): string[] {
    return this.admissionOrder.filter((id) => {
      const p = state.input_phases[id];
      return p !== undefined && !isTerminalPhase(p);
    });
  }

  /** Writes a transaction and installs its state. Throws (and installs nothing) if the store refuses. */
  async commit(tx: SessionTxn): Promise<readonly RoutedSignal[]> {
    if (tx.committed) throw internalError(`${tx.command}: transaction committed twice`);
    const span = tx.span;
    if (span.isRecording()) {
      span.setAttributes({
        [ATTR.phaseBefore]: tx.phaseBefore,
        [ATTR.phaseAfter]: tx.state.lifecycle_phase,
        [ATTR.transitions]: tx.transitions.length,
      });
    }
    let committed: readonly RoutedSignal[];
    try {
      committed = await withSpan(span, () => this.commitInner(tx));
    } catch (e) {
      endWithError(span, e);
      throw e;
    }
    span.end();
    return committed;
  }

  private async commitInner(tx: SessionTxn): Promise<readonly RoutedSignal[]> {
    tx.seal();
    const now = this.clock.now();
    const rows: StoredInputRow[] = [];
    const records = new Map<string, LedgerRecord>();
    for (const id of tx.touched) {
      const rec = tx.newRecords.get(id) ?? this.ledger.get(id);
      if (!rec) continue;
      const archived = id in tx.state.input_phases ? undefined : tx.archivedRows.get(id);
      const projected = archived ?? projectRow(tx.state, rec, now, tx.history.get(id) ?? null);
      const completion = tx.completions.get(id);
      const row = completion ? { ...projected, terminal_completion: completion } : projected;
      if (row !== rec.row || tx.newRecords.has(id)) {
        rows.push(row);
        records.set(id, { ...rec, row });
      }
    }
    if (this.options.assertInvariants) {
      const violations = checkInvariants(tx.state);
      if (violations.length > 0) {
        throw internalError(
          `${tx.command}: invariant violated: ${violations.map((v) => `${v.invariant} (${v.detail})`).join('; ')}`,
        );
      }
    }
    const traceContext = formatTraceparent(tx.span.spanContext()) ?? activeTraceparent();
    const signals: RoutedSignalDraft[] = tx.effects.flatMap((e) => routedSignalOf(e, this, now, traceContext));
    const documentChanged = this.lastDocumentState === null || this.lastDocument === null || !sameDurableContent(this.lastDocumentState, tx.state);
    // An unchanged document is not rewritten: the last one stands for it (same durable content).
    const machine = documentChanged || this.lastDocument === null ? withoutInputFacts(tx.state) : this.lastDocument;
    let committed: readonly RoutedSignal[];
    try {
      committed = await this.store.commit({
        session_id: this.sessionId,
        runtime_id: this.runtimeId,
        document: {
          session_id: this.sessionId,
          runtime_id: this.runtimeId,
          durable_phase: classifyRuntimeLifecycleDurability(tx.state.lifecycle_phase, tx.state.pre_run_phase),
          machine,
          epoch_id: this.epochId,
          updated_at: now,
        },
        inputs: rows,
        document_changed: documentChanged,
        deleted_input_ids: [...tx.deletedInputs],
        receipt: tx.receipt,
        signals,
        ...(tx.peerMessageTaken !== null ? { taken_peer_message: tx.peerMessageTaken } : {}),
        ...(this.fence ? { fence: this.fence } : {}),
      });
    } catch (e) {
      if (e instanceof CommitFencedError) {
        throw new KernelError('SESSION_OWNED_ELSEWHERE', `${tx.command}: ${e.message}`, { session_id: this.sessionId, replica_id: e.fence.replica_id });
      }
      throw new KernelError('STORE_UNAVAILABLE', `${tx.command}: the store refused the commit: ${errorText(e)}`);
    }
    tx.committed = true;
    // Durable now: the per-input overlays become plain maps (see `installInputFacts`).
    tx.state = installInputFacts(tx.state);
    this.lastDocumentState = tx.state;
    this.lastDocument = machine;
    this.state = tx.state;
    for (const [id, rec] of records) {
      if (!this.ledger.has(id)) this.admissionOrder.push(id);
      this.ledger.set(id, rec);
    }
    for (const [key, id] of tx.archivedKeys) this.archivedKeys.set(key, id);
    for (const row of rows) for (const l of this.rowListeners) l(row);
    return committed;
  }
}

/** A staged change to one session. */
export class SessionTxn {
  state: MachineState;
  readonly effects: Effect[] = [];
  readonly transitions: string[] = [];
  readonly touched = new Set<string>();
  readonly newRecords = new Map<string, LedgerRecord>();
  readonly history = new Map<string, string>();
  readonly archivedKeys = new Map<string, string>();
  /** Completions this transaction's runs produced, recorded on the inputs' rows. */
  readonly completions = new Map<string, CompletionOutcome>();
  /** Input rows this transaction deletes from the store. */
  readonly deletedInputs = new Set<string>();
  /** For inputs archived in this transaction: their row projected just before archival. */
  readonly archivedRows = new Map<string, StoredInputRow>();
  /** This transaction's private copy of the state, made on the first input (see `WorkingState`). */
  private working: WorkingState | null = null;
  receipt: BoundaryReceipt | null = null;
  /** The peer-inbox message this transaction admits: its commit removes it from the inbox. */
  peerMessageTaken: number | null = null;
  committed = false;
  /** The `meerkat.<command>` span (non-recording when tracing is off); ended by commit or a rejection. */
  readonly span: Span;
  readonly phaseBefore: Phase;

  constructor(
    readonly session: SessionRuntime,
    readonly command: string,
  ) {
    this.state = session.state;
    this.phaseBefore = session.state.lifecycle_phase;
    this.span = startCommandSpan(command, session.sessionId, session.runtimeId);
  }

  /** Makes the commit take inbox message `sequence` (admitted by this transaction; see `peer-inbox.ts`). */
  takePeerMessage(sequence: number): void {
    this.peerMessageTaken = sequence;
  }

  /** Records a reducer rejection as a `meerkat.rejection` event on this transaction's span. */
  private traceRejection(step: Rejection, input: MachineInput, optional: boolean): void {
    if (!this.span.isRecording()) return;
    const id = (input as { readonly input_id?: unknown }).input_id;
    this.span.addEvent('meerkat.rejection', {
      [ATTR.input]: step.input,
      [ATTR.phase]: step.phase,
      [ATTR.guard]: step.guard ?? step.kind,
      'meerkat.rejection.optional': optional,
      ...(typeof id === 'string' ? { [ATTR.inputId]: id } : {}),
    });
  }

  /** Applies an input to the staged state; a rejection throws the mapped domain error and changes nothing. */
  apply(input: MachineInput, reason?: string): Transition {
    if (this.committed) throw internalError(`${this.command}: transaction already committed`);
    const archived = this.projectBeforeArchive(input);
    const step = this.step(input);
    if (!step.ok) {
      this.traceRejection(step, input, false);
      const error =
        step.phase === 'Destroyed'
          ? runtimeDestroyed(this.session.sessionId)
          : step.kind === 'NoMatchingTransition'
            ? invalidPhase(this.command, step.phase, `${this.command}: ${describeRejection(step)}`)
            : guardRejected(step.input, step.phase, step.guard ?? 'unknown', `${this.command}: ${describeRejection(step)}`);
      endWithError(this.span, error);
      throw error;
    }
    this.accept(step, input, reason, archived);
    return step;
  }

  /**
   * The row of an input about to be archived, projected from the state *before* the archive
   * (the reducer may update this transaction's own objects in place).
   */
  private projectBeforeArchive(input: MachineInput): StoredInputRow | null {
    if (input.type !== 'ArchiveTerminalInput' || this.archivedRows.has(input.input_id)) return null;
    const rec = this.record(input.input_id);
    return rec ? projectRow(this.state, rec, this.session.clock.now(), this.history.get(input.input_id) ?? null) : null;
  }

  /** One reducer step on this transaction's working copy of the state. */
  private step(input: MachineInput): Step {
    if (this.committed) throw internalError(`${this.command}: transaction already committed`);
    this.working ??= new WorkingState(this.state);
    return this.working.apply(input);
  }

  /** Ends the working copy: `state` becomes a settled state sharing unchanged parts with the session's (see `WorkingState.settle`). */
  seal(): void {
    if (this.working === null) return;
    this.state = this.working.settle(this.session.state);
    this.working = null;
  }

  /** Applies an input if the reducer accepts it; returns whether it did. */
  tryApply(input: MachineInput, reason?: string): Transition | null {
    if (this.committed) throw internalError(`${this.command}: transaction already committed`);
    const archived = this.projectBeforeArchive(input);
    const step = this.step(input);
    if (!step.ok) {
      this.traceRejection(step, input, true);
      return null;
    }
    this.accept(step, input, reason, archived);
    return step;
  }

  private accept(step: Transition, input: MachineInput, reason: string | undefined, archived: StoredInputRow | null): void {
    if (archived && input.type === 'ArchiveTerminalInput') this.archivedRows.set(input.input_id, archived);
    this.state = step.state;
    this.effects.push(...step.effects);
    this.transitions.push(step.transition);
    const id = (input as { readonly input_id?: unknown }).input_id;
    if (this.span.isRecording()) {
      this.span.addEvent('meerkat.transition', {
        [ATTR.input]: input.type,
        [ATTR.arm]: step.transition,
        'meerkat.from': step.from,
        'meerkat.to': step.to,
        ...(typeof id === 'string' ? { [ATTR.inputId]: id } : {}),
      });
    }
    if (typeof id === 'string') {
      this.touched.add(id);
      if (reason) this.history.set(id, reason);
    }
  }

  /**
   * Projects the rows of this transaction's new inputs as they stand now, so that later steps of
   * the same transaction add their own history entry (an input admitted and staged for its run in
   * one commit reads queued, then staged).
   */
  checkpointNewRecords(now: number): void {
    for (const [id, rec] of this.newRecords) {
      const row = projectRow(this.state, rec, now, this.history.get(id) ?? null);
      if (row !== rec.row) this.newRecords.set(id, { ...rec, row });
      this.history.delete(id);
    }
  }

  /** Records a brand-new input in this transaction's ledger delta. */
  addRecord(record: LedgerRecord): void {
    this.newRecords.set(record.input.id, record);
    this.touched.add(record.input.id);
  }

  record(inputId: string): LedgerRecord | null {
    return this.newRecords.get(inputId) ?? this.session.ledger.get(inputId) ?? null;
  }

  effectsOf<K extends Effect['type']>(type: K): Extract<Effect, { readonly type: K }>[] {
    return this.effects.filter((e): e is Extract<Effect, { readonly type: K }> => e.type === type);
  }
}

export function isTerminalPhase(p: InputPhase): boolean {
  return INPUT_TERMINAL_PHASES.includes(p);
}

const PUBLIC_PHASE: Readonly<Record<InputPhase, InputPublicPhase>> = {
  Queued: 'queued',
  Staged: 'staged',
  Applied: 'applied',
  AppliedPendingConsumption: 'applied_pending_consumption',
  Consumed: 'consumed',
  Superseded: 'superseded',
  Coalesced: 'coalesced',
  Abandoned: 'abandoned',
};

const ABANDON_REASON: Readonly<Record<string, string>> = {
  Retired: 'retired',
  Reset: 'reset',
  Stopped: 'stopped',
  Destroyed: 'destroyed',
  Cancelled: 'cancelled',
  MaxAttemptsExhausted: 'max_attempts_exhausted',
  NeverExecuted: 'never_executed',
};

/** Projects the machine's facts about one input onto its durable row; untracked (archived) inputs keep their row. */
export function projectRow(
  state: MachineState,
  rec: LedgerRecord,
  now: number,
  reason: string | null,
): StoredInputRow {
  const id = rec.input.id;
  const phase = state.input_phases[id];
  if (phase === undefined) return rec.row;
  const pub = PUBLIC_PHASE[phase];
  const terminal = terminalOutcomeOf(state, id);
  const lane = state.input_lane[id] ?? state.input_recovery_lanes[id] ?? null;
  const next = {
    phase: pub,
    terminal_outcome: terminal,
    lane: lane === 'Queue' ? ('queue' as const) : lane === 'Steer' ? ('steer' as const) : null,
    admission_sequence: state.input_admission_seq[id] ?? null,
    attempt_count: state.input_attempt_counts[id] ?? 0,
    last_run_id: state.input_run_associations[id] ?? null,
    last_boundary_sequence: state.input_boundary_sequences[id] ?? null,
    runtime_semantics: semanticsOf(state, id, rec.row.runtime_semantics),
  };
  const prev = rec.row;
  const same =
    prev.phase === next.phase &&
    prev.lane === next.lane &&
    prev.admission_sequence === next.admission_sequence &&
    prev.attempt_count === next.attempt_count &&
    prev.last_run_id === next.last_run_id &&
    prev.last_boundary_sequence === next.last_boundary_sequence &&
    JSON.stringify(prev.runtime_semantics) === JSON.stringify(next.runtime_semantics) &&
    JSON.stringify(prev.terminal_outcome) === JSON.stringify(next.terminal_outcome);
  if (same) return prev;
  const history: InputHistoryEntry[] =
    prev.phase === next.phase && prev.history.length > 0
      ? [...prev.history]
      : [...prev.history, { at: now, from: prev.history.length === 0 ? null : prev.phase, to: next.phase, reason }];
  return { ...prev, ...next, history, updated_at: now };
}

function semanticsOf(state: MachineState, id: string, prev: RuntimeSemantics | null): RuntimeSemantics | null {
  const boundary = state.input_runtime_boundary[id];
  const kind = state.input_runtime_execution_kind[id];
  if (boundary === undefined || kind === undefined) return prev;
  const intent = state.input_runtime_peer_response_terminal_apply_intent[id] ?? null;
  const continuation = prev?.continuation_kind ?? 'Ordinary';
  if (prev && prev.boundary === boundary && prev.execution_kind === kind && prev.peer_response_terminal_apply_intent === intent) return prev;
  return { boundary, execution_kind: kind, peer_response_terminal_apply_intent: intent, continuation_kind: continuation };
}

export function terminalOutcomeOf(state: MachineState, id: string): TerminalOutcomeView | null {
  switch (state.input_terminal_kind[id]) {
    case 'Consumed':
      return { outcome_type: 'consumed' };
    case 'Superseded':
      return { outcome_type: 'superseded', superseded_by: state.input_superseded_by[id] ?? '' };
    case 'Coalesced':
      return { outcome_type: 'coalesced', aggregate_id: state.input_aggregate_id[id] ?? '' };
    case 'Abandoned': {
      const r = state.input_abandon_reason[id] ?? 'Cancelled';
      return {
        outcome_type: 'abandoned',
        reason: ABANDON_REASON[r] ?? r,
        attempts: r === 'MaxAttemptsExhausted' ? (state.input_abandon_attempt_count[id] ?? 0) : null,
      };
    }
    default:
      return null;
  }
}

function routedSignalOf(e: Effect, s: SessionRuntime, now: number, traceContext: string | null): RoutedSignalDraft[] {
  if (e.type !== 'RuntimeBound' && e.type !== 'RuntimeRetired' && e.type !== 'RuntimeDestroyed') return [];
  return [
    {
      kind: e.type,
      session_id: s.sessionId,
      runtime_id: s.runtimeId,
      agent_runtime_id: e.agent_runtime_id,
      fence_token: e.fence_token,
      trace_context: traceContext,
      created_at: now,
    },
  ];
}

/**
 * Whether two states recover identically (ignoring live-only fields, per-input facts and the
 * admission counter, which recovery re-derives from the input rows): then the committed
 * document need not be rewritten. Fields are compared by reference — states share unchanged
 * parts — so a field that changed and changed back only costs a redundant write.
 */
function sameDurableContent(a: MachineState, b: MachineState): boolean {
  if (classifyRuntimeLifecycleDurability(a.lifecycle_phase, a.pre_run_phase) !== classifyRuntimeLifecycleDurability(b.lifecycle_phase, b.pre_run_phase)) {
    return false;
  }
  // Running vs Stopped is durable too: recovery respawns a PersistentHost drain that was running.
  if (a.drain_phase !== b.drain_phase) return false;
  return sameDurableFields(a, b);
}

const NOT_COMPARED = new Set<string>([
  ...INPUT_FACT_FIELDS,
  ...LIVE_RUN_FIELDS,
  'next_admission_seq',
  'lifecycle_phase',
  'registration_phase',
  'drain_phase',
]);
const DURABLE_FIELDS = Object.keys(initialMachineState()).filter((f) => !NOT_COMPARED.has(f));
for (const f of DURABLE_FIELDS) if (!/^[a-z_][a-z0-9_]*$/.test(f)) throw new Error(`state field ${f} is not a plain identifier`);

/** Reference equality of every durable field, unrolled once (a loop over field names costs ~10x more per commit). */
const sameDurableFields = new Function('a', 'b', `return ${DURABLE_FIELDS.map((f) => `a.${f} === b.${f}`).join(' && ')};`) as (
  a: MachineState,
  b: MachineState,
) => boolean;

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
