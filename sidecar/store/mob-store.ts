/**
 * The sidecar's durable store over the tables of `schema.ts`: mobs, their MobMachine state
 * snapshots, the append-only journal, the roster and wiring projections, the session → mob
 * routing table, the outbound kernel-request FIFO and the durable signal cursor.
 *
 * Every change a mob transition causes is ONE transaction ({@link MobStore.commit}): journal
 * events first, then the state snapshot (optimistic `version` check; skipped with the projections
 * when the state did not change, e.g. a dropped signal), projections, sessions,
 * outbound requests enqueued/removed, and — when a kernel signal caused it — the consumer cursor,
 * which only moves forward: a signal whose sequence the cursor already passed fails the whole
 * transaction ({@link SignalAlreadyApplied}), so no signal is applied twice, and none is skipped
 * because the cursor never passes a signal whose effect did not commit.
 *
 * @example
 * ```ts
 * const store = await openMobStore({ dataDir: '.meerkat/sidecar' });
 * const mobs = await store.loadMobs();
 * await store.close();
 * ```
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { openDatabase, type OpenDatabaseOptions } from '../../src/store/connection.js';
import type { MobDefinition } from '../definition.js';
import { MobError } from '../errors.js';
import type { MobState, WiringEdge } from '../machine/index.js';
import type { OutboundRequest, QueuedRequest } from '../runtime/outbound.js';
import { migrateSidecar } from './migrations.js';
import type { SidecarDatabase } from './schema.js';

/** A journal event to append. */
export interface NewMobEvent {
  readonly type: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A journal event as stored. */
export interface MobEventRecord {
  readonly cursor: number;
  readonly mob_id: string;
  readonly type: string;
  /** The payload's JSON text. */
  readonly payload: string;
  readonly created_at: number;
}

/** One row of the roster projection. */
export interface MemberRecord {
  readonly agent_identity: string;
  readonly profile: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly status: string;
  readonly session_id: string | null;
  readonly agent_runtime_id: string | null;
  readonly generation: number;
  readonly fence_token: number;
}

/** A mob as loaded at start. */
export interface LoadedMob {
  readonly mob_id: string;
  readonly definition: MobDefinition;
  readonly state: MobState;
  readonly version: number;
  readonly members: readonly MemberRecord[];
}

/**
 * The consecutive kernel signals `first..last` (as delivered, in order) that caused a commit, and
 * how many of them the machine applied and dropped.
 */
export interface SignalProgress {
  readonly consumer: string;
  readonly first: number;
  readonly last: number;
  readonly applied: number;
  readonly dropped: number;
}

/** Everything one mob transition (or a batch of them) changes. */
export interface MobCommit {
  readonly mob_id: string;
  readonly expected_version: number;
  /** The new state snapshot, or `null` when the state did not change (no write, version kept). */
  readonly state: MobState | null;
  readonly events: readonly NewMobEvent[];
  /** The full roster projection after the change (replaces the previous one), or `null` when unchanged. */
  readonly members: readonly MemberRecord[] | null;
  /** The full wiring after the change, or `null` when unchanged. */
  readonly wiring: readonly WiringEdge[] | null;
  readonly sessions: readonly { readonly session_id: string; readonly agent_identity: string; readonly generation: number }[];
  readonly enqueue: readonly { readonly request: OutboundRequest; readonly trace_context: string | null }[];
  readonly dequeue: readonly number[];
  readonly signal: SignalProgress | null;
}

export interface MobCommitResult {
  readonly version: number;
  readonly events: readonly MobEventRecord[];
  readonly enqueued: readonly QueuedRequest[];
}

/** The cursor already passed this signal: the transaction that would apply it again was rolled back. */
export class SignalAlreadyApplied extends Error {
  constructor(
    readonly consumer: string,
    readonly sequence: number,
  ) {
    super(`signal ${sequence} was already applied by consumer ${consumer}`);
    this.name = 'SignalAlreadyApplied';
  }
}

/** Another writer changed the mob's state since it was read. */
export class MobVersionConflict extends Error {
  constructor(readonly mobId: string) {
    super(`mob ${mobId} was changed concurrently (state version mismatch)`);
    this.name = 'MobVersionConflict';
  }
}

export interface SignalCursor {
  readonly sequence: number;
  readonly applied: number;
  readonly dropped: number;
}

export class MobStore {
  constructor(
    readonly db: Kysely<SidecarDatabase>,
    readonly kind: 'postgres' | 'pglite',
    readonly location: string,
    /** Migrations the open applied. */
    readonly migrations: readonly string[],
    private readonly onClose: () => Promise<void>,
  ) {}

  /** Creates a mob: definition, initial state (version 1) and its `mob_created` event. */
  async createMob(definition: MobDefinition, state: MobState, now = Date.now()): Promise<MobEventRecord> {
    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('mob_mobs')
        .values({ mob_id: definition.id, definition: JSON.stringify(definition), created_at: now })
        .onConflict((oc) => oc.column('mob_id').doNothing())
        .returning('mob_id')
        .executeTakeFirst();
      if (!inserted) throw new MobError('MOB_ALREADY_EXISTS', `mob ${definition.id} already exists`, { mob_id: definition.id });
      const [event] = await appendEvents(trx, definition.id, [{ type: 'mob_created', payload: { definition } }], now);
      await trx.insertInto('mob_states').values({ mob_id: definition.id, state: JSON.stringify(state), version: 1, updated_at: now }).execute();
      return event as MobEventRecord;
    });
  }

  /** Every mob with its state snapshot and roster projection. */
  async loadMobs(): Promise<LoadedMob[]> {
    const rows = await this.db
      .selectFrom('mob_mobs')
      .innerJoin('mob_states', 'mob_states.mob_id', 'mob_mobs.mob_id')
      .select(['mob_mobs.mob_id', 'mob_mobs.definition', 'mob_states.state', 'mob_states.version'])
      .orderBy('mob_mobs.mob_id')
      .execute();
    const members = await this.db.selectFrom('mob_members').selectAll().orderBy('mob_id').orderBy('agent_identity').execute();
    return rows.map((r) => ({
      mob_id: r.mob_id,
      definition: JSON.parse(r.definition) as MobDefinition,
      state: JSON.parse(r.state) as MobState,
      version: r.version,
      members: members.filter((m) => m.mob_id === r.mob_id).map(memberFromRow),
    }));
  }

  /** Applies one mob change atomically (module comment). */
  async commit(c: MobCommit, now = Date.now()): Promise<MobCommitResult> {
    return this.db.transaction().execute(async (trx) => {
      if (c.signal) await advanceCursor(trx, c.signal, now);
      const events = await appendEvents(trx, c.mob_id, c.events, now);
      let version = c.expected_version;
      if (c.state !== null) {
        version += 1;
        const updated = await trx
          .updateTable('mob_states')
          .set({ state: JSON.stringify(c.state), version, updated_at: now })
          .where('mob_id', '=', c.mob_id)
          .where('version', '=', c.expected_version)
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) throw new MobVersionConflict(c.mob_id);
      }
      if (c.members !== null) {
        await trx.deleteFrom('mob_members').where('mob_id', '=', c.mob_id).execute();
        if (c.members.length > 0) {
          await trx
            .insertInto('mob_members')
            .values(
              c.members.map((m) => ({
                mob_id: c.mob_id,
                agent_identity: m.agent_identity,
                profile: m.profile,
                labels: JSON.stringify(m.labels),
                status: m.status,
                session_id: m.session_id,
                agent_runtime_id: m.agent_runtime_id,
                generation: m.generation,
                fence_token: m.fence_token,
                updated_at: now,
              })),
            )
            .execute();
        }
      }
      if (c.wiring !== null) {
        await trx.deleteFrom('mob_wiring').where('mob_id', '=', c.mob_id).execute();
        if (c.wiring.length > 0) await trx.insertInto('mob_wiring').values(c.wiring.map((e) => ({ mob_id: c.mob_id, a: e.a, b: e.b }))).execute();
      }
      if (c.sessions.length > 0) {
        await trx
          .insertInto('mob_sessions')
          .values(c.sessions.map((s) => ({ ...s, mob_id: c.mob_id, created_at: now })))
          .onConflict((oc) => oc.column('session_id').doNothing())
          .execute();
      }
      if (c.dequeue.length > 0) await trx.deleteFrom('mob_outbound').where('mob_id', '=', c.mob_id).where('id', 'in', [...c.dequeue]).execute();
      const enqueued: QueuedRequest[] = [];
      for (const e of c.enqueue) {
        const row = await trx
          .insertInto('mob_outbound')
          .values({ mob_id: c.mob_id, request: JSON.stringify(e.request), trace_context: e.trace_context, created_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        enqueued.push({ id: row.id, request: e.request, trace_context: e.trace_context });
      }
      return { version, events, enqueued };
    });
  }

  /** Consecutive signals no mob owns: moves the cursor past them and counts them dropped. */
  async skipSignals(consumer: string, first: number, last: number, count: number, now = Date.now()): Promise<void> {
    await this.db.transaction().execute((trx) => advanceCursor(trx, { consumer, first, last, applied: 0, dropped: count }, now));
  }

  /** The consumer's cursor (created at 0 when missing). */
  async signalCursor(consumer: string, now = Date.now()): Promise<SignalCursor> {
    await this.db
      .insertInto('mob_signal_cursors')
      .values({ consumer, sequence: 0, applied: 0, dropped: 0, updated_at: now })
      .onConflict((oc) => oc.column('consumer').doNothing())
      .execute();
    const row = await this.db.selectFrom('mob_signal_cursors').select(['sequence', 'applied', 'dropped']).where('consumer', '=', consumer).executeTakeFirstOrThrow();
    return row;
  }

  /** Queued kernel requests of a mob, oldest first. */
  async pendingRequests(mobId: string): Promise<QueuedRequest[]> {
    const rows = await this.db.selectFrom('mob_outbound').selectAll().where('mob_id', '=', mobId).orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, request: JSON.parse(r.request) as OutboundRequest, trace_context: r.trace_context }));
  }

  /** How many kernel signals the mob's machine applied and dropped (its `signal_folded` events). */
  async foldCounts(mobId: string): Promise<{ readonly applied: number; readonly dropped: number }> {
    const r = await sql<{ applied: number; dropped: number }>`
      SELECT count(*) FILTER (WHERE payload::json->>'outcome' = 'applied')::bigint AS applied,
             count(*) FILTER (WHERE payload::json->>'outcome' = 'dropped')::bigint AS dropped
      FROM mob_events WHERE mob_id = ${mobId} AND type = 'signal_folded'`.execute(this.db);
    const row = r.rows[0];
    return { applied: Number(row?.applied ?? 0), dropped: Number(row?.dropped ?? 0) };
  }

  /** Every session → mob routing entry. */
  async sessionOwners(): Promise<{ readonly session_id: string; readonly mob_id: string }[]> {
    return this.db.selectFrom('mob_sessions').select(['session_id', 'mob_id']).execute();
  }

  /** Journal events of a mob after `afterCursor`, oldest first. */
  async readEvents(mobId: string, afterCursor: number, limit: number): Promise<MobEventRecord[]> {
    return this.db
      .selectFrom('mob_events')
      .selectAll()
      .where('mob_id', '=', mobId)
      .where('cursor', '>', afterCursor)
      .orderBy('cursor')
      .limit(limit)
      .execute();
  }

  /** Closes the database. Idempotent. */
  close(): Promise<void> {
    return this.onClose();
  }
}

async function appendEvents(trx: Transaction<SidecarDatabase>, mobId: string, events: readonly NewMobEvent[], now: number): Promise<MobEventRecord[]> {
  const out: MobEventRecord[] = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_STATEMENT) {
    const rows = events.slice(i, i + EVENTS_PER_STATEMENT).map((e) => ({ mob_id: mobId, type: e.type, payload: JSON.stringify(e.payload), created_at: now }));
    const inserted = await trx.insertInto('mob_events').values(rows).returningAll().execute();
    // Cursors come from one sequence in row order; sort in case RETURNING does not keep it.
    out.push(...inserted.sort((x, y) => x.cursor - y.cursor));
  }
  return out;
}

/** Journal rows per multi-row INSERT (4 parameters each, far below Postgres's 65 535). */
const EVENTS_PER_STATEMENT = 1000;

async function advanceCursor(trx: Transaction<SidecarDatabase>, p: SignalProgress, now: number): Promise<void> {
  // One statement: create the cursor past these signals, or move it forward — never over a signal it passed.
  const moved = await sql<{ consumer: string }>`
    INSERT INTO mob_signal_cursors (consumer, sequence, applied, dropped, updated_at)
    VALUES (${p.consumer}, ${p.last}, ${p.applied}, ${p.dropped}, ${now})
    ON CONFLICT (consumer) DO UPDATE SET
      sequence = excluded.sequence,
      applied = mob_signal_cursors.applied + excluded.applied,
      dropped = mob_signal_cursors.dropped + excluded.dropped,
      updated_at = excluded.updated_at
    WHERE mob_signal_cursors.sequence < ${p.first}
    RETURNING consumer`.execute(trx);
  if (moved.rows.length !== 1) throw new SignalAlreadyApplied(p.consumer, p.first);
}

function memberFromRow(r: {
  agent_identity: string;
  profile: string;
  labels: string;
  status: string;
  session_id: string | null;
  agent_runtime_id: string | null;
  generation: number;
  fence_token: number;
}): MemberRecord {
  return {
    agent_identity: r.agent_identity,
    profile: r.profile,
    labels: JSON.parse(r.labels) as Record<string, string>,
    status: r.status,
    session_id: r.session_id,
    agent_runtime_id: r.agent_runtime_id,
    generation: r.generation,
    fence_token: r.fence_token,
  };
}

/**
 * Opens the sidecar's database with the kernel's connection rules (`DATABASE_URL` → PostgreSQL,
 * else PGlite in `dataDir`) and migrates the `mob_` tables.
 */
export async function openMobStore(options: OpenDatabaseOptions = {}): Promise<MobStore> {
  const handle = await openDatabase(options);
  // Same connection, the sidecar's own tables.
  const db = handle.db as unknown as Kysely<SidecarDatabase>;
  let migrations: readonly string[];
  try {
    migrations = await migrateSidecar(db as unknown as Kysely<unknown>);
  } catch (e) {
    await handle.close();
    throw e;
  }
  return new MobStore(db, handle.kind, handle.location, migrations, () => handle.close());
}
