import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DrainExitReason, DrainInput } from '../../src/machine/arms/drain.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { reduce, type Rejection, type Step, type Transition } from '../../src/machine/reduce.js';
import { initialMachineState, type DrainMode, type MachineState, type Phase } from '../../src/machine/state.js';
import { drainInputArb } from './arbitraries/drain.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const LIVE: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'];

const base = (phase: Phase = 'Idle', over: Partial<MachineState> = {}): MachineState => ({
  ...initialMachineState(),
  lifecycle_phase: phase,
  session_id: 's-1',
  ...(phase === 'Running' ? { current_run_id: 'run-1', pre_run_phase: 'Idle' as const } : {}),
  ...over,
});

function accepted(step: Step): Transition {
  if (!step.ok) throw new Error(`expected acceptance, got ${step.kind} (${step.guard ?? '-'})`);
  return step;
}

function rejected(step: Step, guard: string, failing: string = guard): Rejection {
  expect(step.ok).toBe(false);
  if (step.ok) throw new Error('unreachable');
  expect(step.kind).toBe('GuardRejected');
  expect(step.guard).toBe(guard);
  expect(step.failures.map((f) => f.guard)).toContain(failing);
  return step;
}

function noTransition(step: Step): void {
  expect(step.ok).toBe(false);
  if (!step.ok) {
    expect(step.kind).toBe('NoMatchingTransition');
    expect(step.guard).toBeNull();
  }
}

const run = (s: MachineState, input: DrainInput): Step => reduce(s, input as MachineInput);
const apply = (s: MachineState, ...inputs: DrainInput[]): MachineState =>
  inputs.reduce((acc, i) => accepted(run(acc, i)).state, s);

const spawn = (mode: DrainMode = 'PersistentHost'): DrainInput => ({ type: 'SpawnDrain', mode });
const exited = (reason: DrainExitReason): DrainInput => ({ type: 'NotifyDrainExited', reason });
const unregistered = (phase: Phase = 'Idle'): MachineState => base(phase, { session_id: null });
/** A Destroyed authority holding durable supervisor cleanup authority and an owned ingress. */
const destroyedWithSupervisor = (over: Partial<MachineState> = {}): MachineState =>
  base('Destroyed', {
    supervisor_binding_kind: 'Bound',
    peer_ingress_owner_kind: 'SessionOwned',
    peer_ingress_comms_runtime_id: 'comms-1',
    ...over,
  });

// ---------------------------------------------------------------------------------------------
// Drain phases

describe('SpawnDrain', () => {
  it('moves Inactive → Running, records the mode and emits SpawnDrainTask in every live phase', () => {
    for (const phase of LIVE) {
      const step = accepted(run(base(phase), spawn('Timed')));
      expect(step.transition).toBe(`SpawnDrain${phase}`);
      expect(step.state.drain_phase).toBe('Running');
      expect(step.state.drain_mode).toBe('Timed');
      expect(step.state.lifecycle_phase).toBe(phase);
      expect(step.effects).toEqual([{ type: 'SpawnDrainTask', mode: 'Timed' }]);
    }
  });

  it('respawns from Stopped and ExitedRespawnable but not while Running', () => {
    for (const drain_phase of ['Stopped', 'ExitedRespawnable'] as const) {
      expect(accepted(run(base('Idle', { drain_phase }), spawn())).state.drain_phase).toBe('Running');
    }
    rejected(run(base('Idle', { drain_phase: 'Running', drain_mode: 'Timed' }), spawn()), 'drain_can_spawn');
  });

  it('has no arm in Initializing', () => {
    noTransition(run(base('Initializing'), spawn()));
  });

  it('Destroyed: only the PersistentHost supervisor-cleanup drain with durable authority and owned ingress', () => {
    const step = accepted(run(destroyedWithSupervisor(), spawn('PersistentHost')));
    expect(step.transition).toBe('SpawnTerminalSupervisorCleanupDrain');
    expect(step.state.drain_phase).toBe('Running');
    expect(step.state.lifecycle_phase).toBe('Destroyed');
    rejected(run(destroyedWithSupervisor(), spawn('Timed')), 'persistent_host_only');
    rejected(run(base('Destroyed'), spawn()), 'durable_supervisor_cleanup_authority_present');
    rejected(
      run(destroyedWithSupervisor({ peer_ingress_owner_kind: 'Unattached', peer_ingress_comms_runtime_id: null }), spawn()),
      'peer_ingress_owned',
    );
    rejected(run(destroyedWithSupervisor({ drain_phase: 'Running' }), spawn()), 'drain_can_spawn');
    // a pending revoke also counts as a durable cleanup obligation
    const pending = destroyedWithSupervisor({ supervisor_binding_kind: 'Unbound', supervisor_revoke_pending_id: 'rv-1' });
    expect(accepted(run(pending, spawn())).transition).toBe('SpawnTerminalSupervisorCleanupDrain');
  });
});

describe('EnsureDrainRunning', () => {
  it('Attached/Running with a registered session: SpawnDrainTask with the recorded mode, no state change', () => {
    for (const phase of ['Attached', 'Running'] as const) {
      const s = base(phase, { drain_mode: 'AttachedSession' });
      const step = accepted(run(s, { type: 'EnsureDrainRunning' }));
      expect(step.state).toEqual(s);
      expect(step.effects).toEqual([{ type: 'SpawnDrainTask', mode: 'AttachedSession' }]);
    }
    expect(accepted(run(base('Attached'), { type: 'EnsureDrainRunning' })).effects).toEqual([
      { type: 'SpawnDrainTask', mode: null },
    ]);
  });

  it('requires a registered session and exists only in Attached/Running', () => {
    rejected(run(unregistered('Attached'), { type: 'EnsureDrainRunning' }), 'session_registered');
    for (const phase of ['Initializing', 'Idle', 'Retired', 'Stopped', 'Destroyed'] as const) {
      noTransition(run(base(phase), { type: 'EnsureDrainRunning' }));
    }
  });
});

describe('StopDrain', () => {
  it('Running → Stopped (mode kept)', () => {
    const s = apply(base(), spawn('PersistentHost'));
    const step = accepted(run(s, { type: 'StopDrain' }));
    expect(step.state.drain_phase).toBe('Stopped');
    expect(step.state.drain_mode).toBe('PersistentHost');
    expect(step.effects).toEqual([]);
  });

  it('requires a running drain', () => {
    rejected(run(base(), { type: 'StopDrain' }), 'drain_is_running');
    rejected(run(apply(base(), spawn(), { type: 'StopDrain' }), { type: 'StopDrain' }), 'drain_is_running');
  });

  it('Destroyed: only with durable supervisor cleanup authority', () => {
    expect(accepted(run(destroyedWithSupervisor({ drain_phase: 'Running' }), { type: 'StopDrain' })).transition).toBe(
      'StopTerminalSupervisorCleanupDrain',
    );
    rejected(run(base('Destroyed', { drain_phase: 'Running' }), { type: 'StopDrain' }), 'durable_supervisor_cleanup_authority_present');
  });
});

describe('NotifyDrainExited', () => {
  it('a running PersistentHost drain that Failed becomes ExitedRespawnable', () => {
    const step = accepted(run(apply(base(), spawn('PersistentHost')), exited('Failed')));
    expect(step.state.drain_phase).toBe('ExitedRespawnable');
    expect(step.state.drain_mode).toBe('PersistentHost');
    expect(step.effects).toEqual([{ type: 'RuntimeNotice', kind: 'Drain', detail: 'comms drain exited: Failed' }]);
  });

  it('any other exit of a running drain is Stopped (OPS-12)', () => {
    expect(accepted(run(apply(base(), spawn('PersistentHost')), exited('Dismissed'))).state.drain_phase).toBe('Stopped');
    expect(accepted(run(apply(base(), spawn('Timed')), exited('IdleTimeout'))).state.drain_phase).toBe('Stopped');
    expect(accepted(run(apply(base(), spawn('Timed')), exited('Failed'))).state.drain_phase).toBe('Stopped');
  });

  it('leaves a non-running drain unchanged but still emits the notice', () => {
    const s = apply(base(), spawn(), { type: 'StopDrain' });
    const step = accepted(run(s, exited('Failed')));
    expect(step.state).toEqual(s);
    expect(step.effects).toHaveLength(1);
  });

  it('requires a registered session; no arm in Initializing; Destroyed only with cleanup authority', () => {
    rejected(run(unregistered(), exited('Dismissed')), 'session_registered');
    noTransition(run(base('Initializing'), exited('Dismissed')));
    rejected(run(base('Destroyed'), exited('Dismissed')), 'durable_supervisor_cleanup_authority_present');
    const step = accepted(run(destroyedWithSupervisor({ drain_phase: 'Running', drain_mode: 'PersistentHost' }), exited('Failed')));
    expect(step.transition).toBe('NotifyDrainExitedTerminalSupervisorCleanup');
    expect(step.state.drain_phase).toBe('ExitedRespawnable');
  });
});

describe('DrainExitedClean / DrainExitedRespawnable', () => {
  it('Clean → Inactive with the mode cleared; Respawnable → ExitedRespawnable; no guard', () => {
    const running = apply(unregistered(), spawn('PersistentHost'));
    const clean = accepted(run(running, { type: 'DrainExitedClean' })).state;
    expect(clean.drain_phase).toBe('Inactive');
    expect(clean.drain_mode).toBeNull();
    const resp = accepted(run(running, { type: 'DrainExitedRespawnable' })).state;
    expect(resp.drain_phase).toBe('ExitedRespawnable');
    expect(resp.drain_mode).toBe('PersistentHost');
    for (const phase of LIVE) accepted(run(base(phase), { type: 'DrainExitedClean' }));
    noTransition(run(base('Destroyed'), { type: 'DrainExitedRespawnable' }));
  });
});

describe('Abort / Wait / AbortAll (§2.8 trivial self-loops)', () => {
  it('no state change, no effects, in Idle…Stopped', () => {
    for (const phase of LIVE) {
      const s = base(phase, { drain_phase: 'Running', drain_mode: 'PersistentHost' });
      for (const input of [
        { type: 'Abort', session_id: 's-1' },
        { type: 'Wait', session_id: 's-1' },
        { type: 'AbortAll' },
      ] as const) {
        const step = accepted(run(s, input));
        expect(step.state).toEqual(s);
        expect(step.effects).toEqual([]);
      }
    }
  });

  it('Abort and Wait need a registered session, AbortAll does not; none exist in Initializing/Destroyed', () => {
    rejected(run(unregistered(), { type: 'Abort', session_id: 's-1' }), 'session_registered');
    rejected(run(unregistered(), { type: 'Wait', session_id: 's-1' }), 'session_registered');
    accepted(run(unregistered(), { type: 'AbortAll' }));
    for (const phase of ['Initializing', 'Destroyed'] as const) {
      noTransition(run(base(phase), { type: 'AbortAll' }));
      noTransition(run(base(phase), { type: 'Abort', session_id: 's-1' }));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Peer ingress

describe('peer ingress ownership', () => {
  const attachSession = (comms_runtime_id: string): DrainInput => ({ type: 'AttachSessionIngress', comms_runtime_id });
  const attachMob = (comms_runtime_id: string, mob_id: string): DrainInput => ({
    type: 'AttachMobIngress',
    comms_runtime_id,
    mob_id,
  });
  const owner = (s: MachineState) => [s.peer_ingress_owner_kind, s.peer_ingress_comms_runtime_id, s.peer_ingress_mob_id];

  it('SetPeerIngressContext is a registered-session check without state change', () => {
    for (const phase of LIVE) {
      const s = base(phase);
      const step = accepted(run(s, { type: 'SetPeerIngressContext', keep_alive: true }));
      expect(step.state).toEqual(s);
      expect(step.effects).toEqual([]);
    }
    rejected(run(unregistered(), { type: 'SetPeerIngressContext', keep_alive: false }), 'session_registered');
    noTransition(run(base('Initializing'), { type: 'SetPeerIngressContext', keep_alive: true }));
    rejected(run(base('Destroyed'), { type: 'SetPeerIngressContext', keep_alive: true }), 'durable_supervisor_cleanup_authority_present');
    rejected(run(unregistered('Destroyed'), { type: 'SetPeerIngressContext', keep_alive: true }), 'session_registered');
    accepted(run(destroyedWithSupervisor(), { type: 'SetPeerIngressContext', keep_alive: true }));
  });

  it('session attach: Unattached → SessionOwned; same runtime is idempotent; another runtime is refused', () => {
    const s = apply(base(), attachSession('comms-1'));
    expect(owner(s)).toEqual(['SessionOwned', 'comms-1', null]);
    expect(accepted(run(s, attachSession('comms-1'))).state).toEqual(s);
    rejected(run(s, attachSession('comms-2')), 'owner_allows_session_attach');
  });

  it('mob attach promotes a session-owned ingress; session attach over a mob is refused', () => {
    const s = apply(base(), attachSession('comms-1'), attachMob('comms-1', 'mob-1'));
    expect(owner(s)).toEqual(['MobOwned', 'comms-1', 'mob-1']);
    rejected(run(s, attachSession('comms-1')), 'owner_allows_session_attach');
    expect(accepted(run(s, attachMob('comms-1', 'mob-1'))).state).toEqual(s);
    rejected(run(s, attachMob('comms-1', 'mob-2')), 'owner_allows_mob_attach');
    rejected(run(s, attachMob('comms-2', 'mob-1')), 'owner_allows_mob_attach');
    expect(owner(apply(base(), attachMob('comms-2', 'mob-2')))).toEqual(['MobOwned', 'comms-2', 'mob-2']);
  });

  it('detach always returns to Unattached (also when already Unattached)', () => {
    const s = apply(base(), attachMob('comms-1', 'mob-1'), { type: 'DetachIngress' });
    expect(owner(s)).toEqual(['Unattached', null, null]);
    expect(owner(apply(s, { type: 'DetachIngress' }))).toEqual(['Unattached', null, null]);
    rejected(run(unregistered(), { type: 'DetachIngress' }), 'session_registered');
  });

  it('ownership inputs need a registered session; Destroyed needs cleanup authority', () => {
    rejected(run(unregistered(), attachSession('comms-1')), 'session_registered');
    rejected(run(unregistered(), attachMob('comms-1', 'mob-1')), 'session_registered');
    rejected(run(base('Destroyed'), attachSession('comms-1')), 'durable_supervisor_cleanup_authority_present');
    const d = accepted(run(destroyedWithSupervisor(), { type: 'DetachIngress' }));
    expect(d.transition).toBe('DetachIngressTerminalSupervisorCleanup');
    noTransition(run(base('Initializing'), { type: 'DetachIngress' }));
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

describe('properties', () => {
  it('random drain sequences keep peer_ingress_owner_consistency and Running ⇒ mode recorded', () => {
    fc.assert(
      fc.property(fc.constantFrom<Phase>(...LIVE), fc.array(drainInputArb, { maxLength: 60 }), (phase, inputs) => {
        let s = base(phase);
        for (const input of inputs) {
          const before = JSON.stringify(s);
          const step = run(s, input);
          if (!step.ok) {
            expect(JSON.stringify(s)).toBe(before);
            continue;
          }
          s = step.state;
          expect(s.lifecycle_phase).toBe(phase);
          const owner = s.peer_ingress_owner_kind;
          const hasRt = s.peer_ingress_comms_runtime_id !== null;
          const hasMob = s.peer_ingress_mob_id !== null;
          expect(owner === 'Unattached').toBe(!hasRt && !hasMob);
          expect(owner === 'SessionOwned').toBe(hasRt && !hasMob);
          expect(owner === 'MobOwned').toBe(hasRt && hasMob);
          if (s.drain_phase === 'Running') expect(s.drain_mode).not.toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });
});
