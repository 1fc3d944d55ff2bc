/**
 * Completion-waiter arms (`machine.md` §5): the public completion-class
 * authority `ResolveRuntimeCompletionResult` (§5.2), the waiter-side follow-ups
 * (§5.4) and the completion-feed consumer cursors (§5.5).
 *
 * Waiters themselves are process-local plumbing; the machine only owns the
 * completion-correlation slot (`runtime_completion_result_run_id` /
 * `runtime_completion_result_resolved`, §4.8) and the cursors.
 */
import { guard, LIVE_PHASES, NON_TERMINAL_PHASES, type Arm, type ArmTable, type Guard } from '../arm.js';
import type { MachineState, TurnTerminalCauseKind, TurnTerminalOutcome } from '../state.js';
import { causeIsKnown, outcomeMatchesCause } from './runs.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

/** What the runtime observed about the run's terminal (`ResolveRuntimeCompletionResult`). */
export type RuntimeCompletionTerminalObservation =
  | 'RunResult'
  | 'NoResult'
  | 'CallbackPending'
  | 'MachineTerminal'
  | 'RuntimeTerminated';

/** Whether durable finalisation of the run succeeded. */
export type RuntimeCompletionFinalizationObservation = 'Succeeded' | 'Failed';

/** The public completion class a waiter resolves with (`machine.md` §5.2). */
export type RuntimeCompletionResultClass =
  | 'Completed'
  | 'CompletedWithoutResult'
  | 'CallbackPending'
  | 'Cancelled'
  | 'AbandonedWithError'
  | 'CompletedWithFinalizationFailure'
  | 'RuntimeTerminated';

/** The cleanup classification that accompanies a completion class (§5.2, consumed by §5.4). */
export type RuntimeCompletionCleanupOutcome =
  | 'Completed'
  | 'CompletedWithoutResult'
  | 'CallbackPending'
  | 'Cancelled'
  | 'RuntimeApplyFailed'
  | 'Abandoned'
  | 'FinalizationFailed'
  | 'RuntimeTerminated';

/** Whether a live session still exists for the runtime being cleaned up (§5.4). */
export type LiveSessionObservation = 'Absent' | 'Present';

/** What to do with the runtime after a waiter resolved (§5.4). */
export type RuntimeCompletionCleanupAction = 'CleanupRuntime' | 'RetainRuntime';

/** Mechanical waiter failures that the machine classifies (§5.4). */
export type RuntimeCompletionWaitFailureKind = 'ChannelClosed' | 'AuthorityUnavailable';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Every input of the completion domain, discriminated by `type`. */
export type CompletionInput =
  | {
      readonly type: 'ResolveRuntimeCompletionResult';
      readonly run_id: string | null;
      readonly terminal_observation: RuntimeCompletionTerminalObservation;
      readonly finalization_observation: RuntimeCompletionFinalizationObservation;
    }
  | {
      readonly type: 'ResolveRuntimeCompletionCleanup';
      readonly session_id: string;
      readonly observed_session_id: string;
      readonly observed_runtime_id: string | null;
      readonly observed_fence_token: number | null;
      readonly observed_generation: number | null;
      readonly observed_epoch_id: string | null;
      readonly outcome: RuntimeCompletionCleanupOutcome;
      readonly archived_by_authority: boolean;
      readonly live_session: LiveSessionObservation;
    }
  | {
      readonly type: 'ResolveRuntimeCompletionWaitFailure';
      readonly session_id: string;
      readonly failure: RuntimeCompletionWaitFailureKind;
    }
  | {
      readonly type: 'RecoverRuntimeCompletionResultCorrelation';
      readonly run_id: string;
      readonly outcome: TurnTerminalOutcome | null;
      readonly cause: TurnTerminalCauseKind | null;
    }
  | { readonly type: 'AdvanceAgentCompletionCursor'; readonly cursor: number }
  | { readonly type: 'AdvanceRuntimeObservedCompletionCursor'; readonly cursor: number }
  | { readonly type: 'AdvanceRuntimeInjectedCompletionCursor'; readonly cursor: number }
  | {
      readonly type: 'RecoverCompletionConsumerCursors';
      readonly agent_applied_cursor: number;
      readonly runtime_observed_cursor: number;
      readonly runtime_injected_cursor: number;
    }
  | { readonly type: 'RecoverOpsCompletionCursor'; readonly next_completion_seq: number };

/** The completion input of variant `K`. */
export type CompletionInputOf<K extends CompletionInput['type']> = Extract<CompletionInput, { readonly type: K }>;

// ---------------------------------------------------------------------------------------------
// Effects

/** Effects of the completion domain (`machine.md` §8.3). */
export type CompletionEffect =
  | {
      readonly type: 'RuntimeCompletionResultResolved';
      readonly session_id: string;
      readonly runtime_id: string | null;
      readonly fence_token: number | null;
      readonly generation: number | null;
      readonly epoch_id: string | null;
      readonly run_id: string | null;
      readonly result_class: RuntimeCompletionResultClass;
      readonly cleanup_outcome: RuntimeCompletionCleanupOutcome;
    }
  | {
      readonly type: 'RuntimeCompletionCleanupResolved';
      readonly action: RuntimeCompletionCleanupAction;
      readonly pre_admission_action: 'ReleasePreAdmission';
    }
  | {
      readonly type: 'RuntimeCompletionWaitFailureResolved';
      readonly error_kind: 'InternalError';
      readonly error_reason: 'CompletionChannelClosed' | 'CompletionAuthorityUnavailable';
      readonly resumable: false;
      readonly pre_admission_action: 'ReleasePreAdmission';
    }
  | { readonly type: 'AgentCompletionCursorAdvanced'; readonly cursor: number }
  | { readonly type: 'RuntimeObservedCompletionCursorAdvanced'; readonly cursor: number }
  | { readonly type: 'RuntimeInjectedCompletionCursorAdvanced'; readonly cursor: number };

// ---------------------------------------------------------------------------------------------
// §5.2 ResolveRuntimeCompletionResult

type ResolveResultInput = CompletionInputOf<'ResolveRuntimeCompletionResult'>;

const sessionRegistered: Guard<unknown> = guard('session_registered', (s) => s.session_id !== null);

const runMatchesCompletionSlot: Guard<ResolveResultInput> = guard(
  'run_matches_completion_slot',
  (s, i) => i.run_id !== null && i.run_id === s.runtime_completion_result_run_id,
);
const runMatchesSlotOrCurrentRun: Guard<ResolveResultInput> = guard(
  'run_matches_completion_slot_or_current_run',
  (s, i) => i.run_id !== null && (i.run_id === s.runtime_completion_result_run_id || i.run_id === s.current_run_id),
);
const noRun: Guard<ResolveResultInput> = guard('run_absent', (_s, i) => i.run_id === null);

const finalization = (obs: RuntimeCompletionFinalizationObservation): Guard<ResolveResultInput> =>
  guard(`finalization_${obs.toLowerCase()}`, (_s, i) => i.finalization_observation === obs);

const terminalIs = (
  name: string,
  ...obs: readonly RuntimeCompletionTerminalObservation[]
): Guard<ResolveResultInput> => guard(name, (_s, i) => obs.includes(i.terminal_observation));

const FAILED_OUTCOMES: readonly TurnTerminalOutcome[] = [
  'Failed',
  'BudgetExhausted',
  'TimeBudgetExceeded',
  'StructuredOutputValidationFailed',
];
const outcomeCancelled: Guard<unknown> = guard('terminal_outcome_cancelled', (s) => s.terminal_outcome === 'Cancelled');
const outcomeFailed: Guard<unknown> = guard(
  'terminal_outcome_failed',
  (s) => s.terminal_outcome !== null && FAILED_OUTCOMES.includes(s.terminal_outcome),
);
const causeKnown: Guard<unknown> = guard('terminal_cause_known', (s) => causeIsKnown(s.terminal_cause_kind));
const causeIsRuntimeApplyFailure: Guard<unknown> = guard(
  'terminal_cause_runtime_apply_failure',
  (s) => s.terminal_cause_kind === 'RuntimeApplyFailure',
);
const causeIsNotRuntimeApplyFailure: Guard<unknown> = guard(
  'terminal_cause_not_runtime_apply_failure',
  (s) => s.terminal_cause_kind !== 'RuntimeApplyFailure',
);

/** One `ResolveRuntimeCompletionResult` arm: self-loop; closes the slot iff the run is the slot's run. */
function resolveArm(
  suffix: string,
  from: Arm<ResolveResultInput>['from'],
  guards: readonly Guard<ResolveResultInput>[],
  result_class: RuntimeCompletionResultClass,
  cleanup_outcome: RuntimeCompletionCleanupOutcome,
): Arm<ResolveResultInput> {
  return {
    name: `ResolveRuntimeCompletionResult${suffix}`,
    from,
    guards: [sessionRegistered, ...guards],
    update: (d, i) => {
      if (i.run_id === d.runtime_completion_result_run_id) d.runtime_completion_result_resolved = true;
    },
    to: 'self',
    emit: (post: MachineState, i) => [
      {
        type: 'RuntimeCompletionResultResolved',
        session_id: post.session_id ?? '',
        runtime_id: post.active_runtime_id,
        fence_token: post.active_fence_token,
        generation: post.active_runtime_generation,
        epoch_id: post.active_runtime_epoch_id,
        run_id: i.run_id,
        result_class,
        cleanup_outcome,
      },
    ],
  };
}

const slotSucceeded = [runMatchesCompletionSlot, finalization('Succeeded')] as const;
const slotOrCurrentFailed = [runMatchesSlotOrCurrentRun, finalization('Failed')] as const;
const runtimeTerminatedGuards = [noRun, finalization('Succeeded'), terminalIs('terminal_runtime_terminated', 'RuntimeTerminated')] as const;

// ---------------------------------------------------------------------------------------------
// §5.4 cleanup and wait-failure classification

type CleanupInput = CompletionInputOf<'ResolveRuntimeCompletionCleanup'>;

const cleanupGuards: readonly Guard<CleanupInput>[] = [
  guard('observed_session_matches', (_s, i) => i.observed_session_id === i.session_id),
  guard('observed_runtime_binding_matches', (s, i) => s.active_runtime_id === i.observed_runtime_id),
  guard('observed_fence_binding_matches', (s, i) => s.active_fence_token === i.observed_fence_token),
  guard('observed_generation_binding_matches', (s, i) => s.active_runtime_generation === i.observed_generation),
  guard('observed_epoch_binding_matches', (s, i) => s.active_runtime_epoch_id === i.observed_epoch_id),
];
const archived: Guard<CleanupInput> = guard('archived_by_authority', (_s, i) => i.archived_by_authority);
const notArchived: Guard<CleanupInput> = guard('not_archived_by_authority', (_s, i) => !i.archived_by_authority);
const cleanupOutcomeIs = (...outcomes: readonly RuntimeCompletionCleanupOutcome[]): Guard<CleanupInput> =>
  guard(`outcome_${outcomes.join('_or_')}`, (_s, i) => outcomes.includes(i.outcome));
const liveSessionAbsent: Guard<CleanupInput> = guard('live_session_absent', (_s, i) => i.live_session === 'Absent');
const retainable: Guard<CleanupInput> = guard(
  'outcome_retains_runtime',
  (_s, i) =>
    i.outcome === 'Completed' ||
    i.outcome === 'CompletedWithoutResult' ||
    i.outcome === 'CallbackPending' ||
    ((i.outcome === 'Abandoned' || i.outcome === 'Cancelled') && i.live_session !== 'Absent'),
);

function cleanupArm(
  suffix: string,
  guards: readonly Guard<CleanupInput>[],
  action: RuntimeCompletionCleanupAction,
): Arm<CleanupInput> {
  return {
    name: `ResolveRuntimeCompletionCleanup${suffix}`,
    from: NON_TERMINAL_PHASES,
    guards: [...cleanupGuards, ...guards],
    to: 'self',
    emit: () => [{ type: 'RuntimeCompletionCleanupResolved', action, pre_admission_action: 'ReleasePreAdmission' }],
  };
}

type WaitFailureInput = CompletionInputOf<'ResolveRuntimeCompletionWaitFailure'>;

function waitFailureArm(
  failure: RuntimeCompletionWaitFailureKind,
  error_reason: 'CompletionChannelClosed' | 'CompletionAuthorityUnavailable',
): Arm<WaitFailureInput> {
  return {
    name: `ResolveRuntimeCompletionWaitFailure${failure}`,
    from: NON_TERMINAL_PHASES,
    guards: [
      sessionRegistered,
      guard('session_matches_current', (s, i) => s.session_id === i.session_id),
      guard(`failure_${failure === 'ChannelClosed' ? 'channel_closed' : 'authority_unavailable'}`, (_s, i) => i.failure === failure),
    ],
    to: 'self',
    emit: () => [
      {
        type: 'RuntimeCompletionWaitFailureResolved',
        error_kind: 'InternalError',
        error_reason,
        resumable: false,
        pre_admission_action: 'ReleasePreAdmission',
      },
    ],
  };
}

// RecoverRuntimeCompletionResultCorrelation (§5.4)
type RecoverCorrelationInput = CompletionInputOf<'RecoverRuntimeCompletionResultCorrelation'>;

/**
 * Whether a recovered `(outcome, cause)` pair is coherent (§5.4): None/None,
 * Cancelled/None, BudgetExhausted/BudgetExhausted, TimeBudgetExceeded/same,
 * StructuredOutputValidationFailed/same, or Failed with a specific other cause.
 * An outcome of `None` (`Some(None)`) counts as absent.
 */
export function recoveredOutcomeCauseCoherent(
  outcome: TurnTerminalOutcome | null,
  cause: TurnTerminalCauseKind | null,
): boolean {
  const o = outcome === 'None' ? null : outcome;
  if (o === null || o === 'Cancelled') return cause === null;
  if (o === 'Completed') return false;
  if (!causeIsKnown(cause)) return false;
  return outcomeMatchesCause(o, cause);
}

// ---------------------------------------------------------------------------------------------
// The table

/** Arms of the completion domain, per input variant, in declaration order. */
export const completionArms: ArmTable<CompletionInput> = {
  ResolveRuntimeCompletionResult: [
    resolveArm('Completed', NON_TERMINAL_PHASES, [...slotSucceeded, terminalIs('terminal_run_result', 'RunResult')], 'Completed', 'Completed'),
    resolveArm(
      'WithoutResult',
      NON_TERMINAL_PHASES,
      [...slotSucceeded, terminalIs('terminal_no_result', 'NoResult')],
      'CompletedWithoutResult',
      'CompletedWithoutResult',
    ),
    resolveArm(
      'CallbackPending',
      NON_TERMINAL_PHASES,
      [...slotSucceeded, terminalIs('terminal_callback_pending', 'CallbackPending')],
      'CallbackPending',
      'CallbackPending',
    ),
    resolveArm(
      'Cancelled',
      NON_TERMINAL_PHASES,
      [...slotSucceeded, terminalIs('terminal_machine_terminal', 'MachineTerminal'), outcomeCancelled],
      'Cancelled',
      'Cancelled',
    ),
    resolveArm(
      'RuntimeApplyFailed',
      NON_TERMINAL_PHASES,
      [...slotSucceeded, terminalIs('terminal_machine_terminal', 'MachineTerminal'), outcomeFailed, causeKnown, causeIsRuntimeApplyFailure],
      'AbandonedWithError',
      'RuntimeApplyFailed',
    ),
    resolveArm(
      'MachineFailed',
      NON_TERMINAL_PHASES,
      [...slotSucceeded, terminalIs('terminal_machine_terminal', 'MachineTerminal'), outcomeFailed, causeKnown, causeIsNotRuntimeApplyFailure],
      'AbandonedWithError',
      'Abandoned',
    ),
    resolveArm(
      'FinalizationFailureWithResult',
      NON_TERMINAL_PHASES,
      [...slotOrCurrentFailed, terminalIs('terminal_run_result', 'RunResult')],
      'CompletedWithFinalizationFailure',
      'FinalizationFailed',
    ),
    resolveArm(
      'FinalizationFailureWithoutResult',
      NON_TERMINAL_PHASES,
      [...slotOrCurrentFailed, terminalIs('terminal_without_run_result', 'NoResult', 'CallbackPending', 'MachineTerminal')],
      'AbandonedWithError',
      'RuntimeApplyFailed',
    ),
    resolveArm('RuntimeTerminated', NON_TERMINAL_PHASES, runtimeTerminatedGuards, 'RuntimeTerminated', 'RuntimeTerminated'),
    resolveArm('RuntimeTerminatedDestroyed', ['Destroyed'], runtimeTerminatedGuards, 'RuntimeTerminated', 'RuntimeTerminated'),
  ],
  ResolveRuntimeCompletionCleanup: [
    cleanupArm('Archived', [archived], 'CleanupRuntime'),
    cleanupArm('RuntimeTerminated', [notArchived, cleanupOutcomeIs('RuntimeTerminated')], 'CleanupRuntime'),
    cleanupArm('FinalizationFailed', [notArchived, cleanupOutcomeIs('FinalizationFailed')], 'CleanupRuntime'),
    cleanupArm('RuntimeApplyFailed', [notArchived, cleanupOutcomeIs('RuntimeApplyFailed')], 'CleanupRuntime'),
    cleanupArm(
      'AbandonedWithoutLiveSession',
      [notArchived, cleanupOutcomeIs('Abandoned'), liveSessionAbsent],
      'CleanupRuntime',
    ),
    cleanupArm(
      'CancelledWithoutLiveSession',
      [notArchived, cleanupOutcomeIs('Cancelled'), liveSessionAbsent],
      'CleanupRuntime',
    ),
    cleanupArm('Retain', [notArchived, retainable], 'RetainRuntime'),
  ],
  ResolveRuntimeCompletionWaitFailure: [
    waitFailureArm('ChannelClosed', 'CompletionChannelClosed'),
    waitFailureArm('AuthorityUnavailable', 'CompletionAuthorityUnavailable'),
  ],
  RecoverRuntimeCompletionResultCorrelation: [
    {
      name: 'RecoverRuntimeCompletionResultCorrelation',
      from: NON_TERMINAL_PHASES,
      guards: [
        guard<RecoverCorrelationInput>(
          'completion_slot_empty_or_same',
          (s, i) => s.runtime_completion_result_run_id === null || s.runtime_completion_result_run_id === i.run_id,
        ),
        guard<RecoverCorrelationInput>('recovered_outcome_cause_coherent', (_s, i) =>
          recoveredOutcomeCauseCoherent(i.outcome, i.cause),
        ),
        guard<RecoverCorrelationInput>(
          'recovered_outcome_agrees',
          (s, i) => i.outcome === null || s.terminal_outcome === null || s.terminal_outcome === i.outcome,
        ),
        guard<RecoverCorrelationInput>(
          'recovered_cause_agrees',
          (s, i) => i.cause === null || s.terminal_cause_kind === null || s.terminal_cause_kind === i.cause,
        ),
      ],
      update: (d, i) => {
        d.runtime_completion_result_run_id = i.run_id;
        d.runtime_completion_result_resolved = false;
        if (i.outcome !== null) d.terminal_outcome = i.outcome;
        if (i.cause !== null) d.terminal_cause_kind = i.cause;
      },
      to: 'self',
    },
  ],

  // §5.5 -------------------------------------------------------------------------------------
  AdvanceAgentCompletionCursor: [
    {
      name: 'AdvanceAgentCompletionCursor',
      from: LIVE_PHASES,
      guards: [],
      update: (d, i) => {
        d.completion_agent_applied_cursor = Math.max(d.completion_agent_applied_cursor, i.cursor);
      },
      to: 'self',
      emit: (p) => [{ type: 'AgentCompletionCursorAdvanced', cursor: p.completion_agent_applied_cursor }],
    },
  ],
  AdvanceRuntimeObservedCompletionCursor: [
    {
      name: 'AdvanceRuntimeObservedCompletionCursor',
      from: LIVE_PHASES,
      guards: [],
      update: (d, i) => {
        d.completion_runtime_observed_cursor = Math.max(d.completion_runtime_observed_cursor, i.cursor);
      },
      to: 'self',
      emit: (p) => [{ type: 'RuntimeObservedCompletionCursorAdvanced', cursor: p.completion_runtime_observed_cursor }],
    },
  ],
  AdvanceRuntimeInjectedCompletionCursor: [
    {
      name: 'AdvanceRuntimeInjectedCompletionCursor',
      from: LIVE_PHASES,
      guards: [],
      update: (d, i) => {
        d.completion_runtime_injected_cursor = Math.max(d.completion_runtime_injected_cursor, i.cursor);
      },
      to: 'self',
      emit: (p) => [{ type: 'RuntimeInjectedCompletionCursorAdvanced', cursor: p.completion_runtime_injected_cursor }],
    },
  ],
  RecoverCompletionConsumerCursors: [
    {
      name: 'RecoverCompletionConsumerCursors',
      from: LIVE_PHASES,
      guards: [],
      update: (d, i) => {
        d.completion_agent_applied_cursor = Math.max(d.completion_agent_applied_cursor, i.agent_applied_cursor);
        d.completion_runtime_observed_cursor = Math.max(d.completion_runtime_observed_cursor, i.runtime_observed_cursor);
        d.completion_runtime_injected_cursor = Math.max(d.completion_runtime_injected_cursor, i.runtime_injected_cursor);
      },
      to: 'self',
      emit: (p) => [
        { type: 'AgentCompletionCursorAdvanced', cursor: p.completion_agent_applied_cursor },
        { type: 'RuntimeObservedCompletionCursorAdvanced', cursor: p.completion_runtime_observed_cursor },
        { type: 'RuntimeInjectedCompletionCursorAdvanced', cursor: p.completion_runtime_injected_cursor },
      ],
    },
  ],
  RecoverOpsCompletionCursor: [
    {
      name: 'RecoverOpsCompletionCursor',
      from: LIVE_PHASES,
      guards: [],
      update: (d, i) => {
        d.next_completion_seq = Math.max(d.next_completion_seq, i.next_completion_seq);
      },
      to: 'self',
    },
  ],
};
