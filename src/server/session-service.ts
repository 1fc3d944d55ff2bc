/**
 * SessionService adapter: `kernel.session.*` and the HEAD queries (`kernel.queries.*`).
 * proto/meerkat/kernel/v1/session.proto documents each RPC and its error reasons.
 */
import type { SessionServiceServer } from '../gen/meerkat/kernel/v1/session.js';
import { invalidField } from '../kernel/errors.js';
import type { ServerContext } from './context.js';
import { unary } from './handlers.js';
import {
  bindingsToProto,
  interactionReportToProto,
  opsSnapshotToProto,
  opt,
  recoveryReportToProto,
  runTerminalStatusToProto,
  storedInputToProto,
} from './mapping.js';

const S = 'SessionService';

export function createSessionService(ctx: ServerContext): SessionServiceServer {
  const { session, queries } = ctx.kernel;
  return {
    registerSession: unary(ctx, `${S}.RegisterSession`, async (req) => {
      const report = await session.registerSession(req.session_id);
      return { recovery_report: report ? recoveryReportToProto(report) : undefined };
    }),

    unregisterSession: unary(ctx, `${S}.UnregisterSession`, async (req) => {
      await session.unregisterSession(req.session_id);
      return {};
    }),

    ensureSessionWithExecutor: unary(ctx, `${S}.EnsureSessionWithExecutor`, async (req) => {
      await session.ensureSessionWithExecutor(req.session_id, req.executor);
      return {};
    }),

    containsSession: unary(ctx, `${S}.ContainsSession`, (req) => ({ contains: session.containsSession(req.session_id) })),

    sessionHasExecutor: unary(ctx, `${S}.SessionHasExecutor`, (req) => ({ has_executor: session.sessionHasExecutor(req.session_id) })),

    sessionHasComms: unary(ctx, `${S}.SessionHasComms`, (req) => ({ has_comms: session.sessionHasComms(req.session_id) })),

    prepareBindings: unary(ctx, `${S}.PrepareBindings`, async (req) => ({
      bindings: bindingsToProto(await session.prepareBindings(req.session_id)),
    })),

    prepareLocalSessionBindings: unary(ctx, `${S}.PrepareLocalSessionBindings`, async (req) => ({
      bindings: bindingsToProto(await session.prepareLocalSessionBindings(req.session_id)),
    })),

    setSilentIntents: unary(ctx, `${S}.SetSilentIntents`, async (req) => {
      await session.setSilentIntents(req.session_id, req.intents);
      return {};
    }),

    cancelAfterBoundary: unary(ctx, `${S}.CancelAfterBoundary`, async (req) => {
      await session.cancelAfterBoundary(req.session_id);
      return {};
    }),

    stopRuntimeExecutor: unary(ctx, `${S}.StopRuntimeExecutor`, async (req) => {
      await session.stopRuntimeExecutor(req.session_id, req.reason);
      return {};
    }),

    commitServiceTurnTerminalReceipt: unary(ctx, `${S}.CommitServiceTurnTerminalReceipt`, async (req) => {
      await session.commitServiceTurnTerminalReceipt(req.session_id);
      return {};
    }),

    opsLifecycleRegistry: unary(ctx, `${S}.OpsLifecycleRegistry`, (req) => {
      const after = req.completion_feed_after_sequence;
      if (!Number.isSafeInteger(after) || after < 0) throw invalidField('completion_feed_after_sequence', 'must be a non-negative integer');
      const ops = session.opsLifecycleRegistry(req.session_id);
      return { registry: ops ? opsSnapshotToProto(ops, after) : undefined };
    }),

    inputState: unary(ctx, `${S}.InputState`, async (req) => {
      const row = await session.inputState(req.session_id, req.input_id);
      return { state: row ? storedInputToProto(row) : undefined };
    }),

    listActiveInputs: unary(ctx, `${S}.ListActiveInputs`, (req) => ({ input_ids: session.listActiveInputs(req.session_id) })),

    reconfigureSessionLlmIdentity: unary(ctx, `${S}.ReconfigureSessionLlmIdentity`, (req) =>
      // The kernel delegates to a reconfigure host (decision 7); without one it refuses, so it never returns.
      session.reconfigureSessionLlmIdentity(req.session_id, {
        model: opt(req.model),
        provider: opt(req.provider),
        provider_params: opt(req.provider_params),
        clear_provider_params: req.clear_provider_params,
        auth_binding: opt(req.auth_binding),
        clear_auth_binding: req.clear_auth_binding,
      }),
    ),

    inputStateByIdempotencyKey: unary(ctx, `${S}.InputStateByIdempotencyKey`, async (req) => {
      const row = await queries.inputStateByIdempotencyKey(req.session_id, req.idempotency_key);
      return { state: row ? storedInputToProto(row) : undefined };
    }),

    interactionTerminalStatus: unary(ctx, `${S}.InteractionTerminalStatus`, async (req) => {
      const sel = req.selector;
      if (sel === undefined) throw invalidField('selector', 'give exactly one of input_id or idempotency_key');
      const report = await queries.interactionTerminalStatus(
        req.session_id,
        sel.$case === 'input_id' ? { input_id: sel.input_id } : { idempotency_key: sel.idempotency_key },
      );
      return { report: report ? interactionReportToProto(report) : undefined };
    }),

    runTerminalStatus: unary(ctx, `${S}.RunTerminalStatus`, async (req) =>
      runTerminalStatusToProto(await queries.runTerminalStatus(req.session_id, req.run_id)),
    ),
  };
}
