/**
 * Session ownership across replicas (decision 12), two kernels on one store: a session is leased
 * to the replica that loads it; another replica is refused while the lease lives, takes it over
 * (token + 1) once it expired and recovers what the first one committed; the stale owner's next
 * commit is refused whole and it forgets the session. The PostgreSQL fencing itself is covered by
 * the store contract (test/store/contract.ts, "session leases and fenced commits").
 */
import { describe, expect, it } from 'vitest';
import { InMemoryRuntimeStore, InMemorySessionLeases, KernelError, MeerkatMachine, newId } from '../../src/kernel/index.js';

const TTL_MS = 10_000;

function replicas() {
  let now = 1_000_000;
  const leases = new InMemorySessionLeases(() => now);
  const store = new InMemoryRuntimeStore(leases);
  const kernel = (replicaId: string) =>
    new MeerkatMachine({
      store,
      retentionIntervalMs: 0,
      ownership: { leases, replicaId, address: `${replicaId}.kernel:50051`, ttlMs: TTL_MS, renewEveryMs: TTL_MS - 1 },
    });
  return { store, leases, a: kernel('a'), b: kernel('b'), advance: (ms: number) => (now += ms) };
}

const prompt = (text: string) => ({ body: { input_type: 'prompt' as const, text } });

async function refusal(p: Promise<unknown>): Promise<KernelError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KernelError);
  return e as KernelError;
}

describe('session ownership across replicas (decision 12)', () => {
  it('a live lease refuses the other replica, naming the owner; after expiry the other takes over and the stale owner is fenced', async () => {
    const { a, b, advance, store, leases } = replicas();
    const s = newId();
    await a.session.ensureSessionWithExecutor(s, 'echo');
    const first = await a.ingress.acceptWithCompletion(s, prompt('on a'));
    expect(await first.handle?.outcome).toMatchObject({ kind: 'completed' });

    const refused = await refusal(b.session.ensureSessionWithExecutor(s, 'echo'));
    expect(refused.code).toBe('SESSION_OWNED_ELSEWHERE');
    expect(refused.metadata).toMatchObject({ owner_replica: 'a', owner_address: 'a.kernel:50051' });

    // a stops renewing (paused); its lease runs out and b takes over with the next token.
    advance(TTL_MS + 1);
    await b.session.ensureSessionWithExecutor(s, 'echo');
    expect(await leases.lease(s)).toMatchObject({ owner_replica: 'b', fencing_token: 2 });
    const firstId = first.outcome.type === 'accepted' ? first.outcome.input_id : '';
    expect((await b.session.inputState(s, firstId))?.phase).toBe('consumed');
    const second = await b.ingress.acceptWithCompletion(s, prompt('on b'));
    expect(await second.handle?.outcome).toMatchObject({ kind: 'completed' });

    // a wakes up still holding the session in memory: its next commit is refused and writes nothing.
    const commitsBefore = store.commitCount;
    const stale = await refusal(a.ingress.acceptWithCompletion(s, prompt('stale on a')));
    expect(stale.code).toBe('SESSION_OWNED_ELSEWHERE');
    expect(store.commitCount).toBe(commitsBefore);
    expect(a.core.sessions.has(s)).toBe(false);
    expect((await store.loadInputs(`rt:session:${s}`)).map((r) => r.input.body)).not.toContainEqual(prompt('stale on a').body);
    // …and asking a again finds the live owner.
    expect((await refusal(a.session.ensureSessionWithExecutor(s, 'echo'))).metadata).toMatchObject({ owner_replica: 'b' });
    await a.close();
    await b.close();
  });

  it('renewing finds a lease taken over meanwhile and drops that session without writing; close releases the rest', async () => {
    const { a, b, advance, leases } = replicas();
    const [kept, lost] = [newId(), newId()];
    await a.session.ensureSessionWithExecutor(kept, 'echo');
    await a.session.ensureSessionWithExecutor(lost, 'echo');
    advance(TTL_MS + 1);
    await b.session.registerSession(lost);
    // a renews late: an expired lease is never extended (whether or not someone took it over), so a
    // holds neither any more and drops both sessions from memory.
    expect([...(await a.core.renewLeases())].sort()).toEqual([kept, lost].sort());
    expect(a.core.sessions.size).toBe(0);
    // Claimed again by a (its own expired lease, nobody else took it): the token moves on.
    await a.session.ensureSessionWithExecutor(kept, 'echo');
    expect(await leases.lease(kept)).toMatchObject({ owner_replica: 'a', fencing_token: 2 });
    expect(await a.core.renewLeases()).toEqual([]);
    await a.close();
    // Released on close: b takes it at once, without waiting for expiry.
    await b.session.registerSession(kept);
    expect(await leases.lease(kept)).toMatchObject({ owner_replica: 'b', fencing_token: 3 });
    await b.close();
  });
});
