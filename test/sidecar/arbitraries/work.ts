import fc from 'fast-check';
import type { SubmitOrigin } from '../../../sidecar/machine/index.js';
import { fenceChoice, fenceFor, identity, pick, runtimeChoice, runtimeFor, tmpl, type Tmpl } from './pool.js';

const origin = pick<SubmitOrigin>(['External', 'Internal']);

/** Work submission, classification, cancellation and run counting. */
export const workArb: fc.Arbitrary<Tmpl> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, origin, pick(['w-1', 'w-2'])).map(([a, rc, fc_, o, w]) =>
      tmpl(`SubmitWork(${a},${rc},${String(fc_)},${o})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type: 'SubmitWork', agent_identity: a, agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_), work_id: w, origin: o };
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, origin).map(([a, rc, fc_, o]) =>
      tmpl(`ResolveSubmitWorkRejection(${a},${rc},${String(fc_)},${o})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type: 'ResolveSubmitWorkRejection', agent_identity: a, agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_), origin: o };
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice).map(([a, rc, fc_]) =>
      tmpl(`CancelAllWork(${a},${rc},${String(fc_)})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type: 'CancelAllWork', agent_identity: a, agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_) };
      }),
    ),
  },
  { weight: 1, arbitrary: identity.map((a) => tmpl(`ForceCancel(${a})`, () => ({ type: 'ForceCancel', agent_identity: a }))) },
  { weight: 3, arbitrary: fc.constant(tmpl('StartRun', () => ({ type: 'StartRun' }))) },
  { weight: 3, arbitrary: fc.constant(tmpl('FinishRun', () => ({ type: 'FinishRun' }))) },
);
