/**
 * Completion waiters (machine.md §5): process-local one-shot plumbing keyed by
 * input id. Any number of waiters may wait on one input; all receive the same
 * outcome, exactly once. Waiters are never semantic machine state.
 *
 * A waiter remembers the trace context it was registered in (the accepting call): resolving it
 * records `meerkat.completion.delivered` there (src/telemetry/kernel-tracing.ts; nothing when
 * tracing is off).
 */
import { context, type Context } from '@opentelemetry/api';
import { recordCompletionDelivered } from '../telemetry/kernel-tracing.js';

export interface RunResult {
  readonly text: string;
}

export type AbandonReasonView =
  | { readonly kind: 'retired' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'destroyed' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'max_attempts_exhausted'; readonly attempts: number }
  | { readonly kind: 'never_executed' };

/** The one terminal answer a waiter receives (machine.md §5.1, HEAD shape). */
export type CompletionOutcome =
  | { readonly kind: 'completed'; readonly result: RunResult }
  | { readonly kind: 'completed_without_result' }
  | {
      readonly kind: 'callback_pending';
      readonly tool_use_id: string;
      readonly tool_name: string;
      readonly args: string;
    }
  | { readonly kind: 'cancelled' }
  /** The input was replaced by a newer input before it ran. */
  | { readonly kind: 'superseded'; readonly superseded_by: string }
  /** The input was merged into a newer input (peer progress coalescing). */
  | { readonly kind: 'coalesced'; readonly aggregate_id: string }
  | { readonly kind: 'abandoned'; readonly reason: AbandonReasonView; readonly error: string | null }
  | { readonly kind: 'abandoned_with_error'; readonly reason: string; readonly error: string }
  | { readonly kind: 'completed_with_finalization_failure'; readonly error: string }
  | { readonly kind: 'runtime_terminated'; readonly reason: string }
  /** Mechanical failure of the wait itself (`CompletionWaitError`). */
  | {
      readonly kind: 'wait_error';
      readonly error: 'ChannelClosed' | 'AttachmentReplaced' | 'AuthorityUnavailable';
      readonly message: string;
    };

/** Reasons the kernel uses when it terminates waiters (commands.md §3, machine.md §5.3). */
export const TERMINATION_REASONS = {
  reset: 'runtime reset',
  destroyed: 'runtime destroyed',
  stopped: 'runtime stopped',
  unregistered: 'runtime session unregistered',
  retiredWithoutLoop: 'retired without runtime loop',
  loopExited: 'runtime loop exited',
  recycled: 'recycled input no longer pending',
  recovered: 'recovered input no longer pending',
  channelClosed: 'completion channel closed without result',
  kernelShutdown: 'kernel shutting down',
  ownershipLost: 'another replica took over the session (lease lost); watch the input there',
} as const;

/** A caller's handle on one input's completion. */
export interface CompletionHandle {
  readonly input_id: string;
  /** Resolves exactly once with the input's outcome. Never rejects. */
  readonly outcome: Promise<CompletionOutcome>;
  /** Stop waiting; removes this waiter (no effect on the input). */
  cancel(): void;
}

interface Waiter {
  readonly resolve: (o: CompletionOutcome) => void;
  /** The context active at registration. */
  readonly context: Context;
}

export class CompletionRegistry {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private closed = false;

  /** Registers a waiter for `inputId`. */
  register(inputId: string): CompletionHandle {
    let resolveFn!: (o: CompletionOutcome) => void;
    const outcome = new Promise<CompletionOutcome>((r) => (resolveFn = r));
    if (this.closed) {
      resolveFn({ kind: 'runtime_terminated', reason: TERMINATION_REASONS.channelClosed });
      return { input_id: inputId, outcome, cancel: () => undefined };
    }
    const waiter: Waiter = { resolve: resolveFn, context: context.active() };
    let set = this.waiters.get(inputId);
    if (!set) {
      set = new Set();
      this.waiters.set(inputId, set);
    }
    set.add(waiter);
    return {
      input_id: inputId,
      outcome,
      cancel: () => {
        const s = this.waiters.get(inputId);
        if (s?.delete(waiter) && s.size === 0) this.waiters.delete(inputId);
      },
    };
  }

  /** An already-resolved handle (e.g. dedup onto a terminal input). */
  static resolved(inputId: string, outcome: CompletionOutcome): CompletionHandle {
    return { input_id: inputId, outcome: Promise.resolve(outcome), cancel: () => undefined };
  }

  /** Resolves and removes every waiter of `inputId`; unknown ids are a no-op. */
  resolve(inputId: string, outcome: CompletionOutcome): number {
    const set = this.waiters.get(inputId);
    if (!set) return 0;
    this.waiters.delete(inputId);
    for (const w of set) {
      w.resolve(outcome);
      recordCompletionDelivered(w.context, inputId, outcome.kind);
    }
    return set.size;
  }

  /** Resolves every waiter with `runtime_terminated(reason)`. */
  terminateAll(reason: string): number {
    let n = 0;
    for (const id of [...this.waiters.keys()]) n += this.resolve(id, { kind: 'runtime_terminated', reason });
    return n;
  }

  /** Terminates waiters whose input is no longer pending. */
  terminateWhere(pred: (inputId: string) => boolean, reason: string): number {
    let n = 0;
    for (const id of [...this.waiters.keys()]) {
      if (pred(id)) n += this.resolve(id, { kind: 'runtime_terminated', reason });
    }
    return n;
  }

  /** Discards the registry: every waiter ends `completion channel closed without result`. */
  close(): void {
    this.terminateAll(TERMINATION_REASONS.channelClosed);
    this.closed = true;
  }

  has(inputId: string): boolean {
    return this.waiters.has(inputId);
  }

  /** Number of inputs with at least one waiter. */
  get inputCount(): number {
    return this.waiters.size;
  }

  /** Total number of waiters. */
  get waiterCount(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}
