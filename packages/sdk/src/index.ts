import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createCoreClient, type ClientOptions, type EventSourceCtor, type Generation } from './core.js';

export * from './core.js';
export { verifyWebhook, WebhookVerificationError, type WebhookErrorReason, type WebhookEvent } from './webhooks.js';

/**
 * Node 20 has no global EventSource; `eventsource` (v4: custom fetch, so the key goes in a header,
 * not the URL) is loaded through `require`: its ESM entry has a `source` export condition that
 * this workspace's TypeScript would follow into the package's own sources.
 */
const { EventSource } = createRequire(import.meta.url)('eventsource') as { EventSource: EventSourceCtor };

/** The typed OneFlow client for Node (browsers: `@oneflow/sdk/browser`, the same without `saveImages`). */
export function createClient(options: ClientOptions) {
  const client = createCoreClient(options, EventSource);
  return {
    ...client,
    generations: {
      ...client.generations,
      /** Writes every image of the generation (as it is now) to `dir` as `<id>-<k>.png`; returns the paths. */
      saveImages: async (generation: Pick<Generation, 'id' | 'images'>, dir: string): Promise<string[]> => {
        await mkdir(dir, { recursive: true });
        const paths: string[] = [];
        for (const image of generation.images) {
          const file = path.join(dir, `${generation.id}-${image.index}.png`);
          await writeFile(file, await client.generations.fetchImage(image.url));
          paths.push(file);
        }
        return paths;
      },
    },
  };
}
export type OneflowClient = ReturnType<typeof createClient>;
