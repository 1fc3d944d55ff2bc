/**
 * The §1.11 seam witness scenarios at reducer level: the kernel reducer (`src/machine`)
 * and the MobMachine reducer wired by the route table (see `./composition.ts`).
 *
 * Witness constants: session S, identity A, runtime R, fence 1, profile `profile_1`. The
 * upstream witness uses generation 1 inside a bounded model; a never-seen identity must
 * use generation 0 in a real runtime (and in this reducer), so R = `A:0`.
 */
import { describe, expect, it } from 'vitest';
import { initialMachineState } from '../../src/machine/index.js';
import { checkMobInvariants, initialMobState, memberView } from '../../sidecar/machine/index.js';
import { Composition } from './composition.js';

const S = '0190c5a0-0000-7000-8000-00000000000a';
const A = 'agentidentity_1';
const R = `${A}:0`;
const M = 'mob-witness';

function prefix(): Composition {
  const c = new Composition(initialMachineState(), initialMobState(M));
  c.kernelInput({ type: 'Initialize' });
  // 1. meerkat.RegisterSession{S, epoch None} → Idle
  c.kernelInput({ type: 'RegisterSession', session_id: S, runtime_epoch_id: null });
  expect(c.kernel.lifecycle_phase).toBe('Idle');
  // 2. mob.AuthorizeSpawnProfile
  c.mobInput({
    type: 'AuthorizeSpawnProfile',
    agent_identity: A,
    profile_name: 'profile_1',
    model: 'model_1',
    profile_material_digest: 'digest_1',
    tool_config_digest: 'toolconfig_1',
    skills_digest: 'skills_1',
    provider_params_digest: null,
    output_schema_digest: null,
    external_addressable: true,
    resolved_spec_digest: null,
  });
  const tuple = {
    agent_identity: A,
    agent_runtime_id: R,
    fence_token: 1,
    generation: 0,
    profile_material_digest: 'digest_1',
    external_addressable: true,
    runtime_mode: 'AutonomousHost' as const,
    bridge_session_id: S,
    replacing: null,
  };
  // 3. mob.BeginSpawnExec → ladder Opened, no effects
  c.mobInput({ type: 'BeginSpawnExec', ...tuple, placement: null });
  expect(c.queue).toEqual([]);
  // 4–6. CommitSpawnMembership → RequestRuntimeBinding → PrepareBindings (Idle→Attached) → RuntimeBound → ObserveRuntimeReady
  c.mobInput({
    type: 'CommitSpawnMembership',
    ...tuple,
    spec_digest_echo: null,
    ack_engine_version: null,
    placed_spawn_id: null,
    provision_operation_id: null,
  });
  return c;
}

function transitions(c: Composition): string[] {
  return c.trace.map((t) => `${t.side}:${t.outcome}`);
}

describe('§1.11 common prefix', () => {
  it('binds the member runtime and marks it runtime-ready through the seam', () => {
    const c = prefix();
    expect(transitions(c)).toEqual([
      'kernel:Initialize',
      'kernel:RegisterSession',
      'mob:AuthorizeSpawnProfileRunning',
      'mob:BeginSpawnExecFresh',
      'mob:CommitSpawnMembershipFresh',
      'kernel:PrepareBindingsIdle',
      'mob:ObserveRuntimeReady',
    ]);
    expect(c.routes).toEqual(['binding_request_reaches_meerkat', 'runtime_bound_reaches_mob']);
    expect(c.kernel.lifecycle_phase).toBe('Attached');
    expect(c.kernel.active_runtime_id).toBe(R);
    expect(c.kernel.active_fence_token).toBe(1);
    expect(c.mob.member_startup_binding_requested).toEqual([]);
    expect(c.mob.member_startup_runtime_ready).toEqual([R]);
    expect(memberView(c.mob, A)).toMatchObject({ status: 'Active', ready: true, session_id: S });
    expect(checkMobInvariants(c.mob)).toEqual([]);
  });
});

describe('basic_round_trip', () => {
  it('routes binding, work and runtime_bound', () => {
    const c = prefix();
    // 7. SubmitWork{A,R,1,W,External} → SubmitWorkRunningExternal → 8. Ingest (no kernel state change, ResolveAdmission)
    const kernelBefore = JSON.stringify(c.kernel);
    c.mobInput({ type: 'SubmitWork', agent_identity: A, agent_runtime_id: R, fence_token: 1, work_id: 'work_1', origin: 'External' });
    expect(transitions(c).slice(-2)).toEqual(['mob:SubmitWorkRunningExternal', 'kernel:Ingest']);
    expect(JSON.stringify(c.kernel)).toBe(kernelBefore);
    expect(new Set(c.routes)).toEqual(
      new Set(['binding_request_reaches_meerkat', 'work_request_reaches_meerkat', 'runtime_bound_reaches_mob']),
    );
  });

  it('a stale fence never reaches the kernel: the mob guard refuses the submit', () => {
    const c = prefix();
    expect(() =>
      c.mobInput({ type: 'SubmitWork', agent_identity: A, agent_runtime_id: R, fence_token: 2, work_id: 'w', origin: 'External' }),
    ).toThrow(/runtime_fence_matches/);
  });
});

describe('retire_runtime_path', () => {
  it('holds the retire until the detach ack, then routes retire and runtime_retired', () => {
    const c = prefix();
    // 7. Retire{M, R, A, gen, releasing=S, session_id=S} → RetireRunningReleasing
    c.mobInput({ type: 'Retire', mob_id: M, agent_runtime_id: R, agent_identity: A, generation: 0, releasing: S, session_id: S });
    expect(transitions(c).at(-1)).toBe('mob:RetireRunningReleasing');
    // 8. The retire waits for the session-ingress detach ack (no reordering).
    expect(c.queue.map((e) => e.type)).toEqual(['RequestRuntimeRetire']);
    expect(c.kernel.lifecycle_phase).toBe('Attached');
    expect(memberView(c.mob, A).status).toBe('Retiring');
    c.mobInput({ type: 'SessionIngressDetachedForMobDestroy', mob_id: M, agent_runtime_id: R });
    // 9–10. kernel Retire (Attached→Retired) → RuntimeRetired → ObserveRuntimeRetired
    expect(transitions(c).slice(-3)).toEqual([
      'mob:SessionIngressDetachedForMobDestroy',
      'kernel:RetireRequestedFromIdle',
      'mob:ObserveRuntimeRetired',
    ]);
    expect(c.kernel.lifecycle_phase).toBe('Retired');
    expect(c.mob.live_runtime_ids).toEqual([]);
    expect(c.mob.active_run_count).toBe(0);
    expect(c.routes.slice(-2)).toEqual(['retire_request_reaches_meerkat', 'runtime_retired_reaches_mob']);
    // 11. archive → identity binding removed, history kept
    c.mobInput({
      type: 'ObserveMemberRetirementArchived',
      agent_identity: A,
      agent_runtime_id: R,
      fence_token: 1,
      generation: 0,
      session_id: S,
      preserve_machine_topology: false,
    });
    expect(transitions(c).at(-1)).toBe('mob:ObserveMemberRetirementArchivedRetired');
    expect(memberView(c.mob, A)).toMatchObject({ status: 'Completed', generation: 0, is_final: true });
    expect(checkMobInvariants(c.mob)).toEqual([]);
  });

  it('a re-retire on the kernel re-emits RuntimeRetired, which the mob drops as a duplicate', () => {
    const c = prefix();
    c.mobInput({ type: 'Retire', mob_id: M, agent_runtime_id: R, agent_identity: A, generation: 0, releasing: S, session_id: S });
    c.mobInput({ type: 'SessionIngressDetachedForMobDestroy', mob_id: M, agent_runtime_id: R });
    c.kernelInput({ type: 'Retire', session_id: S });
    expect(c.trace.at(-1)).toEqual({ side: 'mob', input: 'ObserveRuntimeRetired', outcome: 'dropped:runtime_live' });
  });
});

describe('destroy_runtime_path', () => {
  it('routes destroy and runtime_destroyed; ObserveRuntimeDestroyed does not fire', () => {
    const c = prefix();
    c.mobInput({ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Destroy' });
    // 7. DestroyMob{S} → Destroyed, RequestRuntimeDestroy{S} → 8. kernel Destroy (Attached→Destroyed) → RuntimeDestroyed{R,1}
    c.mobInput({ type: 'DestroyMob', session_id: S });
    expect(transitions(c).slice(-3)).toEqual(['mob:DestroyMob', 'kernel:Destroy', 'mob:dropped:runtime_live']);
    expect(c.routes.slice(-2)).toEqual(['destroy_request_reaches_meerkat', 'runtime_destroyed_reaches_mob']);
    // 9. The route is delivered but the mob transition does not fire (the live set is already empty).
    expect(c.dropped).toHaveLength(1);
    expect(c.dropped[0]).toMatchObject({ input: 'ObserveRuntimeDestroyed', phase: 'Destroyed', guard: 'runtime_live' });
    expect(c.mob.phase).toBe('Destroyed');
    expect(c.mob.destroy_admitted).toBe(true);
    expect(c.kernel.lifecycle_phase).toBe('Destroyed');
  });

  it('a kernel-side destroy of a live member is mob-terminal (ObserveRuntimeDestroyed fires)', () => {
    const c = prefix();
    c.kernelInput({ type: 'Destroy', session_id: S });
    expect(c.trace.at(-1)).toEqual({ side: 'mob', input: 'ObserveRuntimeDestroyed', outcome: 'ObserveRuntimeDestroyed' });
    expect(c.mob.phase).toBe('Destroyed');
    expect(c.mob.live_runtime_ids).toEqual([]);
    // Identity maps and session bindings are left as they were (mob.md §1.12).
    expect(c.mob.identity_to_runtime).toEqual({ [A]: R });
    expect(c.mob.member_session_bindings).toEqual({ [A]: S });
    expect(checkMobInvariants(c.mob)).toEqual([]);
  });
});

describe('refusal closures through the composition', () => {
  it('a refused binding (kernel session not registered) marks the member Broken', () => {
    const c = new Composition(initialMachineState(), initialMobState(M));
    c.kernelInput({ type: 'Initialize' });
    c.mobInput({
      type: 'AuthorizeSpawnProfile',
      agent_identity: A,
      profile_name: 'p',
      model: 'm',
      profile_material_digest: 'd',
      tool_config_digest: 't',
      skills_digest: 's',
      provider_params_digest: null,
      output_schema_digest: null,
      external_addressable: false,
      resolved_spec_digest: null,
    });
    const tuple = {
      agent_identity: A,
      agent_runtime_id: R,
      fence_token: 1,
      generation: 0,
      profile_material_digest: 'd',
      external_addressable: false,
      runtime_mode: 'TurnDriven' as const,
      bridge_session_id: S,
      replacing: null,
    };
    c.mobInput({ type: 'BeginSpawnExec', ...tuple, placement: null });
    c.mobInput({
      type: 'CommitSpawnMembership',
      ...tuple,
      spec_digest_echo: null,
      ack_engine_version: null,
      placed_spawn_id: null,
      provision_operation_id: null,
    });
    expect(transitions(c).slice(-2)).toEqual(['kernel:rejected:session_matches_current', 'mob:ResolveRuntimeBindingRefusalRunning']);
    expect(memberView(c.mob, A)).toMatchObject({ status: 'Broken', error: 'PrepareBindings refused', is_final: true });
    expect(c.mob.member_restore_failure_codes).toEqual({ [A]: 'dsl_guard_rejected' });
  });
});
