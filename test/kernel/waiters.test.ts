/**
 * WAIT: completion waiters (scenarios.md §4).
 */
import { describe, expect, it } from 'vitest';
import { CompletionRegistry, newId, TERMINATION_REASONS, type MeerkatMachine } from '../../src/kernel/index.js';
import {
  GatedExecutor,
  newKernel,
  noResultExecutor,
  progress,
  prompt,
  resultExecutor,
  rt,
  TIMED_OUT,
  waitUntil,
  within,
} from './support.js';

/** Waiter counts of a session as `[input_count, waiter_count]`. */
function waiterCounts(k: MeerkatMachine, s: string): [number, number] {
  const w = k.core.session(s).waiters;
  return [w.inputCount, w.waiterCount];
}

/** A registered, executor-less session with one prompt accepted with completion. */
async function registeredWithPendingPrompt(k: MeerkatMachine) {
  const s = newId();
  await k.session.registerSession(s);
  const r = await k.ingress.acceptWithCompletion(s, prompt('pending'));
  if (r.outcome.type !== 'accepted' || !r.handle) throw new Error('expected an accepted prompt with a handle');
  return { s, id: r.outcome.input_id, handle: r.handle };
}

describe('WAIT completion waiters', () => {
  it('WAIT-01 a result-bearing run resolves Completed with the run text', async () => {
    const ex = resultExecutor('runtime ingress ok');
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const r = await k.ingress.acceptWithCompletion(s, prompt('hi'));
    expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'runtime ingress ok' } });

    const row = await k.session.inputState(s, r.outcome.input_id);
    expect(row?.phase).toBe('consumed');
    expect(row?.terminal_outcome).toEqual({ outcome_type: 'consumed' });
    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });

  it('WAIT-02 a run without a terminal result resolves CompletedWithoutResult', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const r = await k.ingress.acceptWithCompletion(s, prompt('context append'));
    expect(await r.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    await k.close();
  });

  it('WAIT-04 reset terminates pending waiters with reason "runtime reset"', async () => {
    const k = newKernel();
    const { s, id, handle } = await registeredWithPendingPrompt(k);
    expect(waiterCounts(k, s)).toEqual([1, 1]);

    await k.control.reset(rt(s));

    expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.reset });
    expect(TERMINATION_REASONS.reset).toBe('runtime reset');
    expect(waiterCounts(k, s)).toEqual([0, 0]);
    expect((await k.session.inputState(s, id))?.terminal_outcome).toEqual({ outcome_type: 'abandoned', reason: 'reset', attempts: null });
    await k.close();
  });

  it('WAIT-05 retire with no runtime loop terminates waiters ("retired without runtime loop")', async () => {
    const k = newKernel();
    const { s, handle } = await registeredWithPendingPrompt(k);

    const report = await k.control.retire(rt(s));

    expect(report).toEqual({ inputs_abandoned: 1, inputs_pending_drain: 0 });
    expect(k.control.runtimeState(rt(s))).toBe('retired');
    expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: 'retired without runtime loop' });
    expect(waiterCounts(k, s)).toEqual([0, 0]);
    await k.close();
  });

  it('WAIT-06 destroy terminates waiters ("runtime destroyed")', async () => {
    const k = newKernel();
    const { s, handle } = await registeredWithPendingPrompt(k);

    const report = await k.control.destroy(rt(s));

    expect(report.inputs_abandoned).toBe(1);
    expect(k.control.runtimeState(rt(s))).toBe('destroyed');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    expect(Object.keys(k.core.session(s).state.input_lane)).toEqual([]);
    expect(waiterCounts(k, s)).toEqual([0, 0]);
    expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: 'runtime destroyed' });
    await k.close();
  });

  it('WAIT-07 stop terminates waiters ("runtime stopped")', async () => {
    const k = newKernel();
    const { s, handle } = await registeredWithPendingPrompt(k);

    await k.session.stopRuntimeExecutor(s, 'stop test');

    expect(k.control.runtimeState(rt(s))).toBe('stopped');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    expect(Object.keys(k.core.session(s).state.input_lane)).toEqual([]);
    expect(waiterCounts(k, s)).toEqual([0, 0]);
    expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: 'runtime stopped' });
    await k.close();
  });

  it('WAIT-08 unregister terminates waiters ("runtime session unregistered")', async () => {
    const k = newKernel();
    const { s, handle } = await registeredWithPendingPrompt(k);

    await k.session.unregisterSession(s);

    expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: 'runtime session unregistered' });
    expect(k.session.containsSession(s)).toBe(false);
    await k.close();
  });

  it('WAIT-10 recover keeps waiters of pending work', async () => {
    const k = newKernel();
    const { s, id, handle } = await registeredWithPendingPrompt(k);

    const report = await k.control.recover(rt(s));

    expect(report.inputs_recovered).toBe(1);
    expect(k.control.runtimeState(rt(s))).toBe('idle');
    expect(k.session.listActiveInputs(s)).toEqual([id]);
    expect(k.core.session(s).state.input_lane).toEqual({ [id]: 'Queue' });
    expect(waiterCounts(k, s)).toEqual([1, 1]);
    expect(await within(handle.outcome, 20)).toBe(TIMED_OUT);

    await k.control.reset(rt(s));
    expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: 'runtime reset' });
    await k.close();
  });

  it('WAIT-13 retire with a live loop keeps the waiter through the drain', async () => {
    const ex = new GatedExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');
    const r = await k.ingress.acceptWithCompletion(s, progress('retire-with-loop'));
    if (!r.handle) throw new Error('expected a handle');
    expect(ex.applies).toBe(0);

    const report = await k.control.retire(rt(s));
    expect(report).toEqual({ inputs_abandoned: 0, inputs_pending_drain: 1 });

    await ex.entered;
    expect(ex.applies).toBe(1);
    expect(k.control.runtimeState(rt(s))).toBe('retired');
    expect(waiterCounts(k, s)).toEqual([1, 1]);

    ex.release();
    expect(await r.handle.outcome).toEqual({ kind: 'completed_without_result' });
    expect(ex.applies).toBe(1);
    await waitUntil(() => k.core.session(s).state.current_run_id === null);
    expect(k.control.runtimeState(rt(s))).toBe('retired');
    expect(waiterCounts(k, s)).toEqual([0, 0]);
    await k.close();
  });

  it('WAIT-14 an expired caller-side bound does not cancel the work', async () => {
    const ex = new GatedExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');
    const r = await k.ingress.acceptWithCompletion(s, prompt('x', 'k1'));
    if (r.outcome.type !== 'accepted' || !r.handle) throw new Error('expected an accepted prompt with a handle');
    const id = r.outcome.input_id;

    // The caller waits 20 ms, gives up and drops its waiter.
    expect(await within(r.handle.outcome, 20)).toBe(TIMED_OUT);
    r.handle.cancel();

    const row = await k.session.inputState(s, id);
    expect(['queued', 'staged']).toContain(row?.phase);
    expect(row?.terminal_outcome).toBeNull();
    expect(k.session.listActiveInputs(s)).toEqual([id]);

    ex.release();
    await waitUntil(async () => (await k.session.inputState(s, id))?.phase === 'consumed', { message: 'input consumed' });
    expect(ex.applies).toBe(1);

    const again = await k.ingress.acceptWithCompletion(s, prompt('x', 'k1'));
    expect(again.outcome.type).toBe('deduplicated');
    if (again.outcome.type !== 'deduplicated') throw new Error('unreachable');
    expect(again.outcome.existing_id).toBe(id);
    expect(again.handle).toBeNull();
    expect(ex.applies).toBe(1);
    await k.close();
  });

  describe('WAIT-15 completion-registry edge cases', () => {
    it('WAIT-15 a discarded registry ends its waiters "completion channel closed without result"', async () => {
      const registry = new CompletionRegistry();
      const x = newId();
      const handle = registry.register(x);
      registry.close();
      expect(await handle.outcome).toEqual({ kind: 'runtime_terminated', reason: 'completion channel closed without result' });
      // A waiter registered on a discarded registry never hangs either.
      const late = registry.register(x);
      expect(await late.outcome).toEqual({ kind: 'runtime_terminated', reason: 'completion channel closed without result' });
    });

    it('WAIT-15 three waiters on one input all receive the same Completed result', async () => {
      const ex = new GatedExecutor({ status: 'completed', result: { text: 'shared result' } });
      const k = newKernel({ ex });
      const s = newId();
      await k.session.ensureSessionWithExecutor(s, 'ex');
      // Three callers on input X: the first admits it, the others join it through its idempotency key.
      const results = [];
      for (let i = 0; i < 3; i += 1) results.push(await k.ingress.acceptWithCompletion(s, prompt('x', 'multi')));
      const x = results[0]?.outcome.input_id;
      expect(results.map((r) => r.outcome.type)).toEqual(['accepted', 'deduplicated', 'deduplicated']);
      expect(waiterCounts(k, s)).toEqual([1, 3]);

      ex.release();
      const outcomes = await Promise.all(results.map((r) => r.handle?.outcome));
      for (const o of outcomes) expect(o).toEqual({ kind: 'completed', result: { text: 'shared result' } });
      expect(ex.contributors).toEqual([[x]]);
      expect(waiterCounts(k, s)).toEqual([0, 0]);
      await k.close();
    });

    it('WAIT-15 three waiters on one input are all terminated by reset', async () => {
      const k = newKernel();
      const s = newId();
      await k.session.registerSession(s);
      const results = [];
      for (let i = 0; i < 3; i += 1) results.push(await k.ingress.acceptWithCompletion(s, prompt('x', 'multi')));
      expect(waiterCounts(k, s)).toEqual([1, 3]);

      await k.control.reset(rt(s));
      const outcomes = await Promise.all(results.map((r) => r.handle?.outcome));
      for (const o of outcomes) expect(o).toEqual({ kind: 'runtime_terminated', reason: 'runtime reset' });
      expect(waiterCounts(k, s)).toEqual([0, 0]);
      await k.close();
    });

    it('WAIT-15 resolving or abandoning an unknown input id is a no-op', async () => {
      const registry = new CompletionRegistry();
      const known = registry.register(newId());
      const unknown = newId();
      expect(registry.resolve(unknown, { kind: 'completed', result: { text: 'nobody listens' } })).toBe(0);
      expect(registry.resolve(unknown, { kind: 'completed_without_result' })).toBe(0);
      expect(registry.resolve(unknown, { kind: 'abandoned', reason: { kind: 'reset' }, error: null })).toBe(0);
      expect(registry.has(unknown)).toBe(false);
      expect(registry.inputCount).toBe(1);
      expect(registry.waiterCount).toBe(1);
      expect(await within(known.outcome, 10)).toBe(TIMED_OUT);

      // The same through a live session's registry.
      const k = newKernel();
      const s = newId();
      await k.session.registerSession(s);
      expect(k.core.session(s).waiters.resolve(unknown, { kind: 'completed_without_result' })).toBe(0);
      expect(waiterCounts(k, s)).toEqual([0, 0]);
      await k.close();
    });
  });
});
