/**
 * Two kernel processes on one PostgreSQL database (decision 12): a session is leased to the replica
 * that first serves it; calls for it that reach the other replica are forwarded to the owner —
 * unary calls, AcceptWithCompletion and WatchInput streams, errors with their details — and the
 * state both replicas report is the owner's. When the owner stops (SIGTERM releases its leases),
 * the other replica takes the session over, recovers it and serves it itself. A stale owner —
 * paused with SIGSTOP in the middle of a run until its lease expired and another replica took
 * over — has its commit refused when it resumes: the input is consumed once, by the new owner.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchStage, type AcceptWithCompletionResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { InputLifecycleState } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/index.js';
import { call, expectError } from './harness.js';
import { prompt, startReplica, type Replica } from './replicas-support.js';
import { StreamRecorder } from './streams-support.js';
import { ADMIN_URL, databaseUrl, postgresReachable as reachable, tryAdminQuery as admin } from '../support/postgres.js';


const dbName = `meerkat_replicas_${randomBytes(5).toString('hex')}`;

/** A replica with debug logs (the forwarding lines the tests read). */
const replica = (id: string, url: string, env: Readonly<Record<string, string>> = {}): Promise<Replica> =>
  startReplica(id, url, { MEERKAT_LOG_LEVEL: 'debug', ...env });

function accept(r: Replica, sessionId: string, text: string): StreamRecorder<AcceptWithCompletionResponse> {
  return new StreamRecorder(r.ingress.acceptWithCompletion({ session_id: sessionId, input: prompt(text) }, { deadline: Date.now() + 20_000 }));
}

describe.skipIf(!reachable)(`two replicas on one database (postgres at ${ADMIN_URL})`, () => {
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${dbName}`);
    [a, b] = await Promise.all([replica('replica-a', databaseUrl(dbName)), replica('replica-b', databaseUrl(dbName))]);
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

const staleDb = `${dbName}_stale`;

async function rowsOf(databaseUrl: string, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!reachable)('a stale owner (SIGSTOP past its lease)', () => {
  let a: Replica;
  let b: Replica;
  let url: string;
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${staleDb}`);
    url = databaseUrl(staleDb);
    const short = { MEERKAT_LEASE_TTL_MS: '1500', MEERKAT_LEASE_RENEW_MS: '300' };
    [a, b] = await Promise.all([replica('stale-a', url, short), replica('stale-b', url, short)]);
  }, 90_000);
  afterAll(async () => {
    for (const r of [a, b]) {
      r?.sessions.close();
      r?.ingress.close();
      r?.server.child.kill('SIGCONT');
      await r?.server.stop('SIGKILL');
    }
    await admin(`DROP DATABASE IF EXISTS ${staleDb} WITH (FORCE)`);
  });

  it('its commit after resuming is refused, the new owner consumes the input once, and its fencing token only grew', async () => {
    const s = newId();
    const runtime = `rt:session:${s}`;
    await call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: s, executor: 'scripted' });
    // A run that is still executing on a when a is paused.
    const accepted = await call(a.ingress.acceptWithoutWake.bind(a.ingress), { session_id: s, input: prompt('@delay(2500) once') });
    const id = accepted.outcome?.type?.$case === 'accepted' ? accepted.outcome.type.accepted.input_id : '';
    expect(id).not.toBe('');
    const wake = accept(a, s, 'wake'); // wakes the loop: both inputs run in one batch
    await until(
      async () => (await call(a.sessions.inputState.bind(a.sessions), { session_id: s, input_id: id })).state?.phase === InputLifecycleState.STAGED,
      'the input to be staged on a',
    );
    expect((await rowsOf(url, 'SELECT fencing_token::int AS fencing_token, owner_replica FROM meerkat_session_leases WHERE session_id = $1', [s]))[0]).toMatchObject({
      owner_replica: 'stale-a',
      fencing_token: 1,
    });

    a.server.child.kill('SIGSTOP');
    await until(
      async () => (await rowsOf(url, 'SELECT expires_at < now() AS expired FROM meerkat_session_leases WHERE session_id = $1', [s]))[0]?.expired === true,
      "a's lease to expire",
    );
    // b takes the session over (token 2), recovers the staged input as queued and runs it.
    await call(b.sessions.ensureSessionWithExecutor.bind(b.sessions), { session_id: s, executor: 'scripted' });
    expect((await rowsOf(url, 'SELECT fencing_token::int AS fencing_token, owner_replica FROM meerkat_session_leases WHERE session_id = $1', [s]))[0]).toMatchObject({
      owner_replica: 'stale-b',
      fencing_token: 2,
    });
    await until(
      async () => (await call(b.sessions.inputState.bind(b.sessions), { session_id: s, input_id: id })).state?.phase === InputLifecycleState.CONSUMED,
      'b to consume the input',
    );

    // a resumes: its run ends and its boundary commit is refused; it forgets the session, and a
    // call through a now reaches b.
    a.server.child.kill('SIGCONT');
    const ended = await wake.done;
    // The waiter on a ends without a result from a (its commit was refused): runtime_terminated,
    // saying another replica took the session over.
    expect(ended.status.code).toBe(grpc.status.OK);
    const last = wake.messages.at(-1)?.event;
    const outcome = last?.$case === 'completion' ? last.completion.outcome?.kind : undefined;
    expect(outcome?.$case).toBe('runtime_terminated');
    expect(outcome?.$case === 'runtime_terminated' ? outcome.runtime_terminated.reason : '').toMatch(/another replica took over the session/);
    await until(
      async () => (await call(a.sessions.inputState.bind(a.sessions), { session_id: s, input_id: id })).state?.phase === InputLifecycleState.CONSUMED,
      'a to answer with the owner state',
    );

    // The stored rows: one terminal for the input, one receipt naming it, written under token 2.
    const input = await rowsOf(url, 'SELECT phase, terminal_outcome, history FROM meerkat_inputs WHERE runtime_id = $1 AND input_id = $2', [runtime, id]);
    expect(input[0]?.phase).toBe('consumed');
    const history = JSON.parse(String(input[0]?.history)) as { to: string }[];
    expect(history.filter((h) => h.to === 'consumed')).toHaveLength(1);
    const receipts = await rowsOf(url, 'SELECT run_id, contributing_input_ids FROM meerkat_boundary_receipts WHERE runtime_id = $1', [runtime]);
    expect(receipts.filter((r) => (JSON.parse(String(r.contributing_input_ids)) as string[]).includes(id))).toHaveLength(1);
    const lease = await rowsOf(url, 'SELECT fencing_token::int AS fencing_token, owner_replica FROM meerkat_session_leases WHERE session_id = $1', [s]);
    expect(lease[0]).toMatchObject({ owner_replica: 'stale-b', fencing_token: 2 });
  }, 120_000);
});
