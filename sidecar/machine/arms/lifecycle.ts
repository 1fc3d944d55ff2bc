/**
 * Mob lifecycle (`mob.md` §2.5 "Lifecycle"): the two-step "quiesce then act" latch and
 * the acts it guards — Stop / Resume / Complete / Reset / Destroy — plus Shutdown, the
 * destroy admission signals and RetireAll.
 *
 * The latch: `BeginPlacedCompletionLifecycleQuiesce{intent}` sets quiescing + intent
 * (refusing most origin inputs meanwhile, `lifecycle_origin_open`); the act requires the
 * latch with its own intent. Stop and Complete keep their latch after acting (Resume
 * releases Stop); Reset and Resume release theirs. From Stopped/Completed only
 * Reset / RetireAll / Destroy may be latched. A latch may be re-begun with the same intent
 * (idempotent replay) or taken over by a compatible intent (see {@link intentTakeoverCompatible}).
 *
 * Out of scope (no state): adaptive runs and placed completion / remote custody, whose
 * "drained" guards therefore hold vacuously.
 *
 * `ObserveRuntimeDestroyed` (mob-terminal) lives with the other seam signals in `seam.ts`;
 * the per-member destroy retirement (`AdmitDestroyMemberRetire*`) in `retirement.ts`.
 */
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard, MobDraft } from '../arm.js';
import { journal } from '../effects.js';
import type { MobEffect } from '../effects.js';
import {
  activeMembers,
  clearMembershipForDestroy,
  noActiveRuns,
  noKickoffsInFlight,
  noPendingDetach,
  noPendingSpawns,
  quiescingWithIntent,
} from '../helpers.js';
import type { LifecycleIntent, MobPhase, MobState } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** Take the quiesce latch for `intent`. */
export interface BeginPlacedCompletionLifecycleQuiesce {
  readonly type: 'BeginPlacedCompletionLifecycleQuiesce';
  readonly intent: LifecycleIntent;
}
/** Release the quiesce latch held for `intent` (abandon the pending act). */
export interface EndPlacedCompletionLifecycleQuiesce {
  readonly type: 'EndPlacedCompletionLifecycleQuiesce';
  readonly intent: LifecycleIntent;
}
export interface Stop {
  readonly type: 'Stop';
}
export interface Resume {
  readonly type: 'Resume';
}
export interface Complete {
  readonly type: 'Complete';
}
/** Signal: runs drained while a Complete latch is held. */
export interface MarkCompleted {
  readonly type: 'MarkCompleted';
}
export interface Reset {
  readonly type: 'Reset';
}
/** Process shutdown: → Stopped without the latch and without a journal entry. */
export interface Shutdown {
  readonly type: 'Shutdown';
}
/** `DestroyFromAny`: the production destroy (after every member was retired individually). */
export interface Destroy {
  readonly type: 'Destroy';
}
/** Signal: the modelled destroy that asks the kernel to destroy `session_id` (`RequestRuntimeDestroy`). */
export interface DestroyMob {
  readonly type: 'DestroyMob';
  readonly session_id: string;
}
/** Signal: destroy cleanup admitted (journal `Destroying`, cancel pending spawns). */
export interface AdmitDestroyCleanup {
  readonly type: 'AdmitDestroyCleanup';
}
/** Signal: storage cleanup of a destroyed mob begins. */
export interface AdmitDestroyStorageFinalizing {
  readonly type: 'AdmitDestroyStorageFinalizing';
}
/** Ask the shell to retire every member (one `EmitMemberLifecycleNotice{Retiring}` per active member). */
export interface RetireAll {
  readonly type: 'RetireAll';
}

export type LifecycleInput =
  | BeginPlacedCompletionLifecycleQuiesce
  | EndPlacedCompletionLifecycleQuiesce
  | Stop
  | Resume
  | Complete
  | MarkCompleted
  | Reset
  | Shutdown
  | Destroy
  | DestroyMob
  | AdmitDestroyCleanup
  | AdmitDestroyStorageFinalizing
  | RetireAll;

// ---------------------------------------------------------------------------------------------
// Guards and helpers

/** Intents that may be latched while the mob is Stopped or Completed. */
export const PARKED_INTENTS: readonly LifecycleIntent[] = ['Reset', 'RetireAll', 'Destroy'];
const PARKED: readonly MobPhase[] = ['Stopped', 'Completed'];

/**
 * Replay / take-over rule for a held latch: the same intent (idempotent replay), Destroy
 * over anything, or Reset / RetireAll over a latch whose act already parked the mob
 * (Stop, Complete).
 */
export function intentTakeoverCompatible(current: LifecycleIntent | null, next: LifecycleIntent): boolean {
  if (current === null) return false;
  if (current === next || next === 'Destroy') return true;
  return (current === 'Stop' || current === 'Complete') && (next === 'Reset' || next === 'RetireAll');
}

type WithIntent = { readonly intent: LifecycleIntent };

const notQuiescing = guard<WithIntent>('lifecycle_not_quiescing', (s) => !s.placed_completion_lifecycle_quiescing);
const quiescing = guard<WithIntent>('lifecycle_quiescing', (s) => s.placed_completion_lifecycle_quiescing);
const takeoverCompatible = guard<WithIntent>('lifecycle_intent_takeover_compatible', (s, i) =>
  intentTakeoverCompatible(s.placed_completion_lifecycle_intent, i.intent),
);
const stopNeedsNoActiveRuns = guard<WithIntent>(
  'stop_requires_no_active_runs',
  (s, i) => i.intent !== 'Stop' || s.active_run_count === 0,
);
const intentAllowedWhileParked = guard<WithIntent>('intent_allowed_while_parked', (_s, i) =>
  PARKED_INTENTS.includes(i.intent),
);
const quiescingWithSameIntent = guard<WithIntent>(
  'quiescing_with_same_intent',
  (s, i) => s.placed_completion_lifecycle_quiescing && s.placed_completion_lifecycle_intent === i.intent,
);
const destroyNotAdmitted = <I>(): Guard<I> => guard('destroy_not_admitted', (s) => !s.destroy_admitted);

function latch(d: MobDraft, intent: LifecycleIntent): void {
  d.placed_completion_lifecycle_quiescing = true;
  d.placed_completion_lifecycle_intent = intent;
}

function release(d: MobDraft): void {
  d.placed_completion_lifecycle_quiescing = false;
  d.placed_completion_lifecycle_intent = null;
}

const persist = (intent: LifecycleIntent, active: boolean): MobEffect => ({
  type: 'PersistPlacedCompletionLifecycleIntent',
  intent,
  active,
});

/** The guard family shared by `DestroyFromAny` and `DestroyMob`. */
const destroyGuards = <I>(): Guard<I>[] => [
  quiescingWithIntent<I>('Destroy'),
  noPendingDetach<I>(),
  noKickoffsInFlight<I>(),
  noPendingSpawns<I>(),
];

// ---------------------------------------------------------------------------------------------
// Transition table

const beginEmit = (_s: MobState, i: WithIntent): MobEffect[] => [persist(i.intent, true)];
const beginUpdate = (d: MobDraft, i: WithIntent): void => latch(d, i.intent);

const quiesceBegin: readonly Arm<BeginPlacedCompletionLifecycleQuiesce>[] = [
  {
    name: 'BeginPlacedCompletionLifecycleQuiesceFresh',
    from: ['Running'],
    guards: [notQuiescing, stopNeedsNoActiveRuns],
    update: beginUpdate,
    to: 'self',
    emit: beginEmit,
  },
  {
    name: 'BeginPlacedCompletionLifecycleQuiesceFreshParked',
    from: PARKED,
    guards: [notQuiescing, intentAllowedWhileParked],
    update: beginUpdate,
    to: 'self',
    emit: beginEmit,
  },
  {
    name: 'BeginPlacedCompletionLifecycleQuiesceReplay',
    from: ['Running'],
    guards: [quiescing, takeoverCompatible, stopNeedsNoActiveRuns],
    update: beginUpdate,
    to: 'self',
    emit: beginEmit,
  },
  {
    name: 'BeginPlacedCompletionLifecycleQuiesceReplayParked',
    from: PARKED,
    guards: [quiescing, takeoverCompatible, intentAllowedWhileParked],
    update: beginUpdate,
    to: 'self',
    emit: beginEmit,
  },
];

const endEmit = (_s: MobState, i: WithIntent): MobEffect[] => [persist(i.intent, false)];

const quiesceEnd: readonly Arm<EndPlacedCompletionLifecycleQuiesce>[] = [
  {
    name: 'EndPlacedCompletionLifecycleQuiesceRunning',
    from: ['Running'],
    guards: [quiescingWithSameIntent, destroyNotAdmitted()],
    update: (d) => release(d),
    to: 'self',
    emit: endEmit,
  },
  {
    // A Stop / Complete latch held while parked is released by Resume / Reset / Destroy, not here.
    name: 'EndPlacedCompletionLifecycleQuiesceParked',
    from: PARKED,
    guards: [quiescingWithSameIntent, intentAllowedWhileParked, destroyNotAdmitted()],
    update: (d) => release(d),
    to: 'self',
    emit: endEmit,
  },
];

export const lifecycleArms: ArmTable<LifecycleInput> = {
  BeginPlacedCompletionLifecycleQuiesce: quiesceBegin,
  EndPlacedCompletionLifecycleQuiesce: quiesceEnd,

  Stop: [
    {
      name: 'StopRunning',
      from: ['Running'],
      guards: [noActiveRuns(), quiescingWithIntent('Stop')],
      update: (d) => {
        d.coordinator_bound = false;
      },
      to: 'Stopped',
      emit: () => [journal('Stopped'), { type: 'EmitRunLifecycleNotice', kind: 'Stopped' }],
    },
  ],

  Resume: [
    {
      name: 'ResumeStopped',
      from: ['Stopped'],
      guards: [quiescingWithIntent('Stop')],
      update: (d) => {
        d.coordinator_bound = true;
        release(d);
      },
      to: 'Running',
      emit: () => [
        persist('Stop', false),
        journal('Resumed'),
        { type: 'EmitRunLifecycleNotice', kind: 'Resumed' },
      ],
    },
  ],

  Complete: [
    {
      name: 'CompleteRunning',
      from: ['Running'],
      guards: [quiescingWithIntent('Complete')],
      to: 'Completed',
      emit: () => [journal('Completed'), { type: 'EmitRunLifecycleNotice', kind: 'Completed' }],
    },
  ],

  // The Stopped source is declared as upstream lists it; a Complete latch cannot be taken
  // while Stopped (PARKED_INTENTS), so only the Running source is reachable here.
  MarkCompleted: [
    {
      name: 'MarkCompleted',
      from: ['Running', 'Stopped'],
      guards: [noActiveRuns(), quiescingWithIntent('Complete')],
      to: 'Completed',
      emit: () => [{ type: 'EmitRunLifecycleNotice', kind: 'Completed' }],
    },
  ],

  Reset: [
    {
      name: 'ResetToRunning',
      from: LIVE_PHASES,
      guards: [quiescingWithIntent('Reset')],
      update: (d) => {
        d.active_run_count = 0;
        d.pending_spawn_count = 0;
        d.pending_spawn_sessions = {};
        release(d);
        d.wiring_edges = [];
        d.external_peer_edges_by_key = {};
        d.topology_epoch += 1;
        d.coordinator_bound = true;
      },
      to: 'Running',
      emit: (s) => [
        journal('Reset'),
        { type: 'WiringGraphChanged', epoch: s.topology_epoch },
        persist('Reset', false),
        { type: 'EmitRunLifecycleNotice', kind: 'Reset' },
      ],
    },
  ],

  Shutdown: [
    {
      name: 'ShutdownRunning',
      from: ['Running'],
      guards: [],
      update: (d) => {
        d.coordinator_bound = false;
        d.active_run_count = 0;
      },
      to: 'Stopped',
    },
  ],

  Destroy: [
    {
      name: 'DestroyFromAny',
      from: LIVE_PHASES,
      guards: destroyGuards<Destroy>(),
      update: (d) => clearMembershipForDestroy(d),
      to: 'Destroyed',
      emit: () => [{ type: 'EmitRunLifecycleNotice', kind: 'Destroyed' }],
    },
  ],

  DestroyMob: [
    {
      name: 'DestroyMob',
      from: LIVE_PHASES,
      guards: destroyGuards<DestroyMob>(),
      update: (d) => {
        clearMembershipForDestroy(d);
        d.destroy_admitted = true;
      },
      to: 'Destroyed',
      emit: (_s, i) => [{ type: 'RequestRuntimeDestroy', session_id: i.session_id }],
    },
  ],

  AdmitDestroyCleanup: [
    {
      name: 'AdmitDestroyCleanup',
      from: LIVE_PHASES,
      guards: [quiescingWithIntent('Destroy')],
      update: (d) => {
        d.destroy_admitted = true;
      },
      to: 'self',
      emit: (s) => [
        journal('Destroying'),
        { type: 'RequestPendingSpawnQuiesceForDestroy', agent_identities: Object.keys(s.pending_spawn_sessions).sort() },
      ],
    },
  ],

  AdmitDestroyStorageFinalizing: [
    {
      name: 'AdmitDestroyStorageFinalizing',
      from: ['Destroyed'],
      guards: [guard('destroy_admitted', (s) => s.destroy_admitted)],
      to: 'self',
      emit: () => [journal('DestroyStorageFinalizing')],
    },
  ],

  RetireAll: [
    {
      name: 'RetireAll',
      from: LIVE_PHASES,
      guards: [quiescingWithIntent('RetireAll')],
      to: 'self',
      emit: (s) =>
        activeMembers(s).map((a) => ({
          type: 'EmitMemberLifecycleNotice' as const,
          kind: 'Retiring' as const,
          agent_identity: a,
          agent_runtime_id: s.identity_to_runtime[a] as string,
        })),
    },
  ],
};
