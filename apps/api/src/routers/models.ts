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
      ctx.jobs.models.list().map(({ info }) => ({
        name: info.spec.name,
        format: info.format,
        imageShape: [...info.imageShape],
        latentShape: [...info.latentShape],
        maxTokens: info.defaults.maxLen,
        maxImages: info.defaults.maxImages,
        defaults: {
          steps: info.defaults.steps,
          guidance: info.defaults.guidance,
          imageGuidance: info.defaults.imageGuidance,
          temperature: info.defaults.temperature,
          topK: info.defaults.topK,
        },
        tokenizer: info.vocabulary === null ? 'subword' : 'word',
        vocabulary: info.vocabulary === null ? null : [...info.vocabulary],
      })),
    ),
});
