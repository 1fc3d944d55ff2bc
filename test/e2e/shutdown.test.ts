/**
 * Graceful shutdown of the real server process: on SIGTERM health turns NOT_SERVING (observable
 * for MEERKAT_SHUTDOWN_NOT_SERVING_MS), new calls are refused with UNAVAILABLE
 * (SERVER_SHUTTING_DOWN), open streams end with UNAVAILABLE telling the client to reconnect and
 * resume, a unary call that cannot finish is cut when the grace period ends, and the process exits
 * 0 within the grace period. (SIGINT: unary.test.ts stops its server with it.)
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CompositionServiceClient, type StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { DrainServiceClient } from '../../src/gen/meerkat/kernel/v1/drain.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { newId } from '../../src/kernel/ids.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { checkHealth, type HealthStatus } from '../../src/server/health.js';
import { call, expectError, insecure, startServer } from './harness.js';

const GRACE_MS = 3000;

describe('graceful shutdown', () => {
  it('SIGTERM: NOT_SERVING first, new calls UNAVAILABLE, streams told to resume, exit 0 within the grace period', async () => {
    const server = await startServer({ MEERKAT_SHUTDOWN_GRACE_MS: String(GRACE_MS), MEERKAT_SHUTDOWN_NOT_SERVING_MS: '1000' });
    const sessions = new SessionServiceClient(server.address, insecure());
    const drain = new DrainServiceClient(server.address, insecure());
    const composition = new CompositionServiceClient(server.address, insecure());
    const health = new grpc.Client(server.address, insecure());
    try {
      const s = newId();
      await call(sessions.prepareBindings.bind(sessions), { session_id: s });

      const received: StreamSignalsResponse[] = [];
      const stream = composition.streamSignals({ after_sequence: 0 });
      stream.on('data', (m: StreamSignalsResponse) => received.push(m));
      const streamEnd = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      const deadline = Date.now() + 5000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received.length).toBeGreaterThan(0);

      // A unary call that cannot finish by itself (it joins a running drain task): the grace
      // period bounds the shutdown, then the call is cut.
      const d = newId();
      await call(sessions.registerSession.bind(sessions), { session_id: d });
      await call(drain.setPeerIngressContext.bind(drain), { session_id: d, keep_alive: true, comms_runtime_id: 'comms-1' });
      const blocked = call(drain.wait.bind(drain), { session_id: d }, { deadline: Infinity }).then(
        () => null,
        (e: grpc.ServiceError) => e,
      );
      await new Promise((r) => setTimeout(r, 200));

      const sent = Date.now();
      server.child.kill('SIGTERM');

      // Health reports NOT_SERVING while the server drains (same connection keeps answering).
      let seen: HealthStatus | null = null;
      while (Date.now() - sent < 3000) {
        seen = await checkHealth(server.address, '', { client: health, timeoutMs: 500 }).catch(() => null);
        if (seen === 'NOT_SERVING') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(seen).toBe('NOT_SERVING');
      expect(await checkHealth(server.address, 'meerkat.kernel.v1.SessionService', { client: health }).catch(() => null)).toBe('NOT_SERVING');

      // New calls are refused while draining.
      const refused = await expectError(call(sessions.containsSession.bind(sessions), { session_id: s }), grpc.status.UNAVAILABLE, 'SERVER_SHUTTING_DOWN');
      expect(refused.message).toMatch(/reconnect/);

      // The open stream ended UNAVAILABLE with how to resume.
      const end = await streamEnd;
      expect(end.code).toBe(grpc.status.UNAVAILABLE);
      expect(end.details).toMatch(/after_sequence/);
      expect(decodeErrorDetails(end)?.errorInfo?.reason).toBe('SERVER_SHUTTING_DOWN');

      const cut = await blocked;
      expect(cut?.code).toBeDefined();
      expect(Date.now() - sent).toBeGreaterThanOrEqual(GRACE_MS - 100);

      const exit = await server.exited;
      expect(exit.code).toBe(0);
      expect(exit.at - sent).toBeLessThan(GRACE_MS + 2000);
      const messages = server.logs.map((l) => {
        try {
          return (JSON.parse(l) as { msg?: string }).msg ?? '';
        } catch {
          return l;
        }
      });
      expect(messages).toEqual(
        expect.arrayContaining(['SIGTERM: shutting down', 'grace period over: remaining calls were cancelled', 'kernel and store closed']),
      );
    } finally {
      sessions.close();
      drain.close();
      composition.close();
      health.close();
      await server.stop();
    }
  }, 60_000);
});
