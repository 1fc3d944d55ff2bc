/**
 * The kernel's tracing helpers. They only use `@opentelemetry/api`: with no SDK
 * registered (the default, see setup.ts) every call hits the API's no-op tracer,
 * spans are non-recording and the helpers skip all attribute and event work.
 *
 * Span and event names (README "Observability"):
 * - `meerkat.<command>` — one per SessionTxn (commit or rejection), child of the active context;
 *   events `meerkat.transition` (per reducer transition) and `meerkat.rejection` (per rejection).
 * - `meerkat.run` — one per runtime-loop run, linked to each contributing input's admission
 *   context (`trace_context` of its row); children `meerkat.executor.apply` and `meerkat.boundary_commit`.
 * - `meerkat.queue_wait` — per input of a run: from its admission to the run picking it up, a child
 *   of the input's admission context (recorded when the run starts, with explicit start and end
 *   times), linked to the run.
 * - `meerkat.completion.delivered` — when a completion waiter resolves: a child of the context the
 *   waiter was registered in (the accepting call), linked to the span that resolved it (the run's
 *   boundary commit).
 */
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';

export const KERNEL_TRACER_NAME = 'meerkat-kernel';

/** The kernel's tracer (a proxy: it follows whatever provider is registered later). */
export const kernelTracer: Tracer = trace.getTracer(KERNEL_TRACER_NAME);

export const ATTR = {
  sessionId: 'meerkat.session_id',
  runtimeId: 'meerkat.runtime_id',
  command: 'meerkat.command',
  phaseBefore: 'meerkat.phase.before',
  phaseAfter: 'meerkat.phase.after',
  transitions: 'meerkat.transitions',
  input: 'meerkat.input',
  inputId: 'meerkat.input_id',
  arm: 'meerkat.arm',
  guard: 'meerkat.guard',
  phase: 'meerkat.phase',
  runId: 'meerkat.run_id',
  inputCount: 'meerkat.inputs',
  executor: 'meerkat.executor',
  reportStatus: 'meerkat.report.status',
  completionOutcome: 'meerkat.completion.outcome',
  queueWaitMs: 'meerkat.queue_wait.ms',
  attempt: 'meerkat.attempt',
} as const;

/** Formats a span context as a W3C `traceparent` header value; `null` when it is invalid. */
export function formatTraceparent(sc: SpanContext | undefined): string | null {
  if (sc === undefined || !isSpanContextValid(sc)) return null;
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${sc.traceId}-${sc.spanId}-${flags}`;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses a W3C `traceparent`; `null` when absent or malformed. */
export function parseTraceparent(value: string | null | undefined): SpanContext | null {
  if (!value) return null;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff') return null;
  const sc: SpanContext = {
    traceId: m[2] as string,
    spanId: m[3] as string,
    traceFlags: parseInt(m[4] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(sc) ? sc : null;
}

/** The `traceparent` of the active context (`null` when there is no valid active span). */
export function activeTraceparent(ctx: Context = context.active()): string | null {
  return formatTraceparent(trace.getSpanContext(ctx));
}

/** Starts the span of one SessionTxn (not made active; its events are added explicitly). */
export function startCommandSpan(command: string, sessionId: string, runtimeId: string): Span {
  const span = kernelTracer.startSpan(`meerkat.${command}`);
  if (span.isRecording()) {
    span.setAttributes({ [ATTR.command]: command, [ATTR.sessionId]: sessionId, [ATTR.runtimeId]: runtimeId });
  }
  return span;
}

/** Runs `fn` with `span` as the active span when it records (PostgreSQL spans then nest under it). */
export function withSpan<T>(span: Span, fn: () => T): T {
  return span.isRecording() ? context.with(trace.setSpan(context.active(), span), fn) : fn();
}

/** Ends a span with an error status and the exception recorded. */
export function endWithError(span: Span, error: unknown): void {
  if (span.isRecording()) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  span.end();
}

/** Links to the admission contexts stored on input rows (invalid or missing ones are skipped). */
export function linksFromTraceContexts(values: readonly (string | null | undefined)[]): Link[] {
  const links: Link[] = [];
  for (const v of values) {
    const sc = parseTraceparent(v);
    if (sc) links.push({ context: sc });
  }
  return links;
}

/** The context a runtime loop runs in: detached from the command that attached it. */
export const LOOP_CONTEXT: Context = ROOT_CONTEXT;

/** An input a run picked up, for {@link recordQueueWaits}. */
export interface QueuedInput {
  readonly inputId: string;
  /** The admission context stored on the input's row (`null` when it had none). */
  readonly traceContext: string | null | undefined;
  /** How long the input waited between admission and the run picking it up. */
  readonly waitedMs: number;
  /** Its attempt in this run (1 on the first). */
  readonly attempt: number;
}

/**
 * Records one `meerkat.queue_wait` span per input, ending `endTime` (epoch ms) and starting
 * `waitedMs` earlier: a child of the input's admission context, linked to the run (a child of
 * the run when the input has no admission context). Only call it when `runSpan` records.
 */
export function recordQueueWaits(runSpan: Span, runId: string, inputs: readonly QueuedInput[], endTime: number): void {
  const runCtx = trace.setSpan(ROOT_CONTEXT, runSpan);
  const runLink: Link = { context: runSpan.spanContext() };
  for (const input of inputs) {
    const admission = parseTraceparent(input.traceContext);
    const waited = Math.max(0, input.waitedMs);
    const span = kernelTracer.startSpan(
      'meerkat.queue_wait',
      {
        startTime: endTime - waited,
        links: admission ? [runLink] : [],
        attributes: { [ATTR.inputId]: input.inputId, [ATTR.runId]: runId, [ATTR.queueWaitMs]: waited, [ATTR.attempt]: input.attempt },
      },
      admission ? trace.setSpanContext(ROOT_CONTEXT, admission) : runCtx,
    );
    span.end(endTime);
  }
}

/**
 * Records `meerkat.completion.delivered` when a waiter registered in `waiterContext` receives its
 * outcome: a short span under the waiter's context, linked to the active span (the one resolving
 * it). Nothing happens when the waiter's context holds no valid span (tracing off).
 */
export function recordCompletionDelivered(waiterContext: Context, inputId: string, outcome: string): void {
  const parent = trace.getSpanContext(waiterContext);
  if (parent === undefined || !isSpanContextValid(parent)) return;
  const resolver = trace.getSpanContext(context.active());
  const span = kernelTracer.startSpan(
    'meerkat.completion.delivered',
    {
      links: resolver !== undefined && isSpanContextValid(resolver) ? [{ context: resolver }] : [],
      attributes: { [ATTR.inputId]: inputId, [ATTR.completionOutcome]: outcome },
    },
    waiterContext,
  );
  span.end();
}
