/**
 * Server configuration from the environment.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `MEERKAT_LISTEN` | `0.0.0.0:50051` | `host:port` to listen on (plaintext gRPC) |
 * | `DATABASE_URL` | — | PostgreSQL URL; when unset, embedded PGlite is used |
 * | `MEERKAT_DATA_DIR` | `.meerkat/data` | PGlite data directory (ignored with `DATABASE_URL`) |
 * | `MEERKAT_SHUTDOWN_GRACE_MS` | `10000` | bound of a graceful shutdown (SIGTERM/SIGINT) |
 * | `MEERKAT_SHUTDOWN_NOT_SERVING_MS` | `0` | how long health reports NOT_SERVING before the listener closes |
 * | `MEERKAT_LOG_LEVEL` | `info` | pino level (`debug` logs every call) |
 * | `MEERKAT_REPLICA_ID` | host name | this replica's id in session leases (PostgreSQL only) |
 * | `MEERKAT_ADVERTISE_ADDR` | `<host name>:<listen port>` | `host:port` other replicas reach this one at (named in SESSION_OWNED_ELSEWHERE) |
 * | `MEERKAT_LEASE_TTL_MS` | `10000` | session lease lifetime without renewal |
 * | `MEERKAT_LEASE_RENEW_MS` | `3000` | how often all leases are renewed (one statement); must be below the TTL |
 * | `MEERKAT_LEASE_HANDOVER_IDLE_MS` | `30000` | hand a session over to the replica that forwards its calls once no call reached this one directly for this long (and it is quiescent); `0` turns handover off |
 *
 * Log lines written inside an active span carry its `trace_id` and `span_id` ({@link loggerOptions}).
 */
import { hostname } from 'node:os';
import type { LoggerOptions } from 'pino';
import { DEFAULT_DATA_DIR } from '../store/connection.js';
import { traceLogMixin } from '../telemetry/log-context.js';
import { DEFAULT_SHUTDOWN_GRACE_MS } from './server.js';

export const DEFAULT_LISTEN = '0.0.0.0:50051';
/** Default of `MEERKAT_LEASE_HANDOVER_IDLE_MS`: three default lease lifetimes without a direct call. */
export const DEFAULT_HANDOVER_IDLE_MS = 30_000;
/** Largest accepted `MEERKAT_LEASE_HANDOVER_IDLE_MS` (one day, like the lease lifetime bound). */
export const MAX_HANDOVER_IDLE_MS = 24 * 60 * 60 * 1000;

export interface ServerConfig {
  readonly listen: string;
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  readonly shutdownGraceMs: number;
  readonly notServingMs: number;
  readonly logLevel: string;
  /** Session leases (decision 12): used when the store is PostgreSQL, which several replicas may share. */
  readonly replica: {
    readonly id: string;
    readonly advertiseAddress: string;
    readonly leaseTtlMs: number;
    readonly leaseRenewMs: number;
    /** Idle lease handover (ms; 0: off): see `MEERKAT_LEASE_HANDOVER_IDLE_MS`. */
    readonly handoverIdleMs: number;
  };
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Reads the configuration; throws an Error naming the variable on a bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const text = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const ms = (name: string, fallback: number): number => {
    const v = text(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer (milliseconds), got "${v}"`);
    return n;
  };
  const listen = text('MEERKAT_LISTEN') ?? DEFAULT_LISTEN;
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  if (!listen.includes(':') || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`MEERKAT_LISTEN must be host:port, got "${listen}"`);
  }
  const logLevel = text('MEERKAT_LOG_LEVEL') ?? 'info';
  if (!LEVELS.includes(logLevel)) throw new Error(`MEERKAT_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${logLevel}"`);
  const replicaId = text('MEERKAT_REPLICA_ID') ?? hostname();
  if (replicaId.length > 253 || /\s/.test(replicaId)) throw new Error(`MEERKAT_REPLICA_ID must be a name without spaces (at most 253 characters), got "${replicaId}"`);
  const advertiseAddress = text('MEERKAT_ADVERTISE_ADDR') ?? `${hostname()}:${port}`;
  const advertised = HOST_PORT.exec(advertiseAddress);
  const advertisedPort = advertised ? Number(advertised[3]) : NaN;
  if (!advertised || !(advertisedPort >= 1 && advertisedPort <= 65535)) {
    throw new Error(`MEERKAT_ADVERTISE_ADDR must be host:port that other replicas can dial (e.g. 10.0.3.7:50051), got "${advertiseAddress}"`);
  }
  const leaseTtlMs = ms('MEERKAT_LEASE_TTL_MS', 10_000);
  const leaseRenewMs = ms('MEERKAT_LEASE_RENEW_MS', 3_000);
  if (!(leaseTtlMs > 0 && leaseRenewMs > 0 && leaseRenewMs < leaseTtlMs)) {
    throw new Error(`MEERKAT_LEASE_RENEW_MS (${leaseRenewMs}) must be positive and below MEERKAT_LEASE_TTL_MS (${leaseTtlMs})`);
  }
  const handoverIdleMs = ms('MEERKAT_LEASE_HANDOVER_IDLE_MS', DEFAULT_HANDOVER_IDLE_MS);
  if (handoverIdleMs > MAX_HANDOVER_IDLE_MS) {
    throw new Error(`MEERKAT_LEASE_HANDOVER_IDLE_MS must be 0 (off) or at most ${MAX_HANDOVER_IDLE_MS} ms (one day), got "${handoverIdleMs}"`);
  }
  return {
    replica: { id: replicaId, advertiseAddress, leaseTtlMs, leaseRenewMs, handoverIdleMs },
    listen,
    databaseUrl: text('DATABASE_URL') ?? null,
    dataDir: text('MEERKAT_DATA_DIR') ?? DEFAULT_DATA_DIR,
    shutdownGraceMs: ms('MEERKAT_SHUTDOWN_GRACE_MS', DEFAULT_SHUTDOWN_GRACE_MS),
    notServingMs: ms('MEERKAT_SHUTDOWN_NOT_SERVING_MS', 0),
    logLevel,
  };
}

/** The server's pino options: JSON lines at `logLevel`, with the active span's ids on every line (log-context.ts). */
export function loggerOptions(logLevel: string): LoggerOptions {
  return { level: logLevel, base: { service: 'meerkat-kernel', pid: process.pid }, mixin: traceLogMixin };
}
