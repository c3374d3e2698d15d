import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

/** An upstream that holds every request until `release()`; `/fail` resets the connection. */
async function holdingUpstream(): Promise<{ up: TestUpstream; release: () => void; held: () => number }> {
  let waiting: (() => void)[] = [];
  const up = await startUpstream((req, res) => {
    if (req.url === '/fail') {
      req.socket.destroy();
      return;
    }
    waiting.push(() => res.end('done'));
  });
  return {
    up,
    held: () => waiting.length,
    release: () => {
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
  };
}

function config(upstreamUrl: string, store = ''): string {
  return `
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
${store}
upstreams: { b: { targets: [${upstreamUrl}], timeout: 5s } }
routes:
  - name: slow
    match: { path: /* }
    auth: public
    concurrency: { by: "header:x-tenant", limit: 2 }
    upstream: b
`;
}

const get = (port: number, tenant: string, path = '/x') =>
  request(`http://127.0.0.1:${port}${path}`, { headers: { 'x-tenant': tenant } }).then(async (r) => ({
    status: r.statusCode,
    code: r.statusCode === 200 ? undefined : ((await r.body.json()) as { code?: string }).code,
    retryAfter: r.headers['retry-after'],
  }));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
}

describe('concurrency limit (memory store)', () => {
  let h: Awaited<ReturnType<typeof holdingUpstream>>;
  let gw: TestGateway;
  before(async () => {
    h = await holdingUpstream();
    gw = await startGateway(config(h.up.url));
  });
  after(async () => {
    h.release();
    await gw.close();
    await h.up.close();
  });

  it('lets `limit` requests of one key in flight; the others get 429 at once; other keys are independent', async () => {
    const first = [get(gw.httpPort, 'acme'), get(gw.httpPort, 'acme')];
    await until(() => h.held() === 2);
    const extra = await Promise.all([get(gw.httpPort, 'acme'), get(gw.httpPort, 'acme'), get(gw.httpPort, 'acme')]);
    assert.deepEqual(extra.map((r) => [r.status, r.code, r.retryAfter]), Array(3).fill([429, 'PCL_CONCURRENCY_LIMITED', '1']));
    assert.equal(h.up.received.length, 2, 'the rejected requests never reached the upstream');
    const other = get(gw.httpPort, 'globex');
    await until(() => h.held() === 3);
    assert.equal(h.held(), 3);
    h.release();
    assert.deepEqual((await Promise.all([...first, other])).map((r) => r.status), [200, 200, 200]);
    // the slots came back
    const again = [get(gw.httpPort, 'acme'), get(gw.httpPort, 'acme')];
    await until(() => h.held() === 2);
    h.release();
    assert.deepEqual((await Promise.all(again)).map((r) => r.status), [200, 200]);
  });

  it('gives the slot back when the upstream fails and when the client goes away', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(gw.httpPort, 'flaky', '/fail')).status, 502);
    const controller = new AbortController();
    const gone = request(`http://127.0.0.1:${gw.httpPort}/x`, { headers: { 'x-tenant': 'flaky' }, signal: controller.signal }).catch(() => 'aborted');
    await until(() => h.held() === 1);
    controller.abort();
    assert.equal(await gone, 'aborted');
    await sleep(50);
    const two = [get(gw.httpPort, 'flaky'), get(gw.httpPort, 'flaky')];
    await until(() => h.held() === 3);
    assert.equal(h.held(), 3, 'both slots were free again');
    h.release();
    assert.deepEqual((await Promise.all(two)).map((r) => r.status), [200, 200]);
  });

  it('a request without the key is not limited', async () => {
    const r = request(`http://127.0.0.1:${gw.httpPort}/x`).then((x) => x.statusCode);
    await until(() => h.held() === 1);
    h.release();
    assert.equal(await r, 200);
  });
});

describe('concurrency limit shared through Redis', () => {
  let redis: TestRedis;
  let h: Awaited<ReturnType<typeof holdingUpstream>>;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    redis = await startRedis();
    h = await holdingUpstream();
    const store = `store: { type: redis, redis: { url: "${redis.url}", timeout: 200ms, onError: closed } }`;
    a = await startGateway(config(h.up.url, store));
    b = await startGateway(config(h.up.url, store));
  });
  after(async () => {
    h.release();
    await a.close();
    await b.close();
    await h.up.close();
    await redis.stop();
  });

  it('two instances enforce one combined limit, and release through the store', async () => {
    // warm both Redis connections
    await until(() => false, 200);
    const held = [get(a.httpPort, 'acme'), get(b.httpPort, 'acme')];
    await until(() => h.held() === 2);
    assert.equal(h.held(), 2);
    const over = await Promise.all([get(a.httpPort, 'acme'), get(b.httpPort, 'acme')]);
    assert.deepEqual(over.map((r) => r.code), ['PCL_CONCURRENCY_LIMITED', 'PCL_CONCURRENCY_LIMITED']);
    h.release();
    assert.deepEqual((await Promise.all(held)).map((r) => r.status), [200, 200]);
    await sleep(50);
    const next = get(b.httpPort, 'acme');
    await until(() => h.held() === 1);
    h.release();
    assert.equal((await next).status, 200);
  });

  it('with Redis down and onError: closed, 503 within the deadline', async () => {
    redis.freeze();
    try {
      const t0 = Date.now();
      const r = await get(a.httpPort, 'acme');
      assert.equal(r.status, 503);
      assert.equal(r.code, 'PCL_RATE_LIMIT_UNAVAILABLE');
      assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0}ms`);
    } finally {
      redis.thaw();
    }
  });
});
