/**
 * `npm run bench:replicas` — several kernel replicas on one PostgreSQL database (decision 12): what
 * forwarding costs, and what three replicas do to throughput, with same-run baselines.
 *
 * Three kernel server processes (`node --import tsx src/server/main.ts`, each with its own
 * `MEERKAT_REPLICA_ID` and `MEERKAT_ADVERTISE_ADDR`) share one scratch database created from
 * `BENCH_DATABASE_URL` / `TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres)
 * and dropped at the end. Idle lease handover is off (`MEERKAT_LEASE_HANDOVER_IDLE_MS=0`) so every
 * session stays with the replica that created it and "forwarded" means forwarded on every call.
 *
 * (a) Forwarding cost: sessions owned by replica 0 (echo executor) are called directly on replica 0
 *     and, alternately, through replica 1, which forwards every call to replica 0. Two calls: the
 *     unary `SessionService.SessionHasExecutor` (no database write: the hop and, on the non-owner,
 *     its lease lookup) and `IngressService.AcceptWithCompletion` to completion (two commits).
 *     Printed: p50/p99 and throughput per path and the forwarded/direct ratios.
 * (b) Throughput, accept → completion with the echo executor, `--sessions` sessions each driven by
 *     one client loop of sequential calls: one replica (every session owned by and called on
 *     replica 0) vs three replicas with the calls spread at random (each session owned by a random
 *     replica; about 2/3 of the calls forwarded, like a mesh without header hashing) vs three
 *     replicas with session affinity (every call sent to the session's owner, like Istio's
 *     consistent hash on `x-meerkat-session-id` once the leases follow it). Fresh sessions for
 *     each measurement.
 *
 * `--rounds=N` (default 3): every target is measured in turn, N times, and each target's median
 * round (by throughput) is reported. Everything runs on one machine, so the replicas share its
 * cores with PostgreSQL and the client: this shows the cost of the mesh, not scale-out.
 * Measures; asserts nothing.
 *
 *   npm run bench:replicas -- --seconds=3 --rounds=3 --sessions=64
 */
import os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { IngressServiceClient } from '../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceClient } from '../src/gen/meerkat/kernel/v1/session.js';
import {
  acceptAndWait,
  ADMIN_URL,
  args,
  drive,
  ensureEcho,
  fmt,
  freePort,
  median,
  promptRequest,
  ratio,
  startChild,
  stopChild,
  waitForServing,
  type Child,
  type Result,
} from './support.js';

const SECONDS = Number(args.get('seconds') ?? 3);
const ROUNDS = Math.max(1, Number(args.get('rounds') ?? 3));
const SESSIONS = Math.max(1, Number(args.get('sessions') ?? 64));
/** Client loops of the forwarding-cost measurement (1: one call at a time, the bare latency). */
const LATENCY_CONCURRENCY = Math.max(1, Number(args.get('concurrency') ?? 1));
const REPLICAS = 3;
const WARMUP_SECONDS = Math.min(1, SECONDS);
/** A call that takes longer than this counts as an error (a stuck call must not stall the run). */
const CALL_DEADLINE_MS = 30_000;
/** Progress on stderr (which measurement runs now), so a slow machine is not mistaken for a hang. */
const progress = (what: string): void => {
  process.stderr.write(`  … ${what}\n`);
};

/** One replica's clients. */
interface Replica {
  readonly id: string;
  readonly address: string;
  readonly ingress: IngressServiceClient;
  readonly sessions: SessionServiceClient;
}

function hasExecutor(client: SessionServiceClient, sessionId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.sessionHasExecutor({ session_id: sessionId }, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => {
      if (err) reject(err);
      else if (!res.has_executor) reject(new Error(`session ${sessionId} has no executor`));
      else resolve();
    });
  });
}

/** `n` fresh sessions, each created (and so leased) on the replica `ownerOf(i)`. */
async function sessionsOwnedBy(replicas: readonly Replica[], n: number, ownerOf: (i: number) => number): Promise<{ id: string; owner: number }[]> {
  const made = Array.from({ length: n }, (_, i) => ({ id: uuidv7(), owner: ownerOf(i) }));
  for (let i = 0; i < made.length; i += 32) {
    await Promise.all(made.slice(i, i + 32).map((s) => ensureEcho((replicas[s.owner] as Replica).sessions, s.id, CALL_DEADLINE_MS)));
  }
  return made;
}

function row(label: string, r: Result): string {
  const errs = r.errors > 0 ? `  (${r.errors} errors; first: ${r.firstError})` : '';
  return `  ${label.padEnd(52)} ${fmt(r.perSec).padStart(9)} ${fmt(r.p50, 2).padStart(8)} ${fmt(r.p99, 2).padStart(8)}${errs}`;
}

const HEADER = `  ${'target'.padEnd(52)} ${'calls/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`;

async function main(): Promise<void> {
  const dbName = `meerkat_bench_replicas_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;

  const children: Child[] = [];
  const replicas: Replica[] = [];
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      for (const r of replicas) {
        r.ingress.close();
        r.sessions.close();
      }
      for (const c of children) await stopChild(c, 15_000);
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    })());
  // Interrupted (Ctrl-C, a timeout): stop the servers and drop the scratch database all the same.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the replicas and dropping ${dbName}\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const creds = grpc.credentials.createInsecure();
    // Start one replica first (it migrates the fresh database), then the others.
    for (let i = 0; i < REPLICAS; i += 1) {
      const address = `127.0.0.1:${await freePort()}`;
      const child = startChild(['src/server/main.ts'], {
        DATABASE_URL: url.toString(),
        MEERKAT_LISTEN: address,
        MEERKAT_ADVERTISE_ADDR: address,
        MEERKAT_REPLICA_ID: `bench-replica-${i}`,
        MEERKAT_LEASE_HANDOVER_IDLE_MS: '0',
        MEERKAT_LOG_LEVEL: process.env.MEERKAT_LOG_LEVEL ?? 'warn',
      });
      children.push(child);
      await waitForServing(address, child, 90_000);
      replicas.push({ id: `bench-replica-${i}`, address, ingress: new IngressServiceClient(address, creds), sessions: new SessionServiceClient(address, creds) });
    }
    const [r0, r1] = replicas as [Replica, Replica, Replica];

    console.log(`meerkat-kernel bench:replicas — ${REPLICAS} kernel replicas on one PostgreSQL database (echo executor, idle handover off)`);
    console.log(
      `node ${process.version}, ${os.cpus().length} CPUs (replicas, PostgreSQL and the client share them), ${SECONDS}s per measurement, ` +
        `median of ${ROUNDS} rounds (after a ${WARMUP_SECONDS}s warm-up per target), database ${dbName}\n`,
    );

    // (a) The forwarding cost: the same sessions (owned by replica 0), called on replica 0 or through replica 1.
    const owned = (await sessionsOwnedBy(replicas, Math.max(LATENCY_CONCURRENCY, 1), () => 0)).map((s) => s.id);
    const unaryOn = (r: Replica) => (w: number) => hasExecutor(r.sessions, owned[w % owned.length] as string);
    const acceptOn = (r: Replica) => (w: number) => acceptAndWait(r.ingress, promptRequest(owned[w % owned.length] as string), CALL_DEADLINE_MS);
    const latencyTargets = [
      { label: 'SessionHasExecutor, direct (owner)', op: unaryOn(r0) },
      { label: 'SessionHasExecutor, forwarded (non-owner → owner)', op: unaryOn(r1) },
      { label: 'AcceptWithCompletion, direct (owner)', op: acceptOn(r0) },
      { label: 'AcceptWithCompletion, forwarded (non-owner → owner)', op: acceptOn(r1) },
    ];
    for (const t of latencyTargets) await drive(LATENCY_CONCURRENCY, WARMUP_SECONDS, t.op);
    const latencyRounds = latencyTargets.map(() => [] as Result[]);
    for (let r = 0; r < ROUNDS; r += 1) {
      for (const [i, t] of latencyTargets.entries()) {
        progress(`round ${r + 1}/${ROUNDS}: ${t.label}`);
        (latencyRounds[i] as Result[]).push(await drive(LATENCY_CONCURRENCY, SECONDS, t.op));
      }
    }
    const latency = latencyRounds.map(median);
    console.log(`(a) forwarding cost: ${LATENCY_CONCURRENCY} client loop(s) of sequential calls on sessions owned by replica 0`);
    console.log(HEADER);
    for (const [i, t] of latencyTargets.entries()) console.log(row(t.label, latency[i] as Result));
    const [uDirect, uFwd, aDirect, aFwd] = latency as [Result, Result, Result, Result];
    const forwarding = [
      `  SessionHasExecutor   forwarded/direct: p50 ${ratio(uFwd.p50, uDirect.p50)}, p99 ${ratio(uFwd.p99, uDirect.p99)}, ` +
        `throughput ${ratio(uFwd.perSec, uDirect.perSec)} (+${fmt(uFwd.p50 - uDirect.p50, 2)} ms at p50)`,
      `  AcceptWithCompletion forwarded/direct: p50 ${ratio(aFwd.p50, aDirect.p50)}, p99 ${ratio(aFwd.p99, aDirect.p99)}, ` +
        `throughput ${ratio(aFwd.perSec, aDirect.perSec)} (+${fmt(aFwd.p50 - aDirect.p50, 2)} ms at p50)`,
    ];
    for (const line of forwarding) console.log(line);
    console.log('');

    // (b) Throughput: one replica vs three (random spread, session affinity); fresh sessions each time.
    const pick = (n: number): number => Math.floor(Math.random() * n);
    const throughputTargets: { label: string; run: () => Promise<Result> }[] = [
      {
        label: '1 replica (every call on replica 0)',
        run: async () => {
          const ids = (await sessionsOwnedBy(replicas, SESSIONS, () => 0)).map((s) => s.id);
          return drive(SESSIONS, SECONDS, (w) => acceptAndWait(r0.ingress, promptRequest(ids[w] as string), CALL_DEADLINE_MS));
        },
      },
      {
        label: `${REPLICAS} replicas, calls spread at random`,
        run: async () => {
          const ids = (await sessionsOwnedBy(replicas, SESSIONS, () => pick(REPLICAS))).map((s) => s.id);
          return drive(SESSIONS, SECONDS, (w) => acceptAndWait((replicas[pick(REPLICAS)] as Replica).ingress, promptRequest(ids[w] as string), CALL_DEADLINE_MS));
        },
      },
      {
        label: `${REPLICAS} replicas, session affinity (call the owner)`,
        run: async () => {
          const made = await sessionsOwnedBy(replicas, SESSIONS, (i) => i % REPLICAS);
          return drive(SESSIONS, SECONDS, (w) => {
            const s = made[w] as { id: string; owner: number };
            return acceptAndWait((replicas[s.owner] as Replica).ingress, promptRequest(s.id), CALL_DEADLINE_MS);
          });
        },
      },
    ];
    const warmIds = (await sessionsOwnedBy(replicas, 8, (i) => i % REPLICAS)).map((s) => s.id);
    await drive(8, WARMUP_SECONDS, (w) => acceptAndWait((replicas[pick(REPLICAS)] as Replica).ingress, promptRequest(warmIds[w] as string), CALL_DEADLINE_MS));
    const throughputRounds = throughputTargets.map(() => [] as Result[]);
    for (let r = 0; r < ROUNDS; r += 1) {
      for (const [i, t] of throughputTargets.entries()) {
        progress(`round ${r + 1}/${ROUNDS}: ${t.label}`);
        (throughputRounds[i] as Result[]).push(await t.run());
      }
    }
    const throughput = throughputRounds.map(median);
    console.log(`(b) throughput: accept → completion, ${SESSIONS} sessions, one client loop of sequential calls each`);
    console.log(HEADER);
    for (const [i, t] of throughputTargets.entries()) console.log(row(t.label, throughput[i] as Result));
    const [one, spread, affinity] = throughput as [Result, Result, Result];
    const scaling = [
      `  ${REPLICAS} replicas random / 1 replica:   throughput ${ratio(spread.perSec, one.perSec)}, p50 ${ratio(spread.p50, one.p50)}`,
      `  ${REPLICAS} replicas affinity / 1 replica: throughput ${ratio(affinity.perSec, one.perSec)}, p50 ${ratio(affinity.p50, one.p50)}`,
      `  affinity / random (what the mesh hash buys): throughput ${ratio(affinity.perSec, spread.perSec)}, p50 ${ratio(affinity.p50, spread.p50)}`,
    ];
    for (const line of scaling) console.log(line);
    console.log('');
    console.log('summary (ratios > 1x: throughput higher / latency longer than the baseline)');
    for (const line of [...forwarding, ...scaling]) console.log(line);
    if (os.cpus().length < 2 * REPLICAS) {
      console.log(
        `note: ${os.cpus().length} CPUs for ${REPLICAS} replicas, PostgreSQL and the client — the replicas compete for the same cores, so this cannot show scale-out`,
      );
    }
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
