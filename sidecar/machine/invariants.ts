/**
 * MobMachine invariants as executable checks.
 *
 * - {@link MOB_INVARIANT_NAMES}: every invariant `mob.md` §2.7 states, by name. Two of
 *   them concern state this sidecar does not model (flow runs; host ids of multi-host
 *   placement) and hold vacuously, as the kernel does for its out-of-scope surfaces.
 *   The "(shell-level)" fence / generation order is made state-checkable by the
 *   reducer's `last_issued_fence_token` and canonical runtime ids; its step-wise part is
 *   {@link checkMobTransitionInvariants}.
 * - {@link DERIVED_MOB_INVARIANT_NAMES} (`derived_*`): structural consequences of the
 *   §2.2 field descriptions and §2.5 updates that every accepted transition preserves.
 *
 * These must hold after every accepted transition (the property test checks it).
 */
import { get, hasKey, isSubset } from '../../src/machine/collections.js';
import { edgesCanonical } from './helpers.js';
import type { MobState } from './state.js';
import { agentRuntimeId } from './state.js';

/** One violated invariant: its name and what was wrong. */
export interface MobInvariantViolation {
  readonly invariant: string;
  readonly detail: string;
}

type Check = (s: MobState, report: (detail: string) => void) => void;

const keys = (r: Readonly<Record<string, unknown>>): string[] => Object.keys(r).sort();
const sameKeys = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean =>
  keys(a).join('\u0000') === keys(b).join('\u0000');
const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const currentRuntimes = (s: MobState): string[] => Object.values(s.identity_to_runtime);

// ---------------------------------------------------------------------------------------------
// mob.md §2.7

const NAMED: ReadonlyArray<readonly [string, Check]> = [
  [
    'session_bindings_have_current_runtime',
    (s, r) => {
      for (const [a, session] of Object.entries(s.member_session_bindings)) {
        if (!hasKey(s.identity_to_runtime, a)) r(`${a} is bound to session ${session} without a current runtime`);
      }
    },
  ],
  [
    'incarnation_history_keys_agree',
    (s, r) => {
      const maps = {
        identity_runtime_generations: s.identity_runtime_generations,
        identity_runtime_fence_tokens: s.identity_runtime_fence_tokens,
        member_profile_names: s.member_profile_names,
        member_runtime_modes: s.member_runtime_modes,
      };
      const ref = keys(s.identity_runtime_generations).join(',');
      for (const [name, m] of Object.entries(maps)) {
        if (keys(m).join(',') !== ref) r(`${name} keys [${keys(m).join(',')}] differ from generations [${ref}]`);
      }
    },
  ],
  [
    'current_binding_has_history',
    (s, r) => {
      for (const a of Object.keys(s.identity_to_runtime)) {
        if (!hasKey(s.identity_runtime_generations, a)) r(`${a} has a current runtime but no incarnation history`);
      }
    },
  ],
  [
    'committed_spawn_ladder_has_current_runtime',
    (s, r) => {
      for (const [a, phase] of Object.entries(s.spawn_exec_phase)) {
        if (phase === 'MembershipCommitted' && !hasKey(s.identity_to_runtime, a)) r(`${a} ladder committed without a current runtime`);
      }
    },
  ],
  [
    'pending_detach_has_pending_retire_session',
    (s, r) => {
      for (const rt of s.pending_session_ingress_detach_runtime_ids) {
        if (!hasKey(s.runtime_retire_pending_sessions, rt)) r(`${rt} awaits a detach but has no pending retire session`);
      }
    },
  ],
  [
    'peer_material_coherent',
    (s, r) => {
      if (!sameKeys(s.member_peer_ids, s.member_peer_endpoints)) r('member_peer_ids and member_peer_endpoints have different keys');
      for (const [a, id] of Object.entries(s.member_peer_ids)) {
        const ep = get(s.member_peer_endpoints, a);
        if (ep !== null && ep.peer_id !== id) r(`${a} peer id ${id} is not its endpoint's ${ep.peer_id}`);
      }
    },
  ],
  [
    'peer_ids_unique_across_live_members',
    (s, r) => {
      const seen = new Map<string, string>();
      for (const [a, id] of Object.entries(s.member_peer_ids)) {
        const other = seen.get(id);
        if (other !== undefined) r(`peer id ${id} used by ${other} and ${a}`);
        seen.set(id, a);
      }
    },
  ],
  [
    // Hosts (multi-host placement) are not modelled, so no peer id can equal a host id.
    'peer_ids_not_host_ids',
    () => undefined,
  ],
  [
    'quiescing_iff_lifecycle_intent',
    (s, r) => {
      if (s.placed_completion_lifecycle_quiescing !== (s.placed_completion_lifecycle_intent !== null)) {
        r(`quiescing ${String(s.placed_completion_lifecycle_quiescing)} with intent ${s.placed_completion_lifecycle_intent ?? 'None'}`);
      }
    },
  ],
  [
    // Flow runs are not modelled (no run/step tables), so no Failed/Canceled run exists.
    'failed_or_canceled_flow_run_has_terminal_steps',
    () => undefined,
  ],
  [
    // State part of "fence tokens strictly increase per mob": every committed fence is
    // positive, at most the high-water mark, and no two incarnations share one.
    'fence_tokens_strictly_increase_per_mob',
    (s, r) => {
      if (!isCount(s.last_issued_fence_token)) r(`last_issued_fence_token is ${s.last_issued_fence_token}`);
      const history = Object.values(s.identity_runtime_fence_tokens);
      for (const f of [...history, ...Object.values(s.runtime_fence_tokens)]) {
        if (!Number.isSafeInteger(f) || f <= 0 || f > s.last_issued_fence_token) {
          r(`fence ${f} outside (0, ${s.last_issued_fence_token}]`);
        }
      }
      if (new Set(history).size !== history.length) r('two identities share a fence token');
      const live = Object.values(s.runtime_fence_tokens);
      if (new Set(live).size !== live.length) r('two live runtimes share a fence token');
    },
  ],
  [
    // State part of "generations strictly increase per identity": a current runtime is the
    // identity's latest generation, named `"<A>:<generation>"`.
    'generations_strictly_increase_per_identity',
    (s, r) => {
      for (const [a, g] of Object.entries(s.identity_runtime_generations)) {
        if (!isCount(g)) r(`${a} generation ${g}`);
      }
      for (const [a, rt] of Object.entries(s.identity_to_runtime)) {
        const g = get(s.identity_runtime_generations, a);
        if (g !== null && rt !== agentRuntimeId(a, g)) r(`${a} current runtime ${rt} is not generation ${g}`);
      }
    },
  ],
];

// ---------------------------------------------------------------------------------------------
// Derived structural properties

const DERIVED: ReadonlyArray<readonly [string, Check]> = [
  [
    'derived_live_runtimes_have_fences',
    (s, r) => {
      if (keys(s.runtime_fence_tokens).join('\u0000') !== [...s.live_runtime_ids].sort().join('\u0000')) {
        r('runtime_fence_tokens keys differ from live_runtime_ids');
      }
    },
  ],
  [
    'derived_addressable_runtimes_are_live',
    (s, r) => {
      if (!isSubset(s.externally_addressable_runtime_ids, s.live_runtime_ids)) r('an addressable runtime is not live');
    },
  ],
  [
    'derived_live_runtimes_are_current',
    (s, r) => {
      const current = currentRuntimes(s);
      for (const rt of s.live_runtime_ids) if (!current.includes(rt)) r(`live runtime ${rt} is no identity's current runtime`);
    },
  ],
  [
    'derived_live_fence_matches_identity_history',
    (s, r) => {
      for (const [a, rt] of Object.entries(s.identity_to_runtime)) {
        const f = get(s.runtime_fence_tokens, rt);
        if (f !== null && f !== get(s.identity_runtime_fence_tokens, a)) r(`${rt} fence ${f} differs from ${a}'s history`);
      }
    },
  ],
  [
    'derived_current_runtimes_distinct',
    (s, r) => {
      const current = currentRuntimes(s);
      if (new Set(current).size !== current.length) r('two identities share a current runtime');
    },
  ],
  [
    'derived_markers_cover_live_and_belong_to_current',
    (s, r) => {
      const current = currentRuntimes(s);
      for (const rt of Object.keys(s.member_state_markers)) {
        if (!current.includes(rt)) r(`marker for ${rt}, which is no current runtime`);
      }
      for (const rt of s.live_runtime_ids) if (!hasKey(s.member_state_markers, rt)) r(`live runtime ${rt} has no marker`);
    },
  ],
  [
    'derived_startup_stages_disjoint_and_live',
    (s, r) => {
      const sets = [s.member_startup_binding_requested, s.member_startup_runtime_ready, s.member_startup_ready];
      for (const set of sets) if (!isSubset(set, s.live_runtime_ids)) r('a startup stage holds a runtime that is not live');
      const all = sets.flat();
      if (new Set(all).size !== all.length) r('a runtime is in two startup stages');
    },
  ],
  [
    'derived_pending_spawn_count_matches_sessions',
    (s, r) => {
      if (!isCount(s.pending_spawn_count) || s.pending_spawn_count !== Object.keys(s.pending_spawn_sessions).length) {
        r(`pending_spawn_count ${s.pending_spawn_count} with ${Object.keys(s.pending_spawn_sessions).length} staged sessions`);
      }
    },
  ],
  [
    'derived_retire_bookkeeping_requires_retiring',
    (s, r) => {
      const rts = [
        ...Object.keys(s.runtime_retire_pending_sessions),
        ...Object.keys(s.runtime_retire_refusal_codes),
        ...s.pending_session_ingress_detach_runtime_ids,
      ];
      for (const rt of rts) {
        if (get(s.member_state_markers, rt) !== 'Retiring') r(`${rt} has retire bookkeeping but is not marked Retiring`);
      }
    },
  ],
  [
    'derived_retire_refusals_paired',
    (s, r) => {
      if (!sameKeys(s.runtime_retire_refusal_codes, s.runtime_retire_refusal_reasons)) r('refusal codes and reasons differ in keys');
      for (const rt of Object.keys(s.runtime_retire_refusal_codes)) {
        if (!hasKey(s.runtime_retire_pending_sessions, rt)) r(`${rt} has a retire refusal but no pending session`);
      }
    },
  ],
  [
    'derived_restore_failures_paired',
    (s, r) => {
      if (!sameKeys(s.member_restore_failures, s.member_restore_failure_codes)) r('restore failures and codes differ in keys');
      for (const a of Object.keys(s.member_restore_failures)) {
        if (!hasKey(s.identity_to_runtime, a)) r(`${a} has a restore failure but no current runtime`);
      }
    },
  ],
  [
    'derived_wiring_edges_normalized',
    (s, r) => {
      for (const e of s.wiring_edges) if (!(e.a < e.b)) r(`edge (${e.a}, ${e.b}) is not normalized`);
      if (!edgesCanonical(s.wiring_edges)) r('wiring_edges is not sorted and duplicate-free');
      for (const [k, e] of Object.entries(s.external_peer_edges_by_key)) {
        if (e.local === e.peer) r(`external edge ${k} links ${e.local} to itself`);
      }
    },
  ],
  [
    'derived_running_has_coordinator',
    (s, r) => {
      if (s.phase === 'Running' && !s.coordinator_bound) r('Running with the coordinator unbound');
    },
  ],
  [
    'derived_destroyed_is_torn_down',
    (s, r) => {
      if (s.phase !== 'Destroyed') return;
      if (s.live_runtime_ids.length > 0) r('Destroyed with live runtimes');
      if (s.coordinator_bound) r('Destroyed with the coordinator bound');
      if (s.pending_session_ingress_detach_runtime_ids.length > 0) r('Destroyed with pending detaches');
      if (s.pending_spawn_count > 0) r('Destroyed with pending spawns');
    },
  ],
  [
    'derived_destroy_admission_holds_destroy_latch',
    (s, r) => {
      if (s.destroy_admitted && s.phase !== 'Destroyed' && !(s.placed_completion_lifecycle_intent === 'Destroy')) {
        r(`destroy admitted in ${s.phase} with intent ${s.placed_completion_lifecycle_intent ?? 'None'}`);
      }
    },
  ],
  [
    'derived_counters_valid',
    (s, r) => {
      const counters: Record<string, number> = {
        active_run_count: s.active_run_count,
        pending_spawn_count: s.pending_spawn_count,
        topology_epoch: s.topology_epoch,
      };
      for (const [name, v] of Object.entries(counters)) if (!isCount(v)) r(`${name} is ${v}`);
    },
  ],
  [
    'derived_health_tracks_current_members',
    (s, r) => {
      const observed = s.member_last_observed_at_ms;
      const maps = {
        member_in_flight_work: s.member_in_flight_work,
        member_last_progress_at_ms: s.member_last_progress_at_ms,
        member_health_class: s.member_health_class,
      };
      for (const [name, m] of Object.entries(maps)) if (!sameKeys(m, observed)) r(`${name} keys differ from observations`);
      const tracked = [
        ...Object.keys(observed),
        ...Object.keys(s.member_progress_tokens),
        ...Object.keys(s.member_last_progress_event),
        ...s.member_run_open,
      ];
      for (const a of tracked) {
        if (!hasKey(s.identity_to_runtime, a)) r(`health data for ${a}, which has no current runtime`);
        else if (!hasKey(observed, a)) r(`health data for ${a} without an observation`);
      }
      for (const [a, t] of Object.entries(s.member_last_progress_at_ms)) {
        const seen = get(observed, a);
        if (seen !== null && t > seen) r(`${a} progressed at ${t} after its last observation ${seen}`);
      }
    },
  ],
  [
    'derived_kickoff_error_iff_failed',
    (s, r) => {
      for (const a of Object.keys(s.member_kickoff_errors)) {
        if (get(s.member_kickoff_phase, a) !== 'Failed') r(`${a} has a kickoff error but is not Failed`);
      }
      for (const [a, phase] of Object.entries(s.member_kickoff_phase)) {
        if (phase === 'Failed' && !hasKey(s.member_kickoff_errors, a)) r(`${a} kickoff Failed without an error`);
      }
      for (const a of Object.keys(s.member_kickoff_objective_ids)) {
        if (!hasKey(s.member_kickoff_phase, a)) r(`${a} has a kickoff objective but no kickoff`);
      }
    },
  ],
  [
    'derived_sets_canonical',
    (s, r) => {
      const sets: Record<string, readonly string[]> = {
        live_runtime_ids: s.live_runtime_ids,
        externally_addressable_runtime_ids: s.externally_addressable_runtime_ids,
        member_startup_binding_requested: s.member_startup_binding_requested,
        member_startup_runtime_ready: s.member_startup_runtime_ready,
        member_startup_ready: s.member_startup_ready,
        pending_session_ingress_detach_runtime_ids: s.pending_session_ingress_detach_runtime_ids,
        desired_members: s.desired_members,
        members_to_spawn: s.members_to_spawn,
        members_to_retire: s.members_to_retire,
        member_run_open: s.member_run_open,
      };
      for (const [name, set] of Object.entries(sets)) {
        if (!set.every((x, i) => i === 0 || (set[i - 1] as string) < x)) r(`${name} is not sorted and duplicate-free`);
      }
    },
  ],
];

/** Names of the `mob.md` §2.7 invariants, in the order the spec lists them. */
export const MOB_INVARIANT_NAMES: readonly string[] = NAMED.map(([n]) => n);
/** Names of the derived structural checks. */
export const DERIVED_MOB_INVARIANT_NAMES: readonly string[] = DERIVED.map(([n]) => n);

/** Every violated invariant of `state` (empty when the state is sound). */
export function checkMobInvariants(state: MobState): MobInvariantViolation[] {
  const out: MobInvariantViolation[] = [];
  for (const [invariant, check] of [...NAMED, ...DERIVED]) check(state, (detail) => out.push({ invariant, detail }));
  return out;
}

/** Throws an `Error` listing every violated invariant of `state`. */
export function assertMobInvariants(state: MobState): void {
  const violations = checkMobInvariants(state);
  if (violations.length === 0) return;
  throw new Error(
    `mob invariants violated in phase ${state.phase}: ${violations.map((v) => `${v.invariant}: ${v.detail}`).join('; ')}`,
  );
}

/**
 * Step-wise invariants between two consecutive states: the fence high-water mark and the
 * topology epoch never decrease; an identity's generation never decreases and, when it
 * changes, advances by exactly one (a never-seen identity starts at 0).
 */
export function checkMobTransitionInvariants(before: MobState, after: MobState): MobInvariantViolation[] {
  const out: MobInvariantViolation[] = [];
  if (after.last_issued_fence_token < before.last_issued_fence_token) {
    out.push({ invariant: 'fence_tokens_strictly_increase_per_mob', detail: 'last_issued_fence_token decreased' });
  }
  if (after.topology_epoch < before.topology_epoch) {
    out.push({ invariant: 'derived_topology_epoch_monotonic', detail: 'topology_epoch decreased' });
  }
  for (const [a, g] of Object.entries(after.identity_runtime_generations)) {
    const prev = get(before.identity_runtime_generations, a);
    if ((prev === null && g !== 0) || (prev !== null && g !== prev && g !== prev + 1)) {
      out.push({ invariant: 'generations_strictly_increase_per_identity', detail: `${a}: ${prev ?? 'None'} → ${g}` });
    }
  }
  for (const a of Object.keys(before.identity_runtime_generations)) {
    if (!hasKey(after.identity_runtime_generations, a)) {
      out.push({ invariant: 'generations_strictly_increase_per_identity', detail: `${a}: history dropped` });
    }
  }
  for (const [a, f] of Object.entries(after.identity_runtime_fence_tokens)) {
    const prev = get(before.identity_runtime_fence_tokens, a);
    if (prev !== null && f !== prev && f <= before.last_issued_fence_token) {
      out.push({ invariant: 'fence_tokens_strictly_increase_per_mob', detail: `${a} fence ${prev} → ${f} not above ${before.last_issued_fence_token}` });
    }
  }
  return out;
}
