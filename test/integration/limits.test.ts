/**
 * server.limits under attack, over real sockets: oversized heads, too many fields, long targets,
 * oversized bodies (declared, announced with Expect: 100-continue, or streamed in chunks), slow heads
 * and slow bodies, too many connections from one address, and the HTTP/2 stream limit the server
 * advertises. Each case asserts the answer and what the recording upstream saw.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import {
  makeCerts,
  plainConfig,
  rawRequest,
  startGateway,
  parseResponses,
  problemCode,
  startUpstream,
  type ParsedResponse,
  type UpstreamHead,
  watchHeads,
  type CertFiles,
  type TestGateway,
  type TestUpstream,
} from '../helpers/harness.ts';

// ---------------------------------------------------------------------------------------------
// helpers


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** A raw HTTP/1 connection written in steps; everything the server sends is collected. */
class RawConn {
  readonly socket: net.Socket;
  readonly openedAt = Date.now();
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

  /** True once `check` holds, false after `ms`. */
  until(check: (c: RawConn) => boolean, ms: number): Promise<boolean> {
    return waitFor(() => check(this), ms);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// gateways: `gw` with small head/body/time limits (HTTP + HTTPS), `gwConn` with a per-IP connection limit

const LIMITS = {
  maxHeaderBytes: 2048,
  maxHeaders: 10,
  maxUrlBytes: 512,
  maxBodyBytes: 1024,
  headersTimeout: 300,
  requestTimeout: 600,
  maxConnectionsPerIp: 3,
};

let upstream: TestUpstream;
let heads: UpstreamHead[];
let certs: CertFiles;
let gw: TestGateway;
let gwConn: TestGateway;

function httpsBlock(): string {
  const leaf = certs.files.localhost as { cert: string; key: string };
  return `  https:
    host: 127.0.0.1
    port: 0
    certificates: [{ cert: "${leaf.cert}", key: "${leaf.key}" }]`;
}

before(async () => {
  upstream = await startUpstream();
  heads = watchHeads(upstream);
  certs = await makeCerts({ localhost: ['localhost', '127.0.0.1'] });
  gw = await startGateway(
    plainConfig(
      upstream.url,
      undefined,
      `${httpsBlock()}
  limits:
    maxHeaderBytes: 2kb
    maxHeaders: ${LIMITS.maxHeaders}
    maxUrlBytes: 512b
    maxBodyBytes: 1kb
    headersTimeout: ${LIMITS.headersTimeout}ms
    requestTimeout: ${LIMITS.requestTimeout}ms`,
    ),
  );
  gwConn = await startGateway(
    plainConfig(
      upstream.url,
      undefined,
      `${httpsBlock()}
  limits: { maxConnectionsPerIp: ${LIMITS.maxConnectionsPerIp}, http2MaxConcurrentStreams: 7 }`,
    ),
  );
});

after(async () => {
  await gw?.close();
  await gwConn?.close();
  await upstream?.close();
  await certs?.cleanup();
});

const H = 'Host: localhost\r\n';
const CLOSE = 'Connection: close\r\n';
const fields = (n: number, size = 1): string => Array.from({ length: n }, (_, i) => `X-F${i}: ${'v'.repeat(size)}\r\n`).join('');

// ---------------------------------------------------------------------------------------------
// the request head

interface HeadCase {
  name: string;
  payload: string;
  status: number;
  code?: string;
}

const HEAD_CASES: HeadCase[] = [
  { name: 'control: a head just under maxHeaderBytes', payload: `GET /x HTTP/1.1\r\n${H}${CLOSE}X-Big: ${'a'.repeat(1800)}\r\n\r\n`, status: 200 },
  { name: 'maxHeaderBytes: one 3000-byte field', payload: `GET /x HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(3000)}\r\n\r\n`, status: 431, code: 'PCL_REQUEST_HEADERS_TOO_LARGE' },
  { name: 'maxHeaderBytes: eight 300-byte fields', payload: `GET /x HTTP/1.1\r\n${H}${fields(8, 300)}\r\n`, status: 431, code: 'PCL_REQUEST_HEADERS_TOO_LARGE' },
  { name: 'control: exactly maxHeaders fields (Host, Connection + 8)', payload: `GET /x HTTP/1.1\r\n${H}${CLOSE}${fields(8)}\r\n`, status: 200 },
  // maxHeaders + 1 reaches the guard (Node counts up to maxHeadersCount = maxHeaders + 1) …
  { name: 'maxHeaders: one field over the limit (Host + 10)', payload: `GET /x HTTP/1.1\r\n${H}${fields(10)}\r\n`, status: 431, code: 'PCL_REQUEST_HEADERS_TOO_LARGE' },
  // … more than that is refused by Node's parser (HPE_HEADER_OVERFLOW) and answered by the clientError handler.
  { name: 'maxHeaders: 40 small fields', payload: `GET /x HTTP/1.1\r\n${H}${fields(39)}\r\n`, status: 431, code: 'PCL_REQUEST_HEADERS_TOO_LARGE' },
  { name: 'control: a request target of exactly maxUrlBytes', payload: `GET /${'u'.repeat(511)} HTTP/1.1\r\n${H}${CLOSE}\r\n`, status: 200 },
  { name: 'maxUrlBytes: a target one byte over', payload: `GET /${'u'.repeat(512)} HTTP/1.1\r\n${H}\r\n`, status: 414, code: 'PCL_REQUEST_URI_TOO_LONG' },
  { name: 'maxUrlBytes: a long query string', payload: `GET /x?q=${'q'.repeat(1000)} HTTP/1.1\r\n${H}\r\n`, status: 414, code: 'PCL_REQUEST_URI_TOO_LONG' },
];

describe('head limits (maxHeaderBytes, maxHeaders, maxUrlBytes)', () => {
  for (const c of HEAD_CASES) {
    it(`${c.name} → ${c.status}${c.code ? ` ${c.code}` : ''}`, async () => {
      const headsBefore = heads.length;
      const r = await rawRequest(gw.httpPort, c.payload, { waitMs: 2000 });
      await sleep(30);
      const responses = parseResponses(r.text);
      assert.equal(responses.length, 1, JSON.stringify(r.text.slice(0, 200)));
      assert.equal(responses[0]?.status, c.status);
      assert.equal(r.closed, true);
      if (c.code) {
        assert.equal(problemCode(responses[0]), c.code);
        assert.equal(heads.length, headsBefore, 'nothing reached the upstream');
      } else {
        assert.equal(heads.length, headsBefore + 1);
        assert.equal(heads.at(-1)?.complete, true);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// the request body

describe('body limit (maxBodyBytes)', () => {
  it('declared Content-Length over the limit: 413 before the body is sent, nothing at the upstream', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`POST /x HTTP/1.1\r\n${H}Content-Length: 5000\r\n\r\n`);
      assert.ok(await conn.until((c) => c.responses.length === 1, 1000), 'answered without waiting for the body');
      const res = conn.responses[0];
      assert.equal(res?.status, 413);
      assert.equal(problemCode(res), 'PCL_REQUEST_BODY_TOO_LARGE');
      assert.equal(res?.headers.connection, 'close');
      assert.ok(await conn.until((c) => c.closed, 1000), 'the connection is closed (the body is never read)');
      assert.equal(heads.length, headsBefore);
    } finally {
      conn.destroy();
    }
  });

  it('Expect: 100-continue with Content-Length over the limit: 413 and no 100 Continue', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`POST /x HTTP/1.1\r\n${H}Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n`);
      assert.ok(await conn.until((c) => c.responses.some((r) => r.status >= 200), 1000));
      assert.deepEqual(conn.responses.map((r) => r.status), [413], 'no interim 100 before the 413');
      assert.ok(!conn.text.includes('100 Continue'));
      assert.equal(problemCode(conn.responses[0]), 'PCL_REQUEST_BODY_TOO_LARGE');
      assert.ok(await conn.until((c) => c.closed, 1000));
      assert.equal(heads.length, headsBefore);
    } finally {
      conn.destroy();
    }
  });

  it('Expect: 100-continue within the limit: 100 Continue, then the body is proxied', async () => {
    const receivedBefore = upstream.received.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
      assert.ok(await conn.until((c) => c.text.includes('\r\n\r\n'), 1000), 'an interim response before the body');
      assert.equal(conn.text, 'HTTP/1.1 100 Continue\r\n\r\n');
      conn.write('hello');
      assert.ok(await conn.until((c) => c.responses.some((r) => r.status >= 200), 2000));
      assert.deepEqual(conn.responses.map((r) => r.status), [100, 200]);
      assert.equal(upstream.received.length, receivedBefore + 1);
      assert.equal(upstream.received.at(-1)?.body.toString(), 'hello');
    } finally {
      conn.destroy();
    }
  });

  it('control: a Content-Length body of exactly maxBodyBytes is proxied', async () => {
    const body = 'b'.repeat(LIMITS.maxBodyBytes);
    const r = await rawRequest(gw.httpPort, `POST /x HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    assert.equal(r.status, 200);
    assert.equal(upstream.received.at(-1)?.body.toString(), body);
  });

  it('control: a chunked body of exactly maxBodyBytes is proxied', async () => {
    const half = 'c'.repeat(LIMITS.maxBodyBytes / 2);
    const chunk = `${half.length.toString(16)}\r\n${half}\r\n`;
    const r = await rawRequest(gw.httpPort, `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}${chunk}0\r\n\r\n`);
    assert.equal(r.status, 200);
    assert.equal(upstream.received.at(-1)?.body.toString(), half + half);
  });

  it('chunked body crossing the limit: 413, and the upstream never gets a complete request', async () => {
    const headsBefore = heads.length;
    const receivedBefore = upstream.received.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      const big = 'd'.repeat(LIMITS.maxBodyBytes);
      conn.write(`POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n`);
      await sleep(50);
      conn.write(`1\r\nX\r\n`);
      await sleep(50);
      conn.write(`0\r\n\r\n`);
      assert.ok(await conn.until((c) => c.responses.length === 1, 2000));
      assert.equal(conn.responses[0]?.status, 413);
      assert.equal(problemCode(conn.responses[0]), 'PCL_REQUEST_BODY_TOO_LARGE');
      assert.ok(await conn.until((c) => c.closed, 1000));
      // The head is streamed to the upstream with the first chunk; the request is then aborted.
      assert.ok(await waitFor(() => heads.slice(headsBefore).every((h) => h.aborted || h.complete), 1000));
      for (const h of heads.slice(headsBefore)) assert.deepEqual({ complete: h.complete, aborted: h.aborted }, { complete: false, aborted: true });
      assert.equal(upstream.received.length, receivedBefore);
    } finally {
      conn.destroy();
    }
  });

  it('a Content-Length body cut short by the client: the upstream request is aborted, never complete', async () => {
    const headsBefore = heads.length;
    const receivedBefore = upstream.received.length;
    const conn = await RawConn.open(gw.httpPort);
    conn.write(`POST /x HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n${'e'.repeat(10)}`);
    await waitFor(() => heads.length > headsBefore, 1000);
    conn.destroy();
    assert.ok(await waitFor(() => heads.slice(headsBefore).every((h) => h.aborted || h.complete), 1000));
    for (const h of heads.slice(headsBefore)) assert.deepEqual({ complete: h.complete, aborted: h.aborted }, { complete: false, aborted: true });
    assert.equal(upstream.received.length, receivedBefore);
  });
});

// ---------------------------------------------------------------------------------------------
// timeouts

describe('timeouts (headersTimeout, requestTimeout)', () => {
  async function expectTimeout(conn: RawConn, minMs: number, maxMs: number): Promise<void> {
    assert.ok(await conn.until((c) => c.closed, maxMs + 500), 'the connection is closed');
    const elapsed = Date.now() - conn.openedAt;
    const responses = conn.responses;
    assert.equal(responses.length, 1, JSON.stringify(conn.text.slice(0, 200)));
    assert.equal(responses[0]?.status, 408);
    assert.equal(problemCode(responses[0]), 'PCL_REQUEST_TIMEOUT');
    assert.ok(elapsed >= minMs - 20 && elapsed <= maxMs, `408 after ${elapsed}ms, expected within [${minMs}, ${maxMs}]`);
  }

  it('half a head, then silence: 408 after headersTimeout, nothing at the upstream', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`GET /x HTTP/1.1\r\n${H}X-Half: yes\r\n`);
      await expectTimeout(conn, LIMITS.headersTimeout, 1500);
      assert.equal(heads.length, headsBefore);
    } finally {
      conn.destroy();
    }
  });

  it('a head trickled one byte every 50ms (slowloris): 408 after headersTimeout, the trickle does not extend it', async () => {
    const headsBefore = heads.length;
    const conn = await RawConn.open(gw.httpPort);
    const head = `GET /x HTTP/1.1\r\n${H}X-Slow: ${'s'.repeat(100)}\r\n\r\n`;
    let i = 0;
    const trickle = setInterval(() => {
      if (i < head.length && !conn.closed) conn.write(head[i++] as string);
    }, 50);
    try {
      await expectTimeout(conn, LIMITS.headersTimeout, 1500);
      assert.ok(i < head.length, 'the head was not complete when the gateway gave up');
      assert.equal(heads.length, headsBefore);
    } finally {
      clearInterval(trickle);
      conn.destroy();
    }
  });

  it('a complete head and part of the body, then silence: 408 after requestTimeout, the upstream request is aborted', async () => {
    const headsBefore = heads.length;
    const receivedBefore = upstream.received.length;
    const conn = await RawConn.open(gw.httpPort);
    try {
      conn.write(`POST /x HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`);
      await expectTimeout(conn, LIMITS.requestTimeout, 2000);
      assert.ok(await waitFor(() => heads.slice(headsBefore).every((h) => h.aborted || h.complete), 1000));
      for (const h of heads.slice(headsBefore)) assert.deepEqual({ complete: h.complete, aborted: h.aborted }, { complete: false, aborted: true });
      assert.equal(upstream.received.length, receivedBefore);
    } finally {
      conn.destroy();
    }
  });

  it('a body trickled one byte every 50ms: 408 after requestTimeout, the upstream never gets a complete request', async () => {
    const headsBefore = heads.length;
    const receivedBefore = upstream.received.length;
    const conn = await RawConn.open(gw.httpPort);
    conn.write(`POST /x HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n`);
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < 100 && !conn.closed) {
        conn.write('t');
        sent++;
      }
    }, 50);
    try {
      await expectTimeout(conn, LIMITS.requestTimeout, 2000);
      assert.ok(sent < 100);
      assert.ok(await waitFor(() => heads.slice(headsBefore).every((h) => h.aborted || h.complete), 1000));
      for (const h of heads.slice(headsBefore)) assert.equal(h.complete, false);
      assert.equal(upstream.received.length, receivedBefore);
    } finally {
      clearInterval(trickle);
      conn.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// connections

describe('maxConnectionsPerIp', () => {
  const GET = `GET /conn HTTP/1.1\r\n${H}\r\n`;

  it(`admits ${LIMITS.maxConnectionsPerIp} connections from 127.0.0.1 and closes the next one unanswered`, async () => {
    const conns: RawConn[] = [];
    try {
      for (let i = 0; i < LIMITS.maxConnectionsPerIp; i++) {
        const c = await RawConn.open(gwConn.httpPort);
        conns.push(c);
        c.write(GET);
        assert.ok(await c.until((x) => x.responses.length === 1, 2000), `connection ${i + 1} is served`);
        assert.equal(c.responses[0]?.status, 200);
      }
      const headsBefore = heads.length;
      const extra = await RawConn.open(gwConn.httpPort);
      conns.push(extra);
      extra.write(GET);
      assert.ok(await extra.until((x) => x.closed, 2000), 'the extra connection is closed');
      assert.equal(extra.text, '', 'nothing is answered on it');
      await sleep(30);
      assert.equal(heads.length, headsBefore, 'its request never reached the upstream');

      // The admitted connections keep working …
      const first = conns[0] as RawConn;
      first.write(GET);
      assert.ok(await first.until((x) => x.responses.length === 2, 2000));
      assert.equal(first.responses[1]?.status, 200);

      // … and closing one frees its slot.
      (conns[1] as RawConn).destroy();
      let admitted = false;
      for (let attempt = 0; attempt < 20 && !admitted; attempt++) {
        const c = await RawConn.open(gwConn.httpPort);
        conns.push(c);
        c.write(GET);
        await c.until((x) => x.closed || x.responses.length === 1, 1000);
        admitted = c.responses[0]?.status === 200;
        if (!admitted) await sleep(20);
      }
      assert.ok(admitted, 'a new connection is admitted once one of the others closed');
    } finally {
      for (const c of conns) c.destroy();
    }
  });

  it('applies to the TLS listener too: the extra connection is closed before the handshake completes', async () => {
    const sockets: tls.TLSSocket[] = [];
    try {
      for (let i = 0; i < LIMITS.maxConnectionsPerIp; i++) {
        const s = tls.connect({ port: gwConn.httpsPort, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
        s.on('error', () => {});
        sockets.push(s);
        await once(s, 'secureConnect');
      }
      const extra = tls.connect({ port: gwConn.httpsPort, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      sockets.push(extra);
      let secured = false;
      extra.on('secureConnect', () => (secured = true));
      extra.on('error', () => {});
      let timer: NodeJS.Timeout | undefined;
      // (events.once would reject on the client's ECONNRESET 'error'.)
      const closed = await Promise.race([
        new Promise<boolean>((r) => extra.once('close', () => r(true))),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 2000))),
      ]);
      clearTimeout(timer);
      assert.equal(closed, true);
      assert.equal(secured, false);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// HTTP/2

async function remoteMaxConcurrentStreams(port: number): Promise<number | undefined> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
  session.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      once(session, 'remoteSettings'),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no SETTINGS from the server within 2s')), 2000))),
    ]);
    return session.remoteSettings.maxConcurrentStreams;
  } finally {
    clearTimeout(timer);
    session.destroy();
  }
}

describe('http2MaxConcurrentStreams', () => {
  it('the server SETTINGS advertise 100 concurrent streams by default', async () => {
    assert.equal(await remoteMaxConcurrentStreams(gw.httpsPort), 100);
  });

  it('the server SETTINGS advertise the configured value', async () => {
    assert.equal(await remoteMaxConcurrentStreams(gwConn.httpsPort), 7);
  });
});
