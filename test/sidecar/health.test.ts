import { describe, expect, it } from 'vitest';
import { classifyHealth, memberView, type MobInput, type MobState } from '../../sidecar/machine/index.js';
import { accepted, apply, detached, rejected, retireReleasing, rt, run, S1, spawn, withReadyMember } from './fixtures.js';

const progress = (
  at: number,
  over: Partial<Extract<MobInput, { type: 'ObserveMemberProgress' }>> = {},
): Extract<MobInput, { type: 'ObserveMemberProgress' }> => ({
  type: 'ObserveMemberProgress',
  agent_identity: 'a',
  agent_runtime_id: rt('a'),
  fence_token: 1,
  observed_at_ms: at,
  run_open: true,
  in_flight_work: 1,
  progress_token: null,
  progress_event: null,
  ...over,
});
const evaluate = (now: number): MobInput => ({ type: 'EvaluateMemberHealth', agent_identity: 'a', now_ms: now });

describe('classifyHealth', () => {
  it('degrades after 60 s and wedges after 300 s without progress while a run is open', () => {
    expect(classifyHealth(false, 0, 10_000_000)).toBe('Healthy');
    expect(classifyHealth(true, 0, 59_999)).toBe('Healthy');
    expect(classifyHealth(true, 0, 60_000)).toBe('Degraded');
    expect(classifyHealth(true, 0, 299_999)).toBe('Degraded');
    expect(classifyHealth(true, 0, 300_000)).toBe('Wedged');
  });
});

describe('ObserveMemberProgress', () => {
  it('first observation: Unknown → Healthy, emits MemberHealthChanged', () => {
    const s = withReadyMember();
    expect(memberView(s, 'a').health).toBe('Unknown');
    const t = accepted(run(s, progress(1_000, { progress_token: 't1', progress_event: 'tool_call' })));
    expect(t.transition).toBe('ObserveMemberProgressReclassified');
    expect(t.effects).toEqual([{ type: 'MemberHealthChanged', agent_identity: 'a', health: 'Healthy' }]);
    expect(t.state.member_last_progress_at_ms).toEqual({ a: 1_000 });
    expect(t.state.member_run_open).toEqual(['a']);
    expect(t.state.member_last_progress_event).toEqual({ a: 'tool_call' });
  });

  it('no token change while a run stays open → Degraded, then Wedged; progress heals', () => {
    let s = apply(withReadyMember(), progress(0, { progress_token: 't1' }));
    const same = accepted(run(s, progress(30_000, { progress_token: 't1' })));
    expect(same.transition).toBe('ObserveMemberProgress');
    expect(same.effects).toEqual([]);
    s = same.state;
    const degraded = accepted(run(s, progress(61_000, { progress_token: 't1' })));
    expect(degraded.effects).toEqual([{ type: 'MemberHealthChanged', agent_identity: 'a', health: 'Degraded' }]);
    const wedged = accepted(run(degraded.state, progress(400_000)));
    expect(wedged.state.member_health_class).toEqual({ a: 'Wedged' });
    const healed = accepted(run(wedged.state, progress(400_001, { progress_token: 't2' })));
    expect(healed.state.member_health_class).toEqual({ a: 'Healthy' });
    expect(healed.state.member_last_progress_at_ms).toEqual({ a: 400_001 });
  });

  it('opening a run counts as progress; a closed run is Healthy', () => {
    const idle = apply(withReadyMember(), progress(0, { run_open: false }));
    const opened = accepted(run(idle, progress(500_000, { run_open: true })));
    expect(opened.state.member_health_class).toEqual({ a: 'Healthy' });
    expect(opened.state.member_last_progress_at_ms).toEqual({ a: 500_000 });
  });

  it('refuses observations out of order, for another incarnation or with bad counts', () => {
    const s = apply(withReadyMember(), progress(1_000));
    rejected(run(s, progress(999)), 'observation_in_order');
    rejected(run(s, progress(2_000, { fence_token: 2 })), 'runtime_fence_matches');
    rejected(run(s, progress(2_000, { agent_runtime_id: rt('a', 1) })), 'identity_runtime_binding_matches');
    rejected(run(s, progress(2_000, { in_flight_work: -1 })), 'in_flight_work_valid');
  });

  it('health is dropped when the member is archived and reset on a new incarnation', () => {
    const s = apply(withReadyMember(), progress(1_000), retireReleasing('a', S1), detached(rt('a')), {
      type: 'ObserveMemberRetirementArchived',
      agent_identity: 'a',
      agent_runtime_id: rt('a'),
      fence_token: 1,
      generation: 0,
      session_id: S1,
      preserve_machine_topology: false,
    });
    expect(s.member_health_class).toEqual({});
    const again = spawn(s, 'a', { generation: 1, fence: 2 });
    expect(memberView(again, 'a').health).toBe('Unknown');
  });
});

describe('EvaluateMemberHealth', () => {
  it('reclassifies with the clock; unchanged classes emit nothing', () => {
    const s: MobState = apply(withReadyMember(), progress(0, { progress_token: 't' }));
    const same = accepted(run(s, evaluate(59_000)));
    expect(same.transition).toBe('EvaluateMemberHealthUnchanged');
    expect(same.state).toBe(s);
    const t = accepted(run(s, evaluate(300_000)));
    expect(t.transition).toBe('EvaluateMemberHealthReclassified');
    expect(t.effects).toEqual([{ type: 'MemberHealthChanged', agent_identity: 'a', health: 'Wedged' }]);
  });

  it('refuses an unobserved member and a clock behind the last observation', () => {
    rejected(run(withReadyMember(), evaluate(10)), 'member_observed');
    rejected(run(apply(withReadyMember(), progress(1_000)), evaluate(10)), 'clock_not_behind_observation');
  });
});
