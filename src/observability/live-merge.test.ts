import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import type { CompiledRoute } from '../config/gateway.ts';
import { RequestContext, type DecisionEntry } from '../pipeline/context.ts';
import type { AnyRequest } from '../upstream/proxy.ts';
import type { Upstream } from '../upstream/upstream.ts';
import { LiveRecorder, RECENT_REJECTIONS, type LiveWire, type RejectionEntry, type WirePoint } from './live.ts';
import { mergeLive, mergeRejections, mergeTop } from './live-merge.ts';

function request(live: LiveRecorder, o: { ms: number; at: number; status?: number; route?: string; upstream?: string; upstreamMs?: number; ip?: string; deny?: DecisionEntry }): void {
  const c = new RequestContext({
    requestId: 'r', startedAt: o.at - o.ms, method: 'GET', host: 'h', path: '/x', query: '',
    clientIp: o.ip ?? '192.0.2.1', peerIp: '127.0.0.1', secure: false, httpVersion: '1.1', request: {} as AnyRequest,
  });
  c.status = o.status ?? 200;
  if (o.route !== undefined) c.route = { name: o.route } as CompiledRoute;
  if (o.upstream !== undefined) {
    c.upstream = { name: o.upstream } as Upstream;
    c.upstreamMs = o.upstreamMs ?? o.ms;
  }
  if (o.deny !== undefined) {
    c.decisions = [o.deny];
    c.errorCode = o.deny.code;
  }
  live.observe(c, o.at);
}

function wire(points: WirePoint[], extra: Partial<LiveWire> = {}): LiveWire {
  return { points, routes: {}, upstreams: {}, threats: {}, byIp: [], byConsumer: [], rejections: [], lastSeq: 0, ...extra };
}

function rejection(seq: number, time: number, ip = '192.0.2.1'): RejectionEntry {
  return { seq, time, route: 'r', method: 'GET', path: '/x', status: 401, code: 'PCL_AUTHN_INVALID_CREDENTIALS', reason: null, clientIp: ip, consumer: null, stage: 'authenticate', shadow: false, decisions: [] };
}

describe('live merge (cluster workers)', () => {
  it('aligns the seconds by timestamp and sums them; a second no worker had is zero', () => {
    const a = wire([
      { t: 100, requests: 3, errors: 1, rejections: { authenticate: 2 }, h: [2, 3] },
      { t: 101, requests: 1, errors: 0, rejections: { authenticate: 1 }, h: [4, 1] },
    ]);
    const b = wire([
      { t: 101, requests: 5, errors: 2, rejections: { authenticate: 1, rateLimit: 4 }, h: [4, 5] },
      { t: 104, requests: 2, errors: 0, rejections: {}, h: [1, 2] },
      { t: 99, requests: 7, errors: 0, rejections: {}, h: [1, 7] }, // before the asked range: left out
    ]);
    const m = mergeLive([a, b], 100, 103);
    assert.deepEqual(m.series.map((p) => p.t), [100, 101, 102, 103]);
    assert.deepEqual(m.series.map((p) => [p.requests, p.errors]), [[3, 1], [6, 2], [0, 0], [0, 0]]);
    assert.deepEqual(m.series[0]?.rejections, { authenticate: 2 });
    assert.deepEqual(m.series[1]?.rejections, { authenticate: 2, rateLimit: 4 });
    assert.deepEqual(m.series[2], { t: 102, requests: 0, errors: 0, p50: null, p99: null, rejections: {} });
  });

  it('p50 and p99 of the merged histograms equal those of one recorder that saw every request', () => {
    const at = performance.now();
    const fast = new LiveRecorder();
    const slow = new LiveRecorder();
    const all = new LiveRecorder();
    for (let i = 0; i < 90; i++) {
      request(fast, { ms: 2, at, route: 'a', upstream: 'u', upstreamMs: 1.5 });
      request(all, { ms: 2, at, route: 'a', upstream: 'u', upstreamMs: 1.5 });
    }
    for (let i = 0; i < 10; i++) {
      request(slow, { ms: 400, at, status: i < 3 ? 502 : 200, route: 'a', upstream: 'u', upstreamMs: 390 });
      request(all, { ms: 400, at, status: i < 3 ? 502 : 200, route: 'a', upstream: 'u', upstreamMs: 390 });
    }
    const t = Math.floor((performance.timeOrigin + at) / 1000);
    const m = mergeLive([fast.wire(t, t, 0), slow.wire(t, t, 0)], t, t);
    const expected = all.point(t);
    assert.deepEqual(m.series[0], expected);
    assert.ok(expected.p50! <= 3 && expected.p99! > 300, JSON.stringify(expected));
    // Averaging the two workers' percentiles would give neither.
    const fp = fast.point(t);
    const sp = slow.point(t);
    assert.notEqual(m.series[0]?.p99, (fp.p99! + sp.p99!) / 2);
    assert.deepEqual(m.routes, all.routeCounters());
    assert.deepEqual(m.upstreams, all.upstreamCounters());
  });

  it('recent rejections: newest first by time across workers, at most the cap', () => {
    const w1 = Array.from({ length: 150 }, (_, i) => rejection(i + 1, 1_000 + i * 2)); // even times
    const w2 = Array.from({ length: 150 }, (_, i) => rejection(i + 1, 1_001 + i * 2, '192.0.2.2')); // odd times
    const merged = mergeRejections([w1, w2]);
    assert.equal(merged.length, RECENT_REJECTIONS);
    const times = merged.map((e) => e.time);
    assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');
    assert.equal(times[0], 1_299);
    assert.equal(times[RECENT_REJECTIONS - 1], 1_299 - RECENT_REJECTIONS + 1);
    assert.equal(new Set(merged.map((e) => e.clientIp)).size, 2, 'both workers');
    assert.deepEqual(mergeRejections([w1.slice(0, 2), w2.slice(0, 1)], 2).map((e) => e.time), [1_002, 1_001]);
  });

  it('top client IPs and consumers: the workers\' counters summed, then the top k', () => {
    // c is first on neither worker, but first in the sum.
    const top = mergeTop([[['a', 10], ['c', 7], ['d', 1]], [['b', 9], ['c', 6], ['d', 1]]], 3);
    assert.deepEqual(top, [{ key: 'c', count: 13 }, { key: 'a', count: 10 }, { key: 'b', count: 9 }]);
    const m = mergeLive([wire([], { byIp: [['10.0.0.1', 2]], byConsumer: [['alpha', 1]] }), wire([], { byIp: [['10.0.0.1', 3], ['10.0.0.2', 4]] })], 1, 1, 1);
    assert.deepEqual(m.topClientIps, [{ key: '10.0.0.1', count: 5 }]);
    assert.deepEqual(m.topConsumers, [{ key: 'alpha', count: 1 }]);
  });

  it('route counters, threats by detector and upstream counters summed', () => {
    const a = wire([], {
      routes: { r: { requests: 3, errors: 1, rejections: 1, shadowRejections: 0 } },
      threats: { sqli: { blocked: 2, detected: 1 } },
      upstreams: { u: { requests: 3, errors: 1, h: [2, 3] } },
    });
    const b = wire([], {
      routes: { r: { requests: 4, errors: 0, rejections: 2, shadowRejections: 1 }, s: { requests: 1, errors: 0, rejections: 0, shadowRejections: 0 } },
      threats: { sqli: { blocked: 1, detected: 0 }, xss: { blocked: 0, detected: 5 } },
      upstreams: { u: { requests: 4, errors: 0, h: [2, 4] } },
    });
    const m = mergeLive([a, b], 1, 1);
    assert.deepEqual(m.routes, { r: { requests: 7, errors: 1, rejections: 3, shadowRejections: 1 }, s: { requests: 1, errors: 0, rejections: 0, shadowRejections: 0 } });
    assert.deepEqual(m.threats, { sqli: { blocked: 3, detected: 1 }, xss: { blocked: 0, detected: 5 } });
    assert.equal(m.upstreams.u?.requests, 7);
    assert.ok(m.upstreams.u!.p50! > 0.5 && m.upstreams.u!.p50! <= 1, JSON.stringify(m.upstreams));
  });

  it('a worker\'s wire data: only the seconds with requests, the rejections after the cursor', () => {
    const live = new LiveRecorder();
    const at = performance.now();
    const deny: DecisionEntry = { stage: 'authenticate', decision: 'deny', code: 'PCL_AUTHN_INVALID_CREDENTIALS', ms: 0 };
    request(live, { ms: 1, at });
    request(live, { ms: 1, at, status: 401, deny });
    request(live, { ms: 1, at, status: 401, deny, ip: '192.0.2.9' });
    const t = Math.floor((performance.timeOrigin + at) / 1000);
    const w = live.wire(t - 10, t, 1);
    assert.deepEqual(w.points.map((p) => [p.t, p.requests, p.rejections]), [[t, 3, { authenticate: 2 }]]);
    assert.deepEqual(w.rejections.map((e) => e.seq), [2]);
    assert.equal(w.lastSeq, 2);
    assert.deepEqual(new Map(w.byIp), new Map([['192.0.2.1', 1], ['192.0.2.9', 1]]));
    assert.deepEqual(JSON.parse(JSON.stringify(w)), w, 'JSON as sent over IPC');
  });
});
