import { describe, expect, it } from 'vitest';
import {
  classifyRuntimeLifecycleDurability,
  classifyRuntimeLifecycleState,
  classifyRuntimeLoopQueueAdmission,
  classifyTurnTerminalCauseClass,
  publicTerminalOutcome,
  resolveTurnSurfaceResult,
  visibleRuntimePhase,
} from '../../src/machine/classify.js';
import { initialMachineState, type MachineState, type Phase } from '../../src/machine/state.js';

describe('classifyRuntimeLifecycleState (§2.6)', () => {
  const table: ReadonlyArray<readonly [Phase, string, string, string, string, string]> = [
    ['Initializing', 'NonTerminal', 'RejectsInput', 'BlocksQueue', 'NotReady', 'Open'],
    ['Idle', 'NonTerminal', 'AcceptsInput', 'ProcessesQueue', 'Ready', 'Open'],
    ['Attached', 'NonTerminal', 'AcceptsInput', 'ProcessesQueue', 'Ready', 'Open'],
    ['Running', 'NonTerminal', 'AcceptsInput', 'BlocksQueue', 'NotReady', 'Open'],
    ['Retired', 'NonTerminal', 'RejectsInput', 'ProcessesQueue', 'NotReady', 'NotReady'],
    ['Stopped', 'NonTerminal', 'RejectsInput', 'BlocksQueue', 'NotReady', 'NotReady'],
    ['Destroyed', 'Terminal', 'RejectsInput', 'BlocksQueue', 'Destroyed', 'Destroyed'],
  ];
  it.each(table)('%s', (phase, terminality, input_admission, queue_admission, prepare_admission, ingress_admission) => {
    expect(classifyRuntimeLifecycleState(phase)).toEqual({
      terminality,
      input_admission,
      queue_admission,
      prepare_admission,
      ingress_admission,
    });
  });
});

describe('classifyRuntimeLoopQueueAdmission (§2.6)', () => {
  const st = (lifecycle_phase: Phase, current_run_id: string | null) => ({ lifecycle_phase, current_run_id });
  it('allocates a new run when Idle/Attached/Retired have no bound run', () => {
    for (const p of ['Idle', 'Attached', 'Retired'] as const) {
      expect(classifyRuntimeLoopQueueAdmission(st(p, null))).toEqual({
        queue_admission: 'ProcessesQueue',
        run_binding: 'AllocateNew',
      });
    }
  });
  it('uses a pre-bound run in Running, blocks without one', () => {
    expect(classifyRuntimeLoopQueueAdmission(st('Running', 'run-1'))).toEqual({
      queue_admission: 'ProcessesQueue',
      run_binding: 'UsePrebound',
    });
    expect(classifyRuntimeLoopQueueAdmission(st('Running', null))).toEqual({
      queue_admission: 'BlocksQueue',
      run_binding: 'Blocked',
    });
  });
  it('blocks in Initializing/Stopped/Destroyed', () => {
    for (const p of ['Initializing', 'Stopped', 'Destroyed'] as const) {
      expect(classifyRuntimeLoopQueueAdmission(st(p, null))?.run_binding).toBe('Blocked');
    }
  });
  it('rejects Idle with a bound run, and honours an explicit current_run_bound', () => {
    expect(classifyRuntimeLoopQueueAdmission(st('Idle', 'run-1'))).toBeNull();
    expect(classifyRuntimeLoopQueueAdmission(st('Running', null), true)?.run_binding).toBe('UsePrebound');
  });
});

describe('classifyRuntimeLifecycleDurability (§2.6)', () => {
  it('never persists live-only phases', () => {
    expect(classifyRuntimeLifecycleDurability('Initializing', null)).toBe('Initializing');
    expect(classifyRuntimeLifecycleDurability('Idle', null)).toBe('Idle');
    expect(classifyRuntimeLifecycleDurability('Attached', null)).toBe('Idle');
    expect(classifyRuntimeLifecycleDurability('Running', null)).toBe('Idle');
    expect(classifyRuntimeLifecycleDurability('Running', 'Idle')).toBe('Idle');
    expect(classifyRuntimeLifecycleDurability('Running', 'Attached')).toBe('Idle');
    expect(classifyRuntimeLifecycleDurability('Running', 'Retired')).toBe('Retired');
    expect(classifyRuntimeLifecycleDurability('Retired', null)).toBe('Retired');
    expect(classifyRuntimeLifecycleDurability('Retired', 'Retired')).toBe('Retired');
    expect(classifyRuntimeLifecycleDurability('Stopped', null)).toBe('Stopped');
    expect(classifyRuntimeLifecycleDurability('Destroyed', null)).toBe('Destroyed');
  });
});

describe('visibleRuntimePhase', () => {
  it('shows a retiring run as Retired and every other phase as itself', () => {
    expect(visibleRuntimePhase({ lifecycle_phase: 'Running', pre_run_phase: 'Retired' })).toBe('Retired');
    expect(visibleRuntimePhase({ lifecycle_phase: 'Running', pre_run_phase: 'Attached' })).toBe('Running');
    expect(visibleRuntimePhase({ lifecycle_phase: 'Stopped', pre_run_phase: null })).toBe('Stopped');
  });
});

describe('turn terminal surface classification (§4.5)', () => {
  it('classifies causes', () => {
    expect(classifyTurnTerminalCauseClass(null)).toBe('Missing');
    expect(classifyTurnTerminalCauseClass('Unknown')).toBe('Unknown');
    expect(classifyTurnTerminalCauseClass('BudgetExhausted')).toBe('BudgetExhausted');
    expect(classifyTurnTerminalCauseClass('TimeBudgetExceeded')).toBe('TimeBudgetExceeded');
    expect(classifyTurnTerminalCauseClass('RetryExhausted')).toBe('RetryExhausted');
    expect(classifyTurnTerminalCauseClass('StructuredOutputValidationFailed')).toBe('StructuredOutputValidationFailed');
    for (const c of ['HookDenied', 'HookFailure', 'LlmFailure', 'ToolFailure', 'TurnLimitReached', 'RuntimeApplyFailure', 'FatalFailure'] as const) {
      expect(classifyTurnTerminalCauseClass(c)).toBe('OtherFailure');
    }
  });

  it('resolves the surface result', () => {
    expect(resolveTurnSurfaceResult(null, 'Missing')).toBe('MissingTerminal');
    expect(resolveTurnSurfaceResult('None', 'Missing')).toBe('MissingTerminal');
    expect(resolveTurnSurfaceResult('Completed', 'Missing')).toBe('Success');
    expect(resolveTurnSurfaceResult('Completed', 'Unknown')).toBe('Success');
    expect(resolveTurnSurfaceResult('Completed', 'OtherFailure')).toBe('HardFailure');
    expect(resolveTurnSurfaceResult('Failed', 'Missing')).toBe('HardFailure');
    expect(resolveTurnSurfaceResult('Cancelled', 'Missing')).toBe('Cancelled');
    expect(resolveTurnSurfaceResult('Cancelled', 'Unknown')).toBe('Cancelled');
    expect(resolveTurnSurfaceResult('Cancelled', 'RetryExhausted')).toBe('HardFailure');
    expect(resolveTurnSurfaceResult('BudgetExhausted', 'BudgetExhausted')).toBe('Success');
    expect(resolveTurnSurfaceResult('BudgetExhausted', 'Missing')).toBe('HardFailure');
    expect(resolveTurnSurfaceResult('TimeBudgetExceeded', 'TimeBudgetExceeded')).toBe('HardFailure');
    expect(resolveTurnSurfaceResult('StructuredOutputValidationFailed', 'StructuredOutputValidationFailed')).toBe(
      'HardFailure',
    );
  });
});

describe('publicTerminalOutcome (§3.1)', () => {
  const state = (over: Partial<MachineState>): MachineState => ({ ...initialMachineState(), ...over });

  it('maps terminal kinds and abandon reasons', () => {
    const s = state({
      input_phases: { c: 'Consumed', s: 'Superseded', g: 'Coalesced', x: 'Abandoned', r: 'Abandoned', q: 'Queued' },
      input_terminal_kind: { c: 'Consumed', s: 'Superseded', g: 'Coalesced', x: 'Abandoned', r: 'Abandoned' },
      input_abandon_reason: { x: 'Cancelled', r: 'Reset' },
    });
    expect(publicTerminalOutcome(s, 'c')).toEqual({ ok: true, outcome: 'Completed' });
    expect(publicTerminalOutcome(s, 's')).toEqual({ ok: true, outcome: 'Superseded' });
    expect(publicTerminalOutcome(s, 'g')).toEqual({ ok: true, outcome: 'Coalesced' });
    expect(publicTerminalOutcome(s, 'x')).toEqual({ ok: true, outcome: 'Cancelled' });
    expect(publicTerminalOutcome(s, 'r')).toEqual({ ok: true, outcome: 'Abandoned' });
    expect(publicTerminalOutcome(s, 'q')).toEqual({ ok: true, outcome: null });
    expect(publicTerminalOutcome(s, 'missing')).toEqual({ ok: true, outcome: null });
  });

  it('rejects a terminal phase with an inconsistent kind or missing reason', () => {
    const s = state({
      input_phases: { a: 'Consumed', b: 'Abandoned' },
      input_terminal_kind: { a: 'Superseded', b: 'Abandoned' },
    });
    expect(publicTerminalOutcome(s, 'a').ok).toBe(false);
    expect(publicTerminalOutcome(s, 'b').ok).toBe(false);
  });
});
