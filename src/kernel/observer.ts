/**
 * Event hooks for operators' metrics (src/telemetry/kernel-metrics.ts implements them with the
 * OpenTelemetry metrics API). The kernel calls them at a handful of sites — admission, the end of
 * a runtime-loop run, a refused commit — and the server calls `signalDelivered` when StreamSignals
 * writes a signal. Without an observer (the default) every site is a skipped optional call.
 *
 * Gauges (queue depth, waiters, reload-required sessions) need no hook: the metrics read the
 * kernel's own state when they are collected.
 */
import type { ApplyReport } from './executor.js';

/** How an admission ended: the kernel's `AcceptOutcome` type, or `refused` when it threw (e.g. INVALID_PHASE). */
export type AdmissionOutcomeKind = 'accepted' | 'deduplicated' | 'rejected' | 'refused';

export interface KernelObserver {
  /** One input went through admission (`mode`: with_completion, without_wake, ingest). */
  inputAdmitted(outcome: AdmissionOutcomeKind, mode: string): void;
  /** A runtime-loop run ended: `seconds` from the loop starting it (executor apply) to its boundary commit. */
  runFinished(seconds: number, status: ApplyReport['status']): void;
  /** A session commit failed (the store refused it, or an invariant check did). */
  commitFailed(error: unknown): void;
  /** A store call outside the commit path failed (`operation` names it, e.g. `signal_cursor`). */
  storeError(operation: string): void;
  /** A composition signal was written to a StreamSignals subscriber, `lagSeconds` after its commit. */
  signalDelivered(lagSeconds: number): void;
}

/** Reports the outcome of an admission to `observer` (returns `admission` itself when there is none). */
export function observeAdmission<T extends { readonly outcome: { readonly type: 'accepted' | 'deduplicated' | 'rejected' } }>(
  observer: KernelObserver | undefined,
  mode: string,
  admission: Promise<T>,
): Promise<T> {
  if (!observer) return admission;
  return admission.then(
    (r) => {
      observer.inputAdmitted(r.outcome.type, mode);
      return r;
    },
    (e: unknown) => {
      observer.inputAdmitted('refused', mode);
      throw e;
    },
  );
}
