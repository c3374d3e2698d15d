/**
 * The running gateway: listeners around a Runtime whose `gateway` reference is the compiled config
 * in effect. Graceful stop: stop accepting, let in-flight requests finish (bounded by
 * server.shutdownTimeout), then close everything.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AdminServer, type AdminHost } from '../admin/admin-server.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import { LiveRecorder } from '../observability/live.ts';
import { Tracing } from '../observability/tracing.ts';
import type { AddressInfo } from 'node:net';
import { buildGateway, type Gateway } from '../config/gateway.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile, parseConfigText, type LoadedConfig } from '../config/load.ts';
import { createAccessLog, createLogger, observedAccessLog, type AccessLog, type Logger } from '../observability/logger.ts';
import type { Runtime } from './handler.ts';
import { createHttpListener, createHttpsListener, type Listener } from './listeners.ts';

export interface StartOptions {
  logger?: Logger;
  accessLog?: AccessLog;
  /** false: no admin listener even with server.admin (a cluster worker: the primary serves it). */
  admin?: boolean;
}

/** Milliseconds of quiet after a change of the config file before it is reloaded (editors write in bursts). */
const WATCH_DEBOUNCE_MS = 250;

export interface BoundAddress {
  name: 'https' | 'http';
  host: string;
  port: number;
}

export class GatewayServer implements AdminHost {
  readonly runtime: Runtime;
  private readonly listeners: Listener[] = [];
  private stopping: Promise<void> | undefined;
  /** Prometheus metrics (metrics.prometheus at start). */
  metrics: GatewayMetrics | undefined;
  /** The admin listener (server.admin at start). */
  admin: AdminServer | undefined;
  /** Live data for the admin dashboard (kept when the config has an admin listener; in a cluster worker for the primary). */
  live: LiveRecorder | undefined;
  private watcher: FSWatcher | undefined;

  private constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  static async start(gateway: Gateway, options: StartOptions = {}): Promise<GatewayServer> {
    const runtime: Runtime = {
      gateway,
      logger: options.logger ?? createLogger(gateway.settings.logLevel),
      accessLog: options.accessLog ?? createAccessLog(gateway.settings.accessLog),
      tracing: new Tracing(gateway.settings.tracing),
      inflight: 0,
      draining: false,
      httpsPort: 0,
    };
    const self = new GatewayServer(runtime);
    if (gateway.settings.metrics) {
      const metrics = new GatewayMetrics(() => runtime.gateway);
      metrics.setConnections({
        connections: () => self.listeners.map((l) => ({ listener: l.name, open: l.openConnections(), streams: l.activeStreams() })),
      });
      runtime.accessLog = observedAccessLog(runtime.accessLog, (ctx, now) => metrics.observe(ctx, now));
      self.metrics = metrics;
    }
    // Kept whenever the config has an admin listener, also in a cluster worker (options.admin
    // false): the primary runs the listener and merges every worker's (src/cluster/cluster-live.ts).
    if (gateway.settings.admin) {
      const live = new LiveRecorder();
      runtime.accessLog = observedAccessLog(runtime.accessLog, (ctx, now) => live.observe(ctx, now));
      self.live = live;
    }
    const tracing = runtime.tracing;
    if (tracing.exporting) runtime.accessLog = observedAccessLog(runtime.accessLog, (ctx, now) => tracing.finish(ctx, now));
    const { https, http } = gateway.settings;
    try {
      if (https) {
        const l = createHttpsListener(runtime, gateway);
        self.listeners.push(l);
        l.server.listen(https.port, https.host);
        await once(l.server, 'listening');
        runtime.httpsPort = (l.server.address() as AddressInfo).port;
      }
      if (http) {
        const l = createHttpListener(runtime, gateway);
        self.listeners.push(l);
        l.server.listen(http.port, http.host);
        await once(l.server, 'listening');
      }
      if (gateway.settings.admin && options.admin !== false) self.admin = await AdminServer.start(self, gateway.settings.admin);
    } catch (err) {
      for (const l of self.listeners) l.server.close();
      self.metrics?.close();
      await gateway.close();
      throw err;
    }
    gateway.start(runtime.logger);
    return self;
  }

  get logger(): Logger {
    return this.runtime.logger;
  }

  get draining(): boolean {
    return this.runtime.draining;
  }

  /**
   * Reloads when the config file changes. The directory is watched, not the file: editors and
   * Kubernetes ConfigMaps replace the file (rename, symlink swap), which ends a watch on the file
   * itself. A change that leaves the content as it is (same hash) reloads nothing.
   */
  watchConfig(file: string): void {
    if (this.watcher !== undefined) return;
    const dir = path.dirname(path.resolve(file));
    const base = path.basename(file);
    let timer: NodeJS.Timeout | undefined;
    const fire = async (): Promise<void> => {
      timer = undefined;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        return; // mid-replacement: the next event brings it
      }
      if (createHash('sha256').update(text).digest('hex') === this.runtime.gateway.loaded?.hash) return;
      await this.reload({ file }, 'file change');
    };
    this.watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base && name !== '..data') return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => void fire(), WATCH_DEBOUNCE_MS);
      timer.unref();
    });
    this.watcher.on('error', (err) => this.runtime.logger.warn({ err }, 'config watch failed; reload with SIGHUP or the admin API'));
  }

  get gateway(): Gateway {
    return this.runtime.gateway;
  }

  /** The result of the last reload attempt (admin API: GET /config). */
  lastReload: ReloadResult | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  private readonly retired = new Set<Promise<void>>();

  /**
   * Build-then-swap: the new config is loaded and fully built (certificates, key sets, schemas,
   * databases) beside the running one; only then does the runtime point at it. Requests already
   * under way finish on the gateway they started on, which closes once they have (bounded by
   * server.shutdownTimeout). An invalid config changes nothing and is reported with all its errors.
   * Listener addresses, TLS on/off and connection limits are fixed at start: a change to them is
   * reported (`restartNeeded`) and takes effect at the next start. Reloads run one at a time.
   */
  reload(source: { file: string } | { text: string; baseDir: string; source: string }, reason: string): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      const at = new Date().toISOString();
      const old = this.runtime.gateway;
      let loaded: LoadedConfig;
      let next: Gateway;
      try {
        loaded = 'file' in source
          ? await loadConfigFile(source.file)
          : parseConfigText(source.text, { baseDir: source.baseDir, source: source.source });
        next = await buildGateway(loaded, { previous: old });
      } catch (err) {
        const errors = err instanceof ConfigError ? err.issues.map((i) => ({ path: i.path, message: i.message })) : [{ path: '', message: (err as Error).message }];
        const result: ReloadResult = { ok: false, at, reason, hash: old.loaded?.hash ?? null, errors, restartNeeded: [] };
        this.runtime.logger.error({ reload: { reason, errors } }, 'config reload rejected; the running config stays');
        this.lastReload = result;
        return result;
      }
      const restartNeeded = fixedAtStart(old, next);
      if (next.settings.metrics && this.metrics === undefined) restartNeeded.push('metrics.prometheus');
      this.runtime.gateway = next;
      for (const l of this.listeners) l.updateTls(next);
      next.start(this.runtime.logger);
      const keepStore = next.store === old.store;
      const retiring = this.retire(old, keepStore);
      this.retired.add(retiring);
      void retiring.finally(() => this.retired.delete(retiring));
      const result: ReloadResult = { ok: true, at, reason, hash: loaded.hash, errors: [], restartNeeded };
      this.runtime.logger.info({ reload: { reason, hash: loaded.hash, restartNeeded, storeKept: keepStore } }, 'config reloaded');
      this.lastReload = result;
      return result;
    };
    const p = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = p;
    return p;
  }

  /** Closes a replaced gateway once the requests that started on it are done (bounded by its shutdownTimeout). */
  private async retire(old: Gateway, keepStore: boolean): Promise<void> {
    const deadline = Date.now() + old.settings.shutdownTimeout;
    while (old.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await old.close({ keepStore });
  }

  addresses(): BoundAddress[] {
    return this.listeners.map((l) => {
      const a = l.server.address() as AddressInfo;
      return { name: l.name, host: a.address, port: a.port };
    });
  }

  port(name: 'https' | 'http'): number {
    const a = this.addresses().find((x) => x.name === name);
    if (!a) throw new Error(`no ${name} listener`);
    return a.port;
  }

  /** Graceful: no new connections, in-flight requests finish, then pools and logs close. */
  stop(timeoutMs = this.runtime.gateway.settings.shutdownTimeout): Promise<void> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const runtime = this.runtime;
    runtime.draining = true;
    this.watcher?.close();
    const admin = this.admin;
    for (const l of this.listeners) l.stopAccepting();
    const deadline = Date.now() + timeoutMs;
    // In-flight requests finish; connections left idle after their last response are closed.
    while (Date.now() < deadline) {
      for (const l of this.listeners) l.closeIdle();
      const open = this.listeners.reduce((n, l) => n + l.openConnections(), 0);
      if (runtime.inflight === 0 && open === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const l of this.listeners) l.destroyAll();
    await Promise.allSettled([...this.retired]);
    await runtime.gateway.close();
    await admin?.close();
    this.metrics?.close();
    await runtime.tracing.shutdown();
    await runtime.accessLog.flush();
  }
}

export interface ReloadResult {
  ok: boolean;
  /** ISO time of the attempt. */
  at: string;
  /** What asked for it: `file change`, `SIGHUP`, `admin`, `admin PUT /config`. */
  reason: string;
  /** Hash of the config in effect after the attempt. */
  hash: string | null;
  errors: { path: string; message: string }[];
  /** Settings that changed but only take effect at the next start (listener addresses, limits). */
  restartNeeded: string[];
}

/** Settings bound to the listeners when they were created. */
function fixedAtStart(old: Gateway, next: Gateway): string[] {
  const a = old.settings;
  const b = next.settings;
  const out: string[] = [];
  const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  if (a.https?.host !== b.https?.host || a.https?.port !== b.https?.port || (a.https === undefined) !== (b.https === undefined)) out.push('server.https (address)');
  if (!same(a.http, b.http)) out.push('server.http');
  if (!same(a.admin && { host: a.admin.host, port: a.admin.port }, b.admin && { host: b.admin.host, port: b.admin.port })) out.push('server.admin (address)');
  if (!same(a.limits, b.limits)) out.push('server.limits');
  if (a.accessLog !== b.accessLog) out.push('logging.accessLog');
  if (a.logLevel !== b.logLevel) out.push('logging.level');
  if (!same(a.tracing, b.tracing)) out.push('tracing');
  return out;
}
