/**
 * Tracing of signal folds: a kernel signal carries the W3C `traceparent` of the command that
 * produced it (`RoutedSignal.trace_context`); folding it continues that trace with a span
 * `meerkat.sidecar.fold` (tracer `meerkat-sidecar`), and kernel requests the fold emits carry the
 * context they were emitted in (stored with the request in `mob_outbound`, re-activated when it is
 * sent, so the gRPC instrumentation propagates it). Without an SDK these are the API's no-ops.
 */
import { context, defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const propagator = new W3CTraceContextPropagator();
export const SIDECAR_TRACER = 'meerkat-sidecar';
export const FOLD_SPAN = 'meerkat.sidecar.fold';

/** The context a `traceparent` names (the root context when absent or malformed). */
export function contextOf(traceparent: string | null): Context {
  if (traceparent === null || traceparent === '') return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
}

/** The `traceparent` of the active context, or `null` when no span is recording. */
export function activeTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagator.inject(context.active(), carrier, defaultTextMapSetter);
  return carrier.traceparent ?? null;
}

/** An open `meerkat.sidecar.fold` span and the context that makes it active. */
export interface FoldSpan {
  /** Runs `fn` (synchronously) with the span active, so requests it queues carry its context. */
  within<T>(fn: () => T): T;
  /** Ends the span, with status ERROR when `error` is given. */
  end(error?: unknown): void;
}

/** Starts a `meerkat.sidecar.fold` span whose parent is the signal's trace context. */
export function startFoldSpan(traceparent: string | null, attributes: Attributes): FoldSpan {
  const parent = contextOf(traceparent);
  const span = trace.getTracer(SIDECAR_TRACER).startSpan(FOLD_SPAN, { attributes }, parent);
  const active = trace.setSpan(parent, span);
  return {
    within: (fn) => context.with(active, fn),
    end: (error?: unknown) => {
      if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      span.end();
    },
  };
}

/** Runs `fn` with `traceparent`'s context active (a queued request sent later keeps its trace). */
export function withTraceparent<T>(traceparent: string | null, fn: () => Promise<T>): Promise<T> {
  return traceparent === null ? fn() : context.with(contextOf(traceparent), fn);
}
