/**
 * Control group (commands.md §3.5): commands addressed by runtime id
 * (`rt:session:<uuid>`), lifecycle control, realtime/LLM queries, model
 * routing and image-operation bookkeeping, boundary receipts.
 */
import type { ImageTerminalClass } from '../../machine/index.js';
import { modelRoutingStatus } from '../../machine/routing-status.js';
import { TERMINATION_REASONS } from '../completion.js';
import type { AcceptOutcome, KernelCore } from '../core.js';
import { invalidArgument, invalidField, invalidPhase, KernelError, runtimeDestroyed, type FieldViolation } from '../errors.js';
import { parseRuntimeId, parseUuidV7 } from '../ids.js';
import { MAX_SHORT_STRING, validateInput, type Input } from '../input.js';
import type { SessionRuntime } from '../session.js';
import type { BoundaryReceipt } from '../store.js';

export interface RetireReport {
  readonly inputs_abandoned: number;
  readonly inputs_pending_drain: number;
}
export interface RecycleReport {
  readonly inputs_transferred: number;
}
export interface ResetReport {
  readonly inputs_abandoned: number;
}
export interface DestroyReport {
  readonly inputs_abandoned: number;
}
export interface RecoveryReport {
  readonly inputs_recovered: number;
  readonly inputs_abandoned: number;
  readonly inputs_requeued: number;
  readonly details: readonly string[];
}

export type RuntimeStateName = 'initializing' | 'idle' | 'attached' | 'running' | 'retired' | 'stopped' | 'destroyed';

export interface RealtimeChannelStatus {
  readonly state: 'closed' | 'opening' | 'ready' | 'reconnecting' | 'error';
  readonly attempt_count: number;
  readonly next_retry_at: string | null;
  readonly deadline_at: string | null;
  readonly reason: string | null;
}

export type ApprovalDisposition = 'NotRequired' | 'Approved' | 'DeniedByUser' | 'RequiredButUnavailable';

export interface SwitchTurnRequest {
  readonly request_id: string;
  readonly target_model: string;
  /** A number of turns (≥ 1), `'one_turn'`, or `'until_changed'`. */
  readonly duration: number | 'one_turn' | 'until_changed';
  readonly target_realtime: boolean;
  readonly approval: ApprovalDisposition;
  readonly realtime_detach_allowed?: boolean;
}

export type SwitchTurnResult =
  | { readonly result: 'applied'; readonly request_id: string; readonly target_model: string; readonly duration: SwitchTurnRequest['duration'] }
  | { readonly result: 'denied'; readonly request_id: string; readonly reason: string };

export interface ImageOperationRoutingRequest {
  readonly operation_id: string;
  readonly target_model: string;
  readonly target_realtime: boolean;
  readonly approval: ApprovalDisposition;
  readonly requires_scoped_override: boolean;
  readonly realtime_detach_allowed?: boolean;
}

export type ImageOperationRoutingResult =
  | { readonly result: 'accepted'; readonly operation_id: string; readonly phase: 'plan_resolved' }
  | { readonly result: 'denied'; readonly operation_id: string; readonly reason: string };

const STATE_NAMES: Readonly<Record<string, RuntimeStateName>> = {
  Initializing: 'initializing',
  Idle: 'idle',
  Attached: 'attached',
  Running: 'running',
  Retired: 'retired',
  Stopped: 'stopped',
  Destroyed: 'destroyed',
};

export class ControlCommands {
  constructor(private readonly k: KernelCore) {}

  private byRuntime(runtimeId: string): SessionRuntime {
    const sessionId = parseRuntimeId(runtimeId);
    return this.k.sessionByRuntime(runtimeId, sessionId);
  }

  private bySession(sessionId: string): SessionRuntime {
    return this.k.session(parseUuidV7(sessionId, 'session_id'));
  }

  /** Fire-and-forget admission (no completion handle); a rejected input is an outcome, not an error. */
  async ingest(runtimeId: string, input: Input): Promise<AcceptOutcome> {
    const session = this.byRuntime(runtimeId);
    const validated = validateInput(input);
    const r = await this.k.admit(session, validated, 'ingest');
    return r.outcome;
  }

  /** Validates that the runtime exists and accepts events; otherwise a no-op. */
  async publishEvent(runtimeId: string, kind: string): Promise<void> {
    const session = this.byRuntime(runtimeId);
    if (typeof kind !== 'string' || kind.length === 0 || kind.length > MAX_SHORT_STRING) throw invalidField('kind', 'must be a non-empty event kind');
    await this.k.mutateSession(session, 'PublishEvent', () => [{ type: 'PublishEvent', kind }]);
  }

  /** → Retired (RuntimeRetired signal); queued work drains through a live loop or is abandoned. */
  async retire(runtimeId: string): Promise<RetireReport> {
    const session = this.byRuntime(runtimeId);
    return session.gate.run(async () => {
      const tx = session.begin('Retire');
      tx.apply({ type: 'Retire', session_id: session.sessionId });
      const pending = session.activeInputIds(tx.state);
      const loop = session.loop;
      if (pending.length === 0 || loop) {
        await this.k.commit(session, tx);
        if (pending.length > 0) loop?.wake();
        return { inputs_abandoned: 0, inputs_pending_drain: pending.length };
      }
      const ids = this.k.abandonActive(tx, 'Retired');
      this.k.archiveTerminal(tx, ids);
      await this.k.commit(session, tx);
      session.waiters.terminateAll(TERMINATION_REASONS.retiredWithoutLoop);
      return { inputs_abandoned: ids.length, inputs_pending_drain: 0 };
    });
  }

  /** Drops the placement and re-normalises pending work (Retired → Idle). */
  async recycle(runtimeId: string): Promise<RecycleReport> {
    const session = this.byRuntime(runtimeId);
    return session.gate.run(async () => {
      const phase = session.visiblePhase;
      if (session.phase === 'Destroyed') throw runtimeDestroyed(session.sessionId);
      if (phase === 'Running' || session.phase === 'Running') {
        throw invalidPhase('Recycle', phase, 'recycle needs a runtime without a run in progress');
      }
      const tx = session.begin('Recycle');
      tx.apply({ type: 'Recycle' });
      this.renormalize(tx);
      await this.k.commit(session, tx);
      const active = new Set(session.activeInputIds());
      session.waiters.terminateWhere((id) => !active.has(id), TERMINATION_REASONS.recycled);
      session.loop?.wake();
      return { inputs_transferred: active.size };
    });
  }

  /** → Idle; abandons every non-terminal input (`reset`); terminates every waiter. */
  async reset(runtimeId: string): Promise<ResetReport> {
    const session = this.byRuntime(runtimeId);
    return session.gate.run(async () => {
      const tx = session.begin('Reset');
      tx.apply({ type: 'Reset' });
      const ids = this.k.abandonActive(tx, 'Reset');
      this.k.archiveTerminal(tx, ids);
      await this.k.commit(session, tx);
      session.waiters.terminateAll(TERMINATION_REASONS.reset);
      return { inputs_abandoned: ids.length };
    });
  }

  /** Recovery notice: re-normalises inputs (machine.md §3.9) and wakes the loop. */
  async recover(runtimeId: string): Promise<RecoveryReport> {
    const session = this.byRuntime(runtimeId);
    return session.gate.run(async () => {
      const tx = session.begin('Recover');
      tx.apply({ type: 'Recover' });
      const requeued = this.renormalize(tx);
      await this.k.commit(session, tx);
      const active = new Set(session.activeInputIds());
      session.waiters.terminateWhere((id) => !active.has(id), TERMINATION_REASONS.recovered);
      session.loop?.wake();
      return { inputs_recovered: active.size, inputs_abandoned: 0, inputs_requeued: requeued.length, details: requeued.map((id) => `${id}: staged → queued`) };
    });
  }

  /** Puts staged inputs (outside a run) back in their lanes. */
  private renormalize(tx: ReturnType<SessionRuntime['begin']>): string[] {
    const requeued: string[] = [];
    if (tx.state.current_run_id !== null) return requeued;
    for (const id of tx.session.activeInputIds(tx.state)) {
      if (tx.state.input_phases[id] === 'Staged') {
        tx.apply({ type: 'RollbackStaged', input_id: id, lane: tx.state.input_recovery_lanes[id] ?? 'Queue' }, 'recovered');
        requeued.push(id);
      }
    }
    return requeued;
  }

  /** → Destroyed (terminal, RuntimeDestroyed signal); abandons everything; the entry stays queryable. */
  async destroy(runtimeId: string): Promise<DestroyReport> {
    const session = this.byRuntime(runtimeId);
    const report = await session.gate.run(async () => {
      const tx = session.begin('Destroy');
      if (tx.state.lifecycle_phase === 'Destroyed') {
        throw new KernelError('RUNTIME_DESTROYED', `the runtime of session ${session.sessionId} is already destroyed`, {
          session_id: session.sessionId,
        });
      }
      const ids = this.k.abandonActive(tx, 'Destroyed');
      this.k.archiveTerminal(tx, ids);
      tx.apply({ type: 'Destroy', session_id: session.sessionId });
      await this.k.commit(session, tx);
      session.waiters.terminateAll(TERMINATION_REASONS.destroyed);
      return { inputs_abandoned: ids.length };
    });
    if (session.attachment.kind === 'active') {
      void session.attachment.loop.close();
      session.attachment = { kind: 'none' };
    }
    await this.k.abortDrainTask(session);
    return report;
  }

  /** The visible state (a retired runtime draining its backlog reads `retired`). */
  runtimeState(runtimeId: string): RuntimeStateName {
    return STATE_NAMES[this.byRuntime(runtimeId).visiblePhase] as RuntimeStateName;
  }

  /** No realtime subsystem here (decision 8): always `unattached`. */
  runtimeRealtimeAttachmentStatus(sessionId: string): 'unattached' {
    this.bySession(sessionId);
    return 'unattached';
  }

  /** No realtime subsystem here (decision 8): always closed. */
  runtimeRealtimeChannelStatus(sessionId: string): RealtimeChannelStatus {
    this.bySession(sessionId);
    return { state: 'closed', attempt_count: 0, next_retry_at: null, deadline_at: null, reason: 'no realtime channel is open for this target' };
  }

  resolvedSessionLlmCapabilities(sessionId: string): SessionRuntime['state']['current_capability_surface'] {
    const s = this.bySession(sessionId).state;
    return s.capability_surface_status === 'Resolved' ? s.current_capability_surface : null;
  }

  async configureModelRoutingBaseline(sessionId: string, baselineModel: string, realtimeCapable: boolean): Promise<void> {
    const session = this.bySession(sessionId);
    checkModel('baseline_model', baselineModel);
    await this.k.mutateSession(session, 'ConfigureModelRoutingBaseline', () => [
      { type: 'SetModelRoutingBaseline', baseline_model: baselineModel, realtime_capable: realtimeCapable },
    ]);
  }

  sessionModelRoutingStatus(sessionId: string): ReturnType<typeof modelRoutingStatus> {
    return modelRoutingStatus(this.bySession(sessionId).state);
  }

  /** Finite switches are pure state; until-changed switches need an LLM reconfigure host (decision 7). */
  async requestSwitchTurn(sessionId: string, request: SwitchTurnRequest): Promise<SwitchTurnResult> {
    const session = this.bySession(sessionId);
    const requestId = parseUuidV7(request.request_id, 'request.request_id');
    checkModel('request.target_model', request.target_model);
    const approval = approvalFacts(request.approval);
    if (request.duration === 'until_changed') {
      throw new KernelError(
        'RECONFIGURE_HOST_UNAVAILABLE',
        'an until-changed switch reconfigures the session LLM, and no attached executor can do that',
        { session_id: session.sessionId },
      );
    }
    const turns = request.duration === 'one_turn' ? 1 : request.duration;
    if (!Number.isInteger(turns) || turns < 1 || turns > 1_000_000) throw invalidField('request.duration', 'must be one_turn, until_changed or a whole number of turns ≥ 1');
    const state = await this.k.mutateSession(session, 'RequestSwitchTurn', () => [
      {
        type: 'RequestFiniteSwitchTurn',
        request_id: requestId,
        target_model: request.target_model,
        turns,
        target_realtime_capable: request.target_realtime,
        realtime_detach_allowed: request.realtime_detach_allowed ?? false,
        ...approval,
      },
    ]);
    const denial = state.switch_denials[requestId];
    if (denial) return { result: 'denied', request_id: requestId, reason: snake(denial) };
    return { result: 'applied', request_id: requestId, target_model: request.target_model, duration: request.duration };
  }

  /** Called at each admitted assistant turn: activates, counts down or restores the turn override. */
  async admitModelRoutingAssistantTurn(sessionId: string): Promise<void> {
    const session = this.bySession(sessionId);
    await this.k.mutateSession(session, 'AdmitModelRoutingAssistantTurn', () => [{ type: 'AdmitModelRoutingAssistantTurn' }]);
  }

  async beginImageOperation(sessionId: string, request: ImageOperationRoutingRequest): Promise<ImageOperationRoutingResult> {
    const session = this.bySession(sessionId);
    const opId = parseUuidV7(request.operation_id, 'request.operation_id');
    checkModel('request.target_model', request.target_model);
    const state = await this.k.mutateSession(session, 'BeginImageOperation', () => [
      {
        type: 'BeginImageOperation',
        operation_id: opId,
        target_model: request.target_model,
        target_realtime_capable: request.target_realtime,
        realtime_detach_allowed: request.realtime_detach_allowed ?? false,
        requires_scoped_override: request.requires_scoped_override,
        ...approvalFacts(request.approval),
      },
    ]);
    const denial = state.image_denials[opId];
    if (denial && state.image_operation_phases[opId] === 'Terminal') return { result: 'denied', operation_id: opId, reason: snake(denial) };
    return { result: 'accepted', operation_id: opId, phase: 'plan_resolved' };
  }

  async activateImageOperationOverride(sessionId: string, operationId: string): Promise<'scoped_override_active'> {
    const session = this.bySession(sessionId);
    const opId = parseUuidV7(operationId, 'operation_id');
    const s = session.state;
    const target = s.image_operation_target_models[opId];
    const realtime = s.image_operation_realtime[opId];
    if (target === undefined || realtime === undefined) {
      throw invalidPhase('ActivateImageOperationOverride', s.image_operation_phases[opId] ?? 'unknown', `image operation ${opId} is not plan-resolved`);
    }
    await this.k.mutateSession(session, 'ActivateImageOperationOverride', () => [
      { type: 'ActivateImageOperationOverride', operation_id: opId, target_model: target, target_realtime_capable: realtime },
    ]);
    return 'scoped_override_active';
  }

  async completeImageOperation(
    sessionId: string,
    operationId: string,
    terminal: ImageTerminalClass,
    detail: string | null = null,
  ): Promise<{ phase: 'terminal' | 'restoring_scoped_override'; terminal: ImageTerminalClass }> {
    const session = this.bySession(sessionId);
    const opId = parseUuidV7(operationId, 'operation_id');
    const state = await this.k.mutateSession(session, 'CompleteImageOperation', () => [
      { type: 'CompleteImageOperation', operation_id: opId, terminal, terminal_payload: JSON.stringify({ terminal, detail }) },
    ]);
    return { phase: state.image_operation_phases[opId] === 'Terminal' ? 'terminal' : 'restoring_scoped_override', terminal };
  }

  async restoreImageOperationOverride(sessionId: string, operationId: string): Promise<{ phase: 'terminal'; terminal: ImageTerminalClass }> {
    const session = this.bySession(sessionId);
    const opId = parseUuidV7(operationId, 'operation_id');
    const state = await this.k.mutateSession(session, 'RestoreImageOperationOverride', () => [
      { type: 'RestoreImageOperationOverride', operation_id: opId },
    ]);
    return { phase: 'terminal', terminal: state.image_terminals[opId] ?? 'Failed' };
  }

  async loadBoundaryReceipt(runtimeId: string, runId: string, sequence: number): Promise<BoundaryReceipt | null> {
    const session = this.byRuntime(runtimeId);
    const violations: FieldViolation[] = [];
    let run = '';
    try {
      run = parseUuidV7(runId, 'run_id');
    } catch (e) {
      violations.push({ field: 'run_id', description: e instanceof Error ? e.message : 'is invalid' });
    }
    if (!Number.isSafeInteger(sequence) || sequence < 0) violations.push({ field: 'sequence', description: 'must be a non-negative integer' });
    if (violations.length > 0) throw invalidArgument(violations);
    return this.k.store.loadBoundaryReceipt(session.runtimeId, run, sequence);
  }
}

function approvalFacts(a: ApprovalDisposition): { requires_approval: boolean; approval_available: boolean; approval_denied: boolean } {
  if (!['NotRequired', 'Approved', 'DeniedByUser', 'RequiredButUnavailable'].includes(a)) {
    throw invalidField('approval', 'must be NotRequired, Approved, DeniedByUser or RequiredButUnavailable');
  }
  return {
    requires_approval: a !== 'NotRequired',
    approval_available: a !== 'RequiredButUnavailable',
    approval_denied: a === 'DeniedByUser',
  };
}

function checkModel(field: string, model: unknown): void {
  if (typeof model !== 'string' || model.trim().length === 0 || model.length > MAX_SHORT_STRING) {
    throw invalidField(field, 'must be a non-empty model id');
  }
}

/** `ScopedOverrideConflict` → `scoped_override_conflict`. */
function snake(s: string): string {
  return s.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
