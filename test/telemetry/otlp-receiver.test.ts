/**
 * The real OTLP exporters of the server process against a small OTLP/HTTP receiver started here.
 *
 * The server (test/e2e/harness.ts) runs with `OTEL_TRACES_EXPORTER=otlp`, `OTEL_METRICS_EXPORTER=otlp`
 * and `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`, pointed at the receiver; so does the remote
 * executor example. The receiver (`otlp-support.ts`) decodes `ExportTraceServiceRequest` /
 * `ExportMetricsServiceRequest` bodies with the protobufjs code generated from the official
 * opentelemetry-proto definitions that `@opentelemetry/otlp-transformer` 0.57 ships.
 *
 * Checked: the spans of one AcceptWithCompletion (gRPC server span → meerkat.AcceptWithCompletion,
 * meerkat.queue_wait, meerkat.completion.delivered; meerkat.run linked to it → executor.apply →
 * boundary_commit), a remote executor's span continuing the kernel's trace, every kernel metric
 * with its unit, and server log lines carrying the trace ids of their call. A second server, started
 * alongside with `OTEL_METRICS_EXPORTER=prometheus`, serves the same metrics on its scrape endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositionServiceClient, type StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { IngressServiceClient, type AcceptWithCompletionResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import type { CompletionOutcome, Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/ids.js';
import { METRIC } from '../../src/telemetry/kernel-metrics.js';
import { call, freePort, insecure, startServer, type RunningServer } from '../e2e/harness.js';
import { eventually, startRemoteExecutor, StreamRecorder, type ExecutorProcess } from '../e2e/streams-support.js';
import { attrs, otlpEnv, OtlpReceiver, SPAN_KIND_SERVER, type Span } from './otlp-support.js';

const prompt = (text: string): Input => ({ durability: 0, body: { input_type: { $case: 'prompt', prompt: { text, handling_mode: 0 } } } });
const resultText = (o: CompletionOutcome | undefined): string | null => (o?.kind?.$case === 'completed' ? (o.kind.completed.result?.text ?? null) : null);

const receiver = new OtlpReceiver();
let server: RunningServer;
/** A second server exporting its metrics to Prometheus instead (started alongside). */
let promServer: RunningServer;
let promPort = 0;
let executor: ExecutorProcess | null = null;
let sessions: SessionServiceClient;
let ingress: IngressServiceClient;
let composition: CompositionServiceClient;

beforeAll(async () => {
  await receiver.start();
  promPort = await freePort();
  [server, promServer] = await Promise.all([
    startServer({ ...otlpEnv(receiver.port, 'meerkat-kernel-otlp-test'), MEERKAT_LOG_LEVEL: 'debug' }),
    startServer({
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
    }),
  ]);
  sessions = new SessionServiceClient(server.address, insecure());
  ingress = new IngressServiceClient(server.address, insecure());
  composition = new CompositionServiceClient(server.address, insecure());
}, 120_000);

afterAll(async () => {
  await executor?.kill();
  for (const c of [sessions, ingress, composition]) c?.close();
  await Promise.all([server?.stop(), promServer?.stop()]);
  await receiver.stop();
}, 30_000);

async function acceptAndComplete(session: string, text: string): Promise<string | null> {
  const r = new StreamRecorder<AcceptWithCompletionResponse>(
    ingress.acceptWithCompletion({ session_id: session, input: prompt(text) }, { deadline: Date.now() + 20_000 }),
  );
  const { error } = await r.done;
  expect(error).toBeNull();
  const completion = r.messages.find((m) => m.event?.$case === 'completion')?.event;
  return completion?.$case === 'completion' ? resultText(completion.completion.outcome) : null;
}

describe('OTLP export to a receiver', () => {
  it('exports the spans of one AcceptWithCompletion, linked across the gRPC call, the queue and the run', async () => {
    const s = newId();
    await call(sessions.ensureSessionWithExecutor.bind(sessions), { session_id: s, executor: 'echo' });
    expect(await acceptAndComplete(s, 'traced hello')).toBe('traced hello');

    const command = (): Span | undefined => receiver.span((x) => x.name === 'meerkat.AcceptWithCompletion' && x.attributes['meerkat.session_id'] === s);
    const byParent = (name: string, parent: Span): Span | undefined =>
      receiver.span((x) => x.name === name && x.traceId === parent.traceId && x.parentSpanId === parent.spanId);
    await eventually(
      async () => {
        const accept = command();
        const rpc = accept && receiver.span((x) => x.spanId === accept.parentSpanId);
        if (rpc === undefined) return false;
        const run = receiver.span((x) => x.name === 'meerkat.run' && x.links.some((l) => l.spanId === rpc.spanId));
        return run !== undefined && byParent('meerkat.boundary_commit', run) !== undefined && byParent('meerkat.completion.delivered', rpc) !== undefined;
      },
      20_000,
      'the spans of the AcceptWithCompletion',
    );
    expect([...receiver.contentTypes]).toEqual(['application/x-protobuf']);

    const accept = command();
    if (!accept) throw new Error('no meerkat.AcceptWithCompletion span');
    // The gRPC server span of the call (instrumentation-grpc) is the parent of the kernel command.
    const grpcSpan = receiver.span((x) => x.spanId === accept.parentSpanId);
    expect(grpcSpan).toMatchObject({
      name: 'grpc.meerkat.kernel.v1.IngressService/AcceptWithCompletion',
      kind: SPAN_KIND_SERVER,
      traceId: accept.traceId,
      service: 'meerkat-kernel-otlp-test',
    });
    expect(accept).toMatchObject({ scope: 'meerkat-kernel', service: 'meerkat-kernel-otlp-test' });
    expect(accept.attributes['meerkat.runtime_id']).toBe(`rt:session:${s}`);
    if (!grpcSpan) return;

    // Queue wait and completion delivered sit in the call's trace, under its span.
    const wait = byParent('meerkat.queue_wait', grpcSpan);
    expect(typeof wait?.attributes['meerkat.input_id']).toBe('string');
    expect(wait?.attributes['meerkat.attempt']).toBe(1);
    const delivered = byParent('meerkat.completion.delivered', grpcSpan);
    expect(delivered?.attributes).toMatchObject({ 'meerkat.input_id': wait?.attributes['meerkat.input_id'], 'meerkat.completion.outcome': 'completed' });

    // The run: its own trace, linked to the call; apply and boundary commit beneath it.
    const run = receiver.span((x) => x.name === 'meerkat.run' && x.links.some((l) => l.spanId === grpcSpan.spanId));
    if (!run) throw new Error('no meerkat.run span linked to the call');
    expect(run.links).toEqual([{ traceId: grpcSpan.traceId, spanId: grpcSpan.spanId }]);
    expect(run.parentSpanId).toBe('');
    expect(run.attributes).toMatchObject({ 'meerkat.session_id': s, 'meerkat.inputs': 1, 'meerkat.report.status': 'completed' });
    expect(wait?.links).toEqual([{ traceId: run.traceId, spanId: run.spanId }]);
    expect(wait?.attributes['meerkat.run_id']).toBe(run.attributes['meerkat.run_id']);
    const apply = byParent('meerkat.executor.apply', run);
    expect(apply?.attributes['meerkat.report.status']).toBe('completed');
    const boundary = byParent('meerkat.boundary_commit', run);
    expect(boundary).toBeDefined();
    if (!boundary) return;
    expect(byParent('meerkat.RuntimeLoop', boundary)).toBeDefined();
    expect(delivered?.links).toEqual([{ traceId: boundary.traceId, spanId: boundary.spanId }]);

    // Server log lines written during a call carry that call's trace and span ids.
    const ensureSpan = receiver.span((x) => x.name === 'grpc.meerkat.kernel.v1.SessionService/EnsureSessionWithExecutor');
    const lines = server.logs.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    const ensureLine = lines.find((l) => l.rpc === 'SessionService.EnsureSessionWithExecutor' && l.msg === 'SessionService.EnsureSessionWithExecutor');
    expect(ensureLine).toMatchObject({ trace_id: ensureSpan?.traceId, span_id: ensureSpan?.spanId });
    expect(lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('meerkat kernel listening'))).not.toHaveProperty('trace_id');
  }, 40_000);

  it('hands a remote executor the trace context it continues', async () => {
    executor = startRemoteExecutor(server.address, ['--name', 'traced-upper'], otlpEnv(receiver.port, 'remote-executor-otlp-test'));
    await executor.waitFor(/attached as/);
    const s = newId();
    await call(sessions.ensureSessionWithExecutor.bind(sessions), { session_id: s, executor: 'traced-upper' });
    expect(await acceptAndComplete(s, 'remote traced')).toBe('REMOTE TRACED');
    const line = await executor.waitFor(/assigned for session .* trace [0-9a-f]{32}/);

    const remoteRun = (): Span | undefined => receiver.span((x) => x.name === 'remote-executor.run' && x.attributes['meerkat.session_id'] === s);
    const parentOf = (x: Span | undefined): Span | undefined => (x ? receiver.span((y) => y.spanId === x.parentSpanId) : undefined);
    // Both processes export on their own schedule: wait for the remote span and the kernel's run above it.
    await eventually(async () => parentOf(parentOf(remoteRun())) !== undefined, 20_000, 'the remote executor span and its parents');
    const remote = remoteRun();
    expect(remote?.service).toBe('remote-executor-otlp-test');
    const apply = parentOf(remote);
    expect(apply).toMatchObject({ name: 'meerkat.executor.apply', traceId: remote?.traceId, service: 'meerkat-kernel-otlp-test' });
    expect(line).toContain(`trace ${remote?.traceId}`);
    const run = parentOf(apply);
    expect(run?.name).toBe('meerkat.run');
    expect(run?.attributes['meerkat.session_id']).toBe(s);
  }, 40_000);

  it('exports every kernel metric with its unit', async () => {
    // A failed apply (retried), and a composition signal (RuntimeBound) delivered on StreamSignals.
    const s = newId();
    await call(sessions.ensureSessionWithExecutor.bind(sessions), { session_id: s, executor: 'scripted' });
    expect(await acceptAndComplete(s, '@fail(1) second time lucky')).toBe('second time lucky');
    const received: StreamSignalsResponse[] = [];
    const stream = composition.streamSignals({ after_sequence: 0 });
    stream.on('data', (m: StreamSignalsResponse) => received.push(m));
    stream.on('error', () => undefined);
    const bound = await call(composition.deliverRoutedInput.bind(composition), {
      route: { $case: 'request_runtime_binding', request_runtime_binding: { session_id: s, agent_runtime_id: 'rt-otlp', fence_token: 1, generation: 1 } },
    });
    expect(bound.result?.$case).toBe('accepted');
    await eventually(async () => received.some((m) => m.signal?.session_id === s), 10_000, 'the RuntimeBound signal');
    stream.cancel();

    const expected: Record<string, string> = {
      [METRIC.inputsAdmitted]: '{input}',
      [METRIC.queueDepth]: '{input}',
      [METRIC.waitersActive]: '{waiter}',
      [METRIC.runDuration]: 's',
      [METRIC.applyFailures]: '{failure}',
      [METRIC.signalLag]: 's',
      [METRIC.sessionsReloadRequired]: '{session}',
      [METRIC.storeErrors]: '{error}',
    };
    const sumOf = (name: string, pred: (a: Record<string, string | number | boolean>) => boolean = () => true): number =>
      (receiver.metrics.get(name)?.metric.sum?.dataPoints ?? [])
        .filter((p) => pred(attrs(p.attributes)))
        .reduce((n, p) => n + Number(p.asInt ?? p.asDouble ?? 0), 0);
    const histogramCount = (name: string): number =>
      (receiver.metrics.get(name)?.metric.histogram?.dataPoints ?? []).reduce((n, p) => n + Number(p.count ?? 0), 0);
    await eventually(
      async () =>
        Object.keys(expected).every((n) => receiver.metrics.has(n)) &&
        sumOf(METRIC.applyFailures) >= 1 &&
        histogramCount(METRIC.signalLag) >= 1 &&
        histogramCount(METRIC.runDuration) >= 4,
      20_000,
      'every kernel metric',
    );
    for (const [name, unit] of Object.entries(expected)) {
      expect({ name, unit: receiver.metrics.get(name)?.metric.unit, scope: receiver.metrics.get(name)?.scope }).toEqual({ name, unit, scope: 'meerkat-kernel' });
    }
    expect(receiver.metrics.get(METRIC.inputsAdmitted)?.service).toBe('meerkat-kernel-otlp-test');
    // Counters are sums, durations histograms (in seconds), the state gauges gauges.
    expect(sumOf(METRIC.inputsAdmitted, (a) => a.outcome === 'accepted' && a.mode === 'with_completion')).toBeGreaterThanOrEqual(3);
    expect(sumOf(METRIC.applyFailures)).toBe(1);
    expect(sumOf(METRIC.storeErrors, (a) => a.operation === 'commit')).toBe(0);
    // Four runs so far: echo, the remote executor, the failed attempt and its retry.
    expect(histogramCount(METRIC.runDuration)).toBe(4);
    expect(
      (receiver.metrics.get(METRIC.runDuration)?.metric.histogram?.dataPoints ?? []).map((p) => attrs(p.attributes).status).sort(),
    ).toEqual(['completed', 'failed']);
    expect(receiver.metrics.get(METRIC.runDuration)?.metric.histogram?.dataPoints?.[0]?.explicitBounds?.[0]).toBe(0.001);
    for (const gauge of [METRIC.queueDepth, METRIC.waitersActive, METRIC.sessionsReloadRequired]) {
      expect(receiver.metrics.get(gauge)?.metric.gauge?.dataPoints?.length ?? 0).toBeGreaterThan(0);
    }
    const lanes = (receiver.metrics.get(METRIC.queueDepth)?.metric.gauge?.dataPoints ?? []).map((p) => attrs(p.attributes).lane).sort();
    expect(lanes).toEqual(['queue', 'steer']);
  }, 40_000);
});

describe('Prometheus endpoint', () => {
  it('serves the kernel metrics on OTEL_EXPORTER_PROMETHEUS_PORT when OTEL_METRICS_EXPORTER=prometheus', async () => {
    const prom = promServer;
    const port = promPort;
    const client = new SessionServiceClient(prom.address, insecure());
    const ingressClient = new IngressServiceClient(prom.address, insecure());
    try {
      const s = newId();
      await call(client.ensureSessionWithExecutor.bind(client), { session_id: s, executor: 'echo' });
      const r = new StreamRecorder<AcceptWithCompletionResponse>(
        ingressClient.acceptWithCompletion({ session_id: s, input: prompt('scraped') }, { deadline: Date.now() + 20_000 }),
      );
      expect((await r.done).error).toBeNull();
      let text = '';
      await eventually(
        async () => {
          text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return /^meerkat_run_duration_count\{[^}]*status="completed"[^}]*\} 1$/m.test(text);
        },
        10_000,
        'the completed run on /metrics',
      );
      expect(text).toMatch(/^meerkat_inputs_admitted_total\{[^}]*outcome="accepted"[^}]*\} 1$/m);
      expect(text).toMatch(/^meerkat_queue_depth\{lane="queue",otel_scope_name="meerkat-kernel"\} 0$/m);
      expect(text).toMatch(/^meerkat_waiters_active\{otel_scope_name="meerkat-kernel"\} 0$/m);
      expect(text).toMatch(/^meerkat_sessions_reload_required\{otel_scope_name="meerkat-kernel"\} 0$/m);
      expect(text).toMatch(/^meerkat_apply_failures_total\{otel_scope_name="meerkat-kernel"\} 0$/m);
      expect(text).toMatch(/^meerkat_store_errors_total\{operation="commit",otel_scope_name="meerkat-kernel"\} 0$/m);
      expect(text).toMatch(/^# UNIT meerkat_run_duration s$/m);
    } finally {
      client.close();
      ingressClient.close();
    }
  }, 30_000);
});
