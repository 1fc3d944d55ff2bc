/**
 * Session ownership across replicas (decision 12): one lease per session names the replica that
 * owns it, the address other replicas reach it at, a fencing token and an expiry. A replica claims
 * a session's lease before it loads the session; every commit it makes for the session carries the
 * token it claimed ({@link CommitFence}), and the store applies the commit only while the lease
 * still holds that owner and token. A replica that stopped renewing (paused, partitioned) loses the
 * lease when it expires; the next claimant takes it over with token + 1, and the old owner's next
 * commit is refused.
 *
 * Handover: an owner may hand a lease it no longer needs to another replica ({@link SessionLeases.handOver}):
 * the lease ends at once, like a release, and keeps a note (who handed it over, the executor its
 * runtime loop had) that the next successful claim receives and clears, so the new owner re-attaches
 * the same executor after recovering the session.
 *
 * Expiry is judged by one clock for every replica: the database's (`now()`) in the PostgreSQL
 * implementation, the injected clock in {@link InMemorySessionLeases}.
 *
 * @example
 * ```ts
 * const leases = new InMemorySessionLeases(() => Date.now());
 * const a = await leases.claim({ session_id: id, replica_id: 'a', address: '10.0.0.1:50051', ttl_ms: 10_000 });
 * // a = { kind: 'owned', token: 1 }
 * const b = await leases.claim({ session_id: id, replica_id: 'b', address: '10.0.0.2:50051', ttl_ms: 10_000 });
 * // b = { kind: 'held', owner_replica: 'a', owner_address: '10.0.0.1:50051', expires_in_ms: 10000 }
 * ```
 */

/** What a commit is conditional on: the session's lease still has this owner and token. */
export interface CommitFence {
  readonly replica_id: string;
  readonly token: number;
}

/** A claim of one session's lease. */
export interface LeaseRequest {
  readonly session_id: string;
  readonly replica_id: string;
  /** `host:port` other replicas dial to reach the claimant. */
  readonly address: string;
  /** How long the lease lasts from now unless renewed (ms, > 0). */
  readonly ttl_ms: number;
}

/** The note a handed-over lease keeps until the next claim takes it. */
export interface LeaseHandover {
  /** The replica that handed the lease over. */
  readonly from_replica: string;
  /** The executor of the session's runtime loop at the handover (`null`: none was attached). */
  readonly executor: string | null;
}

/** A handover of one lease by its owner ({@link SessionLeases.handOver}). */
export interface HandoverRequest {
  readonly session_id: string;
  readonly replica_id: string;
  /** The token the owner holds: a lease with another token (taken over meanwhile) is left alone. */
  readonly token: number;
  readonly executor: string | null;
}

/**
 * The answer to a claim: the claimant owns the lease (with the token its commits must carry; with
 * `handover` when the previous owner handed the lease over), or a live other replica does.
 */
export type LeaseClaim =
  | { readonly kind: 'owned'; readonly token: number; readonly handover?: LeaseHandover }
  | { readonly kind: 'held'; readonly owner_replica: string; readonly owner_address: string; readonly expires_in_ms: number };

/** A lease as stored (diagnostics and tests). */
export interface SessionLease {
  readonly session_id: string;
  readonly owner_replica: string;
  readonly owner_address: string;
  readonly fencing_token: number;
  /** Remaining lifetime by the lease clock (ms); ≤ 0 when expired. */
  readonly expires_in_ms: number;
  /** The replica that handed the lease over, while the note waits for the next claim; else null. */
  readonly handed_over_by: string | null;
}

export interface SessionLeases {
  /**
   * Takes or keeps a session's lease. Free (no row) → token 1. Held by the claimant → renewed, same
   * token (its address updated). Expired, or released, and held by another → taken over, token + 1.
   * Live and held by another → `held`, nothing changes.
   */
  claim(request: LeaseRequest): Promise<LeaseClaim>;
  /**
   * Extends every live lease `replica_id` holds by `ttl_ms` in one write; returns the sessions it
   * still owns, with their tokens (a lease that expired and was taken over is not among them).
   */
  renew(replica_id: string, ttl_ms: number): Promise<ReadonlyMap<string, number>>;
  /** Ends `replica_id`'s leases (all, or those of `session_ids`) so another replica can take them at once. */
  release(replica_id: string, session_ids?: readonly string[]): Promise<void>;
  /**
   * Ends one live lease its owner holds with `token`, leaving the handover note for the next claim.
   * Returns false (and changes nothing) when the lease is no longer the owner's with that token.
   */
  handOver(request: HandoverRequest): Promise<boolean>;
  /** The session's lease, or null. */
  lease(session_id: string): Promise<SessionLease | null>;
}

interface LeaseRow {
  owner_replica: string;
  owner_address: string;
  fencing_token: number;
  expires_at: number;
  handover: LeaseHandover | null;
}

/** Leases in memory, judged by an injected clock (tests; a single process needs none). */
export class InMemorySessionLeases implements SessionLeases {
  private readonly rows = new Map<string, LeaseRow>();

  constructor(private readonly now: () => number = Date.now) {}

  async claim(r: LeaseRequest): Promise<LeaseClaim> {
    const now = this.now();
    const row = this.rows.get(r.session_id);
    if (row && row.owner_replica !== r.replica_id && row.expires_at > now) {
      return { kind: 'held', owner_replica: row.owner_replica, owner_address: row.owner_address, expires_in_ms: row.expires_at - now };
    }
    const token = row === undefined ? 1 : row.owner_replica === r.replica_id && row.expires_at > now ? row.fencing_token : row.fencing_token + 1;
    const handover = row?.handover ?? null;
    this.rows.set(r.session_id, { owner_replica: r.replica_id, owner_address: r.address, fencing_token: token, expires_at: now + r.ttl_ms, handover: null });
    return handover === null ? { kind: 'owned', token } : { kind: 'owned', token, handover };
  }

  async renew(replicaId: string, ttlMs: number): Promise<ReadonlyMap<string, number>> {
    const now = this.now();
    const owned = new Map<string, number>();
    for (const [id, row] of this.rows) {
      if (row.owner_replica === replicaId && row.expires_at > now) {
        row.expires_at = now + ttlMs;
        owned.set(id, row.fencing_token);
      }
    }
    return owned;
  }

  async release(replicaId: string, sessionIds?: readonly string[]): Promise<void> {
    const now = this.now();
    for (const [id, row] of this.rows) {
      if (row.owner_replica === replicaId && (sessionIds === undefined || sessionIds.includes(id))) row.expires_at = now;
    }
  }

  async handOver(r: HandoverRequest): Promise<boolean> {
    const now = this.now();
    const row = this.rows.get(r.session_id);
    if (!row || row.owner_replica !== r.replica_id || row.fencing_token !== r.token || row.expires_at <= now) return false;
    row.expires_at = now;
    row.handover = { from_replica: r.replica_id, executor: r.executor };
    return true;
  }

  async lease(sessionId: string): Promise<SessionLease | null> {
    const row = this.rows.get(sessionId);
    if (!row) return null;
    return {
      session_id: sessionId,
      owner_replica: row.owner_replica,
      owner_address: row.owner_address,
      fencing_token: row.fencing_token,
      expires_in_ms: row.expires_at - this.now(),
      handed_over_by: row.handover?.from_replica ?? null,
    };
  }

  /** Whether a commit with `fence` for `sessionId` may apply (the store's check). */
  admits(sessionId: string, fence: CommitFence): boolean {
    const row = this.rows.get(sessionId);
    return row !== undefined && row.owner_replica === fence.replica_id && row.fencing_token === fence.token;
  }
}

/**
 * A commit the store refused because its fence is stale: the session's lease has another owner or
 * a newer token. Nothing of the commit was written; the replica no longer owns the session.
 */
export class CommitFencedError extends Error {
  constructor(
    readonly runtimeId: string,
    readonly sessionId: string,
    readonly fence: CommitFence,
  ) {
    super(`commit of ${runtimeId} refused: replica ${fence.replica_id} no longer holds the session's lease with token ${fence.token}; nothing was written`);
    this.name = 'CommitFencedError';
  }
}
