/**
 * `npm run bench:store` — accept → durable acknowledgement through the kernel on
 * PostgreSQL, against a naive baseline of one INSERT + COMMIT per input on the
 * same server, at 1, 16 and 64 concurrent sessions. Prints throughput, p50/p99
 * latency and the kernel/baseline ratio. Measures; asserts nothing.
 *
 * Uses `BENCH_DATABASE_URL` / `TEST_DATABASE_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres) to create a scratch database,
 * dropped at the end. `--seconds=N` (default 3), `--sessions=1,16,64`, `--rounds=N` (default 3):
 * each session count measures baseline, kernel and drained in turn, N times, and reports each
 * target's median round (by throughput), so that a burst of load elsewhere on the machine skews
 * one round rather than the ratio.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { MeerkatMachine, newId } from '../src/kernel/index.js';
import { createStores } from '../src/store/index.js';
import { ADMIN_URL, args } from './support.js';

const SECONDS = Number(args.get('seconds') ?? 3);
const ROUNDS = Math.max(1, Number(args.get('rounds') ?? 3));
const SESSIONS = (args.get('sessions') ?? '1,16,64').split(',').map(Number);

interface Result {
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
}

function summarize(latencies: number[], elapsedMs: number): Result {
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSec: latencies.length / (elapsedMs / 1000), p50: at(0.5), p99: at(0.99) };
}

async function drive(concurrency: number, op: (worker: number) => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < deadline) {
        const s = performance.now();
        await op(w);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return summarize(latencies, performance.now() - t0);
}

/**
 * `draining`: each session has the echo executor attached and the next accept waits for the
 * previous input's completion (the backlog stays empty; every input also costs a run start and a
 * boundary commit). Otherwise accepts pile up as a backlog nobody drains.
 */
async function benchKernel(url: string, sessions: number, draining: boolean): Promise<Result> {
  const stores = await createStores({ databaseUrl: url });
  const kernel = new MeerkatMachine({ store: stores.store, blobs: stores.blobs, retentionIntervalMs: 0, assertInvariants: false });
  const ids = Array.from({ length: sessions }, () => newId());
  for (const id of ids) {
    if (draining) await kernel.session.ensureSessionWithExecutor(id, 'echo');
    else await kernel.session.registerSession(id);
  }
  const previous = new Map<string, Promise<unknown>>();
  const r = await drive(sessions, async (w) => {
    const id = ids[w] as string;
    if (!draining) {
      await kernel.ingress.acceptWithoutWake(id, { body: { input_type: 'prompt', text: 'ping' } });
      return;
    }
    await previous.get(id);
    const a = await kernel.ingress.acceptWithCompletion(id, { body: { input_type: 'prompt', text: 'ping' } });
    previous.set(id, a.handle?.outcome ?? Promise.resolve());
  });
  await kernel.close();
  await stores.close();
  return r;
}

async function benchBaseline(url: string, sessions: number): Promise<Result> {
  const pool = new pg.Pool({ connectionString: url, max: Math.min(sessions, 64) });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_naive_inputs (id uuid PRIMARY KEY, session_id uuid NOT NULL, payload text NOT NULL)');
  const ids = Array.from({ length: sessions }, () => newId());
  const r = await drive(sessions, async (w) => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO bench_naive_inputs (id, session_id, payload) VALUES ($1, $2, $3)', [newId(), ids[w], 'ping']);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  });
  await pool.end();
  return r;
}

/** The round with the median throughput. */
function median(results: readonly Result[]): Result {
  const sorted = [...results].sort((a, b) => a.perSec - b.perSec);
  return sorted[Math.floor(sorted.length / 2)] as Result;
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const dbName = `meerkat_bench_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  console.log(`meerkat-kernel bench:store — accept → durable ack, ${SECONDS}s per measurement, median of ${ROUNDS} rounds, database ${dbName}\n`);
  console.log('kernel = AcceptWithoutWake, backlog grows | drained = echo executor attached, each accept after the previous completion');
  console.log('(latency of "drained" includes waiting for the previous input\'s run)\n');
  console.log('sessions | naive/s | p50 ms | p99 ms | kernel/s | p50 ms | p99 ms | ratio | drained/s | p50 ms | p99 ms | ratio');
  try {
    for (const n of SESSIONS) {
      const rounds: { base: Result; kern: Result; drained: Result }[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        rounds.push({
          base: await benchBaseline(url.toString(), n),
          kern: await benchKernel(url.toString(), n, false),
          drained: await benchKernel(url.toString(), n, true),
        });
      }
      const base = median(rounds.map((r) => r.base));
      const kern = median(rounds.map((r) => r.kern));
      const drained = median(rounds.map((r) => r.drained));
      const col = (r: Result): string => `${fmt(r.perSec).padStart(8)} | ${fmt(r.p50, 2).padStart(6)} | ${fmt(r.p99, 2).padStart(6)}`;
      console.log(
        `${String(n).padStart(8)} | ${col(base)} | ${col(kern)} | ${(kern.perSec / base.perSec).toFixed(2)}x | ${col(drained)} | ${(drained.perSec / base.perSec).toFixed(2)}x`,
      );
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

void main();
