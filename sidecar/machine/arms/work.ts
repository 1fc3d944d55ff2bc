/**
 * Work submission, its rejection classifier, cancellation and the run counter
 * (`mob.md` §2.5 "Work", "Declarative / misc").
 *
 * `SubmitWork` changes no state: the emitted `RequestRuntimeIngress` (session-backed
 * member, routed to the kernel's `Ingest`) or `RequestPeerRuntimeIngress` (peer-only
 * member, over comms) is the authority token for delivering the content. When a submit
 * is refused the shell applies `ResolveSubmitWorkRejection` with the same facts to get a
 * typed reason; its arms are ordered like the upstream classifier.
 */
import { get, hasKey, setHas } from '../../../src/machine/collections.js';
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import type { SubmitWorkRejectReason } from '../effects.js';
import {
  currentRuntime,
  identityBindingMatches,
  isLive,
  isRetiring,
  notRetiring,
  originOpen,
  runtimeFenceMatches,
  runtimeLive,
  someMemberLive,
} from '../helpers.js';
import type { MobState } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Origins a mob submission may carry (`Ingest` is the kernel's own admission origin). */
export type SubmitOrigin = 'External' | 'Internal';

export interface SubmitWork {
  readonly type: 'SubmitWork';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly work_id: string;
  readonly origin: SubmitOrigin;
}

/** Classify why a `SubmitWork` with these facts is refused (`SubmitWorkRejected`). */
export interface ResolveSubmitWorkRejection {
  readonly type: 'ResolveSubmitWorkRejection';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly origin: SubmitOrigin;
}

/** Cancel all of a member's work (binding + fence checked). */
export interface CancelAllWork {
  readonly type: 'CancelAllWork';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
}

/** Cooperative, idempotent cancel of a member's work; the member stays. */
export interface ForceCancel {
  readonly type: 'ForceCancel';
  readonly agent_identity: string;
}

/** Signal: a run started (`active_run_count + 1`). */
export interface StartRun {
  readonly type: 'StartRun';
}

/** Signal: a run finished (`active_run_count − 1`). */
export interface FinishRun {
  readonly type: 'FinishRun';
}

export type WorkInput = SubmitWork | ResolveSubmitWorkRejection | CancelAllWork | ForceCancel | StartRun | FinishRun;

// ---------------------------------------------------------------------------------------------
// Guards

type WithIdentity = { readonly agent_identity: string };
type WithOrigin = { readonly origin: SubmitOrigin };

const generationHistoryPresent = guard<SubmitWork>('generation_history_present', (s, i) =>
  hasKey(s.identity_runtime_generations, i.agent_identity),
);
const sessionBindingPresent = guard<SubmitWork>('session_binding_present', (s, i) =>
  hasKey(s.member_session_bindings, i.agent_identity),
);
const noSessionBinding = guard<SubmitWork>('identity_has_no_session_binding', (s, i) => !hasKey(s.member_session_bindings, i.agent_identity));
const peerRegistered = guard<SubmitWork>('peer_registered', (s, i) => hasKey(s.member_peer_ids, i.agent_identity));
const originExternal = <I extends WithOrigin>(): Guard<I> => guard('origin_external', (_s, i) => i.origin === 'External');
const originInternal = <I extends WithOrigin>(): Guard<I> => guard('origin_internal', (_s, i) => i.origin === 'Internal');
const addressable = guard<SubmitWork>('runtime_externally_addressable', (s, i) =>
  setHas(s.externally_addressable_runtime_ids, i.agent_runtime_id),
);

const submitCommon = (): Guard<SubmitWork>[] => [
  originOpen(),
  someMemberLive(),
  identityBindingMatches(),
  runtimeLive(),
  runtimeFenceMatches(),
  generationHistoryPresent,
  notRetiring(),
];

/** Current runtime of A when it is live, else `null`. */
function liveCurrent(s: MobState, a: string): string | null {
  const r = currentRuntime(s, a);
  return r !== null && isLive(s, r) ? r : null;
}

// ---------------------------------------------------------------------------------------------
// Transition table

const submitArm = (origin: SubmitOrigin, peerOnly: boolean): Arm<SubmitWork> => ({
  name: `SubmitWorkRunning${origin}${peerOnly ? 'PeerOnly' : ''}`,
  from: ['Running'],
  guards: [
    ...submitCommon(),
    ...(peerOnly ? [noSessionBinding, peerRegistered] : [sessionBindingPresent]),
    ...(origin === 'External' ? [originExternal<SubmitWork>(), addressable] : [originInternal<SubmitWork>()]),
  ],
  to: 'self',
  emit: (s, i) => {
    const generation = s.identity_runtime_generations[i.agent_identity] as number;
    return peerOnly
      ? [
          {
            type: 'RequestPeerRuntimeIngress',
            agent_runtime_id: i.agent_runtime_id,
            fence_token: i.fence_token,
            generation,
            peer_id: s.member_peer_ids[i.agent_identity] as string,
            work_id: i.work_id,
            origin: i.origin,
          },
        ]
      : [
          {
            type: 'RequestRuntimeIngress',
            agent_runtime_id: i.agent_runtime_id,
            fence_token: i.fence_token,
            generation,
            session_id: s.member_session_bindings[i.agent_identity] as string,
            work_id: i.work_id,
            origin: i.origin,
          },
        ];
  },
});

const rejection = (
  name: string,
  reason: SubmitWorkRejectReason,
  from: Arm<ResolveSubmitWorkRejection>['from'],
  guards: Guard<ResolveSubmitWorkRejection>[],
  fences = false,
): Arm<ResolveSubmitWorkRejection> => ({
  name: `ResolveSubmitWorkRejection${name}`,
  from,
  guards,
  to: 'self',
  emit: (s, i) => {
    const current = currentRuntime(s, i.agent_identity);
    return [
      {
        type: 'SubmitWorkRejected',
        agent_runtime_id: i.agent_runtime_id,
        origin: i.origin,
        reason,
        expected_fence_token: fences && current !== null ? get(s.runtime_fence_tokens, current) : null,
        actual_fence_token: fences ? i.fence_token : null,
      },
    ];
  },
});

const cancelGuardsForce = (): Guard<ForceCancel>[] => [
  guard('identity_known', (s, i) => currentRuntime(s, i.agent_identity) !== null),
  guard('current_runtime_live', (s, i) => liveCurrent(s, i.agent_identity) !== null),
  guard('current_runtime_not_retiring', (s, i) => !isRetiring(s, currentRuntime(s, i.agent_identity) ?? '')),
];

export const workArms: ArmTable<WorkInput> = {
  SubmitWork: [submitArm('External', false), submitArm('Internal', false), submitArm('External', true), submitArm('Internal', true)],

  ResolveSubmitWorkRejection: [
    rejection('MobNotRunning', 'MobNotRunning', ['Stopped', 'Completed', 'Destroyed'], []),
    rejection('LifecycleOperationPending', 'LifecycleOperationPending', ['Running'], [
      guard('lifecycle_quiescing', (s) => s.placed_completion_lifecycle_quiescing),
    ]),
    rejection('MemberNotFound', 'MemberNotFound', ['Running'], [
      guard('member_not_found', (s, i) => liveCurrent(s, i.agent_identity) === null),
    ]),
    rejection(
      'StaleFenceToken',
      'StaleFenceToken',
      ['Running'],
      [
        guard('runtime_or_fence_stale', (s, i) => {
          const r = liveCurrent(s, i.agent_identity);
          return r !== i.agent_runtime_id || get(s.runtime_fence_tokens, r) !== i.fence_token;
        }),
      ],
      true,
    ),
    rejection('MemberRetiring', 'MemberNotFound', ['Running'], [
      guard('member_retiring', (s, i) => isRetiring(s, i.agent_runtime_id)),
    ]),
    rejection('NotExternallyAddressable', 'NotExternallyAddressable', ['Running'], [
      guard(
        'member_not_addressable_for_origin',
        (s, i) =>
          (i.origin === 'External' && !setHas(s.externally_addressable_runtime_ids, i.agent_runtime_id)) ||
          (!hasKey(s.member_session_bindings, i.agent_identity) && !hasKey(s.member_peer_ids, i.agent_identity)),
      ),
    ]),
  ],

  CancelAllWork: [
    {
      name: 'CancelAllWorkRunning',
      from: ['Running'],
      guards: [identityBindingMatches(), runtimeFenceMatches()],
      update: (d) => {
        d.active_run_count = 0;
      },
      to: 'self',
      emit: (_s, i) => [{ type: 'FlowTerminalized', agent_identity: i.agent_identity }],
    },
  ],

  ForceCancel: [
    {
      name: 'ForceCancelRunning',
      from: ['Running'],
      guards: cancelGuardsForce(),
      update: (d) => {
        d.active_run_count = 0;
      },
      to: 'self',
      emit: (_s, i: WithIdentity) => [{ type: 'FlowTerminalized', agent_identity: i.agent_identity }],
    },
  ],

  StartRun: [
    {
      name: 'StartRunRunning',
      from: ['Running'],
      guards: [originOpen()],
      update: (d) => {
        d.active_run_count += 1;
      },
      to: 'self',
    },
  ],

  FinishRun: [
    {
      name: 'FinishRun',
      from: LIVE_PHASES,
      guards: [guard('active_runs_present', (s) => s.active_run_count > 0)],
      update: (d) => {
        d.active_run_count -= 1;
      },
      to: 'self',
    },
  ],
};
