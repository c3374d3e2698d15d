/**
 * HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530) end to end, through running
 * gateways: every supported algorithm accepted with the RFC 9421 §B.1 test keys; a mutation table
 * (each covered component changed, expired, created in the future, too old, unknown keyid, alg
 * mismatch, missing component, replayed nonce, body changed under a signed digest) where each
 * rejection is a problem+json 401, nothing reaches the upstream and the decision record has the
 * reason; a nonce replayed across two gateway instances sharing one real Redis; and outbound
 * signing, checked by a backend with this gateway's verifier and independently by rebuilding the
 * signature base by hand.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SignatureAlgorithm } from '../../src/auth/http-signatures/algorithms.ts';
import type { MessageView } from '../../src/auth/http-signatures/base.ts';
import { contentDigest } from '../../src/auth/http-signatures/digest.ts';
import { signMessage } from '../../src/auth/http-signatures/sign.ts';
import { parseItem } from '../../src/auth/http-signatures/structured.ts';
import { verifyMessageSignature } from '../../src/auth/http-signatures/verify.ts';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import * as rfc from '../fixtures/http-signatures/rfc9421.ts';

// ---------------------------------------------------------------------------------------------
// keys: the RFC 9421 §B.1 test keys (public halves in the gateway's JWKS), plus a P-384 key

const P384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const SECRET = Buffer.from(rfc.TEST_SHARED_SECRET, 'base64');

interface ClientKey {
  keyid: string;
  alg: SignatureAlgorithm;
  key: KeyObject;
}

const CLIENT_KEYS: ClientKey[] = [
  { keyid: 'test-key-ed25519', alg: 'ed25519', key: createPrivateKey(rfc.TEST_KEY_ED25519_PRIVATE) },
  { keyid: 'test-key-ecc-p256', alg: 'ecdsa-p256-sha256', key: createPrivateKey(rfc.TEST_KEY_ECC_P256_PRIVATE) },
  { keyid: 'partner-p384', alg: 'ecdsa-p384-sha384', key: P384.privateKey },
  { keyid: 'test-key-rsa-pss', alg: 'rsa-pss-sha512', key: createPrivateKey(rfc.TEST_KEY_RSA_PSS_PRIVATE) },
  { keyid: 'test-key-rsa', alg: 'rsa-v1_5-sha256', key: createPrivateKey(rfc.TEST_KEY_RSA_PRIVATE) },
  { keyid: 'test-shared-secret', alg: 'hmac-sha256', key: createSecretKey(SECRET) },
];
const ED = CLIENT_KEYS[0] as ClientKey;

function jwks(): string {
  const pub = (pem: string, extra: Record<string, unknown>) => ({ ...createPublicKey(pem).export({ format: 'jwk' }), ...extra });
  return JSON.stringify({
    keys: [
      pub(rfc.TEST_KEY_ED25519_PUBLIC, { kid: 'test-key-ed25519', partner: 'acme' }),
      pub(rfc.TEST_KEY_ECC_P256_PUBLIC, { kid: 'test-key-ecc-p256', partner: 'globex' }),
      { ...P384.publicKey.export({ format: 'jwk' }), kid: 'partner-p384', partner: 'initech' },
      pub(rfc.TEST_KEY_RSA_PSS_PUBLIC, { kid: 'test-key-rsa-pss', alg: 'PS512', partner: 'umbrella' }),
      pub(rfc.TEST_KEY_RSA_PUBLIC, { kid: 'test-key-rsa', alg: 'RS256', partner: 'hooli' }),
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// a client that signs as RFC 9421 says (the signer is KAT-tested against Appendix B)

interface Req {
  method: string;
  path: string;
  host: string;
  headers: Record<string, string>;
  body: string;
}

interface SignSpec {
  key?: ClientKey;
  keyid?: string;
  components?: string[];
  created?: number;
  expires?: number;
  nonce?: string;
  alg?: string;
  label?: string;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

function request(method: string, p: string, body = '', extra: Record<string, string> = {}): Req {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...extra };
  if (body !== '' || method === 'POST') headers['content-digest'] = contentDigest(Buffer.from(body), 'sha-512');
  return { method, path: p, host: 'partners.example.com', headers, body };
}

function viewOf(r: Req): MessageView {
  const q = r.path.indexOf('?');
  return {
    method: r.method,
    scheme: 'http',
    authority: r.host,
    path: q === -1 ? r.path : r.path.slice(0, q),
    query: q === -1 ? undefined : r.path.slice(q + 1),
    field: (name) => (r.headers[name] !== undefined ? [r.headers[name] as string] : undefined),
  };
}

function sign(r: Req, s: SignSpec = {}): Req {
  const k = s.key ?? ED;
  const components = (s.components ?? ['@method', '@authority', '@path', 'content-digest']).map((c) => parseItem(c.startsWith('"') ? c : `"${c}"`));
  const signed = signMessage(viewOf(r), {
    label: s.label ?? 'sig1',
    keyid: s.keyid ?? k.keyid,
    alg: k.alg,
    key: k.key,
    components,
    created: s.created ?? nowSec(),
    expires: s.expires,
    nonce: s.nonce,
  });
  // An alg parameter other than the key's: rewrite the Signature-Input (the signature then covers it).
  let input = signed.signatureInput;
  let signature = signed.signature;
  if (s.alg !== undefined) {
    const again = signMessage(viewOf(r), { label: s.label ?? 'sig1', keyid: s.keyid ?? k.keyid, alg: k.alg, key: k.key, components, created: s.created ?? nowSec(), includeAlg: true });
    input = again.signatureInput.replace(`alg="${k.alg}"`, `alg="${s.alg}"`);
    signature = again.signature;
  }
  return { ...r, headers: { ...r.headers, 'signature-input': input, signature } };
}

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(port: number, r: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(r.body);
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: r.method,
      path: r.path,
      headers: { host: r.host, ...r.headers, ...(body.length > 0 ? { 'content-length': String(body.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function config(upstreamUrl: string, store = ''): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
${store}
authenticators:
  partners:
    type: signature
    keys: keys.jwks.json
    secrets: { test-shared-secret: "\${SIG_SECRET}" }
    components: ["@method", "@authority", "@path", content-digest]
    maxAge: 5m
    clockTolerance: 5s
    consumer: partner
  partners-nonce:
    type: signature
    keys: keys.jwks.json
    components: ["@method", "@path"]
    nonce: required
  partners-labelled:
    type: signature
    keys: keys.jwks.json
    components: ["@method", "@path"]
    label: partner
upstreams:
  backend: { targets: ["${upstreamUrl}"], timeout: 5s }
routes:
  - name: signed
    match: { path: /signed/* }
    auth: [partners]
    upstream: backend
    transform:
      request:
        setHeaders: { x-consumer-id: "\${consumer.id}" }
  - name: nonce
    match: { path: /nonce/* }
    auth: [partners-nonce]
    upstream: backend
  - name: labelled
    match: { path: /labelled/* }
    auth: [partners-labelled]
    upstream: backend
`;
}

let dir: string;
const ENV = { SIG_SECRET: `base64:${rfc.TEST_SHARED_SECRET}` };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-sig-'));
  await writeFile(path.join(dir, 'keys.jwks.json'), jwks());
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function assertRejected(res: Res, upstream: TestUpstream, before: number, gw: TestGateway, reason: RegExp): void {
  assert.equal(res.status, 401, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const problem = JSON.parse(res.body) as { code: string; detail?: string };
  assert.equal(problem.code, 'PCL_AUTHN_INVALID_CREDENTIALS');
  // The client learns the category only, never which check failed.
  assert.doesNotMatch(res.body, reason);
  assert.equal(upstream.received.length, before, 'nothing reached the upstream');
  const entry = gw.log.at(-1);
  assert.equal(entry?.code, 'PCL_AUTHN_INVALID_CREDENTIALS');
  const detail = entry?.decisions.map((d) => d.detail ?? '').join(' | ') ?? '';
  assert.match(detail, reason);
}

describe('inbound HTTP message signatures', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(config(upstream.url), { env: ENV, baseDir: dir });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  for (const k of CLIENT_KEYS) {
    it(`accepts ${k.alg} (keyid ${k.keyid}) and names the consumer`, async () => {
      const body = JSON.stringify({ order: k.keyid });
      const res = await send(gw.httpPort, sign(request('POST', '/signed/orders', body), { key: k }));
      assert.equal(res.status, 200, res.body);
      const got = upstream.received.at(-1);
      assert.equal(got?.body.toString(), body);
      // consumer: partner (a JWK member); HMAC keys have none, so the keyid.
      const expected = { 'test-key-ed25519': 'acme', 'test-key-ecc-p256': 'globex', 'partner-p384': 'initech', 'test-key-rsa-pss': 'umbrella', 'test-key-rsa': 'hooli' }[k.keyid as 'test-key-rsa'] ?? k.keyid;
      assert.equal(got?.headers['x-consumer-id'], expected);
    });
  }

  it('without a signature: 401 missing credentials, nothing forwarded', async () => {
    const n = upstream.received.length;
    const res = await send(gw.httpPort, request('GET', '/signed/orders'));
    assert.equal(res.status, 401);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'PCL_AUTHN_MISSING_CREDENTIALS');
    assert.equal(upstream.received.length, n);
  });

  const base = (): Req => request('POST', '/signed/orders?x=1', '{"amount": 10}');
  const cases: { name: string; make: () => Req; reason: RegExp }[] = [
    { name: '@method changed', make: () => ({ ...sign(base()), method: 'PUT' }), reason: /does not verify/ },
    { name: '@authority changed', make: () => ({ ...sign(base()), host: 'evil.example.com' }), reason: /does not verify/ },
    { name: '@path changed', make: () => ({ ...sign(base()), path: '/signed/refunds?x=1' }), reason: /does not verify/ },
    {
      name: 'content-digest header changed (and the body with it)',
      make: () => {
        const r = sign(base());
        return { ...r, body: '{"amount": 99}', headers: { ...r.headers, 'content-digest': contentDigest(Buffer.from('{"amount": 99}'), 'sha-512') } };
      },
      reason: /does not verify/,
    },
    { name: 'body changed under a signed content-digest', make: () => ({ ...sign(base()), body: '{"amount": 1000}' }), reason: /Content-Digest sha-512 does not match the body/ },
    { name: 'expired', make: () => sign(base(), { created: nowSec() - 60, expires: nowSec() - 30 }), reason: /expired/ },
    { name: 'created in the future beyond the tolerance', make: () => sign(base(), { created: nowSec() + 60 }), reason: /in the future/ },
    { name: 'created older than maxAge', make: () => sign(base(), { created: nowSec() - 301 - 5 }), reason: /older than maxAge/ },
    { name: 'unknown keyid', make: () => sign(base(), { keyid: 'nobody' }), reason: /unknown keyid/ },
    { name: 'alg parameter other than the key\'s', make: () => sign(base(), { alg: 'hmac-sha256' }), reason: /alg "hmac-sha256" does not match key/ },
    { name: 'a required component not covered', make: () => sign(base(), { components: ['@method', '@authority', 'content-digest'] }), reason: /does not cover "@path"/ },
    {
      name: 'another key\'s valid signature under this keyid',
      make: () => sign(base(), { key: CLIENT_KEYS[1] as ClientKey, keyid: 'test-key-ed25519' }),
      reason: /does not verify/,
    },
    {
      name: 'Signature without Signature-Input',
      make: () => {
        const r = sign(base());
        const { 'signature-input': _drop, ...headers } = r.headers;
        return { ...r, headers };
      },
      reason: /must both be present/,
    },
    { name: 'malformed Signature-Input', make: () => ({ ...sign(base()), headers: { ...sign(base()).headers, 'signature-input': 'sig1=("@method"' } }), reason: /malformed/ },
  ];
  for (const c of cases) {
    it(`refuses: ${c.name}`, async () => {
      const n = upstream.received.length;
      assertRejected(await send(gw.httpPort, c.make()), upstream, n, gw, c.reason);
    });
  }

  it('a nonce is accepted once (nonce: required)', async () => {
    const signed = sign(request('GET', '/nonce/a'), { components: ['@method', '@path'], nonce: 'n-1' });
    assert.equal((await send(gw.httpPort, signed)).status, 200);
    const n = upstream.received.length;
    assertRejected(await send(gw.httpPort, signed), upstream, n, gw, /nonce of keyid test-key-ed25519 replayed/);
    const without = sign(request('GET', '/nonce/a'), { components: ['@method', '@path'] });
    assertRejected(await send(gw.httpPort, without), upstream, n, gw, /nonce is required/);
  });

  it('label: only the named signature counts', async () => {
    const wrongLabel = sign(request('GET', '/labelled/a'), { components: ['@method', '@path'], label: 'sig1' });
    const n = upstream.received.length;
    assertRejected(await send(gw.httpPort, wrongLabel), upstream, n, gw, /no signature labelled "partner"/);
    const right = sign(request('GET', '/labelled/a'), { components: ['@method', '@path'], label: 'partner' });
    assert.equal((await send(gw.httpPort, right)).status, 200);
  });

  it('without label: the first signature whose components satisfy the policy is verified', async () => {
    const r = request('POST', '/signed/x', '{}');
    const weak = sign(r, { components: ['@method'], label: 'a' });
    const strong = sign(r, { label: 'b' });
    const both = {
      ...r,
      headers: {
        ...r.headers,
        'signature-input': `${weak.headers['signature-input']}, ${strong.headers['signature-input']}`,
        signature: `${weak.headers.signature}, ${strong.headers.signature}`,
      },
    };
    assert.equal((await send(gw.httpPort, both)).status, 200);
  });
});

describe('a nonce replayed across two gateway instances sharing one Redis', () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    redis = await startRedis();
    upstream = await startUpstream();
    const store = `store:\n  type: redis\n  redis: { url: "${redis.url}" }`;
    a = await startGateway(config(upstream.url, store), { env: ENV, baseDir: dir });
    b = await startGateway(config(upstream.url, store), { env: ENV, baseDir: dir });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await redis?.stop();
  });

  it('the second instance refuses what the first accepted', async () => {
    const signed = sign(request('GET', '/nonce/pay'), { components: ['@method', '@path'], nonce: `n-${Date.now()}` });
    assert.equal((await send(a.httpPort, signed)).status, 200);
    const n = upstream.received.length;
    assertRejected(await send(b.httpPort, signed), upstream, n, b, /replayed/);
    // and a fresh nonce still passes on the second one
    const fresh = sign(request('GET', '/nonce/pay'), { components: ['@method', '@path'], nonce: `m-${Date.now()}` });
    assert.equal((await send(b.httpPort, fresh)).status, 200);
  });
});

describe('outbound signing (upstreams.<name>.sign)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const GATEWAY_KEY = generateKeyPairSync('ed25519');
  const verdicts: { ours: boolean; byHand: boolean; reason?: string }[] = [];

  before(async () => {
    await writeFile(path.join(dir, 'gateway-signing.pem'), GATEWAY_KEY.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    upstream = await startUpstream((req, res, body) => {
      // 1. with this gateway's verifier
      const view: MessageView = {
        method: req.method,
        scheme: 'http',
        authority: req.headers.host,
        path: (req.url ?? '').split('?')[0],
        query: (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : undefined,
        field: (name) => {
          const v = req.headers[name];
          return v === undefined ? undefined : [String(v)];
        },
      };
      const r = verifyMessageSignature(String(req.headers['signature-input']), String(req.headers.signature), view, {
        required: ['"@method"', '"@authority"', '"@path"', '"@query"', '"content-digest"'], label: 'gw', maxAgeSec: 60, toleranceSec: 5, nonce: 'optional',
      }, (kid) => (kid === 'portcullis-1' ? { alg: 'ed25519', key: GATEWAY_KEY.publicKey } : undefined), nowSec());
      // 2. independently: the signature base rebuilt by hand (RFC 9421 §2.5), the digest by hand (RFC 9530)
      const input = String(req.headers['signature-input']);
      const params = input.slice(input.indexOf('=') + 1);
      const handBase = [
        `"@method": ${req.method}`,
        `"@authority": ${req.headers.host}`,
        `"@path": ${(req.url ?? '').split('?')[0]}`,
        `"@query": ?${(req.url ?? '').split('?')[1] ?? ''}`,
        `"content-digest": sha-256=:${createHash('sha256').update(body).digest('base64')}:`,
        `"@signature-params": ${params}`,
      ].join('\n');
      const sigB64 = /^gw=:([A-Za-z0-9+/=]+):$/.exec(String(req.headers.signature))?.[1] ?? '';
      const byHand = req.headers['content-digest'] === `sha-256=:${createHash('sha256').update(body).digest('base64')}:`
        && cryptoVerify(null, Buffer.from(handBase), GATEWAY_KEY.publicKey, Buffer.from(sigB64, 'base64'));
      verdicts.push({ ours: r.ok, byHand, ...(r.ok ? {} : { reason: r.reason }) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    gw = await startGateway(`
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
upstreams:
  signed-backend:
    targets: ["${upstream.url}"]
    sign:
      key: gateway-signing.pem
      keyid: portcullis-1
      label: gw
      components: ["@method", "@authority", "@path", "@query", content-digest]
routes:
  - name: out
    match: { path: /out/* }
    auth: public
    upstream: signed-backend
`, { baseDir: dir });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('signs a POST with a body (content-digest computed over the buffered body) and a GET without', async () => {
    const post = await send(gw.httpPort, { method: 'POST', path: '/out/orders?id=7', host: 'api.example.com', headers: { 'content-type': 'application/json' }, body: '{"n": 1}' });
    assert.equal(post.status, 200, post.body);
    const get = await send(gw.httpPort, { method: 'GET', path: '/out/orders', host: 'api.example.com', headers: {}, body: '' });
    assert.equal(get.status, 200, get.body);
    assert.deepEqual(verdicts, [{ ours: true, byHand: true }, { ours: true, byHand: true }]);
    const sent = upstream.received[0];
    assert.match(String(sent?.headers['signature-input']), /^gw=\("@method" "@authority" "@path" "@query" "content-digest"\);created=\d+;keyid="portcullis-1";alg="ed25519"$/);
  });

  it('a client\'s own Signature and Content-Digest are replaced, never passed through', async () => {
    const before = verdicts.length;
    const res = await send(gw.httpPort, {
      method: 'POST', path: '/out/x', host: 'api.example.com',
      headers: { signature: 'gw=:AAAA:', 'signature-input': 'gw=();created=1;keyid="portcullis-1"', 'content-digest': 'sha-256=:AAAA:' },
      body: 'hello',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(verdicts.slice(before), [{ ours: true, byHand: true }]);
  });
});
