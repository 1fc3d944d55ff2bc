/**
 * End-to-end harness: runs the REAL server process (`node --import tsx src/server/main.ts`) on a
 * free loopback port with embedded PGlite in a temporary data directory, waits until health
 * reports SERVING, and offers small promise helpers over the generated grpc-js clients.
 *
 * @example
 * ```ts
 * const server = await startServer();
 * const sessions = new SessionServiceClient(server.address, insecure());
 * await call(sessions.registerSession.bind(sessions), { session_id: newId() });
 * await server.stop(); // SIGTERM, resolves with the exit code
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'vitest';
import { decodeErrorDetails, ERROR_DOMAIN, type DecodedErrorDetails } from '../../src/server/errors.js';
import { checkHealth } from '../../src/server/health.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunningServer {
  readonly address: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** stdout lines (pino JSON) and stderr lines, as they arrive. */
  readonly logs: string[];
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; removes the data directory. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Starts the server process and waits for health SERVING (overall). */
export async function startServer(env: Readonly<Record<string, string>> = {}, timeoutMs = 45_000): Promise<RunningServer> {
  // A caller may choose the address (e.g. to advertise it to other replicas); otherwise a free port.
  const address = env.MEERKAT_LISTEN ?? `127.0.0.1:${await freePort()}`;
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const dataDir = mkdtempSync(join(tmpdir(), 'meerkat-e2e-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, MEERKAT_LISTEN: address, MEERKAT_DATA_DIR: join(dataDir, 'data'), ...env };
  delete childEnv.DATABASE_URL; // embedded PGlite in the temp directory
  if (env.DATABASE_URL !== undefined) childEnv.DATABASE_URL = env.DATABASE_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  let done = false;
  void exited.then(() => (done = true));

  const started = Date.now();
  for (;;) {
    if (done) throw new Error(`server exited before it served:\n${logs.join('\n')}`);
    try {
      if ((await checkHealth(address, '', { timeoutMs: 1000 })) === 'SERVING') break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`server did not become SERVING within ${timeoutMs} ms:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    address,
    port,
    child,
    dataDir,
    logs,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const t0 = Date.now();
      if (!done) child.kill(signal);
      const r = await exited;
      rmSync(dataDir, { recursive: true, force: true });
      return { code: r.code, signal: r.signal, ms: r.at - t0 };
    },
  };
}

export const insecure = (): grpc.ChannelCredentials => grpc.credentials.createInsecure();

/** The last overload of a generated client's unary method. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** Calls a unary method; `options.deadline` defaults to 10 s from now. */
export function call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: Partial<grpc.CallOptions> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new grpc.Metadata(), { deadline: Date.now() + 10_000, ...options }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === 'number';
}

/**
 * Expects `p` to fail with `code` and ErrorInfo `reason` (domain meerkat.dev); returns the decoded
 * details for further checks.
 */
export async function expectError(p: Promise<unknown>, code: grpc.status, reason: string): Promise<DecodedErrorDetails> {
  let error: unknown = null;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  if (!isServiceError(error)) throw new Error(`expected a gRPC error ${grpc.status[code]}/${reason}, got ${String(error)}`);
  const details = decodeErrorDetails(error);
  expect({ code: grpc.status[error.code], reason: details?.errorInfo?.reason, message: error.details }).toMatchObject({
    code: grpc.status[code],
    reason,
  });
  expect(details?.errorInfo?.domain).toBe(ERROR_DOMAIN);
  expect(details?.code).toBe(code);
  return details as DecodedErrorDetails;
}
