/**
 * The kernel's metrics (meter `meerkat-kernel`, OpenTelemetry metrics API; README "Observability").
 *
 * | name | instrument | unit | attributes |
 * |---|---|---|---|
 * | `meerkat.inputs.admitted` | counter | `{input}` | `outcome` (accepted, deduplicated, rejected, refused), `mode` |
 * | `meerkat.queue.depth` | observable gauge | `{input}` | `lane` (queue, steer) |
 * | `meerkat.waiters.active` | observable gauge | `{waiter}` | |
 * | `meerkat.run.duration` | histogram | `s` | `status` (completed, callback_pending, failed, cancelled) |
 * | `meerkat.apply.failures` | counter | `{failure}` | |
 * | `meerkat.signal.lag` | histogram | `s` | |
 * | `meerkat.sessions.reload_required` | observable gauge | `{session}` | |
 * | `meerkat.store.errors` | counter | `{error}` | `operation` |
 *
 * Counters and histograms are fed by the kernel's {@link KernelObserver} hooks (pass a
 * `KernelMetrics` as `observer` to `MeerkatMachine`); the gauges read the kernel's sessions when
 * the metrics are collected ({@link KernelMetrics.observe}). Without a registered MeterProvider
 * the API's meter is a no-op — but the server only creates a `KernelMetrics` when a metrics
 * exporter is configured, so with metrics off the kernel has no observer at all.
 */
import {
  metrics,
  ValueType,
  type BatchObservableCallback,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableGauge,
} from '@opentelemetry/api';
import type { KernelCore } from '../kernel/core.js';
import { KernelError } from '../kernel/errors.js';
import type { ApplyReport } from '../kernel/executor.js';
import type { AdmissionOutcomeKind, KernelObserver } from '../kernel/observer.js';

export const KERNEL_METER_NAME = 'meerkat-kernel';

export const METRIC = {
  inputsAdmitted: 'meerkat.inputs.admitted',
  queueDepth: 'meerkat.queue.depth',
  waitersActive: 'meerkat.waiters.active',
  runDuration: 'meerkat.run.duration',
  applyFailures: 'meerkat.apply.failures',
  signalLag: 'meerkat.signal.lag',
  sessionsReloadRequired: 'meerkat.sessions.reload_required',
  storeErrors: 'meerkat.store.errors',
} as const;

/** Histogram buckets in seconds (the SDK's default buckets suit milliseconds). */
export const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class KernelMetrics implements KernelObserver {
  private readonly admitted: Counter;
  private readonly runDuration: Histogram;
  private readonly applyFailures: Counter;
  private readonly signalLag: Histogram;
  private readonly storeErrors: Counter;
  private readonly queueDepth: ObservableGauge;
  private readonly waiters: ObservableGauge;
  private readonly reloadRequired: ObservableGauge;

  constructor(private readonly meter: Meter = metrics.getMeter(KERNEL_METER_NAME)) {
    this.admitted = meter.createCounter(METRIC.inputsAdmitted, {
      description: 'Inputs through admission, by outcome',
      unit: '{input}',
      valueType: ValueType.INT,
    });
    this.runDuration = meter.createHistogram(METRIC.runDuration, {
      description: 'Runtime-loop runs: from the loop starting the run (executor apply) to its boundary commit',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.applyFailures = meter.createCounter(METRIC.applyFailures, {
      description: 'Executor applies that failed (the inputs are retried or abandoned)',
      unit: '{failure}',
      valueType: ValueType.INT,
    });
    this.signalLag = meter.createHistogram(METRIC.signalLag, {
      description: 'Composition signals: from their commit to their delivery on StreamSignals',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.storeErrors = meter.createCounter(METRIC.storeErrors, {
      description: 'Store calls that failed (a refused commit is STORE_UNAVAILABLE)',
      unit: '{error}',
      valueType: ValueType.INT,
    });
    this.queueDepth = meter.createObservableGauge(METRIC.queueDepth, {
      description: 'Queued inputs over all sessions, by lane',
      unit: '{input}',
      valueType: ValueType.INT,
    });
    this.waiters = meter.createObservableGauge(METRIC.waitersActive, {
      description: 'Completion waiters not yet resolved',
      unit: '{waiter}',
      valueType: ValueType.INT,
    });
    this.reloadRequired = meter.createObservableGauge(METRIC.sessionsReloadRequired, {
      description: 'Sessions refusing mutations until RegisterSession reloads them (durability health)',
      unit: '{session}',
      valueType: ValueType.INT,
    });
    // Error counters start at an explicit 0, so a backend sees them (and can alert on a rate) before the first error.
    this.applyFailures.add(0);
    this.storeErrors.add(0, { operation: 'commit' });
  }

  inputAdmitted(outcome: AdmissionOutcomeKind, mode: string): void {
    this.admitted.add(1, { outcome, mode });
  }

  runFinished(seconds: number, status: ApplyReport['status']): void {
    this.runDuration.record(seconds, { status });
    if (status === 'failed') this.applyFailures.add(1);
  }

  commitFailed(error: unknown): void {
    if (error instanceof KernelError && error.code === 'STORE_UNAVAILABLE') this.storeErrors.add(1, { operation: 'commit' });
  }

  storeError(operation: string): void {
    this.storeErrors.add(1, { operation });
  }

  signalDelivered(lagSeconds: number): void {
    this.signalLag.record(Math.max(0, lagSeconds));
  }

  /** Observes `core`'s sessions for the gauges until the returned function is called. */
  observe(core: KernelCore): () => void {
    const instruments = [this.queueDepth, this.waiters, this.reloadRequired];
    const callback: BatchObservableCallback = (result) => {
      const s = kernelGauges(core);
      result.observe(this.queueDepth, s.queued, { lane: 'queue' });
      result.observe(this.queueDepth, s.steered, { lane: 'steer' });
      result.observe(this.waiters, s.waiters);
      result.observe(this.reloadRequired, s.reloadRequired);
    };
    this.meter.addBatchObservableCallback(callback, instruments);
    return () => this.meter.removeBatchObservableCallback(callback, instruments);
  }
}

/** What the gauges report, read from the live sessions. */
export interface KernelGauges {
  /** Queued inputs in the queue lane. */
  readonly queued: number;
  /** Queued inputs in the steer lane. */
  readonly steered: number;
  readonly waiters: number;
  readonly reloadRequired: number;
}

export function kernelGauges(core: KernelCore): KernelGauges {
  let queued = 0;
  let steered = 0;
  let waiters = 0;
  let reloadRequired = 0;
  for (const session of core.sessions.values()) {
    const state = session.state;
    for (const [id, phase] of Object.entries(state.input_phases)) {
      if (phase !== 'Queued') continue;
      if (state.input_lane[id] === 'Steer') steered += 1;
      else queued += 1;
    }
    waiters += session.waiters.waiterCount;
    if (session.health.status === 'reload_required') reloadRequired += 1;
  }
  return { queued, steered, waiters, reloadRequired };
}
