/**
 * ControlService adapter: lifecycle control by runtime id, realtime and capability queries and
 * boundary receipts (`kernel.control.*`, model routing excepted).
 * proto/meerkat/kernel/v1/control.proto documents each RPC and its error reasons.
 */
import { RealtimeAttachmentStatus, type ControlServiceServer } from '../gen/meerkat/kernel/v1/control.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import {
  acceptOutcomeToProto,
  boundaryReceiptToProto,
  capabilitiesToProto,
  inputFromProto,
  realtimeChannelStatusToProto,
  recoveryReportToProto,
  rejectedToProto,
  RUNTIME_STATE,
} from './mapping.js';

const S = 'ControlService';

export function createControlService(ctx: ServerContext): ControlServiceServer {
  const { control } = ctx.kernel;
  return {
    ingest: unary(ctx, `${S}.Ingest`, async (req) => {
      const outcome = await control.ingest(req.runtime_id, inputFromProto(req.input));
      if (outcome.type === 'rejected') return { type: { $case: 'rejected', rejected: rejectedToProto(outcome) } };
      return acceptOutcomeToProto(outcome);
    }),

    publishEvent: unary(ctx, `${S}.PublishEvent`, async (req) => {
      await control.publishEvent(req.runtime_id, req.kind);
      return {};
    }),

    retire: unary(ctx, `${S}.Retire`, (req) => control.retire(req.runtime_id)),

    recycle: unary(ctx, `${S}.Recycle`, (req) => control.recycle(req.runtime_id)),

    reset: unary(ctx, `${S}.Reset`, (req) => control.reset(req.runtime_id)),

    recover: unary(ctx, `${S}.Recover`, async (req) => recoveryReportToProto(await control.recover(req.runtime_id))),

    destroy: unary(ctx, `${S}.Destroy`, (req) => control.destroy(req.runtime_id)),

    runtimeState: unary(ctx, `${S}.RuntimeState`, (req) => ({ state: RUNTIME_STATE.toProto(control.runtimeState(req.runtime_id)) })),

    runtimeRealtimeAttachmentStatus: unary(ctx, `${S}.RuntimeRealtimeAttachmentStatus`, (req) => {
      control.runtimeRealtimeAttachmentStatus(req.session_id); // always 'unattached' (decision 8)
      return { status: RealtimeAttachmentStatus.UNATTACHED };
    }),

    resolvedSessionLlmCapabilities: unary(ctx, `${S}.ResolvedSessionLlmCapabilities`, (req) => {
      const caps = control.resolvedSessionLlmCapabilities(req.session_id);
      return { capabilities: caps ? capabilitiesToProto(caps) : undefined };
    }),

    runtimeRealtimeChannelStatus: unary(ctx, `${S}.RuntimeRealtimeChannelStatus`, (req) =>
      realtimeChannelStatusToProto(control.runtimeRealtimeChannelStatus(req.session_id)),
    ),

    loadBoundaryReceipt: unary(ctx, `${S}.LoadBoundaryReceipt`, async (req) => {
      const receipt = await control.loadBoundaryReceipt(req.runtime_id, req.run_id, req.sequence);
      return { receipt: receipt ? boundaryReceiptToProto(receipt) : undefined };
    }),
  };
}
