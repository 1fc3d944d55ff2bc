/**
 * The sidecar's tables (kysely types), all prefixed `mob_`, on the same database as the kernel
 * (PostgreSQL) or in the sidecar's own PGlite directory. JSON payloads are `TEXT`; times are epoch
 * milliseconds as `BIGINT`.
 *
 * | table | holds |
 * |---|---|
 * | `mob_mobs` | one row per mob: its definition |
 * | `mob_states` | the MobMachine state snapshot per mob, with an optimistic `version` |
 * | `mob_events` | the append-only journal (`mob.md` §3.3); `cursor` store-assigned and increasing |
 * | `mob_members` | roster projection: every identity the mob has seen, with its current binding |
 * | `mob_wiring` | wiring projection: normalized edges `a < b` |
 * | `mob_sessions` | every kernel session a member incarnation used → its mob (routes signals) |
 * | `mob_outbound` | kernel requests committed with the transition that emitted them, not yet delivered |
 * | `mob_signal_cursors` | per consumer: last applied kernel signal sequence and fold counters |
 *
 * Exactly-once: the transaction that applies a signal's effect on a mob also moves the cursor
 * forward past that signal (and refuses to move it to a sequence it already passed).
 */
import type { Generated } from 'kysely';

export interface MobsTable {
  readonly mob_id: string;
  readonly definition: string;
  readonly created_at: number;
}

export interface MobStatesTable {
  readonly mob_id: string;
  readonly state: string;
  readonly version: number;
  readonly updated_at: number;
}

export interface MobEventsTable {
  readonly cursor: Generated<number>;
  readonly mob_id: string;
  readonly type: string;
  readonly payload: string;
  readonly created_at: number;
}

export interface MobMembersTable {
  readonly mob_id: string;
  readonly agent_identity: string;
  readonly profile: string;
  /** JSON object of labels. */
  readonly labels: string;
  readonly status: string;
  readonly session_id: string | null;
  readonly agent_runtime_id: string | null;
  readonly generation: number;
  readonly fence_token: number;
  readonly updated_at: number;
}

export interface MobWiringTable {
  readonly mob_id: string;
  readonly a: string;
  readonly b: string;
}

export interface MobSessionsTable {
  readonly session_id: string;
  readonly mob_id: string;
  readonly agent_identity: string;
  readonly generation: number;
  readonly created_at: number;
}

export interface MobOutboundTable {
  readonly id: Generated<number>;
  readonly mob_id: string;
  /** JSON of an `OutboundRequest` (sidecar/runtime/outbound.ts). */
  readonly request: string;
  /** W3C traceparent of the context that emitted it. */
  readonly trace_context: string | null;
  readonly created_at: number;
}

export interface MobSignalCursorsTable {
  readonly consumer: string;
  readonly sequence: number;
  readonly applied: number;
  readonly dropped: number;
  readonly updated_at: number;
}

export interface SidecarDatabase {
  readonly mob_mobs: MobsTable;
  readonly mob_states: MobStatesTable;
  readonly mob_events: MobEventsTable;
  readonly mob_members: MobMembersTable;
  readonly mob_wiring: MobWiringTable;
  readonly mob_sessions: MobSessionsTable;
  readonly mob_outbound: MobOutboundTable;
  readonly mob_signal_cursors: MobSignalCursorsTable;
}

export const SIDECAR_TABLES = [
  'mob_mobs',
  'mob_states',
  'mob_events',
  'mob_members',
  'mob_wiring',
  'mob_sessions',
  'mob_outbound',
  'mob_signal_cursors',
] as const satisfies readonly (keyof SidecarDatabase)[];
