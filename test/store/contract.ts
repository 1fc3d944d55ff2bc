/**
 * The store contract: one suite that every `RuntimeStore` + `SignalOutbox` + `BlobStore`
 * implementation must pass (persistence.md §6.2 where it applies to this interface, plus the
 * group-commit, outbox and retention rules of decisions 5 and 11).
 *
 * Cases share one store instance (a database is slow to start); they are isolated by fresh runtime
 * ids. Cases that touch global state — the signal sequence, consumers, retention — only assert
 * relative facts, use timestamps no other case uses (retention cases live before {@link OLD_CUTOFF},
 * everything else after {@link NOW}), and register every consumer name they use so the retention
 * case can acknowledge them all.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { initialMachineState, type MachineState } from '../../src/machine/index.js';
import {
  BlobNotFoundError,
  MAX_BLOB_BYTES,
  blobIdOf,
  newId,
  runtimeIdOf,
  type BlobStore,
  type BoundaryReceipt,
  type RoutedSignal,
  type RoutedSignalDraft,
  type RoutedSignalKind,
  type RuntimeStore,
  type SessionCommit,
  type SessionDocument,
  type SignalOutbox,
  type StoredInputRow,
  CommitFencedError,
  type Input,
  type PeerMessage,
  type SessionLeases,
} from '../../src/kernel/index.js';

/** What a backend hands the contract. */
export interface ContractStores {
  readonly store: RuntimeStore & SignalOutbox;
  readonly blobs: BlobStore;
  /** The session leases the store checks commit fences against (decision 12). */
  readonly leases: SessionLeases;
  /** Write transactions so far, when the backend counts them (group commit must use fewer than commits). */
  readonly transactionCount?: () => number;
  close(): Promise<void>;
}

/** Timestamps of ordinary cases (far above any retention cutoff used here). */
export const NOW = 1_900_000_000_000;
/** Retention cases write rows older than this and prune with it as cutoff. */
export const OLD_CUTOFF = 1_000_000;

/** A session's ids. */
export interface Ids {
  readonly sessionId: string;
  readonly runtimeId: string;
}

export function freshIds(): Ids {
  const sessionId = newId();
  return { sessionId, runtimeId: runtimeIdOf(sessionId) };
}

export function machineOf(ids: Ids, patch: Partial<MachineState> = {}): MachineState {
  return { ...initialMachineState(), session_id: ids.sessionId, active_runtime_id: ids.runtimeId, lifecycle_phase: 'Idle', ...patch };
}

export function docOf(ids: Ids, patch: Partial<SessionDocument> = {}, machine: Partial<MachineState> = {}): SessionDocument {
  return {
    session_id: ids.sessionId,
    runtime_id: ids.runtimeId,
    durable_phase: 'Idle',
    machine: machineOf(ids, machine),
    epoch_id: 'epoch-1',
    updated_at: NOW,
    ...patch,
  };
}

export function rowOf(ids: Ids, patch: Partial<StoredInputRow> = {}): StoredInputRow {
  const inputId = patch.input_id ?? newId();
  return {
    runtime_id: ids.runtimeId,
    input_id: inputId,
    phase: 'queued',
    terminal_outcome: null,
    durability: 'durable',
    idempotency_key: null,
    lane: 'queue',
    admission_sequence: 1_000_000_000,
    attempt_count: 0,
    last_run_id: null,
    last_boundary_sequence: null,
    input: { id: inputId, durability: 'durable', body: { input_type: 'prompt', text: 'hello' } },
    content_blob_id: null,
    runtime_semantics: null,
    terminal_completion: null,
    history: [{ at: NOW, from: null, to: 'accepted', reason: null }],
    trace_context: null,
    created_at: NOW,
    updated_at: NOW,
    ...patch,
  };
}

export function consumedRow(ids: Ids, updatedAt: number, patch: Partial<StoredInputRow> = {}): StoredInputRow {
  return rowOf(ids, { phase: 'consumed', terminal_outcome: { outcome_type: 'consumed' }, lane: null, updated_at: updatedAt, created_at: updatedAt, ...patch });
}

export function receiptOf(runId: string, sequence: number, inputs: readonly string[] = []): BoundaryReceipt {
  return { run_id: runId, boundary: 'RunStart', contributing_input_ids: inputs, conversation_digest: `sha256:${'0'.repeat(64)}`, message_count: inputs.length, sequence };
}

export function signalOf(ids: Ids, kind: RoutedSignalKind = 'RuntimeBound', createdAt = NOW): RoutedSignalDraft {
  return { kind, session_id: ids.sessionId, runtime_id: ids.runtimeId, agent_runtime_id: `agent-${ids.sessionId}`, fence_token: 7, trace_context: null, created_at: createdAt };
}

export function commitOf(ids: Ids, patch: Partial<SessionCommit> = {}): SessionCommit {
  return { session_id: ids.sessionId, runtime_id: ids.runtimeId, document: docOf(ids), inputs: [], receipt: null, signals: [], ...patch };
}

function byId(rows: readonly StoredInputRow[]): StoredInputRow[] {
  return [...rows].sort((a, b) => (a.input_id < b.input_id ? -1 : a.input_id > b.input_id ? 1 : 0));
}

/** Polls `check` until it stops throwing (or `timeoutMs` passes, then rethrows). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

async function lastSequence(store: SignalOutbox): Promise<number> {
  let cursor = 0;
  for (;;) {
    const page = await store.readSignals(cursor, 1000);
    if (page.length === 0) return cursor;
    const last = page[page.length - 1]!.sequence;
    if (last <= cursor) throw new Error(`readSignals(${cursor}) returned no newer signal (last ${last})`);
    cursor = last;
  }
}

function expectConsecutive(sequences: readonly number[]): void {
  const sorted = [...sequences].sort((a, b) => a - b);
  expect(new Set(sorted).size).toBe(sorted.length);
  expect(sorted.at(-1)! - sorted[0]! + 1).toBe(sorted.length);
}

/** Registers the contract's cases for one backend. `makeStores` runs once, before the cases. */
export function runStoreContract(name: string, makeStores: () => Promise<ContractStores>): void {
  describe(`store contract: ${name}`, () => {
    let stores: ContractStores;
    let store: RuntimeStore & SignalOutbox;
    let blobs: BlobStore;
    const consumers = new Set<string>();
    const consumer = (label: string): string => {
      const c = `${label}-${newId()}`;
      consumers.add(c);
      return c;
    };

    beforeAll(async () => {
      stores = await makeStores();
      store = stores.store;
      blobs = stores.blobs;
    });
    afterAll(async () => {
      await stores?.close();
    });

    describe('session leases and fenced commits (decision 12)', () => {
      const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
      const claim = (sessionId: string, replica: string, ttl = 30_000) =>
        stores.leases.claim({ session_id: sessionId, replica_id: replica, address: `${replica}.local:50051`, ttl_ms: ttl });

      it('a free lease is taken with token 1, kept by its owner, and refused to a live other replica', async () => {
        const { sessionId } = freshIds();
        expect(await claim(sessionId, 'a')).toEqual({ kind: 'owned', token: 1 });
        expect(await claim(sessionId, 'a')).toEqual({ kind: 'owned', token: 1 });
        const other = await claim(sessionId, 'b');
        expect(other).toMatchObject({ kind: 'held', owner_replica: 'a', owner_address: 'a.local:50051' });
        expect(other.kind === 'held' && other.expires_in_ms > 0).toBe(true);
        expect(await stores.leases.lease(sessionId)).toMatchObject({ owner_replica: 'a', fencing_token: 1 });
      });

      it('an expired lease is taken over with token + 1 and the old owner cannot take it back while it lives', async () => {
        const { sessionId } = freshIds();
        expect(await claim(sessionId, 'a', 40)).toEqual({ kind: 'owned', token: 1 });
        await sleep(120);
        expect(await claim(sessionId, 'b')).toEqual({ kind: 'owned', token: 2 });
        expect(await claim(sessionId, 'a')).toMatchObject({ kind: 'held', owner_replica: 'b' });
      });

      it('a commit fenced by a stale token is refused whole; the current owner commits', async () => {
        const ids = freshIds();
        expect(await claim(ids.sessionId, 'a', 40)).toEqual({ kind: 'owned', token: 1 });
        const ok = rowOf(ids);
        await store.commit(commitOf(ids, { inputs: [ok], fence: { replica_id: 'a', token: 1 } }));
        await sleep(120);
        expect(await claim(ids.sessionId, 'b')).toEqual({ kind: 'owned', token: 2 });
        const stale = rowOf(ids);
        const refused = store.commit(
          commitOf(ids, { document: docOf(ids, { updated_at: NOW + 5 }), inputs: [stale], fence: { replica_id: 'a', token: 1 } }),
        );
        await expect(refused).rejects.toBeInstanceOf(CommitFencedError);
        expect(await store.loadInput(ids.runtimeId, stale.input_id)).toBeNull();
        expect(await store.loadInput(ids.runtimeId, ok.input_id)).not.toBeNull();
        await store.commit(commitOf(ids, { inputs: [stale], fence: { replica_id: 'b', token: 2 } }));
        expect(await store.loadInput(ids.runtimeId, stale.input_id)).not.toBeNull();
      });

      it('in one group-committed batch only the stale commit fails; a stale commit with signals writes none', async () => {
        const sessions = [freshIds(), freshIds(), freshIds()];
        for (const ids of sessions) await claim(ids.sessionId, 'a');
        const [good1, stale, good2] = sessions as [Ids, Ids, Ids];
        await stores.leases.release('a', [stale.sessionId]);
        expect(await claim(stale.sessionId, 'b')).toEqual({ kind: 'owned', token: 2 });
        const rows = sessions.map((ids) => rowOf(ids));
        const settled = await Promise.allSettled(
          sessions.map((ids, i) => store.commit(commitOf(ids, { inputs: [rows[i]!], fence: { replica_id: 'a', token: 1 } }))),
        );
        expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect(await store.loadInput(good1.runtimeId, rows[0]!.input_id)).not.toBeNull();
        expect(await store.loadInput(stale.runtimeId, rows[1]!.input_id)).toBeNull();
        expect(await store.loadInput(good2.runtimeId, rows[2]!.input_id)).not.toBeNull();
        const withSignal = store.commit(commitOf(stale, { signals: [signalOf(stale)], fence: { replica_id: 'a', token: 1 } }));
        await expect(withSignal).rejects.toBeInstanceOf(CommitFencedError);
        expect(await store.loadSession(stale.runtimeId)).toBeNull();
      });

      it('renew extends every live lease of a replica and reports them; release frees them at once', async () => {
        const [x, y] = [freshIds(), freshIds()];
        await claim(x.sessionId, 'r-renew', 40);
        await claim(y.sessionId, 'r-renew', 40);
        const owned = await stores.leases.renew('r-renew', 30_000);
        expect(owned.get(x.sessionId)).toBe(1);
        expect(owned.get(y.sessionId)).toBe(1);
        await sleep(120);
        expect(await claim(x.sessionId, 'other')).toMatchObject({ kind: 'held', owner_replica: 'r-renew' });
        await stores.leases.release('r-renew', [x.sessionId]);
        expect(await claim(x.sessionId, 'other')).toEqual({ kind: 'owned', token: 2 });
        const after = await stores.leases.renew('r-renew', 30_000);
        expect(after.has(x.sessionId)).toBe(false);
        expect(after.get(y.sessionId)).toBe(1);
      });

      it('a handover ends the lease with a note that the next claim (token + 1) receives once; a stale token hands nothing over', async () => {
        const { sessionId } = freshIds();
        await claim(sessionId, 'h-a');
        expect(await stores.leases.handOver({ session_id: sessionId, replica_id: 'h-a', token: 2, executor: 'echo' })).toBe(false);
        expect(await stores.leases.handOver({ session_id: sessionId, replica_id: 'h-b', token: 1, executor: 'echo' })).toBe(false);
        expect(await stores.leases.handOver({ session_id: sessionId, replica_id: 'h-a', token: 1, executor: 'echo' })).toBe(true);
        const ended = await stores.leases.lease(sessionId);
        expect(ended).toMatchObject({ owner_replica: 'h-a', fencing_token: 1, handed_over_by: 'h-a' });
        expect(ended?.expires_in_ms).toBeLessThanOrEqual(0);
        // Already ended: a second handover changes nothing.
        expect(await stores.leases.handOver({ session_id: sessionId, replica_id: 'h-a', token: 1, executor: null })).toBe(false);
        expect(await claim(sessionId, 'h-b')).toEqual({ kind: 'owned', token: 2, handover: { from_replica: 'h-a', executor: 'echo' } });
        expect(await claim(sessionId, 'h-b')).toEqual({ kind: 'owned', token: 2 });
        expect(await stores.leases.lease(sessionId)).toMatchObject({ owner_replica: 'h-b', handed_over_by: null });
        // Without an executor, and taken back by the replica that handed it over.
        await stores.leases.handOver({ session_id: sessionId, replica_id: 'h-b', token: 2, executor: null });
        expect(await claim(sessionId, 'h-b')).toEqual({ kind: 'owned', token: 3, handover: { from_replica: 'h-b', executor: null } });
        // A plain release leaves no note.
        await stores.leases.release('h-b', [sessionId]);
        expect(await claim(sessionId, 'h-a')).toEqual({ kind: 'owned', token: 4 });
      });
    });

    describe('commit and load', () => {
      it('round-trips the document, input rows and receipt exactly (atomic_apply_roundtrip)', async () => {
        const ids = freshIds();
        const a = rowOf(ids, {
          idempotency_key: 'greeting-1',
          trace_context: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          input: { id: 'x', durability: 'durable', origin: { type: 'peer', peer_id: 'p', runtime_id: null }, body: { input_type: 'peer', convention: { type: 'request', request_id: 'r1', intent: 'ask' }, body: 'héllo ✓ "quoted" \\ \n tab\t' } },
        });
        const b = consumedRow(ids, NOW + 5, { last_run_id: newId(), last_boundary_sequence: 3, attempt_count: 2, content_blob_id: `sha256:${'a'.repeat(64)}` });
        const c = rowOf(ids, { phase: 'abandoned', terminal_outcome: { outcome_type: 'abandoned', reason: 'max_attempts_exhausted', attempts: 3 }, lane: null, admission_sequence: null });
        const doc = docOf(ids, { durable_phase: 'Attached', epoch_id: newId() }, {
          lifecycle_phase: 'Attached',
          silent_intent_overrides: ['b', 'a'],
          input_phases: { [a.input_id]: 'Queued' },
          op_statuses: { 'op-1': 'Running' },
          next_completion_seq: 4,
        });
        const receipt = receiptOf(newId(), 1, [a.input_id, b.input_id]);
        const signals = await store.commit(commitOf(ids, { document: doc, inputs: [a, b, c], receipt }));
        expect(signals).toEqual([]);
        expect(await store.loadSession(ids.runtimeId)).toEqual(doc);
        expect(byId(await store.loadInputs(ids.runtimeId))).toEqual(byId([a, b, c]));
        expect(await store.loadInput(ids.runtimeId, a.input_id)).toEqual(a);
        expect(await store.loadInput(ids.runtimeId, c.input_id)).toEqual(c);
        expect(await store.loadBoundaryReceipt(ids.runtimeId, receipt.run_id, 1)).toEqual(receipt);
      });

      it('a later commit overwrites the document and the rows it carries, and keeps the others (atomic_apply_updates_existing)', async () => {
        const ids = freshIds();
        const a = rowOf(ids);
        const b = rowOf(ids);
        await store.commit(commitOf(ids, { inputs: [a, b] }));
        const a2: StoredInputRow = { ...a, phase: 'staged', lane: null, attempt_count: 1, last_run_id: newId(), updated_at: NOW + 1, history: [...a.history, { at: NOW + 1, from: 'queued', to: 'staged', reason: 'run started' }] };
        const doc2 = docOf(ids, { durable_phase: 'Attached', updated_at: NOW + 1 }, { lifecycle_phase: 'Running' });
        await store.commit(commitOf(ids, { document: doc2, inputs: [a2] }));
        expect(await store.loadSession(ids.runtimeId)).toEqual(doc2);
        expect(byId(await store.loadInputs(ids.runtimeId))).toEqual(byId([a2, b]));
      });

      it('unknown runtimes, inputs, keys and receipts read as absent (load_nonexistent_returns_none)', async () => {
        const ids = freshIds();
        expect(await store.loadSession(ids.runtimeId)).toBeNull();
        expect(await store.loadInputs(ids.runtimeId)).toEqual([]);
        expect(await store.loadInput(ids.runtimeId, newId())).toBeNull();
        expect(await store.findInputByIdempotencyKey(ids.runtimeId, 'nope')).toBeNull();
        expect(await store.loadBoundaryReceipt(ids.runtimeId, newId(), 1)).toBeNull();
        await store.commit(commitOf(ids, { inputs: [rowOf(ids, { idempotency_key: 'k' })] }));
        expect(await store.loadInput(ids.runtimeId, newId())).toBeNull();
        expect(await store.findInputByIdempotencyKey(ids.runtimeId, 'other')).toBeNull();
      });

      it('keeps runtimes isolated: same input id, idempotency key and receipt key in two runtimes (multiple_runtimes_isolated)', async () => {
        const one = freshIds();
        const two = freshIds();
        const inputId = newId();
        const runId = newId();
        const r1 = rowOf(one, { input_id: inputId, idempotency_key: 'shared', phase: 'queued' });
        const r2 = rowOf(two, { input_id: inputId, idempotency_key: 'shared', phase: 'staged' });
        await store.commit(commitOf(one, { inputs: [r1], receipt: receiptOf(runId, 1, [inputId]) }));
        await store.commit(commitOf(two, { inputs: [r2], receipt: receiptOf(runId, 1) }));
        expect(await store.loadInput(one.runtimeId, inputId)).toEqual(r1);
        expect(await store.loadInput(two.runtimeId, inputId)).toEqual(r2);
        expect(await store.findInputByIdempotencyKey(one.runtimeId, 'shared')).toEqual(r1);
        expect(await store.findInputByIdempotencyKey(two.runtimeId, 'shared')).toEqual(r2);
        expect((await store.loadBoundaryReceipt(one.runtimeId, runId, 1))?.contributing_input_ids).toEqual([inputId]);
        expect((await store.loadBoundaryReceipt(two.runtimeId, runId, 1))?.contributing_input_ids).toEqual([]);
        expect((await store.loadSession(one.runtimeId))?.session_id).toBe(one.sessionId);
        expect((await store.loadSession(two.runtimeId))?.session_id).toBe(two.sessionId);
      });

      it('a commit without a receipt writes none (commit_session_snapshot_does_not_write_boundary_receipt)', async () => {
        const ids = freshIds();
        const runId = newId();
        const row = rowOf(ids, { last_run_id: runId });
        await store.commit(commitOf(ids, { inputs: [row] }));
        expect(await store.loadBoundaryReceipt(ids.runtimeId, runId, 0)).toBeNull();
        expect(await store.loadBoundaryReceipt(ids.runtimeId, runId, 1)).toBeNull();
      });

      it('receipts of one run are addressed by (run_id, sequence), including sequence 0 (atomic_apply_persists_machine_owned_receipt)', async () => {
        const ids = freshIds();
        const runId = newId();
        for (const seq of [0, 1, 2]) {
          await store.commit(commitOf(ids, { receipt: { ...receiptOf(runId, seq), boundary: seq === 0 ? 'Immediate' : 'RunCheckpoint', message_count: seq } }));
        }
        for (const seq of [0, 1, 2]) expect((await store.loadBoundaryReceipt(ids.runtimeId, runId, seq))?.message_count).toBe(seq);
        expect(await store.loadBoundaryReceipt(ids.runtimeId, runId, 3)).toBeNull();
        expect(await store.loadBoundaryReceipt(ids.runtimeId, newId(), 1)).toBeNull();
      });

      it('deleted_input_ids removes rows in the same commit; a row both upserted and deleted ends deleted', async () => {
        const ids = freshIds();
        const keep = rowOf(ids);
        const drop = rowOf(ids, { durability: 'ephemeral', idempotency_key: 'ephemeral-key' });
        const both = rowOf(ids);
        await store.commit(commitOf(ids, { inputs: [keep, drop] }));
        await store.commit(commitOf(ids, { inputs: [both], deleted_input_ids: [drop.input_id, both.input_id, newId()] }));
        expect(byId(await store.loadInputs(ids.runtimeId))).toEqual([keep]);
        expect(await store.findInputByIdempotencyKey(ids.runtimeId, 'ephemeral-key')).toBeNull();
        // The released key can be claimed again.
        const again = rowOf(ids, { idempotency_key: 'ephemeral-key' });
        await store.commit(commitOf(ids, { inputs: [again] }));
        expect(await store.findInputByIdempotencyKey(ids.runtimeId, 'ephemeral-key')).toEqual(again);
      });

      it('commits of one session issued together apply in call order', async () => {
        const ids = freshIds();
        const row = rowOf(ids);
        const steps = [1, 2, 3, 4].map((n) =>
          store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + n }), inputs: [{ ...row, attempt_count: n, updated_at: NOW + n }], signals: [signalOf(ids)] })),
        );
        const committed = await Promise.all(steps);
        expect((await store.loadSession(ids.runtimeId))?.updated_at).toBe(NOW + 4);
        expect((await store.loadInput(ids.runtimeId, row.input_id))?.attempt_count).toBe(4);
        const seqs = committed.map((s) => s[0]!.sequence);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      });
    });

    describe('atomicity', () => {
      it('a duplicate receipt fails the whole commit: no document, row, deletion or signal from it is visible', async () => {
        const ids = freshIds();
        const runId = newId();
        const a = rowOf(ids);
        const gone = rowOf(ids);
        const doc1 = docOf(ids, { updated_at: NOW + 1 });
        await store.commit(commitOf(ids, { document: doc1, inputs: [a, gone], receipt: receiptOf(runId, 1, [a.input_id]), signals: [signalOf(ids)] }));
        const before = await lastSequence(store);
        const doc2 = docOf(ids, { updated_at: NOW + 2, durable_phase: 'Retired' }, { lifecycle_phase: 'Retired' });
        const a2 = { ...a, phase: 'consumed' as const, terminal_outcome: { outcome_type: 'consumed' as const } };
        const fresh = rowOf(ids);
        await expect(
          store.commit(commitOf(ids, {
            document: doc2,
            inputs: [a2, fresh],
            deleted_input_ids: [gone.input_id],
            receipt: { ...receiptOf(runId, 1, [fresh.input_id]), message_count: 99 },
            signals: [signalOf(ids, 'RuntimeRetired'), signalOf(ids, 'RuntimeRetired')],
          })),
        ).rejects.toThrow(/duplicate boundary receipt/);
        expect(await store.loadSession(ids.runtimeId)).toEqual(doc1);
        expect(byId(await store.loadInputs(ids.runtimeId))).toEqual(byId([a, gone]));
        expect((await store.loadBoundaryReceipt(ids.runtimeId, runId, 1))?.message_count).toBe(1);
        expect(await store.readSignals(before, 100)).toEqual([]);
      });

      it('document, rows, receipt and signals of a commit appear together (atomic_apply_commits_target_state_receipt_and_inputs_as_one_boundary)', async () => {
        const ids = freshIds();
        const runId = newId();
        const row = consumedRow(ids, NOW, { last_run_id: runId, last_boundary_sequence: 1 });
        const before = await lastSequence(store);
        const [signal] = await store.commit(commitOf(ids, { inputs: [row], receipt: receiptOf(runId, 1, [row.input_id]), signals: [signalOf(ids, 'RuntimeBound')] }));
        expect(signal?.sequence).toBeGreaterThan(before);
        expect(await store.loadSession(ids.runtimeId)).not.toBeNull();
        expect(await store.loadInput(ids.runtimeId, row.input_id)).toEqual(row);
        expect(await store.loadBoundaryReceipt(ids.runtimeId, runId, 1)).not.toBeNull();
        expect((await store.readSignals(before, 100)).filter((s) => s.runtime_id === ids.runtimeId)).toEqual([signal]);
      });
    });

    describe('signals (decision 5)', () => {
      it('sequences are global and gap-free across sessions and across failed commits', async () => {
        const one = freshIds();
        const two = freshIds();
        const runId = newId();
        const before = await lastSequence(store);
        const s1 = await store.commit(commitOf(one, { receipt: receiptOf(runId, 1), signals: [signalOf(one, 'RuntimeBound'), signalOf(one, 'RuntimeRetired')] }));
        await expect(store.commit(commitOf(one, { receipt: receiptOf(runId, 1), signals: [signalOf(one, 'RuntimeDestroyed')] }))).rejects.toThrow(/duplicate boundary receipt/);
        const s2 = await store.commit(commitOf(two, { signals: [signalOf(two, 'RuntimeBound')] }));
        const s3 = await store.commit(commitOf(one, { signals: [signalOf(one, 'RuntimeDestroyed')] }));
        const all = [...s1, ...s2, ...s3];
        expect(all.map((s) => s.sequence)).toEqual([before + 1, before + 2, before + 3, before + 4]);
        expect(all.map((s) => s.kind)).toEqual(['RuntimeBound', 'RuntimeRetired', 'RuntimeBound', 'RuntimeDestroyed']);
        expect(await store.readSignals(before, 100)).toEqual(all);
        expect(s1[0]).toMatchObject({ ...signalOf(one, 'RuntimeBound'), sequence: before + 1 });
      });

      it('64 sessions committing concurrently all land, with distinct consecutive sequences', async () => {
        const sessions = Array.from({ length: 64 }, () => freshIds());
        const before = await lastSequence(store);
        const tx0 = stores.transactionCount?.() ?? 0;
        const results = await Promise.all(
          sessions.map((ids, i) =>
            store.commit(commitOf(ids, {
              inputs: [rowOf(ids, { idempotency_key: `k-${i}` })],
              receipt: receiptOf(newId(), 1),
              signals: i % 2 === 0 ? [signalOf(ids, 'RuntimeBound')] : [signalOf(ids, 'RuntimeBound'), signalOf(ids, 'RuntimeRetired')],
            })),
          ),
        );
        const sequences = results.flat().map((s) => s.sequence);
        expect(sequences).toHaveLength(96);
        expectConsecutive(sequences);
        expect(Math.min(...sequences)).toBe(before + 1);
        results.forEach((signals, i) => {
          expect(signals.every((s) => s.runtime_id === sessions[i]!.runtimeId)).toBe(true);
          for (let j = 1; j < signals.length; j++) expect(signals[j]!.sequence).toBe(signals[j - 1]!.sequence + 1);
        });
        for (const ids of sessions) expect(await store.loadInputs(ids.runtimeId)).toHaveLength(1);
        expect((await store.readSignals(before, 1000)).map((s) => s.sequence)).toEqual([...sequences].sort((a, b) => a - b));
        if (stores.transactionCount) {
          const transactions = stores.transactionCount() - tx0;
          console.info(`[store contract: ${name}] 64 concurrent commits -> ${transactions} write transaction(s)`);
          expect(transactions).toBeLessThan(64);
        }
      });

      it('a failing commit among concurrent ones fails alone, with a message that says why', async () => {
        const sessions = Array.from({ length: 8 }, () => freshIds());
        const dupReceipt = sessions[2]!;
        const dupKey = sessions[5]!;
        const runId = newId();
        await store.commit(commitOf(dupReceipt, { receipt: receiptOf(runId, 1) }));
        const holder = rowOf(dupKey, { idempotency_key: 'taken' });
        await store.commit(commitOf(dupKey, { inputs: [holder] }));
        const before = await lastSequence(store);
        const settled = await Promise.allSettled(
          sessions.map((ids) =>
            store.commit(commitOf(ids, {
              document: docOf(ids, { updated_at: NOW + 9 }),
              inputs: [rowOf(ids, { idempotency_key: ids === dupKey ? 'taken' : 'free' })],
              receipt: ids === dupReceipt ? receiptOf(runId, 1) : receiptOf(newId(), 1),
              signals: [signalOf(ids)],
            })),
          ),
        );
        settled.forEach((r, i) => {
          const ids = sessions[i]!;
          if (ids === dupReceipt) expect(r.status === 'rejected' && String(r.reason)).toMatch(/duplicate boundary receipt/);
          else if (ids === dupKey) expect(r.status === 'rejected' && String(r.reason)).toMatch(/duplicate idempotency key/);
          else expect(r.status).toBe('fulfilled');
        });
        const ok = settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
        expect(ok).toHaveLength(6);
        expectConsecutive(ok.map((s) => s.sequence));
        expect(Math.min(...ok.map((s) => s.sequence))).toBe(before + 1);
        expect(await store.readSignals(before, 100)).toHaveLength(6);
        expect((await store.loadSession(dupKey.runtimeId))?.updated_at).toBe(NOW);
        expect(await store.loadInputs(dupKey.runtimeId)).toEqual([holder]);
        expect((await store.loadSession(dupReceipt.runtimeId))?.updated_at).toBe(NOW);
        expect(await store.loadInputs(dupReceipt.runtimeId)).toEqual([]);
        expect((await store.loadSession(sessions[0]!.runtimeId))?.updated_at).toBe(NOW + 9);
      });

      it('readSignals pages from a cursor in sequence order', async () => {
        const ids = freshIds();
        const before = await lastSequence(store);
        await store.commit(commitOf(ids, { signals: [signalOf(ids), signalOf(ids), signalOf(ids), signalOf(ids), signalOf(ids)] }));
        const first = await store.readSignals(before, 2);
        const second = await store.readSignals(first.at(-1)!.sequence, 2);
        const third = await store.readSignals(second.at(-1)!.sequence, 2);
        expect([...first, ...second, ...third].map((s) => s.sequence)).toEqual([1, 2, 3, 4, 5].map((n) => before + n));
        expect(await store.readSignals(before + 5, 10)).toEqual([]);
      });

      it('acknowledgeSignals never moves a cursor back; an unknown consumer is at 0', async () => {
        const c = consumer('ack');
        expect(await store.signalCursor(c)).toBe(0);
        await store.acknowledgeSignals(c, 5);
        expect(await store.signalCursor(c)).toBe(5);
        await store.acknowledgeSignals(c, 3);
        expect(await store.signalCursor(c)).toBe(5);
        await store.acknowledgeSignals(c, 9);
        expect(await store.signalCursor(c)).toBe(9);
        const other = consumer('ack-other');
        expect(await store.signalCursor(other)).toBe(0);
        await store.acknowledgeSignals(other, 9);
      });

      it('subscribe delivers the backlog then new signals, each once and in order, and stops on unsubscribe', async () => {
        const ids = freshIds();
        const before = await lastSequence(store);
        await store.commit(commitOf(ids, { signals: [signalOf(ids, 'RuntimeBound'), signalOf(ids, 'RuntimeRetired')] }));
        const a: RoutedSignal[] = [];
        const b: RoutedSignal[] = [];
        const stopA = store.subscribe(before, (s) => a.push(s));
        const stopB = store.subscribe(before + 1, (s) => b.push(s));
        await eventually(() => expect(a).toHaveLength(2));
        await Promise.all([
          store.commit(commitOf(ids, { signals: [signalOf(ids, 'RuntimeDestroyed')] })),
          store.commit(commitOf(freshIds(), { signals: [signalOf(ids, 'RuntimeBound'), signalOf(ids, 'RuntimeBound')] })),
        ]);
        await eventually(() => expect(a).toHaveLength(5));
        await eventually(() => expect(b).toHaveLength(4));
        expect(a.map((s) => s.sequence)).toEqual([1, 2, 3, 4, 5].map((n) => before + n));
        expect(b.map((s) => s.sequence)).toEqual([2, 3, 4, 5].map((n) => before + n));
        stopA();
        await store.commit(commitOf(ids, { signals: [signalOf(ids, 'RuntimeRetired')] }));
        await eventually(() => expect(b).toHaveLength(5));
        await new Promise((r) => setTimeout(r, 120));
        expect(a).toHaveLength(5);
        stopB();
        await store.commit(commitOf(ids, { signals: [signalOf(ids, 'RuntimeRetired')] }));
        await new Promise((r) => setTimeout(r, 120));
        expect(b).toHaveLength(5);
        expect(b.at(-1)?.sequence).toBe(before + 6);
      });
    });

    describe('idempotency keys (persistence.md §1.5)', () => {
      it('a key is unique per runtime: claiming a key another input holds fails the whole commit', async () => {
        const ids = freshIds();
        const holder = rowOf(ids, { idempotency_key: 'once' });
        await store.commit(commitOf(ids, { inputs: [holder] }));
        const before = await lastSequence(store);
        const intruder = rowOf(ids, { idempotency_key: 'once' });
        const bystander = rowOf(ids);
        await expect(
          store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + 3 }), inputs: [bystander, intruder], signals: [signalOf(ids)] })),
        ).rejects.toThrow(/duplicate idempotency key/);
        expect(await store.loadInputs(ids.runtimeId)).toEqual([holder]);
        expect((await store.loadSession(ids.runtimeId))?.updated_at).toBe(NOW);
        expect(await store.readSignals(before, 10)).toEqual([]);
        expect(await store.findInputByIdempotencyKey(ids.runtimeId, 'once')).toEqual(holder);
      });

      it('two rows of one commit claiming the same key fail it', async () => {
        const ids = freshIds();
        await expect(store.commit(commitOf(ids, { inputs: [rowOf(ids, { idempotency_key: 'twin' }), rowOf(ids, { idempotency_key: 'twin' })] }))).rejects.toThrow(
          /duplicate idempotency key/,
        );
        expect(await store.loadSession(ids.runtimeId)).toBeNull();
        expect(await store.loadInputs(ids.runtimeId)).toEqual([]);
      });

      it('keys are judged on the final image: two rows swapping keys in one commit succeed (input_idempotency_mutations_use_complete_final_image)', async () => {
        const ids = freshIds();
        const a = rowOf(ids, { idempotency_key: 'x' });
        const b = rowOf(ids, { idempotency_key: 'y' });
        await store.commit(commitOf(ids, { inputs: [a, b] }));
        await store.commit(commitOf(ids, { inputs: [{ ...a, idempotency_key: 'y' }, { ...b, idempotency_key: 'x' }] }));
        expect((await store.findInputByIdempotencyKey(ids.runtimeId, 'x'))?.input_id).toBe(b.input_id);
        expect((await store.findInputByIdempotencyKey(ids.runtimeId, 'y'))?.input_id).toBe(a.input_id);
      });

      it('rows without a key never conflict', async () => {
        const ids = freshIds();
        const rows = [rowOf(ids), rowOf(ids), rowOf(ids)];
        await store.commit(commitOf(ids, { inputs: rows }));
        expect(await store.loadInputs(ids.runtimeId)).toHaveLength(3);
      });
    });

    describe('peer inbox (decision 9)', () => {
      const peer = (text: string): Input => ({
        id: newId(),
        durability: 'durable',
        origin: { type: 'peer', peer_id: 'alice', runtime_id: null },
        body: { input_type: 'peer', convention: { type: 'message' }, body: text },
      });
      const deliver = (ids: Ids, text: string, at = NOW): Promise<PeerMessage> =>
        store.appendPeerMessage({ runtime_id: ids.runtimeId, session_id: ids.sessionId, input: peer(text), created_at: at });
      const texts = (ms: readonly PeerMessage[]): string[] => ms.map((m) => (m.input.body.input_type === 'peer' ? m.input.body.body : '?'));

      it('keeps messages per runtime in arrival order, exactly as delivered, until taken', async () => {
        const one = freshIds();
        const two = freshIds();
        const a = await deliver(one, 'first ✓', NOW + 1);
        const other = await deliver(two, 'elsewhere');
        const b = await deliver(one, 'second');
        const c = await deliver(one, 'third');
        expect(b.sequence).toBeGreaterThan(a.sequence);
        expect(c.sequence).toBeGreaterThan(b.sequence);
        const all = await store.loadPeerMessages(one.runtimeId, 10);
        expect(all).toEqual([a, b, c]);
        expect(all[0]).toEqual({ runtime_id: one.runtimeId, session_id: one.sessionId, sequence: a.sequence, input: a.input, created_at: NOW + 1 });
        expect(texts(all)).toEqual(['first ✓', 'second', 'third']);
        expect(await store.loadPeerMessages(one.runtimeId, 2)).toEqual([a, b]);
        expect(await store.loadPeerMessages(one.runtimeId, 0)).toEqual([]);
        expect(await store.loadPeerMessages(two.runtimeId, 10)).toEqual([other]);
        expect(await store.loadPeerMessages(freshIds().runtimeId, 10)).toEqual([]);
      });

      it('a commit that admits a message removes it in the same transaction; taking it again fails the whole commit', async () => {
        const ids = freshIds();
        const m = await deliver(ids, 'admit me');
        const later = await deliver(ids, 'later');
        const admitted = rowOf(ids, { input_id: m.input.id ?? newId(), input: m.input });
        await store.commit(commitOf(ids, { inputs: [admitted], taken_peer_message: m.sequence }));
        expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([later]);
        expect(await store.loadInputs(ids.runtimeId)).toEqual([admitted]);

        const before = await lastSequence(store);
        const twice = rowOf(ids);
        await expect(
          store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW + 5 }), inputs: [twice], signals: [signalOf(ids)], taken_peer_message: m.sequence })),
        ).rejects.toThrow(/no longer in the inbox/);
        expect(await store.loadInputs(ids.runtimeId)).toEqual([admitted]);
        expect((await store.loadSession(ids.runtimeId))?.updated_at).toBe(NOW);
        expect(await store.readSignals(before, 10)).toEqual([]);
        expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([later]);
        // A message of another runtime cannot be taken either.
        const stranger = freshIds();
        await expect(store.commit(commitOf(stranger, { taken_peer_message: later.sequence }))).rejects.toThrow(/no longer in the inbox/);
        expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([later]);
        expect(await store.loadSession(stranger.runtimeId)).toBeNull();
      });

      it('concurrent commits take their own messages; one whose message is gone fails alone', async () => {
        const sessions = [freshIds(), freshIds(), freshIds(), freshIds()];
        const messages = await Promise.all(sessions.map((ids, i) => deliver(ids, `m${i}`)));
        const gone = freshIds();
        const results = await Promise.allSettled([
          ...sessions.map((ids, i) => store.commit(commitOf(ids, { inputs: [rowOf(ids)], signals: [signalOf(ids)], taken_peer_message: messages[i]!.sequence }))),
          store.commit(commitOf(gone, { inputs: [rowOf(gone)], taken_peer_message: messages[0]!.sequence })),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
        for (const ids of sessions) {
          expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([]);
          expect(await store.loadInputs(ids.runtimeId)).toHaveLength(1);
        }
        expect(await store.loadInputs(gone.runtimeId)).toEqual([]);
      });

      it('a commit refused for another reason (duplicate receipt, stale fence) leaves its message in the inbox', async () => {
        const ids = freshIds();
        const runId = newId();
        await store.commit(commitOf(ids, { receipt: receiptOf(runId, 1) }));
        const m = await deliver(ids, 'keep me');
        await expect(store.commit(commitOf(ids, { inputs: [rowOf(ids)], receipt: receiptOf(runId, 1), taken_peer_message: m.sequence }))).rejects.toThrow(
          /duplicate boundary receipt/,
        );
        expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([m]);

        const fenced = freshIds();
        expect(await stores.leases.claim({ session_id: fenced.sessionId, replica_id: 'a', address: 'a.local:50051', ttl_ms: 30_000 })).toEqual({ kind: 'owned', token: 1 });
        const f = await deliver(fenced, 'fenced');
        await expect(store.commit(commitOf(fenced, { inputs: [rowOf(fenced)], taken_peer_message: f.sequence, fence: { replica_id: 'b', token: 1 } }))).rejects.toBeInstanceOf(
          CommitFencedError,
        );
        expect(await store.loadPeerMessages(fenced.runtimeId, 10)).toEqual([f]);
        // The current owner takes it.
        await store.commit(commitOf(fenced, { inputs: [rowOf(fenced)], taken_peer_message: f.sequence, fence: { replica_id: 'a', token: 1 } }));
        expect(await store.loadPeerMessages(fenced.runtimeId, 10)).toEqual([]);
      });

      it('discard removes one refused message once; deleteSession forgets the inbox', async () => {
        const ids = freshIds();
        const a = await deliver(ids, 'refused');
        const b = await deliver(ids, 'kept');
        expect(await store.discardPeerMessage(ids.runtimeId, a.sequence)).toBe(true);
        expect(await store.discardPeerMessage(ids.runtimeId, a.sequence)).toBe(false);
        expect(await store.discardPeerMessage(freshIds().runtimeId, b.sequence)).toBe(false);
        expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([b]);
        await store.commit(commitOf(ids));
        await store.deleteSession(ids.runtimeId);
        expect(await store.loadPeerMessages(ids.runtimeId, 10)).toEqual([]);
      });
    });

    describe('deleteSession', () => {
      it('forgets the document and rows of that runtime only', async () => {
        const gone = freshIds();
        const kept = freshIds();
        const runId = newId();
        await store.commit(commitOf(gone, { inputs: [rowOf(gone, { idempotency_key: 'k' }), rowOf(gone)], receipt: receiptOf(runId, 1) }));
        await store.commit(commitOf(kept, { inputs: [rowOf(kept, { idempotency_key: 'k' })] }));
        await store.deleteSession(gone.runtimeId);
        expect(await store.loadSession(gone.runtimeId)).toBeNull();
        expect(await store.loadInputs(gone.runtimeId)).toEqual([]);
        expect(await store.findInputByIdempotencyKey(gone.runtimeId, 'k')).toBeNull();
        expect(await store.loadSession(kept.runtimeId)).not.toBeNull();
        expect(await store.findInputByIdempotencyKey(kept.runtimeId, 'k')).not.toBeNull();
        await store.deleteSession(gone.runtimeId); // idempotent
        await store.deleteSession(freshIds().runtimeId);
        // The runtime can be committed again from scratch.
        await store.commit(commitOf(gone, { inputs: [rowOf(gone, { idempotency_key: 'k' })] }));
        expect(await store.loadInputs(gone.runtimeId)).toHaveLength(1);
      });
    });

    describe('retention (prune)', () => {
      it('removes old terminal rows and old receipts in bounded batches, keeping active and recent rows', async () => {
        const ids = freshIds();
        const old = [1, 2, 3, 4, 5].map((n) => consumedRow(ids, 1000 + n));
        const oldActive = rowOf(ids, { updated_at: 1000, created_at: 1000 });
        const recentTerminal = consumedRow(ids, NOW);
        const runId = newId();
        await store.commit(commitOf(ids, { document: docOf(ids, { updated_at: 2000 }), inputs: [...old, oldActive, recentTerminal], receipt: receiptOf(runId, 1) }));
        await store.commit(commitOf(ids, { document: docOf(ids, { updated_at: 2001 }), receipt: receiptOf(runId, 2) }));
        await store.commit(commitOf(ids, { document: docOf(ids, { updated_at: 2002 }), receipt: receiptOf(runId, 3) }));
        await store.commit(commitOf(ids, { document: docOf(ids, { updated_at: NOW }), receipt: receiptOf(runId, 4) }));

        expect(await store.prune(OLD_CUTOFF, 2)).toMatchObject({ inputs: 2, receipts: 2 });
        expect(await store.prune(OLD_CUTOFF, 2)).toMatchObject({ inputs: 2, receipts: 1 });
        expect(await store.prune(OLD_CUTOFF, 2)).toMatchObject({ inputs: 1, receipts: 0 });
        expect(await store.prune(OLD_CUTOFF, 2)).toMatchObject({ inputs: 0, receipts: 0 });
        expect(byId(await store.loadInputs(ids.runtimeId))).toEqual(byId([oldActive, recentTerminal]));
        for (const seq of [1, 2, 3]) expect(await store.loadBoundaryReceipt(ids.runtimeId, runId, seq)).toBeNull();
        expect(await store.loadBoundaryReceipt(ids.runtimeId, runId, 4)).not.toBeNull();
        expect(await store.loadSession(ids.runtimeId)).not.toBeNull();
        expect(await store.prune(OLD_CUTOFF, 0)).toEqual({ inputs: 0, receipts: 0, signals: 0 });
      });

      it('removes signals only once every consumer acknowledged them, and only old ones', async () => {
        const ids = freshIds();
        const early = consumer('retention-early');
        const late = consumer('retention-late');
        const [o1, o2, o3] = await store.commit(commitOf(ids, { signals: [signalOf(ids, 'RuntimeBound', 1000), signalOf(ids, 'RuntimeRetired', 1001), signalOf(ids, 'RuntimeDestroyed', 1002)] }));
        const [recent] = await store.commit(commitOf(ids, { signals: [signalOf(ids, 'RuntimeBound', NOW)] }));
        const top = recent!.sequence;
        for (const c of consumers) if (c !== late) await store.acknowledgeSignals(c, top);
        await store.acknowledgeSignals(late, o1!.sequence - 1);
        expect((await store.prune(OLD_CUTOFF, 10)).signals).toBe(0);
        await store.acknowledgeSignals(late, o1!.sequence);
        expect((await store.prune(OLD_CUTOFF, 10)).signals).toBe(1);
        await store.acknowledgeSignals(late, top);
        expect((await store.prune(OLD_CUTOFF, 1)).signals).toBe(1);
        expect((await store.prune(OLD_CUTOFF, 10)).signals).toBe(1);
        expect((await store.prune(OLD_CUTOFF, 10)).signals).toBe(0);
        const left = (await store.readSignals(o1!.sequence - 1, 10)).map((s) => s.sequence);
        expect(left).not.toContain(o1!.sequence);
        expect(left).not.toContain(o2!.sequence);
        expect(left).not.toContain(o3!.sequence);
        expect(left).toContain(top);
        expect(await store.signalCursor(early)).toBe(top);
      });
    });

    describe('blobs (persistence.md §3)', () => {
      it('put/get round-trips bytes and media type under a sha256 content address; put is idempotent', async () => {
        const bytes = new TextEncoder().encode(`blob ${newId()} ✓`);
        const id = await blobs.putBlob(bytes, 'text/plain; charset=utf-8');
        expect(id).toBe(blobIdOf(bytes));
        expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(await blobs.putBlob(new Uint8Array(bytes), 'text/plain; charset=utf-8')).toBe(id);
        const got = await blobs.getBlob(id);
        expect(new Uint8Array(got.bytes)).toEqual(bytes);
        expect(got.media_type).toBe('text/plain; charset=utf-8');
        const empty = await blobs.putBlob(new Uint8Array(0), 'application/octet-stream');
        expect((await blobs.getBlob(empty)).bytes.byteLength).toBe(0);
      });

      it('binary content survives byte for byte', async () => {
        const bytes = new Uint8Array(70_000).map((_, i) => (i * 31 + 7) % 256);
        const id = await blobs.putBlob(bytes, 'application/octet-stream');
        expect(Buffer.from((await blobs.getBlob(id)).bytes).equals(Buffer.from(bytes))).toBe(true);
      });

      it('delete is idempotent and an unknown or deleted id is BlobNotFoundError', async () => {
        const id = await blobs.putBlob(new TextEncoder().encode(`gone ${newId()}`), 'text/plain');
        await blobs.deleteBlob(id);
        await blobs.deleteBlob(id);
        await expect(blobs.getBlob(id)).rejects.toBeInstanceOf(BlobNotFoundError);
        await expect(blobs.getBlob(`sha256:${'f'.repeat(64)}`)).rejects.toBeInstanceOf(BlobNotFoundError);
        await expect(blobs.getBlob('not-an-id')).rejects.toBeInstanceOf(BlobNotFoundError);
        await blobs.deleteBlob('not-an-id');
      });

      it(`refuses a blob over MAX_BLOB_BYTES (${MAX_BLOB_BYTES}) and accepts one at the bound`, async () => {
        const over = new Uint8Array(MAX_BLOB_BYTES + 1);
        await expect(blobs.putBlob(over, 'application/octet-stream')).rejects.toThrow(/exceeds/);
        await expect(blobs.getBlob(blobIdOf(over))).rejects.toBeInstanceOf(BlobNotFoundError);
        const at = over.subarray(0, MAX_BLOB_BYTES);
        at[0] = 1;
        const id = await blobs.putBlob(at, 'application/octet-stream');
        expect((await blobs.getBlob(id)).bytes.byteLength).toBe(MAX_BLOB_BYTES);
        await blobs.deleteBlob(id);
      });
    });
  });
}
