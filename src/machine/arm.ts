import type { Draft } from './draft.js';
import type { Effect } from './effects.js';
import { PHASES, type MachineState, type Phase } from './state.js';

/**
 * A named precondition of an arm. Guard names are the upstream guard labels
 * (`machine.md` tables), so a rejection can say exactly which rule refused it.
 */
export interface Guard<I> {
  readonly name: string;
  readonly holds: (state: MachineState, input: I) => boolean;
}

/**
 * One row of a transition table (`machine.md` §0 R1–R5):
 * source phases, guards evaluated in order against the state *before* the input,
 * sequential updates on a draft, a target phase, and effects evaluated on the
 * state *after* the updates and the phase change.
 */
export interface Arm<I> {
  /** Upstream transition name, e.g. `PrepareBindingsIdle`. */
  readonly name: string;
  readonly from: readonly Phase[];
  readonly guards: readonly Guard<I>[];
  readonly update?: (draft: Draft<MachineState>, input: I) => void;
  /** `'self'` keeps the phase the arm fired from; `'by-update'` keeps whatever phase the update wrote (recovery only). */
  readonly to: Phase | 'self' | 'by-update';
  readonly emit?: (post: MachineState, input: I) => readonly Effect[];
}

/** For each input variant of `U`, its arms in declaration order. */
export type ArmTable<U extends { readonly type: string }> = {
  readonly [K in U['type']]: readonly Arm<Extract<U, { readonly type: K }>>[];
};

/** Shorthand for building a {@link Guard}. */
export function guard<I>(name: string, holds: (state: MachineState, input: I) => boolean): Guard<I> {
  return { name, holds };
}

/** Phase lists used by many tables. */
export const ALL_PHASES: readonly Phase[] = PHASES;
/** "Idle…Stopped" in the tables. */
export const LIVE_PHASES: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'];
/** Phases that accept ingress: Idle, Attached, Running. */
export const INGRESS_PHASES: readonly Phase[] = ['Idle', 'Attached', 'Running'];
/** Every phase but Destroyed. */
export const NON_TERMINAL_PHASES: readonly Phase[] = PHASES.filter((p) => p !== 'Destroyed');
