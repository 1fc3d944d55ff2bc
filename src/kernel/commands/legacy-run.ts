/**
 * Legacy-run group (commands.md §3.7): a caller runs one input itself —
 * `prepare` stages it on a fresh run, the caller executes, then `commit` (with
 * the boundary receipt) or `fail` closes the run.
 */
import type { TurnTerminalCauseKind } from '../../machine/index.js';
import type { KernelCore } from '../core.js';
import { guardRejected, invalidArgument, invalidField, invalidPhase, runtimeDestroyed } from '../errors.js';
import type { RunAssignment } from '../executor.js';
import { newId, parseUuidV7 } from '../ids.js';
import { validateInput, type Input } from '../input.js';
import { rejected } from './ingress.js';

export interface Prepared {
  readonly input_id: string;
  readonly run_id: string;
  readonly primitive: RunAssignment;
}

/** The executor's unsequenced receipt draft (the kernel mints the sequence). */
export interface ReceiptDraft {
  readonly run_id: string;
  readonly contributing_input_ids: readonly string[];
  readonly conversation_digest?: string | null;
  readonly message_count?: number;
}

export interface RunFailure {
  readonly cause_kind: TurnTerminalCauseKind;
  readonly message: string;
}

export class LegacyRunCommands {
  constructor(private readonly k: KernelCore) {}

  async prepare(sessionId: string, input: Input): Promise<Prepared> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const validated = validateInput(input);
    return session.gate.run(async () => {
      const phase = session.visiblePhase;
      if (phase === 'Destroyed') throw runtimeDestroyed(session.sessionId);
      if (phase !== 'Idle' && phase !== 'Attached') throw invalidPhase('Prepare', phase, 'a run needs an idle or attached runtime');
      const key = validated.idempotency_key;
      if (key !== null && (session.state.admission_idempotency_inputs[key] !== undefined || session.archivedKeys.has(key))) {
        const existing = session.state.admission_idempotency_inputs[key] ?? session.archivedKeys.get(key);
        throw invalidField(
          'input.idempotency_key',
          `Prepare does not support deduplicated admission; existing input ${existing} already owns execution`,
        );
      }
      if (session.activeInputIds().length > 0) throw invalidPhase('Prepare', phase, 'other inputs are active; the runtime is busy');
      const r = await this.k.admitInGate(session, validated, 'legacy_prepare');
      if (r.outcome.type === 'rejected') throw rejected(r.outcome);
      const tx = r.tx;
      if (!tx || r.outcome.type !== 'accepted') throw invalidField('input', 'could not be admitted for a synchronous run');
      const runId = newId();
      tx.apply({ type: 'Prepare', session_id: session.sessionId, run_id: runId });
      tx.apply({ type: 'StageForRun', input_id: validated.id, run_id: runId }, 'staged for run');
      this.k.startTurn(tx, runId);
      await this.k.commit(session, tx);
      return { input_id: validated.id, run_id: runId, primitive: this.k.assignment(session, runId, [validated.id]) };
    });
  }

  /** Validates the receipt against the active run, then consumes its inputs and returns to the pre-run phase. */
  async commit(sessionId: string, inputId: string, runId: string, receipt: ReceiptDraft, resultText: string | null = null): Promise<void> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const input = parseUuidV7(inputId, 'input_id');
    const run = parseUuidV7(runId, 'run_id');
    await session.gate.run(async () => {
      const s = session.state;
      if (s.lifecycle_phase !== 'Running' || s.current_run_id === null) {
        throw invalidPhase('Commit', session.visiblePhase, 'no run is in progress');
      }
      if (s.current_run_id !== run) {
        throw guardRejected('Commit', s.lifecycle_phase, 'run_matches_current', `Commit: run ${run} is not the active run ${s.current_run_id}`);
      }
      const staged = session.activeInputIds().filter((id) => s.input_phases[id] === 'Staged' && s.input_run_associations[id] === run);
      const violations = [];
      if (receipt.run_id !== run) violations.push({ field: 'receipt.run_id', description: `names run ${receipt.run_id}, not ${run}` });
      if (JSON.stringify([...receipt.contributing_input_ids]) !== JSON.stringify(staged)) {
        violations.push({ field: 'receipt.contributing_input_ids', description: `must equal the run's staged inputs [${staged.join(', ')}]` });
      }
      if (!staged.includes(input)) violations.push({ field: 'input_id', description: `input ${input} is not staged on run ${run}` });
      if (violations.length > 0) throw invalidArgument(violations);
      await this.k.finishRunInGate(
        session,
        this.k.assignment(session, run, staged),
        { status: 'completed', result: resultText === null ? null : { text: resultText } },
        'Commit',
        { conversation_digest: receipt.conversation_digest ?? null, message_count: receipt.message_count ?? staged.length },
      );
      // Work admitted while the run was active waits for the runtime to idle (commands.md §3.7.1 step 6).
      if (session.activeInputIds().length > 0) session.loop?.wake();
    });
  }

  /** Fails the active run with a specific cause; staged inputs go back to their lanes (or are abandoned at the cap). */
  async fail(sessionId: string, runId: string, failure: RunFailure): Promise<void> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const run = parseUuidV7(runId, 'run_id');
    if (!failure || failure.cause_kind === 'Unknown' || typeof failure.cause_kind !== 'string') {
      throw invalidField('failure.cause_kind', 'must name a specific cause (not Unknown)');
    }
    await session.gate.run(async () => {
      const s = session.state;
      if (s.lifecycle_phase !== 'Running' || s.current_run_id === null) throw invalidPhase('Fail', session.visiblePhase, 'no run is in progress');
      if (s.current_run_id !== run) {
        throw guardRejected('Fail', s.lifecycle_phase, 'run_matches_current', `Fail: run ${run} is not the active run ${s.current_run_id}`);
      }
      const staged = session.activeInputIds().filter((id) => s.input_phases[id] === 'Staged' && s.input_run_associations[id] === run);
      const { retryAfterMs } = await this.k.finishRunInGate(
        session,
        this.k.assignment(session, run, staged),
        { status: 'failed', error: failure.message || failure.cause_kind },
        'Fail',
      );
      if (retryAfterMs !== null || session.activeInputIds().length > 0) session.loop?.wake();
    });
  }
}
