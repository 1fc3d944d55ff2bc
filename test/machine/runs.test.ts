import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RUN_FAILURE_SOURCE_KINDS,
  outcomeAndCauseForFailureSource,
  outcomeMatchesCause,
  type RunFailureSourceKind,
  type RunInput,
} from '../../src/machine/arms/runs.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { reduce, type Rejection, type Transition } from '../../src/machine/reduce.js';
import {
  initialMachineState,
  type MachineState,
  type PreRunPhase,
  type TurnPhase,
  type TurnTerminalCauseKind,
  type TurnTerminalOutcome,
} from '../../src/machine/state.js';
import { runInputArb } from './arbitraries/runs.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Running with run-1 bound from Idle, session s-1 registered. */
function running(over: Partial<MachineState> = {}): MachineState {
  return {
    ...initialMachineState(),
    lifecycle_phase: 'Running',
    session_id: 's-1',
    current_run_id: 'run-1',
    pre_run_phase: 'Idle',
    ...over,
  };
}

/** A registered, bound session in `phase` with no run. */
function settled(phase: MachineState['lifecycle_phase'], over: Partial<MachineState> = {}): MachineState {
  return {
    ...initialMachineState(),
    lifecycle_phase: phase,
    session_id: 's-1',
    active_runtime_epoch_id: 'epoch-1',
    active_runtime_id: 'rt:session:s-1',
    active_fence_token: 1,
    active_runtime_generation: 1,
    ...over,
  };
}

function ok(state: MachineState, input: MachineInput): Transition {
  const step = reduce(state, input);
  if (!step.ok) throw new Error(`expected acceptance of ${input.type}: ${JSON.stringify(step)}`);
  return step;
}

function rejected(state: MachineState, input: MachineInput): Rejection {
  const before = JSON.stringify(state);
  const step = reduce(state, input);
  if (step.ok) throw new Error(`expected rejection of ${input.type}, got ${step.transition}`);
  expect(step.ok).toBe(false);
  expect(JSON.stringify(state)).toBe(before);
  return step;
}

function expectGuard(state: MachineState, input: MachineInput, guardName: string): Rejection {
  const r = rejected(state, input);
  expect(r.kind).toBe('GuardRejected');
  expect(r.guard).toBe(guardName);
  return r;
}

function expectNoArm(state: MachineState, input: MachineInput): Rejection {
  const r = rejected(state, input);
  expect(r.kind).toBe('NoMatchingTransition');
  expect(r.guard).toBeNull();
  return r;
}

/** Applies every input in order, failing on the first rejection. */
function apply(state: MachineState, inputs: readonly MachineInput[]): { state: MachineState; steps: Transition[] } {
  const steps: Transition[] = [];
  let s = state;
  for (const input of inputs) {
    const t = ok(s, input);
    steps.push(t);
    s = t.state;
  }
  return { state: s, steps };
}

const conv = (run_id = 'run-1', max_extraction_retries = 0): Extract<RunInput, { type: 'StartConversationRun' }> => ({
  type: 'StartConversationRun',
  run_id,
  primitive_kind: 'ConversationTurn',
  admitted_content_shape: 'Conversation',
  vision_enabled: true,
  image_tool_results_enabled: true,
  max_extraction_retries,
});
const r1 = { run_id: 'run-1' } as const;

const DIRTY_TURN: Partial<MachineState> = {
  tool_calls_pending: 3,
  pending_op_refs: ['op-1'],
  barrier_operation_ids: ['op-1'],
  has_barrier_ops: true,
  barrier_satisfied: true,
  boundary_count: 4,
  cancel_after_boundary: true,
  boundary_cancel_dispatch_pending: true,
  boundary_cancel_dispatch_generation: 2,
  turn_terminal_run_id: 'run-0',
  terminal_outcome: 'Failed',
  terminal_cause_kind: 'LlmFailure',
  last_runtime_apply_failure_cause: 'ApplyFailed',
  last_runtime_apply_failure_message: 'x',
  extraction_attempts: 2,
  extraction_active: true,
  llm_retry_attempt: 2,
  llm_retry_max_retries: 3,
  llm_retry_selected_delay_ms: 100,
  llm_retry_last_failure_kind: 'RateLimited',
};

function expectPerTurnReset(s: MachineState): void {
  expect(s).toMatchObject({
    tool_calls_pending: 0,
    pending_op_refs: [],
    barrier_operation_ids: [],
    has_barrier_ops: false,
    barrier_satisfied: false,
    boundary_count: 0,
    cancel_after_boundary: false,
    boundary_cancel_dispatch_pending: false,
    turn_terminal_run_id: null,
    terminal_outcome: null,
    terminal_cause_kind: null,
    last_runtime_apply_failure_cause: null,
    last_runtime_apply_failure_message: null,
    extraction_attempts: 0,
    extraction_active: false,
    llm_retry_attempt: 0,
    llm_retry_max_retries: 0,
    llm_retry_selected_delay_ms: 0,
    llm_retry_last_failure_kind: null,
  });
  // the dispatch generation is monotonic: turn start never lowers it
  expect(s.boundary_cancel_dispatch_generation).toBe(DIRTY_TURN.boundary_cancel_dispatch_generation);
}

// ---------------------------------------------------------------------------------------------
// §4.2 binding a run

describe('Prepare / DrainQueuedRun (§4.2)', () => {
  const prepare = { type: 'Prepare', session_id: 'other-session', run_id: 'run-2' } as const;

  it.each(['Idle', 'Attached'] as const)('Prepare%s binds the run, clears a settled slot, submits the primitive', (phase) => {
    const s = settled(phase, {
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: true,
      turn_terminal_run_id: 'run-1',
    });
    const t = ok(s, prepare);
    expect(t.transition).toBe(`Prepare${phase}`);
    expect(t.to).toBe('Running');
    expect(t.state).toMatchObject({
      current_run_id: 'run-2',
      pre_run_phase: phase,
      turn_terminal_run_id: null,
      runtime_completion_result_run_id: null,
      runtime_completion_result_resolved: true,
    });
    expect(t.effects).toEqual([{ type: 'SubmitRunPrimitive', run_id: 'run-2' }]);
  });

  it.each(['Idle', 'Attached'] as const)('Prepare%sRetainingUnsettledCompletion leaves an unsettled slot', (phase) => {
    const s = settled(phase, {
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: false,
      turn_terminal_run_id: 'run-1',
    });
    const t = ok(s, prepare);
    expect(t.transition).toBe(`Prepare${phase}RetainingUnsettledCompletion`);
    expect(t.state).toMatchObject({
      current_run_id: 'run-2',
      pre_run_phase: phase,
      turn_terminal_run_id: null,
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: false,
    });
    expect(t.effects).toEqual([{ type: 'SubmitRunPrimitive', run_id: 'run-2' }]);
  });

  it('an empty slot counts as settled', () => {
    expect(ok(settled('Idle'), prepare).transition).toBe('PrepareIdle');
  });

  it('Prepare never compares its session id, but needs a registered session', () => {
    const r = expectGuard(settled('Idle', { session_id: null, active_runtime_epoch_id: null }), prepare, 'session_registered');
    expect(r.failures.map((f) => f.arm)).toEqual(['PrepareIdle', 'PrepareIdleRetainingUnsettledCompletion']);
  });

  it.each(['Initializing', 'Running', 'Retired', 'Stopped', 'Destroyed'] as const)('Prepare has no arm in %s', (phase) => {
    expectNoArm(phase === 'Running' ? running() : settled(phase), prepare);
  });

  it('DrainQueuedRunRetired / …RetainingUnsettledCompletion (no session check)', () => {
    const drain = { type: 'DrainQueuedRun', run_id: 'run-2' } as const;
    const a = ok(settled('Retired', { session_id: null, active_runtime_epoch_id: null }), drain);
    expect(a.transition).toBe('DrainQueuedRunRetired');
    expect(a.state).toMatchObject({ lifecycle_phase: 'Running', current_run_id: 'run-2', pre_run_phase: 'Retired' });
    expect(a.effects).toEqual([{ type: 'SubmitRunPrimitive', run_id: 'run-2' }]);

    const b = ok(
      settled('Retired', { runtime_completion_result_run_id: 'run-1', runtime_completion_result_resolved: false }),
      drain,
    );
    expect(b.transition).toBe('DrainQueuedRunRetiredRetainingUnsettledCompletion');
    expect(b.state.runtime_completion_result_run_id).toBe('run-1');
    expect(b.state.runtime_completion_result_resolved).toBe(false);

    for (const phase of ['Initializing', 'Idle', 'Attached', 'Stopped', 'Destroyed'] as const) {
      expectNoArm(settled(phase), drain);
    }
  });
});

describe('StartConversationRun / StartImmediateAppend (§4.2)', () => {
  it('Idle needs runtime_binding_present and sets pre-run Attached', () => {
    const t = ok(settled('Idle', DIRTY_TURN), conv('run-7', 2));
    expect(t.transition).toBe('StartConversationRunIdleWithBinding');
    expect(t.to).toBe('Running');
    expect(t.state).toMatchObject({
      current_run_id: 'run-7',
      pre_run_phase: 'Attached',
      turn_phase: 'ApplyingPrimitive',
      primitive_kind: 'ConversationTurn',
      admitted_content_shape: 'Conversation',
      vision_enabled: true,
      image_tool_results_enabled: true,
      max_extraction_retries: 2,
    });
    expectPerTurnReset(t.state);
    expect(t.effects).toEqual([{ type: 'TurnRunStarted', run_id: 'run-7' }]);

    expectGuard(settled('Idle', { active_runtime_id: null, active_fence_token: null }), conv(), 'runtime_binding_present');
  });

  it.each([
    ['Initializing', 'StartConversationRunInitializing'],
    ['Attached', 'StartConversationRunAttached'],
  ] as const)('%s → Running with pre-run Attached', (phase, name) => {
    const t = ok(settled(phase, { active_runtime_id: null, active_fence_token: null, ...DIRTY_TURN }), conv());
    expect(t.transition).toBe(name);
    expect(t.state.pre_run_phase).toBe('Attached');
    expect(t.state.lifecycle_phase).toBe('Running');
    expectPerTurnReset(t.state);
  });

  it.each(['Idle', 'Attached', 'Retired'] as const)(
    'Running keeps pre-run %s and overwrites the bound run unchecked',
    (pre) => {
      const t = ok(running({ pre_run_phase: pre, turn_phase: 'Completed', ...DIRTY_TURN }), conv('run-9'));
      expect(t.transition).toBe('StartConversationRunRunning');
      expect(t.state.pre_run_phase).toBe(pre);
      expect(t.state.current_run_id).toBe('run-9');
      expectPerTurnReset(t.state);
    },
  );

  it('accepts the Empty shape and rejects mismatched shapes/primitives', () => {
    const empty = { ...conv(), admitted_content_shape: 'Empty' } as const;
    expect(ok(running(), empty).state.admitted_content_shape).toBe('Empty');
    expectGuard(running(), { ...conv(), admitted_content_shape: 'ImmediateAppend' }, 'conversation_shape_matches_primitive');
    expectGuard(running(), { ...conv(), primitive_kind: 'ImmediateAppend' }, 'conversation_shape_matches_primitive');
    expectGuard(running(), { ...conv(), primitive_kind: 'None' }, 'conversation_shape_matches_primitive');
  });

  it.each(['Ready', 'Completed', 'Failed', 'Cancelled'] as const)('turn_resettable accepts %s', (turn_phase) => {
    expect(ok(running({ turn_phase }), conv()).transition).toBe('StartConversationRunRunning');
    expect(ok(running({ turn_phase }), { type: 'StartImmediateAppend', ...r1 }).transition).toBe(
      'StartImmediateAppendRunning',
    );
  });

  it.each(['ApplyingPrimitive', 'CallingLlm', 'WaitingForOps', 'DrainingBoundary', 'Extracting', 'ErrorRecovery', 'Cancelling'] as const)(
    'turn_resettable refuses %s',
    (turn_phase) => {
      expectGuard(running({ turn_phase }), conv(), 'turn_resettable');
      expectGuard(running({ turn_phase }), { type: 'StartImmediateAppend', ...r1 }, 'turn_resettable');
      expectGuard(settled('Attached', { turn_phase }), conv(), 'turn_resettable');
    },
  );

  it.each(['Retired', 'Stopped', 'Destroyed'] as const)('StartConversationRun has no arm in %s', (phase) => {
    expectNoArm(settled(phase), conv());
  });

  it('StartImmediateAppend: Initializing / Attached / Running, not Idle', () => {
    const input = { type: 'StartImmediateAppend', run_id: 'run-3' } as const;
    for (const [phase, name] of [
      ['Initializing', 'StartImmediateAppendInitializing'],
      ['Attached', 'StartImmediateAppendAttached'],
    ] as const) {
      const t = ok(settled(phase, { ...DIRTY_TURN, vision_enabled: true, max_extraction_retries: 4 }), input);
      expect(t.transition).toBe(name);
      expect(t.state).toMatchObject({
        lifecycle_phase: 'Running',
        current_run_id: 'run-3',
        pre_run_phase: 'Attached',
        turn_phase: 'ApplyingPrimitive',
        primitive_kind: 'ImmediateAppend',
        admitted_content_shape: 'ImmediateAppend',
        vision_enabled: false,
        image_tool_results_enabled: false,
        max_extraction_retries: 0,
      });
      expectPerTurnReset(t.state);
      expect(t.effects).toEqual([{ type: 'TurnRunStarted', run_id: 'run-3' }]);
    }
    const t = ok(running({ pre_run_phase: 'Retired' }), input);
    expect(t.transition).toBe('StartImmediateAppendRunning');
    expect(t.state.pre_run_phase).toBe('Retired');
    for (const phase of ['Idle', 'Retired', 'Stopped', 'Destroyed'] as const) expectNoArm(settled(phase), input);
  });
});

// ---------------------------------------------------------------------------------------------
// §4.3 turn-phase machine

interface Row {
  readonly name: string;
  readonly pre: Partial<MachineState>;
  readonly input: RunInput;
  readonly turn: TurnPhase;
  readonly effects: readonly string[];
  readonly check?: (s: MachineState) => void;
}

const CONV = { primitive_kind: 'ConversationTurn' } as const;
const IMM = { primitive_kind: 'ImmediateAppend', admitted_content_shape: 'ImmediateAppend' } as const;

const ROWS: readonly Row[] = [
  {
    name: 'PrimitiveAppliedConversation',
    pre: { turn_phase: 'ApplyingPrimitive', ...CONV, cancel_after_boundary: true },
    input: { type: 'PrimitiveApplied', ...r1 },
    turn: 'CallingLlm',
    effects: ['TurnCheckCompaction'],
    check: (s) => expect(s.cancel_after_boundary).toBe(true),
  },
  {
    name: 'PrimitiveAppliedImmediateCompleted',
    pre: { turn_phase: 'ApplyingPrimitive', ...IMM, extraction_active: true },
    input: { type: 'PrimitiveApplied', ...r1 },
    turn: 'Completed',
    effects: ['TurnBoundaryApplied', 'TurnRunCompleted'],
    check: (s) =>
      expect(s).toMatchObject({
        boundary_count: 1,
        extraction_active: false,
        turn_terminal_run_id: 'run-1',
        terminal_outcome: 'Completed',
      }),
  },
  {
    name: 'PrimitiveAppliedImmediateCancelled',
    pre: { turn_phase: 'ApplyingPrimitive', ...IMM, cancel_after_boundary: true, boundary_cancel_dispatch_pending: true },
    input: { type: 'PrimitiveApplied', ...r1 },
    turn: 'Cancelled',
    effects: ['TurnBoundaryApplied', 'TurnRunCancelled'],
    check: (s) =>
      expect(s).toMatchObject({
        boundary_count: 1,
        cancel_after_boundary: false,
        boundary_cancel_dispatch_pending: false,
        turn_terminal_run_id: 'run-1',
        terminal_outcome: 'Cancelled',
      }),
  },
  {
    name: 'LlmReturnedToolCallsToWaiting',
    pre: { turn_phase: 'CallingLlm' },
    input: { type: 'LlmReturnedToolCalls', ...r1, tool_calls: 3 },
    turn: 'WaitingForOps',
    effects: [],
    check: (s) => expect(s.tool_calls_pending).toBe(3),
  },
  {
    name: 'LlmReturnedToolCallsToBoundary',
    pre: { turn_phase: 'CallingLlm', tool_calls_pending: 2 },
    input: { type: 'LlmReturnedToolCalls', ...r1, tool_calls: 0 },
    turn: 'DrainingBoundary',
    effects: [],
    check: (s) => expect(s.tool_calls_pending).toBe(0),
  },
  {
    name: 'LlmReturnedTerminal',
    pre: { turn_phase: 'CallingLlm' },
    input: { type: 'LlmReturnedTerminal', ...r1 },
    turn: 'DrainingBoundary',
    effects: [],
  },
  {
    name: 'RegisterPendingOps',
    pre: { turn_phase: 'CallingLlm', tool_calls_pending: 2 },
    input: { type: 'RegisterPendingOps', ...r1, op_refs: ['op-2', 'op-1'], barrier_operation_ids: ['op-2'] },
    turn: 'WaitingForOps',
    effects: [],
    check: (s) =>
      expect(s).toMatchObject({
        pending_op_refs: ['op-1', 'op-2'],
        barrier_operation_ids: ['op-2'],
        has_barrier_ops: true,
        barrier_satisfied: false,
        tool_calls_pending: 0,
      }),
  },
  {
    name: 'RegisterPendingOps',
    pre: { turn_phase: 'WaitingForOps', barrier_satisfied: false },
    input: { type: 'RegisterPendingOps', ...r1, op_refs: ['op-3'], barrier_operation_ids: [] },
    turn: 'WaitingForOps',
    effects: [],
    check: (s) => expect(s).toMatchObject({ has_barrier_ops: false, barrier_satisfied: true }),
  },
  {
    name: 'OpsBarrierSatisfied',
    pre: {
      turn_phase: 'WaitingForOps',
      pending_op_refs: ['op-1', 'op-3'],
      barrier_operation_ids: ['op-1', 'op-2'],
      has_barrier_ops: true,
    },
    input: { type: 'OpsBarrierSatisfied', ...r1, operation_ids: ['op-2', 'op-1'] },
    turn: 'WaitingForOps',
    effects: [],
    check: (s) =>
      expect(s).toMatchObject({
        barrier_satisfied: true,
        pending_op_refs: [],
        barrier_operation_ids: [],
        has_barrier_ops: false,
      }),
  },
  {
    name: 'ToolCallsResolvedToCalling',
    pre: { turn_phase: 'WaitingForOps', barrier_satisfied: false },
    input: { type: 'ToolCallsResolved', ...r1 },
    turn: 'CallingLlm',
    effects: ['TurnCheckCompaction'],
  },
  {
    name: 'ToolCallsResolvedToBoundary',
    pre: { turn_phase: 'WaitingForOps', barrier_satisfied: true },
    input: { type: 'ToolCallsResolved', ...r1 },
    turn: 'DrainingBoundary',
    effects: [],
  },
  {
    name: 'CallbackPendingCompleted',
    pre: {
      turn_phase: 'WaitingForOps',
      tool_calls_pending: 2,
      pending_op_refs: ['op-1'],
      barrier_operation_ids: ['op-1'],
      has_barrier_ops: true,
      extraction_active: true,
    },
    input: { type: 'CallbackPending', ...r1 },
    turn: 'Completed',
    effects: ['TurnRunCompleted'],
    check: (s) =>
      expect(s).toMatchObject({
        tool_calls_pending: 0,
        pending_op_refs: [],
        barrier_operation_ids: [],
        has_barrier_ops: false,
        extraction_active: false,
        turn_terminal_run_id: 'run-1',
        terminal_outcome: 'Completed',
        terminal_cause_kind: null,
      }),
  },
  {
    name: 'BoundaryContinueToCalling',
    pre: { turn_phase: 'DrainingBoundary', boundary_count: 2 },
    input: { type: 'BoundaryContinue', ...r1 },
    turn: 'CallingLlm',
    effects: ['TurnBoundaryApplied', 'TurnCheckCompaction'],
    check: (s) => expect(s.boundary_count).toBe(3),
  },
  {
    name: 'BoundaryContinueToCancelled',
    pre: { turn_phase: 'DrainingBoundary', cancel_after_boundary: true, boundary_cancel_dispatch_pending: true },
    input: { type: 'BoundaryContinue', ...r1 },
    turn: 'Cancelled',
    effects: ['TurnBoundaryApplied', 'TurnRunCancelled'],
    check: (s) =>
      expect(s).toMatchObject({
        boundary_count: 1,
        cancel_after_boundary: false,
        boundary_cancel_dispatch_pending: false,
        terminal_outcome: 'Cancelled',
        turn_terminal_run_id: 'run-1',
      }),
  },
  {
    name: 'BoundaryCompleteCompleted',
    pre: { turn_phase: 'DrainingBoundary' },
    input: { type: 'BoundaryComplete', ...r1 },
    turn: 'Completed',
    effects: ['TurnBoundaryApplied', 'TurnRunCompleted'],
    check: (s) =>
      expect(s).toMatchObject({ boundary_count: 1, terminal_outcome: 'Completed', turn_terminal_run_id: 'run-1' }),
  },
  {
    name: 'BoundaryCompleteCancelled',
    pre: { turn_phase: 'DrainingBoundary', cancel_after_boundary: true, boundary_cancel_dispatch_pending: true },
    input: { type: 'BoundaryComplete', ...r1 },
    turn: 'Cancelled',
    effects: ['TurnBoundaryApplied', 'TurnRunCancelled'],
    check: (s) =>
      expect(s).toMatchObject({ boundary_count: 1, cancel_after_boundary: false, terminal_outcome: 'Cancelled' }),
  },
  {
    name: 'EnterExtraction',
    pre: { turn_phase: 'DrainingBoundary' },
    input: { type: 'EnterExtraction', ...r1, max_retries: 2 },
    turn: 'Extracting',
    effects: [],
    check: (s) => expect(s).toMatchObject({ max_extraction_retries: 2, extraction_active: true }),
  },
  {
    name: 'ExtractionStart',
    pre: { turn_phase: 'Extracting', extraction_active: true },
    input: { type: 'ExtractionStart', ...r1 },
    turn: 'CallingLlm',
    effects: ['TurnCheckCompaction'],
  },
  {
    name: 'ExtractionValidationPassed',
    pre: { turn_phase: 'Extracting', extraction_active: true },
    input: { type: 'ExtractionValidationPassed', ...r1 },
    turn: 'Completed',
    effects: ['TurnRunCompleted'],
    check: (s) =>
      expect(s).toMatchObject({ extraction_active: false, turn_terminal_run_id: 'run-1', terminal_outcome: 'Completed' }),
  },
  {
    name: 'ExtractionValidationFailedRetry',
    pre: { turn_phase: 'Extracting', extraction_active: true, extraction_attempts: 1, max_extraction_retries: 2 },
    input: { type: 'ExtractionValidationFailed', ...r1, error: 'bad' },
    turn: 'CallingLlm',
    effects: ['TurnCheckCompaction'],
    check: (s) => expect(s).toMatchObject({ extraction_attempts: 2, extraction_active: true }),
  },
  {
    name: 'ExtractionValidationFailedExhausted',
    pre: { turn_phase: 'Extracting', extraction_active: true, extraction_attempts: 2, max_extraction_retries: 2 },
    input: { type: 'ExtractionValidationFailed', ...r1, error: 'bad' },
    turn: 'Completed',
    effects: ['TurnRunCompleted'],
    check: (s) =>
      expect(s).toMatchObject({
        extraction_attempts: 3,
        extraction_active: false,
        terminal_outcome: 'Completed',
        terminal_cause_kind: null,
      }),
  },
  ...(['Extracting', 'CallingLlm', 'DrainingBoundary'] as const).map(
    (turn_phase): Row => ({
      name: 'ExtractionFailedTerminal',
      pre: { turn_phase, extraction_active: true, extraction_attempts: 1 },
      input: { type: 'ExtractionFailed', ...r1, error: 'gave up' },
      turn: 'Completed',
      effects: ['TurnRunCompleted'],
      check: (s) =>
        expect(s).toMatchObject({
          extraction_attempts: 2,
          extraction_active: false,
          terminal_outcome: 'Completed',
          terminal_cause_kind: null,
        }),
    }),
  ),
  ...(['CallingLlm', 'WaitingForOps', 'DrainingBoundary', 'Extracting'] as const).map(
    (turn_phase): Row => ({
      name: 'RecoverableFailure',
      pre: { turn_phase },
      input: {
        type: 'RecoverableFailure',
        ...r1,
        kind: 'RateLimited',
        attempt: 2,
        max_retries: 2,
        delay_ms: 750,
        error: 'slow down',
      },
      turn: 'ErrorRecovery',
      effects: [],
      check: (s) =>
        expect(s).toMatchObject({
          llm_retry_attempt: 2,
          llm_retry_max_retries: 2,
          llm_retry_selected_delay_ms: 750,
          llm_retry_last_failure_kind: 'RateLimited',
        }),
    }),
  ),
  {
    name: 'RetryRequested',
    pre: { turn_phase: 'ErrorRecovery', llm_retry_attempt: 2 },
    input: { type: 'RetryRequested', ...r1, attempt: 2 },
    turn: 'CallingLlm',
    effects: ['TurnCheckCompaction'],
  },
  {
    name: 'FatalFailure',
    pre: { turn_phase: 'Ready', extraction_active: true },
    input: { type: 'FatalFailure', ...r1, source: 'ToolError', error: 'tool blew up' },
    turn: 'Failed',
    effects: ['TurnRunFailed'],
    check: (s) =>
      expect(s).toMatchObject({
        extraction_active: false,
        turn_terminal_run_id: 'run-1',
        terminal_outcome: 'Failed',
        terminal_cause_kind: 'ToolFailure',
      }),
  },
  {
    name: 'TurnLimitReached',
    pre: { turn_phase: 'CallingLlm' },
    input: { type: 'TurnLimitReached', ...r1, turn_count: 5, max_turns: 5 },
    turn: 'Failed',
    effects: ['TurnRunFailed'],
    check: (s) => expect(s).toMatchObject({ terminal_outcome: 'Failed', terminal_cause_kind: 'TurnLimitReached' }),
  },
  {
    name: 'BudgetExhausted',
    pre: { turn_phase: 'WaitingForOps' },
    input: { type: 'BudgetExhausted', ...r1 },
    turn: 'Failed',
    effects: ['TurnRunFailed'],
    check: (s) => expect(s).toMatchObject({ terminal_outcome: 'BudgetExhausted', terminal_cause_kind: 'BudgetExhausted' }),
  },
  {
    name: 'TimeBudgetExceeded',
    pre: { turn_phase: 'Cancelling' },
    input: { type: 'TimeBudgetExceeded', ...r1 },
    turn: 'Failed',
    effects: ['TurnRunFailed'],
    check: (s) =>
      expect(s).toMatchObject({ terminal_outcome: 'TimeBudgetExceeded', terminal_cause_kind: 'TimeBudgetExceeded' }),
  },
  {
    name: 'CancelNow',
    pre: { turn_phase: 'WaitingForOps' },
    input: { type: 'CancelNow', ...r1 },
    turn: 'Cancelling',
    effects: [],
  },
  {
    name: 'RequestCancelAfterBoundary',
    pre: { turn_phase: 'CallingLlm' },
    input: { type: 'RequestCancelAfterBoundary', ...r1 },
    turn: 'CallingLlm',
    effects: [],
    check: (s) => expect(s.cancel_after_boundary).toBe(true),
  },
  {
    name: 'CancellationObserved',
    pre: { turn_phase: 'Cancelling', extraction_active: true },
    input: { type: 'CancellationObserved', ...r1 },
    turn: 'Cancelled',
    effects: ['TurnRunCancelled'],
    check: (s) =>
      expect(s).toMatchObject({ extraction_active: false, turn_terminal_run_id: 'run-1', terminal_outcome: 'Cancelled' }),
  },
  ...(['Completed', 'Failed', 'Cancelled'] as const).map(
    (turn_phase): Row => ({
      name: 'AcknowledgeTerminal',
      pre: {
        ...DIRTY_TURN,
        turn_phase,
        primitive_kind: 'ConversationTurn',
        admitted_content_shape: 'Conversation',
        vision_enabled: true,
        image_tool_results_enabled: true,
      },
      input: { type: 'AcknowledgeTerminal', ...r1, outcome: 'Completed' },
      turn: 'Ready',
      effects: [],
      check: (s) =>
        expect(s).toMatchObject({
          primitive_kind: null,
          admitted_content_shape: null,
          vision_enabled: false,
          image_tool_results_enabled: false,
          tool_calls_pending: 0,
          boundary_count: 0,
          cancel_after_boundary: false,
          boundary_cancel_dispatch_pending: false,
          boundary_cancel_dispatch_generation: 2,
          extraction_attempts: 0,
          llm_retry_attempt: 0,
          terminal_outcome: 'Completed',
          terminal_cause_kind: null,
        }),
    }),
  ),
];

describe('turn-phase machine (§4.3): every row accepted', () => {
  it.each(ROWS.map((r, i) => [`${r.name} #${i}`, r] as const))('%s', (_label, row) => {
    const pre = running(row.pre);
    const t = ok(pre, row.input);
    expect(t.transition).toBe(row.name);
    expect(t.from).toBe('Running');
    expect(t.to).toBe('Running');
    expect(t.state.turn_phase).toBe(row.turn);
    expect(t.state.current_run_id).toBe('run-1');
    expect(t.state.pre_run_phase).toBe('Idle');
    expect(t.effects.map((e) => e.type)).toEqual(row.effects);
    for (const e of t.effects) {
      if ('run_id' in e) expect(e.run_id).toBe('run-1');
    }
    row.check?.(t.state);
  });

  it.each(ROWS.map((r, i) => [`${r.name} #${i}`, r] as const))('%s refuses a different run', (_label, row) => {
    expectGuard(running({ ...row.pre, current_run_id: 'run-2' }), row.input, 'run_matches_current');
  });

  it.each(ROWS.map((r, i) => [`${r.name} #${i}`, r] as const))('%s has no arm outside Running', (_label, row) => {
    for (const phase of ['Initializing', 'Idle', 'Attached', 'Retired', 'Stopped', 'Destroyed'] as const) {
      expectNoArm(settled(phase, row.pre), row.input);
    }
  });

  it('effect payloads carry post-update values (R4)', () => {
    const t = ok(running({ turn_phase: 'DrainingBoundary', boundary_count: 4 }), { type: 'BoundaryContinue', ...r1 });
    expect(t.effects).toEqual([
      { type: 'TurnBoundaryApplied', run_id: 'run-1', boundary_count: 5 },
      { type: 'TurnCheckCompaction', run_id: 'run-1' },
    ]);
    const c = ok(running({ turn_phase: 'DrainingBoundary' }), { type: 'BoundaryComplete', ...r1 });
    expect(c.effects).toContainEqual({ type: 'TurnRunCompleted', run_id: 'run-1', outcome: 'Completed' });
    const x = ok(running({ turn_phase: 'Cancelling' }), { type: 'CancellationObserved', ...r1 });
    expect(x.effects).toEqual([{ type: 'TurnRunCancelled', run_id: 'run-1', reason: 'Observed' }]);
    const f = ok(running({ turn_phase: 'CallingLlm' }), { type: 'FatalFailure', ...r1, source: 'Llm', error: 'e1' });
    expect(f.effects).toEqual([{ type: 'TurnRunFailed', run_id: 'run-1', cause: 'LlmFailure', error: 'e1' }]);
    const l = ok(running(), { type: 'TurnLimitReached', ...r1, turn_count: 3, max_turns: 2 });
    expect(l.effects).toEqual([
      { type: 'TurnRunFailed', run_id: 'run-1', cause: 'TurnLimitReached', error: 'TurnLimitReached' },
    ]);
    const b = ok(running(), { type: 'BudgetExhausted', ...r1 });
    expect(b.effects).toEqual([
      { type: 'TurnRunFailed', run_id: 'run-1', cause: 'BudgetExhausted', error: 'BudgetExhausted' },
    ]);
  });
});

describe('turn-phase machine (§4.3): rejections name the guard', () => {
  const cases: readonly [string, Partial<MachineState>, RunInput, string][] = [
    ['PrimitiveApplied outside ApplyingPrimitive', { turn_phase: 'CallingLlm', ...CONV }, { type: 'PrimitiveApplied', ...r1 }, 'turn_applying_primitive'],
    ['PrimitiveApplied with no primitive', { turn_phase: 'ApplyingPrimitive' }, { type: 'PrimitiveApplied', ...r1 }, 'primitive_is_conversation_turn'],
    ['LlmReturnedToolCalls outside CallingLlm', { turn_phase: 'WaitingForOps' }, { type: 'LlmReturnedToolCalls', ...r1, tool_calls: 1 }, 'turn_calling_llm'],
    ['LlmReturnedTerminal outside CallingLlm', { turn_phase: 'DrainingBoundary' }, { type: 'LlmReturnedTerminal', ...r1 }, 'turn_calling_llm'],
    ['RegisterPendingOps in DrainingBoundary', { turn_phase: 'DrainingBoundary' }, { type: 'RegisterPendingOps', ...r1, op_refs: [], barrier_operation_ids: [] }, 'turn_calling_llm_or_waiting_for_ops'],
    ['OpsBarrierSatisfied outside WaitingForOps', { turn_phase: 'CallingLlm' }, { type: 'OpsBarrierSatisfied', ...r1, operation_ids: [] }, 'turn_waiting_for_ops'],
    ['OpsBarrierSatisfied with other ids', { turn_phase: 'WaitingForOps', barrier_operation_ids: ['op-1', 'op-2'] }, { type: 'OpsBarrierSatisfied', ...r1, operation_ids: ['op-1'] }, 'barrier_operation_ids_match'],
    ['ToolCallsResolved outside WaitingForOps', { turn_phase: 'CallingLlm' }, { type: 'ToolCallsResolved', ...r1 }, 'turn_waiting_for_ops'],
    ['CallbackPending outside WaitingForOps', { turn_phase: 'CallingLlm' }, { type: 'CallbackPending', ...r1 }, 'turn_waiting_for_ops'],
    ['BoundaryContinue outside DrainingBoundary', { turn_phase: 'CallingLlm' }, { type: 'BoundaryContinue', ...r1 }, 'turn_draining_boundary'],
    ['BoundaryComplete outside DrainingBoundary', { turn_phase: 'Completed' }, { type: 'BoundaryComplete', ...r1 }, 'turn_draining_boundary'],
    ['EnterExtraction outside DrainingBoundary', { turn_phase: 'CallingLlm' }, { type: 'EnterExtraction', ...r1, max_retries: 1 }, 'turn_draining_boundary'],
    ['ExtractionStart outside Extracting', { turn_phase: 'CallingLlm' }, { type: 'ExtractionStart', ...r1 }, 'turn_extracting'],
    ['ExtractionValidationPassed outside Extracting', { turn_phase: 'CallingLlm' }, { type: 'ExtractionValidationPassed', ...r1 }, 'turn_extracting'],
    ['ExtractionValidationFailed outside Extracting', { turn_phase: 'DrainingBoundary' }, { type: 'ExtractionValidationFailed', ...r1, error: 'e' }, 'turn_extracting'],
    ['ExtractionFailed in WaitingForOps', { turn_phase: 'WaitingForOps' }, { type: 'ExtractionFailed', ...r1, error: 'e' }, 'turn_extracting_calling_llm_or_draining_boundary'],
    ['RecoverableFailure in Ready', { turn_phase: 'Ready' }, { type: 'RecoverableFailure', ...r1, kind: 'RateLimited', attempt: 1, max_retries: 2, delay_ms: 0, error: 'e' }, 'turn_recoverable_phase'],
    ['RecoverableFailure attempt 0', { turn_phase: 'CallingLlm' }, { type: 'RecoverableFailure', ...r1, kind: 'RateLimited', attempt: 0, max_retries: 2, delay_ms: 0, error: 'e' }, 'retry_attempt_positive'],
    ['RecoverableFailure non-recoverable kind', { turn_phase: 'CallingLlm' }, { type: 'RecoverableFailure', ...r1, kind: 'AuthenticationFailed', attempt: 1, max_retries: 2, delay_ms: 0, error: 'e' }, 'failure_kind_recoverable'],
    ['RecoverableFailure attempt > max', { turn_phase: 'CallingLlm' }, { type: 'RecoverableFailure', ...r1, kind: 'CallTimeout', attempt: 3, max_retries: 2, delay_ms: 0, error: 'e' }, 'retry_attempt_within_max'],
    ['RetryRequested outside ErrorRecovery', { turn_phase: 'CallingLlm', llm_retry_attempt: 1 }, { type: 'RetryRequested', ...r1, attempt: 1 }, 'turn_error_recovery'],
    ['RetryRequested stale attempt', { turn_phase: 'ErrorRecovery', llm_retry_attempt: 2 }, { type: 'RetryRequested', ...r1, attempt: 1 }, 'retry_attempt_matches'],
    ['FatalFailure on terminal turn', { turn_phase: 'Failed' }, { type: 'FatalFailure', ...r1, source: 'Llm', error: 'e' }, 'turn_non_terminal'],
    ['FatalFailure Unknown source', { turn_phase: 'CallingLlm' }, { type: 'FatalFailure', ...r1, source: 'Unknown', error: 'e' }, 'failure_source_not_unknown'],
    ['FatalFailure MaxTurnsReached', { turn_phase: 'CallingLlm' }, { type: 'FatalFailure', ...r1, source: 'MaxTurnsReached', error: 'e' }, 'failure_source_not_max_turns_reached'],
    ['TurnLimitReached below max', { turn_phase: 'CallingLlm' }, { type: 'TurnLimitReached', ...r1, turn_count: 1, max_turns: 2 }, 'turn_count_reached_max'],
    ['TurnLimitReached terminal', { turn_phase: 'Completed' }, { type: 'TurnLimitReached', ...r1, turn_count: 2, max_turns: 2 }, 'turn_non_terminal'],
    ['BudgetExhausted terminal', { turn_phase: 'Cancelled' }, { type: 'BudgetExhausted', ...r1 }, 'turn_non_terminal'],
    ['TimeBudgetExceeded terminal', { turn_phase: 'Failed' }, { type: 'TimeBudgetExceeded', ...r1 }, 'turn_non_terminal'],
    ['CancelNow in Ready', { turn_phase: 'Ready' }, { type: 'CancelNow', ...r1 }, 'turn_cancellable'],
    ['CancelNow terminal', { turn_phase: 'Completed' }, { type: 'CancelNow', ...r1 }, 'turn_cancellable'],
    ['RequestCancelAfterBoundary in Ready', { turn_phase: 'Ready' }, { type: 'RequestCancelAfterBoundary', ...r1 }, 'turn_cancellable'],
    ['RequestCancelAfterBoundary terminal', { turn_phase: 'Cancelled' }, { type: 'RequestCancelAfterBoundary', ...r1 }, 'turn_cancellable'],
    ['CancellationObserved outside Cancelling', { turn_phase: 'CallingLlm' }, { type: 'CancellationObserved', ...r1 }, 'turn_cancelling'],
    ['AcknowledgeTerminal non-terminal', { turn_phase: 'CallingLlm' }, { type: 'AcknowledgeTerminal', ...r1, outcome: null }, 'turn_terminal'],
  ];
  it.each(cases)('%s', (_label, pre, input, guardName) => {
    expectGuard(running(pre), input, guardName);
  });

  it('second arms report their own guard in failures', () => {
    const r = rejected(running({ turn_phase: 'ApplyingPrimitive', primitive_kind: 'None' }), { type: 'PrimitiveApplied', ...r1 });
    expect(r.failures).toEqual([
      { arm: 'PrimitiveAppliedConversation', guard: 'primitive_is_conversation_turn' },
      { arm: 'PrimitiveAppliedImmediateCompleted', guard: 'primitive_is_immediate_append' },
      { arm: 'PrimitiveAppliedImmediateCancelled', guard: 'primitive_is_immediate_append' },
    ]);
  });

  it('ExtractionValidationFailed retry/exhausted boundary at attempts == max', () => {
    const s = running({ turn_phase: 'Extracting', extraction_attempts: 0, max_extraction_retries: 0 });
    expect(ok(s, { type: 'ExtractionValidationFailed', ...r1, error: 'e' }).transition).toBe(
      'ExtractionValidationFailedExhausted',
    );
  });

  it('ForceCancelNoRun needs Running, Ready turn and no bound run (unreachable under invariants)', () => {
    const force = { type: 'ForceCancelNoRun' } as const;
    const t = ok(running({ current_run_id: null, pre_run_phase: null, turn_terminal_run_id: 'x' }), force);
    expect(t.transition).toBe('ForceCancelNoRun');
    expect(t.state).toMatchObject({ turn_phase: 'Cancelled', terminal_outcome: 'Cancelled', turn_terminal_run_id: null });
    expect(t.effects).toEqual([]);
    expectGuard(running(), force, 'no_current_run');
    expectGuard(running({ current_run_id: null, turn_phase: 'CallingLlm' }), force, 'turn_ready');
    expectNoArm(settled('Idle'), force);
  });
});

describe('cancel-after-boundary (§4.6)', () => {
  const latch = { boundary_cancel_dispatch_pending: true, boundary_cancel_dispatch_generation: 3 } as const;

  it('ends Cancelled at BoundaryContinue, counting the boundary and clearing both latches', () => {
    const { state, steps } = apply(settled('Attached', latch), [
      conv(),
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'LlmReturnedTerminal', ...r1 },
      // turn start clears the dispatch latch; the boundary hook sets cab again
      { type: 'RequestCancelAfterBoundary', ...r1 },
      { type: 'BoundaryContinue', ...r1 },
    ]);
    expect(steps[0]?.state.boundary_cancel_dispatch_pending).toBe(false);
    expect(steps[3]?.state.cancel_after_boundary).toBe(true);
    expect(steps[4]?.transition).toBe('BoundaryContinueToCancelled');
    expect(state).toMatchObject({
      turn_phase: 'Cancelled',
      boundary_count: 1,
      cancel_after_boundary: false,
      boundary_cancel_dispatch_pending: false,
      boundary_cancel_dispatch_generation: 3,
      terminal_outcome: 'Cancelled',
      turn_terminal_run_id: 'run-1',
    });
    expect(steps[4]?.effects).toEqual([
      { type: 'TurnBoundaryApplied', run_id: 'run-1', boundary_count: 1 },
      { type: 'TurnRunCancelled', run_id: 'run-1', reason: 'Observed' },
    ]);
  });

  it('ends Cancelled at BoundaryComplete after a continued boundary', () => {
    const { state, steps } = apply(settled('Attached'), [
      conv(),
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'LlmReturnedTerminal', ...r1 },
      { type: 'BoundaryContinue', ...r1 },
      { type: 'LlmReturnedToolCalls', ...r1, tool_calls: 0 },
      { type: 'RequestCancelAfterBoundary', ...r1 },
      { type: 'BoundaryComplete', ...r1 },
    ]);
    expect(steps.at(-1)?.transition).toBe('BoundaryCompleteCancelled');
    expect(state).toMatchObject({ turn_phase: 'Cancelled', boundary_count: 2, cancel_after_boundary: false });
  });

  it('ends Cancelled at an immediate-append PrimitiveApplied', () => {
    const { state, steps } = apply(settled('Attached'), [
      { type: 'StartImmediateAppend', ...r1 },
      { type: 'RequestCancelAfterBoundary', ...r1 },
      { type: 'PrimitiveApplied', ...r1 },
    ]);
    expect(steps.at(-1)?.transition).toBe('PrimitiveAppliedImmediateCancelled');
    expect(state).toMatchObject({ turn_phase: 'Cancelled', boundary_count: 1, cancel_after_boundary: false });
  });

  it('a conversation PrimitiveApplied is not a boundary: the latch carries to the next one', () => {
    const { state } = apply(settled('Attached'), [
      conv(),
      { type: 'RequestCancelAfterBoundary', ...r1 },
      { type: 'PrimitiveApplied', ...r1 },
    ]);
    expect(state).toMatchObject({ turn_phase: 'CallingLlm', cancel_after_boundary: true, boundary_count: 0 });
  });

  it('AcknowledgeTerminal clears the latches; the dispatch generation never decreases', () => {
    const t = ok(running({ turn_phase: 'Completed', cancel_after_boundary: true, ...latch }), {
      type: 'AcknowledgeTerminal',
      ...r1,
      outcome: null,
    });
    expect(t.state).toMatchObject({
      cancel_after_boundary: false,
      boundary_cancel_dispatch_pending: false,
      boundary_cancel_dispatch_generation: 3,
      terminal_outcome: null,
    });
  });

  it('hard cancel goes through Cancelling', () => {
    const { state, steps } = apply(settled('Attached'), [
      conv(),
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'CancelNow', ...r1 },
      { type: 'CancellationObserved', ...r1 },
    ]);
    expect(steps[2]?.state.turn_phase).toBe('Cancelling');
    expect(state).toMatchObject({ turn_phase: 'Cancelled', terminal_outcome: 'Cancelled' });
  });
});

// ---------------------------------------------------------------------------------------------
// §4.4 / §4.5 run-level terminal facts

const runFailed = (over: Partial<Extract<RunInput, { type: 'RunFailed' }>> = {}): RunInput => ({
  type: 'RunFailed',
  run_id: 'run-1',
  runtime_apply_failure_cause: null,
  runtime_apply_failure_message: null,
  machine_terminal_failure_observed: false,
  source: null,
  error: 'kaput',
  ...over,
});

describe('RunCompleted / RunCancelled (§4.4)', () => {
  it('RunCompleted completes a non-terminal turn and opens the slot', () => {
    const t = ok(running({ turn_phase: 'CallingLlm', extraction_active: true }), { type: 'RunCompleted', ...r1 });
    expect(t.transition).toBe('RunCompleted');
    expect(t.to).toBe('Running');
    expect(t.state).toMatchObject({
      turn_phase: 'Completed',
      extraction_active: false,
      terminal_outcome: 'Completed',
      turn_terminal_run_id: 'run-1',
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: false,
    });
    expect(t.effects).toEqual([]);
  });

  it('RunCompleted keeps an already-terminal turn', () => {
    const t = ok(running({ turn_phase: 'Failed', terminal_outcome: 'Failed', terminal_cause_kind: 'LlmFailure' }), {
      type: 'RunCompleted',
      ...r1,
    });
    expect(t.state).toMatchObject({ turn_phase: 'Failed', terminal_outcome: 'Failed', turn_terminal_run_id: 'run-1' });
  });

  it('RunCancelled cancels the turn and opens the slot', () => {
    const t = ok(running({ turn_phase: 'DrainingBoundary', extraction_active: true }), { type: 'RunCancelled', ...r1 });
    expect(t.state).toMatchObject({
      turn_phase: 'Cancelled',
      extraction_active: false,
      terminal_outcome: 'Cancelled',
      turn_terminal_run_id: 'run-1',
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: false,
    });
  });

  it.each(['RunCompleted', 'RunCancelled'] as const)('%s refuses another run and other phases', (type) => {
    expectGuard(running(), { type, run_id: 'run-2' }, 'run_matches_binding');
    expectNoArm(settled('Idle'), { type, ...r1 });
  });
});

describe('RunFailed (§4.4) and the §4.5 mapping', () => {
  const TABLE: readonly [RunFailureSourceKind, TurnTerminalOutcome, TurnTerminalCauseKind][] = [
    ['TokenBudgetExceeded', 'BudgetExhausted', 'BudgetExhausted'],
    ['ToolCallBudgetExceeded', 'BudgetExhausted', 'BudgetExhausted'],
    ['TimeBudgetExceeded', 'TimeBudgetExceeded', 'TimeBudgetExceeded'],
    ['StructuredOutputValidationFailed', 'StructuredOutputValidationFailed', 'StructuredOutputValidationFailed'],
    ['InvalidOutputSchema', 'StructuredOutputValidationFailed', 'StructuredOutputValidationFailed'],
    ['HookDenied', 'Failed', 'HookDenied'],
    ['HookTimeout', 'Failed', 'HookFailure'],
    ['HookExecutionFailed', 'Failed', 'HookFailure'],
    ['HookConfigInvalid', 'Failed', 'HookFailure'],
    ['Llm', 'Failed', 'LlmFailure'],
    ['ToolError', 'Failed', 'ToolFailure'],
    ['InvalidToolAccess', 'Failed', 'ToolFailure'],
    ['LlmRetryExhausted', 'Failed', 'RetryExhausted'],
    ['MaxTurnsReached', 'Failed', 'TurnLimitReached'],
    ['Store', 'Failed', 'FatalFailure'],
    ['Mcp', 'Failed', 'FatalFailure'],
    ['Cancelled', 'Failed', 'FatalFailure'],
    ['Internal', 'Failed', 'FatalFailure'],
  ];

  it('the mapping table covers every source but Unknown', () => {
    expect(new Set(TABLE.map(([s]) => s))).toEqual(new Set(RUN_FAILURE_SOURCE_KINDS.filter((s) => s !== 'Unknown')));
  });

  it.each(TABLE)('%s → %s / %s', (source, outcome, cause) => {
    expect(outcomeAndCauseForFailureSource(source)).toEqual({ outcome, cause });
    expect(outcomeMatchesCause(outcome, cause)).toBe(true);
    const t = ok(running({ turn_phase: 'CallingLlm', extraction_active: true }), runFailed({ source }));
    expect(t.transition).toBe('RunFailed');
    expect(t.state).toMatchObject({
      turn_phase: 'Failed',
      extraction_active: false,
      turn_terminal_run_id: 'run-1',
      terminal_outcome: outcome,
      terminal_cause_kind: cause,
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: false,
    });
    expect(t.effects).toEqual([
      { type: 'TurnRunFailed', run_id: 'run-1', cause, error: 'kaput' },
      { type: 'PostAdmissionSignal', signal: 'WakeLoop' },
    ]);
    if (source !== 'MaxTurnsReached') {
      const f = ok(running({ turn_phase: 'CallingLlm' }), { type: 'FatalFailure', ...r1, source, error: 'x' });
      expect(f.state).toMatchObject({ terminal_outcome: outcome, terminal_cause_kind: cause });
    }
  });

  it('outcomeMatchesCause', () => {
    expect(outcomeMatchesCause('Failed', 'BudgetExhausted')).toBe(false);
    expect(outcomeMatchesCause('BudgetExhausted', 'LlmFailure')).toBe(false);
    expect(outcomeMatchesCause('Failed', 'RuntimeApplyFailure')).toBe(true);
    expect(outcomeMatchesCause(null, 'FatalFailure')).toBe(false);
    expect(outcomeMatchesCause('Completed', 'FatalFailure')).toBe(false);
  });

  it('a runtime apply failure yields Failed / RuntimeApplyFailure and records cause and message', () => {
    const t = ok(
      running({ turn_phase: 'ApplyingPrimitive' }),
      runFailed({ runtime_apply_failure_cause: 'ExecutorLost', runtime_apply_failure_message: 'gone', source: 'Llm' }),
    );
    expect(t.state).toMatchObject({
      terminal_outcome: 'Failed',
      terminal_cause_kind: 'RuntimeApplyFailure',
      last_runtime_apply_failure_cause: 'ExecutorLost',
      last_runtime_apply_failure_message: 'gone',
    });
    expect(t.effects[0]).toEqual({ type: 'TurnRunFailed', run_id: 'run-1', cause: 'RuntimeApplyFailure', error: 'kaput' });
  });

  it('no source and no apply cause falls back to Failed / FatalFailure', () => {
    const t = ok(running(), runFailed());
    expect(t.state).toMatchObject({ terminal_outcome: 'Failed', terminal_cause_kind: 'FatalFailure' });
  });

  it('keeps an existing outcome and known cause (observed machine terminal)', () => {
    const t = ok(
      running({ turn_phase: 'Failed', terminal_outcome: 'BudgetExhausted', terminal_cause_kind: 'BudgetExhausted' }),
      runFailed({ machine_terminal_failure_observed: true }),
    );
    expect(t.state).toMatchObject({ terminal_outcome: 'BudgetExhausted', terminal_cause_kind: 'BudgetExhausted' });
    expect(t.effects[0]).toMatchObject({ cause: 'BudgetExhausted' });
  });

  it('fills only absent fields: after a Completed turn the outcome stays Completed (§9.2.11 caveat)', () => {
    const t = ok(running({ turn_phase: 'Completed', terminal_outcome: 'Completed' }), runFailed({ source: 'Store' }));
    expect(t.state).toMatchObject({ turn_phase: 'Failed', terminal_outcome: 'Completed', terminal_cause_kind: 'FatalFailure' });
  });

  it('outcome Some(None) and cause Unknown count as absent', () => {
    const t = ok(running({ terminal_outcome: 'None', terminal_cause_kind: 'Unknown' }), runFailed({ source: 'HookDenied' }));
    expect(t.state).toMatchObject({ terminal_outcome: 'Failed', terminal_cause_kind: 'HookDenied' });
  });

  const failedTurn = { turn_phase: 'Failed', terminal_outcome: 'Failed', terminal_cause_kind: 'LlmFailure' } as const;
  const guardCases: readonly [string, Partial<MachineState>, RunInput, string][] = [
    ['other run', failedTurn, runFailed({ run_id: 'run-2' }), 'run_matches_binding'],
    [
      'apply cause with observed machine terminal',
      failedTurn,
      runFailed({ machine_terminal_failure_observed: true, runtime_apply_failure_cause: 'ApplyFailed' }),
      'runtime_apply_failure_excludes_machine_terminal',
    ],
    [
      'observed with a source',
      failedTurn,
      runFailed({ machine_terminal_failure_observed: true, source: 'Llm' }),
      'machine_terminal_failure_has_no_source',
    ],
    ['observed, outcome absent', { ...failedTurn, terminal_outcome: null }, runFailed({ machine_terminal_failure_observed: true }), 'machine_terminal_failure_outcome_is_failure'],
    ['observed, outcome Some(None)', { ...failedTurn, terminal_outcome: 'None' }, runFailed({ machine_terminal_failure_observed: true }), 'machine_terminal_failure_outcome_is_failure'],
    ['observed, outcome Completed', { ...failedTurn, terminal_outcome: 'Completed' }, runFailed({ machine_terminal_failure_observed: true }), 'machine_terminal_failure_outcome_is_failure'],
    ['observed, outcome Cancelled', { ...failedTurn, terminal_outcome: 'Cancelled' }, runFailed({ machine_terminal_failure_observed: true }), 'machine_terminal_failure_outcome_is_failure'],
    ['observed, cause absent', { ...failedTurn, terminal_cause_kind: null }, runFailed({ machine_terminal_failure_observed: true }), 'machine_terminal_failure_cause_known'],
    ['observed, cause Unknown', { ...failedTurn, terminal_cause_kind: 'Unknown' }, runFailed({ machine_terminal_failure_observed: true }), 'machine_terminal_failure_cause_known'],
    [
      'observed, outcome inconsistent with cause',
      { ...failedTurn, terminal_outcome: 'BudgetExhausted' },
      runFailed({ machine_terminal_failure_observed: true }),
      'machine_terminal_failure_outcome_matches_cause',
    ],
    ['Unknown source', {}, runFailed({ source: 'Unknown' }), 'failure_source_not_unknown'],
  ];
  it.each(guardCases)('rejects: %s', (_l, pre, input, guardName) => {
    expectGuard(running(pre), input, guardName);
  });

  it('has no arm outside Running', () => {
    for (const phase of ['Initializing', 'Idle', 'Attached', 'Retired', 'Stopped', 'Destroyed'] as const) {
      expectNoArm(settled(phase), runFailed());
    }
  });
});

describe('returning from Running (§4.4)', () => {
  const PRE_RUN: readonly PreRunPhase[] = ['Idle', 'Attached', 'Retired'];
  const completedTurn = { turn_phase: 'Completed', terminal_outcome: 'Completed', terminal_cause_kind: null } as const;
  const failedTurn = { turn_phase: 'Failed', terminal_outcome: 'Failed', terminal_cause_kind: 'ToolFailure' } as const;
  const cancelledTurn = { turn_phase: 'Cancelled', terminal_outcome: 'Cancelled' } as const;

  const RETURNS: readonly [string, Partial<MachineState>, RunInput, readonly string[]][] = [
    ['Commit', completedTurn, { type: 'Commit', input_id: 'in-1', ...r1 }, []],
    ['Fail', failedTurn, { type: 'Fail', ...r1 }, ['RecordTerminalOutcome']],
    ['CancelRun', cancelledTurn, { type: 'CancelRun', ...r1 }, ['RecordTerminalOutcome']],
    ['RollbackRun', { turn_phase: 'ApplyingPrimitive' }, { type: 'RollbackRun', ...r1 }, []],
    ['ServiceTurnCommitted', completedTurn, { type: 'ServiceTurnCommitted', ...r1 }, []],
    ['ServiceTurnCommitted', failedTurn, { type: 'ServiceTurnCommitted', ...r1 }, []],
  ];

  for (const [prefix, turn, input, effects] of RETURNS) {
    it.each(PRE_RUN)(`${prefix}RunningTo%s (turn ${String(turn.turn_phase)})`, (pre) => {
      const t = ok(running({ pre_run_phase: pre, ...turn }), input);
      expect(t.transition).toBe(`${prefix}RunningTo${pre}`);
      expect(t.from).toBe('Running');
      expect(t.to).toBe(pre);
      expect(t.state).toMatchObject({ lifecycle_phase: pre, current_run_id: null, pre_run_phase: null });
      expect(t.effects.map((e) => e.type)).toEqual(effects);
    });

    it(`${prefix} refuses another run and other phases`, () => {
      expectGuard(running({ ...turn }), { ...input, run_id: 'run-2' } as RunInput, 'current_run_id_matches_binding');
      for (const phase of ['Initializing', 'Idle', 'Attached', 'Retired', 'Stopped', 'Destroyed'] as const) {
        expectNoArm(settled(phase, turn), input);
      }
    });
  }

  it('RecordTerminalOutcome carries the run and its outcome', () => {
    const f = ok(running({ pre_run_phase: 'Attached', ...failedTurn }), { type: 'Fail', ...r1 });
    expect(f.effects).toEqual([
      { type: 'RecordTerminalOutcome', input_id: null, terminal_kind: 'Failed', abandon_reason: null, run_id: 'run-1' },
    ]);
    const c = ok(running({ ...cancelledTurn }), { type: 'CancelRun', ...r1 });
    expect(c.effects).toEqual([
      { type: 'RecordTerminalOutcome', input_id: null, terminal_kind: 'Cancelled', abandon_reason: null, run_id: 'run-1' },
    ]);
  });

  it('a pre-run phase mismatch is reported by the first arm', () => {
    const r = rejected(running({ pre_run_phase: 'Retired', current_run_id: 'run-2' }), { type: 'RollbackRun', ...r1 });
    expect(r.failures).toEqual([
      { arm: 'RollbackRunRunningToIdle', guard: 'pre_run_phase_idle' },
      { arm: 'RollbackRunRunningToAttached', guard: 'pre_run_phase_attached' },
      { arm: 'RollbackRunRunningToRetired', guard: 'current_run_id_matches_binding' },
    ]);
  });

  const turnGuardCases: readonly [string, Partial<MachineState>, RunInput, string][] = [
    ['Fail on a non-failed turn', { turn_phase: 'Completed', terminal_cause_kind: 'LlmFailure' }, { type: 'Fail', ...r1 }, 'turn_failed_with_cause'],
    ['Fail without cause', { turn_phase: 'Failed', terminal_cause_kind: null }, { type: 'Fail', ...r1 }, 'turn_failed_with_cause'],
    ['Fail with Unknown cause', { turn_phase: 'Failed', terminal_cause_kind: 'Unknown' }, { type: 'Fail', ...r1 }, 'turn_failed_with_cause'],
    ['CancelRun on a non-cancelled turn', { turn_phase: 'Failed', terminal_outcome: 'Cancelled' }, { type: 'CancelRun', ...r1 }, 'turn_cancelled'],
    ['CancelRun with another outcome', { turn_phase: 'Cancelled', terminal_outcome: 'Completed' }, { type: 'CancelRun', ...r1 }, 'turn_cancelled'],
    ['ServiceTurnCommitted on a running turn', { turn_phase: 'CallingLlm' }, { type: 'ServiceTurnCommitted', ...r1 }, 'turn_completed_or_failed'],
    ['ServiceTurnCommitted on a cancelled turn', { ...cancelledTurn }, { type: 'ServiceTurnCommitted', ...r1 }, 'turn_completed_or_failed'],
    [
      'ServiceTurnCommitted Completed with a cause',
      { ...completedTurn, terminal_cause_kind: 'LlmFailure' },
      { type: 'ServiceTurnCommitted', ...r1 },
      'completed_turn_outcome_completed_without_cause',
    ],
    [
      'ServiceTurnCommitted Completed with another outcome',
      { ...completedTurn, terminal_outcome: 'Cancelled' },
      { type: 'ServiceTurnCommitted', ...r1 },
      'completed_turn_outcome_completed_without_cause',
    ],
    [
      'ServiceTurnCommitted Failed with unknown cause',
      { ...failedTurn, terminal_cause_kind: 'Unknown' },
      { type: 'ServiceTurnCommitted', ...r1 },
      'failed_turn_cause_known_and_consistent',
    ],
    [
      'ServiceTurnCommitted Failed with inconsistent outcome',
      { ...failedTurn, terminal_outcome: 'BudgetExhausted' },
      { type: 'ServiceTurnCommitted', ...r1 },
      'failed_turn_cause_known_and_consistent',
    ],
  ];
  it.each(turnGuardCases)('rejects: %s', (_l, pre, input, guardName) => {
    expectGuard(running(pre), input, guardName);
  });

  it('a retire during the run lands the return arms in Retired', () => {
    const s = running({ pre_run_phase: 'Retired', ...completedTurn });
    expect(ok(s, { type: 'Commit', input_id: 'in-1', ...r1 }).state.lifecycle_phase).toBe('Retired');
  });
});

// ---------------------------------------------------------------------------------------------
// §4.7 reference sequences (input-lifecycle fields staged by hand)

/** Idle, registered and bound; in-1 already staged for run-1's future batch by hand. */
function withStagedInput(phase: 'Idle' | 'Attached' | 'Retired'): MachineState {
  return settled(phase, {
    input_phases: { 'in-1': 'Staged' },
    input_run_associations: { 'in-1': 'run-1' },
    input_attempt_counts: { 'in-1': 1 },
    input_admission_seq: { 'in-1': 1_000_000_000 },
    input_recovery_lanes: { 'in-1': 'Queue' },
    next_admission_seq: 1_000_000_001,
  });
}

const bind = (phase: 'Idle' | 'Attached' | 'Retired'): RunInput =>
  phase === 'Retired' ? { type: 'DrainQueuedRun', ...r1 } : { type: 'Prepare', session_id: 's-1', ...r1 };

const resolve = (
  terminal_observation: 'RunResult' | 'NoResult' | 'CallbackPending' | 'MachineTerminal',
  finalization_observation: 'Succeeded' | 'Failed' = 'Succeeded',
): MachineInput => ({ type: 'ResolveRuntimeCompletionResult', run_id: 'run-1', terminal_observation, finalization_observation });

describe('§4.7 end-to-end reference sequences', () => {
  it.each(['Idle', 'Attached'] as const)('success from %s: Prepare → turn → RunCompleted → Commit → resolve Completed', (phase) => {
    const { state, steps } = apply(withStagedInput(phase), [
      bind(phase),
      conv(),
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'LlmReturnedToolCalls', ...r1, tool_calls: 1 },
      { type: 'RegisterPendingOps', ...r1, op_refs: ['op-1'], barrier_operation_ids: ['op-1'] },
      { type: 'OpsBarrierSatisfied', ...r1, operation_ids: ['op-1'] },
      { type: 'ToolCallsResolved', ...r1 },
      { type: 'BoundaryComplete', ...r1 },
      { type: 'RunCompleted', ...r1 },
      { type: 'Commit', input_id: 'in-1', ...r1 },
      resolve('RunResult'),
    ]);
    expect(steps.map((s) => s.transition)).toEqual([
      `Prepare${phase}`,
      'StartConversationRunRunning',
      'PrimitiveAppliedConversation',
      'LlmReturnedToolCallsToWaiting',
      'RegisterPendingOps',
      'OpsBarrierSatisfied',
      'ToolCallsResolvedToBoundary',
      'BoundaryCompleteCompleted',
      'RunCompleted',
      `CommitRunningTo${phase}`,
      'ResolveRuntimeCompletionResultCompleted',
    ]);
    expect(steps[1]?.state.pre_run_phase).toBe(phase); // the runtime-loop start keeps the pre-run phase
    expect(state).toMatchObject({
      lifecycle_phase: phase,
      current_run_id: null,
      pre_run_phase: null,
      turn_phase: 'Completed',
      terminal_outcome: 'Completed',
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: true,
    });
    // the staged input is untouched by run-lane inputs
    expect(state.input_phases).toEqual({ 'in-1': 'Staged' });
    expect(steps.at(-1)?.effects).toEqual([
      {
        type: 'RuntimeCompletionResultResolved',
        session_id: 's-1',
        runtime_id: 'rt:session:s-1',
        fence_token: 1,
        generation: 1,
        epoch_id: 'epoch-1',
        run_id: 'run-1',
        result_class: 'Completed',
        cleanup_outcome: 'Completed',
      },
    ]);
  });

  it('success in the retired drain (DrainQueuedRun, no Start)', () => {
    const { state, steps } = apply(withStagedInput('Retired'), [
      bind('Retired'),
      { type: 'RunCompleted', ...r1 },
      { type: 'Commit', input_id: 'in-1', ...r1 },
      resolve('NoResult'),
    ]);
    expect(steps.map((s) => s.transition)).toEqual([
      'DrainQueuedRunRetired',
      'RunCompleted',
      'CommitRunningToRetired',
      'ResolveRuntimeCompletionResultWithoutResult',
    ]);
    expect(state.lifecycle_phase).toBe('Retired');
  });

  it.each(['Idle', 'Attached', 'Retired'] as const)('failure from %s: typed turn failure → RunFailed → Fail → AbandonedWithError', (phase) => {
    const { state, steps } = apply(withStagedInput(phase), [
      bind(phase),
      conv(),
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'FatalFailure', ...r1, source: 'HookTimeout', error: 'hook' },
      {
        type: 'RunFailed',
        ...r1,
        runtime_apply_failure_cause: null,
        runtime_apply_failure_message: null,
        machine_terminal_failure_observed: true,
        source: null,
        error: 'hook',
      },
      { type: 'Fail', ...r1 },
      resolve('MachineTerminal'),
    ]);
    expect(steps.map((s) => s.transition).slice(3)).toEqual([
      'FatalFailure',
      'RunFailed',
      `FailRunningTo${phase}`,
      'ResolveRuntimeCompletionResultMachineFailed',
    ]);
    expect(state).toMatchObject({
      lifecycle_phase: phase,
      current_run_id: null,
      terminal_outcome: 'Failed',
      terminal_cause_kind: 'HookFailure',
      runtime_completion_result_resolved: true,
    });
    expect(steps.at(-1)?.effects[0]).toMatchObject({ result_class: 'AbandonedWithError', cleanup_outcome: 'Abandoned' });
  });

  it('failure before any turn terminal: RunFailed(apply cause) → Fail → RuntimeApplyFailed', () => {
    const { state, steps } = apply(withStagedInput('Idle'), [
      bind('Idle'),
      conv(),
      runFailed({ runtime_apply_failure_cause: 'ApplyFailed', runtime_apply_failure_message: 'watchdog' }),
      { type: 'Fail', ...r1 },
      resolve('MachineTerminal'),
    ]);
    expect(steps.at(-1)?.transition).toBe('ResolveRuntimeCompletionResultRuntimeApplyFailed');
    expect(steps.at(-1)?.effects[0]).toMatchObject({ result_class: 'AbandonedWithError', cleanup_outcome: 'RuntimeApplyFailed' });
    expect(state.lifecycle_phase).toBe('Idle');
  });

  it('RollbackRun when no turn failure exists yet', () => {
    const { state } = apply(withStagedInput('Attached'), [bind('Attached'), { type: 'RollbackRun', ...r1 }]);
    expect(state).toMatchObject({ lifecycle_phase: 'Attached', current_run_id: null, pre_run_phase: null });
  });

  it.each(['Idle', 'Attached', 'Retired'] as const)('cancel from %s: boundary cancel → RunCancelled → CancelRun → Cancelled', (phase) => {
    const { state, steps } = apply(withStagedInput(phase), [
      bind(phase),
      conv(),
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'RequestCancelAfterBoundary', ...r1 },
      { type: 'LlmReturnedTerminal', ...r1 },
      { type: 'BoundaryComplete', ...r1 },
      { type: 'RunCancelled', ...r1 },
      { type: 'CancelRun', ...r1 },
      resolve('MachineTerminal'),
    ]);
    expect(steps.map((s) => s.transition).slice(5)).toEqual([
      'BoundaryCompleteCancelled',
      'RunCancelled',
      `CancelRunRunningTo${phase}`,
      'ResolveRuntimeCompletionResultCancelled',
    ]);
    expect(state).toMatchObject({ lifecycle_phase: phase, runtime_completion_result_resolved: true });
    expect(steps.at(-1)?.effects[0]).toMatchObject({ result_class: 'Cancelled', cleanup_outcome: 'Cancelled' });
  });

  it('direct service turn: Start from Attached → ServiceTurnCommitted back to Attached', () => {
    const { state, steps } = apply(settled('Attached'), [
      { type: 'StartImmediateAppend', ...r1 },
      { type: 'PrimitiveApplied', ...r1 },
      { type: 'ServiceTurnCommitted', ...r1 },
    ]);
    expect(steps.at(-1)?.transition).toBe('ServiceTurnCommittedRunningToAttached');
    expect(state).toMatchObject({ lifecycle_phase: 'Attached', current_run_id: null });
  });
});

describe('completion-correlation slot (§4.8)', () => {
  it('a Prepare retaining an unsettled slot keeps the late resolution for the old run valid', () => {
    // run-1 finished; its completion class has not been resolved yet
    const { state: afterRun1 } = apply(withStagedInput('Idle'), [
      bind('Idle'),
      { type: 'RunCompleted', ...r1 },
      { type: 'Commit', input_id: 'in-1', ...r1 },
    ]);
    expect(afterRun1).toMatchObject({ runtime_completion_result_run_id: 'run-1', runtime_completion_result_resolved: false });

    const { state, steps } = apply(afterRun1, [
      { type: 'Prepare', session_id: 's-1', run_id: 'run-2' },
      resolve('RunResult'),
    ]);
    expect(steps[0]?.transition).toBe('PrepareIdleRetainingUnsettledCompletion');
    expect(steps[0]?.state).toMatchObject({
      current_run_id: 'run-2',
      runtime_completion_result_run_id: 'run-1',
      runtime_completion_result_resolved: false,
    });
    expect(steps[1]?.transition).toBe('ResolveRuntimeCompletionResultCompleted');
    expect(state).toMatchObject({ current_run_id: 'run-2', runtime_completion_result_resolved: true });

    // now settled: the next run's terminal moves the slot
    const { state: s2 } = apply(state, [{ type: 'RunCancelled', run_id: 'run-2' }]);
    expect(s2).toMatchObject({ runtime_completion_result_run_id: 'run-2', runtime_completion_result_resolved: false });
  });

  it('a settled slot is cleared by the next Prepare', () => {
    const s = settled('Attached', { runtime_completion_result_run_id: 'run-1', runtime_completion_result_resolved: true });
    const t = ok(s, { type: 'Prepare', session_id: 's-1', run_id: 'run-2' });
    expect(t.state).toMatchObject({ runtime_completion_result_run_id: null, runtime_completion_result_resolved: true });
  });

  it('a resolution for the old run is refused once the slot moved on', () => {
    const s = running({ runtime_completion_result_run_id: 'run-2', runtime_completion_result_resolved: false });
    const r = rejected(s, { ...resolve('RunResult'), run_id: 'run-0' } as MachineInput);
    expect(r.kind).toBe('GuardRejected');
    expect(r.guard).toBe('run_matches_completion_slot');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random run-lane inputs

/**
 * Random sequences rarely name the bound run by chance; most steps are retargeted
 * at the current run so the walk reaches deep into the turn machine.
 */
const TURN_ENDERS: readonly string[] = [
  'Commit',
  'Fail',
  'CancelRun',
  'RollbackRun',
  'ServiceTurnCommitted',
  'ForceCancelNoRun',
  'FatalFailure',
  'RunFailed',
  'RunCompleted',
  'RunCancelled',
  'TurnLimitReached',
  'BudgetExhausted',
  'TimeBudgetExceeded',
  'AcknowledgeTerminal',
  'CancelNow',
];
const turnProgressArb = runInputArb.filter((i) => !TURN_ENDERS.includes(i.type));
const steps = fc.array(
  fc.tuple(
    fc.oneof({ arbitrary: runInputArb, weight: 1 }, { arbitrary: turnProgressArb, weight: 4 }),
    fc.integer({ min: 0, max: 9 }),
  ),
  { minLength: 20, maxLength: 80 },
);
function retarget(input: RunInput, dice: number, s: MachineState): RunInput {
  if (dice < 2 || !('run_id' in input) || s.current_run_id === null) return input;
  if (input.type === 'Prepare' || input.type === 'DrainQueuedRun' || input.type.startsWith('Start')) return input;
  return { ...input, run_id: s.current_run_id } as RunInput;
}

describe('properties (random run inputs)', () => {
  const starts: readonly MachineState[] = [
    settled('Idle'),
    settled('Attached'),
    settled('Retired'),
    running({ active_runtime_id: 'rt:session:s-1', active_fence_token: 1, active_runtime_generation: 1 }),
  ];

  it('rejections are pure; §9.1 run invariants and §9.2 items 10, 12, 13 hold', () => {
    fc.assert(
      fc.property(fc.constantFrom(...starts), steps, (start, raw) => {
        let s = start;
        for (const [rawInput, dice] of raw) {
          const input = retarget(rawInput, dice, s);
          const before = JSON.stringify(s);
          const step = reduce(s, input);
          if (!step.ok) {
            expect(JSON.stringify(s)).toBe(before);
            continue;
          }
          const n = step.state;
          // §9.1
          if (n.lifecycle_phase === 'Running') expect(n.current_run_id).not.toBeNull();
          if (n.current_run_id !== null) expect(['Running', 'Retired']).toContain(n.lifecycle_phase);
          expect(n.current_run_id === null).toBe(n.pre_run_phase === null);
          // §9.2.10: run-scoped inputs name the bound run; leaving Running lands in the pre-run phase
          if ('run_id' in input && s.lifecycle_phase === 'Running' && !input.type.startsWith('Start')) {
            expect(input.run_id).toBe(s.current_run_id);
          }
          if (s.lifecycle_phase === 'Running' && n.lifecycle_phase !== 'Running') {
            expect(n.lifecycle_phase).toBe(s.pre_run_phase);
          }
          // §9.2.12
          expect(n.boundary_cancel_dispatch_generation).toBeGreaterThanOrEqual(s.boundary_cancel_dispatch_generation);
          if (n.boundary_cancel_dispatch_pending) expect(s.boundary_cancel_dispatch_pending).toBe(true);
          // §9.2.13
          if (!n.runtime_completion_result_resolved) expect(n.runtime_completion_result_run_id).not.toBeNull();
          if (input.type === 'Prepare' || input.type === 'DrainQueuedRun') {
            if (!s.runtime_completion_result_resolved) {
              expect(n.runtime_completion_result_run_id).toBe(s.runtime_completion_result_run_id);
            }
          }
          s = n;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('§9.2.11: terminal outcome coherence on Start-initiated turns', () => {
    fc.assert(
      fc.property(steps, (raw) => {
        let s = settled('Attached');
        for (const [rawInput, dice] of raw) {
          const input = retarget(rawInput, dice, s);
          if (input.type === 'RunFailed' || input.type === 'AcknowledgeTerminal') continue;
          const step = reduce(s, input);
          if (!step.ok) continue;
          s = step.state;
          if (s.turn_phase === 'Cancelled') expect(s.terminal_outcome).toBe('Cancelled');
          if (s.turn_phase === 'Completed') {
            expect(s.terminal_outcome).toBe('Completed');
            expect(s.terminal_cause_kind).toBeNull();
          }
          if (s.turn_phase === 'Failed' && s.terminal_cause_kind !== null) {
            expect(outcomeMatchesCause(s.terminal_outcome, s.terminal_cause_kind)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
