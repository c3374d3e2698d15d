/**
 * GET /metrics in a cluster primary: every ready worker's prom-client registry, asked over IPC with
 * prom-client's own message protocol (the workers answer it: src/cluster/worker.ts), and the
 * primary's series, aggregated as prom-client's AggregatorRegistry does (counters and histograms
 * summed; a gauge by its `aggregator`). A worker that does not answer within 3 s is left out: a
 * worker starting or stuck must not fail the scrape (AggregatorRegistry.clusterMetrics() would wait
 * for every connected worker and fail after 5 s).
 */
import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';

/** How long GET /metrics waits for a worker's registry. */
const METRICS_WAIT_MS = 3_000;

/** One registry's metrics as `Registry.getMetricsAsJSON()` gives them (what the workers send). */
type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;

/** What the primary's own series read. */
export interface ClusterState {
  configured: number;
  ready(): number;
  restarts(): number;
  crashLoop(): boolean;
  storeBatches(): { run: number; late: number };
  /** The workers to ask (ready, connected). */
  workers(): Worker[];
}

export class ClusterMetrics {
  private readonly registry = new client.Registry();
  private readonly state: ClusterState;
  private seq = 0;

  constructor(state: ClusterState) {
    this.state = state;
    const registry = this.registry;
    new client.Gauge({
      name: 'portcullis_cluster_workers',
      help: 'Cluster workers: configured (server.workers) and ready (serving).',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.set({ state: 'configured' }, state.configured);
        this.set({ state: 'ready' }, state.ready());
      },
    });
    new client.Counter({
      name: 'portcullis_cluster_worker_restarts_total',
      help: 'Workers started again after they exited.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(state.restarts());
      },
    });
    new client.Gauge({
      name: 'portcullis_cluster_crash_loop',
      help: '1 when workers exited too often and are no longer restarted.',
      registers: [registry],
      collect() {
        this.set(state.crashLoop() ? 1 : 0);
      },
    });
    new client.Counter({
      name: 'portcullis_cluster_store_batches_total',
      help: 'Store batches the primary answered for the workers (memory store), and those that came after their deadline (late).',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        const b = state.storeBatches();
        this.inc({ outcome: 'run' }, b.run);
        this.inc({ outcome: 'late' }, b.late);
      },
    });
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    const requestId = `pcl-${++this.seq}`;
    const targets = this.state.workers();
    const responses: MetricsJson[] = [];
    await new Promise<void>((resolve) => {
      let waiting = targets.length;
      const timer = setTimeout(finish, METRICS_WAIT_MS);
      function finish(): void {
        clearTimeout(timer);
        cluster.off('message', onMessage);
        resolve();
      }
      function onMessage(_worker: Worker, m: { type?: string; requestId?: unknown; metrics?: MetricsJson[] } | null): void {
        if (m === null || typeof m !== 'object' || m.type !== 'prom-client:getMetricsRes' || m.requestId !== requestId) return;
        if (Array.isArray(m.metrics)) for (const r of m.metrics) responses.push(r);
        if (--waiting === 0) finish();
      }
      cluster.on('message', onMessage);
      if (waiting === 0) finish();
      for (const w of targets) {
        try {
          if (w.isConnected()) w.send({ type: 'prom-client:getMetricsReq', requestId });
        } catch {
          // going away: left out
        }
      }
    });
    responses.push(await this.registry.getMetricsAsJSON());
    const aggregated = client.AggregatorRegistry.aggregate(responses);
    return { contentType: aggregated.contentType, body: await aggregated.metrics() };
  }
}
