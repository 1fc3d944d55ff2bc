import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyOperationTransitionIdempotence,
  classifyRecoveredOperationRecord,
  isOpTerminal,
  isValidOperationSource,
  opActionValidFrom,
  opCompletionFeedClass,
  opCompletionWakeClass,
  opDurabilityClass,
  opPublicResult,
  terminalOpInput,
  type OpLifecycleAction,
  type OpsInput,
} from '../../src/machine/arms/ops.js';
import type { Effect } from '../../src/machine/effects.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { reduce, type Rejection, type Step, type Transition } from '../../src/machine/reduce.js';
import {
  initialMachineState,
  OP_TERMINAL_STATUSES,
  type MachineState,
  type OpKind,
  type OpStatus,
  type OpTerminalPayload,
  type OperationSource,
  type Phase,
} from '../../src/machine/state.js';
import { opsInputArb } from './arbitraries/ops.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const LIVE: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'];
const ALL_STATUSES: readonly OpStatus[] = [
  'Absent',
  'Provisioning',
  'Running',
  'Retiring',
  'Completed',
  'Failed',
  'Aborted',
  'Cancelled',
  'Retired',
  'Terminated',
];

const base = (phase: Phase = 'Idle'): MachineState => ({
  ...initialMachineState(),
  lifecycle_phase: phase,
  session_id: 's-1',
  ...(phase === 'Running' ? { current_run_id: 'run-1', pre_run_phase: 'Idle' as const } : {}),
});

function accepted(step: Step): Transition {
  if (!step.ok) throw new Error(`expected acceptance, got ${step.kind} (${step.guard ?? '-'})`);
  return step;
}

/** Assert a guard rejection: `guard` is the reported guard, `failing` (default `guard`) appears among the failures. */
function rejected(step: Step, guard: string, failing: string = guard): Rejection {
  expect(step.ok).toBe(false);
  if (step.ok) throw new Error('unreachable');
  expect(step.kind).toBe('GuardRejected');
  expect(step.guard).toBe(guard);
  expect(step.failures.map((f) => f.guard)).toContain(failing);
  return step;
}

function apply(s: MachineState, ...inputs: OpsInput[]): MachineState {
  return inputs.reduce((acc, input) => accepted(reduce(acc, input as MachineInput)).state, s);
}

const register = (operation_id: string, kind: OpKind = 'BackgroundToolOp', extra: Partial<OpsInput> = {}): OpsInput =>
  ({ type: 'RegisterOp', operation_id, kind, source: null, max_concurrent: null, ...extra }) as OpsInput;
const start = (operation_id: string): OpsInput => ({ type: 'StartOp', operation_id });
const completed = (result = 'done'): OpTerminalPayload => ({ kind: 'Completed', result });
const complete = (operation_id: string, result = 'done'): OpsInput => terminalOpInput('Complete', operation_id, completed(result));
const fail = (operation_id: string): OpsInput => terminalOpInput('Fail', operation_id, { kind: 'Failed', error: 'boom' });
const cancel = (operation_id: string): OpsInput =>
  terminalOpInput('Cancel', operation_id, { kind: 'Cancelled', reason: 'operator request' });

const payloadOf = (kind: OpTerminalPayload['kind']): OpTerminalPayload => {
  switch (kind) {
    case 'Completed':
      return { kind, result: 'r' };
    case 'Failed':
      return { kind, error: 'e' };
    case 'Aborted':
    case 'Cancelled':
      return { kind, reason: null };
    case 'Retired':
      return { kind };
    case 'Terminated':
      return { kind, reason: 'shutdown' };
  }
};

/** State with `op` forced into `status` (kind `kind`), keeping the ops accounting coherent. */
function withOpInStatus(status: OpStatus, kind: OpKind = 'MobMemberChild', s: MachineState = base()): MachineState {
  if (status === 'Absent') return s;
  const terminal = isOpTerminal(status);
  return {
    ...s,
    op_statuses: { ...s.op_statuses, 'op-1': status },
    op_kinds: { ...s.op_kinds, 'op-1': kind },
    op_peer_ready: { ...s.op_peer_ready, 'op-1': false },
    op_progress_counts: { ...s.op_progress_counts, 'op-1': 0 },
    active_op_count: s.active_op_count + (terminal ? 0 : 1),
    ...(terminal
      ? {
          op_terminal_outcomes: { 'op-1': status as OpTerminalPayload['kind'] },
          op_terminal_payload: { 'op-1': payloadOf(status as OpTerminalPayload['kind']) },
          op_completion_seq: { 'op-1': 1 },
          completion_sequence_claims: [1],
          next_completion_seq: 1,
        }
      : {}),
  };
}

const ACTION_INPUT: Readonly<Record<OpLifecycleAction, (op: string) => OpsInput>> = {
  Start: (operation_id) => ({ type: 'StartOp', operation_id }),
  Fail: (operation_id) => terminalOpInput('Fail', operation_id, payloadOf('Failed')),
  PeerReady: (operation_id) => ({ type: 'PeerReadyOp', operation_id }),
  ProgressReported: (operation_id) => ({ type: 'ProgressReportedOp', operation_id }),
  Complete: (operation_id) => terminalOpInput('Complete', operation_id, payloadOf('Completed')),
  Abort: (operation_id) => terminalOpInput('Abort', operation_id, payloadOf('Aborted')),
  Cancel: (operation_id) => terminalOpInput('Cancel', operation_id, payloadOf('Cancelled')),
  RetireRequested: (operation_id) => ({ type: 'RetireRequestedOp', operation_id }),
  RetireCompleted: (operation_id) => terminalOpInput('RetireCompleted', operation_id, payloadOf('Retired')),
  Terminate: (operation_id) => terminalOpInput('Terminate', operation_id, payloadOf('Terminated')),
};

const effectTypes = (effects: readonly Effect[]): string[] => effects.map((e) => e.type);

// ---------------------------------------------------------------------------------------------
// RegisterOp

describe('RegisterOp', () => {
  it('accepts a new op: Provisioning, kind, source, peer_ready=false, progress=0, count+1', () => {
    const source: OperationSource = {
      kind: 'SessionChild',
      session_id: 's-child',
      peer_id: null,
      address: null,
      realm_id: null,
      job_id: null,
    };
    const step = accepted(reduce(base(), register('op-1', 'MobMemberChild', { source }) as MachineInput));
    expect(step.transition).toBe('RegisterOpAcceptedIdle');
    expect(step.state.op_statuses['op-1']).toBe('Provisioning');
    expect(step.state.op_kinds['op-1']).toBe('MobMemberChild');
    expect(step.state.op_sources['op-1']).toEqual(source);
    expect(step.state.op_peer_ready['op-1']).toBe(false);
    expect(step.state.op_progress_counts['op-1']).toBe(0);
    expect(step.state.active_op_count).toBe(1);
    expect(step.effects).toEqual([
      {
        type: 'OpRegistrationAdmissionResolved',
        operation_id: 'op-1',
        result: 'Accept',
        reason: null,
        max_concurrent: null,
        active_op_count: 1,
      },
      { type: 'SubmitOpEvent', operation_id: 'op-1' },
    ]);
  });

  it('is accepted in every live phase and has no transition in Initializing or Destroyed', () => {
    for (const phase of LIVE) accepted(reduce(base(phase), register('op-1') as MachineInput));
    for (const phase of ['Initializing', 'Destroyed'] as const) {
      const step = reduce(base(phase), register('op-1') as MachineInput);
      expect(step.ok).toBe(false);
      if (!step.ok) expect(step.kind).toBe('NoMatchingTransition');
    }
  });

  it('answers AlreadyRegistered (typed rejection arm, state unchanged)', () => {
    const s = apply(base(), register('op-1'));
    const step = accepted(reduce(s, register('op-1') as MachineInput));
    expect(step.transition).toBe('RegisterOpAlreadyRegisteredRejectedIdle');
    expect(step.state).toEqual(s);
    expect(step.effects).toEqual([
      {
        type: 'OpRegistrationAdmissionResolved',
        operation_id: 'op-1',
        result: 'Reject',
        reason: 'AlreadyRegistered',
        max_concurrent: null,
        active_op_count: 1,
      },
    ]);
  });

  it('enforces max_concurrent and frees capacity when an op terminates (OPS-06)', () => {
    let s = apply(base(), register('op-1', 'BackgroundToolOp', { max_concurrent: 2 }), register('op-2', 'BackgroundToolOp', { max_concurrent: 2 }));
    const refused = accepted(reduce(s, register('op-3', 'BackgroundToolOp', { max_concurrent: 2 }) as MachineInput));
    expect(refused.transition).toBe('RegisterOpMaxConcurrentRejectedIdle');
    expect(refused.state).toEqual(s);
    expect(refused.effects[0]).toMatchObject({ result: 'Reject', reason: 'MaxConcurrentExceeded', max_concurrent: 2, active_op_count: 2 });
    s = apply(s, start('op-1'), complete('op-1'));
    const ok = accepted(reduce(s, register('op-3', 'BackgroundToolOp', { max_concurrent: 2 }) as MachineInput));
    expect(ok.transition).toBe('RegisterOpAcceptedIdle');
  });

  it('with no limit admits any number of ops', () => {
    let s = base();
    for (let n = 0; n < 100; n += 1) s = apply(s, register(`op-${n}`));
    expect(s.active_op_count).toBe(100);
  });

  it('rejects a malformed source (all arms fail)', () => {
    const bad: OperationSource = { kind: 'SessionChild', session_id: null, peer_id: 'p', address: null, realm_id: null, job_id: null };
    const step = rejected(reduce(base(), register('op-1', 'BackgroundToolOp', { source: bad }) as MachineInput), 'already_registered', 'operation_source_valid');
    expect(step.failures.map((f) => f.arm)).toEqual([
      'RegisterOpAlreadyRegisteredRejectedIdle',
      'RegisterOpMaxConcurrentRejectedIdle',
      'RegisterOpAcceptedIdle',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Lifecycle actions

describe('op lifecycle actions', () => {
  it('StartOp moves Provisioning → Running and emits SubmitOpEvent', () => {
    const s = apply(base(), register('op-1'));
    const step = accepted(reduce(s, start('op-1') as MachineInput));
    expect(step.state.op_statuses['op-1']).toBe('Running');
    expect(step.effects).toEqual([{ type: 'SubmitOpEvent', operation_id: 'op-1' }]);
  });

  it('rejects an unregistered op with op_registered', () => {
    rejected(reduce(base(), start('nope') as MachineInput), 'op_registered');
  });

  it('accepts every action exactly from its valid statuses (op_lifecycle_action_status_valid)', () => {
    for (const action of Object.keys(ACTION_INPUT) as OpLifecycleAction[]) {
      for (const status of ALL_STATUSES) {
        if (status === 'Absent') continue;
        const s = withOpInStatus(status, 'MobMemberChild');
        const step = reduce(s, ACTION_INPUT[action]('op-1') as MachineInput);
        expect(step.ok, `${action} from ${status}`).toBe(opActionValidFrom(action, status));
        if (!step.ok) expect(step.failures.map((f) => f.guard)).toContain('from_status_valid');
      }
    }
  });

  it('terminal transitions set status, outcome, payload and emit SubmitOpEvent + NotifyOpWatcher', () => {
    const cases: [OpLifecycleAction, OpStatus, OpStatus][] = [
      ['Complete', 'Running', 'Completed'],
      ['Fail', 'Provisioning', 'Failed'],
      ['Cancel', 'Retiring', 'Cancelled'],
      ['Abort', 'Provisioning', 'Aborted'],
      ['RetireCompleted', 'Retiring', 'Retired'],
      ['Terminate', 'Running', 'Terminated'],
    ];
    for (const [action, from, to] of cases) {
      const step = accepted(reduce(withOpInStatus(from, 'BackgroundToolOp'), ACTION_INPUT[action]('op-1') as MachineInput));
      expect(step.state.op_statuses['op-1']).toBe(to);
      expect(step.state.op_terminal_outcomes['op-1']).toBe(to);
      expect(step.state.op_terminal_payload['op-1']?.kind).toBe(to);
      expect(step.state.active_op_count).toBe(0);
      expect(effectTypes(step.effects)).toEqual(['SubmitOpEvent', 'NotifyOpWatcher']);
    }
  });

  it('rejects a mismatched outcome or payload variant', () => {
    const s = apply(base(), register('op-1'), start('op-1'));
    rejected(
      reduce(s, { type: 'CompleteOp', operation_id: 'op-1', outcome: 'Failed', payload: { kind: 'Failed', error: 'x' } }),
      'outcome_matches_terminal',
    );
    rejected(
      reduce(s, { type: 'CompleteOp', operation_id: 'op-1', outcome: 'Completed', payload: { kind: 'Failed', error: 'x' } }),
      'payload_variant_matches_kind',
    );
  });

  it('RetireRequested → Retiring still accepts progress, then RetireCompleted → Retired (OPS-02)', () => {
    let s = apply(base(), register('op-1'), start('op-1'), { type: 'RetireRequestedOp', operation_id: 'op-1' });
    expect(s.op_statuses['op-1']).toBe('Retiring');
    s = apply(s, { type: 'ProgressReportedOp', operation_id: 'op-1' });
    expect(s.op_progress_counts['op-1']).toBe(1);
    s = apply(s, terminalOpInput('RetireCompleted', 'op-1', { kind: 'Retired' }));
    expect(s.op_statuses['op-1']).toBe('Retired');
    rejected(reduce(s, { type: 'RetireRequestedOp', operation_id: 'op-1' }), 'from_status_valid');
  });

  it('PeerReadyOp only for a running MobMemberChild that is not yet peer-ready (OPS-01)', () => {
    let s = apply(base(), register('op-1', 'MobMemberChild'));
    rejected(reduce(s, { type: 'PeerReadyOp', operation_id: 'op-1' }), 'from_status_valid');
    s = apply(s, start('op-1'), { type: 'ProgressReportedOp', operation_id: 'op-1' }, { type: 'ProgressReportedOp', operation_id: 'op-1' });
    const step = accepted(reduce(s, { type: 'PeerReadyOp', operation_id: 'op-1' }));
    expect(step.state.op_peer_ready['op-1']).toBe(true);
    expect(step.state.op_progress_counts['op-1']).toBe(2);
    expect(step.effects).toEqual([{ type: 'SubmitOpEvent', operation_id: 'op-1' }]);
    rejected(reduce(step.state, { type: 'PeerReadyOp', operation_id: 'op-1' }), 'not_already_peer_ready');
    const bg = apply(base(), register('op-2', 'BackgroundToolOp'), start('op-2'));
    rejected(reduce(bg, { type: 'PeerReadyOp', operation_id: 'op-2' }), 'kind_is_mob_member_child');
  });

  it('ProgressReportedOp requires Running or Retiring', () => {
    const s = apply(base(), register('op-1'));
    rejected(reduce(s, { type: 'ProgressReportedOp', operation_id: 'op-1' }), 'from_status_valid');
  });
});

// ---------------------------------------------------------------------------------------------
// Completion sequence and feed

describe('completion sequence and feed', () => {
  it('assigns strictly increasing, unique sequences from 1', () => {
    let s = apply(base(), register('op-1'), register('op-2'), register('op-3', 'MobMemberChild'), start('op-1'), start('op-3'));
    s = apply(s, complete('op-1'), fail('op-2'), cancel('op-3'));
    expect(s.op_completion_seq).toEqual({ 'op-1': 1, 'op-2': 2, 'op-3': 3 });
    expect(s.completion_sequence_claims).toEqual([1, 2, 3]);
    expect(s.next_completion_seq).toBe(3);
    expect(s.active_op_count).toBe(0);
    expect(s.completion_feed_sequences).toEqual({ 'op-1': 1, 'op-2': 2, 'op-3': 3 });
    expect(s.completion_feed_kinds['op-3']).toBe('MobMemberChild');
    expect(s.completion_feed_terminal_outcomes).toEqual({ 'op-1': 'Completed', 'op-2': 'Failed', 'op-3': 'Cancelled' });
    expect(s.completion_feed_terminal_payload['op-1']).toEqual(completed());
  });

  it('writes feed entries only for public kinds (capacity slots still claim a sequence)', () => {
    const s = apply(
      base(),
      register('slot', 'BackgroundToolCapacitySlot'),
      register('job', 'DetachedJobWait'),
      start('slot'),
      start('job'),
      complete('slot'),
      complete('job'),
    );
    expect(s.op_completion_seq).toEqual({ slot: 1, job: 2 });
    expect(s.completion_sequence_claims).toEqual([1, 2]);
    expect(Object.keys(s.completion_feed_sequences)).toEqual(['job']);
    expect(Object.keys(s.completion_feed_kinds)).toEqual(['job']);
  });

  it('RollbackUnreturnedOp forgets the op without a sequence or feed entry', () => {
    const source: OperationSource = { kind: 'DetachedJob', session_id: null, peer_id: null, address: null, realm_id: 'r', job_id: 'j' };
    const s = apply(base(), register('op-1', 'DetachedJobWait', { source }), start('op-1'));
    const step = accepted(reduce(s, { type: 'RollbackUnreturnedOp', operation_id: 'op-1' }));
    const p = step.state;
    expect(p.op_statuses).toEqual({});
    expect(p.op_kinds).toEqual({});
    expect(p.op_sources).toEqual({});
    expect(p.op_peer_ready).toEqual({});
    expect(p.op_progress_counts).toEqual({});
    expect(p.active_op_count).toBe(0);
    expect(p.next_completion_seq).toBe(0);
    expect(p.completion_sequence_claims).toEqual([]);
    expect(p.completion_feed_sequences).toEqual({});
    expect(step.effects).toEqual([{ type: 'UnreturnedOpRolledBack', operation_id: 'op-1' }]);
    rejected(reduce(apply(s, complete('op-1')), { type: 'RollbackUnreturnedOp', operation_id: 'op-1' }), 'from_status_valid');
  });
});

// ---------------------------------------------------------------------------------------------
// Evict vs collect (§10)

describe('EvictCompletedOp vs CollectCompletedOp', () => {
  const source: OperationSource = { kind: 'BackendPeer', session_id: null, peer_id: 'p', address: 'inproc://p', realm_id: null, job_id: null };
  const done = (): MachineState => apply(base(), register('op-1', 'BackgroundToolOp', { source }), start('op-1'), complete('op-1'));

  it('evict drops the record, the feed entry and its claim, but keeps the source', () => {
    const step = accepted(reduce(done(), { type: 'EvictCompletedOp', operation_id: 'op-1' }));
    const p = step.state;
    expect(p.op_statuses).toEqual({});
    expect(p.op_kinds).toEqual({});
    expect(p.op_peer_ready).toEqual({});
    expect(p.op_progress_counts).toEqual({});
    expect(p.op_terminal_outcomes).toEqual({});
    expect(p.op_terminal_payload).toEqual({});
    expect(p.op_completion_seq).toEqual({});
    expect(p.completion_feed_sequences).toEqual({});
    expect(p.completion_feed_kinds).toEqual({});
    expect(p.completion_feed_terminal_outcomes).toEqual({});
    expect(p.completion_feed_terminal_payload).toEqual({});
    expect(p.completion_sequence_claims).toEqual([]);
    expect(p.op_sources['op-1']).toEqual(source);
    expect(p.next_completion_seq).toBe(1);
    expect(step.effects).toEqual([{ type: 'EvictCompletedRecord', operation_id: 'op-1' }]);
  });

  it('collect drops the record but keeps the feed entry, its claim and the source', () => {
    const step = accepted(reduce(done(), { type: 'CollectCompletedOp', operation_id: 'op-1' }));
    const p = step.state;
    expect(p.op_statuses).toEqual({});
    expect(p.op_terminal_outcomes).toEqual({});
    expect(p.op_completion_seq).toEqual({});
    expect(p.completion_feed_sequences).toEqual({ 'op-1': 1 });
    expect(p.completion_feed_terminal_outcomes).toEqual({ 'op-1': 'Completed' });
    expect(p.completion_sequence_claims).toEqual([1]);
    expect(p.op_sources['op-1']).toEqual(source);
    expect(step.effects).toEqual([{ type: 'CollectCompletedResult', operation_id: 'op-1' }]);
    // §10: a later RegisterOp with the same id is still accepted (only op_statuses is checked).
    expect(accepted(reduce(p, register('op-1') as MachineInput)).transition).toBe('RegisterOpAcceptedIdle');
  });

  it('both require a registered terminal op; a second collect is refused (OPS-05)', () => {
    const running = apply(base(), register('op-1'), start('op-1'));
    rejected(reduce(running, { type: 'EvictCompletedOp', operation_id: 'op-1' }), 'op_terminal');
    rejected(reduce(running, { type: 'CollectCompletedOp', operation_id: 'op-1' }), 'op_terminal');
    const collected = apply(done(), { type: 'CollectCompletedOp', operation_id: 'op-1' });
    rejected(reduce(collected, { type: 'CollectCompletedOp', operation_id: 'op-1' }), 'op_registered');
    rejected(reduce(collected, { type: 'EvictCompletedOp', operation_id: 'op-1' }), 'op_registered');
  });

  it('evicting a capacity slot (no feed entry) keeps its sequence claim', () => {
    const s = apply(base(), register('slot', 'BackgroundToolCapacitySlot'), start('slot'), complete('slot'));
    const p = apply(s, { type: 'EvictCompletedOp', operation_id: 'slot' });
    expect(p.completion_sequence_claims).toEqual([1]);
  });
});

// ---------------------------------------------------------------------------------------------
// Recovery

describe('RecoverOpRecord', () => {
  const detachedSource: OperationSource = { kind: 'DetachedJob', session_id: null, peer_id: null, address: null, realm_id: 'r', job_id: 'j' };
  const terminalRecord = (over: Partial<Extract<OpsInput, { type: 'RecoverOpRecord' }>> = {}): OpsInput => ({
    type: 'RecoverOpRecord',
    operation_id: 'op-1',
    status: 'Completed',
    kind: 'BackgroundToolOp',
    source: null,
    peer_ready: false,
    progress_count: 3,
    terminal_outcome: 'Completed',
    terminal_payload: completed('x'),
    completion_sequence: 5,
    ...over,
  });

  it('re-installs a terminal record with claim, feed entry and raised cursor', () => {
    const step = accepted(reduce(base(), terminalRecord() as MachineInput));
    const p = step.state;
    expect(p.op_statuses['op-1']).toBe('Completed');
    expect(p.op_progress_counts['op-1']).toBe(3);
    expect(p.op_completion_seq['op-1']).toBe(5);
    expect(p.completion_sequence_claims).toEqual([5]);
    expect(p.completion_feed_sequences['op-1']).toBe(5);
    expect(p.next_completion_seq).toBe(5);
    expect(p.active_op_count).toBe(0);
    expect(step.effects).toEqual([{ type: 'RetainTerminalRecord', operation_id: 'op-1' }]);
    // later terminal transitions continue after the recovered sequence
    const q = apply(p, register('op-2'), start('op-2'), complete('op-2'));
    expect(q.op_completion_seq['op-2']).toBe(6);
  });

  it('re-installs a running detached-job wait and counts it active', () => {
    const step = accepted(
      reduce(
        base(),
        terminalRecord({
          status: 'Running',
          kind: 'DetachedJobWait',
          source: detachedSource,
          terminal_outcome: null,
          terminal_payload: null,
          completion_sequence: null,
        }) as MachineInput,
      ),
    );
    expect(step.state.active_op_count).toBe(1);
    expect(step.state.completion_sequence_claims).toEqual([]);
    expect(step.state.op_sources['op-1']).toEqual(detachedSource);
  });

  it('does not write a feed entry for a capacity slot', () => {
    const p = apply(base(), terminalRecord({ kind: 'BackgroundToolCapacitySlot' }));
    expect(p.completion_feed_sequences).toEqual({});
    expect(p.completion_sequence_claims).toEqual([5]);
  });

  it('rejects each bad shape with its guard', () => {
    const registered = apply(base(), register('op-1'));
    rejected(reduce(registered, terminalRecord() as MachineInput), 'not_already_registered');
    rejected(reduce(base(), terminalRecord({ completion_sequence: null }) as MachineInput), 'recoverable_shape');
    rejected(
      reduce(base(), terminalRecord({ status: 'Running', terminal_outcome: null, terminal_payload: null, completion_sequence: null }) as MachineInput),
      'recoverable_shape',
    );
    rejected(
      reduce(
        base(),
        terminalRecord({ source: { kind: 'BackendPeer', session_id: null, peer_id: 'p', address: null, realm_id: null, job_id: null } }) as MachineInput,
      ),
      'operation_source_valid',
    );
    rejected(reduce(base(), terminalRecord({ kind: 'DetachedJobWait' }) as MachineInput), 'detached_wait_has_typed_source');
    const claimed = apply(base(), register('x'), start('x'), complete('x'));
    rejected(reduce(claimed, terminalRecord({ completion_sequence: 1 }) as MachineInput), 'completion_sequence_unclaimed');
    rejected(reduce(base(), terminalRecord({ terminal_outcome: 'Failed' }) as MachineInput), 'terminal_outcome_matches_status');
    rejected(
      reduce(base(), terminalRecord({ terminal_payload: { kind: 'Failed', error: 'x' } }) as MachineInput),
      'terminal_payload_variant_matches_status',
    );
  });
});

describe('RecoverCompletionFeedEntry', () => {
  const entry = (over: Partial<Extract<OpsInput, { type: 'RecoverCompletionFeedEntry' }>> = {}): OpsInput => ({
    type: 'RecoverCompletionFeedEntry',
    operation_id: 'op-9',
    kind: 'BackgroundToolOp',
    terminal_outcome: 'Completed',
    terminal_payload: completed('z'),
    completion_sequence: 2,
    ...over,
  });
  const cursorAt = (n: number): MachineState => ({ ...base(), next_completion_seq: n });

  it('claims the sequence and inserts the feed entry', () => {
    const step = accepted(reduce(cursorAt(3), entry() as MachineInput));
    expect(step.state.completion_sequence_claims).toEqual([2]);
    expect(step.state.completion_feed_sequences).toEqual({ 'op-9': 2 });
    expect(step.state.completion_feed_kinds).toEqual({ 'op-9': 'BackgroundToolOp' });
    expect(step.effects).toEqual([
      {
        type: 'CompletionFeedEntryRecovered',
        operation_id: 'op-9',
        completion_sequence: 2,
        kind: 'BackgroundToolOp',
        terminal_outcome: 'Completed',
        terminal_payload: completed('z'),
      },
    ]);
  });

  it('rejects each bad entry with its guard', () => {
    rejected(reduce(cursorAt(3), entry({ kind: 'BackgroundToolCapacitySlot' }) as MachineInput), 'public_completion_kind');
    rejected(reduce(cursorAt(3), entry({ completion_sequence: 0 }) as MachineInput), 'completion_sequence_nonzero');
    rejected(reduce(cursorAt(1), entry() as MachineInput), 'completion_sequence_within_recovered_cursor');
    const claimed = apply(cursorAt(3), entry({ operation_id: 'other' }));
    rejected(reduce(claimed, entry() as MachineInput), 'completion_sequence_unclaimed');
    const present = apply(cursorAt(3), entry({ completion_sequence: 1 }));
    rejected(reduce(present, entry() as MachineInput), 'feed_entry_absent');
    rejected(
      reduce(cursorAt(3), entry({ terminal_payload: { kind: 'Failed', error: 'x' } }) as MachineInput),
      'terminal_payload_variant_matches_outcome',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Rejection classification

describe('ResolveOpLifecycleTransitionRejection', () => {
  const resolve = (s: MachineState, action: OpLifecycleAction, operation_id = 'op-1'): Step =>
    reduce(s, { type: 'ResolveOpLifecycleTransitionRejection', operation_id, action });

  it('classifies NotFound, PeerNotExpected, AlreadyPeerReady and InvalidTransition', () => {
    const notFound = accepted(resolve(base(), 'Start'));
    expect(notFound.effects).toEqual([
      { type: 'OpLifecycleTransitionRejected', operation_id: 'op-1', action: 'Start', reason: 'OperationNotFound', status: null },
    ]);

    const bg = apply(base(), register('op-1', 'BackgroundToolOp'), start('op-1'));
    expect(accepted(resolve(bg, 'PeerReady')).effects[0]).toMatchObject({ reason: 'PeerNotExpected', status: 'Running' });

    const ready = apply(base(), register('op-1', 'MobMemberChild'), start('op-1'), { type: 'PeerReadyOp', operation_id: 'op-1' });
    expect(accepted(resolve(ready, 'PeerReady')).effects[0]).toMatchObject({ reason: 'AlreadyPeerReady', status: 'Running' });

    const invalid = accepted(resolve(bg, 'Start'));
    expect(invalid.transition).toBe('ResolveOpLifecycleTransitionInvalidRejectedIdle');
    expect(invalid.effects[0]).toMatchObject({ reason: 'InvalidTransition', action: 'Start', status: 'Running' });
    expect(invalid.state).toEqual(bg);
  });

  it('is itself rejected when the action would have been valid', () => {
    const s = apply(base(), register('op-1'));
    const step = rejected(resolve(s, 'Start'), 'op_not_registered', 'from_status_invalid');
    expect(step.failures).toHaveLength(4);
  });
});

// ---------------------------------------------------------------------------------------------
// Pure classifiers

describe('classifiers', () => {
  it('terminality and public result', () => {
    for (const status of ALL_STATUSES) expect(isOpTerminal(status)).toBe(OP_TERMINAL_STATUSES.includes(status));
    expect(ALL_STATUSES.map(opPublicResult)).toEqual([
      'MissingAuthority',
      'Running',
      'Running',
      'Running',
      'Completed',
      'Failed',
      'Cancelled',
      'Cancelled',
      'Cancelled',
      'Failed',
    ]);
  });

  it('idempotent-success classification', () => {
    expect(classifyOperationTransitionIdempotence('Start', 'Running')).toBe('IdempotentSuccess');
    expect(classifyOperationTransitionIdempotence('RetireRequested', 'Retiring')).toBe('IdempotentSuccess');
    for (const action of ['PeerReady', 'ProgressReported', 'RetireRequested', 'RetireCompleted', 'Abort'] as const) {
      for (const status of OP_TERMINAL_STATUSES) {
        expect(classifyOperationTransitionIdempotence(action, status)).toBe('IdempotentSuccess');
      }
    }
    expect(classifyOperationTransitionIdempotence('Complete', 'Completed')).toBe('NotIdempotent');
    expect(classifyOperationTransitionIdempotence('Start', 'Completed')).toBe('NotIdempotent');
    expect(classifyOperationTransitionIdempotence('Abort', 'Running')).toBe('NotIdempotent');
  });

  it('feed, wake and durability classes by kind', () => {
    const kinds: OpKind[] = ['MobMemberChild', 'BackgroundToolOp', 'BackgroundToolCapacitySlot', 'DetachedJobWait'];
    expect(kinds.map(opCompletionFeedClass)).toEqual(['Emit', 'Emit', 'Suppress', 'Emit']);
    expect(kinds.map(opCompletionWakeClass)).toEqual(['Ignore', 'Wake', 'Ignore', 'Wake']);
    expect(kinds.map(opDurabilityClass)).toEqual(['Retain', 'Retain', 'Discard', 'Retain']);
  });

  it('recovered-record classification', () => {
    expect(classifyRecoveredOperationRecord('Completed', 'BackgroundToolCapacitySlot', true, true, true)).toBe('Discard');
    expect(classifyRecoveredOperationRecord('Completed', 'BackgroundToolOp', true, true, true)).toBe('Retain');
    expect(classifyRecoveredOperationRecord('Running', 'DetachedJobWait', false, false, false)).toBe('Retain');
    expect(classifyRecoveredOperationRecord('Running', 'MobMemberChild', false, false, false)).toBe('Discard');
    expect(classifyRecoveredOperationRecord('Completed', 'BackgroundToolOp', true, false, true)).toBeNull();
  });

  it('operation source validity', () => {
    const none = { session_id: null, peer_id: null, address: null, realm_id: null, job_id: null };
    expect(isValidOperationSource(null)).toBe(true);
    expect(isValidOperationSource({ ...none, kind: 'SessionChild', session_id: 's' })).toBe(true);
    expect(isValidOperationSource({ ...none, kind: 'SessionChild' })).toBe(false);
    expect(isValidOperationSource({ ...none, kind: 'SessionChild', session_id: 's', job_id: 'j' })).toBe(false);
    expect(isValidOperationSource({ ...none, kind: 'BackendPeer', peer_id: 'p', address: 'a' })).toBe(true);
    expect(isValidOperationSource({ ...none, kind: 'BackendPeer', peer_id: 'p' })).toBe(false);
    expect(isValidOperationSource({ ...none, kind: 'DetachedJob', realm_id: 'r', job_id: 'j' })).toBe(true);
    expect(isValidOperationSource({ ...none, kind: 'DetachedJob', realm_id: 'r', job_id: 'j', peer_id: 'p' })).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Wait-all

describe('wait-all barrier', () => {
  const identity = (ids: readonly string[]): Record<string, string> => Object.fromEntries(ids.map((i) => [i, i]));
  const witness = (ids: readonly string[], sequence: readonly string[] = ids) => ({
    wait_request_id: 'req-1',
    operation_id_sequence: sequence,
    operation_ids: ids,
    operation_id_tokens: ids,
    operation_token_by_id: identity(ids),
    operation_id_by_token: identity(ids),
  });
  const admission = (ids: readonly string[], over: Record<string, unknown> = {}): MachineInput =>
    ({
      type: 'ResolveWaitAllAdmission',
      ...witness(ids),
      duplicate_operation_id: null,
      not_found_operation_id: null,
      ...over,
    }) as MachineInput;
  const request = (ids: readonly string[], over: Record<string, unknown> = {}): MachineInput =>
    ({ type: 'RequestWaitAll', run_id: 'run-1', ...witness(ids), ...over }) as MachineInput;
  const satisfy = (ids: readonly string[], over: Record<string, unknown> = {}): MachineInput =>
    ({ type: 'SatisfyWaitAll', wait_request_id: 'req-1', run_id: 'run-1', operation_id_tokens: ids, ...over }) as MachineInput;

  const three = (): MachineState =>
    apply(base('Running'), register('a'), register('b'), register('c'), start('a'), start('b'), start('c'));

  it('admits a wait over registered ops (no state change)', () => {
    const s = three();
    const step = accepted(reduce(s, admission(['a', 'b', 'c'])));
    expect(step.transition).toBe('ResolveWaitAllAdmissionAcceptedRunning');
    expect(step.state).toEqual(s);
    expect(step.effects).toEqual([
      { type: 'WaitAllAdmissionResolved', wait_request_id: 'req-1', result: 'Accept', reason: null, operation_id: null },
    ]);
  });

  it('rejects duplicates, an active wait and unknown ops with typed answers', () => {
    const s = three();
    const dup = accepted(
      reduce(s, admission(['a', 'b'], { operation_id_sequence: ['a', 'b', 'a'], duplicate_operation_id: 'a' })),
    );
    expect(dup.effects[0]).toMatchObject({ result: 'Reject', reason: 'DuplicateOperation', operation_id: 'a' });

    const waiting = apply(s, request(['a']) as OpsInput);
    const active = accepted(reduce(waiting, admission(['b'])));
    expect(active.effects[0]).toMatchObject({ result: 'Reject', reason: 'WaitAlreadyActive', operation_id: null });

    const missing = accepted(reduce(s, admission(['a', 'zzz'], { not_found_operation_id: 'zzz' })));
    expect(missing.effects[0]).toMatchObject({ result: 'Reject', reason: 'OperationNotFound', operation_id: 'zzz' });
  });

  it('is refused when witnesses are missing or inconsistent', () => {
    const s = three();
    // duplicate observed but no witness → no arm matches
    rejected(reduce(s, admission(['a'], { operation_id_sequence: ['a', 'a'] })), 'duplicate_witness_present');
    // unknown op without a not-found witness
    rejected(reduce(s, admission(['zzz'])), 'duplicate_observed', 'not_found_witness_present');
    // token maps that are not a bijection
    rejected(
      reduce(s, admission(['a', 'b'], { operation_token_by_id: { a: 'a', b: 'a' } })),
      'duplicate_observed',
      'operation_token_witness_valid',
    );
  });

  it('RequestWaitAll activates the single barrier', () => {
    const step = accepted(reduce(three(), request(['c', 'a'])));
    const p = step.state;
    expect(p.wait_active).toBe(true);
    expect(p.wait_request_id).toBe('req-1');
    expect(p.wait_run_id).toBe('run-1');
    expect(p.wait_operation_ids).toEqual(['a', 'c']);
    expect(p.wait_operation_id_tokens).toEqual(['a', 'c']);
    expect(step.effects).toEqual([]);
    rejected(reduce(p, request(['b'])), 'wait_inactive');
    rejected(reduce(three(), request(['a', 'nope'])), 'operations_tracked');
    rejected(reduce(three(), request(['a'], { operation_id_sequence: ['a', 'a'] })), 'no_duplicate_observed');
  });

  it('SatisfyWaitAll only when every member is terminal, then clears the barrier (OPS-04)', () => {
    let s = apply(three(), request(['a', 'b', 'c']) as OpsInput);
    rejected(reduce(s, satisfy(['a', 'b', 'c'])), 'all_members_terminal');
    s = apply(s, complete('a'), fail('b'));
    rejected(reduce(s, satisfy(['a', 'b', 'c'])), 'all_members_terminal');
    s = apply(s, cancel('c'));
    rejected(reduce(s, satisfy(['a', 'b', 'c'], { wait_request_id: 'req-2' })), 'wait_request_matches');
    rejected(reduce(s, satisfy(['a', 'b', 'c'], { run_id: 'run-2' })), 'wait_run_matches');
    rejected(reduce(s, satisfy(['a', 'b'])), 'operation_tokens_match');
    const step = accepted(reduce(s, satisfy(['c', 'b', 'a'])));
    expect(step.effects).toEqual([
      { type: 'WaitAllSatisfied', wait_request_id: 'req-1', run_id: 'run-1', operation_ids: ['a', 'b', 'c'] },
    ]);
    const p = step.state;
    expect([p.wait_active, p.wait_request_id, p.wait_run_id, p.wait_operation_ids, p.wait_operation_id_tokens]).toEqual([
      false,
      null,
      null,
      [],
      [],
    ]);
    rejected(reduce(p, satisfy(['a', 'b', 'c'])), 'wait_is_active');
  });

  it('CancelWaitAll clears an active barrier and is refused without one', () => {
    const s = apply(three(), request(['a']) as OpsInput);
    const p = accepted(reduce(s, { type: 'CancelWaitAll' })).state;
    expect(p.wait_active).toBe(false);
    expect(p.wait_request_id).toBeNull();
    rejected(reduce(p, { type: 'CancelWaitAll' }), 'wait_is_active');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties (machine.md §9.2 items 1, 14, 15, 16)

function checkOpsInvariants(s: MachineState): void {
  const statuses = Object.entries(s.op_statuses);
  const active = statuses.filter(([, st]) => !isOpTerminal(st)).length;
  expect(s.active_op_count).toBe(active);
  const seqs: number[] = [];
  for (const [op, st] of statuses) {
    if (!isOpTerminal(st)) continue;
    expect(s.op_terminal_outcomes[op]).toBe(st);
    expect(s.op_terminal_payload[op]?.kind).toBe(st);
    const seq = s.op_completion_seq[op];
    expect(seq).toBeDefined();
    if (seq === undefined) continue;
    expect(seq).toBeGreaterThan(0);
    expect(seq).toBeLessThanOrEqual(s.next_completion_seq);
    expect(s.completion_sequence_claims).toContain(seq);
    seqs.push(seq);
    const kind = s.op_kinds[op];
    if (kind !== 'BackgroundToolCapacitySlot') expect(s.completion_feed_sequences[op]).toBe(seq);
  }
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(new Set(s.completion_sequence_claims).size).toBe(s.completion_sequence_claims.length);
  expect(s.wait_active).toBe(s.wait_request_id !== null);
  expect(s.wait_active).toBe(s.wait_run_id !== null);
}

describe('properties', () => {
  it('random op sequences keep the ops accounting, sequences and wait barrier coherent', () => {
    fc.assert(
      fc.property(fc.constantFrom<Phase>(...LIVE), fc.array(opsInputArb, { maxLength: 60 }), (phase, inputs) => {
        let s = base(phase);
        let acceptedCount = 0;
        for (const input of inputs) {
          const step = reduce(s, input as MachineInput);
          if (!step.ok) {
            // rejection is pure: nothing to apply, state untouched
            continue;
          }
          acceptedCount += 1;
          expect(step.state.next_completion_seq).toBeGreaterThanOrEqual(s.next_completion_seq);
          for (const e of step.effects) {
            if (e.type === 'WaitAllSatisfied') {
              for (const id of s.wait_operation_ids) {
                const st = s.op_statuses[id];
                expect(st !== undefined && isOpTerminal(st)).toBe(true);
              }
            }
          }
          s = step.state;
          checkOpsInvariants(s);
        }
        return acceptedCount >= 0;
      }),
      { numRuns: 300 },
    );
  });

  it('a rejected input leaves the state identical and produces no effects', () => {
    fc.assert(
      fc.property(fc.array(opsInputArb, { maxLength: 40 }), (inputs) => {
        let s = base();
        for (const input of inputs) {
          const before = JSON.stringify(s);
          const step = reduce(s, input as MachineInput);
          if (step.ok) s = step.state;
          else expect(JSON.stringify(s)).toBe(before);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the arbitrary reaches deep transitions (terminal ops and satisfied waits occur)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(opsInputArb, { minLength: 20, maxLength: 80 }), (inputs) => {
        let s = base();
        for (const input of inputs) {
          const step = reduce(s, input as MachineInput);
          if (step.ok) {
            seen.add(step.transition.replace(/Idle$/, ''));
            s = step.state;
          }
        }
      }),
      { numRuns: 300 },
    );
    for (const t of ['RegisterOpAccepted', 'StartOp', 'CompleteOp', 'EvictCompletedOp', 'CollectCompletedOp', 'RequestWaitAll']) {
      expect(seen.has(t), t).toBe(true);
    }
  });
});
