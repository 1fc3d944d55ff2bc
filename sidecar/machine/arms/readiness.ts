/**
 * Startup readiness and peer registration (`mob.md` §2.5 "Readiness / peer registration").
 *
 * Startup stages of a runtime R form a ladder of disjoint sets:
 * `member_startup_binding_requested` (membership commit of a session-backed member)
 * → `member_startup_runtime_ready` (seam signal `ObserveRuntimeReady`, see `seam.ts`)
 * → `member_startup_ready` (`StartupMarkReady`, shell-driven). "Wait ready" counts either
 * of the last two. Peer-only members skip the first two (they never request a binding).
 */
import { hasKey } from '../../../src/machine/collections.js';
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable } from '../arm.js';
import {
  generationMatches,
  identityBindingMatches,
  notRetiring,
  runtimeFenceMatches,
  runtimeLive,
  setStartupStage,
  wiredTo,
} from '../helpers.js';
import type { MobPhase, PeerEndpoint } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** The shell observed R fully started (Running, Stopped or Completed). */
export interface StartupMarkReady {
  readonly type: 'StartupMarkReady';
  readonly agent_runtime_id: string;
  readonly fence_token: number;
}

/** Record A's comms identity (peer id + endpoint) for its current incarnation. */
export interface RegisterMemberPeer {
  readonly type: 'RegisterMemberPeer';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly generation: number;
  readonly fence_token: number;
  readonly peer_endpoint: PeerEndpoint;
}

export type ReadinessInput = StartupMarkReady | RegisterMemberPeer;

// ---------------------------------------------------------------------------------------------
// Transition table

const markReadyArm = (phase: MobPhase): Arm<StartupMarkReady> => ({
  name: `StartupMarkReady${phase}`,
  from: [phase],
  guards: [runtimeLive(), runtimeFenceMatches()],
  update: (d, i) => setStartupStage(d, i.agent_runtime_id, 'ready'),
  to: 'self',
});

export const readinessArms: ArmTable<ReadinessInput> = {
  StartupMarkReady: LIVE_PHASES.map(markReadyArm),

  RegisterMemberPeer: [
    {
      name: 'RegisterMemberPeerRunning',
      from: ['Running'],
      guards: [
        identityBindingMatches(),
        runtimeLive(),
        generationMatches(),
        guard('identity_fence_matches', (s, i) => s.identity_runtime_fence_tokens[i.agent_identity] === i.fence_token),
        runtimeFenceMatches(),
        notRetiring(),
        guard('peer_not_registered', (s, i) => !hasKey(s.member_peer_ids, i.agent_identity)),
        guard(
          'ladder_committed_or_no_retained_edges',
          (s, i) => s.spawn_exec_phase[i.agent_identity] === 'MembershipCommitted' || wiredTo(s, i.agent_identity).length === 0,
        ),
        guard('peer_endpoint_complete', (_s, i) => i.peer_endpoint.peer_id !== '' && i.peer_endpoint.name !== ''),
        guard('peer_id_unused', (s, i) => !Object.values(s.member_peer_ids).includes(i.peer_endpoint.peer_id)),
      ],
      update: (d, i) => {
        d.member_peer_ids[i.agent_identity] = i.peer_endpoint.peer_id;
        d.member_peer_endpoints[i.agent_identity] = { ...i.peer_endpoint };
      },
      to: 'self',
      emit: (_s, i) => [{ type: 'MemberPeerRegistered', agent_identity: i.agent_identity, peer_id: i.peer_endpoint.peer_id }],
    },
  ],
};
