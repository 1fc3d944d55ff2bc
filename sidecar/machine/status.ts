/**
 * Derived member status (`mob.md` §2.3) and the member projections list/status surfaces
 * show (§4.3 "Member list entry"). Pure functions of the state.
 *
 * Status of an identity, in order:
 * 1. a restore failure is recorded → `Broken` (error = recorded reason);
 * 2. it has a current runtime: Retiring marker or pending detach → `Retiring`;
 *    runtime live → `Active`; otherwise → `Completed`;
 * 3. no current runtime but incarnation history exists → `Completed`;
 * 4. otherwise → `Unknown`.
 * `Completed`, `Broken` and `Unknown` are final (`is_final`).
 */
import { get, setHas } from '../../src/machine/collections.js';
import { healthOf } from './arms/health.js';
import { isLive, isRetiring, wiredTo } from './helpers.js';
import type { HealthClass, KickoffPhase, MobState, RuntimeMode } from './state.js';

export type MemberStatus = 'Active' | 'Retiring' | 'Broken' | 'Completed' | 'Unknown';

/** Final statuses: the member will not become Active again without a new spawn. */
export const FINAL_MEMBER_STATUSES: readonly MemberStatus[] = ['Completed', 'Broken', 'Unknown'];

export interface MemberStatusView {
  readonly agent_identity: string;
  readonly status: MemberStatus;
  /** The recorded restore-failure reason of a Broken member. */
  readonly error: string | null;
  readonly is_final: boolean;
}

/** Startup stage of the current runtime (`None`: no current live runtime or a peer-only member not yet marked ready). */
export type StartupStage = 'None' | 'BindingRequested' | 'RuntimeReady' | 'Ready';

export interface MemberView extends MemberStatusView {
  readonly agent_runtime_id: string | null;
  readonly generation: number | null;
  readonly fence_token: number | null;
  readonly session_id: string | null;
  readonly profile_name: string | null;
  readonly runtime_mode: RuntimeMode | null;
  readonly external_addressable: boolean;
  readonly startup: StartupStage;
  /** "Wait ready": runtime-ready (seam) or marked ready (shell). */
  readonly ready: boolean;
  readonly peer_id: string | null;
  readonly wired_to: readonly string[];
  readonly kickoff: { readonly phase: KickoffPhase; readonly objective_id: string | null; readonly error: string | null } | null;
  readonly health: HealthClass;
}

/** The derived status of `agentIdentity` (`mob.md` §2.3). */
export function memberStatus(s: MobState, agentIdentity: string): MemberStatusView {
  const failure = get(s.member_restore_failures, agentIdentity);
  const status = deriveStatus(s, agentIdentity);
  return {
    agent_identity: agentIdentity,
    status,
    error: status === 'Broken' ? failure : null,
    is_final: FINAL_MEMBER_STATUSES.includes(status),
  };
}

function deriveStatus(s: MobState, a: string): MemberStatus {
  if (get(s.member_restore_failures, a) !== null) return 'Broken';
  const r = get(s.identity_to_runtime, a);
  if (r !== null) {
    if (isRetiring(s, r) || setHas(s.pending_session_ingress_detach_runtime_ids, r)) return 'Retiring';
    return isLive(s, r) ? 'Active' : 'Completed';
  }
  if (get(s.identity_runtime_generations, a) !== null) return 'Completed';
  return 'Unknown';
}

function startupStage(s: MobState, r: string | null): StartupStage {
  if (r === null) return 'None';
  if (setHas(s.member_startup_ready, r)) return 'Ready';
  if (setHas(s.member_startup_runtime_ready, r)) return 'RuntimeReady';
  if (setHas(s.member_startup_binding_requested, r)) return 'BindingRequested';
  return 'None';
}

/** Everything list/status surfaces show about `agentIdentity`. */
export function memberView(s: MobState, agentIdentity: string): MemberView {
  const a = agentIdentity;
  const r = get(s.identity_to_runtime, a);
  const startup = startupStage(s, r);
  const kickoffPhase = get(s.member_kickoff_phase, a);
  return {
    ...memberStatus(s, a),
    agent_runtime_id: r,
    generation: get(s.identity_runtime_generations, a),
    fence_token: get(s.identity_runtime_fence_tokens, a),
    session_id: get(s.member_session_bindings, a),
    profile_name: get(s.member_profile_names, a),
    runtime_mode: get(s.member_runtime_modes, a),
    external_addressable: r !== null && setHas(s.externally_addressable_runtime_ids, r),
    startup,
    ready: startup === 'RuntimeReady' || startup === 'Ready',
    peer_id: get(s.member_peer_ids, a),
    wired_to: wiredTo(s, a),
    kickoff:
      kickoffPhase === null
        ? null
        : { phase: kickoffPhase, objective_id: get(s.member_kickoff_objective_ids, a), error: get(s.member_kickoff_errors, a) },
    health: healthOf(s, a),
  };
}

/**
 * `ListMembers` (`'active'`: roster entries that are not retiring), `ListMembersIncludingRetiring`
 * (`'including_retiring'`: every identity with a current runtime) and `ListAllMembers`
 * (`'all'`: every identity the mob has seen, including retired ones). Sorted by identity.
 */
export function listMembers(s: MobState, scope: 'active' | 'including_retiring' | 'all' = 'active'): MemberView[] {
  const ids =
    scope === 'all'
      ? new Set([
          ...Object.keys(s.identity_to_runtime),
          ...Object.keys(s.identity_runtime_generations),
          ...Object.keys(s.member_restore_failures),
        ])
      : new Set(Object.keys(s.identity_to_runtime));
  return [...ids]
    .sort()
    .map((a) => memberView(s, a))
    .filter((v) => scope !== 'active' || v.status !== 'Retiring');
}

/** Are all `identities` ready ("wait ready")? Unknown identities are not. */
export function allReady(s: MobState, identities: readonly string[]): boolean {
  return identities.every((a) => memberView(s, a).ready);
}
