import { Worker } from 'node:worker_threads';
import { type BatchRow, canonicalShape, pack, unpack } from '../batch.js';
import type { LoadedModelConfig } from '../config.js';
import type { SamplerState } from '../state.js';
import { type StateOutputs, type StepOutputs, guidanceRows, stepOutputsOf } from '../step.js';
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
  /** Token axis padding: rows run at L rounded up to this multiple (default 8); see `canonicalShape`. */
  padMultiple?: number;
}

export interface RunnerStats {
  batches: number;
  rows: number;
  /** Time inside `session.run`, summed over batches (ms). */
  modelMs: number;
  /** Main-thread time spent padding inputs and slicing outputs (ms). */
  packMs: number;
}

/** A caller's request: its rows may run in different batches (their shapes differ). */
interface Request {
  readonly outs: (StateOutputs | undefined)[];
  remaining: number;
  failed: boolean;
  resolve: (o: StateOutputs[]) => void;
  reject: (e: Error) => void;
}

/** One queued row, with the padded shape it will run at. */
interface Entry {
  readonly row: BatchRow;
  readonly key: string;
  readonly shape: { length: number; images: number };
  readonly req: Request;
  readonly index: number;
  /** Arrival time (ms) and event-loop turn, for the batching wait. */
  readonly at: number;
  readonly turn: number;
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
 * (rows from different generations, and the conditional/unconditional pair of one) into one
 * padded forward pass.
 *
 * Rows are grouped by their canonical padded shape (`canonicalShape`: L rounded up to
 * `padMultiple`, M = max(1, images)) and only rows of one shape share a batch, so a row's outputs
 * never depend on what it was batched with: a generation is bit-identical alone or under load.
 * When a session is free, the shape of the oldest queued row is sent, at most `maxBatch` rows,
 * once it is full or its oldest row has waited (`maxWaitMs`, or one event-loop turn when 0).
 */
export class ModelRunner {
  readonly stats: RunnerStats = { batches: 0, rows: 0, modelMs: 0, packMs: 0 };
  private readonly queue: Entry[] = [];
  /** Event-loop turns seen by the batching timer. */
  private turn = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  private nextId = 0;
  private readonly inflight = new Map<number, { resolve: (r: { outputs: OutputMap; ms: number }) => void; reject: (e: Error) => void }>();

  private constructor(
    readonly model: LoadedModelConfig,
    private readonly slots: Slot[],
    private readonly maxBatch: number,
    private readonly maxWaitMs: number,
    private readonly padMultiple: number,
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
              w.once('message', (m: WorkerReply) =>
                m.type === 'ready' ? resolve() : reject(new Error(m.type === 'error' ? m.message : `unexpected ${m.type}`)),
              );
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
      options.maxWaitMs ?? 0,
      options.padMultiple ?? 8,
    );
  }

  /** Outputs for each row (unpadded). */
  forward(rows: readonly BatchRow[]): Promise<StateOutputs[]> {
    if (this.closed) return Promise.reject(new Error('model runner is closed'));
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const req: Request = { outs: rows.map(() => undefined), remaining: rows.length, failed: false, resolve, reject };
      const at = performance.now();
      rows.forEach((row, index) => {
        const shape = canonicalShape(row, this.padMultiple);
        this.queue.push({ row, shape, key: `${shape.length}x${shape.images}`, req, index, at, turn: this.turn });
      });
      this.pump();
    });
  }

  /** The outputs `step` needs for `state`: conditional, plus the twins its guidance needs (one batched forward). */
  async stepOutputs(state: SamplerState): Promise<StepOutputs> {
    if (state.spec.sha256 !== this.model.spec.sha256) {
      throw new Error(
        `state was made for model ${state.spec.name} (${state.spec.sha256.slice(0, 12)}), this runner serves ${this.model.spec.name} (${this.model.spec.sha256.slice(0, 12)})`,
      );
    }
    return stepOutputsOf(state, await this.forward(guidanceRows(state)));
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

  private pump(): void {
    for (;;) {
      const slot = this.slots.find((s) => !s.busy);
      const oldest = this.queue[0];
      if (slot === undefined || oldest === undefined) return;
      const same = this.queue.filter((e) => e.key === oldest.key).slice(0, this.maxBatch);
      const ripe = this.maxWaitMs === 0 ? oldest.turn < this.turn : performance.now() - oldest.at >= this.maxWaitMs;
      if (same.length < this.maxBatch && !ripe) {
        if (this.timer === undefined) {
          const fire = () => {
            this.timer = undefined;
            this.turn++;
            this.pump();
          };
          this.timer =
            this.maxWaitMs === 0 ? setImmediate(fire) : setTimeout(fire, Math.max(0, this.maxWaitMs - (performance.now() - oldest.at)));
        }
        return;
      }
      const taken = new Set(same);
      this.queue.splice(0, this.queue.length, ...this.queue.filter((e) => !taken.has(e)));
      this.dispatch(slot, same);
    }
  }

  private dispatch(slot: Slot, batch: Entry[]): void {
    slot.busy = true;
    const rows = batch.map((e) => e.row);
    // ONNX Runtime takes another kernel path when exactly one image goes through the conv blocks
    // (B·M = 1), which changes the last bits; run such a row twice so it gets the B ≥ 2 path.
    const single = rows.length === 1 && batch[0]!.shape.images === 1 && rows[0]!.images.length === 1;
    const packed = single ? [rows[0]!, rows[0]!] : rows;
    const fail = (e: Error) => {
      for (const { req } of batch) {
        if (req.failed) continue;
        req.failed = true;
        req.reject(e);
      }
    };
    let inputs: Record<string, NamedTensor>;
    const t0 = performance.now();
    try {
      inputs = pack(packed, batch[0]!.shape);
      this.stats.packMs += performance.now() - t0;
    } catch (e) {
      slot.busy = false;
      fail(e as Error);
      return;
    }
    const id = this.nextId++;
    const done = (err: Error | undefined, r?: { outputs: OutputMap; ms: number }) => {
      slot.busy = false;
      if (err !== undefined || r === undefined) fail(err ?? new Error('no result'));
      else {
        this.stats.batches++;
        this.stats.rows += packed.length;
        this.stats.modelMs += r.ms;
        try {
          const t1 = performance.now();
          const outs = unpack(r.outputs, packed);
          this.stats.packMs += performance.now() - t1;
          batch.forEach(({ req, index }, k) => {
            req.outs[index] = outs[k];
            if (--req.remaining === 0 && !req.failed) req.resolve(req.outs as StateOutputs[]);
          });
        } catch (e) {
          fail(e as Error);
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
    for (const { req } of this.queue.splice(0)) {
      if (req.failed) continue;
      req.failed = true;
      req.reject(e);
    }
    for (const [id, h] of this.inflight) {
      this.inflight.delete(id);
      h.reject(e);
    }
  }
}
