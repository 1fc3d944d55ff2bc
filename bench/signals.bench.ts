/**
 * `npm run bench:signals` — composition-signal end-to-end lag, commit → sidecar applied, and the
 * sustained rate of signals the sidecar applies, on PostgreSQL.
 *
 * One process hosts the kernel (PostgreSQL store, gRPC server on a loopback port) and the mob
 * sidecar (its `mob_` tables on the same database, `MobRuntime` + `SignalConsumer` streaming
 * `StreamSignals` over gRPC). A mob with `--sessions` members (default 16) is spawned and made
 * ready; their kernel sessions are then retired directly in the kernel, over and over: each
 * Retire of a bound session commits one `RuntimeRetired` signal (the first is applied by the mob,
 * the re-emitted ones are dropped by its machine — both go through the full fold: journal event,
 * state snapshot and cursor in one transaction).
 *
 * - lag: t0 = the kernel's in-process commit observer (`kernel.onSignal`, called right after the
 *   commit), t1 = the sidecar's fold committed (`SignalConsumer.onFolded`); p50/p99 over
 *   `--samples` (default 300) signals sent one at a time, and over the load phase;
 * - sustained: `--sessions` concurrent drivers retire as fast as the kernel takes it for
 *   `--seconds` (default 10); signals applied per second by the sidecar over the phase (plus the
 *   drain of what was committed during it).
 *
 * Uses `BENCH_DATABASE_URL` / `TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres)
 * to create a scratch database, dropped at the end. Measures; asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { pino } from 'pino';
import { MeerkatMachine } from '../src/kernel/index.js';
import { createKernelServer } from '../src/server/server.js';
import { createStores } from '../src/store/index.js';
import { KernelLink } from '../sidecar/runtime/kernel-link.js';
import { MobRuntime } from '../sidecar/runtime/mob-runtime.js';
import { SignalConsumer } from '../sidecar/runtime/signal-consumer.js';
import { openMobStore } from '../sidecar/store/mob-store.js';
import { ADMIN_URL, args } from './support.js';

const SECONDS = Number(args.get('seconds') ?? 10);
const SESSIONS = Number(args.get('sessions') ?? 16);
const SAMPLES = Number(args.get('samples') ?? 300);

async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

function quantiles(xs: number[]): { p50: number; p99: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), n: s.length };
}

const ms = (x: number): string => `${x.toFixed(2)} ms`;

async function main(): Promise<void> {
  const dbName = `meerkat_bench_signals_${process.pid}`;
  await admin(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const log = pino({ level: 'silent' });
  const stores = await createStores({ databaseUrl: url.toString() });
  const kernel = new MeerkatMachine({ store: stores.store, blobs: stores.blobs });
  const server = await createKernelServer({ kernel, store: stores.store, listen: '127.0.0.1:0', logger: log });
  const mobStore = await openMobStore({ databaseUrl: url.toString() });
  const link = new KernelLink(server.address);
  const runtime = await MobRuntime.load({ store: mobStore, kernel: link, log, consumer: 'bench' });
  const consumer = new SignalConsumer(runtime, link, log);

  const committedAt = new Map<number, number>();
  const folded = new Map<number, number>();
  kernel.onSignal((s) => committedAt.set(s.sequence, performance.now()));
  const waiters = new Map<number, () => void>();
  consumer.onFolded((s) => {
    folded.set(s.sequence, performance.now());
    waiters.get(s.sequence)?.();
    waiters.delete(s.sequence);
  });
  const foldedOne = (seq: number): Promise<void> => (folded.has(seq) ? Promise.resolve() : new Promise((r) => waiters.set(seq, r)));
  consumer.start();

  try {
    const mob = await runtime.create({
      id: 'bench',
      profiles: { worker: { model: 'm', executor: 'echo', external_addressable: true, runtime_mode: null, peer_description: '', skills: [] } },
    });
    const members: string[] = [];
    for (let i = 0; i < SESSIONS; i++) members.push((await mob.spawn(`w${i}`, 'worker', {})).member.session_id as string);
    await mob.waitReady([], () => undefined, new AbortController().signal);
    const runtimes = members.map((s) => `rt:session:${s}`);

    // Phase 1: one signal at a time.
    const lag: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      let seq = 0;
      const off = kernel.onSignal((s) => (seq = s.sequence));
      await kernel.control.retire(runtimes[i % runtimes.length] as string);
      off();
      await foldedOne(seq);
      lag.push((folded.get(seq) ?? 0) - (committedAt.get(seq) ?? 0));
    }
    const single = quantiles(lag);

    // Phase 2: sustained load.
    const startSeq = Math.max(0, ...committedAt.keys());
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      runtimes.map(async (rt) => {
        while (performance.now() < deadline) await kernel.control.retire(rt);
      }),
    );
    const lastSeq = Math.max(...committedAt.keys());
    await foldedOne(lastSeq);
    const t1 = performance.now();
    const loadLag: number[] = [];
    for (let s = startSeq + 1; s <= lastSeq; s++) {
      const c = committedAt.get(s);
      const f = folded.get(s);
      if (c !== undefined && f !== undefined) loadLag.push(f - c);
    }
    const load = quantiles(loadLag);
    const count = lastSeq - startSeq;
    const counters = consumer.counters;

    console.log(`bench:signals — PostgreSQL ${url.host}, ${SESSIONS} member sessions, kernel + sidecar in one process (gRPC StreamSignals over loopback)`);
    console.log(`  one at a time   lag commit → applied  p50 ${ms(single.p50)}  p99 ${ms(single.p99)}  (${single.n} signals)`);
    console.log(`  under load      lag commit → applied  p50 ${ms(load.p50)}  p99 ${ms(load.p99)}  (${load.n} signals)`);
    console.log(`  sustained       ${(count / ((t1 - t0) / 1000)).toFixed(0)} signals/s applied (${count} signals committed in ${SECONDS} s by ${SESSIONS} drivers, all applied ${((t1 - deadline) / 1000).toFixed(2)} s after the load stopped)`);
    console.log(`  consumer        applied ${counters.applied}, dropped ${counters.dropped}, foreign ${counters.foreign}, duplicates ${counters.duplicates}`);
  } finally {
    await consumer.close();
    await runtime.close();
    link.close();
    await mobStore.close();
    await server.shutdown(5_000);
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
