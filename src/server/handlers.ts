/**
 * Call plumbing shared by every service adapter, so that each adapter is only the proto ⇄ kernel
 * mapping:
 *
 * - {@link unary} wraps a unary handler: refuses calls while the server shuts down (UNAVAILABLE)
 *   and calls whose deadline already passed (DEADLINE_EXCEEDED), answers an undecodable request
 *   with INVALID_ARGUMENT, counts the call in flight for graceful shutdown, stops caring about a
 *   call the client cancelled (or whose deadline fired), and maps every error through
 *   `toServiceError` (errors.ts), logging unexpected ones.
 * - {@link serverStreaming} does the same for a server-streaming handler and tracks the stream so
 *   shutdown ends it with UNAVAILABLE ("reconnect and resume"); {@link guardServerStreaming} and
 *   {@link guardBidiStreaming} wrap a raw grpc handler (the plug-in streaming handlers) likewise.
 * - {@link tolerantService} makes a generated service definition's request decoder total: a request
 *   that does not decode becomes a {@link MalformedRequest} instead of grpc-js's INTERNAL.
 */
import * as grpc from '@grpc/grpc-js';
import { invalidArgument } from '../kernel/errors.js';
import type { ServerContext } from './context.js';
import { kernelServiceError, toServiceError, transportError } from './errors.js';
import { endStreamWithError, SHUTDOWN_STREAM_MESSAGE, type TrackableStream, type TrackedStream } from './lifecycle.js';

/** A request whose bytes did not decode (answered INVALID_ARGUMENT on field `request`). */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** Per-call facts a handler may use. */
export interface CallContext {
  /** Aborted when the client cancels or the deadline fires. */
  readonly signal: AbortSignal;
  /** The call's deadline (epoch ms), or `Infinity`. */
  readonly deadline: number;
  readonly metadata: grpc.Metadata;
}

interface MethodDef {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
}

/**
 * The same service definition with total request decoders for unary and server-streaming methods
 * (a client-streamed request keeps grpc-js's own handling).
 */
export function tolerantService<S extends object>(definition: S): S {
  const out: Record<string, MethodDef> = {};
  for (const [name, def] of Object.entries(definition as Record<string, MethodDef>)) {
    if (def.requestStream) {
      out[name] = def;
      continue;
    }
    const decode = def.requestDeserialize;
    out[name] = {
      ...def,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (e) {
          return new MalformedRequest(e instanceof Error ? e.message : String(e));
        }
      },
    };
  }
  return out as unknown as S;
}

/** The call's deadline as epoch ms (`Infinity` when none). */
export function deadlineOf(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

function malformed(request: unknown): grpc.ServiceError | null {
  if (!(request instanceof MalformedRequest)) return null;
  return kernelServiceError(invalidArgument([{ field: 'request', description: `the request message does not decode: ${request.reason}` }]));
}

/** Why a call must be refused before it reaches the kernel, if it must. */
function refusal(ctx: ServerContext, deadline: number, request: unknown): grpc.ServiceError | null {
  if (ctx.lifecycle.draining) return transportError('SERVER_SHUTTING_DOWN', SHUTDOWN_STREAM_MESSAGE);
  if (deadline <= Date.now()) return transportError('DEADLINE_EXCEEDED', 'the call deadline had already passed when the server received it');
  return malformed(request);
}

function logError(ctx: ServerContext, rpc: string): (error: unknown, errorId: string) => void {
  return (error, errorId) => ctx.logger.error({ err: error, rpc, error_id: errorId }, `${rpc}: unexpected error`);
}

/** Wraps a unary handler (see the module comment). */
export function unary<Req, Res>(
  ctx: ServerContext,
  rpc: string,
  fn: (request: Req, call: CallContext) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = performance.now();
    const deadline = deadlineOf(call);
    const refused = refusal(ctx, deadline, call.request);
    if (refused) {
      ctx.logger.debug({ rpc, code: grpc.status[refused.code] }, `${rpc} refused`);
      callback(refused);
      return;
    }
    const release = ctx.lifecycle.beginCall();
    const abort = new AbortController();
    let answered = false;
    call.on('cancelled', () => {
      if (answered) return;
      answered = true;
      abort.abort();
      release();
      ctx.logger.debug({ rpc, ms: Math.round(performance.now() - started) }, `${rpc} cancelled by the client or its deadline`);
    });
    const reply = (error: grpc.ServiceError | null, response?: Res): void => {
      if (answered) return;
      answered = true;
      release();
      const ms = Math.round(performance.now() - started);
      ctx.logger.debug({ rpc, code: grpc.status[error?.code ?? grpc.status.OK], ms }, rpc);
      if (error) callback(error);
      else callback(null, response);
    };
    Promise.resolve()
      .then(() => fn(call.request, { signal: abort.signal, deadline, metadata: call.metadata }))
      .then(
        (response) => reply(null, response),
        (e: unknown) => reply(toServiceError(e, logError(ctx, rpc))),
      );
  };
}

/**
 * Wraps a server-streaming handler: the same refusals as {@link unary}, the stream is tracked for
 * shutdown (replace the hook through `stream.setShutdownHook`), and an error the handler throws or
 * rejects with ends the stream with its mapped status.
 */
export function serverStreaming<Req, Res>(
  ctx: ServerContext,
  rpc: string,
  fn: (request: Req, call: grpc.ServerWritableStream<Req, Res>, stream: TrackedStream, context: CallContext) => Promise<void> | void,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const deadline = deadlineOf(call);
    const refused = refusal(ctx, deadline, call.request);
    if (refused) {
      endStreamWithError(call, refused);
      return;
    }
    const stream = ctx.lifecycle.trackStream(call);
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    ctx.logger.debug({ rpc }, `${rpc} stream opened`);
    Promise.resolve()
      .then(() => fn(call.request, call, stream, { signal: abort.signal, deadline, metadata: call.metadata }))
      .catch((e: unknown) => {
        stream.release();
        endStreamWithError(call, toServiceError(e, logError(ctx, rpc)));
      });
  };
}

/** Options of the raw-handler guards. */
export interface GuardOptions {
  /**
   * Track the stream so shutdown ends it with UNAVAILABLE (default true). False for handlers whose
   * component ends its own streams on shutdown (the plug-in components' `close()`).
   */
  readonly track?: boolean;
}

/** Guards a raw server-streaming handler: the refusals of {@link unary}, optional shutdown tracking, thrown errors mapped. */
export function guardServerStreaming<Req, Res>(
  ctx: ServerContext,
  rpc: string,
  handler: grpc.handleServerStreamingCall<Req, Res>,
  options: GuardOptions = {},
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const refused = refusal(ctx, deadlineOf(call), call.request);
    if (refused) {
      endStreamWithError(call, refused);
      return;
    }
    runGuarded(ctx, rpc, call, () => handler(call), options);
  };
}

/** Guards a raw bidi handler: refused while shutting down or past its deadline; optional shutdown tracking. */
export function guardBidiStreaming<Req, Res>(
  ctx: ServerContext,
  rpc: string,
  handler: grpc.handleBidiStreamingCall<Req, Res>,
  options: GuardOptions = {},
): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const refused = refusal(ctx, deadlineOf(call), undefined);
    if (refused) {
      endStreamWithError(call, refused);
      return;
    }
    runGuarded(ctx, rpc, call, () => handler(call), options);
  };
}

function runGuarded(ctx: ServerContext, rpc: string, call: TrackableStream, run: () => void, options: GuardOptions): void {
  const stream = options.track === false ? null : ctx.lifecycle.trackStream(call);
  try {
    run();
  } catch (e) {
    stream?.release();
    endStreamWithError(call, toServiceError(e, logError(ctx, rpc)));
  }
}
