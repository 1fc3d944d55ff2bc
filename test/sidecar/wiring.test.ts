import { describe, expect, it } from 'vitest';
import { memberView, type MobInput, type MobState, type PeerEndpoint } from '../../sidecar/machine/index.js';
import { accepted, apply, fresh, noTransition, quiesce, rejected, rt, run, S2, spawn, withReadyMember } from './fixtures.js';

const wire = (a: string, b: string): MobInput => ({ type: 'WireMembers', edge: { a, b } });
const unwire = (a: string, b: string): MobInput => ({ type: 'UnwireMembers', edge: { a, b } });
const ep = (id: string): PeerEndpoint => ({ name: id, peer_id: `peer-${id}`, address: `inproc://${id}`, signing_key: `k-${id}` });

function twoPeers(): MobState {
  const s = spawn(withReadyMember(), 'b', { fence: 2, session: S2 });
  return apply(
    s,
    { type: 'RegisterMemberPeer', agent_identity: 'a', agent_runtime_id: rt('a'), generation: 0, fence_token: 1, peer_endpoint: ep('a') },
    { type: 'RegisterMemberPeer', agent_identity: 'b', agent_runtime_id: rt('b'), generation: 0, fence_token: 2, peer_endpoint: ep('b') },
  );
}

describe('WireMembers', () => {
  it('adds the normalized edge, bumps the epoch and emits graph change + Wired notice', () => {
    const t = accepted(run(fresh(), wire('y', 'x')));
    expect(t.transition).toBe('WireMembersRunning');
    expect(t.state.wiring_edges).toEqual([{ a: 'x', b: 'y' }]);
    expect(t.state.topology_epoch).toBe(1);
    expect(t.effects).toEqual([
      { type: 'WiringGraphChanged', epoch: 1 },
      { type: 'EmitWiringLifecycleNotice', kind: 'Wired', edge: { a: 'x', b: 'y' } },
    ]);
  });

  it('wiring an existing edge (either orientation) is an idempotent trust repair', () => {
    const s = apply(fresh(), wire('x', 'y'));
    const t = accepted(run(s, wire('y', 'x')));
    expect(t.transition).toBe('WireMembersAlreadyWired');
    expect(t.state).toBe(s);
    expect(t.effects).toEqual([{ type: 'WiringTrustRepairRequested', edge: { a: 'x', b: 'y' } }]);
  });

  it('keeps the edge set sorted and shows it as wired_to', () => {
    const s = apply(withReadyMember(), wire('a', 'z'), wire('a', 'c'), wire('b', 'c'));
    expect(s.wiring_edges).toEqual([
      { a: 'a', b: 'c' },
      { a: 'a', b: 'z' },
      { a: 'b', b: 'c' },
    ]);
    expect(memberView(s, 'a').wired_to).toEqual(['c', 'z']);
  });

  it('refuses self-edges, quiescing and non-Running phases', () => {
    rejected(run(fresh(), wire('x', 'x')), 'edge_endpoints_distinct');
    rejected(run(apply(fresh(), quiesce('Stop')), wire('x', 'y')), 'lifecycle_origin_open');
    noTransition(run(apply(fresh(), { type: 'Shutdown' }), wire('x', 'y')));
  });
});

describe('WireMembersWithTrust', () => {
  it('requires registered peers on both ends and asks the shell to install mutual trust', () => {
    const s = twoPeers();
    const t = accepted(run(s, { type: 'WireMembersWithTrust', edge: { a: 'b', b: 'a' }, a_identity: 'b', b_identity: 'a' }));
    expect(t.transition).toBe('WireMembersWithTrustRunning');
    expect(t.effects).toEqual([
      { type: 'WiringGraphChanged', epoch: t.state.topology_epoch },
      {
        type: 'MemberTrustWiringRequested',
        edge: { a: 'a', b: 'b' },
        a_peer_id: 'peer-a',
        b_peer_id: 'peer-b',
        a_endpoint: ep('a'),
        b_endpoint: ep('b'),
        epoch: t.state.topology_epoch,
      },
      { type: 'EmitWiringLifecycleNotice', kind: 'Wired', edge: { a: 'a', b: 'b' } },
    ]);
  });

  it('refuses with the named guard', () => {
    const s = twoPeers();
    rejected(
      run(s, { type: 'WireMembersWithTrust', edge: { a: 'a', b: 'b' }, a_identity: 'a', b_identity: 'c' }),
      'edge_normalizes_to_identities',
    );
    rejected(
      run(withReadyMember(), { type: 'WireMembersWithTrust', edge: { a: 'a', b: 'z' }, a_identity: 'a', b_identity: 'z' }),
      'both_members_have_registered_peers',
    );
    const wired = apply(s, wire('a', 'b'));
    const t = accepted(run(wired, { type: 'WireMembersWithTrust', edge: { a: 'a', b: 'b' }, a_identity: 'a', b_identity: 'b' }));
    expect(t.transition).toBe('WireMembersWithTrustAlreadyWired');
  });
});

describe('UnwireMembers', () => {
  it('removes a present edge; an absent edge is an accepted no-op', () => {
    const s = apply(fresh(), wire('x', 'y'));
    const t = accepted(run(s, unwire('y', 'x')));
    expect(t.transition).toBe('UnwireMembersRunning');
    expect(t.state.wiring_edges).toEqual([]);
    expect(t.effects).toEqual([
      { type: 'WiringGraphChanged', epoch: 2 },
      { type: 'EmitWiringLifecycleNotice', kind: 'Unwired', edge: { a: 'x', b: 'y' } },
    ]);
    const again = accepted(run(t.state, unwire('x', 'y')));
    expect(again.transition).toBe('UnwireMembersAlreadyAbsent');
    expect(again.state).toBe(t.state);
  });

  it('is allowed while quiescing (it only removes trust)', () => {
    const s = apply(fresh(), wire('x', 'y'), quiesce('Stop'));
    accepted(run(s, unwire('x', 'y')));
  });
});

describe('external peers', () => {
  const wireExt = (key: string, local: string, peer: string): MobInput => ({ type: 'WireExternalPeer', key, edge: { local, peer } });
  const unwireExt = (key: string, local: string, peer: string): MobInput => ({ type: 'UnwireExternalPeer', key, edge: { local, peer } });

  it('wires by key, idempotently, and unwires', () => {
    const t = accepted(run(withReadyMember(), wireExt('k', 'a', 'ext')));
    expect(t.state.external_peer_edges_by_key).toEqual({ k: { local: 'a', peer: 'ext' } });
    expect(t.effects[1]).toEqual({ type: 'EmitExternalPeerLifecycleNotice', kind: 'Wired', key: 'k', edge: { local: 'a', peer: 'ext' } });
    expect(accepted(run(t.state, wireExt('k', 'a', 'ext'))).transition).toBe('WireExternalPeerAlreadyWired');
    const u = accepted(run(t.state, unwireExt('k', 'a', 'ext')));
    expect(u.state.external_peer_edges_by_key).toEqual({});
    expect(accepted(run(u.state, unwireExt('k', 'a', 'ext'))).transition).toBe('UnwireExternalPeerAlreadyAbsent');
  });

  it('refuses a key bound to another edge, a self edge and a member as the external side', () => {
    const s = apply(withReadyMember(), wireExt('k', 'a', 'ext'));
    rejected(run(s, wireExt('k', 'a', 'other')), 'external_peer_key_unbound', 'external_peer_key_bound_to_edge');
    rejected(run(s, unwireExt('k', 'a', 'other')), 'external_peer_key_bound_to_edge');
    rejected(run(fresh(), wireExt('k', 'x', 'x')), 'external_peer_is_not_local');
    rejected(run(withReadyMember(), wireExt('k', 'z', 'a')), 'external_peer_not_member');
  });
});
