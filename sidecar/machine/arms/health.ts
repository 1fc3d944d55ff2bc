/**
 * Member health (`mob.md` §2.2 "Health", §2.8 step 4): progress observations fed by the
 * shell (`ObserveMemberProgress`) and a clock-driven re-evaluation (`EvaluateMemberHealth`).
 *
 * Classification of a member observed at least once, at time `now`:
 * - no run open → `Healthy`;
 * - a run open and `now − last_progress_at` ≥ 300 s → `Wedged`, ≥ 60 s → `Degraded`, else `Healthy`.
 * A member never observed is `Unknown` (no entry). "Progress" is a change of the opaque
 * progress token, the first observation, or a run opening. The reducer has no clock:
 * time arrives in the inputs, observations must not go back in time.
 *
 * Each input has a `…Reclassified` arm (the class changes: emits `MemberHealthChanged`)
 * ahead of the plain arm, so that the effect is decided by the table, not by the update.
 */
import { get, hasKey, setAdd, setHas, setRemove } from '../../../src/machine/collections.js';
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard, MobDraft } from '../arm.js';
import { identityBindingMatches, runtimeFenceMatches, runtimeLive } from '../helpers.js';
import type { HealthClass, MobState } from '../state.js';
import { HEALTH_DEGRADED_AFTER_MS, HEALTH_WEDGED_AFTER_MS } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** A progress observation of A's current incarnation at `observed_at_ms`. */
export interface ObserveMemberProgress {
  readonly type: 'ObserveMemberProgress';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly observed_at_ms: number;
  readonly run_open: boolean;
  readonly in_flight_work: number;
  /** Opaque token that changes whenever the member made progress (`null`: not reported). */
  readonly progress_token: string | null;
  readonly progress_event: string | null;
}

/** Re-evaluate A's health class at `now_ms`. */
export interface EvaluateMemberHealth {
  readonly type: 'EvaluateMemberHealth';
  readonly agent_identity: string;
  readonly now_ms: number;
}

export type HealthInput = ObserveMemberProgress | EvaluateMemberHealth;

// ---------------------------------------------------------------------------------------------
// Classification

/** The health class of a member with (`runOpen`, last progress at `lastProgressAt`) at `now`. */
export function classifyHealth(runOpen: boolean, lastProgressAt: number, now: number): HealthClass {
  if (!runOpen) return 'Healthy';
  const quiet = now - lastProgressAt;
  if (quiet >= HEALTH_WEDGED_AFTER_MS) return 'Wedged';
  if (quiet >= HEALTH_DEGRADED_AFTER_MS) return 'Degraded';
  return 'Healthy';
}

/** The recorded class of A (`Unknown` when never observed). */
export function healthOf(s: MobState, a: string): HealthClass {
  return get(s.member_health_class, a) ?? 'Unknown';
}

/** Last-progress time after observation `i` (pre-state `s`). */
function progressAtAfter(s: MobState, i: ObserveMemberProgress): number {
  const a = i.agent_identity;
  const last = get(s.member_last_progress_at_ms, a);
  const tokenChanged = i.progress_token !== null && i.progress_token !== get(s.member_progress_tokens, a);
  const runOpened = i.run_open && !setHas(s.member_run_open, a);
  return last === null || tokenChanged || runOpened ? i.observed_at_ms : last;
}

function classAfterObservation(s: MobState, i: ObserveMemberProgress): HealthClass {
  return classifyHealth(i.run_open, progressAtAfter(s, i), i.observed_at_ms);
}

function classAfterEvaluation(s: MobState, i: EvaluateMemberHealth): HealthClass {
  const a = i.agent_identity;
  return classifyHealth(setHas(s.member_run_open, a), get(s.member_last_progress_at_ms, a) ?? i.now_ms, i.now_ms);
}

const timeValid = (t: number): boolean => Number.isSafeInteger(t) && t >= 0;

// ---------------------------------------------------------------------------------------------
// Arms

const observeGuards = (): Guard<ObserveMemberProgress>[] => [
  identityBindingMatches(),
  runtimeLive(),
  runtimeFenceMatches(),
  guard('observation_in_order', (s, i) => {
    const last = get(s.member_last_observed_at_ms, i.agent_identity);
    return timeValid(i.observed_at_ms) && (last === null || i.observed_at_ms >= last);
  }),
  guard('in_flight_work_valid', (_s, i) => Number.isSafeInteger(i.in_flight_work) && i.in_flight_work >= 0),
];

function observe(d: MobDraft, i: ObserveMemberProgress): void {
  const a = i.agent_identity;
  const s = d as MobState;
  const progressAt = progressAtAfter(s, i);
  const klass = classAfterObservation(s, i);
  if (i.progress_token !== null) d.member_progress_tokens[a] = i.progress_token;
  if (i.progress_event !== null) d.member_last_progress_event[a] = i.progress_event;
  d.member_last_progress_at_ms[a] = progressAt;
  d.member_last_observed_at_ms[a] = i.observed_at_ms;
  d.member_in_flight_work[a] = i.in_flight_work;
  if (i.run_open && !setHas(d.member_run_open, a)) d.member_run_open = setAdd(d.member_run_open, a);
  if (!i.run_open && setHas(d.member_run_open, a)) d.member_run_open = setRemove(d.member_run_open, a);
  d.member_health_class[a] = klass;
}

const changed = (s: MobState, a: string) => [
  { type: 'MemberHealthChanged' as const, agent_identity: a, health: s.member_health_class[a] as HealthClass },
];

const evaluateGuards = (): Guard<EvaluateMemberHealth>[] => [
  guard('member_observed', (s, i) => hasKey(s.member_last_observed_at_ms, i.agent_identity)),
  guard('clock_not_behind_observation', (s, i) => {
    const last = get(s.member_last_observed_at_ms, i.agent_identity);
    return timeValid(i.now_ms) && last !== null && i.now_ms >= last;
  }),
];

const observeArms: Arm<ObserveMemberProgress>[] = [
  {
    name: 'ObserveMemberProgressReclassified',
    from: LIVE_PHASES,
    guards: [
      ...observeGuards(),
      guard('health_class_changes', (s, i) => classAfterObservation(s, i) !== healthOf(s, i.agent_identity)),
    ],
    update: observe,
    to: 'self',
    emit: (s, i) => changed(s, i.agent_identity),
  },
  { name: 'ObserveMemberProgress', from: LIVE_PHASES, guards: observeGuards(), update: observe, to: 'self' },
];

const evaluateArms: Arm<EvaluateMemberHealth>[] = [
  {
    name: 'EvaluateMemberHealthReclassified',
    from: LIVE_PHASES,
    guards: [
      ...evaluateGuards(),
      guard('health_class_changes', (s, i) => classAfterEvaluation(s, i) !== healthOf(s, i.agent_identity)),
    ],
    update: (d, i) => {
      d.member_health_class[i.agent_identity] = classAfterEvaluation(d as MobState, i);
    },
    to: 'self',
    emit: (s, i) => changed(s, i.agent_identity),
  },
  { name: 'EvaluateMemberHealthUnchanged', from: LIVE_PHASES, guards: evaluateGuards(), to: 'self' },
];

export const healthArms: ArmTable<HealthInput> = {
  ObserveMemberProgress: observeArms,
  EvaluateMemberHealth: evaluateArms,
};
