/**
 * The sidecar's gRPC server: `meerkat.mob.v1.MobService`, `grpc.health.v1.Health` (overall and
 * per service; NOT_SERVING while draining) and server reflection, with the kernel server's limits
 * and keepalive (`src/server/server.ts`).
 *
 * Graceful shutdown: health NOT_SERVING, new calls UNAVAILABLE, open streams (WaitReady,
 * FollowEvents) ended, unary calls in flight finish within the grace period, then the signal
 * consumer stops (its cursor is durable), the mobs' request loops stop (queued requests stay in
 * `mob_outbound` for the next start), the kernel link and the store close.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MobServiceService } from '../../src/gen/meerkat/mob/v1/mob.js';
import { tolerantService } from '../../src/server/handlers.js';
import { KernelHealth } from '../../src/server/health.js';
import { ServerLifecycle, SHUTDOWN_STREAM_MESSAGE } from '../../src/server/lifecycle.js';
import { addReflection, DEFAULT_DESCRIPTOR_SET } from '../../src/server/reflection.js';
import { DEFAULT_GRPC_OPTIONS } from '../../src/server/server.js';
import { createMobService } from './mob-service.js';
import type { MobRuntime } from '../runtime/mob-runtime.js';
import type { SignalConsumer } from '../runtime/signal-consumer.js';

export const SIDECAR_SERVICES = ['meerkat.mob.v1.MobService'] as const;

export interface SidecarServerOptions {
  readonly runtime: MobRuntime;
  readonly consumer: SignalConsumer;
  readonly listen: string;
  readonly logger: Logger;
  /** Runs after the server stopped: stop the consumer, the runtime, close kernel link and store. */
  readonly onStopped: () => Promise<void>;
}

export interface SidecarServer {
  readonly port: number;
  readonly address: string;
  shutdown(graceMs: number): Promise<{ readonly clean: boolean }>;
}

export async function startSidecarServer(options: SidecarServerOptions): Promise<SidecarServer> {
  const lifecycle = new ServerLifecycle();
  const server = new grpc.Server(DEFAULT_GRPC_OPTIONS);
  server.addService(
    tolerantService(MobServiceService),
    createMobService({ logger: options.logger, lifecycle, runtime: options.runtime, consumer: options.consumer }),
  );
  const health = new KernelHealth(SIDECAR_SERVICES);
  health.addToServer(server, lifecycle);
  addReflection(server, DEFAULT_DESCRIPTOR_SET);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const address = `${options.listen.slice(0, options.listen.lastIndexOf(':'))}:${port}`;
  health.set('SERVING');

  let shutting: Promise<{ clean: boolean }> | null = null;
  const shutdown = (graceMs: number): Promise<{ clean: boolean }> =>
    (shutting ??= (async () => {
      const deadline = Date.now() + graceMs;
      const remaining = (): number => Math.max(0, deadline - Date.now());
      health.set('NOT_SERVING');
      lifecycle.drain(SHUTDOWN_STREAM_MESSAGE);
      const idle = await lifecycle.whenIdle(remaining());
      const stopped = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), remaining());
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve(true);
        });
      });
      if (!stopped) server.forceShutdown();
      await options.onStopped();
      return { clean: idle && stopped };
    })());
  return { port, address, shutdown };
}
