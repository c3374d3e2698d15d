/**
 * Merging the live data of several processes (the workers of a cluster, `server.workers` > 1) into
 * what one process would show (GET /live, GET /events). Exact: seconds are summed by timestamp, the
 * latency percentiles come from the summed histograms (never from averaging percentiles), the top-k
 * counters are summed whole (each worker sends all of its up to TOP_K entries) before the top is
 * taken. Pure functions; src/cluster/cluster-live.ts collects the parts.
 */
import { NB, quantile, RECENT_REJECTIONS, type LivePoint, type LiveWire, type RejectionEntry, type RouteCounters, type SparseHistogram, type ThreatCounters, type TopEntry, type UpstreamLive } from './live.ts';

export interface MergedLive {
  /** Every second of `from..to`, oldest first (a second no part had is all zeros). */
  series: LivePoint[];
  routes: Record<string, RouteCounters>;
  upstreams: Record<string, UpstreamLive>;
  threats: Record<string, ThreatCounters>;
  topClientIps: TopEntry[];
  topConsumers: TopEntry[];
}

/** How many entries the top client IPs and consumers show (as LiveRecorder.snapshot). */
export const TOP_SHOWN = 10;

function addSparse(into: Uint32Array, h: SparseHistogram): void {
  for (let i = 0; i + 1 < h.length; i += 2) {
    const b = h[i] as number;
    if (b >= 0 && b < NB) into[b]! += h[i + 1] as number;
  }
}

function sum<T extends object>(into: Record<string, T>, from: Record<string, T>, make: () => T): void {
  for (const [name, v] of Object.entries(from)) {
    const acc = (into[name] ??= make()) as Record<string, number>;
    for (const [k, n] of Object.entries(v as Record<string, number>)) if (typeof n === 'number') acc[k] = (acc[k] ?? 0) + n;
  }
}

/** The parts' seconds `from..to` aligned by timestamp and summed; counters summed; top-k of the summed counts. */
export function mergeLive(parts: readonly LiveWire[], from: number, to: number, topN = TOP_SHOWN): MergedLive {
  const seconds = new Map<number, { requests: number; errors: number; rejections: Record<string, number>; h: Uint32Array }>();
  for (const p of parts) {
    for (const pt of p.points) {
      if (pt.t < from || pt.t > to) continue;
      let s = seconds.get(pt.t);
      if (s === undefined) seconds.set(pt.t, (s = { requests: 0, errors: 0, rejections: {}, h: new Uint32Array(NB) }));
      s.requests += pt.requests;
      s.errors += pt.errors;
      for (const [stage, n] of Object.entries(pt.rejections)) s.rejections[stage] = (s.rejections[stage] ?? 0) + n;
      addSparse(s.h, pt.h);
    }
  }
  const series: LivePoint[] = [];
  for (let t = from; t <= to; t++) {
    const s = seconds.get(t);
    series.push(s === undefined
      ? { t, requests: 0, errors: 0, p50: null, p99: null, rejections: {} }
      : { t, requests: s.requests, errors: s.errors, p50: quantile(s.h, 0, 0.5), p99: quantile(s.h, 0, 0.99), rejections: s.rejections });
  }

  const routes: Record<string, RouteCounters> = {};
  const threats: Record<string, ThreatCounters> = {};
  const up = new Map<string, { requests: number; errors: number; h: Uint32Array }>();
  for (const p of parts) {
    sum(routes, p.routes, () => ({ requests: 0, errors: 0, rejections: 0, shadowRejections: 0 }));
    sum(threats, p.threats, () => ({ blocked: 0, detected: 0 }));
    for (const [name, u] of Object.entries(p.upstreams)) {
      let acc = up.get(name);
      if (acc === undefined) up.set(name, (acc = { requests: 0, errors: 0, h: new Uint32Array(NB) }));
      acc.requests += u.requests;
      acc.errors += u.errors;
      addSparse(acc.h, u.h);
    }
  }
  const upstreams: Record<string, UpstreamLive> = {};
  for (const [name, u] of up) upstreams[name] = { requests: u.requests, errors: u.errors, p50: quantile(u.h, 0, 0.5), p99: quantile(u.h, 0, 0.99) };

  return {
    series,
    routes,
    upstreams,
    threats,
    topClientIps: mergeTop(parts.map((p) => p.byIp), topN),
    topConsumers: mergeTop(parts.map((p) => p.byConsumer), topN),
  };
}

/** Counts summed by key over every list, then the `n` largest (ties by key, for a stable order). */
export function mergeTop(lists: readonly (readonly (readonly [string, number])[])[], n: number): TopEntry[] {
  const total = new Map<string, number>();
  for (const list of lists) for (const [key, count] of list) total.set(key, (total.get(key) ?? 0) + count);
  return [...total]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([key, count]) => ({ key, count }));
}

/** Rejections of several processes, newest first by time (a process' own order kept on a tie), at most `cap`. */
export function mergeRejections(lists: readonly (readonly RejectionEntry[])[], cap = RECENT_REJECTIONS): RejectionEntry[] {
  const all: RejectionEntry[] = [];
  for (const list of lists) for (const e of list) all.push(e);
  return all.sort((a, b) => b.time - a.time || b.seq - a.seq).slice(0, cap);
}
