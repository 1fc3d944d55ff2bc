/**
 * A small OTLP/HTTP receiver (protobuf encoding) for the telemetry tests that run real processes
 * with the real OTLP exporters (`otlp-receiver.test.ts`, `sidecar-trace.test.ts`).
 *
 * It decodes `ExportTraceServiceRequest` / `ExportMetricsServiceRequest` bodies with the protobufjs
 * code generated from the official opentelemetry-proto definitions that `@opentelemetry/otlp-transformer`
 * 0.57 ships (`build/src/generated/root.js`; installed as the dev dependency alias
 * `otlp-transformer-protobufjs` — the current transformer no longer ships a decoder).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

// ---------------------------------------------------------------------------------------------
// The official OTLP messages (protobufjs static code) and the parts of them this test reads.

interface ProtoType {
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: { longs: StringConstructor; bytes: StringConstructor }): unknown;
}
interface OtlpRoot {
  readonly opentelemetry: {
    readonly proto: {
      readonly collector: {
        readonly trace: { readonly v1: { readonly ExportTraceServiceRequest: ProtoType } };
        readonly metrics: { readonly v1: { readonly ExportMetricsServiceRequest: ProtoType } };
      };
    };
  };
}
const otlp = createRequire(import.meta.url)('otlp-transformer-protobufjs/build/src/generated/root.js') as OtlpRoot;
const { ExportTraceServiceRequest } = otlp.opentelemetry.proto.collector.trace.v1;
const { ExportMetricsServiceRequest } = otlp.opentelemetry.proto.collector.metrics.v1;

interface AnyValue {
  readonly stringValue?: string;
  readonly intValue?: string;
  readonly boolValue?: boolean;
  readonly doubleValue?: number;
}
interface KeyValue {
  readonly key: string;
  readonly value?: AnyValue;
}
interface WireSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind?: number;
  readonly attributes?: readonly KeyValue[];
  readonly links?: readonly { readonly traceId: string; readonly spanId: string }[];
  readonly events?: readonly { readonly name: string; readonly attributes?: readonly KeyValue[] }[];
}
interface TraceRequest {
  readonly resourceSpans?: readonly {
    readonly resource?: { readonly attributes?: readonly KeyValue[] };
    readonly scopeSpans?: readonly { readonly scope?: { readonly name?: string }; readonly spans?: readonly WireSpan[] }[];
  }[];
}
interface NumberPoint {
  readonly attributes?: readonly KeyValue[];
  readonly asInt?: string;
  readonly asDouble?: number;
}
interface HistogramPoint {
  readonly attributes?: readonly KeyValue[];
  readonly count?: string;
  readonly explicitBounds?: readonly number[];
}
export interface WireMetric {
  readonly name: string;
  readonly unit?: string;
  readonly sum?: { readonly dataPoints?: readonly NumberPoint[] };
  readonly gauge?: { readonly dataPoints?: readonly NumberPoint[] };
  readonly histogram?: { readonly dataPoints?: readonly HistogramPoint[] };
}
interface MetricsRequest {
  readonly resourceMetrics?: readonly {
    readonly resource?: { readonly attributes?: readonly KeyValue[] };
    readonly scopeMetrics?: readonly { readonly scope?: { readonly name?: string }; readonly metrics?: readonly WireMetric[] }[];
  }[];
}

/** A received span, ids in hex. */
export interface Span {
  readonly service: string;
  readonly scope: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  readonly events: readonly { readonly name: string; readonly attributes: Readonly<Record<string, string | number | boolean>> }[];
}

export const hex = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('hex');

export function attrs(list: readonly KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    const v = kv.value;
    const value = v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : (v?.boolValue ?? v?.doubleValue));
    if (value !== undefined) out[kv.key] = value;
  }
  return out;
}

/** An OTLP/HTTP receiver (protobuf encoding) on 127.0.0.1. */
export class OtlpReceiver {
  readonly spans: Span[] = [];
  /** The latest export of each metric (exports are cumulative), with the service that sent it. */
  readonly metrics = new Map<string, { readonly service: string; readonly scope: string; readonly metric: WireMetric }>();
  readonly contentTypes = new Set<string>();
  private server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  span(pred: (s: Span) => boolean): Span | undefined {
    return this.spans.find(pred);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = new Uint8Array(Buffer.concat(chunks));
    this.contentTypes.add(String(req.headers['content-type']));
    try {
      if (req.method === 'POST' && req.url === '/v1/traces') this.onTraces(ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, bytes: String }) as TraceRequest);
      else if (req.method === 'POST' && req.url === '/v1/metrics') this.onMetrics(ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.decode(body), { longs: String, bytes: String }) as MetricsRequest);
      else {
        res.writeHead(404).end();
        return;
      }
    } catch {
      res.writeHead(400).end();
      return;
    }
    // An empty Export…ServiceResponse: full success.
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  }

  private onTraces(r: TraceRequest): void {
    for (const rs of r.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            service,
            scope: ss.scope?.name ?? '',
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            name: s.name,
            kind: s.kind ?? 0,
            attributes: attrs(s.attributes),
            links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
            events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
          });
        }
      }
    }
  }

  private onMetrics(r: MetricsRequest): void {
    for (const rm of r.resourceMetrics ?? []) {
      const service = String(attrs(rm.resource?.attributes)['service.name']);
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) this.metrics.set(m.name, { service, scope: sm.scope?.name ?? '', metric: m });
    }
  }
}

export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;

/** The `OTEL_*` environment of a process exporting traces and metrics to the receiver on `port`. */
export function otlpEnv(port: number, service: string): Record<string, string> {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_SERVICE_NAME: service,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_METRIC_EXPORT_INTERVAL: '300',
    OTEL_METRIC_EXPORT_TIMEOUT: '300',
  };
}
