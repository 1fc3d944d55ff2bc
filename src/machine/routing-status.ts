/**
 * `SessionModelRoutingStatus` (`commands.md` §3.5.13): a pure projection of the
 * model-routing fields of {@link MachineState}. No machine input is involved
 * (a surface-only query, `machine.md` §0 R2).
 */
import type { MachineState } from './state.js';

/** Duration of an active finite turn override: the turns still to run (≥ 1). */
export interface ActiveTurnOverrideDuration {
  readonly kind: 'turns';
  readonly turns: number;
}

/** An active finite switch-turn override. */
export interface ActiveTurnOverride {
  /** Override id; in this kernel the request id of the switch that created it. */
  readonly id: string;
  readonly kind: {
    readonly kind: 'finite_switch_turn';
    readonly request_id: string;
    readonly duration: ActiveTurnOverrideDuration;
  };
  readonly target_model: string;
  readonly topology_epoch: number;
}

/** An active image-operation override. */
export interface ActiveOperationOverride {
  /** Override id; in this kernel the operation id. */
  readonly id: string;
  readonly kind: { readonly kind: 'image_operation'; readonly operation_id: string };
  readonly target_model: string;
  readonly topology_epoch: number;
}

/** Duration of a pending switch: `finite` (`one_turn` or `turns{n}`) or `until_changed`. */
export type PendingSwitchDuration =
  | { readonly kind: 'finite'; readonly duration: { readonly kind: 'one_turn' } | { readonly kind: 'turns'; readonly turns: number } }
  | { readonly kind: 'until_changed' };

/** A switch-turn request waiting for its boundary. */
export interface PendingSwitchTurn {
  readonly request_id: string;
  readonly target_model: string;
  readonly duration: PendingSwitchDuration;
  /** The public status only knows this phase (§3.5.13), whatever the internal pending phase. */
  readonly phase: 'pending_for_boundary';
}

/** The public model-routing status of a session. */
export interface SessionModelRoutingStatus {
  /** Baseline model; empty string if never configured. */
  readonly baseline_model: string;
  /** Operation override target ▸ turn override target ▸ baseline. */
  readonly effective_model: string;
  readonly active_turn_override?: ActiveTurnOverride;
  readonly active_operation_override?: ActiveOperationOverride;
  readonly pending_switch_turn?: PendingSwitchTurn;
}

/**
 * Projects the routing status of `state` (`commands.md` §3.5.13).
 *
 * Override ids are the request / operation ids (not UUIDs), so the upstream
 * rule "ids that are not UUIDs are omitted" does not apply here.
 *
 * @example
 * ```ts
 * modelRoutingStatus(state).effective_model; // 'model-b' while a switch to model-b is active
 * ```
 */
export function modelRoutingStatus(state: MachineState): SessionModelRoutingStatus {
  const baseline = state.model_routing_baseline_model ?? '';
  const epoch = state.model_routing_topology_epoch;

  let turn: ActiveTurnOverride | undefined;
  if (state.turn_override_id !== null && state.turn_target_model !== null) {
    turn = {
      id: state.turn_override_id,
      kind: {
        kind: 'finite_switch_turn',
        request_id: state.turn_request_id ?? state.turn_override_id,
        duration: { kind: 'turns', turns: state.turn_remaining_turns ?? 1 },
      },
      target_model: state.turn_target_model,
      topology_epoch: epoch,
    };
  }

  let operation: ActiveOperationOverride | undefined;
  if (state.operation_override_id !== null && state.operation_target_model !== null) {
    operation = {
      id: state.operation_override_id,
      kind: { kind: 'image_operation', operation_id: state.operation_override_id },
      target_model: state.operation_target_model,
      topology_epoch: epoch,
    };
  }

  let pending: PendingSwitchTurn | undefined;
  if (state.pending_switch_request_id !== null && state.pending_switch_target_model !== null) {
    const n = state.pending_switch_turns;
    pending = {
      request_id: state.pending_switch_request_id,
      target_model: state.pending_switch_target_model,
      duration:
        n === null
          ? { kind: 'until_changed' }
          : { kind: 'finite', duration: n === 1 ? { kind: 'one_turn' } : { kind: 'turns', turns: n } },
      phase: 'pending_for_boundary',
    };
  }

  return {
    baseline_model: baseline,
    effective_model: operation?.target_model ?? turn?.target_model ?? baseline,
    ...(turn ? { active_turn_override: turn } : {}),
    ...(operation ? { active_operation_override: operation } : {}),
    ...(pending ? { pending_switch_turn: pending } : {}),
  };
}
