/**
 * A reducer-level model of the `meerkat_mob_seam` composition (`mob.md` §1.2, §1.5, §1.7)
 * for tests: one MeerkatMachine session (the kernel reducer of `src/machine`) and one
 * MobMachine, wired by the route table with its field bindings.
 *
 * - Mob → kernel: routed `Request*` effects enter a FIFO flushed head-first; a
 *   `RequestRuntimeRetire` whose runtime still awaits its session-ingress detach blocks the
 *   queue (no reordering). A kernel refusal is closed into the mob through the generated
 *   refusal closure and the head is dropped; the destroy route has no closure.
 * - Kernel → mob: `RuntimeBound | RuntimeRetired | RuntimeDestroyed` are folded into the
 *   mob right after the kernel commit, in effect order; rejected signals are dropped.
 */
import { reduce as reduceKernel, type MachineInput, type MachineState } from '../../src/machine/index.js';
import {
  foldSignal,
  isRoutedMobEffect,
  reduceMob,
  refusalClosure,
  SIGNAL_INPUT_FOR,
  type KernelSignal,
  type MobInput,
  type MobRejection,
  type MobState,
  type RoutedMobEffect,
} from '../../sidecar/machine/index.js';

export const ROUTE_FOR: Readonly<Record<RoutedMobEffect['type'] | KernelSignal['kind'], string>> = {
  RequestRuntimeBinding: 'binding_request_reaches_meerkat',
  RequestRuntimeIngress: 'work_request_reaches_meerkat',
  RequestRuntimeRetire: 'retire_request_reaches_meerkat',
  RequestRuntimeDestroy: 'destroy_request_reaches_meerkat',
  RuntimeBound: 'runtime_bound_reaches_mob',
  RuntimeRetired: 'runtime_retired_reaches_mob',
  RuntimeDestroyed: 'runtime_destroyed_reaches_mob',
};

/** Route-table projection of a routed mob effect into the kernel input (`runtime_epoch_id` is never carried). */
export function kernelInputFor(e: RoutedMobEffect): MachineInput {
  switch (e.type) {
    case 'RequestRuntimeBinding':
      return {
        type: 'PrepareBindings',
        agent_runtime_id: e.agent_runtime_id,
        fence_token: e.fence_token,
        generation: e.generation,
        runtime_epoch_id: null,
        session_id: e.session_id,
      };
    case 'RequestRuntimeIngress':
      return {
        type: 'Ingest',
        session_id: e.session_id,
        runtime_id: e.agent_runtime_id,
        fence_token: e.fence_token,
        generation: e.generation,
        runtime_epoch_id: null,
        work_id: e.work_id,
        origin: e.origin,
      };
    case 'RequestRuntimeRetire':
      return { type: 'Retire', session_id: e.session_id };
    case 'RequestRuntimeDestroy':
      return { type: 'Destroy', session_id: e.session_id };
  }
}

export interface TraceEntry {
  readonly side: 'mob' | 'kernel';
  readonly input: string;
  /** Transition name, or `rejected:<guard>` / `dropped:<guard>`. */
  readonly outcome: string;
}

export class Composition {
  kernel: MachineState;
  mob: MobState;
  readonly queue: RoutedMobEffect[] = [];
  readonly routes: string[] = [];
  readonly trace: TraceEntry[] = [];
  readonly dropped: MobRejection[] = [];

  constructor(kernel: MachineState, mob: MobState) {
    this.kernel = kernel;
    this.mob = mob;
  }

  /** Applies a kernel input directly (e.g. `RegisterSession`) and folds its signals. */
  kernelInput(input: MachineInput): void {
    const step = reduceKernel(this.kernel, input);
    if (!step.ok) throw new Error(`kernel refused ${input.type}: ${step.guard ?? step.kind}`);
    this.trace.push({ side: 'kernel', input: input.type, outcome: step.transition });
    this.kernel = step.state;
    this.publish(step.effects);
  }

  /** Applies a mob input (entry input or shell feedback), enqueues its routed effects and flushes. */
  mobInput(input: MobInput): void {
    const step = reduceMob(this.mob, input);
    if (!step.ok) throw new Error(`mob refused ${input.type}: ${step.guard ?? step.kind}`);
    this.trace.push({ side: 'mob', input: input.type, outcome: step.transition });
    this.mob = step.state;
    for (const e of step.effects) if (isRoutedMobEffect(e)) this.queue.push(e);
    this.flush();
  }

  /** Flushes the FIFO head-first; stops at a retire still waiting for its detach ack. */
  flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as RoutedMobEffect;
      if (head.type === 'RequestRuntimeRetire' && this.mob.pending_session_ingress_detach_runtime_ids.includes(head.agent_runtime_id)) {
        return;
      }
      this.queue.shift();
      this.routes.push(ROUTE_FOR[head.type]);
      const input = kernelInputFor(head);
      const step = reduceKernel(this.kernel, input);
      if (!step.ok) {
        this.trace.push({ side: 'kernel', input: input.type, outcome: `rejected:${step.guard ?? step.kind}` });
        const closure = refusalClosure(head, {
          code: step.kind === 'GuardRejected' ? 'dsl_guard_rejected' : 'dsl_no_matching_transition',
          message: `${input.type} refused`,
        });
        if (closure === null) throw new Error(`destroy refused by the kernel: ${step.guard ?? step.kind}`);
        const closed = reduceMob(this.mob, closure);
        if (!closed.ok) throw new Error(`refusal closure ${closure.type} rejected by ${closed.guard ?? closed.kind}`);
        this.trace.push({ side: 'mob', input: closure.type, outcome: closed.transition });
        this.mob = closed.state;
        continue;
      }
      this.trace.push({ side: 'kernel', input: input.type, outcome: step.transition });
      this.kernel = step.state;
      this.publish(step.effects);
    }
  }

  private publish(effects: readonly { readonly type: string }[]): void {
    for (const e of effects) {
      if (e.type !== 'RuntimeBound' && e.type !== 'RuntimeRetired' && e.type !== 'RuntimeDestroyed') continue;
      const signal = e as KernelSignal & { readonly type: KernelSignal['kind'] };
      this.routes.push(ROUTE_FOR[signal.type]);
      const outcome = foldSignal(this.mob, { kind: signal.type, agent_runtime_id: signal.agent_runtime_id, fence_token: signal.fence_token });
      if (outcome.outcome === 'applied') {
        this.trace.push({ side: 'mob', input: SIGNAL_INPUT_FOR[signal.type], outcome: outcome.step.transition });
        this.mob = outcome.step.state;
      } else {
        this.trace.push({ side: 'mob', input: SIGNAL_INPUT_FOR[signal.type], outcome: `dropped:${outcome.rejection.guard ?? outcome.rejection.kind}` });
        this.dropped.push(outcome.rejection);
      }
    }
  }
}
