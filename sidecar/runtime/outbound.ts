/**
 * Requests the sidecar sends to the kernel, in the per-mob FIFO (`mob.md` §1.5). Each is written
 * to `mob_outbound` in the same transaction as the transition that emitted it and removed in the
 * transaction that folds its answer back, so a crash in between re-sends it after restart. Every
 * kernel route tolerates that replay: an exact re-binding is silent, work is deduplicated by its
 * work id (the input's idempotency key), a repeated retire or destroy only re-emits a signal the
 * machine drops, and a detach is idempotent.
 *
 * - `route`: one of the four routed MobMachine effects (`CompositionService.DeliverRoutedInput`),
 *   with the input to admit for `RequestRuntimeIngress`. A peer message's `RequestRuntimeIngress`
 *   (content `peer`) is realized as the `DeliverPeerMessage` route: the message lands in the
 *   receiver's durable peer inbox (decision 9) under the input id fixed here, so a re-sent one
 *   is deduplicated by the kernel.
 * - `detach`: `RequestSessionIngressDetachForMobDestroy` realized as the `DetachSessionIngress`
 *   route; it precedes its retire in the FIFO, which holds the retire until the ack is folded.
 * - `attach`: the member's session became ready (its `RuntimeBound` was folded): its peer
 *   ingress is claimed for the mob and its comms drain started
 *   (`DrainService.SetPeerIngressContext{keep_alive=true}`; idempotent), so peer messages in its
 *   inbox are admitted. Skipped when the runtime is no longer live when it is sent.
 */
import type { RoutedMobEffect } from '../machine/index.js';

/** What `RequestRuntimeIngress` admits in the member's session. */
export type WorkContent =
  | { readonly type: 'prompt'; readonly text: string }
  | {
      readonly type: 'peer';
      readonly from: string;
      readonly from_runtime_id: string;
      readonly body: string;
      /** The peer input's id (fixed when the message is sent; absent in rows of older sidecars). */
      readonly input_id?: string;
    };

export type OutboundRequest =
  | { readonly kind: 'route'; readonly effect: RoutedMobEffect; readonly content: WorkContent | null }
  | { readonly kind: 'detach'; readonly mob_id: string; readonly agent_runtime_id: string; readonly session_id: string }
  | { readonly kind: 'attach'; readonly mob_id: string; readonly agent_runtime_id: string; readonly session_id: string };

/** A request as stored (`id` orders the FIFO). */
export interface QueuedRequest {
  readonly id: number;
  readonly request: OutboundRequest;
  readonly trace_context: string | null;
}

/** Short description for logs. */
export function describeRequest(r: OutboundRequest): string {
  if (r.kind === 'detach') return `DetachSessionIngress(${r.session_id}) for ${r.agent_runtime_id}`;
  if (r.kind === 'attach') return `SetPeerIngressContext(${r.session_id}, keep_alive) for ${r.agent_runtime_id}`;
  const e = r.effect;
  if (e.type === 'RequestRuntimeIngress' && r.content?.type === 'peer') return `DeliverPeerMessage(${r.content.from} → ${e.agent_runtime_id} @ ${e.session_id})`;
  return e.type === 'RequestRuntimeDestroy' ? `${e.type}(${e.session_id})` : `${e.type}(${e.agent_runtime_id} @ ${e.session_id})`;
}
