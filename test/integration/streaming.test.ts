import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { plainConfig, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

const MB = 1024 * 1024;
const SIZE = 100 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** `total` bytes generated lazily, never held whole; `counter.n` is how many were produced. */
function bigStream(total: number, counter: { n: number } = { n: 0 }): Readable {
  return new Readable({
    read() {
      if (counter.n >= total) return this.push(null);
      const n = Math.min(CHUNK.length, total - counter.n);
      counter.n += n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

/**
 * Bodies are streamed, never buffered: proven by backpressure. When the receiver stops reading, the
 * sender must stall after a bounded amount (socket buffers on both hops), not after the whole body.
 */
describe('streaming bodies', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const produced = { n: 0 };
  let uploadRead = 0;
  let uploadPaused = false;
  before(async () => {
    upstream = await startUpstream(
      (req, res) => {
        if (req.method === 'GET') {
          produced.n = 0;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
          bigStream(SIZE, produced).pipe(res);
          return;
        }
        const hash = createHash('sha256');
        uploadRead = 0;
        req.on('data', (c: Buffer) => {
          uploadRead += c.length;
          hash.update(c);
          if (uploadPaused) req.pause();
        });
        req.on('end', () => res.end(JSON.stringify({ n: uploadRead, sha: hash.digest('hex') })));
      },
      { stream: true },
    );
    gw = await startGateway(plainConfig(upstream.url, undefined, '  limits: { maxBodyBytes: 200mb, requestTimeout: 60s }'));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('streams a 100 MB download through intact', async () => {
    const res = await request(`http://127.0.0.1:${gw.httpPort}/big`);
    assert.equal(res.statusCode, 200);
    let n = 0;
    for await (const chunk of res.body) n += (chunk as Buffer).length;
    assert.equal(n, SIZE);
  });

  it('streams a 100 MB chunked upload through intact', async () => {
    const expected = createHash('sha256');
    for (let sent = 0; sent < SIZE; sent += CHUNK.length) expected.update(CHUNK);
    const req = http.request({ port: gw.httpPort, host: '127.0.0.1', method: 'POST', path: '/up' });
    bigStream(SIZE).pipe(req);
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    let text = '';
    for await (const c of res) text += String(c);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(text), { n: SIZE, sha: expected.digest('hex') });
  });

  it('a slow client stalls the upstream (download backpressure)', async () => {
    const req = http.get({ port: gw.httpPort, host: '127.0.0.1', path: '/big' });
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    let received = 0;
    res.on('data', (c: Buffer) => {
      received += c.length;
      if (received > MB) res.pause();
    });
    await sleep(600);
    const inFlight = produced.n - received;
    res.destroy();
    assert.ok(received < 4 * MB, `client read ${received}`);
    // Loopback socket buffers on two hops hold a few MB at most; without backpressure this would be ~100 MB.
    assert.ok(inFlight < 24 * MB, `upstream produced ${(produced.n / MB).toFixed(1)} MB while the client read ${(received / MB).toFixed(1)} MB`);
  });

  it('a slow upstream stalls the client (upload backpressure)', async () => {
    uploadPaused = true;
    const sent = { n: 0 };
    const req = http.request({ port: gw.httpPort, host: '127.0.0.1', method: 'POST', path: '/up' });
    req.on('error', () => {});
    bigStream(SIZE, sent).pipe(req);
    await sleep(600);
    const inFlight = sent.n - uploadRead;
    req.destroy();
    uploadPaused = false;
    assert.ok(inFlight < 24 * MB, `client produced ${(sent.n / MB).toFixed(1)} MB while the upstream read ${(uploadRead / MB).toFixed(1)} MB`);
  });

  it('a client that goes away mid-download aborts the upstream request', async () => {
    const res = await request(`http://127.0.0.1:${gw.httpPort}/big`);
    let got = 0;
    for await (const chunk of res.body) {
      got += (chunk as Buffer).length;
      if (got > 2 * MB) break; // leaving the loop destroys the body and the socket
    }
    const deadline = Date.now() + 2000;
    while (gw.log.at(-1)?.code !== 'CLIENT_CLOSED' && Date.now() < deadline) await sleep(20);
    assert.equal(gw.log.at(-1)?.code, 'CLIENT_CLOSED');
    // the upstream stopped producing long before the end of the body
    await sleep(200);
    assert.ok(produced.n < SIZE / 2, `upstream produced ${(produced.n / MB).toFixed(1)} MB`);
  });
});
