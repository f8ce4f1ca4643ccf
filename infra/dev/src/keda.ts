import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { REPO_ROOT } from './paths.js';

/**
 * KEDA as the release the manifests target defines it, read from the KEDA Go module that
 * `infra/dev/setup infra` downloads (pinned): the ScaledObject and TriggerAuthentication CRDs
 * (their openAPIV3Schema, as the API server validates them) and the Temporal scaler's own list of
 * the metadata keys it reads (the `keda:"name=…"` struct tags of `temporal_scaler.go`).
 */
export const KEDA_VERSION = 'v2.21.0'; // keep in step with KEDA_VERSION in infra/dev/setup
export const KEDA_DIR = path.join(REPO_ROOT, '.tools/infra/keda', KEDA_VERSION);

function kedaFile(name: string): string {
  const file = path.join(KEDA_DIR, name);
  if (!existsSync(file)) throw new Error(`${file} is missing: run infra/dev/setup infra (KEDA ${KEDA_VERSION} from its Go module)`);
  return readFileSync(file, 'utf8');
}

type Schema = Record<string, unknown>;

export interface CrdValidator {
  kind: string;
  apiVersion: string;
  /** Throws with every schema violation of `obj`. */
  validate(obj: unknown): void;
  /** CEL rules (x-kubernetes-validations) the API server would also run; not evaluated here. */
  celRules: string[];
}

/**
 * The schema as `kubectl apply --validate=strict` applies it: every object that lists its
 * properties rejects unknown fields unless it says x-kubernetes-preserve-unknown-fields.
 * Kubernetes-only keywords become annotations for Ajv; CEL rules are collected, not run.
 */
function strictSchema(node: unknown, cel: string[]): unknown {
  if (Array.isArray(node)) return node.map((n) => strictSchema(n, cel));
  if (node === null || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node as Schema)) {
    if (k === 'x-kubernetes-validations') {
      for (const r of v as { rule: string }[]) cel.push(r.rule);
      continue;
    }
    out[k] =
      k === 'properties' || k === 'patternProperties'
        ? Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, strictSchema(s, cel)]))
        : strictSchema(v, cel);
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    // The API server accepts an integer or a string here; the CRD carries anyOf for it.
    delete out['type'];
  }
  if (out['properties'] && out['additionalProperties'] === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    out['additionalProperties'] = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

/** The validator for the served version `version` of the CRD in `file`. */
export function crdValidator(file: string, version = 'v1alpha1'): CrdValidator {
  const crd = parse(kedaFile(file)) as {
    spec: { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[] };
  };
  const v = crd.spec.versions.find((x) => x.name === version && x.served);
  if (!v) throw new Error(`${file}: no served version ${version}`);
  const celRules: string[] = [];
  const schema = strictSchema(v.schema.openAPIV3Schema, celRules) as Schema;
  const check: ValidateFunction = ajv.compile(schema);
  return {
    kind: crd.spec.names.kind,
    apiVersion: `${crd.spec.group}/${version}`,
    celRules,
    validate(obj) {
      if (!check(obj)) {
        throw new Error(
          `${crd.spec.names.kind} invalid against KEDA ${KEDA_VERSION} CRD: ${ajv.errorsText(check.errors, { dataVar: '' })}`,
        );
      }
    },
  };
}

/** One field of the scaler's metadata struct, from its `keda:"…"` tag. */
export interface ScalerParam {
  name: string;
  goType: string;
  /** Where KEDA looks, in order: triggerMetadata, resolvedEnv (`<name>FromEnv`), authParams. */
  order: ('triggerMetadata' | 'resolvedEnv' | 'authParams')[];
  optional: boolean;
  default: string | undefined;
  deprecated: string | undefined;
}

export interface TemporalScalerSpec {
  params: ScalerParam[];
  /** Values `queueTypes` entries may take (other strings silently become "unspecified"). */
  queueTypes: string[];
}

/** Reads the Temporal scaler's parameters from its source (the `temporalMetadata` struct). */
export function temporalScalerSpec(source = kedaFile('temporal_scaler.go')): TemporalScalerSpec {
  const struct = /type temporalMetadata struct \{([\s\S]*?)\n\}/.exec(source)?.[1];
  if (!struct) throw new Error('temporal_scaler.go: no temporalMetadata struct (has the scaler moved?)');
  const params: ScalerParam[] = [];
  for (const m of struct.matchAll(/^\s*\w+\s+(\S+)\s+`keda:"([^"]*)"`/gm)) {
    const fields = new Map<string, string>();
    // "name=x, order=a;b, optional, default=5, deprecated=free text, with commas"
    const tag = m[2]!;
    const dep = /deprecated=(.*)$/.exec(tag);
    for (const part of tag.replace(/,?\s*deprecated=.*$/, '').split(',')) {
      const [k, v] = part.split('=').map((x) => x.trim());
      if (k) fields.set(k, v ?? '');
    }
    params.push({
      name: fields.get('name')!,
      goType: m[1]!,
      order: (fields.get('order') ?? '').split(';').map((o) => o.trim()) as ScalerParam['order'],
      optional: fields.has('optional'),
      default: fields.get('default'),
      deprecated: dep?.[1],
    });
  }
  if (params.length === 0) throw new Error('temporal_scaler.go: no keda:"…" tags found');
  const fn = /func getQueueTypes\([\s\S]*?\n\}/.exec(source)?.[0] ?? '';
  const queueTypes = [...fn.matchAll(/case "(\w+)":/g)].map((c) => c[1]!);
  return { params, queueTypes };
}

/**
 * Problems with a temporal trigger's metadata as KEDA's scaler would read it: keys it ignores
 * (unknown, or only read from a TriggerAuthentication), deprecated keys, required keys missing,
 * values its parser would reject. Empty when the metadata is right.
 */
export function checkTemporalTrigger(metadata: Record<string, string>, spec: TemporalScalerSpec = temporalScalerSpec()): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, { param: ScalerParam; fromEnv: boolean }>();
  for (const p of spec.params) {
    if (p.order.includes('triggerMetadata')) byKey.set(p.name, { param: p, fromEnv: false });
    if (p.order.includes('resolvedEnv')) byKey.set(`${p.name}FromEnv`, { param: p, fromEnv: true });
  }
  for (const [key, value] of Object.entries(metadata)) {
    const hit = byKey.get(key);
    if (!hit) {
      const auth = spec.params.find((p) => p.name === key && p.order.includes('authParams'));
      problems.push(
        auth
          ? `${key}: read only from a TriggerAuthentication (authParams), ignored in metadata`
          : `${key}: not a parameter of KEDA ${KEDA_VERSION}'s temporal scaler`,
      );
      continue;
    }
    const { param, fromEnv } = hit;
    if (param.deprecated !== undefined) problems.push(`${key}: deprecated (${param.deprecated.trim()})`);
    if (fromEnv) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) problems.push(`${key}: "${value}" is not an environment variable name`);
      continue;
    }
    if (param.goType.startsWith('int') && !/^-?\d+$/.test(value)) problems.push(`${key}: "${value}" is not an integer`);
    if (param.goType === 'bool' && !['true', 'false'].includes(value)) problems.push(`${key}: "${value}" is not true or false`);
    if (param.name === 'queueTypes') {
      for (const t of value.split(',').map((x) => x.trim()))
        if (!spec.queueTypes.includes(t)) problems.push(`queueTypes: "${t}" is not one of ${spec.queueTypes.join(', ')}`);
    }
  }
  for (const p of spec.params) {
    if (p.optional || p.default !== undefined || p.deprecated !== undefined) continue;
    if (!(p.name in metadata) && !(`${p.name}FromEnv` in metadata)) problems.push(`${p.name}: required (or ${p.name}FromEnv)`);
  }
  return problems;
}
