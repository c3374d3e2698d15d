import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startIdp, type TestIdp } from '../../test/helpers/idp.ts';
import { IntrospectionAuthenticator, type IntrospectionOptions } from './introspection.ts';

const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` }, query: '', socket: undefined });

describe('introspection authenticator (RFC 7662)', () => {
  let idp: TestIdp;
  before(async () => {
    idp = await startIdp([]);
  });
  after(() => idp.close());

  function make(extra: Partial<IntrospectionOptions> = {}) {
    return new IntrospectionAuthenticator({
      name: 'partner-introspection',
      endpoint: `${idp.url}/introspect`,
      clientId: idp.client.id,
      clientSecret: idp.client.secret,
      clientAuth: 'basic',
      timeoutMs: 300,
      cacheTtlMs: 60_000,
      cacheMaxEntries: 100,
      maxResponseBytes: 64 * 1024,
      onError: 'unavailable',
      token: { header: 'authorization', cookie: undefined },
      identity: { subject: 'sub', consumer: undefined, scopes: 'scope', roles: undefined, groups: undefined },
      ...extra,
    });
  }

  it('accepts an active token, authenticates as a client, and maps scope and client_id', async () => {
    idp.introspection.tok1 = { active: true, sub: 'u1', client_id: 'acme', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 600 };
    const a = make();
    const r = await a.authenticate(bearer('tok1'));
    assert.equal(r.outcome, 'ok');
    if (r.outcome !== 'ok') return;
    assert.equal(r.identity.consumerId, 'acme');
    assert.deepEqual([...r.identity.scopes], ['orders:read']);
    assert.match(String(idp.lastIntrospection?.authorization), /^Basic /);
    assert.match(String(idp.lastIntrospection?.body), /token=tok1&token_type_hint=access_token/);
  });

  it('client_secret_post sends the credentials in the body', async () => {
    idp.introspection.tokp = { active: true, sub: 'u1' };
    const r = await make({ clientAuth: 'post' }).authenticate(bearer('tokp'));
    assert.equal(r.outcome, 'ok');
    assert.equal(idp.lastIntrospection?.authorization, undefined);
    assert.match(String(idp.lastIntrospection?.body), /client_secret=gateway-secret/);
  });

  it('caches active answers for min(cacheTtl, exp - now) and shares one call among concurrent requests', async () => {
    let t = Date.now();
    idp.introspection.tok2 = { active: true, sub: 'u2', exp: Math.floor(t / 1000) + 5 };
    const a = make({ now: () => t });
    const results = await Promise.all(Array.from({ length: 20 }, () => a.authenticate(bearer('tok2'))));
    assert.ok(results.every((r) => r.outcome === 'ok'));
    assert.equal(a.calls, 1);
    await a.authenticate(bearer('tok2'));
    assert.equal(a.calls, 1);
    t += 6_000; // past exp: the cache must not answer, and the endpoint's exp is re-checked
    assert.equal((await a.authenticate(bearer('tok2'))).outcome, 'invalid');
    assert.equal(a.calls, 2);
  });

  it('inactive or unknown tokens are invalid', async () => {
    idp.introspection.tok3 = { active: false };
    assert.equal((await make().authenticate(bearer('tok3'))).outcome, 'invalid');
    assert.equal((await make().authenticate(bearer('never-issued'))).outcome, 'invalid');
  });

  for (const mode of ['down', 'hang', 'garbage'] as const) {
    it(`endpoint ${mode}: unavailable (503), not cached; 401 with onError: unauthorized`, async () => {
      idp.introspection.tok4 = { active: true, sub: 'u4' };
      idp.mode = mode;
      try {
        const a = make();
        const t0 = Date.now();
        assert.equal((await a.authenticate(bearer('tok4'))).outcome, 'unavailable');
        assert.ok(Date.now() - t0 < 1500);
        assert.equal((await make({ onError: 'unauthorized' }).authenticate(bearer('tok4'))).outcome, 'invalid');
        idp.mode = 'up';
        assert.equal((await a.authenticate(bearer('tok4'))).outcome, 'ok');
      } finally {
        idp.mode = 'up';
      }
    });
  }
});
