/**
 * Retirement (`mob.md` §2.5 "Retirement", §1.9 detach-before-retire, §2.8 steps 5–6).
 *
 * A member's retirement: `Retire` (or the `RetireMember` signal, or `AdmitDestroyMemberRetire`
 * during destroy) marks R Retiring and asks the kernel to retire its session
 * (`RequestRuntimeRetire`). Releasing the session binding also opens a session-ingress
 * detach obligation: R enters `pending_session_ingress_detach_runtime_ids` and the shell's
 * outbound FIFO holds the retire until `SessionIngressDetachedForMobDestroy` acks it. The
 * kernel's `RuntimeRetired` arrives as `ObserveRuntimeRetired` (`seam.ts`), and after the
 * member session is archived `ObserveMemberRetirementArchived` removes the identity's
 * current binding (its incarnation history survives, so the next spawn is generation + 1).
 *
 * Out of scope: remote/placed members ("local member" guards hold vacuously) and respawn
 * topology preservation (`machine_topology_not_preserved` refuses a preserving archival).
 */
import { get, hasKey, setAdd, setHas } from '../../../src/machine/collections.js';
import { guard, LIVE_PHASES, RUNNING_OR_STOPPED } from '../arm.js';
import type { Arm, ArmTable, Guard, MobDraft } from '../arm.js';
import { journal } from '../effects.js';
import type { JournalKind, MobEffect } from '../effects.js';
import {
  archiveMember,
  currentRuntime,
  dropRestoreFailure,
  generationMatches,
  identityBindingMatches,
  isLive,
  kickoffInFlight,
  markedRetiring,
  markRetiring,
  mobIdMatches,
  notRetiring,
  runtimeFenceMatches,
  runtimeLive,
  someMemberLive,
} from '../helpers.js';
import type { MobPhase, MobState } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Retire A's incarnation R. `releasing` = the session binding being released (Releasing variant). */
export interface Retire {
  readonly type: 'Retire';
  readonly mob_id: string;
  readonly agent_runtime_id: string;
  readonly agent_identity: string;
  readonly generation: number;
  readonly releasing: string | null;
  readonly session_id: string | null;
}

/** Signal: retire a member by fence, keeping its session binding. */
export interface RetireMember {
  readonly type: 'RetireMember';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly session_id: string | null;
}

/** Re-emit a refused retire with the remembered session. */
export interface RetryRuntimeRetire {
  readonly type: 'RetryRuntimeRetire';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
}

/** The shell detached R's session ingress (clears the pending detach; the held retire may flush). */
export interface SessionIngressDetachedForMobDestroy {
  readonly type: 'SessionIngressDetachedForMobDestroy';
  readonly mob_id: string;
  readonly agent_runtime_id: string;
}

/** The detach failed: nothing changes, the retire stays held. */
export interface SessionIngressDetachFailedForMobDestroy {
  readonly type: 'SessionIngressDetachFailedForMobDestroy';
  readonly mob_id: string;
  readonly agent_runtime_id: string;
  readonly reason: string;
}

/** Re-emit the detach request for a pending detach. */
export interface RequestPendingSessionIngressDetachForMobDestroy {
  readonly type: 'RequestPendingSessionIngressDetachForMobDestroy';
  readonly mob_id: string;
  readonly agent_runtime_id: string;
}

/** Facts of an archived member session. */
export interface ArchivedFacts {
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number;
  readonly session_id: string | null;
}

/** Signal: the retiring member's session was archived (normal retirement). */
export interface ObserveMemberRetirementArchived extends ArchivedFacts {
  readonly type: 'ObserveMemberRetirementArchived';
  /** Respawn keeps the member's wiring (not modelled: must be `false`). */
  readonly preserve_machine_topology: boolean;
}

/** Signal: destroy cleanup retires one member. */
export interface AdmitDestroyMemberRetire {
  readonly type: 'AdmitDestroyMemberRetire';
  readonly mob_id: string;
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly generation: number;
  readonly session_id: string | null;
}

/** Signal: a member retired by destroy cleanup was archived. */
export interface ObserveDestroyMemberRetirementArchived extends ArchivedFacts {
  readonly type: 'ObserveDestroyMemberRetirementArchived';
}

export type RetirementInput =
  | Retire
  | RetireMember
  | RetryRuntimeRetire
  | SessionIngressDetachedForMobDestroy
  | SessionIngressDetachFailedForMobDestroy
  | RequestPendingSessionIngressDetachForMobDestroy
  | ObserveMemberRetirementArchived
  | AdmitDestroyMemberRetire
  | ObserveDestroyMemberRetirementArchived;

// ---------------------------------------------------------------------------------------------
// Guards

type WithIdentity = { readonly agent_identity: string };
type WithRuntime = { readonly agent_runtime_id: string };
type WithSession = WithIdentity & { readonly session_id: string | null };

const sessionBindingPresent = <I extends WithIdentity>(): Guard<I> =>
  guard('session_binding_present', (s, i) => hasKey(s.member_session_bindings, i.agent_identity));
const noSessionBinding = <I extends WithIdentity>(): Guard<I> =>
  guard('identity_has_no_session_binding', (s, i) => !hasKey(s.member_session_bindings, i.agent_identity));
/** `session_id` is present and equals A's session binding. */
const sessionIsBinding = <I extends WithSession>(): Guard<I> =>
  guard(
    'session_id_is_session_binding',
    (s, i) => i.session_id !== null && get(s.member_session_bindings, i.agent_identity) === i.session_id,
  );
const sessionAbsent = <I extends WithSession>(): Guard<I> => guard('session_id_absent', (_s, i) => i.session_id === null);
const noPendingRetireSession = <I extends WithRuntime>(): Guard<I> =>
  guard('no_pending_retire_session', (s, i) => !hasKey(s.runtime_retire_pending_sessions, i.agent_runtime_id));
const noRetireRefusal = <I extends WithRuntime>(): Guard<I> =>
  guard('no_retire_refusal', (s, i) => !hasKey(s.runtime_retire_refusal_codes, i.agent_runtime_id));
const noPendingDetachFor = <I extends WithRuntime>(): Guard<I> =>
  guard('runtime_detach_closed', (s, i) => !setHas(s.pending_session_ingress_detach_runtime_ids, i.agent_runtime_id));
const detachPending = <I extends WithRuntime>(): Guard<I> =>
  guard('session_ingress_detach_pending', (s, i) => setHas(s.pending_session_ingress_detach_runtime_ids, i.agent_runtime_id));
const runtimeNotLive = <I extends WithRuntime>(): Guard<I> => guard('runtime_not_live', (s, i) => !isLive(s, i.agent_runtime_id));
const destroyAdmitted = <I>(): Guard<I> => guard('destroy_admitted', (s) => s.destroy_admitted);
const identityRuntimeCleared = <I extends WithIdentity & WithRuntime>(): Guard<I> =>
  guard('identity_runtime_cleared', (s, i) => currentRuntime(s, i.agent_identity) !== i.agent_runtime_id);

// ---------------------------------------------------------------------------------------------
// Updates and effects

function startReleasing(d: MobDraft, a: string, r: string, session: string): void {
  markRetiring(d, r);
  d.runtime_retire_pending_sessions[r] = session;
  delete d.member_session_bindings[a];
  dropRestoreFailure(d, a);
  d.pending_session_ingress_detach_runtime_ids = setAdd(d.pending_session_ingress_detach_runtime_ids, r);
  d.topology_epoch += 1;
}

function startedJournal(kind: JournalKind, s: MobState, a: string, r: string, session: string | null): MobEffect {
  return journal(kind, {
    agent_identity: a,
    agent_runtime_id: r,
    fence_token: get(s.runtime_fence_tokens, r),
    generation: get(s.identity_runtime_generations, a),
    session_id: session,
  });
}

function releasingEffects(s: MobState, a: string, r: string, session: string): MobEffect[] {
  return [
    startedJournal('MemberRetirementStartedReleasing', s, a, r, session),
    { type: 'RequestRuntimeRetire', agent_identity: a, agent_runtime_id: r, session_id: session },
    { type: 'RequestSessionIngressDetachForMobDestroy', mob_id: s.mob_id, agent_runtime_id: r },
    { type: 'MemberSessionBindingChanged', epoch: s.topology_epoch, agent_identity: a, old: session, new: null },
    { type: 'RequestKickoffQuiesce', agent_identity: a },
  ];
}

const kickoffQuiesce = (a: string): MobEffect => ({ type: 'RequestKickoffQuiesce', agent_identity: a });

// ---------------------------------------------------------------------------------------------
// Retire arms (Running / Stopped)

const retireCommon = (): Guard<Retire>[] => [
  mobIdMatches(),
  someMemberLive(),
  runtimeLive(),
  identityBindingMatches(),
  generationMatches(),
];

function retireArms(phase: 'Running' | 'Stopped'): Arm<Retire>[] {
  return [
    {
      name: `Retire${phase}Releasing`,
      from: [phase],
      guards: [
        ...retireCommon(),
        sessionBindingPresent(),
        guard('releasing_is_session_binding', (s, i) =>
          i.releasing !== null && get(s.member_session_bindings, i.agent_identity) === i.releasing,
        ),
        guard('session_id_is_releasing', (_s, i) => i.session_id === i.releasing),
      ],
      update: (d, i) => startReleasing(d, i.agent_identity, i.agent_runtime_id, i.releasing as string),
      to: 'self',
      emit: (s, i) => releasingEffects(s, i.agent_identity, i.agent_runtime_id, i.releasing as string),
    },
    {
      name: `Retire${phase}PreservingBinding`,
      from: [phase],
      guards: [
        ...retireCommon(),
        guard('releasing_absent', (_s, i) => i.releasing === null),
        sessionBindingPresent(),
        sessionIsBinding(),
      ],
      update: (d, i) => {
        markRetiring(d, i.agent_runtime_id);
        d.runtime_retire_pending_sessions[i.agent_runtime_id] = i.session_id as string;
      },
      to: 'self',
      emit: (s, i) => [
        startedJournal('MemberRetirementStartedPreservingBinding', s, i.agent_identity, i.agent_runtime_id, i.session_id),
        {
          type: 'RequestRuntimeRetire',
          agent_identity: i.agent_identity,
          agent_runtime_id: i.agent_runtime_id,
          session_id: i.session_id as string,
        },
        kickoffQuiesce(i.agent_identity),
      ],
    },
    {
      name: `Retire${phase}NoBinding`,
      from: [phase],
      guards: [
        ...retireCommon(),
        noSessionBinding(),
        noPendingRetireSession(),
        guard('releasing_absent', (_s, i) => i.releasing === null),
        sessionAbsent(),
      ],
      update: (d, i) => markRetiring(d, i.agent_runtime_id),
      to: 'self',
      emit: (s, i) => [
        startedJournal('MemberRetirementStartedPeerOnly', s, i.agent_identity, i.agent_runtime_id, null),
        kickoffQuiesce(i.agent_identity),
      ],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Archival arms

const archiveCommon = <I extends ArchivedFacts>(): Guard<I>[] => [
  identityBindingMatches(),
  generationMatches(),
  noPendingDetachFor(),
  markedRetiring(),
  guard('pending_retire_session_matches', (s, i) => get(s.runtime_retire_pending_sessions, i.agent_runtime_id) === i.session_id),
  guard('session_binding_cleared_or_equal', (s, i) => {
    const bound = get(s.member_session_bindings, i.agent_identity);
    return bound === null || bound === i.session_id;
  }),
  guard('kickoff_quiesced', (s, i) => !kickoffInFlight(s, i.agent_identity)),
];

const archivedJournal = (i: ArchivedFacts): MobEffect =>
  journal('MemberRetired', {
    agent_identity: i.agent_identity,
    agent_runtime_id: i.agent_runtime_id,
    fence_token: i.fence_token,
    generation: i.generation,
    session_id: i.session_id,
  });

function archivalArms<I extends ArchivedFacts>(base: string, from: readonly MobPhase[], pre: readonly Guard<I>[]): Arm<I>[] {
  return [
    {
      name: `${base}Live`,
      from,
      guards: [...pre, ...archiveCommon<I>(), runtimeLive(), runtimeFenceMatches()],
      update: (d, i) => archiveMember(d, i.agent_identity, i.agent_runtime_id),
      to: 'self',
      emit: (s, i) => [
        archivedJournal(i),
        { type: 'WiringGraphChanged', epoch: s.topology_epoch },
        { type: 'EmitMemberLifecycleNotice', kind: 'Retired', agent_identity: i.agent_identity, agent_runtime_id: i.agent_runtime_id },
      ],
    },
    {
      name: `${base}Retired`,
      from,
      guards: [
        ...pre,
        ...archiveCommon<I>(),
        runtimeNotLive(),
        guard('identity_fence_matches', (s, i) => get(s.identity_runtime_fence_tokens, i.agent_identity) === i.fence_token),
      ],
      update: (d, i) => archiveMember(d, i.agent_identity, i.agent_runtime_id),
      to: 'self',
      emit: (s, i) => [archivedJournal(i), { type: 'WiringGraphChanged', epoch: s.topology_epoch }],
    },
    {
      // Idempotent retry of an archival that already happened: only re-requests the journal entry.
      name: `${base}AlreadyCleared`,
      from,
      guards: [
        ...pre,
        identityRuntimeCleared(),
        runtimeNotLive(),
        guard('runtime_not_retiring', (s, i) => !hasKey(s.member_state_markers, i.agent_runtime_id)),
        generationMatches(),
        guard('identity_fence_matches', (s, i) => get(s.identity_runtime_fence_tokens, i.agent_identity) === i.fence_token),
      ],
      to: 'self',
      emit: (_s, i) => [archivedJournal(i)],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Destroy-time retirement

const admitCommon = (): Guard<AdmitDestroyMemberRetire>[] => [mobIdMatches(), destroyAdmitted()];
const admitLiveCommon = (): Guard<AdmitDestroyMemberRetire>[] => [
  ...admitCommon(),
  identityBindingMatches(),
  runtimeLive(),
  runtimeFenceMatches(),
  generationMatches(),
  notRetiring(),
  noPendingDetachFor(),
  noPendingRetireSession(),
  noRetireRefusal(),
];

const admitDestroyArms: Arm<AdmitDestroyMemberRetire>[] = [
  {
    name: 'AdmitDestroyMemberRetireLive',
    from: LIVE_PHASES,
    guards: [...admitLiveCommon(), sessionBindingPresent(), sessionIsBinding()],
    update: (d, i) => startReleasing(d, i.agent_identity, i.agent_runtime_id, i.session_id as string),
    to: 'self',
    emit: (s, i) => releasingEffects(s, i.agent_identity, i.agent_runtime_id, i.session_id as string),
  },
  {
    name: 'AdmitDestroyMemberRetireLivePeerOnly',
    from: LIVE_PHASES,
    guards: [...admitLiveCommon(), noSessionBinding(), sessionAbsent()],
    update: (d, i) => markRetiring(d, i.agent_runtime_id),
    to: 'self',
    emit: (s, i) => [
      startedJournal('MemberRetirementStartedPeerOnly', s, i.agent_identity, i.agent_runtime_id, null),
      kickoffQuiesce(i.agent_identity),
    ],
  },
  {
    name: 'AdmitDestroyMemberRetireAlreadyRetiring',
    from: LIVE_PHASES,
    guards: [...admitCommon(), identityBindingMatches(), markedRetiring()],
    to: 'self',
  },
  {
    name: 'AdmitDestroyMemberRetireAlreadyArchived',
    from: LIVE_PHASES,
    guards: [...admitCommon(), identityRuntimeCleared(), runtimeNotLive()],
    to: 'self',
  },
];

// ---------------------------------------------------------------------------------------------
// Transition table

const detachArm = <I extends WithRuntime & { readonly mob_id: string }>(
  name: string,
  update: Arm<I>['update'],
  emit: Arm<I>['emit'],
): Arm<I> => ({
  name,
  from: LIVE_PHASES,
  guards: [mobIdMatches<I>(), detachPending<I>()],
  ...(update ? { update } : {}),
  ...(emit ? { emit } : {}),
  to: 'self',
});

export const retirementArms: ArmTable<RetirementInput> = {
  Retire: [...retireArms('Running'), ...retireArms('Stopped')],

  RetireMember: RUNNING_OR_STOPPED.map(
    (phase): Arm<RetireMember> => ({
      name: `RetireMember${phase}`,
      from: [phase],
      guards: [
        identityBindingMatches(),
        runtimeLive(),
        runtimeFenceMatches(),
        notRetiring(),
        noPendingRetireSession(),
        noRetireRefusal(),
        sessionIsBinding(),
      ],
      update: (d, i) => {
        markRetiring(d, i.agent_runtime_id);
        d.runtime_retire_pending_sessions[i.agent_runtime_id] = i.session_id as string;
        delete d.spawn_exec_phase[i.agent_identity];
      },
      to: 'self',
      emit: (s, i) => [
        startedJournal('MemberRetirementStarted', s, i.agent_identity, i.agent_runtime_id, i.session_id),
        {
          type: 'RequestRuntimeRetire',
          agent_identity: i.agent_identity,
          agent_runtime_id: i.agent_runtime_id,
          session_id: i.session_id as string,
        },
        kickoffQuiesce(i.agent_identity),
      ],
    }),
  ),

  RetryRuntimeRetire: RUNNING_OR_STOPPED.map(
    (phase): Arm<RetryRuntimeRetire> => ({
      name: `RetryRuntimeRetire${phase}`,
      from: [phase],
      guards: [
        identityBindingMatches(),
        markedRetiring(),
        guard('pending_retire_session_present', (s, i) => hasKey(s.runtime_retire_pending_sessions, i.agent_runtime_id)),
      ],
      to: 'self',
      emit: (s, i) => [
        {
          type: 'RequestRuntimeRetire',
          agent_identity: i.agent_identity,
          agent_runtime_id: i.agent_runtime_id,
          session_id: s.runtime_retire_pending_sessions[i.agent_runtime_id] as string,
        },
      ],
    }),
  ),

  SessionIngressDetachedForMobDestroy: [
    detachArm<SessionIngressDetachedForMobDestroy>(
      'SessionIngressDetachedForMobDestroy',
      (d, i) => {
        d.pending_session_ingress_detach_runtime_ids = d.pending_session_ingress_detach_runtime_ids.filter(
          (r) => r !== i.agent_runtime_id,
        );
      },
      undefined,
    ),
  ],

  SessionIngressDetachFailedForMobDestroy: [
    detachArm<SessionIngressDetachFailedForMobDestroy>('SessionIngressDetachFailedForMobDestroy', undefined, undefined),
  ],

  RequestPendingSessionIngressDetachForMobDestroy: [
    detachArm<RequestPendingSessionIngressDetachForMobDestroy>(
      'RequestPendingSessionIngressDetachForMobDestroy',
      undefined,
      (s, i) => [{ type: 'RequestSessionIngressDetachForMobDestroy', mob_id: s.mob_id, agent_runtime_id: i.agent_runtime_id }],
    ),
  ],

  ObserveMemberRetirementArchived: archivalArms<ObserveMemberRetirementArchived>('ObserveMemberRetirementArchived', ['Running'], [
    guard('machine_topology_not_preserved', (_s, i) => !i.preserve_machine_topology),
  ]),

  AdmitDestroyMemberRetire: admitDestroyArms,

  ObserveDestroyMemberRetirementArchived: archivalArms<ObserveDestroyMemberRetirementArchived>(
    'ObserveDestroyMemberRetirementArchived',
    LIVE_PHASES,
    [destroyAdmitted()],
  ),
};
