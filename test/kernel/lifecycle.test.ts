/**
 * LIFE scenarios (scenarios.md §6): retire / recycle / reset / recover /
 * destroy / stop. Error codes follow the binding decisions (README):
 * illegal phase → INVALID_PHASE (metadata phase), destroyed → RUNTIME_DESTROYED.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryRuntimeStore, TERMINATION_REASONS } from '../../src/kernel/index.js';
import {
  CountingExecutor,
  GatedExecutor,
  StopBlockExecutor,
  attached,
  expectKernelError,
  machineState,
  peek,
  progress,
  prompt,
  registered,
  settle,
  stateSnapshot,
  steer,
  waitFor,
  withKernel,
} from './support-b.js';

const abandoned = (reason: string) => ({ outcome_type: 'abandoned', reason, attempts: null });

describe('LIFE: lifecycle control', () => {
  it('LIFE-01 Retire with no loop abandons queued work', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const a = await k.ingress.acceptWithCompletion(s, prompt('a'));
      const b = await k.ingress.acceptWithCompletion(s, prompt('b'));
      expect(await k.control.retire(rt)).toEqual({ inputs_abandoned: 2, inputs_pending_drain: 0 });
      expect(k.control.runtimeState(rt)).toBe('retired');
      expect(k.session.listActiveInputs(s)).toEqual([]);
      for (const r of [a, b]) {
        const row = await k.session.inputState(s, r.outcome.input_id);
        expect(row?.phase).toBe('abandoned');
        expect(row?.terminal_outcome).toEqual(abandoned('retired'));
        expect(await r.handle?.outcome).toEqual({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.retiredWithoutLoop });
      }
    });
  });

  it('LIFE-03 A retired session rejects new input', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      await k.ingress.acceptWithCompletion(s, prompt('before'));
      await k.control.retire(rt);
      const before = stateSnapshot(k, s);
      const viaAccept = await expectKernelError(() => k.ingress.acceptWithoutWake(s, prompt('x')), 'INVALID_PHASE');
      expect(viaAccept.metadata.phase).toBe('Retired');
      const viaIngest = await expectKernelError(() => k.control.ingest(rt, prompt('x')), 'INVALID_PHASE');
      expect(viaIngest.metadata.phase).toBe('Retired');
      const viaCompletion = await expectKernelError(() => k.ingress.acceptWithCompletion(s, prompt('x')), 'INVALID_PHASE');
      expect(viaCompletion.metadata.phase).toBe('Retired');
      expect(k.session.listActiveInputs(s)).toEqual([]);
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('LIFE-04 Retire is idempotent from Retired', async () => {
    await withKernel({}, async (k) => {
      const [, rt] = await registered(k);
      await k.control.retire(rt);
      expect(await k.control.retire(rt)).toEqual({ inputs_abandoned: 0, inputs_pending_drain: 0 });
      expect(k.control.runtimeState(rt)).toBe('retired');
    });
  });

  it('LIFE-05 Reset from Retired returns to Idle and accepts again', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      await k.control.retire(rt);
      expect(await k.control.reset(rt)).toEqual({ inputs_abandoned: 0 });
      expect(k.control.runtimeState(rt)).toBe('idle');
      const r = await k.ingress.acceptWithCompletion(s, prompt('hello'));
      expect(r.outcome.type).toBe('accepted');
      expect(k.session.listActiveInputs(s)).toEqual([r.outcome.input_id]);
    });
  });

  it('LIFE-06 Reset abandons queued work without running it', async () => {
    const ex = new CountingExecutor('result');
    await withKernel({ rec: ex }, async (k) => {
      const [s, rt] = await attached(k, 'rec');
      const r = await k.ingress.acceptWithCompletion(s, progress('reset'));
      expect(r.admission_signal).toBe('None');
      await settle();
      expect(ex.applyCount).toBe(0);
      expect(await k.control.reset(rt)).toEqual({ inputs_abandoned: 1 });
      expect(await r.handle?.outcome).toEqual({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.reset });
      await settle();
      expect(ex.applyCount).toBe(0);
      expect(ex.stopCount).toBe(0);
      expect(k.control.runtimeState(rt)).toBe('idle');
      expect(k.session.listActiveInputs(s)).toEqual([]);
      expect((await k.session.inputState(s, r.outcome.input_id))?.terminal_outcome).toEqual(abandoned('reset'));
    });
  });

  it('LIFE-07 Reset is refused while a run is active', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const { input_id } = await k.legacyRun.prepare(s, prompt('running'));
      const before = stateSnapshot(k, s);
      const e = await expectKernelError(() => k.control.reset(rt), 'INVALID_PHASE', /Reset/, /Running/);
      expect(e.metadata.phase).toBe('Running');
      expect(stateSnapshot(k, s)).toEqual(before);
      expect(k.control.runtimeState(rt)).toBe('running');
      expect((await k.session.inputState(s, input_id))?.phase).toBe('staged');
    });
  });

  it('LIFE-08 Destroy abandons everything and is terminal, but the entry remains queryable', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const a = await k.ingress.acceptWithoutWake(s, prompt('a'));
      const b = await k.ingress.acceptWithoutWake(s, prompt('b'));
      expect(await k.control.destroy(rt)).toEqual({ inputs_abandoned: 2 });
      expect(k.control.runtimeState(rt)).toBe('destroyed');
      expect(k.session.listActiveInputs(s)).toEqual([]);
      expect(k.session.containsSession(s)).toBe(true);
      for (const r of [a, b]) {
        expect((await k.session.inputState(s, r.input_id))?.terminal_outcome).toEqual(abandoned('destroyed'));
      }
      // Terminal: nothing brings it back.
      await expectKernelError(() => k.control.destroy(rt), 'RUNTIME_DESTROYED');
      expect(k.control.runtimeState(rt)).toBe('destroyed');

      const [, rt2] = await registered(k);
      await k.control.retire(rt2);
      expect(await k.control.destroy(rt2)).toEqual({ inputs_abandoned: 0 });
      expect(k.control.runtimeState(rt2)).toBe('destroyed');
    });
  });

  it('LIFE-09 Stop with no loop abandons everything and lands in Stopped', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const r = await k.ingress.acceptWithCompletion(s, prompt('stop me'));
      await k.session.stopRuntimeExecutor(s, 'operator stop');
      expect(k.control.runtimeState(rt)).toBe('stopped');
      expect(k.session.listActiveInputs(s)).toEqual([]);
      expect((await k.session.inputState(s, r.outcome.input_id))?.terminal_outcome).toEqual(abandoned('stopped'));
      expect(await r.handle?.outcome).toEqual({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.stopped });
    });
  });

  it('LIFE-10 Stop beats queued ordinary work on a live loop', async () => {
    const ex = new CountingExecutor('result');
    await withKernel({ rec: ex }, async (k) => {
      const [s, rt] = await attached(k, 'rec');
      const r = await k.ingress.acceptWithCompletion(s, progress('stop'));
      await settle();
      expect(ex.applyCount).toBe(0);
      await k.session.stopRuntimeExecutor(s, 'shutdown contract');
      expect(await r.handle?.outcome).toEqual({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.stopped });
      await waitFor(() => k.control.runtimeState(rt) === 'stopped', 'stopped');
      expect(ex.applyCount).toBe(0);
      expect(ex.stopCount).toBe(1);
      expect(k.session.listActiveInputs(s)).toEqual([]);
      expect((await k.session.inputState(s, r.outcome.input_id))?.terminal_outcome).toEqual(abandoned('stopped'));
      expect(k.session.sessionHasExecutor(s)).toBe(false);
    });
  });

  it('LIFE-11 The attachment stays live until the executor stop hook returns', async () => {
    // There is no hard-cancel command in the kernel surface; the live loop handle is
    // observed through SessionHasExecutor and CancelAfterBoundary (which needs a live loop).
    const ex = new StopBlockExecutor();
    await withKernel({ blk: ex }, async (k) => {
      const [s, rt] = await attached(k, 'blk');
      await k.session.stopRuntimeExecutor(s, 'stop with blocked hook');
      await ex.stopEntered.promise;
      expect(k.control.runtimeState(rt)).not.toBe('stopped');
      expect(k.session.sessionHasExecutor(s)).toBe(true);
      await k.session.cancelAfterBoundary(s);
      expect(ex.cancelAfterBoundaryCount).toBe(1);
      ex.releaseStop();
      await waitFor(() => k.control.runtimeState(rt) === 'stopped', 'stopped');
      expect(k.session.sessionHasExecutor(s)).toBe(false);
      const e = await expectKernelError(() => k.session.cancelAfterBoundary(s), 'INVALID_PHASE');
      expect(e.metadata.phase).toBe('Stopped');
      expect(ex.cancelAfterBoundaryCount).toBe(1);
      expect(ex.stopCount).toBe(1);
    });
  });

  it('LIFE-12 Retire from Stopped follows machine.md §2.2 (RetireRequestedFromIdle allows Stopped → Retired)', async () => {
    // scenarios.md asserts the seed refusal; machine.md (the reducer's binding table) and
    // upstream HEAD allow it. The reducer spec wins; the seed divergence is §13 row 2.
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      await k.session.stopRuntimeExecutor(s, 'stop');
      expect(k.control.runtimeState(rt)).toBe('stopped');
      expect(await k.control.retire(rt)).toEqual({ inputs_abandoned: 0, inputs_pending_drain: 0 });
      expect(k.control.runtimeState(rt)).toBe('retired');
    });
  });

  it('LIFE-13 Recycle keeps queued work in order', async () => {
    const store = new InMemoryRuntimeStore();
    await withKernel(
      {},
      async (k) => {
        const [s, rt] = await registered(k);
        const a = await k.ingress.acceptWithCompletion(s, prompt('a'));
        const b = await k.ingress.acceptWithCompletion(s, prompt('b'));
        expect(await k.control.recycle(rt)).toEqual({ inputs_transferred: 2 });
        expect(k.control.runtimeState(rt)).toBe('idle');
        expect(k.session.listActiveInputs(s)).toEqual([a.outcome.input_id, b.outcome.input_id]);
        for (const r of [a, b]) {
          expect((await k.session.inputState(s, r.outcome.input_id))?.phase).toBe('queued');
          expect((await store.loadInput(rt, r.outcome.input_id))?.phase).toBe('queued');
          expect(await peek(r.handle?.outcome ?? Promise.resolve(null))).toBe('pending');
        }
      },
      { store },
    );
  });

  it('LIFE-15 Which phases Recycle accepts', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      await k.control.retire(rt);
      expect(await k.control.recycle(rt)).toEqual({ inputs_transferred: 0 });
      expect(k.control.runtimeState(rt)).toBe('idle');
      expect((await k.ingress.acceptWithoutWake(s, prompt('again'))).type).toBe('accepted');

      const [s2, rt2] = await registered(k);
      await k.legacyRun.prepare(s2, prompt('run'));
      const before = stateSnapshot(k, s2);
      const e = await expectKernelError(() => k.control.recycle(rt2), 'INVALID_PHASE');
      expect(e.metadata.phase).toBe('Running');
      expect(stateSnapshot(k, s2)).toEqual(before);

      const [s3, rt3] = await registered(k);
      await k.control.destroy(rt3);
      const destroyedBefore = stateSnapshot(k, s3);
      await expectKernelError(() => k.control.recycle(rt3), 'RUNTIME_DESTROYED');
      expect(stateSnapshot(k, s3)).toEqual(destroyedBefore);
    });
  });

  it('LIFE-16 Recover with a live loop wakes and drains pending work', async () => {
    const ex = new GatedExecutor(null);
    await withKernel({ gated: ex }, async (k) => {
      const [s, rt] = await attached(k, 'gated');
      const r = await k.ingress.acceptWithCompletion(s, progress('p'));
      await settle();
      expect(ex.applyCount).toBe(0);
      expect(k.control.runtimeState(rt)).toBe('attached');
      const report = await k.control.recover(rt);
      expect(report.inputs_recovered).toBe(1);
      await ex.entered(1);
      expect(k.control.runtimeState(rt)).toBe('running');
      ex.release();
      expect(await r.handle?.outcome).toEqual({ kind: 'completed_without_result' });
      await waitFor(() => k.control.runtimeState(rt) === 'attached', 'attached');
      expect(k.core.session(s).waiters.waiterCount).toBe(0);
      expect(k.core.session(s).waiters.inputCount).toBe(0);
      expect(ex.applyCount).toBe(1);
    });
  });

  it('LIFE-17 Reset, Destroy and Stop clear silent-intent overrides', async () => {
    await withKernel({}, async (k) => {
      const cases: ((rt: string, s: string) => Promise<unknown>)[] = [
        (rt) => k.control.reset(rt),
        (rt) => k.control.destroy(rt),
        (_rt, s) => k.session.stopRuntimeExecutor(s, 'stop'),
      ];
      for (const run of cases) {
        const [s, rt] = await registered(k);
        await k.session.setSilentIntents(s, ['mob.status', 'mob.ping']);
        expect(machineState(k, s).silent_intent_overrides).toEqual(['mob.status', 'mob.ping']);
        await run(rt, s);
        expect(machineState(k, s).silent_intent_overrides).toEqual([]);
      }
    });
  });

  it('LIFE-20 CancelAfterBoundary on a running attached session lets the current turn finish', async () => {
    const ex = new GatedExecutor(null);
    await withKernel({ gated: ex }, async (k) => {
      const [s, rt] = await attached(k, 'gated');
      const r = await k.ingress.acceptWithCompletion(s, steer('steer prompt'));
      await ex.entered(1);
      expect(k.control.runtimeState(rt)).toBe('running');
      await k.session.cancelAfterBoundary(s);
      expect(ex.cancelAfterBoundaryCount).toBe(1);
      expect(k.control.runtimeState(rt)).toBe('running');
      ex.release();
      expect(await r.handle?.outcome).toEqual({ kind: 'completed_without_result' });
      await waitFor(() => k.control.runtimeState(rt) === 'attached', 'attached');
      await settle(20);
      expect(ex.applyCount).toBe(1);
      expect(k.session.listActiveInputs(s)).toEqual([]);
    });
  });
});
