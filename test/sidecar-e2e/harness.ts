/**
 * Harness of the sidecar end-to-end tests: runs the REAL kernel process (`src/server/main.ts`) and
 * the REAL sidecar process (`sidecar/main.ts`) on loopback ports, each with embedded PGlite in a
 * temporary directory (or `DATABASE_URL` when given), and waits for health SERVING. Unlike
 * `test/e2e/harness.ts` a process can be killed (SIGKILL) and started again on the same port and
 * data directory, for the restart tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MobServiceClient, type MobDefinition } from '../../src/gen/meerkat/mob/v1/mob.js';
import { checkHealth } from '../../src/server/health.js';
import { freePort, ROOT } from '../e2e/harness.js';

export { call, expectError, insecure } from '../e2e/harness.js';

export interface ProcessSpec {
  readonly script: 'src/server/main.ts' | 'sidecar/main.ts';
  readonly port: number;
  readonly env: Readonly<Record<string, string>>;
}

/** A (re)startable server process on a fixed port. */
export class ServerProcess {
  child: ChildProcess | null = null;
  readonly logs: string[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly spec: ProcessSpec) {}

  get address(): string {
    return `127.0.0.1:${this.spec.port}`;
  }

  /** Starts the process and waits until health reports SERVING. */
  async start(timeoutMs = 45_000): Promise<void> {
    this.launch();
    await this.untilServing(timeoutMs);
  }

  /** Starts the process without waiting for it to serve. */
  launch(): void {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.spec.env };
    if (this.spec.env.DATABASE_URL === undefined) delete env.DATABASE_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', this.spec.script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.logs.push(line);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Waits until health reports SERVING (fails when the process exits first). */
  async untilServing(timeoutMs = 45_000): Promise<void> {
    const child = this.child;
    if (child === null) throw new Error(`${this.spec.script} is not running`);
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.spec.script} exited before it served:\n${this.logs.join('\n')}`);
      try {
        if ((await checkHealth(this.address, '', { timeoutMs: 1000 })) === 'SERVING') return;
      } catch {
        // not listening yet
      }
      if (Date.now() - started > timeoutMs) {
        child.kill('SIGKILL');
        throw new Error(`${this.spec.script} did not serve within ${timeoutMs} ms:\n${this.logs.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
    this.child = null;
  }
}

export interface Cluster {
  readonly kernel: ServerProcess;
  readonly sidecar: ServerProcess;
  readonly mobs: MobServiceClient;
  /** Stops both processes and removes their data directories. */
  close(): Promise<void>;
}

/** Starts a kernel and a sidecar wired to it (each on PGlite in its own temporary directory). */
export async function startCluster(sidecarEnv: Readonly<Record<string, string>> = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'meerkat-sidecar-e2e-'));
  const kernelPort = await freePort();
  const sidecarPort = await freePort();
  const kernel = new ServerProcess({
    script: 'src/server/main.ts',
    port: kernelPort,
    env: { MEERKAT_LISTEN: `127.0.0.1:${kernelPort}`, MEERKAT_DATA_DIR: join(dir, 'kernel'), MEERKAT_LOG_LEVEL: 'warn' },
  });
  const sidecar = new ServerProcess({
    script: 'sidecar/main.ts',
    port: sidecarPort,
    env: {
      MEERKAT_KERNEL_ADDR: kernel.address,
      MEERKAT_SIDECAR_HOST: '127.0.0.1',
      MEERKAT_SIDECAR_PORT: String(sidecarPort),
      MEERKAT_SIDECAR_DATA_DIR: join(dir, 'sidecar'),
      MEERKAT_LOG_LEVEL: 'info',
      ...sidecarEnv,
    },
  });
  await Promise.all([kernel.start(), sidecar.start()]);
  const mobs = new MobServiceClient(sidecar.address, grpc.credentials.createInsecure());
  return {
    kernel,
    sidecar,
    mobs,
    async close() {
      mobs.close();
      await Promise.all([sidecar.stop(), kernel.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small definition: `lead` (orchestrator) and `worker` profiles on the echo executor. */
export function teamDefinition(id: string, over: Partial<MobDefinition> = {}): MobDefinition {
  return {
    id,
    profiles: {
      lead: { model: 'model-1', executor: 'echo', external_addressable: true, runtime_mode: 0, peer_description: 'lead', skills: [], tools: undefined },
      worker: { model: 'model-1', executor: 'echo', external_addressable: true, runtime_mode: 0, peer_description: 'worker', skills: [], tools: undefined },
    },
    wiring: { auto_wire_orchestrator: false, role_wiring: [] },
    orchestrator: undefined,
    ...over,
  };
}

/** Reads a server stream to its end (or until `until` says stop); rejects on a non-OK status. */
export function collect<T>(stream: grpc.ClientReadableStream<T>, until?: (m: T) => boolean): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    let stopped = false;
    stream.on('data', (m: T) => {
      out.push(m);
      if (until?.(m) === true && !stopped) {
        stopped = true;
        stream.cancel();
        resolve(out);
      }
    });
    stream.on('error', (e: grpc.ServiceError) => {
      if (stopped && e.code === grpc.status.CANCELLED) return;
      reject(e);
    });
    stream.on('end', () => {
      if (!stopped) resolve(out);
    });
  });
}
