/**
 * Authentication and authorization end to end, through a running gateway: every authenticator type
 * (JWT by jwksUri, discovery, a local JWKS file, a PEM file and an HMAC secret from the environment;
 * RFC 7662 introspection; API keys in a header and in the query) on real routes (one authenticator,
 * any-of lists, public, shadow), with authorize rules and identity headers, over HTTP/1.1 and HTTP/2.
 * Attacks are sent as an attacker would send them (forged and confused tokens, key URLs in the
 * header, repeated credentials, spoofed identity headers, header injection through claims); every
 * rejection also asserts that nothing reached the upstream, that the client learns only the stable
 * code (never which check failed) and that the access log has the code and the reason. Identity
 * providers that fail (never reachable, down, hanging, rotating keys, floods of unknown kids) and a
 * config reload that revokes an API key are covered too.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { base64url, exportSPKI, importJWK, SignJWT, type JWTPayload } from 'jose';
import { request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import { buildGatewayFromText } from '../../src/config/gateway.ts';
import {
  makeCerts,
  rawJsonBody,
  rawRequest,
  startGateway,
  startUpstream,
  type CertFiles,
  type LoggedRequest,
  type TestGateway,
  type TestUpstream,
} from '../helpers/harness.ts';
import { makeKey, sign, startIdp, type SigningKey, type TestIdp } from '../helpers/idp.ts';

// ---------------------------------------------------------------------------------------------
// fixtures

const ISS = 'https://id.example.com/';
const AUD = 'orders-api';
const now = (): number => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}): JWTPayload => ({
  iss: ISS,
  aud: AUD,
  sub: 'alice',
  scope: 'orders:read orders:write',
  ...extra,
});

/** Hand-made compact JWS, for tokens no library would produce. */
function forge(header: object, payload: object, signature = ''): string {
  const enc = (o: object): string => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

/** Words that would tell an attacker which check failed: never in a 401 body. */
const LEAK_RE = /expired|signature|kid|\balg\b|issuer|audience|jwks|nbf|iat|crit|scope|role|group|claim|revoked|unknown|query|introspect|tenant/i;
/** Nor does a 403 body name the rule that was not met (the code says only scope or forbidden). */
const RULE_RE = /orders:|admin|auditor|partners|resellers|role|group|claim|tenant|email_verified/i;
const PROBLEM_KEYS = ['code', 'instance', 'requestId', 'status', 'title', 'type'];

const MISSING = 'PCL_AUTHN_MISSING_CREDENTIALS';
const INVALID = 'PCL_AUTHN_INVALID_CREDENTIALS';
const UNAVAILABLE = 'PCL_AUTHN_UNAVAILABLE';
const SCOPE = 'PCL_AUTHZ_INSUFFICIENT_SCOPE';
const FORBIDDEN = 'PCL_AUTHZ_FORBIDDEN';

const BEARER_MISSING = 'Bearer realm="portcullis"';
const BEARER_INVALID = 'Bearer realm="portcullis", error="invalid_token"';

interface Consumer {
  id: string;
  key: string;
  keyHash: string;
  scopes: string[];
  groups: string[];
}

interface Env {
  idp: TestIdp;
  intro: TestIdp;
  rot: TestIdp;
  flood: TestIdp;
  stale: TestIdp;
  deadPort: number;
  certs: CertFiles;
  dir: string;
  jwksFile: string;
  pemFile: string;
}

function config(env: Env, upstreamUrl: string, consumers: Consumer[]): string {
  const consumerLines = consumers
    .map((c) => `      - { id: ${c.id}, keyHash: "${c.keyHash}", scopes: [${c.scopes.join(', ')}], groups: [${c.groups.join(', ')}], metadata: { tier: gold } }`)
    .join('\n');
  const headers = `    transform:
      request:
        setHeaders:
          x-consumer-id: "\${consumer.id}"
          x-user-sub: "\${claims.sub}"`;
  return `
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates:
      - { cert: ${env.certs.files.gw?.cert}, key: ${env.certs.files.gw?.key} }
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  limits: { maxHeaderBytes: 32kb }
logging: { level: silent, accessLog: "off" }
authenticators:
  idp-jwt:
    type: jwt
    issuer: ${ISS}
    audience: ${AUD}
    jwksUri: ${env.idp.url}/jwks
    algorithms: [RS256]
    clockTolerance: 30s
    identity: { roles: realm_access.roles, groups: groups }
  discovery-jwt:
    type: jwt
    issuer: ${env.idp.issuer}
    audience: ${AUD}
    discovery: ${env.idp.url}/.well-known/openid-configuration
    algorithms: [ES256]
  file-jwks:
    type: jwt
    issuer: https://files.example.com/
    keys: ${env.jwksFile}
    algorithms: [EdDSA]
  file-pem:
    type: jwt
    issuer: https://pem.example.com/
    keys: ${env.pemFile}
    algorithms: [PS256]
  hs-jwt:
    type: jwt
    issuer: https://hs.example.com/
    secret: \${JWT_SECRET}
    algorithms: [HS256]
  opaque:
    type: introspection
    endpoint: ${env.intro.url}/introspect
    clientId: ${env.intro.client.id}
    clientSecret: \${INTROSPECTION_SECRET}
    timeout: 300ms
  opaque-lenient:
    type: introspection
    endpoint: ${env.intro.url}/introspect
    clientId: ${env.intro.client.id}
    clientSecret: \${INTROSPECTION_SECRET}
    timeout: 300ms
    onError: unauthorized
  keys:
    type: apiKey
    consumers:
${consumerLines}
  cookie-jwt:
    type: jwt
    issuer: ${ISS}
    audience: ${AUD}
    jwksUri: ${env.idp.url}/jwks
    algorithms: [RS256]
    token: { cookie: at }
  query-keys:
    type: apiKey
    in: query
    name: api_key
    consumers:
${consumerLines}
  dead-jwks:
    type: jwt
    jwksUri: http://127.0.0.1:${env.deadPort}/jwks
    algorithms: [RS256]
    jwks: { timeout: 300ms }
  rotating:
    type: jwt
    issuer: ${ISS}
    jwksUri: ${env.rot.url}/jwks
    algorithms: [RS256]
    jwks: { cooldown: 100ms }
  flood:
    type: jwt
    issuer: ${ISS}
    jwksUri: ${env.flood.url}/jwks
    algorithms: [RS256]
    jwks: { cooldown: 2s }
  stale:
    type: jwt
    issuer: ${ISS}
    jwksUri: ${env.stale.url}/jwks
    algorithms: [RS256]
    cache: false
    jwks: { maxAge: 200ms, cooldown: 100ms, timeout: 1500ms }
upstreams:
  backend: { targets: [${upstreamUrl}], timeout: 5s }
routes:
  - name: jwt
    match: { path: /jwt/* }
    auth: idp-jwt
    upstream: backend
${headers}
  - { name: discovery, match: { path: /discovery/* }, auth: discovery-jwt, upstream: backend }
  - { name: jwks-file, match: { path: /jwks-file/* }, auth: file-jwks, upstream: backend }
  - { name: pem-file, match: { path: /pem-file/* }, auth: file-pem, upstream: backend }
  - { name: hs, match: { path: /hs/* }, auth: hs-jwt, upstream: backend }
  - name: opaque
    match: { path: /opaque/* }
    auth: opaque
    upstream: backend
${headers}
  - { name: opaque-lenient, match: { path: /opaque-lenient/* }, auth: opaque-lenient, upstream: backend }
  - name: keys
    match: { path: /keys/* }
    auth: keys
    upstream: backend
${headers}
  - name: any
    match: { path: /any/* }
    auth: [idp-jwt, keys]
    upstream: backend
${headers}
  - { name: mixed, match: { path: /mixed/* }, auth: [idp-jwt, opaque], upstream: backend }
  - name: public
    match: { path: /public/* }
    auth: public
    upstream: backend
${headers}
  - name: scoped
    match: { path: /scoped/* }
    auth: [idp-jwt, keys]
    authorize: { scopes: [orders:read, orders:write] }
    upstream: backend
  - name: admin
    match: { path: /admin/* }
    auth: idp-jwt
    authorize: { roles: [admin, auditor] }
    upstream: backend
  - name: partners
    match: { path: /partners/* }
    auth: [idp-jwt, keys]
    authorize: { groups: [partners, resellers] }
    upstream: backend
  - name: tenant
    match: { path: /tenant/* }
    auth: idp-jwt
    authorize: { claims: { tenant: acme, email_verified: true } }
    upstream: backend
  - { name: cookie, match: { path: /cookie/* }, auth: cookie-jwt, upstream: backend }
  - { name: query-keys, match: { path: /qkeys/* }, auth: query-keys, upstream: backend }
  - { name: dead, match: { path: /dead/* }, auth: dead-jwks, upstream: backend }
  - { name: rotating, match: { path: /rotating/* }, auth: rotating, upstream: backend }
  - { name: flood, match: { path: /flood/* }, auth: flood, upstream: backend }
  - { name: stale, match: { path: /stale/* }, auth: stale, upstream: backend }
  - name: shadow
    match: { path: /shadow/* }
    auth: idp-jwt
    mode: shadow
    authorize: { scopes: [orders:admin] }
    upstream: backend
${headers}
`;
}

// ---------------------------------------------------------------------------------------------
// clients

interface Result {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Record<string, unknown> | undefined;
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

interface H2Result extends Result {
  ms: number;
}

function h2connect(port: number, ca: string): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost' });
  session.on('error', () => {});
  return session;
}

/** One HTTP/2 GET on `session`, bounded. */
function h2on(session: http2.ClientHttp2Session, reqPath: string, headers: Record<string, string> = {}): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const stream = session.request({ ':method': 'GET', ':path': reqPath, ...headers });
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`HTTP/2 ${reqPath}: no answer in 5s`));
    }, 5000);
    let status = 0;
    let resHeaders: Record<string, string | string[] | undefined> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h as Record<string, string | string[] | undefined>;
    });
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on('close', () => {
      clearTimeout(timer);
      if (status === 0) reject(new Error(`HTTP/2 ${reqPath}: stream closed without a response (RST ${stream.rstCode})`));
    });
    stream.on('end', () => {
      if (status === 0) return;
      clearTimeout(timer);
      resolve({ status, headers: resHeaders, text, body: parse(text), ms: Date.now() - t0 });
    });
  });
}

/** One HTTP/2 GET over a new TLS session, closed afterwards. */
async function h2get(port: number, ca: string, reqPath: string, headers: Record<string, string> = {}): Promise<H2Result> {
  const session = h2connect(port, ca);
  try {
    return await h2on(session, reqPath, headers);
  } finally {
    session.destroy();
  }
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** HPACK literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2). */
function hpackLiteral(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v]);
}

function h2frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/**
 * One HTTP/2 request with hand-encoded header fields (node:http2 refuses to send a field such as
 * authorization twice): returns the DATA of stream 1, bounded.
 */
async function h2raw(port: number, fields: [string, string][]): Promise<{ body: string; ended: boolean }> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
  await once(socket, 'secureConnect', { signal: AbortSignal.timeout(5000) });
  assert.equal(socket.alpnProtocol, 'h2');
  let buf = Buffer.alloc(0);
  let body = '';
  let ended = false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    socket.on('error', () => {});
    socket.once('close', () => resolve());
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3] as number;
        const flags = buf[4] as number;
        const sid = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 4 && (flags & 0x1) === 0) socket.write(h2frame(4, 0x1, 0, Buffer.alloc(0)));
        if (sid !== 1) continue;
        if (type === 0) body += payload.toString('utf8');
        if ((type === 0 || type === 1) && flags & 0x1) ended = true;
        if (type === 3) ended = true;
      }
      if (ended) {
        clearTimeout(timer);
        resolve();
      }
    });
    const block = Buffer.concat(fields.map(([n, v]) => hpackLiteral(n, v)));
    socket.write(Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
      h2frame(4, 0, 0, Buffer.alloc(0)),
      h2frame(1, 0x4 | 0x1, 1, block),
    ]));
  });
  socket.destroy();
  return { body, ended };
}

// ---------------------------------------------------------------------------------------------

describe('authentication and authorization through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let env: Env;
  let k1: SigningKey; // idp-jwt (RS256)
  let d1: SigningKey; // discovery-jwt (ES256), served by the same IdP
  let edKey: SigningKey; // local JWKS file
  let psKey: SigningKey; // local PEM file
  let r1: SigningKey; // rotating IdP
  let f1: SigningKey; // flood IdP
  let s1: SigningKey; // stale IdP
  let k1Pem: string;
  let deadServer: net.Server;
  let deadConnections = 0;
  const jwtSecret = randomBytes(32).toString('hex');
  let consumers: Consumer[];
  const consumer = (id: string): Consumer => consumers.find((c) => c.id === id) as Consumer;

  const base = (): string => `http://127.0.0.1:${gw.httpPort}`;

  async function call(p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Result> {
    const res = await request(`${base()}${p}`, { method, headers, headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, body: parse(text) };
  }

  /** The access-log record of a request id (written when the exchange ends: polled, bounded). */
  async function logOf(requestId: unknown): Promise<LoggedRequest> {
    assert.equal(typeof requestId, 'string', 'the response carries x-request-id');
    for (let i = 0; i < 100; i++) {
      const entry = gw.log.find((l) => l.requestId === requestId);
      if (entry) return entry;
      await sleep(20);
    }
    assert.fail(`no access-log record for ${String(requestId)}`);
  }

  /** Asserts a rejection as a client and as an operator sees it; returns the log record. */
  async function rejected(
    r: Result,
    status: number,
    code: string,
    options: { challenge?: string | null; reason?: RegExp; upstreamBefore: number },
  ): Promise<LoggedRequest> {
    assert.equal(r.status, status, r.text);
    assert.equal(r.headers['content-type'], 'application/problem+json');
    assert.equal(r.body?.code, code);
    assert.deepEqual(Object.keys(r.body ?? {}).sort(), PROBLEM_KEYS, 'no detail that could explain the failure');
    if (status === 401) assert.doesNotMatch(r.text, LEAK_RE);
    if (status === 403) assert.doesNotMatch(r.text, RULE_RE);
    if (options.challenge === null) assert.equal(r.headers['www-authenticate'], undefined);
    else if (options.challenge !== undefined) assert.equal(r.headers['www-authenticate'], options.challenge);
    assert.equal(upstream.received.length, options.upstreamBefore, 'nothing reached the upstream');
    const entry = await logOf(r.headers['x-request-id']);
    assert.equal(entry.status, status);
    assert.equal(entry.code, code);
    const deny = entry.decisions.find((d) => d.decision === 'deny');
    assert.equal(deny?.code, code);
    if (options.reason) assert.match(String(deny?.detail), options.reason, 'the log says why');
    return entry;
  }

  async function expectRejected(
    p: string,
    headers: Record<string, string>,
    status: number,
    code: string,
    options: { challenge?: string | null; reason?: RegExp } = {},
  ): Promise<LoggedRequest> {
    const upstreamBefore = upstream.received.length;
    return rejected(await call(p, headers), status, code, { ...options, upstreamBefore });
  }

  async function expectOk(p: string, headers: Record<string, string>): Promise<http.IncomingHttpHeaders> {
    const n = upstream.received.length;
    const r = await call(p, headers);
    assert.equal(r.status, 200, r.text);
    assert.equal(upstream.received.length, n + 1);
    return (upstream.received.at(-1) as { headers: http.IncomingHttpHeaders }).headers;
  }

  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

  before(async () => {
    [k1, d1, edKey, psKey, r1, f1, s1] = await Promise.all([
      makeKey('RS256', 'k1'),
      makeKey('ES256', 'd1'),
      makeKey('EdDSA', 'ed1'),
      makeKey('PS256', 'ps1'),
      makeKey('RS256', 'r1'),
      makeKey('RS256', 'f1'),
      makeKey('RS256', 's1'),
    ]);
    k1Pem = await exportSPKI((await importJWK(k1.jwk, 'RS256', { extractable: true })) as Parameters<typeof exportSPKI>[0]);
    const psPem = await exportSPKI((await importJWK(psKey.jwk, 'PS256', { extractable: true })) as Parameters<typeof exportSPKI>[0]);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-auth-'));
    const jwksFile = path.join(dir, 'jwks.json');
    const pemFile = path.join(dir, 'key.pem');
    await writeFile(jwksFile, JSON.stringify({ keys: [edKey.jwk] }));
    await writeFile(pemFile, psPem);
    // A "JWKS endpoint" that was never reachable: every connection is dropped at once.
    deadServer = net.createServer((s) => {
      deadConnections++;
      s.destroy();
    });
    deadServer.listen(0, '127.0.0.1');
    await once(deadServer, 'listening');
    const [idp, intro, rot, flood, stale, certs] = await Promise.all([
      startIdp([k1, d1]),
      startIdp([]),
      startIdp([r1]),
      startIdp([f1]),
      startIdp([s1]),
      makeCerts({ gw: ['localhost', '127.0.0.1'] }),
    ]);
    env = { idp, intro, rot, flood, stale, deadPort: (deadServer.address() as AddressInfo).port, certs, dir, jwksFile, pemFile };
    consumers = [
      { id: 'acme', scopes: ['orders:read', 'orders:write'], groups: ['partners'] },
      { id: 'globex', scopes: ['orders:read'], groups: [] },
      { id: 'revoked-co', scopes: ['orders:read'], groups: [] },
    ].map((c) => ({ ...c, ...newApiKey() }));
    upstream = await startUpstream();
    gw = await startGateway(config(env, upstream.url, consumers), {
      env: { JWT_SECRET: jwtSecret, INTROSPECTION_SECRET: intro.client.secret },
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    await Promise.all([env?.idp.close(), env?.intro.close(), env?.rot.close(), env?.flood.close(), env?.stale.close()]);
    deadServer?.close();
    await env?.certs.cleanup();
    if (env) await rm(env.dir, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------
  describe('every authenticator type accepts its valid credential', () => {
    it('jwt by jwksUri: 200, identity headers set from the token', async () => {
      const h = await expectOk('/jwt/orders', bearer(await sign(k1, claims())));
      assert.equal(h['x-consumer-id'], 'alice');
      assert.equal(h['x-user-sub'], 'alice');
      // The credential itself is forwarded as the client sent it (the backend may want it).
      assert.match(String(h.authorization), /^Bearer /);
      // client_id, when present, is the consumer.
      const h2 = await expectOk('/jwt/orders', bearer(await sign(k1, claims({ client_id: 'web-app' }))));
      assert.equal(h2['x-consumer-id'], 'web-app');
      assert.equal(h2['x-user-sub'], 'alice');
    });

    it('jwt by OIDC discovery (issuer checked against the discovery document)', async () => {
      await expectOk('/discovery/x', bearer(await sign(d1, claims({ iss: env.idp.issuer }))));
      assert.ok((env.idp.hits.get('/.well-known/openid-configuration') ?? 0) >= 1);
      await expectRejected('/discovery/x', bearer(await sign(d1, claims())), 401, INVALID, { challenge: BEARER_INVALID, reason: /claim iss/ });
    });

    it('jwt with a local JWKS file (EdDSA) and a local PEM file (PS256)', async () => {
      await expectOk('/jwks-file/x', bearer(await sign(edKey, claims({ iss: 'https://files.example.com/' }))));
      await expectOk('/pem-file/x', bearer(await sign(psKey, claims({ iss: 'https://pem.example.com/' }))));
      // A file-keyed authenticator takes only its own key.
      await expectRejected('/pem-file/x', bearer(await sign(await makeKey('PS256', 'ps1'), claims({ iss: 'https://pem.example.com/' }))), 401, INVALID, {
        reason: /signature verification failed/,
      });
      await expectRejected('/jwks-file/x', bearer(await sign(await makeKey('EdDSA', 'ed2'), claims({ iss: 'https://files.example.com/' }))), 401, INVALID, {
        reason: /no key for kid/,
      });
    });

    it('jwt HS256 with the secret from the environment', async () => {
      const secret = new TextEncoder().encode(jwtSecret);
      const good = await new SignJWT({ iss: 'https://hs.example.com/', sub: 'svc' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(secret);
      await expectOk('/hs/x', bearer(good));
      const wrong = await new SignJWT({ iss: 'https://hs.example.com/', sub: 'svc' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(randomBytes(32).toString('hex')));
      await expectRejected('/hs/x', bearer(wrong), 401, INVALID, { reason: /signature verification failed/ });
      // An RS256 token is refused by the HMAC authenticator (never verified with the secret).
      await expectRejected('/hs/x', bearer(await sign(k1, claims({ iss: 'https://hs.example.com/' }))), 401, INVALID, { reason: /alg "RS256" is not allowed/ });
    });

    it('introspection: the gateway authenticates with the secret from the environment; identity from the response', async () => {
      env.intro.introspection['opaque-good'] = { active: true, sub: 'bob', client_id: 'partner-app', scope: 'orders:read', exp: now() + 300 };
      const h = await expectOk('/opaque/x', bearer('opaque-good'));
      assert.equal(h['x-consumer-id'], 'partner-app');
      assert.equal(h['x-user-sub'], 'bob');
      const expected = 'Basic ' + Buffer.from(`${env.intro.client.id}:${env.intro.client.secret}`).toString('base64');
      assert.equal(env.intro.lastIntrospection?.authorization, expected);
      await expectRejected('/opaque/x', bearer('opaque-inactive'), 401, INVALID, { challenge: BEARER_INVALID, reason: /not active/ });
      env.intro.introspection['opaque-expired'] = { active: true, sub: 'bob', exp: now() - 10 };
      await expectRejected('/opaque/x', bearer('opaque-expired'), 401, INVALID, { reason: /exp has passed/ });
    });

    it('apiKey: the consumer from the key; a template whose claim is absent sets no header', async () => {
      const acme = consumer('acme');
      const h = await expectOk('/keys/x', { 'x-api-key': acme.key, 'x-user-sub': 'spoofed' });
      assert.equal(h['x-consumer-id'], 'acme');
      assert.equal(h['x-user-sub'], undefined, 'no sub claim: header neither forwarded nor set');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('missing credentials', () => {
    it('no credential: 401 with a Bearer challenge without an error code (RFC 6750 §3)', async () => {
      const entry = await expectRejected('/jwt/x', {}, 401, MISSING, { challenge: BEARER_MISSING });
      assert.equal(entry.route, 'jwt');
      await expectRejected('/keys/x', {}, 401, MISSING, { challenge: 'ApiKey realm="portcullis"' });
      await expectRejected('/any/x', {}, 401, MISSING, { challenge: 'Bearer realm="portcullis", ApiKey realm="portcullis"' });
    });

    it('a token in the query string is not a credential: 401 missing credentials', async () => {
      const token = await sign(k1, claims());
      await expectRejected(`/jwt/x?access_token=${token}`, {}, 401, MISSING, { challenge: BEARER_MISSING });
      // Another scheme in Authorization is not a bearer token either.
      await expectRejected('/jwt/x', { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` }, 401, MISSING, { challenge: BEARER_MISSING });
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('JWT attacks: 401 invalid_token, nothing forwarded, the reason only in the log', () => {
    const cases: { name: string; reason: RegExp; token: () => Promise<string> | string }[] = [
      ...['none', 'None', 'NONE', 'nOnE'].map((alg) => ({
        name: `alg: ${alg}`,
        reason: /alg ".*" is not allowed/i,
        token: () => forge({ alg, typ: 'JWT', kid: 'k1' }, claims({ exp: now() + 60 })),
      })),
      {
        name: 'HS256 signed with the RS256 public key (key confusion)',
        reason: /alg "HS256" is not allowed/,
        token: () => {
          const unsigned = forge({ alg: 'HS256', typ: 'JWT', kid: 'k1' }, claims({ exp: now() + 60 })).slice(0, -1);
          return `${unsigned}.${createHmac('sha256', k1Pem).update(unsigned).digest('base64url')}`;
        },
      },
      { name: 'an algorithm not in the list (ES256)', reason: /alg "ES256" is not allowed/, token: () => sign(d1, claims()) },
      { name: 'a valid signature by an unknown key (same kid)', reason: /signature verification failed/, token: async () => sign(await makeKey('RS256', 'k1'), claims()) },
      { name: 'a valid signature by an unknown key (unknown kid)', reason: /no key for kid/, token: async () => sign(await makeKey('RS256', 'nobody'), claims()) },
      { name: 'expired beyond the 30s tolerance', reason: /token expired/, token: () => sign(k1, claims({ exp: now() - 120 })) },
      { name: 'not yet valid (nbf)', reason: /not yet valid/, token: () => sign(k1, claims({ nbf: now() + 600 })) },
      { name: 'issued in the future (iat)', reason: /iat is in the future/, token: () => sign(k1, claims({ iat: now() + 600 })) },
      { name: 'no exp', reason: /claim exp/, token: () => sign(k1, claims(), { noExp: true }) },
      { name: 'wrong iss', reason: /claim iss/, token: () => sign(k1, claims({ iss: 'https://evil.example.com/' })) },
      { name: 'wrong aud', reason: /claim aud/, token: () => sign(k1, claims({ aud: 'billing-api' })) },
      {
        name: 'unknown crit',
        reason: /not recognized/,
        token: () => sign(k1, claims(), { header: { crit: ['x-must'], 'x-must': 1 }, crit: { 'x-must': true } }),
      },
      { name: 'a 10 KB kid', reason: /token of \d+ bytes/, token: () => sign(k1, claims(), { header: { kid: 'k'.repeat(10 * 1024) } }) },
      { name: 'a 300-character kid', reason: /malformed kid/, token: () => sign(k1, claims(), { header: { kid: 'k'.repeat(300) } }) },
      { name: 'a kid with control characters', reason: /malformed kid/, token: () => sign(k1, claims(), { header: { kid: 'k1\u0000' } }) },
      { name: 'a path-traversal kid', reason: /no key for kid/, token: () => sign(k1, claims(), { header: { kid: '../../../../etc/passwd' } }) },
      {
        name: 'a tampered payload',
        reason: /signature verification failed/,
        token: async () => {
          const [h, , s] = (await sign(k1, claims())).split('.');
          return `${h}.${base64url.encode(JSON.stringify(claims({ sub: 'admin', exp: now() + 60 })))}.${s}`;
        },
      },
      {
        name: 'an attacker key embedded as jwk (kid of a real key)',
        reason: /signature verification failed/,
        token: async () => {
          const evil = await makeKey('RS256', 'k1');
          return sign(evil, claims(), { header: { jwk: evil.jwk } });
        },
      },
      { name: 'not a JWT at all', reason: /not a JWS/, token: () => 'opaque-token-abc' },
    ];
    for (const c of cases) {
      it(`rejects ${c.name}`, async () => {
        await expectRejected('/jwt/x', { ...bearer(await c.token()), 'x-consumer-id': 'admin' }, 401, INVALID, {
          challenge: BEARER_INVALID,
          reason: c.reason,
        });
      });
    }

    it('accepts a token expired within the clock tolerance (control)', async () => {
      await expectOk('/jwt/x', bearer(await sign(k1, claims({ exp: now() - 5 }))));
    });

    it('never follows jku or x5u: the attacker listener sees zero connections', async () => {
      const attacker = await makeKey('RS256', 'evil');
      let connections = 0;
      const server = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [attacker.jwk] })));
      server.on('connection', () => connections++);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
      try {
        for (const header of [{ jku: url }, { x5u: url }, { jku: url, kid: 'k1' }, { x5u: url, kid: 'k1' }]) {
          await expectRejected('/jwt/x', bearer(await sign(attacker, claims(), { header })), 401, INVALID, { challenge: BEARER_INVALID });
        }
        await sleep(100);
        assert.equal(connections, 0);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });

    it('401 bodies are identical whatever the check that failed (only the request id differs)', async () => {
      const tokens = [
        await sign(k1, claims({ exp: now() - 120 })),
        await sign(k1, claims({ aud: 'x' })),
        forge({ alg: 'none' }, claims()),
        await sign(await makeKey('RS256', 'zz'), claims()),
      ];
      const bodies = new Set<string>();
      for (const t of tokens) {
        const r = await call('/jwt/x', bearer(t));
        assert.equal(r.status, 401);
        bodies.add(r.text.replaceAll(String(r.body?.requestId), 'ID'));
      }
      assert.equal(bodies.size, 1, [...bodies].join('\n'));
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('API-key attacks', () => {
    it('a key differing in one character: 401', async () => {
      const key = consumer('acme').key;
      const last = key.at(-1) === 'A' ? 'B' : 'A';
      await expectRejected('/keys/x', { 'x-api-key': key.slice(0, -1) + last }, 401, INVALID, {
        challenge: 'ApiKey realm="portcullis"',
        reason: /unknown API key/,
      });
      await expectRejected('/keys/x', { 'x-api-key': key + 'x' }, 401, INVALID, { reason: /unknown API key/ });
    });

    it('a valid key in the query string when the authenticator reads a header: 401', async () => {
      const key = consumer('acme').key;
      await expectRejected(`/keys/x?x-api-key=${key}`, {}, 401, INVALID, { reason: /query string/ });
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('routes with a list of authenticators (any of them, in order)', () => {
    it('accepts a JWT or an API key; the first authenticator that accepts sets the identity', async () => {
      assert.equal((await expectOk('/any/x', bearer(await sign(k1, claims()))))['x-consumer-id'], 'alice');
      assert.equal((await expectOk('/any/x', { 'x-api-key': consumer('acme').key }))['x-consumer-id'], 'acme');
      // An invalid bearer token does not stop the next authenticator: a valid key still authenticates.
      const h = await expectOk('/any/x', { ...bearer(forge({ alg: 'none' }, claims())), 'x-api-key': consumer('globex').key });
      assert.equal(h['x-consumer-id'], 'globex');
    });

    it('every credential invalid: 401 with both challenges; the log lists each authenticator’s reason', async () => {
      const entry = await expectRejected('/any/x', { ...bearer(forge({ alg: 'none' }, claims())), 'x-api-key': 'pcl_nope' }, 401, INVALID, {
        challenge: 'Bearer realm="portcullis", error="invalid_token", ApiKey realm="portcullis"',
      });
      const detail = String(entry.decisions.find((d) => d.stage === 'authenticate')?.detail);
      assert.match(detail, /idp-jwt: alg/);
      assert.match(detail, /keys: unknown API key/);
    });

    it('JWT first, then introspection for opaque tokens', async () => {
      env.intro.introspection['opaque-mixed'] = { active: true, sub: 'carol', exp: now() + 300 };
      await expectOk('/mixed/x', bearer('opaque-mixed'));
      await expectOk('/mixed/x', bearer(await sign(k1, claims())));
      await expectRejected('/mixed/x', bearer('opaque-unknown'), 401, INVALID, { reason: /idp-jwt: not a JWS.*opaque: token is not active/ });
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('authorize', () => {
    it('scopes (all required): 403 insufficient_scope with the RFC 6750 challenge', async () => {
      await expectOk('/scoped/x', bearer(await sign(k1, claims())));
      await expectRejected('/scoped/x', bearer(await sign(k1, claims({ scope: 'orders:read' }))), 403, SCOPE, {
        challenge: 'Bearer realm="portcullis", error="insufficient_scope", scope="orders:read orders:write"',
        reason: /missing scope orders:write/,
      });
      await expectRejected('/scoped/x', bearer(await sign(k1, claims({ scope: undefined, scp: ['orders:write'] }))), 403, SCOPE, {});
      // API-key consumers carry their scopes from the config.
      await expectOk('/scoped/x', { 'x-api-key': consumer('acme').key });
      await expectRejected('/scoped/x', { 'x-api-key': consumer('globex').key }, 403, SCOPE, { challenge: null, reason: /globex|keys: missing scope/ });
    });

    it('roles (any one): 403 forbidden otherwise', async () => {
      await expectOk('/admin/x', bearer(await sign(k1, claims({ realm_access: { roles: ['viewer', 'auditor'] } }))));
      await expectRejected('/admin/x', bearer(await sign(k1, claims({ realm_access: { roles: ['viewer'] } }))), 403, FORBIDDEN, { reason: /none of the roles/ });
      await expectRejected('/admin/x', bearer(await sign(k1, claims({ roles: ['admin'] }))), 403, FORBIDDEN, {});
    });

    it('groups (any one): 403 forbidden otherwise', async () => {
      await expectOk('/partners/x', bearer(await sign(k1, claims({ groups: ['resellers'] }))));
      await expectOk('/partners/x', { 'x-api-key': consumer('acme').key });
      await expectRejected('/partners/x', { 'x-api-key': consumer('globex').key }, 403, FORBIDDEN, { reason: /none of the groups/ });
      await expectRejected('/partners/x', bearer(await sign(k1, claims({ groups: 'partnersX' }))), 403, FORBIDDEN, {});
    });

    it('claims (equality, types not coerced): 403 forbidden otherwise', async () => {
      await expectOk('/tenant/x', bearer(await sign(k1, claims({ tenant: 'acme', email_verified: true }))));
      await expectRejected('/tenant/x', bearer(await sign(k1, claims({ tenant: 'globex', email_verified: true }))), 403, FORBIDDEN, { reason: /claim tenant/ });
      await expectRejected('/tenant/x', bearer(await sign(k1, claims({ tenant: 'acme', email_verified: 'true' }))), 403, FORBIDDEN, { reason: /claim email_verified/ });
      await expectRejected('/tenant/x', bearer(await sign(k1, claims({ tenant: 'acme' }))), 403, FORBIDDEN, {});
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('identity headers to the backend', () => {
    it('client-supplied x-consumer-id / x-user-sub are stripped and replaced (exactly one value)', async () => {
      const n = upstream.received.length;
      const r = await call('/jwt/x', { ...bearer(await sign(k1, claims())), 'x-consumer-id': 'admin', 'X-User-Sub': 'root' });
      assert.equal(r.status, 200);
      const seen = upstream.received[n];
      assert.equal(seen?.headers['x-consumer-id'], 'alice');
      assert.equal(seen?.headers['x-user-sub'], 'alice');
      const names = (seen?.rawHeaders ?? []).filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase());
      assert.equal(names.filter((h) => h === 'x-consumer-id').length, 1);
      assert.equal(names.filter((h) => h === 'x-user-sub').length, 1);
    });

    it('on a public route the identity headers are stripped and not set', async () => {
      const h = await expectOk('/public/x', { 'x-consumer-id': 'admin', 'x-user-sub': 'root' });
      assert.equal(h['x-consumer-id'], undefined);
      assert.equal(h['x-user-sub'], undefined);
      // A valid token on a public route does not authenticate anything either.
      const h2 = await expectOk('/public/x', bearer(await sign(k1, claims())));
      assert.equal(h2['x-consumer-id'], undefined);
    });

    it('a claim value containing CR/LF is not forwarded (the header is omitted)', async () => {
      const h = await expectOk('/jwt/x', { ...bearer(await sign(k1, claims({ sub: 'alice\r\nx-injected: 1', client_id: 'web\napp' }))), 'x-consumer-id': 'admin' });
      assert.equal(h['x-user-sub'], undefined);
      assert.equal(h['x-consumer-id'], undefined);
      assert.equal(h['x-injected'], undefined);
      // Nor is a value a header cannot carry (outside ISO-8859-1); Latin-1 text is passed as is.
      const h2 = await expectOk('/jwt/x', bearer(await sign(k1, claims({ sub: 'Łukasz', client_id: 'web-app' }))));
      assert.equal(h2['x-user-sub'], undefined);
      assert.equal(h2['x-consumer-id'], 'web-app');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('authentication runs before the body is read', () => {
    it('a POST announcing 1 000 000 bytes, head only: 401 at once, connection closed, nothing forwarded', async () => {
      const n = upstream.received.length;
      const t0 = Date.now();
      const r = await rawRequest(
        gw.httpPort,
        'POST /jwt/upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n',
        { waitMs: 3000 },
      );
      const ms = Date.now() - t0;
      assert.equal(r.status, 401, r.text);
      assert.equal(rawJsonBody(r.text)?.code, MISSING);
      assert.match(r.text, /\r\nwww-authenticate: Bearer realm="portcullis"\r\n/i);
      assert.match(r.text, /\r\nconnection: close\r\n/i);
      assert.equal(r.closed, true);
      assert.ok(ms < 1500, `answered in ${ms} ms`);
      assert.equal(upstream.received.length, n);
    });

    it('with Expect: 100-continue the client is never invited to send the body', async () => {
      const n = upstream.received.length;
      const r = await rawRequest(
        gw.httpPort,
        `POST /jwt/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${forge({ alg: 'none' }, claims())}\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n`,
        { waitMs: 3000 },
      );
      assert.equal(r.status, 401, r.text);
      assert.doesNotMatch(r.text, /100 Continue/);
      assert.equal(rawJsonBody(r.text)?.code, INVALID);
      assert.equal(upstream.received.length, n);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('shadow mode', () => {
    it('an unauthenticated request reaches the upstream; the log records the would-be rejection', async () => {
      const n = upstream.received.length;
      const r = await call('/shadow/x', { 'x-consumer-id': 'admin' });
      assert.equal(r.status, 200, r.text);
      assert.equal(upstream.received.length, n + 1);
      assert.equal(upstream.received[n]?.headers['x-consumer-id'], undefined, 'no identity: the spoofed header is still stripped');
      const entry = await logOf(r.headers['x-request-id']);
      assert.equal(entry.status, 200);
      assert.equal(entry.code, undefined);
      const authn = entry.decisions.find((d) => d.stage === 'authenticate');
      assert.equal(authn?.decision, 'shadow-deny');
      assert.equal(authn?.code, MISSING);
      assert.equal(entry.decisions.find((d) => d.stage === 'authorize')?.decision, 'shadow-deny');
    });

    it('an invalid token and a missing scope are recorded too', async () => {
      const r1 = await call('/shadow/x', bearer(await sign(k1, claims({ exp: now() - 3600 }))));
      assert.equal(r1.status, 200);
      const e1 = await logOf(r1.headers['x-request-id']);
      assert.equal(e1.decisions.find((d) => d.stage === 'authenticate')?.code, INVALID);
      assert.match(String(e1.decisions.find((d) => d.stage === 'authenticate')?.detail), /token expired/);

      const n = upstream.received.length;
      const r2 = await call('/shadow/x', bearer(await sign(k1, claims())));
      assert.equal(r2.status, 200);
      assert.equal(upstream.received[n]?.headers['x-consumer-id'], 'alice');
      const e2 = await logOf(r2.headers['x-request-id']);
      assert.equal(e2.decisions.find((d) => d.stage === 'authenticate')?.decision, 'allow');
      const authz = e2.decisions.find((d) => d.stage === 'authorize');
      assert.equal(authz?.decision, 'shadow-deny');
      assert.equal(authz?.code, SCOPE);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('key sets and introspection endpoints that fail', () => {
    it('a JWKS endpoint that was never reachable: 503, bounded, nothing forwarded', async () => {
      for (let i = 0; i < 2; i++) {
        const n = upstream.received.length;
        const t0 = Date.now();
        const r = await call('/dead/x', bearer(await sign(k1, claims())));
        assert.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms`);
        await rejected(r, 503, UNAVAILABLE, { upstreamBefore: n, reason: /no JWKS could be fetched/ });
        assert.equal(r.headers['retry-after'], '5');
      }
      assert.ok(deadConnections >= 1, 'the gateway did try');
      // Without a credential there is nothing to check: 401, not 503.
      await expectRejected('/dead/x', {}, 401, MISSING);
    });

    it('JWKS rotation without a restart: a token with the new kid works after the cooldown', async () => {
      await expectOk('/rotating/x', bearer(await sign(r1, claims())));
      const fetchesBefore = env.rot.hits.get('/jwks') ?? 0;
      const r2 = await makeKey('RS256', 'r2');
      env.rot.setKeys([r1, r2]);
      await sleep(150);
      await expectOk('/rotating/x', bearer(await sign(r2, claims())));
      assert.equal(env.rot.hits.get('/jwks'), fetchesBefore + 1);
      // The old key keeps working while it is still published.
      await expectOk('/rotating/x', bearer(await sign(r1, claims())));
    });

    it('JWKS endpoint down: the cached keys keep working; an unknown kid is 401, not 503', async () => {
      const r2 = env.rot.keys.find((k) => k.kid === 'r2') as SigningKey;
      env.rot.mode = 'down';
      try {
        await sleep(150);
        await expectRejected('/rotating/x', bearer(await sign(await makeKey('RS256', 'r3'), claims())), 401, INVALID, { reason: /no key for kid/ });
        await expectOk('/rotating/x', bearer(await sign(r2, claims())));
        await expectOk('/rotating/x', bearer(await sign(r1, claims())));
      } finally {
        env.rot.mode = 'up';
      }
    });

    it('JWKS endpoint hanging past maxAge: cached keys answer at once, the refetch runs in the background', async () => {
      await expectOk('/stale/x', bearer(await sign(s1, claims())));
      const fetches = env.stale.hits.get('/jwks') ?? 0;
      env.stale.mode = 'hang';
      try {
        await sleep(250); // past maxAge (200ms) and the cooldown (100ms)
        for (let i = 0; i < 3; i++) {
          const t0 = Date.now();
          await expectOk('/stale/x', bearer(await sign(s1, claims({ jti: randomUUID() }))));
          const ms = Date.now() - t0;
          assert.ok(ms < 1000, `request ${i} waited ${ms} ms for a key set it already had (fetch timeout 1500ms)`);
        }
        assert.ok((env.stale.hits.get('/jwks') ?? 0) > fetches, 'a refetch was attempted');
        // An unknown kid does wait for a refetch, bounded by jwks.timeout: then 401.
        await sleep(150);
        const t0 = Date.now();
        await expectRejected('/stale/x', bearer(await sign(await makeKey('RS256', 's2'), claims())), 401, INVALID, { reason: /no key for kid/ });
        assert.ok(Date.now() - t0 < 2500, `unknown kid answered in ${Date.now() - t0} ms`);
      } finally {
        env.stale.mode = 'up';
      }
    });

    it('a flood of 200 tokens with random kids costs at most one JWKS fetch', async () => {
      await expectOk('/flood/x', bearer(await sign(f1, claims())));
      const attacker = await makeKey('RS256', 'x');
      const tokens = await Promise.all(Array.from({ length: 200 }, () => {
        const kid = randomUUID();
        return sign({ ...attacker, kid }, claims(), { header: { kid } });
      }));
      await sleep(2100); // past the 2s cooldown: an unknown kid may trigger one refetch
      const before = env.flood.hits.get('/jwks') ?? 0;
      const n = upstream.received.length;
      const results = await Promise.all(tokens.map((t) => call('/flood/x', bearer(t))));
      assert.ok(results.every((r) => r.status === 401 && r.body?.code === INVALID));
      assert.equal(upstream.received.length, n);
      const fetched = (env.flood.hits.get('/jwks') ?? 0) - before;
      assert.ok(fetched <= 1, `${fetched} JWKS fetches`);
    });

    it('introspection down, hanging or answering garbage: 503 in bounded time; a cached token keeps working', async () => {
      env.intro.introspection['opaque-cached'] = { active: true, sub: 'dave', exp: now() + 300 };
      await expectOk('/opaque/x', bearer('opaque-cached'));
      for (const mode of ['down', 'hang', 'garbage'] as const) {
        env.intro.mode = mode;
        try {
          env.intro.introspection[`opaque-${mode}`] = { active: true, sub: 'erin', exp: now() + 300 };
          const n = upstream.received.length;
          const t0 = Date.now();
          const r = await call('/opaque/x', bearer(`opaque-${mode}`));
          const ms = Date.now() - t0;
          assert.ok(ms < 2000, `${mode}: answered in ${ms} ms`);
          await rejected(r, 503, UNAVAILABLE, { upstreamBefore: n, challenge: null });
          // The verified-token cache does not depend on the endpoint.
          await expectOk('/opaque/x', bearer('opaque-cached'));
          // onError: unauthorized turns the outage into 401.
          await expectRejected('/opaque-lenient/x', bearer(`opaque-${mode}`), 401, INVALID, { challenge: BEARER_INVALID });
        } finally {
          env.intro.mode = 'up';
        }
      }
      // Outages were not cached: the endpoint is back, the token works.
      await expectOk('/opaque/x', bearer('opaque-down'));
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('a credential given twice is refused (the backend could read the unverified one)', () => {
    /** A raw HTTP/1.1 request expected to be refused with `code`; returns the log record. */
    async function rawRejected(payload: string, code: string, reason: RegExp): Promise<LoggedRequest> {
      const n = upstream.received.length;
      const r = await rawRequest(gw.httpPort, payload, { waitMs: 3000 });
      assert.equal(r.status, 401, r.text);
      assert.equal(rawJsonBody(r.text)?.code, code);
      assert.doesNotMatch(r.text.slice(r.text.indexOf('\r\n\r\n')), LEAK_RE);
      assert.equal(upstream.received.length, n, 'nothing reached the upstream');
      const id = /\r\nx-request-id: ([^\r]+)\r\n/i.exec(r.text)?.[1];
      const entry = await logOf(id);
      assert.equal(entry.code, code);
      assert.match(String(entry.decisions.find((d) => d.stage === 'authenticate')?.detail), reason);
      return entry;
    }
    const head = (p: string, fields: string[]): string => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n${fields.map((f) => `${f}\r\n`).join('')}Connection: close\r\n\r\n`;

    it('two Authorization fields (a valid token and a forged one, in either order): 401', async () => {
      const good = await sign(k1, claims());
      const forged = forge({ alg: 'none' }, claims({ sub: 'admin', scope: 'orders:admin' }));
      await rawRejected(head('/jwt/x', [`Authorization: Bearer ${good}`, `Authorization: Bearer ${forged}`]), INVALID, /more than one authorization header/);
      await rawRejected(head('/jwt/x', [`Authorization: Bearer ${forged}`, `authorization: Bearer ${good}`]), INVALID, /more than one authorization header/);
      // The same valid token twice is still ambiguous framing of a credential: refused.
      await rawRejected(head('/jwt/x', [`Authorization: Bearer ${good}`, `Authorization: Bearer ${good}`]), INVALID, /more than one authorization header/);
      // Control: one field.
      const r = await rawRequest(gw.httpPort, head('/jwt/x', [`Authorization: Bearer ${good}`]), { waitMs: 3000 });
      assert.equal(r.status, 200);
    });

    it('two X-Api-Key fields, also on an any-of route where a valid JWT comes first: 401', async () => {
      const key = consumer('acme').key;
      await rawRejected(head('/keys/x', [`X-Api-Key: ${key}`, `X-Api-Key: ${key}`]), INVALID, /more than one x-api-key header/);
      await rawRejected(head('/any/x', [`Authorization: Bearer ${await sign(k1, claims())}`, `X-Api-Key: ${key}`, `X-Api-Key: pcl_other`]), INVALID, /more than one x-api-key header/);
    });

    it('a token cookie given twice (one Cookie field or two): 401', async () => {
      const good = await sign(k1, claims());
      const forged = forge({ alg: 'none' }, claims({ sub: 'admin' }));
      const h = await expectOk('/cookie/x', { cookie: `theme=dark; at=${good}` });
      assert.match(String(h.cookie), /at=/, 'the cookie is forwarded as sent');
      await rawRejected(head('/cookie/x', [`Cookie: at=${good}; at=${forged}`]), INVALID, /more than one at cookie/);
      await rawRejected(head('/cookie/x', [`Cookie: at=${good}`, `Cookie: at=${forged}`]), INVALID, /more than one at cookie/);
      await expectRejected('/cookie/x', { cookie: `at=${forged}` }, 401, INVALID, { challenge: BEARER_INVALID, reason: /is not allowed/ });
    });

    it('an API key query parameter given twice (also percent-encoded): 401', async () => {
      const key = consumer('acme').key;
      await expectOk(`/qkeys/x?api_key=${key}`, {});
      await expectRejected(`/qkeys/x?api_key=${key}&api_key=pcl_forged`, {}, 401, INVALID, { reason: /more than one api_key query parameter/ });
      await expectRejected(`/qkeys/x?api_key=${key}&api%5Fkey=pcl_forged`, {}, 401, INVALID, { reason: /more than one api_key query parameter/ });
    });

    it('over HTTP/2 as well (hand-encoded HEADERS with two authorization fields)', async () => {
      const good = await sign(k1, claims());
      const forged = forge({ alg: 'none' }, claims({ sub: 'admin' }));
      const base = [[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/jwt/h2raw']] as [string, string][];
      const n = upstream.received.length;
      const ok = await h2raw(gw.httpsPort, [...base, ['authorization', `Bearer ${good}`]]);
      assert.equal(ok.ended, true);
      assert.equal(upstream.received.length, n + 1, 'control: one field is accepted');
      const r = await h2raw(gw.httpsPort, [...base, ['authorization', `Bearer ${good}`], ['authorization', `Bearer ${forged}`]]);
      assert.equal(r.ended, true);
      assert.equal(parse(r.body)?.code, INVALID, r.body);
      assert.equal(upstream.received.length, n + 1, 'nothing more reached the upstream');
      const entry = await logOf(parse(r.body)?.requestId);
      assert.match(String(entry.decisions.find((d) => d.stage === 'authenticate')?.detail), /more than one authorization header/);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('HTTP/2', () => {
    it('authenticates the same way over HTTP/2', async () => {
      const ca = env.certs.ca.pem;
      const port = gw.httpsPort;
      let n = upstream.received.length;
      const ok = await h2get(port, ca, '/jwt/h2', { ...bearer(await sign(k1, claims())), 'x-consumer-id': 'admin' });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(upstream.received[n]?.headers['x-consumer-id'], 'alice');
      assert.equal(upstream.received[n]?.headers['x-user-sub'], 'alice');

      n = upstream.received.length;
      const key = await h2get(port, ca, '/keys/h2', { 'x-api-key': consumer('acme').key });
      assert.equal(key.status, 200);
      assert.equal(upstream.received[n]?.headers['x-consumer-id'], 'acme');

      n = upstream.received.length;
      await rejected(await h2get(port, ca, '/jwt/h2'), 401, MISSING, { challenge: BEARER_MISSING, upstreamBefore: n });
      await rejected(await h2get(port, ca, '/jwt/h2', bearer(forge({ alg: 'NONE' }, claims()))), 401, INVALID, {
        challenge: BEARER_INVALID,
        upstreamBefore: n,
        reason: /is not allowed/,
      });
      await rejected(await h2get(port, ca, '/jwt/h2', bearer(await sign(k1, claims({ aud: 'x' })))), 401, INVALID, { upstreamBefore: n, reason: /claim aud/ });
      await rejected(await h2get(port, ca, '/scoped/h2', bearer(await sign(k1, claims({ scope: 'orders:read' })))), 403, SCOPE, { upstreamBefore: n });
      await rejected(await h2get(port, ca, `/keys/h2?x-api-key=${consumer('acme').key}`), 401, INVALID, { upstreamBefore: n });
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('config reload', () => {
    it('an API key removed from the config is refused once the new config is in effect', async () => {
      const revoked = consumer('revoked-co');
      await expectOk('/keys/x', { 'x-api-key': revoked.key });
      // A connection opened before the reload: the config is read per request, not per connection.
      const session = h2connect(gw.httpsPort, env.certs.ca.pem);
      try {
        assert.equal((await h2on(session, '/keys/h2', { 'x-api-key': revoked.key })).status, 200);
        const next = await buildGatewayFromText(config(env, upstream.url, consumers.filter((c) => c.id !== 'revoked-co')), {
          env: { ...process.env, JWT_SECRET: jwtSecret, INTROSPECTION_SECRET: env.intro.client.secret },
        });
        const old = gw.server.runtime.gateway;
        gw.server.runtime.gateway = next;
        await old.close();
        await expectRejected('/keys/x', { 'x-api-key': revoked.key }, 401, INVALID, { reason: /unknown API key/ });
        await rejected(await h2on(session, '/keys/h2', { 'x-api-key': revoked.key }), 401, INVALID, {
          upstreamBefore: upstream.received.length,
          reason: /unknown API key/,
        });
      } finally {
        session.destroy();
      }
      // The other consumers are unaffected.
      await expectOk('/keys/x', { 'x-api-key': consumer('acme').key });
    });
  });
});
