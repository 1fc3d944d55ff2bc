/**
 * Every migration of the kernel's schema, in order. Listed in code (no filesystem globbing) so
 * they run the same from `src/` under tsx and from the compiled `dist/`.
 *
 * To add one: create `NNNN_name.ts` exporting `up` (and `down`), then add it below under the
 * same name. Names sort lexically, so keep the four-digit prefix.
 */
import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_input_runtime_semantics.js';
import * as m0003 from './0003_terminal_completion.js';
import * as m0004 from './0004_signal_notify.js';
import * as m0005 from './0005_peer_inbox.js';
import * as m0006 from './0006_lease_handover.js';

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial': m0001,
  '0002_input_runtime_semantics': m0002,
  '0003_terminal_completion': m0003,
  '0004_signal_notify': m0004,
  '0005_peer_inbox': m0005,
  '0006_lease_handover': m0006,
};
