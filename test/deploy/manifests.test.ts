/**
 * The Kubernetes deployment (`deploy/`): renders the kustomize base and every overlay with
 * `kubectl kustomize` (kubectl missing = these tests FAIL, they never skip), validates every
 * rendered object against the Kubernetes and Istio schemas (`kubernetes-models`,
 * `@kubernetes-models/istio`; an unknown apiVersion/kind fails), and asserts what the deployment
 * promises: native gRPC probes on the health service the server implements, replicas, the
 * termination budget, non-root read-only containers, `appProtocol: grpc`, DATABASE_URL only from
 * a Secret reference (a literal only in the dev overlay, without a password), environment
 * variables the server reads, the migration entry point the build emits, the mesh overlays'
 * routing and policies. Also checks `deploy/Dockerfile` and `.dockerignore`, and that a broken
 * manifest does fail validation.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IDestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import type { IAuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy';
import type { IPeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication';
import { beforeAll, describe, expect, it } from 'vitest';
import { HARD_EXIT_MARGIN_MS } from '../../src/server/process-signals.js';
import { KERNEL_SERVICES } from '../../src/server/server.js';
import { DEFAULT_SIDECAR_PORT } from '../../sidecar/config.js';
import { SIDECAR_SERVICES } from '../../sidecar/server/sidecar-server.js';
import { type K8sObject, MODELS, parseManifests, render, requireKubectl, validateObject, validationErrors } from './kube.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const NAMESPACE = 'meerkat';
const GRPC_PORT = 50051;
const SESSION_HEADER = 'x-meerkat-session-id';

type Variant = 'base' | 'dev' | 'istio' | 'linkerd';
const VARIANTS: Record<Variant, string> = {
  base: join(DEPLOY, 'base'),
  dev: join(DEPLOY, 'overlays/dev'),
  istio: join(DEPLOY, 'overlays/istio'),
  linkerd: join(DEPLOY, 'overlays/linkerd'),
};

/** Environment variables the server reads: every `text('…')` / `ms('…')` of src/server/config.ts. */
const SERVER_VARIABLES = new Set([...readFileSync(join(ROOT, 'src/server/config.ts'), 'utf8').matchAll(/\b(?:text|ms)\('([A-Z0-9_]+)'/g)].map((m) => m[1]!));
/** The sidecar's MobService / health port (sidecar/config.ts). */
const SIDECAR_PORT = DEFAULT_SIDECAR_PORT;
/** Environment variables the sidecar reads: every `text('…')` / `int('…')` of sidecar/config.ts. */
const SIDECAR_VARIABLES = new Set([...readFileSync(join(ROOT, 'sidecar/config.ts'), 'utf8').matchAll(/\b(?:text|int)\('([A-Z0-9_]+)'/g)].map((m) => m[1]!));

// Rendered once; a failure (kubectl missing, a kustomize error) is kept and thrown by every test
// that needs the rendering, so each of them FAILS with the cause rather than being skipped.
const rendered = new Map<Variant, K8sObject[] | Error>();
beforeAll(async () => {
  for (const [variant, dir] of Object.entries(VARIANTS) as [Variant, string][]) {
    rendered.set(variant, await render(dir).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
  }
});

function objects(variant: Variant): K8sObject[] {
  const list = rendered.get(variant);
  if (list === undefined) throw new Error(`${variant} was not rendered`);
  if (list instanceof Error) throw list;
  return list;
}

function find<T>(variant: Variant, kind: string, name: string): T {
  const found = objects(variant).filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`${variant}: expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as unknown as T;
}

function ofKind<T>(variant: Variant, kind: string): T[] {
  return objects(variant).filter((o) => o.kind === kind) as unknown as T[];
}

function podTemplate(object: IDeployment | IJob | IStatefulSet): IPodTemplateSpec {
  const template = object.spec?.template;
  if (template === undefined) throw new Error(`${object.metadata?.name ?? '?'} has no pod template`);
  return template;
}

function container(object: IDeployment | IJob, name: string): IContainer {
  const c = podTemplate(object).spec?.containers.find((x) => x.name === name);
  if (c === undefined) throw new Error(`${object.metadata?.name ?? '?'} has no container ${name}`);
  return c;
}

/** The workloads built from the kernel image (everything but the dev PostgreSQL). */
function meerkatWorkloads(variant: Variant): (IDeployment | IJob)[] {
  return [...ofKind<IDeployment>(variant, 'Deployment'), ...ofKind<IJob>(variant, 'Job')];
}

function expectGrpcProbe(probe: IProbe | undefined, what: string): void {
  expect(probe, `${what} is missing`).toBeDefined();
  expect(probe?.grpc?.port, `${what} must be a native gRPC probe on ${GRPC_PORT}`).toBe(GRPC_PORT);
  expect(probe?.httpGet ?? probe?.exec ?? probe?.tcpSocket, `${what} must not also be http/exec/tcp`).toBeUndefined();
  const service = probe?.grpc?.service ?? '';
  expect(['', ...KERNEL_SERVICES], `${what}: health service "${service}" is not one src/server/health.ts reports`).toContain(service);
}

function configMapValues(variant: Variant): Record<string, string> {
  return find<IConfigMap>(variant, 'ConfigMap', 'meerkat-kernel-config').data ?? {};
}

/** True when `selector` is non-empty and every one of its labels is on `labels`. */
function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Whether a NetworkPolicy port list (absent = every port) admits TCP `port`. */
function admitsPort(ports: readonly INetworkPolicyPort[] | undefined, port: number): boolean {
  return ports === undefined || ports.some((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP');
}

/** A peer that selects pods of this namespace by label only (no namespaceSelector, no ipBlock). */
function selectsLocalPods(peer: INetworkPolicyPeer, labels: Readonly<Record<string, string>>): boolean {
  return peer.namespaceSelector === undefined && peer.ipBlock === undefined && selects(peer.podSelector?.matchLabels, labels);
}

/** A peer naming a meerkat workload (app.kubernetes.io/name), as opposed to a client selector. */
function isWorkloadPeer(peer: INetworkPolicyPeer): boolean {
  return peer.podSelector?.matchLabels?.['app.kubernetes.io/name']?.startsWith('meerkat-') === true;
}

const MEERKAT_PRINCIPAL = new RegExp(`^cluster\\.local/ns/${NAMESPACE}/sa/meerkat-[a-z0-9-]+$`);

function principalsOf(ap: IAuthorizationPolicy): string[] {
  return (ap.spec?.rules ?? []).flatMap((r) => (r.from ?? []).flatMap((f) => f.source?.principals ?? []));
}

/**
 * Every way the rendered `list` deploys the mob sidecar wrongly (empty when it is right): the probe,
 * port, environment, Service, NetworkPolicies and, when the kernel has one, the Istio
 * AuthorizationPolicy. A pure function of the objects so that "schema validation can fail" below
 * can show each check failing on a broken copy.
 */
function sidecarProblems(list: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const one = <T>(kind: string, name: string): T | undefined => {
    const found = list.filter((o) => o.kind === kind && o.metadata.name === name);
    if (found.length !== 1) problems.push(`expected one ${kind} ${name}, found ${found.length}`);
    return found[0] as T | undefined;
  };
  const deployment = one<IDeployment>('Deployment', 'meerkat-sidecar');
  const service = one<IService>('Service', 'meerkat-sidecar');
  const kernelDeployment = one<IDeployment>('Deployment', 'meerkat-kernel');
  const kernelService = one<IService>('Service', 'meerkat-kernel');
  const sidecar = deployment?.spec?.template.spec?.containers.find((c) => c.name === 'sidecar');
  if (deployment === undefined || service === undefined || kernelDeployment === undefined || kernelService === undefined || sidecar === undefined) {
    return [...problems, 'the sidecar Deployment, its container "sidecar", or a Service is missing'];
  }
  const podLabels = deployment.spec?.template.metadata?.labels ?? {};
  const kernelPodLabels = kernelDeployment.spec?.template.metadata?.labels ?? {};

  // Probes: readiness only. A standby waiting on the consumer lock serves nothing, not even health.
  const ready = sidecar.readinessProbe;
  if (ready?.grpc?.port !== SIDECAR_PORT) problems.push(`readinessProbe must be a native gRPC probe on ${SIDECAR_PORT}, got ${JSON.stringify(ready)}`);
  if (ready?.httpGet !== undefined || ready?.exec !== undefined || ready?.tcpSocket !== undefined) problems.push('readinessProbe must be gRPC only');
  const healthService = ready?.grpc?.service ?? '';
  if (!['', ...SIDECAR_SERVICES].includes(healthService)) problems.push(`readinessProbe: health service "${healthService}" is not one the sidecar reports (${['""', ...SIDECAR_SERVICES].join(', ')})`);
  if (sidecar.livenessProbe !== undefined) problems.push('livenessProbe: it would kill the standby that waits on the consumer lock');
  if (sidecar.startupProbe !== undefined) problems.push('startupProbe: it would kill the standby that waits on the consumer lock');

  // The port it listens on = the container port named grpc.
  const ports = sidecar.ports ?? [];
  if (!isDeepStrictEqual(ports, [{ name: 'grpc', containerPort: SIDECAR_PORT, protocol: 'TCP' }])) problems.push(`container ports must be grpc ${SIDECAR_PORT}/TCP, got ${JSON.stringify(ports)}`);

  // Environment: only variables sidecar/config.ts reads; the kernel address is the kernel Service.
  const configMapKeys = (sidecar.envFrom ?? []).flatMap((f) => {
    const name = f.configMapRef?.name;
    const cm = list.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as IConfigMap | undefined;
    if (f.secretRef !== undefined || cm === undefined) problems.push(`envFrom ${JSON.stringify(f)}: only ConfigMaps of this deployment`);
    return Object.keys(cm?.data ?? {});
  });
  const names = [...(sidecar.env ?? []).map((e) => e.name), ...configMapKeys];
  for (const name of names.filter((n) => n.startsWith('MEERKAT_'))) {
    if (!SIDECAR_VARIABLES.has(name)) problems.push(`env ${name} is not read by sidecar/config.ts`);
  }
  const env = new Map((sidecar.env ?? []).map((e) => [e.name, e.value]));
  const listenPort = Number(env.get('MEERKAT_SIDECAR_PORT') ?? DEFAULT_SIDECAR_PORT);
  if (listenPort !== SIDECAR_PORT) problems.push(`MEERKAT_SIDECAR_PORT ${listenPort} is not the container port ${SIDECAR_PORT}`);
  const kernelPort = kernelService.spec?.ports?.find((p) => p.name === 'grpc')?.port;
  const kernelAddress = `${kernelService.metadata?.name ?? '?'}.${kernelService.metadata?.namespace ?? '?'}.svc.cluster.local:${String(kernelPort)}`;
  if (env.get('MEERKAT_KERNEL_ADDR') !== kernelAddress) problems.push(`MEERKAT_KERNEL_ADDR must be the kernel Service ${kernelAddress}, got ${String(env.get('MEERKAT_KERNEL_ADDR'))}`);

  // The Service: gRPC on the sidecar port, selecting the sidecar pods and only them.
  if (!isDeepStrictEqual(service.spec?.ports, [{ name: 'grpc', port: SIDECAR_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' }])) {
    problems.push(`Service meerkat-sidecar ports must be grpc ${SIDECAR_PORT} → targetPort grpc, appProtocol grpc; got ${JSON.stringify(service.spec?.ports)}`);
  }
  if (!selects(service.spec?.selector, podLabels)) problems.push(`Service meerkat-sidecar selector ${JSON.stringify(service.spec?.selector)} does not select the sidecar pods`);
  if (selects(service.spec?.selector, kernelPodLabels)) problems.push('Service meerkat-sidecar selector also selects the kernel pods');
  if (!selects(deployment.spec?.selector.matchLabels, podLabels)) problems.push('Deployment meerkat-sidecar selector does not select its own pods');

  // NetworkPolicies: clients in on the sidecar port exactly as the kernel's; out to the kernel.
  const policies = list.filter((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy[];
  const policyOf = (labels: Readonly<Record<string, string>>, name: string): INetworkPolicy | undefined =>
    policies.find((p) => p.metadata?.name === name && selects(p.spec?.podSelector?.matchLabels, labels));
  const sidecarPolicy = policyOf(podLabels, 'meerkat-sidecar');
  const kernelPolicy = policyOf(kernelPodLabels, 'meerkat-kernel');
  if (sidecarPolicy === undefined || kernelPolicy === undefined) {
    problems.push('NetworkPolicy meerkat-sidecar or meerkat-kernel is missing or selects other pods');
  } else {
    const clientPeers = (kernelPolicy.spec?.ingress ?? []).flatMap((r) => r.from ?? []).filter((p) => !isWorkloadPeer(p));
    const sidecarIngress = sidecarPolicy.spec?.ingress ?? [];
    const sidecarPeers = sidecarIngress.flatMap((r) => r.from ?? []);
    const sorted = (peers: INetworkPolicyPeer[]): string[] => peers.map((p) => JSON.stringify(p)).sort();
    if (clientPeers.length === 0 || !isDeepStrictEqual(sorted(sidecarPeers), sorted(clientPeers))) {
      problems.push(`NetworkPolicy meerkat-sidecar must admit the kernel's client selectors ${JSON.stringify(clientPeers)}, admits ${JSON.stringify(sidecarPeers)}`);
    }
    for (const r of sidecarIngress) {
      if (r.from === undefined || !isDeepStrictEqual(r.ports, [{ port: SIDECAR_PORT, protocol: 'TCP' }])) problems.push(`NetworkPolicy meerkat-sidecar ingress must be on ${SIDECAR_PORT}/TCP from named peers, got ${JSON.stringify(r)}`);
    }
    const egress = sidecarPolicy.spec?.egress ?? [];
    const allowsOut = (port: number, protocol = 'TCP'): boolean => egress.some((r) => r.to === undefined && (r.ports ?? []).some((p) => p.port === port && (p.protocol ?? 'TCP') === protocol));
    if (!allowsOut(53, 'UDP') || !allowsOut(53, 'TCP')) problems.push('NetworkPolicy meerkat-sidecar must allow DNS out');
    if (!allowsOut(5432)) problems.push('NetworkPolicy meerkat-sidecar must allow PostgreSQL out');
    const kernelContainerPort = kernelDeployment.spec?.template.spec?.containers.find((c) => c.name === 'kernel')?.ports?.find((p) => p.name === 'grpc')?.containerPort ?? -1;
    if (!egress.some((r) => (r.to ?? []).some((peer) => selectsLocalPods(peer, kernelPodLabels)) && admitsPort(r.ports, kernelContainerPort))) {
      problems.push(`NetworkPolicy meerkat-sidecar must allow out to the kernel pods on ${kernelContainerPort}`);
    }
    const kernelAdmits = (kernelPolicy.spec?.ingress ?? []).some((r) => (r.from ?? []).some((peer) => selectsLocalPods(peer, podLabels)) && admitsPort(r.ports, kernelContainerPort));
    if (!kernelAdmits) problems.push(`NetworkPolicy meerkat-kernel must admit the sidecar pods on ${kernelContainerPort}`);
  }

  // Istio: when the kernel has an AuthorizationPolicy, the sidecar has one with its client principals.
  const kernelAp = list.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === 'meerkat-kernel') as IAuthorizationPolicy | undefined;
  if (kernelAp !== undefined) {
    const ap = one<IAuthorizationPolicy>('AuthorizationPolicy', 'meerkat-sidecar');
    const clients = principalsOf(kernelAp).filter((p) => !MEERKAT_PRINCIPAL.test(p));
    if (ap !== undefined) {
      if (ap.spec?.action !== 'ALLOW' || !isDeepStrictEqual(ap.spec.selector?.matchLabels, { 'app.kubernetes.io/name': 'meerkat-sidecar' }) || !selects(ap.spec.selector?.matchLabels, podLabels)) {
        problems.push('AuthorizationPolicy meerkat-sidecar must ALLOW and select the sidecar pods');
      }
      if (clients.length === 0 || !isDeepStrictEqual(principalsOf(ap).sort(), clients.sort())) {
        problems.push(`AuthorizationPolicy meerkat-sidecar must allow the kernel's client principals ${JSON.stringify(clients)}, allows ${JSON.stringify(principalsOf(ap))}`);
      }
      for (const r of ap.spec?.rules ?? []) {
        const to = (r.to ?? []).map((t) => t.operation?.ports);
        if ((r.from?.length ?? 0) === 0 || !isDeepStrictEqual(to, [[String(SIDECAR_PORT)]])) problems.push(`AuthorizationPolicy meerkat-sidecar rule must name its sources and port ${SIDECAR_PORT}: ${JSON.stringify(r)}`);
      }
    }
  }
  return problems;
}

describe('kubectl', () => {
  it('is installed (rendering deploy/ needs it; a missing kubectl fails, never skips)', () => {
    expect(() => requireKubectl()).not.toThrow();
  });
});

describe('schema validation can fail', () => {
  const goodDeployment = (): Record<string, unknown> => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'broken' },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i', readinessProbe: { grpc: { port: GRPC_PORT } } }] } },
    },
  });
  const asObject = (value: Record<string, unknown>): K8sObject => parseManifests(JSON.stringify(value), 'inline')[0]!;

  it('accepts a well-formed object (the control)', () => {
    expect(() => validateObject(asObject(goodDeployment()))).not.toThrow();
  });

  it('rejects a field of the wrong type', () => {
    const broken = goodDeployment();
    (broken.spec as Record<string, unknown>).replicas = 'three';
    expect(() => validateObject(asObject(broken))).toThrow(/spec\/replicas must be integer/);
  });

  it('rejects a missing required field', () => {
    const broken = goodDeployment();
    (broken.spec as { template: { spec: Record<string, unknown> } }).template.spec = {};
    expect(() => validateObject(asObject(broken))).toThrow(/must have required property '?containers/);
  });

  it('rejects a gRPC probe on a named port (the API requires a number)', () => {
    const broken = goodDeployment();
    const c = (broken.spec as { template: { spec: { containers: { readinessProbe: { grpc: { port: unknown } } }[] } } }).template.spec.containers[0]!;
    c.readinessProbe.grpc.port = 'grpc';
    expect(() => validateObject(asObject(broken))).toThrow(/grpc\/port must be integer/);
  });

  it('rejects an Istio DestinationRule whose hash header is not a string', () => {
    const dr = { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: 'x' }, spec: { host: 'h', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 7 } } } } };
    expect(() => validateObject(asObject(dr))).toThrow(/httpHeaderName must be string/);
  });

  it('rejects an unknown apiVersion/kind', () => {
    expect(() => validateObject(asObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }))).toThrow(/no schema for this apiVersion\/kind/);
    expect(() => validateObject(asObject({ apiVersion: 'apps/v1beta1', kind: 'Deployment', metadata: { name: 'old' } }))).toThrow(/no schema/);
  });

  it('fails an overlay that patches the kernel Deployment into an invalid one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meerkat-broken-overlay-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${relative(dir, VARIANTS.base)}`, // kustomize refuses absolute resource roots
          'patches:',
          '  - target: {kind: Deployment, name: meerkat-kernel}',
          '    patch: |-',
          '      - {op: replace, path: /spec/replicas, value: "three"}',
          '',
        ].join('\n'),
      );
      const errors = validationErrors(await render(dir));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/Deployment meerkat-kernel is invalid: .*spec\/replicas must be integer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the sidecar checks can fail', () => {
  /** A deep copy of `variant`'s rendering with `change` applied to the object `kind`/`name`. */
  function broken<T>(variant: Variant, kind: string, name: string, change: (object: T) => void): K8sObject[] {
    const copy = structuredClone(objects(variant));
    const target = copy.find((o) => o.kind === kind && o.metadata.name === name);
    if (target === undefined) throw new Error(`${variant}: no ${kind} ${name}`);
    change(target as unknown as T);
    return copy;
  }
  const sidecarOf = (d: IDeployment): IContainer => d.spec!.template.spec!.containers.find((c) => c.name === 'sidecar')!;

  it('finds nothing wrong with the unmodified renderings (the control)', () => {
    expect(sidecarProblems(objects('base'))).toEqual([]);
    expect(sidecarProblems(objects('istio'))).toEqual([]);
  });

  it.each<[string, Variant, string, string, (o: never) => void, RegExp]>([
    ['a livenessProbe', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).livenessProbe = { grpc: { port: SIDECAR_PORT } }), /^livenessProbe/],
    ['a startupProbe', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).startupProbe = { grpc: { port: SIDECAR_PORT } }), /^startupProbe/],
    ['no readinessProbe', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void delete sidecarOf(d).readinessProbe, /^readinessProbe must be a native gRPC probe/],
    ['a readinessProbe on the kernel port', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).readinessProbe = { grpc: { port: GRPC_PORT } }), /^readinessProbe must be a native gRPC probe on 50052/],
    ['a readinessProbe on a kernel health service', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).readinessProbe = { grpc: { port: SIDECAR_PORT, service: KERNEL_SERVICES[0] } }), /health service/],
    ['a wrong kernel address', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).env!.find((e) => e.name === 'MEERKAT_KERNEL_ADDR')!.value = 'meerkat-kernel:50052'), /^MEERKAT_KERNEL_ADDR must be the kernel Service meerkat-kernel\.meerkat\.svc\.cluster\.local:50051/],
    ['a variable the sidecar does not read', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void sidecarOf(d).env!.push({ name: 'MEERKAT_LISTEN', value: '0.0.0.0:50052' }), /^env MEERKAT_LISTEN is not read/],
    ['the kernel ConfigMap as envFrom', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).envFrom = [{ configMapRef: { name: 'meerkat-kernel-config' } }]), /^env MEERKAT_LISTEN is not read/],
    ['a listen port other than the container port', 'base', 'Deployment', 'meerkat-sidecar', (d: IDeployment) => void (sidecarOf(d).env!.find((e) => e.name === 'MEERKAT_SIDECAR_PORT')!.value = '50053'), /^MEERKAT_SIDECAR_PORT 50053/],
    ['a Service without appProtocol', 'base', 'Service', 'meerkat-sidecar', (s: IService) => void delete s.spec!.ports![0]!.appProtocol, /^Service meerkat-sidecar ports/],
    ['a Service selecting other pods', 'base', 'Service', 'meerkat-sidecar', (s: IService) => void (s.spec!.selector = { 'app.kubernetes.io/name': 'meerkat-kernel' }), /does not select the sidecar pods/],
    ['a sidecar NetworkPolicy on the kernel port', 'base', 'NetworkPolicy', 'meerkat-sidecar', (p: INetworkPolicy) => void (p.spec!.ingress![0]!.ports = [{ port: GRPC_PORT, protocol: 'TCP' }]), /ingress must be on 50052/],
    ['a sidecar NetworkPolicy admitting everyone', 'base', 'NetworkPolicy', 'meerkat-sidecar', (p: INetworkPolicy) => void (p.spec!.ingress = [{ ports: [{ port: SIDECAR_PORT, protocol: 'TCP' }] }]), /must admit the kernel's client selectors/],
    ['no egress to the kernel', 'base', 'NetworkPolicy', 'meerkat-sidecar', (p: INetworkPolicy) => void (p.spec!.egress = p.spec!.egress!.filter((r) => r.to === undefined)), /must allow out to the kernel pods on 50051/],
    ['a kernel NetworkPolicy without the sidecar', 'base', 'NetworkPolicy', 'meerkat-kernel', (p: INetworkPolicy) => void (p.spec!.ingress![0]!.from = p.spec!.ingress![0]!.from!.slice(1)), /must admit the sidecar pods/],
    ['a sidecar AuthorizationPolicy missing a client principal', 'istio', 'AuthorizationPolicy', 'meerkat-sidecar', (a: IAuthorizationPolicy) => void (a.spec!.rules![0]!.from![0]!.source!.principals = ['cluster.local/ns/other/sa/other']), /client principals/],
    ['a sidecar AuthorizationPolicy on the kernel port', 'istio', 'AuthorizationPolicy', 'meerkat-sidecar', (a: IAuthorizationPolicy) => void (a.spec!.rules![0]!.to = [{ operation: { ports: [String(GRPC_PORT)] } }]), /port 50052/],
  ])('reports %s', (_what, variant, kind, name, change, problem) => {
    const problems = sidecarProblems(broken(variant, kind, name, change));
    expect(problems.some((p) => problem.test(p)), `${JSON.stringify(problems)} should match ${String(problem)}`).toBe(true);
  });

  it('reports a missing sidecar AuthorizationPolicy when the kernel has one', () => {
    const list = objects('istio').filter((o) => !(o.kind === 'AuthorizationPolicy' && o.metadata.name === 'meerkat-sidecar'));
    expect(sidecarProblems(list)).toContain('expected one AuthorizationPolicy meerkat-sidecar, found 0');
  });
});

describe.each(Object.keys(VARIANTS) as Variant[])('deploy %s', (variant) => {
  const production = variant !== 'dev';

  it('renders, and every object is valid against its Kubernetes/Istio schema', () => {
    const list = objects(variant);
    expect(list.length).toBeGreaterThan(10);
    expect(validationErrors(list)).toEqual([]);
    for (const o of list) expect(MODELS.has(`${o.apiVersion}/${o.kind}`)).toBe(true);
  });

  it(`puts everything in the ${NAMESPACE} namespace, which it creates`, () => {
    for (const o of objects(variant)) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NAMESPACE);
    expect(ofKind<K8sObject>(variant, 'Namespace').map((n) => n.metadata.name)).toEqual([NAMESPACE]);
  });

  it('runs the kernel with native gRPC probes on the health services the server reports', () => {
    const kernel = container(find<IDeployment>(variant, 'Deployment', 'meerkat-kernel'), 'kernel');
    expectGrpcProbe(kernel.livenessProbe, 'livenessProbe');
    expectGrpcProbe(kernel.readinessProbe, 'readinessProbe');
    expectGrpcProbe(kernel.startupProbe, 'startupProbe');
    expect(kernel.ports).toEqual([{ name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' }]);
    expect(configMapValues(variant).MEERKAT_LISTEN).toBe(`0.0.0.0:${GRPC_PORT}`);
  });

  it(`runs ${production ? 3 : 1} kernel replica(s)${production ? ' with an HPA from 3, rolling' : ', no HPA, Recreate on rollout'}`, () => {
    const deployment = find<IDeployment>(variant, 'Deployment', 'meerkat-kernel');
    expect(deployment.spec?.replicas).toBe(production ? 3 : 1);
    // Until replica leases land, one kernel per database also during a rollout.
    if (production) expect(deployment.spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    else expect(deployment.spec?.strategy).toEqual({ type: 'Recreate' });
    const hpas = ofKind<IHorizontalPodAutoscaler>(variant, 'HorizontalPodAutoscaler');
    if (production) {
      expect(hpas).toHaveLength(1);
      expect(hpas[0]!.spec?.minReplicas).toBe(3);
      expect(hpas[0]!.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'meerkat-kernel' });
    } else {
      expect(hpas).toEqual([]);
    }
  });

  it('drains within terminationGracePeriodSeconds: preStop sleep + shutdown grace + hard-exit margin', () => {
    const pod = podTemplate(find<IDeployment>(variant, 'Deployment', 'meerkat-kernel'));
    expect(pod.spec?.terminationGracePeriodSeconds).toBe(30);
    const preStop = container(find<IDeployment>(variant, 'Deployment', 'meerkat-kernel'), 'kernel').lifecycle?.preStop?.exec?.command;
    expect(preStop?.[0]).toBe('sleep');
    const sleepSeconds = Number(preStop?.[1]);
    expect(sleepSeconds).toBeGreaterThan(0);
    const graceMs = Number(configMapValues(variant).MEERKAT_SHUTDOWN_GRACE_MS);
    expect(Number.isSafeInteger(graceMs) && Number.isSafeInteger(HARD_EXIT_MARGIN_MS)).toBe(true);
    expect(sleepSeconds * 1000 + graceMs + HARD_EXIT_MARGIN_MS).toBeLessThan(30_000);
  });

  it('runs every meerkat container as non-root with a read-only root filesystem and a writable /tmp', () => {
    const workloads = meerkatWorkloads(variant);
    expect(workloads.map((w) => w.metadata?.name).sort()).toEqual(['meerkat-kernel', 'meerkat-migrate', 'meerkat-sidecar']);
    for (const w of workloads) {
      const spec = podTemplate(w).spec;
      expect(spec?.securityContext?.runAsNonRoot, w.metadata?.name).toBe(true);
      expect(spec?.securityContext?.runAsUser).toBe(10001);
      expect(spec?.automountServiceAccountToken).toBe(false);
      const tmp = spec?.volumes?.find((v) => v.name === 'tmp');
      expect(tmp?.emptyDir, `${w.metadata?.name}: /tmp must be an emptyDir`).toBeDefined();
      for (const c of spec?.containers ?? []) {
        expect(c.securityContext?.readOnlyRootFilesystem, `${w.metadata?.name}/${c.name}`).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
        expect(c.securityContext?.capabilities?.drop).toEqual(['ALL']);
        expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
        expect(c.resources?.requests?.memory, `${c.name} memory request`).toBeDefined();
        expect(c.resources?.limits?.memory, `${c.name} memory limit`).toBeDefined();
      }
    }
  });

  it('runs the migration and sidecar entry points the build emits', () => {
    const migrate = container(find<IJob>(variant, 'Job', 'meerkat-migrate'), 'migrate');
    expect(migrate.command).toEqual(['node', 'dist/src/store/migrate-main.js']);
    // tsconfig.build.json compiles src/ and sidecar/ into dist/ with the repository layout:
    // src/store/migrate-main.ts → dist/src/store/migrate-main.js, sidecar/main.ts → dist/sidecar/main.js.
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions?: object; include?: string[] };
    expect(build).toMatchObject({ compilerOptions: { rootDir: '.', outDir: 'dist' } });
    expect(build.include).toEqual(expect.arrayContaining(['src', 'sidecar']));
    expect(existsSync(join(ROOT, 'src/store/migrate-main.ts'))).toBe(true);
    expect(existsSync(join(ROOT, 'sidecar/main.ts'))).toBe(true);
    expect(podTemplate(find<IJob>(variant, 'Job', 'meerkat-migrate')).spec?.restartPolicy).toBe('OnFailure');
    const sidecar = container(find<IDeployment>(variant, 'Deployment', 'meerkat-sidecar'), 'sidecar');
    expect(sidecar.command).toEqual(['node', 'dist/sidecar/main.js']);
  });

  it(`runs the mob sidecar: gRPC readiness on ${SIDECAR_PORT} and no liveness, the kernel Service as MEERKAT_KERNEL_ADDR, its own gRPC Service and policies`, () => {
    expect(SIDECAR_VARIABLES).toContain('MEERKAT_KERNEL_ADDR'); // the parse of sidecar/config.ts found its variables
    expect(SIDECAR_PORT).toBe(50052);
    expect(sidecarProblems(objects(variant))).toEqual([]);
    const sidecar = container(find<IDeployment>(variant, 'Deployment', 'meerkat-sidecar'), 'sidecar');
    expect(sidecar.readinessProbe?.grpc).toEqual({ port: SIDECAR_PORT, service: 'meerkat.mob.v1.MobService' });
    expect(sidecar.livenessProbe).toBeUndefined();
    expect(sidecar.env?.find((e) => e.name === 'MEERKAT_KERNEL_ADDR')?.value).toBe(`meerkat-kernel.${NAMESPACE}.svc.cluster.local:${GRPC_PORT}`);
  });

  it(`runs ${production ? 2 : 1} sidecar replica(s), replacing old pods without waiting for new ones to be ready`, () => {
    const deployment = find<IDeployment>(variant, 'Deployment', 'meerkat-sidecar');
    expect(deployment.spec?.replicas).toBe(production ? 2 : 1);
    // A new pod is not ready while an old one holds the consumer lock: a rollout that waits for it
    // before stopping old pods would never finish.
    expect(deployment.spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '100%' } });
    expect(ofKind<IHorizontalPodAutoscaler>(variant, 'HorizontalPodAutoscaler').map((h) => h.spec?.scaleTargetRef.name)).not.toContain('meerkat-sidecar');
  });

  it('drains the sidecar within terminationGracePeriodSeconds: preStop sleep + shutdown grace + hard-exit margin', () => {
    const deployment = find<IDeployment>(variant, 'Deployment', 'meerkat-sidecar');
    const grace = podTemplate(deployment).spec?.terminationGracePeriodSeconds;
    expect(grace).toBe(30);
    const sidecar = container(deployment, 'sidecar');
    const preStop = sidecar.lifecycle?.preStop?.exec?.command;
    expect(preStop?.[0]).toBe('sleep');
    const sleepSeconds = Number(preStop?.[1]);
    expect(sleepSeconds).toBeGreaterThan(0);
    const graceMs = Number(sidecar.env?.find((e) => e.name === 'MEERKAT_SHUTDOWN_GRACE_MS')?.value);
    expect(Number.isSafeInteger(graceMs) && graceMs > 0 && Number.isSafeInteger(HARD_EXIT_MARGIN_MS)).toBe(true);
    expect(sleepSeconds * 1000 + graceMs + HARD_EXIT_MARGIN_MS).toBeLessThan((grace ?? 0) * 1000);
  });

  it('gives workloads DATABASE_URL only through a Secret reference, and only variables the server reads (or issue 8 defines)', () => {
    const secrets = ofKind<ISecret>(variant, 'Secret');
    for (const w of meerkatWorkloads(variant)) {
      for (const c of podTemplate(w).spec?.containers ?? []) {
        const db = c.env?.find((e) => e.name === 'DATABASE_URL');
        expect(db?.value, `${c.name}: DATABASE_URL must not be a literal`).toBeUndefined();
        const ref = db?.valueFrom?.secretKeyRef;
        expect(ref?.key, `${c.name}: DATABASE_URL secretKeyRef`).toBe('DATABASE_URL');
        if (production) expect(ref?.name).toBe('meerkat-database');
        else expect(secrets.map((s) => s.metadata?.name)).toContain(ref?.name);
      }
    }
    const kernel = container(find<IDeployment>(variant, 'Deployment', 'meerkat-kernel'), 'kernel');
    const names = [...(kernel.env ?? []).map((e) => e.name), ...Object.keys(configMapValues(variant))];
    for (const name of names.filter((n) => n.startsWith('MEERKAT_'))) {
      expect(SERVER_VARIABLES.has(name), `${name} is not read by src/server/config.ts`).toBe(true);
    }
    expect(kernel.envFrom).toEqual([{ configMapRef: { name: 'meerkat-kernel-config' } }]);
    const env = new Map((kernel.env ?? []).map((e) => [e.name, e]));
    expect(env.get('POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    expect(env.get('MEERKAT_ADVERTISE_ADDR')?.value).toBe(`$(POD_IP):${GRPC_PORT}`);
    // $(POD_IP) expands only when POD_IP is declared before it.
    const order = (kernel.env ?? []).map((e) => e.name);
    expect(order.indexOf('POD_IP')).toBeLessThan(order.indexOf('MEERKAT_ADVERTISE_ADDR'));
    expect(env.get('MEERKAT_REPLICA_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it(production ? 'commits no secret values (no Secret objects, no URLs or passwords in plain values)' : 'has a dev-only DATABASE_URL without a password, to its own PostgreSQL with trust auth', () => {
    const secrets = ofKind<ISecret>(variant, 'Secret');
    const text = JSON.stringify(objects(variant).filter((o) => o.kind !== 'Secret'));
    expect(text).not.toMatch(/postgres(ql)?:\/\//);
    expect(text).not.toMatch(/password/i);
    if (production) {
      expect(secrets).toEqual([]);
      return;
    }
    expect(secrets).toHaveLength(1);
    const data = secrets[0]!.data ?? {};
    expect(Object.keys(data)).toEqual(['DATABASE_URL']);
    const url = new URL(Buffer.from(data.DATABASE_URL!, 'base64').toString('utf8'));
    expect(url.password).toBe('');
    expect(url.hostname).toBe('meerkat-postgres');
    const postgresService = find<IService>(variant, 'Service', 'meerkat-postgres');
    expect(postgresService.spec?.ports?.[0]?.port).toBe(Number(url.port));
    const postgres = podTemplate(find<IStatefulSet>(variant, 'StatefulSet', 'meerkat-postgres')).spec?.containers[0];
    expect(postgres?.env).toContainEqual({ name: 'POSTGRES_HOST_AUTH_METHOD', value: 'trust' });
    expect(postgres?.env).toContainEqual({ name: 'POSTGRES_DB', value: url.pathname.slice(1) });
  });

  it('exposes the kernel through a gRPC Service and guards it with a PodDisruptionBudget', () => {
    const deployment = find<IDeployment>(variant, 'Deployment', 'meerkat-kernel');
    const podLabels = podTemplate(deployment).metadata?.labels ?? {};
    const service = find<IService>(variant, 'Service', 'meerkat-kernel');
    expect(service.spec?.ports).toEqual([{ name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' }]);
    expect(podLabels).toMatchObject(service.spec?.selector ?? { selector: 'missing' });
    expect(podLabels).toMatchObject(deployment.spec?.selector.matchLabels ?? { selector: 'missing' });
    const pdb = find<IPodDisruptionBudget>(variant, 'PodDisruptionBudget', 'meerkat-kernel');
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(podLabels).toMatchObject(pdb.spec?.selector?.matchLabels ?? { selector: 'missing' });
  });

  it('has a ServiceAccount per workload and a NetworkPolicy selecting each', () => {
    const accounts = ofKind<K8sObject>(variant, 'ServiceAccount').map((a) => a.metadata.name);
    const policies = ofKind<K8sObject>(variant, 'NetworkPolicy');
    for (const w of meerkatWorkloads(variant)) {
      const spec = podTemplate(w);
      expect(accounts).toContain(spec.spec?.serviceAccountName);
      const name = spec.metadata?.labels?.['app.kubernetes.io/name'];
      const selected = policies.filter((p) => {
        const selector = (p.spec as { podSelector?: { matchLabels?: Record<string, string> } }).podSelector;
        return selector?.matchLabels?.['app.kubernetes.io/name'] === name;
      });
      expect(selected, `NetworkPolicy for ${String(name)}`).toHaveLength(1);
    }
  });

  if (variant === 'istio') {
    it('routes by consistent hash on the session header, with STRICT mTLS and an allow-list of principals', () => {
      const dr = find<IDestinationRule>(variant, 'DestinationRule', 'meerkat-kernel');
      expect(dr.spec?.host).toBe(`meerkat-kernel.${NAMESPACE}.svc.cluster.local`);
      const lb = dr.spec?.trafficPolicy?.loadBalancer;
      expect(lb && 'consistentHash' in lb ? lb.consistentHash : undefined).toMatchObject({ httpHeaderName: SESSION_HEADER });
      const pa = find<IPeerAuthentication>(variant, 'PeerAuthentication', 'default');
      expect(pa.spec?.mtls?.mode).toBe('STRICT');
      expect(pa.spec?.selector).toBeUndefined();
      const ap = find<IAuthorizationPolicy>(variant, 'AuthorizationPolicy', 'meerkat-kernel');
      expect(ap.spec?.action).toBe('ALLOW');
      expect(ap.spec?.selector?.matchLabels).toEqual({ 'app.kubernetes.io/name': 'meerkat-kernel' });
      const principals = (ap.spec?.rules ?? []).flatMap((r) => (r.from ?? []).flatMap((f) => f.source?.principals ?? []));
      expect(principals).toContain(`cluster.local/ns/${NAMESPACE}/sa/meerkat-sidecar`);
      for (const p of principals) expect(p, 'named principals only, no wildcards').toMatch(/^cluster\.local\/ns\/[a-z0-9-]+\/sa\/[a-z0-9-]+$/);
      for (const r of ap.spec?.rules ?? []) expect(r.from?.length, 'every rule names its sources').toBeGreaterThan(0);
      const ns = ofKind<K8sObject>(variant, 'Namespace')[0]!;
      expect(ns.metadata.labels?.['istio-injection']).toBe('enabled');
      expect(podTemplate(find<IJob>(variant, 'Job', 'meerkat-migrate')).metadata?.annotations?.['sidecar.istio.io/inject']).toBe('false');
    });

    it('lets the mob sidecar be called only by the kernel\'s client principals, and holds its Envoy for the drain', () => {
      const ap = find<IAuthorizationPolicy>(variant, 'AuthorizationPolicy', 'meerkat-sidecar');
      expect(ap.spec?.selector?.matchLabels).toEqual({ 'app.kubernetes.io/name': 'meerkat-sidecar' });
      expect(principalsOf(ap)).toEqual([`cluster.local/ns/meerkat-clients/sa/meerkat-client`]);
      for (const name of ['meerkat-kernel', 'meerkat-sidecar']) {
        const config = podTemplate(find<IDeployment>(variant, 'Deployment', name)).metadata?.annotations?.['proxy.istio.io/config'] ?? '';
        expect(config, name).toMatch(/^holdApplicationUntilProxyStarts: true$/m);
        expect(config, name).toMatch(/^terminationDrainDuration: 25s$/m);
      }
    });
  }

  if (variant === 'linkerd') {
    it('injects the Linkerd proxy into the kernel and the sidecar, not into the migration Job', () => {
      for (const name of ['meerkat-kernel', 'meerkat-sidecar']) {
        const annotations = podTemplate(find<IDeployment>(variant, 'Deployment', name)).metadata?.annotations;
        expect(annotations?.['linkerd.io/inject'], name).toBe('enabled');
        expect(annotations?.['config.alpha.linkerd.io/proxy-wait-before-exit-seconds'], name).toBe('25');
      }
      expect(podTemplate(find<IJob>(variant, 'Job', 'meerkat-migrate')).metadata?.annotations?.['linkerd.io/inject']).toBe('disabled');
      expect(objects(variant).some((o) => o.apiVersion.includes('istio.io'))).toBe(false);
    });
  }

  if (variant === 'base' || variant === 'dev') {
    it('carries no service-mesh objects or annotations', () => {
      expect(objects(variant).some((o) => o.apiVersion.includes('istio.io') || o.apiVersion.includes('linkerd.io'))).toBe(false);
      expect(JSON.stringify(objects(variant))).not.toMatch(/linkerd\.io\/inject|sidecar\.istio\.io|istio-injection/);
    });
  }
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1) ?? '';

  it('is multi-stage: the build stage runs npm ci and npm run build', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages.find((s) => s.includes('AS build')) ?? '';
    expect(build).toMatch(/^RUN npm ci\b(?!.*--omit=dev)/m);
    expect(build).toMatch(/^RUN npm run build$/m);
  });

  it('ships production dependencies, dist/ and package.json only, as a non-root user, with an exec-form entrypoint', () => {
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(final).toMatch(/^\$\{NODE_IMAGE\}\n/);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    const copies = [...final.matchAll(/^COPY (.+)$/gm)].map((m) => m[1]!.replace(/--chown=\S+ /, ''));
    expect(copies).toEqual(['--from=deps /app/node_modules ./node_modules', '--from=build /app/dist ./dist', 'package.json ./']);
    expect(final).toMatch(/^USER 10001:10001$/m);
    expect(final.trimEnd().split('\n').at(-1)).toBe('ENTRYPOINT ["node", "dist/src/server/main.js"]');
  });

  it('sets defaults only for variables the server reads', () => {
    const env = /^ENV ((?:.*\\\n)*.*)$/m.exec(final)?.[1] ?? '';
    const names = [...env.matchAll(/([A-Z0-9_]+)=/g)].map((m) => m[1]!);
    expect(names.filter((n) => n.startsWith('MEERKAT_')).length).toBeGreaterThan(0);
    for (const name of names.filter((n) => n !== 'NODE_ENV')) expect(SERVER_VARIABLES, name).toContain(name);
  });

  it('has a .dockerignore that keeps the context to what the build needs', () => {
    const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    expect(lines.slice(1).sort()).toEqual(['!package-lock.json', '!package.json', '!sidecar/', '!src/', '!tsconfig.build.json', '!tsconfig.json']);
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/gen/descriptor.binpb', 'sidecar/main.ts']) expect(existsSync(join(ROOT, path)), path).toBe(true);
  });
});
