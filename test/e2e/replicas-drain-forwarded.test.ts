/**
 * Graceful drain of a replica that is only PROXYING (issue 8, "Graceful drain"): two kernel
 * processes on one fresh PostgreSQL database; replica B owns a session whose run is in flight
 * (scripted executor, `@delay`), and a client holds an AcceptWithCompletion stream and a WatchInput
 * stream for it through replica A, which forwards both to B. A unary call for the session is also
 * being forwarded by A when A gets SIGTERM (B is paused with SIGSTOP meanwhile, so the call is
 * certainly in flight). On A's SIGTERM:
 *
 * - both forwarded streams end at once with UNAVAILABLE + RetryInfo (SERVER_SHUTTING_DOWN, naming
 *   the input; the watch also carries its resume token), like the streams A serves itself — not
 *   when A's grace runs out, and not CANCELLED;
 * - new calls for the session that reach A are refused with SERVER_SHUTTING_DOWN + RetryInfo rather
 *   than forwarded;
 * - the forwarded unary call in flight completes normally once B answers, and A waits for it;
 * - A exits 0 well within its grace; the client re-attaches on B with WatchInput and gets the
 *   completed terminal; B's run was not disturbed (B kept the lease, token 1; the input was staged
 *   once and consumed once, one receipt).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchEndReason, WatchStage, type AcceptWithCompletionResponse, type WatchInputResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import type { InputStateResponse } from '../../src/gen/meerkat/kernel/v1/session.js';
import { newId } from '../../src/kernel/ids.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { ADMIN_URL, databaseUrl, postgresReachable, tryAdminQuery } from '../support/postgres.js';
import { call, expectError } from './harness.js';
import { inputsOf, leasesOf, prompt, receiptsOf, rowsOf, sleep, startReplica, type Replica } from './replicas-support.js';
import { StreamRecorder } from './streams-support.js';

const GRACE_MS = 4000;
/** The run on B: longer than the moment of the SIGTERM, far shorter than the test. */
const RUN_MS = 3000;
/** How long B stays paused after A's SIGTERM (the forwarded unary call waits that long). */
const PAUSE_AFTER_SIGTERM_MS = 1000;
const LEASE_TTL_MS = 30_000;

const dbName = `meerkat_drain_fwd_${randomBytes(5).toString('hex')}`;
const url = databaseUrl(dbName);

function parseLogLine(line: string): { msg?: string; clean?: boolean } {
  try {
    return JSON.parse(line) as { msg?: string; clean?: boolean };
  } catch {
    return {};
  }
}

/** Resolves with `p`'s value, or rejects after `ms` naming `what`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

describe.skipIf(!postgresReachable)(`graceful drain of a forwarding replica (postgres at ${ADMIN_URL})`, () => {
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    expect(await tryAdminQuery(`CREATE DATABASE ${dbName}`)).toBe(true);
    const env = {
      MEERKAT_LEASE_TTL_MS: String(LEASE_TTL_MS),
      MEERKAT_LEASE_RENEW_MS: '3000',
      MEERKAT_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      // Ownership stays on B: the forwarded calls must not move the session to A.
      MEERKAT_LEASE_HANDOVER_IDLE_MS: '0',
    };
    [a, b] = await Promise.all([startReplica('fwd-drain-a', url, env), startReplica('fwd-drain-b', url, env)]);
  }, 90_000);
  afterAll(async () => {
    for (const r of [a, b]) {
      if (process.env.MEERKAT_E2E_LOGS) console.log(`--- ${r?.id}\n${r?.server.logs.join('\n')}`);
      r?.server.child.kill('SIGCONT');
      r?.close();
      await r?.server.stop('SIGKILL');
    }
    await tryAdminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it('SIGTERM on A while it proxies streams and a unary call to B: the streams end at once UNAVAILABLE + RetryInfo, the unary call completes, A exits 0 early, B is undisturbed', async () => {
    const sessionId = newId();
    const key = 'fwd-drain-1';
    // B owns the session.
    await call(b.sessions.ensureSessionWithExecutor.bind(b.sessions), { session_id: sessionId, executor: 'scripted' });

    // Through A (forwarded to B): an AcceptWithCompletion stream for a slow run, and a watch of it.
    const accept = new StreamRecorder<AcceptWithCompletionResponse>(
      a.ingress.acceptWithCompletion({ session_id: sessionId, input: prompt(`@delay(${RUN_MS}) hi`, key) }, { deadline: Date.now() + 60_000 }),
    );
    const admission = await accept.next((m) => m.event?.$case === 'admission');
    const outcome = admission.event?.$case === 'admission' ? admission.event.admission.outcome?.type : undefined;
    if (outcome?.$case !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(admission)}`);
    const inputId = outcome.accepted.input_id;
    const staged = async (): Promise<boolean> =>
      (await rowsOf<{ n: number }>(url, `SELECT count(*)::int AS n FROM meerkat_inputs WHERE phase = 'staged' AND input_id = $1`, [inputId]))[0]?.n === 1;
    for (let t0 = Date.now(); !(await staged()); await sleep(20)) if (Date.now() - t0 > 10_000) throw new Error('the run did not start on B');
    const watch = new StreamRecorder<WatchInputResponse>(
      a.ingress.watchInput({ session_id: sessionId, selector: { $case: 'input_id', input_id: inputId }, target: WatchStage.TERMINAL }, { deadline: Date.now() + 60_000 }),
    );
    await watch.next((m) => m.event?.$case === 'update');
    // The calls were forwarded: B holds the only lease, A loaded nothing.
    expect((await leasesOf(url)).map((l) => ({ owner: l.owner_replica, token: l.fencing_token, live: l.live }))).toEqual([{ owner: 'fwd-drain-b', token: 1, live: true }]);

    // A unary call in flight through A: B is paused, so A's forwarded call waits for B's answer.
    b.server.child.kill('SIGSTOP');
    let resumed = false;
    try {
      const unaryStarted = Date.now();
      const unary = call<{ session_id: string; input_id: string }, InputStateResponse>(
        a.sessions.inputState.bind(a.sessions),
        { session_id: sessionId, input_id: inputId },
        { deadline: Date.now() + 20_000 },
      ).then(
        (response) => ({ response, error: null, at: Date.now() }),
        (error: unknown) => ({ response: null, error, at: Date.now() }),
      );
      await sleep(300); // A read the lease and passed the call on
      const stamped = <T extends object>(p: Promise<T>): Promise<T & { readonly at: number }> => p.then((r) => ({ ...r, at: Date.now() }));
      const streamEnds = Promise.all([stamped(accept.done), stamped(watch.done)]);

      const sent = Date.now();
      a.server.child.kill('SIGTERM');

      // Both forwarded streams end at once with UNAVAILABLE + RetryInfo naming the input.
      const [acceptEnd, watchEnd] = await within(streamEnds, 2000, 'the forwarded streams ending after SIGTERM');
      for (const end of [acceptEnd, watchEnd]) {
        const details = decodeErrorDetails(end.error);
        expect(end.status.code).toBe(grpc.status.UNAVAILABLE);
        expect(details?.errorInfo?.reason).toBe('SERVER_SHUTTING_DOWN');
        expect(details?.retryDelayMs).not.toBeNull();
        expect(details?.errorInfo?.metadata.input_id).toBe(inputId);
        expect(end.at - sent).toBeLessThan(1000);
      }
      expect(decodeErrorDetails(watchEnd.error)?.errorInfo?.metadata.resume_token).toMatch(/^w1\./);
      expect(accept.messages.some((m) => m.event?.$case === 'completion')).toBe(false);

      // New calls for the session reaching A are refused, not forwarded (B is still paused: a
      // forwarded call would hang until its deadline).
      const refusedUnary = await expectError(
        call(a.sessions.containsSession.bind(a.sessions), { session_id: sessionId }, { deadline: Date.now() + 2000 }),
        grpc.status.UNAVAILABLE,
        'SERVER_SHUTTING_DOWN',
      );
      expect(refusedUnary.retryDelayMs).not.toBeNull();
      const refusedStream = new StreamRecorder<WatchInputResponse>(
        a.ingress.watchInput({ session_id: sessionId, selector: { $case: 'input_id', input_id: inputId }, target: WatchStage.TERMINAL }, { deadline: Date.now() + 2000 }),
      );
      const refused = await refusedStream.done;
      expect(refused.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(decodeErrorDetails(refused.error)?.errorInfo?.reason).toBe('SERVER_SHUTTING_DOWN');
      expect(decodeErrorDetails(refused.error)?.retryDelayMs).not.toBeNull();

      // The forwarded unary call is still waiting for B, and A waits for it.
      await sleep(Math.max(0, sent + PAUSE_AFTER_SIGTERM_MS - Date.now()));
      const stillRunning = await Promise.race([unary.then(() => false), sleep(0).then(() => true)]);
      expect(stillRunning).toBe(true);
      b.server.child.kill('SIGCONT');
      resumed = true;
      const answered = await unary;
      expect(answered.error).toBeNull();
      expect(answered.response?.state?.input_id).toBe(inputId);
      expect(answered.at - unaryStarted).toBeGreaterThanOrEqual(PAUSE_AFTER_SIGTERM_MS);

      // A exits 0, after the unary call was answered and well within its grace.
      const exit = await a.server.exited;
      expect(exit.code).toBe(0);
      expect(exit.at).toBeGreaterThanOrEqual(answered.at);
      expect(exit.at - sent).toBeLessThan(GRACE_MS / 2 + PAUSE_AFTER_SIGTERM_MS / 2);
      expect(a.server.logs.map(parseLogLine).find((l) => l.msg === 'server stopped')).toMatchObject({ clean: true });

      // The client re-attaches on B and gets the completed terminal.
      const reattached = new StreamRecorder<WatchInputResponse>(
        b.ingress.watchInput({ session_id: sessionId, selector: { $case: 'input_id', input_id: inputId }, target: WatchStage.TERMINAL }, { deadline: Date.now() + 20_000 }),
      );
      const { status } = await reattached.done;
      expect(status.code).toBe(grpc.status.OK);
      const last = reattached.messages.at(-1)?.event;
      if (last?.$case !== 'end') throw new Error(`no WatchEnd: ${JSON.stringify(reattached.messages)}`);
      expect(last.end.reason).toBe(WatchEndReason.TARGET_REACHED);
      expect(last.end.state?.input_id).toBe(inputId);
      const completed = last.end.outcome?.kind;
      expect(completed?.$case === 'completed' ? completed.completed.result?.text : null).toBe('hi');

      // B's run was not disturbed: B kept the lease (token 1), the input was staged once and
      // consumed once, with one receipt.
      expect((await leasesOf(url)).map((l) => ({ owner: l.owner_replica, token: l.fencing_token }))).toEqual([{ owner: 'fwd-drain-b', token: 1 }]);
      const row = (await inputsOf(url)).find((x) => x.input_id === inputId);
      expect(row?.phase).toBe('consumed');
      const to = row?.history.map((h) => h.to) ?? [];
      expect(to.filter((p) => p === 'staged')).toHaveLength(1);
      expect(to.filter((p) => p === 'consumed')).toHaveLength(1);
      expect(to).not.toContain('abandoned');
      expect((await receiptsOf(url)).filter((r) => r.contributing_input_ids.includes(inputId))).toHaveLength(1);
      console.log(
        `forwarded drain: streams ended after ${acceptEnd.at - sent} / ${watchEnd.at - sent} ms; ` +
          `unary answered after ${answered.at - sent} ms; A exited 0 after ${exit.at - sent} ms (grace ${GRACE_MS})`,
      );
    } finally {
      if (!resumed) b.server.child.kill('SIGCONT');
    }
  }, 90_000);
});
