/**
 * The one mapping from kernel errors to gRPC statuses (decision 2).
 *
 * Every error the server sends carries a `google.rpc.Status` in the `grpc-status-details-bin`
 * trailer, with:
 *
 * - a `google.rpc.ErrorInfo`: reason = the `KernelError` code (or a transport-level reason such as
 *   `DEADLINE_EXCEEDED`, `SERVER_SHUTTING_DOWN`), domain {@link ERROR_DOMAIN}, metadata = the
 *   error's metadata (e.g. `phase`; `guard`, `phase`, `input`);
 * - a `google.rpc.BadRequest` with one field violation per problem for `INVALID_ARGUMENT` and
 *   `ADMISSION_REJECTED`;
 * - a `google.rpc.RetryInfo` for `STORE_UNAVAILABLE` (retry after {@link STORE_RETRY_DELAY_MS}).
 *
 * The status code of each kernel code is the table of `src/kernel/errors.ts`
 * ({@link GRPC_STATUS_OF}). A store commit failure that escaped the kernel is `STORE_UNAVAILABLE`;
 * anything else unexpected is `INTERNAL` with a generic message and an `error_id` that names the
 * log line holding the real error — never a caller's mistake.
 *
 * The google.rpc message types (encode/decode) come from the `nice-grpc-error-details` package
 * (ts-proto code generated from googleapis' `google/rpc/status.proto` and `error_details.proto`).
 *
 * @example
 * ```ts
 * client.registerSession({ session_id: 'nope' }, (err) => {
 *   const d = decodeErrorDetails(err);
 *   d?.errorInfo?.reason;        // 'INVALID_ARGUMENT'
 *   d?.fieldViolations[0]?.field; // 'session_id'
 * });
 * ```
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Any, BadRequest, ErrorInfo, RetryInfo } from 'nice-grpc-error-details';
import { Status as RpcStatus } from 'nice-grpc-error-details/lib/proto/google/rpc/status.js';
import { KernelError, type FieldViolation, type KernelErrorCode } from '../kernel/errors.js';
import { StoreCommitError } from '../store/errors.js';

/** `ErrorInfo.domain` of every error this server sends. */
export const ERROR_DOMAIN = 'meerkat.dev';
/** The trailer carrying the serialized `google.rpc.Status`. */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
/** `RetryInfo.retry_delay` of STORE_UNAVAILABLE. */
export const STORE_RETRY_DELAY_MS = 1000;

/** gRPC status of each kernel error code (the table in src/kernel/errors.ts). */
export const GRPC_STATUS_OF: Readonly<Record<KernelErrorCode, grpc.status>> = {
  SESSION_NOT_FOUND: grpc.status.NOT_FOUND,
  RUNTIME_DESTROYED: grpc.status.FAILED_PRECONDITION,
  INVALID_PHASE: grpc.status.FAILED_PRECONDITION,
  GUARD_REJECTED: grpc.status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  ADMISSION_REJECTED: grpc.status.INVALID_ARGUMENT,
  RECONFIGURE_HOST_UNAVAILABLE: grpc.status.FAILED_PRECONDITION,
  UNKNOWN_EXECUTOR: grpc.status.INVALID_ARGUMENT,
  STORE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  SESSION_OWNED_ELSEWHERE: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
};

/** Transport-level reasons (not kernel codes) the server layer itself reports. */
export type TransportReason = 'DEADLINE_EXCEEDED' | 'SERVER_SHUTTING_DOWN' | 'UNIMPLEMENTED';

/** What goes into one error status. */
export interface ErrorSpec {
  readonly code: grpc.status;
  readonly reason: string;
  readonly message: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly violations?: readonly FieldViolation[];
  readonly retryDelayMs?: number | null;
}

/** Receives unexpected errors (the server's logger). */
export type ErrorLogger = (error: unknown, errorId: string) => void;

/** Builds a grpc `ServiceError` with the `google.rpc.Status` details trailer. */
export function serviceError(spec: ErrorSpec): grpc.ServiceError {
  const details: Any[] = [
    pack(
      ErrorInfo.$type,
      ErrorInfo.encode(ErrorInfo.fromPartial({ reason: spec.reason, domain: ERROR_DOMAIN, metadata: { ...(spec.metadata ?? {}) } })).finish(),
    ),
  ];
  if (spec.violations && spec.violations.length > 0) {
    const br = BadRequest.fromPartial({ fieldViolations: spec.violations.map((v) => ({ field: v.field, description: v.description })) });
    details.push(pack(BadRequest.$type, BadRequest.encode(br).finish()));
  }
  if (spec.retryDelayMs !== undefined && spec.retryDelayMs !== null) {
    const ms = spec.retryDelayMs;
    const ri = RetryInfo.fromPartial({ retryDelay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 } });
    details.push(pack(RetryInfo.$type, RetryInfo.encode(ri).finish()));
  }
  const status = RpcStatus.fromPartial({ code: spec.code, message: spec.message, details });
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(RpcStatus.encode(status).finish()));
  return Object.assign(new Error(spec.message), { code: spec.code, details: spec.message, metadata });
}

/**
 * The status of any error a handler threw: a `KernelError` by the table; a store commit failure
 * as STORE_UNAVAILABLE; anything else INTERNAL with a generic message (the error itself goes to
 * `log` under the `error_id` the client sees).
 */
export function toServiceError(error: unknown, log?: ErrorLogger): grpc.ServiceError {
  const ke = asKernelError(error);
  if (ke && ke.code !== 'INTERNAL') return kernelServiceError(ke);
  const errorId = randomUUID();
  if (ke) {
    // A kernel bug the kernel itself detected: its message is deliberate, but log it too.
    log?.(error, errorId);
    return kernelServiceError(new KernelError('INTERNAL', ke.message, { ...ke.metadata, error_id: errorId }));
  }
  log?.(error, errorId);
  return serviceError({
    code: grpc.status.INTERNAL,
    reason: 'INTERNAL',
    message: `internal error (error_id ${errorId}); the server log has the details`,
    metadata: { error_id: errorId },
  });
}

/** The `ServiceError` of one `KernelError`. */
export function kernelServiceError(e: KernelError): grpc.ServiceError {
  let violations: readonly FieldViolation[] = [];
  if (e.code === 'INVALID_ARGUMENT') violations = e.violations;
  // The admission rules judge the input as a whole: one violation on `input` when none is named.
  if (e.code === 'ADMISSION_REJECTED') violations = e.violations.length > 0 ? e.violations : [{ field: 'input', description: e.message }];
  return serviceError({
    code: GRPC_STATUS_OF[e.code],
    reason: e.code,
    message: e.message,
    metadata: e.metadata,
    violations,
    retryDelayMs: e.code === 'STORE_UNAVAILABLE' || e.code === 'SESSION_OWNED_ELSEWHERE' ? STORE_RETRY_DELAY_MS : null,
  });
}

/** A transport-level error (deadline, shutdown, unimplemented) with its ErrorInfo. */
export function transportError(reason: TransportReason, message: string, metadata: Readonly<Record<string, string>> = {}): grpc.ServiceError {
  const code =
    reason === 'DEADLINE_EXCEEDED' ? grpc.status.DEADLINE_EXCEEDED : reason === 'UNIMPLEMENTED' ? grpc.status.UNIMPLEMENTED : grpc.status.UNAVAILABLE;
  return serviceError({ code, reason, message, metadata, retryDelayMs: reason === 'SERVER_SHUTTING_DOWN' ? 0 : null });
}

function asKernelError(error: unknown): KernelError | null {
  if (error instanceof KernelError) return error;
  if (error instanceof StoreCommitError) {
    return new KernelError('STORE_UNAVAILABLE', error.message, { runtime_id: error.runtimeId, store_reason: error.reason });
  }
  return null;
}

function pack(type: string, bytes: Uint8Array): Any {
  return Any.fromPartial({ typeUrl: `type.googleapis.com/${type}`, value: bytes });
}

// ---------------------------------------------------------------------------------------------
// Client side

/** The decoded `grpc-status-details-bin` of an error (client side: tests, CLI). */
export interface DecodedErrorDetails {
  /** `google.rpc.Status.code` (the gRPC status code). */
  readonly code: number;
  /** `google.rpc.Status.message`. */
  readonly message: string;
  readonly errorInfo: { readonly reason: string; readonly domain: string; readonly metadata: Readonly<Record<string, string>> } | null;
  /** `google.rpc.BadRequest` field violations (empty when absent). */
  readonly fieldViolations: readonly FieldViolation[];
  /** `google.rpc.RetryInfo.retry_delay` in ms, or `null` when absent. */
  readonly retryDelayMs: number | null;
  /** Type URLs of details this decoder does not know. */
  readonly otherDetails: readonly string[];
}

/**
 * Decodes the `google.rpc.Status` a server put in `grpc-status-details-bin`; `null` when the
 * error carries none (or it does not decode).
 */
export function decodeErrorDetails(error: { readonly metadata?: grpc.Metadata | undefined } | null | undefined): DecodedErrorDetails | null {
  const raw = error?.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (raw === undefined || typeof raw === 'string') return null;
  let status: RpcStatus;
  try {
    status = RpcStatus.decode(raw);
  } catch {
    return null;
  }
  let errorInfo: DecodedErrorDetails['errorInfo'] = null;
  const fieldViolations: FieldViolation[] = [];
  let retryDelayMs: number | null = null;
  const otherDetails: string[] = [];
  for (const any of status.details) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
    try {
      if (type === ErrorInfo.$type) {
        const info = ErrorInfo.decode(any.value);
        errorInfo = { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } };
      } else if (type === BadRequest.$type) {
        for (const v of BadRequest.decode(any.value).fieldViolations) fieldViolations.push({ field: v.field, description: v.description });
      } else if (type === RetryInfo.$type) {
        const d = RetryInfo.decode(any.value).retryDelay;
        retryDelayMs = d ? d.seconds * 1000 + Math.round(d.nanos / 1_000_000) : 0;
      } else {
        otherDetails.push(any.typeUrl);
      }
    } catch {
      otherDetails.push(any.typeUrl);
    }
  }
  return { code: status.code, message: status.message, errorInfo, fieldViolations, retryDelayMs, otherDetails };
}
