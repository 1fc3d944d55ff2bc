import { context, SpanStatusCode, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MeerkatMachine, newId } from '../../src/kernel/index.js';
import type { RoutedSignal } from '../../src/kernel/store.js';
import { formatTraceparent, parseTraceparent } from '../../src/telemetry/kernel-tracing.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

afterEach(() => exporter['reset']());

const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
const traceparentOf = (sc: SpanContext): string => `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags}`;

describe('kernel tracing', () => {
  it('traces one input from admission through the run', async () => {
    const k = MeerkatMachine.inMemory();
    const s = newId();
    const signals: RoutedSignal[] = [];
    k.onSignal((sig) => signals.push(sig));
    const tracer = trace.getTracer('test');
    const { parentCtx, inputId, outcome } = await tracer.startActiveSpan('client.request', async (parent) => {
      await k.session.ensureSessionWithExecutor(s, 'echo');
      const r = await k.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: 'hello' } });
      expect(r.outcome.type).toBe('accepted');
      const id = r.outcome.type === 'accepted' ? r.outcome.input_id : '';
      const done = await r.handle?.outcome;
      parent.end();
      return { parentCtx: parent.spanContext(), inputId: id, outcome: done };
    });
    expect(outcome).toEqual({ kind: 'completed', result: { text: 'hello' } });
    const parentTraceparent = traceparentOf(parentCtx);
    expect(formatTraceparent(parentCtx)).toBe(parentTraceparent);

    // The input row (in memory and in the store) carries the admission context.
    const session = k.core.session(s);
    expect(session.ledger.get(inputId)?.row.trace_context).toBe(parentTraceparent);
    const stored = (await k.core.store.loadInputs(session.runtimeId)).find((r) => r.input_id === inputId);
    expect(stored?.trace_context).toBe(parentTraceparent);


    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((sp) => sp.name === 'meerkat.run')).toBe(true));
    const spans = exporter.getFinishedSpans();

    // Command spans under the caller's span, with attributes and transition events.
    const accept = spans.find((sp) => sp.name === 'meerkat.AcceptWithCompletion');
    expect(accept).toBeDefined();
    if (!accept) return;
    expect(accept.spanContext().traceId).toBe(parentCtx.traceId);
    expect(parentOf(accept)).toBe(parentCtx.spanId);
    expect(accept.attributes['meerkat.session_id']).toBe(s);
    expect(accept.attributes['meerkat.runtime_id']).toBe(session.runtimeId);
    expect(typeof accept.attributes['meerkat.phase.before']).toBe('string');
    expect(typeof accept.attributes['meerkat.phase.after']).toBe('string');
    const transitions = accept.events.filter((e) => e.name === 'meerkat.transition');
    expect(transitions.length).toBe(accept.attributes['meerkat.transitions']);
    expect(transitions.map((e) => e.attributes?.['meerkat.input'])).toContain('QueueAccepted');
    for (const e of transitions) expect(typeof e.attributes?.['meerkat.arm']).toBe('string');
    const ensure = spans.find((sp) => sp.name === 'meerkat.EnsureSessionWithExecutor');
    expect(ensure && parentOf(ensure)).toBe(parentCtx.spanId);

    // The run: linked to the input's admission context, apply and boundary commit beneath it.
    const run = spans.find((sp) => sp.name === 'meerkat.run');
    expect(run).toBeDefined();
    if (!run) return;
    expect(run.links.map((l) => l.context.spanId)).toEqual([parentCtx.spanId]);
    expect(run.links[0]?.context.traceId).toBe(parentCtx.traceId);
    expect(run.attributes['meerkat.session_id']).toBe(s);
    const apply = spans.find((sp) => sp.name === 'meerkat.executor.apply');
    const boundary = spans.find((sp) => sp.name === 'meerkat.boundary_commit');
    expect(apply && parentOf(apply)).toBe(run.spanContext().spanId);
    expect(boundary && parentOf(boundary)).toBe(run.spanContext().spanId);
    expect(apply?.attributes['meerkat.report.status']).toBe('completed');
    // The finishing transaction's command span nests under the boundary commit.
    const finish = spans.find(
      (sp) => sp.name === 'meerkat.RuntimeLoop' && boundary !== undefined && parentOf(sp) === boundary.spanContext().spanId,
    );
    expect(finish).toBeDefined();

    // Routed signals carry the context of the command that produced them (same trace as the caller).
    const destroyCtx = await tracer.startActiveSpan('client.destroy', async (span) => {
      await k.control.destroy(session.runtimeId);
      span.end();
      return span.spanContext();
    });
    expect(signals.length).toBeGreaterThan(0);
    for (const sig of signals) expect(parseTraceparent(sig.trace_context)?.traceId).toBe(destroyCtx.traceId);
    const destroySpan = exporter.getFinishedSpans().find((sp) => sp.name === 'meerkat.Destroy');
    expect(destroySpan && parentOf(destroySpan)).toBe(destroyCtx.spanId);
    expect(signals.some((sig) => sig.trace_context === formatTraceparent(destroySpan?.spanContext()))).toBe(true);
    await k.close();
  });

  it('records rejections as events and ends the command span with an error', async () => {
    const k = MeerkatMachine.inMemory();
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'echo');
    exporter['reset']();
    const tx = k.core.session(s).begin('Probe');
    expect(tx.tryApply({ type: 'StageForRun', input_id: newId(), run_id: newId() })).toBeNull();
    expect(() => tx.apply({ type: 'StageForRun', input_id: newId(), run_id: newId() })).toThrow();
    const [probe] = exporter.getFinishedSpans().filter((sp) => sp.name === 'meerkat.Probe');
    expect(probe?.status.code).toBe(SpanStatusCode.ERROR);
    const rejections = probe?.events.filter((e) => e.name === 'meerkat.rejection') ?? [];
    expect(rejections.map((e) => e.attributes?.['meerkat.rejection.optional'])).toEqual([true, false]);
    for (const ev of rejections) {
      expect(ev.attributes?.['meerkat.input']).toBe('StageForRun');
      expect(typeof ev.attributes?.['meerkat.phase']).toBe('string');
      expect(typeof ev.attributes?.['meerkat.guard']).toBe('string');
    }
    await k.close();
  });
});
