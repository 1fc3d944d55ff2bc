/**
 * Runtime lifecycle, registration, two-phase unregister and the lifecycle-adjacent
 * control inputs of the MeerkatMachine (`machine.md` §2.2, §2.3, §2.4).
 *
 * Arms are listed per input in upstream declaration order; arm names are the upstream
 * transition names and guard names the upstream guard labels. Where the specification
 * describes a guard without a label (e.g. "binding present"), the label used here is a
 * descriptive snake_case name in the same style; see the per-guard doc comments.
 */
import type { Draft } from '../draft.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import { ALL_PHASES, guard, LIVE_PHASES, NON_TERMINAL_PHASES } from '../arm.js';
import type { MachineState, Phase } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Observed placement facts carried by the binding-checked unregister inputs (`null` = None). */
export interface ObservedBindingFacts {
  readonly session_id: string;
  readonly agent_runtime_id: string | null;
  readonly fence_token: number | null;
  readonly generation: number | null;
  readonly runtime_epoch_id: string | null;
}

/** What the shell observed when a user asked to interrupt a session (`ResolveUserInterruptPublicResult`). */
export type UserInterruptObservation =
  | 'Accepted'
  | 'IdleNoop'
  | 'AttachedNoop'
  | 'StagedNoop'
  | 'Destroyed'
  | 'NotInterruptible';

/** Public answer to a user interrupt request. */
export type UserInterruptPublicResult = 'Interrupted' | 'StagedNoop' | 'NotFound' | 'SessionBusy' | 'Conflict';

/** Inputs (and signals) of the lifecycle domain, `machine.md` §2.2–§2.4. `null` is the spec's `None`. */
export type LifecycleInput =
  /** Signal: fresh authority becomes Idle. */
  | { readonly type: 'Initialize' }
  /** Register (or re-register) the session; installs the registration-owned runtime epoch. */
  | { readonly type: 'RegisterSession'; readonly session_id: string; readonly runtime_epoch_id: string | null }
  /** Install the placement triple (runtime id, fence token, generation); routed from the MobMachine too. */
  | {
      readonly type: 'PrepareBindings';
      readonly agent_runtime_id: string;
      readonly fence_token: number;
      readonly generation: number | null;
      readonly runtime_epoch_id: string | null;
      readonly session_id: string;
    }
  /** Grant the executor-registration claim (`session_id` is not checked upstream). */
  | { readonly type: 'EnsureSessionWithExecutor'; readonly session_id: string }
  /** Replace the silent-intent overrides (order as given). */
  | { readonly type: 'SetSilentIntents'; readonly session_id: string; readonly intents: readonly string[] }
  /** Retire the runtime (`session_id` is not checked upstream). */
  | { readonly type: 'Retire'; readonly session_id: string }
  /** Reset to Idle (un-retires), clearing the fence token and run binding. */
  | { readonly type: 'Reset' }
  /** Ask the runtime loop to stop its executor. */
  | { readonly type: 'StopRuntimeExecutor'; readonly reason: string }
  /** Runtime-internal: the executor of the current epoch exited. */
  | { readonly type: 'RuntimeExecutorExited' }
  /** Destroy the runtime (terminal; `session_id` is not checked upstream). */
  | { readonly type: 'Destroy'; readonly session_id: string }
  /** Recovery notice (the shell re-normalises inputs). */
  | { readonly type: 'Recover' }
  /** Drop the placement and rebuild the driver preserving work. */
  | { readonly type: 'Recycle' }
  /** Open the two-phase unregister window (also arm `BeginUnregisterSessionRetainsSnapshot`). */
  | ({ readonly type: 'BeginUnregisterSession' } & ObservedBindingFacts)
  /** Open the unregister window for an executor claim that never served. */
  | ({ readonly type: 'BeginUnregisterUnservedAttachment' } & ObservedBindingFacts)
  /** Feedback: the runtime loop stopped for unregister. */
  | { readonly type: 'RuntimeLoopStoppedForUnregister'; readonly session_id: string; readonly forced_abort: boolean }
  /** Feedback: the comms drain exited for unregister. */
  | { readonly type: 'CommsDrainExitedForUnregister'; readonly session_id: string; readonly forced_abort: boolean }
  /** Feedback: all completion waiters were resolved for unregister. */
  | { readonly type: 'CompletionWaitersResolvedForUnregister'; readonly session_id: string }
  /** Close the unregister window (all obligations must be closed). */
  | ({ readonly type: 'UnregisterSession' } & ObservedBindingFacts)
  /** Decide whether the ops-registry snapshot is retained or deleted at teardown. */
  | ({ readonly type: 'ResolveRuntimeOpsLifecycleDurability' } & ObservedBindingFacts)
  /** Routed work request; checks the exact placement before admission. */
  | {
      readonly type: 'Ingest';
      readonly session_id: string;
      readonly runtime_id: string;
      readonly fence_token: number;
      readonly generation: number | null;
      readonly runtime_epoch_id: string | null;
      readonly work_id: string;
      readonly origin: string;
    }
  /** Publish a runtime event (no state change). */
  | { readonly type: 'PublishEvent'; readonly kind: string }
  /** Runtime-internal: interrupt whatever run is current. */
  | { readonly type: 'InterruptCurrentRun' }
  /** Interrupt a specific bound run. */
  | { readonly type: 'InterruptCurrentRunForRun'; readonly run_id: string }
  /** Control-plane boundary cancel of the current run. */
  | { readonly type: 'CancelAfterBoundary'; readonly reason: string }
  /** Control-plane boundary cancel of a specific bound run. */
  | { readonly type: 'CancelAfterBoundaryForRun'; readonly run_id: string; readonly reason: string }
  /** Compensation when the boundary-cancel dispatch failed: clears the latch of that generation. */
  | { readonly type: 'AbortCancelAfterBoundaryDispatch'; readonly generation: number }
  /** Pure classifier of the public answer to a user interrupt. */
  | {
      readonly type: 'ResolveUserInterruptPublicResult';
      readonly observation: UserInterruptObservation;
      readonly target_present: boolean;
      readonly promotion_busy: boolean;
    };

// ---------------------------------------------------------------------------------------------
// Effects

/** Routed composition signal payload (decision 5); missing values are `''` / `0` (R5). */
export interface RoutedSignal<T extends string> {
  readonly type: T;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
}

/** Kinds of {@link LifecycleEffect} `RuntimeNotice` (`Drain` is emitted by the drain domain). */
export type RuntimeNoticeKind = 'Drain' | 'Reset' | 'Stop' | 'Exit' | 'Recover';

/** Why a `RegisterSession` was refused by the machine. `UnregisterTeardownInProgress` is retryable. */
export type SessionRegistrationRejectReason = 'RuntimeEpochConflict' | 'UnregisterTeardownInProgress';

/** Effects of the lifecycle domain (`machine.md` §8.3). */
export type LifecycleEffect =
  /** Routed → MobMachine `ObserveRuntimeReady`. */
  | RoutedSignal<'RuntimeBound'>
  /** Routed → MobMachine `ObserveRuntimeRetired`. */
  | RoutedSignal<'RuntimeRetired'>
  /** Routed → MobMachine `ObserveRuntimeDestroyed`. */
  | RoutedSignal<'RuntimeDestroyed'>
  /** External notice about a lifecycle change. */
  | { readonly type: 'RuntimeNotice'; readonly kind: RuntimeNoticeKind; readonly detail: string }
  /** Local fact converted by the shell into an executable runtime-loop effect. */
  | {
      readonly type: 'RuntimeEffectFact';
      readonly kind: 'StopRuntimeExecutor' | 'CancelAfterBoundary';
      readonly reason: string;
    }
  /** Typed machine-owned refusal of a registration (surface result). */
  | {
      readonly type: 'SessionRegistrationRejected';
      readonly session_id: string;
      readonly reason: SessionRegistrationRejectReason;
      readonly registered_runtime_epoch_id: string | null;
      readonly attempted_runtime_epoch_id: string | null;
      readonly unregister_runtime_loop_drain_pending: boolean;
      readonly unregister_comms_drain_exit_pending: boolean;
      readonly unregister_completion_waiter_drain_pending: boolean;
    }
  /** Unregister obligation: stop the runtime loop (feedback `RuntimeLoopStoppedForUnregister`). */
  | { readonly type: 'RequestRuntimeLoopStopForUnregister'; readonly session_id: string }
  /** Unregister obligation: make the comms drain exit (feedback `CommsDrainExitedForUnregister`). */
  | { readonly type: 'RequestCommsDrainExitForUnregister'; readonly session_id: string }
  /** Unregister obligation: resolve completion waiters (feedback `CompletionWaitersResolvedForUnregister`). */
  | { readonly type: 'RequestCompletionWaiterResolutionForUnregister'; readonly session_id: string }
  /** Wake the runtime loop to observe an interrupt. */
  | { readonly type: 'WakeInterrupt' }
  /** Ask the executor's boundary hook to cancel the current turn at its next boundary. */
  | { readonly type: 'RequestCancellationAtBoundary' }
  /** A boundary-cancel dispatch is already outstanding (no new dispatch). */
  | { readonly type: 'BoundaryCancelAlreadyPending' }
  /** Proceed with admission of routed work. */
  | {
      readonly type: 'ResolveAdmission';
      readonly session_id: string;
      readonly runtime_id: string;
      readonly work_id: string;
      readonly origin: string;
    }
  /** A runtime event was published. */
  | { readonly type: 'IngressNotice'; readonly kind: string }
  /** Start the work-preserving driver rebuild. */
  | { readonly type: 'InitiateRecycle' }
  /** Teardown verdict for the ops-registry snapshot. */
  | {
      readonly type: 'RuntimeOpsLifecycleDurabilityResolved';
      readonly session_id: string;
      readonly agent_runtime_id: string | null;
      readonly fence_token: number | null;
      readonly generation: number | null;
      readonly runtime_epoch_id: string | null;
      readonly action: 'RetainSnapshot' | 'DeleteSnapshot';
    }
  /** Public answer to a user interrupt. */
  | { readonly type: 'UserInterruptPublicResultResolved'; readonly result: UserInterruptPublicResult };

// ---------------------------------------------------------------------------------------------
// Guards (labels are upstream names; unlabelled spec conditions get descriptive names)

type S = MachineState;
type D = Draft<MachineState>;

const notDraining: Guard<unknown> = guard('not_draining', (s) => s.registration_phase !== 'Draining');
const notAlreadyDraining: Guard<unknown> = guard('not_already_draining', (s) => s.registration_phase !== 'Draining');
const unregisterDraining: Guard<unknown> = guard('unregister_draining', (s) => s.registration_phase === 'Draining');
const executorRegistrationActive: Guard<unknown> = guard(
  'executor_registration_active',
  (s) => s.registration_phase === 'Active',
);
const sessionRegistered: Guard<unknown> = guard('session_registered', (s) => s.session_id !== null);
const runtimeIsBound: Guard<unknown> = guard('runtime_is_bound', (s) => s.active_runtime_id !== null);
const hasBinding = (s: S): boolean => s.active_runtime_id !== null && s.active_fence_token !== null;
/** "binding present": runtime id and fence token both set. */
const bindingPresent: Guard<unknown> = guard('binding_present', hasBinding);
/** "binding absent": runtime id or fence token missing. */
const bindingAbsent: Guard<unknown> = guard('binding_absent', (s) => !hasBinding(s));
const currentRunPresent: Guard<unknown> = guard('current_run_present', (s) => s.current_run_id !== null);
const notRetiring: Guard<unknown> = guard('not_retiring', (s) => s.pre_run_phase !== 'Retired');
const noDispatchOutstanding: Guard<unknown> = guard(
  'no_dispatch_outstanding',
  (s) => !s.boundary_cancel_dispatch_pending,
);
const dispatchOutstanding: Guard<unknown> = guard('dispatch_outstanding', (s) => s.boundary_cancel_dispatch_pending);
const registeredEpochPresent = (name: string): Guard<unknown> =>
  guard(name, (s) => s.active_runtime_epoch_id !== null);

const newSessionBinding: Guard<{ readonly session_id: string }> = guard(
  'new_session_binding',
  (s, i) => s.session_id !== i.session_id,
);
const sameSessionBinding: Guard<{ readonly session_id: string }> = guard(
  'same_session_binding',
  (s, i) => s.session_id === i.session_id,
);
const sessionMatchesCurrent: Guard<{ readonly session_id: string }> = guard(
  'session_matches_current',
  (s, i) => s.session_id === i.session_id,
);
const sameRegisteredEpoch: Guard<{ readonly runtime_epoch_id: string | null }> = guard(
  'same_registered_epoch',
  (s, i) => s.active_runtime_epoch_id === i.runtime_epoch_id,
);
const registeredEpochDiffers: Guard<{ readonly runtime_epoch_id: string | null }> = guard(
  'registered_epoch_differs',
  (s, i) => s.active_runtime_epoch_id !== i.runtime_epoch_id,
);
const runMatchesCurrent: Guard<{ readonly run_id: string }> = guard(
  'run_matches_current',
  (s, i) => s.current_run_id === i.run_id,
);

/** Placement facts as carried by `PrepareBindings` (runtime id and fence always present). */
interface BindingRequest {
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number | null;
  readonly runtime_epoch_id: string | null;
}

/** `S.rid == rid` (option equality; a non-null input means `Some`). */
const runtimeBindingExact: Guard<{ readonly agent_runtime_id: string | null }> = guard(
  'runtime_binding_exact',
  (s, i) => s.active_runtime_id === i.agent_runtime_id,
);
const fenceBindingExact: Guard<{ readonly fence_token: number | null }> = guard(
  'fence_binding_exact',
  (s, i) => s.active_fence_token === i.fence_token,
);
const generationBindingExact: Guard<{ readonly generation: number | null }> = guard(
  'generation_binding_exact',
  (s, i) => s.active_runtime_generation === i.generation,
);
const epochBindingExact: Guard<{ readonly runtime_epoch_id: string | null }> = guard(
  'epoch_binding_exact',
  (s, i) => s.active_runtime_epoch_id === i.runtime_epoch_id,
);
const typedBindingIdentityPresent: Guard<BindingRequest> = guard(
  'typed_binding_identity_present',
  (_s, i) => i.generation !== null || i.runtime_epoch_id !== null,
);
const runtimeBindingAbsentOrSame: Guard<BindingRequest> = guard(
  'runtime_binding_absent_or_same',
  (s, i) => s.active_runtime_id === null || s.active_runtime_id === i.agent_runtime_id,
);
const fenceBindingAbsentOrSame: Guard<BindingRequest> = guard(
  'fence_binding_absent_or_same',
  (s, i) => s.active_fence_token === null || s.active_fence_token === i.fence_token,
);
const generationBindingAbsentOrSame: Guard<BindingRequest> = guard(
  'generation_binding_absent_or_same',
  (s, i) => s.active_runtime_generation === null || s.active_runtime_generation === i.generation,
);
const epochBindingMatchesRegistration: Guard<BindingRequest> = guard(
  'epoch_binding_matches_registration',
  (s, i) => s.active_runtime_epoch_id === i.runtime_epoch_id,
);
const runtimeBindingNotAlreadyExact: Guard<BindingRequest> = guard(
  'runtime_binding_not_already_exact',
  (s, i) =>
    s.active_runtime_id !== i.agent_runtime_id ||
    s.active_fence_token !== i.fence_token ||
    s.active_runtime_generation !== i.generation,
);

/** Session match plus the four observed binding facts (two-phase unregister inputs). */
const observedBindingMatches: readonly Guard<ObservedBindingFacts>[] = [
  sessionMatchesCurrent,
  runtimeBindingExact,
  fenceBindingExact,
  generationBindingExact,
  epochBindingExact,
];

// ---------------------------------------------------------------------------------------------
// Shared updates and effect builders

/** Reset the current LLM identity / capability fields to their defaults. */
function resetLlmState(d: D): void {
  d.current_llm_identity = null;
  d.current_capability_surface = null;
  d.capability_surface_status = 'Unresolved';
}

function clearPlacement(d: D): void {
  d.active_runtime_id = null;
  d.active_fence_token = null;
  d.active_runtime_generation = null;
}

/** `registration_phase := Queuing` unless the unregister window is open. */
function releaseRegistrationUnlessDraining(d: D): void {
  if (d.registration_phase !== 'Draining') d.registration_phase = 'Queuing';
}

function routed<T extends 'RuntimeBound' | 'RuntimeRetired' | 'RuntimeDestroyed'>(
  type: T,
  s: S,
): RoutedSignal<T> {
  return { type, agent_runtime_id: s.active_runtime_id ?? '', fence_token: s.active_fence_token ?? 0 };
}

function notice(kind: RuntimeNoticeKind, detail: string): LifecycleEffect {
  return { type: 'RuntimeNotice', kind, detail };
}

function registrationRejected(
  s: S,
  sessionId: string,
  attempted: string | null,
  reason: SessionRegistrationRejectReason,
): LifecycleEffect {
  return {
    type: 'SessionRegistrationRejected',
    session_id: sessionId,
    reason,
    registered_runtime_epoch_id: s.active_runtime_epoch_id,
    attempted_runtime_epoch_id: attempted,
    unregister_runtime_loop_drain_pending: s.unregister_runtime_loop_drain_pending,
    unregister_comms_drain_exit_pending: s.unregister_comms_drain_exit_pending,
    unregister_completion_waiter_drain_pending: s.unregister_completion_waiter_drain_pending,
  };
}

function openUnregisterWindow(d: D, retainsSnapshot: boolean): void {
  d.registration_phase = 'Draining';
  d.unregister_runtime_loop_drain_pending = true;
  d.unregister_comms_drain_exit_pending = true;
  d.unregister_completion_waiter_drain_pending = true;
  d.unregister_teardown_retains_snapshot = retainsSnapshot;
  d.unregister_runtime_loop_forced_abort = false;
  d.unregister_comms_drain_forced_abort = false;
}

function unregisterRequests(sessionId: string): LifecycleEffect[] {
  return [
    { type: 'RequestRuntimeLoopStopForUnregister', session_id: sessionId },
    { type: 'RequestCommsDrainExitForUnregister', session_id: sessionId },
    { type: 'RequestCompletionWaiterResolutionForUnregister', session_id: sessionId },
  ];
}

function stopEffects(reason: string): LifecycleEffect[] {
  return [notice('Stop', reason), { type: 'RuntimeEffectFact', kind: 'StopRuntimeExecutor', reason }];
}

function latchBoundaryCancelDispatch(d: D): void {
  d.boundary_cancel_dispatch_pending = true;
  d.boundary_cancel_dispatch_generation += 1;
}

function cancelDispatchEffects(reason: string): LifecycleEffect[] {
  return [{ type: 'RequestCancellationAtBoundary' }, { type: 'RuntimeEffectFact', kind: 'CancelAfterBoundary', reason }];
}

const INTERRUPT_EFFECTS: readonly LifecycleEffect[] = [
  { type: 'WakeInterrupt' },
  { type: 'RequestCancellationAtBoundary' },
];
const ALREADY_PENDING: readonly LifecycleEffect[] = [{ type: 'BoundaryCancelAlreadyPending' }];

/** Clear run binding, deferred stop and silent intents (executor exit from a live phase). */
function clearAfterExit(d: D): void {
  d.current_run_id = null;
  d.pre_run_phase = null;
  d.runtime_stop_deferred = false;
  d.silent_intent_overrides = [];
  releaseRegistrationUnlessDraining(d);
}

/** Shared Destroy updates (both arms). */
function destroyUpdates(d: D): void {
  d.current_run_id = null;
  d.pre_run_phase = null;
  d.runtime_stop_deferred = false;
  d.silent_intent_overrides = [];
  d.registration_phase = 'Queuing';
}

// Notice details (the specification only fixes the notice kind).
const DETAIL_RESET = 'runtime reset';
const DETAIL_EXIT = 'runtime executor exited';
const DETAIL_RECOVER = 'runtime recovered';
const DETAIL_RESUME_STOPPED = 'stopped runtime resumed by registration';
const DETAIL_NEW_BINDING_FROM_STOPPED = 'stopped runtime re-registered for a new session';
const DETAIL_EXECUTOR_FROM_STOPPED = 'stopped runtime re-attached to an executor';

// ---------------------------------------------------------------------------------------------
// Arm builders for per-phase families

type In<K extends LifecycleInput['type']> = Extract<LifecycleInput, { readonly type: K }>;

function prepareBindingsArm(phase: Phase, to: Phase): Arm<In<'PrepareBindings'>> {
  return {
    name: `PrepareBindings${phase}`,
    from: [phase],
    guards: [
      notDraining,
      sessionMatchesCurrent,
      runtimeBindingAbsentOrSame,
      fenceBindingAbsentOrSame,
      generationBindingAbsentOrSame,
      epochBindingMatchesRegistration,
      typedBindingIdentityPresent,
      runtimeBindingNotAlreadyExact,
    ],
    update: (d, i) => {
      d.active_runtime_id = i.agent_runtime_id;
      d.active_fence_token = i.fence_token;
      d.active_runtime_generation = i.generation;
    },
    to,
    emit: (s) => [routed('RuntimeBound', s)],
  };
}

function unregisterSessionArm(phase: Phase, to: Phase): Arm<In<'UnregisterSession'>> {
  return {
    name: `UnregisterSession${phase}`,
    from: [phase],
    guards: [
      ...observedBindingMatches,
      unregisterDraining,
      guard(
        'unregister_obligations_closed',
        (s) =>
          !s.unregister_runtime_loop_drain_pending &&
          !s.unregister_comms_drain_exit_pending &&
          !s.unregister_completion_waiter_drain_pending,
      ),
    ],
    update: (d) => {
      d.session_id = null;
      clearPlacement(d);
      d.active_runtime_epoch_id = null;
      d.current_run_id = null;
      d.pre_run_phase = null;
      resetLlmState(d);
      // registration_phase deliberately stays Draining (the shell discards the authority).
    },
    to,
  };
}

function opsDurabilityArm(phase: Phase): Arm<In<'ResolveRuntimeOpsLifecycleDurability'>> {
  return {
    name: `ResolveRuntimeOpsLifecycleDurability${phase}`,
    from: [phase],
    guards: observedBindingMatches,
    to: 'self',
    emit: (s, i) => [
      {
        type: 'RuntimeOpsLifecycleDurabilityResolved',
        session_id: i.session_id,
        agent_runtime_id: i.agent_runtime_id,
        fence_token: i.fence_token,
        generation: i.generation,
        runtime_epoch_id: i.runtime_epoch_id,
        action: s.unregister_teardown_retains_snapshot ? 'RetainSnapshot' : 'DeleteSnapshot',
      },
    ],
  };
}

function recoverArm(phase: Phase): Arm<In<'Recover'>> {
  return {
    name: `Recover${phase}`,
    from: [phase],
    guards: [],
    to: 'self',
    emit: () => [notice('Recover', DETAIL_RECOVER)],
  };
}

/** Feedback inputs of the unregister saga: session match, window open, obligation open. */
function unregisterObligationGuards(
  pendingLabel: string,
  pending: (s: S) => boolean,
): readonly Guard<{ readonly session_id: string }>[] {
  return [sessionMatchesCurrent, unregisterDraining, guard(pendingLabel, pending)];
}

function interruptResultArm(
  name: string,
  from: readonly Phase[],
  guards: readonly Guard<In<'ResolveUserInterruptPublicResult'>>[],
  result: UserInterruptPublicResult,
): Arm<In<'ResolveUserInterruptPublicResult'>> {
  return {
    name: `ResolveUserInterruptPublicResult${name}`,
    from,
    guards,
    to: 'self',
    emit: () => [{ type: 'UserInterruptPublicResultResolved', result }],
  };
}

type InterruptGuard = Guard<In<'ResolveUserInterruptPublicResult'>>;
const observationIs = (name: string, ...obs: UserInterruptObservation[]): InterruptGuard =>
  guard(name, (_s, i) => obs.includes(i.observation));
const notPromotionBusy: InterruptGuard = guard('not_promotion_busy', (_s, i) => !i.promotion_busy);

// ---------------------------------------------------------------------------------------------
// The table

const REGISTER_LIVE: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired'];
const UNREGISTER_BEGIN: readonly Phase[] = ['Idle', 'Attached', 'Running'];

/** Transition table of the lifecycle domain (`machine.md` §2.2–§2.4), arms in upstream order. */
/** A bound runtime must keep a typed identity (generation or epoch) after re-registration. */
const bindingIdentityStaysTyped = guard<{ readonly runtime_epoch_id: string | null }>(
  'binding_identity_stays_typed',
  (s, i) => s.active_runtime_id === null || s.active_runtime_generation !== null || i.runtime_epoch_id !== null,
);

export const lifecycleArms: ArmTable<LifecycleInput> = {
  Initialize: [{ name: 'Initialize', from: ['Initializing'], guards: [], to: 'Idle' }],

  RegisterSession: [
    {
      name: 'RegisterSession',
      from: REGISTER_LIVE,
      // Divergence: upstream keeps the placement and may drop the only typed identity of a
      // bound runtime (epoch := None with generation None), breaking the §9.1 invariant
      // `runtime_binding_identity_is_typed`. R7 makes that invariant binding, so we refuse instead.
      guards: [notDraining, newSessionBinding, bindingIdentityStaysTyped],
      update: (d, i) => {
        d.session_id = i.session_id;
        d.active_runtime_epoch_id = i.runtime_epoch_id;
        resetLlmState(d);
      },
      to: 'self',
    },
    {
      name: 'RegisterSessionIdempotent',
      from: REGISTER_LIVE,
      guards: [notDraining, sameSessionBinding, sameRegisteredEpoch],
      to: 'self',
    },
    {
      name: 'RegisterSessionEpochConflictRejected',
      from: REGISTER_LIVE,
      guards: [notDraining, sameSessionBinding, registeredEpochDiffers],
      to: 'self',
      emit: (s, i) => [registrationRejected(s, i.session_id, i.runtime_epoch_id, 'RuntimeEpochConflict')],
    },
    {
      name: 'RegisterSessionRefusedUnregisterDraining',
      from: LIVE_PHASES,
      guards: [unregisterDraining],
      to: 'self',
      emit: (s, i) => [registrationRejected(s, i.session_id, i.runtime_epoch_id, 'UnregisterTeardownInProgress')],
    },
    {
      name: 'RegisterSessionResumesStopped',
      from: ['Stopped'],
      guards: [sameSessionBinding, notDraining],
      update: (d, i) => {
        d.registration_phase = 'Queuing';
        d.runtime_stop_deferred = false;
        clearPlacement(d);
        d.active_runtime_epoch_id = i.runtime_epoch_id;
      },
      to: 'Idle',
      emit: () => [notice('Recover', DETAIL_RESUME_STOPPED)],
    },
    {
      name: 'RegisterSessionNewBindingFromStopped',
      from: ['Stopped'],
      guards: [newSessionBinding, notDraining],
      update: (d, i) => {
        d.session_id = i.session_id;
        clearPlacement(d);
        d.active_runtime_epoch_id = i.runtime_epoch_id;
        d.registration_phase = 'Queuing';
        d.runtime_stop_deferred = false;
        resetLlmState(d);
      },
      to: 'Idle',
      emit: () => [notice('Recover', DETAIL_NEW_BINDING_FROM_STOPPED)],
    },
  ],

  PrepareBindings: [
    {
      name: 'PrepareBindingsIdempotent',
      from: ['Initializing', 'Idle', 'Attached', 'Running', 'Retired'],
      guards: [
        notDraining,
        sessionMatchesCurrent,
        runtimeBindingExact,
        fenceBindingExact,
        generationBindingExact,
        epochBindingExact,
        typedBindingIdentityPresent,
      ],
      to: 'self',
    },
    prepareBindingsArm('Initializing', 'Initializing'),
    prepareBindingsArm('Idle', 'Attached'),
    prepareBindingsArm('Attached', 'Attached'),
    prepareBindingsArm('Running', 'Running'),
    prepareBindingsArm('Retired', 'Retired'),
  ],

  EnsureSessionWithExecutor: [
    {
      name: 'EnsureSessionWithExecutorIdle',
      from: ['Idle'],
      guards: [notDraining],
      update: (d) => {
        d.registration_phase = 'Active';
      },
      to: 'Attached',
    },
    {
      name: 'EnsureSessionWithExecutorAttached',
      from: ['Attached'],
      guards: [notDraining],
      update: (d) => {
        d.registration_phase = 'Active';
        d.runtime_stop_deferred = false;
      },
      to: 'self',
    },
    {
      name: 'EnsureSessionWithExecutorRunning',
      from: ['Running'],
      guards: [notDraining],
      update: (d) => {
        d.registration_phase = 'Active';
      },
      to: 'self',
    },
    { name: 'EnsureSessionWithExecutorRetired', from: ['Retired'], guards: [notDraining], to: 'self' },
    {
      name: 'EnsureSessionWithExecutorStopped',
      from: ['Stopped'],
      guards: [notDraining, registeredEpochPresent('readmission_requires_registered_epoch')],
      update: (d) => {
        d.registration_phase = 'Active';
        d.runtime_stop_deferred = false;
        clearPlacement(d);
      },
      to: 'Attached',
      emit: () => [notice('Recover', DETAIL_EXECUTOR_FROM_STOPPED)],
    },
  ],

  SetSilentIntents: [
    {
      name: 'SetSilentIntents',
      from: REGISTER_LIVE,
      guards: [sessionRegistered],
      update: (d, i) => {
        d.silent_intent_overrides = [...i.intents];
      },
      to: 'self',
    },
  ],

  Retire: [
    {
      name: 'RetireRequestedFromIdle',
      from: ['Idle', 'Attached', 'Stopped'],
      guards: [bindingPresent],
      update: (d) => {
        d.runtime_stop_deferred = false;
      },
      to: 'Retired',
      emit: (s) => [routed('RuntimeRetired', s)],
    },
    {
      name: 'RetireRequestedFromIdleUnbound',
      from: ['Idle', 'Attached', 'Stopped'],
      guards: [bindingAbsent],
      update: (d) => {
        d.runtime_stop_deferred = false;
      },
      to: 'Retired',
    },
    {
      name: 'RetireRequestedWhileRunBound',
      from: ['Running'],
      guards: [currentRunPresent, bindingPresent],
      update: (d) => {
        d.pre_run_phase = 'Retired';
        d.runtime_stop_deferred = false;
      },
      to: 'self',
      emit: (s) => [routed('RuntimeRetired', s)],
    },
    {
      name: 'RetireRequestedWhileRunUnbound',
      from: ['Running'],
      guards: [currentRunPresent, bindingAbsent],
      update: (d) => {
        d.pre_run_phase = 'Retired';
        d.runtime_stop_deferred = false;
      },
      to: 'self',
    },
    {
      name: 'RetireAlreadyRetired',
      from: ['Retired'],
      guards: [bindingPresent],
      to: 'self',
      emit: (s) => [routed('RuntimeRetired', s)],
    },
    { name: 'RetireAlreadyRetiredUnbound', from: ['Retired'], guards: [bindingAbsent], to: 'self' },
  ],

  Reset: [
    {
      name: 'Reset',
      from: ['Initializing', 'Idle', 'Attached', 'Retired'],
      guards: [],
      update: (d) => {
        d.current_run_id = null;
        d.active_fence_token = null;
        d.pre_run_phase = null;
        d.runtime_stop_deferred = false;
        d.silent_intent_overrides = [];
      },
      to: 'Idle',
      emit: () => [notice('Reset', DETAIL_RESET)],
    },
  ],

  StopRuntimeExecutor: [
    ...(['Initializing', 'Idle', 'Retired'] as const).map(
      (phase): Arm<In<'StopRuntimeExecutor'>> => ({
        name: `StopRuntimeExecutor${phase}`,
        from: [phase],
        guards: [],
        update: (d) => {
          d.current_run_id = null;
          d.pre_run_phase = null;
          d.runtime_stop_deferred = false;
          d.silent_intent_overrides = [];
        },
        to: 'self',
        emit: (_s, i) => stopEffects(i.reason),
      }),
    ),
    {
      name: 'StopRuntimeExecutorAttached',
      from: ['Attached'],
      guards: [],
      update: (d) => {
        d.runtime_stop_deferred = true;
        d.silent_intent_overrides = [];
      },
      to: 'self',
      emit: (_s, i) => stopEffects(i.reason),
    },
    {
      name: 'StopRuntimeExecutorRunning',
      from: ['Running'],
      guards: [],
      update: (d) => {
        d.runtime_stop_deferred = d.current_run_id !== null;
        d.silent_intent_overrides = [];
      },
      to: 'self',
      emit: (_s, i) => stopEffects(i.reason),
    },
  ],

  RuntimeExecutorExited: [
    {
      name: 'RuntimeExecutorExitedFromAttached',
      from: ['Attached'],
      guards: [],
      update: clearAfterExit,
      to: 'Stopped',
      emit: () => [notice('Exit', DETAIL_EXIT)],
    },
    {
      name: 'RuntimeExecutorExitedFromRunning',
      from: ['Running'],
      guards: [],
      update: clearAfterExit,
      to: 'Stopped',
      emit: () => [notice('Exit', DETAIL_EXIT)],
    },
    {
      name: 'RuntimeExecutorExitedFromIdle',
      from: ['Idle'],
      guards: [],
      update: (d) => {
        d.runtime_stop_deferred = false;
        d.silent_intent_overrides = [];
        releaseRegistrationUnlessDraining(d);
      },
      to: 'Stopped',
      emit: () => [notice('Exit', DETAIL_EXIT)],
    },
    {
      name: 'RuntimeExecutorExitedFromRetired',
      from: ['Retired'],
      guards: [],
      update: clearAfterExit,
      // Stays Retired: the archive marker must not be overwritten.
      to: 'self',
      emit: () => [notice('Exit', DETAIL_EXIT)],
    },
    {
      name: 'RuntimeExecutorExitedFromStopped',
      from: ['Stopped'],
      guards: [],
      update: (d) => {
        d.runtime_stop_deferred = false;
        releaseRegistrationUnlessDraining(d);
      },
      to: 'self',
    },
  ],

  Destroy: [
    {
      name: 'DestroyInitializing',
      from: ['Initializing'],
      guards: [runtimeIsBound],
      update: destroyUpdates,
      to: 'Destroyed',
      emit: (s) => [routed('RuntimeDestroyed', s)],
    },
    {
      name: 'Destroy',
      from: LIVE_PHASES,
      guards: [],
      update: (d) => {
        destroyUpdates(d);
        // Destroy supersedes an unregister drain.
        d.unregister_runtime_loop_drain_pending = false;
        d.unregister_comms_drain_exit_pending = false;
        d.unregister_completion_waiter_drain_pending = false;
        d.unregister_teardown_retains_snapshot = false;
      },
      to: 'Destroyed',
      emit: (s) => [routed('RuntimeDestroyed', s)],
    },
  ],

  Recover: [
    recoverArm('Initializing'),
    recoverArm('Idle'),
    recoverArm('Attached'),
    recoverArm('Retired'),
    recoverArm('Stopped'),
  ],

  Recycle: [
    {
      name: 'RecycleFromIdleOrRetired',
      from: ['Idle', 'Retired'],
      guards: [sessionRegistered, registeredEpochPresent('recycle_requires_registered_epoch')],
      update: (d) => {
        clearPlacement(d);
        // pre_run_phase is deliberately not cleared (machine.md §10).
        d.current_run_id = null;
      },
      to: 'Idle',
      emit: () => [{ type: 'InitiateRecycle' }],
    },
    {
      name: 'RecycleFromAttached',
      from: ['Attached'],
      guards: [sessionRegistered, registeredEpochPresent('recycle_requires_registered_epoch')],
      update: (d) => {
        clearPlacement(d);
        d.current_run_id = null;
      },
      to: 'self',
      emit: () => [{ type: 'InitiateRecycle' }],
    },
  ],

  // -------------------------------------------------------------------------------------------
  // §2.3 two-phase unregister

  BeginUnregisterSession: [
    {
      name: 'BeginUnregisterSession',
      from: UNREGISTER_BEGIN,
      guards: [...observedBindingMatches, notAlreadyDraining],
      update: (d) => openUnregisterWindow(d, false),
      to: 'self',
      emit: (_s, i) => unregisterRequests(i.session_id),
    },
    {
      name: 'BeginUnregisterSessionRetainsSnapshot',
      from: ['Retired', 'Stopped'],
      guards: [...observedBindingMatches, notAlreadyDraining],
      update: (d) => openUnregisterWindow(d, true),
      to: 'self',
      emit: (_s, i) => unregisterRequests(i.session_id),
    },
  ],

  BeginUnregisterUnservedAttachment: [
    {
      name: 'BeginUnregisterUnservedAttachment',
      from: UNREGISTER_BEGIN,
      guards: [...observedBindingMatches, executorRegistrationActive],
      update: (d) => openUnregisterWindow(d, true),
      to: 'self',
      emit: (_s, i) => unregisterRequests(i.session_id),
    },
  ],

  RuntimeLoopStoppedForUnregister: [
    {
      name: 'RuntimeLoopStoppedForUnregister',
      from: LIVE_PHASES,
      guards: unregisterObligationGuards('runtime_loop_drain_pending', (s) => s.unregister_runtime_loop_drain_pending),
      update: (d, i) => {
        d.unregister_runtime_loop_drain_pending = false;
        d.unregister_runtime_loop_forced_abort = i.forced_abort;
      },
      to: 'self',
    },
  ],

  CommsDrainExitedForUnregister: [
    {
      name: 'CommsDrainExitedForUnregister',
      from: LIVE_PHASES,
      guards: unregisterObligationGuards('comms_drain_exit_pending', (s) => s.unregister_comms_drain_exit_pending),
      update: (d, i) => {
        d.unregister_comms_drain_exit_pending = false;
        d.unregister_comms_drain_forced_abort = i.forced_abort;
        if (d.drain_phase === 'Running') d.drain_phase = 'Stopped';
      },
      to: 'self',
    },
  ],

  CompletionWaitersResolvedForUnregister: [
    {
      name: 'CompletionWaitersResolvedForUnregister',
      from: LIVE_PHASES,
      guards: unregisterObligationGuards(
        'completion_waiter_drain_pending',
        (s) => s.unregister_completion_waiter_drain_pending,
      ),
      update: (d) => {
        d.unregister_completion_waiter_drain_pending = false;
      },
      to: 'self',
    },
  ],

  UnregisterSession: [
    unregisterSessionArm('Idle', 'Idle'),
    unregisterSessionArm('Attached', 'Idle'),
    unregisterSessionArm('Running', 'Idle'),
    unregisterSessionArm('Retired', 'Retired'),
    unregisterSessionArm('Stopped', 'Idle'),
  ],

  ResolveRuntimeOpsLifecycleDurability: [
    opsDurabilityArm('Idle'),
    opsDurabilityArm('Attached'),
    opsDurabilityArm('Running'),
    opsDurabilityArm('Retired'),
    opsDurabilityArm('Stopped'),
  ],

  // -------------------------------------------------------------------------------------------
  // §2.4 other lifecycle-adjacent inputs

  Ingest: [
    {
      name: 'Ingest',
      from: ['Idle', 'Attached', 'Running'],
      guards: [
        sessionMatchesCurrent,
        guard('runtime_binding_exact', (s, i) => s.active_runtime_id === i.runtime_id),
        fenceBindingExact,
        generationBindingExact,
        epochBindingExact,
      ],
      to: 'self',
      emit: (_s, i) => [
        {
          type: 'ResolveAdmission',
          session_id: i.session_id,
          runtime_id: i.runtime_id,
          work_id: i.work_id,
          origin: i.origin,
        },
      ],
    },
  ],

  PublishEvent: [
    {
      name: 'PublishEvent',
      from: LIVE_PHASES,
      guards: [sessionRegistered],
      to: 'self',
      emit: (_s, i) => [{ type: 'IngressNotice', kind: i.kind }],
    },
  ],

  InterruptCurrentRun: [
    { name: 'InterruptCurrentRunAttached', from: ['Attached'], guards: [], to: 'self', emit: () => INTERRUPT_EFFECTS },
    { name: 'InterruptCurrentRun', from: ['Running'], guards: [notRetiring], to: 'self', emit: () => INTERRUPT_EFFECTS },
  ],

  InterruptCurrentRunForRun: [
    {
      name: 'InterruptCurrentRunForRunRunning',
      from: ['Running'],
      guards: [runMatchesCurrent],
      to: 'self',
      emit: () => INTERRUPT_EFFECTS,
    },
    {
      name: 'InterruptCurrentRunForRunRetired',
      from: ['Retired'],
      guards: [runMatchesCurrent],
      to: 'self',
      emit: () => INTERRUPT_EFFECTS,
    },
  ],

  CancelAfterBoundary: [
    {
      name: 'CancelAfterBoundaryAttached',
      from: ['Attached'],
      guards: [noDispatchOutstanding],
      update: latchBoundaryCancelDispatch,
      to: 'self',
      emit: (_s, i) => cancelDispatchEffects(i.reason),
    },
    {
      name: 'CancelAfterBoundary',
      from: ['Running'],
      guards: [notRetiring, noDispatchOutstanding],
      update: latchBoundaryCancelDispatch,
      to: 'self',
      emit: (_s, i) => cancelDispatchEffects(i.reason),
    },
    {
      name: 'CancelAfterBoundaryAttachedAlreadyPending',
      from: ['Attached'],
      guards: [dispatchOutstanding],
      to: 'self',
      emit: () => ALREADY_PENDING,
    },
    {
      name: 'CancelAfterBoundaryAlreadyPending',
      from: ['Running'],
      guards: [notRetiring, dispatchOutstanding],
      to: 'self',
      emit: () => ALREADY_PENDING,
    },
  ],

  CancelAfterBoundaryForRun: [
    {
      name: 'CancelAfterBoundaryForRunRunning',
      from: ['Running'],
      guards: [runMatchesCurrent, noDispatchOutstanding],
      update: latchBoundaryCancelDispatch,
      to: 'self',
      emit: (_s, i) => cancelDispatchEffects(i.reason),
    },
    {
      name: 'CancelAfterBoundaryForRunRetired',
      from: ['Retired'],
      guards: [runMatchesCurrent, noDispatchOutstanding],
      update: latchBoundaryCancelDispatch,
      to: 'self',
      emit: (_s, i) => cancelDispatchEffects(i.reason),
    },
    {
      name: 'CancelAfterBoundaryForRunRunningAlreadyPending',
      from: ['Running'],
      guards: [runMatchesCurrent, dispatchOutstanding],
      to: 'self',
      emit: () => ALREADY_PENDING,
    },
    {
      name: 'CancelAfterBoundaryForRunRetiredAlreadyPending',
      from: ['Retired'],
      guards: [runMatchesCurrent, dispatchOutstanding],
      to: 'self',
      emit: () => ALREADY_PENDING,
    },
  ],

  AbortCancelAfterBoundaryDispatch: [
    {
      name: 'AbortCancelAfterBoundaryDispatch',
      from: ALL_PHASES,
      guards: [
        dispatchOutstanding,
        guard('dispatch_generation_matches', (s, i) => s.boundary_cancel_dispatch_generation === i.generation),
      ],
      update: (d) => {
        d.boundary_cancel_dispatch_pending = false;
      },
      to: 'self',
    },
  ],

  ResolveUserInterruptPublicResult: [
    interruptResultArm('Accepted', ALL_PHASES, [observationIs('observation_accepted', 'Accepted')], 'Interrupted'),
    interruptResultArm(
      'Noop',
      NON_TERMINAL_PHASES,
      [notPromotionBusy, observationIs('observation_noop', 'IdleNoop', 'AttachedNoop')],
      'Interrupted',
    ),
    interruptResultArm(
      'StagedNoop',
      NON_TERMINAL_PHASES,
      [notPromotionBusy, observationIs('observation_staged_noop', 'StagedNoop')],
      'StagedNoop',
    ),
    interruptResultArm(
      'DestroyedPresent',
      NON_TERMINAL_PHASES,
      [
        notPromotionBusy,
        observationIs('observation_destroyed', 'Destroyed'),
        guard('target_present', (_s, i) => i.target_present),
      ],
      'Interrupted',
    ),
    interruptResultArm(
      'DestroyedMissing',
      NON_TERMINAL_PHASES,
      [
        notPromotionBusy,
        observationIs('observation_destroyed', 'Destroyed'),
        guard('target_missing', (_s, i) => !i.target_present),
      ],
      'NotFound',
    ),
    interruptResultArm(
      'PromotingConflict',
      NON_TERMINAL_PHASES,
      [
        guard('observation_not_accepted', (_s, i) => i.observation !== 'Accepted'),
        guard('promotion_busy', (_s, i) => i.promotion_busy),
      ],
      'SessionBusy',
    ),
    interruptResultArm(
      'NotInterruptibleConflict',
      NON_TERMINAL_PHASES,
      [notPromotionBusy, observationIs('observation_not_interruptible', 'NotInterruptible')],
      'Conflict',
    ),
  ],
};
