import { describe, expect, it } from 'vitest';
import type { MobInput, MobState, SubmitOrigin } from '../../sidecar/machine/index.js';
import {
  accepted,
  apply,
  authorize,
  begin,
  commit,
  fresh,
  noTransition,
  quiesce,
  rejected,
  retireReleasing,
  rt,
  run,
  S1,
  S2,
  spawn,
  withReadyMember,
} from './fixtures.js';

const submit = (a: string, origin: SubmitOrigin = 'External', fence = 1, g = 0): MobInput => ({
  type: 'SubmitWork',
  agent_identity: a,
  agent_runtime_id: rt(a, g),
  fence_token: fence,
  work_id: 'w-1',
  origin,
});
const classify = (a: string, origin: SubmitOrigin = 'External', fence = 1, runtime = rt(a)): MobInput => ({
  type: 'ResolveSubmitWorkRejection',
  agent_identity: a,
  agent_runtime_id: runtime,
  fence_token: fence,
  origin,
});

function peerMember(): MobState {
  return apply(spawn(fresh(), 'p', { session: null }), {
    type: 'RegisterMemberPeer',
    agent_identity: 'p',
    agent_runtime_id: rt('p'),
    generation: 0,
    fence_token: 1,
    peer_endpoint: { name: 'p', peer_id: 'peer-p', address: 'inproc://p', signing_key: 'k' },
  });
}

function nonAddressable(): MobState {
  return apply(
    fresh(),
    authorize('n', { external_addressable: false }),
    begin('n', { addressable: false, session: S2 }),
    commit('n', { addressable: false, session: S2 }),
  );
}

describe('SubmitWork', () => {
  it('external work to an addressable session-backed member requests runtime ingress (no state change)', () => {
    const s = withReadyMember();
    const t = accepted(run(s, submit('a')));
    expect(t.transition).toBe('SubmitWorkRunningExternal');
    expect(t.state).toBe(s);
    expect(t.effects).toEqual([
      { type: 'RequestRuntimeIngress', agent_runtime_id: rt('a'), fence_token: 1, generation: 0, session_id: S1, work_id: 'w-1', origin: 'External' },
    ]);
  });

  it('internal work needs no addressability', () => {
    const t = accepted(run(nonAddressable(), submit('n', 'Internal')));
    expect(t.transition).toBe('SubmitWorkRunningInternal');
    rejected(run(nonAddressable(), submit('n', 'External')), 'runtime_externally_addressable', 'origin_internal');
  });

  it('peer-only members get RequestPeerRuntimeIngress over comms', () => {
    const t = accepted(run(peerMember(), submit('p', 'Internal')));
    expect(t.transition).toBe('SubmitWorkRunningInternalPeerOnly');
    expect(t.effects).toEqual([
      { type: 'RequestPeerRuntimeIngress', agent_runtime_id: rt('p'), fence_token: 1, generation: 0, peer_id: 'peer-p', work_id: 'w-1', origin: 'Internal' },
    ]);
    expect(accepted(run(peerMember(), submit('p', 'External'))).transition).toBe('SubmitWorkRunningExternalPeerOnly');
    const noPeer = spawn(fresh(), 'q', { session: null });
    const step = run(noPeer, submit('q', 'Internal'));
    expect(step.ok).toBe(false);
    if (!step.ok) expect(step.failures.map((f) => f.guard)).toContain('peer_registered');
  });

  it('refuses a stale fence, an unknown member, a retiring member, quiescing and other phases', () => {
    const s = withReadyMember();
    rejected(run(s, submit('a', 'External', 2)), 'runtime_fence_matches');
    rejected(run(fresh(), submit('a')), 'some_member_live');
    rejected(run(s, submit('b')), 'identity_runtime_binding_matches');
    rejected(run(apply(s, retireReleasing('a', S1)), submit('a')), 'member_not_retiring');
    rejected(run(apply(s, quiesce('Complete')), submit('a')), 'lifecycle_origin_open');
    noTransition(run(apply(s, { type: 'Shutdown' }), submit('a')));
  });
});

describe('ResolveSubmitWorkRejection', () => {
  const reason = (s: MobState, i: MobInput) => {
    const t = accepted(run(s, i));
    expect(t.state).toBe(s);
    return t.effects[0];
  };

  it('classifies in the upstream order', () => {
    const s = withReadyMember();
    expect(reason(apply(s, { type: 'Shutdown' }), classify('a'))).toMatchObject({ reason: 'MobNotRunning' });
    expect(reason(apply(s, quiesce('Stop')), classify('a'))).toMatchObject({ reason: 'LifecycleOperationPending' });
    expect(reason(s, classify('ghost'))).toMatchObject({ reason: 'MemberNotFound', expected_fence_token: null });
    expect(reason(s, classify('a', 'External', 7))).toEqual({
      type: 'SubmitWorkRejected',
      agent_runtime_id: rt('a'),
      origin: 'External',
      reason: 'StaleFenceToken',
      expected_fence_token: 1,
      actual_fence_token: 7,
    });
    expect(reason(s, classify('a', 'External', 1, rt('a', 5)))).toMatchObject({ reason: 'StaleFenceToken' });
    expect(reason(apply(s, retireReleasing('a', S1)), classify('a'))).toMatchObject({ reason: 'MemberNotFound' });
    expect(reason(nonAddressable(), classify('n'))).toMatchObject({ reason: 'NotExternallyAddressable' });
    expect(reason(spawn(fresh(), 'q', { session: null }), classify('q', 'Internal'))).toMatchObject({
      reason: 'NotExternallyAddressable',
    });
  });

  it('refuses to classify an admissible submission', () => {
    const step = run(withReadyMember(), classify('a'));
    expect(step.ok).toBe(false);
    if (!step.ok) expect(step.failures.map((f) => f.guard)).toEqual([
      'lifecycle_quiescing',
      'member_not_found',
      'runtime_or_fence_stale',
      'member_retiring',
      'member_not_addressable_for_origin',
    ]);
  });
});

describe('CancelAllWork / ForceCancel / runs', () => {
  it('StartRun / FinishRun count runs; FinishRun needs one', () => {
    const s = apply(fresh(), { type: 'StartRun' }, { type: 'StartRun' });
    expect(s.active_run_count).toBe(2);
    expect(apply(s, { type: 'FinishRun' }).active_run_count).toBe(1);
    rejected(run(fresh(), { type: 'FinishRun' }), 'active_runs_present');
  });

  it('CancelAllWork (binding + fence) and ForceCancel (live, not retiring) reset runs and terminalize', () => {
    const s = apply(withReadyMember(), { type: 'StartRun' });
    const c = accepted(run(s, { type: 'CancelAllWork', agent_identity: 'a', agent_runtime_id: rt('a'), fence_token: 1 }));
    expect(c.state.active_run_count).toBe(0);
    expect(c.effects).toEqual([{ type: 'FlowTerminalized', agent_identity: 'a' }]);
    rejected(run(s, { type: 'CancelAllWork', agent_identity: 'a', agent_runtime_id: rt('a'), fence_token: 3 }), 'runtime_fence_matches');
    expect(accepted(run(s, { type: 'ForceCancel', agent_identity: 'a' })).state.active_run_count).toBe(0);
    rejected(run(s, { type: 'ForceCancel', agent_identity: 'zz' }), 'identity_known');
    rejected(run(apply(s, retireReleasing('a', S1)), { type: 'ForceCancel', agent_identity: 'a' }), 'current_runtime_not_retiring');
    const gone = apply(s, { type: 'ObserveRuntimeRetired', agent_runtime_id: rt('a'), fence_token: 1 });
    rejected(run(gone, { type: 'ForceCancel', agent_identity: 'a' }), 'current_runtime_live');
  });
});
