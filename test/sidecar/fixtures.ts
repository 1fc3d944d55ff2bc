/**
 * Shared fixtures of the MobMachine reducer tests: input builders with sensible defaults,
 * step assertions, and states reached through the reducer itself (never hand-built, so
 * every fixture state satisfies the invariants by construction).
 */
import { expect } from 'vitest';
import {
  checkMobInvariants,
  initialMobState,
  reduceMob,
  type AuthorizeSpawnProfile,
  type BeginSpawnExec,
  type CommitSpawnMembership,
  type LifecycleIntent,
  type MobInput,
  type MobRejection,
  type MobState,
  type MobStep,
  type MobTransition,
} from '../../sidecar/machine/index.js';

export const MOB = 'mob-1';
export const S1 = '0190c5a0-0000-7000-8000-000000000001';
export const S2 = '0190c5a0-0000-7000-8000-000000000002';
export const S3 = '0190c5a0-0000-7000-8000-000000000003';

export const fresh = (): MobState => initialMobState(MOB);

export const run = (s: MobState, input: MobInput): MobStep => reduceMob(s, input);

export function accepted(step: MobStep): MobTransition {
  if (!step.ok) throw new Error(`expected acceptance, got ${step.kind} (${step.guard ?? '-'}) ${JSON.stringify(step.failures)}`);
  expect(checkMobInvariants(step.state)).toEqual([]);
  return step;
}

/** Asserts a guard rejection whose first failing guard is `guard` (and that lists `failing`). */
export function rejected(step: MobStep, guard: string, failing: string = guard): MobRejection {
  if (step.ok) throw new Error(`expected rejection by ${guard}, got ${step.transition}`);
  expect(step.kind).toBe('GuardRejected');
  expect(step.guard).toBe(guard);
  expect(step.failures.map((f) => f.guard)).toContain(failing);
  return step;
}

/** Asserts a rejection that lists `failing` among the failing guards (not necessarily first). */
export function rejectedWith(step: MobStep, failing: string): MobRejection {
  if (step.ok) throw new Error(`expected rejection by ${failing}, got ${step.transition}`);
  expect(step.kind).toBe('GuardRejected');
  expect(step.failures.map((f) => f.guard)).toContain(failing);
  return step;
}

export function noTransition(step: MobStep): MobRejection {
  if (step.ok) throw new Error(`expected NoMatchingTransition, got ${step.transition}`);
  expect(step.kind).toBe('NoMatchingTransition');
  expect(step.guard).toBeNull();
  return step;
}

export const apply = (s: MobState, ...inputs: MobInput[]): MobState => inputs.reduce((acc, i) => accepted(run(acc, i)).state, s);

/** Runtime id of A's generation `g`. */
export const rt = (a: string, g = 0): string => `${a}:${g}`;

export function authorize(a: string, over: Partial<AuthorizeSpawnProfile> = {}): AuthorizeSpawnProfile {
  return {
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
    ...over,
  };
}

export interface SpawnOpts {
  readonly generation?: number;
  readonly fence?: number;
  /** `null` for a peer-only member. */
  readonly session?: string | null;
  readonly addressable?: boolean;
}

function tuple(a: string, o: SpawnOpts) {
  const generation = o.generation ?? 0;
  return {
    agent_identity: a,
    agent_runtime_id: rt(a, generation),
    fence_token: o.fence ?? 1,
    generation,
    profile_material_digest: 'digest-1',
    external_addressable: o.addressable ?? true,
    runtime_mode: 'AutonomousHost' as const,
    bridge_session_id: o.session === undefined ? S1 : o.session,
    replacing: null,
  };
}

export function begin(a: string, o: SpawnOpts = {}, over: Partial<BeginSpawnExec> = {}): BeginSpawnExec {
  return { type: 'BeginSpawnExec', ...tuple(a, o), placement: null, ...over };
}

export function commit(a: string, o: SpawnOpts = {}, over: Partial<CommitSpawnMembership> = {}): CommitSpawnMembership {
  return {
    type: 'CommitSpawnMembership',
    ...tuple(a, o),
    spec_digest_echo: null,
    ack_engine_version: null,
    placed_spawn_id: null,
    provision_operation_id: null,
    ...over,
  };
}

/** Authorize → Begin → Commit (→ Activation when `activate`): A is a live member. */
export function spawn(s: MobState, a: string, o: SpawnOpts = {}, activate = true): MobState {
  const next = apply(s, authorize(a, { external_addressable: o.addressable ?? true }), begin(a, o), commit(a, o));
  return activate ? apply(next, { type: 'CommitSpawnActivation', agent_identity: a }) : next;
}

/** A mob with member `a` (gen 0, fence 1, session S1) whose runtime the kernel bound. */
export function withReadyMember(): MobState {
  return apply(spawn(fresh(), 'a'), { type: 'ObserveRuntimeReady', agent_runtime_id: rt('a'), fence_token: 1 });
}

export const quiesce = (intent: LifecycleIntent): MobInput => ({ type: 'BeginPlacedCompletionLifecycleQuiesce', intent });

/** Retire A (gen `g`) releasing `session`. */
export const retireReleasing = (a: string, session: string, g = 0): MobInput => ({
  type: 'Retire',
  mob_id: MOB,
  agent_runtime_id: rt(a, g),
  agent_identity: a,
  generation: g,
  releasing: session,
  session_id: session,
});

export const detached = (r: string): MobInput => ({ type: 'SessionIngressDetachedForMobDestroy', mob_id: MOB, agent_runtime_id: r });

/** Stable JSON snapshot (for "rejections change nothing"). */
export const snap = (s: MobState): string => JSON.stringify(s);
