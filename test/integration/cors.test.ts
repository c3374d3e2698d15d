/**
 * CORS end to end: preflights answered (or refused) at the gateway before authentication and never
 * forwarded; actual requests get their exact origin echoed only when it is allowed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { request } from 'undici';
import { makeCerts, startGateway, startUpstream, type CertFiles, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

const SECRET = randomBytes(32).toString('hex');
const ISS = 'https://hs.example.com/';
const APP = 'https://app.example.com';

function config(upstreamUrl: string): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
authenticators:
  hs: { type: jwt, issuer: "${ISS}", secret: "\${JWT_SECRET}", algorithms: [HS256] }
defaults:
  cors: { origins: ["${APP}"] }
upstreams:
  backend: { targets: [${upstreamUrl}], timeout: 5s }
routes:
  - name: api
    match: { path: /api/*, methods: [GET, POST, DELETE] }
    auth: hs
    upstream: backend
    cors:
      origins: ["${APP}", "https://*.partner.example"]
      methods: [GET, POST]
      headers: [Authorization, Content-Type]
      exposeHeaders: [x-total-count]
      credentials: true
      maxAge: 10m
  - name: defaulted
    match: { path: /d/* }
    auth: public
    upstream: backend
  - name: no-cors
    match: { path: /n/* }
    auth: public
    upstream: backend
    cors: false
  - name: any
    match: { path: /s/* }
    auth: public
    upstream: backend
    cors: { origins: ["*"], methods: [GET, PUT] }
`;
}

describe('CORS', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let base: string;
  let bearer: string;
  before(async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'access-control-allow-origin': '*',
        'access-control-allow-credentials': 'true',
        vary: 'Accept-Encoding',
        'x-total-count': '3',
      });
      res.end('[]');
    });
    gw = await startGateway(config(upstream.url), { env: { JWT_SECRET: SECRET } });
    base = `http://127.0.0.1:${gw.httpPort}`;
    bearer = await new SignJWT({ iss: ISS, sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function send(method: string, path: string, headers: Record<string, string>) {
    const before = upstream.received.length;
    const res = await request(`${base}${path}`, { method, headers });
    const body = await res.body.text();
    return { res, body, forwarded: upstream.received.length - before };
  }
  const preflight = (path: string, origin: string, method: string, requestHeaders?: string) =>
    send('OPTIONS', path, {
      origin,
      'access-control-request-method': method,
      ...(requestHeaders !== undefined ? { 'access-control-request-headers': requestHeaders } : {}),
    });
  const corsHeaders = (headers: Record<string, unknown>) => Object.keys(headers).filter((h) => h.startsWith('access-control-'));

  describe('preflight', () => {
    it('is answered 204 at the gateway, without credentials, on a route whose methods do not list OPTIONS, and never forwarded', async () => {
      const { res, forwarded } = await preflight('/api/orders', APP, 'POST', 'Authorization, content-type');
      assert.equal(res.statusCode, 204);
      assert.equal(res.headers['access-control-allow-origin'], APP);
      assert.equal(res.headers['access-control-allow-methods'], 'GET, POST');
      assert.equal(res.headers['access-control-allow-headers'], 'Authorization, Content-Type');
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-max-age'], '600');
      assert.equal(res.headers['access-control-expose-headers'], undefined);
      assert.equal(res.headers.vary, 'Origin');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      assert.equal(forwarded, 0);
      assert.equal(gw.log.at(-1)?.route, 'api');
      assert.equal(gw.log.at(-1)?.status, 204);
    });

    it('allows a wildcard-host origin at any depth', async () => {
      for (const origin of ['https://eu.partner.example', 'https://a.b.partner.example']) {
        const { res } = await preflight('/api/orders', origin, 'GET');
        assert.equal(res.statusCode, 204, origin);
        assert.equal(res.headers['access-control-allow-origin'], origin);
      }
    });

    const rejectedOrigins = [
      'https://APP.example.com', // case
      'https://app.example.com:8443', // port
      'https://app.example.com/', // trailing slash
      'http://app.example.com', // scheme
      'null', // sandboxed document
      'https://evil.example.com.attacker',
      'https://app.example.com.attacker',
      'https://partner.example', // the wildcard needs a label
      'https://evil.partner.example.attacker',
      'https://x.partner.example:444',
      'https://x_y.partner.example',
      `${APP}, https://evil.example`, // two Origin values joined
    ];
    for (const origin of rejectedOrigins) {
      it(`refuses origin ${JSON.stringify(origin)} with 403 PCL_CORS_REJECTED and no Access-Control-* headers`, async () => {
        const { res, body, forwarded } = await preflight('/api/orders', origin, 'GET');
        assert.equal(res.statusCode, 403);
        assert.equal(res.headers['content-type'], 'application/problem+json');
        assert.equal(JSON.parse(body).code, 'PCL_CORS_REJECTED');
        assert.deepEqual(corsHeaders(res.headers), []);
        assert.equal(forwarded, 0);
      });
    }

    it('refuses a method outside cors.methods (routable or not) and a header outside cors.headers', async () => {
      for (const [method, headers] of [['DELETE', undefined], ['PUT', undefined], ['POST', 'content-type, x-secret']] as const) {
        const { res, body, forwarded } = await preflight('/api/orders', APP, method, headers);
        assert.equal(res.statusCode, 403, `${method} ${headers}`);
        assert.equal(JSON.parse(body).code, 'PCL_CORS_REJECTED');
        assert.deepEqual(corsHeaders(res.headers), []);
        assert.equal(forwarded, 0);
      }
    });

    it("a route without its own cors takes defaults.cors (methods: the CORS-safelisted ones when the route allows all)", async () => {
      const { res } = await preflight('/d/x', APP, 'POST');
      assert.equal(res.statusCode, 204);
      assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, POST');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      assert.equal((await preflight('/d/x', APP, 'PATCH')).res.statusCode, 403);
    });

    it('cors: false: the OPTIONS request goes its normal way (here: forwarded)', async () => {
      const { res, forwarded } = await preflight('/n/x', APP, 'POST');
      assert.equal(res.statusCode, 200);
      assert.equal(forwarded, 1);
    });

    it('an OPTIONS request that is not a preflight is routed as usual (405 on a route without OPTIONS)', async () => {
      const { res, forwarded } = await send('OPTIONS', '/api/orders', { origin: APP });
      assert.equal(res.statusCode, 405);
      assert.equal(forwarded, 0);
    });

    it('origins ["*"]: Allow-Origin is *, no Vary', async () => {
      const { res } = await preflight('/s/x', 'https://anyone.example', 'PUT');
      assert.equal(res.statusCode, 204);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers.vary, undefined);
    });
  });

  describe('actual requests', () => {
    it("an allowed origin is echoed exactly, with credentials and exposed headers; the backend's own CORS headers are dropped", async () => {
      const { res, forwarded } = await send('GET', '/api/orders', { origin: APP, authorization: `Bearer ${bearer}` });
      assert.equal(res.statusCode, 200);
      assert.equal(forwarded, 1);
      assert.equal(res.headers['access-control-allow-origin'], APP);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-expose-headers'], 'x-total-count');
      assert.equal(res.headers.vary, 'Accept-Encoding, Origin');
    });

    it('an unlisted origin gets no CORS headers at all (the browser blocks the answer), still Vary: Origin', async () => {
      const { res, forwarded } = await send('GET', '/api/orders', { origin: 'https://evil.example', authorization: `Bearer ${bearer}` });
      assert.equal(res.statusCode, 200);
      assert.equal(forwarded, 1);
      assert.deepEqual(corsHeaders(res.headers), []);
      assert.equal(res.headers.vary, 'Accept-Encoding, Origin');
    });

    it("the gateway's own 401 carries the CORS headers, so the page can read it", async () => {
      const { res, body, forwarded } = await send('GET', '/api/orders', { origin: APP });
      assert.equal(res.statusCode, 401);
      assert.equal(JSON.parse(body).code, 'PCL_AUTHN_MISSING_CREDENTIALS');
      assert.equal(res.headers['access-control-allow-origin'], APP);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(forwarded, 0);
    });

    it('origins ["*"]: Allow-Origin is * for any origin', async () => {
      const { res } = await send('GET', '/s/x', { origin: 'https://anyone.example' });
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    });
  });
});

describe('CORS over HTTP/2 (HTTPS)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let certs: CertFiles;
  let session: http2.ClientHttp2Session;
  before(async () => {
    certs = await makeCerts({ gw: ['localhost'] });
    upstream = await startUpstream();
    gw = await startGateway(`
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates: [{ cert: ${certs.files.gw?.cert}, key: ${certs.files.gw?.key} }]
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: { targets: [${upstream.url}] }
routes:
  - name: api
    match: { path: /api/*, methods: [GET, PUT] }
    auth: public
    upstream: backend
    cors: { origins: ["${APP}"], headers: [content-type] }
`);
    session = http2.connect(`https://127.0.0.1:${gw.httpsPort}`, { ca: await readFile(certs.caFile, 'utf8'), servername: 'localhost' });
    session.on('error', () => {});
  });
  after(async () => {
    session.close();
    await gw.close();
    await upstream.close();
    await certs.cleanup();
  });

  function options(headers: Record<string, string>): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'OPTIONS', ':path': '/api/x', ...headers });
      let out: http2.IncomingHttpHeaders = {};
      let body = '';
      stream.on('response', (h) => (out = h));
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (body += c));
      stream.on('end', () => resolve({ status: Number(out[':status']), headers: out, body }));
      stream.on('error', reject);
      stream.end();
    });
  }

  it('answers an allowed preflight 204 with HSTS and the security headers, refuses another origin with 403; nothing forwarded', async () => {
    const ok = await options({ origin: APP, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    assert.equal(ok.headers['access-control-allow-methods'], 'GET, PUT, HEAD');
    assert.equal(ok.headers['access-control-allow-headers'], 'content-type');
    assert.match(String(ok.headers['strict-transport-security']), /^max-age=31536000/);
    assert.equal(ok.headers['referrer-policy'], 'no-referrer');
    const no = await options({ origin: 'https://evil.example', 'access-control-request-method': 'PUT' });
    assert.equal(no.status, 403);
    assert.equal(JSON.parse(no.body).code, 'PCL_CORS_REJECTED');
    assert.equal(no.headers['access-control-allow-origin'], undefined);
    assert.match(String(no.headers['strict-transport-security']), /^max-age=/);
    assert.equal(upstream.received.length, 0);
  });
});
