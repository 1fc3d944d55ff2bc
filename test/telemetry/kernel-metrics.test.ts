/**
 * The kernel's metrics (src/telemetry/kernel-metrics.ts) through a real SDK MeterProvider and a
 * pull reader: each instrument counts what the kernel did, with its attributes and unit.
 */
import { MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InMemoryRuntimeStore, MeerkatMachine, newId } from '../../src/kernel/index.js';
import { KERNEL_METER_NAME, KernelMetrics, METRIC } from '../../src/telemetry/kernel-metrics.js';

class PullReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

let reader: PullReader;
let provider: MeterProvider;

beforeEach(() => {
  reader = new PullReader();
  provider = new MeterProvider({ readers: [reader] });
});

afterEach(async () => {
  await provider.shutdown();
});

async function collect(): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    expect(scope.scope.name).toBe(KERNEL_METER_NAME);
    for (const m of scope.metrics) out.set(m.descriptor.name, m);
  }
  return out;
}

function points(all: Map<string, MetricData>, name: string): DataPoint<number | Histogram>[] {
  const m = all.get(name);
  if (!m) throw new Error(`metric ${name} was not collected; got ${[...all.keys()].join(', ')}`);
  return m.dataPoints as DataPoint<number | Histogram>[];
}

/** The value of the point whose attributes match `attrs` exactly (0 when there is none). */
function value(all: Map<string, MetricData>, name: string, attrs: Record<string, string> = {}): number {
  const p = points(all, name).find((dp) => JSON.stringify(dp.attributes) === JSON.stringify(attrs));
  if (p === undefined) return 0;
  if (typeof p.value !== 'number') throw new Error(`${name} is not a sum or gauge`);
  return p.value;
}

function histogram(all: Map<string, MetricData>, name: string, attrs: Record<string, string> = {}): Histogram | null {
  const p = points(all, name).find((dp) => JSON.stringify(dp.attributes) === JSON.stringify(attrs));
  if (p === undefined) return null;
  if (typeof p.value === 'number') throw new Error(`${name} is not a histogram`);
  return p.value;
}

function instrumentedKernel(store = new InMemoryRuntimeStore()): { kernel: MeerkatMachine; metrics: KernelMetrics; stop: () => void } {
  const metrics = new KernelMetrics(provider.getMeter(KERNEL_METER_NAME));
  const kernel = new MeerkatMachine({ store, observer: metrics, retentionIntervalMs: 0, retryBackoffMs: 1 });
  return { kernel, metrics, stop: metrics.observe(kernel.core) };
}

const prompt = (text: string, key: string | null = null) => ({ body: { input_type: 'prompt' as const, text }, idempotency_key: key });

describe('kernel metrics', () => {
  it('counts admissions by outcome and mode', async () => {
    const { kernel } = instrumentedKernel();
    const s = newId();
    await kernel.session.ensureSessionWithExecutor(s, 'echo');
    const first = await kernel.ingress.acceptWithCompletion(s, prompt('a', 'k1'));
    expect(first.outcome.type).toBe('accepted');
    await first.handle?.outcome;
    expect((await kernel.ingress.acceptWithCompletion(s, prompt('a', 'k1'))).outcome.type).toBe('deduplicated');
    await expect(
      kernel.ingress.acceptWithCompletion(s, { durability: 'derived', body: { input_type: 'prompt', text: 'x' } }),
    ).rejects.toMatchObject({ code: 'ADMISSION_REJECTED' });
    await kernel.ingress.acceptWithoutWake(s, prompt('later'));
    await kernel.control.retire(`rt:session:${s}`);
    await expect(kernel.ingress.acceptWithoutWake(s, prompt('too late'))).rejects.toMatchObject({ code: 'INVALID_PHASE' });

    const all = await collect();
    expect(all.get(METRIC.inputsAdmitted)?.descriptor.unit).toBe('{input}');
    expect(value(all, METRIC.inputsAdmitted, { outcome: 'accepted', mode: 'with_completion' })).toBe(1);
    expect(value(all, METRIC.inputsAdmitted, { outcome: 'deduplicated', mode: 'with_completion' })).toBe(1);
    expect(value(all, METRIC.inputsAdmitted, { outcome: 'rejected', mode: 'with_completion' })).toBe(1);
    expect(value(all, METRIC.inputsAdmitted, { outcome: 'accepted', mode: 'without_wake' })).toBe(1);
    expect(value(all, METRIC.inputsAdmitted, { outcome: 'refused', mode: 'without_wake' })).toBe(1);
    await kernel.close();
  });

  it('records run durations by status and counts apply failures', async () => {
    const { kernel } = instrumentedKernel();
    const s = newId();
    await kernel.session.ensureSessionWithExecutor(s, 'scripted');
    const r = await kernel.ingress.acceptWithCompletion(s, prompt('@fail(1) hi'));
    expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'hi' } });

    // The loop reports the run once its boundary commit returned (just after the waiter resolved).
    await vi.waitFor(async () => expect(histogram(await collect(), METRIC.runDuration, { status: 'completed' })?.count).toBe(1));
    const all = await collect();
    expect(all.get(METRIC.runDuration)?.descriptor.unit).toBe('s');
    const failed = histogram(all, METRIC.runDuration, { status: 'failed' });
    const completed = histogram(all, METRIC.runDuration, { status: 'completed' });
    expect(failed?.count).toBe(1);
    expect(completed?.count).toBe(1);
    expect(completed?.sum).toBeGreaterThanOrEqual(0);
    // Buckets are in seconds (the SDK's default boundaries are meant for milliseconds).
    expect(completed?.buckets.boundaries[0]).toBe(0.001);
    expect(value(all, METRIC.applyFailures)).toBe(1);
    await kernel.close();
  });

  it('observes queue depth by lane and active waiters from the sessions', async () => {
    const { kernel, stop } = instrumentedKernel();
    const s = newId();
    await kernel.session.registerSession(s); // no executor: nothing runs
    const a = await kernel.ingress.acceptWithCompletion(s, prompt('one'));
    await kernel.ingress.acceptWithCompletion(s, prompt('two'));
    await kernel.ingress.acceptWithoutWake(s, { body: { input_type: 'prompt', text: 'steer', handling_mode: 'steer' } });

    let all = await collect();
    expect(value(all, METRIC.queueDepth, { lane: 'queue' })).toBe(2);
    expect(value(all, METRIC.queueDepth, { lane: 'steer' })).toBe(1);
    expect(value(all, METRIC.waitersActive)).toBe(2);
    expect(value(all, METRIC.sessionsReloadRequired)).toBe(0);

    a.handle?.cancel();
    await kernel.control.retire(`rt:session:${s}`); // abandons the queued inputs, resolving the other waiter
    all = await collect();
    expect(value(all, METRIC.queueDepth, { lane: 'queue' })).toBe(0);
    expect(value(all, METRIC.queueDepth, { lane: 'steer' })).toBe(0);
    expect(value(all, METRIC.waitersActive)).toBe(0);

    // Once stopped, the gauges no longer follow the kernel (the SDK keeps the last observation).
    stop();
    const s2 = newId();
    await kernel.session.registerSession(s2);
    await kernel.ingress.acceptWithCompletion(s2, prompt('unobserved'));
    all = await collect();
    expect(value(all, METRIC.queueDepth, { lane: 'queue' })).toBe(0);
    expect(value(all, METRIC.waitersActive)).toBe(0);
    await kernel.close();
  });

  it('counts store errors and reports sessions that need a reload', async () => {
    const store = new InMemoryRuntimeStore();
    const { kernel } = instrumentedKernel(store);
    const s = newId();
    await kernel.session.ensureSessionWithExecutor(s, 'scripted');
    store.failNextCommits = { count: 1, message: 'synthetic admission failure' };
    await expect(kernel.ingress.acceptWithCompletion(s, prompt('x'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });

    // The boundary commit of a run fails: the session turns reload-required.
    const r = await kernel.ingress.acceptWithCompletion(s, prompt('@delay(100) y'));
    await vi.waitFor(() => expect(kernel.core.session(s).state.current_run_id).not.toBeNull());
    store.failNextCommits = { count: 1, message: 'synthetic boundary commit failure' };
    expect(await r.handle?.outcome).toMatchObject({ kind: 'wait_error', error: 'AuthorityUnavailable' });

    const all = await collect();
    expect(value(all, METRIC.storeErrors, { operation: 'commit' })).toBe(2);
    expect(value(all, METRIC.sessionsReloadRequired)).toBe(1);
    // The run whose commit failed still reports its duration (its executor completed).
    expect(histogram(all, METRIC.runDuration, { status: 'completed' })?.count).toBe(1);
    await kernel.close();
  });
});
