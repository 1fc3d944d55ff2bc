/**
 * Graceful drain of a replica (issue 8, "Graceful drain"): two kernel processes on one fresh
 * PostgreSQL database; replica A owns four sessions whose runs are in flight (scripted executor,
 * `@delay`) while clients hold AcceptWithCompletion streams on A (one of them through B, forwarded
 * to A) and a WatchInput stream. SIGTERM on A:
 *
 * - A's health reports NOT_SERVING at once, and a new call is refused UNAVAILABLE + RetryInfo;
 * - every open AcceptWithCompletion stream ends at once with UNAVAILABLE + RetryInfo
 *   (SERVER_SHUTTING_DOWN, naming the input), the watch with WatchEnd{SERVER_SHUTDOWN} and its
 *   resume token;
 * - the clients re-attach through B (by input id, or by idempotency key; with or without attaching
 *   the executor themselves: A's lease handover names it and B re-attaches it) and receive the
 *   input's real terminal: completed, with the run's result — never "cancelled";
 * - the two short runs reach their boundary on A during the drain and their sessions are taken over
 *   by B before A even exits; the two long runs (longer than the grace period) are left for
 *   recovery: B re-queues and runs them, and nothing is abandoned;
 * - A exits 0 within MEERKAT_SHUTDOWN_GRACE_MS with none of its leases left live, and B takes every
 *   session over with token 2 long before a lease could have expired (lease TTL 30 s).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchEndReason, WatchStage, type AcceptWithCompletionResponse, type WatchInputResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import type { CompletionOutcome } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId, runtimeIdOf } from '../../src/kernel/ids.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { checkHealth, type HealthStatus } from '../../src/server/health.js';
import { ADMIN_URL, databaseUrl, postgresReachable, tryAdminQuery } from '../support/postgres.js';
import { call, expectError, insecure } from './harness.js';
import {
  inputsOf,
  isServiceError,
  leasesOf,
  overlappingRuns,
  prompt,
  receiptsOf,
  retryDelayOf,
  rowsOf,
  sleep,
  startReplica,
  type Replica,
} from './replicas-support.js';
import { StreamRecorder } from './streams-support.js';

const GRACE_MS = 4000;
/** Short runs end well inside the grace period; long ones outlast it. */
const SHORT_RUN_MS = 2000;
const LONG_RUN_MS = 6000;
/** Far longer than the test needs: a takeover seen during the test cannot come from an expired lease. */
const LEASE_TTL_MS = 30_000;

const dbName = `meerkat_drain_${randomBytes(5).toString('hex')}`;
const url = databaseUrl(dbName);

interface Case {
  readonly name: string;
  readonly sessionId: string;
  readonly key: string;
  readonly runMs: number;
  /** The replica the client's AcceptWithCompletion stream goes through (A directly, or B forwarding to A). */
  readonly via: 'a' | 'b';
  /** How the client re-attaches on B. */
  readonly reattach: 'input_id' | 'idempotency_key';
  /**
   * Whether the client calls EnsureSessionWithExecutor on B before watching. Without it, only the
   * executor named by A's lease handover lets B run a re-queued input.
   */
  readonly ensure: boolean;
}

const resultText = (o: CompletionOutcome | undefined): string | null => (o?.kind?.$case === 'completed' ? (o.kind.completed.result?.text ?? null) : null);

function admittedId(r: StreamRecorder<AcceptWithCompletionResponse>): string {
  const first = r.messages[0]?.event;
  if (first?.$case !== 'admission') throw new Error(`first message is not the admission: ${JSON.stringify(r.messages)}`);
  const o = first.admission.outcome?.type;
  if (o?.$case === 'accepted') return o.accepted.input_id;
  throw new Error(`not accepted: ${JSON.stringify(first)}`);
}

function parseLogLine(line: string): { msg?: string; finished?: number; leftForRecovery?: number } {
  try {
    return JSON.parse(line) as { msg?: string; finished?: number; leftForRecovery?: number };
  } catch {
    return {};
  }
}

/**
 * The client's re-attachment through `r`: optionally attach the executor itself, and watch the
 * input to its terminal, retrying while the session is still held by the draining replica
 * (UNAVAILABLE, after the RetryInfo delay). Returns the WatchEnd and how many attempts were refused.
 */
async function reattach(r: Replica, c: Case, inputId: string, deadline: number) {
  let refused = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${c.name}: no terminal through ${r.id} before the deadline (${refused} refusals)`);
    try {
      if (c.ensure) await call(r.sessions.ensureSessionWithExecutor.bind(r.sessions), { session_id: c.sessionId, executor: 'scripted' });
    } catch (e) {
      if (!isServiceError(e) || e.code !== grpc.status.UNAVAILABLE) throw e;
      refused += 1;
      await sleep(Math.max(100, retryDelayOf(e) ?? 0));
      continue;
    }
    const watch = new StreamRecorder<WatchInputResponse>(
      r.ingress.watchInput(
        {
          session_id: c.sessionId,
          selector: c.reattach === 'input_id' ? { $case: 'input_id', input_id: inputId } : { $case: 'idempotency_key', idempotency_key: c.key },
          target: WatchStage.TERMINAL,
        },
        { deadline: deadline },
      ),
    );
    const { status, error } = await watch.done;
    const end = watch.messages.at(-1)?.event;
    if (status.code === grpc.status.OK && end?.$case === 'end' && end.end.reason === WatchEndReason.TARGET_REACHED) return { end: end.end, refused };
    if (error && error.code !== grpc.status.UNAVAILABLE) throw error;
    refused += 1;
    await sleep(Math.max(100, retryDelayOf(error) ?? 0));
  }
}

describe.skipIf(!postgresReachable)(`graceful drain of a replica (postgres at ${ADMIN_URL})`, () => {
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    expect(await tryAdminQuery(`CREATE DATABASE ${dbName}`)).toBe(true);
    const env = { MEERKAT_LEASE_TTL_MS: String(LEASE_TTL_MS), MEERKAT_LEASE_RENEW_MS: '3000', MEERKAT_SHUTDOWN_GRACE_MS: String(GRACE_MS) };
    [a, b] = await Promise.all([startReplica('drain-a', url, env), startReplica('drain-b', url, env)]);
  }, 90_000);
  afterAll(async () => {
    for (const r of [a, b]) {
      if (process.env.MEERKAT_E2E_LOGS) console.log(`--- ${r?.id}\n${r?.server.logs.join('\n')}`);
      r?.close();
      await r?.server.stop('SIGKILL');
    }
    await tryAdminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it('SIGTERM: NOT_SERVING at once, waiter streams end UNAVAILABLE + RetryInfo, clients get the terminal through the other replica, exit 0 within the grace, leases released', async () => {
    const cases: Case[] = [
      { name: 'short-1', sessionId: newId(), key: 'drain-short-1', runMs: SHORT_RUN_MS, via: 'a', reattach: 'input_id', ensure: true },
      { name: 'short-2', sessionId: newId(), key: 'drain-short-2', runMs: SHORT_RUN_MS, via: 'b', reattach: 'idempotency_key', ensure: false },
      { name: 'long-1', sessionId: newId(), key: 'drain-long-1', runMs: LONG_RUN_MS, via: 'a', reattach: 'idempotency_key', ensure: false },
      { name: 'long-2', sessionId: newId(), key: 'drain-long-2', runMs: LONG_RUN_MS, via: 'a', reattach: 'input_id', ensure: true },
    ];
    // A owns every session.
    for (const c of cases) await call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: c.sessionId, executor: 'scripted' });
    const streams = cases.map((c) => {
      const via = c.via === 'a' ? a : b;
      return new StreamRecorder(
        via.ingress.acceptWithCompletion({ session_id: c.sessionId, input: prompt(`@delay(${c.runMs}) ${c.name}`, c.key) }, { deadline: Date.now() + 60_000 }),
      );
    });
    await Promise.all(streams.map((s) => s.next((m) => m.event?.$case === 'admission')));
    const inputIds = streams.map(admittedId);
    // Every run is in flight on A: its input is staged.
    const staged = async (): Promise<boolean> =>
      (await rowsOf<{ n: number }>(url, `SELECT count(*)::int AS n FROM meerkat_inputs WHERE phase = 'staged' AND input_id = ANY($1)`, [inputIds]))[0]?.n === cases.length;
    for (let t0 = Date.now(); !(await staged()); await sleep(20)) if (Date.now() - t0 > 10_000) throw new Error('the runs did not start on A');
    const watchOnA = new StreamRecorder<WatchInputResponse>(
      a.ingress.watchInput({ session_id: cases[2]?.sessionId ?? '', selector: { $case: 'input_id', input_id: inputIds[2] ?? '' }, target: WatchStage.TERMINAL }),
    );
    await watchOnA.next((m) => m.event?.$case === 'update');
    expect((await leasesOf(url)).filter((l) => l.owner_replica === 'drain-a' && l.live)).toHaveLength(cases.length);

    // Who owns each session, as seen from the database every 25 ms from now on.
    const takenOverAt = new Map<string, number>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const now = Date.now();
        for (const l of await leasesOf(url)) if (l.owner_replica === 'drain-b' && !takenOverAt.has(l.session_id)) takenOverAt.set(l.session_id, now);
        await sleep(25);
      }
    })();

    const health = new grpc.Client(a.address, insecure());
    expect(await checkHealth(a.address, 'meerkat.kernel.v1.IngressService', { client: health })).toBe('SERVING');
    const streamEnds = Promise.all(streams.map((s) => s.done.then((d) => ({ ...d, at: Date.now() }))));
    const sent = Date.now();
    a.server.child.kill('SIGTERM');
    try {
      // Health NOT_SERVING at once.
      let seen: HealthStatus | null = null;
      while (Date.now() - sent < 2000) {
        seen = await checkHealth(a.address, 'meerkat.kernel.v1.IngressService', { client: health, timeoutMs: 500 }).catch(() => null);
        if (seen === 'NOT_SERVING') break;
        await sleep(10);
      }
      expect(seen).toBe('NOT_SERVING');
      const notServingAfter = Date.now() - sent;
      expect(notServingAfter).toBeLessThan(1000);

      // A new session is refused with UNAVAILABLE + RetryInfo.
      const refusedNew = await expectError(
        call(a.sessions.ensureSessionWithExecutor.bind(a.sessions), { session_id: newId(), executor: 'scripted' }),
        grpc.status.UNAVAILABLE,
        'SERVER_SHUTTING_DOWN',
      );
      expect(refusedNew.retryDelayMs).not.toBeNull();

      // Every waiter stream ended at once — before even the short runs reached their boundary —
      // with UNAVAILABLE + RetryInfo naming its input, and without a completion.
      const ends = await streamEnds;
      ends.forEach((end, i) => {
        const details = decodeErrorDetails(end.error);
        expect(end.status.code).toBe(grpc.status.UNAVAILABLE);
        expect(details?.errorInfo?.reason).toBe('SERVER_SHUTTING_DOWN');
        expect(details?.retryDelayMs).not.toBeNull();
        expect(details?.errorInfo?.metadata.input_id).toBe(inputIds[i]);
        expect(streams[i]?.messages.some((m) => m.event?.$case === 'completion')).toBe(false);
        expect(end.at - sent).toBeLessThan(SHORT_RUN_MS);
      });
      // The watch on A ended in-band with SERVER_SHUTDOWN and a resume token.
      await watchOnA.done;
      const watchEnd = watchOnA.messages.at(-1)?.event;
      expect(watchEnd?.$case === 'end' ? watchEnd.end.reason : null).toBe(WatchEndReason.SERVER_SHUTDOWN);
      expect(watchEnd?.$case === 'end' ? watchEnd.end.resume_token : '').toMatch(/^w1\./);

      // The clients re-attach through B and get the terminal.
      const deadline = sent + 40_000;
      const reattached = await Promise.all(cases.map((c, i) => reattach(b, c, inputIds[i] ?? '', deadline).then((r) => ({ ...r, at: Date.now() }))));
      const exit = await a.server.exited;
      polling = false;
      await poller;

      cases.forEach((c, i) => {
        const r = reattached[i];
        expect(r?.end.state?.input_id).toBe(inputIds[i]);
        expect({ name: c.name, kind: r?.end.outcome?.kind?.$case, text: resultText(r?.end.outcome) }).toEqual({ name: c.name, kind: 'completed', text: c.name });
      });

      // A exited 0 within the grace period, with none of its leases live.
      expect(exit.code).toBe(0);
      expect(exit.at - sent).toBeLessThan(GRACE_MS);
      const leases = await leasesOf(url);
      expect(leases.filter((l) => l.owner_replica === 'drain-a' && l.live)).toEqual([]);
      // B took every session over (token 2) long before a lease could have expired; the sessions of
      // the short runs even before A exited (released as soon as their loops stopped).
      for (const c of cases) {
        expect(leases.find((l) => l.session_id === c.sessionId)).toMatchObject({ owner_replica: 'drain-b', fencing_token: 2 });
        expect((takenOverAt.get(c.sessionId) ?? Infinity) - sent).toBeLessThan(LEASE_TTL_MS / 2);
      }
      for (const c of cases.filter((x) => x.runMs === SHORT_RUN_MS)) expect(takenOverAt.get(c.sessionId) ?? Infinity).toBeLessThan(exit.at);
      const drainLog = a.server.logs.map(parseLogLine).find((l) => l.msg === 'runtime loops stopped');
      expect(drainLog).toMatchObject({ finished: 2, leftForRecovery: 2 });

      // The stored rows: each input consumed exactly once, never abandoned, one receipt naming it.
      const inputs = await inputsOf(url);
      const receipts = await receiptsOf(url);
      cases.forEach((c, i) => {
        const row = inputs.find((x) => x.input_id === inputIds[i]);
        expect(row?.phase).toBe('consumed');
        const to = row?.history.map((h) => h.to) ?? [];
        expect(to.filter((p) => p === 'consumed')).toHaveLength(1);
        expect(to).not.toContain('abandoned');
        expect(receipts.filter((r) => r.contributing_input_ids.includes(inputIds[i] ?? ''))).toHaveLength(1);
        const consumedAt = row?.history.find((h) => h.to === 'consumed')?.at ?? Infinity;
        if (c.runMs === SHORT_RUN_MS) {
          // Reached its boundary on A, during the drain: staged once.
          expect(consumedAt).toBeLessThan(exit.at);
          expect(to.filter((p) => p === 'staged')).toHaveLength(1);
        } else {
          // Left for recovery: B re-queued it (staged → queued), ran it again and consumed it.
          expect(consumedAt).toBeGreaterThan(exit.at);
          expect(row?.history.some((h) => h.from === 'staged' && h.to === 'queued' && (h.reason ?? '').startsWith('recovered'))).toBe(true);
          expect(to.filter((p) => p === 'staged')).toHaveLength(2);
        }
        expect(overlappingRuns(inputs.filter((x) => x.runtime_id === runtimeIdOf(c.sessionId)))).toEqual([]);
      });
      console.log(
        `drain: NOT_SERVING after ${notServingAfter} ms; exit 0 after ${exit.at - sent} ms (grace ${GRACE_MS}); ` +
          `terminals through B after ${reattached.map((r) => r.at - sent).join(', ')} ms; ` +
          `takeovers after ${cases.map((c) => (takenOverAt.get(c.sessionId) ?? NaN) - sent).join(', ')} ms`,
      );
    } finally {
      polling = false;
      health.close();
    }
  }, 90_000);
});
