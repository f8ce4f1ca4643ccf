import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@oneflow/api';

// The runtime-neutral part of the SDK: the Node entry (index.ts) and the browser entry (browser.ts)
// add their EventSource (and, in Node, file helpers).

/** The served model to use when none is named: the newest contract first (oneflow-toy-v2 beside v1). */
export { preferredModel } from '@oneflow/contracts';

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Health = RouterOutputs['health'];
export type Generation = RouterOutputs['generations']['get'];
export type GenerationState = Generation['state'];
export type GenerationSummary = RouterOutputs['generations']['list']['items'][number];
export type GenerationPage = RouterOutputs['generations']['list'];
export type Lineage = RouterOutputs['generations']['lineage'];
/** A page of a generation's finished steps (oldest first), for timelines. */
export type StepPage = RouterOutputs['generations']['steps'];
export type StepSnapshot = StepPage['items'][number];
export type StepsInput = RouterInputs['generations']['steps'];
/** A pinned step: retention never collects its checkpoint. */
export type Pin = RouterOutputs['generations']['pin'];
export type Unpin = RouterOutputs['generations']['unpin'];
export type Batch = RouterOutputs['batches']['get'];
export type BatchPage = RouterOutputs['batches']['list'];
export type Model = RouterOutputs['models']['list'][number];
export type CreateGenerationInput = RouterInputs['generations']['create'];
export type ListGenerationsInput = RouterInputs['generations']['list'];
export type BranchInput = RouterInputs['generations']['branch'];
export type RefineInput = RouterInputs['generations']['refine'];
export type CreateBatchInput = RouterInputs['batches']['create'];
export type ListBatchesInput = RouterInputs['batches']['list'];
/** One progress event of `generations.watch`, with its id (pass it as `lastEventId` to resume after it). */
export type WatchEvent = RouterOutputs['generations']['watch'] extends AsyncIterable<infer E> ? E : never;
export type ProgressEvent = WatchEvent['data'] & { id: WatchEvent['id'] };
type BatchWatchEvent = RouterOutputs['batches']['watch'] extends AsyncIterable<infer E> ? E : never;
/** A batch's view from `batches.watch`, with its event id (`lastEventId` to resume after it). */
export type BatchEvent = BatchWatchEvent['data'] & { eventId: BatchWatchEvent['id'] };

export type EventSourceFetch = (
  input: string | URL,
  init?: { headers?: Record<string, string> } & Record<string, unknown>,
) => Promise<Response>;
/** What the client needs of an EventSource: the WHATWG one, constructed with a custom fetch. */
export type EventSourceCtor = new (
  url: string | URL,
  init?: { fetch?: EventSourceFetch },
) => EventTarget & {
  readonly readyState: number;
  readonly CONNECTING: number;
  readonly OPEN: number;
  readonly CLOSED: number;
  close(): void;
};
/** Final states: a generation in one of them changes only if it is resumed. */
export const FINAL_STATES: readonly GenerationState[] = ['succeeded', 'failed', 'canceled', 'expired'];

export interface ClientOptions {
  /** Where the API listens, e.g. `http://127.0.0.1:3000` (the tRPC endpoint is `/trpc`). */
  baseUrl: string;
  apiKey?: string;
}

/** The tRPC error code of a failed call (`NOT_FOUND`, `BAD_REQUEST`, `TOO_MANY_REQUESTS`…), or null. */
export function errorCode(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<AppRouter>).data as { code?: string } | undefined;
    return data?.code ?? null;
  }
  return null;
}
export { TRPCClientError };

/**
 * The typed OneFlow client over `fetch` and the given EventSource (one that takes a custom fetch, so
 * the key travels in a header). Imports only the router's *type*: no server code at run time, no
 * Node built-ins, so it bundles for browsers too (`@oneflow/sdk/browser`).
 */
export function createCoreClient(options: ClientOptions, EventSource: EventSourceCtor) {
  const base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
  const url = new URL('trpc', base).toString();
  const auth = (): Record<string, string> => (options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {});
  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        // Server-sent events; on a dropped connection the link reconnects with the last event id.
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({
            fetch: ((input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...auth() } })) satisfies EventSourceFetch,
          }),
        }),
        false: httpBatchLink({ url, headers: auth }),
      }),
    ],
  });

  const absolute = (relative: string): string => new URL(relative.replace(/^\//, ''), base).toString();

  /** The bytes of a PNG route (`image.url` of a generation), with this client's key. */
  async function fetchImage(imageUrl: string, init: { step?: number } = {}): Promise<Uint8Array> {
    const u = new URL(absolute(imageUrl));
    if (init.step !== undefined) u.searchParams.set('step', String(init.step));
    const res = await fetch(u, { headers: auth() });
    if (!res.ok) throw new Error(`GET ${u.pathname}${u.search}: ${res.status} ${await res.text()}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  /** Progress of a generation as an async iterator; ends after a final state (or when `signal` aborts). */
  function watch(id: string, opts: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncIterableIterator<ProgressEvent> {
    return iterate<ProgressEvent>(
      (handlers) =>
        trpc.generations.watch.subscribe(
          { id, ...(opts.lastEventId ? { lastEventId: opts.lastEventId } : {}) },
          {
            ...handlers,
            onData: (e) => handlers.onData({ ...e.data, id: e.id }),
          },
        ),
      opts.signal,
    );
  }

  /** A batch's view each time an item starts or finishes; ends when the batch does. */
  function watchBatch(id: string, opts: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncIterableIterator<BatchEvent> {
    return iterate<BatchEvent>(
      (handlers) =>
        trpc.batches.watch.subscribe(
          { id, ...(opts.lastEventId ? { lastEventId: opts.lastEventId } : {}) },
          {
            ...handlers,
            onData: (e) => handlers.onData({ ...e.data, eventId: e.id }),
          },
        ),
      opts.signal,
    );
  }

  /** A subscription as an async iterator (buffers events until they are read). */
  function iterate<T>(
    subscribe: (handlers: {
      onData: (value: T) => void;
      onError: (err: unknown) => void;
      onComplete: () => void;
      onStopped: () => void;
    }) => { unsubscribe(): void },
    signal: AbortSignal | undefined,
  ): AsyncIterableIterator<T> {
    const queue: T[] = [];
    let done = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const sub = subscribe({
      onData: (value) => {
        queue.push(value);
        notify();
      },
      onError: (err) => {
        failure = err;
        done = true;
        notify();
      },
      onComplete: () => {
        done = true;
        notify();
      },
      onStopped: () => {
        done = true;
        notify();
      },
    });
    const stop = () => {
      sub.unsubscribe();
      done = true;
      notify();
    };
    signal?.addEventListener('abort', stop, { once: true });
    const iterator: AsyncIterableIterator<T> = {
      [Symbol.asyncIterator]: () => iterator,
      async next(): Promise<IteratorResult<T>> {
        for (;;) {
          const e = queue.shift();
          if (e) return { value: e, done: false };
          if (failure) {
            const f = failure;
            failure = null;
            throw f instanceof Error ? f : new Error('watch failed', { cause: f });
          }
          if (done) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      async return(): Promise<IteratorResult<T>> {
        stop();
        signal?.removeEventListener('abort', stop);
        return { value: undefined, done: true };
      },
    };
    return iterator;
  }

  const generations = {
    create: (input: CreateGenerationInput): Promise<Generation> => trpc.generations.create.mutate(input),
    get: (id: string): Promise<Generation> => trpc.generations.get.query({ id }),
    list: (input: ListGenerationsInput = {}): Promise<GenerationPage> => trpc.generations.list.query(input),
    cancel: (id: string): Promise<Generation> => trpc.generations.cancel.mutate({ id }),
    resume: (id: string): Promise<Generation> => trpc.generations.resume.mutate({ id }),
    branch: (input: BranchInput): Promise<Generation> => trpc.generations.branch.mutate(input),
    refine: (input: RefineInput): Promise<Generation> => trpc.generations.refine.mutate(input),
    lineage: (id: string): Promise<Lineage> => trpc.generations.lineage.query({ id }),
    /** Finished steps from `fromStep` (default the first), at most `limit` (≤ 500); `nextStep` pages on. */
    steps: (input: StepsInput): Promise<StepPage> => trpc.generations.steps.query(input),
    /** Keeps step `step`'s checkpoint whatever the retention policy says (NOT_FOUND once collected). */
    pin: (id: string, step: number): Promise<Pin> => trpc.generations.pin.mutate({ id, step }),
    /** Stops keeping it (`unpinned: false` when it was not pinned). */
    unpin: (id: string, step: number): Promise<Unpin> => trpc.generations.unpin.mutate({ id, step }),
    watch,
    /** Resolves with the generation once it is in a final state (polls `get`). */
    wait: async (id: string, opts: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {}): Promise<Generation> => {
      const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
      for (;;) {
        const g = await trpc.generations.get.query({ id }, opts.signal ? { signal: opts.signal } : {});
        if (FINAL_STATES.includes(g.state)) return g;
        if (Date.now() > deadline) throw new Error(`generation ${id} is still ${g.state} after ${opts.timeoutMs ?? 600_000} ms`);
        await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
      }
    },
    /** The absolute URL of image `k` (newest, or at `step` for a preview). */
    imageUrl: (id: string, k: number, step?: number): string =>
      absolute(`/generations/${encodeURIComponent(id)}/images/${k}.png${step === undefined ? '' : `?step=${step}`}`),
    fetchImage,
  };

  const batches = {
    create: (input: CreateBatchInput): Promise<Batch> => trpc.batches.create.mutate(input),
    get: (id: string): Promise<Batch> => trpc.batches.get.query({ id }),
    list: (input: ListBatchesInput = {}): Promise<BatchPage> => trpc.batches.list.query(input),
    cancel: (id: string) => trpc.batches.cancel.mutate({ id }),
    watch: watchBatch,
    /** Resolves with the batch once it is no longer running (polls `get`). */
    wait: async (id: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Batch> => {
      const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
      for (;;) {
        const b = await trpc.batches.get.query({ id });
        if (b.state !== 'running') return b;
        if (Date.now() > deadline) throw new Error(`batch ${id} is still running after ${opts.timeoutMs ?? 1_800_000} ms`);
        await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
      }
    },
  };

  return {
    health: (): Promise<Health> => trpc.health.query(),
    generations,
    batches,
    models: { list: (): Promise<Model[]> => trpc.models.list.query() },
  };
}
export type CoreClient = ReturnType<typeof createCoreClient>;
