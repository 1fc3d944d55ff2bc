import fc from 'fast-check';
import type { RoutingInput } from '../../../src/machine/arms/routing.js';
import type {
  ImageTerminalClass,
  SessionLlmCapabilitySurface,
  SessionLlmIdentity,
} from '../../../src/machine/state.js';
import { modelId, opId, optional, pick, requestId, sessionId } from './pool.js';

const IMAGE_TERMINALS: readonly ImageTerminalClass[] = [
  'Generated',
  'EmptyResult',
  'Denied',
  'RefusedByProvider',
  'SafetyFiltered',
  'Failed',
  'Cancelled',
  'Timeout',
  'ScopedRestoreFailed',
];

/** An LLM identity drawn from the model pool. */
export const llmIdentityArb: fc.Arbitrary<SessionLlmIdentity> = fc.record({
  model: modelId,
  provider: pick(['anthropic', 'openai']),
  self_hosted_server_id: optional(pick(['srv-1'])),
  provider_params: optional(pick(['{"temperature":0.2}'])),
  auth_binding: optional(pick(['auth-1'])),
});

/** A capability surface with arbitrary flags. */
export const capabilitySurfaceArb: fc.Arbitrary<SessionLlmCapabilitySurface> = fc.record({
  supports_temperature: fc.boolean(),
  supports_thinking: fc.boolean(),
  supports_reasoning: fc.boolean(),
  inline_video: fc.boolean(),
  vision: fc.boolean(),
  image_input: fc.boolean(),
  image_tool_results: fc.boolean(),
  supports_web_search: fc.boolean(),
  image_generation: fc.boolean(),
  realtime: fc.boolean(),
  call_timeout_secs: optional(fc.integer({ min: 1, max: 600 })),
});

/**
 * Approval facts. Mostly the three consistent public dispositions
 * (NotRequired, Approved, DeniedByUser, RequiredButUnavailable, §2.17), with an
 * occasional arbitrary combination.
 */
const approvalArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ requires_approval: false, approval_available: true, approval_denied: false }) },
  { weight: 2, arbitrary: fc.constant({ requires_approval: true, approval_available: true, approval_denied: false }) },
  { weight: 1, arbitrary: fc.constant({ requires_approval: true, approval_available: true, approval_denied: true }) },
  { weight: 1, arbitrary: fc.constant({ requires_approval: true, approval_available: false, approval_denied: false }) },
  {
    weight: 1,
    arbitrary: fc.record({ requires_approval: fc.boolean(), approval_available: fc.boolean(), approval_denied: fc.boolean() }),
  },
);

const realtimeArb = fc.record({ target_realtime_capable: fc.boolean(), realtime_detach_allowed: fc.boolean() });

const baselineArb: fc.Arbitrary<RoutingInput> = fc
  .record({ baseline_model: modelId, realtime_capable: fc.boolean() })
  .map((r): RoutingInput => ({ type: 'SetModelRoutingBaseline', ...r }));

const finiteArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(requestId, modelId, fc.integer({ min: 0, max: 3 }), approvalArb, realtimeArb)
  .map(([request_id, target_model, turns, a, rt]): RoutingInput => ({
    type: 'RequestFiniteSwitchTurn',
    request_id,
    target_model,
    turns,
    ...a,
    ...rt,
  }));

const untilChangedArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(requestId, modelId, approvalArb, realtimeArb)
  .map(([request_id, target_model, a, rt]): RoutingInput => ({
    type: 'RequestUntilChangedSwitchTurn',
    request_id,
    target_model,
    ...a,
    ...rt,
  }));

const completeUntilChangedArb: fc.Arbitrary<RoutingInput> = requestId.map(
  (request_id): RoutingInput => ({ type: 'CompleteUntilChangedSwitchTurnReconfigure', request_id }),
);

const admitArb: fc.Arbitrary<RoutingInput> = fc.constant<RoutingInput>({ type: 'AdmitModelRoutingAssistantTurn' });

const beginArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(opId, modelId, fc.boolean(), approvalArb, realtimeArb)
  .map(([operation_id, target_model, requires_scoped_override, a, rt]): RoutingInput => ({
    type: 'BeginImageOperation',
    operation_id,
    target_model,
    requires_scoped_override,
    ...a,
    ...rt,
  }));

const activateArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(opId, modelId, fc.boolean())
  .map(([operation_id, target_model, target_realtime_capable]): RoutingInput => ({
    type: 'ActivateImageOperationOverride',
    operation_id,
    target_model,
    target_realtime_capable,
  }));

const completeImageArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(opId, pick(IMAGE_TERMINALS))
  .map(([operation_id, terminal]): RoutingInput => ({
    type: 'CompleteImageOperation',
    operation_id,
    terminal,
    terminal_payload: JSON.stringify({ terminal }),
  }));

const restoreImageArb: fc.Arbitrary<RoutingInput> = opId.map(
  (operation_id): RoutingInput => ({ type: 'RestoreImageOperationOverride', operation_id }),
);

const reconfigureArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(sessionId, llmIdentityArb, capabilitySurfaceArb)
  .map(([session_id, target_identity, target_capability_surface]): RoutingInput => ({
    type: 'ReconfigureSessionLlmIdentity',
    session_id,
    target_identity,
    target_capability_surface,
  }));

const resolveCapabilitiesArb: fc.Arbitrary<RoutingInput> = fc
  .tuple(llmIdentityArb, capabilitySurfaceArb)
  .map(([identity, surface]): RoutingInput => ({ type: 'ResolveSessionLlmCapabilities', identity, surface }));

/**
 * Every input variant of the routing domain, with ids drawn from the shared
 * pools. Weighted towards the inputs that need a prepared state (admissions,
 * image activation / completion / restore) so random sequences reach every arm.
 */
export const routingInputArb: fc.Arbitrary<RoutingInput> = fc.oneof(
  { weight: 2, arbitrary: baselineArb },
  { weight: 3, arbitrary: finiteArb },
  { weight: 2, arbitrary: untilChangedArb },
  { weight: 1, arbitrary: completeUntilChangedArb },
  { weight: 4, arbitrary: admitArb },
  { weight: 3, arbitrary: beginArb },
  { weight: 3, arbitrary: activateArb },
  { weight: 3, arbitrary: completeImageArb },
  { weight: 2, arbitrary: restoreImageArb },
  { weight: 1, arbitrary: reconfigureArb },
  { weight: 1, arbitrary: resolveCapabilitiesArb },
);
