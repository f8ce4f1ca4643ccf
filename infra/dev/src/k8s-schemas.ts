import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { checkTemporalTrigger, crdValidator, type CrdValidator } from './keda.js';

/**
 * One schema check for every rendered Kubernetes object the project ships (kustomize overlays,
 * the Temporal chart's output): core kinds against the Kubernetes OpenAPI schemas
 * (kubernetes-models), KEDA kinds against KEDA's own CRDs plus the Temporal scaler's metadata keys.
 */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/Ingress': Ingress,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  // The older KEDA schema package, kept as a second opinion next to the CRD below.
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

let crds: Record<string, CrdValidator> | undefined;
/** KEDA's CRDs (infra/dev/setup infra), loaded on first use. */
export function kedaCrds(): Record<string, CrdValidator> {
  crds ??= Object.fromEntries(
    ['keda.sh_scaledobjects.yaml', 'keda.sh_triggerauthentications.yaml'].map((f) => {
      const v = crdValidator(f);
      return [`${v.apiVersion}/${v.kind}`, v];
    }),
  );
  return crds;
}

export function parseObjects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export function hasSchema(obj: K8sObject): boolean {
  const key = `${obj.apiVersion}/${obj.kind}`;
  return key in MODELS || key in kedaCrds();
}

/** Throws on the first kind without a schema or any schema violation. */
export function validateObject(obj: K8sObject): void {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const crd = kedaCrds()[key];
  const Model = MODELS[key];
  if (!crd && !Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind} (${obj.metadata.name})`);
  crd?.validate(obj);
  if (Model) new Model(obj as never).validate();
  if (obj.kind === 'ScaledObject') {
    for (const t of (obj as unknown as { spec: { triggers: { type: string; metadata: Record<string, string> }[] } }).spec.triggers) {
      if (t.type !== 'temporal') continue;
      const problems = checkTemporalTrigger(t.metadata);
      if (problems.length > 0) throw new Error(`temporal trigger of ${obj.metadata.name}: ${problems.join('; ')}`);
    }
  }
}
