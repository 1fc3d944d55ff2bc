/**
 * Proto ⇄ kernel conversions (src/server/mapping.ts): inputs round-trip, and the structural
 * problems only the proto shape can have (unset required messages and oneofs, enums that name
 * nothing) are INVALID_ARGUMENT with the request's field paths.
 */
import { describe, expect, it } from 'vitest';
import { Durability, HandlingMode, PeerResponseStatus, type Input } from '../../src/gen/meerkat/kernel/v1/types.js';
import { KernelError } from '../../src/kernel/errors.js';
import type { Input as KernelInput } from '../../src/kernel/input.js';
import { completionOutcomeToProto, inputFromProto, inputToProto, switchTurnRequestFromProto, toolFilterFromProto } from '../../src/server/mapping.js';

function violations(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e.violations.map((v) => v.field);
    throw e;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('inputs', () => {
  it('round-trip every body variant and origin', () => {
    const inputs: KernelInput[] = [
      { id: null, durability: null, origin: null, idempotency_key: 'k', supersession_key: null, correlation_id: 'c', body: { input_type: 'prompt', text: 't', handling_mode: 'steer' } },
      {
        id: null,
        durability: 'ephemeral',
        origin: { type: 'peer', peer_id: 'p', runtime_id: null },
        idempotency_key: null,
        supersession_key: 's',
        correlation_id: null,
        body: { input_type: 'peer', convention: { type: 'response_terminal', request_id: 'r', status: 'failed' }, body: 'b', handling_mode: null },
      },
      {
        id: null,
        durability: 'derived',
        origin: { type: 'flow', flow_id: 'f', step_index: 2 },
        idempotency_key: null,
        supersession_key: null,
        correlation_id: null,
        body: { input_type: 'flow_step', step_id: 's1', instructions: 'do', handling_mode: 'queue' },
      },
      {
        id: null,
        durability: 'durable',
        origin: { type: 'external', source_name: 'x' },
        idempotency_key: null,
        supersession_key: null,
        correlation_id: null,
        body: { input_type: 'external_event', event_type: 'e', payload: '{}', handling_mode: null },
      },
      {
        id: null,
        durability: null,
        origin: { type: 'system' },
        idempotency_key: null,
        supersession_key: null,
        correlation_id: null,
        body: { input_type: 'continuation', reason: 'go on', handling_mode: null, request_id: 'r1' },
      },
      { id: null, durability: null, origin: { type: 'operator' }, idempotency_key: null, supersession_key: null, correlation_id: null, body: { input_type: 'operation', operation_id: 'o', event: 'done' } },
    ];
    for (const i of inputs) expect(inputFromProto(inputToProto(i))).toEqual(i);
  });

  it('unset input, body, convention and enums naming nothing are field violations', () => {
    expect(violations(() => inputFromProto(undefined))).toEqual(['input']);
    expect(violations(() => inputFromProto({ durability: Durability.UNSPECIFIED }))).toEqual(['input.body']);
    const peer: Input = {
      durability: 9 as Durability,
      origin: {},
      body: { input_type: { $case: 'peer', peer: { body: '', handling_mode: 7 as HandlingMode } } },
    };
    expect(violations(() => inputFromProto(peer))).toEqual(['input.durability', 'input.origin', 'input.body.convention', 'input.body.handling_mode']);
    const terminal: Input = {
      durability: Durability.UNSPECIFIED,
      body: {
        input_type: {
          $case: 'peer',
          peer: { body: '', handling_mode: 0, convention: { type: { $case: 'response_terminal', response_terminal: { request_id: 'r', status: PeerResponseStatus.UNSPECIFIED } } } },
        },
      },
    };
    expect(violations(() => inputFromProto(terminal))).toEqual(['input.body.convention.status']);
  });
});

describe('other conversions', () => {
  it('tool filters need a variant; switch requests need approval and duration', () => {
    expect(toolFilterFromProto({ kind: { $case: 'allow', allow: { names: ['a'] } } }, 'filter')).toEqual({ kind: 'Allow', names: ['a'] });
    expect(violations(() => toolFilterFromProto({}, 'filter'))).toEqual(['filter']);
    expect(violations(() => switchTurnRequestFromProto(undefined, 'request'))).toEqual(['request']);
    expect(violations(() => switchTurnRequestFromProto({ request_id: 'x', target_model: 'm', target_realtime: false, approval: 0 }, 'request'))).toEqual([
      'request.approval',
      'request.duration',
    ]);
  });

  it('completion outcomes keep their variant', () => {
    expect(completionOutcomeToProto({ kind: 'completed', result: { text: 'hi' } })).toEqual({ kind: { $case: 'completed', completed: { result: { text: 'hi' } } } });
    expect(completionOutcomeToProto({ kind: 'abandoned', reason: { kind: 'max_attempts_exhausted', attempts: 3 }, error: null })).toEqual({
      kind: { $case: 'abandoned', abandoned: { reason: { kind: { $case: 'max_attempts_exhausted', max_attempts_exhausted: { attempts: 3 } } }, error: undefined } },
    });
  });
});
