import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { H1Pool, type H1PoolOptions } from './pool.ts';

// --- a raw HTTP/1.1 server that writes exact bytes ---

interface RawRequest {
  /** The whole request as received (head and body), latin1. */
  raw: string;
  path: string;
  /** Index of the connection it arrived on (0-based, in accept order). */
  conn: number;
  /** Number of 'data' events the request arrived in. */
  reads: number;
}

type Responder = (sock: net.Socket, req: RawRequest, n: number) => void;

interface RawServer {
  origin: string;
  port: number;
  requests: RawRequest[];
  /** Connections accepted so far. */
  connections: number;
  sockets: net.Socket[];
  closedSockets: number;
  close(): Promise<void>;
}

const servers: RawServer[] = [];
const pools: H1Pool[] = [];

after(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  await Promise.all(servers.map((s) => s.close()));
});

/** The length of a complete request at the start of `s` (latin1), or -1. */
function requestLength(s: string): number {
  const end = s.indexOf('\r\n\r\n');
  if (end === -1) return -1;
  const head = s.slice(0, end).toLowerCase();
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  if (cl) {
    const total = end + 4 + Number(cl[1]);
    return s.length >= total ? total : -1;
  }
  if (head.includes('\r\ntransfer-encoding: chunked')) {
    const t = s.indexOf('\r\n0\r\n\r\n', end);
    return t === -1 ? -1 : t + 7;
  }
  return end + 4;
}

function rawServer(respond: Responder): Promise<RawServer> {
  const sockets: net.Socket[] = [];
  const ctl: RawServer = {
    origin: '',
    port: 0,
    requests: [],
    connections: 0,
    sockets,
    closedSockets: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((sock) => {
    const conn = ctl.connections++;
    sockets.push(sock);
    sock.setNoDelay(true);
    let buf = '';
    let reads = 0;
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      reads++;
      for (;;) {
        const n = requestLength(buf);
        if (n === -1) return;
        const raw = buf.slice(0, n);
        buf = buf.slice(n);
        const req: RawRequest = { raw, path: raw.split(' ')[1] ?? '', conn, reads };
        reads = 0;
        ctl.requests.push(req);
        respond(sock, req, ctl.requests.length - 1);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => ctl.closedSockets++);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      ctl.port = (server.address() as AddressInfo).port;
      ctl.origin = `http://127.0.0.1:${ctl.port}`;
      servers.push(ctl);
      resolve(ctl);
    });
  });
}

/** A server answering every request with the same bytes. */
function fixed(response: string): Promise<RawServer> {
  return rawServer((sock) => sock.write(response, 'latin1'));
}

function pool(origin: string, options: H1PoolOptions = {}): H1Pool {
  const p = new H1Pool(origin, options);
  pools.push(p);
  return p;
}

// --- a recording handler ---

interface Outcome {
  status: number;
  message: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  chunks: number;
  trailers: Record<string, string | string[] | undefined> | null;
  error: (Error & { code?: string }) | null;
  events: string[];
  controller: Dispatcher.DispatchController | null;
}

interface Recorder {
  handler: Dispatcher.DispatchHandler;
  outcome: Outcome;
  done: Promise<Outcome>;
}

function recorder(hooks: Partial<Dispatcher.DispatchHandler> = {}): Recorder {
  const outcome: Outcome = {
    status: 0, message: undefined, headers: {}, body: Buffer.alloc(0), chunks: 0, trailers: null, error: null, events: [], controller: null,
  };
  const parts: Buffer[] = [];
  let finished = false;
  let resolve!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (resolve = r));
  const late = (name: string): void => {
    if (finished) outcome.events.push(`LATE ${name}`);
  };
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(controller, context) {
      late('start');
      outcome.controller = controller;
      assert.deepEqual(context, {});
      outcome.events.push('start');
      hooks.onRequestStart?.(controller, context);
    },
    onResponseStart(controller, statusCode, headers, statusMessage) {
      late('head');
      outcome.status = statusCode;
      outcome.message = statusMessage;
      outcome.headers = { ...headers };
      outcome.events.push(`head ${statusCode}`);
      hooks.onResponseStart?.(controller, statusCode, headers, statusMessage);
    },
    onResponseData(controller, chunk) {
      late('data');
      parts.push(Buffer.from(chunk));
      outcome.chunks++;
      if (outcome.events[outcome.events.length - 1] !== 'data') outcome.events.push('data');
      hooks.onResponseData?.(controller, chunk);
    },
    onResponseEnd(controller, trailers) {
      late('end');
      finished = true;
      outcome.trailers = { ...trailers };
      outcome.body = Buffer.concat(parts);
      outcome.events.push('end');
      hooks.onResponseEnd?.(controller, trailers);
      resolve(outcome);
    },
    onResponseError(controller, err) {
      late('error');
      finished = true;
      outcome.error = err;
      outcome.body = Buffer.concat(parts);
      outcome.events.push(`error ${(err as { code?: string }).code ?? err.message}`);
      hooks.onResponseError?.(controller, err);
      resolve(outcome);
    },
  };
  return { handler, outcome, done };
}

function send(p: H1Pool, opts: Partial<Dispatcher.DispatchOptions> = {}, hooks: Partial<Dispatcher.DispatchHandler> = {}): Promise<Outcome> {
  const r = recorder(hooks);
  p.dispatch({ path: '/', method: 'GET', headers: [], body: null, idempotent: false, ...opts } as Dispatcher.DispatchOptions, r.handler);
  return r.done;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (polling), failing after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not reached');
    await sleep(5);
  }
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';

// --- tests ---

describe('H1Pool: keep-alive and queueing', () => {
  it('reuses one socket for sequential requests and writes the exact request head', async () => {
    const srv = await rawServer((sock, req) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.path.length}\r\nX-Path: ${req.path}\r\n\r\n${req.path}`, 'latin1'));
    const p = pool(srv.origin);
    for (const path of ['/a', '/bb', '/ccc?x=1']) {
      const o = await send(p, { path, headers: ['X-Test', 'v1', 'accept', '*/*'] });
      assert.equal(o.error, null);
      assert.equal(o.status, 200);
      assert.equal(o.message, 'OK');
      assert.equal(o.headers['x-path'], path);
      assert.equal(o.headers['content-length'], String(path.length));
      assert.equal(o.body.toString(), path);
      assert.deepEqual(o.trailers, {});
      assert.deepEqual(o.events, ['start', 'head 200', 'data', 'end']);
    }
    assert.equal(srv.connections, 1);
    assert.deepEqual(srv.requests.map((r) => r.conn), [0, 0, 0]);
    assert.equal(srv.requests[0]?.raw, `GET /a HTTP/1.1\r\nX-Test: v1\r\naccept: */*\r\nhost: 127.0.0.1:${srv.port}\r\n\r\n`);
    assert.equal(p.stats.free, 1);
  });

  it('a request dispatched from onResponseEnd reuses the socket just released', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    let second: Promise<Outcome> | null = null;
    await send(p, {}, { onResponseEnd: () => void (second = send(p, { path: '/next' })) });
    assert.equal((await (second as unknown as Promise<Outcome>)).body.toString(), 'hello');
    assert.equal(srv.connections, 1);
    assert.deepEqual(srv.requests.map((r) => r.path), ['/', '/next']);
  });

  it('keeps a Host header given by the caller', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    await send(p, { headers: ['Host', 'example.test'] });
    assert.equal(srv.requests[0]?.raw, 'GET / HTTP/1.1\r\nHost: example.test\r\n\r\n');
  });

  it('queues FIFO beyond `connections` (one socket)', async () => {
    const srv = await rawServer((sock, req) => setTimeout(() => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.path.length}\r\n\r\n${req.path}`), 10));
    const p = pool(srv.origin, { connections: 1 });
    const outs = await Promise.all([0, 1, 2, 3, 4].map((i) => send(p, { path: `/${i}` })));
    assert.deepEqual(outs.map((o) => o.body.toString()), ['/0', '/1', '/2', '/3', '/4']);
    assert.deepEqual(srv.requests.map((r) => r.path), ['/0', '/1', '/2', '/3', '/4']);
    assert.equal(srv.connections, 1);
  });

  it('never runs more than `connections` requests at once, one per socket', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const srv = await rawServer((sock, req) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.path.length}\r\n\r\n${req.path}`);
      }, 15);
    });
    const p = pool(srv.origin, { connections: 2 });
    const pending = [0, 1, 2, 3, 4, 5].map((i) => send(p, { path: `/${i}` }));
    assert.equal(p.stats.pending, 6);
    const outs = await Promise.all(pending);
    assert.deepEqual(outs.map((o) => o.body.toString()), ['/0', '/1', '/2', '/3', '/4', '/5']);
    assert.equal(srv.connections, 2);
    assert.equal(maxInFlight, 2);
    // One request at a time per socket: each connection saw its requests strictly one after another.
    assert.equal(srv.requests.filter((r) => r.conn === 0).length + srv.requests.filter((r) => r.conn === 1).length, 6);
    assert.equal(p.stats.free, 2);
  });

  it('closes an idle socket after keepAliveTimeout', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin, { keepAliveTimeout: 50 });
    await send(p);
    assert.equal(srv.closedSockets, 0);
    await until(() => srv.closedSockets === 1);
    await send(p);
    assert.equal(srv.connections, 2);
  });

  it('honours a smaller Keep-Alive: timeout=N from the server (minus 1 s; 1 s means no reuse)', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n');
    const p = pool(srv.origin);
    await send(p);
    await send(p);
    assert.equal(srv.connections, 2);

    const srv2 = await fixed('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2, max=100\r\nContent-Length: 0\r\n\r\n');
    const p2 = pool(srv2.origin, { keepAliveTimeout: 60_000 });
    const t0 = Date.now();
    await send(p2);
    await until(() => srv2.closedSockets === 1, 3000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 900 && waited < 2500, `closed after ${waited} ms`);
  });

  it('does not reuse a socket when the request asked for Connection: close', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    await send(p, { headers: ['connection', 'close'] });
    await send(p);
    assert.equal(srv.connections, 2);
    assert.equal(srv.requests[0]?.raw, `GET / HTTP/1.1\r\nconnection: close\r\nhost: 127.0.0.1:${srv.port}\r\n\r\n`);
  });

  it('does not reuse a socket after Connection: close', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    const p = pool(srv.origin);
    assert.equal((await send(p)).body.toString(), 'ok');
    assert.equal((await send(p)).body.toString(), 'ok');
    assert.equal(srv.connections, 2);
  });

  it('HTTP/1.0 responses: no reuse unless Connection: keep-alive', async () => {
    const srv = await fixed('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const p = pool(srv.origin);
    const o = await send(p);
    assert.equal(o.status, 200);
    assert.equal(o.body.toString(), 'ok');
    await send(p);
    assert.equal(srv.connections, 2);

    const srv2 = await fixed('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok');
    const p2 = pool(srv2.origin);
    await send(p2);
    await send(p2);
    assert.equal(srv2.connections, 1);

    // HTTP/1.0 without a length: close-delimited.
    const srv3 = await rawServer((sock) => sock.end('HTTP/1.0 200 OK\r\n\r\nuntil close'));
    const o3 = await send(pool(srv3.origin));
    assert.equal(o3.body.toString(), 'until close');
    assert.equal(o3.error, null);
  });

  it('close() lets running and queued requests finish; destroy() fails them', async () => {
    const srv = await rawServer((sock) => setTimeout(() => sock.write(OK), 20));
    const p = pool(srv.origin, { connections: 1 });
    const a = send(p);
    const b = send(p);
    const closed = p.close();
    const late = await send(p);
    assert.equal(late.error?.code, 'UND_ERR_CLOSED');
    assert.equal((await a).body.toString(), 'hello');
    assert.equal((await b).body.toString(), 'hello');
    await closed;
    // The queued request ran on the same socket, which closed once the queue was empty.
    assert.equal(srv.connections, 1);
    await until(() => srv.closedSockets === 1);

    const srv2 = await rawServer(() => {});
    const p2 = pool(srv2.origin, { connections: 1 });
    const c = send(p2);
    const d = send(p2);
    await until(() => srv2.requests.length === 1);
    await p2.destroy();
    assert.equal((await c).error?.code, 'UND_ERR_DESTROYED');
    assert.equal((await d).error?.code, 'UND_ERR_DESTROYED');
    assert.deepEqual((await d).events, ['error UND_ERR_DESTROYED']);
  });
});

describe('H1Pool: request bodies', () => {
  it('writes a Buffer body with the head in one write, adding Content-Length', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const o = await send(p, { method: 'POST', path: '/p', headers: ['content-type', 'text/plain'], body: Buffer.from('hello') });
    assert.equal(o.status, 200);
    const r = srv.requests[0] as RawRequest;
    assert.equal(r.raw, `POST /p HTTP/1.1\r\ncontent-type: text/plain\r\nhost: 127.0.0.1:${srv.port}\r\ncontent-length: 5\r\n\r\nhello`);
    assert.equal(r.reads, 1);
  });

  it('keeps a matching declared Content-Length and rejects a mismatching one without writing', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    await send(p, { method: 'PUT', headers: ['Content-Length', '3'], body: Buffer.from('abc') });
    assert.equal(srv.requests[0]?.raw, `PUT / HTTP/1.1\r\nContent-Length: 3\r\nhost: 127.0.0.1:${srv.port}\r\n\r\nabc`);
    const bad = await send(p, { method: 'PUT', headers: ['Content-Length', '4'], body: Buffer.from('abc') });
    assert.equal(bad.error?.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    assert.deepEqual(bad.events, ['error UND_ERR_REQ_CONTENT_LENGTH_MISMATCH']);
    assert.equal(srv.requests.length, 1);
  });

  it('sends content-length: 0 for a POST without a body, nothing for a GET', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    await send(p, { method: 'POST' });
    await send(p, { method: 'GET' });
    assert.equal(srv.requests[0]?.raw, `POST / HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ncontent-length: 0\r\n\r\n`);
    assert.equal(srv.requests[1]?.raw, `GET / HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\n\r\n`);
  });

  it('streams a Readable body chunked when no length is declared', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const body = Readable.from([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cdefghijklmnopq')], { objectMode: false });
    const o = await send(p, { method: 'POST', body });
    assert.equal(o.status, 200);
    assert.equal(srv.requests[0]?.raw, `POST / HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\nf\r\ncdefghijklmnopq\r\n0\r\n\r\n`);
    // The socket is reused after a streamed body.
    await send(p);
    assert.equal(srv.connections, 1);
  });

  it('holds a streamed body\'s head back until its first byte: a body that fails first sends nothing', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const readBytes = (): number => srv.sockets.reduce((n, sock) => n + sock.bytesRead, 0);
    const body = new Readable({ read() {} });
    const sent = send(p, { method: 'POST', body });
    await sleep(50);
    assert.equal(readBytes(), 0, 'no byte of the request before its body has one');
    body.destroy(new Error('client framing error'));
    const o = await sent;
    assert.equal(o.error?.message, 'client framing error');
    await sleep(20);
    assert.equal(readBytes(), 0, 'the failed request never reached the backend');
    assert.equal(srv.requests.length, 0);
    // A body whose first chunk comes late: the head waits for it, and both go in one write.
    const late = new Readable({ read() {} });
    const ok = send(p, { method: 'POST', body: late });
    await sleep(30);
    assert.equal(readBytes(), 0);
    late.push(Buffer.from('xy'));
    late.push(null);
    const o2 = await ok;
    assert.equal(o2.status, 200);
    assert.equal(srv.requests.length, 1);
    assert.equal(srv.requests[0]?.raw, `POST / HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ntransfer-encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n`);
  });

  it('streams an AsyncIterable body with a declared Content-Length, exactly that many bytes', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    async function* gen(): AsyncGenerator<Buffer> {
      yield Buffer.from('hel');
      await sleep(5);
      yield Buffer.from('lo');
    }
    const o = await send(p, { method: 'POST', headers: ['content-length', '5'], body: gen() as unknown as Readable });
    assert.equal(o.error, null);
    assert.equal(srv.requests[0]?.raw, `POST / HTTP/1.1\r\ncontent-length: 5\r\nhost: 127.0.0.1:${srv.port}\r\n\r\nhello`);
  });

  it('streams a large body with backpressure', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const total = 8 * 1024 * 1024;
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 120));
      },
    });
    const o = await send(p, { method: 'POST', headers: ['content-length', String(total)], body });
    assert.equal(o.error, null);
    assert.equal(srv.requests[0]?.raw.length, srv.requests[0]!.raw.indexOf('\r\n\r\n') + 4 + total);
  });

  it('fails a stream body shorter or longer than its Content-Length (the socket is not reused)', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin, { headersTimeout: 2000 });
    const short = await send(p, { method: 'POST', headers: ['content-length', '10'], body: Readable.from([Buffer.from('12345')]) });
    assert.equal(short.error?.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    const long = await send(p, { method: 'POST', headers: ['content-length', '3'], body: Readable.from([Buffer.from('12345')]) });
    assert.equal(long.error?.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    await until(() => srv.closedSockets === 2);
    assert.equal(srv.requests.length, 0);
  });

  it('rejects CR, LF or NUL in a request header and writes nothing', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    for (const headers of [
      ['x-a', 'ok\r\nx-injected: 1'],
      ['x-a', 'line\nfeed'],
      ['x-a', 'nul\0'],
      ['x-a\r\nx-b', 'v'],
      ['x a', 'v'],
    ]) {
      const o = await send(p, { headers });
      assert.equal(o.error?.code, 'UND_ERR_INVALID_ARG', JSON.stringify(headers));
      assert.match(o.error?.message ?? '', /header/);
      assert.deepEqual(o.events, ['error UND_ERR_INVALID_ARG']);
    }
    const badPath = await send(p, { path: '/a b\r\n' });
    assert.equal(badPath.error?.code, 'UND_ERR_INVALID_ARG');
    assert.equal(srv.connections, 0);
  });

  it('rejects upgrades and CONNECT', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    assert.equal((await send(p, { method: 'CONNECT' })).error?.code, 'UND_ERR_NOT_SUPPORTED');
    assert.equal((await send(p, { headers: ['upgrade', 'websocket'] })).error?.code, 'UND_ERR_NOT_SUPPORTED');
    assert.equal((await send(p, { upgrade: 'websocket' })).error?.code, 'UND_ERR_NOT_SUPPORTED');
    assert.equal(srv.connections, 0);
  });
});

describe('H1Pool: response framing', () => {
  it('HEAD, 204 and 304 have no body and keep the socket', async () => {
    const srv = await rawServer((sock, req) => {
      if (req.raw.startsWith('HEAD')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      else if (req.path === '/204') sock.write('HTTP/1.1 204 No Content\r\n\r\n');
      else sock.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: "x"\r\n\r\n');
    });
    const p = pool(srv.origin);
    const head = await send(p, { method: 'HEAD' });
    assert.deepEqual(head.events, ['start', 'head 200', 'end']);
    assert.equal(head.headers['content-length'], '100');
    const nc = await send(p, { path: '/204' });
    assert.deepEqual(nc.events, ['start', 'head 204', 'end']);
    const nm = await send(p, { path: '/304' });
    assert.deepEqual(nm.events, ['start', 'head 304', 'end']);
    assert.equal(nm.headers.etag, '"x"');
    assert.equal(srv.connections, 1);
  });

  it('parses a chunked response with extensions and trailers', async () => {
    const srv = await fixed(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
        '5;foo=bar\r\nhello\r\n6 ; a="b c"\r\n world\r\nA\r\n0123456789\r\n0;last\r\nX-Checksum: abc\r\nX-Two: 1\r\nx-two: 2\r\n\r\n',
    );
    const p = pool(srv.origin);
    const o = await send(p);
    assert.equal(o.error, null);
    assert.equal(o.body.toString(), 'hello world0123456789');
    assert.deepEqual(o.trailers, { 'x-checksum': 'abc', 'x-two': ['1', '2'] });
    assert.equal(o.headers['transfer-encoding'], 'chunked');
    await send(p);
    assert.equal(srv.connections, 1);
  });

  it('reads a close-delimited response and does not reuse the socket', async () => {
    const srv = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ');
      setTimeout(() => sock.end('second'), 10);
    });
    const p = pool(srv.origin);
    const o = await send(p);
    assert.equal(o.error, null);
    assert.equal(o.body.toString(), 'first second');
    await send(p);
    assert.equal(srv.connections, 2);
  });

  it('skips 100 Continue and 103 Early Hints', async () => {
    const srv = await fixed('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    const p = pool(srv.origin);
    const o = await send(p, { method: 'POST', body: Buffer.from('x') });
    assert.deepEqual(o.events, ['start', 'head 201', 'data', 'end']);
    assert.equal(o.headers.link, undefined);
    assert.equal(o.body.toString(), 'ok');
  });

  it('keeps repeated fields separate (set-cookie and others), lower-cases names', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2, c=3\r\nX-One: 1\r\nVary: a\r\nvary: b\r\n__proto__: p\r\nConstructor: c\r\nX-Empty:\r\nX-Spaces: \t  v w \t\r\nContent-Length: 5\r\n\r\nhello');
    const o = await send(pool(srv.origin));
    assert.equal(o.error, null);
    assert.deepEqual(o.headers, {
      'set-cookie': ['a=1', 'b=2, c=3'],
      'x-one': '1',
      vary: ['a', 'b'],
      ['__proto__']: 'p',
      constructor: 'c',
      'x-empty': '',
      'x-spaces': 'v w',
      'content-length': '5',
    });
    assert.equal(o.body.toString(), 'hello');
  });

  it('survives split reads: the response arrives one byte at a time', async () => {
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: t\r\n\r\n';
    const plain = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nwxyz';
    const noTrailers = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n';
    const responses = [chunked, plain, noTrailers];
    const srv = await rawServer(async (sock, _req, n) => {
      const bytes = Buffer.from(responses[n] as string, 'latin1');
      for (let i = 0; i < bytes.length; i++) {
        sock.write(bytes.subarray(i, i + 1));
        await sleep(1);
      }
    });
    const p = pool(srv.origin);
    const a = await send(p);
    assert.equal(a.error, null);
    assert.equal(a.headers['x-a'], 'b');
    assert.equal(a.body.toString(), 'abcde');
    assert.deepEqual(a.trailers, { 'x-t': 't' });
    assert.ok(a.chunks >= 5);
    const b = await send(p);
    assert.equal(b.status, 200);
    assert.equal(b.body.toString(), 'wxyz');
    const c = await send(p);
    assert.equal(c.body.toString(), 'q');
    assert.deepEqual(c.trailers, {});
    assert.equal(srv.connections, 1);
  });

  it('hands body bytes over as zero-copy views of the socket reads', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    const views: Buffer[] = [];
    await send(pool(srv.origin), {}, { onResponseData: (_c, chunk) => void views.push(chunk) });
    assert.equal(views.length, 1);
    assert.equal(views[0]?.toString(), 'hello');
    assert.ok((views[0] as Buffer).byteOffset > 0 || (views[0] as Buffer).buffer.byteLength > 5, 'a view into the read buffer');
  });

  it('fails with UND_ERR_SOCKET when the server closes before the body is complete', async () => {
    const srv = await rawServer((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345'));
    const o = await send(pool(srv.origin));
    assert.equal(o.error?.code, 'UND_ERR_SOCKET');
    assert.deepEqual(o.events, ['start', 'head 200', 'data', 'error UND_ERR_SOCKET']);
    assert.equal(o.body.toString(), '12345');

    const srv2 = await rawServer((sock) => sock.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'));
    assert.equal((await send(pool(srv2.origin))).error?.code, 'UND_ERR_SOCKET');

    const srv3 = await rawServer((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Le'));
    const o3 = await send(pool(srv3.origin));
    assert.equal(o3.error?.code, 'UND_ERR_SOCKET');
    assert.deepEqual(o3.events, ['start', 'error UND_ERR_SOCKET']);
  });

  it('passes on a raw error (ECONNRESET) when the server resets mid-body', async () => {
    const srv = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345');
      setTimeout(() => sock.resetAndDestroy(), 20);
    });
    const o = await send(pool(srv.origin));
    assert.equal(o.error?.code, 'ECONNRESET');
    assert.deepEqual(o.events, ['start', 'head 200', 'data', 'error ECONNRESET']);
  });

  it('an early response while the request body is still streaming: delivered, socket not reused', async () => {
    let conns = 0;
    let received = 0;
    const server = net.createServer((sock) => {
      conns++;
      let answered = false;
      sock.on('data', (d: Buffer) => {
        received += d.length;
        if (!answered) {
          answered = true;
          sock.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig');
        }
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const p = pool(`http://127.0.0.1:${port}`);
    let pushed = 0;
    const body = new Readable({
      read() {
        if (pushed++ < 1000) setTimeout(() => this.push(Buffer.alloc(1024, 97)), 1);
        else this.push(null);
      },
    });
    const o = await send(p, { method: 'POST', body });
    assert.equal(o.status, 413);
    assert.equal(o.body.toString(), 'big');
    assert.equal(o.error, null);
    assert.ok(received < 1000 * 1024);
    const again = await send(p, { method: 'POST', body: Buffer.from('x') });
    assert.equal(again.status, 413);
    assert.equal(conns, 2);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('does not reuse a socket with bytes left over after a response', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil');
    const p = pool(srv.origin);
    const a = await send(p);
    assert.equal(a.body.toString(), 'ok');
    const b = await send(p);
    assert.equal(b.body.toString(), 'ok');
    assert.equal(srv.connections, 2);
  });
});

describe('H1Pool: attacker responses', () => {
  const cases: [string, string, string][] = [
    ['CL and TE together', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['TE and CL together', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['two different Content-Length fields', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 'HPE_INVALID_CONTENT_LENGTH'],
    ['a Content-Length list with different values', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!', 'HPE_INVALID_CONTENT_LENGTH'],
    ['two equal Content-Length fields', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', 'HPE_INVALID_CONTENT_LENGTH'],
    ['a Content-Length list of equal values', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello', 'HPE_INVALID_CONTENT_LENGTH'],
    ['a signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello', 'HPE_INVALID_CONTENT_LENGTH'],
    ['an overlong Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\nhello', 'HPE_INVALID_CONTENT_LENGTH'],
    ['Transfer-Encoding: gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['Transfer-Encoding: chunked, gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['Transfer-Encoding: gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['Transfer-Encoding in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello', 'HPE_INVALID_HEADER_TOKEN'],
    ['a tab before the colon', 'HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\nhello', 'HPE_INVALID_HEADER_TOKEN'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a bare LF inside the head', 'HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a head of bare LFs only', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n', 'HPE_LF_EXPECTED'],
    ['a bare CR', 'HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['NUL in a field value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['NUL in a field name', 'HTTP/1.1 200 OK\r\nX\0A: b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a field without a colon', 'HTTP/1.1 200 OK\r\nX-A b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a negative chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['an overlong chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk size beyond 2^53', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nx\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk size with 0x', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['chunk data without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 'HPE_CR_EXPECTED'],
    ['a bare LF after a chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'HPE_UNEXPECTED_UPGRADE'],
    ['HTTP/2 status line', 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['a status below 100', 'HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['garbage', 'SSH-2.0-OpenSSH_9.6\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a head over 64 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\nContent-Length: 0\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
    ['a head over 64 KiB that never ends', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}`, 'HPE_HEADER_OVERFLOW'],
    ['trailers over 64 KiB', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
    ['an obs-fold in trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ];
  for (const [name, response, code] of cases) {
    it(`${name} → ${code}, socket destroyed and not reused`, async () => {
      // The first connection gets the attack, later ones a good response.
      const srv = await rawServer((sock, req) => sock.write(req.conn === 0 ? response : OK, 'latin1'));
      const p = pool(srv.origin, { headersTimeout: 3000, bodyTimeout: 3000 });
      const o = await send(p);
      assert.equal(o.error?.code, code, `${o.error?.message}`);
      assert.ok(o.error?.code?.startsWith('HPE_'));
      assert.equal(o.events.filter((e) => e.startsWith('error')).length, 1);
      assert.ok(!o.events.includes('end'));
      assert.ok(!o.events.some((e) => e.startsWith('LATE')));
      await until(() => srv.closedSockets === 1);
      const next = await send(p);
      assert.equal(next.body.toString(), 'hello');
      assert.equal(srv.connections, 2);
    });
  }

  it('destroys an idle socket that receives unsolicited bytes', async () => {
    const srv = await rawServer((sock) => {
      sock.write(OK);
      setTimeout(() => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'), 20);
    });
    const p = pool(srv.origin);
    await send(p);
    await until(() => srv.closedSockets === 1);
    assert.equal((await send(p)).body.toString(), 'hello');
    assert.equal(srv.connections, 2);
  });
});

describe('H1Pool: timeouts and connect errors', () => {
  it('headers timeout: a server that accepts but never answers', async () => {
    const srv = await rawServer(() => {});
    const p = pool(srv.origin, { headersTimeout: 100 });
    const t0 = Date.now();
    const o = await send(p);
    assert.equal(o.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    assert.deepEqual(o.events, ['start', 'error UND_ERR_HEADERS_TIMEOUT']);
    assert.ok(Date.now() - t0 >= 90);
    await until(() => srv.closedSockets === 1);
  });

  it('headers timeout also covers a head trickled in too slowly', async () => {
    const srv = await rawServer(async (sock) => {
      for (const c of 'HTTP/1.1 200 OK\r\nX-Slow: 1234567890\r\n') {
        if (sock.destroyed) return;
        sock.write(c);
        await sleep(10);
      }
    });
    const o = await send(pool(srv.origin, { headersTimeout: 100 }));
    assert.equal(o.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
  });

  it('body timeout: the server stalls mid-body', async () => {
    const srv = await rawServer((sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345'));
    const p = pool(srv.origin, { bodyTimeout: 100 });
    const o = await send(p);
    assert.equal(o.error?.code, 'UND_ERR_BODY_TIMEOUT');
    assert.deepEqual(o.events, ['start', 'head 200', 'data', 'error UND_ERR_BODY_TIMEOUT']);
    assert.equal(o.body.toString(), '12345');
    await until(() => srv.closedSockets === 1);
  });

  it('body timeout is a gap, not a total: a slow but steady body completes', async () => {
    const srv = await rawServer(async (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n');
      for (const c of 'abcdef') {
        await sleep(40);
        sock.write(c);
      }
    });
    const o = await send(pool(srv.origin, { bodyTimeout: 120 }));
    assert.equal(o.error, null);
    assert.equal(o.body.toString(), 'abcdef');
  });

  it('connect refused on a closed port → ECONNREFUSED, before onRequestStart', async () => {
    const srv = await fixed(OK);
    const port = srv.port;
    await srv.close();
    const p = pool(`http://127.0.0.1:${port}`);
    const [a, b] = await Promise.all([send(p), send(p)]);
    assert.equal(a.error?.code, 'ECONNREFUSED');
    assert.deepEqual(a.events, ['error ECONNREFUSED']);
    assert.equal(b.error?.code, 'ECONNREFUSED');
    assert.equal(p.stats.connected, 0);
  });

  it('connect timeout → UND_ERR_CONNECT_TIMEOUT (a socket that never connects)', async () => {
    const sockets: net.Socket[] = [];
    const p = pool('http://127.0.0.1:9', {
      connectTimeout: 50,
      connect: () => {
        const s = new net.Socket();
        sockets.push(s);
        return s;
      },
    });
    const o = await send(p);
    assert.equal(o.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
    assert.deepEqual(o.events, ['error UND_ERR_CONNECT_TIMEOUT']);
    assert.equal(sockets.length, 1);
    assert.ok(sockets[0]?.destroyed);
  });
});

describe('H1Pool: controller', () => {
  it('abort mid-body: one onResponseError with the reason, socket destroyed, nothing after', async () => {
    const srv = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      setTimeout(() => sock.write('more bytes'), 30);
    });
    const p = pool(srv.origin);
    const reason = new Error('client went away');
    let controller: Dispatcher.DispatchController | null = null;
    const o = await send(p, {}, {
      onResponseData: (c) => {
        controller = c;
        c.abort(reason);
        c.abort(new Error('twice'));
      },
    });
    assert.equal(o.error, reason);
    assert.deepEqual(o.events, ['start', 'head 200', 'data', 'error client went away']);
    assert.equal((controller as Dispatcher.DispatchController | null)?.aborted, true);
    assert.equal((controller as Dispatcher.DispatchController | null)?.reason, reason);
    await until(() => srv.closedSockets === 1);
    await sleep(50);
    assert.ok(!o.events.some((e) => e.startsWith('LATE')));
  });

  it('abort in onRequestStart: nothing is written', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const o = await send(p, {}, { onRequestStart: (c) => c.abort(new Error('stale try')) });
    assert.deepEqual(o.events, ['start', 'error stale try']);
    await until(() => srv.closedSockets === 1);
    assert.equal(srv.requests.length, 0);
  });

  it('abort after the end is a no-op', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const o = await send(p);
    o.controller?.abort(new Error('late'));
    assert.deepEqual(o.events, ['start', 'head 200', 'data', 'end']);
    await send(p);
    assert.equal(srv.connections, 1);
  });

  it('pause/resume: no data while paused, everything after resume', async () => {
    const srv = await rawServer(async (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      await sleep(20);
      sock.write('6\r\nsecond\r\n5\r\nthird\r\n0\r\n\r\n');
    });
    const p = pool(srv.origin, { bodyTimeout: 50 });
    let pausedAt = -1;
    let duringPause = 0;
    let paused = false;
    const r = recorder({
      onResponseData: (c) => {
        if (paused) duringPause++;
        if (pausedAt === -1) {
          pausedAt = Date.now();
          c.pause();
          paused = true;
          assert.equal(c.paused, true);
          // Longer than the body timeout: a stall of ours is not the server's.
          setTimeout(() => {
            paused = false;
            c.resume();
            assert.equal(c.paused, false);
          }, 150);
        }
      },
    });
    p.dispatch({ path: '/', method: 'GET', headers: [], body: null }, r.handler);
    const o = await r.done;
    assert.equal(o.error, null);
    assert.equal(duringPause, 0);
    assert.equal(o.body.toString(), 'firstsecondthird');
    assert.ok(Date.now() - pausedAt >= 140);
  });

  it('pause within a read: the rest of that read is held back until resume', async () => {
    const srv = await fixed('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\nX-T: 1\r\n\r\n');
    const p = pool(srv.origin);
    const seen: string[] = [];
    const o = await send(p, {}, {
      onResponseData: (c, chunk) => {
        seen.push(chunk.toString());
        c.pause();
        setTimeout(() => {
          seen.push('|');
          c.resume();
        }, 10);
      },
    });
    assert.deepEqual(seen, ['a', '|', 'b', '|', 'c', '|']);
    assert.deepEqual(o.trailers, { 'x-t': '1' });
    await send(p);
    assert.equal(srv.connections, 1);
  });

  it('a handler that throws in onResponseStart fails the request and the socket', async () => {
    const srv = await fixed(OK);
    const p = pool(srv.origin);
    const o = await send(p, {}, {
      onResponseStart: () => {
        throw new Error('handler bug');
      },
    });
    assert.deepEqual(o.events, ['start', 'head 200', 'error handler bug']);
    await until(() => srv.closedSockets === 1);
  });
});

describe('H1Pool: interop', () => {
  it('talks to a node:http server: keep-alive, chunked with trailers, Content-Length, streamed upload', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(parts).toString();
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
          res.write('part1-');
          setTimeout(() => {
            res.addTrailers({ 'x-sum': '42' });
            res.end('part2');
          }, 5);
        } else {
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.end(`${req.method} ${req.url} ${req.headers['transfer-encoding'] ?? req.headers['content-length'] ?? '-'} ${body}`);
        }
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const p = pool(`http://127.0.0.1:${port}`);
    const a = await send(p, { path: '/chunked' });
    assert.equal(a.body.toString(), 'part1-part2');
    assert.deepEqual(a.trailers, { 'x-sum': '42' });
    const b = await send(p, { path: '/x', method: 'POST', body: Buffer.from('buf') });
    assert.equal(b.body.toString(), 'POST /x 3 buf');
    assert.deepEqual(b.headers['set-cookie'], ['a=1', 'b=2']);
    const c = await send(p, { path: '/y', method: 'PUT', body: Readable.from([Buffer.from('st'), Buffer.from('ream')]) });
    assert.equal(c.body.toString(), 'PUT /y chunked stream');
    assert.equal(connections, 1);
    await p.close();
    server.close();
  });
});
