/**
 * IP and country filtering through the whole gateway: 403 problem+json before anything else of
 * the route runs (the upstream never sees a denied request), on the client address resolved
 * through trusted proxies (never through a header from an untrusted peer), for unrouted paths
 * too, shadow mode, and list files read relative to the config file at every build.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ConfigError } from '../../src/config/errors.ts';
import { buildGatewayFromFile, buildGatewayFromText } from '../../src/config/gateway.ts';
import { parseResponses, problemCode, rawRequest, startGateway, startUpstream, type LoggedRequest, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

interface Answer {
  status: number;
  contentType: string | undefined;
  requestId: string | undefined;
  body: Record<string, unknown> | undefined;
}

async function send(port: number, urlPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const res = await request(`http://127.0.0.1:${port}${urlPath}`, { method, headers });
  const text = await res.body.text();
  const contentType = res.headers['content-type'] as string | undefined;
  return {
    status: res.statusCode,
    contentType,
    requestId: res.headers['x-request-id'] as string | undefined,
    body: contentType?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
}

const seen = (upstream: TestUpstream, urlPath: string): number => upstream.received.filter((r) => r.url === urlPath).length;

/** The access-log record of the request with this id (written when the exchange ends). */
async function logOf(gw: TestGateway, requestId: string | undefined): Promise<LoggedRequest> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const rec = gw.log.find((l) => l.requestId === requestId);
    if (rec) return rec;
    if (Date.now() > deadline) throw new Error(`no access-log record for ${requestId}`);
    await sleep(10);
  }
}

function assertDenied(a: Answer, code: string): void {
  assert.equal(a.status, 403);
  assert.equal(a.contentType, 'application/problem+json');
  assert.equal(a.body?.code, code);
  assert.equal(a.body?.status, 403);
  assert.ok(a.requestId);
  assert.equal(a.body?.requestId, a.requestId);
  assert.equal(a.body?.detail, undefined, 'the client is not told which rule matched');
}

const HTTP = 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }';

describe('ip filter: the socket peer, without trusted proxies', () => {
  let upstream: TestUpstream;
  let denyLoopback: TestGateway;
  let denyOthers: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    denyLoopback = await startGateway(`
${HTTP}
logging: { level: silent, accessLog: "off" }
defaults:
  ipFilter: { deny: [192.0.2.0/24, 127.0.0.0/8] }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: api
    match: { path: /api/*, methods: [GET, POST] }
    auth: public
    upstream: backend
  - name: own
    match: { path: /own }
    auth: public
    upstream: backend
    ipFilter: { deny: [198.51.100.0/24] }
  - name: open
    match: { path: /open }
    auth: public
    upstream: backend
    ipFilter: false
`);
    denyOthers = await startGateway(`
${HTTP}
logging: { level: silent, accessLog: "off" }
defaults:
  ipFilter: { deny: [203.0.113.0/24] }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: api
    match: { path: /api/* }
    auth: public
    upstream: backend
`);
  });
  after(async () => {
    await denyLoopback.close();
    await denyOthers.close();
    await upstream.close();
  });

  it('a denied address gets 403 problem+json with the request id, and the upstream never sees it', async () => {
    const a = await send(denyLoopback.httpPort, '/api/a');
    assertDenied(a, 'PCL_IP_DENIED');
    assert.equal(seen(upstream, '/api/a'), 0);
    const rec = await logOf(denyLoopback, a.requestId);
    assert.equal(rec.status, 403);
    assert.equal(rec.code, 'PCL_IP_DENIED');
    assert.deepEqual(
      rec.decisions.map(({ ms: _ms, ...d }) => d),
      [{ stage: 'ip-filter', decision: 'deny', code: 'PCL_IP_DENIED', detail: 'deny 127.0.0.0/8 (defaults.ipFilter.deny[1])' }],
    );
  });

  it('is checked before the declared body size (403, not 413)', async () => {
    const res = await rawRequest(denyLoopback.httpPort, `POST /api/big HTTP/1.1\r\nHost: gw\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`, { waitMs: 1000 });
    assert.equal(res.status, 403);
    assert.equal(problemCode(parseResponses(res.text)[0]), 'PCL_IP_DENIED');
    assert.equal(seen(upstream, '/api/big'), 0);
  });

  it('a path no route matches, or a method the route refuses, is filtered by the defaults: 403, not 404 or 405', async () => {
    assertDenied(await send(denyLoopback.httpPort, '/nowhere'), 'PCL_IP_DENIED');
    assertDenied(await send(denyLoopback.httpPort, '/api/x', {}, 'DELETE'), 'PCL_IP_DENIED');
  });

  it('an untrusted peer cannot escape its denied address with X-Forwarded-For or Forwarded', async () => {
    const a = await send(denyLoopback.httpPort, '/api/spoof', { 'x-forwarded-for': '8.8.8.8', forwarded: 'for=8.8.8.8', 'x-real-ip': '8.8.8.8' });
    assertDenied(a, 'PCL_IP_DENIED');
    assert.equal(seen(upstream, '/api/spoof'), 0);
  });

  it('an untrusted peer claiming a denied address is not blocked for it', async () => {
    const a = await send(denyOthers.httpPort, '/api/claim', { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.7' });
    assert.equal(a.status, 200);
    assert.equal(seen(upstream, '/api/claim'), 1);
  });

  it("a route's own ipFilter replaces the defaults'; ipFilter: false has none", async () => {
    assert.equal((await send(denyLoopback.httpPort, '/own')).status, 200);
    assert.equal((await send(denyLoopback.httpPort, '/open')).status, 200);
    assert.equal(seen(upstream, '/own') + seen(upstream, '/open'), 2);
  });
});

describe('ip filter: behind a trusted proxy', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(`
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  trustedProxies: [127.0.0.1]
logging: { level: silent, accessLog: "off" }
defaults:
  ipFilter:
    deny: [203.0.113.0/24, "2001:db8:dead::/48"]
    countries: { deny: [KP] }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: api
    match: { path: /api/* }
    auth: public
    upstream: backend
  - name: shadow-route
    match: { path: /shadow }
    auth: public
    upstream: backend
    mode: shadow
  - name: shadow-filter
    match: { path: /shadow-filter }
    auth: public
    upstream: backend
    ipFilter: { deny: [203.0.113.0/24], mode: shadow }
`);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('X-Forwarded-For from a trusted proxy naming a denied address: 403', async () => {
    const a = await send(gw.httpPort, '/api/xff', { 'x-forwarded-for': '203.0.113.7' });
    assertDenied(a, 'PCL_IP_DENIED');
    assert.equal(seen(upstream, '/api/xff'), 0);
    assert.equal((await logOf(gw, a.requestId)).decisions[0]?.detail, 'deny 203.0.113.0/24 (defaults.ipFilter.deny[0])');
  });

  it('the right-most untrusted hop decides: a denied address to its left is only a claim', async () => {
    assert.equal((await send(gw.httpPort, '/api/chain', { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' })).status, 200);
    assertDenied(await send(gw.httpPort, '/api/chain', { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 127.0.0.1' }), 'PCL_IP_DENIED');
    assert.equal(seen(upstream, '/api/chain'), 1);
  });

  it('Forwarded, IPv6 and IPv4-mapped IPv6 hops are filtered too', async () => {
    assertDenied(await send(gw.httpPort, '/api/fwd', { forwarded: 'for="[2001:db8:dead::1]:4711"' }), 'PCL_IP_DENIED');
    assertDenied(await send(gw.httpPort, '/api/fwd', { 'x-forwarded-for': '::ffff:203.0.113.9' }), 'PCL_IP_DENIED');
    assert.equal((await send(gw.httpPort, '/api/fwd', { 'x-forwarded-for': '2001:db8:beef::1' })).status, 200);
    assert.equal(seen(upstream, '/api/fwd'), 1);
  });

  it('a country the bundled database places in KP is denied; one in the US passes', async () => {
    const a = await send(gw.httpPort, '/api/geo', { 'x-forwarded-for': '175.45.176.1' });
    assertDenied(a, 'PCL_COUNTRY_DENIED');
    assert.equal((await logOf(gw, a.requestId)).decisions[0]?.detail, 'country KP denied (defaults.ipFilter.countries.deny)');
    assert.equal((await send(gw.httpPort, '/api/geo', { 'x-forwarded-for': '8.8.8.8' })).status, 200);
    assert.equal(seen(upstream, '/api/geo'), 1);
  });

  it('shadow mode (route mode: shadow, or ipFilter.mode: shadow): passes, and records shadow-deny', async () => {
    for (const p of ['/shadow', '/shadow-filter']) {
      const a = await send(gw.httpPort, p, { 'x-forwarded-for': '203.0.113.7' });
      assert.equal(a.status, 200, p);
      assert.equal(seen(upstream, p), 1, p);
      const d = (await logOf(gw, a.requestId)).decisions[0];
      assert.deepEqual([d?.stage, d?.decision, d?.code], ['ip-filter', 'shadow-deny', 'PCL_IP_DENIED'], p);
    }
  });

  it('an allowed address is recorded as allowed', async () => {
    const a = await send(gw.httpPort, '/api/ok', { 'x-forwarded-for': '198.51.100.1' });
    assert.equal(a.status, 200);
    const d = (await logOf(gw, a.requestId)).decisions[0];
    assert.deepEqual([d?.stage, d?.decision], ['ip-filter', 'allow']);
  });
});

describe('ip filter config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-ipfilter-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const config = (ipFilter: string) => `
${HTTP}
logging: { level: silent, accessLog: "off" }
defaults:
  ipFilter: ${ipFilter}
upstreams:
  backend: { targets: ["http://127.0.0.1:9"] }
routes:
  - name: api
    match: { path: /api/* }
    auth: public
    upstream: backend
`;

  async function issues(yaml: string): Promise<string[]> {
    try {
      const gw = await buildGatewayFromText(yaml, { baseDir: dir });
      await gw.close();
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
  }

  it('a bad CIDR names its exact path', async () => {
    assert.deepEqual(await issues(config('{ deny: [203.0.113.0/24, 203.0.113.0/40, "2001:db8::/48"] }')), [
      'defaults.ipFilter.deny[1]: "203.0.113.0/40" has an invalid prefix length (0..32)',
    ]);
  });

  it('unknown keys, bad country codes and bad modes are schema errors at their paths', async () => {
    const found = await issues(config('{ deny: [192.0.2.1], countries: { deny: [kp], unknown: maybe }, mode: audit, denyfile: x }'));
    assert.ok(found.includes('defaults.ipFilter.countries.deny[0]: must be an upper-case ISO 3166-1 alpha-2 country code such as "KP" or "GB", got "kp"'), found.join('\n'));
    assert.ok(found.some((i) => i.startsWith('defaults.ipFilter.countries.unknown: ')), found.join('\n'));
    assert.ok(found.some((i) => i.startsWith('defaults.ipFilter.mode: ')), found.join('\n'));
    assert.ok(found.some((i) => i.startsWith('defaults.ipFilter.denyfile: unknown key (did you mean "denyFile"?)')), found.join('\n'));
  });

  it('list files are relative to the config file, and read again at every build (reload)', async () => {
    await mkdir(path.join(dir, 'feeds'), { recursive: true });
    const file = path.join(dir, 'gateway.yaml');
    await writeFile(file, config('{ denyFile: feeds/drop.txt }'));
    await writeFile(path.join(dir, 'feeds/drop.txt'), '; Spamhaus DROP\n1.10.16.0/20 ; SBL256894\n');
    const denies = async (ip: string): Promise<boolean> => {
      const gw = await buildGatewayFromFile(file);
      try {
        const stage = gw.routes[0]?.ipFilter[0];
        assert.ok(stage);
        try {
          stage.run({ clientIp: ip } as Parameters<typeof stage.run>[0]);
          return false;
        } catch {
          return true;
        }
      } finally {
        await gw.close();
      }
    };
    assert.equal(await denies('1.10.16.1'), true);
    assert.equal(await denies('203.0.113.7'), false);
    await writeFile(path.join(dir, 'feeds/drop.txt'), '203.0.113.0/24 ; SBL1\n');
    assert.equal(await denies('1.10.16.1'), false);
    assert.equal(await denies('203.0.113.7'), true);
  });

  it('a missing country database fails the config, naming the path', async () => {
    assert.deepEqual(await issues(config('{ countries: { deny: [KP] }, geoip: { database: GeoLite2-Country.mmdb } }')), [
      `defaults.ipFilter.geoip.database: cannot read GeoLite2-Country.mmdb (${path.join(dir, 'GeoLite2-Country.mmdb')}): ENOENT`,
    ]);
  });
});
