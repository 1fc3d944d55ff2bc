import type { Draft } from './draft.js';
import type { Arm } from './arm.js';
import { produceNext } from './draft.js';
import type { Effect } from './effects.js';
import type { MachineInput } from './inputs.js';
import type { MachineState, Phase } from './state.js';
import { TRANSITIONS } from './transitions.js';

/** One guard that refused, named by arm and guard label. */
export interface GuardFailure {
  readonly arm: string;
  readonly guard: string;
}

/** The reducer refused the input; the state is unchanged and no effect was produced. */
export interface Rejection {
  readonly ok: false;
  /** `NoMatchingTransition`: no arm is declared for the current phase. `GuardRejected`: arms exist but every one has a failing guard. */
  readonly kind: 'NoMatchingTransition' | 'GuardRejected';
  readonly phase: Phase;
  readonly input: MachineInput['type'];
  /** The first failing guard (of the first arm declared for this phase), or `null` for `NoMatchingTransition`. */
  readonly guard: string | null;
  readonly failures: readonly GuardFailure[];
}

/** The reducer accepted the input. */
export interface Transition {
  readonly ok: true;
  readonly state: MachineState;
  readonly effects: readonly Effect[];
  /** Name of the arm that fired. */
  readonly transition: string;
  readonly from: Phase;
  readonly to: Phase;
}

export type Step = Transition | Rejection;

function armsFor(input: MachineInput): readonly Arm<MachineInput>[] {
  const table = TRANSITIONS as unknown as Readonly<Record<string, readonly Arm<MachineInput>[] | undefined>>;
  return table[input.type] ?? [];
}

/**
 * The MeerkatMachine reducer: `(state, input) → {state', effects} | rejection`
 * (`machine.md` §0). Pure: no I/O, no clock, no randomness.
 *
 * A transaction that chains many inputs uses a `WorkingState` (working-state.ts) instead: the
 * same arms on a private copy, checked against this function by a property test.
 *
 * @example
 * ```ts
 * const s0 = initialMachineState();
 * const step = reduce(s0, { type: 'Initialize' });
 * if (step.ok) console.log(step.state.lifecycle_phase); // 'Idle'
 * ```
 */
export function reduce(state: MachineState, input: MachineInput): Step {
  const phase = state.lifecycle_phase;
  const found = firstEnabledArm(state, input);
  if (!found.ok) return found;
  const arm = found.arm;
  const target = arm.to;
  const next = produceNext(state, (draft) => {
    arm.update?.(draft as Draft<MachineState>, input);
    const to = target === 'self' ? phase : target === 'by-update' ? draft.lifecycle_phase : target;
    if (draft.lifecycle_phase !== to) (draft as Draft<MachineState>).lifecycle_phase = to;
  });
  const effects = arm.emit ? arm.emit(next, input) : [];
  return { ok: true, state: next, effects, transition: arm.name, from: phase, to: next.lifecycle_phase };
}

/**
 * The arm that fires for `input` in `state` (the first one declared for the current phase whose
 * guards all hold), or the rejection. Reads `state` only.
 */
export function firstEnabledArm(state: MachineState, input: MachineInput): { readonly ok: true; readonly arm: Arm<MachineInput> } | Rejection {
  const phase = state.lifecycle_phase;
  const failures: GuardFailure[] = [];
  let phaseMatched = false;
  for (const arm of armsFor(input)) {
    if (!arm.from.includes(phase)) continue;
    phaseMatched = true;
    const failed = arm.guards.find((g) => !g.holds(state, input));
    if (failed) {
      failures.push({ arm: arm.name, guard: failed.name });
      continue;
    }
    return { ok: true, arm };
  }
  return {
    ok: false,
    kind: phaseMatched ? 'GuardRejected' : 'NoMatchingTransition',
    phase,
    input: input.type,
    guard: failures[0]?.guard ?? null,
    failures,
  };
}

/** Human-readable description of a rejection, naming input, phase and guard. */
export function describeRejection(r: Rejection): string {
  if (r.kind === 'NoMatchingTransition') return `${r.input} has no transition from phase ${r.phase}`;
  const detail = r.failures.map((f) => `${f.arm}: ${f.guard}`).join('; ');
  return `${r.input} rejected in phase ${r.phase} by guard ${r.guard ?? '?'} (${detail})`;
}
