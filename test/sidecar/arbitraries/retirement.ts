import fc from 'fast-check';
import type { MobState } from '../../../sidecar/machine/index.js';
import {
  fenceChoice,
  follow,
  followIdentity,
  fenceFor,
  genChoice,
  genFor,
  identity,
  mobId,
  runtimeChoice,
  runtimeFor,
  sessionChoice,
  sessionFor,
  tmpl,
  type RuntimeChoice,
  type Tmpl,
} from './pool.js';

/** Retire flavour: releasing the bound session, preserving it, or none (peer-only). */
const retireFlavour = fc.constantFrom('releasing', 'releasing', 'preserving', 'none', 'mismatch');

/** Runtime for detach feedback: mostly one that is actually pending. */
function detachRuntime(s: MobState, a: string, rc: RuntimeChoice): string {
  const pending = s.pending_session_ingress_detach_runtime_ids;
  if (rc === 'current' && pending.length > 0) return pending.find((r) => r.startsWith(`${a}:`)) ?? (pending[0] as string);
  return runtimeFor(s, a, rc);
}

const archivedFacts = (s: MobState, a: string, rc: RuntimeChoice, fc_: Parameters<typeof fenceFor>[3], gc: Parameters<typeof genFor>[2], sc: Parameters<typeof sessionFor>[2]) => {
  const r = runtimeFor(s, a, rc);
  return {
    agent_identity: a,
    agent_runtime_id: r,
    fence_token: fenceFor(s, a, r, fc_),
    generation: genFor(s, a, gc),
    session_id: sessionFor(s, a, sc),
  };
};

/** Follow target of archival: a Retiring member whose detach is closed. */
function retiringAndDetached(s: MobState, a: string): boolean {
  const r = s.identity_to_runtime[a];
  return r !== undefined && s.member_state_markers[r] === 'Retiring' && !s.pending_session_ingress_detach_runtime_ids.includes(r);
}

/** Follow target of destroy-time retirement: a live member that is not retiring. */
function liveAndActive(s: MobState, a: string): boolean {
  const r = s.identity_to_runtime[a];
  return r !== undefined && s.live_runtime_ids.includes(r) && s.member_state_markers[r] !== 'Retiring';
}

/** Retirement, detach protocol, archival and destroy-time retirement. */
export const retirementArb: fc.Arbitrary<Tmpl> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(mobId, identity, runtimeChoice, genChoice, retireFlavour).map(([m, a, rc, gc, flavour]) =>
      tmpl(`Retire(${m},${a},${rc},${String(gc)},${flavour})`, (s) => {
        const bound = s.member_session_bindings[a] ?? null;
        const [releasing, session] =
          flavour === 'releasing' ? [bound, bound] : flavour === 'preserving' ? [null, bound] : flavour === 'none' ? [null, null] : [bound, null];
        return {
          type: 'Retire',
          mob_id: m,
          agent_runtime_id: runtimeFor(s, a, rc),
          agent_identity: a,
          generation: genFor(s, a, gc),
          releasing,
          session_id: session,
        };
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, sessionChoice).map(([a, rc, fc_, sc]) =>
      tmpl(`RetireMember(${a},${rc},${String(fc_)},${String(sc)})`, (s) => {
        const r = runtimeFor(s, a, rc);
        return { type: 'RetireMember', agent_identity: a, agent_runtime_id: r, fence_token: fenceFor(s, a, r, fc_), session_id: sessionFor(s, a, sc) };
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(identity, runtimeChoice).map(([a, rc]) =>
      tmpl(`RetryRuntimeRetire(${a},${rc})`, (s) => ({ type: 'RetryRuntimeRetire', agent_identity: a, agent_runtime_id: runtimeFor(s, a, rc) })),
    ),
  },
  {
    weight: 5,
    arbitrary: fc.tuple(mobId, identity, runtimeChoice).map(([m, a, rc]) =>
      tmpl(`SessionIngressDetached(${m},${a},${rc})`, (s) => ({
        type: 'SessionIngressDetachedForMobDestroy',
        mob_id: m,
        agent_runtime_id: detachRuntime(s, a, rc),
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(mobId, identity, runtimeChoice).map(([m, a, rc]) =>
      tmpl(`SessionIngressDetachFailed(${m},${a},${rc})`, (s) => ({
        type: 'SessionIngressDetachFailedForMobDestroy',
        mob_id: m,
        agent_runtime_id: detachRuntime(s, a, rc),
        reason: 'busy',
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(mobId, identity, runtimeChoice).map(([m, a, rc]) =>
      tmpl(`RequestPendingSessionIngressDetach(${m},${a},${rc})`, (s) => ({
        type: 'RequestPendingSessionIngressDetachForMobDestroy',
        mob_id: m,
        agent_runtime_id: detachRuntime(s, a, rc),
      })),
    ),
  },
  {
    weight: 5,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, genChoice, sessionChoice, fc.boolean(), follow).map(([a0, rc, fc_, gc, sc, keep, f]) =>
      tmpl(`ObserveMemberRetirementArchived(${a0},${rc},${String(fc_)},${String(gc)},${String(sc)},${String(keep)},${String(f)})`, (s) => ({
        type: 'ObserveMemberRetirementArchived',
        ...archivedFacts(s, followIdentity(s, f, a0, retiringAndDetached), rc, fc_, gc, sc === 'bound' ? 'pending' : sc),
        preserve_machine_topology: keep && sc === 'none',
      })),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(mobId, identity, runtimeChoice, fenceChoice, genChoice, sessionChoice, follow).map(([m, a, rc, fc_, gc, sc, f]) =>
      tmpl(`AdmitDestroyMemberRetire(${m},${a},${rc},${String(fc_)},${String(gc)},${String(sc)},${String(f)})`, (s) => ({
        type: 'AdmitDestroyMemberRetire',
        mob_id: m,
        ...archivedFacts(s, followIdentity(s, f, a, liveAndActive), rc, fc_, gc, sc),
      })),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(identity, runtimeChoice, fenceChoice, genChoice, sessionChoice, follow).map(([a, rc, fc_, gc, sc, f]) =>
      tmpl(`ObserveDestroyMemberRetirementArchived(${a},${rc},${String(fc_)},${String(gc)},${String(sc)},${String(f)})`, (s) => ({
        type: 'ObserveDestroyMemberRetirementArchived',
        ...archivedFacts(s, followIdentity(s, f, a, retiringAndDetached), rc, fc_, gc, sc === 'bound' ? 'pending' : sc),
      })),
    ),
  },
);
