import type { Draft } from '../../src/machine/draft.js';
import type { MobEffect } from './effects.js';
import type { MobPhase, MobState } from './state.js';

/**
 * The transition-table vocabulary of the kernel reducer (`src/machine/arm.ts`), generic over
 * the machine's state and phase. The kernel's own `Arm`/`Guard` are tied to its
 * `MachineState`, so the sidecar declares the same shape once, generically, and
 * instantiates it for the {@link MobState} below.
 */

/** A named precondition, evaluated against the state *before* the input. */
export interface GenericGuard<S, I> {
  readonly name: string;
  readonly holds: (state: S, input: I) => boolean;
}

/**
 * One row of a transition table: source phases, guards evaluated in order, sequential
 * updates on a copy-on-write draft, a target phase (`'self'` keeps the source phase) and
 * effects evaluated on the state *after* the updates and the phase change.
 */
export interface GenericArm<S, P extends string, I, E> {
  /** Upstream transition name, e.g. `CommitSpawnMembershipFresh`. */
  readonly name: string;
  readonly from: readonly P[];
  readonly guards: readonly GenericGuard<S, I>[];
  readonly update?: (draft: Draft<S>, input: I) => void;
  readonly to: P | 'self';
  readonly emit?: (post: S, input: I) => readonly E[];
}

/** A guard of the MobMachine. */
export type Guard<I> = GenericGuard<MobState, I>;
/** An arm of the MobMachine. */
export type Arm<I> = GenericArm<MobState, MobPhase, I, MobEffect>;
/** Mutable view of the mob state handed to an arm's `update`. */
export type MobDraft = Draft<MobState>;

/** For each input variant of `U`, its arms in declaration order (first match wins). */
export type ArmTable<U extends { readonly type: string }> = {
  readonly [K in U['type']]: readonly Arm<Extract<U, { readonly type: K }>>[];
};

/** Shorthand for building a {@link Guard}. */
export function guard<I>(name: string, holds: (state: MobState, input: I) => boolean): Guard<I> {
  return { name, holds };
}

/** Every phase. */
export const ALL_PHASES: readonly MobPhase[] = ['Running', 'Stopped', 'Completed', 'Destroyed'];
/** Phases in which the mob still exists ("any live phase"). */
export const LIVE_PHASES: readonly MobPhase[] = ['Running', 'Stopped', 'Completed'];
/** Running or Stopped (retirement and its feedback). */
export const RUNNING_OR_STOPPED: readonly MobPhase[] = ['Running', 'Stopped'];
