/**
 * The transition table is data: its shape is checked here (names, phases, guard labels),
 * and the reducer's generic rules (first match wins, NoMatchingTransition vs GuardRejected,
 * effects evaluated on the post-state, the input state is never touched).
 */
import { describe, expect, it } from 'vitest';
import {
  describeMobRejection,
  MOB_PHASES,
  MOB_TRANSITIONS,
  reduceMob,
  type Arm,
  type MobInput,
} from '../../sidecar/machine/index.js';
import { accepted, apply, fresh, noTransition, quiesce, rejected, run, S1, snap, spawn, withReadyMember } from './fixtures.js';

const table = MOB_TRANSITIONS as unknown as Readonly<Record<string, readonly Arm<MobInput>[]>>;
const allArms = Object.values(table).flat();

describe('transition table', () => {
  it('declares arms for every input with unique names, known phases and snake_case guard labels', () => {
    expect(Object.keys(table).length).toBeGreaterThanOrEqual(55);
    const names = allArms.map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
    for (const [input, arms] of Object.entries(table)) {
      expect(arms.length, input).toBeGreaterThan(0);
      for (const arm of arms) {
        expect(arm.from.length, arm.name).toBeGreaterThan(0);
        for (const p of arm.from) expect(MOB_PHASES).toContain(p);
        if (arm.to !== 'self') expect(MOB_PHASES).toContain(arm.to);
        for (const g of arm.guards) expect(g.name, arm.name).toMatch(/^[a-z][a-z0-9_]*$/);
      }
    }
  });

  it('Destroyed accepts only storage finalizing, kickoff settlement, the destroyed signal and the rejection classifier', () => {
    const inDestroyed = Object.entries(table)
      .filter(([, arms]) => arms.some((a) => a.from.includes('Destroyed')))
      .map(([input]) => input)
      .sort();
    expect(inDestroyed).toEqual([
      'AdmitDestroyStorageFinalizing',
      'CancelMemberKickoff',
      'ObserveMemberKickoff',
      'ObserveRuntimeDestroyed',
      'ResolveSubmitWorkRejection',
    ]);
  });

  it('phase changes only through the lifecycle arms and ObserveRuntimeDestroyed', () => {
    const moving = allArms.filter((a) => a.to !== 'self').map((a) => a.name).sort();
    expect(moving).toEqual(
      [
        'CompleteRunning',
        'DestroyFromAny',
        'DestroyMob',
        'MarkCompleted',
        'ObserveRuntimeDestroyed',
        'ResetToRunning',
        'ResumeStopped',
        'ShutdownRunning',
        'StopRunning',
      ].sort(),
    );
  });
});

describe('reducer rules', () => {
  it('NoMatchingTransition when no arm is declared for the phase; GuardRejected names every failing arm', () => {
    const destroyed = apply(fresh(), quiesce('Destroy'), { type: 'Destroy' });
    const none = noTransition(run(destroyed, { type: 'StartRun' }));
    expect(describeMobRejection(none)).toBe('StartRun has no transition from phase Destroyed');
    const r = rejected(run(fresh(), { type: 'Stop' }), 'quiescing_with_intent_stop');
    expect(r).toMatchObject({ phase: 'Running', input: 'Stop' });
    const busy = apply(fresh(), { type: 'StartRun' });
    const two = rejected(run(busy, { type: 'Stop' }), 'no_active_runs');
    expect(two.failures).toEqual([{ arm: 'StopRunning', guard: 'no_active_runs' }]);
    const latched = rejected(run(fresh(), { type: 'Destroy' }), 'quiescing_with_intent_destroy');
    expect(describeMobRejection(latched)).toBe(
      'Destroy rejected in phase Running by guard quiescing_with_intent_destroy (DestroyFromAny: quiescing_with_intent_destroy)',
    );
  });

  it('first matching arm wins; later arms report their own failing guard', () => {
    const s = apply(fresh(), { type: 'WireMembers', edge: { a: 'x', b: 'y' } });
    expect(accepted(run(s, { type: 'WireMembers', edge: { a: 'x', b: 'y' } })).transition).toBe('WireMembersAlreadyWired');
    const self = run(fresh(), { type: 'WireMembers', edge: { a: 'x', b: 'x' } });
    expect(self.ok).toBe(false);
    if (!self.ok) {
      expect(self.failures).toEqual([
        { arm: 'WireMembersRunning', guard: 'edge_endpoints_distinct' },
        { arm: 'WireMembersAlreadyWired', guard: 'edge_wired' },
      ]);
    }
  });

  it('a rejection leaves the state untouched; an acceptance never mutates its input state', () => {
    const s = withReadyMember();
    const before = snap(s);
    run(s, { type: 'Retire', mob_id: 'mob-2', agent_runtime_id: 'a:0', agent_identity: 'a', generation: 0, releasing: S1, session_id: S1 });
    expect(snap(s)).toBe(before);
    const t = accepted(run(s, { type: 'Retire', mob_id: 'mob-1', agent_runtime_id: 'a:0', agent_identity: 'a', generation: 0, releasing: S1, session_id: S1 }));
    expect(snap(s)).toBe(before);
    // Untouched sub-objects are shared (copy-on-write), touched ones are new.
    expect(t.state.wiring_edges).toBe(s.wiring_edges);
    expect(t.state.member_session_bindings).not.toBe(s.member_session_bindings);
  });

  it('an accepted no-op returns the very same state object', () => {
    const s = spawn(fresh(), 'a');
    const t = accepted(run(s, { type: 'CommitSpawnActivation', agent_identity: 'a' }));
    expect(t.transition).toBe('CommitSpawnActivationLateArrival');
    expect(t.state).toBe(s);
  });

  it('effects are evaluated on the post-update state (epoch already bumped)', () => {
    const t = accepted(reduceMob(fresh(), { type: 'WireMembers', edge: { a: 'x', b: 'y' } }));
    expect(t.effects[0]).toEqual({ type: 'WiringGraphChanged', epoch: t.state.topology_epoch });
    expect(t.state.topology_epoch).toBe(1);
  });
});
