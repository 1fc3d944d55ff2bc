import fc from 'fast-check';
import type { VisibilityInput, WitnessMap } from '../../../src/machine/arms/visibility.js';
import type { ToolFilter, ToolVisibilityWitness } from '../../../src/machine/state.js';
import { pick, POOL, toolName } from './pool.js';

/** Canonical witnesses: each pool tool has one catalog-grade witness (owner key + provenance). */
export const CANONICAL_WITNESS: Readonly<Record<string, ToolVisibilityWitness>> = {
  'tool-a': { stable_owner_key: 'owner-a', last_seen_provenance: { kind: 'builtin', source_id: 'src-a' } },
  'tool-b': { stable_owner_key: 'owner-b', last_seen_provenance: { kind: 'mcp', source_id: 'src-b' } },
};
/** A witness that contradicts every canonical one. */
export const ROGUE_WITNESS: ToolVisibilityWitness = {
  stable_owner_key: 'rogue',
  last_seen_provenance: { kind: 'mcp', source_id: 'rogue' },
};
/** A witness without identity. */
export const EMPTY_WITNESS: ToolVisibilityWitness = { stable_owner_key: null, last_seen_provenance: null };

const canonical = (name: string): ToolVisibilityWitness => CANONICAL_WITNESS[name] ?? EMPTY_WITNESS;

/** A witness for `name`: usually canonical, sometimes key-only, rogue or empty. */
const witnessFor = (name: string): fc.Arbitrary<ToolVisibilityWitness> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(canonical(name)) },
    { weight: 1, arbitrary: fc.constant({ stable_owner_key: canonical(name).stable_owner_key, last_seen_provenance: null }) },
    { weight: 1, arbitrary: fc.constant(ROGUE_WITNESS) },
    { weight: 1, arbitrary: fc.constant(EMPTY_WITNESS) },
  );

/** A witness map over a subset of the pool tools. */
const witnessMapArb = (minLength = 0): fc.Arbitrary<WitnessMap> =>
  fc
    .subarray([...POOL.tools], { minLength })
    .chain((names) => fc.tuple(...names.map((n) => witnessFor(n).map((w) => [n, w] as const))))
    .map((entries) => Object.fromEntries(entries));

/** Catalogs are usually the canonical witnesses over a subset of the tools. */
const catalogArb: fc.Arbitrary<WitnessMap> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<WitnessMap>(CANONICAL_WITNESS) },
  { weight: 2, arbitrary: fc.subarray([...POOL.tools]).map((ns) => Object.fromEntries(ns.map((n) => [n, canonical(n)]))) },
  { weight: 1, arbitrary: witnessMapArb() },
);

const namesArb = fc.subarray([...POOL.tools]);
/** Tool filters over the pool tools, biased towards `All` and `Deny{tool-a}`. */
export const filterArb: fc.Arbitrary<ToolFilter> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<ToolFilter>({ kind: 'All' }) },
  { weight: 3, arbitrary: fc.constant<ToolFilter>({ kind: 'Deny', names: ['tool-a'] }) },
  { weight: 2, arbitrary: namesArb.map((names): ToolFilter => ({ kind: 'Allow', names })) },
  { weight: 2, arbitrary: namesArb.map((names): ToolFilter => ({ kind: 'Deny', names })) },
);
const revisionArb = fc.integer({ min: 0, max: 6 });

/** Authorities keyed by exactly `names`, usually canonical. */
const authoritiesFor = (names: readonly string[]): fc.Arbitrary<WitnessMap> =>
  fc.tuple(...names.map((n) => witnessFor(n).map((w) => [n, w] as const))).map((e) => Object.fromEntries(e));

/** A coherent "visible set" for PublishCommittedVisibleSet / ReplaceVisibilityState. */
const visibleSetArb = fc
  .record({
    activeNames: namesArb,
    extraStaged: namesArb,
    activeFilter: filterArb,
    stagedFilter: filterArb,
    activeRev: revisionArb,
    delta: fc.integer({ min: -1, max: 3 }),
  })
  .chain((r) => {
    const stagedNames = [...new Set([...r.activeNames, ...r.extraStaged])].sort();
    return fc.record({
      activeNames: fc.constant(r.activeNames),
      stagedNames: fc.constant(stagedNames),
      activeAuth: authoritiesFor(r.activeNames),
      stagedAuth: authoritiesFor(stagedNames),
      activeFilter: fc.constant(r.activeFilter),
      stagedFilter: fc.constant(r.stagedFilter),
      activeRev: fc.constant(r.activeRev),
      stagedRev: fc.constant(Math.max(0, r.activeRev - r.delta)),
    });
  });

/** Random inputs of the tool-visibility domain. */
export const visibilityInputArb: fc.Arbitrary<VisibilityInput> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('StagePersistentFilter' as const), filter: filterArb, witnesses: witnessMapArb() }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('RequestDeferredTools' as const), authorities: witnessMapArb(1) }) },
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('StageVisibilityFilter' as const), filter: filterArb, witnesses: witnessMapArb() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('CommitVisibilityFilter' as const), filter: filterArb, revision: revisionArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('StageDeferredNames' as const),
      names: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(toolName, { maxLength: 2 }) }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('CommitDeferredNames' as const), authorities: witnessMapArb() }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('ReplaceFilterToolAuthorityCatalog' as const), catalog: catalogArb }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('ReplaceDeferredToolAuthorityCatalog' as const), catalog: catalogArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('SetTurnToolOverlay' as const),
      allow_active: fc.boolean(),
      allow_names: namesArb,
      deny_names: namesArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'ClearTurnToolOverlay' as const }) },
  {
    weight: 1,
    arbitrary: fc.tuple(visibleSetArb, filterArb, witnessMapArb(), witnessMapArb()).map(([v, inherited, requested, filterW]) => ({
      type: 'ReplaceVisibilityState' as const,
      inherited_base_filter: inherited,
      active_filter: v.activeFilter,
      staged_filter: v.stagedFilter,
      active_revision: v.activeRev,
      staged_revision: v.stagedRev,
      active_deferred_names: v.activeNames,
      staged_deferred_names: v.stagedNames,
      requested_witnesses: requested,
      filter_witnesses: filterW,
      active_deferred_authorities: v.activeAuth,
      staged_deferred_authorities: v.stagedAuth,
    })),
  },
  {
    weight: 2,
    arbitrary: visibleSetArb.map((v) => ({
      type: 'PublishCommittedVisibleSet' as const,
      active_filter: v.activeFilter,
      staged_filter: v.stagedFilter,
      active_requested_deferred_names: v.activeNames,
      staged_requested_deferred_names: v.stagedNames,
      active_deferred_authorities: v.activeAuth,
      staged_deferred_authorities: v.stagedAuth,
      active_visibility_revision: v.activeRev,
      staged_visibility_revision: v.stagedRev,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('SyncVisibilityRevisions' as const),
      active_revision: fc.integer({ min: 0, max: 10 }),
      staged_revision: fc.integer({ min: 0, max: 10 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('BoundaryApplied' as const), revision: revisionArb }) },
);

/** Tool-name pick, re-exported for tests that need a single name. */
export const poolTool = pick(POOL.tools);
