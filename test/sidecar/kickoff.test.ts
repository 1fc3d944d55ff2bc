import { describe, expect, it } from 'vitest';
import { memberView, type MobInput } from '../../sidecar/machine/index.js';
import { accepted, apply, fresh, quiesce, rejected, retireReleasing, rt, run, S1, spawn } from './fixtures.js';

const beginKickoff = (a = 'a', fence = 1, objective_id: string | null = 'obj-1'): MobInput => ({
  type: 'BeginMemberKickoff',
  agent_identity: a,
  agent_runtime_id: rt(a),
  fence_token: fence,
  objective_id,
});
const observe = (phase: 'Starting' | 'CallbackPending' | 'Started' | 'Failed', error: string | null = null): MobInput => ({
  type: 'ObserveMemberKickoff',
  agent_identity: 'a',
  phase,
  error,
});

describe('BeginMemberKickoff', () => {
  it('marks the kickoff Pending for the current incarnation', () => {
    const t = accepted(run(spawn(fresh(), 'a'), beginKickoff()));
    expect(t.transition).toBe('BeginMemberKickoffRunning');
    expect(t.state.member_kickoff_phase).toEqual({ a: 'Pending' });
    expect(t.effects).toEqual([
      { type: 'MemberKickoffUpdated', agent_identity: 'a', phase: 'Pending', objective_id: 'obj-1', error: null },
    ]);
    expect(memberView(t.state, 'a').kickoff).toEqual({ phase: 'Pending', objective_id: 'obj-1', error: null });
  });

  it('refuses a stale fence, a second kickoff in flight, a retiring member and quiescing', () => {
    const s = spawn(fresh(), 'a');
    rejected(run(s, beginKickoff('a', 9)), 'runtime_fence_matches');
    rejected(run(apply(s, beginKickoff()), beginKickoff()), 'kickoff_not_in_flight');
    rejected(run(apply(s, retireReleasing('a', S1)), beginKickoff()), 'member_not_retiring');
    rejected(run(apply(s, quiesce('Destroy')), beginKickoff()), 'lifecycle_origin_open');
  });
});

describe('ObserveMemberKickoff', () => {
  it('walks Pending → Starting → CallbackPending → Started', () => {
    const s = apply(spawn(fresh(), 'a'), beginKickoff(), observe('Starting'), observe('CallbackPending'), observe('Started'));
    expect(s.member_kickoff_phase).toEqual({ a: 'Started' });
  });

  it('fails with an error from any in-flight phase', () => {
    const t = accepted(run(apply(spawn(fresh(), 'a'), beginKickoff()), observe('Failed', 'boom')));
    expect(t.state.member_kickoff_errors).toEqual({ a: 'boom' });
    expect(memberView(t.state, 'a').kickoff).toMatchObject({ phase: 'Failed', error: 'boom' });
    // A new kickoff clears the error.
    expect(accepted(run(t.state, beginKickoff())).state.member_kickoff_errors).toEqual({});
  });

  it('refuses illegal steps, errors outside Failed and settled kickoffs', () => {
    const s = apply(spawn(fresh(), 'a'), beginKickoff());
    rejected(run(s, observe('Started')), 'kickoff_step_allowed');
    rejected(run(s, observe('Failed')), 'kickoff_error_iff_failed');
    rejected(run(s, observe('Starting', 'x')), 'kickoff_error_iff_failed');
    rejected(run(spawn(fresh(), 'a'), observe('Starting')), 'kickoff_in_flight');
  });
});

describe('CancelMemberKickoff', () => {
  it('cancels an in-flight kickoff; otherwise an accepted no-op (answer to RequestKickoffQuiesce)', () => {
    const t = accepted(run(apply(spawn(fresh(), 'a'), beginKickoff()), { type: 'CancelMemberKickoff', agent_identity: 'a' }));
    expect(t.transition).toBe('CancelMemberKickoffInFlight');
    expect(t.state.member_kickoff_phase).toEqual({ a: 'Cancelled' });
    const again = accepted(run(t.state, { type: 'CancelMemberKickoff', agent_identity: 'a' }));
    expect(again.transition).toBe('CancelMemberKickoffAlreadyQuiesced');
    expect(again.state).toBe(t.state);
  });
});
