import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { plainConfig, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

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
