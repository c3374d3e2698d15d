import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, base64url } from 'jose';
import { makeKey, sign, startIdp, type SigningKey, type TestIdp } from '../../test/helpers/idp.ts';
import type { AuthResult } from './authenticator.ts';
import { RemoteJwks, StaticKeys } from './jwks.ts';
import { JwtAuthenticator, type JwtOptions } from './jwt.ts';

const ISS = 'https://id.example.com/';
const AUD = 'orders-api';

function bearer(token: string) {
  return { headers: { authorization: `Bearer ${token}` }, query: '', socket: undefined };
}

function authenticator(keys: JwtOptions['keys'], extra: Partial<JwtOptions> = {}): JwtAuthenticator {
  return new JwtAuthenticator({
    name: 'staff-jwt',
    issuer: [ISS],
    audience: [AUD],
    algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clockToleranceSec: 30,
    typ: undefined,
    requiredClaims: ['exp'],
    keys,
    token: { header: 'authorization', cookie: undefined },
    identity: { subject: 'sub', consumer: undefined, scopes: 'scope', roles: 'realm_access.roles', groups: undefined },
    cacheTtlMs: 300_000,
    cacheMaxEntries: 1000,
    maxTokenBytes: 8192,
    ...extra,
  });
}

/** Hand-made compact JWS: for tokens no library would produce. */
function forge(header: object, payload: object, signature = ''): string {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISS, aud: AUD, sub: 'alice', scope: 'orders:read orders:write', realm_access: { roles: ['admin'] }, ...extra });

async function outcome(a: JwtAuthenticator, token: string): Promise<AuthResult> {
  return await a.authenticate(bearer(token));
}

describe('JWT authenticator: accepted tokens', () => {
  const algs = ['RS256', 'PS256', 'ES256', 'EdDSA'];
  for (const alg of algs) {
    it(`accepts a valid ${alg} token and maps the identity`, async () => {
      const key = await makeKey(alg, `k-${alg}`);
      const a = authenticator(StaticKeys.fromJwks([key.jwk]));
      const r = await outcome(a, await sign(key, claims()));
      assert.equal(r.outcome, 'ok');
      if (r.outcome !== 'ok') return;
      assert.equal(r.identity.subject, 'alice');
      assert.deepEqual([...r.identity.scopes], ['orders:read', 'orders:write']);
      assert.deepEqual([...r.identity.roles], ['admin']);
    });
  }

  it('accepts HS256 with a shared secret, and an array audience', async () => {
    const secret = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef'));
    const a = authenticator(StaticKeys.fromSecret(secret), { algorithms: ['HS256'] });
    const header = { alg: 'HS256', typ: 'JWT' };
    const payload = claims({ aud: ['other', AUD], exp: now() + 60 });
    const unsigned = forge(header, payload).slice(0, -1);
    const sig = createHmac('sha256', Buffer.from(secret)).update(unsigned).digest('base64url');
    assert.equal((await outcome(a, `${unsigned}.${sig}`)).outcome, 'ok');
  });

  it('reads scp when there is no scope claim', async () => {
    const key = await makeKey('ES256', 'k1');
    const a = authenticator(StaticKeys.fromJwks([key.jwk]));
    const r = await outcome(a, await sign(key, claims({ scope: undefined, scp: ['a', 'b'] })));
    assert.equal(r.outcome === 'ok' && [...r.identity.scopes].join(' '), 'a b');
  });

  it('caches a verified token by hash, never beyond its exp', async () => {
    let t = Date.now();
    const key = await makeKey('ES256', 'k1');
    const a = authenticator(StaticKeys.fromJwks([key.jwk]), { now: () => t, clockToleranceSec: 0 });
    const token = await sign(key, claims({ iat: Math.floor(t / 1000), exp: Math.floor(t / 1000) + 10 }));
    assert.equal((await outcome(a, token)).outcome, 'ok');
    const second = a.authenticate(bearer(token));
    assert.ok(!(second instanceof Promise), 'a cache hit is synchronous');
    assert.equal(a.cache.hits, 1);
    t += 11_000;
    assert.equal((await outcome(a, token)).outcome, 'invalid');
  });
});

describe('JWT authenticator: attacks that must fail', () => {
  let rsa: SigningKey;
  let other: SigningKey;
  let a: JwtAuthenticator;
  let publicPem: string;
  before(async () => {
    rsa = await makeKey('RS256', 'main');
    other = await makeKey('RS256', 'main'); // same kid, different key
    a = authenticator(StaticKeys.fromJwks([rsa.jwk]), { algorithms: ['RS256'] });
    const { importJWK } = await import('jose');
    publicPem = await exportSPKI((await importJWK(rsa.jwk, 'RS256', { extractable: true })) as Parameters<typeof exportSPKI>[0]);
  });

  const cases: { name: string; token: () => Promise<string> | string }[] = [
    ...['none', 'None', 'NONE', 'nOnE'].map((alg) => ({
      name: `alg: ${alg}`,
      token: () => forge({ alg, typ: 'JWT' }, claims({ exp: now() + 60 })),
    })),
    {
      name: 'HS256 signed with the RS256 public key (key confusion)',
      token: () => {
        const unsigned = forge({ alg: 'HS256', kid: 'main' }, claims({ exp: now() + 60 })).slice(0, -1);
        return `${unsigned}.${createHmac('sha256', publicPem).update(unsigned).digest('base64url')}`;
      },
    },
    { name: 'an algorithm not in the list (ES256)', token: async () => sign(await makeKey('ES256', 'main'), claims()) },
    { name: 'a valid signature by an unknown key with the same kid', token: () => sign(other, claims()) },
    { name: 'an unknown kid', token: async () => sign(await makeKey('RS256', 'nobody'), claims()) },
    { name: 'expired beyond the tolerance', token: () => sign(rsa, claims({ exp: now() - 120 })) },
    { name: 'not yet valid (nbf)', token: () => sign(rsa, claims({ nbf: now() + 600 })) },
    { name: 'issued in the future (iat)', token: () => sign(rsa, claims({ iat: now() + 600 })) },
    { name: 'no exp', token: () => sign(rsa, claims(), { noExp: true }) },
    { name: 'wrong iss', token: () => sign(rsa, claims({ iss: 'https://evil.example/' })) },
    { name: 'wrong aud', token: () => sign(rsa, claims({ aud: 'another-api' })) },
    { name: 'unknown crit', token: () => sign(rsa, claims(), { header: { crit: ['x-must'], 'x-must': 1 }, crit: { 'x-must': true } }) },
    { name: 'a 10 KB kid', token: () => sign(rsa, claims(), { header: { kid: 'k'.repeat(10_000) } }) },
    { name: 'a path-traversal kid', token: () => sign(rsa, claims(), { header: { kid: '../../../../etc/passwd' } }) },
    {
      name: 'a tampered payload',
      token: async () => {
        const [h, , s] = (await sign(rsa, claims())).split('.');
        return `${h}.${base64url.encode(JSON.stringify(claims({ sub: 'admin', exp: now() + 60 })))}.${s}`;
      },
    },
    { name: 'an attacker key embedded as jwk', token: async () => { const k = await makeKey('RS256', 'main'); return sign(k, claims(), { header: { jwk: k.jwk } }); } },
    { name: 'not a JWT at all', token: () => 'opaque-token-abc' },
    { name: 'a JWE-shaped token', token: () => 'a.b.c.d.e' },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, async () => {
      const r = await outcome(a, await c.token());
      assert.equal(r.outcome, 'invalid', JSON.stringify(r));
    });
  }

  it('never follows jku or x5u: the attacker listener sees zero connections', async () => {
    const attacker = await makeKey('RS256', 'evil');
    let connections = 0;
    const server = http.createServer((req, res) => res.end(JSON.stringify({ keys: [attacker.jwk] })));
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    try {
      for (const header of [{ jku: url }, { x5u: url }, { jku: url, kid: 'main' }]) {
        const r = await outcome(a, await sign(attacker, claims(), { header }));
        assert.equal(r.outcome, 'invalid');
      }
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });
});

describe('JWKS: caching, rotation, cooldown and outages', () => {
  let idp: TestIdp;
  let k1: SigningKey;
  let k2: SigningKey;
  before(async () => {
    k1 = await makeKey('RS256', 'k1');
    k2 = await makeKey('ES256', 'k2');
    idp = await startIdp([k1]);
  });
  after(() => idp.close());

  function remote(t: { now: number }, extra: Partial<ConstructorParameters<typeof RemoteJwks>[0]> = {}) {
    return new RemoteJwks({
      jwksUri: `${idp.url}/jwks`,
      discoveryUrl: undefined,
      expectedIssuer: undefined,
      timeoutMs: 500,
      maxBytes: 64 * 1024,
      maxAgeMs: 600_000,
      cooldownMs: 30_000,
      now: () => t.now,
      ...extra,
    });
  }

  it('picks up a rotated key without a restart, and floods of unknown kids cost one fetch per cooldown', async () => {
    idp.setKeys([k1]);
    const t = { now: Date.now() };
    const keys = remote(t);
    const a = authenticator(keys);
    assert.equal((await outcome(a, await sign(k1, claims()))).outcome, 'ok');
    assert.equal(keys.fetches, 1);
    // Past the cooldown, 200 tokens with random kids at once: none valid, exactly one shared refetch.
    t.now += 31_000;
    const attacker = await makeKey('RS256', 'x');
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => sign({ ...attacker, kid: `random-${i}` }, claims(), { header: { kid: `random-${i}` } })));
    const results = await Promise.all(tokens.map((tk) => outcome(a, tk)));
    assert.ok(results.every((r) => r.outcome === 'invalid'));
    assert.equal(keys.fetches, 2);
    // Within the cooldown another flood costs nothing.
    await Promise.all(tokens.slice(0, 50).map((tk) => outcome(a, tk)));
    assert.equal(keys.fetches, 2);
    // Rotation: the IdP adds k2; within the cooldown it is not fetched yet...
    idp.setKeys([k1, k2]);
    assert.equal((await outcome(a, await sign(k2, claims()))).outcome, 'invalid');
    // ...after the cooldown the unknown kid triggers one refetch and works.
    t.now += 31_000;
    assert.equal((await outcome(a, await sign(k2, claims()))).outcome, 'ok');
    assert.equal(keys.fetches, 3);
  });

  it('keeps using the cached key set while the JWKS endpoint is down', async () => {
    idp.setKeys([k1]);
    const t = { now: Date.now() };
    const keys = remote(t, { maxAgeMs: 1000 });
    const a = authenticator(keys, { cacheTtlMs: 0, cacheMaxEntries: 0 });
    assert.equal((await outcome(a, await sign(k1, claims()))).outcome, 'ok');
    idp.mode = 'down';
    try {
      t.now += 5_000; // stale: a refetch is attempted and fails
      assert.equal((await outcome(a, await sign(k1, claims()))).outcome, 'ok');
    } finally {
      idp.mode = 'up';
    }
  });

  it('reports unavailable (not invalid) when no key set was ever fetched', async () => {
    idp.mode = 'hang';
    try {
      const keys = remote({ now: Date.now() }, { timeoutMs: 200 });
      const t0 = Date.now();
      const r = await outcome(authenticator(keys), await sign(k1, claims()));
      assert.equal(r.outcome, 'unavailable');
      assert.ok(Date.now() - t0 < 1500, 'bounded by the fetch timeout');
    } finally {
      idp.mode = 'up';
    }
  });

  it('refuses a key set larger than maxBytes', async () => {
    const keys = new RemoteJwks({
      jwksUri: `${idp.url}/big-jwks`, discoveryUrl: undefined, expectedIssuer: undefined,
      timeoutMs: 1000, maxBytes: 64 * 1024, maxAgeMs: 600_000, cooldownMs: 30_000,
    });
    assert.equal((await outcome(authenticator(keys), await sign(k1, claims()))).outcome, 'unavailable');
  });

  it('finds the key set through OIDC discovery, and checks the issuer of the document', async () => {
    idp.setKeys([k1]);
    const good = new RemoteJwks({
      jwksUri: undefined, discoveryUrl: `${idp.url}/.well-known/openid-configuration`, expectedIssuer: idp.issuer,
      timeoutMs: 1000, maxBytes: 64 * 1024, maxAgeMs: 600_000, cooldownMs: 30_000,
    });
    const a = authenticator(good, { issuer: [idp.issuer] });
    assert.equal((await outcome(a, await sign(k1, claims({ iss: idp.issuer })))).outcome, 'ok');
    const wrong = new RemoteJwks({
      jwksUri: undefined, discoveryUrl: `${idp.url}/.well-known/openid-configuration`, expectedIssuer: 'https://other/',
      timeoutMs: 1000, maxBytes: 64 * 1024, maxAgeMs: 600_000, cooldownMs: 30_000,
    });
    assert.equal((await outcome(authenticator(wrong, { issuer: [idp.issuer] }), await sign(k1, claims({ iss: idp.issuer })))).outcome, 'unavailable');
  });
});

describe('token location', () => {
  it('reads a cookie or a custom header when configured, and only the Bearer scheme from Authorization', async () => {
    const key = await makeKey('ES256', 'k');
    const token = await sign(key, claims());
    const fromCookie = authenticator(StaticKeys.fromJwks([key.jwk]), { token: { header: undefined, cookie: 'at' } });
    assert.equal((await fromCookie.authenticate({ headers: { cookie: `x=1; at=${token}; y=2` }, query: '', socket: undefined })).outcome, 'ok');
    const byHeader = authenticator(StaticKeys.fromJwks([key.jwk]));
    assert.equal((await byHeader.authenticate({ headers: { authorization: `Basic ${token}` }, query: '', socket: undefined })).outcome, 'absent');
    assert.equal((await byHeader.authenticate({ headers: { authorization: `bearer ${token}` }, query: '', socket: undefined })).outcome, 'ok');
    // a token in the query string is never read by the JWT authenticator
    assert.equal((await byHeader.authenticate({ headers: {}, query: `access_token=${token}`, socket: undefined })).outcome, 'absent');
  });
});
