/**
 * RUN scenarios (scenarios.md §5): the legacy Prepare / Commit / Fail lane.
 * Errors follow the binding decisions (README): phase → INVALID_PHASE,
 * guard → GUARD_REJECTED, bad arguments → INVALID_ARGUMENT, store failure → STORE_UNAVAILABLE.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryRuntimeStore, newId, type RoutedSignal } from '../../src/kernel/index.js';
import { initialMachineState } from '../../src/machine/index.js';
import {
  expectKernelError,
  machineState,
  prompt,
  registered,
  stateSnapshot,
  withKernel,
} from './support-b.js';

describe('RUN: legacy prepare / commit / fail lane', () => {
  it('RUN-01 Prepare stages the input and starts a run', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      expect(k.session.listActiveInputs(s)).toEqual([]);
      const prepared = await k.legacyRun.prepare(s, prompt('x'));
      expect(prepared.input_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(prepared.run_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(prepared.primitive.run_id).toBe(prepared.run_id);
      expect(prepared.primitive.inputs.map((i) => i.input_id)).toEqual([prepared.input_id]);
      expect(k.control.runtimeState(rt)).toBe('running');
      const row = await k.session.inputState(s, prepared.input_id);
      expect(row?.phase).toBe('staged');
      expect(row?.last_run_id).toBe(prepared.run_id);
      expect(row?.terminal_outcome).toBeNull();
    });
  });

  it('RUN-02 Commit with a matching run and input consumes exactly once and restores the pre-run phase', async () => {
    const store = new InMemoryRuntimeStore();
    await withKernel(
      {},
      async (k) => {
        const [s, rt] = await registered(k);
        const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
        await k.legacyRun.commit(s, id, run, { run_id: run, contributing_input_ids: [id], conversation_digest: 'session-data' });
        expect(k.control.runtimeState(rt)).toBe('idle');
        expect(machineState(k, s).current_run_id).toBeNull();
        const row = await k.session.inputState(s, id);
        expect(row?.phase).toBe('consumed');
        expect(row?.terminal_outcome).toEqual({ outcome_type: 'consumed' });
        expect(row?.history.filter((h) => h.to === 'consumed')).toHaveLength(1);
        const seq = row?.last_boundary_sequence;
        expect(typeof seq).toBe('number');
        const receipt = await k.control.loadBoundaryReceipt(rt, run, seq as number);
        expect(receipt).toMatchObject({ run_id: run, contributing_input_ids: [id], conversation_digest: 'session-data' });
        // The durable row agrees with the live one.
        expect((await store.loadInput(rt, id))?.terminal_outcome).toEqual({ outcome_type: 'consumed' });
        // A second commit of the same run is refused: the run is closed.
        await expectKernelError(
          () => k.legacyRun.commit(s, id, run, { run_id: run, contributing_input_ids: [id] }),
          'INVALID_PHASE',
        );
        expect((await k.session.inputState(s, id))?.history.filter((h) => h.to === 'consumed')).toHaveLength(1);
      },
      { store },
    );
  });

  it('RUN-04 Commit naming the wrong input is rejected, and the run can still be failed', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
      const before = stateSnapshot(k, s);
      const e = await expectKernelError(
        () => k.legacyRun.commit(s, newId(), run, { run_id: run, contributing_input_ids: [id] }),
        'INVALID_ARGUMENT',
      );
      expect(e.violations.map((v) => v.field)).toContain('input_id');
      expect(stateSnapshot(k, s)).toEqual(before);
      expect(k.session.containsSession(s)).toBe(true);
      expect(k.control.runtimeState(rt)).toBe('running');
      expect((await k.session.inputState(s, id))?.phase).toBe('staged');
      await k.legacyRun.fail(s, run, { cause_kind: 'FatalFailure', message: 'unwind' });
      expect(k.control.runtimeState(rt)).toBe('idle');
      expect(machineState(k, s).current_run_id).toBeNull();
      // Decision 4: a failed run puts its input back in its lane for a retry (attempt 1 of 3).
      const row = await k.session.inputState(s, id);
      expect(row?.phase).toBe('queued');
      expect(row?.attempt_count).toBe(1);
      expect(row?.terminal_outcome).toBeNull();
      expect(k.session.listActiveInputs(s)).toEqual([id]);
    });
  });

  it('RUN-06 Fail with an unknown run id is rejected', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
      const before = stateSnapshot(k, s);
      const e = await expectKernelError(
        () => k.legacyRun.fail(s, newId(), { cause_kind: 'FatalFailure', message: 'nope' }),
        'GUARD_REJECTED',
      );
      expect(e.metadata).toMatchObject({ guard: 'run_matches_current', phase: 'Running' });
      expect(stateSnapshot(k, s)).toEqual(before);
      expect(k.session.containsSession(s)).toBe(true);
      expect(k.control.runtimeState(rt)).toBe('running');
      expect(machineState(k, s).current_run_id).toBe(run);
      expect((await k.session.inputState(s, id))?.phase).toBe('staged');
    });
  });

  it('RUN-09 Prepare refuses a duplicate of already-active work', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const first = await k.ingress.acceptWithoutWake(s, prompt('first', { idempotency_key: 'sync-dedup' }));
      expect(first.type).toBe('accepted');
      const before = stateSnapshot(k, s);
      await expectKernelError(
        () => k.legacyRun.prepare(s, prompt('duplicate', { idempotency_key: 'sync-dedup' })),
        'INVALID_ARGUMENT',
        /does not support deduplicated admission/,
      );
      expect(stateSnapshot(k, s)).toEqual(before);
      expect((await k.session.inputState(s, first.input_id))?.phase).toBe('queued');
      expect(k.session.listActiveInputs(s)).toEqual([first.input_id]);
    });
  });

  it('RUN-10 Prepare refuses while other work is active or a run is in progress', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      await k.ingress.acceptWithoutWake(s, prompt('unrelated'));
      const e1 = await expectKernelError(() => k.legacyRun.prepare(s, prompt('new')), 'INVALID_PHASE');
      expect(e1.metadata.phase).toBe('Idle');
      expect(k.session.listActiveInputs(s)).toHaveLength(1);

      const [s2] = await registered(k);
      await k.legacyRun.prepare(s2, prompt('open'));
      const before = stateSnapshot(k, s2);
      const e2 = await expectKernelError(() => k.legacyRun.prepare(s2, prompt('second')), 'INVALID_PHASE');
      expect(e2.metadata.phase).toBe('Running');
      expect(stateSnapshot(k, s2)).toEqual(before);
    });
  });

  it('RUN-11 Commit outside a run is rejected and publishes no signal', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const signals: RoutedSignal[] = [];
      const off = k.onSignal((sig) => signals.push(sig));
      const before = stateSnapshot(k, s);
      const missingInput = newId();
      const missingRun = newId();
      await expectKernelError(
        () => k.legacyRun.commit(s, missingInput, missingRun, { run_id: missingRun, contributing_input_ids: [missingInput] }),
        'INVALID_PHASE',
      );
      // Non-uuid ids are refused before any phase check.
      await expectKernelError(
        () => k.legacyRun.commit(s, 'missing-input', 'missing-run', { run_id: 'missing-run', contributing_input_ids: [] }),
        'INVALID_ARGUMENT',
      );
      off();
      expect(signals).toEqual([]);
      expect(stateSnapshot(k, s)).toEqual(before);
      expect(k.control.runtimeState(rt)).toBe('idle');
      expect(machineState(k, s).active_runtime_id).toBeNull();
      expect(machineState(k, s).active_fence_token).toBeNull();
    });
  });

  it('RUN-12 A failed durable boundary write on the synchronous path leaves the run staged and persists nothing', async () => {
    const store = new InMemoryRuntimeStore();
    await withKernel(
      {},
      async (k) => {
        const [s, rt] = await registered(k);
        const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
        const storedBefore = await store.loadSession(rt);
        store.failNextCommits = { count: 1, message: 'synthetic atomic_apply failure' };
        await expectKernelError(
          () => k.legacyRun.commit(s, id, run, { run_id: run, contributing_input_ids: [id] }),
          'STORE_UNAVAILABLE',
          /synthetic atomic_apply failure/,
        );
        expect(k.session.containsSession(s)).toBe(true);
        expect(k.control.runtimeState(rt)).toBe('running');
        expect((await k.session.inputState(s, id))?.phase).toBe('staged');
        for (const seq of [0, 1, 2]) expect(await k.control.loadBoundaryReceipt(rt, run, seq)).toBeNull();
        expect(await store.loadSession(rt)).toBe(storedBefore);
        expect((await store.loadInput(rt, id))?.phase).toBe('staged');
        // Once the store heals, the same commit goes through.
        await k.legacyRun.commit(s, id, run, { run_id: run, contributing_input_ids: [id] });
        expect((await k.session.inputState(s, id))?.phase).toBe('consumed');
      },
      { store },
    );
  });

  it('RUN-13 A successful persistent commit uses one atomic durable write', async () => {
    const store = new InMemoryRuntimeStore();
    await withKernel(
      {},
      async (k) => {
        const [s, rt] = await registered(k);
        const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
        const commitsBefore = store.commitCount;
        await k.legacyRun.commit(s, id, run, { run_id: run, contributing_input_ids: [id] });
        expect(store.commitCount - commitsBefore).toBe(1);
        const row = await store.loadInput(rt, id);
        expect(row?.phase).toBe('consumed');
        expect(row?.terminal_outcome).toEqual({ outcome_type: 'consumed' });
        const receipt = await store.loadBoundaryReceipt(rt, run, row?.last_boundary_sequence ?? -1);
        expect(receipt?.contributing_input_ids).toEqual([id]);
        expect((await store.loadSession(rt))?.machine.lifecycle_phase).toBe('Idle');
      },
      { store },
    );
  });

  it('RUN-14 If persisting a failed run fails, the run stays staged', async () => {
    const store = new InMemoryRuntimeStore();
    await withKernel(
      {},
      async (k) => {
        const [s, rt] = await registered(k);
        const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
        const docBefore = await store.loadSession(rt);
        store.failNextCommits = { count: 1, message: 'synthetic commit_machine_lifecycle failure' };
        await expectKernelError(
          () => k.legacyRun.fail(s, run, { cause_kind: 'RuntimeApplyFailure', message: 'executor-internal' }),
          'STORE_UNAVAILABLE',
          /synthetic commit_machine_lifecycle failure/,
        );
        expect(k.control.runtimeState(rt)).toBe('running');
        expect(machineState(k, s).current_run_id).toBe(run);
        expect((await k.session.inputState(s, id))?.phase).toBe('staged');
        // The failed write changed nothing durable: the same document, the input row still staged on the run.
        expect(await store.loadSession(rt)).toBe(docBefore);
        const row = await store.loadInput(rt, id);
        expect(row?.phase).toBe('staged');
        expect(row?.last_run_id).toBe(run);
      },
      { store },
    );
  });

  it('RUN-16 LoadBoundaryReceipt: canonical id only, raw alias refused, nothing for an unknown run', async () => {
    const store = new InMemoryRuntimeStore();
    const s = newId();
    const run = newId();
    // A receipt stored under the raw alias "<S>" (legacy storage).
    await store.commit({
      session_id: s,
      runtime_id: s,
      document: { session_id: s, runtime_id: s, durable_phase: 'Idle', machine: initialMachineState(), epoch_id: newId(), updated_at: 0 },
      inputs: [],
      receipt: { run_id: run, boundary: 'RunStart', contributing_input_ids: [], conversation_digest: null, message_count: 0, sequence: 0 },
      signals: [],
    });
    await withKernel(
      {},
      async (k) => {
        await k.session.registerSession(s);
        const rt = `rt:session:${s}`;
        expect(await k.control.loadBoundaryReceipt(rt, run, 0)).toBeNull();
        const e = await expectKernelError(() => k.control.loadBoundaryReceipt(s, run, 0), 'INVALID_ARGUMENT', /bare session uuid/);
        expect(e.violations[0]?.field).toBe('runtime_id');
        expect(await k.control.loadBoundaryReceipt(rt, newId(), 0)).toBeNull();
      },
      { store },
    );
    // A fresh in-memory kernel has no receipts at all.
    await withKernel({}, async (k) => {
      const [, rt] = await registered(k);
      expect(await k.control.loadBoundaryReceipt(rt, newId(), 0)).toBeNull();
    });
  });
});
