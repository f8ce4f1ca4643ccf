/**
 * What every benchmark shares: which model it runs (the shipped one, else the tiny test model),
 * progress on stderr, and the result file (the figures of one run plus the machine and the time,
 * written as JSON under bench/results/).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '@oneflow/devstack';

/** `--model DIR`, else models/oneflow-toy-v1 when it is there (trained), else the tiny test model. */
export function benchModelDir(flag: string | undefined): string {
  const shipped = path.join(REPO_ROOT, 'models/oneflow-toy-v1');
  return path.resolve(
    flag ?? (existsSync(path.join(shipped, 'config.json')) ? shipped : path.join(REPO_ROOT, 'packages/sampler/fixtures/tiny-model')),
  );
}

/** Default result file of a benchmark: bench/results/<name>.json. */
export function resultPath(name: string): string {
  return path.join(REPO_ROOT, 'bench/results', `${name}.json`);
}

export const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

/** The machine a figure was measured on (the load average says what else was running). */
export function machine(): { cpus: number; cpu: string; node: string; loadavg: number[] } {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Writes `report` + machine + measuredAt as JSON to `out`; returns what it wrote. */
export async function writeReport<T extends Record<string, unknown>>(
  out: string,
  report: T,
): Promise<T & { machine: ReturnType<typeof machine>; measuredAt: string }> {
  const full = { ...report, machine: machine(), measuredAt: new Date().toISOString() };
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(full, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), out) || out}`);
  return full;
}

/** The q-quantile (0..1) of `xs` by nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
