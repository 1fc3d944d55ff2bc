/**
 * Helpers for the multi-replica end-to-end tests (replicas*.test.ts, replica-handover.test.ts):
 * a kernel replica process on one PostgreSQL database with its clients, direct queries of the
 * stored rows, gRPC error classification and the checks of a session's stored run history.
 */
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { IngressServiceClient } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import { Durability, HandlingMode, type Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { freePort, insecure, startServer, type RunningServer } from './harness.js';

export interface Replica {
  readonly id: string;
  readonly address: string;
  readonly server: RunningServer;
  readonly sessions: SessionServiceClient;
  readonly ingress: IngressServiceClient;
  close(): void;
}

/** Starts a kernel process on `databaseUrl` as replica `id` (advertising its loopback address). */
export async function startReplica(id: string, databaseUrl: string, env: Readonly<Record<string, string>> = {}): Promise<Replica> {
  const address = `127.0.0.1:${await freePort()}`;
  const server = await startServer(
    {
      DATABASE_URL: databaseUrl,
      MEERKAT_LISTEN: address,
      MEERKAT_ADVERTISE_ADDR: address,
      MEERKAT_REPLICA_ID: id,
      MEERKAT_LOG_LEVEL: 'info',
      ...env,
    },
    60_000,
  );
  const sessions = new SessionServiceClient(address, insecure());
  const ingress = new IngressServiceClient(address, insecure());
  return {
    id,
    address,
    server,
    sessions,
    ingress,
    close() {
      sessions.close();
      ingress.close();
    },
  };
}

export function prompt(text: string, idempotencyKey?: string): Input {
  return {
    durability: Durability.UNSPECIFIED,
    ...(idempotencyKey !== undefined ? { idempotency_key: idempotencyKey } : {}),
    body: { input_type: { $case: 'prompt', prompt: { text, handling_mode: HandlingMode.UNSPECIFIED } } },
  };
}

/** One short-lived connection per query (the tests' own view of the stored rows). */
export async function rowsOf<T extends object>(databaseUrl: string, text: string, values: readonly unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, [...values])).rows as T[];
  } finally {
    await client.end();
  }
}

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === 'number';
}

/** How long the server asked the client to wait (RetryInfo), or null when it did not say. */
export function retryDelayOf(e: unknown): number | null {
  return isServiceError(e) ? (decodeErrorDetails(e)?.retryDelayMs ?? null) : null;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LeaseRow {
  readonly session_id: string;
  readonly owner_replica: string;
  readonly fencing_token: number;
  readonly live: boolean;
}

export function leasesOf(databaseUrl: string): Promise<LeaseRow[]> {
  return rowsOf<LeaseRow>(
    databaseUrl,
    'SELECT session_id, owner_replica, fencing_token::int AS fencing_token, expires_at > now() AS live FROM meerkat_session_leases',
  );
}

export interface HistoryEntry {
  readonly at: number;
  readonly from: string | null;
  readonly to: string;
  readonly reason: string | null;
}

export interface StoredInput {
  readonly runtime_id: string;
  readonly input_id: string;
  readonly idempotency_key: string | null;
  readonly phase: string;
  readonly terminal_outcome: string | null;
  readonly last_run_id: string | null;
  readonly history: HistoryEntry[];
}

export async function inputsOf(databaseUrl: string): Promise<StoredInput[]> {
  const rows = await rowsOf<Omit<StoredInput, 'history'> & { history: string }>(
    databaseUrl,
    'SELECT runtime_id, input_id, idempotency_key, phase, terminal_outcome, last_run_id, history FROM meerkat_inputs',
  );
  return rows.map((r) => ({ ...r, history: JSON.parse(r.history) as HistoryEntry[] }));
}

export interface StoredReceipt {
  readonly runtime_id: string;
  readonly run_id: string;
  readonly sequence: number;
  readonly contributing_input_ids: string[];
}

export async function receiptsOf(databaseUrl: string): Promise<StoredReceipt[]> {
  const rows = await rowsOf<Omit<StoredReceipt, 'contributing_input_ids'> & { contributing_input_ids: string }>(
    databaseUrl,
    'SELECT runtime_id, run_id, sequence::int AS sequence, contributing_input_ids FROM meerkat_boundary_receipts',
  );
  return rows.map((r) => ({ ...r, contributing_input_ids: JSON.parse(r.contributing_input_ids) as string[] }));
}

export const TERMINAL_PHASES: ReadonlySet<string> = new Set(['consumed', 'superseded', 'coalesced', 'abandoned']);

/**
 * The time intervals during which each stored input was part of a run: from a commit that staged it
 * to the next commit that moved it on (its boundary commit, a rollback, or the recovery of a new
 * owner re-queueing it). The inputs of one run are staged by one commit and leave it by one commit,
 * so they share one interval; an interval still open (staged at the end) runs to `Infinity`. An
 * input's last run is known by id (`last_run_id`), so two different last runs never merge into one
 * even if their commits fell in the same milliseconds.
 */
export function runIntervals(inputs: readonly StoredInput[]): { readonly start: number; readonly end: number; readonly inputIds: string[] }[] {
  const byInterval = new Map<string, { start: number; end: number; inputIds: string[] }>();
  for (const input of inputs) {
    const lastStaged = input.history.map((h) => h.to).lastIndexOf('staged');
    input.history.forEach((h, i) => {
      if (h.to !== 'staged') return;
      const end = input.history[i + 1]?.at ?? Number.POSITIVE_INFINITY;
      const key = i === lastStaged && input.last_run_id !== null ? `run ${input.last_run_id}` : `${h.at}-${end}`;
      const entry = byInterval.get(key) ?? { start: h.at, end, inputIds: [] };
      entry.inputIds.push(input.input_id);
      byInterval.set(key, entry);
    });
  }
  return [...byInterval.values()].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** Runs of one session that overlap an earlier one (empty when runs were one at a time). */
export function overlappingRuns(inputs: readonly StoredInput[]): string[] {
  const overlaps: string[] = [];
  let latest: { readonly start: number; readonly end: number; readonly inputIds: string[] } | null = null;
  for (const run of runIntervals(inputs)) {
    // Sorted by start: a run overlaps an earlier one iff it starts before the latest end so far.
    if (latest !== null && run.start < latest.end) {
      overlaps.push(`[${latest.start}, ${latest.end}) ${latest.inputIds.join(',')} overlaps [${run.start}, ${run.end}) ${run.inputIds.join(',')}`);
    }
    if (latest === null || run.end > latest.end) latest = run;
  }
  return overlaps;
}
