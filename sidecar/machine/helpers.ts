/**
 * Shared predicates, named guards and draft updates of the MobMachine arms.
 *
 * Guard labels are descriptive snake_case names in the style of the upstream guard
 * labels; the same label is used wherever the same rule is checked, so a rejection
 * names the rule that refused it regardless of the input.
 */
import { get, hasKey, setAdd, setHas, setRemove } from '../../src/machine/collections.js';
import { guard } from './arm.js';
import type { Guard, MobDraft } from './arm.js';
import type { LifecycleIntent, MobState, WiringEdge } from './state.js';
import { agentRuntimeId, KICKOFF_IN_FLIGHT } from './state.js';

// ---------------------------------------------------------------------------------------------
// Predicates

/** A's current runtime id, or `null`. */
export function currentRuntime(s: MobState, agentIdentity: string): string | null {
  return get(s.identity_to_runtime, agentIdentity);
}

/** The identity whose current runtime is `R`, or `null`. */
export function identityOfRuntime(s: MobState, agentRuntimeId: string): string | null {
  for (const [a, r] of Object.entries(s.identity_to_runtime)) if (r === agentRuntimeId) return a;
  return null;
}

export function isLive(s: MobState, agentRuntimeId: string): boolean {
  return setHas(s.live_runtime_ids, agentRuntimeId);
}

export function isRetiring(s: MobState, agentRuntimeId: string): boolean {
  return get(s.member_state_markers, agentRuntimeId) === 'Retiring';
}

export function fenceMatches(s: MobState, agentRuntimeId: string, fence: number): boolean {
  return get(s.runtime_fence_tokens, agentRuntimeId) === fence;
}

/** `generation == next generation for A`: 0 for a never-seen identity, else last + 1. */
export function nextGeneration(s: MobState, agentIdentity: string): number {
  const last = get(s.identity_runtime_generations, agentIdentity);
  return last === null ? 0 : last + 1;
}

export function quiescingWith(s: MobState, intent: LifecycleIntent): boolean {
  return s.placed_completion_lifecycle_quiescing && s.placed_completion_lifecycle_intent === intent;
}

export function kickoffInFlight(s: MobState, agentIdentity: string): boolean {
  const phase = get(s.member_kickoff_phase, agentIdentity);
  return phase !== null && KICKOFF_IN_FLIGHT.includes(phase);
}

/** Is A the peer side of some member ↔ external peer edge (`A is an external-peer identity`)? */
export function isExternalPeerIdentity(s: MobState, agentIdentity: string): boolean {
  return Object.values(s.external_peer_edges_by_key).some((e) => e.peer === agentIdentity);
}

/** Identities whose current runtime is live and not Retiring ("active members"), sorted. */
export function activeMembers(s: MobState): string[] {
  return Object.keys(s.identity_to_runtime)
    .filter((a) => {
      const r = s.identity_to_runtime[a] as string;
      return isLive(s, r) && !isRetiring(s, r);
    })
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Named guards shared by several inputs

type WithRuntime = { readonly agent_runtime_id: string };
type WithFence = WithRuntime & { readonly fence_token: number };
type WithIdentity = { readonly agent_identity: string };
type WithBinding = WithIdentity & WithRuntime;

/** `lifecycle_origin_open`: no quiesce latch is held. */
export const originOpen = <I>(): Guard<I> =>
  guard('lifecycle_origin_open', (s) => !s.placed_completion_lifecycle_quiescing);

export const coordinatorBound = <I>(): Guard<I> => guard('coordinator_bound', (s) => s.coordinator_bound);

/** The input's runtime is in `live_runtime_ids`. */
export const runtimeLive = <I extends WithRuntime>(): Guard<I> =>
  guard('runtime_live', (s, i) => isLive(s, i.agent_runtime_id));

/** The input's fence equals the recorded fence of its (live) runtime. */
export const runtimeFenceMatches = <I extends WithFence>(): Guard<I> =>
  guard('runtime_fence_matches', (s, i) => fenceMatches(s, i.agent_runtime_id, i.fence_token));

/** `A → R`: the identity's current runtime is the input's runtime. */
export const identityBindingMatches = <I extends WithBinding>(): Guard<I> =>
  guard('identity_runtime_binding_matches', (s, i) => currentRuntime(s, i.agent_identity) === i.agent_runtime_id);

export const notRetiring = <I extends WithRuntime>(): Guard<I> =>
  guard('member_not_retiring', (s, i) => !isRetiring(s, i.agent_runtime_id));

export const markedRetiring = <I extends WithRuntime>(): Guard<I> =>
  guard('member_marked_retiring', (s, i) => isRetiring(s, i.agent_runtime_id));

export const mobIdMatches = <I extends { readonly mob_id: string }>(): Guard<I> =>
  guard('mob_id_matches', (s, i) => s.mob_id === i.mob_id);

/** Quiescing with exactly this intent, e.g. `quiescing_with_intent_destroy`. */
export const quiescingWithIntent = <I>(intent: LifecycleIntent): Guard<I> =>
  guard(`quiescing_with_intent_${intent.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()}`, (s) =>
    quiescingWith(s, intent),
  );

export const noPendingDetach = <I>(): Guard<I> =>
  guard('no_pending_session_ingress_detach', (s) => s.pending_session_ingress_detach_runtime_ids.length === 0);

export const noKickoffsInFlight = <I>(): Guard<I> =>
  guard('no_kickoffs_in_flight', (s) => Object.keys(s.member_kickoff_phase).every((a) => !kickoffInFlight(s, a)));

export const noPendingSpawns = <I>(): Guard<I> =>
  guard('no_pending_spawns', (s) => s.pending_spawn_count === 0 && Object.keys(s.pending_spawn_sessions).length === 0);

export const noActiveRuns = <I>(): Guard<I> => guard('no_active_runs', (s) => s.active_run_count === 0);

/** `some member live`. */
export const someMemberLive = <I>(): Guard<I> => guard('some_member_live', (s) => s.live_runtime_ids.length > 0);

/** The runtime id is the canonical `"<A>:<generation>"` (`mob.md` §1.3). */
export const runtimeIdCanonical = <I extends WithBinding & { readonly generation: number }>(): Guard<I> =>
  guard('runtime_id_names_identity_generation', (_s, i) => i.agent_runtime_id === agentRuntimeId(i.agent_identity, i.generation));

/** The identity's recorded generation (history) equals the input's generation. */
export const generationMatches = <I extends WithIdentity & { readonly generation: number }>(): Guard<I> =>
  guard('identity_generation_matches', (s, i) => get(s.identity_runtime_generations, i.agent_identity) === i.generation);

// ---------------------------------------------------------------------------------------------
// Wiring edges

/** Normalizes an undirected edge so that `a ≤ b`. */
export function normalizeEdge(x: string, y: string): WiringEdge {
  return x <= y ? { a: x, b: y } : { a: y, b: x };
}

export function edgeEquals(x: WiringEdge, y: WiringEdge): boolean {
  return x.a === y.a && x.b === y.b;
}

export function edgesHave(edges: readonly WiringEdge[], e: WiringEdge): boolean {
  return edges.some((x) => edgeEquals(x, e));
}

function compareEdges(x: WiringEdge, y: WiringEdge): number {
  if (x.a !== y.a) return x.a < y.a ? -1 : 1;
  if (x.b !== y.b) return x.b < y.b ? -1 : 1;
  return 0;
}

/** Sorted, duplicate-free edge list with `e` added (plain objects, never drafts). */
export function edgesAdd(edges: readonly WiringEdge[], e: WiringEdge): WiringEdge[] {
  const out = edges.filter((x) => !edgeEquals(x, e)).map((x) => ({ a: x.a, b: x.b }));
  out.push({ a: e.a, b: e.b });
  return out.sort(compareEdges);
}

export function edgesRemove(edges: readonly WiringEdge[], e: WiringEdge): WiringEdge[] {
  return edges.filter((x) => !edgeEquals(x, e)).map((x) => ({ a: x.a, b: x.b }));
}

/** Is `edges` sorted by (a, b) and duplicate-free? */
export function edgesCanonical(edges: readonly WiringEdge[]): boolean {
  return edges.every((e, i) => i === 0 || compareEdges(edges[i - 1] as WiringEdge, e) < 0);
}

/** Identities wired to `A` (sorted). */
export function wiredTo(s: MobState, agentIdentity: string): string[] {
  const out: string[] = [];
  for (const e of s.wiring_edges) {
    if (e.a === agentIdentity) out.push(e.b);
    else if (e.b === agentIdentity) out.push(e.a);
  }
  return out.sort();
}

// ---------------------------------------------------------------------------------------------
// Draft updates

function deleteKey(record: Record<string, unknown>, key: string): void {
  if (hasKey(record, key)) delete record[key];
}

/** Removes R from the live/addressable sets, the fence map and the startup sets. */
export function dropLiveRuntime(d: MobDraft, r: string): void {
  if (setHas(d.live_runtime_ids, r)) d.live_runtime_ids = setRemove(d.live_runtime_ids, r);
  if (setHas(d.externally_addressable_runtime_ids, r)) {
    d.externally_addressable_runtime_ids = setRemove(d.externally_addressable_runtime_ids, r);
  }
  deleteKey(d.runtime_fence_tokens, r);
  dropStartup(d, r);
}

/** Removes R from every startup readiness set. */
export function dropStartup(d: MobDraft, r: string): void {
  if (setHas(d.member_startup_binding_requested, r)) {
    d.member_startup_binding_requested = setRemove(d.member_startup_binding_requested, r);
  }
  if (setHas(d.member_startup_runtime_ready, r)) d.member_startup_runtime_ready = setRemove(d.member_startup_runtime_ready, r);
  if (setHas(d.member_startup_ready, r)) d.member_startup_ready = setRemove(d.member_startup_ready, r);
}

/** Removes R's retire bookkeeping (pending session, refusal, pending detach). */
export function dropRetireBookkeeping(d: MobDraft, r: string): void {
  deleteKey(d.runtime_retire_pending_sessions, r);
  deleteKey(d.runtime_retire_refusal_codes, r);
  deleteKey(d.runtime_retire_refusal_reasons, r);
  if (setHas(d.pending_session_ingress_detach_runtime_ids, r)) {
    d.pending_session_ingress_detach_runtime_ids = setRemove(d.pending_session_ingress_detach_runtime_ids, r);
  }
}

export function dropRestoreFailure(d: MobDraft, a: string): void {
  deleteKey(d.member_restore_failures, a);
  deleteKey(d.member_restore_failure_codes, a);
}

export function dropKickoff(d: MobDraft, a: string): void {
  deleteKey(d.member_kickoff_phase, a);
  deleteKey(d.member_kickoff_errors, a);
  deleteKey(d.member_kickoff_objective_ids, a);
}

export function dropHealth(d: MobDraft, a: string): void {
  if (setHas(d.member_run_open, a)) d.member_run_open = setRemove(d.member_run_open, a);
  deleteKey(d.member_in_flight_work, a);
  deleteKey(d.member_progress_tokens, a);
  deleteKey(d.member_last_observed_at_ms, a);
  deleteKey(d.member_last_progress_at_ms, a);
  deleteKey(d.member_last_progress_event, a);
  deleteKey(d.member_health_class, a);
}

export function dropPeer(d: MobDraft, a: string): void {
  deleteKey(d.member_peer_ids, a);
  deleteKey(d.member_peer_endpoints, a);
}

/** Removes every member ↔ member and member ↔ external edge touching A; true when any was removed. */
export function pruneEdgesOf(d: MobDraft, a: string): boolean {
  let changed = false;
  if (d.wiring_edges.some((e) => e.a === a || e.b === a)) {
    d.wiring_edges = d.wiring_edges.filter((e) => e.a !== a && e.b !== a).map((e) => ({ a: e.a, b: e.b }));
    changed = true;
  }
  for (const [key, e] of Object.entries(d.external_peer_edges_by_key)) {
    if (e.local === a) {
      delete d.external_peer_edges_by_key[key];
      changed = true;
    }
  }
  return changed;
}

/**
 * Archival of A's incarnation R (`ObserveMemberRetirementArchived{Live,Retired}`): removes
 * everything for R and A's current binding — live set, fence, marker, startup sets, retire
 * bookkeeping, A → R, ladder, session binding, peer data, failures, health, and every edge
 * touching A. The incarnation history (generation, fence, profile, mode) survives, so the
 * next spawn of A is generation + 1.
 */
export function archiveMember(d: MobDraft, a: string, r: string): void {
  dropLiveRuntime(d, r);
  deleteKey(d.member_state_markers, r);
  dropRetireBookkeeping(d, r);
  deleteKey(d.identity_to_runtime, a);
  deleteKey(d.spawn_exec_phase, a);
  deleteKey(d.member_session_bindings, a);
  dropPeer(d, a);
  dropRestoreFailure(d, a);
  dropHealth(d, a);
  pruneEdgesOf(d, a);
  d.topology_epoch += 1;
  d.active_run_count = 0;
}

/** Marks R Retiring (the only marker write outside the membership commit). */
export function markRetiring(d: MobDraft, r: string): void {
  d.member_state_markers[r] = 'Retiring';
}

/**
 * Mob teardown (`DestroyFromAny`, `DestroyMob`): clears membership (live set, fences,
 * markers, startup sets, current identity bindings, session bindings, peers, failures,
 * health), wiring, retire bookkeeping and the spawn ladder; unbinds the coordinator.
 * Incarnation history is kept (the journal is the durable record).
 */
export function clearMembershipForDestroy(d: MobDraft): void {
  d.live_runtime_ids = [];
  d.externally_addressable_runtime_ids = [];
  d.runtime_fence_tokens = {};
  d.member_state_markers = {};
  d.member_startup_binding_requested = [];
  d.member_startup_runtime_ready = [];
  d.member_startup_ready = [];
  d.identity_to_runtime = {};
  d.member_session_bindings = {};
  d.member_peer_ids = {};
  d.member_peer_endpoints = {};
  d.member_restore_failures = {};
  d.member_restore_failure_codes = {};
  d.spawn_exec_phase = {};
  d.runtime_retire_pending_sessions = {};
  d.runtime_retire_refusal_codes = {};
  d.runtime_retire_refusal_reasons = {};
  d.pending_session_ingress_detach_runtime_ids = [];
  d.wiring_edges = [];
  d.external_peer_edges_by_key = {};
  d.member_run_open = [];
  d.member_in_flight_work = {};
  d.member_progress_tokens = {};
  d.member_last_observed_at_ms = {};
  d.member_last_progress_at_ms = {};
  d.member_last_progress_event = {};
  d.member_health_class = {};
  d.coordinator_bound = false;
  d.active_run_count = 0;
}

/** Adds R to the given startup set, removing it from the other two. */
export function setStartupStage(d: MobDraft, r: string, stage: 'binding_requested' | 'runtime_ready' | 'ready'): void {
  dropStartup(d, r);
  if (stage === 'binding_requested') d.member_startup_binding_requested = setAdd(d.member_startup_binding_requested, r);
  else if (stage === 'runtime_ready') d.member_startup_runtime_ready = setAdd(d.member_startup_runtime_ready, r);
  else d.member_startup_ready = setAdd(d.member_startup_ready, r);
}
