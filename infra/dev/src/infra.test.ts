import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '@oneflow/contracts';
import { REPO_ROOT } from './paths.js';

// The scale-out manifests and images, checked as far as this machine can: every rendered
// Kubernetes object against its schema (core types and KEDA's CRD), every Dockerfile with hadolint.
const KUSTOMIZE = path.join(REPO_ROOT, '.tools/infra/bin/kustomize');
const HADOLINT = path.join(REPO_ROOT, '.tools/infra/py/bin/hadolint');
const OVERLAYS = ['cpu', 'gpu'];

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

function render(overlay: string): K8sObject[] {
  const out = execFileSync(KUSTOMIZE, ['build', path.join(REPO_ROOT, 'infra/k8s/overlays', overlay)], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJSON() as K8sObject);
}

function validate(obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind} (${obj.metadata.name})`);
  new Model(obj as never).validate();
}

describe('Kubernetes manifests (kustomize overlays)', () => {
  it.each(OVERLAYS)('%s overlay: every object is valid against its schema', (overlay) => {
    const objects = render(overlay);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/oneflow-config',
      'Deployment/oneflow-api',
      'Deployment/oneflow-model-worker',
      'Deployment/oneflow-workflow-worker',
      'ScaledObject/oneflow-model-worker',
      'Service/oneflow-api',
    ]);
    for (const obj of objects) expect(() => validate(obj), `${obj.kind}/${obj.metadata.name}`).not.toThrow();
  });

  it('scales the model workers to zero on the oneflow-gpu backlog with KEDA', () => {
    const scaler = render('gpu').find((o) => o.kind === 'ScaledObject') as unknown as {
      spec: { minReplicaCount: number; scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string> }[] };
    };
    expect(scaler.spec.minReplicaCount).toBe(0);
    expect(scaler.spec.scaleTargetRef.name).toBe('oneflow-model-worker');
    expect(scaler.spec.triggers[0]).toMatchObject({ type: 'temporal', metadata: { taskQueue: GPU_TASK_QUEUE, queueTypes: 'activity' } });
  });

  it('gives GPU model workers a GPU and the CUDA provider; workflow workers stay on oneflow-cpu', () => {
    const objects = render('gpu');
    const container = (name: string) =>
      (objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as unknown as {
        spec: { template: { spec: { containers: { image: string; env: { name: string; value: string }[]; resources: { limits: Record<string, unknown> } }[] } } };
      }).spec.template.spec.containers[0]!;
    const model = container('oneflow-model-worker');
    expect(model.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(model.image).toMatch(/worker-gpu/);
    expect(model.env).toEqual(expect.arrayContaining([{ name: 'WORKER_QUEUES', value: 'gpu' }, { name: 'MODEL_EXECUTION_PROVIDER', value: 'cuda' }]));
    expect(container('oneflow-workflow-worker').env).toEqual(expect.arrayContaining([{ name: 'WORKER_QUEUES', value: CPU_TASK_QUEUE.replace('oneflow-', '') }]));
    expect(render('cpu').some((o) => JSON.stringify(o).includes('nvidia.com/gpu'))).toBe(false);
  });

  it('the validator rejects a broken object (it can fail)', () => {
    const broken = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two', selector: {}, template: {} } };
    expect(() => validate(broken)).toThrow();
  });
});

describe('Dockerfiles', () => {
  const files = readdirSync(path.join(REPO_ROOT, 'infra/docker')).filter((f) => f.endsWith('.Dockerfile'));
  it('api, CPU worker and GPU worker images exist', () => {
    expect(files.sort()).toEqual(['api.Dockerfile', 'worker-gpu.Dockerfile', 'worker.Dockerfile']);
  });
  it.each(files)('%s passes hadolint', (file) => {
    const res = spawnSync(HADOLINT, ['--no-color', path.join(REPO_ROOT, 'infra/docker', file)], { encoding: 'utf8' });
    expect(res.stdout + res.stderr).toBe('');
    expect(res.status).toBe(0);
  });
});
