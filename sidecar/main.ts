/**
 * The mob sidecar process: `npm run sidecar` (tsx). It serves `meerkat.mob.v1.MobService`, drives
 * the MobMachine of every mob in its store, sends routed requests to the kernel at
 * `MEERKAT_KERNEL_ADDR` and folds the kernel's composition signals from its durable cursor.
 * Configuration: `sidecar/config.ts` (README "Sidecar and mobs").
 *
 * On PostgreSQL it first takes the consumer advisory lock (`store/consumer-lock.ts`) and waits for
 * it, so only one sidecar consumes signals per database. SIGTERM / SIGINT shut down gracefully
 * (exit 0); a second signal exits 1 at once.
 */
import { pino } from 'pino';
import { startTelemetry } from '../src/telemetry/setup.js';
import { exitOnShutdownSignals } from '../src/server/process-signals.js';

async function main(): Promise<void> {
  process.env.OTEL_SERVICE_NAME ??= 'meerkat-sidecar';
  const telemetry = await startTelemetry();
  const [{ loadSidecarConfig }, { openMobStore }, { acquireConsumerLock }, { KernelLink }, { MobRuntime }, { SignalConsumer }, { startSidecarServer }] =
    await Promise.all([
      import('./config.js'),
      import('./store/mob-store.js'),
      import('./store/consumer-lock.js'),
      import('./runtime/kernel-link.js'),
      import('./runtime/mob-runtime.js'),
      import('./runtime/signal-consumer.js'),
      import('./server/sidecar-server.js'),
    ]);
  const config = loadSidecarConfig();
  const logger = pino({ level: config.logLevel, base: { service: 'meerkat-sidecar', pid: process.pid } });
  if (telemetry.enabled) logger.info({ traces: telemetry.traces, service: telemetry.serviceName }, 'opentelemetry enabled');

  // Until the server runs there is nothing to drain: a signal (e.g. SIGTERM to a standby still
  // waiting for the consumer lock, possibly as PID 1, which ignores signals it has no handler for)
  // exits at once, and the lock wait ends with the connection.
  const exitBeforeServing = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, `${signal} before serving: exiting`);
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', exitBeforeServing);
  process.on('SIGINT', exitBeforeServing);
  const lock =
    config.databaseUrl !== null
      ? await acquireConsumerLock(config.databaseUrl, {
          onWaiting: () => logger.info('another sidecar holds the consumer lock: waiting for it'),
          onLost: (e) => {
            logger.fatal({ err: e }, 'lost the consumer lock: exiting');
            logger.flush();
            process.exit(1);
          },
        })
      : null;
  const store = await openMobStore(config.databaseUrl !== null ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir });
  logger.info({ store: store.kind, location: store.location, migrations: store.migrations }, `sidecar store: ${store.kind} at ${store.location}`);
  const kernel = new KernelLink(config.kernelAddress);
  const runtime = await MobRuntime.load({ store, kernel, log: logger, consumer: config.consumer });
  const consumer = new SignalConsumer(runtime, kernel, logger);
  consumer.start();

  const server = await startSidecarServer({
    runtime,
    consumer,
    listen: config.listen,
    logger,
    onStopped: async () => {
      await consumer.close();
      await runtime.close();
      kernel.close();
      await store.close();
      await lock?.release();
    },
  });
  logger.info({ listen: server.address, port: server.port, kernel: config.kernelAddress, mobs: runtime.all().length }, `meerkat sidecar listening on ${server.address}`);

  process.off('SIGTERM', exitBeforeServing);
  process.off('SIGINT', exitBeforeServing);
  exitOnShutdownSignals(logger, config.shutdownGraceMs, (graceMs) => server.shutdown(graceMs));
}

main().catch((e: unknown) => {
  process.stderr.write(`meerkat sidecar: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
