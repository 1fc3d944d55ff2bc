/**
 * Three kernel processes on one fresh PostgreSQL database, under load, one of them SIGKILLed
 * mid-load (issue 8, "What it must show"). A client drives 32 sessions (scripted executor, each
 * run taking 20 ms so that the kill finds runs in flight), each with two concurrent workers submitting inputs with idempotency keys through AcceptWithCompletion, every
 * call sent to a replica picked at random; a call that fails with UNAVAILABLE (the killed replica,
 * a forward to it, a session whose dead owner's lease has not expired yet) or whose stream ends
 * without the input's terminal is retried on another replica with the SAME idempotency key, after
 * EnsureSessionWithExecutor there (executor attachments are not durable: a session's new owner
 * needs one). When about a third of the inputs completed, the replica holding the most leases is
 * SIGKILLed. Lease TTL 1500 ms / renewal 500 ms, so its sessions are taken over within seconds.
 *
 * Afterwards, from the stored rows (queried directly):
 *
 * - every acknowledged input (the client received its admission) reached exactly one terminal: its
 *   row is terminal, its history has exactly one terminal entry and it is the last; the client saw
 *   one input id per idempotency key across all retries, the store holds exactly one row per key
 *   and no other rows (a retry never created a second input); the terminal the client received
 *   matches the stored one;
 * - every consumed input is named by exactly one boundary receipt, whose run is the input's last run;
 * - no session ever had two runs at once: from each input's history, the interval during which it
 *   belonged to a run (the commit that staged it → the next commit that moved it on: its boundary
 *   commit, or the new owner's recovery re-queueing it) — one interval per run, shared by the run's
 *   inputs (its last run identified by `last_run_id`) — and the intervals of one session's runs
 *   never overlap;
 * - fencing tokens only grew: the lease table was polled every 50 ms during the whole run; per
 *   session the observed token never went down, an owner change always came with a higher token,
 *   the final token is at least the largest observed, and every session the killed replica held
 *   that another replica took over has a token above the one it had at the kill (at least one
 *   such takeover must have happened, or the test proves nothing).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AcceptWithCompletionResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { newId, runtimeIdOf } from '../../src/kernel/ids.js';
import { ADMIN_URL, databaseUrl, postgresReachable, tryAdminQuery } from '../support/postgres.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { call } from './harness.js';
import {
  inputsOf,
  isServiceError,
  leasesOf,
  overlappingRuns,
  prompt,
  receiptsOf,
  retryDelayOf,
  sleep,
  startReplica,
  TERMINAL_PHASES,
  type LeaseRow,
  type Replica,
} from './replicas-support.js';
import { StreamRecorder } from './streams-support.js';

const SESSIONS = 32;
const WORKERS_PER_SESSION = 2;
const INPUTS_PER_WORKER = 8;
/** Each run takes this long (scripted executor), so the kill finds runs in flight. */
const RUN_MS = 20;
const TOTAL = SESSIONS * WORKERS_PER_SESSION * INPUTS_PER_WORKER;
/** Kill a replica once this share of the inputs completed. */
const KILL_AT = 0.35;

const dbName = `meerkat_load_${randomBytes(5).toString('hex')}`;
const url = databaseUrl(dbName);

/** Completion kinds that are the input's own terminal (others — runtime_terminated, wait_error — say the waiter ended without it). */
const INPUT_TERMINAL_KINDS: ReadonlySet<string> = new Set([
  'completed',
  'completed_without_result',
  'callback_pending',
  'cancelled',
  'superseded',
  'coalesced',
  'abandoned',
  'abandoned_with_error',
  'completed_with_finalization_failure',
]);
/** The stored phase each client-side terminal corresponds to. */
const PHASE_OF_KIND: Readonly<Record<string, string>> = {
  completed: 'consumed',
  completed_without_result: 'consumed',
  callback_pending: 'consumed',
  completed_with_finalization_failure: 'consumed',
  cancelled: 'abandoned',
  abandoned: 'abandoned',
  abandoned_with_error: 'abandoned',
  superseded: 'superseded',
  coalesced: 'coalesced',
};

interface Submitted {
  readonly sessionId: string;
  readonly key: string;
  /** Input ids of every admission the client received for this key (acknowledgements). */
  readonly acks: Set<string>;
  /** The terminal completion kind the client finally received. */
  terminal: string | null;
  /** Result texts of the completions received (the scripted executor echoes each input's text). */
  readonly results: Set<string>;
  attempts: number;
}

interface Observation {
  readonly at: number;
  readonly owner: string;
  readonly token: number;
}

function admissionId(m: AcceptWithCompletionResponse): string | null {
  if (m.event?.$case !== 'admission') return null;
  const o = m.event.admission.outcome?.type;
  if (o?.$case === 'accepted') return o.accepted.input_id;
  if (o?.$case === 'deduplicated') return o.deduplicated.existing_id;
  return null;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;

describe.skipIf(!postgresReachable)(`three replicas under load, one SIGKILLed (postgres at ${ADMIN_URL})`, () => {
  let replicas: Replica[] = [];
  beforeAll(async () => {
    expect(await tryAdminQuery(`CREATE DATABASE ${dbName}`)).toBe(true);
    const env = { MEERKAT_LEASE_TTL_MS: '1500', MEERKAT_LEASE_RENEW_MS: '500' };
    replicas = await Promise.all(['load-0', 'load-1', 'load-2'].map((id) => startReplica(id, url, env)));
  }, 90_000);
  afterAll(async () => {
    for (const r of replicas) {
      if (process.env.MEERKAT_E2E_LOGS) console.log(`--- ${r.id}\n${r.server.logs.join('\n')}`);
      r.close();
      await r.server.stop('SIGKILL');
    }
    await tryAdminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  it('every acknowledged input reaches exactly one terminal, runs never overlap, fencing tokens only grow', async () => {
    const started = Date.now();
    const sessions = Array.from({ length: SESSIONS }, () => newId());
    const submitted = new Map<string, Submitted>();
    const unexpected: string[] = [];
    let completed = 0;
    let retries = 0;
    /** Why attempts failed, before and after the kill (diagnostics). */
    const failures = new Map<string, number>();

    // The lease table, every 50 ms.
    const observed = new Map<string, Observation[]>();
    const observe = (rows: readonly LeaseRow[]): void => {
      const at = Date.now();
      for (const l of rows) {
        const seen = observed.get(l.session_id) ?? [];
        const last = seen.at(-1);
        if (last === undefined || last.token !== l.fencing_token || last.owner !== l.owner_replica) seen.push({ at, owner: l.owner_replica, token: l.fencing_token });
        observed.set(l.session_id, seen);
      }
    };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        observe(await leasesOf(url));
        await sleep(50);
      }
    })();

    // The kill, once enough inputs completed: the replica holding the most live leases.
    let killed: { readonly replica: Replica; readonly at: number; readonly leases: readonly LeaseRow[] } | null = null;
    const killWhenDue = async (): Promise<void> => {
      while (completed < TOTAL * KILL_AT) await sleep(10);
      const leases = await leasesOf(url);
      observe(leases);
      const held = (r: Replica): LeaseRow[] => leases.filter((l) => l.owner_replica === r.id && l.live);
      const victim = [...replicas].sort((x, y) => held(y).length - held(x).length)[0] as Replica;
      victim.server.child.kill('SIGKILL');
      killed = { replica: victim, at: Date.now(), leases: held(victim) };
    };

    /** One input, retried with its idempotency key until the client holds its terminal. */
    const submit = async (sessionId: string, key: string): Promise<void> => {
      const s: Submitted = { sessionId, key, acks: new Set(), terminal: null, results: new Set(), attempts: 0 };
      submitted.set(key, s);
      let previous: Replica | null = null;
      while (s.terminal === null) {
        s.attempts += 1;
        if (s.attempts > 1) retries += 1;
        if (s.attempts > 60) throw new Error(`${key}: no terminal after 60 attempts; unexpected errors: ${unexpected.join('\n')}`);
        const r = pick(replicas.filter((x) => x !== previous));
        previous = r;
        let delay = 50 + Math.random() * 100;
        try {
          await call(r.sessions.ensureSessionWithExecutor.bind(r.sessions), { session_id: sessionId, executor: 'scripted' }, { deadline: Date.now() + 5000 });
          const stream = new StreamRecorder(
            r.ingress.acceptWithCompletion({ session_id: sessionId, input: prompt(`@delay(${RUN_MS}) ${key}`, key) }, { deadline: Date.now() + 8000 }),
          );
          const { status, error } = await stream.done;
          for (const m of stream.messages) {
            const id = admissionId(m);
            if (id !== null) s.acks.add(id);
            const outcome = m.event?.$case === 'completion' ? m.event.completion.outcome?.kind : undefined;
            if (outcome !== undefined && INPUT_TERMINAL_KINDS.has(outcome.$case)) {
              s.terminal = outcome.$case;
              // The run's result is the input's own text: the completion is this input's.
              if (outcome.$case === 'completed') s.results.add(outcome.completed.result?.text ?? '');
            }
          }
          if (s.terminal !== null) break;
          if (error) throw error;
          if (status.code !== grpc.status.OK) throw new Error(`stream ended ${grpc.status[status.code]}`);
          // Ended without the input's terminal (e.g. the owner lost the session): retry.
        } catch (e) {
          const code = isServiceError(e) ? e.code : null;
          const reason = isServiceError(e) ? (decodeErrorDetails(e)?.errorInfo?.reason ?? '') : '';
          const why = `${killed === null ? 'before' : 'after'} kill: ${code === null ? String(e) : `${grpc.status[code]} ${reason}`.trim()}`;
          failures.set(why, (failures.get(why) ?? 0) + 1);
          if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED && code !== grpc.status.CANCELLED) {
            unexpected.push(`${key} via ${r.id}: ${isServiceError(e) ? `${grpc.status[e.code]} ${e.details}` : String(e)}`);
          }
          delay = Math.max(delay, retryDelayOf(e) ?? 0);
        }
        await sleep(delay);
      }
      completed += 1;
    };

    const kill = killWhenDue();
    await Promise.all(
      sessions.flatMap((sessionId, si) =>
        Array.from({ length: WORKERS_PER_SESSION }, async (_, w) => {
          for (let i = 0; i < INPUTS_PER_WORKER; i += 1) await submit(sessionId, `s${si}-w${w}-${i}`);
        }),
      ),
    );
    await kill;
    const loadMs = Date.now() - started;
    polling = false;
    await poller;
    observe(await leasesOf(url));
    expect(killed).not.toBeNull();
    const kill_ = killed as unknown as { readonly replica: Replica; readonly at: number; readonly leases: readonly LeaseRow[] };
    expect((await kill_.replica.server.exited).signal).toBe('SIGKILL');

    // The client: every input acknowledged under one input id, and completed.
    expect(unexpected).toEqual([]);
    expect(submitted.size).toBe(TOTAL);
    for (const s of submitted.values()) {
      expect({ key: s.key, acks: s.acks.size }).toEqual({ key: s.key, acks: 1 });
      expect(s.terminal).not.toBeNull();
      // A batch's result joins its inputs' texts: each completion received names this input.
      for (const text of s.results) expect(text.split('\n')).toContain(s.key);
    }

    // The stored rows.
    const inputs = await inputsOf(url);
    const receipts = await receiptsOf(url);
    expect(inputs.map((i) => i.idempotency_key).sort()).toEqual([...submitted.keys()].sort());
    for (const s of submitted.values()) {
      const [inputId] = [...s.acks];
      const row = inputs.find((i) => i.input_id === inputId);
      expect(row?.idempotency_key).toBe(s.key);
      expect(row?.runtime_id).toBe(runtimeIdOf(s.sessionId));
      expect(row?.terminal_outcome).not.toBeNull();
      expect(TERMINAL_PHASES.has(row?.phase ?? '')).toBe(true);
      const terminals = row?.history.filter((h) => TERMINAL_PHASES.has(h.to)) ?? [];
      expect({ key: s.key, terminals: terminals.length, last: row?.history.at(-1)?.to }).toEqual({ key: s.key, terminals: 1, last: row?.phase });
      expect(row?.phase).toBe(PHASE_OF_KIND[s.terminal ?? '']);
      if (row?.phase === 'consumed') {
        const naming = receipts.filter((r) => r.runtime_id === row.runtime_id && r.contributing_input_ids.includes(row.input_id));
        expect(naming.map((r) => r.run_id)).toEqual([row.last_run_id]);
      }
    }
    // One run at a time per session.
    let runs = 0;
    for (const sessionId of sessions) {
      const own = inputs.filter((i) => i.runtime_id === runtimeIdOf(sessionId));
      expect({ sessionId, overlaps: overlappingRuns(own) }).toEqual({ sessionId, overlaps: [] });
      runs += new Set(own.flatMap((i) => i.history.filter((h) => h.to === 'staged').map((h) => `${h.at}`))).size;
    }

    // Fencing tokens only grew.
    const final = new Map((await leasesOf(url)).map((l) => [l.session_id, l]));
    let takeovers = 0;
    for (const sessionId of sessions) {
      const seen = observed.get(sessionId) ?? [];
      expect(seen.length).toBeGreaterThan(0);
      for (let i = 1; i < seen.length; i += 1) {
        const prev = seen[i - 1] as Observation;
        const next = seen[i] as Observation;
        expect(next.token).toBeGreaterThanOrEqual(prev.token);
        if (next.owner !== prev.owner) expect({ sessionId, from: prev, to: next, grew: next.token > prev.token }).toMatchObject({ grew: true });
      }
      const last = final.get(sessionId);
      expect(last?.fencing_token ?? 0).toBeGreaterThanOrEqual(Math.max(...seen.map((o) => o.token)));
      const atKill = kill_.leases.find((l) => l.session_id === sessionId);
      if (atKill && last && last.owner_replica !== kill_.replica.id) {
        expect(last.fencing_token).toBeGreaterThan(atKill.fencing_token);
        takeovers += 1;
      }
    }
    expect(takeovers).toBeGreaterThan(0);
    expect(retries).toBeGreaterThan(0);
    // Inputs whose run was in flight on the killed replica: the new owner's recovery re-queued them.
    const recovered = inputs.filter((i) => i.history.some((h) => h.from === 'staged' && h.to === 'queued' && (h.reason ?? '').startsWith('recovered'))).length;
    console.log(
      `load: ${TOTAL} inputs on ${SESSIONS} sessions in ${loadMs} ms (${runs} staged runs), ${retries} retries, ${recovered} inputs re-queued by a takeover; ` +
        `${kill_.replica.id} SIGKILLed ${kill_.at - started} ms in holding ${kill_.leases.length} leases, ${takeovers} taken over; ` +
        `failed attempts: ${JSON.stringify(Object.fromEntries(failures))}`,
    );
  }, 120_000);
});
