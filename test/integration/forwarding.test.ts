import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { plainConfig, rawRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

describe('forwarded headers and client identity', () => {
  let upstream: TestUpstream;
  let untrusted: TestGateway;
  let trusted: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    untrusted = await startGateway(plainConfig(upstream.url));
    trusted = await startGateway(plainConfig(upstream.url, undefined, '  trustedProxies: [127.0.0.0/8, "::1"]\n  via: true'));
  });
  after(async () => {
    await untrusted.close();
    await trusted.close();
    await upstream.close();
  });

  const spoof = {
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.example',
    forwarded: 'for=6.6.6.6;proto=https',
    'x-real-ip': '6.6.6.6',
    'x-request-id': 'attacker-chosen-id',
  };

  it('ignores X-Forwarded-*, Forwarded, X-Real-IP and X-Request-Id from an untrusted peer', async () => {
    const res = await request(`http://127.0.0.1:${untrusted.httpPort}/who`, { headers: spoof });
    await res.body.text();
    const seen = upstream.received.at(-1);
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'http');
    assert.equal(seen?.headers['x-forwarded-host'], `127.0.0.1:${untrusted.httpPort}`);
    assert.equal(seen?.headers.forwarded, `for=127.0.0.1;host="127.0.0.1:${untrusted.httpPort}";proto=http`);
    assert.equal(seen?.headers['x-real-ip'], '127.0.0.1');
    assert.notEqual(seen?.headers['x-request-id'], 'attacker-chosen-id');
    assert.equal(res.headers['x-request-id'], seen?.headers['x-request-id']);
    assert.equal(untrusted.log.at(-1)?.clientIp, '127.0.0.1');
  });

  it('believes a trusted proxy: appends to the chain, keeps proto/host/request id, resolves the client', async () => {
    const res = await request(`http://127.0.0.1:${trusted.httpPort}/who`, {
      headers: { ...spoof, 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 127.0.0.5' },
    });
    await res.body.text();
    const seen = upstream.received.at(-1);
    assert.equal(seen?.headers['x-forwarded-for'], '6.6.6.6, 203.0.113.7, 127.0.0.5, 127.0.0.1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'https');
    assert.equal(seen?.headers['x-forwarded-host'], 'evil.example');
    assert.equal(seen?.headers.forwarded, `for=6.6.6.6;proto=https, for=127.0.0.1;host="127.0.0.1:${trusted.httpPort}";proto=http`);
    // right-most untrusted hop: 127.0.0.5 is trusted, 203.0.113.7 is the client; 6.6.6.6 is whatever it claimed
    assert.equal(seen?.headers['x-real-ip'], '203.0.113.7');
    assert.equal(trusted.log.at(-1)?.clientIp, '203.0.113.7');
    assert.equal(seen?.headers['x-request-id'], 'attacker-chosen-id');
    assert.equal(res.headers['x-request-id'], 'attacker-chosen-id');
    assert.equal(seen?.headers.via, '1.1 portcullis');
    assert.equal(res.headers.via, '1.1 portcullis');
  });

  it('a trusted proxy with an invalid request id gets a fresh one', async () => {
    const res = await request(`http://127.0.0.1:${trusted.httpPort}/who`, { headers: { 'x-request-id': 'bad id with spaces' } });
    await res.body.text();
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('strips hop-by-hop headers, including those named in Connection, and keeps end-to-end ones', async () => {
    // A raw request: well-behaved clients refuse to send some of these.
    const res = await rawRequest(
      untrusted.httpPort,
      'GET /hop HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, x-secret-hop\r\nX-Secret-Hop: must not pass\r\n' +
        'Keep-Alive: timeout=5\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nTE: trailers\r\nUpgrade: websocket\r\n' +
        'X-End-To-End: kept\r\nAuthorization: Bearer abc\r\n\r\n',
      { waitMs: 300 },
    );
    assert.equal(res.status, 200);
    const seen = upstream.received.at(-1);
    assert.equal(seen?.headers['x-secret-hop'], undefined);
    assert.equal(seen?.headers['keep-alive'], undefined);
    assert.equal(seen?.headers['proxy-authorization'], undefined);
    assert.equal(seen?.headers.te, undefined);
    assert.equal(seen?.headers.upgrade, undefined);
    assert.equal(seen?.headers['x-end-to-end'], 'kept');
    assert.equal(seen?.headers.authorization, 'Bearer abc');
    assert.equal(seen?.headers.host, `127.0.0.1:${upstream.port}`);
  });

  it('forwards the normalised path, so the backend sees what the router matched', async () => {
    const res = await request(`http://127.0.0.1:${untrusted.httpPort}/a/./b/../c//d?x=%2F..`, {});
    await res.body.text();
    assert.equal(upstream.received.at(-1)?.url, '/a/c/d?x=%2F..');
  });
});
