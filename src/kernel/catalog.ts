/**
 * The kernel's command surface as data: the 49 seed commands plus the three
 * HEAD queries, each with its seed group, the `MeerkatMachine` method that
 * serves it and the reducer inputs it fires. `docs/commands.md` is generated
 * from this table and the transition table (`npm run docs:commands`), and a
 * test keeps both in step with the code.
 */
import type { MachineInputType } from '../machine/index.js';

export type CommandGroup = 'ensure-session' | 'session' | 'drain' | 'drain-local' | 'control' | 'ingress' | 'legacy-run' | 'queries';

export interface CommandEntry {
  /** Upstream command name. */
  readonly name: string;
  readonly group: CommandGroup;
  /** `group.method` on `MeerkatMachine`. */
  readonly method: string;
  /** Reducer inputs the command fires, in order (empty for pure queries). */
  readonly inputs: readonly MachineInputType[];
  readonly kind: 'mutation' | 'query';
  /** One line on behaviour worth knowing. */
  readonly note: string;
}

const ADMISSION: readonly MachineInputType[] = [
  'ResolveAdmissionValidation',
  'ResolveAdmissionIdempotency',
  'ResolveAdmissionPlan',
  'QueueAccepted',
  'SteerAccepted',
  'ConsumeOnAccept',
  'CoalesceInput',
  'RegisterAcceptedIdempotency',
];

const ABANDON_ALL: readonly MachineInputType[] = ['AbandonInput', 'ResolveRuntimeCompletionResult', 'ArchiveTerminalInput'];

export const COMMANDS: readonly CommandEntry[] = [
  // ensure-session (1)
  { name: 'EnsureSessionWithExecutor', group: 'ensure-session', method: 'session.ensureSessionWithExecutor', inputs: ['Initialize', 'RegisterSession', 'EnsureSessionWithExecutor'], kind: 'mutation', note: 'Registers if needed, attaches a runtime loop with the named executor (echo, scripted, …); a second call while a loop is live is a no-op.' },
  // session (18)
  { name: 'RegisterSession', group: 'session', method: 'session.registerSession', inputs: ['Initialize', 'RegisterSession'], kind: 'mutation', note: 'Idempotent; a destroyed session is RUNTIME_DESTROYED.' },
  { name: 'UnregisterSession', group: 'session', method: 'session.unregisterSession', inputs: ['BeginUnregisterSession', 'RuntimeLoopStoppedForUnregister', 'CommsDrainExitedForUnregister', 'AbandonInput', 'ResolveRuntimeCompletionResult', 'ArchiveTerminalInput', 'CompletionWaitersResolvedForUnregister', 'UnregisterSession'], kind: 'mutation', note: 'Two-phase saga (machine.md §2.3); waiters end "runtime session unregistered"; the session is forgotten.' },
  { name: 'SetSilentIntents', group: 'session', method: 'session.setSilentIntents', inputs: ['SetSilentIntents'], kind: 'mutation', note: 'Replaces the set; matching peer requests are admitted without waking.' },
  { name: 'CancelAfterBoundary', group: 'session', method: 'session.cancelAfterBoundary', inputs: ['CancelAfterBoundary'], kind: 'mutation', note: 'Needs a live runtime loop; the executor is told directly and through the loop.' },
  { name: 'StopRuntimeExecutor', group: 'session', method: 'session.stopRuntimeExecutor', inputs: ['StopRuntimeExecutor', 'RuntimeExecutorExited', ...ABANDON_ALL], kind: 'mutation', note: 'Live loop: stop hook then terminalisation; no loop: synchronous. Waiters end "runtime stopped".' },
  { name: 'CommitServiceTurnTerminalReceipt', group: 'session', method: 'session.commitServiceTurnTerminalReceipt', inputs: ['RunCompleted', 'ServiceTurnCommitted'], kind: 'mutation', note: 'Closes a direct service turn bound in Running with no active inputs.' },
  { name: 'ContainsSession', group: 'session', method: 'session.containsSession', inputs: [], kind: 'query', note: 'Destroyed sessions count as present.' },
  { name: 'SessionHasExecutor', group: 'session', method: 'session.sessionHasExecutor', inputs: [], kind: 'query', note: 'True while a live runtime loop serves the session.' },
  { name: 'SessionHasComms', group: 'session', method: 'session.sessionHasComms', inputs: [], kind: 'query', note: 'HEAD semantics: peer-ingress owner is not Unattached.' },
  { name: 'OpsLifecycleRegistry', group: 'session', method: 'session.opsLifecycleRegistry', inputs: [], kind: 'query', note: "The session's async-operations registry (its own methods fire the ops inputs)." },
  { name: 'PrepareBindings', group: 'session', method: 'session.prepareBindings', inputs: ['Initialize', 'RegisterSession', 'PrepareBindings'], kind: 'mutation', note: 'Binds rt:session:<id> with fence 0 once (RuntimeBound signal); a different existing binding is GUARD_REJECTED.' },
  { name: 'PrepareLocalSessionBindings', group: 'session', method: 'session.prepareLocalSessionBindings', inputs: ['Initialize', 'RegisterSession'], kind: 'mutation', note: 'Resources only: no binding, no signal.' },
  { name: 'InputState', group: 'session', method: 'session.inputState', inputs: [], kind: 'query', note: 'Live ledger, then the store; null for unknown ids.' },
  { name: 'ListActiveInputs', group: 'session', method: 'session.listActiveInputs', inputs: [], kind: 'query', note: 'Non-terminal inputs in admission order.' },
  { name: 'ReconfigureSessionLlmIdentity', group: 'session', method: 'session.reconfigureSessionLlmIdentity', inputs: [], kind: 'mutation', note: 'Decision 7: answers RECONFIGURE_HOST_UNAVAILABLE (after the phase check). Delegation to a remote executor that declares can_reconfigure_llm is not built yet, so the reducer input ReconfigureSessionLlmIdentity is never fired.' },
  { name: 'StagePersistentFilter', group: 'session', method: 'session.stagePersistentFilter', inputs: ['StageVisibilityFilter'], kind: 'mutation', note: 'Every named tool needs an identity witness; returns the minted staged revision.' },
  { name: 'RequestDeferredTools', group: 'session', method: 'session.requestDeferredTools', inputs: ['RequestDeferredTools'], kind: 'mutation', note: 'Accumulates requested deferred tools; catalog-backed provenance required.' },
  { name: 'PublishCommittedVisibleSet', group: 'session', method: 'session.publishCommittedVisibleSet', inputs: ['PublishCommittedVisibleSet'], kind: 'mutation', note: 'Whole-state install; active revision must be ≥ staged revision.' },
  // drain (2)
  { name: 'SetPeerIngressContext', group: 'drain', method: 'drain.setPeerIngressContext', inputs: ['SetPeerIngressContext', 'AttachSessionIngress', 'AttachMobIngress', 'DetachIngress', 'SpawnDrain', 'StopDrain'], kind: 'mutation', note: 'keep_alive=true with a comms runtime starts the drain that admits the peer inbox (decision 9).' },
  { name: 'NotifyDrainExited', group: 'drain', method: 'drain.notifyDrainExited', inputs: ['NotifyDrainExited', 'DrainExitedClean', 'DrainExitedRespawnable'], kind: 'mutation', note: 'Respawnable only for PersistentHost + Failed; benign for a session already gone.' },
  // drain-local (3)
  { name: 'AbortAll', group: 'drain-local', method: 'drainLocal.abortAll', inputs: ['StopDrain'], kind: 'mutation', note: 'Stops and aborts every running comms drain.' },
  { name: 'Abort', group: 'drain-local', method: 'drainLocal.abort', inputs: ['StopDrain'], kind: 'mutation', note: 'Stops (if running) and aborts the drain; the slot ends Stopped.' },
  { name: 'Wait', group: 'drain-local', method: 'drainLocal.wait', inputs: ['NotifyDrainExited', 'DrainExitedRespawnable'], kind: 'mutation', note: 'Joins the drain task, then the exit safety net.' },
  // control (20)
  { name: 'Ingest', group: 'control', method: 'control.ingest', inputs: ['Ingest', ...ADMISSION, 'AcceptWithCompletion'], kind: 'mutation', note: 'Fire-and-forget admission by runtime id; a rejected input is an outcome, not an error.' },
  { name: 'PublishEvent', group: 'control', method: 'control.publishEvent', inputs: ['PublishEvent'], kind: 'mutation', note: 'Checks the runtime exists and accepts events; otherwise a no-op.' },
  { name: 'Retire', group: 'control', method: 'control.retire', inputs: ['Retire', ...ABANDON_ALL], kind: 'mutation', note: 'RuntimeRetired signal; backlog drains through a live loop, else abandoned ("retired without runtime loop").' },
  { name: 'Recycle', group: 'control', method: 'control.recycle', inputs: ['Recycle', 'RollbackStaged'], kind: 'mutation', note: 'Preserves pending work; Retired → Idle; refused while a run is in progress.' },
  { name: 'Reset', group: 'control', method: 'control.reset', inputs: ['Reset', ...ABANDON_ALL], kind: 'mutation', note: 'Abandons all pending inputs (reset); waiters end "runtime reset".' },
  { name: 'Recover', group: 'control', method: 'control.recover', inputs: ['Recover', 'RollbackStaged'], kind: 'mutation', note: 'Re-normalises pending inputs and wakes the loop.' },
  { name: 'Destroy', group: 'control', method: 'control.destroy', inputs: [...ABANDON_ALL, 'Destroy'], kind: 'mutation', note: 'Terminal; RuntimeDestroyed signal; the entry stays queryable.' },
  { name: 'RuntimeState', group: 'control', method: 'control.runtimeState', inputs: [], kind: 'query', note: 'Visible phase (a retired runtime draining its backlog reads retired).' },
  { name: 'RuntimeRealtimeAttachmentStatus', group: 'control', method: 'control.runtimeRealtimeAttachmentStatus', inputs: [], kind: 'query', note: 'Decision 8: always unattached.' },
  { name: 'ResolvedSessionLlmCapabilities', group: 'control', method: 'control.resolvedSessionLlmCapabilities', inputs: [], kind: 'query', note: 'The resolved capability surface, or null.' },
  { name: 'RuntimeRealtimeChannelStatus', group: 'control', method: 'control.runtimeRealtimeChannelStatus', inputs: [], kind: 'query', note: 'Decision 8: always closed with the upstream reason.' },
  { name: 'ConfigureModelRoutingBaseline', group: 'control', method: 'control.configureModelRoutingBaseline', inputs: ['SetModelRoutingBaseline'], kind: 'mutation', note: 'Each call bumps the topology epoch.' },
  { name: 'SessionModelRoutingStatus', group: 'control', method: 'control.sessionModelRoutingStatus', inputs: [], kind: 'query', note: 'effective = operation override ▸ turn override ▸ baseline.' },
  { name: 'RequestSwitchTurn', group: 'control', method: 'control.requestSwitchTurn', inputs: ['RequestFiniteSwitchTurn'], kind: 'mutation', note: 'Finite switches are pure state; until-changed needs a reconfigure host (decision 7).' },
  { name: 'AdmitModelRoutingAssistantTurn', group: 'control', method: 'control.admitModelRoutingAssistantTurn', inputs: ['AdmitModelRoutingAssistantTurn'], kind: 'mutation', note: 'Activates, counts down or restores the turn override.' },
  { name: 'BeginImageOperation', group: 'control', method: 'control.beginImageOperation', inputs: ['BeginImageOperation'], kind: 'mutation', note: 'plan_resolved or a typed denial.' },
  { name: 'ActivateImageOperationOverride', group: 'control', method: 'control.activateImageOperationOverride', inputs: ['ActivateImageOperationOverride'], kind: 'mutation', note: 'The operation target becomes the effective model.' },
  { name: 'CompleteImageOperation', group: 'control', method: 'control.completeImageOperation', inputs: ['CompleteImageOperation'], kind: 'mutation', note: 'terminal, or restoring_scoped_override when an override is active.' },
  { name: 'RestoreImageOperationOverride', group: 'control', method: 'control.restoreImageOperationOverride', inputs: ['RestoreImageOperationOverride'], kind: 'mutation', note: 'Clears the override and reports the stored terminal.' },
  { name: 'LoadBoundaryReceipt', group: 'control', method: 'control.loadBoundaryReceipt', inputs: [], kind: 'query', note: 'Store lookup by (runtime id, run id, sequence).' },
  // ingress (2)
  { name: 'AcceptWithCompletion', group: 'ingress', method: 'ingress.acceptWithCompletion', inputs: [...ADMISSION, 'AcceptWithCompletion'], kind: 'mutation', note: 'Returns the outcome, a completion handle and the admission signal; ADMISSION_REJECTED admits nothing.' },
  { name: 'AcceptWithoutWake', group: 'ingress', method: 'ingress.acceptWithoutWake', inputs: [...ADMISSION, 'AcceptWithoutWake'], kind: 'mutation', note: 'Queues for the next turn without waking and without a waiter.' },
  // legacy-run (3)
  { name: 'Prepare', group: 'legacy-run', method: 'legacyRun.prepare', inputs: [...ADMISSION, 'Prepare', 'StageForRun', 'StartConversationRun'], kind: 'mutation', note: 'Synchronous single-input run on an idle runtime with no other active input.' },
  { name: 'Commit', group: 'legacy-run', method: 'legacyRun.commit', inputs: ['CommitTerminalBoundarySequence', 'MarkApplied', 'MarkAppliedPendingConsumption', 'RecordBoundarySeq', 'RunCompleted', 'Commit', 'ConsumeInput', 'ResolveRuntimeCompletionResult', 'ArchiveTerminalInput'], kind: 'mutation', note: "The receipt must name the active run and exactly the run's staged inputs." },
  { name: 'Fail', group: 'legacy-run', method: 'legacyRun.fail', inputs: ['RunFailed', 'Fail', 'ResolveStagedRollback', 'ResolveRuntimeCompletionResult'], kind: 'mutation', note: 'Needs a specific cause; staged inputs return to their lanes or are abandoned at 3 attempts.' },
  // HEAD queries (3)
  { name: 'InputStateByIdempotencyKey', group: 'queries', method: 'queries.inputStateByIdempotencyKey', inputs: [], kind: 'query', note: 'Live admission map, archived keys, then the store.' },
  { name: 'InteractionTerminalStatus', group: 'queries', method: 'queries.interactionTerminalStatus', inputs: [], kind: 'query', note: 'By input id or idempotency key; sourced LiveRuntime or DurableStore.' },
  { name: 'RunTerminalStatus', group: 'queries', method: 'queries.runTerminalStatus', inputs: [], kind: 'query', note: 'in_flight / resolved (consumed, abandoned, displaced) / no_durable_witness.' },
];
