/**
 * The one error mapping (src/server/errors.ts, decision 2): status per kernel code, ErrorInfo on
 * every error, BadRequest for INVALID_ARGUMENT / ADMISSION_REJECTED, RetryInfo for
 * STORE_UNAVAILABLE, INTERNAL with a generic message for anything unexpected.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { invalidArgument, invalidPhase, KernelError, type KernelErrorCode } from '../../src/kernel/errors.js';
import { decodeErrorDetails, ERROR_DOMAIN, GRPC_STATUS_OF, STORE_RETRY_DELAY_MS, toServiceError, transportError } from '../../src/server/errors.js';
import { StoreCommitError } from '../../src/store/errors.js';

const TABLE: Record<KernelErrorCode, grpc.status> = {
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

describe('toServiceError', () => {
  it('maps every kernel code per the table of src/kernel/errors.ts, with an ErrorInfo', () => {
    expect(GRPC_STATUS_OF).toEqual(TABLE);
    for (const [code, status] of Object.entries(TABLE) as [KernelErrorCode, grpc.status][]) {
      const e = toServiceError(new KernelError(code, `m-${code}`, { k: 'v' }), () => undefined);
      expect(e.code, code).toBe(status);
      const d = decodeErrorDetails(e);
      expect(d?.code).toBe(status);
      expect(d?.errorInfo?.reason).toBe(code);
      expect(d?.errorInfo?.domain).toBe(ERROR_DOMAIN);
      expect(d?.errorInfo?.metadata).toMatchObject({ k: 'v' });
      expect(d?.otherDetails).toEqual([]);
    }
  });

  it('INVALID_PHASE carries metadata phase; INVALID_ARGUMENT one field violation per problem', () => {
    const phase = decodeErrorDetails(toServiceError(invalidPhase('Recycle', 'Running')));
    expect(phase?.errorInfo?.metadata).toEqual({ phase: 'Running', command: 'Recycle' });
    expect(phase?.fieldViolations).toEqual([]);
    const bad = toServiceError(
      invalidArgument([
        { field: 'session_id', description: 'is not a UUID' },
        { field: 'input.body.text', description: 'must not be empty' },
      ]),
    );
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toBe('session_id: is not a UUID; input.body.text: must not be empty');
    expect(decodeErrorDetails(bad)?.fieldViolations).toEqual([
      { field: 'session_id', description: 'is not a UUID' },
      { field: 'input.body.text', description: 'must not be empty' },
    ]);
  });

  it('ADMISSION_REJECTED has a BadRequest on input; STORE_UNAVAILABLE a RetryInfo', () => {
    const adm = decodeErrorDetails(toServiceError(new KernelError('ADMISSION_REJECTED', 'derived durability', { reason: 'X' })));
    expect(adm?.fieldViolations).toEqual([{ field: 'input', description: 'derived durability' }]);
    const store = decodeErrorDetails(toServiceError(new KernelError('STORE_UNAVAILABLE', 'down')));
    expect(store?.retryDelayMs).toBe(STORE_RETRY_DELAY_MS);
    expect(store?.fieldViolations).toEqual([]);
    const moved = decodeErrorDetails(
      toServiceError(new KernelError('SESSION_OWNED_ELSEWHERE', 'owned by b', { owner_replica: 'b', owner_address: '10.0.0.2:50051' })),
    );
    expect(moved?.retryDelayMs).toBe(STORE_RETRY_DELAY_MS);
    expect(moved?.errorInfo).toMatchObject({ reason: 'SESSION_OWNED_ELSEWHERE', metadata: { owner_address: '10.0.0.2:50051' } });
  });

  it('a store commit failure that escaped the kernel is STORE_UNAVAILABLE', () => {
    const e = toServiceError(new StoreCommitError('commit of rt:session:x failed: closed', 'rt:session:x', 'closed'));
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect(decodeErrorDetails(e)?.errorInfo).toMatchObject({ reason: 'STORE_UNAVAILABLE', metadata: { runtime_id: 'rt:session:x', store_reason: 'closed' } });
  });

  it('anything else is INTERNAL with a generic message; the real error is logged under the error id', () => {
    const log = vi.fn();
    const e = toServiceError(new TypeError('secret internals'), log);
    expect(e.code).toBe(grpc.status.INTERNAL);
    expect(e.details).not.toContain('secret');
    const d = decodeErrorDetails(e);
    expect(d?.errorInfo?.reason).toBe('INTERNAL');
    const id = d?.errorInfo?.metadata.error_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.details).toContain(id);
    expect(log).toHaveBeenCalledWith(expect.any(TypeError), id);
  });

  it('transport reasons: deadline, shutdown, unimplemented', () => {
    expect(transportError('DEADLINE_EXCEEDED', 'late').code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const down = transportError('SERVER_SHUTTING_DOWN', 'bye');
    expect(down.code).toBe(grpc.status.UNAVAILABLE);
    expect(decodeErrorDetails(down)).toMatchObject({ errorInfo: { reason: 'SERVER_SHUTTING_DOWN' }, retryDelayMs: 0 });
    expect(transportError('UNIMPLEMENTED', 'n/a').code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('decodeErrorDetails is null without details', () => {
    expect(decodeErrorDetails(null)).toBeNull();
    expect(decodeErrorDetails({ metadata: new grpc.Metadata() })).toBeNull();
  });
});
