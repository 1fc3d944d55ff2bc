/**
 * Tool visibility: staged → committed at turn boundaries (`machine.md` §7.2,
 * `commands.md` §2.11, §3.2.16–3.2.18).
 *
 * Two filter slots (staged / active) with revisions; `next_staged_visibility_revision` is
 * the single monotonic minting counter. Staging inputs mint (`next += 1;
 * staged_visibility_revision := next`). Commits happen at boundaries.
 *
 * Witness vocabulary (`commands.md` §2.11), used by every guard below:
 * - **identity witness**: a `ToolVisibilityWitness` with `stable_owner_key` or
 *   `last_seen_provenance` present (filter witnesses and the filter catalog need this);
 * - **provenance identity**: `last_seen_provenance` present (the deferred-tool
 *   `*_have_identity` guards and the deferred catalog need this);
 * - **catalog-backed** (`witness` for `name` against a catalog): the catalog has an entry
 *   for `name`, and the witness does not contradict it — where both the witness and the
 *   catalog entry carry an owner key they are equal, and where both carry a provenance
 *   they are equal.
 *
 * Phases follow the legality matrix (§2.5): StagePersistentFilter, RequestDeferredTools
 * and PublishCommittedVisibleSet in Idle…Retired; the other staging / commit / catalog /
 * overlay inputs in Idle…Stopped; BoundaryApplied in Running only.
 */
import type { Draft } from '../draft.js';
import { guard, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import { get, hasKey, isSubset, jsonEquals, setEquals, setOf } from '../collections.js';
import type { MachineState, Phase, ToolFilter, ToolVisibilityWitness } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** A name → witness map (deferred-tool authorities, filter witnesses, catalogs). */
export type WitnessMap = Readonly<Record<string, ToolVisibilityWitness>>;

/** `StagePersistentFilter`: registered-session permission check only (staging goes through `StageVisibilityFilter`). */
export interface StagePersistentFilter {
  readonly type: 'StagePersistentFilter';
  readonly filter: ToolFilter;
  readonly witnesses: WitnessMap;
}

/**
 * `RequestDeferredTools`: stage the (extended) set of requested deferred tools with their
 * canonical authorities; mints a revision.
 */
export interface RequestDeferredTools {
  readonly type: 'RequestDeferredTools';
  readonly authorities: WitnessMap;
}

/** `StageVisibilityFilter`: stage a persistent filter with its witnesses; mints a revision. */
export interface StageVisibilityFilter {
  readonly type: 'StageVisibilityFilter';
  readonly filter: ToolFilter;
  readonly witnesses: WitnessMap;
}

/** `CommitVisibilityFilter`: at a boundary, make the staged filter active. */
export interface CommitVisibilityFilter {
  readonly type: 'CommitVisibilityFilter';
  readonly filter: ToolFilter;
  readonly revision: number;
}

/** `StageDeferredNames`: only the empty set is accepted (clears the staged deferred request); mints a revision. */
export interface StageDeferredNames {
  readonly type: 'StageDeferredNames';
  readonly names: readonly string[];
}

/** `CommitDeferredNames`: at a boundary, make the staged deferred authorities active. */
export interface CommitDeferredNames {
  readonly type: 'CommitDeferredNames';
  readonly authorities: WitnessMap;
}

/** `ReplaceFilterToolAuthorityCatalog`: wholesale replacement of the filter authority catalog. */
export interface ReplaceFilterToolAuthorityCatalog {
  readonly type: 'ReplaceFilterToolAuthorityCatalog';
  readonly catalog: WitnessMap;
}

/** `ReplaceDeferredToolAuthorityCatalog`: wholesale replacement of the deferred-tool authority catalog. */
export interface ReplaceDeferredToolAuthorityCatalog {
  readonly type: 'ReplaceDeferredToolAuthorityCatalog';
  readonly catalog: WitnessMap;
}

/** `SetTurnToolOverlay`: per-turn allow/deny overlay. */
export interface SetTurnToolOverlay {
  readonly type: 'SetTurnToolOverlay';
  readonly allow_active: boolean;
  readonly allow_names: readonly string[];
  readonly deny_names: readonly string[];
}

/** `ClearTurnToolOverlay`: drop the per-turn overlay. */
export interface ClearTurnToolOverlay {
  readonly type: 'ClearTurnToolOverlay';
}

/**
 * `ReplaceVisibilityState`: guarded whole-state replacement (recovery / hot swap). The
 * counter `next_staged_visibility_revision` is not touched (see `SyncVisibilityRevisions`).
 */
export interface ReplaceVisibilityState {
  readonly type: 'ReplaceVisibilityState';
  readonly inherited_base_filter: ToolFilter;
  readonly active_filter: ToolFilter;
  readonly staged_filter: ToolFilter;
  readonly active_revision: number;
  readonly staged_revision: number;
  readonly active_deferred_names: readonly string[];
  readonly staged_deferred_names: readonly string[];
  readonly requested_witnesses: WitnessMap;
  readonly filter_witnesses: WitnessMap;
  readonly active_deferred_authorities: WitnessMap;
  readonly staged_deferred_authorities: WitnessMap;
}

/** `PublishCommittedVisibleSet` (§3.2.18): install an externally computed committed visible set. */
export interface PublishCommittedVisibleSet {
  readonly type: 'PublishCommittedVisibleSet';
  readonly active_filter: ToolFilter;
  readonly staged_filter: ToolFilter;
  readonly active_requested_deferred_names: readonly string[];
  readonly staged_requested_deferred_names: readonly string[];
  readonly active_deferred_authorities: WitnessMap;
  readonly staged_deferred_authorities: WitnessMap;
  readonly active_visibility_revision: number;
  readonly staged_visibility_revision: number;
}

/**
 * `SyncVisibilityRevisions`: watermark — raise `next_staged_visibility_revision` to
 * `max(active_revision, staged_revision)`. Rejected (`revision_watermark_advances`) when the
 * counter already covers both revisions, i.e. when it would change nothing; the shell treats
 * that rejection as an idempotent no-op (`commands.md` §3.2.18 step 4).
 */
export interface SyncVisibilityRevisions {
  readonly type: 'SyncVisibilityRevisions';
  readonly active_revision: number;
  readonly staged_revision: number;
}

/** `BoundaryApplied{revision}` (signal, Running only): publish the committed visible set revision. */
export interface BoundaryApplied {
  readonly type: 'BoundaryApplied';
  readonly revision: number;
}

/** Inputs of the tool-visibility domain. */
export type VisibilityInput =
  | StagePersistentFilter
  | RequestDeferredTools
  | StageVisibilityFilter
  | CommitVisibilityFilter
  | StageDeferredNames
  | CommitDeferredNames
  | ReplaceFilterToolAuthorityCatalog
  | ReplaceDeferredToolAuthorityCatalog
  | SetTurnToolOverlay
  | ClearTurnToolOverlay
  | ReplaceVisibilityState
  | PublishCommittedVisibleSet
  | SyncVisibilityRevisions
  | BoundaryApplied;

// ---------------------------------------------------------------------------------------------
// Effects

/** Handoff `surface_snapshot_alignment`: the owner must re-derive the visible tool surface. */
export interface RefreshVisibleSurfaceSet {
  readonly type: 'RefreshVisibleSurfaceSet';
}

/** The committed visible set at `revision` is published (public answer of the publish command). */
export interface CommittedVisibleSetPublished {
  readonly type: 'CommittedVisibleSetPublished';
  readonly revision: number;
}

/** Effects of the tool-visibility domain. */
export type VisibilityEffect = RefreshVisibleSurfaceSet | CommittedVisibleSetPublished;

// ---------------------------------------------------------------------------------------------
// Witness predicates (exported so the shell validates with the same rules)

/** Names mentioned by a filter (`All` mentions none). */
export function filterNames(filter: ToolFilter): readonly string[] {
  return filter.kind === 'All' ? [] : filter.names;
}

/** The filter with its name set sorted and de-duplicated (the stored form). */
export function normalizeFilter(filter: ToolFilter): Draft<ToolFilter> {
  return filter.kind === 'All' ? { kind: 'All' } : { kind: filter.kind, names: setOf(filter.names) };
}

/** Structural filter equality (names compared as sets). */
export function filterEquals(a: ToolFilter, b: ToolFilter): boolean {
  return a.kind === b.kind && setEquals(filterNames(a), filterNames(b));
}

/** Identity witness: owner key or provenance present. */
export function hasIdentity(w: ToolVisibilityWitness): boolean {
  return w.stable_owner_key !== null || w.last_seen_provenance !== null;
}

/** Provenance identity: provenance present. */
export function hasProvenance(w: ToolVisibilityWitness): boolean {
  return w.last_seen_provenance !== null;
}

/** Does `w` contradict the catalog entry `c` (a field present on both sides that differs)? */
export function witnessContradicts(w: ToolVisibilityWitness, c: ToolVisibilityWitness): boolean {
  const keyConflict = w.stable_owner_key !== null && c.stable_owner_key !== null && w.stable_owner_key !== c.stable_owner_key;
  const provConflict =
    w.last_seen_provenance !== null &&
    c.last_seen_provenance !== null &&
    !jsonEquals(w.last_seen_provenance, c.last_seen_provenance);
  return keyConflict || provConflict;
}

/** Catalog-backed: the catalog has `name` and `w` does not contradict its entry. */
export function catalogBacked(catalog: WitnessMap, name: string, w: ToolVisibilityWitness): boolean {
  const entry = get(catalog, name);
  return entry !== null && !witnessContradicts(w, entry);
}

/** Every name has a witness in `witnesses` that carries identity and is backed by `catalog`. */
function namesHaveCatalogWitnesses(names: readonly string[], witnesses: WitnessMap, catalog: WitnessMap): boolean {
  return names.every((name) => {
    const w = get(witnesses, name);
    return w !== null && hasIdentity(w) && catalogBacked(catalog, name, w);
  });
}

/** Every authority carries provenance identity. */
function allHaveProvenance(authorities: WitnessMap): boolean {
  return Object.values(authorities).every(hasProvenance);
}

/** Every authority is backed by `catalog`. */
function allCatalogBacked(authorities: WitnessMap, catalog: WitnessMap): boolean {
  return Object.entries(authorities).every(([name, w]) => catalogBacked(catalog, name, w));
}

/** Every name of `names` has an authority (`*_cover_names`). */
function coversNames(authorities: WitnessMap, names: readonly string[]): boolean {
  return names.every((n) => hasKey(authorities, n));
}

/** No authority outside `names` (`*_are_name_scoped`). */
function nameScoped(authorities: WitnessMap, names: readonly string[]): boolean {
  return Object.keys(authorities).every((n) => names.includes(n));
}

/** A filter name keeps its backing under a replacement catalog: present there, existing witness not contradicted. */
function filterBackedByReplacement(filter: ToolFilter, witnesses: WitnessMap, catalog: WitnessMap): boolean {
  return filterNames(filter).every((name) => {
    const entry = get(catalog, name);
    if (entry === null) return false;
    const w = get(witnesses, name);
    return w === null || !witnessContradicts(w, entry);
  });
}

// ---------------------------------------------------------------------------------------------
// Arm helpers

type ArmBody<I> = Omit<Arm<I>, 'name' | 'from' | 'to'>;

/** One self-loop arm per phase, named `${base}${Phase}`. */
function perPhase<I>(base: string, phases: readonly Phase[], body: ArmBody<I>): Arm<I>[] {
  return phases.map((phase) => ({ ...body, name: `${base}${phase}`, from: [phase], to: 'self' as const }));
}

/** Idle, Attached, Running, Retired (no Stopped). */
const IDLE_TO_RETIRED: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired'];

const sessionRegistered = <I>(): Guard<I> => guard('session_registered', (s) => s.session_id !== null);

/** Mint a new staged revision (`next += 1; staged := next`). */
function mintRevision(d: Draft<MachineState>): void {
  d.next_staged_visibility_revision += 1;
  d.staged_visibility_revision = d.next_staged_visibility_revision;
}

const refresh: RefreshVisibleSurfaceSet = { type: 'RefreshVisibleSurfaceSet' };

/** The deferred-authority guards shared by PublishCommittedVisibleSet and ReplaceVisibilityState. */
interface DeferredSetView {
  readonly activeNames: readonly string[];
  readonly stagedNames: readonly string[];
  readonly activeAuth: WitnessMap;
  readonly stagedAuth: WitnessMap;
}

function deferredSetGuards<I>(view: (i: I) => DeferredSetView): Guard<I>[] {
  return [
    guard('active_deferred_authorities_cover_names', (_s, i) => {
      const v = view(i);
      return coversNames(v.activeAuth, v.activeNames);
    }),
    guard('staged_deferred_authorities_cover_names', (_s, i) => {
      const v = view(i);
      return coversNames(v.stagedAuth, v.stagedNames);
    }),
    guard('active_deferred_authorities_are_name_scoped', (_s, i) => {
      const v = view(i);
      return nameScoped(v.activeAuth, v.activeNames);
    }),
    guard('staged_deferred_authorities_are_name_scoped', (_s, i) => {
      const v = view(i);
      return nameScoped(v.stagedAuth, v.stagedNames);
    }),
    guard('active_deferred_authorities_have_identity', (_s, i) => allHaveProvenance(view(i).activeAuth)),
    guard('staged_deferred_authorities_have_identity', (_s, i) => allHaveProvenance(view(i).stagedAuth)),
  ];
}

const publishView = (i: PublishCommittedVisibleSet): DeferredSetView => ({
  activeNames: i.active_requested_deferred_names,
  stagedNames: i.staged_requested_deferred_names,
  activeAuth: i.active_deferred_authorities,
  stagedAuth: i.staged_deferred_authorities,
});

const replaceView = (i: ReplaceVisibilityState): DeferredSetView => ({
  activeNames: i.active_deferred_names,
  stagedNames: i.staged_deferred_names,
  activeAuth: i.active_deferred_authorities,
  stagedAuth: i.staged_deferred_authorities,
});

/** Equal revisions ⇒ identical active and staged filters, names and authorities. */
function equalRevisionRequiresEqualContents(
  activeRev: number,
  stagedRev: number,
  activeFilter: ToolFilter,
  stagedFilter: ToolFilter,
  v: DeferredSetView,
): boolean {
  if (activeRev !== stagedRev) return true;
  return (
    filterEquals(activeFilter, stagedFilter) &&
    setEquals(v.activeNames, v.stagedNames) &&
    jsonEquals(v.activeAuth, v.stagedAuth)
  );
}

// ---------------------------------------------------------------------------------------------
// Transition table

/** The tool-visibility arms, keyed by input type. */
export const visibilityArms: ArmTable<VisibilityInput> = {
  StagePersistentFilter: perPhase<StagePersistentFilter>('StagePersistentFilter', IDLE_TO_RETIRED, {
    guards: [sessionRegistered()],
  }),

  RequestDeferredTools: perPhase<RequestDeferredTools>('RequestDeferredTools', IDLE_TO_RETIRED, {
    guards: [
      sessionRegistered(),
      guard('deferred_authorities_non_empty', (_s, i) => Object.keys(i.authorities).length > 0),
      guard('deferred_authorities_have_identity', (_s, i) => allHaveProvenance(i.authorities)),
      guard('deferred_authorities_match_machine_catalog', (s, i) =>
        allCatalogBacked(i.authorities, s.deferred_visibility_authority_catalog),
      ),
      // A name already carrying a requested witness must be re-requested with the same witness.
      guard('existing_requested_witness_preserved', (s, i) =>
        Object.entries(i.authorities).every(([name, w]) => {
          const existing = get(s.requested_visibility_witnesses, name);
          return existing === null || jsonEquals(existing, w);
        }),
      ),
      // Requests accumulate: every currently staged authority must be carried over unchanged.
      guard('existing_staged_authority_preserved', (s, i) =>
        Object.entries(s.staged_deferred_authorities).every(([name, w]) => {
          const requested = get(i.authorities, name);
          return requested !== null && jsonEquals(requested, w);
        }),
      ),
    ],
    update: (d, i) => {
      mintRevision(d);
      d.staged_deferred_names = setOf(Object.keys(i.authorities));
      d.staged_deferred_authorities = { ...i.authorities };
      d.requested_visibility_witnesses = { ...d.requested_visibility_witnesses, ...i.authorities };
    },
  }),

  StageVisibilityFilter: perPhase<StageVisibilityFilter>('StageVisibilityFilter', LIVE_PHASES, {
    guards: [
      guard('filter_witnesses_match_machine_catalog', (s, i) =>
        Object.entries(i.witnesses).every(
          ([name, w]) => hasIdentity(w) && catalogBacked(s.filter_visibility_authority_catalog, name, w),
        ),
      ),
      guard('active_filter_has_machine_catalog_witnesses', (s, i) =>
        namesHaveCatalogWitnesses(
          filterNames(s.active_filter),
          { ...s.filter_visibility_witnesses, ...i.witnesses },
          s.filter_visibility_authority_catalog,
        ),
      ),
      guard('staged_filter_has_machine_catalog_witnesses', (s, i) =>
        namesHaveCatalogWitnesses(
          filterNames(i.filter),
          { ...s.filter_visibility_witnesses, ...i.witnesses },
          s.filter_visibility_authority_catalog,
        ),
      ),
    ],
    update: (d, i) => {
      mintRevision(d);
      d.staged_filter = normalizeFilter(i.filter);
      d.filter_visibility_witnesses = { ...d.filter_visibility_witnesses, ...i.witnesses };
    },
    emit: () => [refresh],
  }),

  CommitVisibilityFilter: perPhase<CommitVisibilityFilter>('CommitVisibilityFilter', LIVE_PHASES, {
    guards: [
      guard('filter_matches_machine_staged_filter', (s, i) => filterEquals(i.filter, s.staged_filter)),
      guard('revision_matches_machine_staged_revision', (s, i) => i.revision === s.staged_visibility_revision),
      guard('active_visibility_revision_never_decreases', (s, i) => i.revision >= s.active_visibility_revision),
      guard('staged_filter_witnesses_match_machine_catalog', (s) =>
        namesHaveCatalogWitnesses(
          filterNames(s.staged_filter),
          s.filter_visibility_witnesses,
          s.filter_visibility_authority_catalog,
        ),
      ),
    ],
    update: (d, i) => {
      d.active_filter = normalizeFilter(i.filter);
      d.active_visibility_revision = i.revision;
      if (i.filter.kind === 'All') d.filter_visibility_witnesses = {};
    },
    emit: () => [refresh],
  }),

  StageDeferredNames: perPhase<StageDeferredNames>('StageDeferredNames', LIVE_PHASES, {
    guards: [guard('deferred_names_empty', (_s, i) => i.names.length === 0)],
    update: (d) => {
      mintRevision(d);
      d.staged_deferred_names = [];
      d.staged_deferred_authorities = {};
      if (d.active_deferred_names.length === 0) d.requested_visibility_witnesses = {};
    },
    emit: () => [refresh],
  }),

  CommitDeferredNames: perPhase<CommitDeferredNames>('CommitDeferredNames', LIVE_PHASES, {
    guards: [
      guard('authorities_match_machine_staged_authorities', (s, i) =>
        jsonEquals(i.authorities, s.staged_deferred_authorities),
      ),
      guard('authority_names_match_machine_staged_names', (s, i) =>
        setEquals(Object.keys(i.authorities), s.staged_deferred_names),
      ),
      guard('deferred_authorities_have_identity', (_s, i) => allHaveProvenance(i.authorities)),
      guard('deferred_authorities_match_machine_catalog', (s, i) =>
        allCatalogBacked(i.authorities, s.deferred_visibility_authority_catalog),
      ),
    ],
    update: (d, i) => {
      d.active_deferred_names = setOf(Object.keys(i.authorities));
      d.active_deferred_authorities = { ...i.authorities };
    },
    emit: () => [refresh],
  }),

  ReplaceFilterToolAuthorityCatalog: perPhase<ReplaceFilterToolAuthorityCatalog>(
    'ReplaceFilterToolAuthorityCatalog',
    LIVE_PHASES,
    {
      // Upstream also checks `capability_base_filter_matches_generated_llm_surface`; the
      // capability base filter is not part of this kernel's MachineState, so it is omitted.
      guards: [
        sessionRegistered(),
        guard('filter_authority_catalog_has_identity', (_s, i) => Object.values(i.catalog).every(hasIdentity)),
        guard('inherited_filter_matches_replacement_catalog', (s, i) =>
          filterBackedByReplacement(s.inherited_base_filter, s.filter_visibility_witnesses, i.catalog),
        ),
        guard('active_filter_matches_replacement_catalog', (s, i) =>
          filterBackedByReplacement(s.active_filter, s.filter_visibility_witnesses, i.catalog),
        ),
        guard('staged_filter_matches_replacement_catalog', (s, i) =>
          filterBackedByReplacement(s.staged_filter, s.filter_visibility_witnesses, i.catalog),
        ),
        guard('turn_overlay_allow_matches_replacement_catalog', (s, i) =>
          s.turn_tool_overlay_allow_names.every((n) => hasKey(i.catalog, n)),
        ),
      ],
      update: (d, i) => {
        d.filter_visibility_authority_catalog = { ...i.catalog };
      },
    },
  ),

  ReplaceDeferredToolAuthorityCatalog: perPhase<ReplaceDeferredToolAuthorityCatalog>(
    'ReplaceDeferredToolAuthorityCatalog',
    LIVE_PHASES,
    {
      guards: [
        sessionRegistered(),
        guard('deferred_authority_catalog_has_identity', (_s, i) => allHaveProvenance(i.catalog)),
        guard('active_deferred_authorities_match_replacement_catalog', (s, i) =>
          allCatalogBacked(s.active_deferred_authorities, i.catalog),
        ),
        guard('staged_deferred_authorities_match_replacement_catalog', (s, i) =>
          allCatalogBacked(s.staged_deferred_authorities, i.catalog),
        ),
        // "Live" requested witnesses: those whose name is still active or staged.
        guard('requested_witnesses_match_live_replacement_catalog', (s, i) =>
          Object.entries(s.requested_visibility_witnesses)
            .filter(([name]) => s.active_deferred_names.includes(name) || s.staged_deferred_names.includes(name))
            .every(([name, w]) => catalogBacked(i.catalog, name, w)),
        ),
      ],
      update: (d, i) => {
        d.deferred_visibility_authority_catalog = { ...i.catalog };
      },
    },
  ),

  SetTurnToolOverlay: perPhase<SetTurnToolOverlay>('SetTurnToolOverlay', LIVE_PHASES, {
    guards: [
      sessionRegistered(),
      guard('inactive_allow_carries_no_names', (_s, i) => i.allow_active || i.allow_names.length === 0),
      guard('allow_names_match_filter_authority_catalog', (s, i) =>
        i.allow_names.every((n) => hasKey(s.filter_visibility_authority_catalog, n)),
      ),
    ],
    update: (d, i) => {
      d.turn_tool_overlay_allow_active = i.allow_active;
      d.turn_tool_overlay_allow_names = setOf(i.allow_names);
      d.turn_tool_overlay_deny_names = setOf(i.deny_names);
    },
  }),

  ClearTurnToolOverlay: perPhase<ClearTurnToolOverlay>('ClearTurnToolOverlay', LIVE_PHASES, {
    guards: [sessionRegistered()],
    update: (d) => {
      d.turn_tool_overlay_allow_active = false;
      d.turn_tool_overlay_allow_names = [];
      d.turn_tool_overlay_deny_names = [];
    },
  }),

  ReplaceVisibilityState: perPhase<ReplaceVisibilityState>('ReplaceVisibilityState', LIVE_PHASES, {
    // Upstream also checks `visibility_state_replacement_matches_fields` and
    // `capability_base_filter_matches_current_surface`; both concern the capability base
    // filter, which is not part of this kernel's MachineState, so they are omitted.
    guards: [
      sessionRegistered(),
      guard('equal_revision_requires_equal_active_and_staged_input', (_s, i) =>
        equalRevisionRequiresEqualContents(
          i.active_revision,
          i.staged_revision,
          i.active_filter,
          i.staged_filter,
          replaceView(i),
        ),
      ),
      ...deferredSetGuards<ReplaceVisibilityState>(replaceView),
    ],
    update: (d, i) => {
      d.inherited_base_filter = normalizeFilter(i.inherited_base_filter);
      d.active_filter = normalizeFilter(i.active_filter);
      d.staged_filter = normalizeFilter(i.staged_filter);
      d.active_visibility_revision = i.active_revision;
      d.staged_visibility_revision = i.staged_revision;
      d.active_deferred_names = setOf(i.active_deferred_names);
      d.staged_deferred_names = setOf(i.staged_deferred_names);
      d.requested_visibility_witnesses = { ...i.requested_witnesses };
      d.filter_visibility_witnesses = { ...i.filter_witnesses };
      d.active_deferred_authorities = { ...i.active_deferred_authorities };
      d.staged_deferred_authorities = { ...i.staged_deferred_authorities };
    },
  }),

  PublishCommittedVisibleSet: perPhase<PublishCommittedVisibleSet>('PublishCommittedVisibleSet', IDLE_TO_RETIRED, {
    guards: [
      sessionRegistered(),
      guard('active_not_behind_staged', (_s, i) => i.active_visibility_revision >= i.staged_visibility_revision),
      guard('equal_revision_requires_equal_active_and_staged_input', (_s, i) =>
        equalRevisionRequiresEqualContents(
          i.active_visibility_revision,
          i.staged_visibility_revision,
          i.active_filter,
          i.staged_filter,
          publishView(i),
        ),
      ),
      guard('active_requested_subset_of_staged_requested', (_s, i) =>
        isSubset(i.active_requested_deferred_names, i.staged_requested_deferred_names),
      ),
      ...deferredSetGuards<PublishCommittedVisibleSet>(publishView),
      guard(
        'visibility_authority_matches_machine_catalog',
        (s, i) =>
          allCatalogBacked(i.active_deferred_authorities, s.deferred_visibility_authority_catalog) &&
          allCatalogBacked(i.staged_deferred_authorities, s.deferred_visibility_authority_catalog),
      ),
    ],
    update: (d, i) => {
      d.active_filter = normalizeFilter(i.active_filter);
      d.staged_filter = normalizeFilter(i.staged_filter);
      d.active_deferred_names = setOf(i.active_requested_deferred_names);
      d.staged_deferred_names = setOf(i.staged_requested_deferred_names);
      d.active_deferred_authorities = { ...i.active_deferred_authorities };
      d.staged_deferred_authorities = { ...i.staged_deferred_authorities };
      d.active_visibility_revision = i.active_visibility_revision;
      d.staged_visibility_revision = i.staged_visibility_revision;
      d.next_staged_visibility_revision = Math.max(d.next_staged_visibility_revision, i.active_visibility_revision);
    },
    emit: (_post, i) => [{ type: 'CommittedVisibleSetPublished', revision: i.active_visibility_revision }],
  }),

  SyncVisibilityRevisions: perPhase<SyncVisibilityRevisions>('SyncVisibilityRevisions', LIVE_PHASES, {
    guards: [
      guard(
        'revision_watermark_advances',
        (s, i) => Math.max(i.active_revision, i.staged_revision) > s.next_staged_visibility_revision,
      ),
    ],
    update: (d, i) => {
      d.next_staged_visibility_revision = Math.max(i.active_revision, i.staged_revision);
    },
  }),

  BoundaryApplied: [
    {
      name: 'BoundaryAppliedPublish',
      from: ['Running'],
      guards: [],
      to: 'self',
      emit: (_post, i) => [{ type: 'CommittedVisibleSetPublished', revision: i.revision }],
    },
  ],
};
