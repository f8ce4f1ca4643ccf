/**
 * A micro-batcher, generic over what it batches: callers submit rows, rows with the same key are
 * merged into one execution (at most `maxBatch` rows), and an execution starts only while the
 * executor has capacity.
 *
 * When capacity is free, the key of the oldest queued row is sent, once its group is full or the
 * oldest row has waited `maxWaitMs` (or, when 0, until the event-loop turn it arrived in ends —
 * which already collects every caller resumed by the previous execution's results).
 */
export interface BatchExecutor<Row, Out> {
  /** Group key: only rows with equal keys share an execution. */
  keyOf(row: Row): string;
  /** Executions that can start now. */
  capacity(): number;
  /** Runs rows of one key; resolves with one output per row, in order. */
  execute(rows: readonly Row[], key: string): Promise<Out[]>;
}

export interface BatcherOptions {
  /** Most rows in one execution (a single request larger than this is split). */
  maxBatch: number;
  /** Longest a row waits for others while capacity is free (ms); 0 = one event-loop turn. */
  maxWaitMs: number;
}

export interface BatcherStats {
  batches: number;
  rows: number;
}

interface Request<Out> {
  readonly outs: (Out | undefined)[];
  remaining: number;
  failed: boolean;
  resolve: (o: Out[]) => void;
  reject: (e: Error) => void;
}

interface Entry<Row, Out> {
  readonly row: Row;
  readonly key: string;
  readonly req: Request<Out>;
  readonly index: number;
  readonly at: number;
  readonly turn: number;
}

export class MicroBatcher<Row, Out> {
  readonly stats: BatcherStats = { batches: 0, rows: 0 };
  private readonly queue: Entry<Row, Out>[] = [];
  private turn = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closedWith: Error | undefined;

  constructor(
    private readonly executor: BatchExecutor<Row, Out>,
    private readonly options: BatcherOptions,
  ) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1)
      throw new RangeError(`maxBatch must be an integer ≥ 1, got ${options.maxBatch}`);
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0, got ${options.maxWaitMs}`);
  }

  /** Outputs for each row; rows of one call may run in different executions (their keys differ). */
  submit(rows: readonly Row[]): Promise<Out[]> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const req: Request<Out> = { outs: rows.map(() => undefined), remaining: rows.length, failed: false, resolve, reject };
      const at = performance.now();
      rows.forEach((row, index) => this.queue.push({ row, key: this.executor.keyOf(row), req, index, at, turn: this.turn }));
      this.pump();
    });
  }

  /** Fails everything queued and refuses new rows; executions in flight finish or fail on their own. */
  close(reason: Error): void {
    this.closedWith = reason;
    this.clearTimer();
    for (const { req } of this.queue.splice(0)) fail(req, reason);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private pump(): void {
    const { maxBatch, maxWaitMs } = this.options;
    while (this.executor.capacity() > 0) {
      const oldest = this.queue[0];
      if (oldest === undefined) return;
      const same = this.queue.filter((e) => e.key === oldest.key).slice(0, maxBatch);
      const ripe = maxWaitMs === 0 ? oldest.turn < this.turn : performance.now() - oldest.at >= maxWaitMs;
      if (same.length < maxBatch && !ripe) {
        if (this.timer === undefined) {
          const fire = () => {
            this.timer = undefined;
            this.turn++;
            this.pump();
          };
          this.timer = maxWaitMs === 0 ? setImmediate(fire) : setTimeout(fire, Math.max(0, maxWaitMs - (performance.now() - oldest.at)));
        }
        return;
      }
      const taken = new Set(same);
      this.queue.splice(0, this.queue.length, ...this.queue.filter((e) => !taken.has(e)));
      this.run(same);
    }
  }

  private run(batch: Entry<Row, Out>[]): void {
    let running: Promise<Out[]>;
    try {
      running = this.executor.execute(
        batch.map((e) => e.row),
        batch[0]!.key,
      );
    } catch (e) {
      running = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    running.then(
      (outs) => {
        this.stats.batches++;
        this.stats.rows += batch.length;
        batch.forEach(({ req, index }, k) => {
          req.outs[index] = outs[k];
          if (--req.remaining === 0 && !req.failed) req.resolve(req.outs as Out[]);
        });
        this.pump();
      },
      (e: unknown) => {
        for (const { req } of batch) fail(req, e instanceof Error ? e : new Error(String(e)));
        this.pump();
      },
    );
  }
}

function fail<Out>(req: Request<Out>, e: Error): void {
  if (req.failed) return;
  req.failed = true;
  req.reject(e);
}
