/**
 * Build: a validated raw config becomes an immutable Gateway — compiled routes, upstream pools,
 * TLS contexts. Every semantic error (unknown upstream, bad path pattern, unreadable certificate)
 * is collected with its path; a Gateway is only returned when there are none.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Authenticator } from '../auth/authenticator.ts';
import type { Stage } from '../pipeline/stage.ts';
import { AuthenticateStage } from '../stages/authenticate/authenticate.ts';
import { ContentDigestStage, needsContentDigest } from '../stages/content-digest/content-digest.ts';
import { buildAuthenticators, type RawAuthenticator } from '../stages/authenticate/build.ts';
import type { RawAuthorize } from '../stages/authenticate/schema.ts';
import { AuthorizeStage, type AuthorizeRules } from '../stages/authorize/authorize.ts';
import { compileTransform } from '../stages/transform/transform.ts';
import { compileSecurityHeaders, type SecurityHeaderList } from '../stages/transform/security-headers.ts';
import { compileCors, type CompiledCors } from '../stages/cors/build.ts';
import { AbuseGuardStage, BruteForceGuard } from '../stages/abuse-guard/abuse-guard.ts';
import { buildDefaultPolicies, buildRouteLimits, buildStore, keyParts } from '../stages/rate-limit/build.ts';
import { ConcurrencyStage } from '../stages/concurrency/concurrency.ts';
import { prepareValidation, validationStages } from '../stages/validate/build.ts';
import { buildThreats } from '../stages/threats/build.ts';
import { buildIpFilters } from '../stages/ip-filter/build.ts';
import type { Store } from '../store/store.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { CompiledTransform } from '../stages/transform/transform.ts';
import { parsePathPattern, Router, type RouteSpec } from '../routing/router.ts';
import { TrustedProxies } from '../server/client-ip.ts';
import { loadCertificates, type SniTable } from '../server/tls.ts';
import { Upstream } from '../upstream/upstream.ts';
import { buildUpstream } from '../upstream/build.ts';
import { buildSplit, type TrafficSplit } from '../upstream/split.ts';
import { buildMirror, type Mirror } from '../upstream/mirror.ts';
import type { TracingSettings } from '../observability/tracing.ts';
import type { Logger } from '../observability/logger.ts';
import { compileWebSocket, type WebSocketPolicy } from '../websocket/policy.ts';
import { ConfigError, didYouMean, formatPath, type ConfigIssue } from './errors.ts';
import { loadConfigFile, parseConfigText, type LoadedConfig } from './load.ts';
import type { RawConfig, RawRoute } from './schema.ts';
import { parseDuration, parseSize } from './units.ts';

export interface Limits {
  maxHeaderBytes: number;
  maxHeaders: number;
  maxUrlBytes: number;
  maxBodyBytes: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  http2MaxConcurrentStreams: number;
}

export interface HttpsSettings {
  host: string;
  port: number;
  sni: SniTable;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  http2: boolean;
  /** The Strict-Transport-Security value, or null when turned off. */
  hsts: string | null;
  /** mTLS: the CA bundle that verifies client certificates, and whether one is required. */
  clientCertificates: { ca: string; required: boolean } | undefined;
}

export interface Settings {
  https: HttpsSettings | undefined;
  http: { host: string; port: number; redirectToHttps: boolean } | undefined;
  trustedProxies: TrustedProxies;
  limits: Limits;
  via: boolean;
  shutdownTimeout: number;
  logLevel: string;
  accessLog: string;
  /** defaults.securityHeaders, for answers no route matched (routes carry their own). */
  securityHeaders: SecurityHeaderList;
  /** server.admin: the admin listener; undefined: none. */
  admin: { host: string; port: number; token: string } | undefined;
  /** metrics.prometheus: GET /metrics on the admin listener. */
  metrics: boolean;
  tracing: TracingSettings;
}

export interface VersionSelector {
  header: string | undefined;
  query: string | undefined;
  paramIndex: number;
  fallback: Upstream | undefined;
  map: ReadonlyMap<string, Upstream>;
}

export interface CompiledRoute {
  readonly name: string;
  /** The route's authenticator names joined by `,` (`public` for none): a bounded metrics label. */
  readonly authNames: string;
  readonly index: number;
  readonly upstream: Upstream | VersionSelector | TrafficSplit;
  /** Shadow traffic (routes[].mirror): copies of a share of the requests, answers discarded. */
  readonly mirror: Mirror | undefined;
  readonly stripPrefix: boolean;
  /** retries also cover POST / PATCH requests with an Idempotency-Key (route opt-in). */
  readonly retryNonIdempotent: boolean;
  readonly mode: 'enforce' | 'shadow';
  readonly stages: readonly Stage[];
  /** Index in `stages` of the first stage that needs the body (`stages.length` when none does). */
  readonly bodyStage: number;
  /** The ip-filter stage (none or one): run right after the route match, before the body-size check and `stages`. */
  readonly ipFilter: readonly Stage[];
  readonly maxBodyBytes: number;
  readonly needsBody: boolean;
  readonly transform: CompiledTransform | undefined;
  /** The effective CORS policy (the route's own, else defaults.cors); undefined: none. */
  readonly cors: CompiledCors | undefined;
  /** Security headers of every answer on this route (the route's own, else defaults.securityHeaders). */
  readonly securityHeaders: SecurityHeaderList;
  /** routes[].websocket: accepts WebSocket handshakes with these limits; undefined refuses them (src/websocket/). */
  readonly websocket: WebSocketPolicy | undefined;
}

export const DEFAULT_LIMITS: Limits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  maxUrlBytes: 8 * 1024,
  maxBodyBytes: 1024 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  maxConnections: 10_000,
  maxConnectionsPerIp: 256,
  http2MaxConcurrentStreams: 100,
};

export class Gateway {
  readonly settings: Settings;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly source: string;
  /** Shared state: rate-limit counters, brute-force counters and bans. */
  readonly store: Store;
  /** defaults.ipFilter (none or one stage), for requests no route matches: a denied address gets 403, not 404. */
  readonly ipFilter: readonly Stage[];
  /** Every built authenticator by name (metrics read their counters). */
  readonly authenticators: ReadonlyMap<string, Authenticator>;
  /** The config this gateway was built from (admin API: redacted view, hash). */
  readonly loaded: LoadedConfig | undefined;
  /** Requests that started on this gateway and have not finished: a replaced gateway closes when it reaches 0. */
  inflight = 0;

  constructor(init: {
    settings: Settings;
    routes: CompiledRoute[];
    router: Router<CompiledRoute>;
    upstreams: Map<string, Upstream>;
    source: string;
    store: Store;
    ipFilter: readonly Stage[];
    authenticators?: ReadonlyMap<string, Authenticator>;
    loaded?: LoadedConfig;
  }) {
    this.settings = init.settings;
    this.routes = init.routes;
    this.router = init.router;
    this.upstreams = init.upstreams;
    this.source = init.source;
    this.store = init.store;
    this.ipFilter = init.ipFilter;
    this.authenticators = init.authenticators ?? new Map();
    this.loaded = init.loaded;
  }

  /** Starts what runs in the background: the upstreams' active health checks (idempotent). */
  start(logger?: Logger): void {
    for (const u of this.upstreams.values()) u.start(logger);
  }

  /** Stops the health checks and closes the upstream pools once in-flight requests on them have finished. */
  async close(options: { keepStore?: boolean } = {}): Promise<void> {
    await Promise.allSettled([...[...this.upstreams.values()].map((u) => u.close()), options.keepStore ? undefined : this.store.close()]);
  }
}

export async function buildGatewayFromFile(file: string, env?: NodeJS.ProcessEnv): Promise<Gateway> {
  return buildGateway(await loadConfigFile(file, env));
}

export async function buildGatewayFromText(
  text: string,
  options: { baseDir?: string; env?: NodeJS.ProcessEnv; source?: string } = {},
): Promise<Gateway> {
  return buildGateway(parseConfigText(text, options));
}

export interface BuildOptions {
  /**
   * The running gateway, when this build is a reload: its store is taken over when the `store:` block
   * is unchanged, so rate-limit counters and bans survive the reload.
   */
  previous?: Gateway;
}

export async function buildGateway(loaded: LoadedConfig, options: BuildOptions = {}): Promise<Gateway> {
  const { raw, baseDir, source } = loaded;
  const previous = options.previous;
  const reuseStore = previous?.loaded !== undefined && JSON.stringify(previous.loaded.raw.store ?? null) === JSON.stringify(raw.store ?? null)
    ? previous.store
    : undefined;
  const issues: ConfigIssue[] = [];
  const storeSettings = buildStore(raw.store, issues, reuseStore);
  const defaultPolicies = buildDefaultPolicies(raw.defaults?.rateLimit, issues);
  const bf = raw.defaults?.bruteForce;
  if (bf && parseDuration(bf.per) < 1) issues.push({ path: 'defaults.bruteForce.per', message: 'must be at least 1ms' });
  if (bf && parseDuration(bf.ban) < 1) issues.push({ path: 'defaults.bruteForce.ban', message: 'must be at least 1ms' });
  const bruteForce = raw.defaults?.bruteForce
    ? new BruteForceGuard(
        {
          maxFailures: raw.defaults.bruteForce.maxFailures,
          windowMs: parseDuration(raw.defaults.bruteForce.per),
          banMs: parseDuration(raw.defaults.bruteForce.ban),
          byIp: (raw.defaults.bruteForce.by ?? ['ip', 'credential']).includes('ip'),
          byCredential: (raw.defaults.bruteForce.by ?? ['ip', 'credential']).includes('credential'),
        },
        storeSettings.store,
      )
    : undefined;
  const recordFailure = bruteForce
    ? (ctx: RequestContext, credential: string | undefined) => bruteForce.recordFailure(ctx.clientIp, credential)
    : undefined;
  const configuredAuthenticators: ReadonlySet<string> = new Set(Object.keys(raw.authenticators ?? {}));
  const authenticators = await buildAuthenticators(raw.authenticators as Record<string, RawAuthenticator> | undefined, {
    baseDir,
    envPaths: loaded.secretPaths,
    issues,
    clientCertificates: raw.server.https?.clientCertificates !== undefined,
    store: storeSettings.store,
  });

  unsupportedValues(raw, issues);
  const limits = buildLimits(raw, issues);

  let trustedProxies = new TrustedProxies([]);
  const trustedIssues: ConfigIssue[] = [];
  (raw.server.trustedProxies ?? []).forEach((entry, i) => {
    try {
      new TrustedProxies([entry]);
    } catch (err) {
      trustedIssues.push({ path: `server.trustedProxies[${i}]`, message: (err as Error).message });
    }
  });
  if (trustedIssues.length > 0) issues.push(...trustedIssues);
  else trustedProxies = new TrustedProxies(raw.server.trustedProxies ?? []);

  if (!raw.server.https && !raw.server.http) {
    issues.push({ path: 'server', message: 'needs at least one listener: server.https or server.http' });
  }
  if (raw.server.http && raw.server.http.redirectToHttps !== false && !raw.server.https) {
    issues.push({
      path: 'server.http.redirectToHttps',
      message: 'redirects to HTTPS but server.https is not configured; set redirectToHttps: false to serve plain HTTP',
    });
  }

  let https: HttpsSettings | undefined;
  if (raw.server.https) {
    const h = raw.server.https;
    const minVersion = h.minVersion ?? 'TLSv1.2';
    const clientCa = h.clientCertificates ? await readClientCa(h.clientCertificates.ca, baseDir, issues) : undefined;
    const sni = await loadCertificates(h.certificates, baseDir, minVersion, issues, 'server.https.certificates', clientCa);
    if (sni && (clientCa !== undefined || !h.clientCertificates)) {
      https = {
        host: h.host ?? '0.0.0.0',
        port: h.port ?? 8443,
        sni,
        minVersion,
        http2: h.http2 ?? true,
        hsts: hstsValue(h.hsts),
        clientCertificates: h.clientCertificates && clientCa !== undefined ? { ca: clientCa, required: h.clientCertificates.mode === 'required' } : undefined,
      };
    }
  }

  const upstreams = new Map<string, Upstream>();
  const upstreamNames = Object.keys(raw.upstreams);
  for (const name of upstreamNames) {
    const u = raw.upstreams[name];
    if (!u) continue;
    const built = await buildUpstream(name, u, baseDir, issues);
    if (built) upstreams.set(name, built);
  }

  const ipFilters = await buildIpFilters(raw.defaults?.ipFilter, raw.routes.map((r) => r.ipFilter), baseDir, issues);
  const validations = await prepareValidation(raw.routes.map((r) => r.validate), baseDir, issues);
  const defaultSecurityHeaders = compileSecurityHeaders(raw.defaults?.securityHeaders, 'defaults.securityHeaders', issues);
  if (raw.defaults?.cors) compileCors(raw.defaults.cors, 'defaults.cors', undefined, true, issues);
  const threats = buildThreats(raw.defaults?.threats, raw.routes.map((r) => ({ name: r.name, threats: r.threats })), issues);
  const routes: CompiledRoute[] = [];
  const specs: RouteSpec<CompiledRoute>[] = [];
  const seenNames = new Map<string, number>();
  const seenPatterns = new Map<string, number>();
  raw.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    const before = issues.length;
    const prior = seenNames.get(r.name);
    if (prior !== undefined) issues.push({ path: `${at}.name`, message: `"${r.name}" is already the name of routes[${prior}]` });
    seenNames.set(r.name, i);

    const routeAuthenticators = checkAuth(r, at, authenticators, configuredAuthenticators, issues);
    const pattern = parsePathPattern(r.match.path);
    if (typeof pattern === 'string') {
      issues.push({ path: `${at}.match.path`, message: pattern });
    }
    const host = r.match.host?.toLowerCase();
    if (host !== undefined && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) {
      issues.push({ path: `${at}.match.host`, message: `"${r.match.host}" is not a host name or *.domain wildcard` });
    }
    if (r.stripPrefix && typeof pattern !== 'string' && !pattern.prefix) {
      issues.push({ path: `${at}.stripPrefix`, message: 'needs a prefix path pattern ending in "/*"' });
    }
    const upstream = buildRouteUpstream(r, at, typeof pattern === 'string' ? [] : pattern.params, upstreams, upstreamNames, issues);
    const mirror = r.mirror
      ? buildMirror(r.mirror, `${at}.mirror`, (name, p) => resolveUpstream(name, p, upstreams, upstreamNames, issues), typeof r.upstream === 'string' ? r.upstream : undefined, issues)
      : undefined;
    if (typeof pattern !== 'string') {
      const key = `${host ?? '*'} ${r.match.path} ${[...(r.match.methods ?? ['*'])].sort().join(',')}`;
      const dup = seenPatterns.get(key);
      if (dup !== undefined) {
        issues.push({ path: `${at}.match`, message: `same host, path and methods as routes[${dup}]; it could never match` });
      }
      seenPatterns.set(key, i);
    }
    if (issues.length > before || typeof pattern === 'string' || !upstream) return;
    const mode = r.mode ?? 'enforce';
    const stages: Stage[] = [];
    // The fixed order: abuse guard, pre-auth limit, authenticate, authorize, identity limits, concurrency, validate.
    const rateLimits = buildRouteLimits(defaultPolicies, r.rateLimit, r.name, at, mode, storeSettings, issues);
    if (bruteForce) stages.push(new AbuseGuardStage(bruteForce, mode, routeAuthenticators.flatMap((a) => (a.location ? [a.location] : []))));
    if (rateLimits.preAuth) stages.push(rateLimits.preAuth);
    if (routeAuthenticators.length > 0) stages.push(new AuthenticateStage(routeAuthenticators, mode, recordFailure));
    if (r.authorize) {
      if (r.auth === 'public' || (Array.isArray(r.auth) && r.auth.includes('public'))) {
        issues.push({ path: `${at}.authorize`, message: 'needs authentication: a route with auth: public has no identity to authorize' });
        return;
      }
      stages.push(new AuthorizeStage(authorizeRules(r.authorize), mode));
    }
    if (rateLimits.identity) stages.push(rateLimits.identity);
    if (r.concurrency) {
      const ttlMs = r.concurrency.ttl ? parseDuration(r.concurrency.ttl) : 300_000;
      if (ttlMs < 1000) issues.push({ path: `${at}.concurrency.ttl`, message: 'must be at least 1s' });
      stages.push(new ConcurrencyStage({
        routeName: r.name,
        by: keyParts(r.concurrency.by),
        limit: r.concurrency.limit,
        ttlMs,
        store: storeSettings.store,
        mode,
        onError: storeSettings.onError,
        instances: storeSettings.instances,
      }));
    }
    // Then validate: its head check, then (the body read) its body check.
    const validation = validations[i];
    const maxBodyBytes = validation?.maxBodyBytes ?? limits.maxBodyBytes;
    if (validation) stages.push(...validationStages(validation, mode, maxBodyBytes));
    // Then threat detection, on what validation let through (reusing its parsed body).
    const threatStage = threats.forRoute(i, mode);
    if (threatStage) stages.push(threatStage);
    // HTTP message signatures: a signed Content-Digest is checked against the body, and an upstream
    // that signs one needs it buffered; the body is read (and checked) before the first body stage.
    if (needsContentDigest(routeAuthenticators) || signsContentDigest(upstream)) {
      const first = stages.findIndex((s) => s.needsBody);
      stages.splice(first === -1 ? stages.length : first, 0, new ContentDigestStage(routeAuthenticators, mode));
    }
    const transform = compileTransform(r.transform, at, issues, pattern.params);
    if (r.transform?.request?.path !== undefined && r.stripPrefix) {
      issues.push({ path: `${at}.transform.request.path`, message: 'cannot be combined with stripPrefix: true (the rewrite sees the whole path; strip the prefix in it)' });
    }
    const corsRaw = r.cors ?? raw.defaults?.cors;
    // defaults.cors is checked once, below the loop; per route it is only narrowed to the route's methods.
    const cors = corsRaw ? compileCors(corsRaw, r.cors ? `${at}.cors` : 'defaults.cors', r.match.methods, r.cors === undefined, r.cors ? issues : []) : undefined;
    const securityHeaders = r.securityHeaders === undefined ? defaultSecurityHeaders : compileSecurityHeaders(r.securityHeaders, `${at}.securityHeaders`, issues);
    const websocket = compileWebSocket(r.websocket, at, issues);
    // The tunnel is HTTP/1.1 Upgrade (RFC 6455); an HTTP/2 connection to the backend cannot carry it.
    if (websocket !== undefined && upstream instanceof Upstream && upstream.protocol !== 'h1') {
      issues.push({ path: `${at}.websocket`, message: `needs an HTTP/1.1 upstream; "${r.upstream as string}" has protocol ${upstream.protocol}` });
    }
    if (issues.length > before) return;
    const bodyStage = stages.findIndex((s) => s.needsBody);
    const route: CompiledRoute = {
      name: r.name,
      authNames: routeAuthenticators.length === 0 ? 'public' : routeAuthenticators.map((a) => a.name).join(','),
      index: i,
      upstream,
      mirror,
      stripPrefix: r.stripPrefix ?? false,
      retryNonIdempotent: r.retryNonIdempotent ?? false,
      mode,
      stages,
      bodyStage: bodyStage === -1 ? stages.length : bodyStage,
      ipFilter: ipFilters.forRoute(i, mode),
      maxBodyBytes,
      needsBody: bodyStage !== -1,
      transform,
      websocket,
      cors,
      securityHeaders,
    };
    routes.push(route);
    specs.push({ route, host, pattern, methods: r.match.methods });
  });

  const admin = buildAdmin(raw, loaded.secretPaths, issues);
  const otlp = raw.tracing?.otlpEndpoint;
  if (otlp) {
    let u: URL | undefined;
    try {
      u = new URL(otlp);
    } catch {
      u = undefined;
    }
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      issues.push({ path: 'tracing.otlpEndpoint', message: `"${otlp}" is not an http(s) URL (e.g. http://collector:4318/v1/traces)` });
    }
  }
  if (issues.length > 0) {
    await Promise.allSettled([...[...upstreams.values()].map((u) => u.close()), reuseStore === undefined ? storeSettings.store.close() : undefined]);
    throw new ConfigError(issues, source);
  }

  const settings: Settings = {
    https,
    http: raw.server.http
      ? {
          host: raw.server.http.host ?? '0.0.0.0',
          port: raw.server.http.port ?? 8080,
          redirectToHttps: raw.server.http.redirectToHttps ?? true,
        }
      : undefined,
    trustedProxies,
    limits,
    via: raw.server.via ?? false,
    shutdownTimeout: raw.server.shutdownTimeout ? parseDuration(raw.server.shutdownTimeout) : 30_000,
    logLevel: raw.logging?.level ?? 'info',
    accessLog: accessLogTarget(raw.logging?.accessLog, baseDir),
    securityHeaders: defaultSecurityHeaders,
    admin,
    metrics: raw.metrics?.prometheus ?? false,
    tracing: {
      endpoint: raw.tracing?.otlpEndpoint ?? '',
      sampleRatio: raw.tracing?.sampleRatio ?? 1,
      serviceName: raw.tracing?.serviceName ?? 'portcullis',
    },
  };
  return new Gateway({
    settings, routes, router: new Router(specs), upstreams, source, store: storeSettings.store, ipFilter: ipFilters.unrouted, authenticators, loaded,
  });
}

/** stdout | off | a file path, relative to the config file's directory like every path in the config. */
function accessLogTarget(value: string | undefined, baseDir: string): string {
  if (value === undefined || value === 'stdout' || value === 'off') return value ?? 'stdout';
  return path.resolve(baseDir, value);
}

function buildLimits(raw: RawConfig, issues: ConfigIssue[]): Limits {
  const l = raw.server.limits ?? {};
  const limits: Limits = {
    maxHeaderBytes: l.maxHeaderBytes ? parseSize(l.maxHeaderBytes) : DEFAULT_LIMITS.maxHeaderBytes,
    maxHeaders: l.maxHeaders ?? DEFAULT_LIMITS.maxHeaders,
    maxUrlBytes: l.maxUrlBytes ? parseSize(l.maxUrlBytes) : DEFAULT_LIMITS.maxUrlBytes,
    maxBodyBytes: l.maxBodyBytes ? parseSize(l.maxBodyBytes) : DEFAULT_LIMITS.maxBodyBytes,
    headersTimeout: l.headersTimeout ? parseDuration(l.headersTimeout) : DEFAULT_LIMITS.headersTimeout,
    requestTimeout: l.requestTimeout ? parseDuration(l.requestTimeout) : DEFAULT_LIMITS.requestTimeout,
    keepAliveTimeout: l.keepAliveTimeout ? parseDuration(l.keepAliveTimeout) : DEFAULT_LIMITS.keepAliveTimeout,
    maxConnections: l.maxConnections ?? DEFAULT_LIMITS.maxConnections,
    maxConnectionsPerIp: l.maxConnectionsPerIp ?? DEFAULT_LIMITS.maxConnectionsPerIp,
    http2MaxConcurrentStreams: l.http2MaxConcurrentStreams ?? DEFAULT_LIMITS.http2MaxConcurrentStreams,
  };
  if (limits.headersTimeout > limits.requestTimeout) {
    issues.push({ path: 'server.limits.headersTimeout', message: 'must not be longer than server.limits.requestTimeout' });
  }
  if (limits.maxHeaderBytes < 1024) issues.push({ path: 'server.limits.maxHeaderBytes', message: 'must be at least 1kb' });
  if (limits.maxUrlBytes < 256) issues.push({ path: 'server.limits.maxUrlBytes', message: 'must be at least 256b' });
  if (limits.maxUrlBytes > limits.maxHeaderBytes) {
    issues.push({ path: 'server.limits.maxUrlBytes', message: 'must not exceed server.limits.maxHeaderBytes (the request line is part of the head)' });
  }
  if (limits.keepAliveTimeout < 1) issues.push({ path: 'server.limits.keepAliveTimeout', message: 'must be at least 1ms' });
  return limits;
}

/** server.admin: loopback by default; the token must come from the environment and be long enough to resist guessing. */
function buildAdmin(raw: RawConfig, secretPaths: ReadonlySet<string>, issues: ConfigIssue[]): Settings['admin'] {
  const a = raw.server.admin;
  if (a === undefined) {
    if (raw.metrics?.prometheus === true) issues.push({ path: 'metrics.prometheus', message: 'metrics are served on the admin listener: configure server.admin' });
    return undefined;
  }
  if (!secretPaths.has('/server/admin/token')) {
    issues.push({ path: 'server.admin.token', message: 'must come from an environment variable (write ${NAME}), never from the file itself' });
  } else if (a.token.length < 24) {
    issues.push({ path: 'server.admin.token', message: `must be at least 24 characters (got ${a.token.length}); e.g. openssl rand -base64 32` });
  }
  return { host: a.host ?? '127.0.0.1', port: a.port ?? 9901, token: a.token };
}

/** server.workers at most: a process per core of the largest machines. */
const MAX_WORKERS = 256;

/** Values the schema accepts in shape but this version cannot honour yet: an error, never ignored. */
function unsupportedValues(raw: RawConfig, issues: ConfigIssue[]): void {
  const later = 'is not supported yet in this version of Portcullis';
  // server.workers (N | auto) is run by src/cluster/primary.ts; a bound keeps a typo from forking thousands.
  if (typeof raw.server.workers === 'number' && raw.server.workers > MAX_WORKERS) {
    issues.push({ path: 'server.workers', message: `must be at most ${MAX_WORKERS} (got ${raw.server.workers}); "auto" runs one per core` });
  }
  const accessLog = raw.logging?.accessLog;
  if (accessLog !== undefined && accessLog !== 'stdout' && accessLog !== 'off' && accessLog.trim() === '') {
    issues.push({ path: 'logging.accessLog', message: 'must be stdout, off or a file path' });
  }
}

/** The route's authenticators in order; `public` gives none. Unknown names are errors. */
function checkAuth(
  r: RawRoute,
  at: string,
  known: ReadonlyMap<string, Authenticator>,
  /** Every name under `authenticators:`, built or not (a broken one is reported at its own path). */
  configured: ReadonlySet<string>,
  issues: ConfigIssue[],
): Authenticator[] {
  const names = Array.isArray(r.auth) ? r.auth : [r.auth];
  const out: Authenticator[] = [];
  const seen = new Set<string>();
  names.forEach((name, j) => {
    const p = Array.isArray(r.auth) ? `${at}.auth[${j}]` : `${at}.auth`;
    if (name === 'public') {
      if (names.length > 1) issues.push({ path: p, message: '"public" cannot be combined with authenticators' });
      return;
    }
    if (seen.has(name)) {
      issues.push({ path: p, message: `"${name}" is listed twice` });
      return;
    }
    seen.add(name);
    const a = known.get(name);
    if (a) out.push(a);
    else if (!configured.has(name)) {
      issues.push({ path: p, message: `unknown authenticator "${name}"${didYouMean(name, ['public', ...configured])}` });
    }
  });
  return out;
}

function authorizeRules(a: RawAuthorize): AuthorizeRules {
  return {
    scopes: a.scopes ?? [],
    roles: a.roles ?? [],
    groups: a.groups ?? [],
    claims: Object.entries(a.claims ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
  };
}

async function readClientCa(file: string, baseDir: string, issues: ConfigIssue[]): Promise<string | undefined> {
  try {
    const text = await readFile(path.resolve(baseDir, file), 'utf8');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return text;
  } catch (err) {
    issues.push({ path: 'server.https.clientCertificates.ca', message: `cannot use ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
}

/** The upstream called `name`; unknown names are reported at `p` (a known but broken one at its own path). */
function resolveUpstream(name: string, p: string, upstreams: ReadonlyMap<string, Upstream>, names: readonly string[], issues: ConfigIssue[]): Upstream | undefined {
  const u = upstreams.get(name);
  if (!u && !names.includes(name)) issues.push({ path: p, message: `unknown upstream "${name}"${didYouMean(name, names)}` });
  return u;
}

function buildRouteUpstream(
  r: RawRoute,
  at: string,
  params: readonly string[],
  upstreams: ReadonlyMap<string, Upstream>,
  names: readonly string[],
  issues: ConfigIssue[],
): Upstream | VersionSelector | TrafficSplit | undefined {
  const resolve = (name: string, p: string): Upstream | undefined => resolveUpstream(name, p, upstreams, names, issues);
  if (typeof r.upstream === 'string') return resolve(r.upstream, `${at}.upstream`);
  if ('split' in r.upstream) return buildSplit(r.upstream, `${at}.upstream`, resolve, issues);
  const v = r.upstream.version;
  const vp = `${at}.upstream.version`;
  const sources = [v.header, v.query, v.param].filter((s) => s !== undefined).length;
  if (sources !== 1) issues.push({ path: vp, message: 'needs exactly one of header, query or param' });
  let paramIndex = -1;
  if (v.param !== undefined) {
    paramIndex = params.indexOf(v.param);
    if (paramIndex === -1) issues.push({ path: `${vp}.param`, message: `match.path has no parameter ":${v.param}"` });
  }
  const map = new Map<string, Upstream>();
  for (const [version, name] of Object.entries(v.map)) {
    const u = resolve(name, `${vp}.map[${JSON.stringify(version)}]`);
    if (u) map.set(version, u);
  }
  if (Object.keys(v.map).length === 0) issues.push({ path: `${vp}.map`, message: 'must name at least one version' });
  let fallback: Upstream | undefined;
  if (v.default !== undefined) {
    fallback = map.get(v.default);
    if (!(v.default in v.map)) issues.push({ path: `${vp}.default`, message: `"${v.default}" is not a version in map${didYouMean(v.default, Object.keys(v.map))}` });
  }
  return { header: v.header?.toLowerCase(), query: v.query, paramIndex, fallback, map };
}

function hstsValue(h: false | { maxAge?: string; includeSubDomains?: boolean; preload?: boolean } | undefined): string | null {
  if (h === false) return null;
  const seconds = Math.floor((h?.maxAge ? parseDuration(h.maxAge) : 365 * 86_400_000) / 1000);
  let value = `max-age=${seconds}`;
  if (h?.includeSubDomains) value += '; includeSubDomains';
  if (h?.preload) value += '; preload';
  return value;
}

/** Some upstream a route may send to signs a Content-Digest (src/upstream/sign.ts): the route buffers its body. */
function signsContentDigest(upstream: Upstream | TrafficSplit | VersionSelector): boolean {
  const all = upstream instanceof Upstream
    ? [upstream]
    : 'members' in upstream
      ? upstream.members.map((m) => m.upstream)
      : [...upstream.map.values(), ...(upstream.fallback ? [upstream.fallback] : [])];
  return all.some((u) => u.signer?.needsBody === true);
}
