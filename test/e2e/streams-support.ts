/**
 * Helpers for the streaming end-to-end tests (streams.test.ts): a recorder over a client stream,
 * the remote executor example as a child process, and polling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { ROOT } from './harness.js';

/** Records a client stream: messages as they arrive, the final status (with trailers) and the error, if any. */
export class StreamRecorder<T> {
  readonly messages: T[] = [];
  /** Resolves when the call ended (status received). */
  readonly done: Promise<{ readonly status: grpc.StatusObject; readonly error: grpc.ServiceError | null }>;
  private readonly waiters: { readonly pred: (m: T) => boolean; readonly resolve: (m: T) => void }[] = [];
  private error: grpc.ServiceError | null = null;

  constructor(readonly call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>) {
    call.on('data', (m: T) => {
      this.messages.push(m);
      for (const w of [...this.waiters]) {
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
    });
    this.done = new Promise((resolve) => {
      call.on('status', (status: grpc.StatusObject) => {
        // 'error' (when any) is emitted before 'status'.
        setImmediate(() => resolve({ status, error: this.error }));
      });
    });
  }

  /** The first message (already received or future) matching `pred`. */
  next(pred: (m: T) => boolean, timeoutMs = 15_000): Promise<T> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }
}

/** The remote executor example (examples/remote-executor.ts) running as a separate process. */
export interface ExecutorProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first stdout line matching `re` (already printed or future). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startRemoteExecutor(address: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): ExecutorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/remote-executor.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, MEERKAT_ADDRESS: address, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(line);
    for (const l of listeners) l();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    lines,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = lines.find((l) => re.test(l));
          if (hit === undefined) return false;
          listeners.delete(listener);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const listener = (): void => void check();
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`executor printed no line matching ${re} within ${timeoutMs} ms:\n${lines.join('\n')}`));
        }, timeoutMs);
        listeners.add(listener);
        check();
      });
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Polls `probe` until it returns true (or throws after `timeoutMs`). */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
