/**
 * commands.md §6 "Observable-contract checklist", items 1–10, with the error
 * codes of the binding decisions (README): ValidationFailed / NotReady /
 * InvalidState become GUARD_REJECTED / INVALID_PHASE / RUNTIME_DESTROYED.
 */
import { describe, expect, it } from 'vitest';
import { TERMINATION_REASONS, newId, type Input } from '../../src/kernel/index.js';
import {
  CountingExecutor,
  GatedExecutor,
  attached,
  expectKernelError,
  peek,
  prompt,
  registered,
  stateSnapshot,
  withKernel,
} from './support-b.js';

describe('CHK: observable-contract checklist (commands.md §6)', () => {
  it('CHK-1 Register → idle; PrepareBindings → attached; EnsureSessionWithExecutor on a registered-only session → attached', async () => {
    const ex = new CountingExecutor(null);
    await withKernel({ rec: ex }, async (k) => {
      const [s, rt] = await registered(k);
      expect(k.control.runtimeState(rt)).toBe('idle');
      expect(k.session.sessionHasExecutor(s)).toBe(false);
      await k.session.prepareBindings(s);
      expect(k.control.runtimeState(rt)).toBe('attached');
      expect(k.session.sessionHasExecutor(s)).toBe(false);

      const [s2, rt2] = await registered(k);
      await k.session.ensureSessionWithExecutor(s2, 'rec');
      expect(k.control.runtimeState(rt2)).toBe('attached');
      expect(k.session.sessionHasExecutor(s2)).toBe(true);
      // Repeat calls are no-ops.
      await k.session.ensureSessionWithExecutor(s2, 'rec');
      await k.session.registerSession(s2);
      expect(k.control.runtimeState(rt2)).toBe('attached');
    });
  });

  it('CHK-2 AcceptWithCompletion while Idle with no loop stays pending; Reset resolves it RuntimeTerminated("runtime reset")', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const r = await k.ingress.acceptWithCompletion(s, prompt('pending'));
      expect(r.outcome.type).toBe('accepted');
      expect(r.handle).not.toBeNull();
      expect(await peek(r.handle?.outcome ?? Promise.resolve(null))).toBe('pending');
      await k.control.reset(rt);
      expect(await r.handle?.outcome).toEqual({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.reset });
      const row = await k.session.inputState(s, r.outcome.input_id);
      expect(row?.phase).toBe('abandoned');
      expect(row?.terminal_outcome).toEqual({ outcome_type: 'abandoned', reason: 'reset', attempts: null });
    });
  });

  it('CHK-3 Same idempotency key twice → Deduplicated{existing_id}; while in flight its handle resolves with the first outcome', async () => {
    const ex = new GatedExecutor('first result');
    await withKernel({ gated: ex }, async (k) => {
      const [s] = await attached(k, 'gated');
      const first = await k.ingress.acceptWithCompletion(s, prompt('x', { idempotency_key: 'same-key' }));
      expect(first.outcome.type).toBe('accepted');
      await ex.entered(1);
      const dup = await k.ingress.acceptWithCompletion(s, prompt('x again', { idempotency_key: 'same-key' }));
      expect(dup.outcome).toMatchObject({ type: 'deduplicated', existing_id: first.outcome.input_id });
      expect(dup.admission_signal).toBe('None');
      expect(dup.handle?.input_id).toBe(first.outcome.input_id);
      ex.release();
      const expected = { kind: 'completed', result: { text: 'first result' } };
      expect(await first.handle?.outcome).toEqual(expected);
      expect(await dup.handle?.outcome).toEqual(expected);
      expect(ex.applyCount).toBe(1);
      // Once terminal, a duplicate gets no handle and runs nothing.
      const late = await k.ingress.acceptWithCompletion(s, prompt('x', { idempotency_key: 'same-key' }));
      expect(late.outcome).toMatchObject({ type: 'deduplicated', existing_id: first.outcome.input_id });
      expect(late.handle).toBeNull();
      expect(ex.applyCount).toBe(1);
    });
  });

  it('CHK-4 Operation inputs are consumed on accept → Accepted with no handle', async () => {
    const ex = new CountingExecutor('r');
    await withKernel({ rec: ex }, async (k) => {
      const [s] = await attached(k, 'rec');
      for (const event of ['Progress', 'Cancelled']) {
        const op: Input = {
          durability: 'derived',
          origin: { type: 'system' },
          body: { input_type: 'operation', operation_id: 'op-1', event },
        };
        const r = await k.ingress.acceptWithCompletion(s, op);
        expect(r.outcome.type).toBe('accepted');
        expect(r.handle).toBeNull();
        expect((await k.session.inputState(s, r.outcome.input_id))?.terminal_outcome).toEqual({ outcome_type: 'consumed' });
      }
      expect(k.session.listActiveInputs(s)).toEqual([]);
      expect(ex.applyCount).toBe(0);
    });
  });

  it('CHK-5 Retire with backlog and no loop abandons it; afterwards admission is refused in Retired', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      for (const t of ['a', 'b', 'c']) await k.ingress.acceptWithoutWake(s, prompt(t));
      expect(await k.control.retire(rt)).toEqual({ inputs_abandoned: 3, inputs_pending_drain: 0 });
      const before = stateSnapshot(k, s);
      const viaAccept = await expectKernelError(() => k.ingress.acceptWithCompletion(s, prompt('late')), 'INVALID_PHASE');
      expect(viaAccept.metadata.phase).toBe('Retired');
      const viaIngest = await expectKernelError(() => k.control.ingest(rt, prompt('late')), 'INVALID_PHASE');
      expect(viaIngest.metadata.phase).toBe('Retired');
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('CHK-6 Destroy twice → second fails; entry stays; RegisterSession and UnregisterSession are refused', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      await k.control.destroy(rt);
      const before = stateSnapshot(k, s);
      await expectKernelError(() => k.control.destroy(rt), 'RUNTIME_DESTROYED');
      expect(k.session.containsSession(s)).toBe(true);
      await expectKernelError(() => k.session.registerSession(s), 'RUNTIME_DESTROYED');
      await expectKernelError(() => k.session.unregisterSession(s), 'RUNTIME_DESTROYED');
      expect(k.session.containsSession(s)).toBe(true);
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('CHK-7 CancelAfterBoundary on an Idle session → INVALID_PHASE{Idle}', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const before = stateSnapshot(k, s);
      const e = await expectKernelError(() => k.session.cancelAfterBoundary(s), 'INVALID_PHASE');
      expect(e.metadata.phase).toBe('Idle');
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('CHK-8 StopRuntimeExecutor without a loop → stopped, inputs abandoned (stopped); a second stop is refused', async () => {
    await withKernel({}, async (k) => {
      const [s, rt] = await registered(k);
      const a = await k.ingress.acceptWithoutWake(s, prompt('a'));
      await k.session.stopRuntimeExecutor(s, 'first');
      expect(k.control.runtimeState(rt)).toBe('stopped');
      expect((await k.session.inputState(s, a.input_id))?.terminal_outcome).toEqual({
        outcome_type: 'abandoned',
        reason: 'stopped',
        attempts: null,
      });
      const before = stateSnapshot(k, s);
      const e = await expectKernelError(() => k.session.stopRuntimeExecutor(s, 'second'), 'INVALID_PHASE');
      expect(e.metadata.phase).toBe('Stopped');
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('CHK-9 Visibility: revisions r, r+1; empty deferred request refused; active < staged publish refused', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      await k.session.prepareBindings(s);
      const r = await k.session.stagePersistentFilter(s, { kind: 'All' }, {});
      expect(await k.session.stagePersistentFilter(s, { kind: 'All' }, {})).toBe(r + 1);

      const before = stateSnapshot(k, s);
      const empty = await expectKernelError(() => k.session.requestDeferredTools(s, []), 'GUARD_REJECTED');
      expect(empty.metadata.guard).toBe('deferred_authorities_non_empty');
      expect(stateSnapshot(k, s)).toEqual(before);

      const behind = await expectKernelError(
        () =>
          k.session.publishCommittedVisibleSet(s, {
            ...k.session.visibilityState(s),
            active_revision: 1,
            staged_revision: 2,
          }),
        'GUARD_REJECTED',
      );
      expect(behind.metadata.guard).toBe('active_not_behind_staged');
      expect(stateSnapshot(k, s)).toEqual(before);
    });
  });

  it('CHK-10 Model routing: baseline → one-turn switch pending → target for one turn → baseline; a second request while pending is denied', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      await k.control.configureModelRoutingBaseline(s, 'base-model', false);
      expect(k.control.sessionModelRoutingStatus(s).effective_model).toBe('base-model');
      const requestId = newId();
      const switched = await k.control.requestSwitchTurn(s, {
        request_id: requestId,
        target_model: 'target-model',
        duration: 'one_turn',
        target_realtime: false,
        approval: 'NotRequired',
      });
      expect(switched).toMatchObject({ result: 'applied', request_id: requestId });
      const pending = k.control.sessionModelRoutingStatus(s);
      expect(pending.pending_switch_turn).toMatchObject({ request_id: requestId, target_model: 'target-model', phase: 'pending_for_boundary' });
      expect(pending.effective_model).toBe('base-model');

      const second = newId();
      expect(
        await k.control.requestSwitchTurn(s, {
          request_id: second,
          target_model: 'other-model',
          duration: 'one_turn',
          target_realtime: false,
          approval: 'NotRequired',
        }),
      ).toEqual({ result: 'denied', request_id: second, reason: 'scoped_override_conflict' });

      await k.control.admitModelRoutingAssistantTurn(s);
      expect(k.control.sessionModelRoutingStatus(s).effective_model).toBe('target-model');
      await k.control.admitModelRoutingAssistantTurn(s);
      const restored = k.control.sessionModelRoutingStatus(s);
      expect(restored.effective_model).toBe('base-model');
      expect(restored.pending_switch_turn).toBeUndefined();
      expect(restored.active_turn_override).toBeUndefined();
    });
  });
});
