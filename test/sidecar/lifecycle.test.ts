import { describe, expect, it } from 'vitest';
import { intentTakeoverCompatible, type MobState } from '../../sidecar/machine/index.js';
import {
  accepted,
  apply,
  detached,
  fresh,
  MOB,
  noTransition,
  quiesce,
  rejected,
  rejectedWith,
  retireReleasing,
  rt,
  run,
  S1,
  snap,
  spawn,
} from './fixtures.js';

const stopped = (): MobState => apply(fresh(), quiesce('Stop'), { type: 'Stop' });
const completed = (): MobState => apply(fresh(), quiesce('Complete'), { type: 'Complete' });

describe('initial state (mob.md §2.1)', () => {
  it('starts Running, coordinator bound, nothing admitted, epoch 0, policy Allow, no intent', () => {
    const s = fresh();
    expect(s.phase).toBe('Running');
    expect(s.coordinator_bound).toBe(true);
    expect(s.destroy_admitted).toBe(false);
    expect(s.topology_epoch).toBe(0);
    expect(s.topology_default_policy).toBe('Allow');
    expect(s.placed_completion_lifecycle_quiescing).toBe(false);
    expect(s.placed_completion_lifecycle_intent).toBeNull();
    expect(s.mob_id).toBe(MOB);
  });
});

describe('quiesce latch', () => {
  it('Begin sets quiescing + intent and persists it; End releases it', () => {
    const b = accepted(run(fresh(), quiesce('Stop')));
    expect(b.transition).toBe('BeginPlacedCompletionLifecycleQuiesceFresh');
    expect(b.state.placed_completion_lifecycle_quiescing).toBe(true);
    expect(b.state.placed_completion_lifecycle_intent).toBe('Stop');
    expect(b.effects).toEqual([{ type: 'PersistPlacedCompletionLifecycleIntent', intent: 'Stop', active: true }]);
    const e = accepted(run(b.state, { type: 'EndPlacedCompletionLifecycleQuiesce', intent: 'Stop' }));
    expect(e.transition).toBe('EndPlacedCompletionLifecycleQuiesceRunning');
    expect(e.state.placed_completion_lifecycle_quiescing).toBe(false);
    expect(e.state.placed_completion_lifecycle_intent).toBeNull();
    expect(e.effects).toEqual([{ type: 'PersistPlacedCompletionLifecycleIntent', intent: 'Stop', active: false }]);
  });

  it('a Stop latch needs no active runs', () => {
    const busy = apply(fresh(), { type: 'StartRun' });
    rejected(run(busy, quiesce('Stop')), 'stop_requires_no_active_runs');
    expect(accepted(run(busy, quiesce('Complete'))).state.placed_completion_lifecycle_intent).toBe('Complete');
  });

  it('replays the same intent and lets Destroy take over; refuses an incompatible take-over', () => {
    const s = apply(fresh(), quiesce('Stop'));
    expect(accepted(run(s, quiesce('Stop'))).transition).toBe('BeginPlacedCompletionLifecycleQuiesceReplay');
    expect(accepted(run(s, quiesce('Destroy'))).state.placed_completion_lifecycle_intent).toBe('Destroy');
    rejected(run(s, quiesce('Complete')), 'lifecycle_not_quiescing', 'lifecycle_intent_takeover_compatible');
    expect(intentTakeoverCompatible('Destroy', 'Reset')).toBe(false);
    expect(intentTakeoverCompatible('Stop', 'Reset')).toBe(true);
    expect(intentTakeoverCompatible(null, 'Stop')).toBe(false);
  });

  it('from Stopped/Completed only Reset, RetireAll and Destroy may be latched', () => {
    for (const parked of [stopped(), completed()]) {
      const taken = accepted(run(parked, quiesce('Destroy')));
      expect(taken.transition).toBe('BeginPlacedCompletionLifecycleQuiesceReplayParked');
      expect(accepted(run(parked, quiesce('Reset'))).state.placed_completion_lifecycle_intent).toBe('Reset');
    }
    rejectedWith(run(stopped(), quiesce('Stop')), 'intent_allowed_while_parked');
    rejectedWith(run(completed(), quiesce('Stop')), 'lifecycle_intent_takeover_compatible');
    // A Stopped mob without a latch (after Shutdown) takes a fresh parked latch.
    const shut = apply(fresh(), { type: 'Shutdown' });
    rejected(run(shut, quiesce('Stop')), 'intent_allowed_while_parked');
    expect(accepted(run(shut, quiesce('RetireAll'))).transition).toBe('BeginPlacedCompletionLifecycleQuiesceFreshParked');
  });

  it('End refuses another intent, a parked Stop latch and an admitted destroy', () => {
    const s = apply(fresh(), quiesce('Stop'));
    rejected(run(s, { type: 'EndPlacedCompletionLifecycleQuiesce', intent: 'Complete' }), 'quiescing_with_same_intent');
    rejected(run(stopped(), { type: 'EndPlacedCompletionLifecycleQuiesce', intent: 'Stop' }), 'intent_allowed_while_parked');
    const admitted = apply(fresh(), quiesce('Destroy'), { type: 'AdmitDestroyCleanup' });
    rejected(run(admitted, { type: 'EndPlacedCompletionLifecycleQuiesce', intent: 'Destroy' }), 'destroy_not_admitted');
  });

  it('is refused in Destroyed', () => {
    const destroyed = apply(fresh(), quiesce('Destroy'), { type: 'Destroy' });
    noTransition(run(destroyed, quiesce('Reset')));
  });
});

describe('Stop / Resume / Shutdown', () => {
  it('Stop needs the Stop latch, moves to Stopped, unbinds the coordinator and journals Stopped', () => {
    rejected(run(fresh(), { type: 'Stop' }), 'quiescing_with_intent_stop');
    const t = accepted(run(apply(fresh(), quiesce('Stop')), { type: 'Stop' }));
    expect(t.transition).toBe('StopRunning');
    expect(t.to).toBe('Stopped');
    expect(t.state.coordinator_bound).toBe(false);
    expect(t.state.placed_completion_lifecycle_intent).toBe('Stop');
    expect(t.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'EmitRunLifecycleNotice']);
    expect(t.effects[0]).toMatchObject({ kind: 'Stopped' });
  });

  it('Resume returns to Running, rebinds, releases the latch and journals Resumed', () => {
    const t = accepted(run(stopped(), { type: 'Resume' }));
    expect(t.transition).toBe('ResumeStopped');
    expect(t.state.phase).toBe('Running');
    expect(t.state.coordinator_bound).toBe(true);
    expect(t.state.placed_completion_lifecycle_quiescing).toBe(false);
    expect(t.effects[0]).toEqual({ type: 'PersistPlacedCompletionLifecycleIntent', intent: 'Stop', active: false });
    expect(t.effects[1]).toMatchObject({ type: 'AppendLifecycleJournal', kind: 'Resumed' });
    noTransition(run(fresh(), { type: 'Resume' }));
  });

  it('Shutdown stops without latch and zeroes runs', () => {
    const t = accepted(run(apply(fresh(), { type: 'StartRun' }), { type: 'Shutdown' }));
    expect(t.state.phase).toBe('Stopped');
    expect(t.state.active_run_count).toBe(0);
    expect(t.effects).toEqual([]);
    rejected(run(t.state, { type: 'Resume' }), 'quiescing_with_intent_stop');
  });
});

describe('Complete / MarkCompleted', () => {
  it('Complete needs the Complete latch', () => {
    rejected(run(fresh(), { type: 'Complete' }), 'quiescing_with_intent_complete');
    const t = accepted(run(apply(fresh(), quiesce('Complete')), { type: 'Complete' }));
    expect(t.state.phase).toBe('Completed');
    expect(t.effects[0]).toMatchObject({ type: 'AppendLifecycleJournal', kind: 'Completed' });
  });

  it('MarkCompleted also needs no active runs', () => {
    const s = apply(fresh(), { type: 'StartRun' }, quiesce('Complete'));
    rejected(run(s, { type: 'MarkCompleted' }), 'no_active_runs');
    const t = accepted(run(apply(s, { type: 'FinishRun' }), { type: 'MarkCompleted' }));
    expect(t.state.phase).toBe('Completed');
    expect(t.effects).toEqual([{ type: 'EmitRunLifecycleNotice', kind: 'Completed' }]);
  });
});

describe('Reset', () => {
  it('from any live phase: → Running, clears runs, spawn counters, latch and wiring; epoch + 1', () => {
    const wired = apply(
      fresh(),
      { type: 'WireMembers', edge: { a: 'x', b: 'y' } },
      { type: 'StageSpawn', agent_identity: 'z', session_id: S1 },
      quiesce('Reset'),
    );
    const t = accepted(run(wired, { type: 'Reset' }));
    expect(t.transition).toBe('ResetToRunning');
    expect(t.state.wiring_edges).toEqual([]);
    expect(t.state.pending_spawn_count).toBe(0);
    expect(t.state.topology_epoch).toBe(wired.topology_epoch + 1);
    expect(t.state.placed_completion_lifecycle_quiescing).toBe(false);
    expect(t.effects.map((e) => e.type)).toEqual([
      'AppendLifecycleJournal',
      'WiringGraphChanged',
      'PersistPlacedCompletionLifecycleIntent',
      'EmitRunLifecycleNotice',
    ]);
    const fromStopped = accepted(run(apply(stopped(), quiesce('Reset')), { type: 'Reset' }));
    expect(fromStopped.state.phase).toBe('Running');
    expect(fromStopped.state.coordinator_bound).toBe(true);
    rejected(run(fresh(), { type: 'Reset' }), 'quiescing_with_intent_reset');
  });
});

describe('Destroy (DestroyFromAny) and DestroyMob', () => {
  it('needs the Destroy latch, no pending detaches, no kickoffs in flight and no pending spawns', () => {
    rejected(run(fresh(), { type: 'Destroy' }), 'quiescing_with_intent_destroy');
    const staged = apply(fresh(), { type: 'StageSpawn', agent_identity: 'a', session_id: S1 }, quiesce('Destroy'));
    rejected(run(staged, { type: 'Destroy' }), 'no_pending_spawns');
    const live = spawn(fresh(), 'a');
    const detaching = apply(live, retireReleasing('a', S1), quiesce('Destroy'));
    rejected(run(detaching, { type: 'Destroy' }), 'no_pending_session_ingress_detach');
    const kicking = apply(
      live,
      { type: 'BeginMemberKickoff', agent_identity: 'a', agent_runtime_id: rt('a'), fence_token: 1, objective_id: null },
      quiesce('Destroy'),
    );
    rejected(run(kicking, { type: 'Destroy' }), 'no_kickoffs_in_flight');
  });

  it('tears the membership down, keeps incarnation history, emits no routed effect', () => {
    const s = apply(spawn(fresh(), 'a'), quiesce('Destroy'));
    const t = accepted(run(s, { type: 'Destroy' }));
    expect(t.transition).toBe('DestroyFromAny');
    expect(t.state.phase).toBe('Destroyed');
    expect(t.state.live_runtime_ids).toEqual([]);
    expect(t.state.identity_to_runtime).toEqual({});
    expect(t.state.member_session_bindings).toEqual({});
    expect(t.state.coordinator_bound).toBe(false);
    expect(t.state.identity_runtime_generations).toEqual({ a: 0 });
    expect(t.effects).toEqual([{ type: 'EmitRunLifecycleNotice', kind: 'Destroyed' }]);
    noTransition(run(t.state, { type: 'Destroy' }));
  });

  it('DestroyMob admits destroy and emits RequestRuntimeDestroy{session_id}', () => {
    const s = apply(spawn(fresh(), 'a'), quiesce('Destroy'));
    const t = accepted(run(s, { type: 'DestroyMob', session_id: S1 }));
    expect(t.state.phase).toBe('Destroyed');
    expect(t.state.destroy_admitted).toBe(true);
    expect(t.state.member_startup_binding_requested).toEqual([]);
    expect(t.effects).toEqual([{ type: 'RequestRuntimeDestroy', session_id: S1 }]);
  });
});

describe('destroy admission', () => {
  it('AdmitDestroyCleanup needs the Destroy latch; journals Destroying and asks to quiesce pending spawns', () => {
    rejected(run(fresh(), { type: 'AdmitDestroyCleanup' }), 'quiescing_with_intent_destroy');
    const s = apply(fresh(), { type: 'StageSpawn', agent_identity: 'b', session_id: S1 }, quiesce('Destroy'));
    const t = accepted(run(s, { type: 'AdmitDestroyCleanup' }));
    expect(t.state.destroy_admitted).toBe(true);
    expect(t.effects).toEqual([
      expect.objectContaining({ type: 'AppendLifecycleJournal', kind: 'Destroying' }),
      { type: 'RequestPendingSpawnQuiesceForDestroy', agent_identities: ['b'] },
    ]);
  });

  it('AdmitDestroyStorageFinalizing only in Destroyed with destroy admitted', () => {
    noTransition(run(fresh(), { type: 'AdmitDestroyStorageFinalizing' }));
    const plain = apply(fresh(), quiesce('Destroy'), { type: 'Destroy' });
    rejected(run(plain, { type: 'AdmitDestroyStorageFinalizing' }), 'destroy_admitted');
    const admitted = apply(fresh(), quiesce('Destroy'), { type: 'AdmitDestroyCleanup' }, { type: 'Destroy' });
    const t = accepted(run(admitted, { type: 'AdmitDestroyStorageFinalizing' }));
    expect(t.effects[0]).toMatchObject({ type: 'AppendLifecycleJournal', kind: 'DestroyStorageFinalizing' });
  });

  it('the full production destroy: quiesce → admit → retire each member → detach → retire → archive → Destroy', () => {
    let s = apply(spawn(fresh(), 'a'), quiesce('Destroy'), { type: 'AdmitDestroyCleanup' });
    const admit = accepted(
      run(s, {
        type: 'AdmitDestroyMemberRetire',
        mob_id: MOB,
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        generation: 0,
        session_id: S1,
      }),
    );
    expect(admit.transition).toBe('AdmitDestroyMemberRetireLive');
    s = apply(
      admit.state,
      detached(rt('a')),
      { type: 'ObserveRuntimeRetired', agent_runtime_id: rt('a'), fence_token: 1 },
      {
        type: 'ObserveDestroyMemberRetirementArchived',
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        generation: 0,
        session_id: S1,
      },
    );
    expect(s.identity_to_runtime).toEqual({});
    const t = accepted(run(s, { type: 'Destroy' }));
    expect(t.state.phase).toBe('Destroyed');
  });
});

describe('RetireAll', () => {
  it('needs the RetireAll latch and names every active member', () => {
    rejected(run(fresh(), { type: 'RetireAll' }), 'quiescing_with_intent_retire_all');
    const s = apply(spawn(spawn(fresh(), 'a'), 'b', { fence: 2, session: null }), quiesce('RetireAll'));
    const t = accepted(run(s, { type: 'RetireAll' }));
    expect(t.effects).toEqual([
      { type: 'EmitMemberLifecycleNotice', kind: 'Retiring', agent_identity: 'a', agent_runtime_id: rt('a') },
      { type: 'EmitMemberLifecycleNotice', kind: 'Retiring', agent_identity: 'b', agent_runtime_id: rt('b') },
    ]);
    expect(snap(t.state)).toBe(snap(s));
  });
});

describe('origin inputs while quiescing', () => {
  it('are refused with lifecycle_origin_open', () => {
    const s = apply(fresh(), quiesce('Stop'));
    rejected(run(s, { type: 'StageSpawn', agent_identity: 'a', session_id: S1 }), 'lifecycle_origin_open');
    rejected(run(s, { type: 'WireMembers', edge: { a: 'x', b: 'y' } }), 'lifecycle_origin_open');
    rejected(run(s, { type: 'StartRun' }), 'lifecycle_origin_open');
  });
});
