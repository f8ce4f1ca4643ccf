import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckpointSummary } from '@oneflow/contracts';
import type { GenerationEngine } from './engine.js';
import type { GcReport } from './gc/collector.js';

/** The worker's Prometheus metrics: step rate and latency, queue wait, model batch sizes. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly steps = new Counter({
    name: 'oneflow_steps_total',
    help: 'Sampler steps completed',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly stepSeconds = new Histogram({
    name: 'oneflow_step_seconds',
    help: 'Wall time of one step: checkpoint load, model, sampler, checkpoint store',
    labelNames: ['model'],
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly queueWaitSeconds = new Histogram({
    name: 'oneflow_activity_queue_wait_seconds',
    help: 'Time an advance activity waited on the task queue before a worker started it',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });

  /** Retention (the checkpoint collector): the last run's figures, and totals. */
  readonly gcRuns = new Counter({
    name: 'oneflow_gc_runs_total',
    help: 'Checkpoint collections run, by result (ok, dry_run, failed)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly gcReclaimedBytes = new Counter({
    name: 'oneflow_gc_reclaimed_bytes_total',
    help: 'Bytes of checkpoint blobs deleted by the collector',
    registers: [this.registry],
  });
  readonly gcBlobs = new Gauge({
    name: 'oneflow_gc_blobs',
    help: 'Checkpoint blobs at the last collection: kept, reclaimed (or reclaimable, in a dry run), young (unmarked but inside the grace period)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly gcBytes = new Gauge({
    name: 'oneflow_gc_bytes',
    help: 'Bytes of checkpoint blobs at the last collection: kept, reclaimed',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly gcLastRun = new Gauge({
    name: 'oneflow_gc_last_run_timestamp_seconds',
    help: 'When the last checkpoint collection that completed started (unix seconds)',
    registers: [this.registry],
  });

  recordGc(r: GcReport): void {
    this.gcRuns.inc({ result: r.dryRun ? 'dry_run' : 'ok' });
    for (const kind of ['kept', 'reclaimed', 'young'] as const) this.gcBlobs.set({ kind }, r.blobs[kind]);
    for (const kind of ['kept', 'reclaimed'] as const) this.gcBytes.set({ kind }, r.bytes[kind]);
    if (!r.dryRun) this.gcReclaimedBytes.inc(r.bytes.reclaimed);
    this.gcLastRun.set(Date.parse(r.startedAt) / 1000);
  }

  recordGcFailure(): void {
    this.gcRuns.inc({ result: 'failed' });
  }

  /** Model runners to report on: batches and rows (rows / batches = mean micro-batch size). */
  private readonly runners = new Map<string, { stats: { batches: number; rows: number; modelMs: number } }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const runners = this.runners;
    const fromRunners = (name: string, help: string, pick: (s: { batches: number; rows: number; modelMs: number }) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['model'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [model, r] of runners) this.inc({ model }, pick(r.stats));
        },
      });
    fromRunners('oneflow_model_batches_total', 'Forward passes run by the model runner', (s) => s.batches);
    fromRunners('oneflow_model_rows_total', 'Rows (states) sent through the model; / batches = mean micro-batch size', (s) => s.rows);
    fromRunners('oneflow_model_seconds_total', 'Time inside the model forward pass', (s) => s.modelMs / 1000);
  }

  watchRunner(model: string, runner: { stats: { batches: number; rows: number; modelMs: number } }): void {
    this.runners.set(model, runner);
  }

  /** The engine with every `advance` counted and timed. */
  instrument(engine: GenerationEngine): GenerationEngine {
    const { steps, stepSeconds } = this;
    return {
      create: (r) => engine.create(r),
      derive: (id, c) => engine.derive(id, c),
      describe: (id) => engine.describe(id),
      persist: (id) => engine.persist(id),
      async advance(id): Promise<CheckpointSummary> {
        const end = stepSeconds.startTimer();
        const head = await engine.advance(id);
        end({ model: head.model });
        steps.inc({ model: head.model });
        return head;
      },
    };
  }

  async serve(port: number, host: string): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    const address = server.address() as AddressInfo;
    return {
      url: `http://${host}:${address.port}/metrics`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }
}
