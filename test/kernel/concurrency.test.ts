/**
 * CONC: concurrency (scenarios.md §10).
 */
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/kernel/index.js';
import {
  counting,
  deferred,
  fnExecutor,
  GatedExecutor,
  NO_RESULT,
  newKernel,
  peerTerminal,
  prompt,
  resultExecutor,
  rt,
  sleep,
  TIMED_OUT,
  waitUntil,
  within,
} from './support.js';

describe('CONC concurrency', () => {
  it('CONC-02 commands on different sessions do not block each other', async () => {
    const k = newKernel();
    const s1 = newId();
    const s2 = newId();
    await k.session.registerSession(s1);
    await k.session.registerSession(s2);

    // Both retired concurrently.
    const reports = await Promise.all([k.control.retire(rt(s1)), k.control.retire(rt(s2))]);
    expect(reports).toEqual([
      { inputs_abandoned: 0, inputs_pending_drain: 0 },
      { inputs_abandoned: 0, inputs_pending_drain: 0 },
    ]);
    expect(k.control.runtimeState(rt(s1))).toBe('retired');
    expect(k.control.runtimeState(rt(s2))).toBe('retired');

    // The mutation gate is per session: while S3's gate is held, a command on S4 still completes.
    const s3 = newId();
    const s4 = newId();
    await k.session.registerSession(s3);
    await k.session.registerSession(s4);
    const hold = deferred();
    const holder = k.core.session(s3).gate.run(() => hold.promise);
    const blocked = k.control.retire(rt(s3));
    expect(await within(k.control.retire(rt(s4)), 2000)).toEqual({ inputs_abandoned: 0, inputs_pending_drain: 0 });
    expect(await within(blocked, 20)).toBe(TIMED_OUT);
    expect(k.control.runtimeState(rt(s3))).toBe('idle');
    hold.resolve();
    await holder;
    expect(await blocked).toEqual({ inputs_abandoned: 0, inputs_pending_drain: 0 });
    expect(k.control.runtimeState(rt(s3))).toBe('retired');
    await k.close();
  });

  it('CONC-04 N concurrent admissions on an attached session lose no waiter', async () => {
    const ex = resultExecutor('ok');
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => k.ingress.acceptWithCompletion(s, prompt(`prompt ${i}`))),
    );
    const ids = results.map((r) => r.outcome.input_id);
    expect(results.every((r) => r.outcome.type === 'accepted' && r.handle !== null)).toBe(true);
    expect(new Set(ids).size).toBe(10);

    const outcomes = await Promise.all(results.map((r) => r.handle?.outcome));
    for (const o of outcomes) expect(o).toEqual({ kind: 'completed', result: { text: 'ok' } });
    for (const id of ids) expect((await k.session.inputState(s, id))?.phase).toBe('consumed');

    // Each input appears in exactly one run.
    const seen = ex.contributors.flat();
    expect(seen).toHaveLength(10);
    expect([...seen].sort()).toEqual([...ids].sort());

    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    expect(k.core.session(s).waiters.waiterCount).toBe(0);
    await k.close();
  });

  it('CONC-05 a backlog keeps draining while the first run fails', async () => {
    const firstEntered = deferred();
    const ex = counting(
      fnExecutor(async (_a, _c, call) => {
        if (call === 1) {
          firstEntered.resolve();
          await sleep(50);
          throw new Error('runtime turn failed');
        }
        return NO_RESULT;
      }),
    );
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const first = await k.ingress.acceptWithCompletion(s, prompt('input 1'));
    await firstEntered.promise;
    const second = await k.ingress.acceptWithCompletion(s, prompt('input 2'));
    const id1 = first.outcome.input_id;
    const id2 = second.outcome.input_id;

    expect(await second.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect((await k.session.inputState(s, id2))?.phase).toBe('consumed');
    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    expect(ex.applies).toBeGreaterThanOrEqual(2);

    // Decision 4: the failed head is re-queued and retried (its waiter resolves only at the end), never left Staged.
    expect(await first.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    const row1 = await k.session.inputState(s, id1);
    expect(row1?.phase).toBe('consumed');
    expect(row1?.attempt_count).toBe(2);
    expect(row1?.history.map((h) => h.to)).toEqual(['queued', 'staged', 'queued', 'staged', 'consumed']);
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });

  it('CONC-05 a head that keeps failing is abandoned after 3 attempts while the backlog drains', async () => {
    const ex = counting(
      fnExecutor((a) => {
        if (a.inputs.some((i) => i.text === 'bad')) throw new Error('runtime turn failed');
        return NO_RESULT;
      }),
    );
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const bad = await k.ingress.acceptWithCompletion(s, prompt('bad'));
    const good = await k.ingress.acceptWithCompletion(s, prompt('good'));

    expect(await good.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    // Decision 4: the waiter resolves only once the attempts are exhausted.
    expect(await bad.handle?.outcome).toEqual({
      kind: 'abandoned',
      reason: { kind: 'max_attempts_exhausted', attempts: 3 },
      error: 'runtime turn failed',
    });
    const row = await k.session.inputState(s, bad.outcome.input_id);
    expect(row?.terminal_outcome).toEqual({ outcome_type: 'abandoned', reason: 'max_attempts_exhausted', attempts: 3 });
    expect(ex.runs.filter((r) => r.inputs.some((i) => i.input_id === bad.outcome.input_id))).toHaveLength(3);
    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });

  it('CONC-07 a wake arriving while the loop is busy still gets processed', async () => {
    const ex = new GatedExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const p1 = await k.ingress.acceptWithCompletion(s, prompt('prompt 1'));
    await ex.entered;
    expect(k.control.runtimeState(rt(s))).toBe('running');

    const pt = await k.ingress.acceptWithCompletion(s, peerTerminal());
    expect(pt.outcome.type).toBe('accepted');
    ex.release();

    expect(await p1.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect(await pt.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect(ex.applies).toBe(2);
    expect(ex.contributors).toEqual([[p1.outcome.input_id], [pt.outcome.input_id]]);
    for (const r of [p1, pt]) expect((await k.session.inputState(s, r.outcome.input_id))?.phase).toBe('consumed');
    await k.close();
  });
});
