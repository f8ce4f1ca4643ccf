import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '@oneflow/contracts';
import { KEDA_VERSION, temporalScalerSpec } from './keda.js';
import { kedaCrds, parseObjects, validateObject as validate, type K8sObject } from './k8s-schemas.js';
import { REPO_ROOT } from './paths.js';

// The scale-out manifests and images, checked as far as this machine can: every rendered
// Kubernetes object against its schema (core types and KEDA's CRD), every Dockerfile with hadolint.
const KUSTOMIZE = path.join(REPO_ROOT, '.tools/infra/bin/kustomize');
const HADOLINT = path.join(REPO_ROOT, '.tools/infra/py/bin/hadolint');
const OVERLAYS = ['cpu', 'gpu'];

function render(overlay: string): K8sObject[] {
  return parseObjects(execFileSync(KUSTOMIZE, ['build', path.join(REPO_ROOT, 'infra/k8s/overlays', overlay)], { encoding: 'utf8' }));
}

/** An overlay plus components, built from a throwaway kustomization (kustomize wants relative paths). */
function renderWith(overlay: string, components: string[]): K8sObject[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-kustomize-'));
  try {
    const rel = (p: string) => path.relative(dir, path.join(REPO_ROOT, 'infra/k8s', p));
    writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      `resources: [${rel(`overlays/${overlay}`)}]\ncomponents: [${components.map((c) => rel(`components/${c}`)).join(', ')}]\n`,
    );
    return parseObjects(execFileSync(KUSTOMIZE, ['build', dir], { encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
    expect(scaler.spec.triggers[0]).toMatchObject({
      type: 'temporal',
      // The same cluster, namespace and API key as the workers: read from their environment.
      metadata: {
        taskQueue: GPU_TASK_QUEUE,
        queueTypes: 'activity',
        endpointFromEnv: 'TEMPORAL_ADDRESS',
        namespaceFromEnv: 'TEMPORAL_NAMESPACE',
        apiKeyFromEnv: 'TEMPORAL_API_KEY',
      },
    });
  });

  it('gives GPU model workers a GPU and the CUDA provider; workflow workers stay on oneflow-cpu', () => {
    const objects = render('gpu');
    const container = (name: string) =>
      (
        objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as unknown as {
          spec: {
            template: {
              spec: {
                containers: { image: string; env: { name: string; value: string }[]; resources: { limits: Record<string, unknown> } }[];
              };
            };
          };
        }
      ).spec.template.spec.containers[0]!;
    const model = container('oneflow-model-worker');
    expect(model.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(model.image).toMatch(/worker-gpu/);
    expect(model.env).toEqual(
      expect.arrayContaining([
        { name: 'WORKER_QUEUES', value: 'gpu' },
        { name: 'MODEL_EXECUTION_PROVIDER', value: 'cuda' },
      ]),
    );
    expect(container('oneflow-workflow-worker').env).toEqual(
      expect.arrayContaining([{ name: 'WORKER_QUEUES', value: CPU_TASK_QUEUE.replace('oneflow-', '') }]),
    );
    expect(render('cpu').some((o) => JSON.stringify(o).includes('nvidia.com/gpu'))).toBe(false);
  });

  it('the validator rejects a broken object (it can fail)', () => {
    const broken = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: { replicas: 'two', selector: {}, template: {} },
    };
    expect(() => validate(broken)).toThrow();
  });

  it('every deployment reads the optional oneflow-temporal Secret (TEMPORAL_API_KEY or inline PEM)', () => {
    const deployments = render('gpu').filter((o) => o.kind === 'Deployment') as unknown as {
      metadata: { name: string };
      spec: { template: { spec: { containers: { envFrom: { secretRef?: { name: string; optional?: boolean } }[] }[] } } };
    }[];
    expect(deployments).toHaveLength(3);
    for (const d of deployments) {
      expect(d.spec.template.spec.containers[0]!.envFrom, d.metadata.name).toContainEqual({
        secretRef: { name: 'oneflow-temporal', optional: true },
      });
    }
  });

  it('temporal-mtls component: certificate files for the API and both workers, a TriggerAuthentication for KEDA; all valid', () => {
    const objects = renderWith('gpu', ['temporal-mtls']);
    for (const obj of objects) expect(() => validate(obj), `${obj.kind}/${obj.metadata.name}`).not.toThrow();
    const config = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(config.data).toMatchObject({
      TEMPORAL_TLS_CERT_PATH: '/etc/oneflow/temporal-tls/tls.crt',
      TEMPORAL_TLS_KEY_PATH: '/etc/oneflow/temporal-tls/tls.key',
      TEMPORAL_TLS_CA_PATH: '/etc/oneflow/temporal-tls/ca.crt',
    });
    for (const d of objects.filter((o) => o.kind === 'Deployment') as unknown as {
      metadata: { name: string };
      spec: {
        template: {
          spec: {
            volumes: { name: string; secret: { secretName: string } }[];
            containers: { volumeMounts: { name: string; mountPath: string }[] }[];
          };
        };
      };
    }[]) {
      expect(d.spec.template.spec.volumes.find((v) => v.name === 'temporal-tls')?.secret.secretName, d.metadata.name).toBe(
        'oneflow-temporal-tls',
      );
      expect(d.spec.template.spec.containers[0]!.volumeMounts, d.metadata.name).toContainEqual(
        expect.objectContaining({ name: 'temporal-tls', mountPath: '/etc/oneflow/temporal-tls' }),
      );
    }
    const scaler = objects.find((o) => o.kind === 'ScaledObject') as unknown as {
      spec: { triggers: { authenticationRef?: { name: string } }[] };
    };
    const auth = objects.find((o) => o.kind === 'TriggerAuthentication') as unknown as {
      metadata: { name: string };
      spec: { secretTargetRef: { parameter: string }[] };
    };
    expect(scaler.spec.triggers[0]!.authenticationRef).toEqual({ name: auth.metadata.name });
    // The parameters KEDA's scaler reads from authParams for mTLS.
    const authParams = temporalScalerSpec()
      .params.filter((p) => p.order.includes('authParams'))
      .map((p) => p.name);
    expect(auth.spec.secretTargetRef.map((r) => r.parameter).sort()).toEqual(['ca', 'cert', 'key']);
    for (const p of auth.spec.secretTargetRef) expect(authParams).toContain(p.parameter);
  });
});

describe(`KEDA ${KEDA_VERSION} (CRDs and the Temporal scaler's source, from its Go module)`, () => {
  it('the scaler source yields the parameters it reads', () => {
    const spec = temporalScalerSpec();
    const names = spec.params.map((p) => p.name);
    // A floor, so a parser that finds nothing cannot pass; the rest is read from the source.
    expect(names).toEqual(
      expect.arrayContaining([
        'endpoint',
        'namespace',
        'taskQueue',
        'queueTypes',
        'targetQueueSize',
        'activationTargetQueueSize',
        'apiKey',
        'cert',
        'key',
        'ca',
      ]),
    );
    expect(spec.params.find((p) => p.name === 'apiKey')?.order).toEqual(['authParams', 'resolvedEnv']);
    expect(spec.params.find((p) => p.name === 'buildId')?.deprecated).toBeDefined();
    expect(spec.queueTypes.sort()).toEqual(['activity', 'nexus', 'workflow']);
  });

  it('the CEL rules of the ScaledObject CRD are not evaluated here; the one it has holds for every overlay', () => {
    const { celRules } = kedaCrds()['keda.sh/v1alpha1/ScaledObject']!;
    // Reported, not silently skipped: if KEDA adds rules, this test names them.
    expect(celRules).toEqual([
      '!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)',
    ]);
    for (const overlay of OVERLAYS) {
      const { spec } = render(overlay).find((o) => o.kind === 'ScaledObject') as unknown as {
        spec: { minReplicaCount: number; maxReplicaCount: number };
      };
      expect(spec.minReplicaCount).toBeLessThanOrEqual(spec.maxReplicaCount);
    }
  });

  it('rejects what the API server or the scaler would: unknown fields, ignored or deprecated trigger keys, bad values', () => {
    const good = render('gpu').find((o) => o.kind === 'ScaledObject')!;
    const withSpec = (patch: (spec: Record<string, unknown>) => void) => {
      const copy = structuredClone(good) as K8sObject & { spec: Record<string, unknown> };
      patch(copy.spec);
      return copy;
    };
    const meta = (spec: Record<string, unknown>) => (spec['triggers'] as { metadata: Record<string, string> }[])[0]!.metadata;
    expect(() => validate(good)).not.toThrow();
    expect(() => validate(withSpec((s) => (s['minReplicaCout'] = 0)))).toThrow(/must NOT have additional properties/);
    expect(() => validate(withSpec((s) => (s['pollingInterval'] = 'often')))).toThrow(/pollingInterval must be integer/);
    expect(() => validate(withSpec((s) => (meta(s)['cert'] = 'pem')))).toThrow(/cert: read only from a TriggerAuthentication/);
    expect(() => validate(withSpec((s) => (meta(s)['buildId'] = 'v1')))).toThrow(/buildId: deprecated/);
    expect(() => validate(withSpec((s) => (meta(s)['taskqueue'] = 'x')))).toThrow(/taskqueue: not a parameter/);
    expect(() => validate(withSpec((s) => (meta(s)['targetQueueSize'] = 'four')))).toThrow(/targetQueueSize: "four" is not an integer/);
    expect(() => validate(withSpec((s) => (meta(s)['queueTypes'] = 'activities')))).toThrow(/queueTypes: "activities" is not one of/);
    expect(() => validate(withSpec((s) => delete meta(s)['endpointFromEnv']))).toThrow(/endpoint: required/);
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
