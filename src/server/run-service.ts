/**
 * RunService adapter: the legacy run lane, `kernel.legacyRun.*`.
 * proto/meerkat/kernel/v1/run.proto documents each RPC and its error reasons.
 */
import type { RunServiceServer } from '../gen/meerkat/kernel/v1/run.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import { CAUSE_KIND, inputFromProto, required, runAssignmentToProto } from './mapping.js';

const S = 'RunService';

export function createRunService(ctx: ServerContext): RunServiceServer {
  const { legacyRun } = ctx.kernel;
  return {
    prepare: unary(ctx, `${S}.Prepare`, async (req) => {
      const p = await legacyRun.prepare(req.session_id, inputFromProto(req.input));
      return { input_id: p.input_id, run_id: p.run_id, primitive: runAssignmentToProto(p.primitive) };
    }),

    commit: unary(ctx, `${S}.Commit`, async (req) => {
      const receipt = required(req.receipt, 'receipt');
      await legacyRun.commit(
        req.session_id,
        req.input_id,
        req.run_id,
        {
          run_id: receipt.run_id,
          contributing_input_ids: receipt.contributing_input_ids,
          conversation_digest: receipt.conversation_digest ?? null,
          ...(receipt.message_count !== undefined ? { message_count: receipt.message_count } : {}),
        },
        req.result_text ?? null,
      );
      return {};
    }),

    fail: unary(ctx, `${S}.Fail`, async (req) => {
      const failure = required(req.failure, 'failure');
      // UNSPECIFIED is the kernel's `Unknown`, which the kernel refuses on failure.cause_kind.
      await legacyRun.fail(req.session_id, req.run_id, {
        cause_kind: CAUSE_KIND.need(failure.cause_kind, 'failure.cause_kind'),
        message: failure.message,
      });
      return {};
    }),
  };
}
