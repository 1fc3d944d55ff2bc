/**
 * `grpc.health.v1.Health` through `grpc-health-check`: one status for the whole server (service
 * name `""`) and one per kernel service (its full name, e.g. `meerkat.kernel.v1.SessionService`).
 * Every status is SERVING once the server listens and NOT_SERVING as soon as shutdown begins;
 * health Check calls keep being answered while the server drains. Open Watch streams are ended
 * by shutdown (after they saw NOT_SERVING) like every other stream.
 *
 * {@link checkHealth} is a small client (tests, CLI, probes).
 *
 * @example
 * ```ts
 * await checkHealth('127.0.0.1:50051');                                     // 'SERVING'
 * await checkHealth('127.0.0.1:50051', 'meerkat.kernel.v1.SessionService'); // 'SERVING'
 * ```
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, service as healthService, type ServingStatus } from 'grpc-health-check';
import type { ServerLifecycle } from './lifecycle.js';

/** The health service's full name. */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export class KernelHealth {
  private readonly impl: HealthImplementation;

  constructor(private readonly services: readonly string[]) {
    this.impl = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, 'NOT_SERVING' as ServingStatus])));
  }

  /** Sets the overall status and every service's. */
  set(status: 'SERVING' | 'NOT_SERVING'): void {
    for (const s of ['', ...this.services]) this.impl.setStatus(s, status);
  }

  /** Registers the Health service; its Watch streams are tracked by `lifecycle` so shutdown ends them. */
  addToServer(server: grpc.Server, lifecycle: ServerLifecycle): void {
    this.impl.addToServer({
      addService: (definition, implementation) => {
        const watch = implementation.watch as grpc.handleServerStreamingCall<unknown, unknown> | undefined;
        const wrapped: grpc.UntypedServiceImplementation = { ...(implementation as grpc.UntypedServiceImplementation) };
        if (watch) {
          wrapped.watch = (call: grpc.ServerWritableStream<unknown, unknown>) => {
            lifecycle.trackStream(call);
            watch(call);
          };
        }
        server.addService(definition as grpc.ServiceDefinition, wrapped);
      },
    });
  }
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

interface HealthCheckRequest {
  service: string;
}
interface HealthCheckResponse {
  status: HealthStatus;
}

/** One `grpc.health.v1.Health/Check` call (plaintext). Rejects with the grpc error (e.g. UNAVAILABLE, NOT_FOUND). */
export function checkHealth(target: string, service = '', options: { timeoutMs?: number; client?: grpc.Client } = {}): Promise<HealthStatus> {
  const method = healthService.Check;
  if (!method) throw new Error('grpc-health-check has no Check method');
  const client = options.client ?? new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise<HealthStatus>((resolve, reject) => {
    client.makeUnaryRequest<HealthCheckRequest, HealthCheckResponse>(
      method.path,
      method.requestSerialize as (value: HealthCheckRequest) => Buffer,
      method.responseDeserialize as (bytes: Buffer) => HealthCheckResponse,
      { service },
      new grpc.Metadata(),
      { deadline: Date.now() + (options.timeoutMs ?? 2000) },
      (error, response) => {
        if (!options.client) client.close();
        if (error || !response) reject(error ?? new Error('empty health response'));
        else resolve(response.status);
      },
    );
  });
}
