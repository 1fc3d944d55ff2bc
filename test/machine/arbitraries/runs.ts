import fc from 'fast-check';
import {
  LLM_FAILURE_KINDS,
  RUN_FAILURE_SOURCE_KINDS,
  type RunInput,
} from '../../../src/machine/arms/runs.js';
import type {
  AdmittedContentShape,
  PrimitiveKind,
  RuntimeApplyFailureCause,
  TurnTerminalOutcome,
} from '../../../src/machine/state.js';
import { inputId, opId, optional, pick, runId, sessionId, smallCount } from './pool.js';

const PRIMITIVE_KINDS: readonly PrimitiveKind[] = ['None', 'ConversationTurn', 'ImmediateAppend'];
const CONTENT_SHAPES: readonly AdmittedContentShape[] = ['Conversation', 'Empty', 'ImmediateAppend'];
const OUTCOMES: readonly TurnTerminalOutcome[] = [
  'None',
  'Completed',
  'Failed',
  'Cancelled',
  'BudgetExhausted',
  'TimeBudgetExceeded',
  'StructuredOutputValidationFailed',
];
const APPLY_CAUSES: readonly RuntimeApplyFailureCause[] = [
  'ApplyFailed',
  'PrimitiveRejected',
  'CommitRejected',
  'ExecutorLost',
];

const errorText = pick(['boom', 'timeout', '']);
const opSet = fc.uniqueArray(opId, { maxLength: 3 });

/** Inputs that carry only a run id. */
const RUN_ONLY_TYPES = [
  'DrainQueuedRun',
  'StartImmediateAppend',
  'PrimitiveApplied',
  'LlmReturnedTerminal',
  'ToolCallsResolved',
  'CallbackPending',
  'BoundaryContinue',
  'BoundaryComplete',
  'ExtractionStart',
  'ExtractionValidationPassed',
  'BudgetExhausted',
  'TimeBudgetExceeded',
  'CancelNow',
  'RequestCancelAfterBoundary',
  'CancellationObserved',
  'RunCompleted',
  'RunCancelled',
  'Fail',
  'CancelRun',
  'RollbackRun',
  'ServiceTurnCommitted',
] as const satisfies readonly RunInput['type'][];

const runOnly: fc.Arbitrary<RunInput> = fc
  .tuple(pick(RUN_ONLY_TYPES), runId)
  .map(([type, run_id]) => ({ type, run_id }) as RunInput);

/** Any input of the run/turn domain, with ids drawn from the shared pool. */
export const runInputArb: fc.Arbitrary<RunInput> = fc.oneof(
  { arbitrary: runOnly, weight: 8 },
  fc.record({ type: fc.constant('Prepare' as const), session_id: sessionId, run_id: runId }),
  fc.record({
    type: fc.constant('StartConversationRun' as const),
    run_id: runId,
    primitive_kind: fc.oneof(
      { arbitrary: fc.constant<PrimitiveKind>('ConversationTurn'), weight: 4 },
      pick(PRIMITIVE_KINDS),
    ),
    admitted_content_shape: pick(CONTENT_SHAPES),
    vision_enabled: fc.boolean(),
    image_tool_results_enabled: fc.boolean(),
    max_extraction_retries: smallCount,
  }),
  fc.record({ type: fc.constant('LlmReturnedToolCalls' as const), run_id: runId, tool_calls: smallCount }),
  fc.record({
    type: fc.constant('RegisterPendingOps' as const),
    run_id: runId,
    op_refs: opSet,
    barrier_operation_ids: opSet,
  }),
  fc.record({ type: fc.constant('OpsBarrierSatisfied' as const), run_id: runId, operation_ids: opSet }),
  fc.record({ type: fc.constant('EnterExtraction' as const), run_id: runId, max_retries: smallCount }),
  fc.record({ type: fc.constant('ExtractionValidationFailed' as const), run_id: runId, error: errorText }),
  fc.record({ type: fc.constant('ExtractionFailed' as const), run_id: runId, error: errorText }),
  fc.record({
    type: fc.constant('RecoverableFailure' as const),
    run_id: runId,
    kind: pick(LLM_FAILURE_KINDS),
    attempt: smallCount,
    max_retries: smallCount,
    delay_ms: fc.integer({ min: 0, max: 5000 }),
    error: errorText,
  }),
  fc.record({ type: fc.constant('RetryRequested' as const), run_id: runId, attempt: smallCount }),
  fc.record({
    type: fc.constant('FatalFailure' as const),
    run_id: runId,
    source: pick(RUN_FAILURE_SOURCE_KINDS),
    error: errorText,
  }),
  fc.record({
    type: fc.constant('TurnLimitReached' as const),
    run_id: runId,
    turn_count: smallCount,
    max_turns: smallCount,
  }),
  fc.record({ type: fc.constant('AcknowledgeTerminal' as const), run_id: runId, outcome: optional(pick(OUTCOMES)) }),
  fc.constant({ type: 'ForceCancelNoRun' as const }),
  fc.record({
    type: fc.constant('RunFailed' as const),
    run_id: runId,
    runtime_apply_failure_cause: optional(pick(APPLY_CAUSES)),
    runtime_apply_failure_message: optional(errorText),
    machine_terminal_failure_observed: fc.boolean(),
    source: optional(pick(RUN_FAILURE_SOURCE_KINDS)),
    error: errorText,
  }),
  fc.record({ type: fc.constant('Commit' as const), input_id: inputId, run_id: runId }),
);
