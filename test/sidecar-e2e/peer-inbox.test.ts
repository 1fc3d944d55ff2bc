/**
 * Peer messages between mob members through the kernel's durable peer inbox (decision 9), with the
 * REAL kernel and sidecar processes: MobService.SendPeerMessage takes the `deliver_peer_message`
 * route of CompositionService.DeliverRoutedInput and answers once the message is stored in the
 * receiver's inbox; the receiver's comms drain — started by the sidecar with
 * SetPeerIngressContext(keep_alive=true) when the member became ready — admits it as a peer input.
 *
 * - wired members: the message is admitted in the receiver's session as a peer input from the
 *   sender (origin peer id and runtime id), and completes; the sender's session gets nothing;
 * - unwired members: refused NOT_WIRED, nothing delivered;
 * - a kernel killed (SIGKILL) between delivery and admission loses nothing: the message waits in
 *   the inbox and is admitted once after the restart; a message sent right before a kill (drain
 *   running) is admitted once too.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrainServiceClient } from '../../src/gen/meerkat/kernel/v1/drain.js';
import { SessionServiceClient, type InputStateResponse } from '../../src/gen/meerkat/kernel/v1/session.js';
import { InputLifecycleState } from '../../src/gen/meerkat/kernel/v1/types.js';
import { call, collect, expectError, startCluster, teamDefinition, type Cluster } from './harness.js';

let cluster: Cluster;
let sessions: SessionServiceClient;
let drain: DrainServiceClient;

beforeAll(async () => {
  cluster = await startCluster();
  sessions = new SessionServiceClient(cluster.kernel.address, grpc.credentials.createInsecure());
  drain = new DrainServiceClient(cluster.kernel.address, grpc.credentials.createInsecure());
}, 90_000);

afterAll(async () => {
  sessions?.close();
  drain?.close();
  await cluster?.close();
}, 30_000);

const LONG = { deadline: Date.now() + 60_000 };

async function spawnReady(mobId: string, identity: string): Promise<string> {
  const m = cluster.mobs;
  const spawned = await call(m.spawnMember.bind(m), { mob_id: mobId, agent_identity: identity, profile: 'worker', labels: {} }, { deadline: Date.now() + 30_000 });
  const updates = await collect(m.waitReady({ mob_id: mobId, agent_identities: [identity] }, { deadline: Date.now() + 30_000 }));
  expect(updates.at(-1)?.all_ready).toBe(true);
  return spawned.member?.session_id as string;
}

function inputState(session: string, inputId: string): Promise<InputStateResponse> {
  return call(sessions.inputState.bind(sessions), { session_id: session, input_id: inputId }, { deadline: Date.now() + 30_000 });
}

/**
 * Polls until the input is terminal in `session` (admitted by the drain and run by the executor);
 * right after a kernel restart the session is unknown until the sidecar re-registered it.
 */
async function untilTerminal(session: string, inputId: string, timeoutMs = 20_000): Promise<InputStateResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let r: InputStateResponse = {};
    try {
      r = await inputState(session, inputId);
    } catch (e) {
      if ((e as grpc.ServiceError).code !== grpc.status.NOT_FOUND) throw e;
    }
    if (r.state?.terminal_outcome !== undefined) return r;
    if (Date.now() > deadline) throw new Error(`input ${inputId} is not terminal in ${session}: ${JSON.stringify(r.state ?? null)}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function send(mobId: string, from: string, to: string, body: string): Promise<{ session_id: string; input_id: string }> {
  const m = cluster.mobs;
  return call(m.sendPeerMessage.bind(m), { mob_id: mobId, from, to, body }, { deadline: Date.now() + 30_000 });
}

async function wiredPair(mobId: string): Promise<{ ann: string; ben: string }> {
  const m = cluster.mobs;
  await call(m.createMob.bind(m), { definition: teamDefinition(mobId) });
  const ann = await spawnReady(mobId, 'ann');
  const ben = await spawnReady(mobId, 'ben');
  await call(m.wireMembers.bind(m), { mob_id: mobId, a: 'ann', b: 'ben' });
  return { ann, ben };
}

function expectAdmittedPeer(r: InputStateResponse, body: string, from: string): void {
  expect(r.state?.input?.body?.input_type).toMatchObject({ $case: 'peer', peer: { body, convention: { type: { $case: 'message' } } } });
  expect(r.state?.input?.origin?.type).toEqual({ $case: 'peer', peer: { peer_id: from, runtime_id: `${from}:0` } });
  expect(r.state?.phase).toBe(InputLifecycleState.CONSUMED);
  expect(r.state?.terminal_outcome?.outcome_type?.$case).toBe('consumed');
}

describe('peer messages through the durable peer inbox', () => {
  it('between wired members: stored in the receiver’s inbox, admitted by its drain as a peer input from the sender; unwired: refused', async () => {
    const m = cluster.mobs;
    await call(m.createMob.bind(m), { definition: teamDefinition('inbox') });
    const ann = await spawnReady('inbox', 'ann');
    const ben = await spawnReady('inbox', 'ben');
    await expectError(call(m.sendPeerMessage.bind(m), { mob_id: 'inbox', from: 'ann', to: 'ben', body: 'too early' }), grpc.status.FAILED_PRECONDITION, 'NOT_WIRED');
    await call(m.wireMembers.bind(m), { mob_id: 'inbox', a: 'ann', b: 'ben' });

    const first = await send('inbox', 'ann', 'ben', 'hello ben');
    expect(first.session_id).toBe(ben);
    expectAdmittedPeer(await untilTerminal(ben, first.input_id), 'hello ben', 'ann');
    const reply = await send('inbox', 'ben', 'ann', 'hi ann');
    expect(reply.session_id).toBe(ann);
    expectAdmittedPeer(await untilTerminal(ann, reply.input_id), 'hi ann', 'ben');
    // Each message went to its receiver only.
    expect((await inputState(ann, first.input_id)).state).toBeUndefined();
    expect((await inputState(ben, reply.input_id)).state).toBeUndefined();

    // The sidecar claimed each member's peer ingress for the mob: a session-owned claim is refused.
    const claim = call(drain.setPeerIngressContext.bind(drain), { session_id: ben, keep_alive: true, comms_runtime_id: 'someone-else' });
    await expectError(claim, grpc.status.FAILED_PRECONDITION, 'GUARD_REJECTED');

    await call(m.unwireMembers.bind(m), { mob_id: 'inbox', a: 'ann', b: 'ben' });
    await expectError(call(m.sendPeerMessage.bind(m), { mob_id: 'inbox', from: 'ben', to: 'ann', body: 'after unwiring' }), grpc.status.FAILED_PRECONDITION, 'NOT_WIRED');
    const journal = (await call(m.listEvents.bind(m), { mob_id: 'inbox', after_cursor: 0, limit: 0 })).events;
    expect(journal.filter((e) => e.type === 'kernel_request_refused')).toEqual([]);
  }, 90_000);

  it('a kernel killed between delivery and admission loses nothing: the message is admitted once after the restart', async () => {
    const { ben } = await wiredPair('restart');
    // Ben's drain is stopped (so the message stays in the inbox), then the kernel is killed.
    await call(drain.abort.bind(drain), { session_id: ben });
    const waiting = await send('restart', 'ann', 'ben', 'while no drain runs');
    expect(waiting.session_id).toBe(ben);
    await new Promise((r) => setTimeout(r, 300));
    expect((await inputState(ben, waiting.input_id)).state).toBeUndefined();
    await cluster.kernel.stop('SIGKILL');
    await cluster.kernel.start();

    // The sidecar reconnects, re-registers ben's session and restarts its drain: admitted once.
    expectAdmittedPeer(await untilTerminal(ben, waiting.input_id, 40_000), 'while no drain runs', 'ann');
    expect((await untilTerminal(ben, waiting.input_id)).state?.attempt_count).toBe(1);

    // Sent with the drain running, the kernel killed right after the answer: admitted once.
    const racing = await send('restart', 'ann', 'ben', 'right before the kill');
    await cluster.kernel.stop('SIGKILL');
    await cluster.kernel.start();
    const r = await untilTerminal(ben, racing.input_id, 40_000);
    expectAdmittedPeer(r, 'right before the kill', 'ann');
    const active = await call(sessions.listActiveInputs.bind(sessions), { session_id: ben }, LONG);
    expect(active.input_ids).toEqual([]);
    const journal = (await call(cluster.mobs.listEvents.bind(cluster.mobs), { mob_id: 'restart', after_cursor: 0, limit: 0 })).events;
    expect(journal.filter((e) => e.type === 'kernel_request_refused')).toEqual([]);
  }, 120_000);
});
