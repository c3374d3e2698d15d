/**
 * server.workers: 2 — the real `portcullis start` (a cluster primary and two workers) on a temp
 * config: both workers serve, a killed worker is replaced, reloads reach every worker, limits with
 * the memory store are exact across workers, /metrics on the primary sums the workers, /live and
 * /events on the primary merge the workers' live data, SIGTERM drains and leaves no process behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import type { LiveSnapshot, LiveTick } from '../../src/observability/live.ts';
import { startUpstream, type TestUpstream } from '../helpers/harness.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'workers-test-admin-token-0123456789';
const KEY = newApiKey();

function config(upstream: string, extraRoutes = ''): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  admin: { port: 0, token: "\${PORTCULLIS_ADMIN_TOKEN}" }
  workers: 2
  shutdownTimeout: 3s
metrics: { prometheus: true }
logging: { level: info, accessLog: "off" }
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${KEY.keyHash}" }]
upstreams:
  backend: { targets: [${upstream}], timeout: 5s }
routes:
  - name: open
    match: { path: /open/* }
    auth: public
    upstream: backend
  - name: limited
    match: { path: /limited }
    auth: public
    upstream: backend
    rateLimit: [{ by: ip, limit: 20, per: 1m }]
  - name: keyed
    match: { path: /keyed }
    auth: keys
    upstream: backend
${extraRoutes}`;
}

const NEW_ROUTE = `  - name: fresh
    match: { path: /fresh }
    auth: public
    upstream: backend
`;

/** Is process `pid` alive? */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Started {
  child: ChildProcessWithoutNullStreams;
  stderr: () => string;
  port: number;
  admin: number;
}

/** Waits (bounded) until `test` finds what it looks for in the primary's stderr. */
async function waitFor<T>(s: { stderr: () => string }, what: string, test: (text: string) => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const found = test(s.stderr());
    if (found !== undefined) return found;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}; stderr:\n${s.stderr().slice(-4000)}`);
}

/** The workers the primary logged as started: slot → pid, the latest per slot. */
function workerPids(stderr: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; worker?: { slot: number; pid: number } };
      if (j.msg === 'worker started' && j.worker) out.set(j.worker.slot, j.worker.pid);
    } catch {
      // a partial line
    }
  }
  return out;
}

/** One request on a new connection (node:cluster hands each connection to the next worker). */
async function get(port: number, p: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await request(`http://127.0.0.1:${port}${p}`, { reset: true, headers });
  await r.body.dump();
  return r.statusCode;
}

async function statuses(port: number, p: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 10) out.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => get(port, p, headers)))));
  return out;
}

/** GET /live on the primary's admin listener. */
async function live(admin: number): Promise<LiveSnapshot> {
  const r = await request(`http://127.0.0.1:${admin}/live`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await r.body.text();
  assert.equal(r.statusCode, 200, text);
  return JSON.parse(text) as LiveSnapshot;
}

/** Resolves just after the next second starts (the live series holds finished seconds only). */
function nextSecond(): Promise<void> {
  return sleep(1000 - (Date.now() % 1000) + 50);
}

async function metrics(admin: number): Promise<string> {
  const r = await request(`http://127.0.0.1:${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.statusCode, 200);
  return r.body.text();
}

/** The value of one exposition line (`name{labels}`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** `portcullis start --config file` (the real CLI), once it listens with its 2 workers. */
async function startCli(file: string, cwd: string): Promise<Started> {
  const child = spawn(path.join(repo, 'node_modules/.bin/node'), [path.join(repo, 'src/cli/main.ts'), 'start', '--config', file], {
    cwd,
    // The store deadline (default 50 ms) is raised: on a loaded test machine a late answer would
    // let the local fallback decide a request, and this test is about exactness, not the fallback
    // (src/store/cluster.test.ts covers the deadline).
    env: { ...process.env, PORTCULLIS_ADMIN_TOKEN: TOKEN, PORTCULLIS_CLUSTER_STORE_TIMEOUT: '2000' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const s = { stderr: () => stderr };
  try {
    const admin = await waitFor(s, 'the admin line', (t) => /admin API on http:\/\/127\.0\.0\.1:(\d+) \(primary\)/.exec(t)?.[1]);
    const port = await waitFor(s, 'the listening line', (t) => /listening on http:\/\/127\.0\.0\.1:(\d+) \(2 workers\)/.exec(t)?.[1], 60_000);
    return { child, stderr: s.stderr, port: Number(port), admin: Number(admin) };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

describe('server.workers: 2', { timeout: 180_000 }, () => {
  let dir: string;
  let file: string;
  let upstream: TestUpstream;
  let gw: Started;
  const seenPids = new Set<number>();

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-workers-'));
    file = path.join(dir, 'gw.yaml');
    upstream = await startUpstream((req, res) => {
      // /open/slow: in flight while the gateway is told to stop.
      setTimeout(() => res.end('ok'), req.url?.includes('slow') ? 400 : 0).unref();
    });
    await writeFile(file, config(upstream.url));
    gw = await startCli(file, dir);
    for (const pid of workerPids(gw.stderr()).values()) seenPids.add(pid);
  });

  after(async () => {
    if (gw !== undefined && gw.child.exitCode === null) gw.child.kill('SIGKILL');
    for (const pid of seenPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('both workers serve, and /metrics on the primary sums them', async () => {
    const before = await metrics(gw.admin);
    const base = sample(before, 'portcullis_requests_total{route="open",method="GET",status="2xx",upstream="backend"}') ?? 0;
    assert.deepEqual(new Set(await statuses(gw.port, '/open/a', 20)), new Set([200]));
    const text = await metrics(gw.admin);
    const w1 = sample(text, 'portcullis_worker_requests_total{worker="1"}') ?? 0;
    const w2 = sample(text, 'portcullis_worker_requests_total{worker="2"}') ?? 0;
    assert.ok(w1 > 0 && w2 > 0, `both workers answered (worker 1: ${w1}, worker 2: ${w2})`);
    // The aggregate: the route's counter is the sum over both workers.
    assert.equal(sample(text, 'portcullis_requests_total{route="open",method="GET",status="2xx",upstream="backend"}'), base + 20);
    assert.equal(sample(text, 'portcullis_cluster_workers{state="ready"}'), 2);
    const pids = [...text.matchAll(/^portcullis_worker_info\{worker="\d",pid="(\d+)"\} 1$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(new Set(pids), new Set(workerPids(gw.stderr()).values()));
  });

  it('/live and /events on the primary merge both workers\' live data', async () => {
    const requests = (s: LiveSnapshot): number => s.series.reduce((n, p) => n + p.requests, 0);
    const rejected = (s: LiveSnapshot, stage: string): number => s.series.reduce((n, p) => n + (p.rejections[stage] ?? 0), 0);
    const perWorker = (text: string): number[] => [1, 2].map((w) => sample(text, `portcullis_worker_requests_total{worker="${w}"}`) ?? 0);
    await nextSecond();
    const before = await live(gw.admin);
    assert.deepEqual(before.workers, { answered: 2, total: 2 });
    assert.equal(before.routes.keyed, undefined, 'no request on the route yet');
    const servedBefore = perWorker(await metrics(gw.admin));

    // 20 with the key, 10 without one (401), 10 with a wrong one (401), each on a new connection:
    // node:cluster hands them to both workers.
    assert.deepEqual(await statuses(gw.port, '/keyed', 20, { 'x-api-key': KEY.key }), Array(20).fill(200));
    assert.deepEqual(await statuses(gw.port, '/keyed', 10), Array(10).fill(401));
    assert.deepEqual(await statuses(gw.port, '/keyed', 10, { 'x-api-key': 'pcl_not_a_key_0123456789abcdefghijk' }), Array(10).fill(401));
    const servedAfter = perWorker(await metrics(gw.admin));
    assert.ok(servedAfter[0]! > servedBefore[0]! && servedAfter[1]! > servedBefore[1]!, `both workers served (${servedBefore} -> ${servedAfter})`);
    await nextSecond();

    const after = await live(gw.admin);
    assert.deepEqual(after.workers, { answered: 2, total: 2 });
    assert.equal(after.windowSeconds, 900);
    assert.equal(requests(after) - requests(before), 40, 'the per-second series: every request sent, summed over both workers');
    assert.equal(rejected(after, 'authenticate') - rejected(before, 'authenticate'), 20);
    assert.deepEqual(after.routes.keyed, { requests: 40, errors: 0, rejections: 20, shadowRejections: 0 });
    assert.ok((after.upstreams.backend?.requests ?? 0) >= 20);
    assert.ok(after.series.some((p) => p.requests > 0 && p.p50 !== null && p.p99 !== null && p.p99 >= p.p50));
    const keyed = after.rejections.filter((e) => e.route === 'keyed');
    assert.equal(keyed.length, 20);
    assert.ok(keyed.every((e) => e.status === 401 && e.stage === 'authenticate' && !e.shadow), JSON.stringify(keyed[0]));
    const codes = keyed.map((e) => e.code);
    assert.equal(codes.filter((c) => c === 'PCL_AUTHN_MISSING_CREDENTIALS').length, 10, codes.join(','));
    assert.equal(codes.filter((c) => c === 'PCL_AUTHN_INVALID_CREDENTIALS').length, 10, codes.join(','));
    const times = after.rejections.map((e) => e.time);
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    assert.equal(new Set(after.rejections.map((e) => e.seq)).size, after.rejections.length, 'one sequence');
    assert.ok(after.lastSeq >= 20);
    assert.ok(!JSON.stringify(after).includes(KEY.key), 'no key in the live data');

    // GET /events: ticks once a second while traffic goes on; the counters move, the new rejections come once.
    const res = await request(`http://127.0.0.1:${gw.admin}/events?after=${after.lastSeq}`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const ticks: LiveTick[] = [];
    const streamed = (async () => {
      let buffer = '';
      for await (const chunk of res.body) {
        buffer += (chunk as Buffer).toString('utf8');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: tick$/m.test(block) && data !== undefined) ticks.push(JSON.parse(data) as LiveTick);
        }
      }
    })().catch(() => undefined);
    // Traffic over ~3 s (a tick shows the last finished second): 5 with the key and 2 refused, 4 times.
    for (let i = 0; i < 4; i++) {
      await Promise.all([statuses(gw.port, '/keyed', 5, { 'x-api-key': KEY.key }), statuses(gw.port, '/keyed', 2)]);
      await sleep(750);
    }
    await nextSecond();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (ticks.at(-1)?.routes.keyed?.requests ?? 0) < 68) await sleep(100);
    res.body.destroy();
    await streamed;
    assert.ok(ticks.length >= 2, `ticks: ${ticks.length}`);
    for (const t of ticks) assert.deepEqual(t.workers, { answered: 2, total: 2 });
    const keyedRequests = ticks.map((t) => t.routes.keyed?.requests ?? 0);
    assert.equal(keyedRequests.at(-1), 40 + 28, keyedRequests.join(','));
    assert.ok(keyedRequests[0]! < 68, `the counter moved: ${keyedRequests.join(',')}`);
    assert.ok(ticks.some((t) => t.point.requests > 0), 'a tick whose second had requests');
    const fresh = ticks.flatMap((t) => t.rejections);
    assert.equal(fresh.length, 8, JSON.stringify(fresh.map((e) => e.seq)));
    assert.ok(fresh.every((e) => e.seq > after.lastSeq && e.code === 'PCL_AUTHN_MISSING_CREDENTIALS'));
    assert.equal(new Set(fresh.map((e) => e.seq)).size, 8, 'each rejection once');
    assert.equal(ticks.at(-1)?.lastSeq, after.lastSeq + 8);
  });

  it('a rate limit of 20/min with the memory store is exact across the workers: 40 requests, 20 pass', async () => {
    const codes = await statuses(gw.port, '/limited', 40);
    assert.equal(codes.filter((c) => c === 200).length, 20, codes.join(','));
    assert.equal(codes.filter((c) => c === 429).length, 20, codes.join(','));
    const text = await metrics(gw.admin);
    assert.equal(sample(text, 'portcullis_store_events_total{store="cluster",event="timeouts"}') ?? 0, 0);
  });

  it('SIGHUP applies a new route on every worker; an invalid config then changes nothing', async () => {
    assert.deepEqual(new Set(await statuses(gw.port, '/fresh', 4)), new Set([404]));
    await writeFile(file, config(upstream.url, NEW_ROUTE));
    const reloads = (gw.stderr().match(/reloaded .* on every worker/g) ?? []).length;
    gw.child.kill('SIGHUP');
    // The primary's file watch may win the race against SIGHUP: either reload is the one.
    await waitFor(gw, 'the reload', (t) => ((t.match(/reloaded .* on every worker|"config reloaded on every worker"/g) ?? []).length > reloads ? true : undefined));
    assert.deepEqual(await statuses(gw.port, '/fresh', 20), Array(20).fill(200));

    const hashBefore = ((await (await request(`http://127.0.0.1:${gw.admin}/config`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as { hash: string }).hash;
    await writeFile(file, config(upstream.url, NEW_ROUTE).replace('upstream: backend\n', 'upstream: nowhere\n'));
    const rejected = (gw.stderr().match(/rejected \(\d+ errors\)/g) ?? []).length;
    gw.child.kill('SIGHUP');
    await waitFor(gw, 'the rejection', (t) => ((t.match(/rejected \(\d+ errors\)/g) ?? []).length > rejected ? true : undefined));
    assert.match(gw.stderr(), /"path":"routes\[0\]\.upstream"/);
    assert.deepEqual(await statuses(gw.port, '/fresh', 20), Array(20).fill(200));
    assert.deepEqual(new Set(await statuses(gw.port, '/open/b', 10)), new Set([200]));
    const after = (await (await request(`http://127.0.0.1:${gw.admin}/config`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as { hash: string; lastReload: { ok: boolean } };
    assert.equal(after.hash, hashBefore);
    assert.equal(after.lastReload.ok, false);
    await writeFile(file, config(upstream.url, NEW_ROUTE));
  });

  it('a worker killed with SIGKILL is started again and the gateway keeps serving', async () => {
    const before = workerPids(gw.stderr());
    const victim = before.get(1) as number;
    process.kill(victim, 'SIGKILL');
    const replacement = await waitFor(gw, 'the replacement worker', (t) => {
      const pid = workerPids(t).get(1);
      return pid !== undefined && pid !== victim ? pid : undefined;
    });
    seenPids.add(replacement);
    // Served meanwhile by the other worker, and by both once the new one is ready.
    assert.deepEqual(new Set(await statuses(gw.port, '/open/c', 10)), new Set([200]));
    await waitFor(gw, 'the replacement to be ready', (t) => (t.includes(`"worker":{"slot":1,"pid":${replacement}},`) && /"msg":"worker ready"/.test(t.slice(t.lastIndexOf(`"pid":${replacement}}`))) ? true : undefined));
    assert.equal(alive(victim), false);
    // The restarted worker runs the config in effect (the new route), not an older one.
    assert.deepEqual(await statuses(gw.port, '/fresh', 20), Array(20).fill(200));
    const text = await metrics(gw.admin);
    assert.equal(sample(text, 'portcullis_cluster_worker_restarts_total'), 1);
    assert.match(text, new RegExp(`portcullis_worker_info\\{worker="1",pid="${replacement}"\\} 1`));
  });

  it('POST /config/reload on the primary validates, then reloads every worker', async () => {
    await writeFile(file, config(upstream.url, NEW_ROUTE.replace(/fresh/g, 'fresher')));
    const r = await request(`http://127.0.0.1:${gw.admin}/config/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    const body = (await r.body.json()) as { ok: boolean; errors: unknown[] };
    assert.equal(r.statusCode, 200, JSON.stringify(body));
    assert.deepEqual(body.errors, []);
    assert.deepEqual(await statuses(gw.port, '/fresher', 20), Array(20).fill(200));
    assert.deepEqual(new Set(await statuses(gw.port, '/fresh', 4)), new Set([404]));
  });

  it('PUT /config on the primary applies the body on every worker and writes the file', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const { hash } = (await (await request(`http://127.0.0.1:${gw.admin}/config`, { headers: auth })).body.json()) as { hash: string };
    const text = config(upstream.url, NEW_ROUTE.replace(/fresh/g, 'put'));
    const r = await request(`http://127.0.0.1:${gw.admin}/config`, { method: 'PUT', headers: { ...auth, 'if-match': `"${hash}"` }, body: text });
    const body = (await r.body.json()) as { ok: boolean; errors: unknown[] };
    assert.equal(r.statusCode, 200, JSON.stringify(body));
    assert.deepEqual(await statuses(gw.port, '/put', 20), Array(20).fill(200));
    assert.equal(await readFile(file, 'utf8'), text);
  });

  it('SIGTERM drains every worker; the primary exits 0 and no worker is left', async () => {
    const pids = [...workerPids(gw.stderr()).values()];
    assert.equal(pids.length, 2);
    const slow = request(`http://127.0.0.1:${gw.port}/open/slow`, { reset: true }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
    await sleep(150);
    const exited = once(gw.child, 'exit') as Promise<[number | null, string | null]>;
    gw.child.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.deepEqual(await slow, { status: 200, body: 'ok' });
    for (const pid of [...pids, ...seenPids]) assert.equal(alive(pid), false, `worker ${pid} is gone`);
  });
});

describe('server.workers: a crash loop', { timeout: 120_000 }, () => {
  it('more than 5 worker exits in 30 s stop the restarts, loudly; with no worker left the primary exits 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-crashloop-'));
    const upstream = await startUpstream();
    const file = path.join(dir, 'gw.yaml');
    await writeFile(file, config(upstream.url));
    const gw = await startCli(file, dir);
    const pids = new Set<number>(workerPids(gw.stderr()).values());
    try {
      const exited = once(gw.child, 'exit') as Promise<[number | null, string | null]>;
      // Kill worker 1 six times: each time its replacement is started, it is killed again.
      let victim = workerPids(gw.stderr()).get(1) as number;
      for (let i = 0; i < 6; i++) {
        process.kill(victim, 'SIGKILL');
        if (i === 5) break;
        const previous = victim;
        victim = await waitFor(gw, `replacement ${i + 1}`, (t) => {
          const pid = workerPids(t).get(1);
          return pid !== undefined && pid !== previous ? pid : undefined;
        });
        pids.add(victim);
      }
      await waitFor(gw, 'the crash-loop line', (t) => (t.includes('CRASH LOOP') ? true : undefined));
      // Worker 2 still serves.
      assert.deepEqual(new Set(await statuses(gw.port, '/open/x', 4)), new Set([200]));
      const text = await metrics(gw.admin);
      assert.equal(sample(text, 'portcullis_cluster_crash_loop'), 1);
      assert.equal(sample(text, 'portcullis_cluster_workers{state="ready"}'), 1);
      process.kill(workerPids(gw.stderr()).get(2) as number, 'SIGKILL');
      const [code] = await exited;
      assert.equal(code, 1);
      // 2 first starts and 5 replacements: none after the loop was declared.
      assert.equal((gw.stderr().match(/"msg":"worker started"/g) ?? []).length, 7);
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
