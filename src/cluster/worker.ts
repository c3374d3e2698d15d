/**
 * A cluster worker (`server.workers` > 1): the normal `portcullis start` path with three
 * differences. Its config comes from the primary (the exact text the primary validated, so a worker
 * restarted after a crash runs the config in effect, not whatever the file holds now); it has no
 * admin listener and watches no file (the primary does both); and it answers the primary's messages:
 * `reload` (build beside, swap: GatewayServer.reload), `stop` (drain, exit), `live?` (its live data
 * for the dashboard: the primary merges every worker's for GET /live and /events), and prom-client's
 * metrics requests (the primary aggregates every worker's registry for GET /metrics).
 */
import client from 'prom-client';
import { parseConfigText, type LoadedConfig } from '../config/load.ts';
import type { GatewayServer, ReloadResult } from '../server/gateway-server.ts';
import type { WorkerIdentity } from '../store/cluster.ts';
import type { ConfigText, PrimaryMessage, WorkerMessage } from './messages.ts';

/** How long a worker waits for the primary to hand it the config. */
const CONFIG_WAIT_MS = 10_000;

function send(message: WorkerMessage): void {
  if (process.send !== undefined && process.connected) process.send(message);
}

/** The config in effect, asked of the primary. */
export function configFromPrimary(): Promise<LoadedConfig> {
  return new Promise<LoadedConfig>((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error(`no config from the primary within ${CONFIG_WAIT_MS}ms`));
    }, CONFIG_WAIT_MS);
    const onMessage = (m: unknown): void => {
      const msg = m as PrimaryMessage | null;
      if (msg === null || typeof msg !== 'object' || msg.pcl !== 'config') return;
      clearTimeout(timer);
      process.off('message', onMessage);
      try {
        resolve(parse(msg.config));
      } catch (err) {
        reject(err);
      }
    };
    process.on('message', onMessage);
    send({ pcl: 'config?' });
  });
}

function parse(c: ConfigText): LoadedConfig {
  return parseConfigText(c.text, { baseDir: c.baseDir, source: c.source });
}

/**
 * Wires a started worker to its primary. `stop` drains and exits (the same path as SIGTERM); it is
 * called once the primary asks.
 */
export function attachWorker(server: GatewayServer, identity: WorkerIdentity, stop: () => void): void {
  const metrics = server.metrics;
  // prom-client answers the primary's metrics requests (process 'message') once an
  // AggregatorRegistry exists in the worker; its registries are this worker's own.
  new client.AggregatorRegistry();
  client.AggregatorRegistry.setRegistries(metrics ? [metrics.registry] : []);
  if (metrics) {
    const registry = metrics.registry;
    // Per-worker series (the aggregate sums the rest): the balance of the workers at a glance.
    new client.Counter({
      name: 'portcullis_worker_requests_total',
      help: 'Requests answered, by cluster worker (server.workers > 1).',
      labelNames: ['worker'],
      registers: [registry],
      async collect() {
        const all = await registry.getSingleMetric('portcullis_requests_total')?.get();
        this.reset();
        this.inc({ worker: String(identity.slot) }, (all?.values ?? []).reduce((n, v) => n + v.value, 0));
      },
    });
    const info = new client.Gauge({
      name: 'portcullis_worker_info',
      help: 'One series per live cluster worker: its slot and process id.',
      labelNames: ['worker', 'pid'],
      registers: [registry],
    });
    info.set({ worker: String(identity.slot), pid: String(process.pid) }, 1);
  }

  process.on('message', (m: unknown) => {
    const msg = m as PrimaryMessage | null;
    if (msg === null || typeof msg !== 'object') return;
    if (msg.pcl === 'stop') stop();
    else if (msg.pcl === 'live?') {
      // The dashboard's live data, merged by the primary (src/cluster/cluster-live.ts).
      const live = server.live;
      const int = (v: unknown): number => (Number.isSafeInteger(v) ? (v as number) : 0);
      send({ pcl: 'live', id: msg.id, data: live === undefined ? null : live.wire(int(msg.from), int(msg.to), Math.max(0, int(msg.after))) });
    } else if (msg.pcl === 'reload') {
      const answer = (result: ReloadResult): void => send({ pcl: 'reload-res', seq: msg.seq, result });
      server.reload({ text: msg.config.text, baseDir: msg.config.baseDir, source: msg.config.source }, msg.reason).then(answer, (err: unknown) =>
        answer({ ok: false, at: new Date().toISOString(), reason: msg.reason, hash: server.gateway.loaded?.hash ?? null, errors: [{ path: '', message: (err as Error).message }], restartNeeded: [] }),
      );
    }
  });
  // The primary reloads (SIGHUP to it, or the file); a SIGHUP that reaches a worker (a closed
  // terminal signals the whole group) must not end it (the default action of SIGHUP).
  process.on('SIGHUP', () => server.logger.info('SIGHUP ignored in a worker: the primary reloads the config'));
  send({ pcl: 'ready', hash: server.gateway.loaded?.hash ?? null, addresses: server.addresses() });
}
