import { Worker } from 'node:worker_threads';
import { type BatchRow, pack, unpack } from '../batch.js';
import type { LoadedModelConfig } from '../config.js';
import { type SamplerState, unconditional } from '../state.js';
import type { StateOutputs, StepOutputs } from '../step.js';
import type { ExecutionProvider, NamedTensor, OutputMap } from './onnx.js';

export interface RunnerOptions {
  /** Worker threads, each with its own session of the model (default 1). */
  threads?: number;
  /** ONNX Runtime intra-op threads per session (default 1). */
  intraOpThreads?: number;
  /** Most rows in one forward pass (default 16); a single request larger than this runs alone. */
  maxBatch?: number;
  /**
   * Longest a request waits for others to join its batch while a session is idle. Default 0: wait
   * only until the current turn of the event loop ends (`setImmediate`), which already collects
   * every generation that was resumed by the previous batch's results.
   */
  maxWaitMs?: number;
  /** Default: config.json `execution_provider`, else `cpu`. */
  executionProvider?: ExecutionProvider;
}

export interface RunnerStats {
  batches: number;
  rows: number;
  /** Time inside `session.run`, summed over batches (ms). */
  modelMs: number;
  /** Main-thread time spent padding inputs and slicing outputs (ms). */
  packMs: number;
}

interface Pending {
  rows: readonly BatchRow[];
  resolve: (o: StateOutputs[]) => void;
  reject: (e: Error) => void;
  at: number;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

type WorkerReply =
  | { type: 'ready'; inputNames: string[]; outputNames: string[] }
  | { type: 'result'; id: number; outputs: OutputMap; ms: number }
  | { type: 'error'; id?: number; message: string };

/**
 * Runs a model off the event loop: one onnxruntime-node session per worker thread, loaded once and
 * verified against config.json's SHA-256, fed by a micro-batcher that merges concurrent requests
 * (from different generations, and the conditional/unconditional pair of one) into one padded
 * forward pass. Requests keep their rows together; batches hold at most `maxBatch` rows and are
 * sent when a session is free and either the batch is full or its oldest request waited `maxWaitMs`.
 */
export class ModelRunner {
  readonly stats: RunnerStats = { batches: 0, rows: 0, modelMs: 0, packMs: 0 };
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  /** The wait for the oldest queued request is over: send what is queued. */
  private waitedOut = false;
  private nextId = 0;
  private readonly inflight = new Map<number, { resolve: (r: { outputs: OutputMap; ms: number }) => void; reject: (e: Error) => void }>();

  private constructor(
    readonly model: LoadedModelConfig,
    private readonly slots: Slot[],
    private readonly maxBatch: number,
    private readonly maxWaitMs: number,
  ) {
    for (const slot of slots) {
      slot.worker.on('message', (msg: WorkerReply) => this.onReply(msg));
      slot.worker.on('error', (e) => {
        // a dead session cannot serve anything: the runner stops and every caller gets the error
        this.closed = true;
        this.failAll(new Error(`model worker crashed: ${e.message}`));
      });
    }
  }

  /** Starts the worker threads; rejects if any cannot load or verify the model. */
  static async start(model: LoadedModelConfig, options: RunnerOptions = {}): Promise<ModelRunner> {
    const threads = options.threads ?? 1;
    const maxBatch = options.maxBatch ?? 16;
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer ≥ 1, got ${threads}`);
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be an integer ≥ 1, got ${maxBatch}`);
    const init = {
      type: 'init',
      path: model.onnxPath,
      sha256: model.config.onnx_sha256,
      intraOpThreads: options.intraOpThreads ?? 1,
      executionProvider: options.executionProvider ?? model.config.execution_provider ?? 'cpu',
    };
    const workers = Array.from({ length: threads }, () => new Worker(new URL('./worker.js', import.meta.url)));
    try {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              w.once('message', (m: WorkerReply) => (m.type === 'ready' ? resolve() : reject(new Error(m.type === 'error' ? m.message : `unexpected ${m.type}`))));
              w.once('error', reject);
              w.postMessage(init);
            }),
        ),
      );
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new ModelRunner(
      model,
      workers.map((worker) => ({ worker, busy: false })),
      maxBatch,
      options.maxWaitMs ?? 2,
    );
  }

  /** Outputs for each row (unpadded); the rows travel in one batch. */
  forward(rows: readonly BatchRow[]): Promise<StateOutputs[]> {
    if (this.closed) return Promise.reject(new Error('model runner is closed'));
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject, at: performance.now() });
      this.pump();
    });
  }

  /** The outputs `step` needs for `state`: conditional, plus unconditional when guidance is on. */
  async stepOutputs(state: SamplerState): Promise<StepOutputs> {
    if (state.params.guidance === 1) {
      const [cond] = await this.forward([state]);
      return { cond: cond! };
    }
    const [cond, uncond] = await this.forward([state, unconditional(state)]);
    return { cond: cond!, uncond: uncond! };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    this.failAll(new Error('model runner closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private queuedRows(): number {
    return this.queue.reduce((n, p) => n + p.rows.length, 0);
  }

  private pump(): void {
    for (;;) {
      const slot = this.slots.find((s) => !s.busy);
      const oldest = this.queue[0];
      if (slot === undefined || oldest === undefined) return;
      const waited = performance.now() - oldest.at;
      if (this.queuedRows() < this.maxBatch && !this.waitedOut && (this.maxWaitMs === 0 || waited < this.maxWaitMs)) {
        if (this.timer === undefined) {
          const fire = () => {
            this.timer = undefined;
            this.waitedOut = true;
            this.pump();
          };
          this.timer = this.maxWaitMs === 0 ? setImmediate(fire) : setTimeout(fire, Math.max(0, this.maxWaitMs - waited));
        }
        return;
      }
      this.waitedOut = false;
      this.clearTimer();
      const batch: Pending[] = [oldest];
      let rows = oldest.rows.length;
      this.queue.shift();
      while (this.queue[0] !== undefined && rows + this.queue[0].rows.length <= this.maxBatch) {
        rows += this.queue[0].rows.length;
        batch.push(this.queue.shift()!);
      }
      this.dispatch(slot, batch);
    }
  }

  private dispatch(slot: Slot, batch: Pending[]): void {
    slot.busy = true;
    const rows = batch.flatMap((p) => p.rows);
    let inputs: Record<string, NamedTensor>;
    const t0 = performance.now();
    try {
      inputs = pack(rows);
      this.stats.packMs += performance.now() - t0;
    } catch (e) {
      slot.busy = false;
      for (const p of batch) p.reject(e as Error);
      return;
    }
    const id = this.nextId++;
    const done = (err: Error | undefined, r?: { outputs: OutputMap; ms: number }) => {
      slot.busy = false;
      if (err !== undefined || r === undefined) for (const p of batch) p.reject(err ?? new Error('no result'));
      else {
        this.stats.batches++;
        this.stats.rows += rows.length;
        this.stats.modelMs += r.ms;
        let outs: StateOutputs[];
        try {
          const t1 = performance.now();
          outs = unpack(r.outputs, rows);
          this.stats.packMs += performance.now() - t1;
        } catch (e) {
          for (const p of batch) p.reject(e as Error);
          this.pump();
          return;
        }
        let k = 0;
        for (const p of batch) {
          p.resolve(outs.slice(k, k + p.rows.length));
          k += p.rows.length;
        }
      }
      this.pump();
    };
    this.inflight.set(id, { resolve: (r) => done(undefined, r), reject: (e) => done(e) });
    const transfer = Object.values(inputs).map((t) => t.data.buffer as ArrayBuffer);
    slot.worker.postMessage({ type: 'run', id, inputs }, transfer);
  }

  private onReply(msg: WorkerReply): void {
    if (msg.type === 'ready' || msg.id === undefined) return;
    const h = this.inflight.get(msg.id);
    if (h === undefined) return;
    this.inflight.delete(msg.id);
    if (msg.type === 'result') h.resolve(msg);
    else h.reject(new Error(`model run failed: ${msg.message}`));
  }

  private failAll(e: Error): void {
    for (const p of this.queue.splice(0)) p.reject(e);
    for (const [id, h] of this.inflight) {
      this.inflight.delete(id);
      h.reject(e);
    }
  }
}
