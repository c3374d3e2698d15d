import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePathPattern, Router, type RouteSpec } from './router.ts';

function table(routes: { name: string; host?: string; path: string; methods?: string[] }[]): Router<string> {
  const specs: RouteSpec<string>[] = routes.map((r) => {
    const pattern = parsePathPattern(r.path);
    if (typeof pattern === 'string') throw new Error(pattern);
    return { route: r.name, host: r.host, pattern, methods: r.methods };
  });
  return new Router(specs);
}

const router = table([
  { name: 'catch-all', path: '/*' },
  { name: 'orders-prefix', path: '/orders/*', methods: ['GET'] },
  { name: 'orders-exact-post', path: '/orders', methods: ['POST'] },
  { name: 'order-by-id', path: '/orders/:id', methods: ['GET', 'DELETE'] },
  { name: 'order-items', path: '/orders/:id/items' },
  { name: 'orders-export', path: '/orders/export' },
  { name: 'admin-host', host: 'admin.example.com', path: '/*' },
  { name: 'wild-api', host: '*.example.com', path: '/orders/*' },
  { name: 'deep-wild', host: '*.eu.example.com', path: '/orders/*' },
  { name: 'users', path: '/users/:uid', methods: ['PUT'] },
  { name: 'root', path: '/' , methods: ['GET'] },
]);

describe('route precedence', () => {
  const cases: { name: string; host?: string; path: string; method?: string; expect: string | { allow: string[] } | null; params?: string[]; prefix?: number }[] = [
    { name: 'static beats param', path: '/orders/export', expect: 'orders-export' },
    { name: 'param beats prefix', path: '/orders/42', expect: 'order-by-id', params: ['42'] },
    { name: 'param route method mismatch falls to the prefix route', path: '/orders/42', method: 'PUT', expect: 'catch-all' },
    { name: 'deeper param route', path: '/orders/42/items', method: 'POST', expect: 'order-items', params: ['42'] },
    { name: 'prefix beyond the params', path: '/orders/42/items/3', expect: 'orders-prefix', prefix: 7 },
    { name: 'exact beats prefix at the same segment', path: '/orders', method: 'POST', expect: 'orders-exact-post' },
    { name: 'prefix also matches its bare base path', path: '/orders', method: 'GET', expect: 'orders-prefix', prefix: 7 },
    { name: 'prefix with trailing slash', path: '/orders/', expect: 'orders-prefix', prefix: 7 },
    { name: 'GET implies HEAD', path: '/orders/1', method: 'HEAD', expect: 'order-by-id' },
    { name: 'exact host beats wildcard host', host: 'admin.example.com', path: '/orders/1', expect: 'admin-host' },
    { name: 'wildcard host beats no host', host: 'api.example.com', path: '/orders/1', expect: 'wild-api' },
    { name: 'longest wildcard suffix wins', host: 'a.eu.example.com', path: '/orders/1', expect: 'deep-wild' },
    { name: 'wildcard does not match the bare domain', host: 'example.com', path: '/orders/1', expect: 'order-by-id' },
    { name: 'host tier without a path match falls through', host: 'api.example.com', path: '/users/1', method: 'PUT', expect: 'users' },
    { name: 'root exact', path: '/', expect: 'root' },
    { name: 'root other method goes to catch-all', path: '/', method: 'POST', expect: 'catch-all' },
    { name: 'segment match is whole-segment', path: '/ordersx', expect: 'catch-all' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = router.match(c.host ?? 'localhost', c.path, c.method ?? 'GET');
      assert.equal(r.kind, 'match', JSON.stringify(r));
      if (r.kind !== 'match') return;
      assert.equal(r.match.route, c.expect);
      if (c.params) assert.deepEqual(r.match.params, c.params);
      if (c.prefix !== undefined) assert.equal(r.match.prefixLength, c.prefix);
    });
  }

  it('405 with the allowed methods when only the method is wrong', () => {
    const r = table([
      { name: 'a', path: '/x', methods: ['GET'] },
      { name: 'b', path: '/x', methods: ['POST', 'PUT'] },
    ]).match('h', '/x', 'DELETE');
    assert.deepEqual(r, { kind: 'method', allow: ['GET', 'HEAD', 'POST', 'PUT'] });
  });

  it('404 when no path matches', () => {
    assert.deepEqual(table([{ name: 'a', path: '/x' }]).match('h', '/y', 'GET'), { kind: 'none' });
  });

  it('among equal patterns the first in file order wins', () => {
    const r = table([
      { name: 'first', path: '/x/*' },
      { name: 'second', path: '/x/*' },
    ]).match('h', '/x/1', 'GET');
    assert.equal(r.kind === 'match' && r.match.route, 'first');
  });

  it('an empty segment never binds a param', () => {
    const r = table([{ name: 'p', path: '/a/:id' }]).match('h', '/a/', 'GET');
    assert.equal(r.kind, 'none');
  });
});

describe('path patterns', () => {
  const bad = ['orders', '/a/*/b', '/a//b', '/a/', '/a/:', '/a/:id/:id', '/a/b*', '/a/../b', '/a b'];
  for (const p of bad) {
    it(`rejects ${JSON.stringify(p)}`, () => assert.equal(typeof parsePathPattern(p), 'string'));
  }
  it('parses params and prefix', () => {
    assert.deepEqual(parsePathPattern('/v/:version/orders/*'), { segments: ['v', ':version', 'orders'], prefix: true, params: ['version'] });
    assert.deepEqual(parsePathPattern('/*'), { segments: [], prefix: true, params: [] });
  });
});
