/**
 * Rate limiting and the brute-force guard end to end, through running gateways on the memory store:
 * exact counts under 2,000 concurrent requests (GCRA refill during the run accounted for), the
 * sliding window's "never more than limit in any window" against GCRA's refill, burst, per-consumer
 * budgets that only passed requests are charged to, composite and header keys, the pre-auth guard
 * in front of the authenticators, the RateLimit fields on every answer, shadow mode, brute-force
 * bans (per IP, for the ban duration, valid keys included) and a random-key flood against the
 * store's cap. Client addresses come from X-Forwarded-For (the gateway trusts 127.0.0.1); every case
 * uses addresses of its own so no case spends another's budget.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import { GatewayError } from '../../src/errors/gateway-error.ts';
import { RequestContext } from '../../src/pipeline/context.ts';
import type { Rule } from '../../src/ratelimit/algorithms.ts';
import { RateLimitStage, type OnStoreError, type Policy } from '../../src/stages/rate-limit/rate-limit.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { StoreUnavailableError, type Store } from '../../src/store/store.ts';
import type { AnyRequest } from '../../src/upstream/proxy.ts';
import { startGateway, startUpstream, type LoggedRequest, type TestGateway, type TestUpstream } from '../helpers/harness.ts';
import { startIdp, type TestIdp } from '../helpers/idp.ts';

// ---------------------------------------------------------------------------------------------
// helpers

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
  ms: number;
}

const agent = new Agent({ connections: 128, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });

async function send(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const t0 = performance.now();
  const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, headers });
  const text = await res.body.text();
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, headers: flat, body, ms: performance.now() - t0 };
}

/** `n` requests at once; answers in order, with the wall time of the whole batch. */
async function burst(n: number, port: number, path: string, headers: (i: number) => Record<string, string>): Promise<{ answers: Answer[]; elapsed: number }> {
  const t0 = performance.now();
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => send(port, path, headers(i))));
  return { answers, elapsed: performance.now() - t0 };
}

const count = (answers: Answer[], status: number): number => answers.filter((a) => a.status === status).length;
const codeOf = (a: Answer): unknown => a.body?.code;

let ipCounter = 0;
/** A client address nobody else in this file uses. */
function freshIp(): string {
  ipCounter++;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}
const from = (ip: string, extra: Record<string, string> = {}): Record<string, string> => ({ 'x-forwarded-for': ip, ...extra });

/** Upstream requests for `path`. */
const seen = (upstream: TestUpstream, path: string): number => upstream.received.filter((r) => r.url === path).length;

const SERVER = `server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  trustedProxies: [127.0.0.1]
logging: { level: silent, accessLog: "off" }`;

// ---------------------------------------------------------------------------------------------

describe('rate limits through a running gateway (memory store)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let idp: TestIdp;
  let guarded: TestGateway;
  const alpha = newApiKey();
  const beta = newApiKey();

  before(async () => {
    upstream = await startUpstream();
    idp = await startIdp([]);
    const keys = `authenticators:
  keys:
    type: apiKey
    consumers:
      - { id: alpha, keyHash: "${alpha.keyHash}" }
      - { id: beta, keyHash: "${beta.keyHash}" }`;
    gw = await startGateway(`
${SERVER}
${keys}
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: ip100
    match: { path: /ip100 }
    auth: public
    upstream: backend
    rateLimit: [{ by: ip, limit: 100, per: 1m, name: per-ip }]
  - name: sliding
    match: { path: /sliding }
    auth: public
    upstream: backend
    rateLimit: [{ by: ip, limit: 20, per: 2s, algorithm: sliding-window, name: sliding }]
  - name: gcra
    match: { path: /gcra }
    auth: public
    upstream: backend
    rateLimit: [{ by: ip, limit: 20, per: 2s, name: gcra }]
  - name: burst
    match: { path: /burst }
    auth: public
    upstream: backend
    rateLimit: [{ by: ip, limit: 10, per: 1m, burst: 5, name: burst }]
  - name: consumer
    match: { path: /consumer }
    auth: keys
    upstream: backend
    rateLimit: [{ by: consumer, limit: 5, per: 1m, name: per-consumer }]
  - name: two
    match: { path: /two }
    auth: keys
    upstream: backend
    rateLimit:
      - { by: consumer, limit: 5, per: 1m, name: minute }
      - { by: consumer, limit: 3, per: 1s, algorithm: sliding-window, name: second }
  - name: tenant
    match: { path: /tenant }
    auth: public
    upstream: backend
    rateLimit: [{ by: "header:x-tenant", limit: 3, per: 1m, name: tenant }]
  - name: shadow
    match: { path: /shadow }
    auth: public
    upstream: backend
    mode: shadow
    rateLimit: [{ by: ip, limit: 2, per: 1m, name: shadow }]
`);
    // Defaults: an ip guard before authentication on every route, and identity limits after it.
    guarded = await startGateway(
      `
${SERVER}
${keys}
  opaque:
    type: introspection
    endpoint: ${idp.url}/introspect
    clientId: ${idp.client.id}
    clientSecret: \${INTROSPECTION_SECRET}
    timeout: 1s
defaults:
  rateLimit:
    - { by: ip, limit: 20, per: 1m, name: guard }
    - { by: [consumer, route], limit: 3, per: 1m, name: per-route }
    - { by: consumer, limit: 5, per: 1m, name: overall }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: a
    match: { path: /d/a }
    auth: keys
    upstream: backend
  - name: b
    match: { path: /d/b }
    auth: keys
    upstream: backend
  - name: intro
    match: { path: /d/intro }
    auth: opaque
    upstream: backend
  - name: public
    match: { path: /d/public }
    auth: public
    upstream: backend
`,
      { env: { INTROSPECTION_SECRET: idp.client.secret } },
    );
  });

  after(async () => {
    await gw?.close();
    await guarded?.close();
    await upstream?.close();
    await idp?.close();
  });

  it('2,000 concurrent requests against { by: ip, limit: 100, per: 1m }: exactly 100 plus the refill pass; the upstream sees exactly those', async () => {
    const ip = freshIp();
    const before = seen(upstream, '/ip100');
    const { answers, elapsed } = await burst(2000, gw.httpPort, '/ip100', () => from(ip));
    const passed = count(answers, 200);
    const limited = count(answers, 429);
    // GCRA refills 100 per minute: one cell per 600 ms of the run.
    const bound = 100 + Math.ceil(elapsed / 600);
    console.log(`# 2000 concurrent, limit 100/min: ${passed} passed, ${limited} got 429 in ${elapsed.toFixed(0)} ms (bound ${bound})`);
    assert.equal(passed + limited, 2000);
    assert.ok(passed >= 100 && passed <= bound, `${passed} passed; expected 100..${bound}`);
    assert.equal(seen(upstream, '/ip100') - before, passed, 'the upstream saw exactly the passed requests');
    for (const a of answers.filter((x) => x.status === 429)) assert.equal(codeOf(a), 'PCL_RATE_LIMITED');
    const logged = gw.log.filter((l) => l.route === 'ip100');
    assert.equal(logged.filter((l) => l.code === 'PCL_RATE_LIMITED').length, limited);
    assert.equal(logged.filter((l) => l.status === 200).length, passed);
  });

  it('sliding window: exactly limit in the window, none in its middle, exactly limit again once it has passed', async () => {
    const ip = freshIp();
    const t0 = performance.now();
    const first = await burst(200, gw.httpPort, '/sliding', () => from(ip));
    assert.equal(count(first.answers, 200), 20);
    await sleep(Math.max(0, t0 + 1000 - performance.now()));
    const middle = await burst(200, gw.httpPort, '/sliding', () => from(ip));
    assert.ok(performance.now() - t0 < 2000, 'the middle batch ran inside the window');
    assert.equal(count(middle.answers, 200), 0, 'a sliding window does not refill inside the window');
    const retryAfter = Number(middle.answers[0]?.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
    await sleep(Math.max(0, t0 + 2000 + first.elapsed + 100 - performance.now()));
    const again = await burst(200, gw.httpPort, '/sliding', () => from(ip));
    assert.equal(count(again.answers, 200), 20);
    console.log(`# sliding-window 20/2s: ${count(first.answers, 200)} + ${count(middle.answers, 200)} (at +1s) + ${count(again.answers, 200)} (after the window)`);
  });

  it('GCRA refills inside the window: from a full bucket, at most 2·limit − 1 in one window (and more than limit)', async () => {
    const ip = freshIp();
    const t0 = performance.now();
    const first = await burst(200, gw.httpPort, '/gcra', () => from(ip));
    await sleep(Math.max(0, t0 + 1800 - performance.now()));
    const secondStart = performance.now();
    const second = await burst(200, gw.httpPort, '/gcra', () => from(ip));
    const span = performance.now() - t0;
    const a = count(first.answers, 200);
    const b = count(second.answers, 200);
    console.log(`# gcra 20/2s: ${a} at once, ${b} more at +1.8s (${a + b} within ${span.toFixed(0)} ms)`);
    assert.ok(a >= 20 && a <= 20 + Math.ceil(first.elapsed / 100), `first batch ${a}`);
    // One cell per 100 ms since the first request, all taken by the second batch: about 18 more.
    const accrued = 20 + Math.floor((secondStart - t0 - first.elapsed) / 100);
    assert.ok(a + b >= accrued, `${a} + ${b} passed; at least ${accrued} expected`);
    if (span < 2000) assert.ok(a + b <= 2 * 20 - 1, `${a + b} in one window`);
  });

  it('burst: limit + burst at once', async () => {
    const ip = freshIp();
    const { answers, elapsed } = await burst(100, gw.httpPort, '/burst', () => from(ip));
    const passed = count(answers, 200);
    // One more cell per 6 s of the run.
    assert.ok(passed >= 15 && passed <= 15 + Math.ceil(elapsed / 6000), `${passed} passed in ${elapsed.toFixed(0)} ms`);
    const ok = answers.find((a) => a.status === 200);
    assert.equal(ok?.headers['ratelimit-policy'], '"burst";q=10;w=60', 'the policy advertises the refill rate, not the burst');
  });

  it('per consumer: each API-key consumer has its own budget, whatever its address', async () => {
    const alphaAnswers: Answer[] = [];
    for (let i = 0; i < 7; i++) alphaAnswers.push(await send(gw.httpPort, '/consumer', from(freshIp(), { 'x-api-key': alpha.key })));
    assert.deepEqual(alphaAnswers.map((a) => a.status), [200, 200, 200, 200, 200, 429, 429]);
    const betaAnswers: Answer[] = [];
    for (let i = 0; i < 6; i++) betaAnswers.push(await send(gw.httpPort, '/consumer', from(freshIp(), { 'x-api-key': beta.key })));
    assert.deepEqual(betaAnswers.map((a) => a.status), [200, 200, 200, 200, 200, 429]);
    assert.equal(alphaAnswers[0]?.headers.ratelimit?.startsWith('"per-consumer";r=4;'), true, alphaAnswers[0]?.headers.ratelimit);
  });

  it("a consumer's rejected requests are charged to none of its limits", async () => {
    const ip = freshIp();
    const h = from(ip, { 'x-api-key': beta.key });
    const statuses: number[] = [];
    const limits: string[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) {
      const a = await send(gw.httpPort, '/two', h);
      statuses.push(a.status);
      limits.push(a.headers.ratelimit ?? '');
    }
    const admitted = performance.now();
    // Over "second" (3 per 1 s): rejected; "minute" must not be charged for these.
    for (let i = 0; i < 6; i++) {
      const a = await send(gw.httpPort, '/two', h);
      statuses.push(a.status);
      limits.push(a.headers.ratelimit ?? '');
      assert.equal(codeOf(a), 'PCL_RATE_LIMITED');
      assert.equal(a.headers['retry-after'], '1');
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429]);
    assert.equal(limits[2], '"second";r=0;t=1', 'the policy closest to exhaustion is reported');
    assert.equal(limits[3], '"second";r=0;t=1');
    assert.ok(performance.now() - t0 < 1000, 'the rejected requests fell inside the second window');
    await sleep(Math.max(0, admitted + 1100 - performance.now()));
    // "second" is clear again; "minute" has 5 − 3 = 2 left: the 6 rejected requests cost nothing.
    const fourth = await send(gw.httpPort, '/two', h);
    assert.equal(fourth.status, 200);
    assert.match(fourth.headers.ratelimit ?? '', /^"minute";r=1;t=\d+$/);
    assert.equal(fourth.headers['ratelimit-policy'], '"minute";q=5;w=60, "second";q=3;w=1');
    const fifth = await send(gw.httpPort, '/two', h);
    assert.equal(fifth.status, 200);
    assert.match(fifth.headers.ratelimit ?? '', /^"minute";r=0;t=\d+$/);
    const sixth = await send(gw.httpPort, '/two', h);
    assert.equal(sixth.status, 429);
    // The next "minute" cell in 12 s, less the time since the first request.
    assert.match(sixth.headers.ratelimit ?? '', /^"minute";r=0;t=1[01]$/);
    assert.match(sixth.headers['retry-after'] ?? '', /^1[01]$/);
  });

  it('by: [consumer, route] in the defaults: a budget per route, next to one across routes (by: consumer)', async () => {
    const ip = freshIp();
    const h = from(ip, { 'x-api-key': alpha.key });
    const onA: number[] = [];
    for (let i = 0; i < 4; i++) onA.push((await send(guarded.httpPort, '/d/a', h)).status);
    assert.deepEqual(onA, [200, 200, 200, 429], 'per-route: 3 on route a');
    const onB: Answer[] = [];
    for (let i = 0; i < 3; i++) onB.push(await send(guarded.httpPort, '/d/b', h));
    // Route b has its own per-route budget, but "overall" (by: consumer) has 5 − 3 = 2 left.
    assert.deepEqual(onB.map((a) => a.status), [200, 200, 429]);
    assert.match(onB[2]?.headers.ratelimit ?? '', /"overall";r=0;t=\d+$/);
    // Both stages add their items: the ip guard's policy and the identity policies.
    assert.equal(onB[0]?.headers['ratelimit-policy'], '"guard";q=20;w=60, "per-route";q=3;w=60, "overall";q=5;w=60');
    assert.match(onB[0]?.headers.ratelimit ?? '', /^"guard";r=\d+;t=\d+, "overall";r=1;t=\d+$/);
  });

  it('header:x-tenant: one budget per tenant, across addresses; a request without the header is not counted by it', async () => {
    const statuses = async (tenant: string | undefined, n: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await send(gw.httpPort, '/tenant', from(freshIp(), tenant ? { 'x-tenant': tenant } : {}))).status);
      return out;
    };
    assert.deepEqual(await statuses('acme', 4), [200, 200, 200, 429]);
    assert.deepEqual(await statuses('globex', 4), [200, 200, 200, 429]);
    assert.deepEqual(await statuses('ACME', 1), [200], 'header values are compared exactly');
    assert.deepEqual(await statuses(undefined, 5), [200, 200, 200, 200, 200]);
    const untracked = await send(gw.httpPort, '/tenant', from(freshIp()));
    assert.equal(untracked.headers['ratelimit-policy'], undefined, 'no entry applied, so no fields');
  });

  it('the pre-auth guard runs before authentication: an address over it gets 429 with any token, and the authenticator is not called', async () => {
    const ip = freshIp();
    const hits = (): number => idp.hits.get('/introspect') ?? 0;
    const start = hits();
    const answers: Answer[] = [];
    for (let i = 0; i < 20; i++) answers.push(await send(guarded.httpPort, '/d/intro', from(ip, { authorization: `Bearer not-a-token-${i}` })));
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [401]);
    assert.equal(hits() - start, 20, 'each invalid token was introspected');
    // Every answer of a limited route carries the fields, a 401 included.
    answers.forEach((a, i) => {
      assert.equal(a.headers['ratelimit-policy'], '"guard";q=20;w=60');
      const m = /^"guard";r=(\d+);t=(\d+)$/.exec(a.headers.ratelimit ?? '');
      assert.ok(m, a.headers.ratelimit);
      assert.equal(Number(m[1]), 19 - i);
      // 3 s per cell: t is when the bucket is full again.
      assert.ok(Number(m[2]) >= 3 * (i + 1) - 1 && Number(m[2]) <= 3 * (i + 1), `t=${m[2]} after ${i + 1}`);
    });
    idp.introspection['opaque-valid'] = { active: true, sub: 'carol', exp: Math.floor(Date.now() / 1000) + 300 };
    for (const authorization of ['Bearer still-invalid', 'Bearer opaque-valid', undefined]) {
      const a = await send(guarded.httpPort, '/d/intro', from(ip, authorization ? { authorization } : {}));
      assert.equal(a.status, 429, String(authorization));
      assert.equal(codeOf(a), 'PCL_RATE_LIMITED');
      // The next cell 3 s after the first request (less the time since: 2 once over a second).
      assert.match(a.headers['retry-after'] ?? '', /^[23]$/);
      assert.equal(a.headers['ratelimit-policy'], '"guard";q=20;w=60');
      assert.equal(a.headers.ratelimit, `"guard";r=0;t=${a.headers['retry-after']}`);
    }
    assert.equal(hits() - start, 20, 'the authenticator was not called once the guard rejected');
    // The defaults' ip guard is one budget per address across routes, public ones included.
    assert.equal((await send(guarded.httpPort, '/d/public', from(ip))).status, 429);
    assert.equal((await send(guarded.httpPort, '/d/a', from(ip, { 'x-api-key': beta.key }))).status, 429);
    // Another address is not affected, and a valid token works there.
    assert.equal((await send(guarded.httpPort, '/d/intro', from(freshIp(), { authorization: 'Bearer opaque-valid' }))).status, 200);
  });

  it('RateLimit fields on 200 and 429, Retry-After on 429, and a problem body', async () => {
    const ip = freshIp();
    const first = await send(gw.httpPort, '/ip100', from(ip));
    assert.equal(first.status, 200);
    assert.equal(first.headers['ratelimit-policy'], '"per-ip";q=100;w=60');
    assert.equal(first.headers.ratelimit, '"per-ip";r=99;t=1');
    assert.equal(first.headers['retry-after'], undefined);
    await burst(99, gw.httpPort, '/ip100', () => from(ip));
    const over = await send(gw.httpPort, '/ip100', from(ip));
    assert.equal(over.status, 429);
    assert.equal(over.headers['ratelimit-policy'], '"per-ip";q=100;w=60');
    assert.equal(over.headers.ratelimit, '"per-ip";r=0;t=1');
    assert.equal(over.headers['retry-after'], '1');
    assert.equal(over.headers['content-type'], 'application/problem+json');
    assert.equal(over.headers['cache-control'], 'no-store');
    assert.equal(over.body?.code, 'PCL_RATE_LIMITED');
    assert.equal(over.body?.status, 429);
    assert.equal(over.body?.type, 'urn:portcullis:error:PCL_RATE_LIMITED');
    assert.deepEqual(Object.keys(over.body ?? {}).sort(), ['code', 'instance', 'requestId', 'status', 'title', 'type']);
  });

  it('shadow mode: would-be 429s reach the upstream, and the decision is recorded', async () => {
    const ip = freshIp();
    const before = seen(upstream, '/shadow');
    const logBefore = gw.log.length;
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await send(gw.httpPort, '/shadow', from(ip)));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
    assert.equal(seen(upstream, '/shadow') - before, 5);
    assert.deepEqual(answers.map((a) => a.headers.ratelimit?.split(';')[1]), ['r=1', 'r=0', 'r=0', 'r=0', 'r=0']);
    assert.ok(answers.every((a) => a.headers['retry-after'] === undefined));
    await waitFor(() => gw.log.length - logBefore >= 5, 2000);
    const records = gw.log.slice(logBefore).filter((l) => l.route === 'shadow');
    const decisions = records.map((l: LoggedRequest) => l.decisions.find((d) => d.stage === 'pre-auth-limit'));
    assert.deepEqual(decisions.map((d) => d?.decision), ['allow', 'allow', 'shadow-deny', 'shadow-deny', 'shadow-deny']);
    assert.deepEqual(decisions.map((d) => d?.code), [undefined, undefined, 'PCL_RATE_LIMITED', 'PCL_RATE_LIMITED', 'PCL_RATE_LIMITED']);
    assert.ok(records.every((l) => l.status === 200 && l.code === undefined));
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

describe('brute-force guard (defaults.bruteForce)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const key = newApiKey();
  const BAN_MS = 500;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(`
${SERVER}
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${key.keyHash}" }]
defaults:
  bruteForce: { maxFailures: 3, per: 2s, ban: ${BAN_MS}ms }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: keyed
    match: { path: /bf }
    auth: keys
    upstream: backend
  - name: public
    match: { path: /bf-public }
    auth: public
    upstream: backend
`);
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const attempt = (ip: string, k: string | undefined, path = '/bf'): Promise<Answer> =>
    send(gw.httpPort, path, from(ip, k === undefined ? {} : { 'x-api-key': k }));
  const wrong = (): string => newApiKey().key;

  it('N failed API-key attempts from one address ban it, even with a valid key, for the ban duration; then the valid key works', async () => {
    const ip = freshIp();
    const other = freshIp();
    const upstreamBefore = seen(upstream, '/bf');
    assert.deepEqual([(await attempt(ip, wrong())).status, (await attempt(ip, wrong())).status], [401, 401]);
    assert.equal((await attempt(ip, key.key)).status, 200, 'not banned below the threshold');
    const third = await attempt(ip, wrong());
    const bannedAt = performance.now();
    assert.equal(third.status, 401, 'the failure that reaches the threshold is still answered 401');
    const banned = await attempt(ip, key.key);
    assert.equal(banned.status, 429);
    assert.equal(codeOf(banned), 'PCL_ABUSE_BANNED');
    assert.equal(banned.headers['retry-after'], '1');
    assert.equal((await attempt(ip, undefined, '/bf-public')).status, 429, 'the ban covers every route of the gateway');
    // Other addresses are not affected.
    assert.equal((await attempt(other, key.key)).status, 200);
    // Still banned shortly before the end of the ban; then it lifts by itself.
    await sleep(Math.max(0, bannedAt + BAN_MS - 150 - performance.now()));
    assert.equal((await attempt(ip, key.key)).status, 429);
    let lifted: Answer | undefined;
    while (performance.now() - bannedAt < BAN_MS + 1000) {
      const a = await attempt(ip, key.key);
      if (a.status === 200) {
        lifted = a;
        break;
      }
      assert.equal(codeOf(a), 'PCL_ABUSE_BANNED');
      await sleep(20);
    }
    const bannedFor = performance.now() - bannedAt;
    console.log(`# brute force: banned after 3 failures; a valid key passes again ${bannedFor.toFixed(0)} ms later (ban ${BAN_MS} ms)`);
    assert.ok(lifted, 'the ban lifted');
    assert.ok(bannedFor >= BAN_MS - 50 && bannedFor < BAN_MS + 300, `banned for ${bannedFor.toFixed(0)} ms`);
    // The upstream saw the one success below the threshold, the other address, and the one after the ban.
    assert.equal(seen(upstream, '/bf') - upstreamBefore, 3);
    const codes = gw.log.filter((l) => l.clientIp === ip).map((l) => l.code);
    assert.equal(codes.filter((c) => c === 'PCL_ABUSE_BANNED').length >= 3, true);
    assert.equal(codes.filter((c) => c === 'PCL_AUTHN_INVALID_CREDENTIALS').length, 3);
  });

  it("a success resets nothing: not another address's failures, not its own", async () => {
    const a = freshIp();
    const b = freshIp();
    assert.equal((await attempt(a, wrong())).status, 401);
    assert.equal((await attempt(a, key.key)).status, 200, "a's own success");
    assert.equal((await attempt(a, wrong())).status, 401);
    for (let i = 0; i < 3; i++) assert.equal((await attempt(b, key.key)).status, 200, "b's successes");
    assert.equal((await attempt(a, wrong())).status, 401, 'third failure of a');
    assert.equal(codeOf(await attempt(a, key.key)), 'PCL_ABUSE_BANNED');
    assert.equal((await attempt(b, key.key)).status, 200, 'b is not banned');
  });

  it('missing credentials are not failures; failures older than `per` expire', async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) assert.equal(codeOf(await attempt(ip, undefined)), 'PCL_AUTHN_MISSING_CREDENTIALS');
    assert.equal((await attempt(ip, key.key)).status, 200);
    const t0 = performance.now();
    assert.equal((await attempt(ip, wrong())).status, 401);
    assert.equal((await attempt(ip, wrong())).status, 401);
    await sleep(Math.max(0, t0 + 2100 - performance.now()));
    assert.equal((await attempt(ip, wrong())).status, 401, 'a fresh window: one failure');
    assert.equal((await attempt(ip, key.key)).status, 200, 'not banned');
  });

  it('failures from many addresses at once ban exactly the ones over the threshold', async () => {
    const attackers = Array.from({ length: 20 }, () => freshIp());
    const bystanders = Array.from({ length: 20 }, () => freshIp());
    await Promise.all([
      ...attackers.flatMap((ip) => Array.from({ length: 3 }, () => attempt(ip, wrong()))),
      ...bystanders.flatMap((ip) => Array.from({ length: 2 }, () => attempt(ip, wrong()))),
    ]);
    const after = await Promise.all([...attackers, ...bystanders].map((ip) => attempt(ip, key.key)));
    assert.deepEqual(after.slice(0, 20).map(codeOf), Array(20).fill('PCL_ABUSE_BANNED'));
    assert.deepEqual(after.slice(20).map((a) => a.status), Array(20).fill(200));
  });

  it('one bad credential replayed from many addresses is banned itself; the addresses and valid keys are not', async () => {
    const replayed = wrong();
    const upstreamBefore = seen(upstream, '/bf');
    // Three different addresses, one failure each: no address reaches its threshold.
    for (let i = 0; i < 3; i++) assert.equal(codeOf(await attempt(freshIp(), replayed)), 'PCL_AUTHN_INVALID_CREDENTIALS');
    const fresh = freshIp();
    const banned = await attempt(fresh, replayed);
    assert.equal(banned.status, 429);
    assert.equal(codeOf(banned), 'PCL_ABUSE_BANNED');
    const record = gw.log.find((l) => l.requestId === banned.headers['x-request-id']);
    assert.match(JSON.stringify(record?.decisions), /presented credential banned/);
    // The same new address with a valid key, and another bad key, still reach authentication.
    assert.equal((await attempt(fresh, key.key)).status, 200);
    assert.equal(codeOf(await attempt(fresh, wrong())), 'PCL_AUTHN_INVALID_CREDENTIALS');
    assert.equal(seen(upstream, '/bf') - upstreamBefore, 1);
  });
});

describe('brute-force guard by IP only (bruteForce.by: [ip])', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const key = newApiKey();

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(`
${SERVER}
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${key.keyHash}" }]
defaults:
  bruteForce: { maxFailures: 2, per: 5s, ban: 5s, by: [ip] }
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: keyed
    match: { path: /bf }
    auth: keys
    upstream: backend
`);
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('a credential failing from many addresses is not banned', async () => {
    const replayed = newApiKey().key;
    for (let i = 0; i < 5; i++) {
      const a = await send(gw.httpPort, '/bf', from(freshIp(), { 'x-api-key': replayed }));
      assert.equal(codeOf(a), 'PCL_AUTHN_INVALID_CREDENTIALS');
    }
  });
});

describe('a random-key flood against the memory store', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    // Ten entries keyed by an attacker-chosen header: every request with a new value adds ten keys.
    const entries = Array.from({ length: 10 }, (_, i) => `      - { by: "header:x-flood", limit: 5, per: 1m, name: flood-${i} }`).join('\n');
    gw = await startGateway(`
${SERVER}
upstreams:
  backend: { targets: [${upstream.url}], timeout: 5s }
routes:
  - name: flood
    match: { path: /flood }
    auth: public
    upstream: backend
    rateLimit:
${entries}
`);
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('the store stays at or under its cap (least recently written evicted), and limits still hold for live keys', async () => {
    const store = gw.server.gateway.store as MemoryStore;
    assert.equal(store.kind, 'memory');
    const cap = store.maxKeys;
    const requests = Math.ceil((cap * 1.2) / 10);
    const heapBefore = process.memoryUsage().heapUsed;
    let maxSize = 0;
    let next = 0;
    const t0 = performance.now();
    // 64 clients, each sending its share of distinct values back to back.
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < requests) {
          const i = next++;
          const a = await send(gw.httpPort, '/flood', { 'x-flood': `${i}-${Math.random().toString(36).slice(2)}` });
          assert.equal(a.status, 200);
          if ((i & 255) === 0) maxSize = Math.max(maxSize, store.size);
        }
      }),
    );
    const elapsed = performance.now() - t0;
    maxSize = Math.max(maxSize, store.size);
    console.log(`# flood: ${requests} requests (${requests * 10} keys) in ${elapsed.toFixed(0)} ms; store size ${store.size} (cap ${cap}), ${store.evictions} evictions, heap +${((process.memoryUsage().heapUsed - heapBefore) / 1e6).toFixed(0)} MB`);
    assert.ok(maxSize <= cap, `store grew to ${maxSize} > ${cap}`);
    assert.ok(store.evictions > 0, 'the cap was reached and the oldest entries evicted');
    // A key written after the flood is counted as usual.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await send(gw.httpPort, '/flood', { 'x-flood': 'steady' })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });
});

describe('the rate-limit stage with an injected clock (no network)', () => {
  const ctxFor = (ip: string, headers: Record<string, string> = {}): RequestContext =>
    new RequestContext({
      requestId: 'r',
      startedAt: 0,
      method: 'GET',
      host: 'h',
      path: '/',
      query: '',
      clientIp: ip,
      peerIp: ip,
      secure: false,
      httpVersion: '1.1',
      request: { headers } as unknown as AnyRequest,
    });
  const policy = (limit: number, periodMs: number, burst = 0, algorithm: Rule['algorithm'] = 'gcra', name = 'p'): Policy => ({
    rule: { id: name, limit, periodMs, burst, algorithm },
    by: [{ kind: 'ip' }],
    name,
  });
  /** Runs the stage; the GatewayError it throws, or undefined when the request passes. */
  const runStage = async (stage: RateLimitStage, ctx: RequestContext): Promise<GatewayError | undefined> => {
    try {
      await stage.run(ctx);
      return undefined;
    } catch (err) {
      if (err instanceof GatewayError) return err;
      throw err;
    }
  };

  it('GCRA: the RateLimit fields follow the clock exactly', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now, sweepIntervalMs: 0 });
    const stage = new RateLimitStage({ name: 'rate-limit', policies: [policy(10, 10_000)], store, mode: 'enforce', onError: 'closed', instances: 1 });
    const fields: string[] = [];
    for (let i = 0; i < 10; i++) {
      const ctx = ctxFor('1.1.1.1');
      assert.equal(await runStage(stage, ctx), undefined);
      fields.push(ctx.responseHeaders?.ratelimit as string);
    }
    // One cell per second; t = seconds until the bucket is full again.
    assert.deepEqual(fields.slice(0, 3), ['"p";r=9;t=1', '"p";r=8;t=2', '"p";r=7;t=3']);
    assert.equal(fields[9], '"p";r=0;t=10');
    const over = ctxFor('1.1.1.1');
    const err = await runStage(stage, over);
    assert.equal(err?.code, 'PCL_RATE_LIMITED');
    assert.equal(err?.headers?.['retry-after'], '1');
    assert.equal(over.responseHeaders?.ratelimit, '"p";r=0;t=1', 'on a 429, t is the wait');
    now += 999;
    assert.equal((await runStage(stage, ctxFor('1.1.1.1')))?.headers?.['retry-after'], '1', '1 ms left: Retry-After is at least 1');
    now += 1;
    assert.equal(await runStage(stage, ctxFor('1.1.1.1')), undefined, 'one cell back after a second');
    assert.equal((await runStage(stage, ctxFor('1.1.1.1')))?.code, 'PCL_RATE_LIMITED');
    now += 5_000;
    let passed = 0;
    while (passed < 100 && (await runStage(stage, ctxFor('1.1.1.1'))) === undefined) passed++;
    assert.equal(passed, 5, 'five cells after five seconds');
    await store.close();
  });

  it('sliding window: Retry-After is when the oldest entries leave the window', async () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now, sweepIntervalMs: 0 });
    const stage = new RateLimitStage({ name: 'rate-limit', policies: [policy(3, 10_000, 0, 'sliding-window')], store, mode: 'enforce', onError: 'closed', instances: 1 });
    for (const t of [0, 4_000, 8_000]) {
      now = t;
      assert.equal(await runStage(stage, ctxFor('2.2.2.2')), undefined);
    }
    now = 9_000;
    const err = await runStage(stage, ctxFor('2.2.2.2'));
    assert.equal(err?.headers?.['retry-after'], '1', 'the entry of t=0 leaves at 10 s');
    now = 10_001;
    assert.equal(await runStage(stage, ctxFor('2.2.2.2')), undefined);
    assert.equal((await runStage(stage, ctxFor('2.2.2.2')))?.headers?.['retry-after'], '4');
    await store.close();
  });

  it('onError: open passes, closed refuses with 503, local applies limit / instances (and burst / instances)', async () => {
    const down: Store = {
      kind: 'redis',
      consume: () => Promise.reject(new StoreUnavailableError('redis call over 50ms')),
      increment: () => Promise.reject(new StoreUnavailableError('down')),
      setFlag: () => Promise.reject(new StoreUnavailableError('down')),
      flagTtl: () => Promise.reject(new StoreUnavailableError('down')),
      flagTtls: () => Promise.reject(new StoreUnavailableError('down')),
      deleteKey: () => Promise.reject(new StoreUnavailableError('down')),
      acquire: () => Promise.reject(new StoreUnavailableError('down')),
      release: () => Promise.reject(new StoreUnavailableError('down')),
      listKeys: () => Promise.reject(new StoreUnavailableError('down')),
      stats: {},
      close: async () => {},
    };
    const fallbacks: string[] = [];
    const make = (onError: OnStoreError, instances: number, p: Policy) =>
      new RateLimitStage({ name: 'rate-limit', policies: [p], store: down, mode: 'enforce', onError, instances, onFallback: (r) => fallbacks.push(r) });
    const open = make('open', 1, policy(1, 60_000));
    for (let i = 0; i < 5; i++) {
      const ctx = ctxFor('3.3.3.3');
      assert.equal(await runStage(open, ctx), undefined);
      assert.match(ctx.notes?.[0] ?? '', /^rate-limit: open \(store error: redis call over 50ms\)$/);
      assert.equal(ctx.responseHeaders?.ratelimit, undefined, 'no state to report');
    }
    const closed = await runStage(make('closed', 1, policy(100, 60_000)), ctxFor('3.3.3.3'));
    assert.equal(closed?.code, 'PCL_RATE_LIMIT_UNAVAILABLE');
    assert.equal(closed?.status, 503);
    assert.equal(closed?.headers?.['retry-after'], '1');
    const countLocal = async (stage: RateLimitStage): Promise<number> => {
      let n = 0;
      while (n < 1000 && (await runStage(stage, ctxFor('3.3.3.3'))) === undefined) n++;
      return n;
    };
    assert.equal(await countLocal(make('local', 4, policy(10, 60_000))), 2, 'floor(10 / 4)');
    assert.equal(await countLocal(make('local', 4, policy(10, 60_000, 8))), 4, 'floor(10 / 4) + floor(8 / 4)');
    assert.equal(await countLocal(make('local', 3, policy(2, 60_000))), 1, 'never below 1');
    assert.equal(await countLocal(make('local', 1, policy(7, 60_000, 0, 'sliding-window'))), 7);
    assert.ok(fallbacks.every((f) => /^(open|closed|local): store error: /.test(f)));
  });
});

after(async () => {
  await agent.close();
});
