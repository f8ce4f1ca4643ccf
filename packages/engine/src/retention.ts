import { createHash } from 'node:crypto';
import { z } from 'zod';
import { checkpointIdSchema } from '@oneflow/contracts';
import type { RecordStore } from '@oneflow/store';

/**
 * What retention leaves of a generation, shared by the collector (worker) and the readers (API).
 *
 * Checkpoints name their parent, so a generation's checkpoints are found by walking parent links
 * from its newest one. Once the collector has removed some steps the walk stops at the first gap;
 * so before it deletes anything of a generation it writes the generation's **index**: every
 * checkpoint of the generation that it keeps. Walk + index = what is left, on every later run and
 * for every reader. Pins are records too (per tenant, generation and step).
 */

export const generationIndexSchema = z.object({
  v: z.literal(1),
  generationId: z.string().min(1),
  tenant: z.string().nullable(),
  /** Every checkpoint of the generation the last sweep kept, oldest first (one per step). */
  kept: z.array(z.object({ step: z.number().int().min(0), checkpointId: checkpointIdSchema })),
  sweptAt: z.string(),
});
export type GenerationIndex = z.infer<typeof generationIndexSchema>;

export const pinSchema = z.object({
  v: z.literal(1),
  tenant: z.string().min(1),
  generationId: z.string().min(1),
  step: z.number().int().min(0),
  checkpointId: checkpointIdSchema,
  pinnedAt: z.string(),
});
export type Pin = z.infer<typeof pinSchema>;

const digest = (...parts: (string | number)[]) => createHash('sha256').update(parts.map(String).join('\u0000')).digest('hex').slice(0, 40);

const INDEX_PREFIX = 'retention/index/';
const PIN_PREFIX = 'retention/pins/';
export const indexKey = (generationId: string) => `${INDEX_PREFIX}${digest(generationId)}.json`;
export const pinKey = (tenant: string, generationId: string, step: number) => `${PIN_PREFIX}${digest(tenant, generationId, step)}.json`;

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
function parsed<T>(schema: z.ZodType<T>, bytes: Uint8Array | null, what: string): T | null {
  if (!bytes) return null;
  const r = schema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  if (!r.success) throw new Error(`unreadable ${what}: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** Retention indexes and pins in a store's records. */
export class RetentionRecords {
  constructor(readonly records: RecordStore) {}

  async index(generationId: string): Promise<GenerationIndex | null> {
    const index = parsed(generationIndexSchema, await this.records.get(indexKey(generationId)), `retention index of ${generationId}`);
    return index && index.generationId === generationId ? index : null;
  }

  putIndex(index: GenerationIndex): Promise<void> {
    return this.records.put(indexKey(index.generationId), json(generationIndexSchema.parse(index)));
  }

  async pin(p: Omit<Pin, 'v' | 'pinnedAt'>): Promise<Pin> {
    const pin: Pin = { v: 1, ...p, pinnedAt: new Date().toISOString() };
    await this.records.put(pinKey(p.tenant, p.generationId, p.step), json(pin));
    return pin;
  }

  /** Resolves true when the step was pinned. */
  unpin(tenant: string, generationId: string, step: number): Promise<boolean> {
    return this.records.delete(pinKey(tenant, generationId, step));
  }

  async pinOf(tenant: string, generationId: string, step: number): Promise<Pin | null> {
    return parsed(pinSchema, await this.records.get(pinKey(tenant, generationId, step)), 'pin');
  }

  /** Every pin of every tenant. */
  async pins(): Promise<Pin[]> {
    const out: Pin[] = [];
    for await (const key of this.records.list(PIN_PREFIX)) {
      const pin = parsed(pinSchema, await this.records.get(key), `pin ${key}`);
      if (pin) out.push(pin);
    }
    return out;
  }
}

/** A checkpoint as far as walking needs it. */
export interface Link {
  checkpointId: string;
  parentId: string | null;
  step: number;
}

/**
 * The checkpoints of one generation that are still there, oldest first, one per step: the walk
 * from `newestId` down its parent links to `rootId`, stopping early at the first missing
 * checkpoint or at the first one its retention index lists (the index knows the rest); then the
 * index's entries below the walk. `collected`: steps of the chain may have been removed (a gap, or
 * an index, which the collector writes only for a generation that loses checkpoints).
 */
export async function generationCheckpoints<S extends Link>(
  source: { snapshot(id: string): Promise<S | null> },
  newestId: string | null,
  rootId: string | null,
  index: GenerationIndex | null,
  limit = 100_000,
): Promise<{ walked: S[]; kept: { step: number; checkpointId: string }[]; collected: boolean }> {
  const indexed = new Set((index?.kept ?? []).map((k) => k.checkpointId));
  const walked: S[] = [];
  let id = newestId;
  let collected = false;
  let useIndex = false;
  while (id !== null && walked.length < limit) {
    const s = await source.snapshot(id);
    if (!s) {
      collected = true;
      useIndex = true;
      break;
    }
    if (walked.length === 0 || s.step < walked[walked.length - 1]!.step) walked.push(s);
    if (id === rootId) break;
    if (indexed.has(id)) {
      useIndex = true;
      break;
    }
    id = s.parentId;
  }
  walked.reverse();
  const lowest = walked[0]?.step ?? Number.POSITIVE_INFINITY;
  const below = useIndex ? (index?.kept ?? []).filter((k) => k.step < lowest) : [];
  const kept = [...below, ...walked.map((s) => ({ step: s.step, checkpointId: s.checkpointId }))];
  return { walked, kept, collected: collected || useIndex };
}
