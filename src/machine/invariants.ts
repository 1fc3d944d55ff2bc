/**
 * The machine invariants (`machine.md` §9.1, checked upstream by TLC and after every
 * apply) plus the state-checkable derived properties of §9.2 (named `derived_*`).
 *
 * R7: these must hold after every accepted transition; a recovered snapshot that violates
 * them is rejected.
 */
import type { MachineState, Phase } from './state.js';
import { FIRST_ADMISSION_SEQ, INPUT_TERMINAL_PHASES, OP_TERMINAL_STATUSES } from './state.js';
import { get, hasKey } from './collections.js';

/** One violated invariant: its upstream (or `derived_*`) name and what was wrong. */
export interface InvariantViolation {
  readonly invariant: string;
  readonly detail: string;
}

type Check = (s: MachineState, report: (detail: string) => void) => void;

const present = (v: unknown): boolean => v !== null;
const allOrNone = (values: readonly unknown[]): boolean =>
  values.every(present) || values.every((v) => !present(v));

// ---------------------------------------------------------------------------------------------
// §9.1 the 23 named invariants

const NAMED: ReadonlyArray<readonly [string, Check]> = [
  [
    'fence_requires_bound_runtime',
    (s, r) => {
      if (s.active_fence_token !== null && s.active_runtime_id === null) r('fence token set without a runtime id');
    },
  ],
  [
    'runtime_generation_requires_bound_runtime',
    (s, r) => {
      if (s.active_runtime_generation !== null && s.active_runtime_id === null) {
        r('runtime generation set without a runtime id');
      }
    },
  ],
  [
    'runtime_epoch_requires_registered_session',
    (s, r) => {
      if (s.active_runtime_epoch_id !== null && s.session_id === null) r('runtime epoch set without a session');
    },
  ],
  [
    'runtime_binding_identity_is_typed',
    (s, r) => {
      if (s.active_runtime_id !== null && s.active_runtime_generation === null && s.active_runtime_epoch_id === null) {
        r(`runtime ${s.active_runtime_id} bound without generation or epoch`);
      }
    },
  ],
  [
    'running_has_current_run',
    (s, r) => {
      if (s.lifecycle_phase === 'Running' && s.current_run_id === null) r('phase Running without a current run');
    },
  ],
  [
    'deferred_stop_requires_active_runtime_phase',
    (s, r) => {
      if (s.runtime_stop_deferred && s.lifecycle_phase !== 'Running' && s.lifecycle_phase !== 'Attached') {
        r(`runtime_stop_deferred in phase ${s.lifecycle_phase}`);
      }
    },
  ],
  [
    'unregister_drain_obligations_require_draining',
    (s, r) => {
      if (
        s.registration_phase !== 'Draining' &&
        (s.unregister_runtime_loop_drain_pending ||
          s.unregister_comms_drain_exit_pending ||
          s.unregister_completion_waiter_drain_pending ||
          s.unregister_teardown_retains_snapshot)
      ) {
        r(`unregister obligation open while registration_phase is ${s.registration_phase}`);
      }
    },
  ],
  [
    'current_run_only_while_running_or_retired',
    (s, r) => {
      if (s.current_run_id !== null && s.lifecycle_phase !== 'Running' && s.lifecycle_phase !== 'Retired') {
        r(`current run ${s.current_run_id} in phase ${s.lifecycle_phase}`);
      }
    },
  ],
  [
    'current_run_has_pre_run_phase',
    (s, r) => {
      if ((s.current_run_id === null) !== (s.pre_run_phase === null)) {
        r(`current_run_id ${s.current_run_id ?? 'None'} with pre_run_phase ${s.pre_run_phase ?? 'None'}`);
      }
    },
  ],
  [
    'staged_inputs_are_not_queued',
    (s, r) => {
      for (const [id, phase] of Object.entries(s.input_phases)) {
        if (phase === 'Staged' && hasKey(s.input_lane, id)) r(`staged input ${id} is in lane ${s.input_lane[id]}`);
      }
    },
  ],
  [
    'staged_inputs_have_run_association',
    (s, r) => {
      for (const [id, phase] of Object.entries(s.input_phases)) {
        if (phase === 'Staged' && !hasKey(s.input_run_associations, id)) r(`staged input ${id} has no run association`);
      }
    },
  ],
  [
    // External tool surfaces (staged surface operations, intent sequences) are out of scope
    // for this kernel and have no state fields, so the set of surfaces with a staged op is
    // always empty and the invariant holds vacuously.
    'staged_surface_ops_are_known_and_sequenced',
    () => undefined,
  ],
  [
    // Likewise: no external tool surface can be reload-staged, so this holds vacuously.
    'staged_reload_surfaces_are_active',
    () => undefined,
  ],
  [
    'peer_ingress_owner_consistency',
    (s, r) => {
      const comms = s.peer_ingress_comms_runtime_id !== null;
      const mob = s.peer_ingress_mob_id !== null;
      const expected = !comms && !mob ? 'Unattached' : comms && !mob ? 'SessionOwned' : comms && mob ? 'MobOwned' : null;
      if (expected !== s.peer_ingress_owner_kind) {
        r(
          `owner kind ${s.peer_ingress_owner_kind} with comms runtime ${comms ? 'present' : 'absent'} and mob id ${
            mob ? 'present' : 'absent'
          }`,
        );
      }
    },
  ],
  [
    'supervisor_binding_consistency',
    (s, r) => {
      const fields = [
        s.supervisor_binding_supervisor_id,
        s.supervisor_binding_epoch,
        s.supervisor_binding_token,
        s.supervisor_binding_issued_at,
        s.supervisor_binding_authority,
      ];
      const ok = s.supervisor_binding_kind === 'Bound' ? fields.every(present) : fields.every((v) => !present(v));
      if (!ok) r(`supervisor binding ${s.supervisor_binding_kind} with inconsistent binding fields`);
    },
  ],
  [
    'supervisor_revoke_pending_consistency',
    (s, r) => {
      if (!allOrNone([s.supervisor_revoke_pending_id, s.supervisor_revoke_pending_reason])) {
        r('pending-revoke fields partially present');
      }
    },
  ],
  [
    'supervisor_revoked_receipt_consistency',
    (s, r) => {
      if (!allOrNone([s.supervisor_revoked_receipt_id, s.supervisor_revoked_receipt_at])) {
        r('revoked-receipt fields partially present');
      }
    },
  ],
  [
    'supervisor_live_binding_excludes_revoked_receipt',
    (s, r) => {
      if (s.supervisor_binding_kind === 'Bound' && s.supervisor_revoked_receipt_id !== null) {
        r('bound supervisor with a revoked receipt');
      }
    },
  ],
  [
    'supervisor_authority_is_closed',
    (s, r) => {
      const bound = s.supervisor_binding_kind === 'Bound';
      const pending = s.supervisor_revoke_pending_id !== null;
      const receipt = s.supervisor_revoked_receipt_id !== null;
      const states = [bound && !pending && !receipt, !bound && pending && !receipt, !bound && !pending];
      if (states.filter(Boolean).length !== 1) {
        r(`binding ${s.supervisor_binding_kind}, revoke ${pending ? 'pending' : 'none'}, receipt ${receipt ? 'present' : 'none'}`);
      }
    },
  ],
  [
    'supervisor_publish_pending_consistency',
    (s, r) => {
      if (!allOrNone([s.supervisor_publish_pending_id, s.supervisor_publish_pending_epoch])) {
        r('publish-pending fields partially present');
      }
    },
  ],
  [
    'supervisor_rotation_receipt_consistency',
    (s, r) => {
      const active = s.supervisor_rotation_phase !== 'None';
      if (active !== (s.supervisor_rotation_operation_id !== null)) {
        r(`rotation phase ${s.supervisor_rotation_phase} with operation id ${s.supervisor_rotation_operation_id ?? 'absent'}`);
      }
      if ((s.supervisor_rotation_phase === 'Rejected') !== (s.supervisor_rotation_rejection !== null)) {
        r(`rotation phase ${s.supervisor_rotation_phase} with rejection ${s.supervisor_rotation_rejection ?? 'absent'}`);
      }
    },
  ],
  [
    'supervisor_rotation_terminal_receipts_closed_shape',
    (s, r) => {
      for (const [op, receipt] of Object.entries(s.supervisor_rotation_terminal_receipts)) {
        const rejected = hasKey(s.supervisor_rotation_terminal_rejections, op);
        if (receipt === 'Completed' && rejected) r(`completed rotation ${op} carries a rejection`);
        if (receipt === 'Rejected' && !rejected) r(`rejected rotation ${op} has no rejection`);
      }
      for (const op of Object.keys(s.supervisor_rotation_terminal_rejections)) {
        if (!hasKey(s.supervisor_rotation_terminal_receipts, op)) r(`rejection for unknown rotation ${op}`);
      }
    },
  ],
  [
    'supervisor_rotation_phase_shape',
    (s, r) => {
      const revokePending = s.supervisor_revoke_pending_id !== null;
      const publishPending = s.supervisor_publish_pending_id !== null;
      switch (s.supervisor_rotation_phase) {
        case 'PreviousRevokePending':
          if (!revokePending) r('PreviousRevokePending without a pending revoke');
          break;
        case 'NextPublishPending':
          if (!publishPending || revokePending) r('NextPublishPending needs a pending publish and no pending revoke');
          break;
        case 'Completed':
          if (publishPending || s.supervisor_binding_kind !== 'Bound') {
            r('Completed rotation needs a bound supervisor and no pending publish');
          }
          break;
        case 'Rejected':
          if (publishPending) r('Rejected rotation with a pending publish');
          break;
        case 'None':
          break;
      }
    },
  ],
];

// ---------------------------------------------------------------------------------------------
// §9.2 derived, state-checkable properties

const isTerminalInputPhase = (p: string): boolean => (INPUT_TERMINAL_PHASES as readonly string[]).includes(p);
const ACTIVE_OP_STATUSES: readonly string[] = ['Provisioning', 'Running', 'Retiring'];

const DERIVED: ReadonlyArray<readonly [string, Check]> = [
  [
    // §9.2.2: terminal inputs have neither a live lane nor a recovery lane.
    'derived_lane_exclusivity',
    (s, r) => {
      for (const [id, phase] of Object.entries(s.input_phases)) {
        if (!isTerminalInputPhase(phase)) continue;
        if (hasKey(s.input_lane, id)) r(`terminal input ${id} (${phase}) is in lane ${s.input_lane[id]}`);
        if (hasKey(s.input_recovery_lanes, id)) r(`terminal input ${id} (${phase}) has a recovery lane`);
      }
    },
  ],
  [
    // §9.2.4, checked for inputs whose machine phase is terminal.
    'derived_terminal_payload_shape',
    (s, r) => {
      for (const [id, phase] of Object.entries(s.input_phases)) {
        if (!isTerminalInputPhase(phase)) continue;
        const kind = get(s.input_terminal_kind, id);
        if (kind !== phase) {
          r(`input ${id} is ${phase} but its terminal kind is ${kind ?? 'absent'}`);
          continue;
        }
        const by = hasKey(s.input_superseded_by, id);
        const agg = hasKey(s.input_aggregate_id, id);
        const reason = get(s.input_abandon_reason, id);
        const abandonCount = get(s.input_abandon_attempt_count, id);
        const has = { superseded_by: by, aggregate_id: agg, abandon_reason: reason !== null };
        const allowed: Record<string, keyof typeof has | null> = {
          Consumed: null,
          Superseded: 'superseded_by',
          Coalesced: 'aggregate_id',
          Abandoned: 'abandon_reason',
        };
        const own = allowed[kind] ?? null;
        for (const [field, set] of Object.entries(has)) {
          if (field === own && !set) r(`${kind} input ${id} lacks ${field}`);
          if (field !== own && set) r(`${kind} input ${id} carries ${field}`);
        }
        if (kind !== 'Abandoned' && abandonCount !== null) r(`${kind} input ${id} carries abandon_attempt_count`);
        if (kind === 'Abandoned' && reason === 'MaxAttemptsExhausted') {
          const attempts = get(s.input_attempt_counts, id);
          if (abandonCount === null || attempts === null || abandonCount !== attempts || attempts < s.max_stage_attempts) {
            r(
              `MaxAttemptsExhausted input ${id}: abandon_attempt_count ${abandonCount ?? 'absent'}, attempts ${
                attempts ?? 'absent'
              }, max ${s.max_stage_attempts}`,
            );
          }
        }
      }
    },
  ],
  [
    // §9.2.6: priority tokens sort before normal tokens; tokens are unique; counters ahead of tokens.
    'derived_admission_order',
    (s, r) => {
      if (s.next_admission_seq < FIRST_ADMISSION_SEQ) r(`next_admission_seq ${s.next_admission_seq} below ${FIRST_ADMISSION_SEQ}`);
      if (s.next_priority_admission_seq >= FIRST_ADMISSION_SEQ) {
        r(`next_priority_admission_seq ${s.next_priority_admission_seq} not below ${FIRST_ADMISSION_SEQ}`);
      }
      const owners = new Map<number, string>();
      for (const [id, seq] of Object.entries(s.input_admission_seq)) {
        if (!Number.isInteger(seq) || seq < 0) r(`input ${id} has invalid admission token ${seq}`);
        if (seq >= FIRST_ADMISSION_SEQ && seq >= s.next_admission_seq) {
          r(`input ${id} token ${seq} not below next_admission_seq ${s.next_admission_seq}`);
        }
        if (!hasKey(s.input_phases, id)) continue;
        const other = owners.get(seq);
        if (other !== undefined) r(`inputs ${other} and ${id} share admission token ${seq}`);
        else owners.set(seq, id);
      }
    },
  ],
  [
    // §9.2.7: admission_idempotency_inputs[k] == id ⇔ input_idempotency_keys[id] == k.
    'derived_idempotency_bijection',
    (s, r) => {
      for (const [key, id] of Object.entries(s.admission_idempotency_inputs)) {
        if (get(s.input_idempotency_keys, id) !== key) r(`key ${key} → ${id} has no reverse entry`);
      }
      for (const [id, key] of Object.entries(s.input_idempotency_keys)) {
        if (get(s.admission_idempotency_inputs, key) !== id) r(`input ${id} → key ${key} has no forward entry`);
      }
    },
  ],
  [
    // §9.2.13: an unresolved completion result always names its run.
    'derived_correlation_slot',
    (s, r) => {
      if (!s.runtime_completion_result_resolved && s.runtime_completion_result_run_id === null) {
        r('completion result unresolved with an empty correlation slot');
      }
    },
  ],
  [
    // §9.2.14: active count, terminal op records, unique sequences and claims.
    'derived_ops_accounting',
    (s, r) => {
      const statuses = Object.entries(s.op_statuses);
      const active = statuses.filter(([, st]) => ACTIVE_OP_STATUSES.includes(st)).length;
      if (active !== s.active_op_count) r(`active_op_count ${s.active_op_count} but ${active} ops are active`);
      const seqOwner = new Map<number, string>();
      for (const [op, status] of statuses) {
        if (!OP_TERMINAL_STATUSES.includes(status)) continue;
        const outcome = get(s.op_terminal_outcomes, op);
        const payload = get(s.op_terminal_payload, op);
        const seq = get(s.op_completion_seq, op);
        if (outcome === null) r(`terminal op ${op} has no outcome`);
        else if (outcome !== status) r(`terminal op ${op} is ${status} with outcome ${outcome}`);
        if (payload === null) r(`terminal op ${op} has no payload`);
        else if (outcome !== null && payload.kind !== outcome) r(`op ${op} outcome ${outcome} with ${payload.kind} payload`);
        if (seq === null) {
          r(`terminal op ${op} has no completion sequence`);
        } else {
          if (seq > s.next_completion_seq) r(`op ${op} sequence ${seq} beyond next_completion_seq ${s.next_completion_seq}`);
          const other = seqOwner.get(seq);
          if (other !== undefined) r(`ops ${other} and ${op} share completion sequence ${seq}`);
          else seqOwner.set(seq, op);
        }
      }
      if (new Set(s.completion_sequence_claims).size !== s.completion_sequence_claims.length) {
        r('completion_sequence_claims has duplicates');
      }
    },
  ],
  [
    // §9.2.15: wait_active ⇔ wait_request_id ≠ None ⇔ wait_run_id ≠ None.
    'derived_wait_barrier',
    (s, r) => {
      const req = s.wait_request_id !== null;
      const run = s.wait_run_id !== null;
      if (s.wait_active !== req || req !== run) {
        r(`wait_active ${String(s.wait_active)}, request ${req ? 'present' : 'absent'}, run ${run ? 'present' : 'absent'}`);
      }
    },
  ],
  [
    // §9.2.17 (static part): revisions are non-negative integers.
    'derived_visibility_revisions',
    (s, r) => {
      const revs: Record<string, number> = {
        active_visibility_revision: s.active_visibility_revision,
        staged_visibility_revision: s.staged_visibility_revision,
        next_staged_visibility_revision: s.next_staged_visibility_revision,
      };
      for (const [name, v] of Object.entries(revs)) {
        if (!Number.isInteger(v) || v < 0) r(`${name} is ${v}`);
      }
    },
  ],
];

/** Names of the 23 upstream invariants of `machine.md` §9.1, in table order. */
export const MACHINE_INVARIANT_NAMES: readonly string[] = NAMED.map(([name]) => name);
/** Names of the derived §9.2 checks. */
export const DERIVED_INVARIANT_NAMES: readonly string[] = DERIVED.map(([name]) => name);

/** Every violated invariant of `state` (empty when the state is sound). */
export function checkInvariants(state: MachineState): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  for (const [invariant, check] of [...NAMED, ...DERIVED]) {
    check(state, (detail) => out.push({ invariant, detail }));
  }
  return out;
}

/** Throws an `Error` listing every violated invariant of `state`. */
export function assertInvariants(state: MachineState): void {
  const violations = checkInvariants(state);
  if (violations.length === 0) return;
  const phase: Phase = state.lifecycle_phase;
  const list = violations.map((v) => `${v.invariant}: ${v.detail}`).join('; ');
  throw new Error(`machine invariants violated in phase ${phase}: ${list}`);
}
