import fc from 'fast-check';
import { ADMISSION_INPUT_KINDS, type ContinuationKind } from '../../../src/machine/arms/admission.js';
import type { InputLifecycleInput, RecoveryNormalizationReason } from '../../../src/machine/arms/input-lifecycle.js';
import type {
  InputAbandonReason,
  InputLane,
  InputPhase,
  InputTerminalKind,
  RuntimeBoundary,
  RuntimeExecutionKind,
} from '../../../src/machine/state.js';
import { FIRST_ADMISSION_SEQ } from '../../../src/machine/state.js';
import { idempotencyKey, inputId, optional, pick, runId, smallCount } from './pool.js';

const lane = pick<InputLane>(['Queue', 'Steer']);
const abandonReason = pick<InputAbandonReason>([
  'Retired',
  'Reset',
  'Stopped',
  'Destroyed',
  'Cancelled',
  'MaxAttemptsExhausted',
  'NeverExecuted',
]);
const terminalKind = pick<InputTerminalKind>(['Consumed', 'Superseded', 'Coalesced', 'Abandoned']);
const boundary = pick<RuntimeBoundary>(['RunStart', 'RunCheckpoint', 'Immediate']);
const execKind = pick<RuntimeExecutionKind>(['ContentTurn', 'ResumePending']);
const admissionSeq = optional(fc.integer({ min: FIRST_ADMISSION_SEQ, max: FIRST_ADMISSION_SEQ + 6 }));
const boundarySeq = optional(fc.integer({ min: 0, max: 4 }));
/** Mostly `null`: archive arguments must match exactly, and most inputs never ran. */
const mostlyNull = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
/** Attempt counts biased toward 0 (fresh admissions). */
const attemptCount = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: smallCount });
/** Admission sequences biased toward the first few handed out. */
const likelySeq = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: FIRST_ADMISSION_SEQ, max: FIRST_ADMISSION_SEQ + 3 }) },
  { weight: 1, arbitrary: admissionSeq },
);
const reason = optional(
  pick<RecoveryNormalizationReason>(['QueueAccepted', 'RollbackStaged', 'BoundaryReceiptCommitted', 'MissingBoundaryReceipt']),
);

const byId = <T extends string>(type: T) => fc.record({ type: fc.constant(type), input_id: inputId });
const byIdLane = <T extends string>(type: T) => fc.record({ type: fc.constant(type), input_id: inputId, lane });
const byIdRun = <T extends string>(type: T) => fc.record({ type: fc.constant(type), input_id: inputId, run_id: runId });

/** A terminal projection whose payload shape is consistent with its kind (so archive/recovery can match). */
const terminalProjection = fc
  .record({
    kind: terminalKind,
    other: inputId,
    reason: abandonReason,
    attempts: attemptCount,
    abandonAttempts: attemptCount,
  })
  .map(({ kind, other, reason: r, attempts, abandonAttempts }) => ({
    phase: kind as InputPhase,
    terminal_kind: kind,
    superseded_by: kind === 'Superseded' ? other : null,
    aggregate_id: kind === 'Coalesced' ? other : null,
    abandon_reason: kind === 'Abandoned' ? r : null,
    abandon_attempt_count:
      kind === 'Abandoned' ? (r === 'MaxAttemptsExhausted' ? attempts : abandonAttempts) : null,
    attempt_count: attempts,
  }));

const nonTerminalProjection = fc
  .record({ phase: pick<InputPhase>(['Queued', 'Queued', 'Staged', 'Applied', 'AppliedPendingConsumption']), attempts: smallCount })
  .map(({ phase, attempts }) => ({
    phase,
    terminal_kind: null,
    superseded_by: null,
    aggregate_id: null,
    abandon_reason: null,
    abandon_attempt_count: null,
    attempt_count: attempts,
  }));

const archiveArb = fc
  .record({
    input_id: inputId,
    projection: terminalProjection,
    run_id: mostlyNull(runId),
    boundary_sequence: mostlyNull(fc.integer({ min: 0, max: 4 })),
    admission_sequence: likelySeq,
    idempotency_key: mostlyNull(idempotencyKey),
  })
  .map(({ projection, ...rest }): InputLifecycleInput => ({ type: 'ArchiveTerminalInput', ...rest, ...projection }));

const recoverLifecycleArb = fc
  .record({
    input_id: inputId,
    projection: fc.oneof(terminalProjection, nonTerminalProjection),
    run_id: optional(runId),
    boundary_sequence: boundarySeq,
    admission_sequence: admissionSeq,
    lane,
    recovery_reason: reason,
    idempotency_key: optional(idempotencyKey),
  })
  .map(({ projection, lane: l, ...rest }): InputLifecycleInput => ({
    type: 'RecoverInputLifecycle',
    ...rest,
    ...projection,
    lane: projection.terminal_kind === null ? l : null,
  }));

const recoverAdmittedArb = fc
  .record({
    input_id: inputId,
    kind: pick(ADMISSION_INPUT_KINDS),
    continuation_kind: pick<ContinuationKind>(['Ordinary', 'Ordinary', 'WorkgraphAttention']),
    boundary,
    lane,
    consistent: fc.boolean(),
    exec: execKind,
  })
  .map(({ input_id, kind, continuation_kind, boundary: b, lane: l, consistent, exec }): InputLifecycleInput => ({
    type: 'RecoverAdmittedInput',
    input_id,
    kind,
    continuation_kind,
    boundary: b,
    lane: l,
    execution_kind: consistent
      ? kind === 'Continuation' && continuation_kind === 'Ordinary'
        ? 'ResumePending'
        : 'ContentTurn'
      : exec,
    peer_response_terminal_apply_intent: kind === 'PeerResponseTerminal' ? 'AppendContentAndRun' : null,
  }));

/** Random input-lifecycle inputs drawn from the shared id pools, weighted toward the live path. */
export const inputLifecycleInputArb: fc.Arbitrary<InputLifecycleInput> = fc.oneof(
  { weight: 4, arbitrary: byId('QueueAccepted') },
  { weight: 2, arbitrary: byId('SteerAccepted') },
  { weight: 1, arbitrary: byIdLane('ChangeLane') },
  { weight: 1, arbitrary: byId('PrioritizeInput') },
  { weight: 1, arbitrary: byId('DeferInputBehindBacklog') },
  { weight: 4, arbitrary: byIdRun('StageForRun') },
  { weight: 1, arbitrary: byId('IncrementAttemptCount') },
  { weight: 1, arbitrary: byIdLane('RollbackStaged') },
  { weight: 3, arbitrary: byIdLane('ResolveStagedRollback') },
  { weight: 1, arbitrary: byIdLane('ResolveUnstageableQueuedInput') },
  { weight: 2, arbitrary: byId('MarkApplied') },
  { weight: 2, arbitrary: byId('MarkAppliedPendingConsumption') },
  { weight: 2, arbitrary: byIdRun('RecordBoundarySeq') },
  { weight: 2, arbitrary: byIdRun('ResolveLiveBoundaryContextReceipt') },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('CommitTerminalBoundarySequence' as const),
      run_id: runId,
      sequence: fc.integer({ min: 0, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: byId('LiveBoundaryUnavailable') },
  { weight: 2, arbitrary: byId('ConsumeOnAccept') },
  { weight: 2, arbitrary: byId('ConsumeInput') },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('SupersedeInput' as const), input_id: inputId, superseded_by: inputId }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('CoalesceInput' as const), input_id: inputId, aggregate_id: inputId }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('AbandonInput' as const),
      input_id: inputId,
      reason: abandonReason,
      attempt_count: smallCount,
    }),
  },
  { weight: 2, arbitrary: archiveArb },
  { weight: 1, arbitrary: recoverAdmittedArb },
  { weight: 1, arbitrary: recoverLifecycleArb },
);
