import { z } from 'zod';
import { modelInfoSchema, type ModelInfo } from '../outputs.js';
import { authedProcedure, rest, router } from '../trpc.js';

export type { ModelInfo } from '../outputs.js';

export const modelsRouter = router({
  list: authedProcedure
    .meta(rest('GET', '/models', 'models', 'The models this API serves'))
    .input(z.object({}).strict().optional())
    .output(z.array(modelInfoSchema))
    .query(({ ctx }): ModelInfo[] =>
      ctx.jobs.models.list().map(({ config }) => ({
        name: config.spec.name,
        latentShape: [...config.spec.latentShape],
        maxTokens: config.config.max_tokens,
        maxImages: config.config.max_images,
        defaults: {
          steps: config.defaults.steps,
          guidance: config.defaults.guidance,
          imageGuidance: config.defaults.imageGuidance,
          temperature: config.defaults.temperature,
          topK: config.defaults.topK,
        },
        vocabulary: config.config.vocab.filter((w) => !/^<(pad|bos|sep)>$/.test(w)),
      })),
    ),
});
