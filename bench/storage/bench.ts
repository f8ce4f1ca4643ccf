/**
 * Storage benchmark (retention): bytes per step and per generation of the checkpoint store, as
 * written today (a checkpoint after every step), with compression at rest (deflate, brotli), and
 * after the default retention policy's horizon (root, every 10th step, final). One run of a few
 * generations of the model in process; every checkpoint is stored in real local stores and read
 * back bit for bit. Writes bench/results/storage.json.
 *
 *   node --import tsx bench/storage/bench.ts [--model DIR] [--generations 6] [--keep-every 10] [--out FILE]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { checkpointIdOf, encodeCheckpoint, initState, runGeneration, type SamplerState } from '@oneflow/sampler';
import { describeModelDir, ModelRunner } from '@oneflow/runtime';
import { LocalBlobStore, packBlob, type Compression } from '@oneflow/store';
import { benchModelDir, log, resultPath, writeReport } from '../report.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    generations: { type: 'string', default: '6' },
    'keep-every': { type: 'string', default: '10' },
    out: { type: 'string', default: resultPath('storage') },
  },
});
const PROMPTS = ['draw a seven', 'draw a two and a five', 'count from two to five', 'draw a nine', 'draw a three', 'draw a one and a four'];
const KINDS: Compression[] = ['none', 'deflate', 'brotli'];

async function main(): Promise<void> {
  const modelDir = benchModelDir(values.model);
  const model = await describeModelDir(modelDir);
  const runner = await ModelRunner.start(model);
  const dir = mkdtempSync(path.join(tmpdir(), 'oneflow-bench-storage-'));
  const stores = Object.fromEntries(
    KINDS.map((k) => [k, new LocalBlobStore(path.join(dir, k), { idOf: checkpointIdOf, compression: k })]),
  ) as Record<Compression, LocalBlobStore>;
  const keepEvery = Number(values['keep-every']);
  const packMs: Record<Compression, number> = { none: 0, deflate: 0, brotli: 0 };
  const perGeneration: {
    prompt: string;
    steps: number;
    images: number;
    bytes: Record<Compression, number>;
    keptBytes: Record<Compression, number>;
  }[] = [];
  let checkpoints = 0;
  try {
    for (let g = 0; g < Number(values.generations); g++) {
      const prompt = PROMPTS[g % PROMPTS.length]!;
      const states: SamplerState[] = [];
      const init = initState(model.tokenizer.prompt(prompt), model.defaults, model.spec, 100 + g);
      states.push(init);
      const { state } = await runGeneration(runner, init, { onStep: (s) => states.push(s) });
      const bytes: Record<Compression, number> = { none: 0, deflate: 0, brotli: 0 };
      const keptBytes: Record<Compression, number> = { none: 0, deflate: 0, brotli: 0 };
      let parent: string | null = null;
      for (const s of states) {
        const { id, bytes: encoded } = encodeCheckpoint({ state: s, parent });
        const kept = s.step === 0 || s.step % keepEvery === 0 || s === states[states.length - 1];
        for (const k of KINDS) {
          const t0 = performance.now();
          packBlob(encoded, k);
          packMs[k] += performance.now() - t0;
          await stores[k].put(encoded);
          // Not one bit changes: the store hands back the encoding the id names.
          const back = await stores[k].get(id);
          if (Buffer.compare(Buffer.from(back), Buffer.from(encoded)) !== 0) throw new Error(`${k}: checkpoint ${id} changed`);
          const size = (await stores[k].stat(id))!.size;
          bytes[k] += size;
          if (kept) keptBytes[k] += size;
        }
        parent = id;
        checkpoints++;
      }
      perGeneration.push({ prompt, steps: state.step, images: state.images.length, bytes, keptBytes });
      log(`${prompt}: ${state.step} steps, ${state.images.length} images, ${bytes.none} B raw, ${bytes.brotli} B brotli`);
    }
  } finally {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const sum = (pick: (g: (typeof perGeneration)[number]) => number) => perGeneration.reduce((n, g) => n + pick(g), 0);
  const steps = sum((g) => g.steps + 1);
  const summary = Object.fromEntries(
    KINDS.map((k) => {
      const total = sum((g) => g.bytes[k]);
      const kept = sum((g) => g.keptBytes[k]);
      return [
        k,
        {
          bytesPerStep: Math.round(total / steps),
          bytesPerGeneration: Math.round(total / perGeneration.length),
          bytesPerGenerationAfterHorizon: Math.round(kept / perGeneration.length),
          ratioToRaw: +(total / sum((g) => g.bytes.none)).toFixed(3),
          afterHorizonRatioToRaw: +(kept / sum((g) => g.bytes.none)).toFixed(3),
          packMsPerCheckpoint: +(packMs[k] / checkpoints).toFixed(3),
        },
      ];
    }),
  );
  await writeReport(values.out, {
    model: model.spec.name,
    generations: perGeneration.length,
    checkpoints,
    keepEvery,
    summary,
    perGeneration,
  });
  log(JSON.stringify(summary, null, 2));
}

await main();
