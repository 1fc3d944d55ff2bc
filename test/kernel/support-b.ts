/**
 * Test doubles and helpers for the kernel scenario suites (runs, lifecycle,
 * ops-drain, bad-input, visibility, checklist). Every double counts its
 * `apply` calls and stop-hook calls and records the contributors it saw.
 */
import { expect } from 'vitest';
import {
  ExecutorRegistry,
  EchoExecutor,
  KernelError,
  MeerkatMachine,
  ScriptedExecutor,
  newId,
  runtimeIdOf,
  type ApplyReport,
  type Executor,
  type Input,
  type KernelErrorCode,
  type MeerkatMachineOptions,
  type RunAssignment,
  type RunControl,
} from '../../src/kernel/index.js';
import type { MachineState } from '../../src/machine/index.js';

import { deferred, type Deferred } from './support.js';

export { deferred, type Deferred };

/** What a double answers for a run: a result text, or `null` for CompletedWithoutResult. */
export type ResultSpec = string | null;

function completed(result: ResultSpec, assignment: RunAssignment): ApplyReport {
  return { status: 'completed', result: result === null ? null : { text: result }, message_count: assignment.inputs.length };
}

/** Base of every double: counts applies and stop calls, records each run's contributors. */
abstract class RecordingExecutor implements Executor {
  applyCount = 0;
  stopCount = 0;
  cancelAfterBoundaryCount = 0;
  readonly runs: RunAssignment[] = [];

  /** Contributing input ids of every run, concatenated in run order. */
  get contributors(): string[] {
    return this.runs.flatMap((r) => r.inputs.map((i) => i.input_id));
  }

  apply(assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    this.applyCount += 1;
    this.runs.push(assignment);
    return this.run(assignment, control);
  }

  protected abstract run(assignment: RunAssignment, control: RunControl): Promise<ApplyReport>;

  cancelAfterBoundary(_reason: string): void {
    this.cancelAfterBoundaryCount += 1;
  }

  stop(_reason: string): void | Promise<void> {
    this.stopCount += 1;
  }
}

/** `EX-NORESULT` / `EX-RESULT(t)`: completes at once, counting. */
export class CountingExecutor extends RecordingExecutor {
  constructor(private readonly result: ResultSpec = null) {
    super();
  }

  protected async run(assignment: RunAssignment): Promise<ApplyReport> {
    return completed(this.result, assignment);
  }
}

/**
 * `EX-GATED`: every `apply` announces itself, then blocks until released
 * (`release()` opens the gate for the current and every later run). An
 * interrupt (abort) ends the blocked run as cancelled.
 */
export class GatedExecutor extends RecordingExecutor {
  private gate = deferred();
  private opened = false;
  private readonly enteredWaiters: { n: number; d: Deferred<void> }[] = [];

  constructor(private readonly result: ResultSpec = null) {
    super();
  }

  /** Resolves once `apply` has been entered at least `n` times. */
  entered(n = 1): Promise<void> {
    if (this.applyCount >= n) return Promise.resolve();
    const d = deferred();
    this.enteredWaiters.push({ n, d });
    return d.promise;
  }

  /** Opens the gate for every blocked and future run. */
  release(): void {
    this.opened = true;
    this.gate.resolve();
  }

  /** Lets the currently blocked runs finish, but gates later ones again. */
  releaseOnce(): void {
    const g = this.gate;
    this.gate = deferred();
    g.resolve();
  }

  protected async run(assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    for (const w of this.enteredWaiters.filter((x) => this.applyCount >= x.n)) w.d.resolve();
    if (!this.opened) {
      const aborted = new Promise<'aborted'>((resolve) => {
        if (control.signal.aborted) resolve('aborted');
        control.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      const r = await Promise.race([this.gate.promise.then(() => 'released' as const), aborted]);
      if (r === 'aborted') return { status: 'cancelled' };
    }
    return completed(this.result, assignment);
  }
}

/** `EX-STOPBLOCK`: the stop hook blocks until `releaseStop()`. */
export class StopBlockExecutor extends RecordingExecutor {
  private readonly stopGate = deferred();
  readonly stopEntered = deferred();

  protected async run(assignment: RunAssignment): Promise<ApplyReport> {
    return completed(null, assignment);
  }

  override stop(_reason: string): Promise<void> {
    this.stopCount += 1;
    this.stopEntered.resolve();
    return this.stopGate.promise;
  }

  releaseStop(): void {
    this.stopGate.resolve();
  }
}

/** `EX-STOPCRASH`: the stop hook throws (crashes the stop path of the loop). */
export class StopCrashExecutor extends RecordingExecutor {
  protected async run(assignment: RunAssignment): Promise<ApplyReport> {
    return completed(null, assignment);
  }

  override stop(_reason: string): Promise<void> {
    this.stopCount += 1;
    return Promise.reject(new Error('stop hook crashed'));
  }
}

/** `EX-FAIL`: fails the first `failures` applies (default: every apply), then completes. */
export class FailingExecutor extends RecordingExecutor {
  constructor(
    private readonly failures = Number.POSITIVE_INFINITY,
    private readonly mode: 'report' | 'throw' = 'report',
    private readonly result: ResultSpec = 'recovered',
  ) {
    super();
  }

  protected async run(assignment: RunAssignment): Promise<ApplyReport> {
    if (this.applyCount <= this.failures) {
      if (this.mode === 'throw') throw new Error(`synthetic apply failure ${this.applyCount}`);
      return { status: 'failed', error: `synthetic apply failure ${this.applyCount}` };
    }
    return completed(this.result, assignment);
  }
}

/** `EX-CANCEL`: every apply reports cancelled. */
export class CancellingExecutor extends RecordingExecutor {
  protected async run(): Promise<ApplyReport> {
    return { status: 'cancelled' };
  }
}

/** A kernel whose registry holds `echo`, `scripted` and the given doubles (one shared instance each). */
export function kernelWith(
  doubles: Readonly<Record<string, Executor>> = {},
  options: Omit<MeerkatMachineOptions, 'executors'> = {},
): MeerkatMachine {
  const executors = new ExecutorRegistry()
    .register('echo', () => new EchoExecutor())
    .register('scripted', () => new ScriptedExecutor());
  for (const [name, ex] of Object.entries(doubles)) executors.register(name, () => ex);
  return new MeerkatMachine({ retryBackoffMs: 1, ...options, executors });
}

/** Runs `body` with a fresh kernel and always closes it. */
export async function withKernel<T>(
  doubles: Readonly<Record<string, Executor>>,
  body: (k: MeerkatMachine) => Promise<T>,
  options: Omit<MeerkatMachineOptions, 'executors'> = {},
): Promise<T> {
  const k = kernelWith(doubles, options);
  try {
    return await body(k);
  } finally {
    await k.close();
  }
}

/** Registers a fresh session and returns `[sessionId, runtimeId]`. */
export async function registered(k: MeerkatMachine): Promise<[string, string]> {
  const s = newId();
  await k.session.registerSession(s);
  return [s, runtimeIdOf(s)];
}

/** Attaches the named executor to a fresh session and returns `[sessionId, runtimeId]`. */
export async function attached(k: MeerkatMachine, executor: string): Promise<[string, string]> {
  const s = newId();
  await k.session.ensureSessionWithExecutor(s, executor);
  return [s, runtimeIdOf(s)];
}

export const prompt = (text: string, extra: Partial<Omit<Input, 'body'>> = {}): Input => ({
  ...extra,
  body: { input_type: 'prompt', text },
});

export const steer = (text: string): Input => ({ body: { input_type: 'prompt', text, handling_mode: 'steer' } });

/** `PROGRESS(l)`: peer ResponseProgress, ephemeral, request id `req-l`. */
export const progress = (label: string, supersessionKey: string | null = null): Input => ({
  durability: 'ephemeral',
  origin: { type: 'peer', peer_id: 'peer-1' },
  supersession_key: supersessionKey,
  body: { input_type: 'peer', convention: { type: 'response_progress', request_id: `req-${label}`, phase: 'working' }, body: label },
});

/** `PEER-TERMINAL`: peer ResponseTerminal, status Completed. */
export const peerTerminal = (label = 'done'): Input => ({
  origin: { type: 'peer', peer_id: 'peer-1' },
  body: { input_type: 'peer', convention: { type: 'response_terminal', request_id: `req-${label}`, status: 'completed' }, body: label },
});

/** `PEER-MSG(hm?)`. */
export const peerMessage = (text: string, handling: 'queue' | 'steer' | null = null): Input => ({
  origin: { type: 'peer', peer_id: 'peer-1' },
  body: { input_type: 'peer', convention: { type: 'message' }, body: text, handling_mode: handling },
});

/** Polls `predicate` (each macrotask) until it holds; fails after a generous safety bound. */
export async function waitFor(predicate: () => boolean, what = 'condition', maxTicks = 2000): Promise<void> {
  for (let i = 0; i < maxTicks; i += 1) {
    if (predicate()) return;
    await new Promise<void>((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Lets pending microtasks and a few macrotasks run (for "nothing happened" checks). */
export async function settle(ticks = 10): Promise<void> {
  for (let i = 0; i < ticks; i += 1) await new Promise<void>((r) => setImmediate(r));
}

/** Resolves with the promise's value, or `'pending'` if it has not settled after `ticks`. */
export async function peek<T>(p: Promise<T>, ticks = 10): Promise<T | 'pending'> {
  let done = false;
  let value!: T;
  void p.then((v) => {
    done = true;
    value = v;
  });
  await settle(ticks);
  return done ? value : 'pending';
}

/** Awaits `fn` and returns the KernelError it throws (fails the test if it does not throw one). */
export async function kernelError(fn: () => unknown): Promise<KernelError> {
  let thrown: unknown = null;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a KernelError').toBeInstanceOf(KernelError);
  return thrown as KernelError;
}

/** Asserts `fn` throws a KernelError with `code` whose message matches every `mentions`. */
export async function expectKernelError(
  fn: () => unknown,
  code: KernelErrorCode,
  ...mentions: (string | RegExp)[]
): Promise<KernelError> {
  const e = await kernelError(fn);
  expect(e.code, e.message).toBe(code);
  for (const m of mentions) expect(e.message).toMatch(m);
  return e;
}

/** The session's machine state (through the kernel internals). */
export function machineState(k: MeerkatMachine, sessionId: string): MachineState {
  return k.core.session(sessionId).state;
}

/** A deep, detached copy of the session's machine state for before/after comparisons. */
export function stateSnapshot(k: MeerkatMachine, sessionId: string): MachineState {
  return structuredClone(machineState(k, sessionId));
}
