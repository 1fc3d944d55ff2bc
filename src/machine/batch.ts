/**
 * Pure helpers over {@link MachineState} for the runtime loop (`machine.md` §3.8, §3.9):
 * batch selection (`AuthorizeRuntimeLoopBatch`), the staging re-check
 * (`AuthorizedStageForRun`) and recovery normalisation of a persisted input phase
 * (`NormalizeRecoveredInputLifecycle`). None of them changes state.
 */
import type { RecoveryNormalizationReason } from './arms/input-lifecycle.js';
import { get, hasKey } from './collections.js';
import { INPUT_TERMINAL_PHASES } from './state.js';
import type { InputLane, InputPhase, InputTerminalKind, MachineState } from './state.js';

/** A batch of queued inputs from one lane, in execution order. */
export interface RuntimeLoopBatch {
  readonly lane: InputLane;
  readonly input_ids: string[];
}

/** Lanes in service order: the steer lane is always drained first. */
const LANE_ORDER: readonly InputLane[] = ['Steer', 'Queue'];

/** Lane members ordered by `(input_admission_seq, id)`; a missing sequence sorts last. */
function orderedLaneMembers(state: MachineState, lane: InputLane): string[] {
  const seq = (id: string): number => get(state.input_admission_seq, id) ?? Number.POSITIVE_INFINITY;
  return Object.keys(state.input_lane)
    .filter((id) => state.input_lane[id] === lane)
    .sort((a, b) => {
      const sa = seq(a);
      const sb = seq(b);
      if (sa !== sb) return sa < sb ? -1 : 1;
      return a < b ? -1 : a > b ? 1 : 0;
    });
}

function steerBatch(state: MachineState, ordered: readonly string[]): string[] {
  const [first] = ordered;
  if (first === undefined) return [];
  const boundary = get(state.input_runtime_boundary, first);
  const exec = get(state.input_runtime_execution_kind, first);
  if (boundary === null || exec === null) return [first];
  const intent = get(state.input_runtime_peer_response_terminal_apply_intent, first);
  const batch: string[] = [];
  for (const id of ordered) {
    if (
      get(state.input_runtime_boundary, id) !== boundary ||
      get(state.input_runtime_execution_kind, id) !== exec ||
      get(state.input_runtime_peer_response_terminal_apply_intent, id) !== intent
    ) {
      break;
    }
    batch.push(id);
  }
  return batch;
}

function queueBatch(state: MachineState, ordered: readonly string[]): string[] {
  const [first] = ordered;
  if (first === undefined) return [];
  const exec = get(state.input_runtime_execution_kind, first);
  const intent = get(state.input_runtime_peer_response_terminal_apply_intent, first);
  const firstIsPrompt = get(state.input_is_prompt, first);
  // The head is always taken; a prompt head (or one of unknown prompt-ness) runs alone.
  if (firstIsPrompt !== false) return [first];
  const batch: string[] = [first];
  for (const id of ordered.slice(1)) {
    const isPrompt = get(state.input_is_prompt, id);
    if (
      get(state.input_runtime_execution_kind, id) !== exec ||
      get(state.input_runtime_peer_response_terminal_apply_intent, id) !== intent ||
      isPrompt === null ||
      isPrompt
    ) {
      break;
    }
    batch.push(id);
  }
  return batch;
}

/**
 * `AuthorizeRuntimeLoopBatch` (§3.8 steps 1–3): the next batch the runtime loop may stage, or
 * `null` when there is nothing to run or a lane holds a member that is not `Queued`
 * (fail closed).
 *
 * Steer lane first: the longest prefix sharing the head's runtime boundary, execution kind and
 * peer-response-terminal intent. Queue lane: prompts run alone; consecutive non-prompts with the
 * head's execution kind and intent are batched, stopping before the first prompt.
 */
export function selectRuntimeLoopBatch(state: MachineState): RuntimeLoopBatch | null {
  for (const lane of LANE_ORDER) {
    const ordered = orderedLaneMembers(state, lane);
    if (ordered.length === 0) continue;
    if (ordered.some((id) => get(state.input_phases, id) !== 'Queued')) return null;
    const input_ids = lane === 'Steer' ? steerBatch(state, ordered) : queueBatch(state, ordered);
    return { lane, input_ids };
  }
  return null;
}

/**
 * `AuthorizedStageForRun` (§3.8 step 4): re-check a selected batch just before staging it.
 * Holds iff the batch is non-empty and duplicate-free, `runId` is the bound run, and every input
 * is `Queued` in `lane` with an admission sequence and a recovery lane.
 */
export function authorizeStageForRun(
  state: MachineState,
  inputIds: readonly string[],
  runId: string,
  lane: InputLane,
): boolean {
  if (inputIds.length === 0) return false;
  if (new Set(inputIds).size !== inputIds.length) return false;
  if (state.current_run_id !== runId) return false;
  return inputIds.every(
    (id) =>
      get(state.input_phases, id) === 'Queued' &&
      get(state.input_lane, id) === lane &&
      hasKey(state.input_admission_seq, id) &&
      hasKey(state.input_recovery_lanes, id),
  );
}

/** A persisted input phase as recovery observes it (the shell-only `Accepted` included). */
export type ObservedInputPhase = InputPhase | 'Accepted';

/** Result of {@link normalizeRecoveredInputLifecycle} (`RecoveredInputLifecycleNormalized`). */
export interface RecoveredInputLifecycleNormalized {
  readonly phase: InputPhase;
  readonly terminal_kind: InputTerminalKind | null;
  /** The row is a live (non-terminal) input that recovery re-enters. */
  readonly recovered: boolean;
  readonly abandoned: boolean;
  readonly requeued: boolean;
  readonly reason: RecoveryNormalizationReason | null;
}

/**
 * `NormalizeRecoveredInputLifecycle` (§3.9): where a persisted input resumes.
 *
 * `appliedBoundaryCommitted` is the receipt observation for an Applied /
 * AppliedPendingConsumption row: `true` (receipt committed → Consumed), `false` (receipt
 * missing → Queued) or `null` (not observed → unchanged). It is ignored for other phases.
 * Terminal rows are returned unchanged and not counted as recovered.
 */
export function normalizeRecoveredInputLifecycle(
  observedPhase: ObservedInputPhase,
  appliedBoundaryCommitted: boolean | null,
): RecoveredInputLifecycleNormalized {
  const base = { terminal_kind: null, recovered: true, abandoned: false, requeued: false, reason: null } as const;
  switch (observedPhase) {
    case 'Accepted':
      return { ...base, phase: 'Queued', requeued: true, reason: 'QueueAccepted' };
    case 'Staged':
      return { ...base, phase: 'Queued', requeued: true, reason: 'RollbackStaged' };
    case 'Queued':
      return { ...base, phase: 'Queued' };
    case 'Applied':
    case 'AppliedPendingConsumption':
      if (appliedBoundaryCommitted === true) {
        return { ...base, phase: 'Consumed', terminal_kind: 'Consumed', reason: 'BoundaryReceiptCommitted' };
      }
      if (appliedBoundaryCommitted === false) {
        return { ...base, phase: 'Queued', reason: 'MissingBoundaryReceipt' };
      }
      return { ...base, phase: observedPhase };
    default: {
      const terminal: InputTerminalKind | null = INPUT_TERMINAL_PHASES.includes(observedPhase)
        ? (observedPhase as InputTerminalKind)
        : null;
      return { ...base, phase: observedPhase, terminal_kind: terminal, recovered: false };
    }
  }
}
