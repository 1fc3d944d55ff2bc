/**
 * Idle lease handover (decision 12: "an idle lease is handed to the replica that keeps receiving
 * its calls"), two kernels on one store and one lease table with an injected clock. The owner hands
 * a session over only when no call reached it directly for `handoverIdleMs` and the session is
 * quiescent; the entry is dropped without writing anything, the lease ends with a note naming the
 * executor, and the next claimant takes it (token + 1), recovers the session and re-attaches that
 * executor. A run in flight, an open call, a queued input or a replica-bound executor keep it.
 * The server's forwarding layer drives this (test/e2e/replica-handover.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { EchoExecutor } from '../../src/kernel/executors/echo.js';
import type { Clock } from '../../src/kernel/clock.js';
import { InMemoryRuntimeStore, InMemorySessionLeases, KernelError, MeerkatMachine, newId } from '../../src/kernel/index.js';
import { validateInput } from '../../src/kernel/input.js';

const TTL_MS = 60_000;
const IDLE_MS = 5_000;

function replicas(handoverIdleMs = IDLE_MS) {
  let now = 1_000_000;
  const clock: Clock = { now: () => now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };
  const leases = new InMemorySessionLeases(() => now);
  const store = new InMemoryRuntimeStore(leases);
  const kernel = (replicaId: string) =>
    new MeerkatMachine({
      store,
      clock,
      retentionIntervalMs: 0,
      ownership: { leases, replicaId, address: `${replicaId}.kernel:50051`, ttlMs: TTL_MS, renewEveryMs: TTL_MS - 1, handoverIdleMs },
    });
  return { store, leases, a: kernel('a'), b: kernel('b'), advance: (ms: number) => (now += ms) };
}

const prompt = (text: string) => ({ body: { input_type: 'prompt' as const, text } });

describe('idle lease handover (decision 12)', () => {
  it('after the idle time without a direct call the owner hands the session over; the next claimant recovers it with its executor and token + 1', async () => {
    const { a, b, advance, leases, store } = replicas();
    const s = newId();
    await a.session.ensureSessionWithExecutor(s, 'echo');
    const first = await a.ingress.acceptWithCompletion(s, prompt('on a'));
    expect(await first.handle?.outcome).toMatchObject({ kind: 'completed' });
    const firstId = first.outcome.type === 'accepted' ? first.outcome.input_id : '';

    // Loaded just now: a new owner does not hand the session straight back.
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'direct_calls' });
    advance(IDLE_MS + 1);
    // A direct call (one that reached a itself) resets the idle time; forwarded calls do not.
    a.core.beginSessionCall(s, true)();
    a.core.beginSessionCall(s, false)();
    advance(IDLE_MS - 1);
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'direct_calls' });
    advance(2);

    const stale = a.core.sessions.get(s);
    const commits = store.commitCount;
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'handed_over', token: 1, executor: 'echo' });
    expect(a.core.sessions.has(s)).toBe(false);
    expect(a.core.metrics.handovers).toBe(1);
    expect(store.commitCount).toBe(commits); // dropped without writing anything
    const lease = await leases.lease(s);
    expect(lease).toMatchObject({ owner_replica: 'a', fencing_token: 1, handed_over_by: 'a' });
    expect(lease?.expires_in_ms).toBeLessThanOrEqual(0);

    // A stale reference to the dropped entry never commits again.
    if (stale === undefined) throw new Error('session was not loaded on a');
    const refused = await a.core.admit(stale, validateInput(prompt('stale on a')), 'with_completion').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KernelError);
    expect((refused as KernelError).code).toBe('SESSION_OWNED_ELSEWHERE');
    expect(store.commitCount).toBe(commits);

    // b's next call takes the lease (token 2), recovers the session and runs it with echo again.
    await b.session.registerSession(s);
    expect(await leases.lease(s)).toMatchObject({ owner_replica: 'b', fencing_token: 2 });
    expect(b.session.sessionHasExecutor(s)).toBe(true);
    expect((await b.session.inputState(s, firstId))?.phase).toBe('consumed');
    const second = await b.ingress.acceptWithCompletion(s, prompt('on b'));
    expect(await second.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'on b' } });
    // The note was consumed by b's claim: claiming again is an ordinary renewal.
    expect(await leases.claim({ session_id: s, replica_id: 'b', address: 'b.kernel:50051', ttl_ms: TTL_MS })).toEqual({ kind: 'owned', token: 2 });
    // And a, asked again, finds b the live owner.
    const elsewhere = await a.session.registerSession(s).then(
      () => null,
      (e: unknown) => e,
    );
    expect((elsewhere as KernelError).code).toBe('SESSION_OWNED_ELSEWHERE');
    await a.close();
    await b.close();
  });

  it('a run in flight, a queued input, an open call or a replica-bound executor keep the session; it moves once they are gone', async () => {
    const { a, b, advance, leases } = replicas();
    const s = newId();
    await a.session.ensureSessionWithExecutor(s, 'scripted');
    advance(IDLE_MS + 1);

    // A run in flight.
    const slow = await a.ingress.acceptWithCompletion(s, prompt('@delay(300) slow'));
    await new Promise((r) => setTimeout(r, 50));
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'run_in_flight' });
    expect(await slow.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'slow' } });

    // An open call (e.g. a forwarded WatchInput stream still being served).
    const end = a.core.beginSessionCall(s, false);
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'calls_in_flight' });
    end();

    // A queued input that waits for the next wake.
    const queued = await a.ingress.acceptWithoutWake(s, prompt('later'));
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'inputs_pending' });
    const queuedId = queued.type === 'accepted' ? queued.input_id : '';

    expect(await leases.lease(s)).toMatchObject({ owner_replica: 'a', fencing_token: 1 });
    expect(a.core.sessions.has(s)).toBe(true);

    // Once the queue ran, the session moves, and b runs what a left behind with the same executor.
    const wake = await a.ingress.acceptWithCompletion(s, prompt('wake'));
    expect(await wake.handle?.outcome).toMatchObject({ kind: 'completed' });
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'handed_over', token: 1, executor: 'scripted' });
    await b.session.registerSession(s);
    expect((await b.session.inputState(s, queuedId))?.phase).toBe('consumed');
    expect(b.session.sessionHasExecutor(s)).toBe(true);

    // An executor that attached to this replica later (ExecutorService.Attach) pins its sessions.
    const pinned = newId();
    b.core.options.executors.register('remote-gpu', () => new EchoExecutor());
    await b.session.ensureSessionWithExecutor(pinned, 'remote-gpu');
    advance(IDLE_MS + 1);
    expect(await b.core.handOverIfIdle(pinned)).toEqual({ kind: 'kept', reason: 'executor_not_portable' });
    await a.close();
    await b.close();
  });

  it('a lease that expired meanwhile is not handed over: the entry is dropped as lost and the next claimant gets no note', async () => {
    const { a, b, advance, leases } = replicas();
    const s = newId();
    await a.session.ensureSessionWithExecutor(s, 'echo');
    advance(TTL_MS + 1); // a stopped renewing (paused); nobody took the lease yet
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'lease_lost' });
    expect(a.core.sessions.has(s)).toBe(false);
    expect(a.core.metrics).toMatchObject({ handovers: 0, ownership_lost: 1 });
    expect(await leases.claim({ session_id: s, replica_id: 'b', address: 'b.kernel:50051', ttl_ms: TTL_MS })).toEqual({ kind: 'owned', token: 2 });
    await b.session.registerSession(s);
    expect(b.session.sessionHasExecutor(s)).toBe(false); // no handover note: the client ensures the executor again
    await a.close();
    await b.close();
  });

  it('a waiter on an input nobody runs keeps the session; with handover off every session stays', async () => {
    const { a, b, advance } = replicas();
    const s = newId();
    await a.session.registerSession(s); // no executor: an accepted input waits in the queue with its waiter
    advance(IDLE_MS + 1);
    const waiting = await a.ingress.acceptWithCompletion(s, prompt('nobody runs this'));
    expect(a.core.sessions.get(s)?.waiters.waiterCount).toBe(1);
    expect(await a.core.handOverIfIdle(s)).toEqual({ kind: 'kept', reason: 'inputs_pending' });
    waiting.handle?.cancel();
    await a.close();
    await b.close();

    const off = replicas(0);
    const t = newId();
    await off.a.session.ensureSessionWithExecutor(t, 'echo');
    off.advance(IDLE_MS * 10);
    expect(await off.a.core.handOverIfIdle(t)).toEqual({ kind: 'kept', reason: 'handover_off' });
    expect(off.a.core.sessions.has(t)).toBe(true);
    await off.a.close();
    await off.b.close();
  });
});
