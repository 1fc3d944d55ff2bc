/**
 * Push delivery over the durable outbox: one polling loop per store serves every subscriber.
 *
 * Each subscription keeps its own cursor; the loop reads a page after the lowest cursor, hands each
 * signal to every subscription whose cursor is behind it (so each subscriber sees each committed
 * signal once, in sequence order), and sleeps `pollIntervalMs` when it caught up. A local commit
 * wakes it at once ({@link SignalFeed.wake}). On PostgreSQL, signals committed by other processes
 * wake it too: `createStores` runs a `LISTEN meerkat_signals` connection (`signal-notify.ts`, fed
 * by the outbox trigger of migration 0004) that calls `wake()`, and the poll (1 s there) is only
 * the fallback for notifications lost while that connection reconnects. On PGlite (one process)
 * the in-process wake is all there is. The loop runs only while there are subscribers.
 *
 * Sequences become visible in order (see `meerkat_signal_sequence` in `schema.ts`), so advancing a
 * cursor past what one read returned never skips a signal that commits later.
 *
 * @example
 * ```ts
 * const feed = new SignalFeed((after, limit) => store.readSignals(after, limit), { pollIntervalMs: 50 });
 * const stop = feed.subscribe(0, (s) => console.log(s.sequence, s.kind));
 * // … later
 * stop();
 * ```
 */
import type { RoutedSignal } from '../kernel/store.js';

export interface SignalFeedOptions {
  /** Sleep between polls once caught up (ms). Default 50. */
  readonly pollIntervalMs?: number;
  /** Signals read per query. Default 500. */
  readonly pageSize?: number;
  /** Receives read failures and listener exceptions (the loop keeps going). Default: stderr. */
  readonly onError?: (error: unknown) => void;
}

interface Subscription {
  cursor: number;
  active: boolean;
  readonly listener: (signal: RoutedSignal) => void;
}

export class SignalFeed {
  private readonly subscriptions = new Set<Subscription>();
  private readonly pollIntervalMs: number;
  private readonly pageSize: number;
  private readonly onError: (error: unknown) => void;
  private loop: Promise<void> | null = null;
  private wakeRequested = false;
  private wakeSleeper: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly read: (afterSequence: number, limit: number) => Promise<readonly RoutedSignal[]>,
    options: SignalFeedOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.pageSize = options.pageSize ?? 500;
    this.onError = options.onError ?? ((e) => console.error(`meerkat store: signal feed: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** Calls `listener` for every signal with a sequence above `afterSequence`, in order. Returns the unsubscribe function. */
  subscribe(afterSequence: number, listener: (signal: RoutedSignal) => void): () => void {
    if (this.closed) return () => {};
    const sub: Subscription = { cursor: afterSequence, active: true, listener };
    this.subscriptions.add(sub);
    this.wake();
    return () => {
      sub.active = false;
      this.subscriptions.delete(sub);
    };
  }

  /** New signals may have committed: poll now. */
  wake(): void {
    if (this.closed || this.subscriptions.size === 0) return;
    this.wakeRequested = true;
    if (this.wakeSleeper) this.wakeSleeper();
    this.loop ??= this.run();
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.subscriptions.size;
  }

  /** Ends every subscription and waits for the loop to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.subscriptions) s.active = false;
    this.subscriptions.clear();
    this.wakeSleeper?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      while (!this.closed && this.subscriptions.size > 0) {
        this.wakeRequested = false;
        let full = false;
        try {
          let from = Number.POSITIVE_INFINITY;
          for (const s of this.subscriptions) from = Math.min(from, s.cursor);
          const page = await this.read(from, this.pageSize);
          for (const signal of page) this.deliver(signal);
          full = page.length === this.pageSize;
        } catch (e) {
          this.onError(e);
        }
        if (!full && !this.wakeRequested) await this.sleep();
      }
    } finally {
      this.loop = null;
    }
  }

  private deliver(signal: RoutedSignal): void {
    for (const sub of [...this.subscriptions]) {
      if (!sub.active || signal.sequence <= sub.cursor) continue;
      sub.cursor = signal.sequence;
      try {
        sub.listener(signal);
      } catch (e) {
        this.onError(e);
      }
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeSleeper = null;
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.wakeSleeper = done;
    });
  }
}
