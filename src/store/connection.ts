/**
 * Opens the kernel's database (decision 11): a PostgreSQL server when a URL is given (option or
 * `DATABASE_URL`), otherwise embedded PGlite — real Postgres compiled to WASM — in a local data
 * directory. Both go through kysely with the Postgres query compiler, so every query has one code
 * path.
 *
 * Both drivers are configured the same way: `BIGINT` (`int8`) values are parsed to JS numbers and
 * a value beyond `Number.MAX_SAFE_INTEGER` is refused rather than rounded; `BYTEA` reads back as a
 * `Uint8Array` (a `Buffer` on `pg`).
 *
 * @example
 * ```ts
 * import { openDatabase } from './connection.js';
 *
 * const { db, kind, close } = await openDatabase({ dataDir: '/tmp/meerkat-demo' });
 * console.log(kind); // 'pglite'
 * await close();
 * ```
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import type { Database } from './schema.js';

/** Where the embedded database lives when neither an option nor `MEERKAT_DATA_DIR` says. */
export const DEFAULT_DATA_DIR = '.meerkat/data';

const INT8_OID = 20;
const BYTEA_OID = 17;

export interface OpenDatabaseOptions {
  /** A `postgres://` URL. Default: `DATABASE_URL`. When neither is set, embedded PGlite is used. */
  readonly databaseUrl?: string;
  /**
   * PGlite's data directory (created when missing). Default: `MEERKAT_DATA_DIR`, else
   * {@link DEFAULT_DATA_DIR}. `memory://` keeps the database in memory.
   */
  readonly dataDir?: string;
  /** Largest number of pooled server connections (Postgres only). Default 10. */
  readonly poolSize?: number;
  /** Receives errors of idle pooled connections (Postgres only). Default: printed to stderr. */
  readonly onPoolError?: (error: Error) => void;
}

/** An open database and how to close it. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: 'postgres' | 'pglite';
  /** Where it is: the URL without its password, or the PGlite data directory. */
  readonly location: string;
  /**
   * The node-postgres pool under `db` (PostgreSQL only): for the few hot statements run as named
   * prepared statements, which kysely does not expose.
   */
  readonly pool: pg.Pool | null;
  /** Closes every connection (the pool, or the PGlite instance). Idempotent. */
  close(): Promise<void>;
}

/** Parses an `int8` text value, refusing values a JS number cannot hold exactly. */
export function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT value ${text} is outside the exact range of a JS number`);
  return n;
}

/** The database URL the options and environment select, or `null` for embedded PGlite. */
export function resolveDatabaseUrl(options: OpenDatabaseOptions = {}): string | null {
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  return url !== undefined && url.trim() !== '' ? url.trim() : null;
}

/** The PGlite data directory the options and environment select. */
export function resolveDataDir(options: OpenDatabaseOptions = {}): string {
  const env = process.env.MEERKAT_DATA_DIR;
  return options.dataDir ?? (env !== undefined && env.trim() !== '' ? env.trim() : DEFAULT_DATA_DIR);
}

/** Opens the database the options (or the environment) select. See the module comment. */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  const url = resolveDatabaseUrl(options);
  return url !== null ? openPostgres(url, options) : openPglite(resolveDataDir(options));
}

function openPostgres(url: string, options: OpenDatabaseOptions): DatabaseHandle {
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types: { getTypeParser } });
  const onError = options.onPoolError ?? ((e: Error) => console.error(`meerkat store: idle database connection failed: ${e.message}`));
  pool.on('error', onError);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: 'postgres', location: redactUrl(url), pool, close: once(() => db.destroy()) };
}

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  const pglite = new PGlite(dataDir, {
    parsers: { [INT8_OID]: parseInt8, [BYTEA_OID]: parseByteaHex },
    serializers: { [BYTEA_OID]: serializeByteaHex },
  });
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return { db, kind: 'pglite', location: dataDir, pool: null, close: once(() => db.destroy()) };
}

/**
 * `bytea` to its hex text form with Node's native encoder. PGlite's built-in bytea codec is a
 * JS loop (a 16 MiB blob took ~6 s to write and ~1.3 s to read; with these ~0.6 s and ~0.2 s).
 */
export function serializeByteaHex(value: unknown): string {
  if (typeof value === 'string') return value;
  if (ArrayBuffer.isView(value)) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  throw new TypeError(`cannot send a ${typeof value} as bytea`);
}

/** Parses the hex text form of `bytea` (`\\x…`) into a `Uint8Array`. */
export function parseByteaHex(text: string): Uint8Array {
  if (!text.startsWith('\\x')) throw new TypeError('bytea value is not in hex format (bytea_output must be hex)');
  const b = Buffer.from(text.slice(2), 'hex');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => (done ??= fn());
}

/** The URL with its password replaced by `***` (for logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database url>';
  }
}
