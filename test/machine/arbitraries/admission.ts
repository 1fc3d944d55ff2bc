import fc from 'fast-check';
import {
  ADMISSION_INPUT_KINDS,
  type AdmissionInput,
  type ContinuationKind,
  type InputDurability,
  type InputOriginKind,
  type PeerResponseTerminalStatus,
} from '../../../src/machine/arms/admission.js';
import type { InputLifecycleInput } from '../../../src/machine/arms/input-lifecycle.js';
import type { InputLane } from '../../../src/machine/state.js';
import { idempotencyKey, inputId, optional, pick } from './pool.js';

const kind = pick(ADMISSION_INPUT_KINDS);
const origin = pick<InputOriginKind>(['Operator', 'Peer', 'Flow', 'System', 'External']);
/** Mostly valid durabilities so the pipeline usually proceeds. */
const durability: fc.Arbitrary<InputDurability> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<InputDurability>('Durable') },
  { weight: 2, arbitrary: fc.constant<InputDurability>('Ephemeral') },
  { weight: 1, arbitrary: fc.constant<InputDurability>('Derived') },
  { weight: 1, arbitrary: fc.constant<InputDurability>('Missing') },
);
const prtStatus = pick<PeerResponseTerminalStatus>(['NotPeerTerminal', 'Completed', 'Failed', 'Cancelled']);
const mostlyTrue = fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const mostlyFalse = fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const requestedLane: fc.Arbitrary<InputLane | null> = fc.constantFrom<InputLane | null>(null, null, 'Queue', 'Steer');
const continuationKind: fc.Arbitrary<ContinuationKind> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<ContinuationKind>('Ordinary') },
  { weight: 1, arbitrary: fc.constant<ContinuationKind>('WorkgraphAttention') },
);

/** Accept-signal flag triples, biased toward the legal combinations (never both rip and iy, mostly). */
const acceptFlags = fc.oneof(
  { weight: 3, arbitrary: fc.record({ rip: fc.constant(false), iy: fc.constant(false), wake: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ rip: fc.constant(true), iy: fc.constant(false), wake: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ rip: fc.constant(false), iy: fc.constant(true), wake: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ rip: fc.boolean(), iy: fc.boolean(), wake: fc.boolean() }) },
);

/** Random admission-domain inputs whose ids come from the shared pools. */
export const admissionInputArb: fc.Arbitrary<AdmissionInput> = fc.oneof(
  fc.record({
    type: fc.constant('ResolveAdmissionValidation' as const),
    input_id: inputId,
    kind,
    origin,
    durability,
    peer_mode_valid: mostlyTrue,
    prt_struct_valid: mostlyTrue,
    prt_status: prtStatus,
  }),
  fc.record({
    type: fc.constant('ResolveAdmissionIdempotency' as const),
    input_id: inputId,
    idempotency_key: optional(idempotencyKey),
  }),
  fc.record({
    type: fc.constant('RegisterAcceptedIdempotency' as const),
    input_id: inputId,
    idempotency_key: idempotencyKey,
  }),
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('ResolveAdmissionPlan' as const),
      input_id: inputId,
      kind,
      requested_lane: requestedLane,
      continuation_kind: continuationKind,
      silent_intent_match: mostlyFalse,
      existing_superseded_input_id: optional(inputId),
      runtime_running: fc.boolean(),
      active_turn_boundary_available: fc.boolean(),
      without_wake: mostlyFalse,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ input_id: inputId, flags: acceptFlags }).map(
      ({ input_id, flags }): AdmissionInput => ({
        type: 'AcceptWithCompletion',
        input_id,
        request_immediate_processing: flags.rip,
        interrupt_yielding: flags.iy,
        wake_if_idle: flags.wake,
      }),
    ),
  },
  fc.record({ type: fc.constant('AcceptWithoutWake' as const), input_id: inputId }),
);

/**
 * A whole admission pipeline for one pooled id (§3.2): validation, idempotency, plan, lane
 * admission, key registration and the accept signal. Guesses the running flag, lane and accept
 * flags, so some steps may still be refused; concatenate these with single random inputs to
 * reach deep into the input lifecycle quickly.
 */
export const admissionSequenceArb: fc.Arbitrary<(AdmissionInput | InputLifecycleInput)[]> = fc
  .record({
    input_id: inputId,
    kind,
    requested_lane: requestedLane,
    running: fc.boolean(),
    key: optional(idempotencyKey),
    steer: fc.boolean(),
    wake: fc.boolean(),
    existing: optional(inputId),
  })
  .map(({ input_id, kind: k, requested_lane, running, key, steer, wake, existing }) => {
    const steps: (AdmissionInput | InputLifecycleInput)[] = [
      {
        type: 'ResolveAdmissionValidation',
        input_id,
        kind: k,
        origin: 'Operator',
        durability: 'Durable',
        peer_mode_valid: true,
        prt_struct_valid: true,
        prt_status: k === 'PeerResponseTerminal' ? 'Completed' : 'NotPeerTerminal',
      },
      { type: 'ResolveAdmissionIdempotency', input_id, idempotency_key: key },
      {
        type: 'ResolveAdmissionPlan',
        input_id,
        kind: k,
        requested_lane,
        continuation_kind: 'Ordinary',
        silent_intent_match: false,
        existing_superseded_input_id: k === 'PeerResponseProgress' ? existing : null,
        runtime_running: running,
        active_turn_boundary_available: false,
        without_wake: false,
      },
      { type: steer ? 'SteerAccepted' : 'QueueAccepted', input_id },
    ];
    if (k === 'Operation') steps.push({ type: 'ConsumeOnAccept', input_id });
    if (k === 'PeerResponseProgress' && existing !== null) {
      steps.push({ type: 'CoalesceInput', input_id: existing, aggregate_id: input_id });
    }
    if (key !== null) steps.push({ type: 'RegisterAcceptedIdempotency', input_id, idempotency_key: key });
    steps.push({
      type: 'AcceptWithCompletion',
      input_id,
      request_immediate_processing: false,
      interrupt_yielding: false,
      wake_if_idle: wake,
    });
    return steps;
  });
