/**
 * Ingress group (commands.md §3.6): admission with a completion handle, and
 * admission without wake.
 */
import type { CompletionHandle } from '../completion.js';
import type { AcceptOutcome, KernelCore, PostAdmissionSignal } from '../core.js';
import { KernelError } from '../errors.js';
import { parseUuidV7 } from '../ids.js';
import { validateInput, type Input } from '../input.js';

export interface AcceptWithCompletionResult {
  readonly outcome: Exclude<AcceptOutcome, { readonly type: 'rejected' }>;
  /** `null` when the input (or, for a duplicate, the existing input) is already terminal. */
  readonly handle: CompletionHandle | null;
  readonly admission_signal: PostAdmissionSignal;
}

export class IngressCommands {
  constructor(private readonly k: KernelCore) {}

  /**
   * Admits an input and returns a handle that resolves exactly once with its
   * completion. A duplicate idempotency key joins the existing input.
   * An input the admission rules refuse is `ADMISSION_REJECTED` and admits nothing.
   *
   * @example
   * ```ts
   * const { handle } = await kernel.ingress.acceptWithCompletion(sessionId, {
   *   body: { input_type: 'prompt', text: 'hello' },
   * });
   * console.log(await handle?.outcome); // { kind: 'completed', result: { text: 'hello' } } with `echo`
   * ```
   */
  async acceptWithCompletion(sessionId: string, input: Input): Promise<AcceptWithCompletionResult> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const r = await this.k.admit(session, validateInput(input), 'with_completion');
    if (r.outcome.type === 'rejected') throw rejected(r.outcome);
    return { outcome: r.outcome, handle: r.handle, admission_signal: r.signal };
  }

  /** Admits an input for the next turn without waking the runtime loop and without a waiter. */
  async acceptWithoutWake(sessionId: string, input: Input): Promise<Exclude<AcceptOutcome, { readonly type: 'rejected' }>> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const r = await this.k.admit(session, validateInput(input), 'without_wake');
    if (r.outcome.type === 'rejected') throw rejected(r.outcome);
    return r.outcome;
  }
}

export function rejected(o: Extract<AcceptOutcome, { readonly type: 'rejected' }>): KernelError {
  return new KernelError('ADMISSION_REJECTED', `input rejected at admission: ${o.reason}: ${o.detail}`, { reason: o.reason });
}
