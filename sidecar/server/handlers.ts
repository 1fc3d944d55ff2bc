/**
 * Call plumbing of the MobService adapter, mirroring the kernel's `src/server/handlers.ts` with the
 * sidecar's error mapping: refuse calls while shutting down (UNAVAILABLE `SERVER_SHUTTING_DOWN`)
 * or past their deadline, count unary calls in flight for graceful shutdown, track streams so
 * shutdown ends them, abort the handler's signal when the client cancels, and map every error
 * through {@link mobServiceError}.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { deadlineOf, MalformedRequest } from '../../src/server/handlers.js';
import { transportError } from '../../src/server/errors.js';
import { endStreamWithError, SHUTDOWN_STREAM_MESSAGE, type ServerLifecycle } from '../../src/server/lifecycle.js';
import { MobError } from '../errors.js';
import { mobServiceError } from './errors.js';

export interface HandlerContext {
  readonly logger: Logger;
  readonly lifecycle: ServerLifecycle;
}

function refusal(ctx: HandlerContext, deadline: number, request: unknown): grpc.ServiceError | null {
  if (ctx.lifecycle.draining) return transportError('SERVER_SHUTTING_DOWN', SHUTDOWN_STREAM_MESSAGE);
  if (deadline <= Date.now()) return transportError('DEADLINE_EXCEEDED', 'the call deadline had already passed when the sidecar received it');
  if (request instanceof MalformedRequest) {
    return mobServiceError(MobError.invalid([{ field: 'request', description: `the request message does not decode: ${request.reason}` }]));
  }
  return null;
}

function logError(ctx: HandlerContext, rpc: string): (error: unknown, errorId: string) => void {
  return (error, errorId) => ctx.logger.error({ err: error, rpc, error_id: errorId }, `${rpc}: unexpected error`);
}

export function unary<Req, Res>(ctx: HandlerContext, rpc: string, fn: (request: Req, signal: AbortSignal) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const refused = refusal(ctx, deadlineOf(call), call.request);
    if (refused) {
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
    });
    Promise.resolve()
      .then(() => fn(call.request, abort.signal))
      .then(
        (response) => {
          if (answered) return;
          answered = true;
          release();
          callback(null, response);
        },
        (e: unknown) => {
          if (answered) return;
          answered = true;
          release();
          ctx.logger.debug({ rpc, err: e }, `${rpc} failed`);
          callback(mobServiceError(e, logError(ctx, rpc)));
        },
      );
  };
}

/** A server stream: `fn` writes with `write` and resolves when the stream should end OK. */
export function serverStreaming<Req, Res>(
  ctx: HandlerContext,
  rpc: string,
  fn: (request: Req, write: (message: Res) => void, signal: AbortSignal) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const refused = refusal(ctx, deadlineOf(call), call.request);
    if (refused) {
      endStreamWithError(call, refused);
      return;
    }
    const tracked = ctx.lifecycle.trackStream(call);
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    call.on('error', () => abort.abort());
    call.on('close', () => abort.abort());
    Promise.resolve()
      .then(() => fn(call.request, (m) => call.write(m), abort.signal))
      .then(
        () => {
          tracked.release();
          const w = call as { writableEnded?: boolean; destroyed?: boolean };
          if (!call.cancelled && w.writableEnded !== true && w.destroyed !== true) call.end();
        },
        (e: unknown) => {
          tracked.release();
          endStreamWithError(call, mobServiceError(e, logError(ctx, rpc)));
        },
      );
  };
}
