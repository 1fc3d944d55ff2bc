/**
 * Migrations run once per database under the PostgreSQL advisory lock of `src/store/migrator.ts`:
 * several processes (here: several independent connection pools) migrating one fresh database at
 * the same time all succeed, exactly one of them applies the migrations, the ledger holds each
 * migration once, and no advisory lock is left behind. A run that finds the lock taken waits for
 * it before touching the database.
 *
 * Needs a PostgreSQL server (`TEST_DATABASE_URL`, default
 * `postgres://postgres@127.0.0.1:5432/postgres`); each test creates `meerkat_lock_<random>` and drops
 * it afterwards. The tests are skipped only when `TEST_DATABASE_URL` is unset and nothing answers at
 * the default; when `TEST_DATABASE_URL` is set (as `.ci/run` does), an unreachable server fails them.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_URL, databaseUrl, postgresReachable } from '../support/postgres.js';
import { MIGRATION_ADVISORY_LOCK_KEY, MIGRATION_TABLE, knownMigrations, migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/store/index.js';

const REPLICAS = 6;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const serverUp = postgresReachable;
const skip = !serverUp && process.env.TEST_DATABASE_URL === undefined;

const created: string[] = [];
const handles: DatabaseHandle[] = [];

/** A fresh, empty database; returns its URL. */
async function freshDatabase(): Promise<string> {
  const name = `meerkat_lock_${randomBytes(6).toString('hex')}`;
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  created.push(name);
  return databaseUrl(name);
}

async function open(url: string): Promise<DatabaseHandle> {
  const handle = await openDatabase({ databaseUrl: url, poolSize: 2 });
  handles.push(handle);
  return handle;
}

afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close()));
  for (const name of created.splice(0)) {
    await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
});

/** Advisory locks on the migration key currently held in the database at `url`. */
async function heldMigrationLocks(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const key = BigInt(MIGRATION_ADVISORY_LOCK_KEY);
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1`,
      [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
    );
    return Number(rows[0]?.n ?? 0);
  });
}

describe.skipIf(skip)(`migration advisory lock on PostgreSQL (${ADMIN_URL})`, () => {
  it('is reachable', () => {
    expect(serverUp, `no PostgreSQL server answers at TEST_DATABASE_URL=${ADMIN_URL}`).toBe(true);
  });

  it(`${REPLICAS} concurrent migrations of one fresh database all succeed and apply the schema once`, async () => {
    const url = await freshDatabase();
    const replicas = await Promise.all(Array.from({ length: REPLICAS }, () => open(url)));
    const results = await Promise.allSettled(replicas.map((h) => migrateToLatest(h.db)));

    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect(failures).toEqual([]);
    const applied = results.map((r) => (r.status === 'fulfilled' ? r.value : []));
    const known = knownMigrations();
    // Exactly one run applied every migration, in order; every other run found the schema current.
    expect(applied.filter((a) => a.length > 0)).toEqual([known]);
    expect(applied.filter((a) => a.length === 0)).toHaveLength(REPLICAS - 1);

    const ledger = await withClient(url, (c) => c.query<{ name: string }>(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY name`));
    expect(ledger.rows.map((r) => r.name)).toEqual([...known]);
    expect(await heldMigrationLocks(url)).toBe(0);
    // Idempotent afterwards.
    expect(await migrateToLatest(replicas[0]!.db)).toEqual([]);
  });

  it('a run waits while another session holds the lock, then migrates', async () => {
    const url = await freshDatabase();
    const handle = await open(url);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_ADVISORY_LOCK_KEY]);
      expect(await heldMigrationLocks(url)).toBe(1);
      let settled = false;
      const run = migrateToLatest(handle.db).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 750));
      expect(settled, 'the migration ran although the advisory lock was held elsewhere').toBe(false);
      // Nothing was created while it waited: not even kysely's ledger table.
      const tables = await sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name LIKE 'meerkat_%'`.execute(
        (await open(url)).db,
      );
      expect(tables.rows[0]?.n).toBe(0);

      await holder.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_ADVISORY_LOCK_KEY]);
      expect(await run).toEqual([...knownMigrations()]);
    } finally {
      await holder.end();
    }
    expect(await heldMigrationLocks(url)).toBe(0);
  });
});

describe('migration advisory lock on embedded PGlite', () => {
  it('migrates an in-memory database (taking the lock is harmless there)', async () => {
    const handle = await openDatabase({ dataDir: 'memory://' });
    handles.push(handle);
    expect(await migrateToLatest(handle.db)).toEqual([...knownMigrations()]);
    expect(await migrateToLatest(handle.db)).toEqual([]);
  });
});
