import { context, SpanStatusCode, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AttachResponse } from '../../src/gen/meerkat/kernel/v1/executor.js';
import { defaultExecutors, MeerkatMachine, newId } from '../../src/kernel/index.js';
import { RemoteAttachment } from '../../src/server/remote-executor.js';
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
  it('traces one input end to end: call → admission → queue wait → run → apply → boundary commit → completion delivered', async () => {
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
    expect(transitions.find((e) => e.attributes?.['meerkat.input'] === 'QueueAccepted')?.attributes?.['meerkat.input_id']).toBe(inputId);
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
    expect(run.attributes['meerkat.inputs']).toBe(1);
    expect(run.attributes['meerkat.report.status']).toBe('completed');
    const runId = run.attributes['meerkat.run_id'];
    expect(typeof runId).toBe('string');
    expect(run.parentSpanContext).toBeUndefined(); // a root: the loop is detached from the caller
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

    // Queue wait: in the caller's trace, a child of the admission context, linked to the run that
    // picked the input up; it ends where the run starts.
    const waits = spans.filter((sp) => sp.name === 'meerkat.queue_wait');
    expect(waits).toHaveLength(1);
    const [wait] = waits;
    if (!wait) return;
    expect(wait.spanContext().traceId).toBe(parentCtx.traceId);
    expect(parentOf(wait)).toBe(parentCtx.spanId);
    expect(wait.links.map((l) => l.context.spanId)).toEqual([run.spanContext().spanId]);
    expect(wait.attributes).toMatchObject({ 'meerkat.input_id': inputId, 'meerkat.run_id': runId, 'meerkat.attempt': 1 });
    expect(wait.attributes['meerkat.queue_wait.ms']).toBeGreaterThanOrEqual(0);

    // Completion delivered: back in the caller's trace, linked to the boundary commit that resolved it.
    const delivered = spans.filter((sp) => sp.name === 'meerkat.completion.delivered');
    expect(delivered).toHaveLength(1);
    const [done] = delivered;
    expect(done?.spanContext().traceId).toBe(parentCtx.traceId);
    expect(done && parentOf(done)).toBe(parentCtx.spanId);
    expect(done?.links.map((l) => l.context.spanId)).toEqual([boundary?.spanContext().spanId]);
    expect(done?.attributes).toMatchObject({ 'meerkat.input_id': inputId, 'meerkat.completion.outcome': 'completed' });

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

  it("hands a remote executor the trace context of the run's executor.apply span", async () => {
    const sent: AttachResponse[] = [];
    const attachment = new RemoteAttachment({ name: 'remote', sessions: null, canReconfigureLlm: false, send: (m) => sent.push(m) });
    const k = new MeerkatMachine({
      executors: defaultExecutors().register('remote', (sid) => attachment.executorFor(sid)),
      retentionIntervalMs: 0,
    });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'remote');
    const r = await k.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: 'hi' } });
    await vi.waitFor(() => expect(sent.some((m) => m.message?.$case === 'run_assignment')).toBe(true));
    const m = sent.find((x) => x.message?.$case === 'run_assignment')?.message;
    const assignment = m?.$case === 'run_assignment' ? m.run_assignment : undefined;
    expect(assignment?.trace_context).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    attachment.onTerminal({
      run_id: assignment?.run_id ?? '',
      status: { $case: 'completed', completed: { result: { text: 'HI' } } },
    });
    expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'HI' } });
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((sp) => sp.name === 'meerkat.run')).toBe(true));
    const apply = exporter.getFinishedSpans().find((sp) => sp.name === 'meerkat.executor.apply');
    expect(assignment?.trace_context).toBe(formatTraceparent(apply?.spanContext()));
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
