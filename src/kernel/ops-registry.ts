/**
 * A session's async-operations registry (commands.md §2.12, machine.md §6):
 * every status change is a reducer input on the session's machine, committed
 * through the session; this class adds the process-local parts — watchers,
 * display metadata, the retention FIFO and the wait-all barrier's waiting.
 */
import {
  classifyOperationTransitionIdempotence,
  isOpTerminal,
  opCompletionWakeClass,
  opDurabilityClass,
  type OpLifecycleAction,
} from '../machine/arms/ops.js';
import type { MachineInput, OpKind, OpStatus, OpTerminalPayload, OperationSource } from '../machine/index.js';
import { KernelError, invalidField } from './errors.js';
import { newId } from './ids.js';
import type { SessionRuntime } from './session.js';

export interface OperationSpec {
  readonly operation_id?: string;
  readonly kind: OpKind;
  readonly display_name: string;
  readonly source?: OperationSource | null;
  /** Refuse the registration when this many ops are already active. */
  readonly max_concurrent?: number | null;
}

export interface OperationSnapshot {
  readonly id: string;
  readonly kind: OpKind;
  readonly display_name: string;
  readonly status: OpStatus;
  readonly peer_ready: boolean;
  readonly progress_count: number;
  readonly watcher_count: number;
  readonly terminal_outcome: OpTerminalPayload | null;
  readonly completion_sequence: number | null;
  readonly created_at_ms: number;
  readonly completed_at_ms: number | null;
}

interface OpMeta {
  readonly display_name: string;
  readonly created_at_ms: number;
  completed_at_ms: number | null;
  watchers: ((o: OpTerminalPayload) => void)[];
}

/** Commits a change to the session (provided by the kernel; runs under the session gate). */
export type SessionMutator = (
  session: SessionRuntime,
  command: string,
  inputs: (state: SessionRuntime['state']) => readonly MachineInput[],
) => Promise<SessionRuntime['state']>;

export class OpsRegistry {
  private readonly meta = new Map<string, OpMeta>();
  private readonly completedFifo: string[] = [];
  private closed = false;

  constructor(
    private readonly session: SessionRuntime,
    private readonly mutate: SessionMutator,
    private readonly now: () => number,
    /** Terminal ops kept before the oldest is evicted. */
    readonly maxCompleted: number = 256,
    /** Called after a wake-worthy completion (background tool / detached job). */
    private readonly onWakeworthyCompletion: (opId: string) => void = () => undefined,
  ) {}

  async register(spec: OperationSpec): Promise<string> {
    this.ensureOpen();
    const id = spec.operation_id ?? newId();
    if (typeof spec.display_name !== 'string' || spec.display_name.length === 0) {
      throw invalidField('display_name', 'is required');
    }
    if (id in this.session.state.op_statuses) {
      throw new KernelError('GUARD_REJECTED', `operation ${id} is already registered`, {
        guard: 'op_not_registered',
        phase: this.session.phase,
        input: 'RegisterOp',
      });
    }
    const state = await this.mutate(this.session, 'RegisterOp', () => [
      {
        type: 'RegisterOp',
        operation_id: id,
        kind: spec.kind,
        source: spec.source ?? null,
        max_concurrent: spec.max_concurrent ?? null,
      },
    ]);
    if (state.op_statuses[id] !== 'Provisioning') {
      const max = spec.max_concurrent ?? 0;
      throw new KernelError(
        'GUARD_REJECTED',
        `operation registration refused: MaxConcurrentExceeded{limit: ${max}, active: ${state.active_op_count}}`,
        {
          guard: 'max_concurrent',
          phase: state.lifecycle_phase,
          input: 'RegisterOp',
          limit: String(max),
          active: String(state.active_op_count),
        },
      );
    }
    this.meta.set(id, { display_name: spec.display_name, created_at_ms: this.now(), completed_at_ms: null, watchers: [] });
    return id;
  }

  /** Provisioning succeeded: Provisioning → Running. */
  start(id: string): Promise<void> {
    return this.act(id, 'Start', { type: 'StartOp', operation_id: id });
  }

  peerReady(id: string): Promise<void> {
    return this.act(id, 'PeerReady', { type: 'PeerReadyOp', operation_id: id });
  }

  reportProgress(id: string): Promise<void> {
    return this.act(id, 'ProgressReported', { type: 'ProgressReportedOp', operation_id: id });
  }

  requestRetire(id: string): Promise<void> {
    return this.act(id, 'RetireRequested', { type: 'RetireRequestedOp', operation_id: id });
  }

  complete(id: string, result: string): Promise<void> {
    return this.terminal(id, 'Complete', { kind: 'Completed', result });
  }

  fail(id: string, error: string): Promise<void> {
    return this.terminal(id, 'Fail', { kind: 'Failed', error });
  }

  cancel(id: string, reason: string | null = null): Promise<void> {
    return this.terminal(id, 'Cancel', { kind: 'Cancelled', reason });
  }

  /** Provisioning failed / was abandoned (Provisioning only). */
  abort(id: string, reason: string | null = null): Promise<void> {
    return this.terminal(id, 'Abort', { kind: 'Aborted', reason });
  }

  markRetired(id: string): Promise<void> {
    return this.terminal(id, 'RetireCompleted', { kind: 'Retired' });
  }

  terminate(id: string, reason: string): Promise<void> {
    return this.terminal(id, 'Terminate', { kind: 'Terminated', reason });
  }

  /** Terminates every non-terminal op with `reason` (owner termination cascade, machine.md §6.3). */
  async terminateOwner(reason: string): Promise<void> {
    for (const [id, status] of Object.entries(this.session.state.op_statuses)) {
      if (!isOpTerminal(status)) await this.terminate(id, reason);
    }
  }

  /** Resolves with the op's terminal outcome (immediately when it is already terminal). */
  watch(id: string): Promise<OpTerminalPayload> {
    const payload = this.session.state.op_terminal_payload[id];
    if (payload) return Promise.resolve(payload);
    const m = this.meta.get(id);
    if (!m || !(id in this.session.state.op_statuses)) {
      return Promise.reject(new KernelError('GUARD_REJECTED', `operation ${id} is not registered`, { guard: 'op_registered', phase: this.session.phase, input: 'Watch' }));
    }
    return new Promise((resolve) => m.watchers.push(resolve));
  }

  snapshot(id: string): OperationSnapshot | null {
    const s = this.session.state;
    const status = s.op_statuses[id];
    const m = this.meta.get(id);
    if (status === undefined || !m) return null;
    return {
      id,
      kind: s.op_kinds[id] ?? 'BackgroundToolOp',
      display_name: m.display_name,
      status,
      peer_ready: s.op_peer_ready[id] ?? false,
      progress_count: s.op_progress_counts[id] ?? 0,
      watcher_count: m.watchers.length,
      terminal_outcome: s.op_terminal_payload[id] ?? null,
      completion_sequence: s.op_completion_seq[id] ?? null,
      created_at_ms: m.created_at_ms,
      completed_at_ms: m.completed_at_ms,
    };
  }

  list(): OperationSnapshot[] {
    return Object.keys(this.session.state.op_statuses)
      .map((id) => this.snapshot(id))
      .filter((x): x is OperationSnapshot => x !== null);
  }

  /** Removes and returns every terminal op's outcome. */
  async collectCompleted(): Promise<{ id: string; outcome: OpTerminalPayload }[]> {
    const s = this.session.state;
    const done = Object.keys(s.op_statuses).filter((id) => isOpTerminal(s.op_statuses[id] as OpStatus));
    const out = done.map((id) => ({ id, outcome: s.op_terminal_payload[id] as OpTerminalPayload }));
    if (done.length === 0) return out;
    await this.mutate(this.session, 'CollectCompletedOp', () => done.map((id) => ({ type: 'CollectCompletedOp' as const, operation_id: id })));
    for (const id of done) {
      this.meta.delete(id);
      const i = this.completedFifo.indexOf(id);
      if (i >= 0) this.completedFifo.splice(i, 1);
    }
    return out;
  }

  /** Completion-feed entries after `afterSequence`, in sequence order. */
  completionFeed(afterSequence = 0): { id: string; sequence: number; kind: OpKind; outcome: OpTerminalPayload }[] {
    const s = this.session.state;
    return Object.entries(s.completion_feed_sequences)
      .filter(([, seq]) => seq > afterSequence)
      .map(([id, seq]) => ({
        id,
        sequence: seq,
        kind: s.completion_feed_kinds[id] as OpKind,
        outcome: s.completion_feed_terminal_payload[id] as OpTerminalPayload,
      }))
      .sort((a, b) => a.sequence - b.sequence);
  }

  /**
   * Waits until every op in `ids` is terminal (machine.md §6.4) and returns
   * their outcomes in the requested order with the barrier's request id.
   */
  async waitAll(runId: string, ids: readonly string[]): Promise<{ wait_request_id: string; outcomes: { id: string; outcome: OpTerminalPayload }[] }> {
    this.ensureOpen();
    const requestId = newId();
    const unique = [...new Set(ids)].sort();
    const tokenById: Record<string, string> = {};
    const idByToken: Record<string, string> = {};
    for (const id of unique) {
      tokenById[id] = `tok:${id}`;
      idByToken[`tok:${id}`] = id;
    }
    const tokens = unique.map((id) => `tok:${id}`).sort();
    const dup = ids.find((id, i) => ids.indexOf(id) !== i) ?? null;
    const missing = ids.find((id) => !(id in this.session.state.op_statuses)) ?? null;
    const witness = {
      wait_request_id: requestId,
      operation_id_sequence: [...ids],
      operation_ids: unique,
      operation_id_tokens: tokens,
      operation_token_by_id: tokenById,
      operation_id_by_token: idByToken,
    };
    await this.mutate(this.session, 'WaitAll', () => [
      { type: 'ResolveWaitAllAdmission', ...witness, duplicate_operation_id: dup, not_found_operation_id: missing },
    ]);
    if (dup !== null) throw invalidField('operation_ids', `operation ${dup} is listed twice`);
    if (missing !== null) {
      throw new KernelError('SESSION_NOT_FOUND', `operation ${missing} is not registered`, { operation_id: missing });
    }
    if (this.session.state.wait_active) {
      throw new KernelError('GUARD_REJECTED', 'a wait-all barrier is already active in this session', {
        guard: 'wait_inactive',
        phase: this.session.phase,
        input: 'RequestWaitAll',
      });
    }
    await this.mutate(this.session, 'WaitAll', () => [{ type: 'RequestWaitAll', run_id: runId, ...witness }]);
    await Promise.all(unique.map((id) => this.watch(id)));
    await this.mutate(this.session, 'WaitAll', () => [
      { type: 'SatisfyWaitAll', wait_request_id: requestId, run_id: runId, operation_id_tokens: tokens },
    ]);
    const s = this.session.state;
    return {
      wait_request_id: requestId,
      outcomes: ids.map((id) => ({ id, outcome: s.op_terminal_payload[id] as OpTerminalPayload })),
    };
  }

  /** Ends the registry with the session: pending watchers get Terminated. */
  close(): void {
    this.closed = true;
    for (const m of this.meta.values()) {
      const ws = m.watchers;
      m.watchers = [];
      for (const w of ws) w({ kind: 'Terminated', reason: 'runtime session unregistered' });
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new KernelError('SESSION_NOT_FOUND', `session ${this.session.sessionId} was unregistered`, { session_id: this.session.sessionId });
  }

  private async act(id: string, action: OpLifecycleAction, input: MachineInput): Promise<void> {
    this.ensureOpen();
    const before = this.session.state.op_statuses[id];
    if (before !== undefined && before !== 'Absent') {
      if (classifyOperationTransitionIdempotence(action, before) === 'IdempotentSuccess' && !validFrom(action, before)) return;
    }
    let rejected = false;
    await this.mutate(this.session, action, (s) => {
      const status = s.op_statuses[id];
      if (status === undefined || !validFrom(action, status) || (action === 'PeerReady' && (s.op_kinds[id] !== 'MobMemberChild' || s.op_peer_ready[id] === true))) {
        rejected = true;
        return [{ type: 'ResolveOpLifecycleTransitionRejection', operation_id: id, action }];
      }
      return [input];
    });
    if (rejected) {
      const status = this.session.state.op_statuses[id] ?? 'Absent';
      throw new KernelError('GUARD_REJECTED', `operation ${id}: ${action} is not valid from ${status}`, {
        guard: 'op_lifecycle_action_status_valid',
        phase: this.session.phase,
        input: action,
        status,
      });
    }
  }

  private async terminal(id: string, action: OpLifecycleAction, payload: OpTerminalPayload): Promise<void> {
    const type =
      action === 'Complete'
        ? 'CompleteOp'
        : action === 'Fail'
          ? 'FailOp'
          : action === 'Cancel'
            ? 'CancelOp'
            : action === 'Abort'
              ? 'AbortOp'
              : action === 'RetireCompleted'
                ? 'RetireCompletedOp'
                : 'TerminateOp';
    await this.act(id, action, { type, operation_id: id, outcome: payload.kind, payload } as MachineInput);
    await this.finalize(id);
  }

  /** Shell finalisation after a terminal transition (machine.md §6.3). */
  private async finalize(id: string): Promise<void> {
    const s = this.session.state;
    const payload = s.op_terminal_payload[id];
    const kind = s.op_kinds[id];
    if (!payload || !kind) return;
    const m = this.meta.get(id);
    if (m) {
      m.completed_at_ms = this.now();
      const ws = m.watchers;
      m.watchers = [];
      for (const w of ws) w(payload);
    }
    if (opDurabilityClass(kind) === 'Discard') {
      await this.mutate(this.session, 'CollectCompletedOp', () => [{ type: 'CollectCompletedOp', operation_id: id }]);
      this.meta.delete(id);
      return;
    }
    this.completedFifo.push(id);
    while (this.completedFifo.length > this.maxCompleted) {
      const oldest = this.completedFifo.shift() as string;
      await this.mutate(this.session, 'EvictCompletedOp', () => [{ type: 'EvictCompletedOp', operation_id: oldest }]);
      this.meta.delete(oldest);
    }
    if (opCompletionWakeClass(kind) === 'Wake') this.onWakeworthyCompletion(id);
  }
}

function validFrom(action: OpLifecycleAction, status: OpStatus): boolean {
  switch (action) {
    case 'Start':
    case 'Abort':
      return status === 'Provisioning';
    case 'RetireRequested':
      return status === 'Running';
    case 'PeerReady':
    case 'ProgressReported':
    case 'Complete':
    case 'RetireCompleted':
      return status === 'Running' || status === 'Retiring';
    case 'Fail':
    case 'Cancel':
    case 'Terminate':
      return status === 'Provisioning' || status === 'Running' || status === 'Retiring';
  }
}
