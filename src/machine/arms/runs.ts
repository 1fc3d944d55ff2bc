/**
 * Run lifecycle arms (`machine.md` §4): binding a run (§4.2), the turn-phase
 * machine (§4.3), run-level terminal facts and the return from `Running` to the
 * pre-run phase (§4.4), and the failure-source → outcome/cause mapping (§4.5).
 *
 * Every turn-phase arm fires only in lifecycle `Running` and keeps it; the
 * turn sub-state lives in `turn_phase` and is checked by guards.
 */
import type { Draft } from '../draft.js';
import { guard, type Arm, type ArmTable, type Guard } from '../arm.js';
import { setEquals, setOf } from '../collections.js';
import {
  TURN_PHASES,
  TURN_TERMINAL_PHASES,
  type AdmittedContentShape,
  type LlmRetryFailureKind,
  type MachineState,
  type Phase,
  type PreRunPhase,
  type PrimitiveKind,
  type RuntimeApplyFailureCause,
  type TurnPhase,
  type TurnTerminalCauseKind,
  type TurnTerminalOutcome,
} from '../state.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

/** Raw failure source reported by the agent loop (`RunFailureSourceKind`, `machine.md` §4.5). */
export const RUN_FAILURE_SOURCE_KINDS = [
  'TokenBudgetExceeded',
  'ToolCallBudgetExceeded',
  'TimeBudgetExceeded',
  'StructuredOutputValidationFailed',
  'InvalidOutputSchema',
  'HookDenied',
  'HookTimeout',
  'HookExecutionFailed',
  'HookConfigInvalid',
  'Llm',
  'ToolError',
  'InvalidToolAccess',
  'LlmRetryExhausted',
  'MaxTurnsReached',
  'Store',
  'Mcp',
  'Cancelled',
  'Internal',
  'Unknown',
] as const;
/** See {@link RUN_FAILURE_SOURCE_KINDS}. */
export type RunFailureSourceKind = (typeof RUN_FAILURE_SOURCE_KINDS)[number];

/** LLM failure kinds that `RecoverableFailure` accepts (`machine.md` §4.3). */
export const RECOVERABLE_LLM_FAILURE_KINDS: readonly LlmRetryFailureKind[] = [
  'RateLimited',
  'NetworkTimeout',
  'CallTimeout',
  'RetryableProviderError',
];

/**
 * LLM failure kinds as reported to `RecoverableFailure`: the four recoverable
 * kinds plus non-recoverable ones (which the arm refuses).
 */
export const LLM_FAILURE_KINDS = [
  ...(RECOVERABLE_LLM_FAILURE_KINDS as readonly LlmRetryFailureKind[]),
  'AuthenticationFailed',
  'InvalidRequest',
  'ContextLengthExceeded',
  'ContentFiltered',
  'NonRetryableProviderError',
] as const;
/** See {@link LLM_FAILURE_KINDS}. */
export type LlmFailureKind = LlmRetryFailureKind | (typeof LLM_FAILURE_KINDS)[number];

/** Whether `kind` is one of the recoverable LLM failure kinds. */
export function isRecoverableLlmFailureKind(kind: LlmFailureKind): kind is LlmRetryFailureKind {
  return (RECOVERABLE_LLM_FAILURE_KINDS as readonly string[]).includes(kind);
}

/** A turn outcome paired with its cause. */
export interface OutcomeAndCause {
  readonly outcome: TurnTerminalOutcome;
  readonly cause: TurnTerminalCauseKind;
}

/**
 * `machine.md` §4.5: the terminal outcome and cause a raw failure source maps to.
 * Total: `Unknown` (refused by every arm that consumes a source) and every
 * unlisted source fall in the "anything else" row (`Failed` / `FatalFailure`).
 */
export function outcomeAndCauseForFailureSource(source: RunFailureSourceKind): OutcomeAndCause {
  switch (source) {
    case 'TokenBudgetExceeded':
    case 'ToolCallBudgetExceeded':
      return { outcome: 'BudgetExhausted', cause: 'BudgetExhausted' };
    case 'TimeBudgetExceeded':
      return { outcome: 'TimeBudgetExceeded', cause: 'TimeBudgetExceeded' };
    case 'StructuredOutputValidationFailed':
    case 'InvalidOutputSchema':
      return { outcome: 'StructuredOutputValidationFailed', cause: 'StructuredOutputValidationFailed' };
    case 'HookDenied':
      return { outcome: 'Failed', cause: 'HookDenied' };
    case 'HookTimeout':
    case 'HookExecutionFailed':
    case 'HookConfigInvalid':
      return { outcome: 'Failed', cause: 'HookFailure' };
    case 'Llm':
      return { outcome: 'Failed', cause: 'LlmFailure' };
    case 'ToolError':
    case 'InvalidToolAccess':
      return { outcome: 'Failed', cause: 'ToolFailure' };
    case 'LlmRetryExhausted':
      return { outcome: 'Failed', cause: 'RetryExhausted' };
    case 'MaxTurnsReached':
      return { outcome: 'Failed', cause: 'TurnLimitReached' };
    default:
      return { outcome: 'Failed', cause: 'FatalFailure' };
  }
}

/**
 * §4.5 consistency rule ("outcome matches cause"): `BudgetExhausted`,
 * `TimeBudgetExceeded` and `StructuredOutputValidationFailed` causes require the
 * same-named outcome; every other cause requires outcome `Failed`.
 */
export function outcomeMatchesCause(outcome: TurnTerminalOutcome | null, cause: TurnTerminalCauseKind): boolean {
  switch (cause) {
    case 'BudgetExhausted':
      return outcome === 'BudgetExhausted';
    case 'TimeBudgetExceeded':
      return outcome === 'TimeBudgetExceeded';
    case 'StructuredOutputValidationFailed':
      return outcome === 'StructuredOutputValidationFailed';
    default:
      return outcome === 'Failed';
  }
}

/** A cause is "known" when present and not `Unknown`. */
export function causeIsKnown(cause: TurnTerminalCauseKind | null): cause is TurnTerminalCauseKind {
  return cause !== null && cause !== 'Unknown';
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** Fields shared by every run-scoped input. */
interface RunScoped {
  readonly run_id: string;
}

/** Every input of the run/turn domain, discriminated by `type`. */
export type RunInput =
  // §4.2 binding a run
  | { readonly type: 'Prepare'; readonly session_id: string; readonly run_id: string }
  | { readonly type: 'DrainQueuedRun'; readonly run_id: string }
  | {
      readonly type: 'StartConversationRun';
      readonly run_id: string;
      readonly primitive_kind: PrimitiveKind;
      readonly admitted_content_shape: AdmittedContentShape;
      readonly vision_enabled: boolean;
      readonly image_tool_results_enabled: boolean;
      readonly max_extraction_retries: number;
    }
  | { readonly type: 'StartImmediateAppend'; readonly run_id: string }
  // §4.3 turn-phase machine
  | { readonly type: 'PrimitiveApplied'; readonly run_id: string }
  | { readonly type: 'LlmReturnedToolCalls'; readonly run_id: string; readonly tool_calls: number }
  | { readonly type: 'LlmReturnedTerminal'; readonly run_id: string }
  | {
      readonly type: 'RegisterPendingOps';
      readonly run_id: string;
      readonly op_refs: readonly string[];
      readonly barrier_operation_ids: readonly string[];
    }
  | { readonly type: 'OpsBarrierSatisfied'; readonly run_id: string; readonly operation_ids: readonly string[] }
  | { readonly type: 'ToolCallsResolved'; readonly run_id: string }
  | { readonly type: 'CallbackPending'; readonly run_id: string }
  | { readonly type: 'BoundaryContinue'; readonly run_id: string }
  | { readonly type: 'BoundaryComplete'; readonly run_id: string }
  | { readonly type: 'EnterExtraction'; readonly run_id: string; readonly max_retries: number }
  | { readonly type: 'ExtractionStart'; readonly run_id: string }
  | { readonly type: 'ExtractionValidationPassed'; readonly run_id: string }
  | { readonly type: 'ExtractionValidationFailed'; readonly run_id: string; readonly error: string }
  | { readonly type: 'ExtractionFailed'; readonly run_id: string; readonly error: string }
  | {
      readonly type: 'RecoverableFailure';
      readonly run_id: string;
      readonly kind: LlmFailureKind;
      readonly attempt: number;
      readonly max_retries: number;
      readonly delay_ms: number;
      readonly error: string;
    }
  | { readonly type: 'RetryRequested'; readonly run_id: string; readonly attempt: number }
  | {
      readonly type: 'FatalFailure';
      readonly run_id: string;
      readonly source: RunFailureSourceKind;
      readonly error: string;
    }
  | {
      readonly type: 'TurnLimitReached';
      readonly run_id: string;
      readonly turn_count: number;
      readonly max_turns: number;
    }
  | { readonly type: 'BudgetExhausted'; readonly run_id: string }
  | { readonly type: 'TimeBudgetExceeded'; readonly run_id: string }
  | { readonly type: 'CancelNow'; readonly run_id: string }
  | { readonly type: 'RequestCancelAfterBoundary'; readonly run_id: string }
  | { readonly type: 'CancellationObserved'; readonly run_id: string }
  | { readonly type: 'AcknowledgeTerminal'; readonly run_id: string; readonly outcome: TurnTerminalOutcome | null }
  | { readonly type: 'ForceCancelNoRun' }
  // §4.4 run-level terminal facts and return
  | { readonly type: 'RunCompleted'; readonly run_id: string }
  | {
      readonly type: 'RunFailed';
      readonly run_id: string;
      readonly runtime_apply_failure_cause: RuntimeApplyFailureCause | null;
      readonly runtime_apply_failure_message: string | null;
      readonly machine_terminal_failure_observed: boolean;
      readonly source: RunFailureSourceKind | null;
      readonly error: string;
    }
  | { readonly type: 'RunCancelled'; readonly run_id: string }
  | { readonly type: 'Commit'; readonly input_id: string; readonly run_id: string }
  | { readonly type: 'Fail'; readonly run_id: string }
  | { readonly type: 'CancelRun'; readonly run_id: string }
  | { readonly type: 'RollbackRun'; readonly run_id: string }
  | { readonly type: 'ServiceTurnCommitted'; readonly run_id: string };

/** The run input of variant `K`. */
export type RunInputOf<K extends RunInput['type']> = Extract<RunInput, { readonly type: K }>;

// ---------------------------------------------------------------------------------------------
// Effects

/** Signal strength handed to the runtime loop (`commands.md` §2.10). */
export type PostAdmissionSignalKind = 'WakeLoop' | 'InterruptYielding' | 'RequestImmediateProcessing';

/** Effects of the run/turn domain (`machine.md` §8.3). */
export type RunEffect =
  | { readonly type: 'SubmitRunPrimitive'; readonly run_id: string }
  | { readonly type: 'TurnRunStarted'; readonly run_id: string }
  | { readonly type: 'TurnBoundaryApplied'; readonly run_id: string; readonly boundary_count: number }
  | { readonly type: 'TurnRunCompleted'; readonly run_id: string; readonly outcome: TurnTerminalOutcome }
  | {
      readonly type: 'TurnRunFailed';
      readonly run_id: string;
      readonly cause: TurnTerminalCauseKind;
      readonly error: string;
    }
  | { readonly type: 'TurnRunCancelled'; readonly run_id: string; readonly reason: 'Observed' }
  | { readonly type: 'TurnCheckCompaction'; readonly run_id: string }
  | {
      readonly type: 'RecordTerminalOutcome';
      readonly input_id: string | null;
      readonly terminal_kind: string | null;
      readonly abandon_reason: string | null;
      readonly run_id: string | null;
    }
  | { readonly type: 'PostAdmissionSignal'; readonly signal: PostAdmissionSignalKind };

const submitRunPrimitive = (run_id: string): RunEffect => ({ type: 'SubmitRunPrimitive', run_id });
const turnRunStarted = (run_id: string): RunEffect => ({ type: 'TurnRunStarted', run_id });
const checkCompaction = (run_id: string): RunEffect => ({ type: 'TurnCheckCompaction', run_id });
const boundaryApplied = (post: MachineState, run_id: string): RunEffect => ({
  type: 'TurnBoundaryApplied',
  run_id,
  boundary_count: post.boundary_count,
});
const runCompleted = (run_id: string): RunEffect => ({ type: 'TurnRunCompleted', run_id, outcome: 'Completed' });
const runCancelled = (run_id: string): RunEffect => ({ type: 'TurnRunCancelled', run_id, reason: 'Observed' });
/** R5: an unset cause unwraps to the type default (`Unknown`). */
const runFailed = (post: MachineState, run_id: string, error: string): RunEffect => ({
  type: 'TurnRunFailed',
  run_id,
  cause: post.terminal_cause_kind ?? 'Unknown',
  error,
});
const recordRunTerminal = (post: MachineState, run_id: string): RunEffect => ({
  type: 'RecordTerminalOutcome',
  input_id: null,
  terminal_kind: post.terminal_outcome,
  abandon_reason: null,
  run_id,
});

// ---------------------------------------------------------------------------------------------
// Guards and updates shared by many arms

type D = Draft<MachineState>;

const NON_TERMINAL_TURN_PHASES: readonly TurnPhase[] = TURN_PHASES.filter((p) => !TURN_TERMINAL_PHASES.includes(p));
const CANCELLABLE_TURN_PHASES: readonly TurnPhase[] = NON_TERMINAL_TURN_PHASES.filter((p) => p !== 'Ready');
const RESETTABLE_TURN_PHASES: readonly TurnPhase[] = ['Ready', ...TURN_TERMINAL_PHASES];

const sessionRegistered: Guard<unknown> = guard('session_registered', (s) => s.session_id !== null);
const completionCorrelationSettled: Guard<unknown> = guard(
  'completion_correlation_settled',
  (s) => s.runtime_completion_result_run_id === null || s.runtime_completion_result_resolved,
);
const completionCorrelationUnsettled: Guard<unknown> = guard(
  'completion_correlation_unsettled',
  (s) => s.runtime_completion_result_run_id !== null && !s.runtime_completion_result_resolved,
);
const runtimeBindingPresent: Guard<unknown> = guard('runtime_binding_present', (s) => s.active_runtime_id !== null);
const turnResettable: Guard<unknown> = guard('turn_resettable', (s) => RESETTABLE_TURN_PHASES.includes(s.turn_phase));

/** Turn-scoped inputs name the bound run (`run_matches_current`). */
const runMatchesCurrent: Guard<RunScoped> = guard('run_matches_current', (s, i) => s.current_run_id === i.run_id);
/** Run-level terminal facts name the bound run (`run_matches_binding`). */
const runMatchesBinding: Guard<RunScoped> = guard('run_matches_binding', (s, i) => s.current_run_id === i.run_id);
/** Return arms name the bound run (`current_run_id_matches_binding`). */
const currentRunIdMatchesBinding: Guard<RunScoped> = guard(
  'current_run_id_matches_binding',
  (s, i) => s.current_run_id === i.run_id,
);

/** Guard that `turn_phase` is one of `phases`. */
function turnIn(name: string, phases: readonly TurnPhase[]): Guard<unknown> {
  return guard(name, (s) => phases.includes(s.turn_phase));
}
const turnNonTerminal = turnIn('turn_non_terminal', NON_TERMINAL_TURN_PHASES);
const turnCancellable = turnIn('turn_cancellable', CANCELLABLE_TURN_PHASES);
const turnApplyingPrimitive = turnIn('turn_applying_primitive', ['ApplyingPrimitive']);
const turnCallingLlm = turnIn('turn_calling_llm', ['CallingLlm']);
const turnWaitingForOps = turnIn('turn_waiting_for_ops', ['WaitingForOps']);
const turnDrainingBoundary = turnIn('turn_draining_boundary', ['DrainingBoundary']);
const turnExtracting = turnIn('turn_extracting', ['Extracting']);
const turnErrorRecovery = turnIn('turn_error_recovery', ['ErrorRecovery']);
const turnCancelling = turnIn('turn_cancelling', ['Cancelling']);
const turnTerminal = turnIn('turn_terminal', TURN_TERMINAL_PHASES);

const cabSet: Guard<unknown> = guard('cancel_after_boundary', (s) => s.cancel_after_boundary);
const cabClear: Guard<unknown> = guard('no_cancel_after_boundary', (s) => !s.cancel_after_boundary);

/** †: the per-turn reset applied at turn start (`machine.md` §4.2). */
function perTurnReset(d: D): void {
  d.tool_calls_pending = 0;
  d.pending_op_refs = [];
  d.barrier_operation_ids = [];
  d.has_barrier_ops = false;
  d.barrier_satisfied = false;
  d.boundary_count = 0;
  d.cancel_after_boundary = false;
  d.boundary_cancel_dispatch_pending = false;
  d.turn_terminal_run_id = null;
  d.terminal_outcome = null;
  d.terminal_cause_kind = null;
  d.last_runtime_apply_failure_cause = null;
  d.last_runtime_apply_failure_message = null;
  d.extraction_attempts = 0;
  d.extraction_active = false;
  d.llm_retry_attempt = 0;
  d.llm_retry_max_retries = 0;
  d.llm_retry_selected_delay_ms = 0;
  d.llm_retry_last_failure_kind = null;
}

/** A boundary that observed `cancel_after_boundary`: count it, clear the latch, end Cancelled. */
function cancelAtBoundary(d: D, run_id: string): void {
  d.boundary_count += 1;
  d.cancel_after_boundary = false;
  d.boundary_cancel_dispatch_pending = false;
  d.turn_terminal_run_id = run_id;
  d.terminal_outcome = 'Cancelled';
  d.turn_phase = 'Cancelled';
}

/** Opens the completion-correlation slot for `run` (§4.8). */
function openCompletionSlot(d: D, run_id: string): void {
  d.runtime_completion_result_run_id = run_id;
  d.runtime_completion_result_resolved = false;
}

/** Moves the turn to `Failed` with the given outcome and cause (turn-limit and budget arms). */
function failTurn(d: D, outcome: TurnTerminalOutcome, cause: TurnTerminalCauseKind): void {
  d.turn_phase = 'Failed';
  d.terminal_outcome = outcome;
  d.terminal_cause_kind = cause;
}

// ---------------------------------------------------------------------------------------------
// §4.2 binding a run

function prepareArm(
  name: string,
  from: Phase,
  preRun: PreRunPhase,
  retaining: boolean,
  extraGuards: readonly Guard<unknown>[],
): Arm<RunScoped> {
  return {
    name,
    from: [from],
    guards: [...extraGuards, retaining ? completionCorrelationUnsettled : completionCorrelationSettled],
    update: (d, i) => {
      d.current_run_id = i.run_id;
      d.pre_run_phase = preRun;
      d.turn_terminal_run_id = null;
      if (!retaining) {
        d.runtime_completion_result_run_id = null;
        d.runtime_completion_result_resolved = true;
      }
    },
    to: 'Running',
    emit: (_post, i) => [submitRunPrimitive(i.run_id)],
  };
}

type StartConversationRunInput = RunInputOf<'StartConversationRun'>;

const conversationShapeMatchesPrimitive: Guard<StartConversationRunInput> = guard(
  'conversation_shape_matches_primitive',
  (_s, i) =>
    i.primitive_kind === 'ConversationTurn' &&
    (i.admitted_content_shape === 'Conversation' || i.admitted_content_shape === 'Empty'),
);

function startConversationArm(name: string, from: Phase, needsBinding: boolean): Arm<StartConversationRunInput> {
  const keepsPreRun = from === 'Running';
  return {
    name,
    from: [from],
    guards: [...(needsBinding ? [runtimeBindingPresent] : []), turnResettable, conversationShapeMatchesPrimitive],
    update: (d, i) => {
      d.current_run_id = i.run_id;
      if (!keepsPreRun) d.pre_run_phase = 'Attached';
      d.turn_phase = 'ApplyingPrimitive';
      d.primitive_kind = i.primitive_kind;
      d.admitted_content_shape = i.admitted_content_shape;
      d.vision_enabled = i.vision_enabled;
      d.image_tool_results_enabled = i.image_tool_results_enabled;
      d.max_extraction_retries = i.max_extraction_retries;
      perTurnReset(d);
    },
    to: 'Running',
    emit: (_post, i) => [turnRunStarted(i.run_id)],
  };
}

function startImmediateAppendArm(name: string, from: Phase): Arm<RunScoped> {
  const keepsPreRun = from === 'Running';
  return {
    name,
    from: [from],
    guards: [turnResettable],
    update: (d, i) => {
      d.current_run_id = i.run_id;
      if (!keepsPreRun) d.pre_run_phase = 'Attached';
      d.turn_phase = 'ApplyingPrimitive';
      d.primitive_kind = 'ImmediateAppend';
      d.admitted_content_shape = 'ImmediateAppend';
      d.vision_enabled = false;
      d.image_tool_results_enabled = false;
      d.max_extraction_retries = 0;
      perTurnReset(d);
    },
    to: 'Running',
    emit: (_post, i) => [turnRunStarted(i.run_id)],
  };
}

// ---------------------------------------------------------------------------------------------
// §4.3 turn-phase machine

/** A turn-phase arm: lifecycle `Running`, `run_matches_current` first, phase unchanged. */
function turnArm<I extends RunScoped>(
  name: string,
  guards: readonly Guard<I>[],
  update: ((d: D, i: I) => void) | undefined,
  emit?: (post: MachineState, i: I) => readonly RunEffect[],
): Arm<I> {
  return {
    name,
    from: ['Running'],
    guards: [runMatchesCurrent, ...guards],
    ...(update ? { update } : {}),
    to: 'self',
    ...(emit ? { emit } : {}),
  };
}

const primitiveIsConversation: Guard<unknown> = guard(
  'primitive_is_conversation_turn',
  (s) => s.primitive_kind === 'ConversationTurn',
);
const primitiveIsImmediateAppend: Guard<unknown> = guard(
  'primitive_is_immediate_append',
  (s) => s.primitive_kind === 'ImmediateAppend',
);

type ToolCallsInput = RunInputOf<'LlmReturnedToolCalls'>;
type ExtractionFailedInput = RunInputOf<'ExtractionValidationFailed'>;
type RecoverableFailureInput = RunInputOf<'RecoverableFailure'>;
type FatalFailureInput = RunInputOf<'FatalFailure'>;

const extractionRetriesRemain: Guard<unknown> = guard(
  'extraction_retries_remain',
  (s) => s.extraction_attempts < s.max_extraction_retries,
);
const extractionRetriesExhausted: Guard<unknown> = guard(
  'extraction_retries_exhausted',
  (s) => s.extraction_attempts >= s.max_extraction_retries,
);

/** Structured-output extraction gave up: the turn completes (no cause). */
function completeAfterExtraction(d: D): void {
  d.extraction_attempts += 1;
  d.extraction_active = false;
  d.terminal_outcome = 'Completed';
  d.terminal_cause_kind = null;
  d.turn_phase = 'Completed';
}

// ---------------------------------------------------------------------------------------------
// §4.4 return arms

const RETURN_TARGETS: readonly PreRunPhase[] = ['Idle', 'Attached', 'Retired'];

function preRunIs(phase: PreRunPhase): Guard<unknown> {
  return guard(`pre_run_phase_${phase.toLowerCase()}`, (s) => s.pre_run_phase === phase);
}

/** Three arms (one per pre-run phase) returning from `Running`, named `<prefix>RunningTo<Phase>`. */
function returnArms<I extends RunScoped>(
  prefix: string,
  extraGuards: readonly Guard<I>[],
  emit?: (post: MachineState, i: I) => readonly RunEffect[],
): readonly Arm<I>[] {
  return RETURN_TARGETS.map((target) => ({
    name: `${prefix}RunningTo${target}`,
    from: ['Running'] as const,
    guards: [preRunIs(target), currentRunIdMatchesBinding, ...extraGuards],
    update: (d: D, i: I) => {
      d.current_run_id = null;
      d.pre_run_phase = null;
      // Divergence (bounded state): a returned run's boundary counter is never read again
      // (RecordBoundarySeq precedes the return; live receipts need the current run), so it is
      // dropped here instead of growing the map by one entry per run forever.
      delete d.live_boundary_context_sequence_by_run[i.run_id];
      // Divergence: a stop deferred while the run was bound must not outlive the run when it
      // returns to Idle/Retired (§9.1 `deferred_stop_requires_active_runtime_phase`); the stop
      // effect was already emitted and the shell completes it.
      if (target !== 'Attached') d.runtime_stop_deferred = false;
    },
    to: target,
    ...(emit ? { emit } : {}),
  }));
}

const turnFailedWithCause: Guard<unknown> = guard(
  'turn_failed_with_cause',
  (s) => s.turn_phase === 'Failed' && causeIsKnown(s.terminal_cause_kind),
);
const turnCancelledWithOutcome: Guard<unknown> = guard(
  'turn_cancelled',
  (s) => s.turn_phase === 'Cancelled' && s.terminal_outcome === 'Cancelled',
);
const serviceTurnTerminal: Guard<unknown> = guard(
  'turn_completed_or_failed',
  (s) => s.turn_phase === 'Completed' || s.turn_phase === 'Failed',
);
const serviceCompletedCoherent: Guard<unknown> = guard(
  'completed_turn_outcome_completed_without_cause',
  (s) => s.turn_phase !== 'Completed' || (s.terminal_outcome === 'Completed' && s.terminal_cause_kind === null),
);
const serviceFailedCoherent: Guard<unknown> = guard(
  'failed_turn_cause_known_and_consistent',
  (s) =>
    s.turn_phase !== 'Failed' ||
    (causeIsKnown(s.terminal_cause_kind) && outcomeMatchesCause(s.terminal_outcome, s.terminal_cause_kind)),
);

// RunFailed guards (§4.4), in declaration order after `run_matches_binding`.
type RunFailedInput = RunInputOf<'RunFailed'>;
const runFailedGuards: readonly Guard<RunFailedInput>[] = [
  guard(
    'runtime_apply_failure_excludes_machine_terminal',
    (_s, i) => i.runtime_apply_failure_cause === null || !i.machine_terminal_failure_observed,
  ),
  guard('machine_terminal_failure_has_no_source', (_s, i) => !i.machine_terminal_failure_observed || i.source === null),
  guard(
    'machine_terminal_failure_outcome_is_failure',
    (s, i) =>
      !i.machine_terminal_failure_observed ||
      (s.terminal_outcome !== null &&
        s.terminal_outcome !== 'None' &&
        s.terminal_outcome !== 'Completed' &&
        s.terminal_outcome !== 'Cancelled'),
  ),
  guard(
    'machine_terminal_failure_cause_known',
    (s, i) => !i.machine_terminal_failure_observed || causeIsKnown(s.terminal_cause_kind),
  ),
  guard(
    'machine_terminal_failure_outcome_matches_cause',
    (s, i) =>
      !i.machine_terminal_failure_observed ||
      (s.terminal_cause_kind !== null && outcomeMatchesCause(s.terminal_outcome, s.terminal_cause_kind)),
  ),
  guard('failure_source_not_unknown', (_s, i) => i.source !== 'Unknown'),
];

// ---------------------------------------------------------------------------------------------
// The table

/** Arms of the run/turn domain, per input variant, in declaration order. */
export const runArms: ArmTable<RunInput> = {
  // §4.2 -------------------------------------------------------------------------------------
  Prepare: [
    prepareArm('PrepareIdle', 'Idle', 'Idle', false, [sessionRegistered]),
    prepareArm('PrepareIdleRetainingUnsettledCompletion', 'Idle', 'Idle', true, [sessionRegistered]),
    prepareArm('PrepareAttached', 'Attached', 'Attached', false, [sessionRegistered]),
    prepareArm('PrepareAttachedRetainingUnsettledCompletion', 'Attached', 'Attached', true, [sessionRegistered]),
  ],
  DrainQueuedRun: [
    prepareArm('DrainQueuedRunRetired', 'Retired', 'Retired', false, []),
    prepareArm('DrainQueuedRunRetiredRetainingUnsettledCompletion', 'Retired', 'Retired', true, []),
  ],
  StartConversationRun: [
    startConversationArm('StartConversationRunIdleWithBinding', 'Idle', true),
    startConversationArm('StartConversationRunInitializing', 'Initializing', false),
    startConversationArm('StartConversationRunAttached', 'Attached', false),
    startConversationArm('StartConversationRunRunning', 'Running', false),
  ],
  StartImmediateAppend: [
    startImmediateAppendArm('StartImmediateAppendInitializing', 'Initializing'),
    startImmediateAppendArm('StartImmediateAppendAttached', 'Attached'),
    startImmediateAppendArm('StartImmediateAppendRunning', 'Running'),
  ],

  // §4.3 -------------------------------------------------------------------------------------
  PrimitiveApplied: [
    turnArm(
      'PrimitiveAppliedConversation',
      [turnApplyingPrimitive, primitiveIsConversation],
      (d) => {
        d.turn_phase = 'CallingLlm';
      },
      (_p, i) => [checkCompaction(i.run_id)],
    ),
    turnArm(
      'PrimitiveAppliedImmediateCompleted',
      [turnApplyingPrimitive, primitiveIsImmediateAppend, cabClear],
      (d, i) => {
        d.boundary_count += 1;
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        d.terminal_outcome = 'Completed';
        d.turn_phase = 'Completed';
      },
      (p, i) => [boundaryApplied(p, i.run_id), runCompleted(i.run_id)],
    ),
    turnArm(
      'PrimitiveAppliedImmediateCancelled',
      [turnApplyingPrimitive, primitiveIsImmediateAppend, cabSet],
      (d, i) => cancelAtBoundary(d, i.run_id),
      (p, i) => [boundaryApplied(p, i.run_id), runCancelled(i.run_id)],
    ),
  ],
  LlmReturnedToolCalls: [
    turnArm<ToolCallsInput>(
      'LlmReturnedToolCallsToWaiting',
      [turnCallingLlm, guard('tool_calls_present', (_s, i) => i.tool_calls > 0)],
      (d, i) => {
        d.tool_calls_pending = i.tool_calls;
        d.turn_phase = 'WaitingForOps';
      },
    ),
    turnArm<ToolCallsInput>(
      'LlmReturnedToolCallsToBoundary',
      [turnCallingLlm, guard('no_tool_calls', (_s, i) => i.tool_calls === 0)],
      (d) => {
        d.tool_calls_pending = 0;
        d.turn_phase = 'DrainingBoundary';
      },
    ),
  ],
  LlmReturnedTerminal: [
    turnArm('LlmReturnedTerminal', [turnCallingLlm], (d) => {
      d.turn_phase = 'DrainingBoundary';
    }),
  ],
  RegisterPendingOps: [
    turnArm<RunInputOf<'RegisterPendingOps'>>(
      'RegisterPendingOps',
      [turnIn('turn_calling_llm_or_waiting_for_ops', ['CallingLlm', 'WaitingForOps'])],
      (d, i) => {
        d.pending_op_refs = setOf(i.op_refs);
        d.barrier_operation_ids = setOf(i.barrier_operation_ids);
        d.has_barrier_ops = i.barrier_operation_ids.length > 0;
        d.barrier_satisfied = i.barrier_operation_ids.length === 0;
        d.tool_calls_pending = 0;
        d.turn_phase = 'WaitingForOps';
      },
    ),
  ],
  OpsBarrierSatisfied: [
    turnArm<RunInputOf<'OpsBarrierSatisfied'>>(
      'OpsBarrierSatisfied',
      [
        turnWaitingForOps,
        guard('barrier_operation_ids_match', (s, i) => setEquals(i.operation_ids, s.barrier_operation_ids)),
      ],
      (d) => {
        d.barrier_satisfied = true;
        d.pending_op_refs = [];
        d.barrier_operation_ids = [];
        d.has_barrier_ops = false;
      },
    ),
  ],
  ToolCallsResolved: [
    turnArm(
      'ToolCallsResolvedToCalling',
      [turnWaitingForOps, guard('barrier_not_satisfied', (s) => !s.barrier_satisfied)],
      (d) => {
        d.turn_phase = 'CallingLlm';
      },
      (_p, i) => [checkCompaction(i.run_id)],
    ),
    turnArm(
      'ToolCallsResolvedToBoundary',
      [turnWaitingForOps, guard('barrier_satisfied', (s) => s.barrier_satisfied)],
      (d) => {
        d.turn_phase = 'DrainingBoundary';
      },
    ),
  ],
  CallbackPending: [
    turnArm(
      'CallbackPendingCompleted',
      [turnWaitingForOps],
      (d, i) => {
        d.tool_calls_pending = 0;
        d.pending_op_refs = [];
        d.barrier_operation_ids = [];
        d.has_barrier_ops = false;
        d.barrier_satisfied = false;
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        d.terminal_outcome = 'Completed';
        d.terminal_cause_kind = null;
        d.turn_phase = 'Completed';
      },
      (_p, i) => [runCompleted(i.run_id)],
    ),
  ],
  BoundaryContinue: [
    turnArm(
      'BoundaryContinueToCalling',
      [turnDrainingBoundary, cabClear],
      (d) => {
        d.boundary_count += 1;
        d.turn_phase = 'CallingLlm';
      },
      (p, i) => [boundaryApplied(p, i.run_id), checkCompaction(i.run_id)],
    ),
    turnArm(
      'BoundaryContinueToCancelled',
      [turnDrainingBoundary, cabSet],
      (d, i) => cancelAtBoundary(d, i.run_id),
      (p, i) => [boundaryApplied(p, i.run_id), runCancelled(i.run_id)],
    ),
  ],
  BoundaryComplete: [
    turnArm(
      'BoundaryCompleteCompleted',
      [turnDrainingBoundary, cabClear],
      (d, i) => {
        d.boundary_count += 1;
        d.turn_terminal_run_id = i.run_id;
        d.terminal_outcome = 'Completed';
        d.turn_phase = 'Completed';
      },
      (p, i) => [boundaryApplied(p, i.run_id), runCompleted(i.run_id)],
    ),
    turnArm(
      'BoundaryCompleteCancelled',
      [turnDrainingBoundary, cabSet],
      (d, i) => cancelAtBoundary(d, i.run_id),
      (p, i) => [boundaryApplied(p, i.run_id), runCancelled(i.run_id)],
    ),
  ],
  EnterExtraction: [
    turnArm<RunInputOf<'EnterExtraction'>>('EnterExtraction', [turnDrainingBoundary], (d, i) => {
      d.max_extraction_retries = i.max_retries;
      d.extraction_active = true;
      d.turn_phase = 'Extracting';
    }),
  ],
  ExtractionStart: [
    turnArm(
      'ExtractionStart',
      [turnExtracting],
      (d) => {
        d.turn_phase = 'CallingLlm';
      },
      (_p, i) => [checkCompaction(i.run_id)],
    ),
  ],
  ExtractionValidationPassed: [
    turnArm(
      'ExtractionValidationPassed',
      [turnExtracting],
      (d, i) => {
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        d.terminal_outcome = 'Completed';
        d.turn_phase = 'Completed';
      },
      (_p, i) => [runCompleted(i.run_id)],
    ),
  ],
  ExtractionValidationFailed: [
    turnArm<ExtractionFailedInput>(
      'ExtractionValidationFailedRetry',
      [turnExtracting, extractionRetriesRemain],
      (d) => {
        d.extraction_attempts += 1;
        d.turn_phase = 'CallingLlm';
      },
      (_p, i) => [checkCompaction(i.run_id)],
    ),
    turnArm<ExtractionFailedInput>(
      'ExtractionValidationFailedExhausted',
      [turnExtracting, extractionRetriesExhausted],
      (d) => completeAfterExtraction(d),
      (_p, i) => [runCompleted(i.run_id)],
    ),
  ],
  ExtractionFailed: [
    turnArm<RunInputOf<'ExtractionFailed'>>(
      'ExtractionFailedTerminal',
      [turnIn('turn_extracting_calling_llm_or_draining_boundary', ['Extracting', 'CallingLlm', 'DrainingBoundary'])],
      (d) => completeAfterExtraction(d),
      (_p, i) => [runCompleted(i.run_id)],
    ),
  ],
  RecoverableFailure: [
    turnArm<RecoverableFailureInput>(
      'RecoverableFailure',
      [
        turnIn('turn_recoverable_phase', ['CallingLlm', 'WaitingForOps', 'DrainingBoundary', 'Extracting']),
        guard('retry_attempt_positive', (_s, i) => i.attempt > 0),
        guard('failure_kind_recoverable', (_s, i) => isRecoverableLlmFailureKind(i.kind)),
        guard('retry_attempt_within_max', (_s, i) => i.attempt <= i.max_retries),
      ],
      (d, i) => {
        d.llm_retry_attempt = i.attempt;
        d.llm_retry_max_retries = i.max_retries;
        d.llm_retry_selected_delay_ms = i.delay_ms;
        d.llm_retry_last_failure_kind = isRecoverableLlmFailureKind(i.kind) ? i.kind : null;
        d.turn_phase = 'ErrorRecovery';
      },
    ),
  ],
  RetryRequested: [
    turnArm<RunInputOf<'RetryRequested'>>(
      'RetryRequested',
      [turnErrorRecovery, guard('retry_attempt_matches', (s, i) => i.attempt === s.llm_retry_attempt)],
      (d) => {
        d.turn_phase = 'CallingLlm';
      },
      (_p, i) => [checkCompaction(i.run_id)],
    ),
  ],
  FatalFailure: [
    turnArm<FatalFailureInput>(
      'FatalFailure',
      [
        turnNonTerminal,
        guard('failure_source_not_unknown', (_s, i) => i.source !== 'Unknown'),
        guard('failure_source_not_max_turns_reached', (_s, i) => i.source !== 'MaxTurnsReached'),
      ],
      (d, i) => {
        const mapped = outcomeAndCauseForFailureSource(i.source);
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        failTurn(d, mapped.outcome, mapped.cause);
      },
      (p, i) => [runFailed(p, i.run_id, i.error)],
    ),
  ],
  TurnLimitReached: [
    turnArm<RunInputOf<'TurnLimitReached'>>(
      'TurnLimitReached',
      [turnNonTerminal, guard('turn_count_reached_max', (_s, i) => i.turn_count >= i.max_turns)],
      (d) => failTurn(d, 'Failed', 'TurnLimitReached'),
      (p, i) => [runFailed(p, i.run_id, 'TurnLimitReached')],
    ),
  ],
  BudgetExhausted: [
    turnArm(
      'BudgetExhausted',
      [turnNonTerminal],
      (d) => failTurn(d, 'BudgetExhausted', 'BudgetExhausted'),
      (p, i) => [runFailed(p, i.run_id, 'BudgetExhausted')],
    ),
  ],
  TimeBudgetExceeded: [
    turnArm(
      'TimeBudgetExceeded',
      [turnNonTerminal],
      (d) => failTurn(d, 'TimeBudgetExceeded', 'TimeBudgetExceeded'),
      (p, i) => [runFailed(p, i.run_id, 'TimeBudgetExceeded')],
    ),
  ],
  CancelNow: [
    turnArm('CancelNow', [turnCancellable], (d) => {
      d.turn_phase = 'Cancelling';
    }),
  ],
  RequestCancelAfterBoundary: [
    turnArm('RequestCancelAfterBoundary', [turnCancellable], (d) => {
      d.cancel_after_boundary = true;
    }),
  ],
  CancellationObserved: [
    turnArm(
      'CancellationObserved',
      [turnCancelling],
      (d, i) => {
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        d.terminal_outcome = 'Cancelled';
        d.turn_phase = 'Cancelled';
      },
      (_p, i) => [runCancelled(i.run_id)],
    ),
  ],
  AcknowledgeTerminal: [
    turnArm<RunInputOf<'AcknowledgeTerminal'>>('AcknowledgeTerminal', [turnTerminal], (d, i) => {
      perTurnReset(d);
      d.primitive_kind = null;
      d.admitted_content_shape = null;
      d.vision_enabled = false;
      d.image_tool_results_enabled = false;
      d.max_extraction_retries = 0;
      d.terminal_outcome = i.outcome;
      d.terminal_cause_kind = null;
      d.turn_phase = 'Ready';
    }),
  ],
  ForceCancelNoRun: [
    {
      name: 'ForceCancelNoRun',
      from: ['Running'],
      guards: [guard('no_current_run', (s) => s.current_run_id === null), turnIn('turn_ready', ['Ready'])],
      update: (d) => {
        d.turn_terminal_run_id = null;
        d.terminal_outcome = 'Cancelled';
        d.turn_phase = 'Cancelled';
      },
      to: 'self',
    },
  ],

  // §4.4 -------------------------------------------------------------------------------------
  RunCompleted: [
    {
      name: 'RunCompleted',
      from: ['Running'],
      guards: [runMatchesBinding],
      update: (d, i) => {
        if (!TURN_TERMINAL_PHASES.includes(d.turn_phase)) {
          d.turn_phase = 'Completed';
          d.extraction_active = false;
          d.terminal_outcome = 'Completed';
        }
        d.turn_terminal_run_id = i.run_id;
        openCompletionSlot(d, i.run_id);
      },
      to: 'self',
    },
  ],
  RunFailed: [
    {
      name: 'RunFailed',
      from: ['Running'],
      guards: [runMatchesBinding, ...runFailedGuards],
      update: (d, i) => {
        const applyFailure = i.runtime_apply_failure_cause !== null;
        const mapped = i.source === null ? null : outcomeAndCauseForFailureSource(i.source);
        d.turn_phase = 'Failed';
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        if (d.terminal_outcome === null || d.terminal_outcome === 'None') {
          d.terminal_outcome = applyFailure ? 'Failed' : (mapped?.outcome ?? 'Failed');
        }
        if (d.terminal_cause_kind === null || d.terminal_cause_kind === 'Unknown') {
          d.terminal_cause_kind = applyFailure ? 'RuntimeApplyFailure' : (mapped?.cause ?? 'FatalFailure');
        }
        d.last_runtime_apply_failure_cause = i.runtime_apply_failure_cause;
        d.last_runtime_apply_failure_message = i.runtime_apply_failure_message;
        openCompletionSlot(d, i.run_id);
      },
      to: 'self',
      emit: (p, i) => [runFailed(p, i.run_id, i.error), { type: 'PostAdmissionSignal', signal: 'WakeLoop' }],
    },
  ],
  RunCancelled: [
    {
      name: 'RunCancelled',
      from: ['Running'],
      guards: [runMatchesBinding],
      update: (d, i) => {
        d.turn_phase = 'Cancelled';
        d.extraction_active = false;
        d.turn_terminal_run_id = i.run_id;
        d.terminal_outcome = 'Cancelled';
        openCompletionSlot(d, i.run_id);
      },
      to: 'self',
    },
  ],
  Commit: returnArms<RunInputOf<'Commit'>>('Commit', []),
  Fail: returnArms<RunInputOf<'Fail'>>('Fail', [turnFailedWithCause], (p, i) => [recordRunTerminal(p, i.run_id)]),
  CancelRun: returnArms<RunInputOf<'CancelRun'>>('CancelRun', [turnCancelledWithOutcome], (p, i) => [
    recordRunTerminal(p, i.run_id),
  ]),
  RollbackRun: returnArms<RunInputOf<'RollbackRun'>>('RollbackRun', []),
  ServiceTurnCommitted: returnArms<RunInputOf<'ServiceTurnCommitted'>>('ServiceTurnCommitted', [
    serviceTurnTerminal,
    serviceCompletedCoherent,
    serviceFailedCoherent,
  ]),
};
