/**
 * Log lines carry the active span's ids: the server's pino options (src/server/config.ts
 * `loggerOptions`, the mixin of src/telemetry/log-context.ts).
 */
import { Writable } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../../src/server/config.js';

const provider = new BasicTracerProvider();
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

/** A logger with the server's options writing JSON lines into `lines`. */
function memoryLogger(lines: Record<string, unknown>[]): pino.Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino(loggerOptions('debug'), sink);
}

describe('logs with trace ids', () => {
  it('adds trace_id and span_id of the active span, also after an await', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = memoryLogger(lines);
    const tracer = trace.getTracer('test');
    const sc = await tracer.startActiveSpan('call', async (span) => {
      log.info({ rpc: 'X' }, 'inside');
      await new Promise((r) => setImmediate(r));
      log.debug('after an await');
      span.end();
      return span.spanContext();
    });
    log.info('outside');
    expect(lines).toHaveLength(3);
    const [inside, later, outside] = lines;
    expect(inside).toMatchObject({ msg: 'inside', rpc: 'X', trace_id: sc.traceId, span_id: sc.spanId, trace_flags: '01', service: 'meerkat-kernel' });
    expect(later).toMatchObject({ msg: 'after an await', trace_id: sc.traceId, span_id: sc.spanId });
    expect(outside?.msg).toBe('outside');
    expect(outside).not.toHaveProperty('trace_id');
    expect(outside).not.toHaveProperty('span_id');
  });

  it('names the innermost active span', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = memoryLogger(lines);
    const tracer = trace.getTracer('test');
    const ids = tracer.startActiveSpan('outer', (outer) =>
      tracer.startActiveSpan('inner', (inner) => {
        log.info('nested');
        inner.end();
        outer.end();
        return { trace: outer.spanContext().traceId, inner: inner.spanContext().spanId };
      }),
    );
    expect(lines[0]).toMatchObject({ trace_id: ids.trace, span_id: ids.inner });
  });
});
