/**
 * REG: session registration & executor attachment (scenarios.md §2).
 */
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/kernel/index.js';
import {
  counting,
  errorCode,
  fnExecutor,
  NO_RESULT,
  newKernel,
  noResultExecutor,
  prompt,
  rt,
  waitUntil,
} from './support.js';

describe('REG session registration & executor attachment', () => {
  it('REG-01 registering a session yields an idle, inert shell', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    expect(k.session.containsSession(s)).toBe(true);
    expect(k.control.runtimeState(rt(s))).toBe('idle');
    expect(k.session.sessionHasExecutor(s)).toBe(false);

    // "Snapshot" equivalents: no live attachment, empty lanes, no waiters, no drain, zero cursors.
    const session = k.core.session(s);
    expect(session.attachment.kind).toBe('none');
    expect(session.loop).toBeNull();
    expect(k.session.listActiveInputs(s)).toEqual([]);
    expect(Object.keys(session.state.input_lane)).toEqual([]);
    expect(session.state.current_run_id).toBeNull();
    expect(session.waiters.inputCount).toBe(0);
    expect(session.waiters.waiterCount).toBe(0);
    expect(session.drain.phase).toBe('Inactive');
    expect(session.drain.task).toBeNull();
    expect(session.state.completion_agent_applied_cursor).toBe(0);
    expect(session.state.completion_runtime_observed_cursor).toBe(0);
    expect(session.state.completion_runtime_injected_cursor).toBe(0);
    await k.close();
  });

  it('REG-02 re-registering the same live session is an idempotent no-op', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);
    const a = await k.ingress.acceptWithoutWake(s, prompt('a'));
    expect(a.type).toBe('accepted');

    await k.session.registerSession(s);
    expect(k.control.runtimeState(rt(s))).toBe('idle');
    expect(k.session.listActiveInputs(s)).toEqual([a.input_id]);

    const bindings = await k.session.prepareBindings(s);
    // machine.md §2 (PrepareBindingsIdle: Idle→Attached) and commands.md §6 checklist item 1:
    // binding the runtime id is what moves the runtime to Attached (the seed scenario text says Idle).
    expect(k.control.runtimeState(rt(s))).toBe('attached');
    expect(k.session.listActiveInputs(s)).toEqual([a.input_id]);
    expect((await k.session.inputState(s, a.input_id))?.phase).toBe('queued');
    const registry = k.session.opsLifecycleRegistry(s);
    expect(registry).toBe(bindings.ops);
    const opId = await bindings.ops.register({ kind: 'BackgroundToolOp', display_name: 'via bindings' });
    expect(registry?.snapshot(opId)?.display_name).toBe('via bindings');
    await k.close();
  });

  it('REG-03 PrepareBindings is stable per session and distinct across sessions', async () => {
    const k = newKernel();
    const s = newId();
    const s2 = newId();
    const b1 = await k.session.prepareBindings(s);
    const b2 = await k.session.prepareBindings(s);
    const other = await k.session.prepareBindings(s2);

    expect(b1.session_id).toBe(s);
    expect(b2.session_id).toBe(s);
    expect(b1.runtime_id).toBe(rt(s));
    expect(b2.epoch_id).toBe(b1.epoch_id);
    const opId = await b1.ops.register({ kind: 'BackgroundToolOp', display_name: 'first' });
    expect(b2.ops.snapshot(opId)?.display_name).toBe('first');

    expect(other.session_id).toBe(s2);
    expect(other.epoch_id).not.toBe(b1.epoch_id);
    expect(other.ops).not.toBe(b1.ops);
    expect(other.ops.snapshot(opId)).toBeNull();
    await k.close();
  });

  it('REG-04 PrepareBindings registers the session without attaching an executor', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.prepareBindings(s);
    expect(k.session.containsSession(s)).toBe(true);
    expect(k.session.sessionHasExecutor(s)).toBe(false);

    // A never-registered session: false, not an error, and nothing gets registered.
    const unknown = newId();
    expect(k.session.sessionHasExecutor(unknown)).toBe(false);
    expect(k.session.containsSession(unknown)).toBe(false);
    await k.close();
  });

  it('REG-05 attaching an executor flips executor readiness and phase', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.prepareBindings(s);
    await k.session.ensureSessionWithExecutor(s, 'ex');

    expect(k.session.sessionHasExecutor(s)).toBe(true);
    expect(k.control.runtimeState(rt(s))).toBe('attached');
    await k.close();
  });

  it('REG-06 attaching an executor to a registered session drains work queued before the attach', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.registerSession(s);
    const outcome = await k.control.ingest(rt(s), prompt('upgrade me'));
    if (outcome.type !== 'accepted') throw new Error(`expected accepted, got ${outcome.type}`);
    const id = outcome.input_id;
    expect((await k.session.inputState(s, id))?.phase).toBe('queued');
    expect(ex.applies).toBe(0);

    await k.session.ensureSessionWithExecutor(s, 'ex');

    await waitUntil(async () => (await k.session.inputState(s, id))?.phase === 'consumed', { message: 'input consumed' });
    expect(ex.contributors.flat()).toEqual([id]);
    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });

  it('REG-07 cold attach without prior registration creates the session with a shared registry', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });
    const s = newId();
    expect(k.session.containsSession(s)).toBe(false);

    await k.session.ensureSessionWithExecutor(s, 'ex');
    const bindings = await k.session.prepareBindings(s);

    expect(bindings.session_id).toBe(s);
    const registry = k.session.opsLifecycleRegistry(s);
    expect(registry).toBe(bindings.ops);
    const opId = await bindings.ops.register({ kind: 'BackgroundToolOp', display_name: 'cold' });
    expect(registry?.snapshot(opId)?.display_name).toBe('cold');
    await k.close();
  });

  it('REG-09 a dead loop is repaired by attaching a new executor', async () => {
    // EX-STOPCRASH: the stop hook crashes the runtime loop.
    const crash = counting(
      fnExecutor(
        () => NO_RESULT,
        () => {
          throw new Error('stop hook crashed');
        },
      ),
    );
    const repair = noResultExecutor();
    const k = newKernel({ crash, repair });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'crash');
    expect(k.control.runtimeState(rt(s))).toBe('attached');

    await k.session.stopRuntimeExecutor(s, 'stop test');
    await waitUntil(() => !k.session.sessionHasExecutor(s), { message: 'the crashed loop is gone' });
    expect(crash.stops).toBe(1);
    // No loop is alive any more: boundary cancel has nothing to talk to.
    expect(await errorCode(k.session.cancelAfterBoundary(s))).toBe('INVALID_PHASE');

    await k.session.ensureSessionWithExecutor(s, 'repair');
    const outcome = await k.control.ingest(rt(s), prompt('repair'));
    if (outcome.type !== 'accepted') throw new Error(`expected accepted, got ${outcome.type}`);

    await waitUntil(async () => (await k.session.inputState(s, outcome.input_id))?.phase === 'consumed', {
      message: 'repair input consumed',
    });
    expect(repair.applies).toBe(1);
    expect(crash.applies).toBe(0);
    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    expect(k.session.sessionHasExecutor(s)).toBe(true);
    await k.close();
  });

  it('REG-10 a second executor attach while one is live does not start a second loop', async () => {
    const a = noResultExecutor();
    const b = noResultExecutor();
    const k = newKernel({ a, b });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'a');
    const loop = k.core.session(s).loop;

    await k.session.ensureSessionWithExecutor(s, 'b');
    expect(k.core.session(s).loop).toBe(loop);

    const { handle } = await k.ingress.acceptWithCompletion(s, prompt('who runs me'));
    expect(await handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect(a.applies).toBe(1);
    expect(b.applies).toBe(0);
    await waitUntil(() => k.control.runtimeState(rt(s)) === 'attached');
    await k.close();
  });

  it('REG-11 unregistering removes the session', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);
    await k.session.unregisterSession(s);

    expect(k.session.containsSession(s)).toBe(false);
    // Decision 2: unknown session → SESSION_NOT_FOUND, through both the session and the control plane.
    expect(await errorCode(() => k.session.listActiveInputs(s))).toBe('SESSION_NOT_FOUND');
    expect(await errorCode(k.session.inputState(s, newId()))).toBe('SESSION_NOT_FOUND');
    expect(await errorCode(() => k.control.runtimeState(rt(s)))).toBe('SESSION_NOT_FOUND');
    await k.close();
  });

  it('REG-12 after unregister, re-registration gives a fresh empty shell with a new epoch', async () => {
    const k = newKernel();
    const s = newId();
    const first = await k.session.prepareBindings(s);
    await k.ingress.acceptWithoutWake(s, prompt('queued before unregister'));
    expect(k.session.listActiveInputs(s)).toHaveLength(1);

    await k.session.unregisterSession(s);
    const second = await k.session.prepareBindings(s);

    expect(second.epoch_id).not.toBe(first.epoch_id);
    expect(second.ops).not.toBe(first.ops);
    // A fresh shell, freshly bound: Attached per machine.md §2 (PrepareBindingsIdle), with no inputs.
    expect(k.control.runtimeState(rt(s))).toBe('attached');
    expect(k.core.session(s).state.active_runtime_epoch_id).toBe(second.epoch_id);
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });
});
