/**
 * Input lifecycle (`machine.md` §3.7) and recovery re-admission (§3.9).
 *
 * Lanes, stage attempts, run association, boundary sequences and the terminal
 * transitions of an input. Every arm is a self-loop in Idle…Stopped unless the
 * table says otherwise (`ResolveLiveBoundaryContextReceipt` and
 * `CommitTerminalBoundarySequence` are Running-only, `LiveBoundaryUnavailable`
 * is Attached/Running, `ArchiveTerminalInput` is also legal in Destroyed).
 *
 * TS-port additions (the upstream machine leaves these to the shell, §9.2 (3)):
 * `input_not_terminal` on the unguarded mutators, `input_queued` on
 * `ChangeLane`, and the max-attempts shape check on `AbandonInput`, so that the
 * §9.1/§9.2 invariants hold for arbitrary input sequences.
 */
import type { Draft } from '../draft.js';
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import { get, hasKey, setAdd, setRemove } from '../collections.js';
import { FIRST_ADMISSION_SEQ, INPUT_TERMINAL_PHASES } from '../state.js';
import type {
  InputAbandonReason,
  InputLane,
  InputPhase,
  InputTerminalKind,
  MachineState,
  PeerResponseTerminalApplyIntent,
  RuntimeBoundary,
  RuntimeExecutionKind,
} from '../state.js';
import type { AdmissionInputKind, ContinuationKind, IngressAccepted } from './admission.js';

/** Largest sequence value the port accepts (stands in for `u64::MAX`). */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** Why recovery normalisation changed a persisted input (§3.9). */
export type RecoveryNormalizationReason =
  | 'QueueAccepted'
  | 'RollbackStaged'
  | 'BoundaryReceiptCommitted'
  | 'MissingBoundaryReceipt';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Admit an authorised input to the Queue lane. */
export interface QueueAccepted {
  readonly type: 'QueueAccepted';
  readonly input_id: string;
}
/** Admit an authorised input to the Steer lane. */
export interface SteerAccepted {
  readonly type: 'SteerAccepted';
  readonly input_id: string;
}
/** Move a queued input to another lane. */
export interface ChangeLane {
  readonly type: 'ChangeLane';
  readonly input_id: string;
  readonly lane: InputLane;
}
/** Give a queued input a front-of-queue (priority) admission sequence. */
export interface PrioritizeInput {
  readonly type: 'PrioritizeInput';
  readonly input_id: string;
}
/** Give a queued input a fresh admission sequence (back of the backlog). */
export interface DeferInputBehindBacklog {
  readonly type: 'DeferInputBehindBacklog';
  readonly input_id: string;
}
/** Stage a queued input for the bound run (one stage attempt). */
export interface StageForRun {
  readonly type: 'StageForRun';
  readonly input_id: string;
  readonly run_id: string;
}
/** Count one more stage attempt. */
export interface IncrementAttemptCount {
  readonly type: 'IncrementAttemptCount';
  readonly input_id: string;
}
/** Unconditionally return an input to a lane (phase `Queued`). */
export interface RollbackStaged {
  readonly type: 'RollbackStaged';
  readonly input_id: string;
  readonly lane: InputLane;
}
/** Return a staged input to its lane, or abandon it when the attempt cap is reached. */
export interface ResolveStagedRollback {
  readonly type: 'ResolveStagedRollback';
  readonly input_id: string;
  readonly lane: InputLane;
}
/** A queued input could not be staged: defer it, or abandon it at the attempt cap. */
export interface ResolveUnstageableQueuedInput {
  readonly type: 'ResolveUnstageableQueuedInput';
  readonly input_id: string;
  readonly lane: InputLane;
}
/** Mark an input applied by a boundary. */
export interface MarkApplied {
  readonly type: 'MarkApplied';
  readonly input_id: string;
}
/** Mark an applied input as waiting for consumption. */
export interface MarkAppliedPendingConsumption {
  readonly type: 'MarkAppliedPendingConsumption';
  readonly input_id: string;
}
/** Copy the run's current boundary sequence onto the input. */
export interface RecordBoundarySeq {
  readonly type: 'RecordBoundarySeq';
  readonly input_id: string;
  readonly run_id: string;
}
/** A live mid-run boundary receipt: advance the run's boundary sequence (Running only). */
export interface ResolveLiveBoundaryContextReceipt {
  readonly type: 'ResolveLiveBoundaryContextReceipt';
  readonly run_id: string;
  readonly input_id: string;
}
/** Commit the terminal boundary sequence of the run (dense successor; Running only). */
export interface CommitTerminalBoundarySequence {
  readonly type: 'CommitTerminalBoundarySequence';
  readonly run_id: string;
  readonly sequence: number;
}
/** The live boundary target is unavailable: normalise a queued Steer input to Queue. */
export interface LiveBoundaryUnavailable {
  readonly type: 'LiveBoundaryUnavailable';
  readonly input_id: string;
}
/** Consume an input whose plan is `ConsumedOnAccept`. */
export interface ConsumeOnAccept {
  readonly type: 'ConsumeOnAccept';
  readonly input_id: string;
}
/** Consume an input (after its run completed). */
export interface ConsumeInput {
  readonly type: 'ConsumeInput';
  readonly input_id: string;
}
/** Terminalise an existing input as superseded by `superseded_by` (needs its witness). */
export interface SupersedeInput {
  readonly type: 'SupersedeInput';
  readonly input_id: string;
  readonly superseded_by: string;
}
/** Terminalise an existing input as coalesced into `aggregate_id` (needs its witness). */
export interface CoalesceInput {
  readonly type: 'CoalesceInput';
  readonly input_id: string;
  readonly aggregate_id: string;
}
/** Abandon an input with a reason. */
export interface AbandonInput {
  readonly type: 'AbandonInput';
  readonly input_id: string;
  readonly reason: InputAbandonReason;
  readonly attempt_count: number;
}
/** Forget a terminal input; every argument must equal the machine's current value exactly. */
export interface ArchiveTerminalInput {
  readonly type: 'ArchiveTerminalInput';
  readonly input_id: string;
  readonly phase: InputPhase;
  readonly terminal_kind: InputTerminalKind;
  readonly superseded_by: string | null;
  readonly aggregate_id: string | null;
  readonly abandon_reason: InputAbandonReason | null;
  readonly abandon_attempt_count: number | null;
  readonly attempt_count: number;
  readonly run_id: string | null;
  readonly boundary_sequence: number | null;
  readonly admission_sequence: number | null;
  readonly idempotency_key: string | null;
}
/** Recovery: record the re-admission witness (and runtime grouping facts) of a persisted input. */
export interface RecoverAdmittedInput {
  readonly type: 'RecoverAdmittedInput';
  readonly input_id: string;
  readonly kind: AdmissionInputKind;
  /** TS-port addition: distinguishes WorkGraph-attention continuations (ContentTurn) from ordinary ones. */
  readonly continuation_kind: ContinuationKind;
  readonly boundary: RuntimeBoundary;
  readonly execution_kind: RuntimeExecutionKind;
  readonly peer_response_terminal_apply_intent: PeerResponseTerminalApplyIntent | null;
  readonly lane: InputLane;
}
/** Recovery: write the persisted (normalised) projection of one input. */
export interface RecoverInputLifecycle {
  readonly type: 'RecoverInputLifecycle';
  readonly input_id: string;
  readonly phase: InputPhase;
  readonly terminal_kind: InputTerminalKind | null;
  readonly superseded_by: string | null;
  readonly aggregate_id: string | null;
  readonly abandon_reason: InputAbandonReason | null;
  readonly abandon_attempt_count: number | null;
  readonly attempt_count: number;
  readonly run_id: string | null;
  readonly boundary_sequence: number | null;
  readonly admission_sequence: number | null;
  /** Lane of a non-terminal row (must match the recovered witness); `null` for terminal rows. */
  readonly lane: InputLane | null;
  /** Normalisation reason; for a `Queued` row it requests a fresh admission sequence. */
  readonly recovery_reason: RecoveryNormalizationReason | null;
  readonly idempotency_key: string | null;
}

/** Inputs of the input-lifecycle domain. */
export type InputLifecycleInput =
  | QueueAccepted
  | SteerAccepted
  | ChangeLane
  | PrioritizeInput
  | DeferInputBehindBacklog
  | StageForRun
  | IncrementAttemptCount
  | RollbackStaged
  | ResolveStagedRollback
  | ResolveUnstageableQueuedInput
  | MarkApplied
  | MarkAppliedPendingConsumption
  | RecordBoundarySeq
  | ResolveLiveBoundaryContextReceipt
  | CommitTerminalBoundarySequence
  | LiveBoundaryUnavailable
  | ConsumeOnAccept
  | ConsumeInput
  | SupersedeInput
  | CoalesceInput
  | AbandonInput
  | ArchiveTerminalInput
  | RecoverAdmittedInput
  | RecoverInputLifecycle;

// ---------------------------------------------------------------------------------------------
// Effects

/** An input reached a terminal outcome (drives persistence and waiters). */
export interface RecordTerminalOutcome {
  readonly type: 'RecordTerminalOutcome';
  readonly input_id: string;
  readonly terminal_kind: InputTerminalKind;
  readonly superseded_by: string | null;
  readonly aggregate_id: string | null;
  readonly abandon_reason: InputAbandonReason | null;
  readonly abandon_attempt_count: number | null;
  /** The run the input was last staged for (attribution), if any. */
  readonly run_id: string | null;
}
/** An input was staged for a run. */
export interface RecordRunAssociation {
  readonly type: 'RecordRunAssociation';
  readonly input_id: string;
  readonly run_id: string;
  readonly attempt_count: number;
}
/** The boundary sequence that applied an input. */
export interface RecordBoundarySequence {
  readonly type: 'RecordBoundarySequence';
  readonly input_id: string;
  readonly run_id: string;
  readonly boundary_sequence: number;
}
/** Public lifecycle notice for an input (its phase after the transition; the archived phase for `ArchiveTerminalInput`). */
export interface InputLifecycleNotice {
  readonly type: 'InputLifecycleNotice';
  readonly input_id: string;
  readonly phase: InputPhase;
}
/** A live mid-run boundary receipt was sequenced. */
export interface LiveBoundaryContextReceiptResolved {
  readonly type: 'LiveBoundaryContextReceiptResolved';
  readonly run_id: string;
  readonly input_id: string;
  readonly boundary: 'RunCheckpoint';
  readonly sequence: number;
}
/** The run's terminal boundary sequence was committed. */
export interface TerminalBoundarySequenceCommitted {
  readonly type: 'TerminalBoundarySequenceCommitted';
  readonly run_id: string;
  readonly sequence: number;
}
/** A queued Steer input was normalised to the Queue lane (no live interrupt any more). */
export interface LiveBoundaryUnavailableNormalized {
  readonly type: 'LiveBoundaryUnavailableNormalized';
  readonly input_id: string;
  readonly lane: 'Queue';
  readonly live_interrupt_required: false;
}

/** Effects of the input-lifecycle domain. */
export type InputLifecycleEffect =
  | RecordTerminalOutcome
  | RecordRunAssociation
  | RecordBoundarySequence
  | InputLifecycleNotice
  | IngressAccepted
  | LiveBoundaryContextReceiptResolved
  | TerminalBoundarySequenceCommitted
  | LiveBoundaryUnavailableNormalized;

// ---------------------------------------------------------------------------------------------
// Helpers

type D = Draft<MachineState>;
interface WithId {
  readonly input_id: string;
}

const isTerminalPhase = (p: InputPhase | null): boolean => p !== null && INPUT_TERMINAL_PHASES.includes(p);

function tracked<I extends WithId>(): Guard<I> {
  return guard<I>('input_tracked', (s, i) => hasKey(s.input_phases, i.input_id));
}
function notTerminal<I extends WithId>(): Guard<I> {
  return guard<I>('input_not_terminal', (s, i) => !isTerminalPhase(get(s.input_phases, i.input_id)));
}
function inLane<I extends WithId>(): Guard<I> {
  return guard<I>('input_queued', (s, i) => hasKey(s.input_lane, i.input_id));
}
function phaseIs<I extends WithId>(name: string, phase: InputPhase): Guard<I> {
  return guard<I>(name, (s, i) => get(s.input_phases, i.input_id) === phase);
}

/** Remove `input_superseded_by`, `input_aggregate_id`, `input_abandon_reason`, `input_abandon_attempt_count`. */
function clearTerminalPayloads(d: D, id: string): void {
  delete d.input_superseded_by[id];
  delete d.input_aggregate_id[id];
  delete d.input_abandon_reason[id];
  delete d.input_abandon_attempt_count[id];
}

/** Phase and terminal kind := `kind`; remove both lanes. Payloads are the caller's job. */
function terminalize(d: D, id: string, kind: InputTerminalKind): void {
  d.input_phases[id] = kind;
  delete d.input_lane[id];
  delete d.input_recovery_lanes[id];
  d.input_terminal_kind[id] = kind;
}

function setLane(d: D, id: string, lane: InputLane): void {
  d.input_lane[id] = lane;
  d.input_recovery_lanes[id] = lane;
}

function takeAdmissionSeq(d: D, id: string): void {
  d.input_admission_seq[id] = d.next_admission_seq;
  d.next_admission_seq += 1;
}

function abandonMaxAttempts(d: D, id: string): void {
  const attempts = d.input_attempt_counts[id] ?? 0;
  terminalize(d, id, 'Abandoned');
  d.input_abandon_reason[id] = 'MaxAttemptsExhausted';
  d.input_abandon_attempt_count[id] = attempts;
  delete d.input_superseded_by[id];
  delete d.input_aggregate_id[id];
}

function terminalOutcome(post: MachineState, id: string): RecordTerminalOutcome {
  return {
    type: 'RecordTerminalOutcome',
    input_id: id,
    terminal_kind: post.input_terminal_kind[id] ?? 'Abandoned',
    superseded_by: get(post.input_superseded_by, id),
    aggregate_id: get(post.input_aggregate_id, id),
    abandon_reason: get(post.input_abandon_reason, id),
    abandon_attempt_count: get(post.input_abandon_attempt_count, id),
    run_id: get(post.input_run_associations, id),
  };
}

function notice(post: MachineState, id: string): InputLifecycleNotice {
  return { type: 'InputLifecycleNotice', input_id: id, phase: post.input_phases[id] ?? 'Queued' };
}

/** One self-loop arm in Idle…Stopped. */
function liveArm<I>(
  name: string,
  guards: readonly Guard<I>[],
  update: ((d: D, i: I) => void) | undefined,
  emit?: (post: MachineState, i: I) => readonly InputLifecycleEffect[],
): Arm<I> {
  return { name, from: LIVE_PHASES, guards, ...(update ? { update } : {}), to: 'self', ...(emit ? { emit } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Admission into a lane

function acceptedArm<I extends QueueAccepted | SteerAccepted>(name: I['type'], lane: InputLane): Arm<I> {
  return liveArm<I>(
    name,
    [
      guard('not_already_tracked', (s, i) => !hasKey(s.input_phases, i.input_id)),
      guard('admission_lane_authorized', (s, i) => get(s.admission_authorized_lanes, i.input_id) === lane),
    ],
    (d, i) => {
      d.input_phases[i.input_id] = 'Queued';
      setLane(d, i.input_id, lane);
      d.input_attempt_counts[i.input_id] = 0;
      takeAdmissionSeq(d, i.input_id);
    },
    (_post, i) => [{ type: 'IngressAccepted', input_id: i.input_id }],
  );
}

// ---------------------------------------------------------------------------------------------
// Staging and rollback

const stagedRollbackGuards = <I extends ResolveStagedRollback | ResolveUnstageableQueuedInput>(
  phase: InputPhase,
  phaseGuard: string,
): Guard<I>[] => [tracked<I>(), phaseIs<I>(phaseGuard, phase)];

const attemptsTracked = <I extends WithId>(): Guard<I> =>
  guard<I>('attempt_count_tracked', (s, i) => hasKey(s.input_attempt_counts, i.input_id));
const recoveryLaneMatches = <I extends WithId & { readonly lane: InputLane }>(): Guard<I> =>
  guard<I>('recovery_lane_matches', (s, i) => get(s.input_recovery_lanes, i.input_id) === i.lane);
const belowMax = <I extends WithId>(): Guard<I> =>
  guard<I>('attempts_below_max', (s, i) => (get(s.input_attempt_counts, i.input_id) ?? 0) < s.max_stage_attempts);
const atMax = <I extends WithId>(): Guard<I> =>
  guard<I>('attempts_exhausted', (s, i) => (get(s.input_attempt_counts, i.input_id) ?? 0) >= s.max_stage_attempts);

// ---------------------------------------------------------------------------------------------
// Archive and recovery guards

function archiveProjectionMatches(s: MachineState, i: ArchiveTerminalInput): boolean {
  const id = i.input_id;
  return (
    get(s.input_phases, id) === i.phase &&
    get(s.input_terminal_kind, id) === i.terminal_kind &&
    get(s.input_superseded_by, id) === i.superseded_by &&
    get(s.input_aggregate_id, id) === i.aggregate_id &&
    get(s.input_abandon_reason, id) === i.abandon_reason &&
    get(s.input_abandon_attempt_count, id) === i.abandon_attempt_count &&
    get(s.input_attempt_counts, id) === i.attempt_count &&
    get(s.input_run_associations, id) === i.run_id &&
    get(s.input_boundary_sequences, id) === i.boundary_sequence &&
    get(s.input_admission_seq, id) === i.admission_sequence
  );
}

function idempotencyBindingExact(s: MachineState, id: string, key: string | null): boolean {
  if (key === null) return !hasKey(s.input_idempotency_keys, id);
  return get(s.input_idempotency_keys, id) === key && get(s.admission_idempotency_inputs, key) === id;
}

/** Remove every per-input entry of `id` from the state (archival). */
function forgetInput(d: D, id: string): void {
  const key = d.input_idempotency_keys[id];
  if (key !== undefined && d.admission_idempotency_inputs[key] === id) delete d.admission_idempotency_inputs[key];
  delete d.input_idempotency_keys[id];
  delete d.input_phases[id];
  delete d.input_terminal_kind[id];
  clearTerminalPayloads(d, id);
  delete d.input_attempt_counts[id];
  delete d.input_run_associations[id];
  delete d.input_boundary_sequences[id];
  delete d.input_admission_seq[id];
  delete d.input_lane[id];
  delete d.input_recovery_lanes[id];
  delete d.input_runtime_boundary[id];
  delete d.input_runtime_execution_kind[id];
  delete d.input_runtime_peer_response_terminal_apply_intent[id];
  delete d.input_is_prompt[id];
  delete d.admission_authorized_lanes[id];
  delete d.admission_authorized_plans[id];
  delete d.admission_authorized_existing_actions[id];
  delete d.admission_authorized_existing_targets[id];
  d.recovered_admitted_inputs = setRemove(d.recovered_admitted_inputs, id);
  delete d.recovered_admitted_lanes[id];
}

/** Terminal kind / payload shape of a recovered row (§9.2 property 4). */
function recoveredTerminalShapeValid(s: MachineState, i: RecoverInputLifecycle): boolean {
  const terminal = isTerminalPhase(i.phase);
  if (!terminal) {
    return (
      i.terminal_kind === null &&
      i.superseded_by === null &&
      i.aggregate_id === null &&
      i.abandon_reason === null &&
      i.abandon_attempt_count === null
    );
  }
  if (i.terminal_kind !== i.phase) return false;
  const superseded = i.superseded_by !== null;
  const aggregate = i.aggregate_id !== null;
  const abandoned = i.abandon_reason !== null || i.abandon_attempt_count !== null;
  switch (i.terminal_kind) {
    case 'Consumed':
      return !superseded && !aggregate && !abandoned;
    case 'Superseded':
      return superseded && !aggregate && !abandoned;
    case 'Coalesced':
      return !superseded && aggregate && !abandoned;
    case 'Abandoned':
      return (
        !superseded &&
        !aggregate &&
        i.abandon_reason !== null &&
        (i.abandon_reason !== 'MaxAttemptsExhausted' ||
          (i.abandon_attempt_count === i.attempt_count && i.attempt_count >= s.max_stage_attempts))
      );
  }
}

function recoveredLaneValid(s: MachineState, i: RecoverInputLifecycle): boolean {
  if (isTerminalPhase(i.phase)) return i.lane === null;
  return (
    i.lane !== null &&
    s.recovered_admitted_inputs.includes(i.input_id) &&
    get(s.recovered_admitted_lanes, i.input_id) === i.lane
  );
}

function recoveredIdempotencyKeyAvailable(s: MachineState, i: RecoverInputLifecycle): boolean {
  if (i.idempotency_key === null) return true;
  const holder = get(s.admission_idempotency_inputs, i.idempotency_key);
  return holder === null || holder === i.input_id;
}

function writeRecoveredProjection(d: D, i: RecoverInputLifecycle): void {
  const id = i.input_id;
  d.input_phases[id] = i.phase;
  // terminal kind and payloads
  if (i.terminal_kind !== null) d.input_terminal_kind[id] = i.terminal_kind;
  else delete d.input_terminal_kind[id];
  clearTerminalPayloads(d, id);
  if (i.superseded_by !== null) d.input_superseded_by[id] = i.superseded_by;
  if (i.aggregate_id !== null) d.input_aggregate_id[id] = i.aggregate_id;
  if (i.abandon_reason !== null) d.input_abandon_reason[id] = i.abandon_reason;
  if (i.abandon_attempt_count !== null) d.input_abandon_attempt_count[id] = i.abandon_attempt_count;
  // attempts, run association, boundary sequence
  d.input_attempt_counts[id] = i.attempt_count;
  if (i.run_id !== null) d.input_run_associations[id] = i.run_id;
  else delete d.input_run_associations[id];
  if (i.boundary_sequence !== null) d.input_boundary_sequences[id] = i.boundary_sequence;
  else delete d.input_boundary_sequences[id];
  // lanes: live lane only while Queued; recovery lane for every non-terminal row
  delete d.input_lane[id];
  delete d.input_recovery_lanes[id];
  if (i.lane !== null) {
    d.input_recovery_lanes[id] = i.lane;
    if (i.phase === 'Queued') d.input_lane[id] = i.lane;
  }
  // admission sequence: bump the counters past the recovered value, then keep it or mint a fresh one
  if (i.admission_sequence !== null) {
    const seq = i.admission_sequence;
    if (seq >= d.next_admission_seq) d.next_admission_seq = seq + 1;
    if (seq < FIRST_ADMISSION_SEQ && seq <= d.next_priority_admission_seq) {
      d.next_priority_admission_seq = Math.max(0, seq - 1);
    }
  }
  if (i.phase === 'Queued' && i.recovery_reason !== null) takeAdmissionSeq(d, id);
  else if (i.admission_sequence !== null) d.input_admission_seq[id] = i.admission_sequence;
  else delete d.input_admission_seq[id];
  // idempotency binding (exactly the persisted key)
  const oldKey = d.input_idempotency_keys[id];
  if (oldKey !== undefined && d.admission_idempotency_inputs[oldKey] === id) delete d.admission_idempotency_inputs[oldKey];
  delete d.input_idempotency_keys[id];
  if (i.idempotency_key !== null) {
    d.admission_idempotency_inputs[i.idempotency_key] = id;
    d.input_idempotency_keys[id] = i.idempotency_key;
  }
}

// ---------------------------------------------------------------------------------------------
// The table

/** The input-lifecycle arms, per input variant, in upstream declaration order. */
export const inputLifecycleArms: ArmTable<InputLifecycleInput> = {
  QueueAccepted: [acceptedArm<QueueAccepted>('QueueAccepted', 'Queue')],
  SteerAccepted: [acceptedArm<SteerAccepted>('SteerAccepted', 'Steer')],

  ChangeLane: [
    liveArm<ChangeLane>('ChangeLane', [tracked(), inLane()], (d, i) => setLane(d, i.input_id, i.lane)),
  ],

  PrioritizeInput: [
    liveArm<PrioritizeInput>(
      'PrioritizeInput',
      [inLane(), guard('priority_admission_seq_available', (s) => s.next_priority_admission_seq > 0)],
      (d, i) => {
        d.input_admission_seq[i.input_id] = d.next_priority_admission_seq;
        d.next_priority_admission_seq -= 1;
      },
    ),
  ],

  DeferInputBehindBacklog: [
    liveArm<DeferInputBehindBacklog>('DeferInputBehindBacklog', [inLane()], (d, i) => takeAdmissionSeq(d, i.input_id)),
    liveArm<DeferInputBehindBacklog>(
      'DeferInputBehindBacklogAlreadyResolved',
      [
        tracked(),
        guard('input_not_queued', (s, i) => !hasKey(s.input_lane, i.input_id)),
        guard('input_phase_not_queued', (s, i) => get(s.input_phases, i.input_id) !== 'Queued'),
      ],
      undefined,
    ),
  ],

  StageForRun: [
    liveArm<StageForRun>(
      'StageForRun',
      [
        phaseIs('input_phase_queued', 'Queued'),
        inLane(),
        guard('admission_seq_present', (s, i) => hasKey(s.input_admission_seq, i.input_id)),
        guard('recovery_lane_present', (s, i) => hasKey(s.input_recovery_lanes, i.input_id)),
        guard('run_matches_current', (s, i) => s.current_run_id === i.run_id),
      ],
      (d, i) => {
        d.input_phases[i.input_id] = 'Staged';
        d.input_run_associations[i.input_id] = i.run_id;
        delete d.input_lane[i.input_id];
        d.input_attempt_counts[i.input_id] = (d.input_attempt_counts[i.input_id] ?? 0) + 1;
      },
      (post, i) => [
        {
          type: 'RecordRunAssociation',
          input_id: i.input_id,
          run_id: i.run_id,
          attempt_count: post.input_attempt_counts[i.input_id] ?? 0,
        },
      ],
    ),
  ],

  IncrementAttemptCount: [
    liveArm<IncrementAttemptCount>('IncrementAttemptCount', [tracked(), notTerminal()], (d, i) => {
      d.input_attempt_counts[i.input_id] = (d.input_attempt_counts[i.input_id] ?? 0) + 1;
    }),
  ],

  RollbackStaged: [
    liveArm<RollbackStaged>(
      'RollbackStaged',
      [tracked(), notTerminal()],
      (d, i) => {
        d.input_phases[i.input_id] = 'Queued';
        delete d.input_run_associations[i.input_id];
        setLane(d, i.input_id, i.lane);
      },
      (post, i) => [notice(post, i.input_id)],
    ),
  ],

  ResolveStagedRollback: [
    liveArm<ResolveStagedRollback>(
      'ResolveStagedRollbackQueued',
      [
        ...stagedRollbackGuards<ResolveStagedRollback>('Staged', 'input_phase_staged'),
        attemptsTracked(),
        recoveryLaneMatches(),
        belowMax(),
      ],
      (d, i) => {
        d.input_phases[i.input_id] = 'Queued';
        delete d.input_run_associations[i.input_id];
        setLane(d, i.input_id, i.lane);
      },
      (post, i) => [notice(post, i.input_id)],
    ),
    liveArm<ResolveStagedRollback>(
      'ResolveStagedRollbackMaxAttemptsExhausted',
      [
        ...stagedRollbackGuards<ResolveStagedRollback>('Staged', 'input_phase_staged'),
        attemptsTracked(),
        recoveryLaneMatches(),
        atMax(),
      ],
      (d, i) => abandonMaxAttempts(d, i.input_id),
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  ResolveUnstageableQueuedInput: [
    liveArm<ResolveUnstageableQueuedInput>(
      'ResolveUnstageableQueuedInputDeferred',
      [
        ...stagedRollbackGuards<ResolveUnstageableQueuedInput>('Queued', 'input_phase_queued'),
        inLane(),
        attemptsTracked(),
        recoveryLaneMatches(),
        belowMax(),
      ],
      (d, i) => {
        d.input_attempt_counts[i.input_id] = (d.input_attempt_counts[i.input_id] ?? 0) + 1;
        takeAdmissionSeq(d, i.input_id);
      },
      (post, i) => [notice(post, i.input_id)],
    ),
    liveArm<ResolveUnstageableQueuedInput>(
      'ResolveUnstageableQueuedInputMaxAttemptsExhausted',
      [
        ...stagedRollbackGuards<ResolveUnstageableQueuedInput>('Queued', 'input_phase_queued'),
        inLane(),
        attemptsTracked(),
        recoveryLaneMatches(),
        atMax(),
      ],
      (d, i) => abandonMaxAttempts(d, i.input_id),
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  MarkApplied: [
    liveArm<MarkApplied>(
      'MarkApplied',
      [tracked(), notTerminal()],
      (d, i) => {
        d.input_phases[i.input_id] = 'Applied';
      },
      (post, i) => [notice(post, i.input_id)],
    ),
  ],

  MarkAppliedPendingConsumption: [
    liveArm<MarkAppliedPendingConsumption>(
      'MarkAppliedPendingConsumption',
      [tracked(), notTerminal()],
      (d, i) => {
        d.input_phases[i.input_id] = 'AppliedPendingConsumption';
      },
      (post, i) => [notice(post, i.input_id)],
    ),
  ],

  RecordBoundarySeq: [
    liveArm<RecordBoundarySeq>(
      'RecordBoundarySeq',
      [tracked()],
      (d, i) => {
        d.input_boundary_sequences[i.input_id] = d.live_boundary_context_sequence_by_run[i.run_id] ?? 0;
      },
      (post, i) => [
        {
          type: 'RecordBoundarySequence',
          input_id: i.input_id,
          run_id: i.run_id,
          boundary_sequence: post.input_boundary_sequences[i.input_id] ?? 0,
        },
      ],
    ),
  ],

  ResolveLiveBoundaryContextReceipt: [
    {
      name: 'ResolveLiveBoundaryContextReceipt',
      from: ['Running'],
      guards: [
        guard('run_matches_current', (s, i) => s.current_run_id === i.run_id),
        tracked<ResolveLiveBoundaryContextReceipt>(),
        // TS-port addition: the sequence stays a safe integer.
        guard(
          'boundary_sequence_below_max',
          (s, i) => (get(s.live_boundary_context_sequence_by_run, i.run_id) ?? 0) < MAX_SEQUENCE,
        ),
      ],
      update: (d, i) => {
        d.live_boundary_context_sequence_by_run[i.run_id] = (d.live_boundary_context_sequence_by_run[i.run_id] ?? 0) + 1;
        if (d.runtime_completion_result_run_id === null || d.runtime_completion_result_resolved) {
          d.runtime_completion_result_run_id = i.run_id;
          d.runtime_completion_result_resolved = true;
        }
      },
      to: 'self',
      emit: (post, i) => [
        {
          type: 'LiveBoundaryContextReceiptResolved',
          run_id: i.run_id,
          input_id: i.input_id,
          boundary: 'RunCheckpoint',
          sequence: post.live_boundary_context_sequence_by_run[i.run_id] ?? 0,
        },
      ],
    },
  ],

  CommitTerminalBoundarySequence: [
    {
      name: 'CommitTerminalBoundarySequence',
      from: ['Running'],
      guards: [
        guard('run_matches_current', (s, i) => s.current_run_id === i.run_id),
        guard('boundary_sequence_dense_successor', (s, i) => {
          const current = get(s.live_boundary_context_sequence_by_run, i.run_id);
          return current === null ? i.sequence === 1 : current < MAX_SEQUENCE && i.sequence === current + 1;
        }),
      ],
      update: (d, i) => {
        d.live_boundary_context_sequence_by_run[i.run_id] = i.sequence;
      },
      to: 'self',
      emit: (_post, i) => [{ type: 'TerminalBoundarySequenceCommitted', run_id: i.run_id, sequence: i.sequence }],
    },
  ],

  LiveBoundaryUnavailable: [
    {
      name: 'LiveBoundaryUnavailable',
      from: ['Attached', 'Running'],
      guards: [
        tracked<LiveBoundaryUnavailable>(),
        guard(
          'input_queued_in_steer_lane',
          (s, i) => get(s.input_phases, i.input_id) === 'Queued' && get(s.input_lane, i.input_id) === 'Steer',
        ),
      ],
      update: (d, i) => setLane(d, i.input_id, 'Queue'),
      to: 'self',
      emit: (_post, i) => [
        { type: 'LiveBoundaryUnavailableNormalized', input_id: i.input_id, lane: 'Queue', live_interrupt_required: false },
      ],
    },
  ],

  ConsumeOnAccept: [
    liveArm<ConsumeOnAccept>(
      'ConsumeOnAccept',
      [
        tracked(),
        guard(
          'admission_plan_consumed_on_accept',
          (s, i) => get(s.admission_authorized_plans, i.input_id) === 'ConsumedOnAccept',
        ),
      ],
      (d, i) => {
        terminalize(d, i.input_id, 'Consumed');
        clearTerminalPayloads(d, i.input_id);
      },
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  ConsumeInput: [
    liveArm<ConsumeInput>(
      'ConsumeInput',
      [tracked(), notTerminal()],
      (d, i) => {
        terminalize(d, i.input_id, 'Consumed');
        clearTerminalPayloads(d, i.input_id);
      },
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  SupersedeInput: [
    liveArm<SupersedeInput>(
      'SupersedeInput',
      [
        tracked(),
        guard(
          'supersede_authorized',
          (s, i) =>
            get(s.admission_authorized_existing_actions, i.superseded_by) === 'Supersede' &&
            get(s.admission_authorized_existing_targets, i.superseded_by) === i.input_id,
        ),
      ],
      (d, i) => {
        terminalize(d, i.input_id, 'Superseded');
        clearTerminalPayloads(d, i.input_id);
        d.input_superseded_by[i.input_id] = i.superseded_by;
        delete d.admission_authorized_existing_actions[i.superseded_by];
        delete d.admission_authorized_existing_targets[i.superseded_by];
      },
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  CoalesceInput: [
    liveArm<CoalesceInput>(
      'CoalesceInput',
      [
        tracked(),
        guard(
          'coalesce_authorized',
          (s, i) =>
            get(s.admission_authorized_existing_actions, i.aggregate_id) === 'Coalesce' &&
            get(s.admission_authorized_existing_targets, i.aggregate_id) === i.input_id,
        ),
      ],
      (d, i) => {
        terminalize(d, i.input_id, 'Coalesced');
        clearTerminalPayloads(d, i.input_id);
        d.input_aggregate_id[i.input_id] = i.aggregate_id;
        delete d.admission_authorized_existing_actions[i.aggregate_id];
        delete d.admission_authorized_existing_targets[i.aggregate_id];
      },
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  AbandonInput: [
    liveArm<AbandonInput>(
      'AbandonInput',
      [
        tracked(),
        notTerminal(),
        guard(
          'max_attempts_abandon_consistent',
          (s, i) =>
            i.reason !== 'MaxAttemptsExhausted' ||
            (get(s.input_attempt_counts, i.input_id) === i.attempt_count && i.attempt_count >= s.max_stage_attempts),
        ),
      ],
      (d, i) => {
        terminalize(d, i.input_id, 'Abandoned');
        clearTerminalPayloads(d, i.input_id);
        d.input_abandon_reason[i.input_id] = i.reason;
        d.input_abandon_attempt_count[i.input_id] = i.attempt_count;
      },
      (post, i) => [terminalOutcome(post, i.input_id)],
    ),
  ],

  ArchiveTerminalInput: [
    {
      name: 'ArchiveTerminalInput',
      from: [...LIVE_PHASES, 'Destroyed'],
      guards: [
        guard('archive_phase_terminal', (_s, i) => isTerminalPhase(i.phase)),
        tracked<ArchiveTerminalInput>(),
        guard('archive_projection_matches', archiveProjectionMatches),
        guard('idempotency_binding_matches', (s, i) => idempotencyBindingExact(s, i.input_id, i.idempotency_key)),
        guard(
          'input_not_in_lanes',
          (s, i) => !hasKey(s.input_lane, i.input_id) && !hasKey(s.input_recovery_lanes, i.input_id),
        ),
      ],
      update: (d, i) => forgetInput(d, i.input_id),
      to: 'self',
      emit: (_post, i) => [{ type: 'InputLifecycleNotice', input_id: i.input_id, phase: i.phase }],
    },
  ],

  RecoverAdmittedInput: [
    liveArm<RecoverAdmittedInput>(
      'RecoverAdmittedInput',
      [
        guard(
          'continuation_iff_resume_pending',
          (_s, i) =>
            (i.kind === 'Continuation' && i.continuation_kind === 'Ordinary') === (i.execution_kind === 'ResumePending'),
        ),
        guard(
          'peer_terminal_iff_apply_intent',
          (_s, i) => (i.kind === 'PeerResponseTerminal') === (i.peer_response_terminal_apply_intent !== null),
        ),
        guard('immediate_boundary_requires_steer', (_s, i) => i.boundary !== 'Immediate' || i.lane === 'Steer'),
      ],
      (d, i) => {
        const id = i.input_id;
        d.recovered_admitted_inputs = setAdd(d.recovered_admitted_inputs, id);
        d.recovered_admitted_lanes[id] = i.lane;
        d.input_runtime_boundary[id] = i.boundary;
        d.input_runtime_execution_kind[id] = i.execution_kind;
        if (i.peer_response_terminal_apply_intent !== null) {
          d.input_runtime_peer_response_terminal_apply_intent[id] = i.peer_response_terminal_apply_intent;
        } else {
          delete d.input_runtime_peer_response_terminal_apply_intent[id];
        }
        d.input_is_prompt[id] = i.kind === 'Prompt';
      },
    ),
  ],

  RecoverInputLifecycle: [
    liveArm<RecoverInputLifecycle>(
      'RecoverInputLifecycle',
      [
        guard('recovered_terminal_shape_valid', recoveredTerminalShapeValid),
        guard('recovered_lane_matches_witness', recoveredLaneValid),
        guard(
          'queued_row_has_sequence_or_reason',
          (_s, i) => i.phase !== 'Queued' || i.admission_sequence !== null || i.recovery_reason !== null,
        ),
        guard('staged_row_has_run', (_s, i) => i.phase !== 'Staged' || i.run_id !== null),
        guard(
          'recovered_counts_valid',
          (_s, i) =>
            Number.isSafeInteger(i.attempt_count) &&
            i.attempt_count >= 0 &&
            (i.admission_sequence === null ||
              (Number.isSafeInteger(i.admission_sequence) &&
                i.admission_sequence >= 0 &&
                i.admission_sequence < MAX_SEQUENCE)),
        ),
        guard('idempotency_key_available', recoveredIdempotencyKeyAvailable),
        // Admission tokens are unique among tracked inputs (§9.2 item 6); a persisted projection
        // that would share one with another input is corrupt and refused.
        guard(
          'admission_sequence_unclaimed',
          (s, i) =>
            i.admission_sequence === null ||
            Object.entries(s.input_admission_seq).every(([id, seq]) => id === i.input_id || seq !== i.admission_sequence),
        ),
      ],
      writeRecoveredProjection,
      (post, i) => [notice(post, i.input_id)],
    ),
  ],
};
