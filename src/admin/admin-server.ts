/**
 * The admin API: a separate listener (loopback by default) for operators and their tools.
 *
 *   GET  /healthz                 200 while the process serves (no token)
 *   GET  /readyz                  200 when it accepts traffic, 503 while draining (no token)
 *   GET  /metrics                 Prometheus exposition (metrics.prometheus: true)
 *   GET  /config                  the config in effect, secrets redacted; its hash; the last reload
 *   PUT  /config                  replace the config (YAML/JSON body) — If-Match: "<hash>" required
 *   POST /config/reload           reload the config file
 *   GET  /routes                  routes with their stages and upstreams
 *   GET  /upstreams               targets, health, circuit breakers
 *   GET  /bans                    current brute-force bans
 *   DELETE /bans/ip/<ip>          lift a ban (also /bans/credential/<fingerprint>)
 *   POST /explain                 run a described request through the pipeline (no proxying)
 *   POST /selftest                build the running config in-process against a recording upstream
 *                                 and fire the attack battery at every route (docs/selftest.md)
 *   GET  /live                    the dashboard's live data: last 15 minutes per second, recent rejections
 *                                 (cluster primary: every worker's, merged: src/cluster/cluster-live.ts)
 *   GET  /events                  the same, one `tick` per second (text/event-stream)
 *   GET  /, /assets/*             the dashboard (docs/dashboard.md): static files, no token, strict CSP
 *
 * Every endpoint but /healthz, /readyz and the dashboard's static files needs `Authorization: Bearer <server.admin.token>`
 * (compared in constant time). Every change (reload, PUT, unban) is written to the operational log
 * as an audit record (`"audit": {...}`). Errors are problem+json like the gateway's own.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { writeFile, rename } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Gateway } from '../config/gateway.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import type { ErrorCode } from '../errors/codes.ts';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../errors/problem.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { ReloadResult } from '../server/gateway-server.ts';
import { Upstream } from '../upstream/upstream.ts';
import { explain, ExplainInputError, parseExplainRequest } from './explain.ts';
import { redactedConfig } from './redact.ts';
import { runSelftest, type SelftestReport } from '../selftest/selftest.ts';
import type { LiveSource } from '../observability/live.ts';
import { DASHBOARD_CSP, loadDashboard, type Asset } from './dashboard-assets.ts';

/** What the admin API needs of the running server. */
export interface AdminHost {
  readonly gateway: Gateway;
  readonly logger: Logger;
  /** GET /metrics: this process' metrics, or (cluster primary) every worker's, aggregated. */
  readonly metrics: Pick<GatewayMetrics, 'scrape'> | undefined;
  /** True from the start of a graceful stop. */
  readonly draining: boolean;
  readonly lastReload: ReloadResult | undefined;
  reload(source: { file: string } | { text: string; baseDir: string; source: string }, reason: string): Promise<ReloadResult>;
  /**
   * Live data for the dashboard (GET /live, /events): this process' recorder, or in a cluster
   * primary the workers' merged (src/cluster/cluster-live.ts); undefined: none kept.
   */
  readonly live?: LiveSource | undefined;
}

/** Open GET /events streams, at most this many at once. */
const MAX_STREAMS = 32;

interface EventStream {
  readonly res: ServerResponse;
  readonly authorization: string | undefined;
  seq: number;
}

const MAX_BODY = 1024 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';

export class AdminServer {
  readonly server: http.Server;
  private readonly host: AdminHost;
  /** The self-test under way: a second POST /selftest waits for it instead of starting another. */
  private selftest: Promise<SelftestReport> | undefined;
  /** The dashboard's files (url path → file), read at start; undefined when not built. */
  private assets: Map<string, Asset> | undefined;
  private readonly streams = new Set<EventStream>();
  private ticker: NodeJS.Timeout | undefined;
  /** A tick's collection is under way. */
  private collecting = false;

  private constructor(host: AdminHost) {
    this.host = host;
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        host.logger.error({ err }, 'admin API: internal error');
        if (!res.headersSent) sendProblem(res, new GatewayError('PCL_INTERNAL', 'admin handler failed'), randomUUID());
        else res.destroy();
      });
    });
  }

  /** `options.dashboardDir`: where the built dashboard is (default dashboard/dist/ of the package). */
  static async start(host: AdminHost, address: { host: string; port: number }, options: { dashboardDir?: string } = {}): Promise<AdminServer> {
    const self = new AdminServer(host);
    self.assets = await loadDashboard(options.dashboardDir);
    await new Promise<void>((resolve, reject) => {
      self.server.once('error', reject);
      self.server.listen(address.port, address.host, () => {
        self.server.off('error', reject);
        resolve();
      });
    });
    if (!isLoopback(address.host)) {
      host.logger.warn({ admin: address.host }, 'the admin API listens on a non-loopback address: put it behind a firewall');
    }
    return self;
  }

  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const s of this.streams) s.res.end();
    this.streams.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const host = this.host;

    if (pathname === '/healthz') {
      if (only(method, ['GET', 'HEAD'], res, requestId)) sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === '/readyz') {
      if (!only(method, ['GET', 'HEAD'], res, requestId)) return;
      return host.draining ? sendJson(res, 503, { status: 'draining' }) : sendJson(res, 200, { status: 'ready', hash: host.gateway.loaded?.hash ?? null });
    }
    if (pathname === '/' || pathname === '/index.html' || pathname.startsWith('/assets/')) {
      if (only(method, ['GET', 'HEAD'], res, requestId)) this.serveAsset(pathname === '/index.html' ? '/' : pathname, method, res, requestId);
      return;
    }
    const admin = host.gateway.settings.admin;
    if (admin === undefined || !tokenMatches(req.headers.authorization, admin.token)) {
      return sendProblem(res, new GatewayError('PCL_ADMIN_UNAUTHORIZED', 'missing or wrong admin token', { headers: { 'www-authenticate': 'Bearer realm="portcullis-admin"' } }), requestId);
    }
    const peer = req.socket.remoteAddress ?? '';

    switch (pathname) {
      case '/metrics': {
        if (!only(method, ['GET'], res, requestId)) return;
        if (host.metrics === undefined || !host.gateway.settings.metrics) {
          return sendProblem(res, new GatewayError('PCL_ADMIN_NOT_FOUND', 'metrics are off', { detail: 'Set metrics.prometheus: true.' }), requestId);
        }
        const { contentType, body } = await host.metrics.scrape();
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(body);
        return;
      }
      case '/config': {
        if (method === 'GET') return sendJson(res, 200, this.configView(), { etag: `"${host.gateway.loaded?.hash ?? ''}"` });
        if (method !== 'PUT') return methodNotAllowed(res, ['GET', 'PUT'], requestId);
        return this.putConfig(req, res, requestId, peer);
      }
      case '/config/reload': {
        if (!only(method, ['POST'], res, requestId)) return;
        const file = host.gateway.loaded?.source;
        if (file === undefined || file === '<inline>') {
          return sendProblem(res, new GatewayError('PCL_ADMIN_UNAVAILABLE', 'no config file to reload', { detail: 'This gateway was not started from a file.' }), requestId);
        }
        const result = await host.reload({ file }, 'admin POST /config/reload');
        audit(host.logger, 'config.reload', peer, { ok: result.ok, hash: result.hash, errors: result.errors.length });
        return sendJson(res, result.ok ? 200 : 422, result);
      }
      case '/live': {
        if (!only(method, ['GET'], res, requestId)) return;
        if (host.live === undefined) return noLive(res, requestId);
        return sendJson(res, 200, await host.live.snapshot());
      }
      case '/events': {
        if (!only(method, ['GET'], res, requestId)) return;
        if (host.live === undefined) return noLive(res, requestId);
        if (this.streams.size >= MAX_STREAMS) {
          return sendProblem(res, new GatewayError('PCL_ADMIN_UNAVAILABLE', 'too many event streams', { detail: `At most ${MAX_STREAMS} open GET /events streams.` }), requestId);
        }
        const after = Number(new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('after'));
        this.openStream(req, res, Number.isSafeInteger(after) && after >= 0 ? after : host.live.lastSeq);
        return;
      }
      case '/routes':
        if (!only(method, ['GET'], res, requestId)) return;
        return sendJson(res, 200, routesView(host.gateway));
      case '/upstreams':
        if (!only(method, ['GET'], res, requestId)) return;
        return sendJson(res, 200, upstreamsView(host.gateway));
      case '/bans': {
        if (!only(method, ['GET'], res, requestId)) return;
        const keys = await host.gateway.store.listKeys('ban:', 1000);
        return sendJson(res, 200, keys.map(({ key, ttlMs }) => {
          const rest = key.slice(4);
          const colon = rest.indexOf(':');
          return { kind: colon === -1 ? rest : rest.slice(0, colon) === 'cred' ? 'credential' : rest.slice(0, colon), id: rest.slice(colon + 1), ttlMs };
        }));
      }
      case '/selftest': {
        if (!only(method, ['POST'], res, requestId)) return;
        const loaded = host.gateway.loaded;
        if (loaded === undefined) {
          return sendProblem(res, new GatewayError('PCL_ADMIN_UNAVAILABLE', 'no loaded config to test', { detail: 'This gateway was built without a loaded config.' }), requestId);
        }
        this.selftest ??= runSelftest(loaded).finally(() => (this.selftest = undefined));
        let report: SelftestReport;
        try {
          report = await this.selftest;
        } catch (err) {
          return sendProblem(res, new GatewayError('PCL_ADMIN_UNAVAILABLE', `self-test failed to run: ${(err as Error).message}`, { detail: 'The self-test could not build or start its gateway.' }), requestId);
        }
        audit(host.logger, 'selftest', peer, { ok: report.ok, fail: report.summary.fail });
        return sendJson(res, 200, report);
      }
      case '/explain': {
        if (!only(method, ['POST'], res, requestId)) return;
        const body = await readJson(req, res, requestId);
        if (body === undefined) return;
        let input;
        try {
          input = parseExplainRequest(body);
        } catch (err) {
          if (err instanceof ExplainInputError) return sendProblem(res, new GatewayError('PCL_ADMIN_BAD_REQUEST', err.message, { detail: err.message }), requestId);
          throw err;
        }
        return sendJson(res, 200, await explain(host.gateway, input));
      }
    }
    const ban = /^\/bans\/(ip|credential)\/([^/]{1,128})$/.exec(pathname);
    if (ban !== null) {
      if (!only(method, ['DELETE'], res, requestId)) return;
      const kind = ban[1] === 'ip' ? 'ip' : 'cred';
      let id: string;
      try {
        id = decodeURIComponent(ban[2] as string);
      } catch {
        return sendProblem(res, new GatewayError('PCL_ADMIN_BAD_REQUEST', 'bad escape in the ban id', { detail: 'Malformed percent-encoding.' }), requestId);
      }
      const key = `ban:${kind}:${id}`;
      const [left] = await host.gateway.store.flagTtls([key]);
      if (!left) return sendProblem(res, new GatewayError('PCL_ADMIN_NOT_FOUND', 'no such ban', { detail: `No ban for ${ban[1]} ${id}.` }), requestId);
      await host.gateway.store.deleteKey(key);
      audit(host.logger, 'ban.lift', peer, { kind: ban[1], id });
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
      return;
    }
    sendProblem(res, new GatewayError('PCL_ADMIN_NOT_FOUND', `no admin endpoint ${pathname.slice(0, 128)}`), requestId);
  }

  private serveAsset(pathname: string, method: string, res: ServerResponse, requestId: string): void {
    const headers = { 'content-security-policy': DASHBOARD_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-resource-policy': 'same-origin' };
    if (this.assets === undefined) {
      const body = problemBody('PCL_ADMIN_UNAVAILABLE', requestId, 'The dashboard is not built: run `npm run build:dashboard` (npm install and npm ci run it), then restart.');
      res.writeHead(503, { 'content-type': PROBLEM_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-request-id': requestId, ...headers });
      res.end(body);
      return;
    }
    const asset = this.assets.get(pathname);
    if (asset === undefined) return sendProblem(res, new GatewayError('PCL_ADMIN_NOT_FOUND', `no dashboard file ${pathname.slice(0, 128)}`), requestId);
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...headers,
    });
    res.end(method === 'HEAD' ? undefined : asset.body);
  }

  /** GET /events: a `tick` every second while the client stays (fetch() with the token; EventSource cannot send it). */
  private openStream(req: IncomingMessage, res: ServerResponse, after: number): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    const stream: EventStream = { res, authorization: req.headers.authorization, seq: after };
    this.streams.add(stream);
    res.on('close', () => {
      this.streams.delete(stream);
      if (this.streams.size === 0 && this.ticker !== undefined) {
        clearInterval(this.ticker);
        this.ticker = undefined;
      }
    });
    if (this.ticker === undefined) {
      this.ticker = setInterval(() => this.tick(), 1000);
      this.ticker.unref();
    }
  }

  /**
   * Once a second: one collection for every open stream (in a cluster primary it asks the workers and
   * may take up to a second; a second that comes while it runs is skipped, never queued).
   */
  private tick(): void {
    if (this.collecting) return;
    const live = this.host.live;
    if (live === undefined) {
      for (const s of this.streams) s.res.end();
      return;
    }
    this.collecting = true;
    Promise.resolve()
      .then(() => live.ticks())
      .then((tickFor) => {
        const admin = this.host.gateway.settings.admin;
        for (const s of this.streams) {
          if (s.res.writableEnded || s.res.destroyed) continue;
          // A reload may have rotated the token: streams opened with the old one end.
          if (admin === undefined || !tokenMatches(s.authorization, admin.token)) {
            s.res.end();
            continue;
          }
          const data = tickFor(s.seq);
          s.seq = data.lastSeq;
          s.res.write(`event: tick\ndata: ${JSON.stringify(data)}\n\n`);
        }
      })
      .catch((err: unknown) => this.host.logger.warn({ err }, 'admin API: live tick failed'))
      .finally(() => (this.collecting = false));
  }

  private configView(): unknown {
    const g = this.host.gateway;
    return {
      hash: g.loaded?.hash ?? null,
      source: g.loaded?.source ?? null,
      lastReload: this.host.lastReload ?? null,
      config: g.loaded ? redactedConfig(g.loaded) : null,
    };
  }

  private async putConfig(req: IncomingMessage, res: ServerResponse, requestId: string, peer: string): Promise<void> {
    const host = this.host;
    const current = host.gateway.loaded;
    const ifMatch = req.headers['if-match'];
    if (ifMatch === undefined) {
      return sendProblem(res, new GatewayError('PCL_ADMIN_PRECONDITION_REQUIRED', 'PUT /config without If-Match', { detail: 'GET /config, then send its hash as If-Match: "<hash>".' }), requestId);
    }
    if (ifMatch.replace(/^W\//, '').replace(/"/g, '').trim() !== current?.hash) {
      return sendProblem(res, new GatewayError('PCL_ADMIN_PRECONDITION_FAILED', 'If-Match is not the hash of the config in effect'), requestId);
    }
    const text = await readBody(req, res, requestId);
    if (text === undefined) return;
    const file = current.source;
    const baseDir = current.baseDir;
    const result = await host.reload({ text, baseDir, source: file === '<inline>' ? 'admin PUT /config' : file }, 'admin PUT /config');
    if (!result.ok) {
      audit(host.logger, 'config.put', peer, { ok: false, errors: result.errors.length });
      return sendJson(res, 422, { ...result, type: 'urn:portcullis:error:PCL_ADMIN_CONFIG_INVALID', code: 'PCL_ADMIN_CONFIG_INVALID', requestId });
    }
    // Applied: written to the config file too (atomically), so a restart or a file-triggered reload keeps it.
    if (file !== '<inline>') {
      const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, file);
    }
    audit(host.logger, 'config.put', peer, { ok: true, hash: result.hash, written: file !== '<inline>' ? file : null });
    sendJson(res, 200, result, { etag: `"${result.hash}"` });
  }
}

/** Constant-time comparison of the bearer token (both sides hashed first: equal lengths, no length leak). */
function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = createHash('sha256').update(header.slice(7).trim()).digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected);
}

function routesView(g: Gateway): unknown {
  // The match as configured, redacted like GET /config (a header match may name a secret value).
  const raw = g.loaded ? (redactedConfig(g.loaded) as { routes?: { match?: unknown }[] }).routes : undefined;
  return g.routes.map((r) => ({
    name: r.name,
    match: raw?.[r.index]?.match ?? null,
    mode: r.mode,
    auth: r.authNames,
    stages: [...r.ipFilter, ...r.stages].map((s) => ({ name: s.name, mode: s.mode })),
    upstream: r.upstream instanceof Upstream ? r.upstream.name : describeChoice(r.upstream),
    maxBodyBytes: r.maxBodyBytes,
  }));
}

function describeChoice(u: unknown): unknown {
  const v = u as { map?: ReadonlyMap<string, Upstream>; members?: readonly { upstream: Upstream; weight: number }[] };
  if (v.map instanceof Map) return { versions: Object.fromEntries([...v.map].map(([k, up]) => [k, up.name])) };
  if (Array.isArray(v.members)) return { split: v.members.map((m) => ({ upstream: m.upstream.name, weight: m.weight })) };
  return 'per request';
}

function upstreamsView(g: Gateway): unknown {
  return [...g.upstreams.values()].map((u) => {
    const now = u.clock();
    return {
      name: u.name,
      protocol: u.protocol,
      circuitBreaker: u.breaker?.state ?? null,
      stats: u.stats,
      targets: u.targets.map((t) => ({ origin: t.origin, weight: t.weight, healthy: t.health.available(now), activeHealthy: t.health.activeHealthy })),
    };
  });
}

function noLive(res: ServerResponse, requestId: string): void {
  sendProblem(res, new GatewayError('PCL_ADMIN_UNAVAILABLE', 'no live data in this process', { detail: 'This process keeps no live data; see docs/dashboard.md.' }), requestId);
}

function audit(logger: Logger, action: string, peer: string, detail: Record<string, unknown>): void {
  logger.info({ audit: { action, peer, ...detail } }, `admin: ${action}`);
}

function only(method: string, allowed: readonly string[], res: ServerResponse, requestId: string): boolean {
  if (allowed.includes(method)) return true;
  methodNotAllowed(res, allowed, requestId);
  return false;
}

function methodNotAllowed(res: ServerResponse, allowed: readonly string[], requestId: string): void {
  sendProblem(res, new GatewayError('PCL_ADMIN_METHOD_NOT_ALLOWED', 'method not allowed', { headers: { allow: allowed.join(', ') } }), requestId);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value, null, 2);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

function sendProblem(res: ServerResponse, err: GatewayError, requestId: string): void {
  const body = problemBody(err.code as ErrorCode, requestId, err.detail);
  res.writeHead(err.status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': requestId,
    ...(err.headers ?? {}),
  });
  res.end(body);
}

async function readBody(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY) {
      sendProblem(res, new GatewayError('PCL_REQUEST_BODY_TOO_LARGE', `admin body over ${MAX_BODY} bytes`), requestId);
      req.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<unknown> {
  const text = await readBody(req, res, requestId);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    sendProblem(res, new GatewayError('PCL_ADMIN_BAD_REQUEST', 'body is not JSON', { detail: 'The body must be a JSON object.' }), requestId);
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
