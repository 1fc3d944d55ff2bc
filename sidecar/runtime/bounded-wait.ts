/**
 * Bounded waits for shutdown: a kernel call in flight to a kernel that is already gone waits for
 * it (waitForReady) until its deadline, which would hold the sidecar's graceful shutdown past its
 * grace period. Closing code waits at most {@link CLOSE_WAIT_MS} for such a call; what it abandons
 * is durable (the signal cursor, `mob_outbound`) and picked up again after a restart.
 */

/** How long closing code waits for a kernel call in flight. */
export const CLOSE_WAIT_MS = 2_000;

/** Resolves when `p` settles (either way) or after `ms`, whichever comes first. */
export function within(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve();
    };
    p.then(done, done);
  });
}
