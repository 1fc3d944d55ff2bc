/**
 * The MobMachine state (`mob.md` §2.1–§2.2), restricted to the core path the sidecar
 * drives: lifecycle and the quiesce latch, roster/identity, startup readiness, spawn
 * bookkeeping, retirement, wiring, kickoff and health. Placement / multi-host custody,
 * supervisor authority, flows and the coordination board are out of scope (§2.2
 * "Out of scope for a first sidecar") and have no fields here.
 *
 * Conventions follow the kernel state (`src/machine/state.ts`):
 * - field names are the upstream identifiers (snake_case);
 * - `null` is the specification's `None`;
 * - maps keyed by id are `Readonly<Record<string, T>>`;
 * - sets are sorted, duplicate-free arrays (`src/machine/collections.ts`);
 * - the state is plain JSON and never mutated in place.
 *
 * Key legend: `A` = `AgentIdentity`, `R` = `AgentRuntimeId` (`"<A>:<generation>"`),
 * `S` = kernel `SessionId`.
 */

export const MOB_PHASES = ['Running', 'Stopped', 'Completed', 'Destroyed'] as const;
/** `Running | Stopped | Completed | Destroyed` (the host-side `Creating` precedes the machine). */
export type MobPhase = (typeof MOB_PHASES)[number];

export const LIFECYCLE_INTENTS = ['Stop', 'Reset', 'Complete', 'RetireAll', 'Destroy'] as const;
/** Intent held by the two-step "quiesce then act" latch. */
export type LifecycleIntent = (typeof LIFECYCLE_INTENTS)[number];

export type MemberStateMarker = 'Active' | 'Retiring';
export type SpawnExecPhase = 'Opened' | 'MaterializePending' | 'MembershipCommitted' | 'Activated';
export type RuntimeMode = 'AutonomousHost' | 'TurnDriven';
export type TopologyPolicy = 'Allow' | 'Deny';
export type HealthClass = 'Healthy' | 'Degraded' | 'Wedged' | 'Unknown';
/** `WorkOrigin`; `Ingest` is the kernel's own admission origin and never a mob submission. */
export type WorkOrigin = 'External' | 'Internal' | 'Ingest';

export const KICKOFF_PHASES = ['Pending', 'Starting', 'CallbackPending', 'Started', 'Failed', 'Cancelled'] as const;
/** Initial autonomous turn of a member (`member_kickoff_pending | _starting | …`, one phase per identity). */
export type KickoffPhase = (typeof KICKOFF_PHASES)[number];
/** Kickoff phases that are still in flight (block destroy; "kickoff not quiesced"). */
export const KICKOFF_IN_FLIGHT: readonly KickoffPhase[] = ['Pending', 'Starting', 'CallbackPending'];

/** Profile facts authorized for an identity by `AuthorizeSpawnProfile` (the `spawn_profile_authority_*` maps). */
export interface SpawnProfileAuthority {
  readonly profile_name: string;
  readonly model: string;
  readonly profile_material_digest: string;
  readonly tool_config_digest: string;
  readonly skills_digest: string;
  readonly provider_params_digest: string | null;
  readonly output_schema_digest: string | null;
  readonly external_addressable: boolean;
  readonly resolved_spec_digest: string | null;
}

/** Comms identity of a member: name, peer id, address and signing key. */
export interface PeerEndpoint {
  readonly name: string;
  readonly peer_id: string;
  readonly address: string;
  readonly signing_key: string;
}

/** Undirected member ↔ member edge, normalized so that `a < b`. */
export interface WiringEdge {
  readonly a: string;
  readonly b: string;
}

/** Member ↔ external peer edge (`local` is a member identity, `peer` the external peer's name). */
export interface ExternalPeerEdge {
  readonly local: string;
  readonly peer: string;
}

/** The MobMachine state. */
export interface MobState {
  /** The mob this machine belongs to (sidecar addition: inputs carrying a `mob_id` must name it). */
  readonly mob_id: string;
  readonly phase: MobPhase;

  // Lifecycle / control ----------------------------------------------------------------------
  readonly destroy_admitted: boolean;
  readonly coordinator_bound: boolean;
  readonly active_run_count: number;
  readonly placed_completion_lifecycle_quiescing: boolean;
  readonly placed_completion_lifecycle_intent: LifecycleIntent | null;
  readonly topology_default_policy: TopologyPolicy;

  // Membership / identity (roster core) --------------------------------------------------------
  /** Incarnations currently live (set of R). */
  readonly live_runtime_ids: readonly string[];
  /** Live incarnations external-origin work may target (set of R, ⊆ live). */
  readonly externally_addressable_runtime_ids: readonly string[];
  /** R → fence of each live runtime. */
  readonly runtime_fence_tokens: Readonly<Record<string, number>>;
  /** A → current R. */
  readonly identity_to_runtime: Readonly<Record<string, string>>;
  /** A → last generation (history, kept after retirement). */
  readonly identity_runtime_generations: Readonly<Record<string, number>>;
  /** A → last fence (history). */
  readonly identity_runtime_fence_tokens: Readonly<Record<string, number>>;
  /** A → profile name (history). */
  readonly member_profile_names: Readonly<Record<string, string>>;
  /** A → runtime mode (history). */
  readonly member_runtime_modes: Readonly<Record<string, RuntimeMode>>;
  /** A → S: the kernel session ("bridge session") hosting the member. */
  readonly member_session_bindings: Readonly<Record<string, string>>;
  /** R → Active | Retiring. */
  readonly member_state_markers: Readonly<Record<string, MemberStateMarker>>;
  /** A → peer id (comms identity). */
  readonly member_peer_ids: Readonly<Record<string, string>>;
  /** A → peer endpoint. */
  readonly member_peer_endpoints: Readonly<Record<string, PeerEndpoint>>;
  /** A → restore failure reason (set ⇒ derived status Broken). */
  readonly member_restore_failures: Readonly<Record<string, string>>;
  /** A → restore failure code. */
  readonly member_restore_failure_codes: Readonly<Record<string, string>>;
  /** Highest fence token committed into membership (sidecar addition; makes the per-mob fence order checkable). */
  readonly last_issued_fence_token: number;

  // Startup readiness (sets of R; a member is in at most one) ------------------------------------
  readonly member_startup_binding_requested: readonly string[];
  readonly member_startup_runtime_ready: readonly string[];
  readonly member_startup_ready: readonly string[];

  // Spawn bookkeeping ----------------------------------------------------------------------------
  readonly pending_spawn_count: number;
  /** A → S of staged, not yet completed spawns. */
  readonly pending_spawn_sessions: Readonly<Record<string, string>>;
  /** A → spawn ladder phase (entry removed when settled). */
  readonly spawn_exec_phase: Readonly<Record<string, SpawnExecPhase>>;
  /** A → authorized profile facts, consumed at membership commit. */
  readonly spawn_profile_authority: Readonly<Record<string, SpawnProfileAuthority>>;
  /** Declarative reconcile targets (sets of A). */
  readonly desired_members: readonly string[];
  readonly members_to_spawn: readonly string[];
  readonly members_to_retire: readonly string[];

  // Retirement -----------------------------------------------------------------------------------
  /** R → S: session of a requested retire (retry anchor). */
  readonly runtime_retire_pending_sessions: Readonly<Record<string, string>>;
  readonly runtime_retire_refusal_codes: Readonly<Record<string, string>>;
  readonly runtime_retire_refusal_reasons: Readonly<Record<string, string>>;
  /** Set of R whose session-ingress detach is not yet acknowledged (their retire is held back). */
  readonly pending_session_ingress_detach_runtime_ids: readonly string[];

  // Wiring / peer graph --------------------------------------------------------------------------
  /** Sorted by (a, b), duplicate-free. */
  readonly wiring_edges: readonly WiringEdge[];
  /** key → member ↔ external peer edge. */
  readonly external_peer_edges_by_key: Readonly<Record<string, ExternalPeerEdge>>;
  /** Bumped on every topology / session-binding change. */
  readonly topology_epoch: number;

  // Kickoff (keyed by A) -------------------------------------------------------------------------
  readonly member_kickoff_phase: Readonly<Record<string, KickoffPhase>>;
  readonly member_kickoff_errors: Readonly<Record<string, string>>;
  readonly member_kickoff_objective_ids: Readonly<Record<string, string>>;

  // Health (keyed by A, for its current incarnation) ---------------------------------------------
  /** Set of A with a run open. */
  readonly member_run_open: readonly string[];
  readonly member_in_flight_work: Readonly<Record<string, number>>;
  readonly member_progress_tokens: Readonly<Record<string, string>>;
  readonly member_last_observed_at_ms: Readonly<Record<string, number>>;
  readonly member_last_progress_at_ms: Readonly<Record<string, number>>;
  readonly member_last_progress_event: Readonly<Record<string, string>>;
  readonly member_health_class: Readonly<Record<string, HealthClass>>;
}

/** Health thresholds (`mob.md` §2.2): degraded after ≥ 60 s without progress while a run is open, wedged after ≥ 300 s. */
export const HEALTH_DEGRADED_AFTER_MS = 60_000;
export const HEALTH_WEDGED_AFTER_MS = 300_000;

/** The canonical string form of an `AgentRuntimeId`: `"<agent_identity>:<generation>"`. */
export function agentRuntimeId(agentIdentity: string, generation: number): string {
  return `${agentIdentity}:${generation}`;
}

/**
 * A fresh mob (`mob.md` §2.1): Running, coordinator bound, nothing admitted, empty maps and
 * sets, topology epoch 0, default topology policy Allow, no lifecycle intent.
 */
export function initialMobState(mob_id: string): MobState {
  return {
    mob_id,
    phase: 'Running',

    destroy_admitted: false,
    coordinator_bound: true,
    active_run_count: 0,
    placed_completion_lifecycle_quiescing: false,
    placed_completion_lifecycle_intent: null,
    topology_default_policy: 'Allow',

    live_runtime_ids: [],
    externally_addressable_runtime_ids: [],
    runtime_fence_tokens: {},
    identity_to_runtime: {},
    identity_runtime_generations: {},
    identity_runtime_fence_tokens: {},
    member_profile_names: {},
    member_runtime_modes: {},
    member_session_bindings: {},
    member_state_markers: {},
    member_peer_ids: {},
    member_peer_endpoints: {},
    member_restore_failures: {},
    member_restore_failure_codes: {},
    last_issued_fence_token: 0,

    member_startup_binding_requested: [],
    member_startup_runtime_ready: [],
    member_startup_ready: [],

    pending_spawn_count: 0,
    pending_spawn_sessions: {},
    spawn_exec_phase: {},
    spawn_profile_authority: {},
    desired_members: [],
    members_to_spawn: [],
    members_to_retire: [],

    runtime_retire_pending_sessions: {},
    runtime_retire_refusal_codes: {},
    runtime_retire_refusal_reasons: {},
    pending_session_ingress_detach_runtime_ids: [],

    wiring_edges: [],
    external_peer_edges_by_key: {},
    topology_epoch: 0,

    member_kickoff_phase: {},
    member_kickoff_errors: {},
    member_kickoff_objective_ids: {},

    member_run_open: [],
    member_in_flight_work: {},
    member_progress_tokens: {},
    member_last_observed_at_ms: {},
    member_last_progress_at_ms: {},
    member_last_progress_event: {},
    member_health_class: {},
  };
}
