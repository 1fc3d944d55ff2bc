import { v7 as uuidv7, validate as uuidValidate, version as uuidVersion } from 'uuid';
import { invalidField } from './errors.js';

/** Prefix of a session's runtime id (decision 13). */
export const RUNTIME_ID_PREFIX = 'rt:session:';

/** A fresh, time-ordered UUID v7 (sessions, inputs, runs, work ids). */
export function newId(): string {
  return uuidv7();
}

/** The runtime id of a session: `rt:session:<uuid>`. */
export function runtimeIdOf(sessionId: string): string {
  return `${RUNTIME_ID_PREFIX}${sessionId}`;
}

/**
 * Validates a caller-supplied UUID v7 (session, input or run id) and returns its
 * canonical lowercase form. Throws `INVALID_ARGUMENT` naming the field.
 */
export function parseUuidV7(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw invalidField(field, 'is required (a UUID v7 string)');
  const id = raw.toLowerCase();
  if (!uuidValidate(id)) throw invalidField(field, `"${truncate(raw)}" is not a UUID`);
  if (uuidVersion(id) !== 7) throw invalidField(field, `"${truncate(raw)}" is a UUID v${uuidVersion(id)}; a UUID v7 is required`);
  return id;
}

/**
 * Parses a runtime id `rt:session:<uuid v7>` and returns the session id.
 * A bare session uuid is refused: it is not a runtime id.
 */
export function parseRuntimeId(raw: unknown, field = 'runtime_id'): string {
  if (typeof raw !== 'string' || raw.length === 0) throw invalidField(field, 'is required (rt:session:<uuid>)');
  if (!raw.startsWith(RUNTIME_ID_PREFIX)) {
    if (uuidValidate(raw)) {
      throw invalidField(field, `"${raw}" is a bare session uuid; a runtime id has the form rt:session:<uuid>`);
    }
    throw invalidField(field, `"${truncate(raw)}" is not a runtime id (expected rt:session:<uuid>)`);
  }
  return parseUuidV7(raw.slice(RUNTIME_ID_PREFIX.length), field);
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
