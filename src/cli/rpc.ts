/**
 * The CLI's gRPC plumbing: one channel to the kernel, typed unary and server-streaming calls
 * over the generated service definitions (`src/gen/meerkat/kernel/v1/*`), and the decoding of
 * error statuses (`google.rpc.Status` in `grpc-status-details-bin`, via the server's
 * `decodeErrorDetails`).
 */
import * as grpc from '@grpc/grpc-js';
import { decodeErrorDetails } from '../server/errors.js';

/** A generated method definition (`XServiceService.someRpc`). */
export type Method<Req, Res> = grpc.MethodDefinition<Req, Res>;

/** Per-call options. */
export interface CallOpts {
  /** Absolute deadline (epoch ms); none when undefined. */
  readonly deadline?: number | undefined;
}

/** A connection to one kernel server. */
export class KernelConnection {
  readonly client: grpc.Client;

  constructor(readonly address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
  }

  /** One unary call; rejects with the grpc `ServiceError`. */
  unary<Req, Res>(method: Method<Req, Res>, request: Req, opts: CallOpts = {}): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
        callOptions(opts),
        (err, res) => {
          if (err) reject(err);
          else if (res === undefined) reject(new Error(`${method.path}: empty response`));
          else resolve(res);
        },
      );
    });
  }

  /** Starts a server-streaming call; iterate it with `for await`, cancel it with `.cancel()`. */
  serverStream<Req, Res>(method: Method<Req, Res>, request: Req, opts: CallOpts = {}): grpc.ClientReadableStream<Res> {
    return this.client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      callOptions(opts),
    );
  }

  close(): void {
    this.client.close();
  }
}

function callOptions(opts: CallOpts): grpc.CallOptions {
  return opts.deadline === undefined ? {} : { deadline: opts.deadline };
}

/**
 * Reads a server stream message by message. `onMessage` returning `'stop'` cancels the call and
 * resolves with `null` (the resulting CANCELLED status is swallowed). When the server ends the
 * stream with OK the promise resolves with its trailers; any other status rejects with the
 * `ServiceError`.
 */
export function consume<T>(call: grpc.ClientReadableStream<T>, onMessage: (message: T) => 'stop' | void): Promise<grpc.Metadata | null> {
  return new Promise<grpc.Metadata | null>((resolve, reject) => {
    let settled = false;
    let ended = false;
    let trailers: grpc.Metadata | null | undefined;
    const settle = (result: { ok: grpc.Metadata | null } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      if ('ok' in result) resolve(result.ok);
      else reject(result.error);
    };
    const maybeDone = (): void => {
      if (ended && trailers !== undefined) settle({ ok: trailers });
    };
    call.on('data', (message: T) => {
      if (settled) return;
      try {
        if (onMessage(message) === 'stop') {
          settle({ ok: null });
          call.cancel();
        }
      } catch (e) {
        settle({ error: e });
        call.cancel();
      }
    });
    call.on('error', (e: Error) => settle({ error: e }));
    call.on('status', (status: grpc.StatusObject) => {
      trailers = status.metadata;
      maybeDone();
    });
    call.on('end', () => {
      ended = true;
      maybeDone();
    });
  });
}

/** An error the CLI raises itself (not a gRPC status), printed like one. */
export class CliFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** An error plus a line telling the user what to do next (printed after the error). */
export class HintedError extends Error {
  constructor(
    readonly inner: unknown,
    readonly hint: string,
  ) {
    super(inner instanceof Error ? inner.message : String(inner), { cause: inner });
  }
}

/** A grpc-js `ServiceError` (status code + metadata). */
export function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in e;
}

/** An error as the CLI reports it. */
export interface RpcErrorReport {
  /** gRPC status name, e.g. `NOT_FOUND`. */
  readonly code: string;
  /** `ErrorInfo.reason` (the kernel error code), when the server sent one. */
  readonly reason: string | null;
  readonly message: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly field_violations: readonly { readonly field: string; readonly description: string }[];
  readonly retry_delay_ms: number | null;
  /** What to do next, when the CLI knows. */
  readonly hint?: string;
}

/** Describes a failed call (or any other error) for printing. */
export function describeError(e: unknown): RpcErrorReport {
  if (e instanceof HintedError) return { ...describeError(e.inner), hint: e.hint };
  if (isServiceError(e)) {
    const d = decodeErrorDetails(e);
    return {
      code: statusName(e.code),
      reason: d?.errorInfo?.reason ?? null,
      message: d?.message || e.details || e.message,
      metadata: d?.errorInfo?.metadata ?? {},
      field_violations: d?.fieldViolations ?? [],
      retry_delay_ms: d?.retryDelayMs ?? null,
    };
  }
  if (e instanceof CliFailure) {
    return { code: e.code, reason: null, message: e.message, metadata: {}, field_violations: [], retry_delay_ms: null };
  }
  return {
    code: 'ERROR',
    reason: null,
    message: e instanceof Error ? e.message : String(e),
    metadata: {},
    field_violations: [],
    retry_delay_ms: null,
  };
}

/** `CODE reason: message` plus one indented line per field violation and metadata entry. */
export function formatError(r: RpcErrorReport): string {
  const head = r.reason ? `${r.code} ${r.reason}: ${r.message}` : `${r.code}: ${r.message}`;
  const lines = [head];
  const violations = r.field_violations.map((v) => `${v.field}: ${v.description}`);
  // A lone violation is often the message itself: do not say it twice.
  if (!(violations.length === 1 && violations[0] === r.message)) for (const v of violations) lines.push(`  ${v}`);
  const meta = Object.entries(r.metadata);
  if (meta.length > 0) lines.push(`  (${meta.map(([k, v]) => `${k}=${v}`).join(', ')})`);
  if (r.retry_delay_ms !== null && r.retry_delay_ms > 0) lines.push(`  retry after ${r.retry_delay_ms} ms`);
  if (r.hint) lines.push(r.hint);
  return lines.join('\n');
}

/** The name of a gRPC status code (`5` → `NOT_FOUND`). */
export function statusName(code: number): string {
  const name: unknown = grpc.status[code];
  return typeof name === 'string' ? name : `STATUS_${code}`;
}
