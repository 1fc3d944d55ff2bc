import { describe, expect, it } from 'vitest';
import type {
  AdmissionInputKind,
  AdmissionResolved,
  ResolveAdmissionPlan,
  ResolveAdmissionValidation,
} from '../../src/machine/arms/admission.js';
import type { MachineInput } from '../../src/machine/inputs.js';
import { describeRejection, reduce } from '../../src/machine/reduce.js';
import type { Rejection, Step, Transition } from '../../src/machine/reduce.js';
import { FIRST_ADMISSION_SEQ, initialMachineState } from '../../src/machine/state.js';
import type { MachineState, Phase } from '../../src/machine/state.js';

// ---------------------------------------------------------------------------------------------
// helpers

const inPhase = (phase: Phase, extra: Partial<MachineState> = {}): MachineState => ({
  ...initialMachineState(),
  lifecycle_phase: phase,
  session_id: 's-1',
  ...(phase === 'Running' ? { current_run_id: 'run-1', pre_run_phase: 'Idle' as const } : {}),
  ...extra,
});
const idle = (extra: Partial<MachineState> = {}): MachineState => inPhase('Idle', extra);
const running = (extra: Partial<MachineState> = {}): MachineState => inPhase('Running', extra);

function accept(step: Step): Transition {
  if (!step.ok) throw new Error(describeRejection(step));
  return step;
}
function reject(step: Step): Rejection {
  if (step.ok) throw new Error(`expected rejection, ${step.transition} fired`);
  return step;
}
/** Apply inputs in order, failing on the first rejection. */
function run(state: MachineState, inputs: readonly MachineInput[]): { state: MachineState; steps: Transition[] } {
  const steps: Transition[] = [];
  let s = state;
  for (const input of inputs) {
    const t = accept(reduce(s, input));
    steps.push(t);
    s = t.state;
  }
  return { state: s, steps };
}

const validation = (over: Partial<ResolveAdmissionValidation> = {}): ResolveAdmissionValidation => ({
  type: 'ResolveAdmissionValidation',
  input_id: 'in-1',
  kind: 'Prompt',
  origin: 'Operator',
  durability: 'Durable',
  peer_mode_valid: true,
  prt_struct_valid: true,
  prt_status: 'NotPeerTerminal',
  ...over,
});

const plan = (over: Partial<ResolveAdmissionPlan> = {}): ResolveAdmissionPlan => ({
  type: 'ResolveAdmissionPlan',
  input_id: 'in-1',
  kind: 'Prompt',
  requested_lane: null,
  continuation_kind: 'Ordinary',
  silent_intent_match: false,
  existing_superseded_input_id: null,
  runtime_running: false,
  active_turn_boundary_available: false,
  without_wake: false,
  ...over,
});

function resolved(t: Transition): AdmissionResolved {
  const [e] = t.effects;
  if (e?.type !== 'AdmissionResolved') throw new Error('expected AdmissionResolved');
  return e as AdmissionResolved;
}

// ---------------------------------------------------------------------------------------------
// §3.3

describe('ResolveAdmissionValidation (§3.3)', () => {
  const cases: [string, Partial<ResolveAdmissionValidation>, 'Accept' | 'Reject', string | null][] = [
    ['DurabilityMissingRejected', { durability: 'Missing' }, 'Reject', 'DurabilityMissing'],
    ['ExternalDerivedRejected', { durability: 'Derived', origin: 'Operator' }, 'Reject', 'ExternalDerivedDurabilityForbidden'],
    ['ExternalDerivedRejected', { durability: 'Derived', origin: 'Peer', kind: 'ExternalEvent' }, 'Reject', 'ExternalDerivedDurabilityForbidden'],
    ['ExternalDerivedRejected', { durability: 'Derived', origin: 'External' }, 'Reject', 'ExternalDerivedDurabilityForbidden'],
    ['DerivedKindRejected', { durability: 'Derived', origin: 'Flow', kind: 'Prompt' }, 'Reject', 'DerivedDurabilityForbiddenForInputKind'],
    ['DerivedKindRejected', { durability: 'Derived', origin: 'System', kind: 'PeerRequest' }, 'Reject', 'DerivedDurabilityForbiddenForInputKind'],
    ['DerivedKindRejected', { durability: 'Derived', origin: 'Flow', kind: 'FlowStep' }, 'Reject', 'DerivedDurabilityForbiddenForInputKind'],
    ['PeerHandlingRejected', { kind: 'PeerResponseProgress', peer_mode_valid: false }, 'Reject', 'PeerHandlingModeInvalid'],
    ['PeerTerminalRejected', { kind: 'PeerResponseTerminal', prt_struct_valid: false, prt_status: 'Completed' }, 'Reject', 'PeerResponseTerminalInvalid'],
    ['PeerTerminalRejected', { kind: 'PeerResponseTerminal', prt_status: 'Cancelled' }, 'Reject', 'PeerResponseTerminalInvalid'],
    ['Accepted', {}, 'Accept', null],
    ['Accepted', { durability: 'Ephemeral', kind: 'PeerMessage', origin: 'Peer' }, 'Accept', null],
    ['Accepted', { durability: 'Derived', origin: 'System', kind: 'Continuation' }, 'Accept', null],
    ['Accepted', { durability: 'Derived', origin: 'Flow', kind: 'ExternalEvent' }, 'Accept', null],
    ['Accepted', { kind: 'PeerResponseTerminal', prt_status: 'Failed' }, 'Accept', null],
  ];
  for (const [arm, over, result, reason] of cases) {
    it(`${arm}: ${JSON.stringify(over)}`, () => {
      for (const phase of ['Idle', 'Attached', 'Running'] as const) {
        const s = inPhase(phase);
        const t = accept(reduce(s, validation(over)));
        expect(t.transition).toBe(`ResolveAdmissionValidation${arm}`);
        expect(t.state).toBe(s);
        expect(t.effects).toEqual([
          { type: 'AdmissionValidationResolved', input_id: 'in-1', result, reject_reason: reason },
        ]);
      }
    });
  }

  it('durability rejection wins over peer-mode / terminal checks', () => {
    const t = accept(reduce(idle(), validation({ durability: 'Missing', peer_mode_valid: false, prt_status: 'Cancelled' })));
    expect(t.transition).toBe('ResolveAdmissionValidationDurabilityMissingRejected');
  });

  it('is not declared outside Idle/Attached/Running', () => {
    for (const phase of ['Initializing', 'Retired', 'Stopped', 'Destroyed'] as const) {
      const r = reject(reduce(inPhase(phase), validation()));
      expect(r.kind).toBe('NoMatchingTransition');
      expect(r.guard).toBeNull();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// §3.4

describe('ResolveAdmissionIdempotency / RegisterAcceptedIdempotency (§3.4)', () => {
  const tracked = idle({ input_phases: { 'in-1': 'Queued' } });

  it('NoKey / NewKey accept, Duplicate names the holder', () => {
    const noKey = accept(reduce(idle(), { type: 'ResolveAdmissionIdempotency', input_id: 'in-1', idempotency_key: null }));
    expect(noKey.transition).toBe('ResolveAdmissionIdempotencyNoKey');
    expect(noKey.effects).toEqual([
      { type: 'AdmissionIdempotencyResolved', input_id: 'in-1', result: 'Accept', existing_input_id: null },
    ]);
    const newKey = accept(reduce(idle(), { type: 'ResolveAdmissionIdempotency', input_id: 'in-1', idempotency_key: 'key-1' }));
    expect(newKey.transition).toBe('ResolveAdmissionIdempotencyNewKey');
    expect(newKey.effects[0]).toMatchObject({ result: 'Accept', existing_input_id: null });

    const registered = accept(
      reduce(tracked, { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' }),
    );
    const dup = accept(
      reduce(registered.state, { type: 'ResolveAdmissionIdempotency', input_id: 'in-2', idempotency_key: 'key-1' }),
    );
    expect(dup.transition).toBe('ResolveAdmissionIdempotencyDuplicate');
    expect(dup.state).toBe(registered.state);
    expect(dup.effects).toEqual([
      { type: 'AdmissionIdempotencyResolved', input_id: 'in-2', result: 'Deduplicated', existing_input_id: 'in-1' },
    ]);
  });

  it('ResolveAdmissionIdempotency is ingress-only', () => {
    const r = reject(reduce(inPhase('Retired'), { type: 'ResolveAdmissionIdempotency', input_id: 'in-1', idempotency_key: null }));
    expect(r.kind).toBe('NoMatchingTransition');
  });

  it('RegisterAcceptedIdempotency binds both directions and notifies', () => {
    const t = accept(reduce(tracked, { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' }));
    expect(t.transition).toBe('RegisterAcceptedIdempotency');
    expect(t.state.admission_idempotency_inputs).toEqual({ 'key-1': 'in-1' });
    expect(t.state.input_idempotency_keys).toEqual({ 'in-1': 'key-1' });
    expect(t.effects).toEqual([{ type: 'InputLifecycleNotice', input_id: 'in-1', phase: 'Queued' }]);
    // re-registering the same binding is accepted (idempotent)
    const again = accept(reduce(t.state, { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' }));
    expect(again.state).toEqual(t.state);
  });

  it('RegisterAcceptedIdempotency is legal Idle…Stopped, not Initializing/Destroyed', () => {
    for (const phase of ['Attached', 'Running', 'Retired', 'Stopped'] as const) {
      const s = inPhase(phase, { input_phases: { 'in-1': 'Consumed' } });
      accept(reduce(s, { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' }));
    }
    for (const phase of ['Initializing', 'Destroyed'] as const) {
      const r = reject(
        reduce(inPhase(phase, { input_phases: { 'in-1': 'Queued' } }), {
          type: 'RegisterAcceptedIdempotency',
          input_id: 'in-1',
          idempotency_key: 'key-1',
        }),
      );
      expect(r.kind).toBe('NoMatchingTransition');
    }
  });

  it('RegisterAcceptedIdempotency rejections', () => {
    const untracked = reject(reduce(idle(), { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' }));
    expect(untracked).toMatchObject({ kind: 'GuardRejected', guard: 'input_tracked' });

    const s = idle({
      input_phases: { 'in-1': 'Queued', 'in-2': 'Queued' },
      admission_idempotency_inputs: { 'key-1': 'in-1' },
      input_idempotency_keys: { 'in-1': 'key-1' },
    });
    const claimed = reject(reduce(s, { type: 'RegisterAcceptedIdempotency', input_id: 'in-2', idempotency_key: 'key-1' }));
    expect(claimed).toMatchObject({ kind: 'GuardRejected', guard: 'idempotency_key_unclaimed_or_bound_to_input' });
    const rebinding = reject(reduce(s, { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-2' }));
    expect(rebinding).toMatchObject({ kind: 'GuardRejected', guard: 'input_key_unbound_or_same' });
    expect(reduce(s, { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-2' })).toMatchObject({
      ok: false,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// §3.5

type Flags = { W: boolean; S: boolean; R: boolean; B: boolean };
const BOOLS = [false, true] as const;
const COMBOS: Flags[] = BOOLS.flatMap((W) =>
  BOOLS.flatMap((S) => BOOLS.flatMap((R) => BOOLS.map((B) => ({ W, S, R, B })))),
);

/** The flag / mode columns of §3.5, transcribed independently of the implementation. */
interface Expected {
  arm: string;
  lane: 'Queue' | 'Steer';
  plan: 'Queued' | 'ConsumedOnAccept';
  boundary: string;
  execution_kind: string;
  intent: string | null;
  apply_mode: string;
  wake_mode: string;
  drain_policy: string;
  routing_disposition: string;
  rip: boolean;
  iy: boolean;
  wii: boolean;
  rapa: boolean;
  rt: boolean;
  ehm: 'Queue' | null;
  lir: boolean;
  queue_mode: string;
  consume_point: string;
  queue_action: string;
}

const qTail = { drain_policy: 'QueueNextTurn', routing_disposition: 'Queue', queue_mode: 'Fifo', consume_point: 'OnRunComplete', queue_action: 'EnqueueTo' };
const sTail = { drain_policy: 'SteerBatch', routing_disposition: 'Steer', queue_mode: 'Fifo', consume_point: 'OnRunComplete', queue_action: 'EnqueueTo' };

function expectedFor(kind: AdmissionInputKind, req: 'Queue' | 'Steer' | null, cont: 'Ordinary' | 'WorkgraphAttention', f: Flags): Expected | null {
  const { W, S, R, B } = f;
  const RB = R || B;
  const transcript = kind !== 'Continuation' && kind !== 'Operation';
  const exec = kind === 'Continuation' ? 'ResumePending' : 'ContentTurn';
  const notPeerResp = kind !== 'PeerResponseProgress' && kind !== 'PeerResponseTerminal';
  const silentOk = !S || kind === 'PeerRequest';
  if (kind === 'PeerResponseTerminal' && req === 'Queue' && !S)
    return { arm: 'RequestedTerminalQueue', lane: 'Queue', plan: 'Queued', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: 'AppendContentAndRun', apply_mode: 'StageRunStart', wake_mode: W ? 'None' : 'WakeIfIdle', ...qTail, rip: false, iy: false, wii: !W, rapa: !W, rt: true, ehm: null, lir: false };
  if (kind === 'PeerResponseTerminal' && req === 'Steer' && !S)
    return { arm: 'RequestedTerminalSteer', lane: 'Steer', plan: 'Queued', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: 'AppendContentAndRun', apply_mode: 'StageRunStart', wake_mode: W ? 'None' : RB ? 'InterruptYielding' : 'WakeIfIdle', ...sTail, rip: true, iy: false, wii: false, rapa: true, rt: true, ehm: R ? null : 'Queue', lir: true };
  if (req === 'Queue' && notPeerResp && cont === 'Ordinary' && silentOk)
    return { arm: 'RequestedQueue', lane: 'Queue', plan: 'Queued', boundary: 'RunStart', execution_kind: exec, intent: null, apply_mode: 'StageRunStart', wake_mode: W || S ? 'None' : RB ? 'None' : 'WakeIfIdle', ...qTail, rip: false, iy: false, wii: !W && !S && !R && !B, rapa: !W && !S && !R && !B, rt: transcript, ehm: null, lir: false };
  if (req === 'Steer' && notPeerResp && cont === 'Ordinary' && silentOk)
    return { arm: 'RequestedSteer', lane: 'Steer', plan: 'Queued', boundary: S ? 'RunStart' : 'RunCheckpoint', execution_kind: exec, intent: null, apply_mode: S ? 'StageRunStart' : 'StageRunBoundary', wake_mode: W || S ? 'None' : RB ? 'InterruptYielding' : 'WakeIfIdle', ...sTail, rip: true, iy: false, wii: false, rapa: true, rt: transcript, ehm: (kind === 'PeerMessage' || kind === 'PeerRequest') && !R ? 'Queue' : null, lir: true };
  if (req === null && !S && (kind === 'Prompt' || kind === 'FlowStep' || kind === 'ExternalEvent'))
    return { arm: 'DefaultQueueKind', lane: 'Queue', plan: 'Queued', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: null, apply_mode: 'StageRunStart', wake_mode: W ? 'None' : RB ? 'None' : 'WakeIfIdle', ...qTail, rip: false, iy: false, wii: !W && !R && !B, rapa: !W && !R && !B, rt: true, ehm: null, lir: false };
  if (req === null && (kind === 'PeerMessage' || kind === 'PeerRequest') && silentOk)
    return { arm: 'DefaultPeerMessageOrRequest', lane: 'Queue', plan: 'Queued', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: null, apply_mode: 'StageRunStart', wake_mode: W || S ? 'None' : RB ? 'InterruptYielding' : 'WakeIfIdle', ...qTail, rip: false, iy: !W && !S && RB, wii: !W && !S && !R && !B, rapa: !W && !S, rt: true, ehm: null, lir: false };
  if (kind === 'PeerResponseProgress' && !S)
    return { arm: 'PeerResponseProgress', lane: 'Steer', plan: 'Queued', boundary: 'RunCheckpoint', execution_kind: 'ContentTurn', intent: null, apply_mode: 'StageRunBoundary', wake_mode: 'None', ...sTail, queue_mode: 'Coalesce', rip: false, iy: false, wii: false, rapa: false, rt: true, ehm: R ? null : 'Queue', lir: true };
  if (kind === 'PeerResponseTerminal' && req === null && !S)
    return { arm: 'DefaultPeerResponseTerminal', lane: 'Queue', plan: 'Queued', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: 'AppendContentAndRun', apply_mode: 'StageRunStart', wake_mode: W ? 'None' : 'WakeIfIdle', ...qTail, rip: false, iy: false, wii: !W, rapa: !W, rt: true, ehm: null, lir: false };
  if (kind === 'Continuation' && req === null && cont === 'Ordinary' && !S)
    return { arm: 'DefaultContinuation', lane: 'Steer', plan: 'Queued', boundary: 'RunCheckpoint', execution_kind: 'ResumePending', intent: null, apply_mode: 'StageRunBoundary', wake_mode: W ? 'None' : RB ? 'InterruptYielding' : 'WakeIfIdle', ...sTail, rip: false, iy: !W && RB, wii: !W && !R && !B, rapa: !W, rt: false, ehm: null, lir: true };
  if (kind === 'Continuation' && cont === 'WorkgraphAttention' && !S)
    return { arm: 'WorkgraphAttentionContinuation', lane: 'Queue', plan: 'Queued', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: null, apply_mode: 'StageRunStart', wake_mode: W ? 'None' : RB ? 'None' : 'WakeIfIdle', ...qTail, rip: false, iy: false, wii: !W && !R && !B, rapa: !W && !R && !B, rt: false, ehm: null, lir: false };
  if (kind === 'Operation' && req === null && !S)
    return { arm: 'Operation', lane: 'Queue', plan: 'ConsumedOnAccept', boundary: 'RunStart', execution_kind: 'ContentTurn', intent: null, apply_mode: 'Ignore', wake_mode: 'None', drain_policy: 'Ignore', routing_disposition: 'Drop', queue_mode: 'Priority', consume_point: 'OnAccept', queue_action: 'None', rip: false, iy: false, wii: false, rapa: false, rt: false, ehm: null, lir: false };
  return null;
}

const KINDS: AdmissionInputKind[] = [
  'Prompt',
  'PeerMessage',
  'PeerRequest',
  'PeerResponseProgress',
  'PeerResponseTerminal',
  'FlowStep',
  'ExternalEvent',
  'Continuation',
  'Operation',
];

describe('ResolveAdmissionPlan (§3.5)', () => {
  it('every (kind, requested lane, continuation kind, W, S, R, B) resolves per the table', () => {
    const seenArms = new Set<string>();
    let accepted = 0;
    let rejected = 0;
    for (const kind of KINDS) {
      for (const req of [null, 'Queue', 'Steer'] as const) {
        for (const cont of ['Ordinary', 'WorkgraphAttention'] as const) {
          if (cont === 'WorkgraphAttention' && kind !== 'Continuation') continue;
          for (const f of COMBOS) {
            const s = f.R ? running() : idle();
            const input = plan({
              kind,
              requested_lane: req,
              continuation_kind: cont,
              silent_intent_match: f.S,
              runtime_running: f.R,
              active_turn_boundary_available: f.B,
              without_wake: f.W,
            });
            const step = reduce(s, input);
            const exp = expectedFor(kind, req, cont, f);
            const label = JSON.stringify({ kind, req, cont, ...f });
            if (exp === null) {
              rejected += 1;
              expect(step.ok, label).toBe(false);
              expect(reject(step).kind, label).toBe('GuardRejected');
              continue;
            }
            accepted += 1;
            const t = accept(step);
            seenArms.add(exp.arm);
            expect(t.transition, label).toBe(`ResolveAdmissionPlan${exp.arm}`);
            const e = resolved(t);
            expect(
              {
                lane: e.lane,
                plan: e.plan,
                boundary: e.boundary,
                execution_kind: e.execution_kind,
                intent: e.peer_response_terminal_apply_intent,
                apply_mode: e.apply_mode,
                wake_mode: e.wake_mode,
                drain_policy: e.drain_policy,
                routing_disposition: e.routing_disposition,
                rip: e.request_immediate_processing,
                iy: e.interrupt_yielding,
                wii: e.wake_if_idle,
                rapa: e.requires_active_pre_admission,
                rt: e.record_transcript,
                ehm: e.execution_handling_mode,
                lir: e.live_interrupt_required,
                queue_mode: e.policy_queue_mode,
                consume_point: e.policy_consume_point,
                queue_action: e.queue_action,
              },
              label,
            ).toEqual(withoutArm(exp));
            expect(e.policy_version).toBe(1);
            expect(e.input_id).toBe('in-1');
            expect(e.queue_action_lane).toBe(e.queue_action === 'None' ? null : e.lane);
            expect(e.existing_action).toBeNull();
            expect(e.existing_input_id).toBeNull();
            // witnesses
            expect(t.state.admission_authorized_lanes['in-1']).toBe(exp.lane);
            expect(t.state.admission_authorized_plans['in-1']).toBe(exp.plan);
            expect(t.state.input_runtime_boundary['in-1']).toBe(exp.boundary);
            expect(t.state.input_runtime_execution_kind['in-1']).toBe(exp.execution_kind);
            expect(t.state.input_runtime_peer_response_terminal_apply_intent['in-1']).toBe(exp.intent ?? undefined);
            expect(t.state.input_is_prompt['in-1']).toBe(kind === 'Prompt');
            expect(t.state.lifecycle_phase).toBe(s.lifecycle_phase);
          }
        }
      }
    }
    expect(seenArms.size).toBe(11);
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  it('runtime_running must match the phase', () => {
    const r1 = reject(reduce(idle(), plan({ runtime_running: true })));
    expect(r1).toMatchObject({ kind: 'GuardRejected', guard: 'runtime_running_matches_phase' });
    const r2 = reject(reduce(running(), plan({ runtime_running: false })));
    expect(r2).toMatchObject({ kind: 'GuardRejected', guard: 'runtime_running_matches_phase' });
    // Attached is not Running
    accept(reduce(inPhase('Attached'), plan({ runtime_running: false })));
  });

  it('silent intent only admits PeerRequest', () => {
    const r = reject(reduce(idle(), plan({ kind: 'PeerMessage', silent_intent_match: true })));
    expect(r.kind).toBe('GuardRejected');
    expect(r.failures.map((f) => f.arm)).toContain('ResolveAdmissionPlanDefaultPeerMessageOrRequest');
    expect(r.failures.find((f) => f.arm === 'ResolveAdmissionPlanDefaultPeerMessageOrRequest')?.guard).toBe(
      'silent_intent_only_for_peer_request',
    );
    const silentSteer = resolved(
      accept(reduce(running(), plan({ kind: 'PeerRequest', requested_lane: 'Steer', silent_intent_match: true, runtime_running: true }))),
    );
    expect(silentSteer).toMatchObject({
      boundary: 'RunStart',
      apply_mode: 'StageRunStart',
      wake_mode: 'None',
      request_immediate_processing: true,
    });
  });

  it('PeerResponseProgress ignores the requested lane and mints a Coalesce witness for a tracked target', () => {
    const s = idle({ input_phases: { 'in-2': 'Queued' } });
    const t = accept(reduce(s, plan({ kind: 'PeerResponseProgress', requested_lane: 'Queue', existing_superseded_input_id: 'in-2' })));
    expect(t.transition).toBe('ResolveAdmissionPlanPeerResponseProgress');
    expect(resolved(t)).toMatchObject({ lane: 'Steer', existing_action: 'Coalesce', existing_input_id: 'in-2', policy_queue_mode: 'Coalesce' });
    expect(t.state.admission_authorized_existing_actions).toEqual({ 'in-1': 'Coalesce' });
    expect(t.state.admission_authorized_existing_targets).toEqual({ 'in-1': 'in-2' });

    // re-resolving without a target clears the witness
    const cleared = accept(reduce(t.state, plan({ kind: 'PeerResponseProgress' })));
    expect(cleared.state.admission_authorized_existing_actions).toEqual({});
    expect(cleared.state.admission_authorized_existing_targets).toEqual({});

    const untracked = reject(reduce(idle(), plan({ kind: 'PeerResponseProgress', existing_superseded_input_id: 'in-9' })));
    expect(untracked.failures).toContainEqual({
      arm: 'ResolveAdmissionPlanPeerResponseProgress',
      guard: 'coalesce_target_tracked_if_present',
    });
  });

  it('WorkGraph-attention continuations ignore the requested lane', () => {
    for (const req of [null, 'Queue', 'Steer'] as const) {
      const t = accept(reduce(idle(), plan({ kind: 'Continuation', continuation_kind: 'WorkgraphAttention', requested_lane: req })));
      expect(t.transition).toBe('ResolveAdmissionPlanWorkgraphAttentionContinuation');
    }
  });

  it('Operation with a requested lane is an ordinary RequestedQueue/Steer input', () => {
    const t = accept(reduce(idle(), plan({ kind: 'Operation', requested_lane: 'Queue' })));
    expect(t.transition).toBe('ResolveAdmissionPlanRequestedQueue');
    expect(resolved(t).record_transcript).toBe(false);
  });

  it('is not declared outside Idle/Attached/Running', () => {
    for (const phase of ['Initializing', 'Retired', 'Stopped', 'Destroyed'] as const) {
      expect(reject(reduce(inPhase(phase), plan())).kind).toBe('NoMatchingTransition');
    }
  });
});

function withoutArm(e: Expected): Omit<Expected, 'arm'> {
  const { arm: _arm, ...rest } = e;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// §3.6

describe('AcceptWithCompletion / AcceptWithoutWake (§3.6)', () => {
  const awc = (rip: boolean, iy: boolean, wake: boolean): MachineInput => ({
    type: 'AcceptWithCompletion',
    input_id: 'in-1',
    request_immediate_processing: rip,
    interrupt_yielding: iy,
    wake_if_idle: wake,
  });
  const ingress = { type: 'IngressAccepted', input_id: 'in-1' };
  const signal = (s: string) => ({ type: 'PostAdmissionSignal', signal: s });
  const cancel = {
    type: 'RuntimeEffectFact',
    kind: 'CancelAfterBoundary',
    reason: 'peer admission requested cooperative boundary cancel',
  };

  const table: [Phase, boolean, boolean, boolean, string, unknown[]][] = [
    ['Idle', false, false, false, 'IdleQueuedPassive', [ingress]],
    ['Idle', false, false, true, 'IdleQueuedWakeIfIdle', [ingress, signal('WakeLoop')]],
    ['Idle', true, false, false, 'IdleImmediate', [ingress, signal('RequestImmediateProcessing')]],
    ['Idle', true, false, true, 'IdleImmediate', [ingress, signal('RequestImmediateProcessing')]],
    ['Attached', true, false, false, 'AttachedImmediate', [ingress, signal('RequestImmediateProcessing'), { type: 'SubmitRunPrimitive', run_id: '' }]],
    ['Attached', true, false, true, 'AttachedImmediate', [ingress, signal('RequestImmediateProcessing'), { type: 'SubmitRunPrimitive', run_id: '' }]],
    ['Attached', false, false, false, 'AttachedQueuedPassive', [ingress]],
    ['Attached', false, false, true, 'AttachedQueuedWakeIfIdle', [ingress, signal('WakeLoop')]],
    ['Running', false, false, false, 'RunningQueuedPassive', [ingress]],
    ['Running', false, false, true, 'RunningQueuedWakeIfIdle', [ingress, signal('WakeLoop')]],
    ['Running', false, true, false, 'RunningInterruptYielding', [ingress, signal('InterruptYielding'), cancel]],
    ['Running', false, true, true, 'RunningInterruptYielding', [ingress, signal('InterruptYielding'), cancel]],
    ['Running', true, false, false, 'RunningImmediate', [ingress, signal('RequestImmediateProcessing'), cancel]],
    ['Running', true, false, true, 'RunningImmediate', [ingress, signal('RequestImmediateProcessing'), cancel]],
  ];
  for (const [phase, rip, iy, wake, arm, effects] of table) {
    it(`${phase} rip=${rip} iy=${iy} wake=${wake} → ${arm}`, () => {
      const s = inPhase(phase);
      const t = accept(reduce(s, awc(rip, iy, wake)));
      expect(t.transition).toBe(`AcceptWithCompletion${arm}`);
      expect(t.state).toBe(s);
      expect(t.effects).toEqual(effects);
    });
  }

  it('rejects interrupt_yielding outside Running and rip ∧ iy everywhere', () => {
    const idleIy = reject(reduce(idle(), awc(false, true, false)));
    expect(idleIy).toMatchObject({ kind: 'GuardRejected', guard: 'interrupt_yielding_not_requested' });
    const attachedIy = reject(reduce(inPhase('Attached'), awc(false, true, true)));
    // the first Attached arm is AttachedImmediate, so its first failing guard is reported
    expect(attachedIy).toMatchObject({ kind: 'GuardRejected', guard: 'immediate_processing_requested' });
    expect(attachedIy.failures).toContainEqual({
      arm: 'AcceptWithCompletionAttachedQueuedWakeIfIdle',
      guard: 'interrupt_yielding_not_requested',
    });
    for (const phase of ['Idle', 'Attached', 'Running'] as const) {
      const both = reject(reduce(inPhase(phase), awc(true, true, false)));
      expect(both.kind).toBe('GuardRejected');
      expect(both.failures.every((f) => f.guard !== 'session_registered')).toBe(true);
    }
    expect(reject(reduce(running(), awc(true, true, true))).guard).toBe('immediate_processing_not_requested');
  });

  it('requires a registered session and an ingress phase', () => {
    const r = reject(reduce(idle({ session_id: null }), awc(false, false, true)));
    expect(r).toMatchObject({ kind: 'GuardRejected', guard: 'session_registered' });
    for (const phase of ['Initializing', 'Retired', 'Stopped', 'Destroyed'] as const) {
      expect(reject(reduce(inPhase(phase), awc(false, false, false))).kind).toBe('NoMatchingTransition');
      expect(reject(reduce(inPhase(phase), { type: 'AcceptWithoutWake', input_id: 'in-1' })).kind).toBe(
        'NoMatchingTransition',
      );
    }
  });

  it('AcceptWithoutWake emits IngressAccepted only', () => {
    for (const phase of ['Idle', 'Attached', 'Running'] as const) {
      const s = inPhase(phase);
      const t = accept(reduce(s, { type: 'AcceptWithoutWake', input_id: 'in-1' }));
      expect(t.transition).toBe('AcceptWithoutWake');
      expect(t.state).toBe(s);
      expect(t.effects).toEqual([ingress]);
    }
    const r = reject(reduce(idle({ session_id: null }), { type: 'AcceptWithoutWake', input_id: 'in-1' }));
    expect(r).toMatchObject({ kind: 'GuardRejected', guard: 'session_registered' });
  });
});

// ---------------------------------------------------------------------------------------------
// §3.2 pipeline

describe('admission pipeline (§3.2)', () => {
  it('prompt on an idle session: Validation → Idempotency → Plan → QueueAccepted → RegisterAcceptedIdempotency → AcceptWithCompletion', () => {
    const { state, steps } = run(idle(), [
      validation(),
      { type: 'ResolveAdmissionIdempotency', input_id: 'in-1', idempotency_key: 'key-1' },
      plan(),
      { type: 'QueueAccepted', input_id: 'in-1' },
      { type: 'RegisterAcceptedIdempotency', input_id: 'in-1', idempotency_key: 'key-1' },
      { type: 'AcceptWithCompletion', input_id: 'in-1', request_immediate_processing: false, interrupt_yielding: false, wake_if_idle: true },
    ]);
    expect(steps.map((s) => s.transition)).toEqual([
      'ResolveAdmissionValidationAccepted',
      'ResolveAdmissionIdempotencyNewKey',
      'ResolveAdmissionPlanDefaultQueueKind',
      'QueueAccepted',
      'RegisterAcceptedIdempotency',
      'AcceptWithCompletionIdleQueuedWakeIfIdle',
    ]);
    const admission = resolved(steps[2] as Transition);
    expect(admission).toMatchObject({ lane: 'Queue', plan: 'Queued', wake_if_idle: true, request_immediate_processing: false, interrupt_yielding: false });
    expect(steps[5]?.effects).toEqual([
      { type: 'IngressAccepted', input_id: 'in-1' },
      { type: 'PostAdmissionSignal', signal: 'WakeLoop' },
    ]);
    expect(state.lifecycle_phase).toBe('Idle');
    expect(state.input_phases).toEqual({ 'in-1': 'Queued' });
    expect(state.input_lane).toEqual({ 'in-1': 'Queue' });
    expect(state.input_recovery_lanes).toEqual({ 'in-1': 'Queue' });
    expect(state.input_admission_seq).toEqual({ 'in-1': FIRST_ADMISSION_SEQ });
    expect(state.next_admission_seq).toBe(FIRST_ADMISSION_SEQ + 1);
    expect(state.input_attempt_counts).toEqual({ 'in-1': 0 });
    expect(state.input_is_prompt).toEqual({ 'in-1': true });
    expect(state.admission_idempotency_inputs).toEqual({ 'key-1': 'in-1' });

    // a duplicate is deduplicated and leaves the state untouched
    const dup = accept(reduce(state, { type: 'ResolveAdmissionIdempotency', input_id: 'in-2', idempotency_key: 'key-1' }));
    expect(dup.effects[0]).toMatchObject({ result: 'Deduplicated', existing_input_id: 'in-1' });
    expect(dup.state).toBe(state);
  });

  it('prompt while Running queues without a wake', () => {
    const { steps } = run(running(), [
      plan({ runtime_running: true }),
      { type: 'QueueAccepted', input_id: 'in-1' },
      { type: 'AcceptWithCompletion', input_id: 'in-1', request_immediate_processing: false, interrupt_yielding: false, wake_if_idle: false },
    ]);
    expect(resolved(steps[0] as Transition).wake_mode).toBe('None');
    expect(steps[2]?.transition).toBe('AcceptWithCompletionRunningQueuedPassive');
    expect(steps[2]?.effects).toEqual([{ type: 'IngressAccepted', input_id: 'in-1' }]);
  });

  it('peer message while Running interrupts yielding; steered it requests immediate processing', () => {
    const queued = resolved(accept(reduce(running(), plan({ kind: 'PeerMessage', runtime_running: true }))));
    expect(queued).toMatchObject({ interrupt_yielding: true, request_immediate_processing: false, wake_if_idle: false });
    const steered = resolved(
      accept(reduce(running(), plan({ kind: 'PeerMessage', requested_lane: 'Steer', runtime_running: true }))),
    );
    expect(steered).toMatchObject({ lane: 'Steer', request_immediate_processing: true, interrupt_yielding: false });
  });

  it('operation input: ConsumedOnAccept plan → QueueAccepted → ConsumeOnAccept', () => {
    const { state, steps } = run(idle(), [
      plan({ kind: 'Operation' }),
      { type: 'QueueAccepted', input_id: 'in-1' },
      { type: 'ConsumeOnAccept', input_id: 'in-1' },
      { type: 'AcceptWithCompletion', input_id: 'in-1', request_immediate_processing: false, interrupt_yielding: false, wake_if_idle: false },
    ]);
    expect(steps[3]?.transition).toBe('AcceptWithCompletionIdleQueuedPassive');
    expect(state.input_phases).toEqual({ 'in-1': 'Consumed' });
    expect(state.input_terminal_kind).toEqual({ 'in-1': 'Consumed' });
    expect(state.input_lane).toEqual({});
    expect(state.input_recovery_lanes).toEqual({});
  });
});
