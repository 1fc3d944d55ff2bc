/**
 * One staged mob transaction: inputs are applied one by one to a copy of the state through the
 * MobMachine reducer; each accepted transition's effects are realized as data — journal events
 * (`mob.md` §3.3, written in the same store transaction as the state they describe) and queued
 * kernel requests (the routed effects, with the session-ingress detach placed before the retire it
 * gates). Nothing reaches the store or the kernel until the owner commits; a rejection throws a
 * {@link MobError} and the whole staging is dropped, so a refused call changes nothing.
 */
import {
  describeMobRejection,
  isRoutedMobEffect,
  JOURNAL_EVENT_TYPES,
  reduceMob,
  type MobEffect,
  type MobInput,
  type MobRejection,
  type MobState,
  type MobStep,
  type MobTransition,
} from '../machine/index.js';
import { MobError } from '../errors.js';
import type { NewMobEvent } from '../store/mob-store.js';
import { activeTraceparent } from './fold-tracing.js';
import type { OutboundRequest, WorkContent } from './outbound.js';

/** The MobError of a reducer rejection: INVALID_PHASE (no transition from this phase) or GUARD_REJECTED. */
export function rejectionError(r: MobRejection): MobError {
  if (r.kind === 'NoMatchingTransition') {
    return new MobError('INVALID_PHASE', `${describeMobRejection(r)} (the mob is ${r.phase})`, { phase: r.phase, input: r.input });
  }
  return new MobError('GUARD_REJECTED', describeMobRejection(r), { phase: r.phase, input: r.input, guard: r.guard ?? '' });
}

export class Staging {
  state: MobState;
  readonly events: NewMobEvent[] = [];
  readonly requests: { readonly request: OutboundRequest; readonly trace_context: string | null }[] = [];
  readonly sessions: { readonly session_id: string; readonly agent_identity: string; readonly generation: number }[] = [];
  readonly transitions: string[] = [];
  /** Indexes into {@link requests} whose kernel answer the caller awaits. */
  readonly awaited: number[] = [];
  /** Kernel signals this staging folded that the machine applied / dropped (cursor counters). */
  signalsApplied = 0;
  signalsDropped = 0;
  /** Work content by work id, for the `RequestRuntimeIngress` it will emit. */
  private readonly content = new Map<string, WorkContent>();

  constructor(
    initial: MobState,
    /** Labels and profile of a member, for `member_spawned`. */
    private readonly describeMember: (agentIdentity: string, state: MobState) => { readonly role: string | null; readonly labels: Readonly<Record<string, string>> },
  ) {
    this.state = initial;
  }

  /** Applies `input`; throws the rejection as a MobError. */
  apply(input: MobInput): MobTransition {
    const step = this.tryApply(input);
    if (!step.ok) throw rejectionError(step);
    return step;
  }

  /** Applies `input` when the machine accepts it; a rejection changes nothing and is returned. */
  tryApply(input: MobInput): MobStep {
    const step = reduceMob(this.state, input);
    if (!step.ok) return step;
    this.state = step.state;
    this.transitions.push(step.transition);
    this.realize(step.effects);
    return step;
  }

  /** The content routed work `workId` admits (set before the `SubmitWork` that emits it). */
  setContent(workId: string, content: WorkContent): void {
    this.content.set(workId, content);
  }

  event(type: string, payload: Readonly<Record<string, unknown>>): void {
    const last = this.events.at(-1);
    const text = JSON.stringify(payload);
    if (last && last.type === type && JSON.stringify(last.payload) === text) return; // one marker per fact
    this.events.push({ type, payload });
  }

  /** Queues a kernel request outside the machine (destroy cleanup of member sessions). */
  request(request: OutboundRequest): void {
    this.requests.push({ request, trace_context: activeTraceparent() });
  }

  /** The caller awaits the kernel's answer to every request staged so far that matches `which`. */
  awaitRequests(which: (r: OutboundRequest) => boolean): void {
    this.requests.forEach((r, i) => {
      if (which(r.request) && !this.awaited.includes(i)) this.awaited.push(i);
    });
  }

  /** True when something would be committed. */
  get changed(): boolean {
    return this.transitions.length > 0 || this.events.length > 0 || this.requests.length > 0;
  }

  private realize(effects: readonly MobEffect[]): void {
    const trace = activeTraceparent();
    const detaches: OutboundRequest[] = [];
    const routes: OutboundRequest[] = [];
    for (const e of effects) {
      if (isRoutedMobEffect(e)) {
        const content = e.type === 'RequestRuntimeIngress' ? (this.content.get(e.work_id) ?? null) : null;
        routes.push({ kind: 'route', effect: e, content });
        continue;
      }
      switch (e.type) {
        case 'RequestSessionIngressDetachForMobDestroy': {
          const session = this.state.runtime_retire_pending_sessions[e.agent_runtime_id];
          if (session !== undefined) detaches.push({ kind: 'detach', mob_id: e.mob_id, agent_runtime_id: e.agent_runtime_id, session_id: session });
          break;
        }
        case 'AppendLifecycleJournal': {
          const { type: _t, kind, ...fields } = e;
          const payload: Record<string, unknown> = { kind, ...fields };
          if (kind === 'MemberSpawned' && e.agent_identity !== null) {
            const m = this.describeMember(e.agent_identity, this.state);
            payload.role = m.role;
            payload.runtime_mode = this.state.member_runtime_modes[e.agent_identity] ?? null;
            payload.labels = m.labels;
          }
          this.event(JOURNAL_EVENT_TYPES[kind], payload);
          break;
        }
        case 'PersistPlacedCompletionLifecycleIntent':
          this.event(e.active ? 'placed_completion_lifecycle_quiesce_started' : 'placed_completion_lifecycle_quiesce_ended', { intent: e.intent });
          break;
        case 'EmitWiringLifecycleNotice':
          this.event(e.kind === 'Wired' ? 'members_wired' : 'members_unwired', { a: e.edge.a, b: e.edge.b });
          break;
        case 'RuntimeBindingRefusalClassified':
        case 'RuntimeIngressRefusalClassified':
        case 'RuntimeRetireRefusalClassified': {
          const { type, ...fields } = e;
          this.event('runtime_refusal_classified', { classification: type, ...fields });
          break;
        }
        default:
          break; // notices and local classifications: observable through the state, not journaled
      }
    }
    for (const r of [...detaches, ...routes]) this.requests.push({ request: r, trace_context: trace });
  }
}
