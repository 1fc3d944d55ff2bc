/**
 * MobError → gRPC status with the kernel's error format (`src/server/errors.ts`: a
 * `google.rpc.Status` carrying ErrorInfo{reason = the code, domain `meerkat.dev`}, BadRequest
 * field violations for INVALID_ARGUMENT, RetryInfo for UNAVAILABLE). Anything unexpected is
 * INTERNAL with an `error_id` naming the log line.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { serviceError, STORE_RETRY_DELAY_MS, type ErrorLogger } from '../../src/server/errors.js';
import { MobError, type MobErrorCode } from '../errors.js';

export const MOB_GRPC_STATUS: Readonly<Record<MobErrorCode, grpc.status>> = {
  MOB_NOT_FOUND: grpc.status.NOT_FOUND,
  MEMBER_NOT_FOUND: grpc.status.NOT_FOUND,
  MOB_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  MEMBER_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  INVALID_PHASE: grpc.status.FAILED_PRECONDITION,
  GUARD_REJECTED: grpc.status.FAILED_PRECONDITION,
  NOT_WIRED: grpc.status.FAILED_PRECONDITION,
  WORK_REJECTED: grpc.status.FAILED_PRECONDITION,
  KERNEL_REFUSED: grpc.status.FAILED_PRECONDITION,
  KERNEL_UNAVAILABLE: grpc.status.UNAVAILABLE,
  STORE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
};

/** The status of any error a MobService handler threw. */
export function mobServiceError(error: unknown, log?: ErrorLogger): grpc.ServiceError {
  if (error instanceof MobError && error.code !== 'INTERNAL') {
    const unavailable = MOB_GRPC_STATUS[error.code] === grpc.status.UNAVAILABLE;
    return serviceError({
      code: MOB_GRPC_STATUS[error.code],
      reason: error.code,
      message: error.message,
      metadata: error.metadata,
      violations: error.code === 'INVALID_ARGUMENT' ? error.violations : [],
      retryDelayMs: unavailable ? STORE_RETRY_DELAY_MS : null,
    });
  }
  const errorId = randomUUID();
  log?.(error, errorId);
  return serviceError({
    code: grpc.status.INTERNAL,
    reason: 'INTERNAL',
    message: `internal error (error_id ${errorId}); the sidecar log has the details`,
    metadata: { error_id: errorId },
  });
}
