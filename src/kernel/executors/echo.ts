import type { ApplyReport, Executor, RunAssignment } from '../executor.js';

/**
 * Completes every run at once with the text of its inputs, joined by newlines.
 *
 * @example
 * ```ts
 * registry.register('echo', () => new EchoExecutor());
 * ```
 */
export class EchoExecutor implements Executor {
  async apply(assignment: RunAssignment): Promise<ApplyReport> {
    return {
      status: 'completed',
      result: { text: assignment.inputs.map((i) => i.text).join('\n') },
      message_count: assignment.inputs.length,
    };
  }
}
