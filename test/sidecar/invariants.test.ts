import { describe, expect, it } from 'vitest';
import { initialMachineState } from '../../src/machine/index.js';
import {
  assertMobInvariants,
  checkMobInvariants,
  checkMobTransitionInvariants,
  DERIVED_MOB_INVARIANT_NAMES,
  MOB_INVARIANT_NAMES,
  type MobState,
} from '../../sidecar/machine/index.js';
import { apply, fresh, quiesce, retireReleasing, rt, S1, S2, spawn, withReadyMember } from './fixtures.js';

/** A sound state with two members (one retiring, one wired and ready). */
function rich(): MobState {
  const s = spawn(withReadyMember(), 'b', { fence: 2, session: S2 });
  return apply(
    s,
    {
      type: 'RegisterMemberPeer',
      agent_identity: 'b',
      agent_runtime_id: rt('b'),
      generation: 0,
      fence_token: 2,
      peer_endpoint: { name: 'b', peer_id: 'peer-b', address: 'inproc://b', signing_key: 'k' },
    },
    { type: 'WireMembers', edge: { a: 'a', b: 'b' } },
    retireReleasing('a', S1),
  );
}

const names = (s: MobState): string[] => [...new Set(checkMobInvariants(s).map((v) => v.invariant))];

function expectOnly(state: MobState, ...invariants: string[]): void {
  const found = checkMobInvariants(state);
  expect(found.length, JSON.stringify(found)).toBeGreaterThan(0);
  expect(new Set(found.map((v) => v.invariant))).toEqual(new Set(invariants));
  for (const v of found) expect(v.detail.length).toBeGreaterThan(0);
}

describe('invariant catalogue', () => {
  it('names every mob.md §2.7 invariant and the derived checks', () => {
    expect(MOB_INVARIANT_NAMES).toEqual([
      'session_bindings_have_current_runtime',
      'incarnation_history_keys_agree',
      'current_binding_has_history',
      'committed_spawn_ladder_has_current_runtime',
      'pending_detach_has_pending_retire_session',
      'peer_material_coherent',
      'peer_ids_unique_across_live_members',
      'peer_ids_not_host_ids',
      'quiescing_iff_lifecycle_intent',
      'failed_or_canceled_flow_run_has_terminal_steps',
      'fence_tokens_strictly_increase_per_mob',
      'generations_strictly_increase_per_identity',
    ]);
    expect(DERIVED_MOB_INVARIANT_NAMES.every((n) => n.startsWith('derived_'))).toBe(true);
    expect(new Set([...MOB_INVARIANT_NAMES, ...DERIVED_MOB_INVARIANT_NAMES]).size).toBe(
      MOB_INVARIANT_NAMES.length + DERIVED_MOB_INVARIANT_NAMES.length,
    );
  });

  it('reports nothing for the initial state and sound reducer-built states', () => {
    expect(checkMobInvariants(fresh())).toEqual([]);
    expect(checkMobInvariants(rich())).toEqual([]);
    expect(() => assertMobInvariants(rich())).not.toThrow();
  });

  it('the mob state never has the kernel state key count (src/machine/draft.ts picks its root copier by key count)', () => {
    expect(Object.keys(fresh()).length).not.toBe(Object.keys(initialMachineState()).length);
  });
});

describe('each §2.7 invariant detects its violation', () => {
  it('session_bindings_have_current_runtime', () => {
    expectOnly({ ...fresh(), member_session_bindings: { a: S1 } }, 'session_bindings_have_current_runtime');
  });

  it('incarnation_history_keys_agree / current_binding_has_history', () => {
    const s = rich();
    expectOnly({ ...s, member_runtime_modes: { a: 'AutonomousHost' } }, 'incarnation_history_keys_agree');
    const noHistory = {
      ...s,
      identity_runtime_generations: { b: 0 },
      identity_runtime_fence_tokens: { b: 2 },
      member_profile_names: { b: 'worker' },
      member_runtime_modes: { b: 'AutonomousHost' as const },
    };
    expect(names(noHistory)).toContain('current_binding_has_history');
  });

  it('committed_spawn_ladder_has_current_runtime', () => {
    expectOnly({ ...fresh(), spawn_exec_phase: { z: 'MembershipCommitted' } }, 'committed_spawn_ladder_has_current_runtime');
  });

  it('pending_detach_has_pending_retire_session', () => {
    const s = rich();
    expectOnly({ ...s, runtime_retire_pending_sessions: {} }, 'pending_detach_has_pending_retire_session');
  });

  it('peer_material_coherent / peer_ids_unique_across_live_members', () => {
    const s = rich();
    expectOnly({ ...s, member_peer_ids: { b: 'peer-x' } }, 'peer_material_coherent');
    expectOnly({ ...s, member_peer_endpoints: {} }, 'peer_material_coherent');
    const ep = s.member_peer_endpoints.b;
    if (ep === undefined) throw new Error('fixture');
    expectOnly({ ...s, member_peer_ids: { a: 'peer-b', b: 'peer-b' }, member_peer_endpoints: { a: ep, b: ep } }, 'peer_ids_unique_across_live_members');
  });

  it('quiescing_iff_lifecycle_intent', () => {
    expectOnly({ ...fresh(), placed_completion_lifecycle_quiescing: true }, 'quiescing_iff_lifecycle_intent');
    expectOnly({ ...fresh(), placed_completion_lifecycle_intent: 'Stop' }, 'quiescing_iff_lifecycle_intent');
  });

  it('fence_tokens_strictly_increase_per_mob (state part)', () => {
    const s = rich();
    expectOnly({ ...s, last_issued_fence_token: 1 }, 'fence_tokens_strictly_increase_per_mob');
    expectOnly(
      { ...s, identity_runtime_fence_tokens: { a: 2, b: 2 }, runtime_fence_tokens: { [rt('a')]: 2, [rt('b')]: 2 } },
      'fence_tokens_strictly_increase_per_mob',
    );
  });

  it('generations_strictly_increase_per_identity (state part)', () => {
    const s = rich();
    expectOnly({ ...s, identity_runtime_generations: { a: 1, b: 0 } }, 'generations_strictly_increase_per_identity');
  });
});

describe('derived invariants detect their violations', () => {
  const cases: ReadonlyArray<readonly [string, (s: MobState) => MobState]> = [
    ['derived_live_runtimes_have_fences', (s) => ({ ...s, runtime_fence_tokens: { [rt('b')]: 2 } })],
    ['derived_addressable_runtimes_are_live', (s) => ({ ...s, externally_addressable_runtime_ids: ['zz:0'] })],
    ['derived_current_runtimes_distinct', (s) => ({ ...s, identity_to_runtime: { a: rt('b'), b: rt('b') } })],
    ['derived_startup_stages_disjoint_and_live', (s) => ({ ...s, member_startup_ready: [rt('a')] })],
    ['derived_pending_spawn_count_matches_sessions', (s) => ({ ...s, pending_spawn_count: 1 })],
    ['derived_retire_refusals_paired', (s) => ({ ...s, runtime_retire_refusal_codes: { [rt('a')]: 'x' } })],
    ['derived_restore_failures_paired', (s) => ({ ...s, member_restore_failures: { b: 'x' } })],
    ['derived_wiring_edges_normalized', (s) => ({ ...s, wiring_edges: [{ a: 'b', b: 'a' }] })],
    ['derived_running_has_coordinator', (s) => ({ ...s, coordinator_bound: false })],
    ['derived_destroy_admission_holds_destroy_latch', (s) => ({ ...s, destroy_admitted: true })],
    ['derived_counters_valid', (s) => ({ ...s, active_run_count: -1 })],
    ['derived_health_tracks_current_members', (s) => ({ ...s, member_health_class: { b: 'Healthy' as const } })],
    ['derived_kickoff_error_iff_failed', (s) => ({ ...s, member_kickoff_phase: { b: 'Failed' as const } })],
    ['derived_sets_canonical', (s) => ({ ...s, desired_members: ['b', 'a'] })],
  ];
  for (const [name, corrupt] of cases) {
    it(name, () => {
      expect(names(corrupt(rich()))).toContain(name);
    });
  }

  it('derived_live_runtimes_are_current / derived_markers_cover_live_and_belong_to_current', () => {
    const s = rich();
    expect(names({ ...s, identity_to_runtime: { a: rt('a') } })).toEqual(
      expect.arrayContaining(['derived_live_runtimes_are_current', 'derived_markers_cover_live_and_belong_to_current']),
    );
  });

  it('derived_destroyed_is_torn_down', () => {
    expect(names({ ...rich(), phase: 'Destroyed' })).toContain('derived_destroyed_is_torn_down');
  });

  it('derived_retire_bookkeeping_requires_retiring', () => {
    const s = rich();
    expect(names({ ...s, member_state_markers: { [rt('a')]: 'Active', [rt('b')]: 'Active' } })).toContain(
      'derived_retire_bookkeeping_requires_retiring',
    );
  });

  it('derived_live_fence_matches_identity_history', () => {
    const s = rich();
    expect(names({ ...s, identity_runtime_fence_tokens: { a: 1, b: 1 } })).toContain('derived_live_fence_matches_identity_history');
  });
});

describe('step-wise invariants', () => {
  it('accept +1 generations and fresh fences, flag regressions and jumps', () => {
    const before = spawn(fresh(), 'a');
    const archivedAndRespawned = spawn(
      apply(before, retireReleasing('a', S1), { type: 'SessionIngressDetachedForMobDestroy', mob_id: 'mob-1', agent_runtime_id: rt('a') }, {
        type: 'ObserveMemberRetirementArchived',
        agent_identity: 'a',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        generation: 0,
        session_id: S1,
        preserve_machine_topology: false,
      }),
      'a',
      { generation: 1, fence: 2 },
    );
    expect(checkMobTransitionInvariants(before, archivedAndRespawned)).toEqual([]);
    expect(new Set(checkMobTransitionInvariants(archivedAndRespawned, before).map((v) => v.invariant))).toEqual(
      new Set(['fence_tokens_strictly_increase_per_mob', 'derived_topology_epoch_monotonic', 'generations_strictly_increase_per_identity']),
    );
    const jump = { ...before, identity_runtime_generations: { a: 2 } };
    expect(checkMobTransitionInvariants(before, jump).map((v) => v.invariant)).toEqual(['generations_strictly_increase_per_identity']);
    expect(checkMobTransitionInvariants(before, { ...before, identity_runtime_generations: {} })).toHaveLength(1);
    expect(checkMobTransitionInvariants(fresh(), { ...fresh(), identity_runtime_generations: { z: 1 } })).toHaveLength(1);
    const quiesced = apply(before, quiesce('Stop'));
    expect(checkMobTransitionInvariants(before, quiesced)).toEqual([]);
  });
});
