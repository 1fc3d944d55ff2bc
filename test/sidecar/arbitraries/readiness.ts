import fc from 'fast-check';
import {
  fenceChoice,
  fenceFor,
  genChoice,
  genFor,
  identity,
  pick,
  runtimeChoice,
  runtimeFor,
  tmpl,
  type Tmpl,
} from './pool.js';

const peerId = fc.oneof({ weight: 4, arbitrary: fc.constant<'own'>('own') }, { weight: 1, arbitrary: pick(['peer-shared', '']) });

/** Readiness, peer registration and kickoff inputs. */
export const readinessArb: fc.Arbitrary<Tmpl> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice).map(([a, rc, fc_]) =>
      tmpl(`StartupMarkReady(${a},${rc},${String(fc_)})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type: 'StartupMarkReady', agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_) };
      }),
    ),
  },
  {
    weight: 5,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, genChoice, peerId).map(([a, rc, fc_, gc, pid]) =>
      tmpl(`RegisterMemberPeer(${a},${rc},${String(fc_)},${String(gc)},${pid})`, (s) => {
        const r = runtimeFor(s, a, rc);
        const peer = pid === 'own' ? `peer-${a}` : pid;
        return {
          type: 'RegisterMemberPeer',
          agent_identity: a,
          agent_runtime_id: r,
          generation: genFor(s, a, gc),
          fence_token: fenceFor(s, a, r, fc_),
          peer_endpoint: { name: `name-${a}`, peer_id: peer, address: `inproc://${a}`, signing_key: `key-${a}` },
        };
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, fc.option(pick(['obj-1', 'obj-2']), { nil: null })).map(([a, rc, fc_, obj]) =>
      tmpl(`BeginMemberKickoff(${a},${rc},${String(fc_)})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type: 'BeginMemberKickoff', agent_identity: a, agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_), objective_id: obj };
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(identity, pick(['Starting', 'CallbackPending', 'Started', 'Failed'] as const), fc.boolean())
      .map(([a, phase, flip]) =>
        tmpl(`ObserveMemberKickoff(${a},${phase},${String(flip)})`, () => ({
          type: 'ObserveMemberKickoff',
          agent_identity: a,
          phase,
          error: (phase === 'Failed') !== flip ? 'boom' : null,
        })),
      ),
  },
  { weight: 2, arbitrary: identity.map((a) => tmpl(`CancelMemberKickoff(${a})`, () => ({ type: 'CancelMemberKickoff', agent_identity: a }))) },
);
