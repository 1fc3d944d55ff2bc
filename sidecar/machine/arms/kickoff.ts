/**
 * Kickoff: a member's initial autonomous turn (`mob.md` §2.2 "Kickoff"; `wait_kickoff`).
 *
 * One phase per identity: `Pending → Starting → [CallbackPending →] Started`, or `Failed`
 * / `Cancelled` from any in-flight phase. In-flight kickoffs block mob destroy
 * (`no_kickoffs_in_flight`) and archival of a retiring member waits until its kickoff is
 * quiesced; retirement emits `RequestKickoffQuiesce{A}` and the shell answers with
 * `CancelMemberKickoff{A}` (accepted as a no-op when nothing is in flight).
 *
 * The upstream field set (`member_kickoff_pending | _starting | _callback_pending |
 * _started | _failed | _cancelled`) is folded into one phase map; the membership commit
 * clears the identity's kickoff state.
 */
import { get } from '../../../src/machine/collections.js';
import { ALL_PHASES, guard } from '../arm.js';
import type { ArmTable, Guard } from '../arm.js';
import type { MobEffect } from '../effects.js';
import {
  identityBindingMatches,
  kickoffInFlight,
  notRetiring,
  originOpen,
  runtimeFenceMatches,
  runtimeLive,
} from '../helpers.js';
import type { KickoffPhase, MobState } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Start A's kickoff turn for its current incarnation. */
export interface BeginMemberKickoff {
  readonly type: 'BeginMemberKickoff';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly objective_id: string | null;
}

/** The shell observed the kickoff advance (`error` is required exactly for `Failed`). */
export interface ObserveMemberKickoff {
  readonly type: 'ObserveMemberKickoff';
  readonly agent_identity: string;
  readonly phase: 'Starting' | 'CallbackPending' | 'Started' | 'Failed';
  readonly error: string | null;
}

/** Quiesce A's kickoff (answer to `RequestKickoffQuiesce`). */
export interface CancelMemberKickoff {
  readonly type: 'CancelMemberKickoff';
  readonly agent_identity: string;
}

export type KickoffInput = BeginMemberKickoff | ObserveMemberKickoff | CancelMemberKickoff;

// ---------------------------------------------------------------------------------------------
// Guards and helpers

/** Allowed kickoff steps: from → to. */
const KICKOFF_STEPS: Readonly<Record<ObserveMemberKickoff['phase'], readonly KickoffPhase[]>> = {
  Starting: ['Pending'],
  CallbackPending: ['Starting'],
  Started: ['Starting', 'CallbackPending'],
  Failed: ['Pending', 'Starting', 'CallbackPending'],
};

type WithIdentity = { readonly agent_identity: string };
const inFlight = <I extends WithIdentity>(): Guard<I> =>
  guard('kickoff_in_flight', (s, i) => kickoffInFlight(s, i.agent_identity));
const notInFlight = <I extends WithIdentity>(): Guard<I> =>
  guard('kickoff_not_in_flight', (s, i) => !kickoffInFlight(s, i.agent_identity));

function updated(s: MobState, a: string): MobEffect {
  return {
    type: 'MemberKickoffUpdated',
    agent_identity: a,
    phase: s.member_kickoff_phase[a] as KickoffPhase,
    objective_id: get(s.member_kickoff_objective_ids, a),
    error: get(s.member_kickoff_errors, a),
  };
}

// ---------------------------------------------------------------------------------------------
// Transition table

export const kickoffArms: ArmTable<KickoffInput> = {
  BeginMemberKickoff: [
    {
      name: 'BeginMemberKickoffRunning',
      from: ['Running'],
      guards: [originOpen(), identityBindingMatches(), runtimeLive(), runtimeFenceMatches(), notRetiring(), notInFlight()],
      update: (d, i) => {
        d.member_kickoff_phase[i.agent_identity] = 'Pending';
        delete d.member_kickoff_errors[i.agent_identity];
        if (i.objective_id === null) delete d.member_kickoff_objective_ids[i.agent_identity];
        else d.member_kickoff_objective_ids[i.agent_identity] = i.objective_id;
      },
      to: 'self',
      emit: (s, i) => [updated(s, i.agent_identity)],
    },
  ],

  ObserveMemberKickoff: [
    {
      name: 'ObserveMemberKickoffProgress',
      from: ALL_PHASES,
      guards: [
        inFlight(),
        guard('kickoff_step_allowed', (s, i) => {
          const from = get(s.member_kickoff_phase, i.agent_identity);
          return from !== null && KICKOFF_STEPS[i.phase].includes(from);
        }),
        guard('kickoff_error_iff_failed', (_s, i) => (i.phase === 'Failed') === (i.error !== null)),
      ],
      update: (d, i) => {
        d.member_kickoff_phase[i.agent_identity] = i.phase;
        if (i.error !== null) d.member_kickoff_errors[i.agent_identity] = i.error;
      },
      to: 'self',
      emit: (s, i) => [updated(s, i.agent_identity)],
    },
  ],

  CancelMemberKickoff: [
    {
      name: 'CancelMemberKickoffInFlight',
      from: ALL_PHASES,
      guards: [inFlight()],
      update: (d, i) => {
        d.member_kickoff_phase[i.agent_identity] = 'Cancelled';
      },
      to: 'self',
      emit: (s, i) => [updated(s, i.agent_identity)],
    },
    {
      name: 'CancelMemberKickoffAlreadyQuiesced',
      from: ALL_PHASES,
      guards: [notInFlight()],
      to: 'self',
    },
  ],
};
