/**
 * Request and response transformation end to end: what the backend receives (headers, path, query,
 * Host) and what the client receives (security headers on proxied answers and on the gateway's own
 * errors, backend fingerprints removed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT, type JWTPayload } from 'jose';
import { request } from 'undici';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

const SECRET = randomBytes(32).toString('hex');
const ISS = 'https://hs.example.com/';

async function token(claims: JWTPayload): Promise<string> {
  return new SignJWT({ iss: ISS, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
}

function config(upstreamUrl: string, defaults = ''): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
authenticators:
  hs:
    type: jwt
    issuer: ${ISS}
    secret: \${JWT_SECRET}
    algorithms: [HS256]
${defaults}
upstreams:
  backend:
    targets: [${upstreamUrl}]
    timeout: 5s
routes:
  - name: headers
    match: { path: /h/* }
    auth: hs
    upstream: backend
    transform:
      request:
        setHeaders: { x-consumer-id: "\${consumer.id}", x-user-sub: "\${claims.sub}", x-rid: "\${request.id}", x-client: "\${client.ip}" }
        appendHeaders: { x-tag: gateway }
        removeHeaders: [cookie]
        renameHeaders: { x-old: x-new }
        host: internal.example
      response:
        setHeaders: { x-served-by: portcullis }
        appendHeaders: { x-backend: gateway }
        removeHeaders: [x-internal]
  - name: orders
    match: { path: /orders/:id }
    auth: public
    upstream: backend
    transform:
      request:
        path: "/v2/orders/\${params.id}"
        setQuery: { source: gateway, route: "\${route.name}" }
        removeQuery: [debug]
  - name: api
    match: { path: /api/* }
    auth: public
    upstream: backend
    transform: { request: { path: { regex: "^/api/v1/(.*)$", replace: "/v1/$1" } } }
  - name: dots
    match: { path: /dots/* }
    auth: public
    upstream: backend
    transform: { request: { path: { regex: "^/dots/x(.*)$", replace: "/v1/$1" } } }
  - name: tenant
    match: { path: /tenant }
    auth: hs
    upstream: backend
    transform: { request: { path: "/t/\${claims.tenant}/data" } }
  - name: framed
    match: { path: /framed }
    auth: public
    upstream: backend
    securityHeaders: { frameOptions: DENY, contentSecurityPolicy: "default-src 'none'", referrerPolicy: false }
  - name: plain
    match: { path: /plain/* }
    auth: public
    upstream: backend
`;
}

describe('transformation', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let base: string;
  before(async () => {
    upstream = await startUpstream((req, res) => {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        server: 'secret-backend/1.2.3',
        'x-powered-by': 'Express',
        'x-internal': 'build-42',
        'x-backend': 'a',
      };
      if (req.url?.startsWith('/plain/own-policy')) {
        headers['referrer-policy'] = 'same-origin';
        headers['x-content-type-options'] = 'nosniff';
      }
      res.writeHead(200, headers);
      res.end('{}');
    });
    gw = await startGateway(config(upstream.url), { env: { JWT_SECRET: SECRET } });
    base = `http://127.0.0.1:${gw.httpPort}`;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const before = upstream.received.length;
    const res = await request(`${base}${path}`, { headers });
    const body = await res.body.text();
    return { res, body, seen: upstream.received.length > before ? upstream.received.at(-1) : undefined };
  }

  describe('request headers', () => {
    it('sets identity headers from templates, replacing what the client sent', async () => {
      const bearer = await token({ sub: 'alice', client_id: 'web-app' });
      const { res, seen } = await get('/h/x', {
        authorization: `Bearer ${bearer}`,
        'x-consumer-id': 'spoofed',
        'x-user-sub': 'spoofed',
      });
      assert.equal(res.statusCode, 200);
      assert.equal(seen?.headers['x-consumer-id'], 'web-app');
      assert.equal(seen?.headers['x-user-sub'], 'alice');
      assert.equal(seen?.headers['x-rid'], res.headers['x-request-id']);
      assert.equal(seen?.headers['x-client'], '127.0.0.1');
      // Exactly one value: the client's copy is gone, not joined.
      assert.equal(seen?.rawHeaders.filter((h) => h.toLowerCase() === 'x-consumer-id').length, 1);
    });

    it('appends next to the client value, removes, renames (dropping a client copy of the target) and overrides Host', async () => {
      const bearer = await token({ sub: 'alice' });
      const { seen } = await get('/h/x', {
        authorization: `Bearer ${bearer}`,
        'x-tag': 'client',
        cookie: 'session=abc',
        'x-old': 'renamed-value',
        'x-new': 'client-spoof',
      });
      assert.equal(seen?.headers['x-tag'], 'client, gateway');
      assert.equal(seen?.headers.cookie, undefined);
      assert.equal(seen?.headers['x-old'], undefined);
      assert.equal(seen?.headers['x-new'], 'renamed-value');
      assert.equal(seen?.headers.host, 'internal.example');
    });

    it('a template value with CR/LF sets nothing (no header injection), the client copy is still removed', async () => {
      const bearer = await token({ sub: 'alice\r\nx-admin: true' });
      const { res, seen } = await get('/h/x', { authorization: `Bearer ${bearer}`, 'x-user-sub': 'spoofed' });
      assert.equal(res.statusCode, 200);
      assert.equal(seen?.headers['x-user-sub'], undefined);
      assert.equal(seen?.headers['x-admin'], undefined);
    });

    it('without a host override the backend gets the target host and port', async () => {
      const { seen } = await get('/plain/x');
      assert.equal(seen?.headers.host, `127.0.0.1:${upstream.port}`);
    });
  });

  describe('path and query', () => {
    it('a path template with ${params.id}; setQuery replaces, removeQuery drops (also percent-encoded names)', async () => {
      const { res, seen } = await get('/orders/42?debug=1&x=a%20b&source=evil&%64ebug=2');
      assert.equal(res.statusCode, 200);
      assert.equal(seen?.url, '/v2/orders/42?x=a%20b&source=gateway&route=orders');
    });

    it('a regex rewrite, and a path it does not match is forwarded unchanged', async () => {
      assert.equal((await get('/api/v1/items/7?q=1')).seen?.url, '/v1/items/7?q=1');
      assert.equal((await get('/api/v2/items/7')).seen?.url, '/api/v2/items/7');
    });

    it('a rewrite that yields a dot segment is refused with 400 and never forwarded', async () => {
      const { res, body, seen } = await get('/dots/x..');
      assert.equal(res.statusCode, 400);
      assert.equal(JSON.parse(body).code, 'PCL_REQUEST_BAD_PATH');
      assert.equal(seen, undefined);
      assert.equal((await get('/dots/xy')).seen?.url, '/v1/y');
    });

    it('a claim in a path template is one encoded segment; a missing or ".." claim gives 400', async () => {
      const ok = await get('/tenant', { authorization: `Bearer ${await token({ sub: 'a', tenant: '../admin?x#y' })}` });
      assert.equal(ok.seen?.url, '/t/..%2Fadmin%3Fx%23y/data');
      for (const claims of [{ sub: 'a' }, { sub: 'a', tenant: '..' }]) {
        const { res, body, seen } = await get('/tenant', { authorization: `Bearer ${await token(claims)}` });
        assert.equal(res.statusCode, 400, JSON.stringify(claims));
        assert.equal(JSON.parse(body).code, 'PCL_REQUEST_BAD_PATH');
        assert.equal(seen, undefined);
      }
    });
  });

  describe('response headers', () => {
    it('a proxied 200: security headers added, Server and X-Powered-By stripped, transform applied', async () => {
      const bearer = await token({ sub: 'alice' });
      const { res } = await get('/h/x', { authorization: `Bearer ${bearer}` });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers.server, undefined);
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers['x-internal'], undefined);
      assert.equal(res.headers['x-served-by'], 'portcullis');
      assert.deepEqual(res.headers['x-backend'], ['a', 'gateway']);
      assert.equal(res.headers['x-frame-options'], undefined);
    });

    it("the backend's own Referrer-Policy wins over the default", async () => {
      const { res } = await get('/plain/own-policy');
      assert.equal(res.headers['referrer-policy'], 'same-origin');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers.server, undefined);
    });

    it("a route's securityHeaders replace the defaults: frame options and CSP on, referrer policy off", async () => {
      const { res } = await get('/framed');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['content-security-policy'], "default-src 'none'");
      assert.equal(res.headers['referrer-policy'], undefined);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });

    it('a 401 from the gateway carries the security headers', async () => {
      const { res, body, seen } = await get('/h/x');
      assert.equal(res.statusCode, 401);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(JSON.parse(body).code, 'PCL_AUTHN_MISSING_CREDENTIALS');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(seen, undefined);
    });

    it('a 404 with no route carries the security headers', async () => {
      const { res, body } = await get('/nothing-here');
      assert.equal(res.statusCode, 404);
      assert.equal(JSON.parse(body).code, 'PCL_ROUTE_NOT_FOUND');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
    });
  });

  describe('defaults.securityHeaders', () => {
    let custom: TestGateway;
    let off: TestGateway;
    before(async () => {
      custom = await startGateway(config(upstream.url, 'defaults:\n  securityHeaders: { referrerPolicy: strict-origin-when-cross-origin, frameOptions: SAMEORIGIN }'), {
        env: { JWT_SECRET: SECRET },
      });
      off = await startGateway(config(upstream.url, 'defaults:\n  securityHeaders: false'), { env: { JWT_SECRET: SECRET } });
    });
    after(async () => {
      await custom.close();
      await off.close();
    });

    it('apply to proxied answers and to answers with no route', async () => {
      for (const path of ['/plain/x', '/nothing-here']) {
        const res = await request(`http://127.0.0.1:${custom.httpPort}${path}`);
        await res.body.text();
        assert.equal(res.headers['referrer-policy'], 'strict-origin-when-cross-origin', path);
        assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN', path);
      }
    });

    it('false turns them off on proxied answers (problem+json errors keep nosniff)', async () => {
      const ok = await request(`http://127.0.0.1:${off.httpPort}/plain/x`);
      await ok.body.text();
      assert.equal(ok.headers['x-content-type-options'], undefined);
      assert.equal(ok.headers['referrer-policy'], undefined);
      const missing = await request(`http://127.0.0.1:${off.httpPort}/nothing-here`);
      await missing.body.text();
      assert.equal(missing.headers['referrer-policy'], undefined);
      assert.equal(missing.headers['x-content-type-options'], 'nosniff');
    });
  });
});
