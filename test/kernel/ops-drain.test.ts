/**
 * OPS scenarios (scenarios.md §7): the per-session ops lifecycle registry and
 * the comms drain (decision 9). Unknown sessions are SESSION_NOT_FOUND (decision 2).
 */
import { describe, expect, it } from 'vitest';
import { newId, type OpsRegistry } from '../../src/kernel/index.js';
import { OpsRegistry as OpsRegistryClass } from '../../src/kernel/ops-registry.js';
import type { OpKind } from '../../src/machine/index.js';
import {
  CountingExecutor,
  GatedExecutor,
  attached,
  expectKernelError,
  machineState,
  peerMessage,
  prompt,
  registered,
  settle,
  waitFor,
  withKernel,
} from './support-b.js';

function registryOf(k: Parameters<Parameters<typeof withKernel>[1]>[0], s: string): OpsRegistry {
  const r = k.session.opsLifecycleRegistry(s);
  if (!r) throw new Error(`no ops registry for ${s}`);
  return r;
}

async function runningOp(ops: OpsRegistry, kind: OpKind = 'BackgroundToolOp', name = 'op'): Promise<string> {
  const id = await ops.register({ kind, display_name: name });
  await ops.start(id);
  return id;
}

describe('OPS: ops lifecycle registry', () => {
  it('OPS-01 Operation lifecycle from provisioning to completion, with watchers', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const ops = registryOf(k, s);
      const id = await ops.register({ kind: 'MobMemberChild', display_name: 'member worker' });
      expect(ops.snapshot(id)).toMatchObject({ status: 'Provisioning', peer_ready: false, progress_count: 0, watcher_count: 0 });
      const watched = ops.watch(id);
      await ops.start(id);
      await ops.reportProgress(id);
      await ops.reportProgress(id);
      await ops.peerReady(id);
      expect(ops.snapshot(id)).toMatchObject({ status: 'Running', peer_ready: true, progress_count: 2, watcher_count: 1 });
      expect(ops.list().map((o) => [o.id, o.display_name])).toEqual([[id, 'member worker']]);
      await ops.complete(id, 'X');
      expect(await watched).toEqual({ kind: 'Completed', result: 'X' });
      expect(await ops.watch(id)).toEqual({ kind: 'Completed', result: 'X' });
      expect(ops.snapshot(id)).toMatchObject({
        status: 'Completed',
        watcher_count: 0,
        terminal_outcome: { kind: 'Completed', result: 'X' },
      });
    });
  });

  it('OPS-02 Fail, cancel, retire and abort each produce their own terminal outcome', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const ops = registryOf(k, s);
      const failed = await runningOp(ops);
      const cancelled = await runningOp(ops);
      const retired = await runningOp(ops);
      const provisioning = await ops.register({ kind: 'MobMemberChild', display_name: 'never started' });
      const watches = [failed, cancelled, retired, provisioning].map((id) => ops.watch(id));

      await ops.fail(failed, 'tool crashed');
      await ops.cancel(cancelled, 'operator request');
      await ops.requestRetire(retired);
      expect(ops.snapshot(retired)?.status).toBe('Retiring');
      await ops.reportProgress(retired);
      expect(ops.snapshot(retired)?.progress_count).toBe(1);
      await ops.markRetired(retired);
      await ops.abort(provisioning, 'mob is stopping');

      expect(await Promise.all(watches)).toEqual([
        { kind: 'Failed', error: 'tool crashed' },
        { kind: 'Cancelled', reason: 'operator request' },
        { kind: 'Retired' },
        { kind: 'Aborted', reason: 'mob is stopping' },
      ]);
      expect(ops.snapshot(retired)?.status).toBe('Retired');
      expect(ops.snapshot(provisioning)?.status).toBe('Aborted');
      // A terminal op refuses further lifecycle actions (typed, nothing changes).
      const before = machineState(k, s);
      await expectKernelError(() => ops.start(failed), 'GUARD_REJECTED');
      expect(machineState(k, s).op_statuses).toEqual(before.op_statuses);
    });
  });

  it('OPS-03 Terminate-owner resolves every pending watcher exactly once', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const ops = registryOf(k, s);
      const provisioning = await ops.register({ kind: 'MobMemberChild', display_name: 'p' });
      const running = await runningOp(ops, 'MobMemberChild', 'r');
      let calls = 0;
      const watches = [provisioning, running].map((id) =>
        ops.watch(id).then((o) => {
          calls += 1;
          return o;
        }),
      );
      await ops.terminateOwner('runtime shutting down');
      const terminated = { kind: 'Terminated', reason: 'runtime shutting down' };
      expect(await Promise.all(watches)).toEqual([terminated, terminated]);
      expect(await ops.watch(running)).toEqual(terminated);
      await ops.terminateOwner('again');
      await settle();
      expect(calls).toBe(2);
      for (const id of [provisioning, running]) {
        expect(ops.snapshot(id)).toMatchObject({ status: 'Terminated', watcher_count: 0 });
      }
    });
  });

  it('OPS-04 wait_all returns outcomes in the requested order with an authority-issued obligation', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const ops = registryOf(k, s);
      const a = await runningOp(ops, 'BackgroundToolOp', 'a');
      const b = await runningOp(ops, 'BackgroundToolOp', 'b');
      const c = await runningOp(ops, 'BackgroundToolOp', 'c');
      const run = newId();
      const waiting = ops.waitAll(run, [a, b, c]);
      await waitFor(() => machineState(k, s).wait_active, 'wait barrier');
      const pending = machineState(k, s);
      expect(pending.wait_request_id).toMatch(/.+/);
      expect([...pending.wait_operation_ids].sort()).toEqual([a, b, c].sort());
      await ops.complete(a, 'done');
      await ops.fail(b, 'broken');
      await ops.cancel(c, 'stop');
      const satisfied = await waiting;
      expect(satisfied.outcomes.map((o) => [o.id, o.outcome.kind])).toEqual([
        [a, 'Completed'],
        [b, 'Failed'],
        [c, 'Cancelled'],
      ]);
      expect(satisfied.outcomes).toHaveLength(3);
      expect(satisfied.wait_request_id).toBe(pending.wait_request_id);
      expect(machineState(k, s).wait_active).toBe(false);

      const unknown = newId();
      await expectKernelError(() => ops.waitAll(newId(), [unknown]), 'SESSION_NOT_FOUND', new RegExp(unknown));
      expect(machineState(k, s).wait_active).toBe(false);
    });
  });

  it('OPS-05 collect_completed drains only terminal ops', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const ops = registryOf(k, s);
      const a = await runningOp(ops, 'BackgroundToolOp', 'a');
      const b = await runningOp(ops, 'BackgroundToolOp', 'b');
      await ops.complete(a, 'A');
      expect(await ops.collectCompleted()).toEqual([{ id: a, outcome: { kind: 'Completed', result: 'A' } }]);
      expect(ops.snapshot(a)).toBeNull();
      expect(ops.snapshot(b)?.status).toBe('Running');
      expect(await ops.collectCompleted()).toEqual([]);
    });
  });

  it('OPS-06 Bounded retention of completed ops, and the max-concurrent limit', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const session = k.core.session(s);
      const bounded = new OpsRegistryClass(session, (sess, cmd, inputs) => k.core.mutateSession(sess, cmd, inputs), () => Date.now(), 3);
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const id = await runningOp(bounded, 'MobMemberChild', `op-${i}`);
        await bounded.complete(id, `r${i}`);
        ids.push(id);
      }
      expect(ids.map((id) => bounded.snapshot(id) !== null)).toEqual([false, false, true, true, true]);

      const [s2] = await registered(k);
      const ops = registryOf(k, s2);
      const first = await ops.register({ kind: 'BackgroundToolOp', display_name: '1', max_concurrent: 2 });
      await ops.register({ kind: 'BackgroundToolOp', display_name: '2', max_concurrent: 2 });
      const before = machineState(k, s2).op_statuses;
      const e = await expectKernelError(
        () => ops.register({ kind: 'BackgroundToolOp', display_name: '3', max_concurrent: 2 }),
        'GUARD_REJECTED',
        /MaxConcurrentExceeded\{limit: 2, active: 2\}/,
      );
      expect(e.metadata).toMatchObject({ limit: '2', active: '2' });
      expect(machineState(k, s2).op_statuses).toEqual(before);
      await ops.start(first);
      await ops.complete(first, 'done');
      await ops.register({ kind: 'BackgroundToolOp', display_name: '3', max_concurrent: 2 });

      const [s3] = await registered(k);
      const unlimited = registryOf(k, s3);
      for (let i = 0; i < 100; i += 1) await unlimited.register({ kind: 'MobMemberChild', display_name: `u${i}` });
      expect(unlimited.list()).toHaveLength(100);
    });
  });

  it('OPS-07 Each session has its own registry', async () => {
    await withKernel({}, async (k) => {
      const [s] = await registered(k);
      const [s2] = await registered(k);
      const r1 = registryOf(k, s);
      const r2 = registryOf(k, s2);
      expect(r1).not.toBe(r2);
      const a = await r1.register({ kind: 'MobMemberChild', display_name: 'A' });
      const b = await r2.register({ kind: 'MobMemberChild', display_name: 'B' });
      expect(r1.list().map((o) => o.id)).toEqual([a]);
      expect(r2.list().map((o) => o.id)).toEqual([b]);
      expect(k.session.opsLifecycleRegistry(newId())).toBeNull();
    });
  });

  it('OPS-08 A background completion on an idle attached session injects one continuation run', async () => {
    const ex = new CountingExecutor(null);
    await withKernel({ rec: ex }, async (k) => {
      const [s, rt] = await attached(k, 'rec');
      const ops = registryOf(k, s);
      const op = await runningOp(ops, 'BackgroundToolOp', 'bg');
      await settle();
      expect(ex.applyCount).toBe(0);
      await ops.complete(op, 'finished');
      await waitFor(() => ex.applyCount >= 1, 'continuation run');
      await waitFor(() => k.control.runtimeState(rt) === 'attached', 'attached');
      await settle(20);
      expect(ex.applyCount).toBe(1);
      expect(ex.runs[0]?.inputs.map((i) => i.kind)).toEqual(['Continuation']);
      expect(k.session.listActiveInputs(s)).toEqual([]);
    });
  });

  it('OPS-10 A completion during a run defers the wake; a mob-member-child completion never wakes', async () => {
    const ex = new GatedExecutor('ok');
    await withKernel({ gated: ex }, async (k) => {
      const [s, rt] = await attached(k, 'gated');
      const ops = registryOf(k, s);
      const op = await runningOp(ops, 'BackgroundToolOp', 'bg');
      const r = await k.ingress.acceptWithCompletion(s, prompt('long turn'));
      await ex.entered(1);
      await ops.complete(op, 'mid-run');
      await settle();
      expect(ex.applyCount).toBe(1);
      ex.release();
      expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'ok' } });
      await waitFor(() => ex.applyCount >= 2, 'deferred continuation run');
      expect(ex.runs[1]?.inputs.map((i) => i.kind)).toEqual(['Continuation']);
      await waitFor(() => k.control.runtimeState(rt) === 'attached' && k.session.listActiveInputs(s).length === 0, 'idle');
    });

    const ex2 = new CountingExecutor('flushed');
    await withKernel({ rec: ex2 }, async (k) => {
      const [s] = await attached(k, 'rec');
      const ops = registryOf(k, s);
      const child = await runningOp(ops, 'MobMemberChild', 'child');
      await ops.complete(child, 'member done');
      const r = await k.ingress.acceptWithCompletion(s, prompt('flush'));
      expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'flushed' } });
      await settle(20);
      expect(ex2.applyCount).toBe(1);
      expect(ex2.runs[0]?.inputs.map((i) => i.kind)).toEqual(['Prompt']);
    });
  });
});

describe('OPS: comms drain', () => {
  it('OPS-11 Comms drain: spawn rules and Abort', async () => {
    const ex = new CountingExecutor(null);
    await withKernel({ rec: ex }, async (k) => {
      const [idle] = await registered(k);
      const [att] = await attached(k, 'rec');
      for (const s of [idle, att]) {
        expect(await k.drain.setPeerIngressContext(s, { keep_alive: false, comms_runtime_id: 'comms-1' })).toBe(false);
        expect(k.core.session(s).drain.task).toBeNull();
      }

      const s = idle;
      expect(await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: 'comms-1' })).toBe(true);
      const slot = k.core.session(s).drain;
      expect(slot.phase).toBe('Running');
      expect(slot.mode).toBe('PersistentHost');
      expect(slot.task).not.toBeNull();
      expect(machineState(k, s).drain_phase).toBe('Running');
      // A second keep-alive for the same transport spawns nothing new.
      expect(await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: 'comms-1' })).toBe(false);

      // The drain admits inbox messages as peer inputs.
      await k.deliverPeerMessage(s, peerMessage('hello from a peer'));
      await waitFor(() => k.session.listActiveInputs(s).length === 1, 'peer input admitted');
      const [peerInput] = k.session.listActiveInputs(s);
      expect((await k.session.inputState(s, peerInput as string))?.input.body).toMatchObject({ input_type: 'peer', body: 'hello from a peer' });

      await k.drainLocal.abort(s);
      expect(slot.phase).toBe('Stopped');
      expect(slot.mode).toBe('PersistentHost');
      expect(slot.task).toBeNull();
      expect(machineState(k, s).drain_phase).not.toBe('Running');
      // An aborted drain admits nothing more.
      await k.deliverPeerMessage(s, peerMessage('after abort'));
      await settle(20);
      expect(k.session.listActiveInputs(s)).toHaveLength(1);

      // Unregister aborts a running drain and removes the session.
      // Ownership is per comms runtime: another transport cannot take over a session-owned ingress.
      const owned = machineState(k, att);
      await expectKernelError(
        () => k.drain.setPeerIngressContext(att, { keep_alive: true, comms_runtime_id: 'comms-2' }),
        'GUARD_REJECTED',
      );
      expect(machineState(k, att)).toBe(owned);
      expect(await k.drain.setPeerIngressContext(att, { keep_alive: true, comms_runtime_id: 'comms-1' })).toBe(true);
      const attSlot = k.core.session(att).drain;
      await k.session.unregisterSession(att);
      expect(attSlot.task).toBeNull();
      expect(attSlot.phase).toBe('Stopped');
      expect(k.session.containsSession(att)).toBe(false);
    });
  });

  it('OPS-11 AbortAll stops every running drain and never fails', async () => {
    await withKernel({}, async (k) => {
      const [a] = await registered(k);
      const [b] = await registered(k);
      await k.drain.setPeerIngressContext(a, { keep_alive: true, comms_runtime_id: 'comms-a' });
      await k.drain.setPeerIngressContext(b, { keep_alive: true, comms_runtime_id: 'comms-b' });
      await k.drainLocal.abortAll();
      for (const s of [a, b]) {
        expect(k.core.session(s).drain.phase).toBe('Stopped');
        expect(k.core.session(s).drain.task).toBeNull();
      }
      await k.drainLocal.abortAll();
    });
  });

  for (const reason of ['Dismissed', 'IdleTimeout'] as const) {
    it(`OPS-12 A drain that exits by itself (${reason}) reaches Stopped before Wait joins it`, async () => {
      await withKernel({}, async (k) => {
        const [s] = await registered(k);
        await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: 'comms-1' });
        const slot = k.core.session(s).drain;
        await k.drain.notifyDrainExited(s, reason);
        expect(slot.phase).toBe('Stopped');
        expect(slot.task).toBeNull();
        // The machine records a clean exit (DrainExitedClean: Inactive, mode cleared; commands.md §3.3.2).
        expect(machineState(k, s).drain_phase).toBe('Inactive');
        expect(machineState(k, s).drain_mode).toBeNull();
        await k.drainLocal.wait(s);
        expect(slot.phase).toBe('Stopped');
        expect(machineState(k, s).drain_phase).toBe('Inactive');
        // The exited drain no longer admits peer messages.
        await k.deliverPeerMessage(s, peerMessage('late'));
        await settle(20);
        expect(k.session.listActiveInputs(s)).toEqual([]);
      });
    });
  }
});
