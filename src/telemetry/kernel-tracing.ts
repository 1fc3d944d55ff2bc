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
