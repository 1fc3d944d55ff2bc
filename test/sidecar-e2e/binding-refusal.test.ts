/**
 * The binding refusal path end to end (issue 5 acceptance "each refusal path"; mob.md §1.4, §1.6):
 * the REAL kernel process refuses a `RequestRuntimeBinding` the REAL sidecar sends, and the sidecar
 * folds it back as `ResolveRuntimeBindingRefusal`, so the member shows Broken with the kernel's
 * reason through MobService.
 *
 * The sidecar creates each member's session right before it sends the binding, so nothing refuses
 * on its own. A transparent proxy (`kernel-proxy.ts`) lets an operator act on the kernel at exactly
 * that point — through the kernel's public gRPC API, with no hook in either process:
 *
 * - COMP-07: the operator unregisters the member's session; the binding reaches a session the
 *   kernel no longer has → SESSION_NOT_FOUND "is not registered with this MeerkatMachine".
 * - A conflicting binding: another client binds the session to a different runtime and fence
 *   first; the mob's binding is then GUARD_REJECTED, and the intruder's RuntimeBound is dropped by
 *   the mob (unknown runtime).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositionServiceClient, type DeliverRoutedInputRequest } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { MemberStatus, MobServiceClient, StartupStage, type MobEvent } from '../../src/gen/meerkat/mob/v1/mob.js';
import { freePort } from '../e2e/harness.js';
import { call, collect, ServerProcess, teamDefinition } from './harness.js';
import { startKernelProxy, type KernelProxy } from './kernel-proxy.js';

type Route = DeliverRoutedInputRequest['route'];
type BindingRoute = Extract<Route, { $case: 'request_runtime_binding' }>['request_runtime_binding'];

let dir: string;
let kernel: ServerProcess;
let sidecar: ServerProcess;
let proxy: KernelProxy;
let mobs: MobServiceClient;
let sessions: SessionServiceClient;
let composition: CompositionServiceClient;
/** What the operator does to the next binding that passes the proxy (then disarmed). */
let interfere: ((binding: BindingRoute) => Promise<void>) | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meerkat-binding-refusal-'));
  const [kernelPort, sidecarPort] = [await freePort(), await freePort()];
  kernel = new ServerProcess({
    script: 'src/server/main.ts',
    port: kernelPort,
    env: { MEERKAT_LISTEN: `127.0.0.1:${kernelPort}`, MEERKAT_DATA_DIR: join(dir, 'kernel'), MEERKAT_LOG_LEVEL: 'warn' },
  });
  await kernel.start();
  sessions = new SessionServiceClient(kernel.address, grpc.credentials.createInsecure());
  composition = new CompositionServiceClient(kernel.address, grpc.credentials.createInsecure());
  proxy = await startKernelProxy(kernel.address, {
    beforeRoute: async (route) => {
      if (route?.$case !== 'request_runtime_binding' || interfere === null) return;
      const act = interfere;
      interfere = null;
      await act(route.request_runtime_binding);
    },
  });
  sidecar = new ServerProcess({
    script: 'sidecar/main.ts',
    port: sidecarPort,
    env: {
      MEERKAT_KERNEL_ADDR: proxy.address,
      MEERKAT_SIDECAR_HOST: '127.0.0.1',
      MEERKAT_SIDECAR_PORT: String(sidecarPort),
      MEERKAT_SIDECAR_DATA_DIR: join(dir, 'sidecar'),
      MEERKAT_LOG_LEVEL: 'warn',
    },
  });
  await sidecar.start();
  mobs = new MobServiceClient(sidecar.address, grpc.credentials.createInsecure());
}, 120_000);

afterAll(async () => {
  mobs?.close();
  sessions?.close();
  composition?.close();
  await sidecar?.stop();
  await proxy?.close();
  await kernel?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

async function events(mobId: string): Promise<MobEvent[]> {
  return (await call(mobs.listEvents.bind(mobs), { mob_id: mobId, after_cursor: 0, limit: 0 })).events;
}

const payload = (e: MobEvent): Record<string, unknown> => JSON.parse(e.payload_json) as Record<string, unknown>;

/** Follows the journal until an event matches. */
async function untilEvent(mobId: string, pred: (e: MobEvent) => boolean): Promise<MobEvent> {
  const seen = await collect(mobs.followEvents({ mob_id: mobId, after_cursor: 0 }), (m) => m.event !== undefined && pred(m.event));
  return seen.at(-1)?.event as MobEvent;
}

async function member(mobId: string, identity: string) {
  return (await call(mobs.getMember.bind(mobs), { mob_id: mobId, agent_identity: identity })).member!;
}

describe('a binding the kernel refuses is folded back as ResolveRuntimeBindingRefusal', () => {
  it('the proxy is transparent: an undisturbed member binds and becomes ready through it', async () => {
    await call(mobs.createMob.bind(mobs), { definition: teamDefinition('bind-control') });
    await call(mobs.spawnMember.bind(mobs), { mob_id: 'bind-control', agent_identity: 'hal', profile: 'worker', labels: {} });
    const updates = await collect(mobs.waitReady({ mob_id: 'bind-control', agent_identities: ['hal'] }));
    expect(updates.at(-1)).toMatchObject({ all_ready: true, members: [{ startup: StartupStage.RUNTIME_READY }] });
    expect(proxy.routes.some((r) => r?.$case === 'request_runtime_binding' && r.request_runtime_binding.agent_runtime_id === 'hal:0')).toBe(true);
  }, 60_000);

  it('COMP-07 the session was unregistered before the binding arrived: SESSION_NOT_FOUND, the member is Broken', async () => {
    await call(mobs.createMob.bind(mobs), { definition: teamDefinition('bind-unregistered') });
    let target = '';
    interfere = async (binding) => {
      target = binding.session_id;
      await call(sessions.unregisterSession.bind(sessions), { session_id: binding.session_id });
    };
    const spawned = (await call(mobs.spawnMember.bind(mobs), { mob_id: 'bind-unregistered', agent_identity: 'ivy', profile: 'worker', labels: {} })).member!;
    const classified = await untilEvent('bind-unregistered', (e) => e.type === 'runtime_refusal_classified');
    expect(target).toBe(spawned.session_id);
    expect(payload(classified)).toMatchObject({
      classification: 'RuntimeBindingRefusalClassified',
      agent_identity: 'ivy',
      agent_runtime_id: 'ivy:0',
      session_id: spawned.session_id,
      refusal_code: 'SESSION_NOT_FOUND',
    });
    const refused = (await events('bind-unregistered')).filter((e) => e.type === 'kernel_request_refused').map(payload);
    expect(refused).toEqual([expect.objectContaining({ request: 'RequestRuntimeBinding', code: 'SESSION_NOT_FOUND' })]);
    expect(String(refused[0]?.message)).toMatch(/is not registered with this MeerkatMachine; cannot deliver routed input/);
    const m = await member('bind-unregistered', 'ivy');
    expect(m).toMatchObject({ status: MemberStatus.BROKEN, is_final: true, ready: false, session_id: spawned.session_id });
    expect(m.error).toMatch(/is not registered with this MeerkatMachine/);
    // WaitReady does not hang on a broken member.
    const status = await call(mobs.getStatus.bind(mobs), { mob_id: 'bind-unregistered' });
    expect(status.signals_applied).toBe(0);
  }, 60_000);

  it('another client bound the session first: the mob’s binding is GUARD_REJECTED and the intruder’s RuntimeBound is dropped', async () => {
    await call(mobs.createMob.bind(mobs), { definition: teamDefinition('bind-conflict') });
    interfere = async (binding) => {
      const answer = await call(composition.deliverRoutedInput.bind(composition), {
        route: {
          $case: 'request_runtime_binding',
          request_runtime_binding: { session_id: binding.session_id, agent_runtime_id: 'intruder:0', fence_token: 99, generation: 0 },
        },
      });
      expect(answer.result?.$case).toBe('accepted');
    };
    const spawned = (await call(mobs.spawnMember.bind(mobs), { mob_id: 'bind-conflict', agent_identity: 'jon', profile: 'worker', labels: {} })).member!;
    const classified = await untilEvent('bind-conflict', (e) => e.type === 'runtime_refusal_classified');
    expect(payload(classified)).toMatchObject({ classification: 'RuntimeBindingRefusalClassified', agent_runtime_id: 'jon:0', refusal_code: 'GUARD_REJECTED' });
    const dropped = await untilEvent('bind-conflict', (e) => e.type === 'signal_folded');
    expect(payload(dropped)).toMatchObject({ kind: 'RuntimeBound', session_id: spawned.session_id, agent_runtime_id: 'intruder:0', fence_token: 99, outcome: 'dropped' });
    const m = await member('bind-conflict', 'jon');
    expect(m).toMatchObject({ status: MemberStatus.BROKEN, is_final: true, ready: false });
    expect(m.error).toMatch(/GUARD_REJECTED|guard/i);
  }, 60_000);
});
