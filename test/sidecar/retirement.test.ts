import { describe, expect, it } from 'vitest';
import { memberView, type MobInput, type MobState } from '../../sidecar/machine/index.js';
import {
  accepted,
  apply,
  detached,
  fresh,
  MOB,
  noTransition,
  quiesce,
  rejected,
  retireReleasing,
  rt,
  run,
  S1,
  S2,
  snap,
  spawn,
  withReadyMember,
} from './fixtures.js';

const retire = (over: Partial<Extract<MobInput, { type: 'Retire' }>> = {}): MobInput => ({
  type: 'Retire',
  mob_id: MOB,
  agent_runtime_id: rt('a'),
  agent_identity: 'a',
  generation: 0,
  releasing: null,
  session_id: null,
  ...over,
});
const retired = (fence = 1, r = rt('a')): MobInput => ({ type: 'ObserveRuntimeRetired', agent_runtime_id: r, fence_token: fence });
const archived = (over: Partial<Extract<MobInput, { type: 'ObserveMemberRetirementArchived' }>> = {}): MobInput => ({
  type: 'ObserveMemberRetirementArchived',
  agent_identity: 'a',
  agent_runtime_id: rt('a'),
  fence_token: 1,
  generation: 0,
  session_id: S1,
  preserve_machine_topology: false,
  ...over,
});

const releasing = (): MobState => apply(withReadyMember(), retireReleasing('a', S1));

describe('Retire', () => {
  it('RetireRunningReleasing marks Retiring, releases the binding and holds the retire behind a detach', () => {
    const s = withReadyMember();
    const t = accepted(run(s, retireReleasing('a', S1)));
    expect(t.transition).toBe('RetireRunningReleasing');
    expect(t.state.member_state_markers).toEqual({ [rt('a')]: 'Retiring' });
    expect(t.state.runtime_retire_pending_sessions).toEqual({ [rt('a')]: S1 });
    expect(t.state.member_session_bindings).toEqual({});
    expect(t.state.pending_session_ingress_detach_runtime_ids).toEqual([rt('a')]);
    expect(t.state.topology_epoch).toBe(s.topology_epoch + 1);
    expect(t.effects).toEqual([
      {
        type: 'AppendLifecycleJournal',
        kind: 'MemberRetirementStartedReleasing',
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        generation: 0,
        session_id: S1,
      },
      { type: 'RequestRuntimeRetire', agent_identity: 'a', agent_runtime_id: rt('a'), session_id: S1 },
      { type: 'RequestSessionIngressDetachForMobDestroy', mob_id: MOB, agent_runtime_id: rt('a') },
      { type: 'MemberSessionBindingChanged', epoch: t.state.topology_epoch, agent_identity: 'a', old: S1, new: null },
      { type: 'RequestKickoffQuiesce', agent_identity: 'a' },
    ]);
    expect(memberView(t.state, 'a').status).toBe('Retiring');
  });

  it('PreservingBinding keeps the binding; NoBinding (peer-only) only marks Retiring', () => {
    const p = accepted(run(withReadyMember(), retire({ session_id: S1 })));
    expect(p.transition).toBe('RetireRunningPreservingBinding');
    expect(p.state.member_session_bindings).toEqual({ a: S1 });
    expect(p.state.pending_session_ingress_detach_runtime_ids).toEqual([]);
    expect(p.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'RequestRuntimeRetire', 'RequestKickoffQuiesce']);
    const peer = spawn(fresh(), 'a', { session: null });
    const n = accepted(run(peer, retire()));
    expect(n.transition).toBe('RetireRunningNoBinding');
    expect(n.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'RequestKickoffQuiesce']);
    expect(n.effects[0]).toMatchObject({ kind: 'MemberRetirementStartedPeerOnly' });
  });

  it('works while Stopped', () => {
    const s = apply(withReadyMember(), quiesce('Stop'), { type: 'Stop' });
    expect(accepted(run(s, retireReleasing('a', S1))).transition).toBe('RetireStoppedReleasing');
  });

  it('refuses with the named guard', () => {
    const s = withReadyMember();
    rejected(run(s, retire({ mob_id: 'mob-2', releasing: S1, session_id: S1 })), 'mob_id_matches');
    rejected(run(fresh(), retireReleasing('a', S1)), 'some_member_live');
    rejected(run(s, retire({ agent_runtime_id: rt('a', 1), generation: 1 })), 'runtime_live');
    rejected(run(s, retire({ generation: 3, releasing: S1, session_id: S1 })), 'identity_generation_matches');
    rejected(run(s, retire({ releasing: S2, session_id: S2 })), 'releasing_is_session_binding');
    rejected(run(s, retire({ releasing: S1, session_id: null })), 'session_id_is_releasing');
    noTransition(run(apply(s, quiesce('Complete'), { type: 'Complete' }), retireReleasing('a', S1)));
  });
});

describe('session-ingress detach protocol (mob.md §1.9)', () => {
  it('ack clears the pending detach; a failure changes nothing; the request can be re-emitted', () => {
    const s = releasing();
    const failed = accepted(
      run(s, { type: 'SessionIngressDetachFailedForMobDestroy', mob_id: MOB, agent_runtime_id: rt('a'), reason: 'busy' }),
    );
    expect(failed.state).toBe(s);
    const again = accepted(run(s, { type: 'RequestPendingSessionIngressDetachForMobDestroy', mob_id: MOB, agent_runtime_id: rt('a') }));
    expect(again.effects).toEqual([{ type: 'RequestSessionIngressDetachForMobDestroy', mob_id: MOB, agent_runtime_id: rt('a') }]);
    const ack = accepted(run(s, detached(rt('a'))));
    expect(ack.state.pending_session_ingress_detach_runtime_ids).toEqual([]);
    expect(memberView(ack.state, 'a').status).toBe('Retiring');
    rejected(run(ack.state, detached(rt('a'))), 'session_ingress_detach_pending');
    rejected(run(s, { type: 'SessionIngressDetachedForMobDestroy', mob_id: 'mob-2', agent_runtime_id: rt('a') }), 'mob_id_matches');
  });
});

describe('RetireMember (signal) and RetryRuntimeRetire', () => {
  const retireMember = (fence = 1, session: string | null = S1): MobInput => ({
    type: 'RetireMember',
    agent_identity: 'a',
    agent_runtime_id: rt('a'),
    fence_token: fence,
    session_id: session,
  });

  it('RetireMember marks Retiring with a pending session and clears the ladder', () => {
    const s = spawn(fresh(), 'a', {}, false);
    const t = accepted(run(s, retireMember()));
    expect(t.transition).toBe('RetireMemberRunning');
    expect(t.state.spawn_exec_phase).toEqual({});
    expect(t.state.runtime_retire_pending_sessions).toEqual({ [rt('a')]: S1 });
    expect(t.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'RequestRuntimeRetire', 'RequestKickoffQuiesce']);
    rejected(run(t.state, retireMember()), 'member_not_retiring');
    rejected(run(s, retireMember(2)), 'runtime_fence_matches');
    rejected(run(s, retireMember(1, S2)), 'session_id_is_session_binding');
    rejected(run(s, retireMember(1, null)), 'session_id_is_session_binding');
  });

  it('a refused retire is classified and retried with the remembered session', () => {
    const s = apply(releasing(), detached(rt('a')));
    const refusal = accepted(
      run(s, {
        type: 'ResolveRuntimeRetireRefusal',
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        session_id: S1,
        refusal_code: 'routed_session_not_durability_ready',
        reason: 'not ready',
      }),
    );
    expect(refusal.state.runtime_retire_refusal_codes).toEqual({ [rt('a')]: 'routed_session_not_durability_ready' });
    const retry = accepted(run(refusal.state, { type: 'RetryRuntimeRetire', agent_identity: 'a', agent_runtime_id: rt('a') }));
    expect(retry.effects).toEqual([{ type: 'RequestRuntimeRetire', agent_identity: 'a', agent_runtime_id: rt('a'), session_id: S1 }]);
    rejected(run(withReadyMember(), { type: 'RetryRuntimeRetire', agent_identity: 'a', agent_runtime_id: rt('a') }), 'member_marked_retiring');
    const peer = apply(spawn(fresh(), 'a', { session: null }), retire());
    rejected(run(peer, { type: 'RetryRuntimeRetire', agent_identity: 'a', agent_runtime_id: rt('a') }), 'pending_retire_session_present');
  });
});

describe('ObserveMemberRetirementArchived', () => {
  it('Retired variant (after ObserveRuntimeRetired) removes the member but keeps its history', () => {
    const s = apply(releasing(), detached(rt('a')), retired());
    const t = accepted(run(s, archived()));
    expect(t.transition).toBe('ObserveMemberRetirementArchivedRetired');
    expect(t.state.identity_to_runtime).toEqual({});
    expect(t.state.member_state_markers).toEqual({});
    expect(t.state.runtime_retire_pending_sessions).toEqual({});
    expect(t.state.identity_runtime_generations).toEqual({ a: 0 });
    expect(t.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'WiringGraphChanged']);
    expect(t.effects[0]).toMatchObject({ kind: 'MemberRetired', agent_identity: 'a', generation: 0 });
    expect(memberView(t.state, 'a').status).toBe('Completed');
  });

  it('Live variant (runtime still live) also drops the live runtime and emits the Retired notice', () => {
    const s = apply(releasing(), detached(rt('a')));
    const t = accepted(run(s, archived()));
    expect(t.transition).toBe('ObserveMemberRetirementArchivedLive');
    expect(t.state.live_runtime_ids).toEqual([]);
    expect(t.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'WiringGraphChanged', 'EmitMemberLifecycleNotice']);
  });

  it('prunes every edge touching the archived identity', () => {
    const s = apply(
      withReadyMember(),
      { type: 'WireMembers', edge: { a: 'z', b: 'a' } },
      { type: 'WireMembers', edge: { a: 'x', b: 'y' } },
      { type: 'WireExternalPeer', key: 'k', edge: { local: 'a', peer: 'ext' } },
      retireReleasing('a', S1),
      detached(rt('a')),
    );
    const t = accepted(run(s, archived()));
    expect(t.state.wiring_edges).toEqual([{ a: 'x', b: 'y' }]);
    expect(t.state.external_peer_edges_by_key).toEqual({});
  });

  it('AlreadyCleared re-requests the journal entry idempotently', () => {
    const s = apply(releasing(), detached(rt('a')), retired(), archived());
    const t = accepted(run(s, archived()));
    expect(t.transition).toBe('ObserveMemberRetirementArchivedAlreadyCleared');
    expect(t.state).toBe(s);
    expect(t.effects).toEqual([expect.objectContaining({ type: 'AppendLifecycleJournal', kind: 'MemberRetired' })]);
  });

  it('refuses with the named guard', () => {
    const s = releasing();
    rejected(run(s, archived()), 'runtime_detach_closed');
    const acked = apply(s, detached(rt('a')));
    rejected(run(acked, archived({ preserve_machine_topology: true })), 'machine_topology_not_preserved');
    rejected(run(acked, archived({ session_id: S2 })), 'pending_retire_session_matches');
    rejected(run(acked, archived({ generation: 4 })), 'identity_generation_matches');
    rejected(run(withReadyMember(), archived()), 'member_marked_retiring');
    const kicking = apply(
      withReadyMember(),
      { type: 'BeginMemberKickoff', agent_identity: 'a', agent_runtime_id: rt('a'), fence_token: 1, objective_id: null },
      retireReleasing('a', S1),
      detached(rt('a')),
    );
    rejected(run(kicking, archived()), 'kickoff_quiesced');
    const quiesced = apply(kicking, { type: 'CancelMemberKickoff', agent_identity: 'a' });
    accepted(run(quiesced, archived()));
  });
});

describe('AdmitDestroyMemberRetire / ObserveDestroyMemberRetirementArchived', () => {
  const admit = (over: Partial<Extract<MobInput, { type: 'AdmitDestroyMemberRetire' }>> = {}): MobInput => ({
    type: 'AdmitDestroyMemberRetire',
    mob_id: MOB,
    agent_identity: 'a',
    agent_runtime_id: rt('a'),
    fence_token: 1,
    generation: 0,
    session_id: S1,
    ...over,
  });
  const admitted = (s: MobState) => apply(s, quiesce('Destroy'), { type: 'AdmitDestroyCleanup' });

  it('needs destroy admitted', () => {
    rejected(run(withReadyMember(), admit()), 'destroy_admitted');
  });

  it('Live retires like Releasing; repeats are idempotent no-ops', () => {
    const t = accepted(run(admitted(withReadyMember()), admit()));
    expect(t.transition).toBe('AdmitDestroyMemberRetireLive');
    expect(t.state.pending_session_ingress_detach_runtime_ids).toEqual([rt('a')]);
    expect(t.effects.map((e) => e.type)).toContain('RequestRuntimeRetire');
    const again = accepted(run(t.state, admit()));
    expect(again.transition).toBe('AdmitDestroyMemberRetireAlreadyRetiring');
    expect(snap(again.state)).toBe(snap(t.state));
  });

  it('peer-only members and already archived members', () => {
    const peer = admitted(spawn(fresh(), 'a', { session: null }));
    expect(accepted(run(peer, admit({ session_id: null }))).transition).toBe('AdmitDestroyMemberRetireLivePeerOnly');
    const gone = admitted(apply(releasing(), detached(rt('a')), retired(), archived()));
    expect(accepted(run(gone, admit())).transition).toBe('AdmitDestroyMemberRetireAlreadyArchived');
  });

  it('the destroy archival works in Stopped too and requires destroy admitted', () => {
    const facts = {
      type: 'ObserveDestroyMemberRetirementArchived' as const,
      agent_identity: 'a',
      agent_runtime_id: rt('a'),
      fence_token: 1,
      generation: 0,
      session_id: S1,
    };
    rejected(run(apply(releasing(), detached(rt('a'))), facts), 'destroy_admitted');
    const stopped = apply(withReadyMember(), quiesce('Stop'), { type: 'Stop' }, quiesce('Destroy'), { type: 'AdmitDestroyCleanup' });
    const s = apply(stopped, admit(), detached(rt('a')), retired());
    expect(accepted(run(s, facts)).transition).toBe('ObserveDestroyMemberRetirementArchivedRetired');
  });
});
