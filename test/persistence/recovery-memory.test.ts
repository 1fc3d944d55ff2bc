import { describe, expect, it } from 'vitest';
import { InMemoryBlobStore, InMemoryRuntimeStore, MeerkatMachine, newId } from '../../src/kernel/index.js';

const prompt = (text: string, key?: string) => ({ body: { input_type: 'prompt' as const, text }, idempotency_key: key ?? null });

describe('cold recovery from a store (in-memory store)', () => {
  it('PERS-02 cold registration re-queues stored pending input, which then runs', async () => {
    const store = new InMemoryRuntimeStore();
    const blobs = new InMemoryBlobStore();
    const a = new MeerkatMachine({ store, blobs, retentionIntervalMs: 0 });
    const s = newId();
    await a.session.registerSession(s);
    const r = await a.ingress.acceptWithoutWake(s, prompt('hello'));
    // "Restart": a second kernel over the same store.
    const b = new MeerkatMachine({ store, blobs, retentionIntervalMs: 0 });
    const report = await b.session.registerSession(s);
    expect(report).toEqual({ inputs_recovered: 1, inputs_abandoned: 0, inputs_requeued: 0, details: [] });
    expect(b.session.listActiveInputs(s)).toEqual([r.input_id]);
    expect((await b.session.inputState(s, r.input_id))?.phase).toBe('queued');
    await b.session.ensureSessionWithExecutor(s, 'echo');
    for (let i = 0; i < 200 && b.session.listActiveInputs(s).length > 0; i += 1) await new Promise((res) => setTimeout(res, 5));
    expect((await b.session.inputState(s, r.input_id))?.terminal_outcome).toEqual({ outcome_type: 'consumed' });
    await a.close();
    await b.close();
  });

  it('PERS-03 after restart the idempotency index deduplicates, also for terminal inputs', async () => {
    const store = new InMemoryRuntimeStore();
    const a = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    const s = newId();
    await a.session.ensureSessionWithExecutor(s, 'echo');
    const first = await a.ingress.acceptWithCompletion(s, prompt('x', 'dedup-key'));
    await first.handle?.outcome;
    const pending = await a.ingress.acceptWithoutWake(s, prompt('y', 'pending-key'));
    await a.control.reset(`rt:session:${s}`);
    const b = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    await b.session.registerSession(s);
    const again = await b.ingress.acceptWithCompletion(s, prompt('x again', 'dedup-key'));
    expect(again.outcome).toMatchObject({ type: 'deduplicated', existing_id: first.outcome.input_id });
    expect(again.handle).toBeNull();
    const again2 = await b.ingress.acceptWithoutWake(s, prompt('y again', 'pending-key'));
    expect(again2).toMatchObject({ type: 'deduplicated', existing_id: pending.input_id });
    await a.close();
    await b.close();
  });

  it('PERS-04 ephemeral inputs are not recovered', async () => {
    const store = new InMemoryRuntimeStore();
    const a = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    const s = newId();
    await a.session.registerSession(s);
    const eph = await a.ingress.acceptWithoutWake(s, { ...prompt('gone'), durability: 'ephemeral' });
    const b = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    const report = await b.session.registerSession(s);
    expect(report?.inputs_recovered).toBe(0);
    expect(await b.session.inputState(s, eph.input_id)).toBeNull();
    expect(b.session.listActiveInputs(s)).toEqual([]);
    await a.close();
    await b.close();
  });

  it('PERS-07 durable Retired, Stopped and Destroyed survive a restart', async () => {
    for (const end of ['retired', 'stopped', 'destroyed'] as const) {
      const store = new InMemoryRuntimeStore();
      const a = new MeerkatMachine({ store, retentionIntervalMs: 0 });
      const s = newId();
      const rt = `rt:session:${s}`;
      await a.session.registerSession(s);
      if (end === 'retired') await a.control.retire(rt);
      if (end === 'stopped') await a.session.stopRuntimeExecutor(s, 'test');
      if (end === 'destroyed') await a.control.destroy(rt);
      const b = new MeerkatMachine({ store, retentionIntervalMs: 0 });
      if (end === 'destroyed') {
        await expect(b.session.registerSession(s)).rejects.toMatchObject({ code: 'RUNTIME_DESTROYED' });
      } else {
        await b.session.registerSession(s);
      }
      expect(b.control.runtimeState(rt)).toBe(end);
      await a.close();
      await b.close();
    }
  });

  it('large content is externalised to the blob store before the ack and restored on recovery', async () => {
    const store = new InMemoryRuntimeStore();
    const blobs = new InMemoryBlobStore();
    const a = new MeerkatMachine({ store, blobs, blobThresholdBytes: 1024, retentionIntervalMs: 0 });
    const s = newId();
    await a.session.registerSession(s);
    const big = 'x'.repeat(5000);
    const r = await a.ingress.acceptWithoutWake(s, prompt(big));
    const row = await store.loadInput(`rt:session:${s}`, r.input_id);
    expect(row?.content_blob_id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(row?.input.body).toMatchObject({ text: '' });
    const b = new MeerkatMachine({ store, blobs, blobThresholdBytes: 1024, retentionIntervalMs: 0 });
    await b.session.ensureSessionWithExecutor(s, 'echo');
    const done = await b.ingress.acceptWithCompletion(s, prompt('small'));
    expect(await done.handle?.outcome).toMatchObject({ kind: 'completed' });
    const recovered = b.core.session(s).ledger.get(r.input_id);
    expect(recovered?.input.body).toMatchObject({ text: big });
    await a.close();
    await b.close();
  });

  it('a failed durable write behind a run marks the session reload-required until it is re-registered', async () => {
    const store = new InMemoryRuntimeStore();
    const k = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'scripted');
    // The accept and the run start commit; the run's terminal commit fails.
    const accepted = await k.ingress.acceptWithCompletion(s, prompt('@delay(30) hi'));
    await new Promise((res) => setTimeout(res, 10));
    store.failNextCommits = { count: 1, message: 'synthetic atomic_apply failure' };
    const outcome = await accepted.handle?.outcome;
    expect(outcome).toMatchObject({ kind: 'wait_error', error: 'AuthorityUnavailable' });
    await expect(k.ingress.acceptWithCompletion(s, prompt('refused'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(k.core.metrics.sessions_reload_required).toBe(1);
    await k.session.registerSession(s);
    expect(k.session.listActiveInputs(s)).toEqual([accepted.outcome.input_id]);
    expect((await k.session.inputState(s, accepted.outcome.input_id))?.phase).toBe('queued');
    await k.close();
  });
});
