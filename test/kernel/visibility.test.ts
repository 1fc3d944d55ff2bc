/**
 * VIS scenarios (scenarios.md §12): the machine-owned tool-visibility state.
 *
 * The authority catalogs are "replaced wholesale by whoever builds the tool set"
 * (commands.md §2.11); the kernel has no public command for that, so the Given
 * steps seed them through the session's reducer (`kernel.core.mutateSession`).
 */
import { describe, expect, it } from 'vitest';
import { newId, type MeerkatMachine } from '../../src/kernel/index.js';
import type { SessionToolVisibilityState } from '../../src/kernel/commands/visibility-view.js';
import type { ToolVisibilityWitness } from '../../src/machine/index.js';
import { expectKernelError, registered, stateSnapshot, withKernel } from './support-b.js';

const callbackWitness: ToolVisibilityWitness = { stable_owner_key: 'callback:test', last_seen_provenance: null };
const deferredWitness: ToolVisibilityWitness = {
  stable_owner_key: 'mcp:catalog',
  last_seen_provenance: { kind: 'mcp', source_id: 'server-1' },
};

const DEFAULT_VISIBILITY: SessionToolVisibilityState = {
  inherited_base_filter: { kind: 'All' },
  active_filter: { kind: 'All' },
  staged_filter: { kind: 'All' },
  active_requested_deferred_names: [],
  staged_requested_deferred_names: [],
  active_revision: 0,
  staged_revision: 0,
  requested_witnesses: {},
  filter_witnesses: {},
};

/** Seeds the session's filter and/or deferred-tool authority catalogs (the tool-set builder's job). */
async function seedCatalogs(
  k: MeerkatMachine,
  s: string,
  catalogs: { filter?: Record<string, ToolVisibilityWitness>; deferred?: Record<string, ToolVisibilityWitness> },
): Promise<void> {
  await k.core.mutateSession(k.core.session(s), 'SeedToolCatalogs', () => [
    ...(catalogs.filter ? [{ type: 'ReplaceFilterToolAuthorityCatalog' as const, catalog: catalogs.filter }] : []),
    ...(catalogs.deferred ? [{ type: 'ReplaceDeferredToolAuthorityCatalog' as const, catalog: catalogs.deferred }] : []),
  ]);
}

async function bound(k: MeerkatMachine): Promise<[string, string]> {
  const [s, rt] = await registered(k);
  await k.session.prepareBindings(s);
  return [s, rt];
}

describe('VIS: tool visibility', () => {
  it('VIS-01 PublishCommittedVisibleSet replaces the machine-owned state', async () => {
    await withKernel({}, async (k) => {
      const [s] = await bound(k);
      const v1: SessionToolVisibilityState = { ...DEFAULT_VISIBILITY, active_revision: 1, staged_revision: 1 };
      expect(await k.session.publishCommittedVisibleSet(s, v1)).toEqual(v1);
      expect(k.session.visibilityState(s)).toEqual(v1);
      // Idempotent: the same state again is accepted.
      expect(await k.session.publishCommittedVisibleSet(s, v1)).toEqual(v1);

      const v2: SessionToolVisibilityState = {
        ...DEFAULT_VISIBILITY,
        staged_filter: { kind: 'Deny', names: ['secret'] },
        active_revision: 5,
        staged_revision: 3,
      };
      expect(await k.session.publishCommittedVisibleSet(s, v2)).toEqual(v2);
      expect(k.session.visibilityState(s)).toEqual(v2);
      // The minting counter never goes back behind the published active revision.
      expect(k.core.session(s).state.next_staged_visibility_revision).toBeGreaterThanOrEqual(5);
    });
  });

  it('VIS-03 PublishCommittedVisibleSet on unknown or destroyed sessions', async () => {
    await withKernel({}, async (k) => {
      const unknown = newId();
      await expectKernelError(() => k.session.publishCommittedVisibleSet(unknown, DEFAULT_VISIBILITY), 'SESSION_NOT_FOUND');
      expect(k.session.containsSession(unknown)).toBe(false);
      const [s, rt] = await bound(k);
      await k.control.destroy(rt);
      const before = stateSnapshot(k, s);
      await expectKernelError(() => k.session.publishCommittedVisibleSet(s, DEFAULT_VISIBILITY), 'RUNTIME_DESTROYED');
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('VIS-04 StagePersistentFilter stages a filter that has witnesses', async () => {
    await withKernel({}, async (k) => {
      const [s] = await bound(k);
      await seedCatalogs(k, s, { filter: { secret: callbackWitness } });
      const r = await k.session.stagePersistentFilter(s, { kind: 'Deny', names: ['secret'] }, { secret: callbackWitness });
      const v = k.session.visibilityState(s);
      expect(v.staged_filter).toEqual({ kind: 'Deny', names: ['secret'] });
      expect(v.staged_revision).toBe(r);
      expect(v.active_revision).toBe(0);
      expect(v.active_filter).toEqual({ kind: 'All' });
      expect(v.filter_witnesses).toEqual({ secret: callbackWitness });
    });
  });

  it('VIS-04 StagePersistentFilter with witnesses and no filter catalog entry extends the catalog (commands.md §3.2.16)', async () => {
    await withKernel({}, async (k) => {
      const [s] = await bound(k);
      const r = await k.session.stagePersistentFilter(s, { kind: 'Deny', names: ['secret'] }, { secret: callbackWitness });
      const v = k.session.visibilityState(s);
      expect(v.staged_filter).toEqual({ kind: 'Deny', names: ['secret'] });
      expect(v.staged_revision).toBe(r);
      expect(v.active_revision).toBe(0);
      expect(k.core.session(s).state.filter_visibility_authority_catalog).toEqual({ secret: callbackWitness });
      // A second staging reuses the catalog entry and mints the next revision.
      expect(await k.session.stagePersistentFilter(s, { kind: 'Deny', names: ['secret'] }, { secret: callbackWitness })).toBe(r + 1);
    });
  });

  it('VIS-05 StagePersistentFilter rejects a filter missing witnesses', async () => {
    await withKernel({}, async (k) => {
      const [s] = await bound(k);
      const before = stateSnapshot(k, s);
      const e = await expectKernelError(
        () => k.session.stagePersistentFilter(s, { kind: 'Deny', names: ['secret'] }, {}),
        'INVALID_ARGUMENT',
        /secret/,
      );
      expect(e.violations).toEqual([expect.objectContaining({ field: 'witnesses.secret' })]);
      expect(k.session.visibilityState(s)).toEqual(DEFAULT_VISIBILITY);
      expect(k.session.visibilityState(s).staged_filter).toEqual({ kind: 'All' });
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('VIS-06 RequestDeferredTools stages requested names together with their authority', async () => {
    await withKernel({}, async (k) => {
      const [s] = await bound(k);
      await seedCatalogs(k, s, { deferred: { deferred_tool: deferredWitness } });

      // A provenance that does not match the catalog is refused and stages nothing.
      const before = stateSnapshot(k, s);
      const mismatched: ToolVisibilityWitness = { ...deferredWitness, last_seen_provenance: { kind: 'mcp', source_id: 'impostor' } };
      const e = await expectKernelError(
        () => k.session.requestDeferredTools(s, [{ name: 'deferred_tool', witness: mismatched }]),
        'GUARD_REJECTED',
      );
      expect(e.metadata.guard).toBe('deferred_authorities_match_machine_catalog');
      expect(stateSnapshot(k, s)).toEqual(before);
      expect(k.session.visibilityState(s).staged_requested_deferred_names).toEqual([]);

      const r = await k.session.requestDeferredTools(s, [{ name: 'deferred_tool', witness: deferredWitness }]);
      const v = k.session.visibilityState(s);
      expect(v.staged_requested_deferred_names).toContain('deferred_tool');
      expect(v.staged_revision).toBe(r);
      expect(v.requested_witnesses.deferred_tool).toEqual(deferredWitness);
      expect(v.active_requested_deferred_names).toEqual([]);

      // A tool the catalog does not expose is refused too.
      const staged = stateSnapshot(k, s);
      await expectKernelError(
        () => k.session.requestDeferredTools(s, [{ name: 'deferred_tool', witness: deferredWitness }, { name: 'other', witness: deferredWitness }]),
        'GUARD_REJECTED',
      );
      expect(stateSnapshot(k, s)).toEqual(staged);
    });
  });
});
