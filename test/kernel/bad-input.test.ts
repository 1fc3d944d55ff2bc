/**
 * BAD scenarios (scenarios.md §11) plus extra malformed-request cases. Error
 * codes follow the binding decisions (README): unknown → SESSION_NOT_FOUND,
 * destroyed → RUNTIME_DESTROYED, illegal phase → INVALID_PHASE, bad arguments →
 * INVALID_ARGUMENT with field violations, bare uuid as a runtime id →
 * INVALID_ARGUMENT (decision 13). Every refusal must leave the session untouched.
 */
import { describe, expect, it } from 'vitest';
import { v4 as uuidv4 } from 'uuid';
import {
  InMemoryRuntimeStore,
  MAX_TEXT_BYTES,
  newId,
  runtimeIdOf,
  type Input,
  type KernelError,
  type KernelErrorCode,
  type MeerkatMachine,
} from '../../src/kernel/index.js';
import { MAX_SILENT_INTENTS } from '../../src/kernel/commands/session.js';
import {
  CountingExecutor,
  attached,
  expectKernelError,
  peerTerminal,
  progress,
  prompt,
  registered,
  settle,
  stateSnapshot,
  withKernel,
} from './support-b.js';

const witness = { stable_owner_key: 'callback:test', last_seen_provenance: { kind: 'callback', source_id: 'test' } };

/** Everything a refusal must leave untouched for one session. */
function footprint(k: MeerkatMachine, s: string, store: InMemoryRuntimeStore): unknown {
  const session = k.core.session(s);
  return {
    state: stateSnapshot(k, s),
    ledger: session.ledger.size,
    active: session.activeInputIds(),
    waiters: session.waiters.waiterCount,
    commits: store.commitCount,
    sessions: k.core.sessions.size,
  };
}

/** Asserts `fn` is refused with `code` (message matching `mentions`) and changes nothing. */
async function refusedUnchanged(
  k: MeerkatMachine,
  s: string,
  store: InMemoryRuntimeStore,
  fn: () => unknown,
  code: KernelErrorCode,
  ...mentions: (string | RegExp)[]
): Promise<KernelError> {
  const before = footprint(k, s, store);
  const e = await expectKernelError(fn, code, ...mentions);
  expect(footprint(k, s, store)).toEqual(before);
  return e;
}

async function withStore<T>(body: (k: MeerkatMachine, store: InMemoryRuntimeStore) => Promise<T>, ex: CountingExecutor = new CountingExecutor('r')): Promise<T> {
  const store = new InMemoryRuntimeStore();
  return withKernel({ rec: ex }, (k) => body(k, store), { store });
}

describe('BAD: invalid targets', () => {
  it('BAD-02 The raw session UUID is never accepted as a runtime id', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      expect(k.control.runtimeState(rt)).toBe('idle');
      expect(rt).not.toBe(s);
      expect(rt).toBe(`rt:session:${s}`);
      const e = await refusedUnchanged(k, s, store, () => k.control.runtimeState(s), 'INVALID_ARGUMENT', /bare session uuid/);
      expect(e.violations).toEqual([expect.objectContaining({ field: 'runtime_id' })]);
      for (const call of [
        () => k.control.retire(s),
        () => k.control.reset(s),
        () => k.control.recover(s),
        () => k.control.recycle(s),
        () => k.control.destroy(s),
        () => k.control.ingest(s, prompt('x')),
        () => k.control.publishEvent(s, 'kind'),
        () => k.control.loadBoundaryReceipt(s, newId(), 0),
      ]) {
        await refusedUnchanged(k, s, store, call, 'INVALID_ARGUMENT', /runtime_id/);
      }
      expect(k.control.runtimeState(rt)).toBe('idle');
    });
  });

  it('BAD-03 Unregistering an unknown session fails', async () => {
    await withKernel({}, async (k) => {
      const s = newId();
      const e = await expectKernelError(() => k.session.unregisterSession(s), 'SESSION_NOT_FOUND', new RegExp(s));
      expect(e.metadata.session_id).toBe(s);
      expect(k.session.containsSession(s)).toBe(false);
      expect(k.core.sessions.size).toBe(0);
    });
  });

  it('BAD-04 A destroyed binding cannot be brought back', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      await k.control.destroy(rt);
      await refusedUnchanged(k, s, store, () => k.session.registerSession(s), 'RUNTIME_DESTROYED', /destroyed/);
      await refusedUnchanged(k, s, store, () => k.session.prepareBindings(s), 'RUNTIME_DESTROYED', /destroyed/);
      await refusedUnchanged(k, s, store, () => k.session.prepareLocalSessionBindings(s), 'RUNTIME_DESTROYED');
      await refusedUnchanged(k, s, store, () => k.session.ensureSessionWithExecutor(s, 'rec'), 'RUNTIME_DESTROYED');
      expect(k.control.runtimeState(rt)).toBe('destroyed');
      expect(k.session.containsSession(s)).toBe(true);
    });
  });

  it('BAD-05 Every mutating command on a destroyed session fails with RUNTIME_DESTROYED', async () => {
    const ex = new CountingExecutor('r');
    await withStore(async (k, store) => {
      const [s, rt] = await attached(k, 'rec');
      await k.control.destroy(rt);
      await settle();
      const run = newId();
      const calls: [string, () => unknown][] = [
        ['AcceptWithCompletion', () => k.ingress.acceptWithCompletion(s, prompt('x'))],
        ['AcceptWithoutWake', () => k.ingress.acceptWithoutWake(s, prompt('x'))],
        ['Ingest', () => k.control.ingest(rt, prompt('x'))],
        ['CancelAfterBoundary', () => k.session.cancelAfterBoundary(s)],
        ['StopRuntimeExecutor', () => k.session.stopRuntimeExecutor(s, 'stop')],
        ['PublishCommittedVisibleSet', () => k.session.publishCommittedVisibleSet(s, k.session.visibilityState(s))],
        ['StagePersistentFilter', () => k.session.stagePersistentFilter(s, { kind: 'All' }, {})],
        ['RequestDeferredTools', () => k.session.requestDeferredTools(s, [{ name: 't', witness }])],
        ['Prepare', () => k.legacyRun.prepare(s, prompt('x'))],
        ['Commit', () => k.legacyRun.commit(s, newId(), run, { run_id: run, contributing_input_ids: [] })],
        ['Fail', () => k.legacyRun.fail(s, run, { cause_kind: 'FatalFailure', message: 'x' })],
        ['SetSilentIntents', () => k.session.setSilentIntents(s, ['mob.status'])],
        ['SetPeerIngressContext', () => k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: 'c' })],
        ['NotifyDrainExited', () => k.drain.notifyDrainExited(s, 'Dismissed')],
        ['CommitServiceTurnTerminalReceipt', () => k.session.commitServiceTurnTerminalReceipt(s)],
        ['ReconfigureSessionLlmIdentity', () => k.session.reconfigureSessionLlmIdentity(s, { model: 'm' })],
        ['Retire', () => k.control.retire(rt)],
        ['Reset', () => k.control.reset(rt)],
        ['Recover', () => k.control.recover(rt)],
        ['Recycle', () => k.control.recycle(rt)],
        ['Destroy', () => k.control.destroy(rt)],
        ['PublishEvent', () => k.control.publishEvent(rt, 'kind')],
        ['UnregisterSession', () => k.session.unregisterSession(s)],
      ];
      for (const [name, call] of calls) {
        const e = await refusedUnchanged(k, s, store, call, 'RUNTIME_DESTROYED');
        expect(e.code, name).toBe('RUNTIME_DESTROYED');
      }
      await settle();
      expect(ex.applyCount).toBe(0);
      expect(ex.stopCount).toBe(0);
      expect(ex.cancelAfterBoundaryCount).toBe(0);
      expect(k.control.runtimeState(rt)).toBe('destroyed');
    }, ex);
  });

  it('BAD-06 Ingest on a Retired or Stopped runtime', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      await k.control.retire(rt);
      const e1 = await refusedUnchanged(k, s, store, () => k.control.ingest(rt, prompt('x')), 'INVALID_PHASE', /Retired/);
      expect(e1.metadata.phase).toBe('Retired');

      const [s2, rt2] = await registered(k);
      await k.session.prepareBindings(s2);
      await k.session.stopRuntimeExecutor(s2, 'stop');
      expect(k.control.runtimeState(rt2)).toBe('stopped');
      const e2 = await refusedUnchanged(k, s2, store, () => k.control.ingest(rt2, prompt('x')), 'INVALID_PHASE', /Stopped/);
      expect(e2.metadata.phase).toBe('Stopped');
    });
  });

  it('BAD-07 Prepare on a Retired runtime', async () => {
    const ex = new CountingExecutor('r');
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      await k.control.retire(rt);
      const e = await refusedUnchanged(k, s, store, () => k.legacyRun.prepare(s, prompt('x')), 'INVALID_PHASE');
      expect(e.metadata.phase).toBe('Retired');
      expect(ex.applyCount).toBe(0);
    }, ex);
  });

  it('BAD-08 Cancel with no attached loop', async () => {
    await withStore(async (k, store) => {
      const [s] = await registered(k);
      const e = await refusedUnchanged(k, s, store, () => k.session.cancelAfterBoundary(s), 'INVALID_PHASE', /no runtime loop/);
      expect(e.metadata.phase).toBe('Idle');
    });
  });

  it('BAD-10 Commit or Fail against a session that does not exist', async () => {
    await withKernel({}, async (k) => {
      const s = newId();
      const run = newId();
      await expectKernelError(
        () => k.legacyRun.commit(s, newId(), run, { run_id: run, contributing_input_ids: [] }),
        'SESSION_NOT_FOUND',
      );
      await expectKernelError(() => k.legacyRun.fail(s, run, { cause_kind: 'FatalFailure', message: 'x' }), 'SESSION_NOT_FOUND');
      expect(k.session.containsSession(s)).toBe(false);
    });
  });

  it('BAD-11 Silent intents on an unknown or destroyed session', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      await k.control.destroy(rt);
      await refusedUnchanged(k, s, store, () => k.session.setSilentIntents(s, ['mob.status']), 'RUNTIME_DESTROYED');
      const unknown = newId();
      await expectKernelError(() => k.session.setSilentIntents(unknown, ['mob.status']), 'SESSION_NOT_FOUND');
      expect(k.session.containsSession(unknown)).toBe(false);
    });
  });

  it('BAD-12 Peer-ingress and drain commands on unknown or destroyed sessions', async () => {
    await withStore(async (k, store) => {
      const unknown = newId();
      await expectKernelError(
        () => k.drain.setPeerIngressContext(unknown, { keep_alive: true, comms_runtime_id: 'c' }),
        'SESSION_NOT_FOUND',
      );
      expect(k.session.containsSession(unknown)).toBe(false);
      const [s, rt] = await registered(k);
      await k.control.destroy(rt);
      await refusedUnchanged(
        k,
        s,
        store,
        () => k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: 'c' }),
        'RUNTIME_DESTROYED',
      );
      expect(k.core.session(s).drain.task).toBeNull();
      expect(k.core.session(s).drain.phase).toBe('Inactive');

      await expect(k.drain.notifyDrainExited(unknown, 'Dismissed')).resolves.toBeUndefined();
      expect(k.session.containsSession(unknown)).toBe(false);
      await expectKernelError(() => k.drainLocal.abort(unknown), 'SESSION_NOT_FOUND');
      await expectKernelError(() => k.drainLocal.wait(unknown), 'SESSION_NOT_FOUND');
      await expect(k.drainLocal.abortAll()).resolves.toBeUndefined();
    });
  });
});

describe('BAD: malformed requests (extra cases)', () => {
  it('BAD-X1 Malformed session ids are INVALID_ARGUMENT and register nothing', async () => {
    await withStore(async (k, store) => {
      const [s] = await registered(k);
      for (const bad of ['', 'not-a-uuid', uuidv4(), `${newId()}x`, runtimeIdOf(newId())]) {
        for (const call of [
          () => k.session.registerSession(bad),
          () => k.session.ensureSessionWithExecutor(bad, 'echo'),
          () => k.session.prepareBindings(bad),
          () => k.ingress.acceptWithCompletion(bad, prompt('x')),
          () => k.session.setSilentIntents(bad, []),
          () => k.session.unregisterSession(bad),
          () => k.legacyRun.prepare(bad, prompt('x')),
        ]) {
          const e = await refusedUnchanged(k, s, store, call, 'INVALID_ARGUMENT', /session_id/);
          expect(e.violations[0]?.field).toBe('session_id');
        }
      }
      const v4 = uuidv4();
      await expectKernelError(() => k.session.registerSession(v4), 'INVALID_ARGUMENT', /UUID v4; a UUID v7 is required/);
      expect(k.core.sessions.size).toBe(1);
    });
  });

  it('BAD-X2 Malformed runtime ids are INVALID_ARGUMENT; a well-formed unknown one is SESSION_NOT_FOUND', async () => {
    await withStore(async (k, store) => {
      const [s] = await registered(k);
      for (const bad of [s, '', 'rt:session:', 'rt:session:not-a-uuid', `rt:session:${uuidv4()}`, `runtime:${s}`]) {
        const e = await refusedUnchanged(k, s, store, () => k.control.retire(bad), 'INVALID_ARGUMENT', /runtime_id/);
        expect(e.violations[0]?.field).toBe('runtime_id');
      }
      const unknown = runtimeIdOf(newId());
      const e = await refusedUnchanged(k, s, store, () => k.control.retire(unknown), 'SESSION_NOT_FOUND');
      expect(e.metadata.runtime_id).toBe(unknown);
    });
  });

  it('BAD-X3 Empty or blank prompt text is INVALID_ARGUMENT on every admission path', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      for (const text of ['', '   ', '\n\t']) {
        for (const call of [
          () => k.ingress.acceptWithCompletion(s, prompt(text)),
          () => k.ingress.acceptWithoutWake(s, prompt(text)),
          () => k.control.ingest(rt, prompt(text)),
          () => k.legacyRun.prepare(s, prompt(text)),
        ]) {
          const e = await refusedUnchanged(k, s, store, call, 'INVALID_ARGUMENT', /must not be empty/);
          expect(e.violations).toEqual([{ field: 'input.body.text', description: 'must not be empty' }]);
        }
      }
    });
  });

  it('BAD-X4 Prompt text over 256 KiB is INVALID_ARGUMENT (bytes, not characters)', async () => {
    await withStore(async (k, store) => {
      const [s] = await registered(k);
      const oversized = 'a'.repeat(MAX_TEXT_BYTES + 1);
      const e = await refusedUnchanged(k, s, store, () => k.ingress.acceptWithCompletion(s, prompt(oversized)), 'INVALID_ARGUMENT', /limit is 262144/);
      expect(e.violations[0]?.field).toBe('input.body.text');
      // Fewer characters than the limit, more bytes: still refused.
      const wide = 'é'.repeat(MAX_TEXT_BYTES / 2 + 1);
      await refusedUnchanged(k, s, store, () => k.ingress.acceptWithoutWake(s, prompt(wide)), 'INVALID_ARGUMENT', /262146 bytes/);
      // Exactly at the limit is accepted.
      expect((await k.ingress.acceptWithoutWake(s, prompt('a'.repeat(MAX_TEXT_BYTES)))).type).toBe('accepted');
    });
  });

  it('BAD-X5 An unknown executor name is UNKNOWN_EXECUTOR and attaches nothing', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      const e = await refusedUnchanged(k, s, store, () => k.session.ensureSessionWithExecutor(s, 'no-such-executor'), 'UNKNOWN_EXECUTOR', /no-such-executor/);
      expect(e.metadata.executor).toBe('no-such-executor');
      expect(k.session.sessionHasExecutor(s)).toBe(false);
      expect(k.control.runtimeState(rt)).toBe('idle');
      const fresh = newId();
      await expectKernelError(() => k.session.ensureSessionWithExecutor(fresh, ''), 'UNKNOWN_EXECUTOR');
      expect(k.session.containsSession(fresh)).toBe(false);
    });
  });

  it('BAD-X6 Too many or blank silent intents are INVALID_ARGUMENT', async () => {
    await withStore(async (k, store) => {
      const [s] = await registered(k);
      await k.session.setSilentIntents(s, ['kept']);
      const many = Array.from({ length: MAX_SILENT_INTENTS + 1 }, (_, i) => `intent.${i}`);
      const e = await refusedUnchanged(k, s, store, () => k.session.setSilentIntents(s, many), 'INVALID_ARGUMENT', /limit is 64/);
      expect(e.violations[0]?.field).toBe('intents');
      const blank = await refusedUnchanged(k, s, store, () => k.session.setSilentIntents(s, ['ok', ' ']), 'INVALID_ARGUMENT');
      expect(blank.violations).toEqual([{ field: 'intents[1]', description: 'must be a non-empty string' }]);
      await refusedUnchanged(k, s, store, () => k.session.setSilentIntents(s, ['x'.repeat(257)]), 'INVALID_ARGUMENT', /intents\[0\]/);
      expect(k.core.session(s).state.silent_intent_overrides).toEqual(['kept']);
      // Exactly the limit is fine.
      await k.session.setSilentIntents(s, many.slice(0, MAX_SILENT_INTENTS));
      expect(k.core.session(s).state.silent_intent_overrides).toHaveLength(MAX_SILENT_INTENTS);
    });
  });

  it('BAD-X7 Bad input ids, keys and shapes are INVALID_ARGUMENT naming the field', async () => {
    await withStore(async (k, store) => {
      const [s] = await registered(k);
      const accepted = await k.ingress.acceptWithoutWake(s, prompt('first', { id: newId() }));
      const cases: [Input, string][] = [
        [{ id: 'nope', body: { input_type: 'prompt', text: 'x' } }, 'input.id'],
        [{ id: uuidv4(), body: { input_type: 'prompt', text: 'x' } }, 'input.id'],
        [{ id: accepted.input_id, body: { input_type: 'prompt', text: 'again' } }, 'input.id'],
        [prompt('x', { idempotency_key: '' }), 'input.idempotency_key'],
        [prompt('x', { idempotency_key: 'k'.repeat(257) }), 'input.idempotency_key'],
        [prompt('x', { supersession_key: 'k'.repeat(257) }), 'input.supersession_key'],
        [{ body: { input_type: 'prompt', text: 'x', handling_mode: 'sideways' as 'queue' } }, 'input.body.handling_mode'],
        [{ body: { input_type: 'bogus' } as unknown as Input['body'] }, 'input.body.input_type'],
        [{ durability: 'forever' as 'durable', body: { input_type: 'prompt', text: 'x' } }, 'input.durability'],
        [{ origin: { type: 'peer', peer_id: '' }, body: { input_type: 'prompt', text: 'x' } }, 'input.origin.peer_id'],
      ];
      for (const [input, field] of cases) {
        const e = await refusedUnchanged(k, s, store, () => k.ingress.acceptWithCompletion(s, input), 'INVALID_ARGUMENT');
        expect(e.violations.map((v) => v.field)).toContain(field);
      }
    });
  });

  it('BAD-X8 Inputs the admission rules refuse are ADMISSION_REJECTED (or a Rejected Ingest outcome) and admit nothing', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      const progressWithMode: Input = {
        ...progress('p'),
        body: { input_type: 'peer', convention: { type: 'response_progress', request_id: 'req-p', phase: 'x' }, body: 'p', handling_mode: 'queue' },
      };
      const blankTerminal: Input = {
        ...peerTerminal(),
        body: { input_type: 'peer', convention: { type: 'response_terminal', request_id: ' ', status: 'completed' }, body: 't' },
      };
      const derivedPrompt: Input = { durability: 'derived', body: { input_type: 'prompt', text: 'x' } };
      for (const [input, reason] of [
        [progressWithMode, 'PeerHandlingModeInvalid'],
        [blankTerminal, 'PeerResponseTerminalInvalid'],
        [derivedPrompt, 'ExternalDerivedDurabilityForbidden'],
      ] as const) {
        const e = await refusedUnchanged(k, s, store, () => k.ingress.acceptWithCompletion(s, input), 'ADMISSION_REJECTED', reason);
        expect(e.metadata.reason).toBe(reason);
        const before = footprint(k, s, store);
        const outcome = await k.control.ingest(rt, input);
        expect(outcome).toMatchObject({ type: 'rejected', reason });
        expect(footprint(k, s, store)).toEqual(before);
      }
    });
  });

  it('BAD-X9 Bad legacy-run and receipt arguments are INVALID_ARGUMENT', async () => {
    await withStore(async (k, store) => {
      const [s, rt] = await registered(k);
      const { input_id: id, run_id: run } = await k.legacyRun.prepare(s, prompt('x'));
      const unknownCause = await refusedUnchanged(
        k,
        s,
        store,
        () => k.legacyRun.fail(s, run, { cause_kind: 'Unknown', message: 'x' }),
        'INVALID_ARGUMENT',
      );
      expect(unknownCause.violations[0]?.field).toBe('failure.cause_kind');
      const wrongReceipt = await refusedUnchanged(
        k,
        s,
        store,
        () => k.legacyRun.commit(s, id, run, { run_id: newId(), contributing_input_ids: [] }),
        'INVALID_ARGUMENT',
      );
      expect(wrongReceipt.violations.map((v) => v.field)).toEqual(['receipt.run_id', 'receipt.contributing_input_ids']);
      await refusedUnchanged(k, s, store, () => k.legacyRun.commit(s, id, 'run-1', { run_id: 'run-1', contributing_input_ids: [id] }), 'INVALID_ARGUMENT', /run_id/);
      const receipt = await refusedUnchanged(k, s, store, () => k.control.loadBoundaryReceipt(rt, 'nope', -1), 'INVALID_ARGUMENT');
      expect(receipt.violations.map((v) => v.field)).toEqual(['run_id', 'sequence']);
      await refusedUnchanged(k, s, store, () => k.session.stopRuntimeExecutor(s, ''), 'INVALID_ARGUMENT');
    });
  });
});
