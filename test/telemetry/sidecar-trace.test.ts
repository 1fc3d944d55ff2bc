/**
 * One trace across the client, the mob sidecar and the kernel (issue 6): the REAL kernel process
 * and the REAL sidecar process export their spans over OTLP/HTTP to the receiver of
 * `otlp-support.ts`; the test is a MobService client calling with an explicit W3C `traceparent`
 * (trace {@link TRACE_ID}, parent span {@link CLIENT_SPAN}).
 *
 * - Binding: CreateMob, SpawnMember (RegisterSession + EnsureSessionWithExecutor +
 *   DeliverRoutedInput(RequestRuntimeBinding) → kernel command `meerkat.DeliverRoutedInput` →
 *   RuntimeBound signal → `meerkat.sidecar.fold`, a CHILD of that command span), WaitReady.
 * - Work: SubmitWork(wait) → DeliverRoutedInput(RequestRuntimeIngress) → admission
 *   (`meerkat.Ingest`), `meerkat.queue_wait`; `meerkat.run` is a root span of its own trace LINKED
 *   to the admission's gRPC server span, with `meerkat.executor.apply` and `meerkat.boundary_commit`
 *   (→ `meerkat.RuntimeLoop`) beneath it; the sidecar's WatchInput gets the outcome through a
 *   completion waiter, so `meerkat.completion.delivered` is a child of the kernel's WatchInput span,
 *   linked to the boundary commit.
 *
 * The member's executor is a remote executor played by this test (ExecutorService.Attach): it holds
 * the run until the kernel reports the WatchInput's completion waiter (`meerkat.waiters.active`), so
 * the waiter exists before the outcome is committed — causally, without timing assumptions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutorServiceClient, type AttachRequest, type AttachResponse } from '../../src/gen/meerkat/kernel/v1/executor.js';
import type { RunAssignment } from '../../src/gen/meerkat/kernel/v1/types.js';
import { MobServiceClient, type SpawnMemberRequest, type SpawnMemberResponse, type SubmitWorkRequest, type SubmitWorkResponse } from '../../src/gen/meerkat/mob/v1/mob.js';
import { METRIC } from '../../src/telemetry/kernel-metrics.js';
import { freePort } from '../e2e/harness.js';
import { eventually } from '../e2e/streams-support.js';
import { collect, ServerProcess, teamDefinition } from '../sidecar-e2e/harness.js';
import { otlpEnv, OtlpReceiver, SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, type Span } from './otlp-support.js';

const TRACE_ID = '5ca1ab1e0000400080000000000d00d1';
const CLIENT_SPAN = '00f067aa0ba902b7';
const EXECUTOR = 'traced-remote';
const MOB = 'traced';
const KERNEL = 'meerkat-kernel-trace-test';
const SIDECAR = 'meerkat-sidecar';

const receiver = new OtlpReceiver();
let dir = '';
let kernel: ServerProcess | null = null;
let sidecar: ServerProcess | null = null;
let mobs: MobServiceClient;
let executorClient: ExecutorServiceClient;
let executor: grpc.ClientDuplexStream<AttachRequest, AttachResponse>;
const assignments: RunAssignment[] = [];

/** Call metadata naming the client's span as the parent (W3C trace context, sampled). */
function traced(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('traceparent', `00-${TRACE_ID}-${CLIENT_SPAN}-01`);
  return md;
}

function unary<Req, Res>(
  method: (req: Req, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: Res) => void) => grpc.ClientUnaryCall,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => method.call(mobs, req, traced(), (e, r) => (e ? reject(e) : resolve(r))));
}

beforeAll(async () => {
  await receiver.start();
  dir = mkdtempSync(join(tmpdir(), 'meerkat-sidecar-trace-'));
  const [kernelPort, sidecarPort] = [await freePort(), await freePort()];
  kernel = new ServerProcess({
    script: 'src/server/main.ts',
    port: kernelPort,
    env: { ...otlpEnv(receiver.port, KERNEL), MEERKAT_LISTEN: `127.0.0.1:${kernelPort}`, MEERKAT_DATA_DIR: join(dir, 'kernel'), MEERKAT_LOG_LEVEL: 'warn' },
  });
  // The sidecar's own default service name (main.ts) when OTEL_SERVICE_NAME is unset.
  const { OTEL_SERVICE_NAME: _unset, ...sidecarOtel } = otlpEnv(receiver.port, SIDECAR);
  sidecar = new ServerProcess({
    script: 'sidecar/main.ts',
    port: sidecarPort,
    env: {
      ...sidecarOtel,
      OTEL_METRICS_EXPORTER: 'none',
      MEERKAT_KERNEL_ADDR: kernel.address,
      MEERKAT_SIDECAR_HOST: '127.0.0.1',
      MEERKAT_SIDECAR_PORT: String(sidecarPort),
      MEERKAT_SIDECAR_DATA_DIR: join(dir, 'sidecar'),
      MEERKAT_LOG_LEVEL: 'warn',
    },
  });
  // Generous start bounds: tsx + embedded PGlite start slowly on a loaded machine.
  await Promise.all([kernel.start(80_000), sidecar.start(80_000)]);
  mobs = new MobServiceClient(sidecar.address, grpc.credentials.createInsecure());

  // The member's remote executor: records its assignments; the test answers them.
  executorClient = new ExecutorServiceClient(kernel.address, grpc.credentials.createInsecure());
  executor = executorClient.attach();
  executor.on('error', () => undefined);
  const attached = new Promise<void>((resolve) =>
    executor.on('data', (m: AttachResponse) => {
      if (m.message?.$case === 'hello_ack') resolve();
      if (m.message?.$case === 'run_assignment') assignments.push(m.message.run_assignment);
    }),
  );
  executor.write({ message: { $case: 'hello', hello: { executor_name: EXECUTOR, session_ids: [], capabilities: { can_reconfigure_llm: false } } } });
  await attached;
}, 90_000);

afterAll(async () => {
  executor?.end();
  executorClient?.close();
  mobs?.close();
  await Promise.all([sidecar?.stop(), kernel?.stop()]);
  await receiver.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Completes a held run with its inputs' text upper-cased. */
function complete(a: RunAssignment): void {
  const text = a.inputs.map((i) => i.text.toUpperCase()).join('\n');
  executor.write({
    message: {
      $case: 'boundary_report',
      boundary_report: { run_id: a.run_id, boundary: a.boundary, contributing_input_ids: a.inputs.map((i) => i.input_id), message_count: 2 },
    },
  });
  executor.write({
    message: { $case: 'terminal_report', terminal_report: { run_id: a.run_id, status: { $case: 'completed', completed: { result: { text }, message_count: 2 } } } },
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the received spans

const spansOf = (traceId: string): Span[] => receiver.spans.filter((s) => s.traceId === traceId);
const childrenOf = (parent: Span): Span[] => receiver.spans.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId);

function only(spans: readonly Span[], what: string): Span {
  if (spans.length !== 1) throw new Error(`expected exactly one ${what}, got ${spans.length}`);
  return spans[0] as Span;
}
const child = (parent: Span, name: string, service: string): Span =>
  only(
    childrenOf(parent).filter((s) => s.name === name && s.service === service),
    `${name} (${service}) under ${parent.name}`,
  );

/** The span tree under `parentSpanId` in `traceId`: one line per span, children sorted by name. */
function tree(traceId: string, parentSpanId: string, depth = 0): string[] {
  return spansOf(traceId)
    .filter((s) => s.parentSpanId === parentSpanId)
    .sort((a, b) => (a.name === b.name ? a.service.localeCompare(b.service) : a.name < b.name ? -1 : 1))
    .flatMap((s) => [`${'  '.repeat(depth)}${s.name} (${s.service === KERNEL ? 'kernel' : s.service === SIDECAR ? 'sidecar' : s.service})`, ...tree(traceId, s.spanId, depth + 1)]);
}

const MOB_SVC = 'grpc.meerkat.mob.v1.MobService';
const COMPOSITION = 'grpc.meerkat.kernel.v1.CompositionService';
const SESSIONS = 'grpc.meerkat.kernel.v1.SessionService';
const INGRESS = 'grpc.meerkat.kernel.v1.IngressService';

/** The client's trace, exactly (children of each span sorted by name). */
const CLIENT_TRACE = [
  `${MOB_SVC}/CreateMob (sidecar)`,
  `${MOB_SVC}/SpawnMember (sidecar)`,
  `  ${COMPOSITION}/DeliverRoutedInput (sidecar)`,
  `    ${COMPOSITION}/DeliverRoutedInput (kernel)`,
  `      meerkat.DeliverRoutedInput (kernel)`,
  `        meerkat.sidecar.fold (sidecar)`,
  // The fold queues the member's ingress claim (decision 9), sent in the fold's context.
  `          grpc.meerkat.kernel.v1.DrainService/SetPeerIngressContext (sidecar)`,
  `            grpc.meerkat.kernel.v1.DrainService/SetPeerIngressContext (kernel)`,
  `              meerkat.SetPeerIngressContext (kernel)`,
  `  ${SESSIONS}/EnsureSessionWithExecutor (sidecar)`,
  `    ${SESSIONS}/EnsureSessionWithExecutor (kernel)`,
  `      meerkat.EnsureSessionWithExecutor (kernel)`,
  `  ${SESSIONS}/RegisterSession (sidecar)`,
  `    ${SESSIONS}/RegisterSession (kernel)`,
  `      meerkat.RegisterSession (kernel)`,
  `${MOB_SVC}/SubmitWork (sidecar)`,
  `  ${COMPOSITION}/DeliverRoutedInput (sidecar)`,
  `    ${COMPOSITION}/DeliverRoutedInput (kernel)`,
  `      meerkat.DeliverRoutedInput (kernel)`,
  `      meerkat.Ingest (kernel)`,
  `      meerkat.queue_wait (kernel)`,
  `  ${INGRESS}/WatchInput (sidecar)`,
  `    ${INGRESS}/WatchInput (kernel)`,
  `      meerkat.completion.delivered (kernel)`,
  `${MOB_SVC}/WaitReady (sidecar)`,
];

/** The run's own trace (a root span linked to the admission). */
const RUN_TRACE = ['meerkat.run (kernel)', '  meerkat.boundary_commit (kernel)', '    meerkat.RuntimeLoop (kernel)', '  meerkat.executor.apply (kernel)'];

// ---------------------------------------------------------------------------------------------

describe('one trace across the client, the sidecar and the kernel', () => {
  let sessionId = '';
  let inputId = '';
  let work: SubmitWorkResponse;

  it('drives a mob with the client trace context: bind, ready, work and its outcome', async () => {
    await unary(mobs.createMob, {
      definition: teamDefinition(MOB, {
        profiles: {
          worker: { model: 'model-1', executor: EXECUTOR, external_addressable: true, runtime_mode: 0, peer_description: 'worker', skills: [], tools: undefined },
        },
      }),
    });
    const spawned = await unary<SpawnMemberRequest, SpawnMemberResponse>(mobs.spawnMember, { mob_id: MOB, agent_identity: 'alice', profile: 'worker', labels: {} });
    sessionId = spawned.member?.session_id ?? '';
    expect(spawned.member?.agent_runtime_id).toBe('alice:0');
    const updates = await collect(mobs.waitReady({ mob_id: MOB, agent_identities: ['alice'] }, traced()));
    expect(updates.at(-1)?.all_ready).toBe(true);

    const submitted = unary<SubmitWorkRequest, SubmitWorkResponse>(mobs.submitWork, { mob_id: MOB, agent_identity: 'alice', content: 'hello traced mob', origin: 0, work_id: 'traced-work-1', wait: true });
    // The run is assigned to this test's executor and held until the sidecar's WatchInput has its
    // completion waiter in the kernel (the kernel's waiters gauge, exported every 300 ms).
    await eventually(async () => assignments.length === 1, 20_000, 'the run assignment');
    const waiters = (): number => Number(receiver.metrics.get(METRIC.waitersActive)?.metric.gauge?.dataPoints?.[0]?.asInt ?? 0);
    await eventually(async () => waiters() === 1, 20_000, "the WatchInput's completion waiter");
    const assignment = assignments[0] as RunAssignment;
    expect(assignment.session_id).toBe(sessionId);
    expect(assignment.inputs.map((i) => i.text)).toEqual(['hello traced mob']);
    complete(assignment);
    work = await submitted;
    inputId = work.input_id;
    expect(work).toMatchObject({ work_id: 'traced-work-1', session_id: sessionId, deduplicated: false });
    expect(work.outcome?.kind).toEqual({ $case: 'completed', completed: { result: { text: 'HELLO TRACED MOB' } } });
    expect(assignment.inputs.map((i) => i.input_id)).toEqual([inputId]);

    // Both processes export on their own schedule: wait for both trees to be complete.
    const run = (): Span | undefined => receiver.span((s) => s.name === 'meerkat.run' && s.attributes['meerkat.session_id'] === sessionId);
    await eventually(
      async () => {
        const r = run();
        return tree(TRACE_ID, CLIENT_SPAN).length >= CLIENT_TRACE.length && r !== undefined && tree(r.traceId, '').length >= RUN_TRACE.length;
      },
      20_000,
      'the spans of both processes',
    );
  }, 40_000);

  it('puts every call of the flow in the client trace, as one tree under the client span', () => {
    expect(tree(TRACE_ID, CLIENT_SPAN)).toEqual(CLIENT_TRACE);
    // No span of the client's trace hangs anywhere else (the tree above is all of it).
    expect(spansOf(TRACE_ID)).toHaveLength(CLIENT_TRACE.length);
    // Every span about this member's session is in the client's trace, except the run's own trace.
    const run = only(receiver.spans.filter((s) => s.name === 'meerkat.run' && s.attributes['meerkat.session_id'] === sessionId), 'meerkat.run');
    const elsewhere = receiver.spans.filter((s) => s.attributes['meerkat.session_id'] === sessionId && s.traceId !== TRACE_ID);
    expect(elsewhere.every((s) => s.traceId === run.traceId)).toBe(true);
    expect(run.traceId).not.toBe(TRACE_ID);

    for (const s of receiver.spans.filter((x) => x.parentSpanId === CLIENT_SPAN)) {
      expect(s).toMatchObject({ traceId: TRACE_ID, service: SIDECAR, kind: SPAN_KIND_SERVER, attributes: { 'rpc.grpc.status_code': 0 } });
    }
  });

  it('binding: sidecar client → kernel server → kernel command → RuntimeBound fold (a child of the command)', () => {
    const spawn = only(
      receiver.spans.filter((s) => s.name === `${MOB_SVC}/SpawnMember`),
      'SpawnMember server span',
    );
    expect(spawn).toMatchObject({ traceId: TRACE_ID, parentSpanId: CLIENT_SPAN, service: SIDECAR, kind: SPAN_KIND_SERVER });

    const deliver = child(spawn, `${COMPOSITION}/DeliverRoutedInput`, SIDECAR);
    expect(deliver).toMatchObject({ kind: SPAN_KIND_CLIENT, attributes: { 'rpc.method': 'DeliverRoutedInput', 'rpc.grpc.status_code': 0 } });
    const served = child(deliver, `${COMPOSITION}/DeliverRoutedInput`, KERNEL);
    expect(served.kind).toBe(SPAN_KIND_SERVER);
    const command = child(served, 'meerkat.DeliverRoutedInput', KERNEL);
    expect(command).toMatchObject({
      scope: 'meerkat-kernel',
      kind: SPAN_KIND_INTERNAL,
      attributes: {
        'meerkat.command': 'DeliverRoutedInput',
        'meerkat.session_id': sessionId,
        'meerkat.runtime_id': `rt:session:${sessionId}`,
        'meerkat.phase.before': 'Attached',
        'meerkat.phase.after': 'Attached',
        'meerkat.transitions': 1,
      },
    });
    expect(command.events.map((e) => e.name)).toEqual(['meerkat.transition']);
    expect(command.events[0]?.attributes['meerkat.input']).toBe('PrepareBindings');

    // The signal the command committed carries its context: the fold is its child (not a link).
    const fold = child(command, 'meerkat.sidecar.fold', SIDECAR);
    expect(fold).toMatchObject({
      scope: 'meerkat-sidecar',
      kind: SPAN_KIND_INTERNAL,
      links: [],
      attributes: { 'meerkat.mob_id': MOB, 'meerkat.signal.kind': 'RuntimeBound', 'meerkat.agent_runtime_id': 'alice:0', 'meerkat.signal.sequence': 1 },
    });
    // Its only child is the member's ingress claim the fold queued, reaching its kernel command.
    const claim = only(childrenOf(fold), 'the fold\'s child');
    expect(claim.name).toBe('grpc.meerkat.kernel.v1.DrainService/SetPeerIngressContext');
    const claimed = child(child(fold, claim.name, SIDECAR), claim.name, KERNEL);
    expect(child(claimed, 'meerkat.SetPeerIngressContext', KERNEL).attributes).toMatchObject({ 'meerkat.session_id': sessionId });

    // The session set-up calls are children of SpawnMember too, each reaching its kernel command.
    for (const method of ['RegisterSession', 'EnsureSessionWithExecutor']) {
      const cmd = child(child(child(spawn, `${SESSIONS}/${method}`, SIDECAR), `${SESSIONS}/${method}`, KERNEL), `meerkat.${method}`, KERNEL);
      expect(cmd.attributes).toMatchObject({ 'meerkat.command': method, 'meerkat.session_id': sessionId });
    }
  });

  it('work: admission, queue wait and completion delivered in the client trace; the run linked to the admission', () => {
    const submit = only(
      receiver.spans.filter((s) => s.name === `${MOB_SVC}/SubmitWork`),
      'SubmitWork server span',
    );
    expect(submit).toMatchObject({ traceId: TRACE_ID, parentSpanId: CLIENT_SPAN, service: SIDECAR, kind: SPAN_KIND_SERVER });

    // Admission: sidecar DeliverRoutedInput(RequestRuntimeIngress) → kernel server span → commands.
    const served = child(child(submit, `${COMPOSITION}/DeliverRoutedInput`, SIDECAR), `${COMPOSITION}/DeliverRoutedInput`, KERNEL);
    const routed = child(served, 'meerkat.DeliverRoutedInput', KERNEL);
    expect(routed.attributes).toMatchObject({ 'meerkat.command': 'DeliverRoutedInput', 'meerkat.session_id': sessionId });
    const admission = child(served, 'meerkat.Ingest', KERNEL);
    expect(admission.attributes).toMatchObject({
      'meerkat.command': 'Ingest',
      'meerkat.session_id': sessionId,
      'meerkat.runtime_id': `rt:session:${sessionId}`,
      'meerkat.phase.before': 'Attached',
    });
    expect(admission.events.some((e) => e.name === 'meerkat.transition' && e.attributes['meerkat.input_id'] === inputId)).toBe(true);

    // The run: a root span of its own trace, linked to the admission's context (the kernel's server span).
    const run = only(
      receiver.spans.filter((s) => s.name === 'meerkat.run' && s.attributes['meerkat.session_id'] === sessionId),
      'meerkat.run',
    );
    expect(run).toMatchObject({ parentSpanId: '', links: [{ traceId: TRACE_ID, spanId: served.spanId }] });
    expect(run.attributes).toMatchObject({ 'meerkat.runtime_id': `rt:session:${sessionId}`, 'meerkat.inputs': 1, 'meerkat.report.status': 'completed' });
    expect(tree(run.traceId, '')).toEqual(RUN_TRACE);
    expect(child(run, 'meerkat.executor.apply', KERNEL).attributes['meerkat.report.status']).toBe('completed');
    const boundary = child(run, 'meerkat.boundary_commit', KERNEL);
    expect(child(boundary, 'meerkat.RuntimeLoop', KERNEL).attributes).toMatchObject({ 'meerkat.command': 'RuntimeLoop', 'meerkat.session_id': sessionId });

    // Queue wait: under the admission context, linked to the run.
    const wait = child(served, 'meerkat.queue_wait', KERNEL);
    expect(wait).toMatchObject({
      links: [{ traceId: run.traceId, spanId: run.spanId }],
      attributes: { 'meerkat.input_id': inputId, 'meerkat.run_id': run.attributes['meerkat.run_id'], 'meerkat.attempt': 1 },
    });

    // Completion delivered: the sidecar's WatchInput registered the waiter; linked to the boundary commit.
    const watch = child(child(submit, `${INGRESS}/WatchInput`, SIDECAR), `${INGRESS}/WatchInput`, KERNEL);
    const delivered = child(watch, 'meerkat.completion.delivered', KERNEL);
    expect(delivered).toMatchObject({
      links: [{ traceId: run.traceId, spanId: boundary.spanId }],
      attributes: { 'meerkat.input_id': inputId, 'meerkat.completion.outcome': 'completed' },
    });
  });
});
