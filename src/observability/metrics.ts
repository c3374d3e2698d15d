/**
 * Prometheus metrics (prom-client), served as `GET /metrics` on the admin listener.
 *
 * The hot path never touches prom-client: a finished request adds to plain counters in maps keyed
 * by a short label string, and latencies go to per-route histogram children cached on first use.
 * prom-client reads the counters when Prometheus scrapes (`collect`). Label values are bounded by
 * the config (route, upstream, authenticator and stage names, error codes, a fixed method list):
 * never a client address, a token or a path.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';
import type { Gateway } from '../config/gateway.ts';
import type { RequestContext } from '../pipeline/context.ts';

const METHOD_NAMES = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'];
const METHOD_INDEX = new Map(METHOD_NAMES.map((m, i) => [m, i]));
const OTHER_METHOD = METHOD_NAMES.length - 1;
/** `0xx` (no answer: the client went away) to `5xx`. */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];
const SEP = '\u0000';
const NO_ROUTE = '(none)';

/** Seconds; from 0.5 ms (a cache-hit JWT route on loopback) to 30 s (the default request timeout). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A latency histogram kept as plain arrays per label set: an observation is a bucket search and
 * three additions, with no label hashing (prom-client's own histogram hashes its labels on every
 * observation, a few µs per request). prom-client formats it like any metric: it only asks `get()`.
 */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Per-bucket (not cumulative) counts; the last one is +Inf. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly all: Series[] = [];

  constructor(name: string, help: string, registry: client.Registry) {
    this.name = name;
    this.help = help;
    registry.registerMetric(this as unknown as client.Metric);
  }

  series(labels: Record<string, string>): Series {
    const s: Series = { labels, buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
    this.all.push(s);
    return s;
  }

  static observe(s: Series, seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    (s.buckets[i] as number)++;
    s.sum += seconds;
    s.count++;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.all) {
      let cumulative = 0;
      for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
        cumulative += s.buckets[i] as number;
        values.push({ labels: { ...s.labels, le: i < LATENCY_BUCKETS.length ? (LATENCY_BUCKETS[i] as number) : '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.all) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/** Counts by a composite label key (label values joined by NUL). */
class KeyedCounts {
  readonly counts = new Map<string, number>();
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
}

/** Counters the gateway's parts keep themselves (authenticators, stores, upstreams) and metrics read at scrape time. */
export interface StatsSource {
  /** name → value pairs; names must be among the ones `MetricsRegistry` knows (see `collectSources`). */
  readonly stats: Readonly<Record<string, number>>;
}

export interface ConnectionGauges {
  /** Open client connections (HTTP/1.1 sockets and HTTP/2 sessions) by listener. */
  connections(): { listener: string; open: number; streams: number }[];
}

export class GatewayMetrics {
  readonly registry: client.Registry;
  private gateway: () => Gateway;
  private connections: ConnectionGauges | undefined;

  /** route → upstream → counts by method × status class (no string building per request). */
  private readonly requests = new Map<string, Map<string, Float64Array>>();
  private readonly rejections = new KeyedCounts();
  private readonly rateLimited = new KeyedCounts();
  private readonly auth = new KeyedCounts();
  private readonly notes = new KeyedCounts();
  private readonly total: FastHistogram;
  private readonly upstreamLatency: FastHistogram;
  private readonly totalSeries = new Map<string, Series>();
  private readonly upstreamSeries = new Map<string, Map<string, Series>>();
  private readonly loopDelay: ReturnType<typeof monitorEventLoopDelay>;

  constructor(gateway: () => Gateway) {
    this.gateway = gateway;
    const registry = new client.Registry();
    this.registry = registry;
    client.collectDefaultMetrics({ register: registry, prefix: 'portcullis_process_' });
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();

    const self = this;
    new client.Counter({
      name: 'portcullis_requests_total',
      help: 'Requests answered, by route, method, status class and upstream.',
      labelNames: ['route', 'method', 'status', 'upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [route, byUpstream] of self.requests) {
          for (const [upstream, counts] of byUpstream) {
            for (let i = 0; i < counts.length; i++) {
              const n = counts[i] as number;
              if (n === 0) continue;
              const method = METHOD_NAMES[Math.floor(i / STATUS_CLASSES.length)] as string;
              const status = STATUS_CLASSES[i % STATUS_CLASSES.length] as string;
              this.inc({ route, method, status, upstream }, n);
            }
          }
        }
      },
    });
    counterFrom(registry, 'portcullis_rejections_total',
      'Requests a stage rejected (decision deny) or would have rejected (shadow-deny), by stage and error code.',
      ['stage', 'code', 'decision'], this.rejections);
    counterFrom(registry, 'portcullis_rate_limited_total', 'Rate-limit and concurrency rejections (incl. shadow), by route and stage.',
      ['route', 'stage', 'decision'], this.rateLimited);
    counterFrom(registry, 'portcullis_auth_total',
      'Authentication outcomes: success by the authenticator that accepted, failure by the route\'s authenticator list.',
      ['authenticator', 'outcome'], this.auth);
    counterFrom(registry, 'portcullis_notes_total', 'Noteworthy events of requests: store fallbacks, consumer tiers, retries.',
      ['note'], this.notes);

    this.total = new FastHistogram('portcullis_request_duration_seconds', 'Time from the request head to the end of the answer, by route.', registry);
    this.upstreamLatency = new FastHistogram(
      'portcullis_upstream_duration_seconds',
      'Time from sending the request upstream to the end of the upstream answer, by route and upstream.',
      registry,
    );

    new client.Gauge({
      name: 'portcullis_event_loop_delay_seconds',
      help: 'Event-loop delay over the last scrape interval (p50, p99, max).',
      labelNames: ['quantile'],
      registers: [registry],
      aggregator: 'max', // server.workers > 1: the slowest worker's
      collect() {
        const h = self.loopDelay;
        this.set({ quantile: '0.5' }, h.percentile(50) / 1e9);
        this.set({ quantile: '0.99' }, h.percentile(99) / 1e9);
        this.set({ quantile: '1' }, h.max / 1e9);
        h.reset();
      },
    });
    new client.Gauge({
      name: 'portcullis_open_connections',
      help: 'Open client connections by listener.',
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of self.connections?.connections() ?? []) this.set({ listener: c.listener }, c.open);
      },
    });
    new client.Gauge({
      name: 'portcullis_active_streams',
      help: 'HTTP/2 streams in flight by listener.',
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of self.connections?.connections() ?? []) this.set({ listener: c.listener }, c.streams);
      },
    });
    new client.Gauge({
      name: 'portcullis_upstream_target_healthy',
      help: '1 when a target receives traffic (healthy), 0 when it is ejected.',
      labelNames: ['upstream', 'target'],
      registers: [registry],
      aggregator: 'min', // server.workers > 1: 0 when any worker has ejected it
      collect() {
        this.reset();
        for (const u of self.gateway().upstreams.values()) {
          const now = u.clock();
          for (const t of u.targets) this.set({ upstream: u.name, target: t.origin }, t.health.available(now) ? 1 : 0);
        }
      },
    });
    new client.Gauge({
      name: 'portcullis_upstream_circuit_state',
      help: 'Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open (absent without a breaker).',
      labelNames: ['upstream'],
      registers: [registry],
      aggregator: 'max', // server.workers > 1: the most open of the workers' breakers
      collect() {
        this.reset();
        for (const u of self.gateway().upstreams.values()) {
          const s = u.breaker?.state;
          if (s !== undefined) this.set({ upstream: u.name }, s === 'closed' ? 0 : s === 'half-open' ? 1 : 2);
        }
      },
    });
    new client.Counter({
      name: 'portcullis_upstream_retries_total',
      help: 'Retries sent to an upstream (each extra try counts once).',
      labelNames: ['upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of self.gateway().upstreams.values()) this.inc({ upstream: u.name }, u.stats.retries);
      },
    });
    new client.Counter({
      name: 'portcullis_upstream_retries_denied_total',
      help: 'Retries the retry budget refused.',
      labelNames: ['upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of self.gateway().upstreams.values()) this.inc({ upstream: u.name }, u.stats.retriesDenied);
      },
    });
    new client.Gauge({
      name: 'portcullis_websocket_connections',
      help: 'WebSocket tunnels open now, by upstream (handshakes are counted in portcullis_requests_total with status 1xx when they close).',
      labelNames: ['upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of self.gateway().upstreams.values()) this.set({ upstream: u.name }, u.stats.websocketsOpen);
      },
    });
    new client.Counter({
      name: 'portcullis_authenticator_events_total',
      help: 'Authenticator internals: key-set and discovery fetches (ok / failed), verified-token and introspection cache hits and misses.',
      labelNames: ['authenticator', 'event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [name, a] of self.gateway().authenticators) {
          for (const [event, n] of Object.entries(a.stats)) this.inc({ authenticator: name, event }, n);
        }
      },
    });
    new client.Counter({
      name: 'portcullis_store_events_total',
      help: 'Shared store: calls, errors (timeouts, connection loss) and fallbacks to the onError policy.',
      labelNames: ['store', 'event'],
      registers: [registry],
      collect() {
        this.reset();
        const store = self.gateway().store;
        for (const [event, n] of Object.entries(store.stats)) this.inc({ store: store.kind, event }, n);
      },
    });
  }

  /** The gateway whose upstreams and authenticators are read at scrape time (the one in effect, after reloads too). */
  setGateway(gateway: () => Gateway): void {
    this.gateway = gateway;
  }

  setConnections(source: ConnectionGauges): void {
    this.connections = source;
  }

  /** Called once per finished request (also for requests refused before routing). */
  observe(ctx: RequestContext, now: number): void {
    const route = ctx.route?.name ?? NO_ROUTE;
    const method = METHOD_INDEX.get(ctx.method) ?? OTHER_METHOD;
    const statusClass = ctx.status >= 100 && ctx.status < 600 ? Math.floor(ctx.status / 100) : 0;
    const upstream = ctx.upstream?.name ?? '';
    let byUpstream = this.requests.get(route);
    if (byUpstream === undefined) {
      byUpstream = new Map();
      this.requests.set(route, byUpstream);
    }
    let counts = byUpstream.get(upstream);
    if (counts === undefined) {
      counts = new Float64Array(METHOD_NAMES.length * STATUS_CLASSES.length);
      byUpstream.set(upstream, counts);
    }
    (counts[method * STATUS_CLASSES.length + statusClass] as number)++;

    const decisions = ctx.decisions;
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      if (d.stage === 'authenticate') {
        if (d.decision === 'allow') this.auth.add((ctx.identity?.authenticator ?? '') + SEP + 'success');
        else if (d.decision !== 'skip') this.auth.add(authList(ctx) + SEP + (d.decision === 'deny' ? 'failure' : 'shadow-failure'));
      }
      if (d.decision === 'deny' || d.decision === 'shadow-deny') {
        this.rejections.add(d.stage + SEP + (d.code ?? '') + SEP + d.decision);
        if (d.stage === 'rate-limit' || d.stage === 'pre-auth-limit' || d.stage === 'concurrency' || d.stage === 'abuse-guard') {
          this.rateLimited.add(route + SEP + d.stage + SEP + d.decision);
        }
      }
    }
    // A rejection before any stage ran (no route, bad request, ip filter before the stages): by its code.
    if (ctx.errorCode !== undefined && ctx.errorCode.startsWith('PCL_') && !decisions.some((d) => d.code === ctx.errorCode)) {
      this.rejections.add('request' + SEP + ctx.errorCode + SEP + 'deny');
    }
    const notes = ctx.notes;
    if (notes !== undefined) for (const n of notes) this.notes.add(noteKind(n));

    let h = this.totalSeries.get(route);
    if (h === undefined) {
      h = this.total.series({ route });
      this.totalSeries.set(route, h);
    }
    FastHistogram.observe(h, (now - ctx.startedAt) / 1000);
    if (ctx.upstreamMs >= 0 && upstream !== '') {
      let byUpstream = this.upstreamSeries.get(route);
      if (byUpstream === undefined) {
        byUpstream = new Map();
        this.upstreamSeries.set(route, byUpstream);
      }
      let u = byUpstream.get(upstream);
      if (u === undefined) {
        u = this.upstreamLatency.series({ route, upstream });
        byUpstream.set(upstream, u);
      }
      FastHistogram.observe(u, ctx.upstreamMs / 1000);
    }
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.loopDelay.disable();
  }
}

function counterFrom(registry: client.Registry, name: string, help: string, labelNames: string[], source: KeyedCounts): void {
  new client.Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, n] of source.counts) {
        const values = key.split(SEP);
        const labels: Record<string, string> = {};
        for (let i = 0; i < labelNames.length; i++) labels[labelNames[i]!] = values[i] ?? '';
        this.inc(labels, n);
      }
    },
  });
}

function authList(ctx: RequestContext): string {
  return ctx.route?.authNames ?? '';
}

/** The kind of a note, its first word (`retry after 503 from ...` → `retry`): bounded, whatever the note's details. */
function noteKind(note: string): string {
  let end = 0;
  while (end < note.length && end < 24) {
    const c = note.charCodeAt(end);
    if (!((c >= 97 && c <= 122) || c === 45)) break; // a-z, '-'
    end++;
  }
  return end === 0 ? 'other' : note.slice(0, end);
}
