/**
 * A remote executor in its own process (decision 6): attaches to a Meerkat kernel over
 * `ExecutorService.Attach` and answers every run with the upper-cased text of its inputs.
 *
 *   MEERKAT_ADDRESS=127.0.0.1:50051 npx tsx examples/remote-executor.ts [options] <session-id>...
 *
 * Options:
 *   --name <name>        executor name to register under (default "upper", or MEERKAT_EXECUTOR_NAME)
 *   --delay-ms <ms>      work this long on each run before answering (default 0; interruptible)
 *
 * With no session ids it serves every session bound to the name. Bind a session to it with
 * `EnsureSessionWithExecutor(session, name)` (the session must be registered before the
 * executor names it). The process logs one line per event on stdout and exits when the
 * stream ends (1 on an error status, 0 otherwise) or on SIGINT/SIGTERM.
 *
 * Tracing: each run assignment carries the W3C `traceparent` of the kernel's
 * `meerkat.executor.apply` span (`trace_context`). The executor extracts it with the W3C
 * propagator and works on the run inside a `remote-executor.run` span that is its child, so the
 * run continues the kernel's trace. Export is configured from the same `OTEL_*` variables as the
 * kernel (README "Observability"), e.g. `OTEL_TRACES_EXPORTER=otlp`; the service name defaults to
 * `meerkat-remote-executor`.
 */
import * as grpc from '@grpc/grpc-js';
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { shutdownTelemetry, startTelemetry } from '../src/telemetry/setup.js';
import { ExecutorServiceClient, type AttachRequest, type AttachResponse } from '../src/gen/meerkat/kernel/v1/executor.js';
import type { RunAssignment } from '../src/gen/meerkat/kernel/v1/types.js';

interface Options {
  readonly address: string;
  readonly name: string;
  readonly delayMs: number;
  readonly sessions: string[];
}

function parseArgs(argv: readonly string[]): Options {
  let name = process.env.MEERKAT_EXECUTOR_NAME ?? 'upper';
  let delayMs = 0;
  const sessions: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] as string;
    if (a === '--name') name = argv[++i] ?? name;
    else if (a === '--delay-ms') delayMs = Number(argv[++i] ?? '0');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: remote-executor.ts [--name NAME] [--delay-ms MS] <session-id>...\n');
      process.exit(0);
    } else sessions.push(a);
  }
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`--delay-ms must be a non-negative number, got ${delayMs}`);
  return { address: process.env.MEERKAT_ADDRESS ?? '127.0.0.1:50051', name, delayMs, sessions };
}

function log(line: string): void {
  process.stdout.write(`[remote-executor] ${line}\n`);
}

/** A run being worked on: its span, its timer and whether it was interrupted or asked to stop at a boundary. */
interface Work {
  readonly assignment: RunAssignment;
  readonly span: Span;
  timer: NodeJS.Timeout | null;
  cancelAfterBoundary: boolean;
}

const tracer = trace.getTracer('meerkat-remote-executor');
const propagator = new W3CTraceContextPropagator();

/** The kernel's context of a run (its `meerkat.executor.apply` span), or the root context without one. */
function assignmentContext(a: RunAssignment): Context {
  if (!a.trace_context) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent: a.trace_context }, defaultTextMapGetter);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  process.env.OTEL_SERVICE_NAME ??= 'meerkat-remote-executor';
  await startTelemetry();
  const client = new ExecutorServiceClient(opts.address, grpc.credentials.createInsecure());
  const stream = client.attach();
  const runs = new Map<string, Work>();
  const send = (message: AttachRequest): void => {
    stream.write(message);
  };

  const finish = (work: Work): void => {
    const a = work.assignment;
    if (!runs.delete(a.run_id)) return;
    const text = a.inputs.map((i) => i.text.toUpperCase()).join('\n');
    send({
      message: {
        $case: 'boundary_report',
        boundary_report: {
          run_id: a.run_id,
          boundary: a.boundary,
          contributing_input_ids: a.inputs.map((i) => i.input_id),
          message_count: a.inputs.length + 1,
        },
      },
    });
    send({
      message: {
        $case: 'terminal_report',
        terminal_report: { run_id: a.run_id, status: { $case: 'completed', completed: { result: { text }, message_count: a.inputs.length + 1 } } },
      },
    });
    work.span.setAttribute('meerkat.report.status', 'completed');
    work.span.end();
    log(`run ${a.run_id} completed: ${JSON.stringify(text)}`);
  };

  const onMessage = (msg: AttachResponse): void => {
    const m = msg.message;
    if (!m) return;
    switch (m.$case) {
      case 'hello_ack':
        log(`attached as ${m.hello_ack.attachment_id} (name "${opts.name}", sessions ${opts.sessions.length > 0 ? opts.sessions.join(', ') : 'all bound to the name'})`);
        break;
      case 'run_assignment': {
        const a = m.run_assignment;
        const parent = assignmentContext(a);
        const span = tracer.startSpan(
          'remote-executor.run',
          {
            kind: SpanKind.INTERNAL,
            attributes: { 'meerkat.session_id': a.session_id, 'meerkat.run_id': a.run_id, 'meerkat.inputs': a.inputs.length },
          },
          parent,
        );
        const traceId = trace.getSpanContext(parent)?.traceId;
        log(
          `run ${a.run_id} assigned for session ${a.session_id}: ${a.inputs.length} input(s) [${a.inputs.map((i) => i.input_id).join(', ')}]` +
            (traceId ? ` trace ${traceId}` : ''),
        );
        const work: Work = { assignment: a, span, timer: null, cancelAfterBoundary: false };
        runs.set(a.run_id, work);
        if (opts.delayMs > 0) work.timer = setTimeout(() => finish(work), opts.delayMs);
        else finish(work);
        break;
      }
      case 'cancel_after_boundary': {
        const work = runs.get(m.cancel_after_boundary.run_id);
        if (work) work.cancelAfterBoundary = true;
        // This executor's only step ends at the run's terminal boundary, so the run simply finishes.
        log(`cancel-after-boundary for run ${m.cancel_after_boundary.run_id} (${m.cancel_after_boundary.reason})`);
        break;
      }
      case 'interrupt': {
        const work = runs.get(m.interrupt.run_id);
        log(`interrupt for run ${m.interrupt.run_id}`);
        if (!work) break;
        if (work.timer) clearTimeout(work.timer);
        runs.delete(m.interrupt.run_id);
        work.span.setAttribute('meerkat.report.status', 'cancelled');
        work.span.end();
        send({ message: { $case: 'terminal_report', terminal_report: { run_id: m.interrupt.run_id, status: { $case: 'cancelled', cancelled: {} } } } });
        log(`run ${m.interrupt.run_id} cancelled`);
        break;
      }
      case 'stop':
        log(`stop for session ${m.stop.session_id} (${m.stop.reason})`);
        break;
    }
  };

  stream.on('data', onMessage);
  stream.on('error', (e: grpc.ServiceError) => {
    log(`stream ended: ${grpc.status[e.code] ?? e.code} ${e.details}`);
    process.exitCode = 1;
    for (const w of runs.values()) if (w.timer) clearTimeout(w.timer);
    client.close();
    void shutdownTelemetry();
  });
  stream.on('end', () => {
    log('stream closed by the kernel');
    for (const w of runs.values()) if (w.timer) clearTimeout(w.timer);
    client.close();
    void shutdownTelemetry();
  });
  const shutdown = (signal: string): void => {
    log(`${signal}: detaching`);
    stream.end();
    for (const w of runs.values()) w.span.end();
    // Flush the spans, but never wait for an exporter longer than a moment.
    setTimeout(() => process.exit(0), 1000).unref();
    void shutdownTelemetry().then(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  log(`connecting to ${opts.address} as "${opts.name}"`);
  send({
    message: {
      $case: 'hello',
      hello: { executor_name: opts.name, session_ids: opts.sessions, capabilities: { can_reconfigure_llm: false } },
    },
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`remote-executor: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
