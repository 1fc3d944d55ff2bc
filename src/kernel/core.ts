/**
 * The kernel's shared internals: the session table, registration, the
 * admission pipeline (machine.md §3.2), run begin/finish for the runtime loop
 * (machine.md §4.7) and the lifecycle terminalisations (machine.md §5.3).
 * Command groups (./commands/*) are thin layers over this.
 */
import type { AdmissionResolved } from '../machine/arms/admission.js';
import { isOpTerminal } from '../machine/arms/ops.js';
import type { DrainExitReason } from '../machine/arms/drain.js';
import type { InputAbandonReason, MachineInput, MachineState } from '../machine/index.js';
import { initialMachineState } from '../machine/index.js';
import { selectRuntimeLoopBatch } from '../machine/batch.js';
import type { Clock } from './clock.js';
import {
  TERMINATION_REASONS,
  type AbandonReasonView,
  type CompletionHandle,
  type CompletionOutcome,
} from './completion.js';
import {
  internalError,
  invalidField,
  invalidPhase,
  KernelError,
  runtimeDestroyed,
  runtimeNotFound,
  sessionNotFound,
} from './errors.js';
import type { ApplyReport, ExecutorRegistry, RunAssignment } from './executor.js';
import { newId, runtimeIdOf } from './ids.js';
import {
  admissionKindOf,
  inputText,
  originKind,
  requestedHandlingMode,
  validateInput,
  withContent,
  type ValidatedInput,
} from './input.js';
import { OpsRegistry } from './ops-registry.js';
import { PeerInbox } from './peer-inbox.js';
import { RuntimeLoop, type LoopHost } from './runtime-loop.js';
import { errorText, isTerminalPhase, SessionRuntime, type LedgerRecord, type SessionTxn } from './session.js';
import type { BlobStore, PeerMessage, RoutedSignal, RuntimeStore, SessionDocument, StoredInputRow } from './store.js';
import type { CommitFence, LeaseHandover, SessionLeases } from './leases.js';
import { activeTraceparent } from '../telemetry/kernel-tracing.js';
import { observeAdmission, type KernelObserver } from './observer.js';

export interface KernelOptions {
  readonly store: RuntimeStore;
  readonly executors: ExecutorRegistry;
  readonly clock: Clock;
  /** Check machine.md §9 invariants before every commit (default true). */
  readonly assertInvariants: boolean;
  /** Base back-off before retrying a failed run's inputs (doubles per attempt, capped at 2 s). */
  readonly retryBackoffMs: number;
  /** Terminal inputs whose ledger records stay in memory per session (older ones are read from the store). */
  readonly terminalRetention: number;
  /** Where large input content is externalised (`null`: never). */
  readonly blobs: BlobStore | null;
  /** Content fields larger than this many bytes go to the blob store before the input is acknowledged. */
  readonly blobThresholdBytes: number;
  /** Metrics hooks (./observer.ts); none by default. */
  readonly observer?: KernelObserver;
  /** Session leases across replicas (decision 12); without it this process owns every session it loads. */
  readonly ownership?: Ownership;
}

/** How this replica takes and keeps session leases. */
export interface Ownership {
  readonly leases: SessionLeases;
  /** This replica's id (`MEERKAT_REPLICA_ID`). */
  readonly replicaId: string;
  /** `host:port` other replicas reach this one at (`MEERKAT_ADVERTISE_ADDR`). */
  readonly address: string;
  /** Lease lifetime without renewal (ms). */
  readonly ttlMs: number;
  /**
   * Idle lease handover (ms; 0 or absent: off): a session that no call reached *directly* (not
   * forwarded by another replica) for this long is handed over to a replica that forwards a call
   * for it, once that call is served and the session is quiescent ({@link KernelCore.handOverIfIdle}).
   */
  readonly handoverIdleMs?: number;
}

/** Why {@link KernelCore.handOverIfIdle} kept a session (or `handed_over`). */
export type HandoverDecision =
  | { readonly kind: 'handed_over'; readonly token: number; readonly executor: string | null }
  | {
      readonly kind: 'kept';
      readonly reason:
        | 'handover_off'
        | 'not_loaded'
        | 'direct_calls'
        | 'calls_in_flight'
        | 'run_in_flight'
        | 'inputs_pending'
        | 'waiters_open'
        | 'executor_not_portable'
        | 'drain_running'
        | 'ops_running'
        | 'unhealthy'
        | 'lease_lost'
        | 'handover_in_progress';
    };

/** Calls being served here for one session, and when one last reached this replica directly. */
interface SessionActivity {
  lastDirectAt: number;
  calls: number;
}

/** Signal strength order (commands.md §2.10). */
export type PostAdmissionSignal = 'None' | 'WakeLoop' | 'InterruptYielding' | 'RequestImmediateProcessing';
const SIGNAL_RANK: Readonly<Record<PostAdmissionSignal, number>> = {
  None: 0,
  WakeLoop: 1,
  InterruptYielding: 2,
  RequestImmediateProcessing: 3,
};

export type AcceptOutcome =
  | { readonly type: 'accepted'; readonly input_id: string; readonly row: StoredInputRow }
  | { readonly type: 'deduplicated'; readonly input_id: string; readonly existing_id: string; readonly existing: StoredInputRow | null }
  | { readonly type: 'rejected'; readonly reason: string; readonly detail: string };

export type AdmissionMode = 'with_completion' | 'without_wake' | 'ingest' | 'legacy_prepare';

export interface AdmissionResult {
  readonly outcome: AcceptOutcome;
  readonly signal: PostAdmissionSignal;
  readonly handle: CompletionHandle | null;
  /** Staged transaction, only for `legacy_prepare` (the caller continues it). */
  readonly tx: SessionTxn | null;
}

export class KernelCore implements LoopHost {
  readonly sessions = new Map<string, SessionRuntime>();
  private readonly registering = new Map<string, Promise<SessionRuntime>>();
  /** Counters for operators (durability health, persistence.md §7). */
  readonly metrics = { commits: 0, commit_failures: 0, sessions_reload_required: 0, reloads: 0, recoveries: 0, ownership_lost: 0, handovers: 0 };
  /** Observers of committed routed signals (in-process subscribers). */
  readonly signalListeners = new Set<(s: RoutedSignal) => void>();
  /** Set by a graceful drain (`MeerkatMachine.drainRuns`): a loop attached from now on starts no run. */
  shuttingDown = false;

  /** Per-session call activity for the idle lease handover (see {@link beginSessionCall}). */
  private readonly activity = new Map<string, SessionActivity>();
  /** Session entries this replica dropped (lease lost or handed over): they never commit again. */
  private readonly released = new WeakSet<SessionRuntime>();
  /** Handovers in progress: a registration of the same session waits for the lease to be handed over first. */
  private readonly handingOver = new Map<string, Promise<HandoverDecision>>();
  /**
   * Executors every replica has (those registered when the kernel was built, e.g. `echo`): a session
   * whose loop runs one of them can move to another replica, which re-attaches it. Executors that
   * attach later over `ExecutorService.Attach` live on this replica's stream and pin the session here.
   */
  private readonly portableExecutors: ReadonlySet<string>;

  constructor(readonly options: KernelOptions) {
    this.portableExecutors = new Set(options.executors.names());
  }

  get store(): RuntimeStore {
    return this.options.store;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  // -------------------------------------------------------------------------------------------
  // Session table

  /** The session, or SESSION_NOT_FOUND. */
  session(sessionId: string): SessionRuntime {
    const s = this.sessions.get(sessionId);
    if (!s) throw sessionNotFound(sessionId);
    return s;
  }

  /** The session, or SESSION_NOT_FOUND / RUNTIME_DESTROYED. */
  liveSession(sessionId: string): SessionRuntime {
    const s = this.session(sessionId);
    if (s.phase === 'Destroyed') throw runtimeDestroyed(sessionId);
    return s;
  }

  sessionByRuntime(runtimeId: string, sessionId: string): SessionRuntime {
    const s = this.sessions.get(sessionId);
    if (!s) throw runtimeNotFound(runtimeId);
    return s;
  }

  /**
   * Registers a session if it is not in the table (commands.md §3.0): a fresh
   * authority is initialised and registered through the reducer and committed.
   * Returns the entry and whether this call created it.
   */
  async ensureRegistered(sessionId: string): Promise<{ session: SessionRuntime; inserted: boolean }> {
    const existing = this.sessions.get(sessionId);
    if (existing && existing.health.status === 'healthy') {
      existing.clearDeadAttachment();
      return { session: existing, inserted: false };
    }
    const pending = this.registering.get(sessionId);
    if (pending) return { session: await pending, inserted: false };
    const work = (async () => {
      if (existing) await this.dropForReload(existing);
      await this.handingOver.get(sessionId);
      // Own the session before reading it: a takeover reads what the previous owner last committed.
      const { fence, handover } = await this.claimLease(sessionId);
      const doc = await this.store.loadSession(runtimeIdOf(sessionId));
      const session = doc ? await this.recoverSession(sessionId, doc, fence) : await this.registerFresh(sessionId, fence);
      this.touchLoaded(sessionId);
      // A lease handed over by an idle owner: run the session with the executor it had there.
      if (handover?.executor) await this.reattachAfterHandover(session, handover.executor);
      return session;
    })();
    this.registering.set(sessionId, work);
    try {
      return { session: await work, inserted: true };
    } finally {
      this.registering.delete(sessionId);
    }
  }

  /**
   * Takes the session's lease (decision 12) and returns the fence its commits carry; `null` when
   * this kernel runs without {@link Ownership}. A live other owner is SESSION_OWNED_ELSEWHERE.
   */
  private async claimLease(sessionId: string): Promise<{ fence: CommitFence | null; handover: LeaseHandover | null }> {
    const own = this.options.ownership;
    if (!own) return { fence: null, handover: null };
    const claim = await own.leases.claim({ session_id: sessionId, replica_id: own.replicaId, address: own.address, ttl_ms: own.ttlMs });
    if (claim.kind === 'held') {
      throw new KernelError(
        'SESSION_OWNED_ELSEWHERE',
        `session ${sessionId} is owned by replica ${claim.owner_replica} at ${claim.owner_address} (lease expires in ${claim.expires_in_ms} ms unless renewed)`,
        { session_id: sessionId, owner_replica: claim.owner_replica, owner_address: claim.owner_address },
      );
    }
    return { fence: { replica_id: own.replicaId, token: claim.token }, handover: claim.handover ?? null };
  }

  /**
   * Re-attaches the runtime loop a handed-over session had on its previous owner (the same reducer
   * path as `EnsureSessionWithExecutor`). Skipped when this replica does not have the executor or
   * the recovered runtime does not take one; the client's `EnsureSessionWithExecutor` still works.
   */
  private async reattachAfterHandover(session: SessionRuntime, executor: string): Promise<void> {
    if (!this.options.executors.has(executor, session.sessionId)) return;
    await session.gate.run(async () => {
      session.clearDeadAttachment();
      if (session.attachment.kind !== 'none' || session.phase === 'Destroyed') return;
      const tx = session.begin('EnsureSessionWithExecutor');
      if (tx.tryApply({ type: 'EnsureSessionWithExecutor', session_id: session.sessionId }) === null) return;
      await this.commit(session, tx);
      if (session.phase !== 'Attached') return;
      const loop = this.startLoop(session, executor);
      if (session.activeInputIds().length > 0) loop.wake();
    });
  }

  /**
   * Notes a call for `sessionId` being served here (the server's forwarding layer calls this for
   * every session-scoped call it serves locally); `direct` when the call reached this replica
   * itself rather than being forwarded by another replica. Returns the function to call when the
   * call ends. Direct calls at their start and end are what keeps a session from being handed over.
   */
  beginSessionCall(sessionId: string, direct: boolean): () => void {
    let a = this.activity.get(sessionId);
    if (a === undefined) {
      a = { lastDirectAt: Number.NEGATIVE_INFINITY, calls: 0 };
      this.activity.set(sessionId, a);
    }
    const entry = a;
    entry.calls += 1;
    if (direct) entry.lastDirectAt = this.clock.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.calls -= 1;
      if (direct) entry.lastDirectAt = this.clock.now();
      if (entry.calls === 0 && !this.sessions.has(sessionId) && this.activity.get(sessionId) === entry) this.activity.delete(sessionId);
    };
  }

  /** A session just loaded here counts as directly active: a new owner does not hand it straight back. */
  private touchLoaded(sessionId: string): void {
    const a = this.activity.get(sessionId);
    if (a) a.lastDirectAt = this.clock.now();
    else this.activity.set(sessionId, { lastDirectAt: this.clock.now(), calls: 0 });
  }

  /**
   * Idle lease handover (decision 12: "an idle lease is handed to the replica that keeps receiving
   * its calls"). Called after this replica served a call another replica forwarded. The session is
   * handed over when handover is on, no call reached this replica directly for it for
   * `handoverIdleMs`, and — checked under the session's gate, so nothing is admitted meanwhile —
   * it is quiescent: no call being served, no run in flight, no non-terminal input, no completion
   * waiter, no comms drain (its peer inbox is durable), no running async operation, and its loop (if any) runs
   * an executor every replica has. Then the entry is dropped from memory exactly as when the lease
   * is lost (no reducer transition, nothing written: everything it holds is already committed) and
   * the lease ends with a handover note; the next replica to claim it (token + 1) recovers the
   * session from the store and re-attaches the executor. Commits through a stale reference to
   * the dropped entry are refused with SESSION_OWNED_ELSEWHERE.
   */
  async handOverIfIdle(sessionId: string): Promise<HandoverDecision> {
    const own = this.options.ownership;
    const idleMs = own?.handoverIdleMs ?? 0;
    if (!own || idleMs <= 0) return kept('handover_off');
    const first = this.sessions.get(sessionId);
    if (first === undefined || first.fence === null) return kept('not_loaded');
    const quick = this.handoverBlocker(first, idleMs);
    if (quick !== null) return kept(quick);
    if (this.handingOver.has(sessionId)) return kept('handover_in_progress');
    const handover = this.handOverInGate(first, own, idleMs);
    this.handingOver.set(sessionId, handover);
    try {
      return await handover;
    } finally {
      this.handingOver.delete(sessionId);
    }
  }

  private handOverInGate(first: SessionRuntime, own: Ownership, idleMs: number): Promise<HandoverDecision> {
    const sessionId = first.sessionId;
    return first.gate.run(async (): Promise<HandoverDecision> => {
      const session = this.sessions.get(sessionId);
      if (session !== first || session.fence === null) return kept('not_loaded');
      const blocker = this.handoverBlocker(session, idleMs);
      if (blocker !== null) return kept(blocker);
      const executor = session.attachment.kind === 'active' ? session.attachment.executor : null;
      const fence = session.fence;
      this.forget(session, TERMINATION_REASONS.ownershipLost);
      const handed = await own.leases.handOver({ session_id: sessionId, replica_id: own.replicaId, token: fence.token, executor });
      if (!handed) {
        this.metrics.ownership_lost += 1;
        return kept('lease_lost');
      }
      this.metrics.handovers += 1;
      return { kind: 'handed_over', token: fence.token, executor };
    });
  }

  /** What keeps `session` here (see {@link handOverIfIdle}), or null when it may be handed over. */
  private handoverBlocker(session: SessionRuntime, idleMs: number): Exclude<HandoverDecision, { kind: 'handed_over' }>['reason'] | null {
    const a = this.activity.get(session.sessionId);
    if (a !== undefined && this.clock.now() - a.lastDirectAt < idleMs) return 'direct_calls';
    if (a !== undefined && a.calls > 0) return 'calls_in_flight';
    if (session.health.status !== 'healthy') return 'unhealthy';
    const state = session.state;
    const loop = session.attachment.kind === 'active' ? session.attachment.loop : null;
    if (state.current_run_id !== null || state.lifecycle_phase === 'Running' || (loop !== null && (loop.currentRunId !== null || (loop.live && !loop.acceptsPreparedRun)))) {
      return 'run_in_flight';
    }
    if (session.activeInputIds().length > 0) return 'inputs_pending';
    if (session.waiters.waiterCount > 0) return 'waiters_open';
    if (session.attachment.kind === 'attaching') return 'executor_not_portable';
    if (session.attachment.kind === 'active' && !this.portableExecutors.has(session.attachment.executor)) return 'executor_not_portable';
    if (session.drain.task !== null) return 'drain_running';
    if (Object.values(state.op_statuses).some((status) => !isOpTerminal(status))) return 'ops_running';
    return null;
  }

  /**
   * Renews every lease this replica holds (one store write) and drops, without running anything,
   * each loaded session whose lease it no longer holds (expired and taken over while this process
   * was paused or partitioned). Returns the sessions dropped.
   */
  async renewLeases(): Promise<readonly string[]> {
    const own = this.options.ownership;
    if (!own) return [];
    const owned = await own.leases.renew(own.replicaId, own.ttlMs);
    for (const [id, a] of this.activity) if (a.calls === 0 && !this.sessions.has(id)) this.activity.delete(id);
    const lost: string[] = [];
    for (const session of [...this.sessions.values()]) {
      if (session.fence !== null && owned.get(session.sessionId) !== session.fence.token) {
        lost.push(session.sessionId);
        await this.dropOwnership(session);
      }
    }
    return lost;
  }

  /**
   * Forgets a session this replica no longer owns: waiters end, the loop is told to stop (not
   * awaited: this may run inside the loop's own refused commit), nothing is written.
   */
  async dropOwnership(session: SessionRuntime): Promise<void> {
    if (this.sessions.get(session.sessionId) !== session) return;
    this.forget(session, TERMINATION_REASONS.ownershipLost);
    await this.abortDrainTask(session);
    this.metrics.ownership_lost += 1;
  }

  /**
   * Drops an entry this replica no longer owns (lease lost or handed over): out of the table, its
   * waiters ended, its loop told to stop (not awaited: this may run inside the loop's own refused
   * commit, or under the gate the loop waits for), its drain aborted, and never committed again.
   */
  private forget(session: SessionRuntime, reason: string): void {
    this.released.add(session);
    this.sessions.delete(session.sessionId);
    const a = this.activity.get(session.sessionId);
    if (a !== undefined && a.calls === 0) this.activity.delete(session.sessionId);
    session.waiters.terminateAll(reason);
    if (session.attachment.kind === 'active') void session.attachment.loop.close();
    session.attachment = { kind: 'none' };
    session.drain.abort?.abort();
    session.waiters.close();
  }

  /** Releases every lease this replica holds (graceful shutdown), so other replicas take them at once. */
  async releaseLeases(): Promise<void> {
    const own = this.options.ownership;
    if (own) await own.leases.release(own.replicaId);
  }

  private newSessionRuntime(sessionId: string, epochId: string, fence: CommitFence | null): SessionRuntime {
    const session = new SessionRuntime(
      sessionId,
      runtimeIdOf(sessionId),
      epochId,
      initialMachineState(),
      this.store,
      this.clock,
      { assertInvariants: this.options.assertInvariants },
      fence,
    );
    session.ops = new OpsRegistry(
      session,
      (sess, command, inputs) => this.mutateSession(sess, command, inputs),
      () => this.clock.now(),
      256,
      () => void this.injectContinuation(session),
    );
    session.inbox = new PeerInbox(this.store, sessionId, session.runtimeId, this.clock);
    return session;
  }

  private async registerFresh(sessionId: string, fence: CommitFence | null): Promise<SessionRuntime> {
    const epochId = newId();
    const session = this.newSessionRuntime(sessionId, epochId, fence);
    const tx = session.begin('RegisterSession');
    tx.apply({ type: 'Initialize' });
    tx.apply({ type: 'RegisterSession', session_id: sessionId, runtime_epoch_id: epochId });
    await this.commit(session, tx);
    this.sessions.set(sessionId, session);
    return session;
  }

  /**
   * Cold registration after a restart (persistence.md §4.5): installs the
   * persisted machine document through `RestoreDurableSnapshot`, rebuilds the
   * input ledger from the stored rows, re-queues staged inputs and applied
   * inputs whose boundary receipt is missing, consumes applied inputs whose
   * receipt committed, drops ephemeral inputs, and commits the result.
   */
  private async recoverSession(sessionId: string, doc: SessionDocument, fence: CommitFence | null): Promise<SessionRuntime> {
    const runtimeId = runtimeIdOf(sessionId);
    const session = this.newSessionRuntime(sessionId, doc.epoch_id, fence);
    const rows = [...(await this.store.loadInputs(runtimeId))].sort(
      (a, b) => (a.admission_sequence ?? Number.MAX_SAFE_INTEGER) - (b.admission_sequence ?? Number.MAX_SAFE_INTEGER) || a.created_at - b.created_at,
    );
    for (const row of rows) {
      const input = await this.hydrate(row);
      session.ledger.set(row.input_id, { input, kind: admissionKindOf(input.body), created_at: row.created_at, row });
      session.admissionOrder.push(row.input_id);
      if (row.terminal_outcome !== null && row.idempotency_key !== null) session.archivedKeys.set(row.idempotency_key, row.input_id);
    }
    const tx = session.begin('Recover');
    tx.apply({ type: 'RestoreDurableSnapshot', snapshot: doc.machine });
    const details: string[] = [];
    let recovered = 0;
    let abandoned = 0;
    let requeued = 0;
    const pendingRows = rows.filter((r) => r.terminal_outcome === null);
    const phase = tx.state.lifecycle_phase;
    if ((phase === 'Stopped' || phase === 'Destroyed') && pendingRows.some((r) => r.durability !== 'ephemeral')) {
      throw internalError(
        `store corruption: runtime-state projection '${phase.toLowerCase()}' conflicts with ${pendingRows.length} active inputs of ${runtimeId}`,
      );
    }
    // Rebuild every pending input from its row (the document does not carry per-input facts).
    const dropped: string[] = [];
    for (const row of pendingRows) {
      const id = row.input_id;
      if (row.durability === 'ephemeral') {
        dropped.push(id);
        details.push(`${id}: ephemeral input dropped`);
        continue;
      }
      const sem = row.runtime_semantics;
      if (sem === null) throw internalError(`store corruption: input ${id} of ${runtimeId} has no runtime execution semantics stamp`);
      const lane = row.lane === 'steer' ? 'Steer' : 'Queue';
      const rec = session.ledger.get(id);
      tx.apply({
        type: 'RecoverAdmittedInput',
        input_id: id,
        kind: rec?.kind ?? 'Prompt',
        continuation_kind: sem.continuation_kind,
        boundary: sem.boundary,
        execution_kind: sem.execution_kind,
        peer_response_terminal_apply_intent: sem.peer_response_terminal_apply_intent,
        lane,
      });
      tx.apply({
        type: 'RecoverInputLifecycle',
        input_id: id,
        phase: MACHINE_PHASE[row.phase],
        terminal_kind: null,
        superseded_by: null,
        aggregate_id: null,
        abandon_reason: null,
        abandon_attempt_count: null,
        attempt_count: row.attempt_count,
        run_id: row.last_run_id,
        boundary_sequence: row.last_boundary_sequence,
        admission_sequence: row.admission_sequence,
        lane,
        recovery_reason: row.admission_sequence === null ? 'QueueAccepted' : null,
        idempotency_key: row.idempotency_key,
      });
    }
    const active = session.activeInputIds(tx.state);
    for (const id of active) {
      const inputPhase = tx.state.input_phases[id];
      recovered += 1;
      const lane = tx.state.input_recovery_lanes[id] ?? 'Queue';
      if (inputPhase === 'Staged') {
        tx.apply({ type: 'RollbackStaged', input_id: id, lane }, 'recovered: staged → queued');
        requeued += 1;
        details.push(`${id}: staged → queued`);
      } else if (inputPhase === 'Applied' || inputPhase === 'AppliedPendingConsumption') {
        const run = tx.state.input_run_associations[id];
        const seq = tx.state.input_boundary_sequences[id];
        const receipt = run !== undefined && seq !== undefined ? await this.store.loadBoundaryReceipt(runtimeId, run, seq) : null;
        if (receipt) {
          tx.apply({ type: 'ConsumeInput', input_id: id }, 'recovered: boundary receipt committed');
          details.push(`${id}: applied with committed receipt → consumed`);
        } else {
          tx.apply({ type: 'RollbackStaged', input_id: id, lane }, 'recovered: boundary receipt missing');
          requeued += 1;
          details.push(`${id}: applied without receipt → queued`);
        }
      }
    }
    this.archiveTerminal(tx, [...active]);
    for (const id of dropped) {
      tx.deletedInputs.add(id);
      session.ledger.delete(id);
    }
    session.admissionOrder.splice(0, session.admissionOrder.length, ...session.admissionOrder.filter((id) => session.ledger.has(id)));
    abandoned += dropped.length;
    // A PersistentHost comms drain that was running when the document was last written (the task
    // died with the process; `RestoreDurableSnapshot` recorded it Stopped) is spawned again, so
    // the peer inbox keeps being admitted across a restart or a takeover (decision 9). A drain
    // stopped on purpose (Abort, NotifyDrainExited, keep_alive=false) was written as such and stays down.
    const comms = tx.state.peer_ingress_comms_runtime_id;
    const respawnDrain =
      doc.machine.drain_phase === 'Running' &&
      doc.machine.drain_mode === 'PersistentHost' &&
      comms !== null &&
      tx.tryApply({ type: 'SpawnDrain', mode: 'PersistentHost' }, 'recovered: the comms drain was running') !== null;
    if (respawnDrain) details.push(`comms drain of ${comms} respawned`);
    await this.commit(session, tx);
    session.recoveryReport = { inputs_recovered: recovered, inputs_abandoned: abandoned, inputs_requeued: requeued, details };
    this.metrics.recoveries += 1;
    this.sessions.set(sessionId, session);
    if (respawnDrain && comms !== null) this.startDrainTask(session, comms);
    return session;
  }

  /** Restores an externalised content field from its blob. */
  private async hydrate(row: StoredInputRow): Promise<ValidatedInput> {
    const input = row.input as ValidatedInput;
    if (row.content_blob_id === null || !this.options.blobs) return input;
    const blob = await this.options.blobs.getBlob(row.content_blob_id);
    return { ...input, body: withContent(input.body, Buffer.from(blob.bytes).toString('utf8')) };
  }

  /** Forgets a session whose durable write failed so it can be recovered from the store. */
  private async dropForReload(session: SessionRuntime): Promise<void> {
    if (session.attachment.kind === 'active') await session.attachment.loop.close();
    session.attachment = { kind: 'none' };
    await this.abortDrainTask(session);
    session.waiters.close();
    this.sessions.delete(session.sessionId);
    this.metrics.reloads += 1;
  }

  /** Marks a session reload-required after a failed durable write (persistence.md §7). */
  markReloadRequired(session: SessionRuntime, reason: string): void {
    if (session.health.status === 'reload_required') return;
    session.health = { status: 'reload_required', reason };
    this.metrics.sessions_reload_required += 1;
  }

  /** Applies `inputs` to the session in one gated, committed transaction; returns the new state. */
  mutateSession(
    session: SessionRuntime,
    command: string,
    inputs: (state: MachineState) => readonly MachineInput[],
  ): Promise<MachineState> {
    return session.gate.run(async () => {
      const tx = session.begin(command);
      for (const input of inputs(tx.state)) tx.apply(input);
      await this.commit(session, tx);
      return session.state;
    });
  }

  /**
   * A background operation completed: give the agent a turn to observe it
   * (commands.md §1.5 "idle wake") by admitting one continuation input.
   */
  async injectContinuation(session: SessionRuntime): Promise<void> {
    if (!session.loop || session.phase === 'Destroyed') return;
    try {
      const r = await this.admit(
        session,
        validateInput({
          durability: 'durable',
          origin: { type: 'system' },
          body: { input_type: 'continuation', reason: 'detached background op completed' },
        }),
        'with_completion',
      );
      r.handle?.cancel();
    } catch {
      // The session stopped accepting input meanwhile; nothing to observe then.
    }
  }

  /** Commits and fans routed signals out to in-process listeners. */
  async commit(session: SessionRuntime, tx: SessionTxn): Promise<void> {
    if (this.released.has(session)) {
      // A stale reference to an entry this replica dropped (lease lost or handed over): write nothing.
      throw new KernelError('SESSION_OWNED_ELSEWHERE', `${tx.command}: replica no longer owns session ${session.sessionId}; nothing was written`, {
        session_id: session.sessionId,
      });
    }
    let signals: readonly RoutedSignal[];
    try {
      signals = await session.commit(tx);
    } catch (e) {
      this.metrics.commit_failures += 1;
      this.options.observer?.commitFailed(e);
      if (e instanceof KernelError && e.code === 'SESSION_OWNED_ELSEWHERE') await this.dropOwnership(session);
      throw e;
    }
    this.metrics.commits += 1;
    for (const s of signals) for (const l of this.signalListeners) l(s);
    this.pruneLedger(session);
  }

  private pruneLedger(session: SessionRuntime): void {
    const limit = this.options.terminalRetention;
    // The scan below is O(ledger): run it only when the ledger grew by a quarter of the limit since
    // the last one (a session with a deep queue would otherwise pay it on every commit).
    if (session.ledger.size <= limit * 2 || session.ledger.size < session.nextLedgerScanAt) return;
    session.nextLedgerScanAt = session.ledger.size + Math.max(1, Math.floor(limit / 4));
    let terminal = 0;
    for (const rec of session.ledger.values()) if (isTerminalRow(rec.row)) terminal += 1;
    let excess = terminal - limit;
    if (excess <= 0) return;
    for (const id of session.admissionOrder) {
      if (excess <= 0) break;
      const rec = session.ledger.get(id);
      if (rec && isTerminalRow(rec.row) && !(id in session.state.input_phases)) {
        session.ledger.delete(id);
        excess -= 1;
      }
    }
    const kept = session.admissionOrder.filter((id) => session.ledger.has(id));
    session.admissionOrder.splice(0, session.admissionOrder.length, ...kept);
  }

  /** An input's row: live ledger first, then the store. */
  async inputRow(session: SessionRuntime, inputId: string): Promise<StoredInputRow | null> {
    return session.ledger.get(inputId)?.row ?? (await this.store.loadInput(session.runtimeId, inputId));
  }

  // -------------------------------------------------------------------------------------------
  // Admission (machine.md §3.2)

  /** Runs the admission pipeline under the session gate. */
  /** `peerMessage`: the peer-inbox message this admission takes (removed in its commit; see `peer-inbox.ts`). */
  admit(session: SessionRuntime, input: ValidatedInput, mode: AdmissionMode, peerMessage?: number): Promise<AdmissionResult> {
    return observeAdmission(this.options.observer, mode, session.gate.run(() => this.admitInGate(session, input, mode, peerMessage)));
  }

  async admitInGate(session: SessionRuntime, input: ValidatedInput, mode: AdmissionMode, peerMessage?: number): Promise<AdmissionResult> {
    const command =
      mode === 'with_completion'
        ? 'AcceptWithCompletion'
        : mode === 'without_wake'
          ? 'AcceptWithoutWake'
          : mode === 'ingest'
            ? 'Ingest'
            : 'Prepare';
    const visible = session.visiblePhase;
    if (visible === 'Destroyed') throw runtimeDestroyed(session.sessionId);
    if (session.state.registration_phase === 'Draining') {
      throw invalidPhase(command, visible, 'the session is being unregistered');
    }
    if (visible !== 'Idle' && visible !== 'Attached' && visible !== 'Running') {
      throw invalidPhase(command, visible, 'the runtime does not accept input in this phase');
    }
    if (session.ledger.has(input.id) || input.id in session.state.input_phases) {
      throw invalidField('input.id', `input ${input.id} was already submitted to this session; use an idempotency key to retry safely`);
    }
    const tx = session.begin(command);
    if (peerMessage !== undefined) tx.takePeerMessage(peerMessage);
    const state = tx.state;
    if (mode === 'ingest' && state.active_runtime_id !== null && state.active_fence_token !== null) {
      tx.apply({
        type: 'Ingest',
        session_id: session.sessionId,
        runtime_id: state.active_runtime_id,
        fence_token: state.active_fence_token,
        generation: state.active_runtime_generation,
        runtime_epoch_id: state.active_runtime_epoch_id,
        work_id: newId(),
        origin: 'Ingest',
      });
    }
    const kind = admissionKindOf(input.body);
    const handling = requestedHandlingMode(input.body);
    const convention = input.body.input_type === 'peer' ? input.body.convention : null;
    const peerModeValid = !(kind === 'PeerResponseProgress' && input.body.input_type === 'peer' && input.body.handling_mode);
    const prtStructValid =
      convention === null ||
      (convention.type !== 'response_terminal' && convention.type !== 'response_progress') ||
      convention.request_id.trim().length > 0;
    const prtStatus =
      convention?.type === 'response_terminal'
        ? convention.status === 'completed'
          ? 'Completed'
          : convention.status === 'failed'
            ? 'Failed'
            : 'Cancelled'
        : 'NotPeerTerminal';
    tx.apply({
      type: 'ResolveAdmissionValidation',
      input_id: input.id,
      kind,
      origin: originKind(input.origin),
      durability: input.durability === 'durable' ? 'Durable' : input.durability === 'ephemeral' ? 'Ephemeral' : 'Derived',
      peer_mode_valid: peerModeValid,
      prt_struct_valid: prtStructValid,
      prt_status: prtStatus,
    });
    const validation = tx.effectsOf('AdmissionValidationResolved').at(-1);
    if (validation?.result === 'Reject') {
      const reason = validation.reject_reason ?? 'Rejected';
      return {
        outcome: { type: 'rejected', reason, detail: rejectDetail(reason, kind) },
        signal: 'None',
        handle: null,
        tx: null,
      };
    }
    // Idempotency: keys of archived inputs first (the live machine forgot them), then the machine's map.
    const key = input.idempotency_key;
    const archivedId = key !== null ? session.archivedKeys.get(key) : undefined;
    if (key !== null && archivedId !== undefined) return this.deduplicated(session, input.id, archivedId, mode);
    tx.apply({ type: 'ResolveAdmissionIdempotency', input_id: input.id, idempotency_key: key });
    const idem = tx.effectsOf('AdmissionIdempotencyResolved').at(-1);
    if (idem?.result === 'Deduplicated' && idem.existing_input_id) {
      return this.deduplicated(session, input.id, idem.existing_input_id, mode);
    }
    const silentMatch =
      convention?.type === 'request' && state.silent_intent_overrides.includes(convention.intent);
    const existing =
      kind === 'PeerResponseProgress' && input.supersession_key !== null
        ? this.findCoalesceTarget(session, state, input.supersession_key)
        : null;
    tx.apply({
      type: 'ResolveAdmissionPlan',
      input_id: input.id,
      kind,
      requested_lane: handling === 'queue' ? 'Queue' : handling === 'steer' ? 'Steer' : null,
      continuation_kind: 'Ordinary',
      silent_intent_match: silentMatch,
      existing_superseded_input_id: existing,
      runtime_running: tx.state.lifecycle_phase === 'Running',
      active_turn_boundary_available: false,
      without_wake: mode === 'without_wake' || mode === 'legacy_prepare',
    });
    const plan = tx.effectsOf('AdmissionResolved').at(-1) as AdmissionResolved;
    const now = this.clock.now();
    let record: LedgerRecord = {
      input,
      kind,
      created_at: now,
      row: {
        runtime_id: session.runtimeId,
        input_id: input.id,
        phase: 'accepted',
        terminal_outcome: null,
        durability: input.durability,
        idempotency_key: key,
        lane: null,
        admission_sequence: null,
        attempt_count: 0,
        last_run_id: null,
        last_boundary_sequence: null,
        input: { ...input },
        content_blob_id: null,
        runtime_semantics: null,
        terminal_completion: null,
        history: [],
        trace_context: activeTraceparent(),
        created_at: now,
        updated_at: now,
      },
    };
    if (this.options.blobs !== null) {
      const content = inputText(input.body);
      if (Buffer.byteLength(content, 'utf8') > this.options.blobThresholdBytes) {
        // Large content goes to the blob store before the input is acknowledged (persistence.md §3).
        const blobId = await this.options.blobs.putBlob(Buffer.from(content, 'utf8'), 'text/plain; charset=utf-8');
        record = { ...record, row: { ...record.row, input: { ...input, body: withContent(input.body, '') }, content_blob_id: blobId } };
      }
    }
    tx.addRecord(record);
    if (plan.plan === 'ConsumedOnAccept') {
      tx.apply({ type: 'QueueAccepted', input_id: input.id });
      tx.apply({ type: 'ConsumeOnAccept', input_id: input.id }, 'consumed on accept');
    } else {
      tx.apply({ type: plan.lane === 'Steer' ? 'SteerAccepted' : 'QueueAccepted', input_id: input.id });
      if (plan.existing_action === 'Coalesce' && plan.existing_input_id) {
        tx.apply({ type: 'CoalesceInput', input_id: plan.existing_input_id, aggregate_id: input.id }, 'coalesced');
      } else if (plan.existing_action === 'Supersede' && plan.existing_input_id) {
        tx.apply({ type: 'SupersedeInput', input_id: plan.existing_input_id, superseded_by: input.id }, 'superseded');
      }
    }
    if (key !== null) tx.apply({ type: 'RegisterAcceptedIdempotency', input_id: input.id, idempotency_key: key });
    if (mode === 'legacy_prepare') {
      return { outcome: { type: 'accepted', input_id: input.id, row: record.row }, signal: 'None', handle: null, tx };
    }
    if (mode === 'without_wake') tx.apply({ type: 'AcceptWithoutWake', input_id: input.id });
    else {
      tx.apply({
        type: 'AcceptWithCompletion',
        input_id: input.id,
        request_immediate_processing: plan.request_immediate_processing,
        interrupt_yielding: plan.interrupt_yielding,
        wake_if_idle: plan.wake_if_idle,
      });
    }
    let signal: PostAdmissionSignal = 'None';
    for (const e of tx.effectsOf('PostAdmissionSignal')) {
      if (SIGNAL_RANK[e.signal] > SIGNAL_RANK[signal]) signal = e.signal;
    }
    const cab = tx.effectsOf('RuntimeEffectFact').find((e) => e.kind === 'CancelAfterBoundary');
    const coalesced = plan.existing_action && plan.existing_input_id ? plan.existing_input_id : null;
    // An input that wakes an idle session's loop is staged for its run in this same transaction
    // and handed to the loop: one commit fewer per input than letting the loop stage it.
    const loopNow = session.loop;
    const staged =
      loopNow !== null && loopNow.acceptsPreparedRun && cab === undefined && SIGNAL_RANK[signal] >= SIGNAL_RANK.WakeLoop && canStageRun(tx.state, false)
        ? (tx.checkpointNewRecords(now), this.stageRun(session, tx))
        : null;
    await this.commit(session, tx);
    const row = session.ledger.get(input.id)?.row ?? record.row;
    if (coalesced) {
      session.waiters.resolve(coalesced, { kind: 'coalesced', aggregate_id: input.id });
    }
    let handle: CompletionHandle | null = null;
    // An input that is terminal at admission (e.g. an operation input consumed on accept)
    // gets no handle (commands.md §3.6.1 step 6).
    if (mode === 'with_completion' && !isTerminalRow(row)) handle = session.waiters.register(input.id);
    const loop = session.loop;
    if (staged !== null && loop === loopNow && loop !== null) loop.runPrepared(this.assignment(session, staged.runId, staged.inputIds));
    else if (loop && SIGNAL_RANK[signal] >= SIGNAL_RANK.WakeLoop) loop.wake();
    if (loop && cab) {
      await loop.executor.cancelAfterBoundary?.(cab.reason);
      loop.post({ kind: 'CancelAfterBoundary', reason: cab.reason });
    }
    return { outcome: { type: 'accepted', input_id: input.id, row }, signal, handle, tx: null };
  }

  private async deduplicated(
    session: SessionRuntime,
    inputId: string,
    existingId: string,
    mode: AdmissionMode,
  ): Promise<AdmissionResult> {
    const existing = await this.inputRow(session, existingId);
    let handle: CompletionHandle | null = null;
    if (mode === 'with_completion' && existing && !isTerminalRow(existing)) handle = session.waiters.register(existingId);
    return {
      outcome: { type: 'deduplicated', input_id: inputId, existing_id: existingId, existing },
      signal: 'None',
      handle,
      tx: null,
    };
  }

  /** A queued progress input with the same supersession key (same kind, same session). */
  private findCoalesceTarget(session: SessionRuntime, state: MachineState, key: string): string | null {
    for (let i = session.admissionOrder.length - 1; i >= 0; i -= 1) {
      const id = session.admissionOrder[i] as string;
      const rec = session.ledger.get(id);
      if (
        rec &&
        rec.kind === 'PeerResponseProgress' &&
        rec.input.supersession_key === key &&
        state.input_phases[id] === 'Queued'
      ) {
        return id;
      }
    }
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // Runs (machine.md §4.7), called by the runtime loop

  beginRun(session: SessionRuntime): Promise<RunAssignment | null> {
    return session.gate.run(async () => {
      if (!canStageRun(session.state, true)) return null;
      const tx = session.begin('RuntimeLoop');
      const staged = this.stageRun(session, tx);
      if (staged === null) return null;
      await this.commit(session, tx);
      return this.assignment(session, staged.runId, staged.inputIds);
    });
  }

  /**
   * Stages the next batch (machine.md §4.7 Prepare/DrainQueuedRun + StageForRun + turn start) in
   * `tx`; `null` when there is nothing to run. The caller checked {@link canStageRun}.
   */
  stageRun(session: SessionRuntime, tx: SessionTxn): { readonly runId: string; readonly inputIds: readonly string[] } | null {
    const batch = selectRuntimeLoopBatch(tx.state);
    if (!batch || batch.input_ids.length === 0) return null;
    const phase = tx.state.lifecycle_phase;
    const runId = newId();
    if (phase === 'Retired') tx.apply({ type: 'DrainQueuedRun', run_id: runId });
    else tx.apply({ type: 'Prepare', session_id: session.sessionId, run_id: runId });
    for (const id of batch.input_ids) tx.apply({ type: 'StageForRun', input_id: id, run_id: runId }, 'staged for run');
    if (phase !== 'Retired') this.startTurn(tx, runId);
    return { runId, inputIds: batch.input_ids };
  }

  /** Marks the turn started (clears any boundary-cancel latch of the previous turn). */
  startTurn(tx: SessionTxn, runId: string): void {
    tx.tryApply({
      type: 'StartConversationRun',
      run_id: runId,
      primitive_kind: 'ConversationTurn',
      admitted_content_shape: 'Conversation',
      vision_enabled: false,
      image_tool_results_enabled: false,
      max_extraction_retries: 0,
    });
  }

  assignment(session: SessionRuntime, runId: string, inputIds: readonly string[]): RunAssignment {
    const state = session.state;
    const first = inputIds[0];
    return {
      session_id: session.sessionId,
      runtime_id: session.runtimeId,
      run_id: runId,
      boundary: (first !== undefined ? state.input_runtime_boundary[first] : undefined) ?? 'RunStart',
      inputs: inputIds.map((id) => {
        const rec = session.ledger.get(id);
        return {
          input_id: id,
          kind: rec?.kind ?? 'Prompt',
          text: rec ? inputText(rec.input.body) : '',
          attempt: state.input_attempt_counts[id] ?? 1,
        };
      }),
    };
  }

  finishRun(
    session: SessionRuntime,
    assignment: RunAssignment,
    report: ApplyReport,
  ): Promise<{ retryAfterMs: number | null }> {
    return session.gate.run(() => this.finishRunInGate(session, assignment, report, 'RuntimeLoop'));
  }

  /**
   * Commits a run's terminal report in one transaction (success, failure with
   * retry/abandon, or cancel) and resolves the contributors' waiters.
   */
  async finishRunInGate(
    session: SessionRuntime,
    assignment: RunAssignment,
    report: ApplyReport,
    command: string,
    receiptOverride?: { readonly conversation_digest: string | null; readonly message_count: number },
  ): Promise<{ retryAfterMs: number | null }> {
    const runId = assignment.run_id;
    if (session.state.current_run_id !== runId || session.state.lifecycle_phase !== 'Running') {
      // The run was torn down meanwhile (destroy, unregister): nothing left to commit.
      return { retryAfterMs: null };
    }
    const tx = session.begin(command);
    const contributors = assignment.inputs
      .map((i) => i.input_id)
      .filter((id) => tx.state.input_phases[id] === 'Staged' && tx.state.input_run_associations[id] === runId);
    const outcomes = new Map<string, CompletionOutcome>();
    let retryAfterMs: number | null = null;
    if (report.status === 'completed' || report.status === 'callback_pending') {
      const sequence = (tx.state.live_boundary_context_sequence_by_run[runId] ?? 0) + 1;
      tx.apply({ type: 'CommitTerminalBoundarySequence', run_id: runId, sequence });
      for (const id of contributors) {
        tx.apply({ type: 'MarkApplied', input_id: id });
        tx.apply({ type: 'MarkAppliedPendingConsumption', input_id: id });
        tx.apply({ type: 'RecordBoundarySeq', input_id: id, run_id: runId });
      }
      tx.apply({ type: 'RunCompleted', run_id: runId });
      tx.apply({ type: 'Commit', input_id: contributors[0] ?? '', run_id: runId });
      for (const id of contributors) tx.apply({ type: 'ConsumeInput', input_id: id }, 'run completed');
      const terminal =
        report.status === 'callback_pending' ? 'CallbackPending' : report.result ? 'RunResult' : 'NoResult';
      tx.tryApply({
        type: 'ResolveRuntimeCompletionResult',
        run_id: runId,
        terminal_observation: terminal,
        finalization_observation: 'Succeeded',
      });
      tx.receipt = {
        run_id: runId,
        boundary: assignment.boundary,
        contributing_input_ids: contributors,
        conversation_digest: receiptOverride?.conversation_digest ?? (report.status === 'completed' ? (report.conversation_digest ?? null) : null),
        message_count: receiptOverride?.message_count ?? (report.status === 'completed' ? (report.message_count ?? contributors.length) : contributors.length),
        sequence,
      };
      const outcome: CompletionOutcome =
        report.status === 'callback_pending'
          ? { kind: 'callback_pending', tool_use_id: report.tool_use_id, tool_name: report.tool_name, args: report.args }
          : report.result
            ? { kind: 'completed', result: { text: report.result.text } }
            : { kind: 'completed_without_result' };
      for (const id of contributors) outcomes.set(id, outcome);
    } else if (report.status === 'cancelled') {
      tx.apply({ type: 'RunCancelled', run_id: runId });
      tx.apply({ type: 'CancelRun', run_id: runId });
      for (const id of contributors) {
        tx.apply(
          { type: 'AbandonInput', input_id: id, reason: 'Cancelled', attempt_count: tx.state.input_attempt_counts[id] ?? 0 },
          'run cancelled',
        );
        outcomes.set(id, { kind: 'cancelled' });
      }
      tx.tryApply({
        type: 'ResolveRuntimeCompletionResult',
        run_id: runId,
        terminal_observation: 'MachineTerminal',
        finalization_observation: 'Succeeded',
      });
    } else {
      tx.apply({
        type: 'RunFailed',
        run_id: runId,
        runtime_apply_failure_cause: 'ApplyFailed',
        runtime_apply_failure_message: report.error,
        machine_terminal_failure_observed: false,
        source: null,
        error: report.error,
      });
      tx.apply({ type: 'Fail', run_id: runId });
      let maxAttempt = 0;
      for (const id of contributors) {
        const lane = tx.state.input_recovery_lanes[id] ?? 'Queue';
        tx.apply({ type: 'ResolveStagedRollback', input_id: id, lane }, 'apply failed');
        const attempts = tx.state.input_attempt_counts[id] ?? 0;
        if (tx.state.input_phases[id] === 'Abandoned') {
          outcomes.set(id, {
            kind: 'abandoned',
            reason: { kind: 'max_attempts_exhausted', attempts },
            error: report.error,
          });
        } else {
          maxAttempt = Math.max(maxAttempt, attempts);
        }
      }
      tx.tryApply({
        type: 'ResolveRuntimeCompletionResult',
        run_id: runId,
        terminal_observation: 'MachineTerminal',
        finalization_observation: 'Succeeded',
      });
      if (maxAttempt > 0) {
        retryAfterMs = Math.min(2000, this.options.retryBackoffMs * 2 ** Math.max(0, maxAttempt - 1));
      }
    }
    this.archiveTerminal(tx, [...outcomes.keys()]);
    for (const [id, outcome] of outcomes) if (tx.state.input_phases[id] !== 'Queued') tx.completions.set(id, outcome);
    await this.commit(session, tx);
    for (const [id, outcome] of outcomes) session.waiters.resolve(id, outcome);
    return { retryAfterMs };
  }

  /** Forgets terminal inputs in the live machine (their rows stay in the ledger and the store). */
  archiveTerminal(tx: SessionTxn, ids: readonly string[]): void {
    for (const id of ids) {
      const s = tx.state;
      const phase = s.input_phases[id];
      if (phase === undefined || !isTerminalPhase(phase)) continue;
      const kind = s.input_terminal_kind[id];
      if (kind === undefined) continue;
      const key = s.input_idempotency_keys[id] ?? null;
      const archived = tx.tryApply({
        type: 'ArchiveTerminalInput',
        input_id: id,
        phase,
        terminal_kind: kind,
        superseded_by: s.input_superseded_by[id] ?? null,
        aggregate_id: s.input_aggregate_id[id] ?? null,
        abandon_reason: s.input_abandon_reason[id] ?? null,
        abandon_attempt_count: s.input_abandon_attempt_count[id] ?? null,
        attempt_count: s.input_attempt_counts[id] ?? 0,
        run_id: s.input_run_associations[id] ?? null,
        boundary_sequence: s.input_boundary_sequences[id] ?? null,
        admission_sequence: s.input_admission_seq[id] ?? null,
        idempotency_key: key,
      });
      if (archived && key !== null) tx.archivedKeys.set(key, id);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle terminalisations (machine.md §5.3)

  /**
   * Abandons every non-terminal input with `reason` in `tx` and resolves the
   * run-less RuntimeTerminated class. Returns the abandoned ids (the caller
   * archives after deciding the waiter text).
   */
  abandonActive(tx: SessionTxn, reason: InputAbandonReason): string[] {
    const ids = tx.session.activeInputIds(tx.state);
    for (const id of ids) {
      tx.apply(
        { type: 'AbandonInput', input_id: id, reason, attempt_count: tx.state.input_attempt_counts[id] ?? 0 },
        `abandoned: ${reason.toLowerCase()}`,
      );
    }
    tx.tryApply({
      type: 'ResolveRuntimeCompletionResult',
      run_id: null,
      terminal_observation: 'RuntimeTerminated',
      finalization_observation: 'Succeeded',
    });
    return ids;
  }

  /** Stop terminalisation (§2.7.6), to be called under the session gate. */
  async terminalizeStopInGate(session: SessionRuntime, _reason: string): Promise<void> {
    if (session.phase === 'Destroyed') return;
    const tx = session.begin('StopRuntimeExecutor');
    tx.tryApply({ type: 'RuntimeExecutorExited' });
    const ids = this.abandonActive(tx, 'Stopped');
    this.archiveTerminal(tx, ids);
    await this.commit(session, tx);
    if (session.attachment.kind === 'active') session.attachment = { kind: 'none' };
    session.waiters.terminateAll(
      session.state.registration_phase === 'Draining' ? TERMINATION_REASONS.unregistered : TERMINATION_REASONS.stopped,
    );
  }

  terminalizeStop(session: SessionRuntime, reason: string): Promise<void> {
    return session.gate.run(() => this.terminalizeStopInGate(session, reason));
  }

  async loopFailed(session: SessionRuntime, error: unknown): Promise<void> {
    if (session.attachment.kind === 'active') session.attachment = { kind: 'none' };
    // The executor may have applied work whose outcome never reached the store: the live
    // state can no longer be trusted; refuse mutations until the session is reloaded.
    this.markReloadRequired(session, `runtime loop commit failed: ${errorText(error)}`);
    for (const id of session.activeInputIds()) {
      session.waiters.resolve(id, {
        kind: 'wait_error',
        error: 'AuthorityUnavailable',
        message: `${TERMINATION_REASONS.loopExited}: ${errorText(error)}`,
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Comms drain (decision 9)

  /** Starts the task that admits the session's peer inbox as peer inputs. */
  startDrainTask(session: SessionRuntime, commsRuntimeId: string): void {
    const abort = new AbortController();
    session.drain.phase = 'Running';
    session.drain.mode = 'PersistentHost';
    session.drain.commsRuntimeId = commsRuntimeId;
    session.drain.abort = abort;
    session.drain.task = this.runDrain(session, abort.signal);
  }

  /**
   * The drain task: admits the inbox's messages one by one, oldest first, each as a peer input
   * whose commit takes the message out of the inbox (exactly once across crashes). A message the
   * session refuses (e.g. retired, or rejected at admission) is discarded; a store failure leaves
   * it in the inbox and is retried with back-off (50 ms doubling to 2 s) until the drain stops.
   */
  private async runDrain(session: SessionRuntime, signal: AbortSignal): Promise<void> {
    let backoff = DRAIN_RETRY_MIN_MS;
    const retry = async (): Promise<void> => {
      await abortableSleep(backoff, signal);
      backoff = Math.min(backoff * 2, DRAIN_RETRY_MAX_MS);
    };
    while (!signal.aborted) {
      let message: PeerMessage | null;
      try {
        message = await session.inbox.next(signal);
      } catch {
        await retry();
        continue;
      }
      if (message === null) return;
      try {
        await this.admitPeerMessage(session, message);
        backoff = DRAIN_RETRY_MIN_MS;
      } catch {
        await retry();
      }
    }
  }

  /** Admits one inbox message; throws (message kept) when the store, not the session, failed. */
  private async admitPeerMessage(session: SessionRuntime, message: PeerMessage): Promise<void> {
    let admitted: AdmissionResult;
    try {
      admitted = await this.admit(session, validateInput(message.input, 'peer_message'), 'with_completion', message.sequence);
    } catch (e) {
      // A store or blob failure (or an ownership change) keeps the message for a retry; only a refusal
      // of the session (e.g. retired, or a malformed message) drops it, and the drain keeps running.
      if (!(e instanceof KernelError) || e.code === 'STORE_UNAVAILABLE' || e.code === 'SESSION_OWNED_ELSEWHERE') throw e;
      await session.inbox.discard(message.sequence);
      return;
    }
    admitted.handle?.cancel();
    // Rejected or deduplicated at admission: nothing was committed, so the message is still there.
    if (admitted.outcome.type !== 'accepted') await session.inbox.discard(message.sequence);
    else session.inbox.taken(message.sequence);
  }

  /** Cancels the drain task (no machine change). */
  async abortDrainTask(session: SessionRuntime): Promise<boolean> {
    const { task, abort } = session.drain;
    abort?.abort();
    session.drain.task = null;
    session.drain.abort = null;
    return task ? settles(task, 2000) : true;
  }

  /** StopDrain (if running) + abort the task; the slot ends Stopped. Returns whether it had to be forced. */
  async abortDrain(session: SessionRuntime, graceMs: number): Promise<boolean> {
    if (session.phase !== 'Destroyed' && session.state.drain_phase === 'Running') {
      await session.gate.run(async () => {
        const tx = session.begin('Abort');
        tx.tryApply({ type: 'StopDrain' });
        await this.commit(session, tx);
      });
    }
    const { task, abort } = session.drain;
    abort?.abort();
    const clean = task ? await settles(task, graceMs) : true;
    session.drain.task = null;
    session.drain.abort = null;
    session.drain.phase = 'Stopped';
    session.drain.commsRuntimeId = null;
    return !clean;
  }

  /** Drain-exit bookkeeping: NotifyDrainExited then the clean/respawnable exit (commands.md §3.3.2). */
  async drainExited(session: SessionRuntime, reason: DrainExitReason): Promise<void> {
    await session.gate.run(async () => {
      const tx = session.begin('NotifyDrainExited');
      tx.apply({ type: 'NotifyDrainExited', reason });
      const respawnable = session.drain.mode === 'PersistentHost' && reason === 'Failed';
      tx.tryApply({ type: respawnable ? 'DrainExitedRespawnable' : 'DrainExitedClean' });
      await this.commit(session, tx);
      if (session.drain.phase === 'Running') session.drain.phase = respawnable ? 'ExitedRespawnable' : 'Stopped';
      // The slot forgets the task: make sure it really ends (no unowned task keeps admitting the inbox).
      session.drain.abort?.abort();
      session.drain.task = null;
      session.drain.abort = null;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Executor attachment

  /** Starts a runtime loop for `session` with executor `name`. */
  startLoop(session: SessionRuntime, name: string): RuntimeLoop {
    const executor = this.options.executors.create(name, session.sessionId);
    if (!executor) throw new KernelError('UNKNOWN_EXECUTOR', `no executor is registered under "${name}"`, { executor: name });
    const loop = new RuntimeLoop(session, executor, this, this.clock);
    session.attachment = { kind: 'active', loop, executor: name };
    // Attached while the server drains (a call already in flight): its queued inputs wait for the next owner.
    if (this.shuttingDown) void loop.finishAndStop();
    return loop;
  }

  /** Ends every loop and drain task (kernel shutdown; inbox messages stay in the store). */
  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => this.abortDrainTask(s)));
    const loops: Promise<void>[] = [];
    for (const s of this.sessions.values()) {
      if (s.attachment.kind === 'active') loops.push(s.attachment.loop.close());
    }
    await Promise.all(loops);
    for (const s of this.sessions.values()) s.waiters.terminateAll(TERMINATION_REASONS.kernelShutdown);
  }
}

/**
 * Whether the runtime loop may stage a run now: the session is registered, no run is in flight and
 * the phase allows one (`Retired` drains its backlog; only the loop itself starts those runs).
 */
function canStageRun(state: MachineState, allowRetired: boolean): boolean {
  if (state.registration_phase !== 'Active' || state.current_run_id !== null) return false;
  const phase = state.lifecycle_phase;
  return phase === 'Idle' || phase === 'Attached' || (allowRetired && phase === 'Retired');
}

const MACHINE_PHASE = {
  accepted: 'Queued',
  queued: 'Queued',
  staged: 'Staged',
  applied: 'Applied',
  applied_pending_consumption: 'AppliedPendingConsumption',
  consumed: 'Consumed',
  superseded: 'Superseded',
  coalesced: 'Coalesced',
  abandoned: 'Abandoned',
} as const;

export function isTerminalRow(row: StoredInputRow): boolean {
  return row.terminal_outcome !== null;
}

/** The outcome a waiter gets when it attaches to an input that is already terminal. */
export function terminalRowOutcome(row: StoredInputRow): CompletionOutcome {
  if (row.terminal_completion) return row.terminal_completion;
  const t = row.terminal_outcome;
  if (!t) return { kind: 'wait_error', error: 'AuthorityUnavailable', message: 'input is not terminal' };
  switch (t.outcome_type) {
    case 'consumed':
      return { kind: 'completed_without_result' };
    case 'superseded':
      return { kind: 'superseded', superseded_by: t.superseded_by };
    case 'coalesced':
      return { kind: 'coalesced', aggregate_id: t.aggregate_id };
    case 'abandoned':
      return t.reason === 'cancelled'
        ? { kind: 'cancelled' }
        : { kind: 'abandoned', reason: abandonReasonView(t.reason, t.attempts), error: null };
  }
}

export function abandonReasonView(reason: string, attempts: number | null): AbandonReasonView {
  switch (reason) {
    case 'retired':
    case 'reset':
    case 'stopped':
    case 'destroyed':
    case 'cancelled':
    case 'never_executed':
      return { kind: reason };
    case 'max_attempts_exhausted':
      return { kind: 'max_attempts_exhausted', attempts: attempts ?? 0 };
    default:
      throw internalError(`unknown abandon reason ${reason}`);
  }
}

function rejectDetail(reason: string, kind: string): string {
  switch (reason) {
    case 'DurabilityMissing':
      return 'the input has no durability';
    case 'ExternalDerivedDurabilityForbidden':
      return 'derived durability is only allowed for flow and system origins';
    case 'DerivedDurabilityForbiddenForInputKind':
      return `derived durability is not allowed for ${kind} inputs`;
    case 'PeerHandlingModeInvalid':
      return 'a peer response-progress input must not carry a handling mode';
    case 'PeerResponseTerminalInvalid':
      return 'a peer response needs a non-blank request id and a completed or failed status';
    default:
      return reason;
  }
}

function kept(reason: Exclude<HandoverDecision, { kind: 'handed_over' }>['reason']): HandoverDecision {
  return { kind: 'kept', reason };
}

/** Whether `p` settles (resolves or rejects) within `ms` milliseconds. */
/** Back-off bounds of a drain whose store failed (the message stays in the inbox). */
const DRAIN_RETRY_MIN_MS = 50;
const DRAIN_RETRY_MAX_MS = 2000;

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}
