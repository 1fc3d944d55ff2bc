/**
 * The sidecar's store and runtime against real databases (embedded PGlite, and PostgreSQL when it
 * answers at TEST_DATABASE_URL), with a recording kernel double:
 *
 * - store: the migrations run once with their own ledger; the cursor only moves forward — a
 *   signal applied once is refused the second time and that transaction changes nothing; a stale
 *   state version is refused; a duplicate mob is ALREADY_EXISTS.
 * - runtime: a refused binding is folded into ResolveRuntimeBindingRefusal (member Broken,
 *   WaitReady fails); RuntimeBound → ObserveRuntimeReady; stale fences and foreign sessions are
 *   dropped and counted; the queued kernel requests survive a restart of the runtime and are sent
 *   after it; folding continues the signal's trace with `meerkat.sidecar.fold`, and requests
 *   queued under a span carry its context when sent; a member's RuntimeBound queues the claim of
 *   its peer ingress (SetPeerIngressContext keep_alive), and a peer message takes the
 *   `deliver_peer_message` route.
 */
import { context, trace } from '@opentelemetry/api';
import { sql } from 'kysely';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialMobState } from '../../sidecar/machine/index.js';
import { validateDefinition, type DefinitionInput } from '../../sidecar/definition.js';
import { MobError } from '../../sidecar/errors.js';
import { activeTraceparent, FOLD_SPAN } from '../../sidecar/runtime/fold-tracing.js';
import { MobRuntime } from '../../sidecar/runtime/mob-runtime.js';
import { MobVersionConflict, SignalAlreadyApplied, type MobStore } from '../../sidecar/store/mob-store.js';
import { SIDECAR_TABLES } from '../../sidecar/store/schema.js';
import { backends, eventually, quietLogger, RecordingKernel, signal } from './support.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

const DEF: DefinitionInput = {
  id: 'unit',
  profiles: { worker: { model: 'm', executor: 'echo', external_addressable: true, runtime_mode: null, peer_description: '', skills: [] } },
  wiring: { auto_wire_orchestrator: false, role_wiring: [] },
};

const CONSUMER = 'test-consumer';

for (const backend of backends()) {
  describe(`sidecar store and runtime on ${backend.name}`, () => {
    const opened: MobStore[] = [];
    const open = async (): Promise<MobStore> => {
      const s = await backend.open();
      opened.push(s);
      return s;
    };
    afterAll(async () => {
      for (const s of opened) await s.close();
      await backend.cleanup();
    });

    it('store: own migration ledger; the cursor only moves forward; version conflicts and duplicates are refused', async () => {
      const store = await open();
      expect(store.migrations).toEqual(['0001_mobs']);
      const tables = await sql<{ table_name: string }>`
        SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'mob\_%' AND table_name NOT LIKE 'mob\_migrations%'`.execute(store.db);
      expect(tables.rows.map((r) => r.table_name).sort()).toEqual([...SIDECAR_TABLES].sort());
      const def = validateDefinition(DEF);
      const created = await store.createMob(def, initialMobState('unit'));
      expect(created.type).toBe('mob_created');
      await expect(store.createMob(def, initialMobState('unit'))).rejects.toMatchObject({ code: 'MOB_ALREADY_EXISTS' });
      expect(await store.signalCursor(CONSUMER)).toEqual({ sequence: 0, applied: 0, dropped: 0 });
      const change = {
        mob_id: 'unit',
        expected_version: 1,
        state: initialMobState('unit'),
        events: [{ type: 'signal_folded', payload: { sequence: 5, outcome: 'applied' } }],
        members: [],
        wiring: [],
        sessions: [],
        enqueue: [],
        dequeue: [],
        signal: { consumer: CONSUMER, first: 5, last: 5, applied: 1, dropped: 0 },
      };
      expect((await store.commit(change)).version).toBe(2);
      await expect(store.commit({ ...change, expected_version: 2 })).rejects.toBeInstanceOf(SignalAlreadyApplied);
      await expect(store.commit({ ...change, signal: { ...change.signal, first: 6, last: 6 } })).rejects.toBeInstanceOf(MobVersionConflict);
      // Neither refused transaction left anything behind.
      expect(await store.signalCursor(CONSUMER)).toEqual({ sequence: 5, applied: 1, dropped: 0 });
      expect((await store.readEvents('unit', 0, 10)).map((e) => e.type)).toEqual(['mob_created', 'signal_folded']);
      await store.skipSignals(CONSUMER, 6, 8, 3);
      expect(await store.signalCursor(CONSUMER)).toEqual({ sequence: 8, applied: 1, dropped: 3 });
      await expect(store.skipSignals(CONSUMER, 8, 9, 2)).rejects.toBeInstanceOf(SignalAlreadyApplied); // overlaps what the cursor passed
    });

    it('runtime: binding refusal → Broken; RuntimeBound → ready; stale fence and foreign session dropped and counted', async () => {
      const store = await open();
      const kernel = new RecordingKernel();
      kernel.refuse.set('request_runtime_binding', { code: 'GUARD_REJECTED', message: 'conflicting binding' });
      const rt = await MobRuntime.load({ store, kernel, log: quietLogger, consumer: CONSUMER });
      const mob = await rt.create(DEF);
      const { member } = await mob.spawn('alice', 'worker', {});
      const session = member.session_id as string;
      await eventually(() => mob.member('alice').status === 'Broken');
      expect(mob.member('alice').error).toBe('conflicting binding');
      const ac = new AbortController();
      await expect(mob.waitReady(['alice'], () => undefined, ac.signal)).rejects.toMatchObject({ code: 'KERNEL_REFUSED' });
      const types = (await store.readEvents('unit', 0, 100)).map((e) => e.type);
      expect(types).toEqual(['mob_created', 'member_spawned', 'kernel_request_refused', 'runtime_refusal_classified']);

      kernel.refuse.clear();
      const bob = (await mob.spawn('bob', 'worker', {})).member;
      await eventually(() => kernel.sent.filter((s) => s.route === 'request_runtime_binding').length === 2);
      const before = await store.signalCursor(CONSUMER);
      expect(await rt.fold(signal('RuntimeBound', bob.session_id as string, 'bob:0', 99))).toBe('dropped'); // stale fence
      expect(mob.member('bob').ready).toBe(false);
      const bound = signal('RuntimeBound', bob.session_id as string, 'bob:0', bob.fence_token as number);
      expect(await rt.fold(bound)).toBe('applied');
      expect(mob.member('bob').ready).toBe(true);
      await expect(rt.fold(bound)).rejects.toBeInstanceOf(SignalAlreadyApplied); // exactly once
      expect(await rt.fold(signal('RuntimeBound', '0190c5a0-0000-7000-8000-00000000beef', 'x:0', 1))).toBe('foreign');
      expect(await rt.fold(signal('RuntimeRetired', session, 'alice:0', 1))).toBe('applied');
      const after = await store.signalCursor(CONSUMER);
      expect(after.applied - before.applied).toBe(2);
      expect(after.dropped - before.dropped).toBe(2);
      expect(await store.foldCounts('unit')).toEqual({ applied: 2, dropped: 1 });
      await rt.close();
    });

    it('runtime: a batch of signals folds in order, one transaction per run of the same owner', async () => {
      const store = await open();
      const kernel = new RecordingKernel();
      const rt = await MobRuntime.load({ store, kernel, log: quietLogger, consumer: CONSUMER });
      const mob = await rt.create(DEF);
      const x = (await mob.spawn('x', 'worker', {})).member;
      const y = (await mob.spawn('y', 'worker', {})).member;
      const sx = signal('RuntimeBound', x.session_id as string, 'x:0', x.fence_token as number);
      const stale = signal('RuntimeBound', y.session_id as string, 'y:0', 99);
      const foreign = signal('RuntimeBound', '0190c5a0-0000-7000-8000-00000000f00d', 'f:0', 1);
      const sy = signal('RuntimeBound', y.session_id as string, 'y:0', y.fence_token as number);
      const runs: number[][] = [];
      const results = await rt.foldMany([sx, stale, foreign, sy], (run) => runs.push(run.map((s) => s.sequence)));
      expect(results).toEqual(['applied', 'dropped', 'foreign', 'applied']);
      expect(runs).toEqual([[sx.sequence, stale.sequence], [foreign.sequence], [sy.sequence]]);
      expect(await store.signalCursor(CONSUMER)).toEqual({ sequence: sy.sequence, applied: 2, dropped: 2 });
      const folded = (await store.readEvents('unit', 0, 100)).filter((e) => e.type === 'signal_folded').map((e) => (JSON.parse(e.payload) as { sequence: number }).sequence);
      expect(folded).toEqual([sx.sequence, stale.sequence, sy.sequence]);
      await expect(rt.foldMany([sy])).rejects.toBeInstanceOf(SignalAlreadyApplied);
      expect(mob.member('x').ready && mob.member('y').ready).toBe(true);
      await rt.close();
    });

    it('runtime: a request queued while the kernel is down survives a restart of the runtime and is sent after it', async () => {
      const store = await open();
      const kernel = new RecordingKernel();
      kernel.unavailable = true;
      const rt = await MobRuntime.load({ store, kernel, log: quietLogger, consumer: CONSUMER });
      const mob = await rt.create(DEF);
      const carol = (await mob.spawn('carol', 'worker', {})).member;
      await eventually(() => kernel.attempts > 0); // the flush tried and keeps the head
      expect((await store.pendingRequests('unit')).map((q) => q.request.kind === 'route' && q.request.effect.type)).toEqual(['RequestRuntimeBinding']);
      await rt.close();
      expect(kernel.sent).toEqual([]);
      kernel.unavailable = false;
      const reloaded = await MobRuntime.load({ store, kernel, log: quietLogger, consumer: CONSUMER });
      await eventually(() => kernel.sent.some((s) => s.route === 'request_runtime_binding' && s.session_id === carol.session_id));
      await eventually(async () => (await store.pendingRequests('unit')).length === 0);
      expect(kernel.sent.filter((s) => s.route === 'request_runtime_binding')).toHaveLength(1);
      expect(reloaded.get('unit').member('carol').startup).toBe('BindingRequested');
      await reloaded.close();
    });

    it('tracing: a fold continues the signal’s trace; a request queued under a span is sent in its context', async () => {
      exporter.reset();
      const store = await open();
      const kernel = new RecordingKernel();
      const rt = await MobRuntime.load({ store, kernel, log: quietLogger, consumer: CONSUMER });
      const mob = await rt.create(DEF);
      const dan = (await mob.spawn('dan', 'worker', {})).member;
      const tracer = trace.getTracer('test');
      const parent = tracer.startSpan('kernel-command');
      const traceparent = `00-${parent.spanContext().traceId}-${parent.spanContext().spanId}-01`;
      parent.end();
      await rt.fold(signal('RuntimeBound', dan.session_id as string, 'dan:0', dan.fence_token as number, traceparent));
      const fold = exporter.getFinishedSpans().find((s) => s.name === FOLD_SPAN);
      expect(fold?.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(fold?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(fold?.attributes['meerkat.signal.kind']).toBe('RuntimeBound');

      let caller: string | null = null;
      await tracer.startActiveSpan('caller', async (span) => {
        caller = activeTraceparent();
        await mob.submitWork('dan', { type: 'prompt', text: 'traced' }, 'External', 'w-traced', false);
        span.end();
      });
      const sent = kernel.sent.find((s) => s.route === 'request_runtime_ingress');
      expect(caller).not.toBeNull();
      expect(sent?.traceparent).toBe(caller);
      await rt.close();
    });

    it('peer messages: a ready member’s ingress is claimed for the mob; a peer message takes the deliver_peer_message route', async () => {
      const store = await open();
      const kernel = new RecordingKernel();
      const rt = await MobRuntime.load({ store, kernel, log: quietLogger, consumer: CONSUMER });
      const mob = await rt.create(DEF);
      const x = (await mob.spawn('x', 'worker', {})).member;
      const y = (await mob.spawn('y', 'worker', {})).member;
      expect(kernel.attached).toEqual([]);
      await rt.fold(signal('RuntimeBound', x.session_id as string, 'x:0', x.fence_token as number));
      await rt.fold(signal('RuntimeBound', y.session_id as string, 'y:0', y.fence_token as number));
      await eventually(() => kernel.attached.length === 2);
      expect(kernel.attached).toEqual([x.session_id, y.session_id]);
      await mob.wire('x', 'y');
      const sent = await mob.sendPeerMessage('x', 'y', 'hello y');
      const delivered = kernel.sent.filter((s) => s.route === 'deliver_peer_message');
      expect(delivered.map((s) => s.session_id)).toEqual([y.session_id]);
      const route = delivered[0]?.request.route;
      if (route?.$case !== 'deliver_peer_message') throw new Error('not a peer message');
      expect(route.deliver_peer_message).toMatchObject({ sender: 'x', sender_runtime_id: 'x:0', agent_runtime_id: 'y:0', fence_token: y.fence_token, generation: 0 });
      expect(route.deliver_peer_message.input?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(route.deliver_peer_message.input?.body?.input_type).toMatchObject({ $case: 'peer', peer: { body: 'hello y' } });
      expect(sent.session_id).toBe(y.session_id);
      expect(kernel.sent.some((s) => s.route === 'request_runtime_ingress')).toBe(false);
      // Reconnecting to the kernel re-asserts every ready member's ingress (idempotent in the kernel).
      await rt.reattach();
      expect(kernel.attached).toEqual([x.session_id, y.session_id, x.session_id, y.session_id]);
      await rt.close();
    });

    it('definitions: invalid ones are refused naming every problem', () => {
      expect(() => validateDefinition({ ...DEF, id: '', profiles: {} })).toThrow(MobError);
      try {
        validateDefinition({ ...DEF, orchestrator: { profile: 'ghost' }, wiring: { auto_wire_orchestrator: true, role_wiring: [{ a: 'worker', b: 'nobody' }] } });
      } catch (e) {
        expect((e as MobError).violations.map((v) => v.field).sort()).toEqual(['definition.orchestrator.profile', 'definition.wiring.role_wiring[0].b']);
      }
    });
  });
}
