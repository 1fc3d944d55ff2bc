/**
 * The runtime loop of one attached session (commands.md §1.5, persistence.md §5):
 * it waits for a wake or an effect, drains the queue one batch (run) at a
 * time, hands each run to the executor outside every lock, and reports the
 * outcome back to the kernel, which commits it through the reducer.
 *
 * Effects have priority over wakes: a stop effect ends the loop after the
 * executor's stop hook and the stop terminalisation.
 */
import type { Clock } from './clock.js';
import type { ApplyReport, Executor, RunAssignment, RunControl } from './executor.js';
import type { SessionRuntime } from './session.js';
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { KernelObserver } from './observer.js';
import {
  ATTR,
  endWithError,
  kernelTracer,
  linksFromTraceContexts,
  LOOP_CONTEXT,
  recordQueueWaits,
  type QueuedInput,
} from '../telemetry/kernel-tracing.js';

export type LoopEffect =
  | { readonly kind: 'CancelAfterBoundary'; readonly reason: string }
  | { readonly kind: 'StopRuntimeExecutor'; readonly reason: string };

/** The kernel side of the loop: each call runs under the session's mutation gate. */
export interface LoopHost {
  /** The kernel's options; the loop reports each run's end to `observer` (metrics). */
  readonly options: { readonly observer?: KernelObserver };
  /** Selects and stages the next batch; `null` when there is nothing to run. */
  beginRun(session: SessionRuntime): Promise<RunAssignment | null>;
  /** Commits a run's outcome. Returns a back-off in ms when inputs were re-queued for retry. */
  finishRun(session: SessionRuntime, assignment: RunAssignment, report: ApplyReport): Promise<{ retryAfterMs: number | null }>;
  /** Canonical stop terminalisation after the executor's stop hook returned. */
  terminalizeStop(session: SessionRuntime, reason: string): Promise<void>;
  /** The loop died unexpectedly; resolve what it owned. */
  loopFailed(session: SessionRuntime, error: unknown): Promise<void>;
}

interface CurrentRun {
  readonly runId: string;
  readonly abort: AbortController;
  cancelAfterBoundary: boolean;
}

export class RuntimeLoop {
  private wakePending = false;
  private readonly effects: LoopEffect[] = [];
  private notify: (() => void) | null = null;
  private closing = false;
  private running = true;
  private current: CurrentRun | null = null;
  /** Graceful shutdown ({@link finishAndStop}): runs that did not reach a boundary are left for recovery. */
  private shuttingDown = false;
  /** {@link leaveForRecovery}: the run in flight is aborted and not committed. */
  private leaving = false;
  /** Runs an admission already staged in its own transaction (see `runPrepared`), oldest first. */
  private readonly prepared: RunAssignment[] = [];
  /** Resolves when the loop has exited. */
  readonly done: Promise<void>;
  /** Number of `apply` calls made (diagnostics). */
  applies = 0;

  constructor(
    readonly session: SessionRuntime,
    readonly executor: Executor,
    private readonly host: LoopHost,
    private readonly clock: Clock,
  ) {
    // The loop outlives the command that attached it: run it detached from that command's trace.
    this.done = context.with(LOOP_CONTEXT, () => this.run());
  }

  /** True while the loop can still take work. */
  get live(): boolean {
    return this.running && !this.closing;
  }

  /** The run currently handed to the executor, if any. */
  get currentRunId(): string | null {
    return this.current?.runId ?? null;
  }

  /** "There may be queued work": coalesces with any pending wake. */
  /**
   * Whether an admission may stage a run itself (in the transaction that accepts the input) and
   * hand it over with {@link runPrepared}: the loop is live and holds no handed-over run yet.
   * The caller checks under the session gate that the machine has no run in flight.
   */
  get acceptsPreparedRun(): boolean {
    return this.live && this.prepared.length === 0;
  }

  /**
   * Executes a run whose staging was committed by someone else (an admission that found the
   * session idle): one transaction fewer per input than waking the loop to stage it. The run
   * goes through the same apply → boundary-commit path as one the loop staged itself; if the
   * loop closes before starting it, it is committed as cancelled (its inputs are re-queued by the
   * machine's cancel path or abandoned per policy), exactly as an aborted run.
   */
  runPrepared(assignment: RunAssignment): void {
    this.prepared.push(assignment);
    this.wake();
  }

  wake(): void {
    this.wakePending = true;
    this.signal();
  }

  /** Posts an effect; effects are handled before wakes. */
  post(effect: LoopEffect): void {
    if (effect.kind === 'CancelAfterBoundary' && this.current) this.current.cancelAfterBoundary = true;
    if (effect.kind === 'StopRuntimeExecutor') this.current?.abort.abort();
    this.effects.push(effect);
    this.signal();
  }

  /** Hard-cancels the current run if it is `runId` (never a newer run). */
  interrupt(runId: string | null): boolean {
    if (!this.current || (runId !== null && this.current.runId !== runId)) return false;
    this.current.abort.abort();
    return true;
  }

  /** Ends the loop without stop terminalisation (unregister / shutdown). */
  close(): Promise<void> {
    this.closing = true;
    this.current?.abort.abort();
    this.signal();
    return this.done;
  }

  /**
   * Graceful shutdown, first step: start no new run (a handed-over one included) and let the run in
   * flight go on to its boundary commit, then exit. A run that ends cancelled meanwhile (e.g. its
   * executor went away with the server) is not committed: its inputs stay staged in the store and
   * the session's next owner re-queues them on recovery, as after a crash — a drain never abandons
   * an input. Resolves when the loop has exited.
   */
  finishAndStop(): Promise<void> {
    this.shuttingDown = true;
    this.closing = true;
    this.signal();
    return this.done;
  }

  /**
   * Graceful shutdown, last step (the grace period is running out): abort the run in flight and
   * exit without committing it; its staged inputs are left for the next owner's recovery, which
   * re-queues them. Resolves when the loop has exited.
   */
  leaveForRecovery(): Promise<void> {
    this.shuttingDown = true;
    this.leaving = true;
    this.closing = true;
    this.current?.abort.abort();
    this.signal();
    return this.done;
  }

  private signal(): void {
    const n = this.notify;
    this.notify = null;
    n?.();
  }

  private waitForSignal(timeoutMs: number | null): Promise<void> {
    if (this.closing || this.effects.length > 0 || this.wakePending) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      this.notify = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== null) {
        timer = setTimeout(() => {
          this.notify = null;
          resolve();
        }, timeoutMs);
      }
    });
  }

  private async run(): Promise<void> {
    // Let the attaching command publish the attachment before any work starts.
    await Promise.resolve();
    try {
      while (!this.closing) {
        await this.waitForSignal(null);
        if (this.closing) break;
        if (await this.drainEffects()) return;
        if (this.wakePending) {
          this.wakePending = false;
          if (await this.processQueue()) return;
        }
      }
    } catch (e) {
      this.running = false;
      await this.host.loopFailed(this.session, e);
    } finally {
      this.running = false;
      await this.cancelPrepared();
    }
  }

  /** Commits every handed-over run the loop never started as cancelled (the loop is exiting). */
  private async cancelPrepared(): Promise<void> {
    // Shutting down: the handed-over runs stay staged in the store for the next owner's recovery.
    if (this.shuttingDown) {
      this.prepared.length = 0;
      return;
    }
    for (let assignment = this.prepared.shift(); assignment; assignment = this.prepared.shift()) {
      try {
        await this.host.finishRun(this.session, assignment, { status: 'cancelled' });
      } catch {
        // The session is being torn down (or its store failed and it is reload-required): recovery re-queues the staged inputs.
      }
    }
  }

  /** Handles queued effects; returns true when the loop must exit (stop). */
  private async drainEffects(): Promise<boolean> {
    while (this.effects.length > 0 && !this.closing) {
      const effect = this.effects.shift() as LoopEffect;
      if (effect.kind === 'StopRuntimeExecutor') {
        try {
          await this.executor.stop?.(effect.reason);
        } finally {
          await this.host.terminalizeStop(this.session, effect.reason);
          this.running = false;
        }
        return true;
      }
      // CancelAfterBoundary with no run in flight: the executor was told directly; nothing to do here.
    }
    return false;
  }

  /** The run's inputs with their admission context and how long they waited (for `meerkat.queue_wait`). */
  private queuedInputs(assignment: RunAssignment): QueuedInput[] {
    const now = this.clock.now();
    return assignment.inputs.map((i) => {
      const row = this.session.ledger.get(i.input_id)?.row;
      return { inputId: i.input_id, traceContext: row?.trace_context, waitedMs: row ? now - row.created_at : 0, attempt: i.attempt };
    });
  }

  /** Runs batches until the queue is empty; returns true when the loop must exit. */
  private async processQueue(): Promise<boolean> {
    for (;;) {
      if (this.closing) return true;
      if (await this.drainEffects()) return true;
      const assignment = this.prepared.shift() ?? (await this.host.beginRun(this.session)) ?? this.prepared.shift();
      if (!assignment) return false;
      const started = performance.now();
      const runSpan = kernelTracer.startSpan('meerkat.run', {
        kind: SpanKind.INTERNAL,
        links: linksFromTraceContexts(assignment.inputs.map((i) => this.session.ledger.get(i.input_id)?.row.trace_context)),
        attributes: {
          [ATTR.sessionId]: assignment.session_id,
          [ATTR.runtimeId]: assignment.runtime_id,
          [ATTR.runId]: assignment.run_id,
          [ATTR.inputCount]: assignment.inputs.length,
        },
      });
      if (runSpan.isRecording()) recordQueueWaits(runSpan, assignment.run_id, this.queuedInputs(assignment), Date.now());
      const runCtx = trace.setSpan(context.active(), runSpan);
      const abort = new AbortController();
      const current: CurrentRun = { runId: assignment.run_id, abort, cancelAfterBoundary: false };
      this.current = current;
      const control: RunControl = {
        signal: abort.signal,
        cancelAfterBoundaryRequested: () => current.cancelAfterBoundary,
      };
      let report: ApplyReport;
      const applySpan = kernelTracer.startSpan('meerkat.executor.apply', undefined, runCtx);
      try {
        this.applies += 1;
        report = await context.with(trace.setSpan(runCtx, applySpan), () => this.executor.apply(assignment, control));
        if (abort.signal.aborted && report.status !== 'completed' && report.status !== 'callback_pending') {
          report = { status: 'cancelled' };
        }
      } catch (e) {
        report = abort.signal.aborted ? { status: 'cancelled' } : { status: 'failed', error: e instanceof Error ? e.message : String(e) };
      } finally {
        this.current = null;
      }
      if (applySpan.isRecording()) applySpan.setAttribute(ATTR.reportStatus, report.status);
      applySpan.end();
      if (this.leaving || (this.shuttingDown && report.status === 'cancelled')) {
        // Shutdown before the run reached its boundary: commit nothing; recovery re-queues its inputs.
        if (runSpan.isRecording()) runSpan.setAttribute(ATTR.reportStatus, 'left_for_recovery');
        runSpan.end();
        return true;
      }
      const commitSpan = kernelTracer.startSpan('meerkat.boundary_commit', undefined, runCtx);
      let retryAfterMs: number | null;
      try {
        ({ retryAfterMs } = await context.with(trace.setSpan(runCtx, commitSpan), () =>
          this.host.finishRun(this.session, assignment, report),
        ));
      } catch (e) {
        this.host.options.observer?.runFinished((performance.now() - started) / 1000, report.status);
        endWithError(commitSpan, e);
        endWithError(runSpan, e);
        throw e;
      }
      this.host.options.observer?.runFinished((performance.now() - started) / 1000, report.status);
      commitSpan.end();
      if (runSpan.isRecording()) runSpan.setAttribute(ATTR.reportStatus, report.status);
      runSpan.end();
      if (retryAfterMs !== null) {
        await this.waitForSignal(retryAfterMs);
        if (this.closing) return true;
        if (await this.drainEffects()) return true;
        this.wakePending = false;
      }
      // Yield between runs so admissions and commands interleave fairly.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
