import fc from 'fast-check';
import type { MobState, RuntimeMode } from '../../../sidecar/machine/index.js';
import {
  fenceFor,
  follow,
  followIdentity,
  genFor,
  identity,
  IDENTITIES,
  literalSession,
  pick,
  runtimeChoice,
  runtimeFor,
  spawnFenceChoice,
  spawnGenChoice,
  tmpl,
  type FenceChoice,
  type GenChoice,
  type Tmpl,
} from './pool.js';

const mode = pick<RuntimeMode>(['AutonomousHost', 'TurnDriven']);
/** Bridge session: mostly the staged one / a literal, sometimes none (peer-only). */
const bridge = fc.oneof(
  { weight: 5, arbitrary: fc.constant<'staged'>('staged') },
  { weight: 2, arbitrary: literalSession },
  { weight: 3, arbitrary: fc.constant(null) },
);

interface SpawnChoices {
  readonly a: string;
  readonly follow: boolean;
  readonly gen: GenChoice;
  readonly fence: FenceChoice;
  readonly addressable: boolean | 'authorized';
  readonly digest: 'authorized' | 'other';
  readonly mode: RuntimeMode;
  readonly bridge: 'staged' | string | null;
  readonly oddity: 'none' | 'placement' | 'replacing' | 'ack' | 'bad-runtime-id';
}

const spawnChoices: fc.Arbitrary<SpawnChoices> = fc.record({
  a: identity,
  follow,
  gen: spawnGenChoice,
  fence: spawnFenceChoice,
  addressable: fc.oneof({ weight: 6, arbitrary: fc.constant<'authorized'>('authorized') }, { weight: 1, arbitrary: fc.boolean() }),
  digest: fc.oneof({ weight: 8, arbitrary: fc.constant<'authorized'>('authorized') }, { weight: 1, arbitrary: fc.constant<'other'>('other') }),
  mode,
  bridge,
  oddity: fc.oneof(
    { weight: 20, arbitrary: fc.constant<'none'>('none') },
    { weight: 1, arbitrary: pick<SpawnChoices['oddity']>(['placement', 'replacing', 'ack', 'bad-runtime-id']) },
  ),
});

/** Begin follows an authorized identity with a settled ladder; Commit follows an Opened ladder. */
const readyToBegin = (s: MobState, a: string): boolean => a in s.spawn_profile_authority && !(a in s.spawn_exec_phase);
const readyToCommit = (s: MobState, a: string): boolean => s.spawn_exec_phase[a] === 'Opened';

function spawnTuple(s: MobState, c: SpawnChoices, a: string) {
  const authority = s.spawn_profile_authority[a];
  const generation = genFor(s, a, c.gen);
  const id = `${a}:${generation}`;
  return {
    agent_identity: a,
    agent_runtime_id: c.oddity === 'bad-runtime-id' ? `${a}-${generation}` : id,
    fence_token: fenceFor(s, a, id, c.fence),
    generation,
    profile_material_digest: c.digest === 'authorized' ? (authority?.profile_material_digest ?? 'digest-1') : 'digest-x',
    external_addressable: c.addressable === 'authorized' ? (authority?.external_addressable ?? true) : c.addressable,
    runtime_mode: c.mode,
    bridge_session_id: c.bridge === 'staged' ? (s.pending_spawn_sessions[a] ?? s.member_session_bindings[a] ?? 'S-none') : c.bridge,
    replacing: c.oddity === 'replacing' ? `${a}:0` : null,
  };
}

const authorizeArb = fc
  .record({
    a: identity,
    profile: pick(['worker', 'lead']),
    digest: pick(['digest-1', 'digest-2']),
    addressable: fc.boolean(),
    schema: fc.option(pick(['schema-1']), { nil: null }),
    follow,
  })
  .map((c) =>
    tmpl(`Authorize(${c.a},${c.profile},${c.digest},${String(c.addressable)},${String(c.follow)})`, (s) => ({
      type: 'AuthorizeSpawnProfile',
      // Following: an identity that is neither a member nor authorized yet (e.g. one just archived).
      agent_identity: followIdentity(s, c.follow, c.a, (st, a) => !(a in st.identity_to_runtime) && !(a in st.spawn_profile_authority)),
      profile_name: c.profile,
      model: 'model-1',
      profile_material_digest: c.digest,
      tool_config_digest: 'tools-1',
      skills_digest: 'skills-1',
      provider_params_digest: null,
      output_schema_digest: c.schema,
      external_addressable: c.addressable,
      resolved_spec_digest: null,
    })),
  );

const beginArb = spawnChoices.map((c) =>
  tmpl(`Begin(${JSON.stringify(c)})`, (s) => ({
    type: 'BeginSpawnExec',
    ...spawnTuple(s, c, followIdentity(s, c.follow, c.a, readyToBegin)),
    placement: c.oddity === 'placement' ? 'host-1' : null,
  })),
);

const commitArb = spawnChoices.map((c) =>
  tmpl(`Commit(${JSON.stringify(c)})`, (s) => ({
    type: 'CommitSpawnMembership',
    ...spawnTuple(s, c, followIdentity(s, c.follow, c.a, readyToCommit)),
    spec_digest_echo: null,
    ack_engine_version: null,
    placed_spawn_id: c.oddity === 'ack' ? 'placed-1' : null,
    provision_operation_id: null,
  })),
);

const byIdentity = (type: 'CommitSpawnActivation' | 'AbortSpawnExec' | 'CompleteSpawn' | 'CancelPendingSpawn' | 'EnsureMember') =>
  identity.map((a) => tmpl(`${type}(${a})`, () => ({ type, agent_identity: a })));

/** Membership / spawn-ladder inputs. */
export const spawnArb: fc.Arbitrary<Tmpl> = fc.oneof(
  { weight: 4, arbitrary: authorizeArb },
  {
    weight: 3,
    arbitrary: fc
      .tuple(identity, literalSession)
      .map(([a, session]) => tmpl(`Stage(${a},${session})`, () => ({ type: 'StageSpawn', agent_identity: a, session_id: session }))),
  },
  { weight: 6, arbitrary: beginArb },
  { weight: 6, arbitrary: commitArb },
  { weight: 3, arbitrary: byIdentity('CommitSpawnActivation') },
  { weight: 1, arbitrary: byIdentity('AbortSpawnExec') },
  { weight: 2, arbitrary: byIdentity('CompleteSpawn') },
  { weight: 1, arbitrary: byIdentity('CancelPendingSpawn') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(identity, runtimeChoice)
      .map(([a, rc]) => tmpl(`Respawn(${a},${rc})`, (s) => ({ type: 'Respawn', agent_runtime_id: runtimeFor(s, a, rc) }))),
  },
  { weight: 1, arbitrary: byIdentity('EnsureMember') },
  {
    weight: 1,
    arbitrary: fc
      .record({ desired: fc.subarray([...IDENTITIES]), retire_stale: fc.boolean() })
      .map((c) => tmpl(`Reconcile(${JSON.stringify(c)})`, () => ({ type: 'Reconcile', ...c }))),
  },
);
