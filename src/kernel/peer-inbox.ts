/**
 * A session's durable peer inbox (decision 9): peer messages addressed to the session wait in the
 * store (`RuntimeStore.appendPeerMessage`, table `meerkat_peer_inbox`) until the session's comms
 * drain admits them as peer inputs.
 *
 * - {@link PeerInbox.deliver} returns once the message is durable, so an acknowledged delivery
 *   survives a crash; it wakes the drain.
 * - {@link PeerInbox.next} hands the drain the oldest message still in the store (it stays there).
 *   The drain admits it with `taken_peer_message` set: the admitting commit removes it in the same
 *   transaction, so a crash leaves it either admitted and gone, or still in the inbox — never lost,
 *   never admitted twice. A message the session refuses is removed with {@link PeerInbox.discard}.
 * - Messages delivered while no drain runs (aborted, exited, or the kernel restarted) stay in the
 *   store and are admitted once `SetPeerIngressContext(keep_alive=true)` starts a drain again.
 */
import type { PeerMessage, RuntimeStore } from './store.js';
import type { ValidatedInput } from './input.js';
import type { Clock } from './clock.js';

/** How often a waiting drain re-reads the store (messages appended by another process). */
export const PEER_INBOX_POLL_MS = 1000;

export class PeerInbox {
  /** Bumped by every wake, so a wake between a read and the wait is not lost. */
  private wakes = 0;
  private readonly waiting = new Set<() => void>();
  /** Sequences this process delivered and its drain has not yet admitted or discarded. */
  private readonly delivered = new Set<number>();

  constructor(
    private readonly store: RuntimeStore,
    readonly sessionId: string,
    readonly runtimeId: string,
    private readonly clock: Clock,
    private readonly pollMs = PEER_INBOX_POLL_MS,
  ) {}

  /** Appends `input` durably, then wakes the drain. */
  async deliver(input: ValidatedInput): Promise<PeerMessage> {
    const message = await this.store.appendPeerMessage({
      runtime_id: this.runtimeId,
      session_id: this.sessionId,
      input,
      created_at: this.clock.now(),
    });
    this.delivered.add(message.sequence);
    this.wake();
    return message;
  }

  /**
   * Messages this process delivered that its drain has not admitted or discarded yet (a cheap,
   * local count: the durable inbox may hold more, e.g. from before a restart; all of them survive
   * a restart or a handover and are drained by whichever replica runs the session's drain).
   */
  get size(): number {
    return this.delivered.size;
  }

  /** The drain admitted message `sequence` (its commit took it out of the store). */
  taken(sequence: number): void {
    this.delivered.delete(sequence);
  }

  /** Wakes a waiting drain (e.g. after a message was appended). */
  wake(): void {
    this.wakes += 1;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const w of waiting) w();
  }

  /** Messages still in the inbox, oldest first (at most `limit`). */
  pending(limit = 1000): Promise<readonly PeerMessage[]> {
    return this.store.loadPeerMessages(this.runtimeId, limit);
  }

  /**
   * The oldest message in the inbox, waiting until one arrives; `null` once `signal` aborts.
   * The message is not removed: the commit that admits it does that. Store failures propagate.
   */
  async next(signal: AbortSignal): Promise<PeerMessage | null> {
    for (;;) {
      if (signal.aborted) return null;
      const seen = this.wakes;
      const [oldest] = await this.store.loadPeerMessages(this.runtimeId, 1);
      if (signal.aborted) return null;
      if (oldest) return oldest;
      if (this.wakes !== seen) continue;
      await this.waitForWake(signal);
    }
  }

  /** Removes a message the session refused; whether it was still there. */
  async discard(sequence: number): Promise<boolean> {
    const removed = await this.store.discardPeerMessage(this.runtimeId, sequence);
    this.delivered.delete(sequence);
    return removed;
  }

  private waitForWake(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
      this.waiting.add(done);
    });
  }
}
