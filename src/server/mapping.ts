/**
 * Proto ⇄ kernel conversions shared by every service adapter (and the streaming handlers in
 * ingress-streams.ts / executor-service.ts).
 *
 * The generated messages (src/gen, ts-proto) mirror the kernel's TypeScript types field for
 * field; what differs is only representation: oneofs are `{$case, …}` unions, enums are numbers
 * with an `UNSPECIFIED` zero, absence is `undefined` instead of `null`. These functions convert
 * that representation and nothing else. Semantic validation (UUID v7 ids, text bounds, admission
 * rules, …) stays in the kernel; the only checks here are the ones the kernel's types cannot
 * express: a required message or oneof that is unset, or an enum value that names nothing. They
 * throw `INVALID_ARGUMENT` with one field violation per problem, using the request's snake_case
 * field paths (`input.body.convention`, `request.approval`).
 */
import type { AcceptOutcome, PostAdmissionSignal as KernelPostAdmissionSignal } from '../kernel/core.js';
import type { ApprovalDisposition as KernelApproval, ImageOperationRoutingResult, RealtimeChannelStatus, RecoveryReport as KernelRecoveryReport, RuntimeStateName, SwitchTurnRequest as KernelSwitchTurnRequest, SwitchTurnResult } from '../kernel/commands/control.js';
import type { InteractionTerminalReport as KernelInteractionReport, RunTerminalStatus } from '../kernel/commands/queries.js';
import type { SessionRuntimeBindings as KernelBindings } from '../kernel/commands/session.js';
import type { SessionToolVisibilityState as KernelVisibility } from '../kernel/commands/visibility-view.js';
import type { AbandonReasonView, CompletionOutcome as KernelCompletionOutcome } from '../kernel/completion.js';
import { invalidArgument, type FieldViolation } from '../kernel/errors.js';
import type { RunAssignment as KernelRunAssignment } from '../kernel/executor.js';
import type {
  AdmissionInputKind as KernelAdmissionKind,
  Durability as KernelDurability,
  HandlingMode as KernelHandlingMode,
  Input as KernelInput,
  InputBody as KernelInputBody,
  InputOrigin as KernelInputOrigin,
  PeerConvention as KernelPeerConvention,
} from '../kernel/input.js';
import type { OpsRegistry } from '../kernel/ops-registry.js';
import type {
  BoundaryReceipt as KernelBoundaryReceipt,
  InputHistoryEntry as KernelHistoryEntry,
  InputPublicPhase,
  RoutedSignal as KernelRoutedSignal,
  RoutedSignalKind as KernelRoutedSignalKind,
  StoredInputRow,
  TerminalOutcomeView,
} from '../kernel/store.js';
import type { DrainExitReason as KernelDrainExitReason } from '../machine/arms/drain.js';
import type {
  ImageTerminalClass as KernelImageTerminal,
  OpKind as KernelOpKind,
  OpStatus as KernelOpStatus,
  OpTerminalPayload as KernelOpTerminalPayload,
  RuntimeBoundary as KernelBoundary,
  SessionLlmCapabilitySurface as KernelCapabilities,
  ToolFilter as KernelToolFilter,
  ToolVisibilityWitness as KernelWitness,
  TurnTerminalCauseKind as KernelCauseKind,
} from '../machine/index.js';
import type { PendingSwitchDuration, SessionModelRoutingStatus } from '../machine/routing-status.js';
import { RoutedSignalKind, type RoutedSignal } from '../gen/meerkat/kernel/v1/composition.js';
import { RealtimeChannelState, RuntimeState, type RecoverResponse, type RuntimeRealtimeChannelStatusResponse } from '../gen/meerkat/kernel/v1/control.js';
import { DrainExitReason } from '../gen/meerkat/kernel/v1/drain.js';
import {
  ApprovalDisposition,
  ImageOperationPhase,
  ImageTerminalClass,
  PendingSwitchPhase,
  RoutingDenialReason,
  type BeginImageOperationResponse,
  type RequestSwitchTurnResponse,
  type SessionModelRoutingStatusResponse,
  type SwitchDuration,
  type SwitchTurnRequest,
} from '../gen/meerkat/kernel/v1/model_routing.js';
import { TurnTerminalCauseKind } from '../gen/meerkat/kernel/v1/run.js';
import {
  BindingAuthority,
  InteractionStatusSource,
  type InteractionTerminalReport,
  type RunTerminalStatusResponse,
  type SessionRuntimeBindings,
} from '../gen/meerkat/kernel/v1/session.js';
import {
  AdmissionInputKind,
  AdmissionRejectReason,
  CompletionWaitError,
  Durability,
  HandlingMode,
  InputAbandonReason,
  InputLane,
  InputLifecycleState,
  OpKind,
  OpStatus,
  PeerResponseStatus,
  PostAdmissionSignal,
  RuntimeBoundary,
  type AbandonReason,
  type AcceptOutcome as ProtoAcceptOutcome,
  type BoundaryReceipt,
  type CompletionOutcome,
  type Input,
  type InputBody,
  type InputHistoryEntry,
  type InputOrigin,
  type InputTerminalOutcome,
  type OpTerminalPayload,
  type OpsLifecycleRegistrySnapshot,
  type PeerConvention,
  type RecoveryReport,
  type RejectedInput,
  type RunAssignment,
  type SessionLlmCapabilitySurface,
  type SessionToolVisibilityState,
  type StoredInputState,
  type ToolFilter,
  type ToolVisibilityWitness,
} from '../gen/meerkat/kernel/v1/types.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Collects structural violations; `done()` throws INVALID_ARGUMENT when there are any. */
export class Violations {
  private readonly list: FieldViolation[] = [];

  add(field: string, description: string): void {
    this.list.push({ field, description });
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  done(): void {
    if (this.list.length > 0) throw invalidArgument(this.list);
  }
}

/** Throws INVALID_ARGUMENT `<field> is required` when a required message field is unset. */
export function required<T>(value: T | undefined | null, field: string): T {
  if (value === undefined || value === null) throw invalidArgument([{ field, description: 'is required' }]);
  return value;
}

/** `undefined` for `null` (kernel absence → proto absence). */
export function opt<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

/** A two-way table between kernel strings and a generated enum. */
class EnumTable<K extends string, P extends number> {
  private readonly back = new Map<number, K>();

  constructor(
    private readonly forward: Readonly<Record<K, P>>,
    private readonly names: string,
  ) {
    for (const [k, v] of Object.entries(forward) as [K, P][]) this.back.set(v, k);
  }

  toProto(k: K): P {
    return this.forward[k];
  }

  /** The enum value of a kernel string that may be outside the table. */
  lookup(k: string): P | undefined {
    return Object.prototype.hasOwnProperty.call(this.forward, k) ? this.forward[k as K] : undefined;
  }

  /** The kernel value, or a violation on `field` (UNSPECIFIED and unknown numbers name nothing). */
  fromProto(v: number, field: string, violations?: Violations): K | undefined {
    const k = this.back.get(v);
    if (k !== undefined) return k;
    const description = v === 0 ? `is required (one of ${this.names})` : `${v} is not one of ${this.names}`;
    if (violations) {
      violations.add(field, description);
      return undefined;
    }
    throw invalidArgument([{ field, description }]);
  }

  /** Like {@link fromProto} but throwing (the value is required). */
  need(v: number, field: string): K {
    return this.fromProto(v, field) as K;
  }
}

function names(e: Record<string, string | number>): string {
  return Object.keys(e)
    .filter((k) => Number.isNaN(Number(k)) && k !== 'UNSPECIFIED' && k !== 'UNRECOGNIZED')
    .join(', ');
}

// ---------------------------------------------------------------------------------------------
// Enums

export const DURABILITY = new EnumTable<KernelDurability, Durability>(
  { durable: Durability.DURABLE, ephemeral: Durability.EPHEMERAL, derived: Durability.DERIVED },
  names(Durability),
);
export const HANDLING_MODE = new EnumTable<KernelHandlingMode, HandlingMode>({ queue: HandlingMode.QUEUE, steer: HandlingMode.STEER }, names(HandlingMode));
export const PEER_RESPONSE_STATUS = new EnumTable<'completed' | 'failed' | 'cancelled', PeerResponseStatus>(
  { completed: PeerResponseStatus.COMPLETED, failed: PeerResponseStatus.FAILED, cancelled: PeerResponseStatus.CANCELLED },
  names(PeerResponseStatus),
);
export const INPUT_PHASE = new EnumTable<InputPublicPhase, InputLifecycleState>(
  {
    accepted: InputLifecycleState.ACCEPTED,
    queued: InputLifecycleState.QUEUED,
    staged: InputLifecycleState.STAGED,
    applied: InputLifecycleState.APPLIED,
    applied_pending_consumption: InputLifecycleState.APPLIED_PENDING_CONSUMPTION,
    consumed: InputLifecycleState.CONSUMED,
    superseded: InputLifecycleState.SUPERSEDED,
    coalesced: InputLifecycleState.COALESCED,
    abandoned: InputLifecycleState.ABANDONED,
  },
  names(InputLifecycleState),
);
export const ABANDON_REASON = new EnumTable<string, InputAbandonReason>(
  {
    retired: InputAbandonReason.RETIRED,
    reset: InputAbandonReason.RESET,
    stopped: InputAbandonReason.STOPPED,
    destroyed: InputAbandonReason.DESTROYED,
    cancelled: InputAbandonReason.CANCELLED,
    max_attempts_exhausted: InputAbandonReason.MAX_ATTEMPTS_EXHAUSTED,
    never_executed: InputAbandonReason.NEVER_EXECUTED,
  },
  names(InputAbandonReason),
);
export const ADMISSION_KIND = new EnumTable<KernelAdmissionKind, AdmissionInputKind>(
  {
    Prompt: AdmissionInputKind.PROMPT,
    PeerMessage: AdmissionInputKind.PEER_MESSAGE,
    PeerRequest: AdmissionInputKind.PEER_REQUEST,
    PeerResponseProgress: AdmissionInputKind.PEER_RESPONSE_PROGRESS,
    PeerResponseTerminal: AdmissionInputKind.PEER_RESPONSE_TERMINAL,
    FlowStep: AdmissionInputKind.FLOW_STEP,
    ExternalEvent: AdmissionInputKind.EXTERNAL_EVENT,
    Continuation: AdmissionInputKind.CONTINUATION,
    Operation: AdmissionInputKind.OPERATION,
  },
  names(AdmissionInputKind),
);
export const POST_ADMISSION_SIGNAL = new EnumTable<KernelPostAdmissionSignal, PostAdmissionSignal>(
  {
    None: PostAdmissionSignal.NONE,
    WakeLoop: PostAdmissionSignal.WAKE_LOOP,
    InterruptYielding: PostAdmissionSignal.INTERRUPT_YIELDING,
    RequestImmediateProcessing: PostAdmissionSignal.REQUEST_IMMEDIATE_PROCESSING,
  },
  names(PostAdmissionSignal),
);
export const RUNTIME_BOUNDARY = new EnumTable<KernelBoundary, RuntimeBoundary>(
  { RunStart: RuntimeBoundary.RUN_START, RunCheckpoint: RuntimeBoundary.RUN_CHECKPOINT, Immediate: RuntimeBoundary.IMMEDIATE },
  names(RuntimeBoundary),
);
export const OP_KIND = new EnumTable<KernelOpKind, OpKind>(
  {
    MobMemberChild: OpKind.MOB_MEMBER_CHILD,
    BackgroundToolOp: OpKind.BACKGROUND_TOOL_OP,
    BackgroundToolCapacitySlot: OpKind.BACKGROUND_TOOL_CAPACITY_SLOT,
    DetachedJobWait: OpKind.DETACHED_JOB_WAIT,
  },
  names(OpKind),
);
export const OP_STATUS = new EnumTable<KernelOpStatus, OpStatus>(
  {
    Absent: OpStatus.ABSENT,
    Provisioning: OpStatus.PROVISIONING,
    Running: OpStatus.RUNNING,
    Retiring: OpStatus.RETIRING,
    Completed: OpStatus.COMPLETED,
    Failed: OpStatus.FAILED,
    Aborted: OpStatus.ABORTED,
    Cancelled: OpStatus.CANCELLED,
    Retired: OpStatus.RETIRED,
    Terminated: OpStatus.TERMINATED,
  },
  names(OpStatus),
);
export const RUNTIME_STATE = new EnumTable<RuntimeStateName, RuntimeState>(
  {
    initializing: RuntimeState.INITIALIZING,
    idle: RuntimeState.IDLE,
    attached: RuntimeState.ATTACHED,
    running: RuntimeState.RUNNING,
    retired: RuntimeState.RETIRED,
    stopped: RuntimeState.STOPPED,
    destroyed: RuntimeState.DESTROYED,
  },
  names(RuntimeState),
);
export const REALTIME_CHANNEL_STATE = new EnumTable<RealtimeChannelStatus['state'], RealtimeChannelState>(
  {
    closed: RealtimeChannelState.CLOSED,
    opening: RealtimeChannelState.OPENING,
    ready: RealtimeChannelState.READY,
    reconnecting: RealtimeChannelState.RECONNECTING,
    error: RealtimeChannelState.ERROR,
  },
  names(RealtimeChannelState),
);
export const DRAIN_EXIT_REASON = new EnumTable<KernelDrainExitReason, DrainExitReason>(
  {
    IdleTimeout: DrainExitReason.IDLE_TIMEOUT,
    Dismissed: DrainExitReason.DISMISSED,
    Failed: DrainExitReason.FAILED,
    Aborted: DrainExitReason.ABORTED,
    SessionShutdown: DrainExitReason.SESSION_SHUTDOWN,
  },
  names(DrainExitReason),
);
export const APPROVAL = new EnumTable<KernelApproval, ApprovalDisposition>(
  {
    NotRequired: ApprovalDisposition.NOT_REQUIRED,
    Approved: ApprovalDisposition.APPROVED,
    DeniedByUser: ApprovalDisposition.DENIED_BY_USER,
    RequiredButUnavailable: ApprovalDisposition.REQUIRED_BUT_UNAVAILABLE,
  },
  names(ApprovalDisposition),
);
/** Keyed by the kernel's snake_case denial strings (`scoped_override_conflict`). */
export const ROUTING_DENIAL = new EnumTable<string, RoutingDenialReason>(
  {
    capability_policy: RoutingDenialReason.CAPABILITY_POLICY,
    approval_required_but_unavailable: RoutingDenialReason.APPROVAL_REQUIRED_BUT_UNAVAILABLE,
    denied_during_approval: RoutingDenialReason.DENIED_DURING_APPROVAL,
    scoped_override_conflict: RoutingDenialReason.SCOPED_OVERRIDE_CONFLICT,
    realtime_transport_conflict: RoutingDenialReason.REALTIME_TRANSPORT_CONFLICT,
  },
  names(RoutingDenialReason),
);
export const IMAGE_TERMINAL = new EnumTable<KernelImageTerminal, ImageTerminalClass>(
  {
    Generated: ImageTerminalClass.GENERATED,
    EmptyResult: ImageTerminalClass.EMPTY_RESULT,
    Denied: ImageTerminalClass.DENIED,
    RefusedByProvider: ImageTerminalClass.REFUSED_BY_PROVIDER,
    SafetyFiltered: ImageTerminalClass.SAFETY_FILTERED,
    Failed: ImageTerminalClass.FAILED,
    Cancelled: ImageTerminalClass.CANCELLED,
    Timeout: ImageTerminalClass.TIMEOUT,
    ScopedRestoreFailed: ImageTerminalClass.SCOPED_RESTORE_FAILED,
  },
  names(ImageTerminalClass),
);
/** The image-operation phases the kernel's results name (snake_case). */
export const IMAGE_PHASE = new EnumTable<'plan_resolved' | 'scoped_override_active' | 'restoring_scoped_override' | 'terminal', ImageOperationPhase>(
  {
    plan_resolved: ImageOperationPhase.PLAN_RESOLVED,
    scoped_override_active: ImageOperationPhase.SCOPED_OVERRIDE_ACTIVE,
    restoring_scoped_override: ImageOperationPhase.RESTORING_SCOPED_OVERRIDE,
    terminal: ImageOperationPhase.TERMINAL,
  },
  names(ImageOperationPhase),
);
/** UNSPECIFIED maps to the kernel's `Unknown`, which the kernel refuses on `failure.cause_kind`. */
export const CAUSE_KIND = new EnumTable<KernelCauseKind, TurnTerminalCauseKind>(
  {
    Unknown: TurnTerminalCauseKind.UNSPECIFIED,
    HookDenied: TurnTerminalCauseKind.HOOK_DENIED,
    HookFailure: TurnTerminalCauseKind.HOOK_FAILURE,
    LlmFailure: TurnTerminalCauseKind.LLM_FAILURE,
    ToolFailure: TurnTerminalCauseKind.TOOL_FAILURE,
    StructuredOutputValidationFailed: TurnTerminalCauseKind.STRUCTURED_OUTPUT_VALIDATION_FAILED,
    BudgetExhausted: TurnTerminalCauseKind.BUDGET_EXHAUSTED,
    TimeBudgetExceeded: TurnTerminalCauseKind.TIME_BUDGET_EXCEEDED,
    RetryExhausted: TurnTerminalCauseKind.RETRY_EXHAUSTED,
    TurnLimitReached: TurnTerminalCauseKind.TURN_LIMIT_REACHED,
    RuntimeApplyFailure: TurnTerminalCauseKind.RUNTIME_APPLY_FAILURE,
    FatalFailure: TurnTerminalCauseKind.FATAL_FAILURE,
  },
  names(TurnTerminalCauseKind),
);
export const ROUTED_SIGNAL_KIND = new EnumTable<KernelRoutedSignalKind, RoutedSignalKind>(
  {
    RuntimeBound: RoutedSignalKind.RUNTIME_BOUND,
    RuntimeRetired: RoutedSignalKind.RUNTIME_RETIRED,
    RuntimeDestroyed: RoutedSignalKind.RUNTIME_DESTROYED,
  },
  names(RoutedSignalKind),
);
const REJECT_REASON: Readonly<Record<string, AdmissionRejectReason>> = {
  DurabilityMissing: AdmissionRejectReason.DURABILITY_MISSING,
  ExternalDerivedDurabilityForbidden: AdmissionRejectReason.EXTERNAL_DERIVED_DURABILITY_FORBIDDEN,
  DerivedDurabilityForbiddenForInputKind: AdmissionRejectReason.DERIVED_DURABILITY_FORBIDDEN_FOR_INPUT_KIND,
  PeerHandlingModeInvalid: AdmissionRejectReason.PEER_HANDLING_MODE_INVALID,
  PeerResponseTerminalInvalid: AdmissionRejectReason.PEER_RESPONSE_TERMINAL_INVALID,
};
const WAIT_ERROR: Readonly<Record<'ChannelClosed' | 'AttachmentReplaced' | 'AuthorityUnavailable', CompletionWaitError>> = {
  ChannelClosed: CompletionWaitError.CHANNEL_CLOSED,
  AttachmentReplaced: CompletionWaitError.ATTACHMENT_REPLACED,
  AuthorityUnavailable: CompletionWaitError.AUTHORITY_UNAVAILABLE,
};

// ---------------------------------------------------------------------------------------------
// Inputs: proto → kernel

function handlingFromProto(v: HandlingMode, field: string, violations: Violations): KernelHandlingMode | null {
  if (v === HandlingMode.UNSPECIFIED) return null;
  return HANDLING_MODE.fromProto(v, field, violations) ?? null;
}

function originFromProto(o: InputOrigin | undefined, field: string, violations: Violations): KernelInputOrigin | null {
  if (o === undefined) return null;
  const t = o.type;
  switch (t?.$case) {
    case 'operator':
      return { type: 'operator' };
    case 'peer':
      return { type: 'peer', peer_id: t.peer.peer_id, runtime_id: t.peer.runtime_id ?? null };
    case 'flow':
      return { type: 'flow', flow_id: t.flow.flow_id, step_index: t.flow.step_index };
    case 'system':
      return { type: 'system' };
    case 'external':
      return { type: 'external', source_name: t.external.source_name };
    case undefined:
      violations.add(field, 'set one of operator, peer, flow, system, external (or leave origin unset for operator)');
      return null;
  }
}

function conventionFromProto(c: PeerConvention | undefined, field: string, violations: Violations): KernelPeerConvention | null {
  const t = c?.type;
  switch (t?.$case) {
    case 'message':
      return { type: 'message' };
    case 'request':
      return { type: 'request', request_id: t.request.request_id, intent: t.request.intent };
    case 'response_progress':
      return { type: 'response_progress', request_id: t.response_progress.request_id, phase: t.response_progress.phase };
    case 'response_terminal': {
      const status = PEER_RESPONSE_STATUS.fromProto(t.response_terminal.status, `${field}.status`, violations);
      return status ? { type: 'response_terminal', request_id: t.response_terminal.request_id, status } : null;
    }
    case undefined:
      violations.add(field, 'is required: set one of message, request, response_progress, response_terminal');
      return null;
  }
}

function bodyFromProto(b: InputBody | undefined, field: string, violations: Violations): KernelInputBody | null {
  const t = b?.input_type;
  switch (t?.$case) {
    case 'prompt':
      return { input_type: 'prompt', text: t.prompt.text, handling_mode: handlingFromProto(t.prompt.handling_mode, `${field}.handling_mode`, violations) };
    case 'peer': {
      const convention = conventionFromProto(t.peer.convention, `${field}.convention`, violations);
      const handling_mode = handlingFromProto(t.peer.handling_mode, `${field}.handling_mode`, violations);
      return convention ? { input_type: 'peer', convention, body: t.peer.body, handling_mode } : null;
    }
    case 'flow_step':
      return {
        input_type: 'flow_step',
        step_id: t.flow_step.step_id,
        instructions: t.flow_step.instructions,
        handling_mode: handlingFromProto(t.flow_step.handling_mode, `${field}.handling_mode`, violations),
      };
    case 'external_event':
      return {
        input_type: 'external_event',
        event_type: t.external_event.event_type,
        payload: t.external_event.payload,
        handling_mode: handlingFromProto(t.external_event.handling_mode, `${field}.handling_mode`, violations),
      };
    case 'continuation':
      return {
        input_type: 'continuation',
        reason: t.continuation.reason,
        handling_mode: handlingFromProto(t.continuation.handling_mode, `${field}.handling_mode`, violations),
        request_id: t.continuation.request_id ?? null,
      };
    case 'operation':
      return { input_type: 'operation', operation_id: t.operation.operation_id, event: t.operation.event };
    case undefined:
      violations.add(field, 'is required: set one of prompt, peer, flow_step, external_event, continuation, operation');
      return null;
  }
}

/**
 * A submitted input in the kernel's shape. `field` is the request field holding it (`input`).
 * An unset input, body or convention, or an enum naming nothing, is INVALID_ARGUMENT; the kernel
 * validates the rest (ids, bounds) when it admits the input.
 */
export function inputFromProto(input: Input | undefined, field = 'input'): KernelInput {
  const v = new Violations();
  if (input === undefined) {
    v.add(field, 'is required');
    v.done();
  }
  const i = input as Input;
  const durability = i.durability === Durability.UNSPECIFIED ? null : (DURABILITY.fromProto(i.durability, `${field}.durability`, v) ?? null);
  const origin = originFromProto(i.origin, `${field}.origin`, v);
  const body = bodyFromProto(i.body, `${field}.body`, v);
  v.done();
  return {
    id: i.id === undefined || i.id === '' ? null : i.id,
    durability,
    origin,
    idempotency_key: i.idempotency_key ?? null,
    supersession_key: i.supersession_key ?? null,
    correlation_id: i.correlation_id ?? null,
    body: body as KernelInputBody,
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs: kernel → proto

function handlingToProto(h: KernelHandlingMode | null | undefined): HandlingMode {
  return h === null || h === undefined ? HandlingMode.UNSPECIFIED : HANDLING_MODE.toProto(h);
}

function originToProto(o: KernelInputOrigin): InputOrigin {
  switch (o.type) {
    case 'operator':
      return { type: { $case: 'operator', operator: {} } };
    case 'peer':
      return { type: { $case: 'peer', peer: { peer_id: o.peer_id, runtime_id: opt(o.runtime_id) } } };
    case 'flow':
      return { type: { $case: 'flow', flow: { flow_id: o.flow_id, step_index: o.step_index } } };
    case 'system':
      return { type: { $case: 'system', system: {} } };
    case 'external':
      return { type: { $case: 'external', external: { source_name: o.source_name } } };
  }
}

function conventionToProto(c: KernelPeerConvention): PeerConvention {
  switch (c.type) {
    case 'message':
      return { type: { $case: 'message', message: {} } };
    case 'request':
      return { type: { $case: 'request', request: { request_id: c.request_id, intent: c.intent } } };
    case 'response_progress':
      return { type: { $case: 'response_progress', response_progress: { request_id: c.request_id, phase: c.phase } } };
    case 'response_terminal':
      return {
        type: { $case: 'response_terminal', response_terminal: { request_id: c.request_id, status: PEER_RESPONSE_STATUS.toProto(c.status) } },
      };
  }
}

function bodyToProto(b: KernelInputBody): InputBody {
  switch (b.input_type) {
    case 'prompt':
      return { input_type: { $case: 'prompt', prompt: { text: b.text, handling_mode: handlingToProto(b.handling_mode) } } };
    case 'peer':
      return {
        input_type: { $case: 'peer', peer: { convention: conventionToProto(b.convention), body: b.body, handling_mode: handlingToProto(b.handling_mode) } },
      };
    case 'flow_step':
      return {
        input_type: {
          $case: 'flow_step',
          flow_step: { step_id: b.step_id, instructions: b.instructions, handling_mode: handlingToProto(b.handling_mode) },
        },
      };
    case 'external_event':
      return {
        input_type: {
          $case: 'external_event',
          external_event: { event_type: b.event_type, payload: b.payload, handling_mode: handlingToProto(b.handling_mode) },
        },
      };
    case 'continuation':
      return {
        input_type: {
          $case: 'continuation',
          continuation: { reason: b.reason, handling_mode: handlingToProto(b.handling_mode), request_id: opt(b.request_id) },
        },
      };
    case 'operation':
      return { input_type: { $case: 'operation', operation: { operation_id: b.operation_id, event: b.event } } };
  }
}

export function inputToProto(i: KernelInput): Input {
  return {
    id: opt(i.id),
    durability: i.durability ? DURABILITY.toProto(i.durability) : Durability.UNSPECIFIED,
    origin: i.origin ? originToProto(i.origin) : undefined,
    idempotency_key: opt(i.idempotency_key),
    supersession_key: opt(i.supersession_key),
    correlation_id: opt(i.correlation_id),
    body: bodyToProto(i.body),
  };
}

export function terminalOutcomeToProto(t: TerminalOutcomeView): InputTerminalOutcome {
  switch (t.outcome_type) {
    case 'consumed':
      return { outcome_type: { $case: 'consumed', consumed: {} } };
    case 'superseded':
      return { outcome_type: { $case: 'superseded', superseded: { superseded_by: t.superseded_by } } };
    case 'coalesced':
      return { outcome_type: { $case: 'coalesced', coalesced: { aggregate_id: t.aggregate_id } } };
    case 'abandoned':
      return {
        outcome_type: {
          $case: 'abandoned',
          abandoned: { reason: abandonReasonToProto(t.reason), attempts: opt(t.attempts) },
        },
      };
  }
}

/** The kernel's snake_case abandon reason (`max_attempts_exhausted`) as the enum; UNSPECIFIED if unknown. */
function abandonReasonToProto(reason: string): InputAbandonReason {
  return ABANDON_REASON.lookup(reason) ?? InputAbandonReason.UNSPECIFIED;
}

function historyToProto(h: KernelHistoryEntry): InputHistoryEntry {
  return {
    at: h.at,
    from: h.from === null ? InputLifecycleState.UNSPECIFIED : INPUT_PHASE.toProto(h.from),
    to: INPUT_PHASE.toProto(h.to),
    reason: opt(h.reason),
  };
}

/** One input's durable row (`StoredInputRow` → `StoredInputState`). */
export function storedInputToProto(row: StoredInputRow): StoredInputState {
  return {
    runtime_id: row.runtime_id,
    input_id: row.input_id,
    phase: INPUT_PHASE.toProto(row.phase),
    terminal_outcome: row.terminal_outcome ? terminalOutcomeToProto(row.terminal_outcome) : undefined,
    durability: DURABILITY.toProto(row.durability),
    idempotency_key: opt(row.idempotency_key),
    lane: row.lane === 'queue' ? InputLane.QUEUE : row.lane === 'steer' ? InputLane.STEER : InputLane.UNSPECIFIED,
    admission_sequence: opt(row.admission_sequence),
    attempt_count: row.attempt_count,
    last_run_id: opt(row.last_run_id),
    last_boundary_sequence: opt(row.last_boundary_sequence),
    input: inputToProto(row.input),
    content_blob_id: opt(row.content_blob_id),
    history: row.history.map(historyToProto),
    trace_context: opt(row.trace_context),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** An admission outcome that was not rejected (`AcceptOutcome` message). */
export function acceptOutcomeToProto(o: Exclude<AcceptOutcome, { readonly type: 'rejected' }>): ProtoAcceptOutcome {
  if (o.type === 'accepted') return { type: { $case: 'accepted', accepted: { input_id: o.input_id, row: storedInputToProto(o.row) } } };
  return {
    type: {
      $case: 'deduplicated',
      deduplicated: { input_id: o.input_id, existing_id: o.existing_id, existing: o.existing ? storedInputToProto(o.existing) : undefined },
    },
  };
}

/** A rejected admission (`RejectedInput`, Ingest only). */
export function rejectedToProto(o: Extract<AcceptOutcome, { readonly type: 'rejected' }>): RejectedInput {
  return { reason: REJECT_REASON[o.reason] ?? AdmissionRejectReason.UNSPECIFIED, detail: o.detail };
}

// ---------------------------------------------------------------------------------------------
// Completion

function abandonViewToProto(r: AbandonReasonView): AbandonReason {
  switch (r.kind) {
    case 'retired':
      return { kind: { $case: 'retired', retired: {} } };
    case 'reset':
      return { kind: { $case: 'reset', reset: {} } };
    case 'stopped':
      return { kind: { $case: 'stopped', stopped: {} } };
    case 'destroyed':
      return { kind: { $case: 'destroyed', destroyed: {} } };
    case 'cancelled':
      return { kind: { $case: 'cancelled', cancelled: {} } };
    case 'max_attempts_exhausted':
      return { kind: { $case: 'max_attempts_exhausted', max_attempts_exhausted: { attempts: r.attempts } } };
    case 'never_executed':
      return { kind: { $case: 'never_executed', never_executed: {} } };
  }
}

/** A waiter's terminal answer (`CompletionOutcome`). */
export function completionOutcomeToProto(o: KernelCompletionOutcome): CompletionOutcome {
  switch (o.kind) {
    case 'completed':
      return { kind: { $case: 'completed', completed: { result: { text: o.result.text } } } };
    case 'completed_without_result':
      return { kind: { $case: 'completed_without_result', completed_without_result: {} } };
    case 'callback_pending':
      return { kind: { $case: 'callback_pending', callback_pending: { tool_use_id: o.tool_use_id, tool_name: o.tool_name, args: o.args } } };
    case 'cancelled':
      return { kind: { $case: 'cancelled', cancelled: {} } };
    case 'superseded':
      return { kind: { $case: 'superseded', superseded: { superseded_by: o.superseded_by } } };
    case 'coalesced':
      return { kind: { $case: 'coalesced', coalesced: { aggregate_id: o.aggregate_id } } };
    case 'abandoned':
      return { kind: { $case: 'abandoned', abandoned: { reason: abandonViewToProto(o.reason), error: opt(o.error) } } };
    case 'abandoned_with_error':
      return { kind: { $case: 'abandoned_with_error', abandoned_with_error: { reason: o.reason, error: o.error } } };
    case 'completed_with_finalization_failure':
      return { kind: { $case: 'completed_with_finalization_failure', completed_with_finalization_failure: { error: o.error } } };
    case 'runtime_terminated':
      return { kind: { $case: 'runtime_terminated', runtime_terminated: { reason: o.reason } } };
    case 'wait_error':
      return { kind: { $case: 'wait_error', wait_error: { error: WAIT_ERROR[o.error], message: o.message } } };
  }
}

// ---------------------------------------------------------------------------------------------
// Runs and receipts

export function runAssignmentToProto(a: KernelRunAssignment): RunAssignment {
  return {
    session_id: a.session_id,
    runtime_id: a.runtime_id,
    run_id: a.run_id,
    boundary: RUNTIME_BOUNDARY.toProto(a.boundary),
    inputs: a.inputs.map((c) => ({ input_id: c.input_id, kind: ADMISSION_KIND.toProto(c.kind), text: c.text, attempt: c.attempt })),
  };
}

export function boundaryReceiptToProto(r: KernelBoundaryReceipt): BoundaryReceipt {
  return {
    run_id: r.run_id,
    boundary: RUNTIME_BOUNDARY.toProto(r.boundary),
    contributing_input_ids: [...r.contributing_input_ids],
    conversation_digest: opt(r.conversation_digest),
    message_count: r.message_count,
    sequence: r.sequence,
  };
}

export function recoveryReportToProto(r: KernelRecoveryReport): RecoveryReport & RecoverResponse {
  return {
    inputs_recovered: r.inputs_recovered,
    inputs_abandoned: r.inputs_abandoned,
    inputs_requeued: r.inputs_requeued,
    details: [...r.details],
  };
}

// ---------------------------------------------------------------------------------------------
// Async operations

function opPayloadToProto(p: KernelOpTerminalPayload): OpTerminalPayload {
  switch (p.kind) {
    case 'Completed':
      return { kind: { $case: 'completed', completed: { result: p.result } } };
    case 'Failed':
      return { kind: { $case: 'failed', failed: { error: p.error } } };
    case 'Aborted':
      return { kind: { $case: 'aborted', aborted: { reason: opt(p.reason) } } };
    case 'Cancelled':
      return { kind: { $case: 'cancelled', cancelled: { reason: opt(p.reason) } } };
    case 'Retired':
      return { kind: { $case: 'retired', retired: {} } };
    case 'Terminated':
      return { kind: { $case: 'terminated', terminated: { reason: p.reason } } };
  }
}

/** A point-in-time view of a registry: every operation, and the completion feed after `afterSequence`. */
export function opsSnapshotToProto(ops: OpsRegistry, afterSequence = 0): OpsLifecycleRegistrySnapshot {
  return {
    operations: ops.list().map((o) => ({
      id: o.id,
      kind: OP_KIND.toProto(o.kind),
      display_name: o.display_name,
      status: OP_STATUS.toProto(o.status),
      peer_ready: o.peer_ready,
      progress_count: o.progress_count,
      watcher_count: o.watcher_count,
      terminal_outcome: o.terminal_outcome ? opPayloadToProto(o.terminal_outcome) : undefined,
      completion_sequence: opt(o.completion_sequence),
      created_at_ms: o.created_at_ms,
      completed_at_ms: opt(o.completed_at_ms),
    })),
    completion_feed: ops.completionFeed(afterSequence).map((e) => ({
      id: e.id,
      sequence: e.sequence,
      kind: OP_KIND.toProto(e.kind),
      outcome: opPayloadToProto(e.outcome),
    })),
  };
}

export function bindingsToProto(b: KernelBindings): SessionRuntimeBindings {
  return {
    session_id: b.session_id,
    runtime_id: b.runtime_id,
    epoch_id: b.epoch_id,
    authority: b.authority === 'authoritative' ? BindingAuthority.AUTHORITATIVE : BindingAuthority.LOCAL,
    agent_runtime_id: opt(b.agent_runtime_id),
    fence_token: opt(b.fence_token),
    ops: opsSnapshotToProto(b.ops),
  };
}

// ---------------------------------------------------------------------------------------------
// HEAD queries

export function interactionReportToProto(r: KernelInteractionReport): InteractionTerminalReport {
  return {
    source: r.source === 'LiveRuntime' ? InteractionStatusSource.LIVE_RUNTIME : InteractionStatusSource.DURABLE_STORE,
    input_id: r.input_id,
    phase: INPUT_PHASE.toProto(r.phase),
    terminal: r.terminal ? terminalOutcomeToProto(r.terminal) : undefined,
    resolving_run_id: opt(r.resolving_run_id),
    attempt_count: r.attempt_count,
    idempotency_key: opt(r.idempotency_key),
    updated_at: r.updated_at,
  };
}

export function runTerminalStatusToProto(s: RunTerminalStatus): RunTerminalStatusResponse {
  const witnesses = [...s.witnesses];
  switch (s.status) {
    case 'in_flight':
      return { status: { $case: 'in_flight', in_flight: {} }, witnesses };
    case 'no_durable_witness':
      return { status: { $case: 'no_durable_witness', no_durable_witness: {} }, witnesses };
    case 'resolved':
      switch (s.resolution) {
        case 'consumed':
          return { status: { $case: 'resolved', resolved: { resolution: { $case: 'consumed', consumed: {} } } }, witnesses };
        case 'displaced':
          return { status: { $case: 'resolved', resolved: { resolution: { $case: 'displaced', displaced: {} } } }, witnesses };
        case 'abandoned':
          return {
            status: { $case: 'resolved', resolved: { resolution: { $case: 'abandoned', abandoned: { reason: abandonReasonToProto(s.reason) } } } },
            witnesses,
          };
      }
  }
}

// ---------------------------------------------------------------------------------------------
// Tool visibility

export function toolFilterFromProto(f: ToolFilter | undefined, field: string): KernelToolFilter {
  const k = f?.kind;
  switch (k?.$case) {
    case 'all':
      return { kind: 'All' };
    case 'allow':
      return { kind: 'Allow', names: [...k.allow.names] };
    case 'deny':
      return { kind: 'Deny', names: [...k.deny.names] };
    case undefined:
      throw invalidArgument([{ field, description: 'is required: set one of all, allow, deny' }]);
  }
}

export function toolFilterToProto(f: KernelToolFilter): ToolFilter {
  switch (f.kind) {
    case 'All':
      return { kind: { $case: 'all', all: {} } };
    case 'Allow':
      return { kind: { $case: 'allow', allow: { names: [...f.names] } } };
    case 'Deny':
      return { kind: { $case: 'deny', deny: { names: [...f.names] } } };
  }
}

export function witnessFromProto(w: ToolVisibilityWitness | undefined): KernelWitness {
  return {
    stable_owner_key: w?.stable_owner_key ?? null,
    last_seen_provenance: w?.last_seen_provenance ? { kind: w.last_seen_provenance.kind, source_id: w.last_seen_provenance.source_id } : null,
  };
}

export function witnessToProto(w: KernelWitness): ToolVisibilityWitness {
  return {
    stable_owner_key: opt(w.stable_owner_key),
    last_seen_provenance: w.last_seen_provenance ? { kind: w.last_seen_provenance.kind, source_id: w.last_seen_provenance.source_id } : undefined,
  };
}

export function witnessMapFromProto(m: Readonly<Record<string, ToolVisibilityWitness>>): Record<string, KernelWitness> {
  const out: Record<string, KernelWitness> = {};
  for (const [name, w] of Object.entries(m)) out[name] = witnessFromProto(w);
  return out;
}

function witnessMapToProto(m: Readonly<Record<string, KernelWitness>>): Record<string, ToolVisibilityWitness> {
  const out: Record<string, ToolVisibilityWitness> = {};
  for (const [name, w] of Object.entries(m)) out[name] = witnessToProto(w);
  return out;
}

export function visibilityToProto(v: KernelVisibility): SessionToolVisibilityState {
  return {
    inherited_base_filter: toolFilterToProto(v.inherited_base_filter),
    active_filter: toolFilterToProto(v.active_filter),
    staged_filter: toolFilterToProto(v.staged_filter),
    active_requested_deferred_names: [...v.active_requested_deferred_names],
    staged_requested_deferred_names: [...v.staged_requested_deferred_names],
    active_revision: v.active_revision,
    staged_revision: v.staged_revision,
    requested_witnesses: witnessMapToProto(v.requested_witnesses),
    filter_witnesses: witnessMapToProto(v.filter_witnesses),
  };
}

/** The fields PublishCommittedVisibleSet reads (inherited_base_filter and filter_witnesses are machine-owned). */
export function visibilityFromProto(v: SessionToolVisibilityState | undefined, field: string): KernelVisibility {
  const s = required(v, field);
  return {
    inherited_base_filter: { kind: 'All' },
    active_filter: toolFilterFromProto(s.active_filter, `${field}.active_filter`),
    staged_filter: toolFilterFromProto(s.staged_filter, `${field}.staged_filter`),
    active_requested_deferred_names: [...s.active_requested_deferred_names],
    staged_requested_deferred_names: [...s.staged_requested_deferred_names],
    active_revision: s.active_revision,
    staged_revision: s.staged_revision,
    requested_witnesses: witnessMapFromProto(s.requested_witnesses),
    filter_witnesses: {},
  };
}

export function capabilitiesToProto(c: KernelCapabilities): SessionLlmCapabilitySurface {
  return { ...c, call_timeout_secs: opt(c.call_timeout_secs) };
}

// ---------------------------------------------------------------------------------------------
// Control

/** Epoch ms of a kernel timestamp (the realtime status carries them as text). */
function epochMs(v: string | null): number | undefined {
  if (v === null) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.isFinite(n) ? n : undefined;
}

export function realtimeChannelStatusToProto(s: RealtimeChannelStatus): RuntimeRealtimeChannelStatusResponse {
  return {
    state: REALTIME_CHANNEL_STATE.toProto(s.state),
    attempt_count: s.attempt_count,
    next_retry_at: epochMs(s.next_retry_at),
    deadline_at: epochMs(s.deadline_at),
    reason: opt(s.reason),
  };
}

// ---------------------------------------------------------------------------------------------
// Model routing

function switchDurationFromProto(d: SwitchDuration | undefined, field: string): KernelSwitchTurnRequest['duration'] {
  const x = d?.duration;
  switch (x?.$case) {
    case 'one_turn':
      return 'one_turn';
    case 'turns':
      return x.turns;
    case 'until_changed':
      return 'until_changed';
    case undefined:
      throw invalidArgument([{ field, description: 'is required: set one of one_turn, turns, until_changed' }]);
  }
}

function switchDurationToProto(d: KernelSwitchTurnRequest['duration']): SwitchDuration {
  if (d === 'one_turn') return { duration: { $case: 'one_turn', one_turn: {} } };
  if (d === 'until_changed') return { duration: { $case: 'until_changed', until_changed: {} } };
  return { duration: { $case: 'turns', turns: d } };
}

function pendingDurationToProto(d: PendingSwitchDuration): SwitchDuration {
  if (d.kind === 'until_changed') return switchDurationToProto('until_changed');
  return switchDurationToProto(d.duration.kind === 'one_turn' ? 'one_turn' : d.duration.turns);
}

export function switchTurnRequestFromProto(r: SwitchTurnRequest | undefined, field: string): KernelSwitchTurnRequest {
  const req = required(r, field);
  const v = new Violations();
  const approval = APPROVAL.fromProto(req.approval, `${field}.approval`, v);
  let duration: KernelSwitchTurnRequest['duration'] = 'one_turn';
  try {
    duration = switchDurationFromProto(req.duration, `${field}.duration`);
  } catch {
    v.add(`${field}.duration`, 'is required: set one of one_turn, turns, until_changed');
  }
  v.done();
  return {
    request_id: req.request_id,
    target_model: req.target_model,
    duration,
    target_realtime: req.target_realtime,
    approval: approval as KernelApproval,
    realtime_detach_allowed: req.realtime_detach_allowed ?? false,
  };
}

export function switchTurnResultToProto(r: SwitchTurnResult): RequestSwitchTurnResponse {
  if (r.result === 'applied') {
    return { result: { $case: 'applied', applied: { request_id: r.request_id, target_model: r.target_model, duration: switchDurationToProto(r.duration) } } };
  }
  return { result: { $case: 'denied', denied: { request_id: r.request_id, reason: denialToProto(r.reason) } } };
}

function denialToProto(reason: string): RoutingDenialReason {
  return ROUTING_DENIAL.lookup(reason) ?? RoutingDenialReason.UNSPECIFIED;
}

export function imageResultToProto(r: ImageOperationRoutingResult): BeginImageOperationResponse {
  if (r.result === 'accepted') return { result: { $case: 'accepted', accepted: { operation_id: r.operation_id, phase: IMAGE_PHASE.toProto(r.phase) } } };
  return { result: { $case: 'denied', denied: { operation_id: r.operation_id, reason: denialToProto(r.reason) } } };
}

export function routingStatusToProto(s: SessionModelRoutingStatus): SessionModelRoutingStatusResponse {
  const t = s.active_turn_override;
  const o = s.active_operation_override;
  const p = s.pending_switch_turn;
  return {
    baseline_model: s.baseline_model,
    effective_model: s.effective_model,
    active_turn_override: t
      ? { id: t.id, request_id: t.kind.request_id, remaining_turns: t.kind.duration.turns, target_model: t.target_model, topology_epoch: t.topology_epoch }
      : undefined,
    active_operation_override: o
      ? { id: o.id, operation_id: o.kind.operation_id, target_model: o.target_model, topology_epoch: o.topology_epoch }
      : undefined,
    pending_switch_turn: p
      ? { request_id: p.request_id, target_model: p.target_model, duration: pendingDurationToProto(p.duration), phase: PendingSwitchPhase.PENDING_FOR_BOUNDARY }
      : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Composition signals

export function routedSignalToProto(s: KernelRoutedSignal): RoutedSignal {
  return {
    sequence: s.sequence,
    kind: ROUTED_SIGNAL_KIND.toProto(s.kind),
    session_id: s.session_id,
    runtime_id: s.runtime_id,
    agent_runtime_id: s.agent_runtime_id,
    fence_token: s.fence_token,
    trace_context: opt(s.trace_context),
    created_at: s.created_at,
  };
}
