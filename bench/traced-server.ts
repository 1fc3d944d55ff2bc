/**
 * The kernel server with tracing on, for `npm run bench:grpc`: the OpenTelemetry Node SDK with an
 * always-on sampler, the gRPC and PostgreSQL instrumentations of src/telemetry/setup.ts, and an
 * in-memory span exporter behind the default batch processor — every span is created, recorded,
 * batched and exported, but nothing leaves the process. Then src/server/main.ts runs as usual
 * (its own `startTelemetry()` finds no `OTEL_*` exporter and stays out of the way).
 *
 * The exporter is emptied every second (memory stays flat); at exit the process prints
 * `SPANS <n>`, the number of spans exported, so the bench can check tracing really ran.
 */
import { writeSync } from 'node:fs';
import { register } from 'node:module';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '@opentelemetry/core';

class CountingInMemoryExporter extends InMemorySpanExporter {
  exported = 0;
  override export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exported += spans.length;
    super.export(spans, resultCallback);
  }
}

for (const name of ['OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']) process.env[name] = 'none';
register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
const [{ NodeSDK }, { AlwaysOnSampler, BatchSpanProcessor }, { GrpcInstrumentation }, { PgInstrumentation }] = await Promise.all([
  import('@opentelemetry/sdk-node'),
  import('@opentelemetry/sdk-trace-base'),
  import('@opentelemetry/instrumentation-grpc'),
  import('@opentelemetry/instrumentation-pg'),
]);
const exporter = new CountingInMemoryExporter();
const sdk = new NodeSDK({
  serviceName: 'meerkat-kernel-bench',
  sampler: new AlwaysOnSampler(),
  spanProcessors: [new BatchSpanProcessor(exporter)],
  instrumentations: [new GrpcInstrumentation(), new PgInstrumentation({ requireParentSpan: true })],
});
sdk.start();
setInterval(() => exporter.reset(), 1000).unref();
process.on('exit', () => writeSync(1, `SPANS ${exporter.exported}\n`));

await import('../src/server/main.js');
