/**
 * Input *templates* for the MobMachine property tests.
 *
 * Purely random fences, generations and runtime ids almost never satisfy the spawn and
 * seam guards (a committed fence must be fresh, a generation must be the next one, a
 * signal must name a live runtime with its fence), so random sequences would bounce off
 * the machine. Each arbitrary therefore yields a template: the input type and the
 * identities come from the arbitrary, and every fence / generation / runtime / session /
 * time field is a *choice* that is either a literal (often wrong: stale fences, foreign
 * runtimes, unknown sessions) or a symbol resolved against the current state when the
 * template is applied ("the current fence", "the next generation", "A's bound session").
 * The resolved input is what the reducer sees and what a failure reports.
 */
import fc from 'fast-check';
import { get } from '../../../src/machine/collections.js';
import type { MobInput, MobState } from '../../../sidecar/machine/index.js';
import { S1, S2, S3 } from '../fixtures.js';

export interface Tmpl {
  readonly label: string;
  readonly build: (s: MobState) => MobInput;
}

export function tmpl(label: string, build: (s: MobState) => MobInput): Tmpl {
  return { label, build, [fc.toStringMethod]: () => label } as Tmpl;
}

export const IDENTITIES = ['a', 'b', 'c'] as const;
export const SESSIONS = [S1, S2, S3] as const;
export const MOB_IDS = ['mob-1', 'mob-1', 'mob-1', 'mob-2'] as const;

export const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
/** Identities, biased towards the two the property-test preludes spawn. */
export const identity: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('a') },
  { weight: 4, arbitrary: fc.constant('b') },
  { weight: 2, arbitrary: fc.constant('c') },
);
export const mobId = pick(MOB_IDS);
export const literalSession = pick(SESSIONS);

// ---------------------------------------------------------------------------------------------
// Choices

export type FenceChoice = 'match' | 'fresh' | number;
export type GenChoice = 'next' | 'current' | number;
export type RuntimeChoice = 'current' | 'next' | 'stale' | 'foreign';
export type SessionChoice = 'bound' | 'staged' | 'pending' | 'none' | (typeof SESSIONS)[number];
export type TimeChoice = { readonly after: number } | number;

export const fenceChoice: fc.Arbitrary<FenceChoice> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<FenceChoice>('match') },
  { weight: 3, arbitrary: fc.constant<FenceChoice>('fresh') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 }) },
);
export const spawnFenceChoice: fc.Arbitrary<FenceChoice> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<FenceChoice>('fresh') },
  { weight: 1, arbitrary: fc.constant<FenceChoice>('match') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 }) },
);
export const genChoice: fc.Arbitrary<GenChoice> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<GenChoice>('current') },
  { weight: 1, arbitrary: fc.constant<GenChoice>('next') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) },
);
export const spawnGenChoice: fc.Arbitrary<GenChoice> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<GenChoice>('next') },
  { weight: 1, arbitrary: fc.constant<GenChoice>('current') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) },
);
export const runtimeChoice: fc.Arbitrary<RuntimeChoice> = fc.oneof(
  { weight: 10, arbitrary: fc.constant<RuntimeChoice>('current') },
  { weight: 1, arbitrary: fc.constant<RuntimeChoice>('next') },
  { weight: 1, arbitrary: fc.constant<RuntimeChoice>('stale') },
  { weight: 1, arbitrary: fc.constant<RuntimeChoice>('foreign') },
);
export const sessionChoice: fc.Arbitrary<SessionChoice> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<SessionChoice>('bound') },
  { weight: 2, arbitrary: fc.constant<SessionChoice>('staged') },
  { weight: 3, arbitrary: fc.constant<SessionChoice>('pending') },
  { weight: 2, arbitrary: fc.constant<SessionChoice>('none') },
  { weight: 1, arbitrary: literalSession },
);
export const timeChoice: fc.Arbitrary<TimeChoice> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ after: fc.constantFrom(0, 1_000, 30_000, 61_000, 301_000) }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 400_000 }) },
);

/** Whether a template "follows" the machine: resolves its identity to one at the right step, if any. */
export const follow: fc.Arbitrary<boolean> = fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });

// ---------------------------------------------------------------------------------------------
// Resolution against the current state

/** `fallback` unless `follow` and some pool identity satisfies `p` (then the first such). */
export function followIdentity(s: MobState, followIt: boolean, fallback: string, p: (s: MobState, a: string) => boolean): string {
  if (!followIt) return fallback;
  return IDENTITIES.find((a) => p(s, a)) ?? fallback;
}

export function runtimeFor(s: MobState, a: string, c: RuntimeChoice): string {
  const gen = get(s.identity_runtime_generations, a);
  switch (c) {
    case 'current':
      return get(s.identity_to_runtime, a) ?? `${a}:${gen ?? 0}`;
    case 'next':
      return `${a}:${gen === null ? 0 : gen + 1}`;
    case 'stale':
      return `${a}:${gen === null || gen === 0 ? 0 : gen - 1}`;
    case 'foreign':
      return 'x:0';
  }
}

export function fenceFor(s: MobState, a: string, r: string, c: FenceChoice): number {
  if (typeof c === 'number') return c;
  if (c === 'fresh') return s.last_issued_fence_token + 1;
  return get(s.runtime_fence_tokens, r) ?? get(s.identity_runtime_fence_tokens, a) ?? 1;
}

export function genFor(s: MobState, a: string, c: GenChoice): number {
  if (typeof c === 'number') return c;
  const gen = get(s.identity_runtime_generations, a);
  if (c === 'next') return gen === null ? 0 : gen + 1;
  return gen ?? 0;
}

export function sessionFor(s: MobState, a: string, c: SessionChoice): string | null {
  switch (c) {
    case 'bound':
      return get(s.member_session_bindings, a) ?? get(s.pending_spawn_sessions, a) ?? S1;
    case 'staged':
      return get(s.pending_spawn_sessions, a) ?? S2;
    case 'pending': {
      const r = get(s.identity_to_runtime, a);
      return r === null ? null : get(s.runtime_retire_pending_sessions, r);
    }
    case 'none':
      return null;
    default:
      return c;
  }
}

export function timeFor(last: number | null, c: TimeChoice): number {
  return typeof c === 'number' ? c : (last ?? 0) + c.after;
}
