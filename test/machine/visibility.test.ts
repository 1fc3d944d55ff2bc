import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  catalogBacked,
  filterEquals,
  hasIdentity,
  hasProvenance,
  type PublishCommittedVisibleSet,
  type ReplaceVisibilityState,
  type VisibilityInput,
  type WitnessMap,
} from '../../src/machine/arms/visibility.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { reduce, type Rejection, type Step, type Transition } from '../../src/machine/reduce.js';
import { initialMachineState, type MachineState, type Phase, type ToolVisibilityWitness } from '../../src/machine/state.js';
import { CANONICAL_WITNESS, EMPTY_WITNESS, ROGUE_WITNESS, visibilityInputArb } from './arbitraries/visibility.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const LIVE: readonly Phase[] = ['Idle', 'Attached', 'Running', 'Retired', 'Stopped'];
const A = CANONICAL_WITNESS['tool-a'] as ToolVisibilityWitness;
const B = CANONICAL_WITNESS['tool-b'] as ToolVisibilityWitness;
const KEY_ONLY_A: ToolVisibilityWitness = { stable_owner_key: 'owner-a', last_seen_provenance: null };

const base = (phase: Phase = 'Idle', over: Partial<MachineState> = {}): MachineState => ({
  ...initialMachineState(),
  lifecycle_phase: phase,
  session_id: 's-1',
  ...(phase === 'Running' ? { current_run_id: 'run-1', pre_run_phase: 'Idle' as const } : {}),
  ...over,
});
/** A registered session whose filter and deferred catalogs hold the canonical witnesses. */
const cataloged = (phase: Phase = 'Idle', over: Partial<MachineState> = {}): MachineState =>
  base(phase, {
    filter_visibility_authority_catalog: CANONICAL_WITNESS,
    deferred_visibility_authority_catalog: CANONICAL_WITNESS,
    ...over,
  });

function accepted(step: Step): Transition {
  if (!step.ok) throw new Error(`expected acceptance, got ${step.kind} (${step.guard ?? '-'})`);
  return step;
}

function rejected(step: Step, guard: string): Rejection {
  expect(step.ok).toBe(false);
  if (step.ok) throw new Error('unreachable');
  expect(step.kind).toBe('GuardRejected');
  expect(step.guard).toBe(guard);
  return step;
}

function noTransition(step: Step): void {
  expect(step.ok).toBe(false);
  if (!step.ok) expect(step.kind).toBe('NoMatchingTransition');
}

const run = (s: MachineState, input: VisibilityInput): Step => reduce(s, input as MachineInput);
const apply = (s: MachineState, ...inputs: VisibilityInput[]): MachineState =>
  inputs.reduce((acc, i) => accepted(run(acc, i)).state, s);

const refresh = [{ type: 'RefreshVisibleSurfaceSet' }];

// ---------------------------------------------------------------------------------------------
// Witness vocabulary

describe('witness predicates', () => {
  it('identity = either field; provenance identity = provenance present', () => {
    expect(hasIdentity(A)).toBe(true);
    expect(hasIdentity(KEY_ONLY_A)).toBe(true);
    expect(hasIdentity(EMPTY_WITNESS)).toBe(false);
    expect(hasProvenance(KEY_ONLY_A)).toBe(false);
    expect(hasProvenance(A)).toBe(true);
  });

  it('catalog-backed = catalog has the name and owner key / provenance do not contradict it', () => {
    expect(catalogBacked(CANONICAL_WITNESS, 'tool-a', A)).toBe(true);
    expect(catalogBacked(CANONICAL_WITNESS, 'tool-a', KEY_ONLY_A)).toBe(true);
    expect(catalogBacked(CANONICAL_WITNESS, 'tool-a', B)).toBe(false);
    expect(catalogBacked(CANONICAL_WITNESS, 'tool-a', ROGUE_WITNESS)).toBe(false);
    expect(catalogBacked(CANONICAL_WITNESS, 'tool-z', A)).toBe(false);
    expect(
      catalogBacked(CANONICAL_WITNESS, 'tool-a', { stable_owner_key: 'owner-a', last_seen_provenance: { kind: 'mcp', source_id: 'x' } }),
    ).toBe(false);
  });

  it('filters compare by kind and name set', () => {
    expect(filterEquals({ kind: 'Deny', names: ['b', 'a'] }, { kind: 'Deny', names: ['a', 'b', 'a'] })).toBe(true);
    expect(filterEquals({ kind: 'Deny', names: ['a'] }, { kind: 'Allow', names: ['a'] })).toBe(false);
    expect(filterEquals({ kind: 'All' }, { kind: 'All' })).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// StagePersistentFilter

describe('StagePersistentFilter', () => {
  it('is a registered-session permission check only (Idle…Retired)', () => {
    for (const phase of ['Idle', 'Attached', 'Running', 'Retired'] as const) {
      const s = base(phase);
      const step = accepted(run(s, { type: 'StagePersistentFilter', filter: { kind: 'Deny', names: ['secret'] }, witnesses: {} }));
      expect(step.state).toEqual(s);
      expect(step.effects).toEqual([]);
    }
    rejected(run(base('Idle', { session_id: null }), { type: 'StagePersistentFilter', filter: { kind: 'All' }, witnesses: {} }), 'session_registered');
    noTransition(run(base('Stopped'), { type: 'StagePersistentFilter', filter: { kind: 'All' }, witnesses: {} }));
  });
});

// ---------------------------------------------------------------------------------------------
// Filter staging and commit

describe('StageVisibilityFilter / CommitVisibilityFilter', () => {
  const stage = (names: string[], witnesses: WitnessMap): VisibilityInput => ({
    type: 'StageVisibilityFilter',
    filter: { kind: 'Deny', names },
    witnesses,
  });

  it('mints strictly increasing staged revisions and records filter + witnesses (VIS-04)', () => {
    const s1 = accepted(run(cataloged(), stage(['tool-a'], { 'tool-a': A })));
    expect(s1.state.staged_filter).toEqual({ kind: 'Deny', names: ['tool-a'] });
    expect(s1.state.staged_visibility_revision).toBe(1);
    expect(s1.state.next_staged_visibility_revision).toBe(1);
    expect(s1.state.active_visibility_revision).toBe(0);
    expect(s1.state.filter_visibility_witnesses).toEqual({ 'tool-a': A });
    expect(s1.effects).toEqual(refresh);
    const s2 = accepted(run(s1.state, stage(['tool-a', 'tool-b'], { 'tool-b': B })));
    expect(s2.state.staged_visibility_revision).toBe(2);
    expect(s2.state.filter_visibility_witnesses).toEqual({ 'tool-a': A, 'tool-b': B });
  });

  it('accepts an owner-key-only witness (identity) and staging `All` without witnesses', () => {
    accepted(run(cataloged(), stage(['tool-a'], { 'tool-a': KEY_ONLY_A })));
    accepted(run(base(), { type: 'StageVisibilityFilter', filter: { kind: 'All' }, witnesses: {} }));
  });

  it('rejects missing, identity-less, contradicting or uncatalogued witnesses (VIS-05)', () => {
    rejected(run(cataloged(), stage(['tool-a'], {})), 'staged_filter_has_machine_catalog_witnesses');
    rejected(run(cataloged(), stage(['tool-a'], { 'tool-a': EMPTY_WITNESS })), 'filter_witnesses_match_machine_catalog');
    rejected(run(cataloged(), stage(['tool-a'], { 'tool-a': ROGUE_WITNESS })), 'filter_witnesses_match_machine_catalog');
    rejected(run(base(), stage(['secret'], { secret: A })), 'filter_witnesses_match_machine_catalog');
    const unbacked = cataloged('Idle', { active_filter: { kind: 'Deny', names: ['tool-b'] } });
    rejected(run(unbacked, stage(['tool-a'], { 'tool-a': A })), 'active_filter_has_machine_catalog_witnesses');
    // the staged state is untouched after a rejection
    expect(cataloged().staged_visibility_revision).toBe(0);
  });

  it('is legal in Idle…Stopped', () => {
    for (const phase of LIVE) accepted(run(cataloged(phase), stage(['tool-a'], { 'tool-a': A })));
    noTransition(run(cataloged('Initializing'), stage(['tool-a'], { 'tool-a': A })));
    noTransition(run(cataloged('Destroyed'), stage(['tool-a'], { 'tool-a': A })));
  });

  it('commit makes the staged filter active at its revision', () => {
    const s = apply(cataloged(), stage(['tool-a'], { 'tool-a': A }));
    const step = accepted(run(s, { type: 'CommitVisibilityFilter', filter: { kind: 'Deny', names: ['tool-a'] }, revision: 1 }));
    expect(step.state.active_filter).toEqual({ kind: 'Deny', names: ['tool-a'] });
    expect(step.state.active_visibility_revision).toBe(1);
    expect(step.state.filter_visibility_witnesses).toEqual({ 'tool-a': A });
    expect(step.effects).toEqual(refresh);
  });

  it('committing All drops the filter witnesses', () => {
    const s = apply(
      cataloged(),
      stage(['tool-a'], { 'tool-a': A }),
      { type: 'StageVisibilityFilter', filter: { kind: 'All' }, witnesses: {} },
    );
    const p = apply(s, { type: 'CommitVisibilityFilter', filter: { kind: 'All' }, revision: 2 });
    expect(p.filter_visibility_witnesses).toEqual({});
    expect(p.active_filter).toEqual({ kind: 'All' });
  });

  it('commit guards: staged filter, staged revision, monotone revision, catalog witnesses', () => {
    const s = apply(cataloged(), stage(['tool-a'], { 'tool-a': A }));
    rejected(run(s, { type: 'CommitVisibilityFilter', filter: { kind: 'Deny', names: ['tool-b'] }, revision: 1 }), 'filter_matches_machine_staged_filter');
    rejected(run(s, { type: 'CommitVisibilityFilter', filter: { kind: 'Deny', names: ['tool-a'] }, revision: 2 }), 'revision_matches_machine_staged_revision');
    const behind = { ...s, active_visibility_revision: 5 };
    rejected(
      run(behind, { type: 'CommitVisibilityFilter', filter: { kind: 'Deny', names: ['tool-a'] }, revision: 1 }),
      'active_visibility_revision_never_decreases',
    );
    const lost = { ...s, filter_visibility_authority_catalog: {} };
    rejected(
      run(lost, { type: 'CommitVisibilityFilter', filter: { kind: 'Deny', names: ['tool-a'] }, revision: 1 }),
      'staged_filter_witnesses_match_machine_catalog',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Deferred tools

describe('RequestDeferredTools / StageDeferredNames / CommitDeferredNames', () => {
  const request = (authorities: WitnessMap): VisibilityInput => ({ type: 'RequestDeferredTools', authorities });

  it('stages the requested names with their authorities and mints a revision (VIS-06)', () => {
    const step = accepted(run(cataloged(), request({ 'tool-a': A })));
    expect(step.state.staged_deferred_names).toEqual(['tool-a']);
    expect(step.state.staged_deferred_authorities).toEqual({ 'tool-a': A });
    expect(step.state.requested_visibility_witnesses).toEqual({ 'tool-a': A });
    expect(step.state.staged_visibility_revision).toBe(1);
    expect(step.state.next_staged_visibility_revision).toBe(1);
    expect(step.effects).toEqual([]);
    // accumulation: the extended set keeps the existing staged authority
    const next = accepted(run(step.state, request({ 'tool-a': A, 'tool-b': B })));
    expect(next.state.staged_deferred_names).toEqual(['tool-a', 'tool-b']);
    expect(next.state.staged_visibility_revision).toBe(2);
  });

  it('rejects empty, provenance-less, uncatalogued or changed authorities', () => {
    rejected(run(cataloged(), request({})), 'deferred_authorities_non_empty');
    rejected(run(cataloged(), request({ 'tool-a': KEY_ONLY_A })), 'deferred_authorities_have_identity');
    rejected(run(cataloged(), request({ 'tool-a': ROGUE_WITNESS })), 'deferred_authorities_match_machine_catalog');
    rejected(run(base(), request({ 'tool-a': A })), 'deferred_authorities_match_machine_catalog');
    rejected(run(cataloged('Idle', { session_id: null }), request({ 'tool-a': A })), 'session_registered');
    const variant: ToolVisibilityWitness = { stable_owner_key: null, last_seen_provenance: A.last_seen_provenance };
    const requested = apply(cataloged(), request({ 'tool-a': A }));
    rejected(run(requested, request({ 'tool-a': variant })), 'existing_requested_witness_preserved');
    rejected(run(requested, request({ 'tool-b': B })), 'existing_staged_authority_preserved');
  });

  it('is legal in Idle…Retired only', () => {
    for (const phase of ['Idle', 'Attached', 'Running', 'Retired'] as const) accepted(run(cataloged(phase), request({ 'tool-a': A })));
    noTransition(run(cataloged('Stopped'), request({ 'tool-a': A })));
  });

  it('StageDeferredNames accepts only the empty set, clears the staged request and mints', () => {
    const s = apply(cataloged(), request({ 'tool-a': A }));
    const step = accepted(run(s, { type: 'StageDeferredNames', names: [] }));
    expect(step.state.staged_deferred_names).toEqual([]);
    expect(step.state.staged_deferred_authorities).toEqual({});
    expect(step.state.requested_visibility_witnesses).toEqual({});
    expect(step.state.staged_visibility_revision).toBe(2);
    expect(step.effects).toEqual(refresh);
    rejected(run(s, { type: 'StageDeferredNames', names: ['tool-a'] }), 'deferred_names_empty');
  });

  it('StageDeferredNames keeps requested witnesses while deferred names are active', () => {
    const s = apply(cataloged(), request({ 'tool-a': A }), { type: 'CommitDeferredNames', authorities: { 'tool-a': A } });
    const p = apply(s, { type: 'StageDeferredNames', names: [] });
    expect(p.requested_visibility_witnesses).toEqual({ 'tool-a': A });
    expect(p.active_deferred_names).toEqual(['tool-a']);
  });

  it('CommitDeferredNames activates exactly the staged authorities', () => {
    const s = apply(cataloged(), request({ 'tool-a': A, 'tool-b': B }));
    const step = accepted(run(s, { type: 'CommitDeferredNames', authorities: { 'tool-b': B, 'tool-a': A } }));
    expect(step.state.active_deferred_names).toEqual(['tool-a', 'tool-b']);
    expect(step.state.active_deferred_authorities).toEqual({ 'tool-a': A, 'tool-b': B });
    expect(step.effects).toEqual(refresh);
    rejected(run(s, { type: 'CommitDeferredNames', authorities: { 'tool-a': A } }), 'authorities_match_machine_staged_authorities');
    // matching authorities but stale staged names / identity / catalog
    const skewed = { ...s, staged_deferred_names: ['tool-a'] };
    rejected(run(skewed, { type: 'CommitDeferredNames', authorities: { 'tool-a': A, 'tool-b': B } }), 'authority_names_match_machine_staged_names');
    const noProv = { ...cataloged(), staged_deferred_names: ['tool-a'], staged_deferred_authorities: { 'tool-a': KEY_ONLY_A } };
    rejected(run(noProv, { type: 'CommitDeferredNames', authorities: { 'tool-a': KEY_ONLY_A } }), 'deferred_authorities_have_identity');
    const noCat = { ...s, deferred_visibility_authority_catalog: {} };
    rejected(run(noCat, { type: 'CommitDeferredNames', authorities: { 'tool-a': A, 'tool-b': B } }), 'deferred_authorities_match_machine_catalog');
  });
});

// ---------------------------------------------------------------------------------------------
// Catalogs and overlay

describe('catalog replacement and turn overlay', () => {
  it('filter catalog replacement keeps every filter / overlay name backed', () => {
    const step = accepted(run(base(), { type: 'ReplaceFilterToolAuthorityCatalog', catalog: CANONICAL_WITNESS }));
    expect(step.state.filter_visibility_authority_catalog).toEqual(CANONICAL_WITNESS);
    rejected(run(base(), { type: 'ReplaceFilterToolAuthorityCatalog', catalog: { 'tool-a': EMPTY_WITNESS } }), 'filter_authority_catalog_has_identity');
    const inherited = cataloged('Idle', { inherited_base_filter: { kind: 'Deny', names: ['tool-a'] } });
    rejected(run(inherited, { type: 'ReplaceFilterToolAuthorityCatalog', catalog: { 'tool-b': B } }), 'inherited_filter_matches_replacement_catalog');
    const active = cataloged('Idle', { active_filter: { kind: 'Allow', names: ['tool-a'] }, filter_visibility_witnesses: { 'tool-a': A } });
    rejected(run(active, { type: 'ReplaceFilterToolAuthorityCatalog', catalog: { 'tool-a': B } }), 'active_filter_matches_replacement_catalog');
    const staged = cataloged('Idle', { staged_filter: { kind: 'Deny', names: ['tool-b'] } });
    rejected(run(staged, { type: 'ReplaceFilterToolAuthorityCatalog', catalog: { 'tool-a': A } }), 'staged_filter_matches_replacement_catalog');
    const overlay = cataloged('Idle', { turn_tool_overlay_allow_active: true, turn_tool_overlay_allow_names: ['tool-b'] });
    rejected(run(overlay, { type: 'ReplaceFilterToolAuthorityCatalog', catalog: { 'tool-a': A } }), 'turn_overlay_allow_matches_replacement_catalog');
    rejected(run(base('Idle', { session_id: null }), { type: 'ReplaceFilterToolAuthorityCatalog', catalog: {} }), 'session_registered');
  });

  it('deferred catalog replacement keeps active / staged authorities and live requested witnesses backed', () => {
    const s = apply(cataloged(), { type: 'RequestDeferredTools', authorities: { 'tool-a': A } });
    expect(accepted(run(s, { type: 'ReplaceDeferredToolAuthorityCatalog', catalog: { 'tool-a': A } })).state.deferred_visibility_authority_catalog).toEqual({
      'tool-a': A,
    });
    rejected(run(s, { type: 'ReplaceDeferredToolAuthorityCatalog', catalog: { 'tool-a': KEY_ONLY_A } }), 'deferred_authority_catalog_has_identity');
    rejected(run(s, { type: 'ReplaceDeferredToolAuthorityCatalog', catalog: { 'tool-b': B } }), 'staged_deferred_authorities_match_replacement_catalog');
    const committed = apply(s, { type: 'CommitDeferredNames', authorities: { 'tool-a': A } }, { type: 'StageDeferredNames', names: [] });
    rejected(
      run(committed, { type: 'ReplaceDeferredToolAuthorityCatalog', catalog: { 'tool-b': B } }),
      'active_deferred_authorities_match_replacement_catalog',
    );
    const liveRequested = cataloged('Idle', { staged_deferred_names: ['tool-a'], requested_visibility_witnesses: { 'tool-a': A } });
    rejected(
      run(liveRequested, { type: 'ReplaceDeferredToolAuthorityCatalog', catalog: { 'tool-b': B } }),
      'requested_witnesses_match_live_replacement_catalog',
    );
  });

  it('SetTurnToolOverlay / ClearTurnToolOverlay', () => {
    const p = apply(cataloged(), { type: 'SetTurnToolOverlay', allow_active: true, allow_names: ['tool-b', 'tool-a'], deny_names: ['x'] });
    expect([p.turn_tool_overlay_allow_active, p.turn_tool_overlay_allow_names, p.turn_tool_overlay_deny_names]).toEqual([
      true,
      ['tool-a', 'tool-b'],
      ['x'],
    ]);
    rejected(run(cataloged(), { type: 'SetTurnToolOverlay', allow_active: false, allow_names: ['tool-a'], deny_names: [] }), 'inactive_allow_carries_no_names');
    rejected(run(cataloged(), { type: 'SetTurnToolOverlay', allow_active: true, allow_names: ['zzz'], deny_names: [] }), 'allow_names_match_filter_authority_catalog');
    const cleared = apply(p, { type: 'ClearTurnToolOverlay' });
    expect([cleared.turn_tool_overlay_allow_active, cleared.turn_tool_overlay_allow_names, cleared.turn_tool_overlay_deny_names]).toEqual([
      false,
      [],
      [],
    ]);
    rejected(run(base('Idle', { session_id: null }), { type: 'ClearTurnToolOverlay' }), 'session_registered');
  });
});

// ---------------------------------------------------------------------------------------------
// Whole-state installs

const publish = (over: Partial<PublishCommittedVisibleSet> = {}): VisibilityInput => ({
  type: 'PublishCommittedVisibleSet',
  active_filter: { kind: 'All' },
  staged_filter: { kind: 'All' },
  active_requested_deferred_names: [],
  staged_requested_deferred_names: [],
  active_deferred_authorities: {},
  staged_deferred_authorities: {},
  active_visibility_revision: 1,
  staged_visibility_revision: 1,
  ...over,
});

describe('PublishCommittedVisibleSet', () => {
  it('installs the given state and raises the minting counter (VIS-01)', () => {
    const step = accepted(run(cataloged(), publish()));
    expect(step.state.active_visibility_revision).toBe(1);
    expect(step.state.staged_visibility_revision).toBe(1);
    expect(step.state.next_staged_visibility_revision).toBe(1);
    expect(step.effects).toEqual([{ type: 'CommittedVisibleSetPublished', revision: 1 }]);

    const ahead = accepted(
      run(
        cataloged(),
        publish({
          active_visibility_revision: 5,
          staged_visibility_revision: 3,
          active_filter: { kind: 'Deny', names: ['tool-a'] },
          active_requested_deferred_names: ['tool-a'],
          staged_requested_deferred_names: ['tool-a', 'tool-b'],
          active_deferred_authorities: { 'tool-a': A },
          staged_deferred_authorities: { 'tool-a': A, 'tool-b': B },
        }),
      ),
    ).state;
    expect(ahead.active_visibility_revision).toBe(5);
    expect(ahead.staged_visibility_revision).toBe(3);
    expect(ahead.active_filter).toEqual({ kind: 'Deny', names: ['tool-a'] });
    expect(ahead.active_deferred_names).toEqual(['tool-a']);
    expect(ahead.staged_deferred_names).toEqual(['tool-a', 'tool-b']);
    expect(ahead.staged_deferred_authorities).toEqual({ 'tool-a': A, 'tool-b': B });
    expect(ahead.next_staged_visibility_revision).toBe(5);
  });

  it('never lowers the minting counter and is idempotent', () => {
    const s = cataloged('Idle', { next_staged_visibility_revision: 9 });
    const once = accepted(run(s, publish())).state;
    expect(once.next_staged_visibility_revision).toBe(9);
    expect(accepted(run(once, publish())).state).toEqual(once);
  });

  it('guard set: revisions, equal contents, subset, coverage, scoping, provenance, catalog', () => {
    const s = cataloged();
    rejected(run(s, publish({ active_visibility_revision: 1, staged_visibility_revision: 2 })), 'active_not_behind_staged');
    rejected(
      run(s, publish({ staged_filter: { kind: 'Deny', names: ['tool-a'] } })),
      'equal_revision_requires_equal_active_and_staged_input',
    );
    rejected(
      run(s, publish({ staged_requested_deferred_names: ['tool-a'], staged_deferred_authorities: { 'tool-a': A } })),
      'equal_revision_requires_equal_active_and_staged_input',
    );
    const ahead = { active_visibility_revision: 2, staged_visibility_revision: 1 };
    rejected(
      run(s, publish({ ...ahead, active_requested_deferred_names: ['tool-a'], active_deferred_authorities: { 'tool-a': A } })),
      'active_requested_subset_of_staged_requested',
    );
    rejected(
      run(s, publish({ ...ahead, staged_requested_deferred_names: ['tool-a'], active_requested_deferred_names: ['tool-a'], staged_deferred_authorities: { 'tool-a': A } })),
      'active_deferred_authorities_cover_names',
    );
    rejected(run(s, publish({ ...ahead, staged_requested_deferred_names: ['tool-a'] })), 'staged_deferred_authorities_cover_names');
    rejected(run(s, publish({ ...ahead, active_deferred_authorities: { 'tool-a': A } })), 'active_deferred_authorities_are_name_scoped');
    rejected(run(s, publish({ ...ahead, staged_deferred_authorities: { 'tool-a': A } })), 'staged_deferred_authorities_are_name_scoped');
    rejected(
      run(s, publish({ ...ahead, active_requested_deferred_names: ['tool-a'], staged_requested_deferred_names: ['tool-a'], active_deferred_authorities: { 'tool-a': KEY_ONLY_A }, staged_deferred_authorities: { 'tool-a': A } })),
      'active_deferred_authorities_have_identity',
    );
    rejected(
      run(s, publish({ ...ahead, staged_requested_deferred_names: ['tool-a'], staged_deferred_authorities: { 'tool-a': KEY_ONLY_A } })),
      'staged_deferred_authorities_have_identity',
    );
    rejected(
      run(s, publish({ ...ahead, staged_requested_deferred_names: ['tool-a'], staged_deferred_authorities: { 'tool-a': ROGUE_WITNESS } })),
      'visibility_authority_matches_machine_catalog',
    );
    rejected(run(base('Idle', { session_id: null }), publish()), 'session_registered');
  });

  it('is legal in Idle…Retired only', () => {
    for (const phase of ['Idle', 'Attached', 'Running', 'Retired'] as const) accepted(run(cataloged(phase), publish()));
    for (const phase of ['Initializing', 'Stopped', 'Destroyed'] as const) noTransition(run(cataloged(phase), publish()));
  });
});

describe('ReplaceVisibilityState / SyncVisibilityRevisions', () => {
  const replacement = (over: Partial<ReplaceVisibilityState> = {}): VisibilityInput => ({
    type: 'ReplaceVisibilityState',
    inherited_base_filter: { kind: 'Deny', names: ['tool-b'] },
    active_filter: { kind: 'Deny', names: ['tool-a'] },
    staged_filter: { kind: 'All' },
    active_revision: 2,
    staged_revision: 4,
    active_deferred_names: ['tool-a'],
    staged_deferred_names: ['tool-b'],
    requested_witnesses: { 'tool-a': A, 'tool-b': B },
    filter_witnesses: { 'tool-a': A },
    active_deferred_authorities: { 'tool-a': A },
    staged_deferred_authorities: { 'tool-b': B },
    ...over,
  });

  it('replaces the visibility fields but leaves the minting counter to SyncVisibilityRevisions', () => {
    const p = accepted(run(base(), replacement())).state;
    expect(p.inherited_base_filter).toEqual({ kind: 'Deny', names: ['tool-b'] });
    expect(p.active_filter).toEqual({ kind: 'Deny', names: ['tool-a'] });
    expect(p.staged_visibility_revision).toBe(4);
    expect(p.active_visibility_revision).toBe(2);
    expect(p.requested_visibility_witnesses).toEqual({ 'tool-a': A, 'tool-b': B });
    expect(p.filter_visibility_witnesses).toEqual({ 'tool-a': A });
    expect(p.next_staged_visibility_revision).toBe(0);
    const synced = accepted(run(p, { type: 'SyncVisibilityRevisions', active_revision: 2, staged_revision: 4 }));
    expect(synced.state.next_staged_visibility_revision).toBe(4);
    expect(synced.effects).toEqual([]);
    // the counter already covers both revisions → refused (the shell's idempotent no-op)
    rejected(run(synced.state, { type: 'SyncVisibilityRevisions', active_revision: 2, staged_revision: 4 }), 'revision_watermark_advances');
    rejected(run(synced.state, { type: 'SyncVisibilityRevisions', active_revision: 1, staged_revision: 0 }), 'revision_watermark_advances');
    // staging after the sync mints past the installed revisions
    expect(apply(synced.state, { type: 'StageDeferredNames', names: [] }).staged_visibility_revision).toBe(5);
  });

  it('replacement guards', () => {
    rejected(run(base('Idle', { session_id: null }), replacement()), 'session_registered');
    rejected(run(base(), replacement({ active_revision: 3, staged_revision: 3 })), 'equal_revision_requires_equal_active_and_staged_input');
    rejected(run(base(), replacement({ active_deferred_authorities: {} })), 'active_deferred_authorities_cover_names');
    rejected(run(base(), replacement({ staged_deferred_authorities: {} })), 'staged_deferred_authorities_cover_names');
    rejected(run(base(), replacement({ active_deferred_authorities: { 'tool-a': A, 'tool-b': B } })), 'active_deferred_authorities_are_name_scoped');
    rejected(run(base(), replacement({ staged_deferred_authorities: { 'tool-a': A, 'tool-b': B } })), 'staged_deferred_authorities_are_name_scoped');
    rejected(run(base(), replacement({ active_deferred_authorities: { 'tool-a': KEY_ONLY_A } })), 'active_deferred_authorities_have_identity');
    rejected(run(base(), replacement({ staged_deferred_authorities: { 'tool-b': EMPTY_WITNESS } })), 'staged_deferred_authorities_have_identity');
  });
});

describe('BoundaryApplied', () => {
  it('publishes the committed revision in Running only', () => {
    const s = base('Running');
    const step = accepted(run(s, { type: 'BoundaryApplied', revision: 7 }));
    expect(step.transition).toBe('BoundaryAppliedPublish');
    expect(step.state).toEqual(s);
    expect(step.effects).toEqual([{ type: 'CommittedVisibleSetPublished', revision: 7 }]);
    for (const phase of ['Initializing', 'Idle', 'Attached', 'Retired', 'Stopped', 'Destroyed'] as const) {
      noTransition(run(base(phase), { type: 'BoundaryApplied', revision: 7 }));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties (machine.md §9.2 items 1 and 17)

describe('properties', () => {
  it('revisions: the minting counter never decreases, staging mints fresh revisions, commits never lower the active revision, publish leaves active ≥ staged', () => {
    fc.assert(
      fc.property(fc.constantFrom<Phase>(...LIVE), fc.array(visibilityInputArb, { maxLength: 60 }), (phase, inputs) => {
        let s = cataloged(phase);
        for (const input of inputs) {
          const before = JSON.stringify(s);
          const step = run(s, input);
          if (!step.ok) {
            expect(JSON.stringify(s)).toBe(before);
            continue;
          }
          const p = step.state;
          expect(p.next_staged_visibility_revision).toBeGreaterThanOrEqual(s.next_staged_visibility_revision);
          if (['StageVisibilityFilter', 'StageDeferredNames', 'RequestDeferredTools'].includes(input.type)) {
            expect(p.next_staged_visibility_revision).toBe(s.next_staged_visibility_revision + 1);
            expect(p.staged_visibility_revision).toBe(p.next_staged_visibility_revision);
          }
          if (input.type === 'CommitVisibilityFilter') {
            expect(p.active_visibility_revision).toBeGreaterThanOrEqual(s.active_visibility_revision);
          }
          if (input.type === 'PublishCommittedVisibleSet') {
            expect(p.active_visibility_revision).toBeGreaterThanOrEqual(p.staged_visibility_revision);
            expect(p.next_staged_visibility_revision).toBeGreaterThanOrEqual(p.active_visibility_revision);
          }
          // committed deferred authorities always cover exactly the committed names
          expect(Object.keys(p.active_deferred_authorities).sort()).toEqual([...p.active_deferred_names]);
          s = p;
        }
      }),
      { numRuns: 300 },
    );
  });
});
