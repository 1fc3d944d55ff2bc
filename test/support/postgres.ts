/**
 * The PostgreSQL server the tests use: `TEST_DATABASE_URL`, default
 * `postgres://postgres@127.0.0.1:5432/postgres` (trust auth, as on these machines and in `.ci/run`).
 * Suites that need it skip when it does not answer, and create a database of their own
 * ({@link databaseUrl}) which they drop afterwards.
 */
import pg from 'pg';

export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement as the admin connection; throws when it fails. */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Runs one statement as the admin connection; `false` when the server does not answer or refuses it. */
export async function tryAdminQuery(text: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query(text);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether the server answers. */
export const postgresReachable = await tryAdminQuery('SELECT 1');

/** The URL of database `name` on the same server. */
export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
