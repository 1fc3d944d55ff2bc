/**
 * Model routing, image operations and LLM identity (`commands.md` §2.16,
 * §2.17, §3.2.15, §3.5.12–3.5.19, §4.5).
 *
 * Every input here is a pure bookkeeping step on the model-routing fields of
 * {@link MachineState}. Decision orders of the specification (first match wins)
 * are encoded as separate arms, in the specified order, so a rejection names the
 * exact guard that refused.
 *
 * Shared vocabulary used by the guards:
 * - "baseline known" — `model_routing_baseline_model ≠ null`;
 * - "realtime conflict" — `realtime_intent_present ∧ ¬target_realtime_capable ∧ ¬realtime_detach_allowed`;
 * - "approval satisfied" — `¬requires_approval ∨ (approval_available ∧ ¬approval_denied)`;
 * - "scoped override conflict" (switch turns) — a turn override, an operation
 *   override or a pending switch already exists.
 */
import type { Draft } from '../draft.js';
import { guard, INGRESS_PHASES, LIVE_PHASES, NON_TERMINAL_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import { get } from '../collections.js';
import type {
  ApprovalParentKind,
  ApprovalPhase,
  ImageOperationPhase,
  ImageTerminalClass,
  MachineState,
  Phase,
  RoutingDenialReason,
  SessionLlmCapabilitySurface,
  SessionLlmIdentity,
} from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** `ConfigureModelRoutingBaseline` (§3.5.12): install the baseline model and its realtime capability. */
export interface SetModelRoutingBaseline {
  readonly type: 'SetModelRoutingBaseline';
  readonly baseline_model: string;
  readonly realtime_capable: boolean;
}

/**
 * Approval facts of a routing request (§2.17): the public
 * `ModelRoutingApprovalDisposition` mapped to three booleans.
 */
export interface RoutingApprovalFacts {
  readonly requires_approval: boolean;
  readonly approval_available: boolean;
  readonly approval_denied: boolean;
}

/** Realtime facts of a routing request (`ModelRoutingRealtimePolicy`, §2.17). */
export interface RoutingRealtimeFacts {
  readonly target_realtime_capable: boolean;
  readonly realtime_detach_allowed: boolean;
}

/** `RequestSwitchTurn` with a finite duration (§3.5.14): switch model for `turns` (≥ 1) assistant turns. */
export interface RequestFiniteSwitchTurn extends RoutingApprovalFacts, RoutingRealtimeFacts {
  readonly type: 'RequestFiniteSwitchTurn';
  readonly request_id: string;
  readonly target_model: string;
  /** `one_turn` is `1`; `turns{n}` is `n`. Must be ≥ 1 to be accepted. */
  readonly turns: number;
}

/** `RequestSwitchTurn` with `until_changed` duration (§3.5.14): a persistent model change. */
export interface RequestUntilChangedSwitchTurn extends RoutingApprovalFacts, RoutingRealtimeFacts {
  readonly type: 'RequestUntilChangedSwitchTurn';
  readonly request_id: string;
  readonly target_model: string;
}

/** Second half of an until-changed switch: the persistent reconfigure was applied (§3.5.14). */
export interface CompleteUntilChangedSwitchTurnReconfigure {
  readonly type: 'CompleteUntilChangedSwitchTurnReconfigure';
  readonly request_id: string;
}

/** An assistant turn was admitted: activate / count down / restore the finite override (§3.5.15). */
export interface AdmitModelRoutingAssistantTurn {
  readonly type: 'AdmitModelRoutingAssistantTurn';
}

/** `BeginImageOperation` (§3.5.16): route an image operation. */
export interface BeginImageOperation extends RoutingApprovalFacts, RoutingRealtimeFacts {
  readonly type: 'BeginImageOperation';
  readonly operation_id: string;
  readonly target_model: string;
  readonly requires_scoped_override: boolean;
}

/** `ActivateImageOperationOverride` (§3.5.17): make the operation's model effective. */
export interface ActivateImageOperationOverride {
  readonly type: 'ActivateImageOperationOverride';
  readonly operation_id: string;
  readonly target_model: string;
  readonly target_realtime_capable: boolean;
}

/** `CompleteImageOperation` (§3.5.18): record the operation's terminal class and full payload (JSON). */
export interface CompleteImageOperation {
  readonly type: 'CompleteImageOperation';
  readonly operation_id: string;
  readonly terminal: ImageTerminalClass;
  readonly terminal_payload: string;
}

/** `RestoreImageOperationOverride` (§3.5.19): clear the operation override; the operation becomes Terminal. */
export interface RestoreImageOperationOverride {
  readonly type: 'RestoreImageOperationOverride';
  readonly operation_id: string;
}

/** `ReconfigureSessionLlmIdentity` (§3.2.15): install a resolved target identity and its capability surface. */
export interface ReconfigureSessionLlmIdentity {
  readonly type: 'ReconfigureSessionLlmIdentity';
  readonly session_id: string;
  readonly target_identity: SessionLlmIdentity;
  readonly target_capability_surface: SessionLlmCapabilitySurface;
}

/**
 * Record a capability surface resolved for an identity (host hydration,
 * §3.2.15 prepare step 3 / §3.5.10 cache population).
 */
export interface ResolveSessionLlmCapabilities {
  readonly type: 'ResolveSessionLlmCapabilities';
  readonly identity: SessionLlmIdentity;
  readonly surface: SessionLlmCapabilitySurface;
}

/** Inputs of the model-routing / image-operation / LLM-identity domain. */
export type RoutingInput =
  | SetModelRoutingBaseline
  | RequestFiniteSwitchTurn
  | RequestUntilChangedSwitchTurn
  | CompleteUntilChangedSwitchTurnReconfigure
  | AdmitModelRoutingAssistantTurn
  | BeginImageOperation
  | ActivateImageOperationOverride
  | CompleteImageOperation
  | RestoreImageOperationOverride
  | ReconfigureSessionLlmIdentity
  | ResolveSessionLlmCapabilities;

// ---------------------------------------------------------------------------------------------
// Effects

/** Effects of this domain (observation facts, `commands.md` §2.14), discriminated by `type`. */
export type RoutingEffect =
  /** The routing topology changed; carries the post-update topology epoch. */
  | { readonly type: 'ModelRoutingStatusChanged'; readonly topology_epoch: number }
  /** A switch-turn request was denied. */
  | { readonly type: 'SwitchTurnDenied'; readonly request_id: string; readonly reason: RoutingDenialReason }
  /** An until-changed switch was accepted; the shell must now reconfigure the LLM identity. */
  | { readonly type: 'SwitchTurnPersistentReconfigureRequested'; readonly request_id: string; readonly target_model: string }
  /** A pending finite switch became the active turn override. */
  | {
      readonly type: 'SwitchTurnFiniteOverrideActivated';
      readonly request_id: string;
      readonly target_model: string;
      readonly remaining_turns: number;
    }
  /** The finite turn override was consumed; the baseline is effective again. */
  | { readonly type: 'SwitchTurnFiniteOverrideRestored' }
  /** An image operation moved to `phase`. */
  | { readonly type: 'ImageOperationPhaseChanged'; readonly operation_id: string; readonly phase: ImageOperationPhase }
  /** An image operation was denied (it is Terminal with terminal class Denied). */
  | { readonly type: 'ImageOperationDenied'; readonly operation_id: string; readonly reason: RoutingDenialReason }
  /** An approval reached a terminal phase (Approved or Denied). */
  | {
      readonly type: 'ModelRoutingApprovalTerminalized';
      readonly approval_id: string;
      readonly parent_kind: ApprovalParentKind;
      readonly phase: ApprovalPhase;
    };

// ---------------------------------------------------------------------------------------------
// Guards (shared, typed on the minimal facts they read)

/** Phases in which switch-turn and image-operation inputs are legal (`commands.md` §4.1). */
const ROUTING_PHASES: readonly Phase[] = INGRESS_PHASES;

const sessionRegistered = guard<unknown>('session_registered', (s) => s.session_id !== null);
const runtimeIsBound = guard<unknown>('runtime_is_bound', (s) => s.active_runtime_id !== null);
const baselineKnown = guard<unknown>('baseline_known', (s) => s.model_routing_baseline_model !== null);

const approvalRequired = guard<RoutingApprovalFacts>('approval_required', (_s, i) => i.requires_approval);
const approvalNotRequired = guard<RoutingApprovalFacts>('approval_not_required', (_s, i) => !i.requires_approval);
const approvalAvailable = guard<RoutingApprovalFacts>('approval_available', (_s, i) => i.approval_available);
const approvalUnavailable = guard<RoutingApprovalFacts>('approval_unavailable', (_s, i) => !i.approval_available);
const approvalDenied = guard<RoutingApprovalFacts>('approval_denied', (_s, i) => i.approval_denied);
const approvalNotDenied = guard<RoutingApprovalFacts>('approval_not_denied', (_s, i) => !i.approval_denied);

function realtimeConflict(s: MachineState, i: RoutingRealtimeFacts): boolean {
  return s.realtime_intent_present && !i.target_realtime_capable && !i.realtime_detach_allowed;
}
const realtimeTransportConflict = guard<RoutingRealtimeFacts>('realtime_transport_conflict', realtimeConflict);
const noRealtimeTransportConflict = guard<RoutingRealtimeFacts>(
  'no_realtime_transport_conflict',
  (s, i) => !realtimeConflict(s, i),
);

function scopedConflict(s: MachineState): boolean {
  return s.turn_override_id !== null || s.operation_override_id !== null || s.pending_switch_request_id !== null;
}
const scopedOverrideConflict = guard<unknown>('scoped_override_conflict', scopedConflict);
const noScopedOverrideConflict = guard<unknown>('no_scoped_override_conflict', (s) => !scopedConflict(s));

const operationOverrideActive = guard<unknown>('operation_override_active', (s) => s.operation_override_id !== null);
const noOperationOverrideActive = guard<unknown>(
  'no_operation_override_active',
  (s) => s.operation_override_id === null,
);

type OpFacts = { readonly operation_id: string };
const operationPlanResolved = guard<OpFacts>(
  'operation_plan_resolved',
  (s, i) => get(s.image_operation_phases, i.operation_id) === 'PlanResolved',
);
const operationRequiresScopedOverride = guard<OpFacts>(
  'operation_requires_scoped_override',
  (s, i) => get(s.image_operation_requires_scoped_override, i.operation_id) === true,
);
const operationDoesNotRequireScopedOverride = guard<OpFacts>(
  'operation_does_not_require_scoped_override',
  (s, i) => get(s.image_operation_requires_scoped_override, i.operation_id) === false,
);
const operationOverrideMatches = guard<OpFacts>(
  'operation_override_matches',
  (s, i) => s.operation_override_id === i.operation_id,
);

// ---------------------------------------------------------------------------------------------
// Update / emit helpers

type D = Draft<MachineState>;

function recordApproval(d: D, id: string, parent: ApprovalParentKind, phase: ApprovalPhase): void {
  d.approval_phases[id] = phase;
  d.approval_parent_kind[id] = parent;
}

function denySwitch(d: D, requestId: string, reason: RoutingDenialReason): void {
  d.switch_terminal[requestId] = 'Denied';
  d.switch_denials[requestId] = reason;
}

function denyImage(d: D, operationId: string, reason: RoutingDenialReason): void {
  d.image_operation_phases[operationId] = 'Terminal';
  d.image_terminals[operationId] = 'Denied';
  d.image_denials[operationId] = reason;
}

function clearPendingSwitch(d: D): void {
  d.pending_switch_request_id = null;
  d.pending_switch_target_model = null;
  d.pending_switch_realtime = null;
  d.pending_switch_turns = null;
  d.pending_switch_phase = null;
}

function forgetImagePlan(d: D, operationId: string): void {
  delete d.image_operation_target_models[operationId];
  delete d.image_operation_realtime[operationId];
  delete d.image_operation_requires_scoped_override[operationId];
}

function statusChanged(post: MachineState): RoutingEffect {
  return { type: 'ModelRoutingStatusChanged', topology_epoch: post.model_routing_topology_epoch };
}

function approvalTerminalized(id: string, parent: ApprovalParentKind, phase: ApprovalPhase): RoutingEffect {
  return { type: 'ModelRoutingApprovalTerminalized', approval_id: id, parent_kind: parent, phase };
}

function imagePhaseChanged(post: MachineState, operationId: string): RoutingEffect {
  return {
    type: 'ImageOperationPhaseChanged',
    operation_id: operationId,
    // Every arm that emits this has just written the phase, so the fallback is unreachable.
    phase: get(post.image_operation_phases, operationId) ?? 'Terminal',
  };
}

/** A switch-turn denial arm: records `Denied` + reason (and the approval, if it was denied), emits `SwitchTurnDenied`. */
function switchDenial<I extends { readonly request_id: string }>(
  name: string,
  guards: readonly Guard<I>[],
  reason: RoutingDenialReason,
  approval: 'Denied' | null,
): Arm<I> {
  return {
    name,
    from: ROUTING_PHASES,
    guards,
    update: (d, i) => {
      denySwitch(d, i.request_id, reason);
      if (approval !== null) recordApproval(d, i.request_id, 'SwitchTurn', approval);
    },
    to: 'self',
    emit: (_post, i) => [
      { type: 'SwitchTurnDenied', request_id: i.request_id, reason },
      ...(approval !== null ? [approvalTerminalized(i.request_id, 'SwitchTurn', approval)] : []),
    ],
  };
}

/** An image-operation denial arm: marks the operation Terminal/Denied, emits `ImageOperationDenied`. */
function imageDenial(
  name: string,
  guards: readonly Guard<BeginImageOperation>[],
  reason: RoutingDenialReason,
  approval: 'Denied' | null,
): Arm<BeginImageOperation> {
  return {
    name,
    from: ROUTING_PHASES,
    guards,
    update: (d, i) => {
      denyImage(d, i.operation_id, reason);
      if (approval !== null) recordApproval(d, i.operation_id, 'ImageOperation', approval);
    },
    to: 'self',
    emit: (_post, i) => [
      { type: 'ImageOperationDenied', operation_id: i.operation_id, reason },
      ...(approval !== null ? [approvalTerminalized(i.operation_id, 'ImageOperation', approval)] : []),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Arms

const turnsPositive = guard<RequestFiniteSwitchTurn>(
  'turns_positive',
  (_s, i) => Number.isInteger(i.turns) && i.turns >= 1,
);

function acceptFinite(approved: boolean): Arm<RequestFiniteSwitchTurn>['update'] {
  return (d, i) => {
    d.pending_switch_request_id = i.request_id;
    d.pending_switch_target_model = i.target_model;
    d.pending_switch_realtime = i.target_realtime_capable;
    d.pending_switch_turns = i.turns;
    d.pending_switch_phase = 'PendingForBoundary';
    if (approved) recordApproval(d, i.request_id, 'SwitchTurn', 'Approved');
  };
}

function acceptUntilChanged(approved: boolean): Arm<RequestUntilChangedSwitchTurn>['update'] {
  return (d, i) => {
    d.pending_switch_request_id = i.request_id;
    d.pending_switch_target_model = i.target_model;
    d.pending_switch_realtime = i.target_realtime_capable;
    d.pending_switch_turns = null;
    d.pending_switch_phase = 'ApplyingPersistentReconfigure';
    if (approved) recordApproval(d, i.request_id, 'SwitchTurn', 'Approved');
  };
}

function acceptImage(approved: boolean): Arm<BeginImageOperation>['update'] {
  return (d, i) => {
    d.image_operation_phases[i.operation_id] = 'PlanResolved';
    d.image_operation_target_models[i.operation_id] = i.target_model;
    d.image_operation_realtime[i.operation_id] = i.target_realtime_capable;
    d.image_operation_requires_scoped_override[i.operation_id] = i.requires_scoped_override;
    if (approved) recordApproval(d, i.operation_id, 'ImageOperation', 'Approved');
  };
}

/**
 * The transition table of this domain: for each input its arms in decision
 * order (first match wins, `machine.md` §0 R1).
 */
export const routingArms: ArmTable<RoutingInput> = {
  SetModelRoutingBaseline: [
    {
      name: 'SetModelRoutingBaseline',
      from: LIVE_PHASES,
      guards: [sessionRegistered],
      update: (d, i) => {
        d.model_routing_baseline_model = i.baseline_model;
        d.model_routing_baseline_realtime = i.realtime_capable;
        d.model_routing_topology_epoch += 1;
      },
      to: 'self',
      emit: (post) => [statusChanged(post)],
    },
  ],

  // §3.5.14, finite decision order: rows 1–4 deny, row 5 accepts (split by whether approval was required).
  RequestFiniteSwitchTurn: [
    switchDenial<RequestFiniteSwitchTurn>(
      'RequestFiniteSwitchTurnDeniedApprovalUnavailable',
      [baselineKnown, approvalRequired, approvalUnavailable],
      'ApprovalRequiredButUnavailable',
      null,
    ),
    switchDenial<RequestFiniteSwitchTurn>(
      'RequestFiniteSwitchTurnDeniedDuringApproval',
      [approvalRequired, approvalAvailable, approvalDenied],
      'DeniedDuringApproval',
      'Denied',
    ),
    switchDenial<RequestFiniteSwitchTurn>(
      'RequestFiniteSwitchTurnDeniedRealtimeConflict',
      [realtimeTransportConflict],
      'RealtimeTransportConflict',
      null,
    ),
    switchDenial<RequestFiniteSwitchTurn>(
      'RequestFiniteSwitchTurnDeniedScopedOverrideConflict',
      [scopedOverrideConflict],
      'ScopedOverrideConflict',
      null,
    ),
    {
      name: 'RequestFiniteSwitchTurnApproved',
      from: ROUTING_PHASES,
      guards: [
        baselineKnown,
        turnsPositive,
        approvalRequired,
        approvalAvailable,
        approvalNotDenied,
        noRealtimeTransportConflict,
        noScopedOverrideConflict,
      ],
      update: acceptFinite(true),
      to: 'self',
      emit: (_post, i) => [approvalTerminalized(i.request_id, 'SwitchTurn', 'Approved')],
    },
    {
      name: 'RequestFiniteSwitchTurnAccepted',
      from: ROUTING_PHASES,
      guards: [baselineKnown, turnsPositive, approvalNotRequired, noRealtimeTransportConflict, noScopedOverrideConflict],
      update: acceptFinite(false),
      to: 'self',
    },
  ],

  // §3.5.14, until-changed order: accept first (no scoped-conflict check), then the denials.
  RequestUntilChangedSwitchTurn: [
    {
      name: 'RequestUntilChangedSwitchTurnApproved',
      from: ROUTING_PHASES,
      guards: [baselineKnown, approvalRequired, approvalAvailable, approvalNotDenied, noRealtimeTransportConflict],
      update: acceptUntilChanged(true),
      to: 'self',
      emit: (_post, i) => [
        { type: 'SwitchTurnPersistentReconfigureRequested', request_id: i.request_id, target_model: i.target_model },
        approvalTerminalized(i.request_id, 'SwitchTurn', 'Approved'),
      ],
    },
    {
      name: 'RequestUntilChangedSwitchTurnAccepted',
      from: ROUTING_PHASES,
      guards: [baselineKnown, approvalNotRequired, noRealtimeTransportConflict],
      update: acceptUntilChanged(false),
      to: 'self',
      emit: (_post, i) => [
        { type: 'SwitchTurnPersistentReconfigureRequested', request_id: i.request_id, target_model: i.target_model },
      ],
    },
    switchDenial<RequestUntilChangedSwitchTurn>(
      'RequestUntilChangedSwitchTurnDeniedRealtimeConflict',
      [realtimeTransportConflict],
      'RealtimeTransportConflict',
      null,
    ),
    switchDenial<RequestUntilChangedSwitchTurn>(
      'RequestUntilChangedSwitchTurnDeniedApprovalUnavailable',
      [baselineKnown, approvalRequired, approvalUnavailable],
      'ApprovalRequiredButUnavailable',
      null,
    ),
    switchDenial<RequestUntilChangedSwitchTurn>(
      'RequestUntilChangedSwitchTurnDeniedDuringApproval',
      [approvalRequired, approvalAvailable, approvalDenied],
      'DeniedDuringApproval',
      'Denied',
    ),
  ],

  CompleteUntilChangedSwitchTurnReconfigure: [
    {
      name: 'CompleteUntilChangedSwitchTurnReconfigure',
      from: ROUTING_PHASES,
      guards: [
        guard<CompleteUntilChangedSwitchTurnReconfigure>('pending_switch_matches_request', (s, i) => s.pending_switch_request_id === i.request_id),
        guard('pending_switch_applying_persistent_reconfigure', (s) => s.pending_switch_phase === 'ApplyingPersistentReconfigure'),
      ],
      update: (d, i) => {
        clearPendingSwitch(d);
        d.switch_terminal[i.request_id] = 'PersistentReconfigureApplied';
      },
      to: 'self',
    },
  ],

  // §3.5.15: activate (turn override id = request id, remaining = N) / decrement / restore.
  AdmitModelRoutingAssistantTurn: [
    {
      name: 'AdmitModelRoutingAssistantTurnActivateFiniteOverride',
      from: ROUTING_PHASES,
      guards: [
        guard('pending_finite_switch_present', (s) =>
          s.pending_switch_request_id !== null &&
          s.pending_switch_phase === 'PendingForBoundary' &&
          s.pending_switch_turns !== null,
        ),
      ],
      update: (d) => {
        d.turn_override_id = d.pending_switch_request_id;
        d.turn_request_id = d.pending_switch_request_id;
        d.turn_target_model = d.pending_switch_target_model;
        d.turn_realtime = d.pending_switch_realtime;
        d.turn_remaining_turns = d.pending_switch_turns;
        clearPendingSwitch(d);
        d.model_routing_topology_epoch += 1;
      },
      to: 'self',
      emit: (post) => [
        {
          type: 'SwitchTurnFiniteOverrideActivated',
          request_id: post.turn_request_id ?? '',
          target_model: post.turn_target_model ?? '',
          remaining_turns: post.turn_remaining_turns ?? 0,
        },
        statusChanged(post),
      ],
    },
    {
      name: 'AdmitModelRoutingAssistantTurnDecrementFiniteOverride',
      from: ROUTING_PHASES,
      guards: [
        guard('turn_override_active', (s) => s.turn_override_id !== null),
        guard('turn_override_remaining_above_one', (s) => (s.turn_remaining_turns ?? 0) > 1),
      ],
      update: (d) => {
        d.turn_remaining_turns = (d.turn_remaining_turns ?? 0) - 1;
      },
      to: 'self',
    },
    {
      name: 'AdmitModelRoutingAssistantTurnRestoreFiniteOverride',
      from: ROUTING_PHASES,
      guards: [
        guard('turn_override_active', (s) => s.turn_override_id !== null),
        guard('turn_override_remaining_is_one', (s) => s.turn_remaining_turns === 1),
      ],
      update: (d) => {
        if (d.turn_request_id !== null) d.switch_terminal[d.turn_request_id] = 'ConsumedAndRestored';
        d.turn_override_id = null;
        d.turn_request_id = null;
        d.turn_target_model = null;
        d.turn_realtime = null;
        d.turn_remaining_turns = null;
        d.model_routing_topology_epoch += 1;
      },
      to: 'self',
      emit: (post) => [{ type: 'SwitchTurnFiniteOverrideRestored' }, statusChanged(post)],
    },
  ],

  // §3.5.16 order: conflict, realtime, approval unavailable, approval denied, accept.
  BeginImageOperation: [
    imageDenial('BeginImageOperationDeniedScopedOverrideConflict', [operationOverrideActive], 'ScopedOverrideConflict', null),
    imageDenial('BeginImageOperationDeniedRealtimeConflict', [realtimeTransportConflict], 'RealtimeTransportConflict', null),
    imageDenial(
      'BeginImageOperationDeniedApprovalUnavailable',
      [approvalRequired, approvalUnavailable],
      'ApprovalRequiredButUnavailable',
      null,
    ),
    imageDenial(
      'BeginImageOperationDeniedDuringApproval',
      [approvalRequired, approvalAvailable, approvalDenied],
      'DeniedDuringApproval',
      'Denied',
    ),
    {
      name: 'BeginImageOperationApproved',
      from: ROUTING_PHASES,
      guards: [
        baselineKnown,
        noOperationOverrideActive,
        approvalRequired,
        approvalAvailable,
        approvalNotDenied,
        noRealtimeTransportConflict,
      ],
      update: acceptImage(true),
      to: 'self',
      emit: (post, i) => [
        imagePhaseChanged(post, i.operation_id),
        approvalTerminalized(i.operation_id, 'ImageOperation', 'Approved'),
      ],
    },
    {
      name: 'BeginImageOperationAccepted',
      from: ROUTING_PHASES,
      guards: [baselineKnown, noOperationOverrideActive, approvalNotRequired, noRealtimeTransportConflict],
      update: acceptImage(false),
      to: 'self',
      emit: (post, i) => [imagePhaseChanged(post, i.operation_id)],
    },
  ],

  ActivateImageOperationOverride: [
    {
      name: 'ActivateImageOperationOverride',
      from: ROUTING_PHASES,
      guards: [operationPlanResolved, operationRequiresScopedOverride, noOperationOverrideActive],
      update: (d, i) => {
        d.operation_override_id = i.operation_id;
        d.operation_target_model = i.target_model;
        d.operation_realtime = i.target_realtime_capable;
        d.image_operation_phases[i.operation_id] = 'ScopedOverrideActive';
        d.model_routing_topology_epoch += 1;
      },
      to: 'self',
      emit: (post, i) => [imagePhaseChanged(post, i.operation_id), statusChanged(post)],
    },
  ],

  // §3.5.18: (a) scoped override active → RestoringScopedOverride; (b) no scoped override → Terminal.
  CompleteImageOperation: [
    {
      name: 'CompleteImageOperationRestoringScopedOverride',
      from: ROUTING_PHASES,
      guards: [operationOverrideMatches, operationRequiresScopedOverride],
      update: (d, i) => {
        d.image_operation_phases[i.operation_id] = 'RestoringScopedOverride';
        d.image_terminals[i.operation_id] = i.terminal;
        d.image_terminal_payloads[i.operation_id] = i.terminal_payload;
      },
      to: 'self',
      emit: (post, i) => [imagePhaseChanged(post, i.operation_id)],
    },
    {
      name: 'CompleteImageOperationTerminal',
      from: ROUTING_PHASES,
      guards: [operationPlanResolved, operationDoesNotRequireScopedOverride, noOperationOverrideActive],
      update: (d, i) => {
        d.image_operation_phases[i.operation_id] = 'Terminal';
        d.image_terminals[i.operation_id] = i.terminal;
        d.image_terminal_payloads[i.operation_id] = i.terminal_payload;
        forgetImagePlan(d, i.operation_id);
      },
      to: 'self',
      emit: (post, i) => [imagePhaseChanged(post, i.operation_id)],
    },
  ],

  RestoreImageOperationOverride: [
    {
      name: 'RestoreImageOperationOverride',
      from: ROUTING_PHASES,
      guards: [operationOverrideMatches],
      update: (d, i) => {
        d.operation_override_id = null;
        d.operation_target_model = null;
        d.operation_realtime = null;
        d.image_operation_phases[i.operation_id] = 'Terminal';
        forgetImagePlan(d, i.operation_id);
        d.model_routing_topology_epoch += 1;
      },
      to: 'self',
      emit: (post, i) => [imagePhaseChanged(post, i.operation_id), statusChanged(post)],
    },
  ],

  ReconfigureSessionLlmIdentity: [
    {
      name: 'ReconfigureSessionLlmIdentity',
      from: ['Attached', 'Running'],
      guards: [sessionRegistered, runtimeIsBound],
      // Deliberate deviation: the upstream DSL arm (commands.md §3.2.15) has no update and the
      // shell keeps the identity/capability cache beside the authority. Here the machine state is
      // the single authority (as at upstream HEAD, where the cache moved into DSL state), so the
      // arm records the target identity and surface and marks the surface Resolved. Rollback is
      // the usual snapshot restore (machine.md §0 R8).
      update: (d, i) => {
        d.current_llm_identity = i.target_identity;
        d.current_capability_surface = i.target_capability_surface;
        d.capability_surface_status = 'Resolved';
      },
      to: 'self',
    },
  ],

  ResolveSessionLlmCapabilities: [
    {
      name: 'ResolveSessionLlmCapabilities',
      from: NON_TERMINAL_PHASES,
      guards: [sessionRegistered],
      update: (d, i) => {
        d.current_llm_identity = i.identity;
        d.current_capability_surface = i.surface;
        d.capability_surface_status = 'Resolved';
      },
      to: 'self',
    },
  ],
};
