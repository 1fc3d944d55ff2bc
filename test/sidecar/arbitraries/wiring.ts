import fc from 'fast-check';
import { identity, pick, tmpl, type Tmpl } from './pool.js';

const endpoint = fc.oneof({ weight: 5, arbitrary: identity }, { weight: 1, arbitrary: pick(['z', 'ext-1']) });
const edge = fc.record({ a: endpoint, b: endpoint });
const extEdge = fc.record({ local: endpoint, peer: pick(['ext-1', 'ext-2', 'a']) });
const key = pick(['k1', 'k2']);

/** Member and external-peer wiring. */
export const wiringArb: fc.Arbitrary<Tmpl> = fc.oneof(
  { weight: 3, arbitrary: edge.map((e) => tmpl(`Wire(${e.a},${e.b})`, () => ({ type: 'WireMembers', edge: e }))) },
  {
    weight: 3,
    arbitrary: fc.tuple(edge, fc.boolean()).map(([e, swap]) =>
      tmpl(`WireWithTrust(${e.a},${e.b},${String(swap)})`, () => ({
        type: 'WireMembersWithTrust',
        edge: e,
        a_identity: swap ? e.b : e.a,
        b_identity: swap ? e.a : e.b,
      })),
    ),
  },
  { weight: 2, arbitrary: edge.map((e) => tmpl(`Unwire(${e.a},${e.b})`, () => ({ type: 'UnwireMembers', edge: e }))) },
  {
    weight: 1,
    arbitrary: fc.tuple(key, extEdge).map(([k, e]) => tmpl(`WireExternal(${k},${e.local},${e.peer})`, () => ({ type: 'WireExternalPeer', key: k, edge: e }))),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(key, extEdge)
      .map(([k, e]) => tmpl(`UnwireExternal(${k},${e.local},${e.peer})`, () => ({ type: 'UnwireExternalPeer', key: k, edge: e }))),
  },
);
