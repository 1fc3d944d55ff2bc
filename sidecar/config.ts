/**
 * Sidecar configuration from the environment.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `MEERKAT_KERNEL_ADDR` | `127.0.0.1:50051` | the kernel's gRPC address |
 * | `MEERKAT_SIDECAR_PORT` | `50052` | port MobService listens on (all interfaces; `0` picks one) |
 * | `MEERKAT_SIDECAR_HOST` | `0.0.0.0` | interface to listen on |
 * | `DATABASE_URL` | — | PostgreSQL (the sidecar's `mob_` tables); else embedded PGlite |
 * | `MEERKAT_SIDECAR_DATA_DIR` | `.meerkat/sidecar` | PGlite data directory (one process only; not the kernel's) |
 * | `MEERKAT_SIDECAR_CONSUMER` | `mob-sidecar` | name of the durable signal cursor |
 * | `MEERKAT_SHUTDOWN_GRACE_MS` | `10000` | bound of a graceful shutdown |
 * | `MEERKAT_LOG_LEVEL` | `info` | pino level |
 */
export const DEFAULT_KERNEL_ADDR = '127.0.0.1:50051';
export const DEFAULT_SIDECAR_PORT = 50052;
export const DEFAULT_SIDECAR_DATA_DIR = '.meerkat/sidecar';
export const DEFAULT_CONSUMER = 'mob-sidecar';

export interface SidecarConfig {
  readonly kernelAddress: string;
  readonly listen: string;
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  readonly consumer: string;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Reads the configuration; throws an Error naming the variable on a bad value. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const text = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const int = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = text(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new Error(`${name} must be an integer between 0 and ${max}, got "${v}"`);
    return n;
  };
  const kernelAddress = text('MEERKAT_KERNEL_ADDR') ?? DEFAULT_KERNEL_ADDR;
  if (!kernelAddress.includes(':')) throw new Error(`MEERKAT_KERNEL_ADDR must be host:port, got "${kernelAddress}"`);
  const port = int('MEERKAT_SIDECAR_PORT', DEFAULT_SIDECAR_PORT, 65535);
  const logLevel = text('MEERKAT_LOG_LEVEL') ?? 'info';
  if (!LEVELS.includes(logLevel)) throw new Error(`MEERKAT_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${logLevel}"`);
  return {
    kernelAddress,
    listen: `${text('MEERKAT_SIDECAR_HOST') ?? '0.0.0.0'}:${port}`,
    databaseUrl: text('DATABASE_URL') ?? null,
    dataDir: text('MEERKAT_SIDECAR_DATA_DIR') ?? DEFAULT_SIDECAR_DATA_DIR,
    consumer: text('MEERKAT_SIDECAR_CONSUMER') ?? DEFAULT_CONSUMER,
    shutdownGraceMs: int('MEERKAT_SHUTDOWN_GRACE_MS', 10_000),
    logLevel,
  };
}
