/**
 * Projection of a queued request onto `CompositionService.DeliverRoutedInput` (the route table of
 * `mob.md` §1.2: `runtime_id ← agent_runtime_id` for ingress, only `session_id` for retire and
 * destroy; `runtime_epoch_id` is never carried). Routed work admits its content with the work id
 * as idempotency key, so a re-sent request joins the input it already created. A peer message
 * (ingress with `peer` content) takes the `deliver_peer_message` route with the receiver's
 * placement, the sender member as peer id and the input id fixed at send time, so a re-sent one
 * is deduplicated by the kernel.
 */
import type { DeliverRoutedInputRequest } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { Durability, HandlingMode, type Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import type { OutboundRequest, WorkContent } from './outbound.js';

/** The kernel input routed work admits. */
export function workInput(mobId: string, workId: string, content: WorkContent | null): Input {
  const body: Input['body'] =
    content?.type === 'peer'
      ? {
          input_type: {
            $case: 'peer',
            peer: { convention: { type: { $case: 'message', message: {} } }, body: content.body, handling_mode: HandlingMode.UNSPECIFIED },
          },
        }
      : { input_type: { $case: 'prompt', prompt: { text: content?.text ?? '', handling_mode: HandlingMode.UNSPECIFIED } } };
  const origin: Input['origin'] =
    content?.type === 'peer'
      ? { type: { $case: 'peer', peer: { peer_id: content.from } } }
      : { type: { $case: 'external', external: { source_name: `mob:${mobId}` } } };
  return { durability: Durability.UNSPECIFIED, idempotency_key: workId, correlation_id: workId, origin, body };
}

/** The peer input a peer message is admitted as (its origin is set by the kernel from `sender`). */
export function peerMessageInput(workId: string, content: Extract<WorkContent, { type: 'peer' }>): Input {
  return {
    ...(content.input_id !== undefined ? { id: content.input_id } : {}),
    durability: Durability.UNSPECIFIED,
    idempotency_key: workId,
    correlation_id: workId,
    body: {
      input_type: {
        $case: 'peer',
        peer: { convention: { type: { $case: 'message', message: {} } }, body: content.body, handling_mode: HandlingMode.UNSPECIFIED },
      },
    },
  };
}

/** The comms runtime id a member's peer ingress is attached under (one per incarnation). */
export function memberCommsRuntimeId(mobId: string, agentRuntimeId: string): string {
  return `mob/${mobId}/${agentRuntimeId}`;
}

export function routeRequest(mobId: string, r: Exclude<OutboundRequest, { kind: 'attach' }>): DeliverRoutedInputRequest {
  if (r.kind === 'detach') return { route: { $case: 'detach_session_ingress', detach_session_ingress: { session_id: r.session_id } } };
  const e = r.effect;
  if (e.type === 'RequestRuntimeIngress' && r.content?.type === 'peer') {
    return {
      route: {
        $case: 'deliver_peer_message',
        deliver_peer_message: {
          session_id: e.session_id,
          sender: r.content.from,
          sender_runtime_id: r.content.from_runtime_id,
          agent_runtime_id: e.agent_runtime_id,
          fence_token: e.fence_token,
          generation: e.generation,
          input: peerMessageInput(e.work_id, r.content),
        },
      },
    };
  }
  switch (e.type) {
    case 'RequestRuntimeBinding':
      return {
        route: {
          $case: 'request_runtime_binding',
          request_runtime_binding: { session_id: e.session_id, agent_runtime_id: e.agent_runtime_id, fence_token: e.fence_token, generation: e.generation },
        },
      };
    case 'RequestRuntimeIngress':
      return {
        route: {
          $case: 'request_runtime_ingress',
          request_runtime_ingress: {
            session_id: e.session_id,
            agent_runtime_id: e.agent_runtime_id,
            fence_token: e.fence_token,
            generation: e.generation,
            work_id: e.work_id,
            input: workInput(mobId, e.work_id, r.content),
          },
        },
      };
    case 'RequestRuntimeRetire':
      return { route: { $case: 'request_runtime_retire', request_runtime_retire: { session_id: e.session_id } } };
    case 'RequestRuntimeDestroy':
      return { route: { $case: 'request_runtime_destroy', request_runtime_destroy: { session_id: e.session_id } } };
  }
}
