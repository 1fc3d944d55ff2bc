/**
 * Executors run turns (decision 6). The kernel hands an executor one run at a
 * time — the run id, its contributing inputs in admission order and the
 * boundary — and the executor answers with a terminal report. Cooperative
 * cancel-after-boundary, hard interrupt and stop travel through the same
 * interface. Built in: `echo` and `scripted` (see ./executors/).
 */
import type { RuntimeBoundary } from '../machine/index.js';
import type { AdmissionInputKind } from './input.js';

export interface RunContribution {
  readonly input_id: string;
  readonly kind: AdmissionInputKind;
  readonly text: string;
  /** How many times this input has been staged (1 on the first attempt). */
  readonly attempt: number;
}

export interface RunAssignment {
  readonly session_id: string;
  readonly runtime_id: string;
  readonly run_id: string;
  readonly boundary: RuntimeBoundary;
  /** Contributing inputs in admission order. */
  readonly inputs: readonly RunContribution[];
}

/** Controls the kernel exposes to a running turn. */
export interface RunControl {
  /** Aborted on hard interrupt and on stop. */
  readonly signal: AbortSignal;
  /** True once a cancel-after-boundary was requested for this run. */
  cancelAfterBoundaryRequested(): boolean;
}

/** The executor's terminal report for one run. */
export type ApplyReport =
  | {
      readonly status: 'completed';
      /** The run's result; `null` for a context-only run (CompletedWithoutResult). */
      readonly result: { readonly text: string } | null;
      readonly conversation_digest?: string | null;
      readonly message_count?: number;
    }
  | {
      readonly status: 'callback_pending';
      readonly tool_use_id: string;
      readonly tool_name: string;
      readonly args: string;
    }
  | { readonly status: 'failed'; readonly error: string }
  | { readonly status: 'cancelled' };

export interface Executor {
  /** Runs one turn. May throw: a throw is a failed apply. */
  apply(assignment: RunAssignment, control: RunControl): Promise<ApplyReport>;
  /** Cooperative cancel at the current run's next boundary (optional). */
  cancelAfterBoundary?(reason: string): void | Promise<void>;
  /** Stop hook, awaited before stop terminalisation (optional). */
  stop?(reason: string): void | Promise<void>;
  /** Whether this executor can reconfigure the session's LLM identity (decision 7). */
  readonly canReconfigureLlm?: boolean;
}

/** Makes a fresh executor for a session. */
export type ExecutorFactory = (sessionId: string) => Executor;

/** Executors by name (`EnsureSessionWithExecutor(session, name)`). */
export class ExecutorRegistry {
  private readonly factories = new Map<string, ExecutorFactory>();

  register(name: string, factory: ExecutorFactory): this {
    this.factories.set(name, factory);
    return this;
  }

  has(name: string): boolean {
    return this.factories.has(name);
  }

  create(name: string, sessionId: string): Executor | null {
    const f = this.factories.get(name);
    return f ? f(sessionId) : null;
  }

  names(): string[] {
    return [...this.factories.keys()].sort();
  }
}
