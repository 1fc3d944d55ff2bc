/**
 * Pure classifiers over the machine state (`machine.md` §2.6, §3.1, §4.5).
 *
 * Upstream these are "classifier inputs" that never change state (R9); here they are
 * plain functions so the shell can call them without a throw-away authority.
 */
import type {
  InputAbandonReason,
  MachineState,
  Phase,
  PreRunPhase,
  TurnTerminalCauseKind,
  TurnTerminalOutcome,
} from './state.js';
import { INPUT_TERMINAL_PHASES } from './state.js';
import { get } from './collections.js';

// ---------------------------------------------------------------------------------------------
// §2.6 lifecycle classification

/** Result of `ClassifyRuntimeLifecycleState` (`machine.md` §2.6). */
export interface RuntimeLifecycleStateClassified {
  readonly terminality: 'Terminal' | 'NonTerminal';
  readonly input_admission: 'AcceptsInput' | 'RejectsInput';
  readonly queue_admission: RuntimeQueueAdmission;
  readonly prepare_admission: 'Ready' | 'NotReady' | 'Destroyed';
  readonly ingress_admission: 'Open' | 'NotReady' | 'Destroyed';
}

/** Whether the runtime loop may process its queue. */
export type RuntimeQueueAdmission = 'ProcessesQueue' | 'BlocksQueue';

const LIFECYCLE_CLASSIFICATION: Readonly<Record<Phase, RuntimeLifecycleStateClassified>> = {
  Initializing: {
    terminality: 'NonTerminal',
    input_admission: 'RejectsInput',
    queue_admission: 'BlocksQueue',
    prepare_admission: 'NotReady',
    ingress_admission: 'Open',
  },
  Idle: {
    terminality: 'NonTerminal',
    input_admission: 'AcceptsInput',
    queue_admission: 'ProcessesQueue',
    prepare_admission: 'Ready',
    ingress_admission: 'Open',
  },
  Attached: {
    terminality: 'NonTerminal',
    input_admission: 'AcceptsInput',
    queue_admission: 'ProcessesQueue',
    prepare_admission: 'Ready',
    ingress_admission: 'Open',
  },
  Running: {
    terminality: 'NonTerminal',
    input_admission: 'AcceptsInput',
    queue_admission: 'BlocksQueue',
    prepare_admission: 'NotReady',
    ingress_admission: 'Open',
  },
  Retired: {
    terminality: 'NonTerminal',
    input_admission: 'RejectsInput',
    queue_admission: 'ProcessesQueue',
    prepare_admission: 'NotReady',
    ingress_admission: 'NotReady',
  },
  Stopped: {
    terminality: 'NonTerminal',
    input_admission: 'RejectsInput',
    queue_admission: 'BlocksQueue',
    prepare_admission: 'NotReady',
    ingress_admission: 'NotReady',
  },
  Destroyed: {
    terminality: 'Terminal',
    input_admission: 'RejectsInput',
    queue_admission: 'BlocksQueue',
    prepare_admission: 'Destroyed',
    ingress_admission: 'Destroyed',
  },
};

/**
 * `ClassifyRuntimeLifecycleState`: terminality and the four admission classes of a phase
 * (`machine.md` §2.6). Use this instead of ad-hoc phase checks.
 */
export function classifyRuntimeLifecycleState(phase: Phase): RuntimeLifecycleStateClassified {
  return LIFECYCLE_CLASSIFICATION[phase];
}

/** Result of `ClassifyRuntimeLoopQueueAdmission`. */
export interface RuntimeLoopQueueAdmission {
  readonly queue_admission: RuntimeQueueAdmission;
  readonly run_binding: 'AllocateNew' | 'UsePrebound' | 'Blocked';
}

/**
 * `ClassifyRuntimeLoopQueueAdmission(state, current_run_bound)` (`machine.md` §2.6).
 * `currentRunBound` defaults to `state.current_run_id !== null`.
 * Returns `null` for the combinations upstream rejects (e.g. Idle with a bound run).
 */
export function classifyRuntimeLoopQueueAdmission(
  state: Pick<MachineState, 'lifecycle_phase' | 'current_run_id'>,
  currentRunBound: boolean = state.current_run_id !== null,
): RuntimeLoopQueueAdmission | null {
  switch (state.lifecycle_phase) {
    case 'Idle':
    case 'Attached':
    case 'Retired':
      return currentRunBound ? null : { queue_admission: 'ProcessesQueue', run_binding: 'AllocateNew' };
    case 'Running':
      return currentRunBound
        ? { queue_admission: 'ProcessesQueue', run_binding: 'UsePrebound' }
        : { queue_admission: 'BlocksQueue', run_binding: 'Blocked' };
    case 'Initializing':
    case 'Stopped':
    case 'Destroyed':
      return { queue_admission: 'BlocksQueue', run_binding: 'Blocked' };
  }
}

/** Phases that may be persisted (live-only Attached/Running never are). */
export type DurableRuntimePhase = Extract<Phase, 'Initializing' | 'Idle' | 'Retired' | 'Stopped' | 'Destroyed'>;

/**
 * `ClassifyRuntimeLifecycleDurability(state, pre_run_phase?)`: the durable phase to persist
 * (`machine.md` §2.6). Attached → Idle; Running → Idle, or Retired when the run was
 * started from Retired. Total: upstream rejects a pre-run phase outside Running/Retired,
 * which no reachable state has (`current_run_has_pre_run_phase`); here it is ignored.
 */
export function classifyRuntimeLifecycleDurability(phase: Phase, preRun: PreRunPhase | null): DurableRuntimePhase {
  switch (phase) {
    case 'Attached':
      return 'Idle';
    case 'Running':
      return preRun === 'Retired' ? 'Retired' : 'Idle';
    default:
      return phase;
  }
}

/**
 * The phase outsiders see (`ResolveVisibleRuntimePhase` without the persistence projection):
 * a Running runtime whose run was started from (or retired into) Retired shows as Retired.
 */
export function visibleRuntimePhase(state: Pick<MachineState, 'lifecycle_phase' | 'pre_run_phase'>): Phase {
  return state.lifecycle_phase === 'Running' && state.pre_run_phase === 'Retired' ? 'Retired' : state.lifecycle_phase;
}

// ---------------------------------------------------------------------------------------------
// §4.5 turn terminal surface classification

/** Result of `ClassifyTurnTerminalCauseClass`. */
export type TurnTerminalCauseClass =
  | 'Missing'
  | 'Unknown'
  | 'BudgetExhausted'
  | 'TimeBudgetExceeded'
  | 'RetryExhausted'
  | 'StructuredOutputValidationFailed'
  | 'OtherFailure';

/** `ClassifyTurnTerminalCauseClass(cause?)` (`machine.md` §4.5). */
export function classifyTurnTerminalCauseClass(cause: TurnTerminalCauseKind | null): TurnTerminalCauseClass {
  switch (cause) {
    case null:
      return 'Missing';
    case 'Unknown':
    case 'BudgetExhausted':
    case 'TimeBudgetExceeded':
    case 'RetryExhausted':
    case 'StructuredOutputValidationFailed':
      return cause;
    default:
      return 'OtherFailure';
  }
}

/** Result of `ResolveTurnSurfaceResult`. */
export type TurnSurfaceResult = 'Success' | 'HardFailure' | 'Cancelled' | 'MissingTerminal';

/**
 * `ResolveTurnSurfaceResult(outcome?, class)` (`machine.md` §4.5 end). Both an absent
 * outcome and the explicit outcome `None` yield `MissingTerminal`.
 */
export function resolveTurnSurfaceResult(
  outcome: TurnTerminalOutcome | null,
  causeClass: TurnTerminalCauseClass,
): TurnSurfaceResult {
  const unspecific = causeClass === 'Missing' || causeClass === 'Unknown';
  switch (outcome) {
    case null:
    case 'None':
      return 'MissingTerminal';
    case 'Completed':
      return unspecific ? 'Success' : 'HardFailure';
    case 'Cancelled':
      return unspecific ? 'Cancelled' : 'HardFailure';
    case 'BudgetExhausted':
      return causeClass === 'BudgetExhausted' ? 'Success' : 'HardFailure';
    case 'Failed':
    case 'TimeBudgetExceeded':
    case 'StructuredOutputValidationFailed':
      return 'HardFailure';
  }
}

// ---------------------------------------------------------------------------------------------
// §3.1 public terminal outcome of an input

/** Public terminal outcome of an input. */
export type PublicTerminalOutcome = 'Completed' | 'Superseded' | 'Coalesced' | 'Cancelled' | 'Abandoned';

/**
 * Result of {@link publicTerminalOutcome}: `outcome: null` for untracked or non-terminal inputs;
 * `ok: false` (upstream `GuardRejected`) when a terminal phase has an inconsistent terminal kind or reason.
 */
export type PublicTerminalOutcomeResult =
  | { readonly ok: true; readonly outcome: PublicTerminalOutcome | null }
  | { readonly ok: false; readonly detail: string };

/**
 * Public terminal outcome of input `inputId` (`machine.md` §3.1): Consumed → Completed,
 * Superseded → Superseded, Coalesced → Coalesced, Abandoned(Cancelled) → Cancelled,
 * Abandoned(any other reason) → Abandoned; non-terminal phases → none.
 */
export function publicTerminalOutcome(state: MachineState, inputId: string): PublicTerminalOutcomeResult {
  const phase = get(state.input_phases, inputId);
  if (phase === null || !INPUT_TERMINAL_PHASES.includes(phase)) return { ok: true, outcome: null };
  const kind = get(state.input_terminal_kind, inputId);
  if (kind !== phase) {
    return { ok: false, detail: `input ${inputId} is ${phase} but its terminal kind is ${kind ?? 'absent'}` };
  }
  switch (kind) {
    case 'Consumed':
      return { ok: true, outcome: 'Completed' };
    case 'Superseded':
      return { ok: true, outcome: 'Superseded' };
    case 'Coalesced':
      return { ok: true, outcome: 'Coalesced' };
    case 'Abandoned': {
      const reason: InputAbandonReason | null = get(state.input_abandon_reason, inputId);
      if (reason === null) return { ok: false, detail: `input ${inputId} is Abandoned without a reason` };
      return { ok: true, outcome: reason === 'Cancelled' ? 'Cancelled' : 'Abandoned' };
    }
  }
}
