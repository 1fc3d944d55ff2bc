/**
 * Runs the store contract against every backend: the in-memory stores, embedded PGlite in a fresh
 * temporary directory, and a real PostgreSQL server when one is reachable (`TEST_DATABASE_URL`,
 * default `postgres://postgres@127.0.0.1:5432/postgres`; each run creates `meerkat_test_<random>`
 * and drops it afterwards). The database backends also get schema checks: migrations, no `jsonb`,
 * the exact JSON text of payload columns, the ops snapshot, and sequence continuity across store
 * instances.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryBlobStore, InMemoryRuntimeStore } from '../../src/kernel/index.js';
import { PostgresRuntimeStore, TABLE_NAMES, createStores, knownMigrations, migrateToLatest, type Stores } from '../../src/store/index.js';
import { NOW, commitOf, docOf, freshIds, rowOf, runStoreContract, signalOf } from './contract.js';
import { ADMIN_URL, adminQuery, databaseUrl, postgresReachable } from '../support/postgres.js';


// (a) in memory
runStoreContract('in-memory', async () => {
  const store = new InMemoryRuntimeStore();
  return { store, blobs: new InMemoryBlobStore(), leases: store.leases, close: () => store.close() };
});

// (b) embedded PGlite in a fresh temporary directory (one instance for the whole file)
const pgliteDir = mkdtempSync(join(tmpdir(), 'meerkat-store-'));
let pglite: Promise<Stores> | null = null;
const pgliteStores = (): Promise<Stores> => (pglite ??= createStores({ dataDir: pgliteDir }));
afterAll(async () => {
  if (pglite) await (await pglite).close();
  rmSync(pgliteDir, { recursive: true, force: true });
});
runStoreContract('pglite', async () => {
  const s = await pgliteStores();
  return { store: s.store, blobs: s.blobs, leases: s.leases, transactionCount: () => s.store.transactionCount, close: async () => {} };
});
databaseChecks('pglite', pgliteStores);

// (c) a real PostgreSQL server, in a database of its own
const dbName = `meerkat_test_${randomBytes(6).toString('hex')}`;
let postgres: Promise<Stores> | null = null;
const postgresStores = (): Promise<Stores> =>
  (postgres ??= (async () => {
    await adminQuery(`CREATE DATABASE ${dbName}`);
    return createStores({ databaseUrl: databaseUrl(dbName) });
  })());
if (postgresReachable) {
  afterAll(async () => {
    if (postgres) await (await postgres).close();
    await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });
}
const postgresTitle = postgresReachable
  ? `postgres at ${ADMIN_URL}`
  : `postgres — skipped: no PostgreSQL server reachable at ${ADMIN_URL} (start one or set TEST_DATABASE_URL)`;
describe.skipIf(!postgresReachable)(postgresTitle, () => {
  runStoreContract('postgres', async () => {
    const s = await postgresStores();
    return { store: s.store, blobs: s.blobs, leases: s.leases, transactionCount: () => s.store.transactionCount, close: async () => {} };
  });
  databaseChecks('postgres', postgresStores);
});

/** Schema-level checks for a database backend. */
function databaseChecks(name: string, open: () => Promise<Stores>): void {
  describe(`database checks: ${name}`, () => {
    let stores: Stores;
    beforeAll(async () => {
      stores = await open();
    });

    it('a fresh database migrates to the latest schema, and migrating again is a no-op', async () => {
      expect(stores.migrations).toEqual(knownMigrations());
      expect(await migrateToLatest(stores.db)).toEqual([]);
      const tables = await sql<{ table_name: string }>`
        SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'meerkat\\_%'
      `.execute(stores.db);
      expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining([...TABLE_NAMES, 'meerkat_migrations']));
    });

    it('no column is jsonb or json; payload columns are text, timestamps bigint, blob bytes bytea', async () => {
      const cols = await sql<{ table_name: string; column_name: string; data_type: string }>`
        SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name LIKE 'meerkat\\_%'
      `.execute(stores.db);
      const type = (t: string, c: string) => cols.rows.find((r) => r.table_name === t && r.column_name === c)?.data_type;
      expect(cols.rows.filter((r) => r.data_type === 'jsonb' || r.data_type === 'json')).toEqual([]);
      for (const [t, c] of [
        ['meerkat_sessions', 'machine'],
        ['meerkat_inputs', 'input'],
        ['meerkat_inputs', 'history'],
        ['meerkat_inputs', 'terminal_outcome'],
        ['meerkat_inputs', 'runtime_semantics'],
        ['meerkat_boundary_receipts', 'contributing_input_ids'],
        ['meerkat_ops_snapshots', 'snapshot'],
      ] as const) {
        expect(type(t, c), `${t}.${c}`).toBe('text');
      }
      for (const [t, c] of [
        ['meerkat_sessions', 'updated_at'],
        ['meerkat_inputs', 'created_at'],
        ['meerkat_inputs', 'admission_sequence'],
        ['meerkat_boundary_receipts', 'sequence'],
        ['meerkat_signal_outbox', 'sequence'],
        ['meerkat_signal_outbox', 'fence_token'],
        ['meerkat_session_leases', 'fencing_token'],
      ] as const) {
        expect(type(t, c), `${t}.${c}`).toBe('bigint');
      }
      expect(type('meerkat_blobs', 'bytes')).toBe('bytea');
      expect(type('meerkat_session_leases', 'expires_at')).toBe('timestamp with time zone');
    });

    it('stores payloads as the exact JSON text the kernel serialised', async () => {
      const ids = freshIds();
      const doc = docOf(ids, {}, { silent_intent_overrides: ['z', 'a', 'é'] });
      const row = rowOf(ids);
      await stores.store.commit(commitOf(ids, { document: doc, inputs: [row] }));
      const s = await stores.db.selectFrom('meerkat_sessions').select('machine').where('runtime_id', '=', ids.runtimeId).executeTakeFirstOrThrow();
      expect(s.machine).toBe(JSON.stringify(doc.machine));
      const i = await stores.db.selectFrom('meerkat_inputs').select(['input', 'history']).where('input_id', '=', row.input_id).executeTakeFirstOrThrow();
      expect(i.input).toBe(JSON.stringify(row.input));
      expect(i.history).toBe(JSON.stringify(row.history));
    });

    it('writes the ops snapshot from the committed document only when its op_*/completion_* fields changed', async () => {
      const ids = freshIds();
      const ops = () => stores.db.selectFrom('meerkat_ops_snapshots').selectAll().where('runtime_id', '=', ids.runtimeId).executeTakeFirstOrThrow();
      await stores.store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + 1 }, { op_statuses: { o1: 'Running' }, next_completion_seq: 2, completion_runtime_observed_cursor: 1 }) }));
      const first = await ops();
      expect(first).toMatchObject({ epoch_id: 'epoch-1', next_completion_seq: 2, completion_runtime_observed_cursor: 1, completion_agent_applied_cursor: 0, updated_at: NOW + 1 });
      const snapshot = JSON.parse(first.snapshot) as Record<string, unknown>;
      expect(snapshot.op_statuses).toEqual({ o1: 'Running' });
      expect(Object.keys(snapshot).every((k) => k.startsWith('op_') || k.startsWith('completion_'))).toBe(true);
      // A change elsewhere in the document leaves the snapshot row alone …
      await stores.store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + 2 }, { op_statuses: { o1: 'Running' }, next_completion_seq: 2, completion_runtime_observed_cursor: 1, lifecycle_phase: 'Attached' }) }));
      expect((await ops()).updated_at).toBe(NOW + 1);
      // … even for a store that never saw this runtime (restart) …
      const restarted = new PostgresRuntimeStore(stores.db);
      await restarted.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + 3 }, { op_statuses: { o1: 'Running' }, next_completion_seq: 2, completion_runtime_observed_cursor: 1 }) }));
      expect((await ops()).updated_at).toBe(NOW + 1);
      // … and a cursor advance rewrites it.
      await stores.store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + 4 }, { op_statuses: { o1: 'Completed' }, next_completion_seq: 2, completion_runtime_observed_cursor: 2 }) }));
      expect(await ops()).toMatchObject({ updated_at: NOW + 4, completion_runtime_observed_cursor: 2 });
      await stores.store.deleteSession(ids.runtimeId);
      expect(await stores.db.selectFrom('meerkat_ops_snapshots').selectAll().where('runtime_id', '=', ids.runtimeId).executeTakeFirst()).toBeUndefined();
      await restarted.close();
    });

    it('a second store on the same database continues the signal sequence (restart)', async () => {
      const ids = freshIds();
      const [a] = await stores.store.commit(commitOf(ids, { signals: [signalOf(ids)] }));
      const other = new PostgresRuntimeStore(stores.db);
      const [b] = await other.commit(commitOf(ids, { signals: [signalOf(ids)] }));
      expect(b!.sequence).toBe(a!.sequence + 1);
      await other.close();
    });

    it('group commit retries a failed batch one commit at a time', async () => {
      const split0 = stores.store.groupCommitStats.splitBatches;
      const ids = Array.from({ length: 4 }, () => freshIds());
      await stores.store.commit(commitOf(ids[0]!, { inputs: [rowOf(ids[0]!, { idempotency_key: 'held' })] }));
      const settled = await Promise.allSettled(ids.map((s) => stores.store.commit(commitOf(s, { inputs: [rowOf(s, { idempotency_key: 'held' })] }))));
      expect(settled.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
      expect(stores.store.groupCommitStats.splitBatches).toBe(split0 + 1);
    });
  });
}
