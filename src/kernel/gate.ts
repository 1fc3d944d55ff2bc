/**
 * A per-session mutation gate: an async mutex. A gated command's
 * stage → effects → commit span runs alone with respect to other gated work on
 * the same session (commands.md §4.4).
 */
export class MutationGate {
  private tail: Promise<void> = Promise.resolve();
  private depth = 0;

  /** Runs `fn` once every earlier holder has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.depth += 1;
    return prev.then(fn).finally(() => {
      this.depth -= 1;
      release();
    });
  }

  /** Number of holders and waiters (diagnostics). */
  get queued(): number {
    return this.depth;
  }
}
