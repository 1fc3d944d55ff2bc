import { trace } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import type { AttachResponse } from '../../src/gen/meerkat/kernel/v1/executor.js';
import { defaultExecutors, MeerkatMachine, newId } from '../../src/kernel/index.js';
import { RemoteAttachment } from '../../src/server/remote-executor.js';
import type { RoutedSignal } from '../../src/kernel/store.js';
import { activeTraceparent, startCommandSpan } from '../../src/telemetry/kernel-tracing.js';
import { telemetryStatus } from '../../src/telemetry/setup.js';

describe('kernel tracing without a provider', () => {
  it('keeps trace_context null and works as before', async () => {
    trace.disable();
    expect(startCommandSpan('X', 's', 'r').isRecording()).toBe(false);
    expect(activeTraceparent()).toBeNull();
    const k = MeerkatMachine.inMemory();
    const s = newId();
    const signals: RoutedSignal[] = [];
    k.onSignal((sig) => signals.push(sig));
    await k.session.ensureSessionWithExecutor(s, 'echo');
    const r = await trace.getTracer('test').startActiveSpan('ignored', async (span) => {
      const res = await k.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: 'hello' } });
      span.end();
      return res;
    });
    expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'hello' } });
    const session = k.core.session(s);
    const rows = await k.core.store.loadInputs(session.runtimeId);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.trace_context).toBeNull();
    for (const sig of signals) expect(sig.trace_context).toBeNull();
    await k.close();
  });

  it('sends remote executors no trace context', async () => {
    trace.disable();
    const sent: AttachResponse[] = [];
    const attachment = new RemoteAttachment({ name: 'remote', sessions: null, canReconfigureLlm: false, send: (m) => sent.push(m) });
    const k = new MeerkatMachine({ executors: defaultExecutors().register('remote', (sid) => attachment.executorFor(sid)), retentionIntervalMs: 0 });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'remote');
    const r = await k.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: 'hi' } });
    await vi.waitFor(() => expect(sent.some((m) => m.message?.$case === 'run_assignment')).toBe(true));
    const m = sent.find((x) => x.message?.$case === 'run_assignment')?.message;
    const assignment = m?.$case === 'run_assignment' ? m.run_assignment : undefined;
    expect(assignment?.run_id).toBeTruthy();
    expect(assignment?.trace_context).toBeUndefined();
    attachment.onTerminal({ run_id: assignment?.run_id ?? '', status: { $case: 'completed', completed: {} } });
    expect(await r.handle?.outcome).toEqual({ kind: 'completed_without_result' });
    await k.close();
  });

  it('starts nothing unless an exporter is configured', () => {
    expect(telemetryStatus({}).enabled).toBe(false);
    expect(telemetryStatus({}).serviceName).toBe('meerkat-kernel');
    expect(telemetryStatus({ OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' }).enabled).toBe(false);
    expect(telemetryStatus({ OTEL_TRACES_EXPORTER: 'otlp' })).toMatchObject({ enabled: true, metricsEnabled: false });
    expect(telemetryStatus({ OTEL_METRICS_EXPORTER: 'prometheus' })).toMatchObject({ enabled: true, metricsEnabled: true });
    expect(telemetryStatus({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).metricsEnabled).toBe(false);
    expect(telemetryStatus({ OTEL_METRICS_EXPORTER: 'console', OTEL_SERVICE_NAME: 'k2' })).toMatchObject({ enabled: true, serviceName: 'k2' });
    expect(telemetryStatus({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
  });
});
