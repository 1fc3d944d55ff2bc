/**
 * CompositionService.DeliverRoutedInput end to end (mob.md §1): a routed binding through the
 * generated client commits RuntimeBound, which StreamSignals then delivers; a routed input for an
 * unregistered session is a refusal answer, not a gRPC error.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositionServiceClient, RoutedSignalKind, type StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { newId } from '../../src/kernel/ids.js';
import { call, insecure, startServer, type RunningServer } from './harness.js';

let server: RunningServer | null = null;
let composition: CompositionServiceClient;
let sessions: SessionServiceClient;

beforeAll(async () => {
  server = await startServer();
  composition = new CompositionServiceClient(server.address, insecure());
  sessions = new SessionServiceClient(server.address, insecure());
}, 60_000);

afterAll(async () => {
  composition?.close();
  sessions?.close();
  await server?.stop('SIGINT');
}, 30_000);

describe('CompositionService.DeliverRoutedInput', () => {
  it('COMP-01 a routed binding is accepted and its RuntimeBound signal streams; COMP-07 an unregistered session is a refusal', async () => {
    const s = newId();
    await call(sessions.registerSession.bind(sessions), { session_id: s });
    const res = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_binding', request_runtime_binding: { session_id: s, agent_runtime_id: 'rt-1', fence_token: 11, generation: 3 } },
    });
    expect(res.result).toMatchObject({ $case: 'accepted', accepted: { session_id: s } });

    const received: StreamSignalsResponse[] = [];
    const stream = composition.streamSignals({ after_sequence: 0 });
    stream.on('data', (m: StreamSignalsResponse) => received.push(m));
    stream.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) received.length = 0;
    });
    const deadline = Date.now() + 5000;
    while (!received.some((m) => m.signal?.session_id === s) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stream.cancel();
    const mine = received.filter((m) => m.signal?.session_id === s).map((m) => m.signal);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ kind: RoutedSignalKind.RUNTIME_BOUND, agent_runtime_id: 'rt-1', fence_token: 11 });
    expect(mine[0]!.sequence).toBeGreaterThanOrEqual(1);

    const refused = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_binding', request_runtime_binding: { session_id: newId(), agent_runtime_id: 'rt-1', fence_token: 1 } },
    });
    expect(refused.result?.$case).toBe('refusal');
    expect(refused.result).toMatchObject({ refusal: { code: 'SESSION_NOT_FOUND' } });
    expect(refused.result?.$case === 'refusal' && refused.result.refusal.message).toContain('is not registered with this MeerkatMachine; cannot deliver routed input');

    const noFence = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_binding', request_runtime_binding: { session_id: s, agent_runtime_id: 'rt-2' } },
    });
    expect(noFence.result).toMatchObject({ $case: 'refusal', refusal: { code: 'INVALID_ARGUMENT' } });
    expect(noFence.result?.$case === 'refusal' && noFence.result.refusal.message).toContain('fence_token');
  }, 30_000);
});
