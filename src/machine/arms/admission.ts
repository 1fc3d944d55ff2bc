/**
 * Input admission (`machine.md` §3.2–§3.6): validation, idempotency, the admission
 * plan (lane / plan witnesses and the policy columns) and the accept signals.
 *
 * Every arm here is a self-loop. Arm names are the upstream transition names
 * (`machine.md` §8.3); guard names are the upstream guard labels where the
 * specification gives one and descriptive snake_case labels otherwise.
 */
import type { Draft } from '../draft.js';
import { guard, INGRESS_PHASES, LIVE_PHASES } from '../arm.js';
import type { Arm, ArmTable, Guard } from '../arm.js';
import { get, hasKey } from '../collections.js';
import type {
  AdmissionPlan,
  ExistingInputAction,
  InputLane,
  MachineState,
  PeerResponseTerminalApplyIntent,
  RuntimeBoundary,
  RuntimeExecutionKind,
} from '../state.js';
import type { InputLifecycleNotice } from './input-lifecycle.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary (machine.md §3.1, commands.md §2.2–2.3)

/** `AdmissionInputKind`: the policy-dispatch kind of an input. */
export type AdmissionInputKind =
  | 'Prompt'
  | 'PeerMessage'
  | 'PeerRequest'
  | 'PeerResponseProgress'
  | 'PeerResponseTerminal'
  | 'FlowStep'
  | 'ExternalEvent'
  | 'Continuation'
  | 'Operation';

/** All admission input kinds, in specification order. */
export const ADMISSION_INPUT_KINDS: readonly AdmissionInputKind[] = [
  'Prompt',
  'PeerMessage',
  'PeerRequest',
  'PeerResponseProgress',
  'PeerResponseTerminal',
  'FlowStep',
  'ExternalEvent',
  'Continuation',
  'Operation',
];

/** Continuation sub-kind; `Ordinary` for every non-continuation input. */
export type ContinuationKind = 'Ordinary' | 'WorkgraphAttention';
/** Declared durability of an input (`Missing` = none declared). */
export type InputDurability = 'Durable' | 'Ephemeral' | 'Derived' | 'Missing';
/** Origin class of an input. */
export type InputOriginKind = 'Operator' | 'Peer' | 'Flow' | 'System' | 'External';
/** Status of a peer response terminal (`NotPeerTerminal` for every other kind). */
export type PeerResponseTerminalStatus = 'NotPeerTerminal' | 'Completed' | 'Failed' | 'Cancelled';

/** Why `ResolveAdmissionValidation` rejected an input. */
export type AdmissionRejectReason =
  | 'DurabilityMissing'
  | 'ExternalDerivedDurabilityForbidden'
  | 'DerivedDurabilityForbiddenForInputKind'
  | 'PeerHandlingModeInvalid'
  | 'PeerResponseTerminalInvalid';

/** `PolicyDecision.apply_mode`. */
export type ApplyMode = 'StageRunStart' | 'StageRunBoundary' | 'InjectNow' | 'Ignore';
/** `PolicyDecision.wake_mode`. */
export type WakeMode = 'WakeIfIdle' | 'InterruptYielding' | 'None';
/** `PolicyDecision.queue_mode`. */
export type QueueMode = 'None' | 'Fifo' | 'Coalesce' | 'Supersede' | 'Priority';
/** `PolicyDecision.consume_point`. */
export type ConsumePoint = 'OnAccept' | 'OnApply' | 'OnRunStart' | 'OnRunComplete' | 'ExplicitAck';
/** `PolicyDecision.drain_policy`. */
export type DrainPolicy = 'QueueNextTurn' | 'SteerBatch' | 'Immediate' | 'Ignore';
/** `PolicyDecision.routing_disposition`. */
export type RoutingDisposition = 'Queue' | 'Steer' | 'Immediate' | 'Drop';
/** Queue action of an admission plan (`EnqueueFront` is never minted in this release). */
export type QueueAction = 'EnqueueTo' | 'EnqueueFront' | 'None';
/** The post-admission signal carried by {@link PostAdmissionSignal}, weakest first. */
export type PostAdmissionSignalKind = 'WakeLoop' | 'InterruptYielding' | 'RequestImmediateProcessing';

// ---------------------------------------------------------------------------------------------
// Inputs

/** §3.3 — classify an input's durability / peer-handling validity. */
export interface ResolveAdmissionValidation {
  readonly type: 'ResolveAdmissionValidation';
  readonly input_id: string;
  readonly kind: AdmissionInputKind;
  readonly origin: InputOriginKind;
  readonly durability: InputDurability;
  /** The peer handling-mode hint is legal for this kind (e.g. none on response progress). */
  readonly peer_mode_valid: boolean;
  /** A peer response terminal is structurally valid (e.g. non-blank request id). */
  readonly prt_struct_valid: boolean;
  readonly prt_status: PeerResponseTerminalStatus;
}

/** §3.4 — look an idempotency key up in the live key map. */
export interface ResolveAdmissionIdempotency {
  readonly type: 'ResolveAdmissionIdempotency';
  readonly input_id: string;
  readonly idempotency_key: string | null;
}

/** §3.4 — bind an accepted input's idempotency key (both directions). */
export interface RegisterAcceptedIdempotency {
  readonly type: 'RegisterAcceptedIdempotency';
  readonly input_id: string;
  readonly idempotency_key: string;
}

/** §3.5 — resolve the admission plan; mints the lane / plan / existing-action witnesses. */
export interface ResolveAdmissionPlan {
  readonly type: 'ResolveAdmissionPlan';
  readonly input_id: string;
  readonly kind: AdmissionInputKind;
  /** The input's own handling-mode hint (`null` = none). */
  readonly requested_lane: InputLane | null;
  readonly continuation_kind: ContinuationKind;
  /** `S`: a peer request whose intent is in the session's silent-intent list. */
  readonly silent_intent_match: boolean;
  /** Existing queued input to terminalise (used only by the PeerResponseProgress arm, as a Coalesce target). */
  readonly existing_superseded_input_id: string | null;
  /** `R`: the runtime is running; must agree with the phase. */
  readonly runtime_running: boolean;
  /** `B`: a live turn boundary is available. */
  readonly active_turn_boundary_available: boolean;
  /** `W`: admitted through `AcceptWithoutWake` (wake forced off). */
  readonly without_wake: boolean;
}

/** §3.6 — commit the accept signal for an admitted input (flags copied from `AdmissionResolved`). */
export interface AcceptWithCompletion {
  readonly type: 'AcceptWithCompletion';
  readonly input_id: string;
  readonly request_immediate_processing: boolean;
  readonly interrupt_yielding: boolean;
  readonly wake_if_idle: boolean;
}

/** §3.6 — accept without any wake / interrupt signal. */
export interface AcceptWithoutWake {
  readonly type: 'AcceptWithoutWake';
  readonly input_id: string;
}

/** Inputs of the admission domain. */
export type AdmissionInput =
  | ResolveAdmissionValidation
  | ResolveAdmissionIdempotency
  | RegisterAcceptedIdempotency
  | ResolveAdmissionPlan
  | AcceptWithCompletion
  | AcceptWithoutWake;

// ---------------------------------------------------------------------------------------------
// Effects

/** Result of `ResolveAdmissionValidation`. */
export interface AdmissionValidationResolved {
  readonly type: 'AdmissionValidationResolved';
  readonly input_id: string;
  readonly result: 'Accept' | 'Reject';
  readonly reject_reason: AdmissionRejectReason | null;
}

/** Result of `ResolveAdmissionIdempotency`. */
export interface AdmissionIdempotencyResolved {
  readonly type: 'AdmissionIdempotencyResolved';
  readonly input_id: string;
  readonly result: 'Accept' | 'Deduplicated';
  /** The input already holding the key (only for `Deduplicated`). */
  readonly existing_input_id: string | null;
}

/** Result of `ResolveAdmissionPlan`: every column of the §3.5 table plus the policy constants. */
export interface AdmissionResolved {
  readonly type: 'AdmissionResolved';
  readonly input_id: string;
  /** Admission lane (= handling mode). */
  readonly lane: InputLane;
  readonly plan: AdmissionPlan;
  readonly boundary: RuntimeBoundary;
  readonly execution_kind: RuntimeExecutionKind;
  readonly peer_response_terminal_apply_intent: PeerResponseTerminalApplyIntent | null;
  readonly apply_mode: ApplyMode;
  readonly wake_mode: WakeMode;
  readonly drain_policy: DrainPolicy;
  readonly routing_disposition: RoutingDisposition;
  readonly request_immediate_processing: boolean;
  readonly interrupt_yielding: boolean;
  readonly wake_if_idle: boolean;
  readonly requires_active_pre_admission: boolean;
  readonly record_transcript: boolean;
  /** `Queue` or `null` (the specification's `None`). */
  readonly execution_handling_mode: InputLane | null;
  readonly live_interrupt_required: boolean;
  readonly policy_version: 1;
  readonly policy_queue_mode: QueueMode;
  readonly policy_consume_point: ConsumePoint;
  readonly queue_action: QueueAction;
  /** Target lane of `EnqueueTo` (the admission lane); `null` when the queue action is `None`. */
  readonly queue_action_lane: InputLane | null;
  readonly existing_action: ExistingInputAction | null;
  readonly existing_input_id: string | null;
}

/** An input was admitted (shared by `AcceptWith*`, `QueueAccepted`, `SteerAccepted`). */
export interface IngressAccepted {
  readonly type: 'IngressAccepted';
  readonly input_id: string;
}

/** Wake / interrupt request for the runtime loop. */
export interface PostAdmissionSignal {
  readonly type: 'PostAdmissionSignal';
  readonly signal: PostAdmissionSignalKind;
}

/**
 * Ask the runtime loop to submit a run primitive now (attached immediate admission). Same shape
 * as the run domain's `SubmitRunPrimitive`; no run is bound in Attached, so `run_id` is the
 * type default `''` (machine.md §0 R5).
 */
export interface SubmitRunPrimitive {
  readonly type: 'SubmitRunPrimitive';
  readonly run_id: string;
}

/**
 * A runtime-loop effect fact (`RuntimeEffectFact{kind, reason}`); structurally identical to the
 * lifecycle domain's definition, which shares the `type` tag.
 */
export interface RuntimeEffectFact {
  readonly type: 'RuntimeEffectFact';
  readonly kind: 'StopRuntimeExecutor' | 'CancelAfterBoundary';
  readonly reason: string;
}

/** Effects of the admission domain. */
export type AdmissionEffect =
  | AdmissionValidationResolved
  | AdmissionIdempotencyResolved
  | AdmissionResolved
  | IngressAccepted
  | PostAdmissionSignal
  | SubmitRunPrimitive
  | RuntimeEffectFact
  | InputLifecycleNotice;

/** Reason carried by the cooperative boundary cancel requested by a running admission. */
export const PEER_ADMISSION_CANCEL_REASON = 'peer admission requested cooperative boundary cancel';

// ---------------------------------------------------------------------------------------------
// Shared guards

/** `session_registered`: some session is registered. */
function sessionRegistered<I>(): Guard<I> {
  return guard<I>('session_registered', (s) => s.session_id !== null);
}

// ---------------------------------------------------------------------------------------------
// §3.3 ResolveAdmissionValidation

const DERIVED_FORBIDDEN_KINDS: readonly AdmissionInputKind[] = [
  'Prompt',
  'PeerMessage',
  'PeerRequest',
  'PeerResponseTerminal',
  'FlowStep',
];

function durabilityAuthorized(i: ResolveAdmissionValidation): boolean {
  if (i.durability === 'Durable' || i.durability === 'Ephemeral') return true;
  return (
    i.durability === 'Derived' &&
    (i.origin === 'Flow' || i.origin === 'System') &&
    !DERIVED_FORBIDDEN_KINDS.includes(i.kind)
  );
}

type ValidationArm = Arm<ResolveAdmissionValidation>;
const gDurabilityAuthorized = guard<ResolveAdmissionValidation>('durability_authorized', (_s, i) =>
  durabilityAuthorized(i),
);
const gPeerModeValid = guard<ResolveAdmissionValidation>('peer_mode_valid', (_s, i) => i.peer_mode_valid);
const peerTerminalValid = (i: ResolveAdmissionValidation): boolean =>
  i.prt_struct_valid && i.prt_status !== 'Cancelled';

function validationArm(
  suffix: string,
  guards: ValidationArm['guards'],
  reason: AdmissionRejectReason | null,
): ValidationArm {
  return {
    name: `ResolveAdmissionValidation${suffix}`,
    from: INGRESS_PHASES,
    guards,
    to: 'self',
    emit: (_post, i) => [
      {
        type: 'AdmissionValidationResolved',
        input_id: i.input_id,
        result: reason === null ? 'Accept' : 'Reject',
        reject_reason: reason,
      },
    ],
  };
}

const validationArms: readonly ValidationArm[] = [
  validationArm(
    'DurabilityMissingRejected',
    [guard('durability_missing', (_s, i) => i.durability === 'Missing')],
    'DurabilityMissing',
  ),
  validationArm(
    'ExternalDerivedRejected',
    [
      guard(
        'derived_from_external_origin',
        (_s, i) =>
          i.durability === 'Derived' && (i.origin === 'Operator' || i.origin === 'Peer' || i.origin === 'External'),
      ),
    ],
    'ExternalDerivedDurabilityForbidden',
  ),
  validationArm(
    'DerivedKindRejected',
    [
      guard(
        'derived_kind_forbidden',
        (_s, i) =>
          i.durability === 'Derived' &&
          (i.origin === 'Flow' || i.origin === 'System') &&
          DERIVED_FORBIDDEN_KINDS.includes(i.kind),
      ),
    ],
    'DerivedDurabilityForbiddenForInputKind',
  ),
  validationArm(
    'PeerHandlingRejected',
    [gDurabilityAuthorized, guard('peer_mode_invalid', (_s, i) => !i.peer_mode_valid)],
    'PeerHandlingModeInvalid',
  ),
  validationArm(
    'PeerTerminalRejected',
    [gDurabilityAuthorized, gPeerModeValid, guard('peer_terminal_invalid', (_s, i) => !peerTerminalValid(i))],
    'PeerResponseTerminalInvalid',
  ),
  validationArm(
    'Accepted',
    [gDurabilityAuthorized, gPeerModeValid, guard('peer_terminal_valid', (_s, i) => peerTerminalValid(i))],
    null,
  ),
];

// ---------------------------------------------------------------------------------------------
// §3.4 Idempotency

type IdempotencyArm = Arm<ResolveAdmissionIdempotency>;
function idempotencyArm(suffix: string, guards: IdempotencyArm['guards'], duplicate: boolean): IdempotencyArm {
  return {
    name: `ResolveAdmissionIdempotency${suffix}`,
    from: INGRESS_PHASES,
    guards,
    to: 'self',
    emit: (post, i) => [
      {
        type: 'AdmissionIdempotencyResolved',
        input_id: i.input_id,
        result: duplicate ? 'Deduplicated' : 'Accept',
        existing_input_id:
          duplicate && i.idempotency_key !== null ? get(post.admission_idempotency_inputs, i.idempotency_key) : null,
      },
    ],
  };
}

const gKeyPresent = guard<ResolveAdmissionIdempotency>('idempotency_key_present', (_s, i) => i.idempotency_key !== null);

const idempotencyArms: readonly IdempotencyArm[] = [
  idempotencyArm('NoKey', [guard('idempotency_key_absent', (_s, i) => i.idempotency_key === null)], false),
  idempotencyArm(
    'NewKey',
    [
      gKeyPresent,
      guard(
        'idempotency_key_unclaimed',
        (s, i) => i.idempotency_key !== null && !hasKey(s.admission_idempotency_inputs, i.idempotency_key),
      ),
    ],
    false,
  ),
  idempotencyArm(
    'Duplicate',
    [
      gKeyPresent,
      guard(
        'idempotency_key_claimed',
        (s, i) => i.idempotency_key !== null && hasKey(s.admission_idempotency_inputs, i.idempotency_key),
      ),
    ],
    true,
  ),
];

const registerAcceptedIdempotencyArms: readonly Arm<RegisterAcceptedIdempotency>[] = [
  {
    name: 'RegisterAcceptedIdempotency',
    from: LIVE_PHASES,
    guards: [
      guard('input_tracked', (s, i) => hasKey(s.input_phases, i.input_id)),
      guard('idempotency_key_unclaimed_or_bound_to_input', (s, i) => {
        const holder = get(s.admission_idempotency_inputs, i.idempotency_key);
        return holder === null || holder === i.input_id;
      }),
      // TS-port addition: keeps the key map a bijection (machine.md §9.2 property 7).
      guard('input_key_unbound_or_same', (s, i) => {
        const current = get(s.input_idempotency_keys, i.input_id);
        return current === null || current === i.idempotency_key;
      }),
    ],
    update: (d, i) => {
      d.admission_idempotency_inputs[i.idempotency_key] = i.input_id;
      d.input_idempotency_keys[i.input_id] = i.idempotency_key;
    },
    to: 'self',
    emit: (post, i) => [
      { type: 'InputLifecycleNotice', input_id: i.input_id, phase: post.input_phases[i.input_id] ?? 'Queued' },
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// §3.5 ResolveAdmissionPlan

/** The columns of one §3.5 row for a concrete input (everything but the constant policy fields). */
interface PlanColumns {
  readonly lane: InputLane;
  readonly plan: AdmissionPlan;
  readonly boundary: RuntimeBoundary;
  readonly execution_kind: RuntimeExecutionKind;
  readonly peer_response_terminal_apply_intent: PeerResponseTerminalApplyIntent | null;
  readonly apply_mode: ApplyMode;
  readonly wake_mode: WakeMode;
  readonly drain_policy: DrainPolicy;
  readonly routing_disposition: RoutingDisposition;
  readonly request_immediate_processing: boolean;
  readonly interrupt_yielding: boolean;
  readonly wake_if_idle: boolean;
  readonly requires_active_pre_admission: boolean;
  readonly record_transcript: boolean;
  readonly execution_handling_mode: InputLane | null;
  readonly live_interrupt_required: boolean;
  readonly policy_queue_mode: QueueMode;
  readonly policy_consume_point: ConsumePoint;
  readonly queue_action: QueueAction;
  readonly existing_action: ExistingInputAction | null;
  readonly existing_input_id: string | null;
}

type PlanInput = ResolveAdmissionPlan;
type PlanArm = Arm<PlanInput>;

/** Defaults shared by most rows; each row overrides what differs. */
const QUEUE_DEFAULTS = {
  lane: 'Queue',
  plan: 'Queued',
  boundary: 'RunStart',
  execution_kind: 'ContentTurn',
  peer_response_terminal_apply_intent: null,
  apply_mode: 'StageRunStart',
  drain_policy: 'QueueNextTurn',
  routing_disposition: 'Queue',
  request_immediate_processing: false,
  interrupt_yielding: false,
  record_transcript: true,
  execution_handling_mode: null,
  live_interrupt_required: false,
  policy_queue_mode: 'Fifo',
  policy_consume_point: 'OnRunComplete',
  queue_action: 'EnqueueTo',
  existing_action: null,
  existing_input_id: null,
} as const;

const STEER_DEFAULTS = {
  ...QUEUE_DEFAULTS,
  lane: 'Steer',
  drain_policy: 'SteerBatch',
  routing_disposition: 'Steer',
  live_interrupt_required: true,
} as const;

/** `R ∨ B` */
const busy = (i: PlanInput): boolean => i.runtime_running || i.active_turn_boundary_available;
/** `¬W ∧ ¬R ∧ ¬B` */
const idleWake = (i: PlanInput): boolean => !i.without_wake && !busy(i);
const execKindFor = (i: PlanInput): RuntimeExecutionKind => (i.kind === 'Continuation' ? 'ResumePending' : 'ContentTurn');
const transcriptFor = (i: PlanInput): boolean => i.kind !== 'Continuation' && i.kind !== 'Operation';

const gRunningMatchesPhase = guard<PlanInput>(
  'runtime_running_matches_phase',
  (s, i) => i.runtime_running === (s.lifecycle_phase === 'Running'),
);
const gNotSilent = guard<PlanInput>('silent_intent_not_matched', (_s, i) => !i.silent_intent_match);
const gKindPrt = guard<PlanInput>('kind_is_peer_response_terminal', (_s, i) => i.kind === 'PeerResponseTerminal');
const gReqQueue = guard<PlanInput>('requested_lane_queue', (_s, i) => i.requested_lane === 'Queue');
const gReqSteer = guard<PlanInput>('requested_lane_steer', (_s, i) => i.requested_lane === 'Steer');
const gReqNone = guard<PlanInput>('requested_lane_absent', (_s, i) => i.requested_lane === null);
const gKindNotPeerResponse = guard<PlanInput>(
  'kind_not_peer_response',
  (_s, i) => i.kind !== 'PeerResponseProgress' && i.kind !== 'PeerResponseTerminal',
);
const gContOrdinary = guard<PlanInput>('continuation_kind_ordinary', (_s, i) => i.continuation_kind === 'Ordinary');
const gSilentOnlyPeerRequest = guard<PlanInput>(
  'silent_intent_only_for_peer_request',
  (_s, i) => !i.silent_intent_match || i.kind === 'PeerRequest',
);
const gKindContinuation = guard<PlanInput>('kind_is_continuation', (_s, i) => i.kind === 'Continuation');

interface PlanRow {
  readonly suffix: string;
  readonly guards: readonly PlanArm['guards'][number][];
  readonly columns: (i: PlanInput) => PlanColumns;
}

const PLAN_ROWS: readonly PlanRow[] = [
  {
    // 1
    suffix: 'RequestedTerminalQueue',
    guards: [gKindPrt, gReqQueue, gNotSilent],
    columns: (i) => ({
      ...QUEUE_DEFAULTS,
      peer_response_terminal_apply_intent: 'AppendContentAndRun',
      wake_mode: i.without_wake ? 'None' : 'WakeIfIdle',
      wake_if_idle: !i.without_wake,
      requires_active_pre_admission: !i.without_wake,
    }),
  },
  {
    // 2
    suffix: 'RequestedTerminalSteer',
    guards: [gKindPrt, gReqSteer, gNotSilent],
    columns: (i) => ({
      ...STEER_DEFAULTS,
      peer_response_terminal_apply_intent: 'AppendContentAndRun',
      wake_mode: i.without_wake ? 'None' : busy(i) ? 'InterruptYielding' : 'WakeIfIdle',
      request_immediate_processing: true,
      wake_if_idle: false,
      requires_active_pre_admission: true,
      execution_handling_mode: i.runtime_running ? null : 'Queue',
    }),
  },
  {
    // 3
    suffix: 'RequestedQueue',
    guards: [gReqQueue, gKindNotPeerResponse, gContOrdinary, gSilentOnlyPeerRequest],
    columns: (i) => {
      const passive = i.without_wake || i.silent_intent_match;
      const wake = !passive && !busy(i);
      return {
        ...QUEUE_DEFAULTS,
        execution_kind: execKindFor(i),
        wake_mode: wake ? 'WakeIfIdle' : 'None',
        wake_if_idle: wake,
        requires_active_pre_admission: wake,
        record_transcript: transcriptFor(i),
      };
    },
  },
  {
    // 4
    suffix: 'RequestedSteer',
    guards: [gReqSteer, gKindNotPeerResponse, gContOrdinary, gSilentOnlyPeerRequest],
    columns: (i) => {
      const passive = i.without_wake || i.silent_intent_match;
      const peerMessaging = i.kind === 'PeerMessage' || i.kind === 'PeerRequest';
      return {
        ...STEER_DEFAULTS,
        boundary: i.silent_intent_match ? 'RunStart' : 'RunCheckpoint',
        execution_kind: execKindFor(i),
        apply_mode: i.silent_intent_match ? 'StageRunStart' : 'StageRunBoundary',
        wake_mode: passive ? 'None' : busy(i) ? 'InterruptYielding' : 'WakeIfIdle',
        request_immediate_processing: true,
        wake_if_idle: false,
        requires_active_pre_admission: true,
        record_transcript: transcriptFor(i),
        execution_handling_mode: peerMessaging && !i.runtime_running ? 'Queue' : null,
      };
    },
  },
  {
    // 5
    suffix: 'DefaultQueueKind',
    guards: [
      gReqNone,
      gNotSilent,
      guard(
        'kind_is_default_queue_kind',
        (_s, i) => i.kind === 'Prompt' || i.kind === 'FlowStep' || i.kind === 'ExternalEvent',
      ),
    ],
    columns: (i) => ({
      ...QUEUE_DEFAULTS,
      wake_mode: idleWake(i) ? 'WakeIfIdle' : 'None',
      wake_if_idle: idleWake(i),
      requires_active_pre_admission: idleWake(i),
    }),
  },
  {
    // 6
    suffix: 'DefaultPeerMessageOrRequest',
    guards: [
      gReqNone,
      guard('kind_is_peer_message_or_request', (_s, i) => i.kind === 'PeerMessage' || i.kind === 'PeerRequest'),
      gSilentOnlyPeerRequest,
    ],
    columns: (i) => {
      const passive = i.without_wake || i.silent_intent_match;
      return {
        ...QUEUE_DEFAULTS,
        wake_mode: passive ? 'None' : busy(i) ? 'InterruptYielding' : 'WakeIfIdle',
        interrupt_yielding: !passive && busy(i),
        wake_if_idle: !passive && !busy(i),
        requires_active_pre_admission: !passive,
      };
    },
  },
  {
    // 7
    suffix: 'PeerResponseProgress',
    guards: [
      guard('kind_is_peer_response_progress', (_s, i) => i.kind === 'PeerResponseProgress'),
      gNotSilent,
      guard(
        'coalesce_target_tracked_if_present',
        (s, i) => i.existing_superseded_input_id === null || hasKey(s.input_phases, i.existing_superseded_input_id),
      ),
    ],
    columns: (i) => ({
      ...STEER_DEFAULTS,
      boundary: 'RunCheckpoint',
      apply_mode: 'StageRunBoundary',
      wake_mode: 'None',
      wake_if_idle: false,
      requires_active_pre_admission: false,
      execution_handling_mode: i.runtime_running ? null : 'Queue',
      policy_queue_mode: 'Coalesce',
      existing_action: i.existing_superseded_input_id === null ? null : 'Coalesce',
      existing_input_id: i.existing_superseded_input_id,
    }),
  },
  {
    // 8
    suffix: 'DefaultPeerResponseTerminal',
    guards: [gKindPrt, gReqNone, gNotSilent],
    columns: (i) => ({
      ...QUEUE_DEFAULTS,
      peer_response_terminal_apply_intent: 'AppendContentAndRun',
      wake_mode: i.without_wake ? 'None' : 'WakeIfIdle',
      wake_if_idle: !i.without_wake,
      requires_active_pre_admission: !i.without_wake,
    }),
  },
  {
    // 9
    suffix: 'DefaultContinuation',
    guards: [gKindContinuation, gReqNone, gContOrdinary, gNotSilent],
    columns: (i) => ({
      ...STEER_DEFAULTS,
      boundary: 'RunCheckpoint',
      execution_kind: 'ResumePending',
      apply_mode: 'StageRunBoundary',
      wake_mode: i.without_wake ? 'None' : busy(i) ? 'InterruptYielding' : 'WakeIfIdle',
      interrupt_yielding: !i.without_wake && busy(i),
      wake_if_idle: idleWake(i),
      requires_active_pre_admission: !i.without_wake,
      record_transcript: false,
    }),
  },
  {
    // 10
    suffix: 'WorkgraphAttentionContinuation',
    guards: [
      gKindContinuation,
      guard('continuation_kind_workgraph_attention', (_s, i) => i.continuation_kind === 'WorkgraphAttention'),
      gNotSilent,
    ],
    columns: (i) => ({
      ...QUEUE_DEFAULTS,
      wake_mode: idleWake(i) ? 'WakeIfIdle' : 'None',
      wake_if_idle: idleWake(i),
      requires_active_pre_admission: idleWake(i),
      record_transcript: false,
    }),
  },
  {
    // 11
    suffix: 'Operation',
    guards: [guard('kind_is_operation', (_s, i) => i.kind === 'Operation'), gReqNone, gNotSilent],
    columns: () => ({
      ...QUEUE_DEFAULTS,
      plan: 'ConsumedOnAccept',
      apply_mode: 'Ignore',
      wake_mode: 'None',
      drain_policy: 'Ignore',
      routing_disposition: 'Drop',
      wake_if_idle: false,
      requires_active_pre_admission: false,
      record_transcript: false,
      policy_queue_mode: 'Priority',
      policy_consume_point: 'OnAccept',
      queue_action: 'None',
    }),
  },
];

function writePlanWitnesses(d: Draft<MachineState>, id: string, c: PlanColumns, isPrompt: boolean): void {
  d.admission_authorized_lanes[id] = c.lane;
  d.admission_authorized_plans[id] = c.plan;
  if (c.existing_action !== null && c.existing_input_id !== null) {
    d.admission_authorized_existing_actions[id] = c.existing_action;
    d.admission_authorized_existing_targets[id] = c.existing_input_id;
  } else {
    delete d.admission_authorized_existing_actions[id];
    delete d.admission_authorized_existing_targets[id];
  }
  d.input_runtime_boundary[id] = c.boundary;
  d.input_runtime_execution_kind[id] = c.execution_kind;
  if (c.peer_response_terminal_apply_intent !== null) {
    d.input_runtime_peer_response_terminal_apply_intent[id] = c.peer_response_terminal_apply_intent;
  } else {
    delete d.input_runtime_peer_response_terminal_apply_intent[id];
  }
  d.input_is_prompt[id] = isPrompt;
}

function planArm(row: PlanRow): PlanArm {
  return {
    name: `ResolveAdmissionPlan${row.suffix}`,
    from: INGRESS_PHASES,
    guards: [gRunningMatchesPhase, ...row.guards],
    update: (d, i) => writePlanWitnesses(d, i.input_id, row.columns(i), i.kind === 'Prompt'),
    to: 'self',
    emit: (_post, i) => {
      const c = row.columns(i);
      return [
        {
          type: 'AdmissionResolved',
          input_id: i.input_id,
          ...c,
          policy_version: 1,
          queue_action_lane: c.queue_action === 'None' ? null : c.lane,
        },
      ];
    },
  };
}

const planArms: readonly PlanArm[] = PLAN_ROWS.map(planArm);

// ---------------------------------------------------------------------------------------------
// §3.6 Accept signals

type AcceptArm = Arm<AcceptWithCompletion>;
const gRip = guard<AcceptWithCompletion>('immediate_processing_requested', (_s, i) => i.request_immediate_processing);
const gNoRip = guard<AcceptWithCompletion>(
  'immediate_processing_not_requested',
  (_s, i) => !i.request_immediate_processing,
);
const gIy = guard<AcceptWithCompletion>('interrupt_yielding_requested', (_s, i) => i.interrupt_yielding);
const gNoIy = guard<AcceptWithCompletion>('interrupt_yielding_not_requested', (_s, i) => !i.interrupt_yielding);
const gWake = guard<AcceptWithCompletion>('wake_if_idle_requested', (_s, i) => i.wake_if_idle);
const gNoWake = guard<AcceptWithCompletion>('wake_if_idle_not_requested', (_s, i) => !i.wake_if_idle);

const cancelFact: RuntimeEffectFact = {
  type: 'RuntimeEffectFact',
  kind: 'CancelAfterBoundary',
  reason: PEER_ADMISSION_CANCEL_REASON,
};

function acceptArm(
  phase: 'Idle' | 'Attached' | 'Running',
  suffix: string,
  flagGuards: AcceptArm['guards'],
  signal: PostAdmissionSignalKind | null,
  extra: readonly (SubmitRunPrimitive | RuntimeEffectFact)[] = [],
): AcceptArm {
  return {
    name: `AcceptWithCompletion${phase}${suffix}`,
    from: [phase],
    guards: [sessionRegistered<AcceptWithCompletion>(), ...flagGuards],
    to: 'self',
    emit: (_post, i) => [
      { type: 'IngressAccepted', input_id: i.input_id },
      ...(signal === null ? [] : [{ type: 'PostAdmissionSignal', signal } as const]),
      ...extra,
    ],
  };
}

const acceptWithCompletionArms: readonly AcceptArm[] = [
  acceptArm('Idle', 'QueuedPassive', [gNoRip, gNoIy, gNoWake], null),
  acceptArm('Idle', 'QueuedWakeIfIdle', [gNoRip, gNoIy, gWake], 'WakeLoop'),
  acceptArm('Idle', 'Immediate', [gRip, gNoIy], 'RequestImmediateProcessing'),
  acceptArm('Attached', 'Immediate', [gRip, gNoIy], 'RequestImmediateProcessing', [
    { type: 'SubmitRunPrimitive', run_id: '' },
  ]),
  acceptArm('Attached', 'QueuedPassive', [gNoRip, gNoIy, gNoWake], null),
  acceptArm('Attached', 'QueuedWakeIfIdle', [gNoRip, gNoIy, gWake], 'WakeLoop'),
  acceptArm('Running', 'QueuedPassive', [gNoRip, gNoIy, gNoWake], null),
  acceptArm('Running', 'QueuedWakeIfIdle', [gNoRip, gNoIy, gWake], 'WakeLoop'),
  acceptArm('Running', 'InterruptYielding', [gNoRip, gIy], 'InterruptYielding', [cancelFact]),
  acceptArm('Running', 'Immediate', [gRip, gNoIy], 'RequestImmediateProcessing', [cancelFact]),
];

const acceptWithoutWakeArms: readonly Arm<AcceptWithoutWake>[] = [
  {
    name: 'AcceptWithoutWake',
    from: INGRESS_PHASES,
    guards: [sessionRegistered<AcceptWithoutWake>()],
    to: 'self',
    emit: (_post, i) => [{ type: 'IngressAccepted', input_id: i.input_id }],
  },
];

// ---------------------------------------------------------------------------------------------

/** The admission arms, per input variant, in upstream declaration order. */
export const admissionArms: ArmTable<AdmissionInput> = {
  ResolveAdmissionValidation: validationArms,
  ResolveAdmissionIdempotency: idempotencyArms,
  RegisterAcceptedIdempotency: registerAcceptedIdempotencyArms,
  ResolveAdmissionPlan: planArms,
  AcceptWithCompletion: acceptWithCompletionArms,
  AcceptWithoutWake: acceptWithoutWakeArms,
};
