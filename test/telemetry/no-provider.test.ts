import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { MeerkatMachine, newId } from '../../src/kernel/index.js';
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

  it('starts nothing unless an exporter is configured', () => {
    expect(telemetryStatus({}).enabled).toBe(false);
    expect(telemetryStatus({}).serviceName).toBe('meerkat-kernel');
    expect(telemetryStatus({ OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' }).enabled).toBe(false);
    expect(telemetryStatus({ OTEL_TRACES_EXPORTER: 'otlp' }).enabled).toBe(true);
    expect(telemetryStatus({ OTEL_METRICS_EXPORTER: 'console', OTEL_SERVICE_NAME: 'k2' })).toMatchObject({ enabled: true, serviceName: 'k2' });
    expect(telemetryStatus({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
  });
});
