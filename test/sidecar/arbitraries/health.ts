import fc from 'fast-check';
import { get } from '../../../src/machine/collections.js';
import { fenceChoice, fenceFor, identity, pick, runtimeChoice, runtimeFor, timeChoice, timeFor, tmpl, type Tmpl } from './pool.js';

/** Progress observations and clock-driven health evaluation. */
export const healthArb: fc.Arbitrary<Tmpl> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        a: identity,
        rc: runtimeChoice,
        fence: fenceChoice,
        at: timeChoice,
        run_open: fc.boolean(),
        in_flight: fc.integer({ min: -1, max: 3 }),
        token: fc.option(pick(['t1', 't2', 't3']), { nil: null }),
        event: fc.option(pick(['tool_call', 'llm_delta']), { nil: null }),
      })
      .map((c) =>
        tmpl(`ObserveMemberProgress(${JSON.stringify(c)})`, (s) => {
          const r = runtimeFor(s, c.a, c.rc);
          return {
            type: 'ObserveMemberProgress',
            agent_identity: c.a,
            agent_runtime_id: r,
            fence_token: fenceFor(s, c.a, r, c.fence),
            observed_at_ms: timeFor(get(s.member_last_observed_at_ms, c.a), c.at),
            run_open: c.run_open,
            in_flight_work: c.in_flight,
            progress_token: c.token,
            progress_event: c.event,
          };
        }),
      ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(identity, timeChoice).map(([a, t]) =>
      tmpl(`EvaluateMemberHealth(${a},${JSON.stringify(t)})`, (s) => ({
        type: 'EvaluateMemberHealth',
        agent_identity: a,
        now_ms: timeFor(get(s.member_last_observed_at_ms, a), t),
      })),
    ),
  },
);
