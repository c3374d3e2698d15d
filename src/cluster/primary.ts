/**
 * `server.workers` > 1 (or `auto`: os.availableParallelism()): `portcullis start` becomes a primary
 * process that serves no traffic itself. It
 *
 * - forks the workers with node:cluster; each runs the normal start path (src/cli/main.ts) and
 *   listens on the configured ports, which node:cluster shares. The scheduling policy is set to
 *   SCHED_RR explicitly (the primary accepts connections and hands them to the workers in turn):
 *   the default on Linux, but not on Windows, and NODE_CLUSTER_SCHED_POLICY would change it —
 *   letting the kernel pick (SCHED_NONE) piles connections on a few workers under keep-alive.
 * - supervises them: a worker that exits is started again after a backoff (100 ms, doubling, at most
 *   10 s); more than 5 exits in 30 s is a crash loop: restarts stop, loudly, and the primary exits 1
 *   once no worker is left (its supervisor — systemd, Kubernetes — takes over).
 * - owns the config: it validates every reload (SIGHUP, a change of the file, the admin API) by
 *   building it, and only a valid config is sent to the workers, as text, each of which builds and
 *   swaps it (GatewayServer.reload). An invalid one is logged with all its errors; nothing changes.
 * - runs the admin listener (server.admin) with its own Gateway (built, never started: no health
 *   checks, no traffic): /config, /routes, /explain, /bans read it; /metrics aggregates the workers'
 *   registries (prom-client's AggregatorRegistry.aggregate); /live and /events merge the workers'
 *   live data (src/cluster/cluster-live.ts); /upstreams shows the primary's view
 *   (the config; target health is each worker's own and is in the workers' metrics).
 * - runs the one MemoryStore of `store.type: memory` and answers the workers' store calls
 *   (src/store/cluster.ts), so limits are exact across workers.
 * - on SIGTERM/SIGINT asks every worker to drain (GatewayServer.stop: in-flight requests finish,
 *   HTTP/2 sessions get GOAWAY), waits for all of them to exit (bounded by server.shutdownTimeout
 *   plus 5 s, then SIGKILL), and exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminServer, type AdminHost } from '../admin/admin-server.ts';
import { ConfigError } from '../config/errors.ts';
import { buildGateway, type Gateway } from '../config/gateway.ts';
import { parseConfigText } from '../config/load.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import type { ReloadResult } from '../server/gateway-server.ts';
import { ClusterStoreServer, clusterStoreTimeout, type StoreRequest } from '../store/cluster.ts';
import { ClusterLive } from './cluster-live.ts';
import { ClusterMetrics } from './cluster-metrics.ts';
import type { ConfigText, PrimaryMessage, WorkerMessage } from './messages.ts';

/** Crash loop: more than this many worker exits within CRASH_WINDOW_MS stops the restarts. */
const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 30_000;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** How long a reload waits for every worker's answer. */
const RELOAD_WAIT_MS = 30_000;
/** Quiet after a change of the config file before it is reloaded (editors write in bursts). */
const WATCH_DEBOUNCE_MS = 250;

/** The worker count of a config: `auto` is one per core the process may use. */
export function workerCount(gateway: Gateway, parallelism: () => number): number {
  const w = gateway.loaded?.raw.server.workers ?? 1;
  return w === 'auto' ? Math.max(1, parallelism()) : w;
}

interface Slot {
  slot: number;
  worker: Worker | undefined;
  ready: boolean;
  restartTimer: NodeJS.Timeout | undefined;
}

interface PendingReload {
  waiting: Set<number>;
  results: Map<number, ReloadResult>;
  done: () => void;
}

export interface PrimaryOptions {
  file: string;
  /** The config, built (validated) by the caller from `file`: becomes the primary's own Gateway. */
  gateway: Gateway;
  workers: number;
  /** Where the primary writes its own lines for operators (stderr). */
  out?: (line: string) => void;
}

export class ClusterPrimary implements AdminHost {
  gateway: Gateway;
  readonly logger: Logger;
  metrics: { scrape(): Promise<{ contentType: string; body: string }> } | undefined;
  draining = false;
  lastReload: ReloadResult | undefined;
  admin: AdminServer | undefined;
  /** GET /live, /events: every worker's live data, merged (server.admin). */
  live: ClusterLive | undefined;
  private readonly file: string;
  private config: ConfigText;
  private readonly workers: number;
  private readonly slots: Slot[] = [];
  private readonly out: (line: string) => void;
  private readonly store: ClusterStoreServer;
  private crashes: number[] = [];
  private restarts = 0;
  private crashLoop = false;
  /** All workers of the first generation have been ready once (a worker that dies before: fatal). */
  private started = false;
  private exited: ((code: number) => void) | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  private reloadSeq = 0;
  private readonly pendingReloads = new Map<number, PendingReload>();
  private watcher: FSWatcher | undefined;
  private stopping: Promise<number> | undefined;

  constructor(options: PrimaryOptions & { text: string }) {
    this.file = path.resolve(options.file);
    this.gateway = options.gateway;
    this.workers = options.workers;
    this.out = options.out ?? ((line) => process.stderr.write(`${line}\n`));
    this.config = { text: options.text, baseDir: path.dirname(this.file), source: options.file };
    this.logger = createLogger(options.gateway.settings.logLevel).child({ role: 'primary' });
    this.store = new ClusterStoreServer(() => this.gateway.store);
    for (let i = 1; i <= this.workers; i++) this.slots.push({ slot: i, worker: undefined, ready: false, restartTimer: undefined });
  }

  /** Forks the workers, starts the admin listener; resolves with the exit code once stopped. */
  async run(): Promise<number> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('../cli/main.ts', import.meta.url)),
      args: ['start', '--config', this.file],
      execArgv: process.execArgv,
    });
    cluster.on('message', (worker, message) => this.onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    const done = new Promise<number>((resolve) => (this.exited = resolve));
    if (this.gateway.settings.metrics) {
      const metrics = new ClusterMetrics({
        configured: this.workers,
        ready: () => this.slots.filter((s) => s.ready).length,
        restarts: () => this.restarts,
        crashLoop: () => this.crashLoop,
        storeBatches: () => ({ run: this.store.batches - this.store.late, late: this.store.late }),
        workers: () => this.slots.filter((s) => s.ready && s.worker !== undefined).map((s) => s.worker as Worker),
      });
      this.metrics = metrics;
    }
    if (this.gateway.settings.admin) {
      this.live = new ClusterLive({
        configured: this.workers,
        workers: () => this.slots.filter((s) => s.ready && s.worker !== undefined).map((s) => s.worker as Worker),
      });
    }
    try {
      if (this.gateway.settings.admin) this.admin = await AdminServer.start(this, this.gateway.settings.admin);
    } catch (err) {
      this.out(`portcullis: cannot start the admin API: ${(err as Error).message}`);
      this.store.close();
      await this.gateway.close();
      return 1;
    }
    if (this.admin) this.out(`portcullis: admin API on http://${this.gateway.settings.admin?.host}:${this.admin.port()} (primary)`);
    this.logger.info({ workers: this.workers, config: this.file, schedulingPolicy: 'round-robin' }, 'cluster primary starting workers');
    for (const s of this.slots) this.fork(s);
    this.watchConfig();
    return done;
  }

  private fork(s: Slot): void {
    s.restartTimer = undefined;
    s.ready = false;
    const worker = cluster.fork({ PORTCULLIS_WORKER_SLOT: String(s.slot), PORTCULLIS_WORKERS: String(this.workers) });
    s.worker = worker;
    this.logger.info({ worker: { slot: s.slot, id: worker.id, pid: worker.process.pid } }, 'worker started');
  }

  private slotOf(worker: Worker): Slot | undefined {
    return this.slots.find((s) => s.worker === worker);
  }

  private send(worker: Worker, message: PrimaryMessage | object): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(message);
    } catch {
      // the worker is going away: its exit is handled
    }
  }

  private onMessage(worker: Worker, message: unknown): void {
    const m = message as (WorkerMessage | StoreRequest | { pcl?: undefined; type?: string }) | null;
    if (m === null || typeof m !== 'object') return;
    switch (m.pcl) {
      case 'store':
        void this.store.handle(worker.id, m).then((res) => this.send(worker, res));
        return;
      case 'config?':
        this.send(worker, { pcl: 'config', config: this.config } satisfies PrimaryMessage);
        return;
      case 'ready': {
        const s = this.slotOf(worker);
        if (s === undefined) return;
        s.ready = true;
        this.logger.info({ worker: { slot: s.slot, pid: worker.process.pid }, hash: m.hash }, 'worker ready');
        // Stopping already: a worker that was still starting missed the stop message.
        if (this.stopping !== undefined) return this.send(worker, { pcl: 'stop' } satisfies PrimaryMessage);
        // Built from a config that a reload replaced while it started: bring it up to date.
        if (m.hash !== this.gateway.loaded?.hash) this.reloadWorker(worker, this.config, 'catch up after start', ++this.reloadSeq);
        if (!this.started && this.slots.every((x) => x.ready)) {
          this.started = true;
          for (const a of m.addresses) {
            const host = a.host.includes(':') ? `[${a.host}]` : a.host;
            this.out(`portcullis: listening on ${a.name}://${host}:${a.port} (${this.workers} workers)`);
          }
          this.logger.info({ config: this.file, addresses: m.addresses, workers: this.workers }, 'started');
        }
        return;
      }
      case 'reload-res': {
        const p = this.pendingReloads.get(m.seq);
        if (p === undefined) return;
        p.results.set(worker.id, m.result);
        p.waiting.delete(worker.id);
        if (p.waiting.size === 0) p.done();
        return;
      }
    }
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.store.workerGone(worker.id);
    for (const p of this.pendingReloads.values()) {
      if (p.waiting.delete(worker.id) && p.waiting.size === 0) p.done();
    }
    const s = this.slotOf(worker);
    if (s === undefined) return;
    s.worker = undefined;
    const wasReady = s.ready;
    s.ready = false;
    if (this.stopping !== undefined) return; // stop() waits for every exit
    const info = { worker: { slot: s.slot, pid: worker.process.pid }, code, signal };
    if (!this.started && !wasReady) {
      // The first start failed (a port taken, a file unreadable in the worker): no point in retrying.
      this.logger.fatal(info, 'a worker failed to start; stopping');
      this.out(`portcullis: worker ${s.slot} failed to start (exit ${code ?? signal}); stopping`);
      void this.stop(1);
      return;
    }
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    if (this.crashes.length > CRASH_LIMIT || this.crashLoop) {
      if (!this.crashLoop) {
        this.crashLoop = true;
        this.logger.fatal({ ...info, exits: this.crashes.length, windowMs: CRASH_WINDOW_MS },
          'CRASH LOOP: workers keep exiting; restarts stopped (look at the errors above)');
        this.out(`portcullis: CRASH LOOP: ${this.crashes.length} worker exits in ${CRASH_WINDOW_MS / 1000}s; workers are no longer restarted`);
      }
      if (this.slots.every((x) => x.worker === undefined)) {
        this.out('portcullis: no worker left; exiting');
        void this.stop(1);
      }
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.crashes.length - 1));
    this.logger.error({ ...info, restartInMs: delay }, 'worker exited; restarting it');
    this.restarts++;
    s.restartTimer = setTimeout(() => this.fork(s), delay);
  }

  /**
   * Validate in the primary (build beside the running config); when valid, swap the primary's own
   * gateway and send the text to every worker, which builds and swaps it too. One at a time.
   */
  reload(source: { file: string } | { text: string; baseDir: string; source: string }, reason: string): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      const at = new Date().toISOString();
      const old = this.gateway;
      let config: ConfigText;
      let next: Gateway;
      try {
        if ('file' in source) {
          let text: string;
          try {
            text = await readFile(source.file, 'utf8');
          } catch (err) {
            throw new ConfigError([{ path: '', message: `cannot read ${source.file}: ${(err as Error).message}` }]);
          }
          config = { text, baseDir: path.dirname(path.resolve(source.file)), source: source.file };
        } else {
          config = { text: source.text, baseDir: source.baseDir, source: source.source };
        }
        next = await buildGateway(parseConfigText(config.text, { baseDir: config.baseDir, source: config.source }), { previous: old });
      } catch (err) {
        const errors = err instanceof ConfigError ? err.issues.map((i) => ({ path: i.path, message: i.message })) : [{ path: '', message: (err as Error).message }];
        const result: ReloadResult = { ok: false, at, reason, hash: old.loaded?.hash ?? null, errors, restartNeeded: [] };
        this.logger.error({ reload: { reason, errors } }, 'config reload rejected; the running config stays (no worker was asked)');
        this.lastReload = result;
        return result;
      }
      this.gateway = next;
      this.config = config;
      // The primary's gateway serves no traffic: the old one closes now (its store stays when taken over).
      void old.close({ keepStore: next.store === old.store });
      const seq = ++this.reloadSeq;
      const answers = await this.fanOut(seq, config, reason);
      const errors: { path: string; message: string }[] = [];
      const restartNeeded = new Set<string>();
      const oldWorkers = old.loaded?.raw.server.workers ?? 1;
      if ((next.loaded?.raw.server.workers ?? 1) !== oldWorkers) restartNeeded.add('server.workers');
      for (const [slot, r] of answers) {
        if (r === undefined) errors.push({ path: '', message: `worker ${slot} did not answer the reload within ${RELOAD_WAIT_MS}ms` });
        else {
          for (const e of r.errors) errors.push({ path: e.path, message: `worker ${slot}: ${e.message}` });
          for (const x of r.restartNeeded) restartNeeded.add(x);
        }
      }
      const result: ReloadResult = { ok: errors.length === 0, at, reason, hash: next.loaded?.hash ?? null, errors, restartNeeded: [...restartNeeded] };
      if (result.ok) this.logger.info({ reload: { reason, hash: result.hash, workers: answers.size, restartNeeded: result.restartNeeded } }, 'config reloaded on every worker');
      else this.logger.error({ reload: { reason, hash: result.hash, errors } }, 'config reload: some workers did not apply it');
      this.lastReload = result;
      return result;
    };
    const p = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = p;
    return p;
  }

  private reloadWorker(worker: Worker, config: ConfigText, reason: string, seq: number): void {
    this.send(worker, { pcl: 'reload', seq, config, reason } satisfies PrimaryMessage);
  }

  /**
   * Sends the reload to every ready worker; the answers by slot (undefined: none in time). A worker
   * still starting is not asked: it reports the hash it was built from when ready, and is brought up
   * to date then (see 'ready').
   */
  private async fanOut(seq: number, config: ConfigText, reason: string): Promise<Map<number, ReloadResult | undefined>> {
    const targets = this.slots
      .filter((s) => s.ready && s.worker !== undefined && s.worker.isConnected())
      .map((s) => ({ slot: s.slot, worker: s.worker as Worker }));
    const pending: PendingReload = { waiting: new Set(targets.map((t) => t.worker.id)), results: new Map(), done: () => undefined };
    const finished = new Promise<void>((resolve) => (pending.done = resolve));
    this.pendingReloads.set(seq, pending);
    for (const t of targets) this.reloadWorker(t.worker, config, reason, seq);
    let timer: NodeJS.Timeout | undefined;
    if (pending.waiting.size > 0) {
      await Promise.race([finished, new Promise<void>((resolve) => (timer = setTimeout(resolve, RELOAD_WAIT_MS)))]);
    }
    clearTimeout(timer);
    this.pendingReloads.delete(seq);
    const out = new Map<number, ReloadResult | undefined>();
    for (const t of targets) {
      const r = pending.results.get(t.worker.id);
      // A worker that exited meanwhile (no answer, no longer waited for) starts again on the new config: not an error.
      if (r !== undefined || pending.waiting.has(t.worker.id)) out.set(t.slot, r);
    }
    return out;
  }

  /** The primary watches the file (workers do not): a change of its content reloads, as SIGHUP does. */
  private watchConfig(): void {
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    let timer: NodeJS.Timeout | undefined;
    const fire = async (): Promise<void> => {
      timer = undefined;
      let text: string;
      try {
        text = await readFile(this.file, 'utf8');
      } catch {
        return; // mid-replacement: the next event brings it
      }
      if (createHash('sha256').update(text).digest('hex') === this.gateway.loaded?.hash) return;
      await this.reload({ file: this.file }, 'file change');
    };
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && name !== base && name !== '..data') return;
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(() => void fire(), WATCH_DEBOUNCE_MS);
        timer.unref();
      });
      this.watcher.on('error', (err) => this.logger.warn({ err }, 'config watch failed; reload with SIGHUP or the admin API'));
    } catch (err) {
      this.logger.warn({ err }, 'config watch failed; reload with SIGHUP or the admin API');
    }
  }

  /** Every worker drains and exits, then the admin listener and the store close. Resolves run(). */
  stop(code = 0): Promise<number> {
    this.stopping ??= this.doStop(code);
    return this.stopping;
  }

  private async doStop(code: number): Promise<number> {
    this.draining = true;
    this.watcher?.close();
    for (const s of this.slots) {
      if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
      s.restartTimer = undefined;
      if (s.worker !== undefined) this.send(s.worker, { pcl: 'stop' } satisfies PrimaryMessage);
    }
    const deadline = Date.now() + this.gateway.settings.shutdownTimeout + 5_000;
    while (this.slots.some((s) => s.worker !== undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.slots) {
      const pid = s.worker?.process.pid;
      if (pid !== undefined) {
        this.logger.error({ worker: { slot: s.slot, pid } }, 'worker did not stop in time; killed');
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    while (this.slots.some((s) => s.worker !== undefined) && Date.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 20));
    await this.admin?.close();
    this.store.close();
    await this.gateway.close();
    this.logger.info({ code }, 'cluster primary stopped');
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
    this.exited?.(code);
    return code;
  }

  /** A second SIGTERM/SIGINT: every worker is killed at once. */
  kill(): void {
    for (const s of this.slots) {
      const pid = s.worker?.process.pid;
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/**
 * `portcullis start` with server.workers > 1. Resolves with the exit code: 0 after a graceful stop,
 * 1 when the workers could not start or crash-looped away.
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  let text: string;
  let gateway = options.gateway;
  try {
    clusterStoreTimeout(); // checked once here rather than failing in every worker
  } catch (err) {
    await gateway.close();
    throw err;
  }
  try {
    text = await readFile(options.file, 'utf8');
  } catch (err) {
    await gateway.close();
    throw err;
  }
  if (createHash('sha256').update(text).digest('hex') !== gateway.loaded?.hash) {
    // The file changed between the validation and now: the primary's config is what it holds.
    await gateway.close();
    gateway = await buildGateway(parseConfigText(text, { baseDir: path.dirname(path.resolve(options.file)), source: options.file }));
  }
  const primary = new ClusterPrimary({ ...options, gateway, text });
  const out = options.out ?? ((line: string) => process.stderr.write(`${line}\n`));
  process.on('SIGHUP', () => {
    void primary.reload({ file: options.file }, 'SIGHUP').then((r) => {
      out(r.ok ? `portcullis: reloaded ${options.file} on every worker` : `portcullis: reload of ${options.file} rejected (${r.errors.length} errors); the running config stays`);
    });
  });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      out(`portcullis: ${signal} again, killing the workers`);
      primary.kill();
      return;
    }
    signalled = true;
    out(`portcullis: ${signal}, draining every worker`);
    void primary.stop(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return primary.run();
}
