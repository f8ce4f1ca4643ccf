import type { RefineOp, SamplerOverrides } from '@oneflow/contracts';
import { type Draws, SeededDraws, rngStateFromSeed } from './rng.js';
import {
  type ImageSlot,
  type PromptItem,
  type SamplerParams,
  type SamplerState,
  initState,
  latentSize,
  promptImageCount,
  validateParams,
} from './state.js';

/**
 * Refinement operations (docs/algorithm.md §6): pure functions from a state to the root state of
 * a new branch. None of them touches the input; sampling then continues with `step`.
 */

/**
 * Re-noise image `j` back to time `s`: `Y ← s·Y + (1−s)·ε` (float64, rounded to float32),
 * `t_j = s`. ε (C·H·W normals) comes from `rng`, by default the state's own stream, whose new
 * state is stored.
 */
export function renoiseImage(state: SamplerState, j: number, s: number, rng: Draws = new SeededDraws(state.rng)): SamplerState {
  const im = state.images[j];
  if (im === undefined) throw new RangeError(`image index ${j} out of range: the state has ${state.images.length} images`);
  if (j < promptImageCount(state)) throw new RangeError(`image ${j} belongs to the prompt; replace the prompt instead`);
  if (!(s >= 0 && s <= 1)) throw new RangeError(`re-noise time must be in [0, 1], got ${s}`);
  const eps = rng.normals(latentSize(state.spec));
  const latent = new Float32Array(eps.length);
  for (let e = 0; e < eps.length; e++) latent[e] = s * im.latent[e]! + (1 - s) * eps[e]!;
  const images = state.images.map((x, k): ImageSlot => (k === j ? { latent, t: s } : x));
  return { ...state, images, rng: rng.snapshot?.() ?? state.rng };
}

/**
 * Delete generated tokens `[start, end)` (positions in `state.tokens`, outside the prompt; the
 * images of deleted `<image>` tokens go too) and reopen insertion by moving the text clock back.
 * By default `t_text ← t_text · (n − k) / n` for n generated tokens of which k are deleted: with
 * κ(t) = t about a fraction t of the final text is present at time t, so this gives the sampler
 * room to regrow about k tokens.
 */
export function deleteSpan(state: SamplerState, start: number, end: number, opts: { tText?: number } = {}): SamplerState {
  const n = state.tokens.length;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < state.promptLen || end > n || start >= end) {
    throw new RangeError(
      `span [${start}, ${end}) must be a non-empty integer range inside the generated tokens [${state.promptLen}, ${n})`,
    );
  }
  const imageAt = (i: number) => state.tokens.slice(0, i).filter((x) => x === state.spec.image).length;
  const images = [...state.images.slice(0, imageAt(start)), ...state.images.slice(imageAt(end))];
  const tokens = [...state.tokens.slice(0, start), ...state.tokens.slice(end)];
  const gen = n - state.promptLen;
  const tText = opts.tText ?? (state.tText * (gen - (end - start))) / gen;
  if (!(tText >= 0 && tText <= 1)) throw new RangeError(`text clock must be in [0, 1], got ${tText}`);
  return { ...state, tokens, images, tText: Math.min(tText, state.tText), capped: false };
}

/** Replace the prompt (tokens and images, as for {@link initState}); the generated part is kept. */
export function replacePrompt(state: SamplerState, prompt: readonly PromptItem[]): SamplerState {
  const fresh = initState(prompt, state.params, state.spec, state.seed);
  const k0 = promptImageCount(state);
  return {
    ...state,
    tokens: [...fresh.tokens, ...state.tokens.slice(state.promptLen)],
    promptLen: fresh.promptLen,
    images: [...fresh.images, ...state.images.slice(k0)],
    capped: false,
  };
}

/** Change sampling parameters (text and image guidance, temperature, top-k, steps, caps). */
export function withParams(state: SamplerState, change: Partial<SamplerParams>): SamplerState {
  const params = { ...state.params, ...change };
  validateParams(params);
  return { ...state, params };
}

/** Restart the random stream from a new seed. */
export function withSeed(state: SamplerState, seed: number): SamplerState {
  return { ...state, seed, rng: rngStateFromSeed(seed) };
}

/** How a refinement turns replacement prompt text into prompt items (the model's tokenizer). */
export type PromptOf = (text: string) => readonly PromptItem[];

/** The handler of refinement op `K` (ops are defined once, by `refineOpSchema` in @oneflow/contracts). */
export type RefineHandler<K extends RefineOp['op']> = (
  state: SamplerState,
  op: Extract<RefineOp, { op: K }>,
  prompt: PromptOf,
) => SamplerState;

/** One handler per op: an op the schema gains and this table lacks does not compile. */
export type RefineHandlers = { [K in RefineOp['op']]: RefineHandler<K> };

/**
 * Generated image `k` (as a generation's outputs count them: prompt images not included) → its
 * index in `state.images` (prompt images first).
 */
export function generatedImageIndex(state: SamplerState, k: number): number {
  const prompt = promptImageCount(state);
  const n = state.images.length - prompt;
  if (!Number.isInteger(k) || k < 0 || k >= n) {
    throw new RangeError(`image ${k} out of range: the generation has ${n} generated image${n === 1 ? '' : 's'} (0 to ${n - 1})`);
  }
  return k + prompt;
}

/**
 * Generated tokens `[start, end)` (as a generation's `pieces` count them, from 0 after the prompt)
 * → the same span in `state.tokens`.
 */
export function generatedSpan(state: SamplerState, start: number, end: number): [number, number] {
  const n = state.tokens.length - state.promptLen;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start >= end) {
    throw new RangeError(`span [${start}, ${end}) must be a non-empty integer range of the ${n} generated tokens [0, ${n})`);
  }
  return [start + state.promptLen, end + state.promptLen];
}

/**
 * The ops as clients send them: positions count the generated output only (image `k` is the
 * generation's `images[k]`, token `i` its `pieces[i]`), never the prompt.
 */
export const REFINE_HANDLERS = {
  renoiseImage: (s, op) => renoiseImage(s, generatedImageIndex(s, op.image), op.to),
  deleteText: (s, op) => deleteSpan(s, ...generatedSpan(s, op.start, op.end), { tText: op.reopenTo }),
  replacePrompt: (s, op, prompt) => replacePrompt(s, prompt(op.prompt)),
} satisfies RefineHandlers;

/** Applies one refinement op to `state` through its handler. */
export function applyRefineOp(state: SamplerState, op: RefineOp, prompt: PromptOf): SamplerState {
  // Indexing the table by a union widens the handler to the union of handlers; each takes its own op.
  const handler = REFINE_HANDLERS[op.op] as RefineHandler<RefineOp['op']>;
  return handler(state, op, prompt);
}

/** A branch's change to its root checkpoint: sampler overrides and at most one refinement (docs/algorithm.md §6). */
export interface BranchChange {
  overrides?: SamplerOverrides;
  refine?: RefineOp;
}

/**
 * Applies a branch's overrides, then its refinement, to `state`. `prompt` turns replacement prompt
 * text into prompt items (the model's tokenizer). Throws `RangeError` / `TokenizeError` on input
 * that does not fit the state or the vocabulary.
 */
export function applyBranchChange(state: SamplerState, change: BranchChange, prompt: PromptOf): SamplerState {
  let s = state;
  const { seed, ...rest } = change.overrides ?? {};
  const params = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<SamplerParams>;
  if (Object.keys(params).length > 0) s = withParams(s, params);
  if (seed !== undefined) s = withSeed(s, seed);
  return change.refine ? applyRefineOp(s, change.refine, prompt) : s;
}
