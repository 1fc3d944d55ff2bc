/**
 * The kernel side of one remote executor attachment (decision 6): an `ExecutorService.Attach`
 * stream seen as an {@link Executor} per session.
 *
 * - `apply` pushes a `RunAssignment` down the stream (its `trace_context` is the W3C `traceparent`
 *   of the active `meerkat.executor.apply` span, unset with tracing off) and resolves with the executor's
 *   `TerminalReport` for that run (converted to an {@link ApplyReport}). A `BoundaryReport`
 *   of the run is remembered; its conversation digest and message count fill a completed
 *   report that leaves them unset.
 * - A hard interrupt (the run's abort signal: `Interrupt…`, stop, loop close) sends `Interrupt`
 *   and waits {@link INTERRUPT_GRACE_MS} for the executor's terminal report; without one the
 *   apply rejects and the runtime loop records the run as cancelled.
 * - `cancelAfterBoundary` sends `CancelAfterBoundary` for the session's run in flight; `stop`
 *   sends `Stop` for the session.
 * - When the stream dies (`kill`), every run in flight rejects with {@link ExecutorLostError}:
 *   the loop reports a failed apply, so the staged inputs go back to their lanes through the
 *   kernel's normal retry path (decision 4). Detaching the loops is the service's job
 *   (./executor-service.ts).
 */
import type { ApplyReport, Executor, RunAssignment, RunControl } from '../kernel/executor.js';
import { KernelError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type {
  AttachRequest_BoundaryReport,
  AttachRequest_TerminalReport,
  AttachResponse,
} from '../gen/meerkat/kernel/v1/executor.js';
import { activeTraceparent } from '../telemetry/kernel-tracing.js';
import { runAssignmentToProto } from './mapping.js';

/** How long an interrupted run may take to send its terminal report before it is recorded as cancelled. */
export const INTERRUPT_GRACE_MS = 2000;

/** The attachment serving a run went away; the run is a failed apply. */
export class ExecutorLostError extends Error {
  constructor(message: string) {
    super(`ExecutorLost: ${message}`);
    this.name = 'ExecutorLostError';
  }
}

interface PendingRun {
  readonly sessionId: string;
  readonly assignment: RunAssignment;
  readonly resolve: (report: ApplyReport) => void;
  readonly reject: (error: Error) => void;
  lastBoundary: { readonly conversation_digest: string | null; readonly message_count: number } | null;
  graceTimer: NodeJS.Timeout | null;
}

export interface RemoteAttachmentOptions {
  /** The Hello's executor name. */
  readonly name: string;
  /** Sessions this attachment serves; `null` means every session bound to the name. */
  readonly sessions: ReadonlySet<string> | null;
  readonly canReconfigureLlm: boolean;
  /** Writes one message down the stream (throws or returns false when the stream is gone). */
  readonly send: (message: AttachResponse) => void;
  readonly log?: (line: string) => void;
  readonly interruptGraceMs?: number;
}

/** One live `Attach` stream. */
export class RemoteAttachment {
  /** Attachment id (HelloAck), for logs. */
  readonly id = newId();
  readonly name: string;
  readonly sessions: ReadonlySet<string> | null;
  readonly canReconfigureLlm: boolean;
  /** Executors the kernel created for this attachment (one per attached session loop). */
  readonly executors = new Set<RemoteExecutor>();
  private readonly runs = new Map<string, PendingRun>();
  private deadReason: string | null = null;
  private readonly send: (message: AttachResponse) => void;
  private readonly log: (line: string) => void;
  private readonly graceMs: number;

  constructor(options: RemoteAttachmentOptions) {
    this.name = options.name;
    this.sessions = options.sessions;
    this.canReconfigureLlm = options.canReconfigureLlm;
    this.send = options.send;
    this.log = options.log ?? (() => undefined);
    this.graceMs = options.interruptGraceMs ?? INTERRUPT_GRACE_MS;
  }

  get dead(): boolean {
    return this.deadReason !== null;
  }

  /** Whether this attachment serves `sessionId` (an empty Hello list serves every session). */
  serves(sessionId: string): boolean {
    return this.sessions === null || this.sessions.has(sessionId);
  }

  /** A fresh executor for one session's runtime loop (the registry factory). */
  executorFor(sessionId: string): RemoteExecutor {
    const executor = new RemoteExecutor(this, sessionId);
    this.executors.add(executor);
    return executor;
  }

  /** Run ids in flight on this stream. */
  get inFlight(): string[] {
    return [...this.runs.keys()];
  }

  /** The run in flight for `sessionId`, if any. */
  runOf(sessionId: string): string | null {
    for (const [runId, run] of this.runs) if (run.sessionId === sessionId) return runId;
    return null;
  }

  /** Pushes a run and resolves with its terminal report. */
  assign(sessionId: string, assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    if (this.deadReason !== null) return Promise.reject(new ExecutorLostError(this.deadReason));
    return new Promise<ApplyReport>((resolve, reject) => {
      const run: PendingRun = { sessionId, assignment, resolve, reject, lastBoundary: null, graceTimer: null };
      this.runs.set(assignment.run_id, run);
      const onAbort = (): void => {
        if (!this.runs.has(assignment.run_id)) return;
        this.log(`interrupt run ${assignment.run_id} (session ${sessionId})`);
        this.trySend({ message: { $case: 'interrupt', interrupt: { run_id: assignment.run_id } } });
        run.graceTimer = setTimeout(() => {
          if (this.runs.get(assignment.run_id) !== run) return;
          this.runs.delete(assignment.run_id);
          reject(new Error(`run ${assignment.run_id} was interrupted and the executor sent no terminal report within ${this.graceMs} ms`));
        }, this.graceMs);
        run.graceTimer.unref();
      };
      if (control.signal.aborted) onAbort();
      else control.signal.addEventListener('abort', onAbort, { once: true });
      this.log(`assign run ${assignment.run_id} (session ${sessionId}, ${assignment.inputs.length} input(s))`);
      // The runtime loop calls apply inside its `meerkat.executor.apply` span: the executor continues that trace.
      const run_assignment = { ...runAssignmentToProto(assignment), trace_context: activeTraceparent() ?? undefined };
      if (!this.trySend({ message: { $case: 'run_assignment', run_assignment } })) {
        this.finish(assignment.run_id, null, new ExecutorLostError(this.deadReason ?? 'the attachment stream is closed'));
      }
    });
  }

  /** A BoundaryReport from the executor; a report for a run not assigned here is INVALID_ARGUMENT. */
  onBoundary(report: AttachRequest_BoundaryReport): void {
    const run = this.runs.get(report.run_id);
    if (!run) throw notAssigned('boundary_report.run_id', report.run_id);
    run.lastBoundary = { conversation_digest: report.conversation_digest ?? null, message_count: report.message_count };
    this.log(`boundary of run ${report.run_id}: ${report.contributing_input_ids.length} input(s) applied`);
  }

  /** A TerminalReport from the executor: resolves the run's apply. */
  onTerminal(report: AttachRequest_TerminalReport): void {
    const run = this.runs.get(report.run_id);
    if (!run) throw notAssigned('terminal_report.run_id', report.run_id);
    const status = report.status;
    if (!status) {
      throw new KernelError('INVALID_ARGUMENT', 'terminal_report.status is required', {}, [
        { field: 'terminal_report.status', description: 'exactly one of completed, callback_pending, failed, cancelled is required' },
      ]);
    }
    let applyReport: ApplyReport;
    switch (status.$case) {
      case 'completed': {
        const c = status.completed;
        const digest = c.conversation_digest ?? run.lastBoundary?.conversation_digest ?? null;
        const count = c.message_count ?? run.lastBoundary?.message_count;
        applyReport = {
          status: 'completed',
          result: c.result ? { text: c.result.text } : null,
          conversation_digest: digest,
          ...(count !== undefined ? { message_count: count } : {}),
        };
        break;
      }
      case 'callback_pending':
        applyReport = {
          status: 'callback_pending',
          tool_use_id: status.callback_pending.tool_use_id,
          tool_name: status.callback_pending.tool_name,
          args: status.callback_pending.args,
        };
        break;
      case 'failed':
        applyReport = { status: 'failed', error: status.failed.error || 'the remote executor reported a failure' };
        break;
      case 'cancelled':
        applyReport = { status: 'cancelled' };
        break;
    }
    this.log(`run ${report.run_id} ended ${applyReport.status}`);
    this.finish(report.run_id, applyReport, null);
  }

  /** Sends a cooperative cancel for the session's run in flight. */
  cancelAfterBoundary(sessionId: string, reason: string): void {
    const runId = this.runOf(sessionId);
    if (runId === null) return;
    this.log(`cancel-after-boundary run ${runId}: ${reason}`);
    this.trySend({ message: { $case: 'cancel_after_boundary', cancel_after_boundary: { run_id: runId, reason } } });
  }

  /** Tells the executor to stop serving a session. */
  stop(sessionId: string, reason: string): void {
    this.log(`stop session ${sessionId}: ${reason}`);
    this.trySend({ message: { $case: 'stop', stop: { session_id: sessionId, reason } } });
  }

  /**
   * Marks the attachment dead: nothing more is sent and every run in flight rejects with
   * ExecutorLostError (a failed apply). Returns the sessions whose runs were failed.
   */
  kill(reason: string): string[] {
    if (this.deadReason !== null) return [];
    this.deadReason = reason;
    const sessions: string[] = [];
    for (const [runId, run] of [...this.runs]) {
      sessions.push(run.sessionId);
      this.finish(runId, null, new ExecutorLostError(reason));
    }
    return sessions;
  }

  private finish(runId: string, report: ApplyReport | null, error: Error | null): void {
    const run = this.runs.get(runId);
    if (!run) return;
    this.runs.delete(runId);
    if (run.graceTimer) clearTimeout(run.graceTimer);
    if (error) run.reject(error);
    else if (report) run.resolve(report);
  }

  private trySend(message: AttachResponse): boolean {
    if (this.deadReason !== null) return false;
    try {
      this.send(message);
      return true;
    } catch (e) {
      this.log(`send failed: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }
}

/** One session's executor backed by a remote attachment. */
export class RemoteExecutor implements Executor {
  constructor(
    readonly attachment: RemoteAttachment,
    readonly sessionId: string,
  ) {}

  get canReconfigureLlm(): boolean {
    return this.attachment.canReconfigureLlm;
  }

  apply(assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    return this.attachment.assign(this.sessionId, assignment, control);
  }

  cancelAfterBoundary(reason: string): void {
    this.attachment.cancelAfterBoundary(this.sessionId, reason);
  }

  stop(reason: string): void {
    this.attachment.stop(this.sessionId, reason);
  }
}

function notAssigned(field: string, runId: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', `run ${runId || '(empty)'} was not assigned on this stream (or already ended)`, {}, [
    { field, description: 'must name a run assigned on this stream and not yet ended' },
  ]);
}
