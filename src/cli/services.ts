/**
 * Every RPC of the generated kernel services, looked up by name for `meerkat call`.
 *
 * A method's request and response message types are found by the proto naming rule that
 * `buf lint` (STANDARD) enforces on this package: `<Rpc>Request` / `<Rpc>Response` (or
 * `<Service><Rpc>Request` / `…Response`), exported from the method's generated module.
 */
import type * as grpc from '@grpc/grpc-js';
import * as composition from '../gen/meerkat/kernel/v1/composition.js';
import * as control from '../gen/meerkat/kernel/v1/control.js';
import * as drain from '../gen/meerkat/kernel/v1/drain.js';
import * as executor from '../gen/meerkat/kernel/v1/executor.js';
import * as ingress from '../gen/meerkat/kernel/v1/ingress.js';
import * as modelRouting from '../gen/meerkat/kernel/v1/model_routing.js';
import * as run from '../gen/meerkat/kernel/v1/run.js';
import * as session from '../gen/meerkat/kernel/v1/session.js';
import * as visibility from '../gen/meerkat/kernel/v1/visibility.js';

/** The proto package of every kernel service. */
export const PROTO_PACKAGE = 'meerkat.kernel.v1';

/** JSON conversion of one generated message type. */
export interface JsonMessageType {
  fromJSON(object: unknown): unknown;
  toJSON(message: unknown): unknown;
}

/** One RPC, resolved. */
export interface ResolvedMethod {
  /** `SessionService`. */
  readonly service: string;
  /** `RegisterSession`. */
  readonly rpc: string;
  readonly definition: grpc.MethodDefinition<unknown, unknown>;
  readonly request: JsonMessageType;
  readonly response: JsonMessageType;
  /** `unary`, `server-streaming`, `client-streaming` or `bidi-streaming`. */
  readonly kind: 'unary' | 'server-streaming' | 'client-streaming' | 'bidi-streaming';
}

interface ServiceEntry {
  readonly name: string;
  readonly definition: grpc.ServiceDefinition;
  readonly module: Readonly<Record<string, unknown>>;
}

const SERVICES: readonly ServiceEntry[] = [
  { name: 'SessionService', definition: session.SessionServiceService, module: session },
  { name: 'IngressService', definition: ingress.IngressServiceService, module: ingress },
  { name: 'ControlService', definition: control.ControlServiceService, module: control },
  { name: 'RunService', definition: run.RunServiceService, module: run },
  { name: 'DrainService', definition: drain.DrainServiceService, module: drain },
  { name: 'VisibilityService', definition: visibility.VisibilityServiceService, module: visibility },
  { name: 'ModelRoutingService', definition: modelRouting.ModelRoutingServiceService, module: modelRouting },
  { name: 'CompositionService', definition: composition.CompositionServiceService, module: composition },
  { name: 'ExecutorService', definition: executor.ExecutorServiceService, module: executor },
];

function isJsonMessageType(x: unknown): x is JsonMessageType {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as Partial<JsonMessageType>).fromJSON === 'function' &&
    typeof (x as Partial<JsonMessageType>).toJSON === 'function'
  );
}

function messageType(entry: ServiceEntry, rpc: string, suffix: 'Request' | 'Response'): JsonMessageType {
  for (const name of [`${rpc}${suffix}`, `${entry.name}${rpc}${suffix}`]) {
    const t = entry.module[name];
    if (isJsonMessageType(t)) return t;
  }
  throw new Error(`no generated ${suffix.toLowerCase()} type for ${entry.name}.${rpc}`);
}

function kindOf(d: grpc.MethodDefinition<unknown, unknown>): ResolvedMethod['kind'] {
  if (d.requestStream) return d.responseStream ? 'bidi-streaming' : 'client-streaming';
  return d.responseStream ? 'server-streaming' : 'unary';
}

function resolve(entry: ServiceEntry, key: string): ResolvedMethod {
  const definition = entry.definition[key] as grpc.MethodDefinition<unknown, unknown>;
  const rpc = definition.path.slice(definition.path.lastIndexOf('/') + 1);
  return {
    service: entry.name,
    rpc,
    definition,
    request: messageType(entry, rpc, 'Request'),
    response: messageType(entry, rpc, 'Response'),
    kind: kindOf(definition),
  };
}

/** Every RPC of every kernel service, in declaration order. */
export function allMethods(): ResolvedMethod[] {
  return SERVICES.flatMap((entry) => Object.keys(entry.definition).map((key) => resolve(entry, key)));
}

/**
 * Finds `Service.Rpc`. Accepted spellings (case-insensitive): `ControlService.RuntimeState`,
 * `Control.RuntimeState`, `meerkat.kernel.v1.ControlService.RuntimeState`,
 * `/meerkat.kernel.v1.ControlService/RuntimeState`, `ControlService/runtimeState`.
 * Throws with the list of candidates when nothing matches.
 */
export function findMethod(spec: string): ResolvedMethod {
  const cleaned = spec.trim().replace(/^\//, '');
  const cut = Math.max(cleaned.lastIndexOf('/'), cleaned.lastIndexOf('.'));
  if (cut <= 0 || cut === cleaned.length - 1) {
    throw new Error(`"${spec}" is not <Service>.<Rpc> (e.g. ControlService.RuntimeState); run \`meerkat methods\` for the list`);
  }
  let serviceName = cleaned.slice(0, cut).toLowerCase();
  const rpcName = cleaned.slice(cut + 1).toLowerCase();
  if (serviceName.startsWith(`${PROTO_PACKAGE}.`)) serviceName = serviceName.slice(PROTO_PACKAGE.length + 1);
  const entry = SERVICES.find((s) => s.name.toLowerCase() === serviceName || s.name.toLowerCase() === `${serviceName}service`);
  if (!entry) {
    throw new Error(`unknown service "${cleaned.slice(0, cut)}"; services: ${SERVICES.map((s) => s.name).join(', ')}`);
  }
  for (const key of Object.keys(entry.definition)) {
    const m = resolve(entry, key);
    if (m.rpc.toLowerCase() === rpcName) return m;
  }
  const rpcs = Object.keys(entry.definition).map((k) => resolve(entry, k).rpc);
  throw new Error(`${entry.name} has no RPC "${cleaned.slice(cut + 1)}"; it has: ${rpcs.join(', ')}`);
}
