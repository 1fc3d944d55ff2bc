/**
 * The kernel server process: `npm start` (tsx) or `node dist/src/server/main.js` after `npm run build`.
 *
 * Configuration from the environment (src/server/config.ts): `MEERKAT_LISTEN` (default
 * `0.0.0.0:50051`), `DATABASE_URL` (else embedded PGlite in `MEERKAT_DATA_DIR`, default
 * `.meerkat/data`), `MEERKAT_SHUTDOWN_GRACE_MS` (default 10000), `MEERKAT_LOG_LEVEL`.
 * Logs are pino JSON lines on stdout. SIGTERM or SIGINT shuts down gracefully within the grace
 * period (server.ts) and exits 0; a second signal, or a shutdown that overruns the grace period
 * by more than `HARD_EXIT_MARGIN_MS` (process-signals.ts), exits 1 at once.
 *
 * OpenTelemetry (README "Observability") starts first, from the `OTEL_*` environment; the store
 * and server modules (which load `pg` and `@grpc/grpc-js`) are imported only afterwards so the
 * instrumentations can patch them. Shutdown flushes the exporters.
 */
import { pino } from 'pino';
import { shutdownTelemetry, startTelemetry } from '../telemetry/setup.js';
import type { KernelServer } from './server.js';
import { exitOnShutdownSignals } from './process-signals.js';

/** Time past the grace period after which the process exits regardless. */

async function main(): Promise<void> {
  const telemetry = await startTelemetry();
  // config.js imports server.js: every module that reaches grpc-js or pg loads after startTelemetry.
  const [{ loadConfig, loggerOptions }, { MeerkatMachine }, { createStores }, { createKernelServer }, { KernelMetrics }] = await Promise.all([
    import('./config.js'),
    import('../kernel/machine.js'),
    import('../store/index.js'),
    import('./server.js'),
    import('../telemetry/kernel-metrics.js'),
  ]);
  const config = loadConfig();
  const logger = pino(loggerOptions(config.logLevel));
  if (telemetry.enabled) {
    logger.info({ traces: telemetry.traces, metrics: telemetry.metrics, service: telemetry.serviceName }, 'opentelemetry enabled');
  }
  const stores = await createStores({
    ...(config.databaseUrl !== null ? { databaseUrl: config.databaseUrl } : {}),
    dataDir: config.dataDir,
  });
  logger.info({ store: stores.kind, location: stores.location, migrations: stores.migrations }, `store: ${stores.kind} at ${stores.location}`);
  // With a metrics exporter the kernel reports to the `meerkat-kernel` meter; otherwise it has no observer.
  const kernelMetrics = telemetry.metricsEnabled ? new KernelMetrics() : undefined;
  // Several replicas may share a PostgreSQL database: lease every session this one loads (decision 12).
  const ownership =
    stores.kind === 'postgres'
      ? {
          leases: stores.leases,
          replicaId: config.replica.id,
          address: config.replica.advertiseAddress,
          ttlMs: config.replica.leaseTtlMs,
          renewEveryMs: config.replica.leaseRenewMs,
          handoverIdleMs: config.replica.handoverIdleMs,
        }
      : undefined;
  if (ownership) {
    logger.info(
      { replica: ownership.replicaId, address: ownership.address, lease_ttl_ms: ownership.ttlMs, handover_idle_ms: ownership.handoverIdleMs },
      'session leases on',
    );
  }
  const kernel = new MeerkatMachine({ store: stores.store, blobs: stores.blobs, observer: kernelMetrics, ...(ownership ? { ownership } : {}) });
  kernelMetrics?.observe(kernel.core);

  let server: KernelServer;
  try {
    server = await createKernelServer({ kernel, store: stores.store, listen: config.listen, logger, notServingMs: config.notServingMs });
  } catch (e) {
    logger.fatal({ err: e, listen: config.listen }, 'cannot listen');
    await kernel.close();
    await stores.close();
    await shutdownTelemetry();
    process.exit(1);
  }
  logger.info({ listen: server.address, port: server.port, store: stores.kind }, `meerkat kernel listening on ${server.address}`);

  exitOnShutdownSignals(logger, config.shutdownGraceMs, (graceMs) => server.shutdown(graceMs));
}

main().catch((e: unknown) => {
  process.stderr.write(`meerkat kernel: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
