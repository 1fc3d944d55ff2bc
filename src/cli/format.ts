/** Human-readable renderings of kernel messages for the CLI (the `--json` mode prints `toJSON`). */
import {
  completionWaitErrorToJSON,
  inputAbandonReasonToJSON,
  inputLaneToJSON,
  inputLifecycleStateToJSON,
  durabilityToJSON,
  postAdmissionSignalToJSON,
  InputLane,
  InputLifecycleState,
  type AcceptOutcome,
  type AbandonReason,
  type CompletionOutcome,
  type InputBody,
  type InputTerminalOutcome,
  type StoredInputState,
  type PostAdmissionSignal,
  type RecoveryReport,
} from '../gen/meerkat/kernel/v1/types.js';
import { runtimeStateToJSON, type RuntimeState } from '../gen/meerkat/kernel/v1/control.js';
import { watchEndReasonToJSON, type WatchEndReason } from '../gen/meerkat/kernel/v1/ingress.js';

/** `INPUT_LIFECYCLE_STATE_APPLIED_PENDING_CONSUMPTION` → `applied_pending_consumption`. */
export function enumLabel(json: string, prefix: string): string {
  return (json.startsWith(prefix) ? json.slice(prefix.length) : json).toLowerCase();
}

export const phaseLabel = (p: InputLifecycleState): string => enumLabel(inputLifecycleStateToJSON(p), 'INPUT_LIFECYCLE_STATE_');
export const runtimeStateLabel = (s: RuntimeState): string => enumLabel(runtimeStateToJSON(s), 'RUNTIME_STATE_');
export const signalLabel = (s: PostAdmissionSignal): string => enumLabel(postAdmissionSignalToJSON(s), 'POST_ADMISSION_SIGNAL_');
export const watchEndLabel = (r: WatchEndReason): string => enumLabel(watchEndReasonToJSON(r), 'WATCH_END_REASON_');

/** The id of the input an admission refers to (the existing input for a duplicate). */
export function admittedInputId(outcome: AcceptOutcome | undefined): string | null {
  switch (outcome?.type?.$case) {
    case 'accepted':
      return outcome.type.accepted.input_id;
    case 'deduplicated':
      return outcome.type.deduplicated.existing_id;
    default:
      return null;
  }
}

/** One line about an admission outcome. */
export function describeAdmission(outcome: AcceptOutcome | undefined, signal?: PostAdmissionSignal): string {
  const sig = signal === undefined ? '' : `, signal ${signalLabel(signal)}`;
  switch (outcome?.type?.$case) {
    case 'accepted': {
      const a = outcome.type.accepted;
      const phase = a.row ? phaseLabel(a.row.phase) : 'accepted';
      return `accepted input ${a.input_id} (${phase}${sig})`;
    }
    case 'deduplicated': {
      const d = outcome.type.deduplicated;
      const phase = d.existing ? `, ${phaseLabel(d.existing.phase)}` : '';
      return `deduplicated: the idempotency key belongs to input ${d.existing_id} (${`existing${phase}`}${sig})`;
    }
    default:
      return `admission without an outcome${sig}`;
  }
}

function abandonReasonLabel(r: AbandonReason | undefined): string {
  const k = r?.kind;
  if (k === undefined) return 'unknown reason';
  switch (k.$case) {
    case 'max_attempts_exhausted':
      return `max_attempts_exhausted after ${k.max_attempts_exhausted.attempts} attempts`;
    default:
      return k.$case;
  }
}

/** Whether a completion counts as success for the exit code (a result or a context-only run). */
export function isSuccessfulCompletion(o: CompletionOutcome | undefined): boolean {
  const k = o?.kind?.$case;
  return k === 'completed' || k === 'completed_without_result';
}

/**
 * A completion outcome as text: the run's result text itself for `completed`, otherwise one
 * line naming the outcome (`abandoned (max_attempts_exhausted after 3 attempts): boom`).
 */
export function describeCompletion(o: CompletionOutcome | undefined): string {
  const k = o?.kind;
  switch (k?.$case) {
    case undefined:
      return '(no outcome)';
    case 'completed':
      return k.completed.result?.text ?? '';
    case 'completed_without_result':
      return 'completed without a result';
    case 'callback_pending':
      return `callback pending: tool ${k.callback_pending.tool_name} (call ${k.callback_pending.tool_use_id}) args ${k.callback_pending.args}`;
    case 'cancelled':
      return 'cancelled';
    case 'superseded':
      return `superseded by input ${k.superseded.superseded_by}`;
    case 'coalesced':
      return `coalesced into input ${k.coalesced.aggregate_id}`;
    case 'abandoned':
      return `abandoned (${abandonReasonLabel(k.abandoned.reason)})${k.abandoned.error ? `: ${k.abandoned.error}` : ''}`;
    case 'abandoned_with_error':
      return `abandoned (${k.abandoned_with_error.reason}): ${k.abandoned_with_error.error}`;
    case 'completed_with_finalization_failure':
      return `completed, but finalisation failed: ${k.completed_with_finalization_failure.error}`;
    case 'runtime_terminated':
      return `runtime terminated: ${k.runtime_terminated.reason}`;
    case 'wait_error':
      return `wait error ${enumLabel(completionWaitErrorToJSON(k.wait_error.error), 'COMPLETION_WAIT_ERROR_')}: ${k.wait_error.message}`;
  }
}

function terminalLabel(t: InputTerminalOutcome | undefined): string | null {
  const o = t?.outcome_type;
  switch (o?.$case) {
    case undefined:
      return null;
    case 'consumed':
      return 'consumed';
    case 'superseded':
      return `superseded by ${o.superseded.superseded_by}`;
    case 'coalesced':
      return `coalesced into ${o.coalesced.aggregate_id}`;
    case 'abandoned': {
      const reason = enumLabel(inputAbandonReasonToJSON(o.abandoned.reason), 'INPUT_ABANDON_REASON_');
      return `abandoned (${reason}${o.abandoned.attempts !== undefined ? `, ${o.abandoned.attempts} attempts` : ''})`;
    }
  }
}

/** The content field of an input body, for display. */
export function bodyText(body: InputBody | undefined): string {
  const b = body?.input_type;
  switch (b?.$case) {
    case undefined:
      return '';
    case 'prompt':
      return b.prompt.text;
    case 'peer':
      return b.peer.body;
    case 'flow_step':
      return b.flow_step.instructions;
    case 'external_event':
      return b.external_event.payload;
    case 'continuation':
      return b.continuation.reason;
    case 'operation':
      return b.operation.event;
  }
}

const time = (ms: number): string => new Date(ms).toISOString();

/** One line for a watch update: `queued (lane queue)`, `staged (attempt 1, run …)`. */
export function describeStage(s: StoredInputState): string {
  const extras: string[] = [];
  if (s.lane !== InputLane.UNSPECIFIED) extras.push(`lane ${enumLabel(inputLaneToJSON(s.lane), 'INPUT_LANE_')}`);
  if (s.attempt_count > 0) extras.push(`attempt ${s.attempt_count}`);
  if (s.last_run_id) extras.push(`run ${s.last_run_id}`);
  const terminal = terminalLabel(s.terminal_outcome);
  const head = terminal ?? phaseLabel(s.phase);
  return extras.length > 0 ? `${head} (${extras.join(', ')})` : head;
}

/** A multi-line description of one input's state (`meerkat input`). */
export function describeInput(s: StoredInputState): string {
  const rows: [string, string][] = [
    ['input', s.input_id],
    ['runtime', s.runtime_id],
    ['phase', phaseLabel(s.phase)],
  ];
  const terminal = terminalLabel(s.terminal_outcome);
  if (terminal) rows.push(['outcome', terminal]);
  rows.push(['durability', enumLabel(durabilityToJSON(s.durability), 'DURABILITY_')]);
  if (s.lane !== InputLane.UNSPECIFIED) rows.push(['lane', enumLabel(inputLaneToJSON(s.lane), 'INPUT_LANE_')]);
  if (s.idempotency_key !== undefined) rows.push(['key', s.idempotency_key]);
  if (s.admission_sequence !== undefined) rows.push(['sequence', String(s.admission_sequence)]);
  rows.push(['attempts', String(s.attempt_count)]);
  if (s.last_run_id) rows.push(['run', s.last_run_id]);
  if (s.last_boundary_sequence !== undefined) rows.push(['boundary', String(s.last_boundary_sequence)]);
  if (s.input?.body?.input_type) rows.push([s.input.body.input_type.$case, bodyText(s.input.body)]);
  if (s.content_blob_id) rows.push(['blob', s.content_blob_id]);
  rows.push(['created', time(s.created_at)], ['updated', time(s.updated_at)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (s.history.length > 0) {
    lines.push('history');
    for (const h of s.history) {
      const from = h.from === InputLifecycleState.UNSPECIFIED ? '' : `${phaseLabel(h.from)} → `;
      lines.push(`  ${time(h.at)}  ${from}${phaseLabel(h.to)}${h.reason ? ` (${h.reason})` : ''}`);
    }
  }
  return lines.join('\n');
}

/** `recovered: 2 pending, 0 abandoned, 1 requeued` plus one line per detail. */
export function describeRecovery(r: RecoveryReport): string {
  const head = `${r.inputs_recovered} pending, ${r.inputs_abandoned} abandoned, ${r.inputs_requeued} requeued`;
  return [head, ...r.details.map((d) => `  ${d}`)].join('\n');
}
