import { describe, expect, it } from 'vitest';
import { memberView, type MobState } from '../../sidecar/machine/index.js';
import {
  accepted,
  apply,
  authorize,
  begin,
  commit,
  detached,
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
} from './fixtures.js';

const authorized = (): MobState => apply(fresh(), authorize('a'));
const opened = (o = {}): MobState => apply(authorized(), begin('a', o));

/** Spawn, retire and archive A so that its history holds generation 0 / fence 1. */
function archivedOnce(): MobState {
  return apply(
    spawn(fresh(), 'a'),
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
}

describe('AuthorizeSpawnProfile', () => {
  it('records the profile facts and emits SpawnProfileAuthorized', () => {
    const t = accepted(run(fresh(), authorize('a', { output_schema_digest: 'schema-1' })));
    expect(t.transition).toBe('AuthorizeSpawnProfileRunning');
    expect(t.state.spawn_profile_authority.a).toMatchObject({ profile_name: 'worker', output_schema_digest: 'schema-1' });
    expect(t.effects[0]).toMatchObject({ type: 'SpawnProfileAuthorized', agent_identity: 'a', profile_name: 'worker' });
  });

  it('is refused while quiescing and outside Running', () => {
    rejected(run(apply(fresh(), quiesce('Stop')), authorize('a')), 'lifecycle_origin_open');
    noTransition(run(apply(fresh(), { type: 'Shutdown' }), authorize('a')));
  });
});

describe('StageSpawn / CompleteSpawn / CancelPendingSpawn', () => {
  it('stages once per identity and counts', () => {
    const t = accepted(run(fresh(), { type: 'StageSpawn', agent_identity: 'a', session_id: S1 }));
    expect(t.state.pending_spawn_count).toBe(1);
    expect(t.state.pending_spawn_sessions).toEqual({ a: S1 });
    expect(t.effects).toEqual([
      { type: 'ExposePendingSpawn', agent_identity: 'a', session_id: S1 },
      { type: 'PendingSpawnOperationOwnerAuthorized', agent_identity: 'a', session_id: S1 },
    ]);
    rejected(run(t.state, { type: 'StageSpawn', agent_identity: 'a', session_id: S2 }), 'spawn_not_staged');
  });

  it('CompleteSpawn unstages (Running or Stopped) and emits Spawned', () => {
    const s = apply(fresh(), { type: 'StageSpawn', agent_identity: 'a', session_id: S1 });
    const t = accepted(run(s, { type: 'CompleteSpawn', agent_identity: 'a' }));
    expect(t.state.pending_spawn_count).toBe(0);
    expect(t.effects).toEqual([{ type: 'EmitMemberLifecycleNotice', kind: 'Spawned', agent_identity: 'a', agent_runtime_id: null }]);
    rejected(run(t.state, { type: 'CompleteSpawn', agent_identity: 'a' }), 'pending_spawn_count_positive');
    const other = apply(s, { type: 'StageSpawn', agent_identity: 'b', session_id: S2 });
    rejected(run(other, { type: 'CompleteSpawn', agent_identity: 'c' }), 'spawn_staged');
    const stopped = apply(s, { type: 'Shutdown' });
    expect(accepted(run(stopped, { type: 'CompleteSpawn', agent_identity: 'a' })).transition).toBe('CompleteSpawnStopped');
  });

  it('CancelPendingSpawn unstages in any live phase', () => {
    const s = apply(fresh(), { type: 'StageSpawn', agent_identity: 'a', session_id: S1 }, quiesce('Destroy'));
    const t = accepted(run(s, { type: 'CancelPendingSpawn', agent_identity: 'a' }));
    expect(t.state.pending_spawn_sessions).toEqual({});
    rejected(run(t.state, { type: 'CancelPendingSpawn', agent_identity: 'a' }), 'pending_spawn_count_positive');
  });
});

describe('BeginSpawnExec', () => {
  it('opens the ladder (no effects) for a session-backed or peer-only spawn', () => {
    const t = accepted(run(authorized(), begin('a')));
    expect(t.transition).toBe('BeginSpawnExecFresh');
    expect(t.state.spawn_exec_phase).toEqual({ a: 'Opened' });
    expect(t.effects).toEqual([]);
    expect(accepted(run(authorized(), begin('a', { session: null }))).transition).toBe('BeginSpawnExecFreshPeerOnly');
  });

  it('refuses with the named guard', () => {
    rejected(run(fresh(), begin('a')), 'spawn_profile_authorized');
    rejected(run(authorized(), begin('a', {}, { placement: 'host-1' })), 'spawn_is_local');
    rejected(run(opened(), begin('a')), 'spawn_ladder_settled');
    rejected(run(authorized(), begin('a', { generation: 1 })), 'generation_is_next');
    rejected(run(authorized(), begin('a', {}, { agent_runtime_id: 'a-0' })), 'runtime_id_names_identity_generation');
    rejected(run(authorized(), begin('a', { fence: 0 })), 'fence_token_fresh');
    rejected(run(authorized(), begin('a', {}, { replacing: 'a:7' })), 'replacing_absent');
    rejected(run(authorized(), begin('a', {}, { profile_material_digest: 'other' })), 'profile_material_digest_matches_authority');
    rejected(run(authorized(), begin('a', { addressable: false })), 'external_addressable_matches_authority');
    const peer = apply(authorized(), { type: 'WireExternalPeer', key: 'k', edge: { local: 'x', peer: 'a' } });
    rejected(run(peer, begin('a')), 'identity_not_external_peer');
    const member = spawn(fresh(), 'a');
    rejected(run(apply(member, authorize('a')), begin('a', { generation: 1, fence: 2 })), 'identity_has_no_session_binding');
  });
});

describe('CommitSpawnMembership', () => {
  it('commits the incarnation and requests the runtime binding', () => {
    const t = accepted(run(opened(), commit('a')));
    expect(t.transition).toBe('CommitSpawnMembershipFresh');
    const s = t.state;
    expect(s.live_runtime_ids).toEqual([rt('a')]);
    expect(s.externally_addressable_runtime_ids).toEqual([rt('a')]);
    expect(s.runtime_fence_tokens).toEqual({ [rt('a')]: 1 });
    expect(s.identity_to_runtime).toEqual({ a: rt('a') });
    expect(s.identity_runtime_generations).toEqual({ a: 0 });
    expect(s.member_profile_names).toEqual({ a: 'worker' });
    expect(s.member_session_bindings).toEqual({ a: S1 });
    expect(s.member_startup_binding_requested).toEqual([rt('a')]);
    expect(s.member_state_markers).toEqual({ [rt('a')]: 'Active' });
    expect(s.spawn_profile_authority).toEqual({});
    expect(s.spawn_exec_phase).toEqual({ a: 'MembershipCommitted' });
    expect(s.topology_epoch).toBe(1);
    expect(s.last_issued_fence_token).toBe(1);
    expect(t.effects).toEqual([
      { type: 'RequestRuntimeBinding', agent_identity: 'a', agent_runtime_id: rt('a'), fence_token: 1, generation: 0, session_id: S1 },
      {
        type: 'AppendLifecycleJournal',
        kind: 'MemberSpawned',
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        generation: 0,
        session_id: S1,
      },
      { type: 'MemberSessionBindingChanged', epoch: 1, agent_identity: 'a', old: null, new: S1 },
      { type: 'EmitMemberLifecycleNotice', kind: 'Spawned', agent_identity: 'a', agent_runtime_id: rt('a') },
    ]);
    expect(memberView(s, 'a')).toMatchObject({ status: 'Active', startup: 'BindingRequested', ready: false });
  });

  it('peer-only members get no session binding, no binding request and no startup stage', () => {
    const t = accepted(run(opened({ session: null }), commit('a', { session: null })));
    expect(t.transition).toBe('CommitSpawnMembershipFreshPeerOnly');
    expect(t.state.member_session_bindings).toEqual({});
    expect(t.state.member_startup_binding_requested).toEqual([]);
    expect(t.effects.map((e) => e.type)).toEqual(['AppendLifecycleJournal', 'EmitMemberLifecycleNotice']);
  });

  it('a non-addressable member is not in the addressable set', () => {
    const s = apply(fresh(), authorize('a', { external_addressable: false }), begin('a', { addressable: false }));
    expect(accepted(run(s, commit('a', { addressable: false }))).state.externally_addressable_runtime_ids).toEqual([]);
  });

  it('refuses with the named guard', () => {
    rejected(run(authorized(), commit('a')), 'spawn_ladder_opened');
    rejected(run(opened(), commit('a', {}, { placed_spawn_id: 'p' })), 'spawn_ack_fields_absent');
    rejected(run(opened(), commit('a', { generation: 1 })), 'generation_is_next');
    rejected(run(opened(), commit('a', { fence: 0 })), 'fence_token_fresh');
    rejected(run(opened(), commit('a', {}, { agent_runtime_id: 'b:0' })), 'runtime_id_names_identity_generation');
    rejected(run(opened(), commit('a', {}, { replacing: 'a:9' })), 'replacing_absent');
  });

  it('fences strictly increase per mob across identities', () => {
    const s = spawn(fresh(), 'a', { fence: 5 });
    rejected(run(apply(s, authorize('b')), begin('b', { fence: 5 })), 'fence_token_fresh');
    rejected(run(apply(s, authorize('b')), begin('b', { fence: 3 })), 'fence_token_fresh');
    expect(spawn(s, 'b', { fence: 6 }).last_issued_fence_token).toBe(6);
  });

  it('a later spawn of an archived identity is generation + 1 (history survives archival)', () => {
    const s = archivedOnce();
    expect(s.identity_runtime_generations).toEqual({ a: 0 });
    expect(memberView(s, 'a').status).toBe('Completed');
    rejected(run(apply(s, authorize('a')), begin('a', { generation: 0, fence: 2 })), 'generation_is_next');
    const again = spawn(s, 'a', { generation: 1, fence: 2, session: S2 });
    expect(again.identity_to_runtime).toEqual({ a: rt('a', 1) });
    expect(memberView(again, 'a').status).toBe('Active');
  });
});

describe('CommitSpawnActivation / AbortSpawnExec', () => {
  it('activation settles a committed ladder; a late arrival is an accepted no-op', () => {
    const s = spawn(fresh(), 'a', {}, false);
    const t = accepted(run(s, { type: 'CommitSpawnActivation', agent_identity: 'a' }));
    expect(t.transition).toBe('CommitSpawnActivationFinal');
    expect(t.state.spawn_exec_phase).toEqual({});
    const late = accepted(run(t.state, { type: 'CommitSpawnActivation', agent_identity: 'a' }));
    expect(late.transition).toBe('CommitSpawnActivationLateArrival');
    expect(late.state).toBe(t.state);
  });

  it('abort settles an open ladder and refuses when there is none', () => {
    const t = accepted(run(opened(), { type: 'AbortSpawnExec', agent_identity: 'a' }));
    expect(t.state.spawn_exec_phase).toEqual({});
    expect(t.state.spawn_profile_authority.a).toBeDefined();
    rejected(run(t.state, { type: 'AbortSpawnExec', agent_identity: 'a' }), 'spawn_ladder_present');
  });
});

describe('Respawn / EnsureMember / Reconcile', () => {
  it('Respawn exposes a pending spawn for the owner of a live runtime', () => {
    const s = spawn(fresh(), 'a');
    expect(accepted(run(s, { type: 'Respawn', agent_runtime_id: rt('a') })).effects).toEqual([
      { type: 'ExposePendingSpawn', agent_identity: 'a', session_id: null },
    ]);
    rejected(run(s, { type: 'Respawn', agent_runtime_id: 'zz:0' }), 'runtime_live');
  });

  it('EnsureMember asks to retain an existing member or spawn a missing one', () => {
    const s = spawn(fresh(), 'a');
    const kept = accepted(run(s, { type: 'EnsureMember', agent_identity: 'a' }));
    expect(kept.transition).toBe('EnsureMemberRunningExisting');
    expect(kept.effects).toEqual([{ type: 'MemberRetainRequired', agent_identity: 'a' }]);
    const missing = accepted(run(kept.state, { type: 'EnsureMember', agent_identity: 'b' }));
    expect(missing.effects).toEqual([{ type: 'MemberSpawnRequired', agent_identity: 'b' }]);
    expect(missing.state.desired_members).toEqual(['a', 'b']);
  });

  it('Reconcile computes members to spawn and (when asked) to retire', () => {
    const s = spawn(spawn(fresh(), 'a'), 'b', { fence: 2, session: S2 });
    const t = accepted(run(s, { type: 'Reconcile', desired: ['c', 'a'], retire_stale: true }));
    expect(t.state.desired_members).toEqual(['a', 'c']);
    expect(t.state.members_to_spawn).toEqual(['c']);
    expect(t.state.members_to_retire).toEqual(['b']);
    expect(t.effects).toEqual([
      { type: 'MemberSpawnRequired', agent_identity: 'c' },
      { type: 'MemberRetireRequired', agent_identity: 'b' },
    ]);
    expect(accepted(run(s, { type: 'Reconcile', desired: ['a'], retire_stale: false })).state.members_to_retire).toEqual([]);
  });
});
