import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  recoveredOutcomeCauseCoherent,
  type CompletionInput,
  type RuntimeCompletionCleanupOutcome,
  type RuntimeCompletionFinalizationObservation,
  type RuntimeCompletionResultClass,
  type RuntimeCompletionTerminalObservation,
} from '../../src/machine/arms/completion.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { reduce, type Rejection, type Transition } from '../../src/machine/reduce.js';
import {
  initialMachineState,
  type MachineState,
  type Phase,
  type TurnTerminalCauseKind,
  type TurnTerminalOutcome,
} from '../../src/machine/state.js';
import { completionInputArb } from './arbitraries/completion.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const BINDING = {
  session_id: 's-1',
  active_runtime_epoch_id: 'epoch-1',
  active_runtime_id: 'rt:session:s-1',
  active_fence_token: 1,
  active_runtime_generation: 2,
} as const;

/** A registered, bound session in `phase`, with run-1 in the completion slot (unresolved). */
function state(phase: Phase = 'Idle', over: Partial<MachineState> = {}): MachineState {
  return {
    ...initialMachineState(),
    lifecycle_phase: phase,
    ...BINDING,
    runtime_completion_result_run_id: 'run-1',
    runtime_completion_result_resolved: false,
    ...over,
  };
}

function ok(s: MachineState, input: MachineInput): Transition {
  const step = reduce(s, input);
  if (!step.ok) throw new Error(`expected acceptance of ${input.type}: ${JSON.stringify(step)}`);
  expect(step.to).toBe(step.from);
  return step;
}

function rejected(s: MachineState, input: MachineInput): Rejection {
  const before = JSON.stringify(s);
  const step = reduce(s, input);
  if (step.ok) throw new Error(`expected rejection of ${input.type}, got ${step.transition}`);
  expect(step.ok).toBe(false);
  expect(JSON.stringify(s)).toBe(before);
  return step;
}

function expectGuard(s: MachineState, input: MachineInput, guardName: string): Rejection {
  const r = rejected(s, input);
  expect(r.kind).toBe('GuardRejected');
  expect(r.guard).toBe(guardName);
  return r;
}

const resolve = (
  terminal_observation: RuntimeCompletionTerminalObservation,
  finalization_observation: RuntimeCompletionFinalizationObservation = 'Succeeded',
  run_id: string | null = 'run-1',
): CompletionInput => ({ type: 'ResolveRuntimeCompletionResult', run_id, terminal_observation, finalization_observation });

const NON_TERMINAL: readonly Phase[] = ['Initializing', 'Idle', 'Attached', 'Running', 'Retired', 'Stopped'];
const LIVE: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'];

// ---------------------------------------------------------------------------------------------
// §5.2

interface ClassRow {
  readonly arm: string;
  readonly pre: Partial<MachineState>;
  readonly input: CompletionInput;
  readonly result_class: RuntimeCompletionResultClass;
  readonly cleanup_outcome: RuntimeCompletionCleanupOutcome;
}

const CLASS_TABLE: readonly ClassRow[] = [
  { arm: 'Completed', pre: {}, input: resolve('RunResult'), result_class: 'Completed', cleanup_outcome: 'Completed' },
  {
    arm: 'WithoutResult',
    pre: {},
    input: resolve('NoResult'),
    result_class: 'CompletedWithoutResult',
    cleanup_outcome: 'CompletedWithoutResult',
  },
  {
    arm: 'CallbackPending',
    pre: {},
    input: resolve('CallbackPending'),
    result_class: 'CallbackPending',
    cleanup_outcome: 'CallbackPending',
  },
  {
    arm: 'Cancelled',
    pre: { terminal_outcome: 'Cancelled' },
    input: resolve('MachineTerminal'),
    result_class: 'Cancelled',
    cleanup_outcome: 'Cancelled',
  },
  ...(['Failed', 'BudgetExhausted', 'TimeBudgetExceeded', 'StructuredOutputValidationFailed'] as const).map(
    (terminal_outcome): ClassRow => ({
      arm: 'RuntimeApplyFailed',
      pre: { terminal_outcome, terminal_cause_kind: 'RuntimeApplyFailure' },
      input: resolve('MachineTerminal'),
      result_class: 'AbandonedWithError',
      cleanup_outcome: 'RuntimeApplyFailed',
    }),
  ),
  ...(
    [
      ['Failed', 'LlmFailure'],
      ['BudgetExhausted', 'BudgetExhausted'],
      ['TimeBudgetExceeded', 'TimeBudgetExceeded'],
      ['StructuredOutputValidationFailed', 'StructuredOutputValidationFailed'],
    ] as const
  ).map(
    ([terminal_outcome, terminal_cause_kind]): ClassRow => ({
      arm: 'MachineFailed',
      pre: { terminal_outcome, terminal_cause_kind },
      input: resolve('MachineTerminal'),
      result_class: 'AbandonedWithError',
      cleanup_outcome: 'Abandoned',
    }),
  ),
  {
    arm: 'FinalizationFailureWithResult',
    pre: {},
    input: resolve('RunResult', 'Failed'),
    result_class: 'CompletedWithFinalizationFailure',
    cleanup_outcome: 'FinalizationFailed',
  },
  ...(['NoResult', 'CallbackPending', 'MachineTerminal'] as const).map(
    (obs): ClassRow => ({
      arm: 'FinalizationFailureWithoutResult',
      pre: { terminal_outcome: 'Completed' },
      input: resolve(obs, 'Failed'),
      result_class: 'AbandonedWithError',
      cleanup_outcome: 'RuntimeApplyFailed',
    }),
  ),
  {
    arm: 'RuntimeTerminated',
    pre: { runtime_completion_result_run_id: null, runtime_completion_result_resolved: true },
    input: resolve('RuntimeTerminated', 'Succeeded', null),
    result_class: 'RuntimeTerminated',
    cleanup_outcome: 'RuntimeTerminated',
  },
];

describe('ResolveRuntimeCompletionResult (§5.2): class table row by row', () => {
  for (const row of CLASS_TABLE) {
    it.each(NON_TERMINAL)(
      `${row.arm} (${row.input.type === 'ResolveRuntimeCompletionResult' ? row.input.terminal_observation : ''}, ${String(row.pre.terminal_outcome ?? '-')}) in %s`,
      (phase) => {
        const pre = state(phase, row.pre);
        const t = ok(pre, row.input);
        expect(t.transition).toBe(`ResolveRuntimeCompletionResult${row.arm}`);
        expect(t.effects).toEqual([
          {
            type: 'RuntimeCompletionResultResolved',
            session_id: 's-1',
            runtime_id: 'rt:session:s-1',
            fence_token: 1,
            generation: 2,
            epoch_id: 'epoch-1',
            run_id: row.input.type === 'ResolveRuntimeCompletionResult' ? row.input.run_id : null,
            result_class: row.result_class,
            cleanup_outcome: row.cleanup_outcome,
          },
        ]);
        expect(t.state.runtime_completion_result_resolved).toBe(true);
        // nothing else changes
        expect({ ...t.state, runtime_completion_result_resolved: pre.runtime_completion_result_resolved }).toEqual(pre);
      },
    );
  }

  it('RuntimeTerminated also resolves in Destroyed (dedicated arm)', () => {
    const t = ok(state('Destroyed'), resolve('RuntimeTerminated', 'Succeeded', null));
    expect(t.transition).toBe('ResolveRuntimeCompletionResultRuntimeTerminatedDestroyed');
    expect(t.effects[0]).toMatchObject({ result_class: 'RuntimeTerminated', cleanup_outcome: 'RuntimeTerminated', run_id: null });
    // a runtime-terminated batch does not close a run's slot
    expect(t.state.runtime_completion_result_resolved).toBe(false);
  });

  it('only the RuntimeTerminated arm exists in Destroyed', () => {
    const r = expectGuard(state('Destroyed'), resolve('RunResult'), 'run_absent');
    expect(r.failures).toEqual([{ arm: 'ResolveRuntimeCompletionResultRuntimeTerminatedDestroyed', guard: 'run_absent' }]);
  });

  it('unbound placement yields null identifiers in the payload', () => {
    const t = ok(
      state('Idle', { active_runtime_id: null, active_fence_token: null, active_runtime_generation: null, active_runtime_epoch_id: null }),
      resolve('NoResult'),
    );
    expect(t.effects[0]).toMatchObject({ runtime_id: null, fence_token: null, generation: null, epoch_id: null });
  });

  it('finalization failure correlates by the current run too, without closing the slot of another run', () => {
    const pre = state('Running', { current_run_id: 'run-2', pre_run_phase: 'Idle' });
    const t = ok(pre, resolve('RunResult', 'Failed', 'run-2'));
    expect(t.transition).toBe('ResolveRuntimeCompletionResultFinalizationFailureWithResult');
    expect(t.state.runtime_completion_result_resolved).toBe(false);
    expect(t.state.runtime_completion_result_run_id).toBe('run-1');
    // …whereas a success path needs the slot itself
    expectGuard(pre, resolve('RunResult', 'Succeeded', 'run-2'), 'run_matches_completion_slot');
  });

  it('a resolution of the slot run on a resolved slot keeps it resolved (idempotent re-resolution)', () => {
    const t = ok(state('Idle', { runtime_completion_result_resolved: true }), resolve('RunResult'));
    expect(t.state.runtime_completion_result_resolved).toBe(true);
  });

  const REJECTIONS: readonly [string, Partial<MachineState>, CompletionInput, string, string][] = [
    ['session not registered', { session_id: null, active_runtime_epoch_id: null }, resolve('RunResult'), 'session_registered', 'Completed'],
    ['uncorrelated run', {}, resolve('RunResult', 'Succeeded', 'run-9'), 'run_matches_completion_slot', 'Completed'],
    ['empty slot', { runtime_completion_result_run_id: null, runtime_completion_result_resolved: true }, resolve('NoResult'), 'run_matches_completion_slot', 'WithoutResult'],
    ['MachineTerminal with outcome Completed', { terminal_outcome: 'Completed' }, resolve('MachineTerminal'), 'terminal_outcome_cancelled', 'Cancelled'],
    ['MachineTerminal with no outcome', {}, resolve('MachineTerminal'), 'terminal_outcome_cancelled', 'Cancelled'],
    ['MachineTerminal failed with unknown cause', { terminal_outcome: 'Failed', terminal_cause_kind: 'Unknown' }, resolve('MachineTerminal'), 'terminal_cause_known', 'RuntimeApplyFailed'],
    ['MachineTerminal failed with no cause', { terminal_outcome: 'Failed' }, resolve('MachineTerminal'), 'terminal_cause_known', 'MachineFailed'],
    ['RuntimeTerminated naming a run', {}, resolve('RuntimeTerminated'), 'run_absent', 'RuntimeTerminated'],
    ['RuntimeTerminated with failed finalization', {}, resolve('RuntimeTerminated', 'Failed', null), 'finalization_succeeded', 'RuntimeTerminated'],
    ['RunResult without a run', {}, resolve('RunResult', 'Succeeded', null), 'run_matches_completion_slot', 'Completed'],
    ['finalization failure for an unrelated run', {}, resolve('RunResult', 'Failed', 'run-9'), 'run_matches_completion_slot_or_current_run', 'FinalizationFailureWithResult'],
    ['finalization failure with RuntimeTerminated observation', {}, resolve('RuntimeTerminated', 'Failed'), 'terminal_without_run_result', 'FinalizationFailureWithoutResult'],
  ];
  it.each(REJECTIONS)('rejects: %s', (_l, pre, input, guardName, arm) => {
    const r = rejected(state('Idle', pre), input);
    expect(r.kind).toBe('GuardRejected');
    expect(r.failures).toContainEqual({ arm: `ResolveRuntimeCompletionResult${arm}`, guard: guardName });
    if (guardName === 'session_registered') expect(r.guard).toBe('session_registered');
  });

  it('reports the first arm’s failing guard', () => {
    expectGuard(state('Idle'), resolve('RunResult', 'Succeeded', 'run-9'), 'run_matches_completion_slot');
    expectGuard(state('Idle', { terminal_outcome: 'Completed' }), resolve('MachineTerminal'), 'terminal_run_result');
  });
});

// ---------------------------------------------------------------------------------------------
// §5.4

const cleanup = (over: Partial<Extract<CompletionInput, { type: 'ResolveRuntimeCompletionCleanup' }>> = {}): CompletionInput => ({
  type: 'ResolveRuntimeCompletionCleanup',
  session_id: 's-1',
  observed_session_id: 's-1',
  observed_runtime_id: 'rt:session:s-1',
  observed_fence_token: 1,
  observed_generation: 2,
  observed_epoch_id: 'epoch-1',
  outcome: 'Completed',
  archived_by_authority: false,
  live_session: 'Present',
  ...over,
});

describe('ResolveRuntimeCompletionCleanup (§5.4)', () => {
  const ROWS: readonly [string, Partial<Extract<CompletionInput, { type: 'ResolveRuntimeCompletionCleanup' }>>, 'CleanupRuntime' | 'RetainRuntime'][] = [
    ['Archived', { archived_by_authority: true, outcome: 'Completed' }, 'CleanupRuntime'],
    ['RuntimeTerminated', { outcome: 'RuntimeTerminated' }, 'CleanupRuntime'],
    ['FinalizationFailed', { outcome: 'FinalizationFailed' }, 'CleanupRuntime'],
    ['RuntimeApplyFailed', { outcome: 'RuntimeApplyFailed' }, 'CleanupRuntime'],
    ['AbandonedWithoutLiveSession', { outcome: 'Abandoned', live_session: 'Absent' }, 'CleanupRuntime'],
    ['CancelledWithoutLiveSession', { outcome: 'Cancelled', live_session: 'Absent' }, 'CleanupRuntime'],
    ['Retain', { outcome: 'Completed', live_session: 'Absent' }, 'RetainRuntime'],
    ['Retain', { outcome: 'CompletedWithoutResult' }, 'RetainRuntime'],
    ['Retain', { outcome: 'CallbackPending' }, 'RetainRuntime'],
    ['Retain', { outcome: 'Abandoned', live_session: 'Present' }, 'RetainRuntime'],
    ['Retain', { outcome: 'Cancelled', live_session: 'Present' }, 'RetainRuntime'],
  ];
  it.each(ROWS)('%s %j → %s', (arm, over, action) => {
    for (const phase of NON_TERMINAL) {
      const t = ok(state(phase), cleanup(over));
      expect(t.transition).toBe(`ResolveRuntimeCompletionCleanup${arm}`);
      expect(t.effects).toEqual([
        { type: 'RuntimeCompletionCleanupResolved', action, pre_admission_action: 'ReleasePreAdmission' },
      ]);
      expect(t.state).toEqual(state(phase));
    }
  });

  it.each([
    ['observed_session_matches', { observed_session_id: 's-2' }],
    ['observed_runtime_binding_matches', { observed_runtime_id: 'rt-2' }],
    ['observed_fence_binding_matches', { observed_fence_token: 2 }],
    ['observed_generation_binding_matches', { observed_generation: null }],
    ['observed_epoch_binding_matches', { observed_epoch_id: 'epoch-2' }],
  ] as const)('rejects a stale observation: %s', (guardName, over) => {
    expectGuard(state('Idle'), cleanup(over), guardName);
  });

  it('has no arm in Destroyed', () => {
    expect(rejected(state('Destroyed'), cleanup()).kind).toBe('NoMatchingTransition');
  });
});

describe('ResolveRuntimeCompletionWaitFailure (§5.4)', () => {
  it.each([
    ['ChannelClosed', 'CompletionChannelClosed'],
    ['AuthorityUnavailable', 'CompletionAuthorityUnavailable'],
  ] as const)('%s → InternalError / %s, not resumable', (failure, error_reason) => {
    for (const phase of NON_TERMINAL) {
      const t = ok(state(phase), { type: 'ResolveRuntimeCompletionWaitFailure', session_id: 's-1', failure });
      expect(t.transition).toBe(`ResolveRuntimeCompletionWaitFailure${failure}`);
      expect(t.effects).toEqual([
        {
          type: 'RuntimeCompletionWaitFailureResolved',
          error_kind: 'InternalError',
          error_reason,
          resumable: false,
          pre_admission_action: 'ReleasePreAdmission',
        },
      ]);
    }
  });

  it('needs a registered, matching session and a live authority', () => {
    const input = { type: 'ResolveRuntimeCompletionWaitFailure', session_id: 's-1', failure: 'ChannelClosed' } as const;
    expectGuard(state('Idle', { session_id: null, active_runtime_epoch_id: null }), input, 'session_registered');
    expectGuard(state('Idle'), { ...input, session_id: 's-2' }, 'session_matches_current');
    expect(rejected(state('Destroyed'), input).kind).toBe('NoMatchingTransition');
  });
});

describe('RecoverRuntimeCompletionResultCorrelation (§5.4)', () => {
  const recover = (
    outcome: TurnTerminalOutcome | null,
    cause: TurnTerminalCauseKind | null,
    run_id = 'run-1',
  ): CompletionInput => ({ type: 'RecoverRuntimeCompletionResultCorrelation', run_id, outcome, cause });
  const empty = { runtime_completion_result_run_id: null, runtime_completion_result_resolved: true } as const;

  const COHERENT: readonly [TurnTerminalOutcome | null, TurnTerminalCauseKind | null][] = [
    [null, null],
    ['None', null],
    ['Cancelled', null],
    ['BudgetExhausted', 'BudgetExhausted'],
    ['TimeBudgetExceeded', 'TimeBudgetExceeded'],
    ['StructuredOutputValidationFailed', 'StructuredOutputValidationFailed'],
    ['Failed', 'LlmFailure'],
    ['Failed', 'RuntimeApplyFailure'],
    ['Failed', 'FatalFailure'],
    ['Failed', 'TurnLimitReached'],
  ];
  it.each(COHERENT)('accepts the coherent pair (%s, %s) and opens the slot', (outcome, cause) => {
    for (const phase of NON_TERMINAL) {
      const t = ok(state(phase, empty), recover(outcome, cause));
      expect(t.transition).toBe('RecoverRuntimeCompletionResultCorrelation');
      expect(t.effects).toEqual([]);
      expect(t.state).toMatchObject({
        lifecycle_phase: phase,
        runtime_completion_result_run_id: 'run-1',
        runtime_completion_result_resolved: false,
        terminal_outcome: outcome,
        terminal_cause_kind: cause,
      });
    }
  });

  const INCOHERENT: readonly [TurnTerminalOutcome | null, TurnTerminalCauseKind | null][] = [
    [null, 'LlmFailure'],
    ['Completed', null],
    ['Cancelled', 'FatalFailure'],
    ['BudgetExhausted', null],
    ['BudgetExhausted', 'TimeBudgetExceeded'],
    ['Failed', null],
    ['Failed', 'Unknown'],
    ['Failed', 'BudgetExhausted'],
    ['TimeBudgetExceeded', 'FatalFailure'],
  ];
  it.each(INCOHERENT)('rejects the incoherent pair (%s, %s)', (outcome, cause) => {
    expect(recoveredOutcomeCauseCoherent(outcome, cause)).toBe(false);
    expectGuard(state('Idle', empty), recover(outcome, cause), 'recovered_outcome_cause_coherent');
  });

  it('accepts the same run already in the slot, refuses another', () => {
    expect(ok(state('Idle'), recover(null, null)).state.runtime_completion_result_run_id).toBe('run-1');
    expectGuard(state('Idle'), recover(null, null, 'run-2'), 'completion_slot_empty_or_same');
    // even a resolved slot of another run is not overwritten
    expectGuard(state('Idle', { runtime_completion_result_resolved: true }), recover(null, null, 'run-2'), 'completion_slot_empty_or_same');
  });

  it('must agree with existing outcome/cause; absent values keep existing ones', () => {
    const existing = { ...empty, terminal_outcome: 'Failed', terminal_cause_kind: 'ToolFailure' } as const;
    expectGuard(state('Idle', existing), recover('Cancelled', null), 'recovered_outcome_agrees');
    expectGuard(state('Idle', existing), recover('Failed', 'LlmFailure'), 'recovered_cause_agrees');
    const t = ok(state('Idle', existing), recover(null, null));
    expect(t.state).toMatchObject({ terminal_outcome: 'Failed', terminal_cause_kind: 'ToolFailure' });
    expect(ok(state('Idle', existing), recover('Failed', 'ToolFailure')).state.runtime_completion_result_resolved).toBe(false);
  });

  it('then a ResolveRuntimeCompletionResult for that run closes it', () => {
    const s = ok(state('Stopped', empty), recover('Failed', 'RuntimeApplyFailure')).state;
    const t = ok(s, resolve('MachineTerminal'));
    expect(t.transition).toBe('ResolveRuntimeCompletionResultRuntimeApplyFailed');
    expect(t.state.runtime_completion_result_resolved).toBe(true);
  });

  it('has no arm in Destroyed', () => {
    expect(rejected(state('Destroyed', empty), recover(null, null)).kind).toBe('NoMatchingTransition');
  });
});

// ---------------------------------------------------------------------------------------------
// §5.5

describe('completion-feed cursors (§5.5)', () => {
  const CURSORS = [
    ['AdvanceAgentCompletionCursor', 'completion_agent_applied_cursor', 'AgentCompletionCursorAdvanced'],
    ['AdvanceRuntimeObservedCompletionCursor', 'completion_runtime_observed_cursor', 'RuntimeObservedCompletionCursorAdvanced'],
    ['AdvanceRuntimeInjectedCompletionCursor', 'completion_runtime_injected_cursor', 'RuntimeInjectedCompletionCursorAdvanced'],
  ] as const;

  it.each(CURSORS)('%s takes the max and reports the resulting value', (type, field, effect) => {
    for (const phase of LIVE) {
      const up = ok(state(phase, { [field]: 5 }), { type, cursor: 9 });
      expect(up.state[field]).toBe(9);
      expect(up.effects).toEqual([{ type: effect, cursor: 9 }]);
      const down = ok(state(phase, { [field]: 5 }), { type, cursor: 2 });
      expect(down.state[field]).toBe(5);
      expect(down.effects).toEqual([{ type: effect, cursor: 5 }]);
    }
    for (const phase of ['Initializing', 'Destroyed'] as const) {
      expect(rejected(state(phase), { type, cursor: 1 }).kind).toBe('NoMatchingTransition');
    }
  });

  it('RecoverCompletionConsumerCursors applies max to all three and emits all three', () => {
    const pre = state('Retired', {
      completion_agent_applied_cursor: 4,
      completion_runtime_observed_cursor: 4,
      completion_runtime_injected_cursor: 4,
    });
    const t = ok(pre, {
      type: 'RecoverCompletionConsumerCursors',
      agent_applied_cursor: 7,
      runtime_observed_cursor: 1,
      runtime_injected_cursor: 4,
    });
    expect(t.state).toMatchObject({
      completion_agent_applied_cursor: 7,
      completion_runtime_observed_cursor: 4,
      completion_runtime_injected_cursor: 4,
    });
    expect(t.effects).toEqual([
      { type: 'AgentCompletionCursorAdvanced', cursor: 7 },
      { type: 'RuntimeObservedCompletionCursorAdvanced', cursor: 4 },
      { type: 'RuntimeInjectedCompletionCursorAdvanced', cursor: 4 },
    ]);
    expect(
      rejected(state('Initializing'), {
        type: 'RecoverCompletionConsumerCursors',
        agent_applied_cursor: 1,
        runtime_observed_cursor: 1,
        runtime_injected_cursor: 1,
      }).kind,
    ).toBe('NoMatchingTransition');
  });

  it('RecoverOpsCompletionCursor raises next_completion_seq only, silently', () => {
    const up = ok(state('Attached', { next_completion_seq: 3 }), { type: 'RecoverOpsCompletionCursor', next_completion_seq: 8 });
    expect(up.state.next_completion_seq).toBe(8);
    expect(up.effects).toEqual([]);
    const keep = ok(state('Attached', { next_completion_seq: 3 }), { type: 'RecoverOpsCompletionCursor', next_completion_seq: 1 });
    expect(keep.state.next_completion_seq).toBe(3);
    expect(rejected(state('Destroyed'), { type: 'RecoverOpsCompletionCursor', next_completion_seq: 1 }).kind).toBe(
      'NoMatchingTransition',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

describe('properties (random completion inputs)', () => {
  it('rejections are pure; cursors never decrease (§9.2.16); the slot invariant holds (§9.2.13)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NON_TERMINAL, 'Destroyed' as const),
        fc.array(completionInputArb, { minLength: 1, maxLength: 40 }),
        (phase, inputs) => {
          let s = state(phase, { current_run_id: phase === 'Running' ? 'run-2' : null, pre_run_phase: phase === 'Running' ? 'Idle' : null });
          for (const input of inputs) {
            const before = JSON.stringify(s);
            const step = reduce(s, input);
            if (!step.ok) {
              expect(JSON.stringify(s)).toBe(before);
              continue;
            }
            const n = step.state;
            expect(n.lifecycle_phase).toBe(s.lifecycle_phase);
            expect(n.completion_agent_applied_cursor).toBeGreaterThanOrEqual(s.completion_agent_applied_cursor);
            expect(n.completion_runtime_observed_cursor).toBeGreaterThanOrEqual(s.completion_runtime_observed_cursor);
            expect(n.completion_runtime_injected_cursor).toBeGreaterThanOrEqual(s.completion_runtime_injected_cursor);
            expect(n.next_completion_seq).toBeGreaterThanOrEqual(s.next_completion_seq);
            if (!n.runtime_completion_result_resolved) expect(n.runtime_completion_result_run_id).not.toBeNull();
            // a resolution closes the slot exactly when it names the slot's run
            if (input.type === 'ResolveRuntimeCompletionResult') {
              const closes = input.run_id !== null && input.run_id === s.runtime_completion_result_run_id;
              if (closes) expect(n.runtime_completion_result_resolved).toBe(true);
              else expect(n.runtime_completion_result_resolved).toBe(s.runtime_completion_result_resolved);
              expect(step.effects).toHaveLength(1);
            }
            s = n;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
