/**
 * Two kernel processes on one PostgreSQL database (decision 12): a session is leased to the replica
 * that first serves it; calls for it that reach the other replica are forwarded to the owner —
 * unary calls, AcceptWithCompletion and WatchInput streams, errors with their details — and the
 * state both replicas report is the owner's. When the owner stops (SIGTERM releases its leases),
 * the other replica takes the session over, recovers it and serves it itself.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngressServiceClient, WatchStage, type AcceptWithCompletionResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { Durability, HandlingMode, InputLifecycleState, type Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/index.js';
import { call, expectError, freePort, insecure, startServer, type RunningServer } from './harness.js';
import { StreamRecorder } from './streams-support.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(text: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query(text);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const reachable = await admin('SELECT 1');
const dbName = `meerkat_replicas_${randomBytes(5).toString('hex')}`;

const prompt = (text: string): Input => ({
  durability: Durability.UNSPECIFIED,
  body: { input_type: { $case: 'prompt', prompt: { text, handling_mode: HandlingMode.UNSPECIFIED } } },
});

interface Replica {
  readonly server: RunningServer;
  readonly sessions: SessionServiceClient;
  readonly ingress: IngressServiceClient;
}

async function replica(id: string, databaseUrl: string): Promise<Replica> {
  const address = `127.0.0.1:${await freePort()}`;
  const server = await startServer({
    DATABASE_URL: databaseUrl,
    MEERKAT_LISTEN: address,
    MEERKAT_ADVERTISE_ADDR: address,
    MEERKAT_REPLICA_ID: id,
    MEERKAT_LOG_LEVEL: 'debug',
  });
  return { server, sessions: new SessionServiceClient(address, insecure()), ingress: new IngressServiceClient(address, insecure()) };
}

function accept(r: Replica, sessionId: string, text: string): StreamRecorder<AcceptWithCompletionResponse> {
  return new StreamRecorder(r.ingress.acceptWithCompletion({ session_id: sessionId, input: prompt(text) }, { deadline: Date.now() + 20_000 }));
}

describe.skipIf(!reachable)(`two replicas on one database (postgres at ${ADMIN_URL})`, () => {
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${dbName}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    [a, b] = await Promise.all([replica('replica-a', url.toString()), replica('replica-b', url.toString())]);
  }, 90_000);
  afterAll(async () => {
    for (const r of [a, b]) {
      r?.sessions.close();
      r?.ingress.close();
      await r?.server.stop('SIGKILL');
    }
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it('calls for a session owned by one replica are forwarded to it from the other, streams and errors included', async () => {
    const s = newId();
    await call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: s, executor: 'echo' });

    // Through b: a unary call, an AcceptWithCompletion stream and a WatchInput stream, all served by a.
    expect((await call(b.sessions.sessionHasExecutor.bind(b.sessions), { session_id: s })).has_executor).toBe(true);
    const viaB = accept(b, s, 'via b');
    const completion = await viaB.next((m) => m.event?.$case === 'completion');
    expect(completion.event?.$case === 'completion' && completion.event.completion.outcome?.kind?.$case).toBe('completed');
    const { status } = await viaB.done;
    expect(status.code).toBe(grpc.status.OK);
    const admission = viaB.messages[0];
    const inputId = admission?.event?.$case === 'admission' && admission.event.admission.outcome?.type?.$case === 'accepted'
      ? admission.event.admission.outcome.type.accepted.input_id
      : '';
    expect(inputId).not.toBe('');
    const watch = new StreamRecorder(
      b.ingress.watchInput({ session_id: s, selector: { $case: 'input_id', input_id: inputId }, target: WatchStage.UNSPECIFIED }, { deadline: Date.now() + 10_000 }),
    );
    await watch.done;
    expect(watch.messages.length).toBeGreaterThan(0);
    // The state b reports is a's: the input is consumed there.
    expect((await call(b.sessions.inputState.bind(b.sessions), { session_id: s, input_id: inputId })).state?.phase).toBe(InputLifecycleState.CONSUMED);
    // Errors come back from the owner with their details (status, ErrorInfo, BadRequest).
    const bad = await expectError(
      call(b.sessions.inputState.bind(b.sessions), { session_id: s, input_id: 'not-a-uuid' }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(bad.fieldViolations?.[0]?.field).toBe('input_id');
    // b never loaded the session; a did, and b's log shows the forwarding.
    expect(b.server.logs.some((l) => l.includes('forwarding the call to the session owner'))).toBe(true);
    expect(a.server.logs.some((l) => l.includes('forwarding the call to the session owner'))).toBe(false);
  });

  it('when the owner stops, its leases are released and the other replica takes the session over', async () => {
    const s = newId();
    await call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: s, executor: 'echo' });
    const first = accept(a, s, 'on a');
    await first.done;
    const stopped = await a.server.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    // b now owns it: registration takes the released lease and recovers the session from the store.
    await call(b.sessions.ensureSessionWithExecutor.bind(b.sessions), { session_id: s, executor: 'echo' });
    const second = accept(b, s, 'on b');
    const done = await second.next((m) => m.event?.$case === 'completion');
    expect(done.event?.$case === 'completion' && done.event.completion.outcome?.kind?.$case).toBe('completed');
    expect(b.server.logs.filter((l) => l.includes('forwarding the call to the session owner')).length).toBeGreaterThan(0);
  }, 60_000);
});
