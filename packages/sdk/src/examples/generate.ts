/**
 * A complete SDK client: create a generation, print its progress step by step, save its images.
 *
 *   ONEFLOW_API_URL=http://127.0.0.1:3000 [ONEFLOW_API_KEY=…] \
 *     node --import tsx packages/sdk/src/examples/generate.ts "count from two to five" --out out/
 *
 * Options: --model (default: the served model on the newest contract, e.g. oneflow-toy-v2 beside
 * v1), --seed, --steps, --out (default out/).
 * The last line is a JSON summary.
 */
import { parseArgs } from 'node:util';
import { createClient, preferredModel } from '../index.js';

const { values, positionals } = parseArgs({
  options: { model: { type: 'string' }, seed: { type: 'string' }, steps: { type: 'string' }, out: { type: 'string', default: 'out' } },
  allowPositionals: true,
});
const prompt = positionals.join(' ') || 'count from two to five';
const apiKey = process.env.ONEFLOW_API_KEY;
const client = createClient({ baseUrl: process.env.ONEFLOW_API_URL ?? 'http://127.0.0.1:3000', ...(apiKey ? { apiKey } : {}) });

const model = values.model ?? preferredModel(await client.models.list())?.name;
if (!model) throw new Error('the API serves no model');
const created = await client.generations.create({
  model,
  prompt,
  ...(values.seed ? { seed: Number(values.seed) } : {}),
  ...(values.steps ? { steps: Number(values.steps) } : {}),
});
console.log(`generation ${created.id}: ${created.state}`);
for await (const e of client.generations.watch(created.id)) {
  const clocks = e.images.map((im) => im.clock.toFixed(2)).join(' ');
  console.log(`step ${e.step}/${e.steps ?? '?'} ${e.state}  t_text=${e.tText.toFixed(2)}  images=[${clocks}]  ${e.text}`);
}
const done = await client.generations.get(created.id);
const images = await client.generations.saveImages(done, values.out);
console.log(JSON.stringify({ id: done.id, state: done.state, text: done.text, images }));
