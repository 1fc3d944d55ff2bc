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
  /** Optional per-name session filter (a remote executor may serve only some sessions). */
  private readonly filters = new Map<string, (sessionId: string) => boolean>();

  /**
   * Registers (or replaces) `name`. `serves`, when given, limits the sessions the
   * executor can be attached to: `has(name, session)` is false for the others.
   */
  register(name: string, factory: ExecutorFactory, serves?: (sessionId: string) => boolean): this {
    this.factories.set(name, factory);
    if (serves) this.filters.set(name, serves);
    else this.filters.delete(name);
    return this;
  }

  /** Removes `name` (e.g. a remote executor whose attachment ended); returns whether it was registered. */
  unregister(name: string): boolean {
    this.filters.delete(name);
    return this.factories.delete(name);
  }

  /** Whether `name` is registered (and, given a session, serves it). */
  has(name: string, sessionId?: string): boolean {
    if (!this.factories.has(name)) return false;
    const serves = this.filters.get(name);
    return sessionId === undefined || !serves || serves(sessionId);
  }

  create(name: string, sessionId: string): Executor | null {
    const f = this.factories.get(name);
    return f && this.has(name, sessionId) ? f(sessionId) : null;
  }

  names(): string[] {
    return [...this.factories.keys()].sort();
  }
}
