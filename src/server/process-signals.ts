/**
 * SIGTERM / SIGINT handling shared by the kernel (`src/server/main.ts`) and the mob sidecar
 * (`sidecar/main.ts`) processes: the first signal starts a graceful shutdown bounded by the grace
 * period, flushes telemetry and exits 0 (1 if the shutdown failed); a second signal, or the grace
 * period overrun by {@link HARD_EXIT_MARGIN_MS}, exits 1 at once.
 *
 * @example
 * ```ts
 * exitOnShutdownSignals(logger, config.shutdownGraceMs, (graceMs) => server.shutdown(graceMs));
 * ```
 */
import type { Logger } from 'pino';
import { shutdownTelemetry } from '../telemetry/setup.js';

/** How long past the shutdown grace period the process waits before exiting 1 regardless. */
export const HARD_EXIT_MARGIN_MS = 5_000;

export function exitOnShutdownSignals(logger: Logger, graceMs: number, shutdown: (graceMs: number) => Promise<{ readonly clean: boolean }>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, grace_ms: graceMs }, `${signal}: shutting down`);
    const hard = setTimeout(() => {
      logger.error('shutdown overran the grace period: exiting');
      process.exit(1);
    }, graceMs + HARD_EXIT_MARGIN_MS);
    hard.unref();
    shutdown(graceMs).then(
      async ({ clean }) => {
        await shutdownTelemetry();
        logger.info({ clean }, 'bye');
        logger.flush();
        process.exit(0);
      },
      (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
