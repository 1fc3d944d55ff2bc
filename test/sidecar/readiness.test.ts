import { describe, expect, it } from 'vitest';
import { allReady, memberView, type PeerEndpoint } from '../../sidecar/machine/index.js';
import { accepted, apply, fresh, noTransition, quiesce, rejected, rt, run, S2, spawn, withReadyMember } from './fixtures.js';

const endpoint = (peer_id: string, name = `peer-${peer_id}`): PeerEndpoint => ({
  name,
  peer_id,
  address: `inproc://${peer_id}`,
  signing_key: `key-${peer_id}`,
});

const register = (a: string, peer: PeerEndpoint, g = 0, fence = 1) => ({
  type: 'RegisterMemberPeer' as const,
  agent_identity: a,
  agent_runtime_id: rt(a, g),
  generation: g,
  fence_token: fence,
  peer_endpoint: peer,
});

describe('StartupMarkReady', () => {
  it('moves a live runtime to ready in Running, Stopped and Completed', () => {
    const s = spawn(fresh(), 'a');
    const t = accepted(run(s, { type: 'StartupMarkReady', agent_runtime_id: rt('a'), fence_token: 1 }));
    expect(t.transition).toBe('StartupMarkReadyRunning');
    expect(t.state.member_startup_ready).toEqual([rt('a')]);
    expect(t.state.member_startup_binding_requested).toEqual([]);
    expect(memberView(t.state, 'a')).toMatchObject({ startup: 'Ready', ready: true });
    expect(t.effects).toEqual([]);
    const stopped = apply(s, quiesce('Stop'), { type: 'Stop' });
    expect(accepted(run(stopped, { type: 'StartupMarkReady', agent_runtime_id: rt('a'), fence_token: 1 })).transition).toBe(
      'StartupMarkReadyStopped',
    );
  });

  it('a later ObserveRuntimeReady leaves a ready runtime ready', () => {
    const s = apply(spawn(fresh(), 'a'), { type: 'StartupMarkReady', agent_runtime_id: rt('a'), fence_token: 1 });
    const t = accepted(run(s, { type: 'ObserveRuntimeReady', agent_runtime_id: rt('a'), fence_token: 1 }));
    expect(t.state.member_startup_ready).toEqual([rt('a')]);
    expect(t.state.member_startup_runtime_ready).toEqual([]);
  });

  it('refuses unknown runtimes and stale fences; no transition in Destroyed', () => {
    const s = spawn(fresh(), 'a');
    rejected(run(s, { type: 'StartupMarkReady', agent_runtime_id: 'b:0', fence_token: 1 }), 'runtime_live');
    rejected(run(s, { type: 'StartupMarkReady', agent_runtime_id: rt('a'), fence_token: 2 }), 'runtime_fence_matches');
    const destroyed = apply(fresh(), quiesce('Destroy'), { type: 'Destroy' });
    noTransition(run(destroyed, { type: 'StartupMarkReady', agent_runtime_id: rt('a'), fence_token: 1 }));
  });

  it('peer-only members become ready only through StartupMarkReady', () => {
    const s = spawn(fresh(), 'p', { session: null });
    expect(memberView(s, 'p').startup).toBe('None');
    expect(allReady(s, ['p'])).toBe(false);
    const t = accepted(run(s, { type: 'StartupMarkReady', agent_runtime_id: rt('p'), fence_token: 1 }));
    expect(allReady(t.state, ['p'])).toBe(true);
    expect(allReady(t.state, ['p', 'ghost'])).toBe(false);
  });
});

describe('RegisterMemberPeer', () => {
  it('records peer id and endpoint and emits MemberPeerRegistered', () => {
    const t = accepted(run(withReadyMember(), register('a', endpoint('pa'))));
    expect(t.transition).toBe('RegisterMemberPeerRunning');
    expect(t.state.member_peer_ids).toEqual({ a: 'pa' });
    expect(t.state.member_peer_endpoints.a).toEqual(endpoint('pa'));
    expect(t.effects).toEqual([{ type: 'MemberPeerRegistered', agent_identity: 'a', peer_id: 'pa' }]);
  });

  it('refuses with the named guard', () => {
    const s = spawn(withReadyMember(), 'b', { fence: 2, session: S2 });
    rejected(run(s, register('a', endpoint('pa'), 1)), 'identity_runtime_binding_matches');
    rejected(run(s, register('a', endpoint('pa'), 0, 2)), 'identity_fence_matches');
    const once = apply(s, register('a', endpoint('pa')));
    rejected(run(once, register('a', endpoint('pa2'))), 'peer_not_registered');
    rejected(run(once, register('b', endpoint('pa'), 0, 2)), 'peer_id_unused');
    rejected(run(s, register('a', endpoint(''))), 'peer_endpoint_complete');
  });

  it('refuses a retiring member and a member with retained edges outside the spawn ladder', () => {
    const wired = apply(withReadyMember(), { type: 'WireMembers', edge: { a: 'a', b: 'z' } });
    rejected(run(wired, register('a', endpoint('pa'))), 'ladder_committed_or_no_retained_edges');
    const midSpawn = spawn(fresh(), 'a', {}, false);
    const wiredMid = apply(midSpawn, { type: 'WireMembers', edge: { a: 'a', b: 'z' } });
    accepted(run(wiredMid, register('a', endpoint('pa'))));
    const retiring = apply(withReadyMember(), {
      type: 'Retire',
      mob_id: 'mob-1',
      agent_runtime_id: rt('a'),
      agent_identity: 'a',
      generation: 0,
      releasing: null,
      session_id: withReadyMember().member_session_bindings.a ?? null,
    });
    rejected(run(retiring, register('a', endpoint('pa'))), 'member_not_retiring');
  });
});
