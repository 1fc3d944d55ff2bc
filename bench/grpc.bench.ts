/**
 * `npm run bench:grpc` — AcceptWithCompletion end to end through the kernel's gRPC server (echo
 * executor, real PostgreSQL), against two same-run baselines on the same machine:
 *
 * - **echo**: a bare grpc-js unary server that returns the request bytes (the transport floor);
 * - **naive**: a grpc-js unary server doing one PostgreSQL transaction (BEGIN, INSERT, COMMIT) per
 *   request (the "one durable write per request" floor).
 *
 * Each session is one client loop doing sequential requests; all loops share one channel per
 * server. The kernel runs as a child process (`node --import tsx src/server/main.ts`, waited for
 * until health reports SERVING); the baselines run in a second child process (this file with
 * `--serve-baselines`), so no server shares the event loop of the clients. Prints throughput,
 * p50/p99 latency and the kernel/echo and kernel/naive ratios. Measures; asserts nothing.
 *
 * Tracing overhead, in the same run: a second kernel child runs with tracing on
 * (bench/traced-server.ts: always-on sampler, gRPC and PostgreSQL instrumentations, batch
 * processor, in-memory span exporter) on its own scratch database; each session count measures
 * it right after the untraced kernel and prints the tracing on/off ratios and the spans exported
 * per request. `--tracing=false` skips it.
 *
 * The databases are scratch databases created from `BENCH_DATABASE_URL` / `TEST_DATABASE_URL`
 * (default postgres://postgres@127.0.0.1:5432/postgres) and dropped at the end.
 *
 * `--rounds=N` (default 3): each session count measures every target in turn, N times, and
 * reports each target's median round (by throughput), so a burst of load elsewhere on the machine
 * skews one round rather than a ratio.
 *
 *   npm run bench:grpc -- --seconds=3 --sessions=1,16,64,256 --tracing=true --rounds=3
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { AcceptWithCompletionRequest, IngressServiceClient } from '../src/gen/meerkat/kernel/v1/ingress.js';
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
const TRACING = args.get('tracing') !== 'false';
const SESSIONS = (args.get('sessions') ?? '1,16,64,256').split(',').map(Number);
const WARMUP_SECONDS = Math.min(1, SECONDS);

// ---------------------------------------------------------------------------------------------
// Raw-buffer services (no generated code, no proto files)

const identity = (b: Buffer): Buffer => b;
const rawMethod = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const ECHO_SERVICE = { echo: rawMethod('/bench.v1.Echo/Echo') } satisfies grpc.ServiceDefinition;
const NAIVE_SERVICE = { insert: rawMethod('/bench.v1.Naive/Insert') } satisfies grpc.ServiceDefinition;

function unaryRaw(client: grpc.Client, method: grpc.MethodDefinition<Buffer, Buffer>, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(), {}, (err, res) => {
      if (err) reject(err);
      else resolve(res ?? Buffer.alloc(0));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Child mode: the two baseline servers

async function serveBaselines(): Promise<void> {
  const url = process.env.BENCH_NAIVE_DATABASE_URL;
  if (!url) throw new Error('BENCH_NAIVE_DATABASE_URL is required');
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.BENCH_NAIVE_POOL ?? 64) });
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_grpc_naive (id uuid PRIMARY KEY, session_id text NOT NULL, payload text NOT NULL, created_at bigint NOT NULL)',
  );

  const echo = new grpc.Server();
  echo.addService(ECHO_SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
  });
  const naive = new grpc.Server();
  naive.addService(NAIVE_SERVICE, {
    insert: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      void (async () => {
        const req = AcceptWithCompletionRequest.decode(call.request);
        const text = req.input?.body?.input_type?.$case === 'prompt' ? req.input.body.input_type.prompt.text : '';
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          await c.query('INSERT INTO bench_grpc_naive (id, session_id, payload, created_at) VALUES ($1, $2, $3, $4)', [
            uuidv7(),
            req.session_id,
            text,
            Date.now(),
          ]);
          await c.query('COMMIT');
        } finally {
          c.release();
        }
      })().then(
        () => cb(null, Buffer.alloc(0)),
        (e: unknown) => cb({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) }),
      );
    },
  });
  const bind = (server: grpc.Server): Promise<number> =>
    new Promise((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
  const ports = { echo: await bind(echo), naive: await bind(naive) };
  process.stdout.write(`READY ${JSON.stringify(ports)}\n`);
  const stop = (): void => {
    echo.forceShutdown();
    naive.forceShutdown();
    void pool.end().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---------------------------------------------------------------------------------------------
// Child processes

async function waitForReadyLine(child: Child, timeoutMs = 30_000): Promise<{ echo: number; naive: number }> {
  const t0 = Date.now();
  for (;;) {
    const m = /READY (\{.*\})/.exec(child.output());
    if (m?.[1]) return JSON.parse(m[1]) as { echo: number; naive: number };
    if (child.proc.exitCode !== null) throw new Error(`the baseline servers exited (${child.proc.exitCode}):\n${child.output()}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`the baseline servers did not start:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement

/** A kernel server's clients. */
interface KernelTarget {
  readonly ingress: IngressServiceClient;
  readonly sessions: SessionServiceClient;
}

interface Targets {
  readonly kernel: KernelTarget;
  /** The kernel with tracing on (bench/traced-server.ts), unless `--tracing=false`. */
  readonly traced: KernelTarget | null;
  readonly echo: grpc.Client;
  readonly naive: grpc.Client;
}

async function benchKernel(k: KernelTarget, n: number, seconds: number): Promise<Result> {
  const ids = Array.from({ length: n }, () => uuidv7());
  for (let i = 0; i < ids.length; i += 64) await Promise.all(ids.slice(i, i + 64).map((id) => ensureEcho(k.sessions, id)));
  const reqs = ids.map(promptRequest);
  return drive(n, seconds, (w) => acceptAndWait(k.ingress, reqs[w] as AcceptWithCompletionRequest));
}

async function benchRaw(client: grpc.Client, method: grpc.MethodDefinition<Buffer, Buffer>, n: number, seconds: number): Promise<Result> {
  const payloads = Array.from({ length: n }, () => Buffer.from(AcceptWithCompletionRequest.encode(promptRequest(uuidv7())).finish()));
  return drive(n, seconds, async (w) => {
    await unaryRaw(client, method, payloads[w] as Buffer);
  });
}

function row(sessions: number | string, label: string, r: Result): string {
  const errs = r.errors > 0 ? `  (${r.errors} errors; first: ${r.firstError})` : '';
  return `${String(sessions).padStart(8)}  ${label.padEnd(34)} ${fmt(r.perSec).padStart(9)} ${fmt(r.p50, 2).padStart(8)} ${fmt(r.p99, 2).padStart(8)}${errs}`;
}

async function main(): Promise<void> {
  const dbName = `meerkat_bench_grpc_${Math.random().toString(36).slice(2, 10)}`;
  const tracedDbName = `${dbName}_traced`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  if (TRACING) await admin.query(`CREATE DATABASE ${tracedDbName}`);
  const urlOf = (name: string): string => {
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const dbUrl = urlOf(dbName);

  const children: Child[] = [];
  const clients: grpc.Client[] = [];
  let tracedChild: Child | null = null;
  let tracedRequests = 0;
  const tracingSummary: string[] = [];
  try {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const kernelChild = startChild(['src/server/main.ts'], {
      DATABASE_URL: dbUrl,
      MEERKAT_LISTEN: address,
      MEERKAT_LOG_LEVEL: process.env.MEERKAT_LOG_LEVEL ?? 'warn',
    });
    children.push(kernelChild);
    const baselineChild = startChild([fileURLToPath(import.meta.url), '--serve-baselines'], { BENCH_NAIVE_DATABASE_URL: dbUrl });
    children.push(baselineChild);
    const tracedAddress = `127.0.0.1:${await freePort()}`;
    if (TRACING) {
      tracedChild = startChild(['bench/traced-server.ts'], {
        DATABASE_URL: urlOf(tracedDbName),
        MEERKAT_LISTEN: tracedAddress,
        MEERKAT_LOG_LEVEL: process.env.MEERKAT_LOG_LEVEL ?? 'warn',
      });
      children.push(tracedChild);
    }
    await waitForServing(address, kernelChild, 60_000);
    if (tracedChild) await waitForServing(tracedAddress, tracedChild, 60_000);
    const ports = await waitForReadyLine(baselineChild);

    const creds = grpc.credentials.createInsecure();
    const kernelAt = (addr: string): KernelTarget => ({ ingress: new IngressServiceClient(addr, creds), sessions: new SessionServiceClient(addr, creds) });
    const t: Targets = {
      kernel: kernelAt(address),
      traced: TRACING ? kernelAt(tracedAddress) : null,
      echo: new grpc.Client(`127.0.0.1:${ports.echo}`, creds),
      naive: new grpc.Client(`127.0.0.1:${ports.naive}`, creds),
    };
    clients.push(t.kernel.ingress, t.kernel.sessions, t.echo, t.naive);
    if (t.traced) clients.push(t.traced.ingress, t.traced.sessions);

    console.log(
      `meerkat-kernel bench:grpc — AcceptWithCompletion end to end (echo executor, PostgreSQL) vs bare grpc-js echo vs naive INSERT+COMMIT per request`,
    );
    console.log(
      `node ${process.version}, ${os.cpus().length} CPUs, ${SECONDS}s per measurement, median of ${ROUNDS} rounds (after a ${WARMUP_SECONDS}s warm-up per target), database ${dbName}; each session is one client loop of sequential requests\n`,
    );

    // Warm-up: JIT, connections, pools.
    const warm = Math.min(16, Math.max(...SESSIONS));
    await benchRaw(t.echo, ECHO_SERVICE.echo, warm, WARMUP_SECONDS);
    await benchRaw(t.naive, NAIVE_SERVICE.insert, warm, WARMUP_SECONDS);
    await benchKernel(t.kernel, warm, WARMUP_SECONDS);
    if (t.traced) tracedRequests += (await benchKernel(t.traced, warm, WARMUP_SECONDS)).count;

    console.log(`${'sessions'.padStart(8)}  ${'target'.padEnd(34)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    const summary: string[] = [];
    for (const n of SESSIONS) {
      const rounds: { echo: Result; naive: Result; kern: Result; traced: Result | null }[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const echo = await benchRaw(t.echo, ECHO_SERVICE.echo, n, SECONDS);
        const naive = await benchRaw(t.naive, NAIVE_SERVICE.insert, n, SECONDS);
        const kern = await benchKernel(t.kernel, n, SECONDS);
        const traced = t.traced ? await benchKernel(t.traced, n, SECONDS) : null;
        if (traced) tracedRequests += traced.count;
        rounds.push({ echo, naive, kern, traced });
      }
      const echo = median(rounds.map((r) => r.echo));
      console.log(row(n, 'echo (bare grpc-js unary)', echo));
      const naive = median(rounds.map((r) => r.naive));
      console.log(row(n, 'naive (gRPC + INSERT/COMMIT)', naive));
      const kern = median(rounds.map((r) => r.kern));
      console.log(row(n, 'kernel AcceptWithCompletion', kern));
      const line =
        `${String(n).padStart(8)}  kernel/echo ${ratio(kern.perSec, echo.perSec).padStart(6)} throughput, ${ratio(kern.p50, echo.p50).padStart(7)} p50   ` +
        `kernel/naive ${ratio(kern.perSec, naive.perSec).padStart(6)} throughput, ${ratio(kern.p50, naive.p50).padStart(6)} p50`;
      console.log(line);
      summary.push(line);
      const tracedRounds = rounds.flatMap((r) => (r.traced ? [r.traced] : []));
      if (tracedRounds.length > 0) {
        const traced = median(tracedRounds);
        console.log(row(n, 'kernel, tracing on (in-memory)', traced));
        const overhead =
          `${String(n).padStart(8)}  tracing on/off ${ratio(traced.perSec, kern.perSec).padStart(6)} throughput, ` +
          `${ratio(traced.p50, kern.p50).padStart(6)} p50, ${ratio(traced.p99, kern.p99).padStart(6)} p99`;
        console.log(overhead);
        tracingSummary.push(overhead);
      }
      console.log('');
    }
    console.log('ratios (throughput > 1x: the kernel is faster; p50 > 1x: the kernel is slower)');
    for (const line of summary) console.log(line);
    if (tracingSummary.length > 0) {
      console.log('tracing overhead (always-on sampler, in-memory exporter; throughput < 1x and p50 > 1x: tracing costs that much)');
      for (const line of tracingSummary) console.log(line);
    }
  } finally {
    for (const c of clients) c.close();
    for (const c of children) await stopChild(c, 10_000);
    if (tracedChild) {
      const spans = Number(/SPANS (\d+)/.exec(tracedChild.output())?.[1] ?? NaN);
      console.log(
        Number.isFinite(spans)
          ? `tracing on: ${fmt(spans)} spans exported for ${fmt(tracedRequests)} requests (${fmt(spans / Math.max(1, tracedRequests), 1)} per request)`
          : 'tracing on: the traced server did not report its span count',
      );
    }
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    if (TRACING) await admin.query(`DROP DATABASE IF EXISTS ${tracedDbName} WITH (FORCE)`);
    await admin.end();
  }
}

if (args.has('serve-baselines')) {
  serveBaselines().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
