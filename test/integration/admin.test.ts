/**
 * The admin API, metrics, explain and reload, end to end: a gateway started from a config file in a
 * temporary folder, a real upstream, requests over loopback.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import { buildGateway } from '../../src/config/gateway.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { GatewayServer } from '../../src/server/gateway-server.ts';
import tls from 'node:tls';
import { makeCerts, startUpstream, type TestUpstream } from '../helpers/harness.ts';

const TOKEN = 'admin-token-for-tests-0123456789abcdef';
const key = newApiKey();

function config(upstreamUrl: string, extraRoutes = '', limit = 1000): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  admin: { port: 0, token: "\${ADMIN_TOKEN}" }
  trustedProxies: [127.0.0.1]
logging: { level: info, accessLog: "off" }
metrics: { prometheus: true }
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${key.keyHash}" }]
defaults:
  bruteForce: { maxFailures: 2, per: 10s, ban: 30s, by: [ip] }
upstreams:
  backend: { targets: [${upstreamUrl}], timeout: 5s }
routes:
  - name: open
    match: { path: /open/* }
    auth: public
    rateLimit: [{ by: ip, limit: ${limit}, per: 1m }]
    upstream: backend
  - name: keyed
    match: { path: /keyed }
    auth: keys
    upstream: backend
  - name: shadowed
    match: { path: /shadow }
    auth: keys
    mode: shadow
    upstream: backend
${extraRoutes}`;
}

interface Started {
  server: GatewayServer;
  dir: string;
  file: string;
  port: number;
  admin: number;
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

async function startFromFile(text: string): Promise<Started> {
  process.env.ADMIN_TOKEN = TOKEN;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-admin-'));
  const file = path.join(dir, 'portcullis.yaml');
  await writeFile(file, text);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const gateway = await buildGateway(await loadConfigFile(file));
  const server = await GatewayServer.start(gateway, { logger: pino({ level: 'info' }, sink), accessLog: { write() {}, flush: async () => {} } });
  const port = server.addresses().find((a) => a.name === 'http')?.port ?? 0;
  const admin = server.admin!.port();
  return {
    server, dir, file, port, admin, logs,
    close: async () => {
      await server.stop(2000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function adminCall(s: Started, method: string, p: string, options: { token?: string | null; body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await request(`http://127.0.0.1:${s.admin}${p}`, { method: method as 'GET', headers, ...(options.body !== undefined ? { body: options.body } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, // eslint-disable-next-line @typescript-eslint/no-explicit-any
    json: (): any => JSON.parse(text) };
}

async function get(s: Started, p: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(`http://127.0.0.1:${s.port}${p}`, { headers });
  await res.body.dump();
  return res.statusCode;
}

describe('admin API', () => {
  let upstream: TestUpstream;
  let s: Started;

  before(async () => {
    upstream = await startUpstream();
    s = await startFromFile(config(upstream.url));
  });
  after(async () => {
    await s?.close();
    await upstream?.close();
  });

  it('listens on loopback by default; /healthz and /readyz need no token, everything else does (401 problem+json)', async () => {
    assert.equal((s.server.admin!.server.address() as { address: string }).address, '127.0.0.1');
    assert.equal((await adminCall(s, 'GET', '/healthz', { token: null })).status, 200);
    const ready = await adminCall(s, 'GET', '/readyz', { token: null });
    assert.equal(ready.status, 200);
    for (const p of ['/config', '/metrics', '/routes', '/upstreams', '/bans']) {
      for (const token of [null, 'wrong', TOKEN.slice(0, -1), `${TOKEN}x`]) {
        const r = await adminCall(s, 'GET', p, { token });
        assert.equal(r.status, 401, `${p} with ${token}`);
        assert.equal(r.headers['content-type'], 'application/problem+json');
        assert.equal(r.json().code, 'PCL_ADMIN_UNAUTHORIZED');
        assert.ok(!r.text.includes('"route"'), 'nothing else leaks');
      }
    }
    const post = await adminCall(s, 'POST', '/explain', { token: null, body: '{}' });
    assert.equal(post.status, 401);
    assert.equal((await adminCall(s, 'GET', '/nope')).status, 404);
    assert.equal((await adminCall(s, 'DELETE', '/config')).status, 405);
  });

  it('GET /config: the config in effect with its hash; the token and env values redacted', async () => {
    const r = await adminCall(s, 'GET', '/config');
    assert.equal(r.status, 200);
    const body = r.json() as { hash: string; config: { server: { admin: { token: string } } } };
    assert.equal(body.hash, createHash('sha256').update(await readFile(s.file, 'utf8')).digest('hex'));
    assert.equal(r.headers.etag, `"${body.hash}"`);
    assert.equal(body.config.server.admin.token, '[redacted]');
    assert.ok(!r.text.includes(TOKEN), 'the admin token never appears');
  });

  it('GET /routes and /upstreams describe stages, upstreams and target health', async () => {
    const routes = (await adminCall(s, 'GET', '/routes')).json() as unknown as { name: string; stages: { name: string }[]; upstream: string }[];
    const keyed = routes.find((r) => r.name === 'keyed');
    assert.ok(keyed);
    assert.ok(keyed.stages.some((st) => st.name === 'authenticate'));
    assert.equal(keyed.upstream, 'backend');
    const ups = (await adminCall(s, 'GET', '/upstreams')).json() as unknown as { name: string; targets: { origin: string; healthy: boolean }[] }[];
    assert.deepEqual(ups.map((u) => [u.name, u.targets[0]?.origin, u.targets[0]?.healthy]), [['backend', upstream.url, true]]);
  });

  it('GET /metrics: Prometheus text with requests, rejections and auth outcomes after scripted traffic', async () => {
    for (let i = 0; i < 5; i++) assert.equal(await get(s, '/open/a'), 200);
    for (let i = 0; i < 3; i++) assert.equal(await get(s, '/keyed', { 'x-forwarded-for': '198.51.100.7', 'x-api-key': key.key }), 200);
    assert.equal(await get(s, '/keyed', { 'x-forwarded-for': '198.51.100.8' }), 401);
    assert.equal(await get(s, '/missing'), 404);
    const r = await adminCall(s, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] as string, /^text\/plain/);
    const value = (line: RegExp): number => {
      const m = r.text.split('\n').find((l) => line.test(l));
      assert.ok(m, `no line ${line}`);
      return Number(m.split(' ').pop());
    };
    assert.ok(value(/^portcullis_requests_total\{route="open",method="GET",status="2xx",upstream="backend"\}/) >= 5);
    assert.ok(value(/^portcullis_requests_total\{route="keyed",method="GET",status="2xx",upstream="backend"\}/) >= 3);
    assert.ok(value(/^portcullis_requests_total\{route="keyed",method="GET",status="4xx",upstream=""\}/) >= 1);
    assert.ok(value(/^portcullis_requests_total\{route="\(none\)",method="GET",status="4xx"/) >= 1);
    assert.ok(value(/^portcullis_rejections_total\{stage="authenticate",code="PCL_AUTHN_MISSING_CREDENTIALS",decision="deny"\}/) >= 1);
    assert.ok(value(/^portcullis_rejections_total\{stage="request",code="PCL_ROUTE_NOT_FOUND",decision="deny"\}/) >= 1);
    assert.ok(value(/^portcullis_auth_total\{authenticator="keys",outcome="success"\}/) >= 3);
    assert.ok(value(/^portcullis_request_duration_seconds_count\{route="open"\}/) >= 5);
    assert.equal(
      value(/^portcullis_request_duration_seconds_bucket\{route="open",le="\+Inf"\}/),
      value(/^portcullis_request_duration_seconds_count\{route="open"\}/),
      'the +Inf bucket holds every observation',
    );
    assert.ok(value(/^portcullis_upstream_duration_seconds_count\{route="open",upstream="backend"\}/) >= 5);
    assert.match(r.text, /^# TYPE portcullis_request_duration_seconds histogram$/m);
    assert.ok(value(/^portcullis_upstream_target_healthy\{upstream="backend"/) === 1);
    assert.match(r.text, /^portcullis_event_loop_delay_seconds\{quantile="0.99"\}/m);
    assert.match(r.text, /^portcullis_open_connections\{listener="http"\}/m);
    assert.ok(!/198\.51\.100/.test(r.text), 'no client address in any label');
    assert.ok(!r.text.includes(key.key), 'no credential in any label');
  });

  it('POST /explain: allowed, denied and shadow cases, with every stage verdict; nothing reaches the upstream', async () => {
    const before = upstream.received.length;
    const allowed = (await adminCall(s, 'POST', '/explain', { body: JSON.stringify({ method: 'GET', path: '/keyed', headers: { 'x-api-key': key.key } }) })).json() as {
      outcome: string; route: string; decisions: { stage: string; decision: string; code?: string }[]; identity: { consumer: string };
    };
    assert.equal(allowed.outcome, 'forward');
    assert.equal(allowed.route, 'keyed');
    assert.equal(allowed.identity.consumer, 'alpha');
    assert.ok(allowed.decisions.some((d) => d.stage === 'authenticate' && d.decision === 'allow'));

    const denied = (await adminCall(s, 'POST', '/explain', { body: JSON.stringify({ method: 'GET', path: '/keyed', headers: { 'x-api-key': 'pcl_wrong' }, clientIp: '203.0.113.9' }) })).json() as {
      outcome: string; status: number; code: string; decisions: { stage: string; decision: string; code?: string }[];
    };
    assert.equal(denied.outcome, 'reject');
    assert.equal(denied.status, 401);
    assert.equal(denied.code, 'PCL_AUTHN_INVALID_CREDENTIALS');
    assert.deepEqual(denied.decisions.find((d) => d.stage === 'authenticate'), { ...denied.decisions.find((d) => d.stage === 'authenticate'), decision: 'deny' });

    const shadow = (await adminCall(s, 'POST', '/explain', { body: JSON.stringify({ method: 'GET', path: '/shadow' }) })).json() as {
      outcome: string; decisions: { stage: string; decision: string }[];
    };
    assert.equal(shadow.outcome, 'forward');
    assert.ok(shadow.decisions.some((d) => d.stage === 'authenticate' && d.decision === 'shadow-deny'));

    const limited = (await adminCall(s, 'POST', '/explain', { body: JSON.stringify({ method: 'GET', path: '/open/x' }) })).json() as { decisions: { stage: string; decision: string }[] };
    assert.ok(limited.decisions.some((d) => d.stage === 'pre-auth-limit' && d.decision === 'skip'), `stateful stages are reported, not run: ${JSON.stringify(limited.decisions)}`);

    const none = (await adminCall(s, 'POST', '/explain', { body: JSON.stringify({ method: 'GET', path: '/nowhere' }) })).json() as { code: string; route: null };
    assert.equal(none.code, 'PCL_ROUTE_NOT_FOUND');
    assert.equal(none.route, null);

    // Explaining a wrong key many times never bans anyone: explain does not count failures.
    for (let i = 0; i < 4; i++) await adminCall(s, 'POST', '/explain', { body: JSON.stringify({ method: 'GET', path: '/keyed', headers: { 'x-api-key': 'pcl_wrong' }, clientIp: '203.0.113.10' }) });
    assert.deepEqual((await adminCall(s, 'GET', '/bans')).json(), []);

    for (const bad of ['not json', '[]', '{"method":"get","path":"/"}', '{"method":"GET","path":"x"}', '{"method":"GET","path":"/","clientIp":"nope"}']) {
      const r = await adminCall(s, 'POST', '/explain', { body: bad });
      assert.equal(r.status, 400, bad);
      assert.equal(r.json().code, 'PCL_ADMIN_BAD_REQUEST');
    }
    assert.equal(upstream.received.length, before, 'explain never proxies');
  });

  it('GET /bans lists a brute-force ban; DELETE /bans/ip/<ip> lifts it (audited) and the client passes again', async () => {
    const ip = '192.0.2.44';
    const h = { 'x-forwarded-for': ip };
    assert.equal(await get(s, '/keyed', { ...h, 'x-api-key': 'pcl_bad1' }), 401);
    assert.equal(await get(s, '/keyed', { ...h, 'x-api-key': 'pcl_bad2' }), 401);
    assert.equal(await get(s, '/keyed', { ...h, 'x-api-key': key.key }), 429, 'banned');
    const bans = (await adminCall(s, 'GET', '/bans')).json() as unknown as { kind: string; id: string; ttlMs: number }[];
    const ban = bans.find((b) => b.id === ip);
    assert.ok(ban && ban.kind === 'ip' && ban.ttlMs > 0 && ban.ttlMs <= 30_000, JSON.stringify(bans));
    assert.equal((await adminCall(s, 'DELETE', `/bans/ip/${ip}`)).status, 204);
    assert.equal((await adminCall(s, 'DELETE', `/bans/ip/${ip}`)).status, 404, 'already lifted');
    assert.equal(await get(s, '/keyed', { ...h, 'x-api-key': key.key }), 200);
    assert.ok(s.logs.some((l) => (l.audit as { action?: string; id?: string } | undefined)?.action === 'ban.lift' && (l.audit as { id: string }).id === ip));
  });
});

describe('admin config: reload and PUT /config', () => {
  let upstream: TestUpstream;
  let s: Started;

  before(async () => {
    upstream = await startUpstream();
    s = await startFromFile(config(upstream.url));
  });
  after(async () => {
    await s?.close();
    await upstream?.close();
  });

  it('PUT /config needs If-Match with the current hash (428, 412); an invalid config is refused with every error (422) and the old one keeps serving', async () => {
    const current = (await adminCall(s, 'GET', '/config')).json() as { hash: string };
    const text = config(upstream.url, `  - name: added
    match: { path: /added }
    auth: public
    upstream: backend
`);
    assert.equal((await adminCall(s, 'PUT', '/config', { body: text })).status, 428);
    assert.equal((await adminCall(s, 'PUT', '/config', { body: text, headers: { 'if-match': '"abc"' } })).status, 412);
    const broken = text.replace('limit: 1000', 'limit: -1').replace('upstream: backend\n', 'upstream: nowhere\n');
    const bad = await adminCall(s, 'PUT', '/config', { body: broken, headers: { 'if-match': `"${current.hash}"` } });
    assert.equal(bad.status, 422);
    const errors = (bad.json() as { errors: { path: string }[] }).errors.map((e) => e.path);
    assert.ok(errors.includes('routes[0].rateLimit[0].limit'), JSON.stringify(errors));
    assert.equal(await get(s, '/open/x'), 200, 'old config still serves');
    assert.equal(await get(s, '/added'), 404);

    const ok = await adminCall(s, 'PUT', '/config', { body: text, headers: { 'if-match': `"${current.hash}"` } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await get(s, '/added'), 200);
    assert.equal(await readFile(s.file, 'utf8'), text, 'written to the config file');
    const after = (await adminCall(s, 'GET', '/config')).json() as { hash: string; lastReload: { ok: boolean } };
    assert.notEqual(after.hash, current.hash);
    assert.equal(after.lastReload.ok, true);
    assert.ok(s.logs.some((l) => (l.audit as { action?: string } | undefined)?.action === 'config.put'));
  });

  it('rate-limit counters survive a reload that keeps the store block', async () => {
    const text = config(upstream.url, '', 3);
    await writeFile(s.file, text);
    const r1 = await adminCall(s, 'POST', '/config/reload');
    assert.equal(r1.status, 200, r1.text);
    const h = { 'x-forwarded-for': '192.0.2.200' };
    assert.deepEqual([await get(s, '/open/a', h), await get(s, '/open/a', h), await get(s, '/open/a', h), await get(s, '/open/a', h)], [200, 200, 200, 429]);
    await writeFile(s.file, text + '\n# touched\n');
    assert.equal((await adminCall(s, 'POST', '/config/reload')).status, 200);
    assert.equal(await get(s, '/open/a', h), 429, 'the same budget after the reload');
  });

  it('reload under load: steady HTTP and HTTPS traffic while the config changes ten times (routes, limits, certificate) and one invalid config is pushed — zero failures, slow requests complete', async () => {
    const slow = await startUpstream((req, res) => {
      setTimeout(() => res.end('slow'), 300).unref();
    });
    const certs = await makeCerts({ v1: ['localhost'], v2: ['localhost'] });
    const leaf = (n: number) => certs.files[n % 2 === 0 ? 'v1' : 'v2']!;
    const base = (limit: number, n: number): string => config(upstream.url, `  - name: slow
    match: { path: /slow }
    auth: public
    upstream: slowpoke
  - name: gen${n}
    match: { path: /gen${n} }
    auth: public
    upstream: backend
`, limit)
      .replace('upstreams:\n', `upstreams:\n  slowpoke: { targets: [${slow.url}], timeout: 5s }\n`)
      .replace('server:\n', `server:\n  https:\n    host: 127.0.0.1\n    port: 0\n    http2: false\n    certificates: [{ cert: ${JSON.stringify(leaf(n).cert)}, key: ${JSON.stringify(leaf(n).key)} }]\n`);
    const t = await startFromFile(base(100_000, 0));
    const httpsPort = t.server.port('https');
    const { X509Certificate } = await import('node:crypto');
    const fp = { v1: new X509Certificate(await readFile(certs.files.v1!.cert)).fingerprint256, v2: new X509Certificate(await readFile(certs.files.v2!.cert)).fingerprint256 };
    const seenCerts = new Set<string>();
    try {
      let stop = false;
      const failures: string[] = [];
      let sent = 0;
      const loop = async (): Promise<void> => {
        while (!stop && sent < 5000) {
          sent++;
          try {
            const code = await get(t, '/open/load');
            if (code !== 200) failures.push(String(code));
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      // HTTPS, a new connection each time: each handshake sees the certificate in effect.
      const tlsLoop = async (): Promise<void> => {
        while (!stop && sent < 5000) {
          sent++;
          try {
            const socket = tls.connect({ port: httpsPort, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.pem });
            await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
            seenCerts.add(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
            socket.write('GET /open/tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
            let text = '';
            for await (const chunk of socket) text += String(chunk);
            if (!text.startsWith('HTTP/1.1 200')) failures.push(`https: ${text.slice(0, 40)}`);
          } catch (err) {
            failures.push(`https: ${(err as Error).message}`);
          }
        }
      };
      const slowOnes = Array.from({ length: 5 }, () =>
        request(`http://127.0.0.1:${t.port}/slow`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() })));
      const loops = [loop(), loop(), loop(), tlsLoop()];
      for (let n = 1; n <= 10; n++) {
        await sleep(60);
        await writeFile(t.file, base(100_000 + n, n));
        const r = await adminCall(t, 'POST', '/config/reload');
        assert.equal(r.status, 200, r.text);
        if (n === 5) {
          await writeFile(t.file, base(100_000, n).replace('timeout: 5s', 'timeout: forever'));
          const bad = await adminCall(t, 'POST', '/config/reload');
          assert.equal(bad.status, 422, 'the invalid one is reported');
        }
      }
      stop = true;
      await Promise.all(loops);
      const slowResults = await Promise.all(slowOnes);
      assert.deepEqual(failures, []);
      assert.ok(sent > 50, `only ${sent} requests sent`);
      assert.deepEqual([...seenCerts].sort(), [fp.v1, fp.v2].sort(), 'both certificates served as they rotated');
      assert.deepEqual(slowResults, Array.from({ length: 5 }, () => ({ status: 200, body: 'slow' })), 'in-flight slow requests finish on the old config');
      assert.equal(await get(t, '/gen10'), 200, 'the last good config is in effect');
      assert.equal(await get(t, '/gen5'), 404);
    } finally {
      await t.close();
      await slow.close();
      await certs.cleanup();
    }
  });

  it('reloads when the file changes (watch) and ignores a broken save', async () => {
    s.server.watchConfig(s.file);
    const text = config(upstream.url, `  - name: watched
    match: { path: /watched }
    auth: public
    upstream: backend
`);
    await writeFile(s.file, text);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await get(s, '/watched')) !== 200) await sleep(50);
    assert.equal(await get(s, '/watched'), 200);
    await writeFile(s.file, 'server: [broken');
    await sleep(600);
    assert.equal(await get(s, '/watched'), 200, 'a broken file changes nothing');
    assert.equal(s.server.lastReload?.ok, false);
  });
});

describe('admin config errors', () => {
  it('the admin token must come from the environment and be long; metrics need the admin listener', async () => {
    const { buildGatewayFromText } = await import('../../src/config/gateway.ts');
    const { ConfigError } = await import('../../src/config/errors.ts');
    const base = (admin: string, metrics = false) => `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
${admin}
${metrics ? 'metrics: { prometheus: true }' : ''}
upstreams: { b: { targets: ["http://127.0.0.1:9"] } }
routes: [{ name: r, match: { path: / }, auth: public, upstream: b }]
`;
    const issues = async (text: string, env: NodeJS.ProcessEnv = {}) => {
      try {
        const g = await buildGatewayFromText(text, { env });
        await g.close();
        return [];
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return err.issues.map((i) => `${i.path}: ${i.message}`);
      }
    };
    assert.match((await issues(base('  admin: { token: literal-token-in-the-file-0123456789 }')))[0] ?? '', /^server\.admin\.token: must come from an environment variable/);
    assert.match((await issues(base('  admin: { token: "${T}" }'), { T: 'short' }))[0] ?? '', /^server\.admin\.token: must be at least 24 characters/);
    assert.match((await issues(base('', true)))[0] ?? '', /^metrics\.prometheus: metrics are served on the admin listener/);
    assert.deepEqual(await issues(base('  admin: { token: "${T}" }', true), { T: TOKEN }), []);
  });
});

describe('reload rotates certificates', () => {
  it('new connections get the new certificate, with and without SNI; an open connection keeps working', async () => {
    const certs = await makeCerts({ v1: ['localhost'], v2: ['localhost'] });
    const upstream = await startUpstream();
    const text = (leaf: 'v1' | 'v2'): string => `
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates: [{ cert: ${JSON.stringify(certs.files[leaf]!.cert)}, key: ${JSON.stringify(certs.files[leaf]!.key)} }]
  admin: { port: 0, token: "\${ADMIN_TOKEN}" }
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: all
    match: { path: /* }
    auth: public
    upstream: backend
`;
    const s = await startFromFile(text('v1'));
    const port = s.server.port('https');
    const fingerprint = async (servername: string | undefined): Promise<string> => {
      const socket = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), ca: certs.ca.pem, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      const fp = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.destroy();
      return fp;
    };
    const { X509Certificate } = await import('node:crypto');
    const fpOf = async (leaf: 'v1' | 'v2') => new X509Certificate(await readFile(certs.files[leaf]!.cert)).fingerprint256;
    try {
      assert.equal(await fingerprint('localhost'), await fpOf('v1'));
      assert.equal(await fingerprint(undefined), await fpOf('v1'));
      // A keep-alive connection opened before the reload.
      const { Agent } = await import('undici');
      const agent = new Agent({ connect: { ca: certs.ca.pem, servername: 'localhost' }, keepAliveTimeout: 10_000 });
      const first = await request(`https://127.0.0.1:${port}/a`, { dispatcher: agent });
      assert.equal(first.statusCode, 200);
      await first.body.dump();
      await writeFile(s.file, text('v2'));
      assert.equal((await adminCall(s, 'POST', '/config/reload')).status, 200);
      assert.equal(await fingerprint('localhost'), await fpOf('v2'), 'SNI clients get the new certificate');
      assert.equal(await fingerprint(undefined), await fpOf('v2'), 'clients without SNI too');
      const again = await request(`https://127.0.0.1:${port}/b`, { dispatcher: agent });
      assert.equal(again.statusCode, 200, 'the open connection keeps serving');
      await again.body.dump();
      await agent.close();
    } finally {
      await s.close();
      await upstream.close();
      await certs.cleanup();
    }
  });
});
