/**
 * Helpers of `manifests.test.ts`: render a kustomization with `kubectl kustomize`, parse the YAML
 * stream, and validate each object against the Kubernetes / Istio OpenAPI schemas of
 * `kubernetes-models` and `@kubernetes-models/istio`. A kind without a model here is an error,
 * never silently accepted.
 *
 * Note: those schemas check types, enums and required fields, but like the API server's OpenAPI
 * they accept unknown fields; the tests assert the fields that matter explicitly.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication';

const run = promisify(execFile);

/** The kubectl binary: `KUBECTL`, else `kubectl` on the PATH. */
export const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** Throws, naming the problem, unless `kubectl kustomize` can run. Never a skip. */
export function requireKubectl(): void {
  const probe = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = probe.error !== undefined ? probe.error.message : `exit ${String(probe.status)}: ${probe.stderr.trim()}`;
    throw new Error(
      `kubectl is required to render deploy/ (kubectl kustomize) but "${KUBECTL}" does not run (${why}). ` +
        'Install kubectl (https://kubernetes.io/docs/tasks/tools/) or point KUBECTL at it.',
    );
  }
}

/** A rendered object: apiVersion, kind and metadata are checked before the schema runs. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly [field: string]: unknown;
}

/** Renders `dir` with `kubectl kustomize` and parses every document. */
export async function render(dir: string): Promise<K8sObject[]> {
  requireKubectl();
  let stdout: string;
  try {
    ({ stdout } = await run(KUBECTL, ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (e) {
    const stderr = typeof e === 'object' && e !== null && 'stderr' in e ? String(e.stderr) : String(e);
    throw new Error(`kubectl kustomize ${dir} failed: ${stderr.trim()}`, { cause: e });
  }
  return parseManifests(stdout, dir);
}

/** Parses a multi-document YAML stream; a YAML error or a document that is not an object fails. */
export function parseManifests(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new Error(`${source}: YAML document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(asObject(value, `${source}: document ${i}`));
  }
  return objects;
}

function asObject(value: unknown, where: string): K8sObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} is not a mapping`);
  const v = value as Record<string, unknown>;
  const metadata = v.metadata as Record<string, unknown> | undefined;
  if (typeof v.apiVersion !== 'string' || typeof v.kind !== 'string' || typeof metadata?.name !== 'string') {
    throw new Error(`${where} lacks apiVersion, kind or metadata.name`);
  }
  return v as unknown as K8sObject;
}

interface Validatable {
  validate(): void;
}
interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: never): Validatable;
}

const MODEL_CLASSES: readonly ModelClass[] = [
  Namespace,
  ServiceAccount,
  ConfigMap,
  Secret,
  Service,
  Deployment,
  StatefulSet,
  Job,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  NetworkPolicy,
  DestinationRule,
  PeerAuthentication,
  AuthorizationPolicy,
];

/** `apiVersion/kind` → model class. */
export const MODELS: ReadonlyMap<string, ModelClass> = new Map(MODEL_CLASSES.map((c) => [`${c.apiVersion}/${c.kind}`, c]));

/** Validates one object against the schema of its apiVersion/kind; throws naming it and the violations. */
export function validateObject(object: K8sObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS.get(key);
  if (Model === undefined) throw new Error(`${key} ${object.metadata.name}: no schema for this apiVersion/kind (known: ${[...MODELS.keys()].join(', ')})`);
  try {
    new Model(object as never).validate();
  } catch (e) {
    throw new Error(`${key} ${object.metadata.name} is invalid: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Every validation failure of `objects` (empty when all are valid). */
export function validationErrors(objects: readonly K8sObject[]): string[] {
  return objects.flatMap((o) => {
    try {
      validateObject(o);
      return [];
    } catch (e) {
      return [e instanceof Error ? e.message : String(e)];
    }
  });
}
