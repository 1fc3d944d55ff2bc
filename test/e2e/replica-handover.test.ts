/**
 * Idle lease handover across two kernel processes on one PostgreSQL database (decision 12: "an
 * idle lease is handed to the replica that keeps receiving its calls"). A session owned by replica
 * a whose calls arrive at replica b is forwarded to a; once no call reached a directly for
 * `MEERKAT_LEASE_HANDOVER_IDLE_MS` and the session is quiescent, a hands it over after serving a
 * forwarded call, and b's next call takes the lease (token + 1), recovers the session with its
 * executor and is served on b without forwarding. A run in flight or an open waiter stream keeps
 * the session on a.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchStage, type AcceptWithCompletionResponse, type WatchInputResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { newId } from '../../src/kernel/index.js';
import { call } from './harness.js';
import { prompt, startReplica, type Replica } from './replicas-support.js';
import { StreamRecorder } from './streams-support.js';
import { ADMIN_URL, databaseUrl, postgresReachable as reachable, tryAdminQuery as admin } from '../support/postgres.js';

const dbName = `meerkat_handover_${randomBytes(5).toString('hex')}`;
/** Short, so the test waits little; the lease itself keeps its default lifetime (10 s). */
const IDLE_MS = 1500;

const replica = (id: string, url: string): Promise<Replica> =>
  startReplica(id, url, { MEERKAT_LOG_LEVEL: 'debug', MEERKAT_LEASE_HANDOVER_IDLE_MS: String(IDLE_MS) });

function accept(r: Replica, sessionId: string, text: string): StreamRecorder<AcceptWithCompletionResponse> {
  return new StreamRecorder(r.ingress.acceptWithCompletion({ session_id: sessionId, input: prompt(text) }, { deadline: Date.now() + 20_000 }));
}

/** Accepts through `r` and waits for the completion; returns the input id and the result text. */
async function acceptAndComplete(r: Replica, sessionId: string, text: string): Promise<{ inputId: string; result: string }> {
  const stream = accept(r, sessionId, text);
  const completion = await stream.next((m) => m.event?.$case === 'completion');
  expect((await stream.done).status.code).toBe(grpc.status.OK);
  const admission = stream.messages[0]?.event;
  const inputId =
    admission?.$case === 'admission' && admission.admission.outcome?.type?.$case === 'accepted' ? admission.admission.outcome.type.accepted.input_id : '';
  const outcome = completion.event?.$case === 'completion' ? completion.event.completion.outcome?.kind : undefined;
  return { inputId, result: outcome?.$case === 'completed' ? (outcome.completed.result?.text ?? '') : `not completed: ${outcome?.$case ?? 'none'}` };
}

/** Parsed pino lines of `r` about `sessionId` with message `msg`. */
function logLines(r: Replica, sessionId: string, msg: string): Record<string, unknown>[] {
  return r.server.logs
    .filter((l) => l.startsWith('{') && l.includes(sessionId))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg && l.session_id === sessionId);
}

const FORWARDING = 'forwarding the call to the session owner';
const HANDED_OVER = 'handed the idle session over to the replica that forwards its calls';
const KEPT = 'kept the session (no handover)';

async function rows(url: string, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until every line `r` logged before now has reached this process: a server's log lines
 * arrive over a pipe, possibly after the answer of the call that wrote them. Makes one more call
 * and waits for its own (debug) line, which the pipe delivers after all earlier ones.
 */
async function synced(r: Replica): Promise<void> {
  const before = r.server.logs.length;
  await call(r.sessions.sessionHasExecutor.bind(r.sessions), { session_id: newId() }).catch(() => undefined);
  await until(() => r.server.logs.slice(before).some((l) => l.includes('SessionHasExecutor')), `${r.id}'s log to catch up`);
}

async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!reachable)(`idle lease handover between two replicas (postgres at ${ADMIN_URL})`, () => {
  let a: Replica;
  let b: Replica;
  let url: string;
  const lease = async (s: string) =>
    (await rows(url, 'SELECT owner_replica, fencing_token::int AS fencing_token, expires_at > now() AS live FROM meerkat_session_leases WHERE session_id = $1', [s]))[0];

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${dbName}`);
    url = databaseUrl(dbName);
    [a, b] = await Promise.all([replica('handover-a', url), replica('handover-b', url)]);
  }, 90_000);
  afterAll(async () => {
    for (const r of [a, b]) {
      r?.sessions.close();
      r?.ingress.close();
      await r?.server.stop('SIGKILL');
    }
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it('after the idle time, calls sent to b for a session a owns end up served by b itself with a higher fencing token', async () => {
    const s = newId();
    await call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: s, executor: 'echo' });
    expect(await lease(s)).toMatchObject({ owner_replica: 'handover-a', fencing_token: 1, live: true });

    // Within the idle time (a loaded the session for a direct call just now): forwarded, and kept.
    expect(await acceptAndComplete(b, s, 'first')).toMatchObject({ result: 'first' });
    await Promise.all([synced(a), synced(b)]);
    expect(logLines(b, s, FORWARDING)).toHaveLength(1);
    expect(logLines(a, s, KEPT).map((l) => l.reason)).toEqual(['direct_calls']);
    expect(await lease(s)).toMatchObject({ owner_replica: 'handover-a', fencing_token: 1, live: true });

    // Idle for longer than MEERKAT_LEASE_HANDOVER_IDLE_MS: the next forwarded call is served by a,
    // which then hands the session over before answering.
    await sleep(IDLE_MS + 300);
    const second = await acceptAndComplete(b, s, 'second');
    expect(second.result).toBe('second');
    await Promise.all([synced(a), synced(b)]);
    expect(logLines(b, s, FORWARDING)).toHaveLength(2);
    expect(logLines(a, s, HANDED_OVER)).toMatchObject([{ asked_by: 'handover-b', fencing_token: 1, executor: 'echo' }]);
    expect(await lease(s)).toMatchObject({ owner_replica: 'handover-a', fencing_token: 1, live: false });

    // b's next calls take the lease (token 2), recover the session with its echo executor and are
    // served on b: no further forwarding.
    const third = await acceptAndComplete(b, s, 'third');
    expect(third.result).toBe('third');
    expect((await call(b.sessions.sessionHasExecutor.bind(b.sessions), { session_id: s })).has_executor).toBe(true);
    expect(await acceptAndComplete(b, s, 'fourth')).toMatchObject({ result: 'fourth' });
    await synced(b);
    expect(logLines(b, s, FORWARDING)).toHaveLength(2);
    expect(logLines(b, s, 'took the session lease and recovered the session from the store')).toMatchObject([{ fencing_token: 2, executor: 'echo' }]);
    expect(await lease(s)).toMatchObject({ owner_replica: 'handover-b', fencing_token: 2, live: true });
    // Calls that reach a now go to b.
    expect(await acceptAndComplete(a, s, 'via a')).toMatchObject({ result: 'via a' });
    await synced(a);
    expect(logLines(a, s, FORWARDING)).toHaveLength(1);

    // Every input reached exactly one terminal: consumed once, with one receipt naming it.
    const inputs = await rows(url, 'SELECT input_id, phase, history FROM meerkat_inputs WHERE runtime_id = $1', [`rt:session:${s}`]);
    expect(inputs).toHaveLength(5);
    for (const input of inputs) {
      expect(input.phase).toBe('consumed');
      expect((JSON.parse(String(input.history)) as { to: string }[]).filter((h) => h.to === 'consumed')).toHaveLength(1);
    }
    const receipts = await rows(url, 'SELECT contributing_input_ids FROM meerkat_boundary_receipts WHERE runtime_id = $1', [`rt:session:${s}`]);
    const contributors = receipts.flatMap((r) => JSON.parse(String(r.contributing_input_ids)) as string[]);
    expect(contributors.sort()).toEqual(inputs.map((i) => String(i.input_id)).sort());
  }, 60_000);

  it('a run in flight or an open waiter stream keeps the session on its owner; it moves once both are gone', async () => {
    const s = newId();
    await call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: s, executor: 'scripted' });
    await sleep(IDLE_MS + 300);

    // A run in flight (a forwarded AcceptWithCompletion whose run takes 1.5 s) and, meanwhile, a
    // forwarded unary call: a serves it and keeps the session.
    const slow = accept(b, s, '@delay(1500) slow');
    await slow.next((m) => m.event?.$case === 'admission');
    expect((await call(b.sessions.sessionHasExecutor.bind(b.sessions), { session_id: s })).has_executor).toBe(true);
    await until(() => logLines(a, s, KEPT).length >= 1, "a's decision on the unary call");
    expect(logLines(a, s, KEPT)[0]?.reason).toBe('calls_in_flight');

    // An open waiter stream (a forwarded WatchInput for an input that does not exist yet) outlives
    // the run: when the slow stream ends a still keeps the session.
    const watch = new StreamRecorder<WatchInputResponse>(
      b.ingress.watchInput(
        { session_id: s, selector: { $case: 'idempotency_key', idempotency_key: 'not-yet' }, target: WatchStage.UNSPECIFIED },
        { deadline: Date.now() + 30_000 },
      ),
    );
    await until(() => logLines(b, s, FORWARDING).length >= 3, 'the watch to be forwarded');
    const slowDone = await slow.next((m) => m.event?.$case === 'completion');
    expect(slowDone.event?.$case === 'completion' && slowDone.event.completion.outcome?.kind?.$case).toBe('completed');
    await slow.done;
    await until(() => logLines(a, s, KEPT).length >= 2, "a's decision when the slow stream ended");
    expect(logLines(a, s, KEPT)[1]?.reason).toBe('calls_in_flight');
    expect((await call(b.sessions.sessionHasExecutor.bind(b.sessions), { session_id: s })).has_executor).toBe(true);
    await until(() => logLines(a, s, KEPT).length >= 3, "a's decision on the second unary call");
    expect(logLines(a, s, KEPT)[2]?.reason).toBe('calls_in_flight');
    expect(logLines(a, s, HANDED_OVER)).toHaveLength(0);
    expect(await lease(s)).toMatchObject({ owner_replica: 'handover-a', fencing_token: 1, live: true });

    // The watched input arrives (through b, forwarded) and the watch ends with its terminal.
    const keyed = new StreamRecorder(
      b.ingress.acceptWithCompletion({ session_id: s, input: prompt('keyed', 'not-yet') }, { deadline: Date.now() + 20_000 }),
    );
    await keyed.done;
    await watch.done;
    expect(watch.messages.at(-1)?.event?.$case).toBe('end');
    // Whichever of the two streams ends last finds the session quiescent and hands it over.
    await until(() => logLines(a, s, HANDED_OVER).length > 0, 'the handover');
    expect(logLines(a, s, HANDED_OVER)).toHaveLength(1);
    expect(await acceptAndComplete(b, s, 'on b')).toMatchObject({ result: 'on b' });
    expect(await lease(s)).toMatchObject({ owner_replica: 'handover-b', fencing_token: 2, live: true });
  }, 60_000);
});
