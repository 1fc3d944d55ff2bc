/**
 * The kysely view of the kernel's PostgreSQL schema (persistence.md §2.6, decisions 5, 11, 12).
 *
 * Conventions, one for every table:
 *
 * - **Timestamps the kernel hands over are epoch milliseconds** (`number`) and are stored as
 *   `BIGINT` milliseconds: exact, cheap to compare, and read back as the same number. Only
 *   `meerkat_session_leases.expires_at` is a `TIMESTAMPTZ`, because lease expiry is judged by the
 *   database clock (decision 12).
 * - **`BIGINT` columns read back as JS `number`s.** `connection.ts` installs an `int8` parser on
 *   both drivers that refuses values outside `Number.MAX_SAFE_INTEGER` instead of losing
 *   precision, so the types below say `number`.
 * - **Payloads the kernel compares byte-for-byte are `TEXT` holding JSON, never `jsonb`** (`jsonb`
 *   reorders keys and normalises whitespace). Such columns are typed {@link JsonText}.
 * - Enumerations are plain `TEXT`; their TypeScript types here are the kernel's unions.
 *
 * @example
 * ```ts
 * import type { Kysely } from 'kysely';
 * import type { Database } from './schema.js';
 *
 * async function phaseOf(db: Kysely<Database>, runtimeId: string) {
 *   const row = await db.selectFrom('meerkat_sessions').select('durable_phase')
 *     .where('runtime_id', '=', runtimeId).executeTakeFirst();
 *   return row?.durable_phase ?? null;
 * }
 * ```
 */
import type { ColumnType, Generated } from 'kysely';
import type { Phase, RuntimeBoundary } from '../machine/index.js';
import type { Durability } from '../kernel/input.js';
import type { InputPublicPhase, RoutedSignalKind } from '../kernel/store.js';

/** Epoch milliseconds in a `BIGINT` column. */
export type EpochMs = number;
/** A `BIGINT` column that is not a timestamp (sequences, counters, fencing tokens). */
export type Int8 = number;
/** JSON text stored byte-for-byte in a `TEXT` column. */
export type JsonText = string;

/** `meerkat_sessions`: one row per runtime, the whole machine document (WholeBlobV1). */
export interface SessionsTable {
  readonly runtime_id: string;
  readonly session_id: string;
  readonly epoch_id: string;
  /** The phase to recover into (machine.md §2.6). */
  readonly durable_phase: Phase;
  /** `JSON.stringify` of the `MachineState`. */
  readonly machine: JsonText;
  readonly updated_at: EpochMs;
}

/** `meerkat_inputs`: one durable row per input, keyed `(runtime_id, input_id)` (persistence.md §1.1). */
export interface InputsTable {
  readonly runtime_id: string;
  readonly input_id: string;
  readonly phase: InputPublicPhase;
  /** JSON of the `TerminalOutcomeView`; `NULL` while the input is not terminal (retention keys on this). */
  readonly terminal_outcome: JsonText | null;
  readonly durability: Durability;
  /** Unique per runtime when not `NULL` (a deferred exclusion constraint: the final-image rule of §1.5). */
  readonly idempotency_key: string | null;
  readonly lane: 'queue' | 'steer' | null;
  readonly admission_sequence: Int8 | null;
  readonly attempt_count: number;
  readonly last_run_id: string | null;
  readonly last_boundary_sequence: Int8 | null;
  /** JSON of the submitted `Input` (content externalised to `content_blob_id` when large). */
  readonly input: JsonText;
  readonly content_blob_id: string | null;
  /** JSON of the admission-stamped runtime semantics (boundary, execution kind, …); recovery re-installs it. */
  readonly runtime_semantics: string | null;
  /** JSON of the completion the input's run produced, or NULL. */
  readonly terminal_completion: string | null;
  /** JSON array of `InputHistoryEntry`. */
  readonly history: JsonText;
  readonly trace_context: string | null;
  readonly created_at: EpochMs;
  readonly updated_at: EpochMs;
}

/** `meerkat_boundary_receipts`: plain-inserted; a duplicate `(runtime_id, run_id, sequence)` fails the commit. */
export interface BoundaryReceiptsTable {
  readonly runtime_id: string;
  readonly run_id: string;
  readonly sequence: Int8;
  readonly boundary: RuntimeBoundary;
  /** JSON array of input ids, in contribution order. */
  readonly contributing_input_ids: JsonText;
  readonly conversation_digest: string | null;
  readonly message_count: number;
  /** The committing document's `updated_at` (retention keys on this). */
  readonly created_at: EpochMs;
}

/**
 * `meerkat_ops_snapshots`: the async-operations part of the machine document (persistence.md §4.3),
 * written from the committed document whenever it changed.
 */
export interface OpsSnapshotsTable {
  readonly runtime_id: string;
  readonly epoch_id: string;
  /** JSON object of every `op_*` and `completion_*` field of the machine document. */
  readonly snapshot: JsonText;
  readonly next_completion_seq: Int8;
  readonly completion_agent_applied_cursor: Int8;
  readonly completion_runtime_observed_cursor: Int8;
  readonly completion_runtime_injected_cursor: Int8;
  readonly updated_at: EpochMs;
}

/** `meerkat_signal_outbox`: routed composition signals (decision 5), global gap-free `sequence`. */
export interface SignalOutboxTable {
  readonly sequence: Int8;
  readonly kind: RoutedSignalKind;
  readonly session_id: string;
  readonly runtime_id: string;
  readonly agent_runtime_id: string;
  readonly fence_token: Int8;
  readonly trace_context: string | null;
  readonly created_at: EpochMs;
}

/**
 * `meerkat_signal_sequence`: a single row (`id = 1`) holding the last allocated outbox sequence.
 * A committing transaction allocates `n` sequences with one `UPDATE … SET value = value + n
 * RETURNING value`; the row lock it takes serialises allocation until COMMIT, which keeps the
 * sequence gap-free (a rolled-back transaction rolls its allocation back too) and makes signals
 * visible in sequence order.
 */
export interface SignalSequenceTable {
  readonly id: number;
  readonly value: Int8;
}

/** `meerkat_signal_consumers`: each consumer's acknowledged cursor (never moves back). */
export interface SignalConsumersTable {
  readonly consumer: string;
  readonly cursor: Int8;
}

/** `meerkat_blobs`: content-addressed blobs (persistence.md §3); `blob_id` is `sha256:<hex>` of `bytes`. */
export interface BlobsTable {
  readonly blob_id: string;
  readonly media_type: string;
  readonly size: number;
  readonly bytes: ColumnType<Uint8Array, Uint8Array, never>;
  readonly created_at: EpochMs;
}

/** `meerkat_session_leases`: session ownership across replicas (decision 12). Created now, used by the replica layer. */
export interface SessionLeasesTable {
  readonly session_id: string;
  readonly owner_replica: string;
  readonly owner_address: string;
  readonly fencing_token: Int8;
  /** Judged by the database clock (`now()`), never the replica's. */
  readonly expires_at: ColumnType<Date, Date | string, Date | string>;
  /** Set by a handover (migration 0006): the replica that handed the lease over; cleared by the next claim. */
  readonly handover_from: ColumnType<string | null, string | null | undefined, string | null>;
  /** Set by a handover: the executor the session's runtime loop had (null: none). */
  readonly handover_executor: ColumnType<string | null, string | null | undefined, string | null>;
}

/**
 * `meerkat_peer_inbox`: each session's durable peer inbox (decision 9), in arrival order
 * (`sequence`, an identity column). A row is written before the delivering call is acknowledged
 * and deleted in the commit that admits it as a peer input (or when the session refuses it).
 */
export interface PeerInboxTable {
  readonly runtime_id: string;
  readonly sequence: Generated<Int8>;
  readonly session_id: string;
  /** `JSON.stringify` of the validated `Input`. */
  readonly input: JsonText;
  readonly created_at: EpochMs;
}

/** Every table of the kernel's store, by name (all prefixed `meerkat_`). */
export interface Database {
  readonly meerkat_sessions: SessionsTable;
  readonly meerkat_inputs: InputsTable;
  readonly meerkat_boundary_receipts: BoundaryReceiptsTable;
  readonly meerkat_ops_snapshots: OpsSnapshotsTable;
  readonly meerkat_signal_outbox: SignalOutboxTable;
  readonly meerkat_signal_sequence: SignalSequenceTable;
  readonly meerkat_signal_consumers: SignalConsumersTable;
  readonly meerkat_blobs: BlobsTable;
  readonly meerkat_session_leases: SessionLeasesTable;
  readonly meerkat_peer_inbox: PeerInboxTable;
}

/** Names of the tables above, for checks that walk the schema. */
export const TABLE_NAMES: readonly (keyof Database)[] = [
  'meerkat_sessions',
  'meerkat_inputs',
  'meerkat_boundary_receipts',
  'meerkat_ops_snapshots',
  'meerkat_signal_outbox',
  'meerkat_signal_sequence',
  'meerkat_signal_consumers',
  'meerkat_blobs',
  'meerkat_session_leases',
  'meerkat_peer_inbox',
];
