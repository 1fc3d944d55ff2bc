/**
 * Composition group (mob.md §1): the kernel side of routed input delivery. The mob sidecar
 * routes `RequestRuntimeBinding` → `PrepareBindings`, `RequestRuntimeIngress` → `Ingest`,
 * `RequestRuntimeRetire` → `Retire`, `RequestRuntimeDestroy` → `Destroy`, and the
 * session-ingress detach step before a retire (§1.9) → `SetPeerIngressContext{keep_alive=false}`.
 *
 * Refusals are answers, not exceptions: every `KernelError` a route causes comes back as
 * `{ accepted: false, code, message }` so the sidecar can fold it into its
 * `Resolve…Refusal` input. A refused route changes nothing. Routed signals
 * (RuntimeBound / RuntimeRetired / RuntimeDestroyed) land in the outbox in the same commit
 * as the state change that emits them.
 */
import type { KernelCore } from '../core.js';
import { invalidArgument, KernelError, type FieldViolation, type KernelErrorCode } from '../errors.js';
import { parseUuidV7 } from '../ids.js';
import { MAX_SHORT_STRING, validateInput, type Input } from '../input.js';
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
  | { readonly kind: 'DetachSessionIngress'; readonly session_id: string };

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
      if (!KINDS.includes(route?.kind)) throw invalidArgument([{ field: 'route', description: 'must be one of the five routed input kinds' }]);
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
    }
  }
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
