/**
 * Fault-injecting stores (scenarios.md §1 "Fault-injecting stores"): a refused
 * write leaves the live session exactly as before the command, and the same
 * command succeeds once the store heals.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryRuntimeStore, MeerkatMachine, newId } from '../../src/kernel/index.js';

const prompt = (text: string, key?: string) => ({ body: { input_type: 'prompt' as const, text }, idempotency_key: key ?? null });

function kernelOn(store: InMemoryRuntimeStore): MeerkatMachine {
  return new MeerkatMachine({ store, retentionIntervalMs: 0, retryBackoffMs: 1 });
}

describe('store faults', () => {
  it('PERS-10 a failed durable admission leaves nothing behind, and a retry succeeds', async () => {
    const store = new InMemoryRuntimeStore();
    const k = kernelOn(store);
    const s = newId();
    await k.session.registerSession(s);
    const id = newId();
    store.failNextCommits = { count: 1, message: 'synthetic persist_input_state failure' };
    await expect(k.ingress.acceptWithoutWake(s, { ...prompt('x', 'key-1'), id })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringContaining('synthetic persist_input_state failure'),
    });
    expect(k.session.listActiveInputs(s)).toEqual([]);
    expect(await k.session.inputState(s, id)).toBeNull();
    expect(await store.loadInput(`rt:session:${s}`, id)).toBeNull();
    const again = await k.ingress.acceptWithoutWake(s, { ...prompt('x', 'key-1'), id });
    expect(again).toMatchObject({ type: 'accepted', input_id: id });
    await k.close();
  });

  it('PERS-11 Retire whose lifecycle commit fails restores the previous state', async () => {
    const store = new InMemoryRuntimeStore();
    const k = kernelOn(store);
    const s = newId();
    const rt = `rt:session:${s}`;
    await k.session.registerSession(s);
    const r = await k.ingress.acceptWithoutWake(s, prompt('stay'));
    store.failNextCommits = { count: 1, message: 'synthetic commit_machine_lifecycle failure' };
    await expect(k.control.retire(rt)).rejects.toMatchObject({ message: expect.stringContaining('synthetic commit_machine_lifecycle failure') });
    expect(k.control.runtimeState(rt)).toBe('idle');
    expect(k.session.listActiveInputs(s)).toEqual([r.input_id]);
    expect((await store.loadSession(rt))?.durable_phase).not.toBe('Retired');
    expect(await k.control.retire(rt)).toEqual({ inputs_abandoned: 1, inputs_pending_drain: 0 });
    await k.close();
  });

  it('PERS-14 Recycle whose commit fails after a successful retire stays Retired, live and durable', async () => {
    const store = new InMemoryRuntimeStore();
    const k = kernelOn(store);
    const s = newId();
    const rt = `rt:session:${s}`;
    await k.session.registerSession(s);
    await k.control.retire(rt);
    store.failNextCommits = { count: 1, message: 'synthetic commit_machine_lifecycle failure' };
    await expect(k.control.recycle(rt)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(k.control.runtimeState(rt)).toBe('retired');
    expect((await store.loadSession(rt))?.durable_phase).toBe('Retired');
    await k.close();
  });

  it('PERS-16 a stored terminal runtime with active inputs fails closed and changes nothing durable', async () => {
    const store = new InMemoryRuntimeStore();
    const a = kernelOn(store);
    const s = newId();
    const rt = `rt:session:${s}`;
    await a.session.registerSession(s);
    const r = await a.ingress.acceptWithoutWake(s, prompt('pending'));
    const doc = await store.loadSession(rt);
    if (!doc) throw new Error('no document');
    // Forge a corrupt durable record: Destroyed while an input is still pending.
    await store.commit({
      session_id: s,
      runtime_id: rt,
      document: { ...doc, durable_phase: 'Destroyed', machine: { ...doc.machine, lifecycle_phase: 'Destroyed' } },
      inputs: [],
      receipt: null,
      signals: [],
    });
    const b = kernelOn(store);
    await expect(b.session.registerSession(s)).rejects.toMatchObject({ message: expect.stringContaining("'destroyed' conflicts with 1 active inputs") });
    expect(b.session.containsSession(s)).toBe(false);
    expect((await store.loadSession(rt))?.durable_phase).toBe('Destroyed');
    expect((await store.loadInput(rt, r.input_id))?.phase).toBe('queued');
    await a.close();
    await b.close();
  });

  it('retention prunes old terminal rows and receipts, keeps pending and recent ones', async () => {
    const store = new InMemoryRuntimeStore();
    let now = 1_000_000;
    const clock = { now: () => now, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
    const k = new MeerkatMachine({ store, clock, retentionIntervalMs: 0 });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'echo');
    const done = await k.ingress.acceptWithCompletion(s, prompt('old'));
    await done.handle?.outcome;
    await k.session.stopRuntimeExecutor(s, 'park');
    await k.session.registerSession(s); // Stopped → Idle
    const pending = await k.ingress.acceptWithoutWake(s, prompt('pending'));
    now += 2 * 24 * 3600 * 1000;
    const report = await k.pruneOnce(24 * 3600 * 1000);
    expect(report.inputs).toBe(1);
    expect(report.receipts).toBe(1);
    expect(await store.loadInput(`rt:session:${s}`, done.outcome.input_id)).toBeNull();
    expect((await store.loadInput(`rt:session:${s}`, pending.input_id))?.phase).toBe('queued');
    await k.close();
  });
});
