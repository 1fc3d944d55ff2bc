/**
 * DrainService adapter: `kernel.drain.*` and `kernel.drainLocal.*` (decision 9).
 * proto/meerkat/kernel/v1/drain.proto documents each RPC and its error reasons.
 */
import type { DrainServiceServer } from '../gen/meerkat/kernel/v1/drain.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import { DRAIN_EXIT_REASON, opt } from './mapping.js';

const S = 'DrainService';

export function createDrainService(ctx: ServerContext): DrainServiceServer {
  const { drain, drainLocal } = ctx.kernel;
  return {
    setPeerIngressContext: unary(ctx, `${S}.SetPeerIngressContext`, async (req) => ({
      drain_started: await drain.setPeerIngressContext(req.session_id, {
        keep_alive: req.keep_alive,
        comms_runtime_id: opt(req.comms_runtime_id),
        mob_id: opt(req.mob_id),
      }),
    })),

    notifyDrainExited: unary(ctx, `${S}.NotifyDrainExited`, async (req) => {
      await drain.notifyDrainExited(req.session_id, DRAIN_EXIT_REASON.need(req.reason, 'reason'));
      return {};
    }),

    abort: unary(ctx, `${S}.Abort`, async (req) => {
      await drainLocal.abort(req.session_id);
      return {};
    }),

    abortAll: unary(ctx, `${S}.AbortAll`, async () => {
      await drainLocal.abortAll();
      return {};
    }),

    // Joins the drain task: may wait long; a cancelled call or an expired deadline stops the wait.
    wait: unary(ctx, `${S}.Wait`, async (req) => {
      await drainLocal.wait(req.session_id);
      return {};
    }),
  };
}
