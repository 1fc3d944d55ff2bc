/**
 * Async-operations lifecycle registry and the wait-all barrier (`machine.md` §6).
 *
 * Every arm is a self-loop in Idle, Attached, Running, Retired and Stopped; arms are
 * expanded per phase and named like the upstream transitions (`StartOpIdle`, …).
 *
 * "Terminal bookkeeping" (§6.2), shared by every terminalising transition:
 * `op_terminal_outcomes[op] := outcome`, `op_terminal_payload[op] := payload`,
 * `active_op_count -= 1`, `next_completion_seq += 1`,
 * `op_completion_seq[op] := next_completion_seq`, the new sequence joins
 * `completion_sequence_claims`, and for a public kind (BackgroundToolOp,
 * MobMemberChild, DetachedJobWait) the completion-feed entry
 * `(sequence, kind, outcome, payload)` is written. Sequences therefore start at 1,
 * are strictly increasing and unique.
 *
 * The pure classifiers at the end of §6.2 are exported as plain functions
 * (`isOpTerminal`, `opActionValidFrom`, …); the shell uses them instead of
 * ad-hoc status checks.
 */
import type { Draft } from '../draft.js';
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import { get, hasKey, setAdd, setEquals, setOf, setRemove } from '../collections.js';
import { OP_TERMINAL_STATUSES } from '../state.js';
import type {
  MachineState,
  OpKind,
  OpOutcomeKind,
  OpStatus,
  OpTerminalPayload,
  OperationSource,
  Phase,
} from '../state.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

/** `OpLifecycleActionKind` (§6.1): the lifecycle actions an operation owner can request. */
export type OpLifecycleAction =
  | 'Start'
  | 'Fail'
  | 'PeerReady'
  | 'ProgressReported'
  | 'Complete'
  | 'Abort'
  | 'Cancel'
  | 'RetireRequested'
  | 'RetireCompleted'
  | 'Terminate';

/** Typed reason of an `OpLifecycleTransitionRejected` effect. */
export type OpLifecycleRejectionReason = 'OperationNotFound' | 'PeerNotExpected' | 'AlreadyPeerReady' | 'InvalidTransition';

/** Public result class of an operation status (`ClassifyOperationPublicResult`). */
export type OpPublicResult = 'MissingAuthority' | 'Running' | 'Completed' | 'Failed' | 'Cancelled';

/** Idempotence verdict for a rejected lifecycle action (`ClassifyOperationTransitionIdempotence`). */
export type OpTransitionIdempotence = 'IdempotentSuccess' | 'NotIdempotent';

// ---------------------------------------------------------------------------------------------
// Inputs

/** `RegisterOp`: admit a new operation (optionally bounded by `max_concurrent` active ops). */
export interface RegisterOp {
  readonly type: 'RegisterOp';
  readonly operation_id: string;
  readonly kind: OpKind;
  readonly source: OperationSource | null;
  readonly max_concurrent: number | null;
}

/** `StartOp`: provisioning succeeded (Provisioning → Running). */
export interface StartOp {
  readonly type: 'StartOp';
  readonly operation_id: string;
}

/** `RollbackUnreturnedOp`: forget an op whose registration never reached its caller (no sequence, no feed). */
export interface RollbackUnreturnedOp {
  readonly type: 'RollbackUnreturnedOp';
  readonly operation_id: string;
}

/** Shape shared by every terminalising input: the outcome kind and its typed payload. */
interface TerminalOpInputFields {
  readonly operation_id: string;
  readonly outcome: OpOutcomeKind;
  readonly payload: OpTerminalPayload;
}

/** `CompleteOp` (Running/Retiring → Completed). */
export interface CompleteOp extends TerminalOpInputFields {
  readonly type: 'CompleteOp';
}
/** `FailOp` (Provisioning/Running/Retiring → Failed). */
export interface FailOp extends TerminalOpInputFields {
  readonly type: 'FailOp';
}
/** `CancelOp` (Provisioning/Running/Retiring → Cancelled). */
export interface CancelOp extends TerminalOpInputFields {
  readonly type: 'CancelOp';
}
/** `AbortOp` (Provisioning → Aborted; "abort provisioning"). */
export interface AbortOp extends TerminalOpInputFields {
  readonly type: 'AbortOp';
}
/** `RetireCompletedOp` (Running/Retiring → Retired; unit payload). */
export interface RetireCompletedOp extends TerminalOpInputFields {
  readonly type: 'RetireCompletedOp';
}
/** `TerminateOp` (Provisioning/Running/Retiring → Terminated; owner termination cascade). */
export interface TerminateOp extends TerminalOpInputFields {
  readonly type: 'TerminateOp';
}

/** `RetireRequestedOp` (Running → Retiring). */
export interface RetireRequestedOp {
  readonly type: 'RetireRequestedOp';
  readonly operation_id: string;
}

/** `PeerReadyOp`: a mob-member child's peer channel became ready. */
export interface PeerReadyOp {
  readonly type: 'PeerReadyOp';
  readonly operation_id: string;
}

/** `ProgressReportedOp`: count one progress report. */
export interface ProgressReportedOp {
  readonly type: 'ProgressReportedOp';
  readonly operation_id: string;
}

/** `EvictCompletedOp`: retention-limit eviction of a terminal op (drops its feed entry and claim too). */
export interface EvictCompletedOp {
  readonly type: 'EvictCompletedOp';
  readonly operation_id: string;
}

/** `CollectCompletedOp`: the owner collected a terminal op's result (feed entry and claim are kept). */
export interface CollectCompletedOp {
  readonly type: 'CollectCompletedOp';
  readonly operation_id: string;
}

/** `RecoverOpRecord`: re-install a persisted operation record (terminal, or a running detached-job wait). */
export interface RecoverOpRecord {
  readonly type: 'RecoverOpRecord';
  readonly operation_id: string;
  readonly status: OpStatus;
  readonly kind: OpKind;
  readonly source: OperationSource | null;
  readonly peer_ready: boolean;
  readonly progress_count: number;
  readonly terminal_outcome: OpOutcomeKind | null;
  readonly terminal_payload: OpTerminalPayload | null;
  readonly completion_sequence: number | null;
}

/** `RecoverCompletionFeedEntry`: re-install a persisted public completion-feed entry. */
export interface RecoverCompletionFeedEntry {
  readonly type: 'RecoverCompletionFeedEntry';
  readonly operation_id: string;
  readonly kind: OpKind;
  readonly terminal_outcome: OpOutcomeKind;
  readonly terminal_payload: OpTerminalPayload;
  readonly completion_sequence: number;
}

/** `ResolveOpLifecycleTransitionRejection`: classify why a lifecycle action was refused (call after a guard rejection). */
export interface ResolveOpLifecycleTransitionRejection {
  readonly type: 'ResolveOpLifecycleTransitionRejection';
  readonly operation_id: string;
  readonly action: OpLifecycleAction;
}

/**
 * Identity witnesses of a wait-all request (§6.4): the requested id sequence as given
 * (may contain duplicates), its set of string ids, the typed tokens, and the two maps
 * between ids and tokens, which must form a bijection.
 */
interface WaitAllWitnessFields {
  readonly wait_request_id: string;
  readonly operation_id_sequence: readonly string[];
  readonly operation_ids: readonly string[];
  readonly operation_id_tokens: readonly string[];
  readonly operation_token_by_id: Readonly<Record<string, string>>;
  readonly operation_id_by_token: Readonly<Record<string, string>>;
}

/** `ResolveWaitAllAdmission`: decide whether a wait-all may start (no state change). */
export interface ResolveWaitAllAdmission extends WaitAllWitnessFields {
  readonly type: 'ResolveWaitAllAdmission';
  /** Witness of a repeated id in `operation_id_sequence`, if the shell found one. */
  readonly duplicate_operation_id: string | null;
  /** Witness of a requested id that is not registered, if the shell found one. */
  readonly not_found_operation_id: string | null;
}

/** `RequestWaitAll`: activate the (single) wait-all barrier for `run_id`. */
export interface RequestWaitAll extends WaitAllWitnessFields {
  readonly type: 'RequestWaitAll';
  readonly run_id: string;
}

/** `SatisfyWaitAll`: every member is terminal; clear the barrier and hand off `WaitAllSatisfied`. */
export interface SatisfyWaitAll {
  readonly type: 'SatisfyWaitAll';
  readonly wait_request_id: string;
  readonly run_id: string;
  readonly operation_id_tokens: readonly string[];
}

/** `CancelWaitAll`: the waiting future was dropped; clear the barrier. */
export interface CancelWaitAll {
  readonly type: 'CancelWaitAll';
}

/** The six terminalising inputs (they share one shape). */
export type TerminalOpInput = CompleteOp | FailOp | CancelOp | AbortOp | RetireCompletedOp | TerminateOp;

/** Input type of the terminalising transition for a terminal lifecycle action. */
export const TERMINAL_OP_INPUT_TYPE = {
  Complete: 'CompleteOp',
  Fail: 'FailOp',
  Cancel: 'CancelOp',
  Abort: 'AbortOp',
  RetireCompleted: 'RetireCompletedOp',
  Terminate: 'TerminateOp',
} as const satisfies Partial<Record<OpLifecycleAction, TerminalOpInput['type']>>;

/** Build the terminalising input for `action` (outcome taken from the payload variant). */
export function terminalOpInput(
  action: keyof typeof TERMINAL_OP_INPUT_TYPE,
  operation_id: string,
  payload: OpTerminalPayload,
): TerminalOpInput {
  return { type: TERMINAL_OP_INPUT_TYPE[action], operation_id, outcome: payload.kind, payload } as TerminalOpInput;
}

/** Inputs of the async-operations domain. */
export type OpsInput =
  | RegisterOp
  | StartOp
  | RollbackUnreturnedOp
  | CompleteOp
  | FailOp
  | CancelOp
  | AbortOp
  | RetireRequestedOp
  | RetireCompletedOp
  | TerminateOp
  | PeerReadyOp
  | ProgressReportedOp
  | EvictCompletedOp
  | CollectCompletedOp
  | RecoverOpRecord
  | RecoverCompletionFeedEntry
  | ResolveOpLifecycleTransitionRejection
  | ResolveWaitAllAdmission
  | RequestWaitAll
  | SatisfyWaitAll
  | CancelWaitAll;

// ---------------------------------------------------------------------------------------------
// Effects

/** Typed answer of `RegisterOp` (every arm). `active_op_count` is the post-transition count. */
export interface OpRegistrationAdmissionResolved {
  readonly type: 'OpRegistrationAdmissionResolved';
  readonly operation_id: string;
  readonly result: 'Accept' | 'Reject';
  readonly reason: 'AlreadyRegistered' | 'MaxConcurrentExceeded' | null;
  readonly max_concurrent: number | null;
  readonly active_op_count: number;
}

/** Publish an op lifecycle event to the registry's event stream. */
export interface SubmitOpEvent {
  readonly type: 'SubmitOpEvent';
  readonly operation_id: string;
}

/** Resolve the op's watchers with its terminal outcome. */
export interface NotifyOpWatcher {
  readonly type: 'NotifyOpWatcher';
  readonly operation_id: string;
}

/** An unreturned registration was rolled back. */
export interface UnreturnedOpRolledBack {
  readonly type: 'UnreturnedOpRolledBack';
  readonly operation_id: string;
}

/** A terminal record was evicted by the retention limit. */
export interface EvictCompletedRecord {
  readonly type: 'EvictCompletedRecord';
  readonly operation_id: string;
}

/** A terminal record was collected by its owner. */
export interface CollectCompletedResult {
  readonly type: 'CollectCompletedResult';
  readonly operation_id: string;
}

/** A persisted record was recovered and retained. */
export interface RetainTerminalRecord {
  readonly type: 'RetainTerminalRecord';
  readonly operation_id: string;
}

/** A persisted completion-feed entry was recovered. */
export interface CompletionFeedEntryRecovered {
  readonly type: 'CompletionFeedEntryRecovered';
  readonly operation_id: string;
  readonly completion_sequence: number;
  readonly kind: OpKind;
  readonly terminal_outcome: OpOutcomeKind;
  readonly terminal_payload: OpTerminalPayload;
}

/** Typed rejection of a lifecycle action (`status` is `null` when the op is not registered). */
export interface OpLifecycleTransitionRejected {
  readonly type: 'OpLifecycleTransitionRejected';
  readonly operation_id: string;
  readonly action: OpLifecycleAction;
  readonly reason: OpLifecycleRejectionReason;
  readonly status: OpStatus | null;
}

/** Typed answer of `ResolveWaitAllAdmission`; `operation_id` is the duplicate / missing witness. */
export interface WaitAllAdmissionResolved {
  readonly type: 'WaitAllAdmissionResolved';
  readonly wait_request_id: string;
  readonly result: 'Accept' | 'Reject';
  readonly reason: 'DuplicateOperation' | 'WaitAlreadyActive' | 'OperationNotFound' | null;
  readonly operation_id: string | null;
}

/** Handoff `ops_barrier_satisfaction`: fed back as `OpsBarrierSatisfied{run_id, operation_ids}`. */
export interface WaitAllSatisfied {
  readonly type: 'WaitAllSatisfied';
  readonly wait_request_id: string;
  readonly run_id: string;
  readonly operation_ids: readonly string[];
}

/** Effects of the async-operations domain. */
export type OpsEffect =
  | OpRegistrationAdmissionResolved
  | SubmitOpEvent
  | NotifyOpWatcher
  | UnreturnedOpRolledBack
  | EvictCompletedRecord
  | CollectCompletedResult
  | RetainTerminalRecord
  | CompletionFeedEntryRecovered
  | OpLifecycleTransitionRejected
  | WaitAllAdmissionResolved
  | WaitAllSatisfied;

// ---------------------------------------------------------------------------------------------
// Pure classifiers (§6.2, end)

const PUBLIC_COMPLETION_KINDS: readonly OpKind[] = ['BackgroundToolOp', 'MobMemberChild', 'DetachedJobWait'];

const ACTION_VALID_FROM: Readonly<Record<OpLifecycleAction, readonly OpStatus[]>> = {
  Start: ['Provisioning'],
  Fail: ['Provisioning', 'Running', 'Retiring'],
  PeerReady: ['Running', 'Retiring'],
  ProgressReported: ['Running', 'Retiring'],
  Complete: ['Running', 'Retiring'],
  Abort: ['Provisioning'],
  Cancel: ['Provisioning', 'Running', 'Retiring'],
  RetireRequested: ['Running'],
  RetireCompleted: ['Running', 'Retiring'],
  Terminate: ['Provisioning', 'Running', 'Retiring'],
};

/** Terminality: Completed, Failed, Aborted, Cancelled, Retired, Terminated. */
export function isOpTerminal(status: OpStatus): boolean {
  return OP_TERMINAL_STATUSES.includes(status);
}

/** `op_lifecycle_action_status_valid`: may `action` be applied to an op in `status`? */
export function opActionValidFrom(action: OpLifecycleAction, status: OpStatus): boolean {
  return ACTION_VALID_FROM[action].includes(status);
}

/**
 * `ClassifyOperationTransitionIdempotence`: a refused action counts as idempotent success
 * iff (Start while Running) ∨ (RetireRequested while Retiring) ∨ (PeerReady, ProgressReported,
 * RetireRequested, RetireCompleted or Abort while terminal).
 */
export function classifyOperationTransitionIdempotence(
  action: OpLifecycleAction,
  status: OpStatus,
): OpTransitionIdempotence {
  const idempotent =
    (action === 'Start' && status === 'Running') ||
    (action === 'RetireRequested' && status === 'Retiring') ||
    ((['PeerReady', 'ProgressReported', 'RetireRequested', 'RetireCompleted', 'Abort'] as const).some(
      (a) => a === action,
    ) &&
      isOpTerminal(status));
  return idempotent ? 'IdempotentSuccess' : 'NotIdempotent';
}

/** `ClassifyOperationPublicResult`. */
export function opPublicResult(status: OpStatus): OpPublicResult {
  switch (status) {
    case 'Absent':
      return 'MissingAuthority';
    case 'Provisioning':
    case 'Running':
    case 'Retiring':
      return 'Running';
    case 'Completed':
      return 'Completed';
    case 'Failed':
    case 'Terminated':
      return 'Failed';
    case 'Aborted':
    case 'Cancelled':
    case 'Retired':
      return 'Cancelled';
  }
}

/** `ClassifyOperationCompletionFeed`: capacity slots are suppressed, every other kind is published. */
export function opCompletionFeedClass(kind: OpKind): 'Emit' | 'Suppress' {
  return kind === 'BackgroundToolCapacitySlot' ? 'Suppress' : 'Emit';
}

/** `ClassifyOperationCompletionWake`: background tool ops and detached-job waits wake an idle runtime. */
export function opCompletionWakeClass(kind: OpKind): 'Wake' | 'Ignore' {
  return kind === 'BackgroundToolOp' || kind === 'DetachedJobWait' ? 'Wake' : 'Ignore';
}

/** `ClassifyOperationDurability`: capacity slots are discarded, every other kind is retained. */
export function opDurabilityClass(kind: OpKind): 'Retain' | 'Discard' {
  return kind === 'BackgroundToolCapacitySlot' ? 'Discard' : 'Retain';
}

/**
 * `ClassifyRecoveredOperationRecord`: capacity slot → Discard; a public kind with full terminal
 * witnesses, or a running detached-job wait → Retain; a non-terminal record without witnesses →
 * Discard. Any other shape is not classified (`null`, the upstream guard rejection).
 */
export function classifyRecoveredOperationRecord(
  status: OpStatus,
  kind: OpKind,
  terminalOutcomePresent: boolean,
  terminalPayloadPresent: boolean,
  completionSequencePresent: boolean,
): 'Retain' | 'Discard' | null {
  if (kind === 'BackgroundToolCapacitySlot') return 'Discard';
  const witnesses = [terminalOutcomePresent, terminalPayloadPresent, completionSequencePresent];
  if (isOpTerminal(status) && witnesses.every(Boolean)) return 'Retain';
  if (kind === 'DetachedJobWait' && status === 'Running' && !witnesses.some(Boolean)) return 'Retain';
  if (!isOpTerminal(status) && !witnesses.some(Boolean)) return 'Discard';
  return null;
}

/**
 * Operation-source validity (§6.1): absent, or `SessionChild` with only `session_id`, or
 * `BackendPeer` with only `peer_id` + `address`, or `DetachedJob` with only `realm_id` + `job_id`.
 */
export function isValidOperationSource(source: OperationSource | null): boolean {
  if (source === null) return true;
  const present = {
    session_id: source.session_id !== null,
    peer_id: source.peer_id !== null,
    address: source.address !== null,
    realm_id: source.realm_id !== null,
    job_id: source.job_id !== null,
  };
  switch (source.kind) {
    case 'SessionChild':
      return present.session_id && !present.peer_id && !present.address && !present.realm_id && !present.job_id;
    case 'BackendPeer':
      return !present.session_id && present.peer_id && present.address && !present.realm_id && !present.job_id;
    case 'DetachedJob':
      return !present.session_id && !present.peer_id && !present.address && present.realm_id && present.job_id;
  }
}

/** Kinds that own a public completion-feed entry. */
export function isPublicCompletionKind(kind: OpKind): boolean {
  return PUBLIC_COMPLETION_KINDS.includes(kind);
}

// ---------------------------------------------------------------------------------------------
// Arm construction helpers

type ArmBody<I> = Omit<Arm<I>, 'name' | 'from' | 'to'>;

/** One self-loop arm per phase, named `${base}${Phase}` like the upstream expansion. */
function perPhase<I>(base: string, phases: readonly Phase[], body: ArmBody<I>): Arm<I>[] {
  return phases.map((phase) => ({ ...body, name: `${base}${phase}`, from: [phase], to: 'self' as const }));
}

const statusOf = (s: MachineState, op: string): OpStatus | null => get(s.op_statuses, op);

interface WithOp {
  readonly operation_id: string;
}

const opRegistered = <I extends WithOp>(): Guard<I> =>
  guard('op_registered', (s, i) => hasKey(s.op_statuses, i.operation_id));

const fromStatusValid = <I extends WithOp>(action: OpLifecycleAction): Guard<I> =>
  guard('from_status_valid', (s, i) => {
    const status = statusOf(s, i.operation_id);
    return status !== null && opActionValidFrom(action, status);
  });

function removeKey(record: Record<string, unknown>, key: string): void {
  delete record[key];
}

/** §6.2 "terminal bookkeeping" for `op` with the given outcome and payload (status written by the caller). */
function applyTerminalBookkeeping(
  d: Draft<MachineState>,
  op: string,
  outcome: OpOutcomeKind,
  payload: OpTerminalPayload,
): void {
  d.op_terminal_outcomes[op] = outcome;
  d.op_terminal_payload[op] = payload;
  d.active_op_count -= 1;
  d.next_completion_seq += 1;
  const seq = d.next_completion_seq;
  d.op_completion_seq[op] = seq;
  d.completion_sequence_claims = setAdd(d.completion_sequence_claims, seq);
  const kind = d.op_kinds[op];
  if (kind !== undefined && isPublicCompletionKind(kind)) {
    d.completion_feed_sequences[op] = seq;
    d.completion_feed_kinds[op] = kind;
    d.completion_feed_terminal_outcomes[op] = outcome;
    d.completion_feed_terminal_payload[op] = payload;
  }
}

function removeFeedEntry(d: Draft<MachineState>, op: string): void {
  removeKey(d.completion_feed_sequences, op);
  removeKey(d.completion_feed_kinds, op);
  removeKey(d.completion_feed_terminal_outcomes, op);
  removeKey(d.completion_feed_terminal_payload, op);
}

/** Drop the per-op record fields shared by Evict and Collect (the source entry is never removed). */
function removeTerminalRecord(d: Draft<MachineState>, op: string): void {
  removeKey(d.op_statuses, op);
  removeKey(d.op_kinds, op);
  removeKey(d.op_peer_ready, op);
  removeKey(d.op_progress_counts, op);
  removeKey(d.op_terminal_outcomes, op);
  removeKey(d.op_terminal_payload, op);
  removeKey(d.op_completion_seq, op);
}

const submit = (operation_id: string): SubmitOpEvent => ({ type: 'SubmitOpEvent', operation_id });
const notify = (operation_id: string): NotifyOpWatcher => ({ type: 'NotifyOpWatcher', operation_id });

/** Build the per-phase arms of one terminalising input. */
function terminalArms<I extends TerminalOpInputFields>(
  base: string,
  action: OpLifecycleAction,
  target: OpOutcomeKind,
): Arm<I>[] {
  return perPhase<I>(base, LIVE_PHASES, {
    guards: [
      opRegistered<I>(),
      fromStatusValid<I>(action),
      guard('outcome_matches_terminal', (_s, i) => i.outcome === target),
      guard('payload_variant_matches_kind', (_s, i) => i.payload.kind === i.outcome),
    ],
    update: (d, i) => {
      d.op_statuses[i.operation_id] = target;
      applyTerminalBookkeeping(d, i.operation_id, i.outcome, i.payload);
    },
    emit: (_post, i) => [submit(i.operation_id), notify(i.operation_id)],
  });
}

// ---------------------------------------------------------------------------------------------
// Wait-all witnesses

/** `len(id_sequence) > len(ids)`: the caller's sequence repeated an id. */
const duplicateObserved = (i: WaitAllWitnessFields): boolean =>
  i.operation_id_sequence.length > setOf(i.operation_ids).length;

/** The id ↔ token maps form a bijection between `operation_ids` and `operation_id_tokens`. */
function tokenWitnessValid(i: WaitAllWitnessFields): boolean {
  const ids = setOf(i.operation_ids);
  const tokens = setOf(i.operation_id_tokens);
  if (ids.length !== tokens.length) return false;
  if (!setEquals(Object.keys(i.operation_token_by_id), ids)) return false;
  if (!setEquals(Object.keys(i.operation_id_by_token), tokens)) return false;
  const tokenOf = (id: string): string | null => get(i.operation_token_by_id, id);
  const idOf = (token: string): string | null => get(i.operation_id_by_token, token);
  return (
    ids.every((id) => {
      const token = tokenOf(id);
      return token !== null && tokens.includes(token) && idOf(token) === id;
    }) &&
    tokens.every((token) => {
      const id = idOf(token);
      return id !== null && tokenOf(id) === token;
    })
  );
}

function waitAdmissionGuards<I extends WaitAllWitnessFields>(): Guard<I>[] {
  return [
    guard('no_duplicate_observed', (_s, i) => !duplicateObserved(i)),
    guard('wait_inactive', (s) => !s.wait_active),
    guard('operations_tracked', (s, i) => i.operation_ids.every((id) => hasKey(s.op_statuses, id))),
    guard('operation_token_witness_valid', (_s, i) => tokenWitnessValid(i)),
  ];
}

const waitResolved = (
  i: ResolveWaitAllAdmission,
  result: WaitAllAdmissionResolved['result'],
  reason: WaitAllAdmissionResolved['reason'],
  operation_id: string | null,
): WaitAllAdmissionResolved => ({
  type: 'WaitAllAdmissionResolved',
  wait_request_id: i.wait_request_id,
  result,
  reason,
  operation_id,
});

function clearWait(d: Draft<MachineState>): void {
  d.wait_active = false;
  d.wait_request_id = null;
  d.wait_run_id = null;
  d.wait_operation_ids = [];
  d.wait_operation_id_tokens = [];
}

// ---------------------------------------------------------------------------------------------
// Transition table

const rejectionEffect = (
  post: MachineState,
  i: ResolveOpLifecycleTransitionRejection,
  reason: OpLifecycleRejectionReason,
): OpLifecycleTransitionRejected => ({
  type: 'OpLifecycleTransitionRejected',
  operation_id: i.operation_id,
  action: i.action,
  reason,
  status: statusOf(post, i.operation_id),
});

const peerReadyAlready = (s: MachineState, op: string): boolean => get(s.op_peer_ready, op) === true;
const kindIsMobMemberChild = (s: MachineState, op: string): boolean => get(s.op_kinds, op) === 'MobMemberChild';

/** The ops-registry and wait-all arms, keyed by input type. */
export const opsArms: ArmTable<OpsInput> = {
  RegisterOp: [
    ...perPhase<RegisterOp>('RegisterOpAlreadyRegisteredRejected', LIVE_PHASES, {
      guards: [guard('already_registered', (s, i) => hasKey(s.op_statuses, i.operation_id))],
      emit: (post, i) => [
        {
          type: 'OpRegistrationAdmissionResolved',
          operation_id: i.operation_id,
          result: 'Reject',
          reason: 'AlreadyRegistered',
          max_concurrent: i.max_concurrent,
          active_op_count: post.active_op_count,
        },
      ],
    }),
    ...perPhase<RegisterOp>('RegisterOpMaxConcurrentRejected', LIVE_PHASES, {
      guards: [
        guard('not_already_registered', (s, i) => !hasKey(s.op_statuses, i.operation_id)),
        guard('operation_source_valid', (_s, i) => isValidOperationSource(i.source)),
        guard('max_concurrent_present', (_s, i) => i.max_concurrent !== null),
        guard('max_concurrent_exceeded', (s, i) => i.max_concurrent !== null && s.active_op_count >= i.max_concurrent),
      ],
      emit: (post, i) => [
        {
          type: 'OpRegistrationAdmissionResolved',
          operation_id: i.operation_id,
          result: 'Reject',
          reason: 'MaxConcurrentExceeded',
          max_concurrent: i.max_concurrent,
          active_op_count: post.active_op_count,
        },
      ],
    }),
    ...perPhase<RegisterOp>('RegisterOpAccepted', LIVE_PHASES, {
      guards: [
        guard('not_already_registered', (s, i) => !hasKey(s.op_statuses, i.operation_id)),
        guard('operation_source_valid', (_s, i) => isValidOperationSource(i.source)),
        guard('capacity_available', (s, i) => i.max_concurrent === null || s.active_op_count < i.max_concurrent),
      ],
      update: (d, i) => {
        const op = i.operation_id;
        d.op_statuses[op] = 'Provisioning';
        d.op_kinds[op] = i.kind;
        // "source (if any)": an absent source leaves `op_sources` untouched (sources are never removed).
        if (i.source !== null) d.op_sources[op] = i.source;
        d.op_peer_ready[op] = false;
        d.op_progress_counts[op] = 0;
        d.active_op_count += 1;
      },
      emit: (post, i) => [
        {
          type: 'OpRegistrationAdmissionResolved',
          operation_id: i.operation_id,
          result: 'Accept',
          reason: null,
          max_concurrent: i.max_concurrent,
          active_op_count: post.active_op_count,
        },
        submit(i.operation_id),
      ],
    }),
  ],

  ResolveOpLifecycleTransitionRejection: [
    ...perPhase<ResolveOpLifecycleTransitionRejection>('ResolveOpLifecycleTransitionNotFoundRejected', LIVE_PHASES, {
      guards: [guard('op_not_registered', (s, i) => !hasKey(s.op_statuses, i.operation_id))],
      emit: (post, i) => [rejectionEffect(post, i, 'OperationNotFound')],
    }),
    ...perPhase<ResolveOpLifecycleTransitionRejection>(
      'ResolveOpLifecycleTransitionPeerNotExpectedRejected',
      LIVE_PHASES,
      {
        guards: [
          opRegistered(),
          guard('action_peer_ready', (_s, i) => i.action === 'PeerReady'),
          guard('kind_not_mob_member_child', (s, i) => !kindIsMobMemberChild(s, i.operation_id)),
        ],
        emit: (post, i) => [rejectionEffect(post, i, 'PeerNotExpected')],
      },
    ),
    ...perPhase<ResolveOpLifecycleTransitionRejection>(
      'ResolveOpLifecycleTransitionAlreadyPeerReadyRejected',
      LIVE_PHASES,
      {
        guards: [
          opRegistered(),
          guard('action_peer_ready', (_s, i) => i.action === 'PeerReady'),
          guard('kind_is_mob_member_child', (s, i) => kindIsMobMemberChild(s, i.operation_id)),
          guard('already_peer_ready', (s, i) => peerReadyAlready(s, i.operation_id)),
        ],
        emit: (post, i) => [rejectionEffect(post, i, 'AlreadyPeerReady')],
      },
    ),
    ...perPhase<ResolveOpLifecycleTransitionRejection>('ResolveOpLifecycleTransitionInvalidRejected', LIVE_PHASES, {
      guards: [
        opRegistered(),
        guard(
          'peer_ready_special_rejections_absent',
          (s, i) =>
            !(
              i.action === 'PeerReady' &&
              (!kindIsMobMemberChild(s, i.operation_id) || peerReadyAlready(s, i.operation_id))
            ),
        ),
        guard('from_status_invalid', (s, i) => {
          const status = statusOf(s, i.operation_id);
          return status !== null && !opActionValidFrom(i.action, status);
        }),
      ],
      emit: (post, i) => [rejectionEffect(post, i, 'InvalidTransition')],
    }),
  ],

  StartOp: perPhase<StartOp>('StartOp', LIVE_PHASES, {
    guards: [opRegistered(), fromStatusValid('Start')],
    update: (d, i) => {
      d.op_statuses[i.operation_id] = 'Running';
    },
    emit: (_post, i) => [submit(i.operation_id)],
  }),

  RollbackUnreturnedOp: perPhase<RollbackUnreturnedOp>('RollbackUnreturnedOp', LIVE_PHASES, {
    guards: [
      opRegistered(),
      guard('from_status_valid', (s, i) => {
        const status = statusOf(s, i.operation_id);
        return status === 'Provisioning' || status === 'Running' || status === 'Retiring';
      }),
    ],
    update: (d, i) => {
      const op = i.operation_id;
      removeKey(d.op_statuses, op);
      removeKey(d.op_kinds, op);
      removeKey(d.op_sources, op);
      removeKey(d.op_peer_ready, op);
      removeKey(d.op_progress_counts, op);
      d.active_op_count -= 1;
    },
    emit: (_post, i) => [{ type: 'UnreturnedOpRolledBack', operation_id: i.operation_id }],
  }),

  CompleteOp: terminalArms<CompleteOp>('CompleteOp', 'Complete', 'Completed'),
  FailOp: terminalArms<FailOp>('FailOp', 'Fail', 'Failed'),
  CancelOp: terminalArms<CancelOp>('CancelOp', 'Cancel', 'Cancelled'),
  AbortOp: terminalArms<AbortOp>('AbortOp', 'Abort', 'Aborted'),

  PeerReadyOp: perPhase<PeerReadyOp>('PeerReadyOp', LIVE_PHASES, {
    guards: [
      opRegistered(),
      guard('kind_is_mob_member_child', (s, i) => kindIsMobMemberChild(s, i.operation_id)),
      guard('not_already_peer_ready', (s, i) => !peerReadyAlready(s, i.operation_id)),
      fromStatusValid('PeerReady'),
    ],
    update: (d, i) => {
      d.op_peer_ready[i.operation_id] = true;
    },
    emit: (_post, i) => [submit(i.operation_id)],
  }),

  ProgressReportedOp: perPhase<ProgressReportedOp>('ProgressReportedOp', LIVE_PHASES, {
    guards: [opRegistered(), fromStatusValid('ProgressReported')],
    update: (d, i) => {
      d.op_progress_counts[i.operation_id] = (d.op_progress_counts[i.operation_id] ?? 0) + 1;
    },
    emit: (_post, i) => [submit(i.operation_id)],
  }),

  RetireRequestedOp: perPhase<RetireRequestedOp>('RetireRequestedOp', LIVE_PHASES, {
    guards: [opRegistered(), fromStatusValid('RetireRequested')],
    update: (d, i) => {
      d.op_statuses[i.operation_id] = 'Retiring';
    },
    emit: (_post, i) => [submit(i.operation_id)],
  }),

  RetireCompletedOp: terminalArms<RetireCompletedOp>('RetireCompletedOp', 'RetireCompleted', 'Retired'),
  TerminateOp: terminalArms<TerminateOp>('TerminateOp', 'Terminate', 'Terminated'),

  RecoverOpRecord: perPhase<RecoverOpRecord>('RecoverOpRecord', LIVE_PHASES, {
    guards: [
      guard('not_already_registered', (s, i) => !hasKey(s.op_statuses, i.operation_id)),
      guard(
        'recoverable_shape',
        (_s, i) =>
          (isOpTerminal(i.status) &&
            i.terminal_outcome !== null &&
            i.terminal_payload !== null &&
            i.completion_sequence !== null) ||
          (i.kind === 'DetachedJobWait' &&
            i.status === 'Running' &&
            i.terminal_outcome === null &&
            i.terminal_payload === null &&
            i.completion_sequence === null),
      ),
      guard('operation_source_valid', (_s, i) => isValidOperationSource(i.source)),
      guard(
        'detached_wait_has_typed_source',
        (_s, i) => i.kind !== 'DetachedJobWait' || (i.source !== null && i.source.kind === 'DetachedJob'),
      ),
      guard(
        'completion_sequence_unclaimed',
        (s, i) => i.completion_sequence === null || !s.completion_sequence_claims.includes(i.completion_sequence),
      ),
      guard(
        'terminal_outcome_matches_status',
        (_s, i) => i.terminal_outcome === null || i.terminal_outcome === i.status,
      ),
      guard(
        'terminal_payload_variant_matches_status',
        (_s, i) => i.terminal_payload === null || i.terminal_payload.kind === i.status,
      ),
    ],
    update: (d, i) => {
      const op = i.operation_id;
      d.op_statuses[op] = i.status;
      d.op_kinds[op] = i.kind;
      if (i.source !== null) d.op_sources[op] = i.source;
      d.op_peer_ready[op] = i.peer_ready;
      d.op_progress_counts[op] = i.progress_count;
      if (i.terminal_outcome !== null) d.op_terminal_outcomes[op] = i.terminal_outcome;
      if (i.terminal_payload !== null) d.op_terminal_payload[op] = i.terminal_payload;
      if (i.status === 'Running') d.active_op_count += 1;
      const seq = i.completion_sequence;
      if (seq !== null) {
        d.op_completion_seq[op] = seq;
        d.completion_sequence_claims = setAdd(d.completion_sequence_claims, seq);
        if (isPublicCompletionKind(i.kind) && i.terminal_outcome !== null && i.terminal_payload !== null) {
          d.completion_feed_sequences[op] = seq;
          d.completion_feed_kinds[op] = i.kind;
          d.completion_feed_terminal_outcomes[op] = i.terminal_outcome;
          d.completion_feed_terminal_payload[op] = i.terminal_payload;
        }
        d.next_completion_seq = Math.max(d.next_completion_seq, seq);
      }
    },
    emit: (_post, i) => [{ type: 'RetainTerminalRecord', operation_id: i.operation_id }],
  }),

  RecoverCompletionFeedEntry: perPhase<RecoverCompletionFeedEntry>('RecoverCompletionFeedEntry', LIVE_PHASES, {
    guards: [
      guard('public_completion_kind', (_s, i) => isPublicCompletionKind(i.kind)),
      guard('completion_sequence_nonzero', (_s, i) => i.completion_sequence > 0),
      guard('completion_sequence_within_recovered_cursor', (s, i) => i.completion_sequence <= s.next_completion_seq),
      guard('completion_sequence_unclaimed', (s, i) => !s.completion_sequence_claims.includes(i.completion_sequence)),
      guard('feed_entry_absent', (s, i) => !hasKey(s.completion_feed_sequences, i.operation_id)),
      guard('terminal_payload_variant_matches_outcome', (_s, i) => i.terminal_payload.kind === i.terminal_outcome),
    ],
    update: (d, i) => {
      const op = i.operation_id;
      d.completion_sequence_claims = setAdd(d.completion_sequence_claims, i.completion_sequence);
      d.completion_feed_sequences[op] = i.completion_sequence;
      d.completion_feed_kinds[op] = i.kind;
      d.completion_feed_terminal_outcomes[op] = i.terminal_outcome;
      d.completion_feed_terminal_payload[op] = i.terminal_payload;
    },
    emit: (_post, i) => [
      {
        type: 'CompletionFeedEntryRecovered',
        operation_id: i.operation_id,
        completion_sequence: i.completion_sequence,
        kind: i.kind,
        terminal_outcome: i.terminal_outcome,
        terminal_payload: i.terminal_payload,
      },
    ],
  }),

  EvictCompletedOp: perPhase<EvictCompletedOp>('EvictCompletedOp', LIVE_PHASES, {
    guards: [
      opRegistered(),
      guard('op_terminal', (s, i) => {
        const status = statusOf(s, i.operation_id);
        return status !== null && isOpTerminal(status);
      }),
    ],
    update: (d, i) => {
      const op = i.operation_id;
      const feedSeq = d.completion_feed_sequences[op];
      if (feedSeq !== undefined) d.completion_sequence_claims = setRemove(d.completion_sequence_claims, feedSeq);
      removeFeedEntry(d, op);
      removeTerminalRecord(d, op);
    },
    emit: (_post, i) => [{ type: 'EvictCompletedRecord', operation_id: i.operation_id }],
  }),

  CollectCompletedOp: perPhase<CollectCompletedOp>('CollectCompletedOp', LIVE_PHASES, {
    guards: [
      opRegistered(),
      guard('op_terminal', (s, i) => {
        const status = statusOf(s, i.operation_id);
        return status !== null && isOpTerminal(status);
      }),
    ],
    update: (d, i) => {
      removeTerminalRecord(d, i.operation_id);
    },
    emit: (_post, i) => [{ type: 'CollectCompletedResult', operation_id: i.operation_id }],
  }),

  ResolveWaitAllAdmission: [
    ...perPhase<ResolveWaitAllAdmission>('ResolveWaitAllAdmissionDuplicateRejected', LIVE_PHASES, {
      guards: [
        guard('duplicate_observed', (_s, i) => duplicateObserved(i)),
        guard('duplicate_witness_present', (_s, i) => i.duplicate_operation_id !== null),
        guard(
          'duplicate_witness_requested',
          (_s, i) => i.duplicate_operation_id !== null && i.operation_ids.includes(i.duplicate_operation_id),
        ),
        guard(
          'duplicate_witness_repeated',
          (_s, i) => i.operation_id_sequence.filter((id) => id === i.duplicate_operation_id).length > 1,
        ),
      ],
      emit: (_post, i) => [waitResolved(i, 'Reject', 'DuplicateOperation', i.duplicate_operation_id)],
    }),
    ...perPhase<ResolveWaitAllAdmission>('ResolveWaitAllAdmissionActiveRejected', LIVE_PHASES, {
      guards: [
        guard('no_duplicate_observed', (_s, i) => !duplicateObserved(i)),
        guard('wait_already_active', (s) => s.wait_active),
      ],
      emit: (_post, i) => [waitResolved(i, 'Reject', 'WaitAlreadyActive', null)],
    }),
    ...perPhase<ResolveWaitAllAdmission>('ResolveWaitAllAdmissionNotFoundRejected', LIVE_PHASES, {
      guards: [
        guard('no_duplicate_observed', (_s, i) => !duplicateObserved(i)),
        guard('wait_inactive', (s) => !s.wait_active),
        guard('operation_missing', (s, i) => i.operation_ids.some((id) => !hasKey(s.op_statuses, id))),
        guard('not_found_witness_present', (_s, i) => i.not_found_operation_id !== null),
        guard(
          'not_found_witness_requested',
          (_s, i) => i.not_found_operation_id !== null && i.operation_ids.includes(i.not_found_operation_id),
        ),
        guard(
          'not_found_witness_missing',
          (s, i) => i.not_found_operation_id !== null && !hasKey(s.op_statuses, i.not_found_operation_id),
        ),
      ],
      emit: (_post, i) => [waitResolved(i, 'Reject', 'OperationNotFound', i.not_found_operation_id)],
    }),
    ...perPhase<ResolveWaitAllAdmission>('ResolveWaitAllAdmissionAccepted', LIVE_PHASES, {
      guards: waitAdmissionGuards<ResolveWaitAllAdmission>(),
      emit: (_post, i) => [waitResolved(i, 'Accept', null, null)],
    }),
  ],

  RequestWaitAll: perPhase<RequestWaitAll>('RequestWaitAll', LIVE_PHASES, {
    guards: waitAdmissionGuards<RequestWaitAll>(),
    update: (d, i) => {
      d.wait_active = true;
      d.wait_request_id = i.wait_request_id;
      d.wait_run_id = i.run_id;
      d.wait_operation_ids = setOf(i.operation_ids);
      d.wait_operation_id_tokens = setOf(i.operation_id_tokens);
    },
  }),

  SatisfyWaitAll: perPhase<SatisfyWaitAll>('SatisfyWaitAll', LIVE_PHASES, {
    guards: [
      guard('wait_is_active', (s) => s.wait_active),
      guard('wait_request_matches', (s, i) => s.wait_request_id === i.wait_request_id),
      guard('wait_run_matches', (s, i) => s.wait_run_id === i.run_id),
      guard('operation_tokens_match', (s, i) => setEquals(s.wait_operation_id_tokens, i.operation_id_tokens)),
      guard('all_members_terminal', (s) =>
        s.wait_operation_ids.every((id) => {
          const status = statusOf(s, id);
          return status !== null && isOpTerminal(status);
        }),
      ),
    ],
    update: (d) => clearWait(d),
    emit: (_post, i) => [
      {
        type: 'WaitAllSatisfied',
        wait_request_id: i.wait_request_id,
        run_id: i.run_id,
        operation_ids: setOf(i.operation_id_tokens),
      },
    ],
  }),

  CancelWaitAll: perPhase<CancelWaitAll>('CancelWaitAll', LIVE_PHASES, {
    guards: [guard('wait_is_active', (s) => s.wait_active)],
    update: (d) => clearWait(d),
  }),
};
