/**
 * Cold recovery of a persisted session (persistence.md §4.5, machine.md §2.6 R7).
 *
 * `RestoreDurableSnapshot` is the only way a fresh authority takes over a
 * persisted machine document: it installs the snapshot *normalised* for a
 * process that has no executor, no runtime loop, no run in flight and no
 * drain task — live-only phases collapse to their durable phase
 * (`classifyRuntimeLifecycleDurability`), the run/turn fields are reset, the
 * executor claim drops back to `Queuing`, an interrupted unregister window is
 * abandoned (the session stays registered; unregister can be retried), a
 * running drain is `Stopped` and an active wait-all barrier is cleared.
 * Per-input facts are dropped from the snapshot: the shell rebuilds each
 * input from its stored row (`RecoverAdmittedInput`, `RecoverInputLifecycle`)
 * and then re-queues staged and receipt-less applied inputs with ordinary
 * input transitions.
 *
 * Guard `snapshot_invariants_hold`: the normalised snapshot must satisfy every
 * machine.md §9.1 invariant (upstream's `RecoveredStateInvariantRejected`).
 */
import { guard, type ArmTable } from '../arm.js';
import { classifyRuntimeLifecycleDurability } from '../classify.js';
import { checkInvariants } from '../invariants.js';
import { initialMachineState, withoutInputFacts, type MachineState } from '../state.js';

export interface RestoreDurableSnapshot {
  readonly type: 'RestoreDurableSnapshot';
  readonly snapshot: MachineState;
}

export type RecoveryInput = RestoreDurableSnapshot;

/** Emitted once the snapshot is installed. */
export interface DurableSnapshotRestored {
  readonly type: 'DurableSnapshotRestored';
  readonly recovered_phase: MachineState['lifecycle_phase'];
  readonly persisted_phase: MachineState['lifecycle_phase'];
}

export type RecoveryEffect = DurableSnapshotRestored;

/** Run/turn fields that describe live execution and do not survive a process. */
export const LIVE_RUN_FIELDS = [
  'current_run_id',
  'pre_run_phase',
  'turn_phase',
  'primitive_kind',
  'admitted_content_shape',
  'vision_enabled',
  'image_tool_results_enabled',
  'tool_calls_pending',
  'pending_op_refs',
  'barrier_operation_ids',
  'has_barrier_ops',
  'barrier_satisfied',
  'boundary_count',
  'cancel_after_boundary',
  'boundary_cancel_dispatch_pending',
  'turn_terminal_run_id',
  'terminal_outcome',
  'terminal_cause_kind',
  'last_runtime_apply_failure_cause',
  'last_runtime_apply_failure_message',
  'runtime_completion_result_run_id',
  'runtime_completion_result_resolved',
  'extraction_attempts',
  'max_extraction_retries',
  'extraction_active',
  'llm_retry_attempt',
  'llm_retry_max_retries',
  'llm_retry_selected_delay_ms',
  'llm_retry_last_failure_kind',
  'live_boundary_context_sequence_by_run',
  'runtime_stop_deferred',
  'unregister_runtime_loop_drain_pending',
  'unregister_comms_drain_exit_pending',
  'unregister_completion_waiter_drain_pending',
  'unregister_teardown_retains_snapshot',
  'unregister_runtime_loop_forced_abort',
  'unregister_comms_drain_forced_abort',
  'wait_active',
  'wait_request_id',
  'wait_run_id',
  'wait_operation_ids',
  'wait_operation_id_tokens',
] as const satisfies readonly (keyof MachineState)[];

/** The snapshot as a fresh process must see it (pure). */
const FRESH = Object.freeze(initialMachineState());

export function normalizeRecoveredSnapshot(snapshot: MachineState): MachineState {
  const fresh = FRESH;
  // Inputs are recovered from their own rows afterwards; the document's copy is not trusted.
  const out = withoutInputFacts(snapshot) as unknown as Record<string, unknown>;
  for (const f of LIVE_RUN_FIELDS) out[f] = fresh[f];
  out.lifecycle_phase = classifyRuntimeLifecycleDurability(snapshot.lifecycle_phase, snapshot.pre_run_phase);
  out.registration_phase = 'Queuing';
  if (snapshot.drain_phase === 'Running') out.drain_phase = 'Stopped';
  return out as unknown as MachineState;
}

export const recoveryArms: ArmTable<RecoveryInput> = {
  RestoreDurableSnapshot: [
    {
      name: 'RestoreDurableSnapshot',
      from: ['Initializing'],
      guards: [
        guard('snapshot_has_session', (_s, i: RestoreDurableSnapshot) => i.snapshot.session_id !== null),
        guard('snapshot_invariants_hold', (_s, i: RestoreDurableSnapshot) => checkInvariants(normalizeRecoveredSnapshot(i.snapshot)).length === 0),
      ],
      update: (d, i) => {
        const n = normalizeRecoveredSnapshot(i.snapshot) as unknown as Record<string, unknown>;
        const target = d as unknown as Record<string, unknown>;
        for (const key of Object.keys(n)) target[key] = n[key];
      },
      // The phase is part of the installed snapshot.
      to: 'by-update',
      emit: (post, i) => [
        { type: 'DurableSnapshotRestored', recovered_phase: post.lifecycle_phase, persisted_phase: i.snapshot.lifecycle_phase },
      ],
    },
  ],
};
