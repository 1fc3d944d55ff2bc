/**
 * The sidecar on PostgreSQL (skipped without a server at TEST_DATABASE_URL): its `mob_` tables in a
 * scratch database, and only one active signal consumer — a second sidecar started on the same
 * database waits for the consumer lock without serving; when the active one is SIGKILLed it takes
 * over, loads the mobs from the database, serves them and consumes the kernel's signals.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MobServiceClient } from '../../src/gen/meerkat/mob/v1/mob.js';
import { checkHealth } from '../../src/server/health.js';
import { freePort } from '../e2e/harness.js';
import { adminQuery as admin, databaseUrl, postgresReachable } from '../support/postgres.js';
import { call, collect, ServerProcess, startCluster, teamDefinition, type Cluster } from './harness.js';

const dbName = `meerkat_standby_${randomBytes(6).toString('hex')}`;


describe.skipIf(!postgresReachable)('sidecar on PostgreSQL: one active consumer, a standby takes over', () => {
  let cluster: Cluster | null = null;
  let standby: ServerProcess | null = null;

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${dbName}`);
    cluster = await startCluster({ DATABASE_URL: databaseUrl(dbName) });
  }, 90_000);

  afterAll(async () => {
    await standby?.stop('SIGKILL');
    await cluster?.close();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }, 30_000);

  it('the standby waits for the lock, then serves the same mobs and consumes signals', async () => {
    const c = cluster as Cluster;
    const m = c.mobs;
    await call(m.createMob.bind(m), { definition: teamDefinition('pg-team') });
    await call(m.spawnMember.bind(m), { mob_id: 'pg-team', agent_identity: 'a', profile: 'worker', labels: {} });
    expect((await collect(m.waitReady({ mob_id: 'pg-team', agent_identities: ['a'] }))).at(-1)?.all_ready).toBe(true);

    const port = await freePort();
    standby = new ServerProcess({ script: 'sidecar/main.ts', port, env: { ...c.sidecar.spec.env, MEERKAT_SIDECAR_PORT: String(port) } });
    standby.launch();
    const deadline = Date.now() + 30_000;
    while (!standby.logs.some((l) => l.includes('another sidecar holds the consumer lock')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(standby.logs.some((l) => l.includes('another sidecar holds the consumer lock'))).toBe(true);
    await expect(checkHealth(standby.address, '', { timeoutMs: 500 })).rejects.toBeDefined(); // not serving while it waits

    // A second standby that is told to stop while it waits for the lock exits at once (a rollout
    // must not leave an old standby first in line for the lock).
    const secondPort = await freePort();
    const second = new ServerProcess({ script: 'sidecar/main.ts', port: secondPort, env: { ...c.sidecar.spec.env, MEERKAT_SIDECAR_PORT: String(secondPort) } });
    second.launch();
    while (!second.logs.some((l) => l.includes('another sidecar holds the consumer lock')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await second.stop('SIGTERM');
    expect(second.logs.some((l) => l.includes('SIGTERM before serving: exiting'))).toBe(true);

    await c.sidecar.stop('SIGKILL');
    await standby.untilServing();
    const s = new MobServiceClient(standby.address, grpc.credentials.createInsecure());
    try {
      expect((await call(s.getMember.bind(s), { mob_id: 'pg-team', agent_identity: 'a' })).member?.ready).toBe(true);
      await call(s.spawnMember.bind(s), { mob_id: 'pg-team', agent_identity: 'b', profile: 'worker', labels: {} });
      expect((await collect(s.waitReady({ mob_id: 'pg-team', agent_identities: ['b'] }))).at(-1)?.all_ready).toBe(true);
      const work = await call(s.submitWork.bind(s), { mob_id: 'pg-team', agent_identity: 'a', content: 'after takeover', origin: 0, wait: true });
      expect(work.outcome?.kind).toEqual({ $case: 'completed', completed: { result: { text: 'after takeover' } } });
    } finally {
      s.close();
    }
  }, 90_000);
});
