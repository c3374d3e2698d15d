import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

describe('consumer tiers: metadata overrides a limit', () => {
  const gold = newApiKey();
  const basic = newApiKey();
  const odd = newApiKey();
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startGateway(`
server: { http: { host: 127.0.0.1, port: 0, redirectToHttps: false } }
logging: { level: silent, accessLog: "off" }
authenticators:
  keys:
    type: apiKey
    consumers:
      - { id: gold, keyHash: "${gold.keyHash}", metadata: { rateLimit: { orders-minute: 5 } } }
      - { id: basic, keyHash: "${basic.keyHash}" }
      - { id: odd, keyHash: "${odd.keyHash}", metadata: { rateLimit: { orders-minute: -3, other: 100 } } }
upstreams: { b: { targets: [${up.url}] } }
routes:
  - name: orders
    match: { path: /* }
    auth: keys
    rateLimit: [{ by: consumer, limit: 2, per: 1m, name: orders-minute }]
    upstream: b
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  async function burst(key: string, n: number): Promise<{ statuses: number[]; policy: string | undefined }> {
    const statuses: number[] = [];
    let policy: string | undefined;
    for (let i = 0; i < n; i++) {
      const r = await request(`http://127.0.0.1:${gw.httpPort}/o`, { headers: { 'x-api-key': key } });
      await r.body.text();
      statuses.push(r.statusCode);
      policy = r.headers['ratelimit-policy'] as string | undefined;
    }
    return { statuses, policy };
  }

  it('a gold consumer gets its own limit, reported in RateLimit-Policy', async () => {
    const r = await burst(gold.key, 7);
    assert.deepEqual(r.statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert.equal(r.policy, '"orders-minute";q=5;w=60');
  });

  it('a consumer without a tier keeps the configured limit', async () => {
    const r = await burst(basic.key, 4);
    assert.deepEqual(r.statuses, [200, 200, 429, 429]);
    assert.equal(r.policy, '"orders-minute";q=2;w=60');
  });

  it('an invalid tier value is ignored, never loosens the limit', async () => {
    const r = await burst(odd.key, 3);
    assert.deepEqual(r.statuses, [200, 200, 429]);
  });
});
