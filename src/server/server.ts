/**
 * The Meerkat kernel gRPC server: every `meerkat.kernel.v1` service, `grpc.health.v1.Health`,
 * server reflection, message size limits, keepalive, deadlines and graceful shutdown.
 *
 * ## Plugging in the streaming RPCs
 *
 * Three RPCs are implemented outside this file as *streaming components* — objects with
 * `handlers()` (the grpc-js handlers) and `close()` (ends their open streams on shutdown):
 *
 * | RPC | component |
 * |---|---|
 * | `IngressService.AcceptWithCompletion`, `IngressService.WatchInput` | src/server/ingress-streams.ts |
 * | `ExecutorService.Attach` | src/server/executor-service.ts |
 *
 * They are plugged in in ONE place: {@link createStreamingComponents} below, e.g.
 *
 * ```ts
 * ingress: new IngressStreams(ctx.kernel, { log: errorLog(ctx.logger) }),
 * executor: new ExecutorService(ctx.kernel, { log: (line) => ctx.logger.info(line) }),
 * ```
 *
 * The server wraps the plugged handlers: calls are refused with UNAVAILABLE while the server
 * shuts down and with DEADLINE_EXCEEDED when their deadline already passed; a request that does
 * not decode is INVALID_ARGUMENT (field `request`); an error thrown synchronously is mapped by
 * errors.ts. The component keeps ending its own streams: shutdown awaits `close()` of every
 * component before `kernel.close()`. (Tests may pass `streaming` to {@link createKernelServer}
 * instead.)
 *
 * ## Limits and transport options ({@link DEFAULT_GRPC_OPTIONS})
 *
 * - Receive: at most {@link MAX_RECEIVE_MESSAGE_BYTES} (4 MiB) per request message — an input's
 *   text fields are bounded at 256 KiB each (README "Limits"); larger messages are
 *   RESOURCE_EXHAUSTED.
 * - Send: at most {@link MAX_SEND_MESSAGE_BYTES} (16 MiB) per response message.
 * - Keepalive: the server pings an idle connection every {@link KEEPALIVE_TIME_MS} (30 s) and
 *   drops it when a ping is not answered within {@link KEEPALIVE_TIMEOUT_MS} (10 s), so long
 *   streams through proxies and load balancers stay open and dead peers are noticed.
 * - Deadlines: a call whose deadline already passed when it arrives gets DEADLINE_EXCEEDED without
 *   reaching the kernel; grpc-js ends a call whose deadline expires while it runs with
 *   DEADLINE_EXCEEDED, and the handler stops (its result is dropped, a stream is ended).
 *
 * ## Graceful shutdown ({@link KernelServer.shutdown})
 *
 * 1. health turns NOT_SERVING (overall and per service);
 * 2. new calls are refused with UNAVAILABLE (reason `SERVER_SHUTTING_DOWN`); health Check keeps
 *    answering;
 * 3. open server streams end with UNAVAILABLE and a message telling the client to reconnect and
 *    resume (StreamSignals: `after_sequence`; WatchInput: `resume_token`); the streaming
 *    components' `close()` runs. Streams this replica forwards to a session's owner end the same
 *    way (the owner keeps the run), forwarded unary calls count as in flight, and nothing new is
 *    forwarded (forwarding.ts);
 * 4. meanwhile the runtime loops start no new run and the runs in flight go on to their boundary
 *    commit, until {@link RUN_DRAIN_RESERVE_MS} before the grace period ends; a run still
 *    executing then is aborted and not committed — its inputs stay staged for the next owner's
 *    recovery, never abandoned (`MeerkatMachine.drainRuns`). With session leases, each session's
 *    lease is handed over as soon as its loop stopped (ended, with a note naming its executor), so
 *    another replica takes it over at once and re-attaches the executor;
 * 5. NOT_SERVING stays observable for at least `notServingMs` and until the runs drained, and
 *    unary calls in flight finish;
 * 6. `tryShutdown` (stop accepting, close connections once idle), `forceShutdown` when the grace
 *    period runs out;
 * 7. `kernel.close()` (waiters end, the remaining leases are released), then the store closes.
 *
 * @example
 * ```ts
 * const stores = await createStores();
 * const kernel = new MeerkatMachine({ store: stores.store, blobs: stores.blobs });
 * const server = await createKernelServer({ kernel, store: stores.store, listen: '127.0.0.1:50051', logger: pino() });
 * // …
 * await server.shutdown(10_000);
 * ```
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CompositionServiceService } from '../gen/meerkat/kernel/v1/composition.js';
import { ControlServiceService } from '../gen/meerkat/kernel/v1/control.js';
import { DrainServiceService } from '../gen/meerkat/kernel/v1/drain.js';
import { ExecutorServiceService, type ExecutorServiceServer } from '../gen/meerkat/kernel/v1/executor.js';
import { IngressServiceService } from '../gen/meerkat/kernel/v1/ingress.js';
import { ModelRoutingServiceService } from '../gen/meerkat/kernel/v1/model_routing.js';
import { RunServiceService } from '../gen/meerkat/kernel/v1/run.js';
import { SessionServiceService } from '../gen/meerkat/kernel/v1/session.js';
import { VisibilityServiceService } from '../gen/meerkat/kernel/v1/visibility.js';
import type { MeerkatMachine } from '../kernel/machine.js';
import { createCompositionService } from './composition-service.js';
import type { ServerContext, ServerStore } from './context.js';
import { createControlService } from './control-service.js';
import { createDrainService } from './drain-service.js';
import type { ErrorLogger } from './errors.js';
import { ExecutorService } from './executor-service.js';
import { guardBidiStreaming, guardServerStreaming, tolerantService } from './handlers.js';
import { SessionForwarder } from './forwarding.js';
import { KernelHealth } from './health.js';
import { createIngressService, type IngressStreamHandlers } from './ingress-service.js';
import { IngressStreams } from './ingress-streams.js';
import { ServerLifecycle, SHUTDOWN_STREAM_MESSAGE } from './lifecycle.js';
import { createModelRoutingService } from './model-routing-service.js';
import { addReflection, DEFAULT_DESCRIPTOR_SET } from './reflection.js';
import { createRunService } from './run-service.js';
import { createSessionService } from './session-service.js';
import { createVisibilityService } from './visibility-service.js';

/** A set of streaming handlers that manages (and on shutdown ends) its own streams. */
export interface StreamingComponent<H> {
  /** The grpc-js handlers it implements. */
  handlers(): H;
  /** Ends its open streams (server shutdown); awaited before `kernel.close()`. */
  close(): void | Promise<void>;
}

/** Largest request message the server accepts. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Largest response message the server sends. */
export const MAX_SEND_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Keepalive ping period on idle connections. */
export const KEEPALIVE_TIME_MS = 30_000;
/** How long a keepalive ping may go unanswered before the connection is dropped. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Default grace period of a shutdown. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/**
 * Part of the grace period (at most a quarter of it) kept after the runs in flight had their chance
 * to reach a boundary: closing the kernel, releasing the leases and closing the store.
 */
export const RUN_DRAIN_RESERVE_MS = 1_000;

export const DEFAULT_GRPC_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_SEND_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
};

/** Full names of the kernel services (health reports each of them). */
export const KERNEL_SERVICES = [
  'meerkat.kernel.v1.SessionService',
  'meerkat.kernel.v1.VisibilityService',
  'meerkat.kernel.v1.DrainService',
  'meerkat.kernel.v1.ControlService',
  'meerkat.kernel.v1.ModelRoutingService',
  'meerkat.kernel.v1.IngressService',
  'meerkat.kernel.v1.RunService',
  'meerkat.kernel.v1.ExecutorService',
  'meerkat.kernel.v1.CompositionService',
] as const;

/** The streaming components the server hosts. */
export interface StreamingComponents {
  /** `IngressService.AcceptWithCompletion` and `.WatchInput`. */
  readonly ingress: StreamingComponent<IngressStreamHandlers>;
  /** `ExecutorService.Attach`. */
  readonly executor: StreamingComponent<ExecutorServiceServer>;
}

/** An error logger for components that report unexpected errors with an error id. */
export function errorLog(logger: Logger): ErrorLogger {
  return (error, errorId) => logger.error({ err: error, error_id: errorId }, 'unexpected error');
}

/** PLUG-IN POINT of the streaming RPCs (see the module comment): the only place they are wired. */
export function createStreamingComponents(ctx: ServerContext): StreamingComponents {
  return {
    ingress: new IngressStreams(ctx.kernel, { log: errorLog(ctx.logger) }),
    executor: new ExecutorService(ctx.kernel, { log: (line) => ctx.logger.info(line) }),
  };
}

/** A grpc.Server with every service added (not yet bound), and what shutdown needs. */
export interface BuiltKernelServer {
  readonly server: grpc.Server;
  readonly context: ServerContext;
  readonly health: KernelHealth;
  readonly components: StreamingComponents;
  /** Passes calls for sessions owned by another replica to their owner. */
  readonly forwarder: SessionForwarder;
}

export interface BuildKernelServerOptions {
  readonly kernel: MeerkatMachine;
  readonly store: ServerStore;
  readonly logger: Logger;
  /** grpc-js options merged over {@link DEFAULT_GRPC_OPTIONS}. */
  readonly grpcOptions?: grpc.ServerOptions;
  /** The compiled descriptor set reflection serves; default `src/gen/descriptor.binpb` (`dist/src/gen/` when built). */
  readonly descriptorSet?: string;
  /** Overrides {@link createStreamingComponents} (tests). */
  readonly streaming?: (ctx: ServerContext) => StreamingComponents;
}

/** Builds the server: every service, health and reflection. Binding is {@link createKernelServer}'s job. */
export function buildKernelServer(options: BuildKernelServerOptions): BuiltKernelServer {
  const context: ServerContext = {
    kernel: options.kernel,
    store: options.store,
    logger: options.logger,
    lifecycle: new ServerLifecycle(),
  };
  const server = new grpc.Server({ ...DEFAULT_GRPC_OPTIONS, ...options.grpcOptions });
  const components = (options.streaming ?? createStreamingComponents)(context);

  const ingressStreams = components.ingress.handlers();
  const executor = components.executor.handlers();
  const plugged = { track: false } as const; // the components end their own streams

  // Session-scoped calls for a session another live replica owns go to the owner (decision 12).
  const own = options.kernel.core.options.ownership;
  const forwarder = new SessionForwarder(
    options.kernel,
    own ? { leases: own.leases, replicaId: own.replicaId } : null,
    options.logger,
    context.lifecycle,
  );
  const routed = <I extends object>(definition: object, implementation: I): I => forwarder.wrap(definition, implementation);
  server.addService(tolerantService(SessionServiceService), routed(SessionServiceService, createSessionService(context)));
  server.addService(tolerantService(VisibilityServiceService), routed(VisibilityServiceService, createVisibilityService(context)));
  server.addService(tolerantService(DrainServiceService), routed(DrainServiceService, createDrainService(context)));
  server.addService(tolerantService(ControlServiceService), routed(ControlServiceService, createControlService(context)));
  server.addService(tolerantService(ModelRoutingServiceService), routed(ModelRoutingServiceService, createModelRoutingService(context)));
  server.addService(
    tolerantService(IngressServiceService),
    routed(
      IngressServiceService,
      createIngressService(context, {
        acceptWithCompletion: guardServerStreaming(context, 'IngressService.AcceptWithCompletion', ingressStreams.acceptWithCompletion, plugged),
        watchInput: guardServerStreaming(context, 'IngressService.WatchInput', ingressStreams.watchInput, plugged),
      }),
    ),
  );
  server.addService(tolerantService(RunServiceService), routed(RunServiceService, createRunService(context)));
  server.addService(tolerantService(ExecutorServiceService), {
    attach: guardBidiStreaming(context, 'ExecutorService.Attach', executor.attach, plugged),
  });
  server.addService(tolerantService(CompositionServiceService), createCompositionService(context));

  const health = new KernelHealth(KERNEL_SERVICES);
  health.addToServer(server, context.lifecycle);
  addReflection(server, options.descriptorSet ?? DEFAULT_DESCRIPTOR_SET);
  return { server, context, health, components, forwarder };
}

export interface KernelServerOptions extends BuildKernelServerOptions {
  /** `host:port` to listen on (plaintext); port 0 picks a free port. */
  readonly listen: string;
  /** How long health reports NOT_SERVING before the server stops accepting connections (default 0). */
  readonly notServingMs?: number;
}

export interface KernelServer {
  readonly server: grpc.Server;
  /** The bound port. */
  readonly port: number;
  /** `host:port` actually bound. */
  readonly address: string;
  readonly context: ServerContext;
  /** Graceful shutdown within `graceMs` (module comment); idempotent. Closes the kernel and the store. */
  shutdown(graceMs?: number): Promise<{ readonly clean: boolean }>;
}

/** Builds the server, binds `listen` and reports SERVING. */
export async function createKernelServer(options: KernelServerOptions): Promise<KernelServer> {
  const built = buildKernelServer(options);
  const { server, context, health, components, forwarder } = built;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p)));
  });
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  const address = `${host}:${port}`;
  health.set('SERVING');
  const log = options.logger;

  let shutting: Promise<{ clean: boolean }> | null = null;
  const shutdown = (graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<{ clean: boolean }> => {
    shutting ??= (async () => {
      const deadline = Date.now() + graceMs;
      const remaining = (): number => Math.max(0, deadline - Date.now());
      log.info({ grace_ms: graceMs, inflight: context.lifecycle.inflightCalls, streams: context.lifecycle.openStreams }, 'shutting down');
      health.set('NOT_SERVING');
      context.lifecycle.drain(SHUTDOWN_STREAM_MESSAGE);
      // Runs in flight go on to their boundary meanwhile; what is still running when the budget ends
      // is left for recovery by the sessions' next owners (leases handed over session by session).
      const runsDrained = options.kernel.drainRuns(Math.max(0, remaining() - Math.min(RUN_DRAIN_RESERVE_MS, graceMs / 4))).then(
        (r) => log.info(r, 'runtime loops stopped'),
        (e: unknown) => log.error({ err: e }, 'stopping the runtime loops failed'),
      );
      await within(Promise.all([components.ingress.close(), components.executor.close()]), remaining());
      await sleep(Math.min(options.notServingMs ?? 0, remaining()));
      const idle = await context.lifecycle.whenIdle(remaining());
      // Keep listening while the runs drain: health keeps answering NOT_SERVING and calls (forwarded
      // ones included) get SERVER_SHUTTING_DOWN + RetryInfo rather than a refused connection.
      await runsDrained;
      const stopped = await within(new Promise<void>((resolve) => server.tryShutdown(() => resolve())), remaining());
      if (!stopped) server.forceShutdown();
      forwarder.close();
      const clean = idle && stopped;
      log.info({ clean }, clean ? 'server stopped' : 'grace period over: remaining calls were cancelled');
      try {
        await options.kernel.close();
      } finally {
        await options.store.close();
      }
      log.info('kernel and store closed');
      return { clean };
    })();
    return shutting;
  };

  return { server, port, address, context, shutdown };
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** True when `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
