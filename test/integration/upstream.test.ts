import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

async function problem(res: Awaited<ReturnType<typeof request>>): Promise<{ code: string; requestId: string; status: number }> {
  assert.equal(res.headers['content-type'], 'application/problem+json');
  return (await res.body.json()) as { code: string; requestId: string; status: number };
}

/** A port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

describe('upstream selection', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let heavy: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    v1 = await startUpstream((req, res) => res.end('v1'));
    v2 = await startUpstream((req, res) => res.end('v2'));
    heavy = await startUpstream((req, res) => res.end('heavy'));
    gw = await startGateway(`
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams:
  v1: { targets: [${v1.url}] }
  v2: { targets: [${v2.url}] }
  weighted:
    targets: [ ${v1.url}, { url: "${heavy.url}", weight: 3 } ]
    balance: round-robin
routes:
  - name: by-header
    match: { path: /h/* }
    auth: public
    upstream: { version: { header: api-version, default: "1", map: { "1": v1, "2": v2 } } }
  - name: by-query
    match: { path: /q/* }
    auth: public
    upstream: { version: { query: v, map: { "1": v1, "2": v2 } } }
  - name: by-param
    match: { path: /p/:version/orders/* }
    auth: public
    stripPrefix: true
    upstream: { version: { param: version, default: v1, map: { v1: v1, v2: v2 } } }
  - name: weighted
    match: { path: /w }
    auth: public
    upstream: weighted
  - name: strip
    match: { path: /api/* }
    auth: public
    stripPrefix: true
    upstream: v1
`);
  });
  after(async () => {
    await gw.close();
    await Promise.all([v1.close(), v2.close(), heavy.close()]);
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`http://127.0.0.1:${gw.httpPort}${path}`, { headers });
    return { status: res.statusCode, text: await res.body.text() };
  };

  it('selects the version by header, with a default', async () => {
    assert.deepEqual(await get('/h/x'), { status: 200, text: 'v1' });
    assert.deepEqual(await get('/h/x', { 'api-version': '2' }), { status: 200, text: 'v2' });
    assert.deepEqual(await get('/h/x', { 'API-Version': '1' }), { status: 200, text: 'v1' });
  });

  it('selects the version by query parameter; no version and no default is 400', async () => {
    assert.deepEqual(await get('/q/x?v=2'), { status: 200, text: 'v2' });
    assert.deepEqual(await get('/q/x?a=b&v=1'), { status: 200, text: 'v1' });
    const none = await request(`http://127.0.0.1:${gw.httpPort}/q/x`);
    assert.equal(none.statusCode, 400);
    assert.equal((await problem(none)).code, 'PCL_ROUTE_UNKNOWN_VERSION');
  });

  it('selects the version by path parameter and strips the matched prefix', async () => {
    const before2 = v2.received.length;
    assert.deepEqual(await get('/p/v2/orders/7?z=1'), { status: 200, text: 'v2' });
    assert.equal(v2.received.length, before2 + 1);
    assert.equal(v2.received.at(-1)?.url, '/7?z=1');
  });

  it('an unmapped version is 400 and reaches no backend', async () => {
    const n = v1.received.length + v2.received.length;
    const res = await request(`http://127.0.0.1:${gw.httpPort}/h/x`, { headers: { 'api-version': '9' } });
    assert.equal(res.statusCode, 400);
    assert.equal((await problem(res)).code, 'PCL_ROUTE_UNKNOWN_VERSION');
    assert.equal(v1.received.length + v2.received.length, n);
  });

  it('spreads requests by weight (smooth weighted round-robin)', async () => {
    const counts: Record<string, number> = {};
    const order: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { text } = await get('/w');
      counts[text] = (counts[text] ?? 0) + 1;
      order.push(text);
    }
    assert.deepEqual(counts, { v1: 10, heavy: 30 });
    // smooth: never four of the heavy target in a row
    assert.ok(!order.join(',').includes('heavy,heavy,heavy,heavy'), order.join(','));
  });

  it('stripPrefix removes the prefix; the bare prefix becomes /', async () => {
    await get('/api/users/1?x=2');
    assert.equal(v1.received.at(-1)?.url, '/users/1?x=2');
    await get('/api');
    assert.equal(v1.received.at(-1)?.url, '/');
  });
});

describe('upstream failures', () => {
  let slow: TestUpstream;
  let resetter: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    slow = await startUpstream((req, res) => {
      setTimeout(() => res.end('late'), 1500).unref();
    });
    resetter = await startUpstream((req) => req.socket.destroy());
    const dead = await deadPort();
    gw = await startGateway(`
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams:
  slow: { targets: [${slow.url}], timeout: 200ms }
  reset: { targets: [${resetter.url}] }
  dead: { targets: [http://127.0.0.1:${dead}] }
routes:
  - { name: slow, match: { path: /slow }, auth: public, upstream: slow }
  - { name: reset, match: { path: /reset }, auth: public, upstream: reset }
  - { name: dead, match: { path: /dead }, auth: public, upstream: dead }
`);
  });
  after(async () => {
    await gw.close();
    await slow.close();
    await resetter.close();
  });

  const cases = [
    { path: '/slow', status: 504, code: 'PCL_UPSTREAM_TIMEOUT' },
    { path: '/reset', status: 502, code: 'PCL_UPSTREAM_UNREACHABLE' },
    { path: '/dead', status: 502, code: 'PCL_UPSTREAM_UNREACHABLE' },
  ];
  for (const c of cases) {
    it(`${c.path} → ${c.status} ${c.code}, without backend details`, async () => {
      const res = await request(`http://127.0.0.1:${gw.httpPort}${c.path}`);
      assert.equal(res.statusCode, c.status);
      const body = await problem(res);
      assert.equal(body.code, c.code);
      assert.equal(body.requestId, res.headers['x-request-id']);
      const text = JSON.stringify(body);
      assert.doesNotMatch(text, /127\.0\.0\.1|ECONN|UND_ERR|stack|at /);
      assert.equal(gw.log.at(-1)?.code, c.code);
    });
  }

  it('a backend that dies mid-body truncates the client response visibly (no clean end)', async () => {
    const dying = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000, 97));
      setTimeout(() => res.socket?.destroy(), 50).unref();
    });
    const g = await startGateway(`
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams: { d: { targets: [${dying.url}] } }
routes: [ { name: d, match: { path: /* }, auth: public, upstream: d } ]
`);
    try {
      const res = await request(`http://127.0.0.1:${g.httpPort}/`);
      assert.equal(res.statusCode, 200);
      await assert.rejects(res.body.arrayBuffer());
    } finally {
      await g.close();
      await dying.close();
    }
  });
});
