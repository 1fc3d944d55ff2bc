/**
 * Shared test doubles and helpers for the kernel scenario tests.
 *
 * Executors are registered under fixed names in an {@link ExecutorRegistry}
 * whose factories hand back the *same* instance, so a test can observe the
 * executor it attached (apply / stop counts, contributing inputs per run).
 */
import {
  ExecutorRegistry,
  isKernelError,
  MeerkatMachine,
  runtimeIdOf,
  type ApplyReport,
  type Executor,
  type Input,
  type KernelErrorCode,
  type RunAssignment,
  type RunControl,
} from '../../src/kernel/index.js';

// ---------------------------------------------------------------------------------------------
// Small async utilities

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` until it holds; fails with `message` after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 5;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`waitUntil timed out after ${timeoutMs} ms: ${options.message ?? 'condition not met'}`);
    await sleep(intervalMs);
  }
}

export const TIMED_OUT: unique symbol = Symbol('timed out');

/** The promise's value, or {@link TIMED_OUT} when it has not settled within `ms` (the promise is not cancelled). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((r) => {
    timer = setTimeout(() => r(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Awaits `p` and returns the KernelError code it rejected with (fails if it resolved or threw something else). */
export async function errorCode(p: Promise<unknown> | (() => unknown)): Promise<KernelErrorCode> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (isKernelError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a KernelError, but the call succeeded');
}

// ---------------------------------------------------------------------------------------------
// Executor doubles

export type Responder = (assignment: RunAssignment, control: RunControl, call: number) => ApplyReport | Promise<ApplyReport>;

export const NO_RESULT: ApplyReport = { status: 'completed', result: null };

/** An executor answering every run through `respond`; `stop` is the optional stop hook. */
export function fnExecutor(respond: Responder, stop?: (reason: string) => void | Promise<void>): Executor {
  let calls = 0;
  return {
    apply: (a, c) => {
      calls += 1;
      return Promise.resolve(respond(a, c, calls));
    },
    ...(stop ? { stop } : {}),
  };
}

/** Counts `apply` and stop-hook calls of an inner executor and records every run it was handed. */
export class CountingExecutor implements Executor {
  applies = 0;
  stops = 0;
  readonly runs: RunAssignment[] = [];

  constructor(readonly inner: Executor) {}

  /** The contributing input ids of each run, in run order. */
  get contributors(): string[][] {
    return this.runs.map((r) => r.inputs.map((i) => i.input_id));
  }

  apply(assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    this.applies += 1;
    this.runs.push(assignment);
    return this.inner.apply(assignment, control);
  }

  async stop(reason: string): Promise<void> {
    this.stops += 1;
    await this.inner.stop?.(reason);
  }

  async cancelAfterBoundary(reason: string): Promise<void> {
    await this.inner.cancelAfterBoundary?.(reason);
  }
}

export const counting = (inner: Executor): CountingExecutor => new CountingExecutor(inner);

/** EX-NORESULT: completes without a terminal result. */
export const noResultExecutor = (): CountingExecutor => counting(fnExecutor(() => NO_RESULT));

/** EX-RESULT(t): completes with run text `t`. */
export const resultExecutor = (text: string): CountingExecutor =>
  counting(fnExecutor(() => ({ status: 'completed', result: { text } })));

/** EX-FAIL: every apply throws a generic runtime turn failure. */
export const failingExecutor = (): CountingExecutor =>
  counting(
    fnExecutor(() => {
      throw new Error('runtime turn failed');
    }),
  );

/**
 * EX-GATED: `apply` signals `entered`, then blocks until `release()` opens the
 * gate (for good: later runs pass straight through). Answers `report`.
 */
export class GatedExecutor extends CountingExecutor {
  private readonly gate = deferred();
  private readonly firstEntry = deferred<RunAssignment>();
  private released = false;

  constructor(report: ApplyReport = NO_RESULT) {
    super(fnExecutor(() => report));
  }

  /** Resolves with the first run handed to the executor, once `apply` is entered. */
  get entered(): Promise<RunAssignment> {
    return this.firstEntry.promise;
  }

  release(): void {
    this.released = true;
    this.gate.resolve();
  }

  override async apply(assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    const answer = super.apply(assignment, control);
    this.firstEntry.resolve(assignment);
    if (!this.released) await this.gate.promise;
    return answer;
  }
}

// ---------------------------------------------------------------------------------------------
// Kernels

/** A registry whose names map to the given instances (plus the built-in `echo`). */
export function registryWith(executors: Readonly<Record<string, Executor>>): ExecutorRegistry {
  const registry = new ExecutorRegistry();
  for (const [name, executor] of Object.entries(executors)) registry.register(name, () => executor);
  return registry;
}

/** An in-memory kernel with the given executors and a 1 ms retry back-off. */
export function newKernel(executors: Readonly<Record<string, Executor>> = {}): MeerkatMachine {
  return new MeerkatMachine({ executors: registryWith(executors), retryBackoffMs: 1 });
}

export const rt = runtimeIdOf;

// ---------------------------------------------------------------------------------------------
// Input builders (scenarios.md §1)

/** PROMPT(t) / PROMPT(t, key=k). */
export const prompt = (text: string, key?: string): Input => ({
  durability: 'durable',
  ...(key !== undefined ? { idempotency_key: key } : {}),
  body: { input_type: 'prompt', text },
});

/** STEER(t). */
export const steer = (text: string): Input => ({
  durability: 'durable',
  body: { input_type: 'prompt', text, handling_mode: 'steer' },
});

/** PROGRESS(l) / PROGRESS(l, sk=k): peer ResponseProgress, Ephemeral, request id `req-l`. */
export const progress = (label: string, supersessionKey?: string): Input => ({
  durability: 'ephemeral',
  origin: { type: 'peer', peer_id: 'peer-1' },
  ...(supersessionKey !== undefined ? { supersession_key: supersessionKey } : {}),
  body: { input_type: 'peer', convention: { type: 'response_progress', request_id: `req-${label}`, phase: 'working' }, body: label },
});

/** PEER-TERMINAL: peer ResponseTerminal, status Completed. */
export const peerTerminal = (requestId = 'req-t', handlingMode?: 'queue' | 'steer'): Input => ({
  durability: 'durable',
  origin: { type: 'peer', peer_id: 'peer-1' },
  body: {
    input_type: 'peer',
    convention: { type: 'response_terminal', request_id: requestId, status: 'completed' },
    body: 'peer done',
    ...(handlingMode ? { handling_mode: handlingMode } : {}),
  },
});

/** PEER-MSG(hm?). */
export const peerMessage = (handlingMode?: 'queue' | 'steer'): Input => ({
  durability: 'durable',
  origin: { type: 'peer', peer_id: 'peer-1' },
  body: { input_type: 'peer', convention: { type: 'message' }, body: 'hello peer', ...(handlingMode ? { handling_mode: handlingMode } : {}) },
});

/** CONTINUATION: the "detached background op completed" continuation. */
export const continuation = (): Input => ({
  durability: 'durable',
  origin: { type: 'system' },
  body: { input_type: 'continuation', reason: 'detached background op completed' },
});

/** OPERATION(ev): operation lifecycle input, system origin, durability Derived. */
export const operation = (event: string): Input => ({
  durability: 'derived',
  origin: { type: 'system' },
  body: { input_type: 'operation', operation_id: 'op-1', event },
});

/** An external event (for cross-kind supersession checks). */
export const externalEvent = (payload: string, supersessionKey?: string): Input => ({
  durability: 'durable',
  origin: { type: 'external', source_name: 'webhook' },
  ...(supersessionKey !== undefined ? { supersession_key: supersessionKey } : {}),
  body: { input_type: 'external_event', event_type: 'tick', payload },
});
