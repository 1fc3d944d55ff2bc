/**
 * Placeholders for the streaming RPCs implemented elsewhere — `IngressService.AcceptWithCompletion`
 * and `IngressService.WatchInput` (src/server/ingress-streams.ts) and `ExecutorService.Attach`
 * (src/server/executor-service.ts). Until server.ts's `createStreamingComponents` plugs the real
 * components in, these answer UNIMPLEMENTED (reason `UNIMPLEMENTED`, metadata `rpc`, `implemented_in`).
 */
import type * as grpc from '@grpc/grpc-js';
import type { ExecutorServiceServer } from '../gen/meerkat/kernel/v1/executor.js';
import { transportError } from './errors.js';
import type { IngressStreamHandlers } from './ingress-service.js';
import { endStreamWithError } from './lifecycle.js';

/** A set of streaming handlers that manages (and on shutdown ends) its own streams. */
export interface StreamingComponent<H> {
  /** The grpc-js handlers it implements. */
  handlers(): H;
  /** Ends its open streams (server shutdown); awaited before `kernel.close()`. */
  close(): void | Promise<void>;
}

function unimplemented(rpc: string, implementedIn: string): grpc.ServiceError {
  return transportError('UNIMPLEMENTED', `${rpc} is not implemented by this server build (see ${implementedIn})`, {
    rpc,
    implemented_in: implementedIn,
  });
}

/** UNIMPLEMENTED `AcceptWithCompletion` and `WatchInput` (replaced by src/server/ingress-streams.ts). */
export function unimplementedIngressStreams(): StreamingComponent<IngressStreamHandlers> {
  const where = 'src/server/ingress-streams.ts';
  return {
    handlers: () => ({
      acceptWithCompletion: (call) => endStreamWithError(call, unimplemented('meerkat.kernel.v1.IngressService/AcceptWithCompletion', where)),
      watchInput: (call) => endStreamWithError(call, unimplemented('meerkat.kernel.v1.IngressService/WatchInput', where)),
    }),
    close: () => undefined,
  };
}

/** UNIMPLEMENTED `ExecutorService.Attach` (replaced by src/server/executor-service.ts). */
export function unimplementedExecutorService(): StreamingComponent<ExecutorServiceServer> {
  return {
    handlers: () => ({
      attach: (call) => endStreamWithError(call, unimplemented('meerkat.kernel.v1.ExecutorService/Attach', 'src/server/executor-service.ts')),
    }),
    close: () => undefined,
  };
}
