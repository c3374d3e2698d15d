/**
 * Live data for the admin dashboard (GET /live, GET /events): what the gateway is doing right now
 * and why it blocked what it blocked, bounded in memory whatever the traffic.
 *
 * - A per-second ring of the last 15 minutes: requests, 5xx answers, p50/p99 latency (from a
 *   bucketed histogram per second, never by sorting samples) and enforced rejections by stage.
 * - The last 200 rejections (enforced and shadow) with their decision records: time, route, method,
 *   path without its query, status, code, reason, client IP, consumer id and the stage records.
 *   Never a header value, a token, an API key or a cookie: the context holds none of them.
 * - Rejections by client IP and by consumer: bounded top-k counters (Space-Saving, 256 entries).
 * - Threat detections by detector (blocked, and detected but let through: shadow or under the threshold).
 * - Per route: requests, 5xx, rejections, shadow rejections; per upstream: requests, 5xx and the
 *   latency histogram of the current and the previous minute.
 *
 * `observe` runs once per finished request (the access-log hook): plain array and counter updates,
 * one Map lookup per route and per upstream; an object is allocated only for a rejection entry.
 */
import { performance } from 'node:perf_hooks';
import type { RequestContext, DecisionEntry } from '../pipeline/context.ts';

export const WINDOW_SECONDS = 900;
export const RECENT_REJECTIONS = 200;
export const TOP_K = 256;

/** Upper bounds (ms) of the latency buckets; the last bucket is everything above. */
export const BOUNDS = [0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000];
/** Latency buckets per histogram. */
export const NB = BOUNDS.length + 1;
const MAX_PATH = 256;
const THREAT_RULE = /(?:^|; |: )([a-z0-9]+)\.[a-z0-9.-]+ at /g;

export interface RejectionEntry {
  seq: number;
  time: number;
  route: string | null;
  method: string;
  path: string;
  status: number;
  code: string | null;
  reason: string | null;
  clientIp: string;
  consumer: string | null;
  /** The stage that rejected (`request` before any stage ran). */
  stage: string;
  /** True when the route or stage runs in shadow mode: recorded, the request went through. */
  shadow: boolean;
  decisions: readonly DecisionEntry[];
}

export interface LivePoint {
  t: number;
  requests: number;
  errors: number;
  p50: number | null;
  p99: number | null;
  rejections: Record<string, number>;
}

export interface RouteCounters { requests: number; errors: number; rejections: number; shadowRejections: number }
export interface UpstreamLive { requests: number; errors: number; p50: number | null; p99: number | null }
export interface ThreatCounters { blocked: number; detected: number }
export interface TopEntry { key: string; count: number }

/** GET /live. A cluster primary adds `workers`: how many workers' data it holds. */
export interface LiveSnapshot {
  now: number;
  windowSeconds: number;
  series: LivePoint[];
  routes: Record<string, RouteCounters>;
  upstreams: Record<string, UpstreamLive>;
  /** Newest first. */
  rejections: RejectionEntry[];
  topClientIps: TopEntry[];
  topConsumers: TopEntry[];
  threats: Record<string, ThreatCounters>;
  lastSeq: number;
  workers?: { answered: number; total: number };
}

/** One GET /events `tick`. */
export interface LiveTick {
  point: LivePoint;
  routes: Record<string, RouteCounters>;
  upstreams: Record<string, UpstreamLive>;
  threats: Record<string, ThreatCounters>;
  topClientIps: TopEntry[];
  topConsumers: TopEntry[];
  /** After the stream's cursor, oldest first. */
  rejections: RejectionEntry[];
  lastSeq: number;
  workers?: { answered: number; total: number };
}

/**
 * What the admin listener reads for GET /live and GET /events: a process' own LiveRecorder, or in a
 * cluster primary the workers' recorders merged (src/cluster/cluster-live.ts).
 */
export interface LiveSource {
  /** The newest rejection's sequence number (a stream opened without `?after=` starts there). */
  readonly lastSeq: number;
  snapshot(): LiveSnapshot | Promise<LiveSnapshot>;
  /** One collection for every open stream: the tick of a stream whose cursor is `after`. */
  ticks(): ((after: number) => LiveTick) | Promise<(after: number) => LiveTick>;
}

/**
 * A latency histogram on the wire, sparse: `[bucket, count, bucket, count, ...]` for its non-empty
 * buckets (JSON-friendly; a second with few requests fills few buckets).
 */
export type SparseHistogram = number[];

/** A second as a cluster worker sends it to the primary: the histogram instead of its percentiles. */
export interface WirePoint {
  t: number;
  requests: number;
  errors: number;
  rejections: Record<string, number>;
  h: SparseHistogram;
}

/**
 * A worker's live data as the cluster primary asks for it (IPC): exact enough to merge. Seconds as
 * histograms, upstream latency as histograms, the top-k counters whole (up to TOP_K entries each).
 */
export interface LiveWire {
  /** The seconds of the asked range that had a request (seconds without any are left out), oldest first. */
  points: WirePoint[];
  routes: Record<string, RouteCounters>;
  upstreams: Record<string, { requests: number; errors: number; h: SparseHistogram }>;
  threats: Record<string, ThreatCounters>;
  byIp: [string, number][];
  byConsumer: [string, number][];
  /** The rejections after the asked cursor, oldest first (at most the ring). */
  rejections: RejectionEntry[];
  lastSeq: number;
}

interface UpstreamCounters { requests: number; errors: number; minute: number; current: Uint32Array; previous: Uint32Array }

/** Space-Saving top-k: at most `k` keys; a new key evicts the smallest and inherits its count (an over-estimate bound). */
export class TopK {
  private readonly k: number;
  readonly counts = new Map<string, number>();
  constructor(k: number) {
    this.k = k;
  }
  add(key: string): void {
    const c = this.counts.get(key);
    if (c !== undefined) {
      this.counts.set(key, c + 1);
      return;
    }
    if (this.counts.size < this.k) {
      this.counts.set(key, 1);
      return;
    }
    let minKey = '';
    let min = Infinity;
    for (const [k, v] of this.counts) if (v < min) {
      min = v;
      minKey = k;
    }
    this.counts.delete(minKey);
    this.counts.set(key, min + 1);
  }
  top(n: number): { key: string; count: number }[] {
    return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([key, count]) => ({ key, count }));
  }
}

function bucketOf(ms: number): number {
  let lo = 0;
  let hi = BOUNDS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= (BOUNDS[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The q-quantile (0..1) of a bucketed histogram, interpolated inside its bucket; null when empty. */
export function quantile(h: ArrayLike<number>, offset: number, q: number): number | null {
  let total = 0;
  for (let i = 0; i < NB; i++) total += h[offset + i] as number;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < NB; i++) {
    const c = h[offset + i] as number;
    if (c > 0 && seen + c >= rank) {
      const lo = i === 0 ? 0 : (BOUNDS[i - 1] as number);
      const hi = i < BOUNDS.length ? (BOUNDS[i] as number) : lo * 2;
      return Math.round((lo + ((rank - seen) / c) * (hi - lo)) * 1000) / 1000;
    }
    seen += c;
  }
  return BOUNDS[BOUNDS.length - 1] as number;
}

/** The non-empty buckets of `h[offset .. offset + NB)` as `[bucket, count, ...]`. */
export function sparse(h: ArrayLike<number>, offset: number): SparseHistogram {
  const out: number[] = [];
  for (let i = 0; i < NB; i++) {
    const c = h[offset + i] as number;
    if (c > 0) out.push(i, c);
  }
  return out;
}

export class LiveRecorder implements LiveSource {
  private readonly origin = performance.timeOrigin;
  /** The second (epoch seconds) the ring's newest slot holds. */
  private sec = Math.floor(Date.now() / 1000);
  private readonly requests = new Uint32Array(WINDOW_SECONDS);
  private readonly errors = new Uint32Array(WINDOW_SECONDS);
  private readonly latency = new Uint32Array(WINDOW_SECONDS * NB);
  /** stage → enforced rejections per slot (stage names are bounded by the config). */
  private readonly stageRejections = new Map<string, Uint32Array>();
  private readonly recent: (RejectionEntry | undefined)[] = new Array(RECENT_REJECTIONS);
  private seq = 0;
  readonly byIp = new TopK(TOP_K);
  readonly byConsumer = new TopK(TOP_K);
  private readonly threats = new Map<string, { blocked: number; detected: number }>();
  private readonly routes = new Map<string, RouteCounters>();
  private readonly upstreams = new Map<string, UpstreamCounters>();
  readonly startedAt = Date.now();

  /** Called once per finished request (also for requests refused before routing). */
  observe(ctx: RequestContext, now: number): void {
    const epochMs = this.origin + now;
    const sec = Math.floor(epochMs / 1000);
    if (sec !== this.sec) this.advance(sec);
    const slot = sec % WINDOW_SECONDS;
    this.requests[slot]!++;
    const status = ctx.status;
    const error = status >= 500;
    if (error) this.errors[slot]!++;
    this.latency[slot * NB + bucketOf(now - ctx.startedAt)]!++;

    const route = ctx.route;
    let rc: RouteCounters | undefined;
    if (route !== undefined) {
      rc = this.routes.get(route.name);
      if (rc === undefined) this.routes.set(route.name, (rc = { requests: 0, errors: 0, rejections: 0, shadowRejections: 0 }));
      rc.requests++;
      if (error) rc.errors++;
    }
    const upstream = ctx.upstream;
    if (upstream !== undefined) {
      let uc = this.upstreams.get(upstream.name);
      if (uc === undefined) this.upstreams.set(upstream.name, (uc = { requests: 0, errors: 0, minute: 0, current: new Uint32Array(NB), previous: new Uint32Array(NB) }));
      uc.requests++;
      if (error) uc.errors++;
      if (ctx.upstreamMs >= 0) {
        const minute = Math.floor(sec / 60);
        if (minute !== uc.minute) {
          if (minute === uc.minute + 1) uc.previous.set(uc.current);
          else uc.previous.fill(0);
          uc.current.fill(0);
          uc.minute = minute;
        }
        uc.current[bucketOf(ctx.upstreamMs)]!++;
      }
    }

    // Rejections: a deny (or shadow-deny) in the decision record, or a refusal before any stage ran.
    const decisions = ctx.decisions;
    let deny: DecisionEntry | undefined;
    let shadow: DecisionEntry | undefined;
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      if (d.decision === 'deny') deny = d;
      else if (d.decision === 'shadow-deny') shadow ??= d;
      if (d.stage === 'threats' && (d.decision === 'deny' || d.decision === 'shadow-deny') && d.detail !== undefined) this.threat(d.detail, d.decision === 'deny');
    }
    const notes = ctx.notes;
    if (notes !== undefined) for (const n of notes) if (n.startsWith('threat score')) this.threat(n, false);
    const code = ctx.errorCode;
    const refused = deny === undefined && code !== undefined && status >= 400 && status < 500;
    if (deny === undefined && shadow === undefined && !refused) return;
    const stage = deny?.stage ?? (refused ? 'request' : shadow!.stage);
    const enforced = deny !== undefined || refused;
    if (enforced) {
      let perStage = this.stageRejections.get(stage);
      if (perStage === undefined) this.stageRejections.set(stage, (perStage = new Uint32Array(WINDOW_SECONDS)));
      perStage[slot]!++;
      this.byIp.add(ctx.clientIp);
      const consumer = ctx.identity?.consumerId;
      if (consumer !== undefined) this.byConsumer.add(consumer);
      if (rc !== undefined) rc.rejections++;
    } else if (rc !== undefined) rc.shadowRejections++;
    const seq = ++this.seq;
    this.recent[seq % RECENT_REJECTIONS] = {
      seq,
      time: Math.round(epochMs),
      route: route?.name ?? null,
      method: ctx.method,
      path: ctx.path.length > MAX_PATH ? `${ctx.path.slice(0, MAX_PATH)}…` : ctx.path,
      status,
      code: code ?? (enforced ? null : (shadow!.code ?? null)),
      reason: ctx.errorReason ?? (enforced ? null : (shadow!.detail ?? null)),
      clientIp: ctx.clientIp,
      consumer: ctx.identity?.consumerId ?? null,
      stage,
      shadow: !enforced,
      decisions,
    };
  }

  private threat(summary: string, blocked: boolean): void {
    const seen = new Set<string>();
    for (const m of summary.matchAll(THREAT_RULE)) seen.add(m[1] as string);
    for (const detector of seen) {
      let t = this.threats.get(detector);
      if (t === undefined) {
        if (this.threats.size >= 64) continue;
        this.threats.set(detector, (t = { blocked: 0, detected: 0 }));
      }
      if (blocked) t.blocked++;
      else t.detected++;
    }
  }

  /** Moves the ring to `sec`, clearing the slots of the seconds that had no request. */
  private advance(sec: number): void {
    if (sec < this.sec) return; // the clock went back: keep adding to the newest slot's second
    const steps = Math.min(sec - this.sec, WINDOW_SECONDS);
    for (let i = 1; i <= steps; i++) {
      const slot = (this.sec + i) % WINDOW_SECONDS;
      this.requests[slot] = 0;
      this.errors[slot] = 0;
      this.latency.fill(0, slot * NB, slot * NB + NB);
      for (const a of this.stageRejections.values()) a[slot] = 0;
    }
    this.sec = sec;
  }

  /** The finished second `t` (epoch seconds), or null when it is out of the window. */
  point(t: number): LivePoint {
    this.advance(Math.floor(Date.now() / 1000));
    if (t > this.sec || t <= this.sec - WINDOW_SECONDS) return { t, requests: 0, errors: 0, p50: null, p99: null, rejections: {} };
    const slot = t % WINDOW_SECONDS;
    const rejections: Record<string, number> = {};
    for (const [stage, a] of this.stageRejections) if (a[slot]! > 0) rejections[stage] = a[slot]!;
    return {
      t,
      requests: this.requests[slot]!,
      errors: this.errors[slot]!,
      p50: quantile(this.latency, slot * NB, 0.5),
      p99: quantile(this.latency, slot * NB, 0.99),
      rejections,
    };
  }

  /** The last finished second (epoch seconds). */
  lastSecond(): number {
    return Math.floor(Date.now() / 1000) - 1;
  }

  /** Every finished second of the window, oldest first. */
  series(): LivePoint[] {
    const last = this.lastSecond();
    const out: LivePoint[] = [];
    for (let t = last - WINDOW_SECONDS + 2; t <= last; t++) out.push(this.point(t));
    return out;
  }

  /** Rejections recorded after `afterSeq`, oldest first (at most the ring). */
  rejectionsAfter(afterSeq: number): RejectionEntry[] {
    const out: RejectionEntry[] = [];
    const from = Math.max(afterSeq + 1, this.seq - RECENT_REJECTIONS + 1, 1);
    for (let s = from; s <= this.seq; s++) {
      const e = this.recent[s % RECENT_REJECTIONS];
      if (e !== undefined && e.seq === s) out.push(e);
    }
    return out;
  }

  get lastSeq(): number {
    return this.seq;
  }

  routeCounters(): Record<string, RouteCounters> {
    return Object.fromEntries(this.routes);
  }

  upstreamCounters(): Record<string, UpstreamLive> {
    const minute = Math.floor(Date.now() / 60_000);
    const out: Record<string, UpstreamLive> = {};
    for (const [name, u] of this.upstreams) {
      const h = upstreamHistogram(u, minute);
      out[name] = { requests: u.requests, errors: u.errors, p50: quantile(h, 0, 0.5), p99: quantile(h, 0, 0.99) };
    }
    return out;
  }

  threatCounters(): Record<string, ThreatCounters> {
    return Object.fromEntries(this.threats);
  }

  /** Everything the dashboard shows at load (GET /live). */
  snapshot(): LiveSnapshot {
    return {
      now: Date.now(),
      windowSeconds: WINDOW_SECONDS,
      series: this.series(),
      routes: this.routeCounters(),
      upstreams: this.upstreamCounters(),
      rejections: this.rejectionsAfter(0).reverse(),
      topClientIps: this.byIp.top(10),
      topConsumers: this.byConsumer.top(10),
      threats: this.threatCounters(),
      lastSeq: this.seq,
    };
  }

  /** One SSE tick: the last finished second, the counters and the rejections after `afterSeq`. */
  tick(afterSeq: number): LiveTick {
    return {
      point: this.point(this.lastSecond()),
      routes: this.routeCounters(),
      upstreams: this.upstreamCounters(),
      threats: this.threatCounters(),
      topClientIps: this.byIp.top(10),
      topConsumers: this.byConsumer.top(10),
      rejections: this.rejectionsAfter(afterSeq),
      lastSeq: this.seq,
    };
  }

  ticks(): (after: number) => LiveTick {
    return (after) => this.tick(after);
  }

  /**
   * This recorder's data for a cluster primary (IPC): the seconds `from..to` (epoch seconds,
   * clamped to the window) that had a request, with their histograms; the counters; the top-k
   * counters whole; the rejections after `after`. The primary merges every worker's
   * (src/observability/live-merge.ts).
   */
  wire(from: number, to: number, after: number): LiveWire {
    this.advance(Math.floor(Date.now() / 1000));
    const points: WirePoint[] = [];
    const lo = Math.max(from, this.sec - WINDOW_SECONDS + 1);
    const hi = Math.min(to, this.sec);
    for (let t = lo; t <= hi; t++) {
      const slot = t % WINDOW_SECONDS;
      const requests = this.requests[slot]!;
      if (requests === 0) continue;
      const rejections: Record<string, number> = {};
      for (const [stage, a] of this.stageRejections) if (a[slot]! > 0) rejections[stage] = a[slot]!;
      points.push({ t, requests, errors: this.errors[slot]!, rejections, h: sparse(this.latency, slot * NB) });
    }
    const minute = Math.floor(Date.now() / 60_000);
    const upstreams: LiveWire['upstreams'] = {};
    for (const [name, u] of this.upstreams) upstreams[name] = { requests: u.requests, errors: u.errors, h: sparse(upstreamHistogram(u, minute), 0) };
    return {
      points,
      routes: this.routeCounters(),
      upstreams,
      threats: this.threatCounters(),
      byIp: [...this.byIp.counts],
      byConsumer: [...this.byConsumer.counts],
      rejections: this.rejectionsAfter(after),
      lastSeq: this.seq,
    };
  }
}

/** An upstream's latency of the last full minute and the current one together (older windows are stale). */
function upstreamHistogram(u: UpstreamCounters, minute: number): Uint32Array {
  const h = new Uint32Array(NB);
  if (u.minute === minute || u.minute === minute - 1) for (let i = 0; i < NB; i++) h[i] = u.current[i]! + (u.minute === minute ? u.previous[i]! : 0);
  return h;
}
