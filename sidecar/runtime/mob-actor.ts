/**
 * One mob, live: its MobMachine state, the serial gate every change goes through, the FIFO of
 * kernel requests and the realization of `mob.md` §2.8's end-to-end flow.
 *
 * Every change is staged on a copy of the state (`staging.ts`) and committed in ONE store
 * transaction with its journal events, projections and queued kernel requests; only then is the
 * new state installed, the request queue flushed and watchers told. A rejected input throws and
 * nothing is committed.
 *
 * The request FIFO (§1.5) is flushed head first by one loop per mob, outside the gate: the answer
 * of each request is folded back under the gate (refusal → the route's `Resolve…Refusal` closure;
 * detach ack → `SessionIngressDetachedForMobDestroy`) in the transaction that removes it from
 * `mob_outbound`. A retire whose runtime still awaits its detach ack holds the queue. Transport
 * failures keep the head and retry with back-off (100 ms doubling, capped at 5 s).
 *
 * Kernel signals (`foldSignals`) are folded under the gate as `ObserveRuntime*` inputs; the folds,
 * their `signal_folded` journal events and the consumer cursor commit together (exactly once). A
 * retired runtime's member is archived in the same transaction (`ObserveMemberRetirementArchived`).
 * A member whose runtime became ready gets, in that transaction, an `attach` request: its session's
 * peer ingress is claimed for the mob and its comms drain kept running, so peer messages (which
 * land in its durable peer inbox, decision 9) are admitted; `reattach` re-asserts it after the
 * kernel restarted (the kernel also respawns a drain that was running when it stopped).
 */
import type { Logger } from 'pino';
import type { CompletionOutcome } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/ids.js';
import type { RoutedSignal } from '../../src/kernel/store.js';
import { autoWirePeers, checkName, digestOf, type MobDefinition } from '../definition.js';
import { MobError } from '../errors.js';
import {
  agentRuntimeId,
  describeMobRejection,
  signalInput,
  listMembers,
  memberView,
  normalizeEdge,
  refusalClosure,
  type MemberView,
  type MobInput,
  type MobState,
  type SubmitWorkRejected,
} from '../machine/index.js';
import type { FieldViolation } from '../../src/kernel/errors.js';
import type { MemberRecord, MobEventRecord, MobStore, SignalProgress } from '../store/mob-store.js';
import { CLOSE_WAIT_MS, within } from './bounded-wait.js';
import { startFoldSpan, withTraceparent, type FoldSpan } from './fold-tracing.js';
import { isTransportFailure, kernelError, type KernelLink, type RouteAnswer } from './kernel-link.js';
import { describeRequest, type OutboundRequest, type QueuedRequest, type WorkContent } from './outbound.js';
import { memberCommsRuntimeId, routeRequest } from './route-request.js';
import { SerialGate } from './serial-gate.js';
import { Staging } from './staging.js';

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/** Kernel refusal codes meaning the session has no ingress left to detach (counts as detached, §1.9). */
const ALREADY_DETACHED_CODES = ['SESSION_NOT_FOUND', 'RUNTIME_DESTROYED'];

export interface MobActorDeps {
  readonly store: MobStore;
  readonly kernel: KernelLink;
  readonly log: Logger;
  /** A new kernel session now belongs to this mob (routing of its signals). */
  readonly onSession: (sessionId: string, mobId: string) => void;
  /** Journal events were appended (FollowEvents). */
  readonly onEvents: (events: readonly MobEventRecord[]) => void;
}

export interface WorkResult {
  readonly work_id: string;
  readonly session_id: string;
  readonly input_id: string;
  readonly deduplicated: boolean;
  readonly outcome: CompletionOutcome | null;
}

/** A committed staging: its value and the kernel answers it awaits. */
interface Committed<T> {
  readonly value: T;
  readonly answers: readonly { readonly request: QueuedRequest; readonly answer: Promise<RouteAnswer> }[];
}

interface Waiter {
  readonly resolve: (answer: RouteAnswer) => void;
}

export class MobActor {
  private readonly gate = new SerialGate();
  private readonly queue: QueuedRequest[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private readonly listeners = new Set<() => void>();
  private flushing: Promise<void> | null = null;
  /** JSON of the roster projection last written (unchanged projections are not rewritten). */
  private lastProjection: string | null = null;
  private closed = false;
  /** A flush waits here after a transport failure; `kick()` cuts the wait short. */
  private backoffWake: (() => void) | null = null;

  constructor(
    readonly definition: MobDefinition,
    private currentState: MobState,
    private version: number,
    /** identity → labels given at its spawn. */
    private readonly labels: Map<string, Readonly<Record<string, string>>>,
    queued: readonly QueuedRequest[],
    private readonly deps: MobActorDeps,
  ) {
    this.queue.push(...queued);
  }

  get id(): string {
    return this.definition.id;
  }

  get state(): MobState {
    return this.currentState;
  }

  /** Kernel requests not yet answered. */
  get pendingRequests(): number {
    return this.queue.length;
  }

  /** Calls `listener` after every committed change; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  member(agentIdentity: string): MemberView {
    if (!this.known(agentIdentity)) throw MobError.memberNotFound(this.id, agentIdentity);
    return memberView(this.currentState, agentIdentity);
  }

  members(includeRetired: boolean): MemberView[] {
    return listMembers(this.currentState, includeRetired ? 'all' : 'including_retiring');
  }

  labelsOf(agentIdentity: string): Readonly<Record<string, string>> {
    return this.labels.get(agentIdentity) ?? {};
  }

  private known(a: string): boolean {
    const s = this.currentState;
    return a in s.identity_to_runtime || a in s.identity_runtime_generations;
  }

  private current(a: string): string {
    const r = this.currentState.identity_to_runtime[a];
    if (r === undefined) throw MobError.memberNotFound(this.id, a);
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // Commit plumbing

  /** Stages `fn` on the current state and commits what it did (nothing when it throws). */
  private async transact<T>(fn: (stage: Staging) => T, extra: { dequeue?: readonly number[] } = {}): Promise<T> {
    return (await this.gate.run(() => this.commitStaged(fn, extra))).value;
  }

  /** Like {@link transact}; also returns the kernel answers the staging awaits (`Staging.awaitRequests`). */
  private transactAwaiting<T>(fn: (stage: Staging) => T): Promise<Committed<T>> {
    return this.gate.run(() => this.commitStaged(fn, {}));
  }

  private async commitStaged<T>(
    fn: (stage: Staging) => T,
    extra: { signal?: { readonly consumer: string; readonly first: number; readonly last: number }; dequeue?: readonly number[] },
  ): Promise<Committed<T>> {
    if (this.closed) throw new MobError('KERNEL_UNAVAILABLE', 'the sidecar is shutting down');
    const stage = new Staging(this.currentState, (a, s) => ({ role: s.member_profile_names[a] ?? null, labels: this.labelsOf(a) }));
    const value = fn(stage);
    if (!stage.changed && extra.signal === undefined && (extra.dequeue ?? []).length === 0) return { value, answers: [] };
    const signal: SignalProgress | null = extra.signal ? { ...extra.signal, applied: stage.signalsApplied, dropped: stage.signalsDropped } : null;
    const stateChanged = stage.state !== this.currentState;
    const members = stateChanged ? this.projection(stage.state) : null;
    const membersText = members === null ? null : JSON.stringify(members);
    const committed = await this.deps.store.commit({
      mob_id: this.id,
      expected_version: this.version,
      state: stateChanged ? stage.state : null,
      events: stage.events,
      members: membersText !== null && membersText !== this.lastProjection ? members : null,
      wiring: stateChanged && stage.state.wiring_edges !== this.currentState.wiring_edges ? stage.state.wiring_edges : null,
      sessions: stage.sessions,
      enqueue: stage.requests,
      dequeue: extra.dequeue ?? [],
      signal,
    });
    this.currentState = stage.state;
    this.version = committed.version;
    if (membersText !== null) this.lastProjection = membersText;
    const removed = new Set(extra.dequeue ?? []);
    if (removed.size > 0) {
      for (let i = this.queue.length - 1; i >= 0; i--) if (removed.has((this.queue[i] as QueuedRequest).id)) this.queue.splice(i, 1);
    }
    this.queue.push(...committed.enqueued);
    const answers = stage.awaited.map((i) => {
      const request = committed.enqueued[i] as QueuedRequest;
      return { request, answer: new Promise<RouteAnswer>((resolve) => this.waiters.set(request.id, { resolve })) };
    });
    for (const s of stage.sessions) this.deps.onSession(s.session_id, this.id);
    if (committed.events.length > 0) this.deps.onEvents(committed.events);
    for (const l of [...this.listeners]) l();
    this.kick();
    return { value, answers };
  }

  private projection(s: MobState): MemberRecord[] {
    return listMembers(s, 'all').map((v) => ({
      agent_identity: v.agent_identity,
      profile: v.profile_name ?? '',
      labels: this.labelsOf(v.agent_identity),
      status: v.status,
      session_id: v.session_id,
      agent_runtime_id: v.agent_runtime_id,
      generation: v.generation ?? 0,
      fence_token: v.fence_token ?? 0,
    }));
  }

  // -------------------------------------------------------------------------------------------
  // Spawn

  /**
   * Spawns `agentIdentity` with `profile` (§2.8 step 2): creates its kernel session (register +
   * executor), then authorizes, stages, opens and commits the spawn, wires it by the definition's
   * rules and activates it, in one transaction. The binding request flushes right after.
   */
  async spawn(agentIdentity: string, profile: string, labels: Readonly<Record<string, string>>, ensure = false): Promise<{ member: MemberView; spawned: boolean }> {
    const v: FieldViolation[] = [];
    checkName(v, 'agent_identity', agentIdentity);
    const p = this.definition.profiles[profile];
    if (p === undefined) v.push({ field: 'profile', description: `names no profile of mob ${this.id} ("${profile}")` });
    if (v.length > 0) throw MobError.invalid(v);
    if (ensure && this.isActive(agentIdentity)) {
      await this.transact((stage) => stage.apply({ type: 'EnsureMember', agent_identity: agentIdentity }));
      return { member: this.member(agentIdentity), spawned: false };
    }
    this.checkSpawnable(agentIdentity);
    const sessionId = newId();
    await this.deps.kernel.ensureSession(sessionId, (p as NonNullable<typeof p>).executor);
    try {
      await this.transact((stage) => this.stageSpawn(stage, agentIdentity, profile, labels, sessionId, ensure));
    } catch (e) {
      // Nothing of the mob changed: give the unused kernel session back.
      void this.deps.kernel
        .deliver({ route: { $case: 'request_runtime_destroy', request_runtime_destroy: { session_id: sessionId } } }, 'destroy an unused session')
        .catch(() => undefined);
      throw e;
    }
    return { member: this.member(agentIdentity), spawned: true };
  }

  private isActive(a: string): boolean {
    const r = this.currentState.identity_to_runtime[a];
    return r !== undefined && this.currentState.live_runtime_ids.includes(r);
  }

  private checkSpawnable(a: string): void {
    if (this.currentState.identity_to_runtime[a] !== undefined) {
      throw new MobError('MEMBER_ALREADY_EXISTS', `mob ${this.id} already has a member ${a}`, { mob_id: this.id, agent_identity: a });
    }
    if (this.currentState.phase !== 'Running') {
      throw new MobError('INVALID_PHASE', `mob ${this.id} is ${this.currentState.phase}: members are spawned only while it is Running`, { phase: this.currentState.phase });
    }
  }

  private stageSpawn(stage: Staging, a: string, profile: string, labels: Readonly<Record<string, string>>, sessionId: string, ensure: boolean): void {
    this.checkSpawnable(a);
    const p = this.definition.profiles[profile] as NonNullable<MobDefinition['profiles'][string]>;
    const s = stage.state;
    const previous = s.identity_runtime_generations[a];
    const generation = previous === undefined ? 0 : previous + 1;
    const fence = s.last_issued_fence_token + 1;
    const digest = digestOf({ profile: p });
    const runtimeId = agentRuntimeId(a, generation);
    this.labels.set(a, { ...labels });
    if (ensure) stage.apply({ type: 'EnsureMember', agent_identity: a });
    stage.apply({
      type: 'AuthorizeSpawnProfile',
      agent_identity: a,
      profile_name: profile,
      model: p.model,
      profile_material_digest: digest,
      tool_config_digest: digestOf(p.tools),
      skills_digest: digestOf(p.skills),
      provider_params_digest: null,
      output_schema_digest: null,
      external_addressable: p.external_addressable,
      resolved_spec_digest: null,
    });
    stage.apply({ type: 'StageSpawn', agent_identity: a, session_id: sessionId });
    const tuple = {
      agent_identity: a,
      agent_runtime_id: runtimeId,
      fence_token: fence,
      generation,
      profile_material_digest: digest,
      external_addressable: p.external_addressable,
      runtime_mode: p.runtime_mode,
      bridge_session_id: sessionId,
      replacing: null,
    };
    stage.apply({ type: 'BeginSpawnExec', ...tuple, placement: null });
    stage.apply({ type: 'CommitSpawnMembership', ...tuple, spec_digest_echo: null, ack_engine_version: null, placed_spawn_id: null, provision_operation_id: null });
    stage.sessions.push({ session_id: sessionId, agent_identity: a, generation });
    const peers = autoWirePeers(this.definition, profile, this.currentProfiles(stage.state), a);
    for (const peer of peers) stage.apply({ type: 'WireMembers', edge: normalizeEdge(a, peer) });
    stage.apply({ type: 'CommitSpawnActivation', agent_identity: a });
    stage.apply({ type: 'CompleteSpawn', agent_identity: a });
  }

  /** identity → profile of every member with a live runtime. */
  private currentProfiles(s: MobState): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [a, r] of Object.entries(s.identity_to_runtime)) if (s.live_runtime_ids.includes(r)) out[a] = s.member_profile_names[a] ?? '';
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Readiness

  /** Resolves once every identity is ready; `onUpdate` gets each change of their views. */
  waitReady(identities: readonly string[], onUpdate: (views: MemberView[], allReady: boolean) => void, signal: AbortSignal): Promise<void> {
    const targets = identities.length > 0 ? [...identities] : Object.keys(this.currentState.identity_to_runtime).sort();
    for (const a of targets) this.member(a); // NOT_FOUND before anything streams
    return new Promise((resolve, reject) => {
      let last = '';
      const check = (): void => {
        let views: MemberView[];
        try {
          views = targets.map((a) => this.member(a));
        } catch (e) {
          done();
          reject(e);
          return;
        }
        const all = views.every((v) => v.ready);
        const text = JSON.stringify(views.map((v) => [v.agent_identity, v.status, v.startup]));
        if (text !== last || all) {
          last = text;
          onUpdate(views, all);
        }
        const broken = views.find((v) => v.status === 'Broken');
        if (all) {
          done();
          resolve();
        } else if (broken) {
          done();
          reject(new MobError('KERNEL_REFUSED', `member ${broken.agent_identity} is Broken: ${broken.error ?? 'its binding was refused'}`, { agent_identity: broken.agent_identity }));
        }
      };
      const unsubscribe = this.onChange(check);
      const onAbort = (): void => {
        done();
        resolve();
      };
      const done = (): void => {
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Wiring

  private checkPair(a: string, b: string): void {
    const v: FieldViolation[] = [];
    checkName(v, 'a', a);
    checkName(v, 'b', b);
    if (v.length === 0 && a === b) v.push({ field: 'b', description: 'a member cannot be wired to itself' });
    for (const [field, x] of [['a', a], ['b', b]] as const) {
      if (v.length === 0 && this.currentState.identity_to_runtime[x] === undefined) v.push({ field, description: `"${x}" is not a member of mob ${this.id}` });
    }
    if (v.length > 0) throw MobError.invalid(v);
  }

  async wire(a: string, b: string): Promise<{ changed: boolean; epoch: number }> {
    this.checkPair(a, b);
    const changed = await this.transact((stage) => {
      this.checkPair(a, b);
      return stage.apply({ type: 'WireMembers', edge: normalizeEdge(a, b) }).transition === 'WireMembersRunning';
    });
    return { changed, epoch: this.currentState.topology_epoch };
  }

  async unwire(a: string, b: string): Promise<{ changed: boolean; epoch: number }> {
    this.checkPair(a, b);
    const changed = await this.transact((stage) => stage.apply({ type: 'UnwireMembers', edge: normalizeEdge(a, b) }).transition === 'UnwireMembersRunning');
    return { changed, epoch: this.currentState.topology_epoch };
  }

  // -------------------------------------------------------------------------------------------
  // Work and peer messages

  /**
   * Sends work to a member (§2.8 steps 3–4): `SubmitWork` emits `RequestRuntimeIngress`, which is
   * queued and delivered with the content; a kernel refusal is folded back and reported. With
   * `wait`, the terminal outcome of the admitted input is awaited (WatchInput).
   */
  async submitWork(a: string, content: WorkContent, origin: 'External' | 'Internal', workId: string | null, wait: boolean, signal?: AbortSignal): Promise<WorkResult> {
    const work = workId ?? newId();
    const v: FieldViolation[] = [];
    if (work.trim() === '' || work.length > 256) v.push({ field: 'work_id', description: 'must be 1–256 characters' });
    if (content.type === 'prompt' && content.text.trim() === '') v.push({ field: 'content', description: 'is required' });
    if (v.length > 0) throw MobError.invalid(v);
    this.current(a);
    const committed = await this.transactAwaiting((stage) => {
      const s = stage.state;
      const r = this.current(a);
      const fence = s.runtime_fence_tokens[r] ?? s.identity_runtime_fence_tokens[a] ?? 0;
      stage.setContent(work, content);
      const step = stage.tryApply({ type: 'SubmitWork', agent_identity: a, agent_runtime_id: r, fence_token: fence, work_id: work, origin });
      if (!step.ok) {
        const why = stage.tryApply({ type: 'ResolveSubmitWorkRejection', agent_identity: a, agent_runtime_id: r, fence_token: fence, origin });
        const rejected = why.ok ? why.effects.find((e): e is SubmitWorkRejected => e.type === 'SubmitWorkRejected') : undefined;
        const reason = rejected?.reason ?? 'MobNotRunning';
        throw new MobError('WORK_REJECTED', `work for ${a} was rejected: ${reason}`, { reason, agent_identity: a });
      }
      stage.event('work_submitted', { work_id: work, agent_identity: a, agent_runtime_id: r, origin, kind: content.type });
      stage.awaitRequests((q) => q.kind === 'route' && q.effect.type === 'RequestRuntimeIngress' && q.effect.work_id === work);
    });
    const mine = committed.answers[0];
    if (mine === undefined) throw new MobError('INTERNAL', `work ${work} emitted no kernel request`);
    const answer = await mine.answer;
    if (!answer.accepted) throw new MobError('KERNEL_REFUSED', `the kernel refused work ${work}: ${answer.message}`, { kernel_code: answer.code, work_id: work });
    const q = mine.request.request;
    const sessionId = q.kind === 'route' && q.effect.type === 'RequestRuntimeIngress' ? q.effect.session_id : '';
    const inputId = answer.input_id ?? '';
    const outcome = wait ? await this.deps.kernel.waitTerminal(sessionId, inputId, signal) : null;
    return { work_id: work, session_id: sessionId, input_id: inputId, deduplicated: answer.deduplicated, outcome };
  }

  /**
   * A peer message from `from` to `to` (they must be wired): `SubmitWork{Internal}` authorizes it
   * and its `RequestRuntimeIngress` is delivered as the `DeliverPeerMessage` route. Resolves once
   * the message is durably in `to`'s peer inbox, with the input id its comms drain admits it under.
   */
  async sendPeerMessage(from: string, to: string, body: string): Promise<WorkResult> {
    const v: FieldViolation[] = [];
    checkName(v, 'from', from);
    checkName(v, 'to', to);
    if (v.length === 0 && from === to) v.push({ field: 'to', description: 'a member cannot message itself' });
    if (v.length > 0) throw MobError.invalid(v);
    const fromRuntime = this.current(from);
    this.current(to);
    const edge = normalizeEdge(from, to);
    if (!this.currentState.wiring_edges.some((e) => e.a === edge.a && e.b === edge.b)) {
      throw new MobError('NOT_WIRED', `${from} and ${to} are not wired in mob ${this.id}`, { a: edge.a, b: edge.b });
    }
    return this.submitWork(to, { type: 'peer', from, from_runtime_id: fromRuntime, body, input_id: newId() }, 'Internal', null, false);
  }

  // -------------------------------------------------------------------------------------------
  // Retire / respawn

  /** Retires the member (§2.8 step 5) and waits until it is archived. */
  async retire(a: string, signal?: AbortSignal): Promise<MemberView> {
    const r = this.current(a);
    await this.transact((stage) => this.stageRetire(stage, a));
    await this.untilArchived(a, r, signal);
    return this.member(a);
  }

  private stageRetire(stage: Staging, a: string): void {
    const s = stage.state;
    const r = this.current(a);
    const session = s.member_session_bindings[a] ?? null;
    stage.apply({
      type: 'Retire',
      mob_id: this.id,
      agent_runtime_id: r,
      agent_identity: a,
      generation: s.identity_runtime_generations[a] ?? 0,
      releasing: session,
      session_id: session,
    });
  }

  /** Resolves when `a` has no current runtime `r` any more; rejects on a recorded retire refusal. */
  private untilArchived(a: string, r: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const s = this.currentState;
        if (s.identity_to_runtime[a] !== r) {
          done();
          resolve();
          return;
        }
        const code = s.runtime_retire_refusal_codes[r];
        if (code !== undefined) {
          done();
          reject(new MobError('KERNEL_REFUSED', `the kernel refused to retire ${r}: ${s.runtime_retire_refusal_reasons[r] ?? code}`, { kernel_code: code }));
        }
      };
      const onAbort = (): void => {
        done();
        reject(new MobError('KERNEL_UNAVAILABLE', `stopped waiting for ${a} to retire (it continues)`));
      };
      const unsubscribe = this.onChange(check);
      const done = (): void => {
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  /** Retires the current incarnation and spawns the next generation with its profile, labels and wiring. */
  async respawn(a: string, signal?: AbortSignal): Promise<MemberView> {
    const r = this.current(a);
    const profile = this.currentState.member_profile_names[a] ?? '';
    const peers = memberView(this.currentState, a).wired_to;
    await this.transact((stage) => {
      stage.apply({ type: 'Respawn', agent_runtime_id: r });
      this.stageRetire(stage, a);
    });
    await this.untilArchived(a, r, signal);
    await this.spawn(a, profile, this.labelsOf(a));
    for (const peer of peers) if (this.isActive(peer)) await this.wire(a, peer);
    return this.member(a);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** stop | resume | complete | reset | destroy; returns the kernel sessions destroyed. */
  async lifecycle(action: 'stop' | 'resume' | 'complete' | 'reset' | 'destroy'): Promise<number> {
    if (action !== 'destroy') {
      await this.transact((stage) => {
        const steps: Record<typeof action, MobInput[]> = {
          stop: [{ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Stop' }, { type: 'Stop' }],
          resume: [{ type: 'Resume' }],
          complete: [{ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Complete' }, { type: 'Complete' }],
          reset: [{ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Reset' }, { type: 'Reset' }],
        };
        for (const input of steps[action]) stage.apply(input);
      });
      return 0;
    }
    // §1.11 destroy path: quiesce(Destroy) → AdmitDestroyCleanup → DestroyMob{S} (RequestRuntimeDestroy)
    // → storage finalizing; every other member session is destroyed in the kernel as cleanup.
    const committed = await this.transactAwaiting((stage) => {
      const sessions = [...new Set(Object.values(stage.state.member_session_bindings))].sort();
      stage.apply({ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: 'Destroy' });
      stage.apply({ type: 'AdmitDestroyCleanup' });
      const [first, ...rest] = sessions;
      if (first !== undefined) stage.apply({ type: 'DestroyMob', session_id: first });
      else stage.apply({ type: 'Destroy' });
      for (const s of rest) stage.request({ kind: 'route', effect: { type: 'RequestRuntimeDestroy', session_id: s }, content: null });
      stage.tryApply({ type: 'AdmitDestroyStorageFinalizing' });
      stage.awaitRequests((q) => q.kind === 'route' && q.effect.type === 'RequestRuntimeDestroy');
      return sessions.length;
    });
    await Promise.all(committed.answers.map((x) => x.answer));
    return committed.value;
  }

  // -------------------------------------------------------------------------------------------
  // Signals

  /**
   * Folds consecutive kernel signals for this mob (in sequence order) and commits them in ONE
   * transaction with the consumer's cursor moved past the last. Each signal gets its own
   * `meerkat.sidecar.fold` span continuing the signal's trace.
   */
  async foldSignals(signals: readonly RoutedSignal[], consumer: string): Promise<('applied' | 'dropped')[]> {
    const first = signals[0];
    const last = signals.at(-1);
    if (first === undefined || last === undefined) return [];
    const spans = signals.map((s) =>
      startFoldSpan(s.trace_context, {
        'meerkat.mob_id': this.id,
        'meerkat.signal.sequence': s.sequence,
        'meerkat.signal.kind': s.kind,
        'meerkat.agent_runtime_id': s.agent_runtime_id,
      }),
    );
    try {
      const committed = await this.gate.run(() =>
        this.commitStaged((stage) => signals.map((s, i) => (spans[i] as FoldSpan).within(() => this.foldInto(stage, s))), {
          signal: { consumer, first: first.sequence, last: last.sequence },
        }),
      );
      for (const span of spans) span.end();
      return committed.value;
    } catch (e) {
      for (const span of spans) span.end(e);
      throw e;
    }
  }

  /** One signal → `ObserveRuntime*`; a rejection drops it. Both are journaled (`signal_folded`). */
  private foldInto(stage: Staging, signal: RoutedSignal): 'applied' | 'dropped' {
    const base = {
      sequence: signal.sequence,
      kind: signal.kind,
      session_id: signal.session_id,
      agent_runtime_id: signal.agent_runtime_id,
      fence_token: signal.fence_token,
    };
    const step = stage.tryApply(signalInput({ kind: signal.kind, agent_runtime_id: signal.agent_runtime_id, fence_token: signal.fence_token }));
    if (!step.ok) {
      stage.signalsDropped += 1;
      stage.event('signal_folded', { ...base, outcome: 'dropped', reason: describeMobRejection(step) });
      return 'dropped';
    }
    stage.signalsApplied += 1;
    stage.event('signal_folded', { ...base, outcome: 'applied', transition: step.transition });
    if (signal.kind === 'RuntimeRetired') this.archive(stage, signal.agent_runtime_id, signal.session_id);
    if (signal.kind === 'RuntimeBound' && Object.values(stage.state.member_session_bindings).includes(signal.session_id)) {
      stage.request({ kind: 'attach', mob_id: this.id, agent_runtime_id: signal.agent_runtime_id, session_id: signal.session_id });
    }
    return 'applied';
  }

  /** After `ObserveRuntimeRetired`: the member session is archived (nothing to keep in the kernel). */
  private archive(stage: Staging, r: string, sessionId: string): void {
    const s = stage.state;
    const a = Object.keys(s.identity_to_runtime).find((x) => s.identity_to_runtime[x] === r);
    if (a === undefined) return;
    const facts = {
      agent_identity: a,
      agent_runtime_id: r,
      fence_token: s.identity_runtime_fence_tokens[a] ?? 0,
      generation: s.identity_runtime_generations[a] ?? 0,
      session_id: sessionId,
    };
    if (s.destroy_admitted) stage.tryApply({ type: 'ObserveDestroyMemberRetirementArchived', ...facts });
    else stage.tryApply({ type: 'ObserveMemberRetirementArchived', ...facts, preserve_machine_topology: false });
  }

  // -------------------------------------------------------------------------------------------
  // Request FIFO

  /** Starts flushing the queue if it is not already. */
  kick(): void {
    this.backoffWake?.();
    if (this.closed || this.flushing || this.queue.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (!this.closed && this.queue.length > 0 && !this.headHeld()) this.kick();
    });
  }

  private headHeld(): boolean {
    const head = this.queue[0];
    if (head === undefined || head.request.kind !== 'route' || head.request.effect.type !== 'RequestRuntimeRetire') return false;
    return this.currentState.pending_session_ingress_detach_runtime_ids.includes(head.request.effect.agent_runtime_id);
  }

  private async flush(): Promise<void> {
    let delay = MIN_BACKOFF_MS;
    while (!this.closed) {
      const head = this.queue[0];
      if (head === undefined || this.headHeld()) return;
      let answer: RouteAnswer;
      try {
        answer = await withTraceparent(head.trace_context, () => this.send(head.request));
        delay = MIN_BACKOFF_MS;
      } catch (e) {
        if (!isTransportFailure(e)) {
          const err = kernelError(e, describeRequest(head.request));
          answer = { accepted: false, code: err.metadata.kernel_code ?? err.code, message: err.message };
        } else {
          this.deps.log.warn({ mob_id: this.id, request: describeRequest(head.request), err: e, retry_ms: delay }, 'kernel request failed; retrying');
          await this.sleep(delay);
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);
          continue;
        }
      }
      await this.foldAnswer(head, answer);
      this.waiters.get(head.id)?.resolve(answer);
      this.waiters.delete(head.id);
    }
  }

  private async send(r: OutboundRequest): Promise<RouteAnswer> {
    if (r.kind !== 'attach') return this.deps.kernel.deliver(routeRequest(this.id, r), describeRequest(r));
    // A runtime retired (or replaced) meanwhile keeps its ingress detached.
    if (!this.currentState.live_runtime_ids.includes(r.agent_runtime_id)) return { accepted: true, input_id: null, deduplicated: false };
    return this.deps.kernel.attachIngress(r.session_id, memberCommsRuntimeId(this.id, r.agent_runtime_id), this.id);
  }

  /** Removes the answered request and folds its answer, in one transaction. */
  private foldAnswer(head: QueuedRequest, answer: RouteAnswer): Promise<void> {
    return this.transact(
      (stage) => {
        const r = head.request;
        if (r.kind === 'detach') {
          if (answer.accepted || ALREADY_DETACHED_CODES.includes(answer.code)) {
            stage.tryApply({ type: 'SessionIngressDetachedForMobDestroy', mob_id: r.mob_id, agent_runtime_id: r.agent_runtime_id });
          } else {
            stage.tryApply({ type: 'SessionIngressDetachFailedForMobDestroy', mob_id: r.mob_id, agent_runtime_id: r.agent_runtime_id, reason: answer.message });
            stage.event('kernel_request_refused', { request: 'DetachSessionIngress', session_id: r.session_id, code: answer.code, message: answer.message });
          }
          return;
        }
        if (r.kind === 'attach') {
          if (!answer.accepted) stage.event('kernel_request_refused', { request: 'SetPeerIngressContext', session_id: r.session_id, code: answer.code, message: answer.message });
          return;
        }
        if (answer.accepted) return;
        stage.event('kernel_request_refused', { request: r.effect.type, code: answer.code, message: answer.message });
        const closure = refusalClosure(r.effect, { code: answer.code, message: answer.message });
        if (closure !== null) stage.tryApply(closure);
      },
      { dequeue: [head.id] },
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.backoffWake = null;
        resolve();
      }, ms);
      this.backoffWake = () => {
        clearTimeout(t);
        this.backoffWake = null;
        resolve();
      };
    });
  }

  /**
   * Re-registers every bound member session with its executor (after the kernel restarted) and,
   * for a ready member, re-asserts its peer ingress and comms drain (idempotent). A transport
   * failure propagates (the caller retries); a session the kernel refuses (e.g. destroyed behind
   * the mob) is logged and skipped so it cannot stall the others.
   */
  async reattach(): Promise<void> {
    const s = this.currentState;
    for (const [a, session] of Object.entries(s.member_session_bindings)) {
      const p = this.definition.profiles[s.member_profile_names[a] ?? ''];
      if (p === undefined) continue;
      try {
        await this.deps.kernel.ensureSession(session, p.executor);
      } catch (e) {
        if (isTransportFailure(e)) throw e;
        this.deps.log.warn({ mob_id: this.id, agent_identity: a, session_id: session, err: e }, 'cannot re-register a member session');
        continue;
      }
      const r = s.identity_to_runtime[a];
      if (r === undefined || !s.live_runtime_ids.includes(r) || !memberView(s, a).ready) continue;
      const answer = await this.deps.kernel.attachIngress(session, memberCommsRuntimeId(this.id, r), this.id);
      if (!answer.accepted) this.deps.log.warn({ mob_id: this.id, agent_identity: a, session_id: session, code: answer.code, reason: answer.message }, 'cannot restart a member\'s comms drain');
    }
    this.kick();
  }

  /** Stops the flush loop (queued requests stay in the store for the next start). */
  async close(): Promise<void> {
    this.closed = true;
    this.backoffWake?.();
    // A request in flight to a kernel that is gone waits until its deadline: do not hold the
    // shutdown for it (it stays in mob_outbound and is sent again after a restart).
    if (this.flushing) await within(this.flushing, CLOSE_WAIT_MS);
  }
}

