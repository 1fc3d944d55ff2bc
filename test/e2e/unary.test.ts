/**
 * End to end over gRPC against the real server process: every unary RPC of SessionService,
 * VisibilityService, DrainService, ControlService, ModelRoutingService, RunService,
 * IngressService.AcceptWithoutWake and CompositionService (plus StreamSignals), the error model of
 * decision 2 (status + google.rpc.ErrorInfo / BadRequest in grpc-status-details-bin), health,
 * reflection, deadlines and undecodable requests. One server for the whole file.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { create, createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositionServiceClient, RoutedSignalKind, type StreamSignalsResponse } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { ControlServiceClient, RealtimeAttachmentStatus, RealtimeChannelState, RuntimeState } from '../../src/gen/meerkat/kernel/v1/control.js';
import { DrainExitReason, DrainServiceClient } from '../../src/gen/meerkat/kernel/v1/drain.js';
import { IngressServiceClient } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import {
  ApprovalDisposition,
  ImageOperationPhase,
  ImageTerminalClass,
  ModelRoutingServiceClient,
  RoutingDenialReason,
} from '../../src/gen/meerkat/kernel/v1/model_routing.js';
import { RunServiceClient, TurnTerminalCauseKind } from '../../src/gen/meerkat/kernel/v1/run.js';
import { BindingAuthority, InteractionStatusSource, SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import {
  AdmissionInputKind,
  AdmissionRejectReason,
  Durability,
  InputLifecycleState,
  RuntimeBoundary,
  type Input,
} from '../../src/gen/meerkat/kernel/v1/types.js';
import { VisibilityServiceClient } from '../../src/gen/meerkat/kernel/v1/visibility.js';
import { newId } from '../../src/kernel/ids.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { checkHealth } from '../../src/server/health.js';
import { KERNEL_SERVICES } from '../../src/server/server.js';
import { call, expectError, insecure, ROOT, startServer, type RunningServer } from './harness.js';

const { NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT, DEADLINE_EXCEEDED } = grpc.status;

let server: RunningServer;
let sessions: SessionServiceClient;
let visibility: VisibilityServiceClient;
let drain: DrainServiceClient;
let control: ControlServiceClient;
let routing: ModelRoutingServiceClient;
let runs: RunServiceClient;
let ingress: IngressServiceClient;
let composition: CompositionServiceClient;

const rt = (session: string): string => `rt:session:${session}`;
const prompt = (text: string, extra: Partial<Input> = {}): Input => ({
  durability: Durability.UNSPECIFIED,
  body: { input_type: { $case: 'prompt', prompt: { text, handling_mode: 0 } } },
  ...extra,
});

/** A registered session (optionally with an executor loop). */
async function session(executor?: string): Promise<string> {
  const id = newId();
  await call(sessions.registerSession.bind(sessions), { session_id: id });
  if (executor) await call(sessions.ensureSessionWithExecutor.bind(sessions), { session_id: id, executor });
  return id;
}

beforeAll(async () => {
  server = await startServer();
  const a = server.address;
  sessions = new SessionServiceClient(a, insecure());
  visibility = new VisibilityServiceClient(a, insecure());
  drain = new DrainServiceClient(a, insecure());
  control = new ControlServiceClient(a, insecure());
  routing = new ModelRoutingServiceClient(a, insecure());
  runs = new RunServiceClient(a, insecure());
  ingress = new IngressServiceClient(a, insecure());
  composition = new CompositionServiceClient(a, insecure());
}, 60_000);

afterAll(async () => {
  for (const c of [sessions, visibility, drain, control, routing, runs, ingress, composition]) c?.close();
  if (server) {
    // SIGINT shuts down like SIGTERM: exit 0, promptly when idle.
    const r = await server.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  }
}, 30_000);

/** Dependencies named by `files` that are not among them. */
function missingDeps(files: readonly FileDescriptorProto[]): string[] {
  const have = new Set(files.map((f) => f.name));
  return [...new Set(files.flatMap((f) => f.dependency))].filter((d) => !have.has(d));
}

/** The files ordered so that each comes after its dependencies. */
function dependenciesFirst(files: readonly FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const out: FileDescriptorProto[] = [];
  const visit = (f: FileDescriptorProto): void => {
    if (out.includes(f)) return;
    for (const d of f.dependency) {
      const dep = byName.get(d);
      if (dep) visit(dep);
    }
    out.push(f);
  };
  files.forEach(visit);
  return out;
}

describe('SessionService', () => {
  it('registers, attaches an executor and answers the session queries', async () => {
    const s = newId();
    const reg = await call(sessions.registerSession.bind(sessions), { session_id: s });
    expect(reg.recovery_report).toBeUndefined();
    expect(await call(sessions.containsSession.bind(sessions), { session_id: s })).toEqual({ contains: true });
    expect(await call(sessions.containsSession.bind(sessions), { session_id: newId() })).toEqual({ contains: false });
    expect(await call(sessions.sessionHasExecutor.bind(sessions), { session_id: s })).toEqual({ has_executor: false });
    await call(sessions.ensureSessionWithExecutor.bind(sessions), { session_id: s, executor: 'echo' });
    expect(await call(sessions.sessionHasExecutor.bind(sessions), { session_id: s })).toEqual({ has_executor: true });
    expect(await call(sessions.sessionHasComms.bind(sessions), { session_id: s })).toEqual({ has_comms: false });
    expect((await call(control.runtimeState.bind(control), { runtime_id: rt(s) })).state).toBe(RuntimeState.ATTACHED);

    const unknown = await expectError(
      call(sessions.ensureSessionWithExecutor.bind(sessions), { session_id: s, executor: 'nope' }),
      INVALID_ARGUMENT,
      'UNKNOWN_EXECUTOR',
    );
    expect(unknown.errorInfo?.metadata).toMatchObject({ executor: 'nope' });
  });

  it('prepares authoritative and local bindings', async () => {
    const s = newId();
    const { bindings } = await call(sessions.prepareBindings.bind(sessions), { session_id: s });
    expect(bindings).toMatchObject({
      session_id: s,
      runtime_id: rt(s),
      authority: BindingAuthority.AUTHORITATIVE,
      agent_runtime_id: rt(s),
      fence_token: 0,
      ops: { operations: [], completion_feed: [] },
    });
    const local = await call(sessions.prepareLocalSessionBindings.bind(sessions), { session_id: newId() });
    expect(local.bindings?.authority).toBe(BindingAuthority.LOCAL);
    expect(local.bindings?.fence_token).toBeUndefined();
  });

  it('sets silent intents, cancels after a boundary, stops the executor', async () => {
    const s = await session('echo');
    expect(await call(sessions.setSilentIntents.bind(sessions), { session_id: s, intents: ['status-ping'] })).toEqual({});
    await expectError(call(sessions.setSilentIntents.bind(sessions), { session_id: s, intents: [' '] }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(await call(sessions.cancelAfterBoundary.bind(sessions), { session_id: s })).toEqual({});
    expect(await call(sessions.stopRuntimeExecutor.bind(sessions), { session_id: s, reason: 'maintenance' })).toEqual({});
    expect((await call(control.runtimeState.bind(control), { runtime_id: rt(s) })).state).toBe(RuntimeState.STOPPED);
  });

  it('illegal phase: FAILED_PRECONDITION INVALID_PHASE with metadata phase', async () => {
    const s = await session();
    const noLoop = await expectError(call(sessions.cancelAfterBoundary.bind(sessions), { session_id: s }), FAILED_PRECONDITION, 'INVALID_PHASE');
    expect(noLoop.errorInfo?.metadata).toMatchObject({ phase: 'Idle', command: 'CancelAfterBoundary' });
    const receipt = await expectError(
      call(sessions.commitServiceTurnTerminalReceipt.bind(sessions), { session_id: s }),
      FAILED_PRECONDITION,
      'INVALID_PHASE',
    );
    expect(receipt.errorInfo?.metadata.phase).toBe('Idle');
  });

  it('reads the ops registry, input state, active inputs and the HEAD queries', async () => {
    const s = await session();
    const { registry } = await call(sessions.opsLifecycleRegistry.bind(sessions), { session_id: s, completion_feed_after_sequence: 0 });
    expect(registry).toEqual({ operations: [], completion_feed: [] });
    expect(await call(sessions.opsLifecycleRegistry.bind(sessions), { session_id: newId(), completion_feed_after_sequence: 0 })).toEqual({});
    await expectError(
      call(sessions.opsLifecycleRegistry.bind(sessions), { session_id: s, completion_feed_after_sequence: -1 }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );

    const { outcome } = await call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('hello', { idempotency_key: 'k-1' }) });
    expect(outcome?.type?.$case).toBe('accepted');
    const inputId = outcome?.type?.$case === 'accepted' ? outcome.type.accepted.input_id : '';

    const { state } = await call(sessions.inputState.bind(sessions), { session_id: s, input_id: inputId });
    expect(state).toMatchObject({ input_id: inputId, runtime_id: rt(s), phase: InputLifecycleState.QUEUED, durability: Durability.DURABLE, idempotency_key: 'k-1' });
    expect(state?.input?.body?.input_type).toEqual({ $case: 'prompt', prompt: { text: 'hello', handling_mode: 0 } });
    expect(await call(sessions.inputState.bind(sessions), { session_id: s, input_id: newId() })).toEqual({});
    expect(await call(sessions.listActiveInputs.bind(sessions), { session_id: s })).toEqual({ input_ids: [inputId] });

    const byKey = await call(sessions.inputStateByIdempotencyKey.bind(sessions), { session_id: s, idempotency_key: 'k-1' });
    expect(byKey.state?.input_id).toBe(inputId);
    expect(await call(sessions.inputStateByIdempotencyKey.bind(sessions), { session_id: s, idempotency_key: 'other' })).toEqual({});

    const { report } = await call(sessions.interactionTerminalStatus.bind(sessions), {
      session_id: s,
      selector: { $case: 'idempotency_key', idempotency_key: 'k-1' },
    });
    expect(report).toMatchObject({ source: InteractionStatusSource.LIVE_RUNTIME, input_id: inputId, phase: InputLifecycleState.QUEUED });
    expect(report?.terminal).toBeUndefined();
    const sel = await expectError(call(sessions.interactionTerminalStatus.bind(sessions), { session_id: s }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(sel.fieldViolations.map((v) => v.field)).toEqual(['selector']);

    const run = await call(sessions.runTerminalStatus.bind(sessions), { session_id: s, run_id: newId() });
    expect(run).toEqual({ status: { $case: 'no_durable_witness', no_durable_witness: {} }, witnesses: [] });
  });

  it('refuses an LLM reconfigure without a host: FAILED_PRECONDITION RECONFIGURE_HOST_UNAVAILABLE', async () => {
    const s = await session('echo');
    await expectError(
      call(sessions.reconfigureSessionLlmIdentity.bind(sessions), { session_id: s, model: 'm-2', clear_provider_params: false, clear_auth_binding: false }),
      FAILED_PRECONDITION,
      'RECONFIGURE_HOST_UNAVAILABLE',
    );
  });

  it('unregisters; an unknown session is NOT_FOUND SESSION_NOT_FOUND', async () => {
    const s = await session('echo');
    expect(await call(sessions.unregisterSession.bind(sessions), { session_id: s })).toEqual({});
    expect(await call(sessions.containsSession.bind(sessions), { session_id: s })).toEqual({ contains: false });
    const e = await expectError(call(sessions.unregisterSession.bind(sessions), { session_id: s }), NOT_FOUND, 'SESSION_NOT_FOUND');
    expect(e.errorInfo?.metadata).toEqual({ session_id: s });
    await expectError(call(sessions.listActiveInputs.bind(sessions), { session_id: newId() }), NOT_FOUND, 'SESSION_NOT_FOUND');
  });

  it('malformed ids: INVALID_ARGUMENT with a BadRequest field violation', async () => {
    const bad = await expectError(call(sessions.registerSession.bind(sessions), { session_id: 'not-a-uuid' }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(bad.fieldViolations).toEqual([{ field: 'session_id', description: expect.stringContaining('not a UUID') }]);
    const v4 = await expectError(call(sessions.registerSession.bind(sessions), { session_id: randomUUID() }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(v4.fieldViolations[0]).toMatchObject({ field: 'session_id', description: expect.stringContaining('UUID v7') });
    const input = await expectError(
      call(sessions.inputState.bind(sessions), { session_id: await session(), input_id: 'x' }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(input.fieldViolations.map((v) => v.field)).toEqual(['input_id']);
  });
});

describe('VisibilityService', () => {
  it('stages a filter, publishes a visible set; missing witnesses and guard refusals are typed', async () => {
    const s = await session();
    const staged = await call(visibility.stagePersistentFilter.bind(visibility), {
      session_id: s,
      filter: { kind: { $case: 'deny', deny: { names: ['secret'] } } },
      witnesses: { secret: { stable_owner_key: 'mcp:catalog' } },
    });
    expect(staged.staged_revision).toBeGreaterThan(0);

    const missing = await expectError(
      call(visibility.stagePersistentFilter.bind(visibility), {
        session_id: s,
        filter: { kind: { $case: 'allow', allow: { names: ['a', 'b'] } } },
        witnesses: { a: { stable_owner_key: 'k' } },
      }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(missing.fieldViolations.map((v) => v.field)).toEqual(['witnesses.b']);
    const noFilter = await expectError(call(visibility.stagePersistentFilter.bind(visibility), { session_id: s, witnesses: {} }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(noFilter.fieldViolations.map((v) => v.field)).toEqual(['filter']);

    // Guard rejection: FAILED_PRECONDITION GUARD_REJECTED with metadata guard, phase, input.
    const guard = await expectError(call(visibility.requestDeferredTools.bind(visibility), { session_id: s, authorities: [] }), FAILED_PRECONDITION, 'GUARD_REJECTED');
    expect(Object.keys(guard.errorInfo?.metadata ?? {}).sort()).toEqual(['guard', 'input', 'phase']);
    expect(guard.errorInfo?.metadata).toMatchObject({ phase: 'Idle', input: 'RequestDeferredTools' });

    const published = await call(visibility.publishCommittedVisibleSet.bind(visibility), {
      session_id: s,
      visibility: {
        active_filter: { kind: { $case: 'deny', deny: { names: ['secret'] } } },
        staged_filter: { kind: { $case: 'deny', deny: { names: ['secret'] } } },
        active_requested_deferred_names: [],
        staged_requested_deferred_names: [],
        active_revision: staged.staged_revision,
        staged_revision: staged.staged_revision,
        requested_witnesses: {},
        filter_witnesses: {},
      },
    });
    expect(published.visibility).toMatchObject({
      active_filter: { kind: { $case: 'deny', deny: { names: ['secret'] } } },
      active_revision: staged.staged_revision,
      staged_revision: staged.staged_revision,
    });
    const lower = await expectError(
      call(visibility.publishCommittedVisibleSet.bind(visibility), {
        session_id: s,
        visibility: { ...published.visibility!, active_revision: 1, staged_revision: 2 },
      }),
      FAILED_PRECONDITION,
      'GUARD_REJECTED',
    );
    expect(lower.errorInfo?.metadata.input).toBe('PublishCommittedVisibleSet');
  });
});

describe('DrainService', () => {
  it('sets the peer-ingress context, notifies exits, aborts and waits', async () => {
    const s = await session('echo');
    expect(await call(drain.setPeerIngressContext.bind(drain), { session_id: s, keep_alive: true, comms_runtime_id: 'comms-1' })).toEqual({
      drain_started: true,
    });
    expect(await call(sessions.sessionHasComms.bind(sessions), { session_id: s })).toEqual({ has_comms: true });
    // Wait joins the running drain task: a long call that ends at its deadline (the server keeps serving).
    const started = Date.now();
    const waited = await call(drain.wait.bind(drain), { session_id: s }, { deadline: Date.now() + 400 }).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(waited?.code).toBe(DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await call(drain.abort.bind(drain), { session_id: s })).toEqual({});
    expect(await call(drain.wait.bind(drain), { session_id: s })).toEqual({});
    expect(await call(drain.notifyDrainExited.bind(drain), { session_id: s, reason: DrainExitReason.ABORTED })).toEqual({});
    expect(await call(drain.notifyDrainExited.bind(drain), { session_id: newId(), reason: DrainExitReason.FAILED })).toEqual({});
    const reason = await expectError(
      call(drain.notifyDrainExited.bind(drain), { session_id: s, reason: DrainExitReason.UNSPECIFIED }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(reason.fieldViolations.map((v) => v.field)).toEqual(['reason']);
    expect(await call(drain.setPeerIngressContext.bind(drain), { session_id: s, keep_alive: false })).toEqual({ drain_started: false });
    expect(await call(drain.abortAll.bind(drain), {})).toEqual({});
    await expectError(call(drain.abort.bind(drain), { session_id: newId() }), NOT_FOUND, 'SESSION_NOT_FOUND');
  });
});

describe('ControlService', () => {
  it('ingests by runtime id; a refused input is an outcome', async () => {
    const s = await session();
    const accepted = await call(control.ingest.bind(control), { runtime_id: rt(s), input: prompt('by runtime') });
    expect(accepted.type?.$case).toBe('accepted');
    const dup = await call(control.ingest.bind(control), { runtime_id: rt(s), input: prompt('again', { idempotency_key: 'same' }) });
    const dup2 = await call(control.ingest.bind(control), { runtime_id: rt(s), input: prompt('again', { idempotency_key: 'same' }) });
    expect(dup.type?.$case).toBe('accepted');
    expect(dup2.type?.$case).toBe('deduplicated');
    const rejected = await call(control.ingest.bind(control), { runtime_id: rt(s), input: prompt('derived', { durability: Durability.DERIVED }) });
    expect(rejected.type?.$case).toBe('rejected');
    if (rejected.type?.$case === 'rejected') expect(rejected.type.rejected.reason).not.toBe(AdmissionRejectReason.UNSPECIFIED);
    expect(await call(control.publishEvent.bind(control), { runtime_id: rt(s), kind: 'tick' })).toEqual({});
  });

  it('retires, recycles, resets, recovers and destroys; destroyed is FAILED_PRECONDITION RUNTIME_DESTROYED', async () => {
    const s = await session();
    await call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('pending') });
    expect(await call(control.retire.bind(control), { runtime_id: rt(s) })).toEqual({ inputs_abandoned: 1, inputs_pending_drain: 0 });
    expect((await call(control.runtimeState.bind(control), { runtime_id: rt(s) })).state).toBe(RuntimeState.RETIRED);
    expect(await call(control.recycle.bind(control), { runtime_id: rt(s) })).toEqual({ inputs_transferred: 0 });
    expect((await call(control.runtimeState.bind(control), { runtime_id: rt(s) })).state).toBe(RuntimeState.IDLE);
    await call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('again') });
    expect(await call(control.reset.bind(control), { runtime_id: rt(s) })).toEqual({ inputs_abandoned: 1 });
    await call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('kept') });
    expect(await call(control.recover.bind(control), { runtime_id: rt(s) })).toEqual({
      inputs_recovered: 1,
      inputs_abandoned: 0,
      inputs_requeued: 0,
      details: [],
    });
    expect(await call(control.destroy.bind(control), { runtime_id: rt(s) })).toEqual({ inputs_abandoned: 1 });
    expect((await call(control.runtimeState.bind(control), { runtime_id: rt(s) })).state).toBe(RuntimeState.DESTROYED);

    const again = await expectError(call(control.destroy.bind(control), { runtime_id: rt(s) }), FAILED_PRECONDITION, 'RUNTIME_DESTROYED');
    expect(again.errorInfo?.metadata).toEqual({ session_id: s });
    await expectError(call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('late') }), FAILED_PRECONDITION, 'RUNTIME_DESTROYED');
    await expectError(call(sessions.registerSession.bind(sessions), { session_id: s }), FAILED_PRECONDITION, 'RUNTIME_DESTROYED');
    // Destroyed sessions stay queryable.
    expect(await call(sessions.containsSession.bind(sessions), { session_id: s })).toEqual({ contains: true });
  });

  it('answers the realtime and capability queries (decision 8)', async () => {
    const s = await session();
    expect(await call(control.runtimeRealtimeAttachmentStatus.bind(control), { session_id: s })).toEqual({ status: RealtimeAttachmentStatus.UNATTACHED });
    expect(await call(control.resolvedSessionLlmCapabilities.bind(control), { session_id: s })).toEqual({});
    const channel = await call(control.runtimeRealtimeChannelStatus.bind(control), { session_id: s });
    expect(channel).toMatchObject({ state: RealtimeChannelState.CLOSED, attempt_count: 0, reason: 'no realtime channel is open for this target' });
    expect(channel.next_retry_at).toBeUndefined();
    await expectError(call(control.runtimeRealtimeChannelStatus.bind(control), { session_id: newId() }), NOT_FOUND, 'SESSION_NOT_FOUND');
  });

  it('runtime ids: unknown is NOT_FOUND, a bare uuid is INVALID_ARGUMENT', async () => {
    const unknown = newId();
    const nf = await expectError(call(control.runtimeState.bind(control), { runtime_id: rt(unknown) }), NOT_FOUND, 'SESSION_NOT_FOUND');
    expect(nf.errorInfo?.metadata).toEqual({ runtime_id: rt(unknown) });
    const s = await session();
    const bare = await expectError(call(control.retire.bind(control), { runtime_id: s }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(bare.fieldViolations).toEqual([{ field: 'runtime_id', description: expect.stringContaining('bare session uuid') }]);
    await expectError(call(control.runtimeState.bind(control), { runtime_id: 'rt:session:nope' }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  });
});

describe('RunService and LoadBoundaryReceipt', () => {
  it('prepares, commits and loads the boundary receipt; fails a run; phase and guard errors are typed', async () => {
    const s = await session();
    const p = await call(runs.prepare.bind(runs), { session_id: s, input: prompt('legacy') });
    expect(p.primitive).toMatchObject({
      session_id: s,
      runtime_id: rt(s),
      run_id: p.run_id,
      boundary: RuntimeBoundary.RUN_START,
      inputs: [{ input_id: p.input_id, kind: AdmissionInputKind.PROMPT, text: 'legacy', attempt: 1 }],
    });
    const wrongRun = await expectError(
      call(runs.fail.bind(runs), { session_id: s, run_id: newId(), failure: { cause_kind: TurnTerminalCauseKind.LLM_FAILURE, message: 'x' } }),
      FAILED_PRECONDITION,
      'GUARD_REJECTED',
    );
    expect(wrongRun.errorInfo?.metadata).toMatchObject({ guard: 'run_matches_current', phase: 'Running', input: 'Fail' });
    const badReceipt = await expectError(
      call(runs.commit.bind(runs), { session_id: s, input_id: p.input_id, run_id: p.run_id, receipt: { run_id: p.run_id, contributing_input_ids: [] } }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(badReceipt.fieldViolations.map((v) => v.field)).toEqual(['receipt.contributing_input_ids']);
    await call(runs.commit.bind(runs), {
      session_id: s,
      input_id: p.input_id,
      run_id: p.run_id,
      receipt: { run_id: p.run_id, contributing_input_ids: [p.input_id], conversation_digest: 'digest-1' },
      result_text: 'done',
    });
    const { state } = await call(sessions.inputState.bind(sessions), { session_id: s, input_id: p.input_id });
    expect(state?.phase).toBe(InputLifecycleState.CONSUMED);
    const { receipt } = await call(control.loadBoundaryReceipt.bind(control), {
      runtime_id: rt(s),
      run_id: p.run_id,
      sequence: state?.last_boundary_sequence ?? -1,
    });
    expect(receipt).toMatchObject({ run_id: p.run_id, contributing_input_ids: [p.input_id], conversation_digest: 'digest-1' });
    expect(await call(control.loadBoundaryReceipt.bind(control), { runtime_id: rt(s), run_id: newId(), sequence: 0 })).toEqual({});
    const status = await call(sessions.runTerminalStatus.bind(sessions), { session_id: s, run_id: p.run_id });
    expect(status.status?.$case).toBe('resolved');

    const noRun = await expectError(
      call(runs.commit.bind(runs), { session_id: s, input_id: p.input_id, run_id: p.run_id, receipt: { run_id: p.run_id, contributing_input_ids: [p.input_id] } }),
      FAILED_PRECONDITION,
      'INVALID_PHASE',
    );
    expect(noRun.errorInfo?.metadata.phase).toBe('Idle');

    const p2 = await call(runs.prepare.bind(runs), { session_id: s, input: prompt('will fail') });
    const cause = await expectError(
      call(runs.fail.bind(runs), { session_id: s, run_id: p2.run_id, failure: { cause_kind: TurnTerminalCauseKind.UNSPECIFIED, message: '' } }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(cause.fieldViolations.map((v) => v.field)).toEqual(['failure.cause_kind']);
    expect(await call(runs.fail.bind(runs), { session_id: s, run_id: p2.run_id, failure: { cause_kind: TurnTerminalCauseKind.LLM_FAILURE, message: 'boom' } })).toEqual(
      {},
    );
    const after = await call(sessions.inputState.bind(sessions), { session_id: s, input_id: p2.input_id });
    expect(after.state?.phase).toBe(InputLifecycleState.QUEUED);
    const missing = await expectError(call(runs.prepare.bind(runs), { session_id: s }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(missing.fieldViolations).toEqual([{ field: 'input', description: 'is required' }]);
  });
});

describe('ModelRoutingService', () => {
  it('configures a baseline, switches for turns, admits turns and reports the status', async () => {
    const s = await session();
    await call(routing.configureModelRoutingBaseline.bind(routing), { session_id: s, baseline_model: 'model-a', realtime_capable: false });
    expect(await call(routing.sessionModelRoutingStatus.bind(routing), { session_id: s })).toEqual({ baseline_model: 'model-a', effective_model: 'model-a' });
    const requestId = newId();
    const applied = await call(routing.requestSwitchTurn.bind(routing), {
      session_id: s,
      request: {
        request_id: requestId,
        target_model: 'model-b',
        duration: { duration: { $case: 'turns', turns: 2 } },
        target_realtime: false,
        approval: ApprovalDisposition.NOT_REQUIRED,
      },
    });
    expect(applied).toEqual({
      result: { $case: 'applied', applied: { request_id: requestId, target_model: 'model-b', duration: { duration: { $case: 'turns', turns: 2 } } } },
    });
    await call(routing.admitModelRoutingAssistantTurn.bind(routing), { session_id: s });
    const status = await call(routing.sessionModelRoutingStatus.bind(routing), { session_id: s });
    expect(status.effective_model).toBe('model-b');
    expect(status.active_turn_override).toMatchObject({ request_id: requestId, target_model: 'model-b' });

    const denied = await call(routing.requestSwitchTurn.bind(routing), {
      session_id: s,
      request: {
        request_id: newId(),
        target_model: 'model-c',
        duration: { duration: { $case: 'one_turn', one_turn: {} } },
        target_realtime: false,
        approval: ApprovalDisposition.DENIED_BY_USER,
      },
    });
    expect(denied.result?.$case).toBe('denied');
    if (denied.result?.$case === 'denied') expect(denied.result.denied.reason).not.toBe(RoutingDenialReason.UNSPECIFIED);

    await expectError(
      call(routing.requestSwitchTurn.bind(routing), {
        session_id: s,
        request: {
          request_id: newId(),
          target_model: 'model-c',
          duration: { duration: { $case: 'until_changed', until_changed: {} } },
          target_realtime: false,
          approval: ApprovalDisposition.NOT_REQUIRED,
        },
      }),
      FAILED_PRECONDITION,
      'RECONFIGURE_HOST_UNAVAILABLE',
    );
    const bad = await expectError(
      call(routing.requestSwitchTurn.bind(routing), {
        session_id: s,
        request: { request_id: 'x', target_model: 'm', target_realtime: false, approval: ApprovalDisposition.UNSPECIFIED },
      }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(bad.fieldViolations.map((v) => v.field).sort()).toEqual(['request.approval', 'request.duration']);
  });

  it('runs an image operation through its scoped override', async () => {
    const s = await session();
    await call(routing.configureModelRoutingBaseline.bind(routing), { session_id: s, baseline_model: 'model-a', realtime_capable: false });
    const op = newId();
    const begun = await call(routing.beginImageOperation.bind(routing), {
      session_id: s,
      request: { operation_id: op, target_model: 'image-1', target_realtime: false, approval: ApprovalDisposition.NOT_REQUIRED, requires_scoped_override: true },
    });
    expect(begun).toEqual({ result: { $case: 'accepted', accepted: { operation_id: op, phase: ImageOperationPhase.PLAN_RESOLVED } } });
    expect(await call(routing.activateImageOperationOverride.bind(routing), { session_id: s, operation_id: op })).toEqual({
      phase: ImageOperationPhase.SCOPED_OVERRIDE_ACTIVE,
    });
    expect((await call(routing.sessionModelRoutingStatus.bind(routing), { session_id: s })).effective_model).toBe('image-1');
    expect(await call(routing.completeImageOperation.bind(routing), { session_id: s, operation_id: op, terminal: ImageTerminalClass.GENERATED })).toEqual({
      phase: ImageOperationPhase.RESTORING_SCOPED_OVERRIDE,
      terminal: ImageTerminalClass.GENERATED,
    });
    expect(await call(routing.restoreImageOperationOverride.bind(routing), { session_id: s, operation_id: op })).toEqual({
      phase: ImageOperationPhase.TERMINAL,
      terminal: ImageTerminalClass.GENERATED,
    });
    const terminal = await expectError(
      call(routing.completeImageOperation.bind(routing), { session_id: s, operation_id: newId(), terminal: ImageTerminalClass.UNSPECIFIED }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(terminal.fieldViolations.map((v) => v.field)).toEqual(['terminal']);
    const phase = await expectError(
      call(routing.activateImageOperationOverride.bind(routing), { session_id: s, operation_id: newId() }),
      FAILED_PRECONDITION,
      'INVALID_PHASE',
    );
    expect(phase.errorInfo?.metadata.phase).toBeDefined();
  });
});

describe('IngressService.AcceptWithoutWake', () => {
  it('admits without waking; duplicates join; bad input fields are field violations', async () => {
    const s = await session('echo');
    const first = await call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('later', { idempotency_key: 'w-1' }) });
    expect(first.outcome?.type?.$case).toBe('accepted');
    const second = await call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('later', { idempotency_key: 'w-1' }) });
    expect(second.outcome?.type?.$case).toBe('deduplicated');
    // Not woken: the input waits in its lane.
    const id = first.outcome?.type?.$case === 'accepted' ? first.outcome.type.accepted.input_id : '';
    expect((await call(sessions.inputState.bind(sessions), { session_id: s, input_id: id })).state?.phase).toBe(InputLifecycleState.QUEUED);

    const bad = await expectError(
      call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('', { idempotency_key: '' }) }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(bad.fieldViolations.map((v) => v.field).sort()).toEqual(['input.body.text', 'input.idempotency_key']);
    const noBody = await expectError(
      call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: { durability: Durability.UNSPECIFIED } }),
      INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    expect(noBody.fieldViolations.map((v) => v.field)).toEqual(['input.body']);
    const admission = await expectError(
      call(ingress.acceptWithoutWake.bind(ingress), { session_id: s, input: prompt('derived', { durability: Durability.DERIVED }) }),
      INVALID_ARGUMENT,
      'ADMISSION_REJECTED',
    );
    expect(admission.fieldViolations[0]?.field).toBe('input');
    await expectError(call(ingress.acceptWithoutWake.bind(ingress), { session_id: newId(), input: prompt('x') }), NOT_FOUND, 'SESSION_NOT_FOUND');
  });
});

describe('CompositionService', () => {
  it('streams signals from a cursor, then live; acknowledges per consumer', async () => {
    const received: StreamSignalsResponse[] = [];
    const stream = composition.streamSignals({ after_sequence: 0 });
    let ended: grpc.ServiceError | null = null;
    stream.on('data', (m: StreamSignalsResponse) => received.push(m));
    stream.on('error', (e: grpc.ServiceError) => (ended = e));
    const s = newId();
    await call(sessions.prepareBindings.bind(sessions), { session_id: s });
    await call(control.retire.bind(control), { runtime_id: rt(s) });
    const deadline = Date.now() + 5000;
    while (!received.some((m) => m.signal?.session_id === s && m.signal.kind === RoutedSignalKind.RUNTIME_RETIRED) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const mine = received.filter((m) => m.signal?.session_id === s).map((m) => m.signal!);
    expect(mine.map((x) => x.kind)).toEqual([RoutedSignalKind.RUNTIME_BOUND, RoutedSignalKind.RUNTIME_RETIRED]);
    expect(mine[0]).toMatchObject({ runtime_id: rt(s), agent_runtime_id: rt(s), fence_token: 0 });
    const seqs = received.map((m) => m.signal!.sequence);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    stream.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(ended === null || (ended as grpc.ServiceError).code === grpc.status.CANCELLED).toBe(true);

    const last = mine[1]!.sequence;
    expect(await call(composition.acknowledgeSignals.bind(composition), { consumer: 'e2e', sequence: last })).toEqual({ acknowledged_sequence: last });
    expect(await call(composition.acknowledgeSignals.bind(composition), { consumer: 'e2e', sequence: 1 })).toEqual({ acknowledged_sequence: last });

    // A consumer's cursor is the default start: only later signals arrive.
    const resumed: StreamSignalsResponse[] = [];
    const again = composition.streamSignals({ consumer: 'e2e' });
    again.on('data', (m: StreamSignalsResponse) => resumed.push(m));
    again.on('error', () => undefined);
    const s2 = newId();
    await call(sessions.prepareBindings.bind(sessions), { session_id: s2 });
    const d2 = Date.now() + 5000;
    while (!resumed.some((m) => m.signal?.session_id === s2) && Date.now() < d2) await new Promise((r) => setTimeout(r, 20));
    again.cancel();
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed.every((m) => (m.signal?.sequence ?? 0) > last)).toBe(true);

    const bad = await expectError(call(composition.acknowledgeSignals.bind(composition), { consumer: '', sequence: -1 }), INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    expect(bad.fieldViolations.map((v) => v.field).sort()).toEqual(['consumer', 'sequence']);
  });

  it('StreamSignals refuses a negative cursor before streaming', async () => {
    const stream = composition.streamSignals({ after_sequence: -5 });
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on('data', () => undefined);
      stream.on('error', resolve);
    });
    expect(err.code).toBe(INVALID_ARGUMENT);
    expect(decodeErrorDetails(err)?.fieldViolations.map((v) => v.field)).toEqual(['after_sequence']);
  });
});

describe('transport', () => {
  it('a call whose deadline already passed is DEADLINE_EXCEEDED', async () => {
    const e = await call(sessions.containsSession.bind(sessions), { session_id: newId() }, { deadline: Date.now() - 1000 }).then(
      () => null,
      (err: grpc.ServiceError) => err,
    );
    expect(e?.code).toBe(DEADLINE_EXCEEDED);
  });

  it('a request that does not decode is INVALID_ARGUMENT (never INTERNAL)', async () => {
    const client = new grpc.Client(server.address, insecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        client.makeUnaryRequest<Buffer, Buffer>(
          '/meerkat.kernel.v1.SessionService/RegisterSession',
          (b) => b,
          (b) => b,
          Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // field 1, length far beyond the message
          (e) => resolve(e),
        );
      });
      expect(err?.code).toBe(INVALID_ARGUMENT);
      const d = decodeErrorDetails(err);
      expect(d?.errorInfo?.reason).toBe('INVALID_ARGUMENT');
      expect(d?.fieldViolations[0]?.field).toBe('request');
    } finally {
      client.close();
    }
  });

  it('health: SERVING overall and per service; unknown services are NOT_FOUND', async () => {
    expect(await checkHealth(server.address)).toBe('SERVING');
    for (const name of KERNEL_SERVICES) expect(await checkHealth(server.address, name)).toBe('SERVING');
    const e = await checkHealth(server.address, 'no.such.Service').then(
      () => null,
      (err: grpc.ServiceError) => err,
    );
    expect(e?.code).toBe(NOT_FOUND);
  });

  it('reflection lists every service and serves their descriptors', async () => {
    const pkg = loadSync('grpc/reflection/v1/reflection.proto', {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: [join(ROOT, 'node_modules', '@grpc', 'reflection', 'build', 'proto')],
    });
    const method = (pkg['grpc.reflection.v1.ServerReflection'] as Record<string, grpc.MethodDefinition<object, object>>)['ServerReflectionInfo']!;
    interface ReflectionResponse {
      list_services_response?: { service: { name: string }[] };
      file_descriptor_response?: { file_descriptor_proto: Buffer[] };
      message_response?: string;
    }
    const client = new grpc.Client(server.address, insecure());
    try {
      const ask = (request: object): Promise<ReflectionResponse> =>
        new Promise((resolve, reject) => {
          const stream = client.makeBidiStreamRequest<object, ReflectionResponse>(
            method.path,
            method.requestSerialize,
            method.responseDeserialize as (b: Buffer) => ReflectionResponse,
          );
          stream.on('data', (r: ReflectionResponse) => {
            resolve(r);
            stream.end();
          });
          stream.on('error', reject);
          stream.write(request);
        });
      const list = await ask({ list_services: '' });
      const names = (list.list_services_response?.service ?? []).map((x) => x.name);
      for (const name of [...KERNEL_SERVICES, 'grpc.health.v1.Health']) expect(names).toContain(name);
      // The descriptors form a valid schema (fully qualified names, dependencies included).
      for (const [symbol, rpcs] of [
        ['meerkat.kernel.v1.SessionService', 19],
        ['grpc.health.v1.Health', 3],
      ] as const) {
        const file = await ask({ file_containing_symbol: symbol });
        const files = (file.file_descriptor_response?.file_descriptor_proto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b));
        // Fetch dependencies the answer did not include, by file name (as reflection clients do).
        for (let missing = missingDeps(files); missing.length > 0; missing = missingDeps(files)) {
          for (const name of missing) {
            const dep = await ask({ file_by_filename: name });
            for (const b of dep.file_descriptor_response?.file_descriptor_proto ?? []) files.push(fromBinary(FileDescriptorProtoSchema, b));
          }
        }
        const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }));
        expect(registry.getService(symbol)?.methods.length).toBe(rpcs);
      }
    } finally {
      client.close();
    }
  });

  it('logs (pino JSON) where it listens and which store it uses', () => {
    expect(server.logs.some((l) => l.includes('"msg":"meerkat kernel listening on'))).toBe(true);
    expect(server.logs.some((l) => l.includes('"store":"pglite"'))).toBe(true);
  });
});
