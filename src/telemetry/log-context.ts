/**
 * Trace ids on log lines: a pino `mixin` that adds `trace_id`, `span_id` and `trace_flags` of the
 * active span (W3C hex, the field names of the OpenTelemetry log data model) to every line written
 * inside one — e.g. the server's per-call debug lines and unexpected-error lines carry the trace of
 * the gRPC call. Outside a span, and with tracing off, lines are unchanged.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';

export interface TraceLogFields {
  readonly trace_id: string;
  readonly span_id: string;
  readonly trace_flags: string;
}

/** The active span's ids, or `{}` when there is no valid active span. */
export function traceLogFields(): TraceLogFields | Record<string, never> {
  const sc = trace.getActiveSpan()?.spanContext();
  if (sc === undefined || !isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: (sc.traceFlags & 0xff).toString(16).padStart(2, '0') };
}

/** For `pino({ mixin: traceLogMixin })`. */
export function traceLogMixin(): object {
  return traceLogFields();
}
