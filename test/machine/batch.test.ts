import { describe, expect, it } from 'vitest';
import type { AdmissionInputKind } from '../../src/machine/arms/admission.js';
import {
  authorizeStageForRun,
  normalizeRecoveredInputLifecycle,
  selectRuntimeLoopBatch,
} from '../../src/machine/batch.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { describeRejection, reduce } from '../../src/machine/reduce.js';
import { FIRST_ADMISSION_SEQ, initialMachineState } from '../../src/machine/state.js';
import type { InputLane, MachineState, Phase } from '../../src/machine/state.js';

const inPhase = (phase: Phase): MachineState => ({
  ...initialMachineState(),
  lifecycle_phase: phase,
  session_id: 's-1',
  ...(phase === 'Running' ? { current_run_id: 'run-1', pre_run_phase: 'Idle' as const } : {}),
});

function apply(state: MachineState, ...inputs: MachineInput[]): MachineState {
  return inputs.reduce((s, input) => {
    const step = reduce(s, input);
    if (!step.ok) throw new Error(describeRejection(step));
    return step.state;
  }, state);
}

interface AdmitOpts {
  lane?: InputLane | null;
  continuation?: 'Ordinary' | 'WorkgraphAttention';
}
/** Resolve a plan and admit to the authorised lane (Idle unless the state is Running). */
function admit(state: MachineState, id: string, kind: AdmissionInputKind, opts: AdmitOpts = {}): MachineState {
  const planned = apply(state, {
    type: 'ResolveAdmissionPlan',
    input_id: id,
    kind,
    requested_lane: opts.lane ?? null,
    continuation_kind: opts.continuation ?? 'Ordinary',
    silent_intent_match: false,
    existing_superseded_input_id: null,
    runtime_running: state.lifecycle_phase === 'Running',
    active_turn_boundary_available: false,
    without_wake: false,
  });
  const lane = planned.admission_authorized_lanes[id];
  return apply(planned, { type: lane === 'Steer' ? 'SteerAccepted' : 'QueueAccepted', input_id: id });
}

function admitAll(state: MachineState, items: [string, AdmissionInputKind, AdmitOpts?][]): MachineState {
  return items.reduce((s, [id, kind, opts]) => admit(s, id, kind, opts), state);
}

const idle = (): MachineState => inPhase('Idle');

describe('selectRuntimeLoopBatch (§3.8)', () => {
  it('empty lanes select nothing', () => {
    expect(selectRuntimeLoopBatch(idle())).toBeNull();
  });

  it('prompts run alone, in admission order', () => {
    const s = admitAll(idle(), [
      ['in-1', 'Prompt'],
      ['in-2', 'Prompt'],
      ['in-3', 'Prompt'],
    ]);
    expect(selectRuntimeLoopBatch(s)).toEqual({ lane: 'Queue', input_ids: ['in-1'] });
    const s2 = apply(s, { type: 'ConsumeInput', input_id: 'in-1' });
    expect(selectRuntimeLoopBatch(s2)).toEqual({ lane: 'Queue', input_ids: ['in-2'] });
  });

  it('consecutive non-prompts with the same semantics are batched, stopping before a prompt', () => {
    const s = admitAll(idle(), [
      ['in-1', 'PeerMessage'],
      ['in-2', 'FlowStep'],
      ['in-3', 'Prompt'],
      ['in-4', 'ExternalEvent'],
    ]);
    expect(selectRuntimeLoopBatch(s)).toEqual({ lane: 'Queue', input_ids: ['in-1', 'in-2'] });
  });

  it('a differing execution kind or peer-terminal intent ends the queue batch', () => {
    const resume = admitAll(idle(), [
      ['in-1', 'PeerMessage'],
      ['in-2', 'Continuation', { lane: 'Queue' }], // ResumePending
      ['in-3', 'PeerMessage'],
    ]);
    expect(selectRuntimeLoopBatch(resume)).toEqual({ lane: 'Queue', input_ids: ['in-1'] });
    const terminal = admitAll(idle(), [
      ['in-1', 'PeerResponseTerminal'],
      ['in-2', 'PeerResponseTerminal'],
      ['in-3', 'PeerMessage'],
    ]);
    expect(selectRuntimeLoopBatch(terminal)).toEqual({ lane: 'Queue', input_ids: ['in-1', 'in-2'] });
  });

  it('the steer lane is served first, as the longest prefix sharing boundary / exec kind / intent', () => {
    const s = admitAll(idle(), [
      ['in-1', 'Prompt'],
      ['in-2', 'PeerMessage', { lane: 'Steer' }], // RunCheckpoint, ContentTurn
      ['in-3', 'PeerResponseProgress'], // Steer, RunCheckpoint, ContentTurn
      ['in-4', 'Continuation'], // Steer, RunCheckpoint, ResumePending
      ['in-5', 'PeerMessage', { lane: 'Steer' }],
    ]);
    expect(selectRuntimeLoopBatch(s)).toEqual({ lane: 'Steer', input_ids: ['in-2', 'in-3'] });
    const rest = apply(s, { type: 'ConsumeInput', input_id: 'in-2' }, { type: 'ConsumeInput', input_id: 'in-3' });
    expect(selectRuntimeLoopBatch(rest)).toEqual({ lane: 'Steer', input_ids: ['in-4'] });
    const steerPrompts = admitAll(idle(), [
      ['in-1', 'Prompt', { lane: 'Steer' }],
      ['in-2', 'Prompt', { lane: 'Steer' }],
    ]);
    // steer batches are not prompt-isolated
    expect(selectRuntimeLoopBatch(steerPrompts)).toEqual({ lane: 'Steer', input_ids: ['in-1', 'in-2'] });
  });

  it('a steer head without grouping facts runs alone', () => {
    const s = admitAll(idle(), [
      ['in-1', 'PeerMessage', { lane: 'Steer' }],
      ['in-2', 'PeerMessage', { lane: 'Steer' }],
    ]);
    const stripped: MachineState = { ...s, input_runtime_boundary: { 'in-2': 'RunCheckpoint' } };
    expect(selectRuntimeLoopBatch(stripped)).toEqual({ lane: 'Steer', input_ids: ['in-1'] });
  });

  it('orders by (admission sequence, id): priority tokens first, ties by id', () => {
    let s = admitAll(idle(), [
      ['in-1', 'PeerMessage'],
      ['in-2', 'PeerMessage'],
      ['in-3', 'Prompt'],
    ]);
    s = apply(s, { type: 'PrioritizeInput', input_id: 'in-3' });
    expect(selectRuntimeLoopBatch(s)).toEqual({ lane: 'Queue', input_ids: ['in-3'] });
    const tie: MachineState = {
      ...admitAll(idle(), [
        ['in-2', 'PeerMessage'],
        ['in-1', 'Prompt'],
      ]),
    };
    const tied: MachineState = { ...tie, input_admission_seq: { 'in-1': FIRST_ADMISSION_SEQ, 'in-2': FIRST_ADMISSION_SEQ } };
    expect(selectRuntimeLoopBatch(tied)).toEqual({ lane: 'Queue', input_ids: ['in-1'] });
    // deferring moves an input behind the backlog
    const deferred = apply(
      admitAll(idle(), [
        ['in-1', 'Prompt'],
        ['in-2', 'Prompt'],
      ]),
      { type: 'DeferInputBehindBacklog', input_id: 'in-1' },
    );
    expect(selectRuntimeLoopBatch(deferred)).toEqual({ lane: 'Queue', input_ids: ['in-2'] });
  });

  it('fails closed when a lane member is not Queued', () => {
    const s = admitAll(idle(), [
      ['in-1', 'PeerMessage'],
      ['in-2', 'PeerMessage', { lane: 'Steer' }],
    ]);
    // MarkApplied on a queued input leaves it in its lane (not a runtime-shaped trace)
    const broken = apply(s, { type: 'MarkApplied', input_id: 'in-2' });
    expect(selectRuntimeLoopBatch(broken)).toBeNull();
    const brokenQueue = apply(s, { type: 'MarkApplied', input_id: 'in-1' });
    expect(selectRuntimeLoopBatch(brokenQueue)).toEqual({ lane: 'Steer', input_ids: ['in-2'] });
    const bothBroken = apply(brokenQueue, { type: 'ConsumeInput', input_id: 'in-2' });
    expect(selectRuntimeLoopBatch(bothBroken)).toBeNull();
  });

  it('is pure', () => {
    const s = admitAll(idle(), [['in-1', 'PeerMessage']]);
    const snapshot = JSON.stringify(s);
    selectRuntimeLoopBatch(s);
    expect(JSON.stringify(s)).toBe(snapshot);
  });
});

describe('authorizeStageForRun (§3.8 step 4)', () => {
  const running = (): MachineState =>
    admitAll(inPhase('Running'), [
      ['in-1', 'PeerMessage'],
      ['in-2', 'PeerMessage'],
      ['in-3', 'PeerMessage', { lane: 'Steer' }],
    ]);

  it('accepts the selected batch for the bound run, which then stages', () => {
    const s = running();
    const batch = selectRuntimeLoopBatch(s);
    expect(batch).toEqual({ lane: 'Steer', input_ids: ['in-3'] });
    expect(authorizeStageForRun(s, ['in-1', 'in-2'], 'run-1', 'Queue')).toBe(true);
    const staged = apply(
      s,
      { type: 'StageForRun', input_id: 'in-1', run_id: 'run-1' },
      { type: 'StageForRun', input_id: 'in-2', run_id: 'run-1' },
    );
    expect(authorizeStageForRun(staged, ['in-1'], 'run-1', 'Queue')).toBe(false);
  });

  it('refuses empty, duplicate, wrong run, wrong lane, unknown or unsequenced inputs', () => {
    const s = running();
    expect(authorizeStageForRun(s, [], 'run-1', 'Queue')).toBe(false);
    expect(authorizeStageForRun(s, ['in-1', 'in-1'], 'run-1', 'Queue')).toBe(false);
    expect(authorizeStageForRun(s, ['in-1'], 'run-2', 'Queue')).toBe(false);
    expect(authorizeStageForRun(s, ['in-1', 'in-3'], 'run-1', 'Queue')).toBe(false);
    expect(authorizeStageForRun(s, ['in-9'], 'run-1', 'Queue')).toBe(false);
    const { 'in-1': _dropped, ...seqs } = s.input_admission_seq;
    expect(authorizeStageForRun({ ...s, input_admission_seq: seqs }, ['in-1'], 'run-1', 'Queue')).toBe(false);
    const { 'in-1': _lane, ...recovery } = s.input_recovery_lanes;
    expect(authorizeStageForRun({ ...s, input_recovery_lanes: recovery }, ['in-1'], 'run-1', 'Queue')).toBe(false);
    expect(authorizeStageForRun(idle(), ['in-1'], 'run-1', 'Queue')).toBe(false);
  });
});

describe('normalizeRecoveredInputLifecycle (§3.9)', () => {
  const base = { terminal_kind: null, recovered: true, abandoned: false };
  it('follows the normalisation table', () => {
    expect(normalizeRecoveredInputLifecycle('Accepted', null)).toEqual({ ...base, phase: 'Queued', requeued: true, reason: 'QueueAccepted' });
    expect(normalizeRecoveredInputLifecycle('Staged', null)).toEqual({ ...base, phase: 'Queued', requeued: true, reason: 'RollbackStaged' });
    expect(normalizeRecoveredInputLifecycle('Queued', null)).toEqual({ ...base, phase: 'Queued', requeued: false, reason: null });
    for (const phase of ['Applied', 'AppliedPendingConsumption'] as const) {
      expect(normalizeRecoveredInputLifecycle(phase, true)).toEqual({
        ...base,
        phase: 'Consumed',
        terminal_kind: 'Consumed',
        requeued: false,
        reason: 'BoundaryReceiptCommitted',
      });
      expect(normalizeRecoveredInputLifecycle(phase, false)).toEqual({ ...base, phase: 'Queued', requeued: false, reason: 'MissingBoundaryReceipt' });
      expect(normalizeRecoveredInputLifecycle(phase, null)).toEqual({ ...base, phase, requeued: false, reason: null });
    }
  });

  it('ignores the receipt observation outside Applied* and leaves terminal rows unchanged', () => {
    expect(normalizeRecoveredInputLifecycle('Staged', true).reason).toBe('RollbackStaged');
    expect(normalizeRecoveredInputLifecycle('Queued', false).reason).toBeNull();
    for (const phase of ['Consumed', 'Superseded', 'Coalesced', 'Abandoned'] as const) {
      expect(normalizeRecoveredInputLifecycle(phase, true)).toEqual({
        phase,
        terminal_kind: phase,
        recovered: false,
        abandoned: false,
        requeued: false,
        reason: null,
      });
    }
  });
});
