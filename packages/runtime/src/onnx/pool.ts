import { Worker } from 'node:worker_threads';
import { ExecutionProviderError, type ExecutionProviderFailure } from './quirks.js';
import type { ExecutionProvider, GraphFile, GraphMetadata, NamedTensor, RawOutputs } from './tensor.js';

/** One ONNX graph to serve: its path, the files whose hashes are checked first, where it runs. */
export interface GraphSpec {
  readonly path: string;
  readonly files: readonly GraphFile[];
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
}

type Reply =
  | ({ type: 'ready' } & GraphMetadata)
  | { type: 'result'; id: number; outputs: RawOutputs; ms: number }
  | { type: 'error'; id?: number; message: string; provider?: { provider: string; reason: ExecutionProviderFailure; missing: string[] } };

interface Slot {
  readonly worker: Worker;
  busy: boolean;
}

/**
 * Worker threads, each with its own session of one graph. `run` sends to an idle thread; callers
 * (the micro-batcher) ask `idle()` first. A thread that dies fails every run in flight and closes
 * the pool: a dead session cannot serve anything.
 */
export class SessionPool {
  private nextId = 0;
  private closed = false;
  private readonly inflight = new Map<
    number,
    { slot: Slot; resolve: (r: { outputs: RawOutputs; ms: number }) => void; reject: (e: Error) => void }
  >();
  private onFailure: ((e: Error) => void) | undefined;

  private constructor(
    readonly metadata: GraphMetadata,
    private readonly slots: Slot[],
  ) {
    for (const slot of slots) {
      slot.worker.on('message', (msg: Reply) => this.onReply(msg));
      slot.worker.on('error', (e) => this.fail(new Error(`session worker crashed: ${e.message}`)));
    }
  }

  /** Starts `threads` sessions of the graph; rejects (terminating them) if any cannot verify or load it. */
  static async start(graph: GraphSpec, threads: number): Promise<SessionPool> {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer ≥ 1, got ${threads}`);
    const workers = Array.from({ length: threads }, () => new Worker(new URL('./worker.js', import.meta.url)));
    let metadata: GraphMetadata | undefined;
    try {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              w.once('message', (m: Reply) => {
                if (m.type === 'ready') {
                  metadata = { inputs: m.inputs, outputs: m.outputs };
                  resolve();
                } else if (m.type === 'error' && m.provider) reject(new ExecutionProviderError({ ...m.provider, detail: m.message }));
                else reject(new Error(m.type === 'error' ? m.message : `unexpected ${m.type}`));
              });
              w.once('error', reject);
              w.postMessage({ type: 'init', graph });
            }),
        ),
      );
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new SessionPool(
      metadata!,
      workers.map((worker) => ({ worker, busy: false })),
    );
  }

  /** Sessions not running anything now. */
  idle(): number {
    return this.closed ? 0 : this.slots.filter((s) => !s.busy).length;
  }

  /** Called once if a session thread dies. */
  onCrash(handler: (e: Error) => void): void {
    this.onFailure = handler;
  }

  /** Runs on an idle session; the input buffers are transferred (do not reuse them). */
  run(inputs: Record<string, NamedTensor>): Promise<{ outputs: RawOutputs; ms: number }> {
    if (this.closed) return Promise.reject(new Error('session pool is closed'));
    const slot = this.slots.find((s) => !s.busy);
    if (slot === undefined) return Promise.reject(new Error('no idle session: ask idle() first'));
    slot.busy = true;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inflight.set(id, { slot, resolve, reject });
      const transfer = Object.values(inputs).map((t) => t.data.buffer as ArrayBuffer);
      slot.worker.postMessage({ type: 'run', id, inputs }, transfer);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failInflight(new Error('session pool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private onReply(msg: Reply): void {
    if (msg.type === 'ready' || msg.id === undefined) return;
    const h = this.inflight.get(msg.id);
    if (h === undefined) return;
    this.inflight.delete(msg.id);
    h.slot.busy = false;
    if (msg.type === 'result') h.resolve(msg);
    else h.reject(new Error(`model run failed: ${msg.message}`));
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.failInflight(e);
    this.onFailure?.(e);
  }

  private failInflight(e: Error): void {
    for (const [id, h] of this.inflight) {
      this.inflight.delete(id);
      h.reject(e);
    }
  }
}
