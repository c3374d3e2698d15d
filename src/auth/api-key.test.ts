import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKeyAuthenticator, newApiKey } from './api-key.ts';

const input = (headers: Record<string, string>, query = '') => ({ headers, query, socket: undefined });

describe('API-key authenticator', () => {
  const acme = newApiKey();
  const globex = newApiKey();
  const a = new ApiKeyAuthenticator({
    name: 'partner-keys',
    in: 'header',
    field: 'x-api-key',
    consumers: [
      { id: 'acme', keyHash: acme.keyHash, scopes: ['orders:read'], groups: ['partners'], metadata: { tier: 'gold' } },
      { id: 'globex', keyHash: globex.keyHash, scopes: [], groups: [], metadata: {} },
    ],
    pepper: undefined,
  });

  it('new keys have a recognisable prefix, 32 base62 characters and a sha256 hash line', () => {
    assert.match(acme.key, /^pcl_[0-9A-Za-z]{32}$/);
    assert.match(acme.keyHash, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(acme.key, globex.key);
  });

  it('identifies the consumer of a valid key', () => {
    const r = a.authenticate(input({ 'x-api-key': acme.key }));
    assert.equal(r.outcome, 'ok');
    if (r.outcome !== 'ok') return;
    assert.equal(r.identity.consumerId, 'acme');
    assert.deepEqual([...r.identity.scopes], ['orders:read']);
    assert.deepEqual([...r.identity.groups], ['partners']);
    assert.equal(r.identity.claims.tier, 'gold');
  });

  it('rejects a key that differs in one character', () => {
    const last = acme.key.at(-1) === 'a' ? 'b' : 'a';
    assert.equal(a.authenticate(input({ 'x-api-key': acme.key.slice(0, -1) + last })).outcome, 'invalid');
  });

  it('is absent without the header, and refuses the key in the query string', () => {
    assert.equal(a.authenticate(input({})).outcome, 'absent');
    assert.equal(a.authenticate(input({}, `x-api-key=${acme.key}`)).outcome, 'invalid');
  });

  it('reads the query string when configured so, and supports peppered HMAC hashes', () => {
    const pepper = 'a-pepper-of-enough-length';
    const k = newApiKey('pcl_', pepper);
    assert.match(k.keyHash, /^hmac-sha256:[0-9a-f]{64}$/);
    const q = new ApiKeyAuthenticator({
      name: 'q', in: 'query', field: 'api_key', pepper,
      consumers: [{ id: 'c', keyHash: k.keyHash, scopes: [], groups: [], metadata: {} }],
    });
    assert.equal(q.authenticate(input({}, `a=1&api_key=${encodeURIComponent(k.key)}`)).outcome, 'ok');
    assert.equal(q.authenticate(input({ 'x-api-key': k.key })).outcome, 'absent');
  });
});
