/**
 * IngressService adapter. This file implements the unary `AcceptWithoutWake`
 * (`kernel.ingress.acceptWithoutWake`); the streaming `AcceptWithCompletion` and `WatchInput`
 * come from the streaming component plugged in server.ts (`createStreamingComponents`).
 * proto/meerkat/kernel/v1/ingress.proto documents each RPC and its error reasons.
 */
import type { IngressServiceServer } from '../gen/meerkat/kernel/v1/ingress.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import { acceptOutcomeToProto, inputFromProto } from './mapping.js';

const S = 'IngressService';

/** The streaming half of IngressService, supplied by the plug-in. */
export type IngressStreamHandlers = Pick<IngressServiceServer, 'acceptWithCompletion' | 'watchInput'>;

export function createIngressService(ctx: ServerContext, streams: IngressStreamHandlers): IngressServiceServer {
  const { ingress } = ctx.kernel;
  return {
    acceptWithCompletion: streams.acceptWithCompletion,
    watchInput: streams.watchInput,

    acceptWithoutWake: unary(ctx, `${S}.AcceptWithoutWake`, async (req) => ({
      outcome: acceptOutcomeToProto(await ingress.acceptWithoutWake(req.session_id, inputFromProto(req.input))),
    })),
  };
}
