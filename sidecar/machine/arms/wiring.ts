/**
 * Wiring / peer graph (`mob.md` §2.5 "Wiring"). Wiring controls comms trust (who may
 * message whom), not work routing.
 *
 * Member ↔ member edges are undirected and stored normalized (`a < b`); inputs may name
 * the endpoints in either order. `WireMembers` does not check that the identities are
 * members (the shell validates); `WireMembersWithTrust` requires both to have a registered
 * peer and asks the shell to install mutual trust. Wiring an edge that is already wired
 * is an idempotent trust repair. Retirement/archival prunes every edge touching the
 * retired identity; Reset and Destroy empty the graph.
 *
 * Member ↔ external peer edges are keyed by a caller-chosen key.
 */
import { get, hasKey } from '../../../src/machine/collections.js';
import { guard } from '../arm.js';
import type { ArmTable, Guard } from '../arm.js';
import type { MobEffect } from '../effects.js';
import { edgeEquals, edgesAdd, edgesHave, edgesRemove, normalizeEdge, originOpen } from '../helpers.js';
import type { ExternalPeerEdge, MobState, PeerEndpoint, WiringEdge } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

export interface WireMembers {
  readonly type: 'WireMembers';
  readonly edge: WiringEdge;
}

export interface WireMembersWithTrust {
  readonly type: 'WireMembersWithTrust';
  readonly edge: WiringEdge;
  readonly a_identity: string;
  readonly b_identity: string;
}

export interface UnwireMembers {
  readonly type: 'UnwireMembers';
  readonly edge: WiringEdge;
}

export interface WireExternalPeer {
  readonly type: 'WireExternalPeer';
  readonly key: string;
  readonly edge: ExternalPeerEdge;
}

export interface UnwireExternalPeer {
  readonly type: 'UnwireExternalPeer';
  readonly key: string;
  readonly edge: ExternalPeerEdge;
}

export type WiringInput = WireMembers | WireMembersWithTrust | UnwireMembers | WireExternalPeer | UnwireExternalPeer;

// ---------------------------------------------------------------------------------------------
// Guards and helpers

type WithEdge = { readonly edge: WiringEdge };
type WithExternal = { readonly key: string; readonly edge: ExternalPeerEdge };

const norm = (e: WiringEdge): WiringEdge => normalizeEdge(e.a, e.b);

const endpointsDistinct = <I extends WithEdge>(): Guard<I> => guard('edge_endpoints_distinct', (_s, i) => i.edge.a !== i.edge.b);
const edgeWired = <I extends WithEdge>(): Guard<I> => guard('edge_wired', (s, i) => edgesHave(s.wiring_edges, norm(i.edge)));
const edgeNotWired = <I extends WithEdge>(): Guard<I> =>
  guard('edge_not_wired', (s, i) => !edgesHave(s.wiring_edges, norm(i.edge)));

const externalKeyUnbound = <I extends WithExternal>(): Guard<I> =>
  guard('external_peer_key_unbound', (s, i) => !hasKey(s.external_peer_edges_by_key, i.key));
const externalKeyBoundToEdge = <I extends WithExternal>(): Guard<I> =>
  guard('external_peer_key_bound_to_edge', (s, i) => {
    const e = get(s.external_peer_edges_by_key, i.key);
    return e !== null && e.local === i.edge.local && e.peer === i.edge.peer;
  });

function wiredEffects(s: MobState, edge: WiringEdge): MobEffect[] {
  return [
    { type: 'WiringGraphChanged', epoch: s.topology_epoch },
    { type: 'EmitWiringLifecycleNotice', kind: 'Wired', edge },
  ];
}

// ---------------------------------------------------------------------------------------------
// Transition table

export const wiringArms: ArmTable<WiringInput> = {
  WireMembers: [
    {
      name: 'WireMembersRunning',
      from: ['Running'],
      guards: [originOpen(), endpointsDistinct(), edgeNotWired()],
      update: (d, i) => {
        d.wiring_edges = edgesAdd(d.wiring_edges, norm(i.edge));
        d.topology_epoch += 1;
      },
      to: 'self',
      emit: (s, i) => wiredEffects(s, norm(i.edge)),
    },
    {
      name: 'WireMembersAlreadyWired',
      from: ['Running'],
      guards: [originOpen(), edgeWired()],
      to: 'self',
      emit: (_s, i) => [{ type: 'WiringTrustRepairRequested', edge: norm(i.edge) }],
    },
  ],

  WireMembersWithTrust: [
    {
      name: 'WireMembersWithTrustRunning',
      from: ['Running'],
      guards: [
        originOpen(),
        endpointsDistinct(),
        guard('edge_normalizes_to_identities', (_s, i) => edgeEquals(norm(i.edge), normalizeEdge(i.a_identity, i.b_identity))),
        guard(
          'both_members_have_registered_peers',
          (s, i) =>
            hasKey(s.member_peer_ids, i.a_identity) &&
            hasKey(s.member_peer_endpoints, i.a_identity) &&
            hasKey(s.member_peer_ids, i.b_identity) &&
            hasKey(s.member_peer_endpoints, i.b_identity),
        ),
        edgeNotWired(),
      ],
      update: (d, i) => {
        d.wiring_edges = edgesAdd(d.wiring_edges, norm(i.edge));
        d.topology_epoch += 1;
      },
      to: 'self',
      emit: (s, i) => {
        const edge = norm(i.edge);
        return [
          { type: 'WiringGraphChanged', epoch: s.topology_epoch },
          {
            type: 'MemberTrustWiringRequested',
            edge,
            a_peer_id: s.member_peer_ids[edge.a] as string,
            b_peer_id: s.member_peer_ids[edge.b] as string,
            a_endpoint: s.member_peer_endpoints[edge.a] as PeerEndpoint,
            b_endpoint: s.member_peer_endpoints[edge.b] as PeerEndpoint,
            epoch: s.topology_epoch,
          },
          { type: 'EmitWiringLifecycleNotice', kind: 'Wired', edge },
        ];
      },
    },
    {
      name: 'WireMembersWithTrustAlreadyWired',
      from: ['Running'],
      guards: [originOpen(), edgeWired()],
      to: 'self',
      emit: (_s, i) => [{ type: 'WiringTrustRepairRequested', edge: norm(i.edge) }],
    },
  ],

  UnwireMembers: [
    {
      name: 'UnwireMembersRunning',
      from: ['Running'],
      guards: [edgeWired()],
      update: (d, i) => {
        d.wiring_edges = edgesRemove(d.wiring_edges, norm(i.edge));
        d.topology_epoch += 1;
      },
      to: 'self',
      emit: (s, i) => [
        { type: 'WiringGraphChanged', epoch: s.topology_epoch },
        { type: 'EmitWiringLifecycleNotice', kind: 'Unwired', edge: norm(i.edge) },
      ],
    },
    { name: 'UnwireMembersAlreadyAbsent', from: ['Running'], guards: [edgeNotWired()], to: 'self' },
  ],

  WireExternalPeer: [
    {
      name: 'WireExternalPeerRunning',
      from: ['Running'],
      guards: [
        originOpen(),
        externalKeyUnbound(),
        guard('external_peer_is_not_local', (_s, i) => i.edge.local !== i.edge.peer),
        guard('external_peer_not_member', (s, i) => !hasKey(s.identity_to_runtime, i.edge.peer)),
      ],
      update: (d, i) => {
        d.external_peer_edges_by_key[i.key] = { local: i.edge.local, peer: i.edge.peer };
        d.topology_epoch += 1;
      },
      to: 'self',
      emit: (s, i) => [
        { type: 'WiringGraphChanged', epoch: s.topology_epoch },
        { type: 'EmitExternalPeerLifecycleNotice', kind: 'Wired', key: i.key, edge: { local: i.edge.local, peer: i.edge.peer } },
      ],
    },
    { name: 'WireExternalPeerAlreadyWired', from: ['Running'], guards: [originOpen(), externalKeyBoundToEdge()], to: 'self' },
  ],

  UnwireExternalPeer: [
    {
      name: 'UnwireExternalPeerRunning',
      from: ['Running'],
      guards: [externalKeyBoundToEdge()],
      update: (d, i) => {
        delete d.external_peer_edges_by_key[i.key];
        d.topology_epoch += 1;
      },
      to: 'self',
      emit: (s, i) => [
        { type: 'WiringGraphChanged', epoch: s.topology_epoch },
        { type: 'EmitExternalPeerLifecycleNotice', kind: 'Unwired', key: i.key, edge: { local: i.edge.local, peer: i.edge.peer } },
      ],
    },
    { name: 'UnwireExternalPeerAlreadyAbsent', from: ['Running'], guards: [externalKeyUnbound()], to: 'self' },
  ],
};
