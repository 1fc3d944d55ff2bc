import { produceNext } from '../../src/machine/draft.js';
import type { Arm, MobDraft } from './arm.js';
import type { MobEffect } from './effects.js';
import type { MobInput } from './inputs.js';
import type { MobPhase, MobState } from './state.js';
import { MOB_TRANSITIONS } from './transitions.js';

/** One guard that refused, named by arm and guard label. */
export interface MobGuardFailure {
  readonly arm: string;
  readonly guard: string;
}

/** The reducer refused the input; the state is unchanged and no effect was produced. */
export interface MobRejection {
  readonly ok: false;
  /** `NoMatchingTransition`: no arm is declared for the current phase. `GuardRejected`: arms exist but every one has a failing guard. */
  readonly kind: 'NoMatchingTransition' | 'GuardRejected';
  readonly phase: MobPhase;
  readonly input: MobInput['type'];
  /** The first failing guard (of the first arm declared for this phase), or `null` for `NoMatchingTransition`. */
  readonly guard: string | null;
  readonly failures: readonly MobGuardFailure[];
}

/** The reducer accepted the input. */
export interface MobTransition {
  readonly ok: true;
  readonly state: MobState;
  readonly effects: readonly MobEffect[];
  /** Name of the arm that fired. */
  readonly transition: string;
  readonly from: MobPhase;
  readonly to: MobPhase;
}

export type MobStep = MobTransition | MobRejection;

function armsFor(input: MobInput): readonly Arm<MobInput>[] {
  const table = MOB_TRANSITIONS as unknown as Readonly<Record<string, readonly Arm<MobInput>[] | undefined>>;
  return table[input.type] ?? [];
}

/**
 * The MobMachine reducer: `(state, input) → {state', effects} | rejection` (`mob.md` §2),
 * with the kernel reducer's rules: the first arm whose source phase matches and whose
 * guards all hold (evaluated on the state before the input) fires; its update runs on a
 * copy-on-write draft, the phase becomes the arm's target, and effects are evaluated on
 * the resulting state. A rejection names the input, the phase and the failing guard and
 * leaves the state untouched. Pure: no I/O, no clock, no randomness.
 *
 * @example
 * ```ts
 * const s0 = initialMobState('mob-1');
 * const step = reduceMob(s0, { type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Stop' });
 * if (step.ok) console.log(step.state.placed_completion_lifecycle_intent); // 'Stop'
 * ```
 */
export function reduceMob(state: MobState, input: MobInput): MobStep {
  const phase = state.phase;
  const failures: MobGuardFailure[] = [];
  let phaseMatched = false;
  for (const arm of armsFor(input)) {
    if (!arm.from.includes(phase)) continue;
    phaseMatched = true;
    const failed = arm.guards.find((g) => !g.holds(state, input));
    if (failed) {
      failures.push({ arm: arm.name, guard: failed.name });
      continue;
    }
    const to = arm.to === 'self' ? phase : arm.to;
    const next = produceNext(state, (draft) => {
      const d = draft as MobDraft;
      arm.update?.(d, input);
      if (d.phase !== to) d.phase = to;
    });
    const effects = arm.emit ? arm.emit(next, input) : [];
    return { ok: true, state: next, effects, transition: arm.name, from: phase, to: next.phase };
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
export function describeMobRejection(r: MobRejection): string {
  if (r.kind === 'NoMatchingTransition') return `${r.input} has no transition from phase ${r.phase}`;
  const detail = r.failures.map((f) => `${f.arm}: ${f.guard}`).join('; ');
  return `${r.input} rejected in phase ${r.phase} by guard ${r.guard ?? '?'} (${detail})`;
}
