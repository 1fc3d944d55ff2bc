/**
 * ADM: input admission, idempotency, supersede/coalesce, policy (scenarios.md §3).
 */
import { describe, expect, it } from 'vitest';
import { newId, type AcceptOutcome, type Input } from '../../src/kernel/index.js';
import {
  continuation,
  counting,
  externalEvent,
  fnExecutor,
  GatedExecutor,
  newKernel,
  noResultExecutor,
  operation,
  peerMessage,
  peerTerminal,
  progress,
  prompt,
  rt,
  sleep,
  steer,
  waitUntil,
} from './support.js';

function accepted(o: AcceptOutcome): string {
  if (o.type !== 'accepted') throw new Error(`expected an accepted outcome, got ${o.type}`);
  return o.input_id;
}

describe('ADM input admission', () => {
  it('ADM-01 prompt on an idle, executor-less session queues without running', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    const r = await k.ingress.acceptWithCompletion(s, prompt('hello'));
    const id = accepted(r.outcome);
    expect(r.handle).not.toBeNull();
    expect(r.handle?.input_id).toBe(id);

    expect(k.control.runtimeState(rt(s))).toBe('idle');
    expect(k.session.listActiveInputs(s)).toEqual([id]);
    const row = await k.session.inputState(s, id);
    expect(row?.phase).toBe('queued');
    expect(row?.lane).toBe('queue');
    expect(row?.last_run_id).toBeNull();
    expect(row?.terminal_outcome).toBeNull();

    const session = k.core.session(s);
    expect(session.state.input_lane).toEqual({ [id]: 'Queue' });
    expect(session.state.current_run_id).toBeNull();
    expect(session.waiters.inputCount).toBe(1);
    expect(session.waiters.waiterCount).toBe(1);
    await k.close();
  });

  it('ADM-02 AcceptWithoutWake keeps an idle runtime idle', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    const outcome = await k.ingress.acceptWithoutWake(s, prompt('queued-only'));
    const id = accepted(outcome);

    expect(k.control.runtimeState(rt(s))).toBe('idle');
    expect(k.session.listActiveInputs(s)).toEqual([id]);
    // No waiter is registered for an accept without wake.
    expect(k.core.session(s).waiters.waiterCount).toBe(0);
    await k.close();
  });

  it('ADM-03 AcceptWithoutWake on an attached loop defers processing until an explicit wake', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');
    const ids: string[] = [];
    for (const t of ['one', 'two', 'three']) ids.push(accepted(await k.ingress.acceptWithoutWake(s, prompt(t))));

    await sleep(50);
    expect(ex.applies).toBe(0);
    expect(k.session.listActiveInputs(s)).toEqual(ids);

    // The kernel's explicit "wake if active inputs" is the Recover notice: it re-normalises and wakes the loop.
    const report = await k.control.recover(rt(s));
    expect(report.inputs_recovered).toBe(3);

    await waitUntil(async () => {
      const rows = await Promise.all(ids.map((id) => k.session.inputState(s, id)));
      return rows.every((r) => r?.phase === 'consumed');
    }, { message: 'all three inputs consumed' });
    expect(ex.applies).toBe(3);
    expect(ex.contributors).toEqual(ids.map((id) => [id]));
    await k.close();
  });

  it('ADM-06 deduplication emits no new admission signal', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    const first = await k.ingress.acceptWithCompletion(s, prompt('a', 'runtime-dedup'));
    const id = accepted(first.outcome);
    expect(first.admission_signal).toBe('WakeLoop');

    const second = await k.ingress.acceptWithCompletion(s, prompt('b', 'runtime-dedup'));
    expect(second.outcome.type).toBe('deduplicated');
    if (second.outcome.type !== 'deduplicated') throw new Error('unreachable');
    expect(second.outcome.existing_id).toBe(id);
    expect(second.admission_signal).toBe('None');
    // Nothing new was admitted.
    expect(k.session.listActiveInputs(s)).toEqual([id]);
    await k.close();
  });

  it('ADM-07 steered prompt goes to the steer lane', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    const r = await k.ingress.acceptWithCompletion(s, steer('steer prompt'));
    const id = accepted(r.outcome);
    expect(r.handle).not.toBeNull();

    const state = k.core.session(s).state;
    expect(state.input_lane).toEqual({ [id]: 'Steer' });
    expect(Object.values(state.input_lane)).not.toContain('Queue');
    const row = await k.session.inputState(s, id);
    expect(row?.lane).toBe('steer');
    expect(row?.phase).toBe('queued');
    await k.close();
  });

  it('ADM-09 supersession is scoped by kind and key', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);
    const withKey = (input: Input, key: string): Input => ({ ...input, supersession_key: key });
    const pairs: [string, Input, Input][] = [
      ['progress, different keys', progress('a', 'k-a'), progress('b', 'k-b')],
      ['progress, no key', progress('c'), progress('d')],
      ['progress vs external event, same key', progress('e', 'shared'), externalEvent('f', 'shared')],
      ['plain prompts', withKey(prompt('g'), 'prompt-key'), withKey(prompt('h'), 'prompt-key')],
    ];
    for (const [label, a, b] of pairs) {
      const idA = accepted(await k.control.ingest(rt(s), a));
      const idB = accepted(await k.control.ingest(rt(s), b));
      for (const id of [idA, idB]) {
        const row = await k.session.inputState(s, id);
        expect(row?.phase, `${label}: ${id}`).toBe('queued');
        expect(row?.terminal_outcome, `${label}: ${id}`).toBeNull();
        expect(k.session.listActiveInputs(s), label).toContain(id);
      }
    }

    // Control: the same kind with the same key does coalesce the earlier queued input.
    const older = accepted(await k.control.ingest(rt(s), progress('x', 'same')));
    const newer = accepted(await k.control.ingest(rt(s), progress('y', 'same')));
    expect((await k.session.inputState(s, older))?.terminal_outcome).toEqual({ outcome_type: 'coalesced', aggregate_id: newer });
    expect(k.session.listActiveInputs(s)).toContain(newer);
    await k.close();
  });

  it('ADM-10 progress input is passive on an idle runtime', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const r = await k.ingress.acceptWithCompletion(s, progress('p'));
    const id = accepted(r.outcome);
    expect(r.handle).not.toBeNull();
    expect(r.admission_signal).toBe('None');
    expect((await k.session.inputState(s, id))?.phase).toBe('queued');

    await sleep(30);
    expect(k.control.runtimeState(rt(s))).toBe('attached');
    expect(ex.applies).toBe(0);
    expect((await k.session.inputState(s, id))?.phase).toBe('queued');
    await k.close();
  });

  it('ADM-11 continuation on an idle session takes the steer lane and asks for immediate processing', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    const r = await k.ingress.acceptWithCompletion(s, continuation());
    const id = accepted(r.outcome);
    expect(r.admission_signal).toBe('RequestImmediateProcessing');
    expect(k.core.session(s).state.input_lane[id]).toBe('Steer');
    expect((await k.session.inputState(s, id))?.lane).toBe('steer');
    await k.close();
  });

  it('ADM-12 peer terminal wakes an idle loop; while running it is queued for the next idle', async () => {
    const ex = noResultExecutor();
    const k = newKernel({ ex });

    // Idle: WakeLoop.
    const idle = newId();
    await k.session.registerSession(idle);
    const r1 = await k.ingress.acceptWithCompletion(idle, peerTerminal());
    accepted(r1.outcome);
    expect(r1.admission_signal).toBe('WakeLoop');

    // Running (a legacy run holds the runtime; a loop is attached but idle).
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');
    const prepared = await k.legacyRun.prepare(s, prompt('held by the caller'));
    expect(k.control.runtimeState(rt(s))).toBe('running');
    const r2 = await k.ingress.acceptWithCompletion(s, peerTerminal());
    const id = accepted(r2.outcome);
    expect((await k.session.inputState(s, id))?.phase).toBe('queued');
    await sleep(20);
    expect(ex.applies).toBe(0);
    expect(k.control.runtimeState(rt(s))).toBe('running');

    // When the run ends, the pending wake drains the peer terminal without any further stimulus.
    await k.legacyRun.commit(s, prepared.input_id, prepared.run_id, {
      run_id: prepared.run_id,
      contributing_input_ids: [prepared.input_id],
    });
    expect(await r2.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect(ex.contributors).toEqual([[id]]);
    await k.close();
  });

  it('ADM-13 prompt while Running is queued and does not wake', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);
    await k.legacyRun.prepare(s, prompt('run'));
    expect(k.control.runtimeState(rt(s))).toBe('running');

    const id = accepted(await k.control.ingest(rt(s), prompt('later')));
    expect((await k.session.inputState(s, id))?.phase).toBe('queued');

    const r = await k.ingress.acceptWithCompletion(s, prompt('later too'));
    accepted(r.outcome);
    expect(r.admission_signal).toBe('None');
    expect(k.control.runtimeState(rt(s))).toBe('running');
    await k.close();
  });

  it('ADM-14 peer message while Running: queued → InterruptYielding; steer → RequestImmediateProcessing', async () => {
    const ex = new GatedExecutor();
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');
    const head = await k.ingress.acceptWithCompletion(s, prompt('long run'));
    await ex.entered;
    expect(k.control.runtimeState(rt(s))).toBe('running');

    const queued = await k.ingress.acceptWithCompletion(s, peerMessage());
    expect(queued.admission_signal).toBe('InterruptYielding');
    const steered = await k.ingress.acceptWithCompletion(s, peerMessage('steer'));
    expect(steered.admission_signal).toBe('RequestImmediateProcessing');
    expect(k.core.session(s).state.input_lane[steered.outcome.input_id]).toBe('Steer');

    // The wake is honoured: once the run ends, both messages are processed without further stimulus.
    ex.release();
    expect(await head.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect(await queued.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    expect(await steered.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    await k.close();
  });

  it('ADM-15 operation lifecycle inputs are consumed on accept and get no waiter', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);

    for (const ev of ['Progress', 'Cancelled']) {
      const r = await k.ingress.acceptWithCompletion(s, operation(ev));
      const id = accepted(r.outcome);
      expect(r.handle, ev).toBeNull();
      expect((await k.session.inputState(s, id))?.terminal_outcome, ev).toEqual({ outcome_type: 'consumed' });
    }
    expect(k.core.session(s).waiters.waiterCount).toBe(0);
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });

  it('ADM-16 peer input validation at admission', async () => {
    const k = newKernel();
    const s = newId();
    await k.session.registerSession(s);
    const peer = { type: 'peer', peer_id: 'peer-1' } as const;

    const progressWithMode = await k.control.ingest(rt(s), {
      durability: 'ephemeral',
      origin: peer,
      body: {
        input_type: 'peer',
        convention: { type: 'response_progress', request_id: 'req-1', phase: 'working' },
        body: 'p',
        handling_mode: 'queue',
      },
    });
    expect(progressWithMode.type).toBe('rejected');

    const terminalSteer = await k.control.ingest(rt(s), peerTerminal('req-2', 'steer'));
    expect(terminalSteer.type).toBe('accepted');

    const blankRequest = await k.control.ingest(rt(s), peerTerminal(' '));
    expect(blankRequest.type).toBe('rejected');

    const messageSteer = await k.control.ingest(rt(s), peerMessage('steer'));
    const id = accepted(messageSteer);
    expect((await k.session.inputState(s, id))?.lane).toBe('steer');

    // Rejected inputs admitted nothing.
    expect(k.session.listActiveInputs(s)).toHaveLength(2);
    await k.close();
  });

  it('ADM-17 batch contributors keep admission order', async () => {
    const ex = counting(fnExecutor((a) => ({ status: 'completed', result: { text: a.inputs.map((i) => i.text).join('+') } })));
    const k = newKernel({ ex });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'ex');

    const one = await k.ingress.acceptWithCompletion(s, prompt('one'));
    const two = await k.ingress.acceptWithCompletion(s, prompt('two'));
    const [o1, o2] = await Promise.all([one.handle?.outcome, two.handle?.outcome]);
    expect(o1?.kind).toBe('completed');
    expect(o2?.kind).toBe('completed');

    expect(ex.contributors.flat()).toEqual([one.outcome.input_id, two.outcome.input_id]);
    await k.close();
  });
});
