/**
 * Composition group (mob.md §1): the kernel side of routed input delivery. The mob sidecar
 * routes `RequestRuntimeBinding` → `PrepareBindings`, `RequestRuntimeIngress` → `Ingest`,
 * `RequestRuntimeRetire` → `Retire`, `RequestRuntimeDestroy` → `Destroy`, and the
 * session-ingress detach step before a retire (§1.9) → `SetPeerIngressContext{keep_alive=false}`.
 * `DeliverPeerMessage` (decision 9) puts a peer message between sessions (e.g. two wired mob
 * members) in the receiver's durable peer inbox, after the receiver's placement check (the
 * `Ingest` arm, as for routed work); it is accepted once the message is stored, and the
 * receiver's comms drain admits it as a peer input (`peer-inbox.ts`).
 *
 * Refusals are answers, not exceptions: every `KernelError` a route causes comes back as
 * `{ accepted: false, code, message }` so the sidecar can fold it into its
 * `Resolve…Refusal` input. A refused route changes nothing. Routed signals
 * (RuntimeBound / RuntimeRetired / RuntimeDestroyed) land in the outbox in the same commit
 * as the state change that emits them.
 */
import type { KernelCore } from '../core.js';
import { guardRejected, invalidArgument, invalidPhase, KernelError, runtimeDestroyed, type FieldViolation, type KernelErrorCode } from '../errors.js';
import { parseUuidV7 } from '../ids.js';
import { MAX_SHORT_STRING, validateInput, type Input, type InputOrigin, type ValidatedInput } from '../input.js';
import type { SessionRuntime } from '../session.js';
import { ControlCommands } from './control.js';
import { DrainCommands } from './drain.js';

/** A mob→kernel route (mob.md §1). */
export type RoutedInput =
  | {
      readonly kind: 'RequestRuntimeBinding';
      readonly session_id: string;
      readonly agent_runtime_id: string;
      readonly fence_token: number;
      readonly generation: number | null;
    }
  | {
      readonly kind: 'RequestRuntimeIngress';
      readonly session_id: string;
      readonly agent_runtime_id: string;
      readonly fence_token: number;
      readonly generation: number | null;
      readonly work_id: string;
      readonly input: Input;
    }
  | { readonly kind: 'RequestRuntimeRetire'; readonly session_id: string }
  | { readonly kind: 'RequestRuntimeDestroy'; readonly session_id: string }
  | { readonly kind: 'DetachSessionIngress'; readonly session_id: string }
  | {
      readonly kind: 'DeliverPeerMessage';
      /** The receiving session. */
      readonly session_id: string;
      /** The sender's peer id (the input's peer origin). */
      readonly sender: string;
      readonly sender_runtime_id: string | null;
      /** The receiver's placement; all null for a receiver with no runtime binding. */
      readonly agent_runtime_id: string | null;
      readonly fence_token: number | null;
      readonly generation: number | null;
      /** A peer input; its origin, when set, must be the sender's. */
      readonly input: Input;
    };

export type RoutedInputKind = RoutedInput['kind'];

/** The route was applied (and committed). */
export interface RoutedInputAccepted {
  readonly accepted: true;
  readonly kind: RoutedInputKind;
  readonly session_id: string;
  /** Ingress only: the admitted (or existing, when deduplicated) input id. */
  readonly input_id?: string;
  /** Ingress only: the input joined an existing one with the same idempotency key. */
  readonly deduplicated?: boolean;
  /** Retire / destroy: inputs abandoned by the route. */
  readonly inputs_abandoned?: number;
  /** Peer message: its sequence in the receiver's peer inbox (absent when deduplicated). */
  readonly peer_message_sequence?: number;
}

/** The route was refused; nothing changed. `code` is the KernelError code. */
export interface RoutedInputRefused {
  readonly accepted: false;
  readonly kind: RoutedInputKind;
  readonly code: KernelErrorCode;
  readonly message: string;
}

export type RoutedInputResult = RoutedInputAccepted | RoutedInputRefused;

const KINDS: readonly RoutedInputKind[] = [
  'RequestRuntimeBinding',
  'RequestRuntimeIngress',
  'RequestRuntimeRetire',
  'RequestRuntimeDestroy',
  'DetachSessionIngress',
  'DeliverPeerMessage',
];

export class CompositionCommands {
  private readonly control: ControlCommands;
  private readonly drain: DrainCommands;

  constructor(private readonly k: KernelCore) {
    this.control = new ControlCommands(k);
    this.drain = new DrainCommands(k);
  }

  /** Applies one routed input; every kernel refusal is returned, never thrown. */
  async deliverRoutedInput(route: RoutedInput): Promise<RoutedInputResult> {
    const kind: RoutedInputKind = KINDS.includes(route?.kind) ? route.kind : 'RequestRuntimeBinding';
    try {
      if (!KINDS.includes(route?.kind)) throw invalidArgument([{ field: 'route', description: 'must be one of the six routed input kinds' }]);
      return await this.apply(route);
    } catch (e) {
      if (e instanceof KernelError) return { accepted: false, kind, code: e.code, message: e.message };
      throw e;
    }
  }

  private registered(sessionId: string): SessionRuntime {
    const id = parseUuidV7(sessionId, 'session_id');
    const session = this.k.sessions.get(id);
    if (!session) {
      throw new KernelError('SESSION_NOT_FOUND', `session ${id} is not registered with this MeerkatMachine; cannot deliver routed input`, {
        session_id: id,
      });
    }
    return session;
  }

  private async apply(route: RoutedInput): Promise<RoutedInputAccepted> {
    switch (route.kind) {
      case 'RequestRuntimeBinding': {
        checkBinding(route);
        const session = this.registered(route.session_id);
        await this.k.mutateSession(session, 'DeliverRoutedInput', (s) => [
          {
            type: 'PrepareBindings',
            agent_runtime_id: route.agent_runtime_id,
            fence_token: route.fence_token,
            generation: route.generation,
            runtime_epoch_id: s.active_runtime_epoch_id,
            session_id: session.sessionId,
          },
        ]);
        return { accepted: true, kind: route.kind, session_id: session.sessionId };
      }
      case 'RequestRuntimeIngress': {
        const v = bindingViolations(route);
        if (typeof route.work_id !== 'string' || route.work_id.trim().length === 0 || route.work_id.length > MAX_SHORT_STRING) {
          v.push({ field: 'work_id', description: 'must be a non-empty identifier' });
        }
        if (v.length > 0) throw invalidArgument(v);
        const input = validateInput(route.input);
        const session = this.registered(route.session_id);
        // The exact placement check (Ingest arm); a stale fence / runtime / generation is GUARD_REJECTED.
        await this.k.mutateSession(session, 'DeliverRoutedInput', (s) => [
          {
            type: 'Ingest',
            session_id: session.sessionId,
            runtime_id: route.agent_runtime_id,
            fence_token: route.fence_token,
            generation: route.generation,
            runtime_epoch_id: s.active_runtime_epoch_id,
            work_id: route.work_id,
            origin: 'mob',
          },
        ]);
        const r = await this.k.admit(session, input, 'ingest');
        if (r.outcome.type === 'rejected') {
          throw new KernelError('ADMISSION_REJECTED', `input rejected at admission: ${r.outcome.reason}: ${r.outcome.detail}`, {
            reason: r.outcome.reason,
          });
        }
        return {
          accepted: true,
          kind: route.kind,
          session_id: session.sessionId,
          input_id: r.outcome.type === 'accepted' ? r.outcome.input_id : r.outcome.existing_id,
          deduplicated: r.outcome.type === 'deduplicated',
        };
      }
      case 'RequestRuntimeRetire': {
        const session = this.registered(route.session_id);
        const report = await this.control.retire(session.runtimeId);
        return { accepted: true, kind: route.kind, session_id: session.sessionId, inputs_abandoned: report.inputs_abandoned };
      }
      case 'RequestRuntimeDestroy': {
        const session = this.registered(route.session_id);
        const report = await this.control.destroy(session.runtimeId);
        return { accepted: true, kind: route.kind, session_id: session.sessionId, inputs_abandoned: report.inputs_abandoned };
      }
      case 'DetachSessionIngress': {
        const session = this.registered(route.session_id);
        await this.drain.setPeerIngressContext(session.sessionId, { keep_alive: false });
        return { accepted: true, kind: route.kind, session_id: session.sessionId };
      }
      case 'DeliverPeerMessage':
        return this.deliverPeerMessage(route);
    }
  }

  /**
   * Checks the receiver (registered, not destroyed, accepting input, placement exact when it is
   * bound) and stores the message in its peer inbox; accepted once the message is durable.
   */
  private async deliverPeerMessage(route: Extract<RoutedInput, { kind: 'DeliverPeerMessage' }>): Promise<RoutedInputAccepted> {
    const input = checkPeerMessage(route);
    const session = this.registered(route.session_id);
    const visible = session.visiblePhase;
    if (visible === 'Destroyed') throw runtimeDestroyed(session.sessionId);
    if (session.state.registration_phase === 'Draining') throw invalidPhase('DeliverPeerMessage', visible, 'the session is being unregistered');
    if (visible !== 'Idle' && visible !== 'Attached' && visible !== 'Running') {
      throw invalidPhase('DeliverPeerMessage', visible, 'the receiver does not accept input in this phase');
    }
    if (route.agent_runtime_id !== null) {
      const agentRuntimeId = route.agent_runtime_id;
      const fence = route.fence_token as number;
      // The exact placement check (Ingest arm); a stale fence / runtime / generation is GUARD_REJECTED.
      await this.k.mutateSession(session, 'DeliverRoutedInput', (s) => [
        {
          type: 'Ingest',
          session_id: session.sessionId,
          runtime_id: agentRuntimeId,
          fence_token: fence,
          generation: route.generation,
          runtime_epoch_id: s.active_runtime_epoch_id,
          work_id: input.id,
          origin: 'peer',
        },
      ]);
    } else if (session.state.active_runtime_id !== null) {
      throw guardRejected(
        'DeliverPeerMessage',
        visible,
        'runtime_binding_exact',
        `session ${session.sessionId} is bound to runtime ${session.state.active_runtime_id}: a peer message must name its placement (agent_runtime_id, fence_token)`,
      );
    }
    const accepted = { accepted: true as const, kind: route.kind, session_id: session.sessionId, input_id: input.id };
    // A re-sent message whose input the receiver already admitted: nothing to store.
    if (session.ledger.has(input.id) || input.id in session.state.input_phases) return { ...accepted, deduplicated: true };
    let sequence: number;
    try {
      sequence = (await session.inbox.deliver(input)).sequence;
    } catch (e) {
      if (e instanceof KernelError) throw e;
      this.k.options.observer?.storeError('append_peer_message');
      throw new KernelError('STORE_UNAVAILABLE', `storing the peer message: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { ...accepted, deduplicated: false, peer_message_sequence: sequence };
  }
}

/** Validates a peer-message route; returns its input with the sender's peer origin. */
function checkPeerMessage(route: Extract<RoutedInput, { kind: 'DeliverPeerMessage' }>): ValidatedInput {
  const v: FieldViolation[] = [];
  const sender = route.sender;
  if (typeof sender !== 'string' || sender.trim().length === 0 || sender.length > MAX_SHORT_STRING) {
    v.push({ field: 'sender', description: 'is required: the sending peer id (non-empty)' });
  }
  const senderRuntime = route.sender_runtime_id;
  if (senderRuntime !== null && (typeof senderRuntime !== 'string' || senderRuntime.length === 0 || senderRuntime.length > MAX_SHORT_STRING)) {
    v.push({ field: 'sender_runtime_id', description: 'must be a non-empty identifier when set' });
  }
  if (route.agent_runtime_id !== null || route.fence_token !== null || route.generation !== null) v.push(...bindingViolations(route));
  const input = route.input as Input | undefined;
  if (input === undefined || input === null) v.push({ field: 'input', description: 'is required' });
  else {
    if (input.body?.input_type !== 'peer') v.push({ field: 'input.body', description: 'must be a peer input' });
    const o = input.origin;
    if (o !== undefined && o !== null && (o.type !== 'peer' || o.peer_id !== sender || (senderRuntime !== null && o.runtime_id !== undefined && o.runtime_id !== senderRuntime))) {
      v.push({ field: 'input.origin', description: 'must be unset or the sender\'s peer origin' });
    }
  }
  if (v.length > 0) throw invalidArgument(v);
  const origin: InputOrigin = senderRuntime !== null ? { type: 'peer', peer_id: sender, runtime_id: senderRuntime } : { type: 'peer', peer_id: sender };
  return validateInput({ ...(input as Input), origin }, 'input');
}

function bindingViolations(route: { agent_runtime_id: unknown; fence_token: unknown; generation: unknown }): FieldViolation[] {
  const v: FieldViolation[] = [];
  const rid = route.agent_runtime_id;
  if (typeof rid !== 'string' || rid.trim().length === 0 || rid.length > MAX_SHORT_STRING) {
    v.push({ field: 'agent_runtime_id', description: 'must be a non-empty runtime id' });
  }
  const fence = route.fence_token;
  if (typeof fence !== 'number' || !Number.isSafeInteger(fence) || fence < 0) {
    v.push({ field: 'fence_token', description: 'is required and must be a non-negative integer' });
  }
  const gen = route.generation;
  if (gen !== null && gen !== undefined && (typeof gen !== 'number' || !Number.isSafeInteger(gen) || gen < 0)) {
    v.push({ field: 'generation', description: 'must be a non-negative integer when set' });
  }
  return v;
}

function checkBinding(route: { agent_runtime_id: unknown; fence_token: unknown; generation: unknown }): void {
  const v = bindingViolations(route);
  if (v.length > 0) throw invalidArgument(v);
}
