/**
 * An upstream: a named set of targets, each with its own undici keep-alive Pool, a load-balancing
 * policy over the targets that are healthy (active and passive checks), an optional circuit breaker,
 * and the retry policy and budget the proxy applies. Built once per config; `start` arms the health
 * checks, `close` stops them and drains the pools.
 */
import { Pool, type Dispatcher } from 'undici';
import { H1Pool } from './h1/pool.ts';
import type { Logger } from '../observability/logger.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { createBalancer, type Balanced, type BalanceKind, type Balancer } from './balance.ts';
import { CircuitBreaker, type BreakerSpec } from './breaker.ts';
import { HealthChecker, TargetHealth, type ActiveHealthSpec, type PassiveHealthSpec } from './health.ts';
import { RetryBudget, type RetryBudgetSpec } from './retry.ts';
import type { RequestSigner } from './sign.ts';

export interface TargetSpec {
  url: string;
  weight: number;
}

/** What consistent-hash hashes: the client IP, the consumer id, a header or a cookie. */
export type HashOn = { kind: 'ip' } | { kind: 'consumer' } | { kind: 'header'; name: string } | { kind: 'cookie'; name: string };

/** TLS options for https:// targets (undici passes them to tls.connect). */
export interface UpstreamTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** h1: HTTP/1.1; h2: HTTP/2 over TLS (ALPN, HTTP/1.1 as fallback); h2c: cleartext HTTP/2 with prior knowledge. */
export type UpstreamProtocol = 'h1' | 'h2' | 'h2c';

export interface UpstreamSpec {
  name: string;
  targets: TargetSpec[];
  /** Per try: time to the response head and longest gap between body chunks, ms. */
  timeout: number;
  connectTimeout: number;
  maxConnections: number;
  balance?: BalanceKind;
  hashOn?: HashOn;
  /** Deadline of all tries until the response head, ms (0: none beyond the per-try timeout). */
  totalTimeout?: number;
  /** Extra tries when safe. */
  retries?: number;
  retryBudget?: RetryBudgetSpec;
  breaker?: BreakerSpec;
  activeHealth?: ActiveHealthSpec;
  passiveHealth?: PassiveHealthSpec;
  /** All targets unhealthy: use them all instead of answering 503. */
  panic?: boolean;
  tls?: UpstreamTls;
  /** HTTP version to the targets (default h1); see UpstreamProtocol. */
  protocol?: UpstreamProtocol;
  /** HTTP/1.1 client of proxied requests to http:// targets (default builtin). */
  client?: 'builtin' | 'undici';
  /** Monotonic ms; tests inject their own. */
  clock?: () => number;
}

export class Target implements Balanced {
  readonly origin: string;
  readonly url: URL;
  readonly weight: number;
  /** undici: health checks, mirrored requests, WebSocket tunnels, and every request to https:// or HTTP/2 targets. */
  readonly pool: Pool;
  /** What proxied requests go through: the built-in HTTP/1.1 client for http:// h1 targets, else `pool`. */
  readonly dispatcher: Pick<Dispatcher, 'dispatch'>;
  /** The built-in client, when this target uses it. */
  readonly h1: H1Pool | undefined;
  readonly health: TargetHealth;
  /** In-flight exchanges (least-connections, power of two choices). */
  active = 0;
  /** Smooth weighted round-robin state. */
  current = 0;

  constructor(spec: TargetSpec, upstream: UpstreamSpec) {
    this.url = new URL(spec.url);
    this.origin = this.url.origin;
    this.weight = spec.weight;
    this.health = new TargetHealth(upstream.activeHealth, upstream.passiveHealth);
    const connect: {
      timeout: number; ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized?: boolean; useH2c?: boolean;
    } = {
      timeout: upstream.connectTimeout,
    };
    const protocol = upstream.protocol ?? 'h1';
    // undici's connector marks a plain socket as h2 (prior knowledge, RFC 9113 §3.3) with useH2c.
    if (protocol === 'h2c') connect.useH2c = true;
    if (this.url.protocol === 'https:' && upstream.tls) {
      const t = upstream.tls;
      if (t.ca !== undefined) connect.ca = t.ca;
      if (t.cert !== undefined) connect.cert = t.cert;
      if (t.key !== undefined) connect.key = t.key;
      if (t.servername !== undefined) connect.servername = t.servername;
      connect.rejectUnauthorized = t.rejectUnauthorized;
    }
    this.pool = new Pool(this.origin, {
      connections: upstream.maxConnections,
      // HTTP/2: one session per connection carries up to this many streams (the peer's SETTINGS may lower it).
      pipelining: protocol === 'h1' ? 1 : 100,
      allowH2: protocol !== 'h1',
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: upstream.timeout,
      bodyTimeout: upstream.timeout,
      connect,
      // The gateway enforces its own limits on what it accepts; responses are streamed.
      maxResponseSize: -1,
      strictContentLength: true,
    });
    if (this.url.protocol === 'http:' && protocol === 'h1' && upstream.client !== 'undici') {
      this.h1 = new H1Pool(this.origin, {
        connections: upstream.maxConnections,
        keepAliveTimeout: 4_000,
        headersTimeout: upstream.timeout,
        bodyTimeout: upstream.timeout,
        connectTimeout: upstream.connectTimeout,
      });
      this.dispatcher = this.h1;
    } else {
      this.h1 = undefined;
      this.dispatcher = this.pool;
    }
  }
}

const always = (): boolean => true;

export class Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  readonly timeout: number;
  readonly totalTimeout: number;
  readonly retries: number;
  readonly budget: RetryBudget | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly panic: boolean;
  readonly hashOn: HashOn | undefined;
  readonly insecureTls: boolean;
  readonly protocol: UpstreamProtocol;
  /** Counters for the metrics: retries sent, retries the budget refused, WebSocket tunnels open now. */
  readonly stats = { retries: 0, retriesDenied: 0, websocketsOpen: 0 };
  /** Signs every request sent to this upstream (`sign:`, src/upstream/sign.ts), when configured. */
  signer: RequestSigner | undefined = undefined;
  private readonly balancer: Balancer<Target>;
  private readonly checkers: HealthChecker[] = [];
  private readonly healthAware: boolean;
  private clockFn: () => number;
  // pick()'s predicate state: set just before the balancer runs (single-threaded, no closure per call).
  private now = 0;
  private exclude: ReadonlySet<Target> | undefined = undefined;
  private ignoreHealth = false;
  private readonly eligible = (t: Target): boolean =>
    (this.ignoreHealth || t.health.available(this.now)) && (this.exclude === undefined || !this.exclude.has(t));
  private logger: Logger | undefined;

  constructor(spec: UpstreamSpec) {
    this.name = spec.name;
    this.timeout = spec.timeout;
    this.retries = spec.retries ?? 0;
    this.totalTimeout = spec.totalTimeout ?? 0;
    this.panic = spec.panic ?? false;
    this.hashOn = spec.balance === 'consistent-hash' ? (spec.hashOn ?? { kind: 'ip' }) : undefined;
    this.insecureTls = spec.tls?.rejectUnauthorized === false;
    this.protocol = spec.protocol ?? 'h1';
    this.clockFn = spec.clock ?? (() => performance.now());
    this.targets = spec.targets.map((t) => new Target(t, spec));
    this.balancer = createBalancer(spec.balance ?? 'round-robin', this.targets);
    this.healthAware = spec.activeHealth !== undefined || spec.passiveHealth !== undefined;
    this.budget = this.retries > 0 ? new RetryBudget(spec.retryBudget ?? { ratio: 0.2, minRetries: 10, window: 10_000 }, this.clockFn) : undefined;
    this.breaker = spec.breaker ? new CircuitBreaker(spec.breaker, this.clockFn) : undefined;
    if (spec.activeHealth) {
      for (const t of this.targets) {
        this.checkers.push(new HealthChecker(t, spec.activeHealth, (target, healthy) => {
          this.logger?.warn({ upstream: this.name, target: target.origin, healthy }, healthy ? 'upstream target healthy again' : 'upstream target unhealthy');
        }));
      }
    }
  }

  /** The clock of health ejection, the breaker and the retry budget (tests replace it). */
  get clock(): () => number {
    return this.clockFn;
  }

  set clock(fn: () => number) {
    this.clockFn = fn;
    if (this.breaker) this.breaker.clock = fn;
    if (this.budget) this.budget.clock = fn;
  }

  /**
   * A target for this request: healthy, and not one already tried by it when another is left
   * (`exclude`). Undefined when no target is healthy (and `panic` is off).
   */
  pick(ctx?: RequestContext, exclude?: ReadonlySet<Target>): Target | undefined {
    const targets = this.targets;
    if (!this.healthAware && exclude === undefined && targets.length === 1) return targets[0];
    const key = this.hashOn !== undefined && ctx !== undefined ? hashKey(this.hashOn, ctx) : undefined;
    if (!this.healthAware && exclude === undefined) return this.balancer.pick(always, key);
    this.now = this.clockFn();
    this.exclude = exclude;
    this.ignoreHealth = false;
    try {
      let t = this.balancer.pick(this.eligible, key);
      if (t === undefined && exclude !== undefined) {
        // Every other target was tried (or is down): the same one again is better than none.
        this.exclude = undefined;
        t = this.balancer.pick(this.eligible, key);
      }
      if (t === undefined && this.panic) {
        this.ignoreHealth = true;
        this.exclude = exclude;
        t = this.balancer.pick(this.eligible, key) ?? this.balancer.pick(always, key);
      }
      return t;
    } finally {
      this.exclude = undefined;
    }
  }

  /** One exchange's outcome with `target` (passive health). */
  report(target: Target, ok: boolean): void {
    if (this.healthAware) target.health.report(ok, this.clockFn());
  }

  /** Starts the active health checks (idempotent); warns about disabled TLS verification. */
  start(logger?: Logger): void {
    if (logger) this.logger = logger;
    if (this.insecureTls) {
      this.logger?.warn(
        { upstream: this.name },
        'TLS certificate verification of this upstream is OFF (tls.insecureSkipVerify): anyone on the path can impersonate it',
      );
    }
    for (const c of this.checkers) c.start();
  }

  /** Stops the health checks and closes the pools once in-flight requests on them have finished. */
  async close(): Promise<void> {
    for (const c of this.checkers) c.stop();
    await Promise.allSettled(this.targets.flatMap((t) => (t.h1 ? [t.pool.close(), t.h1.close()] : [t.pool.close()])));
  }

  /** The active checkers (tests run a check on demand). */
  get healthCheckers(): readonly HealthChecker[] {
    return this.checkers;
  }
}

/** The request's value for `on` (consistent hashing, sticky splits); undefined when it has none. */
export function hashKey(on: HashOn, ctx: RequestContext): string | undefined {
  switch (on.kind) {
    case 'ip':
      return ctx.clientIp;
    case 'consumer':
      return ctx.identity?.consumerId ?? ctx.identity?.subject;
    case 'header': {
      const v = ctx.request.headers[on.name];
      return Array.isArray(v) ? v[0] : v;
    }
    case 'cookie':
      return cookieValue(ctx.request.headers.cookie, on.name);
  }
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §4.2.1: `a=1; b=2`). */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
