/**
 * The mob sidecar end to end: the REAL kernel process and the REAL sidecar process, talking gRPC.
 *
 * - Seam witnesses of mob.md §1.11: binding round trip (spawn → RequestRuntimeBinding →
 *   PrepareBindings → RuntimeBound → ObserveRuntimeReady), work round trip observing the terminal
 *   outcome, retire path (detach → Retire → RuntimeRetired → ObserveRuntimeRetired → archived),
 *   destroy path (DestroyMob → RequestRuntimeDestroy → Destroy → RuntimeDestroyed delivered and
 *   dropped by the already-destroyed mob).
 * - Refusal paths reachable end to end: ingress refused by a stopped kernel runtime, retire
 *   refused for a session the kernel no longer knows (each folded into its Resolve…Refusal
 *   closure; the binding refusal is in binding-refusal.test.ts).
 * - Peer messages between two wired members reaching the receiver's kernel session (through its
 *   durable peer inbox and comms drain; more in peer-inbox.test.ts); unwired → refused.
 * - Respawn keeps the wiring; lifecycle stop/resume.
 * - Bad input: unknown mob/member, self-wiring, non-member wiring, invalid definitions — each the
 *   proper code, and nothing changed (journal and status identical before and after).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlServiceClient, RuntimeState } from '../../src/gen/meerkat/kernel/v1/control.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { LifecycleAction, MemberStatus, MobPhase, StartupStage, type MobEvent } from '../../src/gen/meerkat/mob/v1/mob.js';
import { call, collect, expectError, startCluster, teamDefinition, type Cluster } from './harness.js';

let cluster: Cluster;
let control: ControlServiceClient;
let sessions: SessionServiceClient;

beforeAll(async () => {
  cluster = await startCluster();
  control = new ControlServiceClient(cluster.kernel.address, grpc.credentials.createInsecure());
  sessions = new SessionServiceClient(cluster.kernel.address, grpc.credentials.createInsecure());
}, 90_000);

afterAll(async () => {
  control?.close();
  sessions?.close();
  await cluster?.close();
}, 30_000);

const mobs = () => cluster.mobs;

async function kernelState(sessionId: string): Promise<RuntimeState> {
  return (await call(control.runtimeState.bind(control), { runtime_id: `rt:session:${sessionId}` })).state;
}

async function events(mobId: string): Promise<MobEvent[]> {
  return (await call(mobs().listEvents.bind(mobs()), { mob_id: mobId, after_cursor: 0, limit: 0 })).events;
}

const payload = (e: MobEvent): Record<string, unknown> => JSON.parse(e.payload_json) as Record<string, unknown>;

/** Follows the journal until `pred` holds for one event (causal wait: the event must be appended). */
async function untilEvent(mobId: string, pred: (e: MobEvent) => boolean): Promise<MobEvent> {
  const stream = mobs().followEvents({ mob_id: mobId, after_cursor: 0 });
  const seen = await collect(stream, (m) => m.event !== undefined && pred(m.event));
  return seen.at(-1)?.event as MobEvent;
}

async function createTeam(id: string, over: Parameters<typeof teamDefinition>[1] = {}): Promise<void> {
  await call(mobs().createMob.bind(mobs()), { definition: teamDefinition(id, over) });
}

async function spawnReady(mobId: string, identity: string, profile = 'worker') {
  const spawned = await call(mobs().spawnMember.bind(mobs()), { mob_id: mobId, agent_identity: identity, profile, labels: { team: 'e2e' } });
  const updates = await collect(mobs().waitReady({ mob_id: mobId, agent_identities: [identity] }));
  expect(updates.at(-1)?.all_ready).toBe(true);
  return { spawned: spawned.member!, ready: updates.at(-1)!.members[0]! };
}

describe('seam witnesses (mob.md §1.11)', () => {
  it('binding round trip: spawn → PrepareBindings → RuntimeBound → ObserveRuntimeReady', async () => {
    await createTeam('witness-bind');
    const { spawned, ready } = await spawnReady('witness-bind', 'alice');
    expect(spawned).toMatchObject({ agent_identity: 'alice', status: MemberStatus.ACTIVE, startup: StartupStage.BINDING_REQUESTED, generation: 0, agent_runtime_id: 'alice:0' });
    expect(ready).toMatchObject({ startup: StartupStage.RUNTIME_READY, ready: true, labels: { team: 'e2e' } });
    const session = spawned.session_id!;
    expect(await kernelState(session)).toBe(RuntimeState.ATTACHED);
    const journal = await events('witness-bind');
    expect(journal.map((e) => e.type)).toEqual(['mob_created', 'member_spawned', 'signal_folded']);
    expect(payload(journal[2]!)).toMatchObject({ kind: 'RuntimeBound', session_id: session, agent_runtime_id: 'alice:0', fence_token: 1, outcome: 'applied', transition: 'ObserveRuntimeReady' });
  }, 30_000);

  it('work round trip: SubmitWork → RequestRuntimeIngress → Ingest + admission → terminal outcome', async () => {
    await createTeam('witness-work');
    const { spawned } = await spawnReady('witness-work', 'bob');
    const work = await call(mobs().submitWork.bind(mobs()), { mob_id: 'witness-work', agent_identity: 'bob', content: 'hello from the mob', origin: 0, wait: true, work_id: 'work-1' });
    expect(work).toMatchObject({ work_id: 'work-1', session_id: spawned.session_id, deduplicated: false });
    expect(work.outcome?.kind).toEqual({ $case: 'completed', completed: { result: { text: 'hello from the mob' } } });
    const input = await call(sessions.inputState.bind(sessions), { session_id: spawned.session_id!, input_id: work.input_id });
    expect(input.state?.idempotency_key).toBe('work-1');
    // Re-sending the same work id joins the admitted input.
    const again = await call(mobs().submitWork.bind(mobs()), { mob_id: 'witness-work', agent_identity: 'bob', content: 'hello from the mob', origin: 0, wait: false, work_id: 'work-1' });
    expect(again).toMatchObject({ input_id: work.input_id, deduplicated: true });
  }, 30_000);

  it('retire path: detach → Retire → RuntimeRetired → ObserveRuntimeRetired → member archived', async () => {
    await createTeam('witness-retire');
    const { spawned } = await spawnReady('witness-retire', 'carol');
    const retired = await call(mobs().retireMember.bind(mobs()), { mob_id: 'witness-retire', agent_identity: 'carol' });
    expect(retired.member).toMatchObject({ status: MemberStatus.COMPLETED, is_final: true });
    expect(await kernelState(spawned.session_id!)).toBe(RuntimeState.RETIRED);
    const types = (await events('witness-retire')).map((e) => e.type);
    expect(types).toEqual(['mob_created', 'member_spawned', 'signal_folded', 'member_retirement_started', 'signal_folded', 'member_retired']);
    const folded = (await events('witness-retire')).filter((e) => e.type === 'signal_folded').map(payload);
    expect(folded[1]).toMatchObject({ kind: 'RuntimeRetired', outcome: 'applied', transition: 'ObserveRuntimeRetired' });
    // Retired members keep their history: the next spawn of the identity is generation 1.
    const next = await spawnReady('witness-retire', 'carol');
    expect(next.spawned).toMatchObject({ generation: 1, agent_runtime_id: 'carol:1' });
    expect(next.spawned.session_id).not.toBe(spawned.session_id);
  }, 30_000);

  it('destroy path: DestroyMob → RequestRuntimeDestroy → Destroy → RuntimeDestroyed (delivered, dropped)', async () => {
    await createTeam('witness-destroy');
    const a = await spawnReady('witness-destroy', 'dave');
    const b = await spawnReady('witness-destroy', 'erin');
    const res = await call(mobs().lifecycle.bind(mobs()), { mob_id: 'witness-destroy', action: LifecycleAction.DESTROY });
    expect(res).toMatchObject({ phase: MobPhase.DESTROYED, sessions_destroyed: 2 });
    expect(await kernelState(a.spawned.session_id!)).toBe(RuntimeState.DESTROYED);
    expect(await kernelState(b.spawned.session_id!)).toBe(RuntimeState.DESTROYED);
    // Both RuntimeDestroyed signals reach the mob, whose machine (already Destroyed, live set cleared) drops them.
    for (const session of [a.spawned.session_id, b.spawned.session_id]) {
      const e = await untilEvent('witness-destroy', (x) => x.type === 'signal_folded' && payload(x).session_id === session && payload(x).kind === 'RuntimeDestroyed');
      expect(payload(e)).toMatchObject({ outcome: 'dropped' });
    }
    const types = (await events('witness-destroy')).map((e) => e.type);
    expect(types).toContain('mob_destroying');
    expect(types).toContain('mob_destroy_storage_finalizing');
    const status = await call(mobs().getStatus.bind(mobs()), { mob_id: 'witness-destroy' });
    expect(status).toMatchObject({ phase: MobPhase.DESTROYED, members: 0, signals_applied: 2, signals_dropped: 2 });
    await expectError(call(mobs().spawnMember.bind(mobs()), { mob_id: 'witness-destroy', agent_identity: 'zed', profile: 'worker', labels: {} }), grpc.status.FAILED_PRECONDITION, 'INVALID_PHASE');
  }, 30_000);
});

describe('refusal paths', () => {
  it('an ingress the kernel refuses (its runtime was stopped) is folded back and reported', async () => {
    await createTeam('refuse-ingress');
    const { spawned } = await spawnReady('refuse-ingress', 'fay');
    await call(sessions.stopRuntimeExecutor.bind(sessions), { session_id: spawned.session_id!, reason: 'test' });
    const details = await expectError(
      call(mobs().submitWork.bind(mobs()), { mob_id: 'refuse-ingress', agent_identity: 'fay', content: 'x', origin: 0, wait: false }),
      grpc.status.FAILED_PRECONDITION,
      'KERNEL_REFUSED',
    );
    expect(details.errorInfo?.metadata.kernel_code).toMatch(/GUARD_REJECTED|INVALID_PHASE|RUNTIME/);
    const last = (await events('refuse-ingress')).filter((e) => e.type === 'runtime_refusal_classified').map(payload);
    expect(last).toHaveLength(1);
    expect(last[0]).toMatchObject({ classification: 'RuntimeIngressRefusalClassified', agent_runtime_id: 'fay:0' });
    // A work-local failure: the member stays active.
    expect((await call(mobs().getMember.bind(mobs()), { mob_id: 'refuse-ingress', agent_identity: 'fay' })).member?.status).toBe(MemberStatus.ACTIVE);
  }, 30_000);

  it('a retire the kernel refuses (the session was unregistered behind the mob) is folded back: the member stays Retiring', async () => {
    await createTeam('refuse-retire');
    const { spawned } = await spawnReady('refuse-retire', 'gus');
    await call(sessions.unregisterSession.bind(sessions), { session_id: spawned.session_id! });
    const details = await expectError(call(mobs().retireMember.bind(mobs()), { mob_id: 'refuse-retire', agent_identity: 'gus' }), grpc.status.FAILED_PRECONDITION, 'KERNEL_REFUSED');
    expect(details.errorInfo?.metadata.kernel_code).toBe('SESSION_NOT_FOUND');
    const classified = (await events('refuse-retire')).filter((e) => e.type === 'runtime_refusal_classified').map(payload);
    expect(classified).toHaveLength(1);
    expect(classified[0]).toMatchObject({ classification: 'RuntimeRetireRefusalClassified', agent_identity: 'gus', session_id: spawned.session_id });
    expect((await call(mobs().getMember.bind(mobs()), { mob_id: 'refuse-retire', agent_identity: 'gus' })).member?.status).toBe(MemberStatus.RETIRING);
  }, 30_000);
});

describe('peer messages, wiring, respawn, lifecycle', () => {
  it('a peer message between two wired members reaches the other member’s session; unwired members cannot message', async () => {
    await createTeam('peers');
    const a = await spawnReady('peers', 'ann');
    const b = await spawnReady('peers', 'ben');
    await expectError(call(mobs().sendPeerMessage.bind(mobs()), { mob_id: 'peers', from: 'ann', to: 'ben', body: 'hi' }), grpc.status.FAILED_PRECONDITION, 'NOT_WIRED');
    const wired = await call(mobs().wireMembers.bind(mobs()), { mob_id: 'peers', a: 'ben', b: 'ann' });
    expect(wired.changed).toBe(true);
    expect((await call(mobs().wireMembers.bind(mobs()), { mob_id: 'peers', a: 'ann', b: 'ben' })).changed).toBe(false);
    const sent = await call(mobs().sendPeerMessage.bind(mobs()), { mob_id: 'peers', from: 'ann', to: 'ben', body: 'hello ben' });
    expect(sent.session_id).toBe(b.spawned.session_id);
    expect(sent.session_id).not.toBe(a.spawned.session_id);
    // Answered once the message is in ben's durable peer inbox; ben's comms drain admits it.
    let input = await call(sessions.inputState.bind(sessions), { session_id: b.spawned.session_id!, input_id: sent.input_id });
    for (let i = 0; i < 250 && input.state === undefined; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      input = await call(sessions.inputState.bind(sessions), { session_id: b.spawned.session_id!, input_id: sent.input_id });
    }
    expect(input.state?.input?.body?.input_type).toMatchObject({ $case: 'peer', peer: { body: 'hello ben' } });
    expect(input.state?.input?.origin?.type).toMatchObject({ $case: 'peer', peer: { peer_id: 'ann', runtime_id: 'ann:0' } });
    const ben = await call(mobs().getMember.bind(mobs()), { mob_id: 'peers', agent_identity: 'ben' });
    expect(ben.member?.wired_to).toEqual(['ann']);
    expect((await call(mobs().unwireMembers.bind(mobs()), { mob_id: 'peers', a: 'ann', b: 'ben' })).changed).toBe(true);
    await expectError(call(mobs().sendPeerMessage.bind(mobs()), { mob_id: 'peers', from: 'ben', to: 'ann', body: 'hi' }), grpc.status.FAILED_PRECONDITION, 'NOT_WIRED');
  }, 30_000);

  it('definition wiring rules wire new members; respawn moves to the next generation and keeps the wiring', async () => {
    await createTeam('auto', { orchestrator: { profile: 'lead' }, wiring: { auto_wire_orchestrator: true, role_wiring: [] } });
    await spawnReady('auto', 'boss', 'lead');
    const w = await spawnReady('auto', 'w1', 'worker');
    expect(w.ready.wired_to).toEqual(['boss']);
    const respawned = await call(mobs().respawnMember.bind(mobs()), { mob_id: 'auto', agent_identity: 'w1' });
    expect(respawned.member).toMatchObject({ generation: 1, agent_runtime_id: 'w1:1', wired_to: ['boss'], status: MemberStatus.ACTIVE });
    expect(respawned.member?.session_id).not.toBe(w.spawned.session_id);
    expect(await kernelState(w.spawned.session_id!)).toBe(RuntimeState.RETIRED);
    const again = await call(mobs().ensureMember.bind(mobs()), { mob_id: 'auto', agent_identity: 'w1', profile: 'worker', labels: {} });
    expect(again.spawned).toBe(false);
  }, 30_000);

  it('stop refuses work (WORK_REJECTED MobNotRunning); resume accepts it again', async () => {
    await createTeam('life');
    await spawnReady('life', 'hal');
    expect((await call(mobs().lifecycle.bind(mobs()), { mob_id: 'life', action: LifecycleAction.STOP })).phase).toBe(MobPhase.STOPPED);
    const d = await expectError(call(mobs().submitWork.bind(mobs()), { mob_id: 'life', agent_identity: 'hal', content: 'x', origin: 0, wait: false }), grpc.status.FAILED_PRECONDITION, 'WORK_REJECTED');
    expect(d.errorInfo?.metadata.reason).toBe('MobNotRunning');
    await expectError(call(mobs().lifecycle.bind(mobs()), { mob_id: 'life', action: LifecycleAction.STOP }), grpc.status.FAILED_PRECONDITION, 'GUARD_REJECTED');
    expect((await call(mobs().lifecycle.bind(mobs()), { mob_id: 'life', action: LifecycleAction.RESUME })).phase).toBe(MobPhase.RUNNING);
    const ok = await call(mobs().submitWork.bind(mobs()), { mob_id: 'life', agent_identity: 'hal', content: 'back', origin: 0, wait: true });
    expect(ok.outcome?.kind).toEqual({ $case: 'completed', completed: { result: { text: 'back' } } });
  }, 30_000);
});

describe('bad input: the proper code, nothing changed', () => {
  async function snapshot(mobId: string): Promise<string> {
    // Quiescent first: a member that just became ready still has its peer-ingress request queued.
    let status = await call(mobs().getStatus.bind(mobs()), { mob_id: mobId });
    for (let i = 0; i < 250 && status.pending_kernel_requests > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      status = await call(mobs().getStatus.bind(mobs()), { mob_id: mobId });
    }
    const members = await call(mobs().listMembers.bind(mobs()), { mob_id: mobId, include_retired: true });
    return JSON.stringify({ events: await events(mobId), status: { ...status, signal_cursor: 0 }, members });
  }

  it('unknown mob and unknown member are NOT_FOUND', async () => {
    await expectError(call(mobs().getStatus.bind(mobs()), { mob_id: 'no-such-mob' }), grpc.status.NOT_FOUND, 'MOB_NOT_FOUND');
    await expectError(call(mobs().spawnMember.bind(mobs()), { mob_id: 'no-such-mob', agent_identity: 'a', profile: 'worker', labels: {} }), grpc.status.NOT_FOUND, 'MOB_NOT_FOUND');
    await createTeam('bad');
    await spawnReady('bad', 'ivy');
    const before = await snapshot('bad');
    await expectError(call(mobs().getMember.bind(mobs()), { mob_id: 'bad', agent_identity: 'nobody' }), grpc.status.NOT_FOUND, 'MEMBER_NOT_FOUND');
    await expectError(call(mobs().retireMember.bind(mobs()), { mob_id: 'bad', agent_identity: 'nobody' }), grpc.status.NOT_FOUND, 'MEMBER_NOT_FOUND');
    await expectError(call(mobs().submitWork.bind(mobs()), { mob_id: 'bad', agent_identity: 'nobody', content: 'x', origin: 0, wait: false }), grpc.status.NOT_FOUND, 'MEMBER_NOT_FOUND');
    await expectError(call(mobs().sendPeerMessage.bind(mobs()), { mob_id: 'bad', from: 'ivy', to: 'nobody', body: 'x' }), grpc.status.NOT_FOUND, 'MEMBER_NOT_FOUND');
    expect(await snapshot('bad')).toBe(before);
  }, 30_000);

  it('wiring a member to itself or to a non-member is INVALID_ARGUMENT; a second spawn of a member is ALREADY_EXISTS', async () => {
    const before = await snapshot('bad');
    const self = await expectError(call(mobs().wireMembers.bind(mobs()), { mob_id: 'bad', a: 'ivy', b: 'ivy' }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(self.fieldViolations[0]?.field).toBe('b');
    const stranger = await expectError(call(mobs().wireMembers.bind(mobs()), { mob_id: 'bad', a: 'ivy', b: 'stranger' }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(stranger.fieldViolations[0]?.description).toContain('not a member');
    await expectError(call(mobs().spawnMember.bind(mobs()), { mob_id: 'bad', agent_identity: 'ivy', profile: 'worker', labels: {} }), grpc.status.ALREADY_EXISTS, 'MEMBER_ALREADY_EXISTS');
    await expectError(call(mobs().spawnMember.bind(mobs()), { mob_id: 'bad', agent_identity: 'new one', profile: 'nope', labels: {} }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await expectError(call(mobs().lifecycle.bind(mobs()), { mob_id: 'bad', action: LifecycleAction.UNSPECIFIED }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(await snapshot('bad')).toBe(before);
  }, 30_000);

  it('an invalid definition is INVALID_ARGUMENT naming each problem, and creates nothing', async () => {
    const empty = await expectError(
      call(mobs().createMob.bind(mobs()), { definition: { id: 'bad id!', profiles: {}, wiring: undefined, orchestrator: undefined } }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(empty.fieldViolations.map((v) => v.field).sort()).toEqual(['definition.id', 'definition.profiles']);
    const dangling = await expectError(
      call(mobs().createMob.bind(mobs()), { definition: teamDefinition('dangling', { wiring: { auto_wire_orchestrator: false, role_wiring: [{ a: 'worker', b: 'ghost' }] } }) }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(dangling.fieldViolations.map((v) => v.field)).toEqual(['definition.wiring.role_wiring[0].b']);
    await expectError(call(mobs().getStatus.bind(mobs()), { mob_id: 'dangling' }), grpc.status.NOT_FOUND, 'MOB_NOT_FOUND');
    await expectError(call(mobs().createMob.bind(mobs()), { definition: teamDefinition('bad') }), grpc.status.ALREADY_EXISTS, 'MOB_ALREADY_EXISTS');
  }, 30_000);
});
