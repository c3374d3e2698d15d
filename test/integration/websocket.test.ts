/**
 * WebSocket through the gateway (RFC 6455 over an HTTP/1.1 Upgrade): echo of text, binary and
 * fragmented messages to a real `ws` backend; the handshake runs the route's stages (401 without a
 * key, 429 over the rate limit) and nothing reaches the backend when it is refused; a route without
 * `websocket` refuses the upgrade; the message-size limit closes with 1009 in both directions; the
 * idle timeout closes both sides; a backend that does not switch protocols gives 502; other
 * Upgrade tokens (h2c) are never switched nor forwarded.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket as WsClient, WebSocketServer, type ClientOptions } from 'ws';
import { newApiKey } from '../../src/auth/api-key.ts';
import { makeCerts, rawJsonBody, rawRequest, startGateway, type TestGateway } from '../helpers/harness.ts';

interface Backend {
  url: string;
  /** Messages the backend received whole. */
  messages: { data: Buffer; binary: boolean }[];
  /** Handshakes and plain requests that reached the backend. */
  handshakes: http.IncomingMessage[];
  plain: http.IncomingMessage[];
  wss: WebSocketServer;
  server: http.Server;
  close(): Promise<void>;
}

/** A `ws` echo server; `/big` answers every message with a 4 KB one; `/refuse403` refuses the upgrade. */
async function startBackend(): Promise<Backend> {
  const messages: Backend['messages'] = [];
  const handshakes: http.IncomingMessage[] = [];
  const plain: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    plain.push(req);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    handshakes.push(req);
    if (req.url === '/refuse/403') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    if (req.url === '/refuse/plain') {
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer, binary: boolean) => {
        messages.push({ data, binary });
        if (req.url === '/big') ws.send(Buffer.alloc(4096, 0x62));
        else ws.send(data, { binary });
      });
      ws.on('error', () => {});
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    handshakes,
    plain,
    wss,
    server,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      server.close();
    },
  };
}

function handshake(path: string, extra = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`
  );
}

function connect(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const ws = new WsClient(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WsClient): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));
}

function closed(ws: WsClient): Promise<{ code: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => ws.once('close', (code: number) => resolve({ code, ms: performance.now() - t0 })));
}

describe('websocket', () => {
  let backend: Backend;
  let gw: TestGateway;
  const key = newApiKey();
  let base = '';

  before(async () => {
    backend = await startBackend();
    gw = await startGateway(`
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  trustedProxies: [127.0.0.1]
logging: { level: silent, accessLog: "off" }
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${key.keyHash}" }]
upstreams:
  backend: { targets: [${backend.url}], timeout: 5s }
routes:
  - name: echo
    match: { path: /echo }
    auth: public
    upstream: backend
    websocket: true
  - name: private
    match: { path: /private }
    auth: keys
    upstream: backend
    websocket: true
  - name: limited
    match: { path: /limited }
    auth: public
    upstream: backend
    websocket: true
    rateLimit: [{ by: ip, limit: 1, per: 1m, name: ws }]
  - name: single
    match: { path: /single }
    auth: public
    upstream: backend
    websocket: true
    concurrency: { by: ip, limit: 1 }
  - name: small
    match: { path: /small }
    auth: public
    upstream: backend
    websocket: { maxMessageBytes: 1kb }
  - name: big
    match: { path: /big }
    auth: public
    upstream: backend
    websocket: { maxMessageBytes: 1kb }
  - name: browser
    match: { path: /browser }
    auth: public
    upstream: backend
    websocket: { allowedOrigins: ["https://app.example.com"] }
  - name: idle
    match: { path: /idle }
    auth: public
    upstream: backend
    websocket: { idleTimeout: 600ms }
  - name: refuse
    match: { path: /refuse/* }
    auth: public
    upstream: backend
    websocket: true
  - name: plain
    match: { path: /plain }
    auth: public
    upstream: backend
`);
    base = `ws://127.0.0.1:${gw.httpPort}`;
  });

  after(async () => {
    await gw.close();
    await backend.close();
  });

  it('echoes text and binary messages (Node global WebSocket client), with the forwarding headers at the backend', async () => {
    const before = backend.handshakes.length;
    const ws = new WebSocket(`${base}/echo`);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const got: (string | ArrayBuffer)[] = [];
    const two = new Promise<void>((resolve) => {
      ws.onmessage = (e: MessageEvent) => {
        got.push(e.data as string | ArrayBuffer);
        if (got.length === 2) resolve();
      };
    });
    ws.send('hello');
    ws.send(new Uint8Array([0, 1, 2, 255]));
    await two;
    assert.equal(got[0], 'hello');
    assert.deepEqual([...new Uint8Array(got[1] as ArrayBuffer)], [0, 1, 2, 255]);
    const upstreamOf = [...gw.server.gateway.upstreams.values()].find((u) => u.stats.websocketsOpen > 0);
    assert.equal(upstreamOf?.stats.websocketsOpen, 1, 'the open tunnel is counted (metrics: portcullis_websocket_connections)');
    const closed = new Promise((resolve) => (ws.onclose = resolve));
    ws.close(1000);
    await closed;
    const stats: { websocketsOpen: number } = upstreamOf.stats;
    for (let i = 0; i < 50 && stats.websocketsOpen !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(stats.websocketsOpen, 0, 'and no longer once closed');
    const h = backend.handshakes[before];
    assert.ok(h);
    assert.equal(h.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(h.headers['x-forwarded-proto'], 'http');
    assert.match(String(h.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(h.headers.upgrade, 'websocket');
  });

  it('relays fragmented messages and large frames (16- and 64-bit lengths) whole', async () => {
    const ws = await connect(`${base}/echo`);
    const reply = nextMessage(ws);
    ws.send('part one, ', { fin: false });
    ws.send('part two, ', { fin: false });
    ws.send('end', { fin: true });
    assert.equal((await reply).data.toString(), 'part one, part two, end');
    for (const size of [300, 70_000]) {
      const payload = Buffer.alloc(size, 7);
      const r = nextMessage(ws);
      ws.send(payload);
      const m = await r;
      assert.equal(m.binary, true);
      assert.equal(m.data.length, size);
    }
    const logged = gw.log.length;
    const done = closed(ws);
    ws.close(1000, 'bye');
    assert.equal((await done).code, 1000);
    // One access-log line per connection, written when it closes.
    await sleep(50);
    const line = gw.log.slice(logged).find((l) => l.route === 'echo');
    assert.equal(line?.status, 101);
    assert.equal(line?.upstream, 'backend');
  });

  it('runs the route stages on the handshake: 401 without a key, the backend sees nothing; a key passes', async () => {
    const before = backend.handshakes.length;
    const res = await rawRequest(gw.httpPort, handshake('/private'));
    assert.equal(res.status, 401);
    assert.match(res.text, /content-type: application\/problem\+json/i);
    assert.equal(rawJsonBody(res.text)?.code, 'PCL_AUTHN_MISSING_CREDENTIALS');
    assert.equal(res.closed, true);
    assert.equal(backend.handshakes.length, before);
    const ws = await connect(`${base}/private`, { 'x-api-key': key.key });
    const reply = nextMessage(ws);
    ws.send('authorized');
    assert.equal((await reply).data.toString(), 'authorized');
    assert.equal(backend.handshakes.at(-1)?.headers['x-api-key'], key.key);
    ws.close();
  });

  it('rate-limits handshakes: the second one gets 429', async () => {
    const ip = { 'x-forwarded-for': '10.9.9.9' };
    const ws = await connect(`${base}/limited`, ip);
    ws.close();
    const before = backend.handshakes.length;
    const res = await rawRequest(gw.httpPort, handshake('/limited', 'X-Forwarded-For: 10.9.9.9\r\n'));
    assert.equal(res.status, 429);
    assert.equal(rawJsonBody(res.text)?.code, 'PCL_RATE_LIMITED');
    assert.equal(backend.handshakes.length, before);
  });

  it('concurrency holds its slot for the life of the connection', async () => {
    const ip = { 'x-forwarded-for': '10.8.8.8' };
    const first = await connect(`${base}/single`, ip);
    const second = await rawRequest(gw.httpPort, handshake('/single', 'X-Forwarded-For: 10.8.8.8\r\n'));
    assert.equal(second.status, 429);
    assert.equal(rawJsonBody(second.text)?.code, 'PCL_CONCURRENCY_LIMITED');
    const done = closed(first);
    first.close(1000);
    await done;
    await sleep(50);
    const third = await connect(`${base}/single`, ip);
    third.close();
  });

  it('refuses the upgrade on a route without websocket: 400, nothing reaches the backend', async () => {
    const hs = backend.handshakes.length;
    const plain = backend.plain.length;
    const res = await rawRequest(gw.httpPort, handshake('/plain'));
    assert.equal(res.status, 400);
    assert.equal(rawJsonBody(res.text)?.code, 'PCL_WEBSOCKET_NOT_ALLOWED');
    assert.equal(res.closed, true);
    assert.equal(backend.handshakes.length, hs);
    assert.equal(backend.plain.length, plain);
  });

  it('refuses a malformed handshake (no key, wrong version)', async () => {
    const noKey = await rawRequest(
      gw.httpPort,
      'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.equal(noKey.status, 400);
    assert.equal(rawJsonBody(noKey.text)?.code, 'PCL_WEBSOCKET_BAD_HANDSHAKE');
    const v8 = await rawRequest(gw.httpPort, handshake('/echo').replace('Version: 13', 'Version: 8'));
    assert.equal(v8.status, 400);
    assert.match(v8.text, /sec-websocket-version: 13/i);
  });

  it('allowedOrigins: a browser handshake from another origin gets 403; the allowed one and no Origin pass', async () => {
    const before = backend.handshakes.length;
    const evil = await rawRequest(gw.httpPort, handshake('/browser', 'Origin: https://evil.example.net\r\n'));
    assert.equal(evil.status, 403);
    assert.equal(rawJsonBody(evil.text)?.code, 'PCL_WEBSOCKET_ORIGIN_DENIED');
    assert.equal(backend.handshakes.length, before);
    const good = await connect(`${base}/browser`, { origin: 'https://APP.example.com' });
    good.close();
    const cli = await connect(`${base}/browser`);
    cli.close();
    assert.equal(backend.handshakes.length, before + 2);
  });

  it('never switches to another protocol: Upgrade: h2c is served as HTTP/1.1 and not forwarded', async () => {
    const plain = backend.plain.length;
    const res = await rawRequest(
      gw.httpPort,
      'GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
      { waitMs: 500 },
    );
    assert.equal(res.status, 200);
    const req = backend.plain[plain];
    assert.ok(req);
    assert.equal(req.headers.upgrade, undefined);
    assert.equal(req.headers['http2-settings'], undefined);
  });

  it('closes with 1009 a client message over maxMessageBytes; the backend never gets it', async () => {
    const ws = await connect(`${base}/small`);
    const reply = nextMessage(ws);
    ws.send(Buffer.alloc(1000, 1));
    assert.equal((await reply).data.length, 1000);
    const before = backend.messages.length;
    const done = closed(ws);
    // Fragmented: two frames within the limit each, 1,600 bytes together.
    ws.send(Buffer.alloc(800, 2), { fin: false });
    ws.send(Buffer.alloc(800, 2), { fin: true });
    assert.equal((await done).code, 1009);
    await sleep(100);
    assert.equal(backend.messages.length, before);
  });

  it('closes with 1009 a backend message over maxMessageBytes', async () => {
    const ws = await connect(`${base}/big`);
    let got = 0;
    ws.on('message', () => got++);
    const done = closed(ws);
    ws.send('give me a big one');
    assert.equal((await done).code, 1009);
    assert.equal(got, 0);
  });

  it('closes both sides after the idle timeout', async () => {
    const ws = await connect(`${base}/idle`);
    const backendClosed = new Promise<void>((resolve) => {
      const server = [...backend.wss.clients].at(-1);
      assert.ok(server);
      server.once('close', () => resolve());
    });
    // Activity keeps it open...
    for (let i = 0; i < 3; i++) {
      const r = nextMessage(ws);
      ws.send('ping');
      await r;
      await sleep(100);
    }
    assert.equal(ws.readyState, WsClient.OPEN);
    // ...silence closes it.
    const { code, ms } = await closed(ws);
    assert.equal(code, 1001);
    assert.ok(ms < 2000, `closed after ${ms} ms`);
    await backendClosed;
  });

  it('answers 502 when the backend does not switch protocols (403 or a plain 200)', async () => {
    const refused = await rawRequest(gw.httpPort, handshake('/refuse/403'));
    assert.equal(refused.status, 502);
    assert.equal(rawJsonBody(refused.text)?.code, 'PCL_UPSTREAM_UPGRADE_REFUSED');
    // A backend that answers the handshake like a plain GET: 200 with a body.
    const ok = await rawRequest(gw.httpPort, handshake('/refuse/plain'));
    assert.equal(ok.status, 502);
    assert.equal(rawJsonBody(ok.text)?.code, 'PCL_UPSTREAM_UPGRADE_REFUSED');
  });
});

describe('websocket over TLS (wss)', () => {
  it('echoes through the HTTPS listener (HTTP/1.1 by ALPN), with X-Forwarded-Proto https', async () => {
    const backend = await startBackend();
    const certs = await makeCerts({ api: ['localhost'] });
    const gw = await startGateway(`
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates: [{ cert: ${certs.files.api?.cert}, key: ${certs.files.api?.key} }]
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: { targets: [${backend.url}], timeout: 5s }
routes:
  - { name: echo, match: { path: /echo }, auth: public, upstream: backend, websocket: true }
`);
    try {
      const ws = new WsClient(`wss://127.0.0.1:${gw.httpsPort}/echo`, { ca: certs.ca.pem, servername: 'localhost' } as ClientOptions);
      await once(ws, 'open');
      const reply = nextMessage(ws);
      ws.send('over tls');
      assert.equal((await reply).data.toString(), 'over tls');
      assert.equal(backend.handshakes.at(-1)?.headers['x-forwarded-proto'], 'https');
      const done = closed(ws);
      ws.close(1000);
      assert.equal((await done).code, 1000);
    } finally {
      await gw.close();
      await backend.close();
      await certs.cleanup();
    }
  });
});
