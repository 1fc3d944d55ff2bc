/**
 * OpenTelemetry bootstrap for the server process, configured only from the standard
 * `OTEL_*` environment variables (README "Observability"):
 *
 * - `OTEL_TRACES_EXPORTER`: `otlp`, `console` or `none`; `OTEL_METRICS_EXPORTER`: `otlp`,
 *   `console`, `prometheus` or `none` (default `none` for both here — unlike the SDK's own
 *   default). With both `none` nothing is loaded and the kernel runs against the
 *   `@opentelemetry/api` no-op tracer, with no metrics observer.
 * - `prometheus` serves `/metrics` on `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`
 *   (default `0.0.0.0:9464`); `otlp` exports every `OTEL_METRIC_EXPORT_INTERVAL` ms (default
 *   60000; `console` prints every 60 s). Batched spans leave every `OTEL_BSP_SCHEDULE_DELAY` ms
 *   (default 5000). A metrics exporter makes the server record the kernel's metrics
 *   (kernel-metrics.ts, see {@link TelemetryStatus.metricsEnabled}).
 * - `OTEL_SERVICE_NAME` (default `meerkat-kernel`), `OTEL_RESOURCE_ATTRIBUTES`.
 * - `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, `http/json`, `grpc`)
 *   and their per-signal variants; `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.
 * - `OTEL_SDK_DISABLED=true` turns everything off.
 *
 * Call {@link startTelemetry} before `@grpc/grpc-js` and `pg` are loaded (main.ts imports
 * them dynamically afterwards) so their instrumentations can patch them.
 */
import { register } from 'node:module';

/** The running SDK (only its shutdown is needed here). */
interface TelemetryHandle {
  shutdown(): Promise<void>;
}

let running: TelemetryHandle | null = null;

export interface TelemetryStatus {
  /** Whether the SDK starts (some exporter is configured and the SDK is not disabled). */
  readonly enabled: boolean;
  /** Whether a metrics exporter is configured: the server then records the kernel's metrics (kernel-metrics.ts). */
  readonly metricsEnabled: boolean;
  readonly traces: string;
  readonly metrics: string;
  readonly serviceName: string;
}

function exporterSetting(env: NodeJS.ProcessEnv, name: 'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER'): string {
  const v = (env[name] ?? '').trim().toLowerCase();
  return v === '' ? 'none' : v;
}

function isOff(setting: string): boolean {
  return setting
    .split(',')
    .map((s) => s.trim())
    .every((s) => s === 'none' || s === '' || s === 'null');
}

/** What {@link startTelemetry} would do with this environment (no side effects). */
export function telemetryStatus(env: NodeJS.ProcessEnv = process.env): TelemetryStatus {
  const traces = exporterSetting(env, 'OTEL_TRACES_EXPORTER');
  const metrics = exporterSetting(env, 'OTEL_METRICS_EXPORTER');
  const disabled = (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
  return {
    enabled: !disabled && !(isOff(traces) && isOff(metrics)),
    metricsEnabled: !disabled && !isOff(metrics),
    traces,
    metrics,
    serviceName: env.OTEL_SERVICE_NAME?.trim() || 'meerkat-kernel',
  };
}

/**
 * Starts the OpenTelemetry Node SDK with the gRPC and PostgreSQL instrumentations when an
 * exporter is configured; a no-op otherwise. Idempotent.
 */
export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<TelemetryStatus> {
  const status = telemetryStatus(env);
  if (!status.enabled || running) return status;
  // The SDK defaults an unset exporter to otlp; ours is none.
  env.OTEL_TRACES_EXPORTER = status.traces;
  env.OTEL_METRICS_EXPORTER = status.metrics;
  env.OTEL_SERVICE_NAME = status.serviceName;
  // ESM imports of instrumented packages are patched through import-in-the-middle's loader hook.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [{ NodeSDK }, { GrpcInstrumentation }, { PgInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-grpc'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  const sdk = new NodeSDK({
    instrumentations: [new GrpcInstrumentation(), new PgInstrumentation({ requireParentSpan: true })],
  });
  sdk.start();
  running = sdk;
  return status;
}

/** Flushes and stops the SDK (no-op when it was never started). Never throws. */
export async function shutdownTelemetry(): Promise<void> {
  const sdk = running;
  running = null;
  if (!sdk) return;
  try {
    await sdk.shutdown();
  } catch {
    // Exporter failures at shutdown must not turn a clean exit into a failure.
  }
}
