/**
 * A per-mob mutation gate: tasks run one at a time in arrival order (like the kernel's
 * per-session gate). A failing task does not block the ones behind it.
 */
export class SerialGate {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
