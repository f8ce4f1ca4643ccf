import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { hasSchema, parseObjects, validateObject } from './k8s-schemas.js';
import { REPO_ROOT } from './paths.js';

// Temporal's Helm values (infra/k8s/temporal/values.yaml). The chart itself is in no registry this
// project can reach (docs/decisions.md): the static checks run always; the render runs where a
// copy of the chart is given (TEMPORAL_HELM_CHART=<dir with Chart.yaml>) and helm is installed
// (infra/dev/setup helm), and validates every rendered object with the kustomize output's checks.
const VALUES = path.join(REPO_ROOT, 'infra/k8s/temporal/values.yaml');
const HELM = process.env['HELM'] ?? path.join(REPO_ROOT, '.tools/infra/bin/helm');
const CHART = process.env['TEMPORAL_HELM_CHART'] ?? path.join(REPO_ROOT, '.tools/infra/temporal-chart');
const canRender = existsSync(HELM) && existsSync(path.join(CHART, 'Chart.yaml'));

type Values = {
  server: {
    config: {
      persistence: {
        defaultStore: string;
        visibilityStore: string;
        datastores: Record<string, { sql?: Record<string, unknown> }>;
        [k: string]: unknown;
      };
    };
  };
  [k: string]: unknown;
};
const values = parse(readFileSync(VALUES, 'utf8')) as Values;

describe('Temporal Helm values', () => {
  it('use the chart 1.x layout: no removed sub-chart keys, no pre-1.0 persistence blocks', () => {
    // The keys chart 1.x refuses to render with (its templates/_deprecations.tpl, chart 1.6.0).
    for (const key of ['cassandra', 'elasticsearch', 'prometheus', 'grafana', 'mysql', 'postgresql'])
      expect(values, key).not.toHaveProperty(key);
    const persistence = values.server.config.persistence;
    expect(persistence).not.toHaveProperty('default');
    expect(persistence).not.toHaveProperty('visibility');
    for (const store of [persistence.defaultStore, persistence.visibilityStore]) {
      const sql = persistence.datastores[store]?.sql;
      expect(sql, store).toMatchObject({ pluginName: 'postgres12', existingSecret: expect.any(String) as unknown });
    }
  });

  it.skipIf(!canRender)('render with the chart: every object valid against its schema, kinds without one counted', () => {
    const out = execFileSync(HELM, ['template', 'temporal', CHART, '--namespace', 'temporal', '-f', VALUES], { encoding: 'utf8' });
    const objects = parseObjects(out);
    const skipped = objects.filter((o) => !hasSchema(o)).map((o) => `${o.apiVersion}/${o.kind}`);
    console.log(
      `helm template: ${objects.length} objects, ${objects.length - skipped.length} validated, ${skipped.length} without a schema${skipped.length ? ` (${[...new Set(skipped)].join(', ')})` : ''}`,
    );
    expect(objects.length).toBeGreaterThan(5);
    for (const obj of objects.filter(hasSchema)) expect(() => validateObject(obj), `${obj.kind}/${obj.metadata.name}`).not.toThrow();
    // Our settings reached the server: PostgreSQL persistence and the continue-as-new limit.
    const dynamic = objects.find((o) => o.kind === 'ConfigMap' && JSON.stringify(o).includes('limit.historyCount.suggestContinueAsNew'));
    expect(dynamic, 'dynamic config').toBeDefined();
    expect(JSON.stringify(objects.filter((o) => o.kind === 'ConfigMap'))).toContain('postgres12');
  });
});
