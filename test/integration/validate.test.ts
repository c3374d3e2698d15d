/**
 * The validate stage over real sockets: what the upstream receives (byte for byte, for HTTP/1.1 with
 * Content-Length or chunked and for HTTP/2), the route body limit (declared, streamed, announced
 * with Expect: 100-continue), media types, the problem body's `errors`, hidden errors, the order
 * (no body is read before authentication) and shadow mode.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newApiKey } from '../../src/auth/api-key.ts';
import {
  makeCerts,
  parseResponses,
  problemCode,
  startGateway,
  startUpstream,
  watchHeads,
  type CertFiles,
  type ParsedResponse,
  type TestGateway,
  type TestUpstream,
  type UpstreamHead,
} from '../helpers/harness.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** A raw HTTP/1.1 connection written in steps; everything the server sends is collected. */
class RawConn {
  readonly socket: net.Socket;
  closed = false;
  private readonly chunks: Buffer[] = [];
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.chunks.push(c));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }
  static async open(port: number): Promise<RawConn> {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const conn = new RawConn(socket);
    await once(socket, 'connect');
    return conn;
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  get responses(): ParsedResponse[] {
    return parseResponses(this.text);
  }
  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }
  until(check: (c: RawConn) => boolean, ms: number): Promise<boolean> {
    return waitFor(() => check(this), ms);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** One request on a fresh raw connection with `Connection: close`; the first response. */
async function raw1(port: number, head: string, body: Buffer | string = ''): Promise<ParsedResponse> {
  const conn = await RawConn.open(port);
  try {
    conn.write(Buffer.concat([Buffer.from(`${head}Connection: close\r\n\r\n`, 'latin1'), Buffer.from(body)]));
    assert.ok(await conn.until((c) => c.closed, 3000), 'the connection is closed after the answer');
    const res = conn.responses[0];
    assert.ok(res, JSON.stringify(conn.text.slice(0, 300)));
    return res;
  } finally {
    conn.destroy();
  }
}

function post(p: string, type: string | undefined, length: number, extra = ''): string {
  return `POST ${p} HTTP/1.1\r\nHost: localhost\r\n${type === undefined ? '' : `Content-Type: ${type}\r\n`}Content-Length: ${length}\r\n${extra}`;
}

interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  /** The stream was reset (RST_STREAM) by the server, with this code. */
  rstCode: number;
  /** A 100 Continue arrived. */
  continued: boolean;
}

/** One HTTP/2 request; `body` is sent in the given chunks, then the stream is ended (unless `end` is false). */
async function h2(port: number, p: string, headers: Record<string, string>, chunks: (string | Buffer)[], end = true): Promise<H2Response> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
  session.on('error', () => {});
  try {
    const req = session.request({ ':method': 'POST', ':path': p, ...headers }, { endStream: chunks.length === 0 && end });
    req.on('error', () => {});
    const closed = once(req, 'close');
    const out: Buffer[] = [];
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    let continued = false;
    req.on('continue', () => (continued = true));
    req.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h;
    });
    req.on('data', (c: Buffer) => out.push(c));
    for (const c of chunks) {
      req.write(c);
      await sleep(5);
    }
    if (chunks.length > 0 && end) req.end();
    await closed;
    return { status, headers: resHeaders, body: Buffer.concat(out).toString(), rstCode: req.rstCode ?? 0, continued };
  } finally {
    session.close();
  }
}

function problem(body: string): { code: string; errors?: { pointer: string; message: string }[]; detail?: string } {
  return JSON.parse(body) as { code: string; errors?: { pointer: string; message: string }[] };
}

// ---------------------------------------------------------------------------------------------
// one gateway: server body limit 1kb; routes with lower and higher limits, schemas from files

const SERVER_LIMIT = 1024;
const ORDER_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['email', 'items'],
  additionalProperties: false,
  properties: {
    email: { type: 'string', format: 'email' },
    note: { type: 'string' },
    items: { type: 'array', minItems: 1, items: { $ref: 'common.json#/definitions/item' } },
  },
};
const COMMON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  definitions: {
    item: {
      type: 'object',
      required: ['sku', 'qty'],
      properties: { sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]+$' }, qty: { type: 'integer', minimum: 1 } },
    },
  },
};

let upstream: TestUpstream;
let heads: UpstreamHead[];
let certs: CertFiles;
let dir: string;
let gw: TestGateway;
const apiKey = newApiKey();

before(async () => {
  upstream = await startUpstream();
  heads = watchHeads(upstream);
  certs = await makeCerts({ localhost: ['localhost', '127.0.0.1'] });
  dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-validate-'));
  await mkdir(path.join(dir, 'schemas'));
  await writeFile(path.join(dir, 'schemas', 'order.json'), JSON.stringify(ORDER_SCHEMA));
  await writeFile(path.join(dir, 'schemas', 'common.json'), JSON.stringify(COMMON_SCHEMA));
  await mkdir(path.join(dir, 'specs'));
  await copyFile(new URL('../fixtures/specs/orders.openapi.yaml', import.meta.url), path.join(dir, 'specs', 'orders.openapi.yaml'));
  const leaf = certs.files.localhost as { cert: string; key: string };
  gw = await startGateway(
    `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  https:
    host: 127.0.0.1
    port: 0
    certificates: [{ cert: "${leaf.cert}", key: "${leaf.key}" }]
  limits: { maxBodyBytes: 1kb, requestTimeout: 1500ms, headersTimeout: 1s }
logging: { level: silent, accessLog: "off" }
authenticators:
  keys:
    type: apiKey
    in: header
    name: x-api-key
    consumers: [{ id: acme, keyHash: "${apiKey.keyHash}" }]
upstreams:
  backend: { targets: ["${upstream.url}"], timeout: 5s }
routes:
  - name: orders
    match: { path: /orders }
    auth: public
    upstream: backend
    validate:
      maxBodyBytes: 4kb
      contentTypes: [application/json, "application/*+json"]
      body: { $ref: schemas/order.json }
  - name: small
    match: { path: /small }
    auth: public
    upstream: backend
    validate: { maxBodyBytes: 256b, limits: { maxDepth: 4 } }
  - name: small-stream
    match: { path: /small-stream }
    auth: public
    upstream: backend
    validate: { maxBodyBytes: 256b }
  - name: hidden
    match: { path: /hidden }
    auth: public
    upstream: backend
    validate:
      errors: hidden
      contentTypes: [application/json]
      body: { type: object, required: [id], properties: { id: { type: string, format: uuid } } }
  - name: private
    match: { path: /private }
    auth: keys
    upstream: backend
    validate: { body: { type: object } }
  - name: shadow
    match: { path: /shadow }
    auth: public
    mode: shadow
    upstream: backend
    validate:
      contentTypes: [application/json]
      body: { type: object, required: [id] }
  - name: forms
    match: { path: /forms }
    auth: public
    upstream: backend
    validate:
      contentTypes: [application/x-www-form-urlencoded, multipart/form-data]
      body:
        type: object
        required: [name]
        properties:
          name: { type: string, minLength: 2 }
          tag: { type: array, items: { type: string } }
          at: { type: string, format: date-time }
      limits: { maxParts: 4, maxFieldBytes: 64b, maxFileBytes: 512b }
  - name: openapi
    match: { path: /api/* }
    auth: public
    upstream: backend
    validate: { openapi: specs/orders.openapi.yaml, basePath: /api, contentTypes: [application/json] }
  - name: rest
    match: { path: /* }
    auth: public
    upstream: backend
`,
    { baseDir: dir },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  await certs?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const VALID_ORDER = '{ "items" : [ {"qty":2,  "sku":"ABC-1"} ],\n\t"email":"a@example.com", "note": "caf\u00e9 \\u00e9 \ud83d\ude00 \\ud83d\\ude00" }  ';

// ---------------------------------------------------------------------------------------------

describe('the upstream receives the body byte for byte', () => {
  it('HTTP/1.1 with Content-Length: odd whitespace, key order, unicode raw and escaped', async () => {
    const body = Buffer.from(VALID_ORDER, 'utf8');
    const res = await raw1(gw.httpPort, post('/orders', 'application/json; charset=UTF-8', body.length), body);
    assert.equal(res.status, 200, res.body);
    const got = upstream.received.at(-1);
    assert.ok(got?.body.equals(body));
    assert.equal(got?.headers['content-length'], String(body.length));
    assert.equal(got?.headers['content-type'], 'application/json; charset=UTF-8');
  });

  it('HTTP/1.1 chunked: forwarded with a Content-Length, without Transfer-Encoding', async () => {
    const body = Buffer.from(VALID_ORDER, 'utf8');
    const a = body.subarray(0, 7);
    const b = body.subarray(7);
    const chunked = Buffer.concat([
      Buffer.from(`${a.length.toString(16)}\r\n`), a, Buffer.from('\r\n'),
      Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const res = await raw1(gw.httpPort, 'POST /orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n', chunked);
    assert.equal(res.status, 200, res.body);
    const got = upstream.received.at(-1);
    assert.ok(got?.body.equals(body));
    assert.equal(got?.headers['content-length'], String(body.length));
    assert.equal(got?.headers['transfer-encoding'], undefined);
  });

  it('HTTP/2 with and without content-length', async () => {
    const body = Buffer.from(VALID_ORDER, 'utf8');
    for (const headers of [{ 'content-type': 'application/json', 'content-length': String(body.length) }, { 'content-type': 'application/json' }]) {
      const res = await h2(gw.httpsPort, '/orders', headers, [body.subarray(0, 10), body.subarray(10)]);
      assert.equal(res.status, 200, res.body);
      const got = upstream.received.at(-1);
      assert.ok(got?.body.equals(body));
      assert.equal(got?.headers['content-length'], String(body.length));
    }
  });

  it('forms: urlencoded and multipart bytes are passed on unchanged', async () => {
    const form = Buffer.from('name=J%C3%BCrgen+X&tag=a&tag=b&&at=2024-01-02T03:04:05Z');
    let res = await raw1(gw.httpPort, post('/forms', 'application/x-www-form-urlencoded', form.length), form);
    assert.equal(res.status, 200, res.body);
    assert.ok(upstream.received.at(-1)?.body.equals(form));
    const multipart = Buffer.from(
      'preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nJo\r\n' +
        '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\xff\r\n' +
        '--XyZ--\r\nepilogue',
      'latin1',
    );
    res = await raw1(gw.httpPort, post('/forms', 'multipart/form-data; boundary="XyZ"', multipart.length), multipart);
    assert.equal(res.status, 200, res.body);
    assert.ok(upstream.received.at(-1)?.body.equals(multipart));
  });
});

describe('body size: the route limit, lower or higher than server.limits.maxBodyBytes', () => {
  it('a route limit higher than the server one: a 3kb body passes there, and gets 413 on a route without one', async () => {
    const big = Buffer.from(JSON.stringify({ email: 'a@example.com', items: [{ sku: 'ABC-1', qty: 1 }], note: 'n'.repeat(3000) }));
    let res = await raw1(gw.httpPort, post('/orders', 'application/json', big.length), big);
    assert.equal(res.status, 200, res.body);
    assert.ok(upstream.received.at(-1)?.body.equals(big));
    const headsBefore = heads.length;
    res = await raw1(gw.httpPort, post('/other', 'application/json', big.length), big);
    assert.equal(res.status, 413);
    assert.equal(problemCode(res), 'PCL_REQUEST_BODY_TOO_LARGE');
    assert.equal(heads.length, headsBefore);
  });

  for (const route of ['/small', '/small-stream']) {
    it(`${route}: a declared Content-Length over the route limit (under the server one): 413 before the body is sent`, async () => {
      const headsBefore = heads.length;
      const conn = await RawConn.open(gw.httpPort);
      try {
        conn.write(`${post(route, 'application/json', 500)}\r\n`);
        assert.ok(await conn.until((c) => c.responses.length === 1, 1000), 'answered without the body');
        assert.equal(conn.responses[0]?.status, 413);
        assert.equal(problemCode(conn.responses[0]), 'PCL_REQUEST_BODY_TOO_LARGE');
        assert.ok(await conn.until((c) => c.closed, 1000));
        assert.equal(heads.length, headsBefore);
      } finally {
        conn.destroy();
      }
    });

    it(`${route}: Expect: 100-continue with a length over the route limit: 413, no 100 Continue`, async () => {
      const headsBefore = heads.length;
      const conn = await RawConn.open(gw.httpPort);
      try {
        conn.write(`${post(route, 'application/json', 300, 'Expect: 100-continue\r\n')}\r\n`);
        assert.ok(await conn.until((c) => c.responses.some((r) => r.status >= 200), 1000));
        assert.deepEqual(conn.responses.map((r) => r.status), [413]);
        assert.ok(!conn.text.includes('100 Continue'));
        assert.equal(heads.length, headsBefore);
      } finally {
        conn.destroy();
      }
    });
  }

  it('a chunked body crossing the route limit: 413 at once, and the upstream never sees the request', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      const part = `[${'1,'.repeat(99)}1]`; // 201 bytes
      conn.write(`POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`);
      await sleep(50);
      assert.equal(conn.responses.length, 0, 'within the limit so far');
      conn.write(`${part.length.toString(16)}\r\n${part}\r\n`);
      assert.ok(await conn.until((c) => c.responses.length === 1, 1000), 'answered as soon as the limit is crossed');
      assert.equal(conn.responses[0]?.status, 413);
      assert.equal(problemCode(conn.responses[0]), 'PCL_REQUEST_BODY_TOO_LARGE');
      assert.equal(conn.responses[0]?.headers.connection, 'close');
      assert.ok(await conn.until((c) => c.closed, 1000));
      assert.equal(heads.length, headsBefore);
    } finally {
      conn.destroy();
    }
  });

  it('HTTP/2 without content-length crossing the route limit: 413, the stream is then reset without error', async () => {
    const headsBefore = heads.length;
    const t0 = Date.now();
    // The client never ends its stream: only the server's reset closes it.
    const res = await h2(gw.httpsPort, '/small', { 'content-type': 'application/json' }, ['[' + '1,'.repeat(100), '1,'.repeat(100)], false);
    assert.equal(res.status, 413);
    assert.equal(problem(res.body).code, 'PCL_REQUEST_BODY_TOO_LARGE');
    assert.equal(res.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(heads.length, headsBefore);
  });

  it('HTTP/2 with a declared content-length over the route limit: 413 before the body, the stream reset without error', async () => {
    const headsBefore = heads.length;
    const res = await h2(gw.httpsPort, '/small', { 'content-type': 'application/json', 'content-length': '300' }, ['[1'], false);
    assert.equal(res.status, 413);
    assert.equal(problem(res.body).code, 'PCL_REQUEST_BODY_TOO_LARGE');
    assert.equal(res.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(heads.length, headsBefore);
  });

  it('HTTP/2 with expect: 100-continue: 413 and no 100 over the route limit; 100 then 200 within it', async () => {
    const over = await h2(gw.httpsPort, '/small', { 'content-type': 'application/json', 'content-length': '300', expect: '100-continue' }, [], false);
    assert.equal(over.status, 413);
    assert.equal(over.continued, false);
    const body = Buffer.from(VALID_ORDER);
    const within = await h2(gw.httpsPort, '/orders', { 'content-type': 'application/json', 'content-length': String(body.length), expect: '100-continue' }, [body]);
    assert.equal(within.status, 200, within.body);
    assert.equal(within.continued, true);
    assert.ok(upstream.received.at(-1)?.body.equals(body));
    const unauthenticated = await h2(gw.httpsPort, '/private', { 'content-type': 'application/json', 'content-length': '10', expect: '100-continue' }, [], false);
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.continued, false);
  });

  it('Expect: 100-continue within the limit: 100 Continue only once the checks before the body passed, then 200', async () => {
    const body = Buffer.from(VALID_ORDER);
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`${post('/orders', 'application/json', body.length, 'Expect: 100-continue\r\n')}\r\n`);
      assert.ok(await conn.until((c) => c.text.includes('\r\n\r\n'), 1000));
      assert.equal(conn.text, 'HTTP/1.1 100 Continue\r\n\r\n');
      conn.write(body);
      assert.ok(await conn.until((c) => c.responses.some((r) => r.status >= 200), 2000));
      assert.deepEqual(conn.responses.map((r) => r.status), [100, 200]);
      assert.ok(upstream.received.at(-1)?.body.equals(body));
    } finally {
      conn.destroy();
    }
  });

  it('a body that stops arriving: 408 at the request timeout, nothing at the upstream', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    const t0 = Date.now();
    try {
      conn.write(`${post('/orders', 'application/json', 100)}\r\n{"items":`);
      assert.ok(await conn.until((c) => c.closed, 4000));
      assert.deepEqual(conn.responses.map((r) => r.status), [408]);
      assert.equal(problemCode(conn.responses[0]), 'PCL_REQUEST_TIMEOUT');
      assert.ok(Date.now() - t0 >= 1400, `after ${Date.now() - t0}ms`);
      assert.equal(heads.length, headsBefore);
    } finally {
      conn.destroy();
    }
  });
});

describe('media types (contentTypes)', () => {
  const CASES: { name: string; type: string | undefined; body: string; status: number; code?: string }[] = [
    { name: 'application/json; charset=utf-8 matches application/json', type: 'application/json; charset=utf-8', body: VALID_ORDER, status: 200 },
    { name: 'case and spacing do not matter', type: 'Application/JSON ;  Charset="UTF-8"', body: VALID_ORDER, status: 200 },
    { name: 'a +json type matches application/*+json', type: 'application/vnd.acme.order+json', body: VALID_ORDER, status: 200 },
    { name: 'text/plain is not allowed', type: 'text/plain', body: VALID_ORDER, status: 415, code: 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'application/jsonx is not application/json', type: 'application/jsonx', body: VALID_ORDER, status: 415, code: 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'JSON in a charset other than UTF-8', type: 'application/json; charset=iso-8859-1', body: VALID_ORDER, status: 415, code: 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a malformed Content-Type', type: 'application/json; charset', body: VALID_ORDER, status: 415, code: 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a body without Content-Type', type: undefined, body: VALID_ORDER, status: 415, code: 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE' },
  ];
  for (const c of CASES) {
    it(`${c.name} → ${c.status}`, async () => {
      const receivedBefore = upstream.received.length;
      const body = Buffer.from(c.body);
      const res = await raw1(gw.httpPort, post('/orders', c.type, body.length), body);
      assert.equal(res.status, c.status, res.body);
      if (c.code) {
        assert.equal(problemCode(res), c.code);
        assert.equal(upstream.received.length, receivedBefore);
      } else {
        assert.ok(upstream.received.at(-1)?.body.equals(body));
      }
    });
  }

  it('a request without a body and without Content-Type passes', async () => {
    const res = await raw1(gw.httpPort, 'GET /hidden HTTP/1.1\r\nHost: localhost\r\n');
    assert.equal(res.status, 200, res.body);
  });

  it('two Content-Type fields: 400, the body would be read as one type and used as another', async () => {
    const body = Buffer.from('{"id":"x"}');
    const res = await raw1(gw.httpPort, `${post('/hidden', 'application/json', body.length)}Content-Type: text/plain\r\n`, body);
    assert.equal(res.status, 400);
    assert.equal(problemCode(res), 'PCL_REQUEST_BAD_HEADER');
  });
});

describe('400 with an errors list', () => {
  const CASES: { name: string; route: string; type: string; body: string; code: string; errors?: { pointer: string; message: string }[] }[] = [
    {
      name: 'schema errors point into the body (required, type, format, pattern, additionalProperties), all of them',
      route: '/orders',
      type: 'application/json',
      body: '{"email":"not-an-email","items":[{"sku":"abc","qty":0},{"qty":"2"}],"extra":1}',
      code: 'PCL_REQUEST_VALIDATION_FAILED',
      errors: [
        { pointer: '/extra', message: 'is not allowed' },
        { pointer: '/email', message: 'must match format "email"' },
        { pointer: '/items/0/sku', message: 'must match pattern "^[A-Z]{3}-[0-9]+$"' },
        { pointer: '/items/0/qty', message: 'must be >= 1' },
        { pointer: '/items/1/sku', message: 'is required' },
        { pointer: '/items/1/qty', message: 'must be integer' },
      ],
    },
    {
      name: 'invalid JSON',
      route: '/orders',
      type: 'application/json',
      body: '{"email": "a@example.com",}',
      code: 'PCL_REQUEST_MALFORMED_BODY',
    },
    {
      name: 'a __proto__ key, deep',
      route: '/orders',
      type: 'application/json',
      body: '{"email":"a@example.com","items":[{"sku":"ABC-1","qty":1,"__proto__":{"admin":true}}]}',
      code: 'PCL_REQUEST_FORBIDDEN_KEY',
      errors: [{ pointer: '/items/0/__proto__', message: 'the key "__proto__" is not allowed' }],
    },
    {
      name: 'a constructor.prototype key written with escapes',
      route: '/small',
      type: 'application/json',
      body: '{"a":{"\\u0063onstructor":{"prototype":{"x":1}}}}',
      code: 'PCL_REQUEST_FORBIDDEN_KEY',
      errors: [{ pointer: '/a/constructor', message: 'the key "constructor" is not allowed' }],
    },
    {
      name: 'nesting over limits.maxDepth',
      route: '/small',
      type: 'application/json',
      body: '{"a":[[{"b":[1]}]]}',
      code: 'PCL_REQUEST_BODY_TOO_COMPLEX',
      errors: [{ pointer: '/a/0/0/b', message: 'nests deeper than 4 levels' }],
    },
    {
      name: 'a form field under the schema: urlencoded',
      route: '/forms',
      type: 'application/x-www-form-urlencoded',
      body: 'name=J&tag=x&at=yesterday',
      code: 'PCL_REQUEST_VALIDATION_FAILED',
      errors: [
        { pointer: '/name', message: 'must NOT have fewer than 2 characters' },
        { pointer: '/tag', message: 'must be array' },
        { pointer: '/at', message: 'must match format "date-time"' },
      ],
    },
    {
      name: 'a form with too many fields',
      route: '/forms',
      type: 'application/x-www-form-urlencoded',
      body: 'name=Jo&a=1&b=2&c=3&d=4',
      code: 'PCL_REQUEST_BODY_TOO_COMPLEX',
    },
    {
      name: 'a multipart body without its closing boundary',
      route: '/forms',
      type: 'multipart/form-data; boundary=b1',
      body: '--b1\r\nContent-Disposition: form-data; name="name"\r\n\r\nJo\r\n',
      code: 'PCL_REQUEST_MALFORMED_BODY',
    },
    {
      name: 'a multipart body without a boundary parameter',
      route: '/forms',
      type: 'multipart/form-data',
      body: '--b1\r\nContent-Disposition: form-data; name="name"\r\n\r\nJo\r\n--b1--',
      code: 'PCL_REQUEST_MALFORMED_BODY',
    },
  ];
  for (const c of CASES) {
    it(`${c.name} → 400 ${c.code}`, async () => {
      const receivedBefore = upstream.received.length;
      const body = Buffer.from(c.body);
      const res = await raw1(gw.httpPort, post(c.route, c.type, body.length), body);
      assert.equal(res.status, 400, res.body);
      assert.equal(problemCode(res), c.code);
      const p = problem(res.body);
      assert.ok(Array.isArray(p.errors) && p.errors.length > 0);
      if (c.errors) assert.deepEqual(p.errors, c.errors);
      assert.equal(upstream.received.length, receivedBefore);
    });
  }

  it('a multipart file part over limits.maxFileBytes: 413 with the part named', async () => {
    const body = `--b1\r\nContent-Disposition: form-data; name="name"\r\n\r\nJo\r\n--b1\r\nContent-Disposition: form-data; name="doc"; filename="x.txt"\r\n\r\n${'x'.repeat(600)}\r\n--b1--`;
    const res = await raw1(gw.httpPort, post('/forms', 'multipart/form-data; boundary=b1', body.length), body);
    assert.equal(res.status, 413);
    assert.deepEqual(problem(res.body).errors, [{ pointer: '/doc', message: 'is larger than 512 bytes' }]);
  });

  it('errors: hidden gives the code and nothing else; the log keeps the reason', async () => {
    const body = '{"id":"not-a-uuid"}';
    const res = await raw1(gw.httpPort, post('/hidden', 'application/json', body.length), body);
    assert.equal(res.status, 400);
    assert.equal(problemCode(res), 'PCL_REQUEST_VALIDATION_FAILED');
    const p = problem(res.body);
    assert.equal(p.errors, undefined);
    assert.equal(p.detail, undefined);
    await waitFor(() => gw.log.some((l) => l.route === 'hidden' && l.status === 400), 1000);
    const entry = gw.log.findLast((l) => l.route === 'hidden');
    assert.deepEqual(entry?.decisions.at(-1)?.code, 'PCL_REQUEST_VALIDATION_FAILED');
    assert.match(entry?.decisions.at(-1)?.detail ?? '', /\/id must match format "uuid"/);
    const hiddenType = await raw1(gw.httpPort, post('/hidden', 'text/plain', 2), 'hi');
    assert.equal(hiddenType.status, 415);
    assert.equal(problem(hiddenType.body).detail, undefined);
  });

  it('after a 400 on a body read whole, the connection stays usable', async () => {
    const conn = await RawConn.open(gw.httpPort);
    try {
      const bad = '{"id":1}';
      const good = '{"id":"0b6f3c2e-2d7a-4c53-9a55-7f2e0d1c9b11"}';
      conn.write(`${post('/hidden', 'application/json', bad.length)}\r\n${bad}`);
      assert.ok(await conn.until((c) => c.responses.length === 1, 1000));
      conn.write(`${post('/hidden', 'application/json', good.length)}\r\n${good}`);
      assert.ok(await conn.until((c) => c.responses.length === 2, 1000));
      assert.deepEqual(conn.responses.map((r) => r.status), [400, 200]);
      assert.equal(conn.closed, false);
    } finally {
      conn.destroy();
    }
  });
});

describe('order: authentication and limits before the body is read', () => {
  it('an unauthenticated request is answered 401 before its body has been sent', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`${post('/private', 'application/json', 900)}\r\n{"a":`);
      assert.ok(await conn.until((c) => c.responses.length === 1, 1000), 'answered while the body is still missing');
      assert.equal(conn.responses[0]?.status, 401);
      assert.equal(problemCode(conn.responses[0]), 'PCL_AUTHN_MISSING_CREDENTIALS');
      assert.ok(await conn.until((c) => c.closed, 1000), 'the unread body closes the connection');
      assert.equal(heads.length, headsBefore);
    } finally {
      conn.destroy();
    }
  });

  it('with Expect: 100-continue: 401 and no 100 Continue', async () => {
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`${post('/private', 'application/json', 900, 'Expect: 100-continue\r\n')}\r\n`);
      assert.ok(await conn.until((c) => c.responses.some((r) => r.status >= 200), 1000));
      assert.deepEqual(conn.responses.map((r) => r.status), [401]);
    } finally {
      conn.destroy();
    }
  });

  it('authenticated: the body is read, validated and forwarded', async () => {
    const body = '{"ok": true}';
    const res = await raw1(gw.httpPort, `${post('/private', 'application/json', body.length)}X-Api-Key: ${apiKey.key}\r\n`, body);
    assert.equal(res.status, 200, res.body);
    assert.equal(upstream.received.at(-1)?.body.toString(), body);
    const notObject = await raw1(gw.httpPort, `${post('/private', 'application/json', 2)}X-Api-Key: ${apiKey.key}\r\n`, '[]');
    assert.equal(notObject.status, 400);
    assert.deepEqual(problem(notObject.body).errors, [{ pointer: '', message: 'must be object' }]);
  });
});

describe('shadow mode', () => {
  it('an invalid body and a wrong media type pass, recorded as shadow-deny', async () => {
    for (const [type, body, stage, code] of [
      ['application/json', '{"no-id":true}', 'validate', 'PCL_REQUEST_VALIDATION_FAILED'],
      ['text/plain', 'hello', 'content-type', 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE'],
    ] as const) {
      const res = await raw1(gw.httpPort, post('/shadow', type, body.length), body);
      assert.equal(res.status, 200, res.body);
      assert.equal(upstream.received.at(-1)?.body.toString(), body);
      await waitFor(() => gw.log.some((l) => l.route === 'shadow' && l.status === 200 && l.decisions.some((d) => d.stage === stage)), 1000);
      const entry = gw.log.findLast((l) => l.route === 'shadow');
      assert.deepEqual(entry?.decisions.filter((d) => d.stage === stage).map((d) => [d.decision, d.code]), [['shadow-deny', code]]);
    }
  });
});

describe('OpenAPI (validate.openapi) through the body stage', () => {
  it('a valid operation is forwarded byte for byte; the body, the method and the path are checked', async () => {
    const body = Buffer.from('{"items":[{"sku":"ABC-1","qty":1}],   "customerEmail":"a@example.com"}');
    let res = await raw1(gw.httpPort, post('/api/orders', 'application/json', body.length), body);
    assert.equal(res.status, 200, res.body);
    assert.ok(upstream.received.at(-1)?.body.equals(body));

    const receivedBefore = upstream.received.length;
    const bad = '{"items":[{"sku":"abc","qty":1}]}';
    res = await raw1(gw.httpPort, post('/api/orders', 'application/json', bad.length), bad);
    assert.equal(res.status, 400);
    assert.equal(problemCode(res), 'PCL_REQUEST_VALIDATION_FAILED');
    assert.deepEqual(problem(res.body).errors?.map((e) => e.pointer), ['/items/0/sku']);

    res = await raw1(gw.httpPort, 'GET /api/orders HTTP/1.1\r\nHost: localhost\r\n');
    assert.equal(res.status, 405);
    assert.equal(problemCode(res), 'PCL_ROUTE_METHOD_NOT_ALLOWED');
    assert.equal(res.headers.allow, 'POST');

    res = await raw1(gw.httpPort, 'GET /api/nothing HTTP/1.1\r\nHost: localhost\r\n');
    assert.equal(res.status, 404);
    assert.equal(problemCode(res), 'PCL_ROUTE_NOT_FOUND');
    assert.equal(upstream.received.length, receivedBefore);
  });
});
