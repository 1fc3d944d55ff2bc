/**
 * Folding the seam into the MobMachine (`mob.md` §1.2, §1.4, §1.7): kernel signals become
 * mob signal inputs, refused routed requests become the generated refusal-closure inputs.
 *
 * A signal the machine rejects (unknown or already-retired runtime, another mob's member,
 * stale fence, wrong phase) is *dropped*: logged by the shell, never answered. Only the
 * two projected fields matter; stream metadata (`seq`, `session_id`) is for routing and
 * dedup in the shell.
 */
import type { ObserveRuntimeDestroyed, ObserveRuntimeReady, ObserveRuntimeRetired } from './arms/seam.js';
import { SIGNAL_INPUT_FOR } from './arms/seam.js';
import type { RequestRuntimeBinding, RequestRuntimeIngress, RequestRuntimeRetire, RoutedMobEffect } from './effects.js';
import type { MobInput } from './inputs.js';
import type { MobRejection, MobTransition } from './reduce.js';
import { describeMobRejection, reduceMob } from './reduce.js';
import type { MobState } from './state.js';

/** A kernel composition signal as the sidecar receives it. */
export interface KernelSignal {
  readonly kind: keyof typeof SIGNAL_INPUT_FOR;
  readonly agent_runtime_id: string;
  readonly fence_token: number;
}

export type SignalInput = ObserveRuntimeReady | ObserveRuntimeRetired | ObserveRuntimeDestroyed;

/** The mob signal a kernel signal routes to (`runtime_*_reaches_mob`). */
export function signalInput(signal: KernelSignal): SignalInput {
  return { type: SIGNAL_INPUT_FOR[signal.kind], agent_runtime_id: signal.agent_runtime_id, fence_token: signal.fence_token };
}

export type FoldOutcome =
  | { readonly outcome: 'applied'; readonly step: MobTransition }
  | { readonly outcome: 'dropped'; readonly rejection: MobRejection; readonly reason: string };

/** Folds one kernel signal: applied, or dropped with the rejection that explains why. */
export function foldSignal(state: MobState, signal: KernelSignal): FoldOutcome {
  const step = reduceMob(state, signalInput(signal));
  if (step.ok) return { outcome: 'applied', step };
  return { outcome: 'dropped', rejection: step, reason: describeMobRejection(step) };
}

/** A consumer refusal of a routed request: the kernel's stable error code and message. */
export interface ConsumerRefusal {
  readonly code: string;
  readonly message: string;
}

/**
 * The closure input for a refused routed effect (`mob.md` §1.4), or `null` for
 * `RequestRuntimeDestroy`, whose route has no closure.
 */
export function refusalClosure(effect: RoutedMobEffect, refusal: ConsumerRefusal): MobInput | null {
  switch (effect.type) {
    case 'RequestRuntimeBinding':
      return bindingRefusal(effect, refusal);
    case 'RequestRuntimeIngress':
      return ingressRefusal(effect, refusal);
    case 'RequestRuntimeRetire':
      return retireRefusal(effect, refusal);
    case 'RequestRuntimeDestroy':
      return null;
  }
}

function bindingRefusal(e: RequestRuntimeBinding, r: ConsumerRefusal): MobInput {
  return {
    type: 'ResolveRuntimeBindingRefusal',
    agent_identity: e.agent_identity,
    agent_runtime_id: e.agent_runtime_id,
    session_id: e.session_id,
    refusal_code: r.code,
    reason: r.message,
  };
}

function ingressRefusal(e: RequestRuntimeIngress, r: ConsumerRefusal): MobInput {
  return {
    type: 'ResolveRuntimeIngressRefusal',
    agent_runtime_id: e.agent_runtime_id,
    fence_token: e.fence_token,
    session_id: e.session_id,
    work_id: e.work_id,
    origin: e.origin,
    refusal_code: r.code,
    reason: r.message,
  };
}

function retireRefusal(e: RequestRuntimeRetire, r: ConsumerRefusal): MobInput {
  return {
    type: 'ResolveRuntimeRetireRefusal',
    agent_identity: e.agent_identity,
    agent_runtime_id: e.agent_runtime_id,
    session_id: e.session_id,
    refusal_code: r.code,
    reason: r.message,
  };
}
