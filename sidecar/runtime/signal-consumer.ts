/**
 * The sidecar's consumption of the kernel's composition signals: `StreamSignals` from the durable
 * cursor (`mob_signal_cursors`), signals folded by {@link MobRuntime.foldMany} strictly in
 * sequence order — those that arrived together are folded in one transaction per run of the same
 * mob — the cursor advancing in that same transaction. When the
 * stream fails (kernel restart, network) it reconnects with back-off (100 ms doubling, capped at
 * 5 s), re-registers the mobs' member sessions and resumes from the durable cursor; a signal the
 * cursor already passed is skipped, so a replay applies nothing twice.
 *
 * Progress is also acknowledged to the kernel (`AcknowledgeSignals`, at most every 500 ms) so its
 * retention may prune what the sidecar applied; that acknowledgement is advisory — the sidecar's
 * own cursor is the authority.
 */
import type { Logger } from 'pino';
import type { StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { RoutedSignalKind } from '../../src/gen/meerkat/kernel/v1/composition.js';
import type { RoutedSignal, RoutedSignalKind as KernelSignalKind } from '../../src/kernel/store.js';
import { CLOSE_WAIT_MS, within } from './bounded-wait.js';
import type { KernelLink } from './kernel-link.js';
import type { MobRuntime } from './mob-runtime.js';

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
const ACK_EVERY_MS = 500;
/** Most signals folded in one batch (one transaction per run of the same mob). */
const MAX_BATCH = 256;
/** The stream is paused while this many signals wait to be folded. */
const HIGH_WATER = 1024;

const KINDS: Readonly<Partial<Record<RoutedSignalKind, KernelSignalKind>>> = {
  [RoutedSignalKind.RUNTIME_BOUND]: 'RuntimeBound',
  [RoutedSignalKind.RUNTIME_RETIRED]: 'RuntimeRetired',
  [RoutedSignalKind.RUNTIME_DESTROYED]: 'RuntimeDestroyed',
};

export interface SignalConsumerCounters {
  applied: number;
  dropped: number;
  foreign: number;
  duplicates: number;
  reconnects: number;
}

export class SignalConsumer {
  private closed = false;
  private loop: Promise<void> | null = null;
  private stream: { cancel(): void } | null = null;
  private wakeSleep: (() => void) | null = null;
  private lastAck = 0;
  private lastAckedSequence = 0;
  /** Highest sequence folded (or skipped) durably. */
  cursor = 0;
  /** True while a stream is open and has been set up (sessions re-registered). */
  connected = false;
  readonly counters: SignalConsumerCounters = { applied: 0, dropped: 0, foreign: 0, duplicates: 0, reconnects: 0 };
  private readonly appliedListeners = new Set<(signal: RoutedSignal) => void>();

  constructor(
    private readonly runtime: MobRuntime,
    private readonly kernel: KernelLink,
    private readonly log: Logger,
  ) {}

  /** Called after each signal was folded (and committed). */
  onFolded(listener: (signal: RoutedSignal) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    let delay = MIN_BACKOFF_MS;
    let attempts = 0;
    while (!this.closed) {
      try {
        this.cursor = (await this.runtime.store.signalCursor(this.runtime.consumer)).sequence;
        await this.runtime.reattach();
        if (this.closed) break;
        if (attempts > 0) this.counters.reconnects += 1;
        attempts += 1;
        await this.consume(() => {
          delay = MIN_BACKOFF_MS;
        });
      } catch (e) {
        if (this.closed) break;
        this.log.warn({ err: e, cursor: this.cursor, retry_ms: delay }, 'signal stream interrupted; resuming from the durable cursor');
      } finally {
        this.connected = false;
      }
      if (this.closed) break;
      await this.sleep(delay);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  }

  /**
   * One stream: resolves when it ends, rejects when it fails. Signals that arrived while a batch
   * was being folded are folded together (up to {@link MAX_BATCH}); the stream is paused while
   * {@link HIGH_WATER} signals wait.
   */
  private async consume(onHealthy: () => void): Promise<void> {
    const call = this.kernel.streamSignals(this.cursor);
    this.stream = call;
    this.connected = true;
    this.log.info({ after_sequence: this.cursor }, 'streaming kernel signals');
    const queue: RoutedSignal[] = [];
    let ended = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const poke = (): void => {
      const w = wake;
      wake = null;
      w?.();
    };
    call.on('metadata', onHealthy);
    call.on('data', (m: StreamSignalsResponse) => {
      onHealthy();
      const signal = fromProto(m);
      if (signal !== null) queue.push(signal);
      if (queue.length >= HIGH_WATER) call.pause();
      poke();
    });
    call.on('error', (e: Error) => {
      failure = e;
      ended = true;
      poke();
    });
    call.on('end', () => {
      ended = true;
      poke();
    });
    try {
      while (!this.closed) {
        if (queue.length === 0) {
          if (ended) break;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const batch = queue.splice(0, MAX_BATCH);
        if (call.isPaused() && queue.length < HIGH_WATER) call.resume();
        await this.foldBatch(batch);
      }
    } catch (e) {
      call.cancel();
      throw e;
    } finally {
      this.stream = null;
    }
    if (failure !== null && !this.closed) throw failure;
  }

  private async foldBatch(batch: readonly RoutedSignal[]): Promise<void> {
    const fresh = batch.filter((s) => s.sequence > this.cursor);
    this.counters.duplicates += batch.length - fresh.length;
    if (fresh.length === 0) return;
    // A SignalAlreadyApplied (another writer moved the cursor) fails the stream: the loop resumes
    // from the durable cursor.
    await this.runtime.foldMany(fresh, (run, results) => {
      for (const r of results) this.counters[r] += 1;
      this.cursor = (run.at(-1) as RoutedSignal).sequence;
      for (const s of run) for (const l of [...this.appliedListeners]) l(s);
    });
    this.acknowledgeSoon();
  }

  private acknowledgeSoon(): void {
    const now = Date.now();
    if (now - this.lastAck < ACK_EVERY_MS || this.cursor <= this.lastAckedSequence) return;
    this.lastAck = now;
    const seq = this.cursor;
    this.kernel.acknowledge(this.runtime.consumer, seq).then(
      () => (this.lastAckedSequence = Math.max(this.lastAckedSequence, seq)),
      () => undefined,
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeSleep = null;
        resolve();
      }, ms);
      this.wakeSleep = () => {
        clearTimeout(t);
        this.wakeSleep = null;
        resolve();
      };
    });
  }

  /**
   * Ends the stream and the loop; acknowledges the final cursor (best effort). Waits at most
   * {@link CLOSE_WAIT_MS} for each kernel call in flight (the durable cursor is the authority, so
   * abandoning one loses nothing).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stream?.cancel();
    this.wakeSleep?.();
    await within(this.loop ?? Promise.resolve(), CLOSE_WAIT_MS);
    if (this.cursor > this.lastAckedSequence) await within(this.kernel.acknowledge(this.runtime.consumer, this.cursor), CLOSE_WAIT_MS);
  }
}

function fromProto(m: StreamSignalsResponse): RoutedSignal | null {
  const s = m.signal;
  if (s === undefined) return null;
  const kind = KINDS[s.kind];
  if (kind === undefined) return null;
  return {
    sequence: s.sequence,
    kind,
    session_id: s.session_id,
    runtime_id: s.runtime_id,
    agent_runtime_id: s.agent_runtime_id,
    fence_token: s.fence_token,
    trace_context: s.trace_context ?? null,
    created_at: s.created_at,
  };
}
