import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { plainConfig, rawJsonBody, rawRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

describe('proxying over plain HTTP', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream((req, res, body) => {
      res.writeHead(201, {
        'content-type': 'application/json',
        server: 'secret-backend/1.2',
        'x-powered-by': 'Express',
        'x-backend': 'yes',
        connection: 'x-hop',
        'x-hop': 'drop-me',
      });
      res.end(JSON.stringify({ len: body.length }));
    });
    gw = await startGateway(plainConfig(upstream.url));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('forwards method, path, query and body, and returns the backend response', async () => {
    const res = await request(`http://127.0.0.1:${gw.httpPort}/a/b?x=1&y=2`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.statusCode, 201);
    assert.deepEqual(await res.body.json(), { len: 5 });
    const seen = upstream.received.at(-1);
    assert.equal(seen?.method, 'POST');
    assert.equal(seen?.url, '/a/b?x=1&y=2');
    assert.equal(seen?.body.toString(), 'hello');
    assert.equal(res.headers['x-backend'], 'yes');
    assert.equal(res.headers.server, undefined);
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.equal(res.headers['x-hop'], undefined);
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(seen?.headers['x-request-id'], res.headers['x-request-id']);
  });
});

describe('responses and routing outcomes', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/cookies') {
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
        res.end('c');
        return;
      }
      if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
        return;
      }
      if (req.url === '/cached') {
        res.writeHead(304, { etag: '"x"' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
    });
    gw = await startGateway(
      plainConfig(
        upstream.url,
        `  - { name: read, match: { path: /r/*, methods: [GET] }, auth: public, upstream: backend }
  - { name: write, match: { path: /r/*, methods: [POST, PUT] }, auth: public, upstream: backend }
  - { name: rest, match: { path: /x/* }, auth: public, upstream: backend, stripPrefix: true }`,
      ),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });
  const url = (p: string) => `http://127.0.0.1:${gw.httpPort}${p}`;

  it('405 with Allow when the path matches but the method does not; nothing reaches the backend', async () => {
    const n = upstream.received.length;
    const res = await request(url('/r/1'), { method: 'DELETE' });
    assert.equal(res.statusCode, 405);
    assert.equal(res.headers.allow, 'GET, HEAD, POST, PUT');
    const body = (await res.body.json()) as { code: string; requestId: string };
    assert.equal(body.code, 'PCL_ROUTE_METHOD_NOT_ALLOWED');
    assert.equal(body.requestId, res.headers['x-request-id']);
    assert.equal(upstream.received.length, n);
  });

  it('HEAD, 204 and 304 pass through without a body', async () => {
    const head = await request(url('/r/1'), { method: 'HEAD' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(await head.body.text(), '');
    const empty = await request(url('/x/empty'));
    assert.equal(empty.statusCode, 204);
    assert.equal(await empty.body.text(), '');
    const cached = await request(url('/x/cached'));
    assert.equal(cached.statusCode, 304);
    assert.equal(cached.headers.etag, '"x"');
    await cached.body.text();
  });

  it('keeps every Set-Cookie header', async () => {
    const res = await request(url('/x/cookies'));
    await res.body.text();
    assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });

  it('answers an unknown Expect with 417 problem+json', async () => {
    const raw = await rawRequest(gw.httpPort, 'GET /r/1 HTTP/1.1\r\nHost: a\r\nExpect: fancy\r\n\r\n', { waitMs: 300 });
    assert.equal(raw.status, 417);
    assert.equal(rawJsonBody(raw.text)?.code, 'PCL_REQUEST_BAD_EXPECTATION');
  });

  it('answers a request for which the pipeline throws an unexpected error with 500, without internals', async () => {
    // A route whose stage list contains a stage that throws a plain Error (a bug): the client sees PCL_INTERNAL only.
    const route = gw.server.gateway.routes.find((r) => r.name === 'rest');
    assert.ok(route);
    (route.stages as unknown as { name: string; mode: string; needsBody: boolean; run(): void }[]).push({
      name: 'broken',
      mode: 'enforce',
      needsBody: false,
      run() {
        throw new TypeError('secret internal detail');
      },
    });
    try {
      const n = upstream.received.length;
      const res = await request(url('/x/boom'));
      assert.equal(res.statusCode, 500);
      const text = await res.body.text();
      assert.equal(JSON.parse(text).code, 'PCL_INTERNAL');
      assert.doesNotMatch(text, /secret internal detail|TypeError/);
      assert.equal(upstream.received.length, n);
    } finally {
      (route.stages as unknown[]).pop();
    }
  });
});
