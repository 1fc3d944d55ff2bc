/** proto (`meerkat.mob.v1`) ⇄ sidecar domain conversions of the MobService adapter. */
import {
  MemberStatus as ProtoMemberStatus,
  MobPhase as ProtoMobPhase,
  RuntimeMode as ProtoRuntimeMode,
  StartupStage as ProtoStartupStage,
  WorkOrigin as ProtoWorkOrigin,
  LifecycleAction,
  type Member,
  type MobDefinition as ProtoMobDefinition,
  type MobEvent,
} from '../../src/gen/meerkat/mob/v1/mob.js';
import type { DefinitionInput } from '../definition.js';
import { MobError } from '../errors.js';
import type { MemberStatus, MemberView, MobPhase, RuntimeMode, StartupStage } from '../machine/index.js';
import type { MobEventRecord } from '../store/mob-store.js';

const PHASES: Readonly<Record<MobPhase, ProtoMobPhase>> = {
  Running: ProtoMobPhase.RUNNING,
  Stopped: ProtoMobPhase.STOPPED,
  Completed: ProtoMobPhase.COMPLETED,
  Destroyed: ProtoMobPhase.DESTROYED,
};

const STATUSES: Readonly<Record<MemberStatus, ProtoMemberStatus>> = {
  Active: ProtoMemberStatus.ACTIVE,
  Retiring: ProtoMemberStatus.RETIRING,
  Broken: ProtoMemberStatus.BROKEN,
  Completed: ProtoMemberStatus.COMPLETED,
  Unknown: ProtoMemberStatus.UNKNOWN,
};

const STAGES: Readonly<Record<StartupStage, ProtoStartupStage>> = {
  None: ProtoStartupStage.NONE,
  BindingRequested: ProtoStartupStage.BINDING_REQUESTED,
  RuntimeReady: ProtoStartupStage.RUNTIME_READY,
  Ready: ProtoStartupStage.READY,
};

export const phaseToProto = (p: MobPhase): ProtoMobPhase => PHASES[p];

function runtimeModeToProto(m: RuntimeMode | null): ProtoRuntimeMode {
  if (m === null) return ProtoRuntimeMode.UNSPECIFIED;
  return m === 'TurnDriven' ? ProtoRuntimeMode.TURN_DRIVEN : ProtoRuntimeMode.AUTONOMOUS_HOST;
}

function runtimeModeFromProto(m: ProtoRuntimeMode, field: string): RuntimeMode | null {
  switch (m) {
    case ProtoRuntimeMode.UNSPECIFIED:
      return null;
    case ProtoRuntimeMode.AUTONOMOUS_HOST:
      return 'AutonomousHost';
    case ProtoRuntimeMode.TURN_DRIVEN:
      return 'TurnDriven';
    default:
      throw MobError.invalid([{ field, description: 'must be RUNTIME_MODE_AUTONOMOUS_HOST or RUNTIME_MODE_TURN_DRIVEN' }]);
  }
}

export function definitionFromProto(d: ProtoMobDefinition | undefined): DefinitionInput {
  if (d === undefined) throw MobError.invalid([{ field: 'definition', description: 'is required' }]);
  const profiles: DefinitionInput['profiles'] = Object.fromEntries(
    Object.entries(d.profiles).map(([name, p]) => [
      name,
      {
        model: p.model,
        executor: p.executor,
        external_addressable: p.external_addressable,
        runtime_mode: runtimeModeFromProto(p.runtime_mode, `definition.profiles[${name}].runtime_mode`),
        peer_description: p.peer_description,
        skills: p.skills,
        tools: p.tools ? { builtins: p.tools.builtins, shell: p.tools.shell, comms: p.tools.comms, memory: p.tools.memory, mcp: p.tools.mcp } : undefined,
      },
    ]),
  );
  return {
    id: d.id,
    profiles,
    wiring: d.wiring ? { auto_wire_orchestrator: d.wiring.auto_wire_orchestrator, role_wiring: d.wiring.role_wiring.map((r) => ({ a: r.a, b: r.b })) } : undefined,
    orchestrator: d.orchestrator ? { profile: d.orchestrator.profile } : undefined,
  };
}

export function memberToProto(v: MemberView, labels: Readonly<Record<string, string>>): Member {
  return {
    agent_identity: v.agent_identity,
    status: STATUSES[v.status],
    error: v.error ?? undefined,
    is_final: v.is_final,
    agent_runtime_id: v.agent_runtime_id ?? undefined,
    generation: v.generation ?? undefined,
    fence_token: v.fence_token ?? undefined,
    session_id: v.session_id ?? undefined,
    profile: v.profile_name ?? undefined,
    runtime_mode: runtimeModeToProto(v.runtime_mode),
    external_addressable: v.external_addressable,
    startup: STAGES[v.startup],
    ready: v.ready,
    wired_to: [...v.wired_to],
    labels: { ...labels },
  };
}

export function eventToProto(e: MobEventRecord): MobEvent {
  return { cursor: e.cursor, mob_id: e.mob_id, type: e.type, payload_json: e.payload, created_at: e.created_at };
}

export function originFromProto(o: ProtoWorkOrigin): 'External' | 'Internal' {
  if (o === ProtoWorkOrigin.INTERNAL) return 'Internal';
  if (o === ProtoWorkOrigin.EXTERNAL || o === ProtoWorkOrigin.UNSPECIFIED) return 'External';
  throw MobError.invalid([{ field: 'origin', description: 'must be WORK_ORIGIN_EXTERNAL or WORK_ORIGIN_INTERNAL' }]);
}

export function actionFromProto(a: LifecycleAction): 'stop' | 'resume' | 'complete' | 'reset' | 'destroy' {
  switch (a) {
    case LifecycleAction.STOP:
      return 'stop';
    case LifecycleAction.RESUME:
      return 'resume';
    case LifecycleAction.COMPLETE:
      return 'complete';
    case LifecycleAction.RESET:
      return 'reset';
    case LifecycleAction.DESTROY:
      return 'destroy';
    default:
      throw MobError.invalid([{ field: 'action', description: 'must be one of stop, resume, complete, reset, destroy' }]);
  }
}
