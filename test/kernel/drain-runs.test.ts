/**
 * `MeerkatMachine.drainRuns`, the kernel side of a server's graceful drain (issue 8): runs in
 * flight reach their boundary within the budget or are left for recovery — never committed as
 * cancelled, so no acknowledged input is abandoned by a drain — and each session's lease is handed
 * over (naming its executor) as soon as its loop stopped, so another replica takes the session over
 * at once and re-attaches the executor: the input left for recovery runs there.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryRuntimeStore, InMemorySessionLeases, MeerkatMachine, newId } from '../../src/kernel/index.js';

const TTL_MS = 10_000;

function replicas() {
  const leases = new InMemorySessionLeases(() => Date.now());
  const store = new InMemoryRuntimeStore(leases);
  const kernel = (replicaId: string) =>
    new MeerkatMachine({
      store,
      retentionIntervalMs: 0,
      ownership: { leases, replicaId, address: `${replicaId}.kernel:50051`, ttlMs: TTL_MS, renewEveryMs: TTL_MS - 1 },
    });
  return { store, leases, a: kernel('a'), b: kernel('b') };
}

const prompt = (text: string) => ({ body: { input_type: 'prompt' as const, text } });

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('graceful drain of the runtime loops (MeerkatMachine.drainRuns)', () => {
  it('a run that ends within the budget commits; one that does not is left staged for the next owner, which re-queues and runs it', async () => {
    const { a, b, leases, store } = replicas();
    const [quick, slow] = [newId(), newId()];
    await a.session.ensureSessionWithExecutor(quick, 'scripted');
    await a.session.ensureSessionWithExecutor(slow, 'scripted');
    const q = await a.ingress.acceptWithCompletion(quick, prompt('@delay(100) quick'));
    const s = await a.ingress.acceptWithCompletion(slow, prompt('@delay(1500) slow'));
    const qid = q.outcome.type === 'accepted' ? q.outcome.input_id : '';
    const sid = s.outcome.type === 'accepted' ? s.outcome.input_id : '';
    await until(async () => (await a.session.inputState(slow, sid))?.phase === 'staged', 'the slow run to start');

    const drained = await a.drainRuns(400);
    expect(drained).toEqual({ finished: 1, leftForRecovery: 1 });
    // The quick run reached its boundary; its waiter got the result.
    expect(await q.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'quick' } });
    expect((await store.loadInputs(`rt:session:${quick}`)).find((r) => r.input_id === qid)?.phase).toBe('consumed');
    // The slow one was not committed at all: still staged in the store, not abandoned.
    const left = (await store.loadInputs(`rt:session:${slow}`)).find((r) => r.input_id === sid);
    expect(left?.phase).toBe('staged');
    expect(left?.terminal_outcome).toBeNull();
    // Both leases ended at once, with a handover note naming the executor.
    for (const id of [quick, slow]) expect((await leases.lease(id))?.expires_in_ms ?? 1).toBeLessThanOrEqual(0);
    await a.close();

    // b takes the slow session over without waiting for expiry, re-attaches `scripted` from the
    // handover note (nobody calls EnsureSessionWithExecutor) and runs the re-queued input.
    await b.session.registerSession(slow);
    expect(await leases.lease(slow)).toMatchObject({ owner_replica: 'b', fencing_token: 2 });
    expect(b.core.sessions.get(slow)?.attachment.kind).toBe('active');
    const row = await b.session.inputState(slow, sid);
    expect(row?.history.some((h) => h.from === 'staged' && h.to === 'queued')).toBe(true);
    await until(async () => (await b.session.inputState(slow, sid))?.phase === 'consumed', 'b to run the input');
    expect((await b.session.inputState(slow, sid))?.history.map((h) => h.to)).not.toContain('abandoned');
    await b.close();
  }, 20_000);

  it('a loop attached while the kernel drains starts no run: its queued input waits for the next owner', async () => {
    const { a, b, store } = replicas();
    const id = newId();
    await a.session.registerSession(id);
    const accepted = await a.ingress.acceptWithoutWake(id, prompt('queued before the drain'));
    const inputId = accepted.type === 'accepted' ? accepted.input_id : '';
    expect(await a.drainRuns(100)).toEqual({ finished: 0, leftForRecovery: 0 });
    // A call already in flight attaches an executor now: the loop exits at once, nothing runs.
    await a.session.ensureSessionWithExecutor(id, 'echo');
    await new Promise((r) => setTimeout(r, 100));
    expect((await store.loadInputs(`rt:session:${id}`)).find((r) => r.input_id === inputId)?.phase).toBe('queued');
    await a.close();
    await b.session.ensureSessionWithExecutor(id, 'echo');
    await until(async () => (await b.session.inputState(id, inputId))?.phase === 'consumed', 'b to run the input');
    await b.close();
  });
});
