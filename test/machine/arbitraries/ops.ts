import fc from 'fast-check';
import type { OpLifecycleAction, OpsInput } from '../../../src/machine/arms/ops.js';
import type { OpKind, OpOutcomeKind, OpStatus, OpTerminalPayload, OperationSource } from '../../../src/machine/state.js';
import { opId, optional, pick, POOL, requestId, runId, smallCount } from './pool.js';

/** Every operation kind, biased towards the public kinds. */
export const opKindArb: fc.Arbitrary<OpKind> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<OpKind>('BackgroundToolOp', 'MobMemberChild') },
  { weight: 1, arbitrary: fc.constantFrom<OpKind>('BackgroundToolCapacitySlot', 'DetachedJobWait') },
);

const OUTCOMES: readonly OpOutcomeKind[] = ['Completed', 'Failed', 'Aborted', 'Cancelled', 'Retired', 'Terminated'];
/** Any terminal outcome kind. */
export const outcomeArb: fc.Arbitrary<OpOutcomeKind> = pick(OUTCOMES);

const ACTIONS: readonly OpLifecycleAction[] = [
  'Start',
  'Fail',
  'PeerReady',
  'ProgressReported',
  'Complete',
  'Abort',
  'Cancel',
  'RetireRequested',
  'RetireCompleted',
  'Terminate',
];
/** Any lifecycle action. */
export const actionArb: fc.Arbitrary<OpLifecycleAction> = pick(ACTIONS);

const text = fc.constantFrom('ok', 'boom', 'stopping');

/** A payload whose variant matches `outcome`. */
export function payloadFor(outcome: OpOutcomeKind): fc.Arbitrary<OpTerminalPayload> {
  switch (outcome) {
    case 'Completed':
      return text.map((result) => ({ kind: 'Completed', result }));
    case 'Failed':
      return text.map((error) => ({ kind: 'Failed', error }));
    case 'Aborted':
      return optional(text).map((reason) => ({ kind: 'Aborted', reason }));
    case 'Cancelled':
      return optional(text).map((reason) => ({ kind: 'Cancelled', reason }));
    case 'Retired':
      return fc.constant({ kind: 'Retired' });
    case 'Terminated':
      return text.map((reason) => ({ kind: 'Terminated', reason }));
  }
}

/** Outcome + payload, usually `target` with a matching payload, sometimes a mismatch. */
function outcomeAndPayload(target: OpOutcomeKind): fc.Arbitrary<{ outcome: OpOutcomeKind; payload: OpTerminalPayload }> {
  return fc.oneof(
    { weight: 8, arbitrary: payloadFor(target).map((payload) => ({ outcome: target, payload })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(outcomeArb, outcomeArb)
        .chain(([o, p]) => payloadFor(p).map((payload) => ({ outcome: o, payload }))),
    },
  );
}

const none = { session_id: null, peer_id: null, address: null, realm_id: null, job_id: null };
/** Operation sources: mostly absent or valid, occasionally malformed. */
export const sourceArb: fc.Arbitrary<OperationSource | null> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant<OperationSource>({ ...none, kind: 'SessionChild', session_id: 's-child' }) },
  {
    weight: 1,
    arbitrary: fc.constant<OperationSource>({ ...none, kind: 'BackendPeer', peer_id: 'peer-1', address: 'inproc://p' }),
  },
  {
    weight: 1,
    arbitrary: fc.constant<OperationSource>({ ...none, kind: 'DetachedJob', realm_id: 'realm-1', job_id: 'job-1' }),
  },
  { weight: 1, arbitrary: fc.constant<OperationSource>({ ...none, kind: 'SessionChild' }) },
);

const terminalInput = <T extends 'CompleteOp' | 'FailOp' | 'CancelOp' | 'AbortOp' | 'RetireCompletedOp' | 'TerminateOp'>(
  type: T,
  target: OpOutcomeKind,
) =>
  fc.record({ operation_id: opId, op: outcomeAndPayload(target) }).map(({ operation_id, op }) => ({
    type,
    operation_id,
    outcome: op.outcome,
    payload: op.payload,
  }));

/** Wait members: mostly one of two small sets so requests and satisfactions meet. */
const idsArb: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<string[]>(['op-1'], ['op-1', 'op-2']) },
  { weight: 1, arbitrary: fc.subarray<string>([...POOL.ops], { minLength: 1 }) },
);
/** Wait request / run ids, biased towards the first pool entries. */
const waitRequestArb = fc.oneof({ weight: 3, arbitrary: fc.constant('req-1') }, { weight: 1, arbitrary: requestId });
const waitRunArb = fc.oneof({ weight: 3, arbitrary: fc.constant('run-1') }, { weight: 1, arbitrary: runId });
const identityMap = (ids: readonly string[]): Record<string, string> => Object.fromEntries(ids.map((id) => [id, id]));

/** Wait-all witnesses: ids, a sequence (sometimes with a repeated id), identity token maps. */
const waitWitnessArb = fc
  .tuple(idsArb, fc.boolean(), waitRequestArb)
  .chain(([ids, repeat, wait_request_id]) =>
    fc.record({
      wait_request_id: fc.constant(wait_request_id),
      operation_ids: fc.constant(ids),
      operation_id_sequence: fc.constant(repeat ? [...ids, ids[0] ?? 'op-1'] : ids),
      operation_id_tokens: fc.constant(ids),
      operation_token_by_id: fc.constant(identityMap(ids)),
      operation_id_by_token: fc.constant(identityMap(ids)),
      repeated: fc.constant(repeat ? (ids[0] ?? null) : null),
    }),
  );

const recoverOpRecordArb: fc.Arbitrary<OpsInput> = fc.oneof(
  fc
    .record({
      operation_id: opId,
      status: pick(OUTCOMES as readonly OpStatus[]),
      kind: opKindArb,
      peer_ready: fc.boolean(),
      progress_count: smallCount,
      completion_sequence: fc.integer({ min: 1, max: 8 }),
    })
    .chain((r) =>
      payloadFor(r.status as OpOutcomeKind).map((terminal_payload) => ({
        type: 'RecoverOpRecord' as const,
        ...r,
        source: r.kind === 'DetachedJobWait' ? { ...none, kind: 'DetachedJob' as const, realm_id: 'realm-1', job_id: 'job-1' } : null,
        terminal_outcome: r.status as OpOutcomeKind,
        terminal_payload,
      })),
    ),
  fc.record({ operation_id: opId, progress_count: smallCount }).map((r) => ({
    type: 'RecoverOpRecord' as const,
    ...r,
    status: 'Running' as const,
    kind: 'DetachedJobWait' as const,
    source: { ...none, kind: 'DetachedJob' as const, realm_id: 'realm-1', job_id: 'job-1' },
    peer_ready: false,
    terminal_outcome: null,
    terminal_payload: null,
    completion_sequence: null,
  })),
);

/** Random inputs of the ops domain, drawn from the shared id pools so sequences interact. */
export const opsInputArb: fc.Arbitrary<OpsInput> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('RegisterOp' as const),
      operation_id: opId,
      kind: opKindArb,
      source: sourceArb,
      max_concurrent: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('StartOp' as const), operation_id: opId }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('RollbackUnreturnedOp' as const), operation_id: opId }) },
  { weight: 3, arbitrary: terminalInput('CompleteOp', 'Completed') },
  { weight: 2, arbitrary: terminalInput('FailOp', 'Failed') },
  { weight: 2, arbitrary: terminalInput('CancelOp', 'Cancelled') },
  { weight: 2, arbitrary: terminalInput('AbortOp', 'Aborted') },
  { weight: 2, arbitrary: terminalInput('RetireCompletedOp', 'Retired') },
  { weight: 2, arbitrary: terminalInput('TerminateOp', 'Terminated') },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('RetireRequestedOp' as const), operation_id: opId }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('PeerReadyOp' as const), operation_id: opId }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('ProgressReportedOp' as const), operation_id: opId }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('EvictCompletedOp' as const), operation_id: opId }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('CollectCompletedOp' as const), operation_id: opId }) },
  { weight: 1, arbitrary: recoverOpRecordArb },
  {
    weight: 1,
    arbitrary: fc
      .record({ operation_id: opId, kind: opKindArb, terminal_outcome: outcomeArb, completion_sequence: fc.integer({ min: 0, max: 8 }) })
      .chain((r) =>
        payloadFor(r.terminal_outcome).map((terminal_payload) => ({
          type: 'RecoverCompletionFeedEntry' as const,
          ...r,
          terminal_payload,
        })),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('ResolveOpLifecycleTransitionRejection' as const),
      operation_id: opId,
      action: actionArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(waitWitnessArb, optional(opId)).map(([w, notFound]) => ({
      type: 'ResolveWaitAllAdmission' as const,
      wait_request_id: w.wait_request_id,
      operation_id_sequence: w.operation_id_sequence,
      operation_ids: w.operation_ids,
      operation_id_tokens: w.operation_id_tokens,
      operation_token_by_id: w.operation_token_by_id,
      operation_id_by_token: w.operation_id_by_token,
      duplicate_operation_id: w.repeated,
      not_found_operation_id: notFound,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(waitWitnessArb, waitRunArb).map(([w, run_id]) => ({
      type: 'RequestWaitAll' as const,
      run_id,
      wait_request_id: w.wait_request_id,
      operation_id_sequence: w.operation_id_sequence,
      operation_ids: w.operation_ids,
      operation_id_tokens: w.operation_id_tokens,
      operation_token_by_id: w.operation_token_by_id,
      operation_id_by_token: w.operation_id_by_token,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('SatisfyWaitAll' as const),
      wait_request_id: waitRequestArb,
      run_id: waitRunArb,
      operation_id_tokens: idsArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'CancelWaitAll' as const }) },
);
