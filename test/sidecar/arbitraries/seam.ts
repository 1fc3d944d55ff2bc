import fc from 'fast-check';
import type { WorkOrigin } from '../../../sidecar/machine/index.js';
import { fenceChoice, fenceFor, identity, pick, runtimeChoice, runtimeFor, sessionChoice, sessionFor, tmpl, type Tmpl } from './pool.js';

type SignalType = 'ObserveRuntimeReady' | 'ObserveRuntimeRetired' | 'ObserveRuntimeDestroyed';
/** `ObserveRuntimeDestroyed` is mob-terminal, so it is kept rare to let sequences run long. */
const signalType = fc.oneof(
  { weight: 10, arbitrary: fc.constant<SignalType>('ObserveRuntimeReady') },
  { weight: 6, arbitrary: fc.constant<SignalType>('ObserveRuntimeRetired') },
  { weight: 1, arbitrary: fc.constant<SignalType>('ObserveRuntimeDestroyed') },
);
const code = pick(['routed_session_not_durability_ready', 'dsl_guard_rejected', 'consumer_projection_failed']);

/** Kernel → mob signals and the refusal closures. */
export const seamArb: fc.Arbitrary<Tmpl> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(signalType, identity, runtimeChoice, fenceChoice).map(([type, a, rc, fc_]) =>
      tmpl(`${type}(${a},${rc},${String(fc_)})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type, agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_) };
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(identity, runtimeChoice, sessionChoice, code).map(([a, rc, sc, c]) =>
      tmpl(`ResolveRuntimeBindingRefusal(${a},${rc},${String(sc)})`, (s) => ({
        type: 'ResolveRuntimeBindingRefusal',
        agent_identity: a,
        agent_runtime_id: runtimeFor(s, a, rc),
        session_id: sessionFor(s, a, sc) ?? 'S-none',
        refusal_code: c,
        reason: `refused: ${c}`,
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, pick<WorkOrigin>(['External', 'Internal']), code).map(([a, rc, fc_, o, c]) =>
      tmpl(`ResolveRuntimeIngressRefusal(${a},${rc},${String(fc_)})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return {
          type: 'ResolveRuntimeIngressRefusal',
          agent_runtime_id: r,
          fence_token: fenceFor(s, a, r, fc_),
          session_id: sessionFor(s, a, 'bound') ?? 'S-none',
          work_id: 'w-1',
          origin: o,
          refusal_code: c,
          reason: 'refused',
        };
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(identity, runtimeChoice, sessionChoice, code).map(([a, rc, sc, c]) =>
      tmpl(`ResolveRuntimeRetireRefusal(${a},${rc},${String(sc)})`, (s) => ({
        type: 'ResolveRuntimeRetireRefusal',
        agent_identity: a,
        agent_runtime_id: runtimeFor(s, a, rc),
        session_id: sessionFor(s, a, sc === 'bound' ? 'pending' : sc) ?? 'S-none',
        refusal_code: c,
        reason: 'retire refused',
      })),
    ),
  },
);
