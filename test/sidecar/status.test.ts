import { describe, expect, it } from 'vitest';
import { listMembers, memberStatus, memberView } from '../../sidecar/machine/index.js';
import { apply, detached, fresh, retireReleasing, rt, S1, S2, spawn, withReadyMember } from './fixtures.js';

describe('derived member status (mob.md §2.3)', () => {
  it('Unknown for a never-seen identity', () => {
    expect(memberStatus(fresh(), 'ghost')).toEqual({ agent_identity: 'ghost', status: 'Unknown', error: null, is_final: true });
  });

  it('Active while the current runtime is live', () => {
    expect(memberStatus(withReadyMember(), 'a')).toMatchObject({ status: 'Active', is_final: false });
  });

  it('Retiring with a Retiring marker or a pending detach; still Retiring after the runtime retired', () => {
    const s = apply(withReadyMember(), retireReleasing('a', S1));
    expect(memberStatus(s, 'a').status).toBe('Retiring');
    const gone = apply(s, detached(rt('a')), { type: 'ObserveRuntimeRetired', agent_runtime_id: rt('a'), fence_token: 1 });
    expect(memberStatus(gone, 'a')).toMatchObject({ status: 'Retiring', is_final: false });
  });

  it('Completed when the current runtime is gone without retiring, or only history remains', () => {
    const direct = apply(withReadyMember(), { type: 'ObserveRuntimeRetired', agent_runtime_id: rt('a'), fence_token: 1 });
    expect(memberStatus(direct, 'a')).toMatchObject({ status: 'Completed', is_final: true });
    const archived = apply(
      withReadyMember(),
      retireReleasing('a', S1),
      detached(rt('a')),
      { type: 'ObserveRuntimeRetired', agent_runtime_id: rt('a'), fence_token: 1 },
      {
        type: 'ObserveMemberRetirementArchived',
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        generation: 0,
        session_id: S1,
        preserve_machine_topology: false,
      },
    );
    expect(memberStatus(archived, 'a').status).toBe('Completed');
  });

  it('Broken takes precedence (error = recorded reason)', () => {
    const s = apply(withReadyMember(), {
      type: 'ResolveRuntimeBindingRefusal',
      agent_identity: 'a',
      agent_runtime_id: rt('a'),
      session_id: S1,
      refusal_code: 'routed_session_not_durability_ready',
      reason: 'kernel session not ready',
    });
    expect(memberStatus(s, 'a')).toEqual({ agent_identity: 'a', status: 'Broken', error: 'kernel session not ready', is_final: true });
  });
});

describe('member projections', () => {
  it('memberView shows runtime, binding, profile, readiness and wiring', () => {
    const s = apply(spawn(withReadyMember(), 'b', { fence: 2, session: S2 }), { type: 'WireMembers', edge: { a: 'b', b: 'a' } });
    expect(memberView(s, 'a')).toEqual({
      agent_identity: 'a',
      status: 'Active',
      error: null,
      is_final: false,
      agent_runtime_id: rt('a'),
      generation: 0,
      fence_token: 1,
      session_id: S1,
      profile_name: 'worker',
      runtime_mode: 'AutonomousHost',
      external_addressable: true,
      startup: 'RuntimeReady',
      ready: true,
      peer_id: null,
      wired_to: ['b'],
      kickoff: null,
      health: 'Unknown',
    });
    expect(memberView(s, 'b')).toMatchObject({ startup: 'BindingRequested', ready: false });
  });

  it('listMembers: active excludes retiring, including_retiring adds them, all adds retired identities', () => {
    let s = spawn(spawn(spawn(fresh(), 'a'), 'b', { fence: 2, session: S2 }), 'c', { fence: 3, session: null });
    s = apply(s, retireReleasing('b', S2), { type: 'Retire', mob_id: 'mob-1', agent_runtime_id: rt('c'), agent_identity: 'c', generation: 0, releasing: null, session_id: null });
    s = apply(s, { type: 'ObserveMemberRetirementArchived', agent_identity: 'c', agent_runtime_id: rt('c'), fence_token: 3, generation: 0, session_id: null, preserve_machine_topology: false });
    expect(listMembers(s).map((m) => m.agent_identity)).toEqual(['a']);
    expect(listMembers(s, 'including_retiring').map((m) => [m.agent_identity, m.status])).toEqual([
      ['a', 'Active'],
      ['b', 'Retiring'],
    ]);
    expect(listMembers(s, 'all').map((m) => [m.agent_identity, m.status])).toEqual([
      ['a', 'Active'],
      ['b', 'Retiring'],
      ['c', 'Completed'],
    ]);
  });
});
