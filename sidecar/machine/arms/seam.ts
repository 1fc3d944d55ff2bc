/**
 * The seam, mob side (`mob.md` §1.2, §1.4, §1.7): the three kernel → mob signals and the
 * three refusal closures the shell builds when the kernel refuses a routed request.
 *
 * Signals carry only `{agent_runtime_id, fence_token}`. A signal for a runtime that is not
 * in `live_runtime_ids` (stale generation, already retired, another mob's member, the
 * empty payload of a binding-less destroy) or with a different fence is *rejected* by the
 * guards below; the shell logs and drops it and nothing flows back to the kernel
 * (see `../signals.ts`). Duplicates are harmless: exact re-binding is silent on the kernel
 * side, a repeated `ObserveRuntimeReady` is idempotent, and the first `RuntimeRetired`
 * already removed R from the live set.
 */
import { setHas } from '../../../src/machine/collections.js';
import { ALL_PHASES, guard, RUNNING_OR_STOPPED } from '../arm.js';
import type { ArmTable, Guard } from '../arm.js';
import {
  dropLiveRuntime,
  dropStartup,
  identityBindingMatches,
  identityOfRuntime,
  markedRetiring,
  noPendingDetach,
  runtimeFenceMatches,
  runtimeLive,
} from '../helpers.js';
import { setAdd } from '../../../src/machine/collections.js';
import type { WorkOrigin } from '../state.js';

// ---------------------------------------------------------------------------------------------
// Inputs

/** The seam signal payload (`RuntimeBound | RuntimeRetired | RuntimeDestroyed`). */
export interface SeamSignalFields {
  readonly agent_runtime_id: string;
  readonly fence_token: number;
}

/** ← kernel `RuntimeBound` (route `runtime_bound_reaches_mob`). */
export interface ObserveRuntimeReady extends SeamSignalFields {
  readonly type: 'ObserveRuntimeReady';
}
/** ← kernel `RuntimeRetired` (route `runtime_retired_reaches_mob`). */
export interface ObserveRuntimeRetired extends SeamSignalFields {
  readonly type: 'ObserveRuntimeRetired';
}
/** ← kernel `RuntimeDestroyed` (route `runtime_destroyed_reaches_mob`); mob-terminal. */
export interface ObserveRuntimeDestroyed extends SeamSignalFields {
  readonly type: 'ObserveRuntimeDestroyed';
}

/** Closure of a refused `RequestRuntimeBinding` (`binding_request_reaches_meerkat`). */
export interface ResolveRuntimeBindingRefusal {
  readonly type: 'ResolveRuntimeBindingRefusal';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly session_id: string;
  readonly refusal_code: string;
  readonly reason: string;
}

/** Closure of a refused `RequestRuntimeIngress` (`work_request_reaches_meerkat`). */
export interface ResolveRuntimeIngressRefusal {
  readonly type: 'ResolveRuntimeIngressRefusal';
  readonly agent_runtime_id: string;
  readonly fence_token: number;
  readonly session_id: string;
  readonly work_id: string;
  readonly origin: WorkOrigin;
  readonly refusal_code: string;
  readonly reason: string;
}

/** Closure of a refused `RequestRuntimeRetire` (`retire_request_reaches_meerkat`). */
export interface ResolveRuntimeRetireRefusal {
  readonly type: 'ResolveRuntimeRetireRefusal';
  readonly agent_identity: string;
  readonly agent_runtime_id: string;
  readonly session_id: string;
  readonly refusal_code: string;
  readonly reason: string;
}

export type SeamInput =
  | ObserveRuntimeReady
  | ObserveRuntimeRetired
  | ObserveRuntimeDestroyed
  | ResolveRuntimeBindingRefusal
  | ResolveRuntimeIngressRefusal
  | ResolveRuntimeRetireRefusal;

/** The three signal inputs, by the kernel effect they fold. */
export const SIGNAL_INPUT_FOR = {
  RuntimeBound: 'ObserveRuntimeReady',
  RuntimeRetired: 'ObserveRuntimeRetired',
  RuntimeDestroyed: 'ObserveRuntimeDestroyed',
} as const;

// ---------------------------------------------------------------------------------------------
// Guards

const sessionBindingMatches = guard<ResolveRuntimeBindingRefusal>(
  'session_binding_matches',
  (s, i) => s.member_session_bindings[i.agent_identity] === i.session_id,
);

const signalGuards = <I extends SeamSignalFields>(): Guard<I>[] => [runtimeLive(), runtimeFenceMatches()];

// ---------------------------------------------------------------------------------------------
// Transition table

export const seamArms: ArmTable<SeamInput> = {
  ObserveRuntimeReady: [
    {
      name: 'ObserveRuntimeReady',
      from: ['Running'],
      guards: signalGuards(),
      // binding_requested → runtime_ready; a runtime already marked ready by the shell stays ready.
      update: (d, i) => {
        const r = i.agent_runtime_id;
        if (setHas(d.member_startup_ready, r)) return;
        dropStartup(d, r);
        d.member_startup_runtime_ready = setAdd(d.member_startup_runtime_ready, r);
      },
      to: 'self',
    },
  ],

  ObserveRuntimeRetired: [
    {
      name: 'ObserveRuntimeRetired',
      from: RUNNING_OR_STOPPED,
      guards: signalGuards(),
      update: (d, i) => {
        dropLiveRuntime(d, i.agent_runtime_id);
        d.active_run_count = 0;
      },
      to: 'self',
      emit: (s, i) => [
        {
          type: 'EmitMemberLifecycleNotice',
          kind: 'Retired',
          agent_identity: identityOfRuntime(s, i.agent_runtime_id),
          agent_runtime_id: i.agent_runtime_id,
        },
      ],
    },
  ],

  ObserveRuntimeDestroyed: [
    {
      name: 'ObserveRuntimeDestroyed',
      from: ALL_PHASES,
      guards: [...signalGuards<ObserveRuntimeDestroyed>(), noPendingDetach()],
      // Identity maps and session bindings are left as they were (mob.md §1.12).
      update: (d) => {
        d.live_runtime_ids = [];
        d.externally_addressable_runtime_ids = [];
        d.runtime_fence_tokens = {};
        d.member_state_markers = {};
        d.member_restore_failures = {};
        d.member_restore_failure_codes = {};
        d.runtime_retire_pending_sessions = {};
        d.runtime_retire_refusal_codes = {};
        d.runtime_retire_refusal_reasons = {};
        d.pending_session_ingress_detach_runtime_ids = [];
        d.spawn_exec_phase = {};
        d.pending_spawn_count = 0;
        d.pending_spawn_sessions = {};
        d.member_startup_binding_requested = [];
        d.member_startup_runtime_ready = [];
        d.member_startup_ready = [];
        d.coordinator_bound = false;
      },
      to: 'Destroyed',
      emit: (s, i) => [
        {
          type: 'EmitMemberLifecycleNotice',
          kind: 'Destroyed',
          agent_identity: identityOfRuntime(s, i.agent_runtime_id),
          agent_runtime_id: i.agent_runtime_id,
        },
      ],
    },
  ],

  ResolveRuntimeBindingRefusal: [
    {
      name: 'ResolveRuntimeBindingRefusalRunning',
      from: ['Running'],
      guards: [identityBindingMatches(), runtimeLive(), sessionBindingMatches],
      update: (d, i) => {
        d.member_restore_failures[i.agent_identity] = i.reason;
        d.member_restore_failure_codes[i.agent_identity] = i.refusal_code;
      },
      to: 'self',
      emit: (_s, i) => [
        {
          type: 'RuntimeBindingRefusalClassified',
          agent_identity: i.agent_identity,
          agent_runtime_id: i.agent_runtime_id,
          session_id: i.session_id,
          refusal_code: i.refusal_code,
          reason: i.reason,
        },
      ],
    },
  ],

  ResolveRuntimeIngressRefusal: [
    {
      name: 'ResolveRuntimeIngressRefusalRunning',
      from: ['Running'],
      guards: signalGuards(),
      to: 'self',
      emit: (_s, i) => [
        {
          type: 'RuntimeIngressRefusalClassified',
          agent_runtime_id: i.agent_runtime_id,
          fence_token: i.fence_token,
          session_id: i.session_id,
          work_id: i.work_id,
          origin: i.origin,
          refusal_code: i.refusal_code,
          reason: i.reason,
        },
      ],
    },
  ],

  ResolveRuntimeRetireRefusal: RUNNING_OR_STOPPED.map((phase) => ({
    name: `ResolveRuntimeRetireRefusal${phase}`,
    from: [phase],
    guards: [identityBindingMatches<ResolveRuntimeRetireRefusal>(), markedRetiring<ResolveRuntimeRetireRefusal>()],
    update: (d, i: ResolveRuntimeRetireRefusal) => {
      d.runtime_retire_refusal_codes[i.agent_runtime_id] = i.refusal_code;
      d.runtime_retire_refusal_reasons[i.agent_runtime_id] = i.reason;
      d.runtime_retire_pending_sessions[i.agent_runtime_id] = i.session_id;
    },
    to: 'self' as const,
    emit: (_s, i: ResolveRuntimeRetireRefusal) => [
      {
        type: 'RuntimeRetireRefusalClassified' as const,
        agent_identity: i.agent_identity,
        agent_runtime_id: i.agent_runtime_id,
        session_id: i.session_id,
        refusal_code: i.refusal_code,
        reason: i.reason,
      },
    ],
  })),
};
