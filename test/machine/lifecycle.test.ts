import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lifecycleArms, type LifecycleInput } from '../../src/machine/arms/lifecycle.js';
import { visibleRuntimePhase } from '../../src/machine/classify.js';
import type { Effect } from '../../src/machine/effects.js';
import { checkInvariants } from '../../src/machine/invariants.js';
import { describeRejection, reduce, type Rejection, type Transition } from '../../src/machine/reduce.js';
import { initialMachineState, PHASES, type MachineState, type Phase } from '../../src/machine/state.js';
import { lifecycleInputArb } from './arbitraries/lifecycle.js';

// ---------------------------------------------------------------------------------------------
// helpers

const LLM = {
  model: 'model-a',
  provider: 'prov',
  self_hosted_server_id: null,
  provider_params: null,
  auth_binding: null,
};

/** Applies an input that must be accepted; by default also asserts the §9 invariants afterwards. */
function accept(state: MachineState, input: LifecycleInput, opts: { invariants?: boolean } = {}): Transition {
  const step = reduce(state, input);
  if (!step.ok) throw new Error(describeRejection(step));
  if (opts.invariants !== false) expect(checkInvariants(step.state)).toEqual([]);
  return step;
}

/** Applies an input that must be refused and checks the rejection's shape. */
function reject(
  state: MachineState,
  input: LifecycleInput,
  kind: Rejection['kind'],
  guardName: string | null,
): Rejection {
  const step = reduce(state, input);
  expect(step.ok).toBe(false);
  if (step.ok) throw new Error(`unexpectedly accepted by ${step.transition}`);
  expect(step.kind).toBe(kind);
  expect(step.guard).toBe(guardName);
  expect(step.phase).toBe(state.lifecycle_phase);
  expect(step.input).toBe(input.type);
  if (kind === 'NoMatchingTransition') expect(step.failures).toEqual([]);
  return step;
}

function runAll(state: MachineState, inputs: readonly LifecycleInput[]): MachineState {
  return inputs.reduce((s, i) => accept(s, i).state, state);
}

const S1 = 's-1';
const RT = 'rt:session:s-1';
const E1 = 'epoch-1';

const registered = (): MachineState =>
  runAll(initialMachineState(), [
    { type: 'Initialize' },
    { type: 'RegisterSession', session_id: S1, runtime_epoch_id: E1 },
  ]);

const bind = { agent_runtime_id: RT, fence_token: 7, generation: 1, runtime_epoch_id: E1, session_id: S1 } as const;
const facts = { session_id: S1, agent_runtime_id: RT, fence_token: 7, generation: 1, runtime_epoch_id: E1 } as const;

/** Registered, bound (rt, fence 7, gen 1) and Attached. */
const attached = (): MachineState => accept(registered(), { type: 'PrepareBindings', ...bind }).state;

/** Attached state with a run bound (the runs domain's `Prepare` is not needed here). */
const running = (over: Partial<MachineState> = {}): MachineState => ({
  ...attached(),
  lifecycle_phase: 'Running',
  current_run_id: 'run-1',
  pre_run_phase: 'Attached',
  ...over,
});

const inPhase = (phase: Phase, over: Partial<MachineState> = {}): MachineState => ({
  ...attached(),
  lifecycle_phase: phase,
  ...over,
});

const types = (effects: readonly Effect[]): string[] => effects.map((e) => e.type);

// ---------------------------------------------------------------------------------------------
// table shape

/** §2.5 legality matrix rows for the lifecycle inputs. */
const LEGALITY: Readonly<Record<LifecycleInput['type'], readonly Phase[]>> = {
  Initialize: ['Initializing'],
  RegisterSession: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  PrepareBindings: ['Initializing', 'Idle', 'Attached', 'Running', 'Retired'],
  EnsureSessionWithExecutor: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  SetSilentIntents: ['Idle', 'Attached', 'Running', 'Retired'],
  Retire: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  Reset: ['Initializing', 'Idle', 'Attached', 'Retired'],
  StopRuntimeExecutor: ['Initializing', 'Idle', 'Attached', 'Running', 'Retired'],
  RuntimeExecutorExited: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  Destroy: ['Initializing', 'Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  Recover: ['Initializing', 'Idle', 'Attached', 'Retired', 'Stopped'],
  Recycle: ['Idle', 'Attached', 'Retired'],
  BeginUnregisterSession: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  BeginUnregisterUnservedAttachment: ['Idle', 'Attached', 'Running'],
  RuntimeLoopStoppedForUnregister: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  CommsDrainExitedForUnregister: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  CompletionWaitersResolvedForUnregister: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  UnregisterSession: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  ResolveRuntimeOpsLifecycleDurability: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  Ingest: ['Idle', 'Attached', 'Running'],
  PublishEvent: ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'],
  InterruptCurrentRun: ['Attached', 'Running'],
  InterruptCurrentRunForRun: ['Running', 'Retired'],
  CancelAfterBoundary: ['Attached', 'Running'],
  CancelAfterBoundaryForRun: ['Running', 'Retired'],
  AbortCancelAfterBoundaryDispatch: [...PHASES],
  ResolveUserInterruptPublicResult: [...PHASES],
};

describe('lifecycle table shape', () => {
  it('declares arms exactly for the ✔ cells of the §2.5 legality matrix', () => {
    for (const [type, arms] of Object.entries(lifecycleArms)) {
      const phases = new Set(arms.flatMap((a: { from: readonly Phase[] }) => a.from));
      const expected = LEGALITY[type as LifecycleInput['type']];
      expect([...phases].sort(), type).toEqual([...expected].sort());
    }
    expect(Object.keys(lifecycleArms).sort()).toEqual(Object.keys(LEGALITY).sort());
  });

  it('uses unique arm names', () => {
    const names = Object.values(lifecycleArms).flatMap((arms) => arms.map((a: { name: string }) => a.name));
    expect(new Set(names).size).toBe(names.length);
  });
});

// ---------------------------------------------------------------------------------------------
// §2.2

describe('Initialize', () => {
  it('moves a fresh authority to Idle', () => {
    const step = accept(initialMachineState(), { type: 'Initialize' });
    expect(step.state.lifecycle_phase).toBe('Idle');
    expect(step.effects).toEqual([]);
  });
  it('has no transition outside Initializing', () => {
    reject(registered(), { type: 'Initialize' }, 'NoMatchingTransition', null);
  });
});

describe('RegisterSession', () => {
  it('registers a new session, installs the epoch and resets LLM state without touching placement', () => {
    const s0 = { ...attached(), current_llm_identity: LLM, capability_surface_status: 'Resolved' as const };
    const step = accept(s0, { type: 'RegisterSession', session_id: 's-2', runtime_epoch_id: 'epoch-2' });
    expect(step.transition).toBe('RegisterSession');
    expect(step.state.session_id).toBe('s-2');
    expect(step.state.active_runtime_epoch_id).toBe('epoch-2');
    expect(step.state.current_llm_identity).toBeNull();
    expect(step.state.capability_surface_status).toBe('Unresolved');
    expect(step.state.active_runtime_id).toBe(RT);
    expect(step.state.active_fence_token).toBe(7);
    expect(step.state.lifecycle_phase).toBe('Attached');
  });

  it('is idempotent for the same session and epoch', () => {
    const s0 = registered();
    const step = accept(s0, { type: 'RegisterSession', session_id: S1, runtime_epoch_id: E1 });
    expect(step.transition).toBe('RegisterSessionIdempotent');
    expect(step.state).toEqual(s0);
    expect(step.effects).toEqual([]);
  });

  it('refuses a different epoch for the same session with a typed rejection effect', () => {
    const step = accept(registered(), { type: 'RegisterSession', session_id: S1, runtime_epoch_id: 'epoch-2' });
    expect(step.transition).toBe('RegisterSessionEpochConflictRejected');
    expect(step.state.active_runtime_epoch_id).toBe(E1);
    expect(step.effects).toEqual([
      {
        type: 'SessionRegistrationRejected',
        session_id: S1,
        reason: 'RuntimeEpochConflict',
        registered_runtime_epoch_id: E1,
        attempted_runtime_epoch_id: 'epoch-2',
        unregister_runtime_loop_drain_pending: false,
        unregister_comms_drain_exit_pending: false,
        unregister_completion_waiter_drain_pending: false,
      },
    ]);
  });

  it('refuses registration while the unregister window is open (also in Stopped)', () => {
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    for (const s0 of [draining, { ...draining, lifecycle_phase: 'Stopped' as const }]) {
      const step = accept(s0, { type: 'RegisterSession', session_id: S1, runtime_epoch_id: E1 });
      expect(step.transition).toBe('RegisterSessionRefusedUnregisterDraining');
      expect(step.state).toEqual(s0);
      expect(step.effects).toEqual([
        {
          type: 'SessionRegistrationRejected',
          session_id: S1,
          reason: 'UnregisterTeardownInProgress',
          registered_runtime_epoch_id: E1,
          attempted_runtime_epoch_id: E1,
          unregister_runtime_loop_drain_pending: true,
          unregister_comms_drain_exit_pending: true,
          unregister_completion_waiter_drain_pending: true,
        },
      ]);
    }
  });

  it('resumes a Stopped runtime for the same session: placement cleared, LLM state kept', () => {
    const stopped = { ...accept(attached(), { type: 'RuntimeExecutorExited' }).state, current_llm_identity: LLM };
    const step = accept(stopped, { type: 'RegisterSession', session_id: S1, runtime_epoch_id: 'epoch-2' });
    expect(step.transition).toBe('RegisterSessionResumesStopped');
    expect(step.to).toBe('Idle');
    expect(step.state.active_runtime_id).toBeNull();
    expect(step.state.active_fence_token).toBeNull();
    expect(step.state.active_runtime_generation).toBeNull();
    expect(step.state.active_runtime_epoch_id).toBe('epoch-2');
    expect(step.state.current_llm_identity).toEqual(LLM);
    expect(step.state.registration_phase).toBe('Queuing');
    expect(types(step.effects)).toEqual(['RuntimeNotice']);
    expect(step.effects[0]).toMatchObject({ kind: 'Recover' });
  });

  it('binds a new session from Stopped and resets LLM state', () => {
    const stopped = { ...accept(attached(), { type: 'RuntimeExecutorExited' }).state, current_llm_identity: LLM };
    const step = accept(stopped, { type: 'RegisterSession', session_id: 's-2', runtime_epoch_id: null });
    expect(step.transition).toBe('RegisterSessionNewBindingFromStopped');
    expect(step.state.session_id).toBe('s-2');
    expect(step.state.active_runtime_epoch_id).toBeNull();
    expect(step.state.active_runtime_id).toBeNull();
    expect(step.state.current_llm_identity).toBeNull();
    expect(step.effects[0]).toMatchObject({ type: 'RuntimeNotice', kind: 'Recover' });
  });

  it('has no transition in Initializing or Destroyed', () => {
    const input: LifecycleInput = { type: 'RegisterSession', session_id: S1, runtime_epoch_id: E1 };
    reject(initialMachineState(), input, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), input, 'NoMatchingTransition', null);
  });
});

describe('PrepareBindings', () => {
  it('binds from Idle to Attached and emits RuntimeBound', () => {
    const step = accept(registered(), { type: 'PrepareBindings', ...bind });
    expect(step.transition).toBe('PrepareBindingsIdle');
    expect(step.to).toBe('Attached');
    expect(step.state.active_runtime_id).toBe(RT);
    expect(step.state.active_fence_token).toBe(7);
    expect(step.state.active_runtime_generation).toBe(1);
    expect(step.effects).toEqual([{ type: 'RuntimeBound', agent_runtime_id: RT, fence_token: 7 }]);
  });

  it('is idempotent for the exact binding (no RuntimeBound)', () => {
    const s0 = attached();
    const step = accept(s0, { type: 'PrepareBindings', ...bind });
    expect(step.transition).toBe('PrepareBindingsIdempotent');
    expect(step.state).toEqual(s0);
    expect(step.effects).toEqual([]);
  });

  it('fills an absent generation on the same runtime and fence', () => {
    const s0 = { ...attached(), active_runtime_generation: null };
    const step = accept(s0, { type: 'PrepareBindings', ...bind, generation: 3 });
    expect(step.transition).toBe('PrepareBindingsAttached');
    expect(step.state.active_runtime_generation).toBe(3);
    expect(types(step.effects)).toEqual(['RuntimeBound']);
  });

  it('cannot replace a different fence token', () => {
    const r = reject(attached(), { type: 'PrepareBindings', ...bind, fence_token: 8 }, 'GuardRejected', 'fence_binding_exact');
    expect(r.failures).toEqual([
      { arm: 'PrepareBindingsIdempotent', guard: 'fence_binding_exact' },
      { arm: 'PrepareBindingsAttached', guard: 'fence_binding_absent_or_same' },
    ]);
  });

  it('cannot replace a different runtime id', () => {
    const r = reject(attached(), { type: 'PrepareBindings', ...bind, agent_runtime_id: 'rt-2' }, 'GuardRejected', 'runtime_binding_exact');
    expect(r.failures[1]).toEqual({ arm: 'PrepareBindingsAttached', guard: 'runtime_binding_absent_or_same' });
  });

  it('requires the registered epoch, a typed identity and the current session', () => {
    const r1 = reject(registered(), { type: 'PrepareBindings', ...bind, runtime_epoch_id: 'epoch-2' }, 'GuardRejected', 'runtime_binding_exact');
    expect(r1.failures[1]).toEqual({ arm: 'PrepareBindingsIdle', guard: 'epoch_binding_matches_registration' });
    const noEpoch = { ...registered(), active_runtime_epoch_id: null };
    const r2 = reject(noEpoch, { type: 'PrepareBindings', ...bind, generation: null, runtime_epoch_id: null }, 'GuardRejected', 'runtime_binding_exact');
    expect(r2.failures[1]).toEqual({ arm: 'PrepareBindingsIdle', guard: 'typed_binding_identity_present' });
    reject(registered(), { type: 'PrepareBindings', ...bind, session_id: 's-2' }, 'GuardRejected', 'session_matches_current');
  });

  it('is refused while Draining, in Stopped and in Destroyed', () => {
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    reject(draining, { type: 'PrepareBindings', ...bind }, 'GuardRejected', 'not_draining');
    reject(inPhase('Stopped'), { type: 'PrepareBindings', ...bind }, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), { type: 'PrepareBindings', ...bind }, 'NoMatchingTransition', null);
  });

  it('binds in Initializing, Running and Retired without changing phase', () => {
    const unbound = { ...registered(), active_runtime_id: null, active_fence_token: null };
    for (const phase of ['Initializing', 'Retired'] as const) {
      const step = accept({ ...unbound, lifecycle_phase: phase }, { type: 'PrepareBindings', ...bind });
      expect(step.transition).toBe(`PrepareBindings${phase}`);
      expect(step.to).toBe(phase);
      expect(step.effects).toEqual([{ type: 'RuntimeBound', agent_runtime_id: RT, fence_token: 7 }]);
    }
    const run = { ...unbound, lifecycle_phase: 'Running' as const, current_run_id: 'run-1', pre_run_phase: 'Idle' as const };
    expect(accept(run, { type: 'PrepareBindings', ...bind }).transition).toBe('PrepareBindingsRunning');
  });
});

describe('EnsureSessionWithExecutor', () => {
  const input: LifecycleInput = { type: 'EnsureSessionWithExecutor', session_id: 'unchecked' };

  it('claims the executor registration from Idle (→ Attached) without checking the session id', () => {
    const step = accept(registered(), input);
    expect(step.transition).toBe('EnsureSessionWithExecutorIdle');
    expect(step.to).toBe('Attached');
    expect(step.state.registration_phase).toBe('Active');
  });

  it('clears a deferred stop in Attached and claims in Running; Retired is a no-op', () => {
    const a = accept({ ...attached(), runtime_stop_deferred: true }, input);
    expect(a.state.runtime_stop_deferred).toBe(false);
    expect(a.state.registration_phase).toBe('Active');
    expect(accept(running(), input).state.registration_phase).toBe('Active');
    const retired = inPhase('Retired');
    expect(accept(retired, input).state).toEqual(retired);
  });

  it('re-admits a Stopped runtime (placement cleared, epoch kept)', () => {
    const stopped = accept(attached(), { type: 'RuntimeExecutorExited' }).state;
    const step = accept(stopped, input);
    expect(step.transition).toBe('EnsureSessionWithExecutorStopped');
    expect(step.to).toBe('Attached');
    expect(step.state.active_runtime_id).toBeNull();
    expect(step.state.active_runtime_epoch_id).toBe(E1);
    expect(step.state.registration_phase).toBe('Active');
    expect(step.effects[0]).toMatchObject({ type: 'RuntimeNotice', kind: 'Recover' });
  });

  it('needs a registered epoch in Stopped, is refused while Draining and in Initializing', () => {
    const stopped = { ...inPhase('Stopped'), active_runtime_id: null, active_fence_token: null, active_runtime_generation: null, active_runtime_epoch_id: null };
    reject(stopped, input, 'GuardRejected', 'readmission_requires_registered_epoch');
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    reject(draining, input, 'GuardRejected', 'not_draining');
    reject(initialMachineState(), input, 'NoMatchingTransition', null);
  });
});

describe('SetSilentIntents', () => {
  it('replaces the overrides, preserving the caller order', () => {
    const s0 = { ...registered(), silent_intent_overrides: ['old'] };
    const step = accept(s0, { type: 'SetSilentIntents', session_id: S1, intents: ['zeta', 'alpha'] });
    expect(step.state.silent_intent_overrides).toEqual(['zeta', 'alpha']);
  });
  it('requires a registered session and is not declared in Stopped', () => {
    const unregistered = accept(initialMachineState(), { type: 'Initialize' }).state;
    reject(unregistered, { type: 'SetSilentIntents', session_id: S1, intents: [] }, 'GuardRejected', 'session_registered');
    reject(inPhase('Stopped'), { type: 'SetSilentIntents', session_id: S1, intents: [] }, 'NoMatchingTransition', null);
  });
});

describe('Retire', () => {
  const input: LifecycleInput = { type: 'Retire', session_id: 'unchecked' };
  const retiredSignal = { type: 'RuntimeRetired', agent_runtime_id: RT, fence_token: 7 };

  it('retires a bound runtime from Idle/Attached/Stopped and emits RuntimeRetired', () => {
    for (const phase of ['Idle', 'Attached', 'Stopped'] as const) {
      const step = accept(inPhase(phase), input);
      expect(step.transition).toBe('RetireRequestedFromIdle');
      expect(step.to).toBe('Retired');
      expect(step.effects).toEqual([retiredSignal]);
    }
  });

  it('retires an unbound runtime silently (fence cleared by Reset counts as unbound)', () => {
    const afterReset = accept(attached(), { type: 'Reset' }).state;
    expect(afterReset.active_runtime_id).toBe(RT);
    const step = accept(afterReset, input);
    expect(step.transition).toBe('RetireRequestedFromIdleUnbound');
    expect(step.effects).toEqual([]);
  });

  it('marks a running run as retiring and shows Retired', () => {
    const step = accept(running({ runtime_stop_deferred: true }), input);
    expect(step.transition).toBe('RetireRequestedWhileRunBound');
    expect(step.to).toBe('Running');
    expect(step.state.pre_run_phase).toBe('Retired');
    expect(step.state.runtime_stop_deferred).toBe(false);
    expect(visibleRuntimePhase(step.state)).toBe('Retired');
    expect(step.effects).toEqual([retiredSignal]);
    const unbound = accept(running({ active_fence_token: null }), input);
    expect(unbound.transition).toBe('RetireRequestedWhileRunUnbound');
    expect(unbound.effects).toEqual([]);
  });

  it('re-emits RuntimeRetired when already retired and bound', () => {
    const retired = accept(attached(), input).state;
    const step = accept(retired, input);
    expect(step.transition).toBe('RetireAlreadyRetired');
    expect(step.effects).toEqual([retiredSignal]);
    const unbound = accept({ ...retired, active_fence_token: null }, input);
    expect(unbound.transition).toBe('RetireAlreadyRetiredUnbound');
    expect(unbound.effects).toEqual([]);
  });

  it('needs a current run in Running and has no Initializing/Destroyed arm', () => {
    const broken = { ...attached(), lifecycle_phase: 'Running' as const };
    const r = reject(broken, input, 'GuardRejected', 'current_run_present');
    expect(r.failures).toEqual([
      { arm: 'RetireRequestedWhileRunBound', guard: 'current_run_present' },
      { arm: 'RetireRequestedWhileRunUnbound', guard: 'current_run_present' },
    ]);
    reject(initialMachineState(), input, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), input, 'NoMatchingTransition', null);
  });
});

describe('Reset', () => {
  it('un-retires: Retired → Idle, clearing only the fence token of the placement', () => {
    const retired = { ...accept(attached(), { type: 'Retire', session_id: S1 }).state, silent_intent_overrides: ['x'] };
    const step = accept(retired, { type: 'Reset' });
    expect(step.to).toBe('Idle');
    expect(step.state.active_fence_token).toBeNull();
    expect(step.state.active_runtime_id).toBe(RT);
    expect(step.state.active_runtime_generation).toBe(1);
    expect(step.state.silent_intent_overrides).toEqual([]);
    expect(step.effects).toEqual([{ type: 'RuntimeNotice', kind: 'Reset', detail: 'runtime reset' }]);
  });
  it('is refused in Running and Stopped', () => {
    reject(running(), { type: 'Reset' }, 'NoMatchingTransition', null);
    reject(inPhase('Stopped'), { type: 'Reset' }, 'NoMatchingTransition', null);
  });
});

describe('StopRuntimeExecutor', () => {
  const input: LifecycleInput = { type: 'StopRuntimeExecutor', reason: 'operator stop' };
  const effects = [
    { type: 'RuntimeNotice', kind: 'Stop', detail: 'operator stop' },
    { type: 'RuntimeEffectFact', kind: 'StopRuntimeExecutor', reason: 'operator stop' },
  ];

  it('defers the stop while attached or running a run', () => {
    const a = accept({ ...attached(), silent_intent_overrides: ['x'] }, input);
    expect(a.transition).toBe('StopRuntimeExecutorAttached');
    expect(a.state.runtime_stop_deferred).toBe(true);
    expect(a.state.silent_intent_overrides).toEqual([]);
    expect(a.effects).toEqual(effects);
    const r = accept(running(), input);
    expect(r.state.runtime_stop_deferred).toBe(true);
    expect(r.state.current_run_id).toBe('run-1');
  });

  it('clears any run binding in Initializing/Idle/Retired', () => {
    const step = accept(inPhase('Retired', { current_run_id: 'run-9', pre_run_phase: 'Idle' }), input);
    expect(step.transition).toBe('StopRuntimeExecutorRetired');
    expect(step.state.current_run_id).toBeNull();
    expect(step.state.pre_run_phase).toBeNull();
    expect(step.effects).toEqual(effects);
    expect(accept(initialMachineState(), input).transition).toBe('StopRuntimeExecutorInitializing');
  });

  it('is refused in Stopped and Destroyed', () => {
    reject(inPhase('Stopped'), input, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), input, 'NoMatchingTransition', null);
  });
});

describe('RuntimeExecutorExited', () => {
  const input: LifecycleInput = { type: 'RuntimeExecutorExited' };
  const exit = { type: 'RuntimeNotice', kind: 'Exit', detail: 'runtime executor exited' };

  it('stops an attached or running runtime and releases the executor claim', () => {
    const claimed = accept(attached(), { type: 'EnsureSessionWithExecutor', session_id: S1 }).state;
    const a = accept({ ...claimed, runtime_stop_deferred: true, silent_intent_overrides: ['x'] }, input);
    expect(a.transition).toBe('RuntimeExecutorExitedFromAttached');
    expect(a.to).toBe('Stopped');
    expect(a.state.registration_phase).toBe('Queuing');
    expect(a.state.runtime_stop_deferred).toBe(false);
    expect(a.state.silent_intent_overrides).toEqual([]);
    expect(a.effects).toEqual([exit]);
    const r = accept(running(), input);
    expect(r.to).toBe('Stopped');
    expect(r.state.current_run_id).toBeNull();
    expect(r.state.pre_run_phase).toBeNull();
  });

  it('stops an Idle runtime, keeps Retired, and self-loops in Stopped without a notice', () => {
    expect(accept(registered(), input).to).toBe('Stopped');
    const retired = accept(inPhase('Retired', { registration_phase: 'Active' }), input);
    expect(retired.to).toBe('Retired');
    expect(retired.state.registration_phase).toBe('Queuing');
    const stopped = accept(inPhase('Stopped', { registration_phase: 'Active' }), input);
    expect(stopped.transition).toBe('RuntimeExecutorExitedFromStopped');
    expect(stopped.state.registration_phase).toBe('Queuing');
    expect(stopped.effects).toEqual([]);
  });

  it('never leaves Draining', () => {
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    const step = accept(draining, input);
    expect(step.to).toBe('Stopped');
    expect(step.state.registration_phase).toBe('Draining');
  });

  it('is refused in Initializing and Destroyed', () => {
    reject(initialMachineState(), input, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), input, 'NoMatchingTransition', null);
  });
});

describe('Destroy', () => {
  const input: LifecycleInput = { type: 'Destroy', session_id: 'unchecked' };

  it('emits RuntimeDestroyed with the binding', () => {
    const step = accept(running(), input);
    expect(step.transition).toBe('Destroy');
    expect(step.to).toBe('Destroyed');
    expect(step.state.current_run_id).toBeNull();
    expect(step.effects).toEqual([{ type: 'RuntimeDestroyed', agent_runtime_id: RT, fence_token: 7 }]);
  });

  it('emits default identifiers for an unbound runtime (R5)', () => {
    const step = accept(registered(), input);
    expect(step.effects).toEqual([{ type: 'RuntimeDestroyed', agent_runtime_id: '', fence_token: 0 }]);
  });

  it('supersedes an unregister drain', () => {
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    const step = accept(draining, input);
    expect(step.state.registration_phase).toBe('Queuing');
    expect(step.state.unregister_runtime_loop_drain_pending).toBe(false);
    expect(step.state.unregister_comms_drain_exit_pending).toBe(false);
    expect(step.state.unregister_completion_waiter_drain_pending).toBe(false);
    expect(step.state.unregister_teardown_retains_snapshot).toBe(false);
  });

  it('needs a bound runtime in Initializing', () => {
    reject(initialMachineState(), input, 'GuardRejected', 'runtime_is_bound');
    const bound = { ...initialMachineState(), active_runtime_id: RT, active_runtime_generation: 1 };
    const step = accept(bound, input);
    expect(step.transition).toBe('DestroyInitializing');
    expect(step.effects).toEqual([{ type: 'RuntimeDestroyed', agent_runtime_id: RT, fence_token: 0 }]);
  });

  it('has no transition from Destroyed', () => {
    const destroyed = accept(attached(), input).state;
    reject(destroyed, input, 'NoMatchingTransition', null);
  });
});

describe('Recover', () => {
  it('emits a Recover notice in every declared phase', () => {
    for (const phase of ['Initializing', 'Idle', 'Attached', 'Retired', 'Stopped'] as const) {
      const s0 = phase === 'Initializing' ? initialMachineState() : inPhase(phase);
      const step = accept(s0, { type: 'Recover' });
      expect(step.transition).toBe(`Recover${phase}`);
      expect(step.state).toEqual(s0);
      expect(step.effects).toEqual([{ type: 'RuntimeNotice', kind: 'Recover', detail: 'runtime recovered' }]);
    }
  });
  it('is refused in Running and Destroyed', () => {
    reject(running(), { type: 'Recover' }, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), { type: 'Recover' }, 'NoMatchingTransition', null);
  });
});

describe('Recycle', () => {
  it('drops the placement and keeps Attached', () => {
    const step = accept(attached(), { type: 'Recycle' });
    expect(step.transition).toBe('RecycleFromAttached');
    expect(step.to).toBe('Attached');
    expect(step.state.active_runtime_id).toBeNull();
    expect(step.state.active_fence_token).toBeNull();
    expect(step.state.active_runtime_generation).toBeNull();
    expect(step.state.active_runtime_epoch_id).toBe(E1);
    expect(step.effects).toEqual([{ type: 'InitiateRecycle' }]);
  });

  it('un-retires Retired → Idle; a legacy run id is cleared but its pre-run phase is kept (§10)', () => {
    const legacy = inPhase('Retired', { current_run_id: 'run-1', pre_run_phase: 'Retired' });
    const step = accept(legacy, { type: 'Recycle' }, { invariants: false });
    expect(step.transition).toBe('RecycleFromIdleOrRetired');
    expect(step.to).toBe('Idle');
    expect(step.state.current_run_id).toBeNull();
    expect(step.state.pre_run_phase).toBe('Retired');
  });

  it('needs a registered session with an epoch; refused in Running', () => {
    const unregistered = accept(initialMachineState(), { type: 'Initialize' }).state;
    reject(unregistered, { type: 'Recycle' }, 'GuardRejected', 'session_registered');
    reject({ ...registered(), active_runtime_epoch_id: null }, { type: 'Recycle' }, 'GuardRejected', 'recycle_requires_registered_epoch');
    reject(running(), { type: 'Recycle' }, 'NoMatchingTransition', null);
  });
});

// ---------------------------------------------------------------------------------------------
// §2.3 two-phase unregister

describe('two-phase unregister', () => {
  const requests = [
    { type: 'RequestRuntimeLoopStopForUnregister', session_id: S1 },
    { type: 'RequestCommsDrainExitForUnregister', session_id: S1 },
    { type: 'RequestCompletionWaiterResolutionForUnregister', session_id: S1 },
  ];

  it('runs the full saga from Attached and discards nothing but the session facts', () => {
    const s0 = { ...attached(), drain_phase: 'Running' as const, drain_mode: 'AttachedSession' as const, current_llm_identity: LLM };
    const begin = accept(s0, { type: 'BeginUnregisterSession', ...facts });
    expect(begin.transition).toBe('BeginUnregisterSession');
    expect(begin.effects).toEqual(requests);
    expect(begin.state.registration_phase).toBe('Draining');
    expect(begin.state.unregister_teardown_retains_snapshot).toBe(false);

    const loop = accept(begin.state, { type: 'RuntimeLoopStoppedForUnregister', session_id: S1, forced_abort: false });
    expect(loop.state.unregister_runtime_loop_drain_pending).toBe(false);
    expect(loop.state.unregister_runtime_loop_forced_abort).toBe(false);

    const comms = accept(loop.state, { type: 'CommsDrainExitedForUnregister', session_id: S1, forced_abort: true });
    expect(comms.state.unregister_comms_drain_exit_pending).toBe(false);
    expect(comms.state.unregister_comms_drain_forced_abort).toBe(true);
    expect(comms.state.drain_phase).toBe('Stopped');

    const early = reject(comms.state, { type: 'UnregisterSession', ...facts }, 'GuardRejected', 'unregister_obligations_closed');
    expect(early.failures).toEqual([{ arm: 'UnregisterSessionAttached', guard: 'unregister_obligations_closed' }]);

    const waiters = accept(comms.state, { type: 'CompletionWaitersResolvedForUnregister', session_id: S1 });
    expect(waiters.state.unregister_completion_waiter_drain_pending).toBe(false);

    const durability = accept(waiters.state, { type: 'ResolveRuntimeOpsLifecycleDurability', ...facts });
    expect(durability.transition).toBe('ResolveRuntimeOpsLifecycleDurabilityAttached');
    expect(durability.effects).toEqual([
      { type: 'RuntimeOpsLifecycleDurabilityResolved', ...facts, action: 'DeleteSnapshot' },
    ]);

    const done = accept(durability.state, { type: 'UnregisterSession', ...facts });
    expect(done.transition).toBe('UnregisterSessionAttached');
    expect(done.to).toBe('Idle');
    expect(done.state.session_id).toBeNull();
    expect(done.state.active_runtime_id).toBeNull();
    expect(done.state.active_fence_token).toBeNull();
    expect(done.state.active_runtime_generation).toBeNull();
    expect(done.state.active_runtime_epoch_id).toBeNull();
    expect(done.state.current_llm_identity).toBeNull();
    expect(done.state.registration_phase).toBe('Draining');
    expect(done.effects).toEqual([]);
  });

  it('retains the snapshot from Retired and stays Retired', () => {
    const retired = accept(attached(), { type: 'Retire', session_id: S1 }).state;
    const begin = accept(retired, { type: 'BeginUnregisterSession', ...facts });
    expect(begin.transition).toBe('BeginUnregisterSessionRetainsSnapshot');
    expect(begin.state.unregister_teardown_retains_snapshot).toBe(true);
    const closed = runAll(begin.state, [
      { type: 'RuntimeLoopStoppedForUnregister', session_id: S1, forced_abort: true },
      { type: 'CommsDrainExitedForUnregister', session_id: S1, forced_abort: false },
      { type: 'CompletionWaitersResolvedForUnregister', session_id: S1 },
    ]);
    expect(closed.drain_phase).toBe('Inactive');
    const d = accept(closed, { type: 'ResolveRuntimeOpsLifecycleDurability', ...facts });
    expect(d.effects[0]).toMatchObject({ action: 'RetainSnapshot' });
    const done = accept(closed, { type: 'UnregisterSession', ...facts });
    expect(done.to).toBe('Retired');
  });

  it('lands Running and Stopped in Idle', () => {
    for (const s0 of [running(), inPhase('Stopped')]) {
      const closed = runAll(s0, [
        { type: 'BeginUnregisterSession', ...facts },
        { type: 'RuntimeLoopStoppedForUnregister', session_id: S1, forced_abort: false },
        { type: 'CommsDrainExitedForUnregister', session_id: S1, forced_abort: false },
        { type: 'CompletionWaitersResolvedForUnregister', session_id: S1 },
      ]);
      const done = accept(closed, { type: 'UnregisterSession', ...facts });
      expect(done.to).toBe('Idle');
      expect(done.state.current_run_id).toBeNull();
      expect(done.state.pre_run_phase).toBeNull();
    }
  });

  it('BeginUnregisterSession checks every observed binding fact and refuses a second window', () => {
    reject(attached(), { type: 'BeginUnregisterSession', ...facts, session_id: 's-2' }, 'GuardRejected', 'session_matches_current');
    reject(attached(), { type: 'BeginUnregisterSession', ...facts, agent_runtime_id: null }, 'GuardRejected', 'runtime_binding_exact');
    reject(attached(), { type: 'BeginUnregisterSession', ...facts, fence_token: 8 }, 'GuardRejected', 'fence_binding_exact');
    reject(attached(), { type: 'BeginUnregisterSession', ...facts, generation: null }, 'GuardRejected', 'generation_binding_exact');
    reject(attached(), { type: 'BeginUnregisterSession', ...facts, runtime_epoch_id: null }, 'GuardRejected', 'epoch_binding_exact');
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    reject(draining, { type: 'BeginUnregisterSession', ...facts }, 'GuardRejected', 'not_already_draining');
    reject(inPhase('Destroyed'), { type: 'BeginUnregisterSession', ...facts }, 'NoMatchingTransition', null);
  });

  it('BeginUnregisterUnservedAttachment needs an active executor claim', () => {
    reject(attached(), { type: 'BeginUnregisterUnservedAttachment', ...facts }, 'GuardRejected', 'executor_registration_active');
    const claimed = accept(attached(), { type: 'EnsureSessionWithExecutor', session_id: S1 }).state;
    const step = accept(claimed, { type: 'BeginUnregisterUnservedAttachment', ...facts });
    expect(step.state.registration_phase).toBe('Draining');
    expect(step.state.unregister_teardown_retains_snapshot).toBe(true);
    expect(step.effects).toEqual(requests);
    reject(inPhase('Retired'), { type: 'BeginUnregisterUnservedAttachment', ...facts }, 'NoMatchingTransition', null);
  });

  it('feedback inputs need the matching session, an open window and an open obligation', () => {
    const loop: LifecycleInput = { type: 'RuntimeLoopStoppedForUnregister', session_id: S1, forced_abort: false };
    const comms: LifecycleInput = { type: 'CommsDrainExitedForUnregister', session_id: S1, forced_abort: false };
    const waiters: LifecycleInput = { type: 'CompletionWaitersResolvedForUnregister', session_id: S1 };
    for (const i of [loop, comms, waiters]) reject(attached(), i, 'GuardRejected', 'unregister_draining');
    const draining = accept(attached(), { type: 'BeginUnregisterSession', ...facts }).state;
    reject(draining, { ...loop, session_id: 's-2' }, 'GuardRejected', 'session_matches_current');
    const closed = runAll(draining, [loop, comms, waiters]);
    reject(closed, loop, 'GuardRejected', 'runtime_loop_drain_pending');
    reject(closed, comms, 'GuardRejected', 'comms_drain_exit_pending');
    reject(closed, waiters, 'GuardRejected', 'completion_waiter_drain_pending');
    reject(initialMachineState(), loop, 'NoMatchingTransition', null);
  });

  it('UnregisterSession needs the Draining window; durability resolution needs matching facts', () => {
    reject(attached(), { type: 'UnregisterSession', ...facts }, 'GuardRejected', 'unregister_draining');
    reject(attached(), { type: 'ResolveRuntimeOpsLifecycleDurability', ...facts, fence_token: 1 }, 'GuardRejected', 'fence_binding_exact');
    reject(inPhase('Destroyed'), { type: 'UnregisterSession', ...facts }, 'NoMatchingTransition', null);
    reject(inPhase('Destroyed'), { type: 'ResolveRuntimeOpsLifecycleDurability', ...facts }, 'NoMatchingTransition', null);
  });
});

// ---------------------------------------------------------------------------------------------
// §2.4

describe('Ingest', () => {
  const input: LifecycleInput = {
    type: 'Ingest',
    session_id: S1,
    runtime_id: RT,
    fence_token: 7,
    generation: 1,
    runtime_epoch_id: E1,
    work_id: 'w-42',
    origin: 'External',
  };
  it('emits ResolveAdmission for the exact placement', () => {
    const step = accept(attached(), input);
    expect(step.effects).toEqual([
      { type: 'ResolveAdmission', session_id: S1, runtime_id: RT, work_id: 'w-42', origin: 'External' },
    ]);
  });
  it('refuses a stale placement and non-ingress phases', () => {
    reject(attached(), { ...input, fence_token: 6 }, 'GuardRejected', 'fence_binding_exact');
    reject(attached(), { ...input, runtime_id: 'rt-2' }, 'GuardRejected', 'runtime_binding_exact');
    reject(inPhase('Retired'), input, 'NoMatchingTransition', null);
  });
});

describe('PublishEvent', () => {
  it('emits IngressNotice for a registered session, also in Stopped', () => {
    expect(accept(inPhase('Stopped'), { type: 'PublishEvent', kind: 'RunStarted' }).effects).toEqual([
      { type: 'IngressNotice', kind: 'RunStarted' },
    ]);
  });
  it('requires a registered session and is refused in Initializing', () => {
    const unregistered = accept(initialMachineState(), { type: 'Initialize' }).state;
    reject(unregistered, { type: 'PublishEvent', kind: 'x' }, 'GuardRejected', 'session_registered');
    reject(initialMachineState(), { type: 'PublishEvent', kind: 'x' }, 'NoMatchingTransition', null);
  });
});

describe('InterruptCurrentRun / InterruptCurrentRunForRun', () => {
  const wake = [{ type: 'WakeInterrupt' }, { type: 'RequestCancellationAtBoundary' }];

  it('wakes and requests a boundary cancel without latching', () => {
    const a = accept(attached(), { type: 'InterruptCurrentRun' });
    expect(a.transition).toBe('InterruptCurrentRunAttached');
    expect(a.effects).toEqual(wake);
    const r = accept(running(), { type: 'InterruptCurrentRun' });
    expect(r.transition).toBe('InterruptCurrentRun');
    expect(r.state.boundary_cancel_dispatch_pending).toBe(false);
  });
  it('does not interrupt a retiring run and has no Idle arm', () => {
    reject(running({ pre_run_phase: 'Retired' }), { type: 'InterruptCurrentRun' }, 'GuardRejected', 'not_retiring');
    reject(registered(), { type: 'InterruptCurrentRun' }, 'NoMatchingTransition', null);
  });
  it('interrupts a named run in Running or Retired', () => {
    expect(accept(running(), { type: 'InterruptCurrentRunForRun', run_id: 'run-1' }).effects).toEqual(wake);
    const retired = inPhase('Retired', { current_run_id: 'run-1', pre_run_phase: 'Retired' });
    expect(accept(retired, { type: 'InterruptCurrentRunForRun', run_id: 'run-1' }).transition).toBe(
      'InterruptCurrentRunForRunRetired',
    );
    reject(running(), { type: 'InterruptCurrentRunForRun', run_id: 'run-2' }, 'GuardRejected', 'run_matches_current');
    reject(attached(), { type: 'InterruptCurrentRunForRun', run_id: 'run-1' }, 'NoMatchingTransition', null);
  });
});

describe('cancel-after-boundary dispatch (§4.6)', () => {
  const cab: LifecycleInput = { type: 'CancelAfterBoundary', reason: 'boundary cancel' };
  const dispatched = [
    { type: 'RequestCancellationAtBoundary' },
    { type: 'RuntimeEffectFact', kind: 'CancelAfterBoundary', reason: 'boundary cancel' },
  ];

  it('latches one dispatch per window and answers repeats with BoundaryCancelAlreadyPending', () => {
    const first = accept(attached(), cab);
    expect(first.transition).toBe('CancelAfterBoundaryAttached');
    expect(first.state.boundary_cancel_dispatch_pending).toBe(true);
    expect(first.state.boundary_cancel_dispatch_generation).toBe(1);
    expect(first.effects).toEqual(dispatched);
    const again = accept(first.state, cab);
    expect(again.transition).toBe('CancelAfterBoundaryAttachedAlreadyPending');
    expect(again.state).toEqual(first.state);
    expect(again.effects).toEqual([{ type: 'BoundaryCancelAlreadyPending' }]);

    const r1 = accept(running(), cab);
    expect(r1.transition).toBe('CancelAfterBoundary');
    expect(accept(r1.state, cab).transition).toBe('CancelAfterBoundaryAlreadyPending');
  });

  it('is refused for a retiring run and outside Attached/Running', () => {
    reject(running({ pre_run_phase: 'Retired' }), cab, 'GuardRejected', 'not_retiring');
    reject(registered(), cab, 'NoMatchingTransition', null);
  });

  it('CancelAfterBoundaryForRun targets the exact run in Running or Retired', () => {
    const input: LifecycleInput = { type: 'CancelAfterBoundaryForRun', run_id: 'run-1', reason: 'boundary cancel' };
    const r = accept(running({ pre_run_phase: 'Retired' }), input);
    expect(r.transition).toBe('CancelAfterBoundaryForRunRunning');
    expect(r.effects).toEqual(dispatched);
    expect(accept(r.state, input).transition).toBe('CancelAfterBoundaryForRunRunningAlreadyPending');
    const retired = inPhase('Retired', { current_run_id: 'run-1', pre_run_phase: 'Retired' });
    const t = accept(retired, input, { invariants: true });
    expect(t.transition).toBe('CancelAfterBoundaryForRunRetired');
    expect(accept(t.state, input).transition).toBe('CancelAfterBoundaryForRunRetiredAlreadyPending');
    reject(running(), { ...input, run_id: 'run-2' }, 'GuardRejected', 'run_matches_current');
    reject(attached(), input, 'NoMatchingTransition', null);
  });

  it('AbortCancelAfterBoundaryDispatch clears only the matching generation, in any phase', () => {
    const latched = accept(attached(), cab).state;
    reject(latched, { type: 'AbortCancelAfterBoundaryDispatch', generation: 0 }, 'GuardRejected', 'dispatch_generation_matches');
    const cleared = accept(latched, { type: 'AbortCancelAfterBoundaryDispatch', generation: 1 });
    expect(cleared.state.boundary_cancel_dispatch_pending).toBe(false);
    expect(cleared.state.boundary_cancel_dispatch_generation).toBe(1);
    reject(cleared.state, { type: 'AbortCancelAfterBoundaryDispatch', generation: 1 }, 'GuardRejected', 'dispatch_outstanding');
    const destroyed = accept(latched, { type: 'Destroy', session_id: S1 }).state;
    expect(accept(destroyed, { type: 'AbortCancelAfterBoundaryDispatch', generation: 1 }).to).toBe('Destroyed');
  });
});

describe('ResolveUserInterruptPublicResult', () => {
  const cases = [
    ['Accepted', false, true, 'Accepted', 'Interrupted'],
    ['IdleNoop', true, false, 'Noop', 'Interrupted'],
    ['AttachedNoop', false, false, 'Noop', 'Interrupted'],
    ['StagedNoop', true, false, 'StagedNoop', 'StagedNoop'],
    ['Destroyed', true, false, 'DestroyedPresent', 'Interrupted'],
    ['Destroyed', false, false, 'DestroyedMissing', 'NotFound'],
    ['StagedNoop', true, true, 'PromotingConflict', 'SessionBusy'],
    ['NotInterruptible', true, false, 'NotInterruptibleConflict', 'Conflict'],
  ] as const;

  it.each(cases)('%s (present %s, busy %s) → %s', (observation, present, busy, arm, result) => {
    const step = accept(registered(), {
      type: 'ResolveUserInterruptPublicResult',
      observation,
      target_present: present,
      promotion_busy: busy,
    });
    expect(step.transition).toBe(`ResolveUserInterruptPublicResult${arm}`);
    expect(step.effects).toEqual([{ type: 'UserInterruptPublicResultResolved', result }]);
  });

  it('accepts only the Accepted observation in Destroyed', () => {
    const destroyed = inPhase('Destroyed');
    const ok = accept(destroyed, {
      type: 'ResolveUserInterruptPublicResult',
      observation: 'Accepted',
      target_present: true,
      promotion_busy: false,
    });
    expect(ok.effects).toEqual([{ type: 'UserInterruptPublicResultResolved', result: 'Interrupted' }]);
    reject(
      destroyed,
      { type: 'ResolveUserInterruptPublicResult', observation: 'IdleNoop', target_present: true, promotion_busy: false },
      'GuardRejected',
      'observation_accepted',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// §10 edge behaviours and canonical sequences

describe('§10 edge behaviours', () => {
  it('Retire, Destroy and EnsureSessionWithExecutor ignore their session_id argument', () => {
    expect(accept(attached(), { type: 'Retire', session_id: 'nope' }).to).toBe('Retired');
    expect(accept(attached(), { type: 'Destroy', session_id: 'nope' }).to).toBe('Destroyed');
    expect(accept(registered(), { type: 'EnsureSessionWithExecutor', session_id: 'nope' }).to).toBe('Attached');
  });

  it('a new placement after Reset needs the runtime id cleared first (Reset clears only the fence)', () => {
    const reset = accept(attached(), { type: 'Reset' }).state;
    reject(reset, { type: 'PrepareBindings', ...bind, agent_runtime_id: 'rt-2' }, 'GuardRejected', 'runtime_binding_exact');
    const rebound = accept(reset, { type: 'PrepareBindings', ...bind, fence_token: 9 });
    expect(rebound.transition).toBe('PrepareBindingsIdle');
    expect(rebound.effects).toEqual([{ type: 'RuntimeBound', agent_runtime_id: RT, fence_token: 9 }]);
    const recycled = accept(attached(), { type: 'Recycle' }).state;
    expect(accept(recycled, { type: 'PrepareBindings', ...bind, agent_runtime_id: 'rt-2' }).effects).toEqual([
      { type: 'RuntimeBound', agent_runtime_id: 'rt-2', fence_token: 7 },
    ]);
  });

  it('RegisterSession with a new session refuses to drop the only typed identity of a bound runtime (divergence, §9.1)', () => {
    const untyped = accept(registered(), { type: 'PrepareBindings', ...bind, generation: null }).state;
    reject(untyped, { type: 'RegisterSession', session_id: 's-2', runtime_epoch_id: null }, 'GuardRejected', 'binding_identity_stays_typed');
    const step = reduce(untyped, { type: 'RegisterSession', session_id: 's-2', runtime_epoch_id: null });
    expect(step.ok).toBe(false);
    if (!step.ok) expect(step.failures.map((f) => f.guard)).toContain('binding_identity_stays_typed');
    const typed = accept(untyped, { type: 'RegisterSession', session_id: 's-2', runtime_epoch_id: 'epoch-9' });
    expect(typed.state.active_runtime_id).toBe(RT);
    expect(checkInvariants(typed.state)).toEqual([]);
  });

  it('canonical stop → resume sequence (§2.7 6–7)', () => {
    const s = runAll(attached(), [
      { type: 'EnsureSessionWithExecutor', session_id: S1 },
      { type: 'StopRuntimeExecutor', reason: 'bye' },
      { type: 'RuntimeExecutorExited' },
    ]);
    expect(s.lifecycle_phase).toBe('Stopped');
    reject(s, { type: 'PrepareBindings', ...bind }, 'NoMatchingTransition', null);
    const resumed = runAll(s, [
      { type: 'RegisterSession', session_id: S1, runtime_epoch_id: E1 },
      { type: 'PrepareBindings', ...bind, fence_token: 8 },
    ]);
    expect(resumed.lifecycle_phase).toBe('Attached');
    expect(resumed.active_fence_token).toBe(8);
  });
});

// ---------------------------------------------------------------------------------------------
// properties

describe('lifecycle properties', () => {
  const start = fc.constantFrom<MachineState>(initialMachineState(), registered(), attached(), running());

  it('rejections are pure and routed effects carry exactly {type, agent_runtime_id, fence_token}', () => {
    fc.assert(
      fc.property(start, fc.array(lifecycleInputArb, { minLength: 10, maxLength: 60 }), (s0, inputs) => {
        let s = s0;
        for (const input of inputs) {
          const before = structuredClone(s);
          const step = reduce(s, input);
          if (!step.ok) {
            expect(s).toEqual(before);
            continue;
          }
          for (const e of step.effects) {
            if (e.type === 'RuntimeBound' || e.type === 'RuntimeRetired' || e.type === 'RuntimeDestroyed') {
              expect(Object.keys(e).sort()).toEqual(['agent_runtime_id', 'fence_token', 'type']);
              expect(typeof e.agent_runtime_id).toBe('string');
              expect(typeof e.fence_token).toBe('number');
            }
          }
          s = step.state;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the §9 invariants on random lifecycle traces (known upstream divergences excluded)', () => {
    fc.assert(
      fc.property(start, fc.array(lifecycleInputArb, { minLength: 10, maxLength: 60 }), (s0, inputs) => {
        let s = s0;
        for (const input of inputs) {
          const step = reduce(s, input);
          if (!step.ok) continue;
          const violations = checkInvariants(step.state);
          if (violations.length > 0) return false;
          s = step.state;
          if (checkInvariants(s).length > 0) return true; // carried-over divergence: stop this trace
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});
