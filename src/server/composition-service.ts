/**
 * CompositionService adapter: the durable composition-signal outbox (decision 5) of the store.
 *
 * StreamSignals replays every signal after the cursor — `after_sequence`, else the `consumer`'s
 * acknowledged cursor, else 0 — then delivers new ones as they commit (the store's `subscribe`
 * does both, in sequence order, each once), until the client cancels. A slow client does not
 * grow the server's memory: when the call's write buffer is full the subscription pauses and
 * resumes after the last sequence written once the buffer drains. On shutdown the stream ends
 * UNAVAILABLE telling the client to resume with `after_sequence` = the last sequence it received.
 *
 * AcknowledgeSignals records a consumer's cursor (never moves back) and returns it.
 *
 * DeliverRoutedInput maps the request's `route` oneof onto `kernel.composition.deliverRoutedInput`;
 * a refusal (including a malformed route body) is the `refusal` answer, not a gRPC error. Only an
 * unset `route` is INVALID_ARGUMENT. `deliver_peer_message` answers once the message is durably in
 * the receiver's peer inbox.
 *
 * Store failures are STORE_UNAVAILABLE (retryable) and count in `meerkat.store.errors`; every signal
 * written records its commit→delivery lag in `meerkat.signal.lag` (the kernel's metrics observer).
 */
import type * as grpc from '@grpc/grpc-js';
import type {
  CompositionServiceServer,
  DeliverRoutedInputRequest,
  DeliverRoutedInputResponse,
  StreamSignalsRequest,
  StreamSignalsResponse,
} from '../gen/meerkat/kernel/v1/composition.js';
import type { RoutedInput, RoutedInputResult } from '../kernel/commands/composition.js';
import { invalidArgument, KernelError, type FieldViolation } from '../kernel/errors.js';
import { MAX_SHORT_STRING } from '../kernel/input.js';
import type { RoutedSignal } from '../kernel/store.js';
import type { ServerContext } from './context.js';
import { serverStreaming, unary } from './handlers.js';
import { inputFromProto, routedSignalToProto } from './mapping.js';

const S = 'CompositionService';

/** Runs a store call; a failure is STORE_UNAVAILABLE, reported to the metrics observer as `operation`. */
async function storeCall<T>(ctx: ServerContext, operation: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KernelError) throw e;
    ctx.kernel.core.options.observer?.storeError(operation);
    throw new KernelError('STORE_UNAVAILABLE', `${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function checkConsumer(v: FieldViolation[], consumer: string | undefined, requiredField: boolean): void {
  if (consumer === undefined) {
    if (requiredField) v.push({ field: 'consumer', description: 'is required' });
    return;
  }
  if (consumer.trim().length === 0) v.push({ field: 'consumer', description: 'must be a non-empty name' });
  else if (consumer.length > MAX_SHORT_STRING) v.push({ field: 'consumer', description: `is longer than ${MAX_SHORT_STRING} characters` });
}

function checkSequence(v: FieldViolation[], field: string, n: number | undefined): void {
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) v.push({ field, description: 'must be a non-negative integer' });
}

export function createCompositionService(ctx: ServerContext): CompositionServiceServer {
  const { store } = ctx;
  const observer = ctx.kernel.core.options.observer;
  return {
    streamSignals: serverStreaming<StreamSignalsRequest, StreamSignalsResponse>(ctx, `${S}.StreamSignals`, async (req, call) => {
      const v: FieldViolation[] = [];
      checkSequence(v, 'after_sequence', req.after_sequence);
      checkConsumer(v, req.consumer, false);
      if (v.length > 0) throw invalidArgument(v);
      const consumer = req.consumer;
      const after =
        req.after_sequence ?? (consumer !== undefined ? await storeCall(ctx, 'signal_cursor', 'reading the consumer cursor', () => store.signalCursor(consumer)) : 0);
      pump(call, after);
    }),

    acknowledgeSignals: unary(ctx, `${S}.AcknowledgeSignals`, async (req) => {
      const v: FieldViolation[] = [];
      checkConsumer(v, req.consumer, true);
      checkSequence(v, 'sequence', req.sequence);
      if (v.length > 0) throw invalidArgument(v);
      await storeCall(ctx, 'acknowledge_signals', 'acknowledging signals', () => store.acknowledgeSignals(req.consumer, req.sequence));
      return { acknowledged_sequence: await storeCall(ctx, 'signal_cursor', 'reading the consumer cursor', () => store.signalCursor(req.consumer)) };
    }),

    deliverRoutedInput: unary(ctx, `${S}.DeliverRoutedInput`, async (req) => {
      const route = req.route;
      if (route === undefined) throw invalidArgument([{ field: 'route', description: 'is required' }]);
      let routed: RoutedInput;
      try {
        routed = routedInputFromProto(route);
      } catch (e) {
        if (e instanceof KernelError) return { result: { $case: 'refusal', refusal: { code: e.code, message: e.message } } };
        throw e;
      }
      return routedResultToProto(await ctx.kernel.composition.deliverRoutedInput(routed));
    }),
  };

  /** Subscribes after `from`; pauses on a full write buffer and resubscribes after the last written sequence. */
  function pump(call: grpc.ServerWritableStream<StreamSignalsRequest, StreamSignalsResponse>, from: number): void {
    interface Sub {
      active: boolean;
      unsubscribe: (() => void) | null;
    }
    let last = from;
    let ended = false;
    let current: Sub | null = null;
    const pause = (sub: Sub): void => {
      sub.active = false;
      sub.unsubscribe?.();
    };
    const subscribe = (): void => {
      if (ended) return;
      const sub: Sub = { active: true, unsubscribe: null };
      current = sub;
      sub.unsubscribe = store.subscribe(last, (signal: RoutedSignal) => {
        if (!sub.active || ended || signal.sequence <= last) return;
        last = signal.sequence;
        observer?.signalDelivered((Date.now() - signal.created_at) / 1000);
        if (!call.write({ signal: routedSignalToProto(signal) })) {
          pause(sub);
          call.once('drain', subscribe);
        }
      });
      if (!sub.active) sub.unsubscribe(); // paused during a synchronous replay
    };
    const stop = (): void => {
      ended = true;
      if (current) pause(current);
    };
    for (const event of ['cancelled', 'close', 'finish', 'error']) call.on(event, stop);
    subscribe();
  }
}

type Route = NonNullable<DeliverRoutedInputRequest['route']>;

/** Proto route → kernel route; `fence_token` stays absent when unset so the kernel names it. */
function routedInputFromProto(route: Route): RoutedInput {
  switch (route.$case) {
    case 'request_runtime_binding': {
      const r = route.request_runtime_binding;
      return {
        kind: 'RequestRuntimeBinding',
        session_id: r.session_id,
        agent_runtime_id: r.agent_runtime_id,
        fence_token: r.fence_token as number,
        generation: r.generation ?? null,
      };
    }
    case 'request_runtime_ingress': {
      const r = route.request_runtime_ingress;
      return {
        kind: 'RequestRuntimeIngress',
        session_id: r.session_id,
        agent_runtime_id: r.agent_runtime_id,
        fence_token: r.fence_token as number,
        generation: r.generation ?? null,
        work_id: r.work_id,
        input: inputFromProto(r.input, 'request_runtime_ingress.input'),
      };
    }
    case 'request_runtime_retire':
      return { kind: 'RequestRuntimeRetire', session_id: route.request_runtime_retire.session_id };
    case 'request_runtime_destroy':
      return { kind: 'RequestRuntimeDestroy', session_id: route.request_runtime_destroy.session_id };
    case 'detach_session_ingress':
      return { kind: 'DetachSessionIngress', session_id: route.detach_session_ingress.session_id };
    case 'deliver_peer_message': {
      const r = route.deliver_peer_message;
      return {
        kind: 'DeliverPeerMessage',
        session_id: r.session_id,
        sender: r.sender,
        sender_runtime_id: r.sender_runtime_id ?? null,
        agent_runtime_id: r.agent_runtime_id ?? null,
        fence_token: r.fence_token ?? null,
        generation: r.generation ?? null,
        input: inputFromProto(r.input, 'deliver_peer_message.input'),
      };
    }
  }
}

function routedResultToProto(r: RoutedInputResult): DeliverRoutedInputResponse {
  if (!r.accepted) return { result: { $case: 'refusal', refusal: { code: r.code, message: r.message } } };
  return {
    result: {
      $case: 'accepted',
      accepted: {
        session_id: r.session_id,
        input_id: r.input_id,
        deduplicated: r.deduplicated,
        inputs_abandoned: r.inputs_abandoned,
        peer_message_sequence: r.peer_message_sequence,
      },
    },
  };
}
