/**
 * ModelRoutingService adapter: baseline model, switch-turn overrides and image operations
 * (`kernel.control.*` routing commands).
 * proto/meerkat/kernel/v1/model_routing.proto documents each RPC and its error reasons.
 */
import type { ModelRoutingServiceServer } from '../gen/meerkat/kernel/v1/model_routing.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import {
  APPROVAL,
  IMAGE_PHASE,
  IMAGE_TERMINAL,
  imageResultToProto,
  required,
  routingStatusToProto,
  switchTurnRequestFromProto,
  switchTurnResultToProto,
  Violations,
} from './mapping.js';

const S = 'ModelRoutingService';

export function createModelRoutingService(ctx: ServerContext): ModelRoutingServiceServer {
  const { control } = ctx.kernel;
  return {
    configureModelRoutingBaseline: unary(ctx, `${S}.ConfigureModelRoutingBaseline`, async (req) => {
      await control.configureModelRoutingBaseline(req.session_id, req.baseline_model, req.realtime_capable);
      return {};
    }),

    sessionModelRoutingStatus: unary(ctx, `${S}.SessionModelRoutingStatus`, (req) =>
      routingStatusToProto(control.sessionModelRoutingStatus(req.session_id)),
    ),

    requestSwitchTurn: unary(ctx, `${S}.RequestSwitchTurn`, async (req) =>
      switchTurnResultToProto(await control.requestSwitchTurn(req.session_id, switchTurnRequestFromProto(req.request, 'request'))),
    ),

    admitModelRoutingAssistantTurn: unary(ctx, `${S}.AdmitModelRoutingAssistantTurn`, async (req) => {
      await control.admitModelRoutingAssistantTurn(req.session_id);
      return {};
    }),

    beginImageOperation: unary(ctx, `${S}.BeginImageOperation`, async (req) => {
      const r = required(req.request, 'request');
      const v = new Violations();
      const approval = APPROVAL.fromProto(r.approval, 'request.approval', v);
      v.done();
      const result = await control.beginImageOperation(req.session_id, {
        operation_id: r.operation_id,
        target_model: r.target_model,
        target_realtime: r.target_realtime,
        approval: approval ?? 'NotRequired',
        requires_scoped_override: r.requires_scoped_override,
        realtime_detach_allowed: r.realtime_detach_allowed ?? false,
      });
      return imageResultToProto(result);
    }),

    activateImageOperationOverride: unary(ctx, `${S}.ActivateImageOperationOverride`, async (req) => ({
      phase: IMAGE_PHASE.toProto(await control.activateImageOperationOverride(req.session_id, req.operation_id)),
    })),

    completeImageOperation: unary(ctx, `${S}.CompleteImageOperation`, async (req) => {
      const terminal = IMAGE_TERMINAL.need(req.terminal, 'terminal');
      const r = await control.completeImageOperation(req.session_id, req.operation_id, terminal, req.detail ?? null);
      return { phase: IMAGE_PHASE.toProto(r.phase), terminal: IMAGE_TERMINAL.toProto(r.terminal) };
    }),

    restoreImageOperationOverride: unary(ctx, `${S}.RestoreImageOperationOverride`, async (req) => {
      const r = await control.restoreImageOperationOverride(req.session_id, req.operation_id);
      return { phase: IMAGE_PHASE.toProto(r.phase), terminal: IMAGE_TERMINAL.toProto(r.terminal) };
    }),
  };
}
