/**
 * Comms drain (inbox → input admission task) and peer-ingress ownership
 * (`machine.md` §2.8, §7.1; `commands.md` §3.3, §3.4).
 *
 * Drain phases: `Inactive → Running → {Stopped | ExitedRespawnable}`; a drain can be
 * (re)spawned from Inactive, Stopped or ExitedRespawnable.
 *
 * Peer-ingress ownership (`peer_ingress_owner_consistency`, §9.1):
 * `Unattached` ⇔ no comms runtime and no mob id; `SessionOwned` ⇔ comms runtime only;
 * `MobOwned` ⇔ both. The Attach/Detach arms below keep that shape.
 *
 * Terminal supervisor cleanup (Destroyed-phase arms). The legality matrix (§2.5) and R10
 * admit `SpawnDrain`, `StopDrain`, `NotifyDrainExited` and `SetPeerIngressContext` in
 * Destroyed, "guarded by durable supervisor authority". The upstream guard
 * `durable_supervisor_cleanup_authority_present` is modelled over the supervisor fields
 * of the state: a bound supervisor, or a recorded pending revoke (an outstanding cleanup
 * obligation). No arm of this kernel writes those fields, so these arms are unreachable
 * on kernel-driven traces; they exist so the table matches the matrix and a recovered
 * supervisor snapshot would behave as upstream. The same cleanup variants exist for
 * `AttachSessionIngress`, `AttachMobIngress` and `DetachIngress`.
 */
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import type { DrainMode, MachineState, Phase } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

/** `DrainExitReason` (`commands.md` §2.13). */
export type DrainExitReason = 'IdleTimeout' | 'Dismissed' | 'Failed' | 'Aborted' | 'SessionShutdown';

// ---------------------------------------------------------------------------------------------
// Inputs

/** `SpawnDrain`: start the drain task in `mode` (drain phase Inactive/Stopped/ExitedRespawnable → Running). */
export interface SpawnDrain {
  readonly type: 'SpawnDrain';
  readonly mode: DrainMode;
}

/** `EnsureDrainRunning` (signal, Attached/Running): ask the shell to (re)spawn the drain task; no state change. */
export interface EnsureDrainRunning {
  readonly type: 'EnsureDrainRunning';
}

/** `StopDrain`: drain phase Running → Stopped. */
export interface StopDrain {
  readonly type: 'StopDrain';
}

/**
 * `NotifyDrainExited`: the drain task ended. If the drain is Running it becomes
 * ExitedRespawnable (PersistentHost ∧ Failed) or Stopped; always emits `RuntimeNotice{Drain}`.
 */
export interface NotifyDrainExited {
  readonly type: 'NotifyDrainExited';
  readonly reason: DrainExitReason;
}

/** `DrainExitedClean`: drain phase → Inactive, mode cleared (no guard). */
export interface DrainExitedClean {
  readonly type: 'DrainExitedClean';
}

/** `DrainExitedRespawnable`: drain phase → ExitedRespawnable (no guard). */
export interface DrainExitedRespawnable {
  readonly type: 'DrainExitedRespawnable';
}

/** `Abort{sid}` (§2.8): trivial DSL self-loop; the shell stops and aborts the drain task. */
export interface Abort {
  readonly type: 'Abort';
  readonly session_id: string;
}

/** `Wait{sid}` (§2.8): trivial DSL self-loop; the shell joins the drain task. */
export interface Wait {
  readonly type: 'Wait';
  readonly session_id: string;
}

/** `AbortAll` (§2.8): trivial DSL self-loop (no guard); the shell aborts every registered session's drain. */
export interface AbortAll {
  readonly type: 'AbortAll';
}

/** `SetPeerIngressContext{keep_alive}`: permission check for the peer-ingress command (no state change). */
export interface SetPeerIngressContext {
  readonly type: 'SetPeerIngressContext';
  readonly keep_alive: boolean;
}

/** `AttachSessionIngress`: the session's own comms runtime owns peer ingress. */
export interface AttachSessionIngress {
  readonly type: 'AttachSessionIngress';
  readonly comms_runtime_id: string;
}

/** `AttachMobIngress`: a mob claims peer ingress (promotes a session-owned ingress). */
export interface AttachMobIngress {
  readonly type: 'AttachMobIngress';
  readonly comms_runtime_id: string;
  readonly mob_id: string;
}

/** `DetachIngress`: peer ingress becomes Unattached (always allowed for a registered session). */
export interface DetachIngress {
  readonly type: 'DetachIngress';
}

/** Inputs of the comms-drain / peer-ingress domain. */
export type DrainInput =
  | SpawnDrain
  | EnsureDrainRunning
  | StopDrain
  | NotifyDrainExited
  | DrainExitedClean
  | DrainExitedRespawnable
  | Abort
  | Wait
  | AbortAll
  | SetPeerIngressContext
  | AttachSessionIngress
  | AttachMobIngress
  | DetachIngress;

// ---------------------------------------------------------------------------------------------
// Effects

/**
 * Start the comms drain task. `mode` is the requested mode (`SpawnDrain`) or, for the
 * `EnsureDrainRunning` signal (which carries no mode), the recorded `drain_mode` —
 * `null` when none was ever recorded (the shell then picks its default mode).
 */
export interface SpawnDrainTask {
  readonly type: 'SpawnDrainTask';
  readonly mode: DrainMode | null;
}

/** Runtime notice (shape shared with the lifecycle domain). */
export interface RuntimeNotice {
  readonly type: 'RuntimeNotice';
  readonly kind: 'Drain' | 'Reset' | 'Stop' | 'Exit' | 'Recover';
  readonly detail: string;
}

/** Effects of the comms-drain / peer-ingress domain. */
export type DrainEffect = SpawnDrainTask | RuntimeNotice;

// ---------------------------------------------------------------------------------------------
// Guards and helpers

type ArmBody<I> = Omit<Arm<I>, 'name' | 'from' | 'to'>;

/** One self-loop arm per phase, named `${base}${Phase}`. */
function perPhase<I>(base: string, phases: readonly Phase[], body: ArmBody<I>): Arm<I>[] {
  return phases.map((phase) => ({ ...body, name: `${base}${phase}`, from: [phase], to: 'self' as const }));
}

/** A single Destroyed-phase self-loop arm. */
function destroyedArm<I>(name: string, body: ArmBody<I>): Arm<I> {
  return { ...body, name, from: ['Destroyed'], to: 'self' };
}

const sessionRegistered = <I>(): Guard<I> => guard('session_registered', (s) => s.session_id !== null);

/** Durable supervisor authority for terminal cleanup: a bound supervisor or a pending revoke. */
export function durableSupervisorCleanupAuthorityPresent(s: MachineState): boolean {
  return s.supervisor_binding_kind === 'Bound' || s.supervisor_revoke_pending_id !== null;
}

const cleanupAuthority = <I>(): Guard<I> =>
  guard('durable_supervisor_cleanup_authority_present', (s) => durableSupervisorCleanupAuthorityPresent(s));

/** Drain phases from which a drain may be spawned. */
export function drainCanSpawn(s: MachineState): boolean {
  return s.drain_phase === 'Inactive' || s.drain_phase === 'Stopped' || s.drain_phase === 'ExitedRespawnable';
}

const drainCanSpawnGuard = <I>(): Guard<I> => guard('drain_can_spawn', (s) => drainCanSpawn(s));
const drainIsRunning = <I>(): Guard<I> => guard('drain_is_running', (s) => s.drain_phase === 'Running');

/** `owner_allows_session_attach`: Unattached, or already SessionOwned by the same runtime with no mob. */
export function ownerAllowsSessionAttach(s: MachineState, commsRuntimeId: string): boolean {
  if (s.peer_ingress_owner_kind === 'Unattached') return true;
  return (
    s.peer_ingress_owner_kind === 'SessionOwned' &&
    s.peer_ingress_comms_runtime_id === commsRuntimeId &&
    s.peer_ingress_mob_id === null
  );
}

/**
 * `owner_allows_mob_attach`: Unattached, SessionOwned (promotion — the spec does not require
 * the same comms runtime), or already MobOwned by the same runtime and mob.
 */
export function ownerAllowsMobAttach(s: MachineState, commsRuntimeId: string, mobId: string): boolean {
  if (s.peer_ingress_owner_kind === 'Unattached' || s.peer_ingress_owner_kind === 'SessionOwned') return true;
  return s.peer_ingress_comms_runtime_id === commsRuntimeId && s.peer_ingress_mob_id === mobId;
}

const spawnBody: ArmBody<SpawnDrain> = {
  guards: [drainCanSpawnGuard()],
  update: (d, i) => {
    d.drain_phase = 'Running';
    d.drain_mode = i.mode;
  },
  emit: (_post, i) => [{ type: 'SpawnDrainTask', mode: i.mode }],
};

const notifyExitedBody: Omit<ArmBody<NotifyDrainExited>, 'guards'> = {
  update: (d, i) => {
    if (d.drain_phase !== 'Running') return;
    d.drain_phase = d.drain_mode === 'PersistentHost' && i.reason === 'Failed' ? 'ExitedRespawnable' : 'Stopped';
  },
  emit: (_post, i) => [{ type: 'RuntimeNotice', kind: 'Drain', detail: `comms drain exited: ${i.reason}` }],
};

const attachSessionUpdate: ArmBody<AttachSessionIngress>['update'] = (d, i) => {
  d.peer_ingress_owner_kind = 'SessionOwned';
  d.peer_ingress_comms_runtime_id = i.comms_runtime_id;
  d.peer_ingress_mob_id = null;
};
const attachSessionGuard = guard<AttachSessionIngress>('owner_allows_session_attach', (s, i) =>
  ownerAllowsSessionAttach(s, i.comms_runtime_id),
);

const attachMobUpdate: ArmBody<AttachMobIngress>['update'] = (d, i) => {
  d.peer_ingress_owner_kind = 'MobOwned';
  d.peer_ingress_comms_runtime_id = i.comms_runtime_id;
  d.peer_ingress_mob_id = i.mob_id;
};
const attachMobGuard = guard<AttachMobIngress>('owner_allows_mob_attach', (s, i) =>
  ownerAllowsMobAttach(s, i.comms_runtime_id, i.mob_id),
);

const detachUpdate: ArmBody<DetachIngress>['update'] = (d) => {
  d.peer_ingress_owner_kind = 'Unattached';
  d.peer_ingress_comms_runtime_id = null;
  d.peer_ingress_mob_id = null;
};

// ---------------------------------------------------------------------------------------------
// Transition table

/** The comms-drain and peer-ingress arms, keyed by input type. */
export const drainArms: ArmTable<DrainInput> = {
  SpawnDrain: [
    ...perPhase<SpawnDrain>('SpawnDrain', LIVE_PHASES, spawnBody),
    destroyedArm<SpawnDrain>('SpawnTerminalSupervisorCleanupDrain', {
      ...spawnBody,
      guards: [
        guard('persistent_host_only', (_s, i) => i.mode === 'PersistentHost'),
        cleanupAuthority(),
        guard('peer_ingress_owned', (s) => s.peer_ingress_owner_kind !== 'Unattached'),
        drainCanSpawnGuard(),
      ],
    }),
  ],

  EnsureDrainRunning: perPhase<EnsureDrainRunning>('EnsureDrainRunning', ['Attached', 'Running'], {
    guards: [sessionRegistered()],
    emit: (post) => [{ type: 'SpawnDrainTask', mode: post.drain_mode }],
  }),

  StopDrain: [
    ...perPhase<StopDrain>('StopDrain', LIVE_PHASES, {
      guards: [drainIsRunning()],
      update: (d) => {
        d.drain_phase = 'Stopped';
      },
    }),
    destroyedArm<StopDrain>('StopTerminalSupervisorCleanupDrain', {
      guards: [cleanupAuthority(), drainIsRunning()],
      update: (d) => {
        d.drain_phase = 'Stopped';
      },
    }),
  ],

  NotifyDrainExited: [
    ...perPhase<NotifyDrainExited>('NotifyDrainExited', LIVE_PHASES, {
      ...notifyExitedBody,
      guards: [sessionRegistered()],
    }),
    destroyedArm<NotifyDrainExited>('NotifyDrainExitedTerminalSupervisorCleanup', {
      ...notifyExitedBody,
      guards: [sessionRegistered(), cleanupAuthority()],
    }),
  ],

  DrainExitedClean: perPhase<DrainExitedClean>('DrainExitedClean', LIVE_PHASES, {
    guards: [],
    update: (d) => {
      d.drain_phase = 'Inactive';
      d.drain_mode = null;
    },
  }),

  DrainExitedRespawnable: perPhase<DrainExitedRespawnable>('DrainExitedRespawnable', LIVE_PHASES, {
    guards: [],
    update: (d) => {
      d.drain_phase = 'ExitedRespawnable';
    },
  }),

  Abort: perPhase<Abort>('Abort', LIVE_PHASES, { guards: [sessionRegistered()] }),
  Wait: perPhase<Wait>('Wait', LIVE_PHASES, { guards: [sessionRegistered()] }),
  AbortAll: perPhase<AbortAll>('AbortAll', LIVE_PHASES, { guards: [] }),

  SetPeerIngressContext: [
    ...perPhase<SetPeerIngressContext>('SetPeerIngressContext', LIVE_PHASES, { guards: [sessionRegistered()] }),
    destroyedArm<SetPeerIngressContext>('SetPeerIngressContextTerminalSupervisorCleanup', {
      guards: [sessionRegistered(), cleanupAuthority()],
    }),
  ],

  AttachSessionIngress: [
    ...perPhase<AttachSessionIngress>('AttachSessionIngress', LIVE_PHASES, {
      guards: [sessionRegistered(), attachSessionGuard],
      update: attachSessionUpdate,
    }),
    destroyedArm<AttachSessionIngress>('AttachSessionIngressTerminalSupervisorCleanup', {
      guards: [sessionRegistered(), cleanupAuthority(), attachSessionGuard],
      update: attachSessionUpdate,
    }),
  ],

  AttachMobIngress: [
    ...perPhase<AttachMobIngress>('AttachMobIngress', LIVE_PHASES, {
      guards: [sessionRegistered(), attachMobGuard],
      update: attachMobUpdate,
    }),
    destroyedArm<AttachMobIngress>('AttachMobIngressTerminalSupervisorCleanup', {
      guards: [sessionRegistered(), cleanupAuthority(), attachMobGuard],
      update: attachMobUpdate,
    }),
  ],

  DetachIngress: [
    ...perPhase<DetachIngress>('DetachIngress', LIVE_PHASES, {
      guards: [sessionRegistered()],
      update: detachUpdate,
    }),
    destroyedArm<DetachIngress>('DetachIngressTerminalSupervisorCleanup', {
      guards: [sessionRegistered(), cleanupAuthority()],
      update: detachUpdate,
    }),
  ],
};
