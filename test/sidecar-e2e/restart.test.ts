/**
 * Restarts with the real processes:
 *
 * - SIGKILL the sidecar while spawns (and so bindings and RuntimeBound signals) are in flight,
 *   restart it on the same data directory: every member it committed becomes ready, and its
 *   journal holds exactly one `signal_folded` per kernel signal — sequences 1..cursor, none twice,
 *   none skipped (the kernel's own outbox, streamed independently, is the reference).
 * - Restart the kernel (SIGKILL, same port and data directory) while the sidecar is subscribed:
 *   the sidecar reconnects, re-registers its member sessions and resumes from its cursor — a new
 *   member becomes ready through the new stream, and an old member completes work.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositionServiceClient, type StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import type { MobEvent } from '../../src/gen/meerkat/mob/v1/mob.js';
import { call, collect, startCluster, teamDefinition, type Cluster } from './harness.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
  await call(cluster.mobs.createMob.bind(cluster.mobs), { definition: teamDefinition('crash') });
}, 90_000);

afterAll(async () => {
  await cluster?.close();
}, 30_000);

async function journal(): Promise<MobEvent[]> {
  const out: MobEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await call(cluster.mobs.listEvents.bind(cluster.mobs), { mob_id: 'crash', after_cursor: after, limit: 500 });
    out.push(...page.events);
    if (page.events.length < 500) return out;
    after = page.next_cursor;
  }
}

/** Every signal in the kernel's outbox up to `last`, read straight from the kernel. */
async function kernelSignals(last: number): Promise<number[]> {
  const client = new CompositionServiceClient(cluster.kernel.address, grpc.credentials.createInsecure());
  try {
    if (last === 0) return [];
    const got = await collect(client.streamSignals({ after_sequence: 0 }), (m: StreamSignalsResponse) => (m.signal?.sequence ?? 0) >= last);
    return got.map((m) => m.signal?.sequence ?? 0);
  } finally {
    client.close();
  }
}

async function expectExactlyOnce(): Promise<number> {
  const status = await call(cluster.mobs.getStatus.bind(cluster.mobs), { mob_id: 'crash' });
  const folded = (await journal()).filter((e) => e.type === 'signal_folded').map((e) => (JSON.parse(e.payload_json) as { sequence: number }).sequence);
  const reference = await kernelSignals(status.signal_cursor);
  expect(folded).toEqual(reference); // same signals, same order: none twice, none skipped
  expect(folded).toEqual(Array.from({ length: status.signal_cursor }, (_, i) => i + 1));
  return status.signal_cursor;
}

async function allReady(): Promise<string[]> {
  const members = (await call(cluster.mobs.listMembers.bind(cluster.mobs), { mob_id: 'crash', include_retired: false })).members.map((m) => m.agent_identity);
  const updates = await collect(cluster.mobs.waitReady({ mob_id: 'crash', agent_identities: members }, { deadline: Date.now() + 30_000 }));
  expect(updates.at(-1)?.all_ready).toBe(true);
  return members;
}

describe('restarts', () => {
  it('SIGKILL of the sidecar mid-stream: after a restart no signal is applied twice or skipped', async () => {
    const m = cluster.mobs;
    for (const id of ['m0', 'm1']) await call(m.spawnMember.bind(m), { mob_id: 'crash', agent_identity: id, profile: 'worker', labels: {} });
    const inFlight = ['m2', 'm3', 'm4', 'm5', 'm6', 'm7'].map((id) =>
      call(m.spawnMember.bind(m), { mob_id: 'crash', agent_identity: id, profile: 'worker', labels: {} }),
    );
    await Promise.race(inFlight); // at least one more spawn committed; others, their bindings and signals are in flight
    await cluster.sidecar.stop('SIGKILL');
    const settled = await Promise.allSettled(inFlight);
    expect(settled.some((s) => s.status === 'fulfilled')).toBe(true);
    await cluster.sidecar.start();
    const members = await allReady();
    expect(members).toEqual(expect.arrayContaining(['m0', 'm1']));
    expect(members.length).toBeGreaterThanOrEqual(3);
    await expectExactlyOnce();
  }, 90_000);

  it('restart of the kernel while the sidecar is subscribed: it reconnects and resumes from its cursor', async () => {
    const m = cluster.mobs;
    const before = await expectExactlyOnce();
    await cluster.kernel.stop('SIGKILL');
    await cluster.kernel.start();
    // A new member's RuntimeBound can only arrive through a new stream.
    await call(m.spawnMember.bind(m), { mob_id: 'crash', agent_identity: 'after-restart', profile: 'worker', labels: {} }, { deadline: Date.now() + 30_000 });
    await allReady();
    // An old member's session was re-registered (cold recovery in the kernel) and takes work again.
    const work = await call(m.submitWork.bind(m), { mob_id: 'crash', agent_identity: 'm0', content: 'still here', origin: 0, wait: true }, { deadline: Date.now() + 30_000 });
    expect(work.outcome?.kind).toEqual({ $case: 'completed', completed: { result: { text: 'still here' } } });
    const after = await expectExactlyOnce();
    expect(after).toBeGreaterThan(before);
  }, 90_000);
});
