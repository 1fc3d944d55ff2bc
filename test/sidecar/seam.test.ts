/**
 * Seam-signal folding and refusal closures (mob.md §1.4, §1.7, §1.8, §1.12).
 */
import { describe, expect, it } from 'vitest';
import {
  foldSignal,
  initialMobState,
  memberView,
  refusalClosure,
  signalInput,
  type KernelSignal,
  type MobInput,
  type MobState,
} from '../../sidecar/machine/index.js';
import {
  accepted,
  apply,
  detached,
  fresh,
  noTransition,
  quiesce,
  rejected,
  retireReleasing,
  rt,
  run,
  S1,
  S2,
  snap,
  spawn,
  withReadyMember,
} from './fixtures.js';

const bound = (r: string, fence: number): KernelSignal => ({ kind: 'RuntimeBound', agent_runtime_id: r, fence_token: fence });
const retiredSig = (r: string, fence: number): KernelSignal => ({ kind: 'RuntimeRetired', agent_runtime_id: r, fence_token: fence });
const destroyedSig = (r: string, fence: number): KernelSignal => ({ kind: 'RuntimeDestroyed', agent_runtime_id: r, fence_token: fence });

function expectDropped(s: MobState, signal: KernelSignal, guard: string | null): void {
  const before = snap(s);
  const out = foldSignal(s, signal);
  expect(out.outcome).toBe('dropped');
  if (out.outcome === 'dropped') {
    expect(out.rejection.guard).toBe(guard);
    expect(out.reason).toContain(signalInput(signal).type);
  }
  expect(snap(s)).toBe(before);
}

describe('signalInput', () => {
  it('maps the three kernel signals to the mob signals with the two projected fields', () => {
    expect(signalInput(bound('a:0', 3))).toEqual({ type: 'ObserveRuntimeReady', agent_runtime_id: 'a:0', fence_token: 3 });
    expect(signalInput(retiredSig('a:0', 3)).type).toBe('ObserveRuntimeRetired');
    expect(signalInput(destroyedSig('a:0', 3)).type).toBe('ObserveRuntimeDestroyed');
  });
});

describe('RuntimeBound → ObserveRuntimeReady', () => {
  it("marks a member's runtime ready when the fence matches", () => {
    const s = spawn(fresh(), 'a');
    expect(memberView(s, 'a').ready).toBe(false);
    const out = foldSignal(s, bound(rt('a'), 1));
    expect(out.outcome).toBe('applied');
    if (out.outcome !== 'applied') return;
    expect(out.step.transition).toBe('ObserveRuntimeReady');
    expect(out.step.effects).toEqual([]);
    expect(out.step.state.member_startup_binding_requested).toEqual([]);
    expect(out.step.state.member_startup_runtime_ready).toEqual([rt('a')]);
    expect(memberView(out.step.state, 'a')).toMatchObject({ ready: true, startup: 'RuntimeReady' });
  });

  it('is idempotent for a duplicate delivery', () => {
    const s = withReadyMember();
    const out = foldSignal(s, bound(rt('a'), 1));
    expect(out.outcome).toBe('applied');
    if (out.outcome === 'applied') expect(snap(out.step.state)).toBe(snap(s));
  });

  it('drops a stale fence, an unknown runtime, another mob member and the empty payload', () => {
    const s = spawn(spawn(fresh(), 'a'), 'b', { fence: 2, session: S2 });
    expectDropped(s, bound(rt('a'), 2), 'runtime_fence_matches');
    expectDropped(s, bound(rt('a', 1), 1), 'runtime_live');
    // Another mob's member: its runtime is not in this mob's live set, whatever its fence.
    const other = spawn(initialMobState('mob-2'), 'x');
    expect(other.live_runtime_ids).toEqual([rt('x')]);
    expectDropped(s, bound(rt('x'), 1), 'runtime_live');
    expectDropped(s, bound('', 0), 'runtime_live');
  });

  it('drops a retired runtime and is not accepted outside Running', () => {
    const gone = apply(withReadyMember(), retireReleasing('a', S1), detached(rt('a')), {
      type: 'ObserveRuntimeRetired',
      agent_runtime_id: rt('a'),
      fence_token: 1,
    });
    expectDropped(gone, bound(rt('a'), 1), 'runtime_live');
    const stopped = apply(spawn(fresh(), 'a'), quiesce('Stop'), { type: 'Stop' });
    expectDropped(stopped, bound(rt('a'), 1), null);
    noTransition(run(stopped, signalInput(bound(rt('a'), 1))));
  });

  it('does not depend on the order of bind reply vs RuntimeBound: only live + fence matter', () => {
    const s = spawn(fresh(), 'a', {}, false);
    expect(foldSignal(s, bound(rt('a'), 1)).outcome).toBe('applied');
  });
});

describe('RuntimeRetired → ObserveRuntimeRetired', () => {
  it('removes the runtime from the live set, fences and startup sets; zeroes runs; notices Retired', () => {
    const s = apply(withReadyMember(), { type: 'StartRun' }, retireReleasing('a', S1), detached(rt('a')));
    const out = foldSignal(s, retiredSig(rt('a'), 1));
    expect(out.outcome).toBe('applied');
    if (out.outcome !== 'applied') return;
    const t = out.step;
    expect(t.state.live_runtime_ids).toEqual([]);
    expect(t.state.runtime_fence_tokens).toEqual({});
    expect(t.state.member_startup_runtime_ready).toEqual([]);
    expect(t.state.active_run_count).toBe(0);
    expect(t.state.member_state_markers).toEqual({ [rt('a')]: 'Retiring' });
    expect(t.effects).toEqual([{ type: 'EmitMemberLifecycleNotice', kind: 'Retired', agent_identity: 'a', agent_runtime_id: rt('a') }]);
    expect(memberView(t.state, 'a').status).toBe('Retiring');
    // The duplicate (kernel re-retire re-emits RuntimeRetired) is dropped.
    expectDropped(t.state, retiredSig(rt('a'), 1), 'runtime_live');
  });

  it('also applies while Stopped and to a member retired directly on the kernel', () => {
    const stopped = apply(withReadyMember(), quiesce('Stop'), { type: 'Stop' });
    expect(foldSignal(stopped, retiredSig(rt('a'), 1)).outcome).toBe('applied');
    const direct = foldSignal(withReadyMember(), retiredSig(rt('a'), 1));
    expect(direct.outcome).toBe('applied');
    if (direct.outcome === 'applied') expect(memberView(direct.step.state, 'a').status).toBe('Completed');
  });

  it('drops a stale fence', () => {
    expectDropped(withReadyMember(), retiredSig(rt('a'), 7), 'runtime_fence_matches');
  });
});

describe('RuntimeDestroyed → ObserveRuntimeDestroyed (mob-terminal)', () => {
  it('destroys the whole mob for a live member with a matching fence', () => {
    const s = spawn(withReadyMember(), 'b', { fence: 2, session: S2 });
    const out = foldSignal(s, destroyedSig(rt('b'), 2));
    expect(out.outcome).toBe('applied');
    if (out.outcome !== 'applied') return;
    const t = out.step;
    expect(t.to).toBe('Destroyed');
    expect(t.state.live_runtime_ids).toEqual([]);
    expect(t.state.runtime_fence_tokens).toEqual({});
    expect(t.state.coordinator_bound).toBe(false);
    expect(t.state.identity_to_runtime).toEqual({ a: rt('a'), b: rt('b') });
    expect(t.state.member_session_bindings).toEqual({ a: S1, b: S2 });
    expect(t.effects).toEqual([{ type: 'EmitMemberLifecycleNotice', kind: 'Destroyed', agent_identity: 'b', agent_runtime_id: rt('b') }]);
    expect(memberView(t.state, 'a').status).toBe('Completed');
    expectDropped(t.state, destroyedSig(rt('a'), 1), 'runtime_live');
  });

  it('is held back by pending detaches and dropped for foreign or stale signals', () => {
    const detaching = apply(spawn(withReadyMember(), 'b', { fence: 2, session: S2 }), retireReleasing('a', S1));
    expectDropped(detaching, destroyedSig(rt('b'), 2), 'no_pending_session_ingress_detach');
    expectDropped(withReadyMember(), destroyedSig(rt('a'), 5), 'runtime_fence_matches');
    expectDropped(withReadyMember(), destroyedSig('', 0), 'runtime_live');
  });
});

describe('refusal closures (mob.md §1.4)', () => {
  const refusal = { code: 'routed_session_not_durability_ready', message: 'session not ready' };

  it('build the closure input from the refused effect; the destroy route has none', () => {
    expect(
      refusalClosure(
        { type: 'RequestRuntimeBinding', agent_identity: 'a', agent_runtime_id: rt('a'), fence_token: 1, generation: 0, session_id: S1 },
        refusal,
      ),
    ).toEqual({
      type: 'ResolveRuntimeBindingRefusal',
      agent_identity: 'a',
      agent_runtime_id: rt('a'),
      session_id: S1,
      refusal_code: refusal.code,
      reason: refusal.message,
    });
    expect(
      refusalClosure(
        { type: 'RequestRuntimeIngress', agent_runtime_id: rt('a'), fence_token: 1, generation: 0, session_id: S1, work_id: 'w', origin: 'External' },
        refusal,
      ),
    ).toMatchObject({ type: 'ResolveRuntimeIngressRefusal', fence_token: 1, work_id: 'w', origin: 'External' });
    expect(refusalClosure({ type: 'RequestRuntimeRetire', agent_identity: 'a', agent_runtime_id: rt('a'), session_id: S1 }, refusal)).toMatchObject({
      type: 'ResolveRuntimeRetireRefusal',
    });
    expect(refusalClosure({ type: 'RequestRuntimeDestroy', session_id: S1 }, refusal)).toBeNull();
  });

  const bindingRefusal = (over: Partial<Extract<MobInput, { type: 'ResolveRuntimeBindingRefusal' }>> = {}): MobInput => ({
    type: 'ResolveRuntimeBindingRefusal',
    agent_identity: 'a',
    agent_runtime_id: rt('a'),
    session_id: S1,
    refusal_code: refusal.code,
    reason: refusal.message,
    ...over,
  });

  it('ResolveRuntimeBindingRefusal records a restore failure: the member becomes Broken', () => {
    const t = accepted(run(spawn(fresh(), 'a'), bindingRefusal()));
    expect(t.transition).toBe('ResolveRuntimeBindingRefusalRunning');
    expect(t.effects[0]).toMatchObject({ type: 'RuntimeBindingRefusalClassified', refusal_code: refusal.code });
    expect(memberView(t.state, 'a')).toMatchObject({ status: 'Broken', error: 'session not ready', is_final: true });
    rejected(run(spawn(fresh(), 'a'), bindingRefusal({ session_id: S2 })), 'session_binding_matches');
    rejected(run(spawn(fresh(), 'a'), bindingRefusal({ agent_runtime_id: rt('a', 1) })), 'identity_runtime_binding_matches');
    // A respawn (new incarnation) clears the failure; so does retirement.
    expect(memberView(apply(t.state, retireReleasing('a', S1)), 'a').status).toBe('Retiring');
  });

  it('ResolveRuntimeIngressRefusal classifies without a state change (work-local failure)', () => {
    const s = withReadyMember();
    const t = accepted(
      run(s, {
        type: 'ResolveRuntimeIngressRefusal',
        agent_runtime_id: rt('a'),
        fence_token: 1,
        session_id: S1,
        work_id: 'w',
        origin: 'External',
        refusal_code: 'dsl_guard_rejected',
        reason: 'stale',
      }),
    );
    expect(t.state).toBe(s);
    expect(t.effects[0]).toMatchObject({ type: 'RuntimeIngressRefusalClassified', work_id: 'w' });
    rejected(
      run(s, {
        type: 'ResolveRuntimeIngressRefusal',
        agent_runtime_id: rt('a'),
        fence_token: 2,
        session_id: S1,
        work_id: 'w',
        origin: 'External',
        refusal_code: 'x',
        reason: 'y',
      }),
      'runtime_fence_matches',
    );
  });

  it('ResolveRuntimeRetireRefusal needs a Retiring member and stores the retry anchor', () => {
    const input: MobInput = {
      type: 'ResolveRuntimeRetireRefusal',
      agent_identity: 'a',
      agent_runtime_id: rt('a'),
      session_id: S1,
      refusal_code: 'unregister_finalization_pending',
      reason: 'later',
    };
    rejected(run(withReadyMember(), input), 'member_marked_retiring');
    const t = accepted(run(apply(withReadyMember(), retireReleasing('a', S1)), input));
    expect(t.state.runtime_retire_refusal_reasons).toEqual({ [rt('a')]: 'later' });
    expect(t.state.runtime_retire_pending_sessions).toEqual({ [rt('a')]: S1 });
  });
});
