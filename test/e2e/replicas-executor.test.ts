/**
 * Remote executors with several replicas (issue 8): `ExecutorService.Attach` is not forwarded — an
 * executor attaches to the replica that owns its sessions. Two kernel processes A and B on one
 * fresh PostgreSQL database, a session S registered (owned) on A:
 *
 * - an executor whose Hello names S attaching to B has its stream ended with UNAVAILABLE
 *   SESSION_OWNED_ELSEWHERE, the ErrorInfo naming A (owner_replica, owner_address); B does not take
 *   the lease and nothing changes on A (still owner, fencing token 1);
 * - the executor reconnects to the named owner A with the same Hello; EnsureSessionWithExecutor and
 *   AcceptWithCompletion sent through B are forwarded to A, the run is assigned on the A stream and
 *   the client receives the executor's result.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutorServiceClient, type AttachRequest, type AttachResponse } from '../../src/gen/meerkat/kernel/v1/executor.js';
import type { AcceptWithCompletionResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import type { RunAssignment } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/ids.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { ADMIN_URL, databaseUrl, postgresReachable, tryAdminQuery } from '../support/postgres.js';
import { call, insecure } from './harness.js';
import { leasesOf, prompt, startReplica, type Replica } from './replicas-support.js';
import { StreamRecorder } from './streams-support.js';

const dbName = `meerkat_repl_exec_${randomBytes(5).toString('hex')}`;
const url = databaseUrl(dbName);
const EXECUTOR = 'upper-e2e';

/** An inline remote executor (the protocol of examples/remote-executor.ts): answers each run with its inputs' text upper-cased. */
class TestExecutor {
  readonly client: ExecutorServiceClient;
  readonly stream: grpc.ClientDuplexStream<AttachRequest, AttachResponse>;
  readonly recorder: StreamRecorder<AttachResponse>;
  readonly assignments: RunAssignment[] = [];

  constructor(address: string, sessionIds: readonly string[]) {
    this.client = new ExecutorServiceClient(address, insecure());
    this.stream = this.client.attach();
    this.recorder = new StreamRecorder<AttachResponse>(this.stream);
    this.stream.on('data', (msg: AttachResponse) => {
      if (msg.message?.$case === 'run_assignment') this.answer(msg.message.run_assignment);
    });
    this.stream.write({
      message: { $case: 'hello', hello: { executor_name: EXECUTOR, session_ids: [...sessionIds], capabilities: { can_reconfigure_llm: false } } },
    });
  }

  private answer(a: RunAssignment): void {
    this.assignments.push(a);
    const text = a.inputs.map((i) => i.text.toUpperCase()).join('\n');
    this.stream.write({
      message: {
        $case: 'boundary_report',
        boundary_report: { run_id: a.run_id, boundary: a.boundary, contributing_input_ids: a.inputs.map((i) => i.input_id), message_count: a.inputs.length + 1 },
      },
    });
    this.stream.write({
      message: {
        $case: 'terminal_report',
        terminal_report: { run_id: a.run_id, status: { $case: 'completed', completed: { result: { text }, message_count: a.inputs.length + 1 } } },
      },
    });
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

describe.skipIf(!postgresReachable)(`remote executors with two replicas (postgres at ${ADMIN_URL})`, () => {
  let a: Replica;
  let b: Replica;
  const executors: TestExecutor[] = [];
  beforeAll(async () => {
    expect(await tryAdminQuery(`CREATE DATABASE ${dbName}`)).toBe(true);
    [a, b] = await Promise.all([startReplica('exec-a', url), startReplica('exec-b', url)]);
  }, 90_000);
  afterAll(async () => {
    for (const e of executors) e.close();
    for (const r of [a, b]) {
      if (process.env.MEERKAT_E2E_LOGS) console.log(`--- ${r?.id}\n${r?.server.logs.join('\n')}`);
      r?.close();
      await r?.server.stop('SIGKILL');
    }
    await tryAdminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it("an executor naming a session owned elsewhere is refused with the owner's address; attached to the owner, it serves calls arriving through the other replica", async () => {
    const s = newId();
    await call(a.sessions.registerSession.bind(a.sessions), { session_id: s });
    expect(await leasesOf(url)).toMatchObject([{ session_id: s, owner_replica: 'exec-a', fencing_token: 1, live: true }]);

    // Attach to B: the stream ends UNAVAILABLE SESSION_OWNED_ELSEWHERE naming A, without a HelloAck.
    const onB = new TestExecutor(b.address, [s]);
    executors.push(onB);
    const { status, error } = await onB.recorder.done;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    const details = decodeErrorDetails(error);
    expect(details?.errorInfo?.reason).toBe('SESSION_OWNED_ELSEWHERE');
    expect(details?.errorInfo?.metadata).toMatchObject({ session_id: s, owner_replica: 'exec-a', owner_address: a.address });
    expect(details?.retryDelayMs).not.toBeNull();
    expect(onB.recorder.messages).toEqual([]);
    // Nothing changed: A still owns S with token 1, and B has no executor by that name.
    expect(await leasesOf(url)).toMatchObject([{ session_id: s, owner_replica: 'exec-a', fencing_token: 1, live: true }]);

    // Reconnect to the owner the error named, with the same Hello.
    const owner = details?.errorInfo?.metadata.owner_address;
    expect(owner).toBe(a.address);
    const onA = new TestExecutor(owner ?? '', [s]);
    executors.push(onA);
    const ack = await onA.recorder.next((m) => m.message?.$case === 'hello_ack');
    expect(ack.message?.$case === 'hello_ack' && ack.message.hello_ack.attachment_id).toBeTruthy();

    // Clients call through B; forwarded to A, where the executor is attached.
    await call(b.sessions.ensureSessionWithExecutor.bind(b.sessions), { session_id: s, executor: EXECUTOR });
    expect((await call(b.sessions.sessionHasExecutor.bind(b.sessions), { session_id: s })).has_executor).toBe(true);
    const viaB = new StreamRecorder<AcceptWithCompletionResponse>(
      b.ingress.acceptWithCompletion({ session_id: s, input: prompt('hello through b') }, { deadline: Date.now() + 20_000 }),
    );
    const completion = await viaB.next((m) => m.event?.$case === 'completion');
    const outcome = completion.event?.$case === 'completion' ? completion.event.completion.outcome : undefined;
    expect(outcome?.kind?.$case).toBe('completed');
    expect(outcome?.kind?.$case === 'completed' ? outcome.kind.completed.result?.text : null).toBe('HELLO THROUGH B');
    expect((await viaB.done).status.code).toBe(grpc.status.OK);
    // The run was assigned on the A stream (the one on B had ended before any).
    expect(onA.assignments.map((x) => x.session_id)).toEqual([s]);
    expect(onA.assignments[0]?.inputs.map((i) => i.text)).toEqual(['hello through b']);
    expect(onB.assignments).toEqual([]);
    // Still A's lease, never taken over.
    expect(await leasesOf(url)).toMatchObject([{ session_id: s, owner_replica: 'exec-a', fencing_token: 1, live: true }]);
  }, 60_000);
});
