/**
 * CompositionService.DeliverRoutedInput end to end (mob.md §1): a routed binding through the
 * generated client commits RuntimeBound, which StreamSignals then delivers; a routed input for an
 * unregistered session is a refusal answer, not a gRPC error. A peer message through the
 * `deliver_peer_message` route lands in the receiver's durable inbox and the drain started by
 * DrainService.SetPeerIngressContext(keep_alive=true) admits it as a peer input.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositionServiceClient, RoutedSignalKind, type StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { DrainServiceClient } from '../../src/gen/meerkat/kernel/v1/drain.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import type { Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/ids.js';
import { call, insecure, startServer, type RunningServer } from './harness.js';

let server: RunningServer | null = null;
let composition: CompositionServiceClient;
let sessions: SessionServiceClient;
let drain: DrainServiceClient;

beforeAll(async () => {
  server = await startServer();
  composition = new CompositionServiceClient(server.address, insecure());
  sessions = new SessionServiceClient(server.address, insecure());
  drain = new DrainServiceClient(server.address, insecure());
}, 60_000);

afterAll(async () => {
  composition?.close();
  sessions?.close();
  drain?.close();
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

  it('COMP-04 dispatcher refusals are typed: an unresolved route is INVALID_ARGUMENT naming it, a consumer refusal is a code and a reason', async () => {
    // Upstream's in-process dispatcher answers UnresolvedRoute / ConsumerRefused; over gRPC the
    // unresolved route is a request without a route (BadRequest on `route`), and a refusal by the
    // kernel (the consumer) is the typed `refusal` answer: code and message, nothing changed.
    const unresolved = await call(composition.deliverRoutedInput.bind(composition), {}).then(
      () => null,
      (e: unknown) => e as grpc.ServiceError,
    );
    expect(unresolved?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(unresolved?.details).toContain('route');
    const s = newId();
    await call(sessions.registerSession.bind(sessions), { session_id: s });
    await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_destroy', request_runtime_destroy: { session_id: s } },
    });
    // The consumer refuses a retire of a destroyed runtime: typed, with its reason.
    const refused = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_retire', request_runtime_retire: { session_id: s } },
    });
    expect(refused.result?.$case).toBe('refusal');
    expect(refused.result).toMatchObject({ refusal: { code: 'RUNTIME_DESTROYED' } });
    expect(refused.result?.$case === 'refusal' && refused.result.refusal.message.length).toBeGreaterThan(10);
  }, 30_000);

  it('a peer message is accepted once stored in the receiver\'s inbox and admitted by its drain as a peer input; refusals are answers', async () => {
    const s = newId();
    await call(sessions.registerSession.bind(sessions), { session_id: s });
    await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_binding', request_runtime_binding: { session_id: s, agent_runtime_id: 'bob:0', fence_token: 2, generation: 0 } },
    });
    const message: Input = {
      durability: 0,
      body: { input_type: { $case: 'peer', peer: { convention: { type: { $case: 'message', message: {} } }, body: 'hello bob', handling_mode: 0 } } },
    };
    const route = { session_id: s, sender: 'alice', sender_runtime_id: 'alice:0', agent_runtime_id: 'bob:0', fence_token: 2, generation: 0, input: message };
    const res = await call(composition.deliverRoutedInput.bind(composition), { route: { $case: 'deliver_peer_message', deliver_peer_message: route } });
    if (res.result?.$case !== 'accepted') throw new Error(`refused: ${JSON.stringify(res.result)}`);
    const inputId = res.result.accepted.input_id as string;
    expect(res.result.accepted).toMatchObject({ session_id: s, deduplicated: false });
    expect(res.result.accepted.peer_message_sequence).toBeGreaterThanOrEqual(1);
    // No drain yet: stored, not admitted.
    expect((await call(sessions.inputState.bind(sessions), { session_id: s, input_id: inputId })).state).toBeUndefined();

    const started = await call(drain.setPeerIngressContext.bind(drain), { session_id: s, keep_alive: true, comms_runtime_id: 'mob:m1', mob_id: 'm1' });
    expect(started.drain_started).toBe(true);
    const deadline = Date.now() + 5000;
    let state = (await call(sessions.inputState.bind(sessions), { session_id: s, input_id: inputId })).state;
    while (state === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      state = (await call(sessions.inputState.bind(sessions), { session_id: s, input_id: inputId })).state;
    }
    expect(state?.input?.origin?.type).toEqual({ $case: 'peer', peer: { peer_id: 'alice', runtime_id: 'alice:0' } });
    expect(state?.input?.body?.input_type?.$case).toBe('peer');

    const stale = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'deliver_peer_message', deliver_peer_message: { ...route, fence_token: 1 } },
    });
    expect(stale.result).toMatchObject({ $case: 'refusal', refusal: { code: 'GUARD_REJECTED' } });
    const noSender = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'deliver_peer_message', deliver_peer_message: { ...route, sender: '' } },
    });
    expect(noSender.result).toMatchObject({ $case: 'refusal', refusal: { code: 'INVALID_ARGUMENT' } });
    expect(noSender.result?.$case === 'refusal' && noSender.result.refusal.message).toContain('sender');
    const unknown = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'deliver_peer_message', deliver_peer_message: { ...route, session_id: newId() } },
    });
    expect(unknown.result).toMatchObject({ $case: 'refusal', refusal: { code: 'SESSION_NOT_FOUND' } });
    const noInput = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'deliver_peer_message', deliver_peer_message: { ...route, input: undefined } },
    });
    expect(noInput.result).toMatchObject({ $case: 'refusal', refusal: { code: 'INVALID_ARGUMENT' } });
  }, 30_000);
});
