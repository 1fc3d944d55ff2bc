/**
 * Group commit: writes that arrive while a transaction is in flight wait in a queue, and the next
 * flush writes them all in ONE transaction.
 *
 * - The first write after an idle period is flushed on the next microtask, so writes issued in
 *   the same tick share its transaction and a lone write waits for nothing.
 * - A batch holds at most `maxBatchSize` writes and never two writes with the same key (the
 *   store's key is the runtime id: two commits of one session must apply in order, so the later
 *   one waits for a later flush). Up to `maxInFlight` transactions (default 2) run at once, never
 *   two holding the same key, so each key's writes commit in arrival order.
 * - `writeBatch` runs one transaction and returns one outcome per write (a write can fail on its
 *   own without failing the transaction, e.g. a duplicate receipt detected by `ON CONFLICT`).
 *   When the transaction itself fails and `isSplittable(error)` says the database refused it
 *   (so nothing was written), each write of the batch is retried in a transaction of its own,
 *   and only the offending write fails. Otherwise (the connection failed: the outcome is unknown)
 *   every write of the batch fails.
 * - A write's promise settles only after its transaction's COMMIT returned.
 * - Batches are split across the transaction slots: a batch takes at most
 *   `ceil(active keys / maxInFlight)` writes, the active keys being those that submitted a write
 *   in the last 50 to 100 ms (no split while that share is below `minSplitBatch`). Without the split, many
 *   sessions that each wait for their last commit before writing again fall into lockstep: every
 *   one of them lands in the same batch, so the database idles while the process handles the
 *   batch's results and the process idles while the database writes the next. Split, one batch is
 *   in the database while the process prepares the other (measured in `bench:store`).
 *
 * @example
 * ```ts
 * const committer = new GroupCommitter<string, number>({
 *   maxBatchSize: 256,
 *   keyOf: (s) => s,
 *   writeBatch: async (batch) => batch.map((s) => ({ ok: true as const, value: s.length })),
 *   isSplittable: () => true,
 *   failure: (e) => (e instanceof Error ? e : new Error(String(e))),
 * });
 * console.log(await Promise.all([committer.submit('a'), committer.submit('bb')])); // [1, 2], one batch
 * ```
 */

import { performance } from 'node:perf_hooks';

/** How long a key counts as active after its last write (see the batch split above). */
const ACTIVE_WINDOW_MS = 50;

/** The result of one write inside a committed batch. */
export type WriteOutcome<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: Error };

export interface GroupCommitterOptions<T, R> {
  /** Largest number of writes per transaction. */
  readonly maxBatchSize: number;
  /**
   * Transactions in flight at once (default 2): while one waits for its COMMIT the next batch
   * is already being written. Writes with equal keys are never in flight together, so each
   * key's writes still commit in arrival order.
   */
  readonly maxInFlight?: number;
  /**
   * Smallest share of active keys per transaction slot that splits batches (default 8): below it,
   * a burst stays one batch.
   */
  readonly minSplitBatch?: number;
  /** Writes with equal keys never share a batch. */
  readonly keyOf: (item: T) => string;
  /** Writes `batch` in one transaction; throws when the transaction failed. */
  readonly writeBatch: (batch: readonly T[]) => Promise<readonly WriteOutcome<R>[]>;
  /** Whether a failed transaction wrote nothing, so that its writes can be retried one by one. */
  readonly isSplittable: (error: unknown) => boolean;
  /** The error a write's caller sees when its transaction failed with `error`. */
  readonly failure: (error: unknown, item: T) => Error;
}

interface Pending<T, R> {
  readonly item: T;
  readonly resolve: (value: R) => void;
  readonly reject: (error: Error) => void;
}

/** Counters of a {@link GroupCommitter} (diagnostics and tests). */
export interface GroupCommitStats {
  /** Writes submitted. */
  readonly submitted: number;
  /** Batched transactions attempted (not counting one-by-one retries). */
  readonly batches: number;
  /** Batches whose transaction failed and were retried one by one. */
  readonly splitBatches: number;
  /** Largest batch flushed so far. */
  readonly largestBatch: number;
}

export class GroupCommitter<T, R> {
  private readonly queue: Pending<T, R>[] = [];
  private inFlight = 0;
  private readonly inFlightKeys = new Map<string, number>();
  /** Keys that submitted in the current and the previous window of {@link ACTIVE_WINDOW_MS}. */
  private activeNow = new Set<string>();
  private activeBefore = new Set<string>();
  private windowStart = performance.now();
  private scheduled = false;
  private drained: (() => void)[] = [];
  private closed = false;
  private stats = { submitted: 0, batches: 0, splitBatches: 0, largestBatch: 0 };

  constructor(private readonly options: GroupCommitterOptions<T, R>) {
    if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1) {
      throw new RangeError(`maxBatchSize must be a positive integer, got ${options.maxBatchSize}`);
    }
  }

  /** Queues a write; settles after the transaction that carries it committed (or failed). */
  submit(item: T, closedError?: () => Error): Promise<R> {
    if (this.closed) return Promise.reject(closedError ? closedError() : new Error('group committer is closed'));
    this.stats.submitted += 1;
    const now = performance.now();
    if (now - this.windowStart >= ACTIVE_WINDOW_MS) {
      this.activeBefore = this.activeNow;
      this.activeNow = new Set();
      this.windowStart = now;
    }
    this.activeNow.add(this.options.keyOf(item));
    const done = new Promise<R>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      // Writes issued in the same tick share the first transaction.
      queueMicrotask(() => {
        this.scheduled = false;
        this.pump();
      });
    }
    return done;
  }

  /** Number of writes waiting for a flush. */
  get queued(): number {
    return this.queue.length;
  }

  get counters(): GroupCommitStats {
    return { ...this.stats };
  }

  /** Refuses new writes and waits until every queued write settled. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight === 0 && this.queue.length === 0 && !this.scheduled) return;
    await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  /** Starts batches while there is queued work and room for another transaction. */
  private pump(): void {
    const max = this.options.maxInFlight ?? 2;
    if (this.inFlight >= max || this.queue.length === 0) return;
    const active = Math.max(this.activeNow.size, this.activeBefore.size);
    const share = Math.ceil(active / max);
    const limit = share < (this.options.minSplitBatch ?? 8) ? this.options.maxBatchSize : Math.min(this.options.maxBatchSize, share);
    while (this.inFlight < max && this.queue.length > 0) {
      const batch = this.takeBatch(limit);
      if (batch.length === 0) break;
      const keys = batch.map((p) => this.options.keyOf(p.item));
      for (const k of keys) this.inFlightKeys.set(k, (this.inFlightKeys.get(k) ?? 0) + 1);
      this.inFlight += 1;
      void this.flush(batch).finally(() => {
        this.inFlight -= 1;
        for (const k of keys) {
          const n = (this.inFlightKeys.get(k) ?? 1) - 1;
          if (n <= 0) this.inFlightKeys.delete(k);
          else this.inFlightKeys.set(k, n);
        }
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) {
          const waiters = this.drained;
          this.drained = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  /**
   * The next batch in arrival order: at most `limit` writes, at most one per key, none
   * whose key is in flight. A write that must wait blocks every later write of its key.
   */
  private takeBatch(limit: number): Pending<T, R>[] {
    const chosen = new Set<string>();
    const blocked = new Set<string>();
    const batch: Pending<T, R>[] = [];
    const rest: Pending<T, R>[] = [];
    for (const p of this.queue) {
      const key = this.options.keyOf(p.item);
      if (batch.length < limit && !chosen.has(key) && !blocked.has(key) && !this.inFlightKeys.has(key)) {
        chosen.add(key);
        batch.push(p);
      } else {
        blocked.add(key);
        rest.push(p);
      }
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }

  private async flush(batch: Pending<T, R>[]): Promise<void> {
    this.stats.batches += 1;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    try {
      settle(batch, await this.options.writeBatch(batch.map((p) => p.item)));
      return;
    } catch (error) {
      if (batch.length === 1 || !this.options.isSplittable(error)) {
        for (const p of batch) p.reject(this.options.failure(error, p.item));
        return;
      }
    }
    this.stats.splitBatches += 1;
    for (const p of batch) {
      try {
        settle([p], await this.options.writeBatch([p.item]));
      } catch (error) {
        p.reject(this.options.failure(error, p.item));
      }
    }
  }
}

function settle<T, R>(batch: readonly Pending<T, R>[], outcomes: readonly WriteOutcome<R>[]): void {
  batch.forEach((p, i) => {
    const o = outcomes[i];
    if (o === undefined) p.reject(new Error('internal: the batch writer returned no outcome for this write'));
    else if (o.ok) p.resolve(o.value);
    else p.reject(o.error);
  });
}
