import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  ActivateImageOperationOverride,
  BeginImageOperation,
  RequestFiniteSwitchTurn,
  RequestUntilChangedSwitchTurn,
  RoutingInput,
} from '../../src/machine/arms/routing.js';
import { routingArms } from '../../src/machine/arms/routing.js';
import { describeRejection, reduce } from '../../src/machine/reduce.js';
import type { Rejection, Step, Transition } from '../../src/machine/reduce.js';
import { modelRoutingStatus } from '../../src/machine/routing-status.js';
import { initialMachineState } from '../../src/machine/state.js';
import type {
  MachineState,
  Phase,
  SessionLlmCapabilitySurface,
  SessionLlmIdentity,
} from '../../src/machine/state.js';
import { routingInputArb } from './arbitraries/routing.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function base(over: Partial<MachineState> = {}): MachineState {
  return { ...initialMachineState(), lifecycle_phase: 'Idle', session_id: 's-1', ...over };
}

/** Registered Idle session with baseline `model-a` configured. */
function withBaseline(over: Partial<MachineState> = {}): MachineState {
  return base({ model_routing_baseline_model: 'model-a', model_routing_baseline_realtime: false, ...over });
}

function accepted(step: Step): Transition {
  if (!step.ok) throw new Error(`expected acceptance: ${describeRejection(step)}`);
  return step;
}

function rejected(step: Step): Rejection {
  expect(step.ok).toBe(false);
  if (step.ok) throw new Error(`expected rejection, got ${step.transition}`);
  return step;
}

function run(state: MachineState, inputs: readonly RoutingInput[]): MachineState {
  return inputs.reduce((s, i) => accepted(reduce(s, i)).state, state);
}

const NOT_REQUIRED = { requires_approval: false, approval_available: true, approval_denied: false } as const;
const APPROVED = { requires_approval: true, approval_available: true, approval_denied: false } as const;
const DENIED_BY_USER = { requires_approval: true, approval_available: true, approval_denied: true } as const;
const UNAVAILABLE = { requires_approval: true, approval_available: false, approval_denied: false } as const;

function finite(over: Partial<RequestFiniteSwitchTurn> = {}): RequestFiniteSwitchTurn {
  return {
    type: 'RequestFiniteSwitchTurn',
    request_id: 'req-1',
    target_model: 'model-b',
    turns: 1,
    target_realtime_capable: false,
    realtime_detach_allowed: false,
    ...NOT_REQUIRED,
    ...over,
  };
}

function untilChanged(over: Partial<RequestUntilChangedSwitchTurn> = {}): RequestUntilChangedSwitchTurn {
  return {
    type: 'RequestUntilChangedSwitchTurn',
    request_id: 'req-1',
    target_model: 'model-b',
    target_realtime_capable: false,
    realtime_detach_allowed: false,
    ...NOT_REQUIRED,
    ...over,
  };
}

function begin(over: Partial<BeginImageOperation> = {}): BeginImageOperation {
  return {
    type: 'BeginImageOperation',
    operation_id: 'op-1',
    target_model: 'image-model',
    target_realtime_capable: false,
    realtime_detach_allowed: false,
    requires_scoped_override: true,
    ...NOT_REQUIRED,
    ...over,
  };
}

function activate(over: Partial<ActivateImageOperationOverride> = {}): ActivateImageOperationOverride {
  return {
    type: 'ActivateImageOperationOverride',
    operation_id: 'op-1',
    target_model: 'image-model',
    target_realtime_capable: false,
    ...over,
  };
}

const ADMIT: RoutingInput = { type: 'AdmitModelRoutingAssistantTurn' };

const IDENTITY: SessionLlmIdentity = {
  model: 'model-b',
  provider: 'anthropic',
  self_hosted_server_id: null,
  provider_params: null,
  auth_binding: null,
};
const SURFACE: SessionLlmCapabilitySurface = {
  supports_temperature: true,
  supports_thinking: true,
  supports_reasoning: false,
  inline_video: false,
  vision: true,
  image_input: true,
  image_tool_results: true,
  supports_web_search: false,
  image_generation: false,
  realtime: false,
  call_timeout_secs: null,
};

/** State with a realtime intent, so a non-realtime target without detach conflicts. */
const REALTIME = { realtime_intent_present: true } as const;
const TURN_OVERRIDE: Partial<MachineState> = {
  turn_override_id: 'req-0',
  turn_request_id: 'req-0',
  turn_target_model: 'model-c',
  turn_realtime: false,
  turn_remaining_turns: 2,
};
const OP_OVERRIDE: Partial<MachineState> = {
  operation_override_id: 'op-0',
  operation_target_model: 'image-model',
  operation_realtime: false,
  image_operation_phases: { 'op-0': 'ScopedOverrideActive' },
  image_operation_target_models: { 'op-0': 'image-model' },
  image_operation_realtime: { 'op-0': false },
  image_operation_requires_scoped_override: { 'op-0': true },
};
const PENDING_FINITE: Partial<MachineState> = {
  pending_switch_request_id: 'req-0',
  pending_switch_target_model: 'model-c',
  pending_switch_realtime: false,
  pending_switch_turns: 2,
  pending_switch_phase: 'PendingForBoundary',
};

// ---------------------------------------------------------------------------------------------

describe('SetModelRoutingBaseline', () => {
  const input: RoutingInput = { type: 'SetModelRoutingBaseline', baseline_model: 'model-a', realtime_capable: true };

  it.each<Phase>(['Idle', 'Attached', 'Running', 'Retired', 'Stopped'])('is accepted in %s', (phase) => {
    const step = accepted(reduce(base({ lifecycle_phase: phase }), input));
    expect(step.transition).toBe('SetModelRoutingBaseline');
    expect(step.to).toBe(phase);
    expect(step.state.model_routing_baseline_model).toBe('model-a');
    expect(step.state.model_routing_baseline_realtime).toBe(true);
    expect(step.state.model_routing_topology_epoch).toBe(1);
    expect(step.effects).toEqual([{ type: 'ModelRoutingStatusChanged', topology_epoch: 1 }]);
  });

  it('bumps the topology epoch on every call, even with the same value', () => {
    const s = run(base(), [input, input, input]);
    expect(s.model_routing_topology_epoch).toBe(3);
  });

  it.each<Phase>(['Initializing', 'Destroyed'])('has no transition in %s', (phase) => {
    const r = rejected(reduce(base({ lifecycle_phase: phase }), input));
    expect(r.kind).toBe('NoMatchingTransition');
    expect(r.guard).toBeNull();
  });

  it('requires a registered session', () => {
    const r = rejected(reduce(base({ session_id: null }), input));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('session_registered');
  });
});

// ---------------------------------------------------------------------------------------------

describe('RequestFiniteSwitchTurn decision order (commands.md §3.5.14)', () => {
  interface Row {
    readonly name: string;
    readonly state: MachineState;
    readonly input: RequestFiniteSwitchTurn;
    readonly arm: string;
    readonly denial: string | null;
  }
  const rows: readonly Row[] = [
    {
      name: 'row 1: baseline known, approval unavailable (beats realtime and scoped conflicts)',
      state: withBaseline({ ...REALTIME, ...PENDING_FINITE }),
      input: finite({ request_id: 'req-1', ...UNAVAILABLE }),
      arm: 'RequestFiniteSwitchTurnDeniedApprovalUnavailable',
      denial: 'ApprovalRequiredButUnavailable',
    },
    {
      name: 'row 2: approval denied by user (beats realtime and scoped conflicts)',
      state: withBaseline({ ...REALTIME, ...TURN_OVERRIDE }),
      input: finite({ ...DENIED_BY_USER }),
      arm: 'RequestFiniteSwitchTurnDeniedDuringApproval',
      denial: 'DeniedDuringApproval',
    },
    {
      name: 'row 2 does not need a baseline',
      state: base(),
      input: finite({ ...DENIED_BY_USER }),
      arm: 'RequestFiniteSwitchTurnDeniedDuringApproval',
      denial: 'DeniedDuringApproval',
    },
    {
      name: 'row 1 needs a baseline: without one an unavailable approval falls to row 3',
      state: base({ ...REALTIME }),
      input: finite({ ...UNAVAILABLE }),
      arm: 'RequestFiniteSwitchTurnDeniedRealtimeConflict',
      denial: 'RealtimeTransportConflict',
    },
    {
      name: 'row 3: realtime conflict (beats scoped conflict)',
      state: withBaseline({ ...REALTIME, ...OP_OVERRIDE }),
      input: finite(),
      arm: 'RequestFiniteSwitchTurnDeniedRealtimeConflict',
      denial: 'RealtimeTransportConflict',
    },
    {
      name: 'row 4: pending switch exists',
      state: withBaseline({ ...PENDING_FINITE }),
      input: finite(),
      arm: 'RequestFiniteSwitchTurnDeniedScopedOverrideConflict',
      denial: 'ScopedOverrideConflict',
    },
    {
      name: 'row 4: turn override active',
      state: withBaseline({ ...TURN_OVERRIDE }),
      input: finite(),
      arm: 'RequestFiniteSwitchTurnDeniedScopedOverrideConflict',
      denial: 'ScopedOverrideConflict',
    },
    {
      name: 'row 4: operation override active',
      state: withBaseline({ ...OP_OVERRIDE }),
      input: finite(),
      arm: 'RequestFiniteSwitchTurnDeniedScopedOverrideConflict',
      denial: 'ScopedOverrideConflict',
    },
    {
      name: 'row 4 does not need a baseline',
      state: base({ ...PENDING_FINITE }),
      input: finite(),
      arm: 'RequestFiniteSwitchTurnDeniedScopedOverrideConflict',
      denial: 'ScopedOverrideConflict',
    },
    {
      name: 'row 5: accepted without approval',
      state: withBaseline(),
      input: finite({ turns: 3 }),
      arm: 'RequestFiniteSwitchTurnAccepted',
      denial: null,
    },
    {
      name: 'row 5: accepted with approval',
      state: withBaseline(),
      input: finite({ ...APPROVED }),
      arm: 'RequestFiniteSwitchTurnApproved',
      denial: null,
    },
    {
      name: 'row 5: realtime intent but target realtime capable',
      state: withBaseline({ ...REALTIME }),
      input: finite({ target_realtime_capable: true }),
      arm: 'RequestFiniteSwitchTurnAccepted',
      denial: null,
    },
    {
      name: 'row 5: realtime intent but detach allowed',
      state: withBaseline({ ...REALTIME }),
      input: finite({ realtime_detach_allowed: true }),
      arm: 'RequestFiniteSwitchTurnAccepted',
      denial: null,
    },
  ];

  it.each(rows)('$name', ({ state, input, arm, denial }) => {
    const step = accepted(reduce(state, input));
    expect(step.transition).toBe(arm);
    expect(step.to).toBe(state.lifecycle_phase);
    if (denial === null) {
      expect(step.state.pending_switch_request_id).toBe(input.request_id);
      expect(step.state.pending_switch_target_model).toBe(input.target_model);
      expect(step.state.pending_switch_turns).toBe(input.turns);
      expect(step.state.pending_switch_realtime).toBe(input.target_realtime_capable);
      expect(step.state.pending_switch_phase).toBe('PendingForBoundary');
      expect(step.state.switch_terminal).toEqual(state.switch_terminal);
      expect(step.state.model_routing_topology_epoch).toBe(state.model_routing_topology_epoch);
    } else {
      expect(step.state.switch_terminal[input.request_id]).toBe('Denied');
      expect(step.state.switch_denials[input.request_id]).toBe(denial);
      expect(step.effects[0]).toEqual({ type: 'SwitchTurnDenied', request_id: input.request_id, reason: denial });
      // denial leaves the routing topology alone
      expect(step.state.pending_switch_request_id).toBe(state.pending_switch_request_id);
      expect(step.state.turn_override_id).toBe(state.turn_override_id);
      expect(step.state.operation_override_id).toBe(state.operation_override_id);
    }
  });

  it('row 2 records the approval as Denied and terminalizes it', () => {
    const step = accepted(reduce(withBaseline(), finite({ ...DENIED_BY_USER })));
    expect(step.state.approval_phases['req-1']).toBe('Denied');
    expect(step.state.approval_parent_kind['req-1']).toBe('SwitchTurn');
    expect(step.effects).toEqual([
      { type: 'SwitchTurnDenied', request_id: 'req-1', reason: 'DeniedDuringApproval' },
      { type: 'ModelRoutingApprovalTerminalized', approval_id: 'req-1', parent_kind: 'SwitchTurn', phase: 'Denied' },
    ]);
  });

  it('row 1 records no approval', () => {
    const step = accepted(reduce(withBaseline(), finite({ ...UNAVAILABLE })));
    expect(step.state.approval_phases).toEqual({});
  });

  it('row 5 with approval records it Approved; without approval records nothing and emits nothing', () => {
    const approved = accepted(reduce(withBaseline(), finite({ ...APPROVED })));
    expect(approved.state.approval_phases['req-1']).toBe('Approved');
    expect(approved.state.approval_parent_kind['req-1']).toBe('SwitchTurn');
    expect(approved.effects).toEqual([
      { type: 'ModelRoutingApprovalTerminalized', approval_id: 'req-1', parent_kind: 'SwitchTurn', phase: 'Approved' },
    ]);
    const plain = accepted(reduce(withBaseline(), finite()));
    expect(plain.state.approval_phases).toEqual({});
    expect(plain.effects).toEqual([]);
  });

  it('rejects when no row matches (baseline never configured)', () => {
    const r = rejected(reduce(base(), finite()));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('baseline_known');
    expect(r.failures.map((f) => f.arm)).toEqual(routingArms.RequestFiniteSwitchTurn.map((a) => a.name));
  });

  it('rejects turns = 0', () => {
    const r = rejected(reduce(withBaseline(), finite({ turns: 0 })));
    expect(r.kind).toBe('GuardRejected');
    expect(r.failures.find((f) => f.arm === 'RequestFiniteSwitchTurnAccepted')?.guard).toBe('turns_positive');
  });

  it.each<Phase>(['Idle', 'Attached', 'Running'])('is legal in %s', (phase) => {
    expect(accepted(reduce(withBaseline({ lifecycle_phase: phase }), finite())).to).toBe(phase);
  });

  it.each<Phase>(['Initializing', 'Retired', 'Stopped', 'Destroyed'])('has no transition in %s', (phase) => {
    const r = rejected(reduce(withBaseline({ lifecycle_phase: phase }), finite()));
    expect(r.kind).toBe('NoMatchingTransition');
  });

  it('a re-sent denied request id stays denied in the denial map', () => {
    const s = run(withBaseline(), [finite({ ...UNAVAILABLE })]);
    const again = accepted(reduce(s, finite({ ...UNAVAILABLE })));
    expect(again.state.switch_denials['req-1']).toBe('ApprovalRequiredButUnavailable');
  });
});

// ---------------------------------------------------------------------------------------------

describe('RequestUntilChangedSwitchTurn decision order (commands.md §3.5.14)', () => {
  it('accepts first, even with a scoped conflict (pending phase ApplyingPersistentReconfigure)', () => {
    const state = withBaseline({ ...TURN_OVERRIDE, ...OP_OVERRIDE });
    const step = accepted(reduce(state, untilChanged()));
    expect(step.transition).toBe('RequestUntilChangedSwitchTurnAccepted');
    expect(step.state.pending_switch_request_id).toBe('req-1');
    expect(step.state.pending_switch_target_model).toBe('model-b');
    expect(step.state.pending_switch_turns).toBeNull();
    expect(step.state.pending_switch_phase).toBe('ApplyingPersistentReconfigure');
    expect(step.effects).toEqual([
      { type: 'SwitchTurnPersistentReconfigureRequested', request_id: 'req-1', target_model: 'model-b' },
    ]);
  });

  it('accepts with approval and records it Approved', () => {
    const step = accepted(reduce(withBaseline(), untilChanged({ ...APPROVED })));
    expect(step.transition).toBe('RequestUntilChangedSwitchTurnApproved');
    expect(step.state.approval_phases['req-1']).toBe('Approved');
    expect(step.effects).toEqual([
      { type: 'SwitchTurnPersistentReconfigureRequested', request_id: 'req-1', target_model: 'model-b' },
      { type: 'ModelRoutingApprovalTerminalized', approval_id: 'req-1', parent_kind: 'SwitchTurn', phase: 'Approved' },
    ]);
  });

  it.each([
    {
      name: 'realtime conflict beats approval unavailable',
      state: withBaseline({ ...REALTIME }),
      input: untilChanged({ ...UNAVAILABLE }),
      arm: 'RequestUntilChangedSwitchTurnDeniedRealtimeConflict',
      reason: 'RealtimeTransportConflict',
    },
    {
      name: 'realtime conflict beats approval denied',
      state: base({ ...REALTIME }),
      input: untilChanged({ ...DENIED_BY_USER }),
      arm: 'RequestUntilChangedSwitchTurnDeniedRealtimeConflict',
      reason: 'RealtimeTransportConflict',
    },
    {
      name: 'approval unavailable with baseline',
      state: withBaseline(),
      input: untilChanged({ ...UNAVAILABLE }),
      arm: 'RequestUntilChangedSwitchTurnDeniedApprovalUnavailable',
      reason: 'ApprovalRequiredButUnavailable',
    },
    {
      name: 'approval denied (no baseline needed)',
      state: base(),
      input: untilChanged({ ...DENIED_BY_USER }),
      arm: 'RequestUntilChangedSwitchTurnDeniedDuringApproval',
      reason: 'DeniedDuringApproval',
    },
  ])('$name', ({ state, input, arm, reason }) => {
    const step = accepted(reduce(state, input));
    expect(step.transition).toBe(arm);
    expect(step.state.switch_terminal['req-1']).toBe('Denied');
    expect(step.state.switch_denials['req-1']).toBe(reason);
    expect(step.state.pending_switch_request_id).toBeNull();
    expect(step.effects[0]).toEqual({ type: 'SwitchTurnDenied', request_id: 'req-1', reason });
  });

  it('rejects without baseline when nothing else applies', () => {
    const r = rejected(reduce(base(), untilChanged()));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('baseline_known');
    const r2 = rejected(reduce(base(), untilChanged({ ...UNAVAILABLE })));
    expect(r2.failures.find((f) => f.arm === 'RequestUntilChangedSwitchTurnDeniedApprovalUnavailable')?.guard).toBe(
      'baseline_known',
    );
  });

  it.each<Phase>(['Initializing', 'Retired', 'Stopped', 'Destroyed'])('has no transition in %s', (phase) => {
    expect(rejected(reduce(withBaseline({ lifecycle_phase: phase }), untilChanged())).kind).toBe(
      'NoMatchingTransition',
    );
  });
});

describe('CompleteUntilChangedSwitchTurnReconfigure', () => {
  it('clears the pending switch and records PersistentReconfigureApplied', () => {
    const s = run(withBaseline(), [untilChanged()]);
    const step = accepted(reduce(s, { type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id: 'req-1' }));
    expect(step.transition).toBe('CompleteUntilChangedSwitchTurnReconfigure');
    expect(step.state.pending_switch_request_id).toBeNull();
    expect(step.state.pending_switch_phase).toBeNull();
    expect(step.state.pending_switch_target_model).toBeNull();
    expect(step.state.switch_terminal['req-1']).toBe('PersistentReconfigureApplied');
    expect(step.effects).toEqual([]);
  });

  it('rejects an unknown / mismatched request id', () => {
    const r = rejected(reduce(withBaseline(), { type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id: 'req-1' }));
    expect(r.guard).toBe('pending_switch_matches_request');
    const s = run(withBaseline(), [untilChanged()]);
    expect(rejected(reduce(s, { type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id: 'req-2' })).guard).toBe(
      'pending_switch_matches_request',
    );
  });

  it('rejects a pending finite switch', () => {
    const s = run(withBaseline(), [finite()]);
    const r = rejected(reduce(s, { type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id: 'req-1' }));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('pending_switch_applying_persistent_reconfigure');
  });

  it('has no transition in Retired', () => {
    const r = rejected(
      reduce(withBaseline({ lifecycle_phase: 'Retired' }), { type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id: 'req-1' }),
    );
    expect(r.kind).toBe('NoMatchingTransition');
  });

  it('full until-changed flow: request → reconfigure identity → baseline → complete', () => {
    const s0 = withBaseline({ lifecycle_phase: 'Attached', active_runtime_id: 'rt:session:s-1', active_fence_token: 0 });
    const s = run(s0, [
      untilChanged({ target_realtime_capable: true }),
      {
        type: 'ReconfigureSessionLlmIdentity',
        session_id: 's-1',
        target_identity: IDENTITY,
        target_capability_surface: SURFACE,
      },
      { type: 'SetModelRoutingBaseline', baseline_model: 'model-b', realtime_capable: true },
      { type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id: 'req-1' },
    ]);
    expect(s.current_llm_identity).toEqual(IDENTITY);
    expect(s.capability_surface_status).toBe('Resolved');
    expect(s.model_routing_baseline_model).toBe('model-b');
    expect(s.model_routing_baseline_realtime).toBe(true);
    expect(s.switch_terminal['req-1']).toBe('PersistentReconfigureApplied');
    expect(modelRoutingStatus(s)).toEqual({ baseline_model: 'model-b', effective_model: 'model-b' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('AdmitModelRoutingAssistantTurn (commands.md §3.5.15)', () => {
  it('activates a pending finite switch (override id = request id)', () => {
    const s = run(withBaseline(), [finite({ turns: 3 })]);
    const step = accepted(reduce(s, ADMIT));
    expect(step.transition).toBe('AdmitModelRoutingAssistantTurnActivateFiniteOverride');
    expect(step.state.turn_override_id).toBe('req-1');
    expect(step.state.turn_request_id).toBe('req-1');
    expect(step.state.turn_target_model).toBe('model-b');
    expect(step.state.turn_realtime).toBe(false);
    expect(step.state.turn_remaining_turns).toBe(3);
    expect(step.state.pending_switch_request_id).toBeNull();
    expect(step.state.pending_switch_turns).toBeNull();
    expect(step.state.pending_switch_phase).toBeNull();
    expect(step.state.model_routing_topology_epoch).toBe(s.model_routing_topology_epoch + 1);
    expect(step.effects).toEqual([
      { type: 'SwitchTurnFiniteOverrideActivated', request_id: 'req-1', target_model: 'model-b', remaining_turns: 3 },
      { type: 'ModelRoutingStatusChanged', topology_epoch: s.model_routing_topology_epoch + 1 },
    ]);
  });

  it('decrements while remaining > 1 (no epoch bump, no effects)', () => {
    const s = withBaseline({ ...TURN_OVERRIDE, turn_remaining_turns: 3 });
    const step = accepted(reduce(s, ADMIT));
    expect(step.transition).toBe('AdmitModelRoutingAssistantTurnDecrementFiniteOverride');
    expect(step.state.turn_remaining_turns).toBe(2);
    expect(step.state.model_routing_topology_epoch).toBe(s.model_routing_topology_epoch);
    expect(step.effects).toEqual([]);
  });

  it('restores when remaining == 1 and records ConsumedAndRestored', () => {
    const s = withBaseline({ ...TURN_OVERRIDE, turn_remaining_turns: 1, model_routing_topology_epoch: 5 });
    const step = accepted(reduce(s, ADMIT));
    expect(step.transition).toBe('AdmitModelRoutingAssistantTurnRestoreFiniteOverride');
    expect(step.state.turn_override_id).toBeNull();
    expect(step.state.turn_request_id).toBeNull();
    expect(step.state.turn_target_model).toBeNull();
    expect(step.state.turn_realtime).toBeNull();
    expect(step.state.turn_remaining_turns).toBeNull();
    expect(step.state.switch_terminal['req-0']).toBe('ConsumedAndRestored');
    expect(step.state.model_routing_topology_epoch).toBe(6);
    expect(step.effects).toEqual([
      { type: 'SwitchTurnFiniteOverrideRestored' },
      { type: 'ModelRoutingStatusChanged', topology_epoch: 6 },
    ]);
  });

  it('rejects when there is nothing to do', () => {
    const r = rejected(reduce(withBaseline(), ADMIT));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('pending_finite_switch_present');
    expect(r.failures.map((f) => f.guard)).toEqual([
      'pending_finite_switch_present',
      'turn_override_active',
      'turn_override_active',
    ]);
  });

  it('does not activate a pending until-changed switch', () => {
    const s = run(withBaseline(), [untilChanged()]);
    expect(rejected(reduce(s, ADMIT)).guard).toBe('pending_finite_switch_present');
  });

  it.each<Phase>(['Initializing', 'Retired', 'Stopped', 'Destroyed'])('has no transition in %s', (phase) => {
    const s = withBaseline({ ...TURN_OVERRIDE, lifecycle_phase: phase });
    expect(rejected(reduce(s, ADMIT)).kind).toBe('NoMatchingTransition');
  });

  it.each([1, 2, 3, 4, 7])('turns = %i: the target is effective for exactly that many admitted turns', (n) => {
    let s = run(withBaseline(), [finite({ turns: n })]);
    const effective: string[] = [];
    for (let k = 0; k < n + 1; k += 1) {
      s = accepted(reduce(s, ADMIT)).state;
      effective.push(modelRoutingStatus(s).effective_model);
    }
    // admissions 1..N run on the target; admission N+1 restores the baseline
    expect(effective).toEqual([...Array<string>(n).fill('model-b'), 'model-a']);
    expect(s.switch_terminal['req-1']).toBe('ConsumedAndRestored');
    expect(rejected(reduce(s, ADMIT)).kind).toBe('GuardRejected');
  });

  it('one_turn: the admission after the activating one restores immediately', () => {
    const s1 = run(withBaseline(), [finite({ turns: 1 }), ADMIT]);
    expect(s1.turn_remaining_turns).toBe(1);
    const step = accepted(reduce(s1, ADMIT));
    expect(step.transition).toBe('AdmitModelRoutingAssistantTurnRestoreFiniteOverride');
  });

  it('property: with turns = N the target is effective for exactly N admissions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.constantFrom<Phase>('Idle', 'Attached', 'Running'), (n, phase) => {
        let s = run(withBaseline({ lifecycle_phase: phase }), [finite({ turns: n })]);
        let onTarget = 0;
        let admissions = 0;
        for (;;) {
          const step = reduce(s, ADMIT);
          if (!step.ok) break;
          s = step.state;
          admissions += 1;
          if (modelRoutingStatus(s).effective_model === 'model-b') onTarget += 1;
        }
        expect(onTarget).toBe(n);
        expect(admissions).toBe(n + 1);
        expect(s.model_routing_topology_epoch).toBe(2);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('commands.md §6 checklist item 10 (reducer level)', () => {
  it('baseline → one-turn switch pending → admit (target) → admit (baseline); second request while pending is denied', () => {
    let s = base();
    s = accepted(reduce(s, { type: 'SetModelRoutingBaseline', baseline_model: 'model-a', realtime_capable: false })).state;
    expect(modelRoutingStatus(s)).toEqual({ baseline_model: 'model-a', effective_model: 'model-a' });

    s = accepted(reduce(s, finite({ request_id: 'req-1', target_model: 'model-b', turns: 1 }))).state;
    expect(modelRoutingStatus(s)).toEqual({
      baseline_model: 'model-a',
      effective_model: 'model-a',
      pending_switch_turn: {
        request_id: 'req-1',
        target_model: 'model-b',
        duration: { kind: 'finite', duration: { kind: 'one_turn' } },
        phase: 'pending_for_boundary',
      },
    });

    // a second finite request while one is pending → denied scoped_override_conflict
    const second = accepted(reduce(s, finite({ request_id: 'req-2', target_model: 'model-c', turns: 2 })));
    expect(second.transition).toBe('RequestFiniteSwitchTurnDeniedScopedOverrideConflict');
    expect(second.state.switch_denials['req-2']).toBe('ScopedOverrideConflict');
    expect(second.state.pending_switch_request_id).toBe('req-1');
    s = second.state;

    s = accepted(reduce(s, ADMIT)).state;
    const during = modelRoutingStatus(s);
    expect(during.effective_model).toBe('model-b');
    expect(during.active_turn_override).toEqual({
      id: 'req-1',
      kind: { kind: 'finite_switch_turn', request_id: 'req-1', duration: { kind: 'turns', turns: 1 } },
      target_model: 'model-b',
      topology_epoch: 2,
    });
    expect(during.pending_switch_turn).toBeUndefined();

    s = accepted(reduce(s, ADMIT)).state;
    expect(modelRoutingStatus(s)).toEqual({ baseline_model: 'model-a', effective_model: 'model-a' });
    expect(s.switch_terminal).toEqual({ 'req-1': 'ConsumedAndRestored', 'req-2': 'Denied' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('BeginImageOperation decision order (commands.md §3.5.16)', () => {
  it.each([
    {
      name: '1: operation override active (beats realtime and approval)',
      state: withBaseline({ ...OP_OVERRIDE, ...REALTIME }),
      input: begin({ ...UNAVAILABLE }),
      arm: 'BeginImageOperationDeniedScopedOverrideConflict',
      reason: 'ScopedOverrideConflict',
    },
    {
      name: '2: realtime conflict (beats approval)',
      state: withBaseline({ ...REALTIME }),
      input: begin({ ...DENIED_BY_USER }),
      arm: 'BeginImageOperationDeniedRealtimeConflict',
      reason: 'RealtimeTransportConflict',
    },
    {
      name: '3: approval unavailable (no baseline needed)',
      state: base(),
      input: begin({ ...UNAVAILABLE }),
      arm: 'BeginImageOperationDeniedApprovalUnavailable',
      reason: 'ApprovalRequiredButUnavailable',
    },
    {
      name: '4: approval denied',
      state: withBaseline(),
      input: begin({ ...DENIED_BY_USER }),
      arm: 'BeginImageOperationDeniedDuringApproval',
      reason: 'DeniedDuringApproval',
    },
  ])('$name', ({ state, input, arm, reason }) => {
    const step = accepted(reduce(state, input));
    expect(step.transition).toBe(arm);
    expect(step.state.image_operation_phases['op-1']).toBe('Terminal');
    expect(step.state.image_terminals['op-1']).toBe('Denied');
    expect(step.state.image_denials['op-1']).toBe(reason);
    expect(step.state.operation_override_id).toBe(state.operation_override_id);
    expect(step.effects[0]).toEqual({ type: 'ImageOperationDenied', operation_id: 'op-1', reason });
  });

  it('4 records the approval Denied with parent ImageOperation', () => {
    const step = accepted(reduce(withBaseline(), begin({ ...DENIED_BY_USER })));
    expect(step.state.approval_phases['op-1']).toBe('Denied');
    expect(step.state.approval_parent_kind['op-1']).toBe('ImageOperation');
    expect(step.effects[1]).toEqual({
      type: 'ModelRoutingApprovalTerminalized',
      approval_id: 'op-1',
      parent_kind: 'ImageOperation',
      phase: 'Denied',
    });
  });

  it('a turn override or pending switch is no conflict for an image operation', () => {
    const step = accepted(reduce(withBaseline({ ...TURN_OVERRIDE, ...PENDING_FINITE }), begin()));
    expect(step.transition).toBe('BeginImageOperationAccepted');
  });

  it('5: accepted → PlanResolved, stores target, realtime and scoped flag', () => {
    const step = accepted(reduce(withBaseline(), begin({ requires_scoped_override: false, target_realtime_capable: true })));
    expect(step.transition).toBe('BeginImageOperationAccepted');
    expect(step.state.image_operation_phases['op-1']).toBe('PlanResolved');
    expect(step.state.image_operation_target_models['op-1']).toBe('image-model');
    expect(step.state.image_operation_realtime['op-1']).toBe(true);
    expect(step.state.image_operation_requires_scoped_override['op-1']).toBe(false);
    expect(step.effects).toEqual([{ type: 'ImageOperationPhaseChanged', operation_id: 'op-1', phase: 'PlanResolved' }]);
  });

  it('5: accepted with approval records it Approved', () => {
    const step = accepted(reduce(withBaseline(), begin({ ...APPROVED })));
    expect(step.transition).toBe('BeginImageOperationApproved');
    expect(step.state.approval_phases['op-1']).toBe('Approved');
    expect(step.state.approval_parent_kind['op-1']).toBe('ImageOperation');
    expect(step.effects).toEqual([
      { type: 'ImageOperationPhaseChanged', operation_id: 'op-1', phase: 'PlanResolved' },
      { type: 'ModelRoutingApprovalTerminalized', approval_id: 'op-1', parent_kind: 'ImageOperation', phase: 'Approved' },
    ]);
  });

  it('rejects without a baseline when nothing else applies', () => {
    const r = rejected(reduce(base(), begin()));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('operation_override_active');
    expect(r.failures.find((f) => f.arm === 'BeginImageOperationAccepted')?.guard).toBe('baseline_known');
  });

  it.each<Phase>(['Initializing', 'Retired', 'Stopped', 'Destroyed'])('has no transition in %s', (phase) => {
    expect(rejected(reduce(withBaseline({ lifecycle_phase: phase }), begin())).kind).toBe('NoMatchingTransition');
  });
});

describe('image operation flows', () => {
  const complete = (terminal: 'Generated' | 'Failed' = 'Generated'): RoutingInput => ({
    type: 'CompleteImageOperation',
    operation_id: 'op-1',
    terminal,
    terminal_payload: JSON.stringify({ terminal: terminal.toLowerCase() }),
  });
  const restore: RoutingInput = { type: 'RestoreImageOperationOverride', operation_id: 'op-1' };

  it('without scoped override: begin → complete → Terminal; model never changes', () => {
    let s = run(withBaseline(), [begin({ requires_scoped_override: false })]);
    const act = rejected(reduce(s, activate()));
    expect(act.kind).toBe('GuardRejected');
    expect(act.guard).toBe('operation_requires_scoped_override');

    const step = accepted(reduce(s, complete()));
    expect(step.transition).toBe('CompleteImageOperationTerminal');
    s = step.state;
    expect(s.image_operation_phases['op-1']).toBe('Terminal');
    expect(s.image_terminals['op-1']).toBe('Generated');
    expect(s.image_terminal_payloads['op-1']).toBe('{"terminal":"generated"}');
    expect(s.image_operation_target_models).toEqual({});
    expect(s.image_operation_realtime).toEqual({});
    expect(s.image_operation_requires_scoped_override).toEqual({});
    expect(step.effects).toEqual([{ type: 'ImageOperationPhaseChanged', operation_id: 'op-1', phase: 'Terminal' }]);
    expect(s.model_routing_topology_epoch).toBe(0);
    expect(modelRoutingStatus(s).effective_model).toBe('model-a');

    // terminal: cannot complete or restore again
    expect(rejected(reduce(s, complete())).guard).toBe('operation_override_matches');
    expect(rejected(reduce(s, restore)).guard).toBe('operation_override_matches');
  });

  it('with scoped override: begin → activate → complete → restore', () => {
    let s = run(withBaseline({ ...TURN_OVERRIDE }), [begin()]);
    expect(modelRoutingStatus(s).effective_model).toBe('model-c');

    const act = accepted(reduce(s, activate()));
    expect(act.transition).toBe('ActivateImageOperationOverride');
    s = act.state;
    expect(s.operation_override_id).toBe('op-1');
    expect(s.operation_target_model).toBe('image-model');
    expect(s.operation_realtime).toBe(false);
    expect(s.image_operation_phases['op-1']).toBe('ScopedOverrideActive');
    expect(s.model_routing_topology_epoch).toBe(1);
    expect(act.effects).toEqual([
      { type: 'ImageOperationPhaseChanged', operation_id: 'op-1', phase: 'ScopedOverrideActive' },
      { type: 'ModelRoutingStatusChanged', topology_epoch: 1 },
    ]);
    // operation target takes precedence over the turn override
    const st = modelRoutingStatus(s);
    expect(st.effective_model).toBe('image-model');
    expect(st.active_operation_override).toEqual({
      id: 'op-1',
      kind: { kind: 'image_operation', operation_id: 'op-1' },
      target_model: 'image-model',
      topology_epoch: 1,
    });
    expect(st.active_turn_override?.target_model).toBe('model-c');

    // a second operation cannot begin or activate while the override is active
    expect(accepted(reduce(s, begin({ operation_id: 'op-2' }))).transition).toBe(
      'BeginImageOperationDeniedScopedOverrideConflict',
    );
    // a finite switch is a scoped conflict while the operation override is active
    expect(accepted(reduce(s, finite({ request_id: 'req-9' }))).transition).toBe(
      'RequestFiniteSwitchTurnDeniedScopedOverrideConflict',
    );

    const comp = accepted(reduce(s, complete('Failed')));
    expect(comp.transition).toBe('CompleteImageOperationRestoringScopedOverride');
    s = comp.state;
    expect(s.image_operation_phases['op-1']).toBe('RestoringScopedOverride');
    expect(s.image_terminals['op-1']).toBe('Failed');
    expect(s.image_terminal_payloads['op-1']).toBe('{"terminal":"failed"}');
    expect(s.operation_override_id).toBe('op-1');
    expect(comp.effects).toEqual([
      { type: 'ImageOperationPhaseChanged', operation_id: 'op-1', phase: 'RestoringScopedOverride' },
    ]);

    const rest = accepted(reduce(s, restore));
    expect(rest.transition).toBe('RestoreImageOperationOverride');
    s = rest.state;
    expect(s.operation_override_id).toBeNull();
    expect(s.operation_target_model).toBeNull();
    expect(s.operation_realtime).toBeNull();
    expect(s.image_operation_phases['op-1']).toBe('Terminal');
    expect(s.image_terminals['op-1']).toBe('Failed');
    expect(s.image_operation_target_models).toEqual({});
    expect(s.image_operation_requires_scoped_override).toEqual({});
    expect(s.model_routing_topology_epoch).toBe(2);
    expect(rest.effects).toEqual([
      { type: 'ImageOperationPhaseChanged', operation_id: 'op-1', phase: 'Terminal' },
      { type: 'ModelRoutingStatusChanged', topology_epoch: 2 },
    ]);
    expect(modelRoutingStatus(s).effective_model).toBe('model-c');
    expect(rejected(reduce(s, restore)).guard).toBe('operation_override_matches');
  });

  it('activate guards: plan resolved, requires scoped override, no override active', () => {
    expect(rejected(reduce(withBaseline(), activate())).guard).toBe('operation_plan_resolved');
    const two = run(withBaseline(), [begin(), begin({ operation_id: 'op-2' }), activate()]);
    const r = rejected(reduce(two, activate({ operation_id: 'op-2' })));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('no_operation_override_active');
  });

  it('complete guards: unknown operation and plan-resolved scoped operation without override', () => {
    const r = rejected(reduce(withBaseline(), complete()));
    expect(r.guard).toBe('operation_override_matches');
    expect(r.failures.map((f) => f.guard)).toEqual(['operation_override_matches', 'operation_plan_resolved']);
    const s = run(withBaseline(), [begin()]);
    expect(rejected(reduce(s, complete())).failures[1]?.guard).toBe('operation_does_not_require_scoped_override');
  });

  it('complete (no scoped override) is refused while another operation holds an override', () => {
    const s = run(withBaseline(), [begin(), begin({ operation_id: 'op-2', requires_scoped_override: false }), activate()]);
    const r = rejected(
      reduce(s, { type: 'CompleteImageOperation', operation_id: 'op-2', terminal: 'Generated', terminal_payload: '{}' }),
    );
    expect(r.failures[1]?.guard).toBe('no_operation_override_active');
  });

  it.each<Phase>(['Initializing', 'Retired', 'Stopped', 'Destroyed'])(
    'activate / complete / restore have no transition in %s',
    (phase) => {
      const s = withBaseline({ ...OP_OVERRIDE, lifecycle_phase: phase });
      for (const input of [activate(), complete(), restore]) {
        expect(rejected(reduce(s, input)).kind).toBe('NoMatchingTransition');
      }
    },
  );

  it.each<Phase>(['Idle', 'Attached', 'Running'])('the full scoped flow is legal in %s', (phase) => {
    const s = run(withBaseline({ lifecycle_phase: phase }), [begin(), activate(), complete(), restore]);
    expect(s.lifecycle_phase).toBe(phase);
    expect(s.image_operation_phases['op-1']).toBe('Terminal');
  });
});

// ---------------------------------------------------------------------------------------------

describe('ReconfigureSessionLlmIdentity (commands.md §3.2.15)', () => {
  const input: RoutingInput = {
    type: 'ReconfigureSessionLlmIdentity',
    session_id: 's-1',
    target_identity: IDENTITY,
    target_capability_surface: SURFACE,
  };
  const bound = { active_runtime_id: 'rt:session:s-1', active_fence_token: 0 } as const;

  it.each<Phase>(['Attached', 'Running'])('is accepted in %s with a bound runtime and records the identity', (phase) => {
    const step = accepted(reduce(base({ lifecycle_phase: phase, ...bound }), input));
    expect(step.transition).toBe('ReconfigureSessionLlmIdentity');
    expect(step.to).toBe(phase);
    expect(step.state.current_llm_identity).toEqual(IDENTITY);
    expect(step.state.current_capability_surface).toEqual(SURFACE);
    expect(step.state.capability_surface_status).toBe('Resolved');
    expect(step.effects).toEqual([]);
  });

  it.each<Phase>(['Initializing', 'Idle', 'Retired', 'Stopped', 'Destroyed'])('has no transition in %s', (phase) => {
    const r = rejected(reduce(base({ lifecycle_phase: phase, ...bound }), input));
    expect(r.kind).toBe('NoMatchingTransition');
  });

  it('requires a bound runtime', () => {
    const r = rejected(reduce(base({ lifecycle_phase: 'Attached' }), input));
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('runtime_is_bound');
  });

  it('requires a registered session', () => {
    const r = rejected(reduce(base({ lifecycle_phase: 'Running', session_id: null, ...bound }), input));
    expect(r.guard).toBe('session_registered');
  });
});

describe('ResolveSessionLlmCapabilities', () => {
  const input: RoutingInput = { type: 'ResolveSessionLlmCapabilities', identity: IDENTITY, surface: SURFACE };

  it.each<Phase>(['Initializing', 'Idle', 'Attached', 'Running', 'Retired', 'Stopped'])('is accepted in %s', (phase) => {
    const step = accepted(reduce(base({ lifecycle_phase: phase }), input));
    expect(step.transition).toBe('ResolveSessionLlmCapabilities');
    expect(step.state.current_llm_identity).toEqual(IDENTITY);
    expect(step.state.current_capability_surface).toEqual(SURFACE);
    expect(step.state.capability_surface_status).toBe('Resolved');
  });

  it('has no transition in Destroyed', () => {
    expect(rejected(reduce(base({ lifecycle_phase: 'Destroyed' }), input)).kind).toBe('NoMatchingTransition');
  });

  it('requires a registered session', () => {
    expect(rejected(reduce(base({ session_id: null }), input)).guard).toBe('session_registered');
  });
});

// ---------------------------------------------------------------------------------------------

describe('modelRoutingStatus projection (commands.md §3.5.13)', () => {
  it('empty baseline when never configured', () => {
    expect(modelRoutingStatus(initialMachineState())).toEqual({ baseline_model: '', effective_model: '' });
  });

  it('pending durations: turns{n} and until_changed', () => {
    const s = run(withBaseline(), [finite({ turns: 3 })]);
    expect(modelRoutingStatus(s).pending_switch_turn?.duration).toEqual({
      kind: 'finite',
      duration: { kind: 'turns', turns: 3 },
    });
    const u = run(withBaseline(), [untilChanged()]);
    expect(modelRoutingStatus(u).pending_switch_turn).toEqual({
      request_id: 'req-1',
      target_model: 'model-b',
      duration: { kind: 'until_changed' },
      phase: 'pending_for_boundary',
    });
  });

  it('effective = operation target ▸ turn target ▸ baseline', () => {
    expect(modelRoutingStatus(withBaseline()).effective_model).toBe('model-a');
    expect(modelRoutingStatus(withBaseline({ ...TURN_OVERRIDE })).effective_model).toBe('model-c');
    expect(modelRoutingStatus(withBaseline({ ...TURN_OVERRIDE, ...OP_OVERRIDE })).effective_model).toBe('image-model');
    expect(modelRoutingStatus(base({ ...OP_OVERRIDE })).effective_model).toBe('image-model');
  });
});

// ---------------------------------------------------------------------------------------------

describe('routing properties over random input sequences', () => {
  const phaseArb = fc.constantFrom<Phase>('Idle', 'Attached', 'Running');

  it('rejections change nothing; accepted steps keep the routing fields coherent', () => {
    fc.assert(
      fc.property(phaseArb, fc.boolean(), fc.boolean(), fc.array(routingInputArb, { maxLength: 60 }), (phase, rt, seeded, inputs) => {
        let s = (seeded ? withBaseline : base)({
          lifecycle_phase: phase,
          active_runtime_id: 'rt:session:s-1',
          active_fence_token: 0,
          realtime_intent_present: rt,
        });
        for (const input of inputs) {
          const before = s;
          const step = reduce(s, input);
          if (!step.ok) {
            expect(s).toBe(before);
            expect(step.guard === null).toBe(step.kind === 'NoMatchingTransition');
            continue;
          }
          s = step.state;
          expect(s.lifecycle_phase).toBe(phase);
          // epoch never decreases and status-changed effects report the post epoch
          expect(s.model_routing_topology_epoch).toBeGreaterThanOrEqual(before.model_routing_topology_epoch);
          for (const e of step.effects) {
            if (e.type === 'ModelRoutingStatusChanged') expect(e.topology_epoch).toBe(s.model_routing_topology_epoch);
          }
          // turn override: all-or-nothing, remaining ≥ 1
          expect(s.turn_override_id === null).toBe(s.turn_remaining_turns === null);
          if (s.turn_remaining_turns !== null) expect(s.turn_remaining_turns).toBeGreaterThanOrEqual(1);
          // pending switch: finite ⇔ PendingForBoundary
          if (s.pending_switch_request_id === null) {
            expect(s.pending_switch_phase).toBeNull();
          } else {
            expect(s.pending_switch_turns === null).toBe(s.pending_switch_phase === 'ApplyingPersistentReconfigure');
          }
          // a pending finite switch and an active turn override never coexist
          expect(s.pending_switch_phase === 'PendingForBoundary' && s.turn_override_id !== null).toBe(false);
          // every denial is recorded as a Denied terminal
          for (const id of Object.keys(s.switch_denials)) expect(s.switch_terminal[id]).toBeDefined();
          for (const id of Object.keys(s.image_denials)) expect(s.image_terminals[id]).toBeDefined();
          // effective model follows the precedence rule
          const st = modelRoutingStatus(s);
          expect(st.effective_model).toBe(
            s.operation_target_model ?? s.turn_target_model ?? s.model_routing_baseline_model ?? '',
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('routing arbitrary coverage', () => {
  it('random sequences reach every routing arm', () => {
    const fired = new Set<string>();
    fc.assert(
      fc.property(
        fc.constantFrom<Phase>('Idle', 'Attached', 'Running'),
        fc.boolean(),
        fc.array(routingInputArb, { minLength: 10, maxLength: 60 }),
        (phase, rt, inputs) => {
          let s = withBaseline({ lifecycle_phase: phase, active_runtime_id: 'rt:session:s-1', realtime_intent_present: rt });
          for (const input of inputs) {
            const step = reduce(s, input);
            if (step.ok) {
              fired.add(step.transition);
              s = step.state;
            }
          }
        },
      ),
      { numRuns: 400, seed: 42 },
    );
    const all = Object.values(routingArms).flatMap((arms) => arms.map((a) => a.name));
    expect(all.filter((n) => !fired.has(n))).toEqual([]);
  });
});
