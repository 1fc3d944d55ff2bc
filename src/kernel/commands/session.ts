/**
 * Session group (commands.md §3.1–3.2): registration, executor attachment,
 * unregister, silent intents, boundary cancel, stop, bindings, input queries,
 * LLM reconfiguration and tool visibility.
 */
import type { ToolFilter, ToolVisibilityWitness } from '../../machine/index.js';
import { TERMINATION_REASONS } from '../completion.js';
import { settles, type KernelCore } from '../core.js';
import {
  invalidArgument,
  invalidField,
  invalidPhase,
  KernelError,
  runtimeDestroyed,
  type FieldViolation,
} from '../errors.js';
import { parseUuidV7 } from '../ids.js';
import { MAX_KEY_LENGTH, MAX_SHORT_STRING } from '../input.js';
import { OpsRegistry } from '../ops-registry.js';
import type { SessionRuntime } from '../session.js';
import type { StoredInputRow } from '../store.js';
import { visibilityOf, type SessionToolVisibilityState } from './visibility-view.js';

export const MAX_SILENT_INTENTS = 64;
/** How long unregister waits for the runtime loop and the drain before forcing them (machine.md §2.3). */
export const UNREGISTER_GRACE_MS = 2000;

/** What PrepareBindings / PrepareLocalSessionBindings hand back. */
export interface SessionRuntimeBindings {
  readonly session_id: string;
  readonly runtime_id: string;
  readonly epoch_id: string;
  /** `authoritative`: this call owns the runtime binding; `local`: resources only, an orchestrator binds later. */
  readonly authority: 'authoritative' | 'local';
  readonly agent_runtime_id: string | null;
  readonly fence_token: number | null;
  readonly ops: OpsRegistry;
}

export interface LlmReconfigureRequest {
  readonly model?: string | null;
  readonly provider?: string | null;
  readonly provider_params?: string | null;
  readonly clear_provider_params?: boolean;
  readonly auth_binding?: string | null;
  readonly clear_auth_binding?: boolean;
}

export class SessionCommands {
  constructor(private readonly k: KernelCore) {}

  /** Ensure-session group: register if needed and attach a runtime loop with the named executor. */
  async ensureSessionWithExecutor(sessionId: string, executor: string): Promise<void> {
    const id = parseUuidV7(sessionId, 'session_id');
    if (!this.k.options.executors.has(executor, id)) {
      throw new KernelError(
        'UNKNOWN_EXECUTOR',
        `no executor is registered under "${executor}" (known: ${this.k.options.executors.names().join(', ')})`,
        { executor },
      );
    }
    const existing = this.k.sessions.get(id);
    if (existing?.phase === 'Destroyed') throw runtimeDestroyed(id);
    const { session } = await this.k.ensureRegistered(id);
    await session.gate.run(async () => {
      session.clearDeadAttachment();
      if (session.attachment.kind !== 'none') return; // somebody owns a live loop: idempotent no-op
      if (session.phase === 'Destroyed') throw runtimeDestroyed(id);
      const tx = session.begin('EnsureSessionWithExecutor');
      tx.apply({ type: 'EnsureSessionWithExecutor', session_id: id });
      const phase = tx.state.lifecycle_phase;
      if (phase !== 'Attached') {
        // The claim is recorded, but a loop only attaches to an Idle/Attached runtime (commands.md §3.1.1 step 5).
        await this.k.commit(session, tx);
        throw invalidPhase('EnsureSessionWithExecutor', phase, 'an executor attaches only to an idle or attached runtime');
      }
      await this.k.commit(session, tx);
      const loop = this.k.startLoop(session, executor);
      if (session.activeInputIds().length > 0) loop.wake();
    });
  }

  /**
   * Registers the session (idempotent). A session the store knows is recovered
   * from it (cold registration after a restart) and the recovery report is
   * returned; a session that needs a reload after a failed write is reloaded.
   */
  async registerSession(sessionId: string): Promise<SessionRuntime['recoveryReport']> {
    const id = parseUuidV7(sessionId, 'session_id');
    const existing = this.k.sessions.get(id);
    if (existing?.phase === 'Destroyed') throw runtimeDestroyed(id);
    const { session, inserted } = await this.k.ensureRegistered(id);
    // A session recovered in Destroyed stays resident (later calls report it) but cannot be registered.
    if (session.phase === 'Destroyed') throw runtimeDestroyed(id);
    if (inserted) return session.recoveryReport;
    await session.gate.run(async () => {
      const tx = session.begin('RegisterSession');
      tx.apply({ type: 'RegisterSession', session_id: id, runtime_epoch_id: session.state.active_runtime_epoch_id });
      await this.k.commit(session, tx);
    });
    return null;
  }

  /**
   * Two-phase unregister (machine.md §2.3): open the window, stop the loop and
   * the drain, terminalise inputs and waiters, close the window, forget the session.
   */
  async unregisterSession(sessionId: string): Promise<void> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    const id = session.sessionId;
    const facts = () => ({
      session_id: id,
      agent_runtime_id: session.state.active_runtime_id,
      fence_token: session.state.active_fence_token,
      generation: session.state.active_runtime_generation,
      runtime_epoch_id: session.state.active_runtime_epoch_id,
    });
    await session.gate.run(async () => {
      const tx = session.begin('UnregisterSession');
      tx.apply({ type: 'BeginUnregisterSession', ...facts() });
      await this.k.commit(session, tx);
    });
    const loop = session.attachment.kind === 'active' ? session.attachment.loop : null;
    const loopForced = loop ? !(await settles(loop.close(), UNREGISTER_GRACE_MS)) : false;
    const drainForced = await this.k.abortDrain(session, UNREGISTER_GRACE_MS);
    session.attachment = { kind: 'none' };
    await session.gate.run(async () => {
      const tx = session.begin('UnregisterSession');
      tx.apply({ type: 'RuntimeLoopStoppedForUnregister', session_id: id, forced_abort: loopForced });
      tx.apply({ type: 'CommsDrainExitedForUnregister', session_id: id, forced_abort: drainForced });
      const ids = this.k.abandonActive(tx, 'Stopped');
      this.k.archiveTerminal(tx, ids);
      tx.apply({ type: 'CompletionWaitersResolvedForUnregister', session_id: id });
      tx.apply({ type: 'UnregisterSession', ...facts() });
      await this.k.commit(session, tx);
      session.waiters.terminateAll(TERMINATION_REASONS.unregistered);
      session.waiters.close();
      session.ops.close();
      this.k.sessions.delete(id);
      await this.k.store.deleteSession(session.runtimeId);
    });
  }

  async setSilentIntents(sessionId: string, intents: readonly string[]): Promise<void> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const violations: FieldViolation[] = [];
    if (!Array.isArray(intents)) violations.push({ field: 'intents', description: 'must be a list of strings' });
    else {
      if (intents.length > MAX_SILENT_INTENTS) {
        violations.push({ field: 'intents', description: `has ${intents.length} entries; the limit is ${MAX_SILENT_INTENTS}` });
      }
      intents.forEach((s, i) => {
        if (typeof s !== 'string' || s.trim().length === 0) violations.push({ field: `intents[${i}]`, description: 'must be a non-empty string' });
        else if (s.length > MAX_KEY_LENGTH) violations.push({ field: `intents[${i}]`, description: `is longer than ${MAX_KEY_LENGTH}` });
      });
    }
    if (violations.length > 0) throw invalidArgument(violations);
    await session.gate.run(async () => {
      const tx = session.begin('SetSilentIntents');
      tx.apply({ type: 'SetSilentIntents', session_id: session.sessionId, intents: [...new Set(intents)] });
      await this.k.commit(session, tx);
    });
  }

  /** Cooperative cancel of the current run at its next boundary; needs a live runtime loop. */
  async cancelAfterBoundary(sessionId: string): Promise<void> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    await session.gate.run(async () => {
      const loop = session.loop;
      if (!loop) {
        throw invalidPhase('CancelAfterBoundary', session.visiblePhase, 'no runtime loop is attached to this session');
      }
      const tx = session.begin('CancelAfterBoundary');
      tx.apply({ type: 'CancelAfterBoundary', reason: 'boundary cancel' });
      const fact = tx.effectsOf('RuntimeEffectFact').find((e) => e.kind === 'CancelAfterBoundary');
      if (fact) {
        await loop.executor.cancelAfterBoundary?.(fact.reason);
        loop.post({ kind: 'CancelAfterBoundary', reason: fact.reason });
      }
      await this.k.commit(session, tx);
    });
  }

  /** Stops the executor: through the live loop, or synchronously when there is none. */
  async stopRuntimeExecutor(sessionId: string, reason: string): Promise<void> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    checkReason(reason);
    let waitForStop = false;
    await session.gate.run(async () => {
      const before = session.phase;
      const tx = session.begin('StopRuntimeExecutor');
      tx.apply({ type: 'StopRuntimeExecutor', reason });
      await this.k.commit(session, tx);
      const loop = session.loop;
      if (loop) {
        loop.post({ kind: 'StopRuntimeExecutor', reason });
        waitForStop = before === 'Attached';
      } else {
        await this.k.terminalizeStopInGate(session, reason);
      }
    });
    if (waitForStop) {
      // Brief wait so a caller usually observes Stopped (commands.md §3.2.5 step 4).
      for (let i = 0; i < 20 && session.phase !== 'Stopped' && session.phase !== 'Destroyed'; i += 1) {
        await this.k.clock.sleep(10);
      }
    }
  }

  /** Closes the run binding of a direct service turn (commands.md §3.2.6). */
  async commitServiceTurnTerminalReceipt(sessionId: string): Promise<void> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    await session.gate.run(async () => {
      const s = session.state;
      if (s.lifecycle_phase !== 'Running' || s.current_run_id === null) {
        throw invalidPhase('CommitServiceTurnTerminalReceipt', session.visiblePhase, 'no direct service turn is bound');
      }
      const active = session.activeInputIds();
      if (active.length > 0) {
        throw invalidPhase('CommitServiceTurnTerminalReceipt', 'Running', `inputs are still active: ${active.join(', ')}`);
      }
      const tx = session.begin('CommitServiceTurnTerminalReceipt');
      if (!['Completed', 'Failed', 'Cancelled'].includes(s.turn_phase)) tx.apply({ type: 'RunCompleted', run_id: s.current_run_id });
      tx.apply({ type: 'ServiceTurnCommitted', run_id: s.current_run_id });
      await this.k.commit(session, tx);
    });
  }

  containsSession(sessionId: string): boolean {
    return this.k.sessions.has(parseUuidV7(sessionId, 'session_id'));
  }

  /** True while a live runtime loop (or an attach in progress) serves the session. */
  sessionHasExecutor(sessionId: string): boolean {
    const s = this.k.sessions.get(parseUuidV7(sessionId, 'session_id'));
    if (!s) return false;
    s.clearDeadAttachment();
    return s.attachment.kind === 'attaching' || s.loop !== null;
  }

  /** True once the session's peer-ingress owner is attached (HEAD semantics, documented in docs/commands.md). */
  sessionHasComms(sessionId: string): boolean {
    const s = this.k.sessions.get(parseUuidV7(sessionId, 'session_id'));
    return s !== undefined && s.state.peer_ingress_owner_kind !== 'Unattached';
  }

  opsLifecycleRegistry(sessionId: string): OpsRegistry | null {
    return this.k.sessions.get(parseUuidV7(sessionId, 'session_id'))?.ops ?? null;
  }

  /** Registers if needed and binds the session's runtime id with fence 0 (emits RuntimeBound once). */
  async prepareBindings(sessionId: string): Promise<SessionRuntimeBindings> {
    const id = parseUuidV7(sessionId, 'session_id');
    if (this.k.sessions.get(id)?.phase === 'Destroyed') throw runtimeDestroyed(id);
    const { session, inserted } = await this.k.ensureRegistered(id);
    try {
      await session.gate.run(async () => {
        const s = session.state;
        if (s.active_runtime_id !== null && s.active_runtime_id !== session.runtimeId) {
          throw new KernelError(
            'GUARD_REJECTED',
            `session ${id} already has the authoritative runtime binding ${s.active_runtime_id}`,
            { guard: 'runtime_binding_absent_or_same', phase: s.lifecycle_phase, input: 'PrepareBindings' },
          );
        }
        if (s.active_runtime_id === session.runtimeId && s.active_fence_token !== null) return;
        const tx = session.begin('PrepareBindings');
        tx.apply({
          type: 'PrepareBindings',
          agent_runtime_id: session.runtimeId,
          fence_token: 0,
          generation: 0,
          runtime_epoch_id: s.active_runtime_epoch_id,
          session_id: id,
        });
        await this.k.commit(session, tx);
      });
    } catch (e) {
      if (inserted && session.ledger.size === 0) this.k.sessions.delete(id);
      throw e;
    }
    return this.bindings(session, 'authoritative');
  }

  async prepareLocalSessionBindings(sessionId: string): Promise<SessionRuntimeBindings> {
    const id = parseUuidV7(sessionId, 'session_id');
    if (this.k.sessions.get(id)?.phase === 'Destroyed') throw runtimeDestroyed(id);
    const { session } = await this.k.ensureRegistered(id);
    return this.bindings(session, 'local');
  }

  private bindings(session: SessionRuntime, authority: 'authoritative' | 'local'): SessionRuntimeBindings {
    return {
      session_id: session.sessionId,
      runtime_id: session.runtimeId,
      epoch_id: session.epochId,
      authority,
      agent_runtime_id: session.state.active_runtime_id,
      fence_token: session.state.active_fence_token,
      ops: session.ops,
    };
  }

  async inputState(sessionId: string, inputId: string): Promise<StoredInputRow | null> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    return this.k.inputRow(session, parseUuidV7(inputId, 'input_id'));
  }

  listActiveInputs(sessionId: string): string[] {
    return this.k.session(parseUuidV7(sessionId, 'session_id')).activeInputIds();
  }

  /**
   * Delegated to the attached executor when it declares the capability
   * (decision 7); otherwise RECONFIGURE_HOST_UNAVAILABLE.
   */
  async reconfigureSessionLlmIdentity(sessionId: string, request: LlmReconfigureRequest): Promise<never> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    if (request.model !== undefined && request.model !== null && (request.model.length === 0 || request.model.length > MAX_SHORT_STRING)) {
      throw invalidField('model', 'must be a non-empty model name');
    }
    const phase = session.visiblePhase;
    if (phase !== 'Attached' && phase !== 'Running') {
      throw invalidPhase('ReconfigureSessionLlmIdentity', phase, 'an attached or running runtime is required');
    }
    throw new KernelError(
      'RECONFIGURE_HOST_UNAVAILABLE',
      `the executor attached to session ${session.sessionId} cannot reconfigure its LLM identity`,
      { session_id: session.sessionId },
    );
  }

  /** Stages a persistent tool filter; returns the minted staged revision. */
  async stagePersistentFilter(
    sessionId: string,
    filter: ToolFilter,
    witnesses: Readonly<Record<string, ToolVisibilityWitness>>,
  ): Promise<number> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const names = filter.kind === 'All' ? [] : filter.names;
    const missing = names.filter((n) => {
      const w = witnesses[n];
      return !w || (w.stable_owner_key === null && w.last_seen_provenance === null);
    });
    if (missing.length > 0) {
      throw invalidArgument(missing.map((n) => ({ field: `witnesses.${n}`, description: `tool "${n}" needs an identity witness` })));
    }
    return session.gate.run(async () => {
      const tx = session.begin('StagePersistentFilter');
      // commands.md §3.2.16 step 3: names absent from the filter catalog are not checked against
      // it; the supplied witness becomes their catalog entry (names already in the catalog must match).
      const catalog = tx.state.filter_visibility_authority_catalog;
      const added = names.filter((n) => catalog[n] === undefined);
      if (added.length > 0) {
        const extended: Record<string, ToolVisibilityWitness> = { ...catalog };
        for (const n of added) extended[n] = witnesses[n] as ToolVisibilityWitness;
        tx.apply({ type: 'ReplaceFilterToolAuthorityCatalog', catalog: extended });
      }
      tx.apply({ type: 'StageVisibilityFilter', filter, witnesses });
      await this.k.commit(session, tx);
      return session.state.staged_visibility_revision;
    });
  }

  /** Requests deferred tools (accumulating until a boundary promotes them); returns the staged revision. */
  async requestDeferredTools(
    sessionId: string,
    authorities: readonly { readonly name: string; readonly witness: ToolVisibilityWitness }[],
  ): Promise<number> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const map: Record<string, ToolVisibilityWitness> = {};
    const violations: FieldViolation[] = [];
    authorities.forEach((a, i) => {
      if (!a.name) violations.push({ field: `authorities[${i}].name`, description: 'is required' });
      else if (map[a.name] && JSON.stringify(map[a.name]) !== JSON.stringify(a.witness)) {
        violations.push({ field: `authorities[${i}]`, description: `tool "${a.name}" is listed twice with different witnesses` });
      } else map[a.name] = a.witness;
    });
    if (violations.length > 0) throw invalidArgument(violations);
    return session.gate.run(async () => {
      const tx = session.begin('RequestDeferredTools');
      const merged = { ...session.state.staged_deferred_authorities, ...map };
      tx.apply({ type: 'RequestDeferredTools', authorities: merged });
      await this.k.commit(session, tx);
      return session.state.staged_visibility_revision;
    });
  }

  /** Installs a complete externally computed visibility state (recovery / hot swap). */
  async publishCommittedVisibleSet(
    sessionId: string,
    visibility: SessionToolVisibilityState,
  ): Promise<SessionToolVisibilityState> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    return session.gate.run(async () => {
      const tx = session.begin('PublishCommittedVisibleSet');
      tx.apply({
        type: 'PublishCommittedVisibleSet',
        active_filter: visibility.active_filter,
        staged_filter: visibility.staged_filter,
        active_requested_deferred_names: visibility.active_requested_deferred_names,
        staged_requested_deferred_names: visibility.staged_requested_deferred_names,
        active_deferred_authorities: pick(visibility.requested_witnesses, visibility.active_requested_deferred_names),
        staged_deferred_authorities: pick(visibility.requested_witnesses, visibility.staged_requested_deferred_names),
        active_visibility_revision: visibility.active_revision,
        staged_visibility_revision: visibility.staged_revision,
      });
      await this.k.commit(session, tx);
      return visibilityOf(session.state);
    });
  }

  /** The session's machine-owned tool-visibility state. */
  visibilityState(sessionId: string): SessionToolVisibilityState {
    return visibilityOf(this.k.session(parseUuidV7(sessionId, 'session_id')).state);
  }
}

function pick(
  witnesses: Readonly<Record<string, ToolVisibilityWitness>>,
  names: readonly string[],
): Record<string, ToolVisibilityWitness> {
  const out: Record<string, ToolVisibilityWitness> = {};
  for (const n of names) {
    const w = witnesses[n];
    if (w) out[n] = w;
  }
  return out;
}

export function checkReason(reason: unknown): void {
  if (typeof reason !== 'string' || reason.trim().length === 0) throw invalidField('reason', 'must be a non-empty string');
  if (reason.length > MAX_SHORT_STRING * 8) throw invalidField('reason', `is longer than ${MAX_SHORT_STRING * 8} characters`);
}
