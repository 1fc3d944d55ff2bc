/**
 * Property tests of the MobMachine reducer: random input sequences drawn from the
 * arbitraries of every input (as state-resolved templates, see `./arbitraries/pool.ts`).
 * After each step:
 *  - an accepted transition leaves every invariant holding (mob.md §2.7 + derived) and
 *    the step-wise invariants (fence / generation order) too;
 *  - a rejection changes nothing (JSON snapshot) and names the input, phase and guard;
 *  - the reducer is deterministic and never mutates its input state;
 *  - the new state holds no draft proxies (structuredClone succeeds).
 *
 * `MOB_PROPERTY_RUNS=20000 npx vitest run test/sidecar/properties.test.ts` shakes the
 * machine harder locally; CI uses the default below.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkMobInvariants,
  checkMobTransitionInvariants,
  initialMobState,
  listMembers,
  MOB_TRANSITIONS,
  reduceMob,
  type MobInput,
  type MobState,
} from '../../sidecar/machine/index.js';
import { anyMobInput, type Tmpl } from './arbitraries/index.js';
import { tmpl } from './arbitraries/pool.js';
import { MOB, S1, S2 } from './fixtures.js';

const NUM_RUNS = Number(process.env.MOB_PROPERTY_RUNS ?? 300);

/** Fully spawn member `a` in session `s` (`null`: peer-only) and bind it; optionally register its peer. */
function spawnPrelude(a: string, s: string | null, peer = s === null): Tmpl[] {
  const authorize: MobInput = {
    type: 'AuthorizeSpawnProfile',
    agent_identity: a,
    profile_name: 'worker',
    model: 'model-1',
    profile_material_digest: 'digest-1',
    tool_config_digest: 'tools-1',
    skills_digest: 'skills-1',
    provider_params_digest: null,
    output_schema_digest: null,
    external_addressable: true,
    resolved_spec_digest: null,
  };
  const tuple = (st: MobState) => {
    const g = st.identity_runtime_generations[a];
    const generation = g === undefined ? 0 : g + 1;
    return {
      agent_identity: a,
      agent_runtime_id: `${a}:${generation}`,
      fence_token: st.last_issued_fence_token + 1,
      generation,
      profile_material_digest: 'digest-1',
      external_addressable: true,
      runtime_mode: 'AutonomousHost' as const,
      bridge_session_id: s,
      replacing: null,
    };
  };
  return [
    tmpl(`prelude Authorize(${a})`, () => authorize),
    ...(s === null ? [] : [tmpl(`prelude Stage(${a})`, (): MobInput => ({ type: 'StageSpawn', agent_identity: a, session_id: s }))]),
    tmpl(`prelude Begin(${a})`, (st) => ({ type: 'BeginSpawnExec', ...tuple(st), placement: null })),
    tmpl(`prelude Commit(${a})`, (st) => ({
      type: 'CommitSpawnMembership',
      ...tuple(st),
      spec_digest_echo: null,
      ack_engine_version: null,
      placed_spawn_id: null,
      provision_operation_id: null,
    })),
    ...(s === null
      ? []
      : [
          tmpl(`prelude Ready(${a})`, (st) => ({
            type: 'ObserveRuntimeReady',
            agent_runtime_id: st.identity_to_runtime[a] ?? '',
            fence_token: st.runtime_fence_tokens[st.identity_to_runtime[a] ?? ''] ?? 0,
          })),
        ]),
    ...(peer
      ? [
          tmpl(`prelude RegisterMemberPeer(${a})`, (st) => ({
            type: 'RegisterMemberPeer',
            agent_identity: a,
            agent_runtime_id: st.identity_to_runtime[a] ?? '',
            generation: st.identity_runtime_generations[a] ?? 0,
            fence_token: st.identity_runtime_fence_tokens[a] ?? 0,
            peer_endpoint: { name: `name-${a}`, peer_id: `peer-${a}`, address: `inproc://${a}`, signing_key: `key-${a}` },
          })),
        ]
      : []),
  ];
}

/** Retire member `a` (bound to S1) releasing its session, ack the detach and archive it. */
const retireAndArchiveA: Tmpl[] = [
  tmpl('prelude Retire(a)', (st) => ({
    type: 'Retire',
    mob_id: MOB,
    agent_runtime_id: st.identity_to_runtime.a ?? '',
    agent_identity: 'a',
    generation: st.identity_runtime_generations.a ?? 0,
    releasing: S1,
    session_id: S1,
  })),
  tmpl('prelude Detached(a)', (st) => ({ type: 'SessionIngressDetachedForMobDestroy', mob_id: MOB, agent_runtime_id: st.identity_to_runtime.a ?? '' })),
  tmpl('prelude Archived(a)', (st) => ({
    type: 'ObserveMemberRetirementArchived',
    agent_identity: 'a',
    agent_runtime_id: st.identity_to_runtime.a ?? '',
    fence_token: st.identity_runtime_fence_tokens.a ?? 0,
    generation: st.identity_runtime_generations.a ?? 0,
    session_id: S1,
    preserve_machine_topology: false,
  })),
];

const destroyAdmitted: Tmpl[] = [
  tmpl('prelude Begin(Destroy)', () => ({ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Destroy' })),
  tmpl('prelude AdmitDestroyCleanup', () => ({ type: 'AdmitDestroyCleanup' })),
];

/**
 * Starting points: empty, one or two bound members (with or without peers), a peer-only
 * member, a mob whose member `a` was already retired and archived, an admitted destroy.
 */
const prelude: fc.Arbitrary<Tmpl[]> = fc.constantFrom<Tmpl[]>(
  [],
  spawnPrelude('a', S1),
  [...spawnPrelude('a', S1), ...spawnPrelude('b', S2)],
  [...spawnPrelude('a', S1, true), ...spawnPrelude('b', S2, true)],
  [...spawnPrelude('a', S1), ...spawnPrelude('c', null)],
  [...spawnPrelude('a', S1), ...spawnPrelude('b', S2), ...retireAndArchiveA],
  [...spawnPrelude('a', S1), ...spawnPrelude('b', null), ...destroyAdmitted],
);

const sequence = fc
  .tuple(prelude, fc.array(anyMobInput, { minLength: 1, maxLength: 120, size: 'max' }))
  .map(([p, xs]) => [...p, ...xs]);

interface Stats {
  accepted: number;
  rejected: number;
  byArm: Map<string, number>;
  maxGeneration: number;
  maxMembers: number;
}

const newStats = (): Stats => ({ accepted: 0, rejected: 0, byArm: new Map(), maxGeneration: 0, maxMembers: 0 });

function fail(message: string, log: readonly MobInput[]): never {
  throw new Error(`${message}\ninputs: ${JSON.stringify(log, null, 1)}`);
}

const STATUSES = new Set(['Active', 'Retiring', 'Broken', 'Completed', 'Unknown']);

/** Runs one sequence, checking every step (plain checks, not `expect`: this is the hot loop). */
function check(templates: readonly Tmpl[], stats: Stats): void {
  let state = initialMobState(MOB);
  const log: MobInput[] = [];
  for (const t of templates) {
    const input = t.build(state);
    log.push(input);
    const snapshot = JSON.stringify(state);
    const step = reduceMob(state, input);
    const again = reduceMob(state, input);
    if (JSON.stringify(again) !== JSON.stringify(step)) fail(`non-deterministic ${input.type}`, log);
    if (JSON.stringify(state) !== snapshot) fail(`${input.type} mutated its input state`, log);
    if (!step.ok) {
      stats.rejected += 1;
      if (step.input !== input.type || step.phase !== state.phase) fail(`rejection misnames input/phase: ${JSON.stringify(step)}`, log);
      if (step.kind === 'GuardRejected' ? step.guard === null : step.failures.length > 0) fail(`malformed rejection ${JSON.stringify(step)}`, log);
      continue;
    }
    stats.accepted += 1;
    stats.byArm.set(step.transition, (stats.byArm.get(step.transition) ?? 0) + 1);
    const violations = [...checkMobInvariants(step.state), ...checkMobTransitionInvariants(state, step.state)];
    if (violations.length > 0) fail(`invariants violated after ${step.transition}: ${JSON.stringify(violations)}`, log);
    // No draft proxy may leak into the state or the effects (structuredClone rejects proxies).
    structuredClone(step.state);
    structuredClone(step.effects);
    if (step.from !== state.phase || step.to !== step.state.phase) fail(`${step.transition}: wrong from/to`, log);
    // The status projection is total over every identity the mob has seen.
    for (const v of listMembers(step.state, 'all')) if (!STATUSES.has(v.status)) fail(`status ${v.status}`, log);
    state = step.state;
    for (const g of Object.values(state.identity_runtime_generations)) stats.maxGeneration = Math.max(stats.maxGeneration, g);
    stats.maxMembers = Math.max(stats.maxMembers, state.live_runtime_ids.length);
  }
}

/** Transitions deep in the machine that random sequences must reach. */
const DEEP_ARMS = [
  'CommitSpawnMembershipFresh',
  'CommitSpawnMembershipFreshPeerOnly',
  'CommitSpawnActivationFinal',
  'ObserveRuntimeReady',
  'StartupMarkReadyRunning',
  'RegisterMemberPeerRunning',
  'WireMembersWithTrustRunning',
  'SubmitWorkRunningExternal',
  'SubmitWorkRunningInternal',
  'ResolveSubmitWorkRejectionStaleFenceToken',
  'RetireRunningReleasing',
  'RetireRunningPreservingBinding',
  'RetireRunningNoBinding',
  'SessionIngressDetachedForMobDestroy',
  'ObserveRuntimeRetired',
  'ObserveMemberRetirementArchivedLive',
  'ObserveMemberRetirementArchivedRetired',
  'ResolveRuntimeBindingRefusalRunning',
  'ResolveRuntimeRetireRefusalRunning',
  'RetryRuntimeRetireRunning',
  'BeginMemberKickoffRunning',
  'ObserveMemberProgressReclassified',
  'StopRunning',
  'ResumeStopped',
  'ResetToRunning',
  'AdmitDestroyCleanup',
  'AdmitDestroyMemberRetireLive',
  'ObserveDestroyMemberRetirementArchivedRetired',
  'DestroyFromAny',
  'DestroyMob',
  'ObserveRuntimeDestroyed',
];

describe('MobMachine reducer properties', () => {
  it('invariants hold after every accepted step; rejections change nothing; the reducer is deterministic', () => {
    const stats = newStats();
    const started = Date.now();
    fc.assert(
      fc.property(sequence, (templates) => check(templates, stats)),
      { numRuns: NUM_RUNS },
    );
    const ms = Date.now() - started;
    const total = stats.accepted + stats.rejected;
    if (process.env.MOB_PROPERTY_RUNS !== undefined) {
      const arms = Object.values(MOB_TRANSITIONS).flatMap((arms: readonly { readonly name: string }[]) => arms.map((a) => a.name));
      const missed = arms.filter((n) => !stats.byArm.has(n));
      console.log(
        `${NUM_RUNS} runs, ${total} steps (${stats.accepted} accepted) in ${ms} ms; ` +
          `${arms.length - missed.length}/${arms.length} arms reached; missed: ${missed.join(', ')}`,
      );
    }
    // The generators must exercise the machine deeply, not bounce off it.
    expect(stats.accepted).toBeGreaterThan(NUM_RUNS * 15);
    expect(stats.accepted / total).toBeGreaterThan(0.25);
    expect(stats.rejected).toBeGreaterThan(0);
  }, Math.max(20_000, NUM_RUNS * 20));

  it('reaches every phase, the deep transitions of the table, respawned identities and several members (seeded)', () => {
    const stats = newStats();
    const phases = new Set<string>();
    fc.assert(
      fc.property(sequence, (templates) => {
        let state = initialMobState(MOB);
        for (const t of templates) {
          const step = reduceMob(state, t.build(state));
          if (!step.ok) continue;
          stats.accepted += 1;
          stats.byArm.set(step.transition, (stats.byArm.get(step.transition) ?? 0) + 1);
          state = step.state;
          phases.add(state.phase);
          for (const g of Object.values(state.identity_runtime_generations)) stats.maxGeneration = Math.max(stats.maxGeneration, g);
          stats.maxMembers = Math.max(stats.maxMembers, state.live_runtime_ids.length);
        }
      }),
      { numRuns: 600, seed: 42 },
    );
    expect([...phases].sort()).toEqual(['Completed', 'Destroyed', 'Running', 'Stopped']);
    expect(DEEP_ARMS.filter((n) => !stats.byArm.has(n))).toEqual([]);
    // An identity was archived and spawned again (generation ≥ 1), and ≥ 3 members were live at once.
    expect(stats.maxGeneration).toBeGreaterThanOrEqual(1);
    expect(stats.maxMembers).toBeGreaterThanOrEqual(3);
    expect(stats.accepted).toBeGreaterThan(600 * 15);
  });
});
