import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import type { CompiledRoute } from '../config/gateway.ts';
import { RequestContext, type DecisionEntry } from '../pipeline/context.ts';
import type { AnyRequest } from '../upstream/proxy.ts';
import { LiveRecorder, quantile, RECENT_REJECTIONS, TOP_K, TopK, WINDOW_SECONDS } from './live.ts';

function ctx(o: { ms?: number; status?: number; route?: string; ip?: string; decisions?: DecisionEntry[]; code?: string; path?: string; at?: number }): { c: RequestContext; now: number } {
  const now = o.at ?? performance.now();
  const c = new RequestContext({
    requestId: 'r', startedAt: now - (o.ms ?? 1), method: 'GET', host: 'h', path: o.path ?? '/x', query: 'token=secret',
    clientIp: o.ip ?? '192.0.2.1', peerIp: '127.0.0.1', secure: false, httpVersion: '1.1', request: {} as AnyRequest,
  });
  c.status = o.status ?? 200;
  if (o.route !== undefined) c.route = { name: o.route } as CompiledRoute;
  if (o.decisions) c.decisions = o.decisions;
  if (o.code !== undefined) c.errorCode = o.code;
  return { c, now };
}

describe('live recorder', () => {
  it('quantiles from the bucketed histogram', () => {
    const h = new Uint32Array(25);
    assert.equal(quantile(h, 0, 0.5), null);
    h[2] = 100; // (0.5, 1] ms
    const p50 = quantile(h, 0, 0.5)!;
    assert.ok(p50 > 0.5 && p50 <= 1, String(p50));
  });

  it('counts requests, errors and rejections by stage in the current second; latency percentiles', () => {
    const live = new LiveRecorder();
    for (let i = 0; i < 99; i++) {
      const { c, now } = ctx({ ms: 2, route: 'a' });
      live.observe(c, now);
    }
    const { c, now } = ctx({ ms: 900, status: 503, route: 'a' });
    live.observe(c, now);
    const deny: DecisionEntry = { stage: 'authenticate', decision: 'deny', code: 'PCL_AUTHN_INVALID_CREDENTIALS', detail: 'keys: unknown API key', ms: 0.1 };
    const r = ctx({ status: 401, route: 'a', decisions: [deny], code: 'PCL_AUTHN_INVALID_CREDENTIALS', path: '/login' });
    live.observe(r.c, r.now);
    const sec = Math.floor((performance.timeOrigin + r.now) / 1000);
    const p = live.point(sec);
    assert.equal(p.requests, 101);
    assert.equal(p.errors, 1);
    assert.deepEqual(p.rejections, { authenticate: 1 });
    assert.ok(p.p50! <= 3 && p.p99! >= 2, JSON.stringify(p));
    assert.deepEqual(live.routeCounters().a, { requests: 101, errors: 1, rejections: 1, shadowRejections: 0 });
    const [entry] = live.rejectionsAfter(0);
    assert.equal(entry?.path, '/login');
    assert.equal(entry?.stage, 'authenticate');
    assert.ok(!JSON.stringify(entry).includes('secret'), 'no query string');
  });

  it('a refusal before any stage counts as stage "request"; shadow denies only as shadow', () => {
    const live = new LiveRecorder();
    const a = ctx({ status: 404, code: 'PCL_ROUTE_NOT_FOUND' });
    live.observe(a.c, a.now);
    const b = ctx({ route: 'r', decisions: [{ stage: 'authenticate', decision: 'shadow-deny', code: 'X', ms: 0 }] });
    live.observe(b.c, b.now);
    const sec = Math.floor((performance.timeOrigin + b.now) / 1000);
    assert.deepEqual(live.point(sec).rejections, { request: 1 });
    assert.equal(live.routeCounters().r?.shadowRejections, 1);
    const all = live.rejectionsAfter(0);
    assert.deepEqual(all.map((e) => [e.stage, e.shadow]), [['request', false], ['authenticate', true]]);
  });

  it('stays bounded: old seconds are cleared, the recent list and the top-k never grow past their size', () => {
    const live = new LiveRecorder();
    const t0 = performance.now();
    const first = ctx({ at: t0 });
    live.observe(first.c, first.now);
    const later = ctx({ at: t0 + WINDOW_SECONDS * 1000 });
    live.observe(later.c, later.now);
    const sec0 = Math.floor((performance.timeOrigin + t0) / 1000);
    assert.equal(live.point(sec0).requests, 0, 'a second out of the window');
    for (let i = 0; i < RECENT_REJECTIONS + 50; i++) {
      const r = ctx({ status: 403, code: 'PCL_IP_DENIED', ip: `10.0.${i >> 8}.${i & 255}` });
      live.observe(r.c, r.now);
    }
    const recent = live.rejectionsAfter(0);
    assert.equal(recent.length, RECENT_REJECTIONS);
    assert.equal(recent[recent.length - 1]?.seq, RECENT_REJECTIONS + 50);
    assert.ok(live.byIp.counts.size <= TOP_K);
    const top = new TopK(2);
    for (const k of ['a', 'a', 'a', 'b', 'c', 'c', 'c', 'c']) top.add(k);
    assert.equal(top.counts.size, 2);
    assert.deepEqual(top.top(1), [{ key: 'c', count: 5 }]);
  });

  it('threat detections by detector, from the threats stage record and notes', () => {
    const live = new LiveRecorder();
    const r = ctx({ status: 403, code: 'PCL_THREAT_DETECTED', decisions: [{ stage: 'threats', decision: 'deny', code: 'PCL_THREAT_DETECTED', detail: 'threat score 10/5: sqli.union at query.q +5 "x"; xss.html at body +5 "y"', ms: 0 }] });
    live.observe(r.c, r.now);
    const n = ctx({});
    n.c.note('threat score 3/5: lfi.traversal at path +3 "../"');
    live.observe(n.c, n.now);
    assert.deepEqual(live.threatCounters(), { sqli: { blocked: 1, detected: 0 }, xss: { blocked: 1, detected: 0 }, lfi: { blocked: 0, detected: 1 } });
  });
});
