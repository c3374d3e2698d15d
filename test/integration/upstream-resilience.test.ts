/**
 * Upstream resilience against real backends on 127.0.0.1: backends that die, hang, reset, answer 5xx
 * or send malformed bytes (raw net servers). What each backend received proves the retry rules.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import https from 'node:https';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import path from 'node:path';
import { createLeaf } from '../../src/tls/certs.ts';
import type { Upstream } from '../../src/upstream/upstream.ts';
import { makeCerts, rawRequest, startGateway, startUpstream, type CertFiles, type TestGateway, type TestUpstream } from '../helpers/harness.ts';
import { freePort } from '../helpers/redis.ts';

const client = new Agent({ keepAliveTimeout: 10 });
after(() => client.close());

interface RawBackend {
  url: string;
  port: number;
  /** Connections accepted. */
  connections: number;
  /** Request lines seen (`POST /x`), one per request head received. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A raw TCP backend: `onRequest` gets the socket and the request line of every request head it
 * receives (requests are small and arrive in one packet in these tests).
 */
async function rawBackend(onRequest: (socket: net.Socket, line: string) => void): Promise<RawBackend> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      for (const m of text.matchAll(/^([A-Z]+) (\S+) HTTP\/1\.1\r$/gm)) {
        const line = `${m[1]} ${m[2]}`;
        state.requests.push(line);
        onRequest(socket, line);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return state.connections;
    },
    get requests() {
      return state.requests;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A port with nothing listening on it. */
const deadPort = freePort;

function config(upstreams: string, routes = ''): string {
  return `
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams:
${upstreams}
routes:
${routes}
  - name: all
    match: { path: /* }
    auth: public
    upstream: b
`;
}

async function send(
  gw: TestGateway,
  path: string,
  options: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; code: string | undefined; body: string; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(`http://127.0.0.1:${gw.httpPort}${path}`, {
    dispatcher: client,
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    body: options.body ?? null,
  });
  const body = await res.body.text();
  const code = res.headers['content-type'] === 'application/problem+json' ? (JSON.parse(body) as { code: string }).code : undefined;
  return { status: res.statusCode, code, body, headers: res.headers };
}

const waitFor = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

const resetOnRequest = (socket: net.Socket): void => {
  socket.resetAndDestroy();
};

describe('retries: only when safe, counted at the backends', () => {
  let reset: RawBackend;
  let unavailable: TestUpstream;
  let ok: TestUpstream;
  let dead: number;
  const gws: TestGateway[] = [];
  before(async () => {
    reset = await rawBackend(resetOnRequest);
    unavailable = await startUpstream((req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
    });
    ok = await startUpstream((req, res, body) => res.end(`ok ${req.method} ${body.length}`));
    dead = await deadPort();
  });
  after(async () => {
    for (const g of gws) await g.close();
    await reset.close();
    await unavailable.close();
    await ok.close();
  });
  const gateway = async (first: string, extra = '', routes = ''): Promise<TestGateway> => {
    // Weights 1000:1: the first try goes to `first`, the retry (which avoids a tried target) to `ok`.
    const g = await startGateway(config(`  b:\n    targets: [{ url: "${first}", weight: 1000 }, ${ok.url}]\n    retries: 1\n${extra}`, routes));
    gws.push(g);
    return g;
  };
  const before_ = (): number => ok.received.length;

  it('a connection refused before any byte was sent is retried on the other target, even for POST', async () => {
    const gw = await gateway(`http://127.0.0.1:${dead}`);
    const n = before_();
    const r = await send(gw, '/x', { method: 'POST', body: 'hello' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok POST 5', 'the streamed body was untouched and went to the second target');
    assert.equal(ok.received.length - n, 1);
  });

  it('a GET reset after it was sent is retried on the other target; a POST is not, and is seen once', async () => {
    const gw = await gateway(reset.url);
    const n = before_();
    const get = await send(gw, '/get');
    assert.equal(get.status, 200);
    assert.equal(ok.received.length - n, 1);
    assert.deepEqual(reset.requests.filter((l) => l === 'GET /get'), ['GET /get']);

    const post = await send(gw, '/post', { method: 'POST', body: '{}' });
    assert.equal(post.status, 502);
    assert.equal(post.code, 'PCL_UPSTREAM_UNREACHABLE');
    assert.deepEqual(reset.requests.filter((l) => l === 'POST /post'), ['POST /post']);
    assert.equal(ok.received.filter((r) => r.url === '/post').length, 0, 'a POST is never seen twice');
  });

  it('a 503 of a GET goes to the other target; a streamed PUT answered 503 is relayed, not replayed', async () => {
    const gw = await gateway(unavailable.url);
    const get = await send(gw, '/get503');
    assert.equal(get.status, 200);
    assert.equal(ok.received.filter((x) => x.url === '/get503').length, 1);
    const put = await send(gw, '/put503', { method: 'PUT', body: 'x' });
    assert.equal(put.status, 503);
    assert.equal(put.body, 'busy');
    assert.equal(ok.received.filter((x) => x.url === '/put503').length, 0);
  });

  it('POST is retried only with the route opt-in AND an Idempotency-Key, and only with a buffered body', async () => {
    const routes = `  - name: payments
    match: { path: /pay }
    auth: public
    retryNonIdempotent: true
    validate: { body: { type: object } }
    upstream: b
  - name: stream-pay
    match: { path: /stream-pay }
    auth: public
    retryNonIdempotent: true
    upstream: b
`;
    const gw = await gateway(reset.url, '', routes);
    const headers = { 'content-type': 'application/json' };
    const without = await send(gw, '/pay', { method: 'POST', body: '{"a":1}', headers });
    assert.equal(without.status, 502, 'no Idempotency-Key');
    const withKey = await send(gw, '/pay', { method: 'POST', body: '{"a":1}', headers: { ...headers, 'idempotency-key': 'k1' } });
    assert.equal(withKey.status, 200);
    assert.equal(withKey.body, 'ok POST 7', 'the buffered body was replayed byte for byte');
    assert.equal(reset.requests.filter((l) => l === 'POST /pay').length, 2, 'each POST reached the reset backend once');
    assert.equal(ok.received.filter((r) => r.url === '/pay').length, 1);

    const streamed = await send(gw, '/stream-pay', { method: 'POST', body: '{"a":1}', headers: { ...headers, 'idempotency-key': 'k2' } });
    assert.equal(streamed.status, 502, 'a streamed body cannot be replayed');
    assert.equal(ok.received.filter((r) => r.url === '/stream-pay').length, 0);
  });

  it('a streamed PUT body is not replayed after it was sent', async () => {
    const gw = await gateway(reset.url);
    const r = await send(gw, '/streamed-put', { method: 'PUT', body: 'data' });
    assert.equal(r.status, 502);
    assert.equal(ok.received.filter((x) => x.url === '/streamed-put').length, 0);
  });

  it('the retry budget caps retries', async () => {
    const only = await rawBackend(resetOnRequest);
    const gw = await startGateway(config(`  b:\n    targets: [${only.url}]\n    retries: 2\n    retryBudget: { ratio: 0, minRetries: 1, window: 1m }\n`));
    gws.push(gw);
    for (let i = 0; i < 4; i++) assert.equal((await send(gw, '/budget')).status, 502);
    assert.equal(only.requests.length, 5, '4 requests + the 1 retry of the budget');
    await only.close();
  });
});

describe('retries on 5xx statuses and the response that has started', () => {
  let unavailable: TestUpstream;
  let ok: TestUpstream;
  let halfway: RawBackend;
  let gw: TestGateway;
  let gwHalf: TestGateway;
  before(async () => {
    unavailable = await startUpstream((req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
    });
    ok = await startUpstream((req, res, body) => res.end(`ok ${req.method} ${body.length}`));
    halfway = await rawBackend((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => socket.destroy(), 30);
    });
    gw = await startGateway(config(`  b:\n    targets: [${unavailable.url}, ${ok.url}]\n    retries: 1\n`, `  - name: buffered
    match: { path: /buffered }
    auth: public
    validate: { body: { type: object } }
    upstream: b
`));
    gwHalf = await startGateway(config(`  b:\n    targets: [${halfway.url}, ${ok.url}]\n    retries: 1\n`));
  });
  after(async () => {
    await gw.close();
    await gwHalf.close();
    await unavailable.close();
    await ok.close();
    await halfway.close();
  });

  it('GET after a 503 goes to the other target', async () => {
    const r = await send(gw, '/a');
    assert.equal(r.status, 200);
    assert.equal(unavailable.received.filter((x) => x.url === '/a').length, 1);
    assert.equal(ok.received.filter((x) => x.url === '/a').length, 1);
  });

  it('a buffered PUT after a 503 is replayed; a POST gets the 503 and is seen once', async () => {
    const headers = { 'content-type': 'application/json' };
    const put = await send(gw, '/buffered', { method: 'PUT', body: '{}', headers });
    assert.equal(put.status, 200);
    assert.equal(put.body, 'ok PUT 2');
    const post = await send(gw, '/buffered', { method: 'POST', body: '{}', headers });
    assert.equal(post.status, 503);
    assert.equal(post.body, 'busy', "the backend's own answer");
    const posts = [...unavailable.received, ...ok.received].filter((x) => x.method === 'POST');
    assert.equal(posts.length, 1, 'a POST is never seen twice');
  });

  it('once the response head went to the client, nothing is retried and the client sees an aborted response', async () => {
    await assert.rejects(send(gwHalf, '/half'));
    assert.equal(ok.received.filter((x) => x.url === '/half').length, 0);
    assert.equal(halfway.requests.length, 1);
  });
});

describe('timeouts', () => {
  let hang: RawBackend;
  let hang2: RawBackend;
  let gw: TestGateway;
  let gwTotal: TestGateway;
  let gwRetry: TestGateway;
  before(async () => {
    hang = await rawBackend(() => {});
    hang2 = await rawBackend(() => {});
    gw = await startGateway(config(`  b:\n    targets: [${hang.url}]\n    timeout: 200ms\n`));
    gwTotal = await startGateway(config(`  b:\n    targets: [${hang.url}, ${hang2.url}]\n    timeout: 10s\n    retries: 3\n    totalTimeout: 500ms\n`));
    gwRetry = await startGateway(config(`  b:\n    targets: [${hang.url}, ${hang2.url}]\n    timeout: 300ms\n    retries: 1\n    totalTimeout: 10s\n`));
  });
  after(async () => {
    await gw.close();
    await gwTotal.close();
    await gwRetry.close();
    await hang.close();
    await hang2.close();
  });

  it('a backend that does not answer within the per-try timeout gets 504', async () => {
    const t0 = Date.now();
    const r = await send(gw, '/slow');
    assert.equal(r.status, 504);
    assert.equal(r.code, 'PCL_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - t0 < 2000);
  });

  it('a GET that timed out is retried on the other target, then 504', async () => {
    const r = await send(gwRetry, '/slow-retry');
    assert.equal(r.status, 504);
    const seen = (b: RawBackend): number => b.requests.filter((l) => l === 'GET /slow-retry').length;
    assert.deepEqual([seen(hang), seen(hang2)], [1, 1]);
  });

  it('a connection that cannot be set up within connectTimeout gets 504, and the request was never sent', async () => {
    // A TCP server that accepts and then stays silent: the TLS handshake of an https:// target never
    // completes, which is what undici's connect timeout covers (TCP connect + TLS handshake).
    const silent = await rawBackend(() => {});
    const g = await startGateway(config(`  b:\n    targets: ["https://127.0.0.1:${silent.port}"]\n    connectTimeout: 300ms\n    timeout: 10s\n`));
    try {
      const t0 = Date.now();
      const r = await send(g, '/connect');
      const took = Date.now() - t0;
      assert.equal(r.status, 504);
      assert.equal(r.code, 'PCL_UPSTREAM_TIMEOUT');
      assert.ok(took >= 250 && took < 3000, `${took} ms`);
      assert.ok(silent.connections >= 1, 'the gateway did connect at the TCP level');
      assert.deepEqual(silent.requests, [], 'no request line was ever sent');
    } finally {
      await g.close();
      await silent.close();
    }
  });

  it('the overall deadline is respected whatever the per-try timeout and retries', async () => {
    const t0 = Date.now();
    const r = await send(gwTotal, '/slow-total');
    const took = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(r.code, 'PCL_UPSTREAM_TIMEOUT');
    assert.ok(took >= 480 && took < 1000, `${took} ms`);
  });
});

describe('health checks', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let aHealthy = false;
  let bHealthy = true;
  let gw: TestGateway;
  before(async () => {
    a = await startUpstream((req, res) => {
      if (req.url === '/healthz') res.writeHead(aHealthy ? 200 : 500);
      res.end('a');
    });
    b = await startUpstream((req, res) => {
      if (req.url === '/healthz') res.writeHead(bHealthy ? 204 : 503);
      res.end('b');
    });
    gw = await startGateway(config(`  b:
    targets: [${a.url}, ${b.url}]
    healthCheck: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 1, healthyAfter: 2 }
`));
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });
  const checks = (u: TestUpstream): number => u.received.filter((r) => r.url === '/healthz').length;

  it('an unhealthy target gets no requests; it returns after healthyAfter passed checks', async () => {
    await waitFor(() => checks(a) >= 1 && checks(b) >= 1);
    const before = a.received.length;
    for (let i = 0; i < 6; i++) assert.equal((await send(gw, '/r')).body, 'b');
    assert.equal(a.received.filter((r) => r.url === '/r').length, 0);
    assert.ok(a.received.length >= before);
    aHealthy = true;
    const seen = checks(a);
    await waitFor(() => checks(a) >= seen + 2);
    await new Promise((r) => setTimeout(r, 20));
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await send(gw, '/r')).body);
    assert.deepEqual([...bodies].sort(), ['a', 'b']);
  });

  it('all targets unhealthy → 503 PCL_UPSTREAM_UNAVAILABLE without calling them', async () => {
    aHealthy = false;
    bHealthy = false;
    const seenA = checks(a);
    const seenB = checks(b);
    await waitFor(() => checks(a) > seenA && checks(b) > seenB);
    await new Promise((r) => setTimeout(r, 20));
    const calls = (): number => [...a.received, ...b.received].filter((x) => x.url === '/r').length;
    const n = calls();
    const r = await send(gw, '/r');
    assert.equal(r.status, 503);
    assert.equal(r.code, 'PCL_UPSTREAM_UNAVAILABLE');
    assert.equal(calls(), n, 'no backend was called');
    bHealthy = true;
    aHealthy = true;
  });

  it('the checks stop when the gateway closes', async () => {
    const c = await startUpstream();
    const g = await startGateway(config(`  b:\n    targets: [${c.url}]\n    healthCheck: { path: /healthz, interval: 100ms }\n`));
    await waitFor(() => checks(c) > 1);
    await g.close();
    const seen = checks(c);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(checks(c), seen);
    await c.close();
  });
});

describe('passive health and panic mode', () => {
  let failing: TestUpstream;
  let ok: TestUpstream;
  let gw: TestGateway;
  let gwPanic: TestGateway;
  before(async () => {
    failing = await startUpstream((req, res) => {
      res.writeHead(500);
      res.end('fail');
    });
    ok = await startUpstream((req, res) => res.end('ok'));
    gw = await startGateway(config(`  b:\n    targets: [${failing.url}, ${ok.url}]\n    passiveHealth: { failures: 2, ejectFor: 1m }\n`));
    gwPanic = await startGateway(config(`  b:\n    targets: [${failing.url}]\n    passiveHealth: { failures: 1, ejectFor: 1m }\n    panic: true\n`));
  });
  after(async () => {
    await gw.close();
    await gwPanic.close();
    await failing.close();
    await ok.close();
  });

  it('consecutive 5xx eject a target; the others take the traffic', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await send(gw, '/p')).status);
    assert.deepEqual(statuses.filter((s) => s === 500).length, 2, statuses.join(','));
    assert.deepEqual(statuses.slice(4), [200, 200, 200, 200, 200, 200]);
  });

  it('panic: with every target ejected, they are tried anyway', async () => {
    assert.equal((await send(gwPanic, '/p')).status, 500);
    assert.equal((await send(gwPanic, '/p')).status, 500, 'ejected, but panic mode still calls it');
    assert.equal(failing.received.filter((r) => r.url === '/p').length >= 2, true);
  });
});

describe('circuit breaker (injected clock)', () => {
  let status = 500;
  let backend: TestUpstream;
  let gw: TestGateway;
  let now = 0;
  before(async () => {
    backend = await startUpstream((req, res) => {
      res.writeHead(status);
      res.end(String(status));
    });
    gw = await startGateway(config(`  b:\n    targets: [${backend.url}]\n    circuitBreaker: { failures: 3, cooldown: 30s }\n`));
    (gw.server.gateway.upstreams.get('b') as Upstream).clock = () => now;
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('opens after N failures, answers 503 without calling the backend, probes once after the cooldown, closes on success', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await send(gw, '/c')).status, 500);
    const calls = backend.received.length;
    const open = await send(gw, '/c');
    assert.equal(open.status, 503);
    assert.equal(open.code, 'PCL_UPSTREAM_CIRCUIT_OPEN');
    assert.equal(open.headers['retry-after'], '30');
    assert.equal(backend.received.length, calls, 'the backend was not called');

    now = 29_000;
    assert.equal((await send(gw, '/c')).status, 503);
    now = 30_000;
    // Half-open: the probe fails, the circuit opens again for a full cooldown.
    assert.equal((await send(gw, '/c')).status, 500);
    assert.equal(backend.received.length, calls + 1);
    assert.equal((await send(gw, '/c')).code, 'PCL_UPSTREAM_CIRCUIT_OPEN');
    now = 60_000;
    status = 200;
    assert.equal((await send(gw, '/c')).status, 200, 'the probe succeeds');
    assert.equal((await send(gw, '/c')).status, 200, 'closed again');
    assert.equal((gw.server.gateway.upstreams.get('b') as Upstream).breaker?.state, 'closed');
  });
});

describe('balancing through the gateway', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    a = await startUpstream((req, res) => res.end('a'));
    b = await startUpstream((req, res) => res.end('b'));
    gw = await startGateway(`
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
upstreams:
  by-header: { targets: [${a.url}, ${b.url}], balance: consistent-hash, hashOn: "header:x-user" }
  by-cookie: { targets: [${a.url}, ${b.url}], balance: consistent-hash, hashOn: "cookie:sid" }
  lc: { targets: [${a.url}, ${b.url}], balance: least-connections }
  p2c: { targets: [${a.url}, ${b.url}], balance: random }
routes:
  - { name: h, match: { path: /h }, auth: public, upstream: by-header }
  - { name: c, match: { path: /c }, auth: public, upstream: by-cookie }
  - { name: lc, match: { path: /lc }, auth: public, upstream: lc }
  - { name: p2c, match: { path: /p2c }, auth: public, upstream: p2c }
`);
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

  it('consistent-hash keeps a header or cookie value on one target and spreads the values', async () => {
    const seen = new Set<string>();
    for (let u = 0; u < 12; u++) {
      const first = (await send(gw, '/h', { headers: { 'x-user': `user-${u}` } })).body;
      for (let i = 0; i < 3; i++) assert.equal((await send(gw, '/h', { headers: { 'x-user': `user-${u}` } })).body, first);
      seen.add(first);
      const c = (await send(gw, '/c', { headers: { cookie: `theme=dark; sid=s${u}` } })).body;
      assert.equal((await send(gw, '/c', { headers: { cookie: `sid=s${u}` } })).body, c);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  });

  it('least-connections and random both use every target', async () => {
    for (const path of ['/lc', '/p2c']) {
      const bodies = new Set<string>();
      for (let i = 0; i < 20; i++) bodies.add((await send(gw, path)).body);
      assert.deepEqual([...bodies].sort(), ['a', 'b'], path);
    }
  });
});

describe('upstream TLS', () => {
  let certs: CertFiles;
  let other: CertFiles;
  let backend: https.Server;
  let port = 0;
  let lastClientCn: string | undefined;
  before(async () => {
    certs = await makeCerts({ backend: ['backend.internal'] });
    other = await makeCerts({ backend: ['backend.internal'] });
    const { readFile, writeFile } = await import('node:fs/promises');
    const pair = await createLeaf(certs.ca, ['gateway.client'], { client: true });
    certs.files.gateway = { cert: path.join(certs.dir, 'gateway.pem'), key: path.join(certs.dir, 'gateway-key.pem') };
    await writeFile(certs.files.gateway.cert, pair.cert);
    await writeFile(certs.files.gateway.key, pair.key);
    backend = https.createServer(
      {
        cert: await readFile(certs.files.backend!.cert),
        key: await readFile(certs.files.backend!.key),
        ca: await readFile(certs.caFile),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
        const authorized = (req.socket as import('node:tls').TLSSocket).authorized;
        const cn = peer.subject?.CN;
        lastClientCn = authorized ? (Array.isArray(cn) ? cn[0] : cn) : undefined;
        res.end(req.url === '/mtls' && !authorized ? 'no client cert' : 'secure');
      },
    );
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    port = (backend.address() as net.AddressInfo).port;
  });
  after(async () => {
    backend.closeAllConnections();
    backend.close();
    await certs.cleanup();
    await other.cleanup();
  });

  const withTls = async (tls: string, fn: (gw: TestGateway) => Promise<void>): Promise<void> => {
    const gw = await startGateway(config(`  b:\n    targets: ["https://127.0.0.1:${port}"]\n    tls: ${tls}\n`));
    try {
      await fn(gw);
    } finally {
      await gw.close();
    }
  };

  it('verifies the backend against tls.ca with SNI and the name in servername', async () => {
    await withTls(`{ ca: "${certs.caFile}", servername: backend.internal }`, async (gw) => {
      const r = await send(gw, '/');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'secure');
    });
  });

  it('a certificate for another name → 502', async () => {
    await withTls(`{ ca: "${certs.caFile}", servername: wrong.internal }`, async (gw) => {
      const r = await send(gw, '/');
      assert.equal(r.status, 502);
      assert.equal(r.code, 'PCL_UPSTREAM_TLS_FAILED');
    });
    await withTls(`{ ca: "${certs.caFile}" }`, async (gw) => {
      assert.equal((await send(gw, '/')).status, 502, 'the IP of the target is not in the certificate');
    });
  });

  it('a certificate from an untrusted CA (or the system CAs only) → 502', async () => {
    await withTls(`{ ca: "${other.caFile}", servername: backend.internal }`, async (gw) => {
      assert.equal((await send(gw, '/')).code, 'PCL_UPSTREAM_TLS_FAILED');
    });
    await withTls(`{ servername: backend.internal }`, async (gw) => {
      assert.equal((await send(gw, '/')).code, 'PCL_UPSTREAM_TLS_FAILED');
    });
  });

  it('presents the client certificate for mTLS', async () => {
    const cert = certs.files.gateway!;
    await withTls(`{ ca: "${certs.caFile}", servername: backend.internal, cert: "${cert.cert}", key: "${cert.key}" }`, async (gw) => {
      const r = await send(gw, '/mtls');
      assert.equal(r.body, 'secure');
      assert.equal(lastClientCn, 'gateway.client');
    });
    await withTls(`{ ca: "${certs.caFile}", servername: backend.internal }`, async (gw) => {
      assert.equal((await send(gw, '/mtls')).body, 'no client cert');
    });
  });

  it('insecureSkipVerify accepts any certificate', async () => {
    await withTls('{ insecureSkipVerify: true }', async (gw) => {
      assert.equal((await send(gw, '/')).status, 200);
    });
  });
});

describe('malformed upstream responses → 502, nothing malformed relayed, socket not reused', () => {
  const cases: { name: string; response: string }[] = [
    { name: 'Content-Length and Transfer-Encoding', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'two different Content-Length', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!' },
    { name: 'two equal Content-Length', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello' },
    { name: 'bare LF line endings', response: 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello' },
    { name: 'bare LF inside the head', response: 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 5\r\n\r\nhello' },
    { name: 'an invalid status line', response: 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n' },
    { name: 'a space before the colon', response: 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const backend = await rawBackend((socket, line) => {
        if (line === 'GET /ok') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else socket.write(c.response);
      });
      const gw = await startGateway(config(`  b:\n    targets: [${backend.url}]\n`));
      try {
        assert.equal((await send(gw, '/ok')).body, 'ok');
        const r = await send(gw, '/bad');
        assert.equal(r.status, 502);
        assert.equal(r.code, 'PCL_UPSTREAM_BAD_RESPONSE');
        assert.doesNotMatch(r.body, /hello/);
        assert.equal((await send(gw, '/ok')).body, 'ok');
        assert.equal(backend.connections, 2, 'the connection of the malformed response was not reused');
      } finally {
        await gw.close();
        await backend.close();
      }
    });
  }

  // A malformation in the body shows only after the head was relayed (the response is streamed): the
  // client's response is then aborted, never completed — no terminating chunk, fewer bytes than declared.
  const bodyCases: { name: string; response: string; complete: RegExp }[] = [
    { name: 'an invalid chunk size', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', complete: /hello|0\r\n\r\n$/ },
    { name: 'a truncated chunked body', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', complete: /0\r\n\r\n$/ },
    { name: 'a body shorter than its Content-Length', response: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello', complete: /^$/ },
  ];
  for (const c of bodyCases) {
    it(`${c.name}: the client's response is aborted, never completed`, async () => {
      const backend = await rawBackend((socket, line) => {
        if (line === 'GET /ok') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else {
          socket.write(c.response);
          setTimeout(() => socket.end(), 30);
        }
      });
      const gw = await startGateway(config(`  b:\n    targets: [${backend.url}]\n`));
      try {
        const raw = await rawRequest(gw.httpPort, 'GET /bad HTTP/1.1\r\nHost: x\r\n\r\n', { waitMs: 2000 });
        assert.equal(raw.closed, true, 'the client connection is closed');
        const head = raw.text.indexOf('\r\n\r\n');
        const body = head === -1 ? '' : raw.text.slice(head + 4);
        if (c.name.startsWith('a body shorter')) assert.ok(body.length < 100, 'fewer bytes than declared');
        else assert.doesNotMatch(body, c.complete);
        assert.equal((await send(gw, '/ok')).body, 'ok');
        assert.equal(backend.connections, 2, 'the upstream connection was not reused');
      } finally {
        await gw.close();
        await backend.close();
      }
    });
  }
});
