import { z } from 'zod';
import { authedProcedure, router } from '../trpc.js';

export interface ModelInfo {
  name: string;
  /** Latent shape `[C, H, W]` of each image (input images are resized to H × W). */
  latentShape: [number, number, number];
  maxTokens: number;
  maxImages: number;
  defaults: { steps: number; guidance: number; temperature: number; topK: number };
  /** The words a prompt may use (`<image>` takes the next input image). */
  vocabulary: string[];
}

export const modelsRouter = router({
  list: authedProcedure.input(z.object({}).strict().optional()).query(({ ctx }): ModelInfo[] =>
    ctx.jobs.models.list().map(({ config }) => ({
      name: config.spec.name,
      latentShape: [...config.spec.latentShape],
      maxTokens: config.config.max_tokens,
      maxImages: config.config.max_images,
      defaults: { steps: config.defaults.steps, guidance: config.defaults.guidance, temperature: config.defaults.temperature, topK: config.defaults.topK },
      vocabulary: config.config.vocab.filter((w) => !/^<(pad|bos|sep)>$/.test(w)),
    })),
  ),
});
