/**
 * What the process-based benchmarks (`bench:grpc`, `bench:replicas`) share: command-line flags,
 * the scratch database's admin URL, starting and stopping server processes, the closed-loop driver
 * and its result, and the AcceptWithCompletion calls they measure. Measures; asserts nothing.
 *
 * @example
 * ```ts
 * const child = startChild(['src/server/main.ts'], { MEERKAT_LISTEN: `127.0.0.1:${port}` });
 * await waitForServing(`127.0.0.1:${port}`, child);
 * const r = await drive(64, 3, (w) => acceptAndWait(ingress, promptRequest(ids[w])));
 * await stopChild(child, 10_000);
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { AcceptWithCompletionRequest, AcceptWithCompletionResponse, IngressServiceClient } from '../src/gen/meerkat/kernel/v1/ingress.js';
import type { SessionServiceClient } from '../src/gen/meerkat/kernel/v1/session.js';
import { Durability, HandlingMode } from '../src/gen/meerkat/kernel/v1/types.js';
import { checkHealth } from '../src/server/health.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** `--name=value` flags of this process (`--flag` alone reads `'true'`). */
export const args: ReadonlyMap<string, string> = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? 'true'] as const;
  }),
);

/** Where scratch databases are created and dropped. */
export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// ---------------------------------------------------------------------------------------------
// Child processes

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  srv.close();
  await once(srv, 'close');
  return port;
}

export interface Child {
  readonly proc: ChildProcess;
  /** The last 20 000 characters of its stdout and stderr. */
  readonly output: () => string;
}

/** `node --import tsx …argv` in the repository root, with `env` added to this process's. */
export function startChild(argv: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...argv], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, output: () => out };
}

/** SIGTERM, then SIGKILL if it has not exited after `killAfterMs`. */
export async function stopChild(child: Child, killAfterMs: number): Promise<void> {
  const p = child.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}

/** Waits until the kernel server at `address` reports SERVING; fails if it exits or takes too long. */
export async function waitForServing(address: string, child: Child, timeoutMs: number): Promise<void> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const t0 = Date.now();
  try {
    for (;;) {
      if (child.proc.exitCode !== null) throw new Error(`the kernel server exited (${child.proc.exitCode}):\n${child.output()}`);
      try {
        if ((await checkHealth(address, '', { timeoutMs: 1000, client })) === 'SERVING') return;
      } catch {
        // not listening yet
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`the kernel server at ${address} did not report SERVING within ${timeoutMs} ms:\n${child.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement

export interface Result {
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly count: number;
  readonly errors: number;
  readonly firstError: string | null;
}

/** `concurrency` closed loops calling `op` for `seconds`; failed calls are counted, not timed. */
export async function drive(concurrency: number, seconds: number, op: (worker: number) => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < deadline) {
        const s = performance.now();
        try {
          await op(w);
          latencies.push(performance.now() - s);
        } catch (e) {
          errors += 1;
          firstError ??= e instanceof Error ? e.message : String(e);
          if (errors > 1000) throw new Error(`too many errors; first: ${firstError}`, { cause: e });
        }
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSec: latencies.length / (elapsedMs / 1000), p50: at(0.5), p99: at(0.99), count: latencies.length, errors, firstError };
}

/** The round with the median throughput. */
export function median(results: readonly Result[]): Result {
  const sorted = [...results].sort((a, b) => a.perSec - b.perSec);
  return sorted[Math.floor(sorted.length / 2)] as Result;
}

export const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
export const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

// ---------------------------------------------------------------------------------------------
// Calls

export function promptRequest(sessionId: string): AcceptWithCompletionRequest {
  return {
    session_id: sessionId,
    input: {
      durability: Durability.UNSPECIFIED,
      body: { input_type: { $case: 'prompt', prompt: { text: 'ping', handling_mode: HandlingMode.UNSPECIFIED } } },
    },
  };
}

/** Call options with a deadline `deadlineMs` from now, or none. */
const within = (deadlineMs: number | undefined): Partial<grpc.CallOptions> => (deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs });

/** One AcceptWithCompletion call, resolved when its completion arrives (and the stream ends OK). */
export function acceptAndWait(client: IngressServiceClient, req: AcceptWithCompletionRequest, deadlineMs?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.acceptWithCompletion(req, within(deadlineMs));
    let completed = false;
    call.on('data', (m: AcceptWithCompletionResponse) => {
      if (m.event?.$case === 'completion') {
        completed = true;
        const k = m.event.completion.outcome?.kind?.$case;
        if (k !== 'completed') reject(new Error(`completion ${k ?? 'without outcome'}`));
      }
    });
    call.on('error', reject);
    call.on('end', () => (completed ? resolve() : reject(new Error('stream ended without a completion'))));
  });
}

export function ensureEcho(client: SessionServiceClient, sessionId: string, deadlineMs?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.ensureSessionWithExecutor({ session_id: sessionId, executor: 'echo' }, new grpc.Metadata(), within(deadlineMs), (err) =>
      err ? reject(err) : resolve(),
    );
  });
}
