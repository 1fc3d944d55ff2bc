/**
 * VisibilityService adapter: the tool-visibility commands of `kernel.session`.
 * proto/meerkat/kernel/v1/visibility.proto documents each RPC and its error reasons.
 */
import type { VisibilityServiceServer } from '../gen/meerkat/kernel/v1/visibility.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import { toolFilterFromProto, visibilityFromProto, visibilityToProto, witnessFromProto, witnessMapFromProto } from './mapping.js';

const S = 'VisibilityService';

export function createVisibilityService(ctx: ServerContext): VisibilityServiceServer {
  const { session } = ctx.kernel;
  return {
    stagePersistentFilter: unary(ctx, `${S}.StagePersistentFilter`, async (req) => ({
      staged_revision: await session.stagePersistentFilter(
        req.session_id,
        toolFilterFromProto(req.filter, 'filter'),
        witnessMapFromProto(req.witnesses),
      ),
    })),

    requestDeferredTools: unary(ctx, `${S}.RequestDeferredTools`, async (req) => ({
      staged_revision: await session.requestDeferredTools(
        req.session_id,
        req.authorities.map((a) => ({ name: a.name, witness: witnessFromProto(a.witness) })),
      ),
    })),

    publishCommittedVisibleSet: unary(ctx, `${S}.PublishCommittedVisibleSet`, async (req) => ({
      visibility: visibilityToProto(await session.publishCommittedVisibleSet(req.session_id, visibilityFromProto(req.visibility, 'visibility'))),
    })),
  };
}
