import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Imports modules in a fresh Node process and returns every native addon it loaded
 * (`process.dlopen` is how Node loads `.node` files, onnxruntime-node's binding among them).
 */
async function nativeAddonsLoadedBy(modules: string[], after = ''): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'native-'));
  const script = join(dir, 'probe.mjs');
  await writeFile(
    script,
    `const loaded = [];
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) { loaded.push(filename); return dlopen.call(this, module, filename, ...rest); };
for (const m of process.argv.slice(2)) await import(m);
${after}
process.stdout.write(JSON.stringify(loaded));
process.exit(0);
`,
  );
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, ...modules], { cwd: repo, encoding: 'utf8' });
  return JSON.parse(stdout) as string[];
}

describe('native code stays out of the API and the SDK', () => {
  it("the API's entry, the SDK and the runtime's main entry load without onnxruntime-node's binding, models included", async () => {
    const loaded = await nativeAddonsLoadedBy(
      [join(repo, 'apps/api/src/index.ts'), join(repo, 'packages/sdk/src/index.ts'), join(repo, 'packages/runtime/src/index.ts')],
      // reading the served model directories (tokenizers, configs, files) is part of the API's start
      `const { describeModelDir } = await import(${JSON.stringify(join(repo, 'packages/runtime/src/index.ts'))});
await describeModelDir(${JSON.stringify(join(repo, 'packages/sampler/fixtures/tiny-model'))});
await describeModelDir(${JSON.stringify(join(repo, 'packages/runtime/fixtures/tiny-v2'))});`,
    );
    expect(loaded.filter((f) => /onnxruntime/.test(f))).toEqual([]);
  }, 60_000);

  it('the control: the direct loader does load it (so the probe can see it)', async () => {
    const loaded = await nativeAddonsLoadedBy([join(repo, 'packages/runtime/src/onnx/direct.ts')]);
    expect(loaded.some((f) => /onnxruntime_binding\.node$/.test(f))).toBe(true);
  }, 60_000);
});
