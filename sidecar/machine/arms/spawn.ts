/**
 * Membership and the spawn ladder (`mob.md` §2.5 "Spawn ladder", "Declarative / misc";
 * production order in §2.8 step 2):
 *
 *   AuthorizeSpawnProfile → StageSpawn{A,S} → BeginSpawnExec (ladder Opened)
 *   → CommitSpawnMembership (R live, A ↔ R, A ↔ S, `RequestRuntimeBinding`; ladder MembershipCommitted)
 *   → CommitSpawnActivation (ladder settled) → CompleteSpawn (unstage).
 *
 * Only local spawns are modelled: placement, placed-spawn acknowledgements and in-place
 * replacement (`replacing`) are refused by named guards. Two sidecar guards make the
 * shell-level ordering facts of `mob.md` §1.3 / §2.7 checkable by the reducer:
 * `runtime_id_names_identity_generation` (R is `"<A>:<generation>"`) and
 * `fence_token_fresh` (a committed fence is above every fence committed before in this mob).
 */
import { get, hasKey, setAdd, setOf } from '../../../src/machine/collections.js';
import { guard } from '../arm.js';
import type { Arm, ArmTable, Guard, MobDraft } from '../arm.js';
import { journal } from '../effects.js';
import type { MobEffect } from '../effects.js';
import {
  activeMembers,
  coordinatorBound,
  currentRuntime,
  dropHealth,
  dropKickoff,
  dropRestoreFailure,
  identityOfRuntime,
  isExternalPeerIdentity,
  nextGeneration,
  originOpen,
  runtimeIdCanonical,
  runtimeLive,
  setStartupStage,
} from '../helpers.js';
import { LIVE_PHASES } from '../arm.js';
import type { MobState, RuntimeMode, SpawnProfileAuthority } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Record the profile facts an identity may be spawned with. */
export interface AuthorizeSpawnProfile extends SpawnProfileAuthority {
  readonly type: 'AuthorizeSpawnProfile';
  readonly agent_identity: string;
}

/** Signal: a spawn of A hosted by session S was staged (pending). */
export interface StageSpawn {
  readonly type: 'StageSpawn';
  readonly agent_identity: string;
  readonly session_id: string;
}

/** The incarnation tuple shared by `BeginSpawnExec` and `CommitSpawnMembership`. */
export interface SpawnTuple {
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number;
  readonly profile_material_digest: string;
  readonly external_addressable: boolean;
  readonly runtime_mode: RuntimeMode;
  /** The kernel session hosting the member; `null` for a peer-only member. */
  readonly bridge_session_id: string | null;
  /** Runtime being replaced in place (not modelled: must be `null`). */
  readonly replacing: string | null;
}

/** Open the spawn ladder for A. */
export interface BeginSpawnExec extends SpawnTuple {
  readonly type: 'BeginSpawnExec';
  /** Multi-host placement (not modelled: must be `null`). */
  readonly placement: string | null;
}

/** Commit A's new incarnation into membership (after the `MemberSpawned` journal append). */
export interface CommitSpawnMembership extends SpawnTuple {
  readonly type: 'CommitSpawnMembership';
  /** Placed-spawn acknowledgement fields (not modelled: must all be `null`). */
  readonly spec_digest_echo: string | null;
  readonly ack_engine_version: string | null;
  readonly placed_spawn_id: string | null;
  readonly provision_operation_id: string | null;
}

/** The member is activated (roster, peer, wiring, runtime loop done): settle the ladder. */
export interface CommitSpawnActivation {
  readonly type: 'CommitSpawnActivation';
  readonly agent_identity: string;
}

/** A failure before (or a rollback after) the membership commit: settle the ladder. */
export interface AbortSpawnExec {
  readonly type: 'AbortSpawnExec';
  readonly agent_identity: string;
}

/** Signal: the staged spawn of A completed. */
export interface CompleteSpawn {
  readonly type: 'CompleteSpawn';
  readonly agent_identity: string;
}

/** The staged spawn of A was cancelled (e.g. by destroy cleanup). */
export interface CancelPendingSpawn {
  readonly type: 'CancelPendingSpawn';
  readonly agent_identity: string;
}

/** Ask the shell to respawn the member whose current runtime is R. */
export interface Respawn {
  readonly type: 'Respawn';
  readonly agent_runtime_id: string;
}

/** Idempotent spawn: mark A desired and ask the shell to keep or spawn it. */
export interface EnsureMember {
  readonly type: 'EnsureMember';
  readonly agent_identity: string;
}

/** Declarative roster: recompute `members_to_spawn` / `members_to_retire`. */
export interface Reconcile {
  readonly type: 'Reconcile';
  readonly desired: readonly string[];
  readonly retire_stale: boolean;
}

export type SpawnInput =
  | AuthorizeSpawnProfile
  | StageSpawn
  | BeginSpawnExec
  | CommitSpawnMembership
  | CommitSpawnActivation
  | AbortSpawnExec
  | CompleteSpawn
  | CancelPendingSpawn
  | Respawn
  | EnsureMember
  | Reconcile;

// ---------------------------------------------------------------------------------------------
// Guards

type WithIdentity = { readonly agent_identity: string };

const ladderSettled = <I extends WithIdentity>(): Guard<I> =>
  guard('spawn_ladder_settled', (s, i) => !hasKey(s.spawn_exec_phase, i.agent_identity));
const ladderOpened = guard<CommitSpawnMembership>(
  'spawn_ladder_opened',
  (s, i) => get(s.spawn_exec_phase, i.agent_identity) === 'Opened',
);
const noSessionBinding = <I extends WithIdentity>(): Guard<I> =>
  guard('identity_has_no_session_binding', (s, i) => !hasKey(s.member_session_bindings, i.agent_identity));
const noCurrentRuntime = <I extends WithIdentity>(): Guard<I> =>
  guard('identity_has_no_current_runtime', (s, i) => currentRuntime(s, i.agent_identity) === null);
const generationIsNext = <I extends SpawnTuple>(): Guard<I> =>
  guard('generation_is_next', (s, i) => i.generation === nextGeneration(s, i.agent_identity));
const fenceFresh = <I extends SpawnTuple>(): Guard<I> =>
  guard('fence_token_fresh', (s, i) => Number.isSafeInteger(i.fence_token) && i.fence_token > s.last_issued_fence_token);
const replacingAbsent = <I extends SpawnTuple>(): Guard<I> => guard('replacing_absent', (_s, i) => i.replacing === null);
const bridgeSessionPresent = <I extends SpawnTuple>(): Guard<I> =>
  guard('bridge_session_present', (_s, i) => i.bridge_session_id !== null);
const bridgeSessionAbsent = <I extends SpawnTuple>(): Guard<I> =>
  guard('bridge_session_absent', (_s, i) => i.bridge_session_id === null);
const profileAuthorized = <I extends WithIdentity>(): Guard<I> =>
  guard('spawn_profile_authorized', (s, i) => hasKey(s.spawn_profile_authority, i.agent_identity));
const profileDigestMatches = guard<BeginSpawnExec>(
  'profile_material_digest_matches_authority',
  (s, i) => get(s.spawn_profile_authority, i.agent_identity)?.profile_material_digest === i.profile_material_digest,
);
const addressableMatches = guard<BeginSpawnExec>(
  'external_addressable_matches_authority',
  (s, i) => get(s.spawn_profile_authority, i.agent_identity)?.external_addressable === i.external_addressable,
);
const notExternalPeer = guard<BeginSpawnExec>(
  'identity_not_external_peer',
  (s, i) => !isExternalPeerIdentity(s, i.agent_identity),
);
const spawnIsLocal = guard<BeginSpawnExec>('spawn_is_local', (_s, i) => i.placement === null);
const ackFieldsAbsent = guard<CommitSpawnMembership>(
  'spawn_ack_fields_absent',
  (_s, i) =>
    i.spec_digest_echo === null &&
    i.ack_engine_version === null &&
    i.placed_spawn_id === null &&
    i.provision_operation_id === null,
);
const staged = <I extends WithIdentity>(): Guard<I> =>
  guard('spawn_staged', (s, i) => hasKey(s.pending_spawn_sessions, i.agent_identity));
const notStaged = guard<StageSpawn>('spawn_not_staged', (s, i) => !hasKey(s.pending_spawn_sessions, i.agent_identity));
const pendingCountPositive = <I>(): Guard<I> => guard('pending_spawn_count_positive', (s) => s.pending_spawn_count > 0);

// ---------------------------------------------------------------------------------------------
// Membership commit

function commitMembership(d: MobDraft, i: CommitSpawnMembership): void {
  const a = i.agent_identity;
  const r = i.agent_runtime_id;
  const authority = get(d.spawn_profile_authority, a);
  d.live_runtime_ids = setAdd(d.live_runtime_ids, r);
  if (i.external_addressable) d.externally_addressable_runtime_ids = setAdd(d.externally_addressable_runtime_ids, r);
  d.runtime_fence_tokens[r] = i.fence_token;
  d.identity_to_runtime[a] = r;
  d.identity_runtime_generations[a] = i.generation;
  d.identity_runtime_fence_tokens[a] = i.fence_token;
  if (authority !== null) d.member_profile_names[a] = authority.profile_name;
  d.member_runtime_modes[a] = i.runtime_mode;
  d.member_state_markers[r] = 'Active';
  if (i.bridge_session_id !== null) {
    setStartupStage(d, r, 'binding_requested');
    d.member_session_bindings[a] = i.bridge_session_id;
  }
  dropRestoreFailure(d, a);
  dropKickoff(d, a);
  dropHealth(d, a);
  delete d.spawn_profile_authority[a];
  d.last_issued_fence_token = i.fence_token;
  d.topology_epoch += 1;
  d.spawn_exec_phase[a] = 'MembershipCommitted';
}

const spawnedJournal = (i: CommitSpawnMembership): MobEffect =>
  journal('MemberSpawned', {
    agent_identity: i.agent_identity,
    agent_runtime_id: i.agent_runtime_id,
    fence_token: i.fence_token,
    generation: i.generation,
    session_id: i.bridge_session_id,
  });

const spawnedNotice = (i: { readonly agent_identity: string; readonly agent_runtime_id: string | null }): MobEffect => ({
  type: 'EmitMemberLifecycleNotice',
  kind: 'Spawned',
  agent_identity: i.agent_identity,
  agent_runtime_id: i.agent_runtime_id,
});

const commitGuards = (): Guard<CommitSpawnMembership>[] => [
  ladderOpened,
  ackFieldsAbsent,
  noSessionBinding(),
  noCurrentRuntime(),
  generationIsNext(),
  runtimeIdCanonical(),
  fenceFresh(),
  replacingAbsent(),
  profileAuthorized(),
];

const beginGuards = (): Guard<BeginSpawnExec>[] => [
  originOpen(),
  spawnIsLocal,
  coordinatorBound(),
  ladderSettled(),
  noSessionBinding(),
  noCurrentRuntime(),
  generationIsNext(),
  runtimeIdCanonical(),
  fenceFresh(),
  replacingAbsent(),
  notExternalPeer,
  profileAuthorized(),
  profileDigestMatches,
  addressableMatches,
];

const openLadder = (d: MobDraft, i: BeginSpawnExec): void => {
  d.spawn_exec_phase[i.agent_identity] = 'Opened';
};

// ---------------------------------------------------------------------------------------------
// Transition table

const completeSpawnArm = (phase: 'Running' | 'Stopped'): Arm<CompleteSpawn> => ({
  name: `CompleteSpawn${phase}`,
  from: [phase],
  guards: [pendingCountPositive(), staged()],
  update: (d, i) => {
    d.pending_spawn_count -= 1;
    delete d.pending_spawn_sessions[i.agent_identity];
  },
  to: 'self',
  emit: (s, i) => [spawnedNotice({ agent_identity: i.agent_identity, agent_runtime_id: currentRuntime(s, i.agent_identity) })],
});

export const spawnArms: ArmTable<SpawnInput> = {
  AuthorizeSpawnProfile: [
    {
      name: 'AuthorizeSpawnProfileRunning',
      from: ['Running'],
      guards: [originOpen(), coordinatorBound()],
      update: (d, i) => {
        d.spawn_profile_authority[i.agent_identity] = {
          profile_name: i.profile_name,
          model: i.model,
          profile_material_digest: i.profile_material_digest,
          tool_config_digest: i.tool_config_digest,
          skills_digest: i.skills_digest,
          provider_params_digest: i.provider_params_digest,
          output_schema_digest: i.output_schema_digest,
          external_addressable: i.external_addressable,
          resolved_spec_digest: i.resolved_spec_digest,
        };
      },
      to: 'self',
      emit: (s, i) => [
        { type: 'SpawnProfileAuthorized', agent_identity: i.agent_identity, ...(s.spawn_profile_authority[i.agent_identity] as SpawnProfileAuthority) },
      ],
    },
  ],

  StageSpawn: [
    {
      name: 'StageSpawnRunning',
      from: ['Running'],
      guards: [originOpen(), notStaged],
      update: (d, i) => {
        d.pending_spawn_count += 1;
        d.pending_spawn_sessions[i.agent_identity] = i.session_id;
      },
      to: 'self',
      emit: (_s, i) => [
        { type: 'ExposePendingSpawn', agent_identity: i.agent_identity, session_id: i.session_id },
        { type: 'PendingSpawnOperationOwnerAuthorized', agent_identity: i.agent_identity, session_id: i.session_id },
      ],
    },
  ],

  BeginSpawnExec: [
    {
      name: 'BeginSpawnExecFresh',
      from: ['Running'],
      guards: [...beginGuards(), bridgeSessionPresent()],
      update: openLadder,
      to: 'self',
    },
    {
      name: 'BeginSpawnExecFreshPeerOnly',
      from: ['Running'],
      guards: [...beginGuards(), bridgeSessionAbsent()],
      update: openLadder,
      to: 'self',
    },
  ],

  CommitSpawnMembership: [
    {
      name: 'CommitSpawnMembershipFresh',
      from: ['Running'],
      guards: [...commitGuards(), bridgeSessionPresent()],
      update: commitMembership,
      to: 'self',
      emit: (s, i) => [
        {
          type: 'RequestRuntimeBinding',
          agent_identity: i.agent_identity,
          agent_runtime_id: i.agent_runtime_id,
          fence_token: i.fence_token,
          generation: i.generation,
          session_id: i.bridge_session_id as string,
        },
        spawnedJournal(i),
        {
          type: 'MemberSessionBindingChanged',
          epoch: s.topology_epoch,
          agent_identity: i.agent_identity,
          old: null,
          new: i.bridge_session_id,
        },
        spawnedNotice(i),
      ],
    },
    {
      name: 'CommitSpawnMembershipFreshPeerOnly',
      from: ['Running'],
      guards: [...commitGuards(), bridgeSessionAbsent()],
      update: commitMembership,
      to: 'self',
      emit: (_s, i) => [spawnedJournal(i), spawnedNotice(i)],
    },
  ],

  CommitSpawnActivation: [
    {
      name: 'CommitSpawnActivationFinal',
      from: LIVE_PHASES,
      guards: [
        guard('spawn_ladder_membership_committed', (s, i) => get(s.spawn_exec_phase, i.agent_identity) === 'MembershipCommitted'),
      ],
      update: (d, i) => {
        delete d.spawn_exec_phase[i.agent_identity];
      },
      to: 'self',
    },
    {
      // Accepted no-op: a late or duplicate activation for a ladder that is not at the commit step.
      name: 'CommitSpawnActivationLateArrival',
      from: LIVE_PHASES,
      guards: [
        guard('spawn_ladder_not_membership_committed', (s, i) => get(s.spawn_exec_phase, i.agent_identity) !== 'MembershipCommitted'),
      ],
      to: 'self',
    },
  ],

  AbortSpawnExec: [
    {
      name: 'AbortSpawnExecActive',
      from: LIVE_PHASES,
      guards: [
        guard('spawn_ladder_present', (s, i) => hasKey(s.spawn_exec_phase, i.agent_identity)),
        guard('spawn_ladder_not_materialize_pending', (s, i) => get(s.spawn_exec_phase, i.agent_identity) !== 'MaterializePending'),
      ],
      update: (d, i) => {
        delete d.spawn_exec_phase[i.agent_identity];
      },
      to: 'self',
    },
  ],

  CompleteSpawn: [completeSpawnArm('Running'), completeSpawnArm('Stopped')],

  CancelPendingSpawn: [
    {
      name: 'CancelPendingSpawnPresent',
      from: LIVE_PHASES,
      guards: [pendingCountPositive(), staged()],
      update: (d, i) => {
        d.pending_spawn_count -= 1;
        delete d.pending_spawn_sessions[i.agent_identity];
      },
      to: 'self',
    },
  ],

  Respawn: [
    {
      name: 'RespawnRunning',
      from: ['Running'],
      guards: [
        originOpen(),
        runtimeLive(),
        coordinatorBound(),
        guard('runtime_is_current_incarnation', (s, i) => identityOfRuntime(s, i.agent_runtime_id) !== null),
      ],
      to: 'self',
      emit: (s, i) => [
        { type: 'ExposePendingSpawn', agent_identity: identityOfRuntime(s, i.agent_runtime_id) as string, session_id: null },
      ],
    },
  ],

  EnsureMember: [
    {
      name: 'EnsureMemberRunningExisting',
      from: ['Running'],
      guards: [
        originOpen(),
        coordinatorBound(),
        guard('member_exists', (s, i) => currentRuntime(s, i.agent_identity) !== null),
      ],
      update: (d, i) => {
        d.desired_members = setAdd(d.desired_members, i.agent_identity);
      },
      to: 'self',
      emit: (_s, i) => [{ type: 'MemberRetainRequired', agent_identity: i.agent_identity }],
    },
    {
      name: 'EnsureMemberRunningMissing',
      from: ['Running'],
      guards: [
        originOpen(),
        coordinatorBound(),
        guard('member_missing', (s, i) => currentRuntime(s, i.agent_identity) === null),
      ],
      update: (d, i) => {
        d.desired_members = setAdd(d.desired_members, i.agent_identity);
      },
      to: 'self',
      emit: (_s, i) => [{ type: 'MemberSpawnRequired', agent_identity: i.agent_identity }],
    },
  ],

  Reconcile: [
    {
      name: 'ReconcileRunning',
      from: ['Running'],
      guards: [originOpen(), coordinatorBound()],
      update: (d, i) => {
        const desired = setOf(i.desired);
        const current = Object.keys(d.identity_to_runtime);
        d.desired_members = desired;
        d.members_to_spawn = desired.filter((a) => !current.includes(a));
        d.members_to_retire = i.retire_stale ? setOf(activeMembers(d as MobState).filter((a) => !desired.includes(a))) : [];
      },
      to: 'self',
      emit: (s) => [
        ...s.members_to_spawn.map((a) => ({ type: 'MemberSpawnRequired' as const, agent_identity: a })),
        ...s.members_to_retire.map((a) => ({ type: 'MemberRetireRequired' as const, agent_identity: a })),
      ],
    },
  ],
};
