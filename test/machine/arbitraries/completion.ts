import fc from 'fast-check';
import type {
  CompletionInput,
  RuntimeCompletionCleanupOutcome,
  RuntimeCompletionTerminalObservation,
} from '../../../src/machine/arms/completion.js';
import type { TurnTerminalCauseKind, TurnTerminalOutcome } from '../../../src/machine/state.js';
import { epochId, optional, pick, runId, runtimeId, sessionId } from './pool.js';

const TERMINAL_OBSERVATIONS: readonly RuntimeCompletionTerminalObservation[] = [
  'RunResult',
  'NoResult',
  'CallbackPending',
  'MachineTerminal',
  'RuntimeTerminated',
];
const CLEANUP_OUTCOMES: readonly RuntimeCompletionCleanupOutcome[] = [
  'Completed',
  'CompletedWithoutResult',
  'CallbackPending',
  'Cancelled',
  'RuntimeApplyFailed',
  'Abandoned',
  'FinalizationFailed',
  'RuntimeTerminated',
];
const OUTCOMES: readonly TurnTerminalOutcome[] = [
  'None',
  'Completed',
  'Failed',
  'Cancelled',
  'BudgetExhausted',
  'TimeBudgetExceeded',
  'StructuredOutputValidationFailed',
];
const CAUSES: readonly TurnTerminalCauseKind[] = [
  'Unknown',
  'HookDenied',
  'HookFailure',
  'LlmFailure',
  'ToolFailure',
  'StructuredOutputValidationFailed',
  'BudgetExhausted',
  'TimeBudgetExceeded',
  'RetryExhausted',
  'TurnLimitReached',
  'RuntimeApplyFailure',
  'FatalFailure',
];

const cursor = fc.integer({ min: 0, max: 20 });
const fence = optional(fc.integer({ min: 1, max: 3 }));

/** Any input of the completion domain, with ids drawn from the shared pool. */
export const completionInputArb: fc.Arbitrary<CompletionInput> = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant('ResolveRuntimeCompletionResult' as const),
      run_id: optional(runId),
      terminal_observation: pick(TERMINAL_OBSERVATIONS),
      finalization_observation: pick(['Succeeded', 'Failed'] as const),
    }),
    weight: 4,
  },
  fc.record({
    type: fc.constant('ResolveRuntimeCompletionCleanup' as const),
    session_id: sessionId,
    observed_session_id: sessionId,
    observed_runtime_id: optional(runtimeId),
    observed_fence_token: fence,
    observed_generation: fence,
    observed_epoch_id: optional(epochId),
    outcome: pick(CLEANUP_OUTCOMES),
    archived_by_authority: fc.boolean(),
    live_session: pick(['Absent', 'Present'] as const),
  }),
  fc.record({
    type: fc.constant('ResolveRuntimeCompletionWaitFailure' as const),
    session_id: sessionId,
    failure: pick(['ChannelClosed', 'AuthorityUnavailable'] as const),
  }),
  fc.record({
    type: fc.constant('RecoverRuntimeCompletionResultCorrelation' as const),
    run_id: runId,
    outcome: optional(pick(OUTCOMES)),
    cause: optional(pick(CAUSES)),
  }),
  fc.record({ type: fc.constant('AdvanceAgentCompletionCursor' as const), cursor }),
  fc.record({ type: fc.constant('AdvanceRuntimeObservedCompletionCursor' as const), cursor }),
  fc.record({ type: fc.constant('AdvanceRuntimeInjectedCompletionCursor' as const), cursor }),
  fc.record({
    type: fc.constant('RecoverCompletionConsumerCursors' as const),
    agent_applied_cursor: cursor,
    runtime_observed_cursor: cursor,
    runtime_injected_cursor: cursor,
  }),
  fc.record({ type: fc.constant('RecoverOpsCompletionCursor' as const), next_completion_seq: cursor }),
);
