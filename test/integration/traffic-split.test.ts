/**
 * Weighted splits, sticky keys, the tester override and shadow traffic, against real upstreams on
 * 127.0.0.1: what each backend received is the proof.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ConfigError } from '../../src/config/errors.ts';
import { buildGatewayFromText } from '../../src/config/gateway.ts';
import type { Mirror } from '../../src/upstream/mirror.ts';
import type { Upstream } from '../../src/upstream/upstream.ts';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';
import { freePort } from '../helpers/redis.ts';

const client = new Agent({ keepAliveTimeout: 10, connections: 32 });
after(() => client.close());

function named(name: string) {
  return startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-from': name });
    res.end(name);
  });
}

async function send(
  gw: TestGateway,
  path: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(`http://127.0.0.1:${gw.httpPort}${path}`, {
    dispatcher: client,
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    body: options.body ?? null,
  });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

/** `n` requests, `parallel` at a time; the upstream name that answered each. */
async function many(gw: TestGateway, n: number, path: (i: number) => string, headers: (i: number) => Record<string, string> = () => ({}), parallel = 20): Promise<string[]> {
  const out: string[] = new Array<string>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = (await send(gw, path(i), { headers: headers(i) })).body;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

const tally = (names: string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
};

const waitFor = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('traffic split, override and mirroring through the gateway', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let v3: TestUpstream;
  let shadow: TestUpstream;
  let hang: TestUpstream;
  let broken: TestUpstream;
  let dead: number;
  let gw: TestGateway;
  const mirrorOf = (route: string): Mirror => gw.server.gateway.routes.find((r) => r.name === route)?.mirror as Mirror;

  before(async () => {
    [v1, v2, v3, shadow] = await Promise.all([named('orders-v1'), named('orders-v2'), named('orders-v3'), named('shadow')]);
    hang = await startUpstream((_req, res) => {
      setTimeout(() => res.end('late'), 5000).unref();
    });
    broken = await startUpstream((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('mirror broke');
    });
    dead = await freePort(); // nothing listens there
    const mirror = (route: string, path: string, m: string, extra = '') => `
  - name: ${route}
    match: { path: ${path} }
    auth: public
    upstream: orders-v1
    mirror: ${m}
${extra}`;
    gw = await startGateway(`
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams:
  orders-v1:
    targets: [${v1.url}]
    circuitBreaker: { failures: 1, cooldown: 30s }
  orders-v2: { targets: [${v2.url}] }
  orders-v3: { targets: [${v3.url}] }
  shadow: { targets: [${shadow.url}] }
  hang: { targets: [${hang.url}], timeout: 10s }
  broken: { targets: [${broken.url}] }
  down: { targets: ["http://127.0.0.1:${dead}"] }
routes:
  - name: weighted
    match: { path: /w/* }
    auth: public
    upstream:
      split:
        - { upstream: orders-v1, weight: 90 }
        - { upstream: orders-v2, weight: 10 }
  - name: sticky
    match: { path: /s/* }
    auth: public
    upstream:
      split: [{ upstream: orders-v1, weight: 50 }, { upstream: orders-v2, weight: 50 }]
      sticky: header:x-user
  - name: dark
    match: { path: /d/* }
    auth: public
    upstream:
      split: [{ upstream: orders-v1, weight: 100 }, { upstream: orders-v2, weight: 0 }]
      override: { header: x-canary, values: { always: orders-v2, never: orders-v1 } }
${mirror('mirror-all', '/m/*', '{ upstream: shadow, percent: 100 }', '    validate: { limits: { maxDepth: 32 } }')}
${mirror('mirror-none', '/m0/*', '{ upstream: shadow, percent: 0 }')}
${mirror('mirror-stream', '/ms/*', '{ upstream: shadow }')}
${mirror('mirror-hang', '/mh/*', '{ upstream: hang, timeout: 300ms, maxInFlight: 2 }')}
${mirror('mirror-500', '/m5/*', '{ upstream: broken }')}
${mirror('mirror-down', '/md/*', '{ upstream: down, timeout: 1s }')}
`);
  });
  after(async () => {
    await gw.close();
    await Promise.all([v1, v2, v3, shadow, hang, broken].map((u) => u.close()));
  });

  it('splits 1,000 requests 90 / 10', async () => {
    const counts = tally(await many(gw, 1000, (i) => `/w/${i}`));
    const c1 = counts['orders-v1'] ?? 0;
    const c2 = counts['orders-v2'] ?? 0;
    assert.equal(c1 + c2, 1000);
    assert.ok(c1 >= 850 && c1 <= 950, `orders-v1 got ${c1}`);
    assert.ok(c2 >= 50 && c2 <= 150, `orders-v2 got ${c2}`);
  });

  it('sticky by header: a key stays on one upstream over 50 requests; different keys spread', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const seen = new Set(await many(gw, 50, (i) => `/s/${i}`, () => ({ 'x-user': user }), 5));
      assert.equal(seen.size, 1, `${user} saw ${[...seen].join(', ')}`);
    }
    const spread = tally(await many(gw, 200, () => '/s/x', (i) => ({ 'x-user': `user-${i}` })));
    assert.ok((spread['orders-v1'] ?? 0) >= 60 && (spread['orders-v2'] ?? 0) >= 60, JSON.stringify(spread));
  });

  it('the override header forces a weight-0 member; otherwise it is never chosen', async () => {
    assert.deepEqual(tally(await many(gw, 30, () => '/d/x')), { 'orders-v1': 30 });
    assert.deepEqual(tally(await many(gw, 10, () => '/d/x', () => ({ 'x-canary': 'always' }))), { 'orders-v2': 10 });
    assert.deepEqual(tally(await many(gw, 10, () => '/d/x', () => ({ 'x-canary': 'never' }))), { 'orders-v1': 10 });
  });

  it('an override value not in the map is ignored and reaches no other upstream', async () => {
    const before = v3.received.length;
    for (const value of ['orders-v3', 'orders-v2', 'v3', 'Always']) {
      assert.equal((await send(gw, '/d/x', { headers: { 'x-canary': value } })).body, 'orders-v1', value);
    }
    assert.equal(v3.received.length, before);
  });

  it('percent 100: the mirror receives an identical copy (method, path, body bytes) with the marker header', async () => {
    const body = Buffer.from('{"order":  {"id": 42, "note": "caf\u00e9 \u2713"}, "items": [1,2,3]}\n', 'utf8');
    const res = await send(gw, '/m/orders?x=1', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-trace': 't1' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'orders-v1');
    await waitFor(() => shadow.received.some((r) => r.url === '/m/orders?x=1'));
    const primary = v1.received.find((r) => r.url === '/m/orders?x=1');
    const copy = shadow.received.find((r) => r.url === '/m/orders?x=1');
    assert.ok(primary && copy);
    assert.equal(copy.method, 'POST');
    assert.deepEqual(copy.body, body);
    assert.deepEqual(primary.body, body);
    assert.equal(copy.headers['x-portcullis-mirror'], '1');
    assert.equal(primary.headers['x-portcullis-mirror'], undefined);
    assert.equal(copy.headers['x-trace'], 't1');
    assert.equal(copy.headers['x-request-id'], primary.headers['x-request-id']);
    await waitFor(() => mirrorOf('mirror-all').inFlight === 0);
    assert.equal(mirrorOf('mirror-all').completed, 1);
  });

  it('a client-sent marker is not passed to the primary', async () => {
    await send(gw, '/m/marker', { headers: { 'x-portcullis-mirror': '1' } });
    const primary = v1.received.find((r) => r.url === '/m/marker');
    assert.equal(primary?.headers['x-portcullis-mirror'], undefined);
    await waitFor(() => shadow.received.some((r) => r.url === '/m/marker'));
    assert.equal(shadow.received.find((r) => r.url === '/m/marker')?.rawHeaders.filter((h) => h.toLowerCase() === 'x-portcullis-mirror').length, 1);
  });

  it('percent 0: nothing is mirrored', async () => {
    await many(gw, 20, (i) => `/m0/${i}`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(shadow.received.filter((r) => r.url.startsWith('/m0/')).length, 0);
    assert.equal(mirrorOf('mirror-none').sent, 0);
  });

  it('a streamed (unbuffered) body is not mirrored; a bodyless request is', async () => {
    await send(gw, '/ms/post', { method: 'POST', body: 'streamed', headers: { 'content-type': 'text/plain' } });
    await send(gw, '/ms/get');
    await waitFor(() => shadow.received.some((r) => r.url === '/ms/get'));
    assert.equal(shadow.received.some((r) => r.url === '/ms/post'), false);
    assert.equal(mirrorOf('mirror-stream').skipped, 1);
  });

  it('a hanging mirror changes neither the answer nor its latency; its copies time out and are bounded', async () => {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => send(gw, `/mh/${i}`)));
    const ms = performance.now() - started;
    for (const a of answers) assert.deepEqual([a.status, a.body], [200, 'orders-v1']);
    assert.ok(ms < 1000, `client waited ${ms} ms`);
    const m = mirrorOf('mirror-hang');
    // maxInFlight 2: the other copies were dropped, not queued.
    assert.equal(m.sent, 2);
    assert.equal(m.dropped, 3);
    await waitFor(() => m.inFlight === 0, 2000);
    assert.equal(m.failed, 2);
  });

  it('a mirror that answers 500 or is down changes nothing for the client, nor the primary breaker', async () => {
    for (const path of ['/m5/a', '/md/a', '/m5/b', '/md/b']) {
      const started = performance.now();
      const res = await send(gw, path);
      assert.deepEqual([res.status, res.body], [200, 'orders-v1']);
      assert.ok(performance.now() - started < 1000);
    }
    await waitFor(() => mirrorOf('mirror-500').inFlight === 0 && mirrorOf('mirror-down').inFlight === 0);
    assert.equal(mirrorOf('mirror-500').completed, 2);
    assert.equal(mirrorOf('mirror-down').failed, 2);
    // orders-v1 has a breaker that opens after one failure: the mirror's failures never reached it.
    assert.equal((gw.server.gateway.upstreams.get('orders-v1') as Upstream).breaker?.state, 'closed');
  });
});

describe('split and mirror config errors, at their exact paths', () => {
  const base = (route: string) => `
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9"] }
  orders-v2: { targets: ["http://127.0.0.1:9"] }
  orders-v3: { targets: ["http://127.0.0.1:9"] }
routes:
  - name: r
    match: { path: /* }
    auth: public
${route}
`;
  const cases: { name: string; route: string; expect: [string, RegExp][] }[] = [
    {
      name: 'unknown upstream in the split',
      route: '    upstream: { split: [{ upstream: orders-v1, weight: 90 }, { upstream: orders-v9, weight: 10 }] }',
      expect: [['routes[0].upstream.split[1].upstream', /unknown upstream "orders-v9"/]],
    },
    {
      name: 'all weights zero',
      route: '    upstream: { split: [{ upstream: orders-v1, weight: 0 }, { upstream: orders-v2, weight: 0 }] }',
      expect: [['routes[0].upstream.split', /every weight is 0/]],
    },
    {
      name: 'negative weight',
      route: '    upstream: { split: [{ upstream: orders-v1, weight: 90 }, { upstream: orders-v2, weight: -10 }] }',
      expect: [['routes[0].upstream.split[1].weight', />= 0|minimum|at least/]],
    },
    {
      name: 'override to an upstream outside the split',
      route: '    upstream: { split: [{ upstream: orders-v1, weight: 1 }], override: { header: x-canary, values: { always: orders-v3 } } }',
      expect: [['routes[0].upstream.override.values["always"]', /not an upstream of this split/]],
    },
    {
      name: 'bad sticky key',
      route: '    upstream: { split: [{ upstream: orders-v1, weight: 1 }], sticky: session }',
      expect: [['routes[0].upstream.sticky', /./]],
    },
    {
      name: 'mirror percent over 100',
      route: '    upstream: orders-v1\n    mirror: { upstream: shadow, percent: 150 }',
      expect: [['routes[0].mirror.percent', /./]],
    },
    {
      name: 'unknown mirror upstream',
      route: '    upstream: orders-v1\n    mirror: { upstream: shadow }',
      expect: [['routes[0].mirror.upstream', /unknown upstream "shadow"/]],
    },
    {
      name: 'mirror to the route’s own upstream',
      route: '    upstream: orders-v1\n    mirror: { upstream: orders-v1 }',
      expect: [['routes[0].mirror.upstream', /route's own upstream/]],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const err = await buildGatewayFromText(base(c.route)).then(
        async (gw) => {
          await gw.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.deepEqual(err.issues.map((i) => i.path), c.expect.map(([p]) => p), JSON.stringify(err.issues));
      c.expect.forEach(([, re], k) => assert.match(err.issues[k]?.message ?? '', re));
    });
  }
});
