/**
 * The streaming RPCs end to end against the real server process (decisions 6 and 10):
 * AcceptWithCompletion, WatchInput (stage targets, resume tokens, deadlines, a waiter across a
 * server restart) and ExecutorService.Attach with the remote executor example running as its
 * own process (including a dead attachment mid-run).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutorServiceClient, type AttachRequest, type AttachResponse } from '../../src/gen/meerkat/kernel/v1/executor.js';
import {
  IngressServiceClient,
  WatchEndReason,
  WatchStage,
  type AcceptWithCompletionResponse,
  type WatchInputRequest,
  type WatchInputResponse,
} from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { InputLifecycleState, StoredInputState, type CompletionOutcome, type Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/ids.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { call, expectError, insecure, startServer, type RunningServer } from './harness.js';
import { eventually, startRemoteExecutor, StreamRecorder, type ExecutorProcess } from './streams-support.js';

const prompt = (text: string, key?: string): Input => ({
  durability: 0,
  body: { input_type: { $case: 'prompt', prompt: { text, handling_mode: 0 } } },
  ...(key !== undefined ? { idempotency_key: key } : {}),
});

const resultText = (o: CompletionOutcome | undefined): string | null => (o?.kind?.$case === 'completed' ? (o.kind.completed.result?.text ?? null) : null);

type AwcEvent = NonNullable<AcceptWithCompletionResponse['event']>;
type WatchEvent = NonNullable<WatchInputResponse['event']>;
const awcCase = (m: AcceptWithCompletionResponse): AwcEvent['$case'] | undefined => m.event?.$case;
const watchCase = (m: WatchInputResponse): WatchEvent['$case'] | undefined => m.event?.$case;

function endOf(r: StreamRecorder<WatchInputResponse>) {
  const last = r.messages.at(-1)?.event;
  if (last?.$case !== 'end') throw new Error(`the watch did not end with WatchEnd: ${JSON.stringify(r.messages)}`);
  return last.end;
}

function updatesOf(r: StreamRecorder<WatchInputResponse>) {
  return r.messages.flatMap((m) => (m.event?.$case === 'update' ? [m.event.update] : []));
}

class Clients {
  readonly sessions: SessionServiceClient;
  readonly ingress: IngressServiceClient;
  readonly executors: ExecutorServiceClient;

  constructor(readonly address: string) {
    this.sessions = new SessionServiceClient(address, insecure());
    this.ingress = new IngressServiceClient(address, insecure());
    this.executors = new ExecutorServiceClient(address, insecure());
  }

  register(sessionId: string) {
    return call(this.sessions.registerSession.bind(this.sessions), { session_id: sessionId });
  }

  ensure(sessionId: string, executor: string) {
    return call(this.sessions.ensureSessionWithExecutor.bind(this.sessions), { session_id: sessionId, executor });
  }

  async hasExecutor(sessionId: string): Promise<boolean> {
    return (await call(this.sessions.sessionHasExecutor.bind(this.sessions), { session_id: sessionId })).has_executor;
  }

  async inputState(sessionId: string, inputId: string) {
    return (await call(this.sessions.inputState.bind(this.sessions), { session_id: sessionId, input_id: inputId })).state;
  }

  async acceptWithoutWake(sessionId: string, input: Input): Promise<string> {
    const r = await call(this.ingress.acceptWithoutWake.bind(this.ingress), { session_id: sessionId, input });
    if (r.outcome?.type?.$case !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(r)}`);
    return r.outcome.type.accepted.input_id;
  }

  accept(sessionId: string, input: Input, options: { heartbeatMs?: number; deadlineMs?: number } = {}) {
    return new StreamRecorder(
      this.ingress.acceptWithCompletion(
        { session_id: sessionId, input, heartbeat_interval_ms: options.heartbeatMs },
        { deadline: Date.now() + (options.deadlineMs ?? 20_000) },
      ),
    );
  }

  watch(request: Partial<WatchInputRequest> & { session_id: string }, deadlineMs = 20_000) {
    const req: WatchInputRequest = { target: WatchStage.UNSPECIFIED, ...request };
    return new StreamRecorder(this.ingress.watchInput(req, { deadline: Date.now() + deadlineMs }));
  }

  close(): void {
    this.sessions.close();
    this.ingress.close();
    this.executors.close();
  }
}

/** The input id an AcceptWithCompletion stream admitted (from its first message). */
async function admittedId(r: StreamRecorder<AcceptWithCompletionResponse>): Promise<string> {
  const first = await r.next(() => true);
  if (first.event?.$case !== 'admission') throw new Error(`first message is not the admission: ${JSON.stringify(first)}`);
  const o = first.event.admission.outcome?.type;
  if (o?.$case === 'accepted') return o.accepted.input_id;
  if (o?.$case === 'deduplicated') return o.deduplicated.existing_id;
  throw new Error('admission without an outcome');
}

describe('streaming RPCs against a live kernel server', () => {
  let server: RunningServer;
  let restartServer: RunningServer;
  let c: Clients;
  const executors: ExecutorProcess[] = [];

  beforeAll(async () => {
    // The restart test's server starts alongside (it is killed and replaced later).
    [server, restartServer] = await Promise.all([startServer(), startServer()]);
    c = new Clients(server.address);
  }, 60_000);

  afterAll(async () => {
    for (const e of executors) await e.kill();
    c?.close();
    await server?.stop();
  });

  it('AcceptWithCompletion streams the admission first, then exactly one completion with the echoed text', async () => {
    const session = newId();
    await c.ensure(session, 'echo');
    const r = c.accept(session, prompt('hello streams'));
    const { status, error } = await r.done;
    expect(error).toBeNull();
    expect(status.code).toBe(grpc.status.OK);
    expect(r.messages.map(awcCase).filter((k) => k !== 'heartbeat')).toEqual(['admission', 'completion']);
    const first = r.messages[0]?.event;
    expect(first?.$case).toBe('admission');
    if (first?.$case === 'admission') {
      expect(first.admission.outcome?.type?.$case).toBe('accepted');
      expect(first.admission.terminal_at_admission).toBe(false);
      expect(first.admission.admission_signal).toBeGreaterThan(0);
    }
    const last = r.messages.at(-1)?.event;
    expect(last?.$case === 'completion' && resultText(last.completion.outcome)).toBe('hello streams');
    if (last?.$case === 'completion') expect(last.completion.input_id).toBe(await admittedId(r));
  });

  it('sends heartbeats at the requested interval while the input is pending; a bad interval is INVALID_ARGUMENT', async () => {
    const session = newId();
    await c.ensure(session, 'scripted');
    const r = c.accept(session, prompt('@delay(2600) slow'), { heartbeatMs: 1000 });
    const { status } = await r.done;
    expect(status.code).toBe(grpc.status.OK);
    const kinds = r.messages.map(awcCase);
    expect(kinds[0]).toBe('admission');
    expect(kinds.at(-1)).toBe('completion');
    expect(kinds.filter((k) => k === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    const last = r.messages.at(-1)?.event;
    expect(last?.$case === 'completion' && resultText(last.completion.outcome)).toBe('slow');

    const bad = c.accept(session, prompt('x'), { heartbeatMs: 10 });
    const { error } = await bad.done;
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeErrorDetails(error)?.fieldViolations[0]?.field).toBe('heartbeat_interval_ms');
  });

  it('a client that disconnects leaves the input running; WatchInput by id and by idempotency key reattaches to its terminal state', async () => {
    const session = newId();
    await c.ensure(session, 'scripted');
    const r = c.accept(session, prompt('@delay(1500) see you', 'bye-1'));
    const inputId = await admittedId(r);
    r.call.cancel();
    const { status } = await r.done;
    expect(status.code).toBe(grpc.status.CANCELLED);

    const byId = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: inputId }, heartbeat_interval_ms: 1000 });
    await byId.done;
    const end = endOf(byId);
    expect(end.reason).toBe(WatchEndReason.TARGET_REACHED);
    expect(end.state?.phase).toBe(InputLifecycleState.CONSUMED);
    expect(resultText(end.outcome)).toBe('see you');
    expect(updatesOf(byId)[0]?.state?.input_id).toBe(inputId);

    const byKey = c.watch({ session_id: session, selector: { $case: 'idempotency_key', idempotency_key: 'bye-1' } });
    await byKey.done;
    const end2 = endOf(byKey);
    expect(end2.reason).toBe(WatchEndReason.TARGET_REACHED);
    expect(end2.state?.input_id).toBe(inputId);
    expect(end2.state?.phase).toBe(InputLifecycleState.CONSUMED);
    expect(['completed', 'completed_without_result']).toContain(end2.outcome?.kind?.$case);
  });

  describe('a session without an executor', () => {
    const session = newId();
    let queued = '';

    beforeAll(async () => {
      await c.register(session);
      queued = await c.acceptWithoutWake(session, prompt('queued one', 'q-1'));
    });

    it('stage targets: ADMITTED and QUEUED return once queued; STAGED waits and ends at the deadline with the current state', async () => {
      for (const target of [WatchStage.ADMITTED, WatchStage.QUEUED]) {
        const w = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: queued }, target });
        const { status } = await w.done;
        expect(status.code).toBe(grpc.status.OK);
        expect(w.messages.map(watchCase)).toEqual(['update', 'end']);
        expect(endOf(w).reason).toBe(WatchEndReason.TARGET_REACHED);
        expect(endOf(w).state?.phase).toBe(InputLifecycleState.QUEUED);
        expect(endOf(w).outcome).toBeUndefined();
      }
      const t0 = Date.now();
      const staged = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: queued }, target: WatchStage.STAGED }, 1500);
      const { status, error } = await staged.done;
      expect(error).toBeNull();
      expect(status.code).toBe(grpc.status.OK);
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(endOf(staged).reason).toBe(WatchEndReason.DEADLINE);
      expect(endOf(staged).state?.phase).toBe(InputLifecycleState.QUEUED);
      expect(endOf(staged).resume_token).not.toBe('');

      const unknown = c.watch({ session_id: newId(), selector: { $case: 'input_id', input_id: queued } });
      await expectError(unknown.done.then((d) => Promise.reject(d.error)), grpc.status.NOT_FOUND, 'SESSION_NOT_FOUND');
    });

    it('AcceptWithCompletion at its deadline ends OK with the current state in the trailers, not an error', async () => {
      const r = c.accept(session, prompt('never runs here'), { deadlineMs: 1500, heartbeatMs: 1000 });
      const inputId = await admittedId(r);
      const { status, error } = await r.done;
      expect(error).toBeNull();
      expect(status.code).toBe(grpc.status.OK);
      expect(r.messages.map(awcCase)).not.toContain('completion');
      expect(status.metadata.get('x-meerkat-wait-end')).toEqual(['deadline']);
      expect(status.metadata.get('x-meerkat-input-id')).toEqual([inputId]);
      expect(status.metadata.get('x-meerkat-input-phase')).toEqual(['queued']);
      const bin = status.metadata.get('x-meerkat-input-state-bin')[0];
      expect(Buffer.isBuffer(bin)).toBe(true);
      expect(StoredInputState.decode(bin as Buffer).phase).toBe(InputLifecycleState.QUEUED);
      // The waiter ended, the input did not.
      expect((await c.inputState(session, inputId))?.phase).toBe(InputLifecycleState.QUEUED);
    });

    it('waits for an input that does not exist yet (by idempotency key)', async () => {
      const w = c.watch({ session_id: session, selector: { $case: 'idempotency_key', idempotency_key: 'later-1' }, target: WatchStage.QUEUED, heartbeat_interval_ms: 1000 });
      await w.next((m) => m.event?.$case === 'heartbeat', 5000);
      expect(w.messages.map(watchCase)).not.toContain('update');
      const id = await c.acceptWithoutWake(session, prompt('arrives later', 'later-1'));
      await w.done;
      expect(endOf(w).reason).toBe(WatchEndReason.TARGET_REACHED);
      expect(endOf(w).state?.input_id).toBe(id);
      expect(updatesOf(w)).toHaveLength(1);
    });

    it('a resume token skips states already seen; a token of another input is INVALID_ARGUMENT', async () => {
      const first = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: queued }, target: WatchStage.QUEUED });
      await first.done;
      const token = updatesOf(first)[0]?.resume_token ?? '';
      expect(token).not.toBe('');

      // Nothing changed since the token: no update, only the end at the deadline.
      const resumed = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: queued }, target: WatchStage.STAGED, resume_token: token }, 1500);
      await resumed.done;
      expect(resumed.messages.map(watchCase).filter((k) => k !== 'heartbeat')).toEqual(['end']);
      expect(endOf(resumed).reason).toBe(WatchEndReason.DEADLINE);
      expect(endOf(resumed).resume_token).toBe(token);

      const other = await c.acceptWithoutWake(session, prompt('other'));
      const wrong = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: other }, resume_token: token });
      const { error } = await wrong.done;
      await expectError(Promise.reject(error), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
      const garbage = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: queued }, resume_token: 'not-a-token' });
      expect((await garbage.done).error?.code).toBe(grpc.status.INVALID_ARGUMENT);

      // Resume until terminal, then give the session an executor: only the new states arrive.
      const toEnd = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: queued }, resume_token: token });
      await new Promise((r) => setTimeout(r, 200));
      await c.ensure(session, 'echo');
      await toEnd.done;
      const phases = updatesOf(toEnd).map((u) => u.state?.phase);
      expect(phases).not.toContain(InputLifecycleState.QUEUED);
      expect(phases.at(-1)).toBe(InputLifecycleState.CONSUMED);
      expect(endOf(toEnd).reason).toBe(WatchEndReason.TARGET_REACHED);
      expect(resultText(endOf(toEnd).outcome)).toBe('queued one');
    });
  });

  describe('ExecutorService.Attach with the remote executor example (a separate process)', () => {
    it('answers runs with the upper-cased text', async () => {
      const session = newId();
      await c.register(session);
      const ex = startRemoteExecutor(server.address, ['--name', 'upper', session]);
      executors.push(ex);
      await ex.waitFor(/attached as /);
      await c.ensure(session, 'upper');
      expect(await c.hasExecutor(session)).toBe(true);
      const r = c.accept(session, prompt('hello remote'));
      await r.done;
      const last = r.messages.at(-1)?.event;
      expect(last?.$case === 'completion' && resultText(last.completion.outcome)).toBe('HELLO REMOTE');
      await ex.waitFor(/completed: "HELLO REMOTE"/);
    });

    it('a killed executor is a dead attachment: the run goes back to the queue and completes after a new executor attaches', async () => {
      const session = newId();
      await c.register(session);
      const slow = startRemoteExecutor(server.address, ['--name', 'upper-slow', '--delay-ms', '30000', session]);
      executors.push(slow);
      await slow.waitFor(/attached as /);
      await c.ensure(session, 'upper-slow');
      const r = c.accept(session, prompt('survive the crash'), { deadlineMs: 30_000 });
      const inputId = await admittedId(r);
      await slow.waitFor(/assigned for session/);
      expect((await c.inputState(session, inputId))?.phase).toBe(InputLifecycleState.STAGED);

      await slow.kill('SIGKILL');
      await eventually(async () => !(await c.hasExecutor(session)), 10_000, 'SessionHasExecutor false');
      const state = await c.inputState(session, inputId);
      expect(state?.phase).toBe(InputLifecycleState.QUEUED);
      expect(state?.attempt_count).toBe(1);
      // The name left the registry with its attachment.
      await expectError(c.ensure(session, 'upper-slow'), grpc.status.INVALID_ARGUMENT, 'UNKNOWN_EXECUTOR');
      expect(r.messages.map(awcCase)).not.toContain('completion');

      // A new attachment under the name re-attaches the orphaned session; the waiting stream completes.
      const fresh = startRemoteExecutor(server.address, ['--name', 'upper-slow', session]);
      executors.push(fresh);
      await r.done;
      const last = r.messages.at(-1)?.event;
      expect(last?.$case === 'completion' && resultText(last.completion.outcome)).toBe('SURVIVE THE CRASH');
      expect(await c.hasExecutor(session)).toBe(true);
      expect((await c.inputState(session, inputId))?.attempt_count).toBe(2);
    }, 30_000);

    it('protocol errors end the attachment: no Hello first, unknown session, a built-in name', async () => {
      const attach = (first: AttachRequest) => {
        const stream = c.executors.attach({ deadline: Date.now() + 10_000 });
        const rec = new StreamRecorder<AttachResponse>(stream);
        stream.write(first);
        return rec.done;
      };
      const noHello = await attach({ message: { $case: 'terminal_report', terminal_report: { run_id: newId(), status: { $case: 'cancelled', cancelled: {} } } } });
      await expectError(Promise.reject(noHello.error), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
      const unknown = await attach({ message: { $case: 'hello', hello: { executor_name: 'ghost', session_ids: [newId()] } } });
      await expectError(Promise.reject(unknown.error), grpc.status.NOT_FOUND, 'SESSION_NOT_FOUND');
      const builtIn = await attach({ message: { $case: 'hello', hello: { executor_name: 'echo', session_ids: [] } } });
      await expectError(Promise.reject(builtIn.error), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    });
  });

  it('a waiter survives a server restart: kill the server mid-watch, restart on the same data, attach echo, WatchInput again → terminal', async () => {
    const rc = new Clients(restartServer.address);
    const session = newId();
    await rc.register(session);
    const inputId = await rc.acceptWithoutWake(session, prompt('persist me', 'r-1'));
    const before = rc.watch({ session_id: session, selector: { $case: 'input_id', input_id: inputId } });
    const update = await before.next((m) => m.event?.$case === 'update');
    const token = update.event?.$case === 'update' ? update.event.update.resume_token : '';
    rc.close();

    restartServer.child.kill('SIGKILL');
    await restartServer.exited;
    const { error } = await before.done;
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);

    const dataDir = restartServer.dataDir;
    const again = await startServer({ MEERKAT_DATA_DIR: join(dataDir, 'data') });
    const ac = new Clients(again.address);
    try {
      // The session is only in the store now: the watch recovers it and waits.
      const after = ac.watch({ session_id: session, selector: { $case: 'input_id', input_id: inputId }, resume_token: token });
      await new Promise((r) => setTimeout(r, 300));
      await ac.ensure(session, 'echo');
      await after.done;
      expect(endOf(after).reason).toBe(WatchEndReason.TARGET_REACHED);
      expect(endOf(after).state?.phase).toBe(InputLifecycleState.CONSUMED);
      expect(resultText(endOf(after).outcome)).toBe('persist me');
      expect(updatesOf(after).map((u) => u.state?.phase)).not.toContain(InputLifecycleState.QUEUED);

      const byKey = ac.watch({ session_id: session, selector: { $case: 'idempotency_key', idempotency_key: 'r-1' } });
      await byKey.done;
      expect(endOf(byKey).state?.phase).toBe(InputLifecycleState.CONSUMED);
    } finally {
      ac.close();
      await again.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 40_000);

  it('graceful shutdown ends a watch with WatchEnd{SERVER_SHUTDOWN} and its resume token, and a completion stream with UNAVAILABLE naming the input', async () => {
    const session = newId();
    await c.register(session);
    const inputId = await c.acceptWithoutWake(session, prompt('pending at shutdown'));
    const watch = c.watch({ session_id: session, selector: { $case: 'input_id', input_id: inputId } });
    await watch.next((m) => m.event?.$case === 'update');
    const awc = c.accept(session, prompt('also pending'));
    const awcInput = await admittedId(awc);

    const stopped = await server.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    const w = await watch.done;
    expect(w.status.code).toBe(grpc.status.OK);
    expect(endOf(watch).reason).toBe(WatchEndReason.SERVER_SHUTDOWN);
    expect(endOf(watch).state?.phase).toBe(InputLifecycleState.QUEUED);
    expect(endOf(watch).resume_token).toBe(updatesOf(watch).at(-1)?.resume_token);
    const a = await awc.done;
    const details = decodeErrorDetails(a.error);
    expect(a.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(details?.errorInfo?.reason).toBe('SERVER_SHUTTING_DOWN');
    expect(details?.errorInfo?.metadata.input_id).toBe(awcInput);
    expect(details?.errorInfo?.metadata.resume_token).toMatch(/^w1\./);
  });
});
