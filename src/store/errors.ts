/**
 * Errors of the durable store and how database failures are described to the kernel.
 *
 * The kernel turns any commit failure into `STORE_UNAVAILABLE` and installs nothing; the message
 * of a {@link StoreCommitError} says which runtime's commit failed and why, e.g.
 * `commit of rt:session:… failed: duplicate boundary receipt (run …, sequence 1)`.
 */

/** Why a commit failed. */
export type CommitFailureReason =
  /** The receipt's `(runtime_id, run_id, sequence)` was already committed. */
  | 'duplicate_receipt'
  /** An input row claims an idempotency key another row of the same runtime holds. */
  | 'duplicate_idempotency_key'
  /** The peer-inbox message the commit admits was already taken by another commit. */
  | 'peer_message_taken'
  /** The change itself is malformed (e.g. a row of another runtime, an unserialisable document). */
  | 'invalid_change'
  /** The database refused the transaction for another reason (SQLSTATE in `code`). */
  | 'database'
  /** The connection failed; the transaction's outcome is unknown. */
  | 'unavailable'
  /** The store was closed. */
  | 'closed';

/** A commit that wrote nothing (or, for `unavailable`, whose outcome is unknown). */
export class StoreCommitError extends Error {
  constructor(
    message: string,
    readonly runtimeId: string,
    readonly reason: CommitFailureReason,
    readonly code: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreCommitError';
  }
}

/** The fields a driver error (node-postgres or PGlite) carries when the server refused a statement. */
export interface DatabaseErrorLike extends Error {
  /** The SQLSTATE, five characters (e.g. `23505`). */
  readonly code: string;
  readonly constraint?: string;
  readonly detail?: string;
}

/** Whether the server refused a statement (it reported a SQLSTATE), as opposed to a connection failure. */
export function isDatabaseError(error: unknown): error is DatabaseErrorLike {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** Unique violation. */
export const UNIQUE_VIOLATION = '23505';
/** Exclusion-constraint violation. */
export const EXCLUSION_VIOLATION = '23P01';

/** Name of the constraint keeping idempotency keys unique per runtime (migration 0001). */
export const IDEMPOTENCY_CONSTRAINT = 'meerkat_inputs_idempotency_key_unique';

/** Describes why the commit of `runtimeId` failed with `error`. */
export function commitFailure(runtimeId: string, error: unknown): StoreCommitError {
  if (error instanceof StoreCommitError) return error;
  if (isDatabaseError(error)) {
    if ((error.code === EXCLUSION_VIOLATION || error.code === UNIQUE_VIOLATION) && error.constraint === IDEMPOTENCY_CONSTRAINT) {
      const detail = error.detail ? `: ${error.detail}` : '';
      return new StoreCommitError(
        `commit of ${runtimeId} failed: duplicate idempotency key${detail}`,
        runtimeId,
        'duplicate_idempotency_key',
        error.code,
        { cause: error },
      );
    }
    return new StoreCommitError(
      `commit of ${runtimeId} failed: ${error.message} (SQLSTATE ${error.code})`,
      runtimeId,
      'database',
      error.code,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new StoreCommitError(
    `commit of ${runtimeId} failed: ${message} (no answer from the database: the outcome is unknown)`,
    runtimeId,
    'unavailable',
    null,
    { cause: error },
  );
}
