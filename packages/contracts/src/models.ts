/**
 * Which of the served models a demo uses when nobody names one (the main command's demo
 * generation, the SDK example): the one on the newest model contract (`oneflow-v2` before
 * `oneflow-v1`), then the first by name; undefined when none is served.
 */
export function preferredModel<T extends { name: string; format: string }>(models: readonly T[]): T | undefined {
  const version = (m: T) => Number(/^oneflow-v(\d+)$/.exec(m.format)?.[1] ?? 0);
  return [...models].sort((a, b) => version(b) - version(a) || a.name.localeCompare(b.name))[0];
}
