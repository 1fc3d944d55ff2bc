import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AdmissionInputKind } from '../../src/machine/arms/admission.js';
import type { ArchiveTerminalInput, RecoverInputLifecycle } from '../../src/machine/arms/input-lifecycle.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { describeRejection, reduce } from '../../src/machine/reduce.js';
import type { Rejection, Step, Transition } from '../../src/machine/reduce.js';
import {
  FIRST_ADMISSION_SEQ,
  FIRST_PRIORITY_ADMISSION_SEQ,
  INPUT_TERMINAL_PHASES,
  initialMachineState,
} from '../../src/machine/state.js';
import type { InputLane, MachineState, Phase } from '../../src/machine/state.js';
import { admissionInputArb, admissionSequenceArb } from './arbitraries/admission.js';
import { inputLifecycleInputArb } from './arbitraries/input-lifecycle.js';

// ---------------------------------------------------------------------------------------------
// helpers

const inPhase = (phase: Phase, extra: Partial<MachineState> = {}): MachineState => ({
  ...initialMachineState(),
  lifecycle_phase: phase,
  session_id: 's-1',
  ...(phase === 'Running' ? { current_run_id: 'run-1', pre_run_phase: 'Idle' as const } : {}),
  ...extra,
});
const idle = (extra: Partial<MachineState> = {}): MachineState => inPhase('Idle', extra);
const running = (extra: Partial<MachineState> = {}): MachineState => inPhase('Running', extra);

function accept(step: Step): Transition {
  if (!step.ok) throw new Error(describeRejection(step));
  return step;
}
function reject(step: Step): Rejection {
  if (step.ok) throw new Error(`expected rejection, ${step.transition} fired`);
  return step;
}
function apply(state: MachineState, ...inputs: MachineInput[]): MachineState {
  return inputs.reduce((s, input) => accept(reduce(s, input)).state, state);
}
function expectRejected(state: MachineState, input: MachineInput, guardName: string): Rejection {
  const r = reject(reduce(state, input));
  expect(r.kind).toBe('GuardRejected');
  expect(r.guard).toBe(guardName);
  return r;
}

/** Resolve a plan for `id` and admit it to the lane the plan authorised. */
function admit(
  state: MachineState,
  id: string,
  kind: AdmissionInputKind = 'Prompt',
  opts: { lane?: InputLane | null; existing?: string | null } = {},
): MachineState {
  const t = accept(
    reduce(state, {
      type: 'ResolveAdmissionPlan',
      input_id: id,
      kind,
      requested_lane: opts.lane ?? null,
      continuation_kind: 'Ordinary',
      silent_intent_match: false,
      existing_superseded_input_id: opts.existing ?? null,
      runtime_running: state.lifecycle_phase === 'Running',
      active_turn_boundary_available: false,
      without_wake: false,
    }),
  );
  const lane = t.state.admission_authorized_lanes[id];
  return apply(t.state, { type: lane === 'Steer' ? 'SteerAccepted' : 'QueueAccepted', input_id: id });
}

const stage = (id: string, run = 'run-1'): MachineInput => ({ type: 'StageForRun', input_id: id, run_id: run });

// ---------------------------------------------------------------------------------------------

describe('QueueAccepted / SteerAccepted', () => {
  it('admit into the authorised lane with a FIFO sequence', () => {
    const planned = accept(
      reduce(idle(), {
        type: 'ResolveAdmissionPlan',
        input_id: 'in-1',
        kind: 'Prompt',
        requested_lane: null,
        continuation_kind: 'Ordinary',
        silent_intent_match: false,
        existing_superseded_input_id: null,
        runtime_running: false,
        active_turn_boundary_available: false,
        without_wake: false,
      }),
    ).state;
    const t = accept(reduce(planned, { type: 'QueueAccepted', input_id: 'in-1' }));
    expect(t.transition).toBe('QueueAccepted');
    expect(t.effects).toEqual([{ type: 'IngressAccepted', input_id: 'in-1' }]);
    expect(t.state.input_phases['in-1']).toBe('Queued');
    expect(t.state.input_lane['in-1']).toBe('Queue');
    expect(t.state.input_recovery_lanes['in-1']).toBe('Queue');
    expect(t.state.input_attempt_counts['in-1']).toBe(0);
    expect(t.state.input_admission_seq['in-1']).toBe(FIRST_ADMISSION_SEQ);
    expect(t.state.next_admission_seq).toBe(FIRST_ADMISSION_SEQ + 1);

    const s2 = admit(t.state, 'in-2', 'PeerMessage', { lane: 'Steer' });
    expect(s2.input_lane['in-2']).toBe('Steer');
    expect(s2.input_admission_seq['in-2']).toBe(FIRST_ADMISSION_SEQ + 1);
  });

  it('rejections: already tracked, wrong or missing witness, phase', () => {
    const s = admit(idle(), 'in-1');
    expectRejected(s, { type: 'QueueAccepted', input_id: 'in-1' }, 'not_already_tracked');
    expectRejected(idle(), { type: 'QueueAccepted', input_id: 'in-1' }, 'admission_lane_authorized');
    expectRejected(idle(), { type: 'SteerAccepted', input_id: 'in-1' }, 'admission_lane_authorized');
    const queueWitness = idle({ admission_authorized_lanes: { 'in-1': 'Queue' } });
    expectRejected(queueWitness, { type: 'SteerAccepted', input_id: 'in-1' }, 'admission_lane_authorized');
    accept(reduce(inPhase('Retired', { admission_authorized_lanes: { 'in-1': 'Steer' } }), { type: 'SteerAccepted', input_id: 'in-1' }));
    for (const phase of ['Initializing', 'Destroyed'] as const) {
      const r = reject(reduce(inPhase(phase, { admission_authorized_lanes: { 'in-1': 'Queue' } }), { type: 'QueueAccepted', input_id: 'in-1' }));
      expect(r.kind).toBe('NoMatchingTransition');
    }
  });
});

describe('ChangeLane / PrioritizeInput / DeferInputBehindBacklog', () => {
  it('ChangeLane moves a queued input', () => {
    const s = admit(idle(), 'in-1');
    const t = accept(reduce(s, { type: 'ChangeLane', input_id: 'in-1', lane: 'Steer' }));
    expect(t.effects).toEqual([]);
    expect(t.state.input_lane['in-1']).toBe('Steer');
    expect(t.state.input_recovery_lanes['in-1']).toBe('Steer');
    expectRejected(idle(), { type: 'ChangeLane', input_id: 'in-1', lane: 'Steer' }, 'input_tracked');
    const staged = apply(admit(running(), 'in-1'), stage('in-1'));
    expectRejected(staged, { type: 'ChangeLane', input_id: 'in-1', lane: 'Queue' }, 'input_queued');
  });

  it('PrioritizeInput hands out decreasing priority tokens that sort first', () => {
    let s = admit(admit(idle(), 'in-1'), 'in-2');
    s = apply(s, { type: 'PrioritizeInput', input_id: 'in-2' });
    expect(s.input_admission_seq['in-2']).toBe(FIRST_PRIORITY_ADMISSION_SEQ);
    expect(s.next_priority_admission_seq).toBe(FIRST_PRIORITY_ADMISSION_SEQ - 1);
    s = apply(s, { type: 'PrioritizeInput', input_id: 'in-1' });
    expect(s.input_admission_seq['in-1']).toBe(FIRST_PRIORITY_ADMISSION_SEQ - 1);
    expectRejected(idle(), { type: 'PrioritizeInput', input_id: 'in-1' }, 'input_queued');
    const exhausted = { ...admit(idle(), 'in-1'), next_priority_admission_seq: 0 };
    expectRejected(exhausted, { type: 'PrioritizeInput', input_id: 'in-1' }, 'priority_admission_seq_available');
  });

  it('DeferInputBehindBacklog re-sequences a queued input; no-op once resolved', () => {
    let s = admit(admit(idle(), 'in-1'), 'in-2');
    const t = accept(reduce(s, { type: 'DeferInputBehindBacklog', input_id: 'in-1' }));
    expect(t.transition).toBe('DeferInputBehindBacklog');
    expect(t.state.input_admission_seq['in-1']).toBe(FIRST_ADMISSION_SEQ + 2);
    expect(t.state.next_admission_seq).toBe(FIRST_ADMISSION_SEQ + 3);

    s = apply(admit(running(), 'in-1'), stage('in-1'));
    const noop = accept(reduce(s, { type: 'DeferInputBehindBacklog', input_id: 'in-1' }));
    expect(noop.transition).toBe('DeferInputBehindBacklogAlreadyResolved');
    expect(noop.state).toEqual(s);

    const r = expectRejected(idle(), { type: 'DeferInputBehindBacklog', input_id: 'in-9' }, 'input_queued');
    expect(r.failures).toEqual([
      { arm: 'DeferInputBehindBacklog', guard: 'input_queued' },
      { arm: 'DeferInputBehindBacklogAlreadyResolved', guard: 'input_tracked' },
    ]);
  });
});

describe('StageForRun / rollback / attempts', () => {
  it('StageForRun stages for the bound run and counts an attempt', () => {
    const s = admit(running(), 'in-1');
    const t = accept(reduce(s, stage('in-1')));
    expect(t.state.input_phases['in-1']).toBe('Staged');
    expect(t.state.input_run_associations['in-1']).toBe('run-1');
    expect(t.state.input_lane['in-1']).toBeUndefined();
    expect(t.state.input_recovery_lanes['in-1']).toBe('Queue');
    expect(t.state.input_attempt_counts['in-1']).toBe(1);
    expect(t.effects).toEqual([{ type: 'RecordRunAssociation', input_id: 'in-1', run_id: 'run-1', attempt_count: 1 }]);

    expectRejected(s, stage('in-1', 'run-2'), 'run_matches_current');
    expectRejected(t.state, stage('in-1'), 'input_phase_queued');
    expectRejected(idle(), stage('in-1'), 'input_phase_queued');
  });

  it('abandons MaxAttemptsExhausted after 3 stage attempts', () => {
    let s = admit(running(), 'in-1');
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      s = apply(s, stage('in-1'));
      const t = accept(reduce(s, { type: 'ResolveStagedRollback', input_id: 'in-1', lane: 'Queue' }));
      expect(t.transition).toBe('ResolveStagedRollbackQueued');
      expect(t.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: 'in-1', phase: 'Queued' }]);
      expect(t.state.input_lane['in-1']).toBe('Queue');
      expect(t.state.input_run_associations['in-1']).toBeUndefined();
      expect(t.state.input_attempt_counts['in-1']).toBe(attempt);
      s = t.state;
    }
    s = apply(s, stage('in-1'));
    expect(s.input_attempt_counts['in-1']).toBe(3);
    const t = accept(reduce(s, { type: 'ResolveStagedRollback', input_id: 'in-1', lane: 'Queue' }));
    expect(t.transition).toBe('ResolveStagedRollbackMaxAttemptsExhausted');
    expect(t.state.input_phases['in-1']).toBe('Abandoned');
    expect(t.state.input_terminal_kind['in-1']).toBe('Abandoned');
    expect(t.state.input_abandon_reason['in-1']).toBe('MaxAttemptsExhausted');
    expect(t.state.input_abandon_attempt_count['in-1']).toBe(3);
    expect(t.state.input_run_associations['in-1']).toBe('run-1'); // kept
    expect(t.state.input_lane['in-1']).toBeUndefined();
    expect(t.state.input_recovery_lanes['in-1']).toBeUndefined();
    expect(t.effects).toEqual([
      {
        type: 'RecordTerminalOutcome',
        input_id: 'in-1',
        terminal_kind: 'Abandoned',
        superseded_by: null,
        aggregate_id: null,
        abandon_reason: 'MaxAttemptsExhausted',
        abandon_attempt_count: 3,
        run_id: 'run-1',
      },
    ]);
  });

  it('ResolveStagedRollback rejections', () => {
    const staged = apply(admit(running(), 'in-1'), stage('in-1'));
    const r = expectRejected(staged, { type: 'ResolveStagedRollback', input_id: 'in-1', lane: 'Steer' }, 'recovery_lane_matches');
    expect(r.failures).toHaveLength(2);
    expectRejected(admit(running(), 'in-1'), { type: 'ResolveStagedRollback', input_id: 'in-1', lane: 'Queue' }, 'input_phase_staged');
    expectRejected(running(), { type: 'ResolveStagedRollback', input_id: 'in-1', lane: 'Queue' }, 'input_tracked');
  });

  it('RollbackStaged returns any live input to a lane; IncrementAttemptCount counts', () => {
    const staged = apply(admit(running(), 'in-1'), stage('in-1'));
    const t = accept(reduce(staged, { type: 'RollbackStaged', input_id: 'in-1', lane: 'Steer' }));
    expect(t.state.input_phases['in-1']).toBe('Queued');
    expect(t.state.input_lane['in-1']).toBe('Steer');
    expect(t.state.input_recovery_lanes['in-1']).toBe('Steer');
    expect(t.state.input_run_associations['in-1']).toBeUndefined();
    expect(t.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: 'in-1', phase: 'Queued' }]);
    expectRejected(running(), { type: 'RollbackStaged', input_id: 'in-1', lane: 'Queue' }, 'input_tracked');
    const consumed = apply(admit(running(), 'in-1'), { type: 'ConsumeInput', input_id: 'in-1' });
    expectRejected(consumed, { type: 'RollbackStaged', input_id: 'in-1', lane: 'Queue' }, 'input_not_terminal');

    const inc = accept(reduce(t.state, { type: 'IncrementAttemptCount', input_id: 'in-1' }));
    expect(inc.state.input_attempt_counts['in-1']).toBe(2);
    expect(inc.effects).toEqual([]);
    expectRejected(running(), { type: 'IncrementAttemptCount', input_id: 'in-1' }, 'input_tracked');
    expectRejected(consumed, { type: 'IncrementAttemptCount', input_id: 'in-1' }, 'input_not_terminal');
  });

  it('ResolveUnstageableQueuedInput defers below the cap and abandons at it', () => {
    let s = admit(admit(running(), 'in-1'), 'in-2');
    const d = accept(reduce(s, { type: 'ResolveUnstageableQueuedInput', input_id: 'in-1', lane: 'Queue' }));
    expect(d.transition).toBe('ResolveUnstageableQueuedInputDeferred');
    expect(d.state.input_attempt_counts['in-1']).toBe(1);
    expect(d.state.input_admission_seq['in-1']).toBe(FIRST_ADMISSION_SEQ + 2);
    expect(d.state.next_admission_seq).toBe(FIRST_ADMISSION_SEQ + 3);
    expect(d.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: 'in-1', phase: 'Queued' }]);
    s = apply(d.state, { type: 'ResolveUnstageableQueuedInput', input_id: 'in-1', lane: 'Queue' }, {
      type: 'ResolveUnstageableQueuedInput',
      input_id: 'in-1',
      lane: 'Queue',
    });
    expect(s.input_attempt_counts['in-1']).toBe(3);
    const x = accept(reduce(s, { type: 'ResolveUnstageableQueuedInput', input_id: 'in-1', lane: 'Queue' }));
    expect(x.transition).toBe('ResolveUnstageableQueuedInputMaxAttemptsExhausted');
    expect(x.state.input_phases['in-1']).toBe('Abandoned');
    expect(x.state.input_abandon_attempt_count['in-1']).toBe(3);
    expect(x.effects[0]).toMatchObject({ type: 'RecordTerminalOutcome', abandon_reason: 'MaxAttemptsExhausted' });

    expectRejected(admit(running(), 'in-1'), { type: 'ResolveUnstageableQueuedInput', input_id: 'in-1', lane: 'Steer' }, 'recovery_lane_matches');
    const staged = apply(admit(running(), 'in-1'), stage('in-1'));
    expectRejected(staged, { type: 'ResolveUnstageableQueuedInput', input_id: 'in-1', lane: 'Queue' }, 'input_phase_queued');
  });
});

describe('applying, boundary sequences and consumption', () => {
  it('runtime-loop success: stage → receipts → terminal sequence → applied → consumed', () => {
    let s = admit(admit(running(), 'in-1', 'PeerMessage'), 'in-2', 'PeerMessage');
    s = apply(s, stage('in-1'), stage('in-2'));
    const live = accept(reduce(s, { type: 'ResolveLiveBoundaryContextReceipt', run_id: 'run-1', input_id: 'in-1' }));
    expect(live.effects).toEqual([
      { type: 'LiveBoundaryContextReceiptResolved', run_id: 'run-1', input_id: 'in-1', boundary: 'RunCheckpoint', sequence: 1 },
    ]);
    expect(live.state.runtime_completion_result_run_id).toBe('run-1');
    expect(live.state.runtime_completion_result_resolved).toBe(true);
    s = live.state;
    const commit = accept(reduce(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 2 }));
    expect(commit.effects).toEqual([{ type: 'TerminalBoundarySequenceCommitted', run_id: 'run-1', sequence: 2 }]);
    s = commit.state;
    for (const id of ['in-1', 'in-2']) {
      const a = accept(reduce(s, { type: 'MarkApplied', input_id: id }));
      expect(a.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: id, phase: 'Applied' }]);
      const p = accept(reduce(a.state, { type: 'MarkAppliedPendingConsumption', input_id: id }));
      expect(p.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: id, phase: 'AppliedPendingConsumption' }]);
      const r = accept(reduce(p.state, { type: 'RecordBoundarySeq', input_id: id, run_id: 'run-1' }));
      expect(r.effects).toEqual([{ type: 'RecordBoundarySequence', input_id: id, run_id: 'run-1', boundary_sequence: 2 }]);
      expect(r.state.input_boundary_sequences[id]).toBe(2);
      const c = accept(reduce(r.state, { type: 'ConsumeInput', input_id: id }));
      expect(c.effects).toEqual([
        {
          type: 'RecordTerminalOutcome',
          input_id: id,
          terminal_kind: 'Consumed',
          superseded_by: null,
          aggregate_id: null,
          abandon_reason: null,
          abandon_attempt_count: null,
          run_id: 'run-1',
        },
      ]);
      s = c.state;
    }
    expect(s.input_phases).toEqual({ 'in-1': 'Consumed', 'in-2': 'Consumed' });
    expect(s.input_run_associations).toEqual({ 'in-1': 'run-1', 'in-2': 'run-1' });
  });

  it('boundary sequences are dense per run', () => {
    let s = admit(running(), 'in-1');
    expectRejected(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 2 }, 'boundary_sequence_dense_successor');
    expectRejected(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 0 }, 'boundary_sequence_dense_successor');
    s = apply(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 1 });
    expectRejected(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 1 }, 'boundary_sequence_dense_successor');
    expectRejected(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 3 }, 'boundary_sequence_dense_successor');
    for (let k = 0; k < 3; k += 1) s = apply(s, { type: 'ResolveLiveBoundaryContextReceipt', run_id: 'run-1', input_id: 'in-1' });
    expect(s.live_boundary_context_sequence_by_run).toEqual({ 'run-1': 4 });
    s = apply(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 5 });
    expect(s.live_boundary_context_sequence_by_run).toEqual({ 'run-1': 5 });
    expectRejected(s, { type: 'CommitTerminalBoundarySequence', run_id: 'run-2', sequence: 1 }, 'run_matches_current');
    expectRejected(s, { type: 'ResolveLiveBoundaryContextReceipt', run_id: 'run-2', input_id: 'in-1' }, 'run_matches_current');
    expectRejected(s, { type: 'ResolveLiveBoundaryContextReceipt', run_id: 'run-1', input_id: 'in-9' }, 'input_tracked');
    for (const phase of ['Idle', 'Attached', 'Retired'] as const) {
      const st = inPhase(phase, { current_run_id: 'run-1', input_phases: { 'in-1': 'Staged' } });
      expect(reject(reduce(st, { type: 'CommitTerminalBoundarySequence', run_id: 'run-1', sequence: 1 })).kind).toBe('NoMatchingTransition');
      expect(reject(reduce(st, { type: 'ResolveLiveBoundaryContextReceipt', run_id: 'run-1', input_id: 'in-1' })).kind).toBe('NoMatchingTransition');
    }
  });

  it('a live receipt does not claim an unresolved completion slot', () => {
    const s = running({
      input_phases: { 'in-1': 'Staged' },
      runtime_completion_result_run_id: 'run-0',
      runtime_completion_result_resolved: false,
    });
    const t = accept(reduce(s, { type: 'ResolveLiveBoundaryContextReceipt', run_id: 'run-1', input_id: 'in-1' }));
    expect(t.state.runtime_completion_result_run_id).toBe('run-0');
    expect(t.state.runtime_completion_result_resolved).toBe(false);
  });

  it('RecordBoundarySeq records 0 for a run without sequence', () => {
    const s = admit(idle(), 'in-1');
    const t = accept(reduce(s, { type: 'RecordBoundarySeq', input_id: 'in-1', run_id: 'run-7' }));
    expect(t.state.input_boundary_sequences['in-1']).toBe(0);
    expectRejected(idle(), { type: 'RecordBoundarySeq', input_id: 'in-1', run_id: 'run-1' }, 'input_tracked');
  });

  it('MarkApplied / MarkAppliedPendingConsumption / ConsumeInput rejections', () => {
    for (const type of ['MarkApplied', 'MarkAppliedPendingConsumption', 'ConsumeInput'] as const) {
      expectRejected(idle(), { type, input_id: 'in-1' }, 'input_tracked');
      const consumed = apply(admit(idle(), 'in-1'), { type: 'ConsumeInput', input_id: 'in-1' });
      expectRejected(consumed, { type, input_id: 'in-1' }, 'input_not_terminal');
    }
  });

  it('LiveBoundaryUnavailable normalises a queued Steer input (Attached / Running only)', () => {
    const s = admit(inPhase('Attached'), 'in-1', 'PeerMessage', { lane: 'Steer' });
    const t = accept(reduce(s, { type: 'LiveBoundaryUnavailable', input_id: 'in-1' }));
    expect(t.to).toBe('Attached');
    expect(t.state.input_lane['in-1']).toBe('Queue');
    expect(t.state.input_recovery_lanes['in-1']).toBe('Queue');
    expect(t.effects).toEqual([
      { type: 'LiveBoundaryUnavailableNormalized', input_id: 'in-1', lane: 'Queue', live_interrupt_required: false },
    ]);
    expectRejected(t.state, { type: 'LiveBoundaryUnavailable', input_id: 'in-1' }, 'input_queued_in_steer_lane');
    expectRejected(running(), { type: 'LiveBoundaryUnavailable', input_id: 'in-1' }, 'input_tracked');
    const idleSteer = admit(idle(), 'in-1', 'PeerMessage', { lane: 'Steer' });
    expect(reject(reduce(idleSteer, { type: 'LiveBoundaryUnavailable', input_id: 'in-1' })).kind).toBe('NoMatchingTransition');
  });

  it('ConsumeOnAccept requires the ConsumedOnAccept plan witness', () => {
    const s = admit(idle(), 'in-1', 'Operation');
    const t = accept(reduce(s, { type: 'ConsumeOnAccept', input_id: 'in-1' }));
    expect(t.state.input_phases['in-1']).toBe('Consumed');
    expect(t.effects[0]).toMatchObject({ type: 'RecordTerminalOutcome', terminal_kind: 'Consumed' });
    expectRejected(admit(idle(), 'in-1'), { type: 'ConsumeOnAccept', input_id: 'in-1' }, 'admission_plan_consumed_on_accept');
    expectRejected(idle(), { type: 'ConsumeOnAccept', input_id: 'in-1' }, 'input_tracked');
  });
});

describe('coalescing, supersession, abandonment', () => {
  it('a new PeerResponseProgress coalesces the queued one', () => {
    let s = admit(idle(), 'in-1', 'PeerResponseProgress');
    expect(s.input_lane['in-1']).toBe('Steer');
    s = admit(s, 'in-2', 'PeerResponseProgress', { existing: 'in-1' });
    expect(s.admission_authorized_existing_actions).toEqual({ 'in-2': 'Coalesce' });
    // the witness names in-1 as target: coalescing in-2 into in-1 is not authorised
    expectRejected(s, { type: 'CoalesceInput', input_id: 'in-2', aggregate_id: 'in-1' }, 'coalesce_authorized');
    const t = accept(reduce(s, { type: 'CoalesceInput', input_id: 'in-1', aggregate_id: 'in-2' }));
    expect(t.state.input_phases['in-1']).toBe('Coalesced');
    expect(t.state.input_terminal_kind['in-1']).toBe('Coalesced');
    expect(t.state.input_aggregate_id['in-1']).toBe('in-2');
    expect(t.state.input_lane['in-1']).toBeUndefined();
    expect(t.state.input_recovery_lanes['in-1']).toBeUndefined();
    expect(t.state.admission_authorized_existing_actions).toEqual({});
    expect(t.state.admission_authorized_existing_targets).toEqual({});
    expect(t.state.input_phases['in-2']).toBe('Queued');
    expect(t.effects).toEqual([
      {
        type: 'RecordTerminalOutcome',
        input_id: 'in-1',
        terminal_kind: 'Coalesced',
        superseded_by: null,
        aggregate_id: 'in-2',
        abandon_reason: null,
        abandon_attempt_count: null,
        run_id: null,
      },
    ]);
    // the witness is consumed
    expectRejected(t.state, { type: 'CoalesceInput', input_id: 'in-1', aggregate_id: 'in-2' }, 'coalesce_authorized');
    expectRejected(idle(), { type: 'CoalesceInput', input_id: 'in-1', aggregate_id: 'in-2' }, 'input_tracked');
  });

  it('SupersedeInput needs a Supersede witness (never minted by the live plan)', () => {
    const base = admit(admit(idle(), 'in-1'), 'in-2');
    expectRejected(base, { type: 'SupersedeInput', input_id: 'in-1', superseded_by: 'in-2' }, 'supersede_authorized');
    const s: MachineState = {
      ...base,
      admission_authorized_existing_actions: { 'in-2': 'Supersede' },
      admission_authorized_existing_targets: { 'in-2': 'in-1' },
    };
    const t = accept(reduce(s, { type: 'SupersedeInput', input_id: 'in-1', superseded_by: 'in-2' }));
    expect(t.state.input_phases['in-1']).toBe('Superseded');
    expect(t.state.input_superseded_by['in-1']).toBe('in-2');
    expect(t.state.admission_authorized_existing_actions).toEqual({});
    expect(t.effects[0]).toMatchObject({ terminal_kind: 'Superseded', superseded_by: 'in-2' });
    expectRejected(idle(), { type: 'SupersedeInput', input_id: 'in-1', superseded_by: 'in-2' }, 'input_tracked');
  });

  it('AbandonInput records reason and attempts', () => {
    const s = admit(idle(), 'in-1');
    const t = accept(reduce(s, { type: 'AbandonInput', input_id: 'in-1', reason: 'Cancelled', attempt_count: 0 }));
    expect(t.state.input_phases['in-1']).toBe('Abandoned');
    expect(t.state.input_abandon_reason['in-1']).toBe('Cancelled');
    expect(t.state.input_abandon_attempt_count['in-1']).toBe(0);
    expect(t.state.input_lane).toEqual({});
    expect(t.effects[0]).toMatchObject({ terminal_kind: 'Abandoned', abandon_reason: 'Cancelled', abandon_attempt_count: 0 });
    expectRejected(idle(), { type: 'AbandonInput', input_id: 'in-1', reason: 'Reset', attempt_count: 0 }, 'input_tracked');
    expectRejected(t.state, { type: 'AbandonInput', input_id: 'in-1', reason: 'Reset', attempt_count: 0 }, 'input_not_terminal');
    expectRejected(s, { type: 'AbandonInput', input_id: 'in-1', reason: 'MaxAttemptsExhausted', attempt_count: 3 }, 'max_attempts_abandon_consistent');
  });
});

describe('ArchiveTerminalInput', () => {
  function consumedWithKey(): MachineState {
    let s = admit(running(), 'in-1');
    s = apply(
      s,
      { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' },
      stage('in-1'),
      { type: 'MarkApplied', input_id: 'in-1' },
      { type: 'MarkAppliedPendingConsumption', input_id: 'in-1' },
      { type: 'RecordBoundarySeq', input_id: 'in-1', run_id: 'run-1' },
      { type: 'ConsumeInput', input_id: 'in-1' },
    );
    return s;
  }
  const exact: ArchiveTerminalInput = {
    type: 'ArchiveTerminalInput',
    input_id: 'in-1',
    phase: 'Consumed',
    terminal_kind: 'Consumed',
    superseded_by: null,
    aggregate_id: null,
    abandon_reason: null,
    abandon_attempt_count: null,
    attempt_count: 1,
    run_id: 'run-1',
    boundary_sequence: 0,
    admission_sequence: FIRST_ADMISSION_SEQ,
    idempotency_key: 'key-1',
  };

  it('forgets every per-input entry when every argument matches', () => {
    const s = consumedWithKey();
    const t = accept(reduce(s, exact));
    expect(t.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: 'in-1', phase: 'Consumed' }]);
    const perInput = [
      'input_phases', 'input_terminal_kind', 'input_attempt_counts', 'input_run_associations', 'input_boundary_sequences',
      'input_admission_seq', 'input_runtime_boundary', 'input_runtime_execution_kind', 'input_is_prompt',
      'admission_authorized_lanes', 'admission_authorized_plans', 'input_idempotency_keys', 'admission_idempotency_inputs',
    ] as const;
    for (const field of perInput) expect(t.state[field], field).toEqual({});
    // the key is free again
    const again = accept(reduce(t.state, { type: 'ResolveAdmissionIdempotency', input_id: 'in-3', idempotency_key: 'key-1' }));
    expect(again.transition).toBe('ResolveAdmissionIdempotencyNewKey');
  });

  it('is also legal in Destroyed', () => {
    const s = { ...consumedWithKey(), lifecycle_phase: 'Destroyed' as const, current_run_id: null, pre_run_phase: null };
    expect(accept(reduce(s, exact)).to).toBe('Destroyed');
  });

  it('rejects any argument that differs from the machine', () => {
    const s = consumedWithKey();
    const mismatches: Partial<ArchiveTerminalInput>[] = [
      { terminal_kind: 'Abandoned' },
      { superseded_by: 'in-2' },
      { aggregate_id: 'in-2' },
      { abandon_reason: 'Reset' },
      { abandon_attempt_count: 1 },
      { attempt_count: 2 },
      { run_id: null },
      { run_id: 'run-2' },
      { boundary_sequence: null },
      { boundary_sequence: 1 },
      { admission_sequence: null },
      { admission_sequence: FIRST_ADMISSION_SEQ + 1 },
    ];
    for (const m of mismatches) {
      const r = reject(reduce(s, { ...exact, ...m }));
      expect(r.guard, JSON.stringify(m)).toBe('archive_projection_matches');
    }
    expect(reject(reduce(s, { ...exact, phase: 'Abandoned' })).guard).toBe('archive_projection_matches');
    expect(reject(reduce(s, { ...exact, idempotency_key: null })).guard).toBe('idempotency_binding_matches');
    expect(reject(reduce(s, { ...exact, idempotency_key: 'key-2' })).guard).toBe('idempotency_binding_matches');
    expect(reject(reduce(s, { ...exact, phase: 'Queued' })).guard).toBe('archive_phase_terminal');
    expect(reject(reduce(idle(), exact)).guard).toBe('input_tracked');
    // a terminal input with a lingering lane (only constructible by hand) is refused
    const withLane = { ...s, input_recovery_lanes: { 'in-1': 'Queue' as const } };
    expect(reject(reduce(withLane, exact)).guard).toBe('input_not_in_lanes');
    expect(reject(reduce({ ...s, lifecycle_phase: 'Initializing' }, exact)).kind).toBe('NoMatchingTransition');
  });
});

describe('recovery (§3.9)', () => {
  const row = (over: Partial<RecoverInputLifecycle> = {}): RecoverInputLifecycle => ({
    type: 'RecoverInputLifecycle',
    input_id: 'in-1',
    phase: 'Queued',
    terminal_kind: null,
    superseded_by: null,
    aggregate_id: null,
    abandon_reason: null,
    abandon_attempt_count: null,
    attempt_count: 1,
    run_id: null,
    boundary_sequence: null,
    admission_sequence: FIRST_ADMISSION_SEQ + 5,
    lane: 'Queue',
    recovery_reason: null,
    idempotency_key: 'key-1',
    ...over,
  });
  const witness: MachineInput = {
    type: 'RecoverAdmittedInput',
    input_id: 'in-1',
    kind: 'Prompt',
    continuation_kind: 'Ordinary',
    boundary: 'RunStart',
    execution_kind: 'ContentTurn',
    peer_response_terminal_apply_intent: null,
    lane: 'Queue',
  };

  it('RecoverAdmittedInput records the witness and grouping facts', () => {
    const t = accept(reduce(idle(), witness));
    expect(t.effects).toEqual([]);
    expect(t.state.recovered_admitted_inputs).toEqual(['in-1']);
    expect(t.state.recovered_admitted_lanes).toEqual({ 'in-1': 'Queue' });
    expect(t.state.input_runtime_boundary['in-1']).toBe('RunStart');
    expect(t.state.input_is_prompt['in-1']).toBe(true);
    expectRejected(idle(), { ...witness, kind: 'Continuation' } as MachineInput, 'continuation_iff_resume_pending');
    expectRejected(idle(), { ...witness, execution_kind: 'ResumePending' } as MachineInput, 'continuation_iff_resume_pending');
    accept(reduce(idle(), { ...witness, kind: 'Continuation', continuation_kind: 'WorkgraphAttention' } as MachineInput));
    expectRejected(idle(), { ...witness, kind: 'PeerResponseTerminal' } as MachineInput, 'peer_terminal_iff_apply_intent');
    expectRejected(idle(), { ...witness, peer_response_terminal_apply_intent: 'AppendContentAndRun' } as MachineInput, 'peer_terminal_iff_apply_intent');
    expectRejected(idle(), { ...witness, boundary: 'Immediate' } as MachineInput, 'immediate_boundary_requires_steer');
    accept(reduce(idle(), { ...witness, boundary: 'Immediate', lane: 'Steer' } as MachineInput));
  });

  it('RecoverInputLifecycle writes a queued row and bumps next_admission_seq', () => {
    const s = apply(idle(), witness);
    const t = accept(reduce(s, row()));
    expect(t.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: 'in-1', phase: 'Queued' }]);
    expect(t.state.input_phases['in-1']).toBe('Queued');
    expect(t.state.input_lane['in-1']).toBe('Queue');
    expect(t.state.input_recovery_lanes['in-1']).toBe('Queue');
    expect(t.state.input_attempt_counts['in-1']).toBe(1);
    expect(t.state.input_admission_seq['in-1']).toBe(FIRST_ADMISSION_SEQ + 5);
    expect(t.state.next_admission_seq).toBe(FIRST_ADMISSION_SEQ + 6);
    expect(t.state.admission_idempotency_inputs).toEqual({ 'key-1': 'in-1' });
    expect(t.state.input_idempotency_keys).toEqual({ 'in-1': 'key-1' });
    // a freshly admitted input sorts after the recovered one
    const next = admit(t.state, 'in-2');
    expect(next.input_admission_seq['in-2']).toBe(FIRST_ADMISSION_SEQ + 6);
  });

  it('a recovery reason assigns a fresh sequence (after bumping past the stored one)', () => {
    const s = apply(idle(), witness);
    const t = accept(reduce(s, row({ recovery_reason: 'RollbackStaged' })));
    expect(t.state.input_admission_seq['in-1']).toBe(FIRST_ADMISSION_SEQ + 6);
    expect(t.state.next_admission_seq).toBe(FIRST_ADMISSION_SEQ + 7);
    const noSeq = accept(reduce(s, row({ admission_sequence: null, recovery_reason: 'QueueAccepted' })));
    expect(noSeq.state.input_admission_seq['in-1']).toBe(FIRST_ADMISSION_SEQ);
    expectRejected(s, row({ admission_sequence: null }), 'queued_row_has_sequence_or_reason');
  });

  it('terminal rows need no witness; non-terminal rows must match it', () => {
    const terminal = accept(
      reduce(
        idle(),
        row({ phase: 'Abandoned', terminal_kind: 'Abandoned', abandon_reason: 'MaxAttemptsExhausted', abandon_attempt_count: 3, attempt_count: 3, lane: null, run_id: 'run-1' }),
      ),
    );
    expect(terminal.state.input_phases['in-1']).toBe('Abandoned');
    expect(terminal.state.input_lane).toEqual({});
    expect(terminal.state.input_abandon_attempt_count['in-1']).toBe(3);

    expectRejected(idle(), row(), 'recovered_lane_matches_witness');
    expectRejected(apply(idle(), witness), row({ lane: 'Steer' }), 'recovered_lane_matches_witness');
    expectRejected(idle(), row({ phase: 'Consumed', terminal_kind: 'Consumed', lane: 'Queue' }), 'recovered_lane_matches_witness');
    expectRejected(
      idle(),
      row({ phase: 'Abandoned', terminal_kind: 'Abandoned', abandon_reason: 'MaxAttemptsExhausted', abandon_attempt_count: 2, attempt_count: 2, lane: null }),
      'recovered_terminal_shape_valid',
    );
    expectRejected(idle(), row({ phase: 'Consumed', terminal_kind: 'Abandoned', lane: null }), 'recovered_terminal_shape_valid');
    expectRejected(apply(idle(), witness), row({ terminal_kind: 'Consumed' }), 'recovered_terminal_shape_valid');
    expectRejected(apply(idle(), witness), row({ phase: 'Staged' }), 'staged_row_has_run');
    const staged = accept(reduce(apply(idle(), witness), row({ phase: 'Staged', run_id: 'run-1' })));
    expect(staged.state.input_lane).toEqual({});
    expect(staged.state.input_recovery_lanes).toEqual({ 'in-1': 'Queue' });
    const claimed = idle({ admission_idempotency_inputs: { 'key-1': 'in-2' }, input_idempotency_keys: { 'in-2': 'key-1' } });
    expectRejected(apply(claimed, witness), row(), 'idempotency_key_available');
  });
});

// ---------------------------------------------------------------------------------------------
// properties over random sequences of this slice's inputs

function checkInvariants(s: MachineState): void {
  for (const [id, phase] of Object.entries(s.input_phases)) {
    if (phase === 'Staged') {
      expect(s.input_lane[id], `staged ${id} not queued`).toBeUndefined();
      expect(s.input_run_associations[id], `staged ${id} has run`).toBeDefined();
    }
    if (INPUT_TERMINAL_PHASES.includes(phase)) {
      expect(s.input_lane[id], `terminal ${id} lane`).toBeUndefined();
      expect(s.input_recovery_lanes[id], `terminal ${id} recovery lane`).toBeUndefined();
      const kind = s.input_terminal_kind[id];
      expect(kind).toBe(phase);
      expect(s.input_superseded_by[id] !== undefined).toBe(kind === 'Superseded');
      expect(s.input_aggregate_id[id] !== undefined).toBe(kind === 'Coalesced');
      expect(s.input_abandon_reason[id] !== undefined).toBe(kind === 'Abandoned');
      if (s.input_abandon_reason[id] === 'MaxAttemptsExhausted') {
        expect(s.input_abandon_attempt_count[id]).toBe(s.input_attempt_counts[id]);
        expect(s.input_attempt_counts[id] ?? 0).toBeGreaterThanOrEqual(s.max_stage_attempts);
      }
    }
  }
  for (const id of Object.keys(s.input_lane)) expect(s.input_phases[id], `lane member ${id} tracked`).toBeDefined();
  for (const [k, id] of Object.entries(s.admission_idempotency_inputs)) expect(s.input_idempotency_keys[id]).toBe(k);
  for (const [id, k] of Object.entries(s.input_idempotency_keys)) expect(s.admission_idempotency_inputs[k]).toBe(id);
  expect(s.next_priority_admission_seq).toBeLessThan(FIRST_ADMISSION_SEQ);
}

describe('properties (random sequences of admission + input-lifecycle inputs)', () => {
  const anyInput: fc.Arbitrary<MachineInput> = fc.oneof(admissionInputArb, inputLifecycleInputArb);
  const trace: fc.Arbitrary<MachineInput[]> = fc
    .array(
      fc.oneof(
        { weight: 1, arbitrary: admissionSequenceArb },
        { weight: 4, arbitrary: anyInput.map((i) => [i]) },
      ),
      { minLength: 5, maxLength: 40, size: 'max' },
    )
    .map((chunks) => chunks.flat());
  const start = fc.constantFrom<MachineState>(idle(), running(), inPhase('Attached'), inPhase('Retired'));

  it('rejections are pure; invariants hold; sequences are monotone', () => {
    let accepted = 0;
    fc.assert(
      fc.property(start, trace, (s0, inputs) => {
        let s = s0;
        for (const input of inputs) {
          const before = s;
          const snapshot = JSON.stringify(s);
          const step = reduce(s, input);
          if (!step.ok) {
            expect(JSON.stringify(before)).toBe(snapshot);
            continue;
          }
          accepted += 1;
          s = step.state;
          expect(s.lifecycle_phase).toBe(before.lifecycle_phase);
          expect(s.next_admission_seq).toBeGreaterThanOrEqual(before.next_admission_seq);
          expect(s.next_priority_admission_seq).toBeLessThanOrEqual(before.next_priority_admission_seq);
          for (const [run, seq] of Object.entries(before.live_boundary_context_sequence_by_run)) {
            const after = s.live_boundary_context_sequence_by_run[run] ?? 0;
            expect(after === seq || after === seq + 1).toBe(true);
          }
          checkInvariants(s);
        }
      }),
      { numRuns: 300 },
    );
    expect(accepted).toBeGreaterThan(1000);
  });

  it('random sequences reach deep transitions', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(start, trace, (s0, inputs) => {
        let s = s0;
        for (const input of inputs) {
          const step = reduce(s, input);
          if (step.ok) {
            seen.add(step.transition);
            s = step.state;
          }
        }
      }),
      { numRuns: 300, seed: 42 },
    );
    for (const name of ['QueueAccepted', 'SteerAccepted', 'StageForRun', 'ResolveStagedRollbackQueued', 'CoalesceInput', 'ConsumeOnAccept', 'RecoverInputLifecycle']) {
      expect(seen, name).toContain(name);
    }
  });
});
