/**
 * Migrates the kernel's database to the latest schema and prints what ran: `npm run migrate`
 * (through `scripts/migrate.ts`) or, after `npm run build`, `node dist/src/store/migrate-main.js` (the
 * migration Job of `deploy/base`). The run holds the migration advisory lock (`migrator.ts`), so
 * it is safe next to replicas that migrate at start-up.
 *
 *   npm run migrate                                   # DATABASE_URL, else PGlite in MEERKAT_DATA_DIR or .meerkat/data
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/meerkat npm run migrate
 *   npm run migrate -- --data-dir /var/lib/meerkat    # embedded PGlite in that directory
 *   node dist/src/store/migrate-main.js --database-url postgres://…
 *
 * Exits non-zero when a migration fails or the database was migrated by a newer build.
 */
import { openDatabase } from './connection.js';
import { knownMigrations, migrateToLatest } from './migrator.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const dataDir = argValue('--data-dir');
  const databaseUrl = argValue('--database-url');
  const handle = await openDatabase({ ...(dataDir !== undefined ? { dataDir } : {}), ...(databaseUrl !== undefined ? { databaseUrl } : {}) });
  try {
    console.log(`database: ${handle.kind} ${handle.location}`);
    const applied = await migrateToLatest(handle.db);
    if (applied.length === 0) console.log(`schema is current (${knownMigrations().length} migration(s), latest ${knownMigrations().at(-1) ?? 'none'})`);
    else for (const name of applied) console.log(`applied ${name}`);
    return 0;
  } catch (e) {
    console.error(`migration failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await handle.close();
  }
}

process.exitCode = await main();
