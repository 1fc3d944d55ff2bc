import { describe, expect, it } from 'vitest';
import {
  assertInvariants,
  checkInvariants,
  DERIVED_INVARIANT_NAMES,
  MACHINE_INVARIANT_NAMES,
} from '../../src/machine/invariants.js';
import { reduce } from '../../src/machine/reduce.js';
import { initialMachineState, type MachineState } from '../../src/machine/state.js';

const base = initialMachineState();

/** An Idle, registered and bound session with a little of everything, all consistent. */
const idle = (over: Partial<MachineState> = {}): MachineState => ({
  ...base,
  lifecycle_phase: 'Idle',
  session_id: 's-1',
  active_runtime_epoch_id: 'epoch-1',
  ...over,
});

const names = (s: MachineState): string[] => checkInvariants(s).map((v) => v.invariant);

function expectOnly(state: MachineState, invariant: string): void {
  const found = checkInvariants(state);
  expect(found.length, JSON.stringify(found)).toBeGreaterThan(0);
  expect(new Set(found.map((v) => v.invariant))).toEqual(new Set([invariant]));
  for (const v of found) expect(v.detail.length).toBeGreaterThan(0);
}

const supervisorBound = {
  supervisor_binding_kind: 'Bound',
  supervisor_binding_supervisor_id: 'sup',
  supervisor_binding_epoch: 'e',
  supervisor_binding_token: 't',
  supervisor_binding_issued_at: 1,
  supervisor_binding_authority: 'auth',
} as const;

describe('invariant catalogue', () => {
  it('names all 23 upstream invariants of machine.md §9.1', () => {
    expect(MACHINE_INVARIANT_NAMES).toHaveLength(23);
    expect(new Set(MACHINE_INVARIANT_NAMES).size).toBe(23);
    expect(DERIVED_INVARIANT_NAMES.every((n) => n.startsWith('derived_'))).toBe(true);
  });

  it('reports nothing for the initial state, an Idle registered state and a sound rich state', () => {
    expect(checkInvariants(base)).toEqual([]);
    expect(checkInvariants(idle())).toEqual([]);
    const step = reduce(idle(), {
      type: 'PrepareBindings',
      agent_runtime_id: 'rt',
      fence_token: 1,
      generation: 1,
      runtime_epoch_id: 'epoch-1',
      session_id: 's-1',
    });
    expect(step.ok).toBe(true);
    if (step.ok) expect(checkInvariants(step.state)).toEqual([]);
    const rich = idle({
      lifecycle_phase: 'Running',
      active_runtime_id: 'rt',
      active_fence_token: 1,
      active_runtime_generation: 2,
      current_run_id: 'run-1',
      pre_run_phase: 'Idle',
      runtime_stop_deferred: true,
      input_phases: { a: 'Queued', b: 'Staged', c: 'Consumed', d: 'Abandoned', e: 'Superseded', f: 'Coalesced' },
      input_lane: { a: 'Queue' },
      input_recovery_lanes: { a: 'Queue', b: 'Steer' },
      input_run_associations: { b: 'run-1', d: 'run-0' },
      input_terminal_kind: { c: 'Consumed', d: 'Abandoned', e: 'Superseded', f: 'Coalesced' },
      input_abandon_reason: { d: 'MaxAttemptsExhausted' },
      input_abandon_attempt_count: { d: 3 },
      input_attempt_counts: { a: 0, b: 1, d: 3 },
      input_superseded_by: { e: 'x' },
      input_aggregate_id: { f: 'y' },
      input_admission_seq: { a: 1_000_000_000, b: 999_999_999, c: 1_000_000_001 },
      next_admission_seq: 1_000_000_002,
      next_priority_admission_seq: 999_999_998,
      admission_idempotency_inputs: { k: 'a' },
      input_idempotency_keys: { a: 'k' },
      runtime_completion_result_run_id: 'run-0',
      runtime_completion_result_resolved: false,
      op_statuses: { o1: 'Running', o2: 'Completed' },
      op_terminal_outcomes: { o2: 'Completed' },
      op_terminal_payload: { o2: { kind: 'Completed', result: 'ok' } },
      op_completion_seq: { o2: 1 },
      completion_sequence_claims: [1],
      next_completion_seq: 1,
      active_op_count: 1,
      wait_active: true,
      wait_request_id: 'w',
      wait_run_id: 'run-1',
      peer_ingress_owner_kind: 'MobOwned',
      peer_ingress_comms_runtime_id: 'c',
      peer_ingress_mob_id: 'm',
      ...supervisorBound,
    });
    expect(checkInvariants(rich)).toEqual([]);
  });
});

describe('§9.1 invariants', () => {
  const cases: ReadonlyArray<readonly [string, MachineState]> = [
    ['fence_requires_bound_runtime', idle({ active_fence_token: 1 })],
    ['runtime_generation_requires_bound_runtime', idle({ active_runtime_generation: 1 })],
    ['runtime_epoch_requires_registered_session', idle({ session_id: null })],
    [
      'runtime_binding_identity_is_typed',
      idle({ active_runtime_id: 'rt', active_runtime_epoch_id: null, active_runtime_generation: null }),
    ],
    ['running_has_current_run', idle({ lifecycle_phase: 'Running' })],
    ['deferred_stop_requires_active_runtime_phase', idle({ runtime_stop_deferred: true })],
    ['unregister_drain_obligations_require_draining', idle({ unregister_teardown_retains_snapshot: true })],
    [
      'current_run_only_while_running_or_retired',
      idle({ lifecycle_phase: 'Attached', current_run_id: 'run-1', pre_run_phase: 'Idle' }),
    ],
    ['current_run_has_pre_run_phase', idle({ lifecycle_phase: 'Running', current_run_id: 'run-1' })],
    [
      'staged_inputs_are_not_queued',
      idle({ input_phases: { a: 'Staged' }, input_lane: { a: 'Queue' }, input_run_associations: { a: 'r' } }),
    ],
    ['staged_inputs_have_run_association', idle({ input_phases: { a: 'Staged' } })],
    ['peer_ingress_owner_consistency', idle({ peer_ingress_owner_kind: 'SessionOwned' })],
    ['supervisor_binding_consistency', idle({ supervisor_binding_token: 't' })],
    ['supervisor_revoke_pending_consistency', idle({ supervisor_revoke_pending_reason: 'r' })],
    ['supervisor_revoked_receipt_consistency', idle({ supervisor_revoked_receipt_at: 5 })],
    [
      'supervisor_live_binding_excludes_revoked_receipt',
      // Bound + receipt also breaks the closed-authority shape, so check membership below.
      idle({ ...supervisorBound, supervisor_revoked_receipt_id: 'r', supervisor_revoked_receipt_at: 1 }),
    ],
    [
      'supervisor_authority_is_closed',
      idle({ ...supervisorBound, supervisor_revoke_pending_id: 'p', supervisor_revoke_pending_reason: 'why' }),
    ],
    ['supervisor_publish_pending_consistency', idle({ supervisor_publish_pending_epoch: 'e' })],
    ['supervisor_rotation_receipt_consistency', idle({ supervisor_rotation_rejection: 'nope' })],
    [
      'supervisor_rotation_terminal_receipts_closed_shape',
      idle({ supervisor_rotation_terminal_receipts: { op: 'Rejected' } }),
    ],
    [
      'supervisor_rotation_phase_shape',
      idle({ supervisor_rotation_phase: 'PreviousRevokePending', supervisor_rotation_operation_id: 'op' }),
    ],
  ];

  it.each(cases)('%s is reported', (invariant, state) => {
    expect(names(state)).toContain(invariant);
    if (
      invariant !== 'supervisor_live_binding_excludes_revoked_receipt' &&
      invariant !== 'current_run_only_while_running_or_retired'
    ) {
      expectOnly(state, invariant);
    }
  });

  it('covers every named invariant except the two vacuous external-surface ones', () => {
    const covered = new Set(cases.map(([n]) => n));
    const uncovered = MACHINE_INVARIANT_NAMES.filter((n) => !covered.has(n));
    expect(uncovered.sort()).toEqual(['staged_reload_surfaces_are_active', 'staged_surface_ops_are_known_and_sequenced']);
  });

  it('holds vacuously for external tool surfaces (no state fields in this kernel)', () => {
    const anything = idle({ lifecycle_phase: 'Running' });
    expect(names(anything)).not.toContain('staged_surface_ops_are_known_and_sequenced');
    expect(names(anything)).not.toContain('staged_reload_surfaces_are_active');
  });

  it('accepts the other legal peer-ingress and supervisor shapes', () => {
    expect(checkInvariants(idle({ peer_ingress_owner_kind: 'SessionOwned', peer_ingress_comms_runtime_id: 'c' }))).toEqual([]);
    expect(names(idle({ peer_ingress_owner_kind: 'Unattached', peer_ingress_mob_id: 'm' }))).toEqual([
      'peer_ingress_owner_consistency',
    ]);
    expect(
      checkInvariants(
        idle({
          supervisor_revoke_pending_id: 'p',
          supervisor_revoke_pending_reason: 'why',
          supervisor_rotation_phase: 'PreviousRevokePending',
          supervisor_rotation_operation_id: 'op',
        }),
      ),
    ).toEqual([]);
    expect(
      checkInvariants(
        idle({
          supervisor_rotation_phase: 'Rejected',
          supervisor_rotation_operation_id: 'op',
          supervisor_rotation_rejection: 'denied',
          supervisor_rotation_terminal_receipts: { op: 'Rejected', op0: 'Completed' },
          supervisor_rotation_terminal_rejections: { op: 'denied' },
        }),
      ),
    ).toEqual([]);
    expect(checkInvariants(idle({ registration_phase: 'Draining', unregister_comms_drain_exit_pending: true }))).toEqual([]);
  });
});

describe('§9.2 derived properties', () => {
  const cases: ReadonlyArray<readonly [string, string, MachineState]> = [
    [
      'derived_lane_exclusivity',
      'terminal input in a live lane',
      idle({ input_phases: { a: 'Consumed' }, input_terminal_kind: { a: 'Consumed' }, input_lane: { a: 'Queue' } }),
    ],
    [
      'derived_lane_exclusivity',
      'terminal input with a recovery lane',
      idle({
        input_phases: { a: 'Consumed' },
        input_terminal_kind: { a: 'Consumed' },
        input_recovery_lanes: { a: 'Steer' },
      }),
    ],
    [
      'derived_terminal_payload_shape',
      'terminal phase without matching kind',
      idle({ input_phases: { a: 'Consumed' } }),
    ],
    [
      'derived_terminal_payload_shape',
      'Consumed with a superseded_by payload',
      idle({ input_phases: { a: 'Consumed' }, input_terminal_kind: { a: 'Consumed' }, input_superseded_by: { a: 'b' } }),
    ],
    [
      'derived_terminal_payload_shape',
      'Superseded without superseded_by',
      idle({ input_phases: { a: 'Superseded' }, input_terminal_kind: { a: 'Superseded' } }),
    ],
    [
      'derived_terminal_payload_shape',
      'Coalesced with an abandon reason',
      idle({
        input_phases: { a: 'Coalesced' },
        input_terminal_kind: { a: 'Coalesced' },
        input_aggregate_id: { a: 'b' },
        input_abandon_reason: { a: 'Reset' },
      }),
    ],
    [
      'derived_terminal_payload_shape',
      'Abandoned without a reason',
      idle({ input_phases: { a: 'Abandoned' }, input_terminal_kind: { a: 'Abandoned' } }),
    ],
    [
      'derived_terminal_payload_shape',
      'MaxAttemptsExhausted below the cap',
      idle({
        input_phases: { a: 'Abandoned' },
        input_terminal_kind: { a: 'Abandoned' },
        input_abandon_reason: { a: 'MaxAttemptsExhausted' },
        input_abandon_attempt_count: { a: 2 },
        input_attempt_counts: { a: 2 },
      }),
    ],
    [
      'derived_admission_order',
      'duplicate tokens among tracked inputs',
      idle({
        input_phases: { a: 'Queued', b: 'Queued' },
        input_lane: { a: 'Queue', b: 'Queue' },
        input_recovery_lanes: { a: 'Queue', b: 'Queue' },
        input_admission_seq: { a: 1_000_000_000, b: 1_000_000_000 },
        next_admission_seq: 1_000_000_001,
      }),
    ],
    [
      'derived_admission_order',
      'normal token not below next_admission_seq',
      idle({ input_phases: { a: 'Queued' }, input_admission_seq: { a: 1_000_000_000 } }),
    ],
    ['derived_admission_order', 'priority counter in the normal range', idle({ next_priority_admission_seq: 1_000_000_000 })],
    ['derived_idempotency_bijection', 'forward without reverse', idle({ admission_idempotency_inputs: { k: 'a' } })],
    [
      'derived_idempotency_bijection',
      'reverse pointing elsewhere',
      idle({ admission_idempotency_inputs: { k: 'a' }, input_idempotency_keys: { a: 'k2' } }),
    ],
    ['derived_correlation_slot', 'unresolved empty slot', idle({ runtime_completion_result_resolved: false })],
    ['derived_ops_accounting', 'active count mismatch', idle({ op_statuses: { o: 'Provisioning' } })],
    ['derived_ops_accounting', 'terminal op without records', idle({ op_statuses: { o: 'Failed' } })],
    [
      'derived_ops_accounting',
      'payload variant differs from outcome',
      idle({
        op_statuses: { o: 'Failed' },
        op_terminal_outcomes: { o: 'Failed' },
        op_terminal_payload: { o: { kind: 'Completed', result: 'x' } },
        op_completion_seq: { o: 0 },
      }),
    ],
    [
      'derived_ops_accounting',
      'shared completion sequence beyond next',
      idle({
        op_statuses: { o: 'Retired', p: 'Retired' },
        op_terminal_outcomes: { o: 'Retired', p: 'Retired' },
        op_terminal_payload: { o: { kind: 'Retired' }, p: { kind: 'Retired' } },
        op_completion_seq: { o: 4, p: 4 },
      }),
    ],
    ['derived_ops_accounting', 'duplicate claims', idle({ completion_sequence_claims: [1, 1], next_completion_seq: 2 })],
    ['derived_wait_barrier', 'active without ids', idle({ wait_active: true })],
    ['derived_wait_barrier', 'request without run', idle({ wait_request_id: 'w' })],
    ['derived_visibility_revisions', 'negative revision', idle({ staged_visibility_revision: -1 })],
  ];

  it.each(cases)('%s: %s', (invariant, _what, state) => {
    expectOnly(state, invariant);
  });

  it('covers every derived check', () => {
    expect(new Set(cases.map(([n]) => n))).toEqual(new Set(DERIVED_INVARIANT_NAMES));
  });
});

describe('assertInvariants', () => {
  it('passes a sound state and throws listing every violation', () => {
    expect(() => assertInvariants(idle())).not.toThrow();
    const bad = idle({ active_fence_token: 1, wait_active: true });
    expect(() => assertInvariants(bad)).toThrowError(/fence_requires_bound_runtime.*derived_wait_barrier/);
  });
});
