/**
 * ClusterLive without processes: fake workers answer the primary's `live?` messages from their own
 * LiveRecorder through node:cluster's 'message' event, as real workers do over IPC
 * (test/integration/workers.test.ts runs the real thing).
 */
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import type { CompiledRoute } from '../config/gateway.ts';
import { LiveRecorder } from '../observability/live.ts';
import { RequestContext } from '../pipeline/context.ts';
import type { AnyRequest } from '../upstream/proxy.ts';
import { ClusterLive } from './cluster-live.ts';
import type { PrimaryMessage } from './messages.ts';

interface Fake {
  worker: Worker;
  live: LiveRecorder;
  /** false: the worker keeps quiet (stuck); its answers are never sent. */
  answering: boolean;
  asked: number;
}

function fake(id: number): Fake {
  const f: Fake = { live: new LiveRecorder(), answering: true, asked: 0, worker: undefined as unknown as Worker };
  f.worker = {
    id,
    isConnected: () => true,
    send(m: PrimaryMessage): boolean {
      if (m.pcl !== 'live?') return true;
      f.asked++;
      // Answered like over IPC: later, and as JSON.
      if (f.answering) setImmediate(() => cluster.emit('message', f.worker, JSON.parse(JSON.stringify({ pcl: 'live', id: m.id, data: f.live.wire(m.from, m.to, m.after) }))));
      return true;
    },
  } as unknown as Worker;
  return f;
}

function hit(live: LiveRecorder, status: number, path: string): void {
  const at = performance.now();
  const c = new RequestContext({
    requestId: 'r', startedAt: at - 1, method: 'GET', host: 'h', path, query: '',
    clientIp: '192.0.2.1', peerIp: '127.0.0.1', secure: false, httpVersion: '1.1', request: {} as AnyRequest,
  });
  c.status = status;
  c.route = { name: 'r' } as CompiledRoute;
  if (status === 401) {
    c.decisions = [{ stage: 'authenticate', decision: 'deny', code: 'PCL_AUTHN_MISSING_CREDENTIALS', ms: 0 }];
    c.errorCode = 'PCL_AUTHN_MISSING_CREDENTIALS';
  }
  live.observe(c, at);
}

describe('cluster live data (primary)', () => {
  it('merges every worker\'s data; rejections get the primary\'s numbers and come once per stream', async () => {
    const a = fake(1);
    const b = fake(2);
    const cl = new ClusterLive({ configured: 2, workers: () => [a.worker, b.worker] }, { waitMs: 2_000 });
    hit(a.live, 200, '/a');
    hit(a.live, 401, '/a1');
    hit(b.live, 401, '/b1');
    hit(b.live, 401, '/b2');
    const snap = await cl.snapshot();
    assert.deepEqual(snap.workers, { answered: 2, total: 2 });
    assert.deepEqual(snap.routes.r, { requests: 4, errors: 0, rejections: 3, shadowRejections: 0 });
    assert.equal(snap.series.length, 899);
    assert.equal(snap.lastSeq, 3);
    assert.deepEqual(snap.rejections.map((e) => e.seq).sort(), [1, 2, 3]);
    assert.deepEqual(new Set(snap.rejections.map((e) => e.path)), new Set(['/a1', '/b1', '/b2']));

    // A stream after the snapshot: nothing old; then a new rejection, once.
    let tickFor = await cl.ticks();
    assert.deepEqual(tickFor(snap.lastSeq).rejections, []);
    hit(b.live, 401, '/b3');
    tickFor = await cl.ticks();
    const t = tickFor(snap.lastSeq);
    assert.deepEqual(t.rejections.map((e) => [e.seq, e.path]), [[4, '/b3']]);
    assert.equal(t.lastSeq, 4);
    assert.deepEqual(t.workers, { answered: 2, total: 2 });
    assert.equal(t.routes.r?.requests, 5);
    assert.deepEqual((await cl.ticks())(4).rejections, [], 'taken once from the worker');
  });

  it('a worker that does not answer within the wait is left out, and its rejections come when it answers again', async () => {
    const a = fake(1);
    const b = fake(2);
    const cl = new ClusterLive({ configured: 2, workers: () => [a.worker, b.worker] }, { waitMs: 150 });
    hit(a.live, 401, '/a1');
    hit(b.live, 401, '/b1');
    b.answering = false;
    const started = Date.now();
    const snap = await cl.snapshot();
    assert.ok(Date.now() - started < 1_000, 'bounded by the wait');
    assert.deepEqual(snap.workers, { answered: 1, total: 2 });
    assert.deepEqual(snap.rejections.map((e) => e.path), ['/a1']);
    b.answering = true;
    const tickFor = await cl.ticks();
    const t = tickFor(snap.lastSeq);
    assert.deepEqual(t.workers, { answered: 2, total: 2 });
    assert.deepEqual(t.rejections.map((e) => [e.seq, e.path]), [[2, '/b1']]);
  });

  it('collections run one at a time: a GET /live during a tick\'s collection waits for it, nothing is taken twice', async () => {
    const a = fake(1);
    const cl = new ClusterLive({ configured: 1, workers: () => [a.worker] }, { waitMs: 2_000 });
    for (let i = 0; i < 5; i++) hit(a.live, 401, `/x${i}`);
    const [tickFor, snap] = await Promise.all([cl.ticks(), cl.snapshot()]);
    assert.equal(a.asked, 2);
    assert.equal(snap.lastSeq, 5);
    assert.equal(snap.rejections.length, 5);
    assert.equal(tickFor(0).rejections.length, 5);
    assert.equal(new Set(snap.rejections.map((e) => e.path)).size, 5);
  });
});
