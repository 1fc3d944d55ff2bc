/**
 * Session leases in `meerkat_session_leases` (decision 12; the contract is `SessionLeases` in
 * `src/kernel/leases.ts`). Expiry is judged by the database clock (`now()`), never a replica's, so
 * replicas with skewed clocks agree on who owns what. Each operation is one statement: a claim is an
 * upsert that only takes the row when it is free, expired or already the claimant's; renewing
 * every lease of a replica is one `UPDATE`. A handover (migration `0006_lease_handover`) ends the
 * lease like a release and leaves its note in `handover_from` / `handover_executor`; the claim that
 * takes the lease next returns the note and clears it in the same statement.
 *
 * @example
 * ```ts
 * const leases = new PostgresSessionLeases(db);
 * const claim = await leases.claim({ session_id: id, replica_id: 'kernel-0', address: '10.0.0.7:50051', ttl_ms: 10_000 });
 * if (claim.kind === 'owned') console.log('commit with token', claim.token);
 * else console.log('forward to', claim.owner_address);
 * ```
 */
import { sql, type Kysely } from 'kysely';
import type { HandoverRequest, LeaseClaim, LeaseRequest, SessionLease, SessionLeases } from '../kernel/leases.js';
import type { Database } from './schema.js';

/** Largest lease lifetime accepted (one day): a longer one would hide a dead owner for too long. */
export const MAX_LEASE_TTL_MS = 24 * 60 * 60 * 1000;

function checkTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_LEASE_TTL_MS) {
    throw new RangeError(`lease ttl must be an integer number of ms in 1..${MAX_LEASE_TTL_MS}, got ${ttlMs}`);
  }
  return ttlMs;
}

export class PostgresSessionLeases implements SessionLeases {
  constructor(private readonly db: Kysely<Database>) {}

  async claim(r: LeaseRequest): Promise<LeaseClaim> {
    const ttl = checkTtl(r.ttl_ms);
    // `prev` reads the row as the statement's snapshot has it (before the upsert): its handover note,
    // if any, goes back to the claimant that takes the lease, and the upsert clears it. (A handover
    // needs a live lease, and a claimant only takes a lease it saw ended, so the note it takes is
    // already in its snapshot. `FOR UPDATE` would hide the row here: the upsert modifies it.)
    const taken = await sql<{ fencing_token: number; handover_from: string | null; handover_executor: string | null }>`
      WITH prev AS (
        SELECT handover_from, handover_executor FROM meerkat_session_leases WHERE session_id = ${r.session_id}
      )
      INSERT INTO meerkat_session_leases AS l (session_id, owner_replica, owner_address, fencing_token, expires_at)
      VALUES (${r.session_id}, ${r.replica_id}, ${r.address}, 1, now() + ${ttl} * interval '1 millisecond')
      ON CONFLICT (session_id) DO UPDATE SET
        fencing_token = CASE WHEN l.owner_replica = excluded.owner_replica AND l.expires_at > now()
                             THEN l.fencing_token ELSE l.fencing_token + 1 END,
        owner_replica = excluded.owner_replica,
        owner_address = excluded.owner_address,
        expires_at = excluded.expires_at,
        handover_from = NULL,
        handover_executor = NULL
      WHERE l.owner_replica = excluded.owner_replica OR l.expires_at <= now()
      RETURNING fencing_token, (SELECT handover_from FROM prev) AS handover_from, (SELECT handover_executor FROM prev) AS handover_executor
    `.execute(this.db);
    const row = taken.rows[0];
    if (row) {
      return row.handover_from === null
        ? { kind: 'owned', token: row.fencing_token }
        : { kind: 'owned', token: row.fencing_token, handover: { from_replica: row.handover_from, executor: row.handover_executor } };
    }
    const held = await this.lease(r.session_id);
    // The lease expired between the two statements: claim again (the upsert now takes it).
    if (!held || held.expires_in_ms <= 0) return this.claim(r);
    return { kind: 'held', owner_replica: held.owner_replica, owner_address: held.owner_address, expires_in_ms: held.expires_in_ms };
  }

  async renew(replicaId: string, ttlMs: number): Promise<ReadonlyMap<string, number>> {
    const ttl = checkTtl(ttlMs);
    const rows = await sql<{ session_id: string; fencing_token: number }>`
      UPDATE meerkat_session_leases SET expires_at = now() + ${ttl} * interval '1 millisecond'
      WHERE owner_replica = ${replicaId} AND expires_at > now()
      RETURNING session_id, fencing_token
    `.execute(this.db);
    return new Map(rows.rows.map((r) => [r.session_id, r.fencing_token]));
  }

  async release(replicaId: string, sessionIds?: readonly string[]): Promise<void> {
    if (sessionIds !== undefined && sessionIds.length === 0) return;
    let q = this.db
      .updateTable('meerkat_session_leases')
      .set({ expires_at: sql<Date>`now()` })
      .where('owner_replica', '=', replicaId)
      .where('expires_at', '>', sql<Date>`now()`);
    if (sessionIds !== undefined) q = q.where('session_id', 'in', sessionIds);
    await q.execute();
  }

  async handOver(r: HandoverRequest): Promise<boolean> {
    const rows = await sql<{ session_id: string }>`
      UPDATE meerkat_session_leases
      SET expires_at = now(), handover_from = ${r.replica_id}, handover_executor = ${r.executor}
      WHERE session_id = ${r.session_id} AND owner_replica = ${r.replica_id} AND fencing_token = ${r.token} AND expires_at > now()
      RETURNING session_id
    `.execute(this.db);
    return rows.rows.length > 0;
  }

  async lease(sessionId: string): Promise<SessionLease | null> {
    const rows = await sql<{ owner_replica: string; owner_address: string; fencing_token: number; expires_in_ms: number; handed_over_by: string | null }>`
      SELECT owner_replica, owner_address, fencing_token,
             floor(extract(epoch FROM (expires_at - now())) * 1000)::bigint AS expires_in_ms,
             handover_from AS handed_over_by
      FROM meerkat_session_leases WHERE session_id = ${sessionId}
    `.execute(this.db);
    const row = rows.rows[0];
    return row ? { session_id: sessionId, ...row } : null;
  }
}
