/**
 * MobService adapter (`proto/meerkat/mob/v1/mob.proto`): a thin proto ⇄ runtime mapping over
 * {@link MobRuntime} and its {@link MobActor}s. Validation and refusals live in the runtime;
 * errors are mapped by `errors.ts`.
 */
import type {
  FollowEventsRequest,
  FollowEventsResponse,
  MobServiceServer,
  WaitReadyRequest,
  WaitReadyResponse,
} from '../../src/gen/meerkat/mob/v1/mob.js';
import { MobError } from '../errors.js';
import type { MemberView } from '../machine/index.js';
import type { MobActor } from '../runtime/mob-actor.js';
import type { MobRuntime } from '../runtime/mob-runtime.js';
import type { SignalConsumer } from '../runtime/signal-consumer.js';
import type { MobEventRecord } from '../store/mob-store.js';
import { serverStreaming, unary, type HandlerContext } from './handlers.js';
import { actionFromProto, definitionFromProto, eventToProto, memberToProto, originFromProto, phaseToProto } from './mapping.js';

const S = 'MobService';
const MAX_PAGE = 1000;

export interface MobServiceContext extends HandlerContext {
  readonly runtime: MobRuntime;
  readonly consumer: SignalConsumer;
}

function member(actor: MobActor, v: MemberView) {
  return memberToProto(v, actor.labelsOf(v.agent_identity));
}

function checkCursor(n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw MobError.invalid([{ field, description: 'must be a non-negative integer' }]);
}

export function createMobService(ctx: MobServiceContext): MobServiceServer {
  const { runtime } = ctx;
  return {
    createMob: unary(ctx, `${S}.CreateMob`, async (req) => {
      const actor = await runtime.create(definitionFromProto(req.definition));
      return { mob_id: actor.id, phase: phaseToProto(actor.state.phase) };
    }),

    spawnMember: unary(ctx, `${S}.SpawnMember`, async (req) => {
      const actor = runtime.get(req.mob_id);
      const { member: v } = await actor.spawn(req.agent_identity, req.profile, req.labels);
      return { member: member(actor, v) };
    }),

    ensureMember: unary(ctx, `${S}.EnsureMember`, async (req) => {
      const actor = runtime.get(req.mob_id);
      const r = await actor.spawn(req.agent_identity, req.profile, req.labels, true);
      return { member: member(actor, r.member), spawned: r.spawned };
    }),

    waitReady: serverStreaming<WaitReadyRequest, WaitReadyResponse>(ctx, `${S}.WaitReady`, async (req, write, signal) => {
      const actor = runtime.get(req.mob_id);
      await actor.waitReady(req.agent_identities, (views, all) => write({ members: views.map((v) => member(actor, v)), all_ready: all }), signal);
    }),

    wireMembers: unary(ctx, `${S}.WireMembers`, async (req) => {
      const r = await runtime.get(req.mob_id).wire(req.a, req.b);
      return { changed: r.changed, topology_epoch: r.epoch };
    }),

    unwireMembers: unary(ctx, `${S}.UnwireMembers`, async (req) => {
      const r = await runtime.get(req.mob_id).unwire(req.a, req.b);
      return { changed: r.changed, topology_epoch: r.epoch };
    }),

    submitWork: unary(ctx, `${S}.SubmitWork`, async (req, signal) => {
      const actor = runtime.get(req.mob_id);
      actor.member(req.agent_identity);
      const r = await actor.submitWork(req.agent_identity, { type: 'prompt', text: req.content }, originFromProto(req.origin), req.work_id ?? null, req.wait, signal);
      return { work_id: r.work_id, session_id: r.session_id, input_id: r.input_id, deduplicated: r.deduplicated, outcome: r.outcome ?? undefined };
    }),

    sendPeerMessage: unary(ctx, `${S}.SendPeerMessage`, async (req) => {
      const actor = runtime.get(req.mob_id);
      const r = await actor.sendPeerMessage(req.from, req.to, req.body);
      return { session_id: r.session_id, input_id: r.input_id };
    }),

    retireMember: unary(ctx, `${S}.RetireMember`, async (req, signal) => {
      const actor = runtime.get(req.mob_id);
      return { member: member(actor, await actor.retire(req.agent_identity, signal)) };
    }),

    respawnMember: unary(ctx, `${S}.RespawnMember`, async (req, signal) => {
      const actor = runtime.get(req.mob_id);
      return { member: member(actor, await actor.respawn(req.agent_identity, signal)) };
    }),

    lifecycle: unary(ctx, `${S}.Lifecycle`, async (req) => {
      const actor = runtime.get(req.mob_id);
      const destroyed = await actor.lifecycle(actionFromProto(req.action));
      return { phase: phaseToProto(actor.state.phase), sessions_destroyed: destroyed };
    }),

    getStatus: unary(ctx, `${S}.GetStatus`, async (req) => {
      const actor = runtime.get(req.mob_id);
      const s = actor.state;
      const members = actor.members(false).filter((v) => v.agent_runtime_id !== null);
      const counts = await runtime.store.foldCounts(actor.id);
      return {
        mob_id: actor.id,
        phase: phaseToProto(s.phase),
        members: members.length,
        ready_members: members.filter((v) => v.ready).length,
        wiring_edges: s.wiring_edges.length,
        topology_epoch: s.topology_epoch,
        lifecycle_intent: s.placed_completion_lifecycle_intent ?? undefined,
        pending_kernel_requests: actor.pendingRequests,
        signals_applied: counts.applied,
        signals_dropped: counts.dropped,
        signal_cursor: ctx.consumer.cursor,
      };
    }),

    listMembers: unary(ctx, `${S}.ListMembers`, async (req) => {
      const actor = runtime.get(req.mob_id);
      return Promise.resolve({ members: actor.members(req.include_retired).map((v) => member(actor, v)) });
    }),

    getMember: unary(ctx, `${S}.GetMember`, async (req) => {
      const actor = runtime.get(req.mob_id);
      return Promise.resolve({ member: member(actor, actor.member(req.agent_identity)) });
    }),

    listEvents: unary(ctx, `${S}.ListEvents`, async (req) => {
      const actor = runtime.get(req.mob_id);
      checkCursor(req.after_cursor, 'after_cursor');
      const limit = req.limit === 0 ? MAX_PAGE : Math.min(req.limit, MAX_PAGE);
      const events = await runtime.store.readEvents(actor.id, req.after_cursor, limit);
      return { events: events.map(eventToProto), next_cursor: events.at(-1)?.cursor ?? req.after_cursor };
    }),

    followEvents: serverStreaming<FollowEventsRequest, FollowEventsResponse>(ctx, `${S}.FollowEvents`, async (req, write, signal) => {
      const actor = runtime.get(req.mob_id);
      checkCursor(req.after_cursor, 'after_cursor');
      let last = req.after_cursor;
      let live = false;
      const buffered: MobEventRecord[] = [];
      const emit = (e: MobEventRecord): void => {
        if (e.cursor <= last) return;
        last = e.cursor;
        write({ event: eventToProto(e) });
      };
      const unsubscribe = runtime.onEvents((events) => {
        for (const e of events) {
          if (e.mob_id !== actor.id) continue;
          if (live) emit(e);
          else buffered.push(e);
        }
      });
      try {
        for (;;) {
          const page = await runtime.store.readEvents(actor.id, last, MAX_PAGE);
          for (const e of page) emit(e);
          if (page.length < MAX_PAGE || signal.aborted) break;
        }
        live = true;
        for (const e of buffered.sort((x, y) => x.cursor - y.cursor)) emit(e);
        buffered.length = 0;
        if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      } finally {
        unsubscribe();
      }
    }),
  };
}
