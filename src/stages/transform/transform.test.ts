import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue } from '../../config/errors.ts';
import { buildGatewayFromText } from '../../config/gateway.ts';
import { backtrackingRisk, hasDotSegment } from './path.ts';

/** One public route on /orders/:id with the given extra route keys (YAML, indented 4). */
function route(extra: string, match = '{ path: /orders/:id }'): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: { targets: ["http://127.0.0.1:1"] }
routes:
  - name: r
    match: ${match}
    auth: public
    upstream: backend
${extra}
`;
}

async function issuesOf(yaml: string): Promise<ConfigIssue[]> {
  try {
    const gw = await buildGatewayFromText(yaml);
    await gw.close();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

describe('transform: config errors at their exact path', () => {
  const cases: { name: string; extra: string; match?: string; expect: { path: string; includes: string }[] }[] = [
    {
      name: 'gateway-managed headers in appendHeaders and renameHeaders',
      extra: '    transform: { request: { appendHeaders: { Host: x }, renameHeaders: { x-a: x-forwarded-for, te: x-b } } }',
      expect: [
        { path: 'routes[0].transform.request.appendHeaders.Host', includes: '"Host" is managed by the gateway' },
        { path: 'routes[0].transform.request.renameHeaders.x-a', includes: '"x-forwarded-for" is managed by the gateway' },
        { path: 'routes[0].transform.request.renameHeaders.te', includes: '"te" is managed by the gateway' },
      ],
    },
    {
      name: 'contradicting operations on one header',
      extra: '    transform: { request: { removeHeaders: [x-a], appendHeaders: { X-A: v, x-b: w }, renameHeaders: { x-b: x-c, x-d: x-d } } }',
      expect: [
        { path: 'routes[0].transform.request.appendHeaders.X-A', includes: '"x-a" is also in removeHeaders' },
        { path: 'routes[0].transform.request.renameHeaders.x-b', includes: '"x-b" is also in appendHeaders' },
        { path: 'routes[0].transform.request.renameHeaders.x-d', includes: 'renames a header to itself' },
      ],
    },
    {
      name: 'path template without a leading slash',
      extra: '    transform: { request: { path: "orders/${params.id}" } }',
      expect: [{ path: 'routes[0].transform.request.path', includes: 'must start with "/"' }],
    },
    {
      name: 'path template naming a parameter the route does not have',
      extra: '    transform: { request: { path: "/v2/${params.orderId}" } }',
      expect: [{ path: 'routes[0].transform.request.path', includes: 'match.path has no parameter ":orderId" (its parameters: ${params.id})' }],
    },
    {
      name: 'path template with a query',
      extra: '    transform: { request: { path: "/v2/${params.id}?x=1" } }',
      expect: [{ path: 'routes[0].transform.request.path', includes: 'must not contain "?"' }],
    },
    {
      name: 'regex not anchored',
      extra: '    transform: { request: { path: { regex: "/api/(.*)", replace: "/$1" } } }',
      expect: [{ path: 'routes[0].transform.request.path.regex', includes: 'must be anchored' }],
    },
    {
      name: 'regex with a nested quantifier',
      extra: '    transform: { request: { path: { regex: "^/(a+)+$", replace: "/$1" } } }',
      expect: [{ path: 'routes[0].transform.request.path.regex', includes: 'must not repeat a group that contains a quantifier' }],
    },
    {
      name: 'regex with a back-reference',
      extra: '    transform: { request: { path: { regex: "^/(a)\\\\1", replace: "/$1" } } }',
      expect: [{ path: 'routes[0].transform.request.path.regex', includes: 'back-references' }],
    },
    {
      name: 'regex that does not compile',
      extra: '    transform: { request: { path: { regex: "^/(a", replace: "/" } } }',
      expect: [{ path: 'routes[0].transform.request.path.regex', includes: 'is not a valid regular expression' }],
    },
    {
      name: 'regex too long',
      extra: `    transform: { request: { path: { regex: "^/${'a'.repeat(300)}", replace: "/" } } }`,
      expect: [{ path: 'routes[0].transform.request.path.regex', includes: 'at most 256' }],
    },
    {
      name: 'replace naming a group the regex does not have',
      extra: '    transform: { request: { path: { regex: "^/api/(.*)$", replace: "/v1/$2" } } }',
      expect: [{ path: 'routes[0].transform.request.path.replace', includes: 'refers to $2 but regex has 1 group' }],
    },
    {
      name: 'replace with a query',
      extra: '    transform: { request: { path: { regex: "^/api/(.*)$", replace: "/v1/$1?x=1" } } }',
      expect: [{ path: 'routes[0].transform.request.path.replace', includes: 'not allowed in a path' }],
    },
    {
      name: 'path rewrite with stripPrefix',
      match: '{ path: /orders/* }',
      extra: '    stripPrefix: true\n    transform: { request: { path: "/x" } }',
      expect: [{ path: 'routes[0].transform.request.path', includes: 'cannot be combined with stripPrefix' }],
    },
    {
      name: 'setQuery with an unknown variable',
      extra: '    transform: { request: { setQuery: { tenant: "${consumer.idd}" } } }',
      expect: [{ path: 'routes[0].transform.request.setQuery.tenant', includes: 'unknown template variable ${consumer.idd}' }],
    },
    {
      name: 'a host override that is not a host',
      extra: '    transform: { request: { host: "internal.example/path" } }',
      expect: [{ path: 'routes[0].transform.request.host', includes: 'must be a host name or address with an optional port' }],
    },
    {
      name: 'response appendHeaders of a managed header',
      extra: '    transform: { response: { appendHeaders: { x-request-id: a } } }',
      expect: [{ path: 'routes[0].transform.response.appendHeaders.x-request-id', includes: 'is managed by the gateway' }],
    },
    {
      name: 'securityHeaders: an unknown referrer policy',
      extra: '    securityHeaders: { referrerPolicy: never }',
      expect: [
        { path: 'routes[0].securityHeaders.referrerPolicy', includes: 'must be one of' },
      ],
    },
    {
      name: 'securityHeaders: a CSP with a line break',
      extra: '    securityHeaders: { contentSecurityPolicy: "default-src \'none\'\\r\\nx: y" }',
      expect: [{ path: 'routes[0].securityHeaders.contentSecurityPolicy', includes: 'control characters' }],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const issues = await issuesOf(route(c.extra, c.match));
      assert.deepEqual(
        issues.map((i) => i.path),
        c.expect.map((e) => e.path),
        JSON.stringify(issues),
      );
      c.expect.forEach((e, k) => assert.ok(issues[k]?.message.includes(e.includes), `${issues[k]?.message} should include ${e.includes}`));
    });
  }

  it('the valid forms build, with the compiled operations', async () => {
    const gw = await buildGatewayFromText(
      route(`    transform:
      request:
        setHeaders: { x-order: "\${params.id}" }
        appendHeaders: { X-Tag: gw }
        removeHeaders: [cookie, x-order]
        renameHeaders: { x-old: X-New }
        path: { regex: "^/orders/([0-9]+)$", replace: "/v2/orders/$1" }
        setQuery: { "a b": "\${route.name}" }
        removeQuery: [debug]
        host: internal.example:8080
      response:
        appendHeaders: { x-b: c }
    securityHeaders: { frameOptions: SAMEORIGIN, contentTypeOptions: false }`),
    );
    try {
      const r = gw.routes[0];
      const t = r?.transform;
      assert.deepEqual(t?.requestSet.map(([n]) => n), ['x-order']);
      assert.deepEqual(t?.requestAppend.map(([n]) => n), ['x-tag']);
      assert.deepEqual([...(t?.requestDrop ?? [])].sort(), ['cookie', 'x-new', 'x-order']);
      assert.deepEqual([...(t?.requestRename ?? [])], [['x-old', 'x-new']]);
      assert.equal(t?.path?.kind, 'regex');
      assert.deepEqual([...(t?.query?.drop ?? [])].sort(), ['a b', 'debug']);
      assert.deepEqual(t?.query?.set.map(([n]) => n), ['a%20b']);
      assert.equal(t?.host, 'internal.example:8080');
      assert.deepEqual(t?.responseAppend.map(([n]) => n), ['x-b']);
      assert.deepEqual(r?.securityHeaders, [['referrer-policy', 'no-referrer'], ['x-frame-options', 'SAMEORIGIN']]);
      assert.deepEqual(gw.settings.securityHeaders, [['x-content-type-options', 'nosniff'], ['referrer-policy', 'no-referrer']]);
    } finally {
      await gw.close();
    }
  });
});

describe('path regex safety', () => {
  for (const safe of ['^/api/v1/(.*)$', '^/a/([^/]+)/b$', '^/(v1|v2)/(.*)$', '^/x(\\d{1,3})?$', '^/([a-z]+)-([0-9]+)$', '^/(a+)?$', '^/[(]+$']) {
    it(`accepts ${safe}`, () => assert.equal(backtrackingRisk(safe), undefined));
  }
  for (const unsafe of ['^/(a+)+$', '^/(.*)*$', '^/(a|ab)*$', '^/(\\w+\\.?)+$', '^/((a)+)+$', '^/(a*){2,}$', '^/(a)\\1$', '^/(?<x>a)\\k<x>$']) {
    it(`refuses ${unsafe}`, () => assert.notEqual(backtrackingRisk(unsafe), undefined));
  }
});

describe('dot segments in a rewritten path', () => {
  for (const [path, dots] of [
    ['/v1/items', false], ['/v1/..', true], ['/v1/../admin', true], ['/./x', true], ['/v1/%2e%2E/x', true], ['/v1/.%2e', true],
    ['/v1/..a', false], ['/v1/a..', false], ['/v1/...', false], ['/file.json', false],
  ] as const) {
    it(`${path}: ${dots}`, () => assert.equal(hasDotSegment(path), dots));
  }
});
