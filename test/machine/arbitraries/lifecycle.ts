import fc from 'fast-check';
import type { LifecycleInput, UserInterruptObservation } from '../../../src/machine/arms/lifecycle.js';
import { epochId, optional, pick, POOL, runId, runtimeId, sessionId, smallCount } from './pool.js';

/** Fence tokens and generations are drawn from a tiny range so that they often match state. */
const fence = fc.integer({ min: 0, max: 2 });
const generation = optional(fc.integer({ min: 0, max: 2 }));
const epoch = optional(epochId);
const reason = fc.constantFrom('boundary cancel', 'stop requested', 'operator');

const observedFacts = fc.record({
  session_id: sessionId,
  agent_runtime_id: optional(runtimeId),
  fence_token: optional(fence),
  generation,
  runtime_epoch_id: epoch,
});

const observations: readonly UserInterruptObservation[] = [
  'Accepted',
  'IdleNoop',
  'AttachedNoop',
  'StagedNoop',
  'Destroyed',
  'NotInterruptible',
];

/**
 * Every {@link LifecycleInput} variant, with identifiers drawn from the shared pools so that
 * random sequences frequently refer to the registered session, bound runtime and current run.
 */
export const lifecycleInputArb: fc.Arbitrary<LifecycleInput> = fc.oneof(
  // The set-up inputs are weighted up so that random traces get registered and bound.
  { arbitrary: fc.constant<LifecycleInput>({ type: 'Initialize' }), weight: 3 },
  {
    arbitrary: fc.record({ type: fc.constant('RegisterSession' as const), session_id: sessionId, runtime_epoch_id: epoch }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('PrepareBindings' as const),
      agent_runtime_id: runtimeId,
      fence_token: fence,
      generation,
      runtime_epoch_id: epoch,
      session_id: sessionId,
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ type: fc.constant('EnsureSessionWithExecutor' as const), session_id: sessionId }),
    weight: 2,
  },
  fc.record({
    type: fc.constant('SetSilentIntents' as const),
    session_id: sessionId,
    intents: fc.array(pick(['review', 'ping', 'status']), { maxLength: 3 }),
  }),
  fc.record({ type: fc.constant('Retire' as const), session_id: sessionId }),
  fc.constant<LifecycleInput>({ type: 'Reset' }),
  fc.record({ type: fc.constant('StopRuntimeExecutor' as const), reason }),
  fc.constant<LifecycleInput>({ type: 'RuntimeExecutorExited' }),
  fc.record({ type: fc.constant('Destroy' as const), session_id: sessionId }),
  fc.constant<LifecycleInput>({ type: 'Recover' }),
  fc.constant<LifecycleInput>({ type: 'Recycle' }),
  observedFacts.map((f): LifecycleInput => ({ type: 'BeginUnregisterSession', ...f })),
  observedFacts.map((f): LifecycleInput => ({ type: 'BeginUnregisterUnservedAttachment', ...f })),
  fc.record({
    type: fc.constant('RuntimeLoopStoppedForUnregister' as const),
    session_id: sessionId,
    forced_abort: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('CommsDrainExitedForUnregister' as const),
    session_id: sessionId,
    forced_abort: fc.boolean(),
  }),
  fc.record({ type: fc.constant('CompletionWaitersResolvedForUnregister' as const), session_id: sessionId }),
  observedFacts.map((f): LifecycleInput => ({ type: 'UnregisterSession', ...f })),
  observedFacts.map((f): LifecycleInput => ({ type: 'ResolveRuntimeOpsLifecycleDurability', ...f })),
  fc.record({
    type: fc.constant('Ingest' as const),
    session_id: sessionId,
    runtime_id: runtimeId,
    fence_token: fence,
    generation,
    runtime_epoch_id: epoch,
    work_id: pick(POOL.inputs),
    origin: fc.constantFrom('Operator', 'Peer', 'Flow', 'System', 'External'),
  }),
  fc.record({ type: fc.constant('PublishEvent' as const), kind: fc.constantFrom('RunStarted', 'InputAccepted') }),
  fc.constant<LifecycleInput>({ type: 'InterruptCurrentRun' }),
  fc.record({ type: fc.constant('InterruptCurrentRunForRun' as const), run_id: runId }),
  fc.record({ type: fc.constant('CancelAfterBoundary' as const), reason }),
  fc.record({ type: fc.constant('CancelAfterBoundaryForRun' as const), run_id: runId, reason }),
  fc.record({ type: fc.constant('AbortCancelAfterBoundaryDispatch' as const), generation: smallCount }),
  fc.record({
    type: fc.constant('ResolveUserInterruptPublicResult' as const),
    observation: pick(observations),
    target_present: fc.boolean(),
    promotion_busy: fc.boolean(),
  }),
);
