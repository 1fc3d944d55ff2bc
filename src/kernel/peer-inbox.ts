/**
 * A session's peer inbox (decision 9): peer messages addressed to the session
 * wait here until the session's comms drain admits them as peer inputs.
 * In-process for now; the durable store keeps it across restarts later.
 */
import type { Input } from './input.js';

export class PeerInbox {
  private readonly items: Input[] = [];
  private notify: (() => void) | null = null;

  /** Adds a message; wakes the drain if it is waiting. */
  deliver(input: Input): void {
    this.items.push(input);
    const n = this.notify;
    this.notify = null;
    n?.();
  }

  get size(): number {
    return this.items.length;
  }

  /** Takes the next message, waiting until one arrives or `signal` aborts (then `null`). */
  async take(signal: AbortSignal): Promise<Input | null> {
    while (this.items.length === 0) {
      if (signal.aborted) return null;
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.notify = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
    if (signal.aborted) return null;
    return this.items.shift() ?? null;
  }
}
