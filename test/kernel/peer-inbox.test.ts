/**
 * The durable per-session peer inbox (decision 9; issue 5 "Peer messaging"): a delivered message
 * is in the store before `deliverPeerMessage` resolves, the drain started by
 * `SetPeerIngressContext(keep_alive=true)` admits it as a peer input whose commit removes it from
 * the inbox, and messages outlive an aborted or exited drain and a kernel restart; a drain that
 * was running when the kernel stopped is respawned when its session is recovered. The crash test
 * with a real process is `test/crash/crash.test.ts`; the store rules are in the store contract.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryRuntimeStore, MeerkatMachine, newId, runtimeIdOf, type PeerMessage } from '../../src/kernel/index.js';
import { expectKernelError, kernelWith, peerMessage, registered, settle, waitFor, withKernel } from './support-b.js';

const COMMS = 'comms-1';

/** Counts the messages removed without being admitted. */
class CountingStore extends InMemoryRuntimeStore {
  discards = 0;
  override async discardPeerMessage(runtimeId: string, sequence: number): Promise<boolean> {
    this.discards += 1;
    return super.discardPeerMessage(runtimeId, sequence);
  }
}

async function inbox(store: InMemoryRuntimeStore, sessionId: string): Promise<readonly PeerMessage[]> {
  return store.loadPeerMessages(runtimeIdOf(sessionId), 100);
}

/** Polls the store until the session's inbox is empty. */
async function untilEmpty(store: InMemoryRuntimeStore, sessionId: string): Promise<void> {
  for (let i = 0; i < 1000; i += 1) {
    if ((await inbox(store, sessionId)).length === 0) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('the inbox was not emptied');
}

function bodies(k: MeerkatMachine, sessionId: string): Promise<string[]> {
  return Promise.all(
    k.session.listActiveInputs(sessionId).map(async (id) => {
      const body = (await k.session.inputState(sessionId, id))?.input.body;
      return body?.input_type === 'peer' ? body.body : `not a peer input: ${id}`;
    }),
  );
}

describe('durable peer inbox (decision 9)', () => {
  it('a delivery is stored before it is acknowledged; the drain admits it with its input id and removes it in the same commit', async () => {
    const store = new CountingStore();
    await withKernel(
      {},
      async (k) => {
        const [s] = await registered(k);
        const first = await k.deliverPeerMessage(s, peerMessage('one'));
        const second = await k.deliverPeerMessage(s, peerMessage('two'));
        expect(second.sequence).toBeGreaterThan(first.sequence);
        expect((await inbox(store, s)).map((m) => [m.sequence, m.input.id])).toEqual([
          [first.sequence, first.input_id],
          [second.sequence, second.input_id],
        ]);
        // No drain yet: nothing is admitted, nothing leaves the inbox.
        await settle(20);
        expect(k.session.listActiveInputs(s)).toEqual([]);

        const commitsBefore = store.commitCount;
        // What the inbox holds the moment each admitted row is installed (right after its commit).
        const inboxAtAdmission: number[][] = [];
        k.core.session(s).watchRows((row) => {
          if (row.phase !== 'queued') return;
          void store.loadPeerMessages(runtimeIdOf(s), 10).then((ms) => inboxAtAdmission.push(ms.map((m) => m.sequence)));
        });
        expect(await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS })).toBe(true);
        await waitFor(() => k.session.listActiveInputs(s).length === 2, 'both peer inputs admitted');
        expect(k.session.listActiveInputs(s)).toEqual([first.input_id, second.input_id]);
        expect(await bodies(k, s)).toEqual(['one', 'two']);
        expect(await inbox(store, s)).toEqual([]);
        // Each admission commit carried its message's removal (no separate delete).
        expect(inboxAtAdmission).toEqual([[second.sequence], []]);
        expect(store.discards).toBe(0);
        expect(store.commitCount - commitsBefore).toBe(3); // SetPeerIngressContext + two admissions
        const row = await store.loadInput(runtimeIdOf(s), first.input_id);
        expect(row?.input.origin).toEqual({ type: 'peer', peer_id: 'peer-1' });
      },
      { store },
    );
  });

  it('an admission whose commit fails leaves the message in the inbox; the drain retries and admits it exactly once', async () => {
    const store = new CountingStore();
    await withKernel(
      {},
      async (k) => {
        const [s] = await registered(k);
        await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS });
        store.failNextCommits = { count: 2, message: 'disk full' };
        const m = await k.deliverPeerMessage(s, peerMessage('retried'));
        await waitFor(() => k.session.listActiveInputs(s).length === 1, 'admitted after the store recovered', 4000);
        expect(store.failNextCommits).toEqual({ count: 0, message: 'disk full' });
        expect(k.session.listActiveInputs(s)).toEqual([m.input_id]);
        expect(await inbox(store, s)).toEqual([]);
        expect((await store.loadInputs(runtimeIdOf(s))).map((r) => r.input_id)).toEqual([m.input_id]);
        expect(store.discards).toBe(0);
      },
      { store },
    );
  });

  it('a message the session refuses is discarded and the drain keeps admitting the next ones', async () => {
    const store = new CountingStore();
    await withKernel(
      {},
      async (k) => {
        const [s] = await registered(k);
        const bad = await k.deliverPeerMessage(s, peerMessage('accepted twice?'));
        // The same input (same id) delivered again: the second copy is refused ("already submitted").
        const [stored] = await inbox(store, s);
        await store.appendPeerMessage({ runtime_id: runtimeIdOf(s), session_id: s, input: stored!.input, created_at: 0 });
        const good = await k.deliverPeerMessage(s, peerMessage('next'));
        await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS });
        await waitFor(() => k.session.listActiveInputs(s).length === 2, 'first and last admitted');
        await untilEmpty(store, s);
        await settle(20);
        expect(k.session.listActiveInputs(s)).toEqual([bad.input_id, good.input_id]);
        expect(await inbox(store, s)).toEqual([]);
        expect(store.discards).toBe(1);
      },
      { store },
    );
  });

  it('Abort, NotifyDrainExited and Wait stop admitting, but messages delivered meanwhile stay and are admitted by the next drain', async () => {
    const store = new CountingStore();
    await withKernel(
      {},
      async (k) => {
        const [s] = await registered(k);
        await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS });
        await k.drainLocal.abort(s);
        const a = await k.deliverPeerMessage(s, peerMessage('while aborted'));
        await settle(20);
        expect(k.session.listActiveInputs(s)).toEqual([]);
        expect((await inbox(store, s)).map((m) => m.input.id)).toEqual([a.input_id]);

        expect(await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS })).toBe(true);
        await waitFor(() => k.session.listActiveInputs(s).length === 1, 'admitted by the respawned drain');
        await k.drain.notifyDrainExited(s, 'Dismissed');
        await k.drainLocal.wait(s);
        const b = await k.deliverPeerMessage(s, peerMessage('after exit'));
        await settle(20);
        expect(k.session.listActiveInputs(s)).toEqual([a.input_id]);
        expect((await inbox(store, s)).map((m) => m.input.id)).toEqual([b.input_id]);

        await k.drainLocal.abortAll();
        expect(await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS })).toBe(true);
        await waitFor(() => k.session.listActiveInputs(s).length === 2, 'admitted after the exit');
        expect(await bodies(k, s)).toEqual(['while aborted', 'after exit']);
        expect(await inbox(store, s)).toEqual([]);
      },
      { store },
    );
  });

  it('after a restart the undelivered messages are still there and the next drain admits each once, in arrival order', async () => {
    const store = new CountingStore();
    const before = kernelWith({}, { store });
    const s = newId();
    await before.session.registerSession(s);
    const delivered = [];
    for (const text of ['a', 'b', 'c']) delivered.push(await before.deliverPeerMessage(s, peerMessage(text)));
    await before.close();

    const after = kernelWith({}, { store });
    try {
      await after.session.registerSession(s);
      expect(await inbox(store, s)).toHaveLength(3);
      await after.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS });
      await waitFor(() => after.session.listActiveInputs(s).length === 3, 'three admitted after the restart');
      expect(after.session.listActiveInputs(s)).toEqual(delivered.map((d) => d.input_id));
      expect(await bodies(after, s)).toEqual(['a', 'b', 'c']);
      expect(await inbox(store, s)).toEqual([]);
      expect(await store.loadInputs(runtimeIdOf(s))).toHaveLength(3);
    } finally {
      await after.close();
    }
  });

  it('a drain running when the kernel stopped is respawned when the session is recovered; a drain stopped on purpose is not', async () => {
    const store = new CountingStore();
    const before = kernelWith({}, { store });
    const [running, stopped] = [newId(), newId()];
    for (const s of [running, stopped]) {
      await before.session.registerSession(s);
      await before.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: COMMS, mob_id: 'mob-1' });
    }
    await before.drainLocal.abort(stopped);
    await before.close(); // the drain tasks end with the process; the inbox is durable
    // Messages that arrive while no kernel runs (e.g. delivered by another replica).
    for (const s of [running, stopped]) {
      await store.appendPeerMessage({ runtime_id: runtimeIdOf(s), session_id: s, input: { ...peerMessage(s), id: newId(), durability: 'durable' } as PeerMessage['input'], created_at: 0 });
    }

    const after = kernelWith({}, { store });
    try {
      for (const s of [running, stopped]) await after.session.registerSession(s);
      expect(after.core.session(running).state.drain_phase).toBe('Running');
      expect(after.core.session(running).recoveryReport?.details).toContain(`comms drain of ${COMMS} respawned`);
      await waitFor(() => after.session.listActiveInputs(running).length === 1, 'admitted by the respawned drain');
      await untilEmpty(store, running);
      expect(await bodies(after, running)).toEqual([running]);
      // The aborted drain stays down until SetPeerIngressContext(keep_alive=true) starts it again.
      expect(after.core.session(stopped).state.drain_phase).toBe('Stopped');
      await settle(20);
      expect(after.session.listActiveInputs(stopped)).toEqual([]);
      expect(await inbox(store, stopped)).toHaveLength(1);
      expect(await after.drain.setPeerIngressContext(stopped, { keep_alive: true, comms_runtime_id: COMMS, mob_id: 'mob-1' })).toBe(true);
      await waitFor(() => after.session.listActiveInputs(stopped).length === 1, 'admitted after the explicit restart');
      // Asking again while the drain runs is idempotent (no second task).
      expect(await after.drain.setPeerIngressContext(running, { keep_alive: true, comms_runtime_id: COMMS, mob_id: 'mob-1' })).toBe(false);
      expect(store.discards).toBe(0);
    } finally {
      await after.close();
    }
  });

  it('delivery is refused for an unknown or destroyed session and for a malformed input, storing nothing; unregister forgets the inbox', async () => {
    const store = new CountingStore();
    await withKernel(
      {},
      async (k) => {
        const unknown = newId();
        await expectKernelError(() => k.deliverPeerMessage(unknown, peerMessage('x')), 'SESSION_NOT_FOUND');
        expect(await inbox(store, unknown)).toEqual([]);
        const [s, rt] = await registered(k);
        await expectKernelError(() => k.deliverPeerMessage(s, { ...peerMessage('x'), id: 'not-a-uuid' }), 'INVALID_ARGUMENT', 'message.id');
        expect(await inbox(store, s)).toEqual([]);
        await k.deliverPeerMessage(s, peerMessage('pending'));
        await k.session.unregisterSession(s);
        expect(await inbox(store, s)).toEqual([]);
        const [d, drt] = await registered(k);
        await k.control.destroy(drt);
        await expectKernelError(() => k.deliverPeerMessage(d, peerMessage('x')), 'RUNTIME_DESTROYED');
        expect(await inbox(store, d)).toEqual([]);
        expect(rt).toBe(runtimeIdOf(s));
      },
      { store },
    );
  });
});
