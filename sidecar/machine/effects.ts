/**
 * Effects of the MobMachine (`mob.md` §2.6), discriminated by `type`.
 *
 * The four `Request*` effects of {@link ROUTED_MOB_EFFECT_TYPES} cross the seam to the
 * kernel (`mob.md` §1.2); everything else is realized in-process by the sidecar shell
 * (journal appends, notices, local requests, classifications). `null` is the spec's `None`.
 */
import type {
  ExternalPeerEdge,
  HealthClass,
  KickoffPhase,
  LifecycleIntent,
  PeerEndpoint,
  SpawnProfileAuthority,
  WiringEdge,
  WorkOrigin,
} from './state.js';

// ---------------------------------------------------------------------------------------------
// Routed (mob → kernel)

/** → kernel `PrepareBindings`. `agent_identity` is not projected; it feeds the refusal closure. */
export interface RequestRuntimeBinding {
  readonly type: 'RequestRuntimeBinding';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number;
  readonly session_id: string;
}

/** → kernel `Ingest` (`runtime_id ← agent_runtime_id`). */
export interface RequestRuntimeIngress {
  readonly type: 'RequestRuntimeIngress';
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number;
  readonly session_id: string;
  readonly work_id: string;
  readonly origin: WorkOrigin;
}

/** → kernel `Retire` (only `session_id` crosses). Held back while its runtime awaits a detach ack. */
export interface RequestRuntimeRetire {
  readonly type: 'RequestRuntimeRetire';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly session_id: string;
}

/** → kernel `Destroy`. */
export interface RequestRuntimeDestroy {
  readonly type: 'RequestRuntimeDestroy';
  readonly session_id: string;
}

export type RoutedMobEffect = RequestRuntimeBinding | RequestRuntimeIngress | RequestRuntimeRetire | RequestRuntimeDestroy;

/** The effects the sidecar's outbound FIFO carries to the kernel, in route-table order. */
export const ROUTED_MOB_EFFECT_TYPES = [
  'RequestRuntimeBinding',
  'RequestRuntimeIngress',
  'RequestRuntimeRetire',
  'RequestRuntimeDestroy',
] as const satisfies readonly RoutedMobEffect['type'][];

// ---------------------------------------------------------------------------------------------
// Local realizations

/** Work for a peer-only member goes over comms, not the seam. */
export interface RequestPeerRuntimeIngress {
  readonly type: 'RequestPeerRuntimeIngress';
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number;
  readonly peer_id: string;
  readonly work_id: string;
  readonly origin: WorkOrigin;
}

/** Detach the member session's peer ingress; the shell acks with `SessionIngressDetachedForMobDestroy`. */
export interface RequestSessionIngressDetachForMobDestroy {
  readonly type: 'RequestSessionIngressDetachForMobDestroy';
  readonly mob_id: string;
  readonly agent_runtime_id: string;
}

/** Stop the member's kickoff turn; the shell reports back with `CancelMemberKickoff`. */
export interface RequestKickoffQuiesce {
  readonly type: 'RequestKickoffQuiesce';
  readonly agent_identity: string;
}

/** Destroy admitted: cancel in-flight spawns (each closed with `CancelPendingSpawn`). */
export interface RequestPendingSpawnQuiesceForDestroy {
  readonly type: 'RequestPendingSpawnQuiesceForDestroy';
  /** Identities with a staged spawn at admission time (sorted). */
  readonly agent_identities: readonly string[];
}

/** Install mutual comms trust between two wired members. */
export interface MemberTrustWiringRequested {
  readonly type: 'MemberTrustWiringRequested';
  readonly edge: WiringEdge;
  readonly a_peer_id: string;
  readonly b_peer_id: string;
  readonly a_endpoint: PeerEndpoint;
  readonly b_endpoint: PeerEndpoint;
  readonly epoch: number;
}

/** Idempotent repair of an edge that is already wired. */
export interface WiringTrustRepairRequested {
  readonly type: 'WiringTrustRepairRequested';
  readonly edge: WiringEdge;
}

// ---------------------------------------------------------------------------------------------
// Durability

export const JOURNAL_KINDS = [
  'Completed',
  'Stopped',
  'Resumed',
  'Destroying',
  'DestroyStorageFinalizing',
  'MemberSpawned',
  'MemberRetirementStartedReleasing',
  'MemberRetirementStartedPreservingBinding',
  'MemberRetirementStartedPeerOnly',
  'MemberRetirementStarted',
  'MemberRetired',
  'Reset',
] as const;
export type JournalKind = (typeof JOURNAL_KINDS)[number];

/**
 * The shell may append the matching mob event (`mob.md` §3.3) only when a transition asked
 * for it ("store first": prepare, append, then commit).
 */
export interface AppendLifecycleJournal {
  readonly type: 'AppendLifecycleJournal';
  readonly kind: JournalKind;
  readonly agent_identity: string | null;
  readonly agent_runtime_id: string | null;
  readonly fence_token: number | null;
  readonly generation: number | null;
  readonly session_id: string | null;
}

/**
 * The `type` of the mob event (`mob.md` §3.3) each journal kind is persisted as. `Resumed`
 * is persisted as the quiesce-ended marker for intent `stop` (there is no "resumed" event).
 */
export const JOURNAL_EVENT_TYPES: Readonly<Record<JournalKind, string>> = {
  Completed: 'mob_completed',
  Stopped: 'mob_stopped',
  Resumed: 'placed_completion_lifecycle_quiesce_ended',
  Destroying: 'mob_destroying',
  DestroyStorageFinalizing: 'mob_destroy_storage_finalizing',
  MemberSpawned: 'member_spawned',
  MemberRetirementStartedReleasing: 'member_retirement_started',
  MemberRetirementStartedPreservingBinding: 'member_retirement_started',
  MemberRetirementStartedPeerOnly: 'member_retirement_started',
  MemberRetirementStarted: 'member_retirement_started',
  MemberRetired: 'member_retired',
  Reset: 'mob_reset',
};

/** Durable record of the quiesce latch (`placed_completion_lifecycle_quiesce_started/_ended`). */
export interface PersistPlacedCompletionLifecycleIntent {
  readonly type: 'PersistPlacedCompletionLifecycleIntent';
  readonly intent: LifecycleIntent;
  readonly active: boolean;
}

// ---------------------------------------------------------------------------------------------
// Notices

export type MemberLifecycleNoticeKind = 'Spawned' | 'Retiring' | 'Retired' | 'Reset' | 'Respawned' | 'Completed' | 'Destroyed';

export interface EmitMemberLifecycleNotice {
  readonly type: 'EmitMemberLifecycleNotice';
  readonly kind: MemberLifecycleNoticeKind;
  readonly agent_identity: string | null;
  readonly agent_runtime_id: string | null;
}

export interface EmitWiringLifecycleNotice {
  readonly type: 'EmitWiringLifecycleNotice';
  readonly kind: 'Wired' | 'Unwired';
  readonly edge: WiringEdge;
}

/** Sidecar addition: the member ↔ external peer counterpart of {@link EmitWiringLifecycleNotice}. */
export interface EmitExternalPeerLifecycleNotice {
  readonly type: 'EmitExternalPeerLifecycleNotice';
  readonly kind: 'Wired' | 'Unwired';
  readonly key: string;
  readonly edge: ExternalPeerEdge;
}

export interface EmitRunLifecycleNotice {
  readonly type: 'EmitRunLifecycleNotice';
  readonly kind: 'Stopped' | 'Resumed' | 'Completed' | 'Reset' | 'Destroyed';
}

export interface WiringGraphChanged {
  readonly type: 'WiringGraphChanged';
  readonly epoch: number;
}

export interface MemberSessionBindingChanged {
  readonly type: 'MemberSessionBindingChanged';
  readonly epoch: number;
  readonly agent_identity: string;
  readonly old: string | null;
  readonly new: string | null;
}

/** Kickoff bookkeeping changed (persisted as `member_kickoff_updated`). */
export interface MemberKickoffUpdated {
  readonly type: 'MemberKickoffUpdated';
  readonly agent_identity: string;
  readonly phase: KickoffPhase;
  readonly objective_id: string | null;
  readonly error: string | null;
}

/** A member's health class changed (to `health`). */
export interface MemberHealthChanged {
  readonly type: 'MemberHealthChanged';
  readonly agent_identity: string;
  readonly health: HealthClass;
}

// ---------------------------------------------------------------------------------------------
// Classifications and requests to the shell

export interface SpawnProfileAuthorized extends SpawnProfileAuthority {
  readonly type: 'SpawnProfileAuthorized';
  readonly agent_identity: string;
}

export interface ExposePendingSpawn {
  readonly type: 'ExposePendingSpawn';
  readonly agent_identity: string;
  readonly session_id: string | null;
}

export interface PendingSpawnOperationOwnerAuthorized {
  readonly type: 'PendingSpawnOperationOwnerAuthorized';
  readonly agent_identity: string;
  readonly session_id: string;
}

export type SubmitWorkRejectReason =
  | 'MobNotRunning'
  | 'LifecycleOperationPending'
  | 'MemberNotFound'
  | 'StaleFenceToken'
  | 'NotExternallyAddressable';

export interface SubmitWorkRejected {
  readonly type: 'SubmitWorkRejected';
  readonly agent_runtime_id: string;
  readonly origin: WorkOrigin;
  readonly reason: SubmitWorkRejectReason;
  readonly expected_fence_token: number | null;
  readonly actual_fence_token: number | null;
}

export interface RuntimeBindingRefusalClassified {
  readonly type: 'RuntimeBindingRefusalClassified';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly session_id: string;
  readonly refusal_code: string;
  readonly reason: string;
}

export interface RuntimeIngressRefusalClassified {
  readonly type: 'RuntimeIngressRefusalClassified';
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly session_id: string;
  readonly work_id: string;
  readonly origin: WorkOrigin;
  readonly refusal_code: string;
  readonly reason: string;
}

export interface RuntimeRetireRefusalClassified {
  readonly type: 'RuntimeRetireRefusalClassified';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly session_id: string;
  readonly refusal_code: string;
  readonly reason: string;
}

export interface MemberSpawnRequired {
  readonly type: 'MemberSpawnRequired';
  readonly agent_identity: string;
}
export interface MemberRetainRequired {
  readonly type: 'MemberRetainRequired';
  readonly agent_identity: string;
}
export interface MemberRetireRequired {
  readonly type: 'MemberRetireRequired';
  readonly agent_identity: string;
}

export interface MemberPeerRegistered {
  readonly type: 'MemberPeerRegistered';
  readonly agent_identity: string;
  readonly peer_id: string;
}

/** Cancel-all / force-cancel accepted: the shell cancels the member's work against the kernel. */
export interface FlowTerminalized {
  readonly type: 'FlowTerminalized';
  readonly agent_identity: string;
}

/** Every effect a MobMachine transition can emit. */
export type MobEffect =
  | RoutedMobEffect
  | RequestPeerRuntimeIngress
  | RequestSessionIngressDetachForMobDestroy
  | RequestKickoffQuiesce
  | RequestPendingSpawnQuiesceForDestroy
  | MemberTrustWiringRequested
  | WiringTrustRepairRequested
  | AppendLifecycleJournal
  | PersistPlacedCompletionLifecycleIntent
  | EmitMemberLifecycleNotice
  | EmitWiringLifecycleNotice
  | EmitExternalPeerLifecycleNotice
  | EmitRunLifecycleNotice
  | WiringGraphChanged
  | MemberSessionBindingChanged
  | MemberKickoffUpdated
  | MemberHealthChanged
  | SpawnProfileAuthorized
  | ExposePendingSpawn
  | PendingSpawnOperationOwnerAuthorized
  | SubmitWorkRejected
  | RuntimeBindingRefusalClassified
  | RuntimeIngressRefusalClassified
  | RuntimeRetireRefusalClassified
  | MemberSpawnRequired
  | MemberRetainRequired
  | MemberRetireRequired
  | MemberPeerRegistered
  | FlowTerminalized;

export type MobEffectType = MobEffect['type'];
export type MobEffectOfType<K extends MobEffectType> = Extract<MobEffect, { readonly type: K }>;

/** Is `e` one of the four effects routed to the kernel? */
export function isRoutedMobEffect(e: MobEffect): e is RoutedMobEffect {
  return (ROUTED_MOB_EFFECT_TYPES as readonly string[]).includes(e.type);
}

/** Builds an {@link AppendLifecycleJournal} with unset fields defaulting to `null`. */
export function journal(
  kind: JournalKind,
  fields: Partial<Omit<AppendLifecycleJournal, 'type' | 'kind'>> = {},
): AppendLifecycleJournal {
  return {
    type: 'AppendLifecycleJournal',
    kind,
    agent_identity: fields.agent_identity ?? null,
    agent_runtime_id: fields.agent_runtime_id ?? null,
    fence_token: fields.fence_token ?? null,
    generation: fields.generation ?? null,
    session_id: fields.session_id ?? null,
  };
}
