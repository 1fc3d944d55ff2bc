/**
 * Typed domain errors of the kernel. Every failure a caller can cause is one of
 * these; the gRPC edge maps each `code` to one status + `google.rpc.ErrorInfo`
 * (reason = `code`, domain `meerkat.dev`, metadata = `metadata`).
 *
 * | code                          | meaning                                               | gRPC status          |
 * |-------------------------------|-------------------------------------------------------|----------------------|
 * | SESSION_NOT_FOUND             | unknown session or runtime id                         | NOT_FOUND            |
 * | RUNTIME_DESTROYED             | the session's runtime is destroyed                    | FAILED_PRECONDITION  |
 * | INVALID_PHASE                 | command illegal in the current phase                  | FAILED_PRECONDITION  |
 * | GUARD_REJECTED                | a reducer guard refused the transition                | FAILED_PRECONDITION  |
 * | INVALID_ARGUMENT              | malformed request (field violations listed)           | INVALID_ARGUMENT     |
 * | ADMISSION_REJECTED            | admission validation refused the input                | INVALID_ARGUMENT     |
 * | RECONFIGURE_HOST_UNAVAILABLE  | no attached executor can reconfigure the LLM          | FAILED_PRECONDITION  |
 * | UNKNOWN_EXECUTOR              | no executor is registered under that name             | INVALID_ARGUMENT     |
 * | STORE_UNAVAILABLE             | the store refused or failed a write                   | UNAVAILABLE          |
 * | SESSION_OWNED_ELSEWHERE       | another live replica holds the session's lease        | UNAVAILABLE          |
 * | INTERNAL                      | a kernel bug; never a caller's mistake                | INTERNAL             |
 */
export type KernelErrorCode =
  | 'SESSION_NOT_FOUND'
  | 'RUNTIME_DESTROYED'
  | 'INVALID_PHASE'
  | 'GUARD_REJECTED'
  | 'INVALID_ARGUMENT'
  | 'ADMISSION_REJECTED'
  | 'RECONFIGURE_HOST_UNAVAILABLE'
  | 'UNKNOWN_EXECUTOR'
  | 'STORE_UNAVAILABLE'
  | 'SESSION_OWNED_ELSEWHERE'
  | 'INTERNAL';

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export class KernelError extends Error {
  constructor(
    readonly code: KernelErrorCode,
    message: string,
    readonly metadata: Readonly<Record<string, string>> = {},
    readonly violations: readonly FieldViolation[] = [],
  ) {
    super(message);
    this.name = 'KernelError';
  }
}

export const sessionNotFound = (id: string): KernelError =>
  new KernelError('SESSION_NOT_FOUND', `session ${id} is not registered with this kernel`, { session_id: id });

export const runtimeNotFound = (runtimeId: string): KernelError =>
  new KernelError('SESSION_NOT_FOUND', `runtime ${runtimeId} is not registered with this kernel`, {
    runtime_id: runtimeId,
  });

export const runtimeDestroyed = (sessionId: string): KernelError =>
  new KernelError('RUNTIME_DESTROYED', `the runtime of session ${sessionId} is destroyed`, { session_id: sessionId });

export const invalidPhase = (command: string, phase: string, detail?: string): KernelError =>
  new KernelError(
    'INVALID_PHASE',
    `${command} is not allowed while the runtime is ${phase}${detail ? `: ${detail}` : ''}`,
    { phase, command },
  );

export const guardRejected = (input: string, phase: string, guard: string, detail: string): KernelError =>
  new KernelError('GUARD_REJECTED', detail, { guard, phase, input });

export const invalidArgument = (violations: readonly FieldViolation[]): KernelError =>
  new KernelError(
    'INVALID_ARGUMENT',
    violations.map((v) => `${v.field}: ${v.description}`).join('; '),
    {},
    violations,
  );

export const invalidField = (field: string, description: string): KernelError =>
  invalidArgument([{ field, description }]);

export const internalError = (message: string): KernelError => new KernelError('INTERNAL', message);

export function isKernelError(e: unknown): e is KernelError {
  return e instanceof KernelError;
}
