/**
 * Errors of the mob sidecar: every caller mistake is a {@link MobError} with a stable `code`,
 * mapped to one gRPC status by `sidecar/server/errors.ts` (ErrorInfo reason = the code, like the
 * kernel's `src/server/errors.ts`). A refused operation changed nothing.
 */
import type { FieldViolation } from '../src/kernel/errors.js';

export const MOB_ERROR_CODES = [
  'MOB_NOT_FOUND',
  'MEMBER_NOT_FOUND',
  'MOB_ALREADY_EXISTS',
  'MEMBER_ALREADY_EXISTS',
  'INVALID_ARGUMENT',
  'INVALID_PHASE',
  'GUARD_REJECTED',
  'NOT_WIRED',
  'WORK_REJECTED',
  'KERNEL_REFUSED',
  'KERNEL_UNAVAILABLE',
  'STORE_UNAVAILABLE',
  'INTERNAL',
] as const;
export type MobErrorCode = (typeof MOB_ERROR_CODES)[number];

export class MobError extends Error {
  constructor(
    readonly code: MobErrorCode,
    message: string,
    readonly metadata: Readonly<Record<string, string>> = {},
    readonly violations: readonly FieldViolation[] = [],
  ) {
    super(message);
    this.name = 'MobError';
  }

  /** INVALID_ARGUMENT with one violation per problem. */
  static invalid(violations: readonly FieldViolation[], message?: string): MobError {
    const text = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
    return new MobError('INVALID_ARGUMENT', message ? `${message}: ${text}` : text, {}, violations);
  }

  static mobNotFound(mobId: string): MobError {
    return new MobError('MOB_NOT_FOUND', `mob ${mobId} does not exist`, { mob_id: mobId });
  }

  static memberNotFound(mobId: string, agentIdentity: string): MobError {
    return new MobError('MEMBER_NOT_FOUND', `mob ${mobId} has no member ${agentIdentity}`, { mob_id: mobId, agent_identity: agentIdentity });
  }
}
